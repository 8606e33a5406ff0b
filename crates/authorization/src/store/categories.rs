//! `restricted_categories` and their audit trail, `restricted_category_changes`.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A category as stored.
#[derive(Clone, Debug)]
pub struct CategoryRow {
    pub category_code: String,
    pub display_name: String,
    pub restricted: bool,
    pub reason: String,
    pub update_account_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a change sets (the code names the category).
pub struct CategoryChange<'a> {
    pub code: &'a str,
    pub display_name: &'a str,
    pub restricted: bool,
    pub reason: &'a str,
    pub actor: &'a str,
    pub at: DateTime<Utc>,
}

/// `query_as!` of [`CategoryRow`]: `$head`, the row's columns, then `$tail`
/// (which, or what the statement does first).
macro_rules! categories {
    ($head:literal, $tail:literal $(, $arg:expr)*) => {
        sqlx::query_as!(
            CategoryRow,
            $head
                + " category_code, display_name, restricted, reason, update_account_id,
                 created_at, updated_at "
                + $tail
            $(, $arg)*
        )
    };
}

/// Categories by code (the restricted ones, or all), `offset` rows in, at most `limit`.
pub async fn list(
    db: impl PgExecutor<'_>,
    include_unrestricted: bool,
    offset: i64,
    limit: i64,
) -> sqlx::Result<Vec<CategoryRow>> {
    categories!(
        "SELECT",
        "FROM restricted_categories WHERE restricted OR $1
             ORDER BY category_code OFFSET $2 LIMIT $3",
        include_unrestricted,
        offset,
        limit
    )
    .fetch_all(db)
    .await
}

/// The codes of the categories restricted now.
pub async fn restricted_codes(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!("SELECT category_code FROM restricted_categories WHERE restricted")
        .fetch_all(db)
        .await
}

/// One category, locked until the transaction ends.
pub async fn get_for_update(
    db: impl PgExecutor<'_>,
    code: &str,
) -> sqlx::Result<Option<CategoryRow>> {
    categories!(
        "SELECT",
        "FROM restricted_categories WHERE category_code = $1 FOR UPDATE",
        code
    )
    .fetch_optional(db)
    .await
}

/// Creates a category; `None` when it exists already (made concurrently).
pub async fn insert(
    db: impl PgExecutor<'_>,
    c: &CategoryChange<'_>,
) -> sqlx::Result<Option<CategoryRow>> {
    categories!(
        "INSERT INTO restricted_categories (",
        ")
             VALUES ($1, $2, $3, $4, $5, $6, $6)
             ON CONFLICT (category_code) DO NOTHING
             RETURNING category_code, display_name, restricted, reason, update_account_id,
             created_at, updated_at",
        c.code,
        c.display_name,
        c.restricted,
        c.reason,
        c.actor,
        c.at
    )
    .fetch_optional(db)
    .await
}

/// Changes an existing category.
pub async fn update(db: impl PgExecutor<'_>, c: &CategoryChange<'_>) -> sqlx::Result<CategoryRow> {
    categories!(
        "UPDATE restricted_categories SET display_name = $2, restricted = $3, reason = $4,
             update_account_id = $5, updated_at = $6
             WHERE category_code = $1
             RETURNING",
        "",
        c.code,
        c.display_name,
        c.restricted,
        c.reason,
        c.actor,
        c.at
    )
    .fetch_one(db)
    .await
}

/// Records a change: who, when, why, and the values before (none for a new category) and
/// after.
pub async fn record_change(
    db: impl PgExecutor<'_>,
    previous: Option<&CategoryRow>,
    now: &CategoryRow,
    actor: Uuid,
    reason: &str,
    request_id: Uuid,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO restricted_category_changes (change_id, category_code, previous_display_name,
             display_name, previous_restricted, restricted, actor_account_id, reason, request_id,
             changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        Uuid::now_v7(),
        now.category_code,
        previous.map(|p| p.display_name.as_str()),
        now.display_name,
        previous.map(|p| p.restricted),
        now.restricted,
        actor,
        reason,
        request_id,
        now.updated_at
    )
    .execute(db)
    .await
    .map(drop)
}
