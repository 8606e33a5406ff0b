//! Remittance linking (关联外汇, LinkRemittanceToOrder): part or all of an unallocated
//! remittance in the supplier's wallet pays a Trade Assurance / Direct Pay order's
//! prepayment or balance. The link is reserved against what is due in the order's
//! transaction, made by the wallet (LinkRemittance, through the wallet-operation outbox),
//! then applied: the order advances when the prepayment, then the balance, is complete.
//! What the link takes of the supplier's quotas (`quotas`) decides whether wallet releases
//! it to the supplier's available balance or keeps it as guarantee funds.

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::{Currency, FieldViolations, idempotency, time};
use kuajing_proto::order::v1::{
    ActorType, LinkRemittanceToOrderRequest, LinkRemittanceToOrderResponse, Order, OrderEventType,
    OrderKind, OrderStatus, PaymentTarget, RemittanceAllocation,
};
use kuajing_proto::reasons::order as reasons;
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use kuajing_proto::wallet::v1::{
    GetRemittanceRequest, LinkDisposition, LinkRemittanceRequest, OrderPaymentPart, RemittanceLink,
};
use prost::Message;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use tonic::{Code, Status};
use uuid::Uuid;

use super::events::{self, Event};
use super::peers::{self, found};
use super::pricing::{self, amount_of, money};
use super::receipt::{self, facts};
use super::wallet_ops::{self, Answer, Caller, Kind, Op};
use super::{CURRENCY_MISMATCH, Ctx, actor, quotas, records, replayed};
use crate::domain::drafting::{self, ShipBy};
use crate::domain::fees;
use crate::domain::status::{self, Action};
use crate::ownership::{Need, Who};
use crate::rpc;

/// Reason: more than the target still owes.
pub use kuajing_proto::reasons::order::LINK_AMOUNT_EXCEEDS_DUE;
/// Reason: the remittance has not that much unallocated.
pub use kuajing_proto::reasons::order::REMITTANCE_NOT_AVAILABLE;

/// What the prepayment and balance look like after adding `amount` to `target`.
pub struct Dues {
    prepayment: Decimal,
    balance: Decimal,
    prepayment_received: Decimal,
    balance_received: Decimal,
}

/// What the order's prepayment and balance are, and what of each was received.
pub fn dues(o: &Order) -> Dues {
    let t = pricing::trade(o)
        .and_then(|t| t.payment_terms.clone())
        .unwrap_or_default();
    Dues {
        prepayment: amount_of(t.prepayment.as_ref()),
        balance: amount_of(t.balance.as_ref()),
        prepayment_received: amount_of(t.prepayment_received.as_ref()),
        balance_received: amount_of(t.balance_received.as_ref()),
    }
}

impl Dues {
    /// What is still to receive of `target`.
    pub fn due(&self, target: PaymentTarget) -> Decimal {
        match target {
            PaymentTarget::Balance => self.balance - self.balance_received,
            _ => self.prepayment - self.prepayment_received,
        }
    }
}

/// The state-machine action of receiving `amount` for `target`.
pub fn action(d: &Dues, target: PaymentTarget, amount: Decimal) -> Action {
    match target {
        PaymentTarget::Balance => Action::LinkBalance {
            balance_complete: d.balance_received + amount >= d.balance,
        },
        _ => Action::LinkPrepayment {
            prepayment_complete: d.prepayment_received + amount >= d.prepayment,
            balance_settled: d.balance_received >= d.balance,
        },
    }
}

/// A PaymentTarget field: PREPAYMENT or BALANCE.
pub fn payment_target(v: &mut FieldViolations, value: i32) -> Option<PaymentTarget> {
    match PaymentTarget::try_from(value) {
        Ok(t @ (PaymentTarget::Prepayment | PaymentTarget::Balance)) => Some(t),
        _ => {
            v.add(
                "target",
                "must be PAYMENT_TARGET_PREPAYMENT or PAYMENT_TARGET_BALANCE",
            );
            None
        }
    }
}

/// A link asked for, checked against the order and the remittance.
struct Asked {
    request_id: Uuid,
    order_id: Uuid,
    remittance_id: Uuid,
    target: PaymentTarget,
    amount: Decimal,
}

