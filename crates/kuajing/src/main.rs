//! `kuajing`: run the whole platform on one machine (`up`) or apply every migration
//! (`migrate`). `kuajing <command> --help` lists each command's options.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kuajing::launch::{LaunchSettings, Platform};
use kuajing::pgcluster::Cluster;
use kuajing_platform::auth;
use kuajing_platform::config::TelemetryArgs;
use kuajing_platform::db::parse_url;
use kuajing_platform::server::shutdown_signal;
use kuajing_platform::telemetry;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// Kuajing: the back end for cross-border B2B trade payments.
#[derive(Parser, Debug)]
#[command(name = "kuajing", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run all six services in this process on 127.0.0.1 until ctrl-c.
    Up(UpArgs),
    /// Create every service's role and schema and apply its migrations, then exit.
    Migrate(DbArgs),
    /// Measure the platform's throughput and latency against pgbench on the same Postgres.
    Bench(kuajing::bench::BenchArgs),
    /// The bank invariant test under crashes: real binaries (`--replicas`), kills, a
    /// Postgres crash, network faults between the services (`--net-faults`).
    Chaos(kuajing::chaos::ChaosArgs),
    /// Print a fresh set of service keys (KJ_SERVICE_KEY of every service, adapter and
    /// the operators, the shared KJ_SERVICE_TRUST, identity's KJ_IDENTITY_SECRET_KEY and
    /// KJ_IDENTITY_SIGNING_KEY, and KJ_IDENTITY_OPERATOR_KEY, the key identity signs
    /// operators' tokens with), or write them as files (`--out`), or rotate a set of files
    /// (`keys rotate`).
    Keys(KeysArgs),
    /// Write a development CA and a certificate for every service and `operator`, for
    /// mutual TLS between the services (KJ_TLS_CERT, KJ_TLS_KEY, KJ_TLS_CA).
    Certs(CertsArgs),
    /// The sandbox of a running `kuajing up`: send simulated remittances, settle
    /// withdrawals, read the verification codes sent.
    Sandbox(kuajing::commands::SandboxArgs),
    /// An operator's work on a running `kuajing up`, as the operator account it made:
    /// real-name reviews, supplier profiles, complaints, rates, the decision log.
    Operator(kuajing::commands::OperatorArgs),
    /// Both journeys against a running `kuajing up`, through edge and the sandbox bank:
    /// a buyer tops up, converts and pays a supplier; a supplier collects and withdraws.
    Demo(kuajing::demo::DemoArgs),
}

#[derive(clap::Args, Debug)]
struct CertsArgs {
    /// Directory to write `ca.pem`, `<name>.pem` and `<name>.key` into.
    #[arg(long, default_value = ".kuajing/tls")]
    out: PathBuf,
    /// A host name or IP address every certificate also carries (repeatable), e.g.
    /// `--host wallet.kuajing.svc.cluster.local`; each certificate always names its
    /// service, `localhost` and 127.0.0.1.
    #[arg(long = "host")]
    hosts: Vec<String>,
}

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
struct KeysArgs {
    /// Write the service keys as files into this directory instead of printing them: a
    /// `<name>.key` per caller and the shared `trust`, the layout the manifests mount
    /// (Secrets `kuajing-<service>-key` and `kuajing-service-trust`) and the services reload.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(subcommand)]
    rotate: Option<KeysCmd>,
}

#[derive(clap::Subcommand, Debug)]
enum KeysCmd {
    /// One step of rotating every caller's key in a set written by `--out`, without
    /// downtime: `trust` (a next key trusted beside each current one), then `sign` (every
    /// caller signs with its next key), then `retire` (only keys in use trusted). Apply
    /// each step's files to the Secrets and let them reach every replica before the next
    /// (docs/SECURITY.md).
    Rotate {
        /// The set's directory.
        #[arg(long)]
        dir: PathBuf,
        /// The step to apply.
        #[arg(long, value_enum)]
        step: kuajing::keys::Step,
    },
}

