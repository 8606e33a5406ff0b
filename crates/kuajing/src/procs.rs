//! The platform as separate processes: the real service binaries, each started with its
//! own key, listening on its own port, on a Postgres database of the caller's choosing.
//! `kuajing bench` measures them; `kuajing chaos` kills and restarts them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kuajing_platform::auth::Keyring;
use tokio::process::{Child, Command};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// One service process.
struct Proc {
    child: Child,
    port: u16,
    env: Vec<(String, String)>,
}

/// Six service processes.
pub struct Processes {
    bin_dir: PathBuf,
    procs: BTreeMap<&'static str, Proc>,
    keyring: Keyring,
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
        for name in SERVICES {
            let bin = bin_dir.join(format!("kuajing-{name}"));
            if !bin.exists() {
                bail!(
                    "{} is missing: build every service binary first, e.g. `cargo build --release --workspace --bins`",
                    bin.display()
                );
            }
        }
        let keyring = Keyring::generate(&SERVICES)?;
        let port_of = |name: &str| -> u16 {
            let offset = ["edge", "identity", "wallet", "authorization", "order", "fx"]
                .iter()
                .position(|n| *n == name)
                .unwrap_or(0);
            base_port + u16::try_from(offset).unwrap_or(0)
        };
        let peers: Vec<(String, String)> = ["identity", "wallet", "authorization", "order", "fx"]
            .iter()
            .map(|n| {
                (
                    format!("KJ_{}_URL", n.to_uppercase()),
                    format!("http://127.0.0.1:{}", port_of(n)),
                )
            })
            .collect();
        let mut procs = BTreeMap::new();
        for name in SERVICES {
            let mut env: Vec<(String, String)> = vec![
                ("KJ_DATABASE_ADMIN_URL".into(), admin_url.to_owned()),
                ("KJ_LISTEN".into(), format!("127.0.0.1:{}", port_of(name))),
                ("RUST_LOG".into(), "warn".into()),
            ];
            env.extend(peers.iter().cloned());
            env.extend(keyring.env_for(name).context("a key per service")?);
            env.extend(
                extra_env
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            );
            let child = spawn(bin_dir, name, &env)?;
            procs.insert(
                name,
                Proc {
                    child,
                    port: port_of(name),
                    env,
                },
            );
        }
        let mut p = Processes {
            bin_dir: bin_dir.to_owned(),
            procs,
            keyring,
        };
        for name in SERVICES {
            p.wait_serving(name, Duration::from_secs(60)).await?;
        }
        Ok(p)
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
                .filter_map(|n| self.url(n).map(|u| ((*n).to_owned(), u)))
                .collect(),
            keyring: self.keyring.clone(),
            database: kuajing_platform::db::parse_url(database_url)?,
        })
    }

    /// The URL of a service.
    pub fn url(&self, name: &str) -> Option<String> {
        self.procs
            .get(name)
            .map(|p| format!("http://127.0.0.1:{}", p.port))
    }

    /// Waits until `name` answers SERVING on its health check.
    pub async fn wait_serving(&mut self, name: &str, within: Duration) -> anyhow::Result<()> {
        let url = self.url(name).context("unknown service")?;
        let deadline = Instant::now() + within;
        loop {
            if let Some(p) = self.procs.get_mut(name)
                && let Ok(Some(status)) = p.child.try_wait()
            {
                bail!("kuajing-{name} exited with {status} while starting");
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
                bail!("kuajing-{name} did not become SERVING within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills `name` with SIGKILL (no drain, no cleanup: a crash).
    pub async fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        let p = self.procs.get_mut(name).context("unknown service")?;
        p.child.start_kill()?;
        p.child.wait().await?;
        Ok(())
    }

    /// Starts `name` again with the same settings and waits until it serves.
    pub async fn restart(&mut self, name: &str) -> anyhow::Result<()> {
        let p = self.procs.get_mut(name).context("unknown service")?;
        p.child = spawn(&self.bin_dir, name, &p.env)?;
        self.wait_serving(name, Duration::from_secs(60)).await
    }

    /// The process id of `name`, while it runs.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.procs.get(name)?.child.id()
    }

    /// Resident memory of `name` in bytes (Linux).
    pub fn rss_bytes(&self, name: &str) -> Option<u64> {
        let pid = self.pid(name)?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kb: u64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
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
