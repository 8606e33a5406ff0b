//! The payment decision: "may this mandate pay this amount to this supplier for goods of
//! these categories?" The checks run in a fixed order and the first failure is the reason:
//!
//! 1. MANDATE_NOT_FOUND, 2. MANDATE_NOT_ACTIVE, 3. MANDATE_REVOKED, 4. MANDATE_EXPIRED,
//! 5. MARKETPLACE_ACCOUNT_NOT_VERIFIED, 6. SUPPLIER_NOT_ENABLED, 7. CATEGORY_RESTRICTED,
//! 8. LIMIT_PER_TRANSACTION, 9. LIMIT_PER_DAY.
//!
//! A denial is an answer (a [`Denial`] with a stable reason, a message for the buyer and
//! the values behind it), never an error.

use kuajing_proto::reasons::authorization as reasons;
use std::collections::BTreeMap;

use kuajing_platform::Currency;
use kuajing_platform::money::format_amount;
use kuajing_proto::authorization::v1::MandateState;
use kuajing_proto::identity::v1::LinkStatus;
use rust_decimal::Decimal;

use super::category::{self, Hit};
use super::limits::{LimitBreach, Limits};

/// The message of SUPPLIER_NOT_ENABLED, the seed's text shown to the buyer.
pub const SUPPLIER_NOT_ENABLED_MESSAGE: &str = "您还不是诚信通商家,暂时无法开通跨境宝.";

/// Why a payment is denied, in check order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DenyReason {
    /// No mandate with that id, or the marketplace member never had one.
    MandateNotFound,
    /// The mandate is PENDING_VERIFICATION.
    MandateNotActive,
    /// The mandate was revoked.
    MandateRevoked,
    /// The mandate's validity end has passed.
    MandateExpired,
    /// The marketplace account is no longer bound and BOUND_VERIFIED.
    MarketplaceAccountNotVerified,
    /// The supplier is not admitted to cross-border pay.
    SupplierNotEnabled,
    /// A category of the goods is restricted.
    CategoryRestricted,
    /// The USD equivalent exceeds the per-transaction limit.
    LimitPerTransaction,
    /// The USD equivalent plus the day's use exceeds the per-day limit.
    LimitPerDay,
}

impl DenyReason {
    /// The stable UPPER_SNAKE code.
    pub const fn code(self) -> &'static str {
        match self {
            DenyReason::MandateNotFound => reasons::MANDATE_NOT_FOUND,
            DenyReason::MandateNotActive => "MANDATE_NOT_ACTIVE",
            DenyReason::MandateRevoked => reasons::MANDATE_REVOKED,
            DenyReason::MandateExpired => reasons::MANDATE_EXPIRED,
            DenyReason::MarketplaceAccountNotVerified => reasons::MARKETPLACE_ACCOUNT_NOT_VERIFIED,
            DenyReason::SupplierNotEnabled => "SUPPLIER_NOT_ENABLED",
            DenyReason::CategoryRestricted => "CATEGORY_RESTRICTED",
            DenyReason::LimitPerTransaction => "LIMIT_PER_TRANSACTION",
            DenyReason::LimitPerDay => "LIMIT_PER_DAY",
        }
    }
}

/// A denial: the reason, a message for the buyer, and the values behind it (no secrets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// Why.
    pub reason: DenyReason,
    /// Human-readable explanation.
    pub message: String,
    /// Values behind the reason, e.g. {"category_code": "plant_seeds"}.
    pub details: BTreeMap<String, String>,
}

impl Denial {
    fn new(reason: DenyReason, message: impl Into<String>) -> Denial {
        Denial {
            reason,
            message: message.into(),
            details: BTreeMap::new(),
        }
    }

