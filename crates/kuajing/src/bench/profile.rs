//! Where a run's time went: CPU per process (each service, Postgres's processes, the load
//! generator itself), Postgres commits, and each service's database work (rows written and
//! table scans in its own schema, from `pg_stat_user_tables`), sampled at the start and end
//! of the measured window. A profile that needs no profiler; `perf`/flamegraphs go deeper.
//! Postgres publishes table statistics about once a second per connection, so the table
//! figures carry about a second of lag at both ends of the window (they roughly cancel).

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
    /// Per schema: (rows inserted + updated + deleted, sequential + index scans).
    tables: BTreeMap<String, (i64, i64)>,
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
    let tables = sqlx::query_as::<_, (String, i64, i64)>(
        "SELECT schemaname::text,
                COALESCE(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::int8,
                COALESCE(sum(COALESCE(seq_scan, 0) + COALESCE(idx_scan, 0)), 0)::int8
         FROM pg_stat_user_tables GROUP BY schemaname",
    )
    .fetch_all(db)
    .await
    .unwrap_or_default()
    .into_iter()
    .map(|(schema, written, scans)| (schema, (written, scans)))
    .collect();
    Sample {
        at: Instant::now(),
        cpu,
        commits,
        tables,
    }
}

/// `n / ops` with two decimals.
fn per_op(n: u64, ops: u64) -> String {
    let ops = ops.max(1);
    format!("{}.{:02}", n / ops, n * 100 / ops % 100)
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
    let mut tables: Vec<(u64, u64, &String)> = after
        .tables
        .iter()
        .map(|(schema, (w, s))| {
            let (w0, s0) = before.tables.get(schema).copied().unwrap_or((*w, *s));
            let delta = |a: i64, b: i64| u64::try_from(a - b).unwrap_or(0);
            (delta(*w, w0), delta(*s, s0), schema)
        })
        // Only what shows at two decimals.
        .filter(|(w, s, _)| (w + s) * 100 >= ops.max(1))
        .collect();
    tables.sort_by_key(|t| std::cmp::Reverse(t.0 + t.1));
    let tables: Vec<String> = tables
        .iter()
        .map(|(w, s, schema)| {
            format!(
                "{schema} {} written, {} scans",
                per_op(*w, ops),
                per_op(*s, ops)
            )
        })
        .collect();
    vec![
        format!(
            "profile    cpu, % of one core: {} (total {total}% of {}%)",
            listed.join(", "),
            100 * std::thread::available_parallelism().map_or(1, usize::from)
        ),
        format!(
            "profile    postgres commits {}/s, {} per operation",
            commits * 1000 / ms,
            per_op(commits, ops)
        ),
        format!(
            "profile    rows written and table scans per operation, by schema: {}",
            if tables.is_empty() {
                "none".to_owned()
            } else {
                tables.join("; ")
            }
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, ms: u64, ticks: u64, commits: i64, orders: (i64, i64)) -> Sample {
        Sample {
            at: start + std::time::Duration::from_millis(ms),
            cpu: BTreeMap::from([("order".to_owned(), ticks)]),
            commits,
            tables: BTreeMap::from([("orders".to_owned(), orders), ("idle".to_owned(), (7, 7))]),
        }
    }

    #[test]
    fn the_profile_is_the_difference_over_the_window_per_operation() {
        let start = Instant::now();
        let before = at(start, 0, 1_000, 500, (100, 40));
        // Two seconds, 100 ticks (50 % of a core), 300 commits, 250 rows, 75 scans.
        let after = at(start, 2_000, 1_100, 800, (350, 115));
        let lines = lines(&before, &after, 100);
        assert!(lines[0].contains("order 50%"), "{lines:?}");
        assert!(lines[1].contains("150/s, 3.00 per operation"), "{lines:?}");
        assert!(
            lines[2].ends_with("orders 2.50 written, 0.75 scans"),
            "an idle schema is left out: {lines:?}"
        );
    }
}
