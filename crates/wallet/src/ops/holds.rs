//! Holds: create (available -> held), then exactly one of capture, release or expiry.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::page::{Cursor, Page};
use kuajing_platform::{Currency, FieldViolations, Money, idempotency, time};
use kuajing_proto::wallet::v1::{
    CaptureHoldRequest, CaptureHoldResponse, CreateHoldRequest, CreateHoldResponse, FundPool,
    GetHoldRequest, GetHoldResponse, Hold, HoldPurpose, HoldState, JournalEntryType,
    LedgerAccountKind, ListHoldsRequest, ListHoldsResponse, ReleaseHoldRequest,
    ReleaseHoldResponse,
};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use tonic::{Code, Status};
use uuid::Uuid;

use super::transfers::{fee_error, fees_json, fees_proto, parse_fee_legs};
use super::{Ctx, currency_mismatch, post_error, require_wallet};
use crate::domain::fees;
use crate::domain::hold::{self, HoldRefusal};
use crate::domain::ledger::{AccountKey, Cause, EntryDraft};
use crate::store::holds::{Capture, HoldRow, NewHold};
use crate::store::{self, ledger};

/// Reason: the capture exceeds the hold.
pub use kuajing_proto::reasons::wallet::CAPTURE_EXCEEDS_HOLD;
/// Reason: the hold's expiry has passed.
pub use kuajing_proto::reasons::wallet::HOLD_EXPIRED;
/// Reason: the hold already ended.
pub use kuajing_proto::reasons::wallet::HOLD_NOT_OPEN;

/// A hold row, as the rules need it.
struct Row_ {
    wallet_id: Uuid,
    currency: Currency,
    amount: Decimal,
    fund_pool: FundPool,
    state: HoldState,
    order_id: String,
    expire_at: Option<DateTime<Utc>>,
}

fn state_of(n: i16) -> HoldState {
    HoldState::try_from(i32::from(n)).unwrap_or(HoldState::Unspecified)
}

fn to_proto(r: &HoldRow) -> Result<Hold, Status> {
    let c: Currency = r.currency.parse().map_err(internal)?;
    let m = |d: Option<Decimal>| d.and_then(|d| Money::new(c, d).ok()).map(|m| m.to_proto());
    let opt_id = |id: Option<Uuid>| id.map(|i| i.to_string()).unwrap_or_default();
    Ok(Hold {
        hold_id: r.hold_id.to_string(),
        wallet_id: r.wallet_id.to_string(),
        purpose: i32::from(r.purpose),
        amount: m(Some(r.amount)),
        state: i32::from(r.state),
        order_id: r.order_id.clone(),
        description: r.description.clone(),
        expire_time: time::opt_to_proto(r.expire_at),
        create_time: Some(time::to_proto(r.created_at)),
        end_time: time::opt_to_proto(r.ended_at),
        payee_wallet_id: opt_id(r.payee_wallet_id),
        captured_amount: m(r.captured_amount),
        fee_legs: fees_proto(&r.fee_legs),
        released_amount: m(r.released_amount),
        create_entry_id: r.create_entry_id.to_string(),
        end_entry_id: opt_id(r.end_entry_id),
        fund_pool: i32::from(r.fund_pool),
    })
}

async fn load(conn: &mut PgConnection, ctx: &Ctx, id: Uuid) -> Result<Hold, Status> {
    let row = store::holds::get(conn, id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ctx.errors().not_found("hold", id.to_string()))?;
    to_proto(&row)
}

/// Locks a hold row for the rest of the transaction.
async fn lock(conn: &mut PgConnection, ctx: &Ctx, id: Uuid) -> Result<Row_, Status> {
    let r = store::holds::get_for_update(conn, id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ctx.errors().not_found("hold", id.to_string()))?;
    Ok(Row_ {
        wallet_id: r.wallet_id,
        currency: r.currency.parse().map_err(internal)?,
        amount: r.amount,
        fund_pool: FundPool::try_from(i32::from(r.fund_pool)).unwrap_or(FundPool::Standard),
        state: state_of(r.state),
        order_id: r.order_id,
        expire_at: r.expire_at,
    })
}

