//! Orders: placing and drafting (the caller's side filled in from its token), reading
//! (only the caller's, another's reads as missing), listing and counting by the caller's
//! side, and every step of the lifecycle. Before a step is asked of the order service,
//! edge reads the order (as the caller may see it) and checks the caller is the party
//! the step needs (`as_party`); the order service checks `kj-subject` again.

use kuajing_proto::edge::v1 as pb;
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::order::v1 as opb;
use tonic::Status;
use uuid::Uuid;

use super::{field, got};
use crate::Edge;
use crate::caller::Call;
use crate::domain::access::{self, Need, Party};
use crate::domain::token::Role;
use crate::{call, errors};
use kuajing_platform::FieldViolations;

fn id_or_empty(id: Option<Uuid>) -> String {
    id.map(|i| i.to_string()).unwrap_or_default()
}

/// The caller's part in an order it read, or NOT_FOUND (like a missing order) when it is
/// no party of it.
pub(super) async fn party_in(
    edge: &Edge,
    call: &Call,
    order: &opb::Order,
    asked: &str,
) -> Result<Party, Status> {
    let me = call.my_id()?;
    let buyer = Uuid::try_parse(&order.buyer_account_id).ok();
    let supplier = Uuid::try_parse(&order.supplier_account_id).ok();
    let mut email_is_mine = false;
    if buyer.is_none()
        && supplier != Some(me)
        && let Some(opb::order::Details::Trade(trade)) = &order.details
        && let Some(contact) = trade.buyer.as_ref().filter(|b| !b.email.is_empty())
    {
        let r = call!(
            edge,
            call.out(),
            identity.get_account(idp::GetAccountRequest {
                account_id: me.to_string(),
            })
        )?;
        email_is_mine = r
            .account
            .is_some_and(|a| a.email_verified && a.email.eq_ignore_ascii_case(&contact.email));
    }
    let party = access::order_party(me, buyer, supplier, email_is_mine);
    access::visible("order", asked, party.is_some()).map_err(errors::refused)?;
    party.ok_or_else(|| errors::internal("a visible order without a party"))
}

fn status(order: &opb::Order, status: opb::OrderStatus) -> bool {
    order.status == status as i32
}

/// Checks, before a step of an order is asked of the order service, that the caller is
/// the party the step needs (`need`, decided from the order as it stands): another's
/// order answers NOT_FOUND like a missing one, the wrong party NOT_OWNER.
pub(super) async fn as_party(
    edge: &Edge,
    call: &Call,
    order_id: &str,
    need: impl FnOnce(&opb::Order) -> Need,
) -> Result<opb::Order, Status> {
    let (order, party) = read_order(edge, call, order_id).await?;
    access::may_act(need(&order), party, order_id).map_err(errors::refused)?;
    Ok(order)
}

/// One order by id, as the caller may read it.
async fn read_order(
    edge: &Edge,
    call: &Call,
    order_id: &str,
) -> Result<(opb::Order, Party), Status> {
    let r = call!(
        edge,
        call.out(),
        order.get_order(opb::GetOrderRequest {
            order_id: order_id.to_owned(),
            order_number: String::new(),
        })
    )?;
    let order = field(r.order, "order")?;
    let party = party_in(edge, call, &order, order_id).await?;
    Ok((order, party))
}

