//! Wallet-to-wallet transfers with optional fee legs; and the fee-leg wire mapping that
//! transfers and hold captures share.

use kuajing_platform::error::internal;
use kuajing_platform::money::format_amount;
use kuajing_platform::{Currency, FieldViolations, Money, idempotency, time};
use kuajing_proto::types;
use kuajing_proto::wallet::v1::{
    CreateTransferRequest, CreateTransferResponse, FeeBearer, FeeLeg, FundPool, GetTransferRequest,
    GetTransferResponse, JournalEntryType, LedgerAccountKind, Transfer,
};
use rust_decimal::Decimal;
use serde_json::json;
use tonic::Status;
use uuid::Uuid;

use super::{Ctx, post_error, require_wallet};
use crate::domain::fees::{self, Bearer, Fee, FeeError};
use crate::domain::ledger::{AccountKey, Cause, EntryDraft};
use crate::store::transfers::TransferRow;
use crate::store::{self, ledger};

/// Most fee legs on one movement.
pub const MAX_FEE_LEGS: usize = 10;

/// Validates fee legs (field `field`), recording violations.
pub fn parse_fee_legs(v: &mut FieldViolations, field: &str, legs: &[FeeLeg]) -> Vec<Fee> {
    if legs.len() > MAX_FEE_LEGS {
        v.add(field, format!("at most {MAX_FEE_LEGS} fee legs"));
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, leg) in legs.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let code_ok = !leg.code.is_empty()
            && leg.code.len() <= 32
            && leg
                .code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !code_ok {
            v.add(
                format!("{f}.code"),
                "must be 1-32 characters of A-Z, 0-9 and _",
            );
        }
        v.text(&format!("{f}.description"), &leg.description, 200);
        let amount = v.positive_money(&format!("{f}.amount"), leg.amount.as_ref());
        let bearer = match FeeBearer::try_from(leg.bearer) {
            Ok(FeeBearer::Payer) => Some(Bearer::Payer),
            Ok(FeeBearer::Payee) => Some(Bearer::Payee),
            _ => {
                v.add(
                    format!("{f}.bearer"),
                    "must be FEE_BEARER_PAYER or FEE_BEARER_PAYEE",
                );
                None
            }
        };
        if let (true, Some(amount), Some(bearer)) = (code_ok, amount, bearer) {
            out.push(Fee {
                code: leg.code.clone(),
                amount: amount.amount(),
                currency: amount.currency(),
                bearer,
                description: leg.description.clone(),
            });
        }
    }
    out
}

/// Fee legs as stored (jsonb).
pub fn fees_json(fees: &[Fee]) -> serde_json::Value {
    serde_json::Value::Array(
        fees.iter()
            .map(|f| {
                json!({
                    "code": f.code,
                    "amount": f.amount.to_string(),
                    "currency": f.currency.code(),
                    "bearer": match f.bearer { Bearer::Payer => FeeBearer::Payer as i32, Bearer::Payee => FeeBearer::Payee as i32 },
                    "description": f.description,
                })
            })
            .collect(),
    )
}

