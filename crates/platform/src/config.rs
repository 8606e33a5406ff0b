//! Typed configuration from the environment (every option is also a flag), with `--help`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches};

use std::sync::Arc;

use crate::auth::ServiceKeys;
use crate::clock::Clock;
use crate::db::{PoolSettings, parse_url};
use crate::key_files::KeyFiles;
use crate::server::{ServerSettings, shutdown_signal};
use crate::service::{self, Database, Peers, ServiceContext, ServiceDef};
use crate::telemetry::{self, LogFormat};
use crate::tls::{MutualTls, TlsArgs};

/// Where the other services are. Defaults match `kuajing up` on one machine.
#[derive(clap::Args, Clone, Debug)]
pub struct PeerArgs {
    /// gRPC URL of the identity service.
    #[arg(
        long,
        env = "KJ_IDENTITY_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub identity_url: String,
    /// gRPC URL of the wallet service.
    #[arg(long, env = "KJ_WALLET_URL", default_value = "http://127.0.0.1:50052")]
    pub wallet_url: String,
    /// gRPC URL of the authorization service.
    #[arg(
        long,
        env = "KJ_AUTHORIZATION_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    pub authorization_url: String,
    /// gRPC URL of the order service.
    #[arg(long, env = "KJ_ORDER_URL", default_value = "http://127.0.0.1:50054")]
    pub order_url: String,
    /// gRPC URL of the fx service.
    #[arg(long, env = "KJ_FX_URL", default_value = "http://127.0.0.1:50055")]
    pub fx_url: String,
}

impl PeerArgs {
    /// As a [`Peers`] map, calling with `keys` (over mutual TLS when `tls` is given).
    pub fn peers(&self, keys: Arc<ServiceKeys>, tls: Option<&MutualTls>) -> anyhow::Result<Peers> {
        Peers::new(
            [
                ("identity".to_owned(), self.identity_url.clone()),
                ("wallet".to_owned(), self.wallet_url.clone()),
                ("authorization".to_owned(), self.authorization_url.clone()),
                ("order".to_owned(), self.order_url.clone()),
                ("fx".to_owned(), self.fx_url.clone()),
            ],
            keys,
            tls,
        )
    }
}

/// Logging options.
#[derive(clap::Args, Clone, Debug)]
pub struct TelemetryArgs {
    /// Log line format. The filter comes from RUST_LOG (default `info`).
    #[arg(long, env = "KJ_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
}

/// When a service applies its migrations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MigrateMode {
    /// Migrate, then serve (the default; migrations are idempotent).
    OnStart,
    /// Migrate and exit (a Kubernetes Job or init container).
    Only,
    /// Serve without touching the schema.
    Off,
}

