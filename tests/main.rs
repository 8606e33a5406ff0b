//! Tests across the real services, each on a fresh Postgres database.

mod access;
mod authorization;
mod bad_input;
mod browser;
mod database_tls;
mod edge_api;
mod foundation;
mod fx;
mod idempotency;
mod identity;
mod journeys;
mod layout;
mod operators;
mod order;
mod rotation;
mod sandbox;
mod scale;
mod tls;
mod wallet;

/// Fixtures the test modules share.
mod support;
