//! `mandates` (a member's authorisation to pay from a wallet) and `create_mandate_ids` (one
//! mandate id per CreateMandate request).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A mandate as stored.
#[derive(Clone, Debug)]
pub struct MandateRow {
    pub mandate_id: Uuid,
    pub wallet_id: Uuid,
    pub owner_account_id: Uuid,
    /// `kuajing.identity.v1.Marketplace`.
    pub marketplace: i16,
    pub external_member_id: String,
    pub linked_account_id: Uuid,
    pub payer_account_id: Uuid,
    /// `kuajing.authorization.v1.MandateState` as stored (EXPIRED is also derived on read).
    pub state: i16,
    pub funding_currency: String,
    pub agreement_version: String,
    pub agreement_accepted_at: Option<DateTime<Utc>>,
    pub activated_at: Option<DateTime<Utc>>,
    pub expire_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A mandate to write.
pub struct NewMandate<'a> {
    pub mandate_id: Uuid,
    pub wallet_id: Uuid,
    pub owner_account_id: Uuid,
    pub marketplace: i16,
    pub external_member_id: &'a str,
    pub linked_account_id: Uuid,
    pub payer_account_id: Uuid,
    pub state: i16,
    pub funding_currency: &'a str,
    pub expire_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// Filters of a mandate list; `None` is "any".
pub struct MandateFilter<'a> {
    pub owner: Option<Uuid>,
    pub wallet: Option<Uuid>,
    /// The member: marketplace and external member id.
    pub member: Option<(i16, &'a str)>,
    /// The state as read at `now`: `live` states past their end read as `expired`.
    pub state: Option<i16>,
    pub now: DateTime<Utc>,
    pub live: [i16; 2],
    pub expired: i16,
}

/// `query_as!` of [`MandateRow`]: `$head`, the row's columns, then `$tail`
/// (which, or what the statement does first).
macro_rules! mandates {
    ($head:literal, $tail:literal $(, $arg:expr)*) => {
        sqlx::query_as!(
            MandateRow,
            $head
                + " mandate_id, wallet_id, owner_account_id, marketplace, external_member_id,
                 linked_account_id, payer_account_id, state, funding_currency,
                 agreement_version, agreement_accepted_at, activated_at, expire_at,
                 revoked_at, revoke_reason, created_at, updated_at "
                + $tail
            $(, $arg)*
        )
    };
}

/// One mandate.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<MandateRow>> {
    mandates!("SELECT", "FROM mandates WHERE mandate_id = $1", id)
        .fetch_optional(db)
        .await
}

/// One mandate, locked for update until the transaction ends.
pub async fn get_for_update(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<MandateRow>> {
    mandates!(
        "SELECT",
        "FROM mandates WHERE mandate_id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(db)
    .await
}

/// A mandate's stored state and end, under a share lock until the transaction ends (a
/// revocation committed first is seen; a later one waits), with the date of `at` in `zone`.
pub async fn state_for_share(
    db: impl PgExecutor<'_>,
    id: Uuid,
    at: DateTime<Utc>,
    zone: &str,
) -> sqlx::Result<(i16, DateTime<Utc>, NaiveDate)> {
    let r = sqlx::query!(
        r#"SELECT state, expire_at, ($2::timestamptz AT TIME ZONE $3)::date AS "day!"
           FROM mandates WHERE mandate_id = $1 FOR SHARE"#,
        id,
        at,
        zone
    )
    .fetch_one(db)
    .await?;
    Ok((r.state, r.expire_at, r.day))
}

/// Every mandate a marketplace member ever had, newest first.
pub async fn of_member(
    db: impl PgExecutor<'_>,
    marketplace: i16,
    external_member_id: &str,
) -> sqlx::Result<Vec<MandateRow>> {
    mandates!(
        "SELECT",
        "FROM mandates WHERE marketplace = $1 AND external_member_id = $2
             ORDER BY created_at DESC, mandate_id DESC",
        marketplace,
        external_member_id
    )
    .fetch_all(db)
    .await
}

/// The member's mandate stored in state `active` whose end is after `now`, if any.
pub async fn active_of_member(
    db: impl PgExecutor<'_>,
    (marketplace, external_member_id): (i16, &str),
    active: i16,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<MandateRow>> {
    mandates!(
        "SELECT",
        "FROM mandates WHERE marketplace = $1 AND external_member_id = $2
             AND state = $3 AND expire_at > $4",
        marketplace,
        external_member_id,
        active,
        now
    )
    .fetch_optional(db)
    .await
}

/// The mandate id of a CreateMandate request: `proposed` the first time, the first one's
/// after that.
pub async fn id_for_request(
    db: impl PgExecutor<'_>,
    request_id: Uuid,
    proposed: Uuid,
    at: DateTime<Utc>,
) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "INSERT INTO create_mandate_ids (request_id, mandate_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (request_id) DO UPDATE SET request_id = EXCLUDED.request_id
         RETURNING mandate_id",
        request_id,
        proposed,
        at
    )
    .fetch_one(db)
    .await
}

/// Writes a new mandate.
pub async fn insert(db: impl PgExecutor<'_>, m: &NewMandate<'_>) -> sqlx::Result<MandateRow> {
    mandates!(
        "INSERT INTO mandates (mandate_id, wallet_id, owner_account_id, marketplace,
             external_member_id, linked_account_id, payer_account_id, state, funding_currency,
             expire_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
             RETURNING",
        "",
        m.mandate_id,
        m.wallet_id,
        m.owner_account_id,
        m.marketplace,
        m.external_member_id,
        m.linked_account_id,
        m.payer_account_id,
        m.state,
        m.funding_currency,
        m.expire_at,
        m.created_at
    )
    .fetch_one(db)
    .await
}

/// Stores `expired` on the member's mandates stored `active` whose end is not after `now`.
pub async fn expire_passed_of_member(
    db: impl PgExecutor<'_>,
    (marketplace, external_member_id): (i16, &str),
    (active, expired): (i16, i16),
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE mandates SET state = $4, updated_at = expire_at
         WHERE marketplace = $1 AND external_member_id = $2 AND state = $3 AND expire_at <= $5",
        marketplace,
        external_member_id,
        active,
        expired,
        now
    )
    .execute(db)
    .await
    .map(drop)
}

