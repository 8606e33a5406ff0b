//! Executing a quote: at most once, only before it expires, through one wallet entry.
//!
//! No database lock is held across the call to wallet. A quote is claimed by one request
//! (`executing_request_id`) in a short transaction; the wallet call is idempotent by the
//! quote id (its request id there), so a retry of the same request finishes the same
//! conversion; another request is refused with QUOTE_ALREADY_USED. A wallet refusal
//! (insufficient funds, say) gives the claim back and the quote stays OPEN.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::page::{Cursor, Page};
use kuajing_platform::{FieldViolations, Money, idempotency, time};
use kuajing_proto::fx::v1::{
    Conversion, ExecuteQuoteRequest, ExecuteQuoteResponse, GetConversionRequest,
    GetConversionResponse, ListConversionsRequest, ListConversionsResponse, QuoteState,
};
use kuajing_proto::wallet::v1::PostConversionRequest;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use tonic::{Code, Status};
use uuid::Uuid;

use super::Ctx;
use super::rates::check_fresh;
use crate::store::{self, conversions::ConversionRow, conversions::NewConversion};
use kuajing_platform::outbound;

/// Reason: another request executed (or is executing) the quote.
pub use kuajing_proto::reasons::fx::QUOTE_ALREADY_USED;
/// Reason: the quote expired before the request was accepted.
pub use kuajing_proto::reasons::fx::QUOTE_EXPIRED;
/// Reason: the quote belongs to another wallet.
pub use kuajing_proto::reasons::fx::QUOTE_WALLET_MISMATCH;

fn from_row(r: &ConversionRow) -> Result<Conversion, Status> {
    let m = |c: &str, d: Decimal| -> Result<_, Status> {
        Ok(Money::rounded(c.parse().map_err(internal)?, d)
            .map_err(internal)?
            .to_proto())
    };
    let (sell, buy) = (&r.sell_currency, &r.buy_currency);
    Ok(Conversion {
        conversion_id: r.conversion_id.to_string(),
        quote_id: r.quote_id.to_string(),
        wallet_id: r.wallet_id.to_string(),
        sell_amount: Some(m(sell, r.sell_amount)?),
        buy_amount: Some(m(buy, r.buy_amount)?),
        fee: Some(m(sell, r.fee)?),
        debit_amount: Some(m(sell, r.sell_amount + r.fee)?),
        applied_rate: r.applied_rate.normalize().to_string(),
        journal_entry_id: r.entry_id.to_string(),
        request_id: r.request_id.to_string(),
        create_time: Some(time::to_proto(r.created_at)),
    })
}

async fn load(conn: &mut PgConnection, ctx: &Ctx, id: Uuid) -> Result<Conversion, Status> {
    let r = store::conversions::get(conn, id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ctx.errors().not_found("conversion", id.to_string()))?;
    from_row(&r)
}

fn already_used(ctx: &Ctx, conversion: Option<Uuid>) -> Status {
    let mut md = HashMap::new();
    if let Some(c) = conversion {
        md.insert("conversion_id".to_owned(), c.to_string());
    }
    ctx.errors().refuse_with(
        Code::FailedPrecondition,
        QUOTE_ALREADY_USED,
        "the quote was already executed",
        md,
    )
}

/// What the claim step learned about the quote.
struct Claimed {
    wallet_id: Uuid,
    sell: String,
    buy: String,
    sell_amount: Decimal,
    buy_amount: Decimal,
    fee: Decimal,
    applied: Decimal,
}

/// What the claim found.
enum Claim {
    /// The quote is this request's to execute (claimed now, or by an earlier attempt).
    Mine(Claimed),
    /// This same request already executed it: its recorded answer is committed.
    Finished,
}

