//! Tests across the real services, each on a fresh Postgres database.

mod authorization;
mod bad_input;
mod foundation;
mod fx;
mod idempotency;
mod identity;
mod order;
mod wallet;
