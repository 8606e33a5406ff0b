//! Opening a wallet and reading its balances.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::money::format_amount;
use kuajing_platform::{Currency, FieldViolations, idempotency, time};
use kuajing_proto::types;
use kuajing_proto::wallet::v1::{
    Balance, GetWalletRequest, GetWalletResponse, LedgerAccountKind, OpenWalletRequest,
    OpenWalletResponse, Wallet, get_wallet_request::Lookup,
};
use rust_decimal::Decimal;
use sqlx::{PgConnection, Row};
use tonic::{Code, Status};
use uuid::Uuid;

use super::Ctx;

/// Reason: the account already has a wallet.
pub const WALLET_ALREADY_EXISTS: &str = "WALLET_ALREADY_EXISTS";

fn money(currency: Currency, amount: Decimal) -> types::Money {
    types::Money {
        currency_code: currency.code().to_owned(),
        amount: format_amount(amount, currency),
    }
}

/// A wallet's balance in one currency as the wire shows it.
pub fn balance_proto(currency: Currency, available: Decimal, held: Decimal) -> Balance {
    Balance {
        currency_code: currency.code().to_owned(),
        available: Some(money(currency, available)),
        held: Some(money(currency, held)),
        total: Some(money(currency, available + held)),
    }
}

/// Available (every fund pool) and held balance per currency of a wallet.
pub async fn balances(
    conn: &mut PgConnection,
    wallet_id: Uuid,
) -> Result<BTreeMap<Currency, (Decimal, Decimal)>, Status> {
    let rows = sqlx::query(
        "SELECT currency, kind, sum(balance) AS balance FROM ledger_accounts
         WHERE wallet_id = $1 AND kind IN ($2, $3) GROUP BY currency, kind",
    )
    .bind(wallet_id)
    .bind(LedgerAccountKind::CustomerAvailable as i16)
    .bind(LedgerAccountKind::CustomerHeld as i16)
    .fetch_all(conn)
    .await
    .map_err(internal)?;
    let mut out = zero_balances();
    for r in &rows {
        add_balance(&mut out, r)?;
    }
    Ok(out)
}

fn zero_balances() -> BTreeMap<Currency, (Decimal, Decimal)> {
    Currency::ALL
        .iter()
        .map(|c| (*c, (Decimal::ZERO, Decimal::ZERO)))
        .collect()
}

/// Adds a row's `currency`, `kind`, `balance` (all NULL for a wallet without accounts).
fn add_balance(
    out: &mut BTreeMap<Currency, (Decimal, Decimal)>,
    r: &sqlx::postgres::PgRow,
) -> Result<(), Status> {
    let currency: Option<String> = r.try_get("currency").map_err(internal)?;
    let Some(Ok(currency)) = currency.map(|c| c.parse::<Currency>()) else {
        return Ok(());
    };
    let kind: i16 = r.try_get("kind").map_err(internal)?;
    let amount: Decimal = r.try_get("balance").map_err(internal)?;
    let slot = out.entry(currency).or_default();
    if i32::from(kind) == LedgerAccountKind::CustomerAvailable as i32 {
        slot.0 += amount;
    } else {
        slot.1 += amount;
    }
    Ok(())
}

/// One currency's balance of a wallet.
pub async fn balance_in(
    conn: &mut PgConnection,
    wallet_id: Uuid,
    currency: Currency,
) -> Result<Balance, Status> {
    let all = balances(conn, wallet_id).await?;
    let (a, h) = all.get(&currency).copied().unwrap_or_default();
    Ok(balance_proto(currency, a, h))
}

/// The wallet with all 15 balances.
pub async fn load(conn: &mut PgConnection, ctx: &Ctx, wallet_id: Uuid) -> Result<Wallet, Status> {
    load_by(conn, ctx, By::Wallet(wallet_id)).await
}

/// How a wallet is looked up.
#[derive(Clone, Copy, Debug)]
enum By {
    Wallet(Uuid),
    Owner(Uuid),
}

