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
use sqlx::{PgConnection, Row};
use tonic::{Code, Status};
use uuid::Uuid;

use super::{Ctx, post_error};
use crate::domain::ledger::{Cause, EntryDraft, Leg};
use crate::store::ledger;

/// Reason: the entry was reversed before.
pub const ENTRY_ALREADY_REVERSED: &str = "ENTRY_ALREADY_REVERSED";
/// Reason: entries of this type are undone by their own operation.
pub const ENTRY_NOT_REVERSIBLE: &str = "ENTRY_NOT_REVERSIBLE";

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
    let e = sqlx::query(
        "SELECT e.*, (SELECT r.entry_id FROM journal_entries r WHERE r.reverses_entry_id = e.entry_id) AS reversed_by
         FROM journal_entries e WHERE e.entry_id = $1",
    )
    .bind(entry_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(internal)?
    .ok_or_else(|| ctx.errors().not_found("journal_entry", entry_id.to_string()))?;
    let postings = sqlx::query(
        "SELECT account_id, kind, wallet_id, fund_pool, currency, amount FROM postings WHERE entry_id = $1 ORDER BY idx",
    )
    .bind(entry_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(internal)?;
    let mut out = Vec::with_capacity(postings.len());
    for p in &postings {
        let wallet: Uuid = p.try_get("wallet_id").map_err(internal)?;
        let currency: String = p.try_get("currency").map_err(internal)?;
        out.push(Posting {
            ledger_account_id: p
                .try_get::<Uuid, _>("account_id")
                .map_err(internal)?
                .to_string(),
            ledger_account_kind: i32::from(p.try_get::<i16, _>("kind").map_err(internal)?),
            wallet_id: if wallet.is_nil() {
                String::new()
            } else {
                wallet.to_string()
            },
            fund_pool: i32::from(p.try_get::<i16, _>("fund_pool").map_err(internal)?),
            amount: Some(money(&currency, p.try_get("amount").map_err(internal)?)?),
        });
    }
    let g = |c: &str| e.try_get::<Option<Uuid>, _>(c).map_err(internal);
    let created: DateTime<Utc> = e.try_get("created_at").map_err(internal)?;
    Ok(JournalEntry {
        journal_entry_id: entry_id.to_string(),
        r#type: i32::from(e.try_get::<i16, _>("type").map_err(internal)?),
        postings: out,
        cause: Some(EntryCause {
            request_id: e
                .try_get::<Uuid, _>("request_id")
                .map_err(internal)?
                .to_string(),
            order_id: e.try_get("order_id").map_err(internal)?,
            quote_id: e.try_get("quote_id").map_err(internal)?,
            hold_id: opt(g("hold_id")?),
            transfer_id: opt(g("transfer_id")?),
            remittance_id: opt(g("remittance_id")?),
            remittance_link_id: opt(g("remittance_link_id")?),
            withdrawal_id: opt(g("withdrawal_id")?),
            caller: String::new(),
            subject_account_id: String::new(),
        }),
        description: e.try_get("description").map_err(internal)?,
        reverses_entry_id: opt(g("reverses_entry_id")?),
        reversed_by_entry_id: opt(g("reversed_by")?),
        create_time: Some(time::to_proto(created)),
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
    let mut ids: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT e.entry_id, e.created_at FROM journal_entries e
         WHERE ($1::uuid IS NULL OR EXISTS (SELECT 1 FROM postings p WHERE p.entry_id = e.entry_id AND p.wallet_id = $1))
           AND ($2 = '' OR e.order_id = $2) AND ($3 = '' OR e.quote_id = $3)
           AND ($4::uuid IS NULL OR e.request_id = $4)
           AND (cardinality($5::int2[]) = 0 OR e.type = ANY($5))
           AND ($6::timestamptz IS NULL OR e.created_at >= $6) AND ($7::timestamptz IS NULL OR e.created_at < $7)
           AND ($8::timestamptz IS NULL OR (e.created_at, e.entry_id) < ($8, $9))
         ORDER BY e.created_at DESC, e.entry_id DESC LIMIT $10",
    )
    .bind(wallet_id)
    .bind(&order_id)
    .bind(&quote_id)
    .bind(request_id)
    .bind(&types)
    .bind(from)
    .bind(to)
    .bind(page.after.map(|c| c.time))
    .bind(page.after.map(|c| c.id))
    .bind(page.fetch_limit())
    .fetch_all(&mut *conn)
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
    idempotency::run(&ctx.svc.pool, ctx.errors(), "ReverseJournalEntry", &req.request_id, &req, |mut tx| async move {
        let row = sqlx::query(
            "SELECT type, order_id, quote_id, remittance_id FROM journal_entries WHERE entry_id = $1",
        )
        .bind(entry_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(internal)?
        .ok_or_else(|| ctx.errors().not_found("journal_entry", entry_id.to_string()))?;
        let subject = format!("journal_entry/{entry_id}");
        let entry_type = JournalEntryType::try_from(i32::from(row.try_get::<i16, _>("type").map_err(internal)?))
            .unwrap_or(JournalEntryType::Unspecified);
        let reversible = [JournalEntryType::InboundRemittance, JournalEntryType::Transfer, JournalEntryType::FeeCharge];
        if !reversible.contains(&entry_type) {
            return Err(ctx.errors().precondition(
                ENTRY_NOT_REVERSIBLE,
                subject,
                format!("{} entries are undone by their own operation", entry_type.as_str_name()),
            ));
        }
        let reversed_by: Option<Uuid> = sqlx::query_scalar("SELECT entry_id FROM journal_entries WHERE reverses_entry_id = $1")
            .bind(entry_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(internal)?;
        if let Some(by) = reversed_by {
            let mut md = HashMap::new();
            md.insert("reversed_by_entry_id".to_owned(), by.to_string());
            return Err(ctx.errors().refuse_with(Code::FailedPrecondition, ENTRY_ALREADY_REVERSED, "the entry was already reversed", md));
        }
        let remittance_id: Option<Uuid> = row.try_get("remittance_id").map_err(internal)?;
        if entry_type == JournalEntryType::InboundRemittance {
            let remittance_id = remittance_id.ok_or_else(|| internal("remittance entry without a remittance"))?;
            let (amount, unallocated, status): (Decimal, Decimal, i16) = sqlx::query_as(
                "SELECT amount, unallocated, status FROM remittances WHERE remittance_id = $1 FOR UPDATE",
            )
            .bind(remittance_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(internal)?;
            let untouched = status == RemittanceStatus::Credited as i16 || (status == RemittanceStatus::Unallocated as i16 && unallocated == amount);
            if !untouched {
                return Err(ctx.errors().precondition(
                    super::remittances::REMITTANCE_ALREADY_LINKED,
                    format!("remittance/{remittance_id}"),
                    "part of the remittance is linked to orders",
                ));
            }
            sqlx::query("UPDATE remittances SET status = $2, unallocated = 0 WHERE remittance_id = $1")
                .bind(remittance_id)
                .bind(RemittanceStatus::Reversed as i16)
                .execute(&mut *tx)
                .await
                .map_err(internal)?;
        }
        let legs = ledger::load_draft_legs(&mut tx, entry_id).await.map_err(internal)?;
        let cause = Cause {
            request_id,
            order_id: row.try_get("order_id").map_err(internal)?,
            quote_id: row.try_get("quote_id").map_err(internal)?,
            remittance_id,
            ..Cause::default()
        };
        let draft = EntryDraft {
            entry_type: JournalEntryType::Reversal,
            cause,
            description: reason.clone(),
            legs: legs.into_iter().map(|(account, amount)| Leg { account, amount: -amount }).collect(),
            reverses: Some(entry_id),
        };
        let posted = ledger::post(&mut tx, &draft, now).await.map_err(|e| post_error(ctx.errors(), e))?;
        let reversal = load(&mut tx, ctx, posted.entry_id).await?;
        let original = load(&mut tx, ctx, entry_id).await?;
        Ok((ReverseJournalEntryResponse { reversal: Some(reversal), original: Some(original) }, tx))
    })
    .await
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
    let rows = sqlx::query(
        "SELECT min(account_id::text)::uuid AS account_id, wallet_id, kind, currency, fund_pool,
                sum(balance) AS balance, max(updated_at) AS updated_at
         FROM ledger_accounts
         WHERE ($1::int2 IS NULL OR kind = $1) AND ($2::text IS NULL OR currency = $2)
           AND ($3::uuid IS NULL OR wallet_id = $3)
         GROUP BY wallet_id, kind, currency, fund_pool
         HAVING ($4::uuid IS NULL OR min(account_id::text)::uuid > $4)
         ORDER BY account_id LIMIT $5",
    )
    .bind(kind.map(|k| k as i16))
    .bind(currency.map(|c| c.code()))
    .bind(wallet_id)
    .bind(page.after.map(|c| c.id))
    .bind(page.fetch_limit())
    .fetch_all(&mut *conn)
    .await
    .map_err(internal)?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: Uuid = r.try_get("account_id").map_err(internal)?;
        let wallet: Uuid = r.try_get("wallet_id").map_err(internal)?;
        let currency: String = r.try_get("currency").map_err(internal)?;
        let updated: DateTime<Utc> = r.try_get("updated_at").map_err(internal)?;
        items.push((
            id,
            LedgerAccount {
                ledger_account_id: id.to_string(),
                kind: i32::from(r.try_get::<i16, _>("kind").map_err(internal)?),
                currency_code: currency.clone(),
                wallet_id: if wallet.is_nil() {
                    String::new()
                } else {
                    wallet.to_string()
                },
                fund_pool: i32::from(r.try_get::<i16, _>("fund_pool").map_err(internal)?),
                balance: Some(money(&currency, r.try_get("balance").map_err(internal)?)?),
                update_time: Some(time::to_proto(updated)),
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
