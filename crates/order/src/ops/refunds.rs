//! Refunds and after-sales (RequestRefund, ResolveRefund). A request moves a paid order to
//! REFUNDING (auto-confirmation pauses). A rejection or withdrawal puts it back. An
//! approval moves money through the wallet-operation outbox: a marketplace order's escrow
//! is released (full refund) or captured with the refund left to the buyer (partial refund
//! after shipment); a Trade Assurance / Direct Pay refund is a transfer from the supplier's
//! wallet to the buyer's (or is recorded for an outbound bank refund when the buyer has no
//! wallet). The refund is APPROVED while the money moves and REFUNDED once it moved.

use kuajing_platform::FieldViolations;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::{Currency, idempotency, time};
use kuajing_proto::order::v1::{
    ActorType, CloseReason, Order, OrderEventType, OrderKind, OrderStatus, Refund, RefundDecision,
    RefundReason, RefundState, RequestRefundRequest, RequestRefundResponse, ResolveRefundRequest,
    ResolveRefundResponse, order,
};
use kuajing_proto::wallet::v1::{CreateTransferRequest, FundPool, ReleaseHoldRequest};
use prost::Message;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use uuid::Uuid;

use super::events::{self, Event};
use super::fields;
use super::pricing::{self, amount_of, money};
use super::receipt::{self, facts};
use super::wallet_ops::{self, Answer, Caller, Kind, Op};
use super::{Ctx, INSUFFICIENT_FUNDS, actor, peers, quotas, records, replayed};
use crate::domain::refund::{self, ApprovalRefusal};
use crate::domain::status::{self, Action, Illegal, RefundEnd};
use crate::ownership::{self, Need, Who};

/// Reason: a marketplace order not yet shipped is refunded only in full.
pub use kuajing_proto::reasons::order::PARTIAL_REFUND_BEFORE_SHIPMENT;
/// Reason: a refund is already open.
pub use kuajing_proto::reasons::order::REFUND_ALREADY_OPEN;
/// Reason: the amount exceeds what may be refunded.
pub use kuajing_proto::reasons::order::REFUND_EXCEEDS_PAID;
/// Reason: the refund is not open.
pub use kuajing_proto::reasons::order::REFUND_NOT_OPEN;

fn open(r: &Refund) -> bool {
    r.state == RefundState::Requested as i32 || r.state == RefundState::Approved as i32
}

fn refundable_of(o: &Order) -> Decimal {
    refund::refundable(
        amount_of(o.received_amount.as_ref()),
        amount_of(o.refunded_amount.as_ref()),
    )
}

