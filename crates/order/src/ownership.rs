//! When edge acts for a person (`kj-subject`), the order service checks that the person is
//! the party of the order the RPC requires (the contract's "Callers:" per RPC), on top of
//! edge's own check; otherwise PERMISSION_DENIED / NOT_OWNER with ErrorInfo metadata
//! `order_id` and `required_party`. GetOrder and GetPayment answer NOT_FOUND instead, like
//! a missing order or payment, so ids cannot be probed.
//!
//! - The supplier of an order is its `supplier_account_id`. Its buyer is its
//!   `buyer_account_id`, or, for a Trade Assurance or Direct Pay order whose buyer account
//!   is not known yet, an account whose verified email is `trade.buyer.email` (asked of
//!   identity, once per request, only then).
//! - Nobody is checked when a service calls on its own (no subject), nor when an operator
//!   does: the contract lets operators act on any order, and their subject is their own
//!   account, no party.
//! - The checks run where the operation has the order in hand (GetOrder, ListOrderEvents,
//!   PayOrders and the other reads check the row they load anyway: no extra read on the hot
//!   path); a step that only reads the order inside its transaction reads it once more
//!   before, and only when a person is checked.

use kuajing_platform::auth::Caller;
use kuajing_platform::error::{internal, invalid_field};
use kuajing_proto::identity::v1::GetAccountRequest;
use kuajing_proto::identity::v1::identity_service_client::IdentityServiceClient;
use kuajing_proto::order::v1::{Order, Payment, order};
use tonic::{Code, Status};
use uuid::Uuid;

use crate::ops::peers::found;
use crate::ops::{Ctx, records};
use crate::rpc;

/// Reason: the person acted for is not the party the RPC requires.
pub use kuajing_proto::reasons::order::NOT_OWNER;

/// The party of an order an RPC requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// The buyer.
    Buyer,
    /// The supplier.
    Supplier,
    /// Either of them.
    Either,
}

impl Need {
    /// The `required_party` of a refusal.
    pub fn name(self) -> &'static str {
        match self {
            Need::Buyer => "BUYER",
            Need::Supplier => "SUPPLIER",
            Need::Either => "BUYER_OR_SUPPLIER",
        }
    }

    fn party(self) -> &'static str {
        match self {
            Need::Buyer => "buyer",
            Need::Supplier => "supplier",
            Need::Either => "buyer or supplier",
        }
    }
}

/// Who a request acts for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Who {
    /// The person named in `kj-subject`, recorded as the actor.
    pub subject: Option<Uuid>,
    checked: bool,
}

impl Who {
    /// From the request: the subject the credential check verified (checked unless the
    /// caller is an operator), or, with no credential check, the `kj-subject` metadata
    /// (checked).
    pub fn of<T>(request: &tonic::Request<T>) -> Who {
        match Caller::of(request) {
            Some(caller) => Who {
                subject: caller.subject,
                checked: caller.owner_to_check().is_some(),
            },
            None => {
                // Without a credential check (the service's own tests) a malformed subject
                // names nobody.
                let subject = Caller::subject_of(request, kuajing_platform::error::PLATFORM)
                    .ok()
                    .flatten();
                Who {
                    subject,
                    checked: subject.is_some(),
                }
            }
        }
    }

    /// A person edge acts for, whose part is checked.
    pub fn person(id: Uuid) -> Who {
        Who {
            subject: Some(id),
            checked: true,
        }
    }

    /// The person whose part in what the request touches is checked; `None` for a service
    /// calling on its own or an operator.
    pub fn checked(self) -> Option<Uuid> {
        self.subject.filter(|_| self.checked)
    }
}

/// A person's part in one order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Standing {
    /// The person is the buyer (by account, or by verified email).
    pub buyer: bool,
    /// The person is the supplier.
    pub supplier: bool,
}

