//! Mid rates: the configured table, operator changes (audited), lookups and equivalents.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::money::round_half_even;
use kuajing_platform::page::{Cursor, Page};
use kuajing_platform::{Currency, FieldViolations, Money, idempotency, time};
use kuajing_proto::fx::v1::{
    Equivalent, GetEquivalentRequest, GetEquivalentResponse, GetRateRequest, GetRateResponse,
    ListRateChangesRequest, ListRateChangesResponse, ListRatesRequest, ListRatesResponse, Rate,
    RateChange, RateDerivation, RateSource, SetRateRequest, SetRateResponse,
};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use tonic::{Code, Status};
use uuid::Uuid;

use super::{Ctx, RATE_NOT_FOUND, RATE_STALE};
use crate::domain::rates::{Direct, RateBook, Resolved, is_stale, round_rate};
use crate::store::{self, rates::RateChangeRow};

/// Loads every direct rate.
pub async fn book(conn: &mut PgConnection) -> Result<RateBook, Status> {
    let rows = store::rates::all(conn, None).await.map_err(internal)?;
    let mut entries = Vec::with_capacity(rows.len());
    for r in rows {
        let (Ok(b), Ok(q)) = (r.base_currency.parse(), r.quote_currency.parse()) else {
            continue;
        };
        let (mid, set_at) = (r.mid_rate, r.set_at);
        entries.push(((b, q), Direct { mid, set_at }));
    }
    Ok(RateBook::new(entries))
}

/// Resolves a pair or answers RATE_NOT_FOUND.
pub fn resolve(
    ctx: &Ctx,
    book: &RateBook,
    from: Currency,
    to: Currency,
) -> Result<Resolved, Status> {
    book.resolve(from, to, ctx.settings.cross).ok_or_else(|| {
        ctx.errors()
            .not_found_because(RATE_NOT_FOUND, "rate", format!("{from}/{to}"))
    })
}

/// Refuses a rate older than the maximum age.
pub fn check_fresh(ctx: &Ctx, set_at: DateTime<Utc>) -> Result<(), Status> {
    let max =
        chrono::Duration::from_std(ctx.settings.max_rate_age).unwrap_or(chrono::Duration::MAX);
    if is_stale(set_at, ctx.now(), max) {
        let mut md = HashMap::new();
        md.insert("rate_set_time".to_owned(), set_at.to_rfc3339());
        return Err(ctx.errors().refuse_with(
            Code::FailedPrecondition,
            RATE_STALE,
            format!(
                "the rate was set at {} and is older than the maximum age",
                set_at.to_rfc3339()
            ),
            md,
        ));
    }
    Ok(())
}

fn rate_proto(ctx: &Ctx, from: Currency, to: Currency, r: &Resolved, source: RateSource) -> Rate {
    let max =
        chrono::Duration::from_std(ctx.settings.max_rate_age).unwrap_or(chrono::Duration::MAX);
    Rate {
        base_currency_code: from.code().to_owned(),
        quote_currency_code: to.code().to_owned(),
        mid_rate: r.mid.normalize().to_string(),
        set_time: Some(time::to_proto(r.set_at)),
        source: source as i32,
        derivation: r.derivation as i32,
        cross_currency_code: r.cross.map(|c| c.code().to_owned()).unwrap_or_default(),
        stale: is_stale(r.set_at, ctx.now(), max),
    }
}

fn change_proto(r: &RateChangeRow) -> RateChange {
    RateChange {
        rate_change_id: r.rate_change_id.to_string(),
        base_currency_code: r.base_currency.clone(),
        quote_currency_code: r.quote_currency.clone(),
        previous_mid_rate: (r.previous_mid_rate)
            .map(|p| p.normalize().to_string())
            .unwrap_or_default(),
        mid_rate: r.mid_rate.normalize().to_string(),
        source: i32::from(r.source),
        actor_account_id: r.actor_account_id.clone(),
        reason: r.reason.clone(),
        request_id: r.request_id.map(|u| u.to_string()).unwrap_or_default(),
        change_time: Some(time::to_proto(r.changed_at)),
    }
}

/// Who changed a rate, and why (the audit trail's row).
struct Change<'a> {
    source: RateSource,
    actor: &'a str,
    reason: &'a str,
    request_id: Option<Uuid>,
}

