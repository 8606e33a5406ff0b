//! Secrets a service generates on first start and keeps in its own schema's
//! `service_secrets` table, for local use only (`kuajing up`, tests): a production binary
//! is given its secrets by the environment and refuses to start without them, because a
//! secret kept beside the data it protects is revealed by a dump of that data.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// The secret called `name`, creating it from `generate` when missing. Safe when several
/// replicas start at once: the first insert wins and everyone reads it back.
pub async fn get_or_create(
    pool: &PgPool,
    name: &str,
    generate: impl FnOnce() -> anyhow::Result<Vec<u8>>,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = get(pool, name).await? {
        return Ok(secret);
    }
    sqlx::query(
        "INSERT INTO service_secrets (name, secret, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(generate()?)
    .bind(now)
    .execute(pool)
    .await?;
    get(pool, name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("secret {name} vanished after insert"))
}

async fn get(pool: &PgPool, name: &str) -> anyhow::Result<Option<Vec<u8>>> {
    Ok(
        sqlx::query_scalar("SELECT secret FROM service_secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?,
    )
}
