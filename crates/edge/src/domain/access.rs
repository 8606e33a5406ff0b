//! Who may touch what: role gates, "the caller's own account", the caller's side of an
//! order (listing, drafting, estimating), and what answers a resource that is not the
//! caller's. Edge decides these before (or, for what only a service can look up, right
//! after) it calls; the services check `kj-subject` again.

use uuid::Uuid;

use super::token::{Role, Roles};

/// Why edge refuses a request on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// PERMISSION_DENIED NOT_OWNER: the resource is someone else's.
    NotOwner {
        /// E.g. "account", "wallet", "quote".
        resource_type: &'static str,
        /// The id the request named.
        resource_id: String,
    },
    /// NOT_FOUND RESOURCE_NOT_FOUND: missing, or someone else's where ids must not be
    /// probed (orders, payments).
    NotFound {
        /// E.g. "order", "payment".
        resource_type: &'static str,
        /// The id the request named.
        resource_id: String,
    },
    /// PERMISSION_DENIED ROLE_REQUIRED.
    RoleRequired(&'static str),
    /// INVALID_ARGUMENT on one field.
    Invalid {
        /// The field path.
        field: &'static str,
        /// What is wrong.
        description: &'static str,
    },
}

impl Refusal {
    fn not_owner(resource_type: &'static str, id: Uuid) -> Refusal {
        Refusal::NotOwner {
            resource_type,
            resource_id: id.to_string(),
        }
    }
}

/// The caller must hold `role`.
pub fn require(roles: Roles, role: Role) -> Result<(), Refusal> {
    if roles.has(role) {
        Ok(())
    } else {
        Err(Refusal::RoleRequired(role.name()))
    }
}

/// An account id a request may name only as the caller's own: empty means the caller.
pub fn own_account(caller: Uuid, named: Option<Uuid>) -> Result<Uuid, Refusal> {
    match named {
        None => Ok(caller),
        Some(id) if id == caller => Ok(caller),
        Some(id) => Err(Refusal::not_owner("account", id)),
    }
}

/// A party of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    /// The buyer.
    Buyer,
    /// The supplier.
    Supplier,
}

/// The side whose orders a list or count shows: the one asked for, which needs the
/// matching role, or by default the supplier side for a supplier and the buyer side
/// otherwise.
pub fn list_party(roles: Roles, asked: Option<Party>) -> Result<Party, Refusal> {
    match asked {
        None if roles.supplier => Ok(Party::Supplier),
        None => Ok(Party::Buyer),
        Some(Party::Supplier) => require(roles, Role::Supplier).map(|()| Party::Supplier),
        Some(Party::Buyer) => require(roles, Role::Buyer).map(|()| Party::Buyer),
    }
}

/// Who drafts a Trade Assurance order and for whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Drafting {
    /// The drafting party (the caller's side).
    pub by: Party,
    /// The supplier account.
    pub supplier: Uuid,
    /// The buyer account, when known.
    pub buyer: Option<Uuid>,
}

/// The drafting side of a Trade Assurance order: a supplier caller drafts as supplier
/// (its side empty or its own id); a buyer caller drafts as buyer for a named supplier.
pub fn drafting(
    roles: Roles,
    caller: Uuid,
    supplier: Option<Uuid>,
    buyer: Option<Uuid>,
) -> Result<Drafting, Refusal> {
    if !roles.buyer && !roles.supplier {
        return Err(Refusal::RoleRequired("buyer or supplier"));
    }
    if roles.supplier && supplier.is_none_or(|s| s == caller) {
        return Ok(Drafting {
            by: Party::Supplier,
            supplier: caller,
            buyer,
        });
    }
    if roles.buyer {
        let supplier = supplier.ok_or(Refusal::Invalid {
            field: "supplier_account_id",
            description: "is required when a buyer drafts",
        })?;
        let buyer = own_account(caller, buyer)?;
        return Ok(Drafting {
            by: Party::Buyer,
            supplier,
            buyer: Some(buyer),
        });
    }
    Err(Refusal::not_owner("account", supplier.unwrap_or_default()))
}

