//! Supplier profiles: which fields an operator may change and what values they take.

/// Field paths UpdateSupplierProfile may change.
pub const UPDATABLE_PATHS: [&str; 8] = [
    "company_id",
    "company_name",
    "membership",
    "trustpass_active",
    "cross_border_pay_enabled",
    "bad_credit_record",
    "violation_points",
    "risk_flags",
];

/// Whether `path` may be changed.
pub fn updatable(path: &str) -> bool {
    UPDATABLE_PATHS.contains(&path)
}

/// Highest violation points.
pub const MAX_VIOLATION_POINTS: i32 = 10_000;
/// Most risk flags.
pub const MAX_RISK_FLAGS: usize = 20;

/// Company names: 0 to 200 characters.
pub fn validate_company_name(name: &str) -> Result<(), String> {
    super::text::bounded(name, 0, 200)
}

/// Violation points: 0 to 10000.
pub fn validate_violation_points(points: i32) -> Result<(), String> {
    if (0..=MAX_VIOLATION_POINTS).contains(&points) {
        Ok(())
    } else {
        Err(format!("must be 0 to {MAX_VIOLATION_POINTS}"))
    }
}

/// A risk flag: an UPPER_SNAKE code of 1 to 64 characters.
pub fn validate_risk_flag(flag: &str) -> Result<(), String> {
    let shaped = !flag.is_empty()
        && flag.len() <= 64
        && flag.starts_with(|c: char| c.is_ascii_uppercase())
        && flag
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if shaped {
        Ok(())
    } else {
        Err("must be an UPPER_SNAKE code of 1 to 64 characters".to_owned())
    }
}

/// Audit reasons: 1 to 500 characters.
pub fn validate_reason(reason: &str) -> Result<(), String> {
    super::text::bounded(reason, 1, 500)
}

/// Complaint references: 1 to 64 characters.
pub fn validate_complaint_reference(reference: &str) -> Result<(), String> {
    super::text::bounded(reference, 1, 64)
}

/// Complaint descriptions: 0 to 2000 characters (new lines allowed).
pub fn validate_complaint_description(description: &str) -> Result<(), String> {
    if description.chars().count() > 2000 {
        return Err("must be at most 2000 characters".to_owned());
    }
    if description
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err("must not contain control characters".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_values() {
        assert!(updatable("violation_points"));
        assert!(!updatable("ip_complaint_count"));
        assert!(!updatable("account_id"));
        assert!(validate_violation_points(0).is_ok());
        assert!(validate_violation_points(10_000).is_ok());
        assert!(validate_violation_points(-1).is_err());
        assert!(validate_violation_points(10_001).is_err());
        assert!(validate_risk_flag("ONE_TOUCH_RISK").is_ok());
        for bad in ["", "lower", "_X", "A-B", &"A".repeat(65)] {
            assert!(validate_risk_flag(bad).is_err(), "{bad}");
        }
        assert!(validate_complaint_description("line one\nline two").is_ok());
        assert!(validate_complaint_description(&"x".repeat(2001)).is_err());
        assert!(validate_reason("").is_err());
    }
}
