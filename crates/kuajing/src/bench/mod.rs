//! `kuajing bench`: load against the real service binaries, with pgbench on the same
//! Postgres in the same run as the baseline. The last line it prints is
//! `scenario=S ops_per_s=X p50_ms=A p99_ms=B pgbench_tps=Y ratio=X/Y`.

pub mod load;
pub mod pgbench;
pub mod scenarios;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rust_decimal::Decimal;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

use crate::procs::{Processes, default_bin_dir};
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
    /// PayOrders through edge (the whole payment saga). Not built yet.
    Checkout,
    /// An authenticated read through edge. Not built yet.
    Read,
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
    /// First of six ports the services listen on.
    #[arg(long, default_value_t = 51050)]
    pub base_port: u16,
    /// Skip the pgbench baseline.
    #[arg(long)]
    pub no_pgbench: bool,
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
    if matches!(args.scenario, Scenario::Checkout | Scenario::Read) {
        anyhow::bail!(
            "scenario {:?} is not built yet (it needs edge's checkout and reads)",
            args.scenario
        );
    }
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
        conn.close().await?;
        format!("fsync={fsync} synchronous_commit={sync}")
    };
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
    let (report, rss) = result?;

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
            pgbench::init(&target, args.clients.max(1))?;
            pgbench::run(&target, args.clients, args.seconds)
        })
        .await?;
        exec(
            &admin,
            format!("DROP DATABASE IF EXISTS {pg_db} WITH (FORCE)"),
        )
        .await?;
        Some(tps?)
    };

    for (name, bytes) in &rss {
        println!(
            "rss        kuajing-{name:<14} {} MiB",
            bytes / (1024 * 1024)
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
    println!(
        "scenario={scenario}{mode} ops_per_s={ops} p50_ms={} p99_ms={} pgbench_tps={tps} ratio={ratio}",
        ms(p50),
        ms(p99)
    );
    Ok(())
}

async fn measure(
    args: &BenchArgs,
    bin_dir: &std::path::Path,
    url: &str,
) -> anyhow::Result<(Report, Vec<(String, u64)>)> {
    let procs = Processes::start(bin_dir, url, args.base_port, &[]).await?;
    let outcome = async {
        let wallet_url = procs.url("wallet").context("wallet")?;
        let wallets = Arc::new(
            scenarios::funded_wallets(
                &wallet_url,
                procs.keyring(),
                args.wallets,
                "USD",
                "1000000.00",
            )
            .await?,
        );
        let duration = Duration::from_secs(args.seconds);
        let warmup = Duration::from_secs(3);
        let report = match args.scenario {
            Scenario::Transfer | Scenario::Hot => {
                let op = Arc::new(scenarios::Transfers {
                    client:
                        kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient::new(
                            scenarios::channel(&wallet_url, procs.keyring(), "order", "wallet")?,
                        ),
                    wallets: wallets.clone(),
                    hot_share: if args.scenario == Scenario::Hot {
                        90
                    } else {
                        0
                    },
                });
                load::closed(op.clone(), args.clients, warmup).await;
                match args.rate {
                    Some(rate) => load::open(op, rate, duration, 4096).await,
                    None => load::closed(op, args.clients, duration).await,
                }
            }
            Scenario::Quote => {
                let fx_url = procs.url("fx").context("fx")?;
                let op = Arc::new(scenarios::Quotes {
                    client: kuajing_proto::fx::v1::fx_service_client::FxServiceClient::new(
                        scenarios::channel(&fx_url, procs.keyring(), "edge", "fx")?,
                    ),
                    wallets: wallets.clone(),
                });
                load::closed(op.clone(), args.clients, warmup).await;
                match args.rate {
                    Some(rate) => load::open(op, rate, duration, 4096).await,
                    None => load::closed(op, args.clients, duration).await,
                }
            }
            Scenario::Checkout | Scenario::Read => unreachable!("refused above"),
        };
        let rss = crate::procs::SERVICES
            .iter()
            .filter_map(|n| procs.rss_bytes(n).map(|b| ((*n).to_owned(), b)))
            .collect();
        anyhow::Ok((report, rss))
    }
    .await;
    procs.stop().await?;
    outcome
}
