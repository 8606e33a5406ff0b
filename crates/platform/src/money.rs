//! Money: an exact decimal amount in one of the 15 currencies Kuajing supports.
//!
//! Amounts are `rust_decimal::Decimal` in Rust, `NUMERIC` in Postgres and a decimal string
//! on the wire. Rounding to a currency's minor units is half-even and happens only here.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};

use kuajing_proto::types;

/// Largest absolute amount accepted at the API: 15 integer digits. It keeps every sum of
/// a realistic number of amounts inside `NUMERIC(28, 4)` and Decimal's 28 digits.
pub const MAX_INTEGER_DIGITS: u32 = 15;

macro_rules! currencies {
    ($($code:ident = $minor:expr, $name:expr;)+) => {
        /// A currency a wallet can hold (seed 004's list), with its ISO 4217 minor units.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Currency { $(#[doc = $name] $code,)+ }

        impl Currency {
            /// Every supported currency, in a fixed order.
            pub const ALL: &'static [Currency] = &[$(Currency::$code,)+];

            /// The ISO 4217 alphabetic code.
            pub const fn code(self) -> &'static str {
                match self { $(Currency::$code => stringify!($code),)+ }
            }

            /// Digits after the decimal point (ISO 4217 exponent; CNH follows CNY).
            pub const fn minor_units(self) -> u32 {
                match self { $(Currency::$code => $minor,)+ }
            }
        }

        impl FromStr for Currency {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $(stringify!($code) => Ok(Currency::$code),)+
                    "" => Err("currency_code is required".to_owned()),
                    other => Err(format!(
                        "unsupported currency {:?}; supported: {}",
                        other.chars().take(8).collect::<String>(),
                        [$(stringify!($code)),+].join(", ")
                    )),
                }
            }
        }
    };
}

currencies! {
    CNH = 2, "Chinese yuan (offshore)";
    CNY = 2, "Chinese yuan";
    USD = 2, "US dollar";
    SGD = 2, "Singapore dollar";
    HKD = 2, "Hong Kong dollar";
    GBP = 2, "Pound sterling";
    EUR = 2, "Euro";
    AUD = 2, "Australian dollar";
    JPY = 0, "Japanese yen";
    NZD = 2, "New Zealand dollar";
    CAD = 2, "Canadian dollar";
    MYR = 2, "Malaysian ringgit";
    THB = 2, "Thai baht";
    IDR = 2, "Indonesian rupiah";
    PHP = 2, "Philippine peso";
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An exact amount of one currency whose scale never exceeds the currency's minor units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Money {
    currency: Currency,
    amount: Decimal,
}

impl Money {
    /// Builds money from an amount already at or below the currency's scale.
    pub fn new(currency: Currency, amount: Decimal) -> Result<Self, String> {
        let amount = amount.normalize();
        if amount.scale() > currency.minor_units() {
            return Err(format!(
                "{currency} allows at most {} decimal places",
                currency.minor_units()
            ));
        }
        if amount.abs() >= max_abs() {
            return Err(format!(
                "amount exceeds {MAX_INTEGER_DIGITS} integer digits"
            ));
        }
        Ok(Money { currency, amount })
    }

    /// Builds money by rounding `amount` half-even to the currency's minor units.
    pub fn rounded(currency: Currency, amount: Decimal) -> Result<Self, String> {
        Money::new(currency, round_half_even(amount, currency))
    }

    /// Zero of a currency.
    pub fn zero(currency: Currency) -> Self {
        Money {
            currency,
            amount: Decimal::ZERO,
        }
    }

    /// Parses the wire form: `currency_code` plus a decimal string (`-?digits[.digits]`).
    pub fn parse(currency_code: &str, amount: &str) -> Result<Self, String> {
        let currency = Currency::from_str(currency_code)?;
        let amount = parse_decimal(amount)?;
        Money::new(currency, amount)
    }

    /// Parses the written form a person types: the currency code, a space and the amount
    /// ("USD 1.00"), as settings and command lines take it.
    pub fn parse_written(text: &str) -> Result<Self, String> {
        let (currency, amount) = text.trim().split_once(' ').ok_or_else(|| {
            format!("{text:?}: expected the currency, a space and the amount, e.g. \"USD 1.00\"")
        })?;
        Money::parse(currency.trim(), amount.trim())
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The amount in major units.
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    /// True when the amount is above zero.
    pub fn is_positive(&self) -> bool {
        self.amount > Decimal::ZERO
    }

    /// The wire form: the amount with exactly the currency's minor units ("12.50", "300").
    pub fn to_proto(&self) -> types::Money {
        types::Money {
            currency_code: self.currency.code().to_owned(),
            amount: format_amount(self.amount, self.currency),
        }
    }

    /// Parses a proto `Money`, reporting problems against `field` (e.g. `amount`).
    pub fn from_proto(field: &str, money: Option<&types::Money>) -> Result<Self, (String, String)> {
        let Some(money) = money else {
            return Err((field.to_owned(), "is required".to_owned()));
        };
        let currency = Currency::from_str(&money.currency_code)
            .map_err(|e| (format!("{field}.currency_code"), e))?;
        let amount = parse_decimal(&money.amount).map_err(|e| (format!("{field}.amount"), e))?;
        Money::new(currency, amount).map_err(|e| (format!("{field}.amount"), e))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.currency,
            format_amount(self.amount, self.currency)
        )
    }
}

