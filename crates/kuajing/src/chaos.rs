//! `kuajing chaos`: the bank invariant test under crashes. The platform runs as separate
//! processes (the real binaries) on a private Postgres; concurrent clients move money
//! (transfers, holds captured or released, fx conversions, checkouts through edge: the
//! PayOrders saga) and retry every failed call with the same request; every few seconds a
//! random service (one instance of it, with `--replicas`) is killed with SIGKILL and
//! restarted, and once Postgres itself is crashed and recovers. With `--failover` Postgres
//! is a primary with a synchronous standby behind one stable address, and the primary is
//! crashed and the standby promoted once a minute. With `--net-faults` every call between
//! services passes a fault-injecting proxy. While it runs, the ledger's
//! snapshots are read; at the end the ledger is audited.
//! The last line is `invariants: N checked, 0 violated; ops acked=A, kills=K, db restarts=R`
//! (`db failovers=F` with `--failover`).

use crate::parties::rid;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use kuajing_proto::fx::v1::fx_service_client::FxServiceClient;
use kuajing_proto::fx::v1::{
    CreateQuoteRequest, ExecuteQuoteRequest, create_quote_request::FixedAmount,
};
use kuajing_proto::types::Money;
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use kuajing_proto::wallet::v1::{
    CaptureHoldRequest, CreateHoldRequest, CreateTransferRequest, HoldPurpose, HoldState,
    LedgerAccountKind, ReleaseHoldRequest,
};
use prost::Message;
use rust_decimal::Decimal;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgPool};
use tokio::sync::Mutex;
use tonic::Code;

use crate::bench::scenarios::funded_wallets;
use crate::parties::{Buyer, PIN, Reach, Supplier, bearer};
use crate::pgcluster::Cluster;
use crate::procs::{Processes, SERVICES, default_bin_dir};
use kuajing_platform::balance::{Balanced, Source};
use kuajing_platform::service::{PeerChannel, Peers};
use kuajing_proto::edge::v1::PayOrdersRequest;
use kuajing_proto::edge::v1::edge_service_client::EdgeServiceClient;
use kuajing_proto::order::v1::{OrderStatus, PaymentMethod, PaymentState};

/// Options of `kuajing chaos`.
#[derive(clap::Args, Debug)]
pub struct ChaosArgs {
    /// Seconds of load (kills happen during it); at most 3300: the clients sign in once and
    /// access tokens live an hour at most.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3300))]
    pub seconds: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    pub clients: u32,
    /// Seconds between kills.
    #[arg(long, default_value_t = 5)]
    pub kill_every: u64,
    /// Seed of the operation and kill schedule [default: from the clock; printed].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Wallets the load spreads over.
    #[arg(long, default_value_t = 12)]
    pub wallets: usize,
    /// Where the service binaries are [default: beside this kuajing].
    #[arg(long)]
    pub bin_dir: Option<std::path::PathBuf>,
    /// Directory of the private Postgres the run uses (it is crashed during the run).
    #[arg(long, default_value = "target/kuajing-chaos-postgres")]
    pub pg_dir: std::path::PathBuf,
    /// Port of that Postgres (below Linux's ephemeral range, 32768-60999, so that no
    /// outgoing connection can be holding it).
    #[arg(long, default_value_t = 29331)]
    pub pg_port: u16,
    /// First of six ports the services listen on (below the ephemeral range too).
    #[arg(long, default_value_t = 29150)]
    pub base_port: u16,
    /// Instances of every service, edge included: callers balance over them, kills take
    /// one instance while its twins serve.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=4))]
    pub replicas: u16,
    /// Calls between services pass fault-injecting proxies (seeded like the rest): slow
    /// answers, cut connections, answers lost after the request was applied.
    #[arg(long)]
    pub net_faults: bool,
    /// Postgres as a primary with a synchronous standby behind one stable address (on
    /// --pg-port; the clusters on the two ports above it): once a minute (at least once)
    /// the primary's postmaster is killed, the standby promoted and the address moved to
    /// it, and a new standby copied. The longest pause in acknowledged writes around each
    /// failover is printed.
    #[arg(long)]
    pub failover: bool,
}

/// The database under the run: one cluster crashed once, or a replicated pair failed over.
enum Postgres {
    Single(Cluster),
    Replicated(Box<crate::failover::ReplicatedPostgres>),
}

impl Postgres {
    async fn start(args: &ChaosArgs) -> anyhow::Result<Postgres> {
        if args.failover {
            let pair =
                crate::failover::ReplicatedPostgres::start(&args.pg_dir, args.pg_port).await?;
            return Ok(Postgres::Replicated(Box::new(pair)));
        }
        let cluster = Cluster::new(&args.pg_dir, args.pg_port)?;
        cluster.init()?;
        cluster.start()?;
        Ok(Postgres::Single(cluster))
    }