/// Stored fee legs back to the wire.
pub fn fees_proto(value: &serde_json::Value) -> Vec<FeeLeg> {
    value
        .as_array()
        .map(|legs| {
            legs.iter()
                .map(|l| {
                    let currency = l["currency"].as_str().unwrap_or("USD");
                    let amount = l["amount"]
                        .as_str()
                        .unwrap_or("0")
                        .parse::<Decimal>()
                        .unwrap_or_default();
                    let c = currency.parse::<Currency>().unwrap_or(Currency::USD);
                    FeeLeg {
                        code: l["code"].as_str().unwrap_or_default().to_owned(),
                        amount: Some(types::Money {
                            currency_code: currency.to_owned(),
                            amount: format_amount(amount, c),
                        }),
                        bearer: l["bearer"]
                            .as_i64()
                            .and_then(|b| i32::try_from(b).ok())
                            .unwrap_or(0),
                        description: l["description"].as_str().unwrap_or_default().to_owned(),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Maps a fee split refusal.
pub fn fee_error(ctx: &Ctx, subject: &str, currency: Currency, e: FeeError) -> Status {
    match e {
        FeeError::CurrencyMismatch(code) => ctx.errors().precondition(
            super::CURRENCY_MISMATCH,
            subject,
            format!("fee {code} is not in {currency}"),
        ),
        FeeError::FeesExceedAmount => {
            kuajing_platform::error::invalid_field("fee_legs", "payee-borne fees exceed the amount")
        }
    }
}

async fn load(conn: &mut sqlx::PgConnection, ctx: &Ctx, id: Uuid) -> Result<Transfer, Status> {
    let r = store::transfers::get(conn, id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ctx.errors().not_found("transfer", id.to_string()))?;
    let c: Currency = r.currency.parse().map_err(internal)?;
    Ok(Transfer {
        transfer_id: id.to_string(),
        source_wallet_id: r.source_wallet_id.to_string(),
        destination_wallet_id: r.destination_wallet_id.to_string(),
        amount: Some(Money::new(c, r.amount).map_err(internal)?.to_proto()),
        destination_fund_pool: i32::from(r.destination_fund_pool),
        fee_legs: fees_proto(&r.fee_legs),
        order_id: r.order_id,
        description: r.description,
        journal_entry_id: r.entry_id.to_string(),
        create_time: Some(time::to_proto(r.created_at)),
    })
}

/// A transfer request that passed validation.
#[derive(Clone, Debug)]
pub struct Validated {
    /// The original request (its hash keys idempotency).
    pub req: CreateTransferRequest,
    /// Parsed request id.
    pub request_id: Uuid,
    /// Source wallet.
    pub source: Uuid,
    /// Destination wallet.
    pub destination: Uuid,
    /// Amount.
    pub amount: Money,
    /// Destination fund pool.
    pub pool: FundPool,
    /// Fee legs.
    pub fees: Vec<Fee>,
    /// Order reference.
    pub order_id: String,
    /// Free text.
    pub description: String,
}

/// Validates a CreateTransfer request (INVALID_ARGUMENT with every violation).
pub fn validate(req: CreateTransferRequest) -> Result<Validated, Status> {
    let mut v = FieldViolations::new();
    let source = v.uuid("source_wallet_id", &req.source_wallet_id);
    let destination = v.uuid("destination_wallet_id", &req.destination_wallet_id);
    if source.is_some() && source == destination {
        v.add("destination_wallet_id", "must differ from source_wallet_id");
    }
    let amount = v.positive_money("amount", req.amount.as_ref());
    let pool = if req.destination_fund_pool == 0 {
        Some(FundPool::Standard)
    } else {
        v.enum_value::<FundPool>("destination_fund_pool", req.destination_fund_pool)
    };
    let fees = parse_fee_legs(&mut v, "fee_legs", &req.fee_legs);
    let order_id = v.text("order_id", &req.order_id, 64).to_owned();
    let description = v.text("description", &req.description, 200).to_owned();
    let request_id = idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    Ok(Validated {
        request_id,
        source: source.expect("validated"),
        destination: destination.expect("validated"),
        amount: amount.expect("validated"),
        pool: pool.expect("validated"),
        fees,
        order_id,
        description,
        req,
    })
}

/// The wire form of a transfer just made.
pub fn transfer_proto(
    t: &Validated,
    transfer_id: Uuid,
    entry_id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> Transfer {
    Transfer {
        transfer_id: transfer_id.to_string(),
        source_wallet_id: t.source.to_string(),
        destination_wallet_id: t.destination.to_string(),
        amount: Some(t.amount.to_proto()),
        destination_fund_pool: t.pool as i32,
        fee_legs: fees_proto(&fees_json(&t.fees)),
        order_id: t.order_id.clone(),
        description: t.description.clone(),
        journal_entry_id: entry_id.to_string(),
        create_time: Some(time::to_proto(now)),
    }
}

/// CreateTransfer: through the batcher when the service runs one, else on its own.
pub async fn create(
    ctx: &Ctx,
    req: CreateTransferRequest,
) -> Result<CreateTransferResponse, Status> {
    let t = validate(req)?;
    match &ctx.batcher {
        Some(batcher) => batcher.submit(t).await,
        None => create_one(ctx, t).await,
    }
}

/// One transfer in a transaction of its own (and the path for requests a batch defers).
pub async fn create_one(ctx: &Ctx, t: Validated) -> Result<CreateTransferResponse, Status> {
    let currency = t.amount.currency();
    let now = ctx.now();
    let req = t.req.clone();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "CreateTransfer",
        &req.request_id,
        &req,
        |mut tx| async move {
            let split = fees::split(t.amount.amount(), currency, &t.fees)
                .map_err(|e| fee_error(ctx, "transfer", currency, e))?;
            require_wallet(&mut tx, ctx.errors(), t.source).await?;
            require_wallet(&mut tx, ctx.errors(), t.destination).await?;
            let transfer_id = Uuid::now_v7();
            let cause = Cause {
                request_id: t.request_id,
                order_id: t.order_id.clone(),
                transfer_id: Some(transfer_id),
                ..Cause::default()
            };
            let mut draft =
                EntryDraft::new(JournalEntryType::Transfer, cause, t.description.clone());
            draft
                .leg(
                    AccountKey::available(t.source, currency, FundPool::Standard),
                    -split.payer_pays,
                )
                .leg(
                    AccountKey::available(t.destination, currency, t.pool),
                    split.payee_gets,
                )
                .leg(
                    AccountKey::platform(LedgerAccountKind::FeeRevenue, currency),
                    split.fee_revenue,
                );
            let posted = ledger::post(&mut tx, &draft, now)
                .await
                .map_err(|e| post_error(ctx.errors(), e))?;
            let row = TransferRow {
                transfer_id,
                source_wallet_id: t.source,
                destination_wallet_id: t.destination,
                currency: currency.code().to_owned(),
                amount: t.amount.amount(),
                destination_fund_pool: t.pool as i16,
                fee_legs: fees_json(&t.fees),
                order_id: t.order_id.clone(),
                description: t.description.clone(),
                entry_id: posted.entry_id,
                created_at: now,
            };
            store::transfers::insert(&mut *tx, &row)
                .await
                .map_err(internal)?;
            let transfer = transfer_proto(&t, transfer_id, posted.entry_id, now);
            let source_balance = super::wallets::balance_in(&mut tx, t.source, currency).await?;
            Ok((
                CreateTransferResponse {
                    transfer: Some(transfer),
                    source_balance: Some(source_balance),
                },
                tx,
            ))
        },
    )
    .await
}

/// GetTransfer.
pub async fn get(ctx: &Ctx, req: GetTransferRequest) -> Result<GetTransferResponse, Status> {
    let mut v = FieldViolations::new();
    let id = v.uuid("transfer_id", &req.transfer_id);
    v.finish()?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    Ok(GetTransferResponse {
        transfer: Some(load(&mut conn, ctx, id.expect("ok")).await?),
    })
}