/// A wallet and its balances in one statement (one snapshot, one round trip); NOT_FOUND
/// names what was looked up.
async fn load_by(conn: &mut PgConnection, ctx: &Ctx, by: By) -> Result<Wallet, Status> {
    // The statement, by the column looked up (prepared once each, no text built per call).
    macro_rules! wallet_with_balances {
        ($column:literal) => {
            concat!(
                "SELECT w.wallet_id, w.owner_account_id, w.created_at, w.updated_at,
                        b.currency, b.kind, b.balance
                 FROM wallets w
                 LEFT JOIN LATERAL (
                     SELECT currency, kind, sum(balance) AS balance FROM ledger_accounts a
                     WHERE a.wallet_id = w.wallet_id AND a.kind IN ($2, $3) GROUP BY currency, kind
                 ) b ON true
                 WHERE w.",
                $column,
                " = $1"
            )
        };
    }
    let (sql, id) = match by {
        By::Wallet(id) => (wallet_with_balances!("wallet_id"), id),
        By::Owner(id) => (wallet_with_balances!("owner_account_id"), id),
    };
    let rows = sqlx::query(sql)
        .bind(id)
        .bind(LedgerAccountKind::CustomerAvailable as i16)
        .bind(LedgerAccountKind::CustomerHeld as i16)
        .fetch_all(&mut *conn)
        .await
        .map_err(internal)?;
    let Some(first) = rows.first() else {
        return Err(match by {
            By::Wallet(id) => ctx.errors().not_found("wallet", id.to_string()),
            By::Owner(id) => ctx.errors().not_found("account", id.to_string()),
        });
    };
    let wallet_id: Uuid = first.try_get("wallet_id").map_err(internal)?;
    let owner: Uuid = first.try_get("owner_account_id").map_err(internal)?;
    let created: DateTime<Utc> = first.try_get("created_at").map_err(internal)?;
    let updated: DateTime<Utc> = first.try_get("updated_at").map_err(internal)?;
    let mut all = zero_balances();
    for r in &rows {
        add_balance(&mut all, r)?;
    }
    Ok(Wallet {
        wallet_id: wallet_id.to_string(),
        owner_account_id: owner.to_string(),
        balances: all
            .into_iter()
            .map(|(c, (a, h))| balance_proto(c, a, h))
            .collect(),
        create_time: Some(time::to_proto(created)),
        update_time: Some(time::to_proto(updated)),
    })
}

/// OpenWallet.
pub async fn open(ctx: &Ctx, req: OpenWalletRequest) -> Result<OpenWalletResponse, Status> {
    let mut v = FieldViolations::new();
    let owner = v.uuid("owner_account_id", &req.owner_account_id);
    idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    let owner = owner.expect("validated");
    let now = ctx.now();
    idempotency::run(&ctx.svc.pool, ctx.errors(), "OpenWallet", &req.request_id, &req, |mut tx| async move {
        let wallet_id = Uuid::now_v7();
        let inserted = sqlx::query(
            "INSERT INTO wallets (wallet_id, owner_account_id, created_at, updated_at) VALUES ($1, $2, $3, $3)
             ON CONFLICT (owner_account_id) DO NOTHING",
        )
        .bind(wallet_id)
        .bind(owner)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(internal)?
        .rows_affected();
        if inserted == 0 {
            let existing: Uuid = sqlx::query_scalar("SELECT wallet_id FROM wallets WHERE owner_account_id = $1")
                .bind(owner)
                .fetch_one(&mut *tx)
                .await
                .map_err(internal)?;
            let mut md = HashMap::new();
            md.insert("wallet_id".to_owned(), existing.to_string());
            return Err(ctx.errors().refuse_with(
                Code::AlreadyExists,
                WALLET_ALREADY_EXISTS,
                "this account already has a wallet",
                md,
            ));
        }
        let wallet = load(&mut tx, ctx, wallet_id).await?;
        Ok((OpenWalletResponse { wallet: Some(wallet) }, tx))
    })
    .await
}

/// GetWallet.
pub async fn get(ctx: &Ctx, req: GetWalletRequest) -> Result<GetWalletResponse, Status> {
    let mut v = FieldViolations::new();
    let lookup = match &req.lookup {
        Some(Lookup::WalletId(id)) => v.uuid("wallet_id", id).map(By::Wallet),
        Some(Lookup::OwnerAccountId(id)) => v.uuid("owner_account_id", id).map(By::Owner),
        None => {
            v.add(
                "wallet_id",
                "either wallet_id or owner_account_id is required",
            );
            None
        }
    };
    v.finish()?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    Ok(GetWalletResponse {
        wallet: Some(load_by(&mut conn, ctx, lookup.expect("validated")).await?),
    })
}
