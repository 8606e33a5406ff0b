//! Test fixtures shared by the service tests: ids, amounts, status details, the admin
//! connection, and onboarding through the real identity and wallet (registration, codes
//! from identity's development outbox, operator grants, verified buyers with a wallet).

use kuajing_proto::authorization::v1 as authz;
use kuajing_proto::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::identity::v1::identity_service_client::IdentityServiceClient;
use kuajing_proto::order::v1::order_service_client::OrderServiceClient;
use kuajing_proto::order::v1::*;
use kuajing_proto::types::Money;
use kuajing_proto::wallet::v1 as wpb;
use kuajing_testkit::{As, Channel, TestPlatform};
use rust_decimal::Decimal;
use sqlx::{ConnectOptions, Connection, PgConnection};
use tonic::{Code, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

pub(crate) const PIN: &str = "135790";

pub(crate) const PASSWORD: &str = "Sunny-Day-42";

pub(crate) fn rid() -> String {
    Uuid::now_v7().to_string()
}

pub(crate) fn unique(prefix: &str) -> String {
    format!("{prefix}{}", &Uuid::now_v7().simple().to_string()[20..])
}

pub(crate) fn m(currency: &str, amount: &str) -> Option<Money> {
    Some(Money {
        currency_code: currency.to_owned(),
        amount: amount.to_owned(),
    })
}

pub(crate) fn dec(s: &str) -> Decimal {
    Decimal::from_str_exact(s).unwrap()
}

pub(crate) fn amount(m: &Option<Money>) -> Decimal {
    m.as_ref().map(|m| dec(&m.amount)).unwrap_or_default()
}

pub(crate) fn reason(s: &Status) -> String {
    s.get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default()
}

pub(crate) fn metadata(s: &Status, key: &str) -> Option<String> {
    s.get_details_error_info()
        .and_then(|i| i.metadata.get(key).cloned())
}

pub(crate) fn fields(s: &Status) -> Vec<String> {
    s.get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// Asserts the code and ErrorInfo reason of a refusal.
#[track_caller]
pub(crate) fn refused(s: &Status, code: Code, expected_reason: &str) {
    assert_eq!(s.code(), code, "{s:?}");
    assert_eq!(reason(s), expected_reason, "{s:?}");
}

pub(crate) fn acting<T>(subject: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("kj-subject", subject.parse().expect("ascii subject"));
    request
}

pub(crate) fn identity_as(tp: &TestPlatform, caller: &str) -> IdentityServiceClient<Channel> {
    IdentityServiceClient::new(tp.channel_as("identity", As::Caller(caller.to_owned())))
}

pub(crate) async fn admin(tp: &TestPlatform) -> PgConnection {
    tp.db()
        .admin_options()
        .connect()
        .await
        .expect("admin connection")
}

pub(crate) async fn count(tp: &TestPlatform, sql: &str) -> i64 {
    let mut conn = admin(tp).await;
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut conn)
        .await
        .expect("count");
    conn.close().await.ok();
    n
}

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

pub(crate) async fn register(tp: &TestPlatform, req: idp::RegisterAccountRequest) -> idp::Account {
    tp.identity()
        .register_account(req)
        .await
        .expect("registration")
        .into_inner()
        .account
        .expect("account")
}

pub(crate) fn personal(name: &str) -> idp::RegisterAccountRequest {
    idp::RegisterAccountRequest {
        request_id: rid(),
        member_name: name.to_owned(),
        account_type: idp::AccountType::Personal as i32,
        role: idp::AccountRole::Buyer as i32,
        region_code: "SG".to_owned(),
        display_name: String::new(),
        email: format!("{name}@example.com"),
        mobile: String::new(),
        password: PASSWORD.to_owned(),
    }
}

/// An operator account (granted the way KJ_IDENTITY_OPERATOR_ACCOUNT_IDS does at start).
pub(crate) async fn operator_account(tp: &TestPlatform) -> String {
    let a = register(tp, personal(&unique("ops"))).await;
    let mut conn = admin(tp).await;
    sqlx::query(
        "INSERT INTO identity.operator_grants (account_id, granted_at) VALUES ($1::uuid, now())",
    )
    .bind(&a.account_id)
    .execute(&mut conn)
    .await
    .expect("grant");
    conn.close().await.ok();
    a.account_id
}

/// Signs in through identity (as edge would for the person); returns the access token.
pub(crate) async fn sign_in(tp: &TestPlatform, member_name: &str) -> String {
    identity_as(tp, "edge")
        .login(idp::LoginRequest {
            request_id: rid(),
            identifier: member_name.to_owned(),
            password: PASSWORD.to_owned(),
            client_ip: String::new(),
            user_agent: String::new(),
        })
        .await
        .expect("login")
        .into_inner()
        .tokens
        .expect("tokens")
        .access_token
}

pub(crate) async fn open_wallet(tp: &TestPlatform, owner: &str) -> String {
    tp.wallet()
        .open_wallet(wpb::OpenWalletRequest {
            request_id: rid(),
            owner_account_id: owner.to_owned(),
        })
        .await
        .expect("wallet")
        .into_inner()
        .wallet
        .expect("wallet")
        .wallet_id
}

/// A person or company with a wallet; for buyers, the bound 1688 member.
#[derive(Clone, Debug)]
pub(crate) struct Party {
    pub(crate) account_id: String,
    /// The member name it signs in with (its password is [`PASSWORD`]); the telemetry test
    /// signs in through edge with it.
    #[allow(dead_code)]
    pub(crate) member_name: String,
    pub(crate) wallet_id: String,
    pub(crate) member: String,
    pub(crate) linked_account_id: String,
}

/// A verified overseas buyer (journey 1): email confirmed, real name verified, a 1688 member
/// bound and verified, a payment PIN, a wallet.
pub(crate) async fn onboard(tp: &TestPlatform, ops: &str) -> Party {
    let name = unique("buyer");
    let a = register(tp, personal(&name)).await;
    let me = a.account_id.clone();
    let mut id = tp.identity();
    let mut as_edge = identity_as(tp, "edge");
    let ch = id
        .send_verification_code(idp::SendVerificationCodeRequest {
            request_id: rid(),
            account_id: me.clone(),
            channel: idp::VerificationChannel::Email as i32,
            purpose: idp::VerificationPurpose::ConfirmContact as i32,
            reference: String::new(),
        })
        .await
        .expect("send")
        .into_inner()
        .challenge
        .expect("challenge");
    let code = code_in_outbox(tp, &ch.challenge_id).await;
    id.confirm_contact(idp::ConfirmContactRequest {
        request_id: rid(),
        account_id: me.clone(),
        challenge_id: ch.challenge_id,
        code,
    })
    .await
    .expect("confirm");
    let submitted = id
        .submit_real_name_verification(idp::SubmitRealNameVerificationRequest {
            request_id: rid(),
            account_id: me.clone(),
            subject_type: idp::RealNameSubjectType::Individual as i32,
            legal_name: "Tan Mei Ling".to_owned(),
            document_type: idp::IdentityDocumentType::Passport as i32,
            document_number: "E12345678".to_owned(),
            document_region_code: "SG".to_owned(),
            birth_date: "1990-02-28".to_owned(),
            nationality_region_code: "SG".to_owned(),
            document_expire_date: "2099-12-31".to_owned(),
            document_photo_refs: vec!["s3://kyc/front.jpg".to_owned()],
        })
        .await
        .expect("submit")
        .into_inner()
        .real_name_verification
        .expect("verification");
    identity_as(tp, "operator")
        .review_real_name_verification(acting(
            ops,
            idp::ReviewRealNameVerificationRequest {
                request_id: rid(),
                real_name_verification_id: submitted.real_name_verification_id,
                decision: idp::ReviewDecision::Approve as i32,
                rejection_reason: String::new(),
            },
        ))
        .await
        .expect("review");
    let member = unique("测试买家账号");
    let linked = id
        .bind_marketplace_account(idp::BindMarketplaceAccountRequest {
            request_id: rid(),
            account_id: me.clone(),
            marketplace: idp::Marketplace::Marketplace1688 as i32,
            external_member_id: member.clone(),
            external_account_type: idp::AccountType::Personal as i32,
        })
        .await
        .expect("bind")
        .into_inner()
        .linked_account
        .expect("linked");
    assert_eq!(linked.status, idp::LinkStatus::BoundVerified as i32);
    let ch = as_edge
        .send_verification_code(acting(
            &me,
            idp::SendVerificationCodeRequest {
                request_id: rid(),
                account_id: me.clone(),
                channel: idp::VerificationChannel::Email as i32,
                purpose: idp::VerificationPurpose::SetPaymentPin as i32,
                reference: String::new(),
            },
        ))
        .await
        .expect("pin code")
        .into_inner()
        .challenge
        .expect("challenge");
    let code = code_in_outbox(tp, &ch.challenge_id).await;
    as_edge
        .set_payment_pin(acting(
            &me,
            idp::SetPaymentPinRequest {
                request_id: rid(),
                account_id: me.clone(),
                pin: PIN.to_owned(),
                challenge_id: ch.challenge_id,
                code,
            },
        ))
        .await
        .expect("pin");
    let wallet_id = open_wallet(tp, &me).await;
    Party {
        account_id: me,
        member_name: name,
        wallet_id,
        member,
        linked_account_id: linked.linked_account_id,
    }
}

pub(crate) type Orders = OrderServiceClient<Channel>;

pub(crate) fn authz_as(tp: &TestPlatform, caller: &str) -> AuthorizationServiceClient<Channel> {
    AuthorizationServiceClient::new(tp.channel_as("authorization", As::Caller(caller.to_owned())))
}

pub(crate) fn orders(tp: &TestPlatform) -> Orders {
    OrderServiceClient::new(tp.channel_as("order", As::Caller("edge".to_owned())))
}

/// A supplier in mainland China with a wallet: a paid member (admitted to Trade Assurance
/// and Direct Pay) unless `free`, and enabled for cross-border pay when `cross_border`.
pub(crate) async fn supplier(
    tp: &TestPlatform,
    ops: &str,
    free: bool,
    cross_border: bool,
) -> Party {
    let name = unique("factory");
    let s = register(
        tp,
        idp::RegisterAccountRequest {
            account_type: idp::AccountType::Business as i32,
            role: idp::AccountRole::Supplier as i32,
            region_code: "CN".to_owned(),
            display_name: format!("{name} Trading Co."),
            email: format!("{name}@example.cn"),
            ..personal(&name)
        },
    )
    .await;
    let mut paths = Vec::new();
    let mut profile = idp::SupplierProfile {
        account_id: s.account_id.clone(),
        ..Default::default()
    };
    if !free {
        profile.membership = idp::SupplierMembership::Paid as i32;
        paths.push("membership".to_owned());
    }
    if cross_border {
        profile.trustpass_active = true;
        profile.cross_border_pay_enabled = true;
        paths.push("trustpass_active".to_owned());
        paths.push("cross_border_pay_enabled".to_owned());
    }
    if !paths.is_empty() {
        let mut req = idp::UpdateSupplierProfileRequest {
            request_id: rid(),
            supplier_profile: Some(profile),
            update_mask: None,
            reason: "onboarding".to_owned(),
        };
        let mut mask = req.update_mask.take().unwrap_or_default();
        mask.paths = paths;
        req.update_mask = Some(mask);
        identity_as(tp, "operator")
            .update_supplier_profile(acting(ops, req))
            .await
            .expect("supplier profile");
    }
    let wallet_id = open_wallet(tp, &s.account_id).await;
    Party {
        account_id: s.account_id,
        member_name: name,
        wallet_id,
        member: String::new(),
        linked_account_id: String::new(),
    }
}

/// The buyer authorises its 1688 member to pay from its wallet (agreement + code).
pub(crate) async fn active_mandate(tp: &TestPlatform, b: &Party) -> authz::Mandate {
    let mut edge = authz_as(tp, "edge");
    let created = edge
        .create_mandate(authz::CreateMandateRequest {
            request_id: rid(),
            wallet_id: b.wallet_id.clone(),
            owner_account_id: b.account_id.clone(),
            marketplace_member: Some(idp::MarketplaceMember {
                marketplace: idp::Marketplace::Marketplace1688 as i32,
                external_member_id: b.member.clone(),
            }),
            expire_time: None,
            funding_currency_code: String::new(),
            verification_channel: idp::VerificationChannel::Email as i32,
        })
        .await
        .expect("create mandate")
        .into_inner();
    let mandate = created.mandate.expect("mandate");
    let challenge = created.challenge.expect("challenge");
    let code = code_in_outbox(tp, &challenge.challenge_id).await;
    let active = edge
        .activate_mandate(authz::ActivateMandateRequest {
            request_id: rid(),
            mandate_id: mandate.mandate_id.clone(),
            agreement_accepted: true,
            agreement_version: "kjb-2023-02".to_owned(),
            challenge_id: challenge.challenge_id,
            code,
        })
        .await
        .expect("activate")
        .into_inner()
        .mandate
        .expect("mandate");
    assert_eq!(active.state, authz::MandateState::Active as i32);
    active
}

/// Tops a wallet up through a TOP_UP receiving account.
pub(crate) async fn top_up(tp: &TestPlatform, wallet: &str, currency: &str, value: &str) {
    let mut w = tp.wallet();
    let account = w
        .create_receiving_account(wpb::CreateReceivingAccountRequest {
            request_id: rid(),
            wallet_id: wallet.to_owned(),
            currency_code: currency.to_owned(),
            display_name: format!("{currency} top-up"),
            purpose: wpb::ReceivingAccountPurpose::TopUp as i32,
        })
        .await
        .expect("receiving account")
        .into_inner()
        .receiving_account
        .expect("account");
    w.record_inbound_remittance(remittance(&account, value))
        .await
        .expect("top-up");
}

pub(crate) fn remittance(
    account: &wpb::ReceivingAccount,
    value: &str,
) -> wpb::RecordInboundRemittanceRequest {
    wpb::RecordInboundRemittanceRequest {
        request_id: rid(),
        account_number: account
            .bank_details
            .as_ref()
            .unwrap()
            .account_number
            .clone(),
        bank_reference: unique("REF"),
        amount: m(&account.currency_code, value),
        payer: Some(wpb::RemittancePayer {
            name: "ACME Inc".into(),
            account_number_masked: "****4321".into(),
            bank_name: "Chase".into(),
            country_code: "US".into(),
        }),
        remittance_info: "PI-2026-001".into(),
        value_time: Some(kuajing_platform::time::to_proto(chrono::Utc::now())),
    }
}

pub(crate) fn line(
    product: &str,
    category: &str,
    quantity: i64,
    price: &str,
    currency: &str,
) -> OrderLine {
    OrderLine {
        product_id: format!("offer-{product}"),
        sku_id: String::new(),
        product_name: product.to_owned(),
        sku_attributes: vec![SkuAttribute {
            name: "Color".to_owned(),
            value: "Blue".to_owned(),
        }],
        category_code: category.to_owned(),
        quantity,
        unit: String::new(),
        unit_price: m(currency, price),
        ..OrderLine::default()
    }
}

pub(crate) fn address(region: &str) -> ShippingAddress {
    ShippingAddress {
        recipient_name: "Jane Doe".to_owned(),
        company_name: "ACME Inc".to_owned(),
        phone: "+14155550100".to_owned(),
        region_code: region.to_owned(),
        subdivision_code: String::new(),
        administrative_area: "CA".to_owned(),
        locality: "San Francisco".to_owned(),
        address_lines: vec!["1 Market St".to_owned()],
        postal_code: "94105".to_owned(),
    }
}

pub(crate) fn marketplace_order(
    b: &Party,
    s: &Party,
    lines: Vec<OrderLine>,
    freight: &str,
) -> CreateMarketplaceOrderRequest {
    CreateMarketplaceOrderRequest {
        request_id: rid(),
        buyer_account_id: b.account_id.clone(),
        supplier_account_id: s.account_id.clone(),
        marketplace_code: idp::Marketplace::Marketplace1688 as i32,
        external_order_id: String::new(),
        buyer_linked_account_id: b.linked_account_id.clone(),
        supplier_member_id: "b2b-factory".to_owned(),
        lines,
        logistics: Some(CrossBorderLogistics {
            option_code: "AIR-CONSOL".to_owned(),
            provider_name: "Cainiao".to_owned(),
            service_name: "Air express to consolidation warehouse".to_owned(),
            delivery_address: Some(address("SG")),
            freight: m("CNY", freight),
            estimated_transit_days: 7,
        }),
        transaction_method: TransactionMethod::SecuredTransaction as i32,
    }
}

pub(crate) async fn create(tp: &TestPlatform, req: CreateMarketplaceOrderRequest) -> Order {
    orders(tp)
        .create_marketplace_order(req)
        .await
        .expect("order")
        .into_inner()
        .order
        .expect("order")
}
