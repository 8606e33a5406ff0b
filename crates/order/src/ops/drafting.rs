//! Trade Assurance and Direct Pay orders: drafting (DraftTradeAssuranceOrder,
//! DraftDirectPayOrder) and the drafting rules every later modification checks again.
//!
//! A draft is checked in three passes, so bad input never costs a lookup: the fields
//! (INVALID_ARGUMENT, with NOTE_TOO_LONG, GOODS_REQUIRED, ... as reasons), the parties
//! (identity: accounts, admission, membership), then the business rules that need fx
//! (refused destination, prepayment minimum, convenient-shipping limit, payment-method
//! limit) and the fees.

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::{Currency, idempotency, time};
use kuajing_proto::identity::v1::identity_service_client::IdentityServiceClient;
use kuajing_proto::identity::v1::{
    AdmissionProgram, CheckSupplierAdmissionRequest, GetAccountRequest, GetSupplierProfileRequest,
    SupplierMembership, SupplierProfile,
};
use kuajing_proto::order::v1::{
    ActorType, BuyerContact, DraftDirectPayOrderRequest, DraftDirectPayOrderResponse,
    DraftTradeAssuranceOrderRequest, DraftTradeAssuranceOrderResponse, ExportMethod,
    InspectionService, Order, OrderEventType, OrderKind, OrderParty, OrderStatus, OrderWarning,
    PaymentMethod, PaymentTerms, TradeDetails, order, ship_by,
};
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use kuajing_proto::wallet::v1::{
    GetWalletRequest, ListReceivingAccountsRequest, ReceivingAccountPurpose, get_wallet_request,
};
use rust_decimal::Decimal;
use tonic::Status;
use uuid::Uuid;

use super::events::{self, Event};
use super::fields::{self, Namer};
use super::invalid::Invalid;
use super::peers::found;
use super::pricing::{self, Fx, amount_of, money};
use super::{Ctx, actor, replayed, store};
use crate::domain::drafting::{self, ShipBy, ShipByRefusal, TermsRefusal};
use crate::rpc;

/// Reason: the note is too long.
pub const NOTE_TOO_LONG: &str = "NOTE_TOO_LONG";
/// Reason: not USD or CNY.
pub const CURRENCY_NOT_SUPPORTED: &str = "CURRENCY_NOT_SUPPORTED";
/// Reason: the buyer's email (or account) is in mainland China.
pub const BUYER_EMAIL_IN_MAINLAND: &str = "BUYER_EMAIL_IN_MAINLAND";
/// Reason: neither lines nor a contract.
pub const GOODS_REQUIRED: &str = "GOODS_REQUIRED";
/// Reason: both lines and a contract.
pub const GOODS_AMBIGUOUS: &str = "GOODS_AMBIGUOUS";
/// Reason: the payment method is not offered for the kind.
pub const PAYMENT_METHOD_NOT_ALLOWED: &str = "PAYMENT_METHOD_NOT_ALLOWED";
/// Reason: prepayment above the total.
pub const PREPAYMENT_EXCEEDS_TOTAL: &str = "PREPAYMENT_EXCEEDS_TOTAL";
/// Reason: a bad ship-by rule.
pub const SHIP_BY_INVALID: &str = "SHIP_BY_INVALID";
/// Reason: the supplier is not admitted to the program.
pub const SUPPLIER_NOT_ADMITTED: &str = "SUPPLIER_NOT_ADMITTED";
/// Reason: the destination is refused.
pub const DESTINATION_REFUSED: &str = "DESTINATION_REFUSED";
/// Reason: the prepayment is below the minimum.
pub const PREPAYMENT_TOO_LOW: &str = "PREPAYMENT_TOO_LOW";
/// Reason: convenient shipping above its limit.
pub const CONVENIENT_SHIPPING_OVER_LIMIT: &str = "CONVENIENT_SHIPPING_OVER_LIMIT";
/// Reason: convenient shipping on a Direct Pay order.
pub const CONVENIENT_SHIPPING_NOT_ALLOWED: &str = "CONVENIENT_SHIPPING_NOT_ALLOWED";
/// Reason: a due payment above the method's limit.
pub const PAYMENT_METHOD_LIMIT_EXCEEDED: &str = "PAYMENT_METHOD_LIMIT_EXCEEDED";
/// Reason: a supplier draft without an export method.
pub const EXPORT_METHOD_REQUIRED: &str = "EXPORT_METHOD_REQUIRED";
/// Reason: the new total is below what was received.
pub const TOTAL_BELOW_RECEIVED: &str = "TOTAL_BELOW_RECEIVED";
/// Longest "N days after payment" (contract).
pub const MAX_SHIP_BY_DAYS: i32 = 365;

