//! Receipt: the buyer confirms (ConfirmReceipt), or the service does at auto_confirm_time
//! (actor SYSTEM). The order completes; a marketplace order's escrow is captured: the
//! order total to the supplier's wallet, the buyer's fee to fee revenue (wallet CaptureHold
//! with a payer-borne fee leg); a Trade Assurance order's guarantee funds are released to
//! the supplier (wallet ReleaseHold), then a Trade Assurance or Direct Pay order's export
//! service fee is charged to the supplier (wallet ChargeFee). All go through the
//! wallet-operation outbox, sent in that order.

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::{Currency, FieldViolations, idempotency, time};
use kuajing_proto::order::v1::{
    ActorType, ConfirmReceiptRequest, ConfirmReceiptResponse, FeeLine, FeeType, Order,
    OrderEventType, OrderKind, OrderStatus, PaymentMethod, order,
};
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use kuajing_proto::wallet::v1::{
    CaptureHoldRequest, ChargeFeeRequest, FeeBearer, FeeLeg, FundPool, GetWalletRequest, Wallet,
    get_wallet_request,
};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use tonic::Status;
use uuid::Uuid;

use super::events::{self, Event};
use super::peers::found;
use super::pricing::{amount_of, money};
use super::wallet_ops::{self, Answer, Kind, Op};
use super::{Ctx, actor, payment_record, quotas, records, replayed};
use crate::domain::fees;
use crate::domain::status::{self, Action, Facts};
use crate::ownership::{Need, Who};
use crate::rpc;

/// The wallet `lookup` names, if there is one.
pub async fn wallet_by(
    ctx: &Ctx,
    lookup: get_wallet_request::Lookup,
) -> Result<Option<Wallet>, Status> {
    Ok(found(rpc!(
        ctx,
        "wallet",
        WalletServiceClient,
        get_wallet,
        GetWalletRequest {
            lookup: Some(lookup)
        }
    ))?
    .and_then(|w| w.wallet))
}

/// The wallet of an account (NOT_FOUND wallet when it has none).
pub async fn wallet_of(ctx: &Ctx, owner: &str) -> Result<String, Status> {
    let lookup = get_wallet_request::Lookup::OwnerAccountId(owner.to_owned());
    wallet_by(ctx, lookup)
        .await?
        .map(|w| w.wallet_id)
        .ok_or_else(|| ctx.errors().not_found("wallet", owner.to_owned()))
}

/// The facts of an order for the state machine.
pub fn facts(o: &Order) -> Facts {
    Facts {
        kind: OrderKind::try_from(o.kind).unwrap_or(OrderKind::Unspecified),
        received_any: amount_of(o.received_amount.as_ref()) > Decimal::ZERO,
    }
}

/// The CaptureHold of a marketplace order's escrow: `amount` (order currency, at par) to
/// the supplier's wallet with the buyer's fee to fee revenue; the rest of the hold goes
/// back to the buyer.
pub async fn capture_request(
    conn: &mut PgConnection,
    ctx: &Ctx,
    o: &Order,
    op_id: Uuid,
    payee_wallet: &str,
    amount: Decimal,
) -> Result<CaptureHoldRequest, Status> {
    let Some(order::Details::Marketplace(m)) = &o.details else {
        return Err(internal("escrow of a non-marketplace order"));
    };
    let payment_id = Uuid::try_parse(&m.payment_id).map_err(internal)?;
    let payment = payment_record::load(conn, ctx, payment_id).await?.payment;
    let settlement: Currency = payment.settlement_currency_code.parse().map_err(internal)?;
    let item = payment
        .items
        .iter()
        .find(|i| i.order_id == o.order_id)
        .ok_or_else(|| internal("the payment does not cover the order"))?;
    let fee = amount_of(item.fee.as_ref());
    let code = if payment.payment_method == PaymentMethod::WorldPay as i32 {
        "WORLD_PAY_FEE"
    } else {
        "CROSS_BORDER_PAY_FEE"
    };
    let fee_legs = if fee > Decimal::ZERO {
        vec![FeeLeg {
            code: code.to_owned(),
            amount: Some(money(settlement, fee)),
            bearer: FeeBearer::Payer as i32,
            description: format!("Transaction fee of order {}", o.order_number),
        }]
    } else {
        Vec::new()
    };
    Ok(CaptureHoldRequest {
        request_id: op_id.to_string(),
        hold_id: m.escrow_hold_id.clone(),
        payee_wallet_id: payee_wallet.to_owned(),
        amount: Some(money(settlement, amount)),
        payee_fund_pool: FundPool::Standard as i32,
        fee_legs,
        payee_guarantee: false,
    })
}

