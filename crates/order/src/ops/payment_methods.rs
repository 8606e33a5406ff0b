//! Payment methods and fee estimates: QueryPaymentMethods ("which methods can these unpaid
//! orders use, and why not the others", like alibaba.trade.payWay.query) and
//! EstimateOrderFees (the fees of an order or a draft under given terms). Both only read:
//! availability is asked of identity (supplier admission) and authorization (mandates,
//! restricted categories, a validate-only decision); nothing is reserved.

use kuajing_proto::reasons::order as reasons;
use std::collections::HashMap;

use kuajing_platform::error::internal;
use kuajing_platform::{Currency, FieldViolations};
use kuajing_proto::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use kuajing_proto::authorization::v1::{
    DecidePaymentRequest, DecisionOutcome, ListMandatesRequest, ListRestrictedCategoriesRequest,
    MandateState, decide_payment_request,
};
use kuajing_proto::identity::v1::identity_service_client::IdentityServiceClient;
use kuajing_proto::identity::v1::{
    AdmissionProgram, CheckSupplierAdmissionRequest, GetSupplierProfileRequest, MarketplaceMember,
    SupplierMembership,
};
use kuajing_proto::order::v1::{
    EstimateOrderFeesRequest, EstimateOrderFeesResponse, FeeBreakdown, Order, OrderKind,
    OrderPaymentMethods, OrderStatus, PaymentMethod, PaymentMethodOption,
    PaymentMethodUnavailableReason as Why, PaymentSettlement, PaymentTerms,
    QueryPaymentMethodsRequest, QueryPaymentMethodsResponse, TradeDetails,
    estimate_order_fees_request, order,
};
use kuajing_proto::types::PageRequest;
use rust_decimal::Decimal;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use uuid::Uuid;

use super::peers::found;
use super::pricing::{self, Fx, amount_of, money};
use super::trade_rules::{PAYMENT_METHOD_NOT_ALLOWED, month_use};
use super::{Ctx, records};
use crate::domain::fees::MethodRow;
use crate::domain::tiers::Basis;
use crate::ownership::{self, Need, Who};
use crate::rpc;

/// Reason: an order has nothing due.
pub use kuajing_proto::reasons::order::ORDER_NOT_AWAITING_PAYMENT;
/// Orders per query (contract).
const MAX_ORDERS: usize = 50;

/// What is due now: UNPAID the total; else the unpaid prepayment or balance.
fn amount_due(o: &Order) -> Option<Decimal> {
    let t = pricing::trade(o)
        .and_then(|t| t.payment_terms.clone())
        .unwrap_or_default();
    match super::status_of(o) {
        OrderStatus::Unpaid => Some(amount_of(o.total_amount.as_ref())),
        OrderStatus::AwaitingPrepayment => {
            Some(amount_of(t.prepayment.as_ref()) - amount_of(t.prepayment_received.as_ref()))
        }
        OrderStatus::AwaitingBalance => {
            Some(amount_of(t.balance.as_ref()) - amount_of(t.balance_received.as_ref()))
        }
        _ => None,
    }
}

fn member_of(o: &Order) -> Option<MarketplaceMember> {
    match &o.details {
        Some(order::Details::Marketplace(m)) => Some(MarketplaceMember {
            marketplace: m.marketplace_code,
            external_member_id: m.buyer_member_id.clone(),
        }),
        _ => None,
    }
}

fn option(
    ctx: &Ctx,
    row: &MethodRow,
    reasons: Vec<Why>,
    detail: String,
    fees: Vec<kuajing_proto::order::v1::FeeLine>,
) -> PaymentMethodOption {
    let mut reasons = reasons;
    if !row.enabled {
        reasons.push(Why::Disabled);
    }
    PaymentMethodOption {
        payment_method: row.method as i32,
        variant: row.variant.clone(),
        available: reasons.is_empty(),
        unavailable_reasons: reasons.iter().map(|r| *r as i32).collect(),
        unavailable_detail: detail.chars().take(500).collect(),
        settlement: row.settlement as i32,
        fees,
        schedule: Some(pricing::schedule(ctx, row)),
    }
}

