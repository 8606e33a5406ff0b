//! Modifying orders (修改订单, UpdateOrder; also the modifications of AcceptOrder): the
//! paths of the field mask are copied from the request's order onto the current one
//! (generically, through the contract's descriptors), every drafting rule is checked again,
//! totals and fees are recomputed, and each changed path is audited with its old and new
//! value as proto3 JSON.

use kuajing_platform::FieldViolations;
use kuajing_proto::reasons::order as reasons;
use std::collections::HashMap;
use std::sync::OnceLock;

use kuajing_platform::error::internal;
use kuajing_platform::{Currency, idempotency};
use kuajing_proto::order::v1::{
    ActorType, FieldChange, Order, OrderEventType, OrderKind, OrderStatus, UpdateOrderRequest,
    UpdateOrderResponse, order,
};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, ReflectMessage, Value};
use rust_decimal::Decimal;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use uuid::Uuid;

use super::events::{self, Event};
use super::fields;
use super::pricing::{self, money};
use super::receipt::facts;
use super::trade_rules::{self, Parties};
use super::{Ctx, ORDER_PAYMENT_IN_PROGRESS, actor, records, replayed, wallet_ops};
use crate::domain::drafting::ShipBy;
use crate::domain::modification as rules;
use crate::domain::status::{self, Action, Illegal};
use crate::ownership::{self, Need, Who};

/// Reason: the buyer's email never changes.
pub use kuajing_proto::reasons::order::BUYER_EMAIL_IMMUTABLE;
/// Reason: a path may not be modified in the status.
pub use kuajing_proto::reasons::order::FIELD_NOT_MODIFIABLE;
/// Reason: the status allows no modification.
pub use kuajing_proto::reasons::order::ORDER_NOT_MODIFIABLE;

fn order_descriptor() -> Result<MessageDescriptor, Status> {
    static POOL: OnceLock<Option<DescriptorPool>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(kuajing_proto::FILE_DESCRIPTOR_SET).ok())
        .as_ref()
        .and_then(|p| p.get_message_by_name("kuajing.order.v1.Order"))
        .ok_or_else(|| internal("the Order descriptor is missing"))
}

fn dynamic(o: &Order) -> Result<DynamicMessage, Status> {
    DynamicMessage::decode(order_descriptor()?, o.encode_to_vec().as_slice()).map_err(internal)
}

/// The message at `path` (all but its last segment), if set along the way.
fn parent<'m>(
    m: &'m DynamicMessage,
    segments: &[&str],
) -> Option<std::borrow::Cow<'m, DynamicMessage>> {
    let mut cur = std::borrow::Cow::Borrowed(m);
    for seg in segments {
        if !cur.has_field_by_name(seg) {
            return None;
        }
        let next = match cur.get_field_by_name(seg)?.as_message() {
            Some(msg) => msg.clone(),
            None => return None,
        };
        cur = std::borrow::Cow::Owned(next);
    }
    Some(cur)
}

/// The proto3 JSON of the field at `path` ("" when unset).
fn field_json(m: &DynamicMessage, path: &str) -> String {
    let segments: Vec<&str> = path.split('.').collect();
    let (last, init) = segments.split_last().expect("a path has a segment");
    let Some(p) = parent(m, init) else {
        return String::new();
    };
    if !p.has_field_by_name(last) {
        return String::new();
    }
    let Some(value) = p.get_field_by_name(last) else {
        return String::new();
    };
    let desc = p.descriptor();
    let Some(field) = desc.get_field_by_name(last) else {
        return String::new();
    };
    let mut only = DynamicMessage::new(desc);
    only.set_field_by_name(last, value.into_owned());
    // `{"jsonName":VALUE}` in the contract's field order; keep VALUE.
    let Ok(text) = serde_json::to_string(&only) else {
        return String::new();
    };
    let Ok(key) = serde_json::to_string(field.json_name()) else {
        return String::new();
    };
    text.strip_prefix('{')
        .and_then(|t| t.strip_prefix(key.as_str()))
        .and_then(|t| t.strip_prefix(':'))
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or_default()
        .to_owned()
}

