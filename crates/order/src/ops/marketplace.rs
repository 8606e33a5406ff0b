//! Marketplace orders (e.g. on 1688): CreateMarketplaceOrder. The buyer's marketplace
//! account must be bound to its verified personal account; the order starts UNPAID in CNY
//! and is paid by PayOrders.

use kuajing_platform::FieldViolations;
use kuajing_platform::error::internal;
use kuajing_platform::{Currency, idempotency, time};
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::identity::v1::identity_service_client::IdentityServiceClient;
use kuajing_proto::identity::v1::{
    AccountRole, GetAccountRequest, GetLinkedAccountRequest, LinkStatus, Marketplace,
    get_linked_account_request,
};
use kuajing_proto::order::v1::{
    ActorType, CreateMarketplaceOrderRequest, CreateMarketplaceOrderResponse, MarketplaceDetails,
    Order, OrderEventType, OrderKind, OrderStatus, TransactionMethod, order,
};
use rust_decimal::Decimal;
use tonic::{Code, Status};
use uuid::Uuid;

use super::events::{self, Event};
use super::fields;
use super::peers::found;
use super::pricing::{self, money};
use super::{Ctx, actor, records, replayed};
use crate::rpc;

/// Reason: the marketplace account is not bound and verified.
pub use kuajing_proto::reasons::order::MARKETPLACE_ACCOUNT_NOT_VERIFIED;
/// Reason: another order mirrors the same marketplace order.
pub use kuajing_proto::reasons::order::ORDER_ALREADY_EXISTS;
/// Reason: the supplier account cannot sell.
pub use kuajing_proto::reasons::order::SUPPLIER_NOT_ACTIVE;

/// A CreateMarketplaceOrder request, checked.
struct Checked {
    buyer: Uuid,
    supplier: Uuid,
    linked: Uuid,
    marketplace: Marketplace,
    lines: Vec<kuajing_proto::order::v1::OrderLine>,
    logistics: Option<kuajing_proto::order::v1::CrossBorderLogistics>,
    goods: Decimal,
    total: Decimal,
}

/// Checks the request's fields (every violation at once), and prices the goods and the
/// freight (CNY).
fn check(ctx: &Ctx, req: &CreateMarketplaceOrderRequest) -> Result<Checked, Status> {
    let cny = Currency::CNY;
    let mut inv = FieldViolations::new();
    let buyer = inv.uuid("buyer_account_id", &req.buyer_account_id);
    let supplier = inv.uuid("supplier_account_id", &req.supplier_account_id);
    let linked = inv.uuid("buyer_linked_account_id", &req.buyer_linked_account_id);
    let marketplace: Option<Marketplace> = inv.enum_value("marketplace_code", req.marketplace_code);
    fields::text(&mut inv, "external_order_id", &req.external_order_id, 0, 64);
    fields::text(
        &mut inv,
        "supplier_member_id",
        &req.supplier_member_id,
        0,
        64,
    );
    match TransactionMethod::try_from(req.transaction_method) {
        Ok(TransactionMethod::Unspecified | TransactionMethod::SecuredTransaction) => {}
        _ => inv.add(
            "transaction_method",
            "only TRANSACTION_METHOD_SECURED_TRANSACTION is offered",
        ),
    }
    if req.lines.is_empty() {
        inv.add("lines", "at least one line is required");
    }
    let mut lines = req.lines.clone();
    let name = |p: &str| p.to_owned();
    let goods = fields::lines(&mut inv, &name, &mut lines, &[], cny, true);
    let mut logistics = req.logistics.clone();
    let freight = match logistics.as_mut() {
        None => {
            inv.add("logistics", "is required");
            Some(Decimal::ZERO)
        }
        Some(l) => check_logistics(&mut inv, l),
    };
    let total = match (goods, freight) {
        (Some(g), Some(f)) => {
            let t = crate::domain::goods::total(g, f, Decimal::ZERO);
            if t.is_none() {
                inv.add("lines", "the order total is too large");
            }
            t.map(|t| (g, t))
        }
        _ => None,
    };
    inv.finish_in(ctx.errors())?;
    let (goods, total) = total.expect("validated");
    Ok(Checked {
        buyer: buyer.expect("validated"),
        supplier: supplier.expect("validated"),
        linked: linked.expect("validated"),
        marketplace: marketplace.expect("validated"),
        lines,
        logistics,
        goods,
        total,
    })
}

/// Checks the logistics option; answers its freight (CNY), written back normalised.
fn check_logistics(
    inv: &mut FieldViolations,
    l: &mut kuajing_proto::order::v1::CrossBorderLogistics,
) -> Option<Decimal> {
    let cny = Currency::CNY;
    fields::text(inv, "logistics.option_code", &l.option_code, 1, 64);
    fields::text(inv, "logistics.provider_name", &l.provider_name, 0, 128);
    fields::text(inv, "logistics.service_name", &l.service_name, 0, 128);
    fields::address(
        inv,
        "logistics.delivery_address",
        l.delivery_address.as_ref(),
    );
    let freight = fields::money_in(
        inv,
        "logistics.freight",
        l.freight.as_ref(),
        cny,
        false,
        false,
    );
    l.freight = Some(money(cny, freight.unwrap_or_default()));
    if l.estimated_transit_days < 0 {
        inv.add("logistics.estimated_transit_days", "must not be negative");
    }
    freight
}

