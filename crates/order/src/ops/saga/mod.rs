//! The payment saga driver (PayOrders checkouts, and trade orders paid from the wallet by
//! PayTradeOrder). One driver at a time holds a payment's lease (the PayOrders
//! call, or the recovery loop after a crash or a timeout); every write of the payment checks
//! the lease, so a driver that lost it stops at its next write. Each step is marked
//! IN_PROGRESS before its call and SUCCEEDED (with what it produced) after, so a crash
//! between the two leaves a step whose outcome is unknown: going forward, it is repeated
//! with the same request id (the other service answers as the first time); compensating,
//! it is repeated to learn what it did, then undone. No transaction is open during a call.
//!
//! One write per step: the write that records a step's outcome also marks the next step
//! IN_PROGRESS (PayOrders' own transaction marks the first), so the mark before a call
//! costs nothing of its own; the last write gives the lease back with it.

use std::collections::HashMap;

use kuajing_platform::Currency;
use kuajing_platform::error::internal;
use kuajing_platform::time;
use kuajing_proto::order::v1::{
    ActorType, FxConversionSummary, Order, OrderEventType, Payment, PaymentFailure, PaymentState,
    PaymentStep, PaymentStepKind, PaymentStepState,
};
use tonic::{Code, Status};
use uuid::Uuid;

use super::events::{self, Event};
use super::faults::{self, Faults, Point};
use super::payment_record::{self, Lease, Pin, code_name};
use super::peers;
use super::pricing;
use super::{Ctx, actor, records};
use crate::domain::saga::{self, Next};
use kuajing_platform::outbound::is_transient as transient;

mod steps;
mod undo;

/// Reason: authorization denied an order.
pub use kuajing_proto::reasons::order::PAYMENT_DECLINED;
/// Reason: a payment left in between was compensated by the recovery loop.
pub use kuajing_proto::reasons::order::PAYMENT_INTERRUPTED;
/// Reason: the fx quote expired before it was executed.
pub use kuajing_proto::reasons::order::QUOTE_EXPIRED;

/// How long a driver that met a transient failure leaves the payment before recovery
/// tries again.
const RETRY_AFTER: chrono::Duration = chrono::Duration::seconds(2);

/// Whether to go on driving.
enum Flow {
    Continue,
    Stop,
}

/// What a fault plan injects at a checkpoint.
enum Injected {
    Nothing,
    Delay(std::time::Duration),
    Fail,
}

/// What a step wrote into the payment.
enum Apply {
    None,
    Decision {
        decision_id: String,
        reservation_id: String,
    },
    Hold {
        hold_id: String,
    },
    /// A trade payment's capture kept as guarantee funds under this hold.
    Guarantee {
        hold_id: String,
    },
    Conversion(FxConversionSummary),
}

/// How a step's action went.
enum Outcome {
    /// Done: its result, and what to record.
    Succeeded(String, Apply),
    /// Not needed.
    Skipped,
    /// Refused for good (what to record as well).
    Failed(Failure, Apply),
    /// No answer: the outcome is unknown; try again later with the same request id.
    Transient(Status),
    /// The step committed itself (MARK_ORDERS_PAID).
    Committed,
    /// The lease was lost while the step ran.
    Lost,
}

/// A failure and the domain of its ErrorInfo.
struct Failure {
    failure: PaymentFailure,
    domain: String,
}

fn failure(
    code: Code,
    reason: &str,
    message: impl Into<String>,
    metadata: HashMap<String, String>,
    domain: &str,
) -> Failure {
    Failure {
        failure: PaymentFailure {
            code: code_name(code).to_owned(),
            reason: reason.to_owned(),
            failed_step: 0,
            order_id: String::new(),
            metadata,
            message: message.into(),
        },
        domain: domain.to_owned(),
    }
}

