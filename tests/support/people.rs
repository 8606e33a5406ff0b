//! People acting through edge, as a buyer's or a supplier's app does: an edge client that
//! waits out RATE_LIMITED, sign-up (through edge or, for setup, at identity), operators,
//! payment PINs, wallets and remittances, orders and payment, and DOMAIN.md's journey 1
//! (a buyer onboarded step by step) that the other journeys start from.

use std::future::Future;
use std::time::Duration;

use kuajing_proto::edge::v1 as pb;
use kuajing_proto::edge::v1::edge_service_client::EdgeServiceClient;
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::identity::v1::identity_service_client::IdentityServiceClient;
use kuajing_proto::order::v1 as opb;
use kuajing_proto::types::Money;
use kuajing_proto::wallet::v1 as wpb;
use kuajing_proto::{authorization::v1 as apb, fx::v1 as fxp};
use kuajing_testkit::{As, Channel, TestPlatform};
use rust_decimal::{Decimal, RoundingStrategy};
use sqlx::Connection;
use tonic::{Code, Status};
use tonic_types::StatusExt;

pub(crate) use kuajing::parties::{AGREEMENT_VERSION as AGREEMENT, PASSWORD};

use super::{admin, amount, code_in_outbox};
pub(crate) use super::{dec, m, reason, refused, rid, unique};

/// An edge client.
pub(crate) type Edge = EdgeServiceClient<Channel>;

pub(crate) fn info(s: &Status, key: &str) -> String {
    s.get_details_error_info()
        .and_then(|i| i.metadata.get(key).cloned())
        .unwrap_or_default()
}

/// `message` with the person's access token, or none.
pub(crate) fn authed<T>(token: Option<&str>, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("ascii token"),
        );
    }
    request
}

/// Runs an edge call, waiting as told (RetryInfo) while edge answers RATE_LIMITED, as a
/// well-behaved client does.
pub(crate) async fn admitted<T, F, Fut>(mut call: F) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, Status>>,
{
    for _ in 0..40 {
        match call().await {
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
    panic!("edge kept answering RATE_LIMITED");
}

/// `edge!(client, token, method(message))`: an edge call with an optional access token
/// (`Option<String>`), retried while rate limited.
macro_rules! edge {
    ($client:expr, $token:expr, $method:ident($msg:expr)) => {{
        let message = $msg;
        let token: Option<String> = $token;
        let client = $client.clone();
        $crate::support::people::admitted(|| {
            let mut client = client.clone();
            let request = $crate::support::people::authed(token.as_deref(), message.clone());
            async move { client.$method(request).await }
        })
        .await
    }};
}
pub(crate) use edge;

/// Someone using Kuajing through edge.
#[derive(Clone, Debug)]
pub(crate) struct Person {
    pub account_id: String,
    pub member_name: String,
    pub email: String,
    pub token: String,
    pub refresh_token: String,
}

impl Person {
    /// The access token, for `edge!`.
    pub fn auth(&self) -> Option<String> {
        Some(self.token.clone())
    }
}

/// identity called with an operator credential (operator RPCs are not exposed by edge).
pub(crate) fn operators(tp: &TestPlatform) -> IdentityServiceClient<Channel> {
    IdentityServiceClient::new(tp.channel_as("identity", As::Caller("operator".to_owned())))
}

/// A request an operator makes (its account in `kj-subject`).
pub(crate) fn as_operator<T>(operator: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("kj-subject", operator.parse().expect("ascii id"));
    request
}

/// An operator account (granted the way KJ_IDENTITY_OPERATOR_ACCOUNT_IDS does).
pub(crate) async fn operator(tp: &TestPlatform) -> String {
    let name = unique("ops");
    let account = tp
        .identity()
        .register_account(idp::RegisterAccountRequest {
            request_id: rid(),
            member_name: name.clone(),
            account_type: idp::AccountType::Personal as i32,
            role: idp::AccountRole::Buyer as i32,
            region_code: "CN".to_owned(),
            display_name: "Platform operator".to_owned(),
            email: format!("{name}@kuajing.example"),
            mobile: String::new(),
            password: PASSWORD.to_owned(),
        })
        .await
        .expect("operator account")
        .into_inner()
        .account
        .expect("account");
    let mut conn = admin(tp).await;
    sqlx::query(
        "INSERT INTO identity.operator_grants (account_id, granted_at) VALUES ($1::uuid, now())",
    )
    .bind(&account.account_id)
    .execute(&mut conn)
    .await
    .expect("grant");
    conn.close().await.ok();
    account.account_id
}

/// Who registers.
pub(crate) struct Signup<'a> {
    pub prefix: &'a str,
    pub account_type: idp::AccountType,
    pub role: idp::AccountRole,
    pub region: &'a str,
    pub email_domain: &'a str,
}

/// How a test person gets its account and first token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// Through edge, as a client does (the journeys).
    Edge,
    /// From identity directly, as edge would call it: setup for tests about something
    /// else, which must not spend edge's onboarding rate limit.
    Identity,
}

