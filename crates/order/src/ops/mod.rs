//! The order operations, one module per area of the contract. Each validates its request
//! (INVALID_ARGUMENT, nothing written), asks the other services what it needs *before* it
//! opens a transaction (no transaction is held across a network call), then changes the
//! order in one transaction with its audit events and its idempotency record.

pub mod confirmation;
pub mod drafting;
pub mod events;
pub mod faults;
pub mod fields;
pub mod inspection;
pub mod marketplace;
pub mod modification;
pub mod payment_links;
pub mod payment_methods;
pub mod payment_record;
pub mod payments;
pub mod peers;
pub mod pricing;
pub mod queries;
pub mod quotas;
pub mod receipt;
pub mod records;
pub mod recovery;
pub mod refunds;
pub mod remittances;
pub mod reviews;
pub mod rules;
pub mod saga;
pub mod shipments;
pub mod sweeps;
pub mod trade_payments;
pub mod trade_rules;
pub mod wallet_ops;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kuajing_platform::{ErrorDomain, ServiceContext};
use kuajing_proto::order::v1::{ActorType, OrderStatus};
use tonic::{Code, Status};

use crate::domain::status::Illegal;
use crate::settings::Settings;

/// Reason: an amount is in the wrong currency.
pub use kuajing_proto::reasons::order::CURRENCY_MISMATCH;
/// Reason: the order changed since the caller's etag.
pub use kuajing_proto::reasons::order::ETAG_MISMATCH;
/// Reason: the wallet cannot cover an amount.
pub use kuajing_proto::reasons::order::INSUFFICIENT_FUNDS;
/// Reason: the order's status does not allow the action.
pub use kuajing_proto::reasons::order::INVALID_STATE_TRANSITION;
/// Reason: a PayOrders saga holds the order.
pub use kuajing_proto::reasons::order::ORDER_PAYMENT_IN_PROGRESS;

/// What every operation needs.
#[derive(Clone)]
pub struct Ctx {
    /// The service context (pool, peers, clock, errors).
    pub svc: ServiceContext,
    /// Settings from the environment.
    pub settings: Arc<Settings>,
    /// The rule tables.
    pub rules: Arc<rules::Rules>,
}

impl Ctx {
    /// This service's error domain.
    pub fn errors(&self) -> ErrorDomain {
        self.svc.errors
    }

    /// Now, by the service clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.svc.clock.now()
    }

    /// FAILED_PRECONDITION / INVALID_STATE_TRANSITION for an illegal action.
    pub fn illegal(&self, order_id: &str, illegal: Illegal) -> Status {
        self.state_refusal(INVALID_STATE_TRANSITION, order_id, illegal)
    }

    /// FAILED_PRECONDITION with `reason` for an action the status does not allow, with the
    /// contract's PreconditionFailure (type ORDER_STATUS, subject orders/<id>) and metadata.
    pub fn state_refusal(&self, reason: &str, order_id: &str, illegal: Illegal) -> Status {
        let status = illegal.status.as_str_name();
        let action = illegal.action.name();
        let message = format!("order {order_id} is {status}: {action} is not allowed");
        let mut details = tonic_types::ErrorDetails::with_error_info(
            reason,
            self.errors().0,
            HashMap::from([
                ("order_id".to_owned(), order_id.to_owned()),
                ("status".to_owned(), status.to_owned()),
                ("action".to_owned(), action.to_owned()),
            ]),
        );
        details.add_precondition_failure_violation(
            "ORDER_STATUS",
            format!("orders/{order_id}"),
            message.clone(),
        );
        <Status as tonic_types::StatusExt>::with_error_details(
            Code::FailedPrecondition,
            message,
            details,
        )
    }

    /// A FAILED_PRECONDITION refusal with metadata.
    pub fn refuse(
        &self,
        reason: &str,
        message: impl Into<String>,
        md: &[(&str, String)],
    ) -> Status {
        self.errors().refuse_with(
            Code::FailedPrecondition,
            reason,
            message,
            md.iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    /// A refusal with any code and metadata.
    pub fn refuse_code(
        &self,
        code: Code,
        reason: &str,
        message: impl Into<String>,
        md: &[(&str, String)],
    ) -> Status {
        self.errors().refuse_with(
            code,
            reason,
            message,
            md.iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }
}

/// Who acted, for the audit trail: the subject when named, else the party itself.
pub fn actor(
    kind: ActorType,
    subject: Option<uuid::Uuid>,
    party: &str,
) -> kuajing_proto::order::v1::Actor {
    kuajing_proto::order::v1::Actor {
        r#type: kind as i32,
        id: match kind {
            ActorType::System => String::new(),
            _ => subject
                .map(|s| s.to_string())
                .unwrap_or_else(|| party.to_owned()),
        },
    }
}

/// The status of an order as the enum.
pub fn status_of(order: &kuajing_proto::order::v1::Order) -> OrderStatus {
    OrderStatus::try_from(order.status).unwrap_or(OrderStatus::Unspecified)
}

/// The first answer to a request already done (`Some`), before any validation or lookup;
/// `None` for a new request. Claims nothing: the work's own transaction claims the key.
pub async fn replayed<Req, Resp>(
    ctx: &Ctx,
    method: &str,
    request_id: &str,
    request: &Req,
) -> Result<Option<Resp>, Status>
where
    Req: prost::Message,
    Resp: prost::Message + Default,
{
    let mut tx = ctx
        .svc
        .pool
        .begin()
        .await
        .map_err(kuajing_platform::error::internal)?;
    let begun = kuajing_platform::idempotency::begin::<Req, Resp>(
        &mut tx,
        ctx.errors(),
        method,
        request_id,
        request,
    )
    .await?;
    tx.rollback()
        .await
        .map_err(kuajing_platform::error::internal)?;
    Ok(match begun {
        kuajing_platform::idempotency::Begin::Replay(r) => Some(r),
        kuajing_platform::idempotency::Begin::Fresh(_) => None,
    })
}
