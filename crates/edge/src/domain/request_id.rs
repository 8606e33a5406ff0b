//! Downstream idempotency keys. Edge never forwards a client's request_id as it is: each
//! downstream request id is a UUIDv5 of (caller account id or "anonymous", RPC name,
//! request_id, step), so one caller's keys never meet another's, and each step of a
//! composed RPC has its own stable id. An edge retry (or a client's) with the same
//! request_id therefore reaches the services with the same ids, and their replay and
//! IDEMPOTENCY_KEY_REUSED answers come back unchanged.

use uuid::Uuid;

/// The UUIDv5 namespace of edge's downstream request ids.
pub const NAMESPACE: Uuid = Uuid::from_u128(0x6b75_616a_696e_4765_9a2e_6564_6765_7631);

/// The downstream request id of `step` of `rpc` for `caller`'s `request_id`.
pub fn derive(caller: Option<Uuid>, rpc: &str, request_id: Uuid, step: &str) -> Uuid {
    let caller = caller.map_or_else(|| "anonymous".to_owned(), |c| c.hyphenated().to_string());
    let name = format!("{caller}\n{rpc}\n{}\n{step}", request_id.hyphenated());
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_per_caller_rpc_request_and_step() {
        let alice = Some(Uuid::now_v7());
        let bob = Some(Uuid::now_v7());
        let rid = Uuid::now_v7();
        let a = derive(alice, "CreateTransfer", rid, "transfer");
        assert_eq!(a, derive(alice, "CreateTransfer", rid, "transfer"));
        assert_eq!(a.get_version_num(), 5);
        let others = [
            derive(bob, "CreateTransfer", rid, "transfer"),
            derive(None, "CreateTransfer", rid, "transfer"),
            derive(alice, "PayArrears", rid, "transfer"),
            derive(alice, "CreateTransfer", Uuid::now_v7(), "transfer"),
            derive(alice, "CreateTransfer", rid, "pin"),
        ];
        for o in others {
            assert_ne!(a, o);
        }
    }

    #[test]
    fn a_known_answer() {
        // Pinned (computed independently with Python's uuid.uuid5), so a change to the
        // derivation, which would break replays across an upgrade, is noticed.
        let rid = Uuid::from_u128(1);
        assert_eq!(
            derive(None, "Login", rid, "login").to_string(),
            "081b4ec0-aa82-5db9-b058-f6512797972a"
        );
    }
}
