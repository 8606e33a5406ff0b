//! Receiving (collection) accounts: created instantly with generated bank details.

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::page::Page;
use kuajing_platform::{Currency, FieldViolations, idempotency, time};
use kuajing_proto::wallet::v1::{
    BankDetails, CreateReceivingAccountRequest, CreateReceivingAccountResponse,
    ListReceivingAccountsRequest, ListReceivingAccountsResponse, ReceivingAccount,
    ReceivingAccountPurpose,
};
use sqlx::Row;
use sqlx::postgres::PgRow;
use tonic::Status;
use uuid::Uuid;

use super::{Ctx, require_wallet};
use crate::domain::bank;

/// Receiving accounts a wallet may have.
pub const MAX_RECEIVING_ACCOUNTS: i64 = 50;
/// Reason: the wallet has the maximum number of receiving accounts.
pub const RECEIVING_ACCOUNT_LIMIT_REACHED: &str = "RECEIVING_ACCOUNT_LIMIT_REACHED";

const COLUMNS: &str =
    "receiving_account_id, wallet_id, currency, display_name, purpose, account_number,
    holder_name, bank_name, bank_address, bank_country_code, swift_code, routing_code_type,
    routing_code, iban, created_at";

/// A row as the wire shows it.
pub fn from_row(r: &PgRow) -> Result<ReceivingAccount, sqlx::Error> {
    let id: Uuid = r.try_get("receiving_account_id")?;
    let wallet: Uuid = r.try_get("wallet_id")?;
    let created: DateTime<Utc> = r.try_get("created_at")?;
    Ok(ReceivingAccount {
        receiving_account_id: id.to_string(),
        wallet_id: wallet.to_string(),
        currency_code: r.try_get("currency")?,
        display_name: r.try_get("display_name")?,
        purpose: i32::from(r.try_get::<i16, _>("purpose")?),
        bank_details: Some(BankDetails {
            account_holder_name: r.try_get("holder_name")?,
            account_number: r.try_get("account_number")?,
            iban: r.try_get("iban")?,
            bank_name: r.try_get("bank_name")?,
            bank_address: r.try_get("bank_address")?,
            bank_country_code: r.try_get("bank_country_code")?,
            swift_code: r.try_get("swift_code")?,
            routing_code_type: i32::from(r.try_get::<i16, _>("routing_code_type")?),
            routing_code: r.try_get("routing_code")?,
        }),
        create_time: Some(time::to_proto(created)),
    })
}

/// CreateReceivingAccount.
pub async fn create(
    ctx: &Ctx,
    req: CreateReceivingAccountRequest,
) -> Result<CreateReceivingAccountResponse, Status> {
    let mut v = FieldViolations::new();
    let wallet_id = v.uuid("wallet_id", &req.wallet_id);
    let currency = v.check("currency_code", req.currency_code.parse::<Currency>());
    let purpose: Option<ReceivingAccountPurpose> = v.enum_value("purpose", req.purpose);
    let name = v
        .text("display_name", req.display_name.trim(), 64)
        .to_owned();
    if name.is_empty() {
        v.add("display_name", "is required");
    }
    if let (Some(c), Some(p)) = (currency, purpose)
        && !bank::purpose_takes(p, c)
    {
        v.add(
            "currency_code",
            format!("a {} account cannot take {c}", p.as_str_name()),
        );
    }
    idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    let (wallet_id, currency, purpose) = (
        wallet_id.expect("ok"),
        currency.expect("ok"),
        purpose.expect("ok"),
    );
    let now = ctx.now();
    idempotency::run(&ctx.svc.pool, ctx.errors(), "CreateReceivingAccount", &req.request_id, &req, |mut tx| async move {
        // Lock the wallet row so the count below cannot race another creation.
        let holder: Option<Uuid> = sqlx::query_scalar("SELECT owner_account_id FROM wallets WHERE wallet_id = $1 FOR UPDATE")
            .bind(wallet_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(internal)?;
        let Some(holder) = holder else {
            return Err(ctx.errors().not_found("wallet", wallet_id.to_string()));
        };
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM receiving_accounts WHERE wallet_id = $1")
            .bind(wallet_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(internal)?;
        if count >= MAX_RECEIVING_ACCOUNTS {
            return Err(ctx.errors().precondition(
                RECEIVING_ACCOUNT_LIMIT_REACHED,
                format!("wallet/{wallet_id}"),
                format!("a wallet may have at most {MAX_RECEIVING_ACCOUNTS} receiving accounts"),
            ));
        }
        let id = Uuid::now_v7();
        let d = bank::details_for(id, currency);
        let sql = format!(
            "INSERT INTO receiving_accounts ({COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)
             RETURNING {COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(wallet_id)
            .bind(currency.code())
            .bind(&name)
            .bind(purpose as i16)
            .bind(&d.account_number)
            .bind(format!("Kuajing client {}", &holder.simple().to_string()[..12]))
            .bind(&d.bank_name)
            .bind(&d.bank_address)
            .bind(&d.bank_country_code)
            .bind(&d.swift_code)
            .bind(d.routing_code_type as i16)
            .bind(&d.routing_code)
            .bind(&d.iban)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(internal)?;
        let account = from_row(&row).map_err(internal)?;
        Ok((CreateReceivingAccountResponse { receiving_account: Some(account) }, tx))
    })
    .await
}

/// ListReceivingAccounts: oldest first.
pub async fn list(
    ctx: &Ctx,
    req: ListReceivingAccountsRequest,
) -> Result<ListReceivingAccountsResponse, Status> {
    let mut v = FieldViolations::new();
    let wallet_id = v.uuid("wallet_id", &req.wallet_id);
    let currency = if req.currency_code.is_empty() {
        None
    } else {
        v.check("currency_code", req.currency_code.parse::<Currency>())
    };
    let page = Page::from_proto("page", req.page.as_ref(), &mut v);
    v.finish()?;
    let wallet_id = wallet_id.expect("ok");
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    require_wallet(&mut conn, ctx.errors(), wallet_id).await?;
    let sql = format!(
        "SELECT {COLUMNS} FROM receiving_accounts
         WHERE wallet_id = $1 AND ($2::text IS NULL OR currency = $2)
           AND ($3::timestamptz IS NULL OR (created_at, receiving_account_id) > ($3, $4))
         ORDER BY created_at, receiving_account_id LIMIT $5"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(wallet_id)
        .bind(currency.map(|c| c.code()))
        .bind(page.after.map(|c| c.time))
        .bind(page.after.map(|c| c.id))
        .bind(page.fetch_limit())
        .fetch_all(&mut *conn)
        .await
        .map_err(internal)?;
    let (receiving_accounts, page) =
        page.of_rows(&rows, ("created_at", "receiving_account_id"), |r| {
            from_row(r).map_err(internal)
        })?;
    Ok(ListReceivingAccountsResponse {
        receiving_accounts,
        page: Some(page),
    })
}
