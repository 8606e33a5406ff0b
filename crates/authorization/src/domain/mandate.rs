//! Mandates: PENDING_VERIFICATION -> (agreement accepted + code confirmed) -> ACTIVE, and
//! from either of those REVOKED (by the owner's PIN) or EXPIRED (past the validity end, by
//! the service clock). REVOKED and EXPIRED are terminal.
//!
//! The stored state lags the clock: a mandate whose end has passed reads EXPIRED at once
//! ([`effective_state`]), and a sweeper stores it later.

use chrono::{DateTime, Duration, Utc};
use kuajing_proto::authorization::v1::MandateState;

/// The state a mandate is in at `now`: a live (pending or active) mandate whose
/// `expire_at` has passed is EXPIRED; REVOKED stays REVOKED.
pub fn effective_state(
    stored: MandateState,
    expire_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> MandateState {
    match stored {
        MandateState::PendingVerification | MandateState::Active if expire_at <= now => {
            MandateState::Expired
        }
        other => other,
    }
}

/// When a mandate last changed state as seen at `now`: an expiry not yet stored happened at
/// `expire_at`.
pub fn effective_update_time(
    stored: MandateState,
    updated_at: DateTime<Utc>,
    expire_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    if stored != MandateState::Expired
        && effective_state(stored, expire_at, now) == MandateState::Expired
    {
        updated_at.max(expire_at)
    } else {
        updated_at
    }
}

/// Why a mandate cannot be activated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivateRefusal {
    /// It is not PENDING_VERIFICATION (it is in the given state).
    NotPending(MandateState),
    /// Its validity end has passed.
    Expired,
}

/// Checks that a mandate may be activated at `now`.
pub fn check_activate(
    stored: MandateState,
    expire_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ActivateRefusal> {
    match effective_state(stored, expire_at, now) {
        MandateState::PendingVerification => Ok(()),
        MandateState::Expired => Err(ActivateRefusal::Expired),
        other => Err(ActivateRefusal::NotPending(other)),
    }
}

/// Why a mandate cannot be revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokeRefusal {
    /// It is already REVOKED.
    AlreadyRevoked,
    /// It is EXPIRED.
    Expired,
}

/// Checks that a mandate may be revoked at `now` (PENDING_VERIFICATION or ACTIVE).
pub fn check_revoke(
    stored: MandateState,
    expire_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), RevokeRefusal> {
    match effective_state(stored, expire_at, now) {
        MandateState::Revoked => Err(RevokeRefusal::AlreadyRevoked),
        MandateState::Expired => Err(RevokeRefusal::Expired),
        _ => Ok(()),
    }
}

/// The validity end of a new mandate: the requested one, or the configured default. It must
/// be after `now` and no later than `now + max_validity`.
pub fn resolve_expire_time(
    requested: Option<DateTime<Utc>>,
    default: DateTime<Utc>,
    max_validity: Duration,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    let end = requested.unwrap_or(default);
    let latest = now + max_validity;
    if end <= now {
        return Err(if requested.is_some() {
            "must be in the future".to_owned()
        } else {
            "is required: the configured default validity end has passed".to_owned()
        });
    }
    if end > latest {
        return Err(format!(
            "must not be after {} (the configured maximum validity of {} days)",
            latest.to_rfc3339(),
            max_validity.num_days()
        ));
    }
    Ok(end)
}

/// One of a marketplace member's mandates, as [`pick_for_member`] needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate<Id> {
    /// The mandate.
    pub id: Id,
    /// Its stored state.
    pub state: MandateState,
    /// Its validity end.
    pub expire_at: DateTime<Utc>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// The mandate a decision for a marketplace member judges: its ACTIVE mandate (by the clock)
/// if it has one, else its most recent one (so the reason says revoked, expired or not
/// active); `None` when it never had one.
pub fn pick_for_member<Id: Copy + Ord>(
    candidates: &[Candidate<Id>],
    now: DateTime<Utc>,
) -> Option<Id> {
    let active = candidates
        .iter()
        .filter(|c| effective_state(c.state, c.expire_at, now) == MandateState::Active)
        .max_by_key(|c| (c.created_at, c.id));
    active
        .or_else(|| candidates.iter().max_by_key(|c| (c.created_at, c.id)))
        .map(|c| c.id)
}