    fn admin_options(&self) -> sqlx::postgres::PgConnectOptions {
        match self {
            Postgres::Single(c) => c.admin_options(),
            Postgres::Replicated(r) => r.admin_options(),
        }
    }

    fn stop(&self) -> anyhow::Result<()> {
        match self {
            Postgres::Single(c) => c.stop(),
            Postgres::Replicated(r) => r.stop(),
        }
    }
}

/// A small deterministic generator (xorshift).
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What one acknowledged operation was, for the audit.
#[derive(Clone, Debug)]
struct Acked {
    kind: &'static str,
    request_id: String,
    /// When its answer arrived: pauses in writes are gaps between these.
    at: Instant,
}

/// Shared state of the run.
struct Run {
    acked: Mutex<Vec<Acked>>,
    checkouts: Mutex<Vec<Checkout>>,
    violations: Mutex<Vec<String>>,
    retries: AtomicU64,
    /// Checkouts that did not happen, by why (an order not placed, PayOrders refused).
    unpaid: Mutex<BTreeMap<String, u64>>,
}

impl Run {
    async fn ack(&self, kind: &'static str, request_id: String) {
        self.acked.lock().await.push(Acked {
            kind,
            request_id,
            at: Instant::now(),
        });
    }

    async fn violation(&self, what: String) {
        eprintln!("VIOLATION: {what}");
        self.violations.lock().await.push(what);
    }
}

fn usd(cents: u64) -> Option<Money> {
    Some(Money {
        currency_code: "USD".into(),
        amount: format!("{}.{:02}", cents / 100, cents % 100),
    })
}

/// Transient: the service or database is down or restarting. The call is retried as is.
fn transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Unknown
            | Code::Internal
            | Code::Cancelled
            | Code::Aborted
    )
}

