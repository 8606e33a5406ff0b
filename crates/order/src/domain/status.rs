//! The order state machine: which action may move an order from which status, and where
//! to. Everything not listed in [`next`] is an illegal transition (INVALID_STATE_TRANSITION;
//! ORDER_NOT_MODIFIABLE for a modification).

use kuajing_proto::order::v1::{OrderKind, OrderStatus};

/// How a refund resolution ends, as far as the status is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundEnd {
    /// Everything received was refunded: CLOSED.
    Full,
    /// A marketplace order refunded in part after shipment: COMPLETED (the rest is captured).
    PartialCompletes,
    /// Rejected, withdrawn, or a partial refund of a Trade Assurance / Direct Pay order: back
    /// to the status before the refund.
    Restore(OrderStatus),
}

/// Something that may change an order's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The supplier accepts a buyer draft, as drafted or modified.
    Accept {
        /// The supplier changed the terms while accepting.
        modified: bool,
    },
    /// The supplier rejects a buyer draft.
    SupplierReject,
    /// The buyer declines an order awaiting its confirmation.
    BuyerReject,
    /// The buyer confirms an order awaiting its confirmation.
    Confirm,
    /// UpdateOrder.
    Modify,
    /// A PayOrders payment takes an unpaid marketplace order.
    StartPayment,
    /// The payment saga marks the order paid (escrow held).
    MarkPaid,
    /// A remittance is linked to the prepayment.
    LinkPrepayment {
        /// The prepayment is now received in full.
        prepayment_complete: bool,
        /// The balance is zero or already received too.
        balance_settled: bool,
    },
    /// A remittance is linked to the balance.
    LinkBalance {
        /// The balance is now received in full.
        balance_complete: bool,
    },
    /// A shipment batch is recorded.
    Ship {
        /// Everything is shipped now.
        complete: bool,
    },
    /// A shipment batch is delivered.
    Deliver {
        /// Every batch is delivered now.
        all_delivered: bool,
    },
    /// The buyer (or the auto-confirmation) confirms receipt.
    ConfirmReceipt,
    /// Cancelled before any money was received.
    Cancel,
    /// An unpaid marketplace order passes its payment deadline.
    ExpireUnpaid,
    /// The buyer asks for a refund.
    RequestRefund,
    /// A refund is resolved.
    ResolveRefund(RefundEnd),
    /// The buyer reviews.
    Review,
}

impl Action {
    /// The action's name in refusals (ErrorInfo metadata "action").
    pub fn name(&self) -> &'static str {
        match self {
            Action::Accept { .. } => "ACCEPT",
            Action::SupplierReject | Action::BuyerReject => "REJECT",
            Action::Confirm => "CONFIRM",
            Action::Modify => "MODIFY",
            Action::StartPayment => "PAY",
            Action::MarkPaid => "MARK_PAID",
            Action::LinkPrepayment { .. } => "LINK_PREPAYMENT",
            Action::LinkBalance { .. } => "LINK_BALANCE",
            Action::Ship { .. } => "ADD_SHIPMENT",
            Action::Deliver { .. } => "MARK_SHIPMENT_DELIVERED",
            Action::ConfirmReceipt => "CONFIRM_RECEIPT",
            Action::Cancel => "CANCEL",
            Action::ExpireUnpaid => "EXPIRE",
            Action::RequestRefund => "REQUEST_REFUND",
            Action::ResolveRefund(_) => "RESOLVE_REFUND",
            Action::Review => "SUBMIT_REVIEW",
        }
    }
}

/// What the state machine needs to know about the order besides its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The order's kind.
    pub kind: OrderKind,
    /// Some money was received (escrow held, or a remittance linked).
    pub received_any: bool,
}

/// An action the order's status does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Illegal {
    /// The status the order is in.
    pub status: OrderStatus,
    /// What was attempted.
    pub action: Action,
}

