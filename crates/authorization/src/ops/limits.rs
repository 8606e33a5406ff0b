//! GetLimits: the configured limits and, for a mandate, today's use of its wallet's daily
//! limit (shared by every mandate that pays from the wallet).

use kuajing_platform::error::internal;
use kuajing_platform::{Currency, FieldViolations, Money, time};
use kuajing_proto::authorization::v1::{GetLimitsRequest, GetLimitsResponse, Limits};
use rust_decimal::Decimal;
use tonic::Status;

use super::access::{self, Subject};
use super::{Ctx, decisions, finish, mandates};
use crate::domain::limits::remaining;
use crate::store;

fn usd(amount: Decimal) -> Result<kuajing_proto::types::Money, Status> {
    Ok(Money::rounded(Currency::USD, amount)
        .map_err(internal)?
        .to_proto())
}

/// GetLimits.
pub async fn get(
    ctx: &Ctx,
    subject: Subject,
    req: GetLimitsRequest,
) -> Result<GetLimitsResponse, Status> {
    let mut v = FieldViolations::new();
    let mandate_id = v.optional_uuid("mandate_id", &req.mandate_id).flatten();
    finish(ctx.errors(), v)?;
    let now = ctx.now();
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    // The day of `now` in the limit zone, and its bounds.
    let (day, start, end) = store::calendar::day_of(&mut *conn, now, &ctx.settings.time_zone)
        .await
        .map_err(internal)?;
    let l = ctx.settings.limits;
    let mut limits = Limits {
        per_transaction_limit: Some(usd(l.per_transaction)?),
        per_day_limit: Some(usd(l.per_day)?),
        time_zone: ctx.settings.time_zone.clone(),
        mandate_id: String::new(),
        limit_date: day.format("%Y-%m-%d").to_string(),
        day_start_time: Some(time::to_proto(start)),
        day_end_time: Some(time::to_proto(end)),
        reserved_amount: None,
        confirmed_amount: None,
        remaining_amount: None,
    };
    if let Some(id) = mandate_id {
        let m = mandates::load(&mut conn, ctx, id, false).await?;
        // The day is the wallet's: every mandate on it draws on the one limit.
        let (reserved, confirmed) = decisions::day_use(&mut conn, m.wallet_id, day).await?;
        // No connection is held while identity is asked.
        drop(conn);
        access::check_owner(ctx, subject, m.owner_account_id).await?;
        limits.mandate_id = id.to_string();
        limits.reserved_amount = Some(usd(reserved)?);
        limits.confirmed_amount = Some(usd(confirmed)?);
        limits.remaining_amount = Some(usd(remaining(l.per_day, reserved + confirmed))?);
    }
    Ok(GetLimitsResponse {
        limits: Some(limits),
    })
}