#[derive(clap::Args, Debug)]
struct DbArgs {
    /// Administrative Postgres URL (a role that may create roles). Unset: a private
    /// PostgreSQL kept under the data directory, started and stopped by `kuajing`.
    #[arg(long, env = "KJ_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Where `kuajing` keeps its private PostgreSQL and local files.
    #[arg(long, env = "KJ_HOME", default_value = ".kuajing")]
    data_dir: PathBuf,
    /// Port of the private PostgreSQL (127.0.0.1 only).
    #[arg(long, env = "KJ_PG_PORT", default_value_t = 54320)]
    pg_port: u16,
    #[command(flatten)]
    telemetry: TelemetryArgs,
}

#[derive(clap::Args, Debug)]
struct UpArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    ports: kuajing::commands::PortArgs,
    /// When the sandbox bank settles a withdrawal it has taken: seconds (e.g. 3 or 0.5),
    /// or `manual` (only on `kuajing sandbox settle` / SandboxService.SettleWithdrawal).
    #[arg(long, env = "KJ_SANDBOX_BANK_SETTLE_AFTER", default_value = "3")]
    bank_settle_after: kuajing::sandbox::Settlement,
    /// Instances of every service. Instance i listens on its service's port + 100 x i;
    /// every service balances its calls to a peer over all of the peer's instances
    /// (the metric rpc.client.calls counts them per instance).
    #[arg(long, env = "KJ_UP_REPLICAS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=9))]
    replicas: u16,
    /// Mutual TLS between the services, with development certificates made afresh at
    /// each start and written to `<data dir>/tls` (for grpcurl's -cacert, -cert, -key).
    #[arg(long, env = "KJ_UP_TLS")]
    tls: bool,
}

/// The admin connection to use, and the private cluster if we started one.
struct Db {
    admin: PgConnectOptions,
    started: Option<Cluster>,
}

