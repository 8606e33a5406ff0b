//! Marketplace account bindings: a marketplace buyer account bound to a personal account,
//! verified once the person's real name is.

use super::account::RealNameStatus;

/// A marketplace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marketplace {
    /// 1688.com.
    M1688,
    /// Alibaba.com.
    AlibabaCom,
}

impl Marketplace {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Marketplace::M1688 => "1688",
            Marketplace::AlibabaCom => "ALIBABA_COM",
        }
    }

    /// From the stored form.
    pub fn parse(s: &str) -> Option<Marketplace> {
        match s {
            "1688" => Some(Marketplace::M1688),
            "ALIBABA_COM" => Some(Marketplace::AlibabaCom),
            _ => None,
        }
    }
}

/// Binding status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkStatus {
    /// Bound; the person is not real-name verified yet.
    BoundUnverified,
    /// Bound to a verified person.
    BoundVerified,
    /// Unbound (history).
    Unbound,
}

impl LinkStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkStatus::BoundUnverified => "BOUND_UNVERIFIED",
            LinkStatus::BoundVerified => "BOUND_VERIFIED",
            LinkStatus::Unbound => "UNBOUND",
        }
    }

    /// From the stored form.
    pub fn parse(s: &str) -> Option<LinkStatus> {
        match s {
            "BOUND_UNVERIFIED" => Some(LinkStatus::BoundUnverified),
            "BOUND_VERIFIED" => Some(LinkStatus::BoundVerified),
            "UNBOUND" => Some(LinkStatus::Unbound),
            _ => None,
        }
    }
}

/// The status a new binding starts in.
pub fn status_on_bind(real_name: RealNameStatus) -> LinkStatus {
    if real_name == RealNameStatus::Verified {
        LinkStatus::BoundVerified
    } else {
        LinkStatus::BoundUnverified
    }
}

/// External member ids: 1 to 64 characters, no control characters, compared exactly.
pub fn validate_external_member_id(id: &str) -> Result<(), String> {
    super::text::bounded(id, 1, 64)
}

/// Unbinding reasons: 0 to 500 characters.
pub fn validate_unbind_reason(reason: &str) -> Result<(), String> {
    super::text::bounded(reason, 0, 500)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_are_verified_with_the_person() {
        assert_eq!(
            status_on_bind(RealNameStatus::Verified),
            LinkStatus::BoundVerified
        );
        for s in [
            RealNameStatus::NotSubmitted,
            RealNameStatus::Pending,
            RealNameStatus::Rejected,
        ] {
            assert_eq!(status_on_bind(s), LinkStatus::BoundUnverified);
        }
        assert!(validate_external_member_id("测试买家账号003").is_ok());
        assert!(validate_external_member_id("").is_err());
        assert!(validate_external_member_id(&"x".repeat(65)).is_err());
        assert!(validate_external_member_id("a\u{7}b").is_err());
        for m in [Marketplace::M1688, Marketplace::AlibabaCom] {
            assert_eq!(Marketplace::parse(m.as_str()), Some(m));
        }
        for l in [
            LinkStatus::BoundUnverified,
            LinkStatus::BoundVerified,
            LinkStatus::Unbound,
        ] {
            assert_eq!(LinkStatus::parse(l.as_str()), Some(l));
        }
    }
}
