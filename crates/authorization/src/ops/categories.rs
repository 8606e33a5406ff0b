//! Restricted goods categories: ListRestrictedCategories and SetRestrictedCategory
//! (operators; every change audited with actor, time, previous and new values, reason).

use chrono::DateTime;
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
use crate::store::{self, categories::CategoryChange, categories::CategoryRow};

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
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    let rows = store::categories::list(
        &mut *conn,
        req.include_unrestricted,
        offset,
        page.fetch_limit(),
    )
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
    store::categories::get_for_update(conn, code)
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
                let actor_id = actor.to_string();
                let change = CategoryChange {
                    code: &code,
                    display_name: &display_name,
                    restricted,
                    reason: &reason,
                    actor: &actor_id,
                    at: now,
                };
                let inserted = store::categories::insert(&mut *tx, &change)
                    .await
                    .map_err(internal)?;
                match inserted {
                    Some(row) => {
                        store::categories::record_change(
                            &mut *tx, None, &row, actor, &reason, request_id,
                        )
                        .await
                        .map_err(internal)?;
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
            let actor_id = actor.to_string();
            let change = CategoryChange {
                code: &code,
                display_name: &name,
                restricted,
                reason: &reason,
                actor: &actor_id,
                at: now,
            };
            let row = store::categories::update(&mut *tx, &change)
                .await
                .map_err(internal)?;
            store::categories::record_change(
                &mut *tx,
                Some(&previous),
                &row,
                actor,
                &reason,
                request_id,
            )
            .await
            .map_err(internal)?;
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
