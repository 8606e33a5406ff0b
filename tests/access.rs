//! The authorization matrix.
//!
//! - Every EdgeService RPC: without a token (or with a malformed, forged, tampered or
//!   expired one) UNAUTHENTICATED with TOKEN_MISSING / TOKEN_INVALID / TOKEN_EXPIRED,
//!   except the onboarding RPCs the contract makes public; and, with a valid token, every
//!   RPC that names a resource refuses someone else's with PERMISSION_DENIED or NOT_FOUND
//!   (the others act only on the caller's own, which is checked too).
//! - Every internal RPC of identity, wallet, authorization, order and fx, driven by the
//!   contracts' allowed-callers table (`kuajing_proto::callers::CALLERS`): without a
//!   service credential UNAUTHENTICATED, from a caller not in the method's table
//!   PERMISSION_DENIED, from an allowed one neither. The sweeps send the method's encoded
//!   request (an empty one by default) through one generic gRPC call with a raw codec, so
//!   they cover every method without a typed client each.
//! - Rate limits: per caller and per address (RESOURCE_EXHAUSTED RATE_LIMITED with
//!   RetryInfo), never on health or reflection.

use std::collections::BTreeSet;
use std::time::Duration;

use kuajing_platform::token::{AUDIENCE, Claims, ISSUER, SigningKey};
use kuajing_proto::callers::CALLERS;
use kuajing_proto::edge::v1 as pb;
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::order::v1 as opb;
use kuajing_proto::wallet::v1 as wpb;
use kuajing_testkit::{As, Channel, TestPlatform};
use prost::Message;
use prost::bytes::{Buf, BufMut};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::{Code, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

use crate::support::people::{
    self, BUSINESS_PIN, Edge, PERSONAL_PIN, Person, Signup, Via, dec, edge, m, reason, rid,
};

/// Sends and receives messages as the bytes they encode to.
#[derive(Clone, Copy, Debug, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

/// Calls `path` with `body`, an optional `authorization` value and an optional
/// `kj-subject`, retrying while edge answers RATE_LIMITED.
async fn raw(
    channel: &Channel,
    path: &str,
    body: &[u8],
    authorization: Option<&str>,
) -> Result<Vec<u8>, Status> {
    let path: PathAndQuery = path.parse().expect("a gRPC path");
    for _ in 0..60 {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let mut request = tonic::Request::new(body.to_vec());
        if let Some(value) = authorization {
            request
                .metadata_mut()
                .insert("authorization", value.parse().expect("ascii"));
        }
        match grpc.unary(request, path.clone(), Raw).await {
            Err(s) if s.code() == Code::ResourceExhausted && reason(&s) == "RATE_LIMITED" => {
                let wait = s
                    .get_details_retry_info()
                    .and_then(|r| r.retry_delay)
                    .unwrap_or(Duration::from_millis(100));
                tokio::time::sleep(wait).await;
            }
            other => return other.map(tonic::Response::into_inner),
        }
    }
    panic!("{path}: still rate limited");
}

const EDGE: &str = "/kuajing.edge.v1.EdgeService/";

/// The onboarding RPCs that need no token.
const PUBLIC: [&str; 10] = [
    "RegisterAccount",
    "SendVerificationCode",
    "ConfirmContact",
    "Login",
    "EnrollOperatorFactor",
    "SignInOperator",
    "RefreshToken",
    "StartPasswordReset",
    "ResetPassword",
    "OpenPaymentLink",
];

/// Every EdgeService method, from the contracts' table.
fn edge_methods() -> Vec<&'static str> {
    CALLERS
        .iter()
        .filter_map(|(path, _)| path.strip_prefix(EDGE))
        .collect()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A well-formed token for `account_id` signed by a key identity never published.
fn forged(account_id: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    SigningKey::generate().expect("a key").sign(&Claims {
        iss: ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        sub: account_id.to_owned(),
        roles: vec!["buyer".to_owned(), "supplier".to_owned()],
        sid: Uuid::now_v7().to_string(),
        iat: now,
        nbf: now,
        exp: now + 900,
        jti: Uuid::now_v7().to_string(),
    })
}

/// `token` with one character of its signature changed.
fn tampered(token: &str) -> String {
    let mut t = token.to_owned();
    let last = t.pop().expect("a token");
    t.push(if last == 'A' { 'B' } else { 'A' });
    t
}

#[track_caller]
fn unauthenticated(result: &Result<Vec<u8>, Status>, expected: &str, what: &str) {
    match result {
        Err(s) => {
            assert_eq!(s.code(), Code::Unauthenticated, "{what}: {s:?}");
            assert_eq!(reason(s), expected, "{what}: {s:?}");
            assert_eq!(
                s.get_details_error_info()
                    .map(|i| i.domain)
                    .unwrap_or_default(),
                "edge.kuajing",
                "{what}"
            );
        }
        Ok(_) => panic!("{what}: answered without a valid token"),
    }
}

#[track_caller]
fn authenticated(result: &Result<Vec<u8>, Status>, what: &str) {
    if let Err(s) = result {
        assert_ne!(s.code(), Code::Unauthenticated, "{what}: {s:?}");
        assert_ne!(s.code(), Code::Internal, "{what}: {s:?}");
        assert_ne!(s.code(), Code::Unimplemented, "{what}: {s:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_edge_rpc_needs_a_valid_unexpired_token_except_the_public_onboarding()
-> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let e = tp.edge();
    let someone = people::sign_up_via(
        &tp,
        &e,
        Signup {
            prefix: "matrix",
            account_type: idp::AccountType::Personal,
            role: idp::AccountRole::Buyer,
            region: "SG",
            email_domain: "example.com",
        },
        Via::Identity,
    )
    .await;
    let channel = tp.channel_as("edge", As::Nobody);
    let valid = bearer(&someone.token);
    let forged = bearer(&forged(&someone.account_id));
    let tampered = bearer(&tampered(&someone.token));
    let methods = edge_methods();
    assert_eq!(methods.len(), 91, "the contract's EdgeService RPCs");

    for method in &methods {
        let path = format!("{EDGE}{method}");
        let call = |auth: Option<String>| {
            let (channel, path) = (channel.clone(), path.clone());
            async move { raw(&channel, &path, &[], auth.as_deref()).await }
        };
        if PUBLIC.contains(method) {
            // No token needed: the empty request is refused for what it lacks instead.
            let r = call(None).await;
            authenticated(&r, method);
            assert_eq!(r.unwrap_err().code(), Code::InvalidArgument, "{method}");
            let r = call(Some(forged.clone())).await;
            if matches!(*method, "SendVerificationCode" | "ConfirmContact") {
                // Optional, but one sent must be valid.
                unauthenticated(&r, "TOKEN_INVALID", method);
            } else {
                // Ignored.
                authenticated(&r, method);
            }
            continue;
        }
        unauthenticated(&call(None).await, "TOKEN_MISSING", method);
        unauthenticated(
            &call(Some("Basic dXNlcjpwYXNz".to_owned())).await,
            "TOKEN_MISSING",
            method,
        );
        unauthenticated(
            &call(Some("Bearer not.a.token".to_owned())).await,
            "TOKEN_INVALID",
            method,
        );
        unauthenticated(&call(Some(forged.clone())).await, "TOKEN_INVALID", method);
        unauthenticated(&call(Some(tampered.clone())).await, "TOKEN_INVALID", method);
        authenticated(&call(Some(valid.clone())).await, method);
    }

    // Past the access token's 15 minutes and edge's 30 s of leeway, the same token is
    // expired everywhere it is needed.
    tp.clock().advance(Duration::from_secs(15 * 60 + 31));
    for method in methods.iter().filter(|m| !PUBLIC.contains(m)) {
        let r = raw(&channel, &format!("{EDGE}{method}"), &[], Some(&valid)).await;
        unauthenticated(&r, "TOKEN_EXPIRED", method);
    }
    tp.stop().await
}

/// What someone else owns, made through edge as its owners would (setup people come from
/// identity directly, not to spend edge's onboarding rate limit).
struct Victim {
    buyer: people::Buyer,
    supplier: Person,
    paid_order: opb::Order,
    unpaid_order: opb::Order,
    payment_id: String,
    hold_id: String,
    payment_link_id: String,
    transfer_id: String,
    withdrawal_id: String,
    bank_account_id: String,
    collection_remittance_id: String,
    pin_challenge_id: String,
}

async fn victim(tp: &TestPlatform, e: &Edge, ops: &str) -> Victim {
    let buyer = people::onboard_buyer(tp, e, ops, Via::Identity).await;
    let supplier = people::supplier(tp, e, ops, Via::Identity).await;
    // A pending SET_PAYMENT_PIN challenge of the victim, and its PIN.
    let pin_challenge_id = people::set_pin(tp, e, &buyer.personal, PERSONAL_PIN).await;

    let paid_order = people::place_order(e, &buyer, &supplier, 10, "100.00").await;
    let unpaid_order = people::place_order(e, &buyer, &supplier, 1, "100.00").await;
    let payment_link_id = edge!(
        e,
        buyer.personal.auth(),
        create_payment_link(pb::CreatePaymentLinkRequest {
            request_id: rid(),
            order_ids: vec![unpaid_order.order_id.clone()],
            valid_for: None,
        })
    )
    .expect("the victim makes a payment link")
    .payment_link
    .expect("payment link")
    .payment_link_id;
    let payment = people::pay(e, &buyer, &[&paid_order], "")
        .await
        .expect("the victim pays")
        .payment
        .expect("payment");
    assert_eq!(
        payment.state,
        opb::PaymentState::Succeeded as i32,
        "{payment:?}"
    );

    // A transfer between the victims' wallets (made as the order service does).
    let supplier_wallet = people::wallet_of(e, &supplier).await.wallet_id;
    let transfer = tp
        .wallet()
        .create_transfer(wpb::CreateTransferRequest {
            request_id: rid(),
            source_wallet_id: buyer.wallet_id.clone(),
            destination_wallet_id: supplier_wallet,
            amount: m("SGD", "10.00"),
            destination_fund_pool: wpb::FundPool::Standard as i32,
            fee_legs: Vec::new(),
            order_id: String::new(),
            description: "sample fee".to_owned(),
        })
        .await
        .expect("CreateTransfer (service)")
        .into_inner()
        .transfer
        .expect("transfer");

    // The supplier's USD: a top-up, a bank account and a withdrawal; and a trade
    // remittance waiting to be linked.
    async fn receiving(
        e: &Edge,
        owner: &Person,
        purpose: wpb::ReceivingAccountPurpose,
        name: &str,
    ) -> Result<pb::CreateReceivingAccountResponse, Status> {
        edge!(
            e,
            owner.auth(),
            create_receiving_account(pb::CreateReceivingAccountRequest {
                request_id: rid(),
                currency_code: "USD".to_owned(),
                display_name: name.to_owned(),
                purpose: purpose as i32,
            })
        )
    }
    let top_up = receiving(
        e,
        &supplier,
        wpb::ReceivingAccountPurpose::TopUp,
        "USD top-up",
    )
    .await
    .expect("top-up account")
    .receiving_account
    .expect("account");
    people::remit(tp, &top_up, "500.00").await;
    let collection = receiving(
        e,
        &supplier,
        wpb::ReceivingAccountPurpose::TradeCollection,
        "USD trade",
    )
    .await
    .expect("collection account")
    .receiving_account
    .expect("account");
    let collection_remittance = people::remit(tp, &collection, "300.00").await;
    let bank = edge!(
        e,
        supplier.auth(),
        register_bank_account(pb::RegisterBankAccountRequest {
            request_id: rid(),
            r#type: wpb::BankAccountType::Corporate as i32,
            holder_name: "Victim Factory Ltd".to_owned(),
            bank_name: "Bank of China".to_owned(),
            branch_name: String::new(),
            account_number: "744569800001".to_owned(),
            swift_code: "BKCHCNBJ45A".to_owned(),
            routing_code: String::new(),
            country_code: "CN".to_owned(),
            currency_code: "USD".to_owned(),
        })
    )
    .expect("RegisterBankAccount")
    .bank_account
    .expect("bank account");
    people::set_pin(tp, e, &supplier, BUSINESS_PIN).await;
    let withdrawal = edge!(
        e,
        supplier.auth(),
        create_withdrawal(pb::CreateWithdrawalRequest {
            request_id: rid(),
            bank_account_id: bank.bank_account_id.clone(),
            source_fund_pool: wpb::FundPool::Standard as i32,
            amount: m("USD", "100.00"),
            payment_pin: BUSINESS_PIN.to_owned(),
            remark: String::new(),
        })
    )
    .expect("CreateWithdrawal")
    .withdrawal
    .expect("withdrawal");

    Victim {
        buyer,
        supplier,
        paid_order,
        unpaid_order,
        hold_id: payment.items[0].hold_id.clone(),
        payment_link_id,
        payment_id: payment.payment_id,
        transfer_id: transfer.transfer_id,
        withdrawal_id: withdrawal.withdrawal_id,
        bank_account_id: bank.bank_account_id,
        collection_remittance_id: collection_remittance.remittance_id,
        pin_challenge_id,
    }
}

/// One row of the matrix: an RPC called by an intruder with a request naming the victim's
/// resource.
struct Row {
    method: &'static str,
    intruder_is_supplier: bool,
    body: Vec<u8>,
}

fn row(method: &'static str, body: impl Message) -> Row {
    Row {
        method,
        intruder_is_supplier: false,
        body: body.encode_to_vec(),
    }
}

fn supplier_row(method: &'static str, body: impl Message) -> Row {
    Row {
        intruder_is_supplier: true,
        ..row(method, body)
    }
}

/// Every RPC that names a resource, each naming one of the victim's.
fn foreign_rows(v: &Victim) -> Vec<Row> {
    let b = &v.buyer;
    let paid = v.paid_order.order_id.clone();
    let unpaid = v.unpaid_order.order_id.clone();
    vec![
        row(
            "SendVerificationCode",
            pb::SendVerificationCodeRequest {
                request_id: rid(),
                account_id: b.personal.account_id.clone(),
                channel: idp::VerificationChannel::Email as i32,
                purpose: idp::VerificationPurpose::SetPaymentPin as i32,
                reference: String::new(),
            },
        ),
        row(
            "SendVerificationCode",
            pb::SendVerificationCodeRequest {
                request_id: rid(),
                account_id: String::new(),
                channel: idp::VerificationChannel::Email as i32,
                purpose: idp::VerificationPurpose::ActivateMandate as i32,
                reference: b.mandate_id.clone(),
            },
        ),
        row(
            "ConfirmContact",
            pb::ConfirmContactRequest {
                request_id: rid(),
                account_id: b.personal.account_id.clone(),
                challenge_id: rid(),
                code: "123456".to_owned(),
            },
        ),
        row(
            "Logout",
            pb::LogoutRequest {
                request_id: rid(),
                refresh_token: b.personal.refresh_token.clone(),
                all_sessions: false,
            },
        ),
        row(
            "ConfirmContactChange",
            pb::ConfirmContactChangeRequest {
                request_id: rid(),
                challenge_id: v.pin_challenge_id.clone(),
                code: "123456".to_owned(),
            },
        ),
        row(
            "GetRealNameVerification",
            pb::GetRealNameVerificationRequest {
                real_name_verification_id: b.real_name_verification_id.clone(),
            },
        ),
        row(
            "UnbindMarketplaceAccount",
            pb::UnbindMarketplaceAccountRequest {
                request_id: rid(),
                linked_account_id: b.linked_account_id.clone(),
                reason: String::new(),
            },
        ),
        row(
            "SetPaymentPin",
            pb::SetPaymentPinRequest {
                request_id: rid(),
                pin: "111111".to_owned(),
                challenge_id: v.pin_challenge_id.clone(),
                code: "123456".to_owned(),
            },
        ),
        row(
            "ListRemittances",
            pb::ListRemittancesRequest {
                receiving_account_id: b.receiving_account_id.clone(),
                ..Default::default()
            },
        ),
        row(
            "GetRemittance",
            pb::GetRemittanceRequest {
                remittance_id: b.top_up.remittance_id.clone(),
            },
        ),
        row(
            "GetJournalEntry",
            pb::GetJournalEntryRequest {
                journal_entry_id: b.top_up.journal_entry_id.clone(),
            },
        ),
        row(
            "GetTransfer",
            pb::GetTransferRequest {
                transfer_id: v.transfer_id.clone(),
            },
        ),
        row(
            "EstimateWithdrawalFee",
            pb::EstimateWithdrawalFeeRequest {
                bank_account_id: v.bank_account_id.clone(),
                source_fund_pool: 0,
                amount: m("USD", "10.00"),
            },
        ),
        row(
            "CreateWithdrawal",
            pb::CreateWithdrawalRequest {
                request_id: rid(),
                bank_account_id: v.bank_account_id.clone(),
                source_fund_pool: 0,
                amount: m("USD", "10.00"),
                payment_pin: "111111".to_owned(),
                remark: String::new(),
            },
        ),
        row(
            "GetWithdrawal",
            pb::GetWithdrawalRequest {
                withdrawal_id: v.withdrawal_id.clone(),
            },
        ),
        row(
            "GetQuote",
            pb::GetQuoteRequest {
                quote_id: b.quote_id.clone(),
            },
        ),
        row(
            "ExecuteQuote",
            pb::ExecuteQuoteRequest {
                request_id: rid(),
                quote_id: b.quote_id.clone(),
            },
        ),
        row(
            "GetConversion",
            pb::GetConversionRequest {
                conversion_id: b.conversion_id.clone(),
            },
        ),
        row(
            "ActivateMandate",
            pb::ActivateMandateRequest {
                request_id: rid(),
                mandate_id: b.mandate_id.clone(),
                agreement_accepted: true,
                agreement_version: "kjb-2023-02".to_owned(),
                challenge_id: rid(),
                code: "123456".to_owned(),
            },
        ),
        row(
            "GetMandate",
            pb::GetMandateRequest {
                mandate_id: b.mandate_id.clone(),
            },
        ),
        row(
            "RevokeMandate",
            pb::RevokeMandateRequest {
                request_id: rid(),
                mandate_id: b.mandate_id.clone(),
                payment_pin: "111111".to_owned(),
                reason: String::new(),
            },
        ),
        row(
            "ListDecisions",
            pb::ListDecisionsRequest {
                mandate_id: b.mandate_id.clone(),
                ..Default::default()
            },
        ),
        row(
            "GetLimits",
            pb::GetLimitsRequest {
                mandate_id: b.mandate_id.clone(),
            },
        ),
        row(
            "CreateMarketplaceOrder",
            pb::CreateMarketplaceOrderRequest {
                request_id: rid(),
                buyer_linked_account_id: b.linked_account_id.clone(),
                supplier_account_id: v.supplier.account_id.clone(),
                lines: v.unpaid_order.lines.clone(),
                logistics: match &v.unpaid_order.details {
                    Some(opb::order::Details::Marketplace(d)) => d.logistics.clone(),
                    _ => None,
                },
                ..Default::default()
            },
        ),
        row(
            "DraftTradeAssuranceOrder",
            pb::DraftTradeAssuranceOrderRequest {
                request_id: rid(),
                supplier_account_id: v.supplier.account_id.clone(),
                buyer_account_id: b.personal.account_id.clone(),
                currency_code: "USD".to_owned(),
                ..Default::default()
            },
        ),
        supplier_row(
            "DraftTradeAssuranceOrder",
            pb::DraftTradeAssuranceOrderRequest {
                request_id: rid(),
                supplier_account_id: v.supplier.account_id.clone(),
                currency_code: "USD".to_owned(),
                ..Default::default()
            },
        ),
        row(
            "GetOrder",
            pb::GetOrderRequest {
                key: Some(pb::get_order_request::Key::OrderId(paid.clone())),
            },
        ),
        row(
            "GetOrder",
            pb::GetOrderRequest {
                key: Some(pb::get_order_request::Key::OrderNumber(
                    v.paid_order.order_number.clone(),
                )),
            },
        ),
        row("UpdateOrder", {
            let mut update = pb::UpdateOrderRequest {
                request_id: rid(),
                order_id: unpaid.clone(),
                order: Some(v.unpaid_order.clone()),
                update_mask: Some(Default::default()),
                etag: String::new(),
                reason: String::new(),
            };
            if let Some(mask) = update.update_mask.as_mut() {
                mask.paths = vec!["lines".to_owned()];
            }
            update
        }),
        supplier_row(
            "AcceptOrder",
            pb::AcceptOrderRequest {
                request_id: rid(),
                order_id: unpaid.clone(),
                ..Default::default()
            },
        ),
        row(
            "RejectOrder",
            pb::RejectOrderRequest {
                request_id: rid(),
                order_id: unpaid.clone(),
                reason_text: String::new(),
            },
        ),
        row(
            "ConfirmOrder",
            pb::ConfirmOrderRequest {
                request_id: rid(),
                order_id: unpaid.clone(),
                etag: v.unpaid_order.etag.clone(),
            },
        ),
        row(
            "QueryPaymentMethods",
            pb::QueryPaymentMethodsRequest {
                order_ids: vec![unpaid.clone()],
            },
        ),
        row(
            "EstimateOrderFees",
            pb::EstimateOrderFeesRequest {
                subject: Some(pb::estimate_order_fees_request::Subject::OrderId(
                    paid.clone(),
                )),
                ..Default::default()
            },
        ),
        row(
            "EstimateOrderFees",
            pb::EstimateOrderFeesRequest {
                subject: Some(pb::estimate_order_fees_request::Subject::Draft(
                    opb::FeeEstimateDraft {
                        kind: opb::OrderKind::TradeAssurance as i32,
                        buyer_account_id: b.personal.account_id.clone(),
                        ..Default::default()
                    },
                )),
                ..Default::default()
            },
        ),
        row(
            "PayOrders",
            pb::PayOrdersRequest {
                request_id: rid(),
                order_ids: vec![unpaid.clone()],
                payment_method: opb::PaymentMethod::CrossBorderPay as i32,
                payment_pin: "111111".to_owned(),
                ..Default::default()
            },
        ),
        row(
            "GetPayment",
            pb::GetPaymentRequest {
                payment_id: v.payment_id.clone(),
            },
        ),
        row(
            "CreatePaymentLink",
            pb::CreatePaymentLinkRequest {
                request_id: rid(),
                order_ids: vec![v.unpaid_order.order_id.clone()],
                valid_for: None,
            },
        ),
        row(
            "RevokePaymentLink",
            pb::RevokePaymentLinkRequest {
                request_id: rid(),
                payment_link_id: v.payment_link_id.clone(),
            },
        ),
        row(
            "WatchPayment",
            pb::WatchPaymentRequest {
                payment_id: v.payment_id.clone(),
                ..Default::default()
            },
        ),
        row(
            "GetHold",
            pb::GetHoldRequest {
                hold_id: v.hold_id.clone(),
            },
        ),
        supplier_row(
            "LinkRemittanceToOrder",
            pb::LinkRemittanceToOrderRequest {
                request_id: rid(),
                order_id: paid.clone(),
                remittance_id: v.collection_remittance_id.clone(),
                target: opb::PaymentTarget::Prepayment as i32,
                amount: m("USD", "300.00"),
            },
        ),
        supplier_row(
            "AddShipment",
            pb::AddShipmentRequest {
                request_id: rid(),
                order_id: paid.clone(),
                shipment: Some(kuajing::parties::shipment(&v.paid_order, "SF Express")),
            },
        ),
        supplier_row(
            "MarkShipmentDelivered",
            pb::MarkShipmentDeliveredRequest {
                request_id: rid(),
                order_id: paid.clone(),
                shipment_id: rid(),
                deliver_time: Some(kuajing_platform::time::to_proto(chrono::Utc::now())),
                proof_file_refs: Vec::new(),
            },
        ),
        row(
            "ConfirmReceipt",
            pb::ConfirmReceiptRequest {
                request_id: rid(),
                order_id: paid.clone(),
            },
        ),
        row(
            "PayInspectionFee",
            pb::PayInspectionFeeRequest {
                request_id: rid(),
                order_id: paid.clone(),
            },
        ),
        row(
            "PayTradeOrder",
            pb::PayTradeOrderRequest {
                request_id: rid(),
                order_id: paid.clone(),
                target: opb::PaymentTarget::Prepayment as i32,
                payment_pin: "111111".to_owned(),
                ..Default::default()
            },
        ),
        row(
            "CancelOrder",
            pb::CancelOrderRequest {
                request_id: rid(),
                order_id: unpaid.clone(),
                reason_text: String::new(),
            },
        ),
        row(
            "RequestRefund",
            pb::RequestRefundRequest {
                request_id: rid(),
                order_id: paid.clone(),
                reason: opb::RefundReason::NotReceived as i32,
                amount: m("CNY", "1.00"),
                ..Default::default()
            },
        ),
        row(
            "ResolveRefund",
            pb::ResolveRefundRequest {
                request_id: rid(),
                order_id: paid.clone(),
                refund_id: rid(),
                decision: opb::RefundDecision::Withdraw as i32,
                ..Default::default()
            },
        ),
        row(
            "SubmitReview",
            pb::SubmitReviewRequest {
                request_id: rid(),
                order_id: paid.clone(),
                review: Some(opb::Review {
                    overall_rating: 1,
                    ..Default::default()
                }),
            },
        ),
        row(
            "ListOrderEvents",
            pb::ListOrderEventsRequest {
                order_id: paid.clone(),
                ..Default::default()
            },
        ),
    ]
}

/// RPCs that name nothing a caller could not own: they act on the caller's own account,
/// wallet, mandates or orders (or on public data), whatever the request says.
const OWN_ONLY: [&str; 42] = [
    "RegisterAccount",
    "Login",
    // By identifier and password (and code): an operator's own sign-in.
    "EnrollOperatorFactor",
    "SignInOperator",
    "RefreshToken",
    // By identifier and code: the code is the proof, whoever sends it.
    "StartPasswordReset",
    "ResetPassword",
    // By its token: whoever holds it may open it.
    "OpenPaymentLink",
    "StartContactChange",
    "ChangePassword",
    "GetMe",
    "SubmitRealNameVerification",
    "BindMarketplaceAccount",
    "ListLinkedAccounts",
    "ListSecurityEvents",
    "OpenWallet",
    "GetBuyerDashboard",
    "GetSupplierWorkbench",
    "OpenSupplierProgram",
    "GetSupplierProfile",
    "CheckSupplierAdmission",
    "GetWallet",
    "CreateReceivingAccount",
    "ListReceivingAccounts",
    "ListStatementLines",
    "CreateTransfer",
    "RegisterBankAccount",
    "ListBankAccounts",
    "ListWithdrawalFeeRules",
    "ListWithdrawals",
    "GetFundOverview",
    "PayArrears",
    "ListHolds",
    "ListRates",
    "GetRate",
    "CreateQuote",
    "ListConversions",
    "CreateMandate",
    "ListMandates",
    "ListRestrictedCategories",
    "DraftDirectPayOrder",
    "ListOrders",
];

/// Reasons that say "not yours" (or "no such thing", for ids that must not be probed).
const NOT_YOURS: [&str; 5] = [
    "NOT_OWNER",
    "RESOURCE_NOT_FOUND",
    "MANDATE_NOT_FOUND",
    "LINKED_ACCOUNT_NOT_FOUND",
    "WALLET_NOT_OWNED",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_edge_rpc_that_names_a_resource_refuses_someone_elses() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let e = tp.edge();
    let ops = people::operator(&tp).await;
    let v = victim(&tp, &e, &ops).await;
    let intruder = people::sign_up_via(
        &tp,
        &e,
        Signup {
            prefix: "intruder",
            account_type: idp::AccountType::Personal,
            role: idp::AccountRole::Buyer,
            region: "SG",
            email_domain: "example.com",
        },
        Via::Identity,
    )
    .await;
    edge!(
        e,
        intruder.auth(),
        open_wallet(pb::OpenWalletRequest { request_id: rid() })
    )?;
    let rogue_supplier = people::supplier(&tp, &e, &ops, Via::Identity).await;

    // Every method is in the matrix: it names a resource (rows) or acts on the caller's
    // own only.
    let rows = foreign_rows(&v);
    let covered: BTreeSet<&str> = rows
        .iter()
        .map(|r| r.method)
        .chain(OWN_ONLY.iter().copied())
        .chain(["CountOrdersByStatus"])
        .collect();
    let all: BTreeSet<&str> = edge_methods().into_iter().collect();
    assert_eq!(covered, all, "every EdgeService RPC has a row");

    let channel = tp.channel_as("edge", As::Nobody);
    let mut failures = Vec::new();
    for r in &rows {
        let who = if r.intruder_is_supplier {
            &rogue_supplier
        } else {
            &intruder
        };
        let result = raw(
            &channel,
            &format!("{EDGE}{}", r.method),
            &r.body,
            Some(&bearer(&who.token)),
        )
        .await;
        match result {
            Ok(_) => failures.push(format!("{}: someone else's resource was served", r.method)),
            Err(s) if !matches!(s.code(), Code::PermissionDenied | Code::NotFound) => {
                failures.push(format!("{}: {:?} {}", r.method, s.code(), s.message()));
            }
            Err(s) if !NOT_YOURS.contains(&reason(&s).as_str()) => failures.push(format!(
                "{}: refused for another reason: {} {}",
                r.method,
                reason(&s),
                s.message()
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // GetOrder and GetPayment answer like missing ones: ids cannot be probed.
    for r in rows
        .iter()
        .filter(|r| matches!(r.method, "GetOrder" | "GetPayment" | "WatchPayment"))
    {
        let s = raw(
            &channel,
            &format!("{EDGE}{}", r.method),
            &r.body,
            Some(&bearer(&intruder.token)),
        )
        .await
        .expect_err("hidden");
        assert_eq!(s.code(), Code::NotFound, "{}: {s:?}", r.method);
    }

    // The own-only RPCs show the caller its own things and nothing of the victim's.
    let wallet = people::wallet_of(&e, &intruder).await;
    assert_eq!(wallet.owner_account_id, intruder.account_id);
    assert_eq!(people::balance(&wallet, "CNH"), (dec("0"), dec("0")));
    let me = edge!(e, intruder.auth(), get_me(pb::GetMeRequest {}))?;
    assert_eq!(me.account.expect("account").account_id, intruder.account_id);
    let mandates = edge!(
        e,
        intruder.auth(),
        list_mandates(pb::ListMandatesRequest::default())
    )?;
    assert!(mandates.mandates.is_empty());
    let orders = edge!(
        e,
        intruder.auth(),
        list_orders(pb::ListOrdersRequest::default())
    )?;
    assert!(orders.orders.is_empty());
    let counts = edge!(
        e,
        rogue_supplier.auth(),
        count_orders_by_status(pb::CountOrdersByStatusRequest::default())
    )?;
    assert_eq!(counts.total, 0);
    let linked = edge!(
        e,
        intruder.auth(),
        list_linked_accounts(pb::ListLinkedAccountsRequest::default())
    )?;
    assert!(linked.linked_accounts.is_empty());
    let dashboard = edge!(
        e,
        intruder.auth(),
        get_buyer_dashboard(pb::GetBuyerDashboardRequest {})
    )?;
    assert!(dashboard.mandates.is_empty() && dashboard.order_total == 0);
    // A role-specific RPC refuses the other role before anything is called.
    let s = edge!(
        e,
        intruder.auth(),
        get_supplier_workbench(pb::GetSupplierWorkbenchRequest::default())
    )
    .expect_err("buyers have no workbench");
    people::refused(&s, Code::PermissionDenied, "ROLE_REQUIRED");
    assert_eq!(people::info(&s, "required_role"), "supplier");
    // The victim's things are untouched.
    let victim_wallet = people::wallet_of(&e, &v.buyer.business).await;
    assert!(
        people::balance(&victim_wallet, "CNH").1 > dec("0"),
        "escrow still held"
    );
    tp.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_internal_rpc_needs_a_service_credential_from_an_allowed_caller() -> anyhow::Result<()>
{
    let tp = TestPlatform::start().await?;
    let everyone = [
        "edge",
        "identity",
        "wallet",
        "authorization",
        "order",
        "fx",
        "operator",
        "auditor",
        "bank",
        "logistics",
    ];
    let mut methods = 0;
    for (path, allowed) in CALLERS {
        let services: Vec<&str> = match path.split('.').nth(1) {
            Some("edge") | None => continue,
            // Every service behind the credential check serves the operator audit log.
            Some("audit") => kuajing::operator::AUDITED.to_vec(),
            Some(s) => vec![s],
        };
        for service in services {
            methods += 1;
            // No credential at all.
            let r = raw(&tp.channel_as(service, As::Nobody), path, &[], None).await;
            let s = r.expect_err("no credential");
            assert_eq!(s.code(), Code::Unauthenticated, "{path}: {s:?}");
            assert_eq!(reason(&s), "SERVICE_CREDENTIAL_MISSING", "{path}");
            // Every caller not in the method's table.
            for caller in everyone.iter().filter(|c| !allowed.contains(c)) {
                let channel = tp.channel_as(service, As::Caller((*caller).to_owned()));
                let s = raw(&channel, path, &[], None)
                    .await
                    .expect_err("not allowed");
                assert_eq!(
                    s.code(),
                    Code::PermissionDenied,
                    "{path} as {caller}: {s:?}"
                );
                assert_eq!(reason(&s), "CALLER_NOT_ALLOWED", "{path} as {caller}");
            }
            // Edge naming nobody where the contract says it acts for a person: refused.
            if allowed.contains(&"edge") && kuajing_proto::callers::edge_needs_subject(path) {
                let channel = tp.channel_as(service, As::Caller("edge".to_owned()));
                let s = raw(&channel, path, &[], None)
                    .await
                    .expect_err("edge for nobody");
                assert_eq!(s.code(), Code::PermissionDenied, "{path}: {s:?}");
                assert_eq!(reason(&s), "SUBJECT_REQUIRED", "{path}");
            }
            // Every caller in it gets past the credential check (edge for a person).
            for caller in allowed.iter() {
                let mut channel = tp.channel_as(service, As::Caller((*caller).to_owned()));
                if *caller == "edge" {
                    channel = channel.acting_for(&Uuid::now_v7().to_string());
                }
                if let Err(s) = raw(&channel, path, &[], None).await {
                    assert!(
                        !matches!(
                            reason(&s).as_str(),
                            "SERVICE_CREDENTIAL_MISSING"
                                | "SERVICE_CREDENTIAL_INVALID"
                                | "CALLER_NOT_ALLOWED"
                                | "SUBJECT_REQUIRED"
                        ),
                        "{path} as {caller}: {s:?}"
                    );
                    assert_ne!(s.code(), Code::Unimplemented, "{path} is not built");
                }
            }
        }
    }
    assert!(methods > 90, "the five services' RPCs: {methods}");
    tp.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn edge_limits_rates_per_caller_and_address_but_never_health_or_reflection()
-> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let e = tp.edge();
    let someone = people::sign_up_via(
        &tp,
        &e,
        Signup {
            prefix: "hasty",
            account_type: idp::AccountType::Personal,
            role: idp::AccountRole::Buyer,
            region: "SG",
            email_domain: "example.com",
        },
        Via::Identity,
    )
    .await;

    // A caller's burst is 40 (refilled at 20 a second): 80 requests at once overflow it.
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..80 {
        let mut c = e.clone();
        let request = people::authed(Some(&someone.token), pb::ListRatesRequest::default());
        burst.spawn(async move { c.list_rates(request).await });
    }
    let mut limited = Vec::new();
    while let Some(done) = burst.join_next().await {
        if let Err(s) = done? {
            limited.push(s);
        }
    }
    assert!(limited.len() >= 20, "{} of 80 limited", limited.len());
    for s in &limited {
        people::refused(s, Code::ResourceExhausted, "RATE_LIMITED");
        assert_eq!(people::info(s, "scope"), "caller");
    }
    let wait = limited
        .iter()
        .filter_map(|s| s.get_details_retry_info().and_then(|r| r.retry_delay))
        .max()
        .expect("RetryInfo");
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_millis(50),
        "{wait:?}"
    );
    // Health and reflection are never limited.
    for _ in 0..50 {
        tp.health("edge")
            .check(tonic_health::pb::HealthCheckRequest {
                service: "kuajing.edge.v1.EdgeService".to_owned(),
            })
            .await?;
    }
    // Once the delay has passed, the caller is admitted again.
    tokio::time::sleep(wait).await;
    let mut c = e.clone();
    c.list_rates(people::authed(
        Some(&someone.token),
        pb::ListRatesRequest::default(),
    ))
    .await?;

    // Onboarding from one address: 10 a minute, then RATE_LIMITED for the address (the
    // login identifier's own bucket is as large, so ten different names are used).
    let mut limited = None;
    for i in 0..20 {
        let mut c = e.clone();
        let r = c
            .login(pb::LoginRequest {
                request_id: rid(),
                identifier: format!("nobody{i}"),
                password: "wrong-password-1".to_owned(),
            })
            .await;
        match r {
            Err(s) if s.code() == Code::ResourceExhausted => {
                limited = Some((i, s));
                break;
            }
            Err(s) => people::refused(&s, Code::Unauthenticated, "INVALID_CREDENTIALS"),
            Ok(_) => panic!("unknown identifiers cannot log in"),
        }
    }
    let (attempts, s) = limited.expect("onboarding is limited per address");
    assert_eq!(attempts, 10);
    people::refused(&s, Code::ResourceExhausted, "RATE_LIMITED");
    assert_eq!(people::info(&s, "scope"), "ip");
    let wait = s.get_details_retry_info().and_then(|r| r.retry_delay);
    assert!(
        wait.is_some_and(|w| w > Duration::ZERO && w <= Duration::from_secs(6)),
        "{wait:?}"
    );
    // An authenticated caller from the same address is not an onboarding request.
    let me = edge!(e, someone.auth(), get_me(pb::GetMeRequest {}))?;
    assert_eq!(me.account.expect("account").account_id, someone.account_id);
    tp.stop().await
}

/// identity rotates its signing key by the clock (the next key published ahead), and edge
/// accepts a token signed by a key that did not exist when it cached identity's key set:
/// an unknown key id makes it fetch the set again.
#[tokio::test]
async fn signing_keys_rotate_by_the_clock_and_edge_learns_a_key_it_never_saw() -> anyhow::Result<()>
{
    use kuajing_platform::token::KeySet;
    let tp = TestPlatform::start_with_options(&[
        ("identity", &["--signing-key-rotation-secs", "3600"]),
        ("edge", &["--key-refresh-min-interval-ms", "100"]),
    ])
    .await?;
    let e = tp.edge();
    let person = people::sign_up(
        &tp,
        &e,
        Signup {
            prefix: "rotor",
            account_type: idp::AccountType::Personal,
            role: idp::AccountRole::Buyer,
            region: "SG",
            email_domain: "example.sg",
        },
    )
    .await;
    // Edge caches the key set on first use: the signing key and the next one.
    edge!(e, person.auth(), get_me(pb::GetMeRequest {}))?;
    let mut kids = vec![KeySet::token_kid(&person.token)?];
    for rotation in 1..=2 {
        tp.clock().advance(Duration::from_secs(3600 + 60));
        // Past edge's least interval between refetches.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let tokens = edge!(
            e,
            None,
            login(pb::LoginRequest {
                request_id: rid(),
                identifier: person.member_name.clone(),
                password: people::PASSWORD.to_owned(),
            })
        )?
        .tokens
        .expect("tokens");
        let kid = KeySet::token_kid(&tokens.access_token)?;
        assert!(!kids.contains(&kid), "rotation {rotation}: a new key signs");
        kids.push(kid);
        // After the second rotation the signing key was made after edge cached the set.
        let me = edge!(e, Some(tokens.access_token), get_me(pb::GetMeRequest {}))?;
        assert_eq!(
            me.account.expect("account").account_id,
            person.account_id,
            "rotation {rotation}"
        );
    }
    tp.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_withdrawal_fee_schedule_is_open_to_every_signed_in_person() -> anyhow::Result<()> {
    // Its contract says "Ownership: none": a buyer without a wallet reads it too.
    let tp = TestPlatform::start().await?;
    let e = tp.edge();
    let p = people::sign_up_via(
        &tp,
        &e,
        Signup {
            prefix: "reader",
            account_type: idp::AccountType::Personal,
            role: idp::AccountRole::Buyer,
            region: "SG",
            email_domain: "example.com",
        },
        Via::Identity,
    )
    .await;
    let rules = people::edge!(
        e,
        p.auth(),
        list_withdrawal_fee_rules(pb::ListWithdrawalFeeRulesRequest::default())
    )?;
    assert!(!rules.fee_rules.is_empty(), "{rules:?}");
    tp.stop().await
}
