//! Refunds and after-sales: how much may be asked, and what a decision does to the order
//! and to the money.

use kuajing_proto::order::v1::{OrderKind, OrderStatus};
use rust_decimal::Decimal;

use super::status::RefundEnd;

/// What may still be refunded: received minus refunded.
pub fn refundable(received: Decimal, refunded: Decimal) -> Decimal {
    (received - refunded).max(Decimal::ZERO)
}

/// How an approved refund moves money.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Money {
    /// Marketplace, in full: release the escrow hold to the buyer.
    ReleaseEscrow,
    /// Marketplace, in part after shipment: capture the hold, the refund back to the buyer,
    /// the rest (less the buyer's fee) to the supplier.
    CaptureRest,
    /// Trade Assurance / Direct Pay: from the supplier's wallet to the buyer's.
    SupplierToBuyer,
}

/// Why an approval is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApprovalRefusal {
    /// A marketplace order not yet shipped can be refunded only in full.
    PartialBeforeShipment,
}

/// The outcome of approving `approved` out of `refundable` for an order of `kind` whose
/// status was `before` when the refund was asked.
pub fn approve(
    kind: OrderKind,
    before: OrderStatus,
    approved: Decimal,
    refundable: Decimal,
) -> Result<(RefundEnd, Money), ApprovalRefusal> {
    let full = approved >= refundable;
    let shipped = matches!(
        before,
        OrderStatus::PartiallyShipped | OrderStatus::Shipped | OrderStatus::AwaitingReceipt
    );
    match (kind, full) {
        (OrderKind::Marketplace, true) => Ok((RefundEnd::Full, Money::ReleaseEscrow)),
        (OrderKind::Marketplace, false) if shipped => {
            Ok((RefundEnd::PartialCompletes, Money::CaptureRest))
        }
        (OrderKind::Marketplace, false) => Err(ApprovalRefusal::PartialBeforeShipment),
        (_, true) => Ok((RefundEnd::Full, Money::SupplierToBuyer)),
        (_, false) => Ok((RefundEnd::Restore(before), Money::SupplierToBuyer)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn decisions() {
        use OrderKind as K;
        use OrderStatus as S;
        assert_eq!(
            approve(K::Marketplace, S::Paid, d("100"), d("100")),
            Ok((RefundEnd::Full, Money::ReleaseEscrow))
        );
        assert_eq!(
            approve(K::Marketplace, S::Paid, d("50"), d("100")),
            Err(ApprovalRefusal::PartialBeforeShipment)
        );
        assert_eq!(
            approve(K::Marketplace, S::Shipped, d("50"), d("100")),
            Ok((RefundEnd::PartialCompletes, Money::CaptureRest))
        );
        assert_eq!(
            approve(K::TradeAssurance, S::AwaitingBalance, d("50"), d("100")),
            Ok((
                RefundEnd::Restore(S::AwaitingBalance),
                Money::SupplierToBuyer
            ))
        );
        assert_eq!(
            approve(K::DirectPay, S::Shipped, d("100"), d("100")),
            Ok((RefundEnd::Full, Money::SupplierToBuyer))
        );
        assert_eq!(refundable(d("100"), d("30")), d("70"));
        assert_eq!(refundable(d("100"), d("130")), d("0"));
    }
}