/// LinkRemittanceToOrder.
pub async fn link(
    ctx: &Ctx,
    req: LinkRemittanceToOrderRequest,
    who: Who,
) -> Result<LinkRemittanceToOrderResponse, Status> {
    const METHOD: &str = "LinkRemittanceToOrder";
    let mut inv = FieldViolations::new();
    let order_id = inv.uuid("order_id", &req.order_id);
    let remittance_id = inv.uuid("remittance_id", &req.remittance_id);
    let target = payment_target(&mut inv, req.target);
    let amount = inv.positive_money("amount", req.amount.as_ref());
    let request_id = idempotency::parse_request_id(&req.request_id)?;
    inv.finish_in(ctx.errors())?;
    if let Some(r) = replayed(ctx, METHOD, &req.request_id, &req).await? {
        return Ok(r);
    }
    let amount = amount.expect("validated");
    let asked = Asked {
        request_id,
        order_id: order_id.expect("validated"),
        remittance_id: remittance_id.expect("validated"),
        target: target.expect("validated"),
        amount: amount.amount(),
    };
    {
        let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
        if let Some(op) = wallet_ops::pending_for(&mut conn, METHOD, request_id).await? {
            drop(conn);
            return finish(ctx, op, &req).await;
        }
    }
    let current =
        crate::ownership::order_of_party(ctx, who, asked.order_id, Need::Supplier).await?;
    if current.kind == OrderKind::Marketplace as i32 {
        return Err(ctx.illegal(
            &current.order_id,
            status::Illegal {
                status: super::status_of(&current),
                action: action(&dues(&current), asked.target, asked.amount),
            },
        ));
    }
    let currency = pricing::currency_of(&current)?;
    if amount.currency() != currency {
        return Err(ctx.errors().invalid(
            CURRENCY_MISMATCH,
            "amount.currency_code",
            "must be the order currency",
        ));
    }
    check_remittance(ctx, &current, &asked, currency).await?;
    let op = record(ctx, &current, &asked, currency, &req).await?;
    finish(ctx, op, &req).await
}

/// Checks the remittance a link takes from: in the order currency, in the supplier's
/// wallet, with that much left unallocated.
async fn check_remittance(
    ctx: &Ctx,
    order: &Order,
    asked: &Asked,
    currency: Currency,
) -> Result<(), Status> {
    let remittance = found(rpc!(
        ctx,
        "wallet",
        WalletServiceClient,
        get_remittance,
        GetRemittanceRequest {
            remittance_id: asked.remittance_id.to_string()
        }
    ))?
    .and_then(|r| r.remittance)
    .ok_or_else(|| {
        ctx.errors()
            .not_found("remittance", asked.remittance_id.to_string())
    })?;
    if remittance.amount.as_ref().map(|m| m.currency_code.as_str()) != Some(currency.code()) {
        return Err(ctx.errors().invalid(
            CURRENCY_MISMATCH,
            "remittance_id",
            "the remittance is in another currency than the order",
        ));
    }
    let supplier_wallet = receipt::wallet_of(ctx, &order.supplier_account_id).await?;
    if remittance.wallet_id != supplier_wallet {
        return Err(ctx.refuse_code(
            Code::PermissionDenied,
            reasons::NOT_OWNER,
            "the remittance is not in the supplier's wallet",
            &[
                ("order_id", order.order_id.clone()),
                ("required_party", "SUPPLIER".to_owned()),
            ],
        ));
    }
    let unallocated = amount_of(remittance.unallocated_amount.as_ref());
    if unallocated < asked.amount {
        return Err(ctx.refuse(
            REMITTANCE_NOT_AVAILABLE,
            "the remittance has not that much left to link",
            &[("unallocated", money(currency, unallocated).amount)],
        ));
    }
    Ok(())
}