/// The sides of a fee estimate draft with the caller's own side filled in: the supplier
/// side for a supplier caller, else the buyer side; the caller's side may be empty or
/// its own id.
pub fn estimate_sides(
    roles: Roles,
    caller: Uuid,
    supplier: Option<Uuid>,
    buyer: Option<Uuid>,
) -> Result<(Option<Uuid>, Option<Uuid>), Refusal> {
    if roles.supplier && supplier.is_none_or(|s| s == caller) {
        return Ok((Some(caller), buyer));
    }
    if roles.buyer || !roles.supplier {
        let buyer = own_account(caller, buyer)?;
        return Ok((supplier, Some(buyer)));
    }
    Err(Refusal::not_owner("account", supplier.unwrap_or_default()))
}

/// The caller's part in an order it read: buyer, supplier, or none. An order known only
/// by the buyer's email is the caller's when its verified email matches.
pub fn order_party(
    caller: Uuid,
    buyer: Option<Uuid>,
    supplier: Option<Uuid>,
    buyer_email_is_callers: bool,
) -> Option<Party> {
    if supplier == Some(caller) {
        Some(Party::Supplier)
    } else if buyer == Some(caller) || (buyer.is_none() && buyer_email_is_callers) {
        Some(Party::Buyer)
    } else {
        None
    }
}

/// Which party of an order a step is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Either party (cancel, read the trail, estimate).
    Either,
    /// Only this one.
    Only(Party),
}