/// Activates a mandate under agreement `version` at `at` (a unique violation when the member
/// has another active mandate).
pub async fn activate(
    db: impl PgExecutor<'_>,
    id: Uuid,
    active: i16,
    version: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<MandateRow> {
    mandates!(
        "UPDATE mandates SET state = $2, agreement_version = $3, agreement_accepted_at = $4,
             activated_at = $4, updated_at = $4
             WHERE mandate_id = $1
             RETURNING",
        "",
        id,
        active,
        version,
        at
    )
    .fetch_one(db)
    .await
}

/// Revokes a mandate at `at` for `reason`.
pub async fn revoke(
    db: impl PgExecutor<'_>,
    id: Uuid,
    revoked: i16,
    at: DateTime<Utc>,
    reason: &str,
) -> sqlx::Result<MandateRow> {
    mandates!(
        "UPDATE mandates SET state = $2, revoked_at = $3, revoke_reason = $4, updated_at = $3
             WHERE mandate_id = $1
             RETURNING",
        "",
        id,
        revoked,
        at,
        reason
    )
    .fetch_one(db)
    .await
}

/// Mandates newest first, after the cursor (`created_at`, `mandate_id`), at most `limit`.
pub async fn list(
    db: impl PgExecutor<'_>,
    f: &MandateFilter<'_>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<MandateRow>> {
    mandates!(
        "SELECT",
        "FROM mandates
             WHERE ($1::uuid IS NULL OR owner_account_id = $1)
             AND ($2::uuid IS NULL OR wallet_id = $2)
             AND ($3::smallint IS NULL OR (marketplace = $3 AND external_member_id = $4))
             AND ($5::smallint IS NULL OR
             (CASE WHEN state = ANY($10::int2[]) AND expire_at <= $6 THEN $11::int2 ELSE state END) = $5)
             AND ($7::timestamptz IS NULL OR (created_at, mandate_id) < ($7, $8))
             ORDER BY created_at DESC, mandate_id DESC LIMIT $9",
        f.owner,
        f.wallet,
        f.member.map(|m| m.0),
        f.member.map(|m| m.1),
        f.state,
        f.now,
        after.map(|a| a.0),
        after.map(|a| a.1),
        limit,
        &f.live[..],
        f.expired
    )
    .fetch_all(db)
    .await
}

/// Stores `expired` on at most 500 mandates in a `live` state whose end has passed (rows
/// another sweep holds are skipped); how many.
pub async fn expire_due(
    db: impl PgExecutor<'_>,
    expired: i16,
    live: (i16, i16),
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "UPDATE mandates SET state = $1, updated_at = expire_at
         WHERE mandate_id IN (
             SELECT mandate_id FROM mandates WHERE state IN ($2, $3) AND expire_at <= $4
             ORDER BY expire_at LIMIT 500 FOR UPDATE SKIP LOCKED)",
        expired,
        live.0,
        live.1,
        now
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
