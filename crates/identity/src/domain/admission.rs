//! Supplier admission: is a supplier admitted to Trade Assurance, Direct Pay or
//! cross-border pay, and if not, which rules fail. Every rule is evaluated, not only the
//! first that fails, so the supplier sees everything to fix at once.

use kuajing_proto::reasons::identity as reasons;
use std::collections::BTreeMap;

use super::region::MAINLAND_CHINA;

/// A program a supplier may be admitted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    /// Trade Assurance (信用保障).
    TradeAssurance,
    /// Direct Pay (e收汇).
    DirectPay,
    /// Cross-border pay (跨境宝).
    CrossBorderPay,
}

impl Program {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Program::TradeAssurance => "TRADE_ASSURANCE",
            Program::DirectPay => "DIRECT_PAY",
            Program::CrossBorderPay => "CROSS_BORDER_PAY",
        }
    }

    /// From the stored form.
    pub fn parse(s: &str) -> Option<Program> {
        [
            Program::TradeAssurance,
            Program::DirectPay,
            Program::CrossBorderPay,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// Whether a profile change turns cross-border pay on by itself: seed 003, "1688's paid
/// supplier' stores are enabled by default with this option". A supplier that becomes a
/// paid TrustPass member is enabled unless the same change sets the flag explicitly.
pub fn cross_border_pay_by_default(
    was_paid_trustpass: bool,
    is_paid_trustpass: bool,
    flag_set_explicitly: bool,
) -> bool {
    !was_paid_trustpass && is_paid_trustpass && !flag_set_explicitly
}

/// Free or paid member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Membership {
    /// Free member (the default).
    Free,
    /// Paid member.
    Paid,
}

impl Membership {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Membership::Free => "FREE",
            Membership::Paid => "PAID",
        }
    }

    /// From the stored form.
    pub fn parse(s: &str) -> Option<Membership> {
        match s {
            "FREE" => Some(Membership::Free),
            "PAID" => Some(Membership::Paid),
            _ => None,
        }
    }
}

/// The thresholds and regions, from configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdmissionRules {
    /// Trade Assurance needs violation points strictly below this (48).
    pub violation_points_limit: i32,
    /// Trade Assurance needs the company's serious IP complaints strictly below this (3).
    pub ip_complaints_limit: i64,
    /// Regions where paid members may join Trade Assurance (CN, HK, TW).
    pub trade_assurance_paid_regions: Vec<String>,
    /// Regions where free members may join Trade Assurance (CN).
    pub trade_assurance_free_regions: Vec<String>,
    /// Regions where paid members may use Direct Pay (CN).
    pub direct_pay_regions: Vec<String>,
}

impl Default for AdmissionRules {
    fn default() -> Self {
        AdmissionRules {
            violation_points_limit: 48,
            ip_complaints_limit: 3,
            trade_assurance_paid_regions: vec!["CN".into(), "HK".into(), "TW".into()],
            trade_assurance_free_regions: vec![MAINLAND_CHINA.into()],
            direct_pay_regions: vec![MAINLAND_CHINA.into()],
        }
    }
}

/// What admission looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SupplierFacts {
    /// Free or paid.
    pub membership: Membership,
    /// The account's region of registration.
    pub region_code: String,
    /// TrustPass (诚信通) active.
    pub trustpass_active: bool,
    /// Cross-border pay agreement signed.
    pub cross_border_pay_enabled: bool,
    /// A bad-credit record anywhere in the company.
    pub bad_credit_record: bool,
    /// Accumulated violation points.
    pub violation_points: i32,
    /// Serious IP complaints across the company's accounts.
    pub company_ip_complaint_count: i64,
    /// Real name verified.
    pub real_name_verified: bool,
    /// Other risk flags.
    pub risk_flags: Vec<String>,
}

/// One failing rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleFailure {
    /// Stable UPPER_SNAKE code.
    pub reason: &'static str,
    /// For the supplier.
    pub message: String,
    /// The values behind it.
    pub metadata: BTreeMap<String, String>,
}

/// The message the marketplace shows a buyer when the supplier is not a TrustPass member.
pub const NOT_TRUSTPASS_MESSAGE: &str = "您还不是诚信通商家,暂时无法开通跨境宝.";