impl Standing {
    /// True when this part is what `need` requires.
    pub fn may(self, need: Need) -> bool {
        match need {
            Need::Buyer => self.buyer,
            Need::Supplier => self.supplier,
            Need::Either => self.buyer || self.supplier,
        }
    }
}

fn same(id: &str, person: Uuid) -> bool {
    Uuid::try_parse(id).is_ok_and(|u| u == person)
}

/// The person's part by the order's account ids alone.
fn by_ids(person: Uuid, order: &Order) -> Standing {
    Standing {
        buyer: same(&order.buyer_account_id, person),
        supplier: same(&order.supplier_account_id, person),
    }
}

/// The email a buyer is known by while its account is not: a Trade Assurance or Direct Pay
/// order without `buyer_account_id`.
fn buyer_email(order: &Order) -> Option<&str> {
    if !order.buyer_account_id.is_empty() {
        return None;
    }
    match &order.details {
        Some(order::Details::Trade(t)) => t
            .buyer
            .as_ref()
            .map(|b| b.email.as_str())
            .filter(|e| !e.is_empty()),
        _ => None,
    }
}

/// A person's parts in orders, asking identity for the person's verified email at most
/// once, and only for an order whose buyer is known by email alone.
struct Person<'a> {
    ctx: &'a Ctx,
    id: Uuid,
    email: Option<Option<String>>,
}

impl<'a> Person<'a> {
    fn new(ctx: &'a Ctx, id: Uuid) -> Self {
        Person {
            ctx,
            id,
            email: None,
        }
    }

    async fn verified_email(&mut self) -> Result<Option<&str>, Status> {
        if self.email.is_none() {
            let account = found(rpc!(
                self.ctx,
                "identity",
                IdentityServiceClient,
                get_account,
                GetAccountRequest {
                    account_id: self.id.to_string()
                }
            ))?
            .and_then(|r| r.account);
            self.email = Some(
                account
                    .filter(|a| a.email_verified && !a.email.is_empty())
                    .map(|a| a.email),
            );
        }
        Ok(self.email.as_ref().and_then(|e| e.as_deref()))
    }

    /// The person's part in `order`, as far as `need` asks.
    async fn standing(&mut self, order: &Order, need: Need) -> Result<Standing, Status> {
        let mut s = by_ids(self.id, order);
        if !s.may(need)
            && !s.supplier
            && need != Need::Supplier
            && let Some(email) = buyer_email(order)
        {
            s.buyer = self
                .verified_email()
                .await?
                .is_some_and(|mine| mine.eq_ignore_ascii_case(email));
        }
        Ok(s)
    }
}

/// PERMISSION_DENIED / NOT_OWNER: the person is not `need` (of order `order_id`, when one).
pub fn not_owner(ctx: &Ctx, order_id: Option<&str>, need: Need) -> Status {
    let mut md = vec![("required_party", need.name().to_owned())];
    let message = match order_id {
        Some(id) => {
            md.push(("order_id", id.to_owned()));
            format!(
                "the account acted for is not the {} of order {id}",
                need.party()
            )
        }
        None => format!(
            "the account acted for is not the {} the request names",
            need.party()
        ),
    };
    ctx.refuse_code(Code::PermissionDenied, NOT_OWNER, message, &md)
}

/// Refuses (NOT_OWNER) unless the person acted for is `need` of `order`. Returns the
/// person's part (`None` when nobody is checked), for a transaction to check again against
/// the row it locked when what it needs depends on the order's status.
pub async fn require(
    ctx: &Ctx,
    who: Who,
    order: &Order,
    need: Need,
) -> Result<Option<Standing>, Status> {
    let Some(id) = who.checked() else {
        return Ok(None);
    };
    let s = Person::new(ctx, id).standing(order, need).await?;
    again(ctx, Some(s), order, need)?;
    Ok(Some(s))
}

