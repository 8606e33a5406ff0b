//! Withdrawals: which fee rule applies, what it costs, whether it is within its limit,
//! and how its status may move (REQUESTED -> PROCESSING -> COMPLETED or FAILED).

use kuajing_platform::Currency;
use kuajing_platform::money::round_half_even;
use kuajing_proto::wallet::v1::WithdrawalStatus;
use rust_decimal::Decimal;
use uuid::Uuid;

/// One row of the fee schedule (data, preloaded with seed 002's values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeeRule {
    /// Rule id.
    pub id: Uuid,
    /// Fund pool (`FundPool` number); 0 matches any.
    pub fund_pool: i32,
    /// Currency; `None` matches any.
    pub currency: Option<Currency>,
    /// Bank account type (`BankAccountType` number).
    pub bank_account_type: i32,
    /// Membership tier (`MembershipTier` number); 0 matches any.
    pub membership_tier: i32,
    /// Fixed fee per withdrawal.
    pub fixed_fee: Decimal,
    /// Percentage of the amount, e.g. 0.17 for 0.17 %.
    pub fee_percent: Decimal,
    /// Largest amount per withdrawal, in `limit_currency`; `None` means no limit.
    pub limit: Option<Decimal>,
    /// Currency of the limit (USD in the seed).
    pub limit_currency: Currency,
}

/// A withdrawal being priced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Source fund pool number.
    pub fund_pool: i32,
    /// Currency withdrawn.
    pub currency: Currency,
    /// Bank account type number.
    pub bank_account_type: i32,
    /// Owner's membership tier number (0 when unknown).
    pub membership_tier: i32,
}

impl FeeRule {
    fn matches(&self, r: &Route) -> bool {
        (self.fund_pool == 0 || self.fund_pool == r.fund_pool)
            && self.currency.is_none_or(|c| c == r.currency)
            && self.bank_account_type == r.bank_account_type
            && (self.membership_tier == 0 || self.membership_tier == r.membership_tier)
    }

    /// How specific the rule is: a rule for the owner's tier beats one for any tier, a rule
    /// for the exact currency and pool beats a wildcard.
    fn specificity(&self) -> u8 {
        u8::from(self.membership_tier != 0) * 4
            + u8::from(self.currency.is_some()) * 2
            + u8::from(self.fund_pool != 0)
    }

    /// The fee on `amount`: fixed + percent, rounded half-even to the currency.
    pub fn fee(&self, amount: Decimal, currency: Currency) -> Decimal {
        let percent = amount * self.fee_percent / Decimal::ONE_HUNDRED;
        round_half_even(self.fixed_fee + percent, currency)
    }
}

/// Seed 002: "港台客户仅支持美元提现": customers in Hong Kong and Taiwan withdraw in USD
/// only; elsewhere (and for an owner of no region) every currency a rule offers.
pub fn currency_allowed_in(region: &str, currency: Currency) -> bool {
    !matches!(region, "HK" | "TW") || currency == Currency::USD
}

/// The most specific rule matching `route`; `None` means the route is not supported.
pub fn pick_rule<'a>(rules: &'a [FeeRule], route: &Route) -> Option<&'a FeeRule> {
    rules
        .iter()
        .filter(|r| r.matches(route))
        .max_by_key(|r| r.specificity())
}

/// True when `amount_in_limit_currency` is within the rule's limit.
pub fn within_limit(rule: &FeeRule, amount_in_limit_currency: Decimal) -> bool {
    rule.limit
        .is_none_or(|limit| amount_in_limit_currency <= limit)
}

/// True when something reaches the bank: the fee is deducted from the amount, so an
/// amount at or below its fee would send nothing (or less than nothing).
pub fn leaves_something_after_fee(amount: Decimal, fee: Decimal) -> bool {
    amount > fee
}

