//! PayTradeOrder: what is still due of a Trade Assurance or Direct Pay order's prepayment
//! or balance, paid from the buyer's wallet through the payment saga (its trade plan:
//! PIN, conversion, escrow hold, recorded as received, captured to the supplier). The
//! payment is validated, persisted with the order locked to it, then driven as a PayOrders
//! checkout is.

use std::collections::HashMap;

use kuajing_platform::error::internal;
use kuajing_platform::{Currency, FieldViolations, Money, idempotency, time};
use kuajing_proto::order::v1::{
    ActorType, Order, OrderEventType, OrderKind, PayTradeOrderRequest, PayTradeOrderResponse,
    Payment, PaymentItem, PaymentState, PaymentTarget,
};
use kuajing_proto::wallet::v1::get_wallet_request;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use tonic::{Code, Status};
use uuid::Uuid;

use super::events::{self, Event};
use super::payment_record::Pin;
use super::payments::{self, PAYMENT_AMOUNT_CHANGED, WALLET_NOT_OWNED};
use super::pricing::{self, money};
use super::receipt::{self, facts};
use super::remittances::{self, action, dues};
use super::{Ctx, actor, records, wallet_ops};
use crate::domain::saga;
use crate::domain::status;
use crate::ownership::{self, Need, Who};

/// Reason: the order names no buyer account and the call names no person.
pub use kuajing_proto::reasons::order::BUYER_ACCOUNT_UNKNOWN;
/// Reason: a marketplace order (PayOrders pays those).
pub use kuajing_proto::reasons::order::NOT_TRADE_ORDER;
/// Reason: links on their way already cover what is due.
pub use kuajing_proto::reasons::order::NOTHING_DUE;

/// Validated input.
struct Input {
    request_id: Uuid,
    order_id: Uuid,
    target: PaymentTarget,
    wallet_id: Option<Uuid>,
    fx_source: Option<Currency>,
    expected: Option<Money>,
    pin: Pin,
}

fn validate(req: &PayTradeOrderRequest) -> Result<Input, Status> {
    let mut v = FieldViolations::new();
    let request_id = idempotency::parse_request_id(&req.request_id)?;
    let order_id = v.uuid("order_id", &req.order_id);
    let target = remittances::payment_target(&mut v, req.target);
    let wallet_id = v.optional_uuid("wallet_id", &req.wallet_id).flatten();
    let fx_source = payments::fx_source(&mut v, &req.fx_source_currency_code);
    let expected = req
        .expected_amount
        .as_ref()
        .and_then(|m| v.money("expected_amount", Some(m)));
    payments::check_pin(&mut v, &req.payment_pin);
    v.finish()?;
    Ok(Input {
        request_id,
        order_id: order_id.expect("validated"),
        target: target.expect("validated"),
        wallet_id,
        fx_source,
        expected,
        pin: Pin::new(req.payment_pin.clone()),
    })
}

/// The request hash: the request without its PIN.
fn request_hash(req: &PayTradeOrderRequest) -> [u8; 32] {
    let mut without = req.clone();
    without.payment_pin.clear();
    idempotency::request_hash("PayTradeOrder", &without)
}

/// What is due now of `target`: the order must be a trade order that no payment holds,
/// whose state machine takes the money now, with something left once the links on their
/// way are counted.
async fn due_now(
    conn: &mut PgConnection,
    ctx: &Ctx,
    o: &Order,
    target: PaymentTarget,
) -> Result<Decimal, Status> {
    if o.kind == OrderKind::Marketplace as i32 {
        return Err(ctx.refuse(
            NOT_TRADE_ORDER,
            "a marketplace order is paid by PayOrders",
            &[("order_id", o.order_id.clone())],
        ));
    }
    payments::not_held(ctx, o)?;
    let d = dues(o);
    let order_id = Uuid::try_parse(&o.order_id).map_err(internal)?;
    let pending = wallet_ops::pending_links(conn, order_id, target as i32).await?;
    let due = d.due(target) - pending;
    status::next(super::status_of(o), facts(o), action(&d, target, due))
        .map_err(|i| ctx.illegal(&o.order_id, i))?;
    if due <= Decimal::ZERO {
        return Err(ctx.refuse(
            NOTHING_DUE,
            "remittances being linked already cover it",
            &[("order_id", o.order_id.clone())],
        ));
    }
    Ok(due)
}

/// The wallet the buyer pays from: the one named (which must be the buyer's), else the
/// buyer's.
async fn buyer_wallet(ctx: &Ctx, named: Option<Uuid>, buyer: &str) -> Result<String, Status> {
    let lookup = match named {
        Some(w) => get_wallet_request::Lookup::WalletId(w.to_string()),
        None => get_wallet_request::Lookup::OwnerAccountId(buyer.to_owned()),
    };
    let wallet = receipt::wallet_by(ctx, lookup).await?.ok_or_else(|| {
        let name = named
            .map(|w| w.to_string())
            .unwrap_or_else(|| buyer.to_owned());
        ctx.errors().not_found("wallet", name)
    })?;
    if wallet.owner_account_id != buyer {
        return Err(ctx.refuse_code(
            Code::PermissionDenied,
            WALLET_NOT_OWNED,
            "wallet_id is not the buyer's wallet",
            &[("wallet_id", wallet.wallet_id.clone())],
        ));
    }
    Ok(wallet.wallet_id)
}

