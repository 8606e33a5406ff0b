//! The supplier quotas (SetSupplierQuotas, GetSupplierQuotas, and what links take of them):
//! the grants in `supplier_quotas`, each link's use in `quota_uses`, in use while its order
//! is open (credit) or not yet shipped in full (FX). The rules are `domain::quota`.

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::{Currency, FieldViolations, idempotency, time};
use kuajing_proto::identity::v1::AdmissionProgram;
use kuajing_proto::order::v1::{
    GetSupplierQuotasRequest, GetSupplierQuotasResponse, Order, OrderStatus,
    SetSupplierQuotasRequest, SetSupplierQuotasResponse, SupplierQuotas,
};
use kuajing_proto::types::Money;
use kuajing_proto::wallet::v1::ReleaseHoldRequest;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use tonic::Status;
use uuid::Uuid;

use super::pricing::money;
use super::wallet_ops::{self, Kind, Op};
use super::{Ctx, trade_rules};
use crate::domain::quota::{self, Standing, Use};
use crate::store::{self, quotas::NewUse, quotas::UseStates};

/// Reason: the link would take the supplier's pre-received FX past its quota.
pub use kuajing_proto::reasons::order::FX_QUOTA_EXCEEDED;

/// The admission rule whose failure suspends the credit quota.
const POINTS_RULE: &str = "VIOLATION_POINTS_TOO_HIGH";

/// Whether the supplier's violation points reach the Trade Assurance limit (identity
/// holds both the points and the limit).
pub async fn credit_suspended(ctx: &Ctx, supplier: &str) -> Result<bool, Status> {
    let admission = trade_rules::admission(ctx, supplier, AdmissionProgram::TradeAssurance).await?;
    Ok(admission
        .failed_rules
        .iter()
        .any(|r| r.reason == POINTS_RULE))
}

/// The supplier's standing and when an operator last set its quotas.
async fn standing(
    conn: &mut PgConnection,
    supplier: Uuid,
    credit_suspended: bool,
) -> Result<(Standing, Option<DateTime<Utc>>), Status> {
    let grant = store::quotas::grant(&mut *conn, supplier)
        .await
        .map_err(internal)?;
    // Credit is frozen until the order completes or closes; FX is pre-received until the
    // order has shipped in full (an order in after-sales counts while nothing of it has
    // shipped).
    let states = UseStates {
        ended: &[OrderStatus::Completed as i16, OrderStatus::Closed as i16],
        pre_received: &[
            OrderStatus::AwaitingPrepayment as i16,
            OrderStatus::AwaitingBalance as i16,
            OrderStatus::AwaitingShipment as i16,
            OrderStatus::PartiallyShipped as i16,
        ],
        after_sales: OrderStatus::Refunding as i16,
    };
    let used = store::quotas::used(&mut *conn, supplier, &states)
        .await
        .map_err(internal)?;
    let (frozen, fx_used) = (used.frozen, used.fx_used);
    let standing = Standing {
        credit_quota: grant.as_ref().map(|g| g.credit_quota).unwrap_or_default(),
        credit_suspended,
        credit_frozen: frozen,
        fx_quota: grant.as_ref().and_then(|g| g.fx_quota),
        fx_used,
    };
    Ok((standing, grant.map(|g| g.updated_at)))
}

fn usd(amount: Decimal) -> Money {
    money(Currency::USD, amount)
}

fn to_proto(supplier: Uuid, s: &Standing, updated: Option<DateTime<Utc>>) -> SupplierQuotas {
    SupplierQuotas {
        supplier_account_id: supplier.to_string(),
        credit_quota: Some(usd(s.credit_quota)),
        effective_credit_quota: Some(usd(s.effective_credit())),
        credit_quota_frozen: Some(usd(s.credit_frozen)),
        credit_quota_available: Some(usd(s.credit_available())),
        fx_quota: s.fx_quota.map(usd),
        fx_quota_used: Some(usd(s.fx_used)),
        fx_quota_available: s.fx_available().map(usd),
        update_time: updated.map(time::to_proto),
    }
}

/// Serialises what links of one supplier take of its quotas, in their transactions.
async fn lock_supplier(tx: &mut PgConnection, supplier: Uuid) -> Result<(), Status> {
    store::quotas::lock_supplier(tx, &format!("kuajing.order.quotas:{supplier}"))
        .await
        .map_err(internal)?;
    Ok(())
}

/// What the link `operation` (worth `usd` to `order_id`, a guaranteed order when
/// `guaranteed_order`) takes of the supplier's quotas, recorded in the transaction that
/// records the operation. FX_QUOTA_EXCEEDED when the FX quota does not allow it.
#[allow(clippy::too_many_arguments)]
pub async fn take(
    tx: &mut PgConnection,
    ctx: &Ctx,
    supplier: Uuid,
    order_id: Uuid,
    operation: Uuid,
    guaranteed_order: bool,
    usd_value: Decimal,
    credit_suspended: bool,
    now: DateTime<Utc>,
) -> Result<Use, Status> {
    lock_supplier(tx, supplier).await?;
    let (s, _) = standing(tx, supplier, credit_suspended).await?;
    let took = quota::link(&s, guaranteed_order, usd_value).map_err(|e| {
        ctx.refuse(
            FX_QUOTA_EXCEEDED,
            format!(
                "the supplier's pre-received FX quota of USD {} does not allow USD {} more",
                e.quota.normalize(),
                usd_value.normalize()
            ),
            &[
                ("fx_quota", usd(e.quota).amount),
                ("fx_quota_used", usd(e.used).amount),
            ],
        )
    })?;
    let new = NewUse {
        operation_id: operation,
        order_id,
        supplier_account_id: supplier,
        credit_usd: took.credit,
        fx_usd: took.fx,
        guaranteed: took.guaranteed,
        created_at: now,
    };
    store::quotas::insert_use(tx, &new)
        .await
        .map_err(internal)?;
    Ok(took)
}

