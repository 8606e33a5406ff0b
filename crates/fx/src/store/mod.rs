//! SQL only: every statement fx runs against its schema, checked at compile time against the
//! migrations (`sqlx::query!`; the offline data is `crates/fx/.sqlx`, refreshed by
//! `.ci/sqlx-data`). No rules and no calls to other services live here: operations decide,
//! then read and write through these functions.

pub mod conversions;
pub mod quotes;
pub mod rates;
