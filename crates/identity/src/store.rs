//! Postgres access for identity: one module per table family, SQL only, every statement a
//! sqlx query macro checked at compile time against the migrations (the offline data is
//! `crates/identity/.sqlx`, refreshed by `.ci/sqlx-data`). Every function takes the connection or
//! transaction it runs on; the API decides the transaction boundaries.
//!
//! Times always come from the service clock (never the database's `now()`), so tests that
//! move the clock see consistent expiry.

pub mod accounts;
pub mod codes;
pub mod events;
pub mod keys;
pub mod linked;
pub mod operators;
pub mod outbox;
pub mod pins;
pub mod real_name;
pub mod sessions;
pub mod supplier;
