//! Transfer batching: concurrent CreateTransfer requests share one Postgres transaction.
//!
//! A commit costs a WAL flush; one transaction per transfer caps throughput near pgbench,
//! and a hot account serialises every transfer on its row. The batcher takes whatever
//! transfers are queued (no artificial wait: under load, requests queue while the previous
//! batch commits; see [`DEFAULT_WORKERS`]) and runs them in four round trips: BEGIN; one
//! statement that claims their request ids, locks every account they touch in the fixed
//! key order and reads the sources' balances; then, after applying them one by one in
//! memory (each still refused on its own if its source lacks funds), one statement that
//! writes the balances, entries, postings, transfers and idempotency answers; COMMIT. A
//! transfer is acknowledged only after the commit.
//!
//! Requests whose `request_id` is already claimed (a retry, a concurrent duplicate) are
//! handed to the one-at-a-time path, which replays or refuses them as usual.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use kuajing_platform::Currency;
use kuajing_platform::error::internal;
use kuajing_platform::idempotency::Refusal;
use kuajing_platform::idempotency::request_hash;
use kuajing_proto::wallet::v1::{
    CreateTransferResponse, FundPool, JournalEntryType, LedgerAccountKind,
};
use prost::Message;
use rust_decimal::Decimal;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tonic::Status;
use uuid::Uuid;

use crate::domain::fees;
use crate::domain::ledger::AccountKey;
use crate::ops::transfers::{Validated, create_one, fee_error, fees_json, transfer_proto};
use crate::ops::wallets::balance_proto;
use crate::ops::{Ctx, post_error};
use crate::store;
use crate::store::batch::{BatchWrite, ClaimRow, Claims, KeyColumns};
use crate::store::ledger::{self, PostError};

/// Batches in flight at once by default. One: while it commits (a WAL flush), the
/// requests arriving queue up and form the next batch. More run only batches that touch
/// wallets no batch in flight touches (see [`take_disjoint`]), and still lose: the second
/// batch is the few requests that came while the first commits, and its own commit costs
/// more than waiting (`kuajing bench --scenario transfer`: with the rule, 2 workers
/// 3,626-3,665/s against 4,262-4,434/s with 1; before it, 2 workers 2,602/s against 3,022/s,
/// the small batches also contending with the big one for the same rows).
pub const DEFAULT_WORKERS: u16 = 1;

type Reply = oneshot::Sender<Result<CreateTransferResponse, Status>>;

struct Job {
    t: Validated,
    reply: Reply,
}

/// Hands transfers to the batch workers.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::Sender<Job>,
}

/// Ledger accounts (key and shard) known to exist. Accounts are never deleted, so a batch
/// whose accounts are all known skips the statement that creates missing ones.
#[derive(Default)]
struct Known(std::sync::Mutex<HashSet<(AccountKey, i16)>>);

impl Known {
    /// Past this many, the set starts over (a bound on memory, not on correctness).
    const MAX: usize = 100_000;

    fn all(&self, keys: &[(AccountKey, i16)]) -> bool {
        let known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter().all(|k| known.contains(k))
    }

    fn add(&self, keys: impl IntoIterator<Item = (AccountKey, i16)>) {
        let mut known = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() > Self::MAX {
            known.clear();
        }
        known.extend(keys);
    }
}

impl Batcher {
    /// Starts the dispatcher: batches of up to `max_batch` transfers, up to `workers` of
    /// them in flight at once, no two in flight touching the same wallet.
    pub fn start(ctx: Ctx, workers: usize, max_batch: usize) -> Batcher {
        let workers = workers.max(1);
        let (tx, rx) = mpsc::channel::<Job>(max_batch * workers * 4);
        tokio::spawn(dispatch(ctx, rx, workers, max_batch));
        Batcher { tx }
    }

    /// Queues a transfer and waits for its answer (after its batch commits).
    pub async fn submit(&self, t: Validated) -> Result<CreateTransferResponse, Status> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { t, reply })
            .await
            .map_err(|_| Status::unavailable("the wallet is shutting down"))?;
        answer.await.map_err(|_| {
            Status::unavailable(
                "the transfer batch was interrupted; retry with the same request_id",
            )
        })?
    }
}