/// The statuses a refund may be requested from (and that a refund may return to).
pub fn refundable(kind: OrderKind, status: OrderStatus, received_any: bool) -> bool {
    use OrderStatus as S;
    match status {
        S::Paid => kind == OrderKind::Marketplace,
        S::AwaitingPrepayment => kind != OrderKind::Marketplace && received_any,
        S::AwaitingBalance | S::AwaitingShipment => kind != OrderKind::Marketplace,
        S::PartiallyShipped | S::Shipped | S::AwaitingReceipt => true,
        _ => false,
    }
}

/// The statuses in which an order may be modified at all (which fields, see
/// `modification`).
pub fn modifiable(kind: OrderKind, status: OrderStatus) -> bool {
    use OrderStatus as S;
    match kind {
        OrderKind::Marketplace => status == S::Unpaid,
        OrderKind::TradeAssurance | OrderKind::DirectPay => matches!(
            status,
            S::AwaitingSupplierAcceptance
                | S::AwaitingBuyerConfirmation
                | S::AwaitingPrepayment
                | S::AwaitingBalance
                | S::AwaitingShipment
        ),
        OrderKind::Unspecified => false,
    }
}

/// The status after `action`, or why the action is illegal now.
pub fn next(status: OrderStatus, facts: Facts, action: Action) -> Result<OrderStatus, Illegal> {
    use OrderKind as K;
    use OrderStatus as S;
    let kind = facts.kind;
    let trade = matches!(kind, K::TradeAssurance | K::DirectPay);
    let market = kind == K::Marketplace;
    let to = match (status, action) {
        (S::AwaitingSupplierAcceptance, Action::Accept { modified })
            if kind == K::TradeAssurance =>
        {
            if modified {
                Some(S::AwaitingBuyerConfirmation)
            } else {
                Some(S::AwaitingPrepayment)
            }
        }
        (S::AwaitingSupplierAcceptance, Action::SupplierReject) if kind == K::TradeAssurance => {
            Some(S::Closed)
        }
        (S::AwaitingBuyerConfirmation, Action::BuyerReject) if trade => Some(S::Closed),
        (S::AwaitingBuyerConfirmation, Action::Confirm) if trade => Some(S::AwaitingPrepayment),
        (s, Action::Modify) if modifiable(kind, s) => {
            if kind == K::DirectPay && s == S::AwaitingPrepayment && !facts.received_any {
                Some(S::AwaitingBuyerConfirmation)
            } else {
                Some(s)
            }
        }
        (S::Unpaid, Action::StartPayment) if market => Some(S::Unpaid),
        (S::Unpaid, Action::MarkPaid) if market => Some(S::Paid),
        (
            S::AwaitingPrepayment,
            Action::LinkPrepayment {
                prepayment_complete,
                balance_settled,
            },
        ) if trade => Some(match (prepayment_complete, balance_settled) {
            (false, _) => S::AwaitingPrepayment,
            (true, false) => S::AwaitingBalance,
            (true, true) => S::AwaitingShipment,
        }),
        (S::AwaitingBalance, Action::LinkBalance { balance_complete }) if trade => {
            Some(if balance_complete {
                S::AwaitingShipment
            } else {
                S::AwaitingBalance
            })
        }
        (S::Paid, Action::Ship { complete }) if market => Some(shipped(complete)),
        (S::AwaitingShipment, Action::Ship { complete }) if trade => Some(shipped(complete)),
        (S::PartiallyShipped, Action::Ship { complete }) => Some(shipped(complete)),
        (S::PartiallyShipped, Action::Deliver { .. }) => Some(S::PartiallyShipped),
        (S::Shipped, Action::Deliver { all_delivered }) => Some(if all_delivered {
            S::AwaitingReceipt
        } else {
            S::Shipped
        }),
        (S::AwaitingReceipt, Action::Deliver { .. }) => Some(S::AwaitingReceipt),
        (S::Shipped | S::AwaitingReceipt, Action::ConfirmReceipt) => Some(S::Completed),
        (S::Unpaid, Action::Cancel) if market => Some(S::Closed),
        (S::AwaitingSupplierAcceptance, Action::Cancel) if kind == K::TradeAssurance => {
            Some(S::Closed)
        }
        (S::AwaitingBuyerConfirmation, Action::Cancel) if trade => Some(S::Closed),
        (S::AwaitingPrepayment, Action::Cancel) if trade && !facts.received_any => Some(S::Closed),
        (S::Unpaid, Action::ExpireUnpaid) if market => Some(S::Closed),
        (s, Action::RequestRefund) if refundable(kind, s, facts.received_any) => Some(S::Refunding),
        (S::Refunding, Action::ResolveRefund(end)) => match end {
            RefundEnd::Full => Some(S::Closed),
            RefundEnd::PartialCompletes if market => Some(S::Completed),
            RefundEnd::PartialCompletes => None,
            RefundEnd::Restore(before) if refundable(kind, before, true) => Some(before),
            RefundEnd::Restore(_) => None,
        },
        (S::Completed, Action::Review) if kind != K::DirectPay && kind != K::Unspecified => {
            Some(S::Completed)
        }
        _ => None,
    };
    to.ok_or(Illegal { status, action })
}

