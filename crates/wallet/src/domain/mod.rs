//! The wallet's rules, free of IO: what a journal entry may be, how holds end, how fees
//! split, which withdrawals are allowed and what they cost.

pub mod bank;
pub mod fees;
pub mod hold;
pub mod ledger;
pub mod withdrawal;
