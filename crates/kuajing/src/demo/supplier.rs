//! The supplier: onboarding (a paid TrustPass member, as the operator records it, opens
//! Trade Assurance, Direct Pay and cross-border pay itself), then a Trade Assurance sale
//! paid by the buyer's wire through the sandbox bank, shipped, and withdrawn.

use std::time::Duration;

use anyhow::Context;
use kuajing_proto::edge::v1 as pb;
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::order::v1 as opb;
use kuajing_proto::sandbox::v1 as sbx;
use kuajing_proto::wallet::v1 as wpb;

use super::{Demo, PIN, Person, authed, balance, decimal, expect, refused, show, step};
use crate::operator::SupplierChange;
use crate::parties::{money, rid, shipment};

/// A registered supplier, admitted to every program, with a wallet.
pub async fn onboard(demo: &Demo) -> anyhow::Result<Person> {
    let supplier = demo
        .sign_up(
            "factory",
            idp::AccountType::Business,
            idp::AccountRole::Supplier,
            "CN",
        )
        .await?;
    let profile = demo
        .ops
        .update_supplier(
            &supplier.account_id,
            &SupplierChange {
                paid: Some(true),
                trustpass: Some(true),
                ..Default::default()
            },
            "bought a TrustPass (诚信通) paid membership",
        )
        .await?;
    expect(
        profile.cross_border_pay_enabled,
        "a paid TrustPass member is enabled for cross-border pay by default",
    )?;
    step(
        "the operator records a paid TrustPass membership (`kuajing operator supplier`): cross-border pay on by default",
    );
    for (program, name) in [
        (idp::AdmissionProgram::TradeAssurance, "Trade Assurance"),
        (idp::AdmissionProgram::DirectPay, "Direct Pay"),
        (idp::AdmissionProgram::CrossBorderPay, "cross-border pay"),
    ] {
        let open = pb::OpenSupplierProgramRequest {
            request_id: rid(),
            program: program as i32,
            agreement_accepted: true,
        };
        let opened = demo
            .call("OpenSupplierProgram", |mut e| {
                let r = authed(&supplier, open.clone());
                async move { e.open_supplier_program(r).await }
            })
            .await?;
        expect(
            opened.admission.is_some_and(|a| a.admitted),
            "the supplier is admitted",
        )?;
        step(format!("opened {name} itself"));
    }
    let opened = pb::OpenWalletRequest { request_id: rid() };
    demo.call("OpenWallet", |mut e| {
        let r = authed(&supplier, opened.clone());
        async move { e.open_wallet(r).await }
    })
    .await?;
    step("wallet opened");
    Ok(supplier)
}

