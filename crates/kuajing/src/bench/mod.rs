//! `kuajing bench`: load against the real service binaries, with pgbench on the same
//! Postgres in the same run as the baseline. The last line it prints is
//! `scenario=S ops_per_s=X p50_ms=A p99_ms=B pgbench_tps=Y ratio=X/Y`.

pub mod load;
pub mod pgbench;
pub mod plot;
pub mod profile;
pub mod scenarios;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rust_decimal::Decimal;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

use crate::parties::{Buyer, Reach, Supplier};
use crate::procs::{Processes, default_bin_dir};
use kuajing_proto::edge::v1::edge_service_client::EdgeServiceClient;
use kuajing_proto::fx::v1::fx_service_client::FxServiceClient;
use kuajing_proto::identity::v1::identity_service_client::IdentityServiceClient;
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use load::Report;

/// What to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Wallet transfers between random wallets.
    Transfer,
    /// The same, 90 % of them crediting one wallet.
    Hot,
    /// An fx quote and its execution.
    Quote,
    /// PayOrders through edge: the whole payment saga, one order per checkout.
    Checkout,
    /// A person's GetWallet through edge (bearer token), measured beside the same read
    /// straight at the wallet service.
    Read,
    /// identity Login with a password (as edge calls it), `--clients` at once over 16
    /// accounts: what a burst of sign-ins costs identity, in memory above all.
    Login,
}

/// Options of `kuajing bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The scenario.
    #[arg(long, value_enum, default_value_t = Scenario::Transfer)]
    pub scenario: Scenario,
    /// Concurrent clients (closed loop), and pgbench's client count.
    #[arg(long, default_value_t = 16)]
    pub clients: u32,
    /// Seconds measured (after a 3 s warm-up), and pgbench's duration.
    #[arg(long, default_value_t = 15)]
    pub seconds: u64,
    /// Open loop at this many requests per second instead of a closed loop.
    #[arg(long)]
    pub rate: Option<u32>,
    /// Wallets the scenario spreads over.
    #[arg(long, default_value_t = 200)]
    pub wallets: usize,
    /// Administrative Postgres URL of the server to measure on (a database is created on
    /// it for the run and dropped after).
    #[arg(
        long,
        env = "KJ_BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub database_url: String,
    /// Where the service binaries are [default: beside this kuajing].
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// First of six ports the services listen on (below Linux's ephemeral range,
    /// 32768-60999, so that no outgoing connection can be holding one).
    #[arg(long, default_value_t = 29050)]
    pub base_port: u16,
    /// Skip the pgbench baseline.
    #[arg(long)]
    pub no_pgbench: bool,
    /// Instances of every service; the load and the services balance over them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=4))]
    pub replicas: u16,
    /// Where to write the latency distribution as an SVG plot [default:
    /// .kuajing/bench/<scenario>[-<rate>].svg].
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// A setting for every service, as KEY=VALUE (repeatable), e.g.
    /// `--service-env KJ_WALLET_BATCH_WORKERS=2`: the services inherit no KJ_ variable
    /// from the shell, so this is the way to change one for a run.
    #[arg(long = "service-env", value_name = "KEY=VALUE", value_parser = service_env)]
    pub service_env: Vec<(String, String)>,
}

/// Parses `--service-env`: a KJ_ setting and its value.
fn service_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if k.starts_with("KJ_") && k.len() > 3 => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KJ_NAME=VALUE, got {s:?}")),
    }
}

fn fmt_x100(v: u64) -> String {
    format!("{}.{:02}", v / 100, v % 100)
}

