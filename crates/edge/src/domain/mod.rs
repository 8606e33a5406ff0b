//! Edge's rules, free of IO: tokens and roles, ownership, rate buckets, client addresses,
//! deadlines, browser origins, downstream request ids, the RPC catalogue and payment streams.

pub mod access;
pub mod client_ip;
pub mod deadline;
pub mod origins;
pub mod rate;
pub mod request_id;
pub mod rpc;
pub mod token;
pub mod watch;
