//! Order numbers: 17 decimal digits, unique, not sequential to the eye. The number is
//! `P` followed by 16 digits, where `P` says the kind (1 marketplace, 2 Trade Assurance,
//! 3 Direct Pay) and the 16 digits are a bijective scramble of a database sequence value
//! (multiplication by a constant coprime to 10^16, modulo 10^16), so distinct sequence
//! values give distinct numbers.

use kuajing_proto::order::v1::OrderKind;

const MODULUS: u128 = 10_000_000_000_000_000;
/// Odd and not a multiple of 5: coprime to 10^16, so multiplication is a bijection.
const SCRAMBLE: u128 = 6_364_136_223_846_793;

/// The order number for the `sequence`-th order of `kind`.
pub fn order_number(kind: OrderKind, sequence: i64) -> String {
    let prefix = match kind {
        OrderKind::Marketplace => 1,
        OrderKind::TradeAssurance => 2,
        OrderKind::DirectPay | OrderKind::Unspecified => 3,
    };
    let n = (u128::from(sequence.unsigned_abs()) % MODULUS) * SCRAMBLE % MODULUS;
    format!("{prefix}{n:016}")
}

/// True for something shaped like an order number (17 digits).
pub fn well_formed(text: &str) -> bool {
    text.len() == 17 && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn numbers_are_17_digits_and_distinct() {
        let mut seen = HashSet::new();
        for seq in 1..20_000 {
            let n = order_number(OrderKind::TradeAssurance, seq);
            assert!(well_formed(&n), "{n}");
            assert!(n.starts_with('2'));
            assert!(seen.insert(n));
        }
        assert_ne!(
            order_number(OrderKind::Marketplace, 1),
            order_number(OrderKind::Marketplace, 2)
        );
        assert!(!well_formed("1234") && !well_formed("1234567890123456a"));
    }
}