/// Whether the status may move from `from` to `to`.
pub fn may_move(from: WithdrawalStatus, to: WithdrawalStatus) -> bool {
    use WithdrawalStatus::*;
    matches!(
        (from, to),
        (Requested, Processing) | (Processing, Completed) | (Processing, Failed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hong_kong_and_taiwan_withdraw_usd_only() {
        for region in ["HK", "TW"] {
            assert!(currency_allowed_in(region, Currency::USD));
            assert!(!currency_allowed_in(region, Currency::CNY));
        }
        assert!(currency_allowed_in("CN", Currency::CNY));
        assert!(currency_allowed_in("", Currency::CNY));
    }
    use kuajing_proto::wallet::v1::{BankAccountType, FundPool, MembershipTier};

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn something_must_reach_the_bank_after_the_fee() {
        assert!(leaves_something_after_fee(d("15.01"), d("15")));
        assert!(!leaves_something_after_fee(d("15.00"), d("15")));
        assert!(!leaves_something_after_fee(d("10.00"), d("15")));
    }

    fn seed_rules() -> Vec<FeeRule> {
        let rule = |pool: FundPool,
                    cur: Option<Currency>,
                    ty: BankAccountType,
                    tier: i32,
                    fixed: &str,
                    pct: &str,
                    limit: Option<&str>| FeeRule {
            id: Uuid::now_v7(),
            fund_pool: pool as i32,
            currency: cur,
            bank_account_type: ty as i32,
            membership_tier: tier,
            fixed_fee: d(fixed),
            fee_percent: d(pct),
            limit: limit.map(d),
            limit_currency: Currency::USD,
        };
        vec![
            rule(
                FundPool::Standard,
                Some(Currency::USD),
                BankAccountType::Corporate,
                0,
                "15",
                "0",
                Some("5000000"),
            ),
            rule(
                FundPool::Standard,
                Some(Currency::CNY),
                BankAccountType::Corporate,
                0,
                "0",
                "0",
                None,
            ),
            rule(
                FundPool::Standard,
                Some(Currency::CNY),
                BankAccountType::LegalRepresentativePersonal,
                0,
                "0",
                "0.17",
                Some("50000"),
            ),
            rule(
                FundPool::Standard,
                Some(Currency::CNY),
                BankAccountType::Corporate,
                MembershipTier::Free as i32,
                "0",
                "0.5",
                None,
            ),
            rule(
                FundPool::Unspecified,
                None,
                BankAccountType::Personal,
                0,
                "0",
                "0",
                Some("50000"),
            ),
        ]
    }

    fn route(cur: Currency, ty: BankAccountType, tier: MembershipTier) -> Route {
        Route {
            fund_pool: FundPool::Standard as i32,
            currency: cur,
            bank_account_type: ty as i32,
            membership_tier: tier as i32,
        }
    }

    #[test]
    fn seed_fees() {
        let rules = seed_rules();
        let usd = pick_rule(
            &rules,
            &route(
                Currency::USD,
                BankAccountType::Corporate,
                MembershipTier::Paid,
            ),
        )
        .unwrap();
        assert_eq!(usd.fee(d("1000"), Currency::USD), d("15"));
        let legal = pick_rule(
            &rules,
            &route(
                Currency::CNY,
                BankAccountType::LegalRepresentativePersonal,
                MembershipTier::Paid,
            ),
        )
        .unwrap();
        assert_eq!(legal.fee(d("10000"), Currency::CNY), d("17"));
        // 0.17 % of 12.35 = 0.020995 -> 0.02 (half-even)
        assert_eq!(legal.fee(d("12.35"), Currency::CNY), d("0.02"));
        let free = pick_rule(
            &rules,
            &route(
                Currency::CNY,
                BankAccountType::Corporate,
                MembershipTier::Free,
            ),
        )
        .unwrap();
        assert_eq!(free.fee(d("10000"), Currency::CNY), d("50"));
        let paid = pick_rule(
            &rules,
            &route(
                Currency::CNY,
                BankAccountType::Corporate,
                MembershipTier::Paid,
            ),
        )
        .unwrap();
        assert_eq!(paid.fee(d("10000"), Currency::CNY), d("0"));
        let personal = pick_rule(
            &rules,
            &route(
                Currency::EUR,
                BankAccountType::Personal,
                MembershipTier::Paid,
            ),
        )
        .unwrap();
        assert_eq!(personal.limit, Some(d("50000")));
        assert!(
            pick_rule(
                &rules,
                &route(
                    Currency::EUR,
                    BankAccountType::Corporate,
                    MembershipTier::Paid
                )
            )
            .is_none()
        );
    }

    #[test]
    fn limits_at_the_boundary() {
        let rules = seed_rules();
        let usd = pick_rule(
            &rules,
            &route(
                Currency::USD,
                BankAccountType::Corporate,
                MembershipTier::Paid,
            ),
        )
        .unwrap();
        assert!(within_limit(usd, d("5000000.00")));
        assert!(!within_limit(usd, d("5000000.01")));
        let personal = pick_rule(
            &rules,
            &route(
                Currency::USD,
                BankAccountType::Personal,
                MembershipTier::Paid,
            ),
        )
        .unwrap();
        assert!(within_limit(personal, d("50000")));
        assert!(!within_limit(personal, d("50000.01")));
    }

    #[test]
    fn status_moves() {
        use WithdrawalStatus::*;
        assert!(may_move(Requested, Processing));
        assert!(may_move(Processing, Completed));
        assert!(may_move(Processing, Failed));
        for (a, b) in [
            (Requested, Completed),
            (Requested, Failed),
            (Completed, Failed),
            (Failed, Completed),
            (Processing, Requested),
        ] {
            assert!(!may_move(a, b), "{a:?} -> {b:?}");
        }
    }
}