/// Copies `path` from `from` onto `to` (clearing it when `from` has it unset).
fn copy_path(to: &mut DynamicMessage, from: &DynamicMessage, path: &str) {
    let segments: Vec<&str> = path.split('.').collect();
    let (last, init) = segments.split_last().expect("a path has a segment");
    let source = parent(from, init);
    let mut target = to;
    for seg in init {
        let Some(Value::Message(next)) = target.get_field_by_name_mut(seg) else {
            return;
        };
        target = next;
    }
    match source {
        Some(p) if p.has_field_by_name(last) => {
            if let Some(v) = p.get_field_by_name(last) {
                target.set_field_by_name(last, v.into_owned());
            }
        }
        _ => target.clear_field_by_name(last),
    }
}

/// Refuses a change to an inspection the buyer has paid for (FIELD_NOT_MODIFIABLE): the
/// service paid for is the one performed.
pub fn check_inspection_unpaid(ctx: &Ctx, current: &Order, paths: &[String]) -> Result<(), Status> {
    let paid = super::pricing::trade(current)
        .and_then(|t| t.inspection.as_ref())
        .is_some_and(|i| i.paid_time.is_some());
    if paid && paths.iter().any(|p| p.starts_with("trade.inspection")) {
        return Err(ctx.refuse(
            FIELD_NOT_MODIFIABLE,
            "the inspection service is paid for: it no longer changes",
            &[("order_id", current.order_id.clone())],
        ));
    }
    Ok(())
}

/// The order with `paths` taken from `incoming`, and the audit of what changed. What the
/// inspection's payment recorded (output only) stays as it is.
pub fn apply_mask(
    current: &Order,
    incoming: &Order,
    paths: &[String],
) -> Result<(Order, Vec<FieldChange>), Status> {
    // The payment's record is the order's, never the caller's.
    let mut incoming = incoming.clone();
    let paid = super::pricing::trade(current).and_then(|t| t.inspection.as_ref());
    if let Some(i) = super::pricing::trade_mut(&mut incoming).and_then(|t| t.inspection.as_mut()) {
        i.paid_time = paid.and_then(|p| p.paid_time);
        i.fee_journal_entry_id = paid
            .map(|p| p.fee_journal_entry_id.clone())
            .unwrap_or_default();
    }
    let before = dynamic(current)?;
    let from = dynamic(&incoming)?;
    let mut after = before.clone();
    for p in paths {
        copy_path(&mut after, &from, p);
    }
    let changes = paths
        .iter()
        .map(|p| FieldChange {
            path: p.clone(),
            old_value_json: field_json(&before, p),
            new_value_json: field_json(&after, p),
        })
        .filter(|c| c.old_value_json != c.new_value_json)
        .collect();
    let order = after.transcode_to::<Order>().map_err(internal)?;
    Ok((order, changes))
}

/// Checks a mask against the status: INVALID_ARGUMENT for an empty or unknown path or the
/// buyer's email, FAILED_PRECONDITION / FIELD_NOT_MODIFIABLE (one violation per path).
pub fn check_mask(
    ctx: &Ctx,
    paths: &[String],
    allowed: &[&str],
    field: &str,
    allow_empty: bool,
) -> Result<(), Status> {
    let mut inv = FieldViolations::new();
    if paths.is_empty() && !allow_empty {
        inv.add(field, "name at least one path");
    }
    for (i, p) in paths.iter().enumerate() {
        if p == rules::BUYER_EMAIL {
            inv.named(
                BUYER_EMAIL_IMMUTABLE,
                format!("{field}.paths[{i}]"),
                "the buyer's email cannot change after drafting",
            );
        } else if !rules::known(p) {
            inv.add(
                format!("{field}.paths[{i}]"),
                format!("{p:?} is not a modifiable path"),
            );
        }
    }
    inv.finish_in(ctx.errors())?;
    let refused: Vec<&String> = paths
        .iter()
        .filter(|p| !rules::path_allowed(p, allowed))
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    let mut details = ErrorDetails::with_error_info(
        FIELD_NOT_MODIFIABLE,
        ctx.errors().0,
        HashMap::from([(
            "paths".to_owned(),
            refused
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(","),
        )]),
    );
    for p in &refused {
        details.add_precondition_failure_violation(
            "FIELD",
            (*p).clone(),
            format!("{p} cannot be modified now"),
        );
    }
    Err(Status::with_error_details(
        Code::FailedPrecondition,
        "some fields cannot be modified in this status",
        details,
    ))
}

