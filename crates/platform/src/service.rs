//! What a service is to the platform: a [`ServiceDef`] (name, schema, port, migrations,
//! how to build its routes) and the [`ServiceContext`] it is built from. The same
//! definition runs as its own binary, inside `kuajing up`, and inside the testkit.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgConnectOptions;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Endpoint;

use crate::balance::{Balanced, ConnectFn, Source};

use crate::auth::{self, ServiceKeys};
use crate::clock::Clock;
use crate::db::{self, PoolSettings};
use crate::error::ErrorDomain;
use crate::server::{self, ServerSettings};
use crate::tls::MutualTls;

/// A boxed future returning `T` (service constructors are stored as plain fn pointers).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Builds a service's gRPC routes from its context.
pub type RoutesFn = fn(ServiceContext) -> BoxFuture<anyhow::Result<Routes>>;

/// The static description of one service.
pub struct ServiceDef {
    /// Short name: `identity`, `wallet`, `authorization`, `order`, `fx`, `edge`.
    pub name: &'static str,
    /// Fully qualified gRPC service name, e.g. `kuajing.wallet.v1.WalletService`.
    pub grpc_service: &'static str,
    /// The Postgres schema it alone owns.
    pub schema: &'static str,
    /// Its embedded migrations.
    pub migrator: &'static Migrator,
    /// The `ErrorInfo.domain` of its errors: `<name>.kuajing`.
    pub errors: ErrorDomain,
    /// Its route builder.
    pub routes: RoutesFn,
    /// Whether its port also speaks HTTP/1.1: edge's, for browsers' gRPC-Web (which its
    /// routes serve only when configured to).
    pub accepts_http1: bool,
}

impl std::fmt::Debug for ServiceDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceDef")
            .field("name", &self.name)
            .field("grpc_service", &self.grpc_service)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl ServiceDef {
    /// The database role that owns the service's schema and applies its migrations:
    /// `kj_<schema>`.
    pub fn role(&self) -> String {
        format!("kj_{}", self.schema)
    }

    /// The database role the service serves as: it reads and writes the schema's rows and
    /// can change nothing else (no table, trigger or grant): `kj_<schema>_app`.
    pub fn runtime_role(&self) -> String {
        db::runtime_role_of(&self.role())
    }
}

/// Where the other services are, by short name: per peer a [`Balanced`] channel over every
/// instance of it (a static list, or what a DNS name resolves to), shared by every call,
/// that carries this service's credential on every request.
#[derive(Clone, Debug)]
pub struct Peers {
    channels: Arc<BTreeMap<String, (String, Balanced)>>,
    keys: Arc<ServiceKeys>,
}

/// A channel to a peer; every request on it carries a service token for that peer.
pub type PeerChannel = InterceptedService<Balanced, Outgoing>;

/// Adds this service's credential (a token for the peer) to each outgoing request.
#[derive(Clone, Debug)]
pub struct Outgoing {
    keys: Arc<ServiceKeys>,
    audience: String,
}

impl tonic::service::Interceptor for Outgoing {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let token = self.keys.token_for(&self.audience);
        let value = token
            .parse()
            .map_err(|_| tonic::Status::internal("unencodable service token"))?;
        request.metadata_mut().insert(auth::TOKEN_HEADER, value);
        crate::telemetry::inject_current(request.metadata_mut());
        Ok(request)
    }
}

/// Marks a request as made for `subject` (a person's account id); only edge may.
pub fn for_subject<T>(request: &mut tonic::Request<T>, subject: uuid::Uuid) {
    if let Ok(v) = subject.to_string().parse() {
        request.metadata_mut().insert(auth::SUBJECT_HEADER, v);
    }
}

/// The six services and the ports they listen on by default (`kuajing up`, the binaries).
pub const DEFAULT_PORTS: [(&str, u16); 6] = [
    ("edge", 50050),
    ("identity", 50051),
    ("wallet", 50052),
    ("authorization", 50053),
    ("order", 50054),
    ("fx", 50055),
];

