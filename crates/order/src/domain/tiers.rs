//! Cross-border pay fee tiers (seed 003): the rate depends on the buyer's applicable
//! monthly amount in CNY, the greater of last month's amount and the average monthly
//! amount over the latest complete months (at most the configured number, fewer for a
//! younger buyer). The tiers themselves are data (`fee_tiers`).

use rust_decimal::Decimal;

/// One tier: applies when `lower <= applicable < upper` (CNY).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tier {
    /// Inclusive lower bound.
    pub lower: Decimal,
    /// Exclusive upper bound; `None` for the top tier.
    pub upper: Option<Decimal>,
    /// Fee rate in percent, e.g. 0.20.
    pub rate_percent: Decimal,
}

/// A tier table that covers [0, ∞) without gaps or overlaps, lowest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tiers(Vec<Tier>);

impl Tiers {
    /// Checks that the tiers start at zero, are contiguous, end unbounded, and have
    /// rates between 0 and 100 %.
    pub fn new(mut tiers: Vec<Tier>) -> Result<Tiers, String> {
        tiers.sort_by_key(|a| a.lower);
        let Some(first) = tiers.first() else {
            return Err("at least one tier is needed".to_owned());
        };
        if first.lower != Decimal::ZERO {
            return Err("the lowest tier must start at 0".to_owned());
        }
        for (i, t) in tiers.iter().enumerate() {
            if t.rate_percent < Decimal::ZERO || t.rate_percent > Decimal::ONE_HUNDRED {
                return Err(format!("tier from {}: rate out of range", t.lower));
            }
            match (t.upper, tiers.get(i + 1)) {
                (Some(u), Some(next)) if u == next.lower && u > t.lower => {}
                (None, None) => {}
                _ => {
                    return Err(format!(
                        "tier from {}: gap, overlap or bounded top",
                        t.lower
                    ));
                }
            }
        }
        Ok(Tiers(tiers))
    }

    /// The tiers, lowest first.
    pub fn all(&self) -> &[Tier] {
        &self.0
    }

    /// The tier `amount` falls in (negative amounts count as zero).
    pub fn tier_for(&self, amount: Decimal) -> &Tier {
        let amount = amount.max(Decimal::ZERO);
        self.0
            .iter()
            .find(|t| t.lower <= amount && t.upper.is_none_or(|u| amount < u))
            .unwrap_or_else(|| &self.0[self.0.len() - 1])
    }
}

/// A calendar month as a running index: `year * 12 + (month - 1)`.
pub type MonthIndex = i32;

/// How the tier of a buyer was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Basis {
    /// The previous calendar month's amount.
    pub last_month: Decimal,
    /// Average over the months averaged (zero when none).
    pub average: Decimal,
    /// Complete months averaged.
    pub months_averaged: i32,
    /// max(last_month, average).
    pub applicable: Decimal,
}

