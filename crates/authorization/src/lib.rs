//! The authorization service: cross-border pay mandates, payment decisions with limits, and the decision log.
//!
//! A library, so `kuajing up` and the testkit embed it; `src/main.rs` is the thin binary.
//! Schema `authz`, owned by role `kj_authz`; contract `kuajing.authorization.v1.AuthorizationService`.

mod api;

use kuajing_platform::service::BoxFuture;
use kuajing_platform::{ErrorDomain, ServiceContext, ServiceDef};
use kuajing_proto::authorization::v1::authorization_service_server::{
    AuthorizationServiceServer, SERVICE_NAME,
};
use sqlx::migrate::Migrator;
use tonic::service::Routes;

/// The service's embedded schema migrations (`migrations/`).
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// How the platform runs this service.
pub static SERVICE: ServiceDef = ServiceDef {
    name: "authorization",
    grpc_service: SERVICE_NAME,
    schema: "authz",
    migrator: &MIGRATOR,
    errors: ErrorDomain("authorization.kuajing"),
    routes,
};

fn routes(ctx: ServiceContext) -> BoxFuture<anyhow::Result<Routes>> {
    Box::pin(async move {
        Ok(Routes::new(AuthorizationServiceServer::new(api::Api::new(
            ctx,
        ))))
    })
}
