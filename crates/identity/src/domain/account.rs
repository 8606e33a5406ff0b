//! Accounts: kind, roles and real-name status, and how they are stored.

/// Personal (a natural person) or business (a company).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountType {
    /// A natural person; only these hold marketplace bindings.
    Personal,
    /// A company.
    Business,
}

impl AccountType {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::Personal => "PERSONAL",
            AccountType::Business => "BUSINESS",
        }
    }

    /// From the stored form.
    pub fn parse(s: &str) -> Option<AccountType> {
        match s {
            "PERSONAL" => Some(AccountType::Personal),
            "BUSINESS" => Some(AccountType::Business),
            _ => None,
        }
    }
}

/// What an account may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Buys and pays.
    Buyer,
    /// Sells; has a supplier profile.
    Supplier,
    /// Platform staff; granted by configuration only.
    Operator,
}

impl Role {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Buyer => "BUYER",
            Role::Supplier => "SUPPLIER",
            Role::Operator => "OPERATOR",
        }
    }

    /// From the stored form.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "BUYER" => Some(Role::Buyer),
            "SUPPLIER" => Some(Role::Supplier),
            "OPERATOR" => Some(Role::Operator),
            _ => None,
        }
    }

    /// The name in the access token's `roles` claim.
    pub fn claim(self) -> &'static str {
        match self {
            Role::Buyer => "buyer",
            Role::Supplier => "supplier",
            Role::Operator => "operator",
        }
    }
}

/// The roles of an account: its registered role, plus operator when granted.
pub fn roles(registered: Role, operator: bool) -> Vec<Role> {
    let mut roles = vec![registered];
    if operator && registered != Role::Operator {
        roles.push(Role::Operator);
    }
    roles
}

/// Real-name verification status (of a verification, or the latest one of an account).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RealNameStatus {
    /// Nothing submitted (accounts only).
    NotSubmitted,
    /// Awaiting review.
    Pending,
    /// Approved.
    Verified,
    /// Rejected with a reason.
    Rejected,
}

impl RealNameStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            RealNameStatus::NotSubmitted => "NOT_SUBMITTED",
            RealNameStatus::Pending => "PENDING",
            RealNameStatus::Verified => "VERIFIED",
            RealNameStatus::Rejected => "REJECTED",
        }
    }

    /// From the stored form.
    pub fn parse(s: &str) -> Option<RealNameStatus> {
        match s {
            "NOT_SUBMITTED" => Some(RealNameStatus::NotSubmitted),
            "PENDING" => Some(RealNameStatus::Pending),
            "VERIFIED" => Some(RealNameStatus::Verified),
            "REJECTED" => Some(RealNameStatus::Rejected),
            _ => None,
        }
    }
}

/// Display names: 0 to 100 characters.
pub fn validate_display_name(name: &str) -> Result<(), String> {
    super::text::bounded(name, 0, 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_forms_round_trip() {
        for t in [AccountType::Personal, AccountType::Business] {
            assert_eq!(AccountType::parse(t.as_str()), Some(t));
        }
        for r in [Role::Buyer, Role::Supplier, Role::Operator] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        for s in [
            RealNameStatus::NotSubmitted,
            RealNameStatus::Pending,
            RealNameStatus::Verified,
            RealNameStatus::Rejected,
        ] {
            assert_eq!(RealNameStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(Role::parse("buyer"), None);
    }

    #[test]
    fn operator_is_added_once() {
        assert_eq!(roles(Role::Buyer, false), vec![Role::Buyer]);
        assert_eq!(
            roles(Role::Supplier, true),
            vec![Role::Supplier, Role::Operator]
        );
        assert!(validate_display_name(&"x".repeat(101)).is_err());
        assert!(validate_display_name("").is_ok());
    }
}
