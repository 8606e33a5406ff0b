//! The wallet over gRPC on a real Postgres: balances, remittances, transfers, holds,
//! conversions, fees, reversals, statements, idempotency, invariants and concurrency.

use std::collections::HashMap;

use kuajing_proto::types::{Money, PageRequest};
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use kuajing_proto::wallet::v1::*;
use kuajing_testkit::Channel;
use kuajing_testkit::TestPlatform;
use rust_decimal::Decimal;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tonic::Code;
use tonic_types::StatusExt;

type Client = WalletServiceClient<Channel>;

fn rid() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn m(currency: &str, amount: &str) -> Option<Money> {
    Some(Money {
        currency_code: currency.to_owned(),
        amount: amount.to_owned(),
    })
}

fn reason(s: &tonic::Status) -> String {
    s.get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str_exact(s).unwrap()
}

async fn open(w: &mut Client) -> String {
    let req = OpenWalletRequest {
        request_id: rid(),
        owner_account_id: rid(),
    };
    w.open_wallet(req)
        .await
        .unwrap()
        .into_inner()
        .wallet
        .unwrap()
        .wallet_id
}

async fn receiving(
    w: &mut Client,
    wallet: &str,
    currency: &str,
    purpose: ReceivingAccountPurpose,
) -> ReceivingAccount {
    let req = CreateReceivingAccountRequest {
        request_id: rid(),
        wallet_id: wallet.to_owned(),
        currency_code: currency.to_owned(),
        display_name: format!("{currency} account"),
        purpose: purpose as i32,
    };
    w.create_receiving_account(req)
        .await
        .unwrap()
        .into_inner()
        .receiving_account
        .unwrap()
}

fn remittance(
    account: &ReceivingAccount,
    reference: &str,
    amount: &str,
) -> RecordInboundRemittanceRequest {
    RecordInboundRemittanceRequest {
        request_id: rid(),
        account_number: account
            .bank_details
            .as_ref()
            .unwrap()
            .account_number
            .clone(),
        bank_reference: reference.to_owned(),
        amount: m(&account.currency_code, amount),
        payer: Some(RemittancePayer {
            name: "ACME Pte Ltd".into(),
            account_number_masked: "****4321".into(),
            bank_name: "DBS".into(),
            country_code: "SG".into(),
        }),
        remittance_info: "INV-1".into(),
        value_time: Some(kuajing_platform::time::to_proto(chrono::Utc::now())),
    }
}

/// Tops up `wallet` by `amount` through a TOP_UP receiving account.
async fn top_up(w: &mut Client, wallet: &str, currency: &str, amount: &str) {
    let account = receiving(w, wallet, currency, ReceivingAccountPurpose::TopUp).await;
    w.record_inbound_remittance(remittance(&account, &rid(), amount))
        .await
        .unwrap();
}

async fn balance(w: &mut Client, wallet: &str, currency: &str) -> (Decimal, Decimal) {
    let req = GetWalletRequest {
        lookup: Some(get_wallet_request::Lookup::WalletId(wallet.to_owned())),
    };
    let wallet = w
        .get_wallet(req)
        .await
        .unwrap()
        .into_inner()
        .wallet
        .unwrap();
    let b = wallet
        .balances
        .into_iter()
        .find(|b| b.currency_code == currency)
        .unwrap();
    (
        dec(&b.available.unwrap().amount),
        dec(&b.held.unwrap().amount),
    )
}

async fn admin_pool(tp: &TestPlatform) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .connect_with(tp.db().admin_options())
        .await
        .unwrap()
}

/// The ledger's invariants, read straight from the wallet schema: per currency the sum
/// over all ledger accounts is zero; every cached balance equals the sum of its postings;
/// no customer available or held balance is negative; every entry balances.
async fn check_invariants(pool: &PgPool) {
    let unbalanced: Vec<(String, Decimal)> = sqlx::query_as(
        "SELECT currency, sum(balance) FROM wallet.ledger_accounts GROUP BY currency HAVING sum(balance) <> 0",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(
        unbalanced.is_empty(),
        "ledger does not sum to zero: {unbalanced:?}"
    );
    let drift: Vec<(uuid::Uuid, Decimal, Decimal)> = sqlx::query_as(
        "SELECT a.account_id, a.balance, coalesce(sum(p.amount), 0)
         FROM wallet.ledger_accounts a LEFT JOIN wallet.postings p ON p.account_id = a.account_id
         GROUP BY a.account_id, a.balance HAVING a.balance <> coalesce(sum(p.amount), 0)",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(
        drift.is_empty(),
        "cached balances differ from postings: {drift:?}"
    );
    let negative: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM wallet.ledger_accounts WHERE kind IN (1, 2) AND balance < 0",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(negative, 0, "negative customer balance");
    let bad_entries: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT entry_id, currency FROM wallet.postings GROUP BY entry_id, currency
         HAVING sum(amount) <> 0) x",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(bad_entries, 0, "an entry does not balance");
    let held_vs_holds: Vec<(uuid::Uuid, String, Decimal, Decimal)> = sqlx::query_as(
        "SELECT a.wallet_id, a.currency, sum(a.balance),
                coalesce((SELECT sum(h.amount) FROM wallet.holds h WHERE h.wallet_id = a.wallet_id
                          AND h.currency = a.currency AND h.state = 1), 0)
         FROM wallet.ledger_accounts a WHERE a.kind = 2 GROUP BY a.wallet_id, a.currency
         HAVING sum(a.balance) <> coalesce((SELECT sum(h.amount) FROM wallet.holds h WHERE h.wallet_id = a.wallet_id
                          AND h.currency = a.currency AND h.state = 1), 0)",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(
        held_vs_holds.is_empty(),
        "held balances differ from open holds: {held_vs_holds:?}"
    );
}

