//! Trade Assurance and Direct Pay orders: drafting (DraftTradeAssuranceOrder,
//! DraftDirectPayOrder). The rules a draft must meet are in `trade_rules`; a draft also
//! learns the supplier's collection account the buyer remits to.

use kuajing_platform::FieldViolations;
use kuajing_platform::{Currency, idempotency};
use kuajing_proto::order::v1::{
    ActorType, BuyerContact, DraftDirectPayOrderRequest, DraftDirectPayOrderResponse,
    DraftTradeAssuranceOrderRequest, DraftTradeAssuranceOrderResponse, InspectionService, Order,
    OrderEventType, OrderKind, OrderParty, OrderStatus, PaymentTerms, TradeDetails, order,
};
use kuajing_proto::reasons::order as reasons;
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use kuajing_proto::wallet::v1::{
    ListReceivingAccountsRequest, ReceivingAccountPurpose, get_wallet_request,
};
use rust_decimal::Decimal;
use tonic::Status;
use uuid::Uuid;

use super::events::{self, Event};
use super::pricing::{self, money};
use super::trade_rules::{Checks, check_fields, check_rules, parties};
use super::{Ctx, actor, records, replayed};
use crate::rpc;

/// The supplier's collection account for the order currency: its wallet's first trade
/// collection account in that currency ("" when it has none yet).
pub async fn collection_account(
    ctx: &Ctx,
    supplier: &str,
    currency: Currency,
) -> Result<String, Status> {
    let lookup = get_wallet_request::Lookup::OwnerAccountId(supplier.to_owned());
    let Some(wallet) = super::receipt::wallet_by(ctx, lookup).await? else {
        return Ok(String::new());
    };
    let accounts = rpc!(
        ctx,
        "wallet",
        WalletServiceClient,
        list_receiving_accounts,
        ListReceivingAccountsRequest {
            wallet_id: wallet.wallet_id.clone(),
            currency_code: currency.code().to_owned(),
            page: None,
        }
    )?;
    Ok(accounts
        .receiving_accounts
        .iter()
        .find(|a| a.purpose == ReceivingAccountPurpose::TradeCollection as i32)
        .map(|a| a.receiving_account_id.clone())
        .unwrap_or_default())
}

/// A draft, from either RPC.
struct Draft {
    kind: OrderKind,
    drafted_by: OrderParty,
    supplier_account_id: String,
    buyer_account_id: String,
    buyer: Option<BuyerContact>,
    salesperson: String,
    currency_code: String,
    lines: Vec<kuajing_proto::order::v1::OrderLine>,
    contract: Option<kuajing_proto::order::v1::ContractReference>,
    shipping_terms: Option<kuajing_proto::order::v1::ShippingTerms>,
    export_method: i32,
    payment_terms: Option<PaymentTerms>,
    payment_method: i32,
    inspection: Option<InspectionService>,
    note: String,
}

fn assemble(d: Draft) -> Order {
    let terms = d.payment_terms.map(|p| PaymentTerms {
        prepayment: if p.full_prepayment {
            None
        } else {
            p.prepayment
        },
        full_prepayment: p.full_prepayment,
        ..PaymentTerms::default()
    });
    let inspection = d.inspection.map(|i| InspectionService {
        requested: i.requested,
        provider_code: if i.requested {
            i.provider_code
        } else {
            String::new()
        },
        fee: None,
        ..InspectionService::default()
    });
    let mut st = d.shipping_terms;
    if let Some(s) = st.as_mut() {
        s.ship_by_time = None;
    }
    Order {
        order_id: Uuid::now_v7().to_string(),
        kind: d.kind as i32,
        supplier_account_id: d.supplier_account_id,
        buyer_account_id: d.buyer_account_id,
        currency_code: d.currency_code,
        lines: d.lines,
        payment_method: d.payment_method,
        details: Some(order::Details::Trade(TradeDetails {
            drafted_by: d.drafted_by as i32,
            buyer: d.buyer,
            salesperson: d.salesperson,
            contract: d.contract,
            shipping_terms: st,
            export_method: d.export_method,
            payment_terms: terms,
            inspection,
            note: d.note,
            ..TradeDetails::default()
        })),
        ..Order::default()
    }
}

/// Draft request fields live at the top level: "trade.buyer" is "buyer".
fn draft_name(path: &str) -> String {
    path.strip_prefix("trade.").unwrap_or(path).to_owned()
}

