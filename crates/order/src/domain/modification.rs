//! Which fields of an order may be modified in which status (UpdateOrderRequest.update_mask).
//! A path names a field of `Order` as in a FieldMask; a listed message path also allows
//! each of its sub-fields ("trade.shipping_terms" allows "trade.shipping_terms.freight").

use kuajing_proto::order::v1::{OrderKind, OrderStatus};

/// The path that is never modifiable.
pub const BUYER_EMAIL: &str = "trade.buyer.email";

/// Every path UpdateOrder knows, in any status.
pub const KNOWN_PATHS: &[&str] = &[
    "lines",
    "marketplace.logistics",
    "trade.contract",
    "trade.buyer.name",
    "trade.buyer.company_name",
    "trade.buyer.phone",
    "trade.buyer.region_code",
    "trade.buyer.email",
    "trade.salesperson",
    "trade.shipping_terms",
    "trade.shipping_terms.address",
    "trade.shipping_terms.shipping_method",
    "trade.shipping_terms.incoterm",
    "trade.shipping_terms.freight",
    "trade.shipping_terms.insurance",
    "trade.shipping_terms.ship_by",
    "trade.export_method",
    "trade.payment_terms.prepayment",
    "trade.payment_terms.full_prepayment",
    "payment_method",
    "trade.inspection",
    "trade.note",
];

const BEFORE_MONEY: &[&str] = &[
    "lines",
    "trade.contract",
    "trade.buyer.name",
    "trade.buyer.company_name",
    "trade.buyer.phone",
    "trade.buyer.region_code",
    "trade.salesperson",
    "trade.shipping_terms",
    "trade.export_method",
    "trade.payment_terms.prepayment",
    "trade.payment_terms.full_prepayment",
    "payment_method",
    "trade.inspection",
    "trade.note",
];

const AFTER_MONEY: &[&str] = &[
    "lines",
    "trade.contract",
    "trade.shipping_terms",
    "trade.inspection",
    "trade.note",
    "trade.salesperson",
    "trade.buyer.name",
    "trade.buyer.phone",
];

const BEFORE_SHIPMENT: &[&str] = &[
    "trade.shipping_terms.address",
    "trade.shipping_terms.shipping_method",
    "trade.shipping_terms.ship_by",
    "trade.note",
    "trade.salesperson",
];

const MARKETPLACE_UNPAID: &[&str] = &["lines", "marketplace.logistics"];

/// The paths modifiable in `status`; `None` when the status allows no modification.
pub fn allowed_paths(
    kind: OrderKind,
    status: OrderStatus,
    received_any: bool,
) -> Option<&'static [&'static str]> {
    use OrderStatus as S;
    match (kind, status) {
        (OrderKind::Marketplace, S::Unpaid) => Some(MARKETPLACE_UNPAID),
        (OrderKind::Marketplace, _) => None,
        (_, S::AwaitingSupplierAcceptance | S::AwaitingBuyerConfirmation) => Some(BEFORE_MONEY),
        (_, S::AwaitingPrepayment) if !received_any => Some(BEFORE_MONEY),
        (_, S::AwaitingPrepayment | S::AwaitingBalance) => Some(AFTER_MONEY),
        (_, S::AwaitingShipment) => Some(BEFORE_SHIPMENT),
        _ => None,
    }
}

/// True when `path` is allowed by `allowed` (itself, or a sub-field of an allowed message).
pub fn path_allowed(path: &str, allowed: &[&str]) -> bool {
    allowed.iter().any(|a| {
        path == *a
            || path
                .strip_prefix(a)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// True when UpdateOrder knows `path` at all.
pub fn known(path: &str) -> bool {
    KNOWN_PATHS.contains(&path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus as S;

    #[test]
    fn paths_follow_the_status() {
        let ta = OrderKind::TradeAssurance;
        let before = allowed_paths(ta, S::AwaitingPrepayment, false).unwrap();
        assert!(path_allowed("trade.payment_terms.prepayment", before));
        assert!(path_allowed("trade.shipping_terms.freight", before));
        assert!(!path_allowed(BUYER_EMAIL, before));
        let after = allowed_paths(ta, S::AwaitingPrepayment, true).unwrap();
        assert!(!path_allowed("trade.payment_terms.prepayment", after));
        assert!(!path_allowed("payment_method", after));
        assert!(path_allowed("lines", after));
        let ship = allowed_paths(ta, S::AwaitingShipment, true).unwrap();
        assert!(path_allowed("trade.shipping_terms.ship_by", ship));
        assert!(!path_allowed("trade.shipping_terms.freight", ship));
        assert!(!path_allowed("trade.shipping_terms", ship));
        assert!(allowed_paths(ta, S::Shipped, true).is_none());
        assert!(allowed_paths(OrderKind::Marketplace, S::Paid, true).is_none());
        assert!(path_allowed(
            "marketplace.logistics",
            allowed_paths(OrderKind::Marketplace, S::Unpaid, false).unwrap()
        ));
        assert!(!path_allowed(
            "trade.shipping_terms_x",
            &["trade.shipping_terms"]
        ));
        assert!(known(BUYER_EMAIL) && !known("order_id"));
    }
}
