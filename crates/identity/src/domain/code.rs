//! One-time verification codes: six random digits, valid for a while, a limited number of
//! wrong attempts, single use, and a minimum gap before a new one is sent.

use chrono::{DateTime, Duration, Utc};
use kuajing_proto::reasons::identity as reasons;

/// The rules, from configuration (defaults: 15 minutes, 60 seconds, 5 attempts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodePolicy {
    /// How long a code works after it is sent.
    pub ttl: Duration,
    /// How long after a code a new one may be sent for the same purpose.
    pub resend_after: Duration,
    /// Wrong attempts allowed; the last one exhausts the challenge.
    pub max_attempts: i32,
}

impl Default for CodePolicy {
    fn default() -> Self {
        CodePolicy {
            ttl: Duration::minutes(15),
            resend_after: Duration::seconds(60),
            max_attempts: 5,
        }
    }
}

/// How a code travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// To the account's email.
    Email,
    /// To the account's mobile.
    Sms,
}

impl Channel {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "EMAIL",
            Channel::Sms => "SMS",
        }
    }

    /// From the stored form.
    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "EMAIL" => Some(Channel::Email),
            "SMS" => Some(Channel::Sms),
            _ => None,
        }
    }
}

/// What a code may be used for; a code works only for its purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Confirm the email or mobile it was sent to (ConfirmContact).
    ConfirmContact,
    /// Set or reset the payment PIN (SetPaymentPin).
    SetPaymentPin,
    /// Activate a mandate (authorization, through VerifyCode); bound to the mandate id.
    ActivateMandate,
    /// Change the email or mobile (ConfirmContactChange); sent to, and bound to, the new
    /// address.
    ChangeContact,
    /// Reset a forgotten login password (ResetPassword).
    ResetPassword,
    /// Enrol an operator's or auditor's second factor (EnrollOperatorFactor, which sends
    /// it): the password alone is not enough.
    EnrollOperatorFactor,
}

impl Purpose {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::ConfirmContact => "CONFIRM_CONTACT",
            Purpose::SetPaymentPin => "SET_PAYMENT_PIN",
            Purpose::ActivateMandate => "ACTIVATE_MANDATE",
            Purpose::ChangeContact => "CHANGE_CONTACT",
            Purpose::ResetPassword => "RESET_PASSWORD",
            Purpose::EnrollOperatorFactor => "ENROLL_OPERATOR_FACTOR",
        }
    }

    /// From the stored form.
    pub fn parse(s: &str) -> Option<Purpose> {
        match s {
            "CONFIRM_CONTACT" => Some(Purpose::ConfirmContact),
            "SET_PAYMENT_PIN" => Some(Purpose::SetPaymentPin),
            "ACTIVATE_MANDATE" => Some(Purpose::ActivateMandate),
            "CHANGE_CONTACT" => Some(Purpose::ChangeContact),
            "RESET_PASSWORD" => Some(Purpose::ResetPassword),
            "ENROLL_OPERATOR_FACTOR" => Some(Purpose::EnrollOperatorFactor),
            _ => None,
        }
    }

    /// Whether the code is bound to an object (a reference is required), else the
    /// reference must be empty.
    pub fn needs_reference(self) -> bool {
        matches!(self, Purpose::ActivateMandate | Purpose::ChangeContact)
    }

    /// Whether sending needs the contact to be verified already: only a code that
    /// confirms a contact may go to an unconfirmed one.
    pub fn needs_verified_contact(self) -> bool {
        !matches!(self, Purpose::ConfirmContact | Purpose::ChangeContact)
    }

    /// Whether only its own start RPC sends it (StartContactChange, StartPasswordReset),
    /// never SendVerificationCode.
    pub fn sent_by_its_own_rpc(self) -> bool {
        matches!(
            self,
            Purpose::ChangeContact | Purpose::ResetPassword | Purpose::EnrollOperatorFactor
        )
    }

    /// Whether VerifyCode may consume it (the others have their own RPCs).
    pub fn verifiable_by_other_services(self) -> bool {
        matches!(self, Purpose::ActivateMandate)
    }
}

