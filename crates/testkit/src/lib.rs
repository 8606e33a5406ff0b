//! Test support on real parts: a fresh PostgreSQL database per test and the six real
//! services on ephemeral ports in this process, with connected gRPC clients.
//!
//! The server comes from `KJ_TEST_DATABASE_URL` (an administrative URL), else the server
//! on 127.0.0.1:5432 (user `postgres`), else a private cluster under `target/` that is
//! started once and left running for the next test run. Each test's database is dropped
//! when the test ends (`stop`, or on drop).
//!
//! With `KJ_TEST_POOLER=host:port` (a PgBouncer in transaction mode in front of that server,
//! as `deploy/pgbouncer/start-local` runs one), the services' sessions go through the
//! pooler; provisioning and migrations stay direct, as in a deployment.

use std::time::Duration;

use anyhow::Context;
use kuajing::certs::DevCertificates;
use kuajing::launch::{LaunchSettings, Platform};
use kuajing::pgcluster::Cluster;
use kuajing_platform::auth::{self, Keyring};
use kuajing_platform::clock::Clock;
use kuajing_platform::tls::MutualTls;
use kuajing_proto::{authorization, edge, fx, identity, order, wallet};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use std::sync::Arc;
use tokio::sync::OnceCell;
use tonic::transport::Endpoint;

/// Port of the private fallback cluster.
const PRIVATE_PORT: u16 = 54329;

static SERVER: OnceCell<PgConnectOptions> = OnceCell::const_new();

/// The pooler the services' sessions go through (`KJ_TEST_POOLER=host:port`), if any.
pub fn pooler() -> anyhow::Result<Option<(String, u16)>> {
    let Ok(at) = std::env::var("KJ_TEST_POOLER") else {
        return Ok(None);
    };
    let (host, port) = at
        .rsplit_once(':')
        .with_context(|| format!("KJ_TEST_POOLER={at:?} is not host:port"))?;
    let port = port
        .parse()
        .with_context(|| format!("KJ_TEST_POOLER={at:?}: bad port"))?;
    Ok(Some((host.to_owned(), port)))
}

/// Administrative options for the test server (database `postgres`).
pub async fn server() -> anyhow::Result<PgConnectOptions> {
    SERVER.get_or_try_init(find_server).await.cloned()
}

async fn find_server() -> anyhow::Result<PgConnectOptions> {
    if let Ok(url) = std::env::var("KJ_TEST_DATABASE_URL") {
        return kuajing_platform::db::parse_url(&url);
    }
    let local = PgConnectOptions::new()
        .host("127.0.0.1")
        .port(5432)
        .username("postgres")
        .database("postgres");
    if let Ok(conn) = local.connect().await {
        let _ = conn.close().await;
        return Ok(local);
    }
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/kuajing-test-postgres");
    let cluster = Cluster::new(dir, PRIVATE_PORT)?;
    cluster.init()?;
    cluster.start()?;
    Ok(cluster.admin_options())
}

/// A database created for one test and dropped after it.
pub struct TestDb {
    server: PgConnectOptions,
    name: String,
    dropped: bool,
}

impl TestDb {
    /// Creates a fresh, uniquely named database.
    pub async fn create() -> anyhow::Result<TestDb> {
        let server = server().await?;
        let name = format!("kjt_{}", uuid::Uuid::now_v7().simple());
        let mut conn = server
            .connect()
            .await
            .context("connecting to the test server")?;
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(TestDb {
            server,
            name,
            dropped: false,
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Administrative options on this database.
    pub fn admin_options(&self) -> PgConnectOptions {
        self.server.clone().database(&self.name)
    }

    /// Drops the database (ending any sessions still on it).
    pub async fn drop_database(mut self) -> anyhow::Result<()> {
        self.dropped = true;
        drop_database(&self.server, &self.name).await
    }
}

async fn drop_database(server: &PgConnectOptions, name: &str) -> anyhow::Result<()> {
    let mut conn = server.connect().await?;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    Ok(())
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // A test that failed or never called `drop_database`: drop it on a thread of its
        // own, since we may be inside (or outside) a runtime here.
        let server = self.server.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                let _ = rt.block_on(drop_database(&server, &name));
            }
        })
        .join();
    }
}