/// Options of one service binary.
#[derive(clap::Parser, Clone, Debug)]
pub struct ServiceArgs {
    /// Address to listen on [default: 0.0.0.0:<the service's port>].
    #[arg(long, env = "KJ_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Postgres URL for this service's own role (it owns the service's schema).
    #[arg(long, env = "KJ_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Administrative Postgres URL. When set (and KJ_DATABASE_URL is not), the service
    /// creates its role `kj_<schema>` and its schema with it, then connects as that role.
    #[arg(long, env = "KJ_DATABASE_ADMIN_URL", hide_env_values = true)]
    pub database_admin_url: Option<String>,
    /// Maximum Postgres connections in the pool.
    #[arg(long, env = "KJ_DB_MAX_CONNECTIONS", default_value_t = 8)]
    pub db_max_connections: u32,
    /// Longest a request may run, in milliseconds, before DEADLINE_EXCEEDED.
    #[arg(long, env = "KJ_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,
    /// This service's Ed25519 key (base64url seed) for service credentials; `kuajing keys`
    /// prints a set for every service.
    #[arg(long, env = "KJ_SERVICE_KEY", hide_env_values = true)]
    pub service_key: Option<String>,
    /// The public keys of the services (and operators) this service trusts:
    /// `name=base64url-key,...` (a name may repeat while its key rotates).
    #[arg(long, env = "KJ_SERVICE_TRUST", default_value = "")]
    pub service_trust: String,
    /// This service's key in a file (a mounted Secret) instead of KJ_SERVICE_KEY: read at
    /// start and again whenever it changes, so the key rotates without a restart. Needs
    /// KJ_SERVICE_TRUST_FILE.
    #[arg(
        long,
        env = "KJ_SERVICE_KEY_FILE",
        conflicts_with = "service_key",
        requires = "service_trust_file"
    )]
    pub service_key_file: Option<std::path::PathBuf>,
    /// The trusted keys in a file (KJ_SERVICE_TRUST's form, commas or lines), reloaded
    /// like KJ_SERVICE_KEY_FILE.
    #[arg(long, env = "KJ_SERVICE_TRUST_FILE", requires = "service_key_file")]
    pub service_trust_file: Option<std::path::PathBuf>,
    /// How often the revoked sessions are read from identity, in milliseconds: a token of
    /// a session that ended (a person signed out or changed the password; an operator
    /// signed out or lost the grant) is refused from the next read on, by edge (access
    /// tokens) and by every service (operators' and auditors' tokens).
    #[arg(long, env = "KJ_REVOCATION_POLL_MS", default_value_t = 15_000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub revocation_poll_ms: u64,
    /// Development only (bench and chaos set it): also accept operators' tokens that name
    /// nobody, minted with the operator key itself. Off, an operator's token must come from
    /// a sign-in (SignInOperator) and name its person.
    #[arg(long, env = "KJ_ALLOW_NAMELESS_OPERATORS", default_value_t = false)]
    pub allow_nameless_operators: bool,
    /// How often key files (and the TLS files) are checked for changes, in seconds.
    #[arg(long, env = "KJ_KEY_RELOAD_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub key_reload_secs: u64,
    /// When to apply the schema migrations.
    #[arg(long, env = "KJ_MIGRATE", value_enum, default_value_t = MigrateMode::OnStart)]
    pub migrate: MigrateMode,
    /// A second, plain-text address serving only grpc.health.v1, for probes that can't
    /// speak TLS (kubelet's gRPC probes, once mutual TLS is on). Unset: none.
    #[arg(long, env = "KJ_HEALTH_LISTEN")]
    pub health_listen: Option<SocketAddr>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub tls: TlsArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub peers: PeerArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub telemetry: TelemetryArgs,
}

impl ServiceArgs {
    /// The database to use, from the URLs given.
    pub fn database(&self) -> anyhow::Result<Database> {
        match (&self.database_url, &self.database_admin_url) {
            (Some(url), _) => Ok(Database::Own(parse_url(url)?)),
            (None, Some(admin)) => Ok(Database::Provision(parse_url(admin)?)),
            (None, None) => anyhow::bail!(
                "no database configured: set KJ_DATABASE_URL (the service's own role) or \
                 KJ_DATABASE_ADMIN_URL (to provision the role and schema); see --help"
            ),
        }
    }

    /// Server settings from the options (reads the TLS files, when configured).
    pub fn server_settings(&self) -> anyhow::Result<ServerSettings> {
        Ok(ServerSettings {
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            tls: self.tls.load()?,
            health_listen: self.health_listen,
            revocation_poll: Duration::from_millis(self.revocation_poll_ms),
            nameless_operators: self.allow_nameless_operators,
            ..ServerSettings::default()
        })
    }

    /// Pool settings from the options.
    pub fn pool_settings(&self) -> PoolSettings {
        PoolSettings {
            max_connections: self.db_max_connections,
            ..PoolSettings::default()
        }
    }
}

/// No options beyond the platform's.
#[derive(clap::Args, Clone, Debug)]
pub struct NoArgs {}

/// The whole `main` of a service binary: parse options, set up logging, prepare the
/// database, serve until ctrl-c or SIGTERM.
pub fn service_main(def: &'static ServiceDef) -> anyhow::Result<()> {
    service_main_with::<NoArgs>(def, |_| Ok(()))
}

/// The command line of service `def`'s binary: the platform's options and its own (`A`).
pub fn command_of<A: Args>(def: &ServiceDef) -> clap::Command {
    let command = ServiceArgs::command()
        .name(format!("kuajing-{}", def.name))
        .about(format!(
            "Kuajing {} service ({})",
            def.name, def.grpc_service
        ));
    A::augment_args(command)
}

