//! Small text rules shared by the other rules.

/// Checks a free-text value: at most `max` characters (Unicode scalar values), at least
/// `min`, and no control characters.
pub fn bounded(value: &str, min: usize, max: usize) -> Result<(), String> {
    let len = value.chars().count();
    if len < min {
        return Err(if min == 1 {
            "is required".to_owned()
        } else {
            format!("must be at least {min} characters")
        });
    }
    if len > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(())
}

/// The first `max` characters of `value` (for values the contract says are truncated).
pub fn truncate(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_control_characters() {
        assert!(bounded("", 1, 5).is_err());
        assert!(bounded("", 0, 5).is_ok());
        assert!(bounded("abcde", 1, 5).is_ok());
        assert!(bounded("abcdef", 1, 5).is_err());
        assert!(
            bounded("测试买家账号", 1, 6).is_ok(),
            "counts characters, not bytes"
        );
        assert!(bounded("a\u{0}b", 1, 5).is_err());
        assert!(bounded("a\nb", 1, 5).is_err());
        assert_eq!(truncate("héllo", 2), "hé");
    }
}
