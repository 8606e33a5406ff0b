//! `real_name_verifications`.

use chrono::{DateTime, NaiveDate, Utc};
use kuajing_platform::page::Cursor;
use sqlx::PgConnection;
use uuid::Uuid;

/// A verification as stored.
#[derive(Clone, Debug)]
pub struct VerificationRow {
    pub real_name_verification_id: Uuid,
    pub account_id: Uuid,
    pub subject_type: String,
    pub legal_name: String,
    pub document_type: String,
    pub document_number_masked: String,
    pub document_number_sealed: Vec<u8>,
    pub document_region_code: String,
    pub birth_date: Option<NaiveDate>,
    pub nationality_region_code: String,
    pub document_expire_date: Option<NaiveDate>,
    pub document_photo_refs: Vec<String>,
    pub status: String,
    pub rejection_reason: String,
    pub reviewer_account_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub review_time: Option<DateTime<Utc>>,
}

macro_rules! select_verification {
    ($tail:literal $(, $arg:expr)*) => {
        sqlx::query_as!(
            VerificationRow,
            "SELECT real_name_verification_id, account_id, subject_type, legal_name, document_type,
                document_number_masked, document_number_sealed, document_region_code, birth_date,
                nationality_region_code, document_expire_date, document_photo_refs, status,
                rejection_reason, reviewer_account_id, created_at, review_time
         FROM real_name_verifications " + $tail
            $(, $arg)*
        )
    };
}

/// Inserts a submission.
pub async fn insert(conn: &mut PgConnection, v: &VerificationRow) -> sqlx::Result<()> {
    sqlx::query!("INSERT INTO real_name_verifications (real_name_verification_id, account_id, subject_type,
             legal_name, document_type, document_number_masked, document_number_sealed,
             document_region_code, birth_date, nationality_region_code, document_expire_date,
             document_photo_refs, status, rejection_reason, reviewer_account_id, created_at, review_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)", v.real_name_verification_id, v.account_id, &v.subject_type, &v.legal_name, &v.document_type, &v.document_number_masked, &v.document_number_sealed, &v.document_region_code, v.birth_date, &v.nationality_region_code, v.document_expire_date, &v.document_photo_refs, &v.status, &v.rejection_reason, v.reviewer_account_id, v.created_at, v.review_time)
    .execute(conn)
    .await?;
    Ok(())
}

/// The account's latest verification.
pub async fn latest(
    conn: &mut PgConnection,
    account_id: Uuid,
) -> sqlx::Result<Option<VerificationRow>> {
    select_verification!(
        "WHERE account_id = $1 ORDER BY created_at DESC, real_name_verification_id DESC LIMIT 1",
        account_id
    )
    .fetch_optional(conn)
    .await
}

/// One verification, locked when `lock`.
pub async fn get(
    conn: &mut PgConnection,
    id: Uuid,
    lock: bool,
) -> sqlx::Result<Option<VerificationRow>> {
    if lock {
        select_verification!("WHERE real_name_verification_id = $1 FOR UPDATE", id)
            .fetch_optional(conn)
            .await
    } else {
        select_verification!("WHERE real_name_verification_id = $1", id)
            .fetch_optional(conn)
            .await
    }
}

/// Records a decision.
pub async fn review(
    conn: &mut PgConnection,
    id: Uuid,
    status: &str,
    rejection_reason: &str,
    reviewer: Option<Uuid>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE real_name_verifications
         SET status = $2, rejection_reason = $3, reviewer_account_id = $4, review_time = $5
         WHERE real_name_verification_id = $1",
        id,
        status,
        rejection_reason,
        reviewer,
        now
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// List filters.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub account_id: Option<Uuid>,
    pub status: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Oldest first (the PENDING review queue), else newest first.
    pub oldest_first: bool,
}

/// A page of verifications.
pub async fn list(
    conn: &mut PgConnection,
    f: &Filter,
    after: Option<Cursor>,
    limit: i64,
) -> sqlx::Result<Vec<VerificationRow>> {
    let (time, id) = (after.map(|c| c.time), after.map(|c| c.id));
    // The queue is read oldest first, history newest first: two statements, one per order.
    if f.oldest_first {
        select_verification!(
            "WHERE ($1::uuid IS NULL OR account_id = $1) AND ($2::text IS NULL OR status = $2)
               AND ($3::timestamptz IS NULL OR created_at >= $3)
               AND ($4::timestamptz IS NULL OR created_at < $4)
               AND ($5::timestamptz IS NULL OR (created_at, real_name_verification_id) > ($5, $6))
             ORDER BY created_at ASC, real_name_verification_id ASC LIMIT $7",
            f.account_id,
            f.status.as_deref(),
            f.from,
            f.until,
            time,
            id,
            limit
        )
        .fetch_all(conn)
        .await
    } else {
        select_verification!(
            "WHERE ($1::uuid IS NULL OR account_id = $1) AND ($2::text IS NULL OR status = $2)
               AND ($3::timestamptz IS NULL OR created_at >= $3)
               AND ($4::timestamptz IS NULL OR created_at < $4)
               AND ($5::timestamptz IS NULL OR (created_at, real_name_verification_id) < ($5, $6))
             ORDER BY created_at DESC, real_name_verification_id DESC LIMIT $7",
            f.account_id,
            f.status.as_deref(),
            f.from,
            f.until,
            time,
            id,
            limit
        )
        .fetch_all(conn)
        .await
    }
}
