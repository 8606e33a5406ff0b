//! The drafting rules of Trade Assurance and Direct Pay orders, checked when an order is
//! drafted and again on every modification, in three passes so bad input never costs a
//! lookup: the fields (INVALID_ARGUMENT, with NOTE_TOO_LONG, GOODS_REQUIRED, ... as
//! reasons), the parties (identity: admission, membership, the buyer account), then the
//! business rules that need fx (refused destination, prepayment minimum, convenient-shipping
//! limit, payment-method limit) and the fees.

use chrono::{DateTime, Utc};
use kuajing_platform::FieldViolations;
use kuajing_platform::error::internal;
use kuajing_platform::{Currency, time};
use kuajing_proto::identity::v1::identity_service_client::IdentityServiceClient;
use kuajing_proto::identity::v1::{
    AdmissionProgram, CheckSupplierAdmissionRequest, GetAccountRequest, GetSupplierProfileRequest,
    SupplierMembership, SupplierProfile,
};
use kuajing_proto::order::v1::{
    ExportMethod, Order, OrderKind, OrderParty, OrderWarning, PaymentMethod, PaymentTerms,
    ShippingTerms, TradeDetails, order, ship_by,
};
use kuajing_proto::reasons::order as reasons;
use rust_decimal::Decimal;
use tonic::Status;

use super::Ctx;
use super::fields::{self, Namer};
use super::peers::found;
use super::pricing::{self, Fx, amount_of, money};
use crate::domain::drafting::{self, ShipBy, ShipByRefusal, TermsRefusal};
use crate::rpc;

/// Reason: the buyer's email (or account) is in mainland China.
pub use kuajing_proto::reasons::order::BUYER_EMAIL_IN_MAINLAND;
/// Reason: convenient shipping on a Direct Pay order.
pub use kuajing_proto::reasons::order::CONVENIENT_SHIPPING_NOT_ALLOWED;
/// Reason: convenient shipping above its limit.
pub use kuajing_proto::reasons::order::CONVENIENT_SHIPPING_OVER_LIMIT;
/// Reason: not USD or CNY.
pub use kuajing_proto::reasons::order::CURRENCY_NOT_SUPPORTED;
/// Reason: the destination is refused.
pub use kuajing_proto::reasons::order::DESTINATION_REFUSED;
/// Reason: a supplier draft without an export method.
pub use kuajing_proto::reasons::order::EXPORT_METHOD_REQUIRED;
/// Reason: both lines and a contract.
pub use kuajing_proto::reasons::order::GOODS_AMBIGUOUS;
/// Reason: neither lines nor a contract.
pub use kuajing_proto::reasons::order::GOODS_REQUIRED;
/// Reason: the note is too long.
pub use kuajing_proto::reasons::order::NOTE_TOO_LONG;
/// Reason: the method does not take the order's currency (e.g. Western Union: USD only).
pub use kuajing_proto::reasons::order::PAYMENT_METHOD_CURRENCY_NOT_SUPPORTED;
/// Reason: a due payment above the method's limit.
pub use kuajing_proto::reasons::order::PAYMENT_METHOD_LIMIT_EXCEEDED;
/// Reason: the buyer's orders of the month by this method would pass its monthly limit
/// (Boleto: USD 3,000 a month, seed 002).
pub use kuajing_proto::reasons::order::PAYMENT_METHOD_MONTHLY_LIMIT_EXCEEDED;
/// Reason: the payment method is not offered for the kind.
pub use kuajing_proto::reasons::order::PAYMENT_METHOD_NOT_ALLOWED;
/// Reason: prepayment above the total.
pub use kuajing_proto::reasons::order::PREPAYMENT_EXCEEDS_TOTAL;
/// Reason: the prepayment is below the minimum.
pub use kuajing_proto::reasons::order::PREPAYMENT_TOO_LOW;
/// Reason: a bad ship-by rule.
pub use kuajing_proto::reasons::order::SHIP_BY_INVALID;
/// Reason: the supplier is not admitted to the program.
pub use kuajing_proto::reasons::order::SUPPLIER_NOT_ADMITTED;
/// Reason: the new total is below what was received.
pub use kuajing_proto::reasons::order::TOTAL_BELOW_RECEIVED;
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