async fn open_database(args: &DbArgs) -> anyhow::Result<Db> {
    if let Some(url) = &args.database_url {
        return Ok(Db {
            admin: parse_url(url)?,
            started: None,
        });
    }
    let cluster = Cluster::new(args.data_dir.join("postgres"), args.pg_port)?;
    cluster.init()?;
    let started = cluster.start()?;
    println!(
        "postgres   private cluster in {} on 127.0.0.1:{}{}",
        cluster.data_dir().display(),
        args.pg_port,
        if started { "" } else { " (already running)" }
    );
    // The platform's data lives in database `kuajing` of the private cluster.
    let mut conn = cluster.admin_options().connect().await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'kuajing')")
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        sqlx::raw_sql("CREATE DATABASE kuajing")
            .execute(&mut conn)
            .await?;
    }
    conn.close().await?;
    Ok(Db {
        admin: cluster.admin_options().database("kuajing"),
        started: started.then_some(cluster),
    })
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let db = open_database(&args.db).await?;
    let settings = LaunchSettings {
        host: args.ports.host,
        ports: args.ports.ports(),
        sandbox: Some(kuajing::sandbox::SandboxSettings {
            settlement: args.bank_settle_after,
        }),
        replicas: usize::from(args.replicas),
        tls: if args.tls {
            Some(kuajing::certs::DevCertificates::local()?)
        } else {
            None
        },
        ..LaunchSettings::ephemeral()
    };
    let tls_dir = args.db.data_dir.join("tls");
    if let Some(set) = &settings.tls {
        set.write(&tls_dir)?;
    }
    let platform = match Platform::start(&kuajing::services(), &db.admin, &settings).await {
        Ok(p) => p,
        Err(e) => {
            if let Some(cluster) = &db.started {
                let _ = cluster.stop();
            }
            return Err(e);
        }
    };
    for s in platform.services() {
        let name = if args.replicas > 1 {
            format!("{}/{}", s.def.name, s.instance)
        } else {
            s.def.name.to_owned()
        };
        println!(
            "ready      {name:<14} {:<46} {}",
            s.def.grpc_service, s.addr
        );
    }
    // Internal services take only service credentials: the first operator's own token
    // (signed in with password and TOTP; `kuajing operator token` renews it) for local
    // debugging.
    let token_path = kuajing::operator::token_file(&args.db.data_dir);
    std::fs::create_dir_all(&args.db.data_dir)?;
    if let Some(addr) = platform.sandbox_addr() {
        println!(
            "sandbox    {:<14} {:<46} {addr}",
            "bank, mail",
            kuajing::sandbox::GRPC_SERVICE
        );
    }
    // The first operator, made once and kept (its sign-in in <data dir>/operator.json).
    if settings.tls.is_none() {
        let reach = kuajing::parties::Reach {
            urls: platform
                .services()
                .iter()
                .filter(|s| s.instance == 0)
                .map(|s| (s.def.name.to_owned(), format!("http://{}", s.addr)))
                .collect(),
            keyring: platform.keyring().clone(),
            database: db.admin.clone(),
        };
        match kuajing::operator::bootstrap(&reach, &args.db.data_dir).await {
            Ok((account, new)) => println!(
                "operator   {} {} (sign-in in {}); try `kuajing operator --help`",
                if new { "made account" } else { "account" },
                account.member_name,
                kuajing::operator::account_file(&args.db.data_dir).display()
            ),
            Err(e) => eprintln!("operator   no operator account: {e:#}"),
        }
    } else {
        // No operator account under TLS: a token of the shared operator key instead (it
        // names nobody; only `kuajing up` holds that key outside identity).
        let token = platform
            .keyring()
            .token(
                auth::OPERATOR,
                "*",
                chrono::Utc::now() + auth::MAX_OPERATOR_TOKEN_LIFETIME,
            )
            .context("an operator key")?;
        kuajing::write_private(&token_path, &token)?;
        println!(
            "operator   no operator account under --tls (`kuajing operator` speaks plain text)"
        );
    }
    let edge = platform.addr("edge").context("edge is not running")?;
    let fx = platform.addr("fx").context("fx is not running")?;
    println!(
        "operator   token for the internal services in {}",
        token_path.display()
    );
    println!();
    // Over TLS grpcurl dials `localhost` (the certificates' name) and presents the
    // operator's certificate to the internal services.
    let (edge_flags, internal_flags, edge, fx) = if settings.tls.is_some() {
        let ca = tls_dir.join("ca.pem");
        let op = |ext: &str| tls_dir.join(format!("{}.{ext}", auth::OPERATOR));
        println!(
            "tls        mutual TLS on; certificates in {}",
            tls_dir.display()
        );
        (
            format!("-cacert {}", ca.display()),
            format!(
                "-cacert {} -cert {} -key {}",
                ca.display(),
                op("pem").display(),
                op("key").display()
            ),
            format!("localhost:{}", edge.port()),
            format!("localhost:{}", fx.port()),
        )
    } else {
        (
            "-plaintext".to_owned(),
            "-plaintext".to_owned(),
            edge.to_string(),
            fx.to_string(),
        )
    };
    println!("Try (grpcurl from the `grpcurl-rs` crate, or `npx buf curl`):");
    println!("  grpcurl {edge_flags} {edge} list");
    println!(
        "  grpcurl {edge_flags} -d '{{\"service\":\"kuajing.edge.v1.EdgeService\"}}' {edge} grpc.health.v1.Health/Check"
    );
    println!(
        "  grpcurl {internal_flags} -H \"kj-service-token: $(cat {})\" -d '{{\"base_currency_code\":\"USD\",\"quote_currency_code\":\"CNH\"}}' {fx} kuajing.fx.v1.FxService/GetRate",
        token_path.display()
    );
    println!("Press ctrl-c to stop.");

    shutdown_signal().await;
    println!("stopping services…");
    let stopped = platform.stop().await;
    if let Some(cluster) = &db.started {
        println!("stopping postgres…");
        cluster.stop()?;
    }
    stopped?;
    println!("stopped");
    Ok(())
}

async fn migrate(args: DbArgs) -> anyhow::Result<()> {
    let db = open_database(&args).await?;
    let result = async {
        for def in kuajing::services() {
            let database = kuajing_platform::service::Database::Provision(db.admin.clone());
            let pool = kuajing_platform::service::prepare_database(
                def,
                &database,
                &Default::default(),
                true,
            )
            .await?;
            pool.close().await;
            println!("migrated   {:<14} schema {}", def.name, def.schema);
        }
        anyhow::Ok(())
    }
    .await;
    if let Some(cluster) = &db.started {
        cluster.stop()?;
    }
    result
}