/// Confirms receipt of a locked order: COMPLETED, and the wallet operations it needs
/// recorded: a marketplace order's escrow capture; a trade order's guarantee releases,
/// then its export service fee. Returns them in the order to send them.
#[allow(clippy::too_many_arguments)]
async fn complete(
    tx: &mut PgConnection,
    ctx: &Ctx,
    o: &mut Order,
    kind: ActorType,
    subject: Option<Uuid>,
    request_id: &str,
    payee_wallet: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, Status> {
    let from = super::status_of(o);
    let to = status::next(from, facts(o), Action::ConfirmReceipt)
        .map_err(|i| ctx.illegal(&o.order_id, i))?;
    o.status = to as i32;
    o.complete_time = Some(time::to_proto(now));
    o.auto_confirm_time = None;
    records::save(tx, o, now).await?;
    let event_type = if kind == ActorType::System {
        OrderEventType::ReceiptAutoConfirmed
    } else {
        OrderEventType::ReceiptConfirmed
    };
    let event = Event::new(
        event_type,
        actor(kind, subject, &o.buyer_account_id),
        from,
        to,
        request_id,
    );
    events::append(tx, o, event, now).await?;
    if o.kind != OrderKind::Marketplace as i32 {
        let order_id = Uuid::try_parse(&o.order_id).map_err(internal)?;
        let mut ops = quotas::release_guarantees(tx, order_id, "order completed", now).await?;
        ops.extend(export_fee(tx, o, payee_wallet, now).await?);
        return Ok(ops);
    }
    let payee = payee_wallet.ok_or_else(|| internal("no payee wallet for an escrow capture"))?;
    let op_id = Uuid::now_v7();
    let total = amount_of(o.total_amount.as_ref());
    let req = capture_request(tx, ctx, o, op_id, payee, total).await?;
    let op = Op::for_order(op_id, &o.order_id, Kind::Capture, &req)?;
    wallet_ops::insert(tx, &op, now).await?;
    Ok(vec![op_id])
}

/// Sends a completion's wallet operations in order; the first that does not succeed now
/// (and every later one) is left to the retry loop.
async fn send(ctx: &Ctx, order_id: Uuid, ops: Vec<Uuid>) {
    for id in ops {
        if let Err(e) = wallet_ops::execute(ctx, id, &Effects).await {
            tracing::warn!(order_id = %order_id, error = %e.message(), "wallet operations left for the retry loop");
            return;
        }
    }
}

/// The export service fee line of a trade order, when it has a fee to charge.
fn export_fee_line(o: &Order) -> Option<&FeeLine> {
    o.fees
        .as_ref()?
        .lines
        .iter()
        .find(|l| l.r#type == FeeType::ExportServiceFee as i32)
        .filter(|l| amount_of(l.amount.as_ref()) > Decimal::ZERO)
}

/// Records the charge of a completed trade order's export service fee (seed 002: the
/// 交易服务费 of self-export and convenient shipping, the 一达通 basic service fee of agent
/// export) to the supplier's wallet, from the pool the order's proceeds went to; what the
/// balance does not cover becomes arrears. Charged at completion, on the fee line of the
/// order's terms as they stand then (modifications until shipping recompute it; a partial
/// refund does not lower it, since the sources say nothing of refunding the fee). `None`
/// when the order has no such fee.
async fn export_fee(
    tx: &mut PgConnection,
    o: &Order,
    supplier_wallet: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, Status> {
    let Some(line) = export_fee_line(o) else {
        return Ok(None);
    };
    let wallet = supplier_wallet.ok_or_else(|| internal("no supplier wallet for a fee"))?;
    let pool = fees::proceeds_pool(super::pricing::trade(o).map(|t| t.export_method));
    let op_id = Uuid::now_v7();
    let req = ChargeFeeRequest {
        request_id: op_id.to_string(),
        wallet_id: wallet.to_owned(),
        fee: Some(FeeLeg {
            code: "EXPORT_SERVICE_FEE".to_owned(),
            amount: line.amount.clone(),
            bearer: FeeBearer::Payee as i32,
            description: format!("{} of order {}", line.description, o.order_number),
        }),
        order_id: o.order_id.clone(),
        allow_arrears: true,
        fund_pool: pool as i32,
    };
    let op = Op::for_order(op_id, &o.order_id, Kind::Fee, &req)?;
    wallet_ops::insert(tx, &op, now).await?;
    Ok(Some(op_id))
}

/// The supplier wallet a completion moves money for: a marketplace order's escrow is
/// captured to it, a trade order's export service fee charged to it.
async fn payee(ctx: &Ctx, o: &Order) -> Result<Option<String>, Status> {
    if o.kind == OrderKind::Marketplace as i32 || export_fee_line(o).is_some() {
        Ok(Some(wallet_of(ctx, &o.supplier_account_id).await?))
    } else {
        Ok(None)
    }
}

/// ConfirmReceipt.
pub async fn confirm(
    ctx: &Ctx,
    req: ConfirmReceiptRequest,
    who: Who,
) -> Result<ConfirmReceiptResponse, Status> {
    const METHOD: &str = "ConfirmReceipt";
    let mut v = FieldViolations::new();
    let order_id = v.uuid("order_id", &req.order_id);
    idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    if let Some(r) = replayed(ctx, METHOD, &req.request_id, &req).await? {
        return Ok(r);
    }
    let order_id = order_id.expect("validated");
    let current = crate::ownership::order_of_party(ctx, who, order_id, Need::Buyer).await?;
    // Refuse an illegal confirmation before asking the wallet anything.
    status::next(
        super::status_of(&current),
        facts(&current),
        Action::ConfirmReceipt,
    )
    .map_err(|i| ctx.illegal(&current.order_id, i))?;
    let payee = payee(ctx, &current).await?;
    let now = ctx.now();
    let request_id = req.request_id.clone();
    let mut ops = Vec::new();
    let ops_ref = &mut ops;
    let resp = idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        METHOD,
        &req.request_id,
        &req,
        |mut tx| async move {
            let mut o = records::lock(&mut tx, ctx, order_id).await?;
            *ops_ref = complete(
                &mut tx,
                ctx,
                &mut o,
                ActorType::Buyer,
                who.subject,
                &request_id,
                payee.as_deref(),
                now,
            )
            .await?;
            Ok((ConfirmReceiptResponse { order: Some(o) }, tx))
        },
    )
    .await?;
    send(ctx, order_id, ops).await;
    Ok(resp)
}

/// Confirms receipt of every order whose auto_confirm_time passed; returns how many.
pub async fn auto_confirm_due(ctx: &Ctx) -> Result<usize, Status> {
    let now = ctx.now();
    let shipped = (
        OrderStatus::Shipped as i16,
        OrderStatus::AwaitingReceipt as i16,
    );
    let due = crate::store::orders::auto_confirm_due(&ctx.svc.pool, shipped, now)
        .await
        .map_err(internal)?;
    let mut done = 0;
    for id in due {
        let current = {
            let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
            records::load(&mut conn, ctx, id).await?
        };
        let payee = match payee(ctx, &current).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(order_id = %id, error = %e.message(), "auto-confirmation waits for the supplier's wallet");
                continue;
            }
        };
        let mut tx = ctx.svc.pool.begin().await.map_err(internal)?;
        let mut o = records::lock(&mut tx, ctx, id).await?;
        let due_now = o
            .auto_confirm_time
            .as_ref()
            .and_then(time::from_proto)
            .is_some_and(|t| t <= now);
        if !due_now {
            continue;
        }
        let ops = match complete(
            &mut tx,
            ctx,
            &mut o,
            ActorType::System,
            None,
            "",
            payee.as_deref(),
            now,
        )
        .await
        {
            Ok(ops) => ops,
            Err(e) => {
                tracing::warn!(order_id = %id, error = %e.message(), "auto-confirmation refused");
                continue;
            }
        };
        tx.commit().await.map_err(internal)?;
        done += 1;
        send(ctx, id, ops).await;
    }
    Ok(done)
}

