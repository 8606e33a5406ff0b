//! Inbound remittances (the bank adapter's call) and linking them to orders (关联外汇).

use std::collections::HashMap;

use kuajing_platform::error::internal;
use kuajing_platform::money::format_amount;
use kuajing_platform::page::{Cursor, Page};
use kuajing_platform::{Currency, FieldViolations, idempotency, time};
use kuajing_proto::types;
use kuajing_proto::wallet::v1::{
    FundPool, GetRemittanceRequest, GetRemittanceResponse, HoldPurpose, HoldState,
    JournalEntryType, LedgerAccountKind, LinkDisposition, LinkRemittanceRequest,
    LinkRemittanceResponse, ListRemittancesRequest, ListRemittancesResponse, OrderPaymentPart,
    ReceivingAccountPurpose, RecordInboundRemittanceRequest, RecordInboundRemittanceResponse,
    Remittance, RemittanceLink, RemittancePayer, RemittanceStatus,
};
use rust_decimal::Decimal;

use sqlx::PgConnection;
use tonic::{Code, Status};
use uuid::Uuid;

use super::{Ctx, currency_mismatch, post_error, require_wallet};
use crate::domain::ledger::{AccountKey, Cause, EntryDraft};
use crate::store::holds::NewHold;
use crate::store::remittances::{LinkRow, RemittanceFilter, RemittanceRow};
use crate::store::{self, ledger};

/// Reason: the bank reference was recorded with other content.
pub use kuajing_proto::reasons::wallet::BANK_REFERENCE_CONFLICT;
/// Reason: the link asks for more than is unallocated.
pub use kuajing_proto::reasons::wallet::LINK_EXCEEDS_UNALLOCATED;
/// Reason: no receiving account has the number the bank reported.
pub use kuajing_proto::reasons::wallet::RECEIVING_ACCOUNT_NOT_FOUND;
/// Reason: nothing of the remittance is left to link.
pub use kuajing_proto::reasons::wallet::REMITTANCE_ALREADY_LINKED;

fn money(currency: &str, amount: Decimal) -> types::Money {
    let c = currency.parse::<Currency>().unwrap_or(Currency::USD);
    types::Money {
        currency_code: currency.to_owned(),
        amount: format_amount(amount, c),
    }
}

fn link_from_row(r: &LinkRow) -> RemittanceLink {
    RemittanceLink {
        remittance_link_id: r.remittance_link_id.to_string(),
        remittance_id: r.remittance_id.to_string(),
        order_id: r.order_id.clone(),
        payment_part: i32::from(r.payment_part),
        amount: Some(money(&r.currency, r.amount)),
        disposition: i32::from(r.disposition),
        fund_pool: i32::from(r.fund_pool),
        hold_id: r.hold_id.map(|h| h.to_string()).unwrap_or_default(),
        journal_entry_id: r.entry_id.to_string(),
        create_time: Some(time::to_proto(r.created_at)),
    }
}

async fn load(
    conn: &mut PgConnection,
    ctx: &Ctx,
    remittance_id: Uuid,
) -> Result<Remittance, Status> {
    let row = store::remittances::get(&mut *conn, remittance_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            ctx.errors()
                .not_found("remittance", remittance_id.to_string())
        })?;
    let mut r = from_row(&row);
    let links = store::remittances::links_of(&mut *conn, remittance_id)
        .await
        .map_err(internal)?;
    r.links = links.iter().map(link_from_row).collect();
    Ok(r)
}

fn from_row(r: &RemittanceRow) -> Remittance {
    Remittance {
        remittance_id: r.remittance_id.to_string(),
        receiving_account_id: r.receiving_account_id.to_string(),
        wallet_id: r.wallet_id.to_string(),
        bank_reference: r.bank_reference.clone(),
        amount: Some(money(&r.currency, r.amount)),
        unallocated_amount: Some(money(&r.currency, r.unallocated)),
        status: i32::from(r.status),
        payer: Some(RemittancePayer {
            name: r.payer_name.clone(),
            account_number_masked: r.payer_account_masked.clone(),
            bank_name: r.payer_bank_name.clone(),
            country_code: r.payer_country_code.clone(),
        }),
        remittance_info: r.remittance_info.clone(),
        value_time: time::opt_to_proto(r.value_time),
        create_time: Some(time::to_proto(r.created_at)),
        journal_entry_id: r.entry_id.to_string(),
        links: Vec::new(),
    }
}

