//! Paying: which methods the caller's unpaid orders can use, what an order costs, the
//! checkout itself (the order service's PayOrders saga) and its payments.

use kuajing_proto::edge::v1 as pb;
use kuajing_proto::order::v1 as opb;
use tonic::Status;

use super::orders::as_party;
use super::{field, got};
use crate::Edge;
use crate::caller::Call;
use crate::domain::access::{self, Need};
use crate::domain::token::Role;
use crate::{call, errors};
use kuajing_platform::FieldViolations;

/// Most orders one request may name.
const MAX_ORDERS: usize = 50;

/// The step of PayOrders whose downstream request id is the order service's payment key
/// (WatchPayment derives it again to follow a checkout by the client's request_id).
pub const PAY_STEP: &str = "pay";

/// Payment methods of the caller's unpaid orders (buyers).
pub async fn query_payment_methods(
    edge: &Edge,
    call: &Call,
    req: pb::QueryPaymentMethodsRequest,
) -> Result<pb::QueryPaymentMethodsResponse, Status> {
    call.require(Role::Buyer)?;
    let mut v = FieldViolations::new();
    v.uuid_list("order_ids", &req.order_ids, MAX_ORDERS);
    // The order service refuses an order that is not the caller's (NOT_OWNER) before
    // anything else: no per-order read here.
    errors::check(v)?;
    let r = call!(
        edge,
        call.out(),
        order.query_payment_methods(opb::QueryPaymentMethodsRequest {
            order_ids: req.order_ids,
        })
    )?;
    Ok(pb::QueryPaymentMethodsResponse {
        orders: r.orders,
        common_methods: r.common_methods,
    })
}

/// The fees of one of the caller's orders, or of a draft with the caller's side filled in.
pub async fn estimate_order_fees(
    edge: &Edge,
    call: &Call,
    req: pb::EstimateOrderFeesRequest,
) -> Result<pb::EstimateOrderFeesResponse, Status> {
    use opb::estimate_order_fees_request::Subject as To;
    use pb::estimate_order_fees_request::Subject as From;
    let subject = match req.subject {
        None => {
            return Err(errors::invalid(
                "subject",
                "one of order_id and draft is required",
            ));
        }
        Some(From::OrderId(id)) => {
            let mut v = FieldViolations::new();
            v.uuid("order_id", &id);
            errors::check(v)?;
            as_party(edge, call, &id, |_| Need::Either).await?;
            To::OrderId(id)
        }
        Some(From::Draft(mut draft)) => {
            let mut v = FieldViolations::new();
            let supplier = v.optional_uuid("draft.supplier_account_id", &draft.supplier_account_id);
            let buyer = v.optional_uuid("draft.buyer_account_id", &draft.buyer_account_id);
            errors::check(v)?;
            let me = call.me()?;
            let (supplier, buyer) =
                access::estimate_sides(me.roles, me.account_id, got(supplier)?, got(buyer)?)
                    .map_err(errors::refused)?;
            draft.supplier_account_id = supplier.map(|s| s.to_string()).unwrap_or_default();
            draft.buyer_account_id = buyer.map(|b| b.to_string()).unwrap_or_default();
            To::Draft(draft)
        }
    };
    let r = call!(
        edge,
        call.out(),
        order.estimate_order_fees(opb::EstimateOrderFeesRequest {
            subject: Some(subject),
            payment_method: req.payment_method,
            export_method: req.export_method,
        })
    )?;
    Ok(pb::EstimateOrderFeesResponse {
        fees: r.fees,
        total_amount: r.total_amount,
        total_usd_equivalent: r.total_usd_equivalent,
        payment_methods: r.payment_methods,
    })
}

/// Checkout: pays the caller's unpaid marketplace orders from the mandate's wallet.
pub async fn pay_orders(
    edge: &Edge,
    call: &Call,
    req: pb::PayOrdersRequest,
) -> Result<pb::PayOrdersResponse, Status> {
    call.require(Role::Buyer)?;
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    v.uuid_list("order_ids", &req.order_ids, MAX_ORDERS);
    v.enum_value::<opb::PaymentMethod>("payment_method", req.payment_method);
    v.optional_uuid("wallet_id", &req.wallet_id);
    v.optional_uuid("mandate_id", &req.mandate_id);
    v.six_digits("payment_pin", &req.payment_pin);
    // The order service refuses an order that is not the caller's (NOT_OWNER) before it
    // verifies the PIN, so the PIN is never checked against another buyer: no per-order
    // read here.
    errors::check(v)?;
    let r = call!(
        edge,
        call.out(),
        order.pay_orders(opb::PayOrdersRequest {
            request_id: call.request_id(got(rid)?, PAY_STEP),
            order_ids: req.order_ids,
            payment_method: req.payment_method,
            wallet_id: req.wallet_id,
            mandate_id: req.mandate_id,
            fx_source_currency_code: req.fx_source_currency_code,
            expected_total: req.expected_total,
            payment_pin: req.payment_pin,
        })
    )?;
    Ok(pb::PayOrdersResponse { payment: r.payment })
}

