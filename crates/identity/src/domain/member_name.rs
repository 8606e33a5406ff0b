//! Member names (会员名): what a valid one is, and the key that makes them unique
//! case-insensitively.
//!
//! A member name starts with a letter, so it never starts with "+", and never contains
//! "@": login can tell a member name from an email or a mobile by looking at it.

use unicode_normalization::UnicodeNormalization;

/// Fewest characters.
pub const MIN_CHARS: usize = 3;
/// Most characters.
pub const MAX_CHARS: usize = 32;

/// Checks a member name: 3 to 32 Unicode letters, digits, "_", "-" or ".", starting with a
/// letter.
pub fn validate(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is required".to_owned());
    }
    let len = name.chars().count();
    if !(MIN_CHARS..=MAX_CHARS).contains(&len) {
        return Err(format!(
            "must be {MIN_CHARS} to {MAX_CHARS} characters, not {len}"
        ));
    }
    if !name.chars().next().is_some_and(char::is_alphabetic) {
        return Err("must start with a letter".to_owned());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "may contain only letters, digits, \"_\", \"-\" and \".\" (found {bad:?})"
        ));
    }
    Ok(())
}

/// The uniqueness key: NFKC, then lower case, then NFKC again (lower-casing can
/// denormalise), an approximation of Unicode's NFKC_Casefold. "Ｂｕｙｅｒ", "BUYER" and
/// "buyer" share one key.
pub fn key(name: &str) -> String {
    let folded: String = name.nfkc().collect::<String>().to_lowercase();
    folded.nfkc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        for ok in [
            "abc",
            "Buyer_01",
            "a.b-c",
            "测试买家",
            "Zürich-Trading",
            &"a".repeat(32),
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn invalid_names() {
        for bad in [
            "",
            "ab",
            "1abc",
            "_abc",
            "+6591234567",
            "a@b.com",
            "has space",
            &"a".repeat(33),
            "tab\tname",
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_fold_case_and_width() {
        assert_eq!(key("BUYER"), key("buyer"));
        assert_eq!(key("Ｂｕｙｅｒ"), key("buyer"));
        assert_ne!(key("buyer1"), key("buyer2"));
    }
}
