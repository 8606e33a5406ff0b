//! SQL only: every statement wallet runs against its schema, checked at compile time against
//! the migrations (`sqlx::query!`; the offline data is `crates/wallet/.sqlx`, refreshed by
//! `.ci/sqlx-data`), but for the transfer batch's set-based statements (`batch`). No rules
//! and no calls to other services live here: operations decide, then read and write through
//! these functions. Kinds, pools and states are stored as the contract's enum numbers,
//! passed in by name (`LedgerAccountKind::CustomerHeld as i16`).

pub mod conversions;
pub mod ledger;
pub mod owners;
pub mod wallets;
