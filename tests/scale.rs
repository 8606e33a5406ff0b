//! Several instances of a service behind one peer name, as Kubernetes runs a Deployment's
//! pods behind a headless Service: calls spread over every instance, and one instance
//! dying fails no call that is safe to repeat.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use kuajing_platform::outbound;
use kuajing_platform::service::Peers;
use kuajing_proto::order::v1 as opb;
use kuajing_proto::order::v1::order_service_client::OrderServiceClient;
use kuajing_proto::wallet::v1 as wpb;
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use kuajing_testkit::TestPlatform;
use tonic::Code;

use crate::support::rid;

/// Edge's view of the platform: every instance of wallet and order under one name each.
fn peers_of(tp: &TestPlatform) -> anyhow::Result<Peers> {
    let urls = ["wallet", "order"].map(|name| {
        let url = tp.platform().peer_url(name).expect("a peer setting");
        (name.to_owned(), url.to_owned())
    });
    let keys = tp
        .platform()
        .keyring()
        .for_service("edge")
        .expect("edge's key");
    Peers::new(urls, keys, None)
}

async fn fee_rules(
    w: &WalletServiceClient<kuajing_platform::service::PeerChannel>,
) -> Result<usize, tonic::Status> {
    outbound::unary(
        w,
        wpb::ListWithdrawalFeeRulesRequest::default(),
        |mut c, r| async move { c.list_withdrawal_fee_rules(r).await },
    )
    .await
    .map(|r| r.fee_rules.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_spread_over_every_instance_and_survive_one_dying() -> anyhow::Result<()> {
    let mut tp = TestPlatform::start_replicated(2, &["wallet", "order"]).await?;
    assert_eq!(tp.platform().addrs("wallet").len(), 2);
    let peers = peers_of(&tp)?;
    let wallet = WalletServiceClient::new(peers.channel("wallet")?);
    let order = OrderServiceClient::new(peers.channel("order")?);

    // 1,000 calls to each, eight at a time.
    let sem = Arc::new(tokio::sync::Semaphore::new(8));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let (w, o, permit) = (
            wallet.clone(),
            order.clone(),
            sem.clone().acquire_owned().await?,
        );
        set.spawn(async move {
            let rules = fee_rules(&w).await;
            let missing = outbound::unary(
                &o,
                opb::GetOrderRequest {
                    order_id: rid(),
                    ..Default::default()
                },
                |mut c, r| async move { c.get_order(r).await },
            )
            .await;
            drop(permit);
            (rules, missing)
        });
    }
    while let Some(done) = set.join_next().await {
        let (rules, missing) = done?;
        assert!(rules? > 0);
        let s = missing.expect_err("no such order");
        assert_eq!(s.code(), Code::NotFound, "{s:?}");
    }
    for name in ["wallet", "order"] {
        let calls = peers.calls(name);
        assert_eq!(calls.len(), 2, "{calls:?}");
        let total: u64 = calls.iter().map(|(_, n)| n).sum();
        assert_eq!(total, 1000, "{name}: {calls:?}");
        // At least 30 % each (money is never a float; neither is a share).
        assert!(
            calls.iter().all(|(_, n)| n * 10 >= total * 3),
            "{name}: {calls:?}"
        );
    }

    // One wallet instance dies while calls run: none of them fails.
    let failed = Arc::new(AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..400 {
        let (w, failed) = (wallet.clone(), failed.clone());
        set.spawn(async move {
            // Spread over the kill.
            tokio::time::sleep(std::time::Duration::from_millis(i % 200)).await;
            if let Err(s) = fee_rules(&w).await {
                eprintln!("failed: {s:?}");
                failed.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    tp.kill_instance("wallet", 1).await?;
    while let Some(done) = set.join_next().await {
        done?;
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "calls failed while an instance died"
    );
    // And afterwards every call goes to the survivor.
    for _ in 0..100 {
        fee_rules(&wallet).await?;
    }
    // Back again, it takes its share.
    tp.platform_mut().restart_instance("wallet", 1).await?;
    let before = peers.calls("wallet");
    tokio::time::sleep(kuajing_platform::balance::EJECTION).await;
    for _ in 0..400 {
        fee_rules(&wallet).await?;
    }
    let after = peers.calls("wallet");
    let gained: Vec<u64> = after
        .iter()
        .zip(&before)
        .map(|((_, a), (_, b))| a - b)
        .collect();
    assert!(gained.iter().all(|g| *g >= 100), "{gained:?}");
    tp.stop().await
}
