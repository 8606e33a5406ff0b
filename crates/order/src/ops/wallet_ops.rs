//! The wallet operations order owes (an outbox): escrow captures on receipt, escrow
//! releases and captures of refunds, refund transfers, remittance links, and the export
//! service fee charged when a trade order completes. An operation
//! is recorded in the transaction of the decision that needs it, then sent to the wallet
//! with its own id as the request id, so a retry (by the caller, or by the background loop
//! after a crash or an outage) can never move money twice. When the wallet answers, the
//! completion is applied to the order in one transaction (and, when an RPC asked for it,
//! that RPC's idempotent answer is recorded with it); a definite refusal undoes the
//! decision's pending part.

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::idempotency;
use kuajing_proto::types::Money;
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use kuajing_proto::wallet::v1::{
    CaptureHoldRequest, ChargeFeeRequest, CreateTransferRequest, LinkRemittanceRequest,
    ReleaseHoldRequest, RemittanceLink,
};
use prost::Message;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use tonic::Status;
use uuid::Uuid;

use super::Ctx;
use super::peers;
use crate::rpc;
use crate::store::{self, wallet_operations::NewOperation, wallet_operations::OperationRow};
use kuajing_platform::outbound::is_transient as transient;

/// Kinds of wallet operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// CaptureHold.
    Capture = 1,
    /// ReleaseHold.
    Release = 2,
    /// CreateTransfer.
    Transfer = 3,
    /// LinkRemittance.
    Link = 4,
    /// ChargeFee.
    Fee = 5,
}

impl Kind {
    fn of(n: i16) -> Option<Kind> {
        match n {
            1 => Some(Kind::Capture),
            2 => Some(Kind::Release),
            3 => Some(Kind::Transfer),
            4 => Some(Kind::Link),
            5 => Some(Kind::Fee),
            _ => None,
        }
    }
}

/// The background loop leaves a new operation to the RPC that recorded it this long.
const FIRST_RETRY: chrono::Duration = chrono::Duration::seconds(5);

const PENDING: i16 = 1;
const DONE: i16 = 2;
const REFUSED: i16 = 3;

/// The RPC that asked for an operation, whose answer its completion records.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The RPC's request id.
    pub request_id: Uuid,
    /// The RPC's method name.
    pub method: &'static str,
    /// The RPC's encoded request.
    pub request: Vec<u8>,
}

/// A recorded operation.
#[derive(Clone, Debug)]
pub struct Op {
    /// Its id: the wallet request id.
    pub id: Uuid,
    /// The order it is for.
    pub order_id: Uuid,
    /// What it does.
    pub kind: Kind,
    /// The refund it settles, if any.
    pub refund_id: Option<Uuid>,
    /// For a remittance link: the PaymentTarget.
    pub target: i32,
    /// For a remittance link: the amount.
    pub amount: Decimal,
    /// The encoded wallet request.
    pub request: Vec<u8>,
    /// The RPC that asked for it.
    pub caller: Option<Caller>,
}

impl Op {
    /// Operation `id` (the wallet request's id) for order `order_id` that no RPC waits on
    /// and no refund settles: an escrow capture on receipt, a fee charge.
    pub fn for_order(
        id: Uuid,
        order_id: &str,
        kind: Kind,
        request: &impl Message,
    ) -> Result<Op, Status> {
        Ok(Op {
            id,
            order_id: Uuid::try_parse(order_id).map_err(internal)?,
            kind,
            refund_id: None,
            target: 0,
            amount: Decimal::ZERO,
            request: request.encode_to_vec(),
            caller: None,
        })
    }
}

/// Records an operation (in the caller's transaction).
pub async fn insert(conn: &mut PgConnection, op: &Op, now: DateTime<Utc>) -> Result<(), Status> {
    let caller = op.caller.as_ref();
    let new = NewOperation {
        operation_id: op.id,
        order_id: op.order_id,
        kind: op.kind as i16,
        refund_id: op.refund_id,
        target: i16::try_from(op.target).unwrap_or(0),
        amount: op.amount,
        request: &op.request,
        caller_request_id: caller.map(|c| c.request_id),
        caller_method: caller.map(|c| c.method).unwrap_or(""),
        caller_request: caller.map(|c| c.request.as_slice()),
        state: PENDING,
        at: now,
        next_attempt_at: now + FIRST_RETRY,
    };
    store::wallet_operations::insert(conn, &new)
        .await
        .map_err(internal)?;
    Ok(())
}