/// The default port of a service by short name.
pub fn default_port(name: &str) -> Option<u16> {
    DEFAULT_PORTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| *p)
}

impl Peers {
    /// From `(name, setting)` pairs such as `("wallet", "http://127.0.0.1:50052")`, a
    /// setting being one URL, several comma-separated, or one whose host is a DNS name
    /// (resolved to every instance; see [`crate::balance`]); calling as the service `keys`
    /// belong to, over mutual TLS when `tls` is given (whatever scheme the URLs show;
    /// each new connection made with the certificates in force). Must run inside a tokio
    /// runtime.
    pub fn new(
        urls: impl IntoIterator<Item = (String, String)>,
        keys: Arc<ServiceKeys>,
        tls: Option<&MutualTls>,
    ) -> anyhow::Result<Self> {
        let tls = tls.cloned();
        // The instances' certificates carry the peer's short name (`wallet`), however it
        // is dialled (a headless Service's pod addresses, a DNS name).
        let connect: ConnectFn = Arc::new(move |url: &str, peer: &str| {
            let endpoint = Endpoint::from_shared(crate::tls::plain_url(url))?
                .connect_timeout(std::time::Duration::from_secs(5))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(std::time::Duration::from_secs(30));
            match &tls {
                Some(tls) => tls.channel(endpoint, peer),
                None => Ok(endpoint.connect_lazy()),
            }
        });
        let mut channels = BTreeMap::new();
        for (name, setting) in urls {
            let source = Source::parse(&setting)
                .map_err(|e| anyhow::anyhow!("peer {name}: {setting:?}: {e}"))?;
            let balanced = Balanced::new(&name, &source, connect.clone())?;
            channels.insert(name, (setting, balanced));
        }
        Ok(Peers {
            channels: Arc::new(channels),
            keys,
        })
    }

    /// Calls sent to each instance of `name` so far, by URL.
    pub fn calls(&self, name: &str) -> Vec<(String, u64)> {
        self.channels
            .get(name)
            .map(|(_, b)| b.calls())
            .unwrap_or_default()
    }

    /// The URL of `name`, if known.
    pub fn url(&self, name: &str) -> Option<&str> {
        self.channels.get(name).map(|(url, _)| url.as_str())
    }

    /// The channel to `name`, carrying this service's credential.
    pub fn channel(&self, name: &str) -> anyhow::Result<PeerChannel> {
        let (_, channel) = self
            .channels
            .get(name)
            .ok_or_else(|| anyhow::anyhow!("no address for peer {name}"))?;
        let outgoing = Outgoing {
            keys: self.keys.clone(),
            audience: name.to_owned(),
        };
        Ok(InterceptedService::new(channel.clone(), outgoing))
    }

    /// The keys this service calls with.
    pub fn keys(&self) -> &Arc<ServiceKeys> {
        &self.keys
    }
}

/// Everything a service is built from.
#[derive(Clone)]
pub struct ServiceContext {
    /// Pool on the service's own schema, under its own role.
    pub pool: PgPool,
    /// The other services.
    pub peers: Peers,
    /// This service's error domain.
    pub errors: ErrorDomain,
    /// The clock every time rule reads (tests move it forward).
    pub clock: Clock,
    /// The service's own options as command-line arguments, for a service embedded in
    /// another process (a binary parses its own command line and environment instead).
    pub options: Vec<String>,
    /// The sessions identity lists as revoked, kept up to date every
    /// `ServerSettings::revocation_poll`: [`run_signalling`] sets it before the routes are
    /// built (edge refuses access tokens with it; the credential check, operators').
    pub revocations: Option<Arc<crate::revocations::Revocations>>,
}

