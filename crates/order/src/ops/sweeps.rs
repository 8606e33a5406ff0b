//! The service's background loops, one task: the saga recovery loop, auto-confirmation of
//! receipt, the payment timeout of unpaid marketplace orders, and the retries of wallet
//! operations. Each runs every `KJ_ORDER_SWEEP_INTERVAL_MS` by the service clock's rules
//! (due times are compared with the service clock, so tests move the clock, not wait). The
//! task ends when the service's pool closes (shutdown).

use super::wallet_ops;
use super::{Ctx, confirmation, receipt, recovery, refunds, remittances};

/// Starts the loops.
pub fn spawn(ctx: Ctx) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ctx.settings.sweep_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if ctx.svc.pool.is_closed() {
                return;
            }
            sweep(&ctx).await;
        }
    });
}

/// One round of every loop; failures are logged and retried next round.
pub async fn sweep(ctx: &Ctx) {
    let log = |what: &str, r: Result<usize, tonic::Status>| match r {
        Ok(0) => {}
        Ok(n) => tracing::info!(count = n, "{what}"),
        Err(e) => tracing::warn!(error = %e.message(), "{what} failed; will retry"),
    };
    // Each loop stops at once when the service shuts down (its pool closes).
    let open = || !ctx.svc.pool.is_closed();
    if open() {
        log("recovered payments", recovery::sweep(ctx).await);
    }
    if open() {
        log(
            "auto-confirmed receipts",
            receipt::auto_confirm_due(ctx).await,
        );
    }
    if open() {
        log("closed unpaid orders", confirmation::expire_due(ctx).await);
    }
    if open() {
        log(
            "finished wallet operations",
            wallet_ops::retry_due(ctx, &ByKind).await,
        );
    }
}

/// The effects of a due wallet operation, by what asked for it: a refund's, a remittance
/// link's, else receipt's (the escrow capture or the export service fee).
struct ByKind;

impl wallet_ops::Effects for ByKind {
    async fn completed(
        &self,
        tx: &mut sqlx::PgConnection,
        ctx: &Ctx,
        op: &wallet_ops::Op,
        answer: wallet_ops::Answer,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), tonic::Status> {
        if op.refund_id.is_some() {
            refunds::Effects.completed(tx, ctx, op, answer, now).await
        } else if op.kind == wallet_ops::Kind::Link {
            remittances::Effects
                .completed(tx, ctx, op, answer, now)
                .await
        } else {
            receipt::Effects.completed(tx, ctx, op, answer, now).await
        }
    }

    async fn refused(
        &self,
        tx: &mut sqlx::PgConnection,
        ctx: &Ctx,
        op: &wallet_ops::Op,
        refusal: &tonic::Status,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), tonic::Status> {
        if op.refund_id.is_some() {
            refunds::Effects.refused(tx, ctx, op, refusal, now).await
        } else if op.kind == wallet_ops::Kind::Link {
            remittances::Effects
                .refused(tx, ctx, op, refusal, now)
                .await
        } else {
            receipt::Effects.refused(tx, ctx, op, refusal, now).await
        }
    }
}
