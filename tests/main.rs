//! Tests across the real services, each on a fresh Postgres database.

mod authorization;
mod foundation;
mod fx;
mod idempotency;
mod identity;
mod wallet;