fn ms(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

async fn exec(admin: &PgConnectOptions, sql: String) -> anyhow::Result<()> {
    let mut conn = admin.connect().await?;
    sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// Runs the benchmark and prints its report.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let admin: PgConnectOptions = args.database_url.parse().context("--database-url")?;
    let settings = {
        let mut conn = admin
            .connect()
            .await
            .context("connecting to the bench server")?;
        let fsync: String = sqlx::query_scalar("SHOW fsync")
            .fetch_one(&mut conn)
            .await?;
        let sync: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&mut conn)
            .await?;
        // What ordinary roles may open (reserved_connections is Postgres 16's).
        let open: i32 = sqlx::query_scalar(
            "SELECT current_setting('max_connections')::int
                  - current_setting('superuser_reserved_connections')::int
                  - COALESCE(current_setting('reserved_connections', true)::int, 0)",
        )
        .fetch_one(&mut conn)
        .await?;
        conn.close().await?;
        (
            format!("fsync={fsync} synchronous_commit={sync}"),
            u32::try_from(open).unwrap_or(0),
        )
    };
    let (settings, open_connections) = settings;
    // pgbench opens a connection per client (and runs after the platform stopped): past
    // what the server allows, less a margin for anyone else, the baseline runs with fewer.
    let pgbench_clients = args
        .clients
        .clamp(1, open_connections.saturating_sub(5).max(1));
    println!("postgres   {settings} (the same for the platform and pgbench)");
    let db = format!("kjbench_{}", std::process::id());
    exec(&admin, format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await?;
    exec(&admin, format!("CREATE DATABASE {db}")).await?;
    let mut url = url::Url::parse(&args.database_url).context("--database-url")?;
    url.set_path(&db);

    let bin_dir = match &args.bin_dir {
        Some(d) => d.clone(),
        None => default_bin_dir()?,
    };
    let result = measure(&args, &bin_dir, url.as_str()).await;
    exec(&admin, format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await?;
    let Measured { report, rss, notes } = result?;

    let baseline = if args.no_pgbench {
        None
    } else {
        let pg_db = format!("kjbench_pgbench_{}", std::process::id());
        exec(
            &admin,
            format!("DROP DATABASE IF EXISTS {pg_db} WITH (FORCE)"),
        )
        .await?;
        exec(&admin, format!("CREATE DATABASE {pg_db}")).await?;
        let target = pgbench::Target {
            host: admin.get_host().to_owned(),
            port: admin.get_port(),
            user: admin.get_username().to_owned(),
            database: pg_db.clone(),
        };
        let tps = tokio::task::spawn_blocking(move || {
            pgbench::init(&target, pgbench_clients)?;
            pgbench::run(&target, pgbench_clients, args.seconds)
        })
        .await?;
        exec(
            &admin,
            format!("DROP DATABASE IF EXISTS {pg_db} WITH (FORCE)"),
        )
        .await?;
        Some(tps?)
    };

    for note in &notes {
        println!("{note}");
    }
    if baseline.is_some() && pgbench_clients != args.clients {
        println!(
            "pgbench    {pgbench_clients} clients, not {}: the server allows {open_connections} connections",
            args.clients
        );
    }
    for (name, now, peak) in &rss {
        println!(
            "rss        kuajing-{name:<14} {} MiB (peak {} MiB)",
            now / (1024 * 1024),
            peak / (1024 * 1024)
        );
    }
    if report.error_count() > 0 {
        println!(
            "errors     {} failed operations: {:?}",
            report.error_count(),
            report.errors
        );
    }
    let ops = fmt_x100(report.ops_per_s_x100());
    let (p50, p99, p999) = (
        report.quantile_us(500),
        report.quantile_us(990),
        report.quantile_us(999),
    );
    println!(
        "latency    p50 {} ms, p99 {} ms, p99.9 {} ms, max {} ms",
        ms(p50),
        ms(p99),
        ms(p999),
        ms(report.latency.max())
    );
    let scenario = format!("{:?}", args.scenario).to_lowercase();
    let mode = match args.rate {
        Some(r) => format!(" open_loop_rate={r}"),
        None => String::new(),
    };
    let (tps, ratio) = match baseline {
        Some(tps) if tps > Decimal::ZERO => {
            let ops = Decimal::from(report.ops_per_s_x100()) / Decimal::ONE_HUNDRED;
            (
                tps.round_dp(2).to_string(),
                (ops / tps).round_dp(2).to_string(),
            )
        }
        _ => ("none".to_owned(), "none".to_owned()),
    };
    let line = format!(
        "scenario={scenario}{mode} ops_per_s={ops} p50_ms={} p99_ms={} pgbench_tps={tps} ratio={ratio}",
        ms(p50),
        ms(p99)
    );
    let plot = args.plot.clone().unwrap_or_else(|| {
        let rate = args.rate.map(|r| format!("-{r}")).unwrap_or_default();
        PathBuf::from(format!(".kuajing/bench/{scenario}{rate}.svg"))
    });
    // The run's result is printed whatever becomes of the plot.
    let written = plot
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&plot, plot::svg(&report, &line)));
    match written {
        Ok(()) => println!("plot       {} (latency by percentile)", plot.display()),
        Err(e) => println!("plot       not written to {}: {e}", plot.display()),
    }
    println!("{line}");
    Ok(())
}

