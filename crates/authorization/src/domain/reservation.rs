//! Reservations: RESERVED ends in exactly one of CONFIRMED (the payment succeeded; counted
//! for good) or RELEASED (the payment failed; the amount goes back to the day's limit once).
//! Confirming a CONFIRMED reservation, or releasing a RELEASED one, changes nothing.

use kuajing_proto::authorization::v1::ReservationState;

/// What a confirm or release does to a reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Move it to the new state (and move its amount on the day's counters).
    Change,
    /// It is already there: answer it unchanged.
    Unchanged,
}

/// Why a reservation cannot end the way asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservationRefusal {
    /// Confirming a RELEASED reservation.
    Released,
    /// Releasing a CONFIRMED reservation.
    AlreadyConfirmed,
}

/// Confirming a reservation in `state`.
pub fn confirm(state: ReservationState) -> Result<Step, ReservationRefusal> {
    match state {
        ReservationState::Released => Err(ReservationRefusal::Released),
        ReservationState::Confirmed => Ok(Step::Unchanged),
        ReservationState::Reserved | ReservationState::Unspecified => Ok(Step::Change),
    }
}

/// Releasing a reservation in `state`.
pub fn release(state: ReservationState) -> Result<Step, ReservationRefusal> {
    match state {
        ReservationState::Confirmed => Err(ReservationRefusal::AlreadyConfirmed),
        ReservationState::Released => Ok(Step::Unchanged),
        ReservationState::Reserved | ReservationState::Unspecified => Ok(Step::Change),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReservationState::*;

    #[test]
    fn a_reservation_ends_once() {
        assert_eq!(confirm(Reserved), Ok(Step::Change));
        assert_eq!(confirm(Confirmed), Ok(Step::Unchanged));
        assert_eq!(confirm(Released), Err(ReservationRefusal::Released));
        assert_eq!(release(Reserved), Ok(Step::Change));
        assert_eq!(release(Released), Ok(Step::Unchanged));
        assert_eq!(
            release(Confirmed),
            Err(ReservationRefusal::AlreadyConfirmed)
        );
    }

    #[test]
    fn the_limit_comes_back_exactly_once_however_often_release_runs() {
        // Model: the day's counter gives the amount back only on a Change.
        let mut state = Reserved;
        let mut given_back = 0;
        for _ in 0..5 {
            if release(state) == Ok(Step::Change) {
                given_back += 1;
                state = Released;
            }
        }
        assert_eq!(given_back, 1);
        assert_eq!(confirm(state), Err(ReservationRefusal::Released));
    }
}
