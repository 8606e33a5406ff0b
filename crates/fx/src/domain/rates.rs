//! Mid rates and how a pair without a direct rate is derived, deterministically: the
//! inverse of the opposite pair, else a cross through the configured base currency.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use kuajing_platform::Currency;
use kuajing_proto::fx::v1::RateDerivation;
use rust_decimal::{Decimal, RoundingStrategy};

/// Decimal places of every stored or derived rate.
pub const RATE_DP: u32 = 12;

/// Rounds a rate half-even to [`RATE_DP`] places.
pub fn round_rate(r: Decimal) -> Decimal {
    r.round_dp_with_strategy(RATE_DP, RoundingStrategy::MidpointNearestEven)
        .normalize()
}

/// A directly set rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Direct {
    /// Quote-currency units per base-currency unit.
    pub mid: Decimal,
    /// When it was set.
    pub set_at: DateTime<Utc>,
}

/// A pair's rate as resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// Buy-currency units per sell-currency unit.
    pub mid: Decimal,
    /// When it was set (the older leg's time for a derived rate).
    pub set_at: DateTime<Utc>,
    /// How it was found.
    pub derivation: RateDerivation,
    /// The currency crossed through, for crossed rates.
    pub cross: Option<Currency>,
}

/// Every direct rate, by (base, quote).
#[derive(Clone, Debug, Default)]
pub struct RateBook {
    rates: BTreeMap<(Currency, Currency), Direct>,
}

impl RateBook {
    /// A book from direct rates.
    pub fn new(rates: impl IntoIterator<Item = ((Currency, Currency), Direct)>) -> Self {
        RateBook {
            rates: rates.into_iter().collect(),
        }
    }

    fn direct_or_inverted(&self, from: Currency, to: Currency) -> Option<Resolved> {
        if let Some(d) = self.rates.get(&(from, to)) {
            return Some(Resolved {
                mid: d.mid,
                set_at: d.set_at,
                derivation: RateDerivation::Direct,
                cross: None,
            });
        }
        self.rates.get(&(to, from)).map(|d| Resolved {
            mid: round_rate(Decimal::ONE / d.mid),
            set_at: d.set_at,
            derivation: RateDerivation::Inverted,
            cross: None,
        })
    }

    /// The mid rate of `from`/`to`: direct, else inverted, else crossed through `base`.
    pub fn resolve(&self, from: Currency, to: Currency, base: Currency) -> Option<Resolved> {
        if from == to {
            return None;
        }
        if let Some(r) = self.direct_or_inverted(from, to) {
            return Some(r);
        }
        if from == base || to == base {
            return None;
        }
        let a = self.direct_or_inverted(from, base)?;
        let b = self.direct_or_inverted(base, to)?;
        Some(Resolved {
            mid: round_rate(a.mid * b.mid),
            set_at: a.set_at.min(b.set_at),
            derivation: RateDerivation::Crossed,
            cross: Some(base),
        })
    }
}

/// True when a rate set at `set_at` is older than `max_age` at `now`.
pub fn is_stale(set_at: DateTime<Utc>, now: DateTime<Utc>, max_age: Duration) -> bool {
    now - set_at > max_age
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    fn book() -> (RateBook, DateTime<Utc>) {
        let t0 = Utc::now();
        let older = t0 - Duration::hours(1);
        let book = RateBook::new([
            (
                (Currency::USD, Currency::CNH),
                Direct {
                    mid: d("7.12"),
                    set_at: t0,
                },
            ),
            (
                (Currency::USD, Currency::SGD),
                Direct {
                    mid: d("1.34"),
                    set_at: older,
                },
            ),
            (
                (Currency::EUR, Currency::USD),
                Direct {
                    mid: d("1.08"),
                    set_at: t0,
                },
            ),
        ]);
        (book, older)
    }

    #[test]
    fn direct_inverted_and_crossed() {
        let (book, older) = book();
        let direct = book
            .resolve(Currency::USD, Currency::CNH, Currency::USD)
            .unwrap();
        assert_eq!(
            (direct.mid, direct.derivation),
            (d("7.12"), RateDerivation::Direct)
        );
        let inverted = book
            .resolve(Currency::CNH, Currency::USD, Currency::USD)
            .unwrap();
        assert_eq!(inverted.mid, d("0.140449438202"));
        assert_eq!(inverted.derivation, RateDerivation::Inverted);
        // SGD/CNH = (1 / 1.34) x 7.12, through USD, dated by the older leg.
        let crossed = book
            .resolve(Currency::SGD, Currency::CNH, Currency::USD)
            .unwrap();
        assert_eq!(crossed.mid, round_rate(d("0.746268656716") * d("7.12")));
        assert_eq!(crossed.mid, d("5.313432835818"));
        assert_eq!(
            (crossed.derivation, crossed.cross, crossed.set_at),
            (RateDerivation::Crossed, Some(Currency::USD), older)
        );
        // EUR/CNH = 1.08 x 7.12 exactly.
        assert_eq!(
            book.resolve(Currency::EUR, Currency::CNH, Currency::USD)
                .unwrap()
                .mid,
            d("7.6896")
        );
        assert!(
            book.resolve(Currency::JPY, Currency::CNH, Currency::USD)
                .is_none()
        );
        assert!(
            book.resolve(Currency::USD, Currency::USD, Currency::USD)
                .is_none()
        );
    }

    #[test]
    fn staleness_is_strictly_older_than_the_maximum_age() {
        let now = Utc::now();
        let max = Duration::hours(24);
        assert!(!is_stale(now - max, now, max));
        assert!(is_stale(now - max - Duration::microseconds(1), now, max));
    }
}
