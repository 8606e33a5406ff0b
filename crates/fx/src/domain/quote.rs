//! The arithmetic of a quote: spread by tier, applied rate, the computed side rounded
//! half-even to its currency's minor units, and the fee.

use kuajing_platform::Currency;
use kuajing_platform::money::round_half_even;
use rust_decimal::Decimal;

use super::rates::round_rate;

/// One spread tier: from `from_usd` (inclusive, in USD equivalent of the sell amount)
/// upwards, `bps` basis points below mid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpreadTier {
    /// Lower bound, USD equivalent.
    pub from_usd: Decimal,
    /// Spread in basis points.
    pub bps: u32,
}

/// The spread for a sell amount worth `usd`: the tier with the highest lower bound at or
/// below it (tiers need not be sorted).
pub fn spread_bps(tiers: &[SpreadTier], usd: Decimal) -> u32 {
    tiers
        .iter()
        .filter(|t| t.from_usd <= usd)
        .max_by_key(|t| t.from_usd)
        .map_or(0, |t| t.bps)
}

/// mid x (10000 - bps) / 10000, rounded half-even to 12 places.
pub fn applied_rate(mid: Decimal, bps: u32) -> Decimal {
    round_rate(mid * (Decimal::from(10_000u32.saturating_sub(bps))) / Decimal::from(10_000u32))
}

/// Which amount the customer fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fixed {
    /// The sell amount is fixed; the buy amount is computed.
    Sell(Decimal),
    /// The buy amount is fixed; the sell amount is computed.
    Buy(Decimal),
}

/// A priced quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priced {
    /// Sell-currency amount converted.
    pub sell: Decimal,
    /// Buy-currency amount received.
    pub buy: Decimal,
    /// Fee in the sell currency, on top of `sell`.
    pub fee: Decimal,
}

impl Priced {
    /// What the wallet pays: sell + fee.
    pub fn debit(&self) -> Decimal {
        self.sell + self.fee
    }
}

/// Why a quote cannot be priced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriceError {
    /// The computed side rounds to zero.
    AmountTooSmall,
}

/// Prices a quote of `sell` into `buy` at `applied`, with a fee of `fee_bps` of the sell
/// amount (rounded half-even to the sell currency).
pub fn price(
    sell: Currency,
    buy: Currency,
    fixed: Fixed,
    applied: Decimal,
    fee_bps: u32,
) -> Result<Priced, PriceError> {
    let (s, b) = match fixed {
        Fixed::Sell(s) => (s, round_half_even(s * applied, buy)),
        Fixed::Buy(b) => (round_half_even(b / applied, sell), b),
    };
    if s <= Decimal::ZERO || b <= Decimal::ZERO {
        return Err(PriceError::AmountTooSmall);
    }
    let fee = round_half_even(s * Decimal::from(fee_bps) / Decimal::from(10_000u32), sell);
    Ok(Priced {
        sell: s,
        buy: b,
        fee,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn tiers_pick_the_highest_bound_reached() {
        let tiers = [
            SpreadTier {
                from_usd: d("0"),
                bps: 50,
            },
            SpreadTier {
                from_usd: d("100000"),
                bps: 20,
            },
            SpreadTier {
                from_usd: d("10000"),
                bps: 30,
            },
        ];
        assert_eq!(spread_bps(&tiers, d("9999.99")), 50);
        assert_eq!(spread_bps(&tiers, d("10000")), 30);
        assert_eq!(spread_bps(&tiers, d("100000.00")), 20);
        assert_eq!(spread_bps(&[], d("1")), 0);
    }

    #[test]
    fn applied_rate_is_below_mid_by_the_spread() {
        assert_eq!(applied_rate(d("7.12"), 50), d("7.0844"));
        assert_eq!(applied_rate(d("5.313432835818"), 50), d("5.286865671639"));
        assert_eq!(applied_rate(d("1"), 0), d("1"));
    }

    #[test]
    fn jpy_has_no_minor_units_and_half_goes_to_even() {
        // 10.50 USD x 150 = 1575 JPY exactly; 0.01 USD x 150 = 1.5 -> 2 (even); 0.03 x 150 = 4.5 -> 4.
        assert_eq!(
            price(
                Currency::USD,
                Currency::JPY,
                Fixed::Sell(d("10.50")),
                d("150"),
                0
            )
            .unwrap()
            .buy,
            d("1575")
        );
        assert_eq!(
            price(
                Currency::USD,
                Currency::JPY,
                Fixed::Sell(d("0.01")),
                d("150"),
                0
            )
            .unwrap()
            .buy,
            d("2")
        );
        assert_eq!(
            price(
                Currency::USD,
                Currency::JPY,
                Fixed::Sell(d("0.03")),
                d("150"),
                0
            )
            .unwrap()
            .buy,
            d("4")
        );
        // 1 JPY at 0.004 USD/JPY is 0.004 USD: it rounds to zero, so there is no quote.
        assert_eq!(
            price(
                Currency::JPY,
                Currency::USD,
                Fixed::Sell(d("1")),
                d("0.004"),
                0
            ),
            Err(PriceError::AmountTooSmall)
        );
    }

    #[test]
    fn idr_and_buy_side_fixed() {
        // 100 USD -> IDR at 15800.125: 1,580,012.5 -> 1,580,012.50 (IDR has 2 minor units).
        assert_eq!(
            price(
                Currency::USD,
                Currency::IDR,
                Fixed::Sell(d("100")),
                d("15800.125"),
                0
            )
            .unwrap()
            .buy,
            d("1580012.50")
        );
        // Buy 1000.00 CNH at 7.0844: sell = 141.1552... -> 141.16.
        let p = price(
            Currency::USD,
            Currency::CNH,
            Fixed::Buy(d("1000.00")),
            d("7.0844"),
            0,
        )
        .unwrap();
        assert_eq!((p.sell, p.buy), (d("141.16"), d("1000.00")));
        // Exactly half a cent: 0.125 -> 0.12 (even), 0.135 -> 0.14.
        assert_eq!(
            price(
                Currency::EUR,
                Currency::USD,
                Fixed::Sell(d("0.125")),
                d("1"),
                0
            )
            .unwrap()
            .buy,
            d("0.12")
        );
        assert_eq!(
            price(
                Currency::EUR,
                Currency::USD,
                Fixed::Sell(d("0.135")),
                d("1"),
                0
            )
            .unwrap()
            .buy,
            d("0.14")
        );
    }

    #[test]
    fn fee_is_on_top_of_the_sell_amount() {
        let p = price(
            Currency::SGD,
            Currency::CNH,
            Fixed::Sell(d("100.00")),
            d("5.286865671639"),
            25,
        )
        .unwrap();
        assert_eq!(p.fee, d("0.25"));
        assert_eq!(p.debit(), d("100.25"));
        assert_eq!(p.buy, d("528.69"));
    }
}
