//! Prices and fees of orders: money in and out of the documents, conversions at fx's mid
//! rates, the cross-border pay tier of a buyer from its payment history, and the fee
//! breakdown of an order under its terms (payment method, export method, inspection).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::money::round_half_even;
use kuajing_platform::{Currency, Money};
use kuajing_proto::fx::v1::GetRateRequest;
use kuajing_proto::fx::v1::fx_service_client::FxServiceClient;
use kuajing_proto::identity::v1::SupplierMembership;
use kuajing_proto::order::v1::{
    CrossBorderPayTierBasis, ExportMethod, FeeBreakdown, FeeLine, FeeTier, FeeType, Order,
    OrderKind, OrderParty, PaymentMethod, PaymentMethodFeeSchedule, TradeDetails, order,
};
use kuajing_proto::types;
use rust_decimal::Decimal;
use tonic::Status;
use uuid::Uuid;

use super::Ctx;
use crate::domain::calendar;
use crate::domain::fees::{self, Amount, MethodRow};
use crate::domain::tiers::{self, Basis, Tier};

/// The amount of a stored Money (zero when unset or malformed).
pub fn amount_of(m: Option<&types::Money>) -> Decimal {
    m.and_then(|m| Decimal::from_str_exact(&m.amount).ok())
        .unwrap_or_default()
}

/// Money on the wire, rounded half-even to the currency.
pub fn money(currency: Currency, amount: Decimal) -> types::Money {
    types::Money {
        currency_code: currency.code().to_owned(),
        amount: kuajing_platform::money::format_amount(amount, currency),
    }
}

/// The currency of an order.
pub fn currency_of(order: &Order) -> Result<Currency, Status> {
    order.currency_code.parse().map_err(internal)
}

/// Conversions at fx's mid rates, each pair asked once per request.
pub struct Fx<'a> {
    ctx: &'a Ctx,
    rates: HashMap<(Currency, Currency), Decimal>,
}

/// Reason: fx's rate is too old to convert with.
pub use kuajing_proto::reasons::order::RATE_STALE;

impl<'a> Fx<'a> {
    /// A converter for one request.
    pub fn new(ctx: &'a Ctx) -> Self {
        Fx {
            ctx,
            rates: HashMap::new(),
        }
    }

    /// Units of `to` per unit of `from`.
    pub async fn rate(&mut self, from: Currency, to: Currency) -> Result<Decimal, Status> {
        if from == to {
            return Ok(Decimal::ONE);
        }
        if let Some(r) = self.rates.get(&(from, to)) {
            return Ok(*r);
        }
        let ctx = self.ctx;
        let req = GetRateRequest {
            base_currency_code: from.code().to_owned(),
            quote_currency_code: to.code().to_owned(),
        };
        let rate = crate::rpc!(ctx, "fx", FxServiceClient, get_rate, req)?
            .rate
            .ok_or_else(|| internal("fx answered without a rate"))?;
        if rate.stale {
            return Err(ctx.refuse(
                RATE_STALE,
                format!("the {from}/{to} rate is too old to convert with"),
                &[("pair", format!("{from}/{to}"))],
            ));
        }
        let mid = Decimal::from_str_exact(&rate.mid_rate).map_err(internal)?;
        self.rates.insert((from, to), mid);
        Ok(mid)
    }

    /// `value` of `from` in `to`, rounded half-even to `to`'s minor units.
    pub async fn convert(
        &mut self,
        value: Decimal,
        from: Currency,
        to: Currency,
    ) -> Result<Decimal, Status> {
        let r = self.rate(from, to).await?;
        Ok(round_half_even(value * r, to))
    }

    /// A table amount in `to`.
    pub async fn amount(&mut self, a: Amount, to: Currency) -> Result<Decimal, Status> {
        self.convert(a.value, a.currency, to).await
    }

    /// A settings money in `to`.
    pub async fn money(&mut self, m: Money, to: Currency) -> Result<Decimal, Status> {
        self.convert(m.amount(), m.currency(), to).await
    }
}

fn table_money(a: Amount) -> types::Money {
    money(a.currency, a.value)
}

