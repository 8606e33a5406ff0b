//! The audit trail of an order: one event per change, numbered without gaps, written in
//! the transaction of the change (the order row is locked, so numbering cannot race).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::page::{Cursor, Page};
use kuajing_platform::{FieldViolations, time};
use kuajing_proto::order::v1::{
    Actor, FieldChange, ListOrderEventsRequest, ListOrderEventsResponse, Order, OrderEvent,
    OrderEventType, OrderStatus,
};
use prost::Message;
use sqlx::PgConnection;
use tonic::Status;
use uuid::Uuid;

use super::{Ctx, records};
use crate::ownership::{self, Need, Who};
use crate::store;

/// An event being recorded.
pub struct Event {
    /// What happened.
    pub kind: OrderEventType,
    /// Who did it.
    pub actor: Actor,
    /// Status before.
    pub from: OrderStatus,
    /// Status after.
    pub to: OrderStatus,
    /// Changed fields (modifications).
    pub changes: Vec<FieldChange>,
    /// The actor's reason.
    pub reason: String,
    /// The request that caused it ("" for SYSTEM).
    pub request_id: String,
    /// Related ids by kind.
    pub related: Vec<(&'static str, String)>,
}

impl Event {
    /// An event with no changes, reason or related ids.
    pub fn new(
        kind: OrderEventType,
        actor: Actor,
        from: OrderStatus,
        to: OrderStatus,
        request_id: &str,
    ) -> Event {
        Event {
            kind,
            actor,
            from,
            to,
            changes: Vec::new(),
            reason: String::new(),
            request_id: request_id.to_owned(),
            related: Vec::new(),
        }
    }

    /// With a reason.
    pub fn reason(mut self, reason: &str) -> Event {
        self.reason = reason.to_owned();
        self
    }

    /// With a related id.
    pub fn related(mut self, key: &'static str, id: impl ToString) -> Event {
        self.related.push((key, id.to_string()));
        self
    }

    /// With changed fields.
    pub fn changes(mut self, changes: Vec<FieldChange>) -> Event {
        self.changes = changes;
        self
    }
}

/// Appends an event to `order`'s trail; returns its id.
pub async fn append(
    conn: &mut PgConnection,
    order: &Order,
    event: Event,
    now: DateTime<Utc>,
) -> Result<Uuid, Status> {
    let order_id = Uuid::try_parse(&order.order_id).map_err(internal)?;
    let event_id = Uuid::now_v7();
    let doc = OrderEvent {
        event_id: event_id.to_string(),
        order_id: order.order_id.clone(),
        // Numbered by the insert; a listing sets it from the row.
        sequence: 0,
        r#type: event.kind as i32,
        actor: Some(event.actor),
        from_status: event.from as i32,
        to_status: event.to as i32,
        changes: event.changes,
        reason: event.reason,
        request_id: event.request_id,
        related_ids: event
            .related
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<HashMap<_, _>>(),
        create_time: Some(time::to_proto(now)),
    };
    let kind = i16::try_from(event.kind as i32).unwrap_or(0);
    let ids = (event_id, order_id);
    store::events::insert(conn, ids, kind, now, &doc.encode_to_vec())
        .await
        .map_err(internal)?;
    Ok(event_id)
}

/// ListOrderEvents: oldest first. The page token's time carries the sequence number.
pub async fn list(
    ctx: &Ctx,
    req: ListOrderEventsRequest,
    who: Who,
) -> Result<ListOrderEventsResponse, Status> {
    let mut v = FieldViolations::new();
    let order_id = v.uuid("order_id", &req.order_id);
    let mut types = Vec::new();
    if req.types.len() > 50 {
        v.add("types", "at most 50 types");
    }
    for (i, t) in req.types.iter().take(50).enumerate() {
        if let Some(t) = v.enum_value::<OrderEventType>(&format!("types[{i}]"), *t) {
            types.push(i16::try_from(t as i32).unwrap_or(0));
        }
    }
    let page = Page::from_proto("page", req.page.as_ref(), &mut v);
    v.finish()?;
    let order_id = order_id.expect("validated");
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    let order = records::load(&mut conn, ctx, order_id).await?;
    ownership::require(ctx, who, &order, Need::Either).await?;
    let after = page.after.map_or(0, |c| c.time.timestamp_micros());
    let rows = store::events::list(&mut *conn, order_id, &types, after, page.fetch_limit())
        .await
        .map_err(internal)?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        let cursor = Cursor {
            time: DateTime::from_timestamp_micros(r.sequence).unwrap_or_default(),
            id: r.event_id,
        };
        let mut event = OrderEvent::decode(r.doc.as_slice()).map_err(internal)?;
        event.sequence = r.sequence;
        items.push((cursor, event));
    }
    let page = page.finish(&mut items, |(c, _)| *c);
    Ok(ListOrderEventsResponse {
        events: items.into_iter().map(|(_, e)| e).collect(),
        page: Some(page),
    })
}