/// The wallets a transfer touches (its platform fee account is on a shard the batch
/// draws, so two batches rarely meet there, and never deadlock: both lock in key order).
fn wallets_of(job: &Job) -> [Uuid; 2] {
    [job.t.source, job.t.destination]
}

/// Takes from the front of `waiting`, in order, up to `max` items none of whose keys is
/// `busy`; the others stay where they were, first in line for the next batch.
fn take_disjoint<T, const N: usize>(
    waiting: &mut VecDeque<T>,
    busy: &HashSet<Uuid>,
    max: usize,
    keys: impl Fn(&T) -> [Uuid; N],
) -> Vec<T> {
    let mut taken = Vec::new();
    let mut left = VecDeque::with_capacity(waiting.len());
    while let Some(item) = waiting.pop_front() {
        if taken.len() < max && !keys(&item).iter().any(|k| busy.contains(k)) {
            taken.push(item);
        } else {
            left.push_back(item);
        }
    }
    *waiting = left;
    taken
}

/// Forms batches from the queue and keeps up to `workers` of them in flight. Under load
/// requests queue while the batches in flight commit, and the next batch takes them all;
/// a request alone goes at once (no waiting window).
async fn dispatch(ctx: Ctx, mut rx: mpsc::Receiver<Job>, workers: usize, max_batch: usize) {
    let known = Arc::new(Known::default());
    let queue_limit = max_batch * workers * 4;
    let mut waiting: VecDeque<Job> = VecDeque::new();
    let mut busy: HashSet<Uuid> = HashSet::new();
    let mut running: JoinSet<()> = JoinSet::new();
    let mut held: HashMap<tokio::task::Id, Vec<Uuid>> = HashMap::new();
    let mut open = true;
    loop {
        while running.len() < workers && !waiting.is_empty() {
            let batch = take_disjoint(&mut waiting, &busy, max_batch, wallets_of);
            if batch.is_empty() {
                break;
            }
            let wallets: Vec<Uuid> = batch.iter().flat_map(wallets_of).collect();
            busy.extend(wallets.iter().copied());
            let (ctx, known) = (ctx.clone(), known.clone());
            let task = running.spawn(async move { run(&ctx, &known, batch).await });
            held.insert(task.id(), wallets);
        }
        if !open && waiting.is_empty() && running.is_empty() {
            return;
        }
        tokio::select! {
            job = rx.recv(), if open && waiting.len() < queue_limit => match job {
                Some(job) => {
                    waiting.push_back(job);
                    while waiting.len() < queue_limit {
                        match rx.try_recv() {
                            Ok(job) => waiting.push_back(job),
                            Err(_) => break,
                        }
                    }
                }
                None => open = false,
            },
            Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                // A batch that panicked dropped its replies (its callers are told to retry);
                // its wallets are free again either way.
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => e.id(),
                };
                for w in held.remove(&id).unwrap_or_default() {
                    busy.remove(&w);
                }
            }
        }
    }
}

/// Attempts of a batch that conflicts with another transaction.
const CONFLICT_ATTEMPTS: u32 = 3;

/// Runs one batch and answers every job in it.
async fn run(ctx: &Ctx, known: &Known, jobs: Vec<Job>) {
    // The same request twice in one batch: the copies take the one-at-a-time path, which
    // waits for the first and replays its answer.
    let mut seen = HashSet::new();
    let (mut batch, mut deferred): (Vec<Job>, Vec<Job>) = (Vec::new(), Vec::new());
    for job in jobs {
        if seen.insert(job.t.request_id) {
            batch.push(job)
        } else {
            deferred.push(job)
        }
    }
    // A batch that lost a deadlock or serialization conflict wrote nothing: run it again,
    // with the same request ids, a few times before answering the conflict.
    let mut result = execute(ctx, known, &batch).await;
    for _ in 1..CONFLICT_ATTEMPTS {
        match &result {
            Err(s) if s.code() == tonic::Code::Aborted => {
                result = execute(ctx, known, &batch).await;
            }
            _ => break,
        }
    }
    match result {
        Ok(outcome) => {
            let mut outcome: HashMap<Uuid, Result<CreateTransferResponse, Status>> = outcome;
            for job in batch {
                match outcome.remove(&job.t.request_id) {
                    Some(answer) => {
                        let _ = job.reply.send(answer);
                    }
                    None => deferred.push(job),
                }
            }
        }
        Err(status) => {
            for job in batch {
                let _ = job.reply.send(Err(status.clone()));
            }
        }
    }
    for job in deferred {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let _ = job.reply.send(create_one(&ctx, job.t).await);
        });
    }
}