fn op_of(r: OperationRow) -> Result<(Op, i16), Status> {
    let caller = match (
        r.caller_request_id,
        r.caller_method.as_str(),
        r.caller_request,
    ) {
        (Some(id), "ResolveRefund", Some(req)) => Some(Caller {
            request_id: id,
            method: "ResolveRefund",
            request: req,
        }),
        (Some(id), "LinkRemittanceToOrder", Some(req)) => Some(Caller {
            request_id: id,
            method: "LinkRemittanceToOrder",
            request: req,
        }),
        _ => None,
    };
    Ok((
        Op {
            id: r.operation_id,
            order_id: r.order_id,
            kind: Kind::of(r.kind).ok_or_else(|| internal("unknown wallet operation kind"))?,
            refund_id: r.refund_id,
            target: i32::from(r.target),
            amount: r.amount,
            request: r.request,
            caller,
        },
        r.state,
    ))
}

/// The pending operation the RPC `method` asked for earlier under `request_id`, if any (a
/// request id another RPC used is not this one's).
pub async fn pending_for(
    conn: &mut PgConnection,
    method: &str,
    request_id: Uuid,
) -> Result<Option<Uuid>, Status> {
    store::wallet_operations::of_caller(conn, (method, request_id), PENDING)
        .await
        .map_err(internal)
}

/// The sum of pending remittance links of an order for a target.
pub async fn pending_links(
    conn: &mut PgConnection,
    order_id: Uuid,
    target: i32,
) -> Result<Decimal, Status> {
    let which = (
        Kind::Link as i16,
        PENDING,
        i16::try_from(target).unwrap_or(0),
    );
    let sum = store::wallet_operations::sum(conn, order_id, which)
        .await
        .map_err(internal)?;
    Ok(sum.unwrap_or_default())
}

/// True when the order has a pending operation of `kind`.
pub async fn has_pending(
    conn: &mut PgConnection,
    order_id: Uuid,
    kind: Kind,
) -> Result<bool, Status> {
    store::wallet_operations::exists(conn, order_id, (kind as i16, PENDING))
        .await
        .map_err(internal)
}

/// What the wallet answered.
pub enum Answer {
    /// The hold captured or released.
    Hold(String),
    /// The transfer made.
    Transfer(String),
    /// The remittance link made.
    Link(RemittanceLink),
    /// The fee charged: its journal entry and what became arrears.
    Fee(String, Option<Money>),
}

async fn call(ctx: &Ctx, op: &Op) -> Result<Answer, Status> {
    match op.kind {
        Kind::Capture => {
            let req = CaptureHoldRequest::decode(op.request.as_slice()).map_err(internal)?;
            let r = rpc!(ctx, "wallet", WalletServiceClient, capture_hold, req)?;
            Ok(Answer::Hold(r.hold.map(|h| h.hold_id).unwrap_or_default()))
        }
        Kind::Release => {
            let req = ReleaseHoldRequest::decode(op.request.as_slice()).map_err(internal)?;
            let hold_id = req.hold_id.clone();
            match rpc!(ctx, "wallet", WalletServiceClient, release_hold, req) {
                Ok(r) => Ok(Answer::Hold(r.hold.map(|h| h.hold_id).unwrap_or_default())),
                // Released (or expired) already: the money is back with the buyer.
                Err(s)
                    if peers::reason(&s) == "HOLD_NOT_OPEN"
                        && !peers::metadata(&s)
                            .get("state")
                            .is_some_and(|st| st.ends_with("CAPTURED")) =>
                {
                    Ok(Answer::Hold(hold_id))
                }
                Err(s) => Err(s),
            }
        }
        Kind::Transfer => {
            let req = CreateTransferRequest::decode(op.request.as_slice()).map_err(internal)?;
            let r = rpc!(ctx, "wallet", WalletServiceClient, create_transfer, req)?;
            Ok(Answer::Transfer(
                r.transfer.map(|t| t.transfer_id).unwrap_or_default(),
            ))
        }
        Kind::Fee => {
            let req = ChargeFeeRequest::decode(op.request.as_slice()).map_err(internal)?;
            let r = rpc!(ctx, "wallet", WalletServiceClient, charge_fee, req)?;
            let entry = r.journal_entry.map(|e| e.journal_entry_id);
            Ok(Answer::Fee(entry.unwrap_or_default(), r.arrears_added))
        }
        Kind::Link => {
            let req = LinkRemittanceRequest::decode(op.request.as_slice()).map_err(internal)?;
            let r = rpc!(ctx, "wallet", WalletServiceClient, link_remittance, req)?;
            Ok(Answer::Link(r.link.ok_or_else(|| {
                internal("wallet answered without a link")
            })?))
        }
    }
}

/// What the wallet's answer to an operation means for the order, applied in the
/// transaction that marks the operation done or refused. The module that asks for an
/// operation (receipt, refunds, remittances) implements it, so this outbox depends on
/// none of them; the background loop is handed one that dispatches by kind.
pub trait Effects: Sync {
    /// The wallet did it: record what it did.
    fn completed(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        op: &Op,
        answer: Answer,
        now: DateTime<Utc>,
    ) -> impl std::future::Future<Output = Result<(), Status>> + Send;

    /// The wallet refused for good: undo the decision's pending part.
    fn refused(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        op: &Op,
        refusal: &Status,
        now: DateTime<Utc>,
    ) -> impl std::future::Future<Output = Result<(), Status>> + Send;
}