fn shipped(complete: bool) -> OrderStatus {
    if complete {
        OrderStatus::Shipped
    } else {
        OrderStatus::PartiallyShipped
    }
}

/// The list tab a status belongs to.
pub fn group(status: OrderStatus) -> kuajing_proto::order::v1::OrderStatusGroup {
    use OrderStatus as S;
    use kuajing_proto::order::v1::OrderStatusGroup as G;
    match status {
        S::AwaitingSupplierAcceptance | S::AwaitingBuyerConfirmation => G::ToConfirm,
        S::Unpaid | S::AwaitingPrepayment | S::AwaitingBalance => G::ToPay,
        S::Paid | S::AwaitingShipment | S::PartiallyShipped => G::ToShip,
        S::Shipped | S::AwaitingReceipt => G::ToReceive,
        S::Refunding => G::AfterSales,
        S::Completed | S::Closed => G::CompletedOrClosed,
        S::Unspecified => G::Unspecified,
    }
}

/// The statuses of a list tab.
pub fn statuses_of(group: kuajing_proto::order::v1::OrderStatusGroup) -> Vec<OrderStatus> {
    ALL_STATUSES
        .iter()
        .copied()
        .filter(|s| self::group(*s) == group)
        .collect()
}

/// Every status an order can be in.
pub const ALL_STATUSES: [OrderStatus; 13] = [
    OrderStatus::Unpaid,
    OrderStatus::Paid,
    OrderStatus::AwaitingSupplierAcceptance,
    OrderStatus::AwaitingBuyerConfirmation,
    OrderStatus::AwaitingPrepayment,
    OrderStatus::AwaitingBalance,
    OrderStatus::AwaitingShipment,
    OrderStatus::PartiallyShipped,
    OrderStatus::Shipped,
    OrderStatus::AwaitingReceipt,
    OrderStatus::Completed,
    OrderStatus::Closed,
    OrderStatus::Refunding,
];

#[cfg(test)]
mod tests {
    use super::*;
    use OrderKind as K;
    use OrderStatus as S;

    const KINDS: [OrderKind; 3] = [K::Marketplace, K::TradeAssurance, K::DirectPay];

