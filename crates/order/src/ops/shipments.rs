//! Shipment batches (AddShipment) with logistics proof, and their delivery
//! (MarkShipmentDelivered). The order is PARTIALLY_SHIPPED until everything is shipped,
//! then SHIPPED (auto-confirmation starts), then AWAITING_RECEIPT once every batch arrived.

use kuajing_platform::FieldViolations;
use kuajing_platform::{idempotency, time};
use kuajing_proto::order::v1::{
    ActorType, AddShipmentRequest, AddShipmentResponse, MarkShipmentDeliveredRequest,
    MarkShipmentDeliveredResponse, OrderEventType, OrderStatus, Shipment, ShipmentStatus,
    ShippingMethod,
};
use kuajing_proto::reasons::order as reasons;
use tonic::Status;
use uuid::Uuid;

use super::events::{self, Event};
use super::fields;
use super::receipt::facts;
use super::{Ctx, actor, records, replayed};
use crate::domain::shipping::{self, BatchRefusal, LineState};
use crate::domain::status::{self, Action};
use crate::ownership::{self, Who};

/// Reason: offline shipping without carrier, tracking number and proof.
pub use kuajing_proto::reasons::order::LOGISTICS_PROOF_REQUIRED;
/// Reason: the batch was delivered at another time.
pub use kuajing_proto::reasons::order::SHIPMENT_ALREADY_DELIVERED;
/// Reason: the order has the maximum number of batches.
pub use kuajing_proto::reasons::order::SHIPMENT_LIMIT_REACHED;
/// Reason: shipped before the order was drafted.
pub use kuajing_proto::reasons::order::SHIPMENT_PREDATES_ORDER;
/// Reason: more than remains to ship.
pub use kuajing_proto::reasons::order::SHIPMENT_QUANTITY_EXCEEDS_ORDER;

/// Checks a shipment batch's fields into `inv` (every violation at once); answers its
/// items (line id, quantity) and its ship time when given and not in the future.
fn check_batch(
    inv: &mut FieldViolations,
    shipment: Option<&Shipment>,
    now: chrono::DateTime<chrono::Utc>,
) -> (Vec<(String, i64)>, Option<chrono::DateTime<chrono::Utc>>) {
    let mut ship_time = None;
    let mut items = Vec::new();
    match shipment {
        None => inv.add("shipment", "is required"),
        Some(s) => {
            for (i, it) in s.items.iter().enumerate() {
                inv.uuid(&format!("shipment.items[{i}].line_id"), &it.line_id);
                if it.quantity <= 0 {
                    inv.add(format!("shipment.items[{i}].quantity"), "must be positive");
                }
                items.push((it.line_id.clone(), it.quantity));
            }
            if ShippingMethod::try_from(s.shipping_method).unwrap_or(ShippingMethod::Unspecified)
                == ShippingMethod::Unspecified
            {
                inv.add("shipment.shipping_method", "is required");
            }
            fields::text(
                inv,
                "shipment.logistics_order_id",
                &s.logistics_order_id,
                0,
                64,
            );
            fields::text(inv, "shipment.carrier_name", &s.carrier_name, 0, 128);
            fields::text(inv, "shipment.tracking_number", &s.tracking_number, 0, 64);
            if s.proof_file_refs.len() > 10 {
                inv.add("shipment.proof_file_refs", "at most 10 files");
            }
            for (i, f) in s.proof_file_refs.iter().enumerate() {
                fields::text(inv, &format!("shipment.proof_file_refs[{i}]"), f, 1, 512);
            }
            if !shipping::proof_ok(
                &s.logistics_order_id,
                &s.carrier_name,
                &s.tracking_number,
                s.proof_file_refs.len(),
            ) {
                inv.named(
                    LOGISTICS_PROOF_REQUIRED,
                    "shipment.proof_file_refs",
                    "give a logistics order, or a carrier, a tracking number and a proof document",
                );
            }
            match s.ship_time.as_ref().map(time::from_proto) {
                Some(Some(t)) if t <= now => ship_time = Some(t),
                Some(Some(_)) => inv.add("shipment.ship_time", "must not be in the future"),
                _ => inv.add("shipment.ship_time", "is required"),
            }
        }
    }
    (items, ship_time)
}

