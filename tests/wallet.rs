//! The wallet over gRPC on a real Postgres: balances, remittances, transfers, holds,
//! conversions, fees, reversals, statements, idempotency, invariants and concurrency.

use crate::support::people::refused;
use crate::support::{dec, m, owner_of, reason, rid, wallet_for};
use std::collections::HashMap;

use kuajing::parties::{PIN, Person, acting};
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::identity::v1::identity_service_client::IdentityServiceClient;
use kuajing_proto::types::{Money, PageRequest, TimeRange};
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

async fn open(w: &mut Client) -> String {
    let owner = rid();
    let req = OpenWalletRequest {
        request_id: rid(),
        owner_account_id: owner.clone(),
    };
    w.open_wallet(acting(&owner, req).unwrap())
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
    let owner = owner_of(w, wallet).await;
    w.create_receiving_account(acting(&owner, req).unwrap())
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
        .open_wallet(acting(
            &owner,
            OpenWalletRequest {
                request_id: rid(),
                owner_account_id: owner.clone(),
            },
        )?)
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
        .open_wallet(acting(
            &owner,
            OpenWalletRequest {
                request_id: rid(),
                owner_account_id: owner.clone(),
            },
        )?)
        .await
        .unwrap_err();
    refused(&err, Code::AlreadyExists, "WALLET_ALREADY_EXISTS");
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
    let owner = owner_of(&mut w, &wallet).await;
    let err = w
        .create_receiving_account(acting(
            &owner,
            CreateReceivingAccountRequest {
                request_id: rid(),
                wallet_id: wallet.clone(),
                currency_code: "CNY".into(),
                display_name: "x".into(),
                purpose: ReceivingAccountPurpose::TopUp as i32,
            },
        )?)
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
    refused(&err, Code::AlreadyExists, "BANK_REFERENCE_CONFLICT");
    let mut wrong = remittance(&account, "BANK-REF-2", "5");
    wrong.account_number = "0000000000000000".into();
    let err = w.record_inbound_remittance(wrong).await.unwrap_err();
    refused(&err, Code::NotFound, "RECEIVING_ACCOUNT_NOT_FOUND");
    let mut wrong = remittance(&account, "BANK-REF-3", "5");
    wrong.amount = m("USD", "5");
    let err = w.record_inbound_remittance(wrong).await.unwrap_err();
    refused(&err, Code::FailedPrecondition, "CURRENCY_MISMATCH");
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
    refused(&err, Code::AlreadyExists, "IDEMPOTENCY_KEY_REUSED");

    let too_much = CreateTransferRequest {
        request_id: rid(),
        amount: m("USD", "58.51"),
        fee_legs: vec![],
        ..req.clone()
    };
    let err = w.create_transfer(too_much).await.unwrap_err();
    refused(&err, Code::FailedPrecondition, "INSUFFICIENT_FUNDS");
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
    refused(&err, Code::FailedPrecondition, "HOLD_NOT_OPEN");
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
    let owner = owner_of(&mut w, &supplier).await;
    let overview = wallet_for(&tp, &owner)
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
        ..Default::default()
    };
    assert_eq!(
        reason(&w.charge_fee(refused).await.unwrap_err()),
        "INSUFFICIENT_FUNDS"
    );
    let charged = w
        .charge_fee(ChargeFeeRequest {
            request_id: rid(),
            wallet_id: wallet.clone(),
            fee: Some(fee.clone()),
            order_id: "TA-2".into(),
            allow_arrears: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(charged.collected.unwrap().amount, "30.00");
    assert_eq!(charged.arrears_added.unwrap().amount, "70.00");
    // A fee charged where the wallet has nothing (its agent-export pool) is all arrears;
    // the standard pool is not touched.
    top_up(&mut w, &wallet, "USD", "5.00").await;
    let agent = w
        .charge_fee(ChargeFeeRequest {
            request_id: rid(),
            wallet_id: wallet.clone(),
            fee: Some(FeeLeg {
                amount: m("USD", "1.00"),
                ..fee.clone()
            }),
            order_id: "TA-3".into(),
            allow_arrears: true,
            fund_pool: FundPool::AgentExport as i32,
        })
        .await?
        .into_inner();
    assert_eq!(agent.collected.unwrap().amount, "0.00");
    assert_eq!(agent.arrears_added.unwrap().amount, "1.00");
    assert_eq!(balance(&mut w, &wallet, "USD").await.0, dec("5.00"));
    // An arrears payment comes from the standard pool.
    let owner = owner_of(&mut w, &wallet).await;
    w.pay_arrears(acting(
        &owner,
        PayArrearsRequest {
            request_id: rid(),
            wallet_id: wallet.clone(),
            amount: m("USD", "1.00"),
        },
    )?)
    .await?;
    top_up(&mut w, &wallet, "USD", "96.00").await;
    let err = w
        .pay_arrears(acting(
            &owner,
            PayArrearsRequest {
                request_id: rid(),
                wallet_id: wallet.clone(),
                amount: m("USD", "70.01"),
            },
        )?)
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "PAYMENT_EXCEEDS_ARREARS");
    let paid = w
        .pay_arrears(acting(
            &owner,
            PayArrearsRequest {
                request_id: rid(),
                wallet_id: wallet.clone(),
                amount: m("USD", "70.00"),
            },
        )?)
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
    // Statements are read by edge for the owner.
    let owner = owner_of(&mut w, &a).await;
    let mut w = wallet_for(&tp, &owner);
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
    // Filters: by entry type, and by creation time (start inclusive, end exclusive).
    let lines = |types: Vec<JournalEntryType>, range: Option<TimeRange>| {
        let mut w = w.clone();
        let a = a.clone();
        async move {
            w.list_statement_lines(ListStatementLinesRequest {
                wallet_id: a,
                currency_code: "HKD".into(),
                create_time_range: range,
                types: types.into_iter().map(|t| t as i32).collect(),
                page: Some(PageRequest {
                    page_size: 100,
                    page_token: String::new(),
                }),
            })
            .await
            .expect("statement lines")
            .into_inner()
            .statement_lines
        }
    };
    let all = lines(vec![], None).await;
    assert_eq!(all.len(), 13);
    let transfers = lines(vec![JournalEntryType::Transfer], None).await;
    assert_eq!(transfers.len(), 12);
    assert!(
        transfers
            .iter()
            .all(|l| l.r#type == JournalEntryType::Transfer as i32)
    );
    let top_ups = lines(vec![JournalEntryType::InboundRemittance], None).await;
    assert_eq!(top_ups.len(), 1);
    let at = |l: &StatementLine| {
        let t = l.create_time.expect("a time");
        (t.seconds, t.nanos)
    };
    let pivot = all[6].create_time;
    let from = lines(
        vec![],
        Some(TimeRange {
            start_time: pivot,
            end_time: None,
        }),
    )
    .await;
    let before = lines(
        vec![],
        Some(TimeRange {
            start_time: None,
            end_time: pivot,
        }),
    )
    .await;
    let cut = at(&all[6]);
    assert_eq!(
        from.len(),
        all.iter().filter(|l| at(l) >= cut).count(),
        "from the pivot on"
    );
    assert!(from.iter().all(|l| at(l) >= cut));
    assert!(before.iter().all(|l| at(l) < cut));
    assert_eq!(from.len() + before.len(), 13, "the halves make the whole");
    assert!(!from.is_empty());
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
        .open_wallet(acting(
            &alice,
            OpenWalletRequest {
                request_id: rid(),
                owner_account_id: alice.clone(),
            },
        )?)
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
    refused(&err, Code::PermissionDenied, "NOT_OWNER");
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
    // Edge naming nobody reaches no wallet at all (it used to act for the system).
    let mut nobody = tonic::Request::new(CreateTransferRequest {
        request_id: rid(),
        source_wallet_id: alice_wallet.clone(),
        destination_wallet_id: open(&mut w).await,
        amount: m("USD", "1.00"),
        ..Default::default()
    });
    nobody.set_timeout(std::time::Duration::from_secs(5));
    let err = as_edge.create_transfer(nobody).await.unwrap_err();
    refused(&err, Code::PermissionDenied, "SUBJECT_REQUIRED");
    let err = as_edge
        .get_wallet(GetWalletRequest {
            lookup: Some(get_wallet_request::Lookup::WalletId(alice_wallet.clone())),
        })
        .await
        .unwrap_err();
    refused(&err, Code::PermissionDenied, "SUBJECT_REQUIRED");
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

// ---------------------------------------------------------------------------------------
// Withdrawals: the seeded fee schedule and limits, routes, bank accounts, the payment PIN
// and the status lifecycle, through the real wallet, identity and fx.
// ---------------------------------------------------------------------------------------

fn info(s: &tonic::Status, key: &str) -> Option<String> {
    s.get_details_error_info()
        .and_then(|i| i.metadata.get(key).cloned())
}

/// Sets `account`'s payment PIN to [`PIN`] as edge does for the person: a SET_PAYMENT_PIN
/// code sent by email, read from identity's development outbox.
async fn set_pin(tp: &TestPlatform, account: &str) {
    let reach = tp.reach();
    let mut id = IdentityServiceClient::new(reach.channel("identity", "edge").unwrap());
    let send = idp::SendVerificationCodeRequest {
        request_id: rid(),
        account_id: account.to_owned(),
        channel: idp::VerificationChannel::Email as i32,
        purpose: idp::VerificationPurpose::SetPaymentPin as i32,
        reference: String::new(),
    };
    let challenge = id
        .send_verification_code(acting(account, send).unwrap())
        .await
        .unwrap()
        .into_inner()
        .challenge
        .unwrap();
    let code = reach.code_in_outbox(&challenge.challenge_id).await.unwrap();
    let set = idp::SetPaymentPinRequest {
        request_id: rid(),
        account_id: account.to_owned(),
        pin: PIN.to_owned(),
        challenge_id: challenge.challenge_id,
        code,
    };
    id.set_payment_pin(acting(account, set).unwrap())
        .await
        .unwrap();
}

/// A mainland supplier with a wallet and the payment PIN [`PIN`]: a paid member when
/// `paid`, else a free member (identity's default for a new supplier).
async fn supplier_with_pin(tp: &TestPlatform, ops: &str, paid: bool) -> Person {
    let s = tp.reach().supplier(ops, paid, false).await.unwrap();
    set_pin(tp, &s.account_id).await;
    s
}

/// Credits `amount` to `pool` of `wallet` as available funds: a trade-collection
/// remittance linked to an order (the way CNY, which top-ups do not take, arrives).
async fn collect(w: &mut Client, wallet: &str, currency: &str, amount: &str, pool: FundPool) {
    let account = receiving(
        w,
        wallet,
        currency,
        ReceivingAccountPurpose::TradeCollection,
    )
    .await;
    let r = w
        .record_inbound_remittance(remittance(&account, &rid(), amount))
        .await
        .unwrap()
        .into_inner()
        .remittance
        .unwrap();
    w.link_remittance(LinkRemittanceRequest {
        request_id: rid(),
        remittance_id: r.remittance_id,
        order_id: rid(),
        payment_part: OrderPaymentPart::Prepayment as i32,
        amount: m(currency, amount),
        disposition: LinkDisposition::Available as i32,
        fund_pool: pool as i32,
    })
    .await
    .unwrap();
}

fn bank_request(
    wallet: &str,
    ty: BankAccountType,
    currency: &str,
    number: &str,
) -> RegisterBankAccountRequest {
    RegisterBankAccountRequest {
        request_id: rid(),
        wallet_id: wallet.to_owned(),
        r#type: ty as i32,
        holder_name: "Shenzhen Bright Lighting Co., Ltd.".into(),
        bank_name: "Bank of China Shenzhen Branch".into(),
        branch_name: String::new(),
        account_number: number.to_owned(),
        swift_code: "BKCHCNBJ45A".into(),
        routing_code: String::new(),
        country_code: "CN".into(),
        currency_code: currency.to_owned(),
    }
}

/// Registers a bank account with a fresh number; returns its id.
async fn bank(w: &mut Client, wallet: &str, ty: BankAccountType, currency: &str) -> String {
    let number = format!("62{}", &uuid::Uuid::now_v7().simple().to_string()[16..]);
    let owner = owner_of(w, wallet).await;
    w.register_bank_account(acting(&owner, bank_request(wallet, ty, currency, &number)).unwrap())
        .await
        .unwrap()
        .into_inner()
        .bank_account
        .unwrap()
        .bank_account_id
}

async fn estimate(
    w: &mut Client,
    wallet: &str,
    bank: &str,
    pool: FundPool,
    amount: Option<Money>,
) -> Result<EstimateWithdrawalFeeResponse, tonic::Status> {
    let owner = owner_of(w, wallet).await;
    let request = EstimateWithdrawalFeeRequest {
        wallet_id: wallet.to_owned(),
        bank_account_id: bank.to_owned(),
        source_fund_pool: pool as i32,
        amount,
    };
    w.estimate_withdrawal_fee(acting(&owner, request).expect("an account id"))
        .await
        .map(tonic::Response::into_inner)
}

fn withdrawal(
    wallet: &str,
    bank: &str,
    pool: FundPool,
    amount: Option<Money>,
    pin: &str,
) -> CreateWithdrawalRequest {
    CreateWithdrawalRequest {
        request_id: rid(),
        wallet_id: wallet.to_owned(),
        bank_account_id: bank.to_owned(),
        source_fund_pool: pool as i32,
        amount,
        payment_pin: pin.to_owned(),
        remark: "June proceeds".into(),
    }
}

async fn withdraw(
    w: &mut Client,
    req: CreateWithdrawalRequest,
) -> Result<Withdrawal, tonic::Status> {
    let owner = owner_of(w, &req.wallet_id).await;
    w.create_withdrawal(acting(&owner, req).expect("an account id"))
        .await
        .map(|r| r.into_inner().withdrawal.unwrap())
}

async fn move_withdrawal(
    w: &mut Client,
    id: &str,
    status: WithdrawalStatus,
    bank_reference: &str,
    failure_reason: &str,
) -> Result<Withdrawal, tonic::Status> {
    w.update_withdrawal_status(UpdateWithdrawalStatusRequest {
        request_id: rid(),
        withdrawal_id: id.to_owned(),
        status: status as i32,
        bank_reference: bank_reference.to_owned(),
        failure_reason: failure_reason.to_owned(),
    })
    .await
    .map(|r| r.into_inner().withdrawal.unwrap())
}

/// The balance of a platform ledger account kind in one currency (over its shards).
async fn platform_balance(w: &mut Client, kind: LedgerAccountKind, currency: &str) -> Decimal {
    w.list_ledger_accounts(ListLedgerAccountsRequest {
        kind: kind as i32,
        currency_code: currency.to_owned(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .ledger_accounts
    .iter()
    .filter(|a| a.wallet_id.is_empty())
    .map(|a| dec(&a.balance.as_ref().unwrap().amount))
    .sum()
}

async fn withdrawals_of(w: &mut Client, wallet: &str) -> Vec<Withdrawal> {
    w.list_withdrawals(ListWithdrawalsRequest {
        wallet_id: wallet.to_owned(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .withdrawals
}

#[tokio::test]
async fn withdrawal_fees_follow_the_seeded_schedule_to_the_minor_unit() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    // The schedule as the service lists it: seed 002's defaults, loaded as data.
    let rules = w
        .list_withdrawal_fee_rules(ListWithdrawalFeeRulesRequest::default())
        .await?
        .into_inner()
        .fee_rules;
    // Seed 002's four rows (the self-export USD route of its Direct Pay note), the free
    // member's 0.5 % for each CNY route; no route to a person's own account.
    assert_eq!(rules.len(), 8, "{rules:#?}");
    let rule = |pool: FundPool, currency: &str, ty: BankAccountType, tier: MembershipTier| {
        rules
            .iter()
            .find(|r| {
                r.fund_pool == pool as i32
                    && r.currency_code == currency
                    && r.bank_account_type == ty as i32
                    && r.membership_tier == tier as i32
            })
            .unwrap_or_else(|| panic!("no rule {pool:?} {currency} {ty:?} {tier:?}"))
            .clone()
    };
    use BankAccountType::{Corporate, LegalRepresentativePersonal as LegalRep, Personal};
    use FundPool::{AgentExport, Standard};
    use MembershipTier::{Free, Paid, Unspecified as AnyTier};
    let usd_corporate = rule(Standard, "USD", Corporate, AnyTier);
    let agent_usd_corporate = rule(AgentExport, "USD", Corporate, AnyTier);
    let cny_corporate = rule(Standard, "CNY", Corporate, AnyTier);
    let agent_cny_corporate = rule(AgentExport, "CNY", Corporate, AnyTier);
    let cny_legal_rep = rule(Standard, "CNY", LegalRep, AnyTier);
    let free_cny_corporate = rule(Standard, "CNY", Corporate, Free);
    let free_cny_legal_rep = rule(Standard, "CNY", LegalRep, Free);
    let free_agent_cny_corporate = rule(AgentExport, "CNY", Corporate, Free);
    assert!(rules.iter().all(|r| r.bank_account_type != Personal as i32));
    let terms = |r: &WithdrawalFeeRule| {
        (
            r.fixed_fee.clone().unwrap().amount,
            r.fee_percent.clone(),
            r.per_withdrawal_limit.clone(),
        )
    };
    let usd = |a: &str| m("USD", a);
    assert_eq!(
        terms(&usd_corporate),
        ("15.00".into(), "0".into(), usd("5000000.00"))
    );
    assert_eq!(
        terms(&agent_usd_corporate),
        ("15.00".into(), "0".into(), usd("5000000.00"))
    );
    assert_eq!(terms(&cny_corporate), ("0.00".into(), "0".into(), None));
    assert_eq!(
        terms(&agent_cny_corporate),
        ("0.00".into(), "0".into(), None)
    );
    assert_eq!(
        terms(&cny_legal_rep),
        ("0.00".into(), "0.17".into(), usd("50000.00"))
    );
    assert_eq!(
        terms(&free_cny_corporate),
        ("0.00".into(), "0.5".into(), None)
    );
    assert_eq!(
        terms(&free_cny_legal_rep),
        ("0.00".into(), "0.5".into(), usd("50000.00"))
    );
    assert_eq!(
        terms(&free_agent_cny_corporate),
        ("0.00".into(), "0.5".into(), None)
    );

    let ops = tp.reach().operator().await?;
    let paid = supplier_with_pin(&tp, &ops, true).await;
    let free = supplier_with_pin(&tp, &ops, false).await;
    let (pw, fw) = (paid.wallet_id.as_str(), free.wallet_id.as_str());
    let p_usd = bank(&mut w, pw, Corporate, "USD").await;
    let p_cny = bank(&mut w, pw, Corporate, "CNY").await;
    let p_legal = bank(&mut w, pw, LegalRep, "CNY").await;
    let f_usd = bank(&mut w, fw, Corporate, "USD").await;
    let f_cny = bank(&mut w, fw, Corporate, "CNY").await;
    let f_legal = bank(&mut w, fw, LegalRep, "CNY").await;

    // (wallet, bank, pool, amount, fee, net, rule applied, tier seen)
    let cases = [
        // USD to a corporate account: USD 15 each, from either pool, for any tier.
        (
            pw,
            &p_usd,
            Standard,
            "USD 1000.00",
            "15.00",
            "985.00",
            &usd_corporate,
            Paid,
        ),
        (
            pw,
            &p_usd,
            AgentExport,
            "USD 1000.00",
            "15.00",
            "985.00",
            &agent_usd_corporate,
            Paid,
        ),
        (
            fw,
            &f_usd,
            Standard,
            "USD 1000.00",
            "15.00",
            "985.00",
            &usd_corporate,
            Free,
        ),
        (
            pw,
            &p_usd,
            Standard,
            "USD 15.01",
            "15.00",
            "0.01",
            &usd_corporate,
            Paid,
        ),
        // CNY to a corporate account: free for a paid member, without a limit.
        (
            pw,
            &p_cny,
            Standard,
            "CNY 10000000.00",
            "0.00",
            "10000000.00",
            &cny_corporate,
            Paid,
        ),
        (
            pw,
            &p_cny,
            AgentExport,
            "CNY 10000.00",
            "0.00",
            "10000.00",
            &agent_cny_corporate,
            Paid,
        ),
        // CNY to the legal representative: 0.17 %, half-even to the fen.
        (
            pw,
            &p_legal,
            Standard,
            "CNY 10000.00",
            "17.00",
            "9983.00",
            &cny_legal_rep,
            Paid,
        ),
        // 0.17 % of 150.00 = 0.255 exactly: the 5 is odd, so up to 0.26.
        (
            pw,
            &p_legal,
            Standard,
            "CNY 150.00",
            "0.26",
            "149.74",
            &cny_legal_rep,
            Paid,
        ),
        // 0.17 % of 50.00 = 0.085 exactly: the 8 is even, so it stays 0.08 (half-up: 0.09).
        (
            pw,
            &p_legal,
            Standard,
            "CNY 50.00",
            "0.08",
            "49.92",
            &cny_legal_rep,
            Paid,
        ),
        // 0.17 % of 12.35 = 0.020995: below the half, 0.02.
        (
            pw,
            &p_legal,
            Standard,
            "CNY 12.35",
            "0.02",
            "12.33",
            &cny_legal_rep,
            Paid,
        ),
        // A free member's CNY: 0.5 %, its own tier's rule beating the any-tier one.
        (
            fw,
            &f_cny,
            Standard,
            "CNY 10000.00",
            "50.00",
            "9950.00",
            &free_cny_corporate,
            Free,
        ),
        // 0.5 % of 3.00 = 0.015 exactly: 1 is odd, up to 0.02.
        (
            fw,
            &f_cny,
            Standard,
            "CNY 3.00",
            "0.02",
            "2.98",
            &free_cny_corporate,
            Free,
        ),
        // 0.5 % of 1.00 = 0.005 exactly: 0 is even, so no fee at all (half-up: 0.01).
        (
            fw,
            &f_cny,
            Standard,
            "CNY 1.00",
            "0.00",
            "1.00",
            &free_cny_corporate,
            Free,
        ),
        (
            fw,
            &f_legal,
            Standard,
            "CNY 10000.00",
            "50.00",
            "9950.00",
            &free_cny_legal_rep,
            Free,
        ),
    ];
    for (wallet, bank, pool, amount, fee, net, rule, tier) in cases {
        let (currency, value) = amount.split_once(' ').unwrap();
        let e = estimate(&mut w, wallet, bank, pool, m(currency, value)).await?;
        let what = format!("{amount} from {pool:?} by a {tier:?} member");
        assert_eq!(e.fee, m(currency, fee), "fee of {what}");
        assert_eq!(e.net_amount, m(currency, net), "net of {what}");
        assert_eq!(e.fee_rule.as_ref(), Some(rule), "rule of {what}");
        assert_eq!(e.membership_tier, tier as i32, "{what}");
        assert!(e.within_limit, "{what}");
        assert!(!e.sufficient_funds, "{what}: the wallets are empty");
    }

    // An amount the fee would take whole sends nothing: refused, never a net of zero or less.
    for amount in ["15.00", "10.00"] {
        let err = estimate(&mut w, pw, &p_usd, Standard, m("USD", amount))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::FailedPrecondition, "USD {amount}");
        assert_eq!(reason(&err), "WITHDRAWAL_AMOUNT_BELOW_FEE", "USD {amount}");
    }

    // The same fees when the money really leaves, and nowhere else but fee revenue.
    collect(&mut w, pw, "CNY", "1000.00", Standard).await;
    collect(&mut w, fw, "CNY", "10.00", Standard).await;
    let e = estimate(&mut w, pw, &p_legal, Standard, m("CNY", "1000.00")).await?;
    assert!(e.sufficient_funds);
    let e = estimate(&mut w, pw, &p_legal, Standard, m("CNY", "1000.01")).await?;
    assert!(!e.sufficient_funds, "one fen more than the balance");
    let a = withdraw(
        &mut w,
        withdrawal(pw, &p_legal, Standard, m("CNY", "150.00"), PIN),
    )
    .await?;
    assert_eq!(
        (a.amount, a.fee, a.net_amount, a.fee_rule_id.as_str()),
        (
            m("CNY", "150.00"),
            m("CNY", "0.26"),
            m("CNY", "149.74"),
            cny_legal_rep.fee_rule_id.as_str()
        )
    );
    let b = withdraw(
        &mut w,
        withdrawal(fw, &f_cny, Standard, m("CNY", "3.00"), PIN),
    )
    .await?;
    assert_eq!(
        (b.fee, b.net_amount, b.fee_rule_id.as_str()),
        (
            m("CNY", "0.02"),
            m("CNY", "2.98"),
            free_cny_corporate.fee_rule_id.as_str()
        )
    );
    assert_eq!(
        balance(&mut w, pw, "CNY").await,
        (dec("850.00"), Decimal::ZERO)
    );
    assert_eq!(
        balance(&mut w, fw, "CNY").await,
        (dec("7.00"), Decimal::ZERO)
    );
    assert_eq!(
        platform_balance(&mut w, LedgerAccountKind::FeeRevenue, "CNY").await,
        dec("0.28")
    );
    assert_eq!(
        platform_balance(&mut w, LedgerAccountKind::OutboundClearing, "CNY").await,
        dec("152.72")
    );
    let entry = w
        .get_journal_entry(GetJournalEntryRequest {
            journal_entry_id: a.journal_entry_id.clone(),
        })
        .await?
        .into_inner()
        .journal_entry
        .unwrap();
    assert_eq!(entry.r#type, JournalEntryType::Withdrawal as i32);
    let mut legs: Vec<(i32, Decimal)> = entry
        .postings
        .iter()
        .map(|p| {
            (
                p.ledger_account_kind,
                dec(&p.amount.as_ref().unwrap().amount),
            )
        })
        .collect();
    legs.sort();
    assert_eq!(
        legs,
        vec![
            (LedgerAccountKind::CustomerAvailable as i32, dec("-150.00")),
            (LedgerAccountKind::FeeRevenue as i32, dec("0.26")),
            (LedgerAccountKind::OutboundClearing as i32, dec("149.74")),
        ]
    );
    check_invariants(&admin_pool(&tp).await).await;
    tp.stop().await
}

#[tokio::test]
async fn withdrawal_limits_hold_to_the_minor_unit_and_name_the_limit() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    let ops = tp.reach().operator().await?;
    let s = supplier_with_pin(&tp, &ops, true).await;
    let wallet = s.wallet_id.as_str();
    use FundPool::Standard;
    top_up(&mut w, wallet, "USD", "5050000.02").await;
    let corporate = bank(&mut w, wallet, BankAccountType::Corporate, "USD").await;
    let personal = bank(&mut w, wallet, BankAccountType::Personal, "USD").await;

    // USD to a corporate account: at most USD 5,000,000 per withdrawal.
    let at = estimate(&mut w, wallet, &corporate, Standard, m("USD", "5000000.00")).await?;
    assert!(at.within_limit && at.sufficient_funds);
    assert_eq!(
        at.fee_rule.unwrap().per_withdrawal_limit,
        m("USD", "5000000.00")
    );
    let over = estimate(&mut w, wallet, &corporate, Standard, m("USD", "5000000.01")).await?;
    assert!(!over.within_limit && over.sufficient_funds);
    let err = withdraw(
        &mut w,
        withdrawal(wallet, &corporate, Standard, m("USD", "5000000.01"), PIN),
    )
    .await
    .unwrap_err();
    refused(&err, Code::FailedPrecondition, "WITHDRAWAL_LIMIT_EXCEEDED");
    assert_eq!(info(&err, "limit").as_deref(), Some("5000000.00 USD"));
    assert_eq!(
        balance(&mut w, wallet, "USD").await.0,
        dec("5050000.02"),
        "nothing moved"
    );
    assert!(withdrawals_of(&mut w, wallet).await.is_empty());
    let ok = withdraw(
        &mut w,
        withdrawal(wallet, &corporate, Standard, m("USD", "5000000.00"), PIN),
    )
    .await?;
    assert_eq!(
        (ok.fee, ok.net_amount),
        (m("USD", "15.00"), m("USD", "4999985.00"))
    );
    assert_eq!(balance(&mut w, wallet, "USD").await.0, dec("50000.02"));

    // No row of seed 002's table withdraws to a person's own account: refused.
    let err = withdraw(
        &mut w,
        withdrawal(wallet, &personal, Standard, m("USD", "100.00"), PIN),
    )
    .await
    .unwrap_err();
    refused(
        &err,
        Code::FailedPrecondition,
        "WITHDRAWAL_ROUTE_NOT_SUPPORTED",
    );
    assert_eq!(
        balance(&mut w, wallet, "USD").await.0,
        dec("50000.02"),
        "nothing moved"
    );

    // CNY to the legal representative: USD 50,000 through fx's mid rate, here an
    // operator's USD/CNY 8, so CNY 400,000.00 is exactly the limit.
    tp.fx()
        .set_rate(kuajing_proto::fx::v1::SetRateRequest {
            request_id: rid(),
            base_currency_code: "USD".into(),
            quote_currency_code: "CNY".into(),
            mid_rate: "8".into(),
            reason: "withdrawal limit test".into(),
        })
        .await?;
    collect(&mut w, wallet, "CNY", "400000.08", Standard).await;
    let legal = bank(
        &mut w,
        wallet,
        BankAccountType::LegalRepresentativePersonal,
        "CNY",
    )
    .await;
    let at = estimate(&mut w, wallet, &legal, Standard, m("CNY", "400000.00")).await?;
    assert!(at.within_limit);
    assert_eq!(at.fee, m("CNY", "680.00"), "0.17 %");
    // CNY 400,000.01 is worth USD 50,000.00125: over, though it rounds to the limit (the
    // limit is judged on the unrounded equivalent).
    let over = estimate(&mut w, wallet, &legal, Standard, m("CNY", "400000.01")).await?;
    assert!(!over.within_limit);
    let err = withdraw(
        &mut w,
        withdrawal(wallet, &legal, Standard, m("CNY", "400000.01"), PIN),
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&err), "WITHDRAWAL_LIMIT_EXCEEDED");
    assert_eq!(info(&err, "limit").as_deref(), Some("50000.00 USD"));
    assert_eq!(
        balance(&mut w, wallet, "CNY").await.0,
        dec("400000.08"),
        "nothing moved"
    );
    let ok = withdraw(
        &mut w,
        withdrawal(wallet, &legal, Standard, m("CNY", "400000.00"), PIN),
    )
    .await?;
    assert_eq!(
        (ok.fee, ok.net_amount),
        (m("CNY", "680.00"), m("CNY", "399320.00"))
    );
    assert_eq!(balance(&mut w, wallet, "CNY").await.0, dec("0.08"));
    assert_eq!(withdrawals_of(&mut w, wallet).await.len(), 2);
    check_invariants(&admin_pool(&tp).await).await;
    tp.stop().await
}

#[tokio::test]
async fn withdrawal_routes_bank_accounts_and_the_pin_are_checked_before_money_moves()
-> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = tp.reach().operator().await?;
    let s = supplier_with_pin(&tp, &ops, true).await;
    let mut w = tp.wallet();
    // Edge for the supplier, where the test calls the wallet directly.
    let mut me = wallet_for(&tp, &s.account_id);
    let wallet = s.wallet_id.as_str();
    use BankAccountType::{Corporate, LegalRepresentativePersonal, Personal};
    use FundPool::{AgentExport, Standard};
    top_up(&mut w, wallet, "USD", "100.00").await;
    top_up(&mut w, wallet, "EUR", "100.00").await;

    // No fee rule, no route: EUR or CNH to a corporate account, CNY to the legal
    // representative from the agent export account.
    let eur_corporate = bank(&mut w, wallet, Corporate, "EUR").await;
    let cnh_corporate = bank(&mut w, wallet, Corporate, "CNH").await;
    let cny_legal = bank(&mut w, wallet, LegalRepresentativePersonal, "CNY").await;
    for (bank_id, pool, amount) in [
        (&eur_corporate, Standard, m("EUR", "10.00")),
        (&cnh_corporate, Standard, m("CNH", "10.00")),
        (&cny_legal, AgentExport, m("CNY", "10.00")),
    ] {
        let err = estimate(&mut w, wallet, bank_id, pool, amount.clone())
            .await
            .unwrap_err();
        assert_eq!(
            (err.code(), reason(&err).as_str()),
            (Code::FailedPrecondition, "WITHDRAWAL_ROUTE_NOT_SUPPORTED"),
            "{amount:?} from {pool:?}"
        );
        let err = withdraw(
            &mut w,
            withdrawal(wallet, bank_id, pool, amount.clone(), PIN),
        )
        .await
        .unwrap_err();
        assert_eq!(
            (err.code(), reason(&err).as_str()),
            (Code::FailedPrecondition, "WITHDRAWAL_ROUTE_NOT_SUPPORTED"),
            "{amount:?} from {pool:?}"
        );
    }
    assert_eq!(
        balance(&mut w, wallet, "EUR").await.0,
        dec("100.00"),
        "nothing moved"
    );
    // Nor to a person's own account, in any currency: the sources offer none.
    let eur_personal = bank(&mut w, wallet, Personal, "EUR").await;
    let err = estimate(&mut w, wallet, &eur_personal, Standard, m("EUR", "10.00"))
        .await
        .unwrap_err();
    refused(
        &err,
        Code::FailedPrecondition,
        "WITHDRAWAL_ROUTE_NOT_SUPPORTED",
    );

    // A bank account registers once per wallet (same number, bank and currency).
    let first_request = bank_request(wallet, Corporate, "USD", "6222 0212 3456 7890");
    let first = me
        .register_bank_account(first_request.clone())
        .await?
        .into_inner()
        .bank_account
        .unwrap();
    assert_eq!(first.account_number_masked, "****7890");
    let again = me
        .register_bank_account(first_request)
        .await?
        .into_inner()
        .bank_account
        .unwrap();
    assert_eq!(again, first, "a retry of the same request answers the same");
    let duplicate = RegisterBankAccountRequest {
        holder_name: "Bright Lighting".into(),
        ..bank_request(wallet, Corporate, "USD", "6222021234567890")
    };
    let err = me.register_bank_account(duplicate).await.unwrap_err();
    refused(&err, Code::AlreadyExists, "BANK_ACCOUNT_ALREADY_REGISTERED");
    assert_eq!(
        info(&err, "bank_account_id"),
        Some(first.bank_account_id.clone())
    );
    // The same number in another currency is another account.
    me.register_bank_account(bank_request(wallet, Corporate, "CNY", "6222021234567890"))
        .await?;
    let listed = me
        .list_bank_accounts(ListBankAccountsRequest {
            wallet_id: wallet.to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .bank_accounts;
    assert_eq!(
        listed
            .iter()
            .filter(|b| b.account_number_masked == "****7890")
            .count(),
        2
    );
    let usd_corporate = first.bank_account_id;

    // The amount must be in the bank account's currency.
    let err = withdraw(
        &mut w,
        withdrawal(wallet, &usd_corporate, Standard, m("EUR", "10.00"), PIN),
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&err), "CURRENCY_MISMATCH");

    // A wrong PIN: refused by identity, and nothing moves.
    let err = withdraw(
        &mut w,
        withdrawal(
            wallet,
            &usd_corporate,
            Standard,
            m("USD", "40.00"),
            "000000",
        ),
    )
    .await
    .unwrap_err();
    refused(&err, Code::PermissionDenied, "PIN_INVALID");
    assert_eq!(info(&err, "attempts_remaining").as_deref(), Some("4"));
    assert_eq!(
        balance(&mut w, wallet, "USD").await,
        (dec("100.00"), Decimal::ZERO)
    );
    assert!(withdrawals_of(&mut w, wallet).await.is_empty());
    assert_eq!(
        platform_balance(&mut w, LedgerAccountKind::FeeRevenue, "USD").await,
        Decimal::ZERO
    );
    assert_eq!(
        platform_balance(&mut w, LedgerAccountKind::OutboundClearing, "USD").await,
        Decimal::ZERO
    );
    let entries = me
        .list_journal_entries(ListJournalEntriesRequest {
            wallet_id: wallet.to_owned(),
            types: vec![JournalEntryType::Withdrawal as i32],
            ..Default::default()
        })
        .await?
        .into_inner()
        .journal_entries;
    assert!(entries.is_empty(), "no withdrawal entry: {entries:?}");
    // The right PIN: it goes, and a balance one cent short is refused.
    let ok = withdraw(
        &mut w,
        withdrawal(wallet, &usd_corporate, Standard, m("USD", "40.00"), PIN),
    )
    .await?;
    assert_eq!(
        (ok.fee, ok.net_amount),
        (m("USD", "15.00"), m("USD", "25.00"))
    );
    assert_eq!(balance(&mut w, wallet, "USD").await.0, dec("60.00"));
    let err = withdraw(
        &mut w,
        withdrawal(wallet, &usd_corporate, Standard, m("USD", "60.01"), PIN),
    )
    .await
    .unwrap_err();
    refused(&err, Code::FailedPrecondition, "INSUFFICIENT_FUNDS");
    assert_eq!(balance(&mut w, wallet, "USD").await.0, dec("60.00"));

    // An owner who never set a PIN cannot withdraw.
    let no_pin = tp.reach().supplier(&ops, true, false).await?;
    top_up(&mut w, &no_pin.wallet_id, "USD", "100.00").await;
    let to = bank(&mut w, &no_pin.wallet_id, Corporate, "USD").await;
    let err = withdraw(
        &mut w,
        withdrawal(&no_pin.wallet_id, &to, Standard, m("USD", "40.00"), PIN),
    )
    .await
    .unwrap_err();
    refused(&err, Code::FailedPrecondition, "PIN_NOT_SET");
    assert_eq!(
        balance(&mut w, &no_pin.wallet_id, "USD").await.0,
        dec("100.00")
    );
    check_invariants(&admin_pool(&tp).await).await;
    tp.stop().await
}

#[tokio::test]
async fn withdrawal_status_moves_forward_only_and_a_failure_returns_the_money() -> anyhow::Result<()>
{
    use WithdrawalStatus::{Completed, Failed, Processing, Requested};
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    let ops = tp.reach().operator().await?;
    let s = supplier_with_pin(&tp, &ops, true).await;
    let wallet = s.wallet_id.as_str();
    top_up(&mut w, wallet, "USD", "1000.00").await;
    let to = bank(&mut w, wallet, BankAccountType::Corporate, "USD").await;
    let fees = LedgerAccountKind::FeeRevenue;
    let outbound = LedgerAccountKind::OutboundClearing;

    let a = withdraw(
        &mut w,
        withdrawal(wallet, &to, FundPool::Standard, m("USD", "300.00"), PIN),
    )
    .await?;
    assert_eq!(a.status, Requested as i32);
    assert!(a.finish_time.is_none() && a.reversal_entry_id.is_empty());
    assert_eq!(
        balance(&mut w, wallet, "USD").await,
        (dec("700.00"), Decimal::ZERO)
    );
    assert_eq!(platform_balance(&mut w, fees, "USD").await, dec("15.00"));
    assert_eq!(
        platform_balance(&mut w, outbound, "USD").await,
        dec("285.00")
    );

    let refuse = |err: tonic::Status, what: &str| {
        assert_eq!(
            (err.code(), reason(&err).as_str()),
            (Code::FailedPrecondition, "INVALID_STATUS_TRANSITION"),
            "{what}"
        );
    };
    // Not sent to the bank yet: it can neither complete nor fail.
    refuse(
        move_withdrawal(&mut w, &a.withdrawal_id, Completed, "", "")
            .await
            .unwrap_err(),
        "REQUESTED -> COMPLETED",
    );
    refuse(
        move_withdrawal(&mut w, &a.withdrawal_id, Failed, "", "closed")
            .await
            .unwrap_err(),
        "REQUESTED -> FAILED",
    );
    // PROCESSING needs the bank's reference; FAILED needs its reason.
    let err = move_withdrawal(&mut w, &a.withdrawal_id, Processing, "", "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let sent = move_withdrawal(&mut w, &a.withdrawal_id, Processing, "BOC-PAY-0001", "").await?;
    assert_eq!(
        (sent.status, sent.bank_reference.as_str()),
        (Processing as i32, "BOC-PAY-0001")
    );
    assert!(sent.finish_time.is_none());
    refuse(
        move_withdrawal(&mut w, &a.withdrawal_id, Processing, "BOC-PAY-0002", "")
            .await
            .unwrap_err(),
        "PROCESSING -> PROCESSING",
    );
    let done = move_withdrawal(&mut w, &a.withdrawal_id, Completed, "", "").await?;
    assert_eq!(done.status, Completed as i32);
    assert_eq!(done.bank_reference, "BOC-PAY-0001", "kept from PROCESSING");
    assert!(done.finish_time.is_some() && done.reversal_entry_id.is_empty());
    // COMPLETED is final.
    refuse(
        move_withdrawal(&mut w, &a.withdrawal_id, Failed, "", "returned")
            .await
            .unwrap_err(),
        "COMPLETED -> FAILED",
    );
    refuse(
        move_withdrawal(&mut w, &a.withdrawal_id, Processing, "BOC-PAY-0003", "")
            .await
            .unwrap_err(),
        "COMPLETED -> PROCESSING",
    );
    assert_eq!(
        balance(&mut w, wallet, "USD").await.0,
        dec("700.00"),
        "a completed payout stays out"
    );
    assert_eq!(platform_balance(&mut w, fees, "USD").await, dec("15.00"));

    // A failed payout returns amount and fee to the wallet by a reversing entry.
    let b = withdraw(
        &mut w,
        withdrawal(wallet, &to, FundPool::Standard, m("USD", "200.00"), PIN),
    )
    .await?;
    assert_eq!(balance(&mut w, wallet, "USD").await.0, dec("500.00"));
    assert_eq!(platform_balance(&mut w, fees, "USD").await, dec("30.00"));
    assert_eq!(
        platform_balance(&mut w, outbound, "USD").await,
        dec("470.00")
    );
    move_withdrawal(&mut w, &b.withdrawal_id, Processing, "BOC-PAY-0004", "").await?;
    let err = move_withdrawal(&mut w, &b.withdrawal_id, Failed, "", "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "FAILED needs a reason");
    let fail = UpdateWithdrawalStatusRequest {
        request_id: rid(),
        withdrawal_id: b.withdrawal_id.clone(),
        status: Failed as i32,
        bank_reference: String::new(),
        failure_reason: "beneficiary account closed".into(),
    };
    let failed = w
        .update_withdrawal_status(fail.clone())
        .await?
        .into_inner()
        .withdrawal
        .unwrap();
    assert_eq!(failed.status, Failed as i32);
    assert_eq!(failed.failure_reason, "beneficiary account closed");
    assert!(failed.finish_time.is_some() && !failed.reversal_entry_id.is_empty());
    assert_eq!(
        balance(&mut w, wallet, "USD").await,
        (dec("700.00"), Decimal::ZERO),
        "restored exactly"
    );
    assert_eq!(
        platform_balance(&mut w, fees, "USD").await,
        dec("15.00"),
        "the fee is returned too"
    );
    assert_eq!(
        platform_balance(&mut w, outbound, "USD").await,
        dec("285.00")
    );
    // The reversal negates every posting of the withdrawal's entry.
    let entry = |id: &str| GetJournalEntryRequest {
        journal_entry_id: id.to_owned(),
    };
    let original = w
        .get_journal_entry(entry(&b.journal_entry_id))
        .await?
        .into_inner()
        .journal_entry
        .unwrap();
    let reversal = w
        .get_journal_entry(entry(&failed.reversal_entry_id))
        .await?
        .into_inner()
        .journal_entry
        .unwrap();
    assert_eq!(reversal.r#type, JournalEntryType::Reversal as i32);
    assert_eq!(reversal.reverses_entry_id, b.journal_entry_id);
    assert_eq!(original.reversed_by_entry_id, failed.reversal_entry_id);
    // (Platform accounts are sharded: a reversal may post to another shard of the same
    // account, so legs compare by account kind, wallet and pool.)
    let legs = |e: &JournalEntry, sign: Decimal| {
        let mut legs: Vec<(i32, String, i32, Decimal)> = e
            .postings
            .iter()
            .map(|p| {
                (
                    p.ledger_account_kind,
                    p.wallet_id.clone(),
                    p.fund_pool,
                    sign * dec(&p.amount.as_ref().unwrap().amount),
                )
            })
            .collect();
        legs.sort();
        legs
    };
    assert_eq!(
        legs(&reversal, Decimal::ONE),
        legs(&original, Decimal::NEGATIVE_ONE)
    );
    assert_eq!(
        legs(&original, Decimal::ONE),
        vec![
            (
                LedgerAccountKind::CustomerAvailable as i32,
                wallet.to_owned(),
                FundPool::Standard as i32,
                dec("-200.00")
            ),
            (
                LedgerAccountKind::FeeRevenue as i32,
                String::new(),
                0,
                dec("15.00")
            ),
            (
                LedgerAccountKind::OutboundClearing as i32,
                String::new(),
                0,
                dec("185.00")
            ),
        ],
        "amount, fee and net"
    );
    // A retry of the report answers the same and reverses nothing twice.
    let replay = w
        .update_withdrawal_status(fail)
        .await?
        .into_inner()
        .withdrawal
        .unwrap();
    assert_eq!(replay, failed);
    assert_eq!(balance(&mut w, wallet, "USD").await.0, dec("700.00"));
    // FAILED is final.
    refuse(
        move_withdrawal(&mut w, &b.withdrawal_id, Completed, "", "")
            .await
            .unwrap_err(),
        "FAILED -> COMPLETED",
    );
    refuse(
        move_withdrawal(&mut w, &b.withdrawal_id, Processing, "BOC-PAY-0005", "")
            .await
            .unwrap_err(),
        "FAILED -> PROCESSING",
    );
    assert_eq!(balance(&mut w, wallet, "USD").await.0, dec("700.00"));
    let failed_only = w
        .list_withdrawals(ListWithdrawalsRequest {
            wallet_id: wallet.to_owned(),
            statuses: vec![Failed as i32],
            ..Default::default()
        })
        .await?
        .into_inner()
        .withdrawals;
    assert_eq!(failed_only, vec![failed.clone()]);
    let got = w
        .get_withdrawal(GetWithdrawalRequest {
            withdrawal_id: a.withdrawal_id.clone(),
        })
        .await?
        .into_inner()
        .withdrawal
        .unwrap();
    assert_eq!(got, done);
    check_invariants(&admin_pool(&tp).await).await;
    tp.stop().await
}

/// Transfers in two currencies between two wallets, batched, beside conversions between
/// the same currencies on the same wallets: every path locks ledger accounts in one order
/// (currency by its code, as the batch's SQL sorts), so none of them deadlocks and no
/// transfer of a batch answers INTERNAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_currency_batches_beside_conversions_never_deadlock() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    let (a, b) = (open(&mut w).await, open(&mut w).await);
    for wallet in [&a, &b] {
        top_up(&mut w, wallet, "SGD", "100000.00").await;
        top_up(&mut w, wallet, "USD", "100000.00").await;
    }
    let mut set = tokio::task::JoinSet::new();
    for task in 0..8u32 {
        let (mut w, a, b) = (tp.wallet(), a.clone(), b.clone());
        set.spawn(async move {
            let mut codes = Vec::new();
            for i in 0..40u32 {
                let (from, to) = if (task + i) % 2 == 0 {
                    (&a, &b)
                } else {
                    (&b, &a)
                };
                let currency = if (task + i / 2) % 2 == 0 {
                    "SGD"
                } else {
                    "USD"
                };
                let r = w
                    .create_transfer(CreateTransferRequest {
                        request_id: rid(),
                        source_wallet_id: from.clone(),
                        destination_wallet_id: to.clone(),
                        amount: m(currency, "0.01"),
                        destination_fund_pool: FundPool::Standard as i32,
                        ..Default::default()
                    })
                    .await;
                codes.push(r.err().map(|s| (s.code(), s.message().to_owned())));
            }
            codes
        });
    }
    for task in 0..4u32 {
        let (mut w, a, b) = (tp.wallet(), a.clone(), b.clone());
        set.spawn(async move {
            let mut codes = Vec::new();
            for i in 0..40u32 {
                let wallet = if (task + i) % 2 == 0 { &a } else { &b };
                let (sell, buy) = if i % 2 == 0 {
                    ("USD", "SGD")
                } else {
                    ("SGD", "USD")
                };
                let r = w
                    .post_conversion(PostConversionRequest {
                        request_id: rid(),
                        wallet_id: wallet.clone(),
                        quote_id: rid(),
                        sell_amount: m(sell, "1.00"),
                        buy_amount: m(buy, "1.00"),
                        fee: m(sell, "0.00"),
                    })
                    .await;
                codes.push(r.err().map(|s| (s.code(), s.message().to_owned())));
            }
            codes
        });
    }
    let mut failures = Vec::new();
    while let Some(codes) = set.join_next().await {
        failures.extend(codes?.into_iter().flatten());
    }
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    tp.stop().await
}

/// A transfer batch that loses a deadlock to another transaction is run again with the
/// same request ids: the transfer succeeds once instead of answering INTERNAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_that_loses_a_deadlock_is_run_again() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    let (x, y) = (open(&mut w).await, open(&mut w).await);
    // The batch locks the lower wallet id first.
    let (first, second) = if x < y { (x, y) } else { (y, x) };
    top_up(&mut w, &first, "USD", "10.00").await;
    top_up(&mut w, &second, "USD", "10.00").await;
    let admin = admin_pool(&tp).await;
    let lock = |wallet: String| {
        sqlx::query(
            "SELECT balance FROM wallet.ledger_accounts
             WHERE wallet_id = $1::uuid AND kind = 1 AND currency = 'USD' FOR UPDATE",
        )
        .bind(wallet)
    };
    // Another transaction holds the second account...
    let mut other = admin.begin().await?;
    lock(second.clone()).fetch_one(&mut *other).await?;
    // ...while the batch locks the first and waits for the second...
    let mut client = tp.wallet();
    let request = CreateTransferRequest {
        request_id: rid(),
        source_wallet_id: first.clone(),
        destination_wallet_id: second.clone(),
        amount: m("USD", "1.00"),
        destination_fund_pool: FundPool::Standard as i32,
        ..Default::default()
    };
    let transfer = tokio::spawn(async move { client.create_transfer(request).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // ...then asks for the first: a deadlock. Postgres ends the batch's transaction (it
    // waited longest); ours gets the row and commits, and the batch runs again.
    lock(first.clone()).fetch_one(&mut *other).await?;
    other.commit().await?;
    let done = transfer.await?;
    assert!(done.is_ok(), "{done:?}");
    assert_eq!(balance(&mut w, &first, "USD").await.0, dec("9.00"));
    assert_eq!(balance(&mut w, &second, "USD").await.0, dec("11.00"));
    check_invariants(&admin).await;
    tp.stop().await
}

/// A refused request id is refused for good: after the cause is gone (funds arrived), a
/// late retry of a refused CreateHold or CreateTransfer replays the refusal and moves
/// nothing, so a saga that compensated the refusal never meets a hold created after all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_request_id_never_succeeds_later() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    let (payer, payee) = (open(&mut w).await, open(&mut w).await);
    let hold = CreateHoldRequest {
        request_id: rid(),
        wallet_id: payer.clone(),
        amount: m("USD", "50.00"),
        purpose: HoldPurpose::Escrow as i32,
        order_id: rid(),
        expire_time: None,
        description: "escrow".into(),
    };
    let transfer = CreateTransferRequest {
        request_id: rid(),
        source_wallet_id: payer.clone(),
        destination_wallet_id: payee.clone(),
        amount: m("USD", "20.00"),
        destination_fund_pool: FundPool::Standard as i32,
        ..Default::default()
    };
    let refused_hold = w.create_hold(hold.clone()).await.expect_err("no funds");
    refused(
        &refused_hold,
        Code::FailedPrecondition,
        "INSUFFICIENT_FUNDS",
    );
    let refused_transfer = w
        .create_transfer(transfer.clone())
        .await
        .expect_err("no funds");
    refused(
        &refused_transfer,
        Code::FailedPrecondition,
        "INSUFFICIENT_FUNDS",
    );

    top_up(&mut w, &payer, "USD", "100.00").await;
    let late_hold = w.create_hold(hold).await.expect_err("the refusal, again");
    refused(&late_hold, Code::FailedPrecondition, "INSUFFICIENT_FUNDS");
    assert_eq!(late_hold.message(), refused_hold.message());
    let late_transfer = w
        .create_transfer(transfer)
        .await
        .expect_err("the refusal, again");
    refused(
        &late_transfer,
        Code::FailedPrecondition,
        "INSUFFICIENT_FUNDS",
    );
    assert_eq!(
        balance(&mut w, &payer, "USD").await,
        (dec("100.00"), Decimal::ZERO),
        "nothing held or moved"
    );
    check_invariants(&admin_pool(&tp).await).await;
    tp.stop().await
}

#[tokio::test]
async fn withdrawals_follow_seed_002s_table_and_its_notes() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    let ops = tp.reach().operator().await?;
    use FundPool::{AgentExport, Standard};

    // "已认证免费会员人民币提现时，对公、对私手续费均为结汇金额（美金）*0.5%": a free member's CNY
    // to a corporate account costs 0.5 % from the agent-export account too.
    let free = supplier_with_pin(&tp, &ops, false).await;
    let wallet = free.wallet_id.as_str();
    collect(&mut w, wallet, "CNY", "1000.00", AgentExport).await;
    let corporate_cny = bank(&mut w, wallet, BankAccountType::Corporate, "CNY").await;
    let e = estimate(
        &mut w,
        wallet,
        &corporate_cny,
        AgentExport,
        m("CNY", "1000.00"),
    )
    .await?;
    assert_eq!(
        (e.fee, e.net_amount),
        (m("CNY", "5.00"), m("CNY", "995.00"))
    );
    assert_eq!(e.membership_tier, MembershipTier::Free as i32);

    // "港台客户仅支持美元提现": a Hong Kong supplier withdraws USD, never CNY.
    let name = crate::support::unique("hkfactory");
    let hk = crate::support::register(
        &tp,
        idp::RegisterAccountRequest {
            request_id: rid(),
            member_name: name.clone(),
            account_type: idp::AccountType::Business as i32,
            role: idp::AccountRole::Supplier as i32,
            region_code: "HK".to_owned(),
            display_name: "HK Trading Ltd".to_owned(),
            email: format!("{name}@example.hk"),
            mobile: String::new(),
            password: kuajing::parties::PASSWORD.to_owned(),
        },
    )
    .await;
    let wallet = crate::support::open_wallet(&tp, &hk.account_id).await;
    let wallet = wallet.as_str();
    collect(&mut w, wallet, "CNY", "800.00", Standard).await;
    collect(&mut w, wallet, "USD", "800.00", Standard).await;
    let cny = bank(&mut w, wallet, BankAccountType::Corporate, "CNY").await;
    let usd = bank(&mut w, wallet, BankAccountType::Corporate, "USD").await;
    let err = estimate(&mut w, wallet, &cny, Standard, m("CNY", "100.00"))
        .await
        .unwrap_err();
    refused(
        &err,
        Code::FailedPrecondition,
        "WITHDRAWAL_CURRENCY_NOT_ALLOWED",
    );
    let ok = estimate(&mut w, wallet, &usd, Standard, m("USD", "100.00")).await?;
    assert_eq!(ok.fee, m("USD", "15.00"));

    // The schedule lists exactly what is offered: no route to a person's own account.
    let rules = w
        .list_withdrawal_fee_rules(ListWithdrawalFeeRulesRequest::default())
        .await?
        .into_inner()
        .fee_rules;
    assert!(
        rules
            .iter()
            .all(|r| r.bank_account_type != BankAccountType::Personal as i32),
        "{rules:?}"
    );
    tp.stop().await
}

#[tokio::test]
async fn a_bank_account_number_is_kept_only_as_a_keyed_fingerprint() -> anyhow::Result<()> {
    use sha2::Digest;
    let tp = TestPlatform::start().await?;
    let ops = tp.reach().operator().await?;
    let s = supplier_with_pin(&tp, &ops, true).await;
    let mut w = wallet_for(&tp, &s.account_id);
    let wallet = s.wallet_id.as_str();
    let number = "6222021234567890";
    let request = bank_request(wallet, BankAccountType::Corporate, "USD", number);
    let account = w
        .register_bank_account(request.clone())
        .await?
        .into_inner()
        .bank_account
        .unwrap();
    // A retry answers the same account (idempotency works on what is recorded instead).
    let again = w.register_bank_account(request.clone()).await?.into_inner();
    assert_eq!(again.bank_account.as_ref(), Some(&account));
    let pool = admin_pool(&tp).await;
    // The idempotency record's hash is not of the request with the number in it.
    let plain = kuajing_platform::idempotency::request_hash("RegisterBankAccount", &request);
    let leaked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM wallet.idempotency_records WHERE request_hash = $1",
    )
    .bind(&plain[..])
    .fetch_one(&pool)
    .await?;
    assert_eq!(leaked, 0);
    // What a dump holds: no number, and no fingerprint a guess could be checked against.
    let (row, fingerprint): (String, Vec<u8>) = sqlx::query_as(
        "SELECT row_to_json(b)::text, account_fingerprint FROM wallet.bank_accounts b
         WHERE bank_account_id = $1::uuid",
    )
    .bind(&account.bank_account_id)
    .fetch_one(&pool)
    .await?;
    assert!(!row.contains(number), "{row}");
    let unkeyed = |prefix: &[u8]| {
        let mut h = sha2::Sha256::new();
        h.update(prefix);
        h.update(number.as_bytes());
        h.finalize().to_vec()
    };
    assert_ne!(fingerprint, unkeyed(b""));
    assert_ne!(fingerprint, unkeyed(b"kuajing.wallet.bank_account.v1\0"));
    assert_eq!(fingerprint.len(), 32);

    // A number registered before fingerprints were keyed is still found.
    let legacy_number = "6222020000001111";
    let legacy_id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO wallet.bank_accounts (bank_account_id, wallet_id, type, holder_name, bank_name,
             branch_name, account_fingerprint, account_last4, swift_code, routing_code, country_code,
             currency, created_at)
         VALUES (gen_random_uuid(), $1::uuid, 1, 'Bright Lighting', 'Bank of China Shenzhen Branch',
             '', $2, '1111', 'BKCHCNBJ45A', '', 'CN', 'CNY', now())
         RETURNING bank_account_id",
    )
    .bind(wallet)
    .bind({
        let mut h = sha2::Sha256::new();
        h.update(b"kuajing.wallet.bank_account.v1\0");
        h.update(legacy_number.as_bytes());
        h.finalize().to_vec()
    })
    .fetch_one(&pool)
    .await?;
    let err = w
        .register_bank_account(bank_request(
            wallet,
            BankAccountType::Corporate,
            "CNY",
            legacy_number,
        ))
        .await
        .unwrap_err();
    refused(&err, Code::AlreadyExists, "BANK_ACCOUNT_ALREADY_REGISTERED");
    assert_eq!(info(&err, "bank_account_id"), Some(legacy_id.to_string()));
    tp.stop().await
}
