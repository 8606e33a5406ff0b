//! The fx service: rates, locked quotes, and conversions through the wallet.
//!
//! A library, so `kuajing up` and the testkit embed it; `src/main.rs` is the thin binary.
//! Schema `fx`, owned by role `kj_fx`; contract `kuajing.fx.v1.FxService`.
//!
//! - `domain/`: rate resolution (direct, inverted, crossed), staleness, spreads, quote maths.
//! - `settings`: the rate table and the knobs, from flags and the environment.
//! - `ops/`: rates, quotes, conversions; `api`: the gRPC surface.

mod api;
pub mod domain;
pub mod ops;
pub mod ownership;
pub mod settings;
pub mod store;

use std::sync::Arc;

use kuajing_platform::service::BoxFuture;
use kuajing_platform::{ErrorDomain, ServiceContext, ServiceDef};
use kuajing_proto::fx::v1::fx_service_server::{FxServiceServer, SERVICE_NAME};
use sqlx::migrate::Migrator;
use tonic::service::Routes;

/// The service's embedded schema migrations (`migrations/`).
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// How the platform runs this service.
pub static SERVICE: ServiceDef = ServiceDef {
    name: "fx",
    grpc_service: SERVICE_NAME,
    schema: "fx",
    migrator: &MIGRATOR,
    errors: ErrorDomain("fx.kuajing"),
    routes,
    accepts_http1: false,
};

fn routes(svc: ServiceContext) -> BoxFuture<anyhow::Result<Routes>> {
    Box::pin(async move {
        let settings = Arc::new(settings::current(&svc.options)?);
        let ctx = ops::Ctx { svc, settings };
        ops::rates::load_table(&ctx).await?;
        Ok(Routes::new(FxServiceServer::new(api::Api::new(ctx))))
    })
}