/// Longest reference.
pub const REFERENCE_MAX: usize = 128;

/// The stored lifecycle state of a challenge (expiry is derived from the clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Sent, not yet used.
    Pending,
    /// Used.
    Consumed,
    /// Passed its expiry before being used (derived, never stored).
    Expired,
    /// Too many wrong attempts.
    Exhausted,
    /// A newer code for the same account, purpose and reference was sent.
    Superseded,
}

impl State {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "PENDING",
            State::Consumed => "CONSUMED",
            State::Expired => "EXPIRED",
            State::Exhausted => "EXHAUSTED",
            State::Superseded => "SUPERSEDED",
        }
    }

    /// From the stored form.
    pub fn parse(s: &str) -> Option<State> {
        match s {
            "PENDING" => Some(State::Pending),
            "CONSUMED" => Some(State::Consumed),
            "EXPIRED" => Some(State::Expired),
            "EXHAUSTED" => Some(State::Exhausted),
            "SUPERSEDED" => Some(State::Superseded),
            _ => None,
        }
    }

    /// The state as seen at `now`: a pending challenge past its expiry is expired.
    pub fn at(self, expire_time: DateTime<Utc>, now: DateTime<Utc>) -> State {
        if self == State::Pending && now >= expire_time {
            State::Expired
        } else {
            self
        }
    }
}

/// Why a challenge can no longer be used (checked before the code is compared, so none of
/// these costs an attempt).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unusable {
    /// CODE_EXPIRED.
    Expired,
    /// CODE_ALREADY_USED.
    AlreadyUsed,
    /// CODE_ATTEMPTS_EXHAUSTED.
    AttemptsExhausted,
    /// CODE_SUPERSEDED.
    Superseded,
}

impl Unusable {
    /// The contract's reason.
    pub fn reason(self) -> &'static str {
        match self {
            Unusable::Expired => reasons::CODE_EXPIRED,
            Unusable::AlreadyUsed => reasons::CODE_ALREADY_USED,
            Unusable::AttemptsExhausted => reasons::CODE_ATTEMPTS_EXHAUSTED,
            Unusable::Superseded => reasons::CODE_SUPERSEDED,
        }
    }
}

/// Whether a challenge in `state` can still take a code at `now`.
pub fn usable(
    state: State,
    expire_time: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Unusable> {
    match state.at(expire_time, now) {
        State::Pending => Ok(()),
        State::Consumed => Err(Unusable::AlreadyUsed),
        State::Expired => Err(Unusable::Expired),
        State::Exhausted => Err(Unusable::AttemptsExhausted),
        State::Superseded => Err(Unusable::Superseded),
    }
}

/// What a wrong code leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrongCode {
    /// CODE_INVALID; this many attempts remain.
    Invalid {
        /// Wrong attempts so far.
        attempts: i32,
        /// Wrong attempts still allowed.
        remaining: i32,
    },
    /// The last allowed attempt was wrong: the challenge is exhausted.
    Exhausted {
        /// Wrong attempts so far.
        attempts: i32,
    },
}

impl CodePolicy {
    /// Records a wrong code after `attempts` earlier wrong ones.
    pub fn wrong(&self, attempts: i32) -> WrongCode {
        let attempts = attempts.saturating_add(1);
        if attempts >= self.max_attempts {
            WrongCode::Exhausted { attempts }
        } else {
            WrongCode::Invalid {
                attempts,
                remaining: self.max_attempts - attempts,
            }
        }
    }

    /// Attempts left on a challenge with `attempts` wrong ones.
    pub fn remaining(&self, attempts: i32) -> i32 {
        (self.max_attempts - attempts).max(0)
    }

    /// Whether a new code may be sent at `now`, given the latest live challenge's resend
    /// time; the time still to wait when not.
    pub fn may_resend(
        &self,
        live_resend_time: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), Duration> {
        match live_resend_time {
            Some(t) if t > now => Err(t - now),
            _ => Ok(()),
        }
    }
}