/// The error for an answer that is not the one an operation's kind expects.
pub fn unfit() -> Status {
    internal("a wallet answer that does not fit its operation")
}

/// Sends an operation to the wallet and applies the answer through `effects`. Ok when
/// done (now or before); the wallet's refusal when refused (its pending decision undone);
/// UNAVAILABLE when the wallet did not answer (left for the background loop).
pub async fn execute(ctx: &Ctx, id: Uuid, effects: &impl Effects) -> Result<(), Status> {
    let row = store::wallet_operations::get(&ctx.svc.pool, id)
        .await
        .map_err(internal)?
        .ok_or_else(|| internal("no such wallet operation"))?;
    let (op, state) = op_of(row)?;
    if state != PENDING {
        return Ok(());
    }
    let answer = call(ctx, &op).await;
    let now = ctx.now();
    let mut tx = ctx.svc.pool.begin().await.map_err(internal)?;
    let state = store::wallet_operations::state_for_update(&mut *tx, id)
        .await
        .map_err(internal)?;
    if state != Some(PENDING) {
        return Ok(());
    }
    match answer {
        Ok(a) => {
            let result_id = match &a {
                Answer::Hold(h) | Answer::Transfer(h) | Answer::Fee(h, _) => h.clone(),
                Answer::Link(l) => l.remittance_link_id.clone(),
            };
            effects.completed(&mut tx, ctx, &op, a, now).await?;
            store::wallet_operations::done(&mut *tx, id, (DONE, &result_id), now)
                .await
                .map_err(internal)?;
            tx.commit().await.map_err(internal)?;
            Ok(())
        }
        Err(s) if transient(&s) => {
            store::wallet_operations::retry_later(&mut *tx, id, s.message(), now)
                .await
                .map_err(internal)?;
            tx.commit().await.map_err(internal)?;
            Err(s)
        }
        Err(s) => {
            tracing::warn!(operation_id = %id, reason = %peers::reason(&s), "the wallet refused an operation");
            effects.refused(&mut tx, ctx, &op, &s, now).await?;
            store::wallet_operations::refused(&mut *tx, id, (REFUSED, &peers::reason(&s)), now)
                .await
                .map_err(internal)?;
            tx.commit().await.map_err(internal)?;
            Err(s)
        }
    }
}

/// The order's guarantee releases not yet done (releases no refund settles), oldest first:
/// what must reach the supplier's available balance before a refund transfer from it.
pub async fn pending_guarantee_releases(
    conn: &mut PgConnection,
    order_id: Uuid,
) -> Result<Vec<Uuid>, Status> {
    let which = (Kind::Release as i16, PENDING);
    store::wallet_operations::unsettled(conn, order_id, which)
        .await
        .map_err(internal)
}

/// Records the asking RPC's answer with the completion (for an [`Effects`] whose
/// operation an RPC asked for).
pub async fn record<Req: Message, Resp: Message + Default>(
    tx: &mut PgConnection,
    ctx: &Ctx,
    caller: &Caller,
    req: &Req,
    resp: &Resp,
) -> Result<(), Status> {
    let id = caller.request_id.to_string();
    if let idempotency::Begin::Fresh(key) =
        idempotency::begin::<Req, Resp>(tx, ctx.errors(), caller.method, &id, req).await?
    {
        key.complete(tx, resp).await?;
    }
    Ok(())
}

/// How long a sweeper's claim on a due operation keeps other sweepers (other replicas)
/// off it: longer than one call with all its retries.
pub const CLAIM: chrono::Duration = chrono::Duration::seconds(30);

/// Claims up to `limit` due operations for this sweeper: each is pushed out of every
/// other sweeper's reach for [`CLAIM`] (a row another sweeper is claiming is skipped, not
/// waited for), so several replicas never send one operation at once. The attempt's own
/// outcome reschedules or ends it.
pub async fn claim_due(
    pool: &sqlx::PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<Uuid>> {
    // A refund transfer or an export fee waits for the order's guarantee releases: they
    // put the money it is paid from in the supplier's available balance.
    let waiting = [Kind::Transfer as i16, Kind::Fee as i16];
    store::wallet_operations::claim_due(
        pool,
        PENDING,
        (now, now + CLAIM),
        limit,
        (&waiting, Kind::Release as i16),
    )
    .await
}

/// Sends every pending operation whose next attempt is due (and this sweeper claimed),
/// applying each answer through `effects`; returns how many finished.
pub async fn retry_due(ctx: &Ctx, effects: &impl Effects) -> Result<usize, Status> {
    let due = claim_due(&ctx.svc.pool, ctx.now(), 50)
        .await
        .map_err(internal)?;
    let mut done = 0;
    for id in due {
        if execute(ctx, id, effects).await.is_ok() {
            done += 1;
        }
    }
    Ok(done)
}
