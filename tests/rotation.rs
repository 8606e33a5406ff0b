//! Keys rotate without downtime.
//!
//! - Service credentials: every caller's key (the six services', the bank's and logistics
//!   adapters', the operators') moves to a new one in the three steps of `kuajing keys
//!   rotate`, through the files the services reload (as a platform team updates mounted
//!   Secrets), while buyers check out through edge, a saga across every service: no call
//!   fails. Afterwards a token signed by an old key is refused and one signed by a new key
//!   is served.
//! - The access tokens' signing key: identity reloads its key file, the next key published
//!   before it signs, while people refresh sessions and call edge: no token is refused.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use kuajing::bench::load;
use kuajing::bench::scenarios::Checkouts;
use kuajing::keys::{self, Step};
use kuajing_platform::auth::{self, Keyring};
use kuajing_platform::key_files::replace_file;
use kuajing_platform::token::{KeySet, SigningKey};
use kuajing_proto::edge::v1 as pb;
use kuajing_proto::edge::v1::edge_service_client::EdgeServiceClient;
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::wallet::v1 as wpb;
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use kuajing_testkit::TestPlatform;
use tonic::Code;

use crate::support::reason;

/// How often the services check their key files here (ten seconds by default).
const EVERY: Duration = Duration::from_millis(100);

/// Long enough for every service to have read a change.
async fn settle() {
    tokio::time::sleep(EVERY * 5).await;
}

/// Lists the ledger accounts as an operator whose token `ring` signed.
async fn as_operator(tp: &TestPlatform, ring: &Keyring) -> Result<(), tonic::Status> {
    let exp = chrono::Utc::now() + chrono::Duration::minutes(5);
    let token = ring
        .token(auth::OPERATOR, "*", exp)
        .expect("an operator key");
    let addr = tp.platform().addrs("wallet")[0];
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("url")
        .connect_lazy();
    let mut request = tonic::Request::new(wpb::ListLedgerAccountsRequest::default());
    request
        .metadata_mut()
        .insert(auth::TOKEN_HEADER, token.parse().expect("ASCII"));
    WalletServiceClient::new(channel)
        .list_ledger_accounts(request)
        .await
        .map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_key_rotates_under_load_with_no_failed_call() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("kj-rotation-{}", uuid::Uuid::now_v7()));
    let tp = TestPlatform::start_with_key_files(&dir, EVERY).await?;
    let reach = tp.reach();
    let old = reach.keyring.clone();

    // Buyers with unpaid orders, enough for the whole run.
    let (supplier, buyers) = reach.people(6).await?;
    let mut prepared = Vec::new();
    for b in buyers {
        let mut orders = Vec::new();
        for _ in 0..25 {
            orders.push(
                reach
                    .marketplace_order(&b.person, &supplier, 1, "10.00")
                    .await?,
            );
        }
        prepared.push((b, Mutex::new(orders)));
    }
    let edge = kuajing::parties::balanced("edge", &reach.urls["edge"])?;
    let checkouts = Arc::new(Checkouts {
        client: EdgeServiceClient::new(edge),
        buyers: Arc::new(prepared),
    });
    // 15 checkouts a second for 6 seconds (90 of the 150 orders; each buyer pays 2.5 a
    // second, under edge's money-movement limit per person), at most 8 at once.
    let load = tokio::spawn(load::open(checkouts.clone(), 15, Duration::from_secs(6), 8));

    tokio::time::sleep(Duration::from_secs(1)).await;
    // The three steps of `kuajing keys rotate`, each given time to reach every service.
    keys::rotate(&dir, Step::Trust)?;
    settle().await;
    keys::rotate(&dir, Step::Sign)?;
    settle().await;
    let new = keys::read_set(&dir)?;
    assert!(as_operator(&tp, &old).await.is_ok(), "both keys trusted");
    assert!(as_operator(&tp, &new).await.is_ok(), "both keys trusted");
    keys::rotate(&dir, Step::Retire)?;
    settle().await;

    let report = load.await?;
    assert_eq!(
        report.error_count(),
        0,
        "calls failed during the rotation: {:?}",
        report.errors
    );
    assert_eq!(report.ok, 90, "every checkout succeeded");
    // Checkouts after the rotation cross every service on the new keys only.
    let after = load::open(checkouts.clone(), 5, Duration::from_secs(1), 2).await;
    assert_eq!(
        (after.ok, after.error_count()),
        (5, 0),
        "{:?}",
        after.errors
    );
    // An operator token signed by the old key is refused; the new key's is served.
    let refused = as_operator(&tp, &old)
        .await
        .expect_err("the old key is gone");
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(reason(&refused), auth::SERVICE_CREDENTIAL_INVALID);
    assert!(as_operator(&tp, &new).await.is_ok());

    tp.stop().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A session's tokens through identity, as edge gets them.
