//! Bank accounts and withdrawals: the fee schedule (data), limits, the payment PIN checked
//! by identity, and REQUESTED -> PROCESSING -> COMPLETED or FAILED (a failure reverses).
//!
//! `bank_accounts` keeps where money may go, `pricing` what it costs; this module is the
//! withdrawal itself: its rows and its status machine.

mod bank_accounts;
mod pricing;

pub use bank_accounts::{list_bank_accounts, register_bank_account};
pub use pricing::{estimate, list_fee_rules};

use std::collections::HashMap;

use kuajing_platform::error::internal;
use kuajing_platform::outbound;
use kuajing_platform::page::{Cursor, Page};
use kuajing_platform::{Currency, FieldViolations, Money, idempotency, time};
use kuajing_proto::identity::v1::{
    VerifyPaymentPinRequest, identity_service_client::IdentityServiceClient,
};
use kuajing_proto::wallet::v1::{
    CreateWithdrawalRequest, CreateWithdrawalResponse, FundPool, GetWithdrawalRequest,
    GetWithdrawalResponse, JournalEntryType, LedgerAccountKind, ListWithdrawalsRequest,
    ListWithdrawalsResponse, UpdateWithdrawalStatusRequest, UpdateWithdrawalStatusResponse,
    Withdrawal, WithdrawalStatus,
};
use sqlx::PgConnection;
use tonic::{Code, Status};
use uuid::Uuid;

use super::{Ctx, post_error, require_wallet};
use crate::domain::ledger::{AccountKey, Cause, EntryDraft, Leg};
use crate::domain::withdrawal;
use crate::store::withdrawals::{NewWithdrawal, StatusChange, WithdrawalRow};
use crate::store::{self, ledger};

use pricing::price;

/// Reason: the bank account is already registered.
pub use kuajing_proto::reasons::wallet::BANK_ACCOUNT_ALREADY_REGISTERED;
/// Reason: the status cannot move that way.
pub use kuajing_proto::reasons::wallet::INVALID_STATUS_TRANSITION;
/// Reason: the fee would take the whole amount (or more): nothing would reach the bank.
pub use kuajing_proto::reasons::wallet::WITHDRAWAL_AMOUNT_BELOW_FEE;
/// Reason: the supplier's region withdraws in another currency only (Hong Kong and Taiwan:
/// USD).
pub use kuajing_proto::reasons::wallet::WITHDRAWAL_CURRENCY_NOT_ALLOWED;
/// Reason: the withdrawal exceeds its per-withdrawal limit.
pub use kuajing_proto::reasons::wallet::WITHDRAWAL_LIMIT_EXCEEDED;
/// Reason: no fee rule covers this pool, currency and account type.
pub use kuajing_proto::reasons::wallet::WITHDRAWAL_ROUTE_NOT_SUPPORTED;
fn withdrawal_from_row(r: &WithdrawalRow) -> Result<Withdrawal, Status> {
    let c: Currency = r.currency.parse().map_err(internal)?;
    let m = |d| Money::rounded(c, d).map(|m| m.to_proto()).map_err(internal);
    Ok(Withdrawal {
        withdrawal_id: r.withdrawal_id.to_string(),
        wallet_id: r.wallet_id.to_string(),
        bank_account_id: r.bank_account_id.to_string(),
        source_fund_pool: i32::from(r.source_fund_pool),
        amount: Some(m(r.amount)?),
        fee: Some(m(r.fee)?),
        net_amount: Some(m(r.amount - r.fee)?),
        fee_rule_id: r.fee_rule_id.to_string(),
        status: i32::from(r.status),
        remark: r.remark.clone(),
        bank_reference: r.bank_reference.clone(),
        failure_reason: r.failure_reason.clone(),
        journal_entry_id: r.entry_id.to_string(),
        reversal_entry_id: r
            .reversal_entry_id
            .map(|u| u.to_string())
            .unwrap_or_default(),
        create_time: Some(time::to_proto(r.created_at)),
        update_time: Some(time::to_proto(r.updated_at)),
        finish_time: time::opt_to_proto(r.finished_at),
    })
}