/// The parties, from identity: the buyer's marketplace binding (bound and verified, to
/// this buyer, on this marketplace), the buyer's account, and a supplier that can sell.
async fn parties(ctx: &Ctx, c: &Checked) -> Result<(idp::LinkedAccount, idp::Account), Status> {
    let (buyer, supplier, linked) = (c.buyer, c.supplier, c.linked);
    let link = found(rpc!(
        ctx,
        "identity",
        IdentityServiceClient,
        get_linked_account,
        GetLinkedAccountRequest {
            key: Some(get_linked_account_request::Key::LinkedAccountId(
                linked.to_string()
            )),
        }
    ))?
    .and_then(|r| r.linked_account)
    .ok_or_else(|| ctx.errors().not_found("linked_account", linked.to_string()))?;
    let account = |id: Uuid| async move {
        found(rpc!(
            ctx,
            "identity",
            IdentityServiceClient,
            get_account,
            GetAccountRequest {
                account_id: id.to_string()
            }
        ))?
        .and_then(|r| r.account)
        .ok_or_else(|| ctx.errors().not_found("account", id.to_string()))
    };
    let buyer_account = account(buyer).await?;
    let supplier_account = account(supplier).await?;
    if link.account_id != buyer.to_string() || link.marketplace != c.marketplace as i32 {
        return Err(ctx.errors().precondition(
            MARKETPLACE_ACCOUNT_NOT_VERIFIED,
            format!("linked_accounts/{linked}"),
            "the marketplace account is not bound to this buyer on this marketplace",
        ));
    }
    if link.status != LinkStatus::BoundVerified as i32 {
        return Err(ctx.errors().precondition(
            MARKETPLACE_ACCOUNT_NOT_VERIFIED,
            format!("linked_accounts/{linked}"),
            "the marketplace account must be bound to a real-name verified account",
        ));
    }
    if !supplier_account
        .roles
        .contains(&(AccountRole::Supplier as i32))
    {
        return Err(ctx.refuse(
            SUPPLIER_NOT_ACTIVE,
            "the supplier account cannot sell",
            &[("supplier_account_id", supplier.to_string())],
        ));
    }
    Ok((link, buyer_account))
}

/// CreateMarketplaceOrder.
pub async fn create(
    ctx: &Ctx,
    req: CreateMarketplaceOrderRequest,
    subject: Option<Uuid>,
) -> Result<CreateMarketplaceOrderResponse, Status> {
    const METHOD: &str = "CreateMarketplaceOrder";
    if let Some(r) = replayed(ctx, METHOD, &req.request_id, &req).await? {
        return Ok(r);
    }
    let now = ctx.now();
    let cny = Currency::CNY;
    let checked = check(ctx, &req)?;
    let (link, buyer_account) = parties(ctx, &checked).await?;
    let Checked {
        buyer,
        supplier,
        linked,
        marketplace,
        lines,
        logistics,
        goods,
        total,
    } = checked;

    let expire = ctx
        .settings
        .payment_timeout
        .map(|t| time::to_proto(now + t));
    let mut order = Order {
        order_id: Uuid::now_v7().to_string(),
        kind: OrderKind::Marketplace as i32,
        status: OrderStatus::Unpaid as i32,
        supplier_account_id: supplier.to_string(),
        buyer_account_id: buyer.to_string(),
        currency_code: cny.code().to_owned(),
        lines,
        goods_amount: Some(money(cny, goods)),
        total_amount: Some(money(cny, total)),
        received_amount: Some(money(cny, Decimal::ZERO)),
        refunded_amount: Some(money(cny, Decimal::ZERO)),
        fees: Some(pricing::breakdown(Vec::new(), total, cny)),
        details: Some(order::Details::Marketplace(MarketplaceDetails {
            marketplace_code: marketplace as i32,
            external_order_id: req.external_order_id.clone(),
            buyer_linked_account_id: linked.to_string(),
            buyer_member_id: link.external_member_id.clone(),
            supplier_member_id: req.supplier_member_id.clone(),
            transaction_method: TransactionMethod::SecuredTransaction as i32,
            logistics,
            ..MarketplaceDetails::default()
        })),
        expire_time: expire,
        ..Order::default()
    };
    let region = buyer_account.region_code.clone();
    let request_id = req.request_id.clone();
    let external_order_id = req.external_order_id.clone();
    idempotency::run(
        &ctx.svc.pool,
        ctx.errors(),
        METHOD,
        &req.request_id,
        &req,
        |mut tx| async move {
            if !external_order_id.is_empty() {
                let existing = crate::store::orders::of_marketplace(
                    &mut *tx,
                    marketplace as i16,
                    &external_order_id,
                )
                .await
                .map_err(internal)?;
                if let Some(id) = existing {
                    return Err(ctx.refuse_code(
                        Code::AlreadyExists,
                        ORDER_ALREADY_EXISTS,
                        "another order mirrors this marketplace order",
                        &[("order_id", id.to_string())],
                    ));
                }
            }
            order.order_number = records::next_number(&mut tx, OrderKind::Marketplace).await?;
            records::insert(&mut tx, &mut order, &region, now).await?;
            let event = Event::new(
                OrderEventType::Created,
                actor(ActorType::Buyer, subject, &order.buyer_account_id),
                OrderStatus::Unspecified,
                OrderStatus::Unpaid,
                &request_id,
            );
            events::append(&mut tx, &order, event, now).await?;
            Ok((CreateMarketplaceOrderResponse { order: Some(order) }, tx))
        },
    )
    .await
}