/// Places a marketplace order through one of the caller's bindings (buyers).
pub async fn create_marketplace_order(
    edge: &Edge,
    call: &Call,
    req: pb::CreateMarketplaceOrderRequest,
) -> Result<pb::CreateMarketplaceOrderResponse, Status> {
    call.require(Role::Buyer)?;
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    v.uuid("buyer_linked_account_id", &req.buyer_linked_account_id);
    v.uuid("supplier_account_id", &req.supplier_account_id);
    errors::check(v)?;
    let me = call.my_id()?;
    let linked = call!(
        edge,
        call.out(),
        identity.get_linked_account(idp::GetLinkedAccountRequest {
            key: Some(idp::get_linked_account_request::Key::LinkedAccountId(
                req.buyer_linked_account_id.clone(),
            )),
        })
    )?;
    let linked = field(linked.linked_account, "linked_account")?;
    access::owned(
        "linked_account",
        &req.buyer_linked_account_id,
        linked.account_id == me.to_string(),
    )
    .map_err(errors::refused)?;
    let transaction_method = match req.transaction_method {
        0 => opb::TransactionMethod::SecuredTransaction as i32,
        m => m,
    };
    let r = call!(
        edge,
        call.out(),
        order.create_marketplace_order(opb::CreateMarketplaceOrderRequest {
            request_id: call.request_id(got(rid)?, "create"),
            buyer_account_id: me.to_string(),
            supplier_account_id: req.supplier_account_id,
            marketplace_code: linked.marketplace,
            external_order_id: req.external_order_id,
            buyer_linked_account_id: req.buyer_linked_account_id,
            supplier_member_id: req.supplier_member_id,
            lines: req.lines,
            logistics: req.logistics,
            transaction_method,
        })
    )?;
    Ok(pb::CreateMarketplaceOrderResponse { order: r.order })
}

/// Drafts a Trade Assurance order as the supplier or as the buyer.
pub async fn draft_trade_assurance_order(
    edge: &Edge,
    call: &Call,
    req: pb::DraftTradeAssuranceOrderRequest,
) -> Result<pb::DraftTradeAssuranceOrderResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    let supplier = v.optional_uuid("supplier_account_id", &req.supplier_account_id);
    let buyer = v.optional_uuid("buyer_account_id", &req.buyer_account_id);
    errors::check(v)?;
    let me = call.me()?;
    let drafting = access::drafting(me.roles, me.account_id, got(supplier)?, got(buyer)?)
        .map_err(errors::refused)?;
    let drafted_by = match drafting.by {
        Party::Supplier => opb::OrderParty::Supplier,
        Party::Buyer => {
            if !req.salesperson.is_empty() {
                return Err(errors::invalid(
                    "salesperson",
                    "is set by the supplier only",
                ));
            }
            opb::OrderParty::Buyer
        }
    };
    let r = call!(
        edge,
        call.out(),
        order.draft_trade_assurance_order(opb::DraftTradeAssuranceOrderRequest {
            request_id: call.request_id(got(rid)?, "draft"),
            drafted_by: drafted_by as i32,
            supplier_account_id: drafting.supplier.to_string(),
            buyer_account_id: id_or_empty(drafting.buyer),
            buyer: req.buyer,
            salesperson: req.salesperson,
            currency_code: req.currency_code,
            lines: req.lines,
            contract: req.contract,
            shipping_terms: req.shipping_terms,
            export_method: req.export_method,
            payment_terms: req.payment_terms,
            payment_method: req.payment_method,
            inspection: req.inspection,
            note: req.note,
        })
    )?;
    Ok(pb::DraftTradeAssuranceOrderResponse { order: r.order })
}

/// Drafts a Direct Pay order as the supplier.
pub async fn draft_direct_pay_order(
    edge: &Edge,
    call: &Call,
    req: pb::DraftDirectPayOrderRequest,
) -> Result<pb::DraftDirectPayOrderResponse, Status> {
    call.require(Role::Supplier)?;
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    v.optional_uuid("buyer_account_id", &req.buyer_account_id);
    errors::check(v)?;
    let r = call!(
        edge,
        call.out(),
        order.draft_direct_pay_order(opb::DraftDirectPayOrderRequest {
            request_id: call.request_id(got(rid)?, "draft"),
            supplier_account_id: call.my_id()?.to_string(),
            buyer_account_id: req.buyer_account_id,
            buyer: req.buyer,
            salesperson: req.salesperson,
            currency_code: req.currency_code,
            lines: req.lines,
            contract: req.contract,
            shipping_terms: req.shipping_terms,
            export_method: req.export_method,
            payment_terms: req.payment_terms,
            payment_method: req.payment_method,
            inspection: req.inspection,
            note: req.note,
        })
    )?;
    Ok(pb::DraftDirectPayOrderResponse { order: r.order })
}

