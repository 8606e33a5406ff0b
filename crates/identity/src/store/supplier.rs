//! `supplier_profiles` and `ip_complaints`.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// A profile with what admission reads from elsewhere: the account's region and real-name
/// status, and the complaint counts.
#[derive(Clone, Debug)]
pub struct ProfileRow {
    pub account_id: Uuid,
    pub company_id: Uuid,
    pub company_name: String,
    pub membership: String,
    pub trustpass_active: bool,
    pub cross_border_pay_enabled: bool,
    pub bad_credit_record: bool,
    pub violation_points: i32,
    pub risk_flags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub region_code: String,
    pub real_name_status: String,
    pub ip_complaint_count: i64,
    pub company_ip_complaint_count: i64,
    /// Programs opened by the supplier, oldest first (stored names).
    pub open_programs: Vec<String>,
}

/// `query_as!` of [`ProfileRow`]: the profile of supplier `$1`, then `$tail` (its lock).
macro_rules! profile_select {
    ($tail:literal $(, $arg:expr)*) => {
        sqlx::query_as!(
            ProfileRow,
            r#"SELECT p.account_id, p.company_id, p.company_name, p.membership, p.trustpass_active,
                p.cross_border_pay_enabled, p.bad_credit_record, p.violation_points, p.risk_flags,
                p.created_at, p.updated_at, a.region_code, a.real_name_status,
                (SELECT count(*) FROM ip_complaints c
                  WHERE c.account_id = p.account_id AND c.serious) AS "ip_complaint_count!",
                (SELECT count(*) FROM ip_complaints c
                   JOIN supplier_profiles q ON q.account_id = c.account_id
                  WHERE q.company_id = p.company_id AND c.serious) AS "company_ip_complaint_count!",
                ARRAY(SELECT o.program FROM supplier_programs o
                       WHERE o.account_id = p.account_id
                       ORDER BY o.opened_at, o.program) AS "open_programs!"
         FROM supplier_profiles p JOIN accounts a ON a.account_id = p.account_id
         WHERE p.account_id = $1"# + $tail
            $(, $arg)*
        )
    };
}

/// Creates the profile of a new supplier: free member, no TrustPass, no points, its own
/// company.
pub async fn insert(
    conn: &mut PgConnection,
    account_id: Uuid,
    company_id: Uuid,
    company_name: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!("INSERT INTO supplier_profiles (account_id, company_id, company_name, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $4)", account_id, company_id, company_name, now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The profile of a supplier account; the profile row is locked when `lock`.
pub async fn get(
    conn: &mut PgConnection,
    account_id: Uuid,
    lock: bool,
) -> sqlx::Result<Option<ProfileRow>> {
    // Serious complaints are counted across every account currently in the company.
    if lock {
        profile_select!(" FOR UPDATE OF p", account_id)
            .fetch_optional(conn)
            .await
    } else {
        profile_select!("", account_id).fetch_optional(conn).await
    }
}

/// Whether any supplier belongs to this company.
pub async fn company_exists(conn: &mut PgConnection, company_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM supplier_profiles WHERE company_id = $1) AS "exists!""#,
        company_id
    )
    .fetch_one(conn)
    .await
}

/// Writes the updatable fields of a profile.
pub async fn update(
    conn: &mut PgConnection,
    p: &ProfileRow,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE supplier_profiles
         SET company_id = $2, company_name = $3, membership = $4, trustpass_active = $5,
             cross_border_pay_enabled = $6, bad_credit_record = $7, violation_points = $8,
             risk_flags = $9, updated_at = $10
         WHERE account_id = $1",
        p.account_id,
        p.company_id,
        &p.company_name,
        &p.membership,
        p.trustpass_active,
        p.cross_border_pay_enabled,
        p.bad_credit_record,
        p.violation_points,
        &p.risk_flags,
        now
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records that the supplier opened `program` (stored name); opening it again keeps the
/// first time.
pub async fn open_program(
    conn: &mut PgConnection,
    account_id: Uuid,
    program: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO supplier_programs (account_id, program, opened_at) VALUES ($1, $2, $3)
         ON CONFLICT (account_id, program) DO NOTHING",
        account_id,
        program,
        now
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A complaint as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ComplaintRow {
    pub ip_complaint_id: Uuid,
    pub account_id: Uuid,
    pub company_id: Uuid,
    pub complaint_reference: String,
    pub serious: bool,
    pub description: String,
    pub complaint_time: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// Records a complaint unless its reference is already recorded for the account (then
/// `false`).
pub async fn insert_complaint(conn: &mut PgConnection, c: &ComplaintRow) -> sqlx::Result<bool> {
    let n = sqlx::query!(
        "INSERT INTO ip_complaints (ip_complaint_id, account_id, company_id, complaint_reference,
             serious, description, complaint_time, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (account_id, complaint_reference) DO NOTHING",
        c.ip_complaint_id,
        c.account_id,
        c.company_id,
        &c.complaint_reference,
        c.serious,
        &c.description,
        c.complaint_time,
        c.created_at
    )
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}
