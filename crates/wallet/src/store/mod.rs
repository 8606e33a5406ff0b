//! SQL only: every statement wallet runs against its schema, checked at compile time against
//! the migrations (`sqlx::query!`; the offline data is `crates/wallet/.sqlx`, refreshed by
//! `.ci/sqlx-data`), the transfer batch's set-based statements (`batch`) too. No rules and
//! no calls to other services live here: operations decide, then read and write through
//! these functions. Kinds, pools and states are stored as the contract's enum numbers,
//! passed in by name (`LedgerAccountKind::CustomerHeld as i16`).

pub mod bank_accounts;
pub mod batch;
pub mod conversions;
pub mod holds;
pub mod journal;
pub mod ledger;
pub mod owners;
pub mod receiving_accounts;
pub mod remittances;
pub mod statements;
pub mod transfers;
pub mod wallets;
pub mod withdrawals;