    /// Every action with every variant of its inputs.
    fn all_actions() -> Vec<Action> {
        let mut actions = vec![
            Action::Accept { modified: false },
            Action::Accept { modified: true },
            Action::SupplierReject,
            Action::BuyerReject,
            Action::Confirm,
            Action::Modify,
            Action::StartPayment,
            Action::MarkPaid,
            Action::ConfirmReceipt,
            Action::Cancel,
            Action::ExpireUnpaid,
            Action::RequestRefund,
            Action::ResolveRefund(RefundEnd::Full),
            Action::ResolveRefund(RefundEnd::PartialCompletes),
            Action::Review,
        ];
        for a in [false, true] {
            for b in [false, true] {
                actions.push(Action::LinkPrepayment {
                    prepayment_complete: a,
                    balance_settled: b,
                });
            }
            actions.push(Action::LinkBalance {
                balance_complete: a,
            });
            actions.push(Action::Ship { complete: a });
            actions.push(Action::Deliver { all_delivered: a });
        }
        for s in ALL_STATUSES {
            actions.push(Action::ResolveRefund(RefundEnd::Restore(s)));
        }
        actions
    }

    /// Which kinds a row applies to.
    #[derive(Clone, Copy)]
    enum Kinds {
        Any,
        Market,
        Trade,
        Assurance,
        DirectPay,
        NotDirectPay,
    }

    impl Kinds {
        fn has(self, k: OrderKind) -> bool {
            match self {
                Kinds::Any => true,
                Kinds::Market => k == K::Marketplace,
                Kinds::Trade => k == K::TradeAssurance || k == K::DirectPay,
                Kinds::Assurance => k == K::TradeAssurance,
                Kinds::DirectPay => k == K::DirectPay,
                Kinds::NotDirectPay => k != K::DirectPay,
            }
        }
    }

    /// Received-money guard of a row.
    #[derive(Clone, Copy)]
    enum Money {
        Either,
        None,
        Some,
    }

