//! The goods of an order and what they add up to: line amounts (unit price x quantity,
//! rounded half-even), the goods amount, the total (goods + freight + insurance), and the
//! bounds the contract puts on them.

use kuajing_platform::Currency;
use kuajing_platform::money::{MAX_INTEGER_DIGITS, round_half_even};
use rust_decimal::Decimal;

/// Lines per order (contract).
pub const MAX_LINES: usize = 200;
/// Largest quantity of a line (contract).
pub const MAX_QUANTITY: i64 = 100_000_000;

/// `unit_price x quantity`, rounded half-even; `None` when it leaves the representable
/// range (15 integer digits).
pub fn line_amount(unit_price: Decimal, quantity: i64, currency: Currency) -> Option<Decimal> {
    let amount = unit_price.checked_mul(Decimal::from(quantity))?;
    let amount = round_half_even(amount, currency);
    within_bounds(amount).then_some(amount)
}

/// True when an amount has at most 15 integer digits (what Money and NUMERIC(28,4) hold).
pub fn within_bounds(amount: Decimal) -> bool {
    amount.abs() < Decimal::from_i128_with_scale(10i128.pow(MAX_INTEGER_DIGITS), 0)
}

/// Sums amounts; `None` when the sum leaves the representable range.
pub fn sum(amounts: impl IntoIterator<Item = Decimal>) -> Option<Decimal> {
    let mut total = Decimal::ZERO;
    for a in amounts {
        total = total.checked_add(a)?;
    }
    within_bounds(total).then_some(total)
}

/// The order total: goods + freight + insurance.
pub fn total(goods: Decimal, freight: Decimal, insurance: Decimal) -> Option<Decimal> {
    sum([goods, freight, insurance])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn lines_multiply_and_stay_in_range() {
        assert_eq!(line_amount(d("50.00"), 50, Currency::USD), Some(d("2500")));
        assert_eq!(
            line_amount(d("0.13"), 12_500, Currency::USD),
            Some(d("1625"))
        );
        assert_eq!(
            line_amount(d("99999999.99"), MAX_QUANTITY, Currency::CNY),
            None
        );
        assert!(line_amount(d("9999999.99"), MAX_QUANTITY, Currency::CNY).is_some());
        assert_eq!(total(d("2500"), d("100"), d("5.5")), Some(d("2605.5")));
        assert_eq!(sum([d("999999999999999"), d("1")]), None);
    }
}