/// One of the caller's orders, by id or number.
pub async fn get_order(
    edge: &Edge,
    call: &Call,
    req: pb::GetOrderRequest,
) -> Result<pb::GetOrderResponse, Status> {
    use pb::get_order_request::Key;
    let (order_id, order_number) = match req.key {
        Some(Key::OrderId(id)) => {
            let mut v = FieldViolations::new();
            v.uuid("order_id", &id);
            errors::check(v)?;
            (id, String::new())
        }
        Some(Key::OrderNumber(n)) if !n.is_empty() => (String::new(), n),
        _ => {
            return Err(errors::invalid(
                "key",
                "one of order_id and order_number is required",
            ));
        }
    };
    let asked = if order_id.is_empty() {
        order_number.clone()
    } else {
        order_id.clone()
    };
    let r = call!(
        edge,
        call.out(),
        order.get_order(opb::GetOrderRequest {
            order_id,
            order_number,
        })
    )?;
    let order = field(r.order, "order")?;
    party_in(edge, call, &order, &asked).await?;
    Ok(pb::GetOrderResponse { order: Some(order) })
}

/// The account ids to list or count by: the caller on its side.
fn sides(call: &Call, party: i32) -> Result<(String, String), Status> {
    let mut v = FieldViolations::new();
    let asked = v.enum_or("party", party, opb::OrderParty::Unspecified);
    errors::check(v)?;
    let asked = match asked {
        opb::OrderParty::Unspecified => None,
        opb::OrderParty::Buyer => Some(Party::Buyer),
        opb::OrderParty::Supplier => Some(Party::Supplier),
    };
    let me = call.me()?;
    let party = access::list_party(me.roles, asked).map_err(errors::refused)?;
    let id = me.account_id.to_string();
    Ok(match party {
        Party::Supplier => (id, String::new()),
        Party::Buyer => (String::new(), id),
    })
}

/// The caller's orders on its side.
pub async fn list_orders(
    edge: &Edge,
    call: &Call,
    req: pb::ListOrdersRequest,
) -> Result<pb::ListOrdersResponse, Status> {
    let (supplier_account_id, buyer_account_id) = sides(call, req.party)?;
    let r = call!(
        edge,
        call.out(),
        order.list_orders(opb::ListOrdersRequest {
            supplier_account_id,
            buyer_account_id,
            statuses: req.statuses,
            status_group: req.status_group,
            filter: req.filter,
            page: req.page,
        })
    )?;
    Ok(pb::ListOrdersResponse {
        orders: r.orders,
        page: r.page,
    })
}

/// The caller's orders counted per status and group.
pub async fn count_orders_by_status(
    edge: &Edge,
    call: &Call,
    req: pb::CountOrdersByStatusRequest,
) -> Result<pb::CountOrdersByStatusResponse, Status> {
    let (supplier_account_id, buyer_account_id) = sides(call, req.party)?;
    let r = call!(
        edge,
        call.out(),
        order.count_orders_by_status(opb::CountOrdersByStatusRequest {
            supplier_account_id,
            buyer_account_id,
            filter: req.filter,
        })
    )?;
    Ok(pb::CountOrdersByStatusResponse {
        status_counts: r.status_counts,
        group_counts: r.group_counts,
        total: r.total,
        shipped_on_time: r.shipped_on_time,
        shipped_late: r.shipped_late,
    })
}

/// Checks the request id and order id every lifecycle step carries.
fn step_ids(request_id: &str, order_id: &str) -> Result<Uuid, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(request_id);
    v.uuid("order_id", order_id);
    errors::check(v)?;
    got(rid)
}

