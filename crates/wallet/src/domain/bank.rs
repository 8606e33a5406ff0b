//! Receiving accounts: which currencies each purpose takes, and the bank details a new
//! account gets (generated from its id, so they are unique and need no outside call).

use kuajing_platform::Currency;
use kuajing_proto::wallet::v1::{ReceivingAccountPurpose, RoutingCodeType};
use uuid::Uuid;

/// Bank details of a receiving account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Details {
    /// Account number (unique, digits).
    pub account_number: String,
    /// Bank holding the account.
    pub bank_name: String,
    /// Its address.
    pub bank_address: String,
    /// ISO 3166-1 alpha-2 of the bank.
    pub bank_country_code: String,
    /// SWIFT/BIC.
    pub swift_code: String,
    /// Local routing scheme.
    pub routing_code_type: RoutingCodeType,
    /// Local routing code.
    pub routing_code: String,
    /// IBAN, for EUR and GBP; empty otherwise.
    pub iban: String,
}

/// Whether a receiving account for `purpose` may take `currency`: top-ups take every
/// wallet currency but onshore CNY (seed 004's list); trade collection takes all 15.
pub fn purpose_takes(purpose: ReceivingAccountPurpose, currency: Currency) -> bool {
    match purpose {
        ReceivingAccountPurpose::TopUp => currency != Currency::CNY,
        ReceivingAccountPurpose::TradeCollection => true,
        ReceivingAccountPurpose::Unspecified => false,
    }
}

/// Generates the details for account `id` in `currency`. The number is 16 digits taken
/// from the id's random bits, so distinct ids give distinct numbers in practice; the
/// table's unique index makes a collision an error, never a shared account.
pub fn details_for(id: Uuid, currency: Currency) -> Details {
    let bytes = id.as_bytes();
    let mut n: u64 = 0;
    for b in &bytes[8..16] {
        n = (n << 8) | u64::from(*b);
    }
    let account_number = format!("{:016}", n % 10_000_000_000_000_000);
    let (country, routing_type, routing, city) = match currency {
        Currency::USD => ("US", RoutingCodeType::Aba, "026073150", "New York"),
        Currency::GBP => ("GB", RoutingCodeType::SortCode, "041307", "London"),
        Currency::EUR => ("DE", RoutingCodeType::Unspecified, "", "Frankfurt"),
        Currency::AUD => ("AU", RoutingCodeType::Bsb, "802985", "Sydney"),
        Currency::CAD => ("CA", RoutingCodeType::TransitNumber, "00152-621", "Toronto"),
        Currency::CNY => ("CN", RoutingCodeType::Cnaps, "313222080002", "Hangzhou"),
        Currency::JPY => ("JP", RoutingCodeType::BankBranchCode, "0397-101", "Tokyo"),
        Currency::SGD => (
            "SG",
            RoutingCodeType::BankBranchCode,
            "7171-001",
            "Singapore",
        ),
        Currency::NZD => ("NZ", RoutingCodeType::BankBranchCode, "02-0100", "Auckland"),
        Currency::MYR => (
            "MY",
            RoutingCodeType::BankBranchCode,
            "14020",
            "Kuala Lumpur",
        ),
        Currency::THB => ("TH", RoutingCodeType::BankBranchCode, "0040-111", "Bangkok"),
        Currency::IDR => ("ID", RoutingCodeType::BankBranchCode, "0140397", "Jakarta"),
        Currency::PHP => ("PH", RoutingCodeType::BankBranchCode, "010330016", "Manila"),
        Currency::HKD | Currency::CNH => (
            "HK",
            RoutingCodeType::BankBranchCode,
            "024-747",
            "Hong Kong",
        ),
    };
    let iban = match currency {
        Currency::EUR => format!("DE89370400{}", &account_number[..12]),
        Currency::GBP => format!("GB29KJPB041307{}", &account_number[..8]),
        _ => String::new(),
    };
    Details {
        account_number,
        bank_name: format!("Kuajing Collection Partner Bank ({country})"),
        bank_address: format!("{city}, {country}"),
        bank_country_code: country.to_owned(),
        swift_code: format!("KJPB{country}XX"),
        routing_code_type: routing_type,
        routing_code: routing.to_owned(),
        iban,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_up_takes_fourteen_currencies_and_collection_fifteen() {
        let top_up = Currency::ALL
            .iter()
            .filter(|c| purpose_takes(ReceivingAccountPurpose::TopUp, **c))
            .count();
        let collection = Currency::ALL
            .iter()
            .filter(|c| purpose_takes(ReceivingAccountPurpose::TradeCollection, **c))
            .count();
        assert_eq!((top_up, collection), (14, 15));
        assert!(!purpose_takes(
            ReceivingAccountPurpose::Unspecified,
            Currency::USD
        ));
    }

    #[test]
    fn details_are_deterministic_and_distinct() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(details_for(a, Currency::USD), details_for(a, Currency::USD));
        assert_ne!(
            details_for(a, Currency::USD).account_number,
            details_for(b, Currency::USD).account_number
        );
        assert_eq!(details_for(a, Currency::USD).account_number.len(), 16);
        assert!(details_for(a, Currency::EUR).iban.starts_with("DE"));
    }
}