/// Calls `f` until it answers something other than a transient failure; every success of
/// the same request must be byte-identical (a retry returns the first answer).
async fn with_retries<R, F, Fut>(run: &Run, what: &str, mut f: F) -> Result<R, tonic::Status>
where
    R: Message + Clone,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<R, tonic::Status>>,
{
    let started = Instant::now();
    let mut first: Option<Vec<u8>> = None;
    let mut answer = None;
    loop {
        match f().await {
            Ok(r) => {
                let bytes = r.encode_to_vec();
                match &first {
                    None => first = Some(bytes),
                    Some(b) if *b != bytes => {
                        run.violation(format!("{what}: a retry answered differently"))
                            .await
                    }
                    Some(_) => {}
                }
                if answer.is_none() {
                    answer = Some(r);
                }
                // One more identical call proves the replay; then stop.
                if let Some(a) = answer.take()
                    && first.is_some()
                {
                    let again = f().await;
                    if let Ok(again) = again
                        && again.encode_to_vec() != *first.as_ref().expect("set")
                    {
                        run.violation(format!("{what}: a replay answered differently"))
                            .await;
                    }
                    return Ok(a);
                }
            }
            Err(s) if transient(s.code()) && started.elapsed() < Duration::from_secs(120) => {
                run.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(s) => return Err(s),
        }
    }
}

struct Clients {
    wallet: WalletServiceClient<PeerChannel>,
    fx: FxServiceClient<PeerChannel>,
    edge: EdgeServiceClient<Balanced>,
    reach: Reach,
    buyer: Buyer,
    supplier: Supplier,
}

/// An acknowledged checkout: the order, and the payment's id and final state.
#[derive(Clone, Debug)]
struct Checkout {
    order_id: String,
    payment_id: String,
    state: i32,
}

/// How long a checkout may take to finish: the saga's timeout before the point of no
/// return, a lapsed driver lease, and a margin for compensation.
const CHECKOUT_PATIENCE: Duration = Duration::from_secs(180);

fn finished(state: i32) -> bool {
    state == PaymentState::Succeeded as i32 || state == PaymentState::Failed as i32
}

/// A checkout through edge: the buyer places an order and pays it with PayOrders, asking
/// again with the same request (whatever failed, or while the saga is still running)
/// until the payment is finished; a replay then must answer the same bytes.
async fn checkout(run: &Run, c: &Clients) {
    // Placing the order may fail while order restarts: then there is nothing to pay.
    let order_id = match c
        .reach
        .marketplace_order(&c.buyer.person, &c.supplier, 1, "10.00")
        .await
    {
        Ok(id) => id,
        Err(e) => {
            let code = e
                .downcast_ref::<tonic::Status>()
                .map_or_else(|| "error".to_owned(), |s| format!("{:?}", s.code()));
            *run.unpaid
                .lock()
                .await
                .entry(format!("order not placed: {code}"))
                .or_default() += 1;
            return;
        }
    };
    let req = PayOrdersRequest {
        request_id: rid(),
        order_ids: vec![order_id.clone()],
        payment_method: PaymentMethod::CrossBorderPay as i32,
        mandate_id: c.buyer.mandate_id.clone(),
        payment_pin: PIN.to_owned(),
        ..Default::default()
    };
    let call = || {
        let mut edge = c.edge.clone();
        let req = bearer(&c.buyer.access_token, req.clone());
        async move {
            match req {
                Ok(r) => edge.pay_orders(r).await.map(|r| r.into_inner()),
                Err(e) => Err(tonic::Status::internal(e.to_string())),
            }
        }
    };
    let started = Instant::now();
    let mut last: String;
    let answer = loop {
        match call().await {
            Ok(r) if r.payment.as_ref().is_some_and(|p| finished(p.state)) => break Some(r),
            Ok(r) => {
                last = r
                    .payment
                    .map(|p| {
                        let step = p.steps.iter().find(|s| !s.last_error_reason.is_empty());
                        format!(
                            "payment {} in state {}, last step error {:?}",
                            p.payment_id,
                            p.state,
                            step.map(|s| (s.kind, s.state, s.last_error_reason.clone()))
                        )
                    })
                    .unwrap_or_else(|| "an answer without a payment".to_owned())
            }
            // The saga was interrupted before the PIN was checked and compensated: this
            // request is over ("pay again" with a new one); the order stays unpaid.
            Err(s) if s.code() == Code::Aborted => {
                *run.unpaid
                    .lock()
                    .await
                    .entry("PayOrders Aborted (interrupted before the PIN; pay again)".to_owned())
                    .or_default() += 1;
                break None;
            }
            Err(s) if transient(s.code()) => last = format!("{:?}: {}", s.code(), s.message()),
            // A refusal: the order stays unpaid (the audit checks it).
            Err(s) => {
                *run.unpaid
                    .lock()
                    .await
                    .entry(format!("PayOrders {:?}", s.code()))
                    .or_default() += 1;
                break None;
            }
        }
        // A payment ends within the saga's own bound: its timeout before the point of no
        // return (120 s by default) plus a driver's lease (15 s); then compensation.
        if started.elapsed() > CHECKOUT_PATIENCE {
            run.violation(format!(
                "checkout of order {order_id}: no finished payment after {CHECKOUT_PATIENCE:?} (last: {last})"
            ))
            .await;
            break None;
        }
        run.retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let Some(answer) = answer else { return };
    if let Ok(again) = call().await
        && again.encode_to_vec() != answer.encode_to_vec()
    {
        run.violation(format!(
            "checkout of order {order_id}: a replay answered differently"
        ))
        .await;
    }
    let payment = answer.payment.unwrap_or_default();
    run.checkouts.lock().await.push(Checkout {
        order_id,
        payment_id: payment.payment_id,
        state: payment.state,
    });
}

async fn client_loop(
    run: Arc<Run>,
    c: Clients,
    wallets: Arc<Vec<String>>,
    mut rng: Rng,
    until: Instant,
) {
    let pick = |rng: &mut Rng| wallets[rng.below(wallets.len() as u64) as usize].clone();
    while Instant::now() < until {
        let (from, to) = (pick(&mut rng), pick(&mut rng));
        match rng.below(5) {
            4 => checkout(&run, &c).await,
            0 | 1 if from != to => {
                let req = CreateTransferRequest {
                    request_id: rid(),
                    source_wallet_id: from,
                    destination_wallet_id: to,
                    amount: usd(1 + rng.below(500)),
                    ..Default::default()
                };
                let mut w = c.wallet.clone();
                let r = with_retries(&run, "transfer", || {
                    let (mut w, req) = (w.clone(), req.clone());
                    async move { w.create_transfer(req).await.map(|r| r.into_inner()) }
                })
                .await;
                if r.is_ok() {
                    run.ack("transfer", req.request_id.clone()).await;
                }
                // On purpose: the same id with another body is refused, whatever happened.
                if rng.below(10) == 0 {
                    let altered = CreateTransferRequest {
                        amount: usd(99_999_999_999),
                        ..req.clone()
                    };
                    match w.create_transfer(altered).await {
                        Err(s) if s.code() == Code::AlreadyExists => {}
                        Err(s) if transient(s.code()) => {}
                        Err(_) if r.is_err() => {}
                        other => {
                            run.violation(format!(
                                "altered replay of {} answered {other:?}",
                                req.request_id
                            ))
                            .await
                        }
                    }
                }
            }
            2 => {
                let hold = CreateHoldRequest {
                    request_id: rid(),
                    wallet_id: from.clone(),
                    amount: usd(100 + rng.below(1000)),
                    purpose: HoldPurpose::Escrow as i32,
                    order_id: format!("CHAOS-{}", rng.below(1000)),
                    ..Default::default()
                };
                let w = c.wallet.clone();
                let Ok(created) = with_retries(&run, "hold", || {
                    let (mut w, r) = (w.clone(), hold.clone());
                    async move { w.create_hold(r).await.map(|r| r.into_inner()) }
                })
                .await
                else {
                    continue;
                };
                run.ack("hold", hold.request_id.clone()).await;
                let hold_id = created.hold.map(|h| h.hold_id).unwrap_or_default();
                let end = if rng.below(2) == 0 {
                    let req = CaptureHoldRequest {
                        request_id: rid(),
                        hold_id,
                        payee_wallet_id: to,
                        amount: usd(50),
                        ..Default::default()
                    };
                    with_retries(&run, "capture", || {
                        let (mut w, r) = (w.clone(), req.clone());
                        async move { w.capture_hold(r).await.map(|r| r.into_inner()) }
                    })
                    .await
                    .map(|_| ("capture", req.request_id))
                } else {
                    let req = ReleaseHoldRequest {
                        request_id: rid(),
                        hold_id,
                        reason: "chaos".into(),
                    };
                    with_retries(&run, "release", || {
                        let (mut w, r) = (w.clone(), req.clone());
                        async move { w.release_hold(r).await.map(|r| r.into_inner()) }
                    })
                    .await
                    .map(|_| ("release", req.request_id))
                };
                if let Ok((kind, request_id)) = end {
                    run.ack(kind, request_id).await;
                }
            }
            _ => {
                let fx = c.fx.clone();
                let quote = CreateQuoteRequest {
                    request_id: rid(),
                    wallet_id: from.clone(),
                    sell_currency_code: "USD".into(),
                    buy_currency_code: "CNH".into(),
                    fixed_amount: Some(FixedAmount::SellAmount(Money {
                        currency_code: "USD".into(),
                        amount: "1.00".into(),
                    })),
                    ttl: Some(prost_types::Duration {
                        seconds: 120,
                        nanos: 0,
                    }),
                };
                let Ok(q) = with_retries(&run, "quote", || {
                    let (mut f, r) = (fx.clone(), quote.clone());
                    async move { f.create_quote(r).await.map(|r| r.into_inner()) }
                })
                .await
                else {
                    continue;
                };
                let exec = ExecuteQuoteRequest {
                    request_id: rid(),
                    quote_id: q.quote.map(|q| q.quote_id).unwrap_or_default(),
                    wallet_id: from,
                };
                // The same request from several clients at once: exactly one conversion.
                let mut racers = Vec::new();
                for _ in 0..3 {
                    let (run, fx, exec) = (run.clone(), fx.clone(), exec.clone());
                    racers.push(tokio::spawn(async move {
                        with_retries(&run, "execute", || {
                            let (mut f, r) = (fx.clone(), exec.clone());
                            async move { f.execute_quote(r).await.map(|r| r.into_inner()) }
                        })
                        .await
                        .map(|r| r.encode_to_vec())
                    }));
                }
                let mut answers = Vec::new();
                let mut refusals = Vec::new();
                for r in racers {
                    match r.await {
                        Ok(Ok(bytes)) => answers.push(bytes),
                        // A definite refusal (not a retry budget spent on kills).
                        Ok(Err(s)) if !transient(s.code()) => refusals.push(s),
                        _ => {}
                    }
                }
                if answers.windows(2).any(|w| w[0] != w[1]) {
                    run.violation(format!(
                        "concurrent copies of execute {} answered differently",
                        exec.request_id
                    ))
                    .await;
                }
                // The copies that did not run the conversion must get its answer, not a
                // refusal such as QUOTE_ALREADY_USED.
                if let (false, Some(refused)) = (answers.is_empty(), refusals.first()) {
                    run.violation(format!(
                        "concurrent copies of execute {}: one converted, another was refused \
                         ({:?}: {})",
                        exec.request_id,
                        refused.code(),
                        refused.message()
                    ))
                    .await;
                }
                if !answers.is_empty() {
                    run.ack("conversion", q_request(&exec)).await;
                }
            }
        }
    }
}

/// The wallet request id of a conversion is its quote id (one conversion per quote).
fn q_request(exec: &ExecuteQuoteRequest) -> String {
    exec.quote_id.clone()
}

/// Invariants checked so far, and the violated ones.
#[derive(Default)]
struct Verdict {
    checked: u64,
    violated: Vec<String>,
}

impl Verdict {
    fn check(&mut self, ok: bool, what: String) {
        self.checked += 1;
        if !ok {
            self.violated.push(what);
        }
    }
}

/// The audit. Returns (checked, violations).
async fn audit(pool: &PgPool, acked: &[Acked]) -> anyhow::Result<(u64, Vec<String>)> {
    let mut v = Verdict::default();
    let mut check = |ok: bool, what: String| v.check(ok, what);
    let rows = |sql: &'static str| {
        sqlx::query_as::<_, (String, Decimal)>(AssertSqlSafe(sql)).fetch_all(pool)
    };
    for (currency, sum) in
        rows("SELECT currency, sum(balance) FROM wallet.ledger_accounts GROUP BY currency").await?
    {
        check(
            sum.is_zero(),
            format!("ledger sums to {sum} in {currency}, not zero"),
        );
    }
    let drift: Vec<(uuid::Uuid, Decimal, Decimal)> = sqlx::query_as(
        "SELECT a.account_id, a.balance, coalesce(sum(p.amount), 0) FROM wallet.ledger_accounts a
         LEFT JOIN wallet.postings p ON p.account_id = a.account_id GROUP BY a.account_id, a.balance",
    )
    .fetch_all(pool)
    .await?;
    for (account, cached, posted) in drift {
        check(
            cached == posted,
            format!("account {account}: cached balance {cached} but postings sum to {posted}"),
        );
    }
    let negative: Vec<(uuid::Uuid, Decimal)> = sqlx::query_as(
        "SELECT account_id, balance FROM wallet.ledger_accounts WHERE kind = ANY($1)",
    )
    .bind(
        [
            LedgerAccountKind::CustomerAvailable,
            LedgerAccountKind::CustomerHeld,
        ]
        .map(|k| k as i16),
    )
    .fetch_all(pool)
    .await?;
    for (account, b) in negative {
        check(
            b >= Decimal::ZERO,
            format!("customer account {account} is negative: {b}"),
        );
    }
    let unbalanced: Vec<(uuid::Uuid, String, Decimal)> = sqlx::query_as(
        "SELECT entry_id, currency, sum(amount) FROM wallet.postings GROUP BY entry_id, currency",
    )
    .fetch_all(pool)
    .await?;
    for (entry, currency, sum) in unbalanced {
        check(
            sum.is_zero(),
            format!("entry {entry} sums to {sum} {currency}"),
        );
    }
    let held: Vec<(uuid::Uuid, String, Decimal, Decimal)> = sqlx::query_as(
        "SELECT a.wallet_id, a.currency, sum(a.balance),
                coalesce((SELECT sum(h.amount) FROM wallet.holds h WHERE h.wallet_id = a.wallet_id
                          AND h.currency = a.currency AND h.state = $1), 0)
         FROM wallet.ledger_accounts a WHERE a.kind = $2 GROUP BY a.wallet_id, a.currency",
    )
    .bind(HoldState::Open as i16)
    .bind(LedgerAccountKind::CustomerHeld as i16)
    .fetch_all(pool)
    .await?;
    for (wallet, currency, balance, open) in held {
        check(
            balance == open,
            format!("wallet {wallet} holds {balance} {currency} but its open holds sum to {open}"),
        );
    }
    let ended: Vec<(uuid::Uuid, i16, Option<uuid::Uuid>)> =
        sqlx::query_as("SELECT hold_id, state, end_entry_id FROM wallet.holds")
            .fetch_all(pool)
            .await?;
    for (hold, state, end) in ended {
        check(
            (state == 1) == end.is_none(),
            format!("hold {hold} in state {state} with end entry {end:?}"),
        );
    }
    for a in acked {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM wallet.journal_entries WHERE request_id = $1::uuid",
        )
        .bind(&a.request_id)
        .fetch_one(pool)
        .await?;
        check(
            n == 1,
            format!(
                "acknowledged {} {} has {n} journal entries",
                a.kind, a.request_id
            ),
        );
    }
    Ok((v.checked, v.violated))
}