/// What one run measured.
struct Measured {
    report: Report,
    /// Each service's resident memory at the end and at its peak (bytes).
    rss: Vec<(String, u64, u64)>,
    /// Lines printed before the summary (e.g. the direct read beside edge's).
    notes: Vec<String>,
}

/// What the measured window is profiled with: the processes and the bench database.
struct Probe<'a> {
    procs: &'a Processes,
    db: sqlx::PgPool,
}

/// Warms up for 3 s, then measures `op` as the arguments say (closed or open loop).
async fn drive<O: load::Op>(
    op: Arc<O>,
    args: &BenchArgs,
    probe: &Probe<'_>,
) -> (Report, Vec<String>) {
    load::closed(op.clone(), args.clients, WARMUP).await;
    measure_only(op, args, probe).await
}

/// Measures `op` as the arguments say, without a warm-up, and profiles the window.
async fn measure_only<O: load::Op>(
    op: Arc<O>,
    args: &BenchArgs,
    probe: &Probe<'_>,
) -> (Report, Vec<String>) {
    let duration = Duration::from_secs(args.seconds);
    let before = profile::sample(probe.procs, &probe.db).await;
    let report = match args.rate {
        Some(rate) => load::open(op, rate, duration, 4096).await,
        None => load::closed(op, args.clients, duration).await,
    };
    let after = profile::sample(probe.procs, &probe.db).await;
    let lines = profile::lines(&before, &after, report.ok + report.error_count());
    (report, lines)
}

const WARMUP: Duration = Duration::from_secs(3);

/// Slices of each kind in an interleaved measurement.
const SLICES: u32 = 5;

/// Measures `a` and `b` in alternating slices of one window (a, b, a, b, ...), so both see
/// the same machine: on shared cores the machine drifts from second to second, and two
/// windows one after the other differ at p99 by more than what is compared. Each runs
/// `args.seconds` in all after its own warm-up; the profile covers the whole window.
async fn interleaved<A: load::Op, B: load::Op>(
    a: Arc<A>,
    b: Arc<B>,
    args: &BenchArgs,
    probe: &Probe<'_>,
) -> (Report, Report, Vec<String>) {
    load::closed(a.clone(), args.clients, WARMUP).await;
    load::closed(b.clone(), args.clients, WARMUP).await;
    let slice = (Duration::from_secs(args.seconds) / SLICES).max(Duration::from_millis(500));
    let before = profile::sample(probe.procs, &probe.db).await;
    let (mut ra, mut rb) = (Report::new(), Report::new());
    for _ in 0..SLICES {
        ra.extend(match args.rate {
            Some(rate) => load::open(a.clone(), rate, slice, 4096).await,
            None => load::closed(a.clone(), args.clients, slice).await,
        });
        rb.extend(match args.rate {
            Some(rate) => load::open(b.clone(), rate, slice, 4096).await,
            None => load::closed(b.clone(), args.clients, slice).await,
        });
    }
    let after = profile::sample(probe.procs, &probe.db).await;
    let ops = ra.ok + ra.error_count() + rb.ok + rb.error_count();
    let lines = profile::lines(&before, &after, ops)
        .into_iter()
        .map(|l| l.replacen("profile   ", "profile    (both kinds, per request)", 1))
        .collect();
    (ra, rb, lines)
}

