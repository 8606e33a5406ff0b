//! The PayOrders saga as pure rules: which steps a payment has, which one runs next
//! (forward, or compensating in reverse), the request ids sent to other services (derived
//! from the payment, the step and the order, so every retry is the same request), and what
//! the recovery loop does with a payment a crash or a timeout left in between.
//!
//! Steps, in order: PIN_VERIFICATION; AUTHORIZATION_DECISION per order; FX_CONVERSION
//! (skipped when the wallet has enough, and planned skipped when the payment names no
//! currency to convert from); WALLET_HOLD per order; MARK_ORDERS_PAID (the point
//! of no return); CONFIRM_RESERVATION per order (retried until done, never compensated).
//! A Trade Assurance or Direct Pay order paid from the wallet (PayTradeOrder) has no
//! decision and no reservation: PIN_VERIFICATION, FX_CONVERSION, WALLET_HOLD,
//! MARK_ORDERS_PAID (recorded as received), then WALLET_CAPTURE to the supplier (retried
//! until done, never compensated).
//! Compensation releases the holds, then the reservations, last first; a step whose outcome
//! is unknown (IN_PROGRESS) is first repeated with its own request id to learn what it did.

use chrono::{DateTime, Utc};
use kuajing_proto::order::v1::{PaymentState, PaymentStep, PaymentStepKind, PaymentStepState};
use uuid::Uuid;

/// The states of a payment whose saga has not ended (a driver or the recovery loop still
/// has work): PENDING, IN_PROGRESS and COMPENSATING.
pub const UNFINISHED: [PaymentState; 3] = [
    PaymentState::Pending,
    PaymentState::InProgress,
    PaymentState::Compensating,
];

/// [`UNFINISHED`] as SQL, written out so the partial index `payments_unfinished` (the
/// same predicate, migration 0001) serves the queries that use it; a test keeps the two
/// in step.
#[macro_export]
macro_rules! unfinished_payment_states {
    () => {
        "state IN (1, 2, 4)"
    };
}

/// Namespace of the saga's derived request ids (UUIDv5).
pub const REQUEST_NAMESPACE: Uuid = Uuid::from_u128(0x6b75_616a_696e_6700_8000_5041_594f_5244);

/// What a derived request id is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// The step's forward action.
    Forward,
    /// The step's compensation.
    Compensate,
    /// FX_CONVERSION: the quote (CreateQuote).
    Quote,
    /// FX_CONVERSION: its execution (ExecuteQuote).
    Execute,
}

impl Purpose {
    fn name(self) -> &'static str {
        match self {
            Purpose::Forward => "forward",
            Purpose::Compensate => "compensate",
            Purpose::Quote => "quote",
            Purpose::Execute => "execute",
        }
    }
}

/// The request id a step sends for `purpose`: a UUIDv5 of payment, step kind, order and
/// purpose, identical on every retry.
pub fn request_id(
    payment_id: Uuid,
    kind: PaymentStepKind,
    order_id: Option<Uuid>,
    purpose: Purpose,
) -> Uuid {
    let order = order_id
        .map(|o| o.to_string())
        .unwrap_or_else(|| "-".to_owned());
    let name = format!(
        "{payment_id}/{}/{order}/{}",
        kind.as_str_name(),
        purpose.name()
    );
    Uuid::new_v5(&REQUEST_NAMESPACE, name.as_bytes())
}

/// True for the steps that have a compensation.
pub fn compensable(kind: PaymentStepKind) -> bool {
    matches!(
        kind,
        PaymentStepKind::AuthorizationDecision | PaymentStepKind::WalletHold
    )
}

fn step(payment_id: Uuid, kind: PaymentStepKind, order: Option<Uuid>) -> PaymentStep {
    PaymentStep {
        kind: kind as i32,
        order_id: order.map(|o| o.to_string()).unwrap_or_default(),
        state: PaymentStepState::Pending as i32,
        request_id: request_id(payment_id, kind, order, Purpose::Forward).to_string(),
        compensation_request_id: if compensable(kind) {
            request_id(payment_id, kind, order, Purpose::Compensate).to_string()
        } else {
            String::new()
        },
        ..PaymentStep::default()
    }
}