/// The rules drafting checks, per kind.
fn program(kind: OrderKind) -> AdmissionProgram {
    if kind == OrderKind::DirectPay {
        AdmissionProgram::DirectPay
    } else {
        AdmissionProgram::TradeAssurance
    }
}

/// Checks every field of a trade order assembled from a request, fills the derived ones
/// (line ids and amounts, goods amount, total, prepayment and balance) and returns the
/// parsed ship-by rule. `previous` is the order before a modification (None for a draft).
pub fn check_fields(
    ctx: &Ctx,
    inv: &mut Invalid,
    name: Namer<'_>,
    order: &mut Order,
    previous: Option<&Order>,
    export_required: bool,
    now: DateTime<Utc>,
) -> Option<ShipBy> {
    let kind = OrderKind::try_from(order.kind).unwrap_or(OrderKind::Unspecified);
    let currency: Option<Currency> = match order.currency_code.as_str() {
        "USD" | "CNY" => order.currency_code.parse().ok(),
        _ => {
            inv.reason(CURRENCY_NOT_SUPPORTED, name("currency_code"), "must be USD or CNY");
            None
        }
    };
    let method = PaymentMethod::try_from(order.payment_method).unwrap_or(PaymentMethod::Unspecified);
    if method == PaymentMethod::Unspecified {
        inv.add(name("payment_method"), "is required");
    } else if !ctx.rules.method_allowed(kind, method) {
        inv.reason(
            PAYMENT_METHOD_NOT_ALLOWED,
            name("payment_method"),
            format!("{} is not offered for {} orders", method.as_str_name(), kind.as_str_name()),
        );
    }
    let previous_lines = previous.map(|p| p.lines.clone()).unwrap_or_default();
    let Some(order::Details::Trade(t)) = order.details.as_mut() else {
        inv.add(name("trade"), "is required");
        return None;
    };
    // The buyer.
    match t.buyer.as_ref() {
        None => inv.add(name("trade.buyer"), "is required"),
        Some(b) => {
            if !drafting::email_well_formed(&b.email) {
                inv.add(name("trade.buyer.email"), "must be an email address in use");
            } else if drafting::email_in_mainland(&b.email, &ctx.rules.mainland_domains) {
                inv.reason(
                    BUYER_EMAIL_IN_MAINLAND,
                    name("trade.buyer.email"),
                    "must be outside mainland China",
                );
            }
            fields::text(inv, &name("trade.buyer.name"), &b.name, 1, 128);
            fields::text(inv, &name("trade.buyer.company_name"), &b.company_name, 0, 256);
            if !b.region_code.is_empty() && !fields::region_ok(&b.region_code) {
                inv.add(name("trade.buyer.region_code"), "must be an ISO 3166-1 alpha-2 code in upper case");
            } else if b.region_code == "CN" {
                inv.reason(
                    BUYER_EMAIL_IN_MAINLAND,
                    name("trade.buyer.region_code"),
                    "the buyer must be registered outside mainland China",
                );
            }
            if !b.phone.is_empty() && !fields::phone_ok(&b.phone) {
                inv.add(name("trade.buyer.phone"), "must be E.164, e.g. +14155550100");
            }
        }
    }
    fields::text(inv, &name("trade.salesperson"), &t.salesperson, 0, 64);
    // The goods: lines or a contract.
    let goods = match (order.lines.is_empty(), t.contract.as_ref()) {
        (true, None) => {
            inv.reason(GOODS_REQUIRED, name("lines"), "add products or a contract");
            None
        }
        (false, Some(_)) => {
            inv.reason(GOODS_AMBIGUOUS, name("trade.contract"), "either products or a contract, not both");
            None
        }
        (false, None) => currency.and_then(|c| {
            fields::lines(inv, name, &mut order.lines, &previous_lines, c, false)
        }),
        (true, Some(k)) => {
            let f = name("trade.contract");
            fields::text(inv, &format!("{f}.file_ref"), &k.file_ref, 1, 512);
            fields::text(inv, &format!("{f}.contract_number"), &k.contract_number, 0, 64);
            fields::text(inv, &format!("{f}.goods_description"), &k.goods_description, 1, 2000);
            currency.and_then(|c| {
                fields::money_in(inv, &format!("{f}.goods_amount"), k.goods_amount.as_ref(), c, true, true)
            })
        }
    };
    let Some(order::Details::Trade(t)) = order.details.as_mut() else {
        return None;
    };
    // Shipping terms.
    let st_name = name("trade.shipping_terms");
    let mut freight = Some(Decimal::ZERO);
    let mut insurance = Some(Decimal::ZERO);
    let mut rule = None;
    match t.shipping_terms.as_mut() {
        None => inv.add(st_name.clone(), "is required"),
        Some(st) => {
            fields::address(inv, &format!("{st_name}.address"), st.address.as_ref());
            if st.shipping_method == 0 {
                inv.add(format!("{st_name}.shipping_method"), "is required");
            }
            if st.incoterm == 0 {
                inv.add(format!("{st_name}.incoterm"), "is required");
            }
            if let Some(c) = currency {
                freight = fields::money_in(inv, &format!("{st_name}.freight"), st.freight.as_ref(), c, false, false);
                insurance = fields::money_in(inv, &format!("{st_name}.insurance"), st.insurance.as_ref(), c, false, false);
                st.freight = Some(money(c, freight.unwrap_or_default()));
                st.insurance = Some(money(c, insurance.unwrap_or_default()));
            }
            let (days, date) = match st.ship_by.as_ref().and_then(|s| s.rule.as_ref()) {
                Some(ship_by::Rule::DaysAfterPayment(d)) => (Some(*d), None),
                Some(ship_by::Rule::FixedDate(d)) => (None, Some(d.as_str())),
                None => (None, None),
            };
            // A modification that keeps the ship-by rule does not re-check its date.
            let unchanged = previous
                .and_then(pricing::trade)
                .and_then(|p| p.shipping_terms.as_ref())
                .is_some_and(|p| p.ship_by == st.ship_by);
            match drafting::ship_by(days, date, MAX_SHIP_BY_DAYS, now) {
                Ok(r) => rule = Some(r),
                Err(ShipByRefusal::InThePast) if unchanged => {
                    rule = date.and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()).map(ShipBy::FixedDate);
                }
                Err(e) => inv.reason(
                    SHIP_BY_INVALID,
                    format!("{st_name}.ship_by"),
                    match e {
                        ShipByRefusal::DaysOutOfRange => format!("days_after_payment must be 0 to {MAX_SHIP_BY_DAYS}"),
                        ShipByRefusal::Malformed => "exactly one of days_after_payment and fixed_date (YYYY-MM-DD)".to_owned(),
                        ShipByRefusal::InThePast => "fixed_date is in the past (US Pacific time)".to_owned(),
                    },
                ),
            }
        }
    }
    // Export method.
    let export = ExportMethod::try_from(t.export_method).unwrap_or(ExportMethod::Unspecified);
    if export == ExportMethod::Unspecified && export_required {
        inv.reason(EXPORT_METHOD_REQUIRED, name("trade.export_method"), "is required");
    }
    // Inspection.
    if let Some(i) = t.inspection.as_ref().filter(|i| i.requested) {
        fields::text(inv, &name("trade.inspection.provider_code"), &i.provider_code, 0, 64);
        if !ctx.rules.inspection.iter().any(|p| p.provider_code == i.provider_code) {
            inv.add(name("trade.inspection.provider_code"), "is not a provider of the price list");
        }
    }
    // Note.
    if !drafting::note_fits(&t.note, ctx.settings.note_max_chars) {
        inv.reason(
            NOTE_TOO_LONG,
            name("trade.note"),
            format!("must be at most {} characters", ctx.settings.note_max_chars),
        );
    } else if t.note.chars().any(|c| c.is_control() && c != '\n') {
        inv.add(name("trade.note"), "must not contain control characters");
    }
    // Totals and payment terms.
    let currency = currency?;
    let (goods, freight, insurance) = (goods?, freight?, insurance?);
    let Some(total) = crate::domain::goods::total(goods, freight, insurance) else {
        inv.add(name("lines"), "the order total is too large");
        return None;
    };
    if let Some(k) = t.contract.as_mut() {
        k.goods_amount = Some(money(currency, goods));
    }
    let terms = t.payment_terms.get_or_insert_with(PaymentTerms::default);
    let prepayment = if terms.full_prepayment {
        None
    } else {
        fields::money_in(inv, &name("trade.payment_terms.prepayment"), terms.prepayment.as_ref(), currency, true, true)
    };
    order.goods_amount = Some(money(currency, goods));
    order.total_amount = Some(money(currency, total));
    if !terms.full_prepayment && prepayment.is_none() {
        return None;
    }
    // The minimum is checked with fx later; here only the shape.
    match drafting::payment_terms(total, prepayment, terms.full_prepayment, Decimal::ZERO) {
        Ok((p, b)) => {
            terms.total_amount = Some(money(currency, total));
            terms.prepayment = Some(money(currency, p));
            terms.balance = Some(money(currency, b));
            terms.prepayment_received.get_or_insert_with(|| money(currency, Decimal::ZERO));
            terms.balance_received.get_or_insert_with(|| money(currency, Decimal::ZERO));
        }
        Err(TermsRefusal::PrepaymentExceedsTotal) => inv.reason(
            PREPAYMENT_EXCEEDS_TOTAL,
            name("trade.payment_terms.prepayment"),
            "must not exceed the order total",
        ),
        Err(_) => inv.add(name("trade.payment_terms.prepayment"), "must be greater than zero"),
    }
    rule
}

