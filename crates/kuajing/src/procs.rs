//! The platform as separate processes: the real service binaries, each started with its
//! own key, listening on its own port, on a Postgres database of the caller's choosing.
//! `kuajing bench` measures them; `kuajing chaos` kills and restarts them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use std::sync::Arc;

use anyhow::{Context, bail};
use kuajing_platform::auth::Keyring;
use tokio::process::{Child, Command};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::faultproxy;

/// One service process.
struct Proc {
    child: Child,
    port: u16,
    env: Vec<(String, String)>,
}

/// The service processes: every service, in `replicas` instances each.
pub struct Processes {
    bin_dir: PathBuf,
    procs: BTreeMap<(&'static str, usize), Proc>,
    keyring: Keyring,
    replicas: usize,
    /// What the fault-injecting proxies did, when the services talk through them.
    pub net_faults: Option<Arc<faultproxy::Tally>>,
}

/// How the processes are laid out: instances per service, and whether calls between
/// services pass a fault-injecting proxy (seeded).
#[derive(Clone, Copy, Debug, Default)]
pub struct Layout {
    /// Instances of every service (at least 1). Instance `i` listens on its service's port
    /// plus `10 * i`; every peer setting names all of them.
    pub replicas: usize,
    /// Route every call between services through a fault-injecting proxy seeded so.
    pub net_faults: Option<u64>,
}

/// Edge's per-caller, per-IP and money-movement rate limits, raised (environment for the
/// edge process): a load generator is one address and a handful of people, far beyond
/// what the limits allow one real client.
pub const EDGE_LIMITS_RAISED: [(&str, &str); 5] = [
    ("KJ_EDGE_CALLER_RATE", "1000000"),
    ("KJ_EDGE_CALLER_BURST", "1000000"),
    ("KJ_EDGE_IP_RATE", "1000000"),
    ("KJ_EDGE_IP_BURST", "1000000"),
    ("KJ_EDGE_MONEY_RATE", "1000000"),
];

/// The service names and their binaries, in start order.
pub const SERVICES: [&str; 6] = ["identity", "wallet", "fx", "authorization", "order", "edge"];

/// Where the service binaries are: beside the running `kuajing` (a release build puts
/// them all in `target/release`).
pub fn default_bin_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe
        .parent()
        .context("kuajing has no directory")?
        .to_path_buf())
}

impl Processes {
    /// Starts every service binary from `bin_dir`, provisioning through `admin_url`, on
    /// 127.0.0.1 ports from `base_port` (edge on base_port, then identity, wallet, ...),
    /// and waits until each reports SERVING.
    pub async fn start(
        bin_dir: &Path,
        admin_url: &str,
        base_port: u16,
        extra_env: &[(&str, &str)],
    ) -> anyhow::Result<Processes> {
        Self::start_laid_out(bin_dir, admin_url, base_port, extra_env, Layout::default()).await
    }

