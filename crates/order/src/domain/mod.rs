//! The order rules, free of IO: the state machine, goods and totals, fees and the
//! cross-border pay tiers, the Trade Assurance drafting rules, what may be modified when,
//! shipment batches, refunds, order numbers, the supplier quotas, and the payment saga's plan.

pub mod calendar;
pub mod drafting;
pub mod fees;
pub mod goods;
pub mod modification;
pub mod number;
pub mod payment_link;
pub mod quota;
pub mod refund;
pub mod saga;
pub mod shipping;
pub mod status;
pub mod tiers;
