//! A supplier's two quotas (seed 002), in USD: the Trade Assurance credit quota
//! (信用保障额度) decides whether a remittance linked to a guaranteed order is released to the
//! supplier at once ("关联后额度充足的情况下立即放款": the quota then stays frozen by it until
//! the order ends) or kept as guarantee funds (担保资金) until the order completes; the
//! pre-received FX quota (外汇预收额度) bounds what Trade Assurance and Direct Pay orders may
//! have received before shipping ("受信用保障额度+预收外汇额度限制"; Direct Pay: "仅受预收外
//! 汇额度限制"). The sources give no figures: both are what an operator grants.

use rust_decimal::Decimal;

/// Where a supplier's quotas stand, in USD.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Standing {
    /// The credit quota granted.
    pub credit_quota: Decimal,
    /// True while the supplier's violation points reach the Trade Assurance limit: seed
    /// 002 says points affect the quota ("扣分会对信用保障额度产生影响") but not by how much,
    /// so below the limit the grant counts whole and at it none counts.
    pub credit_suspended: bool,
    /// Frozen by links released at once to orders still open.
    pub credit_frozen: Decimal,
    /// The FX quota; `None`: not limited.
    pub fx_quota: Option<Decimal>,
    /// Pre-received: linked to orders not yet shipped in full.
    pub fx_used: Decimal,
}

impl Standing {
    /// What of the credit quota counts now.
    pub fn effective_credit(&self) -> Decimal {
        if self.credit_suspended {
            Decimal::ZERO
        } else {
            self.credit_quota
        }
    }

    /// What the next link may take of the credit quota.
    pub fn credit_available(&self) -> Decimal {
        (self.effective_credit() - self.credit_frozen).max(Decimal::ZERO)
    }

    /// What the next links may still receive before shipping; `None`: not limited.
    pub fn fx_available(&self) -> Option<Decimal> {
        self.fx_quota.map(|q| (q - self.fx_used).max(Decimal::ZERO))
    }
}

/// What one link takes of the quotas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Use {
    /// Credit quota frozen (zero when guaranteed).
    pub credit: Decimal,
    /// Pre-received FX counted.
    pub fx: Decimal,
    /// Kept as guarantee funds instead of released.
    pub guaranteed: bool,
}

/// The link would take pre-received FX past the quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FxQuotaExceeded {
    /// The quota.
    pub quota: Decimal,
    /// Already used.
    pub used: Decimal,
}

/// What a link worth `usd` to a guaranteed (Trade Assurance, `guaranteed_order`) or Direct
/// Pay order takes. A link the available credit covers whole is released; one it does not
/// is guaranteed whole (a link is one release, not split).
pub fn link(s: &Standing, guaranteed_order: bool, usd: Decimal) -> Result<Use, FxQuotaExceeded> {
    if let Some(quota) = s.fx_quota
        && s.fx_used + usd > quota
    {
        return Err(FxQuotaExceeded {
            quota,
            used: s.fx_used,
        });
    }
    let released = !guaranteed_order || usd <= s.credit_available();
    Ok(Use {
        credit: if guaranteed_order && released {
            usd
        } else {
            Decimal::ZERO
        },
        fx: usd,
        guaranteed: !released,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    fn standing(credit: Decimal, frozen: Decimal, fx: Option<Decimal>, used: Decimal) -> Standing {
        Standing {
            credit_quota: credit,
            credit_suspended: false,
            credit_frozen: frozen,
            fx_quota: fx,
            fx_used: used,
        }
    }

    #[test]
    fn a_link_the_available_credit_covers_is_released_and_freezes_it() {
        let s = standing(dec("1000"), dec("400"), None, dec("0"));
        assert_eq!(s.credit_available(), dec("600"));
        let u = link(&s, true, dec("600")).unwrap();
        assert_eq!(
            (u.credit, u.fx, u.guaranteed),
            (dec("600"), dec("600"), false)
        );
        let u = link(&s, true, dec("600.01")).unwrap();
        assert_eq!(
            (u.credit, u.fx, u.guaranteed),
            (dec("0"), dec("600.01"), true)
        );
    }

    #[test]
    fn no_quota_granted_keeps_every_guaranteed_link_as_guarantee_funds() {
        let s = Standing::default();
        assert!(link(&s, true, dec("0.01")).unwrap().guaranteed);
    }

    #[test]
    fn direct_pay_takes_no_credit_quota() {
        let s = Standing::default();
        let u = link(&s, false, dec("5000")).unwrap();
        assert_eq!((u.credit, u.guaranteed), (dec("0"), false));
    }

    #[test]
    fn violation_points_at_the_limit_leave_no_credit_quota() {
        let mut s = standing(dec("1000"), dec("0"), None, dec("0"));
        s.credit_suspended = true;
        assert_eq!(s.effective_credit(), dec("0"));
        assert!(link(&s, true, dec("1")).unwrap().guaranteed);
    }

    #[test]
    fn the_fx_quota_bounds_what_is_received_before_shipping() {
        let s = standing(dec("0"), dec("0"), Some(dec("1000")), dec("700"));
        assert_eq!(s.fx_available(), Some(dec("300")));
        assert!(link(&s, false, dec("300")).is_ok());
        assert_eq!(
            link(&s, true, dec("300.01")),
            Err(FxQuotaExceeded {
                quota: dec("1000"),
                used: dec("700")
            })
        );
        assert_eq!(
            standing(dec("0"), dec("0"), None, dec("9")).fx_available(),
            None
        );
    }
}