#[tokio::test]
async fn wallets_open_once_per_owner_with_fifteen_zero_balances() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    let owner = rid();
    let first = w
        .open_wallet(OpenWalletRequest {
            request_id: rid(),
            owner_account_id: owner.clone(),
        })
        .await?
        .into_inner()
        .wallet
        .unwrap();
    assert_eq!(first.balances.len(), 15);
    assert!(
        first
            .balances
            .iter()
            .all(|b| dec(&b.total.as_ref().unwrap().amount).is_zero())
    );
    let jpy = first
        .balances
        .iter()
        .find(|b| b.currency_code == "JPY")
        .unwrap();
    assert_eq!(jpy.available.as_ref().unwrap().amount, "0");
    let err = w
        .open_wallet(OpenWalletRequest {
            request_id: rid(),
            owner_account_id: owner.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::AlreadyExists, "WALLET_ALREADY_EXISTS")
    );
    let by_owner = w
        .get_wallet(GetWalletRequest {
            lookup: Some(get_wallet_request::Lookup::OwnerAccountId(owner)),
        })
        .await?
        .into_inner()
        .wallet
        .unwrap();
    assert_eq!(by_owner.wallet_id, first.wallet_id);
    let err = w
        .get_wallet(GetWalletRequest {
            lookup: Some(get_wallet_request::Lookup::WalletId(rid())),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = w
        .get_wallet(GetWalletRequest {
            lookup: Some(get_wallet_request::Lookup::WalletId("nope".into())),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        err.get_details_bad_request().unwrap().field_violations[0].field,
        "wallet_id"
    );
    tp.stop().await
}

#[tokio::test]
async fn remittances_credit_once_by_bank_reference() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    let wallet = open(&mut w).await;
    let err = w
        .create_receiving_account(CreateReceivingAccountRequest {
            request_id: rid(),
            wallet_id: wallet.clone(),
            currency_code: "CNY".into(),
            display_name: "x".into(),
            purpose: ReceivingAccountPurpose::TopUp as i32,
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::InvalidArgument,
        "top-up accounts take no CNY"
    );
    let account = receiving(&mut w, &wallet, "SGD", ReceivingAccountPurpose::TopUp).await;
    assert_eq!(
        account.bank_details.as_ref().unwrap().account_number.len(),
        16
    );

    let report = remittance(&account, "BANK-REF-1", "1000.50");
    let first = w
        .record_inbound_remittance(report.clone())
        .await?
        .into_inner()
        .remittance
        .unwrap();
    assert_eq!(first.status, RemittanceStatus::Credited as i32);
    // The bank reports it again under another request id: same remittance, no second credit.
    let again = RecordInboundRemittanceRequest {
        request_id: rid(),
        ..report.clone()
    };
    let again = w
        .record_inbound_remittance(again)
        .await?
        .into_inner()
        .remittance
        .unwrap();
    assert_eq!(again.remittance_id, first.remittance_id);
    assert_eq!(
        balance(&mut w, &wallet, "SGD").await,
        (dec("1000.50"), Decimal::ZERO)
    );
    // Same reference, other amount: a conflict, nothing moves.
    let other = RecordInboundRemittanceRequest {
        request_id: rid(),
        amount: m("SGD", "9.99"),
        ..report.clone()
    };
    let err = w.record_inbound_remittance(other).await.unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::AlreadyExists, "BANK_REFERENCE_CONFLICT")
    );
    let mut wrong = remittance(&account, "BANK-REF-2", "5");
    wrong.account_number = "0000000000000000".into();
    let err = w.record_inbound_remittance(wrong).await.unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::NotFound, "RECEIVING_ACCOUNT_NOT_FOUND")
    );
    let mut wrong = remittance(&account, "BANK-REF-3", "5");
    wrong.amount = m("USD", "5");
    let err = w.record_inbound_remittance(wrong).await.unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::FailedPrecondition, "CURRENCY_MISMATCH")
    );
    let mut wrong = remittance(&account, "BANK-REF-4", "5.001");
    wrong.request_id = rid();
    assert_eq!(
        w.record_inbound_remittance(wrong).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    assert_eq!(
        balance(&mut w, &wallet, "SGD").await,
        (dec("1000.50"), Decimal::ZERO)
    );
    check_invariants(&admin_pool(&tp).await).await;
    tp.stop().await
}

