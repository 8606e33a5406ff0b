//! Reviews: the buyer reviews a COMPLETED marketplace or Trade Assurance order, once, within
//! the configured window after completion. Direct Pay orders have no review.

use kuajing_platform::FieldViolations;
use kuajing_platform::{idempotency, time};
use kuajing_proto::order::v1::{
    ActorType, OrderEventType, OrderKind, Review, SubmitReviewRequest, SubmitReviewResponse,
};
use tonic::{Code, Status};
use uuid::Uuid;

use super::events::{self, Event};
use super::fields;
use super::receipt::facts;
use super::{Ctx, actor, records};
use crate::domain::status::{self, Action};
use crate::ownership::{self, Need, Who};

/// Reason: the order was reviewed already.
pub use kuajing_proto::reasons::order::REVIEW_ALREADY_EXISTS;
/// Reason: Direct Pay orders have no review.
pub use kuajing_proto::reasons::order::REVIEW_NOT_AVAILABLE;
/// Reason: too long after completion.
pub use kuajing_proto::reasons::order::REVIEW_WINDOW_CLOSED;

/// SubmitReview.
pub async fn submit(
    ctx: &Ctx,
    req: SubmitReviewRequest,
    who: Who,
) -> Result<SubmitReviewResponse, Status> {
    const METHOD: &str = "SubmitReview";
    let mut inv = FieldViolations::new();
    let order_id = inv.uuid("order_id", &req.order_id);
    match req.review.as_ref() {
        None => inv.add("review", "is required"),
        Some(r) => {
            if !(1..=5).contains(&r.overall_rating) {
                inv.add("review.overall_rating", "must be 1 to 5");
            }
            for (f, v) in [
                ("review.product_rating", r.product_rating),
                ("review.supplier_service_rating", r.supplier_service_rating),
                ("review.shipping_rating", r.shipping_rating),
            ] {
                if !(0..=5).contains(&v) {
                    inv.add(f, "must be 1 to 5, or 0 when not given");
                }
            }
            fields::text(&mut inv, "review.comment", &r.comment, 0, 2000);
            if r.image_refs.len() > 9 {
                inv.add("review.image_refs", "at most 9 images");
            }
            for (i, f) in r.image_refs.iter().enumerate() {
                fields::text(&mut inv, &format!("review.image_refs[{i}]"), f, 1, 512);
            }
        }
    }
    idempotency::parse_request_id(&req.request_id)?;
    inv.finish_in(ctx.errors())?;
    let order_id = order_id.expect("validated");
    ownership::require_by_id(ctx, who, order_id, |_| Need::Buyer).await?;
    let input = req.review.clone().unwrap_or_default();
    let now = ctx.now();
    let request_id = req.request_id.clone();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        METHOD,
        &req.request_id,
        &req,
        |mut tx| async move {
            let mut o = records::lock(&mut tx, ctx, order_id).await?;
            if o.kind == OrderKind::DirectPay as i32 {
                return Err(ctx.errors().precondition(
                    REVIEW_NOT_AVAILABLE,
                    format!("orders/{order_id}"),
                    "Direct Pay orders have no review",
                ));
            }
            if let Some(r) = &o.review {
                return Err(ctx.refuse_code(
                    Code::AlreadyExists,
                    REVIEW_ALREADY_EXISTS,
                    "the order was reviewed already",
                    &[("review_id", r.review_id.clone())],
                ));
            }
            let from = super::status_of(&o);
            let to = status::next(from, facts(&o), Action::Review)
                .map_err(|i| ctx.illegal(&o.order_id, i))?;
            let completed = o
                .complete_time
                .as_ref()
                .and_then(time::from_proto)
                .unwrap_or(now);
            if now > completed + ctx.settings.review_window {
                return Err(ctx.errors().precondition(
                    REVIEW_WINDOW_CLOSED,
                    format!("orders/{order_id}"),
                    "the review window has closed",
                ));
            }
            let review_id = Uuid::now_v7();
            let reviewer = who
                .subject
                .map(|s| s.to_string())
                .unwrap_or_else(|| o.buyer_account_id.clone());
            let review = Review {
                review_id: review_id.to_string(),
                reviewer_account_id: reviewer,
                create_time: Some(time::to_proto(now)),
                ..input
            };
            o.review = Some(review.clone());
            records::save(&mut tx, &mut o, now).await?;
            let event = Event::new(
                OrderEventType::ReviewSubmitted,
                actor(ActorType::Buyer, who.subject, &o.buyer_account_id),
                from,
                to,
                &request_id,
            )
            .related("review_id", review_id);
            events::append(&mut tx, &o, event, now).await?;
            Ok((
                SubmitReviewResponse {
                    review: Some(review),
                },
                tx,
            ))
        },
    )
    .await
}
