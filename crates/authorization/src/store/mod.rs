//! SQL only: every statement authorization runs against its schema, checked at compile time
//! against the migrations (`sqlx::query!`; the offline data is `crates/authorization/.sqlx`,
//! refreshed by `.ci/sqlx-data`). No rules and no calls to other services live here:
//! operations decide, then read and write through these functions. States are stored as the
//! contract's enum numbers, passed in by name (`MandateState::Active as i16`).

pub mod calendar;
pub mod categories;
pub mod decisions;
pub mod limit_days;
pub mod mandates;
pub mod reservations;
