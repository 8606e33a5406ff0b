//! Test fixtures shared by the service tests: ids, amounts, status details, the admin
//! connection, and onboarding through the real identity and wallet (registration, codes
//! from identity's development outbox, operator grants, verified buyers with a wallet).

use kuajing_proto::identity::v1 as idp;
use kuajing_proto::identity::v1::identity_service_client::IdentityServiceClient;
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
        wallet_id,
        member,
        linked_account_id: linked.linked_account_id,
    }
}