/// What the parties look like to a draft.
pub struct Parties {
    /// The supplier's membership (export fee rates).
    pub membership: SupplierMembership,
}

/// Looks up the supplier (admission to the kind's program, membership, age for contract
/// drafts) and the buyer account if named. NOT_FOUND / FAILED_PRECONDITION on refusal.
pub async fn parties(ctx: &Ctx, order: &mut Order, now: DateTime<Utc>) -> Result<Parties, Status> {
    let kind = OrderKind::try_from(order.kind).unwrap_or(OrderKind::Unspecified);
    let supplier = order.supplier_account_id.clone();
    let profile: SupplierProfile = found(rpc!(
        ctx,
        "identity",
        IdentityServiceClient,
        get_supplier_profile,
        GetSupplierProfileRequest { account_id: supplier.clone() }
    ))?
    .and_then(|r| r.supplier_profile)
    .ok_or_else(|| ctx.errors().not_found("account", supplier.clone()))?;
    let program = program(kind);
    let admission = rpc!(
        ctx,
        "identity",
        IdentityServiceClient,
        check_supplier_admission,
        CheckSupplierAdmissionRequest { account_id: supplier.clone(), program: program as i32 }
    )?
    .admission
    .ok_or_else(|| internal("identity answered without an admission"))?;
    if !admission.admitted {
        let reasons: Vec<String> = admission.failed_rules.iter().map(|f| f.reason.clone()).collect();
        let program_name = if kind == OrderKind::DirectPay { "DIRECT_PAY" } else { "TRADE_ASSURANCE" };
        return Err(ctx.refuse(
            SUPPLIER_NOT_ADMITTED,
            format!("the supplier is not admitted to {program_name}: {}", reasons.join(", ")),
            &[("program", program_name.to_owned()), ("reasons", reasons.join(","))],
        ));
    }
    let has_contract = pricing::trade(order).is_some_and(|t| t.contract.is_some());
    if has_contract && !ctx.settings.contract_min_supplier_age.is_zero() {
        let created = profile.create_time.as_ref().and_then(time::from_proto).unwrap_or(now);
        if now - created < ctx.settings.contract_min_supplier_age {
            return Err(ctx.refuse(
                "CONTRACT_NOT_AVAILABLE",
                "new suppliers draft with published products, not an uploaded contract",
                &[],
            ));
        }
    }
    if !order.buyer_account_id.is_empty() {
        let id = order.buyer_account_id.clone();
        let account = found(rpc!(
            ctx,
            "identity",
            IdentityServiceClient,
            get_account,
            GetAccountRequest { account_id: id.clone() }
        ))?
        .and_then(|r| r.account)
        .ok_or_else(|| ctx.errors().not_found("account", id.clone()))?;
        if account.region_code == "CN" {
            return Err(super::invalid::invalid(
                ctx.errors(),
                BUYER_EMAIL_IN_MAINLAND,
                "buyer_account_id",
                "the buyer account is registered in mainland China",
            ));
        }
        if let Some(t) = pricing::trade_mut(order)
            && let Some(b) = t.buyer.as_mut()
        {
            if b.email.is_empty() && account.email_verified {
                b.email = account.email.clone();
                if drafting::email_in_mainland(&b.email, &ctx.rules.mainland_domains) {
                    return Err(super::invalid::invalid(
                        ctx.errors(),
                        BUYER_EMAIL_IN_MAINLAND,
                        "buyer.email",
                        "the buyer account's email is in mainland China",
                    ));
                }
            }
            if !b.email.eq_ignore_ascii_case(&account.email) && t.drafted_by == OrderParty::Buyer as i32 {
                return Err(super::invalid::invalid(
                    ctx.errors(),
                    "BUYER_EMAIL_MISMATCH",
                    "buyer.email",
                    "must be empty or the buyer account's verified email",
                ));
            }
        }
    }
    let membership = SupplierMembership::try_from(profile.membership).unwrap_or(SupplierMembership::Unspecified);
    Ok(Parties { membership })
}

