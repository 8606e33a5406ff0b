//! `wallet_limit_days`: what each paying wallet's day holds against the daily limit,
//! reserved (decided, not yet paid) and confirmed (paid).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgExecutor;
use uuid::Uuid;

/// The day's (reserved, confirmed) USD amounts, if the day has a row.
pub async fn use_of(
    db: impl PgExecutor<'_>,
    wallet_id: Uuid,
    day: NaiveDate,
) -> sqlx::Result<Option<(Decimal, Decimal)>> {
    let r = sqlx::query!(
        "SELECT reserved_usd, confirmed_usd FROM wallet_limit_days
         WHERE wallet_id = $1 AND limit_date = $2",
        wallet_id,
        day
    )
    .fetch_optional(db)
    .await?;
    Ok(r.map(|r| (r.reserved_usd, r.confirmed_usd)))
}

/// Adds `usd` to the day's reserved amount unless the day would then hold more than
/// `per_day`: one conditional upsert, so concurrent reservations serialise on the row. The
/// new reserved amount, or `None` when refused.
pub async fn reserve(
    db: impl PgExecutor<'_>,
    wallet_id: Uuid,
    day: NaiveDate,
    usd: Decimal,
    per_day: Decimal,
) -> sqlx::Result<Option<Decimal>> {
    sqlx::query_scalar!(
        "INSERT INTO wallet_limit_days AS d (wallet_id, limit_date, reserved_usd)
         VALUES ($1, $2, $3)
         ON CONFLICT (wallet_id, limit_date) DO UPDATE
             SET reserved_usd = d.reserved_usd + EXCLUDED.reserved_usd
             WHERE d.reserved_usd + d.confirmed_usd + EXCLUDED.reserved_usd <= $4
         RETURNING d.reserved_usd",
        wallet_id,
        day,
        usd,
        per_day
    )
    .fetch_optional(db)
    .await
}

/// Moves `usd` from reserved to confirmed on the day of the mandate's wallet; the number of
/// rows changed (1 when the day exists).
pub async fn confirm(
    db: impl PgExecutor<'_>,
    mandate_id: Uuid,
    day: NaiveDate,
    usd: Decimal,
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "UPDATE wallet_limit_days SET reserved_usd = reserved_usd - $3, confirmed_usd = confirmed_usd + $3
         WHERE wallet_id = (SELECT wallet_id FROM mandates WHERE mandate_id = $1)
           AND limit_date = $2",
        mandate_id,
        day,
        usd
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Gives `usd` back to the day of the mandate's wallet; the number of rows changed.
pub async fn release(
    db: impl PgExecutor<'_>,
    mandate_id: Uuid,
    day: NaiveDate,
    usd: Decimal,
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "UPDATE wallet_limit_days SET reserved_usd = reserved_usd - $3
         WHERE wallet_id = (SELECT wallet_id FROM mandates WHERE mandate_id = $1)
           AND limit_date = $2",
        mandate_id,
        day,
        usd
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