fn failure(
    reason: &'static str,
    message: impl Into<String>,
    metadata: &[(&str, String)],
) -> RuleFailure {
    RuleFailure {
        reason,
        message: message.into(),
        metadata: metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    }
}

/// Every rule of `program` that `facts` fail; empty when admitted.
pub fn check(program: Program, facts: &SupplierFacts, rules: &AdmissionRules) -> Vec<RuleFailure> {
    let mut failed = Vec::new();
    let region = facts.region_code.as_str();
    let in_list = |list: &[String]| list.iter().any(|r| r == region);
    match program {
        Program::TradeAssurance => {
            match facts.membership {
                Membership::Free if !in_list(&rules.trade_assurance_free_regions) => {
                    failed.push(failure(
                        "NOT_MAINLAND",
                        "free members must be registered in mainland China",
                        &[("region_code", region.to_owned())],
                    ))
                }
                Membership::Paid if !in_list(&rules.trade_assurance_paid_regions) => {
                    failed.push(failure(
                        "REGION_NOT_ELIGIBLE",
                        format!(
                            "paid members must be registered in {}",
                            rules.trade_assurance_paid_regions.join(", ")
                        ),
                        &[("region_code", region.to_owned())],
                    ))
                }
                _ => {}
            }
            if facts.bad_credit_record {
                failed.push(failure(
                    "BAD_CREDIT_RECORD",
                    "the company, its legal representative, controller or an affiliate has a bad-credit record",
                    &[],
                ));
            }
            if facts.violation_points >= rules.violation_points_limit {
                failed.push(failure(
                    "VIOLATION_POINTS_TOO_HIGH",
                    format!(
                        "violation points must be below {}",
                        rules.violation_points_limit
                    ),
                    &[
                        ("violation_points", facts.violation_points.to_string()),
                        ("threshold", rules.violation_points_limit.to_string()),
                    ],
                ));
            }
            if facts.company_ip_complaint_count >= rules.ip_complaints_limit {
                failed.push(failure(
                    "TOO_MANY_IP_COMPLAINTS",
                    format!(
                        "the company must have fewer than {} serious IP-infringement complaints",
                        rules.ip_complaints_limit
                    ),
                    &[
                        (
                            "company_ip_complaint_count",
                            facts.company_ip_complaint_count.to_string(),
                        ),
                        ("threshold", rules.ip_complaints_limit.to_string()),
                    ],
                ));
            }
            if facts.membership == Membership::Free && !facts.real_name_verified {
                failed.push(failure(
                    "REAL_NAME_NOT_VERIFIED",
                    "free members must complete real-name verification",
                    &[],
                ));
            }
            if !facts.risk_flags.is_empty() {
                failed.push(failure(
                    "RISK_FLAGGED",
                    "the supplier has a risk flag",
                    &[("risk_flags", facts.risk_flags.join(","))],
                ));
            }
        }
        Program::DirectPay => {
            if facts.membership != Membership::Paid {
                failed.push(failure(
                    "NOT_PAID_MEMBER",
                    "Direct Pay is for paid members only",
                    &[],
                ));
            }
            if !in_list(&rules.direct_pay_regions) {
                failed.push(failure(
                    "NOT_MAINLAND",
                    "Direct Pay is for suppliers registered in mainland China",
                    &[("region_code", region.to_owned())],
                ));
            }
        }
        Program::CrossBorderPay => {
            if !facts.trustpass_active {
                failed.push(failure(reasons::NOT_TRUSTPASS, NOT_TRUSTPASS_MESSAGE, &[]));
            }
            if !facts.cross_border_pay_enabled {
                failed.push(failure(
                    "CROSS_BORDER_PAY_NOT_ENABLED",
                    "the supplier has not enabled cross-border pay",
                    &[],
                ));
            }
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paid_trustpass_members_are_enabled_for_cross_border_pay_by_default() {
        assert!(cross_border_pay_by_default(false, true, false));
        // Set explicitly in the same change: the operator's value stands.
        assert!(!cross_border_pay_by_default(false, true, true));
        // Already a paid TrustPass member (it may have opted out): unchanged.
        assert!(!cross_border_pay_by_default(true, true, false));
        assert!(!cross_border_pay_by_default(false, false, false));
        for p in [
            Program::TradeAssurance,
            Program::DirectPay,
            Program::CrossBorderPay,
        ] {
            assert_eq!(Program::parse(p.as_str()), Some(p));
        }
        assert_eq!(
            NOT_TRUSTPASS_MESSAGE,
            "您还不是诚信通商家,暂时无法开通跨境宝."
        );
    }

    fn good() -> SupplierFacts {
        SupplierFacts {
            membership: Membership::Paid,
            region_code: "CN".into(),
            trustpass_active: true,
            cross_border_pay_enabled: true,
            bad_credit_record: false,
            violation_points: 47,
            company_ip_complaint_count: 2,
            real_name_verified: true,
            risk_flags: vec![],
        }
    }

    fn reasons(program: Program, facts: &SupplierFacts) -> Vec<&'static str> {
        check(program, facts, &AdmissionRules::default())
            .into_iter()
            .map(|f| f.reason)
            .collect()
    }

    #[test]
    fn a_good_supplier_is_admitted_everywhere() {
        for p in [
            Program::TradeAssurance,
            Program::DirectPay,
            Program::CrossBorderPay,
        ] {
            assert!(reasons(p, &good()).is_empty(), "{p:?}");
        }
    }

    #[test]
    fn thresholds_at_their_edges() {
        let mut f = good();
        f.violation_points = 48;
        f.company_ip_complaint_count = 3;
        assert_eq!(
            reasons(Program::TradeAssurance, &f),
            ["VIOLATION_POINTS_TOO_HIGH", "TOO_MANY_IP_COMPLAINTS"]
        );
        let failures = check(Program::TradeAssurance, &f, &AdmissionRules::default());
        assert_eq!(failures[0].metadata["violation_points"], "48");
        assert_eq!(failures[0].metadata["threshold"], "48");
        assert_eq!(failures[1].metadata["company_ip_complaint_count"], "3");
    }

    #[test]
    fn every_failing_rule_is_reported() {
        let f = SupplierFacts {
            membership: Membership::Free,
            region_code: "HK".into(),
            trustpass_active: false,
            cross_border_pay_enabled: false,
            bad_credit_record: true,
            violation_points: 100,
            company_ip_complaint_count: 5,
            real_name_verified: false,
            risk_flags: vec!["ONE_TOUCH_RISK".into()],
        };
        assert_eq!(
            reasons(Program::TradeAssurance, &f),
            [
                "NOT_MAINLAND",
                "BAD_CREDIT_RECORD",
                "VIOLATION_POINTS_TOO_HIGH",
                "TOO_MANY_IP_COMPLAINTS",
                "REAL_NAME_NOT_VERIFIED",
                "RISK_FLAGGED"
            ]
        );
        assert_eq!(
            reasons(Program::DirectPay, &f),
            ["NOT_PAID_MEMBER", "NOT_MAINLAND"]
        );
        let cbp = check(Program::CrossBorderPay, &f, &AdmissionRules::default());
        assert_eq!(cbp[0].reason, "NOT_TRUSTPASS");
        assert_eq!(cbp[0].message, NOT_TRUSTPASS_MESSAGE);
        assert_eq!(cbp[1].reason, "CROSS_BORDER_PAY_NOT_ENABLED");
    }

    #[test]
    fn regions_by_membership() {
        let mut f = good();
        f.region_code = "HK".into();
        assert!(
            reasons(Program::TradeAssurance, &f).is_empty(),
            "paid in HK is eligible"
        );
        assert_eq!(reasons(Program::DirectPay, &f), ["NOT_MAINLAND"]);
        f.region_code = "SG".into();
        assert_eq!(
            reasons(Program::TradeAssurance, &f),
            ["REGION_NOT_ELIGIBLE"]
        );
        f.membership = Membership::Free;
        f.region_code = "TW".into();
        assert_eq!(reasons(Program::TradeAssurance, &f), ["NOT_MAINLAND"]);
        f.region_code = "CN".into();
        f.real_name_verified = false;
        assert_eq!(
            reasons(Program::TradeAssurance, &f),
            ["REAL_NAME_NOT_VERIFIED"]
        );
        f.real_name_verified = true;
        assert!(
            reasons(Program::TradeAssurance, &f).is_empty(),
            "verified free member in CN"
        );
    }
}