fn refusal(ctx: &Ctx, id: Uuid, r: HoldRefusal) -> Status {
    let subject = format!("hold/{id}");
    match r {
        HoldRefusal::NotOpen(state) => {
            let mut md = HashMap::new();
            md.insert("state".to_owned(), state.as_str_name().to_owned());
            ctx.errors().refuse_with(
                Code::FailedPrecondition,
                HOLD_NOT_OPEN,
                format!("the hold is {}", state.as_str_name()),
                md,
            )
        }
        HoldRefusal::Expired => {
            ctx.errors()
                .precondition(HOLD_EXPIRED, subject, "the hold has expired")
        }
        HoldRefusal::CaptureExceedsHold => ctx.errors().precondition(
            CAPTURE_EXCEEDS_HOLD,
            subject,
            "amount plus payer-borne fees exceed the hold",
        ),
    }
}

/// CreateHold.
pub async fn create(ctx: &Ctx, req: CreateHoldRequest) -> Result<CreateHoldResponse, Status> {
    let mut v = FieldViolations::new();
    let wallet_id = v.uuid("wallet_id", &req.wallet_id);
    let amount = v.positive_money("amount", req.amount.as_ref());
    let purpose: Option<HoldPurpose> = v.enum_value("purpose", req.purpose);
    let order_id = v.text("order_id", &req.order_id, 64).to_owned();
    let description = v.text("description", &req.description, 200).to_owned();
    let now = ctx.now();
    let expire_at = match req.expire_time.as_ref() {
        None => None,
        Some(t) => match time::from_proto(t) {
            Some(t) if t > now => Some(t),
            _ => {
                v.add("expire_time", "must be in the future");
                None
            }
        },
    };
    let request_id = idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    let (wallet_id, amount, purpose) = (
        wallet_id.expect("ok"),
        amount.expect("ok"),
        purpose.expect("ok"),
    );
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "CreateHold",
        &req.request_id,
        &req,
        |mut tx| async move {
            require_wallet(&mut tx, ctx.errors(), wallet_id).await?;
            let hold_id = Uuid::now_v7();
            let c = amount.currency();
            let cause = Cause {
                request_id,
                order_id: order_id.clone(),
                hold_id: Some(hold_id),
                ..Cause::default()
            };
            let mut draft =
                EntryDraft::new(JournalEntryType::HoldCreate, cause, description.clone());
            draft.transfer(
                AccountKey::available(wallet_id, c, FundPool::Standard),
                AccountKey::held(wallet_id, c),
                amount.amount(),
            );
            let posted = ledger::post(&mut tx, &draft, now)
                .await
                .map_err(|e| post_error(ctx.errors(), e))?;
            let hold = NewHold {
                hold_id,
                wallet_id,
                purpose: purpose as i16,
                currency: c.code(),
                amount: amount.amount(),
                fund_pool: FundPool::Standard as i16,
                state: HoldState::Open as i16,
                order_id: &order_id,
                description: &description,
                expire_at,
                created_at: now,
                create_entry_id: posted.entry_id,
            };
            let row = store::holds::insert(&mut *tx, &hold)
                .await
                .map_err(internal)?;
            Ok((
                CreateHoldResponse {
                    hold: Some(to_proto(&row)?),
                },
                tx,
            ))
        },
    )
    .await
}

/// GetHold.
pub async fn get(ctx: &Ctx, req: GetHoldRequest) -> Result<GetHoldResponse, Status> {
    let mut v = FieldViolations::new();
    let id = v.uuid("hold_id", &req.hold_id);
    v.finish()?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    Ok(GetHoldResponse {
        hold: Some(load(&mut conn, ctx, id.expect("ok")).await?),
    })
}

