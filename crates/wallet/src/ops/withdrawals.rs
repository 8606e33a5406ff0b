//! Bank accounts and withdrawals: the fee schedule (data), limits, the payment PIN checked
//! by identity, and REQUESTED -> PROCESSING -> COMPLETED or FAILED (a failure reverses).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::outbound;
use kuajing_platform::page::{Cursor, Page};
use kuajing_platform::{Currency, FieldViolations, Money, idempotency, time};
use kuajing_proto::fx::v1::{GetEquivalentRequest, fx_service_client::FxServiceClient};
use kuajing_proto::identity::v1::{
    GetSupplierProfileRequest, SupplierMembership, VerifyPaymentPinRequest,
    identity_service_client::IdentityServiceClient,
};
use kuajing_proto::wallet::v1::{
    BankAccount, BankAccountType, CreateWithdrawalRequest, CreateWithdrawalResponse,
    EstimateWithdrawalFeeRequest, EstimateWithdrawalFeeResponse, FundPool, GetWithdrawalRequest,
    GetWithdrawalResponse, JournalEntryType, LedgerAccountKind, ListBankAccountsRequest,
    ListBankAccountsResponse, ListWithdrawalFeeRulesRequest, ListWithdrawalFeeRulesResponse,
    ListWithdrawalsRequest, ListWithdrawalsResponse, MembershipTier, RegisterBankAccountRequest,
    RegisterBankAccountResponse, UpdateWithdrawalStatusRequest, UpdateWithdrawalStatusResponse,
    Withdrawal, WithdrawalFeeRule, WithdrawalStatus,
};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use tonic::{Code, Status};
use uuid::Uuid;

use super::{Ctx, currency_mismatch, post_error, require_wallet};
use crate::domain::ledger::{AccountKey, Cause, EntryDraft, Leg};
use crate::domain::withdrawal::{self, FeeRule, Route};
use crate::ledger;

/// Reason: the withdrawal exceeds its per-withdrawal limit.
pub const WITHDRAWAL_LIMIT_EXCEEDED: &str = "WITHDRAWAL_LIMIT_EXCEEDED";
/// Reason: no fee rule covers this pool, currency and account type.
pub const WITHDRAWAL_ROUTE_NOT_SUPPORTED: &str = "WITHDRAWAL_ROUTE_NOT_SUPPORTED";
/// Reason: the supplier's region withdraws in another currency only (Hong Kong and Taiwan:
/// USD).
pub const WITHDRAWAL_CURRENCY_NOT_ALLOWED: &str = "WITHDRAWAL_CURRENCY_NOT_ALLOWED";
/// Reason: the fee would take the whole amount (or more): nothing would reach the bank.
pub const WITHDRAWAL_AMOUNT_BELOW_FEE: &str = "WITHDRAWAL_AMOUNT_BELOW_FEE";
/// Reason: the status cannot move that way.
pub const INVALID_STATUS_TRANSITION: &str = "INVALID_STATUS_TRANSITION";
/// Reason: the bank account is already registered.
pub const BANK_ACCOUNT_ALREADY_REGISTERED: &str = "BANK_ACCOUNT_ALREADY_REGISTERED";

/// A bank-account number's keyed fingerprint (BLAKE2b MAC under the wallet's fingerprint
/// key): it finds a number registered again, and a database dump cannot be searched for a
/// guessed number without the key.
fn fingerprint(key: &[u8; 32], account_number: &str) -> Vec<u8> {
    use blake2::digest::{KeyInit, Mac};
    let mut mac = <blake2::Blake2bMac<blake2::digest::consts::U32> as KeyInit>::new_from_slice(key)
        .expect("a 32-byte key fits BLAKE2b");
    mac.update(b"kuajing.wallet.bank_account.v2\0");
    mac.update(account_number.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The bank account of `wallet` with one of `fingerprints`, at that bank, in that currency.
async fn registered(
    tx: &mut PgConnection,
    wallet_id: Uuid,
    fingerprints: &[Vec<u8>],
    bank_name: &str,
    currency: Currency,
) -> Result<Option<Uuid>, Status> {
    sqlx::query_scalar(
        "SELECT bank_account_id FROM bank_accounts WHERE wallet_id = $1
         AND account_fingerprint = ANY($2) AND bank_name = $3 AND currency = $4",
    )
    .bind(wallet_id)
    .bind(fingerprints)
    .bind(bank_name)
    .bind(currency.code())
    .fetch_optional(tx)
    .await
    .map_err(internal)
}

/// The unkeyed fingerprint rows registered before the keyed one carry (still matched, so a
/// number registered then is still found; new rows never store it).
fn legacy_fingerprint(account_number: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"kuajing.wallet.bank_account.v1\0");
    h.update(account_number.as_bytes());
    h.finalize().to_vec()
}

fn is_code(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_uppercase())
}