fn keys(args: &KeysArgs) -> anyhow::Result<()> {
    if let Some(KeysCmd::Rotate { dir, step }) = &args.rotate {
        println!("{}", kuajing::keys::rotate(dir, *step)?);
        return Ok(());
    }
    let names: Vec<&str> = kuajing::services().iter().map(|d| d.name).collect();
    let ring = auth::Keyring::generate(&names)?;
    if let Some(dir) = &args.out {
        kuajing::keys::write_set(dir, &ring)?;
        println!(
            "# Service credentials written to {}: <name>.key per caller (a secret each) and \
             the shared trust.",
            dir.display()
        );
    } else {
        println!(
            "# Service credentials: give each service its own KJ_SERVICE_KEY (a secret) and the"
        );
        println!(
            "# shared KJ_SERVICE_TRUST; the bank and logistics adapters and the operators sign"
        );
        println!("# their tokens with theirs. Generated by `kuajing keys`.");
        let mut trust_printed = false;
        for name in ring.names() {
            let [(k, key), (t, trust)] = ring.env_for(name).context("a key per caller")?;
            println!("{}_{k}={key}", name.to_uppercase());
            if !trust_printed {
                println!("{t}={trust}");
                trust_printed = true;
            }
        }
    }
    println!("# identity's server secret and access-token signing key (secrets too):");
    for (variable, value) in kuajing_identity::binary::generated_secrets()? {
        println!("{variable}={value}");
    }
    println!("# wallet's key of bank-account fingerprints (a secret):");
    let (variable, value) = kuajing_wallet::settings::generated_key()?;
    println!("{variable}={value}");
    println!("# identity signs operators' tokens (one hour, after password and TOTP) with the");
    println!("# operator key: give OPERATOR_KEY above to identity alone, as:");
    println!(
        "KJ_IDENTITY_OPERATOR_KEY={}",
        ring.seed_text(auth::OPERATOR).context("operator key")?
    );
    Ok(())
}

fn certs(args: &CertsArgs) -> anyhow::Result<()> {
    let mut hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    hosts.extend(args.hosts.iter().cloned());
    let set = kuajing::certs::DevCertificates::generate(&kuajing::certs::CALLERS, &hosts)?;
    set.write(&args.out)?;
    println!(
        "wrote ca.pem and a certificate and key for each of {} to {}",
        kuajing::certs::CALLERS.join(", "),
        args.out.display()
    );
    println!("# each service: KJ_TLS_CA=ca.pem KJ_TLS_CERT=<name>.pem KJ_TLS_KEY=<name>.key");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let log_format = match &cli.command {
        Cmd::Up(a) => a.db.telemetry.log_format,
        Cmd::Migrate(a) => a.telemetry.log_format,
        Cmd::Keys(args) => return keys(args),
        Cmd::Certs(args) => return certs(args),
        Cmd::Bench(_) | Cmd::Chaos(_) | Cmd::Sandbox(_) | Cmd::Operator(_) | Cmd::Demo(_) => {
            kuajing_platform::telemetry::LogFormat::Pretty
        }
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    {
        // The OTLP exporters need the runtime.
        let _entered = runtime.enter();
        telemetry::init(log_format, "warn,kuajing=info", "kuajing");
    }
    runtime.block_on(async move {
        let done = match cli.command {
            Cmd::Up(args) => up(args).await,
            Cmd::Migrate(args) => migrate(args).await,
            Cmd::Keys(args) => keys(&args),
            Cmd::Certs(args) => certs(&args),
            Cmd::Bench(args) => kuajing::bench::run(args).await,
            Cmd::Chaos(args) => kuajing::chaos::run(args).await,
            Cmd::Sandbox(args) => kuajing::commands::sandbox(args).await,
            Cmd::Operator(args) => kuajing::commands::operator(args).await,
            Cmd::Demo(args) => kuajing::demo::run(args).await,
        };
        telemetry::shutdown();
        done
    })
}
