//! A private PostgreSQL cluster for local use, kept in a directory of its own
//! (`.kuajing/postgres` for `kuajing up`), run with the system's `initdb` and `pg_ctl`.
//!
//! `initdb` refuses to run as root, so as root the cluster belongs to the `postgres`
//! user and every command runs through `runuser -u postgres --`. When no PostgreSQL server
//! binaries are installed, it installs Debian's `postgresql` package with apt-get if it
//! can, and otherwise says exactly what to install.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use sqlx::postgres::PgConnectOptions;

/// A private cluster: its directory and port.
#[derive(Clone, Debug)]
pub struct Cluster {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    as_postgres_user: bool,
}

impl Cluster {
    /// Describes a cluster under `dir` listening on 127.0.0.1:`port`; finds (or
    /// installs) the server binaries.
    pub fn new(dir: impl Into<PathBuf>, port: u16) -> anyhow::Result<Cluster> {
        let dir = dir.into();
        let dir = if dir.is_absolute() {
            dir
        } else {
            std::env::current_dir()?.join(dir)
        };
        let bin = find_bindir().or_else(|_| {
            install_postgres()?;
            find_bindir()
        })?;
        Ok(Cluster {
            dir,
            port,
            bin,
            as_postgres_user: running_as_root(),
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Admin connect options (user `postgres`, database `postgres`) over TCP.
    pub fn admin_options(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username("postgres")
            .database("postgres")
    }

    /// Creates the cluster if it does not exist yet (a second run reuses the same data).
    pub fn init(&self) -> anyhow::Result<()> {
        if self.data_dir().join("PG_VERSION").exists() {
            return Ok(());
        }
        std::fs::create_dir_all(self.data_dir())?;
        self.hand_over(&self.dir)?;
        let data = self.data_dir();
        self.run(
            "initdb",
            &[
                "-D",
                path_str(&data)?,
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
        )
        .context("initdb failed")?;
        Ok(())
    }

    /// True when the cluster's postmaster is running.
    pub fn is_running(&self) -> bool {
        let data = self.data_dir();
        let Some(data) = data.to_str() else {
            return false;
        };
        self.command("pg_ctl", &["-D", data, "status"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts the cluster (fsync and synchronous_commit stay on: it holds money) and waits
    /// until it accepts connections. Returns false when it was already running.
    pub fn start(&self) -> anyhow::Result<bool> {
        if self.is_running() {
            return Ok(false);
        }
        let data = self.data_dir();
        let log = self.dir.join("postgres.log");
        let socket_dir = self.dir.join("run");
        std::fs::create_dir_all(&socket_dir)?;
        self.hand_over(&socket_dir)?;
        if !log.exists() {
            std::fs::write(&log, "")?;
        }
        self.hand_over(&log)?;
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories='{}' -c max_connections=200",
            self.port,
            path_str(&socket_dir)?
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                path_str(&data)?,
                "-l",
                path_str(&log)?,
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        .with_context(|| format!("pg_ctl start failed; see {}", log.display()))?;
        Ok(true)
    }

    /// Stops the cluster (fast shutdown: open sessions are ended, data is flushed).
    pub fn stop(&self) -> anyhow::Result<()> {
        if !self.is_running() {
            return Ok(());
        }
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &["-D", path_str(&data)?, "-m", "fast", "-w", "stop"],
        )
    }

    /// Kills the postmaster with SIGKILL and returns at once: nothing is flushed, no
    /// checkpoint, as a machine or container dying would leave it. Its backends notice
    /// their postmaster is gone and exit.
    pub fn kill(&self) -> anyhow::Result<()> {
        let pid_file = self.data_dir().join("postmaster.pid");
        let text = std::fs::read_to_string(&pid_file)
            .with_context(|| format!("reading {}", pid_file.display()))?;
        let pid = text
            .lines()
            .next()
            .map(str::trim)
            .context("an empty postmaster.pid")?;
        let status = Command::new("kill").args(["-KILL", pid]).status()?;
        anyhow::ensure!(status.success(), "kill -KILL {pid} failed");
        Ok(())
    }

    /// Crashes the cluster ([`Cluster::kill`]) and waits until it could start again: the
    /// next [`Cluster::start`] runs crash recovery from the write-ahead log.
    pub fn crash(&self) -> anyhow::Result<()> {
        self.kill()?;
        // The backends notice their postmaster is gone; wait until the port is free.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        // Orphaned backends die with their postmaster; give them a moment to exit.
        std::thread::sleep(std::time::Duration::from_millis(1000));
        // The dead postmaster may linger as a zombie (where nothing reaps orphans, as in
        // some containers) that `pg_ctl status` and the next postmaster take for a live
        // server: its lock files go, the data directory's and the socket's (Postgres still
        // refuses to start while any old backend holds the shared memory).
        let _ = std::fs::remove_file(self.data_dir().join("postmaster.pid"));
        let socket = format!(".s.PGSQL.{}", self.port);
        for name in [format!("{socket}.lock"), socket] {
            let _ = std::fs::remove_file(self.dir.join("run").join(name));
        }
        Ok(())
    }

    /// Replaces this cluster's data with a streaming standby of the primary on
    /// 127.0.0.1:`primary_port` (`pg_basebackup -R`: a copy, its write-ahead log streamed,
    /// and the settings that make it follow the primary once started).
    pub fn make_standby_of(&self, primary_port: u16) -> anyhow::Result<()> {
        anyhow::ensure!(!self.is_running(), "{} is running", self.dir.display());
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)
                .with_context(|| format!("removing {}", self.dir.display()))?;
        }
        std::fs::create_dir_all(&self.dir)?;
        self.hand_over(&self.dir)?;
        let (data, port) = (self.data_dir(), primary_port.to_string());
        self.run(
            "pg_basebackup",
            &[
                "-D",
                path_str(&data)?,
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-X",
                "stream",
                "-R",
                "-c",
                "fast",
            ],
        )
        .context("pg_basebackup failed")
    }

    /// Promotes a standby to primary and waits until it accepts writes.
    pub fn promote(&self) -> anyhow::Result<()> {
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &["-D", path_str(&data)?, "-w", "-t", "60", "promote"],
        )
    }

    /// Removes the cluster's directory (a crashed primary's data, once it is replaced).
    pub fn discard(&self) -> anyhow::Result<()> {
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)
                .with_context(|| format!("removing {}", self.dir.display()))?;
        }
        Ok(())
    }

    fn command(&self, tool: &str, args: &[&str]) -> Command {
        let program = self.bin.join(tool);
        if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program).args(args);
            c
        } else {
            let mut c = Command::new(program);
            c.args(args);
            c
        }
    }

    fn run(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        let out = self
            .command(tool, args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {tool}"))?;
        if !out.status.success() {
            bail!(
                "{tool} exited with {}: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// As root, gives `path` to the postgres user (the server refuses to run as root).
    pub fn hand_over(&self, path: &Path) -> anyhow::Result<()> {
        if !self.as_postgres_user {
            return Ok(());
        }
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()
            .context("cannot run chown")?;
        anyhow::ensure!(status.success(), "chown postgres {} failed", path.display());
        Ok(())
    }
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str()
        .ok_or_else(|| anyhow::anyhow!("path is not UTF-8: {}", p.display()))
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Finds the directory holding `initdb` and `pg_ctl`: `KJ_PG_BINDIR`, then the newest
/// `/usr/lib/postgresql/<v>/bin` (Debian), then `PATH`.
pub fn find_bindir() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("KJ_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
        bail!("KJ_PG_BINDIR={} holds no initdb", dir.display());
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
                return Ok(dir);
            }
        }
    }
    bail!(
        "no PostgreSQL server binaries (initdb, pg_ctl) found. Install PostgreSQL 15 or \
         newer (Debian/Ubuntu: `apt-get install postgresql`), or point KJ_DATABASE_URL at a \
         running server"
    )
}

/// Installs Debian's `postgresql` package when running as root with apt-get available.
fn install_postgres() -> anyhow::Result<()> {
    let has_apt = Command::new("apt-get")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !(has_apt && running_as_root()) {
        return find_bindir().map(|_| ());
    }
    eprintln!("kuajing: installing PostgreSQL with apt-get (no server binaries were found)");
    let update = Command::new("apt-get").args(["update", "-q"]).status()?;
    anyhow::ensure!(update.success(), "apt-get update failed");
    let install = Command::new("apt-get")
        .args([
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "postgresql",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()?;
    anyhow::ensure!(install.success(), "apt-get install postgresql failed");
    Ok(())
}
