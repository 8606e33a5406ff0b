//! The order service: marketplace, Trade Assurance and Direct Pay orders, fees, and the payment saga.
//!
//! A library, so `kuajing up` and the testkit embed it; `src/main.rs` is the thin binary.
//! Schema `orders`, owned by role `kj_orders`; contract `kuajing.order.v1.OrderService`.
//!
//! - `domain/`: the rules, free of IO (state machine, fees and tiers, drafting rules,
//!   modifications, shipments, refunds, the saga's plan).
//! - `settings`: the knobs, from the environment; the rule tables live in the schema.
//! - `ops/`: one module per area of the contract, the saga driver and its recovery loop,
//!   the wallet-operation outbox, the background loops; `api`: the gRPC surface.
//! - `ownership`: the person edge acts for must be the party of the order an RPC requires.

mod api;
pub mod domain;
pub mod ops;
pub mod ownership;
pub mod settings;
pub mod store;

use std::sync::Arc;

use kuajing_platform::service::BoxFuture;
use kuajing_platform::{ErrorDomain, ServiceContext, ServiceDef};
use kuajing_proto::order::v1::order_service_server::{OrderServiceServer, SERVICE_NAME};
use sqlx::migrate::Migrator;
use tonic::service::Routes;

/// The service's embedded schema migrations (`migrations/`).
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// How the platform runs this service.
pub static SERVICE: ServiceDef = ServiceDef {
    name: "order",
    grpc_service: SERVICE_NAME,
    schema: "orders",
    migrator: &MIGRATOR,
    errors: ErrorDomain("order.kuajing"),
    routes,
    accepts_http1: false,
};

fn routes(svc: ServiceContext) -> BoxFuture<anyhow::Result<Routes>> {
    Box::pin(async move {
        let rules = ops::rules::load(&svc.pool).await?;
        let settings = settings::current(&svc.options)?;
        let ctx = ops::Ctx {
            svc,
            settings: Arc::new(settings),
            rules: Arc::new(rules),
        };
        ops::sweeps::spawn(ctx.clone());
        Ok(Routes::new(OrderServiceServer::new(api::Api::new(ctx))))
    })
}