#[tokio::test]
async fn transfers_are_idempotent_and_never_overdraw() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    let (a, b) = (open(&mut w).await, open(&mut w).await);
    top_up(&mut w, &a, "USD", "100.00").await;
    let fee = FeeLeg {
        code: "TRANSFER_FEE".into(),
        amount: m("USD", "1.50"),
        bearer: FeeBearer::Payer as i32,
        description: String::new(),
    };
    let req = CreateTransferRequest {
        request_id: rid(),
        source_wallet_id: a.clone(),
        destination_wallet_id: b.clone(),
        amount: m("USD", "40.00"),
        fee_legs: vec![fee],
        ..Default::default()
    };
    let first = w.create_transfer(req.clone()).await?.into_inner();
    let again = w.create_transfer(req.clone()).await?.into_inner();
    assert_eq!(
        first, again,
        "a repeated request_id returns the identical response"
    );
    assert_eq!(balance(&mut w, &a, "USD").await.0, dec("58.50"));
    assert_eq!(balance(&mut w, &b, "USD").await.0, dec("40.00"));
    let pool = admin_pool(&tp).await;
    let entries: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM wallet.journal_entries WHERE request_id = $1::uuid",
    )
    .bind(&req.request_id)
    .fetch_one(&pool)
    .await?;
    assert_eq!(entries, 1, "one entry for one request id");

    let mut altered = req.clone();
    altered.amount = m("USD", "41.00");
    let err = w.create_transfer(altered).await.unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::AlreadyExists, "IDEMPOTENCY_KEY_REUSED")
    );

    let too_much = CreateTransferRequest {
        request_id: rid(),
        amount: m("USD", "58.51"),
        fee_legs: vec![],
        ..req.clone()
    };
    let err = w.create_transfer(too_much).await.unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::FailedPrecondition, "INSUFFICIENT_FUNDS")
    );
    let exact = CreateTransferRequest {
        request_id: rid(),
        amount: m("USD", "58.50"),
        fee_legs: vec![],
        ..req.clone()
    };
    w.create_transfer(exact).await?;
    assert_eq!(balance(&mut w, &a, "USD").await.0, Decimal::ZERO);

    // A wallet that does not exist, on either side: NOT_FOUND, nothing moves, and the
    // refusal is not recorded (the same request id runs afresh once the cause is fixed).
    top_up(&mut w, &a, "USD", "5.00").await;
    let ghost = rid();
    for (source, destination) in [(a.clone(), ghost.clone()), (ghost.clone(), b.clone())] {
        let r = CreateTransferRequest {
            request_id: rid(),
            source_wallet_id: source,
            destination_wallet_id: destination,
            amount: m("USD", "1.00"),
            fee_legs: vec![],
            ..req.clone()
        };
        let err = w.create_transfer(r.clone()).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
        assert_eq!(
            w.create_transfer(r).await.unwrap_err().code(),
            Code::NotFound
        );
    }
    assert_eq!(balance(&mut w, &a, "USD").await.0, dec("5.00"));
    assert_eq!(balance(&mut w, &b, "USD").await.0, dec("98.50"));
    let ghost_rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM wallet.ledger_accounts WHERE wallet_id = $1::uuid",
    )
    .bind(&ghost)
    .fetch_one(&pool)
    .await?;
    assert_eq!(
        ghost_rows, 0,
        "no ledger account for a wallet that does not exist"
    );

    for bad in [
        m("USD", "-1"),
        m("USD", "0"),
        m("XXX", "1"),
        m("JPY", "1.5"),
        None,
    ] {
        let r = CreateTransferRequest {
            request_id: rid(),
            amount: bad.clone(),
            ..req.clone()
        };
        assert_eq!(
            w.create_transfer(r).await.unwrap_err().code(),
            Code::InvalidArgument,
            "{bad:?}"
        );
    }
    let r = CreateTransferRequest {
        request_id: "not-a-uuid".into(),
        ..req.clone()
    };
    assert_eq!(
        w.create_transfer(r).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    check_invariants(&pool).await;
    tp.stop().await
}