/// [`service_main`] for a service with options of its own (`A`, shown in `--help` beside
/// the platform's); `apply` installs them before the service is built.
pub fn service_main_with<A: Args + FromArgMatches>(
    def: &'static ServiceDef,
    apply: impl FnOnce(A) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let matches = command_of::<A>(def).get_matches();
    let args = ServiceArgs::from_arg_matches(&matches)?;
    let own = A::from_arg_matches(&matches)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // The OTLP exporters need the runtime.
    let entered = runtime.enter();
    telemetry::init(
        args.telemetry.log_format,
        "info",
        &format!("kuajing-{}", def.name),
    );
    drop(entered);
    apply(own)?;
    runtime.block_on(async move {
        let database = args.database()?;
        let migrate = args.migrate != MigrateMode::Off;
        let pool =
            service::prepare_database(def, &database, &args.pool_settings(), migrate).await?;
        if args.migrate == MigrateMode::Only {
            tracing::info!(service = def.name, "migrations applied");
            return Ok(());
        }
        let keys = match (&args.service_key, &args.service_key_file, &args.service_trust_file) {
            (Some(seed), _, _) => Arc::new(ServiceKeys::from_config(def.name, seed, &args.service_trust)?),
            (None, Some(key), Some(trust)) => {
                let files = KeyFiles {
                    key: key.clone(),
                    trust: trust.clone(),
                };
                let (keys, _watcher) =
                    files.load_and_watch(def.name, Duration::from_secs(args.key_reload_secs))?;
                keys
            }
            _ => anyhow::bail!(
                "neither KJ_SERVICE_KEY nor KJ_SERVICE_KEY_FILE is set: every service needs its own key \
                 for service credentials (`kuajing keys` prints a set); see --help"
            ),
        };

        let port = service::default_port(def.name).unwrap_or(50050);
        let addr = args
            .listen
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], port)));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!(service = def.name, %addr, "serving {}", def.grpc_service);
        let server = args.server_settings()?;
        // Renewed certificates are put in force without a restart.
        let _tls_watcher = server
            .tls
            .as_ref()
            .and_then(|tls| tls.watch(Duration::from_secs(args.key_reload_secs)));
        let ctx = ServiceContext {
            pool,
            peers: args.peers.peers(keys, server.tls.as_ref())?,
            errors: def.errors,
            clock: Clock::system(),
            options: Vec::new(),
            revocations: None,
        };
        let served = service::run(def, ctx, listener, &server, shutdown_signal()).await;
        // Spans and metrics still batched go out before the process ends (SIGTERM included).
        telemetry::shutdown();
        served
    })
}

/// A service's own settings: installed by its binary from the flags it parsed, or, for a
/// service embedded in another process (`kuajing up`, the testkit), parsed from its
/// options over the environment, with the defaults.
pub struct OwnSettings<T>(std::sync::OnceLock<T>);

impl<T: Clone> OwnSettings<T> {
    /// Nothing installed yet.
    pub const fn new() -> Self {
        OwnSettings(std::sync::OnceLock::new())
    }

    /// Makes `settings` the ones the service uses (the binary calls this after parsing its
    /// flags). Only the first call counts.
    pub fn install(&self, settings: T) {
        let _ = self.0.set(settings);
    }

    /// The installed settings, else those `A` reads from `options` (command-line
    /// arguments) and the environment, made into settings by `build`.
    pub fn current<A: Args + FromArgMatches>(
        &self,
        binary: &'static str,
        options: &[String],
        build: impl FnOnce(A) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        if let Some(s) = self.0.get() {
            return Ok(s.clone());
        }
        let command = A::augment_args(clap::Command::new(binary));
        let args = std::iter::once(binary.to_owned()).chain(options.iter().cloned());
        let matches = command
            .try_get_matches_from(args)
            .map_err(|e| anyhow::anyhow!("{binary}: {e}"))?;
        build(A::from_arg_matches(&matches).map_err(|e| anyhow::anyhow!("{binary}: {e}"))?)
    }
}

impl<T: Clone> Default for OwnSettings<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A secret key given in the environment: base64, standard or URL-safe, padded or not.
pub fn decode_key(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let text = text.trim();
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
        .map_err(|_| "not base64".to_owned())
}