/// A refusal of another service, passed through with its code, reason and domain.
fn failure_of(s: &Status) -> Failure {
    let mut md = peers::metadata(s);
    md.remove("payment_id");
    let reason = peers::reason(s);
    let code = if transient(s) {
        Code::Unavailable
    } else {
        s.code()
    };
    Failure {
        failure: PaymentFailure {
            code: code_name(code).to_owned(),
            reason: if reason.is_empty() {
                code_name(code).to_owned()
            } else {
                reason
            },
            failed_step: 0,
            order_id: String::new(),
            metadata: md,
            message: s.message().chars().take(500).collect(),
        },
        domain: peers::domain(s),
    }
}

fn kind_of(p: &Payment, i: usize) -> PaymentStepKind {
    PaymentStepKind::try_from(p.steps[i].kind).unwrap_or(PaymentStepKind::Unspecified)
}

fn state_of(p: &Payment, i: usize) -> PaymentStepState {
    PaymentStepState::try_from(p.steps[i].state).unwrap_or(PaymentStepState::Unspecified)
}

/// Runs a step's call while renewing the payment's lease every third of its length, so a
/// slow call (with all its retries) never lets the lease lapse under a live driver and a
/// second replica take the payment over. When a renewal finds the lease lost, the call
/// is dropped where it is (as a crash would leave it: every step is safe to repeat) and
/// the driver stops, writing nothing more.
async fn renewing(
    ctx: &Ctx,
    payment_id: Uuid,
    lease: Uuid,
    step: impl std::future::Future<Output = Result<Outcome, Status>>,
) -> Result<Outcome, Status> {
    let every = (ctx.settings.saga_lease / 3)
        .to_std()
        .unwrap_or(std::time::Duration::from_secs(5))
        .max(std::time::Duration::from_millis(50));
    let renew = async {
        loop {
            tokio::time::sleep(every).await;
            match payment_record::renew(ctx, payment_id, lease).await {
                Ok(true) => {}
                Ok(false) => return,
                // The database did not answer: try again next round; the lease has time.
                Err(_) => {}
            }
        }
    };
    tokio::select! {
        outcome = step => outcome,
        () = renew => {
            tracing::info!(%payment_id, "lost the payment's lease during a step; another driver has it");
            Ok(Outcome::Lost)
        }
    }
}

/// A driver of one payment.
struct Driver<'a> {
    ctx: &'a Ctx,
    lease: Uuid,
    pin: Option<Pin>,
    p: Payment,
    domain: String,
    faults: Faults,
    orders: HashMap<String, Order>,
    /// The step the last write already marked IN_PROGRESS, as it was before the mark.
    marked: Option<(usize, PaymentStep)>,
}

/// A payment PayOrders has just written, with its orders and its first step marked
/// IN_PROGRESS, handed to the driver so it starts without reading them back.
pub struct Begun {
    /// The payment as written.
    pub payment: Payment,
    /// Its orders by id, as written.
    pub orders: HashMap<String, Order>,
    /// The step marked IN_PROGRESS, as it was before the mark.
    pub marked: (usize, PaymentStep),
}

