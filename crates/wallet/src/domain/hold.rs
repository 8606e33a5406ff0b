//! Holds are two-phase: OPEN, then exactly one of CAPTURED, RELEASED or EXPIRED.

use chrono::{DateTime, Utc};
use kuajing_proto::wallet::v1::HoldState;
use rust_decimal::Decimal;

/// Why a hold cannot end the way asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldRefusal {
    /// It already ended (captured, released or expired).
    NotOpen(HoldState),
    /// Its expiry has passed: it can only be released (by the sweeper or a release).
    Expired,
    /// amount + payer-borne fees exceed the held amount.
    CaptureExceedsHold,
}

/// True when an OPEN hold's expiry has passed at `now`.
pub fn is_expired(expire_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    expire_at.is_some_and(|at| at <= now)
}

/// Checks a capture of `payer_pays` (amount + payer-borne fees) from a hold of `held`.
/// Returns what goes back to the owner's available balance.
pub fn check_capture(
    state: HoldState,
    expire_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    held: Decimal,
    payer_pays: Decimal,
) -> Result<Decimal, HoldRefusal> {
    if state != HoldState::Open {
        return Err(HoldRefusal::NotOpen(state));
    }
    if is_expired(expire_at, now) {
        return Err(HoldRefusal::Expired);
    }
    if payer_pays > held {
        return Err(HoldRefusal::CaptureExceedsHold);
    }
    Ok(held - payer_pays)
}

/// Checks a release (an expired hold may still be released: it is what expiry does).
pub fn check_release(state: HoldState) -> Result<(), HoldRefusal> {
    if state == HoldState::Open {
        Ok(())
    } else {
        Err(HoldRefusal::NotOpen(state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn capture_within_an_open_hold_returns_the_rest() {
        let now = Utc::now();
        let rest = check_capture(
            HoldState::Open,
            Some(now + Duration::seconds(1)),
            now,
            Decimal::TEN,
            Decimal::new(75, 1),
        );
        assert_eq!(rest, Ok(Decimal::new(25, 1)));
        assert_eq!(
            check_capture(HoldState::Open, None, now, Decimal::TEN, Decimal::TEN),
            Ok(Decimal::ZERO)
        );
    }

    #[test]
    fn capture_refusals() {
        let now = Utc::now();
        for ended in [HoldState::Captured, HoldState::Released, HoldState::Expired] {
            assert_eq!(
                check_capture(ended, None, now, Decimal::TEN, Decimal::ONE),
                Err(HoldRefusal::NotOpen(ended))
            );
            assert_eq!(check_release(ended), Err(HoldRefusal::NotOpen(ended)));
        }
        assert_eq!(
            check_capture(HoldState::Open, Some(now), now, Decimal::TEN, Decimal::ONE),
            Err(HoldRefusal::Expired)
        );
        assert_eq!(
            check_capture(
                HoldState::Open,
                None,
                now,
                Decimal::TEN,
                Decimal::new(1001, 2)
            ),
            Err(HoldRefusal::CaptureExceedsHold)
        );
        assert_eq!(check_release(HoldState::Open), Ok(()));
    }
}