/// Which of the conditional field rules apply.
#[derive(Clone, Copy, Debug)]
pub struct Checks {
    /// The export method must be set (supplier drafts, acceptance, modifications).
    pub export_required: bool,
    /// The buyer's email may be empty (the buyer drafts: its account's email is used).
    pub buyer_email_optional: bool,
}

/// The payment method: given, and offered for the order's kind.
fn check_method_field(
    ctx: &Ctx,
    inv: &mut FieldViolations,
    name: Namer<'_>,
    kind: OrderKind,
    payment_method: i32,
) {
    let method = PaymentMethod::try_from(payment_method).unwrap_or(PaymentMethod::Unspecified);
    if method == PaymentMethod::Unspecified {
        inv.add(name("payment_method"), "is required");
    } else if !ctx.rules.method_allowed(kind, method) {
        inv.named(
            PAYMENT_METHOD_NOT_ALLOWED,
            name("payment_method"),
            format!(
                "{} is not offered for {} orders",
                method.as_str_name(),
                kind.as_str_name()
            ),
        );
    }
}

/// The goods: products (lines, priced) or a contract (its file, description and amount),
/// not both; answers their amount.
fn check_goods(
    inv: &mut FieldViolations,
    name: Namer<'_>,
    lines: &mut [kuajing_proto::order::v1::OrderLine],
    contract: Option<&kuajing_proto::order::v1::ContractReference>,
    previous_lines: &[kuajing_proto::order::v1::OrderLine],
    currency: Option<Currency>,
) -> Option<Decimal> {
    match (lines.is_empty(), contract) {
        (true, None) => {
            inv.named(GOODS_REQUIRED, name("lines"), "add products or a contract");
            None
        }
        (false, Some(_)) => {
            inv.named(
                GOODS_AMBIGUOUS,
                name("trade.contract"),
                "either products or a contract, not both",
            );
            None
        }
        (false, None) => {
            currency.and_then(|c| fields::lines(inv, name, lines, previous_lines, c, false))
        }
        (true, Some(k)) => {
            let f = name("trade.contract");
            fields::text(inv, &format!("{f}.file_ref"), &k.file_ref, 1, 512);
            fields::text(
                inv,
                &format!("{f}.contract_number"),
                &k.contract_number,
                0,
                64,
            );
            fields::text(
                inv,
                &format!("{f}.goods_description"),
                &k.goods_description,
                1,
                2000,
            );
            currency.and_then(|c| {
                fields::money_in(
                    inv,
                    &format!("{f}.goods_amount"),
                    k.goods_amount.as_ref(),
                    c,
                    true,
                    true,
                )
            })
        }
    }
}

/// Settles the payment terms on the total: the prepayment (or all of it), the balance,
/// nothing received yet where nothing was; the USD 1 minimum is checked with fx later.
fn settle_terms(
    inv: &mut FieldViolations,
    name: Namer<'_>,
    terms: &mut PaymentTerms,
    total: Decimal,
    currency: Currency,
) {
    let prepayment = if terms.full_prepayment {
        None
    } else {
        fields::money_in(
            inv,
            &name("trade.payment_terms.prepayment"),
            terms.prepayment.as_ref(),
            currency,
            true,
            true,
        )
    };
    if !terms.full_prepayment && prepayment.is_none() {
        return;
    }
    // The minimum is checked with fx later; here only the shape.
    match drafting::payment_terms(total, prepayment, terms.full_prepayment, Decimal::ZERO) {
        Ok((p, b)) => {
            terms.total_amount = Some(money(currency, total));
            terms.prepayment = Some(money(currency, p));
            terms.balance = Some(money(currency, b));
            terms
                .prepayment_received
                .get_or_insert_with(|| money(currency, Decimal::ZERO));
            terms
                .balance_received
                .get_or_insert_with(|| money(currency, Decimal::ZERO));
        }
        Err(TermsRefusal::PrepaymentExceedsTotal) => inv.named(
            PREPAYMENT_EXCEEDS_TOTAL,
            name("trade.payment_terms.prepayment"),
            "must not exceed the order total",
        ),
        Err(_) => inv.add(
            name("trade.payment_terms.prepayment"),
            "must be greater than zero",
        ),
    }
}

