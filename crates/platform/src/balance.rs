//! Client-side load balancing over every instance of a peer: the power of two choices.
//!
//! Through a Kubernetes ClusterIP Service, HTTP/2 pins every call of a long-lived
//! connection to one pod, so pods an autoscaler adds get nothing. A [`Balanced`] channel
//! instead keeps one connection per instance and sends each call to the less busy of two
//! instances picked at random (fewer calls in flight). Its instances are a static list
//! (`http://a:50052,http://b:50052`), or every address a DNS name resolves to (a headless
//! Service), re-resolved every few seconds.
//!
//! An instance whose connection fails (refused, reset: nothing was answered) is passed
//! over for a moment, so the caller's retry, which picks again, lands on another one.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tonic::body::Body;
use tonic::transport::Channel;
use tower::{Service, ServiceExt};

/// How long an instance whose connection failed is passed over.
pub const EJECTION: Duration = Duration::from_secs(2);
/// How often a DNS name is resolved again.
pub const RESOLVE_EVERY: Duration = Duration::from_secs(5);

/// Builds the (lazily connecting) channel to one instance (TLS, timeouts) from its URL and
/// the peer's name (which its certificate carries).
pub type ConnectFn = Arc<dyn Fn(&str, &str) -> anyhow::Result<Channel> + Send + Sync>;

/// Plain-text channels (no TLS), without Nagle: for clients outside the services (bench,
/// chaos, the demo's parties).
pub fn plain() -> ConnectFn {
    Arc::new(|url: &str, _: &str| {
        Ok(tonic::transport::Endpoint::from_shared(url.to_owned())?
            .tcp_nodelay(true)
            .connect_lazy())
    })
}

/// One instance of a peer.
#[derive(Debug)]
struct Member {
    url: String,
    channel: Channel,
    in_flight: AtomicUsize,
    calls: AtomicU64,
    /// Passed over until this many milliseconds after the pool's start.
    ejected_until_ms: AtomicU64,
}

#[derive(Debug)]
struct Pool {
    /// The peer's name (metrics).
    peer: String,
    started: Instant,
    members: RwLock<Vec<Arc<Member>>>,
    seed: AtomicU64,
}

/// A channel that balances each call over the instances of one peer.
#[derive(Clone, Debug)]
pub struct Balanced {
    pool: Arc<Pool>,
}

/// Where a peer's instances are found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// These URLs, as given.
    Static(Vec<String>),
    /// Every address `host` resolves to, on `port`, dialled with `scheme`.
    Dns {
        /// `http` or `https`.
        scheme: String,
        /// The DNS name.
        host: String,
        /// The port.
        port: u16,
    },
}

impl Source {
    /// From a peer setting: comma-separated URLs; a single URL whose host is a DNS name
    /// (not an IP address, not `localhost`) is resolved, and re-resolved.
    pub fn parse(setting: &str) -> anyhow::Result<Source> {
        let urls: Vec<String> = setting
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect();
        anyhow::ensure!(!urls.is_empty(), "no URL in {setting:?}");
        if let [url] = urls.as_slice() {
            let uri: http::Uri = url.parse()?;
            let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
            let literal = host.parse::<IpAddr>().is_ok() || host == "localhost";
            if !literal && !host.is_empty() {
                let scheme = uri.scheme_str().unwrap_or("http").to_owned();
                let port = uri
                    .port_u16()
                    .unwrap_or(if scheme == "https" { 443 } else { 80 });
                return Ok(Source::Dns {
                    scheme,
                    host: host.to_owned(),
                    port,
                });
            }
        }
        Ok(Source::Static(urls))
    }
}

fn url_of(scheme: &str, addr: SocketAddr) -> String {
    format!("{scheme}://{addr}")
}

