//! `payments`: each payment's saga record (the `Payment` message, encoded), its state and
//! the lease of the driver that holds it.
//!
//! "Unfinished" is written out as `state IN (1, 2, 4)` (`domain::saga::UNFINISHED`, by
//! `crate::unfinished_payment_states!`) so the partial index `payments_unfinished` serves
//! the statements; a test keeps them in step.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A payment as loaded.
pub struct PaymentRow {
    pub doc: Vec<u8>,
    pub failure_domain: String,
    pub created_at: DateTime<Utc>,
}

/// A new payment, leased to its first driver.
pub struct NewPayment<'a> {
    pub payment_id: Uuid,
    pub request_id: Uuid,
    pub request_hash: &'a [u8],
    /// `kuajing.order.v1.PaymentState`.
    pub state: i16,
    pub buyer_account_id: Uuid,
    pub lease_owner: Uuid,
    pub lease_until: DateTime<Utc>,
    pub at: DateTime<Utc>,
    pub doc: Vec<u8>,
}

/// A write of a payment under its lease.
pub struct LeasedWrite {
    pub payment_id: Uuid,
    pub lease: Uuid,
    pub state: i16,
    pub doc: Vec<u8>,
    pub at: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub failure_domain: String,
    /// Give the lease back with this write.
    pub give_back: bool,
}

/// One payment.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<PaymentRow>> {
    sqlx::query_as!(
        PaymentRow,
        "SELECT doc, failure_domain, created_at FROM payments WHERE payment_id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

/// The payment a PayOrders request made, with the hash of that request.
pub async fn by_request(
    db: impl PgExecutor<'_>,
    request_id: Uuid,
) -> sqlx::Result<Option<(Uuid, Vec<u8>)>> {
    let r = sqlx::query!(
        "SELECT payment_id, request_hash FROM payments WHERE request_id = $1",
        request_id
    )
    .fetch_optional(db)
    .await?;
    Ok(r.map(|r| (r.payment_id, r.request_hash)))
}

/// Records a new payment unless its request made one already (then `false`).
pub async fn insert(db: impl PgExecutor<'_>, p: &NewPayment<'_>) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "INSERT INTO payments (payment_id, request_id, request_hash, state, buyer_account_id,
             lease_owner, lease_until, created_at, updated_at, doc)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) ON CONFLICT (request_id) DO NOTHING",
        p.payment_id,
        p.request_id,
        p.request_hash,
        p.state,
        p.buyer_account_id,
        p.lease_owner,
        p.lease_until,
        p.at,
        p.doc
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Takes the lease of an unfinished payment whose lease lapsed by `now`; false if someone
/// holds it.
pub async fn acquire(
    db: impl PgExecutor<'_>,
    id: Uuid,
    lease: Uuid,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE payments SET lease_owner = $2, lease_until = $3
         WHERE payment_id = $1 AND state IN (1, 2, 4)
           AND (lease_until IS NULL OR lease_until < $4)",
        id,
        lease,
        until,
        now
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Extends a lease `lease` still holds; false when lost.
pub async fn renew(
    db: impl PgExecutor<'_>,
    id: Uuid,
    lease: Uuid,
    until: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE payments SET lease_until = $3 WHERE payment_id = $1 AND lease_owner = $2",
        id,
        lease,
        until
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Writes the payment if `w.lease` still holds it; false when lost.
pub async fn write(db: impl PgExecutor<'_>, w: &LeasedWrite) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE payments SET state = $3, doc = $4, updated_at = $5, lease_until = $6,
             failure_domain = $7, lease_owner = CASE WHEN $8 THEN NULL ELSE lease_owner END
         WHERE payment_id = $1 AND lease_owner = $2",
        w.payment_id,
        w.lease,
        w.state,
        w.doc,
        w.at,
        w.lease_until,
        w.failure_domain,
        w.give_back
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Who holds a payment's lease, the row locked until the transaction ends (`None`: no
/// such payment; `Some(None)`: nobody).
pub async fn lease_owner_for_update(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> sqlx::Result<Option<Option<Uuid>>> {
    sqlx::query_scalar!(
        "SELECT lease_owner FROM payments WHERE payment_id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(db)
    .await
}

/// Up to `limit` unfinished payments whose lease lapsed by `now`, oldest first.
pub async fn unleased(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT payment_id FROM payments WHERE state IN (1, 2, 4)
           AND (lease_until IS NULL OR lease_until < $1)
         ORDER BY created_at LIMIT $2",
        now,
        limit
    )
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    /// Every state predicate here is `unfinished_payment_states!` (the partial index's,
    /// whose own test checks it against `UNFINISHED`).
    #[test]
    fn every_state_predicate_is_the_unfinished_one() {
        let text = include_str!("payments.rs");
        let predicate = crate::unfinished_payment_states!();
        let opening = &predicate[..=predicate.find('(').expect("a list")];
        let found: Vec<usize> = text.match_indices(opening).map(|(i, _)| i).collect();
        assert!(found.len() >= 3, "the two statements and the module's docs");
        for i in found {
            assert!(text[i..].starts_with(predicate), "at byte {i}");
        }
    }
}