/// A transfer of the batch, priced.
struct Live<'a> {
    t: &'a Validated,
    split: fees::Split,
}

impl KeyColumns {
    /// The columns of `keys`; platform accounts go to `shard`.
    fn of(keys: &[AccountKey], shard: i16) -> KeyColumns {
        let mut c = KeyColumns {
            wallet: Vec::new(),
            kind: Vec::new(),
            currency: Vec::new(),
            pool: Vec::new(),
            shard: Vec::new(),
        };
        for k in keys {
            c.wallet.push(k.wallet_id);
            c.kind.push(k.kind as i16);
            c.currency.push(k.currency.code().to_owned());
            c.pool.push(k.fund_pool as i16);
            c.shard.push(if k.is_platform() { shard } else { 0 });
        }
        c
    }
}

/// Transfers committed together, per batch (how well group commit is working).
static BATCH_SIZE: kuajing_platform::metrics::Spread = kuajing_platform::metrics::Spread::new(
    "kuajing.ledger.batch.size",
    "{transfer}",
    "transfers executed in one transaction, per batch",
);

/// Answers of a batch, by request id.
type Answers = HashMap<Uuid, Result<CreateTransferResponse, Status>>;

/// An account locked by the batch: its id, its balance when locked, its balance now.
type Locked = BTreeMap<AccountKey, (Uuid, Decimal, Decimal)>;

/// Per (wallet, currency): the customer's available and held totals, for the answers.
type Totals = HashMap<(Uuid, String), (Decimal, Decimal)>;

/// The batch's transaction. Returns an answer per request it decided; requests it leaves
/// out (already claimed elsewhere) go the one-at-a-time way. In phases: fees, the accounts
/// (created where missing, outside the transaction), one statement that claims and locks,
/// the transfers applied in memory, one statement that writes it all.
async fn execute(ctx: &Ctx, known: &Known, batch: &[Job]) -> Result<Answers, Status> {
    let now = ctx.now();
    BATCH_SIZE.record(u64::try_from(batch.len()).unwrap_or(u64::MAX), &[]);
    let (mut answers, mut live) = with_fees(ctx, batch);
    if live.is_empty() {
        return Ok(answers);
    }
    let shard = ledger::shard_for(Uuid::now_v7());
    let keys = account_keys(&live);
    let cols = KeyColumns::of(&keys, shard);
    create_missing(ctx, known, &keys, &cols, now).await?;
    let mut tx = ctx
        .svc
        .pool
        .begin()
        .await
        .map_err(|e| ctx.errors().database(e))?;
    let (mut accounts, claimed, mut totals) =
        claim_and_lock(&mut tx, ctx, known, &live, &cols).await?;
    live.retain(|l| claimed.contains(&l.t.request_id));
    let applied = apply(ctx, &live, &mut accounts, &mut totals, &mut answers, now)?;
    write(&mut tx, ctx, &live, &accounts, &applied, &answers, now).await?;
    tx.commit().await.map_err(|e| ctx.errors().database(e))?;
    ledger::count_entries(JournalEntryType::Transfer, applied.done.len());
    for x in applied.done {
        answers.insert(x.request_id, Ok(x.response));
    }
    Ok(answers)
}

/// Each job with its fee split; a job whose fees do not fit is answered already.
fn with_fees<'a>(ctx: &Ctx, batch: &'a [Job]) -> (Answers, Vec<Live<'a>>) {
    let mut answers = Answers::new();
    let mut live = Vec::new();
    for job in batch {
        let currency = job.t.amount.currency();
        match fees::split(job.t.amount.amount(), currency, &job.t.fees) {
            Ok(split) => live.push(Live { t: &job.t, split }),
            Err(e) => {
                answers.insert(
                    job.t.request_id,
                    Err(fee_error(ctx, "transfer", currency, e)),
                );
            }
        }
    }
    (answers, live)
}

fn fee_key(c: Currency) -> AccountKey {
    AccountKey::platform(LedgerAccountKind::FeeRevenue, c)
}