/// Checks the shape of a code: exactly six ASCII digits.
pub fn validate_code(code: &str) -> Result<(), String> {
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("must be exactly 6 digits".to_owned())
    }
}

/// Turns uniformly random 32-bit words into a uniform six-digit code (rejection sampling:
/// words at or above the largest multiple of 1,000,000 would bias the low codes, so they
/// are skipped). `None` when every word was rejected; draw more and try again.
pub fn code_from_random(words: &[u32]) -> Option<String> {
    const RANGE: u32 = 1_000_000;
    let limit = u32::MAX - (u32::MAX % RANGE);
    words
        .iter()
        .find(|w| **w < limit)
        .map(|w| format!("{:06}", w % RANGE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn expiry_is_derived_at_the_boundary() {
        let expire = t(900);
        assert_eq!(usable(State::Pending, expire, t(899)), Ok(()));
        assert_eq!(
            usable(State::Pending, expire, t(900)),
            Err(Unusable::Expired)
        );
        assert_eq!(
            usable(State::Consumed, expire, t(1)),
            Err(Unusable::AlreadyUsed)
        );
        assert_eq!(
            usable(State::Consumed, expire, t(2000)),
            Err(Unusable::AlreadyUsed)
        );
        assert_eq!(
            usable(State::Exhausted, expire, t(1)),
            Err(Unusable::AttemptsExhausted)
        );
        assert_eq!(
            usable(State::Superseded, expire, t(1)),
            Err(Unusable::Superseded)
        );
    }

    #[test]
    fn five_wrong_attempts_exhaust() {
        let p = CodePolicy::default();
        assert_eq!(
            p.wrong(0),
            WrongCode::Invalid {
                attempts: 1,
                remaining: 4
            }
        );
        assert_eq!(
            p.wrong(3),
            WrongCode::Invalid {
                attempts: 4,
                remaining: 1
            }
        );
        assert_eq!(p.wrong(4), WrongCode::Exhausted { attempts: 5 });
        assert_eq!(p.remaining(2), 3);
        assert_eq!(p.remaining(9), 0);
    }

    #[test]
    fn resend_waits_sixty_seconds() {
        let p = CodePolicy::default();
        assert_eq!(p.may_resend(None, t(0)), Ok(()));
        assert_eq!(p.may_resend(Some(t(60)), t(59)), Err(Duration::seconds(1)));
        assert_eq!(p.may_resend(Some(t(60)), t(60)), Ok(()));
    }

    #[test]
    fn code_shape() {
        assert!(validate_code("012345").is_ok());
        for bad in ["", "12345", "1234567", "12345a", "１２３４５６", " 12345"] {
            assert!(validate_code(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn codes_are_six_digits_and_biased_words_are_skipped() {
        assert_eq!(code_from_random(&[42]).as_deref(), Some("000042"));
        assert_eq!(code_from_random(&[1_999_999]).as_deref(), Some("999999"));
        assert_eq!(code_from_random(&[u32::MAX, 7]).as_deref(), Some("000007"));
        assert_eq!(code_from_random(&[u32::MAX]), None);
        assert!(Purpose::ActivateMandate.needs_reference());
        assert!(!Purpose::ConfirmContact.needs_verified_contact());
        assert!(!Purpose::SetPaymentPin.verifiable_by_other_services());
    }

    #[test]
    fn stored_forms_round_trip() {
        for s in [
            State::Pending,
            State::Consumed,
            State::Expired,
            State::Exhausted,
            State::Superseded,
        ] {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        for p in [
            Purpose::ConfirmContact,
            Purpose::SetPaymentPin,
            Purpose::ActivateMandate,
        ] {
            assert_eq!(Purpose::parse(p.as_str()), Some(p));
        }
        for c in [Channel::Email, Channel::Sms] {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
        }
    }
}
