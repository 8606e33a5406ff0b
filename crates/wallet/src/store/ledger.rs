//! Posts journal entries: one conditional update (or upsert) per touched ledger account,
//! in the fixed lock order, then the entry and all its postings in one insert each.
//!
//! No overdraft under any interleaving: a debit of a customer balance is
//! `UPDATE ... WHERE balance + $net >= 0`, so the check and the change are one atomic
//! step; the table's CHECK constraint is the last line of defence. Platform accounts are
//! sharded (the shard is picked per entry), so no platform row is updated by every entry.

use chrono::{DateTime, Utc};
use kuajing_platform::Currency;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::ledger::{AccountKey, DraftError, EntryDraft};

/// Platform accounts are split across this many rows each.
pub const PLATFORM_SHARDS: u16 = 16;

/// A posted leg.
#[derive(Clone, Debug)]
pub struct PostedLeg {
    /// Posting id.
    pub posting_id: Uuid,
    /// Ledger account row.
    pub account_id: Uuid,
    /// The account.
    pub account: AccountKey,
    /// Signed amount.
    pub amount: Decimal,
    /// The account row's balance right after this posting.
    pub balance_after: Decimal,
}

/// A posted entry.
#[derive(Clone, Debug)]
pub struct Posted {
    /// Entry id.
    pub entry_id: Uuid,
    /// When it was posted.
    pub created_at: DateTime<Utc>,
    /// Its legs as posted.
    pub legs: Vec<PostedLeg>,
}

impl Posted {
    /// The balance after posting of a customer account, if the entry touched it.
    pub fn balance_of(&self, account: &AccountKey) -> Option<Decimal> {
        self.legs
            .iter()
            .rev()
            .find(|l| &l.account == account)
            .map(|l| l.balance_after)
    }
}

