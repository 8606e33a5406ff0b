//! `holds`: money held on a wallet until it is captured, released or expires.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgExecutor;
use uuid::Uuid;

/// A hold as stored.
pub struct HoldRow {
    pub hold_id: Uuid,
    pub wallet_id: Uuid,
    /// `kuajing.wallet.v1.HoldPurpose`.
    pub purpose: i16,
    pub currency: String,
    pub amount: Decimal,
    /// `kuajing.wallet.v1.FundPool`.
    pub fund_pool: i16,
    /// `kuajing.wallet.v1.HoldState`.
    pub state: i16,
    pub order_id: String,
    pub description: String,
    pub expire_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub payee_wallet_id: Option<Uuid>,
    pub captured_amount: Option<Decimal>,
    pub released_amount: Option<Decimal>,
    pub fee_legs: serde_json::Value,
    pub create_entry_id: Uuid,
    pub end_entry_id: Option<Uuid>,
}

/// A hold to open.
pub struct NewHold<'a> {
    pub hold_id: Uuid,
    pub wallet_id: Uuid,
    pub purpose: i16,
    pub currency: &'a str,
    pub amount: Decimal,
    pub fund_pool: i16,
    pub state: i16,
    pub order_id: &'a str,
    pub description: &'a str,
    pub expire_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub create_entry_id: Uuid,
}

/// How a hold ends by capture.
pub struct Capture {
    pub state: i16,
    pub at: DateTime<Utc>,
    pub payee_wallet_id: Uuid,
    pub captured: Decimal,
    pub released: Decimal,
    pub fee_legs: serde_json::Value,
    pub entry_id: Uuid,
}

/// `query_as!` of [`HoldRow`]: `$head`, the row's columns, then `$tail`
/// (which, or what the statement does first).
macro_rules! holds {
    ($head:literal, $tail:literal $(, $arg:expr)*) => {
        sqlx::query_as!(
            HoldRow,
            $head
                + " hold_id, wallet_id, purpose, currency, amount, fund_pool, state, order_id,
                 description, expire_at, created_at, ended_at, payee_wallet_id,
                 captured_amount, released_amount, fee_legs, create_entry_id, end_entry_id "
                + $tail
            $(, $arg)*
        )
    };
}

/// Opens a hold; answers it as stored (no read back).
pub async fn insert(db: impl PgExecutor<'_>, h: &NewHold<'_>) -> sqlx::Result<HoldRow> {
    holds!(
        "INSERT INTO holds (hold_id, wallet_id, purpose, currency, amount, fund_pool, state,
             order_id, description, expire_at, created_at, create_entry_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING",
        "",
        h.hold_id,
        h.wallet_id,
        h.purpose,
        h.currency,
        h.amount,
        h.fund_pool,
        h.state,
        h.order_id,
        h.description,
        h.expire_at,
        h.created_at,
        h.create_entry_id
    )
    .fetch_one(db)
    .await
}

/// One hold.
pub async fn get(db: impl PgExecutor<'_>, hold_id: Uuid) -> sqlx::Result<Option<HoldRow>> {
    holds!("SELECT", "FROM holds WHERE hold_id = $1", hold_id)
        .fetch_optional(db)
        .await
}

/// One hold, locked until the transaction ends.
pub async fn get_for_update(
    db: impl PgExecutor<'_>,
    hold_id: Uuid,
) -> sqlx::Result<Option<HoldRow>> {
    holds!(
        "SELECT",
        "FROM holds WHERE hold_id = $1 FOR UPDATE",
        hold_id
    )
    .fetch_optional(db)
    .await
}

/// Holds newest first (of a wallet, of an order, in some states; `None`, "" and empty are
/// "any"), after the cursor (`created_at`, `hold_id`), at most `limit`.
pub async fn list(
    db: impl PgExecutor<'_>,
    (wallet_id, order_id, states): (Option<Uuid>, &str, &[i16]),
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<HoldRow>> {
    holds!(
        "SELECT",
        "FROM holds
             WHERE ($1::uuid IS NULL OR wallet_id = $1) AND ($2 = '' OR order_id = $2)
             AND (cardinality($3::int2[]) = 0 OR state = ANY($3))
             AND ($4::timestamptz IS NULL OR (created_at, hold_id) < ($4, $5))
             ORDER BY created_at DESC, hold_id DESC LIMIT $6",
        wallet_id,
        order_id,
        states,
        after.map(|a| a.0),
        after.map(|a| a.1),
        limit
    )
    .fetch_all(db)
    .await
}

/// Ends a hold by capture.
pub async fn capture(db: impl PgExecutor<'_>, hold_id: Uuid, c: &Capture) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE holds SET state = $2, ended_at = $3, payee_wallet_id = $4, captured_amount = $5,
             released_amount = $6, fee_legs = $7, end_entry_id = $8
         WHERE hold_id = $1",
        hold_id,
        c.state,
        c.at,
        c.payee_wallet_id,
        c.captured,
        c.released,
        c.fee_legs,
        c.entry_id
    )
    .execute(db)
    .await
    .map(drop)
}

/// Ends a hold by giving all of it back (released or expired: `state`).
pub async fn release(
    db: impl PgExecutor<'_>,
    hold_id: Uuid,
    state: i16,
    at: DateTime<Utc>,
    entry_id: Uuid,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE holds SET state = $2, ended_at = $3, released_amount = amount, end_entry_id = $4
         WHERE hold_id = $1",
        hold_id,
        state,
        at,
        entry_id
    )
    .execute(db)
    .await
    .map(drop)
}

/// Up to 500 holds in state `open` whose expiry is not after `now`, soonest first.
pub async fn expiring(
    db: impl PgExecutor<'_>,
    open: i16,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT hold_id FROM holds
         WHERE state = $1 AND expire_at IS NOT NULL AND expire_at <= $2
         ORDER BY expire_at LIMIT 500",
        open,
        now
    )
    .fetch_all(db)
    .await
}

/// A hold's state, its row locked unless another transaction holds it (then `None`).
pub async fn state_unless_locked(
    db: impl PgExecutor<'_>,
    hold_id: Uuid,
) -> sqlx::Result<Option<i16>> {
    sqlx::query_scalar!(
        "SELECT state FROM holds WHERE hold_id = $1 FOR UPDATE SKIP LOCKED",
        hold_id
    )
    .fetch_optional(db)
    .await
}
