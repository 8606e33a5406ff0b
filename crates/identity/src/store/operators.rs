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
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM operator_grants WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(conn)
            .await?;
    Ok(role.as_deref().and_then(Grant::parse))
}

/// A second factor as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
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
    sqlx::query_as(
        "SELECT sealed_secret, confirmed_at, last_step FROM operator_factors
          WHERE account_id = $1 FOR UPDATE",
    )
    .bind(account_id)
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
    sqlx::query(
        "INSERT INTO operator_factors (account_id, sealed_secret, enrolled_at)
         VALUES ($1, $2, $3)
         ON CONFLICT (account_id) DO UPDATE
            SET sealed_secret = EXCLUDED.sealed_secret, enrolled_at = EXCLUDED.enrolled_at,
                last_step = NULL
          WHERE operator_factors.confirmed_at IS NULL",
    )
    .bind(account_id)
    .bind(sealed_secret)
    .bind(now)
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
    sqlx::query(
        "UPDATE operator_factors
            SET last_step = $2, confirmed_at = COALESCE(confirmed_at, $3)
          WHERE account_id = $1",
    )
    .bind(account_id)
    .bind(step)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}
