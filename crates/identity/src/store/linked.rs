//! `linked_accounts`: marketplace bindings.

use chrono::{DateTime, Utc};
use kuajing_platform::page::Cursor;
use sqlx::PgConnection;
use uuid::Uuid;

/// A binding as stored.
#[derive(Clone, Debug)]
pub struct LinkedRow {
    pub linked_account_id: Uuid,
    pub account_id: Uuid,
    pub marketplace: String,
    pub external_member_id: String,
    pub external_account_type: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub verify_time: Option<DateTime<Utc>>,
    pub unbind_time: Option<DateTime<Utc>>,
    pub unbind_reason: String,
}

macro_rules! select_linked {
    ($tail:literal $(, $arg:expr)*) => {
        sqlx::query_as!(
            LinkedRow,
            "SELECT linked_account_id, account_id, marketplace, external_member_id, external_account_type,
                status, created_at, verify_time, unbind_time, unbind_reason
         FROM linked_accounts " + $tail
            $(, $arg)*
        )
    };
}

/// Inserts a binding unless the marketplace member id is currently bound (then `false`;
/// the partial unique index decides, also between concurrent binds).
pub async fn insert(conn: &mut PgConnection, l: &LinkedRow) -> sqlx::Result<bool> {
    let n = sqlx::query!("INSERT INTO linked_accounts (linked_account_id, account_id, marketplace, external_member_id,
             external_account_type, status, created_at, verify_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT DO NOTHING", l.linked_account_id, l.account_id, &l.marketplace, &l.external_member_id, l.external_account_type.as_deref(), &l.status, l.created_at, l.verify_time)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The current (not UNBOUND) binding of a marketplace member id.
pub async fn current(
    conn: &mut PgConnection,
    marketplace: &str,
    external_member_id: &str,
) -> sqlx::Result<Option<LinkedRow>> {
    select_linked!(
        "WHERE marketplace = $1 AND external_member_id = $2 AND status <> 'UNBOUND'",
        marketplace,
        external_member_id
    )
    .fetch_optional(conn)
    .await
}

/// One binding, locked when `lock`.
pub async fn get(conn: &mut PgConnection, id: Uuid, lock: bool) -> sqlx::Result<Option<LinkedRow>> {
    if lock {
        select_linked!("WHERE linked_account_id = $1 FOR UPDATE", id)
            .fetch_optional(conn)
            .await
    } else {
        select_linked!("WHERE linked_account_id = $1", id)
            .fetch_optional(conn)
            .await
    }
}

/// Unbinds.
pub async fn unbind(
    conn: &mut PgConnection,
    id: Uuid,
    reason: &str,
    by: Option<Uuid>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!("UPDATE linked_accounts SET status = 'UNBOUND', unbind_time = $2, unbind_reason = $3, unbound_by = $4
         WHERE linked_account_id = $1", id, now, reason, by)
    .execute(conn)
    .await?;
    Ok(())
}

/// Turns the account's BOUND_UNVERIFIED bindings BOUND_VERIFIED (its real name was
/// verified); returns their ids.
pub async fn verify_all(
    conn: &mut PgConnection,
    account_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "UPDATE linked_accounts SET status = 'BOUND_VERIFIED', verify_time = $2
         WHERE account_id = $1 AND status = 'BOUND_UNVERIFIED'
         RETURNING linked_account_id",
        account_id,
        now
    )
    .fetch_all(conn)
    .await
}

/// A page of an account's bindings, newest first; `status` None lists the bound ones.
pub async fn list(
    conn: &mut PgConnection,
    account_id: Uuid,
    status: Option<&str>,
    after: Option<Cursor>,
    limit: i64,
) -> sqlx::Result<Vec<LinkedRow>> {
    select_linked!(
        "WHERE account_id = $1
           AND CASE WHEN $2::text IS NULL THEN status <> 'UNBOUND' ELSE status = $2 END
           AND ($3::timestamptz IS NULL OR (created_at, linked_account_id) < ($3, $4))
         ORDER BY created_at DESC, linked_account_id DESC LIMIT $5",
        account_id,
        status,
        after.map(|c| c.time),
        after.map(|c| c.id),
        limit
    )
    .fetch_all(conn)
    .await
}
