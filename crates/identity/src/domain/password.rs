//! The login password policy. Each rule has a stable name, reported in the field
//! violation on `password` so a client can tell the person which rule failed.

/// Fewest characters.
pub const MIN_CHARS: usize = 8;
/// Most characters.
pub const MAX_CHARS: usize = 128;

/// A password policy rule that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyRule {
    /// Fewer than 8 characters.
    TooShort,
    /// More than 128 characters.
    TooLong,
    /// No letter.
    NoLetter,
    /// No digit.
    NoDigit,
    /// Contains the member name (case-insensitively).
    ContainsMemberName,
    /// Equals the email.
    EqualsEmail,
    /// Equals the mobile.
    EqualsMobile,
}

impl PolicyRule {
    /// The rule's stable name.
    pub fn name(self) -> &'static str {
        match self {
            PolicyRule::TooShort => "MIN_LENGTH",
            PolicyRule::TooLong => "MAX_LENGTH",
            PolicyRule::NoLetter => "NEEDS_LETTER",
            PolicyRule::NoDigit => "NEEDS_DIGIT",
            PolicyRule::ContainsMemberName => "CONTAINS_MEMBER_NAME",
            PolicyRule::EqualsEmail => "EQUALS_EMAIL",
            PolicyRule::EqualsMobile => "EQUALS_MOBILE",
        }
    }

    /// The field violation text: the rule's name and what it asks.
    pub fn description(self) -> String {
        let what = match self {
            PolicyRule::TooShort => format!("must be at least {MIN_CHARS} characters"),
            PolicyRule::TooLong => format!("must be at most {MAX_CHARS} characters"),
            PolicyRule::NoLetter => "must contain a letter".to_owned(),
            PolicyRule::NoDigit => "must contain a digit".to_owned(),
            PolicyRule::ContainsMemberName => "must not contain the member name".to_owned(),
            PolicyRule::EqualsEmail => "must not be the email address".to_owned(),
            PolicyRule::EqualsMobile => "must not be the mobile number".to_owned(),
        };
        format!("{}: {what}", self.name())
    }
}

/// Checks `password` against the policy for an account with these identifiers; returns
/// the first rule that fails.
pub fn check(
    password: &str,
    member_name: &str,
    email: &str,
    mobile: &str,
) -> Result<(), PolicyRule> {
    let len = password.chars().count();
    if len < MIN_CHARS {
        return Err(PolicyRule::TooShort);
    }
    if len > MAX_CHARS {
        return Err(PolicyRule::TooLong);
    }
    if !password.chars().any(char::is_alphabetic) {
        return Err(PolicyRule::NoLetter);
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        return Err(PolicyRule::NoDigit);
    }
    if !member_name.is_empty()
        && password
            .to_lowercase()
            .contains(&member_name.to_lowercase())
    {
        return Err(PolicyRule::ContainsMemberName);
    }
    if !email.is_empty() && password.eq_ignore_ascii_case(email) {
        return Err(PolicyRule::EqualsEmail);
    }
    if !mobile.is_empty() && password == mobile {
        return Err(PolicyRule::EqualsMobile);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule() {
        let c = |p: &str| check(p, "buyer01", "a1@example.com", "+6591234567");
        assert_eq!(c("Sunny-Day-42"), Ok(()));
        assert_eq!(c("abc123"), Err(PolicyRule::TooShort));
        assert_eq!(
            c(&format!("a1{}", "x".repeat(127))),
            Err(PolicyRule::TooLong)
        );
        assert_eq!(c("12345678"), Err(PolicyRule::NoLetter));
        assert_eq!(c("abcdefgh"), Err(PolicyRule::NoDigit));
        assert_eq!(c("my-BUYER01-pw"), Err(PolicyRule::ContainsMemberName));
        assert_eq!(c("A1@example.com"), Err(PolicyRule::EqualsEmail));
        assert_eq!(check("a+6591234567", "zz9", "", "+6591234567"), Ok(()));
        assert!(PolicyRule::NoDigit.description().starts_with("NEEDS_DIGIT"));
    }

    #[test]
    fn mobile_as_password_is_refused_before_letters_matter() {
        // A mobile has no letter, so NEEDS_LETTER catches it first; EQUALS_MOBILE guards
        // a policy with looser character rules.
        assert_eq!(
            check("+6591234567", "abc", "", "+6591234567"),
            Err(PolicyRule::NoLetter)
        );
    }
}