impl Balanced {
    /// A balanced channel over the instances `source` names; must run inside a tokio
    /// runtime (a DNS source is resolved by a task that ends with the channel).
    pub fn new(peer: &str, source: &Source, endpoint: ConnectFn) -> anyhow::Result<Balanced> {
        let pool = Arc::new(Pool {
            peer: peer.to_owned(),
            started: Instant::now(),
            members: RwLock::new(Vec::new()),
            seed: AtomicU64::new(0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id())),
        });
        match source {
            Source::Static(urls) => {
                let members = urls
                    .iter()
                    .map(|url| member(url, endpoint(url, peer)?))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                *pool.members.write().unwrap_or_else(|e| e.into_inner()) = members;
            }
            Source::Dns { scheme, host, port } => {
                // Until the first answer, the name itself (dialled as a ClusterIP would be).
                let url = format!("{scheme}://{host}:{port}");
                let first = member(&url, endpoint(&url, peer)?)?;
                *pool.members.write().unwrap_or_else(|e| e.into_inner()) = vec![first];
                tokio::spawn(resolve(
                    Arc::downgrade(&pool),
                    scheme.clone(),
                    host.clone(),
                    *port,
                    endpoint,
                ));
            }
        }
        Ok(Balanced { pool })
    }

    /// Calls sent to each instance so far, by URL (what `kuajing up --replicas` shows).
    pub fn calls(&self) -> Vec<(String, u64)> {
        self.pool
            .members()
            .iter()
            .map(|m| (m.url.clone(), m.calls.load(Ordering::Relaxed)))
            .collect()
    }
}

fn member(url: &str, channel: Channel) -> anyhow::Result<Arc<Member>> {
    Ok(Arc::new(Member {
        url: url.to_owned(),
        channel,
        in_flight: AtomicUsize::new(0),
        calls: AtomicU64::new(0),
        ejected_until_ms: AtomicU64::new(0),
    }))
}

/// Keeps a DNS source's instances equal to what the name resolves to.
async fn resolve(pool: Weak<Pool>, scheme: String, host: String, port: u16, endpoint: ConnectFn) {
    loop {
        if let Ok(found) = tokio::net::lookup_host((host.as_str(), port)).await {
            let urls: BTreeSet<String> = found.map(|a| url_of(&scheme, a)).collect();
            let Some(pool) = pool.upgrade() else { return };
            // An empty answer keeps what we have: better a stale instance than none.
            if !urls.is_empty() {
                let current = pool.members();
                let mut next: Vec<Arc<Member>> = current
                    .iter()
                    .filter(|m| urls.contains(&m.url))
                    .cloned()
                    .collect();
                for url in &urls {
                    if next.iter().any(|m| &m.url == url) {
                        continue;
                    }
                    match endpoint(url, &pool.peer).and_then(|e| member(url, e)) {
                        Ok(m) => next.push(m),
                        Err(e) => tracing::warn!(%url, error = %e, "peer instance not usable"),
                    }
                }
                if next
                    .iter()
                    .map(|m| &m.url)
                    .ne(current.iter().map(|m| &m.url))
                {
                    tracing::info!(peer = %host, instances = next.len(), "peer instances changed");
                    *pool.members.write().unwrap_or_else(|e| e.into_inner()) = next;
                }
            }
        }
        if pool.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(RESOLVE_EVERY).await;
    }
}

