//! `outbox`: the messages the development sender keeps instead of delivering them.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// A message kept in the outbox.
pub struct OutboxMessage<'a> {
    pub message_id: Uuid,
    pub challenge_id: Option<Uuid>,
    pub channel: &'a str,
    pub destination: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub created_at: DateTime<Utc>,
}

/// Keeps a message.
pub async fn insert(conn: &mut PgConnection, m: &OutboxMessage<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO outbox (message_id, challenge_id, channel, destination, subject, body,
             created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        m.message_id,
        m.challenge_id,
        m.channel,
        m.destination,
        m.subject,
        m.body,
        m.created_at
    )
    .execute(conn)
    .await
    .map(drop)
}
