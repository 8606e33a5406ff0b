//! `inspection_charges`: one inspection fee charge per order, claimed before the wallet is
//! asked.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// The order's charge id: `proposed` the first time, the first claim's after that.
pub async fn claim(
    db: impl PgExecutor<'_>,
    order_id: Uuid,
    proposed: Uuid,
    at: DateTime<Utc>,
) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "INSERT INTO inspection_charges (order_id, charge_id, claimed_at) VALUES ($1, $2, $3)
         ON CONFLICT (order_id) DO UPDATE SET order_id = EXCLUDED.order_id
         RETURNING charge_id",
        order_id,
        proposed,
        at
    )
    .fetch_one(db)
    .await
}

/// Gives up a claim the wallet refused.
pub async fn release(db: impl PgExecutor<'_>, order_id: Uuid, charge_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "DELETE FROM inspection_charges WHERE order_id = $1 AND charge_id = $2",
        order_id,
        charge_id
    )
    .execute(db)
    .await
    .map(drop)
}