/// ListHolds: newest first, by wallet and/or order.
pub async fn list(ctx: &Ctx, req: ListHoldsRequest) -> Result<ListHoldsResponse, Status> {
    let mut v = FieldViolations::new();
    let wallet_id = v.optional_uuid("wallet_id", &req.wallet_id).flatten();
    let order_id = v.text("order_id", &req.order_id, 64).to_owned();
    if wallet_id.is_none() && order_id.is_empty() && v.is_empty() {
        v.add("wallet_id", "wallet_id or order_id is required");
    }
    let mut states = Vec::new();
    for (i, s) in req.states.iter().enumerate() {
        if let Some(s) = v.enum_value::<HoldState>(&format!("states[{i}]"), *s) {
            states.push(s as i16);
        }
    }
    let page = Page::from_proto("page", req.page.as_ref(), &mut v);
    v.finish()?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    if let Some(w) = wallet_id {
        require_wallet(&mut conn, ctx.errors(), w).await?;
    }
    let after = page.after.map(|c| (c.time, c.id));
    let filter = (wallet_id, order_id.as_str(), &states[..]);
    let mut rows = store::holds::list(&mut *conn, filter, after, page.fetch_limit())
        .await
        .map_err(internal)?;
    let page = page.finish(&mut rows, |r| Cursor {
        time: r.created_at,
        id: r.hold_id,
    });
    let holds = rows.iter().map(to_proto).collect::<Result<_, _>>()?;
    Ok(ListHoldsResponse {
        holds,
        page: Some(page),
    })
}

/// Guarantee funds a capture keeps on the payee's wallet.
struct Kept<'a> {
    hold_id: Uuid,
    wallet_id: Uuid,
    currency: Currency,
    amount: Decimal,
    pool: FundPool,
    order_id: &'a str,
}

