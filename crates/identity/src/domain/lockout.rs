//! Lockout after repeated failures, shared by login passwords and payment PINs: after
//! `max_failures` consecutive failures the secret is not even checked until the lock ends.

use chrono::{DateTime, Duration, Utc};

/// The policy: how many consecutive failures lock, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lockout {
    /// Consecutive failures that lock (the last of them already answers "locked").
    pub max_failures: i32,
    /// How long the lock lasts.
    pub lock_for: Duration,
}

/// What a failure leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Not locked yet: the new failure count and the attempts left before the lock.
    Counted {
        /// Consecutive failures so far.
        failures: i32,
        /// Failures still allowed before the lock.
        remaining: i32,
    },
    /// This failure locked it until the given time; the count starts again from zero
    /// after the lock.
    Locked {
        /// When the lock ends.
        until: DateTime<Utc>,
        /// The failure count that triggered it.
        failures: i32,
    },
}

impl Lockout {
    /// The time left on a lock at `now`, if locked.
    pub fn remaining(
        &self,
        locked_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<Duration> {
        locked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    /// Records one more failure after `failures` consecutive ones.
    pub fn fail(&self, failures: i32, now: DateTime<Utc>) -> AfterFailure {
        let failures = failures.saturating_add(1);
        if failures >= self.max_failures {
            AfterFailure::Locked {
                until: now + self.lock_for,
                failures,
            }
        } else {
            AfterFailure::Counted {
                failures,
                remaining: self.max_failures - failures,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fifth_failure_locks() {
        let policy = Lockout {
            max_failures: 5,
            lock_for: Duration::minutes(15),
        };
        let now = Utc::now();
        let mut failures = 0;
        for expected_remaining in [4, 3, 2, 1] {
            match policy.fail(failures, now) {
                AfterFailure::Counted {
                    failures: f,
                    remaining,
                } => {
                    assert_eq!(remaining, expected_remaining);
                    failures = f;
                }
                other => panic!("locked too early: {other:?}"),
            }
        }
        assert_eq!(
            policy.fail(failures, now),
            AfterFailure::Locked {
                until: now + Duration::minutes(15),
                failures: 5
            }
        );
    }

    #[test]
    fn a_lock_ends() {
        let policy = Lockout {
            max_failures: 5,
            lock_for: Duration::minutes(15),
        };
        let now = Utc::now();
        let until = now + Duration::minutes(15);
        assert_eq!(
            policy.remaining(Some(until), now),
            Some(Duration::minutes(15))
        );
        assert_eq!(policy.remaining(Some(until), until), None);
        assert_eq!(policy.remaining(None, now), None);
    }
}
