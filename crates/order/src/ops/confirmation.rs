//! The parties' decisions on an order before money moves: the supplier accepts (as drafted,
//! or modified) or rejects a buyer's draft (AcceptOrder, RejectOrder); the buyer confirms
//! or declines an order awaiting its confirmation (ConfirmOrder, RejectOrder); either
//! cancels before any money was received (CancelOrder); and an unpaid marketplace order
//! closes at its payment deadline (actor SYSTEM).

use chrono::{DateTime, Utc};
use kuajing_platform::FieldViolations;
use kuajing_platform::error::internal;
use kuajing_platform::{idempotency, time};
use kuajing_proto::order::v1::{
    AcceptOrderRequest, AcceptOrderResponse, ActorType, CancelOrderRequest, CancelOrderResponse,
    CloseReason, ConfirmOrderRequest, ConfirmOrderResponse, Order, OrderEventType, OrderKind,
    OrderStatus, RejectOrderRequest, RejectOrderResponse,
};
use tonic::Status;

use super::events::{self, Event};
use super::fields;
use super::modification::{self, check_mask, check_not_paying};
use super::receipt::facts;
use super::{Ctx, actor, records, replayed};
use crate::domain::modification as paths;
use crate::domain::status::{self, Action};
use crate::ownership::{self, Need, Who};

fn close(o: &mut Order, reason: CloseReason, now: DateTime<Utc>) {
    o.close_reason = reason as i32;
    o.close_time = Some(time::to_proto(now));
    o.expire_time = None;
    o.auto_confirm_time = None;
}

/// Who may reject an order: the supplier a buyer's draft awaits, the buyer an order
/// awaiting confirmation; in any other status either (the state machine refuses).
fn rejecting_party(o: &Order) -> Need {
    match super::status_of(o) {
        OrderStatus::AwaitingSupplierAcceptance => Need::Supplier,
        OrderStatus::AwaitingBuyerConfirmation => Need::Buyer,
        _ => Need::Either,
    }
}

/// AcceptOrder.
pub async fn accept(
    ctx: &Ctx,
    req: AcceptOrderRequest,
    who: Who,
) -> Result<AcceptOrderResponse, Status> {
    const METHOD: &str = "AcceptOrder";
    let mut inv = FieldViolations::new();
    let order_id = inv.uuid("order_id", &req.order_id);
    fields::text(&mut inv, "reason", &req.reason, 0, 500);
    idempotency::parse_request_id(&req.request_id)?;
    inv.finish_in(ctx.errors())?;
    if let Some(r) = replayed(ctx, METHOD, &req.request_id, &req).await? {
        return Ok(r);
    }
    let order_id = order_id.expect("validated");
    let current = crate::ownership::order_of_party(ctx, who, order_id, Need::Supplier).await?;
    records::check_etag(ctx, &current, &req.etag)?;
    let from = super::status_of(&current);
    status::next(from, facts(&current), Action::Accept { modified: false })
        .map_err(|i| ctx.illegal(&current.order_id, i))?;
    let mask: Vec<String> = req
        .update_mask
        .as_ref()
        .map(|m| m.paths.clone())
        .unwrap_or_default();
    // Accepting may change what the buyer could not settle: as in AWAITING_BUYER_CONFIRMATION.
    let allowed = paths::allowed_paths(
        OrderKind::TradeAssurance,
        OrderStatus::AwaitingBuyerConfirmation,
        false,
    )
    .ok_or_else(|| internal("no paths for a confirmation"))?;
    check_mask(ctx, &mask, allowed, "update_mask", true)?;
    modification::check_inspection_unpaid(ctx, &current, &mask)?;
    let incoming = req.order.clone().unwrap_or_default();
    let (mut next, changes) = modification::apply_mask(&current, &incoming, &mask)?;
    let name = |p: &str| format!("order.{p}");
    // Every drafting rule again, the supplier's admission included; the export method is
    // required now.
    modification::check_trade(ctx, &mut next, &current, true, &name).await?;
    let modified = !changes.is_empty();
    let to = status::next(from, facts(&current), Action::Accept { modified })
        .map_err(|i| ctx.illegal(&current.order_id, i))?;
    let now = ctx.now();
    let request_id = req.request_id.clone();
    let reason = req.reason.clone();
    let version = current.etag.clone();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        METHOD,
        &req.request_id,
        &req,
        |mut tx| async move {
            let locked = records::lock(&mut tx, ctx, order_id).await?;
            records::check_etag(ctx, &locked, &version)?;
            next.status = to as i32;
            records::save(&mut tx, &mut next, now).await?;
            let event = Event::new(
                OrderEventType::Accepted,
                actor(ActorType::Supplier, who.subject, &next.supplier_account_id),
                from,
                to,
                &request_id,
            )
            .reason(&reason)
            .changes(changes);
            events::append(&mut tx, &next, event, now).await?;
            Ok((AcceptOrderResponse { order: Some(next) }, tx))
        },
    )
    .await
}

