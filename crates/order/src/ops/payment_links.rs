//! Payment links: CreatePaymentLink, OpenPaymentLink and RevokePaymentLink. A link names
//! UNPAID marketplace orders of one buyer; its token opens them without a session. The
//! token is answered once and kept only as its SHA-256, so neither a database dump nor a
//! replayed request reveals it.

use kuajing_platform::FieldViolations;
use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kuajing_platform::error::internal;
use kuajing_platform::{Currency, idempotency, time};
use kuajing_proto::order::v1::{
    CreatePaymentLinkRequest, CreatePaymentLinkResponse, OpenPaymentLinkRequest,
    OpenPaymentLinkResponse, Order, OrderStatus, PaymentLink, PaymentLinkOrder, PaymentLinkState,
    RevokePaymentLinkRequest, RevokePaymentLinkResponse,
};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use tonic::Status;
use uuid::Uuid;

use super::payments::{MIXED_BUYERS, check_payable};
use super::pricing::{amount_of, money};
use super::{Ctx, records, status_of};
use crate::domain::payment_link::{self as rules, MAX_ORDERS, TOKEN_BYTES, TOKEN_PREFIX};
use crate::ownership::{self, Need, Who};

/// Reason: the link is past its expire_time.
pub use kuajing_proto::reasons::order::PAYMENT_LINK_EXPIRED;
/// Reason: no link has this token.
pub use kuajing_proto::reasons::order::PAYMENT_LINK_NOT_FOUND;
/// Reason: the link was revoked.
pub use kuajing_proto::reasons::order::PAYMENT_LINK_REVOKED;

use crate::store::payment_links::LinkRow as Stored;

fn link(row: &Stored, state: PaymentLinkState) -> PaymentLink {
    PaymentLink {
        payment_link_id: row.payment_link_id.to_string(),
        order_ids: row.order_ids.iter().map(Uuid::to_string).collect(),
        buyer_account_id: row.buyer_account_id.to_string(),
        creator_account_id: row
            .creator_account_id
            .map(|c| c.to_string())
            .unwrap_or_default(),
        total_amount: Some(money(Currency::CNY, row.total_amount)),
        state: state as i32,
        create_time: Some(time::to_proto(row.created_at)),
        expire_time: Some(time::to_proto(row.expires_at)),
        revoke_time: row.revoked_at.map(time::to_proto),
    }
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn new_token() -> Result<String, Status> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| internal(format!("no randomness: {e}")))?;
    Ok(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The orders, in `ids`' order, in one read; NOT_FOUND names the first missing one.
async fn orders_of(conn: &mut PgConnection, ctx: &Ctx, ids: &[Uuid]) -> Result<Vec<Order>, Status> {
    let rows = crate::store::orders::docs(conn, ids)
        .await
        .map_err(internal)?;
    let mut by_id: std::collections::HashMap<Uuid, Vec<u8>> = rows.into_iter().collect();
    ids.iter()
        .map(|id| match by_id.remove(id) {
            Some(doc) => records::decode(&doc),
            None => Err(ctx.errors().not_found("order", id.to_string())),
        })
        .collect()
}

/// CreatePaymentLink.
pub async fn create(
    ctx: &Ctx,
    req: CreatePaymentLinkRequest,
    who: Who,
) -> Result<CreatePaymentLinkResponse, Status> {
    const METHOD: &str = "CreatePaymentLink";
    let mut inv = FieldViolations::new();
    let mut ids = Vec::with_capacity(req.order_ids.len());
    for (i, id) in req.order_ids.iter().enumerate() {
        ids.extend(inv.uuid(&format!("order_ids[{i}]"), id));
    }
    if req.order_ids.is_empty() || req.order_ids.len() > MAX_ORDERS {
        inv.add(
            "order_ids",
            format!("1 to {MAX_ORDERS} orders are required"),
        );
    }
    if ids.iter().collect::<HashSet<_>>().len() != ids.len() {
        inv.add("order_ids", "must not repeat an order");
    }
    let requested = req.valid_for.as_ref().map(|d| {
        chrono::Duration::seconds(d.seconds) + chrono::Duration::nanoseconds(i64::from(d.nanos))
    });
    let valid_for = match rules::valid_for(requested) {
        Ok(d) => Some(d),
        Err(why) => {
            inv.add("valid_for", why);
            None
        }
    };
    idempotency::parse_request_id(&req.request_id)?;
    inv.finish_in(ctx.errors())?;
    let valid_for = valid_for.ok_or_else(|| internal("a checked field is missing"))?;

    if let Some(answer) = super::replayed(ctx, METHOD, &req.request_id, &req).await? {
        return Ok(answer);
    }
    // Who may ask is settled outside the transaction (it may ask identity); what may
    // change meanwhile (an order paid or taken by a payment) is checked inside it, so its
    // refusal is recorded under the request id like the rest.
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    let orders = orders_of(&mut conn, ctx, &ids).await?;
    drop(conn);
    ownership::require_each(ctx, who, &orders, Need::Either).await?;
    let now = ctx.now();
    let link_id = Uuid::now_v7();
    let token = new_token()?;
    let token_hash = hash(&token);
    let mut answer = idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        METHOD,
        &req.request_id,
        &req,
        |mut tx| async move {
            let orders = orders_of(&mut tx, ctx, &ids).await?;
            for o in &orders {
                check_payable(ctx, o)?;
            }
            let buyer = orders[0].buyer_account_id.clone();
            if orders.iter().any(|o| o.buyer_account_id != buyer) {
                return Err(ctx.refuse(
                    MIXED_BUYERS,
                    "a payment link's orders belong to one buyer",
                    &[],
                ));
            }
            let row = Stored {
                payment_link_id: link_id,
                order_ids: ids,
                buyer_account_id: Uuid::try_parse(&buyer).map_err(internal)?,
                creator_account_id: who.checked(),
                total_amount: orders
                    .iter()
                    .map(|o| amount_of(o.total_amount.as_ref()))
                    .sum(),
                created_at: now,
                expires_at: now + valid_for,
                revoked_at: None,
            };
            crate::store::payment_links::insert(&mut *tx, &row, &token_hash)
                .await
                .map_err(internal)?;
            // What is recorded for replays: the link without its token.
            let recorded = CreatePaymentLinkResponse {
                payment_link: Some(link(&row, PaymentLinkState::Active)),
                token: String::new(),
            };
            Ok((recorded, tx))
        },
    )
    .await?;
    // The token goes to the request that made the link, and to no replay.
    let created_here = answer
        .payment_link
        .as_ref()
        .is_some_and(|l| l.payment_link_id == link_id.to_string());
    if created_here {
        answer.token = token;
    }
    Ok(answer)
}

