//! Receiving (collection) accounts: created instantly with generated bank details.

use kuajing_platform::error::internal;
use kuajing_platform::page::{Cursor, Page};
use kuajing_platform::{Currency, FieldViolations, idempotency, time};
use kuajing_proto::wallet::v1::{
    BankDetails, CreateReceivingAccountRequest, CreateReceivingAccountResponse,
    ListReceivingAccountsRequest, ListReceivingAccountsResponse, ReceivingAccount,
    ReceivingAccountPurpose,
};
use tonic::Status;
use uuid::Uuid;

use super::{Ctx, require_wallet};
use crate::domain::bank;
use crate::store::{self, receiving_accounts::ReceivingRow};

/// Receiving accounts a wallet may have.
pub const MAX_RECEIVING_ACCOUNTS: i64 = 50;
/// Reason: the wallet has the maximum number of receiving accounts.
pub use kuajing_proto::reasons::wallet::RECEIVING_ACCOUNT_LIMIT_REACHED;

/// A row as the wire shows it.
pub fn from_row(r: &ReceivingRow) -> ReceivingAccount {
    ReceivingAccount {
        receiving_account_id: r.receiving_account_id.to_string(),
        wallet_id: r.wallet_id.to_string(),
        currency_code: r.currency.clone(),
        display_name: r.display_name.clone(),
        purpose: i32::from(r.purpose),
        bank_details: Some(BankDetails {
            account_holder_name: r.holder_name.clone(),
            account_number: r.account_number.clone(),
            iban: r.iban.clone(),
            bank_name: r.bank_name.clone(),
            bank_address: r.bank_address.clone(),
            bank_country_code: r.bank_country_code.clone(),
            swift_code: r.swift_code.clone(),
            routing_code_type: i32::from(r.routing_code_type),
            routing_code: r.routing_code.clone(),
        }),
        create_time: Some(time::to_proto(r.created_at)),
    }
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
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "CreateReceivingAccount",
        &req.request_id,
        &req,
        |mut tx| async move {
            // Lock the wallet row so the count below cannot race another creation.
            let holder = store::wallets::owner_for_update(&mut *tx, wallet_id)
                .await
                .map_err(internal)?;
            let Some(holder) = holder else {
                return Err(ctx.errors().not_found("wallet", wallet_id.to_string()));
            };
            let count = store::receiving_accounts::count_of_wallet(&mut *tx, wallet_id)
                .await
                .map_err(internal)?;
            if count >= MAX_RECEIVING_ACCOUNTS {
                return Err(ctx.errors().precondition(
                    RECEIVING_ACCOUNT_LIMIT_REACHED,
                    format!("wallet/{wallet_id}"),
                    format!(
                        "a wallet may have at most {MAX_RECEIVING_ACCOUNTS} receiving accounts"
                    ),
                ));
            }
            let id = Uuid::now_v7();
            let d = bank::details_for(id, currency);
            let row = ReceivingRow {
                receiving_account_id: id,
                wallet_id,
                currency: currency.code().to_owned(),
                display_name: name.clone(),
                purpose: purpose as i16,
                account_number: d.account_number,
                holder_name: format!("Kuajing client {}", &holder.simple().to_string()[..12]),
                bank_name: d.bank_name,
                bank_address: d.bank_address,
                bank_country_code: d.bank_country_code,
                swift_code: d.swift_code,
                routing_code_type: d.routing_code_type as i16,
                routing_code: d.routing_code,
                iban: d.iban,
                created_at: now,
            };
            store::receiving_accounts::insert(&mut *tx, &row)
                .await
                .map_err(internal)?;
            let account = from_row(&row);
            Ok((
                CreateReceivingAccountResponse {
                    receiving_account: Some(account),
                },
                tx,
            ))
        },
    )
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
    let after = page.after.map(|c| (c.time, c.id));
    let code = currency.map(|c| c.code());
    let mut rows = store::receiving_accounts::of_wallet(
        &mut *conn,
        wallet_id,
        code,
        after,
        page.fetch_limit(),
    )
    .await
    .map_err(internal)?;
    let page = page.finish(&mut rows, |r| Cursor {
        time: r.created_at,
        id: r.receiving_account_id,
    });
    let receiving_accounts = rows.iter().map(from_row).collect();
    Ok(ListReceivingAccountsResponse {
        receiving_accounts,
        page: Some(page),
    })
}
