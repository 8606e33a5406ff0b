//! What a wallet's statement and fund overview read: its postings with their entries, and
//! its balances, open holds and unallocated remittances summed.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgExecutor;
use uuid::Uuid;

/// One posting of the wallet, with its entry's description and order and the first other
/// wallet the entry moved money with.
pub struct LineRow {
    pub posting_id: Uuid,
    pub entry_id: Uuid,
    pub idx: i16,
    pub entry_type: i16,
    pub kind: i16,
    pub fund_pool: i16,
    pub currency: String,
    pub amount: Decimal,
    pub balance_after: Decimal,
    pub created_at: DateTime<Utc>,
    pub description: String,
    pub order_id: String,
    pub counterparty: Option<Uuid>,
}

/// A sum per currency and a kind-like number (account kind and pool, or hold purpose).
pub struct Sum {
    pub currency: String,
    pub kind: i16,
    pub fund_pool: i16,
    pub amount: Decimal,
}

/// The wallet's postings oldest first (in `currency`, of `types`; `None` and empty are
/// "any"), created in [`from`, `to`), after the cursor (`created_at`, `posting_id`), at
/// most `limit`.
pub async fn lines(
    db: impl PgExecutor<'_>,
    (wallet_id, currency, types): (Uuid, Option<&str>, &[i16]),
    (from, to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<LineRow>> {
    sqlx::query_as!(
        LineRow,
        r#"SELECT p.posting_id, p.entry_id, p.idx, p.entry_type, p.kind, p.fund_pool, p.currency,
                  p.amount, p.balance_after, p.created_at, e.description, e.order_id,
                  (SELECT o.wallet_id FROM postings o WHERE o.entry_id = p.entry_id
                     AND o.wallet_id <> p.wallet_id
                     AND o.wallet_id <> '00000000-0000-0000-0000-000000000000'
                   ORDER BY o.idx LIMIT 1) AS "counterparty?"
           FROM postings p JOIN journal_entries e ON e.entry_id = p.entry_id
           WHERE p.wallet_id = $1 AND ($2::text IS NULL OR p.currency = $2)
             AND (cardinality($3::int2[]) = 0 OR p.entry_type = ANY($3))
             AND ($4::timestamptz IS NULL OR p.created_at >= $4)
             AND ($5::timestamptz IS NULL OR p.created_at < $5)
             AND ($6::timestamptz IS NULL OR (p.created_at, p.posting_id) > ($6, $7))
           ORDER BY p.created_at, p.posting_id LIMIT $8"#,
        wallet_id,
        currency,
        types,
        from,
        to,
        after.map(|a| a.0),
        after.map(|a| a.1),
        limit
    )
    .fetch_all(db)
    .await
}

/// The wallet's balances per currency, account kind and pool.
pub async fn balances(db: impl PgExecutor<'_>, wallet_id: Uuid) -> sqlx::Result<Vec<Sum>> {
    sqlx::query_as!(
        Sum,
        r#"SELECT currency, kind, fund_pool, sum(balance) AS "amount!" FROM ledger_accounts
           WHERE wallet_id = $1 GROUP BY currency, kind, fund_pool"#,
        wallet_id
    )
    .fetch_all(db)
    .await
}

/// What the wallet's holds in `state` hold, per currency and purpose (as `kind`; the pool
/// is 0).
pub async fn held(db: impl PgExecutor<'_>, wallet_id: Uuid, state: i16) -> sqlx::Result<Vec<Sum>> {
    sqlx::query_as!(
        Sum,
        r#"SELECT currency, purpose AS kind, 0::int2 AS "fund_pool!", sum(amount) AS "amount!"
           FROM holds WHERE wallet_id = $1 AND state = $2 GROUP BY currency, purpose"#,
        wallet_id,
        state
    )
    .fetch_all(db)
    .await
}

/// What of the wallet's remittances is unallocated, per currency (kind and pool 0).
pub async fn unallocated(db: impl PgExecutor<'_>, wallet_id: Uuid) -> sqlx::Result<Vec<Sum>> {
    sqlx::query_as!(
        Sum,
        r#"SELECT currency, 0::int2 AS "kind!", 0::int2 AS "fund_pool!",
                  sum(unallocated) AS "amount!"
           FROM remittances WHERE wallet_id = $1 GROUP BY currency"#,
        wallet_id
    )
    .fetch_all(db)
    .await
}
