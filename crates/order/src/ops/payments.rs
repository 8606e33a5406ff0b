//! PayOrders and GetPayment: validating a batch payment, persisting it (the saga's record)
//! and locking its orders before any step runs, then driving the saga (`saga`) in a task
//! of its own, so a caller that gives up does not stop it; the answer waits for the saga
//! up to the call's budget, else reports it IN_PROGRESS.

use kuajing_proto::reasons::order as reasons;
use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::{Currency, FieldViolations, Money, idempotency, time};
use kuajing_proto::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use kuajing_proto::authorization::v1::{
    GetMandateRequest, ListMandatesRequest, Mandate, MandateState,
};
use kuajing_proto::identity::v1::MarketplaceMember;
use kuajing_proto::order::v1::{
    ActorType, FeeLine, GetPaymentRequest, GetPaymentResponse, Order, OrderEventType, OrderKind,
    OrderStatus, PayOrdersRequest, PayOrdersResponse, Payment, PaymentItem, PaymentMethod,
    PaymentState, order,
};
use prost::Message;
use rust_decimal::Decimal;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tracing::Instrument as _;
use uuid::Uuid;

use super::events::{self, Event};
use super::payment_record::{self, Lease, Pin, Stored, code_name, load};
use super::peers::found;
use super::pricing::{self, amount_of, money};
use super::{Ctx, ORDER_PAYMENT_IN_PROGRESS, actor, records};
use crate::domain::saga;
use crate::domain::status::{self, Action, Facts};
use crate::ownership::{self, Need, Who};
use crate::rpc;

/// Reason: orders of different buyers or marketplace accounts.
pub use kuajing_proto::reasons::order::MIXED_BUYERS;
/// Reason: not a marketplace order.
pub use kuajing_proto::reasons::order::NOT_MARKETPLACE_ORDER;
/// Reason: the total differs from what the buyer saw.
pub use kuajing_proto::reasons::order::PAYMENT_AMOUNT_CHANGED;
/// Reason: a method PayOrders cannot settle from the wallet.
pub use kuajing_proto::reasons::order::PAYMENT_METHOD_NOT_PAYABLE;
/// Reason: wallet_id is not the mandate's wallet.
pub use kuajing_proto::reasons::order::WALLET_NOT_OWNED;
/// Most orders in one payment (contract).
pub const MAX_ORDERS: usize = 50;

/// The PayOrders request hash: the request without its PIN (a hash of six digits would be
/// a PIN hash anyone could reverse).
fn request_hash(req: &PayOrdersRequest) -> [u8; 32] {
    let mut without = req.clone();
    without.payment_pin.clear();
    idempotency::request_hash("PayOrders", &without)
}

fn code_of(name: &str) -> Code {
    [
        Code::Cancelled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ]
    .into_iter()
    .find(|c| code_name(*c) == name)
    .unwrap_or(Code::Aborted)
}

/// The refusal a FAILED payment answers with (also to a replay of its request): the
/// failure's code, reason and metadata plus payment_id, in the failure's domain; PIN_LOCKED
/// keeps its RetryInfo.
pub fn refusal(ctx: &Ctx, stored: &Stored) -> Status {
    let p = &stored.payment;
    let f = p.failure.clone().unwrap_or_default();
    let mut metadata = f.metadata.clone();
    metadata.insert("payment_id".to_owned(), p.payment_id.clone());
    let domain = if stored.failure_domain.is_empty() {
        ctx.errors().0.to_owned()
    } else {
        stored.failure_domain.clone()
    };
    let mut details = ErrorDetails::with_error_info(f.reason.clone(), domain, metadata.clone());
    if let Some(until) = metadata
        .get("locked_until")
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
    {
        let wait = (until.with_timezone(&Utc) - ctx.now())
            .to_std()
            .unwrap_or_default();
        details.set_retry_info(Some(wait));
    }
    let message = if f.message.is_empty() {
        format!("the payment failed: {}", f.reason)
    } else {
        f.message.clone()
    };
    Status::with_error_details(code_of(&f.code), message, details)
}

/// The answer for a payment: OK unless it FAILED.
fn answer(ctx: &Ctx, stored: Stored) -> Result<PayOrdersResponse, Status> {
    if stored.payment.state == PaymentState::Failed as i32 {
        return Err(refusal(ctx, &stored));
    }
    Ok(PayOrdersResponse {
        payment: Some(stored.payment),
    })
}