/// Checks every field of a trade order assembled from a request, fills the derived ones
/// (line ids and amounts, goods amount, total, prepayment and balance) and returns the
/// parsed ship-by rule. `previous` is the order before a modification (None for a draft).
pub fn check_fields(
    ctx: &Ctx,
    inv: &mut FieldViolations,
    name: Namer<'_>,
    order: &mut Order,
    previous: Option<&Order>,
    checks: Checks,
    now: DateTime<Utc>,
) -> Option<ShipBy> {
    let Checks {
        export_required,
        buyer_email_optional,
    } = checks;
    let kind = OrderKind::try_from(order.kind).unwrap_or(OrderKind::Unspecified);
    let currency: Option<Currency> = match order.currency_code.as_str() {
        "USD" | "CNY" => order.currency_code.parse().ok(),
        _ => {
            inv.named(
                CURRENCY_NOT_SUPPORTED,
                name("currency_code"),
                "must be USD or CNY",
            );
            None
        }
    };
    check_method_field(ctx, inv, name, kind, order.payment_method);
    let previous_lines = previous.map(|p| p.lines.clone()).unwrap_or_default();
    let Some(order::Details::Trade(t)) = order.details.as_mut() else {
        inv.add(name("trade"), "is required");
        return None;
    };
    check_buyer(ctx, inv, name, t, buyer_email_optional);
    fields::text(inv, &name("trade.salesperson"), &t.salesperson, 0, 64);
    // The goods: lines or a contract.
    let contract = t.contract.clone();
    let goods = check_goods(
        inv,
        name,
        &mut order.lines,
        contract.as_ref(),
        &previous_lines,
        currency,
    );
    let Some(order::Details::Trade(t)) = order.details.as_mut() else {
        return None;
    };
    let (freight, insurance, rule) = check_shipping(
        inv,
        name,
        t.shipping_terms.as_mut(),
        currency,
        previous,
        now,
    );
    check_terms(ctx, inv, name, t, export_required);
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
    order.goods_amount = Some(money(currency, goods));
    order.total_amount = Some(money(currency, total));
    settle_terms(inv, name, terms, total, currency);
    rule
}

/// The buyer of a trade order: a well-formed email outside mainland China (or none, on a
/// buyer's own draft), a name, a region outside mainland China, a phone in E.164.
fn check_buyer(
    ctx: &Ctx,
    inv: &mut FieldViolations,
    name: Namer<'_>,
    t: &TradeDetails,
    buyer_email_optional: bool,
) {
    match t.buyer.as_ref() {
        None => inv.add(name("trade.buyer"), "is required"),
        Some(b) => {
            if b.email.is_empty() && buyer_email_optional {
                // A buyer's own draft: its account's verified email is used.
            } else if !drafting::email_well_formed(&b.email) {
                inv.add(name("trade.buyer.email"), "must be an email address in use");
            } else if drafting::email_in_mainland(&b.email, &ctx.rules.mainland_domains) {
                inv.named(
                    BUYER_EMAIL_IN_MAINLAND,
                    name("trade.buyer.email"),
                    "must be outside mainland China",
                );
            }
            fields::text(inv, &name("trade.buyer.name"), &b.name, 1, 128);
            fields::text(
                inv,
                &name("trade.buyer.company_name"),
                &b.company_name,
                0,
                256,
            );
            if !b.region_code.is_empty() && !fields::region_ok(&b.region_code) {
                inv.add(
                    name("trade.buyer.region_code"),
                    "must be an ISO 3166-1 alpha-2 code in upper case",
                );
            } else if b.region_code == "CN" {
                inv.named(
                    BUYER_EMAIL_IN_MAINLAND,
                    name("trade.buyer.region_code"),
                    "the buyer must be registered outside mainland China",
                );
            }
            if !b.phone.is_empty() && !fields::phone_ok(&b.phone) {
                inv.add(
                    name("trade.buyer.phone"),
                    "must be E.164, e.g. +14155550100",
                );
            }
        }
    }
}

