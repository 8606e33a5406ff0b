//! WatchPayment's rules: which payment is news to the client, when the stream ends, and
//! how long it waits. Edge keeps nothing per stream; the client's `after_update_time` is
//! the whole of its resumption state, so any replica resumes any stream.

use std::time::Duration;

use kuajing_proto::order::v1::{Payment, PaymentState};
use prost_types::Timestamp;

/// How often a stream reads the payment.
pub const POLL_EVERY: Duration = Duration::from_millis(200);
/// How long a stream named by request_id waits for its payment to exist.
pub const APPEAR_WITHIN: Duration = Duration::from_secs(10);
/// How long one stream lasts before it ends OK (the client resumes it).
pub const MAX_STREAM: Duration = Duration::from_secs(600);

/// SUCCEEDED or FAILED: the stream ends after sending it.
pub fn is_terminal(p: &Payment) -> bool {
    matches!(
        PaymentState::try_from(p.state),
        Ok(PaymentState::Succeeded | PaymentState::Failed)
    )
}

/// Whether `now` goes to a client that was last sent `sent` on this stream, or, resuming,
/// saw the payment as of `after`. A terminal payment always goes first on a resumed stream
/// (its client may have missed the end).
pub fn is_news(now: &Payment, sent: Option<&Payment>, after: Option<&Timestamp>) -> bool {
    match (sent, after) {
        (Some(last), _) => now != last,
        (None, None) => true,
        (None, Some(after)) => is_terminal(now) || later(now.update_time.as_ref(), after),
    }
}

fn later(t: Option<&Timestamp>, than: &Timestamp) -> bool {
    t.is_some_and(|t| (t.seconds, t.nanos) > (than.seconds, than.nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(state: PaymentState, seconds: i64) -> Payment {
        Payment {
            state: state as i32,
            update_time: Some(Timestamp { seconds, nanos: 0 }),
            ..Default::default()
        }
    }

    #[test]
    fn a_fresh_stream_sends_the_payment_as_it_is() {
        assert!(is_news(&payment(PaymentState::Pending, 1), None, None));
    }

    #[test]
    fn a_stream_sends_only_changes() {
        let first = payment(PaymentState::InProgress, 1);
        assert!(!is_news(&first, Some(&first), None));
        assert!(is_news(
            &payment(PaymentState::InProgress, 2),
            Some(&first),
            None
        ));
    }

    #[test]
    fn a_resumed_stream_skips_what_the_client_saw_but_never_the_end() {
        let seen = Timestamp {
            seconds: 5,
            nanos: 0,
        };
        assert!(!is_news(
            &payment(PaymentState::InProgress, 5),
            None,
            Some(&seen)
        ));
        assert!(!is_news(
            &payment(PaymentState::InProgress, 4),
            None,
            Some(&seen)
        ));
        assert!(is_news(
            &payment(PaymentState::InProgress, 6),
            None,
            Some(&seen)
        ));
        assert!(is_news(
            &payment(PaymentState::Succeeded, 5),
            None,
            Some(&seen)
        ));
    }

    #[test]
    fn only_succeeded_and_failed_end_a_stream() {
        assert!(is_terminal(&payment(PaymentState::Succeeded, 1)));
        assert!(is_terminal(&payment(PaymentState::Failed, 1)));
        assert!(!is_terminal(&payment(PaymentState::Compensating, 1)));
        assert!(!is_terminal(&payment(PaymentState::Pending, 1)));
    }
}