/// Checks a modified marketplace order (lines, logistics) and recomputes its totals.
fn check_marketplace(ctx: &Ctx, o: &mut Order, previous: &Order) -> Result<(), Status> {
    let cny = Currency::CNY;
    let mut inv = FieldViolations::new();
    let name = |p: &str| format!("order.{p}");
    if o.lines.is_empty() {
        inv.add("order.lines", "at least one line is required");
    }
    let goods = fields::lines(&mut inv, &name, &mut o.lines, &previous.lines, cny, true);
    let mut freight = Some(Decimal::ZERO);
    if let Some(order::Details::Marketplace(m)) = o.details.as_mut() {
        match m.logistics.as_mut() {
            None => inv.add("order.marketplace.logistics", "is required"),
            Some(l) => {
                fields::text(
                    &mut inv,
                    "order.marketplace.logistics.option_code",
                    &l.option_code,
                    1,
                    64,
                );
                fields::address(
                    &mut inv,
                    "order.marketplace.logistics.delivery_address",
                    l.delivery_address.as_ref(),
                );
                freight = fields::money_in(
                    &mut inv,
                    "order.marketplace.logistics.freight",
                    l.freight.as_ref(),
                    cny,
                    false,
                    false,
                );
                l.freight = Some(money(cny, freight.unwrap_or_default()));
            }
        }
    }
    inv.finish_in(ctx.errors())?;
    let goods = goods.ok_or_else(|| internal("lines checked without an amount"))?;
    let total = crate::domain::goods::total(goods, freight.unwrap_or_default(), Decimal::ZERO)
        .ok_or_else(|| {
            ctx.errors().invalid(
                reasons::TOTAL_TOO_LARGE,
                "order.lines",
                "the order total is too large",
            )
        })?;
    o.goods_amount = Some(money(cny, goods));
    o.total_amount = Some(money(cny, total));
    o.fees = Some(pricing::breakdown(Vec::new(), total, cny));
    Ok(())
}

/// Checks a modified trade order (every drafting rule) and recomputes totals and fees.
pub async fn check_trade(
    ctx: &Ctx,
    o: &mut Order,
    previous: &Order,
    export_required: bool,
    name: fields::Namer<'_>,
) -> Result<(), Status> {
    let mut inv = FieldViolations::new();
    let rule: Option<ShipBy> = trade_rules::check_fields(
        ctx,
        &mut inv,
        name,
        o,
        Some(previous),
        trade_rules::Checks {
            export_required,
            buyer_email_optional: false,
        },
        ctx.now(),
    );
    inv.finish_in(ctx.errors())?;
    let parties: Parties = trade_rules::parties(ctx, o, ctx.now()).await?;
    trade_rules::check_rules(ctx, o, rule, &parties).await
}

/// Refuses a modification while money is on its way into the order.
pub async fn check_not_paying(ctx: &Ctx, o: &Order) -> Result<(), Status> {
    if !o.pending_payment_id.is_empty() {
        return Err(ctx.refuse(
            ORDER_PAYMENT_IN_PROGRESS,
            "a payment holds the order",
            &[
                ("order_id", o.order_id.clone()),
                ("payment_id", o.pending_payment_id.clone()),
            ],
        ));
    }
    let id = Uuid::try_parse(&o.order_id).map_err(internal)?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    if wallet_ops::has_pending(&mut conn, id, wallet_ops::Kind::Link).await? {
        return Err(ctx.refuse(
            ORDER_PAYMENT_IN_PROGRESS,
            "a remittance is being linked to the order",
            &[("order_id", o.order_id.clone())],
        ));
    }
    Ok(())
}

