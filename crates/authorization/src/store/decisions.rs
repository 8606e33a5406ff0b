//! `decisions`: every payment decision, approved or denied, with what it was judged on.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgExecutor;
use uuid::Uuid;

/// A decision as stored (a new one is written from the same shape).
#[derive(Clone, Debug)]
pub struct DecisionRow {
    pub decision_id: Uuid,
    pub mandate_id: Option<Uuid>,
    /// `kuajing.identity.v1.Marketplace` (0 when no member was named).
    pub marketplace: i16,
    pub external_member_id: String,
    pub payment_id: Uuid,
    pub order_ids: Vec<Uuid>,
    pub currency: String,
    pub amount: Decimal,
    pub usd_amount: Option<Decimal>,
    pub usd_rate: Option<Decimal>,
    pub usd_rate_set_at: Option<DateTime<Utc>>,
    pub supplier_account_id: Uuid,
    pub category_codes: Vec<String>,
    /// `kuajing.authorization.v1.DecisionOutcome`.
    pub outcome: i16,
    pub reason: String,
    pub message: String,
    pub details: serde_json::Value,
    pub caller_service: String,
    pub subject_account_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Filters of a decision list; `None` is "any".
pub struct DecisionFilter {
    pub mandate_id: Option<Uuid>,
    pub payment_id: Option<Uuid>,
    pub outcome: Option<i16>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// `query_as!` of [`DecisionRow`]: `$head`, the row's columns, then `$tail`
/// (which, or what the statement does first).
macro_rules! decisions {
    ($head:literal, $tail:literal $(, $arg:expr)*) => {
        sqlx::query_as!(
            DecisionRow,
            $head
                + " decision_id, mandate_id, marketplace, external_member_id, payment_id,
                 order_ids, currency, amount, usd_amount, usd_rate, usd_rate_set_at,
                 supplier_account_id, category_codes, outcome, reason, message, details,
                 caller_service, subject_account_id, created_at "
                + $tail
            $(, $arg)*
        )
    };
}

/// Writes a decision made for `request_id`.
pub async fn insert(
    db: impl PgExecutor<'_>,
    row: &DecisionRow,
    request_id: Uuid,
) -> sqlx::Result<DecisionRow> {
    decisions!(
        "INSERT INTO decisions (decision_id, request_id, mandate_id, marketplace, external_member_id,
             payment_id, order_ids, currency, amount, usd_amount, usd_rate, usd_rate_set_at,
             supplier_account_id, category_codes, outcome, reason, message, details,
             caller_service, subject_account_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
             $19, $20, $21)
             RETURNING",
        "",
        row.decision_id,
        request_id,
        row.mandate_id,
        row.marketplace,
        row.external_member_id,
        row.payment_id,
        &row.order_ids[..],
        row.currency,
        row.amount,
        row.usd_amount,
        row.usd_rate,
        row.usd_rate_set_at,
        row.supplier_account_id,
        &row.category_codes[..],
        row.outcome,
        row.reason,
        row.message,
        row.details,
        row.caller_service,
        row.subject_account_id,
        row.created_at
    )
    .fetch_one(db)
    .await
}

/// Decisions newest first, after the cursor (`created_at`, `decision_id`), at most `limit`.
pub async fn list(
    db: impl PgExecutor<'_>,
    f: &DecisionFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<DecisionRow>> {
    decisions!(
        "SELECT",
        "FROM decisions
             WHERE ($1::uuid IS NULL OR mandate_id = $1)
             AND ($2::uuid IS NULL OR payment_id = $2)
             AND ($3::smallint IS NULL OR outcome = $3)
             AND ($4::timestamptz IS NULL OR created_at >= $4)
             AND ($5::timestamptz IS NULL OR created_at < $5)
             AND ($6::timestamptz IS NULL OR (created_at, decision_id) < ($6, $7))
             ORDER BY created_at DESC, decision_id DESC LIMIT $8",
        f.mandate_id,
        f.payment_id,
        f.outcome,
        f.from,
        f.to,
        after.map(|a| a.0),
        after.map(|a| a.1),
        limit
    )
    .fetch_all(db)
    .await
}
