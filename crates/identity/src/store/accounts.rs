//! `accounts` and `operator_grants`.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// An account as stored, with whether it is an operator and has a PIN.
#[derive(Clone, Debug)]
pub struct AccountRow {
    pub account_id: Uuid,
    pub member_name: String,
    pub account_type: String,
    pub role: String,
    pub region_code: String,
    pub display_name: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub mobile: Option<String>,
    pub mobile_verified: bool,
    pub password_hash: String,
    pub login_failure_count: i32,
    pub login_locked_until: Option<DateTime<Utc>>,
    pub real_name_status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub is_operator: bool,
    pub pin_set: bool,
}

/// `query_as!` of [`AccountRow`]: the account's columns, then `$tail` (which accounts).
macro_rules! select_account {
    ($tail:literal $(, $arg:expr)*) => {
        sqlx::query_as!(
            AccountRow,
            r#"SELECT a.account_id, a.member_name, a.account_type, a.role, a.region_code,
                a.display_name, a.email, a.email_verified, a.mobile, a.mobile_verified,
                a.password_hash, a.login_failure_count, a.login_locked_until,
                a.real_name_status, a.created_at, a.updated_at,
                EXISTS (SELECT 1 FROM operator_grants g WHERE g.account_id = a.account_id AND g.role = 'OPERATOR') AS "is_operator!",
                EXISTS (SELECT 1 FROM payment_pins p WHERE p.account_id = a.account_id) AS "pin_set!"
         FROM accounts a "# + $tail
            $(, $arg)*
        )
    };
}

/// One account.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<AccountRow>> {
    select_account!("WHERE a.account_id = $1", id)
        .fetch_optional(conn)
        .await
}

/// One account, locked for the rest of the transaction (serialises the account's
/// counters: login failures, code sends, submissions).
pub async fn get_for_update(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<AccountRow>> {
    select_account!("WHERE a.account_id = $1 FOR UPDATE OF a", id)
        .fetch_optional(conn)
        .await
}

/// How a login identifier names an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginKey {
    /// By member name key.
    MemberName,
    /// By email key.
    Email,
    /// By mobile.
    Mobile,
}

/// The account a login identifier names, locked.
pub async fn find_for_login(
    conn: &mut PgConnection,
    by: LoginKey,
    key: &str,
) -> sqlx::Result<Option<AccountRow>> {
    match by {
        LoginKey::MemberName => {
            select_account!("WHERE a.member_name_key = $1 FOR UPDATE OF a", key)
                .fetch_optional(conn)
                .await
        }
        LoginKey::Email => {
            select_account!("WHERE a.email_key = $1 FOR UPDATE OF a", key)
                .fetch_optional(conn)
                .await
        }
        LoginKey::Mobile => {
            select_account!("WHERE a.mobile = $1 FOR UPDATE OF a", key)
                .fetch_optional(conn)
                .await
        }
    }
}

/// A new account.
#[derive(Debug)]
pub struct NewAccount<'a> {
    pub account_id: Uuid,
    pub member_name: &'a str,
    pub member_name_key: &'a str,
    pub account_type: &'a str,
    pub role: &'a str,
    pub region_code: &'a str,
    pub display_name: &'a str,
    pub email: Option<&'a str>,
    pub email_key: Option<&'a str>,
    pub mobile: Option<&'a str>,
    pub password_hash: &'a str,
    pub now: DateTime<Utc>,
}

