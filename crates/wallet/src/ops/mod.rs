//! The wallet's operations: each validates its request, runs in one transaction with its
//! idempotency record, posts through the ledger, and answers in proto.

pub mod batch;
pub mod conversions;
pub mod fees;
pub mod holds;
pub mod journal;
pub mod receiving;
pub mod remittances;
pub mod statements;
pub mod transfers;
pub mod wallets;
pub mod withdrawals;

use std::collections::HashMap;

use kuajing_platform::error::internal;
use kuajing_platform::{Currency, ErrorDomain, ServiceContext};
use sqlx::PgConnection;
use tonic::{Code, Status};
use uuid::Uuid;

use crate::domain::ledger::AccountKey;
use crate::store::ledger::PostError;

/// Reason: an amount is in another currency than the thing it applies to.
pub use kuajing_proto::reasons::wallet::CURRENCY_MISMATCH;
/// Reason: a balance does not cover a debit.
pub use kuajing_proto::reasons::wallet::INSUFFICIENT_FUNDS;

/// Maps a posting failure to the refusal the client sees.
pub fn post_error(errors: ErrorDomain, e: PostError) -> Status {
    match e {
        PostError::Insufficient(key) => {
            let mut md = HashMap::new();
            md.insert("currency_code".to_owned(), key.currency.code().to_owned());
            if !key.is_platform() {
                md.insert("wallet_id".to_owned(), key.wallet_id.to_string());
            }
            errors.refuse_with(
                Code::FailedPrecondition,
                INSUFFICIENT_FUNDS,
                format!(
                    "the available {} balance does not cover this movement",
                    key.currency
                ),
                md,
            )
        }
        PostError::Db(e) => errors.database(e),
        other => internal(other),
    }
}

/// Refusal for an amount in the wrong currency.
pub fn currency_mismatch(
    errors: ErrorDomain,
    subject: &str,
    expected: Currency,
    got: Currency,
) -> Status {
    errors.precondition(
        CURRENCY_MISMATCH,
        subject,
        format!("expected an amount in {expected}, got {got}"),
    )
}

/// NOT_FOUND unless the wallet exists; locks nothing.
pub async fn require_wallet(
    conn: &mut PgConnection,
    errors: ErrorDomain,
    wallet_id: Uuid,
) -> Result<(), Status> {
    let found = crate::store::wallets::exists(conn, wallet_id)
        .await
        .map_err(internal)?;
    found
        .then_some(())
        .ok_or_else(|| errors.not_found("wallet", wallet_id.to_string()))
}

/// The current balance of a customer account.
pub async fn balance_of(
    conn: &mut PgConnection,
    key: &AccountKey,
) -> Result<rust_decimal::Decimal, Status> {
    crate::store::ledger::balance(conn, key)
        .await
        .map_err(internal)
}

/// What every operation needs from the service context.
#[derive(Clone)]
pub struct Ctx {
    /// The service context (pool, clock, peers, errors).
    pub svc: ServiceContext,
    /// Groups concurrent transfers into shared transactions, when enabled.
    pub batcher: Option<batch::Batcher>,
    /// Key of bank-account fingerprints.
    pub fingerprint_key: [u8; 32],
}

impl Ctx {
    /// This service's error domain.
    pub fn errors(&self) -> ErrorDomain {
        self.svc.errors
    }

    /// The current time from the service clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.svc.clock.now()
    }
}
