//! The identity service: accounts, verification codes, real-name verification, linked marketplace accounts, supplier admission, payment PIN and tokens.
//!
//! A library, so `kuajing up` and the testkit embed it; `src/main.rs` is the thin binary.
//! Schema `identity`, owned by role `kj_identity`; contract `kuajing.identity.v1.IdentityService`.

mod api;

use kuajing_platform::service::BoxFuture;
use kuajing_platform::{ErrorDomain, ServiceContext, ServiceDef};
use kuajing_proto::identity::v1::identity_service_server::{IdentityServiceServer, SERVICE_NAME};
use sqlx::migrate::Migrator;
use tonic::service::Routes;

/// The service's embedded schema migrations (`migrations/`).
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// How the platform runs this service.
pub static SERVICE: ServiceDef = ServiceDef {
    name: "identity",
    grpc_service: SERVICE_NAME,
    schema: "identity",
    migrator: &MIGRATOR,
    errors: ErrorDomain("identity.kuajing"),
    routes,
};

fn routes(ctx: ServiceContext) -> BoxFuture<anyhow::Result<Routes>> {
    Box::pin(async move { Ok(Routes::new(IdentityServiceServer::new(api::Api::new(ctx)))) })
}
