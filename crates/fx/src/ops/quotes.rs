//! Quotes: priced from the mid rate, the spread tier and the fee; executable until expiry.

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::{Currency, FieldViolations, Money, idempotency, time};
use kuajing_proto::fx::v1::{
    CreateQuoteRequest, CreateQuoteResponse, FixedSide, GetQuoteRequest, GetQuoteResponse, Quote,
    QuoteState, create_quote_request::FixedAmount,
};
use kuajing_proto::wallet::v1::{GetWalletRequest, get_wallet_request::Lookup};
use sqlx::PgConnection;
use tonic::{Code, Status};
use uuid::Uuid;

use super::Ctx;
use super::rates::{book, check_fresh, resolve};
use crate::domain::quote::{self, Fixed, PriceError};
use crate::store::{self, quotes::QuoteRow};
use kuajing_platform::outbound;

/// Reason: the computed side of a quote rounds to zero.
pub use kuajing_proto::reasons::fx::AMOUNT_TOO_SMALL;
/// Longest quote lifetime a caller may ask for.
pub const MAX_TTL_SECS: u64 = 300;

/// A quote row as the wire shows it; an OPEN quote past its expiry reads as EXPIRED.
pub fn from_row(r: &QuoteRow, now: DateTime<Utc>) -> Result<Quote, Status> {
    let sell: Currency = r.sell_currency.parse().map_err(internal)?;
    let buy: Currency = r.buy_currency.parse().map_err(internal)?;
    let m = |c, d| Money::rounded(c, d).map(|m| m.to_proto()).map_err(internal);
    let mut state = QuoteState::try_from(i32::from(r.state)).unwrap_or(QuoteState::Unspecified);
    if state == QuoteState::Open && r.expire_at <= now {
        state = QuoteState::Expired;
    }
    Ok(Quote {
        quote_id: r.quote_id.to_string(),
        wallet_id: r.wallet_id.to_string(),
        sell_currency_code: sell.code().to_owned(),
        buy_currency_code: buy.code().to_owned(),
        fixed_side: i32::from(r.fixed_side),
        sell_amount: Some(m(sell, r.sell_amount)?),
        buy_amount: Some(m(buy, r.buy_amount)?),
        fee: Some(m(sell, r.fee)?),
        debit_amount: Some(m(sell, r.sell_amount + r.fee)?),
        mid_rate: r.mid_rate.normalize().to_string(),
        spread_bps: r.spread_bps,
        applied_rate: r.applied_rate.normalize().to_string(),
        rate_set_time: Some(time::to_proto(r.rate_set_at)),
        rate_derivation: i32::from(r.derivation),
        cross_currency_code: r.cross_currency.clone(),
        state: state as i32,
        create_time: Some(time::to_proto(r.created_at)),
        expire_time: Some(time::to_proto(r.expire_at)),
        conversion_id: r.conversion_id.map(|c| c.to_string()).unwrap_or_default(),
    })
}

/// Loads a quote.
pub async fn load(conn: &mut PgConnection, ctx: &Ctx, quote_id: Uuid) -> Result<Quote, Status> {
    let row = store::quotes::get(conn, quote_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ctx.errors().not_found("quote", quote_id.to_string()))?;
    from_row(&row, ctx.now())
}

/// A CreateQuote request that passed validation.
struct Asked {
    wallet_id: Uuid,
    sell: Currency,
    buy: Currency,
    /// The side the caller fixed, and its amount.
    fixed: (FixedSide, Money),
    ttl: std::time::Duration,
}