#[tokio::test]
async fn holds_end_exactly_once() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    let (buyer, supplier) = (open(&mut w).await, open(&mut w).await);
    top_up(&mut w, &buyer, "CNH", "1000.00").await;
    let hold = w
        .create_hold(CreateHoldRequest {
            request_id: rid(),
            wallet_id: buyer.clone(),
            amount: m("CNH", "600.00"),
            purpose: HoldPurpose::Escrow as i32,
            order_id: "ORDER-1".into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .hold
        .unwrap();
    assert_eq!(
        balance(&mut w, &buyer, "CNH").await,
        (dec("400.00"), dec("600.00"))
    );
    let err = w
        .create_hold(CreateHoldRequest {
            request_id: rid(),
            wallet_id: buyer.clone(),
            amount: m("CNH", "400.01"),
            purpose: HoldPurpose::Escrow as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "INSUFFICIENT_FUNDS");

    let fee = FeeLeg {
        code: "CROSS_BORDER_PAY_FEE".into(),
        amount: m("CNH", "1.00"),
        bearer: FeeBearer::Payee as i32,
        description: String::new(),
    };
    let too_much = CaptureHoldRequest {
        request_id: rid(),
        hold_id: hold.hold_id.clone(),
        payee_wallet_id: supplier.clone(),
        amount: m("CNH", "600.01"),
        ..Default::default()
    };
    assert_eq!(
        reason(&w.capture_hold(too_much).await.unwrap_err()),
        "CAPTURE_EXCEEDS_HOLD"
    );
    let capture = CaptureHoldRequest {
        request_id: rid(),
        hold_id: hold.hold_id.clone(),
        payee_wallet_id: supplier.clone(),
        amount: m("CNH", "500.00"),
        fee_legs: vec![fee],
        ..Default::default()
    };
    let captured = w.capture_hold(capture.clone()).await?.into_inner();
    assert_eq!(
        captured.hold.as_ref().unwrap().state,
        HoldState::Captured as i32
    );
    assert_eq!(
        captured
            .hold
            .as_ref()
            .unwrap()
            .released_amount
            .as_ref()
            .unwrap()
            .amount,
        "100.00"
    );
    assert_eq!(
        balance(&mut w, &buyer, "CNH").await,
        (dec("500.00"), Decimal::ZERO)
    );
    assert_eq!(balance(&mut w, &supplier, "CNH").await.0, dec("499.00"));
    assert_eq!(
        w.capture_hold(capture.clone()).await?.into_inner(),
        captured,
        "replay"
    );
    let twice = CaptureHoldRequest {
        request_id: rid(),
        ..capture.clone()
    };
    let err = w.capture_hold(twice).await.unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::FailedPrecondition, "HOLD_NOT_OPEN")
    );
    let release = ReleaseHoldRequest {
        request_id: rid(),
        hold_id: hold.hold_id.clone(),
        reason: String::new(),
    };
    assert_eq!(
        reason(&w.release_hold(release).await.unwrap_err()),
        "HOLD_NOT_OPEN"
    );

    // A released hold returns everything, once.
    let h2 = w
        .create_hold(CreateHoldRequest {
            request_id: rid(),
            wallet_id: buyer.clone(),
            amount: m("CNH", "200.00"),
            purpose: HoldPurpose::Escrow as i32,
            ..Default::default()
        })
        .await?
        .into_inner()
        .hold
        .unwrap();
    let rel = ReleaseHoldRequest {
        request_id: rid(),
        hold_id: h2.hold_id.clone(),
        reason: "order cancelled".into(),
    };
    w.release_hold(rel.clone()).await?;
    w.release_hold(rel).await?;
    assert_eq!(
        balance(&mut w, &buyer, "CNH").await,
        (dec("500.00"), Decimal::ZERO)
    );
    check_invariants(&admin_pool(&tp).await).await;
    tp.stop().await
}

#[tokio::test]
async fn an_expired_hold_cannot_be_captured_and_releases_itself() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    let (buyer, supplier) = (open(&mut w).await, open(&mut w).await);
    top_up(&mut w, &buyer, "USD", "50").await;
    let expire = chrono::Utc::now() + chrono::Duration::minutes(10);
    let hold = w
        .create_hold(CreateHoldRequest {
            request_id: rid(),
            wallet_id: buyer.clone(),
            amount: m("USD", "20"),
            purpose: HoldPurpose::Escrow as i32,
            expire_time: Some(kuajing_platform::time::to_proto(expire)),
            ..Default::default()
        })
        .await?
        .into_inner()
        .hold
        .unwrap();
    tp.clock().advance(std::time::Duration::from_secs(11 * 60));
    let capture = CaptureHoldRequest {
        request_id: rid(),
        hold_id: hold.hold_id.clone(),
        payee_wallet_id: supplier,
        amount: m("USD", "20"),
        ..Default::default()
    };
    assert_eq!(
        reason(&w.capture_hold(capture).await.unwrap_err()),
        "HOLD_EXPIRED"
    );
    // The sweeper (every 5 s of real time) releases it.
    let mut state = 0;
    for _ in 0..40 {
        state = w
            .get_hold(GetHoldRequest {
                hold_id: hold.hold_id.clone(),
            })
            .await?
            .into_inner()
            .hold
            .unwrap()
            .state;
        if state == HoldState::Expired as i32 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(state, HoldState::Expired as i32);
    assert_eq!(
        balance(&mut w, &buyer, "USD").await,
        (dec("50.00"), Decimal::ZERO)
    );
    check_invariants(&admin_pool(&tp).await).await;
    tp.stop().await
}

