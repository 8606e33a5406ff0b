//! The edge service: the public entry. It authenticates people (bearer access tokens
//! verified with identity's published keys), checks that a caller touches only its own
//! resources, limits request rates, sets deadlines on every downstream call, and composes
//! identity, wallet, fx, authorization and order into `kuajing.edge.v1.EdgeService`.
//!
//! A library, so `kuajing up` and the testkit embed it; `src/main.rs` is the thin binary.
//! Schema `edge` (it owns no business data), role `kj_edge`.
//!
//! - `domain/`: the rules, free of IO (tokens and roles, ownership, rate buckets, client
//!   addresses, deadlines, downstream request ids, input checks, the RPC catalogue).
//! - `caller`: admission of a request (address, buckets, token, deadline) into a `Call`.
//! - `keys`, `limits`, `upstream`, `errors`, `settings`: the key cache, the buckets, the
//!   downstream calls, the refusals, and what is configurable.
//! - `web`: browsers as clients (gRPC-Web and CORS, for configured origins only).
//! - `api/`: the RPCs, one module per area of the contract.

mod api;
pub mod binary;
pub mod caller;
pub mod domain;
pub mod errors;
pub mod keys;
pub mod limits;
pub mod settings;
pub mod shared_limits;
pub mod streams;
pub mod upstream;
pub mod web;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kuajing_platform::clock::Clock;
use kuajing_platform::revocations::Revocations;
use kuajing_platform::service::BoxFuture;
use kuajing_platform::{ServiceContext, ServiceDef};
use kuajing_proto::edge::v1::edge_service_server::{EdgeServiceServer, SERVICE_NAME};
use sqlx::migrate::Migrator;
use tonic::service::Routes;
use uuid::Uuid;

/// The service's embedded schema migrations (`migrations/`).
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// How the platform runs this service.
pub static SERVICE: ServiceDef = ServiceDef {
    name: "edge",
    grpc_service: SERVICE_NAME,
    schema: "edge",
    migrator: &MIGRATOR,
    errors: errors::DOMAIN,
    routes,
    accepts_http1: true,
};

/// Wallet ids remembered per owner (a wallet never changes owner); the map is cleared
/// when it grows past this.
const WALLET_CACHE_LIMIT: usize = 100_000;

/// Everything the RPCs share.
#[derive(Debug)]
pub struct Edge {
    /// Settings.
    pub settings: settings::Settings,
    /// The internal services.
    pub upstream: upstream::Upstream,
    /// identity's verification keys.
    pub keys: keys::Keys,
    /// The rate buckets.
    pub limiter: limits::Limiter,
    /// The clock tokens are checked against.
    pub clock: Clock,
    /// Sessions signed out (their access tokens refused), read from identity every
    /// `KJ_REVOCATION_POLL_MS` (the platform's copy for this process).
    pub revocations: Arc<Revocations>,
    /// Open WatchPayment streams, by caller.
    pub streams: streams::Streams,
    wallets: Mutex<HashMap<Uuid, Uuid>>,
}

impl Edge {
    /// Edge on a service context with `settings` (following identity's revoked sessions).
    pub fn new(ctx: ServiceContext, settings: settings::Settings) -> anyhow::Result<Self> {
        let revocations = ctx.revocations.clone().ok_or_else(|| {
            anyhow::anyhow!("edge runs under the platform's server, which follows revoked sessions")
        })?;
        Ok(Edge {
            keys: keys::Keys::new(settings.key_refresh_min_interval),
            limiter: limits::Limiter::new(&settings),
            upstream: upstream::Upstream::new(ctx.peers),
            clock: ctx.clock,
            revocations,
            streams: streams::Streams::default(),
            settings,
            wallets: Mutex::new(HashMap::new()),
        })
    }

    /// The wallet id of `owner`, if remembered.
    pub fn remembered_wallet(&self, owner: Uuid) -> Option<Uuid> {
        self.wallets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&owner)
            .copied()
    }

    /// Remembers `owner`'s wallet id.
    pub fn remember_wallet(&self, owner: Uuid, wallet: Uuid) {
        let mut map = self.wallets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= WALLET_CACHE_LIMIT {
            map.clear();
        }
        map.insert(owner, wallet);
    }
}

fn routes(ctx: ServiceContext) -> BoxFuture<anyhow::Result<Routes>> {
    Box::pin(async move {
        let settings = settings::current(&ctx.options)?;
        let origins = settings.web_origins.clone();
        let edge = Arc::new(Edge::new(ctx, settings)?);
        let server = EdgeServiceServer::new(api::Api::new(edge));
        // gRPC-Web is translated only for requests that speak it; plain gRPC passes as is.
        let routes = if origins.is_empty() {
            Routes::new(server)
        } else {
            Routes::new(tower::Layer::layer(&tonic_web::GrpcWebLayer::new(), server))
        };
        web::for_browsers(routes, &origins)
    })
}
