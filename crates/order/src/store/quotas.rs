//! `supplier_quotas` (what an operator granted a supplier) and `quota_uses` (what each link
//! or wallet payment took of them, and the guarantee hold it left).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgExecutor;
use uuid::Uuid;

/// A supplier's grant: credit quota, FX quota (`None`: unlimited), when it was set.
pub struct GrantRow {
    pub credit_quota: Decimal,
    pub fx_quota: Option<Decimal>,
    pub updated_at: DateTime<Utc>,
}

/// What a supplier's uses hold now, in USD.
pub struct UsedRow {
    /// Credit frozen: uses of orders not in `ended` states.
    pub frozen: Decimal,
    /// FX pre-received: uses of orders in `pre_received` states, or in `after_sales` with
    /// nothing shipped.
    pub fx_used: Decimal,
}

/// Order states that decide what a use holds.
pub struct UseStates<'a> {
    pub ended: &'a [i16],
    pub pre_received: &'a [i16],
    pub after_sales: i16,
}

/// One use to record.
pub struct NewUse {
    pub operation_id: Uuid,
    pub order_id: Uuid,
    pub supplier_account_id: Uuid,
    pub credit_usd: Decimal,
    pub fx_usd: Decimal,
    pub guaranteed: bool,
    pub created_at: DateTime<Utc>,
}

/// The supplier's grant, if an operator set one.
pub async fn grant(db: impl PgExecutor<'_>, supplier: Uuid) -> sqlx::Result<Option<GrantRow>> {
    sqlx::query_as!(
        GrantRow,
        "SELECT credit_quota, fx_quota, updated_at FROM supplier_quotas
         WHERE supplier_account_id = $1",
        supplier
    )
    .fetch_optional(db)
    .await
}

/// What the supplier's uses hold now.
pub async fn used(
    db: impl PgExecutor<'_>,
    supplier: Uuid,
    states: &UseStates<'_>,
) -> sqlx::Result<UsedRow> {
    sqlx::query_as!(
        UsedRow,
        r#"SELECT COALESCE(SUM(q.credit_usd) FILTER (WHERE o.status <> ALL($2)), 0) AS "frozen!",
                  COALESCE(SUM(q.fx_usd) FILTER (WHERE o.status = ANY($3)
                      OR (o.status = $4 AND o.first_shipped_at IS NULL)), 0) AS "fx_used!"
           FROM quota_uses q JOIN orders o ON o.order_id = q.order_id
           WHERE q.supplier_account_id = $1"#,
        supplier,
        states.ended,
        states.pre_received,
        states.after_sales
    )
    .fetch_one(db)
    .await
}

/// Serialises the transactions taking one supplier's quotas (until the transaction ends).
pub async fn lock_supplier(db: impl PgExecutor<'_>, key: &str) -> sqlx::Result<()> {
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
        .execute(db)
        .await
        .map(drop)
}

/// Records a use.
pub async fn insert_use(db: impl PgExecutor<'_>, u: &NewUse) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO quota_uses (operation_id, order_id, supplier_account_id, credit_usd, fx_usd,
             guaranteed, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        u.operation_id,
        u.order_id,
        u.supplier_account_id,
        u.credit_usd,
        u.fx_usd,
        u.guaranteed,
        u.created_at
    )
    .execute(db)
    .await
    .map(drop)
}

/// Records the guarantee hold a use left.
pub async fn set_hold(db: impl PgExecutor<'_>, operation: Uuid, hold: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE quota_uses SET guarantee_hold_id = $2 WHERE operation_id = $1",
        operation,
        hold
    )
    .execute(db)
    .await
    .map(drop)
}

/// Forgets a use (its link was refused).
pub async fn delete_use(db: impl PgExecutor<'_>, operation: Uuid) -> sqlx::Result<()> {
    sqlx::query!("DELETE FROM quota_uses WHERE operation_id = $1", operation)
        .execute(db)
        .await
        .map(drop)
}

/// The order's uses with a guarantee hold not yet released (operation, hold), locked until
/// the transaction ends.
pub async fn unreleased_holds(
    db: impl PgExecutor<'_>,
    order_id: Uuid,
) -> sqlx::Result<Vec<(Uuid, Uuid)>> {
    let rows = sqlx::query!(
        r#"SELECT operation_id, guarantee_hold_id AS "hold!" FROM quota_uses
           WHERE order_id = $1 AND guarantee_hold_id IS NOT NULL AND release_operation_id IS NULL
           ORDER BY operation_id FOR UPDATE"#,
        order_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.operation_id, r.hold)).collect())
}

/// Records the wallet operation releasing a use's hold.
pub async fn set_release(
    db: impl PgExecutor<'_>,
    operation: Uuid,
    release: Uuid,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE quota_uses SET release_operation_id = $2 WHERE operation_id = $1",
        operation,
        release
    )
    .execute(db)
    .await
    .map(drop)
}

/// Sets a supplier's grant.
pub async fn set_grant(
    db: impl PgExecutor<'_>,
    supplier: Uuid,
    (credit, fx): (Decimal, Option<Decimal>),
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO supplier_quotas (supplier_account_id, credit_quota, fx_quota, updated_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (supplier_account_id)
         DO UPDATE SET credit_quota = $2, fx_quota = $3, updated_at = $4",
        supplier,
        credit,
        fx,
        at
    )
    .execute(db)
    .await
    .map(drop)
}
