//! Reservations on a mandate's daily limit: ConfirmReservation (the payment succeeded) and
//! ReleaseReservation (it failed: the amount goes back to its day exactly once). Each is a
//! conditional update of the reservation's state and, only when the state changed, of the
//! day's counters, in one transaction.

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::{Currency, FieldViolations, Money, idempotency, time};
use kuajing_proto::authorization::v1::{
    ConfirmReservationRequest, ConfirmReservationResponse, ReleaseReservationRequest,
    ReleaseReservationResponse, Reservation, ReservationState,
};
use sqlx::PgConnection;
use tonic::Status;
use uuid::Uuid;

use super::{Ctx, REASON_MAX, finish};
use crate::domain::reservation::{self, ReservationRefusal, Step};
use crate::store::{self, reservations::ReservationRow};

/// Reason: releasing a confirmed reservation.
pub use kuajing_proto::reasons::authorization::RESERVATION_ALREADY_CONFIRMED;
/// Reason: confirming a released reservation.
pub use kuajing_proto::reasons::authorization::RESERVATION_RELEASED;

impl ReservationRow {
    fn state(&self) -> ReservationState {
        ReservationState::try_from(i32::from(self.state)).unwrap_or(ReservationState::Unspecified)
    }

    /// The wire form.
    pub fn to_proto(&self) -> Result<Reservation, Status> {
        let currency: Currency = self.currency.parse().map_err(internal)?;
        Ok(Reservation {
            reservation_id: self.reservation_id.to_string(),
            decision_id: self.decision_id.to_string(),
            mandate_id: self.mandate_id.to_string(),
            payment_id: self.payment_id.to_string(),
            amount: Some(
                Money::rounded(currency, self.amount)
                    .map_err(internal)?
                    .to_proto(),
            ),
            usd_amount: Some(
                Money::rounded(Currency::USD, self.usd_amount)
                    .map_err(internal)?
                    .to_proto(),
            ),
            limit_date: self.limit_date.format("%Y-%m-%d").to_string(),
            state: i32::from(self.state),
            create_time: Some(time::to_proto(self.created_at)),
            confirm_time: time::opt_to_proto(self.confirmed_at),
            release_time: time::opt_to_proto(self.released_at),
            release_reason: self.release_reason.clone(),
        })
    }
}

/// The reservations of some decisions.
pub async fn of_decisions(
    conn: &mut PgConnection,
    decision_ids: &[Uuid],
) -> Result<Vec<ReservationRow>, Status> {
    store::reservations::of_decisions(conn, decision_ids)
        .await
        .map_err(internal)
}

async fn lock(conn: &mut PgConnection, ctx: &Ctx, id: Uuid) -> Result<ReservationRow, Status> {
    store::reservations::get_for_update(conn, id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ctx.errors().not_found("reservation", id.to_string()))
}

fn refusal(ctx: &Ctx, id: Uuid, r: ReservationRefusal) -> Status {
    let subject = format!("reservation/{id}");
    match r {
        ReservationRefusal::Released => ctx.errors().precondition(
            RESERVATION_RELEASED,
            subject,
            "the reservation was released; its payment cannot be confirmed",
        ),
        ReservationRefusal::AlreadyConfirmed => ctx.errors().precondition(
            RESERVATION_ALREADY_CONFIRMED,
            subject,
            "the reservation was confirmed; a confirmed payment's limit is not given back",
        ),
    }
}

/// How a reservation ends.
#[derive(Clone, Copy)]
enum End<'a> {
    Confirm,
    Release { reason: &'a str },
}

/// Ends a reservation in the caller's transaction: the state moves only from RESERVED (a
/// conditional update, tried first: the common case costs one statement), and only then
/// do the day's counters move, so the amount is moved exactly once however often this
/// runs. When nothing moved, the locked row says why (already ended as asked, or refused).
async fn end(
    conn: &mut PgConnection,
    ctx: &Ctx,
    id: Uuid,
    how: End<'_>,
    now: DateTime<Utc>,
) -> Result<ReservationRow, Status> {
    let reserved = ReservationState::Reserved as i16;
    let updated = match how {
        End::Confirm => {
            let states = (reserved, ReservationState::Confirmed as i16);
            store::reservations::confirm(&mut *conn, id, states, now).await
        }
        End::Release { reason } => {
            let states = (reserved, ReservationState::Released as i16);
            store::reservations::release(&mut *conn, id, states, now, reason).await
        }
    }
    .map_err(internal)?;
    let Some(updated) = updated else {
        let r = lock(conn, ctx, id).await?;
        let step = match how {
            End::Confirm => reservation::confirm(r.state()),
            End::Release { .. } => reservation::release(r.state()),
        }
        .map_err(|e| refusal(ctx, id, e))?;
        return match step {
            Step::Unchanged => Ok(r),
            Step::Change => Err(internal(
                "a reservation left RESERVED between two statements",
            )),
        };
    };
    let (mandate, day, usd) = (updated.mandate_id, updated.limit_date, updated.usd_amount);
    let moved = match how {
        End::Confirm => store::limit_days::confirm(&mut *conn, mandate, day, usd).await,
        End::Release { .. } => store::limit_days::release(&mut *conn, mandate, day, usd).await,
    }
    .map_err(internal)?;
    if moved != 1 {
        return Err(internal("a reservation without its limit day"));
    }
    Ok(updated)
}

/// ConfirmReservation.
pub async fn confirm(
    ctx: &Ctx,
    req: ConfirmReservationRequest,
) -> Result<ConfirmReservationResponse, Status> {
    let mut v = FieldViolations::new();
    v.uuid("request_id", &req.request_id);
    let id = v.uuid("reservation_id", &req.reservation_id);
    finish(ctx.errors(), v)?;
    let id = id.ok_or_else(|| internal("validated fields missing"))?;
    let now = ctx.now();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "ConfirmReservation",
        &req.request_id,
        &req,
        |mut tx| async move {
            let r = end(&mut tx, ctx, id, End::Confirm, now).await?;
            Ok((
                ConfirmReservationResponse {
                    reservation: Some(r.to_proto()?),
                },
                tx,
            ))
        },
    )
    .await
}

/// ReleaseReservation.
pub async fn release(
    ctx: &Ctx,
    req: ReleaseReservationRequest,
) -> Result<ReleaseReservationResponse, Status> {
    let mut v = FieldViolations::new();
    v.uuid("request_id", &req.request_id);
    let id = v.uuid("reservation_id", &req.reservation_id);
    let reason = v.text("reason", &req.reason, REASON_MAX).to_owned();
    finish(ctx.errors(), v)?;
    let id = id.ok_or_else(|| internal("validated fields missing"))?;
    let now = ctx.now();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "ReleaseReservation",
        &req.request_id,
        &req,
        |mut tx| async move {
            let how = End::Release { reason: &reason };
            let r = end(&mut tx, ctx, id, how, now).await?;
            Ok((
                ReleaseReservationResponse {
                    reservation: Some(r.to_proto()?),
                },
                tx,
            ))
        },
    )
    .await
}
