//! Payment links: how long one may open, what its token looks like, and where it stands.
//! The token is a bearer capability (anyone holding it sees the orders and amounts), so it
//! is long, random, and kept only as a hash; a person still pays with their own session.

use chrono::{DateTime, Duration, Utc};
use kuajing_proto::order::v1::PaymentLinkState;

/// How long a link opens when the request does not say.
pub const DEFAULT_VALID_FOR: Duration = Duration::days(7);
/// Shortest validity a request may ask for.
pub const MIN_VALID_FOR: Duration = Duration::minutes(1);
/// Longest validity a request may ask for.
pub const MAX_VALID_FOR: Duration = Duration::days(30);
/// Most orders one link may carry (as PayOrders).
pub const MAX_ORDERS: usize = 50;

/// What every token starts with (it says what it is where it leaks, e.g. into a log).
pub const TOKEN_PREFIX: &str = "kjpl_";
/// Random bytes in a token.
pub const TOKEN_BYTES: usize = 32;
/// Characters after the prefix: 32 bytes in unpadded URL-safe base64.
const TOKEN_CHARS: usize = 43;

/// The validity a request asks for, checked; `None` is the default.
pub fn valid_for(requested: Option<Duration>) -> Result<Duration, String> {
    match requested {
        None => Ok(DEFAULT_VALID_FOR),
        Some(d) if d < MIN_VALID_FOR || d > MAX_VALID_FOR => {
            Err("must be between 1 minute and 30 days".to_owned())
        }
        Some(d) => Ok(d),
    }
}

/// Whether `token` has a token's shape (checked before any lookup).
pub fn well_formed(token: &str) -> bool {
    token.strip_prefix(TOKEN_PREFIX).is_some_and(|rest| {
        rest.len() == TOKEN_CHARS
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Where a link stands: revoked, else expired, else used (its orders are no longer all
/// unpaid), else active.
pub fn state(
    revoked: bool,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
    all_unpaid: bool,
) -> PaymentLinkState {
    if revoked {
        PaymentLinkState::Revoked
    } else if now >= expires_at {
        PaymentLinkState::Expired
    } else if !all_unpaid {
        PaymentLinkState::Used
    } else {
        PaymentLinkState::Active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_defaults_to_a_week_within_a_minute_and_thirty_days() {
        assert_eq!(valid_for(None), Ok(Duration::days(7)));
        assert_eq!(
            valid_for(Some(Duration::minutes(1))),
            Ok(Duration::minutes(1))
        );
        assert_eq!(valid_for(Some(Duration::days(30))), Ok(Duration::days(30)));
        assert!(valid_for(Some(Duration::seconds(59))).is_err());
        assert!(valid_for(Some(Duration::days(31))).is_err());
        assert!(valid_for(Some(Duration::seconds(-5))).is_err());
    }

    #[test]
    fn tokens_have_one_shape() {
        let good = format!("{TOKEN_PREFIX}{}", "A".repeat(43));
        assert!(well_formed(&good));
        assert!(well_formed(&format!("{TOKEN_PREFIX}{}-_", "a".repeat(41))));
        assert!(!well_formed(&"A".repeat(48)));
        assert!(!well_formed(&format!("{TOKEN_PREFIX}{}", "A".repeat(42))));
        assert!(!well_formed(&format!("{TOKEN_PREFIX}{}=", "A".repeat(42))));
        assert!(!well_formed(""));
    }

    #[test]
    fn revoked_before_expired_before_used() {
        let now = Utc::now();
        let later = now + Duration::hours(1);
        assert_eq!(state(true, now, later, true), PaymentLinkState::Revoked);
        assert_eq!(state(false, now, later, true), PaymentLinkState::Expired);
        assert_eq!(state(false, now, now, false), PaymentLinkState::Expired);
        assert_eq!(state(false, later, now, false), PaymentLinkState::Used);
        assert_eq!(state(false, later, now, true), PaymentLinkState::Active);
    }
}