/// UpdateOrder's input checked: the order id and the paths of its update mask.
fn check_update(ctx: &Ctx, req: &UpdateOrderRequest) -> Result<(Uuid, Vec<String>), Status> {
    let mut inv = FieldViolations::new();
    let order_id = inv.uuid("order_id", &req.order_id);
    fields::text(&mut inv, "reason", &req.reason, 0, 500);
    let paths: Vec<String> = req
        .update_mask
        .as_ref()
        .map(|m| m.paths.clone())
        .unwrap_or_default();
    if paths.is_empty() {
        inv.add("update_mask", "name at least one path");
    }
    idempotency::parse_request_id(&req.request_id)?;
    inv.finish_in(ctx.errors())?;
    Ok((order_id.expect("validated"), paths))
}

/// Whether `current` may be modified at `paths` now (its status, no payment in progress,
/// the fields its kind and status allow, an inspection fee not yet paid): the status it
/// moves to.
async fn modifiable(ctx: &Ctx, current: &Order, paths: &[String]) -> Result<OrderStatus, Status> {
    let from = super::status_of(current);
    let kind = OrderKind::try_from(current.kind).unwrap_or(OrderKind::Unspecified);
    let f = facts(current);
    let to = status::next(from, f, Action::Modify)
        .map_err(|i| ctx.state_refusal(ORDER_NOT_MODIFIABLE, &current.order_id, i))?;
    check_not_paying(ctx, current).await?;
    let allowed = rules::allowed_paths(kind, from, f.received_any).ok_or_else(|| {
        ctx.state_refusal(
            ORDER_NOT_MODIFIABLE,
            &current.order_id,
            Illegal {
                status: from,
                action: Action::Modify,
            },
        )
    })?;
    check_mask(ctx, paths, allowed, "update_mask", false)?;
    check_inspection_unpaid(ctx, current, paths)?;
    Ok(to)
}