    fn with(mut self, key: &str, value: impl Into<String>) -> Denial {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

/// A USD amount as the details show it ("2500.00").
pub fn usd(amount: Decimal) -> String {
    format_amount(amount, Currency::USD)
}

/// Checks 1-4: the mandate's state at decision time (`None`: no mandate found).
pub fn check_mandate(effective: Option<MandateState>) -> Result<(), Denial> {
    let state = match effective {
        None => {
            return Err(Denial::new(
                DenyReason::MandateNotFound,
                "no cross-border pay authorisation was found for this account",
            ));
        }
        Some(s) => s,
    };
    match state {
        MandateState::Active => Ok(()),
        MandateState::PendingVerification | MandateState::Unspecified => Err(Denial::new(
            DenyReason::MandateNotActive,
            "the cross-border pay authorisation has not been activated",
        )
        .with("state", state.as_str_name())),
        MandateState::Revoked => Err(Denial::new(
            DenyReason::MandateRevoked,
            "the cross-border pay authorisation was revoked",
        )),
        MandateState::Expired => Err(Denial::new(
            DenyReason::MandateExpired,
            "the cross-border pay authorisation has expired",
        )),
    }
}

/// Check 5: the mandate's marketplace binding as identity has it now (`None`: no such
/// binding, or the member is not bound).
pub fn check_binding(status: Option<LinkStatus>) -> Result<(), Denial> {
    match status {
        Some(LinkStatus::BoundVerified) => Ok(()),
        other => Err(Denial::new(
            DenyReason::MarketplaceAccountNotVerified,
            "the marketplace account is no longer bound to a verified account",
        )
        .with(
            "link_status",
            other.unwrap_or(LinkStatus::Unspecified).as_str_name(),
        )),
    }
}

/// The supplier's cross-border pay admission as identity answered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Admitted.
    Admitted,
    /// Not admitted; the failing rule codes (e.g. NOT_TRUSTPASS).
    Refused(Vec<String>),
    /// No supplier profile for that account.
    NoProfile,
}

/// Check 6: the supplier is admitted to cross-border pay.
pub fn check_supplier(admission: &Admission) -> Result<(), Denial> {
    let rules = match admission {
        Admission::Admitted => return Ok(()),
        Admission::Refused(rules) => rules.join(","),
        Admission::NoProfile => "SUPPLIER_PROFILE_NOT_FOUND".to_owned(),
    };
    Err(
        Denial::new(DenyReason::SupplierNotEnabled, SUPPLIER_NOT_ENABLED_MESSAGE)
            .with("failed_rules", rules),
    )
}

/// Check 7: no requested category is restricted.
pub fn check_categories<S: AsRef<str>>(codes: &[String], restricted: &[S]) -> Result<(), Denial> {
    match category::first_restricted(codes, restricted) {
        None => Ok(()),
        Some(Hit {
            category_code,
            restricted_code,
        }) => {
            let mut d = Denial::new(
                DenyReason::CategoryRestricted,
                format!("goods of category {category_code} cannot be paid with cross-border pay"),
            )
            .with("category_code", category_code.clone());
            if restricted_code != category_code {
                d = d.with("restricted_category_code", restricted_code);
            }
            Err(d)
        }
    }
}

/// Checks 8 and 9: the USD equivalent against the limits, the day already holding `used`.
pub fn check_limits(limits: &Limits, usd_amount: Decimal, used: Decimal) -> Result<(), Denial> {
    limits
        .check(usd_amount, used)
        .map_err(|b| limit_denial(b, usd_amount))
}

/// The denial for a limit breach of a payment of `usd_amount`.
pub fn limit_denial(breach: LimitBreach, usd_amount: Decimal) -> Denial {
    match breach {
        LimitBreach::PerTransaction { limit } => Denial::new(
            DenyReason::LimitPerTransaction,
            format!(
                "the payment (USD {}) exceeds the per-transaction limit of USD {}",
                usd(usd_amount),
                usd(limit)
            ),
        )
        .with("limit", usd(limit))
        .with("usd_amount", usd(usd_amount)),
        LimitBreach::PerDay { limit, remaining } => Denial::new(
            DenyReason::LimitPerDay,
            format!(
                "the payment (USD {}) exceeds what is left of today's limit (USD {})",
                usd(usd_amount),
                usd(remaining)
            ),
        )
        .with("limit", usd(limit))
        .with("remaining", usd(remaining))
        .with("usd_amount", usd(usd_amount)),
    }
}

/// What checks 5 to 7 are judged on.
#[derive(Clone, Debug)]
pub struct Standing<'a, S> {
    /// The binding's status now (`None`: not bound).
    pub binding: Option<LinkStatus>,
    /// The supplier's admission.
    pub supplier: &'a Admission,
    /// The requested category codes.
    pub category_codes: &'a [String],
    /// The restricted category codes now.
    pub restricted: &'a [S],
}