async fn session(tp: &TestPlatform, member_name: &str) -> anyhow::Result<idp::TokenPair> {
    tp.identity()
        .login(kuajing::parties::login_request(
            member_name,
            kuajing::parties::PASSWORD,
        ))
        .await?
        .into_inner()
        .tokens
        .ok_or_else(|| anyhow::anyhow!("no tokens"))
}

/// The signing key file's text.
fn signing_file(signing: &SigningKey, next: Option<&SigningKey>) -> String {
    let b64 = |k: &SigningKey| base64::engine::general_purpose::STANDARD.encode(k.seed());
    let mut text = format!("signing={}\n", b64(signing));
    if let Some(n) = next {
        text.push_str(&format!("next={}\n", b64(n)));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_access_token_signing_key_rotates_under_load_with_no_refused_token()
-> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("kj-signing-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("signing");
    let (old, new) = (SigningKey::generate()?, SigningKey::generate()?);
    replace_file(&file, &signing_file(&old, None))?;
    let path = file.display().to_string();
    let identity: &[&str] = &[
        "--signing-key-file",
        &path,
        "--signing-key-reload-secs",
        "1",
        "--keys-max-cache-age-secs",
        "1",
    ];
    let tp = TestPlatform::start_with_options(&[("identity", identity)]).await?;
    let reach = tp.reach();
    let mut people = Vec::new();
    for _ in 0..2 {
        let name = kuajing::parties::unique("rotor");
        reach.register(kuajing::parties::personal(&name)).await?;
        people.push(session(&tp, &name).await?);
    }
    let first_token = people[0].access_token.clone();
    let edge = kuajing::parties::balanced("edge", &reach.urls["edge"])?;

    // Each person refreshes its session and reads GetMe through edge with the new access
    // token, over and over, until told to stop; every refusal is kept.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = tokio::task::JoinSet::new();
    for mut pair in people {
        let (mut id, mut e, stop) = (
            tp.identity(),
            EdgeServiceClient::new(edge.clone()),
            stop.clone(),
        );
        load.spawn(async move {
            let (mut kids, mut failures) = (Vec::<String>::new(), Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let refreshed = id
                    .refresh_token(idp::RefreshTokenRequest {
                        request_id: uuid::Uuid::now_v7().to_string(),
                        refresh_token: pair.refresh_token.clone(),
                        ..Default::default()
                    })
                    .await;
                pair = match refreshed.map(|r| r.into_inner().tokens) {
                    Ok(Some(p)) => p,
                    other => {
                        failures.push(format!("refresh: {other:?}"));
                        break;
                    }
                };
                let kid = KeySet::token_kid(&pair.access_token).unwrap_or_default();
                if kids.last() != Some(&kid) {
                    kids.push(kid);
                }
                let me = kuajing::parties::bearer(&pair.access_token, pb::GetMeRequest {})
                    .expect("a request");
                if let Err(s) = e.get_me(me).await {
                    failures.push(format!("GetMe: {:?} {}", s.code(), s.message()));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (kids, failures)
        });
    }

    tokio::time::sleep(Duration::from_secs(1)).await;
    // 1. The next key is published beside the signing one; wait past the reload and the
    //    verifiers' cache age.
    replace_file(&file, &signing_file(&old, Some(&new)))?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    // 2. It signs; the old key stays published while its tokens can be valid.
    replace_file(&file, &signing_file(&new, None))?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);

    while let Some(done) = load.join_next().await {
        let (kids, failures) = done?;
        assert!(
            failures.is_empty(),
            "refused during the rotation: {failures:?}"
        );
        assert_eq!(
            kids,
            [old.kid().to_owned(), new.kid().to_owned()],
            "tokens signed by the old key, then by the new one"
        );
    }
    // A token the old key signed before the rotation still works until it expires.
    let mut e = EdgeServiceClient::new(edge);
    e.get_me(kuajing::parties::bearer(&first_token, pb::GetMeRequest {})?)
        .await?;
    tp.stop().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