/// RequestRefund.
pub async fn request(
    ctx: &Ctx,
    req: RequestRefundRequest,
    who: Who,
) -> Result<RequestRefundResponse, Status> {
    const METHOD: &str = "RequestRefund";
    let mut inv = FieldViolations::new();
    let order_id = inv.uuid("order_id", &req.order_id);
    let reason: Option<RefundReason> = inv.enum_value("reason", req.reason);
    fields::text(&mut inv, "description", &req.description, 0, 2000);
    if req.evidence_file_refs.len() > 9 {
        inv.add("evidence_file_refs", "at most 9 files");
    }
    for (i, f) in req.evidence_file_refs.iter().enumerate() {
        fields::text(&mut inv, &format!("evidence_file_refs[{i}]"), f, 1, 512);
    }
    let amount = inv.positive_money("amount", req.amount.as_ref());
    idempotency::parse_request_id(&req.request_id)?;
    inv.finish_in(ctx.errors())?;
    if let Some(r) = replayed(ctx, METHOD, &req.request_id, &req).await? {
        return Ok(r);
    }
    let (order_id, reason, amount) = (
        order_id.expect("validated"),
        reason.expect("validated"),
        amount.expect("validated"),
    );
    ownership::require_by_id(ctx, who, order_id, |_| Need::Buyer).await?;
    let now = ctx.now();
    let request_id = req.request_id.clone();
    let r2 = req.clone();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        METHOD,
        &req.request_id,
        &req,
        |mut tx| async move {
            let mut o = records::lock(&mut tx, ctx, order_id).await?;
            if let Some(r) = o.refunds.iter().find(|r| open(r)) {
                return Err(ctx.refuse(
                    REFUND_ALREADY_OPEN,
                    "a refund is already open",
                    &[("refund_id", r.refund_id.clone())],
                ));
            }
            let from = super::status_of(&o);
            let to = status::next(from, facts(&o), Action::RequestRefund)
                .map_err(|i| ctx.illegal(&o.order_id, i))?;
            let currency = pricing::currency_of(&o)?;
            if amount.currency() != currency {
                let mut inv = FieldViolations::new();
                inv.named(
                    super::CURRENCY_MISMATCH,
                    "amount.currency_code",
                    format!("must be {currency}, the order currency"),
                );
                return Err(inv.finish_in(ctx.errors()).expect_err("one violation"));
            }
            let refundable = refundable_of(&o);
            if amount.amount() > refundable {
                return Err(invalid_with(
                    ctx,
                    REFUND_EXCEEDS_PAID,
                    "amount",
                    "exceeds what was paid and not yet refunded",
                    &[("refundable", money(currency, refundable).amount)],
                ));
            }
            let refund_id = Uuid::now_v7();
            let refund = Refund {
                refund_id: refund_id.to_string(),
                state: RefundState::Requested as i32,
                reason: reason as i32,
                description: r2.description.clone(),
                evidence_file_refs: r2.evidence_file_refs.clone(),
                requested_amount: Some(money(currency, amount.amount())),
                return_goods: r2.return_goods,
                order_status_before: from as i32,
                create_time: Some(time::to_proto(now)),
                ..Refund::default()
            };
            o.refunds.push(refund.clone());
            o.status = to as i32;
            records::save(&mut tx, &mut o, now).await?;
            let event = Event::new(
                OrderEventType::RefundRequested,
                actor(ActorType::Buyer, who.subject, &o.buyer_account_id),
                from,
                to,
                &request_id,
            )
            .reason(&r2.description)
            .related("refund_id", refund_id);
            events::append(&mut tx, &o, event, now).await?;
            Ok((
                RequestRefundResponse {
                    refund: Some(refund),
                    order: Some(o),
                },
                tx,
            ))
        },
    )
    .await
}

/// INVALID_ARGUMENT with one violation, a reason and metadata.
fn invalid_with(
    ctx: &Ctx,
    reason: &str,
    field: &str,
    description: &str,
    md: &[(&str, String)],
) -> Status {
    let mut details = ErrorDetails::with_bad_request_violation(field, description);
    details.set_error_info(
        reason,
        ctx.errors().0,
        md.iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<HashMap<_, _>>(),
    );
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid {field}: {description}"),
        details,
    )
}

/// Where the money of an approval goes, looked up before any transaction.
struct Wallets {
    supplier: Option<String>,
    buyer: Option<String>,
}

async fn wallets(ctx: &Ctx, o: &Order) -> Result<Wallets, Status> {
    let kind = OrderKind::try_from(o.kind).unwrap_or(OrderKind::Unspecified);
    if kind == OrderKind::Marketplace {
        return Ok(Wallets {
            supplier: Some(receipt::wallet_of(ctx, &o.supplier_account_id).await?),
            buyer: None,
        });
    }
    let supplier = Some(receipt::wallet_of(ctx, &o.supplier_account_id).await?);
    let buyer = if o.buyer_account_id.is_empty() {
        None
    } else {
        match receipt::wallet_of(ctx, &o.buyer_account_id).await {
            Ok(w) => Some(w),
            Err(s) if s.code() == Code::NotFound => None,
            Err(s) => return Err(s),
        }
    };
    Ok(Wallets { supplier, buyer })
}

fn refund_mut<'o>(ctx: &Ctx, o: &'o mut Order, refund_id: &str) -> Result<&'o mut Refund, Status> {
    o.refunds
        .iter_mut()
        .find(|r| r.refund_id == refund_id)
        .ok_or_else(|| ctx.errors().not_found("refund", refund_id.to_owned()))
}

