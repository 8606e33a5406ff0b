//! `signing_keys`: the Ed25519 keys of access tokens.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// A key as stored.
#[derive(Clone, Debug)]
pub struct KeyRow {
    pub key_id: Uuid,
    pub kid: String,
    pub public_key: Vec<u8>,
    pub seed: Option<Vec<u8>>,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
}

macro_rules! select_key {
    ($tail:literal $(, $arg:expr)*) => {
        sqlx::query_as!(
            KeyRow,
            "SELECT key_id, kid, public_key, seed, state, created_at, activated_at, retired_at, not_after
         FROM signing_keys " + $tail
            $(, $arg)*
        )
    };
}

/// Serialises key changes across replicas for the rest of the transaction.
pub async fn lock(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtext('kuajing.identity.signing_keys'))")
        .execute(conn)
        .await?;
    Ok(())
}

/// Every key.
pub async fn all(conn: &mut PgConnection) -> sqlx::Result<Vec<KeyRow>> {
    select_key!("ORDER BY created_at DESC, key_id DESC")
        .fetch_all(conn)
        .await
}

/// The key with this kid.
pub async fn by_kid(conn: &mut PgConnection, kid: &str) -> sqlx::Result<Option<KeyRow>> {
    select_key!("WHERE kid = $1", kid)
        .fetch_optional(conn)
        .await
}

/// Published keys at `now` (signing, next, and retired ones before their not_after),
/// newest first, after the cursor when given.
pub async fn published(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<KeyRow>> {
    select_key!(
        "WHERE (state <> 'RETIRED' OR not_after > $1)
           AND ($2::timestamptz IS NULL OR (created_at, key_id) < ($2, $3))
         ORDER BY created_at DESC, key_id DESC LIMIT $4",
        now,
        after.map(|a| a.0),
        after.map(|a| a.1),
        limit
    )
    .fetch_all(conn)
    .await
}

/// Inserts a key.
pub async fn insert(conn: &mut PgConnection, k: &KeyRow) -> sqlx::Result<()> {
    sqlx::query!("INSERT INTO signing_keys (key_id, kid, public_key, seed, state, created_at, activated_at, retired_at, not_after)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", k.key_id, &k.kid, &k.public_key, k.seed.as_deref(), &k.state, k.created_at, k.activated_at, k.retired_at, k.not_after)
    .execute(conn)
    .await?;
    Ok(())
}

/// Retires the signing key (if any): published until `not_after`.
pub async fn retire_signing(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    not_after: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!("UPDATE signing_keys SET state = 'RETIRED', retired_at = $1, not_after = $2 WHERE state = 'SIGNING'", now, not_after)
    .execute(conn)
    .await?;
    Ok(())
}

/// Makes the key `kid` the signing key.
pub async fn activate(conn: &mut PgConnection, kid: &str, now: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query!("UPDATE signing_keys SET state = 'SIGNING', activated_at = $2, retired_at = NULL, not_after = NULL
         WHERE kid = $1", kid, now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Withdraws waiting next keys, all but `keep` when given (a configured key replaces
/// generated rotation; a configured next key stays published).
pub async fn withdraw_next(
    conn: &mut PgConnection,
    keep: Option<&str>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE signing_keys SET state = 'RETIRED', retired_at = $1, not_after = $1
         WHERE state = 'NEXT' AND kid IS DISTINCT FROM $2",
        now,
        keep
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Publishes the retired key `kid` again as the next key (a configured next key that was
/// withdrawn, then configured again).
pub async fn publish_next(conn: &mut PgConnection, kid: &str) -> sqlx::Result<()> {
    sqlx::query!("UPDATE signing_keys SET state = 'NEXT', retired_at = NULL, not_after = NULL WHERE kid = $1", kid)
    .execute(conn)
    .await?;
    Ok(())
}