/// The business rules that need fx, then the fees: refused destination, prepayment
/// minimum, convenient shipping, payment-method limit, and (after a modification) the
/// total against what was received. Fills fees, warnings and the ship-by deadline.
pub async fn check_rules(
    ctx: &Ctx,
    order: &mut Order,
    rule: Option<ShipBy>,
    parties: &Parties,
) -> Result<(), Status> {
    let kind = OrderKind::try_from(order.kind).unwrap_or(OrderKind::Unspecified);
    let currency = pricing::currency_of(order)?;
    let total = amount_of(order.total_amount.as_ref());
    let received = amount_of(order.received_amount.as_ref());
    let t = pricing::trade(order).cloned().unwrap_or_default();
    if let Some(a) = t.shipping_terms.as_ref().and_then(|s| s.address.as_ref())
        && let Some(r) = drafting::refused_destination(&ctx.rules.refused, &a.region_code, &a.subdivision_code)
    {
        return Err(ctx.refuse(
            DESTINATION_REFUSED,
            format!("orders to {} are refused", a.region_code),
            &[
                ("region_code", a.region_code.clone()),
                ("subdivision_code", r.subdivision_code.clone()),
            ],
        ));
    }
    if total < received {
        return Err(ctx.refuse(
            TOTAL_BELOW_RECEIVED,
            "the new total is below what was already received",
            &[("received", money(currency, received).amount)],
        ));
    }
    let mut fx = Fx::new(ctx);
    let terms = t.payment_terms.clone().unwrap_or_default();
    let prepayment = amount_of(terms.prepayment.as_ref());
    let balance = amount_of(terms.balance.as_ref());
    let minimum = fx.money(ctx.settings.prepayment_minimum, currency).await?;
    if let Err(TermsRefusal::PrepaymentTooLow { minimum }) =
        drafting::payment_terms(total, Some(prepayment), terms.full_prepayment, minimum)
    {
        return Err(ctx.refuse(
            PREPAYMENT_TOO_LOW,
            format!("the prepayment must be at least {currency} {minimum}, or 100 %"),
            &[("minimum", money(currency, minimum).amount)],
        ));
    }
    let export = ExportMethod::try_from(t.export_method).unwrap_or(ExportMethod::Unspecified);
    if export == ExportMethod::ConvenientShipping {
        if kind == OrderKind::DirectPay {
            return Err(ctx.refuse(
                CONVENIENT_SHIPPING_NOT_ALLOWED,
                "Direct Pay orders cannot use convenient shipping",
                &[],
            ));
        }
        let limit = ctx.settings.convenient_shipping_limit;
        let equivalent = fx.convert(total, currency, limit.currency()).await?;
        if !drafting::convenient_shipping_allowed(equivalent, limit.amount()) {
            return Err(ctx.refuse(
                CONVENIENT_SHIPPING_OVER_LIMIT,
                format!("convenient shipping is for orders up to {limit}"),
                &[
                    ("limit", limit.to_proto().amount),
                    ("usd_equivalent", money(limit.currency(), equivalent).amount),
                ],
            ));
        }
    }
    let method = PaymentMethod::try_from(order.payment_method).unwrap_or(PaymentMethod::Unspecified);
    if let Some(row) = pricing::method_row(ctx, kind, method, currency)
        && let Some(limit) = row.payment_limit()
    {
        let limit_here = fx.amount(limit, currency).await?;
        if prepayment > limit_here || balance > limit_here {
            return Err(ctx.refuse(
                PAYMENT_METHOD_LIMIT_EXCEEDED,
                format!(
                    "{} takes at most {} {} per payment",
                    pricing::method_label(method),
                    limit.currency,
                    limit.value.normalize()
                ),
                &[
                    ("payment_method", method.as_str_name().to_owned()),
                    ("limit", money(limit.currency, limit.value).amount),
                ],
            ));
        }
    }
    let fees = pricing::trade_fees(ctx, &mut fx, order, parties.membership).await?;
    order.fees = Some(fees);
    let warnings: Vec<OrderWarning> = t
        .shipping_terms
        .as_ref()
        .and_then(|s| s.address.as_ref())
        .map(|a| {
            ctx.rules
                .warnings
                .iter()
                .filter(|w| w.region_code == a.region_code)
                .map(|w| OrderWarning { code: w.code.clone(), message: w.message.clone() })
                .collect()
        })
        .unwrap_or_default();
    let prepaid_at = terms.prepayment_complete_time.as_ref().and_then(time::from_proto);
    if let Some(tm) = pricing::trade_mut(order) {
        tm.warnings = warnings;
        if let Some(st) = tm.shipping_terms.as_mut() {
            st.ship_by_time = rule
                .and_then(|r| drafting::ship_by_time(r, prepaid_at))
                .map(time::to_proto);
        }
    }
    Ok(())
}