/// Checks 1 to 7 in order; the first failure is the denial.
pub fn check_before_limits<S: AsRef<str>>(
    mandate: Option<MandateState>,
    standing: &Standing<'_, S>,
) -> Result<(), Denial> {
    check_mandate(mandate)?;
    check_binding(standing.binding)?;
    check_supplier(standing.supplier)?;
    check_categories(standing.category_codes, standing.restricted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    const RESTRICTED: [&str; 2] = ["plant_seeds", "harpoons"];

    fn reason(r: Result<(), Denial>) -> Option<&'static str> {
        r.err().map(|d| d.reason.code())
    }

    #[test]
    fn mandate_states_map_to_their_reasons() {
        use MandateState::*;
        assert_eq!(reason(check_mandate(None)), Some("MANDATE_NOT_FOUND"));
        assert_eq!(
            reason(check_mandate(Some(PendingVerification))),
            Some("MANDATE_NOT_ACTIVE")
        );
        assert_eq!(
            reason(check_mandate(Some(Revoked))),
            Some("MANDATE_REVOKED")
        );
        assert_eq!(
            reason(check_mandate(Some(Expired))),
            Some("MANDATE_EXPIRED")
        );
        assert_eq!(reason(check_mandate(Some(Active))), None);
    }

    #[test]
    fn only_a_verified_binding_pays() {
        assert_eq!(reason(check_binding(Some(LinkStatus::BoundVerified))), None);
        for s in [
            None,
            Some(LinkStatus::BoundUnverified),
            Some(LinkStatus::Unbound),
        ] {
            assert_eq!(
                reason(check_binding(s)),
                Some("MARKETPLACE_ACCOUNT_NOT_VERIFIED")
            );
        }
    }

    #[test]
    fn a_supplier_refusal_carries_the_seed_message_and_rules() {
        assert_eq!(check_supplier(&Admission::Admitted), Ok(()));
        let d = check_supplier(&Admission::Refused(vec![
            "NOT_TRUSTPASS".into(),
            "CROSS_BORDER_PAY_NOT_ENABLED".into(),
        ]))
        .unwrap_err();
        assert_eq!(d.reason, DenyReason::SupplierNotEnabled);
        assert_eq!(d.message, "您还不是诚信通商家,暂时无法开通跨境宝.");
        assert_eq!(
            d.details["failed_rules"],
            "NOT_TRUSTPASS,CROSS_BORDER_PAY_NOT_ENABLED"
        );
        let d = check_supplier(&Admission::NoProfile).unwrap_err();
        assert_eq!(d.message, SUPPLIER_NOT_ENABLED_MESSAGE);
    }

    #[test]
    fn a_restricted_category_names_the_code() {
        let d =
            check_categories(&codes(&["toys", "plant_seeds.vegetable"]), &RESTRICTED).unwrap_err();
        assert_eq!(d.reason, DenyReason::CategoryRestricted);
        assert_eq!(d.details["category_code"], "plant_seeds.vegetable");
        assert_eq!(d.details["restricted_category_code"], "plant_seeds");
        let d = check_categories(&codes(&["harpoons"]), &RESTRICTED).unwrap_err();
        assert_eq!(d.details.get("restricted_category_code"), None);
        assert_eq!(check_categories(&codes(&["toys"]), &RESTRICTED), Ok(()));
    }

    #[test]
    fn limit_denials_carry_limit_and_remaining() {
        let l = Limits::default();
        let d = check_limits(&l, Decimal::new(1_000_000_001, 2), Decimal::ZERO).unwrap_err();
        assert_eq!(d.reason, DenyReason::LimitPerTransaction);
        assert_eq!(d.details["limit"], "10000000.00");
        let d =
            check_limits(&l, Decimal::new(250_001, 2), Decimal::new(99_997_500, 0)).unwrap_err();
        assert_eq!(d.reason, DenyReason::LimitPerDay);
        assert_eq!(d.details["limit"], "100000000.00");
        assert_eq!(d.details["remaining"], "2500.00");
        assert_eq!(
            check_limits(&l, Decimal::new(2500, 0), Decimal::new(99_997_500, 0)),
            Ok(())
        );
    }

    #[test]
    fn the_first_failing_check_in_contract_order_wins() {
        let refused = Admission::Refused(vec!["NOT_TRUSTPASS".into()]);
        let admitted = Admission::Admitted;
        let bad_goods = codes(&["harpoons"]);
        let good_goods = codes(&["toys"]);
        let all_bad = Standing {
            binding: Some(LinkStatus::Unbound),
            supplier: &refused,
            category_codes: &bad_goods,
            restricted: &RESTRICTED,
        };
        let r = |m, s: &Standing<'_, &str>| reason(check_before_limits(m, s));
        assert_eq!(r(None, &all_bad), Some("MANDATE_NOT_FOUND"));
        assert_eq!(
            r(Some(MandateState::PendingVerification), &all_bad),
            Some("MANDATE_NOT_ACTIVE")
        );
        assert_eq!(
            r(Some(MandateState::Revoked), &all_bad),
            Some("MANDATE_REVOKED")
        );
        assert_eq!(
            r(Some(MandateState::Expired), &all_bad),
            Some("MANDATE_EXPIRED")
        );
        let active = Some(MandateState::Active);
        assert_eq!(
            r(active, &all_bad),
            Some("MARKETPLACE_ACCOUNT_NOT_VERIFIED")
        );
        let bound = Standing {
            binding: Some(LinkStatus::BoundVerified),
            ..all_bad.clone()
        };
        assert_eq!(r(active, &bound), Some("SUPPLIER_NOT_ENABLED"));
        let admitted_s = Standing {
            supplier: &admitted,
            ..bound.clone()
        };
        assert_eq!(r(active, &admitted_s), Some("CATEGORY_RESTRICTED"));
        let clean = Standing {
            category_codes: &good_goods,
            ..admitted_s
        };
        assert_eq!(r(active, &clean), None);
    }

    #[test]
    fn reasons_sort_in_check_order() {
        let mut all = vec![
            DenyReason::LimitPerDay,
            DenyReason::MandateNotFound,
            DenyReason::CategoryRestricted,
            DenyReason::MandateExpired,
            DenyReason::LimitPerTransaction,
            DenyReason::SupplierNotEnabled,
            DenyReason::MandateRevoked,
            DenyReason::MarketplaceAccountNotVerified,
            DenyReason::MandateNotActive,
        ];
        all.sort();
        let order: Vec<&str> = all.iter().map(|r| r.code()).collect();
        assert_eq!(
            order,
            [
                "MANDATE_NOT_FOUND",
                "MANDATE_NOT_ACTIVE",
                "MANDATE_REVOKED",
                "MANDATE_EXPIRED",
                "MARKETPLACE_ACCOUNT_NOT_VERIFIED",
                "SUPPLIER_NOT_ENABLED",
                "CATEGORY_RESTRICTED",
                "LIMIT_PER_TRANSACTION",
                "LIMIT_PER_DAY"
            ]
        );
    }
}