fn bank_from_row(r: &PgRow) -> Result<BankAccount, sqlx::Error> {
    let created: DateTime<Utc> = r.try_get("created_at")?;
    Ok(BankAccount {
        bank_account_id: r.try_get::<Uuid, _>("bank_account_id")?.to_string(),
        wallet_id: r.try_get::<Uuid, _>("wallet_id")?.to_string(),
        r#type: i32::from(r.try_get::<i16, _>("type")?),
        holder_name: r.try_get("holder_name")?,
        bank_name: r.try_get("bank_name")?,
        branch_name: r.try_get("branch_name")?,
        account_number_masked: format!("****{}", r.try_get::<String, _>("account_last4")?),
        swift_code: r.try_get("swift_code")?,
        routing_code: r.try_get("routing_code")?,
        country_code: r.try_get("country_code")?,
        currency_code: r.try_get("currency")?,
        create_time: Some(time::to_proto(created)),
    })
}

/// RegisterBankAccount.
pub async fn register_bank_account(
    ctx: &Ctx,
    req: RegisterBankAccountRequest,
) -> Result<RegisterBankAccountResponse, Status> {
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
    if number.len() < 4 || number.len() > 34 || !number.bytes().all(|b| b.is_ascii_alphanumeric()) {
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
    let (wallet_id, ty, currency) = (
        wallet_id.expect("ok"),
        ty.expect("ok"),
        currency.expect("ok"),
    );
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
    idempotency::run(&ctx.svc.pool, ctx.errors(), "RegisterBankAccount", &req.request_id, &recorded, |mut tx| async move {
        require_wallet(&mut tx, ctx.errors(), wallet_id).await?;
        let id = Uuid::now_v7();
        let fingerprints = [fp.clone(), legacy.clone()];
        let bank_name = req.bank_name.trim();
        let row = match registered(&mut tx, wallet_id, &fingerprints, bank_name, currency).await? {
            Some(_) => None,
            None => sqlx::query(
            "INSERT INTO bank_accounts (bank_account_id, wallet_id, type, holder_name, bank_name, branch_name,
                 account_fingerprint, account_last4, swift_code, routing_code, country_code, currency, created_at)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)
             ON CONFLICT (wallet_id, account_fingerprint, bank_name, currency) DO NOTHING
             RETURNING *",
        )
        .bind(id)
        .bind(wallet_id)
        .bind(ty as i16)
        .bind(req.holder_name.trim())
        .bind(req.bank_name.trim())
        .bind(&req.branch_name)
        .bind(&fp)
        .bind(&last4)
        .bind(&req.swift_code)
        .bind(&req.routing_code)
        .bind(&req.country_code)
        .bind(currency.code())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(internal)?,
        };
        let Some(row) = row else {
            // Registered before, or by a concurrent request that won the insert.
            let existing = registered(&mut tx, wallet_id, &fingerprints, bank_name, currency)
                .await?
                .ok_or_else(|| internal("a conflicting bank account vanished"))?;
            let mut md = HashMap::new();
            md.insert("bank_account_id".to_owned(), existing.to_string());
            return Err(ctx.errors().refuse_with(Code::AlreadyExists, BANK_ACCOUNT_ALREADY_REGISTERED, "this bank account is already registered", md));
        };
        Ok((RegisterBankAccountResponse { bank_account: Some(bank_from_row(&row).map_err(internal)?) }, tx))
    })
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
    let rows = sqlx::query(
        "SELECT * FROM bank_accounts WHERE wallet_id = $1
           AND ($2::timestamptz IS NULL OR (created_at, bank_account_id) > ($2, $3))
         ORDER BY created_at, bank_account_id LIMIT $4",
    )
    .bind(wallet_id)
    .bind(page.after.map(|c| c.time))
    .bind(page.after.map(|c| c.id))
    .bind(page.fetch_limit())
    .fetch_all(&mut *conn)
    .await
    .map_err(internal)?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        let cursor = Cursor {
            time: r.try_get("created_at").map_err(internal)?,
            id: r.try_get("bank_account_id").map_err(internal)?,
        };
        items.push((cursor, bank_from_row(r).map_err(internal)?));
    }
    let page = page.finish(&mut items, |(c, _)| *c);
    Ok(ListBankAccountsResponse {
        bank_accounts: items.into_iter().map(|(_, b)| b).collect(),
        page: Some(page),
    })
}

