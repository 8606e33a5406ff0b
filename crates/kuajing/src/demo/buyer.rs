//! The buyer journey: register, verify, top up SGD from the sandbox bank, convert to CNH,
//! bind the 1688 member, authorise cross-border pay, pay a marketplace order in escrow,
//! and confirm receipt once the supplier ships.

use anyhow::Context;
use kuajing_proto::edge::v1 as pb;
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::order::v1 as opb;
use kuajing_proto::types::Money;
use kuajing_proto::wallet::v1 as wpb;
use rust_decimal::Decimal;

use super::{Demo, PIN, Person, authed, balance, decimal, expect, show, step};
use crate::parties::{rid, unique};

/// SGD the buyer tops up, and how much of it it converts to CNH.
const TOP_UP: &str = "10000.00";
const CONVERTED: &str = "5000.00";

/// Runs the buyer journey against `supplier`; returns the buyer. Long by design: the
/// journey reads top to bottom as the README tells it, one printed step after another.
pub async fn journey(demo: &Demo, supplier: &Person) -> anyhow::Result<Person> {
    let buyer = demo
        .sign_up(
            "importer",
            idp::AccountType::Personal,
            idp::AccountRole::Buyer,
            "SG",
        )
        .await?;

    // Real name: submitted through edge, approved by the operator.
    let submit = crate::parties::passport("s3://kyc/passport-front.jpg");
    let submitted = demo
        .call("SubmitRealNameVerification", |mut e| {
            let r = authed(&buyer, submit.clone());
            async move { e.submit_real_name_verification(r).await }
        })
        .await?
        .real_name_verification
        .context("no verification")?;
    let reviewed = demo
        .ops
        .review(&submitted.real_name_verification_id, None)
        .await?;
    expect(
        reviewed.status == idp::RealNameStatus::Verified as i32,
        "the operator's approval verifies the real name",
    )?;
    step("real name submitted and approved by the operator (`kuajing operator approve`)");

    // Wallet and PIN.
    let opened = pb::OpenWalletRequest { request_id: rid() };
    demo.call("OpenWallet", |mut e| {
        let r = authed(&buyer, opened.clone());
        async move { e.open_wallet(r).await }
    })
    .await?;
    step("wallet opened");
    demo.set_pin(&buyer).await?;

    // Top up SGD from the sandbox bank.
    let create = pb::CreateReceivingAccountRequest {
        request_id: rid(),
        currency_code: "SGD".to_owned(),
        display_name: "SGD top-up".to_owned(),
        purpose: wpb::ReceivingAccountPurpose::TopUp as i32,
    };
    let account = demo
        .call("CreateReceivingAccount", |mut e| {
            let r = authed(&buyer, create.clone());
            async move { e.create_receiving_account(r).await }
        })
        .await?
        .receiving_account
        .context("no receiving account")?;
    let number = account
        .bank_details
        .map(|b| b.account_number)
        .unwrap_or_default();
    let remittance = demo
        .remit(&number, "SGD", TOP_UP, "Tan Mei Ling", "top-up")
        .await?;
    expect(
        remittance.status == wpb::RemittanceStatus::Credited as i32,
        "a top-up is credited at once",
    )?;
    let topped = demo.wallet(&buyer).await?;
    expect(
        balance(&topped, "SGD").0 == dec(TOP_UP),
        "the SGD top-up is available",
    )?;
    step(format!(
        "SGD {TOP_UP} remitted by the sandbox bank to top-up account {number}"
    ));

    // Quote and convert to CNH.
    let quote_request = pb::CreateQuoteRequest {
        request_id: rid(),
        sell_currency_code: "SGD".to_owned(),
        buy_currency_code: "CNH".to_owned(),
        fixed_amount: Some(pb::create_quote_request::FixedAmount::SellAmount(Money {
            currency_code: "SGD".to_owned(),
            amount: CONVERTED.to_owned(),
        })),
        ttl: None,
    };
    let quote = demo
        .call("CreateQuote", |mut e| {
            let r = authed(&buyer, quote_request.clone());
            async move { e.create_quote(r).await }
        })
        .await?
        .quote
        .context("no quote")?;
    let execute = pb::ExecuteQuoteRequest {
        request_id: rid(),
        quote_id: quote.quote_id.clone(),
    };
    let conversion = demo
        .call("ExecuteQuote", |mut e| {
            let r = authed(&buyer, execute.clone());
            async move { e.execute_quote(r).await }
        })
        .await?
        .conversion
        .context("no conversion")?;
    let cnh = decimal(&conversion.buy_amount);
    expect(
        balance(&demo.wallet(&buyer).await?, "CNH").0 == cnh,
        "the CNH bought is available",
    )?;
    step(format!(
        "quoted at {} and converted SGD {CONVERTED} to {}",
        quote.applied_rate,
        show(&conversion.buy_amount)
    ));

    // Bind the 1688 member and authorise it to pay from the wallet.
    let member = unique("tb1688_");
    let bind = pb::BindMarketplaceAccountRequest {
        request_id: rid(),
        marketplace: idp::Marketplace::Marketplace1688 as i32,
        external_member_id: member.clone(),
        external_account_type: idp::AccountType::Personal as i32,
        member_proof: demo.member_proof(&member, &buyer.account_id).await?,
    };
    let linked = demo
        .call("BindMarketplaceAccount", |mut e| {
            let r = authed(&buyer, bind.clone());
            async move { e.bind_marketplace_account(r).await }
        })
        .await?
        .linked_account
        .context("no linked account")?;
    step(format!("1688 member {member} bound"));
    let create_mandate = pb::CreateMandateRequest {
        request_id: rid(),
        marketplace_member: Some(idp::MarketplaceMember {
            marketplace: idp::Marketplace::Marketplace1688 as i32,
            external_member_id: member.clone(),
        }),
        expire_time: None,
        funding_currency_code: String::new(),
        verification_channel: idp::VerificationChannel::Email as i32,
    };
    let created = demo
        .call("CreateMandate", |mut e| {
            let r = authed(&buyer, create_mandate.clone());
            async move { e.create_mandate(r).await }
        })
        .await?;
    let mandate = created.mandate.context("no mandate")?;
    let challenge = created.challenge.context("no activation challenge")?;
    let code = demo.code(&buyer.email, &challenge.challenge_id).await?;
    let activate = pb::ActivateMandateRequest {
        request_id: rid(),
        mandate_id: mandate.mandate_id.clone(),
        agreement_accepted: true,
        agreement_version: crate::parties::AGREEMENT_VERSION.to_owned(),
        challenge_id: challenge.challenge_id,
        code,
    };
    let active = demo
        .call("ActivateMandate", |mut e| {
            let r = authed(&buyer, activate.clone());
            async move { e.activate_mandate(r).await }
        })
        .await?
        .mandate
        .context("no mandate")?;
    expect(
        active.state == kuajing_proto::authorization::v1::MandateState::Active as i32,
        "the mandate is active",
    )?;
    step("cross-border pay mandate signed and activated with an emailed code");

    // A marketplace order, paid by cross-border pay into escrow.
    let place = pb::CreateMarketplaceOrderRequest {
        request_id: rid(),
        buyer_linked_account_id: linked.linked_account_id.clone(),
        supplier_account_id: supplier.account_id.clone(),
        supplier_member_id: unique("shop"),
        external_order_id: unique("1688-"),
        lines: vec![crate::parties::thermos(100, "25.00")],
        logistics: Some(crate::parties::singapore_express()),
        transaction_method: opb::TransactionMethod::SecuredTransaction as i32,
    };
    let order = demo
        .call("CreateMarketplaceOrder", |mut e| {
            let r = authed(&buyer, place.clone());
            async move { e.create_marketplace_order(r).await }
        })
        .await?
        .order
        .context("no order")?;
    step(format!(
        "marketplace order {} for {}",
        order.order_id,
        show(&order.total_amount)
    ));
    let pay = pb::PayOrdersRequest {
        request_id: rid(),
        order_ids: vec![order.order_id.clone()],
        payment_method: opb::PaymentMethod::CrossBorderPay as i32,
        wallet_id: String::new(),
        mandate_id: String::new(),
        fx_source_currency_code: String::new(),
        expected_total: None,
        payment_pin: PIN.to_owned(),
    };
    let payment = demo
        .call("PayOrders", |mut e| {
            let r = authed(&buyer, pay.clone());
            async move { e.pay_orders(r).await }
        })
        .await?
        .payment
        .context("no payment")?;
    expect(
        payment.state == opb::PaymentState::Succeeded as i32,
        "the payment succeeds",
    )?;
    let held = balance(&demo.wallet(&buyer).await?, "CNH").1;
    expect(
        held == decimal(&payment.total_amount),
        "the order total and fee are held in escrow",
    )?;
    step(format!(
        "PayOrders by cross-border pay: {} held in escrow (goods and fee)",
        show(&payment.total_amount)
    ));

    // The supplier ships; the buyer confirms receipt; escrow pays the supplier.
    let before = balance(&demo.wallet(supplier).await?, "CNH").0;
    let ship = pb::AddShipmentRequest {
        request_id: rid(),
        order_id: order.order_id.clone(),
        shipment: Some(crate::parties::shipment(&order, "SF Express")),
    };
    demo.call("AddShipment", |mut e| {
        let r = authed(supplier, ship.clone());
        async move { e.add_shipment(r).await }
    })
    .await?;
    step("the supplier ships with a waybill");
    let confirm = pb::ConfirmReceiptRequest {
        request_id: rid(),
        order_id: order.order_id.clone(),
    };
    let completed = demo
        .call("ConfirmReceipt", |mut e| {
            let r = authed(&buyer, confirm.clone());
            async move { e.confirm_receipt(r).await }
        })
        .await?
        .order
        .context("no order")?;
    expect(
        completed.status == opb::OrderStatus::Completed as i32,
        "the order completes",
    )?;
    let after = balance(&demo.wallet(supplier).await?, "CNH").0;
    expect(
        after - before == decimal(&order.total_amount),
        "the supplier receives the goods amount",
    )?;
    expect(
        balance(&demo.wallet(&buyer).await?, "CNH").1 == Decimal::ZERO,
        "nothing stays held",
    )?;
    step(format!(
        "receipt confirmed: CNH {} released from escrow to the supplier",
        after - before
    ));
    Ok(buyer)
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str_exact(s).unwrap_or_default()
}