/// Modifies an order: edge first reads it to check the caller is the party that may
/// modify it now (the drafting buyer before the supplier accepts, else the supplier).
pub async fn update_order(
    edge: &Edge,
    call: &Call,
    req: pb::UpdateOrderRequest,
) -> Result<pb::UpdateOrderResponse, Status> {
    let rid = step_ids(&req.request_id, &req.order_id)?;
    as_party(edge, call, &req.order_id, |o| {
        access::modifying_party(status(o, opb::OrderStatus::AwaitingSupplierAcceptance))
    })
    .await?;
    let r = call!(
        edge,
        call.out(),
        order.update_order(opb::UpdateOrderRequest {
            request_id: call.request_id(rid, "update"),
            order_id: req.order_id,
            order: req.order,
            update_mask: req.update_mask,
            etag: req.etag,
            reason: req.reason,
        })
    )?;
    Ok(pb::UpdateOrderResponse {
        order: r.order,
        event_id: r.event_id,
    })
}

/// The supplier accepts a buyer's draft.
pub async fn accept_order(
    edge: &Edge,
    call: &Call,
    req: pb::AcceptOrderRequest,
) -> Result<pb::AcceptOrderResponse, Status> {
    call.require(Role::Supplier)?;
    let rid = step_ids(&req.request_id, &req.order_id)?;
    as_party(edge, call, &req.order_id, |_| Need::Only(Party::Supplier)).await?;
    let r = call!(
        edge,
        call.out(),
        order.accept_order(opb::AcceptOrderRequest {
            request_id: call.request_id(rid, "accept"),
            order_id: req.order_id,
            order: req.order,
            update_mask: req.update_mask,
            etag: req.etag,
            reason: req.reason,
        })
    )?;
    Ok(pb::AcceptOrderResponse { order: r.order })
}

/// The awaited party refuses an order.
pub async fn reject_order(
    edge: &Edge,
    call: &Call,
    req: pb::RejectOrderRequest,
) -> Result<pb::RejectOrderResponse, Status> {
    let rid = step_ids(&req.request_id, &req.order_id)?;
    as_party(edge, call, &req.order_id, |o| {
        access::awaited_party(
            status(o, opb::OrderStatus::AwaitingSupplierAcceptance),
            status(o, opb::OrderStatus::AwaitingBuyerConfirmation),
        )
    })
    .await?;
    let r = call!(
        edge,
        call.out(),
        order.reject_order(opb::RejectOrderRequest {
            request_id: call.request_id(rid, "reject"),
            order_id: req.order_id,
            reason_text: req.reason_text,
        })
    )?;
    Ok(pb::RejectOrderResponse { order: r.order })
}

/// The buyer confirms an order's terms.
pub async fn confirm_order(
    edge: &Edge,
    call: &Call,
    req: pb::ConfirmOrderRequest,
) -> Result<pb::ConfirmOrderResponse, Status> {
    call.require(Role::Buyer)?;
    let rid = step_ids(&req.request_id, &req.order_id)?;
    as_party(edge, call, &req.order_id, |_| Need::Only(Party::Buyer)).await?;
    if req.etag.is_empty() {
        return Err(errors::invalid(
            "etag",
            "is required: the version the caller confirms",
        ));
    }
    let r = call!(
        edge,
        call.out(),
        order.confirm_order(opb::ConfirmOrderRequest {
            request_id: call.request_id(rid, "confirm"),
            order_id: req.order_id,
            etag: req.etag,
        })
    )?;
    Ok(pb::ConfirmOrderResponse { order: r.order })
}

/// The supplier links a remittance on its wallet to its order.
pub async fn link_remittance_to_order(
    edge: &Edge,
    call: &Call,
    req: pb::LinkRemittanceToOrderRequest,
) -> Result<pb::LinkRemittanceToOrderResponse, Status> {
    call.require(Role::Supplier)?;
    let rid = step_ids(&req.request_id, &req.order_id)?;
    let mut v = FieldViolations::new();
    v.uuid("remittance_id", &req.remittance_id);
    errors::check(v)?;
    as_party(edge, call, &req.order_id, |_| Need::Only(Party::Supplier)).await?;
    super::wallet::my_remittance(edge, call, &req.remittance_id).await?;
    let r = call!(
        edge,
        call.out(),
        order.link_remittance_to_order(opb::LinkRemittanceToOrderRequest {
            request_id: call.request_id(rid, "link"),
            order_id: req.order_id,
            remittance_id: req.remittance_id,
            target: req.target,
            amount: req.amount,
        })
    )?;
    Ok(pb::LinkRemittanceToOrderResponse {
        order: r.order,
        allocation: r.allocation,
    })
}

