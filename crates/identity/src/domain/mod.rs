//! The identity rules, free of IO: what a valid member name, contact, password, code, PIN
//! or submission is; what an operator's one-time password is; when a code, a login or a PIN is locked; which admission rules a
//! supplier fails; what an access token claims. `store` and `api` apply them.

pub mod account;
pub mod admission;
pub mod code;
pub mod contact;
pub mod events;
pub mod hash_budget;
pub mod linked;
pub mod lockout;
pub mod member_name;
pub mod member_proof;
pub mod password;
pub mod pin;
pub mod real_name;
pub mod region;
pub mod session;
pub mod supplier;
pub mod text;
pub mod totp;