/// [`require`] for a step that reads the order only inside its transaction: reads it
/// first, only when a person is checked (the check may ask identity, which no transaction
/// waits for). `need` may depend on the order; the transaction checks [`again`] when it
/// does.
pub async fn require_by_id(
    ctx: &Ctx,
    who: Who,
    order_id: Uuid,
    need: impl FnOnce(&Order) -> Need,
) -> Result<Option<Standing>, Status> {
    if who.checked().is_none() {
        return Ok(None);
    }
    let order = {
        let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
        records::load(&mut conn, ctx, order_id).await?
    };
    require(ctx, who, &order, need(&order)).await
}

/// Checks a part found by [`require`] against what the locked order needs now.
pub fn again(
    ctx: &Ctx,
    standing: Option<Standing>,
    order: &Order,
    need: Need,
) -> Result<(), Status> {
    match standing {
        Some(s) if !s.may(need) => Err(not_owner(ctx, Some(&order.order_id), need)),
        _ => Ok(()),
    }
}

/// [`require`] for a step only the supplier takes: decided by the account ids alone,
/// without asking another service, so it may run inside a transaction.
pub fn require_supplier(ctx: &Ctx, who: Who, order: &Order) -> Result<(), Status> {
    match who.checked() {
        Some(id) if !by_ids(id, order).supplier => {
            Err(not_owner(ctx, Some(&order.order_id), Need::Supplier))
        }
        _ => Ok(()),
    }
}

/// [`require`] for each of several orders (PayOrders, QueryPaymentMethods).
pub async fn require_each(ctx: &Ctx, who: Who, orders: &[Order], need: Need) -> Result<(), Status> {
    let Some(id) = who.checked() else {
        return Ok(());
    };
    let mut person = Person::new(ctx, id);
    for o in orders {
        if !person.standing(o, need).await?.may(need) {
            return Err(not_owner(ctx, Some(&o.order_id), need));
        }
    }
    Ok(())
}

/// GetOrder: NOT_FOUND, as for a missing order (`asked` is the id or number asked for),
/// unless the person acted for is a party of `order`.
pub async fn visible(ctx: &Ctx, who: Who, order: &Order, asked: &str) -> Result<(), Status> {
    let Some(id) = who.checked() else {
        return Ok(());
    };
    if Person::new(ctx, id)
        .standing(order, Need::Either)
        .await?
        .may(Need::Either)
    {
        Ok(())
    } else {
        Err(ctx.errors().not_found("order", asked.to_owned()))
    }
}

/// GetPayment: NOT_FOUND, as for a missing payment, unless the person acted for is the
/// paying buyer.
pub fn payment_visible(ctx: &Ctx, who: Who, payment: &Payment) -> Result<(), Status> {
    match who.checked() {
        Some(id) if !same(&payment.buyer_account_id, id) => Err(ctx
            .errors()
            .not_found("payment", payment.payment_id.clone())),
        _ => Ok(()),
    }
}

/// A request that names the person's own account for its side (CreateMarketplaceOrder,
/// the drafts): NOT_OWNER unless `account_id` is the person. A malformed or empty id
/// passes: the operation answers INVALID_ARGUMENT.
pub fn require_account(ctx: &Ctx, who: Who, account_id: &str, need: Need) -> Result<(), Status> {
    match (who.checked(), Uuid::try_parse(account_id)) {
        (Some(me), Ok(id)) if id != me => Err(not_owner(ctx, None, need)),
        _ => Ok(()),
    }
}