/// The supplier records a shipment batch.
pub async fn add_shipment(
    edge: &Edge,
    call: &Call,
    req: pb::AddShipmentRequest,
) -> Result<pb::AddShipmentResponse, Status> {
    call.require(Role::Supplier)?;
    let rid = step_ids(&req.request_id, &req.order_id)?;
    as_party(edge, call, &req.order_id, |_| Need::Only(Party::Supplier)).await?;
    let r = call!(
        edge,
        call.out(),
        order.add_shipment(opb::AddShipmentRequest {
            request_id: call.request_id(rid, "ship"),
            order_id: req.order_id,
            shipment: req.shipment,
        })
    )?;
    Ok(pb::AddShipmentResponse {
        shipment: r.shipment,
        order: r.order,
    })
}

/// The supplier marks a batch delivered.
pub async fn mark_shipment_delivered(
    edge: &Edge,
    call: &Call,
    req: pb::MarkShipmentDeliveredRequest,
) -> Result<pb::MarkShipmentDeliveredResponse, Status> {
    call.require(Role::Supplier)?;
    let rid = step_ids(&req.request_id, &req.order_id)?;
    let mut v = FieldViolations::new();
    v.uuid("shipment_id", &req.shipment_id);
    errors::check(v)?;
    as_party(edge, call, &req.order_id, |_| Need::Only(Party::Supplier)).await?;
    let r = call!(
        edge,
        call.out(),
        order.mark_shipment_delivered(opb::MarkShipmentDeliveredRequest {
            request_id: call.request_id(rid, "deliver"),
            order_id: req.order_id,
            shipment_id: req.shipment_id,
            deliver_time: req.deliver_time,
            proof_file_refs: req.proof_file_refs,
        })
    )?;
    Ok(pb::MarkShipmentDeliveredResponse {
        shipment: r.shipment,
        order: r.order,
    })
}

/// The buyer confirms receipt.
pub async fn confirm_receipt(
    edge: &Edge,
    call: &Call,
    req: pb::ConfirmReceiptRequest,
) -> Result<pb::ConfirmReceiptResponse, Status> {
    call.require(Role::Buyer)?;
    let rid = step_ids(&req.request_id, &req.order_id)?;
    as_party(edge, call, &req.order_id, |_| Need::Only(Party::Buyer)).await?;
    let r = call!(
        edge,
        call.out(),
        order.confirm_receipt(opb::ConfirmReceiptRequest {
            request_id: call.request_id(rid, "receipt"),
            order_id: req.order_id,
        })
    )?;
    Ok(pb::ConfirmReceiptResponse { order: r.order })
}

/// The buyer pays an order's inspection service fee from its wallet.
pub async fn pay_inspection_fee(
    edge: &Edge,
    call: &Call,
    req: pb::PayInspectionFeeRequest,
) -> Result<pb::PayInspectionFeeResponse, Status> {
    call.require(Role::Buyer)?;
    let rid = step_ids(&req.request_id, &req.order_id)?;
    as_party(edge, call, &req.order_id, |_| Need::Only(Party::Buyer)).await?;
    let r = call!(
        edge,
        call.out(),
        order.pay_inspection_fee(opb::PayInspectionFeeRequest {
            request_id: call.request_id(rid, "inspection-fee"),
            order_id: req.order_id,
        })
    )?;
    Ok(pb::PayInspectionFeeResponse { order: r.order })
}