#[tokio::test]
async fn a_conversion_moves_through_the_fx_positions_once_per_quote() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    let wallet = open(&mut w).await;
    top_up(&mut w, &wallet, "SGD", "1000.00").await;
    let req = PostConversionRequest {
        request_id: rid(),
        wallet_id: wallet.clone(),
        quote_id: "Q-1".into(),
        sell_amount: m("SGD", "100.00"),
        buy_amount: m("CNH", "532.17"),
        fee: m("SGD", "0.50"),
    };
    let resp = w.post_conversion(req.clone()).await?.into_inner();
    assert_eq!(
        resp.sell_balance.unwrap().available.unwrap().amount,
        "899.50"
    );
    assert_eq!(
        resp.buy_balance.unwrap().available.unwrap().amount,
        "532.17"
    );
    assert_eq!(resp.journal_entry.unwrap().cause.unwrap().quote_id, "Q-1");
    let err = w
        .post_conversion(PostConversionRequest {
            request_id: rid(),
            ..req.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "QUOTE_ALREADY_USED");
    let err = w
        .post_conversion(PostConversionRequest {
            request_id: rid(),
            quote_id: "Q-2".into(),
            sell_amount: m("SGD", "899.01"),
            ..req.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(
        reason(&err),
        "INSUFFICIENT_FUNDS",
        "sell + fee exceeds the balance; nothing moves"
    );
    let accounts = w
        .list_ledger_accounts(ListLedgerAccountsRequest {
            kind: LedgerAccountKind::FxPosition as i32,
            ..Default::default()
        })
        .await?
        .into_inner()
        .ledger_accounts;
    let position: HashMap<String, String> = accounts
        .into_iter()
        .map(|a| (a.currency_code, a.balance.unwrap().amount))
        .collect();
    assert_eq!(position.get("SGD").map(String::as_str), Some("100.00"));
    assert_eq!(position.get("CNH").map(String::as_str), Some("-532.17"));
    check_invariants(&admin_pool(&tp).await).await;
    tp.stop().await
}

#[tokio::test]
async fn remittances_link_to_orders_irreversibly_and_show_in_the_fund_overview()
-> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    let supplier = open(&mut w).await;
    let account = receiving(
        &mut w,
        &supplier,
        "USD",
        ReceivingAccountPurpose::TradeCollection,
    )
    .await;
    let r = w
        .record_inbound_remittance(remittance(&account, "TT-1", "1000.00"))
        .await?
        .into_inner()
        .remittance
        .unwrap();
    assert_eq!(r.status, RemittanceStatus::Unallocated as i32);
    assert_eq!(
        balance(&mut w, &supplier, "USD").await,
        (Decimal::ZERO, Decimal::ZERO)
    );
    let link = |amount: &str, disposition: LinkDisposition, pool: FundPool| LinkRemittanceRequest {
        request_id: rid(),
        remittance_id: r.remittance_id.clone(),
        order_id: "TA-1".into(),
        payment_part: OrderPaymentPart::Prepayment as i32,
        amount: m("USD", amount),
        disposition: disposition as i32,
        fund_pool: pool as i32,
    };
    let first = w
        .link_remittance(link(
            "300.00",
            LinkDisposition::Available,
            FundPool::Standard,
        ))
        .await?
        .into_inner();
    assert_eq!(
        first.remittance.unwrap().status,
        RemittanceStatus::PartiallyLinked as i32
    );
    w.link_remittance(link(
        "200.00",
        LinkDisposition::Available,
        FundPool::AgentExport,
    ))
    .await?;
    w.link_remittance(link(
        "100.00",
        LinkDisposition::Guarantee,
        FundPool::Standard,
    ))
    .await?;
    let err = w
        .link_remittance(link(
            "400.01",
            LinkDisposition::Available,
            FundPool::Standard,
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "LINK_EXCEEDS_UNALLOCATED");
    let last = w
        .link_remittance(link(
            "400.00",
            LinkDisposition::Available,
            FundPool::Standard,
        ))
        .await?
        .into_inner();
    assert_eq!(
        last.remittance.as_ref().unwrap().status,
        RemittanceStatus::Linked as i32
    );
    assert_eq!(last.remittance.unwrap().links.len(), 4);
    assert_eq!(
        reason(
            &w.link_remittance(link("1", LinkDisposition::Available, FundPool::Standard))
                .await
                .unwrap_err()
        ),
        "REMITTANCE_ALREADY_LINKED"
    );
    let overview = w
        .get_fund_overview(GetFundOverviewRequest {
            wallet_id: supplier.clone(),
            currency_codes: vec!["USD".into()],
        })
        .await?
        .into_inner()
        .fund_overview
        .unwrap();
    let usd = &overview.currencies[0];
    assert_eq!(usd.self_export_available.as_ref().unwrap().amount, "700.00");
    assert_eq!(
        usd.agent_export_available.as_ref().unwrap().amount,
        "200.00"
    );
    assert_eq!(usd.guarantee_funds.as_ref().unwrap().amount, "100.00");
    assert_eq!(usd.total.as_ref().unwrap().amount, "1000.00");
    assert_eq!(usd.unallocated_remittances.as_ref().unwrap().amount, "0.00");
    // Links are immutable in the database too.
    let pool = admin_pool(&tp).await;
    assert!(
        sqlx::query("UPDATE wallet.remittance_links SET amount = 1")
            .execute(&pool)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("DELETE FROM wallet.postings")
            .execute(&pool)
            .await
            .is_err()
    );
    check_invariants(&pool).await;
    tp.stop().await
}

#[tokio::test]
async fn fees_beyond_the_balance_become_arrears_and_can_be_paid() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    let wallet = open(&mut w).await;
    top_up(&mut w, &wallet, "USD", "30.00").await;
    let fee = FeeLeg {
        code: "EXPORT_SERVICE_FEE".into(),
        amount: m("USD", "100.00"),
        bearer: FeeBearer::Payer as i32,
        description: String::new(),
    };
    let refused = ChargeFeeRequest {
        request_id: rid(),
        wallet_id: wallet.clone(),
        fee: Some(fee.clone()),
        order_id: "TA-2".into(),
        allow_arrears: false,
    };
    assert_eq!(
        reason(&w.charge_fee(refused).await.unwrap_err()),
        "INSUFFICIENT_FUNDS"
    );
    let charged = w
        .charge_fee(ChargeFeeRequest {
            request_id: rid(),
            wallet_id: wallet.clone(),
            fee: Some(fee),
            order_id: "TA-2".into(),
            allow_arrears: true,
        })
        .await?
        .into_inner();
    assert_eq!(charged.collected.unwrap().amount, "30.00");
    assert_eq!(charged.arrears_added.unwrap().amount, "70.00");
    top_up(&mut w, &wallet, "USD", "100.00").await;
    let err = w
        .pay_arrears(PayArrearsRequest {
            request_id: rid(),
            wallet_id: wallet.clone(),
            amount: m("USD", "70.01"),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "PAYMENT_EXCEEDS_ARREARS");
    let paid = w
        .pay_arrears(PayArrearsRequest {
            request_id: rid(),
            wallet_id: wallet.clone(),
            amount: m("USD", "70.00"),
        })
        .await?
        .into_inner();
    assert_eq!(paid.remaining_arrears.unwrap().amount, "0.00");
    assert_eq!(balance(&mut w, &wallet, "USD").await.0, dec("30.00"));
    check_invariants(&admin_pool(&tp).await).await;
    tp.stop().await
}

#[tokio::test]
async fn entries_are_corrected_by_reversal_exactly_once() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    let (a, b) = (open(&mut w).await, open(&mut w).await);
    top_up(&mut w, &a, "EUR", "10.00").await;
    let t = w
        .create_transfer(CreateTransferRequest {
            request_id: rid(),
            source_wallet_id: a.clone(),
            destination_wallet_id: b.clone(),
            amount: m("EUR", "4.00"),
            ..Default::default()
        })
        .await?
        .into_inner()
        .transfer
        .unwrap();
    let reverse = ReverseJournalEntryRequest {
        request_id: rid(),
        journal_entry_id: t.journal_entry_id.clone(),
        reason: "sent by mistake".into(),
    };
    let r = w.reverse_journal_entry(reverse).await?.into_inner();
    assert_eq!(
        r.original.unwrap().reversed_by_entry_id,
        r.reversal.as_ref().unwrap().journal_entry_id
    );
    assert_eq!(balance(&mut w, &a, "EUR").await.0, dec("10.00"));
    let again = ReverseJournalEntryRequest {
        request_id: rid(),
        journal_entry_id: t.journal_entry_id.clone(),
        reason: "again".into(),
    };
    assert_eq!(
        reason(&w.reverse_journal_entry(again).await.unwrap_err()),
        "ENTRY_ALREADY_REVERSED"
    );
    let reversal_id = r.reversal.unwrap().journal_entry_id;
    let not = ReverseJournalEntryRequest {
        request_id: rid(),
        journal_entry_id: reversal_id,
        reason: "x".into(),
    };
    assert_eq!(
        reason(&w.reverse_journal_entry(not).await.unwrap_err()),
        "ENTRY_NOT_REVERSIBLE"
    );
    check_invariants(&admin_pool(&tp).await).await;
    tp.stop().await
}

#[tokio::test]
async fn statements_page_without_gaps_or_repeats() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    let (a, b) = (open(&mut w).await, open(&mut w).await);
    top_up(&mut w, &a, "HKD", "100.00").await;
    for i in 1..=12 {
        let req = CreateTransferRequest {
            request_id: rid(),
            source_wallet_id: a.clone(),
            destination_wallet_id: b.clone(),
            amount: m("HKD", &format!("{i}.00")),
            ..Default::default()
        };
        w.create_transfer(req).await?;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = w
            .list_statement_lines(ListStatementLinesRequest {
                wallet_id: a.clone(),
                currency_code: "HKD".into(),
                page: Some(PageRequest {
                    page_size: 5,
                    page_token: token.clone(),
                }),
                ..Default::default()
            })
            .await?
            .into_inner();
        assert!(page.statement_lines.len() <= 5);
        seen.extend(page.statement_lines.iter().map(|l| {
            (
                l.journal_entry_id.clone(),
                l.posting_index,
                l.balance_after.clone().unwrap().amount,
            )
        }));
        token = page.page.unwrap().next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(seen.len(), 13, "one top-up and twelve transfers");
    let unique: std::collections::HashSet<_> =
        seen.iter().map(|(e, i, _)| (e.clone(), *i)).collect();
    assert_eq!(unique.len(), 13, "no repeats");
    assert_eq!(seen.last().unwrap().2, "22.00", "100 - (1+..+12)");
    let bad = ListStatementLinesRequest {
        wallet_id: a.clone(),
        page: Some(PageRequest {
            page_size: 5,
            page_token: "garbage".into(),
        }),
        ..Default::default()
    };
    assert_eq!(
        w.list_statement_lines(bad).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    tp.stop().await
}

/// A small deterministic generator, so a failing sequence can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[tokio::test]
async fn random_operation_sequences_keep_the_ledger_invariants() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    let pool = admin_pool(&tp).await;
    let wallets: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(open(&mut w).await);
        }
        v
    };
    let currencies = ["USD", "JPY", "CNH"];
    let mut accounts = HashMap::new();
    for wallet in &wallets {
        for c in currencies {
            accounts.insert(
                (wallet.clone(), c),
                receiving(&mut w, wallet, c, ReceivingAccountPurpose::TopUp).await,
            );
        }
    }
    let mut open_holds: Vec<String> = Vec::new();
    for seed in [0x9e37_79b9_7f4a_7c15_u64, 42, 7_777_777] {
        let mut rng = Rng(seed);
        for step in 0..60 {
            let wallet = &wallets[rng.below(4) as usize];
            let other = &wallets[rng.below(4) as usize];
            let c = currencies[rng.below(3) as usize];
            let amount = if c == "JPY" {
                format!("{}", 1 + rng.below(5000))
            } else {
                format!("{}.{:02}", rng.below(300), rng.below(100))
            };
            let result = match rng.below(6) {
                0 => w
                    .record_inbound_remittance(remittance(
                        &accounts[&(wallet.clone(), c)],
                        &rid(),
                        &amount,
                    ))
                    .await
                    .map(|_| ()),
                1 | 2 => w
                    .create_transfer(CreateTransferRequest {
                        request_id: rid(),
                        source_wallet_id: wallet.clone(),
                        destination_wallet_id: other.clone(),
                        amount: m(c, &amount),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ()),
                3 => w
                    .create_hold(CreateHoldRequest {
                        request_id: rid(),
                        wallet_id: wallet.clone(),
                        amount: m(c, &amount),
                        purpose: HoldPurpose::Escrow as i32,
                        ..Default::default()
                    })
                    .await
                    .map(|r| open_holds.push(r.into_inner().hold.unwrap().hold_id)),
                4 if !open_holds.is_empty() => {
                    let hold = open_holds.remove(rng.below(open_holds.len() as u64) as usize);
                    let h = w
                        .get_hold(GetHoldRequest {
                            hold_id: hold.clone(),
                        })
                        .await?
                        .into_inner()
                        .hold
                        .unwrap();
                    let held = h.amount.unwrap();
                    let part = Decimal::from_str_exact(&held.amount)? / Decimal::TWO;
                    let part = kuajing_platform::money::format_amount(
                        part,
                        held.currency_code.parse().unwrap(),
                    );
                    w.capture_hold(CaptureHoldRequest {
                        request_id: rid(),
                        hold_id: hold,
                        payee_wallet_id: other.clone(),
                        amount: m(&held.currency_code, &part),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ())
                }
                _ if !open_holds.is_empty() => {
                    let hold = open_holds.remove(rng.below(open_holds.len() as u64) as usize);
                    w.release_hold(ReleaseHoldRequest {
                        request_id: rid(),
                        hold_id: hold,
                        reason: String::new(),
                    })
                    .await
                    .map(|_| ())
                }
                _ => Ok(()),
            };
            if let Err(e) = result {
                let r = reason(&e);
                assert!(
                    r == "INSUFFICIENT_FUNDS" || e.code() == Code::InvalidArgument,
                    "seed {seed} step {step}: unexpected {e:?}"
                );
            }
            check_invariants(&pool).await;
        }
    }
    tp.stop().await
}

#[tokio::test]
async fn sixteen_concurrent_clients_end_with_exact_balances() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    let mut wallets = Vec::new();
    for _ in 0..3 {
        let wallet = open(&mut w).await;
        top_up(&mut w, &wallet, "USD", "100.00").await;
        wallets.push(wallet);
    }
    let mut tasks = Vec::new();
    for client in 0..16u64 {
        let mut w = tp.wallet();
        let wallets = wallets.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(client * 7919 + 1);
            let mut moved: Vec<(usize, usize, Decimal)> = Vec::new();
            for _ in 0..25 {
                let from = rng.below(3) as usize;
                let to = (from + 1 + rng.below(2) as usize) % 3;
                let amount = Decimal::new(i64::try_from(1 + rng.below(2500)).unwrap(), 2);
                let req = CreateTransferRequest {
                    request_id: rid(),
                    source_wallet_id: wallets[from].clone(),
                    destination_wallet_id: wallets[to].clone(),
                    amount: m("USD", &amount.to_string()),
                    ..Default::default()
                };
                match w.create_transfer(req).await {
                    Ok(_) => moved.push((from, to, amount)),
                    Err(e) => assert_eq!(reason(&e), "INSUFFICIENT_FUNDS", "{e:?}"),
                }
            }
            moved
        }));
    }
    let mut expected = [dec("100.00"); 3];
    let mut successes = 0;
    for t in tasks {
        for (from, to, amount) in t.await? {
            expected[from] -= amount;
            expected[to] += amount;
            successes += 1;
        }
    }
    assert!(
        successes > 100,
        "the load moved money ({successes} transfers)"
    );
    for (i, wallet) in wallets.iter().enumerate() {
        let (available, _) = balance(&mut w, wallet, "USD").await;
        assert_eq!(available, expected[i], "wallet {i}");
        assert!(available >= Decimal::ZERO);
    }
    check_invariants(&admin_pool(&tp).await).await;
    tp.stop().await
}

