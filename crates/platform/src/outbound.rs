//! The one policy for every call a service makes to another: each attempt's deadline (the
//! caller's remaining time, capped), which failures are transient, and retries, which only
//! a call that is safe to repeat gets (a read, or a write idempotent by its request id,
//! repeated with the same id). The channel under it ([`crate::balance`]) sends each attempt
//! to an instance of the peer; the service's credential and the trace context ride on it.

use std::future::Future;
use std::time::{Duration, Instant};

use tonic::{Code, Status};
use tonic_types::StatusExt;

/// How calls to peers are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallPolicy {
    /// The longest one attempt may take.
    pub attempt_deadline: Duration,
    /// Attempts of a call safe to repeat (the first included).
    pub attempts: u32,
    /// The pause before the first retry; each later pause is three times the previous.
    pub first_backoff: Duration,
}

/// The platform's policy: 5 s per attempt, 3 attempts, 100 ms then 300 ms between them.
pub const POLICY: CallPolicy = CallPolicy {
    attempt_deadline: Duration::from_secs(5),
    attempts: 3,
    first_backoff: Duration::from_millis(100),
};

impl CallPolicy {
    /// The longest a call may take with every attempt and pause: what a lease held across
    /// a call must outlast.
    pub fn budget(&self) -> Duration {
        let mut total = Duration::ZERO;
        let mut pause = self.first_backoff;
        for attempt in 0..self.attempts {
            total = total.saturating_add(self.attempt_deadline);
            if attempt + 1 < self.attempts {
                total = total.saturating_add(pause);
                pause = pause.saturating_mul(3);
            }
        }
        total
    }
}

/// Whether a call may be repeated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    /// A read, or a write idempotent by a request id that stays the same on every attempt.
    Safe,
    /// Anything else: one attempt.
    Never,
}

/// True for a failure that says nothing about the request (the peer is down, slow,
/// overloaded or failed inside): the call may or may not have happened, and a repeat of a
/// call safe to repeat may succeed. A peer's business refusal (an ErrorInfo reason, other
/// than on UNAVAILABLE, which always invites a retry) is an answer, not a transient failure.
pub fn is_transient(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Cancelled
        | Code::Unknown
        | Code::Internal
        | Code::Aborted
        | Code::DataLoss => true,
        Code::ResourceExhausted => !answered(status),
        _ => false,
    }
}

/// True when the peer answered with a reason of its own (ErrorInfo), i.e. it decided.
pub fn answered(status: &Status) -> bool {
    status
        .get_details_error_info()
        .is_some_and(|i| !i.reason.is_empty())
}

/// The deadline of an attempt: the caller's remaining time (`None`: none set), capped at
/// `cap`; `None` when the caller's time is up.
pub fn attempt_timeout(remaining: Option<Duration>, cap: Duration) -> Option<Duration> {
    match remaining {
        None => Some(cap),
        Some(r) if r.is_zero() => None,
        Some(r) => Some(r.min(cap)),
    }
}

/// The time left before `deadline` (`None`: no deadline).
pub fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

/// The timeout a request's `grpc-timeout` header sets; `None` when it has none, it is
/// malformed, or it overflows (checked arithmetic: an absurd value is no timeout).
pub fn timeout_of(metadata: &tonic::metadata::MetadataMap) -> Option<Duration> {
    parse_grpc_timeout(metadata.get("grpc-timeout")?.to_str().ok()?)
}

/// Parses a `grpc-timeout` value: up to 8 digits and a unit (H, M, S, m, u, n).
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

/// The deadline a request's `grpc-timeout` header sets, from now.
pub fn deadline_of(metadata: &tonic::metadata::MetadataMap) -> Option<Instant> {
    Instant::now().checked_add(timeout_of(metadata)?)
}

/// Makes a call with `policy`: each attempt is given its deadline (`attempt(timeout)`),
/// the caller's `deadline` included; a transient failure of a call safe to repeat is
/// retried after a pause while attempts and time remain. Returns the last answer.
pub async fn call<T, F, Fut>(
    policy: &CallPolicy,
    deadline: Option<Instant>,
    repeat: Repeat,
    mut attempt: F,
) -> Result<T, Status>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let attempts = match repeat {
        Repeat::Safe => policy.attempts.max(1),
        Repeat::Never => 1,
    };
    let mut pause = policy.first_backoff;
    let mut made = 0;
    loop {
        let Some(timeout) = attempt_timeout(remaining(deadline), policy.attempt_deadline) else {
            return Err(Status::deadline_exceeded(
                "the caller's deadline passed before the call",
            ));
        };
        made += 1;
        // Boxed: a client call's future (codec, balancer, retries of the stack below) is
        // large, and held inline it would make every caller's future as large, copied
        // whole each time one is moved (measured: a fifth of order's instructions were
        // such copies under checkout load).
        match Box::pin(attempt(timeout)).await {
            Err(s) if made < attempts && is_transient(&s) => {
                let left = remaining(deadline).unwrap_or(Duration::MAX);
                if left <= pause {
                    return Err(s);
                }
                tokio::time::sleep(pause).await;
                pause = pause.saturating_mul(3);
            }
            other => return other,
        }
    }
}

