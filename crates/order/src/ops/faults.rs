//! A test-only fault hook for the payment saga.
//!
//! A row in `payment_fault_plans` names a PayOrders request id, a step kind (and
//! optionally which order of the request, 0-based), a point and an action:
//!
//! - points: `BEFORE_CALL` (the step is marked IN_PROGRESS, nothing was sent yet),
//!   `AFTER_CALL` (the other service did it, the saga has not recorded the result: its
//!   outcome is unknown), `AFTER_STEP` (the result is recorded);
//! - actions: `FAIL` (the step fails there: the saga compensates; after the point of no
//!   return a failure is treated as transient and the payment carries on), `HALT` (the
//!   saga stops for good there, as if the process died: the lease lapses and the recovery
//!   loop, or a restarted service, takes the payment over), `DELAY` at `BEFORE_CALL` (the
//!   call takes `delay_ms` longer, as a slow peer would make it).
//!
//! A plan fires once (it is marked consumed, durably, before it acts), so a restarted
//! service does not trip over it again. Plans are honoured only when
//! `KJ_ORDER_FAULT_INJECTION` is on (the default in debug builds only); nothing in the
//! contract can write the table, so it cannot be enabled from the network. Tests insert
//! rows with a direct database connection.

use kuajing_platform::error::internal;
use kuajing_proto::order::v1::PaymentStepKind;
use tonic::Status;
use uuid::Uuid;

use super::Ctx;

/// Where in a step a fault fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// Before the other service is called.
    BeforeCall,
    /// After the call succeeded, before the result is recorded.
    AfterCall,
    /// After the result is recorded.
    AfterStep,
}

impl Point {
    fn name(self) -> &'static str {
        match self {
            Point::BeforeCall => "BEFORE_CALL",
            Point::AfterCall => "AFTER_CALL",
            Point::AfterStep => "AFTER_STEP",
        }
    }
}

/// What a fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The step fails.
    Fail,
    /// The saga stops for good (a crash).
    Halt,
    /// The step's call takes this much longer.
    Delay(std::time::Duration),
}

#[derive(Clone, Debug)]
struct Plan {
    id: Uuid,
    kind: i32,
    order_index: Option<i32>,
    point: String,
    action: String,
    delay_ms: i32,
}

/// The unconsumed plans of one payment.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    plans: Vec<Plan>,
}

/// Reason recorded when an injected fault fails a step.
pub const FAULT_INJECTED: &str = "FAULT_INJECTED";

impl Faults {
    /// The plans for the payment of `request_id` (none when injection is off).
    pub async fn load(ctx: &Ctx, request_id: Uuid) -> Result<Faults, Status> {
        if !ctx.settings.fault_injection {
            return Ok(Faults::default());
        }
        let rows = crate::store::fault_plans::pending(&ctx.svc.pool, request_id)
            .await
            .map_err(internal)?;
        let mut plans = Vec::with_capacity(rows.len());
        for r in rows {
            plans.push(Plan {
                id: r.fault_id,
                kind: i32::from(r.step_kind),
                order_index: r.order_index,
                point: r.point,
                action: r.action,
                delay_ms: r.delay_ms,
            });
        }
        Ok(Faults { plans })
    }

    /// The action planned at this point, if any; consumes the plan durably first.
    pub async fn at(
        &mut self,
        ctx: &Ctx,
        kind: PaymentStepKind,
        order_index: Option<usize>,
        point: Point,
    ) -> Result<Option<Action>, Status> {
        let index = order_index.and_then(|i| i32::try_from(i).ok());
        let Some(pos) = self.plans.iter().position(|p| {
            p.kind == kind as i32
                && p.point == point.name()
                && (p.order_index.is_none() || p.order_index == index)
        }) else {
            return Ok(None);
        };
        let plan = self.plans.remove(pos);
        crate::store::fault_plans::consume(&ctx.svc.pool, plan.id, ctx.now())
            .await
            .map_err(internal)?;
        tracing::warn!(
            step = kind.as_str_name(),
            point = point.name(),
            action = %plan.action,
            "injected fault fires"
        );
        Ok(Some(match plan.action.as_str() {
            "HALT" => Action::Halt,
            "DELAY" => Action::Delay(std::time::Duration::from_millis(
                u64::try_from(plan.delay_ms).unwrap_or(0),
            )),
            _ => Action::Fail,
        }))
    }
}

/// Stops the current task for good, as if the process had died here.
pub async fn halt() -> ! {
    loop {
        std::future::pending::<()>().await;
    }
}