/// Waits (up to [`CHECKOUT_PATIENCE`]) until the order service's recovery has driven
/// every payment saga a killed driver left behind to its end.
async fn settle_sagas(pool: &PgPool) -> anyhow::Result<()> {
    let deadline = Instant::now() + CHECKOUT_PATIENCE;
    loop {
        let open: i64 = sqlx::query_scalar(concat!(
            "SELECT count(*) FROM orders.payments WHERE ",
            kuajing_order::unfinished_payment_states!()
        ))
        .fetch_one(pool)
        .await?;
        if open == 0 || Instant::now() > deadline {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The sagas' audit: every payment finished or compensated; every marketplace order is
/// paid exactly when one escrow hold for it is open; every acknowledged checkout's payment
/// is as answered.
async fn audit_checkouts(
    pool: &PgPool,
    checkouts: &[Checkout],
) -> anyhow::Result<(u64, Vec<String>)> {
    let mut v = Verdict::default();
    let mut check = |ok: bool, what: String| v.check(ok, what);
    let payments: Vec<(uuid::Uuid, i16)> =
        sqlx::query_as("SELECT payment_id, state FROM orders.payments")
            .fetch_all(pool)
            .await?;
    for (payment, state) in &payments {
        check(
            finished(i32::from(*state)),
            format!("payment {payment} left in state {state}: neither finished nor compensated"),
        );
    }
    let orders: Vec<(uuid::Uuid, i16, i64)> = sqlx::query_as(
        "SELECT o.order_id, o.status,
                (SELECT count(*) FROM wallet.holds h WHERE h.order_id = o.order_id::text AND h.state = $1)
         FROM orders.orders o",
    )
    .bind(HoldState::Open as i16)
    .fetch_all(pool)
    .await?;
    for (order, status, open_holds) in &orders {
        let paid = *status == OrderStatus::Paid as i16;
        check(
            (paid && *open_holds == 1)
                || (*status == OrderStatus::Unpaid as i16 && *open_holds == 0),
            format!("order {order} in status {status} with {open_holds} open escrow holds"),
        );
    }
    let states: BTreeMap<String, i16> = payments
        .iter()
        .map(|(id, s)| (id.to_string(), *s))
        .collect();
    let statuses: BTreeMap<String, i16> = orders
        .iter()
        .map(|(id, s, _)| (id.to_string(), *s))
        .collect();
    for c in checkouts {
        check(
            states.get(&c.payment_id).map(|s| i32::from(*s)) == Some(c.state),
            format!(
                "checkout of order {} answered payment {} in state {}, stored {:?}",
                c.order_id,
                c.payment_id,
                c.state,
                states.get(&c.payment_id)
            ),
        );
        let paid = c.state == PaymentState::Succeeded as i32;
        check(
            statuses.get(&c.order_id).copied()
                == Some(if paid {
                    OrderStatus::Paid
                } else {
                    OrderStatus::Unpaid
                } as i16),
            format!(
                "checkout of order {} answered state {} but the order is in status {:?}",
                c.order_id,
                c.state,
                statuses.get(&c.order_id)
            ),
        );
    }
    Ok((v.checked, v.violated))
}

/// Runs chaos; returns an error (non-zero exit) on any violation.
pub async fn run(args: ChaosArgs) -> anyhow::Result<()> {
    let seed = args
        .seed
        .unwrap_or_else(|| u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap_or(1) | 1);
    println!("chaos      seed {seed} (rerun with --seed {seed})");
    let mut postgres = Postgres::start(&args).await?;
    let outcome = run_on(&args, seed, &mut postgres).await;
    // Whatever happened, the private Postgres does not outlive the run.
    let _ = postgres.stop();
    outcome
}

/// Whether failover `k` (from 0) first cuts the standby off the primary for a second, so
/// that the primary dies while the standby is behind: every other one, the first included.
fn standby_cut_off_first(k: usize) -> bool {
    k.is_multiple_of(2)
}

/// The longest gap between acknowledged operations in the `window` after each instant of
/// `faults`: how long writes paused, as the clients saw it.
fn pauses(acked: &[Acked], faults: &[Instant], window: Duration) -> Vec<Duration> {
    let mut times: Vec<Instant> = acked.iter().map(|a| a.at).collect();
    times.sort();
    faults
        .iter()
        .map(|&fault| {
            let last_before = times.iter().rev().find(|t| **t <= fault).copied();
            let mut previous = last_before.unwrap_or(fault);
            let mut longest = Duration::ZERO;
            for &t in times
                .iter()
                .filter(|t| **t > fault && **t <= fault + window)
            {
                longest = longest.max(t - previous);
                previous = t;
            }
            longest
        })
        .collect()
}

/// One chaos run on `postgres`: start the replicas and the fault proxies, load, inject
/// faults on the seeded schedule, stop, settle, check the invariants. Long by design: the
/// run's phases in the order they happen, each a few lines that name what they do.
async fn run_on(args: &ChaosArgs, seed: u64, postgres: &mut Postgres) -> anyhow::Result<()> {
    let admin = postgres.admin_options();
    let db = "kuajing_chaos";
    {
        let mut conn = admin.connect().await?;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await?;
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {db}")))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
    }
    let url = format!("postgres://postgres@127.0.0.1:{}/{db}", args.pg_port);
    let bin_dir = match &args.bin_dir {
        Some(d) => d.clone(),
        None => default_bin_dir()?,
    };
    let mut env = vec![
        ("KJ_DB_MAX_CONNECTIONS", "4"),
        // Tokens outlive the longest run (55 minutes), so no checkout fails for an expired
        // one; an hour is the most identity issues and edge accepts.
        ("KJ_IDENTITY_ACCESS_TOKEN_TTL_SECS", "3600"),
    ];
    env.extend(crate::procs::EDGE_LIMITS_RAISED);
    let layout = crate::procs::Layout {
        replicas: usize::from(args.replicas),
        net_faults: args.net_faults.then_some(seed),
    };
    let mut procs = Processes::start_laid_out(&bin_dir, &url, args.base_port, &env, layout).await?;
    if args.replicas > 1 || args.net_faults {
        println!(
            "chaos      {} instance(s) of every service{}",
            args.replicas,
            if args.net_faults {
                "; calls between services through fault-injecting proxies"
            } else {
                ""
            }
        );
    }
    let reach = procs.reach(&url)?;
    let (supplier, buyers) = reach.people(args.clients).await?;
    let wallets = Arc::new(funded_wallets(&reach, args.wallets, "USD", "100000.00").await?);

    let run = Arc::new(Run {
        acked: Mutex::default(),
        checkouts: Mutex::default(),
        violations: Mutex::default(),
        retries: AtomicU64::new(0),
        unpaid: Mutex::default(),
    });
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    // The load's clients balance over every instance, as the services do.
    let all = |name: &str| procs.urls(name).with_context(|| format!("no {name}"));
    // Wallet and fx as the order saga calls them (for no person; edge names one).
    let as_order = Peers::new(
        [
            ("wallet".to_owned(), all("wallet")?),
            ("fx".to_owned(), all("fx")?),
        ],
        procs
            .keyring()
            .for_service("order")
            .context("order's key")?,
        None,
    )?;
    let edges = Balanced::new(
        "edge",
        &Source::parse(&all("edge")?)?,
        kuajing_platform::balance::plain(),
    )?;
    for i in 0..args.clients {
        let c = Clients {
            wallet: WalletServiceClient::new(as_order.channel("wallet")?),
            fx: FxServiceClient::new(as_order.channel("fx")?),
            edge: EdgeServiceClient::new(edges.clone()),
            reach: reach.clone(),
            buyer: buyers[i as usize % buyers.len()].clone(),
            supplier: supplier.clone(),
        };
        let rng = Rng(seed ^ (u64::from(i) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        tasks.push(tokio::spawn(client_loop(
            run.clone(),
            c,
            wallets.clone(),
            rng,
            until,
        )));
    }

    // Reads during the run, not only at the end: every committed snapshot of the ledger
    // conserves each currency (its accounts sum to zero), whatever is in flight.
    let reader = {
        let (run, options) = (run.clone(), admin.clone().database(db));
        tokio::spawn(async move {
            let mut reads = 0u64;
            while Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let Ok(mut conn) = options.connect().await else {
                    continue; // Postgres restarting: read again next round
                };
                let unbalanced: Result<Vec<(String, rust_decimal::Decimal)>, _> = sqlx::query_as(
                    "SELECT currency, sum(balance) FROM wallet.ledger_accounts
                     GROUP BY currency HAVING sum(balance) <> 0",
                )
                .fetch_all(&mut conn)
                .await;
                if let Ok(rows) = unbalanced {
                    reads += 1;
                    for (currency, sum) in rows {
                        run.violations.lock().await.push(format!(
                            "a snapshot read during the run: {currency} accounts sum to {sum}"
                        ));
                    }
                }
                let _ = conn.close().await;
            }
            reads
        })
    };

    // The killer: a random service every few seconds; Postgres crashed once, half way
    // through, or (--failover) failed over once a minute, evenly spread.
    let mut rng = Rng(seed);
    let (mut kills, mut db_restarts) = (0u64, 0u64);
    let started = Instant::now();
    let db_faults: Vec<Instant> = match postgres {
        Postgres::Single(_) => vec![started + Duration::from_secs(args.seconds / 2)],
        Postgres::Replicated(_) => {
            let n = (args.seconds / 60).max(1);
            (1..=n)
                .map(|k| started + Duration::from_secs(args.seconds * k / (n + 1)))
                .collect()
        }
    };
    let mut faulted_at = Vec::new();
    while Instant::now() + Duration::from_secs(args.kill_every) < until {
        tokio::time::sleep(Duration::from_secs(args.kill_every)).await;
        if db_faults
            .get(faulted_at.len())
            .is_some_and(|due| Instant::now() >= *due)
        {
            faulted_at.push(Instant::now());
            match postgres {
                Postgres::Single(cluster) => {
                    println!(
                        "chaos      crashing postgres (SIGKILL), then starting it (crash recovery)"
                    );
                    cluster.crash()?;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    cluster.start()?;
                }
                Postgres::Replicated(pair) => {
                    let stall = standby_cut_off_first(faulted_at.len() - 1);
                    println!(
                        "chaos      failover{}: kill -9 the primary's postmaster, promote the standby, move the address",
                        if stall {
                            " (the standby cut off the primary for 1 s first)"
                        } else {
                            ""
                        }
                    );
                    let f = pair.fail_over(stall).await?;
                    println!(
                        "chaos      failover: address moved {} ms after the crash; a new synchronous standby streamed {} ms later",
                        f.switch.as_millis(),
                        f.resync.as_millis()
                    );
                }
            }
            db_restarts += 1;
            continue;
        }
        let victim = SERVICES[rng.below(SERVICES.len() as u64) as usize];
        let instance = rng.below(procs.replicas() as u64) as usize;
        println!("chaos      kill -9 kuajing-{victim} ({instance})");
        procs.kill_instance(victim, instance).await?;
        kills += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
        procs.restart_instance(victim, instance).await?;
    }
    for t in tasks {
        let _ = t.await;
    }
    let snapshot_reads = reader.await.unwrap_or(0);

    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(admin.clone().database(db))
        .await?;
    let acked = run.acked.lock().await.clone();
    let checkouts = run.checkouts.lock().await.clone();
    settle_sagas(&pool).await?;
    let (checked, mut violated) = audit(&pool, &acked).await?;
    let (saga_checked, saga_violated) = audit_checkouts(&pool, &checkouts).await?;
    let checked = checked + saga_checked;
    violated.extend(saga_violated);
    violated.extend(run.violations.lock().await.iter().cloned());
    pool.close().await;
    let procs_net_faults = procs.net_faults.clone();
    procs.stop().await?;
    let mut counts: BTreeMap<&str, usize> = acked.iter().fold(BTreeMap::new(), |mut m, a| {
        *m.entry(a.kind).or_default() += 1;
        m
    });
    for c in &checkouts {
        *counts
            .entry(if c.state == PaymentState::Succeeded as i32 {
                "checkout (paid)"
            } else {
                "checkout (failed, compensated)"
            })
            .or_default() += 1;
    }
    println!(
        "chaos      acknowledged {counts:?}; {} transient failures retried; checkouts not made: {:?}",
        run.retries.load(Ordering::Relaxed),
        run.unpaid.lock().await
    );
    println!("chaos      {snapshot_reads} ledger snapshots read during the run");
    if args.failover {
        // A "(cut)" failover's pause includes the second the standby was cut off.
        let gaps: Vec<String> = pauses(&acked, &faulted_at, Duration::from_secs(30))
            .iter()
            .enumerate()
            .map(|(k, d)| {
                let cut = if standby_cut_off_first(k) {
                    " (cut)"
                } else {
                    ""
                };
                format!("{} ms{cut}", d.as_millis())
            })
            .collect();
        println!(
            "chaos      longest pause in acknowledged writes after each failover: {}",
            gaps.join(", ")
        );
    }
    if let Some(tally) = &procs_net_faults {
        println!(
            "chaos      connections between services: {}",
            tally.summary()
        );
    }
    for v in violated.iter().take(50) {
        println!("violation  {v}");
    }
    let checked = checked + acked.len() as u64;
    println!(
        "invariants: {checked} checked, {} violated; ops acked={}, kills={kills}, db {}={db_restarts}",
        violated.len(),
        acked.len() + checkouts.len(),
        if args.failover {
            "failovers"
        } else {
            "restarts"
        }
    );
    if !violated.is_empty() {
        anyhow::bail!("{} invariant violations (seed {seed})", violated.len());
    }
    Ok(())
}
