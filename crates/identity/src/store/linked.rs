//! `linked_accounts`: marketplace bindings.

use chrono::{DateTime, Utc};
use kuajing_platform::page::Cursor;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

/// A binding as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
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
    () => {
        "SELECT linked_account_id, account_id, marketplace, external_member_id, external_account_type,
                status, created_at, verify_time, unbind_time, unbind_reason
         FROM linked_accounts "
    };
}

/// Inserts a binding unless the marketplace member id is currently bound (then `false`;
/// the partial unique index decides, also between concurrent binds).
pub async fn insert(conn: &mut PgConnection, l: &LinkedRow) -> sqlx::Result<bool> {
    let n = sqlx::query(
        "INSERT INTO linked_accounts (linked_account_id, account_id, marketplace, external_member_id,
             external_account_type, status, created_at, verify_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT DO NOTHING",
    )
    .bind(l.linked_account_id)
    .bind(l.account_id)
    .bind(&l.marketplace)
    .bind(&l.external_member_id)
    .bind(&l.external_account_type)
    .bind(&l.status)
    .bind(l.created_at)
    .bind(l.verify_time)
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
    sqlx::query_as(concat!(
        select_linked!(),
        "WHERE marketplace = $1 AND external_member_id = $2 AND status <> 'UNBOUND'"
    ))
    .bind(marketplace)
    .bind(external_member_id)
    .fetch_optional(conn)
    .await
}

/// One binding, locked when `lock`.
pub async fn get(conn: &mut PgConnection, id: Uuid, lock: bool) -> sqlx::Result<Option<LinkedRow>> {
    let query = if lock {
        concat!(select_linked!(), "WHERE linked_account_id = $1 FOR UPDATE")
    } else {
        concat!(select_linked!(), "WHERE linked_account_id = $1")
    };
    sqlx::query_as(query).bind(id).fetch_optional(conn).await
}

/// Unbinds.
pub async fn unbind(
    conn: &mut PgConnection,
    id: Uuid,
    reason: &str,
    by: Option<Uuid>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE linked_accounts SET status = 'UNBOUND', unbind_time = $2, unbind_reason = $3, unbound_by = $4
         WHERE linked_account_id = $1",
    )
    .bind(id)
    .bind(now)
    .bind(reason)
    .bind(by)
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
    sqlx::query_scalar(
        "UPDATE linked_accounts SET status = 'BOUND_VERIFIED', verify_time = $2
         WHERE account_id = $1 AND status = 'BOUND_UNVERIFIED'
         RETURNING linked_account_id",
    )
    .bind(account_id)
    .bind(now)
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
    let mut q: QueryBuilder<Postgres> =
        QueryBuilder::new(concat!(select_linked!(), "WHERE account_id = "));
    q.push_bind(account_id);
    match status {
        Some(s) => {
            q.push(" AND status = ").push_bind(s.to_owned());
        }
        None => {
            q.push(" AND status <> 'UNBOUND'");
        }
    }
    if let Some(c) = after {
        q.push(" AND (created_at, linked_account_id) < (")
            .push_bind(c.time)
            .push(", ")
            .push_bind(c.id)
            .push(")");
    }
    q.push(" ORDER BY created_at DESC, linked_account_id DESC LIMIT ")
        .push_bind(limit);
    q.build_query_as().fetch_all(conn).await
}
