//! Reading `journal_entries`, their `postings` and the `ledger_accounts` they moved (the
//! ledger's writes are `store::ledger`).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgExecutor;
use uuid::Uuid;

/// An entry as stored, with the entry that reversed it.
pub struct EntryRow {
    pub entry_id: Uuid,
    /// `kuajing.wallet.v1.JournalEntryType`.
    pub entry_type: i16,
    pub request_id: Uuid,
    pub order_id: String,
    pub quote_id: String,
    pub hold_id: Option<Uuid>,
    pub transfer_id: Option<Uuid>,
    pub remittance_id: Option<Uuid>,
    pub remittance_link_id: Option<Uuid>,
    pub withdrawal_id: Option<Uuid>,
    pub description: String,
    pub reverses_entry_id: Option<Uuid>,
    pub reversed_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A posting as the entry shows it.
pub struct PostingRow {
    pub account_id: Uuid,
    pub kind: i16,
    pub wallet_id: Uuid,
    pub fund_pool: i16,
    pub currency: String,
    pub amount: Decimal,
}

/// Filters of an entry list; `None`, "" and empty are "any".
pub struct EntryFilter<'a> {
    pub wallet_id: Option<Uuid>,
    pub order_id: &'a str,
    pub quote_id: &'a str,
    pub request_id: Option<Uuid>,
    pub types: &'a [i16],
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// A ledger account (the shards of a platform account summed into one).
pub struct AccountRow {
    pub account_id: Uuid,
    pub wallet_id: Uuid,
    pub kind: i16,
    pub currency: String,
    pub fund_pool: i16,
    pub balance: Decimal,
    pub updated_at: DateTime<Utc>,
}

/// One entry.
pub async fn get(db: impl PgExecutor<'_>, entry_id: Uuid) -> sqlx::Result<Option<EntryRow>> {
    sqlx::query_as!(
        EntryRow,
        r#"SELECT e.entry_id, e.type AS entry_type, e.request_id, e.order_id, e.quote_id,
                  e.hold_id, e.transfer_id, e.remittance_id, e.remittance_link_id,
                  e.withdrawal_id, e.description, e.reverses_entry_id,
                  (SELECT r.entry_id FROM journal_entries r WHERE r.reverses_entry_id = e.entry_id)
                      AS "reversed_by?",
                  e.created_at
           FROM journal_entries e WHERE e.entry_id = $1"#,
        entry_id
    )
    .fetch_optional(db)
    .await
}

/// An entry's postings in their order.
pub async fn postings(db: impl PgExecutor<'_>, entry_id: Uuid) -> sqlx::Result<Vec<PostingRow>> {
    sqlx::query_as!(
        PostingRow,
        "SELECT account_id, kind, wallet_id, fund_pool, currency, amount FROM postings
         WHERE entry_id = $1 ORDER BY idx",
        entry_id
    )
    .fetch_all(db)
    .await
}

/// Entries newest first (id and time), after the cursor (`created_at`, `entry_id`), at most
/// `limit`.
pub async fn ids(
    db: impl PgExecutor<'_>,
    f: &EntryFilter<'_>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<(Uuid, DateTime<Utc>)>> {
    let rows = sqlx::query!(
        "SELECT e.entry_id, e.created_at FROM journal_entries e
         WHERE ($1::uuid IS NULL OR EXISTS (SELECT 1 FROM postings p
                                            WHERE p.entry_id = e.entry_id AND p.wallet_id = $1))
           AND ($2 = '' OR e.order_id = $2) AND ($3 = '' OR e.quote_id = $3)
           AND ($4::uuid IS NULL OR e.request_id = $4)
           AND (cardinality($5::int2[]) = 0 OR e.type = ANY($5))
           AND ($6::timestamptz IS NULL OR e.created_at >= $6)
           AND ($7::timestamptz IS NULL OR e.created_at < $7)
           AND ($8::timestamptz IS NULL OR (e.created_at, e.entry_id) < ($8, $9))
         ORDER BY e.created_at DESC, e.entry_id DESC LIMIT $10",
        f.wallet_id,
        f.order_id,
        f.quote_id,
        f.request_id,
        f.types,
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
        .map(|r| (r.entry_id, r.created_at))
        .collect())
}

/// The entry that reversed `entry_id`, if any.
pub async fn reversal_of(db: impl PgExecutor<'_>, entry_id: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "SELECT entry_id FROM journal_entries WHERE reverses_entry_id = $1",
        entry_id
    )
    .fetch_optional(db)
    .await
}

/// Ledger accounts by id (one row per wallet, kind, currency and pool; `None` is "any"),
/// after the cursor id, at most `limit`.
pub async fn accounts(
    db: impl PgExecutor<'_>,
    (kind, currency, wallet_id): (Option<i16>, Option<&str>, Option<Uuid>),
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<AccountRow>> {
    sqlx::query_as!(
        AccountRow,
        r#"SELECT min(account_id::text)::uuid AS "account_id!", wallet_id, kind, currency,
                  fund_pool, sum(balance) AS "balance!", max(updated_at) AS "updated_at!"
           FROM ledger_accounts
           WHERE ($1::int2 IS NULL OR kind = $1) AND ($2::text IS NULL OR currency = $2)
             AND ($3::uuid IS NULL OR wallet_id = $3)
           GROUP BY wallet_id, kind, currency, fund_pool
           HAVING ($4::uuid IS NULL OR min(account_id::text)::uuid > $4)
           ORDER BY 1 LIMIT $5"#,
        kind,
        currency,
        wallet_id,
        after,
        limit
    )
    .fetch_all(db)
    .await
}
