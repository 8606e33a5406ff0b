//! Operators' and auditors' grants and second factors (`operator_grants`,
//! `operator_factors`).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// What a grant lets its person do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// Operator work: the RPCs whose contracts name operators.
    Operator,
    /// Reading the operator audit log, nothing else.
    Auditor,
}

impl Grant {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::Operator => "OPERATOR",
            Grant::Auditor => "AUDITOR",
        }
    }

    /// The caller name its tokens carry (`kuajing_platform::auth`).
    pub fn caller(self) -> &'static str {
        match self {
            Grant::Operator => kuajing_platform::auth::OPERATOR,
            Grant::Auditor => kuajing_platform::auth::AUDITOR,
        }
    }

    fn parse(s: &str) -> Option<Grant> {
        match s {
            "OPERATOR" => Some(Grant::Operator),
            "AUDITOR" => Some(Grant::Auditor),
            _ => None,
        }
    }
}

/// The account's grant, if any.
pub async fn grant_of(conn: &mut PgConnection, account_id: Uuid) -> sqlx::Result<Option<Grant>> {
    let role: Option<String> = sqlx::query_scalar!(
        "SELECT role FROM operator_grants WHERE account_id = $1",
        account_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(role.as_deref().and_then(Grant::parse))
}

/// A second factor as stored.
#[derive(Clone, Debug)]
pub struct Factor {
    pub sealed_secret: Vec<u8>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub last_step: Option<i64>,
}

/// The account's factor, locked for the transaction.
pub async fn factor_for_update(
    conn: &mut PgConnection,
    account_id: Uuid,
) -> sqlx::Result<Option<Factor>> {
    sqlx::query_as!(
        Factor,
        "SELECT sealed_secret, confirmed_at, last_step FROM operator_factors
          WHERE account_id = $1 FOR UPDATE",
        account_id
    )
    .fetch_optional(conn)
    .await
}

/// Puts a new, unconfirmed secret in place of any unconfirmed one.
pub async fn enroll(
    conn: &mut PgConnection,
    account_id: Uuid,
    sealed_secret: &[u8],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO operator_factors (account_id, sealed_secret, enrolled_at)
         VALUES ($1, $2, $3)
         ON CONFLICT (account_id) DO UPDATE
            SET sealed_secret = EXCLUDED.sealed_secret, enrolled_at = EXCLUDED.enrolled_at,
                last_step = NULL
          WHERE operator_factors.confirmed_at IS NULL",
        account_id,
        sealed_secret,
        now
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Records a code accepted for `step` (confirming the factor on its first use).
pub async fn accept(
    conn: &mut PgConnection,
    account_id: Uuid,
    step: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE operator_factors
            SET last_step = $2, confirmed_at = COALESCE(confirmed_at, $3)
          WHERE account_id = $1",
        account_id,
        step,
        now
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Records an operator's or auditor's sign-in under `grant` as a session until `expires_at`.
pub async fn start_sign_in(
    conn: &mut PgConnection,
    session_id: Uuid,
    account_id: Uuid,
    grant: Grant,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO sessions (session_id, account_id, roles, created_at, expires_at, signed_in_as)
         VALUES ($1, $2, ARRAY[$3], $4, $5, $6)",
        session_id,
        account_id,
        grant.caller(),
        now,
        expires_at,
        grant.as_str()
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Ends `account_id`'s sign-ins still active at `now` (only `session_id` when given);
/// returns those ended.
pub async fn end_sign_ins(
    conn: &mut PgConnection,
    account_id: Uuid,
    session_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "UPDATE sessions SET revoked_at = $3, revoke_reason = 'LOGOUT'
          WHERE account_id = $1 AND signed_in_as IS NOT NULL
            AND ($2::uuid IS NULL OR session_id = $2)
            AND revoked_at IS NULL AND expires_at > $3
         RETURNING session_id",
        account_id,
        session_id,
        now
    )
    .fetch_all(conn)
    .await
}

/// Ends every sign-in whose grant is gone or changed (GRANT_REMOVED); returns those ended
/// with their accounts.
pub async fn end_sign_ins_without_grant(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<(Uuid, Uuid)>> {
    let ended = sqlx::query!(
        "UPDATE sessions s SET revoked_at = $1, revoke_reason = 'GRANT_REMOVED'
          WHERE s.signed_in_as IS NOT NULL AND s.revoked_at IS NULL AND s.expires_at > $1
            AND NOT EXISTS (SELECT 1 FROM operator_grants g
                             WHERE g.account_id = s.account_id AND g.role = s.signed_in_as)
         RETURNING s.session_id, s.account_id",
        now
    )
    .fetch_all(conn)
    .await?;
    Ok(ended
        .into_iter()
        .map(|r| (r.session_id, r.account_id))
        .collect())
}
