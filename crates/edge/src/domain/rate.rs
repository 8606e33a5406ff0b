//! Token buckets, one per key (a caller, an IP, an identifier), as the generic cell rate
//! algorithm: each key keeps only its "theoretical arrival time", in integer nanoseconds,
//! so a bucket costs one map entry and no floating point.
//!
//! A rate of `count` per `period` with a `burst` admits `burst` requests at once, then one
//! every `period / count`. A refused request learns how long until one would be admitted.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

/// `count` requests per `period`, in bursts of up to `burst`. A count of 0 means no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests per period; 0 disables the limit.
    pub count: u32,
    /// The period.
    pub period: Duration,
    /// The most requests admitted at once (at least 1).
    pub burst: u32,
}

impl Rate {
    /// `count` per second, bursts of `burst`.
    pub const fn per_second(count: u32, burst: u32) -> Rate {
        Rate {
            count,
            period: Duration::from_secs(1),
            burst,
        }
    }

    /// `count` per minute, bursts of `burst`.
    pub const fn per_minute(count: u32, burst: u32) -> Rate {
        Rate {
            count,
            period: Duration::from_secs(60),
            burst,
        }
    }

    /// No limit.
    pub const fn unlimited() -> Rate {
        Rate::per_second(0, 1)
    }

    /// Nanoseconds between two admitted requests at the steady rate.
    fn interval(&self) -> u128 {
        self.period.as_nanos() / u128::from(self.count.max(1))
    }

    /// How far ahead of now a key's arrival time may run.
    fn tolerance(&self) -> u128 {
        self.interval() * u128::from(self.burst.max(1) - 1)
    }
}

/// How many admissions pass between two sweeps of idle keys.
const SWEEP_EVERY: u64 = 4096;

/// The buckets of one rate, by key.
#[derive(Debug)]
pub struct Buckets<K> {
    rate: Rate,
    arrival: HashMap<K, u128>,
    since_sweep: u64,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    /// Empty buckets (every key starts full).
    pub fn new(rate: Rate) -> Self {
        Buckets {
            rate,
            arrival: HashMap::new(),
            since_sweep: 0,
        }
    }

    /// Admits one request of `key` at `now` (nanoseconds since any fixed origin, never
    /// decreasing), or answers how long until one would be admitted.
    pub fn admit(&mut self, key: &K, now: u128) -> Result<(), Duration> {
        if self.rate.count == 0 {
            return Ok(());
        }
        self.since_sweep += 1;
        if self.since_sweep >= SWEEP_EVERY {
            self.sweep(now);
        }
        let tat = self.arrival.get(key).copied().unwrap_or(now).max(now);
        let tolerance = self.rate.tolerance();
        if tat > now + tolerance {
            let wait = tat - tolerance - now;
            return Err(Duration::from_nanos(
                u64::try_from(wait).unwrap_or(u64::MAX),
            ));
        }
        self.arrival.insert(key.clone(), tat + self.rate.interval());
        Ok(())
    }

    /// Forgets keys whose bucket is full again (they behave exactly like new keys).
    pub fn sweep(&mut self, now: u128) {
        self.since_sweep = 0;
        self.arrival.retain(|_, tat| *tat > now);
    }

    /// Keys currently remembered.
    pub fn len(&self) -> usize {
        self.arrival.len()
    }

    /// True when no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.arrival.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u128 = 1_000_000;
    const S: u128 = 1_000 * MS;

    #[test]
    fn a_burst_then_the_steady_rate() {
        // 20/s with a burst of 40: 40 at once, then one every 50 ms.
        let mut b = Buckets::new(Rate::per_second(20, 40));
        let t0 = 10 * S;
        for i in 0..40 {
            assert!(b.admit(&"a", t0).is_ok(), "request {i}");
        }
        assert_eq!(b.admit(&"a", t0), Err(Duration::from_millis(50)));
        assert_eq!(b.admit(&"a", t0 + 20 * MS), Err(Duration::from_millis(30)));
        assert!(b.admit(&"a", t0 + 50 * MS).is_ok());
        assert!(b.admit(&"a", t0 + 50 * MS).is_err());
        // Another key has its own bucket.
        assert!(b.admit(&"b", t0).is_ok());
        // After two idle seconds the bucket is full again.
        for _ in 0..40 {
            assert!(b.admit(&"a", t0 + 3 * S).is_ok());
        }
        assert!(b.admit(&"a", t0 + 3 * S).is_err());
    }

    #[test]
    fn per_minute_limits_answer_in_seconds() {
        // Onboarding: 10 a minute per IP.
        let mut b = Buckets::new(Rate::per_minute(10, 10));
        for _ in 0..10 {
            assert!(b.admit(&1u8, 0).is_ok());
        }
        assert_eq!(b.admit(&1u8, 0), Err(Duration::from_secs(6)));
        assert_eq!(b.admit(&1u8, 2 * S), Err(Duration::from_secs(4)));
        assert!(b.admit(&1u8, 6 * S).is_ok());
    }

    #[test]
    fn unlimited_admits_everything_and_sweeps_forget_full_buckets() {
        let mut b = Buckets::new(Rate::unlimited());
        for _ in 0..10_000 {
            assert!(b.admit(&0u8, 0).is_ok());
        }
        assert!(b.is_empty());
        let mut b = Buckets::new(Rate::per_second(1, 1));
        b.admit(&1u32, 0).unwrap();
        b.admit(&2u32, 0).unwrap();
        assert_eq!(b.len(), 2);
        b.sweep(S / 2);
        assert_eq!(b.len(), 2);
        b.sweep(S);
        assert!(b.is_empty());
    }

    proptest! {
        /// Over any window, no key is admitted more than burst + rate * window.
        #[test]
        fn never_more_than_burst_plus_rate(
            count in 1u32..50,
            burst in 1u32..50,
            gaps in proptest::collection::vec(0u64..200, 1..400),
        ) {
            let rate = Rate::per_second(count, burst);
            let mut b = Buckets::new(rate);
            let mut now: u128 = 0;
            let mut admitted: u128 = 0;
            for gap in gaps {
                now += u128::from(gap) * MS;
                if b.admit(&(), now).is_ok() {
                    admitted += 1;
                }
            }
            let allowed = u128::from(burst) + now * u128::from(count) / S + 1;
            prop_assert!(admitted <= allowed, "{admitted} > {allowed}");
        }

        /// A refused request is admitted exactly when told.
        #[test]
        fn the_retry_delay_is_exact(count in 1u32..50, burst in 1u32..10) {
            let mut b = Buckets::new(Rate::per_second(count, burst));
            let mut now = 5 * S;
            while b.admit(&(), now).is_ok() {}
            let wait = b.admit(&(), now).unwrap_err();
            let wait = wait.as_nanos();
            prop_assert!(b.admit(&(), now + wait - 1).is_err());
            now += wait;
            prop_assert!(b.admit(&(), now).is_ok());
        }
    }
}
