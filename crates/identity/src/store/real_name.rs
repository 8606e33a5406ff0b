//! `real_name_verifications`.

use chrono::{DateTime, NaiveDate, Utc};
use kuajing_platform::page::Cursor;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

/// A verification as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
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
    () => {
        "SELECT real_name_verification_id, account_id, subject_type, legal_name, document_type,
                document_number_masked, document_number_sealed, document_region_code, birth_date,
                nationality_region_code, document_expire_date, document_photo_refs, status,
                rejection_reason, reviewer_account_id, created_at, review_time
         FROM real_name_verifications "
    };
}

/// Inserts a submission.
pub async fn insert(conn: &mut PgConnection, v: &VerificationRow) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO real_name_verifications (real_name_verification_id, account_id, subject_type,
             legal_name, document_type, document_number_masked, document_number_sealed,
             document_region_code, birth_date, nationality_region_code, document_expire_date,
             document_photo_refs, status, rejection_reason, reviewer_account_id, created_at, review_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(v.real_name_verification_id)
    .bind(v.account_id)
    .bind(&v.subject_type)
    .bind(&v.legal_name)
    .bind(&v.document_type)
    .bind(&v.document_number_masked)
    .bind(&v.document_number_sealed)
    .bind(&v.document_region_code)
    .bind(v.birth_date)
    .bind(&v.nationality_region_code)
    .bind(v.document_expire_date)
    .bind(&v.document_photo_refs)
    .bind(&v.status)
    .bind(&v.rejection_reason)
    .bind(v.reviewer_account_id)
    .bind(v.created_at)
    .bind(v.review_time)
    .execute(conn)
    .await?;
    Ok(())
}

/// The account's latest verification.
pub async fn latest(
    conn: &mut PgConnection,
    account_id: Uuid,
) -> sqlx::Result<Option<VerificationRow>> {
    sqlx::query_as(concat!(
        select_verification!(),
        "WHERE account_id = $1 ORDER BY created_at DESC, real_name_verification_id DESC LIMIT 1"
    ))
    .bind(account_id)
    .fetch_optional(conn)
    .await
}

/// One verification, locked when `lock`.
pub async fn get(
    conn: &mut PgConnection,
    id: Uuid,
    lock: bool,
) -> sqlx::Result<Option<VerificationRow>> {
    let query = if lock {
        concat!(
            select_verification!(),
            "WHERE real_name_verification_id = $1 FOR UPDATE"
        )
    } else {
        concat!(
            select_verification!(),
            "WHERE real_name_verification_id = $1"
        )
    };
    sqlx::query_as(query).bind(id).fetch_optional(conn).await
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
    sqlx::query(
        "UPDATE real_name_verifications
         SET status = $2, rejection_reason = $3, reviewer_account_id = $4, review_time = $5
         WHERE real_name_verification_id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(rejection_reason)
    .bind(reviewer)
    .bind(now)
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
    let mut q: QueryBuilder<Postgres> =
        QueryBuilder::new(concat!(select_verification!(), "WHERE true"));
    if let Some(a) = f.account_id {
        q.push(" AND account_id = ").push_bind(a);
    }
    if let Some(s) = &f.status {
        q.push(" AND status = ").push_bind(s.clone());
    }
    if let Some(t) = f.from {
        q.push(" AND created_at >= ").push_bind(t);
    }
    if let Some(t) = f.until {
        q.push(" AND created_at < ").push_bind(t);
    }
    let (cmp, order) = if f.oldest_first {
        (">", "ASC")
    } else {
        ("<", "DESC")
    };
    if let Some(c) = after {
        q.push(" AND (created_at, real_name_verification_id) ")
            .push(cmp)
            .push(" (")
            .push_bind(c.time)
            .push(", ")
            .push_bind(c.id)
            .push(")");
    }
    q.push(" ORDER BY created_at ")
        .push(order)
        .push(", real_name_verification_id ")
        .push(order)
        .push(" LIMIT ")
        .push_bind(limit);
    q.build_query_as().fetch_all(conn).await
}
