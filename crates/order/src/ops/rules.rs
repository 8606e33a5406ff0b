//! The rule tables of the `orders` schema (loaded by the migration with the seeds' numbers,
//! editable by operators in SQL), read once at start and checked: a bad table stops the
//! service from starting rather than pricing orders wrongly.

use anyhow::Context;
use kuajing_platform::Currency;
use kuajing_proto::identity::v1::SupplierMembership;
use kuajing_proto::order::v1::{ExportMethod, OrderKind, PaymentMethod, PaymentSettlement};
use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::domain::drafting::{DestinationWarning, RefusedDestination};
use crate::domain::fees::{Amount, ExportFeeRule, InspectionPrice, MethodRow};
use crate::domain::tiers::{Tier, Tiers};
use crate::store;

/// Every rule table, in memory.
#[derive(Clone, Debug)]
pub struct Rules {
    /// Cross-border pay fee tiers.
    pub tiers: Tiers,
    /// Payment methods with fees and limits, in display order.
    pub methods: Vec<MethodRow>,
    /// Export method service fees.
    pub export_fees: Vec<ExportFeeRule>,
    /// Inspection service prices.
    pub inspection: Vec<InspectionPrice>,
    /// Refused destinations.
    pub refused: Vec<RefusedDestination>,
    /// Destination warnings.
    pub warnings: Vec<DestinationWarning>,
    /// Mainland China email domains.
    pub mainland_domains: Vec<String>,
}

impl Rules {
    /// The rows of `kind`, in display order.
    pub fn methods_for(&self, kind: OrderKind) -> impl Iterator<Item = &MethodRow> {
        self.methods.iter().filter(move |m| m.for_kind(kind))
    }

    /// True when `method` is offered for orders of `kind` at all.
    pub fn method_allowed(&self, kind: OrderKind, method: PaymentMethod) -> bool {
        self.methods_for(kind)
            .any(|m| m.method == method && m.enabled)
    }
}

fn currency(text: &str) -> anyhow::Result<Currency> {
    text.parse().map_err(|e: String| anyhow::anyhow!(e))
}

fn amount(value: Option<Decimal>, cur: &str) -> anyhow::Result<Option<Amount>> {
    Ok(match value {
        Some(v) => Some(Amount {
            currency: currency(cur)?,
            value: v,
        }),
        None => None,
    })
}

/// The `fee_currency` of a method whose fixed fees are in the payer's local currency.
const LOCAL: &str = "LOCAL";

/// One row of the payment method schedule, checked.
fn method_of(r: store::rules::MethodRow) -> anyhow::Result<MethodRow> {
    let method = r.payment_method;
    // LOCAL: fixed fees in the payer's own currency, kept as a marker currency here
    // (never converted; see MethodRow::fee_in_local_currency).
    let fees_local = r.fee_currency == LOCAL;
    let fee_currency = if fees_local {
        "USD"
    } else {
        r.fee_currency.as_str()
    };
    let method = PaymentMethod::try_from(i32::from(method))
        .ok()
        .filter(|m| *m != PaymentMethod::Unspecified)
        .with_context(|| format!("payment_method_schedules: unknown method {method}"))?;
    let kinds = (r.order_kinds.iter())
        .map(|k| {
            OrderKind::try_from(i32::from(*k))
                .ok()
                .filter(|k| *k != OrderKind::Unspecified)
                .with_context(|| format!("payment_method_schedules: unknown kind {k}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(MethodRow {
        method,
        variant: r.variant,
        kinds,
        settlement: PaymentSettlement::try_from(i32::from(r.settlement))
            .ok()
            .filter(|s| *s != PaymentSettlement::Unspecified)
            .context("payment_method_schedules: unknown settlement")?,
        payment_currencies: r.payment_currencies,
        local_currency_only: r.local_currency_only,
        per_payment_limit: amount(r.per_payment_limit, &r.limit_currency)?,
        monthly_limit: amount(r.monthly_limit, &r.limit_currency)?,
        fee_percent: r.fee_percent,
        fee_fixed_min: amount(r.fee_fixed_min, fee_currency)?,
        fee_fixed_max: amount(r.fee_fixed_max, fee_currency)?,
        fee_cap: amount(r.fee_cap, fee_currency)?,
        fee_cap_condition: r.fee_cap_condition,
        fee_in_local_currency: fees_local,
        bank_dependent: r.bank_dependent,
        tiered: r.tiered,
        processing_time: r.processing_time,
        buyer_regions: r.buyer_region_codes,
        enabled: r.enabled,
    })
}

/// Reads and checks every table.
pub async fn load(pool: &PgPool) -> anyhow::Result<Rules> {
    let tiers = store::rules::tiers(pool)
        .await?
        .into_iter()
        .map(|r| Tier {
            lower: r.lower_bound,
            upper: r.upper_bound,
            rate_percent: r.rate_percent,
        })
        .collect();
    let tiers = Tiers::new(tiers).map_err(|e| anyhow::anyhow!("fee_tiers: {e}"))?;

    let methods = (store::rules::methods(pool).await?)
        .into_iter()
        .map(method_of)
        .collect::<anyhow::Result<Vec<_>>>()?;

    let mut export_fees = Vec::new();
    for r in store::rules::export_fees(pool).await? {
        let (method, membership) = (r.export_method, r.membership);
        export_fees.push(ExportFeeRule {
            method: ExportMethod::try_from(i32::from(method))
                .ok()
                .filter(|m| *m != ExportMethod::Unspecified)
                .with_context(|| format!("export_fee_rules: unknown method {method}"))?,
            membership: SupplierMembership::try_from(i32::from(membership))
                .with_context(|| format!("export_fee_rules: unknown membership {membership}"))?,
            rate_percent: r.rate_percent,
            cap: amount(r.cap_amount, &r.cap_currency)?,
        });
    }

    let mut inspection = Vec::new();
    for r in store::rules::inspection_prices(pool).await? {
        inspection.push(InspectionPrice {
            provider_code: r.provider_code,
            price: Amount {
                currency: currency(&r.currency)?,
                value: r.price,
            },
        });
    }

    let refused = (store::rules::refused_destinations(pool).await?)
        .into_iter()
        .map(|r| RefusedDestination {
            region_code: r.region_code,
            subdivision_code: r.subdivision_code,
        })
        .collect();
    let warnings = (store::rules::destination_warnings(pool).await?)
        .into_iter()
        .map(|r| DestinationWarning {
            region_code: r.region_code,
            code: r.code,
            message: r.message,
        })
        .collect();
    let mainland_domains = store::rules::mainland_email_domains(pool).await?;
    Ok(Rules {
        tiers,
        methods,
        export_fees,
        inspection,
        refused,
        warnings,
        mainland_domains,
    })
}
