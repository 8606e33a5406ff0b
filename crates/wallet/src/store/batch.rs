//! The transfer batch's set-based statements: many transfers' accounts, idempotency claims,
//! entries, postings and answers, each in one statement over `UNNEST`ed columns.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// Account keys as the column arrays Postgres `UNNEST`s.
pub struct KeyColumns {
    pub wallet: Vec<Uuid>,
    pub kind: Vec<i16>,
    pub currency: Vec<String>,
    pub pool: Vec<i16>,
    pub shard: Vec<i16>,
}

/// A row of [`claim_and_lock`]: `part` 0 is a locked account, 1 a claimed request id, 2 a
/// source's customer account (read, not locked).
pub struct ClaimRow {
    pub part: i16,
    pub request_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub wallet_id: Option<Uuid>,
    pub kind: Option<i16>,
    pub currency: Option<String>,
    pub fund_pool: Option<i16>,
    pub shard: Option<i16>,
    pub balance: Option<Decimal>,
}

/// The idempotency claims of a batch.
pub struct Claims<'a> {
    pub request_ids: &'a [Uuid],
    pub methods: &'a [String],
    pub hashes: &'a [Vec<u8>],
}

/// Everything a batch writes, as columns.
pub struct BatchWrite {
    pub at: DateTime<Utc>,
    /// Changed balances: account ids and new balances.
    pub account_ids: Vec<Uuid>,
    pub balances: Vec<Decimal>,
    /// `kuajing.wallet.v1.JournalEntryType` of every entry.
    pub entry_type: i16,
    /// One per transfer done.
    pub entry_ids: Vec<Uuid>,
    pub request_ids: Vec<Uuid>,
    pub transfer_ids: Vec<Uuid>,
    pub order_ids: Vec<String>,
    pub descriptions: Vec<String>,
    pub sources: Vec<Uuid>,
    pub destinations: Vec<Uuid>,
    pub currencies: Vec<String>,
    pub amounts: Vec<Decimal>,
    pub pools: Vec<i16>,
    pub fee_legs: Vec<serde_json::Value>,
    pub responses: Vec<Vec<u8>>,
    /// One per posting.
    pub posting_entries: Vec<Uuid>,
    pub posting_indexes: Vec<i16>,
    pub posting_accounts: Vec<Uuid>,
    pub posting_wallets: Vec<Uuid>,
    pub posting_kinds: Vec<i16>,
    pub posting_pools: Vec<i16>,
    pub posting_currencies: Vec<String>,
    pub posting_amounts: Vec<Decimal>,
    pub posting_balances: Vec<Decimal>,
    pub posting_ids: Vec<Uuid>,
    /// One per transfer refused: its request id and encoded refusal.
    pub refused: Vec<Uuid>,
    pub refusals: Vec<Vec<u8>>,
}

/// Creates the accounts of `cols` that do not exist yet, empty (only for wallets that exist,
/// or platform accounts).
pub async fn create_missing(
    db: impl PgExecutor<'_>,
    cols: &KeyColumns,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO ledger_accounts (account_id, wallet_id, kind, currency, fund_pool, shard,
             balance, updated_at)
         SELECT gen_random_uuid(), w, k, c, p, s, 0, $6
         FROM UNNEST($1::uuid[], $2::int2[], $3::text[], $4::int2[], $5::int2[])
             AS t(w, k, c, p, s)
         WHERE w = '00000000-0000-0000-0000-000000000000'
            OR EXISTS (SELECT 1 FROM wallets WHERE wallet_id = w)
         ON CONFLICT (wallet_id, kind, currency, fund_pool, shard) DO NOTHING",
        &cols.wallet,
        &cols.kind,
        &cols.currency,
        &cols.pool,
        &cols.shard,
        at
    )
    .execute(db)
    .await
    .map(drop)
}