/// PayTradeOrder.
pub async fn pay(
    ctx: &Ctx,
    req: PayTradeOrderRequest,
    who: Who,
    budget: std::time::Duration,
) -> Result<PayTradeOrderResponse, Status> {
    let input = validate(&req)?;
    let hash = request_hash(&req);
    let answer = |r: kuajing_proto::order::v1::PayOrdersResponse| PayTradeOrderResponse {
        payment: r.payment,
    };
    if let Some(id) = payments::existing_with(ctx, &hash, input.request_id, &req.request_id).await?
    {
        return payments::await_payment(ctx, id, None, budget)
            .await
            .map(answer);
    }
    let payment = prepare(ctx, &input, who).await?;
    let payment_id = Uuid::try_parse(&payment.payment_id).map_err(internal)?;
    let lease = Uuid::now_v7();
    let Some(begun) = begin(ctx, payment, &hash, &input, who, lease).await? else {
        // A concurrent call with the same request id won.
        let id = payments::existing_with(ctx, &hash, input.request_id, &req.request_id)
            .await?
            .ok_or_else(|| internal("payment vanished"))?;
        return payments::await_payment(ctx, id, None, budget)
            .await
            .map(answer);
    };
    let handle = payments::spawn_driver(ctx, payment_id, lease, input.pin, begun);
    payments::await_payment(ctx, payment_id, Some(handle), budget)
        .await
        .map(answer)
}

/// The payment a request asks for, not yet written: the order's buyer paying all that is
/// due of the target from its wallet, in the order currency.
async fn prepare(ctx: &Ctx, input: &Input, who: Who) -> Result<Payment, Status> {
    let now = ctx.now();
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    let order = records::load(&mut conn, ctx, input.order_id).await?;
    ownership::require(ctx, who, &order, Need::Buyer).await?;
    let due = due_now(&mut conn, ctx, &order, input.target).await?;
    drop(conn);
    // The buyer: the order's buyer account, else the person acting (who ownership just
    // showed to be the buyer, by verified email).
    let buyer = if order.buyer_account_id.is_empty() {
        who.checked().map(|s| s.to_string()).ok_or_else(|| {
            ctx.refuse(
                BUYER_ACCOUNT_UNKNOWN,
                "the order names no buyer account yet: the buyer confirms it first",
                &[("order_id", order.order_id.clone())],
            )
        })?
    } else {
        order.buyer_account_id.clone()
    };
    let wallet = buyer_wallet(ctx, input.wallet_id, &buyer).await?;
    // The capture, past the point of no return, needs the supplier's wallet: refuse now
    // rather than leave a paid order's money in the buyer's hold.
    receipt::wallet_of(ctx, &order.supplier_account_id).await?;
    let currency = pricing::currency_of(&order)?;
    if let Some(expected) = input.expected
        && (expected.currency() != currency || expected.amount() != due)
    {
        return Err(ctx.refuse(
            PAYMENT_AMOUNT_CHANGED,
            "the amount due changed since it was shown",
            &[("current_total", money(currency, due).amount)],
        ));
    }
    let payment_id = Uuid::now_v7();
    Ok(Payment {
        payment_id: payment_id.to_string(),
        request_id: input.request_id.to_string(),
        state: PaymentState::Pending as i32,
        payment_method: 0,
        buyer_account_id: buyer,
        wallet_id: wallet,
        mandate_id: String::new(),
        settlement_currency_code: currency.code().to_owned(),
        items: vec![PaymentItem {
            order_id: order.order_id.clone(),
            order_amount: Some(money(currency, due)),
            fee: Some(money(currency, Decimal::ZERO)),
            hold_amount: Some(money(currency, due)),
            ..PaymentItem::default()
        }],
        total_amount: Some(money(currency, due)),
        fx_source_currency_code: input
            .fx_source
            .map(|c| c.code().to_owned())
            .unwrap_or_default(),
        conversion: None,
        steps: saga::plan_trade(payment_id, input.order_id, input.fx_source.is_some()),
        failure: None,
        create_time: Some(time::to_proto(now)),
        update_time: Some(time::to_proto(now)),
        complete_time: None,
        target: input.target as i32,
    })
}

/// Writes the payment and locks its order to it (checked again under the lock: a link or
/// another payment may have come in between), a PAYMENT_STARTED event, the first step
/// marked; `None` when a concurrent call with the same request id wrote it first.
async fn begin(
    ctx: &Ctx,
    payment: Payment,
    hash: &[u8; 32],
    input: &Input,
    who: Who,
    lease: Uuid,
) -> Result<Option<super::saga::Begun>, Status> {
    let now = ctx.now();
    let mut tx = ctx.svc.pool.begin().await.map_err(internal)?;
    if !payments::insert(&mut tx, ctx, &payment, hash, lease, now).await? {
        tx.rollback().await.map_err(internal)?;
        return Ok(None);
    }
    let mut o = records::lock(&mut tx, ctx, input.order_id).await?;
    let currency = pricing::currency_of(&o)?;
    let due = due_now(&mut tx, ctx, &o, input.target).await?;
    if due != pricing::amount_of(payment.total_amount.as_ref()) {
        return Err(ctx.refuse(
            PAYMENT_AMOUNT_CHANGED,
            "the amount due changed while the payment began",
            &[("current_total", money(currency, due).amount)],
        ));
    }
    o.pending_payment_id = payment.payment_id.clone();
    records::save(&mut tx, &mut o, now).await?;
    let status = super::status_of(&o);
    let event = Event::new(
        OrderEventType::PaymentStarted,
        actor(ActorType::Buyer, who.subject, &payment.buyer_account_id),
        status,
        status,
        &payment.request_id,
    )
    .related("payment_id", &payment.payment_id);
    events::append(&mut tx, &o, event, now).await?;
    let orders = HashMap::from([(o.order_id.clone(), o)]);
    payments::start(tx, ctx, payment, orders, lease, now)
        .await
        .map(Some)
}