/// One line summarising a report (p50/p99/p99.9 and errors).
fn summary(report: &Report) -> String {
    format!(
        "ops_per_s={} p50_ms={} p99_ms={} p999_ms={} errors={}",
        fmt_x100(report.ops_per_s_x100()),
        ms(report.quantile_us(500)),
        ms(report.quantile_us(990)),
        ms(report.quantile_us(999)),
        report.error_count()
    )
}

async fn measure(
    args: &BenchArgs,
    bin_dir: &std::path::Path,
    url: &str,
) -> anyhow::Result<Measured> {
    let mut env: Vec<(&str, &str)> = Vec::new();
    if matches!(args.scenario, Scenario::Read | Scenario::Checkout) {
        println!("edge       rate limits raised for the load generator (one address, few people)");
        env.extend_from_slice(&crate::procs::EDGE_LIMITS_RAISED);
    }
    for (k, v) in &args.service_env {
        println!("setting    {k}={v} for every service");
        env.push((k, v));
    }
    let layout = crate::procs::Layout {
        replicas: usize::from(args.replicas),
        net_faults: None,
    };
    if args.replicas > 1 {
        println!("replicas   {} instances of every service", args.replicas);
    }
    let procs = Processes::start_laid_out(bin_dir, url, args.base_port, &env, layout).await?;
    let outcome = async {
        let reach = procs.reach(url)?;
        let probe = Probe {
            procs: &procs,
            db: sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect_with(reach.database.clone())
                .await?,
        };
        let mut notes = Vec::new();
        let report = match args.scenario {
            Scenario::Transfer | Scenario::Hot | Scenario::Quote => {
                let wallets = Arc::new(
                    scenarios::funded_wallets(&reach, args.wallets, "USD", "1000000.00").await?,
                );
                if args.scenario == Scenario::Quote {
                    let op = Arc::new(scenarios::Quotes {
                        client: FxServiceClient::new(reach.channel("fx", "order")?),
                        wallets,
                    });
                    drive(op, args, &probe).await
                } else {
                    let op = Arc::new(scenarios::Transfers {
                        client: WalletServiceClient::new(reach.channel("wallet", "order")?),
                        wallets,
                        hot_share: if args.scenario == Scenario::Hot {
                            90
                        } else {
                            0
                        },
                    });
                    drive(op, args, &probe).await
                }
            }
            Scenario::Read => {
                let buyers = Arc::new(reach.people(args.clients).await?.1);
                let direct = Arc::new(scenarios::DirectReads {
                    client: WalletServiceClient::new(reach.channel("wallet", "edge")?),
                    buyers: buyers.clone(),
                });
                let through_edge = Arc::new(scenarios::EdgeReads {
                    client: EdgeServiceClient::new(public_channel(&procs)?),
                    buyers,
                });
                let (direct, report, profile) =
                    interleaved(direct, through_edge, args, &probe).await;
                let added =
                    i128::from(report.quantile_us(990)) - i128::from(direct.quantile_us(990));
                notes.push(format!("direct     wallet GetWallet: {}", summary(&direct)));
                notes.push(format!("edge       edge GetWallet:   {}", summary(&report)));
                notes.push(format!(
                    "edge       adds {} ms at p99 over the same read straight at the wallet \
                     (measured in alternating slices of the same window)",
                    if added < 0 {
                        format!("-{}", ms(added.unsigned_abs() as u64))
                    } else {
                        ms(added as u64)
                    }
                ));
                (report, profile)
            }
            Scenario::Checkout => checkout(&reach, &procs, args, &probe, &mut notes).await?,
            Scenario::Login => {
                let mut names = Vec::new();
                for _ in 0..16 {
                    let name = format!("bench{}", &crate::parties::rid()[24..]);
                    reach.register(crate::parties::personal(&name)).await?;
                    names.push(name);
                }
                let op = Arc::new(scenarios::Logins {
                    client: IdentityServiceClient::new(reach.channel("identity", "edge")?),
                    names: Arc::new(names),
                });
                drive(op, args, &probe).await
            }
        };
        let (report, profile) = report;
        notes.extend(profile);
        let rss = crate::procs::SERVICES
            .iter()
            .filter_map(|n| {
                let now = procs.memory_bytes(n, "VmRSS")?;
                let peak = procs.memory_bytes(n, "VmHWM")?;
                Some(((*n).to_owned(), now, peak))
            })
            .collect();
        anyhow::Ok(Measured { report, rss, notes })
    }
    .await;
    procs.stop().await?;
    outcome
}

