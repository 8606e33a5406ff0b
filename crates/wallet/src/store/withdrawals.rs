//! `withdrawals` (money leaving for a bank account, and its status as the bank reports it)
//! and `withdrawal_fee_rules` (the schedule they are priced by).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgExecutor;
use uuid::Uuid;

/// A withdrawal as stored.
pub struct WithdrawalRow {
    pub withdrawal_id: Uuid,
    pub wallet_id: Uuid,
    pub bank_account_id: Uuid,
    /// `kuajing.wallet.v1.FundPool`.
    pub source_fund_pool: i16,
    pub currency: String,
    pub amount: Decimal,
    pub fee: Decimal,
    pub fee_rule_id: Uuid,
    /// `kuajing.wallet.v1.WithdrawalStatus`.
    pub status: i16,
    pub remark: String,
    pub bank_reference: String,
    pub failure_reason: String,
    pub entry_id: Uuid,
    pub reversal_entry_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A withdrawal to record.
pub struct NewWithdrawal<'a> {
    pub withdrawal_id: Uuid,
    pub wallet_id: Uuid,
    pub bank_account_id: Uuid,
    pub source_fund_pool: i16,
    pub currency: &'a str,
    pub amount: Decimal,
    pub fee: Decimal,
    pub fee_rule_id: Uuid,
    pub status: i16,
    pub remark: &'a str,
    pub entry_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// A status the bank reported.
pub struct StatusChange<'a> {
    pub status: i16,
    pub at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Kept unless non-empty.
    pub bank_reference: &'a str,
    pub failure_reason: &'a str,
    pub reversal_entry_id: Option<Uuid>,
}

/// A fee rule as stored.
pub struct FeeRuleRow {
    pub fee_rule_id: Uuid,
    pub fund_pool: i16,
    pub currency: String,
    pub bank_account_type: i16,
    pub membership_tier: i16,
    pub fixed_fee: Decimal,
    pub fixed_fee_currency: String,
    pub fee_percent: Decimal,
    pub limit_amount: Option<Decimal>,
    pub limit_currency: String,
    pub min_business_days: i32,
    pub max_business_days: i32,
}

/// `query_as!` of [`WithdrawalRow`]: `$head`, the row's columns, then `$tail`
/// (which, or what the statement does first).
macro_rules! withdrawals {
    ($head:literal, $tail:literal $(, $arg:expr)*) => {
        sqlx::query_as!(
            WithdrawalRow,
            $head
                + " withdrawal_id, wallet_id, bank_account_id, source_fund_pool, currency,
                 amount, fee, fee_rule_id, status, remark, bank_reference, failure_reason,
                 entry_id, reversal_entry_id, created_at, updated_at, finished_at "
                + $tail
            $(, $arg)*
        )
    };
}

/// Records a withdrawal.
pub async fn insert(db: impl PgExecutor<'_>, w: &NewWithdrawal<'_>) -> sqlx::Result<WithdrawalRow> {
    withdrawals!(
        "INSERT INTO withdrawals (withdrawal_id, wallet_id, bank_account_id, source_fund_pool,
             currency, amount, fee, fee_rule_id, status, remark, entry_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
             RETURNING",
        "",
        w.withdrawal_id,
        w.wallet_id,
        w.bank_account_id,
        w.source_fund_pool,
        w.currency,
        w.amount,
        w.fee,
        w.fee_rule_id,
        w.status,
        w.remark,
        w.entry_id,
        w.created_at
    )
    .fetch_one(db)
    .await
}

/// One withdrawal.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<WithdrawalRow>> {
    withdrawals!("SELECT", "FROM withdrawals WHERE withdrawal_id = $1", id)
        .fetch_optional(db)
        .await
}

/// Withdrawals newest first (of a wallet, in some statuses; `None` and empty are "any"),
/// created in [`from`, `to`), after the cursor (`created_at`, `withdrawal_id`), at most
/// `limit`.
pub async fn list(
    db: impl PgExecutor<'_>,
    (wallet_id, statuses): (Option<Uuid>, &[i16]),
    (from, to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<WithdrawalRow>> {
    withdrawals!(
        "SELECT",
        "FROM withdrawals
             WHERE ($1::uuid IS NULL OR wallet_id = $1)
             AND (cardinality($2::int2[]) = 0 OR status = ANY($2))
             AND ($3::timestamptz IS NULL OR created_at >= $3)
             AND ($4::timestamptz IS NULL OR created_at < $4)
             AND ($5::timestamptz IS NULL OR (created_at, withdrawal_id) < ($5, $6))
             ORDER BY created_at DESC, withdrawal_id DESC LIMIT $7",
        wallet_id,
        statuses,
        from,
        to,
        after.map(|a| a.0),
        after.map(|a| a.1),
        limit
    )
    .fetch_all(db)
    .await
}

/// A withdrawal's status and entry, the row locked until the transaction ends.
pub async fn status_for_update(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> sqlx::Result<Option<(i16, Uuid)>> {
    let r = sqlx::query!(
        "SELECT status, entry_id FROM withdrawals WHERE withdrawal_id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(db)
    .await?;
    Ok(r.map(|r| (r.status, r.entry_id)))
}

/// Records a status the bank reported.
pub async fn set_status(
    db: impl PgExecutor<'_>,
    id: Uuid,
    c: &StatusChange<'_>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE withdrawals SET status = $2, updated_at = $3, finished_at = $4,
             bank_reference = CASE WHEN $5 = '' THEN bank_reference ELSE $5 END,
             failure_reason = $6, reversal_entry_id = $7
         WHERE withdrawal_id = $1",
        id,
        c.status,
        c.at,
        c.finished_at,
        c.bank_reference,
        c.failure_reason,
        c.reversal_entry_id
    )
    .execute(db)
    .await
    .map(drop)
}

/// The active fee rules, by id.
pub async fn active_rules(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<FeeRuleRow>> {
    sqlx::query_as!(
        FeeRuleRow,
        "SELECT fee_rule_id, fund_pool, currency, bank_account_type, membership_tier, fixed_fee,
             fixed_fee_currency, fee_percent, limit_amount, limit_currency, min_business_days,
             max_business_days
         FROM withdrawal_fee_rules WHERE active ORDER BY fee_rule_id"
    )
    .fetch_all(db)
    .await
}
