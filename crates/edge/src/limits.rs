//! Rate limits inside edge (not a `Server::layer`, so health and reflection stay free):
//! token buckets per client IP, per caller, per caller for money-moving RPCs, per IP for
//! onboarding before a session, and per login identifier or account. An empty bucket
//! answers RESOURCE_EXHAUSTED RATE_LIMITED with RetryInfo and the bucket's scope.

use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::Instant;

use tonic::Status;
use uuid::Uuid;

use crate::domain::rate::{Buckets, Rate};
use crate::errors;
use crate::settings::Settings;

/// The buckets of one edge process.
#[derive(Debug)]
pub struct Limiter {
    origin: Instant,
    ip: Mutex<Buckets<IpAddr>>,
    onboarding: Mutex<Buckets<IpAddr>>,
    caller: Mutex<Buckets<Uuid>>,
    money: Mutex<Buckets<Uuid>>,
    identifier: Mutex<Buckets<String>>,
}

fn admit<K: Hash + Eq + Clone>(
    buckets: &Mutex<Buckets<K>>,
    key: &K,
    now: u128,
    scope: &str,
) -> Result<(), Status> {
    let mut b = buckets.lock().unwrap_or_else(|p| p.into_inner());
    b.admit(key, now)
        .map_err(|retry| errors::rate_limited(scope, retry))
}

/// The address used for a request whose peer is unknown.
const UNKNOWN: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

impl Limiter {
    /// Full buckets at the configured rates.
    pub fn new(settings: &Settings) -> Self {
        fn b<K: Hash + Eq + Clone>(rate: Rate) -> Mutex<Buckets<K>> {
            Mutex::new(Buckets::new(rate))
        }
        Limiter {
            origin: Instant::now(),
            ip: b(settings.ip_rate),
            onboarding: b(settings.onboarding_rate),
            caller: b(settings.caller_rate),
            money: b(settings.money_rate),
            identifier: b(settings.identifier_rate),
        }
    }

    fn now(&self) -> u128 {
        self.origin.elapsed().as_nanos()
    }

    /// Every request, by client IP.
    pub fn ip(&self, ip: Option<IpAddr>) -> Result<(), Status> {
        admit(&self.ip, &ip.unwrap_or(UNKNOWN), self.now(), "ip")
    }

    /// Onboarding requests without a session, by client IP.
    pub fn onboarding(&self, ip: Option<IpAddr>) -> Result<(), Status> {
        admit(&self.onboarding, &ip.unwrap_or(UNKNOWN), self.now(), "ip")
    }

    /// Every authenticated request, by caller; money-moving ones also in their own bucket.
    pub fn caller(&self, caller: Uuid, money: bool) -> Result<(), Status> {
        let now = self.now();
        admit(&self.caller, &caller, now, "caller")?;
        if money {
            admit(&self.money, &caller, now, "caller")?;
        }
        Ok(())
    }

    /// Login by identifier (compared case-insensitively), codes by account.
    pub fn identifier(&self, kind: &str, identifier: &str) -> Result<(), Status> {
        let key = format!("{kind}:{}", identifier.trim().to_lowercase());
        admit(&self.identifier, &key, self.now(), "identifier")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        crate::settings::current(&[]).expect("default settings")
    }

    #[test]
    fn a_callers_burst_is_forty_then_retry_info_says_when() {
        let limiter = Limiter::new(&settings());
        let caller = Uuid::now_v7();
        for i in 0..40 {
            assert!(limiter.caller(caller, false).is_ok(), "request {i}");
        }
        let refused = limiter.caller(caller, false).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        // Another caller is not affected; money-moving RPCs have a bucket of their own.
        let other = Uuid::now_v7();
        for _ in 0..5 {
            assert!(limiter.caller(other, true).is_ok());
        }
        assert!(limiter.caller(other, true).is_err());
    }

    #[test]
    fn onboarding_and_identifiers_per_minute() {
        let limiter = Limiter::new(&settings());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..10 {
            assert!(limiter.onboarding(Some(ip)).is_ok());
            assert!(limiter.identifier("login", "Alice@Example.com").is_ok());
        }
        assert!(limiter.onboarding(Some(ip)).is_err());
        assert!(limiter.identifier("login", " alice@example.com").is_err());
        assert!(
            limiter
                .onboarding(Some("203.0.113.8".parse().unwrap()))
                .is_ok()
        );
        assert!(limiter.ip(None).is_ok());
    }
}
