//! `wallet_operations`: the outbox of calls order owes the wallet (captures, releases,
//! transfers, remittance links, fees), each sent until the wallet answers for good.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgExecutor;
use uuid::Uuid;

/// An operation as stored.
pub struct OperationRow {
    pub operation_id: Uuid,
    pub order_id: Uuid,
    pub kind: i16,
    pub refund_id: Option<Uuid>,
    pub target: i16,
    pub amount: Decimal,
    pub request: Vec<u8>,
    pub caller_request_id: Option<Uuid>,
    pub caller_method: String,
    pub caller_request: Option<Vec<u8>>,
    pub state: i16,
}

/// An operation to record (in `state`, first attempted at `next_attempt_at`).
pub struct NewOperation<'a> {
    pub operation_id: Uuid,
    pub order_id: Uuid,
    pub kind: i16,
    pub refund_id: Option<Uuid>,
    pub target: i16,
    pub amount: Decimal,
    pub request: &'a [u8],
    pub caller_request_id: Option<Uuid>,
    pub caller_method: &'a str,
    pub caller_request: Option<&'a [u8]>,
    pub state: i16,
    pub at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
}

/// Records an operation.
pub async fn insert(db: impl PgExecutor<'_>, o: &NewOperation<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO wallet_operations (operation_id, order_id, kind, refund_id, target, amount,
             request, caller_request_id, caller_method, caller_request, state, next_attempt_at,
             created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $13, $12, $12)",
        o.operation_id,
        o.order_id,
        o.kind,
        o.refund_id,
        o.target,
        o.amount,
        o.request,
        o.caller_request_id,
        o.caller_method,
        o.caller_request,
        o.state,
        o.at,
        o.next_attempt_at
    )
    .execute(db)
    .await
    .map(drop)
}

/// The operation in `state` the RPC `method` asked for under `request_id`, if any.
pub async fn of_caller(
    db: impl PgExecutor<'_>,
    (method, request_id): (&str, Uuid),
    state: i16,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "SELECT operation_id FROM wallet_operations
         WHERE caller_request_id = $1 AND state = $2 AND caller_method = $3",
        request_id,
        state,
        method
    )
    .fetch_optional(db)
    .await
}

/// What the order's operations of `kind` in `state` for `target` amount to.
pub async fn sum(
    db: impl PgExecutor<'_>,
    order_id: Uuid,
    (kind, state, target): (i16, i16, i16),
) -> sqlx::Result<Option<Decimal>> {
    sqlx::query_scalar!(
        "SELECT SUM(amount) FROM wallet_operations
         WHERE order_id = $1 AND kind = $2 AND state = $3 AND target = $4",
        order_id,
        kind,
        state,
        target
    )
    .fetch_one(db)
    .await
}

/// Whether the order has an operation of `kind` in `state`.
pub async fn exists(
    db: impl PgExecutor<'_>,
    order_id: Uuid,
    (kind, state): (i16, i16),
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM wallet_operations
                          WHERE order_id = $1 AND kind = $2 AND state = $3) AS "exists!""#,
        order_id,
        kind,
        state
    )
    .fetch_one(db)
    .await
}

/// One operation.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<OperationRow>> {
    sqlx::query_as!(
        OperationRow,
        "SELECT operation_id, order_id, kind, refund_id, target, amount, request,
             caller_request_id, caller_method, caller_request, state
         FROM wallet_operations WHERE operation_id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

/// An operation's state, the row locked until the transaction ends.
pub async fn state_for_update(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<i16>> {
    sqlx::query_scalar!(
        "SELECT state FROM wallet_operations WHERE operation_id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(db)
    .await
}

/// Marks an operation done, with what the wallet made.
pub async fn done(
    db: impl PgExecutor<'_>,
    id: Uuid,
    (state, result_id): (i16, &str),
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE wallet_operations SET state = $2, result_id = $3, updated_at = $4
         WHERE operation_id = $1",
        id,
        state,
        result_id,
        at
    )
    .execute(db)
    .await
    .map(drop)
}

/// Counts a failed attempt and waits longer (doubling, at most a minute) before the next.
pub async fn retry_later(
    db: impl PgExecutor<'_>,
    id: Uuid,
    error: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE wallet_operations SET attempts = attempts + 1, last_error = $2, updated_at = $3,
             next_attempt_at = $3::timestamptz + interval '1 second' * LEAST(60, 1 << LEAST(attempts, 6))
         WHERE operation_id = $1",
        id,
        error,
        at
    )
    .execute(db)
    .await
    .map(drop)
}

/// Marks an operation refused for `reason` (its caller's request id freed).
pub async fn refused(
    db: impl PgExecutor<'_>,
    id: Uuid,
    (state, reason): (i16, &str),
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE wallet_operations SET state = $2, last_error = $3, caller_request_id = NULL,
             updated_at = $4
         WHERE operation_id = $1",
        id,
        state,
        reason,
        at
    )
    .execute(db)
    .await
    .map(drop)
}

/// The order's operations of `kind` in `state` that settle no refund, oldest first.
pub async fn unsettled(
    db: impl PgExecutor<'_>,
    order_id: Uuid,
    (kind, state): (i16, i16),
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT operation_id FROM wallet_operations
         WHERE order_id = $1 AND kind = $2 AND refund_id IS NULL AND state = $3
         ORDER BY operation_id",
        order_id,
        kind,
        state
    )
    .fetch_all(db)
    .await
}

/// Claims up to `limit` operations in `pending` due by `now` for this sender until `until`
/// (rows another sender holds are skipped); an operation of `waiting` kinds waits while
/// its order has a `release` that settles no refund pending.
pub async fn claim_due(
    db: impl PgExecutor<'_>,
    pending: i16,
    (now, until): (DateTime<Utc>, DateTime<Utc>),
    limit: i64,
    (waiting, release): (&[i16], i16),
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "UPDATE wallet_operations SET next_attempt_at = $3
         WHERE operation_id IN (
             SELECT w.operation_id FROM wallet_operations w
             WHERE w.state = $1 AND w.next_attempt_at <= $2
               AND NOT (w.kind = ANY($5) AND EXISTS (
                   SELECT 1 FROM wallet_operations r
                   WHERE r.order_id = w.order_id AND r.kind = $6 AND r.refund_id IS NULL
                     AND r.state = $1))
             ORDER BY w.next_attempt_at, w.operation_id LIMIT $4
             FOR UPDATE OF w SKIP LOCKED)
         RETURNING operation_id",
        pending,
        now,
        until,
        limit,
        waiting,
        release
    )
    .fetch_all(db)
    .await
}