async fn load_rules(conn: &mut PgConnection) -> Result<Vec<(FeeRule, PgRow)>, Status> {
    let rows = sqlx::query("SELECT * FROM withdrawal_fee_rules WHERE active ORDER BY fee_rule_id")
        .fetch_all(conn)
        .await
        .map_err(internal)?;
    rows.into_iter()
        .map(|r| {
            let currency: String = r.try_get("currency").map_err(internal)?;
            let limit_currency: String = r.try_get("limit_currency").map_err(internal)?;
            let rule = FeeRule {
                id: r.try_get("fee_rule_id").map_err(internal)?,
                fund_pool: i32::from(r.try_get::<i16, _>("fund_pool").map_err(internal)?),
                currency: if currency.is_empty() {
                    None
                } else {
                    Some(currency.parse().map_err(internal)?)
                },
                bank_account_type: i32::from(
                    r.try_get::<i16, _>("bank_account_type").map_err(internal)?,
                ),
                membership_tier: i32::from(
                    r.try_get::<i16, _>("membership_tier").map_err(internal)?,
                ),
                fixed_fee: r.try_get("fixed_fee").map_err(internal)?,
                fee_percent: r.try_get("fee_percent").map_err(internal)?,
                limit: r.try_get("limit_amount").map_err(internal)?,
                limit_currency: limit_currency.parse().map_err(internal)?,
            };
            Ok((rule, r))
        })
        .collect()
}

fn rule_proto(rule: &FeeRule, row: &PgRow) -> Result<WithdrawalFeeRule, Status> {
    let fixed_currency: Currency = row
        .try_get::<String, _>("fixed_fee_currency")
        .map_err(internal)?
        .parse()
        .map_err(internal)?;
    Ok(WithdrawalFeeRule {
        fee_rule_id: rule.id.to_string(),
        fund_pool: rule.fund_pool,
        currency_code: rule
            .currency
            .map(|c| c.code().to_owned())
            .unwrap_or_default(),
        bank_account_type: rule.bank_account_type,
        membership_tier: rule.membership_tier,
        fixed_fee: Some(
            Money::rounded(fixed_currency, rule.fixed_fee)
                .map_err(internal)?
                .to_proto(),
        ),
        fee_percent: rule.fee_percent.normalize().to_string(),
        per_withdrawal_limit: match rule.limit {
            Some(l) => Some(
                Money::rounded(rule.limit_currency, l)
                    .map_err(internal)?
                    .to_proto(),
            ),
            None => None,
        },
        min_business_days: row.try_get("min_business_days").map_err(internal)?,
        max_business_days: row.try_get("max_business_days").map_err(internal)?,
    })
}

/// ListWithdrawalFeeRules (the schedule is small: one page).
pub async fn list_fee_rules(
    ctx: &Ctx,
    req: ListWithdrawalFeeRulesRequest,
) -> Result<ListWithdrawalFeeRulesResponse, Status> {
    let mut v = FieldViolations::new();
    let _ = Page::from_proto("page", req.page.as_ref(), &mut v);
    v.finish()?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    let rules = load_rules(&mut conn).await?;
    let fee_rules = rules
        .iter()
        .map(|(r, row)| rule_proto(r, row))
        .collect::<Result<_, _>>()?;
    Ok(ListWithdrawalFeeRulesResponse {
        fee_rules,
        page: Some(Default::default()),
    })
}