async fn load(conn: &mut PgConnection, ctx: &Ctx, id: Uuid) -> Result<Withdrawal, Status> {
    let row = store::withdrawals::get(conn, id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ctx.errors().not_found("withdrawal", id.to_string()))?;
    withdrawal_from_row(&row)
}

/// CreateWithdrawal: PIN verified by identity, then the entry and the withdrawal at once.
pub async fn create(
    ctx: &Ctx,
    req: CreateWithdrawalRequest,
) -> Result<CreateWithdrawalResponse, Status> {
    let mut v = FieldViolations::new();
    let wallet_id = v.uuid("wallet_id", &req.wallet_id);
    let bank = v.uuid("bank_account_id", &req.bank_account_id);
    let pool = v.enum_or("source_fund_pool", req.source_fund_pool, FundPool::Standard);
    let amount = v.positive_money("amount", req.amount.as_ref());
    if req.payment_pin.len() != 6 || !req.payment_pin.bytes().all(|b| b.is_ascii_digit()) {
        v.add("payment_pin", "must be 6 digits");
    }
    let remark = v.text("remark", &req.remark, 200).to_owned();
    let request_id = idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    let (wallet_id, bank, pool, amount) = (
        wallet_id.expect("ok"),
        bank.expect("ok"),
        pool,
        amount.expect("ok"),
    );
    // The PIN is not part of what makes two requests the same (it is never stored).
    let mut keyed = req.clone();
    keyed.payment_pin.clear();
    let c = amount.currency();
    let now = ctx.now();

    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    require_wallet(&mut conn, ctx.errors(), wallet_id).await?;
    let p = price(ctx, &mut conn, wallet_id, bank, pool, amount).await?;
    drop(conn);
    if !p.within_limit {
        return Err(over_limit(ctx, &p.rule)?);
    }
    // A replay must not count a PIN attempt again: answer it before asking identity.
    if let Some(answer) = answered_before(ctx, &req.request_id, &keyed).await? {
        return Ok(answer);
    }
    verify_pin(ctx, p.owner, request_id, &req.payment_pin).await?;

    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "CreateWithdrawal",
        &req.request_id,
        &keyed,
        |mut tx| async move {
            let withdrawal_id = Uuid::now_v7();
            let cause = Cause {
                request_id,
                withdrawal_id: Some(withdrawal_id),
                ..Cause::default()
            };
            let mut draft = EntryDraft::new(JournalEntryType::Withdrawal, cause, "Withdrawal");
            draft
                .leg(AccountKey::available(wallet_id, c, pool), -amount.amount())
                .leg(
                    AccountKey::platform(LedgerAccountKind::FeeRevenue, c),
                    p.fee,
                )
                .leg(
                    AccountKey::platform(LedgerAccountKind::OutboundClearing, c),
                    amount.amount() - p.fee,
                );
            let posted = ledger::post(&mut tx, &draft, now)
                .await
                .map_err(|e| post_error(ctx.errors(), e))?;
            let new = NewWithdrawal {
                withdrawal_id,
                wallet_id,
                bank_account_id: bank,
                source_fund_pool: pool as i16,
                currency: c.code(),
                amount: amount.amount(),
                fee: p.fee,
                fee_rule_id: p.rule.id,
                status: WithdrawalStatus::Requested as i16,
                remark: &remark,
                entry_id: posted.entry_id,
                created_at: now,
            };
            let row = store::withdrawals::insert(&mut *tx, &new)
                .await
                .map_err(internal)?;
            Ok((
                CreateWithdrawalResponse {
                    withdrawal: Some(withdrawal_from_row(&row)?),
                },
                tx,
            ))
        },
    )
    .await
}