/// Inserts the account unless its member name, email or mobile is taken (then `false`).
/// A concurrent insert of the same name waits for the other transaction and then sees the
/// conflict, so exactly one of them creates the account.
pub async fn insert(conn: &mut PgConnection, a: &NewAccount<'_>) -> sqlx::Result<bool> {
    let inserted = sqlx::query!(
        "INSERT INTO accounts (account_id, member_name, member_name_key, account_type, role,
                               region_code, display_name, email, email_key, mobile,
                               password_hash, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
         ON CONFLICT DO NOTHING",
        a.account_id,
        a.member_name,
        a.member_name_key,
        a.account_type,
        a.role,
        a.region_code,
        a.display_name,
        a.email,
        a.email_key,
        a.mobile,
        a.password_hash,
        a.now
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Which of the identifiers is already taken: "member_name", "email" or "mobile".
pub async fn taken(
    conn: &mut PgConnection,
    member_name_key: &str,
    email_key: Option<&str>,
    mobile: Option<&str>,
) -> sqlx::Result<Option<&'static str>> {
    // An aggregate without GROUP BY always answers one row.
    let r = sqlx::query!(
        r#"SELECT COALESCE(bool_or(member_name_key = $1), false) AS "member_name!",
                COALESCE(bool_or(email_key = $2), false) AS "email!",
                COALESCE(bool_or(mobile = $3), false) AS "mobile!"
         FROM accounts WHERE member_name_key = $1 OR email_key = $2 OR mobile = $3"#,
        member_name_key,
        email_key,
        mobile
    )
    .fetch_one(conn)
    .await?;
    let row = (r.member_name, r.email, r.mobile);
    Ok(match row {
        (true, _, _) => Some("member_name"),
        (_, true, _) => Some("email"),
        (_, _, true) => Some("mobile"),
        _ => None,
    })
}

/// Stores the login failure count and lock.
pub async fn set_login_failures(
    conn: &mut PgConnection,
    id: Uuid,
    failures: i32,
    locked_until: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    sqlx::query!("UPDATE accounts SET login_failure_count = $2, login_locked_until = $3 WHERE account_id = $1", id, failures, locked_until)
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks the email (`email` true) or mobile verified.
pub async fn set_contact_verified(
    conn: &mut PgConnection,
    id: Uuid,
    email: bool,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    if email {
        sqlx::query!(
            "UPDATE accounts SET email_verified = true, updated_at = $2 WHERE account_id = $1",
            id,
            now
        )
        .execute(conn)
        .await?;
    } else {
        sqlx::query!(
            "UPDATE accounts SET mobile_verified = true, updated_at = $2 WHERE account_id = $1",
            id,
            now
        )
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Replaces the email (`email` true, with its lookup key) or the mobile, verified.
pub async fn set_contact(
    conn: &mut PgConnection,
    id: Uuid,
    email: bool,
    address: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    if email {
        let key = crate::domain::contact::email_key(address);
        sqlx::query!(
            "UPDATE accounts SET email = $2, email_key = $3, email_verified = true, updated_at = $4
             WHERE account_id = $1",
            id,
            address,
            key,
            now
        )
        .execute(conn)
        .await?;
    } else {
        sqlx::query!(
            "UPDATE accounts SET mobile = $2, mobile_verified = true, updated_at = $3
             WHERE account_id = $1",
            id,
            address,
            now
        )
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Whether another account has this email (`email` true) or mobile.
pub async fn contact_taken(
    conn: &mut PgConnection,
    id: Uuid,
    email: bool,
    address: &str,
) -> sqlx::Result<bool> {
    if email {
        let key = crate::domain::contact::email_key(address);
        sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM accounts WHERE email_key = $2 AND account_id <> $1) AS "taken!""#,
            id,
            key
        )
        .fetch_one(conn)
        .await
    } else {
        sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM accounts WHERE mobile = $2 AND account_id <> $1) AS "taken!""#,
            id,
            address
        )
        .fetch_one(conn)
        .await
    }
}

/// Sets a new login password hash and ends any login lockout.
pub async fn set_password(
    conn: &mut PgConnection,
    id: Uuid,
    password_hash: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE accounts SET password_hash = $2, login_failure_count = 0,
                login_locked_until = NULL, updated_at = $3
         WHERE account_id = $1",
        id,
        password_hash,
        now
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets the account's real-name status.
pub async fn set_real_name_status(
    conn: &mut PgConnection,
    id: Uuid,
    status: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE accounts SET real_name_status = $2, updated_at = $3 WHERE account_id = $1",
        id,
        status,
        now
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Touches `updated_at` (a change stored in another table, such as the PIN).
pub async fn touch(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE accounts SET updated_at = $2 WHERE account_id = $1",
        id,
        now
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether the account is an operator.
pub async fn is_operator(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM operator_grants WHERE account_id = $1 AND role = 'OPERATOR') AS "exists!""#, id)
    .fetch_one(conn)
    .await
}

/// Makes the configured grants of `operator_grants` equal to `grants` (accounts that
/// exist; the others are logged and skipped), and ends the sign-ins of grants gone.
pub async fn sync_operators(
    pool: &PgPool,
    grants: &[(Uuid, crate::store::operators::Grant)],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let ids: Vec<Uuid> = grants.iter().map(|(id, _)| *id).collect();
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "DELETE FROM operator_grants WHERE source = 'CONFIG' AND NOT (account_id = ANY($1))",
        &ids
    )
    .execute(&mut *tx)
    .await?;
    for (id, grant) in grants {
        let granted = sqlx::query!(
            "INSERT INTO operator_grants (account_id, granted_at, role)
             SELECT account_id, $2, $3 FROM accounts WHERE account_id = $1
             ON CONFLICT (account_id) DO UPDATE SET role = EXCLUDED.role
              WHERE operator_grants.source = 'CONFIG' AND operator_grants.role <> EXCLUDED.role",
            id,
            now,
            grant.as_str()
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let exists: bool = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM accounts WHERE account_id = $1) AS "exists!""#,
            id
        )
        .fetch_one(&mut *tx)
        .await?;
        if !exists {
            tracing::warn!(account_id = %id, "configured operator account does not exist; not granted");
        } else if granted == 1 {
            tracing::info!(account_id = %id, role = grant.as_str(), "granted by configuration");
        }
    }
    // A grant taken away ends its sign-ins: every service refuses their tokens within a
    // poll of the revoked sessions.
    for (session, account) in
        crate::store::operators::end_sign_ins_without_grant(&mut tx, now).await?
    {
        tracing::info!(account_id = %account, session_id = %session, "grant removed: sign-in ended");
    }
    tx.commit().await?;
    Ok(())
}
