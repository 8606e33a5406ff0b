//! Reading the ledger (entries, accounts) and correcting it by reversing entries.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::page::{Cursor, Page};
use kuajing_platform::{Currency, FieldViolations, Money, idempotency, time};
use kuajing_proto::wallet::v1::{
    EntryCause, GetJournalEntryRequest, GetJournalEntryResponse, JournalEntry, JournalEntryType,
    LedgerAccount, LedgerAccountKind, ListJournalEntriesRequest, ListJournalEntriesResponse,
    ListLedgerAccountsRequest, ListLedgerAccountsResponse, Posting, RemittanceStatus,
    ReverseJournalEntryRequest, ReverseJournalEntryResponse,
};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use tonic::{Code, Status};
use uuid::Uuid;

use super::{Ctx, post_error};
use crate::domain::ledger::{Cause, EntryDraft, Leg};
use crate::store::journal::EntryFilter;
use crate::store::{self, ledger};

/// Reason: the entry was reversed before.
pub use kuajing_proto::reasons::wallet::ENTRY_ALREADY_REVERSED;
/// Reason: entries of this type are undone by their own operation.
pub use kuajing_proto::reasons::wallet::ENTRY_NOT_REVERSIBLE;

fn opt(id: Option<Uuid>) -> String {
    id.map(|i| i.to_string()).unwrap_or_default()
}

fn money(currency: &str, amount: Decimal) -> Result<kuajing_proto::types::Money, Status> {
    let c: Currency = currency.parse().map_err(internal)?;
    Ok(Money::rounded(c, amount).map_err(internal)?.to_proto())
}

/// One entry with its postings, as the wire shows it.
pub async fn load(
    conn: &mut PgConnection,
    ctx: &Ctx,
    entry_id: Uuid,
) -> Result<JournalEntry, Status> {
    let e = store::journal::get(&mut *conn, entry_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            ctx.errors()
                .not_found("journal_entry", entry_id.to_string())
        })?;
    let postings = store::journal::postings(&mut *conn, entry_id)
        .await
        .map_err(internal)?;
    let mut out = Vec::with_capacity(postings.len());
    for p in &postings {
        out.push(Posting {
            ledger_account_id: p.account_id.to_string(),
            ledger_account_kind: i32::from(p.kind),
            wallet_id: if p.wallet_id.is_nil() {
                String::new()
            } else {
                p.wallet_id.to_string()
            },
            fund_pool: i32::from(p.fund_pool),
            amount: Some(money(&p.currency, p.amount)?),
        });
    }
    Ok(JournalEntry {
        journal_entry_id: entry_id.to_string(),
        r#type: i32::from(e.entry_type),
        postings: out,
        cause: Some(EntryCause {
            request_id: e.request_id.to_string(),
            order_id: e.order_id,
            quote_id: e.quote_id,
            hold_id: opt(e.hold_id),
            transfer_id: opt(e.transfer_id),
            remittance_id: opt(e.remittance_id),
            remittance_link_id: opt(e.remittance_link_id),
            withdrawal_id: opt(e.withdrawal_id),
            caller: String::new(),
            subject_account_id: String::new(),
        }),
        description: e.description,
        reverses_entry_id: opt(e.reverses_entry_id),
        reversed_by_entry_id: opt(e.reversed_by),
        create_time: Some(time::to_proto(e.created_at)),
    })
}

/// GetJournalEntry.
pub async fn get(
    ctx: &Ctx,
    req: GetJournalEntryRequest,
) -> Result<GetJournalEntryResponse, Status> {
    let mut v = FieldViolations::new();
    let id = v.uuid("journal_entry_id", &req.journal_entry_id);
    v.finish()?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    Ok(GetJournalEntryResponse {
        journal_entry: Some(load(&mut conn, ctx, id.expect("ok")).await?),
    })
}