    /// The transition table of the contract, written out row by row, independently of
    /// `next`: (kinds, from, action, money guard, to). Long by design: one row per
    /// transition, so a row can be checked against the contract at a glance.
    fn table() -> Vec<(Kinds, OrderStatus, Action, Money, OrderStatus)> {
        use Kinds::*;
        use Money::Either as E;
        let mut t = vec![
            (
                Assurance,
                S::AwaitingSupplierAcceptance,
                Action::Accept { modified: false },
                E,
                S::AwaitingPrepayment,
            ),
            (
                Assurance,
                S::AwaitingSupplierAcceptance,
                Action::Accept { modified: true },
                E,
                S::AwaitingBuyerConfirmation,
            ),
            (
                Assurance,
                S::AwaitingSupplierAcceptance,
                Action::SupplierReject,
                E,
                S::Closed,
            ),
            (
                Trade,
                S::AwaitingBuyerConfirmation,
                Action::BuyerReject,
                E,
                S::Closed,
            ),
            (
                Trade,
                S::AwaitingBuyerConfirmation,
                Action::Confirm,
                E,
                S::AwaitingPrepayment,
            ),
            (Market, S::Unpaid, Action::Modify, E, S::Unpaid),
            (
                Trade,
                S::AwaitingSupplierAcceptance,
                Action::Modify,
                E,
                S::AwaitingSupplierAcceptance,
            ),
            (
                Trade,
                S::AwaitingBuyerConfirmation,
                Action::Modify,
                E,
                S::AwaitingBuyerConfirmation,
            ),
            (
                Assurance,
                S::AwaitingPrepayment,
                Action::Modify,
                E,
                S::AwaitingPrepayment,
            ),
            (
                DirectPay,
                S::AwaitingPrepayment,
                Action::Modify,
                Money::None,
                S::AwaitingBuyerConfirmation,
            ),
            (
                DirectPay,
                S::AwaitingPrepayment,
                Action::Modify,
                Money::Some,
                S::AwaitingPrepayment,
            ),
            (
                Trade,
                S::AwaitingBalance,
                Action::Modify,
                E,
                S::AwaitingBalance,
            ),
            (
                Trade,
                S::AwaitingShipment,
                Action::Modify,
                E,
                S::AwaitingShipment,
            ),
            (Market, S::Unpaid, Action::StartPayment, E, S::Unpaid),
            (Market, S::Unpaid, Action::MarkPaid, E, S::Paid),
            (
                Trade,
                S::AwaitingBalance,
                Action::LinkBalance {
                    balance_complete: false,
                },
                E,
                S::AwaitingBalance,
            ),
            (
                Trade,
                S::AwaitingBalance,
                Action::LinkBalance {
                    balance_complete: true,
                },
                E,
                S::AwaitingShipment,
            ),
            (
                Market,
                S::Paid,
                Action::Ship { complete: false },
                E,
                S::PartiallyShipped,
            ),
            (
                Market,
                S::Paid,
                Action::Ship { complete: true },
                E,
                S::Shipped,
            ),
            (
                Trade,
                S::AwaitingShipment,
                Action::Ship { complete: false },
                E,
                S::PartiallyShipped,
            ),
            (
                Trade,
                S::AwaitingShipment,
                Action::Ship { complete: true },
                E,
                S::Shipped,
            ),
            (
                Any,
                S::PartiallyShipped,
                Action::Ship { complete: false },
                E,
                S::PartiallyShipped,
            ),
            (
                Any,
                S::PartiallyShipped,
                Action::Ship { complete: true },
                E,
                S::Shipped,
            ),
            (
                Any,
                S::PartiallyShipped,
                Action::Deliver {
                    all_delivered: false,
                },
                E,
                S::PartiallyShipped,
            ),
            (
                Any,
                S::PartiallyShipped,
                Action::Deliver {
                    all_delivered: true,
                },
                E,
                S::PartiallyShipped,
            ),
            (
                Any,
                S::Shipped,
                Action::Deliver {
                    all_delivered: false,
                },
                E,
                S::Shipped,
            ),
            (
                Any,
                S::Shipped,
                Action::Deliver {
                    all_delivered: true,
                },
                E,
                S::AwaitingReceipt,
            ),
            (
                Any,
                S::AwaitingReceipt,
                Action::Deliver {
                    all_delivered: false,
                },
                E,
                S::AwaitingReceipt,
            ),
            (
                Any,
                S::AwaitingReceipt,
                Action::Deliver {
                    all_delivered: true,
                },
                E,
                S::AwaitingReceipt,
            ),
            (Any, S::Shipped, Action::ConfirmReceipt, E, S::Completed),
            (
                Any,
                S::AwaitingReceipt,
                Action::ConfirmReceipt,
                E,
                S::Completed,
            ),
            (Market, S::Unpaid, Action::Cancel, E, S::Closed),
            (
                Assurance,
                S::AwaitingSupplierAcceptance,
                Action::Cancel,
                E,
                S::Closed,
            ),
            (
                Trade,
                S::AwaitingBuyerConfirmation,
                Action::Cancel,
                E,
                S::Closed,
            ),
            (
                Trade,
                S::AwaitingPrepayment,
                Action::Cancel,
                Money::None,
                S::Closed,
            ),
            (Market, S::Unpaid, Action::ExpireUnpaid, E, S::Closed),
            (Market, S::Paid, Action::RequestRefund, E, S::Refunding),
            (
                Trade,
                S::AwaitingPrepayment,
                Action::RequestRefund,
                Money::Some,
                S::Refunding,
            ),
            (
                Trade,
                S::AwaitingBalance,
                Action::RequestRefund,
                E,
                S::Refunding,
            ),
            (
                Trade,
                S::AwaitingShipment,
                Action::RequestRefund,
                E,
                S::Refunding,
            ),
            (
                Any,
                S::PartiallyShipped,
                Action::RequestRefund,
                E,
                S::Refunding,
            ),
            (Any, S::Shipped, Action::RequestRefund, E, S::Refunding),
            (
                Any,
                S::AwaitingReceipt,
                Action::RequestRefund,
                E,
                S::Refunding,
            ),
            (
                Any,
                S::Refunding,
                Action::ResolveRefund(RefundEnd::Full),
                E,
                S::Closed,
            ),
            (
                Market,
                S::Refunding,
                Action::ResolveRefund(RefundEnd::PartialCompletes),
                E,
                S::Completed,
            ),
            (NotDirectPay, S::Completed, Action::Review, E, S::Completed),
        ];
        for a in [false, true] {
            t.push((
                Trade,
                S::AwaitingPrepayment,
                Action::LinkPrepayment {
                    prepayment_complete: false,
                    balance_settled: a,
                },
                E,
                S::AwaitingPrepayment,
            ));
        }
        t.push((
            Trade,
            S::AwaitingPrepayment,
            Action::LinkPrepayment {
                prepayment_complete: true,
                balance_settled: false,
            },
            E,
            S::AwaitingBalance,
        ));
        t.push((
            Trade,
            S::AwaitingPrepayment,
            Action::LinkPrepayment {
                prepayment_complete: true,
                balance_settled: true,
            },
            E,
            S::AwaitingShipment,
        ));
        // A resolution may restore exactly the statuses a refund may be requested from.
        for before in [S::PartiallyShipped, S::Shipped, S::AwaitingReceipt] {
            t.push((
                Any,
                S::Refunding,
                Action::ResolveRefund(RefundEnd::Restore(before)),
                E,
                before,
            ));
        }
        t.push((
            Market,
            S::Refunding,
            Action::ResolveRefund(RefundEnd::Restore(S::Paid)),
            E,
            S::Paid,
        ));
        for before in [
            S::AwaitingPrepayment,
            S::AwaitingBalance,
            S::AwaitingShipment,
        ] {
            t.push((
                Trade,
                S::Refunding,
                Action::ResolveRefund(RefundEnd::Restore(before)),
                E,
                before,
            ));
        }
        t
    }

