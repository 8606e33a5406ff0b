//! The wallet statement (资金明细) and the supplier fund overview (资金账户总览).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::page::{Cursor, Page};
use kuajing_platform::{Currency, FieldViolations, Money, time};
use kuajing_proto::wallet::v1::{
    CurrencyFundOverview, FundOverview, FundPool, GetFundOverviewRequest, GetFundOverviewResponse,
    HoldPurpose, HoldState, JournalEntryType, LedgerAccountKind, ListStatementLinesRequest,
    ListStatementLinesResponse, StatementLine,
};
use rust_decimal::Decimal;
use sqlx::Row;
use tonic::Status;
use uuid::Uuid;

use super::{Ctx, require_wallet};

fn money(c: Currency, d: Decimal) -> Result<kuajing_proto::types::Money, Status> {
    Ok(Money::rounded(c, d).map_err(internal)?.to_proto())
}

/// ListStatementLines: oldest first, one line per posting on the wallet's own accounts.
pub async fn list(
    ctx: &Ctx,
    req: ListStatementLinesRequest,
) -> Result<ListStatementLinesResponse, Status> {
    let mut v = FieldViolations::new();
    let wallet_id = v.uuid("wallet_id", &req.wallet_id);
    let currency = if req.currency_code.is_empty() {
        None
    } else {
        v.check("currency_code", req.currency_code.parse::<Currency>())
    };
    let mut types = Vec::new();
    for (i, t) in req.types.iter().enumerate() {
        if let Some(t) = v.enum_value::<JournalEntryType>(&format!("types[{i}]"), *t) {
            types.push(t as i16);
        }
    }
    let (from, to) = v.time_range("create_time_range", req.create_time_range.as_ref());
    let page = Page::from_proto("page", req.page.as_ref(), &mut v);
    v.finish()?;
    let wallet_id = wallet_id.expect("ok");
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    require_wallet(&mut conn, ctx.errors(), wallet_id).await?;
    let rows = sqlx::query(
        "SELECT p.posting_id, p.entry_id, p.idx, p.entry_type, p.kind, p.fund_pool, p.currency, p.amount,
                p.balance_after, p.created_at, e.description, e.order_id,
                (SELECT o.wallet_id FROM postings o WHERE o.entry_id = p.entry_id
                   AND o.wallet_id <> p.wallet_id AND o.wallet_id <> '00000000-0000-0000-0000-000000000000'
                 ORDER BY o.idx LIMIT 1) AS counterparty
         FROM postings p JOIN journal_entries e ON e.entry_id = p.entry_id
         WHERE p.wallet_id = $1 AND ($2::text IS NULL OR p.currency = $2)
           AND (cardinality($3::int2[]) = 0 OR p.entry_type = ANY($3))
           AND ($4::timestamptz IS NULL OR p.created_at >= $4) AND ($5::timestamptz IS NULL OR p.created_at < $5)
           AND ($6::timestamptz IS NULL OR (p.created_at, p.posting_id) > ($6, $7))
         ORDER BY p.created_at, p.posting_id LIMIT $8",
    )
    .bind(wallet_id)
    .bind(currency.map(|c| c.code()))
    .bind(&types)
    .bind(from)
    .bind(to)
    .bind(page.after.map(|c| c.time))
    .bind(page.after.map(|c| c.id))
    .bind(page.fetch_limit())
    .fetch_all(&mut *conn)
    .await
    .map_err(internal)?;
    let mut lines = Vec::with_capacity(rows.len());
    for r in &rows {
        let c: Currency = r
            .try_get::<String, _>("currency")
            .map_err(internal)?
            .parse()
            .map_err(internal)?;
        let created: DateTime<Utc> = r.try_get("created_at").map_err(internal)?;
        let posting_id: Uuid = r.try_get("posting_id").map_err(internal)?;
        let counterparty: Option<Uuid> = r.try_get("counterparty").map_err(internal)?;
        lines.push((
            Cursor {
                time: created,
                id: posting_id,
            },
            StatementLine {
                journal_entry_id: r
                    .try_get::<Uuid, _>("entry_id")
                    .map_err(internal)?
                    .to_string(),
                posting_index: i32::from(r.try_get::<i16, _>("idx").map_err(internal)?),
                wallet_id: wallet_id.to_string(),
                r#type: i32::from(r.try_get::<i16, _>("entry_type").map_err(internal)?),
                ledger_account_kind: i32::from(r.try_get::<i16, _>("kind").map_err(internal)?),
                fund_pool: i32::from(r.try_get::<i16, _>("fund_pool").map_err(internal)?),
                amount: Some(money(c, r.try_get("amount").map_err(internal)?)?),
                balance_after: Some(money(c, r.try_get("balance_after").map_err(internal)?)?),
                description: r.try_get("description").map_err(internal)?,
                order_id: r.try_get("order_id").map_err(internal)?,
                counterparty_wallet_id: counterparty.map(|u| u.to_string()).unwrap_or_default(),
                create_time: Some(time::to_proto(created)),
            },
        ));
    }
    let page = page.finish(&mut lines, |(c, _)| *c);
    Ok(ListStatementLinesResponse {
        statement_lines: lines.into_iter().map(|(_, l)| l).collect(),
        page: Some(page),
    })
}