/// UpdateOrder.
pub async fn update(
    ctx: &Ctx,
    req: UpdateOrderRequest,
    who: Who,
) -> Result<UpdateOrderResponse, Status> {
    const METHOD: &str = "UpdateOrder";
    let (order_id, paths) = check_update(ctx, &req)?;
    if let Some(r) = replayed(ctx, METHOD, &req.request_id, &req).await? {
        return Ok(r);
    }
    let current = {
        let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
        records::load(&mut conn, ctx, order_id).await?
    };
    let from = super::status_of(&current);
    // The drafting buyer modifies its draft until the supplier accepts it; the supplier
    // modifies the order otherwise. The etag is checked again under the lock, so the party
    // cannot change in between.
    let need = if from == OrderStatus::AwaitingSupplierAcceptance {
        Need::Buyer
    } else {
        Need::Supplier
    };
    ownership::require(ctx, who, &current, need).await?;
    records::check_etag(ctx, &current, &req.etag)?;
    let kind = OrderKind::try_from(current.kind).unwrap_or(OrderKind::Unspecified);
    let to = modifiable(ctx, &current, &paths).await?;
    let incoming = req.order.clone().unwrap_or_default();
    let (mut next, changes) = apply_mask(&current, &incoming, &paths)?;
    if kind == OrderKind::Marketplace {
        check_marketplace(ctx, &mut next, &current)?;
    } else {
        let name = |p: &str| format!("order.{p}");
        check_trade(ctx, &mut next, &current, true, &name).await?;
    }
    let now = ctx.now();
    let actor_type = match (kind, from) {
        (_, OrderStatus::AwaitingSupplierAcceptance) => ActorType::Buyer,
        _ => ActorType::Supplier,
    };
    let party = if actor_type == ActorType::Buyer {
        current.buyer_account_id.clone()
    } else {
        current.supplier_account_id.clone()
    };
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
            if locked.etag != version {
                return Err(ctx.refuse_code(
                    Code::Aborted,
                    super::ETAG_MISMATCH,
                    "the order changed while it was being modified; read it again",
                    &[
                        ("order_id", locked.order_id.clone()),
                        ("etag", locked.etag.clone()),
                    ],
                ));
            }
            next.status = to as i32;
            if next.kind != OrderKind::Marketplace as i32 {
                super::trade_rules::recheck_monthly_limit(ctx, &mut tx, &next).await?;
            }
            records::save(&mut tx, &mut next, now).await?;
            let event = Event::new(
                OrderEventType::Modified,
                actor(actor_type, who.subject, &party),
                from,
                to,
                &request_id,
            )
            .reason(&reason)
            .changes(changes);
            let event_id = events::append(&mut tx, &next, event, now).await?;
            Ok((
                UpdateOrderResponse {
                    order: Some(next),
                    event_id: event_id.to_string(),
                },
                tx,
            ))
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use kuajing_proto::order::v1::{PaymentTerms, TradeDetails};
    use kuajing_proto::types::Money;

    fn usd(a: &str) -> Option<Money> {
        Some(Money {
            currency_code: "USD".into(),
            amount: a.into(),
        })
    }

    fn trade(note: &str, prepayment: &str) -> Order {
        Order {
            payment_method: 9,
            details: Some(order::Details::Trade(TradeDetails {
                note: note.into(),
                salesperson: "Sophia".into(),
                payment_terms: Some(PaymentTerms {
                    prepayment: usd(prepayment),
                    ..PaymentTerms::default()
                }),
                ..TradeDetails::default()
            })),
            ..Order::default()
        }
    }

    #[test]
    fn masks_copy_only_their_paths_and_audit_each_change_as_proto3_json() {
        let current = trade("", "750.00");
        let mut incoming = trade("holidays move the date", "1000.00");
        incoming.payment_method = 3;
        if let Some(order::Details::Trade(t)) = incoming.details.as_mut() {
            t.salesperson.clear();
        }
        let paths = vec![
            "trade.note".to_owned(),
            "trade.payment_terms.prepayment".to_owned(),
            "trade.salesperson".to_owned(),
        ];
        let (after, changes) = apply_mask(&current, &incoming, &paths).unwrap();
        let Some(order::Details::Trade(t)) = &after.details else {
            panic!("trade")
        };
        assert_eq!(t.note, "holidays move the date");
        assert_eq!(t.payment_terms.as_ref().unwrap().prepayment, usd("1000.00"));
        assert_eq!(t.salesperson, "", "cleared: the request had it unset");
        assert_eq!(after.payment_method, 9, "not in the mask: kept");
        assert_eq!(changes.len(), 3);
        assert_eq!(changes[0].old_value_json, "");
        assert_eq!(changes[0].new_value_json, r#""holidays move the date""#);
        assert_eq!(
            changes[1].old_value_json,
            r#"{"currencyCode":"USD","amount":"750.00"}"#
        );
        assert_eq!(changes[2].new_value_json, "");
        // An unchanged path is not audited.
        let (_, none) = apply_mask(&current, &current, &paths).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn enums_are_audited_by_name() {
        let current = trade("", "1.00");
        let mut incoming = current.clone();
        if let Some(order::Details::Trade(t)) = incoming.details.as_mut() {
            t.export_method = kuajing_proto::order::v1::ExportMethod::AgentExport as i32;
        }
        let (_, changes) =
            apply_mask(&current, &incoming, &["trade.export_method".to_owned()]).unwrap();
        assert_eq!(changes[0].new_value_json, r#""EXPORT_METHOD_AGENT_EXPORT""#);
    }
}