/// The Trade Assurance sale to `buyer`, from draft to a settled withdrawal. Long by
/// design, like the buyer's: a script read in order.
pub async fn journey(demo: &Demo, supplier: &Person, buyer: &Person) -> anyhow::Result<()> {
    let create = pb::CreateReceivingAccountRequest {
        request_id: rid(),
        currency_code: "USD".to_owned(),
        display_name: "USD trade collection".to_owned(),
        purpose: wpb::ReceivingAccountPurpose::TradeCollection as i32,
    };
    let collection = demo
        .call("CreateReceivingAccount", |mut e| {
            let r = authed(supplier, create.clone());
            async move { e.create_receiving_account(r).await }
        })
        .await?
        .receiving_account
        .context("no receiving account")?;
    let number = collection
        .bank_details
        .map(|b| b.account_number)
        .unwrap_or_default();
    step(format!("USD trade collection account {number}"));

    // 1,000 x USD 5.00 + USD 200.00 freight; 30 % prepayment, the balance before shipping.
    let draft = crate::parties::led_panels_draft(
        opb::BuyerContact {
            email: buyer.email.clone(),
            name: "Tan Mei Ling".to_owned(),
            company_name: "Tan Trading Pte Ltd".to_owned(),
            region_code: "SG".to_owned(),
            phone: String::new(),
        },
        opb::ShippingAddress {
            recipient_name: "Tan Mei Ling".to_owned(),
            company_name: "Tan Trading Pte Ltd".to_owned(),
            region_code: "SG".to_owned(),
            locality: "Singapore".to_owned(),
            address_lines: vec!["1 Raffles Place #20-01".to_owned()],
            postal_code: "048616".to_owned(),
            ..Default::default()
        },
    );
    let order = demo
        .call("DraftTradeAssuranceOrder", |mut e| {
            let r = authed(supplier, draft.clone());
            async move { e.draft_trade_assurance_order(r).await }
        })
        .await?
        .order
        .context("no order")?;
    expect(
        order.status == opb::OrderStatus::AwaitingPrepayment as i32,
        "the drafted order awaits the prepayment",
    )?;
    step(format!(
        "Trade Assurance order {} drafted for {} (prepayment USD 1560.00)",
        order.order_id,
        show(&order.total_amount)
    ));

    // The buyer wires the prepayment; the supplier links it (no credit quota granted: it
    // is kept as guarantee funds until the order completes).
    let remittance = demo
        .remit(
            &number,
            "USD",
            "1560.00",
            "Tan Trading Pte Ltd",
            &order.order_id,
        )
        .await?;
    expect(
        remittance.status == wpb::RemittanceStatus::Unallocated as i32,
        "a trade collection waits to be linked",
    )?;
    let link = pb::LinkRemittanceToOrderRequest {
        request_id: rid(),
        order_id: order.order_id.clone(),
        remittance_id: remittance.remittance_id.clone(),
        target: opb::PaymentTarget::Prepayment as i32,
        amount: money("USD", "1560.00"),
    };
    let linked = demo
        .call("LinkRemittanceToOrder", |mut e| {
            let r = authed(supplier, link.clone());
            async move { e.link_remittance_to_order(r).await }
        })
        .await?
        .order
        .context("no order")?;
    expect(
        linked.status == opb::OrderStatus::AwaitingBalance as i32,
        "the prepayment is in",
    )?;
    step(
        "the buyer's bank wires USD 1560.00 (sandbox bank); the supplier links it: guarantee \
         funds until the order completes (no credit quota granted)",
    );

    // The balance, paid from the buyer's wallet: USD topped up first.
    let create = pb::CreateReceivingAccountRequest {
        request_id: rid(),
        currency_code: "USD".to_owned(),
        display_name: "USD top-up".to_owned(),
        purpose: wpb::ReceivingAccountPurpose::TopUp as i32,
    };
    let top_up = demo
        .call("CreateReceivingAccount", |mut e| {
            let r = authed(buyer, create.clone());
            async move { e.create_receiving_account(r).await }
        })
        .await?
        .receiving_account
        .and_then(|a| a.bank_details)
        .map(|b| b.account_number)
        .context("no receiving account")?;
    demo.remit(&top_up, "USD", "3640.00", "Tan Mei Ling", "top-up")
        .await?;
    let pay = pb::PayTradeOrderRequest {
        request_id: rid(),
        order_id: order.order_id.clone(),
        target: opb::PaymentTarget::Balance as i32,
        wallet_id: String::new(),
        fx_source_currency_code: String::new(),
        expected_amount: money("USD", "3640.00"),
        payment_pin: PIN.to_owned(),
    };
    let payment = demo
        .call("PayTradeOrder", |mut e| {
            let r = authed(buyer, pay.clone());
            async move { e.pay_trade_order(r).await }
        })
        .await?
        .payment
        .context("no payment")?;
    expect(
        payment.state == opb::PaymentState::Succeeded as i32,
        "the balance is paid from the wallet",
    )?;
    step(format!(
        "the buyer pays the USD 3640.00 balance from its wallet (payment {}, PIN)",
        payment.payment_id
    ));

    // Shipped, delivered, received.
    let paid = order.clone();
    let ship = pb::AddShipmentRequest {
        request_id: rid(),
        order_id: order.order_id.clone(),
        shipment: Some(opb::Shipment {
            shipping_method: opb::ShippingMethod::Sea as i32,
            ..shipment(&paid, "COSCO Shipping")
        }),
    };
    let shipped = demo
        .call("AddShipment", |mut e| {
            let r = authed(supplier, ship.clone());
            async move { e.add_shipment(r).await }
        })
        .await?;
    let shipment_id = shipped.shipment.context("no shipment")?.shipment_id;
    let deliver = pb::MarkShipmentDeliveredRequest {
        request_id: rid(),
        order_id: order.order_id.clone(),
        shipment_id,
        deliver_time: Some(kuajing_platform::time::to_proto(chrono::Utc::now())),
        proof_file_refs: vec!["s3://logistics/pod.jpg".to_owned()],
    };
    demo.call("MarkShipmentDelivered", |mut e| {
        let r = authed(supplier, deliver.clone());
        async move { e.mark_shipment_delivered(r).await }
    })
    .await?;
    let confirm = pb::ConfirmReceiptRequest {
        request_id: rid(),
        order_id: order.order_id.clone(),
    };
    let received = demo
        .call("ConfirmReceipt", |mut e| {
            let r = authed(buyer, confirm.clone());
            async move { e.confirm_receipt(r).await }
        })
        .await?
        .order
        .context("no order")?;
    expect(
        received.status == opb::OrderStatus::Completed as i32,
        "the order completes",
    )?;
    step("shipped by sea, delivered, receipt confirmed by the buyer");

    // Withdraw USD 1,000.00 to the company's account; the sandbox bank pays it out.
    let register = pb::RegisterBankAccountRequest {
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
    };
    let bank = demo
        .call("RegisterBankAccount", |mut e| {
            let r = authed(supplier, register.clone());
            async move { e.register_bank_account(r).await }
        })
        .await?
        .bank_account
        .context("no bank account")?;
    demo.set_pin(supplier).await?;
    let before = balance(&demo.wallet(supplier).await?, "USD").0;
    let withdraw = pb::CreateWithdrawalRequest {
        request_id: rid(),
        bank_account_id: bank.bank_account_id.clone(),
        source_fund_pool: wpb::FundPool::Standard as i32,
        amount: money("USD", "1000.00"),
        payment_pin: PIN.to_owned(),
        remark: "June proceeds".to_owned(),
    };
    let withdrawal = demo
        .call("CreateWithdrawal", |mut e| {
            let r = authed(supplier, withdraw.clone());
            async move { e.create_withdrawal(r).await }
        })
        .await?
        .withdrawal
        .context("no withdrawal")?;
    step(format!(
        "withdrawal of USD 1000.00 requested: fee {}, net {}",
        show(&withdrawal.fee),
        show(&withdrawal.net_amount)
    ));
    let settled = settled(demo, supplier, &withdrawal.withdrawal_id).await?;
    expect(
        settled.status == wpb::WithdrawalStatus::Completed as i32,
        "the sandbox bank pays the withdrawal out",
    )?;
    let after = balance(&demo.wallet(supplier).await?, "USD").0;
    expect(
        before - after == decimal(&withdrawal.amount),
        "the wallet is debited the amount (fee included) once",
    )?;
    step(format!(
        "the sandbox bank paid {} out (reference {})",
        show(&settled.net_amount),
        settled.bank_reference
    ));
    Ok(())
}

