//! Money from the wire and from people: parsing never panics, and what parses is exact
//! (its written form parses back to the same amount, in the currency's minor units).
#![no_main]

use kuajing_platform::money::Money;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(money) = Money::parse_written(text) {
        let again = Money::parse(money.currency().code(), &money.amount().to_string())
            .expect("a parsed amount parses again");
        assert_eq!(again, money);
    }
    let cut = text.char_indices().nth(3).map_or(text.len(), |(i, _)| i);
    let (code, amount) = text.split_at(cut);
    if let Ok(money) = Money::parse(code, amount) {
        let exact = kuajing_platform::money::round_half_even(money.amount(), money.currency());
        assert_eq!(
            exact,
            money.amount(),
            "more digits than the currency has: {money:?}"
        );
    }
    let _ = kuajing_platform::money::parse_decimal(text);
});
