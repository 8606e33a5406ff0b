//! The payment password (PIN): six ASCII digits, separate from the login password, locked
//! after repeated wrong tries (see [`super::lockout`]).

/// Checks the shape of a PIN: exactly six ASCII digits.
pub fn validate(pin: &str) -> Result<(), String> {
    if pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("must be exactly 6 digits".to_owned())
    }
}

/// Longest operation reference.
pub const OPERATION_REFERENCE_MAX: usize = 128;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_ascii_digits_only() {
        assert!(validate("000000").is_ok());
        for bad in ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}
