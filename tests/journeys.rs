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
//! The helpers here are shared with `access.rs`.

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
use sqlx::{ConnectOptions, Connection};
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// The login password every test person uses.
pub(crate) const PASSWORD: &str = "Sunny-Day-42";
/// The agreement version authorization accepts by default.
const AGREEMENT: &str = "kjb-2023-02";

pub(crate) use crate::support::{dec, m, reason, refused, rid, unique};

/// An edge client.
pub(crate) type Edge = EdgeServiceClient<Channel>;

fn amount(money: &Option<Money>) -> Decimal {
    dec(&money.as_ref().expect("an amount").amount)
}

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
        $crate::journeys::admitted(|| {
            let mut client = client.clone();
            let request = $crate::journeys::authed(token.as_deref(), message.clone());
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

async fn admin(tp: &TestPlatform) -> sqlx::PgConnection {
    tp.db()
        .admin_options()
        .connect()
        .await
        .expect("admin connection")
}

/// The code the development sender wrote to identity's outbox for a challenge.
pub(crate) async fn code_in_outbox(tp: &TestPlatform, challenge_id: &str) -> String {
    let mut conn = admin(tp).await;
    let body: String =
        sqlx::query_scalar("SELECT body FROM identity.outbox WHERE challenge_id = $1::uuid")
            .bind(challenge_id)
            .fetch_one(&mut conn)
            .await
            .expect("an outbox message for the challenge");
    conn.close().await.ok();
    let start = body.find("code is ").expect("code in message") + "code is ".len();
    body[start..start + 6].to_owned()
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

async fn sign_up_at_identity(tp: &TestPlatform, who: Signup<'_>) -> Person {
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
        submit_real_name_verification(pb::SubmitRealNameVerificationRequest {
            request_id: rid(),
            subject_type: idp::RealNameSubjectType::Individual as i32,
            legal_name: "Tan Mei Ling".to_owned(),
            document_type: idp::IdentityDocumentType::Passport as i32,
            document_number: "E1234567K".to_owned(),
            document_region_code: "SG".to_owned(),
            birth_date: "1990-02-28".to_owned(),
            nationality_region_code: "SG".to_owned(),
            document_expire_date: "2099-12-31".to_owned(),
            document_photo_refs: vec!["s3://kyc/tanmei-front.jpg".to_owned()],
        })
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
            lines: vec![opb::OrderLine {
                product_id: "624835221893".to_owned(),
                sku_id: "4561213579".to_owned(),
                product_name: "Stainless steel thermos 500 ml".to_owned(),
                category_code: "household_goods".to_owned(),
                quantity,
                unit_price: m("CNY", unit_price),
                ..Default::default()
            }],
            logistics: Some(opb::CrossBorderLogistics {
                option_code: "CB-EXPRESS-SG".to_owned(),
                provider_name: "Cainiao".to_owned(),
                service_name: "Cross-border express".to_owned(),
                delivery_address: Some(opb::ShippingAddress {
                    recipient_name: "Tan Mei Ling".to_owned(),
                    region_code: "SG".to_owned(),
                    locality: "Singapore".to_owned(),
                    address_lines: vec!["1 Raffles Place #20-01".to_owned()],
                    postal_code: "048616".to_owned(),
                    ..Default::default()
                }),
                freight: m("CNY", "0.00"),
                estimated_transit_days: 7,
            }),
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

async fn order_of(e: &Edge, p: &Person, order_id: &str) -> opb::Order {
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

fn status_is(order: &opb::Order, status: opb::OrderStatus) {
    assert_eq!(
        order.status,
        status as i32,
        "order {} is {:?}, expected {status:?}",
        order.order_id,
        opb::OrderStatus::try_from(order.status)
    );
}

pub(crate) fn shipment(order: &opb::Order) -> opb::Shipment {
    opb::Shipment {
        items: order
            .lines
            .iter()
            .map(|l| opb::ShipmentItem {
                line_id: l.line_id.clone(),
                quantity: l.quantity,
            })
            .collect(),
        shipping_method: opb::ShippingMethod::Express as i32,
        carrier_name: "SF Express".to_owned(),
        tracking_number: unique("SF"),
        proof_file_refs: vec!["s3://logistics/waybill.pdf".to_owned()],
        final_batch: true,
        ship_time: Some(kuajing_platform::time::to_proto(chrono::Utc::now())),
        ..Default::default()
    }
}

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
            shipment: Some(shipment(&order)),
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
        draft_trade_assurance_order(pb::DraftTradeAssuranceOrderRequest {
            request_id: rid(),
            supplier_account_id: String::new(),
            buyer_account_id: String::new(),
            buyer: Some(opb::BuyerContact {
                email: o.email.clone(),
                name: "Olivia Smith".to_owned(),
                company_name: "Smith Imports LLC".to_owned(),
                region_code: "US".to_owned(),
                phone: String::new(),
            }),
            salesperson: "Li Wei".to_owned(),
            currency_code: "USD".to_owned(),
            lines: vec![opb::OrderLine {
                product_id: "1600123456789".to_owned(),
                product_name: "LED panel light 600x600".to_owned(),
                quantity: 1000,
                unit_price: m("USD", "5.00"),
                ..Default::default()
            }],
            contract: None,
            shipping_terms: Some(opb::ShippingTerms {
                address: Some(opb::ShippingAddress {
                    recipient_name: "Olivia Smith".to_owned(),
                    company_name: "Smith Imports LLC".to_owned(),
                    region_code: "US".to_owned(),
                    administrative_area: "CA".to_owned(),
                    locality: "San Francisco".to_owned(),
                    address_lines: vec!["1 Market Street".to_owned()],
                    postal_code: "94105".to_owned(),
                    ..Default::default()
                }),
                shipping_method: opb::ShippingMethod::Sea as i32,
                incoterm: opb::Incoterm::Fob as i32,
                freight: m("USD", "200.00"),
                insurance: m("USD", "0.00"),
                ship_by: Some(opb::ShipBy {
                    rule: Some(opb::ship_by::Rule::DaysAfterPayment(30)),
                }),
                ship_by_time: None,
            }),
            export_method: opb::ExportMethod::SelfExport as i32,
            payment_terms: Some(opb::PaymentTerms {
                prepayment: m("USD", "1560.00"),
                ..Default::default()
            }),
            payment_method: opb::PaymentMethod::InternationalWire as i32,
            inspection: None,
            note: "Thank you for your order.".to_owned(),
        })
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
                ..shipment(&paid)
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
