//! Launches a set of services in this process: binds every listener first (so each
//! service knows where its peers are, even on ephemeral ports), provisions and migrates
//! each schema, then serves until told to stop.

use std::net::SocketAddr;

use anyhow::Context;
use kuajing_platform::ServiceContext;
use kuajing_platform::ServiceDef;
use kuajing_platform::auth::Keyring;
use kuajing_platform::clock::Clock;
use kuajing_platform::db::PoolSettings;
use kuajing_platform::server::ServerSettings;
use kuajing_platform::service::{self, Database, Peers};
use sqlx::postgres::PgConnectOptions;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One service up and serving.
#[derive(Clone, Debug)]
pub struct Running {
    /// The service's definition.
    pub def: &'static ServiceDef,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// A launched platform; [`Platform::stop`] shuts every service down gracefully.
pub struct Platform {
    services: Vec<Running>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
    keyring: Keyring,
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
}

impl LaunchSettings {
    /// Every service on a free ephemeral port of 127.0.0.1 (tests).
    pub fn ephemeral() -> Self {
        LaunchSettings {
            host: [127, 0, 0, 1].into(),
            ports: crate::services().iter().map(|d| (d.name, 0)).collect(),
            pool: PoolSettings {
                max_connections: 4,
                ..PoolSettings::default()
            },
            server: ServerSettings::default(),
            clock: Clock::system(),
        }
    }

    fn port(&self, name: &str) -> u16 {
        self.ports
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
            .or_else(|| service::default_port(name))
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
        let mut listeners = Vec::new();
        for def in defs {
            let addr = SocketAddr::new(settings.host, settings.port(def.name));
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("{}: cannot listen on {addr}", def.name))?;
            listeners.push((*def, listener.local_addr()?, listener));
        }
        let urls: Vec<(String, String)> = listeners
            .iter()
            .map(|(def, addr, _)| (def.name.to_owned(), format!("http://{addr}")))
            .collect();
        // One key per service (and the operators'), trusted by all: service credentials.
        let names: Vec<&str> = defs.iter().map(|d| d.name).collect();
        let keyring = Keyring::generate(&names)?;

        // Provision and migrate every schema before any service serves, so a failure
        // leaves nothing half-started.
        let database = Database::Provision(admin.clone());
        let mut prepared = Vec::new();
        for (def, addr, listener) in listeners {
            let pool = service::prepare_database(def, &database, &settings.pool, true)
                .await
                .with_context(|| format!("{}: preparing schema {}", def.name, def.schema))?;
            prepared.push((def, addr, listener, pool));
        }

        let (stop, stopped) = watch::channel(false);
        let mut services = Vec::new();
        let mut tasks = Vec::new();
        for (def, addr, listener, pool) in prepared {
            let mut stopped = stopped.clone();
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            let keys = keyring
                .for_service(def.name)
                .context("a key for every service")?;
            let ctx = ServiceContext {
                pool: pool.clone(),
                peers: Peers::new(urls.clone(), keys)?,
                errors: def.errors,
                clock: settings.clock.clone(),
            };
            let server = settings.server.clone();
            tasks.push(tokio::spawn(async move {
                service::run(def, ctx, listener, &server, shutdown).await?;
                pool.close().await;
                Ok(())
            }));
            services.push(Running { def, addr });
        }
        Ok(Platform {
            services,
            stop,
            tasks,
            keyring,
        })
    }

    /// The keys the services run with: mint an operator token, or act as a service in tests.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The running services.
    pub fn services(&self) -> &[Running] {
        &self.services
    }

    /// The address of a service by short name.
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.services
            .iter()
            .find(|r| r.def.name == name)
            .map(|r| r.addr)
    }

    /// Stops every service (in-flight requests finish) and waits for them.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        let mut first_error = None;
        for task in self.tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => first_error = first_error.or(Some(e)),
                Err(e) => first_error = first_error.or(Some(e.into())),
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