/// AddShipment.
pub async fn add(
    ctx: &Ctx,
    req: AddShipmentRequest,
    who: Who,
) -> Result<AddShipmentResponse, Status> {
    const METHOD: &str = "AddShipment";
    let mut inv = FieldViolations::new();
    let order_id = inv.uuid("order_id", &req.order_id);
    let now = ctx.now();
    let (items, ship_time) = check_batch(&mut inv, req.shipment.as_ref(), now);
    idempotency::parse_request_id(&req.request_id)?;
    inv.finish_in(ctx.errors())?;
    if let Some(r) = replayed(ctx, METHOD, &req.request_id, &req).await? {
        return Ok(r);
    }
    let (order_id, ship_time) = (order_id.expect("validated"), ship_time.expect("validated"));
    let input = req.shipment.clone().unwrap_or_default();
    let request_id = req.request_id.clone();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        METHOD,
        &req.request_id,
        &req,
        |mut tx| async move {
            let mut o = records::lock(&mut tx, ctx, order_id).await?;
            ownership::require_supplier(ctx, who, &o)?;
            let from = super::status_of(&o);
            status::next(from, facts(&o), Action::Ship { complete: false })
                .map_err(|i| ctx.illegal(&o.order_id, i))?;
            let lines: Vec<LineState> = o
                .lines
                .iter()
                .map(|l| LineState {
                    line_id: l.line_id.clone(),
                    quantity: l.quantity,
                    shipped: l.shipped_quantity,
                })
                .collect();
            let created = o
                .create_time
                .as_ref()
                .and_then(time::from_proto)
                .unwrap_or(now);
            let (shipped, complete) = shipping::apply_batch(
                &lines,
                &items,
                input.final_batch,
                o.shipments.len(),
                ship_time,
                created,
                now,
            )
            .map_err(|e| refusal(ctx, &o.order_id, e))?;
            let to = status::next(from, facts(&o), Action::Ship { complete })
                .map_err(|i| ctx.illegal(&o.order_id, i))?;
            for (l, s) in o.lines.iter_mut().zip(shipped) {
                l.shipped_quantity = s;
            }
            let shipment_id = Uuid::now_v7();
            let shipment = Shipment {
                shipment_id: shipment_id.to_string(),
                batch_number: i32::try_from(o.shipments.len() + 1).unwrap_or(i32::MAX),
                items: input.items.clone(),
                shipping_method: input.shipping_method,
                logistics_order_id: input.logistics_order_id.clone(),
                carrier_name: input.carrier_name.clone(),
                tracking_number: input.tracking_number.clone(),
                proof_file_refs: input.proof_file_refs.clone(),
                final_batch: input.final_batch,
                status: ShipmentStatus::InTransit as i32,
                ship_time: Some(time::to_proto(ship_time)),
                deliver_time: None,
                create_time: Some(time::to_proto(now)),
            };
            if o.shipments.is_empty() {
                let deadline = super::pricing::trade(&o)
                    .and_then(|t| t.shipping_terms.as_ref())
                    .and_then(|s| s.ship_by_time.as_ref())
                    .and_then(time::from_proto);
                o.shipped_late = crate::domain::drafting::shipped_late(ship_time, deadline);
            }
            o.shipments.push(shipment.clone());
            o.status = to as i32;
            if to == OrderStatus::Shipped {
                o.ship_time = Some(time::to_proto(now));
                o.auto_confirm_time = Some(time::to_proto(now + ctx.settings.auto_confirm_after));
            }
            records::save(&mut tx, &mut o, now).await?;
            let event = Event::new(
                OrderEventType::ShipmentAdded,
                actor(ActorType::Supplier, who.subject, &o.supplier_account_id),
                from,
                to,
                &request_id,
            )
            .related("shipment_id", shipment_id);
            events::append(&mut tx, &o, event, now).await?;
            Ok((
                AddShipmentResponse {
                    shipment: Some(shipment),
                    order: Some(o),
                },
                tx,
            ))
        },
    )
    .await
}

fn refusal(ctx: &Ctx, order_id: &str, e: BatchRefusal) -> Status {
    let field = |k: usize, f: &str| format!("shipment.items[{k}].{f}");
    let subject = format!("orders/{order_id}");
    match e {
        BatchRefusal::NoItems => ctx.errors().invalid(
            reasons::SHIPMENT_ITEMS_REQUIRED,
            "shipment.items",
            "name the lines and quantities shipped",
        ),
        BatchRefusal::ItemsWithoutLines => ctx.errors().invalid(
            reasons::SHIPMENT_ITEMS_UNEXPECTED,
            "shipment.items",
            "the order has no lines; mark the final batch instead",
        ),
        BatchRefusal::UnknownLine(k) => ctx.errors().invalid(
            reasons::UNKNOWN_LINE,
            &field(k, "line_id"),
            "is not a line of the order",
        ),
        BatchRefusal::DuplicateLine(k) => ctx.errors().invalid(
            reasons::DUPLICATE_LINE,
            &field(k, "line_id"),
            "appears twice in the batch",
        ),
        BatchRefusal::QuantityNotPositive(k) => ctx.errors().invalid(
            reasons::QUANTITY_NOT_POSITIVE,
            &field(k, "quantity"),
            "must be positive",
        ),
        BatchRefusal::ExceedsOrder(k, remaining) => ctx.errors().invalid(
            SHIPMENT_QUANTITY_EXCEEDS_ORDER,
            &field(k, "quantity"),
            &format!("only {remaining} remain to ship"),
        ),
        BatchRefusal::InTheFuture => ctx.errors().invalid(
            reasons::SHIP_TIME_IN_FUTURE,
            "shipment.ship_time",
            "must not be in the future",
        ),
        BatchRefusal::PredatesOrder => ctx.errors().precondition(
            SHIPMENT_PREDATES_ORDER,
            subject,
            "the goods shipped before the order was drafted",
        ),
        BatchRefusal::TooManyBatches => ctx.errors().precondition(
            SHIPMENT_LIMIT_REACHED,
            subject,
            format!("an order has at most {} batches", shipping::MAX_BATCHES),
        ),
        BatchRefusal::ProofRequired => ctx.errors().invalid(
            LOGISTICS_PROOF_REQUIRED,
            "shipment.proof_file_refs",
            "logistics proof is required",
        ),
    }
}