/// A party cancels an order before money arrived.
pub async fn cancel_order(
    edge: &Edge,
    call: &Call,
    req: pb::CancelOrderRequest,
) -> Result<pb::CancelOrderResponse, Status> {
    let rid = step_ids(&req.request_id, &req.order_id)?;
    as_party(edge, call, &req.order_id, |_| Need::Either).await?;
    let r = call!(
        edge,
        call.out(),
        order.cancel_order(opb::CancelOrderRequest {
            request_id: call.request_id(rid, "cancel"),
            order_id: req.order_id,
            reason_text: req.reason_text,
        })
    )?;
    Ok(pb::CancelOrderResponse { order: r.order })
}

/// The buyer asks for a refund.
pub async fn request_refund(
    edge: &Edge,
    call: &Call,
    req: pb::RequestRefundRequest,
) -> Result<pb::RequestRefundResponse, Status> {
    call.require(Role::Buyer)?;
    let rid = step_ids(&req.request_id, &req.order_id)?;
    as_party(edge, call, &req.order_id, |_| Need::Only(Party::Buyer)).await?;
    let r = call!(
        edge,
        call.out(),
        order.request_refund(opb::RequestRefundRequest {
            request_id: call.request_id(rid, "refund"),
            order_id: req.order_id,
            reason: req.reason,
            description: req.description,
            evidence_file_refs: req.evidence_file_refs,
            amount: req.amount,
            return_goods: req.return_goods,
        })
    )?;
    Ok(pb::RequestRefundResponse {
        refund: r.refund,
        order: r.order,
    })
}

/// A party resolves an open refund.
pub async fn resolve_refund(
    edge: &Edge,
    call: &Call,
    req: pb::ResolveRefundRequest,
) -> Result<pb::ResolveRefundResponse, Status> {
    let rid = step_ids(&req.request_id, &req.order_id)?;
    let mut v = FieldViolations::new();
    v.uuid("refund_id", &req.refund_id);
    errors::check(v)?;
    as_party(edge, call, &req.order_id, |_| {
        let decision = opb::RefundDecision::try_from(req.decision).ok();
        access::refund_decider(
            matches!(
                decision,
                Some(opb::RefundDecision::Approve | opb::RefundDecision::Reject)
            ),
            decision == Some(opb::RefundDecision::Withdraw),
        )
    })
    .await?;
    let r = call!(
        edge,
        call.out(),
        order.resolve_refund(opb::ResolveRefundRequest {
            request_id: call.request_id(rid, "resolve"),
            order_id: req.order_id,
            refund_id: req.refund_id,
            decision: req.decision,
            approved_amount: req.approved_amount,
            note: req.note,
        })
    )?;
    Ok(pb::ResolveRefundResponse {
        refund: r.refund,
        order: r.order,
    })
}

/// The buyer reviews a completed order.
pub async fn submit_review(
    edge: &Edge,
    call: &Call,
    req: pb::SubmitReviewRequest,
) -> Result<pb::SubmitReviewResponse, Status> {
    call.require(Role::Buyer)?;
    let rid = step_ids(&req.request_id, &req.order_id)?;
    as_party(edge, call, &req.order_id, |_| Need::Only(Party::Buyer)).await?;
    let r = call!(
        edge,
        call.out(),
        order.submit_review(opb::SubmitReviewRequest {
            request_id: call.request_id(rid, "review"),
            order_id: req.order_id,
            review: req.review,
        })
    )?;
    Ok(pb::SubmitReviewResponse { review: r.review })
}

/// An order's audit trail.
pub async fn list_order_events(
    edge: &Edge,
    call: &Call,
    req: pb::ListOrderEventsRequest,
) -> Result<pb::ListOrderEventsResponse, Status> {
    let mut v = FieldViolations::new();
    v.uuid("order_id", &req.order_id);
    errors::check(v)?;
    as_party(edge, call, &req.order_id, |_| Need::Either).await?;
    let r = call!(
        edge,
        call.out(),
        order.list_order_events(opb::ListOrderEventsRequest {
            order_id: req.order_id,
            types: req.types,
            page: req.page,
        })
    )?;
    Ok(pb::ListOrderEventsResponse {
        events: r.events,
        page: r.page,
    })
}