/// WITHDRAWAL_LIMIT_EXCEEDED, naming the rule's per-withdrawal limit.
fn over_limit(ctx: &Ctx, rule: &withdrawal::FeeRule) -> Result<Status, Status> {
    let mut md = HashMap::new();
    if let Some(limit) = rule.limit {
        let limit = Money::rounded(rule.limit_currency, limit).map_err(internal)?;
        md.insert(
            "limit".to_owned(),
            format!("{} {}", limit.to_proto().amount, rule.limit_currency),
        );
    }
    Ok(ctx.errors().refuse_with(
        Code::FailedPrecondition,
        WITHDRAWAL_LIMIT_EXCEEDED,
        "the amount exceeds the per-withdrawal limit",
        md,
    ))
}

/// The recorded answer to an earlier CreateWithdrawal with this request id, if any
/// (refusals included), read without claiming the id.
async fn answered_before(
    ctx: &Ctx,
    request_id: &str,
    keyed: &CreateWithdrawalRequest,
) -> Result<Option<CreateWithdrawalResponse>, Status> {
    let mut tx = ctx.svc.pool.begin().await.map_err(internal)?;
    if let idempotency::Begin::Replay(r) = idempotency::begin::<_, CreateWithdrawalResponse>(
        &mut tx,
        ctx.errors(),
        "CreateWithdrawal",
        request_id,
        keyed,
    )
    .await?
    {
        return Ok(Some(r));
    }
    tx.rollback().await.map_err(internal)?;
    Ok(None)
}

/// Identity checks the wallet owner's payment PIN; idempotent by the request id (identity
/// answers a repeat as it answered the first, and counts a wrong PIN once).
async fn verify_pin(ctx: &Ctx, owner: Uuid, request_id: Uuid, pin: &str) -> Result<(), Status> {
    let identity = IdentityServiceClient::new(ctx.svc.peers.channel("identity").map_err(internal)?);
    let pin = VerifyPaymentPinRequest {
        request_id: request_id.to_string(),
        account_id: owner.to_string(),
        pin: pin.to_owned(),
        operation_reference: format!("withdrawal:{request_id}"),
    };
    let verified = outbound::unary(&identity, pin, |mut c, r| async move {
        c.verify_payment_pin(r).await
    })
    .await?
    .verified;
    if !verified {
        return Err(Status::permission_denied("payment PIN not verified"));
    }
    Ok(())
}

/// GetWithdrawal.
pub async fn get(ctx: &Ctx, req: GetWithdrawalRequest) -> Result<GetWithdrawalResponse, Status> {
    let mut v = FieldViolations::new();
    let id = v.uuid("withdrawal_id", &req.withdrawal_id);
    v.finish()?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    Ok(GetWithdrawalResponse {
        withdrawal: Some(load(&mut conn, ctx, id.expect("ok")).await?),
    })
}

/// ListWithdrawals: newest first; without a wallet, all withdrawals (bank adapter).
pub async fn list(
    ctx: &Ctx,
    req: ListWithdrawalsRequest,
) -> Result<ListWithdrawalsResponse, Status> {
    let mut v = FieldViolations::new();
    let wallet_id = v.optional_uuid("wallet_id", &req.wallet_id).flatten();
    let mut statuses = Vec::new();
    for (i, s) in req.statuses.iter().enumerate() {
        if let Some(s) = v.enum_value::<WithdrawalStatus>(&format!("statuses[{i}]"), *s) {
            statuses.push(s as i16);
        }
    }
    let (from, to) = v.time_range("create_time_range", req.create_time_range.as_ref());
    let page = Page::from_proto("page", req.page.as_ref(), &mut v);
    v.finish()?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    if let Some(w) = wallet_id {
        require_wallet(&mut conn, ctx.errors(), w).await?;
    }
    let after = page.after.map(|c| (c.time, c.id));
    let which = (wallet_id, &statuses[..]);
    let mut rows =
        store::withdrawals::list(&mut *conn, which, (from, to), after, page.fetch_limit())
            .await
            .map_err(internal)?;
    let page = page.finish(&mut rows, |r| Cursor {
        time: r.created_at,
        id: r.withdrawal_id,
    });
    let withdrawals = rows
        .iter()
        .map(withdrawal_from_row)
        .collect::<Result<_, _>>()?;
    Ok(ListWithdrawalsResponse {
        withdrawals,
        page: Some(page),
    })
}

