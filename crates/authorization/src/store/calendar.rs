//! The limit day: dates in the configured zone, as Postgres's time zone database knows them.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgExecutor;

/// Whether Postgres knows the time zone `zone`.
pub async fn zone_known(db: impl PgExecutor<'_>, zone: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1) AS "known!""#,
        zone
    )
    .fetch_one(db)
    .await
}

/// The date of `at` in `zone`.
pub async fn date_of(
    db: impl PgExecutor<'_>,
    at: DateTime<Utc>,
    zone: &str,
) -> sqlx::Result<NaiveDate> {
    sqlx::query_scalar!(
        r#"SELECT ($1::timestamptz AT TIME ZONE $2)::date AS "day!""#,
        at,
        zone
    )
    .fetch_one(db)
    .await
}

/// The date of `at` in `zone`, with the instants it starts and ends.
pub async fn day_of(
    db: impl PgExecutor<'_>,
    at: DateTime<Utc>,
    zone: &str,
) -> sqlx::Result<(NaiveDate, DateTime<Utc>, DateTime<Utc>)> {
    let r = sqlx::query!(
        r#"WITH d AS (SELECT ($1::timestamptz AT TIME ZONE $2)::date AS day)
           SELECT day AS "day!", (day::timestamp AT TIME ZONE $2) AS "start!",
                  ((day + 1)::timestamp AT TIME ZONE $2) AS "end!"
           FROM d"#,
        at,
        zone
    )
    .fetch_one(db)
    .await?;
    Ok((r.day, r.start, r.end))
}
