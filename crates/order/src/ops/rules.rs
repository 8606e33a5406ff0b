//! The rule tables of the `orders` schema (loaded by the migration with the seeds' numbers,
//! editable by operators in SQL), read once at start and checked: a bad table stops the
//! service from starting rather than pricing orders wrongly.

use anyhow::Context;
use kuajing_platform::Currency;
use kuajing_proto::identity::v1::SupplierMembership;
use kuajing_proto::order::v1::{ExportMethod, OrderKind, PaymentMethod, PaymentSettlement};
use rust_decimal::Decimal;
use sqlx::{PgPool, Row};

use crate::domain::drafting::{DestinationWarning, RefusedDestination};
use crate::domain::fees::{Amount, ExportFeeRule, InspectionPrice, MethodRow};
use crate::domain::tiers::{Tier, Tiers};

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

/// Reads and checks every table.
pub async fn load(pool: &PgPool) -> anyhow::Result<Rules> {
    let tiers = sqlx::query("SELECT lower_bound, upper_bound, rate_percent FROM fee_tiers")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(Tier {
                lower: r.try_get("lower_bound")?,
                upper: r.try_get("upper_bound")?,
                rate_percent: r.try_get("rate_percent")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let tiers = Tiers::new(tiers).map_err(|e| anyhow::anyhow!("fee_tiers: {e}"))?;

    let mut methods = Vec::new();
    for r in sqlx::query("SELECT * FROM payment_method_schedules ORDER BY position")
        .fetch_all(pool)
        .await?
    {
        let method: i16 = r.try_get("payment_method")?;
        let kinds: Vec<i16> = r.try_get("order_kinds")?;
        let settlement: i16 = r.try_get("settlement")?;
        let limit_currency: String = r.try_get("limit_currency")?;
        let fee_currency: String = r.try_get("fee_currency")?;
        // LOCAL: fixed fees in the payer's own currency, kept as a marker currency here
        // (never converted; see MethodRow::fee_in_local_currency).
        let fees_local = fee_currency == LOCAL;
        let fee_currency = if fees_local {
            "USD".to_owned()
        } else {
            fee_currency
        };
        let method = PaymentMethod::try_from(i32::from(method))
            .ok()
            .filter(|m| *m != PaymentMethod::Unspecified)
            .with_context(|| format!("payment_method_schedules: unknown method {method}"))?;
        let kinds = kinds
            .iter()
            .map(|k| {
                OrderKind::try_from(i32::from(*k))
                    .ok()
                    .filter(|k| *k != OrderKind::Unspecified)
                    .with_context(|| format!("payment_method_schedules: unknown kind {k}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        methods.push(MethodRow {
            method,
            variant: r.try_get("variant")?,
            kinds,
            settlement: PaymentSettlement::try_from(i32::from(settlement))
                .ok()
                .filter(|s| *s != PaymentSettlement::Unspecified)
                .context("payment_method_schedules: unknown settlement")?,
            payment_currencies: r.try_get("payment_currencies")?,
            local_currency_only: r.try_get("local_currency_only")?,
            per_payment_limit: amount(r.try_get("per_payment_limit")?, &limit_currency)?,
            monthly_limit: amount(r.try_get("monthly_limit")?, &limit_currency)?,
            fee_percent: r.try_get("fee_percent")?,
            fee_fixed_min: amount(r.try_get("fee_fixed_min")?, &fee_currency)?,
            fee_fixed_max: amount(r.try_get("fee_fixed_max")?, &fee_currency)?,
            fee_cap: amount(r.try_get("fee_cap")?, &fee_currency)?,
            fee_cap_condition: r.try_get("fee_cap_condition")?,
            fee_in_local_currency: fees_local,
            bank_dependent: r.try_get("bank_dependent")?,
            tiered: r.try_get("tiered")?,
            processing_time: r.try_get("processing_time")?,
            buyer_regions: r.try_get("buyer_region_codes")?,
            enabled: r.try_get("enabled")?,
        });
    }

    let mut export_fees = Vec::new();
    for r in sqlx::query("SELECT * FROM export_fee_rules ORDER BY export_method, membership")
        .fetch_all(pool)
        .await?
    {
        let method: i16 = r.try_get("export_method")?;
        let membership: i16 = r.try_get("membership")?;
        let cap_currency: String = r.try_get("cap_currency")?;
        export_fees.push(ExportFeeRule {
            method: ExportMethod::try_from(i32::from(method))
                .ok()
                .filter(|m| *m != ExportMethod::Unspecified)
                .with_context(|| format!("export_fee_rules: unknown method {method}"))?,
            membership: SupplierMembership::try_from(i32::from(membership))
                .with_context(|| format!("export_fee_rules: unknown membership {membership}"))?,
            rate_percent: r.try_get("rate_percent")?,
            cap: amount(r.try_get("cap_amount")?, &cap_currency)?,
        });
    }

    let mut inspection = Vec::new();
    for r in sqlx::query("SELECT provider_code, price, currency FROM inspection_prices")
        .fetch_all(pool)
        .await?
    {
        let cur: String = r.try_get("currency")?;
        inspection.push(InspectionPrice {
            provider_code: r.try_get("provider_code")?,
            price: Amount {
                currency: currency(&cur)?,
                value: r.try_get("price")?,
            },
        });
    }

    let refused = sqlx::query("SELECT region_code, subdivision_code FROM refused_destinations")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(RefusedDestination {
                region_code: r.try_get("region_code")?,
                subdivision_code: r.try_get("subdivision_code")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let warnings = sqlx::query("SELECT region_code, code, message FROM destination_warnings")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(DestinationWarning {
                region_code: r.try_get("region_code")?,
                code: r.try_get("code")?,
                message: r.try_get("message")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let mainland_domains: Vec<String> =
        sqlx::query_scalar("SELECT domain FROM mainland_email_domains")
            .fetch_all(pool)
            .await?;
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