/// The shipping terms: address, method, incoterm, freight and insurance in the order's
/// currency (filled in), and the ship-by rule (a modification that keeps it does not
/// re-check its date). Answers the freight, the insurance and the rule, each `None` when
/// refused.
fn check_shipping(
    inv: &mut FieldViolations,
    name: Namer<'_>,
    shipping_terms: Option<&mut ShippingTerms>,
    currency: Option<Currency>,
    previous: Option<&Order>,
    now: DateTime<Utc>,
) -> (Option<Decimal>, Option<Decimal>, Option<ShipBy>) {
    let st_name = name("trade.shipping_terms");
    let mut freight = Some(Decimal::ZERO);
    let mut insurance = Some(Decimal::ZERO);
    let mut rule = None;
    match shipping_terms {
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
                freight = fields::money_in(
                    inv,
                    &format!("{st_name}.freight"),
                    st.freight.as_ref(),
                    c,
                    false,
                    false,
                );
                insurance = fields::money_in(
                    inv,
                    &format!("{st_name}.insurance"),
                    st.insurance.as_ref(),
                    c,
                    false,
                    false,
                );
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
                    rule = date
                        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                        .map(ShipBy::FixedDate);
                }
                Err(e) => inv.named(
                    SHIP_BY_INVALID,
                    format!("{st_name}.ship_by"),
                    match e {
                        ShipByRefusal::DaysOutOfRange => {
                            format!("days_after_payment must be 0 to {MAX_SHIP_BY_DAYS}")
                        }
                        ShipByRefusal::Malformed => {
                            "exactly one of days_after_payment and fixed_date (YYYY-MM-DD)"
                                .to_owned()
                        }
                        ShipByRefusal::InThePast => {
                            "fixed_date is in the past (US Pacific time)".to_owned()
                        }
                    },
                ),
            }
        }
    }
    (freight, insurance, rule)
}

/// The export method (when required), the inspection provider and the note.
fn check_terms(
    ctx: &Ctx,
    inv: &mut FieldViolations,
    name: Namer<'_>,
    t: &TradeDetails,
    export_required: bool,
) {
    // Export method.
    let export = ExportMethod::try_from(t.export_method).unwrap_or(ExportMethod::Unspecified);
    if export == ExportMethod::Unspecified && export_required {
        inv.named(
            EXPORT_METHOD_REQUIRED,
            name("trade.export_method"),
            "is required",
        );
    }
    // Inspection.
    if let Some(i) = t.inspection.as_ref().filter(|i| i.requested) {
        fields::text(
            inv,
            &name("trade.inspection.provider_code"),
            &i.provider_code,
            0,
            64,
        );
        if !ctx
            .rules
            .inspection
            .iter()
            .any(|p| p.provider_code == i.provider_code)
        {
            inv.add(
                name("trade.inspection.provider_code"),
                "is not a provider of the price list",
            );
        }
    }
    // Note.
    if !drafting::note_fits(&t.note, ctx.settings.note_max_chars) {
        inv.named(
            NOTE_TOO_LONG,
            name("trade.note"),
            format!("must be at most {} characters", ctx.settings.note_max_chars),
        );
    } else if t.note.chars().any(|c| c.is_control() && c != '\n') {
        inv.add(name("trade.note"), "must not contain control characters");
    }
}

/// What the parties look like to a draft.
pub struct Parties {
    /// The supplier's membership (export fee rates).
    pub membership: SupplierMembership,
}