/// UpdateWithdrawalStatus: the bank adapter's report; FAILED reverses the entry.
pub async fn update_status(
    ctx: &Ctx,
    req: UpdateWithdrawalStatusRequest,
) -> Result<UpdateWithdrawalStatusResponse, Status> {
    let mut v = FieldViolations::new();
    let id = v.uuid("withdrawal_id", &req.withdrawal_id);
    let to: Option<WithdrawalStatus> = v.enum_value("status", req.status);
    let reference = v.text("bank_reference", &req.bank_reference, 64).to_owned();
    let reason = v
        .text("failure_reason", &req.failure_reason, 500)
        .to_owned();
    if to == Some(WithdrawalStatus::Processing) && reference.is_empty() {
        v.add("bank_reference", "is required with PROCESSING");
    }
    if to == Some(WithdrawalStatus::Failed) && reason.is_empty() {
        v.add("failure_reason", "is required with FAILED");
    }
    let request_id = idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    let (id, to) = (id.expect("ok"), to.expect("ok"));
    let now = ctx.now();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "UpdateWithdrawalStatus",
        &req.request_id,
        &req,
        |mut tx| async move {
            let row = store::withdrawals::status_for_update(&mut *tx, id)
                .await
                .map_err(internal)?;
            let Some((from, entry_id)) = row else {
                return Err(ctx.errors().not_found("withdrawal", id.to_string()));
            };
            let from = WithdrawalStatus::try_from(i32::from(from))
                .unwrap_or(WithdrawalStatus::Unspecified);
            if !withdrawal::may_move(from, to) {
                return Err(ctx.errors().precondition(
                    INVALID_STATUS_TRANSITION,
                    format!("withdrawal/{id}"),
                    format!(
                        "a {} withdrawal cannot become {}",
                        from.as_str_name(),
                        to.as_str_name()
                    ),
                ));
            }
            let mut reversal = None;
            if to == WithdrawalStatus::Failed {
                let legs = ledger::load_draft_legs(&mut tx, entry_id)
                    .await
                    .map_err(internal)?;
                let cause = Cause {
                    request_id,
                    withdrawal_id: Some(id),
                    ..Cause::default()
                };
                let draft = EntryDraft {
                    entry_type: JournalEntryType::Reversal,
                    cause,
                    description: format!("Withdrawal failed: {reason}"),
                    legs: legs
                        .into_iter()
                        .map(|(account, amount)| Leg {
                            account,
                            amount: -amount,
                        })
                        .collect(),
                    reverses: Some(entry_id),
                };
                reversal = Some(
                    ledger::post(&mut tx, &draft, now)
                        .await
                        .map_err(|e| post_error(ctx.errors(), e))?
                        .entry_id,
                );
            }
            let finished =
                matches!(to, WithdrawalStatus::Completed | WithdrawalStatus::Failed).then_some(now);
            let change = StatusChange {
                status: to as i16,
                at: now,
                finished_at: finished,
                bank_reference: &reference,
                failure_reason: &reason,
                reversal_entry_id: reversal,
            };
            store::withdrawals::set_status(&mut *tx, id, &change)
                .await
                .map_err(internal)?;
            Ok((
                UpdateWithdrawalStatusResponse {
                    withdrawal: Some(load(&mut tx, ctx, id).await?),
                },
                tx,
            ))
        },
    )
    .await
}