/// A fee schedule row on the wire.
pub fn schedule(ctx: &Ctx, row: &MethodRow) -> PaymentMethodFeeSchedule {
    PaymentMethodFeeSchedule {
        payment_method: row.method as i32,
        variant: row.variant.clone(),
        order_kinds: row.kinds.iter().map(|k| *k as i32).collect(),
        payment_currency_codes: row.payment_currencies.clone(),
        local_currency_only: row.local_currency_only,
        per_payment_limit: row.per_payment_limit.map(table_money),
        monthly_limit: row.monthly_limit.map(table_money),
        fee_percent: row.fee_percent.map(fees::rate_text).unwrap_or_default(),
        fee_fixed_min: row
            .fee_fixed_min
            .filter(|_| !row.fee_in_local_currency)
            .map(table_money),
        fee_fixed_max: row
            .fee_fixed_max
            .filter(|_| !row.fee_in_local_currency)
            .map(table_money),
        fee_fixed_local_units: row
            .fee_fixed_min
            .filter(|_| row.fee_in_local_currency)
            .map(|a| a.value.normalize().to_string())
            .unwrap_or_default(),
        fee_cap: row.fee_cap.map(table_money),
        fee_cap_condition: row.fee_cap_condition.clone(),
        bank_dependent: row.bank_dependent,
        tiers: if row.tiered {
            ctx.rules.tiers.all().iter().map(tier_proto).collect()
        } else {
            Vec::new()
        },
        processing_time: row.processing_time.clone(),
    }
}

fn tier_proto(t: &Tier) -> FeeTier {
    FeeTier {
        lower_bound: Some(money(Currency::CNY, t.lower)),
        upper_bound: t.upper.map(|u| money(Currency::CNY, u)),
        rate_percent: fees::rate_text(t.rate_percent),
    }
}

/// The row of `method` for an order of `kind` in `currency`: a variant paying in that
/// currency first, else the first enabled row.
pub fn method_row(
    ctx: &Ctx,
    kind: OrderKind,
    method: PaymentMethod,
    currency: Currency,
) -> Option<&MethodRow> {
    let rows: Vec<&MethodRow> = ctx
        .rules
        .methods_for(kind)
        .filter(|r| r.method == method && r.enabled)
        .collect();
    // A variant for the currency, else one open to every currency; never a row that does
    // not take the currency (seed 002: e.g. Western Union and Boleto take USD only).
    rows.iter()
        .find(|r| r.payment_currencies.iter().any(|c| c == currency.code()))
        .or_else(|| rows.iter().find(|r| r.payment_currencies.is_empty()))
        .copied()
}

/// The currencies `method` takes for orders of `kind` (empty: every currency, or the
/// method is not offered for the kind).
pub fn method_currencies(ctx: &Ctx, kind: OrderKind, method: PaymentMethod) -> Vec<String> {
    let rows: Vec<&MethodRow> = ctx
        .rules
        .methods_for(kind)
        .filter(|r| r.method == method && r.enabled)
        .collect();
    if rows.iter().any(|r| r.payment_currencies.is_empty()) {
        return Vec::new();
    }
    let mut all: Vec<String> = rows
        .iter()
        .flat_map(|r| r.payment_currencies.iter().cloned())
        .collect();
    all.sort();
    all.dedup();
    all
}

/// The cross-border pay tier basis of a buyer now: one statement summing the buyer's
/// cross-border pay orders per complete month of the averaging window (Postgres groups
/// them; a buyer's history is never fetched row by row), beside the first such payment.
pub async fn tier_basis(ctx: &Ctx, buyer: Uuid, now: DateTime<Utc>) -> Result<Basis, Status> {
    let offset = ctx.settings.fee_month_offset;
    let current = calendar::month_index(now, offset);
    let months = ctx.settings.fee_months_averaged;
    let from = calendar::month_start(current - months.max(1), offset);
    let until = calendar::month_start(current, offset);
    let rows = crate::store::orders::monthly_totals(
        &ctx.svc.pool,
        (buyer, PaymentMethod::CrossBorderPay as i16),
        offset.local_minus_utc(),
        (from, until),
    )
    .await
    .map_err(internal)?;
    let mut first = None;
    let mut amounts = Vec::with_capacity(rows.len());
    for r in rows {
        match (r.month, r.total) {
            (Some(m), Some(total)) => amounts.push((m, total)),
            (Some(m), None) => amounts.push((m, rust_decimal::Decimal::ZERO)),
            (None, _) => first = r.first.map(|t| calendar::month_index(t, offset)),
        }
    }
    Ok(tiers::basis(&amounts, first, current, months))
}