#[tokio::test]
async fn a_person_edge_acts_for_reaches_only_their_own_wallet() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    let (alice, bob) = (rid(), rid());
    let alice_wallet = w
        .open_wallet(OpenWalletRequest {
            request_id: rid(),
            owner_account_id: alice.clone(),
        })
        .await?
        .into_inner()
        .wallet
        .unwrap()
        .wallet_id;
    top_up(&mut w, &alice_wallet, "USD", "10.00").await;
    let mut as_edge = WalletServiceClient::new(
        tp.channel_as("wallet", kuajing_testkit::As::Caller("edge".into())),
    );
    let for_person = |person: &str, wallet: &str| {
        let mut r = tonic::Request::new(GetWalletRequest {
            lookup: Some(get_wallet_request::Lookup::WalletId(wallet.to_owned())),
        });
        kuajing_platform::service::for_subject(&mut r, uuid::Uuid::try_parse(person).unwrap());
        r
    };
    assert!(
        as_edge
            .get_wallet(for_person(&alice, &alice_wallet))
            .await
            .is_ok()
    );
    let err = as_edge
        .get_wallet(for_person(&bob, &alice_wallet))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::PermissionDenied, "NOT_OWNER")
    );
    let mut transfer = tonic::Request::new(CreateTransferRequest {
        request_id: rid(),
        source_wallet_id: alice_wallet.clone(),
        destination_wallet_id: open(&mut w).await,
        amount: m("USD", "1.00"),
        ..Default::default()
    });
    kuajing_platform::service::for_subject(&mut transfer, uuid::Uuid::try_parse(&bob).unwrap());
    assert_eq!(
        reason(&as_edge.create_transfer(transfer).await.unwrap_err()),
        "NOT_OWNER"
    );
    assert_eq!(
        balance(&mut w, &alice_wallet, "USD").await.0,
        dec("10.00"),
        "nothing moved"
    );
    // A service other than edge may not name a person at all.
    let mut as_fx =
        WalletServiceClient::new(tp.channel_as("wallet", kuajing_testkit::As::Caller("fx".into())));
    let err = as_fx
        .get_wallet(for_person(&alice, &alice_wallet))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "CALLER_NOT_ALLOWED");
    tp.stop().await
}