/// The caller, as `party` of an order, may take a step that needs `need`; else NOT_OWNER.
pub fn may_act(need: Need, party: Party, order_id: &str) -> Result<(), Refusal> {
    match need {
        Need::Only(p) if p != party => Err(Refusal::NotOwner {
            resource_type: "order",
            resource_id: order_id.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// The party that may modify an order now: the buyer who drafted it while it awaits the
/// supplier's acceptance, otherwise the supplier.
pub fn modifying_party(awaiting_supplier_acceptance: bool) -> Need {
    if awaiting_supplier_acceptance {
        Need::Only(Party::Buyer)
    } else {
        Need::Only(Party::Supplier)
    }
}

/// The party an order awaits a decision from (RejectOrder): the supplier while it awaits
/// acceptance, the buyer while it awaits confirmation; otherwise either (the order
/// service refuses the state).
pub fn awaited_party(awaiting_acceptance: bool, awaiting_confirmation: bool) -> Need {
    match (awaiting_acceptance, awaiting_confirmation) {
        (true, _) => Need::Only(Party::Supplier),
        (_, true) => Need::Only(Party::Buyer),
        _ => Need::Either,
    }
}

/// Who decides a refund: the supplier approves or rejects, the buyer withdraws.
pub fn refund_decider(supplier_decision: bool, buyer_decision: bool) -> Need {
    match (supplier_decision, buyer_decision) {
        (true, _) => Need::Only(Party::Supplier),
        (_, true) => Need::Only(Party::Buyer),
        _ => Need::Either,
    }
}

/// A resource read by id: the caller's (`owned`), else NOT_OWNER naming it.
pub fn owned(resource_type: &'static str, id: &str, owned: bool) -> Result<(), Refusal> {
    if owned {
        Ok(())
    } else {
        Err(Refusal::NotOwner {
            resource_type,
            resource_id: id.to_owned(),
        })
    }
}

/// A resource read by id whose existence must not leak (orders, payments): the caller's,
/// else NOT_FOUND like a missing one.
pub fn visible(resource_type: &'static str, id: &str, visible: bool) -> Result<(), Refusal> {
    if visible {
        Ok(())
    } else {
        Err(Refusal::NotFound {
            resource_type,
            resource_id: id.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUYER: Roles = Roles {
        buyer: true,
        supplier: false,
        operator: false,
    };
    const SUPPLIER: Roles = Roles {
        buyer: false,
        supplier: true,
        operator: false,
    };
    const OPERATOR: Roles = Roles {
        buyer: false,
        supplier: false,
        operator: true,
    };

    #[test]
    fn roles_gate_and_own_accounts_default_to_the_caller() {
        assert!(require(BUYER, Role::Buyer).is_ok());
        assert_eq!(
            require(BUYER, Role::Supplier),
            Err(Refusal::RoleRequired("supplier"))
        );
        let me = Uuid::now_v7();
        let other = Uuid::now_v7();
        assert_eq!(own_account(me, None), Ok(me));
        assert_eq!(own_account(me, Some(me)), Ok(me));
        assert_eq!(
            own_account(me, Some(other)),
            Err(Refusal::NotOwner {
                resource_type: "account",
                resource_id: other.to_string()
            })
        );
    }

    #[test]
    fn lists_show_the_callers_side() {
        assert_eq!(list_party(SUPPLIER, None), Ok(Party::Supplier));
        assert_eq!(list_party(BUYER, None), Ok(Party::Buyer));
        assert_eq!(list_party(OPERATOR, None), Ok(Party::Buyer));
        assert_eq!(
            list_party(BUYER, Some(Party::Supplier)),
            Err(Refusal::RoleRequired("supplier"))
        );
        assert_eq!(
            list_party(SUPPLIER, Some(Party::Buyer)),
            Err(Refusal::RoleRequired("buyer"))
        );
        let both = Roles {
            buyer: true,
            supplier: true,
            operator: false,
        };
        assert_eq!(list_party(both, Some(Party::Buyer)), Ok(Party::Buyer));
    }

    #[test]
    fn drafting_sides() {
        let me = Uuid::now_v7();
        let other = Uuid::now_v7();
        let d = drafting(SUPPLIER, me, None, Some(other)).unwrap();
        assert_eq!(
            (d.by, d.supplier, d.buyer),
            (Party::Supplier, me, Some(other))
        );
        assert!(matches!(
            drafting(SUPPLIER, me, Some(other), None),
            Err(Refusal::NotOwner { .. })
        ));
        let d = drafting(BUYER, me, Some(other), None).unwrap();
        assert_eq!((d.by, d.supplier, d.buyer), (Party::Buyer, other, Some(me)));
        assert!(matches!(
            drafting(BUYER, me, None, None),
            Err(Refusal::Invalid { .. })
        ));
        assert!(matches!(
            drafting(BUYER, me, Some(other), Some(other)),
            Err(Refusal::NotOwner { .. })
        ));
        assert_eq!(
            drafting(OPERATOR, me, None, None),
            Err(Refusal::RoleRequired("buyer or supplier"))
        );
    }

    #[test]
    fn estimates_fill_the_callers_side() {
        let me = Uuid::now_v7();
        let other = Uuid::now_v7();
        assert_eq!(
            estimate_sides(SUPPLIER, me, None, None),
            Ok((Some(me), None))
        );
        assert_eq!(
            estimate_sides(BUYER, me, Some(other), None),
            Ok((Some(other), Some(me)))
        );
        assert!(estimate_sides(BUYER, me, None, Some(other)).is_err());
        assert!(estimate_sides(SUPPLIER, me, Some(other), None).is_err());
    }

    #[test]
    fn order_parties_and_hidden_resources() {
        let me = Uuid::now_v7();
        let other = Uuid::now_v7();
        assert_eq!(
            order_party(me, Some(other), Some(me), false),
            Some(Party::Supplier)
        );
        assert_eq!(
            order_party(me, Some(me), Some(other), false),
            Some(Party::Buyer)
        );
        assert_eq!(order_party(me, None, Some(other), true), Some(Party::Buyer));
        assert_eq!(order_party(me, Some(other), Some(other), true), None);
        assert_eq!(order_party(me, None, Some(other), false), None);
        assert_eq!(modifying_party(true), Need::Only(Party::Buyer));
        assert_eq!(modifying_party(false), Need::Only(Party::Supplier));
        assert_eq!(awaited_party(true, false), Need::Only(Party::Supplier));
        assert_eq!(awaited_party(false, true), Need::Only(Party::Buyer));
        assert_eq!(awaited_party(false, false), Need::Either);
        assert_eq!(refund_decider(true, false), Need::Only(Party::Supplier));
        assert_eq!(refund_decider(false, true), Need::Only(Party::Buyer));
        assert!(may_act(Need::Either, Party::Buyer, "o").is_ok());
        assert!(may_act(Need::Only(Party::Buyer), Party::Buyer, "o").is_ok());
        assert!(matches!(
            may_act(Need::Only(Party::Supplier), Party::Buyer, "o"),
            Err(Refusal::NotOwner { .. })
        ));
        assert!(owned("quote", "q", true).is_ok());
        assert!(matches!(
            owned("quote", "q", false),
            Err(Refusal::NotOwner { .. })
        ));
        assert!(matches!(
            visible("order", "o", false),
            Err(Refusal::NotFound { .. })
        ));
    }
}
