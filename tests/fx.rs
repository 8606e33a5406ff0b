//! fx over gRPC with the real wallet: rates (direct, inverted, crossed, stale), quotes at
//! rounding edges, expiry by the test clock, and conversions that happen at most once.

use std::time::Duration;

use crate::support::{dec, reason, rid};
use kuajing_proto::fx::v1::fx_service_client::FxServiceClient;
use kuajing_proto::fx::v1::*;
use kuajing_proto::types::Money;
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use kuajing_proto::wallet::v1::{
    CreateReceivingAccountRequest, GetWalletRequest, LedgerAccountKind, ListLedgerAccountsRequest,
    OpenWalletRequest, ReceivingAccountPurpose, RecordInboundRemittanceRequest, get_wallet_request,
};
use kuajing_testkit::Channel;
use kuajing_testkit::TestPlatform;
use rust_decimal::Decimal;
use tonic::Code;

fn m(c: &str, a: &str) -> Money {
    Money {
        currency_code: c.to_owned(),
        amount: a.to_owned(),
    }
}

/// A wallet with `amount` of `currency` in it.
async fn funded_wallet(
    w: &mut WalletServiceClient<Channel>,
    currency: &str,
    amount: &str,
) -> String {
    let owner = rid();
    let wallet = w
        .open_wallet(crate::support::acting(
            &owner,
            OpenWalletRequest {
                request_id: rid(),
                owner_account_id: owner.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .wallet
        .unwrap()
        .wallet_id;
    let account = w
        .create_receiving_account(crate::support::acting(
            &owner,
            CreateReceivingAccountRequest {
                request_id: rid(),
                wallet_id: wallet.clone(),
                currency_code: currency.into(),
                display_name: "top-up".into(),
                purpose: ReceivingAccountPurpose::TopUp as i32,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .receiving_account
        .unwrap();
    w.record_inbound_remittance(RecordInboundRemittanceRequest {
        request_id: rid(),
        account_number: account.bank_details.unwrap().account_number,
        bank_reference: rid(),
        amount: Some(m(currency, amount)),
        value_time: Some(kuajing_platform::time::to_proto(chrono::Utc::now())),
        ..Default::default()
    })
    .await
    .unwrap();
    wallet
}

async fn available(w: &mut WalletServiceClient<Channel>, wallet: &str, currency: &str) -> Decimal {
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
    dec(&wallet
        .balances
        .into_iter()
        .find(|b| b.currency_code == currency)
        .unwrap()
        .available
        .unwrap()
        .amount)
}

fn sell(wallet: &str, sell: &str, buy: &str, amount: Money) -> CreateQuoteRequest {
    CreateQuoteRequest {
        request_id: rid(),
        wallet_id: wallet.to_owned(),
        sell_currency_code: sell.into(),
        buy_currency_code: buy.into(),
        fixed_amount: Some(create_quote_request::FixedAmount::SellAmount(amount)),
        ttl: None,
    }
}

async fn quote(fx: &mut FxServiceClient<Channel>, req: CreateQuoteRequest) -> Quote {
    fx.create_quote(req)
        .await
        .unwrap()
        .into_inner()
        .quote
        .unwrap()
}

#[tokio::test]
async fn top_up_sgd_convert_to_cnh_exactly_as_quoted() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let (mut w, mut fx) = (tp.wallet(), tp.fx());
    let wallet = funded_wallet(&mut w, "SGD", "1000.00").await;
    let q = quote(&mut fx, sell(&wallet, "SGD", "CNH", m("SGD", "100.00"))).await;
    // SGD/CNH is crossed through USD from the default table: (1 / 1.34) x 7.12.
    assert_eq!(q.mid_rate, "5.313432835818");
    assert_eq!(q.rate_derivation, RateDerivation::Crossed as i32);
    assert_eq!(q.spread_bps, 50, "USD 74.63 is in the first tier");
    assert_eq!(q.applied_rate, "5.286865671639");
    assert_eq!(q.buy_amount.as_ref().unwrap().amount, "528.69");
    assert_eq!(q.state, QuoteState::Open as i32);
    let exec = ExecuteQuoteRequest {
        request_id: rid(),
        quote_id: q.quote_id.clone(),
        wallet_id: wallet.clone(),
    };
    let done = fx.execute_quote(exec.clone()).await?.into_inner();
    assert_eq!(
        done.quote.as_ref().unwrap().state,
        QuoteState::Executed as i32
    );
    assert_eq!(
        fx.execute_quote(exec).await?.into_inner(),
        done,
        "a retry answers the same"
    );
    assert_eq!(available(&mut w, &wallet, "SGD").await, dec("900.00"));
    assert_eq!(available(&mut w, &wallet, "CNH").await, dec("528.69"));
    let positions = w
        .list_ledger_accounts(ListLedgerAccountsRequest {
            kind: LedgerAccountKind::FxPosition as i32,
            ..Default::default()
        })
        .await?
        .into_inner()
        .ledger_accounts;
    let pos = |c: &str| {
        positions
            .iter()
            .find(|a| a.currency_code == c)
            .map(|a| a.balance.clone().unwrap().amount)
    };
    assert_eq!(pos("SGD").as_deref(), Some("100.00"));
    assert_eq!(pos("CNH").as_deref(), Some("-528.69"));
    tp.stop().await
}

#[tokio::test]
async fn a_quote_expires_by_the_clock_and_a_used_one_cannot_run_twice() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let (mut w, mut fx) = (tp.wallet(), tp.fx());
    let wallet = funded_wallet(&mut w, "USD", "500.00").await;
    let q = quote(&mut fx, sell(&wallet, "USD", "CNH", m("USD", "100.00"))).await;
    tp.clock().advance(Duration::from_secs(31));
    let err = fx
        .execute_quote(ExecuteQuoteRequest {
            request_id: rid(),
            quote_id: q.quote_id.clone(),
            wallet_id: wallet.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::FailedPrecondition, "QUOTE_EXPIRED")
    );
    let seen = fx
        .get_quote(GetQuoteRequest {
            quote_id: q.quote_id.clone(),
        })
        .await?
        .into_inner()
        .quote
        .unwrap();
    assert_eq!(seen.state, QuoteState::Expired as i32);
    assert_eq!(available(&mut w, &wallet, "USD").await, dec("500.00"));

    // Two executions of one quote racing under different request ids: one converts.
    let q = quote(&mut fx, sell(&wallet, "USD", "CNH", m("USD", "100.00"))).await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let mut fx = tp.fx();
        let req = ExecuteQuoteRequest {
            request_id: rid(),
            quote_id: q.quote_id.clone(),
            wallet_id: wallet.clone(),
        };
        tasks.push(tokio::spawn(async move { fx.execute_quote(req).await }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await? {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(reason(&e), "QUOTE_ALREADY_USED", "{e:?}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(available(&mut w, &wallet, "USD").await, dec("400.00"));
    assert_eq!(
        available(&mut w, &wallet, "CNH").await,
        dec("708.44"),
        "100 x 7.12 less 50 bps"
    );
    // The same request sent by eight clients at once, for ten quotes: each converts once
    // and every copy gets the one answer (never QUOTE_ALREADY_USED for its own request).
    for _ in 0..10 {
        let q = quote(&mut fx, sell(&wallet, "USD", "CNH", m("USD", "1.00"))).await;
        let req = ExecuteQuoteRequest {
            request_id: rid(),
            quote_id: q.quote_id.clone(),
            wallet_id: wallet.clone(),
        };
        let copies: Vec<_> = (0..8)
            .map(|_| {
                let (mut fx, req) = (tp.fx(), req.clone());
                tokio::spawn(async move { fx.execute_quote(req).await.map(|r| r.into_inner()) })
            })
            .collect();
        let mut answers = Vec::new();
        for copy in copies {
            answers.push(copy.await?.expect("every copy gets the conversion"));
        }
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "one answer");
    }
    assert_eq!(available(&mut w, &wallet, "USD").await, dec("390.00"));
    let other = funded_wallet(&mut w, "USD", "1.00").await;
    let q = quote(&mut fx, sell(&wallet, "USD", "CNH", m("USD", "1.00"))).await;
    let err = fx
        .execute_quote(ExecuteQuoteRequest {
            request_id: rid(),
            quote_id: q.quote_id,
            wallet_id: other,
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "QUOTE_WALLET_MISMATCH");
    tp.stop().await
}

#[tokio::test]
async fn insufficient_funds_moves_nothing_and_leaves_the_quote_open() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let (mut w, mut fx) = (tp.wallet(), tp.fx());
    let wallet = funded_wallet(&mut w, "USD", "50.00").await;
    let q = quote(&mut fx, sell(&wallet, "USD", "JPY", m("USD", "60.00"))).await;
    let err = fx
        .execute_quote(ExecuteQuoteRequest {
            request_id: rid(),
            quote_id: q.quote_id.clone(),
            wallet_id: wallet.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "INSUFFICIENT_FUNDS");
    assert_eq!(available(&mut w, &wallet, "USD").await, dec("50.00"));
    assert_eq!(available(&mut w, &wallet, "JPY").await, Decimal::ZERO);
    let seen = fx
        .get_quote(GetQuoteRequest {
            quote_id: q.quote_id.clone(),
        })
        .await?
        .into_inner()
        .quote
        .unwrap();
    assert_eq!(seen.state, QuoteState::Open as i32);
    let w2 = funded_wallet(&mut w, "USD", "1").await;
    let _ = w2;
    tp.stop().await
}

#[tokio::test]
async fn rounding_edges_jpy_idr_and_half() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let (mut w, mut fx) = (tp.wallet(), tp.fx());
    let wallet = funded_wallet(&mut w, "USD", "100.00").await;
    // USD/JPY 150 less 50 bps = 149.25; 10.01 x 149.25 = 1493.9925 -> 1494 (JPY has no minor units).
    let q = quote(&mut fx, sell(&wallet, "USD", "JPY", m("USD", "10.01"))).await;
    assert_eq!(
        (
            q.applied_rate.as_str(),
            q.buy_amount.unwrap().amount.as_str()
        ),
        ("149.25", "1494")
    );
    // USD/IDR 15800 less 50 bps = 15721; 0.50 x 15721 = 7860.50 (IDR keeps 2 places).
    let q = quote(&mut fx, sell(&wallet, "USD", "IDR", m("USD", "0.50"))).await;
    assert_eq!(q.buy_amount.unwrap().amount, "7860.50");
    // Near half a cent, but not on it (exact ties are in
    // `quotes_round_exact_half_minor_units_to_even_in_cny_jpy_and_idr`): USD/CNH 0.1 ->
    // applied 0.0995; 0.50 x 0.0995 = 0.04975, above the half -> 0.05.
    set_rate(&mut fx, "USD", "CNH", "0.1").await;
    let q = quote(&mut fx, sell(&wallet, "USD", "CNH", m("USD", "0.50"))).await;
    assert_eq!(q.buy_amount.unwrap().amount, "0.05");
    // 0.25 x 0.0995 = 0.024875, below the half -> 0.02 (the 50 bps spread keeps it off the
    // 0.025 tie it would be at mid).
    let q = quote(&mut fx, sell(&wallet, "USD", "CNH", m("USD", "0.25"))).await;
    assert_eq!(q.buy_amount.unwrap().amount, "0.02");
    // 1 JPY buys 0.0066 USD: rounds up to a cent. 1 IDR buys 0.00006 USD: rounds to
    // nothing, so there is no quote.
    let one_jpy = quote(&mut fx, sell(&wallet, "JPY", "USD", m("JPY", "1"))).await;
    assert_eq!(one_jpy.buy_amount.unwrap().amount, "0.01");
    let tiny = sell(&wallet, "IDR", "USD", m("IDR", "1.00"));
    assert_eq!(
        reason(&fx.create_quote(tiny).await.unwrap_err()),
        "AMOUNT_TOO_SMALL"
    );
    for bad in [
        m("JPY", "1.5"),
        m("USD", "-1"),
        m("USD", "0"),
        m("XXX", "1"),
        m("USD", "1.001"),
    ] {
        let c = bad.currency_code.clone();
        let err = fx
            .create_quote(sell(&wallet, &c, "CNH", bad))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
    }
    tp.stop().await
}

async fn set_rate(
    fx: &mut FxServiceClient<Channel>,
    base: &str,
    quote: &str,
    mid: &str,
) -> SetRateResponse {
    fx.set_rate(SetRateRequest {
        request_id: rid(),
        base_currency_code: base.into(),
        quote_currency_code: quote.into(),
        mid_rate: mid.into(),
        reason: "test".into(),
    })
    .await
    .unwrap()
    .into_inner()
}

#[tokio::test]
async fn rates_cross_invert_go_stale_and_are_audited() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let (mut w, mut fx) = (tp.wallet(), tp.fx());
    let get = |b: &str, q: &str| GetRateRequest {
        base_currency_code: b.into(),
        quote_currency_code: q.into(),
    };
    let inverted = fx
        .get_rate(get("CNH", "USD"))
        .await?
        .into_inner()
        .rate
        .unwrap();
    assert_eq!(
        (inverted.mid_rate.as_str(), inverted.derivation),
        ("0.140449438202", RateDerivation::Inverted as i32)
    );
    // EUR/CNH = (1 / 0.92, rounded to 12 places) x 7.12, rounded to 12 places.
    let crossed = fx
        .get_rate(get("EUR", "CNH"))
        .await?
        .into_inner()
        .rate
        .unwrap();
    assert_eq!(crossed.mid_rate, "7.739130434782");
    assert_eq!(crossed.cross_currency_code, "USD");
    let eq = fx
        .get_equivalent(GetEquivalentRequest {
            amount: Some(m("CNH", "7120.00")),
            target_currency_code: "USD".into(),
        })
        .await?
        .into_inner()
        .equivalent
        .unwrap();
    assert_eq!(eq.equivalent.unwrap().amount, "1000.00");

    let changed = set_rate(&mut fx, "USD", "CNH", "7.2").await;
    assert_eq!(
        changed.rate_change.as_ref().unwrap().previous_mid_rate,
        "7.12"
    );
    let changes = fx
        .list_rate_changes(ListRateChangesRequest {
            base_currency_code: "USD".into(),
            quote_currency_code: "CNH".into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .rate_changes;
    assert_eq!(changes[0].mid_rate, "7.2");
    assert_eq!(changes[0].source, RateSource::Operator as i32);
    let bad = SetRateRequest {
        request_id: rid(),
        base_currency_code: "USD".into(),
        quote_currency_code: "USD".into(),
        mid_rate: "1".into(),
        reason: "x".into(),
    };
    assert_eq!(
        fx.set_rate(bad).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let bad = SetRateRequest {
        request_id: rid(),
        base_currency_code: "USD".into(),
        quote_currency_code: "CNH".into(),
        mid_rate: "-7".into(),
        reason: "x".into(),
    };
    assert_eq!(
        fx.set_rate(bad).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    // A day later every rate but the one just set again is stale.
    tp.clock().advance(Duration::from_secs(25 * 3600));
    let wallet = funded_wallet(&mut w, "USD", "10").await;
    let stale = fx
        .get_rate(get("USD", "SGD"))
        .await?
        .into_inner()
        .rate
        .unwrap();
    assert!(stale.stale);
    let err = fx
        .create_quote(sell(&wallet, "USD", "SGD", m("USD", "1")))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "RATE_STALE");
    let err = fx
        .get_equivalent(GetEquivalentRequest {
            amount: Some(m("SGD", "1")),
            target_currency_code: "USD".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "RATE_STALE");
    set_rate(&mut fx, "USD", "SGD", "1.35").await;
    quote(&mut fx, sell(&wallet, "USD", "SGD", m("USD", "1"))).await;
    let err = fx.get_rate(get("USD", "USD")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    tp.stop().await
}

#[tokio::test]
async fn a_person_quotes_and_converts_only_for_their_own_wallet() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let mut w = tp.wallet();
    let wallet = funded_wallet(&mut w, "USD", "100.00").await;
    let owner = w
        .get_wallet(GetWalletRequest {
            lookup: Some(get_wallet_request::Lookup::WalletId(wallet.clone())),
        })
        .await?
        .into_inner()
        .wallet
        .unwrap()
        .owner_account_id;
    let mut as_edge =
        FxServiceClient::new(tp.channel_as("fx", kuajing_testkit::As::Caller("edge".into())));
    let acting = |person: &str, req: CreateQuoteRequest| {
        let mut r = tonic::Request::new(req);
        kuajing_platform::service::for_subject(&mut r, uuid::Uuid::try_parse(person).unwrap());
        r
    };
    let q = as_edge
        .create_quote(acting(&owner, sell(&wallet, "USD", "CNH", m("USD", "10"))))
        .await?
        .into_inner()
        .quote
        .unwrap();
    let stranger = rid();
    let err = as_edge
        .create_quote(acting(
            &stranger,
            sell(&wallet, "USD", "CNH", m("USD", "10")),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::PermissionDenied, "NOT_OWNER")
    );
    let mut exec = tonic::Request::new(ExecuteQuoteRequest {
        request_id: rid(),
        quote_id: q.quote_id.clone(),
        wallet_id: wallet.clone(),
    });
    kuajing_platform::service::for_subject(&mut exec, uuid::Uuid::try_parse(&stranger).unwrap());
    assert_eq!(
        reason(&as_edge.execute_quote(exec).await.unwrap_err()),
        "NOT_OWNER"
    );
    let mut get = tonic::Request::new(GetQuoteRequest {
        quote_id: q.quote_id.clone(),
    });
    kuajing_platform::service::for_subject(&mut get, uuid::Uuid::try_parse(&stranger).unwrap());
    assert_eq!(
        reason(&as_edge.get_quote(get).await.unwrap_err()),
        "NOT_OWNER"
    );
    assert_eq!(available(&mut w, &wallet, "USD").await, dec("100.00"));
    tp.stop().await
}

/// A quote selling `amount` of `sell_currency` for `buy`.
async fn quoted(
    fx: &mut FxServiceClient<Channel>,
    wallet: &str,
    sell_currency: &str,
    buy: &str,
    amount: &str,
) -> Quote {
    quote(
        fx,
        sell(wallet, sell_currency, buy, m(sell_currency, amount)),
    )
    .await
}

#[tokio::test]
async fn quotes_round_exact_half_minor_units_to_even_in_cny_jpy_and_idr() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let (mut w, mut fx) = (tp.wallet(), tp.fx());
    let wallet = funded_wallet(&mut w, "USD", "100.00").await;
    // Operator rates chosen so that, less the 50 bps spread of the first tier (x 0.995),
    // the applied rate is short and exact: 2 -> 1.99, 100 -> 99.5, 15801 -> 15721.995.
    set_rate(&mut fx, "USD", "CNY", "2").await;
    set_rate(&mut fx, "USD", "JPY", "100").await;
    set_rate(&mut fx, "USD", "IDR", "15801").await;
    // (sell currency, buy currency, sell amount, exact product, applied rate, buy amount):
    // every product lies exactly on half a minor unit of the buy currency; half-even
    // rounds it to the even neighbour, so an odd preceding digit goes up and an even one
    // stays (half-up would give CNY 2.99, JPY 299, IDR 47165.99; half-down or truncation
    // CNY 0.99, JPY 99, IDR 15721.99).
    let cases = [
        // CNY (2 places): 0.50 x 1.99 = 0.995 -> 1.00 (9 odd: up).
        ("USD", "CNY", "0.50", "0.995", "1.99", "1.00"),
        // 1.50 x 1.99 = 2.985 -> 2.98 (8 even: stays).
        ("USD", "CNY", "1.50", "2.985", "1.99", "2.98"),
        // JPY (no minor units): 1.00 x 99.5 = 99.5 -> 100 (9 odd: up).
        ("USD", "JPY", "1.00", "99.5", "99.5", "100"),
        // 3.00 x 99.5 = 298.5 -> 298 (8 even: stays).
        ("USD", "JPY", "3.00", "298.5", "99.5", "298"),
        // IDR (2 places): 1.00 x 15721.995 = 15721.995 -> 15722.00 (9 odd: up).
        ("USD", "IDR", "1.00", "15721.995", "15721.995", "15722.00"),
        // 3.00 x 15721.995 = 47165.985 -> 47165.98 (8 even: stays).
        ("USD", "IDR", "3.00", "47165.985", "15721.995", "47165.98"),
        // Selling JPY through the inverted rate 1/100 = 0.01, applied 0.00995:
        // JPY 300 x 0.00995 = 2.985 -> USD 2.98; JPY 100 -> 0.995 -> USD 1.00.
        ("JPY", "USD", "300", "2.985", "0.00995", "2.98"),
        ("JPY", "USD", "100", "0.995", "0.00995", "1.00"),
    ];
    for (from, to, amount, product, applied, rounded) in cases {
        let q = quoted(&mut fx, &wallet, from, to, amount).await;
        let what = format!("{from} {amount} -> {to}");
        assert_eq!(q.spread_bps, 50, "{what}");
        assert_eq!(q.applied_rate, applied, "{what}");
        // The test's own premise: the exact product is a tie at the buy currency's places.
        assert_eq!(dec(amount) * dec(applied), dec(product), "{what}");
        let places = if to == "JPY" { 0 } else { 2 };
        let tie = dec(product) * Decimal::from(10i64.pow(places));
        assert_eq!(
            tie.fract(),
            dec("0.5"),
            "{what}: {product} is half a minor unit"
        );
        assert_eq!(q.buy_amount.as_ref().unwrap().amount, rounded, "{what}");
        assert_eq!(
            dec(rounded),
            dec(product).round_dp_with_strategy(
                places,
                rust_decimal::RoundingStrategy::MidpointNearestEven
            ),
            "{what}"
        );
    }

    // Executed, the wallet receives exactly the rounded amounts (the fee is zero by
    // default; `a_configured_fee_is_charged_on_top_and_lands_in_fee_revenue` sets one).
    for (to, amount) in [("CNY", "1.50"), ("JPY", "3.00"), ("IDR", "3.00")] {
        let q = quoted(&mut fx, &wallet, "USD", to, amount).await;
        assert_eq!(q.fee, Some(m("USD", "0.00")));
        assert_eq!(q.debit_amount, Some(m("USD", amount)));
        fx.execute_quote(ExecuteQuoteRequest {
            request_id: rid(),
            quote_id: q.quote_id,
            wallet_id: wallet.clone(),
        })
        .await?;
    }
    assert_eq!(available(&mut w, &wallet, "USD").await, dec("92.50"));
    assert_eq!(available(&mut w, &wallet, "CNY").await, dec("2.98"));
    assert_eq!(available(&mut w, &wallet, "JPY").await, dec("298"));
    assert_eq!(available(&mut w, &wallet, "IDR").await, dec("47165.98"));
    tp.stop().await
}

/// A configured fee (`--fee-bps`) is charged on top of the sell amount, rounded half-even,
/// stated in the quote, and moved to fee revenue in the conversion's one entry.
#[tokio::test]
async fn a_configured_fee_is_charged_on_top_and_lands_in_fee_revenue() -> anyhow::Result<()> {
    let tp = TestPlatform::start_with_options(&[("fx", &["--fee-bps", "25"])]).await?;
    let (mut w, mut fx) = (tp.wallet(), tp.fx());
    let wallet = funded_wallet(&mut w, "USD", "200.00").await;
    // 25 bps of USD 100.02 is 0.25005: 0.25 to the cent.
    let q = quote(&mut fx, sell(&wallet, "USD", "CNH", m("USD", "100.02"))).await;
    assert_eq!(q.fee, Some(m("USD", "0.25")));
    assert_eq!(q.debit_amount, Some(m("USD", "100.27")));
    // 100.02 x 7.12 less 50 bps = 708.584...: 708.58.
    assert_eq!(q.buy_amount, Some(m("CNH", "708.58")));
    let done = fx
        .execute_quote(ExecuteQuoteRequest {
            request_id: rid(),
            quote_id: q.quote_id.clone(),
            wallet_id: wallet.clone(),
        })
        .await?
        .into_inner()
        .conversion
        .expect("conversion");
    assert_eq!(
        (done.fee, done.debit_amount),
        (Some(m("USD", "0.25")), Some(m("USD", "100.27")))
    );
    assert_eq!(available(&mut w, &wallet, "USD").await, dec("99.73"));
    assert_eq!(available(&mut w, &wallet, "CNH").await, dec("708.58"));
    let platform = |kind: LedgerAccountKind| {
        let mut w = w.clone();
        async move {
            w.list_ledger_accounts(ListLedgerAccountsRequest {
                kind: kind as i32,
                ..Default::default()
            })
            .await
            .expect("ledger accounts")
            .into_inner()
            .ledger_accounts
            .into_iter()
            .filter(|a| a.currency_code == "USD")
            .map(|a| dec(&a.balance.expect("balance").amount))
            .sum::<Decimal>()
        }
    };
    assert_eq!(platform(LedgerAccountKind::FeeRevenue).await, dec("0.25"));
    assert_eq!(platform(LedgerAccountKind::FxPosition).await, dec("100.02"));
    tp.stop().await
}
