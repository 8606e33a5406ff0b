//! `transfers`: wallet-to-wallet movements (one at a time here; the batch writes many in
//! one statement, `store::batch`).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgExecutor;
use uuid::Uuid;

/// A transfer as stored (a new one is written from the same shape).
pub struct TransferRow {
    pub transfer_id: Uuid,
    pub source_wallet_id: Uuid,
    pub destination_wallet_id: Uuid,
    pub currency: String,
    pub amount: Decimal,
    /// `kuajing.wallet.v1.FundPool`.
    pub destination_fund_pool: i16,
    pub fee_legs: serde_json::Value,
    pub order_id: String,
    pub description: String,
    pub entry_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// Records a transfer.
pub async fn insert(db: impl PgExecutor<'_>, t: &TransferRow) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO transfers (transfer_id, source_wallet_id, destination_wallet_id, currency,
             amount, destination_fund_pool, fee_legs, order_id, description, entry_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        t.transfer_id,
        t.source_wallet_id,
        t.destination_wallet_id,
        t.currency,
        t.amount,
        t.destination_fund_pool,
        t.fee_legs,
        t.order_id,
        t.description,
        t.entry_id,
        t.created_at
    )
    .execute(db)
    .await
    .map(drop)
}

/// One transfer.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<TransferRow>> {
    sqlx::query_as!(
        TransferRow,
        "SELECT transfer_id, source_wallet_id, destination_wallet_id, currency, amount,
             destination_fund_pool, fee_legs, order_id, description, entry_id, created_at
         FROM transfers WHERE transfer_id = $1",
        id
    )
    .fetch_optional(db)
    .await
}