/// What makes two reports of one bank reference the same remittance.
fn content_hash(req: &RecordInboundRemittanceRequest) -> Vec<u8> {
    let mut copy = req.clone();
    copy.request_id.clear();
    idempotency::request_hash("RecordInboundRemittance", &copy).to_vec()
}

/// A remittance as the bank reports it, checked.
struct Reported {
    account_number: String,
    reference: String,
    amount: kuajing_platform::Money,
    payer: kuajing_proto::wallet::v1::RemittancePayer,
    value_time: chrono::DateTime<chrono::Utc>,
}

/// Checks a bank's report (every violation at once): the account, the reference, a
/// positive amount, the payer's details, a value time at most 5 minutes ahead.
fn check_report(ctx: &Ctx, req: &RecordInboundRemittanceRequest) -> Result<Reported, Status> {
    let mut v = FieldViolations::new();
    let account_number = v
        .text("account_number", req.account_number.trim(), 34)
        .to_owned();
    if account_number.is_empty() {
        v.add("account_number", "is required");
    }
    let reference = v.text("bank_reference", &req.bank_reference, 64).to_owned();
    if reference.is_empty() {
        v.add("bank_reference", "is required");
    }
    let amount = v.positive_money("amount", req.amount.as_ref());
    let payer = req.payer.clone().unwrap_or_default();
    v.text("payer.name", &payer.name, 140);
    v.text(
        "payer.account_number_masked",
        &payer.account_number_masked,
        40,
    );
    v.text("payer.bank_name", &payer.bank_name, 140);
    if !(payer.country_code.is_empty()
        || (payer.country_code.len() == 2
            && payer.country_code.bytes().all(|b| b.is_ascii_uppercase())))
    {
        v.add(
            "payer.country_code",
            "must be an ISO 3166-1 alpha-2 code such as \"US\"",
        );
    }
    v.text("remittance_info", &req.remittance_info, 280);
    let value_time = match req.value_time.as_ref() {
        None => {
            v.add("value_time", "is required");
            None
        }
        Some(t) => match time::from_proto(t) {
            Some(t) if t <= ctx.now() + chrono::Duration::minutes(5) => Some(t),
            Some(_) => {
                v.add(
                    "value_time",
                    "must not be more than 5 minutes in the future",
                );
                None
            }
            None => {
                v.add("value_time", "is out of range");
                None
            }
        },
    };
    idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    Ok(Reported {
        account_number,
        reference,
        amount: amount.expect("ok"),
        payer,
        value_time: value_time.expect("ok"),
    })
}

/// RecordInboundRemittance: idempotent by request_id and by the bank's reference.
pub async fn record(
    ctx: &Ctx,
    req: RecordInboundRemittanceRequest,
) -> Result<RecordInboundRemittanceResponse, Status> {
    let reported = check_report(ctx, &req)?;
    let hash = content_hash(&req);
    let now = ctx.now();
    let request_id = idempotency::parse_request_id(&req.request_id)?;
    let (req, reported, hash) = (&req, &reported, &hash);
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "RecordInboundRemittance",
        &req.request_id,
        req,
        |mut tx| async move {
            let id = match recorded_before(&mut tx, ctx, &reported.reference, hash).await? {
                Some(id) => id,
                None => credit(&mut tx, ctx, reported, req, request_id, hash, now).await?,
            };
            let remittance = load(&mut tx, ctx, id).await?;
            Ok((
                RecordInboundRemittanceResponse {
                    remittance: Some(remittance),
                },
                tx,
            ))
        },
    )
    .await
}