/// Identity's answer to "is the supplier admitted to `program`", with every rule it fails.
pub async fn admission(
    ctx: &Ctx,
    supplier: &str,
    program: AdmissionProgram,
) -> Result<kuajing_proto::identity::v1::SupplierAdmission, Status> {
    rpc!(
        ctx,
        "identity",
        IdentityServiceClient,
        check_supplier_admission,
        CheckSupplierAdmissionRequest {
            account_id: supplier.to_owned(),
            program: program as i32
        }
    )?
    .admission
    .ok_or_else(|| internal("identity answered without an admission"))
}

/// CONTRACT_NOT_AVAILABLE unless the supplier may draft from an uploaded contract: an
/// established seller (a completed order, when so configured) old enough.
async fn contract_allowed(
    ctx: &Ctx,
    order: &Order,
    profile: &SupplierProfile,
    now: DateTime<Utc>,
) -> Result<(), Status> {
    // Seed 002: drafting from an uploaded file is for established sellers ("新卖家无此选项");
    // the source gives no age, so a new seller is one without a completed order here.
    if ctx.settings.contract_needs_completed_order {
        let supplier = uuid::Uuid::try_parse(&order.supplier_account_id).unwrap_or_default();
        let completed = kuajing_proto::order::v1::OrderStatus::Completed as i16;
        let established = crate::store::orders::supplier_has(&ctx.svc.pool, supplier, completed)
            .await
            .map_err(internal)?;
        if !established {
            return Err(ctx.refuse(
                reasons::CONTRACT_NOT_AVAILABLE,
                "a new supplier (no completed order yet) drafts with published products, not an uploaded contract",
                &[],
            ));
        }
    }
    if !ctx.settings.contract_min_supplier_age.is_zero() {
        let created = profile
            .create_time
            .as_ref()
            .and_then(time::from_proto)
            .unwrap_or(now);
        if now - created < ctx.settings.contract_min_supplier_age {
            return Err(ctx.refuse(
                reasons::CONTRACT_NOT_AVAILABLE,
                "new suppliers draft with published products, not an uploaded contract",
                &[],
            ));
        }
    }
    Ok(())
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
        GetSupplierProfileRequest {
            account_id: supplier.clone()
        }
    ))?
    .and_then(|r| r.supplier_profile)
    .ok_or_else(|| ctx.errors().not_found("account", supplier.clone()))?;
    let admission = admission(ctx, &supplier, program(kind)).await?;
    if !admission.admitted {
        let reasons: Vec<String> = admission
            .failed_rules
            .iter()
            .map(|f| f.reason.clone())
            .collect();
        let program_name = if kind == OrderKind::DirectPay {
            "DIRECT_PAY"
        } else {
            "TRADE_ASSURANCE"
        };
        return Err(ctx.refuse(
            SUPPLIER_NOT_ADMITTED,
            format!(
                "the supplier is not admitted to {program_name}: {}",
                reasons.join(", ")
            ),
            &[
                ("program", program_name.to_owned()),
                ("reasons", reasons.join(",")),
            ],
        ));
    }
    if pricing::trade(order).is_some_and(|t| t.contract.is_some()) {
        contract_allowed(ctx, order, &profile, now).await?;
    }
    if !order.buyer_account_id.is_empty() {
        let id = order.buyer_account_id.clone();
        let account = found(rpc!(
            ctx,
            "identity",
            IdentityServiceClient,
            get_account,
            GetAccountRequest {
                account_id: id.clone()
            }
        ))?
        .and_then(|r| r.account)
        .ok_or_else(|| ctx.errors().not_found("account", id.clone()))?;
        if account.region_code == "CN" {
            return Err(ctx.errors().invalid(
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
                    return Err(ctx.errors().invalid(
                        BUYER_EMAIL_IN_MAINLAND,
                        "buyer.email",
                        "the buyer account's email is in mainland China",
                    ));
                }
            }
            if !b.email.eq_ignore_ascii_case(&account.email)
                && t.drafted_by == OrderParty::Buyer as i32
            {
                return Err(ctx.errors().invalid(
                    reasons::BUYER_EMAIL_MISMATCH,
                    "buyer.email",
                    "must be empty or the buyer account's verified email",
                ));
            }
        }
    }
    let membership =
        SupplierMembership::try_from(profile.membership).unwrap_or(SupplierMembership::Unspecified);
    Ok(Parties { membership })
}

