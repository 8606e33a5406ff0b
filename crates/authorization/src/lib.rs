//! The authorization service: cross-border pay mandates, payment decisions with limits, and the decision log.
//!
//! A library, so `kuajing up` and the testkit embed it; `src/main.rs` is the thin binary.
//! Schema `authz`, owned by role `kj_authz`; contract `kuajing.authorization.v1.AuthorizationService`.
//!
//! - `domain/`: the rules, free of IO (mandate states and validity, limits, categories,
//!   the ordered decision, reservations).
//! - `settings`: limits, time zone, validity and agreement version, from the environment.
//! - `ops/`: one module per area of the contract; `api`: the gRPC surface.

mod api;
pub mod domain;
pub mod ops;
pub mod settings;
pub mod store;

use std::sync::Arc;

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
    accepts_http1: false,
};

fn routes(svc: ServiceContext) -> BoxFuture<anyhow::Result<Routes>> {
    Box::pin(async move {
        let settings = settings::current(&svc.options)?;
        check_settings(&svc, &settings).await?;
        let ctx = ops::Ctx {
            svc,
            settings: Arc::new(settings),
        };
        ops::mandates::spawn_sweeper(ctx.clone(), ctx.settings.expiry_sweep);
        Ok(Routes::new(AuthorizationServiceServer::new(api::Api::new(
            ctx,
        ))))
    })
}

/// Refuses to start on settings that cannot work: an unknown time zone, or a default
/// validity end beyond the maximum validity.
async fn check_settings(svc: &ServiceContext, s: &settings::Settings) -> anyhow::Result<()> {
    let known = store::calendar::zone_known(&svc.pool, &s.time_zone).await?;
    anyhow::ensure!(
        known,
        "KJ_AUTHZ_LIMIT_TIME_ZONE: {:?} is not a time zone Postgres knows",
        s.time_zone
    );
    let latest = svc.clock.now() + s.max_validity;
    anyhow::ensure!(
        s.default_expire_time <= latest,
        "KJ_AUTHZ_DEFAULT_EXPIRE_TIME {} is after the maximum validity ({} days)",
        s.default_expire_time.to_rfc3339(),
        s.max_validity.num_days()
    );
    Ok(())
}