/// Every field of a CreateQuote request checked at once (INVALID_ARGUMENT lists them all).
fn validate(ctx: &Ctx, req: &CreateQuoteRequest) -> Result<Asked, Status> {
    let mut v = FieldViolations::new();
    let wallet_id = v.uuid("wallet_id", &req.wallet_id);
    let sell = v.check(
        "sell_currency_code",
        req.sell_currency_code.parse::<Currency>(),
    );
    let buy = v.check(
        "buy_currency_code",
        req.buy_currency_code.parse::<Currency>(),
    );
    if sell.is_some() && sell == buy {
        v.add("buy_currency_code", "must differ from sell_currency_code");
    }
    let fixed = match &req.fixed_amount {
        Some(FixedAmount::SellAmount(m)) => v
            .positive_money("sell_amount", Some(m))
            .map(|m| (FixedSide::Sell, m)),
        Some(FixedAmount::BuyAmount(m)) => v
            .positive_money("buy_amount", Some(m))
            .map(|m| (FixedSide::Buy, m)),
        None => {
            v.add(
                "sell_amount",
                "exactly one of sell_amount or buy_amount is required",
            );
            None
        }
    };
    if let Some((side, m)) = fixed {
        let expected = if side == FixedSide::Sell { sell } else { buy };
        if expected.is_some_and(|c| c != m.currency()) {
            let field = if side == FixedSide::Sell {
                "sell_amount.currency_code"
            } else {
                "buy_amount.currency_code"
            };
            v.add(field, "must be the currency of that side");
        }
    }
    let ttl = match req.ttl.as_ref() {
        None => Some(ctx.settings.quote_ttl),
        Some(d)
            if d.nanos == 0
                && d.seconds >= 1
                && u64::try_from(d.seconds).is_ok_and(|s| s <= MAX_TTL_SECS) =>
        {
            Some(std::time::Duration::from_secs(
                u64::try_from(d.seconds).unwrap_or(30),
            ))
        }
        Some(_) => {
            v.add(
                "ttl",
                format!("must be whole seconds from 1 to {MAX_TTL_SECS}"),
            );
            None
        }
    };
    idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    Ok(Asked {
        wallet_id: wallet_id.expect("ok"),
        sell: sell.expect("ok"),
        buy: buy.expect("ok"),
        fixed: fixed.expect("ok"),
        ttl: ttl.expect("ok"),
    })
}

/// CreateQuote.
pub async fn create(ctx: &Ctx, req: CreateQuoteRequest) -> Result<CreateQuoteResponse, Status> {
    let Asked {
        wallet_id,
        sell,
        buy,
        fixed: (side, fixed),
        ttl,
    } = validate(ctx, &req)?;

    // The wallet must exist (its owner's check arrives with service credentials).
    let get = GetWalletRequest {
        lookup: Some(Lookup::WalletId(wallet_id.to_string())),
    };
    outbound::unary(&ctx.wallet()?, get, |mut c, r| async move {
        c.get_wallet(r).await
    })
    .await?;

    let now = ctx.now();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "CreateQuote",
        &req.request_id,
        &req,
        |mut tx| async move {
            let book = book(&mut tx).await?;
            let rate = resolve(ctx, &book, sell, buy)?;
            check_fresh(ctx, rate.set_at)?;
            // The spread tier goes by the sell amount's USD value at mid.
            let sell_estimate = match side {
                FixedSide::Buy => fixed.amount() / rate.mid,
                _ => fixed.amount(),
            };
            let usd = if sell == Currency::USD {
                sell_estimate
            } else {
                let to_usd = resolve(ctx, &book, sell, Currency::USD)?;
                sell_estimate * to_usd.mid
            };
            let bps = quote::spread_bps(&ctx.settings.spread_tiers, usd);
            let applied = quote::applied_rate(rate.mid, bps);
            let fixed_amount = if side == FixedSide::Sell {
                Fixed::Sell(fixed.amount())
            } else {
                Fixed::Buy(fixed.amount())
            };
            let priced = quote::price(sell, buy, fixed_amount, applied, ctx.settings.fee_bps)
                .map_err(|PriceError::AmountTooSmall| {
                    ctx.errors().refuse(
                        Code::FailedPrecondition,
                        AMOUNT_TOO_SMALL,
                        "the converted amount rounds to zero",
                    )
                })?;
            let row = QuoteRow {
                quote_id: Uuid::now_v7(),
                wallet_id,
                sell_currency: sell.code().to_owned(),
                buy_currency: buy.code().to_owned(),
                fixed_side: side as i16,
                sell_amount: priced.sell,
                buy_amount: priced.buy,
                fee: priced.fee,
                mid_rate: rate.mid,
                spread_bps: i32::try_from(bps).unwrap_or(i32::MAX),
                applied_rate: applied,
                rate_set_at: rate.set_at,
                derivation: rate.derivation as i16,
                cross_currency: rate.cross.map(|c| c.code().to_owned()).unwrap_or_default(),
                state: QuoteState::Open as i16,
                executing_request_id: None,
                conversion_id: None,
                created_at: now,
                expire_at: now + chrono::Duration::from_std(ttl).map_err(internal)?,
            };
            store::quotes::insert(&mut tx, &row)
                .await
                .map_err(internal)?;
            Ok((
                CreateQuoteResponse {
                    quote: Some(from_row(&row, now)?),
                },
                tx,
            ))
        },
    )
    .await
}

/// GetQuote.
pub async fn get(ctx: &Ctx, req: GetQuoteRequest) -> Result<GetQuoteResponse, Status> {
    let mut v = FieldViolations::new();
    let id = v.uuid("quote_id", &req.quote_id);
    v.finish()?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    Ok(GetQuoteResponse {
        quote: Some(load(&mut conn, ctx, id.expect("ok")).await?),
    })
}