/// RejectOrder.
pub async fn reject(
    ctx: &Ctx,
    req: RejectOrderRequest,
    who: Who,
) -> Result<RejectOrderResponse, Status> {
    const METHOD: &str = "RejectOrder";
    let mut inv = FieldViolations::new();
    let order_id = inv.uuid("order_id", &req.order_id);
    fields::text(&mut inv, "reason_text", &req.reason_text, 0, 500);
    idempotency::parse_request_id(&req.request_id)?;
    inv.finish_in(ctx.errors())?;
    let order_id = order_id.expect("validated");
    let standing = ownership::require_by_id(ctx, who, order_id, rejecting_party).await?;
    let now = ctx.now();
    let request_id = req.request_id.clone();
    let reason = req.reason_text.clone();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        METHOD,
        &req.request_id,
        &req,
        |mut tx| async move {
            let mut o = records::lock(&mut tx, ctx, order_id).await?;
            // The awaited party may have changed since the check.
            ownership::again(ctx, standing, &o, rejecting_party(&o))?;
            let from = super::status_of(&o);
            let (action, close_reason, by, party) =
                if from == OrderStatus::AwaitingSupplierAcceptance {
                    (
                        Action::SupplierReject,
                        CloseReason::RejectedBySupplier,
                        ActorType::Supplier,
                        o.supplier_account_id.clone(),
                    )
                } else {
                    (
                        Action::BuyerReject,
                        CloseReason::RejectedByBuyer,
                        ActorType::Buyer,
                        o.buyer_account_id.clone(),
                    )
                };
            let to =
                status::next(from, facts(&o), action).map_err(|i| ctx.illegal(&o.order_id, i))?;
            o.status = to as i32;
            close(&mut o, close_reason, now);
            records::save(&mut tx, &mut o, now).await?;
            let event = Event::new(
                OrderEventType::Rejected,
                actor(by, who.subject, &party),
                from,
                to,
                &request_id,
            )
            .reason(&reason);
            events::append(&mut tx, &o, event, now).await?;
            Ok((RejectOrderResponse { order: Some(o) }, tx))
        },
    )
    .await
}

/// ConfirmOrder.
pub async fn confirm(
    ctx: &Ctx,
    req: ConfirmOrderRequest,
    who: Who,
) -> Result<ConfirmOrderResponse, Status> {
    const METHOD: &str = "ConfirmOrder";
    let mut inv = FieldViolations::new();
    let order_id = inv.uuid("order_id", &req.order_id);
    if req.etag.is_empty() {
        inv.add(
            "etag",
            "is required: the version whose terms the buyer confirms",
        );
    }
    idempotency::parse_request_id(&req.request_id)?;
    inv.finish_in(ctx.errors())?;
    let order_id = order_id.expect("validated");
    ownership::require_by_id(ctx, who, order_id, |_| Need::Buyer).await?;
    let now = ctx.now();
    let request_id = req.request_id.clone();
    let etag = req.etag.clone();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        METHOD,
        &req.request_id,
        &req,
        |mut tx| async move {
            let mut o = records::lock(&mut tx, ctx, order_id).await?;
            let from = super::status_of(&o);
            let to = status::next(from, facts(&o), Action::Confirm)
                .map_err(|i| ctx.illegal(&o.order_id, i))?;
            records::check_etag(ctx, &o, &etag)?;
            o.status = to as i32;
            // The confirming buyer (checked: known by its verified email) becomes the
            // order's buyer account when none was known.
            if o.buyer_account_id.is_empty()
                && let Some(s) = who.checked()
            {
                o.buyer_account_id = s.to_string();
            }
            records::save(&mut tx, &mut o, now).await?;
            let event = Event::new(
                OrderEventType::Confirmed,
                actor(ActorType::Buyer, who.subject, &o.buyer_account_id),
                from,
                to,
                &request_id,
            );
            events::append(&mut tx, &o, event, now).await?;
            Ok((ConfirmOrderResponse { order: Some(o) }, tx))
        },
    )
    .await
}