impl Pool {
    fn members(&self) -> Vec<Arc<Member>> {
        self.members
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A pseudo-random number (xorshift): the choice needs spread, not secrecy.
    fn random(&self) -> u64 {
        let mut x = self
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }

    /// The power of two choices among the instances not passed over (all of them when
    /// every one is).
    fn pick(&self) -> Option<Arc<Member>> {
        let members = self.members.read().unwrap_or_else(|e| e.into_inner());
        let now = self.now_ms();
        let healthy: Vec<&Arc<Member>> = members
            .iter()
            .filter(|m| m.ejected_until_ms.load(Ordering::Relaxed) <= now)
            .collect();
        let candidates: Vec<&Arc<Member>> = if healthy.is_empty() {
            members.iter().collect()
        } else {
            healthy
        };
        match candidates.len() {
            0 => None,
            1 => Some(candidates[0].clone()),
            n => {
                let n64 = u64::try_from(n).unwrap_or(u64::MAX);
                let a = usize::try_from(self.random() % n64).unwrap_or(0);
                let mut b = usize::try_from(self.random() % (n64 - 1)).unwrap_or(0);
                if b >= a {
                    b += 1;
                }
                let (x, y) = (candidates[a], candidates[b]);
                let load = |m: &Member| m.in_flight.load(Ordering::Relaxed);
                Some(if load(y) < load(x) {
                    y.clone()
                } else {
                    x.clone()
                })
            }
        }
    }

    fn eject(&self, member: &Member) {
        let until = self
            .now_ms()
            .saturating_add(u64::try_from(EJECTION.as_millis()).unwrap_or(u64::MAX));
        member.ejected_until_ms.store(until, Ordering::Relaxed);
    }
}

/// Calls sent per peer instance: what shows the balancing (`kuajing up --replicas`).
static CALLS: crate::metrics::Tally =
    crate::metrics::Tally::new("rpc.client.calls", "calls sent to each instance of a peer");

/// Counts a call in flight on its instance until dropped.
struct InFlight(Arc<Member>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The error of a balanced call: the transport's, or no instance at all.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Service<http::Request<Body>> for Balanced {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Readiness is the chosen instance's, awaited in the call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let pool = self.pool.clone();
        Box::pin(async move {
            let member = pool.pick().ok_or("no instance of the peer")?;
            member.in_flight.fetch_add(1, Ordering::Relaxed);
            member.calls.fetch_add(1, Ordering::Relaxed);
            CALLS.add(
                1,
                &[("rpc.peer", &pool.peer), ("rpc.peer.instance", &member.url)],
            );
            let _in_flight = InFlight(member.clone());
            let answer = member.channel.clone().oneshot(request).await;
            if let Err(e) = &answer {
                // No answer at all (refused, reset): pass this instance over for a while.
                let mut cause = e.to_string();
                let mut source = std::error::Error::source(e);
                while let Some(s) = source {
                    cause = format!("{cause}: {s}");
                    source = s.source();
                }
                tracing::warn!(peer = %pool.peer, instance = %member.url, error = %cause, "peer instance gave no answer; passed over for a while");
                pool.eject(&member);
            }
            answer.map_err(Into::into)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_static_lists_or_dns_names() {
        assert_eq!(
            Source::parse("http://127.0.0.1:50052").unwrap(),
            Source::Static(vec!["http://127.0.0.1:50052".to_owned()])
        );
        assert_eq!(
            Source::parse("http://127.0.0.1:1, http://127.0.0.1:2").unwrap(),
            Source::Static(vec![
                "http://127.0.0.1:1".to_owned(),
                "http://127.0.0.1:2".to_owned()
            ])
        );
        assert_eq!(
            Source::parse("http://localhost:50052").unwrap(),
            Source::Static(vec!["http://localhost:50052".to_owned()])
        );
        assert_eq!(
            Source::parse("https://wallet-pods.kuajing.svc:50052").unwrap(),
            Source::Dns {
                scheme: "https".to_owned(),
                host: "wallet-pods.kuajing.svc".to_owned(),
                port: 50052
            }
        );
        assert!(Source::parse(" , ").is_err());
    }

    #[tokio::test]
    async fn two_choices_spread_calls_and_pass_over_a_failed_instance() {
        let endpoint = plain();
        let source =
            Source::parse("http://127.0.0.1:1,http://127.0.0.1:2,http://127.0.0.1:3").unwrap();
        let b = Balanced::new("wallet", &source, endpoint).unwrap();
        let mut seen = std::collections::BTreeMap::new();
        for _ in 0..3000 {
            let m = b.pool.pick().unwrap();
            *seen.entry(m.url.clone()).or_insert(0) += 1;
        }
        assert_eq!(seen.len(), 3);
        assert!(seen.values().all(|n| *n > 800), "{seen:?}");
        // A busy instance loses every pairing it is in.
        let members = b.pool.members();
        members[0].in_flight.store(5, Ordering::Relaxed);
        let busy = (0..300)
            .filter(|_| b.pool.pick().unwrap().url == members[0].url)
            .count();
        assert_eq!(busy, 0);
        members[0].in_flight.store(0, Ordering::Relaxed);
        // Ejected instances are passed over while others remain.
        b.pool.eject(&members[1]);
        b.pool.eject(&members[2]);
        assert!((0..100).all(|_| b.pool.pick().unwrap().url == members[0].url));
        b.pool.eject(&members[0]);
        assert!(b.pool.pick().is_some(), "all ejected: still someone to try");
    }
}