/// Registers, confirms the email with the code identity sent, and logs in.
pub(crate) async fn sign_up_via(tp: &TestPlatform, e: &Edge, who: Signup<'_>, via: Via) -> Person {
    match via {
        Via::Edge => sign_up(tp, e, who).await,
        Via::Identity => sign_up_at_identity(tp, who).await,
    }
}

pub(crate) async fn sign_up_at_identity(tp: &TestPlatform, who: Signup<'_>) -> Person {
    let name = unique(who.prefix);
    let email = format!("{name}@{}", who.email_domain);
    let mut id = tp.identity();
    let account = id
        .register_account(idp::RegisterAccountRequest {
            request_id: rid(),
            member_name: name.clone(),
            account_type: who.account_type as i32,
            role: who.role as i32,
            region_code: who.region.to_owned(),
            display_name: format!("{name} display"),
            email: email.clone(),
            mobile: String::new(),
            password: PASSWORD.to_owned(),
        })
        .await
        .expect("RegisterAccount (identity)")
        .into_inner()
        .account
        .expect("account");
    let challenge = id
        .send_verification_code(idp::SendVerificationCodeRequest {
            request_id: rid(),
            account_id: account.account_id.clone(),
            channel: idp::VerificationChannel::Email as i32,
            purpose: idp::VerificationPurpose::ConfirmContact as i32,
            reference: String::new(),
        })
        .await
        .expect("SendVerificationCode (identity)")
        .into_inner()
        .challenge
        .expect("challenge");
    let code = code_in_outbox(tp, &challenge.challenge_id).await;
    id.confirm_contact(idp::ConfirmContactRequest {
        request_id: rid(),
        account_id: account.account_id.clone(),
        challenge_id: challenge.challenge_id,
        code,
    })
    .await
    .expect("ConfirmContact (identity)");
    let tokens = id
        .login(kuajing::parties::login_request(&name, PASSWORD))
        .await
        .expect("Login (identity)")
        .into_inner()
        .tokens
        .expect("tokens");
    Person {
        account_id: account.account_id,
        member_name: name,
        email,
        token: tokens.access_token,
        refresh_token: tokens.refresh_token,
    }
}

/// Registers through edge, confirms the email with the code identity sent, and logs in.
pub(crate) async fn sign_up(tp: &TestPlatform, e: &Edge, who: Signup<'_>) -> Person {
    let name = unique(who.prefix);
    let email = format!("{name}@{}", who.email_domain);
    let registered = edge!(
        e,
        None,
        register_account(pb::RegisterAccountRequest {
            request_id: rid(),
            member_name: name.clone(),
            account_type: who.account_type as i32,
            role: who.role as i32,
            region_code: who.region.to_owned(),
            display_name: format!("{name} display"),
            email: email.clone(),
            mobile: String::new(),
            password: PASSWORD.to_owned(),
        })
    )
    .expect("RegisterAccount");
    let [challenge] = registered.challenges.as_slice() else {
        panic!("one CONFIRM_CONTACT challenge for the email: {registered:?}");
    };
    let account = registered.account.clone().expect("account");
    assert!(!account.email_verified);
    assert_eq!(challenge.channel, idp::VerificationChannel::Email as i32);
    let code = code_in_outbox(tp, &challenge.challenge_id).await;
    // Before the first login: no token, the account id RegisterAccount returned.
    let confirmed = edge!(
        e,
        None,
        confirm_contact(pb::ConfirmContactRequest {
            request_id: rid(),
            account_id: account.account_id.clone(),
            challenge_id: challenge.challenge_id.clone(),
            code,
        })
    )
    .expect("ConfirmContact")
    .account
    .expect("account");
    assert!(confirmed.email_verified);
    let login = edge!(
        e,
        None,
        login(pb::LoginRequest {
            request_id: rid(),
            identifier: name.clone(),
            password: PASSWORD.to_owned(),
        })
    )
    .expect("Login");
    let tokens = login.tokens.expect("tokens");
    Person {
        account_id: account.account_id,
        member_name: name,
        email,
        token: tokens.access_token,
        refresh_token: tokens.refresh_token,
    }
}

