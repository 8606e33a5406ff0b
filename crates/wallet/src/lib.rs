//! The wallet service: the multi-currency World Account on a double-entry ledger.
//!
//! A library, so `kuajing up` and the testkit embed it; `src/main.rs` is the thin binary.
//! Schema `wallet`, owned by role `kj_wallet`; contract `kuajing.wallet.v1.WalletService`.
//!
//! - `domain/`: the rules, free of IO (double entry, holds, fees, withdrawals, bank details).
//! - `ledger`: posts journal entries (conditional updates in a fixed lock order).
//! - `ops/`: one module per area of the contract; `api`: the gRPC surface.

mod api;
pub mod batch;
pub mod domain;
pub mod ledger;
pub mod ops;
pub mod ownership;
pub mod settings;

use std::time::Duration;

use kuajing_platform::service::BoxFuture;
use kuajing_platform::{ErrorDomain, ServiceContext, ServiceDef};
use kuajing_proto::wallet::v1::wallet_service_server::{SERVICE_NAME, WalletServiceServer};
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

fn routes(svc: ServiceContext) -> BoxFuture<anyhow::Result<Routes>> {
    Box::pin(async move {
        let plain = ops::Ctx { svc, batcher: None };
        // Transfers are batched unless told otherwise (see `batch` and `settings`).
        let settings = settings::current(&plain.svc.options)?;
        let batcher = settings
            .batch_workers
            .map(|workers| batch::Batcher::start(plain.clone(), workers, 256));
        let ctx = ops::Ctx { batcher, ..plain };
        ops::holds::spawn_sweeper(ctx.clone(), HOLD_SWEEP_INTERVAL);
        Ok(Routes::new(WalletServiceServer::new(api::Api::new(ctx))))
    })
}
