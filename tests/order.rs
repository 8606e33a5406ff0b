//! The order service over gRPC with the real identity, wallet, fx and authorization on a
//! real Postgres: the marketplace purchase journey (order, payment methods, PayOrders with
//! the PIN and an fx conversion, escrow, shipment, receipt, capture, refund, auto-
//! confirmation, review), the cross-border pay tiers from the buyer's history, the Trade
//! Assurance and Direct Pay drafting rules at their boundaries, the Trade Assurance sale
//! (remittance linking, shipping with proof, delivery), modification with its audit, the
//! order list, a failure injected at every saga step, and an order service killed between
//! saga steps and restarted.

use std::time::Duration;

use kuajing_proto::authorization::v1 as authz;
use kuajing_proto::fx::v1::SetRateRequest;
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::order::v1::order_service_client::OrderServiceClient;
use kuajing_proto::order::v1::*;
use kuajing_proto::wallet::v1 as wpb;
use kuajing_testkit::{As, TestPlatform};
use rust_decimal::Decimal;
use sqlx::Connection;
use tonic::{Code, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

use crate::support::*;

async fn get(tp: &TestPlatform, order_id: &str) -> Order {
    tp.order()
        .get_order(GetOrderRequest {
            order_id: order_id.to_owned(),
            order_number: String::new(),
        })
        .await
        .expect("get order")
        .into_inner()
        .order
        .expect("order")
}

fn pay_req(order_ids: &[&str], method: PaymentMethod, fx_source: &str) -> PayOrdersRequest {
    PayOrdersRequest {
        request_id: rid(),
        order_ids: order_ids.iter().map(|s| (*s).to_owned()).collect(),
        payment_method: method as i32,
        wallet_id: String::new(),
        mandate_id: String::new(),
        fx_source_currency_code: fx_source.to_owned(),
        expected_total: None,
        payment_pin: PIN.to_owned(),
    }
}

/// Pays as the buyer of the first order (edge acting for the person who checks out).
async fn pay(tp: &TestPlatform, req: PayOrdersRequest) -> Result<Payment, Status> {
    let buyer = match req.order_ids.first() {
        Some(id) => {
            tp.order()
                .get_order(GetOrderRequest {
                    order_id: id.clone(),
                    order_number: String::new(),
                })
                .await
                .expect("the order to pay")
                .into_inner()
                .order
                .expect("order")
                .buyer_account_id
        }
        None => rid(),
    };
    orders(tp)
        .pay_orders(acting(&buyer, req))
        .await
        .map(|r| r.into_inner().payment.expect("payment"))
}

async fn payment(tp: &TestPlatform, id: &str) -> Payment {
    tp.order()
        .get_payment(GetPaymentRequest {
            payment_id: id.to_owned(),
            ..Default::default()
        })
        .await
        .expect("payment")
        .into_inner()
        .payment
        .expect("payment")
}

async fn holds_of(tp: &TestPlatform, order_id: &str) -> Vec<wpb::Hold> {
    tp.wallet()
        .list_holds(wpb::ListHoldsRequest {
            wallet_id: String::new(),
            order_id: order_id.to_owned(),
            states: vec![],
            page: None,
        })
        .await
        .expect("holds")
        .into_inner()
        .holds
}

async fn decisions_of(tp: &TestPlatform, payment_id: &str) -> Vec<authz::Decision> {
    authz_as(tp, "order")
        .list_decisions(authz::ListDecisionsRequest {
            mandate_id: String::new(),
            payment_id: payment_id.to_owned(),
            outcome: 0,
            time_range: None,
            page: None,
        })
        .await
        .expect("decisions")
        .into_inner()
        .decisions
}

async fn reserved(tp: &TestPlatform, mandate_id: &str) -> (Decimal, Decimal) {
    let l = authz_as(tp, "order")
        .get_limits(authz::GetLimitsRequest {
            mandate_id: mandate_id.to_owned(),
        })
        .await
        .expect("limits")
        .into_inner()
        .limits
        .expect("limits");
    (amount(&l.reserved_amount), amount(&l.confirmed_amount))
}

/// Waits until `check` holds (polling), at most `secs` seconds.
async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn events_of(tp: &TestPlatform, order_id: &str) -> Vec<OrderEvent> {
    tp.order()
        .list_order_events(ListOrderEventsRequest {
            order_id: order_id.to_owned(),
            types: vec![],
            page: None,
        })
        .await
        .expect("events")
        .into_inner()
        .events
}

fn status(o: &Order) -> OrderStatus {
    OrderStatus::try_from(o.status).unwrap()
}

fn ship_all(o: &Order) -> AddShipmentRequest {
    AddShipmentRequest {
        request_id: rid(),
        order_id: o.order_id.clone(),
        shipment: Some(Shipment {
            items: o
                .lines
                .iter()
                .map(|l| ShipmentItem {
                    line_id: l.line_id.clone(),
                    quantity: l.quantity - l.shipped_quantity,
                })
                .collect(),
            shipping_method: ShippingMethod::Express as i32,
            logistics_order_id: "LP00123456".to_owned(),
            // Shipped once the order existed (the service refuses goods shipped before).
            ship_time: o.update_time,
            ..Shipment::default()
        }),
    }
}

/// The supplier's USD trade-collection account (where Trade Assurance buyers remit).
async fn usd_collection(
    w: &mut kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient<
        kuajing_testkit::Channel,
    >,
    s: &Party,
) -> wpb::ReceivingAccount {
    w.create_receiving_account(crate::support::acting(
        &s.account_id,
        wpb::CreateReceivingAccountRequest {
            request_id: rid(),
            wallet_id: s.wallet_id.clone(),
            currency_code: "USD".into(),
            display_name: "USD collection".into(),
            purpose: wpb::ReceivingAccountPurpose::TradeCollection as i32,
        },
    ))
    .await
    .expect("a collection account")
    .into_inner()
    .receiving_account
    .expect("receiving account")
}

/// Sets fresh mid rates (fx refuses rates older than a day: tests that move the clock a
/// month refresh them, as the rate source would).
async fn refresh_rates(tp: &TestPlatform) {
    let mut fx = tp.fx();
    for (base, quote, mid) in [
        ("USD", "CNH", "7.12"),
        ("USD", "CNY", "7.115"),
        ("USD", "EUR", "0.92"),
    ] {
        fx.set_rate(SetRateRequest {
            request_id: rid(),
            base_currency_code: base.into(),
            quote_currency_code: quote.into(),
            mid_rate: mid.into(),
            reason: "daily rates".into(),
        })
        .await
        .expect("rate");
    }
}

// ---------------------------------------------------------------------------------------
// Journey 2: the marketplace purchase
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_marketplace_purchase_journey_runs_end_to_end() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let s = supplier(&tp, &ops, false, true).await;
    let b = onboard(&tp, &ops).await;
    let mandate = active_mandate(&tp, &b).await;
    // The buyer tops up in USD only: paying needs a conversion to CNH.
    top_up(&tp, &b.wallet_id, "USD", "1000.00").await;
    let mut o = orders(&tp);
    let mut ob = orders_for(&tp, &b.account_id);
    let mut os = orders_for(&tp, &s.account_id);

    // Place two orders: CNY 10 x 95 + 5 x 20 + freight 50 = 1,100; and CNY 500.
    let a = create(
        &tp,
        marketplace_order(
            &b,
            &s,
            vec![
                line("USB cable", "electronics.cables", 10, "95.00", "CNY"),
                line("Case", "electronics.cases", 5, "20.00", "CNY"),
            ],
            "50.00",
        ),
    )
    .await;
    assert_eq!(status(&a), OrderStatus::Unpaid);
    assert_eq!(a.order_number.len(), 17);
    assert_eq!(amount(&a.total_amount), dec("1100"));
    assert!(a.expire_time.is_some());
    let bb = create(
        &tp,
        marketplace_order(
            &b,
            &s,
            vec![line("Lamp", "home.lighting", 1, "500.00", "CNY")],
            "0",
        ),
    )
    .await;

    // Which methods can they use? Cross-border pay 0.20 % (first tier), World Pay 0.8 %.
    let methods = ob
        .query_payment_methods(QueryPaymentMethodsRequest {
            order_ids: vec![a.order_id.clone(), bb.order_id.clone()],
        })
        .await?
        .into_inner();
    let first = &methods.orders[0];
    assert_eq!(amount(&first.amount_due), dec("1100"));
    let cbp = first
        .options
        .iter()
        .find(|x| x.payment_method == PaymentMethod::CrossBorderPay as i32)
        .expect("cross-border pay");
    assert!(cbp.available, "{cbp:?}");
    assert_eq!(cbp.fees[0].rate_percent, "0.20");
    assert_eq!(amount(&cbp.fees[0].amount), dec("2.20"));
    let wp = first
        .options
        .iter()
        .find(|x| x.payment_method == PaymentMethod::WorldPay as i32)
        .unwrap();
    assert_eq!(amount(&wp.fees[0].amount), dec("8.80"));
    assert!(
        methods
            .common_methods
            .contains(&(PaymentMethod::CrossBorderPay as i32))
    );
    assert!(
        !methods
            .common_methods
            .contains(&(PaymentMethod::Card as i32))
    );

    // A wrong PIN fails the payment (identity's answer), nothing held.
    let mut wrong = pay_req(
        &[&a.order_id, &bb.order_id],
        PaymentMethod::CrossBorderPay,
        "USD",
    );
    wrong.payment_pin = "000000".to_owned();
    let err = pay(&tp, wrong).await.expect_err("wrong pin");
    refused(&err, Code::PermissionDenied, "PIN_INVALID");
    assert!(metadata(&err, "payment_id").is_some());
    assert_eq!(get(&tp, &a.order_id).await.pending_payment_id, "");
    // The total the buyer saw must still be the total.
    let mut changed = pay_req(
        &[&a.order_id, &bb.order_id],
        PaymentMethod::CrossBorderPay,
        "USD",
    );
    changed.expected_total = m("CNH", "1.00");
    let err = pay(&tp, changed).await.expect_err("changed");
    refused(&err, Code::FailedPrecondition, "PAYMENT_AMOUNT_CHANGED");
    assert_eq!(metadata(&err, "current_total").as_deref(), Some("1603.20"));

    // Pay both in one batch: 1,100 + 2.20 + 500 + 1.00 = 1,603.20 CNH, converted from USD.
    let mut req = pay_req(
        &[&a.order_id, &bb.order_id],
        PaymentMethod::CrossBorderPay,
        "USD",
    );
    req.expected_total = m("CNH", "1603.20");
    let paid = pay(&tp, req.clone()).await?;
    assert_eq!(paid.state, PaymentState::Succeeded as i32, "{paid:?}");
    assert_eq!(paid.settlement_currency_code, "CNH");
    assert_eq!(paid.mandate_id, mandate.mandate_id);
    let conversion = paid.conversion.clone().expect("a conversion");
    assert_eq!(amount(&conversion.buy_amount), dec("1603.20"));
    assert!(!conversion.conversion_id.is_empty());
    assert!(
        paid.steps
            .iter()
            .all(|s| s.state == PaymentStepState::Succeeded as i32),
        "{:?}",
        paid.steps
    );
    // The same request again: the first answer, nothing paid twice.
    let again = pay(&tp, req).await?;
    assert_eq!(again.payment_id, paid.payment_id);
    let (cnh, held) = balance(&tp, &b.wallet_id, "CNH").await;
    assert_eq!((cnh, held), (dec("0"), dec("1603.20")));
    let a1 = get(&tp, &a.order_id).await;
    assert_eq!(status(&a1), OrderStatus::Paid);
    assert_eq!(a1.payment_method, PaymentMethod::CrossBorderPay as i32);
    assert_eq!(amount(&a1.received_amount), dec("1100"));
    assert_eq!(
        amount(&a1.fees.as_ref().unwrap().buyer_fee_total),
        dec("2.20")
    );
    let Some(order::Details::Marketplace(md)) = &a1.details else {
        panic!("marketplace")
    };
    let hold = holds_of(&tp, &a.order_id).await;
    assert_eq!(hold.len(), 1);
    assert_eq!(hold[0].hold_id, md.escrow_hold_id);
    assert_eq!(hold[0].state, wpb::HoldState::Open as i32);
    let (reserved_now, confirmed) = reserved(&tp, &mandate.mandate_id).await;
    assert_eq!(reserved_now, dec("0"));
    assert!(confirmed > dec("0"));

    // A paid order can't be cancelled; a shipped one completes on receipt.
    refused(
        &ob.cancel_order(CancelOrderRequest {
            request_id: rid(),
            order_id: a.order_id.clone(),
            reason_text: String::new(),
        })
        .await
        .expect_err("paid"),
        Code::FailedPrecondition,
        "INVALID_STATE_TRANSITION",
    );
    let shipped = os
        .add_shipment(ship_all(&a1))
        .await?
        .into_inner()
        .order
        .unwrap();
    assert_eq!(status(&shipped), OrderStatus::Shipped);
    assert!(shipped.auto_confirm_time.is_some());
    let done = ob
        .confirm_receipt(ConfirmReceiptRequest {
            request_id: rid(),
            order_id: a.order_id.clone(),
        })
        .await?
        .into_inner()
        .order
        .unwrap();
    assert_eq!(status(&done), OrderStatus::Completed);
    // The escrow went to the supplier, the fee to fee revenue.
    eventually(10, "the capture", || async {
        balance(&tp, &s.wallet_id, "CNH").await.0 == dec("1100")
    })
    .await;
    assert_eq!(
        balance(&tp, &b.wallet_id, "CNH").await,
        (dec("0"), dec("501.00"))
    );
    let kinds: Vec<i32> = events_of(&tp, &a.order_id)
        .await
        .iter()
        .map(|e| e.r#type)
        .collect();
    for k in [
        OrderEventType::Created,
        OrderEventType::PaymentStarted,
        OrderEventType::PaymentSucceeded,
        OrderEventType::ShipmentAdded,
        OrderEventType::ReceiptConfirmed,
        OrderEventType::EscrowCaptured,
    ] {
        assert!(kinds.contains(&(k as i32)), "{k:?} in {kinds:?}");
    }
    // The buyer reviews once.
    let review = SubmitReviewRequest {
        request_id: rid(),
        order_id: a.order_id.clone(),
        review: Some(Review {
            overall_rating: 5,
            comment: "Fast and as described".into(),
            ..Review::default()
        }),
    };
    ob.submit_review(review.clone()).await?;
    let err = ob
        .submit_review(SubmitReviewRequest {
            request_id: rid(),
            ..review
        })
        .await
        .expect_err("twice");
    refused(&err, Code::AlreadyExists, "REVIEW_ALREADY_EXISTS");

    // The other order is refunded in full before shipment: the escrow goes back.
    let refund = ob
        .request_refund(RequestRefundRequest {
            request_id: rid(),
            order_id: bb.order_id.clone(),
            reason: RefundReason::NoLongerNeeded as i32,
            description: "ordered twice".into(),
            evidence_file_refs: vec![],
            amount: m("CNY", "500.00"),
            return_goods: false,
        })
        .await?
        .into_inner();
    assert_eq!(
        status(refund.order.as_ref().unwrap()),
        OrderStatus::Refunding
    );
    let refund_id = refund.refund.unwrap().refund_id;
    let err = os
        .resolve_refund(ResolveRefundRequest {
            request_id: rid(),
            order_id: bb.order_id.clone(),
            refund_id: refund_id.clone(),
            decision: RefundDecision::Approve as i32,
            approved_amount: m("CNY", "100.00"),
            note: String::new(),
        })
        .await
        .expect_err("partial before shipment");
    refused(
        &err,
        Code::FailedPrecondition,
        "PARTIAL_REFUND_BEFORE_SHIPMENT",
    );
    let resolved = os
        .resolve_refund(ResolveRefundRequest {
            request_id: rid(),
            order_id: bb.order_id.clone(),
            refund_id,
            decision: RefundDecision::Approve as i32,
            approved_amount: None,
            note: "refunded".into(),
        })
        .await?
        .into_inner();
    assert_eq!(resolved.refund.unwrap().state, RefundState::Refunded as i32);
    let closed = resolved.order.unwrap();
    assert_eq!(status(&closed), OrderStatus::Closed);
    assert_eq!(closed.close_reason, CloseReason::RefundedInFull as i32);
    assert_eq!(
        balance(&tp, &b.wallet_id, "CNH").await,
        (dec("501.00"), dec("0"))
    );

    // A third order, paid from the CNH the refund gave back, auto-confirms after the
    // configured days: the service clock moves, nobody waits.
    let c = create(
        &tp,
        marketplace_order(
            &b,
            &s,
            vec![line("Mug", "home.kitchen", 3, "100.00", "CNY")],
            "0",
        ),
    )
    .await;
    let paid = pay(
        &tp,
        pay_req(&[&c.order_id], PaymentMethod::CrossBorderPay, ""),
    )
    .await?;
    assert_eq!(paid.state, PaymentState::Succeeded as i32);
    assert_eq!(
        paid.steps
            .iter()
            .find(|s| s.kind == PaymentStepKind::FxConversion as i32)
            .unwrap()
            .state,
        PaymentStepState::Skipped as i32
    );
    let c1 = get(&tp, &c.order_id).await;
    os.add_shipment(ship_all(&c1)).await?;
    tp.clock().advance(Duration::from_secs(10 * 86_400 + 60));
    eventually(15, "the auto-confirmation", || async {
        status(&get(&tp, &c.order_id).await) == OrderStatus::Completed
    })
    .await;
    let auto = events_of(&tp, &c.order_id).await;
    let e = auto
        .iter()
        .find(|e| e.r#type == OrderEventType::ReceiptAutoConfirmed as i32)
        .expect("auto-confirmed");
    assert_eq!(e.actor.as_ref().unwrap().r#type, ActorType::System as i32);
    eventually(10, "the second capture", || async {
        balance(&tp, &s.wallet_id, "CNH").await.0 == dec("1400")
    })
    .await;

    // An unpaid order is cancelled by its buyer, and can no longer be paid.
    let d = create(
        &tp,
        marketplace_order(
            &b,
            &s,
            vec![line("Pen", "office.pens", 1, "10.00", "CNY")],
            "0",
        ),
    )
    .await;
    let cancelled = o
        .cancel_order(acting(
            &b.account_id,
            CancelOrderRequest {
                request_id: rid(),
                order_id: d.order_id.clone(),
                reason_text: "changed my mind".into(),
            },
        ))
        .await?
        .into_inner()
        .order
        .unwrap();
    assert_eq!(cancelled.close_reason, CloseReason::CancelledByBuyer as i32);
    let err = pay(
        &tp,
        pay_req(&[&d.order_id], PaymentMethod::CrossBorderPay, ""),
    )
    .await
    .expect_err("closed");
    refused(&err, Code::FailedPrecondition, "INVALID_STATE_TRANSITION");

    // World Pay: the same saga from the wallet, its own fee (0.8 %: CNY 4.00 on 500).
    refresh_rates(&tp).await; // the clock moved days ahead above
    let (available, held) = balance(&tp, &b.wallet_id, "CNH").await;
    top_up(&tp, &b.wallet_id, "CNH", "504.00").await;
    let w = create(
        &tp,
        marketplace_order(
            &b,
            &s,
            vec![line("Desk", "furniture.desks", 1, "500.00", "CNY")],
            "0",
        ),
    )
    .await;
    let mut by_world_pay = pay_req(&[&w.order_id], PaymentMethod::WorldPay, "");
    by_world_pay.expected_total = m("CNH", "504.00");
    let paid = pay(&tp, by_world_pay).await?;
    assert_eq!(paid.state, PaymentState::Succeeded as i32, "{paid:?}");
    assert_eq!(paid.payment_method, PaymentMethod::WorldPay as i32);
    assert_eq!(amount(&paid.items[0].fee), dec("4.00"));
    let w1 = get(&tp, &w.order_id).await;
    assert_eq!(status(&w1), OrderStatus::Paid);
    assert_eq!(w1.payment_method, PaymentMethod::WorldPay as i32);
    assert_eq!(holds_of(&tp, &w.order_id).await.len(), 1);
    assert_eq!(
        balance(&tp, &b.wallet_id, "CNH").await,
        (available, held + dec("504.00")),
        "the top-up is held in escrow, fee included"
    );
    tp.stop().await
}

/// How far to move the clock from `now` to the 2nd day of the next calendar month in
/// Asia/Shanghai (UTC+8).
fn into_next_month(now: chrono::DateTime<chrono::Utc>) -> Duration {
    use chrono::Datelike;
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let local = now.with_timezone(&shanghai).date_naive();
    let (y, mo) = if local.month() == 12 {
        (local.year() + 1, 1)
    } else {
        (local.year(), local.month() + 1)
    };
    let target = chrono::NaiveDate::from_ymd_opt(y, mo, 2)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap();
    let target = target
        .and_local_timezone(shanghai)
        .unwrap()
        .with_timezone(&chrono::Utc);
    (target - now).to_std().unwrap()
}

#[tokio::test]
async fn the_cross_border_pay_tier_follows_the_buyers_monthly_amount() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let s = supplier(&tp, &ops, false, true).await;
    let b = onboard(&tp, &ops).await;
    active_mandate(&tp, &b).await;
    top_up(&tp, &b.wallet_id, "CNH", "200000.00").await;
    let mut ob = orders_for(&tp, &b.account_id);
    // CNY 150,000 this month: the first tier (no history yet).
    let big = create(
        &tp,
        marketplace_order(
            &b,
            &s,
            vec![line("Container", "industrial.parts", 1, "150000.00", "CNY")],
            "0",
        ),
    )
    .await;
    let paid = pay(
        &tp,
        pay_req(&[&big.order_id], PaymentMethod::CrossBorderPay, ""),
    )
    .await?;
    assert_eq!(amount(&paid.items[0].fee), dec("300.00"));
    // Next calendar month (Shanghai time): last month's 150,000 puts the buyer in the
    // 100K-3M tier, 0.15 %.
    tp.clock().advance(into_next_month(tp.clock().now()));
    refresh_rates(&tp).await;
    let next = create(
        &tp,
        marketplace_order(
            &b,
            &s,
            vec![line("Crate", "industrial.parts", 1, "10000.00", "CNY")],
            "0",
        ),
    )
    .await;
    let methods = ob
        .query_payment_methods(QueryPaymentMethodsRequest {
            order_ids: vec![next.order_id.clone()],
        })
        .await?
        .into_inner();
    let cbp = methods.orders[0]
        .options
        .iter()
        .find(|x| x.payment_method == PaymentMethod::CrossBorderPay as i32)
        .unwrap();
    let fee = &cbp.fees[0];
    let basis = fee.tier_basis.as_ref().expect("tier basis");
    assert_eq!(amount(&basis.last_month_amount), dec("150000"));
    assert!(basis.months_averaged >= 1);
    assert_eq!(amount(&basis.applicable_monthly_amount), dec("150000"));
    assert_eq!(fee.rate_percent, "0.15");
    assert_eq!(amount(&fee.amount), dec("15.00"));
    let paid = pay(
        &tp,
        pay_req(&[&next.order_id], PaymentMethod::CrossBorderPay, ""),
    )
    .await?;
    assert_eq!(paid.state, PaymentState::Succeeded as i32);
    assert_eq!(amount(&paid.items[0].fee), dec("15.00"));
    // The paid order keeps the fee of its payment, tier and basis included.
    let line = get(&tp, &next.order_id).await.fees.unwrap().lines.remove(0);
    assert_eq!(line.rate_percent, "0.15");
    assert_eq!(amount(&line.amount), dec("15.00"));
    assert_eq!(
        amount(&line.tier_basis.unwrap().last_month_amount),
        dec("150000")
    );
    tp.stop().await
}

// ---------------------------------------------------------------------------------------
// Trade Assurance and Direct Pay drafting rules
// ---------------------------------------------------------------------------------------

/// The person the drafts below are for: verified email `buyer@acme.example`, the contact a
/// supplier names (order knows a buyer without an account id by that email).
async fn acme_buyer(tp: &TestPlatform) -> String {
    let mut acme = kuajing::parties::personal(&unique("acme"));
    acme.email = "buyer@acme.example".to_owned();
    tp.reach().register(acme).await.expect("the ACME buyer")
}

fn draft(s: &Party, currency: &str, lines: Vec<OrderLine>) -> DraftTradeAssuranceOrderRequest {
    DraftTradeAssuranceOrderRequest {
        request_id: rid(),
        drafted_by: OrderParty::Supplier as i32,
        supplier_account_id: s.account_id.clone(),
        buyer_account_id: String::new(),
        buyer: Some(BuyerContact {
            email: "buyer@acme.example".to_owned(),
            name: "Jane Doe".to_owned(),
            company_name: "ACME Inc".to_owned(),
            region_code: "US".to_owned(),
            phone: String::new(),
        }),
        salesperson: "Sophia Smith".to_owned(),
        currency_code: currency.to_owned(),
        lines,
        contract: None,
        shipping_terms: Some(ShippingTerms {
            address: Some(address("US")),
            shipping_method: ShippingMethod::Express as i32,
            incoterm: Incoterm::Fob as i32,
            freight: m(currency, "0"),
            insurance: m(currency, "0"),
            ship_by: Some(ShipBy {
                rule: Some(ship_by::Rule::DaysAfterPayment(10)),
            }),
            ship_by_time: None,
        }),
        export_method: ExportMethod::SelfExport as i32,
        payment_terms: Some(PaymentTerms {
            prepayment: m(currency, "750.00"),
            ..PaymentTerms::default()
        }),
        payment_method: PaymentMethod::InternationalWire as i32,
        inspection: None,
        note: String::new(),
    }
}

/// USD 50 x 50 = 2,500, as in the seed's example.
fn seed_lines() -> Vec<OrderLine> {
    vec![line("start order", "", 50, "50.00", "USD")]
}

async fn draft_ta(
    tp: &TestPlatform,
    req: DraftTradeAssuranceOrderRequest,
) -> Result<Order, Status> {
    // Edge acts for whoever drafts it.
    let drafter = if req.drafted_by == OrderParty::Buyer as i32 {
        req.buyer_account_id.clone()
    } else {
        req.supplier_account_id.clone()
    };
    orders(tp)
        .draft_trade_assurance_order(crate::support::acting(&drafter, req))
        .await
        .map(|r| r.into_inner().order.expect("order"))
}

/// A Trade Assurance order of USD 100 (ten gloves at USD 10) paid in full up front, for
/// `buyer` when named.
async fn prepaid_order(tp: &TestPlatform, s: &Party, buyer: Option<&str>) -> Result<Order, Status> {
    let mut d = draft(s, "USD", vec![line("gloves", "", 10, "10.00", "USD")]);
    if let Some(b) = buyer {
        d.buyer_account_id = b.to_owned();
    }
    d.payment_terms = Some(PaymentTerms {
        full_prepayment: true,
        ..PaymentTerms::default()
    });
    draft_ta(tp, d).await
}

/// The request paying `order_id`'s prepayment from the buyer's wallet, in its own currency.
fn pay_prepayment(order_id: &str) -> PayTradeOrderRequest {
    PayTradeOrderRequest {
        request_id: rid(),
        order_id: order_id.to_owned(),
        target: PaymentTarget::Prepayment as i32,
        wallet_id: String::new(),
        fx_source_currency_code: String::new(),
        expected_amount: None,
        payment_pin: PIN.to_owned(),
    }
}

/// A Trade Assurance or Direct Pay order's trade details.
fn trade_of(o: &Order) -> &TradeDetails {
    match &o.details {
        Some(order::Details::Trade(t)) => t,
        _ => panic!("a trade order"),
    }
}

fn fee_line(o: &Order, t: FeeType) -> FeeLine {
    o.fees
        .as_ref()
        .unwrap()
        .lines
        .iter()
        .find(|l| l.r#type == t as i32)
        .cloned()
        .expect("fee line")
}

#[tokio::test]
async fn trade_assurance_drafts_follow_every_rule_at_its_boundary() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let s = supplier(&tp, &ops, false, false).await;

    // The seed's order: USD 2,500, prepayment 750, self-export.
    let o = draft_ta(&tp, draft(&s, "USD", seed_lines())).await?;
    assert_eq!(status(&o), OrderStatus::AwaitingPrepayment);
    assert_eq!(o.kind, OrderKind::TradeAssurance as i32);
    let t = match &o.details {
        Some(order::Details::Trade(t)) => t.clone(),
        _ => panic!("trade"),
    };
    let terms = t.payment_terms.unwrap();
    assert_eq!(
        (amount(&terms.prepayment), amount(&terms.balance)),
        (dec("750"), dec("1750"))
    );
    // Self-export, paid member: 1 % of 2,500 = 25.
    let export = fee_line(&o, FeeType::ExportServiceFee);
    assert_eq!(
        (export.rate_percent.as_str(), amount(&export.amount)),
        ("1.00", dec("25.00"))
    );
    assert_eq!(export.payer, OrderParty::Supplier as i32);

    // Bad input: nothing written, every field named.
    let before = count(&tp, "SELECT count(*) FROM orders.orders").await;
    let mut bad = draft(&s, "EUR", vec![]);
    bad.note = "x".repeat(2001);
    bad.buyer.as_mut().unwrap().email = "buyer@vip.qq.com".into();
    let err = draft_ta(&tp, bad).await.expect_err("bad");
    assert_eq!(err.code(), Code::InvalidArgument);
    let f = fields(&err);
    for field in ["currency_code", "buyer.email", "lines", "note"] {
        assert!(f.contains(&field.to_owned()), "{field} in {f:?}");
    }
    let mut long = draft(&s, "USD", seed_lines());
    long.note = "字".repeat(2001);
    refused(
        &draft_ta(&tp, long).await.expect_err("note"),
        Code::InvalidArgument,
        "NOTE_TOO_LONG",
    );
    let mut mainland = draft(&s, "USD", seed_lines());
    mainland.buyer.as_mut().unwrap().email = "li@163.com".into();
    refused(
        &draft_ta(&tp, mainland).await.expect_err("mainland"),
        Code::InvalidArgument,
        "BUYER_EMAIL_IN_MAINLAND",
    );
    let mut both = draft(&s, "USD", seed_lines());
    both.contract = Some(ContractReference {
        file_ref: "s3://pi/1.pdf".into(),
        contract_number: "PI-1".into(),
        goods_description: "T-shirts".into(),
        goods_amount: m("USD", "100"),
    });
    refused(
        &draft_ta(&tp, both).await.expect_err("both"),
        Code::InvalidArgument,
        "GOODS_AMBIGUOUS",
    );
    // Seed 002: a new seller (no completed order yet) cannot draft from an uploaded file.
    let mut by_contract = draft(&s, "USD", vec![]);
    by_contract.contract = Some(ContractReference {
        file_ref: "s3://pi/1.pdf".into(),
        contract_number: "PI-1".into(),
        goods_description: "T-shirts".into(),
        goods_amount: m("USD", "2500"),
    });
    refused(
        &draft_ta(&tp, by_contract).await.expect_err("a new seller"),
        Code::FailedPrecondition,
        "CONTRACT_NOT_AVAILABLE",
    );
    let mut too_much = draft(&s, "USD", seed_lines());
    too_much.payment_terms = Some(PaymentTerms {
        prepayment: m("USD", "2500.01"),
        ..PaymentTerms::default()
    });
    refused(
        &draft_ta(&tp, too_much).await.expect_err("over"),
        Code::InvalidArgument,
        "PREPAYMENT_EXCEEDS_TOTAL",
    );
    let mut card = draft(&s, "USD", seed_lines());
    card.payment_method = PaymentMethod::TelegraphicTransfer as i32;
    refused(
        &draft_ta(&tp, card).await.expect_err("T/T"),
        Code::InvalidArgument,
        "PAYMENT_METHOD_NOT_ALLOWED",
    );
    assert_eq!(
        count(&tp, "SELECT count(*) FROM orders.orders").await,
        before
    );
    let mut note = draft(&s, "USD", seed_lines());
    note.note = "字".repeat(2000);
    draft_ta(&tp, note).await.expect("2,000 characters fit");

    // Prepayment: USD 0.99 refused, USD 1.00 allowed, 100 % always.
    let mut low = draft(&s, "USD", seed_lines());
    low.payment_terms = Some(PaymentTerms {
        prepayment: m("USD", "0.99"),
        ..PaymentTerms::default()
    });
    let err = draft_ta(&tp, low).await.expect_err("0.99");
    refused(&err, Code::FailedPrecondition, "PREPAYMENT_TOO_LOW");
    assert_eq!(metadata(&err, "minimum").as_deref(), Some("1.00"));
    let mut one = draft(&s, "USD", seed_lines());
    one.payment_terms = Some(PaymentTerms {
        prepayment: m("USD", "1.00"),
        ..PaymentTerms::default()
    });
    draft_ta(&tp, one).await.expect("USD 1.00");
    let mut small = draft(&s, "USD", vec![line("sample", "", 1, "0.50", "USD")]);
    small.payment_terms = Some(PaymentTerms {
        full_prepayment: true,
        ..PaymentTerms::default()
    });
    draft_ta(&tp, small).await.expect("100 % of USD 0.50");
    // A CNY order: the minimum is USD 1 in CNY at fx's mid rate (7.115).
    let mut cny_low = draft(&s, "CNY", vec![line("cups", "", 100, "20.00", "CNY")]);
    cny_low.payment_terms = Some(PaymentTerms {
        prepayment: m("CNY", "7.11"),
        ..PaymentTerms::default()
    });
    cny_low.shipping_terms.as_mut().unwrap().freight = m("CNY", "0");
    cny_low.shipping_terms.as_mut().unwrap().insurance = m("CNY", "0");
    let err = draft_ta(&tp, cny_low)
        .await
        .expect_err("below USD 1 in CNY");
    refused(&err, Code::FailedPrecondition, "PREPAYMENT_TOO_LOW");
    assert_eq!(metadata(&err, "minimum").as_deref(), Some("7.12"));

    // Convenient shipping: up to USD 5,000.00.
    let mut at_limit = draft(&s, "USD", vec![line("bulk", "", 1, "5000.00", "USD")]);
    at_limit.export_method = ExportMethod::ConvenientShipping as i32;
    let ok = draft_ta(&tp, at_limit).await.expect("USD 5,000.00");
    assert_eq!(
        fee_line(&ok, FeeType::ExportServiceFee).export_method,
        ExportMethod::ConvenientShipping as i32
    );
    let mut over = draft(&s, "USD", vec![line("bulk", "", 1, "5000.01", "USD")]);
    over.export_method = ExportMethod::ConvenientShipping as i32;
    let err = draft_ta(&tp, over).await.expect_err("USD 5,000.01");
    refused(
        &err,
        Code::FailedPrecondition,
        "CONVENIENT_SHIPPING_OVER_LIMIT",
    );
    assert_eq!(metadata(&err, "limit").as_deref(), Some("5000.00"));
    assert_eq!(metadata(&err, "usd_equivalent").as_deref(), Some("5000.01"));
    // Freight counts: 4,990 of goods and 10.01 of freight is over too.
    let mut freight = draft(&s, "USD", vec![line("bulk", "", 1, "4990.00", "USD")]);
    freight.export_method = ExportMethod::ConvenientShipping as i32;
    freight.shipping_terms.as_mut().unwrap().freight = m("USD", "10.01");
    refused(
        &draft_ta(&tp, freight).await.expect_err("with freight"),
        Code::FailedPrecondition,
        "CONVENIENT_SHIPPING_OVER_LIMIT",
    );

    // Refused destinations, from the configured list; Myanmar only warns.
    for (region, subdivision) in [
        ("IR", ""),
        ("KP", ""),
        ("SY", ""),
        ("CU", ""),
        ("SD", ""),
        ("EG", ""),
        ("UA", "UA-43"),
    ] {
        let mut r = draft(&s, "USD", seed_lines());
        let a = r.shipping_terms.as_mut().unwrap().address.as_mut().unwrap();
        a.region_code = region.into();
        a.subdivision_code = subdivision.into();
        let err = draft_ta(&tp, r).await.expect_err("refused destination");
        refused(&err, Code::FailedPrecondition, "DESTINATION_REFUSED");
        assert_eq!(metadata(&err, "region_code").as_deref(), Some(region));
    }
    let mut myanmar = draft(&s, "USD", seed_lines());
    myanmar
        .shipping_terms
        .as_mut()
        .unwrap()
        .address
        .as_mut()
        .unwrap()
        .region_code = "MM".into();
    let warned = draft_ta(&tp, myanmar).await?;
    let Some(order::Details::Trade(t)) = &warned.details else {
        panic!("trade")
    };
    assert_eq!(t.warnings[0].code, "DESTINATION_COLLECTION_RISK");

    // The export fee caps: self-export USD 100; agent export RMB 480.
    let big = draft_ta(
        &tp,
        draft(&s, "USD", vec![line("machine", "", 1, "20000.00", "USD")]),
    )
    .await?;
    let fee = fee_line(&big, FeeType::ExportServiceFee);
    assert_eq!(amount(&fee.amount), dec("100.00"));
    assert_eq!(amount(&fee.configured_cap), dec("100"));
    let below_cap = draft_ta(
        &tp,
        draft(&s, "USD", vec![line("machine", "", 1, "9999.00", "USD")]),
    )
    .await?;
    assert_eq!(
        amount(&fee_line(&below_cap, FeeType::ExportServiceFee).amount),
        dec("99.99")
    );
    let mut agent = draft(&s, "CNY", vec![line("machine", "", 1, "50000.00", "CNY")]);
    agent.export_method = ExportMethod::AgentExport as i32;
    agent.payment_terms = Some(PaymentTerms {
        prepayment: m("CNY", "10000.00"),
        ..PaymentTerms::default()
    });
    agent.shipping_terms.as_mut().unwrap().freight = m("CNY", "0");
    agent.shipping_terms.as_mut().unwrap().insurance = m("CNY", "0");
    let agent = draft_ta(&tp, agent).await?;
    let fee = fee_line(&agent, FeeType::ExportServiceFee);
    assert_eq!(
        (fee.rate_percent.as_str(), amount(&fee.amount)),
        ("1.20", dec("480.00"))
    );
    let mut agent_small = draft(&s, "CNY", vec![line("parts", "", 1, "39999.00", "CNY")]);
    agent_small.export_method = ExportMethod::AgentExport as i32;
    agent_small.payment_terms = Some(PaymentTerms {
        full_prepayment: true,
        ..PaymentTerms::default()
    });
    agent_small.shipping_terms.as_mut().unwrap().freight = m("CNY", "0");
    agent_small.shipping_terms.as_mut().unwrap().insurance = m("CNY", "0");
    assert_eq!(
        amount(
            &fee_line(
                &draft_ta(&tp, agent_small).await?,
                FeeType::ExportServiceFee
            )
            .amount
        ),
        dec("479.99")
    );

    // The payment method's limit and fee: Western Union up to USD 2,500 per payment.
    let mut wu = draft(&s, "USD", vec![line("goods", "", 1, "5000.00", "USD")]);
    wu.payment_method = PaymentMethod::WesternUnion as i32;
    wu.payment_terms = Some(PaymentTerms {
        prepayment: m("USD", "2500.01"),
        ..PaymentTerms::default()
    });
    let err = draft_ta(&tp, wu).await.expect_err("over the limit");
    refused(
        &err,
        Code::FailedPrecondition,
        "PAYMENT_METHOD_LIMIT_EXCEEDED",
    );
    assert_eq!(metadata(&err, "limit").as_deref(), Some("2500.00"));
    let mut card = draft(&s, "USD", seed_lines());
    card.payment_method = PaymentMethod::Card as i32;
    let card = draft_ta(&tp, card).await?;
    let channel: Vec<FeeLine> = card
        .fees
        .as_ref()
        .unwrap()
        .lines
        .iter()
        .filter(|l| l.r#type == FeeType::PaymentChannelFee as i32)
        .cloned()
        .collect();
    assert_eq!(channel.len(), 2, "one line per due payment");
    assert_eq!(amount(&channel[0].amount), dec("22.12")); // 2.95 % of 750 = 22.125, half-even
    // The inspection service: from USD 48, billed separately.
    let mut insp = draft(&s, "USD", seed_lines());
    insp.inspection = Some(InspectionService {
        requested: true,
        provider_code: "SGS".into(),
        ..InspectionService::default()
    });
    let insp = draft_ta(&tp, insp).await?;
    assert_eq!(
        amount(&fee_line(&insp, FeeType::InspectionServiceFee).amount),
        dec("48.00")
    );

    // A free member without a verified real name is not admitted.
    let free = supplier(&tp, &ops, true, false).await;
    let err = draft_ta(&tp, draft(&free, "USD", seed_lines()))
        .await
        .expect_err("not admitted");
    refused(&err, Code::FailedPrecondition, "SUPPLIER_NOT_ADMITTED");
    assert!(
        metadata(&err, "reasons")
            .unwrap()
            .contains("REAL_NAME_NOT_VERIFIED")
    );

    // Fee estimates for a draft: the same rules, nothing written.
    let estimate = |goods: &str, export: ExportMethod| EstimateOrderFeesRequest {
        subject: Some(estimate_order_fees_request::Subject::Draft(
            FeeEstimateDraft {
                kind: OrderKind::TradeAssurance as i32,
                supplier_account_id: s.account_id.clone(),
                buyer_account_id: String::new(),
                currency_code: "USD".into(),
                goods_amount: m("USD", goods),
                freight: None,
                insurance: None,
                export_method: export as i32,
                payment_method: PaymentMethod::Card as i32,
                payment_terms: Some(PaymentTerms {
                    full_prepayment: true,
                    ..PaymentTerms::default()
                }),
                inspection: None,
            },
        )),
        payment_method: 0,
        export_method: 0,
    };
    let mut o = orders_for(&tp, &s.account_id);
    let before = count(&tp, "SELECT count(*) FROM orders.orders").await;
    let est = o
        .estimate_order_fees(estimate("20000.00", ExportMethod::SelfExport))
        .await?
        .into_inner();
    assert_eq!(amount(&est.total_usd_equivalent), dec("20000"));
    let fees = est.fees.unwrap();
    assert_eq!(amount(&fees.supplier_fee_total), dec("100"));
    assert_eq!(amount(&fees.buyer_fee_total), dec("590"), "card 2.95 %");
    assert!(!est.payment_methods.is_empty());
    refused(
        &o.estimate_order_fees(estimate("5000.01", ExportMethod::ConvenientShipping))
            .await
            .expect_err("over the limit"),
        Code::FailedPrecondition,
        "CONVENIENT_SHIPPING_OVER_LIMIT",
    );
    assert_eq!(
        count(&tp, "SELECT count(*) FROM orders.orders").await,
        before
    );
    let by_number = o
        .get_order(GetOrderRequest {
            order_id: String::new(),
            order_number: big.order_number.clone(),
        })
        .await?
        .into_inner()
        .order
        .unwrap();
    assert_eq!(by_number.order_id, big.order_id);

    // Direct Pay: T/T or D/P, never convenient shipping, the buyer confirms.
    let dp = |method: PaymentMethod, export: ExportMethod| {
        let d = draft(&s, "USD", seed_lines());
        DraftDirectPayOrderRequest {
            request_id: rid(),
            supplier_account_id: s.account_id.clone(),
            buyer_account_id: String::new(),
            buyer: d.buyer,
            salesperson: d.salesperson,
            currency_code: d.currency_code,
            lines: d.lines,
            contract: None,
            shipping_terms: d.shipping_terms,
            export_method: export as i32,
            payment_terms: d.payment_terms,
            payment_method: method as i32,
            inspection: None,
            note: String::new(),
        }
    };
    let mut o = orders_for(&tp, &s.account_id);
    refused(
        &o.draft_direct_pay_order(dp(
            PaymentMethod::TelegraphicTransfer,
            ExportMethod::ConvenientShipping,
        ))
        .await
        .expect_err("convenient"),
        Code::FailedPrecondition,
        "CONVENIENT_SHIPPING_NOT_ALLOWED",
    );
    refused(
        &o.draft_direct_pay_order(dp(PaymentMethod::Card, ExportMethod::SelfExport))
            .await
            .expect_err("card"),
        Code::InvalidArgument,
        "PAYMENT_METHOD_NOT_ALLOWED",
    );
    let direct = o
        .draft_direct_pay_order(dp(
            PaymentMethod::DocumentsAgainstPayment,
            ExportMethod::SelfExport,
        ))
        .await?
        .into_inner()
        .order
        .unwrap();
    assert_eq!(status(&direct), OrderStatus::AwaitingBuyerConfirmation);
    let err = draft_ta(&tp, draft(&free, "USD", seed_lines()))
        .await
        .expect_err("free");
    assert_eq!(err.code(), Code::FailedPrecondition);
    // The buyer the supplier sent it to confirms (and is recorded as its buyer).
    let acme = acme_buyer(&tp).await;
    let confirmed = o
        .confirm_order(acting(
            &acme,
            ConfirmOrderRequest {
                request_id: rid(),
                order_id: direct.order_id.clone(),
                etag: direct.etag.clone(),
            },
        ))
        .await?
        .into_inner()
        .order
        .unwrap();
    assert_eq!(status(&confirmed), OrderStatus::AwaitingPrepayment);
    // Direct Pay orders have no review, whatever their state.
    let err = o
        .submit_review(acting(
            &acme,
            SubmitReviewRequest {
                request_id: rid(),
                order_id: direct.order_id.clone(),
                review: Some(Review {
                    overall_rating: 4,
                    comment: "quick".into(),
                    ..Review::default()
                }),
            },
        ))
        .await
        .expect_err("no review on Direct Pay");
    refused(&err, Code::FailedPrecondition, "REVIEW_NOT_AVAILABLE");

    // The buyer may decline an order awaiting its confirmation: closed, once.
    let declined = o
        .draft_direct_pay_order(dp(
            PaymentMethod::TelegraphicTransfer,
            ExportMethod::SelfExport,
        ))
        .await?
        .into_inner()
        .order
        .unwrap();
    let reject = RejectOrderRequest {
        request_id: rid(),
        order_id: declined.order_id.clone(),
        reason_text: "bought elsewhere".into(),
    };
    let rejected = o
        .reject_order(acting(&acme, reject.clone()))
        .await?
        .into_inner()
        .order
        .unwrap();
    assert_eq!(status(&rejected), OrderStatus::Closed);
    assert_eq!(rejected.close_reason, CloseReason::RejectedByBuyer as i32);
    let replayed = o
        .reject_order(acting(&acme, reject))
        .await?
        .into_inner()
        .order
        .unwrap();
    assert_eq!(replayed, rejected, "a replay answers the same");
    let rejected_events = events_of(&tp, &declined.order_id)
        .await
        .into_iter()
        .filter(|e| e.r#type == OrderEventType::Rejected as i32)
        .count();
    assert_eq!(rejected_events, 1);
    tp.stop().await
}

// ---------------------------------------------------------------------------------------
// Journey 3: the Trade Assurance sale
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_trade_assurance_sale_links_remittances_ships_with_proof_and_completes()
-> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let s = supplier(&tp, &ops, false, false).await;
    let mut w = tp.wallet();
    let collection = usd_collection(&mut w, &s).await;
    let mut o = orders_for(&tp, &s.account_id);
    let mut ob = orders_for(&tp, &acme_buyer(&tp).await);
    let drafted = draft_ta(&tp, draft(&s, "USD", seed_lines())).await?;
    let Some(order::Details::Trade(t)) = &drafted.details else {
        panic!("trade")
    };
    assert_eq!(
        t.supplier_receiving_account_id,
        collection.receiving_account_id
    );

    // Modifications are audited; the buyer's email never changes.
    let mut change = drafted.clone();
    if let Some(order::Details::Trade(t)) = change.details.as_mut() {
        t.note = "Ship date moves with Chinese public holidays".into();
        t.payment_terms.as_mut().unwrap().prepayment = m("USD", "1000.00");
    }
    let mask = |paths: &[&str]| {
        let mut req = UpdateOrderRequest::default();
        let mut fm = req.update_mask.take().unwrap_or_default();
        fm.paths = paths.iter().map(|p| (*p).to_owned()).collect();
        Some(fm)
    };
    let updated = o
        .update_order(UpdateOrderRequest {
            request_id: rid(),
            order_id: drafted.order_id.clone(),
            order: Some(change.clone()),
            update_mask: mask(&["trade.note", "trade.payment_terms.prepayment"]),
            etag: drafted.etag.clone(),
            reason: "buyer asked".into(),
        })
        .await?
        .into_inner();
    let u = updated.order.unwrap();
    let Some(order::Details::Trade(ut)) = &u.details else {
        panic!("trade")
    };
    assert_eq!(
        amount(&ut.payment_terms.as_ref().unwrap().balance),
        dec("1500")
    );
    let modified = events_of(&tp, &u.order_id)
        .await
        .into_iter()
        .find(|e| e.event_id == updated.event_id)
        .unwrap();
    assert_eq!(modified.r#type, OrderEventType::Modified as i32);
    let paths: Vec<&str> = modified.changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["trade.note", "trade.payment_terms.prepayment"]);
    // Old and new values as proto3 JSON.
    let old = &modified.changes[1].old_value_json;
    assert!(
        old.contains(r#""amount":"750.00""#) && old.contains(r#""currencyCode":"USD""#),
        "{old}"
    );
    assert!(modified.changes[1].new_value_json.contains("1000.00"));
    assert!(
        modified.changes[0]
            .new_value_json
            .contains("public holidays")
    );
    assert!(modified.changes[0].old_value_json.is_empty());
    let err = o
        .update_order(UpdateOrderRequest {
            request_id: rid(),
            order_id: u.order_id.clone(),
            order: Some(change.clone()),
            update_mask: mask(&["trade.buyer.email"]),
            etag: String::new(),
            reason: String::new(),
        })
        .await
        .expect_err("email");
    refused(&err, Code::InvalidArgument, "BUYER_EMAIL_IMMUTABLE");
    let err = o
        .update_order(UpdateOrderRequest {
            request_id: rid(),
            order_id: u.order_id.clone(),
            order: Some(change.clone()),
            update_mask: mask(&["trade.note"]),
            etag: drafted.etag.clone(),
            reason: String::new(),
        })
        .await
        .expect_err("stale etag");
    refused(&err, Code::Aborted, "ETAG_MISMATCH");

    // The buyer remits USD 2,500 to the collection account; the supplier links it.
    w.record_inbound_remittance(remittance(&collection, "2500.00"))
        .await?;
    let r = w
        .list_remittances(wpb::ListRemittancesRequest {
            wallet_id: s.wallet_id.clone(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .remittances
        .remove(0);
    let link = |target: PaymentTarget, value: &str| LinkRemittanceToOrderRequest {
        request_id: rid(),
        order_id: u.order_id.clone(),
        remittance_id: r.remittance_id.clone(),
        target: target as i32,
        amount: m("USD", value),
    };
    refused(
        &o.link_remittance_to_order(link(PaymentTarget::Balance, "100.00"))
            .await
            .expect_err("balance first"),
        Code::FailedPrecondition,
        "INVALID_STATE_TRANSITION",
    );
    let err = o
        .link_remittance_to_order(link(PaymentTarget::Prepayment, "1000.01"))
        .await
        .expect_err("over");
    refused(&err, Code::FailedPrecondition, "LINK_AMOUNT_EXCEEDS_DUE");
    assert_eq!(metadata(&err, "due").as_deref(), Some("1000.00"));
    let part = o
        .link_remittance_to_order(link(PaymentTarget::Prepayment, "400.00"))
        .await?
        .into_inner();
    assert_eq!(
        status(part.order.as_ref().unwrap()),
        OrderStatus::AwaitingPrepayment
    );
    // Money received: the prepayment can no longer change, the order can't be cancelled.
    refused(
        &o.cancel_order(CancelOrderRequest {
            request_id: rid(),
            order_id: u.order_id.clone(),
            reason_text: String::new(),
        })
        .await
        .expect_err("money in"),
        Code::FailedPrecondition,
        "INVALID_STATE_TRANSITION",
    );
    let err = o
        .update_order(UpdateOrderRequest {
            request_id: rid(),
            order_id: u.order_id.clone(),
            order: Some(change.clone()),
            update_mask: mask(&["trade.payment_terms.prepayment"]),
            etag: String::new(),
            reason: String::new(),
        })
        .await
        .expect_err("prepayment after money");
    refused(&err, Code::FailedPrecondition, "FIELD_NOT_MODIFIABLE");
    let prepaid = o
        .link_remittance_to_order(link(PaymentTarget::Prepayment, "600.00"))
        .await?
        .into_inner()
        .order
        .unwrap();
    assert_eq!(status(&prepaid), OrderStatus::AwaitingBalance);
    let Some(order::Details::Trade(pt)) = &prepaid.details else {
        panic!("trade")
    };
    assert!(
        pt.shipping_terms.as_ref().unwrap().ship_by_time.is_some(),
        "10 days after payment starts now"
    );
    let err = o
        .link_remittance_to_order(link(PaymentTarget::Balance, "1500.01"))
        .await
        .expect_err("more than is left");
    refused(&err, Code::FailedPrecondition, "REMITTANCE_NOT_AVAILABLE");
    assert_eq!(metadata(&err, "unallocated").as_deref(), Some("1500.00"));
    // Part of the balance first: 1,500 received of 2,500.
    o.link_remittance_to_order(link(PaymentTarget::Balance, "500.00"))
        .await?;
    // The lines may still change, but never to a total below what was received
    // (24 x 50.00 = 1,200: above the prepayment, below the 1,500 received).
    let mut smaller = change.clone();
    smaller.lines[0].quantity = 24;
    let err = o
        .update_order(UpdateOrderRequest {
            request_id: rid(),
            order_id: u.order_id.clone(),
            order: Some(smaller),
            update_mask: mask(&["lines"]),
            etag: String::new(),
            reason: "fewer".into(),
        })
        .await
        .expect_err("below what was received");
    refused(&err, Code::FailedPrecondition, "TOTAL_BELOW_RECEIVED");
    assert_eq!(metadata(&err, "received").as_deref(), Some("1500.00"));
    // The remittance had 1,000 left: exactly the rest of the balance.
    let paid = o
        .link_remittance_to_order(link(PaymentTarget::Balance, "1000.00"))
        .await?
        .into_inner()
        .order
        .unwrap();
    assert_eq!(status(&paid), OrderStatus::AwaitingShipment);
    assert_eq!(amount(&paid.received_amount), dec("2500"));
    // No credit quota granted: every link to the guaranteed order is kept as guarantee
    // funds until it completes.
    assert_eq!(
        balance(&tp, &s.wallet_id, "USD").await,
        (dec("0"), dec("2500"))
    );
    let Some(order::Details::Trade(pt)) = &paid.details else {
        panic!("trade")
    };
    assert!(
        pt.remittance_allocations
            .iter()
            .all(|a| a.guaranteed && !a.guarantee_hold_id.is_empty())
    );

    // Ship in two batches with proof, deliver, confirm, review.
    let line_id = paid.lines[0].line_id.clone();
    let mut batch = ship_all(&paid);
    batch.shipment.as_mut().unwrap().items[0].quantity = 20;
    batch.shipment.as_mut().unwrap().logistics_order_id = String::new();
    let err = o.add_shipment(batch.clone()).await.expect_err("no proof");
    refused(&err, Code::InvalidArgument, "LOGISTICS_PROOF_REQUIRED");
    let sh = batch.shipment.as_mut().unwrap();
    sh.carrier_name = "DHL".into();
    sh.tracking_number = "JD014600003".into();
    sh.proof_file_refs = vec!["s3://waybills/1.pdf".into()];
    // Goods cannot have shipped before the order existed.
    let mut early = batch.clone();
    early.request_id = rid();
    early.shipment.as_mut().unwrap().ship_time = paid.create_time.map(|t| prost_types::Timestamp {
        seconds: t.seconds - 86_400,
        nanos: 0,
    });
    let err = o.add_shipment(early).await.expect_err("before the order");
    refused(&err, Code::FailedPrecondition, "SHIPMENT_PREDATES_ORDER");
    let first = o.add_shipment(batch).await?.into_inner();
    assert_eq!(
        status(first.order.as_ref().unwrap()),
        OrderStatus::PartiallyShipped
    );
    let mut rest = ship_all(first.order.as_ref().unwrap());
    rest.shipment.as_mut().unwrap().items[0].quantity = 31;
    let err = o.add_shipment(rest.clone()).await.expect_err("too many");
    refused(
        &err,
        Code::InvalidArgument,
        "SHIPMENT_QUANTITY_EXCEEDS_ORDER",
    );
    rest.shipment.as_mut().unwrap().items[0].quantity = 30;
    let second = o.add_shipment(rest).await?.into_inner();
    assert_eq!(status(second.order.as_ref().unwrap()), OrderStatus::Shipped);
    assert_eq!(second.order.as_ref().unwrap().lines[0].shipped_quantity, 50);
    assert_eq!(second.order.as_ref().unwrap().lines[0].line_id, line_id);
    for sh in [first.shipment.unwrap(), second.shipment.unwrap()] {
        o.mark_shipment_delivered(MarkShipmentDeliveredRequest {
            request_id: rid(),
            order_id: u.order_id.clone(),
            shipment_id: sh.shipment_id,
            deliver_time: Some(kuajing_platform::time::to_proto(chrono::Utc::now())),
            proof_file_refs: vec![],
        })
        .await?;
    }
    assert_eq!(
        status(&get(&tp, &u.order_id).await),
        OrderStatus::AwaitingReceipt
    );
    let done = ob
        .confirm_receipt(ConfirmReceiptRequest {
            request_id: rid(),
            order_id: u.order_id.clone(),
        })
        .await?
        .into_inner()
        .order
        .unwrap();
    assert_eq!(status(&done), OrderStatus::Completed);
    // Completion charges the export service fee to the supplier (self-export, a paid
    // member: 1 % of USD 2,500), from the pool the proceeds went to.
    let export_fee = fee_line(&done, FeeType::ExportServiceFee);
    assert_eq!(amount(&export_fee.amount), dec("25.00"));
    // The guarantee funds were released first, then the fee charged from them.
    assert_eq!(
        balance(&tp, &s.wallet_id, "USD").await,
        (dec("2475"), dec("0"))
    );
    let released = events_of(&tp, &u.order_id)
        .await
        .into_iter()
        .filter(|e| e.r#type == OrderEventType::GuaranteeFundsReleased as i32)
        .count();
    assert_eq!(released, 4, "one release per guaranteed link");
    let charged = events_of(&tp, &u.order_id)
        .await
        .into_iter()
        .find(|e| e.r#type == OrderEventType::FeeCharged as i32)
        .expect("a FEE_CHARGED event");
    let entry_id = charged.related_ids["journal_entry_id"].clone();
    assert!(
        !charged.related_ids.contains_key("arrears_added"),
        "covered"
    );
    let entry = w
        .get_journal_entry(wpb::GetJournalEntryRequest {
            journal_entry_id: entry_id,
        })
        .await?
        .into_inner()
        .journal_entry
        .unwrap();
    assert_eq!(entry.r#type, wpb::JournalEntryType::FeeCharge as i32);
    assert_eq!(entry.cause.unwrap().order_id, u.order_id);
    ob.submit_review(SubmitReviewRequest {
        request_id: rid(),
        order_id: u.order_id.clone(),
        review: Some(Review {
            overall_rating: 4,
            ..Review::default()
        }),
    })
    .await?;

    // Refunds of a guaranteed order move money from the supplier's wallet to the buyer's.
    let payer = register(&tp, personal(&unique("tarefund"))).await;
    let payer_wallet = open_wallet(&tp, &payer.account_id).await;
    let mut op = orders_for(&tp, &payer.account_id);
    let refundable = prepaid_order(&tp, &s, Some(&payer.account_id)).await?;
    w.record_inbound_remittance(remittance(&collection, "100.00"))
        .await?;
    let r2 = w
        .list_remittances(wpb::ListRemittancesRequest {
            wallet_id: s.wallet_id.clone(),
            statuses: vec![wpb::RemittanceStatus::Unallocated as i32],
            ..Default::default()
        })
        .await?
        .into_inner()
        .remittances
        .remove(0);
    let linked = o
        .link_remittance_to_order(LinkRemittanceToOrderRequest {
            request_id: rid(),
            order_id: refundable.order_id.clone(),
            remittance_id: r2.remittance_id.clone(),
            target: PaymentTarget::Prepayment as i32,
            amount: m("USD", "100.00"),
        })
        .await?
        .into_inner()
        .order
        .unwrap();
    assert_eq!(
        status(&linked),
        OrderStatus::AwaitingShipment,
        "no balance to wait for"
    );
    let ask = |value: &str| RequestRefundRequest {
        request_id: rid(),
        order_id: refundable.order_id.clone(),
        reason: RefundReason::QuantityShort as i32,
        description: "3 pairs missing".into(),
        evidence_file_refs: vec!["s3://photos/box.jpg".into()],
        amount: m("USD", value),
        return_goods: false,
    };
    let approve = |refund_id: String| ResolveRefundRequest {
        request_id: rid(),
        order_id: refundable.order_id.clone(),
        refund_id,
        decision: RefundDecision::Approve as i32,
        approved_amount: None,
        note: "agreed".into(),
    };
    let asked = op.request_refund(ask("30.00")).await?.into_inner();
    refused(
        &op.request_refund(ask("1.00")).await.expect_err("one open"),
        Code::FailedPrecondition,
        "REFUND_ALREADY_OPEN",
    );
    let part = o
        .resolve_refund(approve(asked.refund.unwrap().refund_id))
        .await?
        .into_inner();
    assert_eq!(
        part.refund.as_ref().unwrap().state,
        RefundState::Refunded as i32
    );
    let back = part.order.unwrap();
    assert_eq!(
        status(&back),
        OrderStatus::AwaitingShipment,
        "a partial refund goes back"
    );
    assert_eq!(amount(&back.refunded_amount), dec("30"));
    assert_eq!(balance(&tp, &payer_wallet, "USD").await.0, dec("30"));
    let err = op
        .request_refund(ask("70.01"))
        .await
        .expect_err("more than is left");
    refused(&err, Code::InvalidArgument, "REFUND_EXCEEDS_PAID");
    assert_eq!(metadata(&err, "refundable").as_deref(), Some("70.00"));
    let rest = op.request_refund(ask("70.00")).await?.into_inner();
    let closed = o
        .resolve_refund(approve(rest.refund.unwrap().refund_id))
        .await?
        .into_inner()
        .order
        .unwrap();
    assert_eq!(closed.close_reason, CloseReason::RefundedInFull as i32);
    assert_eq!(balance(&tp, &payer_wallet, "USD").await.0, dec("100"));
    // Agent-export proceeds leave only by withdrawal: a supplier with nothing else can't
    // pay a refund, and the refund stays open.
    let agent = supplier(&tp, &ops, false, false).await;
    let mut oa = orders_for(&tp, &agent.account_id);
    let agent_collection = usd_collection(&mut w, &agent).await;
    let mut ad = draft(&agent, "USD", vec![line("valves", "", 2, "100.00", "USD")]);
    ad.buyer_account_id = payer.account_id.clone();
    ad.export_method = ExportMethod::AgentExport as i32;
    ad.payment_terms = Some(PaymentTerms {
        full_prepayment: true,
        ..PaymentTerms::default()
    });
    let agent_order = draft_ta(&tp, ad).await?;
    w.record_inbound_remittance(remittance(&agent_collection, "200.00"))
        .await?;
    let ar = w
        .list_remittances(wpb::ListRemittancesRequest {
            wallet_id: agent.wallet_id.clone(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .remittances
        .remove(0);
    oa.link_remittance_to_order(LinkRemittanceToOrderRequest {
        request_id: rid(),
        order_id: agent_order.order_id.clone(),
        remittance_id: ar.remittance_id,
        target: PaymentTarget::Prepayment as i32,
        amount: m("USD", "200.00"),
    })
    .await?;
    let asked = op
        .request_refund(RequestRefundRequest {
            order_id: agent_order.order_id.clone(),
            ..ask("50.00")
        })
        .await?
        .into_inner();
    let refund_id = asked.refund.unwrap().refund_id;
    let err = oa
        .resolve_refund(ResolveRefundRequest {
            order_id: agent_order.order_id.clone(),
            ..approve(refund_id.clone())
        })
        .await
        .expect_err("agent-export money can't pay it");
    refused(&err, Code::FailedPrecondition, "INSUFFICIENT_FUNDS");
    let still = get(&tp, &agent_order.order_id).await;
    assert_eq!(status(&still), OrderStatus::Refunding);
    assert_eq!(still.refunds[0].state, RefundState::Requested as i32);
    assert_eq!(still.refunds[0].refund_id, refund_id);

    // A buyer's draft: the supplier modifies and accepts, the buyer confirms the new terms.
    let buyer = register(&tp, personal(&unique("tabuyer"))).await;
    let mut bd = draft(&s, "USD", seed_lines());
    bd.drafted_by = OrderParty::Buyer as i32;
    bd.buyer_account_id = buyer.account_id.clone();
    bd.buyer.as_mut().unwrap().email = buyer.email.clone();
    bd.salesperson = String::new();
    bd.export_method = 0;
    let buyer_draft = draft_ta(&tp, bd).await?;
    assert_eq!(
        status(&buyer_draft),
        OrderStatus::AwaitingSupplierAcceptance
    );
    let err = o
        .accept_order(AcceptOrderRequest {
            request_id: rid(),
            order_id: buyer_draft.order_id.clone(),
            order: None,
            update_mask: None,
            etag: String::new(),
            reason: String::new(),
        })
        .await
        .expect_err("no export method");
    refused(&err, Code::InvalidArgument, "EXPORT_METHOD_REQUIRED");
    let mut with_export = buyer_draft.clone();
    if let Some(order::Details::Trade(t)) = with_export.details.as_mut() {
        t.export_method = ExportMethod::SelfExport as i32;
    }
    let accepted = o
        .accept_order(AcceptOrderRequest {
            request_id: rid(),
            order_id: buyer_draft.order_id.clone(),
            order: Some(with_export),
            update_mask: mask(&["trade.export_method"]),
            etag: buyer_draft.etag.clone(),
            reason: "we export ourselves".into(),
        })
        .await?
        .into_inner()
        .order
        .unwrap();
    assert_eq!(status(&accepted), OrderStatus::AwaitingBuyerConfirmation);
    let confirmed = o
        .confirm_order(acting(
            &buyer.account_id,
            ConfirmOrderRequest {
                request_id: rid(),
                order_id: accepted.order_id.clone(),
                etag: accepted.etag.clone(),
            },
        ))
        .await?
        .into_inner()
        .order
        .unwrap();
    assert_eq!(status(&confirmed), OrderStatus::AwaitingPrepayment);

    // The supplier's order list: search, filters and the tabs.
    let list = o
        .list_orders(ListOrdersRequest {
            supplier_account_id: s.account_id.clone(),
            filter: Some(OrderFilter {
                query: u.order_number[..10].to_owned(),
                ..OrderFilter::default()
            }),
            ..ListOrdersRequest::default()
        })
        .await?
        .into_inner();
    assert!(list.orders.iter().any(|x| x.order_id == u.order_id));
    let by_product = o
        .list_orders(ListOrdersRequest {
            supplier_account_id: s.account_id.clone(),
            status_group: OrderStatusGroup::ToPay as i32,
            filter: Some(OrderFilter {
                query: "START ORDER".into(),
                currency_codes: vec!["USD".into()],
                ..OrderFilter::default()
            }),
            ..ListOrdersRequest::default()
        })
        .await?
        .into_inner();
    assert_eq!(
        by_product.orders.len(),
        1,
        "the confirmed buyer draft; the sale is completed"
    );
    assert_eq!(by_product.orders[0].order_id, confirmed.order_id);
    let counts = o
        .count_orders_by_status(CountOrdersByStatusRequest {
            supplier_account_id: s.account_id.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let group = |g: OrderStatusGroup| {
        counts
            .group_counts
            .iter()
            .find(|c| c.group == g as i32)
            .unwrap()
            .count
    };
    assert_eq!(group(OrderStatusGroup::CompletedOrClosed), 2);
    assert_eq!(group(OrderStatusGroup::ToPay), 1);
    assert_eq!(counts.total, 3);
    // Newest first, one per page, every order once.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = o
            .list_orders(ListOrdersRequest {
                supplier_account_id: s.account_id.clone(),
                page: Some(kuajing_proto::types::PageRequest {
                    page_size: 1,
                    page_token: token,
                }),
                ..ListOrdersRequest::default()
            })
            .await?
            .into_inner();
        seen.extend(page.orders.into_iter().map(|x| x.order_id));
        token = page.page.unwrap().next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            confirmed.order_id.clone(),
            refundable.order_id.clone(),
            u.order_id.clone()
        ]
    );

    // Search filters: one more draft that differs in every filtered field; each filter
    // finds exactly the orders whose own fields match it.
    let mut other = draft(&s, "USD", vec![line("lamps", "", 3, "100.00", "USD")]);
    other.salesperson = "Li Wei".into();
    other.export_method = ExportMethod::AgentExport as i32;
    other.payment_terms = Some(PaymentTerms {
        full_prepayment: true,
        ..PaymentTerms::default()
    });
    let st = other.shipping_terms.as_mut().unwrap();
    st.address = Some(address("GB"));
    st.shipping_method = ShippingMethod::Sea as i32;
    let other = draft_ta(&tp, other).await?;
    let search = |filter: OrderFilter| {
        let mut o = o.clone();
        let supplier = s.account_id.clone();
        async move {
            let mut ids: Vec<String> = o
                .list_orders(ListOrdersRequest {
                    supplier_account_id: supplier,
                    filter: Some(filter),
                    ..ListOrdersRequest::default()
                })
                .await
                .expect("a search")
                .into_inner()
                .orders
                .into_iter()
                .map(|x| x.order_id)
                .collect();
            ids.sort();
            ids
        }
    };
    let only_other = vec![other.order_id.clone()];
    let filters = [
        OrderFilter {
            salespeople: vec!["Li Wei".into()],
            ..OrderFilter::default()
        },
        OrderFilter {
            destination_region_codes: vec!["GB".into()],
            ..OrderFilter::default()
        },
        OrderFilter {
            shipping_methods: vec![ShippingMethod::Sea as i32],
            ..OrderFilter::default()
        },
        OrderFilter {
            export_methods: vec![ExportMethod::AgentExport as i32],
            ..OrderFilter::default()
        },
        OrderFilter {
            total_amount: Some(AmountRange {
                min: m("USD", "300.00"),
                max: m("USD", "300.00"),
            }),
            ..OrderFilter::default()
        },
        OrderFilter {
            create_time: Some(kuajing_proto::types::TimeRange {
                start_time: other.create_time,
                end_time: None,
            }),
            ..OrderFilter::default()
        },
    ];
    for f in filters {
        assert_eq!(search(f.clone()).await, only_other, "{f:?}");
    }
    // And the complements: the other three orders, each by its own field.
    let mut the_rest = vec![
        u.order_id.clone(),
        refundable.order_id.clone(),
        confirmed.order_id.clone(),
    ];
    the_rest.sort();
    let rest = [
        OrderFilter {
            destination_region_codes: vec!["US".into()],
            ..OrderFilter::default()
        },
        OrderFilter {
            shipping_methods: vec![ShippingMethod::Express as i32],
            ..OrderFilter::default()
        },
        OrderFilter {
            export_methods: vec![ExportMethod::SelfExport as i32],
            ..OrderFilter::default()
        },
        OrderFilter {
            create_time: Some(kuajing_proto::types::TimeRange {
                start_time: None,
                end_time: other.create_time,
            }),
            ..OrderFilter::default()
        },
    ];
    for f in rest {
        assert_eq!(search(f.clone()).await, the_rest, "{f:?}");
    }
    let big = search(OrderFilter {
        total_amount: Some(AmountRange {
            min: m("USD", "2500.00"),
            max: None,
        }),
        ..OrderFilter::default()
    })
    .await;
    let mut big_ones = vec![u.order_id.clone(), confirmed.order_id.clone()];
    big_ones.sort();
    assert_eq!(big, big_ones);

    // With a completed sale behind it, the supplier may draft from an uploaded contract.
    let mut by_contract = draft(&s, "USD", vec![]);
    by_contract.contract = Some(ContractReference {
        file_ref: "s3://pi/7.pdf".into(),
        contract_number: "PI-7".into(),
        goods_description: "Stainless steel thermos, 500 ml".into(),
        goods_amount: m("USD", "2500"),
    });
    let drafted = draft_ta(&tp, by_contract).await?;
    assert!(drafted.lines.is_empty());
    tp.stop().await
}

// ---------------------------------------------------------------------------------------
// The saga under failure
// ---------------------------------------------------------------------------------------

/// Plans a fault for the payment of `request_id` (the test-only hook of ops::faults).
async fn plan_fault(
    tp: &TestPlatform,
    request_id: &str,
    step: PaymentStepKind,
    order_index: Option<i32>,
    point: &str,
    action: &str,
) {
    let mut conn = admin(tp).await;
    sqlx::query(
        "INSERT INTO orders.payment_fault_plans (payment_request_id, step_kind, order_index, point, action)
         VALUES ($1::uuid, $2, $3, $4, $5)",
    )
    .bind(request_id)
    .bind(step as i16)
    .bind(order_index)
    .bind(point)
    .bind(action)
    .execute(&mut conn)
    .await
    .expect("fault plan");
    conn.close().await.ok();
}

/// Every order of a failed payment is UNPAID and free, holds nothing, reserves nothing.
async fn assert_compensated(tp: &TestPlatform, payment_id: &str, order_ids: &[String]) {
    let p = payment(tp, payment_id).await;
    assert_eq!(p.state, PaymentState::Failed as i32, "{p:?}");
    for s in &p.steps {
        let compensable = s.kind == PaymentStepKind::WalletHold as i32
            || s.kind == PaymentStepKind::AuthorizationDecision as i32;
        if compensable {
            assert!(
                [
                    PaymentStepState::Pending,
                    PaymentStepState::Failed,
                    PaymentStepState::Compensated
                ]
                .iter()
                .any(|st| *st as i32 == s.state),
                "step left in between: {s:?}"
            );
        }
    }
    for id in order_ids {
        let o = get(tp, id).await;
        assert_eq!(status(&o), OrderStatus::Unpaid);
        assert_eq!(o.pending_payment_id, "");
        for h in holds_of(tp, id).await {
            assert_ne!(
                h.state,
                wpb::HoldState::Open as i32,
                "hold {} still open",
                h.hold_id
            );
        }
    }
    for d in decisions_of(tp, payment_id).await {
        if let Some(r) = d.reservation {
            assert_eq!(
                r.state,
                authz::ReservationState::Released as i32,
                "reservation {} of a failed payment",
                r.reservation_id
            );
        }
    }
}

/// Every order of a succeeded payment is PAID with an open escrow hold and a confirmed
/// reservation.
async fn assert_finished(tp: &TestPlatform, payment_id: &str, order_ids: &[String]) {
    let p = payment(tp, payment_id).await;
    assert_eq!(p.state, PaymentState::Succeeded as i32, "{p:?}");
    for id in order_ids {
        let o = get(tp, id).await;
        assert_eq!(status(&o), OrderStatus::Paid);
        let open: Vec<_> = holds_of(tp, id)
            .await
            .into_iter()
            .filter(|h| h.state == wpb::HoldState::Open as i32)
            .collect();
        assert_eq!(open.len(), 1, "one escrow hold for {id}");
    }
    let decisions = decisions_of(tp, payment_id).await;
    let confirmed = decisions
        .iter()
        .filter_map(|d| d.reservation.as_ref())
        .filter(|r| r.state == authz::ReservationState::Confirmed as i32)
        .count();
    assert_eq!(confirmed, order_ids.len(), "{decisions:?}");
}

#[tokio::test]
async fn a_failure_at_any_saga_step_leaves_no_money_held_and_no_limit_reserved()
-> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let s = supplier(&tp, &ops, false, true).await;
    let b = onboard(&tp, &ops).await;
    let mandate = active_mandate(&tp, &b).await;
    top_up(&tp, &b.wallet_id, "CNH", "2000.00").await;
    top_up(&tp, &b.wallet_id, "USD", "100000.00").await;
    use PaymentStepKind as K;
    let cases: Vec<(K, Option<i32>, &str)> = vec![
        (K::PinVerification, None, "BEFORE_CALL"),
        (K::PinVerification, None, "AFTER_CALL"),
        (K::AuthorizationDecision, Some(1), "BEFORE_CALL"),
        (K::AuthorizationDecision, Some(1), "AFTER_CALL"),
        (K::AuthorizationDecision, Some(0), "AFTER_STEP"),
        (K::FxConversion, None, "BEFORE_CALL"),
        (K::FxConversion, None, "AFTER_CALL"),
        (K::FxConversion, None, "AFTER_STEP"),
        (K::WalletHold, Some(1), "BEFORE_CALL"),
        (K::WalletHold, Some(1), "AFTER_CALL"),
        (K::WalletHold, Some(0), "AFTER_STEP"),
        (K::MarkOrdersPaid, None, "BEFORE_CALL"),
    ];
    for (step, index, point) in cases {
        // Two orders; for the fx cases more than the wallet's CNH, so a conversion runs.
        let (cnh, _) = balance(&tp, &b.wallet_id, "CNH").await;
        let price = if step == K::FxConversion {
            (cnh + dec("1000")).round_dp(0).to_string()
        } else {
            "100.00".to_owned()
        };
        let one = create(
            &tp,
            marketplace_order(
                &b,
                &s,
                vec![line("Bolt", "industrial.parts", 1, &price, "CNY")],
                "0",
            ),
        )
        .await;
        let two = create(
            &tp,
            marketplace_order(
                &b,
                &s,
                vec![line("Nut", "industrial.parts", 2, "50.00", "CNY")],
                "0",
            ),
        )
        .await;
        let ids = vec![one.order_id.clone(), two.order_id.clone()];
        let req = pay_req(
            &[&one.order_id, &two.order_id],
            PaymentMethod::CrossBorderPay,
            "USD",
        );
        plan_fault(&tp, &req.request_id, step, index, point, "FAIL").await;
        let err = pay(&tp, req).await.expect_err("injected failure");
        refused(&err, Code::Aborted, "FAULT_INJECTED");
        let payment_id = metadata(&err, "payment_id").expect("payment_id");
        assert_compensated(&tp, &payment_id, &ids).await;
        assert_eq!(
            balance(&tp, &b.wallet_id, "CNH").await.1,
            dec("0"),
            "{step:?} {point}: CNH held"
        );
        // A conversion that completed is kept, not reversed (PaymentStepKind FX_CONVERSION):
        // the CNH it bought stays available in the buyer's wallet, the USD sold is gone.
        if step == K::FxConversion && point == "AFTER_STEP" {
            let p = payment(&tp, &payment_id).await;
            let conversion = p.conversion.clone().expect("the conversion made");
            let fx_step = p
                .steps
                .iter()
                .find(|s| s.kind == K::FxConversion as i32)
                .expect("fx step");
            assert_eq!(fx_step.state, PaymentStepState::Succeeded as i32, "{p:?}");
            assert_eq!(
                balance(&tp, &b.wallet_id, "CNH").await.0,
                cnh + amount(&conversion.buy_amount),
                "the bought CNH stays available"
            );
        }
        assert_eq!(
            reserved(&tp, &mandate.mandate_id).await.0,
            dec("0"),
            "{step:?} {point}: limit reserved"
        );
        // The orders are free again: they pay normally now.
        let again = pay(
            &tp,
            pay_req(
                &[&one.order_id, &two.order_id],
                PaymentMethod::CrossBorderPay,
                "USD",
            ),
        )
        .await?;
        assert_finished(&tp, &again.payment_id, &ids).await;
        // Give the escrow back for the next case.
        for id in &ids {
            let r = orders_for(&tp, &b.account_id)
                .request_refund(RequestRefundRequest {
                    request_id: rid(),
                    order_id: id.clone(),
                    reason: RefundReason::NoLongerNeeded as i32,
                    description: String::new(),
                    evidence_file_refs: vec![],
                    amount: get(&tp, id).await.received_amount,
                    return_goods: false,
                })
                .await?
                .into_inner();
            orders_for(&tp, &s.account_id)
                .resolve_refund(ResolveRefundRequest {
                    request_id: rid(),
                    order_id: id.clone(),
                    refund_id: r.refund.unwrap().refund_id,
                    decision: RefundDecision::Approve as i32,
                    approved_amount: None,
                    note: String::new(),
                })
                .await?;
        }
    }

    // Real refusals compensate the same way: a restricted category denies the second order
    // after the first was approved (its reservation is given back) ...
    let one = create(
        &tp,
        marketplace_order(
            &b,
            &s,
            vec![line("Bolt", "industrial.parts", 1, "10.00", "CNY")],
            "0",
        ),
    )
    .await;
    let seeds = create(
        &tp,
        marketplace_order(
            &b,
            &s,
            vec![line(
                "Tomato seeds",
                "plant_seeds.vegetable",
                1,
                "5.00",
                "CNY",
            )],
            "0",
        ),
    )
    .await;
    let err = pay(
        &tp,
        pay_req(
            &[&one.order_id, &seeds.order_id],
            PaymentMethod::CrossBorderPay,
            "",
        ),
    )
    .await
    .expect_err("declined");
    refused(&err, Code::FailedPrecondition, "PAYMENT_DECLINED");
    assert_eq!(
        metadata(&err, "decision_reason").as_deref(),
        Some("CATEGORY_RESTRICTED")
    );
    assert_eq!(
        metadata(&err, "order_id").as_deref(),
        Some(seeds.order_id.as_str())
    );
    assert_compensated(
        &tp,
        &metadata(&err, "payment_id").unwrap(),
        &[one.order_id.clone(), seeds.order_id.clone()],
    )
    .await;
    // ... and a wallet that can't cover the total without a conversion source.
    let (cnh, _) = balance(&tp, &b.wallet_id, "CNH").await;
    let dear = create(
        &tp,
        marketplace_order(
            &b,
            &s,
            vec![line(
                "Press",
                "industrial.parts",
                1,
                &(cnh + dec("1")).to_string(),
                "CNY",
            )],
            "0",
        ),
    )
    .await;
    let err = pay(
        &tp,
        pay_req(
            &[&one.order_id, &dear.order_id],
            PaymentMethod::CrossBorderPay,
            "",
        ),
    )
    .await
    .expect_err("short");
    refused(&err, Code::FailedPrecondition, "INSUFFICIENT_FUNDS");
    assert_eq!(metadata(&err, "currency_code").as_deref(), Some("CNH"));
    assert_compensated(
        &tp,
        &metadata(&err, "payment_id").unwrap(),
        &[one.order_id.clone(), dear.order_id.clone()],
    )
    .await;
    assert_eq!(balance(&tp, &b.wallet_id, "CNH").await.1, dec("0"));
    assert_eq!(reserved(&tp, &mandate.mandate_id).await.0, dec("0"));

    // Bad input writes nothing.
    let before = count(&tp, "SELECT count(*) FROM orders.payments").await;
    let mut bad = pay_req(&[&one.order_id, &one.order_id], PaymentMethod::Card, "");
    bad.payment_pin = "12345".into();
    let err = pay(&tp, bad).await.expect_err("bad");
    assert_eq!(err.code(), Code::InvalidArgument);
    let f = fields(&err);
    for field in ["order_ids[1]", "payment_method", "payment_pin"] {
        assert!(f.contains(&field.to_owned()), "{field} in {f:?}");
    }
    assert_eq!(
        count(&tp, "SELECT count(*) FROM orders.payments").await,
        before
    );
    tp.stop().await
}

/// The PIN is not kept, so a checkout whose PIN identity could not verify (no answer)
/// cannot be resumed: it ends, nothing paid, answered ABORTED / PAYMENT_INTERRUPTED, and
/// the same request replays that answer. It must not say "retry with the same
/// request_id" (a client that did so would wait forever); a new request pays.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_checkout_whose_pin_identity_cannot_verify_ends_and_says_pay_again() -> anyhow::Result<()>
{
    let mut tp = TestPlatform::start_restartable(&["identity"]).await?;
    let ops = operator_account(&tp).await;
    let s = supplier(&tp, &ops, false, true).await;
    let b = onboard(&tp, &ops).await;
    let _mandate = active_mandate(&tp, &b).await;
    top_up(&tp, &b.wallet_id, "CNH", "500.00").await;
    let order = create(
        &tp,
        marketplace_order(
            &b,
            &s,
            vec![line("Bolt", "industrial.parts", 1, "100.00", "CNY")],
            "0",
        ),
    )
    .await;
    tp.kill("identity").await?;
    let req = pay_req(&[&order.order_id], PaymentMethod::CrossBorderPay, "");
    let err = pay(&tp, req.clone()).await.expect_err("identity is gone");
    refused(&err, Code::Aborted, "PAYMENT_INTERRUPTED");
    assert!(err.message().contains("pay again"), "{err:?}");
    assert!(!err.message().contains("same request_id"), "{err:?}");
    tp.restart("identity").await?;
    // The same request: the same answer, nothing held.
    let again = pay(&tp, req).await.expect_err("replayed");
    refused(&again, Code::Aborted, "PAYMENT_INTERRUPTED");
    assert_eq!(
        get(&tp, &order.order_id).await.status,
        OrderStatus::Unpaid as i32
    );
    // A new request pays.
    let paid = pay(
        &tp,
        pay_req(&[&order.order_id], PaymentMethod::CrossBorderPay, ""),
    )
    .await?;
    assert_eq!(paid.state, PaymentState::Succeeded as i32);
    tp.stop().await
}

#[tokio::test]
async fn an_order_service_killed_between_saga_steps_finishes_or_compensates_every_saga()
-> anyhow::Result<()> {
    let mut tp = TestPlatform::start_restartable(&["order"]).await?;
    let ops = operator_account(&tp).await;
    let s = supplier(&tp, &ops, false, true).await;
    let b = onboard(&tp, &ops).await;
    let mandate = active_mandate(&tp, &b).await;
    top_up(&tp, &b.wallet_id, "CNH", "5000.00").await;
    use PaymentStepKind as K;
    // Where the service dies: before a call, after a call whose answer it never recorded,
    // after a recorded step; before and after the point of no return.
    let cases: Vec<(K, Option<i32>, &str)> = vec![
        (K::PinVerification, None, "AFTER_CALL"),
        (K::AuthorizationDecision, Some(0), "AFTER_CALL"),
        (K::AuthorizationDecision, Some(1), "AFTER_STEP"),
        (K::FxConversion, None, "BEFORE_CALL"),
        (K::WalletHold, Some(0), "BEFORE_CALL"),
        (K::WalletHold, Some(1), "AFTER_CALL"),
        (K::WalletHold, Some(1), "AFTER_STEP"),
        (K::MarkOrdersPaid, None, "AFTER_STEP"),
        (K::ConfirmReservation, Some(0), "BEFORE_CALL"),
        (K::ConfirmReservation, Some(1), "AFTER_CALL"),
    ];
    let mut sagas = Vec::new();
    let mut calls = Vec::new();
    for (step, index, point) in &cases {
        let one = create(
            &tp,
            marketplace_order(
                &b,
                &s,
                vec![line("Bolt", "industrial.parts", 1, "100.00", "CNY")],
                "0",
            ),
        )
        .await;
        let two = create(
            &tp,
            marketplace_order(
                &b,
                &s,
                vec![line("Nut", "industrial.parts", 2, "50.00", "CNY")],
                "0",
            ),
        )
        .await;
        // The conversion step runs only for a payment that names a currency to convert
        // from (without one it is planned SKIPPED); the wallet has enough CNH regardless.
        let source = if *step == K::FxConversion { "USD" } else { "" };
        let req = pay_req(
            &[&one.order_id, &two.order_id],
            PaymentMethod::CrossBorderPay,
            source,
        );
        plan_fault(&tp, &req.request_id, *step, *index, point, "HALT").await;
        sagas.push((req.request_id.clone(), vec![one.order_id, two.order_id]));
        let mut client = orders_for(&tp, &b.account_id);
        let mut call = tonic::Request::new(req);
        call.set_timeout(Duration::from_secs(3));
        calls.push(tokio::spawn(async move { client.pay_orders(call).await }));
    }
    // Every saga reaches the point where it stops.
    eventually(60, "every saga to reach its halt", || async {
        count(
            &tp,
            "SELECT count(*) FROM orders.payment_fault_plans WHERE consumed_at IS NULL",
        )
        .await
            == 0
    })
    .await;
    for call in calls {
        // Answered IN_PROGRESS within the deadline, or cut off: either way nothing final.
        if let Ok(Ok(r)) = call.await {
            let p = r.into_inner().payment.unwrap();
            assert_ne!(p.state, PaymentState::Succeeded as i32);
            assert_ne!(p.state, PaymentState::Failed as i32);
        }
    }

    // Kill the order service mid-saga, start it again, let the leases lapse.
    tp.kill("order").await?;
    tp.restart("order").await?;
    tp.clock().advance(Duration::from_secs(20));

    let mut payments = Vec::new();
    {
        let mut conn = admin(&tp).await;
        for (request_id, ids) in &sagas {
            let id: Uuid = sqlx::query_scalar(
                "SELECT payment_id FROM orders.payments WHERE request_id = $1::uuid",
            )
            .bind(request_id)
            .fetch_one(&mut conn)
            .await?;
            payments.push((id.to_string(), ids.clone()));
        }
        conn.close().await.ok();
    }
    eventually(90, "every saga to finish or be compensated", || async {
        let mut all = true;
        for (id, _) in &payments {
            let p = payment(&tp, id).await;
            all &=
                p.state == PaymentState::Succeeded as i32 || p.state == PaymentState::Failed as i32;
        }
        all
    })
    .await;
    let mut held = Decimal::ZERO;
    let mut outcomes = Vec::new();
    for ((id, ids), case) in payments.iter().zip(&cases) {
        let p = payment(&tp, id).await;
        if p.state == PaymentState::Succeeded as i32 {
            assert_finished(&tp, id, ids).await;
            held += amount(&p.total_amount);
        } else {
            assert_compensated(&tp, id, ids).await;
        }
        outcomes.push((case.0, case.2, PaymentState::try_from(p.state).unwrap()));
    }
    // Past the point of no return a saga can only finish.
    for (step, point, state) in &outcomes {
        if *step == K::MarkOrdersPaid || *step == K::ConfirmReservation {
            assert_eq!(*state, PaymentState::Succeeded, "{step:?} {point}");
        }
    }
    // The PIN can't be asked again: that saga was compensated.
    assert_eq!(outcomes[0].2, PaymentState::Failed);
    assert_eq!(
        balance(&tp, &b.wallet_id, "CNH").await.1,
        held,
        "held = the succeeded payments"
    );
    assert_eq!(
        reserved(&tp, &mandate.mandate_id).await.0,
        dec("0"),
        "no reservation left RESERVED"
    );

    // The restarted service pays as before.
    let one = create(
        &tp,
        marketplace_order(
            &b,
            &s,
            vec![line("Washer", "industrial.parts", 1, "10.00", "CNY")],
            "0",
        ),
    )
    .await;
    let p = pay(
        &tp,
        pay_req(&[&one.order_id], PaymentMethod::CrossBorderPay, ""),
    )
    .await?;
    assert_eq!(p.state, PaymentState::Succeeded as i32);
    tp.stop().await
}

// ---------------------------------------------------------------------------------------
// State machine and input over gRPC
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn illegal_transitions_and_bad_input_are_refused_without_writing() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let s = supplier(&tp, &ops, false, true).await;
    let b = onboard(&tp, &ops).await;
    let mut o = orders(&tp);
    let mut ob = orders_for(&tp, &b.account_id);
    let mut os = orders_for(&tp, &s.account_id);
    let before = count(&tp, "SELECT count(*) FROM orders.orders").await;
    let mut bad = marketplace_order(&b, &s, vec![line("", "", 0, "-1", "USD")], "0");
    bad.buyer_account_id = "nope".into();
    let err = o
        .create_marketplace_order(crate::support::acting(&b.account_id, bad))
        .await
        .expect_err("bad");
    assert_eq!(err.code(), Code::InvalidArgument);
    let f = fields(&err);
    for field in [
        "buyer_account_id",
        "lines[0].product_name",
        "lines[0].category_code",
        "lines[0].quantity",
    ] {
        assert!(f.contains(&field.to_owned()), "{field} in {f:?}");
    }
    assert_eq!(
        count(&tp, "SELECT count(*) FROM orders.orders").await,
        before
    );

    let order = create(
        &tp,
        marketplace_order(
            &b,
            &s,
            vec![line("Cup", "home.kitchen", 1, "10.00", "CNY")],
            "0",
        ),
    )
    .await;
    let err = ob
        .confirm_receipt(ConfirmReceiptRequest {
            request_id: rid(),
            order_id: order.order_id.clone(),
        })
        .await
        .expect_err("unpaid");
    refused(&err, Code::FailedPrecondition, "INVALID_STATE_TRANSITION");
    let pf = err
        .get_details_precondition_failure()
        .expect("precondition failure");
    assert_eq!(pf.violations[0].r#type, "ORDER_STATUS");
    assert_eq!(
        pf.violations[0].subject,
        format!("orders/{}", order.order_id)
    );
    assert_eq!(
        metadata(&err, "status").as_deref(),
        Some("ORDER_STATUS_UNPAID")
    );
    refused(
        &os.add_shipment(ship_all(&order)).await.expect_err("unpaid"),
        Code::FailedPrecondition,
        "INVALID_STATE_TRANSITION",
    );
    refused(
        &ob.request_refund(RequestRefundRequest {
            request_id: rid(),
            order_id: order.order_id.clone(),
            reason: RefundReason::Other as i32,
            description: String::new(),
            evidence_file_refs: vec![],
            amount: m("CNY", "1.00"),
            return_goods: false,
        })
        .await
        .expect_err("unpaid"),
        Code::FailedPrecondition,
        "INVALID_STATE_TRANSITION",
    );
    // Idempotency: the same request id with another body is refused.
    let mut req = marketplace_order(
        &b,
        &s,
        vec![line("Cup", "home.kitchen", 1, "10.00", "CNY")],
        "0",
    );
    let first = ob
        .create_marketplace_order(req.clone())
        .await?
        .into_inner()
        .order
        .unwrap();
    let again = ob
        .create_marketplace_order(req.clone())
        .await?
        .into_inner()
        .order
        .unwrap();
    assert_eq!(first.order_id, again.order_id);
    req.supplier_member_id = "someone else".into();
    refused(
        &ob.create_marketplace_order(req).await.expect_err("reused"),
        Code::AlreadyExists,
        "IDEMPOTENCY_KEY_REUSED",
    );
    // An unpaid order closes at its payment deadline.
    tp.clock().advance(Duration::from_secs(73 * 3600));
    eventually(15, "the payment timeout", || async {
        status(&get(&tp, &order.order_id).await) == OrderStatus::Closed
    })
    .await;
    assert_eq!(
        get(&tp, &order.order_id).await.close_reason,
        CloseReason::PaymentTimeout as i32
    );
    tp.stop().await
}

#[tokio::test]
async fn payment_methods_say_why_an_order_cannot_use_them() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    // A paid member that is not a TrustPass member, a buyer without a mandate, and goods
    // of a restricted category.
    let s = supplier(&tp, &ops, false, false).await;
    let b = onboard(&tp, &ops).await;
    let o = create(
        &tp,
        marketplace_order(
            &b,
            &s,
            vec![line(
                "Tomato seeds",
                "plant_seeds.vegetable",
                10,
                "3.00",
                "CNY",
            )],
            "0",
        ),
    )
    .await;
    let answer = orders_for(&tp, &b.account_id)
        .query_payment_methods(QueryPaymentMethodsRequest {
            order_ids: vec![o.order_id.clone()],
        })
        .await?
        .into_inner();
    let options = &answer.orders[0].options;
    let of = |m: PaymentMethod| {
        options
            .iter()
            .find(|x| x.payment_method == m as i32)
            .unwrap()
            .clone()
    };
    let cbp = of(PaymentMethod::CrossBorderPay);
    assert!(!cbp.available);
    use PaymentMethodUnavailableReason as Why;
    for why in [
        Why::SupplierNotEnabled,
        Why::NoActiveMandate,
        Why::CategoryRestricted,
    ] {
        assert!(
            cbp.unavailable_reasons.contains(&(why as i32)),
            "{why:?} in {cbp:?}"
        );
    }
    assert!(
        cbp.unavailable_detail
            .contains("您还不是诚信通商家,暂时无法开通跨境宝."),
        "{}",
        cbp.unavailable_detail
    );
    assert_eq!(
        cbp.schedule.as_ref().unwrap().tiers.len(),
        6,
        "the tiers are data"
    );
    // The marketplace's own methods are listed for information; Alipay only in its regions.
    let card = of(PaymentMethod::Card);
    assert!(card.available);
    assert_eq!(card.settlement, PaymentSettlement::External as i32);
    assert_eq!(card.fees[0].rate_percent, "1.00");
    let alipay = of(PaymentMethod::Alipay);
    assert_eq!(
        alipay.unavailable_reasons,
        vec![Why::RegionNotSupported as i32]
    );
    assert!(
        answer.common_methods.is_empty(),
        "nothing to pay from the wallet"
    );
    // Available methods come first.
    assert!(options[0].available);
    // PayOrders checks again: the decision denies it.
    let mandate = active_mandate(&tp, &b).await;
    top_up(&tp, &b.wallet_id, "CNH", "100.00").await;
    let err = pay(
        &tp,
        pay_req(&[&o.order_id], PaymentMethod::CrossBorderPay, ""),
    )
    .await
    .expect_err("declined");
    refused(&err, Code::FailedPrecondition, "PAYMENT_DECLINED");
    assert_eq!(
        metadata(&err, "decision_reason").as_deref(),
        Some("SUPPLIER_NOT_ENABLED")
    );
    assert_eq!(reserved(&tp, &mandate.mandate_id).await.0, dec("0"));
    // An order with nothing due is named.
    let err = orders_for(&tp, &b.account_id)
        .query_payment_methods(QueryPaymentMethodsRequest {
            order_ids: vec![o.order_id.clone(), o.order_id.clone()],
        })
        .await
        .expect_err("duplicates");
    assert_eq!(err.code(), Code::InvalidArgument);
    tp.stop().await
}

// ---------------------------------------------------------------------------------------
// Ownership: edge acting for a person reaches only what that person is a party of
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn edge_acting_for_a_person_reaches_only_the_orders_it_is_a_party_of() -> anyhow::Result<()> {
    /// A request edge makes for `account` (`kj-subject`).
    fn as_person<T>(account: &str, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        kuajing_platform::service::for_subject(
            &mut request,
            Uuid::parse_str(account).expect("an account id"),
        );
        request
    }
    /// Asserts PERMISSION_DENIED / NOT_OWNER in the order domain, naming the party required.
    #[track_caller]
    fn not_owner(s: &Status, party: &str) {
        refused(s, Code::PermissionDenied, "NOT_OWNER");
        let info = s.get_details_error_info().expect("error info");
        assert_eq!(info.domain, "order.kuajing", "{s:?}");
        assert_eq!(
            info.metadata.get("required_party").map(String::as_str),
            Some(party),
            "{s:?}"
        );
    }

    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let s = supplier(&tp, &ops, false, true).await;
    let b = onboard(&tp, &ops).await;
    let stranger = register(&tp, personal(&unique("stranger")))
        .await
        .account_id;
    let mut o = OrderServiceClient::new(tp.channel_as("order", As::Caller("edge".into())));
    let pen = || vec![line("Pen", "office.pens", 2, "10.00", "CNY")];
    let a = create(&tp, marketplace_order(&b, &s, pen(), "0")).await;

    // Reading: someone else's order reads as missing, by id and by number; its parties read it.
    let by_id = || GetOrderRequest {
        order_id: a.order_id.clone(),
        order_number: String::new(),
    };
    let err = o
        .get_order(as_person(&stranger, by_id()))
        .await
        .expect_err("a stranger reads");
    refused(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    let err = o
        .get_order(as_person(
            &stranger,
            GetOrderRequest {
                order_id: String::new(),
                order_number: a.order_number.clone(),
            },
        ))
        .await
        .expect_err("a stranger reads by number");
    refused(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    for party in [&b.account_id, &s.account_id] {
        let read = o
            .get_order(as_person(party, by_id()))
            .await?
            .into_inner()
            .order
            .unwrap();
        assert_eq!(read.order_id, a.order_id);
    }
    let trail = |who: &str| {
        as_person(
            who,
            ListOrderEventsRequest {
                order_id: a.order_id.clone(),
                types: vec![],
                page: None,
            },
        )
    };
    let err = o
        .list_order_events(trail(&stranger))
        .await
        .expect_err("a stranger's trail");
    not_owner(&err, "BUYER_OR_SUPPLIER");
    assert_eq!(
        metadata(&err, "order_id").as_deref(),
        Some(a.order_id.as_str())
    );
    assert!(
        !o.list_order_events(trail(&s.account_id))
            .await?
            .into_inner()
            .events
            .is_empty()
    );

    // Lists and counts: the person must be one of the parties filtered on.
    let err = o
        .list_orders(as_person(
            &stranger,
            ListOrdersRequest {
                supplier_account_id: s.account_id.clone(),
                ..ListOrdersRequest::default()
            },
        ))
        .await
        .expect_err("another's list");
    not_owner(&err, "SUPPLIER");
    let err = o
        .count_orders_by_status(as_person(
            &stranger,
            CountOrdersByStatusRequest {
                buyer_account_id: b.account_id.clone(),
                ..CountOrdersByStatusRequest::default()
            },
        ))
        .await
        .expect_err("another's counts");
    not_owner(&err, "BUYER");
    let err = o
        .list_orders(as_person(&stranger, ListOrdersRequest::default()))
        .await
        .expect_err("no party");
    assert_eq!(err.code(), Code::InvalidArgument);
    let mine = o
        .list_orders(as_person(
            &b.account_id,
            ListOrdersRequest {
                buyer_account_id: b.account_id.clone(),
                ..ListOrdersRequest::default()
            },
        ))
        .await?
        .into_inner();
    assert!(mine.orders.iter().any(|x| x.order_id == a.order_id));
    let between = o
        .count_orders_by_status(as_person(
            &s.account_id,
            CountOrdersByStatusRequest {
                supplier_account_id: s.account_id.clone(),
                buyer_account_id: b.account_id.clone(),
                filter: None,
            },
        ))
        .await?
        .into_inner();
    assert_eq!(between.total, 1);

    // Acting: an order is placed for the person itself; each step by the party it needs.
    let err = o
        .create_marketplace_order(as_person(&stranger, marketplace_order(&b, &s, pen(), "0")))
        .await
        .expect_err("an order for someone else");
    not_owner(&err, "BUYER");
    let methods = |who: &str| {
        as_person(
            who,
            QueryPaymentMethodsRequest {
                order_ids: vec![a.order_id.clone()],
            },
        )
    };
    let err = o
        .query_payment_methods(methods(&s.account_id))
        .await
        .expect_err("the supplier asks how to pay");
    not_owner(&err, "BUYER");
    o.query_payment_methods(methods(&b.account_id)).await?;
    let err = o
        .estimate_order_fees(as_person(
            &stranger,
            EstimateOrderFeesRequest {
                subject: Some(estimate_order_fees_request::Subject::OrderId(
                    a.order_id.clone(),
                )),
                payment_method: 0,
                export_method: 0,
            },
        ))
        .await
        .expect_err("a stranger's estimate");
    not_owner(&err, "BUYER_OR_SUPPLIER");
    let err = o
        .pay_orders(as_person(
            &stranger,
            pay_req(&[&a.order_id], PaymentMethod::CrossBorderPay, ""),
        ))
        .await
        .expect_err("a stranger pays");
    not_owner(&err, "BUYER");
    assert_eq!(count(&tp, "SELECT count(*) FROM orders.payments").await, 0);
    let err = o
        .add_shipment(as_person(&b.account_id, ship_all(&a)))
        .await
        .expect_err("the buyer ships");
    not_owner(&err, "SUPPLIER");
    let cancel = |who: &str| {
        as_person(
            who,
            CancelOrderRequest {
                request_id: rid(),
                order_id: a.order_id.clone(),
                reason_text: String::new(),
            },
        )
    };
    let err = o
        .cancel_order(cancel(&stranger))
        .await
        .expect_err("a stranger cancels");
    not_owner(&err, "BUYER_OR_SUPPLIER");
    assert_eq!(status(&get(&tp, &a.order_id).await), OrderStatus::Unpaid);

    // A payment (refused for a wrong PIN) reads as missing to anyone but its buyer.
    active_mandate(&tp, &b).await;
    let mut wrong = pay_req(&[&a.order_id], PaymentMethod::CrossBorderPay, "");
    wrong.payment_pin = "000000".to_owned();
    let err = o
        .pay_orders(as_person(&b.account_id, wrong))
        .await
        .expect_err("wrong pin");
    refused(&err, Code::PermissionDenied, "PIN_INVALID");
    let payment_id = metadata(&err, "payment_id").expect("payment_id");
    let read = |who: &str| {
        as_person(
            who,
            GetPaymentRequest {
                payment_id: payment_id.clone(),
                ..Default::default()
            },
        )
    };
    for other in [&stranger, &s.account_id] {
        let err = o
            .get_payment(read(other))
            .await
            .expect_err("another's payment");
        refused(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    }
    let paid_by = o.get_payment(read(&b.account_id)).await?.into_inner();
    assert_eq!(paid_by.payment.unwrap().payment_id, payment_id);
    let cancelled = o
        .cancel_order(cancel(&b.account_id))
        .await?
        .into_inner()
        .order
        .unwrap();
    assert_eq!(cancelled.close_reason, CloseReason::CancelledByBuyer as i32);

    // Direct Pay: drafted by its supplier only, for a buyer known by its verified email.
    let email = tp
        .identity()
        .get_account(idp::GetAccountRequest {
            account_id: b.account_id.clone(),
        })
        .await?
        .into_inner()
        .account
        .unwrap()
        .email;
    let d = draft(&s, "USD", seed_lines());
    let dp = DraftDirectPayOrderRequest {
        request_id: rid(),
        supplier_account_id: s.account_id.clone(),
        buyer_account_id: String::new(),
        buyer: d.buyer.map(|c| BuyerContact { email, ..c }),
        salesperson: d.salesperson,
        currency_code: d.currency_code,
        lines: d.lines,
        contract: None,
        shipping_terms: d.shipping_terms,
        export_method: ExportMethod::SelfExport as i32,
        payment_terms: d.payment_terms,
        payment_method: PaymentMethod::DocumentsAgainstPayment as i32,
        inspection: None,
        note: String::new(),
    };
    let err = o
        .draft_direct_pay_order(as_person(&stranger, dp.clone()))
        .await
        .expect_err("drafting as another supplier");
    not_owner(&err, "SUPPLIER");
    let direct = o
        .draft_direct_pay_order(as_person(&s.account_id, dp))
        .await?
        .into_inner()
        .order
        .unwrap();
    assert_eq!(direct.buyer_account_id, "");
    let read = |who: &str| {
        as_person(
            who,
            GetOrderRequest {
                order_id: direct.order_id.clone(),
                order_number: String::new(),
            },
        )
    };
    o.get_order(read(&b.account_id)).await?;
    let err = o
        .get_order(read(&stranger))
        .await
        .expect_err("a stranger reads");
    refused(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    let mut note = direct.clone();
    if let Some(order::Details::Trade(t)) = note.details.as_mut() {
        t.note = "buyer's wish".into();
    }
    let mut update = UpdateOrderRequest {
        request_id: rid(),
        order_id: direct.order_id.clone(),
        order: Some(note),
        update_mask: None,
        etag: direct.etag.clone(),
        reason: String::new(),
    };
    let mut fm = update.update_mask.take().unwrap_or_default();
    fm.paths = vec!["trade.note".to_owned()];
    update.update_mask = Some(fm);
    let err = o
        .update_order(as_person(&b.account_id, update))
        .await
        .expect_err("the buyer modifies");
    not_owner(&err, "SUPPLIER");
    let err = o
        .reject_order(as_person(
            &s.account_id,
            RejectOrderRequest {
                request_id: rid(),
                order_id: direct.order_id.clone(),
                reason_text: String::new(),
            },
        ))
        .await
        .expect_err("the supplier declines for the buyer");
    not_owner(&err, "BUYER");
    let confirm = |who: &str| {
        as_person(
            who,
            ConfirmOrderRequest {
                request_id: rid(),
                order_id: direct.order_id.clone(),
                etag: direct.etag.clone(),
            },
        )
    };
    let err = o
        .confirm_order(confirm(&stranger))
        .await
        .expect_err("a stranger confirms");
    not_owner(&err, "BUYER");
    let confirmed = o
        .confirm_order(confirm(&b.account_id))
        .await?
        .into_inner()
        .order
        .unwrap();
    assert_eq!(status(&confirmed), OrderStatus::AwaitingPrepayment);
    assert_eq!(confirmed.buyer_account_id, b.account_id, "recorded");

    // Operators act on any order (their own account is no party); services on their own too.
    let mut operators =
        OrderServiceClient::new(tp.channel_as("order", As::Caller("operator".into())));
    operators.get_order(as_person(&ops, by_id())).await?;
    tp.order().get_order(by_id()).await?;
    // Edge naming nobody is refused before any handler runs: no ownership check to skip.
    let err = o.get_order(by_id()).await.expect_err("edge for nobody");
    refused(&err, Code::PermissionDenied, "SUBJECT_REQUIRED");
    tp.stop().await
}

/// Order's outbox of wallet operations, swept by every replica: two sweepers at once
/// claim disjoint rows (a row another is claiming is skipped, and a claimed row stays out
/// of reach while its call runs), so no operation is sent by two replicas at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sweepers_never_claim_one_outbox_row() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let reach = tp.reach();
    let (supplier, buyers) = reach.people(1).await?;
    let order_id = reach
        .marketplace_order(&buyers[0].person, &supplier, 1, "10.00")
        .await?;
    // Forty operations due an hour from now (out of the service's own sweeper's reach).
    let mut admin = admin(&tp).await;
    sqlx::query(
        "INSERT INTO orders.wallet_operations (operation_id, order_id, kind, request, state,
             next_attempt_at, created_at, updated_at)
         SELECT gen_random_uuid(), $1::uuid, 1, '\\x'::bytea, 1, now() + interval '1 hour', now(), now()
         FROM generate_series(1, 40)",
    )
    .bind(&order_id)
    .execute(&mut admin)
    .await?;
    let options = tp.db().admin_options().options([("search_path", "orders")]);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await?;
    let later = chrono::Utc::now() + chrono::Duration::hours(2);
    let sweep = |pool: sqlx::PgPool| async move {
        kuajing_order::ops::wallet_ops::claim_due(&pool, later, 25).await
    };
    let (a, b) = tokio::join!(sweep(pool.clone()), sweep(pool.clone()));
    let (a, b) = (a?, b?);
    let mut all: Vec<Uuid> = a.iter().chain(&b).copied().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), a.len() + b.len(), "a row claimed twice");
    assert_eq!(all.len(), 40, "{} + {}", a.len(), b.len());
    // Claimed rows stay claimed while their calls run.
    assert!(sweep(pool.clone()).await?.is_empty());
    pool.close().await;
    tp.stop().await
}

/// A driver renews its payment's lease while a step's call is in flight: with a 1 s lease
/// and a hold that takes 4 s (a slow wallet), no second replica's recovery loop takes the
/// payment over mid-step, and the payment ends once, paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_step_keeps_its_lease_and_no_second_driver_takes_over() -> anyhow::Result<()> {
    let tp = TestPlatform::start_with_options(&[(
        "order",
        &["--saga-lease-secs=1", "--sweep-interval-ms=100"],
    )])
    .await?;
    let ops = operator_account(&tp).await;
    let s = supplier(&tp, &ops, false, true).await;
    let b = onboard(&tp, &ops).await;
    active_mandate(&tp, &b).await;
    top_up(&tp, &b.wallet_id, "CNH", "2000.00").await;
    let order = create(
        &tp,
        marketplace_order(
            &b,
            &s,
            vec![line("Bolt", "industrial.parts", 1, "100.00", "CNY")],
            "0",
        ),
    )
    .await;
    let req = pay_req(&[&order.order_id], PaymentMethod::CrossBorderPay, "");
    let request_id = req.request_id.clone();
    let mut conn = admin(&tp).await;
    sqlx::query(
        "INSERT INTO orders.payment_fault_plans (payment_request_id, step_kind, point, action, delay_ms)
         VALUES ($1::uuid, $2, 'BEFORE_CALL', 'DELAY', 4000)",
    )
    .bind(&request_id)
    .bind(PaymentStepKind::WalletHold as i16)
    .execute(&mut conn)
    .await?;
    let paying = {
        let tp_orders = orders_for(&tp, &b.account_id);
        tokio::spawn(async move {
            let mut o = tp_orders;
            o.pay_orders(req).await
        })
    };
    // Watch who holds the payment's lease while the slow hold runs.
    let mut owners = std::collections::BTreeSet::new();
    for _ in 0..38 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let owner: Option<Option<Uuid>> = sqlx::query_scalar(
            "SELECT lease_owner FROM orders.payments WHERE request_id = $1::uuid",
        )
        .bind(&request_id)
        .fetch_optional(&mut conn)
        .await?;
        if let Some(Some(owner)) = owner {
            owners.insert(owner);
        }
    }
    let paid = paying.await??.into_inner().payment.expect("payment");
    assert_eq!(paid.state, PaymentState::Succeeded as i32, "{paid:?}");
    assert_eq!(
        owners.len(),
        1,
        "the payment changed drivers mid-step: {owners:?}"
    );
    let holds = holds_of(&tp, &order.order_id).await;
    assert_eq!(holds.len(), 1);
    // An escrow hold nothing ends returns to the buyer by itself, in 180 days.
    let expires = holds[0]
        .expire_time
        .as_ref()
        .and_then(kuajing_platform::time::from_proto)
        .expect("the saga's hold expires");
    assert!(
        expires > chrono::Utc::now() + chrono::Duration::days(179),
        "{expires}"
    );
    conn.close().await.ok();
    tp.stop().await
}

#[tokio::test]
async fn a_short_ship_by_warns_and_a_late_first_shipment_counts_against_the_on_time_rate()
-> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let s = supplier(&tp, &ops, false, false).await;
    let mut w = tp.wallet();
    let collection = usd_collection(&mut w, &s).await;
    let mut o = orders_for(&tp, &s.account_id);
    let with_days = |days: i32| {
        let mut req = draft(&s, "USD", seed_lines());
        if let Some(st) = req.shipping_terms.as_mut() {
            st.ship_by = Some(ShipBy {
                rule: Some(ship_by::Rule::DaysAfterPayment(days)),
            });
        }
        req
    };
    let warned = |order: &Order| match &order.details {
        Some(order::Details::Trade(t)) => t.warnings.iter().any(|w| w.code == "SHIP_BY_SOON"),
        _ => false,
    };
    // Seed 002: "填写0-2天很容易逾期" — two days or less warns; three does not.
    let hurried = draft_ta(&tp, with_days(1)).await?;
    assert!(warned(&hurried), "{hurried:?}");
    assert!(warned(&draft_ta(&tp, with_days(2)).await?));
    let relaxed = draft_ta(&tp, with_days(10)).await?;
    assert!(!warned(&relaxed));

    // Both paid in full now: ship-by deadlines one and ten days from here.
    let mut paid = Vec::new();
    for drafted in [&hurried, &relaxed] {
        w.record_inbound_remittance(remittance(&collection, "2500.00"))
            .await?;
        let r = w
            .list_remittances(wpb::ListRemittancesRequest {
                wallet_id: s.wallet_id.clone(),
                ..Default::default()
            })
            .await?
            .into_inner()
            .remittances
            .into_iter()
            .find(|r| amount(&r.unallocated_amount) == dec("2500"))
            .expect("an unallocated remittance");
        let mut last = None;
        for (target, value) in [
            (PaymentTarget::Prepayment, "750.00"),
            (PaymentTarget::Balance, "1750.00"),
        ] {
            last = o
                .link_remittance_to_order(LinkRemittanceToOrderRequest {
                    request_id: rid(),
                    order_id: drafted.order_id.clone(),
                    remittance_id: r.remittance_id.clone(),
                    target: target as i32,
                    amount: m("USD", value),
                })
                .await?
                .into_inner()
                .order;
        }
        let order = last.expect("order");
        assert_eq!(status(&order), OrderStatus::AwaitingShipment);
        paid.push(order);
    }

    // Two days later both ship: the one-day order late, the ten-day one on time.
    tp.clock().advance(Duration::from_secs(2 * 86_400));
    let mut shipped = Vec::new();
    for order in &paid {
        let mut req = ship_all(order);
        req.shipment.as_mut().unwrap().ship_time =
            Some(kuajing_platform::time::to_proto(tp.clock().now()));
        shipped.push(o.add_shipment(req).await?.into_inner().order.unwrap());
    }
    assert!(shipped[0].shipped_late, "{:?}", shipped[0]);
    assert!(!shipped[1].shipped_late);
    let counts = o
        .count_orders_by_status(CountOrdersByStatusRequest {
            supplier_account_id: s.account_id.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!((counts.shipped_on_time, counts.shipped_late), (1, 1));
    tp.stop().await
}

#[tokio::test]
async fn boleto_takes_at_most_usd_3000_a_month_per_buyer() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let s = supplier(&tp, &ops, false, false).await;
    let boleto = |price: &str, email: &str| {
        let mut req = draft(&s, "USD", vec![line("lamps", "", 1, price, "USD")]);
        req.payment_method = PaymentMethod::Boleto as i32;
        req.payment_terms = Some(PaymentTerms {
            prepayment: m("USD", price),
            ..PaymentTerms::default()
        });
        if let Some(b) = req.buyer.as_mut() {
            b.email = email.to_owned();
        }
        req
    };
    // Seed 002: Boleto, USD 3,000 a month. This buyer's month: 2,000 then 1,000 (equal is
    // allowed), then not a cent more.
    let earlier = draft_ta(&tp, boleto("2000.00", "maria@compras.example")).await?;
    draft_ta(&tp, boleto("1000.00", "Maria@Compras.example")).await?;
    let err = draft_ta(&tp, boleto("0.01", "maria@compras.example"))
        .await
        .expect_err("a cent over the month");
    refused(
        &err,
        Code::FailedPrecondition,
        "PAYMENT_METHOD_MONTHLY_LIMIT_EXCEEDED",
    );
    assert_eq!(metadata(&err, "used").as_deref(), Some("3000.00"));
    assert_eq!(metadata(&err, "limit").as_deref(), Some("3000.00"));
    // Drafts of one buyer at the same instant are counted one after the other: of eight
    // USD 1,000 drafts sent at once, exactly three fit the month.
    let at_once: Vec<_> = (0..8)
        .map(|_| draft_ta(&tp, boleto("1000.00", "ana@compras.example")))
        .collect();
    let answers = futures_util::future::join_all(at_once).await;
    let drafted = answers.iter().filter(|a| a.is_ok()).count();
    let refusals: Vec<String> = answers
        .iter()
        .filter_map(|a| a.as_ref().err().map(reason))
        .collect();
    assert_eq!(drafted, 3, "refused: {refusals:?}");
    for refusal in answers.iter().filter_map(|a| a.as_ref().err()) {
        refused(
            refusal,
            Code::FailedPrecondition,
            "PAYMENT_METHOD_MONTHLY_LIMIT_EXCEEDED",
        );
    }
    // Another buyer has a month of its own; the next month starts again.
    draft_ta(&tp, boleto("1.00", "joao@compras.example")).await?;
    tp.clock().advance(Duration::from_secs(32 * 86_400));
    refresh_rates(&tp).await;
    draft_ta(&tp, boleto("1.00", "maria@compras.example")).await?;
    // Last month's USD 2,000 order, paid now, counts against this month: QueryPaymentMethods
    // offers Boleto while the month holds USD 1 of other orders, not once it holds 2,000.
    // Maria signs up with that email (verified): the order awaits her prepayment.
    let maria = tp
        .reach()
        .register(idp::RegisterAccountRequest {
            email: "maria@compras.example".to_owned(),
            ..personal(&unique("maria"))
        })
        .await?;
    let boleto_of = |r: QueryPaymentMethodsResponse| {
        r.orders[0]
            .options
            .iter()
            .find(|x| x.payment_method == PaymentMethod::Boleto as i32)
            .cloned()
            .expect("Boleto")
    };
    let query = || QueryPaymentMethodsRequest {
        order_ids: vec![earlier.order_id.clone()],
    };
    let mut om = orders_for(&tp, &maria);
    let room = boleto_of(om.query_payment_methods(query()).await?.into_inner());
    assert!(room.available, "{room:?}");
    draft_ta(&tp, boleto("1999.00", "maria@compras.example")).await?;
    let full = boleto_of(om.query_payment_methods(query()).await?.into_inner());
    assert!(!full.available);
    assert_eq!(
        full.unavailable_reasons,
        [PaymentMethodUnavailableReason::PeriodLimitReached as i32]
    );
    assert!(
        full.unavailable_detail.contains("2000.00 used this month"),
        "{}",
        full.unavailable_detail
    );
    tp.stop().await
}

#[tokio::test]
async fn a_payment_method_takes_only_the_currencies_it_lists() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let s = supplier(&tp, &ops, false, false).await;
    let by = |method: PaymentMethod, currency: &str| {
        let mut req = draft(&s, currency, vec![line("lamps", "", 1, "900.00", currency)]);
        req.payment_method = method as i32;
        if let Some(st) = req.shipping_terms.as_mut() {
            st.freight = m(currency, "0");
            st.insurance = m(currency, "0");
        }
        req.payment_terms = Some(PaymentTerms {
            prepayment: m(currency, "900.00"),
            ..PaymentTerms::default()
        });
        req
    };
    // Seed 002: Western Union takes USD only; a wire takes either of the orders' currencies.
    let err = draft_ta(&tp, by(PaymentMethod::WesternUnion, "CNY"))
        .await
        .expect_err("CNY by Western Union");
    refused(
        &err,
        Code::FailedPrecondition,
        "PAYMENT_METHOD_CURRENCY_NOT_SUPPORTED",
    );
    assert_eq!(metadata(&err, "currencies").as_deref(), Some("USD"));
    draft_ta(&tp, by(PaymentMethod::WesternUnion, "USD")).await?;
    draft_ta(&tp, by(PaymentMethod::InternationalWire, "CNY")).await?;
    // A domestic wire costs about one unit of the payer's local currency (seed 002:
    // "约1当地货币"), the order's: CNY 1.00, not USD 1 converted.
    let wired = draft_ta(&tp, by(PaymentMethod::DomesticWire, "CNY")).await?;
    let channel = fee_line(&wired, FeeType::PaymentChannelFee);
    assert_eq!(channel.amount, m("CNY", "1.00"));
    assert!(channel.estimate);
    assert!(
        channel.description.contains("local currency"),
        "{}",
        channel.description
    );
    tp.stop().await
}

/// Seed 002's value-added inspection: a bill apart from the order, paid by the buyer to the
/// platform. The buyer pays it from its own wallet, to the platform's fee revenue, never
/// into arrears, once per order whatever the request ids; short of funds it is refused and
/// nothing is charged, and a later attempt pays it.
/// A supplier's quotas as GetSupplierQuotas answers them (acting for the supplier).
async fn quotas_of(o: &mut Orders, s: &Party) -> SupplierQuotas {
    o.get_supplier_quotas(GetSupplierQuotasRequest {
        supplier_account_id: s.account_id.clone(),
    })
    .await
    .expect("quotas")
    .into_inner()
    .quotas
    .expect("quotas")
}

#[tokio::test]
async fn links_within_the_credit_quota_are_released_at_once_and_the_fx_quota_bounds_what_is_received_before_shipping()
-> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let s = supplier(&tp, &ops, false, false).await;
    let mut w = tp.wallet();
    let collection = usd_collection(&mut w, &s).await;
    let mut o = orders_for(&tp, &s.account_id);
    let mut ob = orders_for(&tp, &acme_buyer(&tp).await);
    let mut operator =
        OrderServiceClient::new(tp.channel_as("order", As::Caller("operator".into())));

    // Nothing granted: USD 0 of credit quota, no FX quota limit.
    let q = quotas_of(&mut o, &s).await;
    assert_eq!(amount(&q.credit_quota), dec("0"));
    assert!(q.fx_quota.is_none() && q.fx_quota_available.is_none());
    assert!(q.update_time.is_none());
    let set = |credit: &str, fx: Option<&str>| SetSupplierQuotasRequest {
        request_id: rid(),
        supplier_account_id: s.account_id.clone(),
        credit_quota: m("USD", credit),
        fx_quota: fx.and_then(|v| m("USD", v)),
        reason: "annual review".into(),
    };
    for bad in [
        SetSupplierQuotasRequest {
            credit_quota: m("EUR", "100.00"),
            ..set("0", None)
        },
        set("-0.01", None),
        set("0", Some("-1")),
        SetSupplierQuotasRequest {
            reason: " ".into(),
            ..set("0", None)
        },
    ] {
        let err = operator
            .set_supplier_quotas(acting(&ops, bad))
            .await
            .expect_err("bad quota");
        refused(&err, Code::InvalidArgument, "VALIDATION_FAILED");
    }
    let granted = operator
        .set_supplier_quotas(acting(&ops, set("150.00", Some("250.00"))))
        .await?
        .into_inner()
        .quotas
        .unwrap();
    assert_eq!(amount(&granted.credit_quota_available), dec("150"));
    assert_eq!(amount(&granted.fx_quota_available), dec("250"));
    assert!(granted.update_time.is_some());

    // Three fully prepaid orders of USD 100 and one remittance of USD 300.
    let mut orders = Vec::new();
    for _ in 0..3 {
        orders.push(prepaid_order(&tp, &s, None).await?);
    }
    w.record_inbound_remittance(remittance(&collection, "300.00"))
        .await?;
    let r = w
        .list_remittances(wpb::ListRemittancesRequest {
            wallet_id: s.wallet_id.clone(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .remittances
        .remove(0);
    let link = |order: &Order, value: &str| LinkRemittanceToOrderRequest {
        request_id: rid(),
        order_id: order.order_id.clone(),
        remittance_id: r.remittance_id.clone(),
        target: PaymentTarget::Prepayment as i32,
        amount: m("USD", value),
    };
    // USD 100 within the USD 150 available: released at once, and freezes the quota.
    let a = o
        .link_remittance_to_order(link(&orders[0], "100.00"))
        .await?
        .into_inner();
    assert!(!a.allocation.as_ref().unwrap().guaranteed);
    assert_eq!(
        balance(&tp, &s.wallet_id, "USD").await,
        (dec("100"), dec("0"))
    );
    // USD 100 past the USD 50 left: kept whole as guarantee funds.
    let b = o
        .link_remittance_to_order(link(&orders[1], "100.00"))
        .await?
        .into_inner();
    let held = b.allocation.as_ref().unwrap();
    assert!(held.guaranteed && !held.guarantee_hold_id.is_empty());
    assert_eq!(
        balance(&tp, &s.wallet_id, "USD").await,
        (dec("100"), dec("100"))
    );
    let q = quotas_of(&mut o, &s).await;
    assert_eq!(amount(&q.credit_quota_frozen), dec("100"));
    assert_eq!(amount(&q.credit_quota_available), dec("50"));
    assert_eq!(amount(&q.fx_quota_used), dec("200"));
    // The fund overview shows the guarantee funds.
    let overview = w
        .get_fund_overview(wpb::GetFundOverviewRequest {
            wallet_id: s.wallet_id.clone(),
            currency_codes: vec!["USD".into()],
        })
        .await?
        .into_inner()
        .fund_overview
        .unwrap();
    assert_eq!(amount(&overview.currencies[0].guarantee_funds), dec("100"));

    // The FX quota: USD 50.01 more is refused, USD 50 (exactly the rest) passes.
    let err = o
        .link_remittance_to_order(link(&orders[2], "50.01"))
        .await
        .expect_err("past the FX quota");
    refused(&err, Code::FailedPrecondition, "FX_QUOTA_EXCEEDED");
    assert_eq!(metadata(&err, "fx_quota").as_deref(), Some("250.00"));
    assert_eq!(metadata(&err, "fx_quota_used").as_deref(), Some("200.00"));
    let c = o
        .link_remittance_to_order(link(&orders[2], "50.00"))
        .await?
        .into_inner();
    assert!(
        !c.allocation.unwrap().guaranteed,
        "USD 50 fits the credit left"
    );
    assert_eq!(
        amount(&quotas_of(&mut o, &s).await.fx_quota_available),
        dec("0")
    );

    // Shipping in full frees what the order took of the FX quota; completing it frees the
    // credit quota and releases its guarantee funds.
    let paid_b = get(&tp, &orders[1].order_id).await;
    let shipped = o.add_shipment(ship_all(&paid_b)).await?.into_inner();
    assert_eq!(
        status(shipped.order.as_ref().unwrap()),
        OrderStatus::Shipped
    );
    let q = quotas_of(&mut o, &s).await;
    assert_eq!(amount(&q.fx_quota_used), dec("150"));
    assert_eq!(
        amount(&q.credit_quota_frozen),
        dec("150"),
        "A's 100 and C's 50"
    );
    // After-sales on a shipped order does not make its money pre-received again; on an
    // order nothing of which shipped, it still is.
    let ask = |order_id: &str| RequestRefundRequest {
        request_id: rid(),
        order_id: order_id.to_owned(),
        reason: RefundReason::QuantityShort as i32,
        description: "short".into(),
        evidence_file_refs: vec![],
        amount: m("USD", "1.00"),
        return_goods: false,
    };
    let mut refunds = Vec::new();
    for order in [&orders[1], &orders[0]] {
        let asked = ob.request_refund(ask(&order.order_id)).await?.into_inner();
        refunds.push((order.order_id.clone(), asked.refund.unwrap().refund_id));
    }
    assert_eq!(
        amount(&quotas_of(&mut o, &s).await.fx_quota_used),
        dec("150")
    );
    for (order_id, refund_id) in refunds {
        ob.resolve_refund(ResolveRefundRequest {
            request_id: rid(),
            order_id,
            refund_id,
            decision: RefundDecision::Withdraw as i32,
            approved_amount: None,
            note: "found it".into(),
        })
        .await?;
    }
    o.mark_shipment_delivered(MarkShipmentDeliveredRequest {
        request_id: rid(),
        order_id: paid_b.order_id.clone(),
        shipment_id: shipped.shipment.unwrap().shipment_id,
        deliver_time: Some(kuajing_platform::time::to_proto(chrono::Utc::now())),
        proof_file_refs: vec![],
    })
    .await?;
    ob.confirm_receipt(ConfirmReceiptRequest {
        request_id: rid(),
        order_id: paid_b.order_id.clone(),
    })
    .await?;
    let fee =
        amount(&fee_line(&get(&tp, &paid_b.order_id).await, FeeType::ExportServiceFee).amount);
    assert_eq!(
        balance(&tp, &s.wallet_id, "USD").await,
        (dec("250") - fee, dec("0"))
    );
    let released: Vec<_> = events_of(&tp, &paid_b.order_id)
        .await
        .into_iter()
        .filter(|e| e.r#type == OrderEventType::GuaranteeFundsReleased as i32)
        .collect();
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].related_ids["hold_id"], held.guarantee_hold_id);
    assert_eq!(
        amount(&quotas_of(&mut o, &s).await.credit_quota_frozen),
        dec("150"),
        "B was guaranteed, so its completion frees no credit"
    );

    // Violation points at the Trade Assurance limit leave no credit quota.
    let mut req = idp::UpdateSupplierProfileRequest {
        request_id: rid(),
        supplier_profile: Some(idp::SupplierProfile {
            account_id: s.account_id.clone(),
            violation_points: 48,
            ..Default::default()
        }),
        update_mask: None,
        reason: "violations".into(),
    };
    let mut mask = req.update_mask.take().unwrap_or_default();
    mask.paths = vec!["violation_points".into()];
    req.update_mask = Some(mask);
    identity_as(&tp, "operator")
        .update_supplier_profile(acting(&ops, req))
        .await?;
    let q = quotas_of(&mut o, &s).await;
    assert_eq!(amount(&q.credit_quota), dec("150"));
    assert_eq!(amount(&q.effective_credit_quota), dec("0"));
    assert_eq!(amount(&q.credit_quota_available), dec("0"));
    Ok(())
}

#[tokio::test]
async fn links_sent_at_once_share_the_credit_quota_without_overdrawing_it() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let s = supplier(&tp, &ops, false, false).await;
    let mut w = tp.wallet();
    let collection = usd_collection(&mut w, &s).await;
    let o = orders_for(&tp, &s.account_id);
    OrderServiceClient::new(tp.channel_as("order", As::Caller("operator".into())))
        .set_supplier_quotas(acting(
            &ops,
            SetSupplierQuotasRequest {
                request_id: rid(),
                supplier_account_id: s.account_id.clone(),
                credit_quota: m("USD", "300.00"),
                fx_quota: None,
                reason: "granted".into(),
            },
        ))
        .await?;
    // Eight orders of USD 100 linked at once: the quota covers three.
    let mut orders = Vec::new();
    for _ in 0..8 {
        orders.push(prepaid_order(&tp, &s, None).await?);
    }
    w.record_inbound_remittance(remittance(&collection, "800.00"))
        .await?;
    let r = w
        .list_remittances(wpb::ListRemittancesRequest {
            wallet_id: s.wallet_id.clone(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .remittances
        .remove(0);
    let mut set = tokio::task::JoinSet::new();
    for order in &orders {
        let mut o = o.clone();
        let req = LinkRemittanceToOrderRequest {
            request_id: rid(),
            order_id: order.order_id.clone(),
            remittance_id: r.remittance_id.clone(),
            target: PaymentTarget::Prepayment as i32,
            amount: m("USD", "100.00"),
        };
        set.spawn(async move { o.link_remittance_to_order(req).await });
    }
    let mut released = 0;
    while let Some(done) = set.join_next().await {
        if !done??.into_inner().allocation.unwrap().guaranteed {
            released += 1;
        }
    }
    assert_eq!(released, 3, "exactly what the quota covers is released");
    assert_eq!(
        balance(&tp, &s.wallet_id, "USD").await,
        (dec("300"), dec("500"))
    );
    let q = quotas_of(&mut o.clone(), &s).await;
    assert_eq!(amount(&q.credit_quota_frozen), dec("300"));
    assert_eq!(amount(&q.credit_quota_available), dec("0"));
    Ok(())
}

#[tokio::test]
async fn the_buyer_pays_a_trade_assurance_order_from_its_wallet_through_the_saga()
-> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let s = supplier(&tp, &ops, false, false).await;
    let mut w = tp.wallet();
    usd_collection(&mut w, &s).await;
    let buyer = onboard(&tp, &ops).await;
    let mut ob = orders_for(&tp, &buyer.account_id);
    let mut operator =
        OrderServiceClient::new(tp.channel_as("order", As::Caller("operator".into())));
    // USD 500 of credit quota: the prepayment fits it, the balance does not.
    operator
        .set_supplier_quotas(acting(
            &ops,
            SetSupplierQuotasRequest {
                request_id: rid(),
                supplier_account_id: s.account_id.clone(),
                credit_quota: m("USD", "500.00"),
                fx_quota: None,
                reason: "granted".into(),
            },
        ))
        .await?;
    // USD 1,000: USD 400 prepayment, USD 600 balance.
    let mut d = draft(&s, "USD", vec![line("gloves", "", 100, "10.00", "USD")]);
    d.buyer_account_id = buyer.account_id.clone();
    d.payment_terms = Some(PaymentTerms {
        prepayment: m("USD", "400.00"),
        ..PaymentTerms::default()
    });
    let order = draft_ta(&tp, d).await?;
    let pay = |target: PaymentTarget, fx: &str| PayTradeOrderRequest {
        request_id: rid(),
        order_id: order.order_id.clone(),
        target: target as i32,
        wallet_id: String::new(),
        fx_source_currency_code: fx.to_owned(),
        expected_amount: None,
        payment_pin: PIN.to_owned(),
    };

    // Refusals before anything runs.
    refused(
        &ob.pay_trade_order(pay(PaymentTarget::Balance, ""))
            .await
            .expect_err("the balance is not due yet"),
        Code::FailedPrecondition,
        "INVALID_STATE_TRANSITION",
    );
    let err = ob
        .pay_trade_order(PayTradeOrderRequest {
            expected_amount: m("USD", "399.99"),
            ..pay(PaymentTarget::Prepayment, "")
        })
        .await
        .expect_err("not what is due");
    refused(&err, Code::FailedPrecondition, "PAYMENT_AMOUNT_CHANGED");
    assert_eq!(metadata(&err, "current_total").as_deref(), Some("400.00"));
    refused(
        &orders_for(&tp, &s.account_id)
            .pay_trade_order(pay(PaymentTarget::Prepayment, ""))
            .await
            .expect_err("the supplier is not the buyer"),
        Code::PermissionDenied,
        "NOT_OWNER",
    );
    // USD 399.99 in the wallet: the saga holds nothing and the order is free again.
    tp.reach().top_up(&buyer.wallet_id, "USD", "399.99").await?;
    let err = ob
        .pay_trade_order(pay(PaymentTarget::Prepayment, ""))
        .await
        .expect_err("short");
    refused(&err, Code::FailedPrecondition, "INSUFFICIENT_FUNDS");
    assert_eq!(metadata(&err, "shortfall").as_deref(), Some("0.01"));
    assert_eq!(
        balance(&tp, &buyer.wallet_id, "USD").await,
        (dec("399.99"), dec("0"))
    );
    let free = get(&tp, &order.order_id).await;
    assert!(free.pending_payment_id.is_empty());
    assert_eq!(status(&free), OrderStatus::AwaitingPrepayment);

    // With enough: the prepayment is held, recorded as received, captured to the supplier
    // (within the credit quota: released at once).
    tp.reach().top_up(&buyer.wallet_id, "USD", "0.01").await?;
    let first = pay(PaymentTarget::Prepayment, "");
    let paid = ob.pay_trade_order(first.clone()).await?.into_inner();
    let payment = paid.payment.unwrap();
    assert_eq!(payment.state, PaymentState::Succeeded as i32, "{payment:?}");
    assert_eq!(payment.target, PaymentTarget::Prepayment as i32);
    let kinds: Vec<i32> = payment.steps.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            PaymentStepKind::PinVerification,
            PaymentStepKind::FxConversion,
            PaymentStepKind::WalletHold,
            PaymentStepKind::MarkOrdersPaid,
            PaymentStepKind::WalletCapture,
        ]
        .map(|k| k as i32)
    );
    assert!(!payment.items[0].guaranteed);
    let replay = ob
        .pay_trade_order(first)
        .await?
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(replay.payment_id, payment.payment_id, "idempotent");
    let after = get(&tp, &order.order_id).await;
    assert_eq!(status(&after), OrderStatus::AwaitingBalance);
    let Some(order::Details::Trade(t)) = &after.details else {
        panic!("trade")
    };
    let a = &t.remittance_allocations[0];
    assert_eq!(a.payment_id, payment.payment_id);
    assert!(a.remittance_id.is_empty() && !a.guaranteed);
    assert_eq!(
        balance(&tp, &buyer.wallet_id, "USD").await,
        (dec("0"), dec("0"))
    );
    assert_eq!(
        balance(&tp, &s.wallet_id, "USD").await,
        (dec("400"), dec("0"))
    );

    // The balance, converted from SGD: past the credit left, kept as guarantee funds.
    tp.reach()
        .top_up(&buyer.wallet_id, "SGD", "2000.00")
        .await?;
    let balance_paid = ob
        .pay_trade_order(pay(PaymentTarget::Balance, "SGD"))
        .await?
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(
        balance_paid.state,
        PaymentState::Succeeded as i32,
        "{balance_paid:?}"
    );
    assert!(
        !balance_paid
            .conversion
            .as_ref()
            .unwrap()
            .conversion_id
            .is_empty()
    );
    let item = &balance_paid.items[0];
    assert!(item.guaranteed && !item.guarantee_hold_id.is_empty());
    assert_eq!(
        balance(&tp, &s.wallet_id, "USD").await,
        (dec("400"), dec("600"))
    );
    let paid = get(&tp, &order.order_id).await;
    assert_eq!(status(&paid), OrderStatus::AwaitingShipment);
    assert_eq!(amount(&paid.received_amount), dec("1000"));
    refused(
        &ob.pay_trade_order(pay(PaymentTarget::Balance, ""))
            .await
            .expect_err("paid in full"),
        Code::FailedPrecondition,
        "INVALID_STATE_TRANSITION",
    );

    // Completion releases the guarantee funds, then charges the export fee.
    let mut o = orders_for(&tp, &s.account_id);
    let shipped = o.add_shipment(ship_all(&paid)).await?.into_inner();
    o.mark_shipment_delivered(MarkShipmentDeliveredRequest {
        request_id: rid(),
        order_id: order.order_id.clone(),
        shipment_id: shipped.shipment.unwrap().shipment_id,
        deliver_time: Some(kuajing_platform::time::to_proto(chrono::Utc::now())),
        proof_file_refs: vec![],
    })
    .await?;
    ob.confirm_receipt(ConfirmReceiptRequest {
        request_id: rid(),
        order_id: order.order_id.clone(),
    })
    .await?;
    let done = get(&tp, &order.order_id).await;
    let fee = amount(&fee_line(&done, FeeType::ExportServiceFee).amount);
    assert_eq!(
        balance(&tp, &s.wallet_id, "USD").await,
        (dec("1000") - fee, dec("0"))
    );
    Ok(())
}

#[tokio::test]
async fn a_trade_payment_cut_at_any_step_by_a_crash_ends_paid_in_full_or_not_at_all()
-> anyhow::Result<()> {
    let mut tp = TestPlatform::start_restartable(&["order"]).await?;
    let ops = operator_account(&tp).await;
    let s = supplier(&tp, &ops, false, false).await;
    let mut w = tp.wallet();
    usd_collection(&mut w, &s).await;
    let b = onboard(&tp, &ops).await;
    top_up(&tp, &b.wallet_id, "USD", "10000.00").await;
    // USD 300 of credit quota: some payments are released at once, the rest guaranteed.
    OrderServiceClient::new(tp.channel_as("order", As::Caller("operator".into())))
        .set_supplier_quotas(acting(
            &ops,
            SetSupplierQuotasRequest {
                request_id: rid(),
                supplier_account_id: s.account_id.clone(),
                credit_quota: m("USD", "300.00"),
                fx_quota: None,
                reason: "granted".into(),
            },
        ))
        .await?;
    use PaymentStepKind as K;
    let cases: Vec<(K, Option<i32>, &str)> = vec![
        (K::PinVerification, None, "AFTER_CALL"),
        (K::WalletHold, Some(0), "BEFORE_CALL"),
        (K::WalletHold, Some(0), "AFTER_CALL"),
        (K::WalletHold, Some(0), "AFTER_STEP"),
        (K::MarkOrdersPaid, None, "BEFORE_CALL"),
        (K::MarkOrdersPaid, None, "AFTER_STEP"),
        (K::WalletCapture, Some(0), "BEFORE_CALL"),
        (K::WalletCapture, Some(0), "AFTER_CALL"),
    ];
    let mut sagas = Vec::new();
    let mut calls = Vec::new();
    for (step, index, point) in &cases {
        let order = prepaid_order(&tp, &s, Some(&b.account_id)).await?;
        let req = pay_prepayment(&order.order_id);
        plan_fault(&tp, &req.request_id, *step, *index, point, "HALT").await;
        sagas.push((req.request_id.clone(), order.order_id.clone()));
        let mut client = orders_for(&tp, &b.account_id);
        let mut call = tonic::Request::new(req);
        call.set_timeout(Duration::from_secs(3));
        calls.push(tokio::spawn(
            async move { client.pay_trade_order(call).await },
        ));
    }
    eventually(60, "every saga to reach its halt", || async {
        count(
            &tp,
            "SELECT count(*) FROM orders.payment_fault_plans WHERE consumed_at IS NULL",
        )
        .await
            == 0
    })
    .await;
    for call in calls {
        if let Ok(Ok(r)) = call.await {
            let p = r.into_inner().payment.unwrap();
            assert_ne!(p.state, PaymentState::Succeeded as i32);
            assert_ne!(p.state, PaymentState::Failed as i32);
        }
    }

    // A crash mid-saga: recovery takes every payment over once the leases lapse.
    tp.kill("order").await?;
    tp.restart("order").await?;
    tp.clock().advance(Duration::from_secs(20));
    let mut payments = Vec::new();
    {
        let mut conn = admin(&tp).await;
        for (request_id, order_id) in &sagas {
            let id: Uuid = sqlx::query_scalar(
                "SELECT payment_id FROM orders.payments WHERE request_id = $1::uuid",
            )
            .bind(request_id)
            .fetch_one(&mut conn)
            .await?;
            payments.push((id.to_string(), order_id.clone()));
        }
        conn.close().await.ok();
    }
    eventually(90, "every saga to finish or be compensated", || async {
        let mut all = true;
        for (id, _) in &payments {
            let p = payment(&tp, id).await;
            all &=
                p.state == PaymentState::Succeeded as i32 || p.state == PaymentState::Failed as i32;
        }
        all
    })
    .await;

    // Each order paid in full (the buyer's hold captured to the supplier) or not at all
    // (nothing held, the order free, nothing taken of the quotas).
    let mut paid = 0;
    for ((id, order_id), (step, _, point)) in payments.iter().zip(&cases) {
        let p = payment(&tp, id).await;
        let o = get(&tp, order_id).await;
        let holds = holds_of(&tp, order_id).await;
        let open = |wallet: &str| {
            holds
                .iter()
                .filter(|h| h.wallet_id == wallet && h.state == wpb::HoldState::Open as i32)
                .count()
        };
        assert!(o.pending_payment_id.is_empty(), "{step:?} {point}: {o:?}");
        assert_eq!(
            open(&b.wallet_id),
            0,
            "{step:?} {point}: the buyer holds nothing"
        );
        if p.state == PaymentState::Succeeded as i32 {
            paid += 1;
            assert_eq!(
                status(&o),
                OrderStatus::AwaitingShipment,
                "{step:?} {point}"
            );
            let item = &p.items[0];
            assert_eq!(
                open(&s.wallet_id),
                usize::from(item.guaranteed),
                "{step:?} {point}: guarantee funds held exactly when guaranteed"
            );
        } else {
            assert_eq!(
                status(&o),
                OrderStatus::AwaitingPrepayment,
                "{step:?} {point}"
            );
            assert_eq!(open(&s.wallet_id), 0, "{step:?} {point}");
            assert!(
                *step != K::MarkOrdersPaid || *point != "AFTER_STEP",
                "past the point of no return a saga only finishes"
            );
        }
        if *step == K::WalletCapture {
            assert_eq!(p.state, PaymentState::Succeeded as i32, "{step:?} {point}");
        }
    }
    // The PIN can't be asked again: that saga was compensated; every other one had its PIN
    // and time left, so recovery carried it through.
    assert_eq!(
        payment(&tp, &payments[0].0).await.state,
        PaymentState::Failed as i32
    );
    assert_eq!(paid, cases.len() - 1);
    let spent = dec("100") * Decimal::from(paid);
    assert_eq!(
        balance(&tp, &b.wallet_id, "USD").await,
        (dec("10000") - spent, dec("0")),
        "the buyer paid for exactly the orders paid"
    );
    let (available, held) = balance(&tp, &s.wallet_id, "USD").await;
    assert_eq!(available + held, spent, "the supplier got exactly that");
    assert_eq!(
        available,
        dec("300").min(spent),
        "the quota's worth released"
    );
    let frozen = count(
        &tp,
        &format!(
            "SELECT count(*) FROM orders.quota_uses q JOIN orders.orders o USING (order_id)
             WHERE o.status = {}",
            OrderStatus::AwaitingPrepayment as i16
        ),
    )
    .await;
    assert_eq!(frozen, 0, "nothing taken of the quotas by an unpaid order");
    tp.stop().await
}

#[tokio::test]
async fn guarantee_funds_kept_after_their_order_completed_are_released_at_once()
-> anyhow::Result<()> {
    let mut tp = TestPlatform::start_restartable(&["order"]).await?;
    let ops = operator_account(&tp).await;
    let s = supplier(&tp, &ops, false, false).await;
    let mut w = tp.wallet();
    usd_collection(&mut w, &s).await;
    let b = onboard(&tp, &ops).await;
    top_up(&tp, &b.wallet_id, "USD", "1000.00").await;
    // No credit quota: the payment is kept as guarantee funds.
    let order = prepaid_order(&tp, &s, Some(&b.account_id)).await?;
    let req = pay_prepayment(&order.order_id);
    // The driver stops right before the capture: the order is paid, the money still in
    // the buyer's hold.
    let step = PaymentStepKind::WalletCapture;
    plan_fault(&tp, &req.request_id, step, Some(0), "BEFORE_CALL", "HALT").await;
    let mut client = orders_for(&tp, &b.account_id);
    let mut call = tonic::Request::new(req.clone());
    call.set_timeout(Duration::from_secs(3));
    let pending = tokio::spawn(async move { client.pay_trade_order(call).await });
    eventually(60, "the saga to reach its halt", || async {
        count(
            &tp,
            "SELECT count(*) FROM orders.payment_fault_plans WHERE consumed_at IS NULL",
        )
        .await
            == 0
    })
    .await;
    let _ = pending.await;
    // The order completes before its payment is captured.
    let paid = get(&tp, &order.order_id).await;
    assert_eq!(status(&paid), OrderStatus::AwaitingShipment);
    let mut o = orders_for(&tp, &s.account_id);
    let shipped = o.add_shipment(ship_all(&paid)).await?.into_inner();
    o.mark_shipment_delivered(MarkShipmentDeliveredRequest {
        request_id: rid(),
        order_id: order.order_id.clone(),
        shipment_id: shipped.shipment.unwrap().shipment_id,
        deliver_time: Some(kuajing_platform::time::to_proto(chrono::Utc::now())),
        proof_file_refs: vec![],
    })
    .await?;
    orders_for(&tp, &b.account_id)
        .confirm_receipt(ConfirmReceiptRequest {
            request_id: rid(),
            order_id: order.order_id.clone(),
        })
        .await?;
    assert_eq!(
        status(&get(&tp, &order.order_id).await),
        OrderStatus::Completed
    );

    // Recovery captures it, as guarantee funds (decided when the order was marked paid),
    // and releases them at once: nothing else would.
    tp.kill("order").await?;
    tp.restart("order").await?;
    tp.clock().advance(Duration::from_secs(20));
    let mut conn = admin(&tp).await;
    let payment_id: Uuid =
        sqlx::query_scalar("SELECT payment_id FROM orders.payments WHERE request_id = $1::uuid")
            .bind(&req.request_id)
            .fetch_one(&mut conn)
            .await?;
    conn.close().await.ok();
    eventually(60, "the capture", || async {
        payment(&tp, &payment_id.to_string()).await.state == PaymentState::Succeeded as i32
    })
    .await;
    let p = payment(&tp, &payment_id.to_string()).await;
    assert!(p.items[0].guaranteed && !p.items[0].guarantee_hold_id.is_empty());
    tp.clock().advance(Duration::from_secs(10));
    eventually(60, "the guarantee released", || async {
        holds_of(&tp, &order.order_id)
            .await
            .iter()
            .all(|h| h.state != wpb::HoldState::Open as i32)
    })
    .await;
    let released = events_of(&tp, &order.order_id)
        .await
        .into_iter()
        .filter(|e| e.r#type == OrderEventType::GuaranteeFundsReleased as i32)
        .count();
    assert_eq!(released, 1);
    assert_eq!(
        balance(&tp, &s.wallet_id, "USD").await.1,
        dec("0"),
        "nothing held"
    );
    assert_eq!(
        balance(&tp, &b.wallet_id, "USD").await,
        (dec("900"), dec("0")),
        "the buyer paid once"
    );
    tp.stop().await
}

#[tokio::test]
async fn the_buyer_pays_the_inspection_fee_from_its_wallet_once() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let s = supplier(&tp, &ops, false, false).await;
    let buyer = acme_buyer(&tp).await;
    let wallet = open_wallet(&tp, &buyer).await;
    let mut req = draft(&s, "USD", seed_lines());
    req.inspection = Some(InspectionService {
        requested: true,
        provider_code: "SGS".to_owned(),
        ..InspectionService::default()
    });
    let drafted = draft_ta(&tp, req).await?;
    let plain = draft_ta(&tp, draft(&s, "USD", seed_lines())).await?;
    let fee = fee_line(&drafted, FeeType::InspectionServiceFee).amount;
    assert_eq!(amount(&fee), Decimal::from(48), "from USD 48");
    let mut ob = orders_for(&tp, &buyer);
    let pay = |order_id: &str| PayInspectionFeeRequest {
        request_id: rid(),
        order_id: order_id.to_owned(),
    };

    // Nothing to pay on an order without the service; the supplier cannot pay it.
    let none = ob
        .pay_inspection_fee(pay(&plain.order_id))
        .await
        .expect_err("no inspection");
    refused(&none, Code::FailedPrecondition, "INSPECTION_NOT_REQUESTED");
    let not_buyer = orders_for(&tp, &s.account_id)
        .pay_inspection_fee(pay(&drafted.order_id))
        .await
        .expect_err("the supplier");
    refused(&not_buyer, Code::PermissionDenied, "NOT_OWNER");
    // USD 47.99 available: refused by wallet, nothing charged, the request's answer kept.
    tp.reach().top_up(&wallet, "USD", "47.99").await?;
    let short = pay(&drafted.order_id);
    let err = ob
        .pay_inspection_fee(short.clone())
        .await
        .expect_err("a cent short");
    refused(&err, Code::FailedPrecondition, "INSUFFICIENT_FUNDS");
    let again = ob.pay_inspection_fee(short).await.expect_err("replayed");
    refused(&again, Code::FailedPrecondition, "INSUFFICIENT_FUNDS");
    assert!(
        trade_of(&get(&tp, &drafted.order_id).await)
            .inspection
            .as_ref()
            .is_some_and(|i| i.paid_time.is_none())
    );

    // A cent more: four requests at once pay it once.
    tp.reach().top_up(&wallet, "USD", "0.01").await?;
    let at_once: Vec<_> = (0..4)
        .map(|_| {
            let mut c = ob.clone();
            let r = pay(&drafted.order_id);
            async move { c.pay_inspection_fee(r).await }
        })
        .collect();
    let answers = futures_util::future::join_all(at_once).await;
    let paid: Vec<Order> = answers
        .into_iter()
        .filter_map(|a| match a {
            Ok(r) => r.into_inner().order,
            Err(e) => {
                refused(&e, Code::FailedPrecondition, "INSPECTION_FEE_ALREADY_PAID");
                None
            }
        })
        .collect();
    assert!(!paid.is_empty());
    let o = get(&tp, &drafted.order_id).await;
    let inspection = trade_of(&o).inspection.clone().expect("inspection");
    assert!(inspection.paid_time.is_some());
    assert!(!inspection.fee_journal_entry_id.is_empty());
    let balance = tp
        .wallet()
        .get_wallet(wpb::GetWalletRequest {
            lookup: Some(wpb::get_wallet_request::Lookup::WalletId(wallet.clone())),
        })
        .await?
        .into_inner()
        .wallet
        .expect("wallet")
        .balances
        .into_iter()
        .find(|b| b.currency_code == "USD")
        .expect("USD");
    assert_eq!(
        amount(&balance.available),
        Decimal::ZERO,
        "charged once: 48.00"
    );
    let events = events_of(&tp, &drafted.order_id).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.r#type == OrderEventType::InspectionFeePaid as i32)
            .count(),
        1
    );
    let later = ob
        .pay_inspection_fee(pay(&drafted.order_id))
        .await
        .expect_err("paid");
    refused(
        &later,
        Code::FailedPrecondition,
        "INSPECTION_FEE_ALREADY_PAID",
    );
    // The service paid for is the one performed: it no longer changes.
    let mut change = o.clone();
    if let Some(order::Details::Trade(t)) = change.details.as_mut() {
        t.inspection = None;
    }
    let mut mask = UpdateOrderRequest::default()
        .update_mask
        .take()
        .unwrap_or_default();
    mask.paths = vec!["trade.inspection".to_owned()];
    let err = orders_for(&tp, &s.account_id)
        .update_order(UpdateOrderRequest {
            request_id: rid(),
            order_id: o.order_id.clone(),
            order: Some(change),
            update_mask: Some(mask),
            etag: o.etag.clone(),
            reason: "no inspection after all".into(),
        })
        .await
        .expect_err("paid for");
    refused(&err, Code::FailedPrecondition, "FIELD_NOT_MODIFIABLE");
    tp.stop().await
}