/// GetPayment. Someone else's payment answers NOT_FOUND, like a missing one.
pub async fn get(
    ctx: &Ctx,
    req: GetPaymentRequest,
    who: Who,
) -> Result<GetPaymentResponse, Status> {
    let mut v = FieldViolations::new();
    let by_id = v.optional_uuid("payment_id", &req.payment_id).flatten();
    let by_request = v.optional_uuid("request_id", &req.request_id).flatten();
    if req.payment_id.is_empty() == req.request_id.is_empty() {
        v.add(
            "payment_id",
            "exactly one of payment_id and request_id is required",
        );
    }
    v.finish()?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    let id = match (by_id, by_request) {
        (Some(id), _) => id,
        (None, Some(request_id)) => crate::store::payments::by_request(&mut *conn, request_id)
            .await
            .map_err(internal)?
            .map(|(id, _)| id)
            .ok_or_else(|| ctx.errors().not_found("payment", request_id.to_string()))?,
        (None, None) => return Err(internal("a checked id is missing")),
    };
    let payment = load(&mut conn, ctx, id).await?.payment;
    ownership::payment_visible(ctx, who, &payment)?;
    Ok(GetPaymentResponse {
        payment: Some(payment),
    })
}

fn marketplace(o: &Order) -> Option<&kuajing_proto::order::v1::MarketplaceDetails> {
    match &o.details {
        Some(order::Details::Marketplace(m)) => Some(m),
        _ => None,
    }
}

/// Finds the mandate the payment runs under: the one named, else the marketplace
/// account's ACTIVE mandate, else its most recent one (so the decision says why it cannot
/// pay). NOT_FOUND when there is none for that account.
async fn mandate(
    ctx: &Ctx,
    named: Option<Uuid>,
    member: &MarketplaceMember,
) -> Result<Mandate, Status> {
    let not_found = |id: String| ctx.errors().not_found("mandate", id);
    if let Some(id) = named {
        let m = found(rpc!(
            ctx,
            "authorization",
            AuthorizationServiceClient,
            get_mandate,
            GetMandateRequest {
                mandate_id: id.to_string()
            }
        ))?
        .and_then(|r| r.mandate)
        .ok_or_else(|| not_found(id.to_string()))?;
        let same = m.marketplace_member.as_ref().is_some_and(|mm| {
            mm.marketplace == member.marketplace
                && mm.external_member_id == member.external_member_id
        });
        return if same {
            Ok(m)
        } else {
            Err(not_found(id.to_string()))
        };
    }
    let list = |state: MandateState| ListMandatesRequest {
        marketplace_member: Some(member.clone()),
        state: state as i32,
        ..ListMandatesRequest::default()
    };
    let active = rpc!(
        ctx,
        "authorization",
        AuthorizationServiceClient,
        list_mandates,
        list(MandateState::Active)
    )?;
    if let Some(m) = active.mandates.into_iter().next() {
        return Ok(m);
    }
    let any = rpc!(
        ctx,
        "authorization",
        AuthorizationServiceClient,
        list_mandates,
        list(MandateState::Unspecified)
    )?;
    any.mandates
        .into_iter()
        .next()
        .ok_or_else(|| not_found(member.external_member_id.clone()))
}

/// Validated PayOrders input.
struct Input {
    request_id: Uuid,
    order_ids: Vec<Uuid>,
    method: PaymentMethod,
    wallet_id: Option<Uuid>,
    mandate_id: Option<Uuid>,
    fx_source: Option<Currency>,
    expected: Option<Money>,
    pin: Pin,
}