/// Restricted category codes (every page).
async fn restricted(ctx: &Ctx) -> Result<Vec<String>, Status> {
    let mut codes = Vec::new();
    let mut token = String::new();
    loop {
        let req = ListRestrictedCategoriesRequest {
            include_unrestricted: false,
            page: Some(PageRequest {
                page_size: 1000,
                page_token: token.clone(),
            }),
        };
        let r = rpc!(
            ctx,
            "authorization",
            AuthorizationServiceClient,
            list_restricted_categories,
            req
        )?;
        codes.extend(
            r.restricted_categories
                .into_iter()
                .filter(|c| c.restricted)
                .map(|c| c.category_code),
        );
        token = r.page.map(|p| p.next_page_token).unwrap_or_default();
        if token.is_empty() {
            return Ok(codes);
        }
    }
}

fn is_restricted(code: &str, restricted: &[String]) -> bool {
    restricted.iter().any(|r| {
        code == r
            || code
                .strip_prefix(r.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// What a marketplace order's options depend on beyond the order, read once for all the
/// orders asked about (they share one buyer).
#[derive(Default)]
struct MarketplaceFacts {
    /// The buyer's fee tier basis.
    basis: Option<Basis>,
    /// The categories cross-border pay refuses.
    restricted: Vec<String>,
    /// Per supplier: admitted to cross-border pay, and the failed rules' messages.
    admission: HashMap<String, (bool, String)>,
    /// The buyer's active cross-border pay mandate.
    mandate: Option<String>,
}

/// Reads the facts of `market` (the marketplace orders asked about, one buyer's).
async fn marketplace_facts(ctx: &Ctx, market: &[&Order]) -> Result<MarketplaceFacts, Status> {
    let mut facts = MarketplaceFacts::default();
    let Some(first) = market.first() else {
        return Ok(facts);
    };
    if let Ok(buyer) = Uuid::try_parse(&first.buyer_account_id) {
        facts.basis = Some(pricing::tier_basis(ctx, buyer, ctx.now()).await?);
    }
    facts.restricted = restricted(ctx).await?;
    for o in market {
        if facts.admission.contains_key(&o.supplier_account_id) {
            continue;
        }
        let a = rpc!(
            ctx,
            "identity",
            IdentityServiceClient,
            check_supplier_admission,
            CheckSupplierAdmissionRequest {
                account_id: o.supplier_account_id.clone(),
                program: AdmissionProgram::CrossBorderPay as i32,
            }
        )?
        .admission
        .unwrap_or_default();
        let detail = a
            .failed_rules
            .iter()
            .map(|f| f.message.clone())
            .collect::<Vec<_>>()
            .join("; ");
        facts
            .admission
            .insert(o.supplier_account_id.clone(), (a.admitted, detail));
    }
    if let Some(member) = member_of(first) {
        let r = rpc!(
            ctx,
            "authorization",
            AuthorizationServiceClient,
            list_mandates,
            ListMandatesRequest {
                marketplace_member: Some(member),
                state: MandateState::Active as i32,
                ..ListMandatesRequest::default()
            }
        )?;
        facts.mandate = r.mandates.into_iter().next().map(|m| m.mandate_id);
    }
    Ok(facts)
}

/// The options of a marketplace order.
async fn marketplace_options(
    ctx: &Ctx,
    o: &Order,
    due: Decimal,
    facts: &MarketplaceFacts,
    region: &str,
) -> Result<Vec<PaymentMethodOption>, Status> {
    let (basis, restricted, admission) =
        (facts.basis.as_ref(), &facts.restricted, &facts.admission);
    let mandate = facts.mandate.as_deref();
    let cny = Currency::CNY;
    let categories: Vec<String> = o
        .lines
        .iter()
        .map(|l| l.category_code.clone())
        .filter(|c| !c.is_empty())
        .collect();
    let bad_category = categories
        .iter()
        .find(|c| is_restricted(c, restricted))
        .cloned();
    let (supplier_ok, supplier_detail) = admission
        .get(&o.supplier_account_id)
        .cloned()
        .unwrap_or((true, String::new()));
    let mut options = Vec::new();
    for row in ctx.rules.methods_for(OrderKind::Marketplace) {
        let fee = pricing::marketplace_fee(ctx, row, due, cny, basis);
        let mut reasons = Vec::new();
        let mut detail = Vec::new();
        if row.settlement == PaymentSettlement::WalletEscrow {
            if !supplier_ok {
                reasons.push(Why::SupplierNotEnabled);
                detail.push(supplier_detail.clone());
            }
            match mandate {
                None => {
                    reasons.push(Why::NoActiveMandate);
                    detail.push("the buyer's marketplace account has no active cross-border pay authorisation".to_owned());
                }
                Some(m) if reasons.is_empty() && bad_category.is_none() => {
                    // Limits: a validate-only decision reserves nothing.
                    let amount = due + amount_of(fee.amount.as_ref());
                    let req = DecidePaymentRequest {
                        request_id: String::new(),
                        mandate_selector: Some(decide_payment_request::MandateSelector::MandateId(
                            m.to_owned(),
                        )),
                        payment_id: Uuid::now_v7().to_string(),
                        order_ids: vec![o.order_id.clone()],
                        amount: Some(money(ctx.settings.settlement_currency, amount)),
                        supplier_account_id: o.supplier_account_id.clone(),
                        category_codes: categories.clone(),
                        validate_only: true,
                    };
                    let d = rpc!(
                        ctx,
                        "authorization",
                        AuthorizationServiceClient,
                        decide_payment,
                        req
                    )?
                    .decision
                    .unwrap_or_default();
                    if d.outcome != DecisionOutcome::Approved as i32 {
                        reasons.push(match d.reason.as_str() {
                            "LIMIT_PER_TRANSACTION" => Why::AmountOverLimit,
                            "LIMIT_PER_DAY" => Why::PeriodLimitReached,
                            "SUPPLIER_NOT_ENABLED" => Why::SupplierNotEnabled,
                            "CATEGORY_RESTRICTED" => Why::CategoryRestricted,
                            _ => Why::NoActiveMandate,
                        });
                        detail.push(d.message.clone());
                    }
                }
                Some(_) => {}
            }
            if let Some(c) = &bad_category {
                reasons.push(Why::CategoryRestricted);
                detail.push(format!(
                    "goods of category {c} cannot be paid by cross-border pay"
                ));
            }
        }
        if !row.offered_in(region) {
            reasons.push(Why::RegionNotSupported);
            detail.push(format!(
                "{} is not offered in the buyer's region",
                pricing::method_label(row.method)
            ));
        }
        let fees = if row.fee_percent.is_some() || row.tiered {
            vec![fee]
        } else {
            Vec::new()
        };
        options.push(option(ctx, row, reasons, detail.join("; "), fees));
    }
    Ok(options)
}

/// The options of a Trade Assurance / Direct Pay order for the amount due.
async fn trade_options(
    ctx: &Ctx,
    fx: &mut Fx<'_>,
    o: &Order,
    due: Decimal,
) -> Result<Vec<PaymentMethodOption>, Status> {
    let kind = OrderKind::try_from(o.kind).unwrap_or(OrderKind::Unspecified);
    let currency = pricing::currency_of(o)?;
    let mut options = Vec::new();
    for row in ctx.rules.methods_for(kind) {
        let mut reasons = Vec::new();
        let mut detail = Vec::new();
        if row.method as i32 != o.payment_method {
            reasons.push(Why::NotOfferedForOrder);
            detail.push("the order's terms fix another payment method".to_owned());
        }
        if let Some(limit) = row.payment_limit() {
            let here = fx.amount(limit, currency).await?;
            if due > here {
                reasons.push(Why::AmountOverLimit);
                detail.push(format!(
                    "at most {} {} per payment",
                    limit.currency,
                    limit.value.normalize()
                ));
            }
        }
        // A monthly limit per buyer (Boleto, USD 3,000): the month's other orders by the
        // method, counted as drafting counts them, and this payment.
        if let Some(monthly) = row.monthly_limit
            && let Some(email) = pricing::trade(o)
                .and_then(|t| t.buyer.as_ref())
                .map(|b| b.email.to_lowercase())
        {
            let mut used = Decimal::ZERO;
            let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
            let month = month_use(&mut conn, o, &email, row.method, ctx.now()).await?;
            drop(conn);
            for (c, sum) in month {
                used += fx.convert(sum, c, monthly.currency).await?;
            }
            if used + fx.convert(due, currency, monthly.currency).await? > monthly.value {
                reasons.push(Why::PeriodLimitReached);
                detail.push(format!(
                    "at most {} {} a month per buyer, {} used this month",
                    monthly.currency,
                    monthly.value.normalize(),
                    money(monthly.currency, used).amount
                ));
            }
        }
        let fees = pricing::channel_fee_lines(fx, row, &[("payment", due)], currency).await?;
        options.push(option(ctx, row, reasons, detail.join("; "), fees));
    }
    Ok(options)
}

fn available_first(options: &mut [PaymentMethodOption]) {
    options.sort_by_key(|o| !o.available);
}

/// QueryPaymentMethods.
pub async fn query(
    ctx: &Ctx,
    req: QueryPaymentMethodsRequest,
    who: Who,
) -> Result<QueryPaymentMethodsResponse, Status> {
    let mut v = FieldViolations::new();
    let ids = v.uuid_list("order_ids", &req.order_ids, MAX_ORDERS);
    v.finish()?;
    let mut orders = Vec::new();
    {
        let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
        for id in &ids {
            orders.push(records::load(&mut conn, ctx, *id).await?);
        }
    }
    ownership::require_each(ctx, who, &orders, Need::Buyer).await?;
    payable_together(ctx, &orders)?;
    let market: Vec<&Order> = orders
        .iter()
        .filter(|o| o.kind == OrderKind::Marketplace as i32)
        .collect();
    let facts = marketplace_facts(ctx, &market).await?;
    let mut fx = Fx::new(ctx);
    let mut answers = Vec::new();
    for o in &orders {
        let due = amount_due(o).unwrap_or_default();
        let currency = pricing::currency_of(o)?;
        let mut options = if o.kind == OrderKind::Marketplace as i32 {
            let id = Uuid::try_parse(&o.order_id).map_err(internal)?;
            let region = crate::store::orders::buyer_region(&ctx.svc.pool, id)
                .await
                .map_err(internal)?;
            marketplace_options(ctx, o, due, &facts, &region).await?
        } else {
            trade_options(ctx, &mut fx, o, due).await?
        };
        available_first(&mut options);
        answers.push(OrderPaymentMethods {
            order_id: o.order_id.clone(),
            amount_due: Some(money(currency, due)),
            options,
        });
    }
    let common_methods = common_methods(&answers);
    Ok(QueryPaymentMethodsResponse {
        orders: answers,
        common_methods,
    })
}

/// Refuses orders that cannot be paid in one payment: one with nothing due
/// (ORDER_NOT_AWAITING_PAYMENT, each such order a precondition violation), or orders of
/// different buyers (MIXED_BUYERS).
fn payable_together(ctx: &Ctx, orders: &[Order]) -> Result<(), Status> {
    let not_due: Vec<&Order> = orders
        .iter()
        .filter(|o| amount_due(o).is_none_or(|d| d <= Decimal::ZERO))
        .collect();
    if let Some(first) = not_due.first() {
        let mut details = ErrorDetails::with_error_info(
            ORDER_NOT_AWAITING_PAYMENT,
            ctx.errors().0,
            HashMap::from([("order_id".to_owned(), first.order_id.clone())]),
        );
        for o in &not_due {
            details.add_precondition_failure_violation(
                "ORDER_STATUS",
                format!("orders/{}", o.order_id),
                format!(
                    "the order is {} and has nothing due",
                    super::status_of(o).as_str_name()
                ),
            );
        }
        return Err(Status::with_error_details(
            Code::FailedPrecondition,
            "an order has nothing due",
            details,
        ));
    }
    if orders
        .iter()
        .any(|o| o.buyer_account_id != orders[0].buyer_account_id)
    {
        return Err(ctx.refuse(
            super::payments::MIXED_BUYERS,
            "the orders belong to different buyers",
            &[],
        ));
    }
    Ok(())
}

/// The methods every order can be paid with now from the wallet (escrow): what one payment
/// of all of them may use.
fn common_methods(answers: &[OrderPaymentMethods]) -> Vec<i32> {
    let mut common: Option<Vec<i32>> = None;
    for a in answers {
        let usable: Vec<i32> = a
            .options
            .iter()
            .filter(|o| o.available && o.settlement == PaymentSettlement::WalletEscrow as i32)
            .map(|o| o.payment_method)
            .collect();
        common = Some(match common {
            None => usable,
            Some(c) => c.into_iter().filter(|m| usable.contains(m)).collect(),
        });
    }
    common.unwrap_or_default()
}

/// EstimateOrderFees.
pub async fn estimate(
    ctx: &Ctx,
    req: EstimateOrderFeesRequest,
    who: Who,
) -> Result<EstimateOrderFeesResponse, Status> {
    let mut inv = FieldViolations::new();
    let mut order = match req.subject.as_ref() {
        Some(estimate_order_fees_request::Subject::OrderId(id)) => {
            let id = inv.uuid("order_id", id);
            inv.finish_in(ctx.errors())?;
            let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
            let order = records::load(&mut conn, ctx, id.expect("validated")).await?;
            ownership::require(ctx, who, &order, Need::Either).await?;
            order
        }
        Some(estimate_order_fees_request::Subject::Draft(d)) => draft_order(ctx, d)?,
        None => {
            inv.add("order_id", "exactly one of order_id and draft is required");
            return Err(inv.finish_in(ctx.errors()).expect_err("one violation"));
        }
    };
    let kind = OrderKind::try_from(order.kind).unwrap_or(OrderKind::Unspecified);
    if req.payment_method != 0 {
        order.payment_method = req.payment_method;
    }
    if req.export_method != 0
        && let Some(t) = pricing::trade_mut(&mut order)
    {
        t.export_method = req.export_method;
    }
    let currency = pricing::currency_of(&order)?;
    let total = amount_of(order.total_amount.as_ref());
    let mut fx = Fx::new(ctx);
    let usd = fx.convert(total, currency, Currency::USD).await?;
    let method =
        PaymentMethod::try_from(order.payment_method).unwrap_or(PaymentMethod::Unspecified);
    if method != PaymentMethod::Unspecified && !ctx.rules.method_allowed(kind, method) {
        return Err(ctx.refuse(
            PAYMENT_METHOD_NOT_ALLOWED,
            format!(
                "{} is not offered for {} orders",
                method.as_str_name(),
                kind.as_str_name()
            ),
            &[("payment_method", method.as_str_name().to_owned())],
        ));
    }
    let (fees, options) = if kind == OrderKind::Marketplace {
        marketplace_fees(ctx, &order, total, currency, method).await?
    } else {
        trade_fees(ctx, &mut fx, &mut order, kind, total, currency).await?
    };
    Ok(EstimateOrderFeesResponse {
        fees: Some(fees),
        total_amount: Some(money(currency, total)),
        total_usd_equivalent: Some(money(Currency::USD, usd)),
        payment_methods: options,
    })
}

/// The order a fee estimate's draft describes (checked, priced, its prepayment settled).
fn draft_order(ctx: &Ctx, d: &kuajing_proto::order::v1::FeeEstimateDraft) -> Result<Order, Status> {
    let mut inv = FieldViolations::new();
    let kind: Option<OrderKind> = inv.enum_value("draft.kind", d.kind);
    inv.uuid("draft.supplier_account_id", &d.supplier_account_id);
    inv.optional_uuid("draft.buyer_account_id", &d.buyer_account_id);
    let currency = match (kind, d.currency_code.as_str()) {
        (Some(OrderKind::Marketplace), "CNY")
        | (Some(OrderKind::TradeAssurance | OrderKind::DirectPay), "USD" | "CNY") => {
            d.currency_code.parse::<Currency>().ok()
        }
        _ => {
            inv.named(
                super::trade_rules::CURRENCY_NOT_SUPPORTED,
                "draft.currency_code",
                "CNY for marketplace orders; USD or CNY otherwise",
            );
            None
        }
    };
    let mut goods = None;
    let mut freight = Some(Decimal::ZERO);
    let mut insurance = Some(Decimal::ZERO);
    if let Some(c) = currency {
        goods = super::fields::money_in(
            &mut inv,
            "draft.goods_amount",
            d.goods_amount.as_ref(),
            c,
            true,
            true,
        );
        freight = super::fields::money_in(
            &mut inv,
            "draft.freight",
            d.freight.as_ref(),
            c,
            false,
            false,
        );
        insurance = super::fields::money_in(
            &mut inv,
            "draft.insurance",
            d.insurance.as_ref(),
            c,
            false,
            false,
        );
    }
    inv.finish_in(ctx.errors())?;
    let (kind, currency) = (kind.expect("validated"), currency.expect("validated"));
    let total = crate::domain::goods::total(
        goods.unwrap_or_default(),
        freight.unwrap_or_default(),
        insurance.unwrap_or_default(),
    )
    .ok_or_else(|| {
        ctx.errors()
            .invalid(reasons::TOTAL_TOO_LARGE, "draft.goods_amount", "too large")
    })?;
    let terms = d.payment_terms.clone().unwrap_or_default();
    let prepayment = if terms.full_prepayment {
        total
    } else {
        amount_of(terms.prepayment.as_ref()).min(total)
    };
    let prepayment = if prepayment <= Decimal::ZERO {
        total
    } else {
        prepayment
    };
    Ok(Order {
        kind: kind as i32,
        supplier_account_id: d.supplier_account_id.clone(),
        buyer_account_id: d.buyer_account_id.clone(),
        currency_code: currency.code().to_owned(),
        goods_amount: Some(money(currency, goods.unwrap_or_default())),
        total_amount: Some(money(currency, total)),
        payment_method: d.payment_method,
        details: if kind == OrderKind::Marketplace {
            None
        } else {
            Some(order::Details::Trade(TradeDetails {
                export_method: d.export_method,
                payment_terms: Some(PaymentTerms {
                    total_amount: Some(money(currency, total)),
                    prepayment: Some(money(currency, prepayment)),
                    full_prepayment: terms.full_prepayment,
                    balance: Some(money(currency, total - prepayment)),
                    ..PaymentTerms::default()
                }),
                inspection: d.inspection.clone(),
                ..TradeDetails::default()
            }))
        },
        ..Order::default()
    })
}

/// What a marketplace order costs by each method (the buyer's tier where a method has
/// one), and the fee of the method chosen.
async fn marketplace_fees(
    ctx: &Ctx,
    order: &Order,
    total: Decimal,
    currency: Currency,
    method: PaymentMethod,
) -> Result<(FeeBreakdown, Vec<PaymentMethodOption>), Status> {
    let basis = match Uuid::try_parse(&order.buyer_account_id) {
        Ok(b) => Some(pricing::tier_basis(ctx, b, ctx.now()).await?),
        Err(_) => None,
    };
    let mut options = Vec::new();
    let mut lines = Vec::new();
    for row in ctx.rules.methods_for(OrderKind::Marketplace) {
        let line = pricing::marketplace_fee(ctx, row, total, currency, basis.as_ref());
        if row.method == method {
            lines.push(line.clone());
        }
        let fees = if row.fee_percent.is_some() || row.tiered {
            vec![line]
        } else {
            Vec::new()
        };
        options.push(option(ctx, row, Vec::new(), String::new(), fees));
    }
    Ok((pricing::breakdown(lines, total, currency), options))
}

/// What a trade order costs: its own fees (export, inspection, the chosen method's), and
/// each method's channel fees on its prepayment and balance; convenient shipping refused
/// where the sources refuse it.
async fn trade_fees(
    ctx: &Ctx,
    fx: &mut Fx<'_>,
    order: &mut Order,
    kind: OrderKind,
    total: Decimal,
    currency: Currency,
) -> Result<(FeeBreakdown, Vec<PaymentMethodOption>), Status> {
    let export = pricing::trade(order)
        .map(|t| t.export_method)
        .unwrap_or_default();
    super::trade_rules::check_convenient_shipping(ctx, fx, kind, export, total, currency).await?;
    let membership = membership(ctx, &order.supplier_account_id).await?;
    let fees: FeeBreakdown = pricing::trade_fees(ctx, fx, order, membership).await?;
    let mut options = Vec::new();
    for row in ctx.rules.methods_for(kind) {
        let t = pricing::trade(order)
            .and_then(|t| t.payment_terms.clone())
            .unwrap_or_default();
        let dues = [
            ("prepayment", amount_of(t.prepayment.as_ref())),
            ("balance", amount_of(t.balance.as_ref())),
        ];
        let lines = pricing::channel_fee_lines(fx, row, &dues, currency).await?;
        options.push(option(ctx, row, Vec::new(), String::new(), lines));
    }
    Ok((fees, options))
}

/// A supplier's membership (export fee rates); unknown suppliers count as free members.
async fn membership(ctx: &Ctx, supplier: &str) -> Result<SupplierMembership, Status> {
    if Uuid::try_parse(supplier).is_err() {
        return Ok(SupplierMembership::Free);
    }
    let profile = found(rpc!(
        ctx,
        "identity",
        IdentityServiceClient,
        get_supplier_profile,
        GetSupplierProfileRequest {
            account_id: supplier.to_owned()
        }
    ))?
    .and_then(|r| r.supplier_profile);
    Ok(profile
        .and_then(|p| SupplierMembership::try_from(p.membership).ok())
        .unwrap_or(SupplierMembership::Free))
}
