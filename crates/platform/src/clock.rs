//! Time as the services see it. Production uses the system clock; tests use a
//! [`Clock::offset`] clock they can move forward, so expiry is tested without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

/// A clock shared by every part of a service.
#[derive(Clone, Debug)]
pub struct Clock {
    /// Microseconds added to the system time; only tests change it.
    offset_micros: Arc<AtomicI64>,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock {
            offset_micros: Arc::new(AtomicI64::new(0)),
        }
    }

    /// The current time (system time plus any test offset), at microsecond precision
    /// like Postgres `timestamptz`.
    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now() + Duration::microseconds(self.offset_micros.load(Ordering::Relaxed));
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }

    /// Moves this clock (and every clone of it) forward by `by`. For tests.
    pub fn advance(&self, by: std::time::Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.offset_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_every_clone() {
        let clock = Clock::system();
        let other = clock.clone();
        let before = other.now();
        clock.advance(std::time::Duration::from_secs(3600));
        let after = other.now();
        assert!(after - before >= Duration::seconds(3600));
        assert!(after - before < Duration::seconds(3700));
    }
}