/// In one statement: claims the request ids (those claimed already are not returned),
/// locks every account of `cols` in key order, and reads the customer accounts of kinds
/// `kinds` of the wallets `sources`.
pub async fn claim_and_lock(
    conn: &mut PgConnection,
    cols: &KeyColumns,
    claims: &Claims<'_>,
    sources: &[Uuid],
    kinds: &[i16],
) -> sqlx::Result<Vec<ClaimRow>> {
    sqlx::query_as!(
        ClaimRow,
        r#"WITH claimed AS (
             INSERT INTO idempotency_records (request_id, method, request_hash)
             SELECT * FROM UNNEST($6::uuid[], $7::text[], $8::bytea[])
             ON CONFLICT (request_id) DO NOTHING RETURNING request_id
         ), locked AS (
             SELECT a.account_id, a.wallet_id, a.kind, a.currency, a.fund_pool, a.shard, a.balance
             FROM ledger_accounts a
             JOIN UNNEST($1::uuid[], $2::int2[], $3::text[], $4::int2[], $5::int2[])
                 AS t(w, k, c, p, s)
               ON a.wallet_id = t.w AND a.kind = t.k AND a.currency = t.c AND a.fund_pool = t.p
              AND a.shard = t.s
             ORDER BY a.wallet_id, a.kind, a.currency, a.fund_pool, a.shard
             FOR UPDATE OF a
         )
         SELECT 0::int2 AS "part!", NULL::uuid AS "request_id?", account_id AS "account_id?",
                wallet_id AS "wallet_id?", kind AS "kind?", currency AS "currency?",
                fund_pool AS "fund_pool?", shard AS "shard?", balance AS "balance?"
         FROM locked
         UNION ALL
         SELECT 1::int2, request_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM claimed
         UNION ALL
         SELECT 2::int2, NULL, account_id, wallet_id, kind, currency, fund_pool, shard, balance
         FROM ledger_accounts WHERE wallet_id = ANY($9) AND kind = ANY($10::int2[])"#,
        &cols.wallet,
        &cols.kind,
        &cols.currency,
        &cols.pool,
        &cols.shard,
        claims.request_ids,
        claims.methods,
        claims.hashes,
        sources,
        kinds
    )
    .fetch_all(conn)
    .await
}

/// Writes a batch in one statement: balances, entries, postings, transfers, the answers of
/// the done and the records of the refused. Postgres runs every data-modifying CTE to
/// completion and checks the postings' foreign keys at the end of the statement, when their
/// entries exist.
pub async fn write(conn: &mut PgConnection, w: &BatchWrite) -> sqlx::Result<()> {
    sqlx::query!(
        "WITH balances AS (
             UPDATE ledger_accounts a SET balance = v.b, updated_at = $1
             FROM UNNEST($2::uuid[], $3::numeric[]) AS v(id, b) WHERE a.account_id = v.id
         ), entries AS (
             INSERT INTO journal_entries (entry_id, type, request_id, order_id, transfer_id,
                 description, created_at)
             SELECT e, $4, r, o, t, d, $1
             FROM UNNEST($5::uuid[], $6::uuid[], $7::uuid[], $8::text[], $9::text[])
                 AS x(e, r, t, o, d)
         ), lines AS (
             INSERT INTO postings (posting_id, entry_id, idx, account_id, wallet_id, kind,
                 fund_pool, currency, amount, balance_after, entry_type, created_at)
             SELECT id, e, i, a, w, k, p, c, m, b, $4, $1
             FROM UNNEST($10::uuid[], $11::int2[], $12::uuid[], $13::uuid[], $14::int2[],
                         $15::int2[], $16::text[], $17::numeric[], $18::numeric[], $19::uuid[])
                 AS x(e, i, a, w, k, p, c, m, b, id)
         ), moved AS (
             INSERT INTO transfers (transfer_id, source_wallet_id, destination_wallet_id,
                 currency, amount, destination_fund_pool, fee_legs, order_id, description,
                 entry_id, created_at)
             SELECT *, $1 FROM UNNEST($7::uuid[], $20::uuid[], $21::uuid[], $22::text[],
                 $23::numeric[], $24::int2[], $25::jsonb[], $8::text[], $9::text[], $5::uuid[])
         ), answered AS (
             UPDATE idempotency_records r SET response = v.b
             FROM UNNEST($6::uuid[], $26::bytea[]) AS v(id, b) WHERE r.request_id = v.id
         )
         -- A refused transfer's refusal is its answer for good (replayed to every repeat).
         UPDATE idempotency_records r SET refusal = v.f
         FROM UNNEST($27::uuid[], $28::bytea[]) AS v(id, f) WHERE r.request_id = v.id",
        w.at,
        &w.account_ids,
        &w.balances,
        w.entry_type,
        &w.entry_ids,
        &w.request_ids,
        &w.transfer_ids,
        &w.order_ids,
        &w.descriptions,
        &w.posting_entries,
        &w.posting_indexes,
        &w.posting_accounts,
        &w.posting_wallets,
        &w.posting_kinds,
        &w.posting_pools,
        &w.posting_currencies,
        &w.posting_amounts,
        &w.posting_balances,
        &w.posting_ids,
        &w.sources,
        &w.destinations,
        &w.currencies,
        &w.amounts,
        &w.pools,
        &w.fee_legs,
        &w.responses,
        &w.refused,
        &w.refusals
    )
    .execute(conn)
    .await
    .map(drop)
}
