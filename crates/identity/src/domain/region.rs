//! Country and region codes: ISO 3166-1 alpha-2, the officially assigned codes.
//!
//! Accounts, documents and nationalities name a region by its code; "CN" is mainland
//! China, "HK" Hong Kong, "TW" Taiwan (the admission rules tell them apart).

/// The officially assigned ISO 3166-1 alpha-2 codes, sorted.
const CODES: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// Mainland China.
pub const MAINLAND_CHINA: &str = "CN";

/// Checks a region code: two upper-case letters that ISO 3166-1 assigns.
pub fn validate(code: &str) -> Result<(), String> {
    if code.is_empty() {
        return Err("is required (ISO 3166-1 alpha-2, e.g. \"SG\")".to_owned());
    }
    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err("must be two upper-case letters (ISO 3166-1 alpha-2, e.g. \"SG\")".to_owned());
    }
    if CODES.binary_search(&code).is_err() {
        return Err(format!("{code} is not an assigned ISO 3166-1 alpha-2 code"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigned_codes_pass_and_others_fail() {
        assert!(
            CODES.windows(2).all(|w| w[0] < w[1]),
            "sorted for binary search"
        );
        for ok in ["CN", "HK", "TW", "SG", "US", "GB", "DE"] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
        for bad in ["", "cn", "C", "CHN", "XX", "UK", "1A", "ZZ"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}