/// Which credential a test channel presents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum As {
    /// A caller the method's contract allows: for a request naming a person (`kj-subject`)
    /// edge, else an operator; otherwise a service (before operators), edge only where the
    /// contract lets it call for nobody.
    AllowedCaller,
    /// This caller (a service name or `operator`), allowed or not.
    Caller(String),
    /// No credential at all.
    Nobody,
}

/// A test channel: a tonic channel that adds a service credential to each request.
#[derive(Clone)]
pub struct Channel {
    inner: tonic::transport::Channel,
    keyring: Arc<Keyring>,
    audience: String,
    who: As,
    /// The person every request names (`kj-subject`) unless it names one itself.
    subject: Option<http::HeaderValue>,
}

impl Channel {
    /// This channel, naming `account_id` (`kj-subject`) on every request that does not
    /// name a person itself: a client for edge acting for one person.
    pub fn acting_for(mut self, account_id: &str) -> Channel {
        self.subject = Some(account_id.parse().expect("an ASCII account id"));
        self
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Channel {
    type Response = http::Response<tonic::body::Body>;
    type Error = tonic::transport::Error;
    type Future =
        <tonic::transport::Channel as tower::Service<http::Request<tonic::body::Body>>>::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        tower::Service::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, mut request: http::Request<tonic::body::Body>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let allowed = kuajing_proto::callers::allowed(&path).unwrap_or_default();
        let named = request.headers().contains_key(auth::SUBJECT_HEADER);
        // The channel's person goes on requests edge makes (for the person).
        let for_person = named || (self.subject.is_some() && allowed.contains(&"edge"));
        let caller = match &self.who {
            As::Nobody => None,
            As::Caller(c) => Some(c.clone()),
            As::AllowedCaller => {
                // A request naming a person is made by edge (or an operator), the only
                // callers that may name one; edge makes a call its contract says is for a
                // person only with one named, so without one a service calling for the
                // system stands in.
                let edge_cannot = !for_person && kuajing_proto::callers::edge_needs_subject(&path);
                let services = || allowed.iter().filter(|c| **c != auth::OPERATOR);
                let first = if for_person {
                    allowed
                        .iter()
                        .find(|c| **c == "edge" || **c == auth::OPERATOR)
                } else {
                    services()
                        .find(|c| !(edge_cannot && **c == "edge"))
                        .or_else(|| allowed.iter().find(|c| **c == auth::OPERATOR))
                };
                first
                    .or_else(|| services().next())
                    .or(allowed.first())
                    .map(|c| (*c).to_owned())
            }
        };
        if let Some(subject) = &self.subject
            && !named
            && caller.as_deref() == Some("edge")
        {
            request
                .headers_mut()
                .insert(auth::SUBJECT_HEADER, subject.clone());
        }
        let exp = chrono::Utc::now() + chrono::Duration::minutes(5);
        if let Some(token) = caller.and_then(|c| self.keyring.token(&c, &self.audience, exp))
            && let Ok(value) = token.parse()
        {
            request.headers_mut().insert(auth::TOKEN_HEADER, value);
        }
        tower::Service::call(&mut self.inner, request)
    }
}

/// All six services on ephemeral ports over a fresh database.
pub struct TestPlatform {
    db: TestDb,
    platform: Platform,
    clock: Clock,
}

impl TestPlatform {
    /// Creates the database, provisions and migrates every schema, and serves.
    pub async fn start() -> anyhow::Result<TestPlatform> {
        Self::start_restartable(&[]).await
    }