    /// As [`Processes::start`], laid out as `layout` says. The proxies (with net faults)
    /// listen on the instances' ports plus 100.
    pub async fn start_laid_out(
        bin_dir: &Path,
        admin_url: &str,
        base_port: u16,
        extra_env: &[(&str, &str)],
        layout: Layout,
    ) -> anyhow::Result<Processes> {
        for name in SERVICES {
            let bin = bin_dir.join(format!("kuajing-{name}"));
            if !bin.exists() {
                bail!(
                    "{} is missing: build every service binary first, e.g. `cargo build --release --workspace --bins`",
                    bin.display()
                );
            }
        }
        let replicas = layout.replicas.max(1);
        let keyring = Keyring::generate(&SERVICES)?;
        // Identity's binary takes its server secret and signing key only from outside.
        let identity_secrets = kuajing_identity::binary::generated_secrets()?;
        let wallet_key = kuajing_wallet::settings::generated_key()?;
        let port_of = |name: &str, instance: usize| -> u16 {
            let offset = ["edge", "identity", "wallet", "authorization", "order", "fx"]
                .iter()
                .position(|n| *n == name)
                .unwrap_or(0);
            base_port + u16::try_from(offset + 10 * instance).unwrap_or(0)
        };
        // With net faults each instance is reached through a proxy of its own.
        let tally = layout
            .net_faults
            .map(|_| Arc::new(faultproxy::Tally::default()));
        let mut peers: Vec<(String, String)> = Vec::new();
        for n in ["identity", "wallet", "authorization", "order", "fx"] {
            let mut urls = Vec::new();
            for i in 0..replicas {
                let port = port_of(n, i);
                match (layout.net_faults, &tally) {
                    (Some(seed), Some(tally)) => {
                        let front = port + 100;
                        let target = std::net::SocketAddr::from(([127, 0, 0, 1], port));
                        let listen = std::net::SocketAddr::from(([127, 0, 0, 1], front));
                        faultproxy::spawn(listen, target, seed ^ u64::from(port), tally.clone())
                            .await?;
                        urls.push(format!("http://127.0.0.1:{front}"));
                    }
                    _ => urls.push(format!("http://127.0.0.1:{port}")),
                }
            }
            peers.push((format!("KJ_{}_URL", n.to_uppercase()), urls.join(",")));
        }
        let mut procs = BTreeMap::new();
        for name in SERVICES {
            for instance in 0..replicas {
                let mut env: Vec<(String, String)> = vec![
                    ("KJ_DATABASE_ADMIN_URL".into(), admin_url.to_owned()),
                    (
                        "KJ_LISTEN".into(),
                        format!("127.0.0.1:{}", port_of(name, instance)),
                    ),
                    ("RUST_LOG".into(), "warn".into()),
                ];
                env.extend(peers.iter().cloned());
                env.extend(keyring.env_for(name).context("a key per service")?);
                // The parties act as operators with the operator key itself.
                env.push(("KJ_ALLOW_NAMELESS_OPERATORS".to_owned(), "true".to_owned()));
                if name == "identity" {
                    env.extend(
                        identity_secrets
                            .iter()
                            .map(|(k, v)| ((*k).to_owned(), v.clone())),
                    );
                    // Bench and chaos parties read their codes from the development outbox.
                    env.push((
                        "KJ_IDENTITY_DEVELOPMENT_SENDER".to_owned(),
                        "true".to_owned(),
                    ));
                    // Their members bind with proofs from the simulated marketplaces.
                    env.push((
                        "KJ_IDENTITY_MARKETPLACE_KEYS".to_owned(),
                        crate::sandbox::marketplace::trusted(&keyring)?,
                    ));
                }
                if name == "wallet" {
                    env.push((wallet_key.0.to_owned(), wallet_key.1.clone()));
                }
                env.extend(
                    extra_env
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
                );
                let child = spawn(bin_dir, name, &env)?;
                procs.insert(
                    (name, instance),
                    Proc {
                        child,
                        port: port_of(name, instance),
                        env,
                    },
                );
            }
            // Instances of one service provision and migrate together; let the first
            // serve before the next service starts (its peers are there when it asks).
            for instance in 0..replicas {
                Self::wait_until_serving(&mut procs, name, instance, Duration::from_secs(60))
                    .await?;
            }
        }
        Ok(Processes {
            bin_dir: bin_dir.to_owned(),
            procs,
            keyring,
            replicas,
            net_faults: tally,
        })
    }

    /// Instances of every service.
    pub fn replicas(&self) -> usize {
        self.replicas
    }

    /// Every instance's URL of a service, comma-separated (a peer setting).
    pub fn urls(&self, name: &str) -> Option<String> {
        let all: Vec<String> = (0..self.replicas)
            .filter_map(|i| self.procs.get(&(name_of(name)?, i)))
            .map(|p| format!("http://127.0.0.1:{}", p.port))
            .collect();
        (!all.is_empty()).then(|| all.join(","))
    }

    /// The keys the processes run with (to mint tokens as any caller).
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// How to reach these processes, whose database is `database_url`.
    pub fn reach(&self, database_url: &str) -> anyhow::Result<crate::parties::Reach> {
        Ok(crate::parties::Reach {
            urls: SERVICES
                .iter()
                .filter_map(|n| self.urls(n).map(|u| ((*n).to_owned(), u)))
                .collect(),
            keyring: self.keyring.clone(),
            database: kuajing_platform::db::parse_url(database_url)?,
        })
    }