/// Sends `message` with `send` (a client method; `client` is cloned per attempt) by the
/// platform's policy, for a call safe to repeat: the common case of one peer call.
pub async fn unary<C, M, R, F, Fut>(client: &C, message: M, send: F) -> Result<R, Status>
where
    C: Clone,
    M: Clone,
    F: Fn(C, tonic::Request<M>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<R>, Status>>,
{
    call(&POLICY, None, Repeat::Safe, |timeout| {
        let mut request = tonic::Request::new(message.clone());
        request.set_timeout(timeout);
        send(client.clone(), request)
    })
    .await
    .map(tonic::Response::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn the_budget_covers_every_attempt_and_pause() {
        assert_eq!(POLICY.budget(), Duration::from_millis(15_400));
    }

    #[test]
    fn what_is_transient() {
        assert!(is_transient(&Status::unavailable("down")));
        assert!(is_transient(&Status::deadline_exceeded("slow")));
        assert!(is_transient(&Status::resource_exhausted("shed")));
        assert!(!is_transient(&Status::not_found("no")));
        assert!(!is_transient(&Status::failed_precondition("no")));
        let limited = crate::ErrorDomain("x.kuajing").refuse(
            Code::ResourceExhausted,
            "RATE_LIMITED",
            "slow down",
        );
        assert!(!is_transient(&limited), "a rate limit is an answer");
    }

    #[test]
    fn deadlines_are_capped_and_checked() {
        let cap = Duration::from_secs(5);
        assert_eq!(attempt_timeout(None, cap), Some(cap));
        assert_eq!(
            attempt_timeout(Some(Duration::from_secs(1)), cap),
            Some(Duration::from_secs(1))
        );
        assert_eq!(attempt_timeout(Some(Duration::ZERO), cap), None);
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("x"), None);
        assert_eq!(parse_grpc_timeout(""), None);
        assert_eq!(parse_grpc_timeout("123456789S"), None, "at most 8 digits");
        let mut md = tonic::metadata::MetadataMap::new();
        md.insert("grpc-timeout", "250m".parse().unwrap());
        let d = deadline_of(&md).expect("a deadline");
        assert!(d > Instant::now() && d <= Instant::now() + Duration::from_millis(250));
        md.insert("grpc-timeout", "12x".parse().unwrap());
        assert_eq!(deadline_of(&md), None);
    }

    #[tokio::test]
    async fn only_calls_safe_to_repeat_are_retried() {
        let tries = AtomicU32::new(0);
        let r: Result<(), Status> = call(&POLICY, None, Repeat::Never, |_| async {
            tries.fetch_add(1, Ordering::Relaxed);
            Err(Status::unavailable("down"))
        })
        .await;
        assert!(r.is_err());
        assert_eq!(tries.load(Ordering::Relaxed), 1);

        let tries = AtomicU32::new(0);
        let r = call(&POLICY, None, Repeat::Safe, |timeout| {
            let n = tries.fetch_add(1, Ordering::Relaxed);
            async move {
                assert_eq!(timeout, POLICY.attempt_deadline);
                if n < 2 {
                    Err(Status::unavailable("down"))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(r.unwrap(), 2);

        // A refusal is final.
        let tries = AtomicU32::new(0);
        let r: Result<(), Status> = call(&POLICY, None, Repeat::Safe, |_| async {
            tries.fetch_add(1, Ordering::Relaxed);
            Err(Status::failed_precondition("no"))
        })
        .await;
        assert!(r.is_err());
        assert_eq!(tries.load(Ordering::Relaxed), 1);

        // No time left: no attempt.
        let r: Result<(), Status> = call(&POLICY, Some(Instant::now()), Repeat::Safe, |_| async {
            Ok(())
        })
        .await;
        assert_eq!(r.unwrap_err().code(), Code::DeadlineExceeded);
    }
}
