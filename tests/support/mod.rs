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

pub(crate) mod people;

pub(crate) use kuajing::parties::PIN;

/// Edge options without rate limits: for tests that make many calls from one address.
pub(crate) const EDGE_UNLIMITED: &[&str] = &[
    "--caller-rate=1000000",
    "--caller-burst=1000000",
    "--ip-rate=1000000",
    "--ip-burst=1000000",
    "--onboarding-per-minute=1000000",
    "--identifier-per-minute=1000000",
    "--money-rate=1000000",
];

/// A fresh request id (the one the demo, bench and chaos use too).
pub(crate) use kuajing::parties::rid;

pub(crate) use kuajing::parties::unique;

/// Money in the contracts' form (short: the tests write many).
pub(crate) use kuajing::parties::money as m;

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
    tp.reach()
        .code_in_outbox(challenge_id)
        .await
        .expect("an outbox message for the challenge")
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

pub(crate) use kuajing::parties::personal;

/// An operator account (granted the way KJ_IDENTITY_OPERATOR_ACCOUNT_IDS does at start).
pub(crate) async fn operator_account(tp: &TestPlatform) -> String {
    tp.reach().operator().await.expect("an operator")
}

/// Signs in through identity (as edge would for the person); returns the access token.
pub(crate) async fn sign_in(tp: &TestPlatform, member_name: &str) -> String {
    tp.reach().sign_in(member_name).await.expect("login")
}

pub(crate) async fn open_wallet(tp: &TestPlatform, owner: &str) -> String {
    tp.wallet()
        .open_wallet(acting(
            owner,
            wpb::OpenWalletRequest {
                request_id: rid(),
                owner_account_id: owner.to_owned(),
            },
        ))
        .await
        .expect("wallet")
        .into_inner()
        .wallet
        .expect("wallet")
        .wallet_id
}

/// A person or company with a wallet; for buyers, the bound 1688 member.
pub(crate) type Party = kuajing::parties::Person;

/// A verified overseas buyer (journey 1): email confirmed, real name verified, a 1688 member
/// bound and verified, a payment PIN, a wallet.
pub(crate) async fn onboard(tp: &TestPlatform, ops: &str) -> Party {
    tp.reach()
        .verified_buyer(ops)
        .await
        .expect("a verified buyer")
}

pub(crate) type Orders = OrderServiceClient<Channel>;

pub(crate) fn authz_as(tp: &TestPlatform, caller: &str) -> AuthorizationServiceClient<Channel> {
    AuthorizationServiceClient::new(tp.channel_as("authorization", As::Caller(caller.to_owned())))
}

pub(crate) fn orders(tp: &TestPlatform) -> Orders {
    OrderServiceClient::new(tp.channel_as("order", As::Caller("edge".to_owned())))
}

/// Order as edge acting for `account_id` (`kj-subject` on every request that names nobody
/// else).
pub(crate) fn orders_for(tp: &TestPlatform, account_id: &str) -> Orders {
    OrderServiceClient::new(
        tp.channel_as("order", As::Caller("edge".to_owned()))
            .acting_for(account_id),
    )
}

/// A supplier in mainland China with a wallet: a paid member (admitted to Trade Assurance
/// and Direct Pay) unless `free`, and enabled for cross-border pay when `cross_border`.
pub(crate) async fn supplier(
    tp: &TestPlatform,
    ops: &str,
    free: bool,
    cross_border: bool,
) -> Party {
    tp.reach()
        .supplier(ops, !free, cross_border)
        .await
        .expect("a supplier")
}

/// The buyer authorises its 1688 member to pay from its wallet (agreement + code).
pub(crate) async fn active_mandate(tp: &TestPlatform, b: &Party) -> authz::Mandate {
    tp.reach()
        .active_mandate(b)
        .await
        .expect("an active mandate")
}

/// The account id of a wallet's owner, whom edge names when it acts on the wallet.
pub(crate) async fn owner_of(
    w: &mut kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient<Channel>,
    wallet: &str,
) -> String {
    w.get_wallet(wpb::GetWalletRequest {
        lookup: Some(wpb::get_wallet_request::Lookup::WalletId(wallet.to_owned())),
    })
    .await
    .expect("the wallet")
    .into_inner()
    .wallet
    .expect("wallet")
    .owner_account_id
}

/// The wallet as edge acting for `account_id` (`kj-subject` on every request edge may
/// make that names nobody else).
pub(crate) fn wallet_for(
    tp: &TestPlatform,
    account_id: &str,
) -> kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient<Channel> {
    kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient::new(
        tp.channel("wallet").acting_for(account_id),
    )
}

/// Tops a wallet up through a TOP_UP receiving account (as the fixtures of `kuajing`
/// do: edge opens the account for the owner, the bank adapter records the remittance).
pub(crate) async fn top_up(tp: &TestPlatform, wallet: &str, currency: &str, value: &str) {
    tp.reach()
        .top_up(wallet, currency, value)
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
    let buyer = req.buyer_account_id.clone();
    orders(tp)
        .create_marketplace_order(acting(&buyer, req))
        .await
        .expect("order")
        .into_inner()
        .order
        .expect("order")
}

/// (available, held) of a wallet in a currency.
pub(crate) async fn balance(tp: &TestPlatform, wallet: &str, currency: &str) -> (Decimal, Decimal) {
    let w = tp
        .wallet()
        .get_wallet(wpb::GetWalletRequest {
            lookup: Some(wpb::get_wallet_request::Lookup::WalletId(wallet.to_owned())),
        })
        .await
        .expect("wallet")
        .into_inner()
        .wallet
        .expect("wallet");
    let b = w
        .balances
        .into_iter()
        .find(|b| b.currency_code == currency)
        .expect("balance");
    (amount(&b.available), amount(&b.held))
}
