//! Deadlines of downstream calls: the client's remaining deadline (its `grpc-timeout`)
//! less a margin for edge's own answer, capped by the per-call budget.

use std::time::Duration;

/// Time kept back from the client's deadline for edge to answer.
pub const MARGIN: Duration = Duration::from_millis(50);

/// Parses a `grpc-timeout` header value: up to 8 digits and a unit (H, M, S, m, u, n).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let value = value.trim();
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

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

/// The pause before retry `attempt` (1, 2, ...) of an idempotent call: 25 ms doubling,
/// at most 400 ms.
pub fn backoff(attempt: u32) -> Duration {
    let factor = 1u64 << attempt.saturating_sub(1).min(4);
    Duration::from_millis(25 * factor)
}

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

    #[test]
    fn backoff_doubles_then_stops_growing() {
        let waits: Vec<u64> = (1..=7).map(|a| backoff(a).as_millis() as u64).collect();
        assert_eq!(waits, [25, 50, 100, 200, 400, 400, 400]);
    }
}
