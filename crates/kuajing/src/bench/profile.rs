//! Where a run's time went: CPU per process (each service, Postgres's processes, the load
//! generator itself) and Postgres commits, sampled at the start and end of the measured
//! window. A process-level profile that needs no profiler; `perf`/flamegraphs go deeper.

use std::collections::BTreeMap;
use std::time::Instant;

use sqlx::PgPool;

use crate::procs::{Processes, SERVICES};

/// Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ: 100 on Linux's usual
/// architectures).
const TICKS_PER_SECOND: u64 = 100;

/// CPU ticks so far of one process (user + system), from `/proc/<pid>/stat`.
fn ticks(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, user + system))
}

fn ticks_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| ticks(&s))
        .map_or(0, |(_, t)| t)
}

/// One sample.
pub struct Sample {
    at: Instant,
    cpu: BTreeMap<String, u64>,
    commits: i64,
}

/// Samples the services, every `postgres` process, this process and the commits of the
/// bench database.
pub async fn sample(procs: &Processes, db: &PgPool) -> Sample {
    let mut cpu = BTreeMap::new();
    for name in SERVICES {
        if let Some(pid) = procs.pid(name) {
            cpu.insert(name.to_owned(), ticks_of(pid));
        }
    }
    cpu.insert("load generator".to_owned(), ticks_of(std::process::id()));
    let mut postgres = 0;
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            if let Some((comm, t)) = ticks(&stat)
                && comm.starts_with("postgres")
            {
                postgres += t;
            }
        }
    }
    cpu.insert("postgres".to_owned(), postgres);
    let commits = sqlx::query_scalar(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(db)
    .await
    .unwrap_or(0);
    Sample {
        at: Instant::now(),
        cpu,
        commits,
    }
}

/// The profile between two samples, for `ops` operations done between them.
pub fn lines(before: &Sample, after: &Sample, ops: u64) -> Vec<String> {
    let ms = u64::try_from(after.at.duration_since(before.at).as_millis())
        .unwrap_or(1)
        .max(1);
    // Per cent of one core: ticks * 100 / TICKS_PER_SECOND over the window in seconds.
    let share = |t: u64| t * 100 * 1000 / TICKS_PER_SECOND / ms;
    let mut cpu: Vec<(u64, &String)> = after
        .cpu
        .iter()
        .map(|(name, t)| {
            (
                share(t.saturating_sub(*before.cpu.get(name).unwrap_or(t))),
                name,
            )
        })
        .collect();
    cpu.sort_by(|a, b| b.cmp(a));
    let total: u64 = cpu.iter().map(|c| c.0).sum();
    let listed: Vec<String> = cpu
        .iter()
        .filter(|(p, _)| *p > 0)
        .map(|(p, name)| format!("{name} {p}%"))
        .collect();
    let commits = u64::try_from(after.commits - before.commits).unwrap_or(0);
    vec![
        format!(
            "profile    cpu, % of one core: {} (total {total}% of {}%)",
            listed.join(", "),
            100 * std::thread::available_parallelism().map_or(1, usize::from)
        ),
        format!(
            "profile    postgres commits {}/s, {}.{:02} per operation",
            commits * 1000 / ms,
            commits / ops.max(1),
            commits * 100 / ops.max(1) % 100
        ),
    ]
}