    /// The URL of a service.
    pub fn url(&self, name: &str) -> Option<String> {
        self.procs
            .get(&(name_of(name)?, 0))
            .map(|p| format!("http://127.0.0.1:{}", p.port))
    }

    /// Waits until instance `instance` of `name` answers SERVING on its health check.
    async fn wait_until_serving(
        procs: &mut BTreeMap<(&'static str, usize), Proc>,
        name: &'static str,
        instance: usize,
        within: Duration,
    ) -> anyhow::Result<()> {
        let port = procs
            .get(&(name, instance))
            .map(|p| p.port)
            .context("unknown service")?;
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + within;
        loop {
            if let Some(p) = procs.get_mut(&(name, instance))
                && let Ok(Some(status)) = p.child.try_wait()
            {
                bail!("kuajing-{name} ({instance}) exited with {status} while starting");
            }
            let service = format!("kuajing.{name}.v1.{}Service", capitalised(name));
            let ok = async {
                let channel = tonic::transport::Endpoint::from_shared(url.clone())?
                    .connect()
                    .await?;
                let r = HealthClient::new(channel)
                    .check(HealthCheckRequest { service })
                    .await?;
                anyhow::Ok(r.into_inner().status == ServingStatus::Serving as i32)
            }
            .await
            .unwrap_or(false);
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("kuajing-{name} ({instance}) did not become SERVING within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills `name` (its first instance) with SIGKILL (no drain, no cleanup: a crash).
    pub async fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        self.kill_instance(name, 0).await
    }

    /// Kills one instance with SIGKILL.
    pub async fn kill_instance(&mut self, name: &str, instance: usize) -> anyhow::Result<()> {
        let key = (name_of(name).context("unknown service")?, instance);
        let p = self.procs.get_mut(&key).context("unknown service")?;
        p.child.start_kill()?;
        p.child.wait().await?;
        Ok(())
    }

    /// Starts `name` (its first instance) again with the same settings; waits until it
    /// serves.
    pub async fn restart(&mut self, name: &str) -> anyhow::Result<()> {
        self.restart_instance(name, 0).await
    }

    /// Starts one instance again with the same settings; waits until it serves.
    pub async fn restart_instance(&mut self, name: &str, instance: usize) -> anyhow::Result<()> {
        let name = name_of(name).context("unknown service")?;
        let p = self
            .procs
            .get_mut(&(name, instance))
            .context("unknown service")?;
        p.child = spawn(&self.bin_dir, name, &p.env)?;
        Self::wait_until_serving(&mut self.procs, name, instance, Duration::from_secs(60)).await
    }

    /// The process id of `name`, while it runs.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.procs.get(&(name_of(name)?, 0))?.child.id()
    }

    /// A memory figure of `name`'s first instance in bytes, by its `/proc/<pid>/status`
    /// field (`VmRSS` resident now, `VmHWM` its peak; Linux).
    pub fn memory_bytes(&self, name: &str, field: &str) -> Option<u64> {
        let pid = self.pid(name)?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kb: u64 = status
            .lines()
            .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(kb * 1024)
    }

    /// Stops every service with SIGTERM (graceful drain), then waits.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        for p in self.procs.values_mut() {
            if let Some(pid) = p.child.id() {
                let _ = std::process::Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status();
            }
        }
        for p in self.procs.values_mut() {
            if tokio::time::timeout(Duration::from_secs(15), p.child.wait())
                .await
                .is_err()
            {
                let _ = p.child.start_kill();
            }
        }
        Ok(())
    }
}

/// The static name of a service.
fn name_of(name: &str) -> Option<&'static str> {
    SERVICES.iter().copied().find(|n| *n == name)
}

fn capitalised(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn spawn(bin_dir: &Path, name: &str, env: &[(String, String)]) -> anyhow::Result<Child> {
    let mut command = Command::new(bin_dir.join(format!("kuajing-{name}")));
    // A service runs on what the supervisor gives it, nothing it would inherit by accident
    // (a KJ_DATABASE_URL exported for `kuajing up` would name the wrong role and schema).
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("KJ_") {
            command.env_remove(key);
        }
    }
    command
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting kuajing-{name}"))
}
