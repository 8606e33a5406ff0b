//! The cross-border pay limits, in USD: one payment may not exceed the per-transaction
//! limit, and a mandate's RESERVED plus CONFIRMED amounts of one day may not exceed the
//! per-day limit. Reaching a limit exactly is allowed.

use rust_decimal::Decimal;

/// The limits (USD).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest USD equivalent of one payment.
    pub per_transaction: Decimal,
    /// Largest USD equivalent of one mandate's payments per limit day.
    pub per_day: Decimal,
}

impl Default for Limits {
    /// The seed's: USD 10,000,000 per transaction, USD 100,000,000 per day.
    fn default() -> Self {
        Limits {
            per_transaction: Decimal::new(10_000_000, 0),
            per_day: Decimal::new(100_000_000, 0),
        }
    }
}

/// Which limit a payment would break.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitBreach {
    /// The payment alone exceeds the per-transaction limit.
    PerTransaction {
        /// The limit.
        limit: Decimal,
    },
    /// The payment plus the day's use exceeds the per-day limit.
    PerDay {
        /// The limit.
        limit: Decimal,
        /// What is left of the day's limit (never below zero).
        remaining: Decimal,
    },
}

/// What is left of a limit after `used` (never below zero).
pub fn remaining(limit: Decimal, used: Decimal) -> Decimal {
    (limit - used).max(Decimal::ZERO)
}

impl Limits {
    /// Checks one payment of `usd` against the per-transaction limit.
    pub fn check_transaction(&self, usd: Decimal) -> Result<(), LimitBreach> {
        if usd > self.per_transaction {
            return Err(LimitBreach::PerTransaction {
                limit: self.per_transaction,
            });
        }
        Ok(())
    }

    /// Checks one payment of `usd` against the per-day limit when the day already holds
    /// `used` (its RESERVED and CONFIRMED amounts).
    pub fn check_day(&self, usd: Decimal, used: Decimal) -> Result<(), LimitBreach> {
        if used + usd > self.per_day {
            return Err(LimitBreach::PerDay {
                limit: self.per_day,
                remaining: remaining(self.per_day, used),
            });
        }
        Ok(())
    }

    /// Both checks, per-transaction first.
    pub fn check(&self, usd: Decimal, used: Decimal) -> Result<(), LimitBreach> {
        self.check_transaction(usd)?;
        self.check_day(usd, used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn equal_is_allowed_above_is_not() {
        let l = Limits::default();
        assert_eq!(l.check_transaction(d("10000000.00")), Ok(()));
        assert_eq!(
            l.check_transaction(d("10000000.01")),
            Err(LimitBreach::PerTransaction {
                limit: d("10000000")
            })
        );
        assert_eq!(l.check_day(d("10000000"), d("90000000")), Ok(()));
        assert_eq!(
            l.check_day(d("0.01"), d("100000000")),
            Err(LimitBreach::PerDay {
                limit: d("100000000"),
                remaining: Decimal::ZERO
            })
        );
        assert_eq!(
            l.check_day(d("2500.01"), d("99997500")),
            Err(LimitBreach::PerDay {
                limit: d("100000000"),
                remaining: d("2500")
            })
        );
    }

    #[test]
    fn the_transaction_limit_is_judged_first() {
        let l = Limits {
            per_transaction: d("100"),
            per_day: d("150"),
        };
        assert!(matches!(
            l.check(d("101"), d("100")),
            Err(LimitBreach::PerTransaction { .. })
        ));
        assert!(matches!(
            l.check(d("60"), d("100")),
            Err(LimitBreach::PerDay { .. })
        ));
        assert_eq!(l.check(d("50"), d("100")), Ok(()));
    }

    #[test]
    fn remaining_never_goes_negative() {
        assert_eq!(remaining(d("10"), d("12")), Decimal::ZERO);
        assert_eq!(remaining(d("10"), d("2.5")), d("7.5"));
    }

    proptest! {
        /// Reserving greedily payment after payment never passes the day's limit, and every
        /// refusal is a payment that really would have passed it.
        #[test]
        fn greedy_reservations_stay_within_the_day(cents in proptest::collection::vec(1i64..5_000_000_000, 1..60)) {
            let l = Limits::default();
            let mut used = Decimal::ZERO;
            for c in cents {
                let usd = Decimal::new(c, 2);
                match l.check(usd, used) {
                    Ok(()) => used += usd,
                    Err(LimitBreach::PerDay { remaining: r, .. }) => {
                        prop_assert!(used + usd > l.per_day);
                        prop_assert_eq!(r, l.per_day - used);
                    }
                    Err(LimitBreach::PerTransaction { .. }) => prop_assert!(usd > l.per_transaction),
                }
                prop_assert!(used <= l.per_day);
            }
        }
    }
}