/// Pays what is due of one of the caller's trade orders from the caller's wallet.
pub async fn pay_trade_order(
    edge: &Edge,
    call: &Call,
    req: pb::PayTradeOrderRequest,
) -> Result<pb::PayTradeOrderResponse, Status> {
    call.require(Role::Buyer)?;
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    v.uuid("order_id", &req.order_id);
    v.enum_value::<opb::PaymentTarget>("target", req.target);
    v.optional_uuid("wallet_id", &req.wallet_id);
    v.six_digits("payment_pin", &req.payment_pin);
    // As in checkout: the order service refuses an order that is not the caller's before
    // it verifies the PIN.
    errors::check(v)?;
    let r = call!(
        edge,
        call.out(),
        order.pay_trade_order(opb::PayTradeOrderRequest {
            request_id: call.request_id(got(rid)?, "pay-trade"),
            order_id: req.order_id,
            target: req.target,
            wallet_id: req.wallet_id,
            fx_source_currency_code: req.fx_source_currency_code,
            expected_amount: req.expected_amount,
            payment_pin: req.payment_pin,
        })
    )?;
    Ok(pb::PayTradeOrderResponse { payment: r.payment })
}

/// One of the caller's payments; another's reads as missing.
pub async fn get_payment(
    edge: &Edge,
    call: &Call,
    req: pb::GetPaymentRequest,
) -> Result<pb::GetPaymentResponse, Status> {
    let mut v = FieldViolations::new();
    v.uuid("payment_id", &req.payment_id);
    errors::check(v)?;
    let r = call!(
        edge,
        call.out(),
        order.get_payment(opb::GetPaymentRequest {
            payment_id: req.payment_id.clone(),
            request_id: String::new(),
        })
    )?;
    let payment = field(r.payment, "payment")?;
    access::visible(
        "payment",
        &req.payment_id,
        payment.buyer_account_id == call.my_id()?.to_string(),
    )
    .map_err(errors::refused)?;
    Ok(pb::GetPaymentResponse {
        payment: Some(payment),
    })
}

/// A payment link for orders the caller is a party of.
pub async fn create_payment_link(
    edge: &Edge,
    call: &Call,
    req: pb::CreatePaymentLinkRequest,
) -> Result<pb::CreatePaymentLinkResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    v.uuid_list("order_ids", &req.order_ids, MAX_ORDERS);
    errors::check(v)?;
    for id in &req.order_ids {
        as_party(edge, call, id, |_| Need::Either).await?;
    }
    let r = call!(
        edge,
        call.out(),
        order.create_payment_link(opb::CreatePaymentLinkRequest {
            request_id: call.request_id(got(rid)?, "link"),
            order_ids: req.order_ids,
            valid_for: req.valid_for,
        })
    )?;
    Ok(pb::CreatePaymentLinkResponse {
        payment_link: r.payment_link,
        token: r.token,
    })
}

/// Opens a payment link by its token (no session).
pub async fn open_payment_link(
    edge: &Edge,
    call: &Call,
    req: pb::OpenPaymentLinkRequest,
) -> Result<pb::OpenPaymentLinkResponse, Status> {
    let r = call!(
        edge,
        call.anonymous(),
        order.open_payment_link(opb::OpenPaymentLinkRequest { token: req.token })
    )?;
    Ok(pb::OpenPaymentLinkResponse {
        payment_link: r.payment_link,
        orders: r.orders,
    })
}

/// Revokes a payment link the caller created or is the buyer of.
pub async fn revoke_payment_link(
    edge: &Edge,
    call: &Call,
    req: pb::RevokePaymentLinkRequest,
) -> Result<pb::RevokePaymentLinkResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    v.uuid("payment_link_id", &req.payment_link_id);
    errors::check(v)?;
    let r = call!(
        edge,
        call.out(),
        order.revoke_payment_link(opb::RevokePaymentLinkRequest {
            request_id: call.request_id(got(rid)?, "revoke"),
            payment_link_id: req.payment_link_id,
        })
    )?;
    Ok(pb::RevokePaymentLinkResponse {
        payment_link: r.payment_link,
    })
}