async fn draft<Req: prost::Message, Resp: prost::Message + Default>(
    ctx: &Ctx,
    method: &str,
    request_id: &str,
    req: &Req,
    d: Draft,
    subject: Option<Uuid>,
    respond: fn(Order) -> Resp,
) -> Result<Resp, Status> {
    if let Some(r) = replayed::<Req, Resp>(ctx, method, request_id, req).await? {
        return Ok(r);
    }
    let now = ctx.now();
    let kind = d.kind;
    let drafted_by = d.drafted_by;
    let mut inv = FieldViolations::new();
    inv.uuid("supplier_account_id", &d.supplier_account_id);
    if drafted_by == OrderParty::Buyer {
        inv.uuid("buyer_account_id", &d.buyer_account_id);
    } else {
        inv.optional_uuid("buyer_account_id", &d.buyer_account_id);
    }
    let buyer_drafts = drafted_by == OrderParty::Buyer;
    let mut order = assemble(d);
    if buyer_drafts && pricing::trade(&order).is_some_and(|t| !t.salesperson.is_empty()) {
        inv.add("salesperson", "only the supplier sets the salesperson");
    }
    let checks = Checks {
        export_required: !buyer_drafts,
        buyer_email_optional: buyer_drafts,
    };
    let rule = check_fields(ctx, &mut inv, &draft_name, &mut order, None, checks, now);
    inv.finish_in(ctx.errors())?;
    let parties = parties(ctx, &mut order, now).await?;
    if pricing::trade(&order)
        .and_then(|t| t.buyer.as_ref())
        .is_some_and(|b| b.email.is_empty())
    {
        return Err(ctx.errors().invalid(
            reasons::BUYER_EMAIL_REQUIRED,
            "buyer.email",
            "the buyer account has no verified email; give one",
        ));
    }
    check_rules(ctx, &mut order, rule, &parties).await?;
    let currency = pricing::currency_of(&order)?;
    let collection = collection_account(ctx, &order.supplier_account_id, currency).await?;
    if let Some(t) = pricing::trade_mut(&mut order) {
        t.supplier_receiving_account_id = collection;
    }
    order.received_amount = Some(money(currency, Decimal::ZERO));
    order.refunded_amount = Some(money(currency, Decimal::ZERO));
    let status = match (kind, drafted_by) {
        (OrderKind::DirectPay, _) => OrderStatus::AwaitingBuyerConfirmation,
        (_, OrderParty::Buyer) => OrderStatus::AwaitingSupplierAcceptance,
        _ => OrderStatus::AwaitingPrepayment,
    };
    order.status = status as i32;
    let actor_type = if buyer_drafts {
        ActorType::Buyer
    } else {
        ActorType::Supplier
    };
    let party = if buyer_drafts {
        order.buyer_account_id.clone()
    } else {
        order.supplier_account_id.clone()
    };
    let request_id_owned = request_id.to_owned();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        method,
        request_id,
        req,
        |mut tx| async move {
            super::trade_rules::recheck_monthly_limit(ctx, &mut tx, &order).await?;
            order.order_number = records::next_number(&mut tx, kind).await?;
            records::insert(&mut tx, &mut order, "", now).await?;
            let event = Event::new(
                OrderEventType::Created,
                actor(actor_type, subject, &party),
                OrderStatus::Unspecified,
                status,
                &request_id_owned,
            );
            events::append(&mut tx, &order, event, now).await?;
            Ok((respond(order), tx))
        },
    )
    .await
}

/// DraftTradeAssuranceOrder.
pub async fn draft_trade_assurance(
    ctx: &Ctx,
    req: DraftTradeAssuranceOrderRequest,
    subject: Option<Uuid>,
) -> Result<DraftTradeAssuranceOrderResponse, Status> {
    let drafted_by = match OrderParty::try_from(req.drafted_by) {
        Ok(p @ (OrderParty::Buyer | OrderParty::Supplier)) => p,
        _ => {
            let mut inv = FieldViolations::new();
            inv.add(
                "drafted_by",
                "must be ORDER_PARTY_SUPPLIER or ORDER_PARTY_BUYER",
            );
            return Err(inv.finish_in(ctx.errors()).expect_err("one violation"));
        }
    };
    let d = Draft {
        kind: OrderKind::TradeAssurance,
        drafted_by,
        supplier_account_id: req.supplier_account_id.clone(),
        buyer_account_id: req.buyer_account_id.clone(),
        buyer: req.buyer.clone(),
        salesperson: req.salesperson.clone(),
        currency_code: req.currency_code.clone(),
        lines: req.lines.clone(),
        contract: req.contract.clone(),
        shipping_terms: req.shipping_terms.clone(),
        export_method: req.export_method,
        payment_terms: req.payment_terms.clone(),
        payment_method: req.payment_method,
        inspection: req.inspection.clone(),
        note: req.note.clone(),
    };
    draft(
        ctx,
        "DraftTradeAssuranceOrder",
        &req.request_id,
        &req,
        d,
        subject,
        |o| DraftTradeAssuranceOrderResponse { order: Some(o) },
    )
    .await
}

/// DraftDirectPayOrder.
pub async fn draft_direct_pay(
    ctx: &Ctx,
    req: DraftDirectPayOrderRequest,
    subject: Option<Uuid>,
) -> Result<DraftDirectPayOrderResponse, Status> {
    let d = Draft {
        kind: OrderKind::DirectPay,
        drafted_by: OrderParty::Supplier,
        supplier_account_id: req.supplier_account_id.clone(),
        buyer_account_id: req.buyer_account_id.clone(),
        buyer: req.buyer.clone(),
        salesperson: req.salesperson.clone(),
        currency_code: req.currency_code.clone(),
        lines: req.lines.clone(),
        contract: req.contract.clone(),
        shipping_terms: req.shipping_terms.clone(),
        export_method: req.export_method,
        payment_terms: req.payment_terms.clone(),
        payment_method: req.payment_method,
        inspection: req.inspection.clone(),
        note: req.note.clone(),
    };
    draft(
        ctx,
        "DraftDirectPayOrder",
        &req.request_id,
        &req,
        d,
        subject,
        |o| DraftDirectPayOrderResponse { order: Some(o) },
    )
    .await
}