/// ListJournalEntries: newest first, by cause, type and time.
pub async fn list(
    ctx: &Ctx,
    req: ListJournalEntriesRequest,
) -> Result<ListJournalEntriesResponse, Status> {
    let mut v = FieldViolations::new();
    let wallet_id = v.optional_uuid("wallet_id", &req.wallet_id).flatten();
    let request_id = v.optional_uuid("request_id", &req.request_id).flatten();
    let order_id = v.text("order_id", &req.order_id, 64).to_owned();
    let quote_id = v.text("quote_id", &req.quote_id, 64).to_owned();
    let mut types = Vec::new();
    for (i, t) in req.types.iter().enumerate() {
        if let Some(t) = v.enum_value::<JournalEntryType>(&format!("types[{i}]"), *t) {
            types.push(t as i16);
        }
    }
    let (from, to) = v.time_range("create_time_range", req.create_time_range.as_ref());
    let page = Page::from_proto("page", req.page.as_ref(), &mut v);
    v.finish()?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    let filter = EntryFilter {
        wallet_id,
        order_id: &order_id,
        quote_id: &quote_id,
        request_id,
        types: &types,
        from,
        to,
    };
    let after = page.after.map(|c| (c.time, c.id));
    let mut ids = store::journal::ids(&mut *conn, &filter, after, page.fetch_limit())
        .await
        .map_err(internal)?;
    let page = page.finish(&mut ids, |(id, t)| Cursor { time: *t, id: *id });
    let mut entries = Vec::with_capacity(ids.len());
    for (id, _) in ids {
        entries.push(load(&mut conn, ctx, id).await?);
    }
    Ok(ListJournalEntriesResponse {
        journal_entries: entries,
        page: Some(page),
    })
}

/// ReverseJournalEntry.
pub async fn reverse(
    ctx: &Ctx,
    req: ReverseJournalEntryRequest,
) -> Result<ReverseJournalEntryResponse, Status> {
    let mut v = FieldViolations::new();
    let entry_id = v.uuid("journal_entry_id", &req.journal_entry_id);
    let reason = v.text("reason", req.reason.trim(), 200).to_owned();
    if reason.is_empty() {
        v.add("reason", "is required");
    }
    let request_id = idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    let entry_id = entry_id.expect("ok");
    let now = ctx.now();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "ReverseJournalEntry",
        &req.request_id,
        &req,
        |mut tx| async move {
            let row = store::journal::get(&mut *tx, entry_id)
                .await
                .map_err(internal)?
                .ok_or_else(|| {
                    ctx.errors()
                        .not_found("journal_entry", entry_id.to_string())
                })?;
            reversible(&mut tx, ctx, entry_id, &row).await?;
            let remittance_id = row.remittance_id;
            let legs = ledger::load_draft_legs(&mut tx, entry_id)
                .await
                .map_err(internal)?;
            let cause = Cause {
                request_id,
                order_id: row.order_id.clone(),
                quote_id: row.quote_id.clone(),
                remittance_id,
                ..Cause::default()
            };
            let draft = EntryDraft {
                entry_type: JournalEntryType::Reversal,
                cause,
                description: reason.clone(),
                legs: legs
                    .into_iter()
                    .map(|(account, amount)| Leg {
                        account,
                        amount: -amount,
                    })
                    .collect(),
                reverses: Some(entry_id),
            };
            let posted = ledger::post(&mut tx, &draft, now)
                .await
                .map_err(|e| post_error(ctx.errors(), e))?;
            let reversal = load(&mut tx, ctx, posted.entry_id).await?;
            let original = load(&mut tx, ctx, entry_id).await?;
            Ok((
                ReverseJournalEntryResponse {
                    reversal: Some(reversal),
                    original: Some(original),
                },
                tx,
            ))
        },
    )
    .await
}