    /// As [`TestPlatform::start`], with the `restartable` services (short names) each on a
    /// runtime of its own, so the test can [`kill`](TestPlatform::kill) one abruptly, as a
    /// crash would, and [`restart`](TestPlatform::restart) it on the same port and database.
    pub async fn start_restartable(restartable: &[&'static str]) -> anyhow::Result<TestPlatform> {
        Self::launch(LaunchSettings {
            restartable: restartable.to_vec(),
            ..LaunchSettings::ephemeral()
        })
        .await
    }

    /// As [`TestPlatform::start`], with mutual TLS between the services, each presenting
    /// its certificate from `certs`. Reach it with [`TestPlatform::channel_over_tls`].
    pub async fn start_with_tls(certs: DevCertificates) -> anyhow::Result<TestPlatform> {
        Self::launch(LaunchSettings {
            tls: Some(certs),
            ..LaunchSettings::ephemeral()
        })
        .await
    }

    /// As [`TestPlatform::start`], with services' own options as command-line arguments,
    /// e.g. `[("edge", &["--caller-rate", "1000"])]`.
    pub async fn start_with_options(
        options: &[(&'static str, &[&str])],
    ) -> anyhow::Result<TestPlatform> {
        Self::start_replicated_with_options(1, &[], options).await
    }

    /// As [`TestPlatform::start`], with `replicas` instances of every service (each peer
    /// name resolving to all of them) and the `restartable` services' instances each on a
    /// runtime of its own ([`TestPlatform::kill_instance`]).
    pub async fn start_replicated(
        replicas: usize,
        restartable: &[&'static str],
    ) -> anyhow::Result<TestPlatform> {
        Self::start_replicated_with_options(replicas, restartable, &[]).await
    }

    /// As [`TestPlatform::start_replicated`], with services' own options (as
    /// [`TestPlatform::start_with_options`]).
    pub async fn start_replicated_with_options(
        replicas: usize,
        restartable: &[&'static str],
        options: &[(&'static str, &[&str])],
    ) -> anyhow::Result<TestPlatform> {
        Self::launch(LaunchSettings {
            replicas,
            restartable: restartable.to_vec(),
            options: options
                .iter()
                .map(|(name, o)| (*name, o.iter().map(|a| (*a).to_owned()).collect()))
                .collect(),
            ..LaunchSettings::ephemeral()
        })
        .await
    }

    /// As [`TestPlatform::start`], with the service keys kept as files in `dir` (one
    /// `<name>.key` per caller and a shared `trust`) that every service checks each `every`
    /// and reloads when they change, as from a mounted Secret: a test rotates keys by
    /// editing them. The test's own channels keep minting with the first keys.
    pub async fn start_with_key_files(
        dir: &std::path::Path,
        every: std::time::Duration,
    ) -> anyhow::Result<TestPlatform> {
        Self::launch(LaunchSettings {
            key_files: Some(kuajing::launch::KeyFileSettings {
                dir: dir.to_owned(),
                every,
            }),
            ..LaunchSettings::ephemeral()
        })
        .await
    }

    /// As [`TestPlatform::start`], with the sandbox (simulated bank and mailbox) served
    /// beside the services, its bank settling withdrawals as `settlement` says.
    pub async fn start_with_sandbox(
        settlement: kuajing::sandbox::Settlement,
    ) -> anyhow::Result<TestPlatform> {
        Self::launch(LaunchSettings {
            sandbox: Some(kuajing::sandbox::SandboxSettings { settlement }),
            ..LaunchSettings::ephemeral()
        })
        .await
    }

    /// As [`TestPlatform::start`], with every database connection of the services made to
    /// `host:port` (a forwarder the test controls in front of the test server) instead.
    pub async fn start_with_database_at(host: &str, port: u16) -> anyhow::Result<TestPlatform> {
        Self::launch_at(LaunchSettings::ephemeral(), Some((host.to_owned(), port))).await
    }

    async fn launch(settings: LaunchSettings) -> anyhow::Result<TestPlatform> {
        let settings = LaunchSettings {
            pooler: pooler()?,
            ..settings
        };
        Self::launch_at(settings, None).await
    }

    async fn launch_at(
        settings: LaunchSettings,
        database_at: Option<(String, u16)>,
    ) -> anyhow::Result<TestPlatform> {
        kuajing_platform::telemetry::init(
            kuajing_platform::telemetry::LogFormat::Pretty,
            "warn",
            "kuajing-test",
        );
        let db = TestDb::create().await?;
        let clock = settings.clock.clone();
        let admin = match database_at {
            Some((host, port)) => db.admin_options().host(&host).port(port),
            None => db.admin_options(),
        };
        let platform = Platform::start(&kuajing::services(), &admin, &settings).await?;
        Ok(TestPlatform {
            db,
            platform,
            clock,
        })
    }

    /// Ends a service started restartable abruptly: every in-flight request and task of it
    /// is dropped where it was, nothing drains, its database connections close.
    pub async fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        self.platform.kill(name).await
    }

    /// Ends one instance of a service started restartable (see [`TestPlatform::kill`]).
    pub async fn kill_instance(&mut self, name: &str, instance: usize) -> anyhow::Result<()> {
        self.platform.kill_instance(name, instance).await
    }

    /// Starts a killed service again on the same port and database (clients reconnect).
    pub async fn restart(&mut self, name: &str) -> anyhow::Result<()> {
        self.platform.restart(name).await
    }

    /// The clock every service of this platform reads; `advance` it to test expiry.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The test's database.
    pub fn db(&self) -> &TestDb {
        &self.db
    }

    /// The launched platform, to kill and restart instances.
    pub fn platform_mut(&mut self) -> &mut Platform {
        &mut self.platform
    }

    /// The launched platform (addresses, definitions).
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// A channel to a service by short name (`wallet`, ...) whose every call carries the
    /// credential of a caller its method allows (so tests reach every RPC, as the service
    /// that legitimately calls it would).
    pub fn channel(&self, name: &str) -> Channel {
        self.channel_as(name, As::AllowedCaller)
    }

    /// A channel presenting a chosen credential (or none): for authorization tests.
    pub fn channel_as(&self, name: &str, who: As) -> Channel {
        let addr = self.addr(name);
        let inner = Endpoint::from_shared(format!("http://{addr}"))
            .expect("valid URL")
            .timeout(Duration::from_secs(30))
            .connect_lazy();
        self.wrap(inner, name, who)
    }

    /// A TLS channel (for a platform started [`with TLS`](TestPlatform::start_with_tls))
    /// trusting `ca_pem`, presenting `client`'s certificate when given, and the
    /// credential `who` on each call.
    pub fn channel_over_tls(
        &self,
        name: &str,
        who: As,
        ca_pem: &str,
        client: Option<&MutualTls>,
    ) -> anyhow::Result<Channel> {
        let tls = match client {
            Some(client) => client.client(),
            None => tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(ca_pem)),
        };
        let inner = Endpoint::from_shared(format!("https://{}", self.addr(name)))?
            .timeout(Duration::from_secs(30))
            .tls_config(tls)?
            .connect_lazy();
        Ok(self.wrap(inner, name, who))
    }

    fn addr(&self, name: &str) -> std::net::SocketAddr {
        self.platform
            .addr(name)
            .unwrap_or_else(|| panic!("no service {name}"))
    }

    fn wrap(&self, inner: tonic::transport::Channel, name: &str, who: As) -> Channel {
        Channel {
            inner,
            keyring: Arc::new(self.platform.keyring().clone()),
            audience: name.to_owned(),
            who,
            subject: None,
        }
    }

    /// How to reach this platform as any caller, for the shared fixtures of
    /// [`kuajing::parties`] (verified buyers, admitted suppliers, mandates).
    pub fn reach(&self) -> kuajing::parties::Reach {
        kuajing::parties::Reach {
            urls: self
                .platform
                .services()
                .iter()
                .filter(|r| r.instance == 0)
                .map(|r| (r.def.name.to_owned(), format!("http://{}", r.addr)))
                .collect(),
            keyring: self.platform.keyring().clone(),
            database: self.db.admin_options(),
        }
    }

    /// Client of the sandbox (a platform [started with it](TestPlatform::start_with_sandbox)).
    pub fn sandbox(
        &self,
    ) -> kuajing_proto::sandbox::v1::sandbox_service_client::SandboxServiceClient<
        tonic::transport::Channel,
    > {
        let addr = self
            .platform
            .sandbox_addr()
            .expect("a platform with the sandbox");
        kuajing_proto::sandbox::v1::sandbox_service_client::SandboxServiceClient::new(
            Endpoint::from_shared(format!("http://{addr}"))
                .expect("valid URL")
                .connect_lazy(),
        )
    }

    /// Every service's URL by short name, the sandbox's too when it runs (what
    /// `kuajing operator` and `kuajing demo` are given).
    pub fn urls(&self) -> std::collections::BTreeMap<String, String> {
        let mut urls = self.reach().urls;
        if let Some(addr) = self.platform.sandbox_addr() {
            urls.insert("sandbox".to_owned(), format!("http://{addr}"));
        }
        urls
    }

    /// The first operator, as `kuajing up` makes it (kept in `data_dir`), at work with
    /// its own token (signed in with password and TOTP through edge).
    pub async fn operator(
        &self,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<kuajing::operator::Operator> {
        let (account, _) = kuajing::operator::bootstrap(&self.reach(), data_dir).await?;
        let urls = self.urls();
        let edge = urls.get("edge").context("edge")?;
        let token = kuajing::operator::token(data_dir, edge).await?;
        kuajing::operator::Operator::new(&urls, &token, &account.account_id)
    }

    /// Client of `kuajing.identity.v1.IdentityService`.
    pub fn identity(
        &self,
    ) -> identity::v1::identity_service_client::IdentityServiceClient<Channel> {
        identity::v1::identity_service_client::IdentityServiceClient::new(self.channel("identity"))
    }

    /// Client of `kuajing.wallet.v1.WalletService`.
    pub fn wallet(&self) -> wallet::v1::wallet_service_client::WalletServiceClient<Channel> {
        wallet::v1::wallet_service_client::WalletServiceClient::new(self.channel("wallet"))
    }

    /// Client of `kuajing.authorization.v1.AuthorizationService`.
    pub fn authorization(
        &self,
    ) -> authorization::v1::authorization_service_client::AuthorizationServiceClient<Channel> {
        authorization::v1::authorization_service_client::AuthorizationServiceClient::new(
            self.channel("authorization"),
        )
    }

    /// Client of `kuajing.order.v1.OrderService`.
    pub fn order(&self) -> order::v1::order_service_client::OrderServiceClient<Channel> {
        order::v1::order_service_client::OrderServiceClient::new(self.channel("order"))
    }

    /// Client of `kuajing.fx.v1.FxService`.
    pub fn fx(&self) -> fx::v1::fx_service_client::FxServiceClient<Channel> {
        fx::v1::fx_service_client::FxServiceClient::new(self.channel("fx"))
    }

    /// Client of `kuajing.edge.v1.EdgeService`.
    pub fn edge(&self) -> edge::v1::edge_service_client::EdgeServiceClient<Channel> {
        edge::v1::edge_service_client::EdgeServiceClient::new(self.channel("edge"))
    }

    /// Client of edge on a plain channel, as a person's app has it (edge takes no service
    /// credential; access tokens go on each request).
    pub fn edge_client(
        &self,
    ) -> edge::v1::edge_service_client::EdgeServiceClient<tonic::transport::Channel> {
        edge::v1::edge_service_client::EdgeServiceClient::new(
            Endpoint::from_shared(format!("http://{}", self.addr("edge")))
                .expect("valid URL")
                .connect_lazy(),
        )
    }

    /// Health client of a service by short name.
    pub fn health(&self, name: &str) -> tonic_health::pb::health_client::HealthClient<Channel> {
        tonic_health::pb::health_client::HealthClient::new(self.channel(name))
    }

    /// Reflection (v1) client of a service by short name.
    pub fn reflection(
        &self,
        name: &str,
    ) -> tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient<Channel> {
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(
            self.channel(name),
        )
    }

    /// Stops every service and drops the database.
    pub async fn stop(self) -> anyhow::Result<()> {
        let stopped = self.platform.stop().await;
        self.db.drop_database().await?;
        stopped
    }
}
