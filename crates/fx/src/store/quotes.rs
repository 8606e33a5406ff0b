//! The `quotes` table: priced quotes, their state and the one request that may execute each.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

/// A quote as stored (a new one is written from the same shape).
pub struct QuoteRow {
    pub quote_id: Uuid,
    pub wallet_id: Uuid,
    pub sell_currency: String,
    pub buy_currency: String,
    /// `kuajing.fx.v1.FixedSide`.
    pub fixed_side: i16,
    pub sell_amount: Decimal,
    pub buy_amount: Decimal,
    pub fee: Decimal,
    pub mid_rate: Decimal,
    pub spread_bps: i32,
    pub applied_rate: Decimal,
    pub rate_set_at: DateTime<Utc>,
    /// `kuajing.fx.v1.RateDerivation`.
    pub derivation: i16,
    pub cross_currency: String,
    /// `kuajing.fx.v1.QuoteState` (EXPIRED is derived on read, never stored).
    pub state: i16,
    pub executing_request_id: Option<Uuid>,
    pub conversion_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expire_at: DateTime<Utc>,
}

/// `query_as!` of [`QuoteRow`]: `$head`, the row's columns, then `$tail`
/// (which, or what the statement does first).
macro_rules! quotes {
    ($head:literal, $tail:literal $(, $arg:expr)*) => {
        sqlx::query_as!(
            QuoteRow,
            $head
                + " quote_id, wallet_id, sell_currency, buy_currency, fixed_side, sell_amount,
                 buy_amount, fee, mid_rate, spread_bps, applied_rate, rate_set_at, derivation,
                 cross_currency, state, executing_request_id, conversion_id, created_at,
                 expire_at "
                + $tail
            $(, $arg)*
        )
    };
}

/// Writes a new quote.
pub async fn insert(conn: &mut PgConnection, q: &QuoteRow) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO quotes (quote_id, wallet_id, sell_currency, buy_currency, fixed_side,
             sell_amount, buy_amount, fee, mid_rate, spread_bps, applied_rate, rate_set_at,
             derivation, cross_currency, state, executing_request_id, conversion_id, created_at,
             expire_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        q.quote_id,
        q.wallet_id,
        q.sell_currency,
        q.buy_currency,
        q.fixed_side,
        q.sell_amount,
        q.buy_amount,
        q.fee,
        q.mid_rate,
        q.spread_bps,
        q.applied_rate,
        q.rate_set_at,
        q.derivation,
        q.cross_currency,
        q.state,
        q.executing_request_id,
        q.conversion_id,
        q.created_at,
        q.expire_at
    )
    .execute(conn)
    .await
    .map(drop)
}

/// One quote.
pub async fn get(conn: &mut PgConnection, quote_id: Uuid) -> sqlx::Result<Option<QuoteRow>> {
    quotes!("SELECT", "FROM quotes WHERE quote_id = $1", quote_id)
        .fetch_optional(conn)
        .await
}

/// One quote, locked until the transaction ends (the claim of who executes it).
pub async fn get_for_update(
    conn: &mut PgConnection,
    quote_id: Uuid,
) -> sqlx::Result<Option<QuoteRow>> {
    quotes!(
        "SELECT",
        "FROM quotes WHERE quote_id = $1 FOR UPDATE",
        quote_id
    )
    .fetch_optional(conn)
    .await
}

/// The wallet a quote was made for.
pub async fn wallet_of(conn: &mut PgConnection, quote_id: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!("SELECT wallet_id FROM quotes WHERE quote_id = $1", quote_id)
        .fetch_optional(conn)
        .await
}

/// Records the request allowed to execute the quote.
pub async fn claim(conn: &mut PgConnection, quote_id: Uuid, request_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE quotes SET executing_request_id = $2 WHERE quote_id = $1",
        quote_id,
        request_id
    )
    .execute(conn)
    .await
    .map(drop)
}

/// Gives the quote back, if `request_id` still holds it.
pub async fn release(
    conn: &mut PgConnection,
    quote_id: Uuid,
    request_id: Uuid,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE quotes SET executing_request_id = NULL
         WHERE quote_id = $1 AND executing_request_id = $2",
        quote_id,
        request_id
    )
    .execute(conn)
    .await
    .map(drop)
}

/// Marks the quote executed by its conversion.
pub async fn mark_executed(
    conn: &mut PgConnection,
    quote_id: Uuid,
    state: i16,
    conversion_id: Uuid,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE quotes SET state = $2, conversion_id = $3 WHERE quote_id = $1",
        quote_id,
        state,
        conversion_id
    )
    .execute(conn)
    .await
    .map(drop)
}