/// Every step of a payment of `orders`, in execution order, all PENDING, except that
/// FX_CONVERSION is SKIPPED from the start when there is nothing to `convert` from (the
/// hold then refuses a shortfall itself, and no call is spent finding it).
pub fn plan(payment_id: Uuid, orders: &[Uuid], convert: bool) -> Vec<PaymentStep> {
    use PaymentStepKind as K;
    let mut steps = vec![step(payment_id, K::PinVerification, None)];
    steps.extend(
        orders
            .iter()
            .map(|o| step(payment_id, K::AuthorizationDecision, Some(*o))),
    );
    let mut fx = step(payment_id, K::FxConversion, None);
    if !convert {
        fx.state = PaymentStepState::Skipped as i32;
    }
    steps.push(fx);
    steps.extend(
        orders
            .iter()
            .map(|o| step(payment_id, K::WalletHold, Some(*o))),
    );
    steps.push(step(payment_id, K::MarkOrdersPaid, None));
    steps.extend(
        orders
            .iter()
            .map(|o| step(payment_id, K::ConfirmReservation, Some(*o))),
    );
    steps
}

/// Every step of a trade order's payment from the wallet, as [`plan`] orders them.
pub fn plan_trade(payment_id: Uuid, order: Uuid, convert: bool) -> Vec<PaymentStep> {
    use PaymentStepKind as K;
    let mut fx = step(payment_id, K::FxConversion, None);
    if !convert {
        fx.state = PaymentStepState::Skipped as i32;
    }
    vec![
        step(payment_id, K::PinVerification, None),
        fx,
        step(payment_id, K::WalletHold, Some(order)),
        step(payment_id, K::MarkOrdersPaid, None),
        step(payment_id, K::WalletCapture, Some(order)),
    ]
}

/// Marks a step IN_PROGRESS for one more attempt, at `now`: what is saved before its call,
/// so that a crash after the call leaves its outcome known to be unknown.
pub fn start(s: &mut PaymentStep, now: prost_types::Timestamp) {
    s.attempts += 1;
    if s.start_time.is_none() {
        s.start_time = Some(now);
    }
    s.state = PaymentStepState::InProgress as i32;
    s.update_time = Some(now);
}

fn kind_of(s: &PaymentStep) -> PaymentStepKind {
    PaymentStepKind::try_from(s.kind).unwrap_or(PaymentStepKind::Unspecified)
}

fn state_of(s: &PaymentStep) -> PaymentStepState {
    PaymentStepState::try_from(s.state).unwrap_or(PaymentStepState::Unspecified)
}

/// True once every order was marked paid: from here on the payment only goes forward.
pub fn past_point_of_no_return(steps: &[PaymentStep]) -> bool {
    steps.iter().any(|s| {
        kind_of(s) == PaymentStepKind::MarkOrdersPaid && state_of(s) == PaymentStepState::Succeeded
    })
}

/// What to do next with a payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Run (or re-run) the forward action of step `i`.
    Forward(usize),
    /// Run (or re-run) the compensation of step `i`.
    Compensate(usize),
    /// Nothing left: the payment ends in this state.
    Finish(PaymentState),
}

/// The next thing to do for a payment in `state` with `steps`.
pub fn next(state: PaymentState, steps: &[PaymentStep]) -> Next {
    use PaymentStepState as S;
    match state {
        PaymentState::Pending | PaymentState::InProgress => steps
            .iter()
            .position(|s| matches!(state_of(s), S::Pending | S::InProgress))
            .map_or(Next::Finish(PaymentState::Succeeded), Next::Forward),
        PaymentState::Compensating => {
            let order = [
                PaymentStepKind::WalletHold,
                PaymentStepKind::AuthorizationDecision,
            ];
            for kind in order {
                let found = steps.iter().enumerate().rev().find(|(_, s)| {
                    kind_of(s) == kind
                        && matches!(state_of(s), S::Succeeded | S::InProgress | S::Compensating)
                });
                if let Some((i, _)) = found {
                    return Next::Compensate(i);
                }
            }
            Next::Finish(PaymentState::Failed)
        }
        PaymentState::Succeeded => Next::Finish(PaymentState::Succeeded),
        PaymentState::Failed | PaymentState::Unspecified => Next::Finish(PaymentState::Failed),
    }
}

/// What the recovery loop does with a payment whose driver is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// Carry on forward from where it stopped.
    Resume,
    /// Give up: compensate everything done (the PIN can't be asked again, or the payment is
    /// older than the saga timeout).
    Compensate,
    /// Carry on compensating.
    ContinueCompensating,
}

