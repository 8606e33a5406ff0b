//! The wallet service: the multi-currency World Account on a double-entry ledger.
//!
//! A library, so `kuajing up` and the testkit embed it; `src/main.rs` is the thin binary.
//! Schema `wallet`, owned by role `kj_wallet`; contract `kuajing.wallet.v1.WalletService`.
//!
//! - `domain/`: the rules, free of IO (double entry, holds, fees, withdrawals, bank details).
//! - `ledger`: posts journal entries (conditional updates in a fixed lock order).
//! - `ops/`: one module per area of the contract; `api`: the gRPC surface.

mod api;
pub mod domain;
pub mod ops;
pub mod ownership;
pub mod settings;
pub mod store;

use std::time::Duration;

use kuajing_platform::service::BoxFuture;
use kuajing_platform::{ErrorDomain, ServiceContext, ServiceDef};
use kuajing_proto::wallet::v1::wallet_service_server::{SERVICE_NAME, WalletServiceServer};
use sha2::Digest;
use sqlx::migrate::Migrator;
use tonic::service::Routes;

/// The service's embedded schema migrations (`migrations/`).
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// How often expired holds are released.
pub const HOLD_SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// How the platform runs this service.
pub static SERVICE: ServiceDef = ServiceDef {
    name: "wallet",
    grpc_service: SERVICE_NAME,
    schema: "wallet",
    migrator: &MIGRATOR,
    errors: ErrorDomain("wallet.kuajing"),
    routes,
    accepts_http1: false,
};

/// The fingerprint key the settings configure (folded to 32 bytes), `None` when none is
/// and none is required; an error naming the variable when it is required and missing, or
/// malformed.
fn configured_key(settings: &settings::Settings) -> anyhow::Result<Option<[u8; 32]>> {
    const VARIABLE: &str = "KJ_WALLET_FINGERPRINT_KEY";
    match &settings.fingerprint_key {
        Some(text) => {
            let bytes = kuajing_platform::config::decode_key(text)
                .map_err(|e| anyhow::anyhow!("{VARIABLE}: {e}"))?;
            anyhow::ensure!(
                bytes.len() >= 32,
                "{VARIABLE}: at least 32 bytes are needed"
            );
            Ok(Some(fold(&bytes)))
        }
        None if settings.key_required => anyhow::bail!(
            "{VARIABLE} is not set: the key of bank-account fingerprints (base64 of at least \
             32 random bytes; `kuajing keys` prints one)"
        ),
        None => Ok(None),
    }
}

/// Any key of 32 bytes or more, as the 32 the MAC takes (the same way every time).
fn fold(bytes: &[u8]) -> [u8; 32] {
    <[u8; 32]>::from(sha2::Sha256::digest(bytes))
}

/// The configured fingerprint key, else (`kuajing up`, tests) one generated and kept in the
/// wallet schema.
async fn fingerprint_key(
    svc: &ServiceContext,
    settings: &settings::Settings,
) -> anyhow::Result<[u8; 32]> {
    if let Some(key) = configured_key(settings)? {
        return Ok(key);
    }
    tracing::warn!(
        "KJ_WALLET_FINGERPRINT_KEY is not set: using a key generated and kept in the wallet \
         schema (fine for local use; configure one in production)"
    );
    let kept = kuajing_platform::service_secrets::get_or_create(
        &svc.pool,
        "fingerprint_key",
        || {
            let mut key = vec![0u8; 32];
            getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            Ok(key)
        },
        svc.clock.now(),
    )
    .await?;
    Ok(fold(&kept))
}

fn routes(svc: ServiceContext) -> BoxFuture<anyhow::Result<Routes>> {
    Box::pin(async move {
        // Transfers are batched unless told otherwise (see `batch` and `settings`).
        let settings = settings::current(&svc.options)?;
        let fingerprint_key = fingerprint_key(&svc, &settings).await?;
        let plain = ops::Ctx {
            svc,
            batcher: None,
            fingerprint_key,
        };
        let batcher = settings
            .batch_workers
            .map(|workers| ops::batch::Batcher::start(plain.clone(), workers, 256));
        let ctx = ops::Ctx { batcher, ..plain };
        ops::holds::spawn_sweeper(ctx.clone(), HOLD_SWEEP_INTERVAL);
        Ok(Routes::new(WalletServiceServer::new(api::Api::new(ctx))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(key: Option<&str>, required: bool) -> settings::Settings {
        settings::Settings {
            batch_workers: None,
            fingerprint_key: key.map(str::to_owned),
            key_required: required,
        }
    }

    #[test]
    fn the_binary_needs_a_fingerprint_key_and_says_so() {
        let missing = configured_key(&with(None, true)).unwrap_err().to_string();
        assert!(
            missing.starts_with("KJ_WALLET_FINGERPRINT_KEY is not set"),
            "{missing}"
        );
        assert_eq!(configured_key(&with(None, false)).unwrap(), None);
        assert!(
            configured_key(&with(Some("c2hvcnQ="), true)).is_err(),
            "too short"
        );
        assert!(configured_key(&with(Some("not base64!"), true)).is_err());
        let (_, printed) = settings::generated_key().unwrap();
        let key = configured_key(&with(Some(&printed), true)).unwrap();
        assert!(key.is_some(), "what `kuajing keys` prints is a key");
    }
}
