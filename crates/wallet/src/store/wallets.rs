//! `wallets`, and each wallet's balances as the sum of its customer ledger accounts.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgExecutor;
use uuid::Uuid;

/// A wallet's balance in one currency and account kind (summed over fund pools); every
/// field `None` for a wallet without accounts.
pub struct KindBalance {
    pub currency: Option<String>,
    /// `kuajing.wallet.v1.LedgerAccountKind`.
    pub kind: Option<i16>,
    pub balance: Option<Decimal>,
}

/// A wallet with one of its balances (one row per currency and kind, at least one row: the
/// balance fields are `None` for a wallet without accounts).
pub struct WalletBalance {
    pub wallet_id: Uuid,
    pub owner_account_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub currency: Option<String>,
    /// `kuajing.wallet.v1.LedgerAccountKind`.
    pub kind: Option<i16>,
    pub balance: Option<Decimal>,
}

/// Whether the wallet exists.
pub async fn exists(db: impl PgExecutor<'_>, wallet_id: Uuid) -> sqlx::Result<bool> {
    let found = sqlx::query_scalar!(
        "SELECT wallet_id FROM wallets WHERE wallet_id = $1",
        wallet_id
    )
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}

/// The wallet's owner, the wallet row locked until the transaction ends.
pub async fn owner_for_update(
    db: impl PgExecutor<'_>,
    wallet_id: Uuid,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "SELECT owner_account_id FROM wallets WHERE wallet_id = $1 FOR UPDATE",
        wallet_id
    )
    .fetch_optional(db)
    .await
}

/// The wallet of an account.
pub async fn of_owner(db: impl PgExecutor<'_>, owner: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "SELECT wallet_id FROM wallets WHERE owner_account_id = $1",
        owner
    )
    .fetch_optional(db)
    .await
}

/// Opens the wallet of `owner` unless it has one (then `false`).
pub async fn insert(
    db: impl PgExecutor<'_>,
    wallet_id: Uuid,
    owner: Uuid,
    at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "INSERT INTO wallets (wallet_id, owner_account_id, created_at, updated_at)
         VALUES ($1, $2, $3, $3)
         ON CONFLICT (owner_account_id) DO NOTHING",
        wallet_id,
        owner,
        at
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The wallet's balances of the two customer kinds `kinds` (available, held).
pub async fn balances(
    db: impl PgExecutor<'_>,
    wallet_id: Uuid,
    kinds: (i16, i16),
) -> sqlx::Result<Vec<KindBalance>> {
    sqlx::query_as!(
        KindBalance,
        r#"SELECT currency AS "currency?", kind AS "kind?", sum(balance) AS "balance?"
           FROM ledger_accounts
           WHERE wallet_id = $1 AND kind IN ($2, $3) GROUP BY currency, kind"#,
        wallet_id,
        kinds.0,
        kinds.1
    )
    .fetch_all(db)
    .await
}

/// `query_as!` of a wallet and its balances of two kinds, in one statement (one snapshot),
/// the wallet looked up by `$column` (a literal, so each lookup is a prepared statement of
/// its own).
macro_rules! with_balances_by {
    ($column:literal, $id:expr, $kinds:expr) => {
        sqlx::query_as!(
            WalletBalance,
            r#"SELECT w.wallet_id, w.owner_account_id, w.created_at, w.updated_at,
                      b.currency AS "currency?", b.kind AS "kind?", b.balance AS "balance?"
               FROM wallets w
               LEFT JOIN LATERAL (
                   SELECT currency, kind, sum(balance) AS balance FROM ledger_accounts a
                   WHERE a.wallet_id = w.wallet_id AND a.kind IN ($2, $3) GROUP BY currency, kind
               ) b ON true
               WHERE "# + $column + " = $1",
            $id,
            $kinds.0,
            $kinds.1
        )
    };
}

/// A wallet by id and its balances of the kinds `kinds`.
pub async fn with_balances(
    db: impl PgExecutor<'_>,
    wallet_id: Uuid,
    kinds: (i16, i16),
) -> sqlx::Result<Vec<WalletBalance>> {
    with_balances_by!("w.wallet_id", wallet_id, kinds)
        .fetch_all(db)
        .await
}

/// The owner's wallet and its balances of the kinds `kinds`.
pub async fn with_balances_of_owner(
    db: impl PgExecutor<'_>,
    owner: Uuid,
    kinds: (i16, i16),
) -> sqlx::Result<Vec<WalletBalance>> {
    with_balances_by!("w.owner_account_id", owner, kinds)
        .fetch_all(db)
        .await
}