/// The tier basis at `current` (the month now) from per-month amounts, counting complete
/// months from `first` (the month of the buyer's first cross-border pay payment), at most
/// `max_months`. Months without payments count as zero. The average is rounded half-even
/// to 2 decimal places (CNY).
pub fn basis(
    amounts: &[(MonthIndex, Decimal)],
    first: Option<MonthIndex>,
    current: MonthIndex,
    max_months: i32,
) -> Basis {
    let sum_of = |m: MonthIndex| -> Decimal {
        amounts
            .iter()
            .filter(|(k, _)| *k == m)
            .map(|(_, a)| *a)
            .sum()
    };
    let last_month = sum_of(current - 1);
    let months_averaged = match first {
        Some(f) if f < current => (current - f).min(max_months.max(0)),
        _ => 0,
    };
    let average = if months_averaged == 0 {
        Decimal::ZERO
    } else {
        let total: Decimal = (1..=months_averaged).map(|k| sum_of(current - k)).sum();
        (total / Decimal::from(months_averaged))
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointNearestEven)
    };
    Basis {
        last_month,
        average,
        months_averaged,
        applicable: last_month.max(average),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    /// The seed's table (seed 003), as the migration loads it.
    fn seed_tiers() -> Tiers {
        let rows = [
            ("0", Some("100000"), "0.20"),
            ("100000", Some("3000000"), "0.15"),
            ("3000000", Some("10000000"), "0.08"),
            ("10000000", Some("25000000"), "0.03"),
            ("25000000", Some("80000000"), "0.02"),
            ("80000000", None, "0.015"),
        ];
        Tiers::new(
            rows.iter()
                .map(|(l, u, r)| Tier {
                    lower: d(l),
                    upper: u.map(d),
                    rate_percent: d(r),
                })
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn edges_belong_to_the_upper_tier() {
        let t = seed_tiers();
        assert_eq!(t.tier_for(d("0")).rate_percent, d("0.20"));
        assert_eq!(t.tier_for(d("99999.99")).rate_percent, d("0.20"));
        assert_eq!(t.tier_for(d("100000")).rate_percent, d("0.15"));
        assert_eq!(t.tier_for(d("2999999.99")).rate_percent, d("0.15"));
        assert_eq!(t.tier_for(d("3000000")).rate_percent, d("0.08"));
        assert_eq!(t.tier_for(d("9999999.99")).rate_percent, d("0.08"));
        assert_eq!(t.tier_for(d("10000000")).rate_percent, d("0.03"));
        assert_eq!(t.tier_for(d("24999999.99")).rate_percent, d("0.03"));
        assert_eq!(t.tier_for(d("25000000")).rate_percent, d("0.02"));
        assert_eq!(t.tier_for(d("79999999.99")).rate_percent, d("0.02"));
        assert_eq!(t.tier_for(d("80000000")).rate_percent, d("0.015"));
        assert_eq!(t.tier_for(d("999999999999")).rate_percent, d("0.015"));
    }

    #[test]
    fn bad_tables_are_refused() {
        let tier = |l: &str, u: Option<&str>| Tier {
            lower: d(l),
            upper: u.map(d),
            rate_percent: d("0.1"),
        };
        assert!(Tiers::new(vec![]).is_err());
        assert!(
            Tiers::new(vec![tier("1", None)]).is_err(),
            "must start at 0"
        );
        assert!(
            Tiers::new(vec![tier("0", Some("10")), tier("11", None)]).is_err(),
            "gap"
        );
        assert!(
            Tiers::new(vec![tier("0", Some("10")), tier("5", None)]).is_err(),
            "overlap"
        );
        assert!(
            Tiers::new(vec![tier("0", Some("10"))]).is_err(),
            "bounded top"
        );
        assert!(Tiers::new(vec![tier("0", Some("10")), tier("10", None)]).is_ok());
    }

    #[test]
    fn applicable_amount_is_the_greater_of_last_month_and_the_average() {
        // First payment 3 months ago: months -3, -2, -1 averaged.
        let cur = 2025 * 12 + 5;
        let amounts = vec![
            (cur - 3, d("300000")),
            (cur - 1, d("30000")),
            (cur, d("5000000")),
        ];
        let b = basis(&amounts, Some(cur - 3), cur, 12);
        assert_eq!(b.last_month, d("30000"));
        assert_eq!(b.months_averaged, 3);
        assert_eq!(b.average, d("110000"));
        assert_eq!(b.applicable, d("110000"));
        // The current month never counts; a first payment this month averages nothing.
        let b = basis(&[(cur, d("9"))], Some(cur), cur, 12);
        assert_eq!((b.applicable, b.months_averaged), (Decimal::ZERO, 0));
        // No history at all.
        assert_eq!(basis(&[], None, cur, 12).applicable, Decimal::ZERO);
        // At most the latest 12 months: a big month 13 months ago is forgotten.
        let b = basis(
            &[(cur - 13, d("1200000")), (cur - 1, d("12"))],
            Some(cur - 13),
            cur,
            12,
        );
        assert_eq!(b.months_averaged, 12);
        assert_eq!(b.average, d("1"));
        assert_eq!(b.applicable, d("12"));
    }

    proptest! {
        /// Every amount falls in exactly one tier, and at each configured edge the tier
        /// changes exactly there: the edge is in the upper tier, a cent below is not.
        #[test]
        fn tiers_partition_the_line(cents in 0i64..20_000_000_000i64) {
            let t = seed_tiers();
            let amount = Decimal::new(cents, 2);
            let matching: Vec<_> = t.all().iter()
                .filter(|x| x.lower <= amount && x.upper.is_none_or(|u| amount < u))
                .collect();
            prop_assert_eq!(matching.len(), 1);
            prop_assert_eq!(t.tier_for(amount), matching[0]);
        }

        #[test]
        fn edges_switch_exactly(edge_index in 1usize..6, below_cents in 1i64..1000) {
            let t = seed_tiers();
            let edge = t.all()[edge_index].lower;
            prop_assert_eq!(t.tier_for(edge), &t.all()[edge_index]);
            let below = edge - Decimal::new(below_cents, 2);
            prop_assert_eq!(t.tier_for(below), &t.all()[edge_index - 1]);
        }

        #[test]
        fn applicable_is_never_below_either_measure(
            months in proptest::collection::vec((1i32..30, 0i64..10_000_000_000), 0..20),
            first_back in 0i32..30,
        ) {
            let cur = 2026 * 12;
            let amounts: Vec<_> = months.iter().map(|(back, c)| (cur - back, Decimal::new(*c, 2))).collect();
            let b = basis(&amounts, Some(cur - first_back), cur, 12);
            prop_assert!(b.applicable >= b.last_month && b.applicable >= b.average);
            prop_assert!(b.applicable == b.last_month || b.applicable == b.average);
            prop_assert!((0..=12).contains(&b.months_averaged));
        }
    }
}
