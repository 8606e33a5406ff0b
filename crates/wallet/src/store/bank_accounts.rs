//! `bank_accounts`: where a wallet withdraws to, kept as a keyed fingerprint of the number
//! and its last four characters.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A bank account as stored (a new one is written from the same shape).
pub struct BankAccountRow {
    pub bank_account_id: Uuid,
    pub wallet_id: Uuid,
    /// `kuajing.wallet.v1.BankAccountType`.
    pub account_type: i16,
    pub holder_name: String,
    pub bank_name: String,
    pub branch_name: String,
    pub account_fingerprint: Vec<u8>,
    pub account_last4: String,
    pub swift_code: String,
    pub routing_code: String,
    pub country_code: String,
    pub currency: String,
    pub created_at: DateTime<Utc>,
}

/// The wallet's account at `bank_name` in `currency` with one of `fingerprints`.
pub async fn registered(
    db: impl PgExecutor<'_>,
    wallet_id: Uuid,
    fingerprints: &[Vec<u8>],
    bank_name: &str,
    currency: &str,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "SELECT bank_account_id FROM bank_accounts WHERE wallet_id = $1
         AND account_fingerprint = ANY($2) AND bank_name = $3 AND currency = $4",
        wallet_id,
        fingerprints,
        bank_name,
        currency
    )
    .fetch_optional(db)
    .await
}

/// Registers a bank account unless the wallet has it (then `None`).
pub async fn insert(
    db: impl PgExecutor<'_>,
    b: &BankAccountRow,
) -> sqlx::Result<Option<BankAccountRow>> {
    sqlx::query_as!(
        BankAccountRow,
        r#"INSERT INTO bank_accounts (bank_account_id, wallet_id, type, holder_name, bank_name,
               branch_name, account_fingerprint, account_last4, swift_code, routing_code,
               country_code, currency, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           ON CONFLICT (wallet_id, account_fingerprint, bank_name, currency) DO NOTHING
           RETURNING bank_account_id, wallet_id, type AS account_type, holder_name, bank_name,
               branch_name, account_fingerprint, account_last4, swift_code, routing_code,
               country_code, currency, created_at"#,
        b.bank_account_id,
        b.wallet_id,
        b.account_type,
        b.holder_name,
        b.bank_name,
        b.branch_name,
        b.account_fingerprint,
        b.account_last4,
        b.swift_code,
        b.routing_code,
        b.country_code,
        b.currency,
        b.created_at
    )
    .fetch_optional(db)
    .await
}

/// The wallet's bank accounts oldest first, after the cursor (`created_at`,
/// `bank_account_id`), at most `limit`.
pub async fn of_wallet(
    db: impl PgExecutor<'_>,
    wallet_id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<BankAccountRow>> {
    sqlx::query_as!(
        BankAccountRow,
        r#"SELECT bank_account_id, wallet_id, type AS account_type, holder_name, bank_name,
               branch_name, account_fingerprint, account_last4, swift_code, routing_code,
               country_code, currency, created_at
           FROM bank_accounts WHERE wallet_id = $1
             AND ($2::timestamptz IS NULL OR (created_at, bank_account_id) > ($2, $3))
           ORDER BY created_at, bank_account_id LIMIT $4"#,
        wallet_id,
        after.map(|a| a.0),
        after.map(|a| a.1),
        limit
    )
    .fetch_all(db)
    .await
}

/// The type and currency of the wallet's bank account `bank_account_id`.
pub async fn type_and_currency(
    db: impl PgExecutor<'_>,
    bank_account_id: Uuid,
    wallet_id: Uuid,
) -> sqlx::Result<Option<(i16, String)>> {
    let r = sqlx::query!(
        "SELECT type, currency FROM bank_accounts WHERE bank_account_id = $1 AND wallet_id = $2",
        bank_account_id,
        wallet_id
    )
    .fetch_optional(db)
    .await?;
    Ok(r.map(|r| (r.r#type, r.currency)))
}
