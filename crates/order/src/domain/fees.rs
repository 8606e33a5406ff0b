//! Fee arithmetic: a percentage of a base, rounded half-even to the currency's minor units,
//! capped; fixed fees and fee ranges; and the rows of the fee tables (payment methods,
//! export methods, inspection) as the rules read them. The numbers are data.

use kuajing_platform::Currency;
use kuajing_platform::money::round_half_even;
use kuajing_proto::identity::v1::SupplierMembership;
use kuajing_proto::order::v1::{ExportMethod, OrderKind, PaymentMethod, PaymentSettlement};
use kuajing_proto::wallet::v1::FundPool;
use rust_decimal::Decimal;

/// `base x rate_percent / 100`, rounded half-even to `currency`'s minor units.
pub fn percent_of(base: Decimal, rate_percent: Decimal, currency: Currency) -> Decimal {
    round_half_even(base * rate_percent / Decimal::ONE_HUNDRED, currency)
}

/// A percentage fee with an optional cap (already in the base's currency).
pub fn capped_percent(
    base: Decimal,
    rate_percent: Decimal,
    cap: Option<Decimal>,
    currency: Currency,
) -> Decimal {
    let fee = percent_of(base, rate_percent, currency);
    match cap {
        Some(c) if c < fee => c,
        _ => fee,
    }
}

/// An amount in a currency, as the tables store it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Amount {
    /// The currency.
    pub currency: Currency,
    /// Major units.
    pub value: Decimal,
}

/// One row of the payment-method fee and limit table (`payment_method_schedules`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodRow {
    /// The method.
    pub method: PaymentMethod,
    /// Its variant ("US_ACCOUNT", ...), empty when it has one.
    pub variant: String,
    /// Order kinds the row applies to.
    pub kinds: Vec<OrderKind>,
    /// How the money reaches the supplier.
    pub settlement: PaymentSettlement,
    /// Currencies the payer may pay in; empty = any.
    pub payment_currencies: Vec<String>,
    /// Payer pays in its bank's local currency only.
    pub local_currency_only: bool,
    /// Largest single payment.
    pub per_payment_limit: Option<Amount>,
    /// Largest total per payer and calendar month.
    pub monthly_limit: Option<Amount>,
    /// Percentage fee; `None` when not a percentage (or tiered).
    pub fee_percent: Option<Decimal>,
    /// Fixed fee or the lower end of a range.
    pub fee_fixed_min: Option<Amount>,
    /// Upper end of a fixed-fee range.
    pub fee_fixed_max: Option<Amount>,
    /// Cap on the fee.
    pub fee_cap: Option<Amount>,
    /// When the cap applies; empty = always.
    pub fee_cap_condition: String,
    /// The fixed fees are units of the payer's local currency (the currency it pays in),
    /// not of their table currency: seed 002's domestic wire, "about 1 local currency".
    pub fee_in_local_currency: bool,
    /// The fee depends on the payer's bank (an estimate).
    pub bank_dependent: bool,
    /// The fee follows the cross-border pay tiers.
    pub tiered: bool,
    /// Processing time as shown to people.
    pub processing_time: String,
    /// Buyer regions the method is offered in; empty = all.
    pub buyer_regions: Vec<String>,
    /// Switched on.
    pub enabled: bool,
}

impl MethodRow {
    /// True when the row applies to orders of `kind`.
    pub fn for_kind(&self, kind: OrderKind) -> bool {
        self.kinds.contains(&kind)
    }

    /// The tightest limit on one payment: the per-payment limit, or the monthly limit when
    /// it is lower (one payment cannot exceed the month's allowance).
    pub fn payment_limit(&self) -> Option<Amount> {
        match (self.per_payment_limit, self.monthly_limit) {
            (Some(p), Some(m)) if m.currency == p.currency && m.value < p.value => Some(m),
            (Some(p), _) => Some(p),
            (None, m) => m,
        }
    }

    /// Whether the buyer's region may use the method.
    pub fn offered_in(&self, region: &str) -> bool {
        self.buyer_regions.is_empty() || self.buyer_regions.iter().any(|r| r == region)
    }
}

/// The fee of one payment by a method, in the order currency, before conversion of the
/// fixed amounts (the caller passes them converted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MethodFee {
    /// The fee (the lower end of a range).
    pub amount: Decimal,
    /// The upper end of a range.
    pub amount_max: Option<Decimal>,
}

/// The fee of paying `base` by a method with `rate` (percent), a fixed part
/// `fixed_min..fixed_max`, and an unconditional `cap`, all in the base's currency.
pub fn method_fee(
    base: Decimal,
    rate: Option<Decimal>,
    fixed_min: Option<Decimal>,
    fixed_max: Option<Decimal>,
    cap: Option<Decimal>,
    currency: Currency,
) -> MethodFee {
    let pct = rate.map_or(Decimal::ZERO, |r| percent_of(base, r, currency));
    let low = pct + fixed_min.unwrap_or_default();
    let high = fixed_max.map(|m| pct + m);
    let cap_at = |x: Decimal| match cap {
        Some(c) if c < x => c,
        _ => x,
    };
    MethodFee {
        amount: cap_at(low),
        amount_max: high.map(cap_at).filter(|h| *h != cap_at(low)),
    }
}

/// One row of the export-method service fee table (`export_fee_rules`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportFeeRule {
    /// The export method.
    pub method: ExportMethod,
    /// The supplier membership it applies to; `Unspecified` = any.
    pub membership: SupplierMembership,
    /// Rate in percent.
    pub rate_percent: Decimal,
    /// Cap, in its own currency.
    pub cap: Option<Amount>,
}