/// Records the GUARANTEE hold of funds a capture kept (already posted to the payee's held
/// account by `entry_id`); answers it.
async fn keep_as_guarantee(
    conn: &mut PgConnection,
    k: Kept<'_>,
    entry_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Hold, Status> {
    let hold = NewHold {
        hold_id: k.hold_id,
        wallet_id: k.wallet_id,
        purpose: HoldPurpose::Guarantee as i16,
        currency: k.currency.code(),
        amount: k.amount,
        fund_pool: k.pool as i16,
        state: HoldState::Open as i16,
        order_id: k.order_id,
        description: "Guarantee funds from a captured payment",
        expire_at: None,
        created_at: now,
        create_entry_id: entry_id,
    };
    let row = store::holds::insert(&mut *conn, &hold)
        .await
        .map_err(internal)?;
    to_proto(&row)
}

/// Reason: guarantee funds asked of a hold without an order.
pub use kuajing_proto::reasons::wallet::GUARANTEE_NEEDS_ORDER;

/// A CaptureHold request that passed validation.
struct CaptureAsked {
    hold_id: Uuid,
    payee: Uuid,
    amount: kuajing_platform::Money,
    pool: FundPool,
    fees: Vec<crate::domain::fees::Fee>,
    request_id: Uuid,
}

impl CaptureAsked {
    /// Checks every field of `req` at once.
    fn of(req: &CaptureHoldRequest) -> Result<CaptureAsked, Status> {
        let mut v = FieldViolations::new();
        let hold_id = v.uuid("hold_id", &req.hold_id);
        let payee = v.uuid("payee_wallet_id", &req.payee_wallet_id);
        let amount = v.positive_money("amount", req.amount.as_ref());
        let pool = if req.payee_fund_pool == 0 {
            Some(FundPool::Standard)
        } else {
            v.enum_value::<FundPool>("payee_fund_pool", req.payee_fund_pool)
        };
        let fees = parse_fee_legs(&mut v, "fee_legs", &req.fee_legs);
        let request_id = idempotency::parse_request_id(&req.request_id)?;
        v.finish()?;
        Ok(CaptureAsked {
            hold_id: hold_id.expect("ok"),
            payee: payee.expect("ok"),
            amount: amount.expect("ok"),
            pool: pool.expect("ok"),
            fees,
            request_id,
        })
    }
}

/// CaptureHold: whole or part to a payee (its available balance, or guarantee funds under a
/// hold of its own), fees to fee revenue, the rest back to the owner.
pub async fn capture(ctx: &Ctx, req: CaptureHoldRequest) -> Result<CaptureHoldResponse, Status> {
    let CaptureAsked {
        hold_id,
        payee,
        amount,
        pool,
        fees,
        request_id,
    } = CaptureAsked::of(&req)?;
    let now = ctx.now();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "CaptureHold",
        &req.request_id,
        &req,
        |mut tx| async move {
            let h = lock(&mut tx, ctx, hold_id).await?;
            let subject = format!("hold/{hold_id}");
            if amount.currency() != h.currency {
                return Err(currency_mismatch(
                    ctx.errors(),
                    &subject,
                    h.currency,
                    amount.currency(),
                ));
            }
            let split = fees::split(amount.amount(), h.currency, &fees)
                .map_err(|e| fee_error(ctx, &subject, h.currency, e))?;
            let back = hold::check_capture(h.state, h.expire_at, now, h.amount, split.payer_pays)
                .map_err(|r| refusal(ctx, hold_id, r))?;
            require_wallet(&mut tx, ctx.errors(), payee).await?;
            if req.payee_guarantee && h.order_id.is_empty() {
                return Err(ctx.errors().precondition(
                    GUARANTEE_NEEDS_ORDER,
                    subject,
                    "guarantee funds are kept for an order: this hold has none",
                ));
            }
            // Kept as guarantee funds: held on the payee's wallet under a hold of its own.
            let guarantee_id = req.payee_guarantee.then(Uuid::now_v7);
            let payee_account = match guarantee_id {
                Some(_) => AccountKey::held(payee, h.currency),
                None => AccountKey::available(payee, h.currency, pool),
            };
            let c = h.currency;
            let cause = Cause {
                request_id,
                order_id: h.order_id.clone(),
                hold_id: Some(hold_id),
                ..Cause::default()
            };
            let mut draft = EntryDraft::new(JournalEntryType::HoldCapture, cause, "Hold captured");
            draft
                .leg(AccountKey::held(h.wallet_id, c), -h.amount)
                .leg(payee_account, split.payee_gets)
                .leg(
                    AccountKey::platform(LedgerAccountKind::FeeRevenue, c),
                    split.fee_revenue,
                )
                .leg(AccountKey::available(h.wallet_id, c, h.fund_pool), back);
            let posted = ledger::post(&mut tx, &draft, now)
                .await
                .map_err(|e| post_error(ctx.errors(), e))?;
            let capture = Capture {
                state: HoldState::Captured as i16,
                at: now,
                payee_wallet_id: payee,
                captured: amount.amount(),
                released: back,
                fee_legs: fees_json(&fees),
                entry_id: posted.entry_id,
            };
            store::holds::capture(&mut *tx, hold_id, &capture)
                .await
                .map_err(internal)?;
            let guarantee_hold = match guarantee_id {
                Some(id) => {
                    let kept = Kept {
                        hold_id: id,
                        wallet_id: payee,
                        currency: c,
                        amount: split.payee_gets,
                        pool,
                        order_id: &h.order_id,
                    };
                    Some(keep_as_guarantee(&mut tx, kept, posted.entry_id, now).await?)
                }
                None => None,
            };
            let hold = load(&mut tx, ctx, hold_id).await?;
            let entry = super::journal::load(&mut tx, ctx, posted.entry_id).await?;
            Ok((
                CaptureHoldResponse {
                    hold: Some(hold),
                    journal_entry: Some(entry),
                    guarantee_hold,
                },
                tx,
            ))
        },
    )
    .await
}

/// How an open hold ends when it all goes back to its owner.
enum Return<'a> {
    /// ReleaseHold, with the caller's request id and reason.
    Release { request_id: Uuid, reason: &'a str },
    /// The sweeper: past its expiry.
    Expiry,
}