/// Waits for the sandbox bank to settle a withdrawal (`kuajing up --bank-settle-after`);
/// settles it on command when the bank runs in `manual` mode.
async fn settled(
    demo: &Demo,
    supplier: &Person,
    withdrawal_id: &str,
) -> anyhow::Result<wpb::Withdrawal> {
    let get = pb::GetWithdrawalRequest {
        withdrawal_id: withdrawal_id.to_owned(),
    };
    let finished = |w: &wpb::Withdrawal| {
        w.status == wpb::WithdrawalStatus::Completed as i32
            || w.status == wpb::WithdrawalStatus::Failed as i32
    };
    for _ in 0..40 {
        let w = demo
            .call("GetWithdrawal", |mut e| {
                let r = authed(supplier, get.clone());
                async move { e.get_withdrawal(r).await }
            })
            .await?
            .withdrawal
            .context("no withdrawal")?;
        if finished(&w) {
            return Ok(w);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    step("the sandbox bank settles on command (manual mode)");
    demo.sandbox
        .clone()
        .settle_withdrawal(sbx::SettleWithdrawalRequest {
            request_id: rid(),
            withdrawal_id: withdrawal_id.to_owned(),
            outcome: sbx::SettlementOutcome::Completed as i32,
            failure_reason: String::new(),
        })
        .await
        .map_err(|s| refused("SettleWithdrawal (sandbox bank)", &s))?
        .into_inner()
        .withdrawal
        .context("no withdrawal")
}
