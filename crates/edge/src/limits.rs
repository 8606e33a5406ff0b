//! Rate limits inside edge (not a `Server::layer`, so health and reflection stay free):
//! token buckets per client IP, per caller, per caller for money-moving RPCs, per IP for
//! onboarding before a session, and per login identifier or account. An empty bucket
//! answers RESOURCE_EXHAUSTED RATE_LIMITED with RetryInfo and the bucket's scope.
//!
//! With a shared store configured (KJ_EDGE_RATE_LIMIT_URL) the buckets live there, so
//! every edge replica draws on the same ones; while the store does not answer, each
//! process's own buckets decide.

use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::Instant;

use tonic::Status;
use uuid::Uuid;

use crate::domain::rate::{Buckets, Rate};
use crate::errors;
use crate::settings::Settings;
use crate::shared_limits::Shared;

/// The buckets of one edge process (and the shared store, when configured).
#[derive(Debug)]
pub struct Limiter {
    origin: Instant,
    shared: Option<Shared>,
    rates: Rates,
    ip: Mutex<Buckets<IpAddr>>,
    onboarding: Mutex<Buckets<IpAddr>>,
    caller: Mutex<Buckets<Uuid>>,
    money: Mutex<Buckets<Uuid>>,
    identifier: Mutex<Buckets<String>>,
}

/// The rate of each bucket (what the shared store is asked with).
#[derive(Clone, Copy, Debug)]
struct Rates {
    ip: Rate,
    onboarding: Rate,
    caller: Rate,
    money: Rate,
    identifier: Rate,
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
            shared: settings
                .shared_limits
                .as_ref()
                .map(|(address, prefix)| Shared::new(address.clone(), prefix.clone())),
            rates: Rates {
                ip: settings.ip_rate,
                onboarding: settings.onboarding_rate,
                caller: settings.caller_rate,
                money: settings.money_rate,
                identifier: settings.identifier_rate,
            },
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

    /// One admission: in the shared store when there is one (falling back to this
    /// process's buckets when it does not answer), else here.
    async fn admit_in<K: Hash + Eq + Clone + std::fmt::Display>(
        &self,
        local: &Mutex<Buckets<K>>,
        bucket: &str,
        rate: Rate,
        key: &K,
        scope: &str,
    ) -> Result<(), Status> {
        if let Some(shared) = &self.shared {
            match shared.admit(bucket, &key.to_string(), rate).await {
                Ok(None) => return Ok(()),
                Ok(Some(wait)) => return Err(errors::rate_limited(scope, wait)),
                Err(e) => {
                    tracing::warn!(error = %e, "shared rate limits unavailable; this process's own decide")
                }
            }
        }
        admit(local, key, self.now(), scope)
    }

    /// Every request, by client IP.
    pub async fn ip(&self, ip: Option<IpAddr>) -> Result<(), Status> {
        let ip = ip.unwrap_or(UNKNOWN);
        self.admit_in(&self.ip, "ip", self.rates.ip, &ip, "ip")
            .await
    }

    /// Onboarding requests without a session, by client IP.
    pub async fn onboarding(&self, ip: Option<IpAddr>) -> Result<(), Status> {
        let ip = ip.unwrap_or(UNKNOWN);
        self.admit_in(
            &self.onboarding,
            "onboarding",
            self.rates.onboarding,
            &ip,
            "ip",
        )
        .await
    }

    /// Every authenticated request, by caller; money-moving ones also in their own bucket.
    pub async fn caller(&self, caller: Uuid, money: bool) -> Result<(), Status> {
        self.admit_in(&self.caller, "caller", self.rates.caller, &caller, "caller")
            .await?;
        if money {
            self.admit_in(&self.money, "money", self.rates.money, &caller, "caller")
                .await?;
        }
        Ok(())
    }

    /// Login by identifier (compared case-insensitively), codes by account.
    pub async fn identifier(&self, kind: &str, identifier: &str) -> Result<(), Status> {
        let key = format!("{kind}:{}", identifier.trim().to_lowercase());
        self.admit_in(
            &self.identifier,
            "identifier",
            self.rates.identifier,
            &key,
            "identifier",
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        crate::settings::current(&[]).expect("default settings")
    }

    #[tokio::test]
    async fn a_callers_burst_is_forty_then_retry_info_says_when() {
        let limiter = Limiter::new(&settings());
        let caller = Uuid::now_v7();
        for i in 0..40 {
            assert!(limiter.caller(caller, false).await.is_ok(), "request {i}");
        }
        let refused = limiter.caller(caller, false).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        // Another caller is not affected; money-moving RPCs have a bucket of their own.
        let other = Uuid::now_v7();
        for _ in 0..5 {
            assert!(limiter.caller(other, true).await.is_ok());
        }
        assert!(limiter.caller(other, true).await.is_err());
    }

    #[tokio::test]
    async fn onboarding_and_identifiers_per_minute() {
        let limiter = Limiter::new(&settings());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..10 {
            assert!(limiter.onboarding(Some(ip)).await.is_ok());
            assert!(
                limiter
                    .identifier("login", "Alice@Example.com")
                    .await
                    .is_ok()
            );
        }
        assert!(limiter.onboarding(Some(ip)).await.is_err());
        assert!(
            limiter
                .identifier("login", " alice@example.com")
                .await
                .is_err()
        );
        assert!(
            limiter
                .onboarding(Some("203.0.113.8".parse().unwrap()))
                .await
                .is_ok()
        );
        assert!(limiter.ip(None).await.is_ok());
    }
}