/// Totals by currency of the buyer's other open orders of `order`'s kind by `method`
/// created this calendar month (UTC): what a monthly method limit counts (writes of one
/// buyer and method are serialised by [`recheck_monthly_limit`]).
pub async fn month_use(
    conn: &mut sqlx::PgConnection,
    order: &Order,
    buyer_email: &str,
    method: PaymentMethod,
    now: DateTime<Utc>,
) -> Result<Vec<(Currency, Decimal)>, Status> {
    let which = (
        i16::try_from(order.kind).unwrap_or(0),
        method as i16,
        buyer_email,
    );
    let closed = kuajing_proto::order::v1::OrderStatus::Closed as i16;
    let except = uuid::Uuid::try_parse(&order.order_id).unwrap_or_default();
    let rows = crate::store::orders::month_totals_of_buyer(conn, which, (closed, except), now)
        .await
        .map_err(internal)?;
    rows.into_iter()
        .map(|(c, sum)| Ok((c.parse::<Currency>().map_err(internal)?, sum)))
        .collect()
}

/// The buyer's monthly limit of the order's payment method (seed 002: Boleto, USD 3,000 a
/// month per buyer): this order and the month's others by the method within it.
pub async fn check_monthly_limit(
    ctx: &Ctx,
    conn: &mut sqlx::PgConnection,
    fx: &mut Fx<'_>,
    order: &Order,
) -> Result<(), Status> {
    let Some((monthly, email)) = monthly_limit(ctx, order)? else {
        return Ok(());
    };
    let method =
        PaymentMethod::try_from(order.payment_method).unwrap_or(PaymentMethod::Unspecified);
    let currency = pricing::currency_of(order)?;
    let total = amount_of(order.total_amount.as_ref());
    // The month's other orders of this buyer by this method, and this one.
    let mut used = Decimal::ZERO;
    for (c, sum) in month_use(conn, order, &email, method, ctx.now()).await? {
        used += fx.convert(sum, c, monthly.currency).await?;
    }
    let this = fx.convert(total, currency, monthly.currency).await?;
    if used + this > monthly.value {
        return Err(ctx.refuse(
            PAYMENT_METHOD_MONTHLY_LIMIT_EXCEEDED,
            format!(
                "{} takes at most {} {} a month per buyer",
                pricing::method_label(method),
                monthly.currency,
                monthly.value.normalize()
            ),
            &[
                ("payment_method", method.as_str_name().to_owned()),
                ("limit", money(monthly.currency, monthly.value).amount),
                ("used", money(monthly.currency, used).amount),
            ],
        ));
    }
    Ok(())
}

/// The order's payment method's monthly limit and the buyer's email it counts by, when
/// the method has one.
fn monthly_limit(
    ctx: &Ctx,
    order: &Order,
) -> Result<Option<(crate::domain::fees::Amount, String)>, Status> {
    let kind = OrderKind::try_from(order.kind).unwrap_or(OrderKind::Unspecified);
    let method =
        PaymentMethod::try_from(order.payment_method).unwrap_or(PaymentMethod::Unspecified);
    let currency = pricing::currency_of(order)?;
    Ok(pricing::method_row(ctx, kind, method, currency)
        .and_then(|row| row.monthly_limit)
        .zip(
            pricing::trade(order)
                .and_then(|t| t.buyer.as_ref())
                .map(|b| b.email.to_lowercase()),
        ))
}

/// Serialises the writes that count against one buyer's monthly method limit: in the
/// transaction that writes `order`, waits for any other such transaction of the same buyer
/// and method, then checks the limit again with what those committed. Two drafts at the
/// same instant can no longer both pass.
pub async fn recheck_monthly_limit(
    ctx: &Ctx,
    tx: &mut sqlx::PgConnection,
    order: &Order,
) -> Result<(), Status> {
    let Some((_, email)) = monthly_limit(ctx, order)? else {
        return Ok(());
    };
    let key = format!(
        "kuajing.order.month-use:{}:{}:{email}",
        order.kind, order.payment_method
    );
    crate::store::orders::lock_month_use(&mut *tx, &key)
        .await
        .map_err(internal)?;
    // Counted on this transaction's connection: the pool may have none to spare while
    // other drafts wait on the lock.
    check_monthly_limit(ctx, tx, &mut Fx::new(ctx), order).await
}

