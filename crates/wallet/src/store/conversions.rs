//! `conversions`: one per fx quote, so a quote moves money once.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// Claims the quote for a conversion (its entry not yet posted); `false` when the quote
/// was converted already.
pub async fn claim(
    db: impl PgExecutor<'_>,
    quote_id: &str,
    wallet_id: Uuid,
    request_id: Uuid,
    at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "INSERT INTO conversions (quote_id, wallet_id, request_id, entry_id, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (quote_id) DO NOTHING",
        quote_id,
        wallet_id,
        request_id,
        Uuid::nil(),
        at
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the entry that posted the quote's conversion.
pub async fn set_entry(
    db: impl PgExecutor<'_>,
    quote_id: &str,
    entry_id: Uuid,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE conversions SET entry_id = $2 WHERE quote_id = $1",
        quote_id,
        entry_id
    )
    .execute(db)
    .await
    .map(drop)
}
