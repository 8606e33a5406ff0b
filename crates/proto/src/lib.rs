//! Generated Rust code for the Kuajing v1 contracts in `proto/`, and the encoded
//! descriptor set every server registers for reflection.
//!
//! Modules mirror the protobuf packages (`kuajing::wallet::v1`, ...) because generated code
//! refers to other packages by relative paths; the short aliases below are what the
//! services use.

/// Every file descriptor of `proto/` (with imports), for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/kuajing_descriptor.bin"));

/// The allowed-callers table of every method, generated from the contracts' "Callers:"
/// comments (see `build.rs`). Enforced by the platform's service-credential check.
pub mod callers {
    include!(concat!(env!("OUT_DIR"), "/callers.rs"));

    /// The callers `path` (`/package.Service/Method`) allows; `None` for an unknown method.
    pub fn allowed(path: &str) -> Option<&'static [&'static str]> {
        CALLERS.iter().find(|(p, _)| *p == path).map(|(_, c)| *c)
    }
}

/// The protobuf package tree.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod kuajing {
    /// `kuajing.type.v1`: shared messages (money, pagination, time ranges).
    pub mod r#type {
        pub mod v1 {
            tonic::include_proto!("kuajing.r#type.v1");
        }
    }
    /// `kuajing.identity.v1`.
    pub mod identity {
        pub mod v1 {
            tonic::include_proto!("kuajing.identity.v1");
        }
    }
    /// `kuajing.wallet.v1`.
    pub mod wallet {
        pub mod v1 {
            tonic::include_proto!("kuajing.wallet.v1");
        }
    }
    /// `kuajing.authorization.v1`.
    pub mod authorization {
        pub mod v1 {
            tonic::include_proto!("kuajing.authorization.v1");
        }
    }
    /// `kuajing.order.v1`.
    pub mod order {
        pub mod v1 {
            tonic::include_proto!("kuajing.order.v1");
        }
    }
    /// `kuajing.fx.v1`.
    pub mod fx {
        pub mod v1 {
            tonic::include_proto!("kuajing.fx.v1");
        }
    }
    /// `kuajing.edge.v1`.
    pub mod edge {
        pub mod v1 {
            tonic::include_proto!("kuajing.edge.v1");
        }
    }
    /// `kuajing.sandbox.v1`: the simulated bank and mailbox `kuajing up` serves.
    pub mod sandbox {
        pub mod v1 {
            tonic::include_proto!("kuajing.sandbox.v1");
        }
    }
}

pub use kuajing::r#type::v1 as types;
pub use kuajing::{authorization, edge, fx, identity, order, sandbox, wallet};