/// CancelOrder.
pub async fn cancel(
    ctx: &Ctx,
    req: CancelOrderRequest,
    who: Who,
) -> Result<CancelOrderResponse, Status> {
    const METHOD: &str = "CancelOrder";
    let mut inv = FieldViolations::new();
    let order_id = inv.uuid("order_id", &req.order_id);
    fields::text(&mut inv, "reason_text", &req.reason_text, 0, 500);
    idempotency::parse_request_id(&req.request_id)?;
    inv.finish_in(ctx.errors())?;
    if let Some(r) = replayed(ctx, METHOD, &req.request_id, &req).await? {
        return Ok(r);
    }
    let order_id = order_id.expect("validated");
    let current = crate::ownership::order_of_party(ctx, who, order_id, Need::Either).await?;
    status::next(super::status_of(&current), facts(&current), Action::Cancel)
        .map_err(|i| ctx.illegal(&current.order_id, i))?;
    check_not_paying(ctx, &current).await?;
    let now = ctx.now();
    let request_id = req.request_id.clone();
    let reason = req.reason_text.clone();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        METHOD,
        &req.request_id,
        &req,
        |mut tx| async move {
            let mut o = records::lock(&mut tx, ctx, order_id).await?;
            if !o.pending_payment_id.is_empty() {
                return Err(ctx.refuse(
                    super::ORDER_PAYMENT_IN_PROGRESS,
                    "a payment holds the order",
                    &[
                        ("order_id", o.order_id.clone()),
                        ("payment_id", o.pending_payment_id.clone()),
                    ],
                ));
            }
            let from = super::status_of(&o);
            let to = status::next(from, facts(&o), Action::Cancel)
                .map_err(|i| ctx.illegal(&o.order_id, i))?;
            let by_supplier = match who.subject {
                Some(s) => s.to_string() == o.supplier_account_id,
                None => o.kind != OrderKind::Marketplace as i32,
            };
            let (why, by, party) = if by_supplier {
                (
                    CloseReason::CancelledBySupplier,
                    ActorType::Supplier,
                    o.supplier_account_id.clone(),
                )
            } else {
                (
                    CloseReason::CancelledByBuyer,
                    ActorType::Buyer,
                    o.buyer_account_id.clone(),
                )
            };
            o.status = to as i32;
            close(&mut o, why, now);
            records::save(&mut tx, &mut o, now).await?;
            let event = Event::new(
                OrderEventType::Cancelled,
                actor(by, who.subject, &party),
                from,
                to,
                &request_id,
            )
            .reason(&reason);
            events::append(&mut tx, &o, event, now).await?;
            Ok((CancelOrderResponse { order: Some(o) }, tx))
        },
    )
    .await
}

/// Closes every unpaid marketplace order past its payment deadline (not held by a
/// payment); returns how many.
pub async fn expire_due(ctx: &Ctx) -> Result<usize, Status> {
    let now = ctx.now();
    let due = crate::store::orders::unpaid_expired(&ctx.svc.pool, OrderStatus::Unpaid as i16, now)
        .await
        .map_err(internal)?;
    let mut closed = 0;
    for id in due {
        let mut tx = ctx.svc.pool.begin().await.map_err(internal)?;
        let mut o = records::lock(&mut tx, ctx, id).await?;
        let due_now = o
            .expire_time
            .as_ref()
            .and_then(time::from_proto)
            .is_some_and(|t| t <= now);
        if !due_now || !o.pending_payment_id.is_empty() {
            continue;
        }
        let from = super::status_of(&o);
        let Ok(to) = status::next(from, facts(&o), Action::ExpireUnpaid) else {
            continue;
        };
        o.status = to as i32;
        close(&mut o, CloseReason::PaymentTimeout, now);
        records::save(&mut tx, &mut o, now).await?;
        let event = Event::new(
            OrderEventType::Expired,
            actor(ActorType::System, None, ""),
            from,
            to,
            "",
        );
        events::append(&mut tx, &o, event, now).await?;
        tx.commit().await.map_err(internal)?;
        closed += 1;
    }
    Ok(closed)
}