/// Records that a fee was charged to the supplier for the order.
pub async fn fee_charged(
    tx: &mut PgConnection,
    ctx: &Ctx,
    order_id: Uuid,
    journal_entry_id: &str,
    arrears_added: Option<kuajing_proto::types::Money>,
    now: DateTime<Utc>,
) -> Result<(), Status> {
    let o = records::lock(tx, ctx, order_id).await?;
    let s = super::status_of(&o);
    let mut event = Event::new(
        OrderEventType::FeeCharged,
        actor(ActorType::System, None, ""),
        s,
        s,
        "",
    )
    .related("journal_entry_id", journal_entry_id);
    if let Some(owed) = arrears_added.filter(|m| amount_of(Some(m)) > Decimal::ZERO) {
        event = event.related(
            "arrears_added",
            format!("{} {}", owed.currency_code, owed.amount),
        );
    }
    events::append(tx, &o, event, now).await?;
    Ok(())
}

/// Records what wallet did with a hold of the order (`what`: the escrow captured, the
/// guarantee funds released), as the system, in the status the order has.
pub async fn hold_moved(
    tx: &mut PgConnection,
    ctx: &Ctx,
    order_id: Uuid,
    what: OrderEventType,
    hold_id: &str,
    now: DateTime<Utc>,
) -> Result<(), Status> {
    let o = records::lock(tx, ctx, order_id).await?;
    let s = super::status_of(&o);
    let event =
        Event::new(what, actor(ActorType::System, None, ""), s, s, "").related("hold_id", hold_id);
    events::append(tx, &o, event, now).await?;
    Ok(())
}