/// Sets the person's payment PIN with a SET_PAYMENT_PIN code sent to its email.
pub(crate) async fn set_pin(tp: &TestPlatform, e: &Edge, p: &Person, pin: &str) -> String {
    let challenge = edge!(
        e,
        p.auth(),
        send_verification_code(pb::SendVerificationCodeRequest {
            request_id: rid(),
            account_id: String::new(),
            channel: idp::VerificationChannel::Email as i32,
            purpose: idp::VerificationPurpose::SetPaymentPin as i32,
            reference: String::new(),
        })
    )
    .expect("SendVerificationCode SET_PAYMENT_PIN")
    .challenge
    .expect("challenge");
    let code = code_in_outbox(tp, &challenge.challenge_id).await;
    let account = edge!(
        e,
        p.auth(),
        set_payment_pin(pb::SetPaymentPinRequest {
            request_id: rid(),
            pin: pin.to_owned(),
            challenge_id: challenge.challenge_id.clone(),
            code,
        })
    )
    .expect("SetPaymentPin")
    .account
    .expect("account");
    assert!(account.payment_pin_set);
    challenge.challenge_id
}

/// The person's wallet through edge.
pub(crate) async fn wallet_of(e: &Edge, p: &Person) -> wpb::Wallet {
    edge!(e, p.auth(), get_wallet(pb::GetWalletRequest {}))
        .expect("GetWallet")
        .wallet
        .expect("wallet")
}

/// (available, held) in `currency`.
pub(crate) fn balance(wallet: &wpb::Wallet, currency: &str) -> (Decimal, Decimal) {
    let b = wallet
        .balances
        .iter()
        .find(|b| b.currency_code == currency)
        .unwrap_or_else(|| panic!("a {currency} balance"));
    (amount(&b.available), amount(&b.held))
}

/// The bank adapter reports money arriving on a receiving account.
pub(crate) async fn remit(
    tp: &TestPlatform,
    account: &wpb::ReceivingAccount,
    amount: &str,
) -> wpb::Remittance {
    tp.wallet()
        .record_inbound_remittance(wpb::RecordInboundRemittanceRequest {
            request_id: rid(),
            account_number: account
                .bank_details
                .as_ref()
                .expect("bank details")
                .account_number
                .clone(),
            bank_reference: unique("BANKREF"),
            amount: m(&account.currency_code, amount),
            payer: Some(wpb::RemittancePayer {
                name: "ACME Trading Pte Ltd".to_owned(),
                account_number_masked: "****4321".to_owned(),
                bank_name: "DBS Bank".to_owned(),
                country_code: "SG".to_owned(),
            }),
            remittance_info: "INV-2024-001".to_owned(),
            value_time: Some(kuajing_platform::time::to_proto(chrono::Utc::now())),
        })
        .await
        .expect("RecordInboundRemittance (bank adapter)")
        .into_inner()
        .remittance
        .expect("remittance")
}

/// An operator updates a supplier's profile: a paid TrustPass member with cross-border
/// pay enabled (admitted to Trade Assurance, Direct Pay and cross-border pay).
pub(crate) async fn admit_supplier(tp: &TestPlatform, ops: &str, supplier: &Person) {
    let mut req = idp::UpdateSupplierProfileRequest {
        request_id: rid(),
        supplier_profile: Some(idp::SupplierProfile {
            account_id: supplier.account_id.clone(),
            membership: idp::SupplierMembership::Paid as i32,
            trustpass_active: true,
            cross_border_pay_enabled: true,
            ..Default::default()
        }),
        update_mask: Some(Default::default()),
        reason: "TrustPass paid member; signed the cross-border pay agreement".to_owned(),
    };
    if let Some(mask) = req.update_mask.as_mut() {
        mask.paths = vec![
            "membership".to_owned(),
            "trustpass_active".to_owned(),
            "cross_border_pay_enabled".to_owned(),
        ];
    }
    operators(tp)
        .update_supplier_profile(as_operator(ops, req))
        .await
        .expect("UpdateSupplierProfile (operator)");
}

