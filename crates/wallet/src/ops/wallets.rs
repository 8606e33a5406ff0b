//! Opening a wallet and reading its balances.

use std::collections::{BTreeMap, HashMap};

use kuajing_platform::error::internal;
use kuajing_platform::money::format_amount;
use kuajing_platform::{Currency, FieldViolations, idempotency, time};
use kuajing_proto::types;
use kuajing_proto::wallet::v1::{
    Balance, GetWalletRequest, GetWalletResponse, LedgerAccountKind, OpenWalletRequest,
    OpenWalletResponse, Wallet, get_wallet_request::Lookup,
};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use tonic::{Code, Status};
use uuid::Uuid;

use super::Ctx;
use crate::store;

/// The customer account kinds a balance sums: available, held.
const CUSTOMER_KINDS: (i16, i16) = (
    LedgerAccountKind::CustomerAvailable as i16,
    LedgerAccountKind::CustomerHeld as i16,
);

/// Reason: the account already has a wallet.
pub use kuajing_proto::reasons::wallet::WALLET_ALREADY_EXISTS;

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
    let rows = store::wallets::balances(conn, wallet_id, CUSTOMER_KINDS)
        .await
        .map_err(internal)?;
    let mut out = zero_balances();
    for r in &rows {
        add_balance(&mut out, (&r.currency, r.kind, r.balance));
    }
    Ok(out)
}

fn zero_balances() -> BTreeMap<Currency, (Decimal, Decimal)> {
    Currency::ALL
        .iter()
        .map(|c| (*c, (Decimal::ZERO, Decimal::ZERO)))
        .collect()
}

/// Adds a balance row (all `None` for a wallet without accounts).
fn add_balance(
    out: &mut BTreeMap<Currency, (Decimal, Decimal)>,
    (currency, kind, amount): (&Option<String>, Option<i16>, Option<Decimal>),
) {
    let (Some(Ok(currency)), Some(kind), Some(amount)) = (
        currency.as_deref().map(str::parse::<Currency>),
        kind,
        amount,
    ) else {
        return;
    };
    let slot = out.entry(currency).or_default();
    if i32::from(kind) == LedgerAccountKind::CustomerAvailable as i32 {
        slot.0 += amount;
    } else {
        slot.1 += amount;
    }
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
    let rows = match by {
        By::Wallet(id) => store::wallets::with_balances(&mut *conn, id, CUSTOMER_KINDS).await,
        By::Owner(id) => {
            store::wallets::with_balances_of_owner(&mut *conn, id, CUSTOMER_KINDS).await
        }
    }
    .map_err(internal)?;
    let Some(first) = rows.first() else {
        return Err(match by {
            By::Wallet(id) => ctx.errors().not_found("wallet", id.to_string()),
            By::Owner(id) => ctx.errors().not_found("account", id.to_string()),
        });
    };
    let (wallet_id, owner) = (first.wallet_id, first.owner_account_id);
    let (created, updated) = (first.created_at, first.updated_at);
    let mut all = zero_balances();
    for r in &rows {
        add_balance(&mut all, (&r.currency, r.kind, r.balance));
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
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "OpenWallet",
        &req.request_id,
        &req,
        |mut tx| async move {
            let wallet_id = Uuid::now_v7();
            let inserted = store::wallets::insert(&mut *tx, wallet_id, owner, now)
                .await
                .map_err(internal)?;
            if !inserted {
                let existing = store::wallets::of_owner(&mut *tx, owner)
                    .await
                    .map_err(internal)?
                    .ok_or_else(|| internal("a wallet that conflicted is gone"))?;
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
            Ok((
                OpenWalletResponse {
                    wallet: Some(wallet),
                },
                tx,
            ))
        },
    )
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
