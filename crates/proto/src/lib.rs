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

    /// What the contract writes after `caller` among the callers of `path`
    /// ("for the owner"), if anything.
    pub fn qualifier(path: &str, caller: &str) -> Option<&'static str> {
        QUALIFIERS
            .iter()
            .find(|(p, c, _)| *p == path && *c == caller)
            .map(|(_, _, q)| *q)
    }

    /// Whether edge must name the person it acts for (`kj-subject`) when it calls `path`.
    /// An RPC acts for a person when the contract qualifies edge as a caller ("edge (for
    /// the owner)", "edge (buyer)"), unless the qualifier says the call is made for nobody
    /// ("unauthenticated", "no `kj-subject`", "anyone"). Edge listed without a qualifier
    /// reads public reference data (rates, categories, verification keys).
    pub fn edge_needs_subject(path: &str) -> bool {
        qualifier(path, "edge").is_some_and(|q| {
            let q = q.to_lowercase();
            !["unauthenticated", "no `kj-subject`", "anyone"]
                .iter()
                .any(|free| q.contains(free))
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn qualifiers_are_kept() {
            assert_eq!(
                qualifier("/kuajing.wallet.v1.WalletService/GetWallet", "edge"),
                Some("for the owner")
            );
            assert_eq!(
                qualifier("/kuajing.wallet.v1.WalletService/GetWallet", "order"),
                None
            );
        }

        /// The RPCs edge may call for nobody, written out so a contract change that
        /// widens them is seen in review.
        #[test]
        fn subject_free_edge_calls_are_the_listed_ones() {
            let mut free: Vec<&str> = CALLERS
                .iter()
                .filter(|(p, c)| c.contains(&"edge") && !edge_needs_subject(p))
                .map(|(p, _)| p.rsplit_once('.').map_or(*p, |(_, m)| m))
                .collect();
            free.sort_unstable();
            assert_eq!(
                free,
                [
                    "AuthorizationService/ListRestrictedCategories",
                    "FxService/GetEquivalent",
                    "FxService/GetRate",
                    "FxService/ListRates",
                    "IdentityService/ConfirmContact",
                    "IdentityService/ListRevokedSessions",
                    "IdentityService/ListVerificationKeys",
                    "IdentityService/Login",
                    "IdentityService/RefreshToken",
                    "IdentityService/RegisterAccount",
                    "IdentityService/ResetPassword",
                    "IdentityService/SendVerificationCode",
                    "IdentityService/StartPasswordReset",
                    "OrderService/OpenPaymentLink",
                    "WalletService/ListWithdrawalFeeRules",
                ]
            );
            assert!(edge_needs_subject(
                "/kuajing.wallet.v1.WalletService/GetWallet"
            ));
            assert!(edge_needs_subject(
                "/kuajing.order.v1.OrderService/PayOrders"
            ));
        }
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
