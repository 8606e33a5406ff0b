//! What every Kuajing service shares: configuration, telemetry, the gRPC server builder,
//! Postgres (pool, per-schema migrations), the error model, idempotency and money.

pub mod audit;
pub mod auth;
pub mod balance;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod idempotency;
pub mod key_files;
pub mod metrics;
pub mod money;
pub mod outbound;
pub mod page;
pub mod revocations;
mod rpcs;
pub mod server;
pub mod service;
pub mod service_secrets;
pub mod telemetry;
pub mod time;
pub mod tls;
pub mod token;

pub use error::{ErrorDomain, FieldViolations};
pub use money::{Currency, Money};
pub use service::{ServiceContext, ServiceDef};