/// A Chinese supplier: registered, email confirmed, logged in, admitted by an operator,
/// with a wallet.
pub(crate) async fn supplier(tp: &TestPlatform, e: &Edge, ops: &str, via: Via) -> Person {
    let s = sign_up_via(
        tp,
        e,
        Signup {
            prefix: "factory",
            account_type: idp::AccountType::Business,
            role: idp::AccountRole::Supplier,
            region: "CN",
            email_domain: "example.cn",
        },
        via,
    )
    .await;
    admit_supplier(tp, ops, &s).await;
    edge!(
        e,
        s.auth(),
        open_wallet(pb::OpenWalletRequest { request_id: rid() })
    )
    .expect("OpenWallet (supplier)");
    s
}

/// Journey 1's result: the personal account (the marketplace buyer), the business wallet
/// account that authorised it, and the mandate.
pub(crate) struct Buyer {
    pub personal: Person,
    pub business: Person,
    pub member: String,
    pub linked_account_id: String,
    pub wallet_id: String,
    pub mandate_id: String,
    pub cnh_bought: Decimal,
    pub real_name_verification_id: String,
    pub receiving_account_id: String,
    pub top_up: wpb::Remittance,
    pub quote_id: String,
    pub conversion_id: String,
}

/// The personal account's payment PIN, and the business account's.
pub(crate) const PERSONAL_PIN: &str = "246810";
pub(crate) const BUSINESS_PIN: &str = "135790";

