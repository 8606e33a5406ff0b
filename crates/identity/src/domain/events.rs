//! Security audit log event types. Events never carry a secret; their details are ids,
//! counts, times and reasons.

/// Kind of security event (stored by name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// An account was registered.
    AccountRegistered,
    /// A login succeeded.
    LoginSucceeded,
    /// A login failed with a wrong password.
    LoginFailed,
    /// Logins were locked.
    LoginLocked,
    /// A session was logged out.
    Logout,
    /// A rotated refresh token was reused; its session was revoked.
    RefreshTokenReused,
    /// A verification code was sent.
    VerificationCodeSent,
    /// A challenge was exhausted by wrong codes.
    VerificationCodeExhausted,
    /// A contact was confirmed.
    ContactConfirmed,
    /// The payment PIN was set for the first time.
    PaymentPinSet,
    /// The payment PIN was reset.
    PaymentPinReset,
    /// A payment PIN check failed.
    PaymentPinFailed,
    /// The payment PIN was locked.
    PaymentPinLocked,
    /// A marketplace account was bound.
    MarketplaceAccountBound,
    /// A marketplace account was unbound.
    MarketplaceAccountUnbound,
    /// Real-name verification was submitted.
    RealNameSubmitted,
    /// Real-name verification was reviewed.
    RealNameReviewed,
    /// A supplier profile was changed.
    SupplierProfileUpdated,
    /// An IP complaint was recorded.
    IpComplaintRecorded,
    /// The email or mobile was changed.
    ContactChanged,
    /// The login password was reset with a code.
    PasswordReset,
    /// The login password was changed when signed in.
    PasswordChanged,
    /// An operator's or auditor's second factor was enrolled.
    OperatorFactorEnrolled,
}

/// Every event type, in contract order.
pub const ALL: [EventType; 23] = [
    EventType::AccountRegistered,
    EventType::LoginSucceeded,
    EventType::LoginFailed,
    EventType::LoginLocked,
    EventType::Logout,
    EventType::RefreshTokenReused,
    EventType::VerificationCodeSent,
    EventType::VerificationCodeExhausted,
    EventType::ContactConfirmed,
    EventType::PaymentPinSet,
    EventType::PaymentPinReset,
    EventType::PaymentPinFailed,
    EventType::PaymentPinLocked,
    EventType::MarketplaceAccountBound,
    EventType::MarketplaceAccountUnbound,
    EventType::RealNameSubmitted,
    EventType::RealNameReviewed,
    EventType::SupplierProfileUpdated,
    EventType::IpComplaintRecorded,
    EventType::ContactChanged,
    EventType::PasswordReset,
    EventType::PasswordChanged,
    EventType::OperatorFactorEnrolled,
];

impl EventType {
    /// The stored form (the contract's enum value name without its prefix).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::AccountRegistered => "ACCOUNT_REGISTERED",
            EventType::LoginSucceeded => "LOGIN_SUCCEEDED",
            EventType::LoginFailed => "LOGIN_FAILED",
            EventType::LoginLocked => "LOGIN_LOCKED",
            EventType::Logout => "LOGOUT",
            EventType::RefreshTokenReused => "REFRESH_TOKEN_REUSED",
            EventType::VerificationCodeSent => "VERIFICATION_CODE_SENT",
            EventType::VerificationCodeExhausted => "VERIFICATION_CODE_EXHAUSTED",
            EventType::ContactConfirmed => "CONTACT_CONFIRMED",
            EventType::PaymentPinSet => "PAYMENT_PIN_SET",
            EventType::PaymentPinReset => "PAYMENT_PIN_RESET",
            EventType::PaymentPinFailed => "PAYMENT_PIN_FAILED",
            EventType::PaymentPinLocked => "PAYMENT_PIN_LOCKED",
            EventType::MarketplaceAccountBound => "MARKETPLACE_ACCOUNT_BOUND",
            EventType::MarketplaceAccountUnbound => "MARKETPLACE_ACCOUNT_UNBOUND",
            EventType::RealNameSubmitted => "REAL_NAME_SUBMITTED",
            EventType::RealNameReviewed => "REAL_NAME_REVIEWED",
            EventType::SupplierProfileUpdated => "SUPPLIER_PROFILE_UPDATED",
            EventType::IpComplaintRecorded => "IP_COMPLAINT_RECORDED",
            EventType::ContactChanged => "CONTACT_CHANGED",
            EventType::PasswordReset => "PASSWORD_RESET",
            EventType::PasswordChanged => "PASSWORD_CHANGED",
            EventType::OperatorFactorEnrolled => "OPERATOR_FACTOR_ENROLLED",
        }
    }

    /// From the stored form.
    pub fn parse(s: &str) -> Option<EventType> {
        ALL.into_iter().find(|t| t.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_distinct() {
        let mut names: Vec<&str> = ALL.iter().map(|t| t.as_str()).collect();
        for t in ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }
}