/// The supplier's collection account for the order currency: its wallet's first trade
/// collection account in that currency ("" when it has none yet).
pub async fn collection_account(ctx: &Ctx, supplier: &str, currency: Currency) -> Result<String, Status> {
    let wallet = found(rpc!(
        ctx,
        "wallet",
        WalletServiceClient,
        get_wallet,
        GetWalletRequest {
            lookup: Some(get_wallet_request::Lookup::OwnerAccountId(supplier.to_owned())),
        }
    ))?
    .and_then(|w| w.wallet);
    let Some(wallet) = wallet else {
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
        prepayment: if p.full_prepayment { None } else { p.prepayment },
        full_prepayment: p.full_prepayment,
        ..PaymentTerms::default()
    });
    let inspection = d.inspection.map(|i| InspectionService {
        requested: i.requested,
        provider_code: if i.requested { i.provider_code } else { String::new() },
        fee: None,
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
    let mut inv = Invalid::new();
    inv.v.uuid("supplier_account_id", &d.supplier_account_id);
    if drafted_by == OrderParty::Buyer {
        inv.v.uuid("buyer_account_id", &d.buyer_account_id);
    } else {
        inv.v.optional_uuid("buyer_account_id", &d.buyer_account_id);
    }
    let buyer_drafts = drafted_by == OrderParty::Buyer;
    let mut order = assemble(d);
    if buyer_drafts
        && let Some(t) = pricing::trade_mut(&mut order)
    {
        // The buyer may leave the email empty (the account's is used).
        if let Some(b) = t.buyer.as_mut()
            && b.email.is_empty()
        {
            b.email = "pending@buyer.invalid".to_owned();
        }
        if !t.salesperson.is_empty() {
            inv.add("salesperson", "only the supplier sets the salesperson");
        }
    }
    let rule = check_fields(ctx, &mut inv, &draft_name, &mut order, None, !buyer_drafts, now);
    inv.finish(ctx.errors())?;
    if buyer_drafts
        && let Some(b) = pricing::trade_mut(&mut order).and_then(|t| t.buyer.as_mut())
        && b.email == "pending@buyer.invalid"
    {
        b.email.clear();
    }
    let parties = parties(ctx, &mut order, now).await?;
    if pricing::trade(&order).and_then(|t| t.buyer.as_ref()).is_some_and(|b| b.email.is_empty()) {
        return Err(super::invalid::invalid(
            ctx.errors(),
            "BUYER_EMAIL_REQUIRED",
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
    let actor_type = if buyer_drafts { ActorType::Buyer } else { ActorType::Supplier };
    let party = if buyer_drafts { order.buyer_account_id.clone() } else { order.supplier_account_id.clone() };
    let request_id_owned = request_id.to_owned();
    idempotency::run(&ctx.svc.pool, ctx.errors(), method, request_id, req, |mut tx| async move {
        order.order_number = store::next_number(&mut tx, kind).await?;
        store::insert(&mut tx, &mut order, "", now).await?;
        let event = Event::new(
            OrderEventType::Created,
            actor(actor_type, subject, &party),
            OrderStatus::Unspecified,
            status,
            &request_id_owned,
        );
        events::append(&mut tx, &order, event, now).await?;
        Ok((respond(order), tx))
    })
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
            let mut inv = Invalid::new();
            inv.add("drafted_by", "must be ORDER_PARTY_SUPPLIER or ORDER_PARTY_BUYER");
            return Err(inv.finish(ctx.errors()).expect_err("one violation"));
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
    draft(ctx, "DraftTradeAssuranceOrder", &req.request_id, &req, d, subject, |o| {
        DraftTradeAssuranceOrderResponse { order: Some(o) }
    })
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
    draft(ctx, "DraftDirectPayOrder", &req.request_id, &req, d, subject, |o| {
        DraftDirectPayOrderResponse { order: Some(o) }
    })
    .await
}
