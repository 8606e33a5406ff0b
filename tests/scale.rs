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
                // Edge asks for an order for a person, as it always does.
                |mut c, mut r| async move {
                    kuajing_platform::service::for_subject(&mut r, uuid::Uuid::now_v7());
                    c.get_order(r).await
                },
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

/// The Redis the shared rate limits are tested against: `KJ_TEST_REDIS_URL`, else the one
/// on 127.0.0.1:6379 (CI starts it).
fn redis_url() -> String {
    std::env::var("KJ_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// One person's GetMe calls, spread over every edge instance by eight clients for
/// `seconds`: how many were admitted, and how long it took.
async fn hammer(tp: &TestPlatform, token: &str, seconds: u64) -> (u64, std::time::Duration) {
    let edges: Vec<_> = tp
        .platform()
        .addrs("edge")
        .into_iter()
        .map(|addr| {
            kuajing_proto::edge::v1::edge_service_client::EdgeServiceClient::new(
                tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                    .expect("url")
                    .connect_lazy(),
            )
        })
        .collect();
    let admitted = Arc::new(AtomicUsize::new(0));
    let start = std::time::Instant::now();
    let until = start + std::time::Duration::from_secs(seconds);
    let mut set = tokio::task::JoinSet::new();
    for client in 0..8 {
        let (edges, admitted, token) = (edges.clone(), admitted.clone(), token.to_owned());
        set.spawn(async move {
            let mut i = client;
            while std::time::Instant::now() < until {
                let mut edge = edges[i % edges.len()].clone();
                i += 1;
                let request = crate::support::people::authed(
                    Some(&token),
                    kuajing_proto::edge::v1::GetMeRequest {},
                );
                match edge.get_me(request).await {
                    Ok(_) => {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(s) => assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}"),
                }
            }
        });
    }
    while let Some(done) = set.join_next().await {
        done.expect("a client");
    }
    (admitted.load(Ordering::Relaxed) as u64, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_limit_holds_across_edge_replicas() -> anyhow::Result<()> {
    for replicas in [1, 3] {
        let prefix = format!("kj-test-{}", uuid::Uuid::now_v7().simple());
        let url = format!("--rate-limit-url={}", redis_url());
        let prefix_flag = format!("--rate-limit-prefix={prefix}");
        let edge_options = [
            "--caller-rate=20",
            "--caller-burst=20",
            "--ip-rate=0",
            url.as_str(),
            prefix_flag.as_str(),
        ];
        let tp =
            TestPlatform::start_replicated_with_options(replicas, &[], &[("edge", &edge_options)])
                .await?;
        let person = crate::support::people::sign_up_via(
            &tp,
            &tp.edge(),
            crate::support::people::Signup {
                prefix: "limited",
                account_type: kuajing_proto::identity::v1::AccountType::Personal,
                role: kuajing_proto::identity::v1::AccountRole::Buyer,
                region: "SG",
                email_domain: "example.com",
            },
            crate::support::people::Via::Identity,
        )
        .await;
        let (admitted, took) = hammer(&tp, &person.token, 3).await;
        // A burst of 20, then 20 a second, across every replica together.
        let allowed = 20 + 20 * took.as_millis() as u64 / 1000;
        assert!(
            admitted * 10 <= allowed * 11 && admitted * 10 >= allowed * 9,
            "{replicas} replicas: {admitted} admitted, {allowed} allowed"
        );
        tp.stop().await?;
    }
    Ok(())
}