/// How a service reaches its database.
#[derive(Clone, Debug)]
pub enum Database {
    /// Connect with these options as they are (the role is already provisioned).
    Own(PgConnectOptions),
    /// Provision the service's role and schema with this administrative connection first,
    /// then connect as that role.
    Provision(PgConnectOptions),
}

/// Connects (provisioning first if asked) and, when `migrate`, migrates the service's schema.
///
/// Provisioned, the migrations run as the schema's owner and the pool serves as the
/// runtime role. Given its own URL, the pool serves as that URL's role: least privilege
/// then means a migrate-only run with the owner's URL (an init container) and serving with
/// the runtime role's (see `k8s/`).
pub async fn prepare_database(
    def: &ServiceDef,
    database: &Database,
    pool_settings: &PoolSettings,
    migrate: bool,
) -> anyhow::Result<PgPool> {
    match database {
        Database::Own(options) => {
            let pool = db::connect(options, def.schema, def.name, pool_settings).await?;
            if migrate {
                db::migrate(&pool, def.migrator, def.schema).await?;
            }
            Ok(pool)
        }
        Database::Provision(admin) => {
            let owner = db::provision(admin, def.schema, &def.role()).await?;
            if migrate {
                let pool = db::connect(&owner, def.schema, def.name, pool_settings).await?;
                db::migrate(&pool, def.migrator, def.schema).await?;
                pool.close().await;
            }
            let runtime = owner.username(&def.runtime_role());
            db::connect(&runtime, def.schema, def.name, pool_settings).await
        }
    }
}

/// Builds the service from `ctx` and serves it on `listener` until `shutdown`; every
/// internal service requires service credentials (see [`auth`]).
pub async fn run(
    def: &'static ServiceDef,
    ctx: ServiceContext,
    listener: TcpListener,
    settings: &ServerSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_signalling(def, ctx, listener, settings, shutdown, None).await
}

/// As [`run`], telling `ready` once the service is built (its start-up work done: keys
/// loaded, settings read) and about to serve: a launcher waits for it before it calls the
/// platform up. A service that fails to start drops `ready` unsent.
pub async fn run_signalling(
    def: &'static ServiceDef,
    ctx: ServiceContext,
    listener: TcpListener,
    settings: &ServerSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
    ready: Option<tokio::sync::oneshot::Sender<()>>,
) -> anyhow::Result<()> {
    if let Some(tls) = &settings.tls {
        tls.ensure_names(def.name)?;
    }
    let keys = ctx.peers.keys().clone();
    crate::metrics::observe_pool(def.name, ctx.pool.clone());
    let database = ctx.pool.clone();
    let guarded = !auth::PUBLIC_SERVICES.contains(&def.grpc_service);
    // One copy of the revoked sessions per process: people's tokens of ended sessions are
    // refused (identity included: it reads its own list the same way).
    let revocations = crate::revocations::Revocations::follow(
        crate::revocations::from_identity(ctx.peers.channel("identity")?),
        ctx.clock.clone(),
        settings.revocation_poll,
    );
    let mut ctx = ctx;
    ctx.revocations = Some(revocations.clone());
    let mut routes = (def.routes)(ctx).await?;
    if let Some(ready) = ready {
        let _ = ready.send(());
    }
    let guard = guarded.then(|| {
        auth::RequireCaller::new(keys, def.errors)
            .with_revocations(revocations)
            .named_people_only(!settings.nameless_operators)
    });
    // Operators reach only services behind the credential check: those keep the log.
    let audit = guard.as_ref().map(|_| {
        routes = std::mem::take(&mut routes).add_service(
            crate::audit::AuditLog::new(database.clone(), def.name, def.errors).server(),
        );
        crate::audit::RecordOperators::new(database.clone())
    });
    let settings = ServerSettings {
        accept_http1: def.accepts_http1,
        ..settings.clone()
    };
    server::serve(
        def.grpc_service,
        def.errors,
        routes,
        guard,
        audit,
        listener,
        &settings,
        Some(database),
        shutdown,
    )
    .await
}