/// The remittance already recorded under this bank reference, locked against concurrent
/// reports of it; BANK_REFERENCE_CONFLICT when it was reported with other contents.
async fn recorded_before(
    conn: &mut PgConnection,
    ctx: &Ctx,
    reference: &str,
    hash: &[u8],
) -> Result<Option<Uuid>, Status> {
    // One bank reference at a time: concurrent reports of it serialise here.
    store::remittances::lock_reference(&mut *conn, reference)
        .await
        .map_err(internal)?;
    let existing = store::remittances::by_reference(&mut *conn, reference)
        .await
        .map_err(internal)?;
    let Some((id, stored)) = existing else {
        return Ok(None);
    };
    if stored != hash {
        let mut md = HashMap::new();
        md.insert("remittance_id".to_owned(), id.to_string());
        return Err(ctx.errors().refuse_with(
            Code::AlreadyExists,
            BANK_REFERENCE_CONFLICT,
            "this bank reference was recorded with a different account, amount or payer",
            md,
        ));
    }
    Ok(Some(id))
}

/// A new remittance: the money posted from inbound clearing to the wallet (a top-up
/// account) or to escrow (an order's account, left unallocated until linked), and its row.
async fn credit(
    conn: &mut PgConnection,
    ctx: &Ctx,
    r: &Reported,
    req: &RecordInboundRemittanceRequest,
    request_id: Uuid,
    hash: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Uuid, Status> {
    let account = store::receiving_accounts::by_number(&mut *conn, &r.account_number)
        .await
        .map_err(internal)?;
    let Some((account_id, wallet_id, currency, purpose)) = account else {
        return Err(ctx.errors().refuse(
            Code::NotFound,
            RECEIVING_ACCOUNT_NOT_FOUND,
            "no receiving account has that account number",
        ));
    };
    let currency: Currency = currency.parse().map_err(internal)?;
    if currency != r.amount.currency() {
        return Err(currency_mismatch(
            ctx.errors(),
            &format!("receiving_account/{account_id}"),
            currency,
            r.amount.currency(),
        ));
    }
    let remittance_id = Uuid::now_v7();
    let top_up = i32::from(purpose) == ReceivingAccountPurpose::TopUp as i32;
    let clearing = AccountKey::platform(LedgerAccountKind::InboundClearing, currency);
    let destination = if top_up {
        AccountKey::available(wallet_id, currency, FundPool::Standard)
    } else {
        AccountKey::platform(LedgerAccountKind::Escrow, currency)
    };
    let cause = Cause {
        request_id,
        remittance_id: Some(remittance_id),
        ..Cause::default()
    };
    let mut draft = EntryDraft::new(
        JournalEntryType::InboundRemittance,
        cause,
        format!("Remittance {}", r.reference),
    );
    draft.transfer(clearing, destination, r.amount.amount());
    let posted = ledger::post(conn, &draft, now)
        .await
        .map_err(|e| post_error(ctx.errors(), e))?;
    let (status, unallocated) = if top_up {
        (RemittanceStatus::Credited, Decimal::ZERO)
    } else {
        (RemittanceStatus::Unallocated, r.amount.amount())
    };
    let row = RemittanceRow {
        remittance_id,
        receiving_account_id: account_id,
        wallet_id,
        bank_reference: r.reference.clone(),
        currency: currency.code().to_owned(),
        amount: r.amount.amount(),
        unallocated,
        status: status as i16,
        payer_name: r.payer.name.clone(),
        payer_account_masked: r.payer.account_number_masked.clone(),
        payer_bank_name: r.payer.bank_name.clone(),
        payer_country_code: r.payer.country_code.clone(),
        remittance_info: req.remittance_info.clone(),
        value_time: Some(r.value_time),
        entry_id: posted.entry_id,
        created_at: now,
    };
    store::remittances::insert(&mut *conn, &row, hash)
        .await
        .map_err(internal)?;
    Ok(remittance_id)
}

/// GetRemittance.
pub async fn get(ctx: &Ctx, req: GetRemittanceRequest) -> Result<GetRemittanceResponse, Status> {
    let mut v = FieldViolations::new();
    let id = v.uuid("remittance_id", &req.remittance_id);
    v.finish()?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    Ok(GetRemittanceResponse {
        remittance: Some(load(&mut conn, ctx, id.expect("ok")).await?),
    })
}

/// ListRemittances: newest first.
pub async fn list(
    ctx: &Ctx,
    req: ListRemittancesRequest,
) -> Result<ListRemittancesResponse, Status> {
    let mut v = FieldViolations::new();
    let wallet_id = v.uuid("wallet_id", &req.wallet_id);
    let account = v
        .optional_uuid("receiving_account_id", &req.receiving_account_id)
        .flatten();
    let mut statuses = Vec::new();
    for (i, s) in req.statuses.iter().enumerate() {
        if let Some(s) = v.enum_value::<RemittanceStatus>(&format!("statuses[{i}]"), *s) {
            statuses.push(s as i16);
        }
    }
    let (from, to) = v.time_range("value_time_range", req.value_time_range.as_ref());
    let page = Page::from_proto("page", req.page.as_ref(), &mut v);
    v.finish()?;
    let wallet_id = wallet_id.expect("ok");
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    require_wallet(&mut conn, ctx.errors(), wallet_id).await?;
    let filter = RemittanceFilter {
        wallet_id,
        receiving_account_id: account,
        statuses: &statuses,
        from,
        to,
    };
    let after = page.after.map(|c| (c.time, c.id));
    let ids = store::remittances::ids_of_wallet(&mut *conn, &filter, after, page.fetch_limit())
        .await
        .map_err(internal)?;
    let mut ids = ids;
    let page = page.finish(&mut ids, |(id, t)| Cursor { time: *t, id: *id });
    let mut remittances = Vec::with_capacity(ids.len());
    for (id, _) in ids {
        remittances.push(load(&mut conn, ctx, id).await?);
    }
    Ok(ListRemittancesResponse {
        remittances,
        page: Some(page),
    })
}

/// The remittance's currency, unless a link of `amount` cannot be made from it: nothing
/// left to link (REMITTANCE_ALREADY_LINKED), another currency (CURRENCY_MISMATCH), or more
/// than is unallocated (LINK_EXCEEDS_UNALLOCATED).
fn linkable_in(
    ctx: &Ctx,
    remittance_id: Uuid,
    (currency, unallocated, status): (&str, Decimal, i16),
    amount: &kuajing_platform::Money,
) -> Result<Currency, Status> {
    let currency: Currency = currency.parse().map_err(internal)?;
    let subject = format!("remittance/{remittance_id}");
    let linkable = [
        RemittanceStatus::Unallocated as i16,
        RemittanceStatus::PartiallyLinked as i16,
    ];
    if !linkable.contains(&status) || unallocated.is_zero() {
        return Err(ctx.errors().precondition(
            REMITTANCE_ALREADY_LINKED,
            subject,
            "nothing of this remittance is left to link",
        ));
    }
    if currency != amount.currency() {
        return Err(currency_mismatch(
            ctx.errors(),
            &subject,
            currency,
            amount.currency(),
        ));
    }
    if amount.amount() > unallocated {
        let mut md = HashMap::new();
        md.insert(
            "unallocated".to_owned(),
            format_amount(unallocated, currency),
        );
        return Err(ctx.errors().refuse_with(
            Code::FailedPrecondition,
            LINK_EXCEEDS_UNALLOCATED,
            format!(
                "only {} {currency} of this remittance is unallocated",
                format_amount(unallocated, currency)
            ),
            md,
        ));
    }
    Ok(currency)
}

/// Records a posted link: its GUARANTEE hold (if it made one), what stays unallocated of the
/// remittance (`left`) and its status, and the link itself.
async fn record_link(
    tx: &mut PgConnection,
    wallet_id: Uuid,
    link: &LinkRow,
    left: Decimal,
) -> Result<(), Status> {
    if let Some(hold_id) = link.hold_id {
        let hold = NewHold {
            hold_id,
            wallet_id,
            purpose: HoldPurpose::Guarantee as i16,
            currency: &link.currency,
            amount: link.amount,
            fund_pool: link.fund_pool,
            state: HoldState::Open as i16,
            order_id: &link.order_id,
            description: "Guarantee funds from a linked remittance",
            expire_at: None,
            created_at: link.created_at,
            create_entry_id: link.entry_id,
        };
        store::holds::insert(&mut *tx, &hold)
            .await
            .map_err(internal)?;
    }
    let status = if left.is_zero() {
        RemittanceStatus::Linked
    } else {
        RemittanceStatus::PartiallyLinked
    };
    store::remittances::set_unallocated(&mut *tx, link.remittance_id, left, status as i16)
        .await
        .map_err(internal)?;
    store::remittances::insert_link(&mut *tx, link)
        .await
        .map_err(internal)
}

/// LinkRemittance: irreversible.
pub async fn link(ctx: &Ctx, req: LinkRemittanceRequest) -> Result<LinkRemittanceResponse, Status> {
    let mut v = FieldViolations::new();
    let remittance_id = v.uuid("remittance_id", &req.remittance_id);
    let order_id = v.text("order_id", req.order_id.trim(), 64).to_owned();
    if order_id.is_empty() {
        v.add("order_id", "is required");
    }
    let part: Option<OrderPaymentPart> = v.enum_value("payment_part", req.payment_part);
    let amount = v.positive_money("amount", req.amount.as_ref());
    let disposition: Option<LinkDisposition> = v.enum_value("disposition", req.disposition);
    let pool = v.enum_or("fund_pool", req.fund_pool, FundPool::Standard);
    idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    let (remittance_id, part, amount, disposition, pool) = (
        remittance_id.expect("ok"),
        part.expect("ok"),
        amount.expect("ok"),
        disposition.expect("ok"),
        pool,
    );
    let request_id = idempotency::parse_request_id(&req.request_id)?;
    let now = ctx.now();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "LinkRemittance",
        &req.request_id,
        &req,
        |mut tx| async move {
            let row = store::remittances::linkable_for_update(&mut *tx, remittance_id)
                .await
                .map_err(internal)?;
            let Some(store::remittances::Linkable {
                wallet_id,
                currency,
                unallocated,
                status,
            }) = row
            else {
                return Err(ctx
                    .errors()
                    .not_found("remittance", remittance_id.to_string()));
            };
            let currency = linkable_in(
                ctx,
                remittance_id,
                (&currency, unallocated, status),
                &amount,
            )?;
            let link_id = Uuid::now_v7();
            let hold_id = (disposition == LinkDisposition::Guarantee).then(Uuid::now_v7);
            let to = match disposition {
                LinkDisposition::Guarantee => AccountKey::held(wallet_id, currency),
                _ => AccountKey::available(wallet_id, currency, pool),
            };
            let cause = Cause {
                request_id,
                order_id: order_id.clone(),
                remittance_id: Some(remittance_id),
                remittance_link_id: Some(link_id),
                hold_id,
                ..Cause::default()
            };
            let mut draft = EntryDraft::new(
                JournalEntryType::RemittanceLink,
                cause,
                format!("Linked to order {order_id}"),
            );
            draft.transfer(
                AccountKey::platform(LedgerAccountKind::Escrow, currency),
                to,
                amount.amount(),
            );
            let posted = ledger::post(&mut tx, &draft, now)
                .await
                .map_err(|e| post_error(ctx.errors(), e))?;
            let link = LinkRow {
                remittance_link_id: link_id,
                remittance_id,
                order_id: order_id.clone(),
                payment_part: part as i16,
                currency: currency.code().to_owned(),
                amount: amount.amount(),
                disposition: disposition as i16,
                fund_pool: pool as i16,
                hold_id,
                entry_id: posted.entry_id,
                created_at: now,
            };
            record_link(&mut tx, wallet_id, &link, unallocated - amount.amount()).await?;
            let remittance = load(&mut tx, ctx, remittance_id).await?;
            let link = remittance
                .links
                .iter()
                .find(|l| l.remittance_link_id == link_id.to_string())
                .cloned();
            Ok((
                LinkRemittanceResponse {
                    link,
                    remittance: Some(remittance),
                },
                tx,
            ))
        },
    )
    .await
}
