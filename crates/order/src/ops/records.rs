//! An order's record: the `Order` message is the row's document, the columns beside it
//! (`store::orders::OrderColumns`) are copies for filters and the background loops,
//! derived here and rewritten together. Every change bumps the version, which is the etag.

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::time;
use kuajing_proto::order::v1::{Order, OrderKind, OrderStatus, order};
use prost::Message;
use sqlx::PgConnection;
use tonic::Status;
use uuid::Uuid;

use super::{Ctx, ETAG_MISMATCH};
use crate::store::{self, orders::NewOrder, orders::OrderColumns, orders::Saved};

/// Decodes a stored order.
pub fn decode(doc: &[u8]) -> Result<Order, Status> {
    Order::decode(doc).map_err(internal)
}

/// The order, locked for the rest of the transaction; NOT_FOUND if there is none.
pub async fn lock(conn: &mut PgConnection, ctx: &Ctx, order_id: Uuid) -> Result<Order, Status> {
    let doc = store::orders::doc_for_update(conn, order_id)
        .await
        .map_err(internal)?;
    decode(&doc.ok_or_else(|| ctx.errors().not_found("order", order_id.to_string()))?)
}

/// The order, unlocked; NOT_FOUND if there is none.
pub async fn load(conn: &mut PgConnection, ctx: &Ctx, order_id: Uuid) -> Result<Order, Status> {
    let doc = store::orders::doc(conn, order_id).await.map_err(internal)?;
    decode(&doc.ok_or_else(|| ctx.errors().not_found("order", order_id.to_string()))?)
}

/// The order with this number; NOT_FOUND if there is none.
pub async fn load_by_number(
    conn: &mut PgConnection,
    ctx: &Ctx,
    number: &str,
) -> Result<Order, Status> {
    let doc = store::orders::doc_by_number(conn, number)
        .await
        .map_err(internal)?;
    decode(&doc.ok_or_else(|| ctx.errors().not_found("order", number.to_owned()))?)
}

/// The next order number of `kind`.
pub async fn next_number(conn: &mut PgConnection, kind: OrderKind) -> Result<String, Status> {
    let seq = store::orders::next_number(conn).await.map_err(internal)?;
    Ok(crate::domain::number::order_number(kind, seq))
}

fn small(n: i32) -> i16 {
    i16::try_from(n).unwrap_or(0)
}

fn ts(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(time::from_proto)
}

fn columns(o: &Order) -> OrderColumns {
    let status = super::status_of(o);
    let mut c = OrderColumns {
        buyer_account_id: Uuid::try_parse(&o.buyer_account_id).ok(),
        buyer_email: String::new(),
        buyer_name: String::new(),
        buyer_member_id: String::new(),
        buyer_region_code: String::new(),
        marketplace_code: 0,
        external_order_id: String::new(),
        currency: o.currency_code.clone(),
        total: super::pricing::amount_of(o.total_amount.as_ref()),
        destination: String::new(),
        export_method: 0,
        shipping_method: 0,
        payment_method: small(o.payment_method),
        salesperson: String::new(),
        product_text: o
            .lines
            .iter()
            .map(|l| l.product_name.to_lowercase())
            .collect::<Vec<_>>()
            .join("\n"),
        pending_payment_id: Uuid::try_parse(&o.pending_payment_id).ok(),
        paid_at: ts(o.paid_time.as_ref()),
        auto_confirm_at: matches!(status, OrderStatus::Shipped | OrderStatus::AwaitingReceipt)
            .then(|| ts(o.auto_confirm_time.as_ref()))
            .flatten(),
        expire_at: (status == OrderStatus::Unpaid)
            .then(|| ts(o.expire_time.as_ref()))
            .flatten(),
        ship_by_at: None,
        first_shipped_at: o.shipments.first().and_then(|s| ts(s.ship_time.as_ref())),
    };
    match &o.details {
        Some(order::Details::Marketplace(m)) => {
            c.buyer_member_id = m.buyer_member_id.to_lowercase();
            c.buyer_name = c.buyer_member_id.clone();
            c.marketplace_code = small(m.marketplace_code);
            c.external_order_id = m.external_order_id.clone();
            c.destination = m
                .logistics
                .as_ref()
                .and_then(|l| l.delivery_address.as_ref())
                .map(|a| a.region_code.clone())
                .unwrap_or_default();
        }
        Some(order::Details::Trade(t)) => {
            if let Some(b) = &t.buyer {
                c.buyer_email = b.email.to_lowercase();
                c.buyer_name = b.name.to_lowercase();
                c.buyer_region_code = b.region_code.clone();
            }
            c.salesperson = t.salesperson.clone();
            c.export_method = small(t.export_method);
            if let Some(st) = &t.shipping_terms {
                c.ship_by_at = ts(st.ship_by_time.as_ref());
                c.shipping_method = small(st.shipping_method);
                c.destination = st
                    .address
                    .as_ref()
                    .map(|a| a.region_code.clone())
                    .unwrap_or_default();
            }
            if let Some(k) = &t.contract {
                if !c.product_text.is_empty() {
                    c.product_text.push('\n');
                }
                c.product_text.push_str(&k.goods_description.to_lowercase());
            }
        }
        None => {}
    }
    c
}

/// Inserts a new order (version 1). `buyer_region` is the buyer account's region for a
/// marketplace order (not part of the document).
pub async fn insert(
    conn: &mut PgConnection,
    order: &mut Order,
    buyer_region: &str,
    now: DateTime<Utc>,
) -> Result<(), Status> {
    order.etag = "1".to_owned();
    order.create_time = Some(time::to_proto(now));
    order.update_time = Some(time::to_proto(now));
    let c = columns(order);
    let region = if c.buyer_region_code.is_empty() {
        buyer_region.to_owned()
    } else {
        c.buyer_region_code.clone()
    };
    let new = NewOrder {
        order_id: Uuid::try_parse(&order.order_id).map_err(internal)?,
        order_number: &order.order_number,
        kind: small(order.kind),
        status: small(order.status),
        supplier_account_id: Uuid::try_parse(&order.supplier_account_id).map_err(internal)?,
        buyer_region_code: &region,
        at: now,
        doc: order.encode_to_vec(),
    };
    store::orders::insert(conn, &new, &c)
        .await
        .map_err(internal)
}

/// Stores a changed order: bumps its version (the etag) and update time, rewrites the
/// document and the columns.
pub async fn save(
    conn: &mut PgConnection,
    order: &mut Order,
    now: DateTime<Utc>,
) -> Result<(), Status> {
    let version: i64 = order.etag.parse().unwrap_or(0) + 1;
    order.etag = version.to_string();
    order.update_time = Some(time::to_proto(now));
    let c = columns(order);
    let saved = Saved {
        order_id: Uuid::try_parse(&order.order_id).map_err(internal)?,
        status: small(order.status),
        version,
        at: now,
        doc: order.encode_to_vec(),
    };
    store::orders::update(conn, &saved, &c)
        .await
        .map_err(internal)
}

/// ABORTED / ETAG_MISMATCH unless `etag` is empty or the order's current one.
pub fn check_etag(ctx: &Ctx, order: &Order, etag: &str) -> Result<(), Status> {
    if etag.is_empty() || etag == order.etag {
        return Ok(());
    }
    Err(ctx.refuse_code(
        tonic::Code::Aborted,
        ETAG_MISMATCH,
        "the order changed since you read it; read it again",
        &[
            ("order_id", order.order_id.clone()),
            ("etag", order.etag.clone()),
        ],
    ))
}