    #[test]
    fn every_status_and_action_follows_the_table() {
        let table = table();
        let mut allowed = 0;
        let mut refused = 0;
        for kind in KINDS {
            for received_any in [false, true] {
                for status in ALL_STATUSES {
                    for action in all_actions() {
                        let facts = Facts { kind, received_any };
                        let expected = table.iter().find(|(k, from, a, money, _)| {
                            k.has(kind)
                                && *from == status
                                && *a == action
                                && match money {
                                    Money::Either => true,
                                    Money::None => !received_any,
                                    Money::Some => received_any,
                                }
                        });
                        let got = next(status, facts, action);
                        match expected {
                            Some((.., to)) => {
                                assert_eq!(
                                    got,
                                    Ok(*to),
                                    "{kind:?} {status:?} {action:?} money={received_any}"
                                );
                                allowed += 1;
                            }
                            None => {
                                assert_eq!(
                                    got,
                                    Err(Illegal { status, action }),
                                    "{kind:?} {status:?} {action:?} money={received_any} must be refused"
                                );
                                refused += 1;
                            }
                        }
                    }
                }
            }
        }
        // The table is not vacuous either way.
        assert!(
            allowed > 100 && refused > 2000,
            "{allowed} allowed, {refused} refused"
        );
    }

    #[test]
    fn terminal_statuses_accept_nothing_but_a_review() {
        for kind in KINDS {
            for action in all_actions() {
                let facts = Facts {
                    kind,
                    received_any: true,
                };
                assert!(
                    next(S::Closed, facts, action).is_err(),
                    "{kind:?} CLOSED {action:?}"
                );
                if action != Action::Review {
                    assert!(
                        next(S::Completed, facts, action).is_err(),
                        "{kind:?} COMPLETED {action:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn groups_cover_every_status_once() {
        use kuajing_proto::order::v1::OrderStatusGroup as G;
        let groups = [
            G::ToConfirm,
            G::ToPay,
            G::ToShip,
            G::ToReceive,
            G::AfterSales,
            G::CompletedOrClosed,
        ];
        let total: usize = groups.iter().map(|g| statuses_of(*g).len()).sum();
        assert_eq!(total, ALL_STATUSES.len());
        assert_eq!(
            statuses_of(G::ToPay),
            vec![S::Unpaid, S::AwaitingPrepayment, S::AwaitingBalance]
        );
    }
}