/// Drives a payment until it ends, stops on a transient failure (the lease is given back
/// for the recovery loop), or loses its lease. `pin` and `begun` are given only by
/// PayOrders. Answers the payment as it ended (with its failure's domain) when this driver
/// ended it, None otherwise.
pub async fn drive(
    ctx: &Ctx,
    payment_id: Uuid,
    lease: Uuid,
    pin: Option<Pin>,
    begun: Option<Begun>,
) -> Result<Option<(Payment, String)>, Status> {
    let (payment, domain, orders, marked) = match begun {
        Some(b) => (b.payment, String::new(), b.orders, Some(b.marked)),
        None => {
            let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
            let stored = payment_record::load(&mut conn, ctx, payment_id).await?;
            let mut orders = HashMap::new();
            for item in &stored.payment.items {
                let id = Uuid::try_parse(&item.order_id).map_err(internal)?;
                orders.insert(
                    item.order_id.clone(),
                    records::load(&mut conn, ctx, id).await?,
                );
            }
            (stored.payment, stored.failure_domain, orders, None)
        }
    };
    let request_id = Uuid::try_parse(&payment.request_id).map_err(internal)?;
    let mut d = Driver {
        ctx,
        lease,
        pin,
        p: payment,
        domain,
        faults: Faults::load(ctx, request_id).await?,
        orders,
        marked,
    };
    loop {
        let state = PaymentState::try_from(d.p.state).unwrap_or(PaymentState::Unspecified);
        let ended = match saga::next(state, &d.p.steps) {
            // Each step boxed: the driver's future stays small (see outbound::call).
            Next::Forward(i) => match Box::pin(d.forward(i)).await? {
                Flow::Continue => continue,
                Flow::Stop => false,
            },
            Next::Compensate(i) => match Box::pin(d.compensate(i)).await? {
                Flow::Continue => continue,
                Flow::Stop => false,
            },
            Next::Finish(PaymentState::Succeeded) => d.succeed().await?,
            Next::Finish(_) => d.fail().await?,
        };
        return Ok(ended.then_some((d.p, d.domain)));
    }
}

