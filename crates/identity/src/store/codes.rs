//! `verification_challenges`.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// A challenge as stored.
#[derive(Clone, Debug)]
pub struct ChallengeRow {
    pub challenge_id: Uuid,
    pub account_id: Uuid,
    pub channel: String,
    pub purpose: String,
    pub reference: String,
    pub destination: String,
    pub code_hash: Vec<u8>,
    pub state: String,
    pub failed_attempts: i32,
    pub created_at: DateTime<Utc>,
    pub expire_at: DateTime<Utc>,
    pub resend_at: DateTime<Utc>,
    pub consumed_at: Option<DateTime<Utc>>,
}

macro_rules! select_challenge {
    ($tail:literal $(, $arg:expr)*) => {
        sqlx::query_as!(
            ChallengeRow,
            "SELECT challenge_id, account_id, channel, purpose, reference, destination, code_hash,
                state, failed_attempts, created_at, expire_at, resend_at, consumed_at
         FROM verification_challenges " + $tail
            $(, $arg)*
        )
    };
}

/// The newest pending challenge for an account, purpose and reference.
pub async fn latest_pending(
    conn: &mut PgConnection,
    account_id: Uuid,
    purpose: &str,
    reference: &str,
) -> sqlx::Result<Option<ChallengeRow>> {
    select_challenge!(
        "WHERE account_id = $1 AND purpose = $2 AND reference = $3 AND state = 'PENDING'
         ORDER BY created_at DESC, challenge_id DESC LIMIT 1",
        account_id,
        purpose,
        reference
    )
    .fetch_optional(conn)
    .await
}

/// Supersedes every live (pending, unexpired) challenge for the account, purpose and
/// reference: a new code replaces them.
pub async fn supersede(
    conn: &mut PgConnection,
    account_id: Uuid,
    purpose: &str,
    reference: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "UPDATE verification_challenges SET state = 'SUPERSEDED'
         WHERE account_id = $1 AND purpose = $2 AND reference = $3 AND state = 'PENDING'
           AND expire_at > $4",
        account_id,
        purpose,
        reference,
        now
    )
    .execute(conn)
    .await?
    .rows_affected())
}

/// Inserts a challenge.
pub async fn insert(conn: &mut PgConnection, c: &ChallengeRow) -> sqlx::Result<()> {
    sqlx::query!("INSERT INTO verification_challenges (challenge_id, account_id, channel, purpose, reference,
             destination, code_hash, state, failed_attempts, created_at, expire_at, resend_at, consumed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)", c.challenge_id, c.account_id, &c.channel, &c.purpose, &c.reference, &c.destination, &c.code_hash, &c.state, c.failed_attempts, c.created_at, c.expire_at, c.resend_at, c.consumed_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A challenge of an account, locked (attempts are counted one at a time).
pub async fn get_for_update(
    conn: &mut PgConnection,
    challenge_id: Uuid,
    account_id: Uuid,
) -> sqlx::Result<Option<ChallengeRow>> {
    select_challenge!(
        "WHERE challenge_id = $1 AND account_id = $2 FOR UPDATE",
        challenge_id,
        account_id
    )
    .fetch_optional(conn)
    .await
}

/// Stores a wrong attempt (and the exhaustion it may cause).
pub async fn record_wrong(
    conn: &mut PgConnection,
    challenge_id: Uuid,
    attempts: i32,
    exhausted: bool,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE verification_challenges
         SET failed_attempts = $2, state = CASE WHEN $3 THEN 'EXHAUSTED' ELSE state END
         WHERE challenge_id = $1",
        challenge_id,
        attempts,
        exhausted
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks a challenge consumed.
pub async fn consume(
    conn: &mut PgConnection,
    challenge_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!("UPDATE verification_challenges SET state = 'CONSUMED', consumed_at = $2 WHERE challenge_id = $1", challenge_id, now)
        .execute(conn)
        .await?;
    Ok(())
}
