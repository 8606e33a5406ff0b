//! `sessions` (refresh token families) and `refresh_tokens`.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// A session as stored.
#[derive(Clone, Debug)]
pub struct SessionRow {
    pub session_id: Uuid,
    pub account_id: Uuid,
    pub roles: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An issued refresh token (the token itself is derived, not stored).
#[derive(Clone, Debug)]
pub struct RefreshRow {
    pub token_id: Uuid,
    pub session_id: Uuid,
    pub generation: i32,
    pub issued_at: DateTime<Utc>,
    pub access_jti: Uuid,
    pub kid: String,
    pub used_at: Option<DateTime<Utc>>,
}

/// Inserts a session.
pub async fn insert_session(conn: &mut PgConnection, s: &SessionRow) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO sessions (session_id, account_id, roles, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
        s.session_id,
        s.account_id,
        &s.roles,
        s.created_at,
        s.expires_at
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts an issued refresh token.
pub async fn insert_refresh(conn: &mut PgConnection, r: &RefreshRow) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO refresh_tokens (token_id, session_id, generation, issued_at, access_jti, kid)
         VALUES ($1, $2, $3, $4, $5, $6)",
        r.token_id,
        r.session_id,
        r.generation,
        r.issued_at,
        r.access_jti,
        &r.kid
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A refresh token and its session; both locked when `lock` (rotation and revocation
/// decide on them).
pub async fn get_refresh(
    conn: &mut PgConnection,
    token_id: Uuid,
    lock: bool,
) -> sqlx::Result<Option<(RefreshRow, SessionRow)>> {
    let refresh = if lock {
        sqlx::query_as!(
            RefreshRow,
            "SELECT token_id, session_id, generation, issued_at, access_jti, kid, used_at
             FROM refresh_tokens WHERE token_id = $1 FOR UPDATE",
            token_id
        )
        .fetch_optional(&mut *conn)
        .await?
    } else {
        sqlx::query_as!(
            RefreshRow,
            "SELECT token_id, session_id, generation, issued_at, access_jti, kid, used_at
             FROM refresh_tokens WHERE token_id = $1",
            token_id
        )
        .fetch_optional(&mut *conn)
        .await?
    };
    let Some(refresh) = refresh else {
        return Ok(None);
    };
    let session = if lock {
        sqlx::query_as!(
            SessionRow,
            "SELECT session_id, account_id, roles, created_at, expires_at, revoked_at
             FROM sessions WHERE session_id = $1 FOR UPDATE",
            refresh.session_id
        )
        .fetch_one(conn)
        .await?
    } else {
        sqlx::query_as!(
            SessionRow,
            "SELECT session_id, account_id, roles, created_at, expires_at, revoked_at
             FROM sessions WHERE session_id = $1",
            refresh.session_id
        )
        .fetch_one(conn)
        .await?
    };
    Ok(Some((refresh, session)))
}

/// Marks a refresh token used (rotated).
pub async fn mark_used(
    conn: &mut PgConnection,
    token_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE refresh_tokens SET used_at = $2 WHERE token_id = $1",
        token_id,
        now
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes the given sessions that are still active at `now`; returns those revoked.
pub async fn revoke(
    conn: &mut PgConnection,
    session_ids: &[Uuid],
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "UPDATE sessions SET revoked_at = $3, revoke_reason = $2
         WHERE session_id = ANY($1) AND revoked_at IS NULL AND expires_at > $3
         RETURNING session_id",
        session_ids,
        reason,
        now
    )
    .fetch_all(conn)
    .await
}

/// Revokes every session of an account still active at `now`; returns those revoked.
pub async fn revoke_all(
    conn: &mut PgConnection,
    account_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "UPDATE sessions SET revoked_at = $3, revoke_reason = $2
         WHERE account_id = $1 AND revoked_at IS NULL AND expires_at > $3
         RETURNING session_id",
        account_id,
        reason,
        now
    )
    .fetch_all(conn)
    .await
}

/// Sessions revoked at or after `since` (after `(since, after)` when `after` is given),
/// oldest first by (revoked_at, session_id), at most `limit`.
pub async fn revoked_since(
    conn: &mut PgConnection,
    since: DateTime<Utc>,
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<(Uuid, DateTime<Utc>)>> {
    let rows = sqlx::query!(
        r#"SELECT session_id, revoked_at AS "revoked_at!" FROM sessions
         WHERE revoked_at >= $1
           AND ($2::uuid IS NULL OR (revoked_at, session_id) > ($1, $2::uuid))
         ORDER BY revoked_at, session_id LIMIT $3"#,
        since,
        after,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.session_id, r.revoked_at))
        .collect())
}