/// Refuses what may not be reversed: an entry of a kind its own operation undoes
/// (ENTRY_NOT_REVERSIBLE), one already reversed (ENTRY_ALREADY_REVERSED), a remittance
/// already linked to orders (REMITTANCE_ALREADY_LINKED); a remittance's entry marks the
/// remittance REVERSED.
async fn reversible(
    conn: &mut PgConnection,
    ctx: &Ctx,
    entry_id: Uuid,
    row: &store::journal::EntryRow,
) -> Result<(), Status> {
    let subject = format!("journal_entry/{entry_id}");
    let entry_type = JournalEntryType::try_from(i32::from(row.entry_type))
        .unwrap_or(JournalEntryType::Unspecified);
    let reversible = [
        JournalEntryType::InboundRemittance,
        JournalEntryType::Transfer,
        JournalEntryType::FeeCharge,
    ];
    if !reversible.contains(&entry_type) {
        return Err(ctx.errors().precondition(
            ENTRY_NOT_REVERSIBLE,
            subject,
            format!(
                "{} entries are undone by their own operation",
                entry_type.as_str_name()
            ),
        ));
    }
    let reversed_by = store::journal::reversal_of(&mut *conn, entry_id)
        .await
        .map_err(internal)?;
    if let Some(by) = reversed_by {
        let mut md = HashMap::new();
        md.insert("reversed_by_entry_id".to_owned(), by.to_string());
        return Err(ctx.errors().refuse_with(
            Code::FailedPrecondition,
            ENTRY_ALREADY_REVERSED,
            "the entry was already reversed",
            md,
        ));
    }
    let remittance_id = row.remittance_id;
    if entry_type == JournalEntryType::InboundRemittance {
        let remittance_id =
            remittance_id.ok_or_else(|| internal("remittance entry without a remittance"))?;
        let (amount, unallocated, status) =
            store::remittances::amounts_for_update(&mut *conn, remittance_id)
                .await
                .map_err(internal)?;
        let untouched = status == RemittanceStatus::Credited as i16
            || (status == RemittanceStatus::Unallocated as i16 && unallocated == amount);
        if !untouched {
            return Err(ctx.errors().precondition(
                super::remittances::REMITTANCE_ALREADY_LINKED,
                format!("remittance/{remittance_id}"),
                "part of the remittance is linked to orders",
            ));
        }
        store::remittances::set_reversed(
            &mut *conn,
            remittance_id,
            RemittanceStatus::Reversed as i16,
        )
        .await
        .map_err(internal)?;
    }
    Ok(())
}

/// ListLedgerAccounts: balances summed over shards.
pub async fn list_accounts(
    ctx: &Ctx,
    req: ListLedgerAccountsRequest,
) -> Result<ListLedgerAccountsResponse, Status> {
    let mut v = FieldViolations::new();
    let kind = if req.kind == 0 {
        None
    } else {
        v.enum_value::<LedgerAccountKind>("kind", req.kind)
    };
    let currency = if req.currency_code.is_empty() {
        None
    } else {
        v.check("currency_code", req.currency_code.parse::<Currency>())
    };
    let wallet_id = v.optional_uuid("wallet_id", &req.wallet_id).flatten();
    let page = Page::from_proto("page", req.page.as_ref(), &mut v);
    v.finish()?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    let filter = (
        kind.map(|k| k as i16),
        currency.map(|c| c.code()),
        wallet_id,
    );
    let after = page.after.map(|c| c.id);
    let rows = store::journal::accounts(&mut *conn, filter, after, page.fetch_limit())
        .await
        .map_err(internal)?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        items.push((
            r.account_id,
            LedgerAccount {
                ledger_account_id: r.account_id.to_string(),
                kind: i32::from(r.kind),
                currency_code: r.currency.clone(),
                wallet_id: if r.wallet_id.is_nil() {
                    String::new()
                } else {
                    r.wallet_id.to_string()
                },
                fund_pool: i32::from(r.fund_pool),
                balance: Some(money(&r.currency, r.balance)?),
                update_time: Some(time::to_proto(r.updated_at)),
            },
        ));
    }
    let epoch = DateTime::<Utc>::UNIX_EPOCH;
    let page = page.finish(&mut items, |(id, _)| Cursor {
        time: epoch,
        id: *id,
    });
    Ok(ListLedgerAccountsResponse {
        ledger_accounts: items.into_iter().map(|(_, a)| a).collect(),
        page: Some(page),
    })
}