fn basis_proto(ctx: &Ctx, b: &Basis) -> CrossBorderPayTierBasis {
    CrossBorderPayTierBasis {
        last_month_amount: Some(money(Currency::CNY, b.last_month)),
        average_monthly_amount: Some(money(Currency::CNY, b.average)),
        months_averaged: b.months_averaged,
        applicable_monthly_amount: Some(money(Currency::CNY, b.applicable)),
        tier: Some(tier_proto(ctx.rules.tiers.tier_for(b.applicable))),
    }
}

/// The buyer's transaction fee for paying a marketplace order of `total` (CNY) by a
/// wallet or marketplace method; `basis` is needed for cross-border pay.
pub fn marketplace_fee(
    ctx: &Ctx,
    row: &MethodRow,
    total: Decimal,
    currency: Currency,
    basis: Option<&Basis>,
) -> FeeLine {
    let (rate, tier_basis) = if row.tiered {
        let b = basis.cloned().unwrap_or(Basis {
            last_month: Decimal::ZERO,
            average: Decimal::ZERO,
            months_averaged: 0,
            applicable: Decimal::ZERO,
        });
        let rate = ctx.rules.tiers.tier_for(b.applicable).rate_percent;
        (Some(rate), Some(basis_proto(ctx, &b)))
    } else {
        (row.fee_percent, None)
    };
    let amount = rate.map_or(Decimal::ZERO, |r| fees::percent_of(total, r, currency));
    FeeLine {
        r#type: FeeType::TransactionFee as i32,
        payer: OrderParty::Buyer as i32,
        payment_method: row.method as i32,
        export_method: 0,
        base_amount: Some(money(currency, total)),
        rate_percent: rate.map(fees::rate_text).unwrap_or_default(),
        cap: None,
        configured_cap: None,
        amount: Some(money(currency, amount)),
        amount_max: None,
        estimate: false,
        description: match rate {
            Some(r) => format!("{} fee {} %", method_label(row.method), fees::rate_text(r)),
            None => format!("{}: no Kuajing fee", method_label(row.method)),
        },
        tier_basis,
    }
}

/// A people-facing name of a payment method.
pub fn method_label(m: PaymentMethod) -> &'static str {
    match m {
        PaymentMethod::CrossBorderPay => "Cross-border pay",
        PaymentMethod::WorldPay => "World Pay",
        PaymentMethod::Card => "Card",
        PaymentMethod::AmericanExpress => "American Express",
        PaymentMethod::Alipay => "Alipay",
        PaymentMethod::OnlineTransfer => "Online transfer",
        PaymentMethod::OnlineBankPayment => "Online bank payment",
        PaymentMethod::DomesticWire => "Domestic wire",
        PaymentMethod::InternationalWire => "International wire",
        PaymentMethod::WesternUnion => "Western Union",
        PaymentMethod::Boleto => "Boleto",
        PaymentMethod::TelegraphicTransfer => "T/T",
        PaymentMethod::DocumentsAgainstPayment => "D/P",
        PaymentMethod::Unspecified => "Unspecified",
    }
}

fn export_label(m: ExportMethod) -> &'static str {
    match m {
        ExportMethod::SelfExport => "Self-export",
        ExportMethod::AgentExport => "Agent export",
        ExportMethod::MarketProcurement => "Market procurement export",
        ExportMethod::ConvenientShipping => "Convenient shipping",
        ExportMethod::Unspecified => "Export",
    }
}