/// A request filtered on parties (ListOrders, CountOrdersByStatus, a fee estimate of a
/// draft): the person must be one of the parties named; naming neither is INVALID_ARGUMENT
/// for a person (only operators list across parties). A malformed id passes: the
/// operation answers INVALID_ARGUMENT.
pub fn require_named(ctx: &Ctx, who: Who, supplier: &str, buyer: &str) -> Result<(), Status> {
    let Some(me) = who.checked() else {
        return Ok(());
    };
    let parse = |s: &str| {
        if s.is_empty() {
            Ok(None)
        } else {
            Uuid::try_parse(s).map(Some)
        }
    };
    let (Ok(supplier), Ok(buyer)) = (parse(supplier), parse(buyer)) else {
        return Ok(());
    };
    if supplier == Some(me) || buyer == Some(me) {
        return Ok(());
    }
    let need = match (supplier, buyer) {
        (None, None) => {
            return Err(invalid_field(
                "supplier_account_id",
                "name the supplier or the buyer acted for (supplier_account_id or buyer_account_id)",
            ));
        }
        (Some(_), None) => Need::Supplier,
        (None, Some(_)) => Need::Buyer,
        (Some(_), Some(_)) => Need::Either,
    };
    Err(not_owner(ctx, None, need))
}

/// Order `order_id` as stored, once `who` is shown to be its `need` party (NOT_OWNER
/// otherwise).
pub async fn order_of_party(
    ctx: &Ctx,
    who: Who,
    order_id: uuid::Uuid,
    need: Need,
) -> Result<kuajing_proto::order::v1::Order, Status> {
    let current = {
        let mut conn = ctx
            .svc
            .pool
            .acquire()
            .await
            .map_err(kuajing_platform::error::internal)?;
        records::load(&mut conn, ctx, order_id).await?
    };
    require(ctx, who, &current, need).await?;
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kuajing_proto::order::v1::{BuyerContact, TradeDetails};

    fn trade(supplier: Uuid, buyer: Option<Uuid>, email: &str) -> Order {
        Order {
            order_id: Uuid::now_v7().to_string(),
            supplier_account_id: supplier.to_string(),
            buyer_account_id: buyer.map(|b| b.to_string()).unwrap_or_default(),
            details: Some(order::Details::Trade(TradeDetails {
                buyer: Some(BuyerContact {
                    email: email.to_owned(),
                    ..BuyerContact::default()
                }),
                ..TradeDetails::default()
            })),
            ..Order::default()
        }
    }

    #[test]
    fn parts_by_account_ids() {
        let (s, b, x) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let o = trade(s, Some(b), "jane@example.com");
        assert_eq!(
            by_ids(s, &o),
            Standing {
                buyer: false,
                supplier: true
            }
        );
        assert!(by_ids(b, &o).may(Need::Buyer));
        assert!(!by_ids(b, &o).may(Need::Supplier));
        assert!(by_ids(b, &o).may(Need::Either));
        assert!(!by_ids(x, &o).may(Need::Either));
        // Ids compare as ids, not as text.
        let mut upper = o.clone();
        upper.buyer_account_id = b.to_string().to_uppercase();
        assert!(by_ids(b, &upper).buyer);
    }

    #[test]
    fn a_buyer_is_known_by_email_only_while_its_account_is_not() {
        let (s, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            buyer_email(&trade(s, None, "jane@example.com")),
            Some("jane@example.com")
        );
        assert_eq!(buyer_email(&trade(s, Some(b), "jane@example.com")), None);
        assert_eq!(buyer_email(&trade(s, None, "")), None);
        assert_eq!(buyer_email(&Order::default()), None);
    }

    #[test]
    fn operators_and_services_on_their_own_are_not_checked() {
        let me = Uuid::now_v7();
        let mut r = tonic::Request::new(());
        assert_eq!(Who::of(&r).checked(), None);
        r.extensions_mut().insert(Caller {
            service: kuajing_platform::auth::OPERATOR.to_owned(),
            subject: Some(me),
        });
        let who = Who::of(&r);
        assert_eq!((who.subject, who.checked()), (Some(me), None));
        r.extensions_mut().insert(Caller {
            service: "edge".to_owned(),
            subject: Some(me),
        });
        assert_eq!(Who::of(&r).checked(), Some(me));
        r.extensions_mut().insert(Caller {
            service: "wallet".to_owned(),
            subject: None,
        });
        assert_eq!(Who::of(&r).checked(), None);
        assert_eq!(Who::person(me).checked(), Some(me));
    }
}