/// Warning: the ship-by leaves two days or less (seed 002: "填写0-2天很容易逾期").
pub const SHIP_BY_SOON: &str = "SHIP_BY_SOON";

/// Convenient shipping (seed 002): never for a Direct Pay order, and only up to the
/// configured limit (the total's equivalent in the limit's currency).
pub async fn check_convenient_shipping(
    ctx: &Ctx,
    fx: &mut Fx<'_>,
    kind: OrderKind,
    export_method: i32,
    total: Decimal,
    currency: Currency,
) -> Result<(), Status> {
    let export = ExportMethod::try_from(export_method).unwrap_or(ExportMethod::Unspecified);
    if export != ExportMethod::ConvenientShipping {
        return Ok(());
    }
    {
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
    Ok(())
}

/// The payment method takes the order's currency, and each due payment within its limit.
async fn check_method(
    ctx: &Ctx,
    fx: &mut Fx<'_>,
    kind: OrderKind,
    method: PaymentMethod,
    currency: Currency,
    dues: [Decimal; 2],
) -> Result<(), Status> {
    let takes = pricing::method_currencies(ctx, kind, method);
    if !takes.is_empty() && !takes.iter().any(|c| c == currency.code()) {
        return Err(ctx.refuse(
            PAYMENT_METHOD_CURRENCY_NOT_SUPPORTED,
            format!(
                "{} takes {} only",
                pricing::method_label(method),
                takes.join(", ")
            ),
            &[
                ("payment_method", method.as_str_name().to_owned()),
                ("currencies", takes.join(",")),
            ],
        ));
    }
    if let Some(row) = pricing::method_row(ctx, kind, method, currency)
        && let Some(limit) = row.payment_limit()
    {
        let limit_here = fx.amount(limit, currency).await?;
        if dues.iter().any(|d| *d > limit_here) {
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
    Ok(())
}

/// The order's warnings: its destination's (configured) and a ship-by that leaves two days
/// or less.
fn warnings(ctx: &Ctx, t: &TradeDetails, rule: Option<ShipBy>) -> Vec<OrderWarning> {
    let mut warnings: Vec<OrderWarning> = t
        .shipping_terms
        .as_ref()
        .and_then(|s| s.address.as_ref())
        .map(|a| {
            ctx.rules
                .warnings
                .iter()
                .filter(|w| w.region_code == a.region_code)
                .map(|w| OrderWarning {
                    code: w.code.clone(),
                    message: w.message.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    if rule.is_some_and(|r| drafting::ship_by_soon(r, ctx.now())) {
        warnings.push(OrderWarning {
            code: SHIP_BY_SOON.to_owned(),
            message: "two days or less to ship is easily missed (seed 002); leave enough time"
                .to_owned(),
        });
    }
    warnings
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
        && let Some(r) =
            drafting::refused_destination(&ctx.rules.refused, &a.region_code, &a.subdivision_code)
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
    check_convenient_shipping(ctx, &mut fx, kind, t.export_method, total, currency).await?;
    let method =
        PaymentMethod::try_from(order.payment_method).unwrap_or(PaymentMethod::Unspecified);
    check_method(ctx, &mut fx, kind, method, currency, [prepayment, balance]).await?;
    {
        let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
        check_monthly_limit(ctx, &mut conn, &mut fx, order).await?;
    }
    let fees = pricing::trade_fees(ctx, &mut fx, order, parties.membership).await?;
    order.fees = Some(fees);
    let warnings = warnings(ctx, &t, rule);
    let prepaid_at = terms
        .prepayment_complete_time
        .as_ref()
        .and_then(time::from_proto);
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
