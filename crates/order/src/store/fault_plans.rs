//! `payment_fault_plans`: faults a test plans for a payment's saga (read only when fault
//! injection is on).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A planned fault.
pub struct PlanRow {
    pub fault_id: Uuid,
    /// `kuajing.order.v1.PaymentStepKind`.
    pub step_kind: i16,
    pub order_index: Option<i32>,
    pub point: String,
    pub action: String,
    pub delay_ms: i32,
}

/// The faults planned for a payment request and not fired yet.
pub async fn pending(db: impl PgExecutor<'_>, request_id: Uuid) -> sqlx::Result<Vec<PlanRow>> {
    sqlx::query_as!(
        PlanRow,
        "SELECT fault_id, step_kind, order_index, point, action, delay_ms FROM payment_fault_plans
         WHERE payment_request_id = $1 AND consumed_at IS NULL",
        request_id
    )
    .fetch_all(db)
    .await
}

/// Marks a fault fired.
pub async fn consume(
    db: impl PgExecutor<'_>,
    fault_id: Uuid,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE payment_fault_plans SET consumed_at = $2 WHERE fault_id = $1",
        fault_id,
        at
    )
    .execute(db)
    .await
    .map(drop)
}
