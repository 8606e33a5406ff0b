//! `payment_pins`.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// A PIN as stored.
#[derive(Clone, Debug)]
pub struct PinRow {
    pub pin_hash: String,
    pub failure_count: i32,
    pub locked_until: Option<DateTime<Utc>>,
}

/// The account's PIN, locked.
pub async fn get_for_update(
    conn: &mut PgConnection,
    account_id: Uuid,
) -> sqlx::Result<Option<PinRow>> {
    sqlx::query_as!(
        PinRow,
        "SELECT pin_hash, failure_count, locked_until FROM payment_pins
         WHERE account_id = $1 FOR UPDATE",
        account_id
    )
    .fetch_optional(conn)
    .await
}

/// Sets (or resets) the PIN, clearing failures and lock; returns true when it was
/// already set before.
pub async fn set(
    conn: &mut PgConnection,
    account_id: Uuid,
    pin_hash: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let existed: bool = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM payment_pins WHERE account_id = $1) AS "exists!""#,
        account_id
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!("INSERT INTO payment_pins (account_id, pin_hash, failure_count, locked_until, set_at, updated_at)
         VALUES ($1, $2, 0, NULL, $3, $3)
         ON CONFLICT (account_id) DO UPDATE
         SET pin_hash = EXCLUDED.pin_hash, failure_count = 0, locked_until = NULL, updated_at = EXCLUDED.updated_at", account_id, pin_hash, now)
    .execute(conn)
    .await?;
    Ok(existed)
}

/// Stores the failure count and lock.
pub async fn set_failures(
    conn: &mut PgConnection,
    account_id: Uuid,
    failures: i32,
    locked_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!("UPDATE payment_pins SET failure_count = $2, locked_until = $3, updated_at = $4 WHERE account_id = $1", account_id, failures, locked_until, now)
        .execute(conn)
        .await?;
    Ok(())
}
