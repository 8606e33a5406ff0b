//! Contacts: email addresses and E.164 mobile numbers, their uniqueness keys and how they
//! are shown masked.

/// Longest email (RFC 5321 path limit less the angle brackets).
pub const EMAIL_MAX: usize = 254;

/// Checks an email address: a dot-atom local part (at most 64 characters) "@" a domain of
/// at least two labels (letters, digits, "-"), the last one alphabetic.
pub fn validate_email(email: &str) -> Result<(), String> {
    if email.len() > EMAIL_MAX {
        return Err(format!("must be at most {EMAIL_MAX} characters"));
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("must be an email address such as name@example.com".to_owned());
    };
    if local.is_empty() || local.len() > 64 {
        return Err("the part before \"@\" must be 1 to 64 characters".to_owned());
    }
    const ATEXT: &str = "!#$%&'*+-/=?^_`{|}~";
    let local_ok = local.split('.').all(|atom| {
        !atom.is_empty()
            && atom
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ATEXT.contains(c))
    });
    if !local_ok {
        return Err("the part before \"@\" is not a valid address".to_owned());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let labels_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    if !labels_ok {
        return Err("the domain after \"@\" is not valid".to_owned());
    }
    Ok(())
}

/// The uniqueness key of an email: compared case-insensitively.
pub fn email_key(email: &str) -> String {
    email.to_ascii_lowercase()
}

/// Checks an E.164 mobile number: "+", then 8 to 15 digits in all, the first not 0.
pub fn validate_mobile(mobile: &str) -> Result<(), String> {
    let Some(digits) = mobile.strip_prefix('+') else {
        return Err("must be in E.164 format, e.g. +6591234567".to_owned());
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be \"+\" and digits only, e.g. +6591234567".to_owned());
    }
    if !(8..=15).contains(&digits.len()) {
        return Err("must have 8 to 15 digits after \"+\"".to_owned());
    }
    if digits.starts_with('0') {
        return Err("the country code cannot start with 0".to_owned());
    }
    Ok(())
}

/// An email for display: the first character of the local part, then "***".
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// A mobile for display: "+", two leading digits, then "****" and the last four digits,
/// e.g. "+65 ****4567".
pub fn mask_mobile(mobile: &str) -> String {
    let digits = mobile.trim_start_matches('+');
    if digits.len() < 6 {
        return "****".to_owned();
    }
    let (head, tail) = (&digits[..2], &digits[digits.len() - 4..]);
    format!("+{head} ****{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in [
            "a@b.co",
            "first.last+tag@sub.example.com",
            "x_y@example-mail.org",
        ] {
            assert_eq!(validate_email(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@b.c",
            "a..b@example.com",
            "a@-b.com",
            "a b@example.com",
            "a@b@example.com",
            &format!("{}@example.com", "a".repeat(65)),
            &format!("a@{}.com", "b".repeat(250)),
        ] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
        assert_eq!(email_key("John@Example.COM"), "john@example.com");
        assert_eq!(mask_email("john@example.com"), "j***@example.com");
    }

    #[test]
    fn mobiles() {
        for ok in ["+6591234567", "+8613800138000", "+12025550123", "+12345678"] {
            assert_eq!(validate_mobile(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "6591234567",
            "+65 9123 4567",
            "+1234567",
            "+1234567890123456",
            "+0123456789",
            "+65-91234567",
        ] {
            assert!(validate_mobile(bad).is_err(), "{bad}");
        }
        assert_eq!(mask_mobile("+6591234567"), "+65 ****4567");
    }
}
