//! `reservations`: the USD amount an approved decision holds on its wallet's day, until the
//! payment is confirmed or the reservation released.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgExecutor;
use uuid::Uuid;

/// A reservation as stored.
#[derive(Clone, Debug)]
pub struct ReservationRow {
    pub reservation_id: Uuid,
    pub decision_id: Uuid,
    pub mandate_id: Uuid,
    pub payment_id: Uuid,
    pub currency: String,
    pub amount: Decimal,
    pub usd_amount: Decimal,
    pub limit_date: NaiveDate,
    /// `kuajing.authorization.v1.ReservationState`.
    pub state: i16,
    pub created_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub released_at: Option<DateTime<Utc>>,
    pub release_reason: String,
}

/// A reservation to write (state RESERVED).
pub struct NewReservation<'a> {
    pub reservation_id: Uuid,
    pub decision_id: Uuid,
    pub mandate_id: Uuid,
    pub payment_id: Uuid,
    pub currency: &'a str,
    pub amount: Decimal,
    pub usd_amount: Decimal,
    pub limit_date: NaiveDate,
    pub state: i16,
    pub created_at: DateTime<Utc>,
}

/// `query_as!` of [`ReservationRow`]: `$head`, the row's columns, then `$tail`
/// (which, or what the statement does first).
macro_rules! reservations {
    ($head:literal, $tail:literal $(, $arg:expr)*) => {
        sqlx::query_as!(
            ReservationRow,
            $head
                + " reservation_id, decision_id, mandate_id, payment_id, currency, amount,
                 usd_amount, limit_date, state, created_at, confirmed_at, released_at,
                 release_reason "
                + $tail
            $(, $arg)*
        )
    };
}

/// Writes a reservation.
pub async fn insert(
    db: impl PgExecutor<'_>,
    r: &NewReservation<'_>,
) -> sqlx::Result<ReservationRow> {
    reservations!(
        "INSERT INTO reservations (reservation_id, decision_id, mandate_id, payment_id,
             currency, amount, usd_amount, limit_date, state, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             RETURNING",
        "",
        r.reservation_id,
        r.decision_id,
        r.mandate_id,
        r.payment_id,
        r.currency,
        r.amount,
        r.usd_amount,
        r.limit_date,
        r.state,
        r.created_at
    )
    .fetch_one(db)
    .await
}

/// The reservations of some decisions.
pub async fn of_decisions(
    db: impl PgExecutor<'_>,
    decision_ids: &[Uuid],
) -> sqlx::Result<Vec<ReservationRow>> {
    reservations!(
        "SELECT",
        "FROM reservations WHERE decision_id = ANY($1)",
        decision_ids
    )
    .fetch_all(db)
    .await
}

/// One reservation, locked until the transaction ends.
pub async fn get_for_update(
    db: impl PgExecutor<'_>,
    reservation_id: Uuid,
) -> sqlx::Result<Option<ReservationRow>> {
    reservations!(
        "SELECT",
        "FROM reservations WHERE reservation_id = $1 FOR UPDATE",
        reservation_id
    )
    .fetch_optional(db)
    .await
}

/// Moves a reservation from state `from` to `to` as confirmed at `at`; `None` when it was
/// not in `from`.
pub async fn confirm(
    db: impl PgExecutor<'_>,
    reservation_id: Uuid,
    (from, to): (i16, i16),
    at: DateTime<Utc>,
) -> sqlx::Result<Option<ReservationRow>> {
    reservations!(
        "UPDATE reservations SET state = $2, confirmed_at = $3, release_reason = ''
             WHERE reservation_id = $1 AND state = $4
             RETURNING",
        "",
        reservation_id,
        to,
        at,
        from
    )
    .fetch_optional(db)
    .await
}

/// Moves a reservation from state `from` to `to` as released at `at` for `reason`; `None`
/// when it was not in `from`.
pub async fn release(
    db: impl PgExecutor<'_>,
    reservation_id: Uuid,
    (from, to): (i16, i16),
    at: DateTime<Utc>,
    reason: &str,
) -> sqlx::Result<Option<ReservationRow>> {
    reservations!(
        "UPDATE reservations SET state = $2, released_at = $3, release_reason = $5
             WHERE reservation_id = $1 AND state = $4
             RETURNING",
        "",
        reservation_id,
        to,
        at,
        from,
        reason
    )
    .fetch_optional(db)
    .await
}