/// MarkShipmentDelivered's input checked: the order, the batch, and a delivery time not in
/// the future.
fn check_delivery(
    ctx: &Ctx,
    req: &MarkShipmentDeliveredRequest,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Uuid, Uuid, chrono::DateTime<chrono::Utc>), Status> {
    let mut inv = FieldViolations::new();
    let order_id = inv.uuid("order_id", &req.order_id);
    let shipment_id = inv.uuid("shipment_id", &req.shipment_id);
    let deliver_time = match req.deliver_time.as_ref().map(time::from_proto) {
        Some(Some(t)) if t <= now => Some(t),
        Some(Some(_)) => {
            inv.add("deliver_time", "must not be in the future");
            None
        }
        _ => {
            inv.add("deliver_time", "is required");
            None
        }
    };
    if req.proof_file_refs.len() > 10 {
        inv.add("proof_file_refs", "at most 10 files");
    }
    for (i, f) in req.proof_file_refs.iter().enumerate() {
        fields::text(&mut inv, &format!("proof_file_refs[{i}]"), f, 1, 512);
    }
    idempotency::parse_request_id(&req.request_id)?;
    inv.finish_in(ctx.errors())?;
    Ok((
        order_id.expect("validated"),
        shipment_id.expect("validated"),
        deliver_time.expect("validated"),
    ))
}

/// MarkShipmentDelivered.
pub async fn deliver(
    ctx: &Ctx,
    req: MarkShipmentDeliveredRequest,
    who: Who,
) -> Result<MarkShipmentDeliveredResponse, Status> {
    const METHOD: &str = "MarkShipmentDelivered";
    let now = ctx.now();
    let (order_id, shipment_id, deliver_time) = check_delivery(ctx, &req, now)?;
    if let Some(r) = replayed(ctx, METHOD, &req.request_id, &req).await? {
        return Ok(r);
    }
    let request_id = req.request_id.clone();
    let proofs = req.proof_file_refs.clone();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        METHOD,
        &req.request_id,
        &req,
        |mut tx| async move {
            let mut o = records::lock(&mut tx, ctx, order_id).await?;
            ownership::require_supplier(ctx, who, &o)?;
            let from = super::status_of(&o);
            let sid = shipment_id.to_string();
            let k = o
                .shipments
                .iter()
                .position(|s| s.shipment_id == sid)
                .ok_or_else(|| ctx.errors().not_found("shipment", sid.clone()))?;
            let s = &o.shipments[k];
            let delivered = s.status == ShipmentStatus::Delivered as i32;
            if delivered {
                let same = s.deliver_time.as_ref().and_then(time::from_proto) == Some(deliver_time);
                if !same {
                    return Err(ctx.errors().precondition(
                        SHIPMENT_ALREADY_DELIVERED,
                        format!("shipments/{sid}"),
                        "the batch was delivered at another time",
                    ));
                }
            }
            if s.ship_time
                .as_ref()
                .and_then(time::from_proto)
                .is_some_and(|t| deliver_time < t)
            {
                return Err(ctx.errors().invalid(
                    reasons::DELIVER_BEFORE_SHIP,
                    "deliver_time",
                    "must not be before the batch's ship_time",
                ));
            }
            let all = o
                .shipments
                .iter()
                .enumerate()
                .all(|(i, s)| i == k || s.status == ShipmentStatus::Delivered as i32);
            let to = status::next(from, facts(&o), Action::Deliver { all_delivered: all })
                .map_err(|i| ctx.illegal(&o.order_id, i))?;
            let s = &mut o.shipments[k];
            s.status = ShipmentStatus::Delivered as i32;
            s.deliver_time = Some(time::to_proto(deliver_time));
            s.proof_file_refs.extend(proofs);
            s.proof_file_refs.truncate(10);
            let shipment = s.clone();
            o.status = to as i32;
            if !delivered || to != from {
                records::save(&mut tx, &mut o, now).await?;
                let event = Event::new(
                    OrderEventType::ShipmentDelivered,
                    actor(ActorType::Supplier, who.subject, &o.supplier_account_id),
                    from,
                    to,
                    &request_id,
                )
                .related("shipment_id", shipment_id);
                events::append(&mut tx, &o, event, now).await?;
            }
            Ok((
                MarkShipmentDeliveredResponse {
                    shipment: Some(shipment),
                    order: Some(o),
                },
                tx,
            ))
        },
    )
    .await
}
