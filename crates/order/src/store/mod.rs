//! SQL only: every statement order runs against its schema, checked at compile time against
//! the migrations (`sqlx::query!`; the offline data is `crates/order/.sqlx`, refreshed by
//! `.ci/sqlx-data`). No rules and no calls to other services live here: operations decide,
//! then read and write through these functions. Kinds and statuses are stored as the
//! contract's enum numbers, passed in by name (`OrderStatus::Unpaid as i16`).

pub mod events;
pub mod fault_plans;
pub mod inspection_charges;
pub mod orders;
pub mod payment_links;
pub mod payments;
pub mod quotas;
pub mod rules;
pub mod wallet_operations;