/// The channel fee lines of paying each due amount (`(what, base)`) by `row`.
pub async fn channel_fee_lines(
    fx: &mut Fx<'_>,
    row: &MethodRow,
    dues: &[(&str, Decimal)],
    currency: Currency,
) -> Result<Vec<FeeLine>, Status> {
    if row.fee_percent.is_none() && row.fee_fixed_min.is_none() {
        return Ok(Vec::new());
    }
    let fixed_min = match row.fee_fixed_min {
        Some(a) if row.fee_in_local_currency => Some(a.value),
        Some(a) => Some(fx.amount(a, currency).await?),
        None => None,
    };
    let fixed_max = match row.fee_fixed_max {
        Some(a) if row.fee_in_local_currency => Some(a.value),
        Some(a) => Some(fx.amount(a, currency).await?),
        None => None,
    };
    let cap = match row.fee_cap {
        Some(a) if row.fee_cap_condition.is_empty() => Some(fx.amount(a, currency).await?),
        _ => None,
    };
    let mut lines = Vec::new();
    for (what, base) in dues {
        if *base <= Decimal::ZERO {
            continue;
        }
        let f = fees::method_fee(*base, row.fee_percent, fixed_min, fixed_max, cap, currency);
        let rate = row.fee_percent.map(fees::rate_text).unwrap_or_default();
        let fee_text = match (&row.fee_percent, fixed_min, fixed_max) {
            (Some(_), _, _) => format!("{rate} %"),
            (None, Some(lo), Some(hi)) => format!("{currency} {lo}-{hi}"),
            (None, Some(lo), None) if row.fee_in_local_currency => {
                format!("about {lo} of the local currency ({currency})")
            }
            (None, Some(lo), None) => format!("about {currency} {lo}"),
            _ => String::new(),
        };
        lines.push(FeeLine {
            r#type: FeeType::PaymentChannelFee as i32,
            payer: OrderParty::Buyer as i32,
            payment_method: row.method as i32,
            export_method: 0,
            base_amount: Some(money(currency, *base)),
            rate_percent: rate,
            cap: cap.map(|c| money(currency, c)),
            configured_cap: row
                .fee_cap
                .filter(|_| row.fee_cap_condition.is_empty())
                .map(table_money),
            amount: Some(money(currency, f.amount)),
            amount_max: f.amount_max.map(|m| money(currency, m)),
            estimate: true,
            description: format!("{} fee {fee_text} on the {what}", method_label(row.method)),
            tier_basis: None,
        });
    }
    Ok(lines)
}

/// The export service fee line of an order of `total` (supplier pays).
pub async fn export_fee_line(
    ctx: &Ctx,
    fx: &mut Fx<'_>,
    method: ExportMethod,
    membership: SupplierMembership,
    total: Decimal,
    currency: Currency,
) -> Result<Option<FeeLine>, Status> {
    let Some(rule) = fees::export_rule(&ctx.rules.export_fees, method, membership) else {
        return Ok(None);
    };
    let cap = match rule.cap {
        Some(a) => Some(fx.amount(a, currency).await?),
        None => None,
    };
    let amount = fees::capped_percent(total, rule.rate_percent, cap, currency);
    let rate = fees::rate_text(rule.rate_percent);
    Ok(Some(FeeLine {
        r#type: FeeType::ExportServiceFee as i32,
        payer: OrderParty::Supplier as i32,
        payment_method: 0,
        export_method: method as i32,
        base_amount: Some(money(currency, total)),
        rate_percent: rate.clone(),
        cap: cap.map(|c| money(currency, c)),
        configured_cap: rule.cap.map(table_money),
        amount: Some(money(currency, amount)),
        amount_max: None,
        estimate: false,
        description: match rule.cap {
            Some(c) => format!(
                "{} service fee {rate} %, capped at {} {}",
                export_label(method),
                c.currency,
                c.value.normalize()
            ),
            None => format!("{} service fee {rate} %", export_label(method)),
        },
        tier_basis: None,
    }))
}

/// The inspection fee in the order currency for `provider` (None when unknown).
pub async fn inspection_fee(
    ctx: &Ctx,
    fx: &mut Fx<'_>,
    provider: &str,
    currency: Currency,
) -> Result<Option<Decimal>, Status> {
    let Some(p) = ctx
        .rules
        .inspection
        .iter()
        .find(|p| p.provider_code == provider)
    else {
        return Ok(None);
    };
    Ok(Some(fx.amount(p.price, currency).await?))
}

