//! Orders in Postgres: the `Order` message is the row's document; the columns beside it are
//! copies for filters and the background loops, rewritten together. Every change bumps the
//! version, which is the etag.

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::time;
use kuajing_proto::order::v1::{Order, OrderKind, OrderStatus, order};
use prost::Message;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use tonic::Status;
use uuid::Uuid;

use super::{Ctx, ETAG_MISMATCH};

/// Decodes a stored order.
pub fn decode(doc: &[u8]) -> Result<Order, Status> {
    Order::decode(doc).map_err(internal)
}

/// The order, locked for the rest of the transaction; NOT_FOUND if there is none.
pub async fn lock(conn: &mut PgConnection, ctx: &Ctx, order_id: Uuid) -> Result<Order, Status> {
    let doc: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT doc FROM orders WHERE order_id = $1 FOR UPDATE")
            .bind(order_id)
            .fetch_optional(conn)
            .await
            .map_err(internal)?;
    decode(&doc.ok_or_else(|| ctx.errors().not_found("order", order_id.to_string()))?)
}

/// The order, unlocked; NOT_FOUND if there is none.
pub async fn load(conn: &mut PgConnection, ctx: &Ctx, order_id: Uuid) -> Result<Order, Status> {
    let doc: Option<Vec<u8>> = sqlx::query_scalar("SELECT doc FROM orders WHERE order_id = $1")
        .bind(order_id)
        .fetch_optional(conn)
        .await
        .map_err(internal)?;
    decode(&doc.ok_or_else(|| ctx.errors().not_found("order", order_id.to_string()))?)
}

/// The order with this number; NOT_FOUND if there is none.
pub async fn load_by_number(
    conn: &mut PgConnection,
    ctx: &Ctx,
    number: &str,
) -> Result<Order, Status> {
    let doc: Option<Vec<u8>> = sqlx::query_scalar("SELECT doc FROM orders WHERE order_number = $1")
        .bind(number)
        .fetch_optional(conn)
        .await
        .map_err(internal)?;
    decode(&doc.ok_or_else(|| ctx.errors().not_found("order", number.to_owned()))?)
}

/// The next order number of `kind`.
pub async fn next_number(conn: &mut PgConnection, kind: OrderKind) -> Result<String, Status> {
    let seq: i64 = sqlx::query_scalar("SELECT nextval('order_number_seq')")
        .fetch_one(conn)
        .await
        .map_err(internal)?;
    Ok(crate::domain::number::order_number(kind, seq))
}

/// The filter columns of an order.
struct Columns {
    buyer_account_id: Option<Uuid>,
    buyer_email: String,
    buyer_name: String,
    buyer_member_id: String,
    buyer_region_code: String,
    marketplace_code: i16,
    external_order_id: String,
    currency: String,
    total: Decimal,
    destination: String,
    export_method: i16,
    shipping_method: i16,
    payment_method: i16,
    salesperson: String,
    product_text: String,
    pending_payment_id: Option<Uuid>,
    paid_at: Option<DateTime<Utc>>,
    auto_confirm_at: Option<DateTime<Utc>>,
    expire_at: Option<DateTime<Utc>>,
    ship_by_at: Option<DateTime<Utc>>,
    first_shipped_at: Option<DateTime<Utc>>,
}

fn small(n: i32) -> i16 {
    i16::try_from(n).unwrap_or(0)
}

fn ts(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(time::from_proto)
}

fn columns(o: &Order) -> Columns {
    let status = super::status_of(o);
    let mut c = Columns {
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
    sqlx::query(
        "INSERT INTO orders (order_id, order_number, kind, status, supplier_account_id, buyer_account_id,
             buyer_email, buyer_name, buyer_member_id, buyer_region_code, marketplace_code, external_order_id,
             currency, total_amount, destination_region_code, export_method, shipping_method, payment_method,
             salesperson, product_text, pending_payment_id, paid_at, auto_confirm_at, expire_at, version,
             created_at, updated_at, doc)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
                 $21, $22, $23, $24, 1, $25, $25, $26)",
    )
    .bind(Uuid::try_parse(&order.order_id).map_err(internal)?)
    .bind(&order.order_number)
    .bind(small(order.kind))
    .bind(small(order.status))
    .bind(Uuid::try_parse(&order.supplier_account_id).map_err(internal)?)
    .bind(c.buyer_account_id)
    .bind(&c.buyer_email)
    .bind(&c.buyer_name)
    .bind(&c.buyer_member_id)
    .bind(&region)
    .bind(c.marketplace_code)
    .bind(&c.external_order_id)
    .bind(&c.currency)
    .bind(c.total)
    .bind(&c.destination)
    .bind(c.export_method)
    .bind(c.shipping_method)
    .bind(c.payment_method)
    .bind(&c.salesperson)
    .bind(&c.product_text)
    .bind(c.pending_payment_id)
    .bind(c.paid_at)
    .bind(c.auto_confirm_at)
    .bind(c.expire_at)
    .bind(now)
    .bind(order.encode_to_vec())
    .execute(conn)
    .await
    .map_err(internal)?;
    Ok(())
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
    sqlx::query(
        "UPDATE orders SET status = $2, buyer_account_id = $3, buyer_email = $4, buyer_name = $5,
             buyer_region_code = CASE WHEN $6 = '' THEN buyer_region_code ELSE $6 END,
             currency = $7, total_amount = $8, destination_region_code = $9, export_method = $10,
             shipping_method = $11, payment_method = $12, salesperson = $13, product_text = $14,
             pending_payment_id = $15, paid_at = $16, auto_confirm_at = $17, expire_at = $18,
             version = $19, updated_at = $20, doc = $21, ship_by_at = $22, first_shipped_at = $23
         WHERE order_id = $1",
    )
    .bind(Uuid::try_parse(&order.order_id).map_err(internal)?)
    .bind(small(order.status))
    .bind(c.buyer_account_id)
    .bind(&c.buyer_email)
    .bind(&c.buyer_name)
    .bind(&c.buyer_region_code)
    .bind(&c.currency)
    .bind(c.total)
    .bind(&c.destination)
    .bind(c.export_method)
    .bind(c.shipping_method)
    .bind(c.payment_method)
    .bind(&c.salesperson)
    .bind(&c.product_text)
    .bind(c.pending_payment_id)
    .bind(c.paid_at)
    .bind(c.auto_confirm_at)
    .bind(c.expire_at)
    .bind(version)
    .bind(now)
    .bind(order.encode_to_vec())
    .bind(c.ship_by_at)
    .bind(c.first_shipped_at)
    .execute(conn)
    .await
    .map_err(internal)?;
    Ok(())
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