/// Why an entry was not posted.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// A customer balance would go below zero (or arrears above it).
    #[error("insufficient funds in {0:?}")]
    Insufficient(AccountKey),
    /// The draft breaks double entry: a bug in the caller.
    #[error("invalid entry: {0}")]
    Invalid(#[from] DraftError),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

pub fn shard_for(entry_id: Uuid) -> i16 {
    let b = entry_id.as_bytes();
    let n = u16::from_be_bytes([b[14], b[15]]) % PLATFORM_SHARDS;
    i16::try_from(n).unwrap_or(0)
}

/// Posts `draft` in the caller's transaction: each account's balance changed (in lock
/// order, refused when a balance would cross zero), then the entry and its postings, each
/// with the running balance of its account.
pub async fn post(
    conn: &mut PgConnection,
    draft: &EntryDraft,
    now: DateTime<Utc>,
) -> Result<Posted, PostError> {
    draft.validate()?;
    let entry_id = Uuid::now_v7();
    let shard = shard_for(entry_id);
    let mut rows: Vec<Before> = Vec::new();
    for (key, net) in draft.net_by_account() {
        let row_shard = if key.is_platform() { shard } else { 0 };
        let (account_id, after) = apply(conn, key, net, row_shard, now).await?;
        rows.push(Before {
            key,
            account_id,
            balance: after - net,
        });
    }
    let legs = legs_of(draft, &rows);
    insert_entry(conn, entry_id, draft, now).await?;
    insert_postings(conn, entry_id, draft, &legs, now).await?;
    ENTRIES.add(1, &[("type", draft.entry_type.as_str_name())]);
    Ok(Posted {
        entry_id,
        created_at: now,
        legs,
    })
}

/// An account the entry changes, with its balance before the entry.
struct Before {
    key: AccountKey,
    account_id: Uuid,
    balance: Decimal,
}

/// Adds `net` to `key`'s balance row (in shard `row_shard`): the row's id and its balance
/// after. A change that a fresh row could not take (a debit of a customer balance, a
/// payment towards arrears) is a conditional update of the existing row; anything else is
/// an upsert.
async fn apply(
    conn: &mut PgConnection,
    key: AccountKey,
    net: Decimal,
    row_shard: i16,
    now: DateTime<Utc>,
) -> Result<(Uuid, Decimal), PostError> {
    let guarded = (key.must_stay_non_negative() && net.is_sign_negative())
        || (key.must_stay_non_positive() && net.is_sign_positive());
    let (kind, currency, pool) = (key.kind as i16, key.currency.code(), key.fund_pool as i16);
    let (account_id, after) = if guarded {
        let row = sqlx::query!(
            "UPDATE ledger_accounts SET balance = balance + $5, updated_at = $7
             WHERE wallet_id = $1 AND kind = $2 AND currency = $3 AND fund_pool = $4
               AND shard = $6
               AND CASE WHEN $8 THEN balance + $5 <= 0 ELSE balance + $5 >= 0 END
             RETURNING account_id, balance",
            key.wallet_id,
            kind,
            currency,
            pool,
            net,
            row_shard,
            now,
            key.must_stay_non_positive()
        )
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(PostError::Insufficient(key))?;
        (row.account_id, row.balance)
    } else {
        let result = sqlx::query!(
            "INSERT INTO ledger_accounts
                 (account_id, wallet_id, kind, currency, fund_pool, shard, balance, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (wallet_id, kind, currency, fund_pool, shard) DO UPDATE
                 SET balance = ledger_accounts.balance + EXCLUDED.balance,
                     updated_at = EXCLUDED.updated_at
             RETURNING account_id, balance",
            Uuid::now_v7(),
            key.wallet_id,
            kind,
            currency,
            pool,
            row_shard,
            net,
            now
        )
        .fetch_one(&mut *conn)
        .await;
        match result {
            Ok(row) => (row.account_id, row.balance),
            // The CHECK constraint: arrears paid beyond what is owed, say.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23514") => {
                return Err(PostError::Insufficient(key));
            }
            Err(e) => return Err(e.into()),
        }
    };
    Ok((account_id, after))
}

/// The postings in the draft's order, each with the running balance of its account.
fn legs_of(draft: &EntryDraft, rows: &[Before]) -> Vec<PostedLeg> {
    let mut running: Vec<Decimal> = rows.iter().map(|r| r.balance).collect();
    let mut legs = Vec::with_capacity(draft.legs.len());
    for leg in &draft.legs {
        let i = rows
            .iter()
            .position(|r| r.key == leg.account)
            .expect("every leg's account was updated");
        running[i] += leg.amount;
        legs.push(PostedLeg {
            posting_id: Uuid::now_v7(),
            account_id: rows[i].account_id,
            account: leg.account,
            amount: leg.amount,
            balance_after: running[i],
        });
    }
    legs
}

/// The journal entry's row.
async fn insert_entry(
    conn: &mut PgConnection,
    entry_id: Uuid,
    draft: &EntryDraft,
    now: DateTime<Utc>,
) -> Result<(), PostError> {
    let c = &draft.cause;
    sqlx::query!(
        "INSERT INTO journal_entries (entry_id, type, request_id, order_id, quote_id, hold_id,
             transfer_id, remittance_id, remittance_link_id, withdrawal_id, description,
             reverses_entry_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        entry_id,
        draft.entry_type as i16,
        c.request_id,
        c.order_id,
        c.quote_id,
        c.hold_id,
        c.transfer_id,
        c.remittance_id,
        c.remittance_link_id,
        c.withdrawal_id,
        draft.description,
        draft.reverses,
        now
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The entry's postings, in one statement.
async fn insert_postings(
    conn: &mut PgConnection,
    entry_id: Uuid,
    draft: &EntryDraft,
    legs: &[PostedLeg],
    now: DateTime<Utc>,
) -> Result<(), PostError> {
    let idx: Vec<i16> = (0..legs.len())
        .map(|i| i16::try_from(i).unwrap_or(i16::MAX))
        .collect();
    let posting_ids: Vec<Uuid> = legs.iter().map(|l| l.posting_id).collect();
    let account_ids: Vec<Uuid> = legs.iter().map(|l| l.account_id).collect();
    let wallet_ids: Vec<Uuid> = legs.iter().map(|l| l.account.wallet_id).collect();
    let kinds: Vec<i16> = legs.iter().map(|l| l.account.kind as i16).collect();
    let pools: Vec<i16> = legs.iter().map(|l| l.account.fund_pool as i16).collect();
    let currencies: Vec<String> = legs
        .iter()
        .map(|l| l.account.currency.code().to_owned())
        .collect();
    let amounts: Vec<Decimal> = legs.iter().map(|l| l.amount).collect();
    let balances: Vec<Decimal> = legs.iter().map(|l| l.balance_after).collect();
    sqlx::query!(
        "INSERT INTO postings (posting_id, entry_id, idx, account_id, wallet_id, kind, fund_pool,
             currency, amount, balance_after, entry_type, created_at)
         SELECT p.posting_id, $2, p.idx, p.account_id, p.wallet_id, p.kind, p.fund_pool,
                p.currency, p.amount, p.balance_after, $3, $4
         FROM UNNEST($1::uuid[], $5::int2[], $6::uuid[], $7::uuid[], $8::int2[], $9::int2[],
                     $10::text[], $11::numeric[], $12::numeric[])
              AS p(posting_id, idx, account_id, wallet_id, kind, fund_pool, currency, amount, balance_after)",
        &posting_ids,
        entry_id,
        draft.entry_type as i16,
        now,
        &idx,
        &account_ids,
        &wallet_ids,
        &kinds,
        &pools,
        &currencies,
        &amounts,
        &balances
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Counts `n` posted entries of `entry_type` (the `kuajing.ledger.entries` metric).
pub fn count_entries(entry_type: kuajing_proto::wallet::v1::JournalEntryType, n: usize) {
    let n = u64::try_from(n).unwrap_or(u64::MAX);
    ENTRIES.add(n, &[("type", entry_type.as_str_name())]);
}

/// Journal entries posted, by type (a metric; counted when the insert succeeds, so an entry
/// whose transaction later rolls back is counted too: it measures work, not the ledger).
static ENTRIES: kuajing_platform::metrics::Tally = kuajing_platform::metrics::Tally::new(
    "kuajing.ledger.entries",
    "journal entries posted, by type",
);

/// The balance of a customer account (zero when it has never been used).
pub async fn balance(conn: &mut PgConnection, key: &AccountKey) -> Result<Decimal, sqlx::Error> {
    let b = sqlx::query_scalar!(
        "SELECT sum(balance) FROM ledger_accounts
         WHERE wallet_id = $1 AND kind = $2 AND currency = $3 AND fund_pool = $4",
        key.wallet_id,
        key.kind as i16,
        key.currency.code(),
        key.fund_pool as i16
    )
    .fetch_one(conn)
    .await?;
    Ok(b.unwrap_or_default())
}

/// The balance of a customer account's row, locked until the transaction ends (`None` when
/// the account has no row yet).
pub async fn balance_for_update(
    conn: &mut PgConnection,
    key: &AccountKey,
) -> Result<Option<Decimal>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT balance FROM ledger_accounts
         WHERE wallet_id = $1 AND kind = $2 AND currency = $3 AND fund_pool = $4 AND shard = 0
         FOR UPDATE",
        key.wallet_id,
        key.kind as i16,
        key.currency.code(),
        key.fund_pool as i16
    )
    .fetch_optional(conn)
    .await
}

/// Rebuilds an entry's draft from its stored postings (for reversals).
pub async fn load_draft_legs(
    conn: &mut PgConnection,
    entry_id: Uuid,
) -> Result<Vec<(AccountKey, Decimal)>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT wallet_id, kind, currency, fund_pool, amount FROM postings
         WHERE entry_id = $1 ORDER BY idx",
        entry_id
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            let currency: Currency = r
                .currency
                .parse()
                .map_err(|e: String| sqlx::Error::Decode(e.into()))?;
            let key = AccountKey {
                wallet_id: r.wallet_id,
                kind: i32::from(r.kind),
                currency,
                fund_pool: i32::from(r.fund_pool),
            };
            Ok((key, r.amount))
        })
        .collect()
}