/// A code for a verification is exactly 6 ASCII digits (codes and PINs alike).
pub fn is_six_digits(s: &str) -> bool {
    s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn live_mandates_expire_by_the_clock_terminal_ones_stay() {
        use MandateState::*;
        let end = t(100);
        for (stored, before, at_end) in [
            (PendingVerification, PendingVerification, Expired),
            (Active, Active, Expired),
            (Revoked, Revoked, Revoked),
            (Expired, Expired, Expired),
        ] {
            assert_eq!(effective_state(stored, end, t(99)), before, "{stored:?}");
            assert_eq!(effective_state(stored, end, t(100)), at_end, "{stored:?}");
            assert_eq!(effective_state(stored, end, t(5000)), at_end, "{stored:?}");
        }
    }

    #[test]
    fn the_update_time_of_an_unstored_expiry_is_the_end() {
        use MandateState::*;
        assert_eq!(effective_update_time(Active, t(10), t(100), t(50)), t(10));
        assert_eq!(effective_update_time(Active, t(10), t(100), t(150)), t(100));
        assert_eq!(effective_update_time(Revoked, t(10), t(100), t(150)), t(10));
        assert_eq!(
            effective_update_time(Expired, t(120), t(100), t(150)),
            t(120)
        );
    }

    #[test]
    fn only_a_live_pending_mandate_activates() {
        use MandateState::*;
        let end = t(100);
        assert_eq!(check_activate(PendingVerification, end, t(0)), Ok(()));
        assert_eq!(
            check_activate(PendingVerification, end, t(100)),
            Err(ActivateRefusal::Expired)
        );
        assert_eq!(
            check_activate(Active, end, t(0)),
            Err(ActivateRefusal::NotPending(Active))
        );
        assert_eq!(
            check_activate(Revoked, end, t(0)),
            Err(ActivateRefusal::NotPending(Revoked))
        );
        assert_eq!(
            check_activate(Active, end, t(101)),
            Err(ActivateRefusal::Expired)
        );
    }

    #[test]
    fn pending_and_active_mandates_revoke_others_refuse() {
        use MandateState::*;
        let end = t(100);
        assert_eq!(check_revoke(PendingVerification, end, t(0)), Ok(()));
        assert_eq!(check_revoke(Active, end, t(0)), Ok(()));
        assert_eq!(
            check_revoke(Revoked, end, t(0)),
            Err(RevokeRefusal::AlreadyRevoked)
        );
        assert_eq!(
            check_revoke(Expired, end, t(0)),
            Err(RevokeRefusal::Expired)
        );
        assert_eq!(
            check_revoke(Active, end, t(100)),
            Err(RevokeRefusal::Expired)
        );
    }

    #[test]
    fn validity_end_defaults_and_bounds() {
        let max = Duration::days(10);
        let default = t(86_400 * 5);
        assert_eq!(resolve_expire_time(None, default, max, t(0)), Ok(default));
        assert_eq!(
            resolve_expire_time(Some(t(1)), default, max, t(0)),
            Ok(t(1))
        );
        assert!(resolve_expire_time(Some(t(0)), default, max, t(0)).is_err());
        assert!(resolve_expire_time(Some(t(-1)), default, max, t(0)).is_err());
        assert_eq!(
            resolve_expire_time(Some(t(86_400 * 10)), default, max, t(0)),
            Ok(t(86_400 * 10))
        );
        assert!(resolve_expire_time(Some(t(86_400 * 10 + 1)), default, max, t(0)).is_err());
        // A default that has passed needs an explicit end.
        assert!(resolve_expire_time(None, t(0), max, t(1)).is_err());
    }

    #[test]
    fn a_member_pays_with_its_active_mandate_else_its_latest_is_judged() {
        use MandateState::*;
        let c = |id: u8, state, end: i64, created: i64| Candidate {
            id,
            state,
            expire_at: t(end),
            created_at: t(created),
        };
        assert_eq!(pick_for_member::<u8>(&[], t(0)), None);
        let list = [
            c(1, Revoked, 1000, 1),
            c(2, Active, 1000, 2),
            c(3, PendingVerification, 1000, 3),
        ];
        assert_eq!(pick_for_member(&list, t(10)), Some(2));
        // Once the active one has expired, the latest (pending) one is judged.
        assert_eq!(pick_for_member(&list, t(1000)), Some(3));
        let revoked_last = [c(1, Active, 5, 1), c(2, Revoked, 1000, 2)];
        assert_eq!(pick_for_member(&revoked_last, t(10)), Some(2));
        assert_eq!(pick_for_member(&revoked_last, t(1)), Some(1));
    }

    #[test]
    fn codes_are_six_ascii_digits() {
        assert!(is_six_digits("012345"));
        for bad in ["", "12345", "1234567", "12345a", "１２３４５６", " 12345"] {
            assert!(!is_six_digits(bad), "{bad:?}");
        }
    }
}