/// The wallet's owner, its membership tier and region (from identity's supplier profile; a
/// buyer without one counts as any tier, of no region).
async fn owner_and_tier(
    ctx: &Ctx,
    conn: &mut PgConnection,
    wallet_id: Uuid,
) -> Result<(Uuid, MembershipTier, String), Status> {
    let owner: Uuid =
        sqlx::query_scalar("SELECT owner_account_id FROM wallets WHERE wallet_id = $1")
            .bind(wallet_id)
            .fetch_optional(conn)
            .await
            .map_err(internal)?
            .ok_or_else(|| ctx.errors().not_found("wallet", wallet_id.to_string()))?;
    let identity = IdentityServiceClient::new(ctx.svc.peers.channel("identity").map_err(internal)?);
    let request = GetSupplierProfileRequest {
        account_id: owner.to_string(),
    };
    let profile = match outbound::unary(&identity, request, |mut c, r| async move {
        c.get_supplier_profile(r).await
    })
    .await
    {
        Ok(r) => r.supplier_profile,
        Err(s) if s.code() == Code::NotFound => None,
        Err(s) => return Err(s),
    };
    let tier = match profile.as_ref().map(|p| p.membership()) {
        Some(SupplierMembership::Free) => MembershipTier::Free,
        Some(SupplierMembership::Paid) => MembershipTier::Paid,
        _ => MembershipTier::Unspecified,
    };
    let region = profile.map(|p| p.region_code).unwrap_or_default();
    Ok((owner, tier, region))
}

/// `amount` in the limit's currency (asks fx when they differ), unrounded: fx's rounded
/// equivalent could hide up to half a minor unit over the limit.
async fn in_limit_currency(
    ctx: &Ctx,
    amount: Money,
    limit_currency: Currency,
) -> Result<Decimal, Status> {
    if amount.currency() == limit_currency {
        return Ok(amount.amount());
    }
    let fx = FxServiceClient::new(ctx.svc.peers.channel("fx").map_err(internal)?);
    let request = GetEquivalentRequest {
        amount: Some(amount.to_proto()),
        target_currency_code: limit_currency.code().to_owned(),
    };
    let eq = outbound::unary(
        &fx,
        request,
        |mut c, r| async move { c.get_equivalent(r).await },
    )
    .await?;
    let eq = eq
        .equivalent
        .ok_or_else(|| internal("fx answered no equivalent"))?;
    let rate = kuajing_platform::money::parse_decimal(&eq.rate).map_err(internal)?;
    amount
        .amount()
        .checked_mul(rate)
        .ok_or_else(|| internal("equivalent out of range"))
}

/// A priced withdrawal.
struct Priced {
    rule: FeeRule,
    rule_proto: WithdrawalFeeRule,
    fee: Decimal,
    within_limit: bool,
    tier: MembershipTier,
    owner: Uuid,
}