/// Records the link's wallet operation, and what it takes of the supplier's quotas, in
/// one transaction with the order locked and checked again: the target due, no wallet
/// payment running, no more than what is still owed once the links on their way count.
async fn record(
    ctx: &Ctx,
    current: &Order,
    asked: &Asked,
    currency: Currency,
    req: &LinkRemittanceToOrderRequest,
) -> Result<Uuid, Status> {
    let (order_id, target, amount) = (asked.order_id, asked.target, asked.amount);
    // What the quotas need from other services, asked before the transaction.
    let guaranteed_order = current.kind == OrderKind::TradeAssurance as i32;
    let usd_value = pricing::Fx::new(ctx)
        .convert(amount, currency, Currency::USD)
        .await?;
    let credit_suspended =
        guaranteed_order && quotas::credit_suspended(ctx, &current.supplier_account_id).await?;
    let supplier = Uuid::try_parse(&current.supplier_account_id).map_err(internal)?;
    let now = ctx.now();
    let op_id = Uuid::now_v7();
    let mut tx = ctx.svc.pool.begin().await.map_err(internal)?;
    let o = records::lock(&mut tx, ctx, order_id).await?;
    let d = dues(&o);
    status::next(super::status_of(&o), facts(&o), action(&d, target, amount))
        .map_err(|i| ctx.illegal(&o.order_id, i))?;
    // The buyer may be paying it from its wallet.
    super::payments::not_held(ctx, &o)?;
    let pending = wallet_ops::pending_links(&mut tx, order_id, target as i32).await?;
    let due = d.due(target) - pending;
    if amount > due {
        return Err(ctx.refuse(
            LINK_AMOUNT_EXCEEDS_DUE,
            "more than the order still owes",
            &[("due", money(currency, due.max(Decimal::ZERO)).amount)],
        ));
    }
    let took = quotas::take(
        &mut tx,
        ctx,
        supplier,
        order_id,
        op_id,
        guaranteed_order,
        usd_value,
        credit_suspended,
        now,
    )
    .await?;
    let wallet_req = LinkRemittanceRequest {
        request_id: op_id.to_string(),
        remittance_id: asked.remittance_id.to_string(),
        order_id: order_id.to_string(),
        payment_part: if target == PaymentTarget::Balance {
            OrderPaymentPart::Balance
        } else {
            OrderPaymentPart::Prepayment
        } as i32,
        amount: Some(money(currency, amount)),
        disposition: if took.guaranteed {
            LinkDisposition::Guarantee
        } else {
            LinkDisposition::Available
        } as i32,
        fund_pool: fees::proceeds_pool(pricing::trade(current).map(|t| t.export_method)) as i32,
    };
    let op = Op {
        id: op_id,
        order_id,
        kind: Kind::Link,
        refund_id: None,
        target: target as i32,
        amount,
        request: wallet_req.encode_to_vec(),
        caller: Some(Caller {
            request_id: asked.request_id,
            method: "LinkRemittanceToOrder",
            request: req.encode_to_vec(),
        }),
    };
    wallet_ops::insert(&mut tx, &op, now).await?;
    tx.commit().await.map_err(internal)?;
    Ok(op_id)
}

async fn finish(
    ctx: &Ctx,
    op: Uuid,
    req: &LinkRemittanceToOrderRequest,
) -> Result<LinkRemittanceToOrderResponse, Status> {
    match wallet_ops::execute(ctx, op, &Effects).await {
        Ok(()) => {}
        Err(s)
            if matches!(
                peers::reason(&s).as_str(),
                "REMITTANCE_ALREADY_LINKED" | "LINK_EXCEEDS_UNALLOCATED"
            ) =>
        {
            let unallocated = peers::metadata(&s)
                .get("unallocated")
                .cloned()
                .unwrap_or_else(|| "0".to_owned());
            return Err(ctx.refuse(
                REMITTANCE_NOT_AVAILABLE,
                "the remittance has not that much left to link",
                &[("unallocated", unallocated)],
            ));
        }
        Err(s) => return Err(s),
    }
    replayed(ctx, "LinkRemittanceToOrder", &req.request_id, req)
        .await?
        .ok_or_else(|| internal("a link without its answer"))
}

/// Applies a link the wallet made to the order.
pub async fn apply(
    tx: &mut PgConnection,
    ctx: &Ctx,
    op: &Op,
    link: &RemittanceLink,
    now: DateTime<Utc>,
) -> Result<(Order, RemittanceAllocation), Status> {
    let mut o = records::lock(tx, ctx, op.order_id).await?;
    let currency = pricing::currency_of(&o)?;
    let target = PaymentTarget::try_from(op.target).unwrap_or(PaymentTarget::Prepayment);
    let guaranteed = !link.hold_id.is_empty();
    if guaranteed {
        quotas::held(tx, op.id, &link.hold_id).await?;
    }
    let allocation = RemittanceAllocation {
        remittance_link_id: link.remittance_link_id.clone(),
        remittance_id: link.remittance_id.clone(),
        target: target as i32,
        amount: Some(money(currency, op.amount)),
        create_time: Some(time::to_proto(now)),
        guaranteed,
        guarantee_hold_id: link.hold_id.clone(),
        payment_id: String::new(),
    };
    let (from, to) = receive(&mut o, allocation.clone(), now);
    records::save(tx, &mut o, now).await?;
    if guaranteed {
        quotas::release_if_ended(tx, &o, now).await?;
    }
    let request_id = op
        .caller
        .as_ref()
        .map(|c| c.request_id.to_string())
        .unwrap_or_default();
    let event = Event::new(
        OrderEventType::RemittanceLinked,
        actor(ActorType::Supplier, None, &o.supplier_account_id),
        from,
        to,
        &request_id,
    )
    .related("remittance_link_id", &link.remittance_link_id)
    .related("remittance_id", &link.remittance_id);
    events::append(tx, &o, event, now).await?;
    Ok((o, allocation))
}

