//! The fx service: rates, locked quotes and conversions through the wallet.
//!
//! A library, so `kuajing up` and the testkit embed it; `src/main.rs` is the thin binary.
//! Schema `fx`, owned by role `kj_fx`; contract `kuajing.fx.v1.FxService`.

mod api;

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
};

fn routes(ctx: ServiceContext) -> BoxFuture<anyhow::Result<Routes>> {
    Box::pin(async move { Ok(Routes::new(FxServiceServer::new(api::Api::new(ctx)))) })
}