fn validate(ctx: &Ctx, req: &PayOrdersRequest) -> Result<Input, Status> {
    let mut inv = FieldViolations::new();
    let request_id = idempotency::parse_request_id(&req.request_id)?;
    let order_ids = inv.uuid_list("order_ids", &req.order_ids, MAX_ORDERS);
    let method = match PaymentMethod::try_from(req.payment_method) {
        Ok(PaymentMethod::Unspecified) => {
            inv.add("payment_method", "is required");
            PaymentMethod::Unspecified
        }
        Ok(m @ (PaymentMethod::CrossBorderPay | PaymentMethod::WorldPay)) => m,
        Ok(m) => {
            inv.named(
                PAYMENT_METHOD_NOT_PAYABLE,
                "payment_method",
                format!("{} is not settled from the wallet", m.as_str_name()),
            );
            m
        }
        Err(_) => {
            inv.add("payment_method", "unknown value");
            PaymentMethod::Unspecified
        }
    };
    let wallet_id = inv.optional_uuid("wallet_id", &req.wallet_id).flatten();
    let mandate_id = inv.optional_uuid("mandate_id", &req.mandate_id).flatten();
    let fx_source = fx_source(&mut inv, &req.fx_source_currency_code);
    let expected = req
        .expected_total
        .as_ref()
        .and_then(|m| inv.money("expected_total", Some(m)));
    check_pin(&mut inv, &req.payment_pin);
    inv.finish_in(ctx.errors())?;
    Ok(Input {
        request_id,
        order_ids,
        method,
        wallet_id,
        mandate_id,
        fx_source,
        expected,
        pin: Pin::new(req.payment_pin.clone()),
    })
}

/// The currency a payment may convert from: none when empty.
pub fn fx_source(v: &mut FieldViolations, code: &str) -> Option<Currency> {
    if code.is_empty() {
        return None;
    }
    Currency::from_str(code)
        .map_err(|e| v.add("fx_source_currency_code", e))
        .ok()
}

/// A payment PIN: exactly six digits.
pub fn check_pin(v: &mut FieldViolations, pin: &str) {
    if pin.len() != 6 || !pin.bytes().all(|b| b.is_ascii_digit()) {
        v.add("payment_pin", "must be exactly 6 digits");
    }
}

/// The existing payment of a request id, if any (IDEMPOTENCY_KEY_REUSED on a different
/// body).
async fn existing(
    ctx: &Ctx,
    req: &PayOrdersRequest,
    request_id: Uuid,
) -> Result<Option<Uuid>, Status> {
    existing_with(ctx, &request_hash(req), request_id, &req.request_id).await
}

/// The existing payment of a request id whose request hashes to `hash`, if any
/// (IDEMPOTENCY_KEY_REUSED when it hashes otherwise: another body, or another RPC).
pub async fn existing_with(
    ctx: &Ctx,
    hash: &[u8; 32],
    request_id: Uuid,
    raw_request_id: &str,
) -> Result<Option<Uuid>, Status> {
    let row = crate::store::payments::by_request(&ctx.svc.pool, request_id)
        .await
        .map_err(internal)?;
    let Some((payment_id, stored)) = row else {
        return Ok(None);
    };
    if stored != hash[..] {
        return Err(ctx.errors().idempotency_key_reused(raw_request_id));
    }
    Ok(Some(payment_id))
}

/// A payment's driver: the payment as it ended, when it ended it.
pub type Driving = tokio::task::JoinHandle<Option<(Payment, String)>>;

/// Drives a payment just begun in a task of its own (in the RPC's span, so its calls join
/// the caller's trace), so a caller that gives up does not stop it.
pub fn spawn_driver(
    ctx: &Ctx,
    payment_id: Uuid,
    lease: Uuid,
    pin: Pin,
    begun: super::saga::Begun,
) -> Driving {
    let driver_ctx = ctx.clone();
    tokio::spawn(
        async move {
            Box::pin(super::saga::drive(
                &driver_ctx,
                payment_id,
                lease,
                Some(pin),
                Some(begun),
            ))
            .await
                .inspect_err(|e| {
                    tracing::warn!(payment_id = %payment_id, error = %e.message(), "payment saga stopped; recovery will carry on");
                })
                .ok()
                .flatten()
        }
        .instrument(tracing::Span::current()),
    )
}