/// Decides what recovery does with a payment in `state`, created at `created`.
pub fn recovery(
    state: PaymentState,
    steps: &[PaymentStep],
    created: DateTime<Utc>,
    now: DateTime<Utc>,
    timeout: chrono::Duration,
) -> Recovery {
    if state == PaymentState::Compensating {
        return Recovery::ContinueCompensating;
    }
    if past_point_of_no_return(steps) {
        return Recovery::Resume;
    }
    let pin_done = steps.iter().any(|s| {
        kind_of(s) == PaymentStepKind::PinVerification && state_of(s) == PaymentStepState::Succeeded
    });
    if !pin_done || now >= created + timeout {
        Recovery::Compensate
    } else {
        Recovery::Resume
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unfinished_states_in_sql_are_the_unfinished_ones() {
        let listed = UNFINISHED.map(|s| (s as i32).to_string()).join(", ");
        assert_eq!(
            crate::unfinished_payment_states!(),
            format!("state IN ({listed})")
        );
        let migration = include_str!("../../migrations/0001_orders.sql");
        assert!(migration.contains(&format!("WHERE {};", crate::unfinished_payment_states!())));
    }
    use PaymentStepKind as K;
    use PaymentStepState as S;

    fn set(steps: &mut [PaymentStep], kind: K, state: S) {
        for s in steps.iter_mut().filter(|s| s.kind == kind as i32) {
            s.state = state as i32;
        }
    }

    #[test]
    fn request_ids_are_stable_and_distinct() {
        let p = Uuid::now_v7();
        let o = Uuid::now_v7();
        let a = request_id(p, K::WalletHold, Some(o), Purpose::Forward);
        assert_eq!(a, request_id(p, K::WalletHold, Some(o), Purpose::Forward));
        assert_eq!(a.get_version_num(), 5);
        assert_ne!(
            a,
            request_id(p, K::WalletHold, Some(o), Purpose::Compensate)
        );
        assert_ne!(
            a,
            request_id(p, K::AuthorizationDecision, Some(o), Purpose::Forward)
        );
        assert_ne!(
            a,
            request_id(Uuid::now_v7(), K::WalletHold, Some(o), Purpose::Forward)
        );
    }

    #[test]
    fn a_trade_payment_holds_marks_then_captures_and_only_the_hold_is_undone() {
        let order = Uuid::now_v7();
        let steps = plan_trade(Uuid::now_v7(), order, false);
        let kinds: Vec<i32> = steps.iter().map(|s| s.kind).collect();
        let expected = [
            K::PinVerification,
            K::FxConversion,
            K::WalletHold,
            K::MarkOrdersPaid,
            K::WalletCapture,
        ];
        assert_eq!(kinds, expected.map(|k| k as i32));
        assert_eq!(steps[1].state, S::Skipped as i32);
        assert!(!compensable(K::WalletCapture));
        let mut done = steps.clone();
        set(&mut done, K::PinVerification, S::Succeeded);
        set(&mut done, K::WalletHold, S::Succeeded);
        assert_eq!(next(PaymentState::Compensating, &done), Next::Compensate(2));
        set(&mut done, K::MarkOrdersPaid, S::Succeeded);
        assert!(past_point_of_no_return(&done));
        assert_eq!(next(PaymentState::InProgress, &done), Next::Forward(4));
    }

    #[test]
    fn plans_run_in_contract_order() {
        let orders = [Uuid::now_v7(), Uuid::now_v7()];
        let steps = plan(Uuid::now_v7(), &orders, true);
        let kinds: Vec<i32> = steps.iter().map(|s| s.kind).collect();
        use K::*;
        let expected = [
            PinVerification,
            AuthorizationDecision,
            AuthorizationDecision,
            FxConversion,
            WalletHold,
            WalletHold,
            MarkOrdersPaid,
            ConfirmReservation,
            ConfirmReservation,
        ];
        assert_eq!(
            kinds,
            expected.iter().map(|k| *k as i32).collect::<Vec<_>>()
        );
        assert!(steps.iter().all(|s| !s.request_id.is_empty()));
        assert!(
            steps
                .iter()
                .filter(|s| compensable(kind_of(s)))
                .all(|s| !s.compensation_request_id.is_empty())
        );
        assert_eq!(next(PaymentState::InProgress, &steps), Next::Forward(0));

        // Nothing to convert from: the conversion is skipped from the start.
        let mut steps = plan(Uuid::now_v7(), &orders, false);
        let fx = steps
            .iter()
            .position(|s| kind_of(s) == FxConversion)
            .unwrap();
        assert_eq!(state_of(&steps[fx]), S::Skipped);
        for s in &mut steps[..fx] {
            s.state = S::Succeeded as i32;
        }
        assert_eq!(
            next(PaymentState::InProgress, &steps),
            Next::Forward(fx + 1)
        );
    }

    #[test]
    fn starting_a_step_counts_the_attempt_and_keeps_the_first_start() {
        let mut steps = plan(Uuid::now_v7(), &[Uuid::now_v7()], true);
        let first = prost_types::Timestamp {
            seconds: 10,
            nanos: 0,
        };
        let later = prost_types::Timestamp {
            seconds: 20,
            nanos: 0,
        };
        start(&mut steps[0], first);
        start(&mut steps[0], later);
        assert_eq!(state_of(&steps[0]), S::InProgress);
        assert_eq!(steps[0].attempts, 2);
        assert_eq!(steps[0].start_time, Some(first));
        assert_eq!(steps[0].update_time, Some(later));
    }

    #[test]
    fn compensation_releases_holds_then_reservations_last_first() {
        let orders = [Uuid::now_v7(), Uuid::now_v7()];
        let mut steps = plan(Uuid::now_v7(), &orders, true);
        set(&mut steps, K::PinVerification, S::Succeeded);
        set(&mut steps, K::AuthorizationDecision, S::Succeeded);
        set(&mut steps, K::FxConversion, S::Skipped);
        steps[4].state = S::Succeeded as i32; // first hold
        steps[5].state = S::InProgress as i32; // second hold: outcome unknown
        assert_eq!(
            next(PaymentState::Compensating, &steps),
            Next::Compensate(5)
        );
        steps[5].state = S::Compensated as i32;
        assert_eq!(
            next(PaymentState::Compensating, &steps),
            Next::Compensate(4)
        );
        steps[4].state = S::Compensated as i32;
        assert_eq!(
            next(PaymentState::Compensating, &steps),
            Next::Compensate(2)
        );
        steps[2].state = S::Compensated as i32;
        assert_eq!(
            next(PaymentState::Compensating, &steps),
            Next::Compensate(1)
        );
        steps[1].state = S::Failed as i32; // a denied decision reserved nothing
        assert_eq!(
            next(PaymentState::Compensating, &steps),
            Next::Finish(PaymentState::Failed)
        );
    }

    #[test]
    fn forward_ends_in_success_after_the_confirmations() {
        let mut steps = plan(Uuid::now_v7(), &[Uuid::now_v7()], true);
        for s in steps.iter_mut() {
            s.state = S::Succeeded as i32;
        }
        assert_eq!(
            next(PaymentState::InProgress, &steps),
            Next::Finish(PaymentState::Succeeded)
        );
        assert!(past_point_of_no_return(&steps));
    }

    #[test]
    fn recovery_resumes_young_payments_and_compensates_old_ones() {
        let now = Utc::now();
        let timeout = chrono::Duration::seconds(120);
        let mut steps = plan(Uuid::now_v7(), &[Uuid::now_v7()], true);
        // The PIN can't be asked again.
        assert_eq!(
            recovery(PaymentState::InProgress, &steps, now, now, timeout),
            Recovery::Compensate
        );
        set(&mut steps, K::PinVerification, S::Succeeded);
        assert_eq!(
            recovery(PaymentState::InProgress, &steps, now, now, timeout),
            Recovery::Resume
        );
        let old = now - chrono::Duration::seconds(121);
        assert_eq!(
            recovery(PaymentState::InProgress, &steps, old, now, timeout),
            Recovery::Compensate
        );
        set(&mut steps, K::MarkOrdersPaid, S::Succeeded);
        assert_eq!(
            recovery(PaymentState::InProgress, &steps, old, now, timeout),
            Recovery::Resume
        );
        assert_eq!(
            recovery(PaymentState::Compensating, &steps, old, now, timeout),
            Recovery::ContinueCompensating
        );
    }
}
