//! Bank accounts a wallet withdraws to: registered once each (found again by a keyed
//! fingerprint of the number, never the number itself), listed by their owner.

use std::collections::HashMap;

use kuajing_platform::error::internal;
use kuajing_platform::page::{Cursor, Page};
use kuajing_platform::{Currency, FieldViolations, idempotency, time};
use kuajing_proto::wallet::v1::{
    BankAccount, BankAccountType, ListBankAccountsRequest, ListBankAccountsResponse,
    RegisterBankAccountRequest, RegisterBankAccountResponse,
};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use tonic::{Code, Status};
use uuid::Uuid;

use super::BANK_ACCOUNT_ALREADY_REGISTERED;
use crate::ops::{Ctx, require_wallet};
use crate::store::{self, bank_accounts::BankAccountRow};

/// A bank-account number's keyed fingerprint (BLAKE2b MAC under the wallet's fingerprint
/// key): it finds a number registered again, and a database dump cannot be searched for a
/// guessed number without the key.
pub(super) fn fingerprint(key: &[u8; 32], account_number: &str) -> Vec<u8> {
    use blake2::digest::{KeyInit, Mac};
    let mut mac = <blake2::Blake2bMac<blake2::digest::consts::U32> as KeyInit>::new_from_slice(key)
        .expect("a 32-byte key fits BLAKE2b");
    mac.update(b"kuajing.wallet.bank_account.v2\0");
    mac.update(account_number.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The bank account of `wallet` with one of `fingerprints`, at that bank, in that currency.
pub(super) async fn registered(
    tx: &mut PgConnection,
    wallet_id: Uuid,
    fingerprints: &[Vec<u8>],
    bank_name: &str,
    currency: Currency,
) -> Result<Option<Uuid>, Status> {
    store::bank_accounts::registered(tx, wallet_id, fingerprints, bank_name, currency.code())
        .await
        .map_err(internal)
}

/// The unkeyed fingerprint rows registered before the keyed one carry (still matched, so a
/// number registered then is still found; new rows never store it).
pub(super) fn legacy_fingerprint(account_number: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"kuajing.wallet.bank_account.v1\0");
    h.update(account_number.as_bytes());
    h.finalize().to_vec()
}

pub(super) fn is_code(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_uppercase())
}

pub(super) fn bank_from_row(r: &BankAccountRow) -> BankAccount {
    BankAccount {
        bank_account_id: r.bank_account_id.to_string(),
        wallet_id: r.wallet_id.to_string(),
        r#type: i32::from(r.account_type),
        holder_name: r.holder_name.clone(),
        bank_name: r.bank_name.clone(),
        branch_name: r.branch_name.clone(),
        account_number_masked: format!("****{}", r.account_last4),
        swift_code: r.swift_code.clone(),
        routing_code: r.routing_code.clone(),
        country_code: r.country_code.clone(),
        currency_code: r.currency.clone(),
        create_time: Some(time::to_proto(r.created_at)),
    }
}

/// A RegisterBankAccount request that passed validation.
struct Registration {
    wallet_id: Uuid,
    ty: BankAccountType,
    currency: Currency,
    /// The account number without spaces.
    number: String,
}

impl Registration {
    /// Checks every field of `req` at once.
    fn of(req: &RegisterBankAccountRequest) -> Result<Registration, Status> {
        let mut v = FieldViolations::new();
        let wallet_id = v.uuid("wallet_id", &req.wallet_id);
        let ty: Option<BankAccountType> = v.enum_value("type", req.r#type);
        for (field, value, max) in [
            ("holder_name", &req.holder_name, 140),
            ("bank_name", &req.bank_name, 140),
        ] {
            if v.text(field, value.trim(), max).is_empty() {
                v.add(field, "is required");
            }
        }
        v.text("branch_name", &req.branch_name, 140);
        let number: String = req
            .account_number
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if number.len() < 4
            || number.len() > 34
            || !number.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            v.add("account_number", "must be 4 to 34 letters and digits");
        }
        if !(req.swift_code.is_empty()
            || ((req.swift_code.len() == 8 || req.swift_code.len() == 11)
                && req
                    .swift_code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())))
        {
            v.add("swift_code", "must be 8 or 11 characters of A-Z and 0-9");
        }
        v.text("routing_code", &req.routing_code, 34);
        if !is_code(&req.country_code, 2) {
            v.add(
                "country_code",
                "must be an ISO 3166-1 alpha-2 code such as \"CN\"",
            );
        }
        let currency = v.check("currency_code", req.currency_code.parse::<Currency>());
        let request_id = idempotency::parse_request_id(&req.request_id)?;
        v.finish()?;
        let _ = request_id;
        Ok(Registration {
            wallet_id: wallet_id.expect("ok"),
            ty: ty.expect("ok"),
            currency: currency.expect("ok"),
            number,
        })
    }
}