/// Waits for the payment's saga up to `budget`, then answers with how it ended, or from
/// its record.
pub async fn await_payment(
    ctx: &Ctx,
    payment_id: Uuid,
    driver: Option<Driving>,
    budget: std::time::Duration,
) -> Result<PayOrdersResponse, Status> {
    if let Some(handle) = driver {
        if let Ok(Ok(Some((payment, failure_domain)))) = tokio::time::timeout(budget, handle).await
        {
            let created = payment
                .create_time
                .as_ref()
                .and_then(time::from_proto)
                .unwrap_or_else(|| ctx.now());
            return answer(
                ctx,
                Stored {
                    payment,
                    failure_domain,
                    created,
                },
            );
        }
    } else {
        // Someone else drives it (a concurrent retry, or recovery): poll briefly.
        let deadline = tokio::time::Instant::now() + budget;
        loop {
            let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
            let s = load(&mut conn, ctx, payment_id).await?;
            let done = matches!(
                PaymentState::try_from(s.payment.state),
                Ok(PaymentState::Succeeded | PaymentState::Failed)
            );
            if done || tokio::time::Instant::now() >= deadline {
                return answer(ctx, s);
            }
            drop(conn);
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    answer(ctx, load(&mut conn, ctx, payment_id).await?)
}

/// PayOrders.
pub async fn pay(
    ctx: &Ctx,
    req: PayOrdersRequest,
    who: Who,
    budget: std::time::Duration,
) -> Result<PayOrdersResponse, Status> {
    let input = validate(ctx, &req)?;
    if let Some(id) = existing(ctx, &req, input.request_id).await? {
        return await_payment(ctx, id, None, budget).await;
    }
    let now = ctx.now();
    let (orders, member) = payable_orders(ctx, &input, who).await?;
    let buyer = orders[0].buyer_account_id.clone();
    let buyer_id = Uuid::try_parse(&buyer).map_err(internal)?;
    let mandate = mandate(ctx, input.mandate_id, &member).await?;
    if let Some(w) = input.wallet_id
        && w.to_string() != mandate.wallet_id
    {
        return Err(ctx.refuse_code(
            Code::PermissionDenied,
            WALLET_NOT_OWNED,
            "wallet_id is not the wallet of the mandate",
            &[("mandate_id", mandate.mandate_id.clone())],
        ));
    }
    let settlement = match mandate.funding_currency_code.parse::<Currency>() {
        Ok(c @ (Currency::CNH | Currency::CNY)) => c,
        _ => ctx.settings.settlement_currency,
    };
    let priced = price(ctx, &input, &orders, buyer_id, settlement, now).await?;

    let payment_id = Uuid::now_v7();
    let payment = Payment {
        payment_id: payment_id.to_string(),
        request_id: input.request_id.to_string(),
        state: PaymentState::Pending as i32,
        payment_method: input.method as i32,
        buyer_account_id: buyer.clone(),
        wallet_id: mandate.wallet_id.clone(),
        mandate_id: mandate.mandate_id.clone(),
        settlement_currency_code: settlement.code().to_owned(),
        items: priced.items,
        total_amount: Some(money(settlement, priced.total)),
        fx_source_currency_code: input
            .fx_source
            .map(|c| c.code().to_owned())
            .unwrap_or_default(),
        conversion: None,
        steps: saga::plan(payment_id, &input.order_ids, input.fx_source.is_some()),
        failure: None,
        create_time: Some(time::to_proto(now)),
        update_time: Some(time::to_proto(now)),
        complete_time: None,
        target: 0,
    };
    let lease = Uuid::now_v7();
    let Some(begun) = begin(
        ctx,
        &req,
        &input,
        payment,
        &priced.fee_lines,
        who,
        lease,
        now,
    )
    .await?
    else {
        // A concurrent call with the same request id won.
        let id = existing(ctx, &req, input.request_id)
            .await?
            .ok_or_else(|| internal("payment vanished"))?;
        return await_payment(ctx, id, None, budget).await;
    };

    let handle = spawn_driver(ctx, payment_id, lease, input.pin, begun);
    await_payment(ctx, payment_id, Some(handle), budget).await
}

/// The orders a payment takes: one buyer's unpaid marketplace orders of one marketplace
/// account, not held by another payment, every one the buyer's the PIN is given for; and
/// that marketplace account.
async fn payable_orders(
    ctx: &Ctx,
    input: &Input,
    who: Who,
) -> Result<(Vec<Order>, MarketplaceMember), Status> {
    let mut orders = Vec::with_capacity(input.order_ids.len());
    {
        let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
        for id in &input.order_ids {
            orders.push(records::load(&mut conn, ctx, *id).await?);
        }
    }
    ownership::require_each(ctx, who, &orders, Need::Buyer).await?;
    for o in &orders {
        check_payable(ctx, o)?;
    }
    let first = marketplace(&orders[0]).cloned().unwrap_or_default();
    let buyer = &orders[0].buyer_account_id;
    if orders.iter().any(|o| {
        &o.buyer_account_id != buyer
            || marketplace(o).is_none_or(|m| {
                m.buyer_linked_account_id != first.buyer_linked_account_id
                    || m.marketplace_code != first.marketplace_code
            })
    }) {
        return Err(ctx.refuse(
            MIXED_BUYERS,
            "the orders belong to different buyers or marketplace accounts",
            &[],
        ));
    }
    let member = MarketplaceMember {
        marketplace: first.marketplace_code,
        external_member_id: first.buyer_member_id.clone(),
    };
    Ok((orders, member))
}

/// What a payment costs: an item per order (its amount, its fee, what is held), each
/// order's fee line (kept on the order if the payment succeeds), and the total.
struct Priced {
    items: Vec<PaymentItem>,
    fee_lines: HashMap<String, FeeLine>,
    total: Decimal,
}

/// Prices the orders with the method's fee (tiered by the buyer's history where the
/// method says so), refusing PAYMENT_AMOUNT_CHANGED when the client was shown another
/// total.
async fn price(
    ctx: &Ctx,
    input: &Input,
    orders: &[Order],
    buyer_id: Uuid,
    settlement: Currency,
    now: DateTime<Utc>,
) -> Result<Priced, Status> {
    let row = pricing::method_row(ctx, OrderKind::Marketplace, input.method, Currency::CNY)
        .ok_or_else(|| {
            ctx.refuse(
                reasons::PAYMENT_METHOD_NOT_ALLOWED,
                format!("{} is not offered", input.method.as_str_name()),
                &[],
            )
        })?
        .clone();
    let basis = if row.tiered {
        Some(pricing::tier_basis(ctx, buyer_id, now).await?)
    } else {
        None
    };
    let mut priced = Priced {
        items: Vec::with_capacity(orders.len()),
        fee_lines: HashMap::new(),
        total: Decimal::ZERO,
    };
    for o in orders {
        let amount = amount_of(o.total_amount.as_ref());
        let line = pricing::marketplace_fee(ctx, &row, amount, Currency::CNY, basis.as_ref());
        let fee = amount_of(line.amount.as_ref());
        priced.fee_lines.insert(o.order_id.clone(), line);
        priced.total += amount + fee;
        priced.items.push(PaymentItem {
            order_id: o.order_id.clone(),
            order_amount: Some(money(Currency::CNY, amount)),
            fee: Some(money(Currency::CNY, fee)),
            hold_amount: Some(money(settlement, amount + fee)),
            ..PaymentItem::default()
        });
    }
    if let Some(expected) = input.expected
        && (expected.currency() != settlement || expected.amount() != priced.total)
    {
        return Err(ctx.refuse(
            PAYMENT_AMOUNT_CHANGED,
            "the total changed since it was shown",
            &[("current_total", money(settlement, priced.total).amount)],
        ));
    }
    Ok(priced)
}

/// Persists the payment and locks its orders (each marked as held by it, its fee line
/// kept, a PAYMENT_STARTED event) in one transaction, the first step marked IN_PROGRESS
/// with the payment's first write; `None` when a concurrent call with the same request
/// id got there first.
#[allow(clippy::too_many_arguments)]
async fn begin(
    ctx: &Ctx,
    req: &PayOrdersRequest,
    input: &Input,
    payment: Payment,
    fee_lines: &HashMap<String, FeeLine>,
    who: Who,
    lease: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<super::saga::Begun>, Status> {
    let payment_id = Uuid::try_parse(&payment.payment_id).map_err(internal)?;
    let mut tx = ctx.svc.pool.begin().await.map_err(internal)?;
    if !insert(&mut tx, ctx, &payment, &request_hash(req), lease, now).await? {
        tx.rollback().await.map_err(internal)?;
        return Ok(None);
    }
    // Rows are locked in one global order (by id), so concurrent payments can't deadlock.
    let mut lock_order = input.order_ids.clone();
    lock_order.sort();
    let mut locked = HashMap::with_capacity(lock_order.len());
    for id in &lock_order {
        let mut o = records::lock(&mut tx, ctx, *id).await?;
        check_payable(ctx, &o)?;
        o.pending_payment_id = payment.payment_id.clone();
        // The fee of this payment (its tier and basis), which stays if it succeeds.
        let total = amount_of(o.total_amount.as_ref());
        let line = fee_lines.get(&o.order_id).cloned().unwrap_or_default();
        o.fees = Some(pricing::breakdown(vec![line], total, Currency::CNY));
        records::save(&mut tx, &mut o, now).await?;
        let event = Event::new(
            OrderEventType::PaymentStarted,
            actor(ActorType::Buyer, who.subject, &o.buyer_account_id),
            OrderStatus::Unpaid,
            OrderStatus::Unpaid,
            &req.request_id,
        )
        .related("payment_id", payment_id);
        events::append(&mut tx, &o, event, now).await?;
        locked.insert(o.order_id.clone(), o);
    }
    start(tx, ctx, payment, locked, lease, now).await.map(Some)
}

/// Writes a new payment's row under `lease`, in the caller's transaction; false when a
/// concurrent call with the same request id wrote it first.
pub async fn insert(
    tx: &mut sqlx::PgConnection,
    ctx: &Ctx,
    payment: &Payment,
    hash: &[u8; 32],
    lease: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, Status> {
    let payment_id = Uuid::try_parse(&payment.payment_id).map_err(internal)?;
    let request_id = Uuid::try_parse(&payment.request_id).map_err(internal)?;
    let buyer_id = Uuid::try_parse(&payment.buyer_account_id).map_err(internal)?;
    let new = crate::store::payments::NewPayment {
        payment_id,
        request_id,
        request_hash: &hash[..],
        state: PaymentState::Pending as i16,
        buyer_account_id: buyer_id,
        lease_owner: lease,
        lease_until: now + ctx.settings.saga_lease,
        at: now,
        doc: payment.encode_to_vec(),
    };
    crate::store::payments::insert(tx, &new)
        .await
        .map_err(internal)
}

/// Marks a new payment's first step IN_PROGRESS with its first write and commits the
/// transaction that wrote it and locked its orders: what the driver starts from.
pub async fn start(
    mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
    ctx: &Ctx,
    mut payment: Payment,
    orders: HashMap<String, Order>,
    lease: Uuid,
    now: DateTime<Utc>,
) -> Result<super::saga::Begun, Status> {
    payment.state = PaymentState::InProgress as i32;
    let first = match saga::next(PaymentState::InProgress, &payment.steps) {
        saga::Next::Forward(i) => i,
        _ => return Err(internal("a new payment without a step to run")),
    };
    let marked = (first, payment.steps[first].clone());
    saga::start(&mut payment.steps[first], time::to_proto(now));
    if !payment_record::persist(&mut tx, ctx, &mut payment, lease, "", Lease::Keep).await? {
        return Err(internal("lost the lease of a new payment"));
    }
    tx.commit().await.map_err(internal)?;
    Ok(super::saga::Begun {
        payment,
        orders,
        marked,
    })
}

/// Refuses an order a payment holds (ORDER_PAYMENT_IN_PROGRESS): nothing else pays it
/// or links money to it meanwhile.
pub fn not_held(ctx: &Ctx, o: &Order) -> Result<(), Status> {
    if o.pending_payment_id.is_empty() {
        return Ok(());
    }
    Err(ctx.refuse(
        ORDER_PAYMENT_IN_PROGRESS,
        "a payment holds the order",
        &[
            ("order_id", o.order_id.clone()),
            ("payment_id", o.pending_payment_id.clone()),
        ],
    ))
}

/// Refuses an order PayOrders cannot take.
pub fn check_payable(ctx: &Ctx, o: &Order) -> Result<(), Status> {
    if o.kind != OrderKind::Marketplace as i32 {
        return Err(ctx.refuse(
            NOT_MARKETPLACE_ORDER,
            "only marketplace orders are paid by PayOrders",
            &[("order_id", o.order_id.clone())],
        ));
    }
    not_held(ctx, o)?;
    let facts = Facts {
        kind: OrderKind::Marketplace,
        received_any: false,
    };
    status::next(super::status_of(o), facts, Action::StartPayment)
        .map(|_| ())
        .map_err(|i| ctx.illegal(&o.order_id, i))
}