/// OpenPaymentLink.
pub async fn open(
    ctx: &Ctx,
    req: OpenPaymentLinkRequest,
) -> Result<OpenPaymentLinkResponse, Status> {
    let mut inv = FieldViolations::new();
    if !rules::well_formed(&req.token) {
        inv.add("token", "is not a payment link token");
    }
    inv.finish_in(ctx.errors())?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    let found = crate::store::payment_links::by_token(&mut *conn, &hash(&req.token))
        .await
        .map_err(internal)?;
    let row = match found {
        Some(r) => r,
        None => {
            return Err(ctx.errors().not_found_because(
                PAYMENT_LINK_NOT_FOUND,
                "payment link",
                "(token)",
            ));
        }
    };
    let orders = orders_of(&mut conn, ctx, &row.order_ids).await?;
    drop(conn);
    let all_unpaid = orders.iter().all(|o| status_of(o) == OrderStatus::Unpaid);
    let state = rules::state(
        row.revoked_at.is_some(),
        row.expires_at,
        ctx.now(),
        all_unpaid,
    );
    let md = [("payment_link_id", row.payment_link_id.to_string())];
    match state {
        PaymentLinkState::Revoked => {
            return Err(ctx.refuse(PAYMENT_LINK_REVOKED, "the payment link was revoked", &md));
        }
        PaymentLinkState::Expired => {
            return Err(ctx.refuse(PAYMENT_LINK_EXPIRED, "the payment link has expired", &md));
        }
        _ => {}
    }
    Ok(OpenPaymentLinkResponse {
        payment_link: Some(link(&row, state)),
        orders: orders
            .into_iter()
            .map(|o| PaymentLinkOrder {
                order_id: o.order_id,
                order_number: o.order_number,
                total_amount: o.total_amount,
                status: o.status,
            })
            .collect(),
    })
}

/// RevokePaymentLink.
pub async fn revoke(
    ctx: &Ctx,
    req: RevokePaymentLinkRequest,
    who: Who,
) -> Result<RevokePaymentLinkResponse, Status> {
    const METHOD: &str = "RevokePaymentLink";
    let mut inv = FieldViolations::new();
    let id = inv.uuid("payment_link_id", &req.payment_link_id);
    idempotency::parse_request_id(&req.request_id)?;
    inv.finish_in(ctx.errors())?;
    let id = id.ok_or_else(|| internal("a checked field is missing"))?;
    let now = ctx.now();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        METHOD,
        &req.request_id,
        &req,
        |mut tx| async move {
            let found = crate::store::payment_links::get_for_update(&mut *tx, id)
                .await
                .map_err(internal)?;
            let mut row = match found {
                Some(r) => r,
                None => return Err(ctx.errors().not_found("payment link", id.to_string())),
            };
            if let Some(person) = who.checked()
                && Some(person) != row.creator_account_id
                && person != row.buyer_account_id
            {
                return Err(ownership::not_owner(ctx, None, Need::Either));
            }
            if row.revoked_at.is_none() {
                crate::store::payment_links::revoke(&mut *tx, id, now)
                    .await
                    .map_err(internal)?;
                row.revoked_at = Some(now);
            }
            let answer = RevokePaymentLinkResponse {
                payment_link: Some(link(&row, PaymentLinkState::Revoked)),
            };
            Ok((answer, tx))
        },
    )
    .await
}
