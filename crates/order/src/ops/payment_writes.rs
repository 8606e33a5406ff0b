//! Writes of a payment's saga record under its driver's lease, the only way the record
//! changes once PayOrders wrote it: each write checks the lease, keeps or gives it back,
//! and counts the payment's end (a metric) when the write ended it.

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::time;
use kuajing_proto::order::v1::{Payment, PaymentState};
use prost::Message;
use sqlx::PgConnection;
use tonic::Status;
use uuid::Uuid;

use super::Ctx;

/// What a write of the payment does with its driver's lease.
#[derive(Clone, Copy, Debug)]
pub enum Lease {
    /// Keeps it, extended by the saga lease.
    Keep,
    /// Gives it back with the write; the recovery loop may take the payment from then.
    GiveBack(DateTime<Utc>),
}

/// One payment's row as a write sets it.
struct Write {
    payment_id: Uuid,
    lease: Uuid,
    state: i16,
    doc: Vec<u8>,
    at: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    failure_domain: String,
    give_back: bool,
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
    let n = sqlx::query(
        "UPDATE payments SET state = $3, doc = $4, updated_at = $5, lease_until = $6, failure_domain = $7,
             lease_owner = CASE WHEN $8 THEN NULL ELSE lease_owner END
         WHERE payment_id = $1 AND lease_owner = $2",
    )
    .bind(w.payment_id)
    .bind(w.lease)
    .bind(w.state)
    .bind(&w.doc)
    .bind(w.at)
    .bind(w.lease_until)
    .bind(&w.failure_domain)
    .bind(w.give_back)
    .execute(conn)
    .await
    .map_err(internal)?
    .rows_affected();
    if n == 1 {
        count_end(p, failure_domain, w.at);
    }
    Ok(n == 1)
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