/// Sums the lines into a breakdown of an order of `total`.
pub fn breakdown(lines: Vec<FeeLine>, total: Decimal, currency: Currency) -> FeeBreakdown {
    let upper = |l: &FeeLine| {
        l.amount_max
            .as_ref()
            .map_or_else(|| amount_of(l.amount.as_ref()), |m| amount_of(Some(m)))
    };
    let buyer: Decimal = lines
        .iter()
        .filter(|l| {
            l.payer == OrderParty::Buyer as i32 && l.r#type != FeeType::InspectionServiceFee as i32
        })
        .map(upper)
        .sum();
    let supplier: Decimal = lines
        .iter()
        .filter(|l| l.payer == OrderParty::Supplier as i32)
        .map(upper)
        .sum();
    FeeBreakdown {
        lines,
        buyer_fee_total: Some(money(currency, buyer)),
        supplier_fee_total: Some(money(currency, supplier)),
        buyer_payable: Some(money(currency, total + buyer)),
        supplier_net: Some(money(currency, total - supplier)),
    }
}

/// The trade details of an order (Trade Assurance / Direct Pay).
pub fn trade(order: &Order) -> Option<&TradeDetails> {
    match &order.details {
        Some(order::Details::Trade(t)) => Some(t),
        _ => None,
    }
}

/// Mutable trade details.
pub fn trade_mut(order: &mut Order) -> Option<&mut TradeDetails> {
    match &mut order.details {
        Some(order::Details::Trade(t)) => Some(t),
        _ => None,
    }
}

/// The fee breakdown of a Trade Assurance / Direct Pay order under its current terms,
/// with the inspection fee filled in. `payment_method` / `export_method` override the
/// order's when set (EstimateOrderFees).
pub async fn trade_fees(
    ctx: &Ctx,
    fx: &mut Fx<'_>,
    order: &mut Order,
    membership: SupplierMembership,
) -> Result<FeeBreakdown, Status> {
    let currency = currency_of(order)?;
    let kind = OrderKind::try_from(order.kind).unwrap_or(OrderKind::Unspecified);
    let total = amount_of(order.total_amount.as_ref());
    let method =
        PaymentMethod::try_from(order.payment_method).unwrap_or(PaymentMethod::Unspecified);
    let t = trade(order).cloned().unwrap_or_default();
    let terms = t.payment_terms.clone().unwrap_or_default();
    let prepayment = amount_of(terms.prepayment.as_ref());
    let balance = amount_of(terms.balance.as_ref());
    let mut lines = Vec::new();
    if let Some(row) = method_row(ctx, kind, method, currency) {
        let dues = [("prepayment", prepayment), ("balance", balance)];
        lines.extend(channel_fee_lines(fx, row, &dues, currency).await?);
    }
    let export = ExportMethod::try_from(t.export_method).unwrap_or(ExportMethod::Unspecified);
    if export != ExportMethod::Unspecified
        && let Some(l) = export_fee_line(ctx, fx, export, membership, total, currency).await?
    {
        lines.push(l);
    }
    if let Some(insp) = t.inspection.as_ref().filter(|i| i.requested) {
        let fee = inspection_fee(ctx, fx, &insp.provider_code, currency)
            .await?
            .unwrap_or_default();
        if let Some(tm) = trade_mut(order)
            && let Some(i) = tm.inspection.as_mut()
        {
            i.fee = Some(money(currency, fee));
        }
        lines.push(FeeLine {
            r#type: FeeType::InspectionServiceFee as i32,
            payer: OrderParty::Buyer as i32,
            base_amount: None,
            amount: Some(money(currency, fee)),
            description: format!(
                "Inspection service{}, billed to the buyer separately",
                if insp.provider_code.is_empty() {
                    String::new()
                } else {
                    format!(" by {}", insp.provider_code)
                }
            ),
            ..FeeLine::default()
        });
    }
    Ok(breakdown(lines, total, currency))
}
