//! The baseline: pgbench's built-in tpcb-like script on the same server, same client
//! count and duration, in the same run.

use std::process::Command;

use anyhow::{Context, bail};
use rust_decimal::Decimal;

/// Connection details pgbench needs.
pub struct Target {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User.
    pub user: String,
    /// Database (created and dropped by the caller).
    pub database: String,
}

fn pgbench() -> anyhow::Result<std::path::PathBuf> {
    let bin = crate::pgcluster::find_bindir()?.join("pgbench");
    if !bin.exists() {
        bail!(
            "pgbench not found beside initdb ({}); install PostgreSQL's client tools",
            bin.display()
        );
    }
    Ok(bin)
}

fn base(t: &Target) -> anyhow::Result<Command> {
    let mut c = Command::new(pgbench()?);
    c.args(["-h", &t.host, "-p", &t.port.to_string(), "-U", &t.user]);
    Ok(c)
}

/// Initialises pgbench's tables at `scale`.
pub fn init(t: &Target, scale: u32) -> anyhow::Result<()> {
    let out = base(t)?
        .args(["-i", "-q", "-s", &scale.to_string(), &t.database])
        .output()
        .context("pgbench -i")?;
    if !out.status.success() {
        bail!(
            "pgbench -i failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Runs tpcb-like with `clients` for `seconds`; returns transactions per second.
pub fn run(t: &Target, clients: u32, seconds: u64) -> anyhow::Result<Decimal> {
    let out = base(t)?
        .args([
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            &t.database,
        ])
        .output()
        .context("pgbench")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "pgbench failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_tps(&text).with_context(|| format!("no tps in pgbench output:\n{text}"))
}

/// The `tps = X (without initial connection time)` figure.
fn parse_tps(text: &str) -> Option<Decimal> {
    let line = text
        .lines()
        .find(|l| l.starts_with("tps = ") && l.contains("without initial connection time"))?;
    let number = line
        .trim_start_matches("tps = ")
        .split_whitespace()
        .next()?;
    Decimal::from_str_exact(number).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_tps_line() {
        let out = "latency average = 3.580 ms\ninitial connection time = 12.1 ms\ntps = 4470.123456 (without initial connection time)\n";
        assert_eq!(
            parse_tps(out),
            Some(Decimal::from_str_exact("4470.123456").unwrap())
        );
        assert_eq!(parse_tps("nothing"), None);
    }
}
