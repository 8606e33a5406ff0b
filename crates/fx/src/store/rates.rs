//! The `rates` table (one mid rate per direct pair) and its audit trail, `rate_changes`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

/// A direct rate as stored.
pub struct RateRow {
    pub base_currency: String,
    pub quote_currency: String,
    pub mid_rate: Decimal,
    pub set_at: DateTime<Utc>,
    /// `kuajing.fx.v1.RateSource`.
    pub source: i16,
}

/// One audited change of a rate.
pub struct RateChangeRow {
    pub rate_change_id: Uuid,
    pub base_currency: String,
    pub quote_currency: String,
    pub previous_mid_rate: Option<Decimal>,
    pub mid_rate: Decimal,
    /// `kuajing.fx.v1.RateSource`.
    pub source: i16,
    pub actor_account_id: String,
    pub reason: String,
    pub request_id: Option<Uuid>,
    pub changed_at: DateTime<Utc>,
}

/// Every direct rate; with `touching`, only the pairs that have that currency on either
/// side. By base, then quote currency.
pub async fn all(conn: &mut PgConnection, touching: Option<&str>) -> sqlx::Result<Vec<RateRow>> {
    sqlx::query_as!(
        RateRow,
        "SELECT base_currency, quote_currency, mid_rate, set_at, source FROM rates
         WHERE $1::text IS NULL OR base_currency = $1 OR quote_currency = $1
         ORDER BY base_currency, quote_currency",
        touching
    )
    .fetch_all(conn)
    .await
}

/// One direct pair's mid rate and source, locked until the transaction ends.
pub async fn one_for_update(
    conn: &mut PgConnection,
    base: &str,
    quote: &str,
) -> sqlx::Result<Option<(Decimal, i16)>> {
    let row = sqlx::query!(
        "SELECT mid_rate, source FROM rates
         WHERE base_currency = $1 AND quote_currency = $2 FOR UPDATE",
        base,
        quote
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.mid_rate, r.source)))
}

/// One direct pair's source, if the pair is stored.
pub async fn source(conn: &mut PgConnection, base: &str, quote: &str) -> sqlx::Result<Option<i16>> {
    sqlx::query_scalar!(
        "SELECT source FROM rates WHERE base_currency = $1 AND quote_currency = $2",
        base,
        quote
    )
    .fetch_optional(conn)
    .await
}

/// Sets a pair's mid rate (inserting the pair when new).
pub async fn upsert(
    conn: &mut PgConnection,
    base: &str,
    quote: &str,
    mid: Decimal,
    at: DateTime<Utc>,
    source: i16,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO rates (base_currency, quote_currency, mid_rate, set_at, source)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (base_currency, quote_currency) DO UPDATE
             SET mid_rate = EXCLUDED.mid_rate, set_at = EXCLUDED.set_at, source = EXCLUDED.source",
        base,
        quote,
        mid,
        at,
        source
    )
    .execute(conn)
    .await
    .map(drop)
}

/// Marks a pair's unchanged rate as set again at `at`.
pub async fn touch(
    conn: &mut PgConnection,
    base: &str,
    quote: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE rates SET set_at = $3 WHERE base_currency = $1 AND quote_currency = $2",
        base,
        quote,
        at
    )
    .execute(conn)
    .await
    .map(drop)
}

/// Records a change in the audit trail.
pub async fn record_change(conn: &mut PgConnection, change: &RateChangeRow) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO rate_changes (rate_change_id, base_currency, quote_currency, previous_mid_rate,
             mid_rate, source, actor_account_id, reason, request_id, changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        change.rate_change_id,
        change.base_currency,
        change.quote_currency,
        change.previous_mid_rate,
        change.mid_rate,
        change.source,
        change.actor_account_id,
        change.reason,
        change.request_id,
        change.changed_at
    )
    .execute(conn)
    .await
    .map(drop)
}

/// Filters of the audit trail; `None` is "any".
pub struct ChangeFilter<'a> {
    pub base: Option<&'a str>,
    pub quote: Option<&'a str>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Changes newest first, after the cursor (`changed_at`, `rate_change_id`), at most `limit`.
pub async fn changes(
    conn: &mut PgConnection,
    filter: &ChangeFilter<'_>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<RateChangeRow>> {
    sqlx::query_as!(
        RateChangeRow,
        "SELECT rate_change_id, base_currency, quote_currency, previous_mid_rate, mid_rate, source,
                actor_account_id, reason, request_id, changed_at
         FROM rate_changes
         WHERE ($1::text IS NULL OR base_currency = $1) AND ($2::text IS NULL OR quote_currency = $2)
           AND ($3::timestamptz IS NULL OR changed_at >= $3) AND ($4::timestamptz IS NULL OR changed_at < $4)
           AND ($5::timestamptz IS NULL OR (changed_at, rate_change_id) < ($5, $6))
         ORDER BY changed_at DESC, rate_change_id DESC LIMIT $7",
        filter.base,
        filter.quote,
        filter.from,
        filter.to,
        after.map(|a| a.0),
        after.map(|a| a.1),
        limit
    )
    .fetch_all(conn)
    .await
}