impl Driver<'_> {
    fn payment_id(&self) -> Uuid {
        Uuid::try_parse(&self.p.payment_id).unwrap_or_default()
    }

    fn settlement(&self) -> Currency {
        self.p
            .settlement_currency_code
            .parse()
            .unwrap_or(Currency::CNH)
    }

    /// Saves the payment under the lease (given back with it once the payment
    /// SUCCEEDED); false when the lease was lost.
    async fn save(&mut self) -> Result<bool, Status> {
        let then = if self.p.state == PaymentState::Succeeded as i32 {
            Lease::GiveBack(self.ctx.now())
        } else {
            Lease::Keep
        };
        self.save_then(then).await
    }

    /// Saves the payment under the lease, keeping or giving it back; false when lost.
    async fn save_then(&mut self, then: Lease) -> Result<bool, Status> {
        let mut conn = self.ctx.svc.pool.acquire().await.map_err(internal)?;
        let ok = payment_record::persist(
            &mut conn,
            self.ctx,
            &mut self.p,
            self.lease,
            &self.domain,
            then,
        )
        .await?;
        if !ok {
            tracing::info!(payment_id = %self.p.payment_id, "lost the payment's lease; another driver has it");
        }
        Ok(ok)
    }

    /// Marks the step that runs next IN_PROGRESS, to be saved with the outcome just
    /// recorded; when nothing is left to run forward, the payment SUCCEEDED with that same
    /// write. Nothing when the payment compensates.
    fn mark_next(&mut self) {
        let state = PaymentState::try_from(self.p.state).unwrap_or(PaymentState::Unspecified);
        match saga::next(state, &self.p.steps) {
            Next::Forward(j) => {
                self.marked = Some((j, self.p.steps[j].clone()));
                saga::start(&mut self.p.steps[j], time::to_proto(self.ctx.now()));
            }
            Next::Finish(PaymentState::Succeeded) if state != PaymentState::Succeeded => {
                self.p.state = PaymentState::Succeeded as i32;
                self.p.complete_time = Some(time::to_proto(self.ctx.now()));
            }
            _ => {}
        }
    }

    /// Takes back the mark of a step that was never called (the payment fails first).
    fn unmark(&mut self) {
        if let Some((j, before)) = self.marked.take() {
            self.p.steps[j] = before;
        }
    }

    fn touch(&mut self, i: usize, state: PaymentStepState) {
        let now = time::to_proto(self.ctx.now());
        let s = &mut self.p.steps[i];
        s.state = state as i32;
        s.update_time = Some(now);
    }

    fn item_index(&self, i: usize) -> Option<usize> {
        let order_id = &self.p.steps[i].order_id;
        self.p.items.iter().position(|it| &it.order_id == order_id)
    }

    /// Starts the failure of the payment: it compensates from now on.
    fn fail_with(&mut self, i: usize, f: Failure) {
        let mut failure = f.failure;
        failure.failed_step = self.p.steps[i].kind;
        failure.order_id = self.p.steps[i].order_id.clone();
        self.p.steps[i].last_error_reason = failure.reason.clone();
        self.p.state = PaymentState::Compensating as i32;
        self.p.failure = Some(failure);
        self.domain = f.domain;
    }

    /// Leaves the payment for later after a transient failure.
    async fn pause(&mut self, i: usize, s: &Status) -> Result<Flow, Status> {
        let reason = peers::reason(s);
        self.p.steps[i].last_error_reason = if reason.is_empty() {
            code_name(s.code()).to_owned()
        } else {
            reason
        };
        self.save_then(Lease::GiveBack(self.ctx.now() + RETRY_AFTER))
            .await?;
        Ok(Flow::Stop)
    }

    fn record(&mut self, i: usize, result_id: String, apply: Apply) {
        self.p.steps[i].result_id = result_id;
        let item = self.item_index(i);
        match apply {
            Apply::None => {}
            Apply::Decision {
                decision_id,
                reservation_id,
            } => {
                if let Some(k) = item {
                    self.p.items[k].decision_id = decision_id;
                    self.p.items[k].reservation_id = reservation_id;
                }
            }
            Apply::Hold { hold_id } => {
                if let Some(k) = item {
                    self.p.items[k].hold_id = hold_id;
                }
            }
            Apply::Guarantee { hold_id } => {
                if let Some(k) = item {
                    self.p.items[k].guarantee_hold_id = hold_id;
                }
            }
            Apply::Conversion(c) => self.p.conversion = Some(c),
        }
    }

    /// Consults the payment's fault plan (a test hook; off in production) at `point` of a
    /// step: a halt stops this driver here for good, as a crash would; a delay or a
    /// failure is the caller's to apply, since what a failure means depends on the point.
    async fn checkpoint(
        &mut self,
        kind: PaymentStepKind,
        idx: Option<usize>,
        point: Point,
    ) -> Result<Injected, Status> {
        Ok(match self.faults.at(self.ctx, kind, idx, point).await? {
            Some(faults::Action::Halt) => faults::halt().await,
            Some(faults::Action::Delay(d)) => Injected::Delay(d),
            Some(faults::Action::Fail) => Injected::Fail,
            None => Injected::Nothing,
        })
    }

    /// An injected failure after the point of no return: nothing is compensated, so the
    /// payment is left for recovery as after a transient failure.
    async fn pause_injected(&mut self, i: usize) -> Result<Flow, Status> {
        self.pause(i, &Status::unavailable(faults::FAULT_INJECTED))
            .await
    }

    async fn forward(&mut self, i: usize) -> Result<Flow, Status> {
        let kind = kind_of(&self.p, i);
        let idx = self.item_index(i);
        let past = saga::past_point_of_no_return(&self.p.steps);
        // Marked by the write that recorded the step before (or by PayOrders) already?
        if self.marked.take().is_none_or(|(j, _)| j != i) {
            saga::start(&mut self.p.steps[i], time::to_proto(self.ctx.now()));
            if self.p.state == PaymentState::Pending as i32 {
                self.p.state = PaymentState::InProgress as i32;
            }
            if !self.save().await? {
                return Ok(Flow::Stop);
            }
        }
        let slow = match self.checkpoint(kind, idx, Point::BeforeCall).await? {
            Injected::Delay(d) => Some(d),
            Injected::Fail if past => return self.pause_injected(i).await,
            Injected::Fail => {
                // Nothing was sent: the step failed for sure.
                self.touch(i, PaymentStepState::Failed);
                self.fail_with(i, injected());
                return self.saved_flow().await;
            }
            Injected::Nothing => None,
        };
        let (ctx, lease) = (self.ctx, self.lease);
        let payment_id = Uuid::try_parse(&self.p.payment_id).map_err(internal)?;
        let step = async {
            if let Some(d) = slow {
                tokio::time::sleep(d).await;
            }
            // Each kind boxed, so this future (moved into `renewing`) is small.
            Ok(match kind {
                PaymentStepKind::PinVerification => Box::pin(self.verify_pin(i)).await?,
                PaymentStepKind::AuthorizationDecision => Box::pin(self.decide(i)).await?,
                PaymentStepKind::FxConversion => Box::pin(self.convert()).await?,
                PaymentStepKind::WalletHold => Box::pin(self.hold(i)).await?,
                PaymentStepKind::MarkOrdersPaid => Box::pin(self.mark_paid(i)).await?,
                PaymentStepKind::ConfirmReservation => Box::pin(self.confirm(i)).await?,
                PaymentStepKind::WalletCapture => Box::pin(self.capture(i)).await?,
                PaymentStepKind::Unspecified => Outcome::Failed(
                    failure(
                        Code::Internal,
                        "UNKNOWN_STEP",
                        "unknown step",
                        HashMap::new(),
                        self.ctx.errors().0,
                    ),
                    Apply::None,
                ),
            })
        };
        let outcome = renewing(ctx, payment_id, lease, step).await?;
        match outcome {
            Outcome::Lost => Ok(Flow::Stop),
            Outcome::Transient(s) => self.pause(i, &s).await,
            Outcome::Skipped => {
                self.touch(i, PaymentStepState::Skipped);
                self.saved_flow().await
            }
            Outcome::Failed(f, apply) => {
                self.record(i, self.p.steps[i].result_id.clone(), apply);
                self.touch(i, PaymentStepState::Failed);
                if past {
                    // After the point of no return nothing is compensated: note it, go on.
                    tracing::error!(payment_id = %self.p.payment_id, step = kind.as_str_name(),
                        reason = %f.failure.reason, "a step after the point of no return was refused");
                    self.p.steps[i].last_error_reason = f.failure.reason;
                } else {
                    self.fail_with(i, f);
                }
                self.saved_flow().await
            }
            Outcome::Committed => {
                // MARK_ORDERS_PAID: recorded in its own transaction; faults after it can
                // only delay the rest.
                for point in [Point::AfterCall, Point::AfterStep] {
                    if let Injected::Fail = self.checkpoint(kind, idx, point).await? {
                        return self.pause_injected(i).await;
                    }
                }
                Ok(Flow::Continue)
            }
            Outcome::Succeeded(result_id, apply) => {
                match self.checkpoint(kind, idx, Point::AfterCall).await? {
                    Injected::Fail if past => return self.pause_injected(i).await,
                    Injected::Fail => {
                        // The other service did it, but the answer is "lost": the step stays
                        // IN_PROGRESS (outcome unknown) and the payment compensates.
                        self.fail_with(i, injected());
                        return self.saved_flow().await;
                    }
                    Injected::Delay(_) | Injected::Nothing => {}
                }
                self.record(i, result_id, apply);
                self.touch(i, PaymentStepState::Succeeded);
                self.mark_next();
                if !self.save().await? {
                    return Ok(Flow::Stop);
                }
                match self.checkpoint(kind, idx, Point::AfterStep).await? {
                    Injected::Fail if past => self.pause_injected(i).await,
                    Injected::Fail => {
                        self.unmark();
                        self.fail_with(i, injected());
                        self.saved_flow().await
                    }
                    Injected::Delay(_) | Injected::Nothing => Ok(Flow::Continue),
                }
            }
        }
    }

    /// Saves what was recorded (with the next step marked when it goes forward).
    async fn saved_flow(&mut self) -> Result<Flow, Status> {
        self.mark_next();
        Ok(if self.save().await? {
            Flow::Continue
        } else {
            Flow::Stop
        })
    }

    async fn compensate(&mut self, i: usize) -> Result<Flow, Status> {
        let kind = kind_of(&self.p, i);
        if state_of(&self.p, i) != PaymentStepState::Compensating {
            self.touch(i, PaymentStepState::Compensating);
            if !self.save().await? {
                return Ok(Flow::Stop);
            }
        }
        let done = match kind {
            PaymentStepKind::WalletHold => self.release_hold(i).await?,
            PaymentStepKind::AuthorizationDecision => self.release_reservation(i).await?,
            _ => Ok(()),
        };
        match done {
            Ok(()) => {
                self.touch(i, PaymentStepState::Compensated);
                self.saved_flow().await
            }
            Err(s) => self.pause(i, &s).await,
        }
    }

    /// Ends a payment that went through (already written when its last step's write
    /// ended it); true unless the lease was lost.
    async fn succeed(&mut self) -> Result<bool, Status> {
        if self.p.state == PaymentState::Succeeded as i32 {
            return Ok(true);
        }
        self.p.state = PaymentState::Succeeded as i32;
        self.p.complete_time = Some(time::to_proto(self.ctx.now()));
        self.save_then(Lease::GiveBack(self.ctx.now())).await
    }

    /// Ends a compensated payment: its orders are UNPAID and free again. True unless the
    /// lease was lost.
    async fn fail(&mut self) -> Result<bool, Status> {
        let ctx = self.ctx;
        let now = ctx.now();
        let mut tx = ctx.svc.pool.begin().await.map_err(internal)?;
        let reason = self
            .p
            .failure
            .as_ref()
            .map(|f| f.reason.clone())
            .unwrap_or_default();
        // Orders are locked in one global order (by id), as PayOrders locks them.
        let mut items = self.p.items.clone();
        items.sort_by(|a, b| a.order_id.cmp(&b.order_id));
        for item in items {
            let order_id = Uuid::try_parse(&item.order_id).map_err(internal)?;
            let mut o = records::lock(&mut tx, ctx, order_id).await?;
            if o.pending_payment_id != self.p.payment_id {
                continue;
            }
            o.pending_payment_id.clear();
            // The failed checkout's fee no longer applies (a trade order's fees are its own).
            if o.kind == kuajing_proto::order::v1::OrderKind::Marketplace as i32 {
                let total = pricing::amount_of(o.total_amount.as_ref());
                o.fees = Some(pricing::breakdown(Vec::new(), total, Currency::CNY));
            }
            records::save(&mut tx, &mut o, now).await?;
            let status = super::status_of(&o);
            let event = Event::new(
                OrderEventType::PaymentFailed,
                actor(ActorType::System, None, ""),
                status,
                status,
                &self.p.request_id,
            )
            .reason(&reason)
            .related("payment_id", &self.p.payment_id);
            events::append(&mut tx, &o, event, now).await?;
        }
        self.p.state = PaymentState::Failed as i32;
        self.p.complete_time = Some(time::to_proto(now));
        let then = Lease::GiveBack(now);
        if !payment_record::persist(&mut tx, ctx, &mut self.p, self.lease, &self.domain, then)
            .await?
        {
            return Ok(false);
        }
        tx.commit().await.map_err(internal)?;
        Ok(true)
    }
}

fn injected() -> Failure {
    failure(
        Code::Aborted,
        faults::FAULT_INJECTED,
        "a fault was injected into the payment (test hook)",
        HashMap::new(),
        "order.kuajing",
    )
}

/// Marks a payment the recovery loop gives up on as compensating, with why.
pub fn give_up(p: &mut Payment, reason_pin: bool) {
    p.state = PaymentState::Compensating as i32;
    if p.failure.is_none() {
        p.failure = Some(PaymentFailure {
            code: code_name(Code::Aborted).to_owned(),
            reason: PAYMENT_INTERRUPTED.to_owned(),
            failed_step: 0,
            order_id: String::new(),
            metadata: HashMap::new(),
            message: if reason_pin {
                "the payment was interrupted before the PIN was verified; pay again".to_owned()
            } else {
                "the payment did not finish in time and was undone; pay again".to_owned()
            },
        });
    }
}