#[derive(Default, Clone, Copy)]
struct Figures {
    standard: Decimal,
    agent: Decimal,
    guarantee: Decimal,
    frozen: Decimal,
    arrears: Decimal,
    unallocated: Decimal,
}

impl Figures {
    fn is_zero(&self) -> bool {
        [
            self.standard,
            self.agent,
            self.guarantee,
            self.frozen,
            self.arrears,
            self.unallocated,
        ]
        .iter()
        .all(|d| d.is_zero())
    }
}

/// GetFundOverview.
pub async fn overview(
    ctx: &Ctx,
    req: GetFundOverviewRequest,
) -> Result<GetFundOverviewResponse, Status> {
    let mut v = FieldViolations::new();
    let wallet_id = v.uuid("wallet_id", &req.wallet_id);
    let mut wanted = Vec::new();
    for (i, c) in req.currency_codes.iter().enumerate() {
        if let Some(c) = v.check(&format!("currency_codes[{i}]"), c.parse::<Currency>()) {
            wanted.push(c);
        }
    }
    v.finish()?;
    let wallet_id = wallet_id.expect("ok");
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    require_wallet(&mut conn, ctx.errors(), wallet_id).await?;
    let mut figures: BTreeMap<Currency, Figures> = BTreeMap::new();
    let accounts = sqlx::query(
        "SELECT currency, kind, fund_pool, sum(balance) AS b FROM ledger_accounts WHERE wallet_id = $1
         GROUP BY currency, kind, fund_pool",
    )
    .bind(wallet_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(internal)?;
    for r in &accounts {
        let Ok(c) = r
            .try_get::<String, _>("currency")
            .map_err(internal)?
            .parse::<Currency>()
        else {
            continue;
        };
        let kind = i32::from(r.try_get::<i16, _>("kind").map_err(internal)?);
        let pool = i32::from(r.try_get::<i16, _>("fund_pool").map_err(internal)?);
        let b: Decimal = r.try_get("b").map_err(internal)?;
        let f = figures.entry(c).or_default();
        if kind == LedgerAccountKind::CustomerAvailable as i32 {
            if pool == FundPool::AgentExport as i32 {
                f.agent += b
            } else {
                f.standard += b
            }
        } else if kind == LedgerAccountKind::CustomerArrears as i32 {
            f.arrears -= b;
        }
    }
    let holds = sqlx::query(
        "SELECT currency, purpose, sum(amount) AS a FROM holds WHERE wallet_id = $1 AND state = $2 GROUP BY currency, purpose",
    )
    .bind(wallet_id)
    .bind(HoldState::Open as i16)
    .fetch_all(&mut *conn)
    .await
    .map_err(internal)?;
    for r in &holds {
        let Ok(c) = r
            .try_get::<String, _>("currency")
            .map_err(internal)?
            .parse::<Currency>()
        else {
            continue;
        };
        let a: Decimal = r.try_get("a").map_err(internal)?;
        let f = figures.entry(c).or_default();
        if i32::from(r.try_get::<i16, _>("purpose").map_err(internal)?)
            == HoldPurpose::Guarantee as i32
        {
            f.guarantee += a;
        } else {
            f.frozen += a;
        }
    }
    let pending = sqlx::query("SELECT currency, sum(unallocated) AS u FROM remittances WHERE wallet_id = $1 GROUP BY currency")
        .bind(wallet_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(internal)?;
    for r in &pending {
        let Ok(c) = r
            .try_get::<String, _>("currency")
            .map_err(internal)?
            .parse::<Currency>()
        else {
            continue;
        };
        figures.entry(c).or_default().unallocated +=
            r.try_get::<Decimal, _>("u").map_err(internal)?;
    }
    let mut currencies = Vec::new();
    let selected: Vec<Currency> = if wanted.is_empty() {
        figures
            .iter()
            .filter(|(_, f)| !f.is_zero())
            .map(|(c, _)| *c)
            .collect()
    } else {
        wanted
    };
    for c in selected {
        let f = figures.get(&c).copied().unwrap_or_default();
        let available = f.standard + f.agent;
        let unavailable = f.guarantee + f.frozen;
        currencies.push(CurrencyFundOverview {
            currency_code: c.code().to_owned(),
            total: Some(money(c, available + unavailable)?),
            available_total: Some(money(c, available)?),
            self_export_available: Some(money(c, f.standard)?),
            agent_export_available: Some(money(c, f.agent)?),
            unavailable_total: Some(money(c, unavailable)?),
            guarantee_funds: Some(money(c, f.guarantee)?),
            frozen: Some(money(c, f.frozen)?),
            arrears: Some(money(c, f.arrears)?),
            unallocated_remittances: Some(money(c, f.unallocated)?),
        });
    }
    Ok(GetFundOverviewResponse {
        fund_overview: Some(FundOverview {
            wallet_id: wallet_id.to_string(),
            currencies,
            calculate_time: Some(time::to_proto(ctx.now())),
        }),
    })
}