/// Journey 1, asserting each step: register a personal account, verify the email by
/// code, real-name verification, bind a 1688 account (bound and verified), register a
/// business wallet account (SG), authorise the 1688 account for cross-border pay
/// (agreement + code), open a receiving account, top up SGD 10,000, convert SGD 5,000 to
/// CNH.
pub(crate) async fn onboard_buyer(tp: &TestPlatform, e: &Edge, ops: &str, via: Via) -> Buyer {
    // Personal account, email confirmed, logged in.
    let personal = sign_up_via(
        tp,
        e,
        Signup {
            prefix: "tanmei",
            account_type: idp::AccountType::Personal,
            role: idp::AccountRole::Buyer,
            region: "SG",
            email_domain: "example.com",
        },
        via,
    )
    .await;

    // Real-name verification: PENDING until an operator approves.
    let submitted = edge!(
        e,
        personal.auth(),
        submit_real_name_verification(kuajing::parties::passport("s3://kyc/tanmei-front.jpg"))
    )
    .expect("SubmitRealNameVerification")
    .real_name_verification
    .expect("verification");
    assert_eq!(submitted.status, idp::RealNameStatus::Pending as i32);
    operators(tp)
        .review_real_name_verification(as_operator(
            ops,
            idp::ReviewRealNameVerificationRequest {
                request_id: rid(),
                real_name_verification_id: submitted.real_name_verification_id.clone(),
                decision: idp::ReviewDecision::Approve as i32,
                rejection_reason: String::new(),
            },
        ))
        .await
        .expect("ReviewRealNameVerification (operator)");
    let latest = edge!(
        e,
        personal.auth(),
        get_real_name_verification(pb::GetRealNameVerificationRequest {
            real_name_verification_id: String::new(),
        })
    )
    .expect("GetRealNameVerification")
    .real_name_verification
    .expect("verification");
    assert_eq!(latest.status, idp::RealNameStatus::Verified as i32);

    // The 1688 member bound to the verified personal account: "bound and verified".
    let member = unique("tb1688_");
    let linked = edge!(
        e,
        personal.auth(),
        bind_marketplace_account(pb::BindMarketplaceAccountRequest {
            request_id: rid(),
            marketplace: idp::Marketplace::Marketplace1688 as i32,
            external_member_id: member.clone(),
            external_account_type: idp::AccountType::Personal as i32,
            member_proof: tp
                .reach()
                .member_proof(&member, &personal.account_id)
                .expect("a member proof"),
        })
    )
    .expect("BindMarketplaceAccount")
    .linked_account
    .expect("linked account");
    assert_eq!(linked.status, idp::LinkStatus::BoundVerified as i32);
    assert_eq!(linked.account_id, personal.account_id);

    // The business wallet account, registered in Singapore, with its wallet and PIN.
    let business = sign_up_via(
        tp,
        e,
        Signup {
            prefix: "acmesg",
            account_type: idp::AccountType::Business,
            role: idp::AccountRole::Buyer,
            region: "SG",
            email_domain: "example.com",
        },
        via,
    )
    .await;
    let me = edge!(e, business.auth(), get_me(pb::GetMeRequest {})).expect("GetMe");
    assert_eq!(me.account.expect("account").region_code, "SG");
    assert!(me.wallet_id.is_empty(), "no wallet yet");
    let wallet = edge!(
        e,
        business.auth(),
        open_wallet(pb::OpenWalletRequest { request_id: rid() })
    )
    .expect("OpenWallet")
    .wallet
    .expect("wallet");
    assert_eq!(
        wallet.balances.len(),
        15,
        "one balance per supported currency"
    );
    set_pin(tp, e, &business, BUSINESS_PIN).await;

    // Authorise the 1688 account for cross-border pay: agreement + the 6-digit code.
    let created = edge!(
        e,
        business.auth(),
        create_mandate(pb::CreateMandateRequest {
            request_id: rid(),
            marketplace_member: Some(idp::MarketplaceMember {
                marketplace: idp::Marketplace::Marketplace1688 as i32,
                external_member_id: member.clone(),
            }),
            expire_time: None,
            funding_currency_code: String::new(),
            verification_channel: idp::VerificationChannel::Email as i32,
        })
    )
    .expect("CreateMandate");
    let mandate = created.mandate.expect("mandate");
    assert_eq!(mandate.state, apb::MandateState::PendingVerification as i32);
    let challenge = created.challenge.expect("activation challenge");
    // The code goes to the member's holder, the personal account, not to the business
    // that owns the wallet: the member accepts by giving it.
    let mut conn = admin(tp).await;
    let to: String =
        sqlx::query_scalar("SELECT destination FROM identity.outbox WHERE challenge_id = $1::uuid")
            .bind(&challenge.challenge_id)
            .fetch_one(&mut conn)
            .await
            .expect("the activation code's message");
    conn.close().await.ok();
    assert_eq!(to, personal.email, "the member's holder gets the code");
    let code = code_in_outbox(tp, &challenge.challenge_id).await;
    let active = edge!(
        e,
        business.auth(),
        activate_mandate(pb::ActivateMandateRequest {
            request_id: rid(),
            mandate_id: mandate.mandate_id.clone(),
            agreement_accepted: true,
            agreement_version: AGREEMENT.to_owned(),
            challenge_id: challenge.challenge_id.clone(),
            code,
        })
    )
    .expect("ActivateMandate")
    .mandate
    .expect("mandate");
    assert_eq!(active.state, apb::MandateState::Active as i32);
    assert_eq!(active.wallet_id, wallet.wallet_id);

    // A TOP_UP receiving account in SGD; SGD 10,000.00 arrives.
    let account = edge!(
        e,
        business.auth(),
        create_receiving_account(pb::CreateReceivingAccountRequest {
            request_id: rid(),
            currency_code: "SGD".to_owned(),
            display_name: "SGD top-up".to_owned(),
            purpose: wpb::ReceivingAccountPurpose::TopUp as i32,
        })
    )
    .expect("CreateReceivingAccount")
    .receiving_account
    .expect("receiving account");
    let remittance = remit(tp, &account, "10000.00").await;
    assert_eq!(remittance.status, wpb::RemittanceStatus::Credited as i32);
    let topped = wallet_of(e, &business).await;
    assert_eq!(balance(&topped, "SGD"), (dec("10000.00"), dec("0")));

    // Convert SGD 5,000.00 to CNH at the seed table's cross rate (USD/CNH 7.12 over
    // USD/SGD 1.34) less the 50 bps spread of amounts under USD 10,000.
    let quote = edge!(
        e,
        business.auth(),
        create_quote(pb::CreateQuoteRequest {
            request_id: rid(),
            sell_currency_code: "SGD".to_owned(),
            buy_currency_code: "CNH".to_owned(),
            fixed_amount: Some(pb::create_quote_request::FixedAmount::SellAmount(Money {
                currency_code: "SGD".to_owned(),
                amount: "5000.00".to_owned(),
            })),
            ttl: None,
        })
    )
    .expect("CreateQuote")
    .quote
    .expect("quote");
    let mid = dec(&quote.mid_rate);
    let seed_cross = dec("7.12") / dec("1.34");
    assert!((mid - seed_cross).abs() < dec("0.000000001"), "mid {mid}");
    assert_eq!(quote.spread_bps, 50);
    let applied =
        (mid * dec("0.995")).round_dp_with_strategy(12, RoundingStrategy::MidpointNearestEven);
    assert_eq!(dec(&quote.applied_rate), applied);
    let bought =
        (dec("5000.00") * applied).round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
    assert_eq!(amount(&quote.buy_amount), bought);
    let executed = edge!(
        e,
        business.auth(),
        execute_quote(pb::ExecuteQuoteRequest {
            request_id: rid(),
            quote_id: quote.quote_id.clone(),
        })
    )
    .expect("ExecuteQuote");
    let conversion = executed.conversion.expect("conversion");
    assert_eq!(amount(&conversion.buy_amount), bought);
    assert_eq!(
        executed.quote.expect("quote").state,
        fxp::QuoteState::Executed as i32
    );
    let converted = wallet_of(e, &business).await;
    assert_eq!(balance(&converted, "CNH"), (bought, dec("0")));
    assert_eq!(
        balance(&converted, "SGD").0,
        dec("10000.00") - amount(&conversion.debit_amount)
    );

    // The business account's dashboard: balances and the active mandate.
    let dashboard = edge!(
        e,
        business.auth(),
        get_buyer_dashboard(pb::GetBuyerDashboardRequest {})
    )
    .expect("GetBuyerDashboard");
    assert!(dashboard.unavailable_sections.is_empty(), "{dashboard:?}");
    assert_eq!(dashboard.mandates.len(), 1);
    assert_eq!(dashboard.mandates[0].mandate_id, mandate.mandate_id);
    assert_eq!(
        balance(dashboard.wallet.as_ref().expect("wallet"), "CNH").0,
        bought
    );

    Buyer {
        personal,
        business,
        member,
        linked_account_id: linked.linked_account_id,
        wallet_id: wallet.wallet_id,
        mandate_id: mandate.mandate_id,
        cnh_bought: bought,
        real_name_verification_id: submitted.real_name_verification_id,
        receiving_account_id: account.receiving_account_id,
        top_up: remittance,
        quote_id: quote.quote_id,
        conversion_id: conversion.conversion_id,
    }
}