/// A plain channel to edge, balanced over its instances (people's clients present bearer
/// tokens, not service tokens).
fn public_channel(procs: &Processes) -> anyhow::Result<kuajing_platform::balance::Balanced> {
    let urls = procs.urls("edge").context("edge")?;
    crate::parties::balanced("edge", &urls)
}

/// Gives each buyer `per_buyer` more unpaid orders (CNY 10.00 each), concurrently.
async fn prepare_orders(
    reach: &Reach,
    supplier: &Supplier,
    buyers: &[(Buyer, std::sync::Mutex<Vec<String>>)],
    per_buyer: usize,
) -> anyhow::Result<()> {
    let mut set = tokio::task::JoinSet::new();
    for (i, (b, _)) in buyers.iter().enumerate() {
        let (reach, b, s) = (reach.clone(), b.clone(), supplier.clone());
        set.spawn(async move {
            let mut ids = Vec::with_capacity(per_buyer);
            for _ in 0..per_buyer {
                ids.push(reach.marketplace_order(&b.person, &s, 1, "10.00").await?);
            }
            anyhow::Ok((i, ids))
        });
    }
    while let Some(r) = set.join_next().await {
        let (i, ids) = r??;
        if let Ok(mut orders) = buyers[i].1.lock() {
            orders.extend(ids);
        }
    }
    Ok(())
}

/// `checkout`: orders are placed before each phase (placing them is not what is
/// measured), enough for the warm-up, then for the measured window at the warm-up's pace.
async fn checkout(
    reach: &Reach,
    procs: &Processes,
    args: &BenchArgs,
    probe: &Probe<'_>,
    notes: &mut Vec<String>,
) -> anyhow::Result<(Report, Vec<String>)> {
    let (supplier, buyers) = reach.people(args.clients).await?;
    let count = buyers.len();
    let op = Arc::new(scenarios::Checkouts {
        client: EdgeServiceClient::new(public_channel(procs)?),
        buyers: Arc::new(
            buyers
                .into_iter()
                .map(|b| (b, std::sync::Mutex::new(Vec::new())))
                .collect(),
        ),
    });
    prepare_orders(reach, &supplier, &op.buyers, 40).await?;
    let warm = load::closed(op.clone(), args.clients, WARMUP).await;
    let expected = match args.rate {
        Some(rate) => u64::from(rate) * args.seconds,
        None => warm.ok * args.seconds / WARMUP.as_secs(),
    };
    // Half again what the warm-up's pace needs, spread over the buyers.
    let per_buyer = usize::try_from(expected * 3 / 2 / count as u64 + 10)?;
    prepare_orders(reach, &supplier, &op.buyers, per_buyer).await?;
    let measured = measure_only(op.clone(), args, probe).await;
    notes.push(format!(
        "checkout   {count} buyers, one CNY 10.00 order per PayOrders, {} unpaid orders left",
        op.unpaid()
    ));
    Ok(measured)
}
