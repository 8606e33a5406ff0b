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
        use std::path::{Path, PathBuf};

        /// Every file under `dir` whose name ends in `.ext`.
        fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).expect("a directory") {
                let path = entry.expect("an entry").path();
                if path.is_dir() {
                    files(&path, ext, out);
                } else if path.extension().is_some_and(|e| e == ext) {
                    out.push(path);
                }
            }
        }

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

        /// Every UPPER_SNAKE string a service's code writes (its reasons, and the few other
        /// stable names below) appears in the contracts, so a reason cannot be answered that
        /// no contract documents.
        #[test]
        fn every_reason_a_service_answers_is_in_a_contract() {
            fn upper_snake(text: &str) -> Vec<&str> {
                text.split('"')
                    .skip(1)
                    .step_by(2)
                    .filter(|s| {
                        s.len() > 3
                            && s.contains('_')
                            && s.starts_with(|c: char| c.is_ascii_uppercase())
                            && s.chars()
                                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                    })
                    .collect()
            }
            // Stable names that are not reasons: order's actions (INVALID_STATE_TRANSITION
            // metadata "action"), fault-plan points, a required_party value, gRPC code names
            // a step's failure records, the wallet fee code of World Pay, and a step kind
            // that cannot occur.
            const NOT_REASONS: &[&str] = &[
                "ADD_SHIPMENT",
                "CONFIRM_RECEIPT",
                "LINK_BALANCE",
                "LINK_PREPAYMENT",
                "MARK_PAID",
                "MARK_SHIPMENT_DELIVERED",
                "REQUEST_REFUND",
                "RESOLVE_REFUND",
                "SUBMIT_REVIEW",
                "AFTER_CALL",
                "AFTER_STEP",
                "BEFORE_CALL",
                "BUYER_OR_SUPPLIER",
                "DATA_LOSS",
                "OUT_OF_RANGE",
                "WORLD_PAY_FEE",
                "UNKNOWN_STEP",
            ];
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            let mut protos = Vec::new();
            files(&root.join("proto"), "proto", &mut protos);
            let contracts: String = protos
                .iter()
                .map(|p| std::fs::read_to_string(p).expect("a contract"))
                .collect();
            for service in ["identity", "wallet", "authorization", "order", "fx", "edge"] {
                let mut sources = Vec::new();
                files(
                    &root.join("crates").join(service).join("src"),
                    "rs",
                    &mut sources,
                );
                let mut missing: Vec<String> = Vec::new();
                for file in &sources {
                    let text = std::fs::read_to_string(file).expect("a source file");
                    for name in upper_snake(&text) {
                        if !name.starts_with("KJ_")
                            && !NOT_REASONS.contains(&name)
                            && !contracts.contains(name)
                            && !missing.iter().any(|m| m == name)
                        {
                            missing.push(name.to_owned());
                        }
                    }
                }
                assert!(
                    missing.is_empty(),
                    "{service} answers reasons no contract lists: {missing:?}"
                );
            }
        }

        /// A service names each reason its contract documents through the generated constant
        /// (`kuajing_proto::reasons::<service>`), never as a string literal, so that the
        /// compiler holds every reason to the contract; `platform` through `reasons::internal`.
        #[test]
        fn documented_reasons_are_named_through_the_generated_constants() {
            // Security event type names that happen to equal a reason: stored names, not
            // refusals.
            const NOT_REFUSALS: &[(&str, &str)] = &[
                ("identity", "LOGIN_LOCKED"),
                ("identity", "REFRESH_TOKEN_REUSED"),
            ];
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            let crates: [(&str, &[&str]); 7] = [
                ("identity", crate::reasons::identity::ALL),
                ("wallet", crate::reasons::wallet::ALL),
                ("authorization", crate::reasons::authorization::ALL),
                ("order", crate::reasons::order::ALL),
                ("fx", crate::reasons::fx::ALL),
                ("edge", crate::reasons::edge::ALL),
                ("platform", crate::reasons::internal::ALL),
            ];
            assert!(crate::reasons::wallet::ALL.contains(&"INSUFFICIENT_FUNDS"));
            assert!(crate::reasons::internal::ALL.contains(&"DATABASE_UNAVAILABLE"));
            assert!(!crate::reasons::identity::ALL.contains(&"CROSS_BORDER_PAY"));
            for (name, reasons) in crates {
                let mut sources = Vec::new();
                files(
                    &root.join("crates").join(name).join("src"),
                    "rs",
                    &mut sources,
                );
                let mut literal = Vec::new();
                for file in &sources {
                    let text = std::fs::read_to_string(file).expect("a source file");
                    // Unit tests read answers as a client does, by the reason's text.
                    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                    for reason in reasons.iter() {
                        if code.contains(&format!("\"{reason}\""))
                            && !NOT_REFUSALS.contains(&(name, reason))
                        {
                            literal.push(format!("{}: {reason}", file.display()));
                        }
                    }
                }
                assert!(
                    literal.is_empty(),
                    "{name} writes documented reasons as literals, not through kuajing_proto::reasons: {literal:?}"
                );
            }
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
                    "IdentityService/EnrollOperatorFactor",
                    "IdentityService/ListRevokedSessions",
                    "IdentityService/ListVerificationKeys",
                    "IdentityService/Login",
                    "IdentityService/RefreshToken",
                    "IdentityService/RegisterAccount",
                    "IdentityService/ResetPassword",
                    "IdentityService/SendVerificationCode",
                    "IdentityService/SignInOperator",
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

/// The `ErrorInfo` reasons each contract documents, generated from its error listings (see
/// `build.rs`): `reasons::wallet::INSUFFICIENT_FUNDS`, and `reasons::internal` for what
/// every back-end service may answer. Services name their reasons through these constants,
/// so a reason their contract does not list does not compile (a test holds them to it).
pub mod reasons {
    include!(concat!(env!("OUT_DIR"), "/reasons.rs"));
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
    /// `kuajing.audit.v1`: the operator audit log every back-end service serves.
    pub mod audit {
        pub mod v1 {
            tonic::include_proto!("kuajing.audit.v1");
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
pub use kuajing::{audit, authorization, edge, fx, identity, order, sandbox, wallet};