/// RegisterBankAccount.
pub async fn register_bank_account(
    ctx: &Ctx,
    req: RegisterBankAccountRequest,
) -> Result<RegisterBankAccountResponse, Status> {
    let Registration {
        wallet_id,
        ty,
        currency,
        number,
    } = Registration::of(&req)?;
    let now = ctx.now();
    let fp = fingerprint(&ctx.fingerprint_key, &number);
    let legacy = legacy_fingerprint(&number);
    let last4: String = number[number.len() - 4..].to_owned();
    // The idempotency record keeps a plain hash of the request: of the number it sees only
    // the keyed fingerprint, or a dump would let the number be guessed from it.
    let recorded = RegisterBankAccountRequest {
        account_number: fp.iter().map(|b| format!("{b:02x}")).collect(),
        ..req.clone()
    };
    let req = &req;
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "RegisterBankAccount",
        &req.request_id,
        &recorded,
        |mut tx| async move {
            require_wallet(&mut tx, ctx.errors(), wallet_id).await?;
            let id = Uuid::now_v7();
            let fingerprints = [fp.clone(), legacy.clone()];
            let bank_name = req.bank_name.trim();
            let row =
                match registered(&mut tx, wallet_id, &fingerprints, bank_name, currency).await? {
                    Some(_) => None,
                    None => {
                        let new = BankAccountRow {
                            bank_account_id: id,
                            wallet_id,
                            account_type: ty as i16,
                            holder_name: req.holder_name.trim().to_owned(),
                            bank_name: bank_name.to_owned(),
                            branch_name: req.branch_name.clone(),
                            account_fingerprint: fp.clone(),
                            account_last4: last4.clone(),
                            swift_code: req.swift_code.clone(),
                            routing_code: req.routing_code.clone(),
                            country_code: req.country_code.clone(),
                            currency: currency.code().to_owned(),
                            created_at: now,
                        };
                        store::bank_accounts::insert(&mut *tx, &new)
                            .await
                            .map_err(internal)?
                    }
                };
            let Some(row) = row else {
                // Registered before, or by a concurrent request that won the insert.
                let existing = registered(&mut tx, wallet_id, &fingerprints, bank_name, currency)
                    .await?
                    .ok_or_else(|| internal("a conflicting bank account vanished"))?;
                let mut md = HashMap::new();
                md.insert("bank_account_id".to_owned(), existing.to_string());
                return Err(ctx.errors().refuse_with(
                    Code::AlreadyExists,
                    BANK_ACCOUNT_ALREADY_REGISTERED,
                    "this bank account is already registered",
                    md,
                ));
            };
            Ok((
                RegisterBankAccountResponse {
                    bank_account: Some(bank_from_row(&row)),
                },
                tx,
            ))
        },
    )
    .await
}

/// ListBankAccounts: oldest first.
pub async fn list_bank_accounts(
    ctx: &Ctx,
    req: ListBankAccountsRequest,
) -> Result<ListBankAccountsResponse, Status> {
    let mut v = FieldViolations::new();
    let wallet_id = v.uuid("wallet_id", &req.wallet_id);
    let page = Page::from_proto("page", req.page.as_ref(), &mut v);
    v.finish()?;
    let wallet_id = wallet_id.expect("ok");
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    require_wallet(&mut conn, ctx.errors(), wallet_id).await?;
    let after = page.after.map(|c| (c.time, c.id));
    let mut rows =
        store::bank_accounts::of_wallet(&mut *conn, wallet_id, after, page.fetch_limit())
            .await
            .map_err(internal)?;
    let page = page.finish(&mut rows, |r| Cursor {
        time: r.created_at,
        id: r.bank_account_id,
    });
    let bank_accounts = rows.iter().map(bank_from_row).collect();
    Ok(ListBankAccountsResponse {
        bank_accounts,
        page: Some(page),
    })
}