/// The export fee rule for a method and membership: an exact membership row first, else
/// the row for any membership; `None` when the method has no fee.
pub fn export_rule(
    rules: &[ExportFeeRule],
    method: ExportMethod,
    membership: SupplierMembership,
) -> Option<&ExportFeeRule> {
    rules
        .iter()
        .find(|r| r.method == method && r.membership == membership)
        .or_else(|| {
            rules
                .iter()
                .find(|r| r.method == method && r.membership == SupplierMembership::Unspecified)
        })
}

/// The fund pool a trade order's proceeds go to, and its fees are charged from, by its
/// export method (`None` for a marketplace order): agent export's (一达通出口账户) for
/// agent export, else the supplier's own (自主出口账户), as seed 002's withdrawal step says.
pub fn proceeds_pool(export_method: Option<i32>) -> FundPool {
    match export_method {
        Some(m) if m == ExportMethod::AgentExport as i32 => FundPool::AgentExport,
        _ => FundPool::Standard,
    }
}

/// The inspection service price of a provider (`""` = the platform chooses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InspectionPrice {
    /// Provider code, e.g. "SGS"; empty for the platform's choice.
    pub provider_code: String,
    /// The price.
    pub price: Amount,
}

/// Formats a percent rate for people and the wire: "0.20", "1.00", "0.015".
pub fn rate_text(rate: Decimal) -> String {
    let mut r = rate.normalize();
    if r.scale() < 2 {
        r.rescale(2);
    }
    r.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn percentages_round_half_even() {
        assert_eq!(percent_of(d("1000"), d("0.20"), Currency::CNY), d("2"));
        assert_eq!(percent_of(d("12.25"), d("2"), Currency::USD), d("0.24")); // 0.245
        assert_eq!(percent_of(d("12.75"), d("2"), Currency::USD), d("0.26")); // 0.255
        assert_eq!(percent_of(d("999"), d("0.015"), Currency::CNY), d("0.15")); // 0.14985
    }

    #[test]
    fn caps_bind_only_above_them() {
        // Self-export 1 %, capped at USD 100: the cap binds from USD 10,000.
        assert_eq!(
            capped_percent(d("9999.99"), d("1"), Some(d("100")), Currency::USD),
            d("100.00")
        );
        assert_eq!(
            capped_percent(d("9949.99"), d("1"), Some(d("100")), Currency::USD),
            d("99.50")
        );
        assert_eq!(
            capped_percent(d("10000.01"), d("1"), Some(d("100")), Currency::USD),
            d("100")
        );
        assert_eq!(
            capped_percent(d("20000"), d("2"), Some(d("100")), Currency::USD),
            d("100")
        );
        // Agent export 1.2 %, capped at RMB 480: binds from RMB 40,000.
        assert_eq!(
            capped_percent(d("39999"), d("1.2"), Some(d("480")), Currency::CNY),
            d("479.99")
        );
        assert_eq!(
            capped_percent(d("40000"), d("1.2"), Some(d("480")), Currency::CNY),
            d("480")
        );
        assert_eq!(
            capped_percent(d("1000000"), d("1.2"), Some(d("480")), Currency::CNY),
            d("480")
        );
        assert_eq!(
            capped_percent(d("1000000"), d("1.2"), None, Currency::CNY),
            d("12000")
        );
    }

    #[test]
    fn method_fees_cover_percentages_ranges_and_caps() {
        let card = method_fee(d("1000"), Some(d("2.95")), None, None, None, Currency::USD);
        assert_eq!(
            card,
            MethodFee {
                amount: d("29.50"),
                amount_max: None
            }
        );
        let wire = method_fee(
            d("1000"),
            None,
            Some(d("15")),
            Some(d("30")),
            None,
            Currency::USD,
        );
        assert_eq!(
            wire,
            MethodFee {
                amount: d("15"),
                amount_max: Some(d("30"))
            }
        );
        let capped = method_fee(
            d("100000"),
            Some(d("2.95")),
            None,
            None,
            Some(d("40")),
            Currency::USD,
        );
        assert_eq!(capped.amount, d("40"));
    }

    #[test]
    fn export_rules_prefer_the_membership_row() {
        let usd = |v: &str| {
            Some(Amount {
                currency: Currency::USD,
                value: d(v),
            })
        };
        let rules = vec![
            ExportFeeRule {
                method: ExportMethod::SelfExport,
                membership: SupplierMembership::Paid,
                rate_percent: d("1"),
                cap: usd("100"),
            },
            ExportFeeRule {
                method: ExportMethod::SelfExport,
                membership: SupplierMembership::Free,
                rate_percent: d("2"),
                cap: usd("100"),
            },
            ExportFeeRule {
                method: ExportMethod::AgentExport,
                membership: SupplierMembership::Unspecified,
                rate_percent: d("1.2"),
                cap: None,
            },
        ];
        assert_eq!(
            export_rule(&rules, ExportMethod::SelfExport, SupplierMembership::Free)
                .unwrap()
                .rate_percent,
            d("2")
        );
        assert_eq!(
            export_rule(&rules, ExportMethod::AgentExport, SupplierMembership::Paid)
                .unwrap()
                .rate_percent,
            d("1.2")
        );
        assert!(
            export_rule(
                &rules,
                ExportMethod::MarketProcurement,
                SupplierMembership::Paid
            )
            .is_none()
        );
    }

    #[test]
    fn rates_print_with_two_places_at_least() {
        assert_eq!(rate_text(d("0.2")), "0.20");
        assert_eq!(rate_text(d("0.015")), "0.015");
        assert_eq!(rate_text(d("1")), "1.00");
    }
}
