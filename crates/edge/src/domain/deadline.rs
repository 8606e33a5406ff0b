//! Deadlines of downstream calls: the client's remaining deadline (its `grpc-timeout`)
//! less a margin for edge's own answer, capped by the per-call budget.

use std::time::Duration;

/// Time kept back from the client's deadline for edge to answer.
pub const MARGIN: Duration = Duration::from_millis(50);

pub use kuajing_platform::outbound::parse_grpc_timeout;

/// The deadline of one downstream call, given what is left of the client's deadline
/// (`None`: the client set none) and the call's budget; `None` when the client's deadline
/// leaves no time (the call is not made).
pub fn downstream(remaining: Option<Duration>, budget: Duration) -> Option<Duration> {
    match remaining {
        None => Some(budget),
        Some(left) => left
            .checked_sub(MARGIN)
            .filter(|d| !d.is_zero())
            .map(|d| d.min(budget)),
    }
}

/// The pause before the first retry of a call that got no answer (later pauses grow as
/// the platform's call policy says).
pub const FIRST_BACKOFF: Duration = Duration::from_millis(25);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_in_every_unit() {
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(
            parse_grpc_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in ["", "S", "10", "1s", "123456789S", "-1S", "1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_client_deadline_less_the_margin_capped_by_the_budget() {
        let budget = Duration::from_secs(5);
        assert_eq!(downstream(None, budget), Some(budget));
        assert_eq!(
            downstream(Some(Duration::from_secs(60)), budget),
            Some(budget)
        );
        assert_eq!(
            downstream(Some(Duration::from_millis(1050)), budget),
            Some(Duration::from_secs(1))
        );
        assert_eq!(downstream(Some(Duration::from_millis(50)), budget), None);
        assert_eq!(downstream(Some(Duration::from_millis(10)), budget), None);
    }
}
