//! The `conversions` table: one executed conversion per quote, with its wallet entry.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

/// A conversion to write.
pub struct NewConversion {
    pub conversion_id: Uuid,
    pub quote_id: Uuid,
    pub wallet_id: Uuid,
    pub sell_amount: Decimal,
    pub buy_amount: Decimal,
    pub fee: Decimal,
    pub applied_rate: Decimal,
    pub entry_id: Uuid,
    pub request_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// A conversion as read, with its quote's currencies.
pub struct ConversionRow {
    pub conversion_id: Uuid,
    pub quote_id: Uuid,
    pub wallet_id: Uuid,
    pub sell_amount: Decimal,
    pub buy_amount: Decimal,
    pub fee: Decimal,
    pub applied_rate: Decimal,
    pub entry_id: Uuid,
    pub request_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub sell_currency: String,
    pub buy_currency: String,
}

/// Writes a conversion.
pub async fn insert(conn: &mut PgConnection, c: &NewConversion) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO conversions (conversion_id, quote_id, wallet_id, sell_amount, buy_amount, fee,
             applied_rate, entry_id, request_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        c.conversion_id,
        c.quote_id,
        c.wallet_id,
        c.sell_amount,
        c.buy_amount,
        c.fee,
        c.applied_rate,
        c.entry_id,
        c.request_id,
        c.created_at
    )
    .execute(conn)
    .await
    .map(drop)
}

/// The conversion that executed a quote, if any.
pub async fn id_of_quote(conn: &mut PgConnection, quote_id: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "SELECT conversion_id FROM conversions WHERE quote_id = $1",
        quote_id
    )
    .fetch_optional(conn)
    .await
}

/// One conversion.
pub async fn get(
    conn: &mut PgConnection,
    conversion_id: Uuid,
) -> sqlx::Result<Option<ConversionRow>> {
    sqlx::query_as!(
        ConversionRow,
        "SELECT c.conversion_id, c.quote_id, c.wallet_id, c.sell_amount, c.buy_amount, c.fee,
                c.applied_rate, c.entry_id, c.request_id, c.created_at, q.sell_currency,
                q.buy_currency
         FROM conversions c JOIN quotes q USING (quote_id)
         WHERE c.conversion_id = $1",
        conversion_id
    )
    .fetch_optional(conn)
    .await
}

/// The wallet a conversion moved money in.
pub async fn wallet_of(conn: &mut PgConnection, conversion_id: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "SELECT wallet_id FROM conversions WHERE conversion_id = $1",
        conversion_id
    )
    .fetch_optional(conn)
    .await
}

/// A wallet's conversions newest first, created in [`from`, `to`), after the cursor
/// (`created_at`, `conversion_id`), at most `limit`.
pub async fn of_wallet(
    conn: &mut PgConnection,
    wallet_id: Uuid,
    range: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<ConversionRow>> {
    sqlx::query_as!(
        ConversionRow,
        "SELECT c.conversion_id, c.quote_id, c.wallet_id, c.sell_amount, c.buy_amount, c.fee,
                c.applied_rate, c.entry_id, c.request_id, c.created_at, q.sell_currency,
                q.buy_currency
         FROM conversions c JOIN quotes q USING (quote_id)
         WHERE c.wallet_id = $1 AND ($2::timestamptz IS NULL OR c.created_at >= $2)
           AND ($3::timestamptz IS NULL OR c.created_at < $3)
           AND ($4::timestamptz IS NULL OR (c.created_at, c.conversion_id) < ($4, $5))
         ORDER BY c.created_at DESC, c.conversion_id DESC LIMIT $6",
        wallet_id,
        range.0,
        range.1,
        after.map(|a| a.0),
        after.map(|a| a.1),
        limit
    )
    .fetch_all(conn)
    .await
}
