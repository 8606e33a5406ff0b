//! The edge service: the public entry: authenticates people and composes the internal services.
//!
//! A library, so `kuajing up` and the testkit embed it; `src/main.rs` is the thin binary.
//! Schema `edge`, owned by role `kj_edge`; contract `kuajing.edge.v1.EdgeService`.

mod api;

use kuajing_platform::service::BoxFuture;
use kuajing_platform::{ErrorDomain, ServiceContext, ServiceDef};
use kuajing_proto::edge::v1::edge_service_server::{EdgeServiceServer, SERVICE_NAME};
use sqlx::migrate::Migrator;
use tonic::service::Routes;

/// The service's embedded schema migrations (`migrations/`).
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// How the platform runs this service.
pub static SERVICE: ServiceDef = ServiceDef {
    name: "edge",
    grpc_service: SERVICE_NAME,
    schema: "edge",
    migrator: &MIGRATOR,
    errors: ErrorDomain("edge.kuajing"),
    routes,
};

fn routes(ctx: ServiceContext) -> BoxFuture<anyhow::Result<Routes>> {
    Box::pin(async move { Ok(Routes::new(EdgeServiceServer::new(api::Api::new(ctx)))) })
}
