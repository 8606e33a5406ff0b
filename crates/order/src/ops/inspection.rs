//! The value-added inspection service's fee (seed 002, 增值服务: "系统自动生成增值服务费用单，
//! 由买家直接支付到阿里巴巴收款账户"): a bill apart from the order, which the buyer pays to the
//! platform. PayInspectionFee charges it to the buyer's own wallet (wallet ChargeFee into
//! the platform's fee revenue, never into arrears), once per order.
//!
//! Once per order, whatever the request ids: before the wallet is asked, the order claims
//! one charge id (`inspection_charges`), which every attempt reuses until the wallet answers,
//! so two attempts, concurrent or one after a crash, are one ChargeFee to wallet (which
//! answers a repeat the same). A refusal (not enough available) releases the claim, so the
//! buyer pays with a new request once the wallet holds the fee.

use kuajing_platform::error::internal;
use kuajing_platform::{FieldViolations, idempotency, outbound, time};
use kuajing_proto::order::v1::{
    ActorType, Order, OrderEventType, OrderKind, OrderStatus, PayInspectionFeeRequest,
    PayInspectionFeeResponse,
};
use kuajing_proto::reasons::order as reasons;
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use kuajing_proto::wallet::v1::{ChargeFeeRequest, FeeBearer, FeeLeg, FundPool};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::events::{self, Event};
use super::pricing::{amount_of, trade, trade_mut};
use super::receipt::wallet_of;
use super::{Ctx, actor, records, replayed, status_of};
use crate::ownership::{Need, Who};
use crate::rpc;

const METHOD: &str = "PayInspectionFee";

/// The fee still due on the order's inspection service, or why there is none to pay.
fn due(ctx: &Ctx, o: &Order) -> Result<kuajing_proto::types::Money, tonic::Status> {
    let kind = OrderKind::try_from(o.kind).unwrap_or(OrderKind::Unspecified);
    let inspection = trade(o)
        .and_then(|t| t.inspection.as_ref())
        .filter(|i| i.requested && kind != OrderKind::Marketplace);
    let fee = inspection
        .and_then(|i| i.fee.clone())
        .filter(|fee| amount_of(Some(fee)) > Decimal::ZERO);
    let (Some(inspection), Some(fee)) = (inspection, fee) else {
        return Err(ctx.refuse(
            reasons::INSPECTION_NOT_REQUESTED,
            "the order has no inspection service to pay for",
            &[("order_id", o.order_id.clone())],
        ));
    };
    if inspection.paid_time.is_some() {
        return Err(ctx.refuse(
            reasons::INSPECTION_FEE_ALREADY_PAID,
            "the order's inspection fee is paid already",
            &[("order_id", o.order_id.clone())],
        ));
    }
    // A closed order's goods are never inspected.
    if status_of(o) == OrderStatus::Closed {
        return Err(ctx.refuse(
            reasons::INVALID_STATE_TRANSITION,
            format!(
                "order {} is CLOSED: its inspection is not paid for",
                o.order_id
            ),
            &[
                ("order_id", o.order_id.clone()),
                ("status", OrderStatus::Closed.as_str_name().to_owned()),
            ],
        ));
    }
    Ok(fee)
}

/// The charge id this order's payment uses: the one an earlier attempt claimed and the
/// wallet has not answered yet, else a new one.
async fn claim(ctx: &Ctx, order_id: Uuid) -> Result<Uuid, tonic::Status> {
    crate::store::inspection_charges::claim(&ctx.svc.pool, order_id, Uuid::now_v7(), ctx.now())
        .await
        .map_err(internal)
}

/// PayInspectionFee.
pub async fn pay(
    ctx: &Ctx,
    req: PayInspectionFeeRequest,
    who: Who,
) -> Result<PayInspectionFeeResponse, tonic::Status> {
    let mut v = FieldViolations::new();
    let order_id = v.uuid("order_id", &req.order_id);
    idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    if let Some(r) = replayed(ctx, METHOD, &req.request_id, &req).await? {
        return Ok(r);
    }
    let order_id = order_id.expect("validated");
    let current = crate::ownership::order_of_party(ctx, who, order_id, Need::Buyer).await?;
    let fee = match due(ctx, &current) {
        Ok(fee) => fee,
        Err(refusal) => return refused(ctx, &req, refusal).await,
    };
    let buyer = match who.subject {
        Some(buyer) => buyer.to_string(),
        None => current.buyer_account_id.clone(),
    };
    let wallet = wallet_of(ctx, &buyer).await?;
    let charge_id = claim(ctx, order_id).await?;
    let charge = ChargeFeeRequest {
        request_id: charge_id.to_string(),
        wallet_id: wallet,
        fee: Some(FeeLeg {
            code: "INSPECTION_FEE".to_owned(),
            amount: Some(fee),
            bearer: FeeBearer::Payer as i32,
            description: format!("inspection service of order {}", current.order_number),
        }),
        order_id: current.order_id.clone(),
        allow_arrears: false,
        fund_pool: FundPool::Unspecified as i32,
    };
    let charged = match rpc!(ctx, "wallet", WalletServiceClient, charge_fee, charge) {
        Ok(charged) => charged,
        // Wallet refused (not enough available): nothing was charged; the next attempt
        // claims afresh.
        Err(refusal) if outbound::answered(&refusal) => {
            crate::store::inspection_charges::release(&ctx.svc.pool, order_id, charge_id)
                .await
                .map_err(internal)?;
            return refused(ctx, &req, refusal).await;
        }
        Err(transient) => return Err(transient),
    };
    let entry = charged
        .journal_entry
        .map(|e| e.journal_entry_id)
        .ok_or_else(|| internal("wallet charged a fee without a journal entry"))?;
    let now = ctx.now();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        METHOD,
        &req.request_id,
        &req,
        |mut tx| async move {
            let mut o = records::lock(&mut tx, ctx, order_id).await?;
            let inspection = trade_mut(&mut o)
                .and_then(|t| t.inspection.as_mut())
                .ok_or_else(|| internal("an inspection that went away"))?;
            // A concurrent attempt, charged under the same claim, may have recorded it.
            if inspection.paid_time.is_none() {
                inspection.paid_time = Some(time::to_proto(now));
                inspection.fee_journal_entry_id = entry.clone();
                let s = status_of(&o);
                let event = Event::new(
                    OrderEventType::InspectionFeePaid,
                    actor(ActorType::Buyer, who.subject, ""),
                    s,
                    s,
                    "",
                )
                .related("journal_entry_id", &entry);
                events::append(&mut tx, &o, event, now).await?;
                records::save(&mut tx, &mut o, now).await?;
            }
            Ok((PayInspectionFeeResponse { order: Some(o) }, tx))
        },
    )
    .await
}

/// Answers `refusal`, recorded under the request id (a terminal one is replayed to every
/// repeat).
async fn refused(
    ctx: &Ctx,
    req: &PayInspectionFeeRequest,
    refusal: tonic::Status,
) -> Result<PayInspectionFeeResponse, tonic::Status> {
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        METHOD,
        &req.request_id,
        req,
        |_tx| async move { Err::<(PayInspectionFeeResponse, idempotency::Tx), _>(refusal) },
    )
    .await
}
