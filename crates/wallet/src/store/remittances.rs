//! `remittances` (money the bank received for a receiving account) and `remittance_links`
//! (what of it went to which order).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgExecutor;
use uuid::Uuid;

/// A remittance as stored (a new one is written from the same shape).
pub struct RemittanceRow {
    pub remittance_id: Uuid,
    pub receiving_account_id: Uuid,
    pub wallet_id: Uuid,
    pub bank_reference: String,
    pub currency: String,
    pub amount: Decimal,
    pub unallocated: Decimal,
    /// `kuajing.wallet.v1.RemittanceStatus`.
    pub status: i16,
    pub payer_name: String,
    pub payer_account_masked: String,
    pub payer_bank_name: String,
    pub payer_country_code: String,
    pub remittance_info: String,
    pub value_time: Option<DateTime<Utc>>,
    pub entry_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// A link as stored (a new one is written from the same shape).
pub struct LinkRow {
    pub remittance_link_id: Uuid,
    pub remittance_id: Uuid,
    pub order_id: String,
    /// `kuajing.wallet.v1.OrderPaymentPart`.
    pub payment_part: i16,
    pub currency: String,
    pub amount: Decimal,
    /// `kuajing.wallet.v1.LinkDisposition`.
    pub disposition: i16,
    /// `kuajing.wallet.v1.FundPool`.
    pub fund_pool: i16,
    pub hold_id: Option<Uuid>,
    pub entry_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// What a link needs of its remittance, read under lock.
pub struct Linkable {
    pub wallet_id: Uuid,
    pub currency: String,
    pub unallocated: Decimal,
    pub status: i16,
}

/// Filters of a remittance list; `None` and empty are "any".
pub struct RemittanceFilter<'a> {
    pub wallet_id: Uuid,
    pub receiving_account_id: Option<Uuid>,
    pub statuses: &'a [i16],
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// One remittance.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<RemittanceRow>> {
    sqlx::query_as!(
        RemittanceRow,
        "SELECT remittance_id, receiving_account_id, wallet_id, bank_reference, currency, amount,
             unallocated, status, payer_name, payer_account_masked, payer_bank_name,
             payer_country_code, remittance_info, value_time, entry_id, created_at
         FROM remittances WHERE remittance_id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

/// A remittance's links, oldest first.
pub async fn links_of(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Vec<LinkRow>> {
    sqlx::query_as!(
        LinkRow,
        "SELECT remittance_link_id, remittance_id, order_id, payment_part, currency, amount,
             disposition, fund_pool, hold_id, entry_id, created_at
         FROM remittance_links WHERE remittance_id = $1 ORDER BY created_at, remittance_link_id",
        id
    )
    .fetch_all(db)
    .await
}

/// Serialises the transactions reporting one bank reference (until the transaction ends).
pub async fn lock_reference(db: impl PgExecutor<'_>, reference: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
        reference
    )
    .execute(db)
    .await
    .map(drop)
}

/// The remittance recorded under a bank reference, with the hash of its report.
pub async fn by_reference(
    db: impl PgExecutor<'_>,
    reference: &str,
) -> sqlx::Result<Option<(Uuid, Vec<u8>)>> {
    let r = sqlx::query!(
        "SELECT remittance_id, request_hash FROM remittances WHERE bank_reference = $1",
        reference
    )
    .fetch_optional(db)
    .await?;
    Ok(r.map(|r| (r.remittance_id, r.request_hash)))
}

/// Records a remittance with the hash of its report.
pub async fn insert(
    db: impl PgExecutor<'_>,
    r: &RemittanceRow,
    request_hash: &[u8],
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO remittances (remittance_id, receiving_account_id, wallet_id, bank_reference,
             currency, amount, unallocated, status, payer_name, payer_account_masked,
             payer_bank_name, payer_country_code, remittance_info, value_time, entry_id,
             request_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        r.remittance_id,
        r.receiving_account_id,
        r.wallet_id,
        r.bank_reference,
        r.currency,
        r.amount,
        r.unallocated,
        r.status,
        r.payer_name,
        r.payer_account_masked,
        r.payer_bank_name,
        r.payer_country_code,
        r.remittance_info,
        r.value_time,
        r.entry_id,
        request_hash,
        r.created_at
    )
    .execute(db)
    .await
    .map(drop)
}

/// A wallet's remittances newest first (id and creation time), after the cursor
/// (`created_at`, `remittance_id`), at most `limit`.
pub async fn ids_of_wallet(
    db: impl PgExecutor<'_>,
    f: &RemittanceFilter<'_>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<(Uuid, DateTime<Utc>)>> {
    let rows = sqlx::query!(
        "SELECT remittance_id, created_at FROM remittances
         WHERE wallet_id = $1 AND ($2::uuid IS NULL OR receiving_account_id = $2)
           AND (cardinality($3::int2[]) = 0 OR status = ANY($3))
           AND ($4::timestamptz IS NULL OR value_time >= $4)
           AND ($5::timestamptz IS NULL OR value_time < $5)
           AND ($6::timestamptz IS NULL OR (created_at, remittance_id) < ($6, $7))
         ORDER BY created_at DESC, remittance_id DESC LIMIT $8",
        f.wallet_id,
        f.receiving_account_id,
        f.statuses,
        f.from,
        f.to,
        after.map(|a| a.0),
        after.map(|a| a.1),
        limit
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.remittance_id, r.created_at))
        .collect())
}

/// What a link needs of a remittance, the row locked until the transaction ends.
pub async fn linkable_for_update(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> sqlx::Result<Option<Linkable>> {
    sqlx::query_as!(
        Linkable,
        "SELECT wallet_id, currency, unallocated, status FROM remittances
         WHERE remittance_id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(db)
    .await
}

/// Sets what stays unallocated and the status.
pub async fn set_unallocated(
    db: impl PgExecutor<'_>,
    id: Uuid,
    unallocated: Decimal,
    status: i16,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE remittances SET unallocated = $2, status = $3 WHERE remittance_id = $1",
        id,
        unallocated,
        status
    )
    .execute(db)
    .await
    .map(drop)
}

/// Records a link.
pub async fn insert_link(db: impl PgExecutor<'_>, l: &LinkRow) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO remittance_links (remittance_link_id, remittance_id, order_id, payment_part,
             currency, amount, disposition, fund_pool, hold_id, entry_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        l.remittance_link_id,
        l.remittance_id,
        l.order_id,
        l.payment_part,
        l.currency,
        l.amount,
        l.disposition,
        l.fund_pool,
        l.hold_id,
        l.entry_id,
        l.created_at
    )
    .execute(db)
    .await
    .map(drop)
}

/// A remittance's amount, unallocated amount and status, the row locked until the
/// transaction ends.
pub async fn amounts_for_update(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> sqlx::Result<(Decimal, Decimal, i16)> {
    let r = sqlx::query!(
        "SELECT amount, unallocated, status FROM remittances WHERE remittance_id = $1 FOR UPDATE",
        id
    )
    .fetch_one(db)
    .await?;
    Ok((r.amount, r.unallocated, r.status))
}

/// Marks a remittance reversed (nothing of it left to link).
pub async fn set_reversed(db: impl PgExecutor<'_>, id: Uuid, reversed: i16) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE remittances SET status = $2, unallocated = 0 WHERE remittance_id = $1",
        id,
        reversed
    )
    .execute(db)
    .await
    .map(drop)
}
