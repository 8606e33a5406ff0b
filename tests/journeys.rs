//! DOMAIN.md's journeys 1-4, end to end through edge (the public API) against all six
//! services, with the seeds' numbers: onboarding a buyer (personal account, contacts,
//! real name, marketplace binding, business wallet, mandate, top-up, conversion to CNH);
//! a marketplace purchase paid by cross-border pay with the tiered fee, escrow, shipment,
//! receipt and the supplier's funds, and a refund that releases the escrow; a Trade
//! Assurance sale with remittances linked to the prepayment and balance, shipment,
//! review and withdrawal; and a revoked mandate that can no longer pay.
//!
//! People act only through edge with their access tokens. What is not exposed through
//! edge is done by whoever does it in production: operators (real-name review, supplier
//! profiles) with an operator credential, and the bank adapter (inbound remittances).
//! The people and their steps are `support::people`.

use kuajing_proto::authorization::v1 as apb;
use kuajing_proto::edge::v1 as pb;
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::order::v1 as opb;
use kuajing_proto::wallet::v1 as wpb;
use kuajing_testkit::TestPlatform;
use rust_decimal::Decimal;
use tonic::Code;

use crate::support::amount;
use crate::support::people::*;
use kuajing::parties::shipment;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn journey_1_a_buyer_onboards_tops_up_and_converts_to_cnh() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let e = tp.edge();
    let ops = operator(&tp).await;
    let b = onboard_buyer(&tp, &e, &ops, Via::Edge).await;
    assert!(b.cnh_bought > dec("26000") && b.cnh_bought < dec("27000"));

    // The bindings and mandates read back through edge.
    let linked = edge!(
        e,
        b.personal.auth(),
        list_linked_accounts(pb::ListLinkedAccountsRequest {
            status: 0,
            page: None,
        })
    )?;
    assert_eq!(linked.linked_accounts.len(), 1);
    assert_eq!(linked.linked_accounts[0].external_member_id, b.member);
    let mandates = edge!(
        e,
        b.business.auth(),
        list_mandates(pb::ListMandatesRequest::default())
    )?;
    assert_eq!(mandates.mandates.len(), 1);
    assert_eq!(mandates.mandates[0].wallet_id, b.wallet_id);
    let conversions = edge!(
        e,
        b.business.auth(),
        list_conversions(pb::ListConversionsRequest::default())
    )?;
    assert_eq!(conversions.conversions.len(), 1);
    // A token refreshes into a new pair.
    let refreshed = edge!(
        e,
        None,
        refresh_token(pb::RefreshTokenRequest {
            request_id: rid(),
            refresh_token: b.personal.refresh_token.clone(),
        })
    )?;
    let fresh = refreshed.tokens.expect("tokens").access_token;
    let me = edge!(e, Some(fresh), get_me(pb::GetMeRequest {}))?;
    let account = me.account.expect("account");
    assert_eq!(account.account_id, b.personal.account_id);
    assert_eq!(account.member_name, b.personal.member_name);
    assert_eq!(
        account.real_name_status,
        idp::RealNameStatus::Verified as i32
    );
    tp.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn journey_2_a_marketplace_purchase_by_cross_border_pay_in_escrow() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let e = tp.edge();
    let ops = operator(&tp).await;
    let b = onboard_buyer(&tp, &e, &ops, Via::Edge).await;
    let s = supplier(&tp, &e, &ops, Via::Edge).await;
    set_pin(&tp, &e, &b.personal, PERSONAL_PIN).await;

    // An order of 100 x CNY 100.00 with the supplier.
    let order = place_order(&e, &b, &s, 100, "100.00").await;
    status_is(&order, opb::OrderStatus::Unpaid);
    assert_eq!(amount(&order.total_amount), dec("10000.00"));

    // Cross-border pay is offered; a new buyer's applicable monthly amount is 0, so the
    // tier is 0-100K: 0.20 %, CNY 20.00.
    let methods = edge!(
        e,
        b.personal.auth(),
        query_payment_methods(pb::QueryPaymentMethodsRequest {
            order_ids: vec![order.order_id.clone()],
        })
    )?;
    assert!(
        methods
            .common_methods
            .contains(&(opb::PaymentMethod::CrossBorderPay as i32))
    );
    let option = methods.orders[0]
        .options
        .iter()
        .find(|o| o.payment_method == opb::PaymentMethod::CrossBorderPay as i32)
        .expect("cross-border pay");
    assert!(option.available, "{option:?}");
    let fee = option
        .fees
        .iter()
        .map(|f| amount(&f.amount))
        .sum::<Decimal>();
    assert_eq!(fee, dec("20.00"));
    let tier = option.fees[0].tier_basis.as_ref().expect("tier basis");
    assert_eq!(
        dec(&tier.tier.as_ref().expect("tier").rate_percent),
        dec("0.20")
    );

    // Checkout: decision, escrow hold of CNH 10,020.00 on the business wallet, PAID.
    let payment = pay(&e, &b, &[&order], "").await?.payment.expect("payment");
    assert_eq!(
        payment.state,
        opb::PaymentState::Succeeded as i32,
        "{payment:?}"
    );
    assert_eq!(payment.wallet_id, b.wallet_id);
    assert_eq!(payment.total_amount, m("CNH", "10020.00"));
    let item = &payment.items[0];
    assert_eq!(amount(&item.fee), dec("20.00"));
    status_is(
        &order_of(&e, &b.personal, &order.order_id).await,
        opb::OrderStatus::Paid,
    );
    let held = wallet_of(&e, &b.business).await;
    assert_eq!(
        balance(&held, "CNH"),
        (b.cnh_bought - dec("10020.00"), dec("10020.00"))
    );
    let again = edge!(
        e,
        b.personal.auth(),
        get_payment(pb::GetPaymentRequest {
            payment_id: payment.payment_id.clone(),
        })
    )?;
    assert_eq!(
        again.payment.expect("payment").payment_id,
        payment.payment_id
    );

    // The supplier's workbench shows the order to ship; it ships with logistics proof.
    let bench = edge!(
        e,
        s.auth(),
        get_supplier_workbench(pb::GetSupplierWorkbenchRequest::default())
    )?;
    assert!(bench.unavailable_sections.is_empty(), "{bench:?}");
    assert_eq!(bench.order_total, 1);
    let shipped = edge!(
        e,
        s.auth(),
        add_shipment(pb::AddShipmentRequest {
            request_id: rid(),
            order_id: order.order_id.clone(),
            shipment: Some(shipment(&order, "SF Express")),
        })
    )?;
    status_is(&shipped.order.expect("order"), opb::OrderStatus::Shipped);

    // The buyer confirms receipt: the escrow goes to the supplier, the fee to the platform.
    let completed = edge!(
        e,
        b.personal.auth(),
        confirm_receipt(pb::ConfirmReceiptRequest {
            request_id: rid(),
            order_id: order.order_id.clone(),
        })
    )?
    .order
    .expect("order");
    status_is(&completed, opb::OrderStatus::Completed);
    let after = wallet_of(&e, &b.business).await;
    assert_eq!(
        balance(&after, "CNH"),
        (b.cnh_bought - dec("10020.00"), dec("0"))
    );
    // The supplier sees the funds.
    let funds = wallet_of(&e, &s).await;
    assert_eq!(balance(&funds, "CNH"), (dec("10000.00"), dec("0")));
    let overview = edge!(
        e,
        s.auth(),
        get_fund_overview(pb::GetFundOverviewRequest {
            currency_codes: vec!["CNH".to_owned()],
        })
    )?
    .fund_overview
    .expect("overview");
    assert_eq!(
        amount(&overview.currencies[0].available_total),
        dec("10000.00")
    );
    let review = edge!(
        e,
        b.personal.auth(),
        submit_review(pb::SubmitReviewRequest {
            request_id: rid(),
            order_id: order.order_id.clone(),
            review: Some(opb::Review {
                overall_rating: 5,
                comment: "Arrived quickly, well packed.".to_owned(),
                ..Default::default()
            }),
        })
    )?;
    assert_eq!(review.review.expect("review").overall_rating, 5);

    // A second order, paid then refunded in full: the escrow returns to the buyer.
    let second = place_order(&e, &b, &s, 5, "100.00").await;
    let paid = pay(&e, &b, &[&second], "").await?.payment.expect("payment");
    assert_eq!(paid.total_amount, m("CNH", "501.00"));
    let refund = edge!(
        e,
        b.personal.auth(),
        request_refund(pb::RequestRefundRequest {
            request_id: rid(),
            order_id: second.order_id.clone(),
            reason: opb::RefundReason::NoLongerNeeded as i32,
            description: "Ordered twice by mistake.".to_owned(),
            evidence_file_refs: Vec::new(),
            amount: m("CNY", "500.00"),
            return_goods: false,
        })
    )?;
    let refund_id = refund.refund.expect("refund").refund_id;
    let resolved = edge!(
        e,
        s.auth(),
        resolve_refund(pb::ResolveRefundRequest {
            request_id: rid(),
            order_id: second.order_id.clone(),
            refund_id,
            decision: opb::RefundDecision::Approve as i32,
            approved_amount: None,
            note: "Cancelled before shipping.".to_owned(),
        })
    )?;
    status_is(&resolved.order.expect("order"), opb::OrderStatus::Closed);
    let released = wallet_of(&e, &b.business).await;
    assert_eq!(
        balance(&released, "CNH"),
        (b.cnh_bought - dec("10020.00"), dec("0"))
    );

    // The buyer's dashboard counts its orders.
    let dashboard = edge!(
        e,
        b.personal.auth(),
        get_buyer_dashboard(pb::GetBuyerDashboardRequest {})
    )?;
    assert_eq!(dashboard.order_total, 2);
    tp.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn journey_3_a_trade_assurance_sale_from_draft_to_withdrawal() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let e = tp.edge();
    let ops = operator(&tp).await;
    let s = supplier(&tp, &e, &ops, Via::Edge).await;
    let collection = edge!(
        e,
        s.auth(),
        create_receiving_account(pb::CreateReceivingAccountRequest {
            request_id: rid(),
            currency_code: "USD".to_owned(),
            display_name: "USD trade collection".to_owned(),
            purpose: wpb::ReceivingAccountPurpose::TradeCollection as i32,
        })
    )?
    .receiving_account
    .expect("receiving account");
    // The overseas buyer, known to the supplier by email.
    let o = sign_up(
        &tp,
        &e,
        Signup {
            prefix: "olivia",
            account_type: idp::AccountType::Business,
            role: idp::AccountRole::Buyer,
            region: "US",
            email_domain: "example.com",
        },
    )
    .await;

    // The supplier drafts: 1,000 x USD 5.00 + USD 200.00 freight, 30 % prepayment,
    // self-export, international wire, ship within 30 days of the prepayment.
    let drafted = edge!(
        e,
        s.auth(),
        draft_trade_assurance_order(kuajing::parties::led_panels_draft(
            opb::BuyerContact {
                email: o.email.clone(),
                name: "Olivia Smith".to_owned(),
                company_name: "Smith Imports LLC".to_owned(),
                region_code: "US".to_owned(),
                phone: String::new(),
            },
            opb::ShippingAddress {
                recipient_name: "Olivia Smith".to_owned(),
                company_name: "Smith Imports LLC".to_owned(),
                region_code: "US".to_owned(),
                administrative_area: "CA".to_owned(),
                locality: "San Francisco".to_owned(),
                address_lines: vec!["1 Market Street".to_owned()],
                postal_code: "94105".to_owned(),
                ..Default::default()
            },
        ))
    )?
    .order
    .expect("order");
    status_is(&drafted, opb::OrderStatus::AwaitingPrepayment);
    assert_eq!(amount(&drafted.total_amount), dec("5200.00"));
    let Some(opb::order::Details::Trade(trade)) = drafted.details.as_ref() else {
        panic!("a trade order");
    };
    assert_eq!(
        trade.supplier_receiving_account_id,
        collection.receiving_account_id
    );
    let terms = trade.payment_terms.as_ref().expect("terms");
    assert_eq!(amount(&terms.balance), dec("3640.00"));
    let export_fee = drafted
        .fees
        .as_ref()
        .expect("fees")
        .lines
        .iter()
        .find(|l| l.r#type == opb::FeeType::ExportServiceFee as i32)
        .expect("an export service fee");
    assert_eq!(export_fee.configured_cap, m("USD", "100.00"));

    // The buyer sees the order (by its verified email).
    let seen = order_of(&e, &o, &drafted.order_id).await;
    assert_eq!(seen.order_id, drafted.order_id);

    // The prepayment arrives at the supplier's collection account and waits to be linked.
    let prepayment = remit(&tp, &collection, "1560.00").await;
    assert_eq!(prepayment.status, wpb::RemittanceStatus::Unallocated as i32);
    let bench = edge!(
        e,
        s.auth(),
        get_supplier_workbench(pb::GetSupplierWorkbenchRequest::default())
    )?;
    assert!(bench.unavailable_sections.is_empty(), "{bench:?}");
    assert_eq!(bench.unallocated_remittances.len(), 1);
    assert_eq!(bench.orders_awaiting_payment.len(), 1);
    assert_eq!(bench.admissions.len(), 3);
    assert!(bench.admissions[0].admitted, "{:?}", bench.admissions[0]);
    // No credit quota granted yet: what is linked is kept as guarantee funds.
    let quotas = bench.quotas.expect("the quotas section");
    assert_eq!(
        quotas.credit_quota_available.expect("credit").amount,
        "0.00"
    );
    assert!(quotas.fx_quota.is_none(), "no FX quota limit set");

    let linked = edge!(
        e,
        s.auth(),
        link_remittance_to_order(pb::LinkRemittanceToOrderRequest {
            request_id: rid(),
            order_id: drafted.order_id.clone(),
            remittance_id: prepayment.remittance_id.clone(),
            target: opb::PaymentTarget::Prepayment as i32,
            amount: m("USD", "1560.00"),
        })
    )?;
    status_is(
        &linked.order.expect("order"),
        opb::OrderStatus::AwaitingBalance,
    );
    let balance_paid = remit(&tp, &collection, "3640.00").await;
    let linked = edge!(
        e,
        s.auth(),
        link_remittance_to_order(pb::LinkRemittanceToOrderRequest {
            request_id: rid(),
            order_id: drafted.order_id.clone(),
            remittance_id: balance_paid.remittance_id.clone(),
            target: opb::PaymentTarget::Balance as i32,
            amount: m("USD", "3640.00"),
        })
    )?;
    let paid = linked.order.expect("order");
    status_is(&paid, opb::OrderStatus::AwaitingShipment);

    // Shipped by the agreed date with logistics proof, delivered, received, reviewed.
    let shipped = edge!(
        e,
        s.auth(),
        add_shipment(pb::AddShipmentRequest {
            request_id: rid(),
            order_id: drafted.order_id.clone(),
            shipment: Some(opb::Shipment {
                shipping_method: opb::ShippingMethod::Sea as i32,
                carrier_name: "COSCO Shipping".to_owned(),
                ..shipment(&paid, "SF Express")
            }),
        })
    )?;
    status_is(
        shipped.order.as_ref().expect("order"),
        opb::OrderStatus::Shipped,
    );
    let shipment_id = shipped.shipment.expect("shipment").shipment_id;
    let delivered = edge!(
        e,
        s.auth(),
        mark_shipment_delivered(pb::MarkShipmentDeliveredRequest {
            request_id: rid(),
            order_id: drafted.order_id.clone(),
            shipment_id,
            deliver_time: Some(kuajing_platform::time::to_proto(chrono::Utc::now())),
            proof_file_refs: vec!["s3://logistics/pod.jpg".to_owned()],
        })
    )?;
    status_is(
        &delivered.order.expect("order"),
        opb::OrderStatus::AwaitingReceipt,
    );
    let received = edge!(
        e,
        o.auth(),
        confirm_receipt(pb::ConfirmReceiptRequest {
            request_id: rid(),
            order_id: drafted.order_id.clone(),
        })
    )?;
    status_is(&received.order.expect("order"), opb::OrderStatus::Completed);
    edge!(
        e,
        o.auth(),
        submit_review(pb::SubmitReviewRequest {
            request_id: rid(),
            order_id: drafted.order_id.clone(),
            review: Some(opb::Review {
                overall_rating: 4,
                shipping_rating: 5,
                comment: "Good panels, clear communication.".to_owned(),
                ..Default::default()
            }),
        })
    )?;

    // The supplier withdraws USD 1,000.00 to its corporate account: USD 15.00 fee.
    // The USD 5,200 linked, less the export service fee charged at completion (self
    // export, a paid member: 1 %, USD 52.00).
    assert_eq!(amount(&export_fee.amount), dec("52.00"));
    let (available, _) = balance(&wallet_of(&e, &s).await, "USD");
    assert_eq!(available, dec("5148.00"), "linked funds less the fee");
    let bank = edge!(
        e,
        s.auth(),
        register_bank_account(pb::RegisterBankAccountRequest {
            request_id: rid(),
            r#type: wpb::BankAccountType::Corporate as i32,
            holder_name: "Shenzhen Bright Lighting Co., Ltd.".to_owned(),
            bank_name: "Bank of China Shenzhen Branch".to_owned(),
            branch_name: String::new(),
            account_number: "744569812345".to_owned(),
            swift_code: "BKCHCNBJ45A".to_owned(),
            routing_code: String::new(),
            country_code: "CN".to_owned(),
            currency_code: "USD".to_owned(),
        })
    )?
    .bank_account
    .expect("bank account");
    let estimate = edge!(
        e,
        s.auth(),
        estimate_withdrawal_fee(pb::EstimateWithdrawalFeeRequest {
            bank_account_id: bank.bank_account_id.clone(),
            source_fund_pool: wpb::FundPool::Standard as i32,
            amount: m("USD", "1000.00"),
        })
    )?;
    assert_eq!(estimate.fee, m("USD", "15.00"));
    assert_eq!(estimate.net_amount, m("USD", "985.00"));
    set_pin(&tp, &e, &s, BUSINESS_PIN).await;
    let withdrawal = edge!(
        e,
        s.auth(),
        create_withdrawal(pb::CreateWithdrawalRequest {
            request_id: rid(),
            bank_account_id: bank.bank_account_id.clone(),
            source_fund_pool: wpb::FundPool::Standard as i32,
            amount: m("USD", "1000.00"),
            payment_pin: BUSINESS_PIN.to_owned(),
            remark: "June proceeds".to_owned(),
        })
    )?
    .withdrawal
    .expect("withdrawal");
    assert_eq!(withdrawal.status, wpb::WithdrawalStatus::Requested as i32);
    assert_eq!(withdrawal.fee, m("USD", "15.00"));
    let (after, _) = balance(&wallet_of(&e, &s).await, "USD");
    assert_eq!(after, available - dec("1000.00"));
    let listed = edge!(
        e,
        s.auth(),
        list_withdrawals(pb::ListWithdrawalsRequest::default())
    )?;
    assert_eq!(listed.withdrawals.len(), 1);
    tp.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn journey_4_a_revoked_mandate_can_no_longer_pay() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let e = tp.edge();
    let ops = operator(&tp).await;
    let b = onboard_buyer(&tp, &e, &ops, Via::Edge).await;
    let s = supplier(&tp, &e, &ops, Via::Edge).await;
    set_pin(&tp, &e, &b.personal, PERSONAL_PIN).await;
    let order = place_order(&e, &b, &s, 10, "50.00").await;

    // Revoking needs the owner's payment PIN: a wrong one is refused and changes nothing.
    let wrong = edge!(
        e,
        b.business.auth(),
        revoke_mandate(pb::RevokeMandateRequest {
            request_id: rid(),
            mandate_id: b.mandate_id.clone(),
            payment_pin: "000000".to_owned(),
            reason: "Closing the 1688 account".to_owned(),
        })
    )
    .expect_err("a wrong PIN");
    refused(&wrong, Code::PermissionDenied, "PIN_INVALID");
    let revoked = edge!(
        e,
        b.business.auth(),
        revoke_mandate(pb::RevokeMandateRequest {
            request_id: rid(),
            mandate_id: b.mandate_id.clone(),
            payment_pin: BUSINESS_PIN.to_owned(),
            reason: "Closing the 1688 account".to_owned(),
        })
    )?
    .mandate
    .expect("mandate");
    assert_eq!(revoked.state, apb::MandateState::Revoked as i32);

    // The revoked mandate can no longer pay: declined, nothing held, the order unpaid.
    let declined = pay(&e, &b, &[&order], &b.mandate_id)
        .await
        .expect_err("a revoked mandate pays nothing");
    refused(&declined, Code::FailedPrecondition, "PAYMENT_DECLINED");
    assert_eq!(info(&declined, "decision_reason"), "MANDATE_REVOKED");
    status_is(
        &order_of(&e, &b.personal, &order.order_id).await,
        opb::OrderStatus::Unpaid,
    );
    let wallet = wallet_of(&e, &b.business).await;
    assert_eq!(balance(&wallet, "CNH"), (b.cnh_bought, dec("0")));
    // The decision is on the mandate's record.
    let decisions = edge!(
        e,
        b.business.auth(),
        list_decisions(pb::ListDecisionsRequest {
            mandate_id: b.mandate_id.clone(),
            ..Default::default()
        })
    )?;
    assert!(
        decisions
            .decisions
            .iter()
            .any(|d| d.reason == "MANDATE_REVOKED")
    );
    // Nor can the buyer pay without naming the mandate: none is active.
    let none = pay(&e, &b, &[&order], "")
        .await
        .expect_err("no active mandate");
    assert!(
        matches!(none.code(), Code::FailedPrecondition | Code::NotFound),
        "{none:?}"
    );
    tp.stop().await
}