/// Records money received for the order (a remittance link, or a payment from the buyer's
/// wallet) as `allocation` says: the allocation kept, the target's received amount and
/// completion time, the ship-by clock of "N days after payment" once the prepayment is
/// complete, and the status the state machine gives (kept, and logged, if the order moved
/// on: the money is recorded whatever). Answers (from, to).
pub fn receive(
    o: &mut Order,
    allocation: RemittanceAllocation,
    now: DateTime<Utc>,
) -> (OrderStatus, OrderStatus) {
    let currency = pricing::currency_of(o).unwrap_or(Currency::USD);
    let target = PaymentTarget::try_from(allocation.target).unwrap_or(PaymentTarget::Prepayment);
    let amount = amount_of(allocation.amount.as_ref());
    let d = dues(o);
    let act = action(&d, target, amount);
    let from = super::status_of(o);
    let to = match status::next(from, facts(o), act) {
        Ok(to) => to,
        Err(i) => {
            tracing::error!(order_id = %o.order_id, status = ?i.status, "money was received for an order that moved on; money recorded, status kept");
            from
        }
    };
    let received = amount_of(o.received_amount.as_ref()) + amount;
    o.received_amount = Some(money(currency, received));
    o.status = to as i32;
    let mut prepaid_now = None;
    if let Some(t) = pricing::trade_mut(o) {
        t.remittance_allocations.push(allocation);
        let terms = t.payment_terms.get_or_insert_with(Default::default);
        match target {
            PaymentTarget::Balance => {
                let r = d.balance_received + amount;
                terms.balance_received = Some(money(currency, r));
                if r >= d.balance && terms.balance_complete_time.is_none() {
                    terms.balance_complete_time = Some(time::to_proto(now));
                }
            }
            _ => {
                let r = d.prepayment_received + amount;
                terms.prepayment_received = Some(money(currency, r));
                if r >= d.prepayment && terms.prepayment_complete_time.is_none() {
                    terms.prepayment_complete_time = Some(time::to_proto(now));
                    prepaid_now = Some(now);
                    if d.balance.is_zero() && terms.balance_complete_time.is_none() {
                        terms.balance_complete_time = Some(time::to_proto(now));
                    }
                }
            }
        }
        // "N days after payment" starts when the prepayment is complete.
        if let (Some(at), Some(st)) = (prepaid_now, t.shipping_terms.as_mut())
            && let Some(kuajing_proto::order::v1::ship_by::Rule::DaysAfterPayment(n)) =
                st.ship_by.as_ref().and_then(|s| s.rule.clone())
        {
            st.ship_by_time =
                drafting::ship_by_time(ShipBy::DaysAfterPayment(n), Some(at)).map(time::to_proto);
        }
    }
    if to == OrderStatus::AwaitingShipment && o.paid_time.is_none() {
        o.paid_time = Some(time::to_proto(now));
    }
    (from, to)
}

/// What the wallet's answer to a remittance link means for the order.
pub struct Effects;

impl wallet_ops::Effects for Effects {
    async fn completed(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        op: &Op,
        answer: Answer,
        now: DateTime<Utc>,
    ) -> Result<(), Status> {
        let (Kind::Link, Answer::Link(link)) = (op.kind, answer) else {
            return Err(wallet_ops::unfit());
        };
        let (order, allocation) = apply(tx, ctx, op, &link, now).await?;
        if let Some(c) = &op.caller {
            let req =
                LinkRemittanceToOrderRequest::decode(c.request.as_slice()).map_err(internal)?;
            let resp = LinkRemittanceToOrderResponse {
                order: Some(order),
                allocation: Some(allocation),
            };
            wallet_ops::record(tx, ctx, c, &req, &resp).await?;
        }
        Ok(())
    }

    async fn refused(
        &self,
        tx: &mut PgConnection,
        _ctx: &Ctx,
        op: &Op,
        _refusal: &Status,
        _now: DateTime<Utc>,
    ) -> Result<(), Status> {
        // Nothing was applied to the order before the wallet linked it; what the link took
        // of the quotas goes back.
        quotas::forget(tx, op.id).await
    }
}
