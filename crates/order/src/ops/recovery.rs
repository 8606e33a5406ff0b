//! The recovery loop of the payment saga: every payment left unfinished whose lease lapsed
//! (its driver crashed, was killed, timed out, or paused on a transient failure) is taken
//! over and driven to its end: forward when it can still finish, otherwise compensated
//! (the PIN can't be asked again, or the payment is older than the saga timeout). Nothing
//! is left in between.

use kuajing_platform::error::internal;
use kuajing_proto::order::v1::{PaymentState, PaymentStepKind, PaymentStepState};
use tonic::Status;
use uuid::Uuid;

use super::{Ctx, payment_record};
use crate::domain::saga::{self, Recovery};

/// Payments taken over per sweep.
const BATCH: i64 = 20;

/// Takes over every unfinished payment whose lease lapsed; returns how many.
pub async fn sweep(ctx: &Ctx) -> Result<usize, Status> {
    let now = ctx.now();
    let due = crate::store::payments::unleased(&ctx.svc.pool, now, BATCH)
        .await
        .map_err(internal)?;
    let mut taken = 0;
    for id in due {
        let lease = Uuid::now_v7();
        if !payment_record::acquire(ctx, id, lease).await? {
            continue;
        }
        taken += 1;
        let mut stored = {
            let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
            payment_record::load(&mut conn, ctx, id).await?
        };
        let state =
            PaymentState::try_from(stored.payment.state).unwrap_or(PaymentState::Unspecified);
        let decision = saga::recovery(
            state,
            &stored.payment.steps,
            stored.created,
            now,
            ctx.settings.saga_timeout,
        );
        tracing::info!(payment_id = %id, ?decision, "recovering a payment");
        if decision == Recovery::Compensate {
            let pin_done = stored.payment.steps.iter().any(|s| {
                s.kind == PaymentStepKind::PinVerification as i32
                    && s.state == PaymentStepState::Succeeded as i32
            });
            super::saga::give_up(&mut stored.payment, !pin_done);
            let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
            if !payment_record::persist(
                &mut conn,
                ctx,
                &mut stored.payment,
                lease,
                &stored.failure_domain,
                payment_record::Lease::Keep,
            )
            .await?
            {
                continue;
            }
        }
        let driver = ctx.clone();
        tokio::spawn(async move {
            if let Err(e) = super::saga::drive(&driver, id, lease, None, None).await {
                tracing::warn!(payment_id = %id, error = %e.message(), "recovery of a payment stopped; will retry");
            }
        });
    }
    Ok(taken)
}