/// Every account the batch touches, sorted (the order they are locked in), once each.
fn account_keys(live: &[Live<'_>]) -> Vec<AccountKey> {
    let mut keys: Vec<AccountKey> = Vec::new();
    for l in live {
        let c = l.t.amount.currency();
        keys.push(AccountKey::available(l.t.source, c, FundPool::Standard));
        keys.push(AccountKey::available(l.t.destination, c, l.t.pool));
        if !l.split.fee_revenue.is_zero() {
            keys.push(fee_key(c));
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// Rows a transfer credits may not exist yet: creates them, empty, in a statement of their
/// own (harmless if the batch fails), so the batch itself only locks. Only for wallets
/// that exist: a missing account later means a missing wallet.
async fn create_missing(
    ctx: &Ctx,
    known: &Known,
    keys: &[AccountKey],
    cols: &KeyColumns,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), Status> {
    let wanted: Vec<(AccountKey, i16)> = keys
        .iter()
        .zip(&cols.shard)
        .map(|(k, s)| (*k, *s))
        .collect();
    if known.all(&wanted) {
        return Ok(());
    }
    store::batch::create_missing(&ctx.svc.pool, cols, now)
        .await
        .map_err(|e| ctx.errors().database(e))?;
    Ok(())
}

/// In one statement (one round trip): claims the request ids (the ones claimed already go
/// the one-at-a-time way), locks every account in key order, and reads the sources'
/// customer accounts for the answers' totals. Rows come back as part 0 (a locked account),
/// 1 (a claimed request id) or 2 (a source's account, unlocked).
async fn claim_and_lock(
    tx: &mut sqlx::PgConnection,
    ctx: &Ctx,
    known: &Known,
    live: &[Live<'_>],
    cols: &KeyColumns,
) -> Result<(Locked, HashSet<Uuid>, Totals), Status> {
    let ids: Vec<Uuid> = live.iter().map(|l| l.t.request_id).collect();
    let hashes: Vec<Vec<u8>> = live
        .iter()
        .map(|l| request_hash("CreateTransfer", &l.t.req).to_vec())
        .collect();
    let methods = vec!["CreateTransfer".to_owned(); ids.len()];
    let sources: Vec<Uuid> = live.iter().map(|l| l.t.source).collect();
    let claims = Claims {
        request_ids: &ids,
        methods: &methods,
        hashes: &hashes,
    };
    let kinds = [
        LedgerAccountKind::CustomerAvailable,
        LedgerAccountKind::CustomerHeld,
    ]
    .map(|k| k as i16);
    let rows = store::batch::claim_and_lock(&mut *tx, cols, &claims, &sources, &kinds)
        .await
        .map_err(|e| ctx.errors().database(e))?;
    let key_of = |r: &ClaimRow| -> Result<(AccountKey, Decimal), Status> {
        let (Some(wallet_id), Some(kind), Some(currency), Some(pool), Some(balance)) = (
            r.wallet_id,
            r.kind,
            r.currency.as_deref(),
            r.fund_pool,
            r.balance,
        ) else {
            return Err(internal("an account row without its key"));
        };
        let key = AccountKey {
            wallet_id,
            kind: i32::from(kind),
            currency: currency.parse().map_err(internal)?,
            fund_pool: i32::from(pool),
        };
        Ok((key, balance))
    };
    let mut accounts = Locked::new();
    let mut locked: Vec<(AccountKey, i16)> = Vec::new();
    let mut claimed: HashSet<Uuid> = HashSet::new();
    let mut source_accounts: Vec<(AccountKey, Decimal)> = Vec::new();
    for r in &rows {
        match r.part {
            0 => {
                let (key, balance) = key_of(r)?;
                let (Some(shard), Some(account_id)) = (r.shard, r.account_id) else {
                    return Err(internal("a locked account without its id"));
                };
                locked.push((key, shard));
                accounts.insert(key, (account_id, balance, balance));
            }
            1 => {
                claimed.insert(
                    r.request_id
                        .ok_or_else(|| internal("a claim without its id"))?,
                );
            }
            _ => source_accounts.push(key_of(r)?),
        }
    }
    known.add(locked);
    // The totals: a locked account's balance is the one just locked (the freshest); the
    // others' is the statement's snapshot, a moment before.
    let mut totals = Totals::new();
    for (key, snapshot) in source_accounts {
        let b = accounts.get(&key).map_or(snapshot, |a| a.1);
        let slot = totals
            .entry((key.wallet_id, key.currency.code().to_owned()))
            .or_default();
        if key.kind == 1 {
            slot.0 += b
        } else {
            slot.1 += b
        }
    }
    Ok((accounts, claimed, totals))
}

/// A transfer applied in memory.
struct Done {
    request_id: Uuid,
    entry_id: Uuid,
    transfer_id: Uuid,
    response: CreateTransferResponse,
}

/// One posting: entry, index, account id, key, amount, balance after.
type Posting = (Uuid, i16, Uuid, AccountKey, Decimal, Decimal);

/// What applying the batch in memory decided.
struct Applied {
    done: Vec<Done>,
    failed: Vec<Uuid>,
    postings: Vec<Posting>,
}

/// Applies the claimed transfers in order, in memory, to the locked balances: a missing
/// wallet or an unfunded source refuses that transfer alone (its answer recorded).
fn apply(
    ctx: &Ctx,
    live: &[Live<'_>],
    accounts: &mut Locked,
    totals: &mut Totals,
    answers: &mut Answers,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Applied, Status> {
    let mut done: Vec<Done> = Vec::new();
    let mut failed: Vec<Uuid> = Vec::new();
    let mut postings: Vec<Posting> = Vec::new();
    for l in live {
        let t = l.t;
        let c = t.amount.currency();
        let from = AccountKey::available(t.source, c, FundPool::Standard);
        let to = AccountKey::available(t.destination, c, t.pool);
        // Every existing wallet's accounts were created above: one not locked is a wallet
        // that does not exist.
        let missing = [(t.source, from), (t.destination, to)]
            .into_iter()
            .find(|(_, k)| !accounts.contains_key(k));
        if let Some((w, _)) = missing {
            answers.insert(
                t.request_id,
                Err(ctx.errors().not_found("wallet", w.to_string())),
            );
            failed.push(t.request_id);
            continue;
        }
        let funded = accounts
            .get(&from)
            .is_some_and(|a| a.2 >= l.split.payer_pays);
        if !funded {
            answers.insert(
                t.request_id,
                Err(post_error(ctx.errors(), PostError::Insufficient(from))),
            );
            failed.push(t.request_id);
            continue;
        }
        let (entry_id, transfer_id) = (Uuid::now_v7(), Uuid::now_v7());
        let mut legs = vec![(from, -l.split.payer_pays), (to, l.split.payee_gets)];
        if !l.split.fee_revenue.is_zero() {
            legs.push((fee_key(c), l.split.fee_revenue));
        }
        for (idx, (key, amount)) in (0i16..).zip(legs.into_iter().filter(|(_, a)| !a.is_zero())) {
            let account = accounts
                .get_mut(&key)
                .ok_or_else(|| internal("an account of the batch was not locked"))?;
            account.2 += amount;
            postings.push((entry_id, idx, account.0, key, amount, account.2));
        }
        let total = totals.entry((t.source, c.code().to_owned())).or_default();
        total.0 -= l.split.payer_pays;
        if let Some(dest) = totals.get_mut(&(t.destination, c.code().to_owned())) {
            dest.0 += l.split.payee_gets;
        }
        let (available, held) = totals[&(t.source, c.code().to_owned())];
        let response = CreateTransferResponse {
            transfer: Some(transfer_proto(t, transfer_id, entry_id, now)),
            source_balance: Some(balance_proto(c, available, held)),
        };
        done.push(Done {
            request_id: t.request_id,
            entry_id,
            transfer_id,
            response,
        });
    }
    Ok(Applied {
        done,
        failed,
        postings,
    })
}

/// Writes it all in one statement (one round trip): balances, entries, postings,
/// transfers, the answers of the done and the records of the refused. Postgres runs every
/// data-modifying CTE to completion, and checks the postings' foreign keys at the end of
/// the statement, when their entries exist.
async fn write(
    tx: &mut sqlx::PgConnection,
    ctx: &Ctx,
    live: &[Live<'_>],
    accounts: &Locked,
    applied: &Applied,
    answers: &Answers,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), Status> {
    let (done, failed, postings) = (&applied.done, &applied.failed, &applied.postings);
    let changed: Vec<(Uuid, Decimal)> = accounts
        .values()
        .filter(|a| a.1 != a.2)
        .map(|a| (a.0, a.2))
        .collect();
    let refusals: Vec<Vec<u8>> = failed
        .iter()
        .map(|id| match answers.get(id) {
            Some(Err(status)) => Ok(Refusal::of(status).encode_to_vec()),
            _ => Err(internal("a refused transfer without its refusal")),
        })
        .collect::<Result<_, _>>()?;
    let by_id: HashMap<Uuid, &Validated> = live.iter().map(|l| (l.t.request_id, l.t)).collect();
    let of = |x: &Done| by_id[&x.request_id];
    let batch = BatchWrite {
        at: now,
        account_ids: changed.iter().map(|c| c.0).collect(),
        balances: changed.iter().map(|c| c.1).collect(),
        entry_type: JournalEntryType::Transfer as i16,
        entry_ids: done.iter().map(|x| x.entry_id).collect(),
        request_ids: done.iter().map(|x| x.request_id).collect(),
        transfer_ids: done.iter().map(|x| x.transfer_id).collect(),
        order_ids: done.iter().map(|x| of(x).order_id.clone()).collect(),
        descriptions: done.iter().map(|x| of(x).description.clone()).collect(),
        sources: done.iter().map(|x| of(x).source).collect(),
        destinations: done.iter().map(|x| of(x).destination).collect(),
        currencies: (done.iter())
            .map(|x| of(x).amount.currency().code().to_owned())
            .collect(),
        amounts: done.iter().map(|x| of(x).amount.amount()).collect(),
        pools: done.iter().map(|x| of(x).pool as i16).collect(),
        fee_legs: done.iter().map(|x| fees_json(&of(x).fees)).collect(),
        responses: done.iter().map(|x| x.response.encode_to_vec()).collect(),
        posting_entries: postings.iter().map(|p| p.0).collect(),
        posting_indexes: postings.iter().map(|p| p.1).collect(),
        posting_accounts: postings.iter().map(|p| p.2).collect(),
        posting_wallets: postings.iter().map(|p| p.3.wallet_id).collect(),
        posting_kinds: postings.iter().map(|p| p.3.kind as i16).collect(),
        posting_pools: postings.iter().map(|p| p.3.fund_pool as i16).collect(),
        posting_currencies: (postings.iter())
            .map(|p| p.3.currency.code().to_owned())
            .collect(),
        posting_amounts: postings.iter().map(|p| p.4).collect(),
        posting_balances: postings.iter().map(|p| p.5).collect(),
        // Time-ordered ids, so statements list a batch's postings in the order they applied.
        posting_ids: postings.iter().map(|_| Uuid::now_v7()).collect(),
        refused: failed.clone(),
        refusals,
    };
    store::batch::write(&mut *tx, &batch)
        .await
        .map_err(|e| ctx.errors().database(e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn a_batch_takes_only_transfers_clear_of_the_wallets_in_flight_in_order() {
        let mut waiting: VecDeque<[Uuid; 2]> = [
            [id(1), id(2)],
            [id(3), id(4)],
            [id(5), id(1)],
            [id(6), id(7)],
            [id(8), id(9)],
        ]
        .into_iter()
        .collect();
        let busy: HashSet<Uuid> = [id(1)].into_iter().collect();
        let taken = take_disjoint(&mut waiting, &busy, 2, |t| *t);
        assert_eq!(taken, vec![[id(3), id(4)], [id(6), id(7)]]);
        // What was passed over keeps its place, first in line.
        assert_eq!(
            waiting.into_iter().collect::<Vec<_>>(),
            vec![[id(1), id(2)], [id(5), id(1)], [id(8), id(9)]]
        );
    }

    #[test]
    fn nothing_in_flight_takes_the_queue_in_order_up_to_the_batch_size() {
        let mut waiting: VecDeque<[Uuid; 2]> = (0..5).map(|n| [id(n), id(n)]).collect();
        let taken = take_disjoint(&mut waiting, &HashSet::new(), 4, |t| *t);
        assert_eq!(taken.len(), 4);
        assert_eq!(taken[0], [id(0), id(0)]);
        assert_eq!(waiting.len(), 1);
    }
}