/// A marketplace order of `quantity` x CNY `unit_price` (goods of an allowed category),
/// placed by the personal account through its binding.
pub(crate) async fn place_order(
    e: &Edge,
    b: &Buyer,
    supplier: &Person,
    quantity: i64,
    unit_price: &str,
) -> opb::Order {
    edge!(
        e,
        b.personal.auth(),
        create_marketplace_order(pb::CreateMarketplaceOrderRequest {
            request_id: rid(),
            buyer_linked_account_id: b.linked_account_id.clone(),
            supplier_account_id: supplier.account_id.clone(),
            supplier_member_id: unique("shop"),
            external_order_id: unique("1688-"),
            lines: vec![kuajing::parties::thermos(quantity, unit_price)],
            logistics: Some(kuajing::parties::singapore_express()),
            transaction_method: opb::TransactionMethod::SecuredTransaction as i32,
        })
    )
    .expect("CreateMarketplaceOrder")
    .order
    .expect("order")
}

/// The personal account pays `orders` by cross-border pay with its PIN.
pub(crate) async fn pay(
    e: &Edge,
    b: &Buyer,
    orders: &[&opb::Order],
    mandate_id: &str,
) -> Result<pb::PayOrdersResponse, Status> {
    edge!(
        e,
        b.personal.auth(),
        pay_orders(pb::PayOrdersRequest {
            request_id: rid(),
            order_ids: orders.iter().map(|o| o.order_id.clone()).collect(),
            payment_method: opb::PaymentMethod::CrossBorderPay as i32,
            wallet_id: String::new(),
            mandate_id: mandate_id.to_owned(),
            fx_source_currency_code: String::new(),
            expected_total: None,
            payment_pin: PERSONAL_PIN.to_owned(),
        })
    )
}

pub(crate) async fn order_of(e: &Edge, p: &Person, order_id: &str) -> opb::Order {
    edge!(
        e,
        p.auth(),
        get_order(pb::GetOrderRequest {
            key: Some(pb::get_order_request::Key::OrderId(order_id.to_owned())),
        })
    )
    .expect("GetOrder")
    .order
    .expect("order")
}

pub(crate) fn status_is(order: &opb::Order, status: opb::OrderStatus) {
    assert_eq!(
        order.status,
        status as i32,
        "order {} is {:?}, expected {status:?}",
        order.order_id,
        opb::OrderStatus::try_from(order.status)
    );
}
