//! identity's published verification keys, cached: fetched on first use, refreshed when
//! older than the max_cache_age identity states, and refetched when a token names a key id
//! the cache does not hold (at most once per configured interval, so forged key ids cannot
//! make edge hammer identity).
//!
//! A token that verified is remembered (by the SHA-256 of the whole token) for a minute,
//! so a client's every request does not pay for an Ed25519 verification: a remembered
//! token is still checked against its own validity window and against the key set (its
//! key must still be published) on each use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kuajing_platform::token::{KeySet, PublicKey};
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::types::PageRequest;
use sha2::{Digest, Sha256};
use tonic::Status;

use crate::domain::token::{self, Person, Verified};
use crate::errors;
use crate::upstream::{Outbound, Upstream};

/// How long to wait after a failed first fetch before trying again.
const RETRY_EMPTY_AFTER: Duration = Duration::from_secs(1);
/// Deadline of one page fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// At most this many pages are read (a key set is a handful of keys).
const MAX_PAGES: usize = 20;
/// Cache age when identity states none.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// How long a verified token is remembered.
const REMEMBER_FOR: Duration = Duration::from_secs(60);
/// Most verified tokens remembered; the memory is cleared when it is full.
const REMEMBERED_LIMIT: usize = 100_000;

#[derive(Clone)]
struct Cached {
    set: Arc<KeySet>,
    fetched: Instant,
    max_age: Duration,
}

/// The cached key set.
pub struct Keys {
    cached: RwLock<Option<Cached>>,
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    min_interval: Duration,
    verified: Mutex<HashMap<[u8; 32], (Verified, Instant)>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").finish_non_exhaustive()
    }
}

impl Keys {
    /// An empty cache; refetches prompted by unknown key ids are at least `min_interval`
    /// apart.
    pub fn new(min_interval: Duration) -> Self {
        Keys {
            cached: RwLock::new(None),
            last_fetch: tokio::sync::Mutex::new(None),
            min_interval,
            verified: Mutex::new(HashMap::new()),
        }
    }

    fn read(&self) -> Option<Cached> {
        self.cached
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Verifies `token` and returns the person it names.
    pub async fn person(
        &self,
        up: &Upstream,
        token: &str,
        now: DateTime<Utc>,
        leeway: chrono::Duration,
    ) -> Result<Person, Status> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut set = self.current(up).await?;
        if let Some(known) = self.remembered(&digest)
            && set.contains(&known.kid)
        {
            return known
                .at(now, leeway)
                .cloned()
                .map_err(|r| errors::unauthenticated(&r));
        }
        if token::names_unknown_key(&set, token)
            && let Some(fresh) = self.refetch(up, self.min_interval).await
        {
            set = fresh;
        }
        let verified =
            token::verify(&set, token, now, leeway).map_err(|r| errors::unauthenticated(&r))?;
        let person = verified.person.clone();
        self.remember(digest, verified);
        Ok(person)
    }

    fn remembered(&self, digest: &[u8; 32]) -> Option<Verified> {
        let map = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        map.get(digest)
            .filter(|(_, at)| at.elapsed() < REMEMBER_FOR)
            .map(|(v, _)| v.clone())
    }

    fn remember(&self, digest: [u8; 32], verified: Verified) {
        let mut map = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= REMEMBERED_LIMIT {
            map.retain(|_, (_, at)| at.elapsed() < REMEMBER_FOR);
            if map.len() >= REMEMBERED_LIMIT {
                map.clear();
            }
        }
        map.insert(digest, (verified, Instant::now()));
    }

    async fn current(&self, up: &Upstream) -> Result<Arc<KeySet>, Status> {
        match self.read() {
            Some(c) if c.fetched.elapsed() < c.max_age => Ok(c.set),
            // Stale: refresh, but keep verifying with the old set if identity is away.
            Some(c) => Ok(self.refetch(up, RETRY_EMPTY_AFTER).await.unwrap_or(c.set)),
            None => self
                .refetch(up, RETRY_EMPTY_AFTER)
                .await
                .ok_or_else(|| errors::upstream_unavailable("identity")),
        }
    }

    /// Fetches the set unless another task just did (its result is used) or the last
    /// attempt is less than `gap` ago (`None`).
    async fn refetch(&self, up: &Upstream, gap: Duration) -> Option<Arc<KeySet>> {
        let before = self.read().map(|c| c.fetched);
        let mut last = self.last_fetch.lock().await;
        if let Some(c) = self.read()
            && Some(c.fetched) != before
        {
            return Some(c.set);
        }
        if last.is_some_and(|t| t.elapsed() < gap) {
            return None;
        }
        *last = Some(Instant::now());
        match fetch(up).await {
            Ok((set, max_age)) => {
                let set = Arc::new(set);
                *self.cached.write().unwrap_or_else(|p| p.into_inner()) = Some(Cached {
                    set: set.clone(),
                    fetched: Instant::now(),
                    max_age,
                });
                Some(set)
            }
            Err(e) => {
                tracing::warn!(error = %e.message(), "cannot fetch identity's verification keys");
                None
            }
        }
    }
}

async fn fetch(up: &Upstream) -> Result<(KeySet, Duration), Status> {
    let out = || Outbound {
        deadline: None,
        budget: FETCH_TIMEOUT,
        subject: None,
        trace: &[],
        retries: 1,
    };
    let edge = Fetcher { upstream: up };
    let mut set = KeySet::new();
    let mut max_age = DEFAULT_MAX_AGE;
    let mut page_token = String::new();
    for _ in 0..MAX_PAGES {
        let page = crate::call!(
            edge,
            out(),
            identity.list_verification_keys(idp::ListVerificationKeysRequest {
                page: Some(PageRequest {
                    page_size: 100,
                    page_token: page_token.clone(),
                }),
            })
        )?;
        if let Some(age) = page.max_cache_age
            && let (Ok(secs), Ok(nanos)) = (u64::try_from(age.seconds), u32::try_from(age.nanos))
        {
            max_age = Duration::new(secs, nanos);
        }
        for k in &page.keys {
            match PublicKey::from_jwk(&k.kid, &k.x) {
                Ok(key) => {
                    let not_after = k
                        .not_after
                        .as_ref()
                        .and_then(kuajing_platform::time::from_proto);
                    set.insert(&key, not_after);
                }
                Err(e) => tracing::warn!(kid = %k.kid, error = %e, "unusable verification key"),
            }
        }
        page_token = page.page.map(|p| p.next_page_token).unwrap_or_default();
        if page_token.is_empty() {
            break;
        }
    }
    Ok((set, max_age))
}

/// What `call!` needs to reach identity outside a client request (the key set).
pub(crate) struct Fetcher<'a> {
    pub(crate) upstream: &'a Upstream,
}
