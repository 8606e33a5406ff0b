//! The wallet statement (资金明细) and the supplier fund overview (资金账户总览).

use std::collections::BTreeMap;

use kuajing_platform::error::internal;
use kuajing_platform::page::{Cursor, Page};
use kuajing_platform::{Currency, FieldViolations, Money, time};
use kuajing_proto::wallet::v1::{
    CurrencyFundOverview, FundOverview, FundPool, GetFundOverviewRequest, GetFundOverviewResponse,
    HoldPurpose, HoldState, JournalEntryType, LedgerAccountKind, ListStatementLinesRequest,
    ListStatementLinesResponse, StatementLine,
};
use rust_decimal::Decimal;

use tonic::Status;

use super::{Ctx, require_wallet};
use crate::store;

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
    let after = page.after.map(|c| (c.time, c.id));
    let which = (wallet_id, currency.map(|c| c.code()), &types[..]);
    let rows = store::statements::lines(&mut *conn, which, (from, to), after, page.fetch_limit())
        .await
        .map_err(internal)?;
    let mut lines = Vec::with_capacity(rows.len());
    for r in &rows {
        let c: Currency = r.currency.parse().map_err(internal)?;
        lines.push((
            Cursor {
                time: r.created_at,
                id: r.posting_id,
            },
            StatementLine {
                journal_entry_id: r.entry_id.to_string(),
                posting_index: i32::from(r.idx),
                wallet_id: wallet_id.to_string(),
                r#type: i32::from(r.entry_type),
                ledger_account_kind: i32::from(r.kind),
                fund_pool: i32::from(r.fund_pool),
                amount: Some(money(c, r.amount)?),
                balance_after: Some(money(c, r.balance_after)?),
                description: r.description.clone(),
                order_id: r.order_id.clone(),
                counterparty_wallet_id: r.counterparty.map(|u| u.to_string()).unwrap_or_default(),
                create_time: Some(time::to_proto(r.created_at)),
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
    let accounts = store::statements::balances(&mut *conn, wallet_id)
        .await
        .map_err(internal)?;
    for r in &accounts {
        let Ok(c) = r.currency.parse::<Currency>() else {
            continue;
        };
        let (kind, pool, b) = (i32::from(r.kind), i32::from(r.fund_pool), r.amount);
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
    let holds = store::statements::held(&mut *conn, wallet_id, HoldState::Open as i16)
        .await
        .map_err(internal)?;
    for r in &holds {
        let Ok(c) = r.currency.parse::<Currency>() else {
            continue;
        };
        let f = figures.entry(c).or_default();
        if i32::from(r.kind) == HoldPurpose::Guarantee as i32 {
            f.guarantee += r.amount;
        } else {
            f.frozen += r.amount;
        }
    }
    let pending = store::statements::unallocated(&mut *conn, wallet_id)
        .await
        .map_err(internal)?;
    for r in &pending {
        let Ok(c) = r.currency.parse::<Currency>() else {
            continue;
        };
        figures.entry(c).or_default().unallocated += r.amount;
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
