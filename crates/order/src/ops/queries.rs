//! Reading orders: GetOrder, ListOrders (the order list's search box and filters, newest
//! first) and CountOrdersByStatus (the list's tabs).

use kuajing_platform::FieldViolations;
use std::collections::HashMap;

use kuajing_platform::Currency;
use kuajing_platform::error::internal;
use kuajing_platform::page::{Cursor, Page};
use kuajing_proto::order::v1::{
    CountOrdersByStatusRequest, CountOrdersByStatusResponse, ExportMethod, GetOrderRequest,
    GetOrderResponse, ListOrdersRequest, ListOrdersResponse, OrderFilter, OrderKind, OrderStatus,
    OrderStatusGroup, PaymentMethod, ShippingMethod, StatusCount, StatusGroupCount,
};
use tonic::Status;

use super::fields;
use super::{Ctx, records};
use crate::domain::number;
use crate::domain::status::{group, statuses_of};
use crate::ownership::{self, Who};
use crate::store::{self, orders::OrderFilter as Filter};

/// GetOrder. Someone else's order answers NOT_FOUND, like a missing one.
pub async fn get(ctx: &Ctx, req: GetOrderRequest, who: Who) -> Result<GetOrderResponse, Status> {
    let mut inv = FieldViolations::new();
    let by_id = match (req.order_id.is_empty(), req.order_number.is_empty()) {
        (false, true) => inv.uuid("order_id", &req.order_id),
        (true, false) => {
            if !number::well_formed(&req.order_number) {
                inv.add("order_number", "must be 17 digits");
            }
            None
        }
        _ => {
            inv.add(
                "order_id",
                "exactly one of order_id and order_number is required",
            );
            None
        }
    };
    inv.finish_in(ctx.errors())?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    let (order, asked) = match by_id {
        Some(id) => (records::load(&mut conn, ctx, id).await?, id.to_string()),
        None => (
            records::load_by_number(&mut conn, ctx, &req.order_number).await?,
            req.order_number.clone(),
        ),
    };
    drop(conn);
    ownership::visible(ctx, who, &order, &asked).await?;
    Ok(GetOrderResponse { order: Some(order) })
}

fn small(n: i32) -> i16 {
    i16::try_from(n).unwrap_or(0)
}

/// Most values of one list filter.
const MAX_FILTER_VALUES: usize = 100;

fn too_many(inv: &mut FieldViolations, field: &str, n: usize) {
    if n > MAX_FILTER_VALUES {
        inv.add(field, format!("at most {MAX_FILTER_VALUES} values"));
    }
}

fn enums<E: TryFrom<i32>>(inv: &mut FieldViolations, field: &str, values: &[i32]) -> Vec<i16> {
    too_many(inv, field, values.len());
    let mut out = Vec::new();
    for (i, v) in values.iter().take(MAX_FILTER_VALUES).enumerate() {
        if inv.enum_value::<E>(&format!("{field}[{i}]"), *v).is_some() {
            out.push(small(*v));
        }
    }
    out
}

fn regions(inv: &mut FieldViolations, field: &str, values: &[String]) -> Vec<String> {
    too_many(inv, field, values.len());
    for (i, r) in values.iter().take(MAX_FILTER_VALUES).enumerate() {
        if !fields::region_ok(r) {
            inv.add(
                format!("{field}[{i}]"),
                "must be an ISO 3166-1 alpha-2 code in upper case",
            );
        }
    }
    values.to_vec()
}