/// Puts an order back where it was before the refund: auto-confirmation resumes with the
/// time it had left.
fn resume(o: &mut Order, paused_at: Option<DateTime<Utc>>, now: DateTime<Utc>) {
    if let (Some(at), Some(paused)) = (
        o.auto_confirm_time.as_ref().and_then(time::from_proto),
        paused_at,
    ) {
        o.auto_confirm_time = Some(time::to_proto(at + (now - paused)));
    }
}

/// Applies the end of a refund to the order (status, amounts, times).
fn apply_end(
    o: &mut Order,
    end: RefundEnd,
    approved: Decimal,
    currency: Currency,
    paused_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(OrderStatus, OrderStatus), Illegal> {
    let from = super::status_of(o);
    let to = status::next(from, facts(o), Action::ResolveRefund(end))?;
    let refunded = amount_of(o.refunded_amount.as_ref()) + approved;
    o.refunded_amount = Some(money(currency, refunded));
    o.status = to as i32;
    match end {
        RefundEnd::Full => {
            o.close_reason = CloseReason::RefundedInFull as i32;
            o.close_time = Some(time::to_proto(now));
            o.auto_confirm_time = None;
        }
        RefundEnd::PartialCompletes => {
            o.complete_time = Some(time::to_proto(now));
            o.auto_confirm_time = None;
        }
        RefundEnd::Restore(_) => resume(o, paused_at, now),
    }
    Ok((from, to))
}

/// A ResolveRefund request that passed validation.
struct Asked {
    order_id: Uuid,
    refund_id: Uuid,
    decision: RefundDecision,
    approved: Option<kuajing_platform::Money>,
    request_id: Uuid,
}

impl Asked {
    /// Validates `req`: every bad field at once.
    fn of(ctx: &Ctx, req: &ResolveRefundRequest) -> Result<Asked, Status> {
        let mut inv = FieldViolations::new();
        let order_id = inv.uuid("order_id", &req.order_id);
        let refund_id = inv.uuid("refund_id", &req.refund_id);
        let decision: Option<RefundDecision> = inv.enum_value("decision", req.decision);
        let approved = match req.approved_amount.as_ref() {
            None => None,
            Some(m) => inv.positive_money("approved_amount", Some(m)),
        };
        fields::text(&mut inv, "note", &req.note, 0, 2000);
        let request_id = idempotency::parse_request_id(&req.request_id)?;
        inv.finish_in(ctx.errors())?;
        Ok(Asked {
            order_id: order_id.expect("validated"),
            refund_id: refund_id.expect("validated"),
            decision: decision.expect("validated"),
            approved,
            request_id,
        })
    }
}

/// What a resolution's transaction ended in: an answer (recorded and committed), or money
/// still to move through the wallet operation named.
enum Decided {
    Answered(Box<ResolveRefundResponse>),
    MovingMoney(Uuid),
}

const RESOLVE: &str = "ResolveRefund";

/// ResolveRefund.
pub async fn resolve(
    ctx: &Ctx,
    req: ResolveRefundRequest,
    who: Who,
) -> Result<ResolveRefundResponse, Status> {
    let asked = Asked::of(ctx, &req)?;
    if let Some(r) = replayed(ctx, RESOLVE, &req.request_id, &req).await? {
        return Ok(r);
    }
    // An approval of this request that is still moving money: finish it.
    {
        let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
        if let Some(op) = wallet_ops::pending_for(&mut conn, RESOLVE, asked.request_id).await? {
            drop(conn);
            return finish(ctx, op, &req).await;
        }
    }
    let current = {
        let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
        records::load(&mut conn, ctx, asked.order_id).await?
    };
    // The supplier approves or rejects; the buyer withdraws its request.
    let (need, resolver) = if asked.decision == RefundDecision::Withdraw {
        let buyer = actor(ActorType::Buyer, who.subject, &current.buyer_account_id);
        (Need::Buyer, buyer)
    } else {
        let supplier = actor(
            ActorType::Supplier,
            who.subject,
            &current.supplier_account_id,
        );
        (Need::Supplier, supplier)
    };
    ownership::require(ctx, who, &current, need).await?;
    let wallets = if asked.decision == RefundDecision::Approve {
        Some(wallets(ctx, &current).await?)
    } else {
        None
    };
    match decide(ctx, &asked, &req, resolver, wallets.as_ref()).await? {
        Decided::Answered(r) => Ok(*r),
        Decided::MovingMoney(op) => finish(ctx, op, &req).await,
    }
}

/// The resolution's transaction: the order locked, the refund still open, then closed
/// without money (rejected, withdrawn) or approved.
async fn decide(
    ctx: &Ctx,
    asked: &Asked,
    req: &ResolveRefundRequest,
    resolver: kuajing_proto::order::v1::Actor,
    wallets: Option<&Wallets>,
) -> Result<Decided, Status> {
    let now = ctx.now();
    let refund_id = asked.refund_id;
    let mut tx = ctx.svc.pool.begin().await.map_err(internal)?;
    let mut o = records::lock(&mut tx, ctx, asked.order_id).await?;
    let r = refund_mut(ctx, &mut o, &refund_id.to_string())?;
    if r.state != RefundState::Requested as i32 {
        return Err(ctx.errors().precondition(
            REFUND_NOT_OPEN,
            format!("refunds/{refund_id}"),
            "the refund is not open",
        ));
    }
    let open = Open {
        before: OrderStatus::try_from(r.order_status_before).unwrap_or(OrderStatus::Unspecified),
        requested: amount_of(r.requested_amount.as_ref()),
        paused_at: r.create_time.as_ref().and_then(time::from_proto),
    };
    r.resolved_by = Some(resolver.clone());
    r.resolution_note = req.note.clone();
    r.resolve_time = Some(time::to_proto(now));
    if asked.decision != RefundDecision::Approve {
        let resolved = close_unapproved(ctx, &mut o, asked, &open, resolver, now)?;
        return resolved_now(tx, ctx, o, resolved, req, now)
            .await
            .map(|r| Decided::Answered(Box::new(r)));
    }
    let wallets = wallets.ok_or_else(|| internal("approval without wallets"))?;
    approve(tx, ctx, o, asked, req, &open, resolver, wallets, now).await
}

/// What the open refund said when its resolution began.
struct Open {
    /// The order's status before the refund paused it.
    before: OrderStatus,
    requested: Decimal,
    /// When the refund paused auto-confirmation.
    paused_at: Option<DateTime<Utc>>,
}

/// A rejection or a withdrawal: the refund ends, the order goes back where it was.
fn close_unapproved(
    ctx: &Ctx,
    o: &mut Order,
    asked: &Asked,
    open: &Open,
    resolver: kuajing_proto::order::v1::Actor,
    now: DateTime<Utc>,
) -> Result<Resolved, Status> {
    let from = super::status_of(o);
    let r = refund_mut(ctx, o, &asked.refund_id.to_string())?;
    r.state = if asked.decision == RefundDecision::Reject {
        RefundState::Rejected
    } else {
        RefundState::Withdrawn
    } as i32;
    let refund = r.clone();
    let to = status::next(
        from,
        facts(o),
        Action::ResolveRefund(RefundEnd::Restore(open.before)),
    )
    .map_err(|i| ctx.illegal(&o.order_id, i))?;
    o.status = to as i32;
    resume(o, open.paused_at, now);
    Ok(Resolved {
        refund,
        from,
        to,
        resolver,
    })
}

/// An approval: the refund APPROVED, and its money either moved at once (nothing to move)
/// or handed to the wallet-operation outbox, the answer recorded when it has moved.
#[allow(clippy::too_many_arguments)]
async fn approve(
    mut tx: idempotency::Tx,
    ctx: &Ctx,
    mut o: Order,
    asked: &Asked,
    req: &ResolveRefundRequest,
    open: &Open,
    resolver: kuajing_proto::order::v1::Actor,
    wallets: &Wallets,
    now: DateTime<Utc>,
) -> Result<Decided, Status> {
    let refund_id = asked.refund_id;
    let currency = pricing::currency_of(&o)?;
    let kind = OrderKind::try_from(o.kind).unwrap_or(OrderKind::Unspecified);
    let from = super::status_of(&o);
    let approved = approved_amount(ctx, asked.approved, open.requested, currency)?;
    let (end, moves) =
        refund::approve(kind, open.before, approved, refundable_of(&o)).map_err(|e| match e {
            ApprovalRefusal::PartialBeforeShipment => ctx.errors().precondition(
                PARTIAL_REFUND_BEFORE_SHIPMENT,
                format!("refunds/{refund_id}"),
                "a marketplace order not yet shipped can only be refunded in full",
            ),
        })?;
    status::next(from, facts(&o), Action::ResolveRefund(end))
        .map_err(|i| ctx.illegal(&o.order_id, i))?;
    let r = refund_mut(ctx, &mut o, &refund_id.to_string())?;
    r.state = RefundState::Approved as i32;
    r.approved_amount = Some(money(currency, approved));
    // Guarantee funds go to the supplier's available balance first, so the refund is
    // paid from them: their releases are recorded (and so sent) before the transfer.
    if matches!(moves, refund::Money::SupplierToBuyer) {
        let why = format!("refund {refund_id}");
        quotas::release_guarantees(&mut tx, asked.order_id, &why, now).await?;
    }
    let op_id = Uuid::now_v7();
    let movement = Movement {
        op_id,
        refund_id,
        approved,
        currency,
    };
    let Some((kind, request)) = money_request(&mut tx, ctx, &o, moves, wallets, &movement).await?
    else {
        let refund = refund_mut(ctx, &mut o, &refund_id.to_string())?.clone();
        let (from, to) = apply_end(&mut o, end, approved, currency, open.paused_at, now)
            .map_err(|i| ctx.illegal(&o.order_id, i))?;
        let resolved = Resolved {
            refund,
            from,
            to,
            resolver,
        };
        return resolved_now(tx, ctx, o, resolved, req, now)
            .await
            .map(|r| Decided::Answered(Box::new(r)));
    };
    records::save(&mut tx, &mut o, now).await?;
    let op = Op {
        id: op_id,
        order_id: asked.order_id,
        kind,
        refund_id: Some(refund_id),
        target: 0,
        amount: approved,
        request,
        caller: Some(Caller {
            request_id: asked.request_id,
            method: RESOLVE,
            request: req.encode_to_vec(),
        }),
    };
    wallet_ops::insert(&mut tx, &op, now).await?;
    // The answer is recorded when the money has moved.
    tx.commit().await.map_err(internal)?;
    Ok(Decided::MovingMoney(op_id))
}

/// The amount an approval refunds: the one asked for, or less in the order currency.
fn approved_amount(
    ctx: &Ctx,
    approved: Option<kuajing_platform::Money>,
    requested: Decimal,
    currency: Currency,
) -> Result<Decimal, Status> {
    let mut inv = FieldViolations::new();
    match approved {
        None => return Ok(requested),
        Some(a) if a.currency() != currency => inv.named(
            super::CURRENCY_MISMATCH,
            "approved_amount.currency_code",
            format!("must be {currency}"),
        ),
        Some(a) if a.amount() > requested => inv.add(
            "approved_amount.amount",
            "must not exceed the requested amount",
        ),
        Some(a) => return Ok(a.amount()),
    }
    Err(inv.finish_in(ctx.errors()).expect_err("one violation"))
}

/// An approved refund's money movement, as its wallet operation will ask it.
struct Movement {
    op_id: Uuid,
    refund_id: Uuid,
    approved: Decimal,
    currency: Currency,
}

/// The wallet request that moves an approved refund's money (kind and encoded request):
/// the escrow released, or captured with the refund left to the buyer, or a transfer from
/// the supplier to the buyer (after its guarantee funds' releases); `None` when the buyer
/// has no wallet (recorded for an outbound bank refund).
async fn money_request(
    tx: &mut PgConnection,
    ctx: &Ctx,
    o: &Order,
    moves: refund::Money,
    wallets: &Wallets,
    m: &Movement,
) -> Result<Option<(Kind, Vec<u8>)>, Status> {
    Ok(match moves {
        refund::Money::ReleaseEscrow => {
            let hold_id = match &o.details {
                Some(order::Details::Marketplace(mk)) => mk.escrow_hold_id.clone(),
                _ => return Err(internal("escrow release of a trade order")),
            };
            let req = ReleaseHoldRequest {
                request_id: m.op_id.to_string(),
                hold_id,
                reason: format!("refund {}", m.refund_id),
            };
            Some((Kind::Release, req.encode_to_vec()))
        }
        refund::Money::CaptureRest => {
            let payee = wallets
                .supplier
                .clone()
                .ok_or_else(|| internal("no supplier wallet"))?;
            let rest = amount_of(o.total_amount.as_ref()) - m.approved;
            let req = receipt::capture_request(tx, ctx, o, m.op_id, &payee, rest).await?;
            Some((Kind::Capture, req.encode_to_vec()))
        }
        refund::Money::SupplierToBuyer => {
            match (&wallets.supplier, &wallets.buyer) {
                (Some(s), Some(b)) => {
                    let req = CreateTransferRequest {
                        request_id: m.op_id.to_string(),
                        source_wallet_id: s.clone(),
                        destination_wallet_id: b.clone(),
                        amount: Some(money(m.currency, m.approved)),
                        destination_fund_pool: FundPool::Standard as i32,
                        fee_legs: Vec::new(),
                        order_id: o.order_id.clone(),
                        description: format!("Refund of order {}", o.order_number),
                    };
                    Some((Kind::Transfer, req.encode_to_vec()))
                }
                // No buyer wallet: the refund is recorded for an outbound bank refund.
                _ => None,
            }
        }
    })
}

/// A resolution that moved no money: the refund as it ends, the order's move, who decided.
struct Resolved {
    refund: Refund,
    from: OrderStatus,
    to: OrderStatus,
    resolver: kuajing_proto::order::v1::Actor,
}

/// Saves the order as a resolution that moved no money left it, with its REFUND_RESOLVED
/// event, and answers (recorded, committed).
async fn resolved_now(
    mut tx: idempotency::Tx,
    ctx: &Ctx,
    mut o: Order,
    r: Resolved,
    req: &ResolveRefundRequest,
    now: DateTime<Utc>,
) -> Result<ResolveRefundResponse, Status> {
    records::save(&mut tx, &mut o, now).await?;
    let event = Event::new(
        OrderEventType::RefundResolved,
        r.resolver,
        r.from,
        r.to,
        &req.request_id,
    )
    .reason(&req.note)
    .related("refund_id", &req.refund_id);
    events::append(&mut tx, &o, event, now).await?;
    let resp = ResolveRefundResponse {
        refund: Some(r.refund),
        order: Some(o),
    };
    answer_now(tx, ctx, req, resp).await
}

/// Records the answer of a resolution that moved no money, and commits; a concurrent
/// twin that recorded first wins (its answer is returned, this one rolled back).
async fn answer_now(
    mut tx: idempotency::Tx,
    ctx: &Ctx,
    req: &ResolveRefundRequest,
    resp: ResolveRefundResponse,
) -> Result<ResolveRefundResponse, Status> {
    match idempotency::begin::<_, ResolveRefundResponse>(
        &mut tx,
        ctx.errors(),
        "ResolveRefund",
        &req.request_id,
        req,
    )
    .await?
    {
        idempotency::Begin::Replay(first) => Ok(first),
        idempotency::Begin::Fresh(key) => {
            key.complete(&mut tx, &resp).await?;
            tx.commit().await.map_err(internal)?;
            Ok(resp)
        }
    }
}

/// Sends an approval's money movement and answers from what its completion recorded.
async fn finish(
    ctx: &Ctx,
    op: Uuid,
    req: &ResolveRefundRequest,
) -> Result<ResolveRefundResponse, Status> {
    let order_id = Uuid::try_parse(&req.order_id).map_err(internal)?;
    let releases = {
        let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
        wallet_ops::pending_guarantee_releases(&mut conn, order_id).await?
    };
    for release in releases {
        wallet_ops::execute(ctx, release, &receipt::Effects).await?;
    }
    match wallet_ops::execute(ctx, op, &Effects).await {
        Ok(()) => {}
        Err(s) if peers::reason(&s) == INSUFFICIENT_FUNDS => {
            return Err(ctx.refuse(
                INSUFFICIENT_FUNDS,
                "the supplier's wallet cannot pay the refund",
                &[("order_id", req.order_id.clone())],
            ));
        }
        Err(s) => return Err(s),
    }
    replayed(ctx, "ResolveRefund", &req.request_id, req)
        .await?
        .ok_or_else(|| internal("a settled refund without its answer"))
}

/// Completes an approved refund once the wallet moved the money.
pub async fn settle(
    tx: &mut PgConnection,
    ctx: &Ctx,
    op: &Op,
    refund_id: Uuid,
    wallet_operation_id: &str,
    now: DateTime<Utc>,
) -> Result<(Refund, Order), Status> {
    let mut o = records::lock(tx, ctx, op.order_id).await?;
    let currency = pricing::currency_of(&o)?;
    let r = refund_mut(ctx, &mut o, &refund_id.to_string())?;
    r.state = RefundState::Refunded as i32;
    r.wallet_operation_id = wallet_operation_id.to_owned();
    let approved = amount_of(r.approved_amount.as_ref());
    let before = OrderStatus::try_from(r.order_status_before).unwrap_or(OrderStatus::Unspecified);
    let paused_at = r.create_time.as_ref().and_then(time::from_proto);
    let resolver = r.resolved_by.clone().unwrap_or_default();
    let note = r.resolution_note.clone();
    let refund = r.clone();
    let kind = OrderKind::try_from(o.kind).unwrap_or(OrderKind::Unspecified);
    let (end, _) = refund::approve(kind, before, approved, refundable_of(&o))
        .map_err(|_| internal("a settled refund no longer fits"))?;
    let (from, to) = apply_end(&mut o, end, approved, currency, paused_at, now)
        .map_err(|i| ctx.illegal(&o.order_id, i))?;
    records::save(tx, &mut o, now).await?;
    let request_id = op
        .caller
        .as_ref()
        .map(|c| c.request_id.to_string())
        .unwrap_or_default();
    let event = Event::new(
        OrderEventType::RefundResolved,
        resolver,
        from,
        to,
        &request_id,
    )
    .reason(&note)
    .related("refund_id", refund_id)
    .related("wallet_operation_id", wallet_operation_id);
    events::append(tx, &o, event, now).await?;
    let money_event = match op.kind {
        Kind::Release => Some(OrderEventType::EscrowReleased),
        Kind::Capture => Some(OrderEventType::EscrowCaptured),
        _ => None,
    };
    if let Some(t) = money_event {
        let event = Event::new(t, actor(ActorType::System, None, ""), to, to, "")
            .related("hold_id", wallet_operation_id);
        events::append(tx, &o, event, now).await?;
    }
    Ok((refund, o))
}

/// Undoes an approval the wallet refused: the refund is REQUESTED again.
pub async fn unapprove(
    tx: &mut PgConnection,
    ctx: &Ctx,
    order_id: Uuid,
    refund_id: Uuid,
    refusal: &Status,
    now: DateTime<Utc>,
) -> Result<(), Status> {
    let mut o = records::lock(tx, ctx, order_id).await?;
    let r = refund_mut(ctx, &mut o, &refund_id.to_string())?;
    r.state = RefundState::Requested as i32;
    r.approved_amount = None;
    r.resolved_by = None;
    r.resolve_time = None;
    r.resolution_note = format!("approval failed: {}", peers::reason(refusal));
    records::save(tx, &mut o, now).await
}

/// What the wallet's answers to a refund's operations (the escrow release or capture, the
/// refund transfer) mean for the refund and its order.
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
        let (Some(refund_id), Answer::Hold(id) | Answer::Transfer(id)) = (op.refund_id, answer)
        else {
            return Err(wallet_ops::unfit());
        };
        let (refund, order) = settle(tx, ctx, op, refund_id, &id, now).await?;
        if let Some(c) = &op.caller {
            let req = ResolveRefundRequest::decode(c.request.as_slice()).map_err(internal)?;
            let resp = ResolveRefundResponse {
                refund: Some(refund),
                order: Some(order),
            };
            wallet_ops::record(tx, ctx, c, &req, &resp).await?;
        }
        Ok(())
    }

    async fn refused(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        op: &Op,
        refusal: &Status,
        now: DateTime<Utc>,
    ) -> Result<(), Status> {
        match op.refund_id {
            Some(refund_id) => unapprove(tx, ctx, op.order_id, refund_id, refusal, now).await,
            None => Ok(()),
        }
    }
}
