//! Launches a set of services in this process: binds every listener first (so each
//! service knows where its peers are, even on ephemeral ports), provisions and migrates
//! each schema, then serves until told to stop.
//!
//! A service named in [`LaunchSettings::restartable`] runs on a tokio runtime (and OS
//! thread) of its own, so [`Platform::kill`] can end it abruptly, as a crash would: its
//! runtime is shut down with every task on it (in-flight requests, background loops,
//! spawned work) dropped mid-flight and its database connections closed, nothing drained.
//! [`Platform::restart`] starts it again on the same port and the same database.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::certs::DevCertificates;
use crate::sandbox::{self, SandboxSettings};
use anyhow::Context;
use kuajing_platform::ServiceContext;
use kuajing_platform::ServiceDef;
use kuajing_platform::auth::{Keyring, ServiceKeys};
use kuajing_platform::clock::Clock;
use kuajing_platform::db::PoolSettings;
use kuajing_platform::key_files::KeyFiles;
use kuajing_platform::server::ServerSettings;
use kuajing_platform::service::{self, Database, Peers};
use sqlx::postgres::PgConnectOptions;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// One instance of a service up and serving.
#[derive(Clone, Debug)]
pub struct Running {
    /// The service's definition.
    pub def: &'static ServiceDef,
    /// Which instance (0 to replicas - 1).
    pub instance: usize,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// A launched platform; [`Platform::stop`] shuts every service down gracefully.
pub struct Platform {
    services: Vec<Running>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
    keyring: Keyring,
    /// Service instances on runtimes of their own (restartable), by name and instance.
    isolated: Vec<((&'static str, usize), Isolated)>,
    /// What a restart needs.
    restart: RestartInfo,
    /// The sandbox's address, when it runs.
    sandbox: Option<SocketAddr>,
    /// The tasks reloading key files, when keys are kept in files.
    watchers: Vec<JoinHandle<()>>,
}

/// What restarting a service needs: where the database and the peers are, and how the
/// services were run.
struct RestartInfo {
    admin: PgConnectOptions,
    pooler: Option<(String, u16)>,
    urls: Vec<(String, String)>,
    pool: PoolSettings,
    server: ServerSettings,
    clock: Clock,
    options: Vec<(&'static str, Vec<String>)>,
    tls: Option<DevCertificates>,
    key_files: Option<KeyFileSettings>,
}

/// A service running on a runtime of its own.
struct Isolated {
    /// Ends it abruptly; `None` once killed.
    kill: Option<oneshot::Sender<()>>,
    /// Resolves when its runtime is gone.
    done: Option<oneshot::Receiver<anyhow::Result<()>>>,
}

/// Everything a service started on its own runtime needs.
struct IsolatedStart {
    def: &'static ServiceDef,
    listener: std::net::TcpListener,
    admin: PgConnectOptions,
    pooler: Option<(String, u16)>,
    urls: Vec<(String, String)>,
    keys: Arc<ServiceKeys>,
    pool: PoolSettings,
    server: ServerSettings,
    clock: Clock,
    options: Vec<String>,
    stopped: watch::Receiver<bool>,
    ready: Option<oneshot::Sender<()>>,
}

/// Service `def`'s pool: its role and schema provisioned (and migrated when `migrate`)
/// through `admin` directly, then, with a `pooler`, reopened through it.
async fn serving_pool(
    def: &'static ServiceDef,
    admin: &PgConnectOptions,
    pooler: Option<&(String, u16)>,
    pool: &PoolSettings,
    migrate: bool,
) -> anyhow::Result<sqlx::PgPool> {
    let direct =
        service::prepare_database(def, &Database::Provision(admin.clone()), pool, migrate).await?;
    let Some((host, port)) = pooler else {
        return Ok(direct);
    };
    direct.close().await;
    let own = admin
        .clone()
        .username(&def.runtime_role())
        .host(host)
        .port(*port);
    service::prepare_database(def, &Database::Own(own), pool, false).await
}

/// Starts a service on an OS thread with its own runtime. Its database is provisioned
/// already; the pool is made on that runtime (a pool belongs to the runtime it was made on).
fn spawn_isolated(start: IsolatedStart) -> anyhow::Result<Isolated> {
    let (kill_tx, kill_rx) = oneshot::channel::<()>();
    let (done_tx, done_rx) = oneshot::channel();
    let name = start.def.name;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(format!("kj-{name}"))
        .enable_all()
        .build()
        .with_context(|| format!("{name}: a runtime of its own"))?;
    std::thread::Builder::new()
        .name(format!("kj-{name}-main"))
        .spawn(move || {
            let IsolatedStart {
                def,
                listener,
                admin,
                pooler,
                urls,
                keys,
                pool,
                server,
                clock,
                options,
                mut stopped,
                ready,
            } = start;
            let result = runtime.block_on(async move {
                let listener = TcpListener::from_std(listener)?;
                let db = serving_pool(def, &admin, pooler.as_ref(), &pool, false).await?;
                let ctx = ServiceContext {
                    pool: db.clone(),
                    peers: Peers::new(urls, keys, server.tls.as_ref())?,
                    errors: def.errors,
                    clock,
                    options,
                    revocations: None,
                };
                let shutdown = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                tokio::select! {
                    served = service::run_signalling(def, ctx, listener, &server, shutdown, ready) => {
                        db.close().await;
                        served
                    }
                    // Killed: return at once; the runtime's shutdown drops everything.
                    _ = kill_rx => Ok(()),
                }
            });
            // Drops every task still on the runtime (a crash, when killed), waiting only
            // for the runtime's threads to let go.
            runtime.shutdown_timeout(Duration::from_secs(5));
            if let Err(e) = &result {
                tracing::error!(service = name, error = %format!("{e:#}"), "service stopped with an error");
            }
            let _ = done_tx.send(result);
        })
        .with_context(|| format!("{name}: a thread of its own"))?;
    Ok(Isolated {
        kill: Some(kill_tx),
        done: Some(done_rx),
    })
}

/// A listener on `addr` with address reuse, so a port that a stopped platform's
/// connections still hold in TIME-WAIT can be listened on again at once.
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Launch settings.
#[derive(Clone, Debug)]
pub struct LaunchSettings {
    /// Host to bind (127.0.0.1 for local use).
    pub host: std::net::IpAddr,
    /// Port per service name; 0 picks a free port. Missing names use their default port.
    pub ports: Vec<(&'static str, u16)>,
    /// Pool settings for every service.
    pub pool: PoolSettings,
    /// Server settings for every service.
    pub server: ServerSettings,
    /// The clock every service reads (the testkit keeps a handle to move it).
    pub clock: Clock,
    /// Services to run on runtimes of their own, so they can be killed and restarted
    /// ([`Platform::kill`], [`Platform::restart`]); empty for `kuajing up`.
    pub restartable: Vec<&'static str>,
    /// Per service name, its own options as command-line arguments (e.g. edge's
    /// `--caller-rate`); a service not named runs on its environment and defaults.
    pub options: Vec<(&'static str, Vec<String>)>,
    /// Mutual TLS between the services, each with its certificate from this set.
    pub tls: Option<DevCertificates>,
    /// Serve the sandbox (simulated bank and mailbox) beside the services, on the port
    /// named "sandbox" in `ports` (default 50056); `None` serves none.
    pub sandbox: Option<SandboxSettings>,
    /// Instances of every service (at least 1). Instance `i` listens on its service's port
    /// plus `100 * i` (ephemeral ports stay ephemeral), and every peer name resolves to all
    /// of them, so calls balance over them as over a Kubernetes Deployment's pods.
    pub replicas: usize,
    /// Where the services' sessions go once their schemas are provisioned and migrated
    /// (`host`, `port`): a transaction-mode pooler in front of the same server. Provisioning
    /// and migrations always use the admin options directly, as an init container uses the
    /// primary's own address. `None`: the server itself.
    pub pooler: Option<(String, u16)>,
    /// Service keys kept in files and reloaded when they change, as from a mounted Secret;
    /// `None`: in memory, as generated.
    pub key_files: Option<KeyFileSettings>,
}

/// Service keys in a directory (`crate::keys`' layout: a `<name>.key` per caller, a shared
/// `trust`), each service reloading its files when they change: what a rotation edits.
#[derive(Clone, Debug)]
pub struct KeyFileSettings {
    /// The directory.
    pub dir: PathBuf,
    /// How often each service checks its files.
    pub every: Duration,
}

impl KeyFileSettings {
    /// The files service `name` reads.
    pub fn files(&self, name: &str) -> KeyFiles {
        crate::keys::files(&self.dir, name)
    }
}

/// Service `name`'s keys: from `ring`, or from its files (then watched by a task pushed on
/// `watchers`).
fn service_keys(
    ring: &Keyring,
    files: Option<&KeyFileSettings>,
    name: &str,
    watchers: &mut Vec<JoinHandle<()>>,
) -> anyhow::Result<Arc<ServiceKeys>> {
    let Some(settings) = files else {
        return ring.for_service(name).context("a key for every service");
    };
    let (keys, watcher) = settings.files(name).load_and_watch(name, settings.every)?;
    watchers.push(watcher);
    Ok(keys)
}

/// `server` with service `name`'s own certificate from `tls`, when TLS is on.
fn server_for(
    server: &ServerSettings,
    tls: Option<&DevCertificates>,
    name: &str,
) -> anyhow::Result<ServerSettings> {
    let mut server = server.clone();
    if let Some(set) = tls {
        server.tls = Some(
            set.tls_for(name)
                .with_context(|| format!("no certificate for {name}"))?,
        );
    }
    Ok(server)
}

/// The options given for service `name`.
fn options_of(options: &[(&'static str, Vec<String>)], name: &str) -> Vec<String> {
    options
        .iter()
        .filter(|(n, _)| *n == name)
        .flat_map(|(_, o)| o.iter().cloned())
        .collect()
}

impl LaunchSettings {
    /// Every service on a free ephemeral port of 127.0.0.1 (tests).
    pub fn ephemeral() -> Self {
        LaunchSettings {
            host: [127, 0, 0, 1].into(),
            ports: crate::services()
                .iter()
                .map(|d| (d.name, 0))
                .chain([("sandbox", 0)])
                .collect(),
            pool: PoolSettings {
                max_connections: 4,
                ..PoolSettings::default()
            },
            // Ended sign-ins are refused within half a second (tests wait for it).
            server: ServerSettings {
                revocation_poll: Duration::from_millis(500),
                // `kuajing up`'s own tools and the tests act with the operator key itself.
                nameless_operators: true,
                ..ServerSettings::default()
            },
            clock: Clock::system(),
            restartable: Vec::new(),
            options: Vec::new(),
            tls: None,
            sandbox: None,
            replicas: 1,
            pooler: None,
            key_files: None,
        }
    }

    /// Service `name`'s server settings: the shared ones, with its own certificate.
    fn server_for(&self, name: &str) -> anyhow::Result<ServerSettings> {
        server_for(&self.server, self.tls.as_ref(), name)
    }

    fn port(&self, name: &str) -> u16 {
        self.ports
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
            .or_else(|| service::default_port(name))
            .or((name == "sandbox").then_some(sandbox::DEFAULT_PORT))
            .unwrap_or(0)
    }
}

impl Platform {
    /// Provisions each service's role and schema through `admin`, migrates, and serves.
    pub async fn start(
        defs: &[&'static ServiceDef],
        admin: &PgConnectOptions,
        settings: &LaunchSettings,
    ) -> anyhow::Result<Platform> {
        let replicas = settings.replicas.max(1);
        let mut listeners = Vec::new();
        for def in defs {
            let base = settings.port(def.name);
            for instance in 0..replicas {
                let offset = u16::try_from(100 * instance).context("too many replicas")?;
                let port = if base == 0 {
                    0
                } else {
                    base.checked_add(offset).context("port out of range")?
                };
                let addr = SocketAddr::new(settings.host, port);
                let listener = listen(addr).with_context(|| {
                    format!(
                        "{}: cannot listen on {addr} (another `kuajing up`, or an outgoing \
                         connection holding the port: the default ports lie in Linux's \
                         ephemeral range; choose others with --{}-port or reserve them with \
                         net.ipv4.ip_local_reserved_ports)",
                        def.name, def.name
                    )
                })?;
                listeners.push((*def, instance, listener.local_addr()?, listener));
            }
        }
        let scheme = if settings.tls.is_some() {
            "https"
        } else {
            "http"
        };
        // Each peer name: every instance of it, comma-separated (balanced by the callers).
        let urls: Vec<(String, String)> = defs
            .iter()
            .map(|def| {
                let all: Vec<String> = listeners
                    .iter()
                    .filter(|(d, ..)| d.name == def.name)
                    .map(|(_, _, addr, _)| format!("{scheme}://{addr}"))
                    .collect();
                (def.name.to_owned(), all.join(","))
            })
            .collect();
        // One key per service (and the operators'), trusted by all: service credentials.
        let names: Vec<&str> = defs.iter().map(|d| d.name).collect();
        let keyring = Keyring::generate(&names)?;
        // Identity signs operators' tokens with the operator key when they sign in (a
        // platform team gives it KJ_IDENTITY_OPERATOR_KEY).
        let mut options = settings.options.clone();
        if let Some(seed) = keyring.seed_text(kuajing_platform::auth::OPERATOR) {
            options.push(("identity", vec![format!("--operator-key={seed}")]));
        }
        // Members bind with proofs from the sandbox's simulated marketplaces.
        let marketplaces = crate::sandbox::marketplace::trusted(&keyring)?;
        options.push((
            "identity",
            vec![format!("--marketplace-keys={marketplaces}")],
        ));
        if let Some(files) = &settings.key_files {
            crate::keys::write_set(&files.dir, &keyring)?;
        }
        let mut watchers = Vec::new();

        // Provision and migrate every schema before any service serves, so a failure
        // leaves nothing half-started.
        let mut prepared = Vec::new();
        for (def, instance, addr, listener) in listeners {
            let migrate = instance == 0;
            let pooler = settings.pooler.as_ref();
            let pool = serving_pool(def, admin, pooler, &settings.pool, migrate)
                .await
                .with_context(|| format!("{}: preparing schema {}", def.name, def.schema))?;
            prepared.push((def, instance, addr, listener, pool));
        }

        let (stop, stopped) = watch::channel(false);
        let mut services = Vec::new();
        let mut tasks = Vec::new();
        let mut isolated = Vec::new();
        let mut readiness = Vec::new();
        for (def, instance, addr, listener, pool) in prepared {
            let (signal, ready) = oneshot::channel();
            readiness.push((def.name, instance, ready));
            if settings.restartable.contains(&def.name) {
                // Served from a runtime of its own, with a pool made there.
                pool.close().await;
                let start = IsolatedStart {
                    def,
                    listener: listener.into_std()?,
                    admin: admin.clone(),
                    pooler: settings.pooler.clone(),
                    urls: urls.clone(),
                    keys: service_keys(
                        &keyring,
                        settings.key_files.as_ref(),
                        def.name,
                        &mut watchers,
                    )?,
                    pool: settings.pool.clone(),
                    server: settings.server_for(def.name)?,
                    clock: settings.clock.clone(),
                    options: options_of(&options, def.name),
                    stopped: stopped.clone(),
                    ready: Some(signal),
                };
                isolated.push(((def.name, instance), spawn_isolated(start)?));
                services.push(Running {
                    def,
                    instance,
                    addr,
                });
                continue;
            }
            let mut stopped = stopped.clone();
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            let keys = service_keys(
                &keyring,
                settings.key_files.as_ref(),
                def.name,
                &mut watchers,
            )?;
            let server = settings.server_for(def.name)?;
            let ctx = ServiceContext {
                pool: pool.clone(),
                peers: Peers::new(urls.clone(), keys, server.tls.as_ref())?,
                errors: def.errors,
                clock: settings.clock.clone(),
                options: options_of(&options, def.name),
                revocations: None,
            };
            tasks.push(tokio::spawn(async move {
                service::run_signalling(def, ctx, listener, &server, shutdown, Some(signal))
                    .await?;
                pool.close().await;
                Ok(())
            }));
            services.push(Running {
                def,
                instance,
                addr,
            });
        }
        // Every instance built (keys, settings, start-up work) before the platform is up.
        for (name, instance, ready) in readiness {
            match tokio::time::timeout(Duration::from_secs(120), ready).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => anyhow::bail!("{name}/{instance} failed to start (see its log)"),
                Err(_) => anyhow::bail!("{name}/{instance} not ready after 120 s"),
            }
        }
        let sandbox_addr = match &settings.sandbox {
            None => None,
            Some(sandbox_settings) => {
                let addr = SocketAddr::new(settings.host, settings.port("sandbox"));
                let listener =
                    listen(addr).with_context(|| format!("sandbox: cannot listen on {addr}"))?;
                let addr = listener.local_addr()?;
                let wallet_url = urls
                    .iter()
                    .find(|(n, _)| n == "wallet")
                    .map(|(_, u)| u.clone())
                    .context("the sandbox needs wallet")?;
                let (keyring, admin) = (keyring.clone(), admin.clone());
                let server = settings.server_for(sandbox::BANK)?;
                let (sandbox_settings, stopped) = (sandbox_settings.clone(), stopped.clone());
                tasks.push(tokio::spawn(async move {
                    sandbox::serve(
                        listener,
                        wallet_url,
                        &keyring,
                        &admin,
                        server,
                        sandbox_settings,
                        stopped,
                    )
                    .await
                }));
                Some(addr)
            }
        };
        Ok(Platform {
            services,
            stop,
            tasks,
            sandbox: sandbox_addr,
            keyring,
            isolated,
            restart: RestartInfo {
                admin: admin.clone(),
                pooler: settings.pooler.clone(),
                urls,
                pool: settings.pool.clone(),
                server: settings.server.clone(),
                clock: settings.clock.clone(),
                options,
                tls: settings.tls.clone(),
                key_files: settings.key_files.clone(),
            },
            watchers,
        })
    }

    /// Ends a restartable service abruptly, as a crash would: nothing is drained, every
    /// task it had is dropped where it was, its connections close. Waits until it is gone.
    /// With replicas, its first instance.
    pub async fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        self.kill_instance(name, 0).await
    }

    /// Ends instance `instance` of a restartable service abruptly (see [`Platform::kill`]).
    pub async fn kill_instance(&mut self, name: &str, instance: usize) -> anyhow::Result<()> {
        let slot = self
            .isolated
            .iter_mut()
            .find(|(key, _)| *key == (name, instance))
            .map(|(_, s)| s)
            .with_context(|| format!("{name}/{instance} was not launched as restartable"))?;
        let kill = slot
            .kill
            .take()
            .with_context(|| format!("{name}/{instance} is not running"))?;
        let _ = kill.send(());
        if let Some(done) = slot.done.take() {
            let _ = done.await;
        }
        Ok(())
    }

    /// Starts a killed service again, on the same port and database (its first instance).
    pub async fn restart(&mut self, name: &str) -> anyhow::Result<()> {
        self.restart_instance(name, 0).await
    }

    /// Starts a killed instance again, on the same port and database.
    pub async fn restart_instance(&mut self, name: &str, instance: usize) -> anyhow::Result<()> {
        let running = self
            .services
            .iter()
            .find(|r| r.def.name == name && r.instance == instance)
            .cloned()
            .with_context(|| format!("no service {name}/{instance}"))?;
        let slot = self
            .isolated
            .iter_mut()
            .find(|(key, _)| *key == (name, instance))
            .map(|(_, s)| s)
            .with_context(|| format!("{name}/{instance} was not launched as restartable"))?;
        anyhow::ensure!(
            slot.kill.is_none(),
            "{name}/{instance} is still running; kill it first"
        );
        let listener = listen(running.addr)
            .with_context(|| format!("{name}: cannot listen on {} again", running.addr))?
            .into_std()?;
        let (signal, ready) = oneshot::channel();
        let start = IsolatedStart {
            def: running.def,
            listener,
            admin: self.restart.admin.clone(),
            pooler: self.restart.pooler.clone(),
            urls: self.restart.urls.clone(),
            keys: service_keys(
                &self.keyring,
                self.restart.key_files.as_ref(),
                name,
                &mut self.watchers,
            )?,
            pool: self.restart.pool.clone(),
            server: server_for(&self.restart.server, self.restart.tls.as_ref(), name)?,
            clock: self.restart.clock.clone(),
            options: options_of(&self.restart.options, name),
            stopped: self.stop.subscribe(),
            ready: Some(signal),
        };
        *slot = spawn_isolated(start)?;
        match tokio::time::timeout(Duration::from_secs(120), ready).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => anyhow::bail!("{name}/{instance} failed to start again (see its log)"),
            Err(_) => anyhow::bail!("{name}/{instance} not ready after 120 s"),
        }
    }

    /// The keys the services run with: mint an operator token, or act as a service in tests.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The running services.
    pub fn services(&self) -> &[Running] {
        &self.services
    }

    /// Where the sandbox listens, when it runs.
    pub fn sandbox_addr(&self) -> Option<SocketAddr> {
        self.sandbox
    }

    /// Every instance's address of a service by short name.
    pub fn addrs(&self, name: &str) -> Vec<SocketAddr> {
        self.services
            .iter()
            .filter(|r| r.def.name == name)
            .map(|r| r.addr)
            .collect()
    }

    /// The peer setting of a service by short name: every instance's URL, comma-separated.
    pub fn peer_url(&self, name: &str) -> Option<&str> {
        self.restart
            .urls
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, u)| u.as_str())
    }

    /// The address of a service by short name (its first instance; `sandbox` for the
    /// sandbox, when it runs).
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.services
            .iter()
            .find(|r| r.def.name == name)
            .map(|r| r.addr)
            .or(self.sandbox.filter(|_| name == "sandbox"))
    }

    /// Stops every service (in-flight requests finish) and waits for them.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        for watcher in &self.watchers {
            watcher.abort();
        }
        let mut first_error = None;
        for task in self.tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => first_error = first_error.or(Some(e)),
                Err(e) => first_error = first_error.or(Some(e.into())),
            }
        }
        for (_, mut slot) in self.isolated {
            if let Some(done) = slot.done.take() {
                match done.await {
                    Ok(Ok(())) | Err(_) => {}
                    Ok(Err(e)) => first_error = first_error.or(Some(e)),
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
