//! Rates (public market data), and quotes and conversions in the caller's wallet.

use kuajing_proto::edge::v1 as pb;
use kuajing_proto::fx::v1 as fxp;
use tonic::Status;

use super::{field, got, my_wallet};
use crate::Edge;
use crate::caller::Call;
use crate::domain::access;
use crate::{call, errors};
use kuajing_platform::FieldViolations;

/// The directly set mid rates.
pub async fn list_rates(
    edge: &Edge,
    call: &Call,
    req: pb::ListRatesRequest,
) -> Result<pb::ListRatesResponse, Status> {
    let r = call!(
        edge,
        call.out(),
        fx.list_rates(fxp::ListRatesRequest {
            currency_code: req.currency_code,
            page: req.page,
        })
    )?;
    Ok(pb::ListRatesResponse {
        rates: r.rates,
        page: r.page,
    })
}

/// The mid rate of a pair.
pub async fn get_rate(
    edge: &Edge,
    call: &Call,
    req: pb::GetRateRequest,
) -> Result<pb::GetRateResponse, Status> {
    let r = call!(
        edge,
        call.out(),
        fx.get_rate(fxp::GetRateRequest {
            base_currency_code: req.base_currency_code,
            quote_currency_code: req.quote_currency_code,
        })
    )?;
    Ok(pb::GetRateResponse { rate: r.rate })
}

/// A quote for the caller's wallet.
pub async fn create_quote(
    edge: &Edge,
    call: &Call,
    req: pb::CreateQuoteRequest,
) -> Result<pb::CreateQuoteResponse, Status> {
    use fxp::create_quote_request::FixedAmount as To;
    use pb::create_quote_request::FixedAmount as From;
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    if req.fixed_amount.is_none() {
        v.add(
            "fixed_amount",
            "one of sell_amount and buy_amount is required",
        );
    }
    errors::check(v)?;
    let wallet_id = my_wallet(edge, call).await?;
    let fixed_amount = req.fixed_amount.map(|f| match f {
        From::SellAmount(m) => To::SellAmount(m),
        From::BuyAmount(m) => To::BuyAmount(m),
    });
    let r = call!(
        edge,
        call.out(),
        fx.create_quote(fxp::CreateQuoteRequest {
            request_id: call.request_id(got(rid)?, "quote"),
            wallet_id: wallet_id.to_string(),
            sell_currency_code: req.sell_currency_code,
            buy_currency_code: req.buy_currency_code,
            fixed_amount,
            ttl: req.ttl,
        })
    )?;
    Ok(pb::CreateQuoteResponse { quote: r.quote })
}

/// One quote for the caller's wallet.
async fn my_quote(edge: &Edge, call: &Call, quote_id: &str) -> Result<fxp::Quote, Status> {
    let r = call!(
        edge,
        call.out(),
        fx.get_quote(fxp::GetQuoteRequest {
            quote_id: quote_id.to_owned(),
        })
    )?;
    let quote = field(r.quote, "quote")?;
    let mine = my_wallet(edge, call).await?.to_string();
    access::owned("quote", quote_id, quote.wallet_id == mine).map_err(errors::refused)?;
    Ok(quote)
}

/// One of the caller's quotes.
pub async fn get_quote(
    edge: &Edge,
    call: &Call,
    req: pb::GetQuoteRequest,
) -> Result<pb::GetQuoteResponse, Status> {
    let mut v = FieldViolations::new();
    v.uuid("quote_id", &req.quote_id);
    errors::check(v)?;
    let quote = my_quote(edge, call, &req.quote_id).await?;
    Ok(pb::GetQuoteResponse { quote: Some(quote) })
}

/// Executes one of the caller's open quotes.
pub async fn execute_quote(
    edge: &Edge,
    call: &Call,
    req: pb::ExecuteQuoteRequest,
) -> Result<pb::ExecuteQuoteResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    v.uuid("quote_id", &req.quote_id);
    errors::check(v)?;
    let quote = my_quote(edge, call, &req.quote_id).await?;
    let r = call!(
        edge,
        call.out(),
        fx.execute_quote(fxp::ExecuteQuoteRequest {
            request_id: call.request_id(got(rid)?, "execute"),
            quote_id: req.quote_id,
            wallet_id: quote.wallet_id,
        })
    )?;
    Ok(pb::ExecuteQuoteResponse {
        conversion: r.conversion,
        quote: r.quote,
    })
}

/// One of the caller's conversions.
pub async fn get_conversion(
    edge: &Edge,
    call: &Call,
    req: pb::GetConversionRequest,
) -> Result<pb::GetConversionResponse, Status> {
    let mut v = FieldViolations::new();
    v.uuid("conversion_id", &req.conversion_id);
    errors::check(v)?;
    let r = call!(
        edge,
        call.out(),
        fx.get_conversion(fxp::GetConversionRequest {
            conversion_id: req.conversion_id.clone(),
        })
    )?;
    let conversion = field(r.conversion, "conversion")?;
    let mine = my_wallet(edge, call).await?.to_string();
    access::owned(
        "conversion",
        &req.conversion_id,
        conversion.wallet_id == mine,
    )
    .map_err(errors::refused)?;
    Ok(pb::GetConversionResponse {
        conversion: Some(conversion),
    })
}

/// The caller's conversions.
pub async fn list_conversions(
    edge: &Edge,
    call: &Call,
    req: pb::ListConversionsRequest,
) -> Result<pb::ListConversionsResponse, Status> {
    let wallet_id = my_wallet(edge, call).await?;
    let r = call!(
        edge,
        call.out(),
        fx.list_conversions(fxp::ListConversionsRequest {
            wallet_id: wallet_id.to_string(),
            create_time_range: req.create_time_range,
            page: req.page,
        })
    )?;
    Ok(pb::ListConversionsResponse {
        conversions: r.conversions,
        page: r.page,
    })
}