fn max_abs() -> Decimal {
    Decimal::from_i128_with_scale(10i128.pow(MAX_INTEGER_DIGITS), 0)
}

/// Rounds half-even ("banker's rounding") to the currency's minor units.
pub fn round_half_even(amount: Decimal, currency: Currency) -> Decimal {
    amount.round_dp_with_strategy(
        currency.minor_units(),
        RoundingStrategy::MidpointNearestEven,
    )
}

/// Formats with exactly the currency's minor units.
pub fn format_amount(amount: Decimal, currency: Currency) -> String {
    let mut a = round_half_even(amount, currency);
    a.rescale(currency.minor_units());
    a.to_string()
}

/// Parses a strict decimal string: optional `-`, digits, optional `.` and digits. No
/// exponent, no `+`, no spaces, no thousands separators, at most 28 significant digits.
pub fn parse_decimal(s: &str) -> Result<Decimal, String> {
    if s.is_empty() {
        return Err("is required (a decimal string such as \"12.50\")".to_owned());
    }
    if s.len() > 40 {
        return Err("is too long for an amount".to_owned());
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
        return Err(format!(
            "{:?} is not a decimal string such as \"12.50\"",
            s.chars().take(24).collect::<String>()
        ));
    }
    Decimal::from_str_exact(s).map_err(|_| "has too many significant digits".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn fifteen_currencies_with_minor_units() {
        assert_eq!(Currency::ALL.len(), 15);
        assert_eq!(Currency::JPY.minor_units(), 0);
        assert_eq!(Currency::USD.minor_units(), 2);
        assert_eq!("CNH".parse::<Currency>(), Ok(Currency::CNH));
        assert!("usd".parse::<Currency>().is_err());
        assert!("XXX".parse::<Currency>().is_err());
    }

    #[test]
    fn parses_and_formats_wire_amounts() {
        assert_eq!(
            Money::parse("USD", "12.5").unwrap().to_proto().amount,
            "12.50"
        );
        assert_eq!(Money::parse("JPY", "300").unwrap().to_proto().amount, "300");
        assert_eq!(Money::parse("USD", "-0.07").unwrap().amount(), d("-0.07"));
        assert_eq!(Money::parse("USD", "1.230").unwrap().amount(), d("1.23"));
    }

    #[test]
    fn rejects_bad_amounts() {
        for bad in [
            "", "1e3", "+1", " 1", "1,000", "1.", ".5", "--1", "0x10", "NaN", "1.2.3",
        ] {
            assert!(Money::parse("USD", bad).is_err(), "{bad:?} accepted");
        }
        assert!(Money::parse("USD", "1.001").is_err(), "over-scale accepted");
        assert!(Money::parse("JPY", "1.5").is_err(), "JPY decimals accepted");
        assert!(
            Money::parse("USD", "1000000000000000").is_err(),
            "16 digits accepted"
        );
        assert!(Money::parse("USD", "999999999999999.99").is_ok());
        assert!(Money::parse("USD", &"9".repeat(100)).is_err());
    }

    #[test]
    fn rounds_half_even() {
        assert_eq!(round_half_even(d("0.125"), Currency::USD), d("0.12"));
        assert_eq!(round_half_even(d("0.135"), Currency::USD), d("0.14"));
        assert_eq!(round_half_even(d("2.5"), Currency::JPY), d("2"));
        assert_eq!(round_half_even(d("3.5"), Currency::JPY), d("4"));
        assert_eq!(round_half_even(d("-2.5"), Currency::JPY), d("-2"));
    }

    proptest! {
        #[test]
        fn wire_form_round_trips(cents in -99_999_999_999_999_999_i64..99_999_999_999_999_999_i64) {
            let m = Money::new(Currency::USD, Decimal::new(cents, 2)).unwrap();
            let p = m.to_proto();
            prop_assert_eq!(Money::parse(&p.currency_code, &p.amount).unwrap(), m);
        }

        #[test]
        fn rounding_stays_within_half_a_minor_unit(units in any::<i64>(), scale in 0u32..10) {
            let x = Decimal::new(units, scale);
            let r = round_half_even(x, Currency::USD);
            prop_assert!(r.scale() <= 2);
            prop_assert!((r - x).abs() <= Decimal::new(5, 3));
        }
    }
}