fn filter(
    inv: &mut FieldViolations,
    supplier: &str,
    buyer: &str,
    f: Option<&OrderFilter>,
) -> Filter {
    let mut out = Filter {
        supplier: inv.optional_uuid("supplier_account_id", supplier).flatten(),
        buyer: inv.optional_uuid("buyer_account_id", buyer).flatten(),
        ..Filter::default()
    };
    let Some(f) = f else {
        return out;
    };
    fields::text(inv, "filter.query", &f.query, 0, 128);
    out.query = f.query.trim().to_owned();
    out.kinds = enums::<OrderKind>(inv, "filter.kinds", &f.kinds);
    out.salespeople = f.salespeople.clone();
    out.destinations = regions(
        inv,
        "filter.destination_region_codes",
        &f.destination_region_codes,
    );
    out.buyer_regions = regions(inv, "filter.buyer_region_codes", &f.buyer_region_codes);
    (out.from, out.until) = inv.time_range("filter.create_time", f.create_time.as_ref());
    if let Some(r) = &f.total_amount {
        let min = r
            .min
            .as_ref()
            .and_then(|m| inv.money("filter.total_amount.min", Some(m)));
        let max = r
            .max
            .as_ref()
            .and_then(|m| inv.money("filter.total_amount.max", Some(m)));
        match (min, max) {
            (Some(a), Some(b)) if a.currency() != b.currency() => {
                inv.add("filter.total_amount.max", "must be in the currency of min");
            }
            (Some(a), Some(b)) if b.amount() < a.amount() => {
                inv.add("filter.total_amount.max", "must not be below min");
            }
            _ => {}
        }
        out.amount_currency = min.or(max).map(|m| m.currency().code().to_owned());
        out.amount_min = min.map(|m| m.amount());
        out.amount_max = max.map(|m| m.amount());
    }
    too_many(inv, "filter.salespeople", f.salespeople.len());
    too_many(inv, "filter.currency_codes", f.currency_codes.len());
    for (i, c) in f.currency_codes.iter().take(MAX_FILTER_VALUES).enumerate() {
        if c.parse::<Currency>().is_err() {
            inv.add(
                format!("filter.currency_codes[{i}]"),
                "is not a supported currency",
            );
        }
    }
    out.currencies = f.currency_codes.clone();
    out.export_methods = enums::<ExportMethod>(inv, "filter.export_methods", &f.export_methods);
    out.shipping_methods =
        enums::<ShippingMethod>(inv, "filter.shipping_methods", &f.shipping_methods);
    out.payment_methods = enums::<PaymentMethod>(inv, "filter.payment_methods", &f.payment_methods);
    out
}

/// ListOrders.
pub async fn list(ctx: &Ctx, req: ListOrdersRequest) -> Result<ListOrdersResponse, Status> {
    let mut inv = FieldViolations::new();
    let f = filter(
        &mut inv,
        &req.supplier_account_id,
        &req.buyer_account_id,
        req.filter.as_ref(),
    );
    let mut statuses = enums::<OrderStatus>(&mut inv, "statuses", &req.statuses);
    if req.status_group != 0 {
        match OrderStatusGroup::try_from(req.status_group) {
            Ok(g) => statuses.extend(statuses_of(g).into_iter().map(|s| small(s as i32))),
            Err(_) => inv.add("status_group", "unknown value"),
        }
    }
    let page = Page::from_proto("page", req.page.as_ref(), &mut inv);
    inv.finish_in(ctx.errors())?;
    let after = page.after.map(|c| (c.time, c.id));
    let mut rows = store::orders::list(&ctx.svc.pool, &f, &statuses, after, page.fetch_limit())
        .await
        .map_err(internal)?;
    let page = page.finish(&mut rows, |r| Cursor {
        time: r.created_at,
        id: r.order_id,
    });
    let orders = rows
        .iter()
        .map(|r| records::decode(&r.doc))
        .collect::<Result<_, _>>()?;
    Ok(ListOrdersResponse {
        orders,
        page: Some(page),
    })
}

/// CountOrdersByStatus.
pub async fn count(
    ctx: &Ctx,
    req: CountOrdersByStatusRequest,
) -> Result<CountOrdersByStatusResponse, Status> {
    let mut inv = FieldViolations::new();
    let f = filter(
        &mut inv,
        &req.supplier_account_id,
        &req.buyer_account_id,
        req.filter.as_ref(),
    );
    inv.finish_in(ctx.errors())?;
    // Per status, with the on-time shipment rate's counts in the same pass.
    let rows = store::orders::count_by_status(&ctx.svc.pool, &f)
        .await
        .map_err(internal)?;
    let (mut shipped_on_time, mut shipped_late) = (0i64, 0i64);
    let mut status_counts = Vec::new();
    let mut groups: HashMap<i32, i64> = HashMap::new();
    let mut total = 0;
    for r in rows {
        let (s, n) = (r.status, r.n);
        shipped_on_time += r.on_time;
        shipped_late += r.late;
        let status = OrderStatus::try_from(i32::from(s)).unwrap_or(OrderStatus::Unspecified);
        status_counts.push(StatusCount {
            status: status as i32,
            count: n,
        });
        *groups.entry(group(status) as i32).or_default() += n;
        total += n;
    }
    let all = [
        OrderStatusGroup::ToConfirm,
        OrderStatusGroup::ToPay,
        OrderStatusGroup::ToShip,
        OrderStatusGroup::ToReceive,
        OrderStatusGroup::AfterSales,
        OrderStatusGroup::CompletedOrClosed,
    ];
    Ok(CountOrdersByStatusResponse {
        status_counts,
        group_counts: all
            .iter()
            .map(|g| StatusGroupCount {
                group: *g as i32,
                count: groups.get(&(*g as i32)).copied().unwrap_or(0),
            })
            .collect(),
        total,
        shipped_on_time,
        shipped_late,
    })
}