async fn price(
    ctx: &Ctx,
    conn: &mut PgConnection,
    wallet_id: Uuid,
    bank_account_id: Uuid,
    pool: FundPool,
    amount: Money,
) -> Result<Priced, Status> {
    let bank: Option<(i16, String)> = sqlx::query_as(
        "SELECT type, currency FROM bank_accounts WHERE bank_account_id = $1 AND wallet_id = $2",
    )
    .bind(bank_account_id)
    .bind(wallet_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(internal)?;
    let Some((ty, currency)) = bank else {
        return Err(ctx
            .errors()
            .not_found("bank_account", bank_account_id.to_string()));
    };
    let currency: Currency = currency.parse().map_err(internal)?;
    if currency != amount.currency() {
        return Err(currency_mismatch(
            ctx.errors(),
            &format!("bank_account/{bank_account_id}"),
            currency,
            amount.currency(),
        ));
    }
    let (owner, tier, region) = owner_and_tier(ctx, conn, wallet_id).await?;
    if !withdrawal::currency_allowed_in(&region, currency) {
        return Err(ctx.errors().precondition(
            WITHDRAWAL_CURRENCY_NOT_ALLOWED,
            format!("bank_account/{bank_account_id}"),
            format!("customers in {region} withdraw in USD only (seed 002)"),
        ));
    }
    let route = Route {
        fund_pool: pool as i32,
        currency,
        bank_account_type: i32::from(ty),
        membership_tier: tier as i32,
    };
    let rules = load_rules(conn).await?;
    let only_rules: Vec<FeeRule> = rules.iter().map(|(r, _)| r.clone()).collect();
    let Some(picked) = withdrawal::pick_rule(&only_rules, &route) else {
        return Err(ctx.errors().precondition(
            WITHDRAWAL_ROUTE_NOT_SUPPORTED,
            format!("bank_account/{bank_account_id}"),
            format!(
                "withdrawals of {currency} from this fund pool to this account type are not \
                 offered (seed 002's withdrawal table has no such row)"
            ),
        ));
    };
    let (rule, rule_row) = rules
        .iter()
        .find(|(r, _)| r.id == picked.id)
        .ok_or_else(|| internal("picked rule vanished"))?;
    let within_limit = match rule.limit {
        None => true,
        Some(_) => withdrawal::within_limit(
            rule,
            in_limit_currency(ctx, amount, rule.limit_currency).await?,
        ),
    };
    let fee = rule.fee(amount.amount(), currency);
    if !withdrawal::leaves_something_after_fee(amount.amount(), fee) {
        return Err(ctx.errors().precondition(
            WITHDRAWAL_AMOUNT_BELOW_FEE,
            format!("bank_account/{bank_account_id}"),
            format!(
                "the fee of {fee} {currency} would take the whole amount: withdraw more than the fee"
            ),
        ));
    }
    let rule_proto = rule_proto(rule, rule_row)?;
    Ok(Priced {
        rule: rule.clone(),
        rule_proto,
        fee,
        within_limit,
        tier,
        owner,
    })
}

fn parse_pool(v: &mut FieldViolations, field: &str, n: i32) -> Option<FundPool> {
    if n == 0 {
        Some(FundPool::Standard)
    } else {
        v.enum_value::<FundPool>(field, n)
    }
}

/// EstimateWithdrawalFee: prices without writing.
pub async fn estimate(
    ctx: &Ctx,
    req: EstimateWithdrawalFeeRequest,
) -> Result<EstimateWithdrawalFeeResponse, Status> {
    let mut v = FieldViolations::new();
    let wallet_id = v.uuid("wallet_id", &req.wallet_id);
    let bank = v.uuid("bank_account_id", &req.bank_account_id);
    let pool = parse_pool(&mut v, "source_fund_pool", req.source_fund_pool);
    let amount = v.positive_money("amount", req.amount.as_ref());
    v.finish()?;
    let (wallet_id, bank, pool, amount) = (
        wallet_id.expect("ok"),
        bank.expect("ok"),
        pool.expect("ok"),
        amount.expect("ok"),
    );
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    require_wallet(&mut conn, ctx.errors(), wallet_id).await?;
    let p = price(ctx, &mut conn, wallet_id, bank, pool, amount).await?;
    let available = super::balance_of(
        &mut conn,
        &AccountKey::available(wallet_id, amount.currency(), pool),
    )
    .await?;
    let c = amount.currency();
    Ok(EstimateWithdrawalFeeResponse {
        fee: Some(Money::rounded(c, p.fee).map_err(internal)?.to_proto()),
        net_amount: Some(
            Money::rounded(c, amount.amount() - p.fee)
                .map_err(internal)?
                .to_proto(),
        ),
        fee_rule: Some(p.rule_proto),
        within_limit: p.within_limit,
        sufficient_funds: available >= amount.amount(),
        membership_tier: p.tier as i32,
    })
}

const WITHDRAWAL_COLUMNS: &str = "withdrawal_id, wallet_id, bank_account_id, source_fund_pool, currency, amount, fee,
    fee_rule_id, status, remark, bank_reference, failure_reason, entry_id, reversal_entry_id, created_at,
    updated_at, finished_at";

fn withdrawal_from_row(r: &PgRow) -> Result<Withdrawal, Status> {
    let c: Currency = r
        .try_get::<String, _>("currency")
        .map_err(internal)?
        .parse()
        .map_err(internal)?;
    let amount: Decimal = r.try_get("amount").map_err(internal)?;
    let fee: Decimal = r.try_get("fee").map_err(internal)?;
    let m = |d| Money::rounded(c, d).map(|m| m.to_proto()).map_err(internal);
    let id = |col: &str| {
        r.try_get::<Uuid, _>(col)
            .map(|u| u.to_string())
            .map_err(internal)
    };
    Ok(Withdrawal {
        withdrawal_id: id("withdrawal_id")?,
        wallet_id: id("wallet_id")?,
        bank_account_id: id("bank_account_id")?,
        source_fund_pool: i32::from(r.try_get::<i16, _>("source_fund_pool").map_err(internal)?),
        amount: Some(m(amount)?),
        fee: Some(m(fee)?),
        net_amount: Some(m(amount - fee)?),
        fee_rule_id: id("fee_rule_id")?,
        status: i32::from(r.try_get::<i16, _>("status").map_err(internal)?),
        remark: r.try_get("remark").map_err(internal)?,
        bank_reference: r.try_get("bank_reference").map_err(internal)?,
        failure_reason: r.try_get("failure_reason").map_err(internal)?,
        journal_entry_id: id("entry_id")?,
        reversal_entry_id: r
            .try_get::<Option<Uuid>, _>("reversal_entry_id")
            .map_err(internal)?
            .map(|u| u.to_string())
            .unwrap_or_default(),
        create_time: Some(time::to_proto(r.try_get("created_at").map_err(internal)?)),
        update_time: Some(time::to_proto(r.try_get("updated_at").map_err(internal)?)),
        finish_time: time::opt_to_proto(r.try_get("finished_at").map_err(internal)?),
    })
}

async fn load(conn: &mut PgConnection, ctx: &Ctx, id: Uuid) -> Result<Withdrawal, Status> {
    let sql = format!("SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals WHERE withdrawal_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(internal)?
        .ok_or_else(|| ctx.errors().not_found("withdrawal", id.to_string()))?;
    withdrawal_from_row(&row)
}

/// CreateWithdrawal: PIN verified by identity, then the entry and the withdrawal at once.
pub async fn create(
    ctx: &Ctx,
    req: CreateWithdrawalRequest,
) -> Result<CreateWithdrawalResponse, Status> {
    let mut v = FieldViolations::new();
    let wallet_id = v.uuid("wallet_id", &req.wallet_id);
    let bank = v.uuid("bank_account_id", &req.bank_account_id);
    let pool = parse_pool(&mut v, "source_fund_pool", req.source_fund_pool);
    let amount = v.positive_money("amount", req.amount.as_ref());
    if req.payment_pin.len() != 6 || !req.payment_pin.bytes().all(|b| b.is_ascii_digit()) {
        v.add("payment_pin", "must be 6 digits");
    }
    let remark = v.text("remark", &req.remark, 200).to_owned();
    let request_id = idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    let (wallet_id, bank, pool, amount) = (
        wallet_id.expect("ok"),
        bank.expect("ok"),
        pool.expect("ok"),
        amount.expect("ok"),
    );
    // The PIN is not part of what makes two requests the same (it is never stored).
    let mut keyed = req.clone();
    keyed.payment_pin.clear();
    let c = amount.currency();
    let now = ctx.now();

    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    require_wallet(&mut conn, ctx.errors(), wallet_id).await?;
    let p = price(ctx, &mut conn, wallet_id, bank, pool, amount).await?;
    drop(conn);
    if !p.within_limit {
        let mut md = HashMap::new();
        if let Some(limit) = p.rule.limit {
            md.insert(
                "limit".to_owned(),
                format!(
                    "{} {}",
                    Money::rounded(p.rule.limit_currency, limit)
                        .map_err(internal)?
                        .to_proto()
                        .amount,
                    p.rule.limit_currency
                ),
            );
        }
        return Err(ctx.errors().refuse_with(
            Code::FailedPrecondition,
            WITHDRAWAL_LIMIT_EXCEEDED,
            "the amount exceeds the per-withdrawal limit",
            md,
        ));
    }
    // A replay must not count a PIN attempt again: answer it before asking identity.
    {
        let mut tx = ctx.svc.pool.begin().await.map_err(internal)?;
        if let idempotency::Begin::Replay(r) = idempotency::begin::<_, CreateWithdrawalResponse>(
            &mut tx,
            ctx.errors(),
            "CreateWithdrawal",
            &req.request_id,
            &keyed,
        )
        .await?
        {
            return Ok(r);
        }
        tx.rollback().await.map_err(internal)?;
    }
    let identity = IdentityServiceClient::new(ctx.svc.peers.channel("identity").map_err(internal)?);
    // Idempotent by the request id: identity answers a repeat as it answered the first.
    let pin = VerifyPaymentPinRequest {
        request_id: request_id.to_string(),
        account_id: p.owner.to_string(),
        pin: req.payment_pin.clone(),
        operation_reference: format!("withdrawal:{request_id}"),
    };
    let verified = outbound::unary(&identity, pin, |mut c, r| async move {
        c.verify_payment_pin(r).await
    })
    .await?
    .verified;
    if !verified {
        return Err(Status::permission_denied("payment PIN not verified"));
    }

    idempotency::run(&ctx.svc.pool, ctx.errors(), "CreateWithdrawal", &req.request_id, &keyed, |mut tx| async move {
        let withdrawal_id = Uuid::now_v7();
        let cause = Cause { request_id, withdrawal_id: Some(withdrawal_id), ..Cause::default() };
        let mut draft = EntryDraft::new(JournalEntryType::Withdrawal, cause, "Withdrawal");
        draft
            .leg(AccountKey::available(wallet_id, c, pool), -amount.amount())
            .leg(AccountKey::platform(LedgerAccountKind::FeeRevenue, c), p.fee)
            .leg(AccountKey::platform(LedgerAccountKind::OutboundClearing, c), amount.amount() - p.fee);
        let posted = ledger::post(&mut tx, &draft, now).await.map_err(|e| post_error(ctx.errors(), e))?;
        let sql = format!(
            "INSERT INTO withdrawals (withdrawal_id, wallet_id, bank_account_id, source_fund_pool, currency, amount, fee,
                 fee_rule_id, status, remark, entry_id, created_at, updated_at)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$12) RETURNING {WITHDRAWAL_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(withdrawal_id)
            .bind(wallet_id)
            .bind(bank)
            .bind(pool as i16)
            .bind(c.code())
            .bind(amount.amount())
            .bind(p.fee)
            .bind(p.rule.id)
            .bind(WithdrawalStatus::Requested as i16)
            .bind(&remark)
            .bind(posted.entry_id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(internal)?;
        Ok((CreateWithdrawalResponse { withdrawal: Some(withdrawal_from_row(&row)?) }, tx))
    })
    .await
}

/// GetWithdrawal.
pub async fn get(ctx: &Ctx, req: GetWithdrawalRequest) -> Result<GetWithdrawalResponse, Status> {
    let mut v = FieldViolations::new();
    let id = v.uuid("withdrawal_id", &req.withdrawal_id);
    v.finish()?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    Ok(GetWithdrawalResponse {
        withdrawal: Some(load(&mut conn, ctx, id.expect("ok")).await?),
    })
}

/// ListWithdrawals: newest first; without a wallet, all withdrawals (bank adapter).
pub async fn list(
    ctx: &Ctx,
    req: ListWithdrawalsRequest,
) -> Result<ListWithdrawalsResponse, Status> {
    let mut v = FieldViolations::new();
    let wallet_id = v.optional_uuid("wallet_id", &req.wallet_id).flatten();
    let mut statuses = Vec::new();
    for (i, s) in req.statuses.iter().enumerate() {
        if let Some(s) = v.enum_value::<WithdrawalStatus>(&format!("statuses[{i}]"), *s) {
            statuses.push(s as i16);
        }
    }
    let (from, to) = v.time_range("create_time_range", req.create_time_range.as_ref());
    let page = Page::from_proto("page", req.page.as_ref(), &mut v);
    v.finish()?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    if let Some(w) = wallet_id {
        require_wallet(&mut conn, ctx.errors(), w).await?;
    }
    let sql = format!(
        "SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals
         WHERE ($1::uuid IS NULL OR wallet_id = $1) AND (cardinality($2::int2[]) = 0 OR status = ANY($2))
           AND ($3::timestamptz IS NULL OR created_at >= $3) AND ($4::timestamptz IS NULL OR created_at < $4)
           AND ($5::timestamptz IS NULL OR (created_at, withdrawal_id) < ($5, $6))
         ORDER BY created_at DESC, withdrawal_id DESC LIMIT $7"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(wallet_id)
        .bind(&statuses)
        .bind(from)
        .bind(to)
        .bind(page.after.map(|c| c.time))
        .bind(page.after.map(|c| c.id))
        .bind(page.fetch_limit())
        .fetch_all(&mut *conn)
        .await
        .map_err(internal)?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        let cursor = Cursor {
            time: r.try_get("created_at").map_err(internal)?,
            id: r.try_get("withdrawal_id").map_err(internal)?,
        };
        items.push((cursor, withdrawal_from_row(r)?));
    }
    let page = page.finish(&mut items, |(c, _)| *c);
    Ok(ListWithdrawalsResponse {
        withdrawals: items.into_iter().map(|(_, w)| w).collect(),
        page: Some(page),
    })
}

/// UpdateWithdrawalStatus: the bank adapter's report; FAILED reverses the entry.
pub async fn update_status(
    ctx: &Ctx,
    req: UpdateWithdrawalStatusRequest,
) -> Result<UpdateWithdrawalStatusResponse, Status> {
    let mut v = FieldViolations::new();
    let id = v.uuid("withdrawal_id", &req.withdrawal_id);
    let to: Option<WithdrawalStatus> = v.enum_value("status", req.status);
    let reference = v.text("bank_reference", &req.bank_reference, 64).to_owned();
    let reason = v
        .text("failure_reason", &req.failure_reason, 500)
        .to_owned();
    if to == Some(WithdrawalStatus::Processing) && reference.is_empty() {
        v.add("bank_reference", "is required with PROCESSING");
    }
    if to == Some(WithdrawalStatus::Failed) && reason.is_empty() {
        v.add("failure_reason", "is required with FAILED");
    }
    let request_id = idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    let (id, to) = (id.expect("ok"), to.expect("ok"));
    let now = ctx.now();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "UpdateWithdrawalStatus",
        &req.request_id,
        &req,
        |mut tx| async move {
            let row: Option<(i16, Uuid)> = sqlx::query_as(
                "SELECT status, entry_id FROM withdrawals WHERE withdrawal_id = $1 FOR UPDATE",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(internal)?;
            let Some((from, entry_id)) = row else {
                return Err(ctx.errors().not_found("withdrawal", id.to_string()));
            };
            let from = WithdrawalStatus::try_from(i32::from(from))
                .unwrap_or(WithdrawalStatus::Unspecified);
            if !withdrawal::may_move(from, to) {
                return Err(ctx.errors().precondition(
                    INVALID_STATUS_TRANSITION,
                    format!("withdrawal/{id}"),
                    format!(
                        "a {} withdrawal cannot become {}",
                        from.as_str_name(),
                        to.as_str_name()
                    ),
                ));
            }
            let mut reversal = None;
            if to == WithdrawalStatus::Failed {
                let legs = ledger::load_draft_legs(&mut tx, entry_id)
                    .await
                    .map_err(internal)?;
                let cause = Cause {
                    request_id,
                    withdrawal_id: Some(id),
                    ..Cause::default()
                };
                let draft = EntryDraft {
                    entry_type: JournalEntryType::Reversal,
                    cause,
                    description: format!("Withdrawal failed: {reason}"),
                    legs: legs
                        .into_iter()
                        .map(|(account, amount)| Leg {
                            account,
                            amount: -amount,
                        })
                        .collect(),
                    reverses: Some(entry_id),
                };
                reversal = Some(
                    ledger::post(&mut tx, &draft, now)
                        .await
                        .map_err(|e| post_error(ctx.errors(), e))?
                        .entry_id,
                );
            }
            let finished =
                matches!(to, WithdrawalStatus::Completed | WithdrawalStatus::Failed).then_some(now);
            sqlx::query(
                "UPDATE withdrawals SET status = $2, updated_at = $3, finished_at = $4,
                 bank_reference = CASE WHEN $5 = '' THEN bank_reference ELSE $5 END,
                 failure_reason = $6, reversal_entry_id = $7
             WHERE withdrawal_id = $1",
            )
            .bind(id)
            .bind(to as i16)
            .bind(now)
            .bind(finished)
            .bind(&reference)
            .bind(&reason)
            .bind(reversal)
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
            Ok((
                UpdateWithdrawalStatusResponse {
                    withdrawal: Some(load(&mut tx, ctx, id).await?),
                },
                tx,
            ))
        },
    )
    .await
}