/// Records the GUARANTEE hold wallet made for a guaranteed link.
pub async fn held(tx: &mut PgConnection, operation: Uuid, hold_id: &str) -> Result<(), Status> {
    let hold = Uuid::try_parse(hold_id).map_err(internal)?;
    store::quotas::set_hold(tx, operation, hold)
        .await
        .map_err(internal)?;
    Ok(())
}

/// Gives back what a link wallet refused had taken.
pub async fn forget(tx: &mut PgConnection, operation: Uuid) -> Result<(), Status> {
    store::quotas::delete_use(tx, operation)
        .await
        .map_err(internal)?;
    Ok(())
}

/// Records, in the caller's transaction, the release of every guarantee hold of the order
/// not yet released (the order completes, or a refund needs the money in the supplier's
/// available balance); returns the wallet operations to send, in order.
pub async fn release_guarantees(
    tx: &mut PgConnection,
    order_id: Uuid,
    why: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, Status> {
    let holds = store::quotas::unreleased_holds(&mut *tx, order_id)
        .await
        .map_err(internal)?;
    let mut ops = Vec::with_capacity(holds.len());
    for (link_operation, hold) in holds {
        let id = Uuid::now_v7();
        let req = ReleaseHoldRequest {
            request_id: id.to_string(),
            hold_id: hold.to_string(),
            reason: why.to_owned(),
        };
        let op = Op::for_order(id, &order_id.to_string(), Kind::Release, &req)?;
        wallet_ops::insert(tx, &op, now).await?;
        store::quotas::set_release(&mut *tx, link_operation, id)
            .await
            .map_err(internal)?;
        ops.push(id);
    }
    Ok(ops)
}

/// Records, in the caller's transaction, the release of the order's guarantee holds when
/// the order has already ended (completed or closed): a hold recorded after the end (a
/// link or a capture that completed late) would otherwise stay held. The outbox's sweeper
/// sends them.
pub async fn release_if_ended(
    tx: &mut PgConnection,
    order: &Order,
    now: DateTime<Utc>,
) -> Result<(), Status> {
    let ended = [OrderStatus::Completed as i32, OrderStatus::Closed as i32];
    if ended.contains(&order.status) {
        let order_id = Uuid::try_parse(&order.order_id).map_err(internal)?;
        release_guarantees(tx, order_id, "the order had ended", now).await?;
    }
    Ok(())
}

/// GetSupplierQuotas.
pub async fn get(
    ctx: &Ctx,
    req: GetSupplierQuotasRequest,
) -> Result<GetSupplierQuotasResponse, Status> {
    let mut v = FieldViolations::new();
    let supplier = v.uuid("supplier_account_id", &req.supplier_account_id);
    v.finish()?;
    let supplier = supplier.expect("validated");
    let suspended = credit_suspended(ctx, &req.supplier_account_id).await?;
    let mut conn = ctx.svc.pool.acquire().await.map_err(internal)?;
    let (s, updated) = standing(&mut conn, supplier, suspended).await?;
    Ok(GetSupplierQuotasResponse {
        quotas: Some(to_proto(supplier, &s, updated)),
    })
}

/// A quota field: USD, zero or more.
fn quota_amount(v: &mut FieldViolations, field: &str, m: Option<&Money>) -> Option<Decimal> {
    let m = v.money(field, m)?;
    if m.currency() != Currency::USD {
        v.add(format!("{field}.currency_code"), "must be USD");
        return None;
    }
    if m.amount().is_sign_negative() {
        v.add(format!("{field}.amount"), "must not be negative");
        return None;
    }
    Some(m.amount())
}

/// SetSupplierQuotas (operators; audited by the platform).
pub async fn set(
    ctx: &Ctx,
    req: SetSupplierQuotasRequest,
) -> Result<SetSupplierQuotasResponse, Status> {
    let mut v = FieldViolations::new();
    let supplier = v.uuid("supplier_account_id", &req.supplier_account_id);
    let credit = quota_amount(&mut v, "credit_quota", req.credit_quota.as_ref());
    let fx = req
        .fx_quota
        .as_ref()
        .map(|m| quota_amount(&mut v, "fx_quota", Some(m)));
    let reason = v.text("reason", req.reason.trim(), 500);
    if reason.is_empty() {
        v.add("reason", "is required");
    }
    idempotency::parse_request_id(&req.request_id)?;
    v.finish()?;
    let (supplier, credit) = (supplier.expect("validated"), credit.expect("validated"));
    let fx = fx.map(|f| f.expect("validated"));
    let suspended = credit_suspended(ctx, &req.supplier_account_id).await?;
    let now = ctx.now();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        "SetSupplierQuotas",
        &req.request_id,
        &req,
        |mut tx| async move {
            store::quotas::set_grant(&mut *tx, supplier, (credit, fx), now)
                .await
                .map_err(internal)?;
            let (s, updated) = standing(&mut tx, supplier, suspended).await?;
            let quotas = Some(to_proto(supplier, &s, updated));
            Ok((SetSupplierQuotasResponse { quotas }, tx))
        },
    )
    .await
}
