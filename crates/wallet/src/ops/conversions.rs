//! PostConversion: fx's one call to move money, as one entry through the FX position
//! accounts of both currencies. At most one entry per quote, ever.

use std::collections::HashMap;

use kuajing_platform::error::internal;
use kuajing_platform::{FieldViolations, idempotency};
use kuajing_proto::wallet::v1::{
    FundPool, JournalEntryType, LedgerAccountKind, PostConversionRequest, PostConversionResponse,
};
use tonic::{Code, Status};

use super::{Ctx, currency_mismatch, post_error, require_wallet};
use crate::domain::ledger::{AccountKey, Cause, EntryDraft};
use crate::store::{self, ledger};

/// Reason: an entry for this quote exists under another request.
pub use kuajing_proto::reasons::wallet::QUOTE_ALREADY_USED;

/// The conversion's entry: the sell amount and the fee out of the wallet's available
/// balance in the sell currency, through the FX position accounts, the buy amount in.
fn conversion_entry(
    request_id: uuid::Uuid,
    wallet_id: uuid::Uuid,
    quote_id: &str,
    sell: kuajing_platform::Money,
    buy: kuajing_platform::Money,
    fee_amount: rust_decimal::Decimal,
) -> EntryDraft {
    let (s, b) = (sell.currency(), buy.currency());
    let cause = Cause {
        request_id,
        quote_id: quote_id.to_owned(),
        ..Cause::default()
    };
    let mut draft = EntryDraft::new(
        JournalEntryType::Conversion,
        cause,
        format!("Convert {s} to {b}"),
    );
    draft
        .leg(
            AccountKey::available(wallet_id, s, FundPool::Standard),
            -(sell.amount() + fee_amount),
        )
        .leg(
            AccountKey::platform(LedgerAccountKind::FxPosition, s),
            sell.amount(),
        )
        .leg(
            AccountKey::platform(LedgerAccountKind::FeeRevenue, s),
            fee_amount,
        )
        .leg(
            AccountKey::platform(LedgerAccountKind::FxPosition, b),
            -buy.amount(),
        )
        .leg(
            AccountKey::available(wallet_id, b, FundPool::Standard),
            buy.amount(),
        );
    draft
}

/// PostConversion.
pub async fn post(ctx: &Ctx, req: PostConversionRequest) -> Result<PostConversionResponse, Status> {
    let mut v = FieldViolations::new();
    let wallet_id = v.uuid("wallet_id", &req.wallet_id);
    let quote_id = v.text("quote_id", &req.quote_id, 64).to_owned();
    if quote_id.is_empty() {
        v.add("quote_id", "is required");
    }
    let sell = v.positive_money("sell_amount", req.sell_amount.as_ref());
    let buy = v.positive_money("buy_amount", req.buy_amount.as_ref());
    let fee = match req.fee.as_ref() {
        None => None,
        Some(f) => v.money("fee", Some(f)),
    };
    if fee.is_some_and(|f| f.amount().is_sign_negative()) {
        v.add("fee.amount", "must not be negative");
    }
    if let (Some(s), Some(b)) = (sell, buy)
        && s.currency() == b.currency()
    {
        v.add(
            "buy_amount.currency_code",
            "must differ from the sell currency",
        );
    }
    let request_id = idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    let (wallet_id, sell, buy) = (wallet_id.expect("ok"), sell.expect("ok"), buy.expect("ok"));
    let now = ctx.now();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "PostConversion",
        &req.request_id,
        &req,
        |mut tx| async move {
            if let Some(f) = fee
                && f.currency() != sell.currency()
            {
                return Err(currency_mismatch(
                    ctx.errors(),
                    &format!("quote/{quote_id}"),
                    sell.currency(),
                    f.currency(),
                ));
            }
            require_wallet(&mut tx, ctx.errors(), wallet_id).await?;
            let claimed =
                store::conversions::claim(&mut *tx, &quote_id, wallet_id, request_id, now)
                    .await
                    .map_err(internal)?;
            if !claimed {
                let mut md = HashMap::new();
                md.insert("quote_id".to_owned(), quote_id.clone());
                return Err(ctx.errors().refuse_with(
                    Code::FailedPrecondition,
                    QUOTE_ALREADY_USED,
                    "this quote was already converted",
                    md,
                ));
            }
            let fee_amount = fee.map(|f| f.amount()).unwrap_or_default();
            let (s, b) = (sell.currency(), buy.currency());
            let draft = conversion_entry(request_id, wallet_id, &quote_id, sell, buy, fee_amount);
            let posted = ledger::post(&mut tx, &draft, now)
                .await
                .map_err(|e| post_error(ctx.errors(), e))?;
            store::conversions::set_entry(&mut *tx, &quote_id, posted.entry_id)
                .await
                .map_err(internal)?;
            let entry = super::journal::load(&mut tx, ctx, posted.entry_id).await?;
            let sell_balance = super::wallets::balance_in(&mut tx, wallet_id, s).await?;
            let buy_balance = super::wallets::balance_in(&mut tx, wallet_id, b).await?;
            Ok((
                PostConversionResponse {
                    journal_entry: Some(entry),
                    sell_balance: Some(sell_balance),
                    buy_balance: Some(buy_balance),
                },
                tx,
            ))
        },
    )
    .await
}