/// Sets one rate and records the change; returns the change row.
async fn write_rate(
    conn: &mut PgConnection,
    pair: (Currency, Currency),
    mid: Decimal,
    change: Change<'_>,
    now: DateTime<Utc>,
) -> Result<RateChangeRow, Status> {
    let Change {
        source,
        actor,
        reason,
        request_id,
    } = change;
    let (base, quote) = (pair.0.code(), pair.1.code());
    let previous = store::rates::one_for_update(conn, base, quote)
        .await
        .map_err(internal)?;
    store::rates::upsert(conn, base, quote, mid, now, source as i16)
        .await
        .map_err(internal)?;
    let row = RateChangeRow {
        rate_change_id: Uuid::now_v7(),
        base_currency: base.to_owned(),
        quote_currency: quote.to_owned(),
        previous_mid_rate: previous.map(|(mid, _)| mid),
        mid_rate: mid,
        source: source as i16,
        actor_account_id: actor.to_owned(),
        reason: reason.to_owned(),
        request_id,
        changed_at: now,
    };
    store::rates::record_change(conn, &row)
        .await
        .map_err(internal)?;
    Ok(row)
}

/// Loads the configured table at start: a pair still on its table rate is refreshed (its
/// time set to now); a pair an operator set keeps the operator's rate. Changes are audited.
pub async fn load_table(ctx: &Ctx) -> anyhow::Result<()> {
    let mut tx = ctx.svc.pool.begin().await?;
    let now = ctx.now();
    for ((base, quote), mid) in &ctx.settings.table {
        let current = store::rates::one_for_update(&mut tx, base.code(), quote.code()).await?;
        match current {
            Some((_, source)) if source != RateSource::ConfiguredTable as i16 => {}
            Some((old, _)) if old == *mid => {
                store::rates::touch(&mut tx, base.code(), quote.code(), now).await?;
            }
            _ => {
                let change = Change {
                    source: RateSource::ConfiguredTable,
                    actor: "",
                    reason: "configured rate table",
                    request_id: None,
                };
                write_rate(&mut tx, (*base, *quote), *mid, change, now)
                    .await
                    .map_err(|s| anyhow::anyhow!("loading the rate table: {}", s.message()))?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

fn pair(v: &mut FieldViolations, base: &str, quote: &str) -> Option<(Currency, Currency)> {
    let b = v.check("base_currency_code", base.parse::<Currency>());
    let q = v.check("quote_currency_code", quote.parse::<Currency>());
    match (b, q) {
        (Some(b), Some(q)) if b == q => {
            v.add("quote_currency_code", "must differ from base_currency_code");
            None
        }
        (Some(b), Some(q)) => Some((b, q)),
        _ => None,
    }
}

/// ListRates: direct rates, by base then quote currency.
pub async fn list(ctx: &Ctx, req: ListRatesRequest) -> Result<ListRatesResponse, Status> {
    let mut v = FieldViolations::new();
    let filter = if req.currency_code.is_empty() {
        None
    } else {
        v.check("currency_code", req.currency_code.parse::<Currency>())
    };
    let page = Page::from_proto("page", req.page.as_ref(), &mut v);
    v.finish()?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    let rows = store::rates::all(&mut conn, filter.map(|c| c.code()))
        .await
        .map_err(internal)?;
    // The table is small (at most 15 x 14 pairs): page in memory by position.
    let start = page
        .after
        .map_or(0, |c| usize::try_from(c.time.timestamp()).unwrap_or(0));
    let mut items: Vec<(usize, Rate)> = Vec::new();
    for (i, row) in rows.into_iter().enumerate().skip(start) {
        let (Ok(b), Ok(q)) = (row.base_currency.parse(), row.quote_currency.parse()) else {
            continue;
        };
        let r = Resolved {
            mid: row.mid_rate,
            set_at: row.set_at,
            derivation: RateDerivation::Direct,
            cross: None,
        };
        let source = RateSource::try_from(i32::from(row.source)).unwrap_or(RateSource::Unspecified);
        items.push((i, rate_proto(ctx, b, q, &r, source)));
        if items.len() as i64 > page.size {
            break;
        }
    }
    let page = page.finish(&mut items, |(i, _)| Cursor {
        time: DateTime::from_timestamp(i64::try_from(*i + 1).unwrap_or(0), 0).unwrap_or_default(),
        id: Uuid::nil(),
    });
    Ok(ListRatesResponse {
        rates: items.into_iter().map(|(_, r)| r).collect(),
        page: Some(page),
    })
}

/// GetRate: direct, inverted or crossed; a stale rate is shown, marked stale.
pub async fn get(ctx: &Ctx, req: GetRateRequest) -> Result<GetRateResponse, Status> {
    let mut v = FieldViolations::new();
    let p = pair(&mut v, &req.base_currency_code, &req.quote_currency_code);
    v.finish()?;
    let (b, q) = p.expect("ok");
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    let book = book(&mut conn).await?;
    let r = resolve(ctx, &book, b, q)?;
    let source: Option<i16> = if r.derivation == RateDerivation::Direct {
        store::rates::source(&mut conn, b.code(), q.code())
            .await
            .map_err(internal)?
    } else {
        None
    };
    let source = source
        .and_then(|s| RateSource::try_from(i32::from(s)).ok())
        .unwrap_or(RateSource::Unspecified);
    Ok(GetRateResponse {
        rate: Some(rate_proto(ctx, b, q, &r, source)),
    })
}

/// SetRate (operator): effective at once, audited.
pub async fn set(ctx: &Ctx, req: SetRateRequest) -> Result<SetRateResponse, Status> {
    let mut v = FieldViolations::new();
    let p = pair(&mut v, &req.base_currency_code, &req.quote_currency_code);
    let mid = v.check(
        "mid_rate",
        kuajing_platform::money::parse_decimal(&req.mid_rate),
    );
    if let Some(m) = mid {
        if m <= Decimal::ZERO {
            v.add("mid_rate", "must be positive");
        } else if m.scale() > crate::domain::rates::RATE_DP {
            v.add("mid_rate", "at most 12 decimal places");
        } else if m >= Decimal::from(10u64.pow(15)) {
            v.add("mid_rate", "is implausibly large");
        }
    }
    let reason = v.text("reason", req.reason.trim(), 200).to_owned();
    if reason.is_empty() {
        v.add("reason", "is required");
    }
    let request_id = idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    let (pair, mid) = (p.expect("ok"), round_rate(mid.expect("ok")));
    let now = ctx.now();
    // The operator's identity arrives with service credentials (see the edge issue);
    // until then the change records the caller as "operator".
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "SetRate",
        &req.request_id,
        &req,
        |mut tx| async move {
            let change = Change {
                source: RateSource::Operator,
                actor: "operator",
                reason: &reason,
                request_id: Some(request_id),
            };
            let change = write_rate(&mut tx, pair, mid, change, now).await?;
            let r = Resolved {
                mid,
                set_at: now,
                derivation: RateDerivation::Direct,
                cross: None,
            };
            let rate = rate_proto(ctx, pair.0, pair.1, &r, RateSource::Operator);
            Ok((
                SetRateResponse {
                    rate: Some(rate),
                    rate_change: Some(change_proto(&change)),
                },
                tx,
            ))
        },
    )
    .await
}

/// ListRateChanges: newest first.
pub async fn list_changes(
    ctx: &Ctx,
    req: ListRateChangesRequest,
) -> Result<ListRateChangesResponse, Status> {
    let mut v = FieldViolations::new();
    let base = if req.base_currency_code.is_empty() {
        None
    } else {
        v.check(
            "base_currency_code",
            req.base_currency_code.parse::<Currency>(),
        )
    };
    let quote = if req.quote_currency_code.is_empty() {
        None
    } else {
        v.check(
            "quote_currency_code",
            req.quote_currency_code.parse::<Currency>(),
        )
    };
    let (from, to) = v.time_range("change_time_range", req.change_time_range.as_ref());
    let page = Page::from_proto("page", req.page.as_ref(), &mut v);
    v.finish()?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    let filter = store::rates::ChangeFilter {
        base: base.map(|c| c.code()),
        quote: quote.map(|c| c.code()),
        from,
        to,
    };
    let after = page.after.map(|c| (c.time, c.id));
    let mut rows = store::rates::changes(&mut conn, &filter, after, page.fetch_limit())
        .await
        .map_err(internal)?;
    let page = page.finish(&mut rows, |r| Cursor {
        time: r.changed_at,
        id: r.rate_change_id,
    });
    let rate_changes = rows.iter().map(change_proto).collect();
    Ok(ListRateChangesResponse {
        rate_changes,
        page: Some(page),
    })
}

/// GetEquivalent: at the mid rate, no spread, no fee.
pub async fn equivalent(
    ctx: &Ctx,
    req: GetEquivalentRequest,
) -> Result<GetEquivalentResponse, Status> {
    let mut v = FieldViolations::new();
    let amount = v.money("amount", req.amount.as_ref());
    let target = v.check(
        "target_currency_code",
        req.target_currency_code.parse::<Currency>(),
    );
    v.finish()?;
    let (amount, target) = (amount.expect("ok"), target.expect("ok"));
    let now = ctx.now();
    let (rate, set_at, derivation, cross) = if amount.currency() == target {
        (Decimal::ONE, now, RateDerivation::Direct, None)
    } else {
        let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
        let book = book(&mut conn).await?;
        let r = resolve(ctx, &book, amount.currency(), target)?;
        check_fresh(ctx, r.set_at)?;
        (r.mid, r.set_at, r.derivation, r.cross)
    };
    let value =
        Money::new(target, round_half_even(amount.amount() * rate, target)).map_err(internal)?;
    Ok(GetEquivalentResponse {
        equivalent: Some(Equivalent {
            amount: Some(amount.to_proto()),
            equivalent: Some(value.to_proto()),
            rate: rate.normalize().to_string(),
            rate_set_time: Some(time::to_proto(set_at)),
            rate_derivation: derivation as i32,
            cross_currency_code: cross.map(|c| c.code().to_owned()).unwrap_or_default(),
            calculate_time: Some(time::to_proto(now)),
        }),
    })
}
