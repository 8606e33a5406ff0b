//! Restricted goods categories: ListRestrictedCategories and SetRestrictedCategory
//! (operators; every change audited with actor, time, previous and new values, reason).

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::page::{Cursor, Page};
use kuajing_platform::{FieldViolations, idempotency, time};
use kuajing_proto::authorization::v1::{
    ListRestrictedCategoriesRequest, ListRestrictedCategoriesResponse, RestrictedCategory,
    SetRestrictedCategoryRequest, SetRestrictedCategoryResponse,
};
use sqlx::PgConnection;
use tonic::Status;
use uuid::Uuid;

use super::access::{self, Subject};
use super::{Ctx, REASON_MAX, finish};
use crate::domain::category::{self, DISPLAY_NAME_MAX};

/// A category row.
#[derive(Clone, Debug, sqlx::FromRow)]
struct CategoryRow {
    category_code: String,
    display_name: String,
    restricted: bool,
    reason: String,
    update_account_id: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "category_code, display_name, restricted, reason, update_account_id, created_at, updated_at";

impl CategoryRow {
    fn to_proto(&self) -> RestrictedCategory {
        RestrictedCategory {
            category_code: self.category_code.clone(),
            display_name: self.display_name.clone(),
            restricted: self.restricted,
            reason: self.reason.clone(),
            update_account_id: self.update_account_id.clone(),
            create_time: Some(time::to_proto(self.created_at)),
            update_time: Some(time::to_proto(self.updated_at)),
        }
    }
}

/// ListRestrictedCategories: by category_code. The list is small; a page token is the
/// position after the last code returned.
pub async fn list(
    ctx: &Ctx,
    req: ListRestrictedCategoriesRequest,
) -> Result<ListRestrictedCategoriesResponse, Status> {
    let mut v = FieldViolations::new();
    let page = Page::from_proto("page", req.page.as_ref(), &mut v);
    finish(ctx.errors(), v)?;
    let offset = page.after.map_or(0, |c| c.time.timestamp().max(0));
    let sql = format!(
        "SELECT {COLUMNS} FROM restricted_categories WHERE restricted OR $1
         ORDER BY category_code OFFSET $2 LIMIT $3"
    );
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    let rows: Vec<CategoryRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(req.include_unrestricted)
        .bind(offset)
        .bind(page.fetch_limit())
        .fetch_all(&mut *conn)
        .await
        .map_err(internal)?;
    let mut items: Vec<(i64, CategoryRow)> = rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| (offset + i64::try_from(i).unwrap_or(0) + 1, r))
        .collect();
    let page = page.finish(&mut items, |(position, _)| Cursor {
        time: DateTime::from_timestamp(*position, 0).unwrap_or_default(),
        id: Uuid::nil(),
    });
    Ok(ListRestrictedCategoriesResponse {
        restricted_categories: items.iter().map(|(_, r)| r.to_proto()).collect(),
        page: Some(page),
    })
}

async fn find(conn: &mut PgConnection, code: &str) -> Result<Option<CategoryRow>, Status> {
    let sql =
        format!("SELECT {COLUMNS} FROM restricted_categories WHERE category_code = $1 FOR UPDATE");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(code)
        .fetch_optional(conn)
        .await
        .map_err(internal)
}

/// SetRestrictedCategory.
pub async fn set(
    ctx: &Ctx,
    subject: Subject,
    caller_service: String,
    req: SetRestrictedCategoryRequest,
) -> Result<SetRestrictedCategoryResponse, Status> {
    let mut v = FieldViolations::new();
    let request_id = v.uuid("request_id", &req.request_id);
    v.check("category_code", category::validate_code(&req.category_code));
    let display_name = v
        .text("display_name", req.display_name.trim(), DISPLAY_NAME_MAX)
        .to_owned();
    let reason = v.text("reason", req.reason.trim(), REASON_MAX).to_owned();
    if reason.is_empty() {
        v.add("reason", "is required");
    }
    finish(ctx.errors(), v)?;
    let request_id = request_id.ok_or_else(|| internal("validated fields missing"))?;
    let actor = access::require_operator(ctx, &caller_service, subject).await?;
    let now = ctx.now();
    let code = req.category_code.clone();
    let restricted = req.restricted;
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "SetRestrictedCategory",
        &req.request_id,
        &req,
        |mut tx| async move {
            let mut previous = find(&mut tx, &code).await?;
            if previous.is_none() {
                if display_name.is_empty() {
                    let mut v = FieldViolations::new();
                    v.add("display_name", "is required for a new category");
                    finish(ctx.errors(), v)?;
                }
                let sql = format!(
                    "INSERT INTO restricted_categories (category_code, display_name, restricted, reason,
                         update_account_id, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $6)
                     ON CONFLICT (category_code) DO NOTHING RETURNING {COLUMNS}"
                );
                let inserted: Option<CategoryRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(&code)
                    .bind(&display_name)
                    .bind(restricted)
                    .bind(&reason)
                    .bind(actor.to_string())
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(internal)?;
                match inserted {
                    Some(row) => {
                        audit(&mut tx, None, &row, actor, &reason, request_id, now).await?;
                        return Ok((
                            SetRestrictedCategoryResponse {
                                restricted_category: Some(row.to_proto()),
                            },
                            tx,
                        ));
                    }
                    // Created concurrently: change it like an existing one.
                    None => previous = find(&mut tx, &code).await?,
                }
            }
            let previous = previous.ok_or_else(|| internal("category vanished"))?;
            let name = if display_name.is_empty() {
                previous.display_name.clone()
            } else {
                display_name.clone()
            };
            let sql = format!(
                "UPDATE restricted_categories SET display_name = $2, restricted = $3, reason = $4,
                     update_account_id = $5, updated_at = $6
                 WHERE category_code = $1 RETURNING {COLUMNS}"
            );
            let row: CategoryRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(&code)
                .bind(&name)
                .bind(restricted)
                .bind(&reason)
                .bind(actor.to_string())
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(internal)?;
            audit(&mut tx, Some(&previous), &row, actor, &reason, request_id, now).await?;
            Ok((
                SetRestrictedCategoryResponse {
                    restricted_category: Some(row.to_proto()),
                },
                tx,
            ))
        },
    )
    .await
}

async fn audit(
    conn: &mut PgConnection,
    previous: Option<&CategoryRow>,
    now_row: &CategoryRow,
    actor: Uuid,
    reason: &str,
    request_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), Status> {
    sqlx::query(
        "INSERT INTO restricted_category_changes (change_id, category_code, previous_display_name,
             display_name, previous_restricted, restricted, actor_account_id, reason, request_id, changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(Uuid::now_v7())
    .bind(&now_row.category_code)
    .bind(previous.map(|p| p.display_name.clone()))
    .bind(&now_row.display_name)
    .bind(previous.map(|p| p.restricted))
    .bind(now_row.restricted)
    .bind(actor)
    .bind(reason)
    .bind(request_id)
    .bind(at)
    .execute(conn)
    .await
    .map_err(internal)?;
    Ok(())
}