/// Ends an open hold by returning it all to the owner (release or expiry).
async fn end_by_release(
    conn: &mut PgConnection,
    ctx: &Ctx,
    hold_id: Uuid,
    h: &Row_,
    how: Return<'_>,
    now: DateTime<Utc>,
) -> Result<(), Status> {
    let (request_id, entry_type, state, description) = match how {
        Return::Release { request_id, reason } => {
            let text = if reason.is_empty() {
                "Hold released"
            } else {
                reason
            };
            (
                request_id,
                JournalEntryType::HoldRelease,
                HoldState::Released,
                text,
            )
        }
        // The expiry's request id is the hold's own id: there is no caller to name.
        Return::Expiry => (
            hold_id,
            JournalEntryType::HoldExpiry,
            HoldState::Expired,
            "Hold expired",
        ),
    };
    let cause = Cause {
        request_id,
        order_id: h.order_id.clone(),
        hold_id: Some(hold_id),
        ..Cause::default()
    };
    let mut draft = EntryDraft::new(entry_type, cause, description);
    draft.transfer(
        AccountKey::held(h.wallet_id, h.currency),
        AccountKey::available(h.wallet_id, h.currency, h.fund_pool),
        h.amount,
    );
    let posted = ledger::post(conn, &draft, now)
        .await
        .map_err(|e| post_error(ctx.errors(), e))?;
    store::holds::release(conn, hold_id, state as i16, now, posted.entry_id)
        .await
        .map_err(internal)?;
    Ok(())
}

/// ReleaseHold.
pub async fn release(ctx: &Ctx, req: ReleaseHoldRequest) -> Result<ReleaseHoldResponse, Status> {
    let mut v = FieldViolations::new();
    let hold_id = v.uuid("hold_id", &req.hold_id);
    let reason = v.text("reason", &req.reason, 200).to_owned();
    let request_id = idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    let hold_id = hold_id.expect("ok");
    let now = ctx.now();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "ReleaseHold",
        &req.request_id,
        &req,
        |mut tx| async move {
            let h = lock(&mut tx, ctx, hold_id).await?;
            hold::check_release(h.state).map_err(|r| refusal(ctx, hold_id, r))?;
            let how = Return::Release {
                request_id,
                reason: &reason,
            };
            end_by_release(&mut tx, ctx, hold_id, &h, how, now).await?;
            Ok((
                ReleaseHoldResponse {
                    hold: Some(load(&mut tx, ctx, hold_id).await?),
                },
                tx,
            ))
        },
    )
    .await
}

/// Releases every open hold whose expiry has passed; returns how many it ended. Each
/// expiry is its own transaction; rows another transaction holds are left for next time.
pub async fn expire_due(ctx: &Ctx) -> Result<usize, Status> {
    let now = ctx.now();
    let due = store::holds::expiring(&ctx.svc.pool, HoldState::Open as i16, now)
        .await
        .map_err(internal)?;
    let mut ended = 0;
    for hold_id in due {
        let mut tx = ctx.svc.pool.begin().await.map_err(internal)?;
        let locked = store::holds::state_unless_locked(&mut *tx, hold_id)
            .await
            .map_err(internal)?;
        if locked != Some(HoldState::Open as i16) {
            continue;
        }
        let h = lock(&mut tx, ctx, hold_id).await?;
        if !hold::is_expired(h.expire_at, now) {
            continue;
        }
        end_by_release(&mut tx, ctx, hold_id, &h, Return::Expiry, now).await?;
        tx.commit().await.map_err(internal)?;
        ended += 1;
    }
    Ok(ended)
}

/// Runs [`expire_due`] every `every` until the process ends.
pub fn spawn_sweeper(ctx: Ctx, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if ctx.svc.pool.is_closed() {
                return;
            }
            match expire_due(&ctx).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "released expired holds"),
                Err(e) => tracing::warn!(error = %e.message(), "hold sweeper failed; will retry"),
            }
        }
    });
}
