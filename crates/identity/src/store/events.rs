//! `security_events`: the security audit log.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kuajing_platform::page::Cursor;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::events::EventType;

/// An event to record.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub account_id: Uuid,
    pub event_type: EventType,
    pub actor_account_id: Option<Uuid>,
    pub client_ip: String,
    pub user_agent: String,
    pub details: BTreeMap<String, String>,
    pub at: DateTime<Utc>,
}

impl NewEvent {
    /// An event about `account_id` with no actor or client yet.
    pub fn new(account_id: Uuid, event_type: EventType, at: DateTime<Utc>) -> NewEvent {
        NewEvent {
            account_id,
            event_type,
            actor_account_id: None,
            client_ip: String::new(),
            user_agent: String::new(),
            details: BTreeMap::new(),
            at,
        }
    }

    /// Adds a detail.
    pub fn detail(mut self, key: &str, value: impl ToString) -> NewEvent {
        self.details.insert(key.to_owned(), value.to_string());
        self
    }

    /// Sets the acting account.
    pub fn actor(mut self, actor: Option<Uuid>) -> NewEvent {
        self.actor_account_id = actor;
        self
    }

    /// Sets the client.
    pub fn client(mut self, ip: &str, user_agent: &str) -> NewEvent {
        self.client_ip = ip.to_owned();
        self.user_agent = user_agent.to_owned();
        self
    }
}

/// Appends an event.
pub async fn record(conn: &mut PgConnection, e: NewEvent) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO security_events (security_event_id, account_id, type, actor_account_id,
             client_ip, user_agent, details, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        Uuid::now_v7(),
        e.account_id,
        e.event_type.as_str(),
        e.actor_account_id,
        &e.client_ip,
        &e.user_agent,
        Json(&e.details) as _,
        e.at
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// An event as stored.
#[derive(Clone, Debug)]
pub struct EventRow {
    pub security_event_id: Uuid,
    pub account_id: Uuid,
    pub event_type: String,
    pub actor_account_id: Option<Uuid>,
    pub actor_service: String,
    pub client_ip: String,
    pub user_agent: String,
    pub details: Json<BTreeMap<String, String>>,
    pub created_at: DateTime<Utc>,
}

/// A page of an account's events, newest first.
pub async fn list(
    conn: &mut PgConnection,
    account_id: Uuid,
    types: Option<&[String]>,
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    after: Option<Cursor>,
    limit: i64,
) -> sqlx::Result<Vec<EventRow>> {
    sqlx::query_as!(
        EventRow,
        r#"SELECT security_event_id, account_id, type AS event_type, actor_account_id,
                actor_service, client_ip, user_agent,
                details AS "details: Json<BTreeMap<String, String>>", created_at
         FROM security_events
         WHERE account_id = $1 AND ($2::text[] IS NULL OR type = ANY($2))
           AND ($3::timestamptz IS NULL OR created_at >= $3)
           AND ($4::timestamptz IS NULL OR created_at < $4)
           AND ($5::timestamptz IS NULL OR (created_at, security_event_id) < ($5, $6))
         ORDER BY created_at DESC, security_event_id DESC LIMIT $7"#,
        account_id,
        types,
        from,
        until,
        after.map(|c| c.time),
        after.map(|c| c.id),
        limit
    )
    .fetch_all(conn)
    .await
}