/// Step 1: check and claim the quote for this request (short transaction).
async fn claim(
    ctx: &Ctx,
    quote_id: Uuid,
    wallet_id: Uuid,
    request_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Claim, Status> {
    let mut tx = ctx.svc.pool.begin().await.map_err(internal)?;
    let r = store::quotes::get_for_update(&mut tx, quote_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ctx.errors().not_found("quote", quote_id.to_string()))?;
    let (state, executing, conversion) = (r.state, r.executing_request_id, r.conversion_id);
    let subject = format!("quote/{quote_id}");
    if executing.is_some_and(|e| e != request_id) {
        return Err(already_used(ctx, conversion));
    }
    if state == QuoteState::Executed as i16 {
        // A concurrent copy of this request finished between our first look at the
        // record and this claim: the record was written with the quote's new state.
        return if executing == Some(request_id) {
            Ok(Claim::Finished)
        } else {
            Err(already_used(ctx, conversion))
        };
    }
    if r.wallet_id != wallet_id {
        return Err(ctx.errors().precondition(
            QUOTE_WALLET_MISMATCH,
            subject,
            "the quote was made for another wallet",
        ));
    }
    if executing.is_none() {
        if r.expire_at <= now {
            return Err(ctx.errors().precondition(
                QUOTE_EXPIRED,
                subject,
                "the quote has expired; ask for a new one",
            ));
        }
        check_fresh(ctx, r.rate_set_at)?;
        store::quotes::claim(&mut tx, quote_id, request_id)
            .await
            .map_err(internal)?;
    }
    let claimed = Claimed {
        wallet_id,
        sell: r.sell_currency,
        buy: r.buy_currency,
        sell_amount: r.sell_amount,
        buy_amount: r.buy_amount,
        fee: r.fee,
        applied: r.applied_rate,
    };
    tx.commit().await.map_err(internal)?;
    Ok(Claim::Mine(claimed))
}

/// The recorded answer of a finished ExecuteQuote request, if any.
async fn recorded(
    ctx: &Ctx,
    req: &ExecuteQuoteRequest,
) -> Result<Option<ExecuteQuoteResponse>, Status> {
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    idempotency::recorded::<_, ExecuteQuoteResponse>(
        &mut conn,
        ctx.errors(),
        "ExecuteQuote",
        &req.request_id,
        req,
    )
    .await
}

/// ExecuteQuote.
pub async fn execute(ctx: &Ctx, req: ExecuteQuoteRequest) -> Result<ExecuteQuoteResponse, Status> {
    let mut v = FieldViolations::new();
    let quote_id = v.uuid("quote_id", &req.quote_id);
    let wallet_id = v.uuid("wallet_id", &req.wallet_id);
    let request_id = idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    let (quote_id, wallet_id) = (quote_id.expect("ok"), wallet_id.expect("ok"));
    let now = ctx.now();

    // A finished request answers from its record, before anything else (one read; an
    // attempt still in flight is ordered by the quote's claim and the record's own claim).
    if let Some(r) = recorded(ctx, &req).await? {
        return Ok(r);
    }

    let c = match claim(ctx, quote_id, wallet_id, request_id, now).await? {
        Claim::Mine(c) => c,
        Claim::Finished => {
            return recorded(ctx, &req)
                .await?
                .ok_or_else(|| internal("an executed quote's request has no record"));
        }
    };
    let entry_id = post_in_wallet(ctx, quote_id, request_id, &c).await?;

    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "ExecuteQuote",
        &req.request_id,
        &req,
        |mut tx| async move {
            let existing = store::conversions::id_of_quote(&mut tx, quote_id)
                .await
                .map_err(internal)?;
            let conversion_id = match existing {
                Some(id) => id,
                None => {
                    let new = NewConversion {
                        conversion_id: Uuid::now_v7(),
                        quote_id,
                        wallet_id: c.wallet_id,
                        sell_amount: c.sell_amount,
                        buy_amount: c.buy_amount,
                        fee: c.fee,
                        applied_rate: c.applied,
                        entry_id,
                        request_id,
                        created_at: now,
                    };
                    store::conversions::insert(&mut tx, &new)
                        .await
                        .map_err(internal)?;
                    store::quotes::mark_executed(
                        &mut tx,
                        quote_id,
                        QuoteState::Executed as i16,
                        new.conversion_id,
                    )
                    .await
                    .map_err(internal)?;
                    new.conversion_id
                }
            };
            let conversion = load(&mut tx, ctx, conversion_id).await?;
            let quote = super::quotes::load(&mut tx, ctx, quote_id).await?;
            Ok((
                ExecuteQuoteResponse {
                    conversion: Some(conversion),
                    quote: Some(quote),
                },
                tx,
            ))
        },
    )
    .await
}

/// The wallet posts the claimed quote's conversion (the quote id its idempotency key): the
/// journal entry's id. A definite refusal gives the quote back; a transient failure keeps
/// the claim, so only this request (retried) can finish it.
async fn post_in_wallet(
    ctx: &Ctx,
    quote_id: Uuid,
    request_id: Uuid,
    c: &Claimed,
) -> Result<Uuid, Status> {
    let money = |code: &str, d: Decimal| -> Result<_, Status> {
        Ok(Money::rounded(code.parse().map_err(internal)?, d)
            .map_err(internal)?
            .to_proto())
    };
    let post = PostConversionRequest {
        // One conversion per quote: the quote id is the wallet request's idempotency key.
        request_id: quote_id.to_string(),
        wallet_id: c.wallet_id.to_string(),
        quote_id: quote_id.to_string(),
        sell_amount: Some(money(&c.sell, c.sell_amount)?),
        buy_amount: Some(money(&c.buy, c.buy_amount)?),
        fee: Some(money(&c.sell, c.fee)?),
    };
    let posted = match outbound::unary(&ctx.wallet()?, post, |mut c, r| async move {
        c.post_conversion(r).await
    })
    .await
    {
        Ok(r) => r,
        Err(status) => {
            if matches!(
                status.code(),
                Code::FailedPrecondition | Code::NotFound | Code::InvalidArgument
            ) {
                let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
                store::quotes::release(&mut conn, quote_id, request_id)
                    .await
                    .map_err(internal)?;
            }
            return Err(status);
        }
    };
    posted
        .journal_entry
        .as_ref()
        .and_then(|e| uuid::Uuid::try_parse(&e.journal_entry_id).ok())
        .ok_or_else(|| internal("wallet answered without an entry"))
}

/// GetConversion.
pub async fn get(ctx: &Ctx, req: GetConversionRequest) -> Result<GetConversionResponse, Status> {
    let mut v = FieldViolations::new();
    let id = v.uuid("conversion_id", &req.conversion_id);
    v.finish()?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    Ok(GetConversionResponse {
        conversion: Some(load(&mut conn, ctx, id.expect("ok")).await?),
    })
}

/// ListConversions: newest first.
pub async fn list(
    ctx: &Ctx,
    req: ListConversionsRequest,
) -> Result<ListConversionsResponse, Status> {
    let mut v = FieldViolations::new();
    let wallet_id = v.uuid("wallet_id", &req.wallet_id);
    let (from, to) = v.time_range("create_time_range", req.create_time_range.as_ref());
    let page = Page::from_proto("page", req.page.as_ref(), &mut v);
    v.finish()?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    let after = page.after.map(|c| (c.time, c.id));
    let mut rows = store::conversions::of_wallet(
        &mut conn,
        wallet_id.expect("ok"),
        (from, to),
        after,
        page.fetch_limit(),
    )
    .await
    .map_err(internal)?;
    let page = page.finish(&mut rows, |r| Cursor {
        time: r.created_at,
        id: r.conversion_id,
    });
    let conversions = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok(ListConversionsResponse {
        conversions,
        page: Some(page),
    })
}
