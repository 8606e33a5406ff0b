//! Fees charged to a wallet (export service, inspection, ...) and arrears: what a fee's
//! balance could not cover is owed to the platform until paid.

use std::collections::HashMap;

use kuajing_platform::error::internal;
use kuajing_platform::money::format_amount;
use kuajing_platform::{FieldViolations, Money, idempotency};
use kuajing_proto::wallet::v1::{
    ChargeFeeRequest, ChargeFeeResponse, FundPool, JournalEntryType, LedgerAccountKind,
    PayArrearsRequest, PayArrearsResponse,
};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use tonic::{Code, Status};

use super::{Ctx, post_error, require_wallet};
use crate::domain::ledger::{AccountKey, Cause, EntryDraft};
use crate::store::ledger;

/// Reason: a payment larger than what is owed.
pub use kuajing_proto::reasons::wallet::PAYMENT_EXCEEDS_ARREARS;

/// Locks a customer account row and returns its balance (zero when it has none yet).
async fn locked_balance(conn: &mut PgConnection, key: &AccountKey) -> Result<Decimal, Status> {
    let b = ledger::balance_for_update(conn, key)
        .await
        .map_err(internal)?;
    Ok(b.unwrap_or_default())
}

/// ChargeFee.
pub async fn charge(ctx: &Ctx, req: ChargeFeeRequest) -> Result<ChargeFeeResponse, Status> {
    let mut v = FieldViolations::new();
    let wallet_id = v.uuid("wallet_id", &req.wallet_id);
    let fees = match req.fee.as_ref() {
        Some(f) => super::transfers::parse_fee_legs(&mut v, "fee", std::slice::from_ref(f)),
        None => {
            v.add("fee", "is required");
            Vec::new()
        }
    };
    let order_id = v.text("order_id", &req.order_id, 64).to_owned();
    let pool = v.enum_or("fund_pool", req.fund_pool, FundPool::Standard);
    let request_id = idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    let (wallet_id, fee) = (
        wallet_id.expect("ok"),
        fees.into_iter().next().expect("validated"),
    );
    let c = fee.currency;
    let now = ctx.now();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "ChargeFee",
        &req.request_id,
        &req,
        |mut tx| async move {
            require_wallet(&mut tx, ctx.errors(), wallet_id).await?;
            let available_key = AccountKey::available(wallet_id, c, pool);
            let available = locked_balance(&mut tx, &available_key).await?;
            let collected = if req.allow_arrears {
                available.min(fee.amount)
            } else {
                fee.amount
            };
            let owed = fee.amount - collected;
            let cause = Cause {
                request_id,
                order_id: order_id.clone(),
                ..Cause::default()
            };
            let mut draft = EntryDraft::new(
                JournalEntryType::FeeCharge,
                cause,
                format!("Fee {}", fee.code),
            );
            draft
                .leg(available_key, -collected)
                .leg(AccountKey::arrears(wallet_id, c), -owed)
                .leg(
                    AccountKey::platform(LedgerAccountKind::FeeRevenue, c),
                    fee.amount,
                );
            let posted = ledger::post(&mut tx, &draft, now)
                .await
                .map_err(|e| post_error(ctx.errors(), e))?;
            let entry = super::journal::load(&mut tx, ctx, posted.entry_id).await?;
            let m = |d| Money::new(c, d).map(|m| m.to_proto()).map_err(internal);
            Ok((
                ChargeFeeResponse {
                    journal_entry: Some(entry),
                    collected: Some(m(collected)?),
                    arrears_added: Some(m(owed)?),
                },
                tx,
            ))
        },
    )
    .await
}

/// PayArrears.
pub async fn pay_arrears(ctx: &Ctx, req: PayArrearsRequest) -> Result<PayArrearsResponse, Status> {
    let mut v = FieldViolations::new();
    let wallet_id = v.uuid("wallet_id", &req.wallet_id);
    let amount = v.positive_money("amount", req.amount.as_ref());
    let request_id = idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    let (wallet_id, amount) = (wallet_id.expect("ok"), amount.expect("ok"));
    let c = amount.currency();
    let now = ctx.now();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "PayArrears",
        &req.request_id,
        &req,
        |mut tx| async move {
            require_wallet(&mut tx, ctx.errors(), wallet_id).await?;
            let arrears_key = AccountKey::arrears(wallet_id, c);
            let owed = -locked_balance(&mut tx, &arrears_key).await?;
            if amount.amount() > owed {
                let mut md = HashMap::new();
                md.insert("arrears".to_owned(), format_amount(owed, c));
                return Err(ctx.errors().refuse_with(
                    Code::FailedPrecondition,
                    PAYMENT_EXCEEDS_ARREARS,
                    format!("only {} {c} is owed", format_amount(owed, c)),
                    md,
                ));
            }
            let cause = Cause {
                request_id,
                ..Cause::default()
            };
            let mut draft =
                EntryDraft::new(JournalEntryType::ArrearsPayment, cause, "Arrears paid");
            draft.transfer(
                AccountKey::available(wallet_id, c, FundPool::Standard),
                arrears_key,
                amount.amount(),
            );
            let posted = ledger::post(&mut tx, &draft, now)
                .await
                .map_err(|e| post_error(ctx.errors(), e))?;
            let entry = super::journal::load(&mut tx, ctx, posted.entry_id).await?;
            let remaining = Money::new(c, owed - amount.amount())
                .map_err(internal)?
                .to_proto();
            Ok((
                PayArrearsResponse {
                    journal_entry: Some(entry),
                    remaining_arrears: Some(remaining),
                },
                tx,
            ))
        },
    )
    .await
}