/// What the wallet's answers to receipt's operations (the escrow capture, a guarantee
/// release, the export service fee) mean for the order.
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
        match (op.kind, answer) {
            (Kind::Capture, Answer::Hold(hold)) => {
                let what = OrderEventType::EscrowCaptured;
                hold_moved(tx, ctx, op.order_id, what, &hold, now).await
            }
            (Kind::Release, Answer::Hold(hold)) => {
                let what = OrderEventType::GuaranteeFundsReleased;
                hold_moved(tx, ctx, op.order_id, what, &hold, now).await
            }
            (Kind::Fee, Answer::Fee(entry, arrears)) => {
                fee_charged(tx, ctx, op.order_id, &entry, arrears, now).await
            }
            _ => Err(wallet_ops::unfit()),
        }
    }

    async fn refused(
        &self,
        _tx: &mut PgConnection,
        _ctx: &Ctx,
        op: &Op,
        refusal: &Status,
        _now: DateTime<Utc>,
    ) -> Result<(), Status> {
        // Nothing was pending on the order: the money stays where it is, for an operator.
        let what = match op.kind {
            Kind::Fee => "a fee charge was refused",
            Kind::Release => "a guarantee release was refused",
            _ => "an escrow capture was refused",
        };
        tracing::error!(order_id = %op.order_id, reason = %super::peers::reason(refusal), "{what}");
        Ok(())
    }
}
