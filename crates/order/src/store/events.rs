//! `order_events`: each order's history, numbered from 1.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// An event as listed.
pub struct EventRow {
    pub event_id: Uuid,
    pub sequence: i64,
    pub doc: Vec<u8>,
}

/// Records an event as the order's next one (numbered in the same statement: the caller
/// holds the order's row lock, so no other event of the order is numbered meanwhile).
pub async fn insert(
    db: impl PgExecutor<'_>,
    (event_id, order_id): (Uuid, Uuid),
    event_type: i16,
    at: DateTime<Utc>,
    doc: &[u8],
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO order_events (event_id, order_id, sequence, type, created_at, doc)
         SELECT $1, $2, COALESCE(MAX(sequence), 0) + 1, $3, $4, $5
         FROM order_events WHERE order_id = $2",
        event_id,
        order_id,
        event_type,
        at,
        doc
    )
    .execute(db)
    .await
    .map(drop)
}

/// An order's events of `types` (empty: all) after number `after`, oldest first, at most
/// `limit`.
pub async fn list(
    db: impl PgExecutor<'_>,
    order_id: Uuid,
    types: &[i16],
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<EventRow>> {
    sqlx::query_as!(
        EventRow,
        "SELECT event_id, sequence, doc FROM order_events
         WHERE order_id = $1 AND (cardinality($2::int2[]) = 0 OR type = ANY($2)) AND sequence > $3
         ORDER BY sequence LIMIT $4",
        order_id,
        types,
        after,
        limit
    )
    .fetch_all(db)
    .await
}
