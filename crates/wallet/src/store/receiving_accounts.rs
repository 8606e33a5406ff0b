//! `receiving_accounts`: a wallet's named collection accounts with their bank details.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A receiving account as stored (a new one is written from the same shape).
pub struct ReceivingRow {
    pub receiving_account_id: Uuid,
    pub wallet_id: Uuid,
    pub currency: String,
    pub display_name: String,
    /// `kuajing.wallet.v1.ReceivingAccountPurpose`.
    pub purpose: i16,
    pub account_number: String,
    pub holder_name: String,
    pub bank_name: String,
    pub bank_address: String,
    pub bank_country_code: String,
    pub swift_code: String,
    /// `kuajing.wallet.v1.RoutingCodeType`.
    pub routing_code_type: i16,
    pub routing_code: String,
    pub iban: String,
    pub created_at: DateTime<Utc>,
}

/// How many receiving accounts a wallet has.
pub async fn count_of_wallet(db: impl PgExecutor<'_>, wallet_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM receiving_accounts WHERE wallet_id = $1"#,
        wallet_id
    )
    .fetch_one(db)
    .await
}

/// Writes a receiving account.
pub async fn insert(db: impl PgExecutor<'_>, r: &ReceivingRow) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO receiving_accounts (receiving_account_id, wallet_id, currency, display_name,
             purpose, account_number, holder_name, bank_name, bank_address, bank_country_code,
             swift_code, routing_code_type, routing_code, iban, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        r.receiving_account_id,
        r.wallet_id,
        r.currency,
        r.display_name,
        r.purpose,
        r.account_number,
        r.holder_name,
        r.bank_name,
        r.bank_address,
        r.bank_country_code,
        r.swift_code,
        r.routing_code_type,
        r.routing_code,
        r.iban,
        r.created_at
    )
    .execute(db)
    .await
    .map(drop)
}

/// A wallet's receiving accounts oldest first (in `currency` when given), after the cursor
/// (`created_at`, `receiving_account_id`), at most `limit`.
pub async fn of_wallet(
    db: impl PgExecutor<'_>,
    wallet_id: Uuid,
    currency: Option<&str>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<ReceivingRow>> {
    sqlx::query_as!(
        ReceivingRow,
        "SELECT receiving_account_id, wallet_id, currency, display_name, purpose, account_number,
             holder_name, bank_name, bank_address, bank_country_code, swift_code,
             routing_code_type, routing_code, iban, created_at
         FROM receiving_accounts
         WHERE wallet_id = $1 AND ($2::text IS NULL OR currency = $2)
           AND ($3::timestamptz IS NULL OR (created_at, receiving_account_id) > ($3, $4))
         ORDER BY created_at, receiving_account_id LIMIT $5",
        wallet_id,
        currency,
        after.map(|a| a.0),
        after.map(|a| a.1),
        limit
    )
    .fetch_all(db)
    .await
}

/// The id, wallet, currency and purpose of the receiving account with `account_number`
/// (or that IBAN).
pub async fn by_number(
    db: impl PgExecutor<'_>,
    account_number: &str,
) -> sqlx::Result<Option<(Uuid, Uuid, String, i16)>> {
    let r = sqlx::query!(
        "SELECT receiving_account_id, wallet_id, currency, purpose FROM receiving_accounts
         WHERE account_number = $1 OR (iban <> '' AND iban = $1)",
        account_number
    )
    .fetch_optional(db)
    .await?;
    Ok(r.map(|r| (r.receiving_account_id, r.wallet_id, r.currency, r.purpose)))
}
