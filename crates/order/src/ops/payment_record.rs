//! A payment's saga record: loading it, its driver's lease (taken, renewed, given back),
//! and writing it under that lease, the only way the record changes once PayOrders wrote
//! it (each write checks the lease, and counts the payment's end, a metric, when it ended
//! it). PayOrders (`payments`), the driver (`saga`) and recovery all depend on this module;
//! it depends on none of them.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::time;
use kuajing_proto::order::v1::{Payment, PaymentState};
use prost::Message;
use sqlx::PgConnection;
use tonic::{Code, Status};
use uuid::Uuid;

use super::Ctx;
use crate::store::{self, payments::LeasedWrite as Write};

/// A payment PIN: kept in memory for the one step that needs it, never printed.
#[derive(Clone)]
pub struct Pin(String);

impl Pin {
    /// The PIN as the buyer typed it.
    pub fn new(digits: String) -> Pin {
        Pin(digits)
    }

    /// The digits, for identity.VerifyPaymentPin only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(******)")
    }
}

/// Decodes a stored payment.
pub fn decode(doc: &[u8]) -> Result<Payment, Status> {
    Payment::decode(doc).map_err(internal)
}

/// A payment and what is kept beside it.
pub struct Stored {
    /// The document.
    pub payment: Payment,
    /// The domain of the failure's ErrorInfo.
    pub failure_domain: String,
    /// When it was created.
    pub created: DateTime<Utc>,
}

/// Loads a payment; NOT_FOUND if there is none.
pub async fn load(conn: &mut PgConnection, ctx: &Ctx, id: Uuid) -> Result<Stored, Status> {
    let r = store::payments::get(conn, id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ctx.errors().not_found("payment", id.to_string()))?;
    Ok(Stored {
        payment: decode(&r.doc)?,
        failure_domain: r.failure_domain,
        created: r.created_at,
    })
}

/// Takes the lease of an unfinished payment whose lease lapsed; false if someone has it.
pub async fn acquire(ctx: &Ctx, id: Uuid, lease: Uuid) -> Result<bool, Status> {
    let now = ctx.now();
    let until = now + ctx.settings.saga_lease;
    store::payments::acquire(&ctx.svc.pool, id, lease, until, now)
        .await
        .map_err(internal)
}

/// Extends the lease `lease` holds on a payment by a lease's length from now; false when
/// it holds it no more.
pub async fn renew(ctx: &Ctx, id: Uuid, lease: Uuid) -> Result<bool, Status> {
    let until = ctx.now() + ctx.settings.saga_lease;
    store::payments::renew(&ctx.svc.pool, id, lease, until)
        .await
        .map_err(internal)
}

/// The canonical name of a gRPC code ("FAILED_PRECONDITION").
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The metadata of a failure as a map (for `PaymentFailure`).
pub fn md(pairs: &[(&str, String)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// What a write of the payment does with its driver's lease.
#[derive(Clone, Copy, Debug)]
pub enum Lease {
    /// Keeps it, extended by the saga lease.
    Keep,
    /// Gives it back with the write; the recovery loop may take the payment from then.
    GiveBack(DateTime<Utc>),
}

impl Write {
    /// The write of `p` now (its update time set), under `lease`, then keeping or giving
    /// the lease back.
    fn of(
        ctx: &Ctx,
        p: &mut Payment,
        lease: Uuid,
        failure_domain: &str,
        then: Lease,
    ) -> Result<Write, Status> {
        let now = ctx.now();
        p.update_time = Some(time::to_proto(now));
        let (lease_until, give_back) = match then {
            Lease::Keep => (now + ctx.settings.saga_lease, false),
            Lease::GiveBack(at) => (at, true),
        };
        Ok(Write {
            payment_id: Uuid::try_parse(&p.payment_id).map_err(internal)?,
            lease,
            state: i16::try_from(p.state).unwrap_or(0),
            doc: p.encode_to_vec(),
            at: now,
            lease_until,
            failure_domain: failure_domain.to_owned(),
            give_back,
        })
    }
}

/// Writes the payment if `lease` still holds it, keeping or giving back the lease as
/// `then` says (one statement, in the caller's transaction or on its own); false when
/// lost.
pub async fn persist(
    conn: &mut PgConnection,
    ctx: &Ctx,
    p: &mut Payment,
    lease: Uuid,
    failure_domain: &str,
    then: Lease,
) -> Result<bool, Status> {
    let w = Write::of(ctx, p, lease, failure_domain, then)?;
    let written = store::payments::write(conn, &w).await.map_err(internal)?;
    if written {
        count_end(p, failure_domain, w.at);
    }
    Ok(written)
}

/// Counts a payment the write just ended (the write holds its lease, so each payment is
/// counted once).
fn count_end(p: &Payment, failure_domain: &str, now: DateTime<Utc>) {
    let state = PaymentState::try_from(p.state).unwrap_or_default();
    if !matches!(state, PaymentState::Succeeded | PaymentState::Failed) {
        return;
    }
    OUTCOMES.add(
        1,
        &[
            ("state", state.as_str_name()),
            ("failure_domain", failure_domain),
        ],
    );
    if let Some(created) = p.create_time.as_ref().and_then(time::from_proto) {
        let took = (now - created).num_milliseconds();
        DURATION.record(
            u64::try_from(took).unwrap_or(0),
            &[("state", state.as_str_name())],
        );
    }
}

/// Payment sagas ended, by final state (SUCCEEDED or FAILED, i.e. compensated) and the
/// domain of the failure that ended them (a metric).
static OUTCOMES: kuajing_platform::metrics::Tally = kuajing_platform::metrics::Tally::new(
    "kuajing.order.saga.outcomes",
    "payment sagas ended, by final state and failure domain",
);

/// Payment sagas ended, by how long they took from PayOrders to SUCCEEDED or FAILED.
static DURATION: kuajing_platform::metrics::Spread = kuajing_platform::metrics::Spread::new(
    "kuajing.order.saga.duration",
    "ms",
    "payment sagas ended, by time from PayOrders to their final state",
);
