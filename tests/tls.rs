//! Mutual TLS between the services (`KJ_TLS_CERT`, `KJ_TLS_KEY`, `KJ_TLS_CA`;
//! `kuajing up --tls`).
//!
//! - With it on, the platform works end to end, every hop over TLS: a person signs up,
//!   logs in, opens a wallet and reads it through edge (edge → identity, edge → wallet).
//! - An internal service serves a caller presenting its own certificate and token, and
//!   refuses: a service token carried on another caller's certificate
//!   (SERVICE_CERTIFICATE_MISMATCH), a connection without a client certificate, one
//!   whose certificate another CA signed, and plain text.
//! - Health is served in plain text on an address of its own beside the TLS port (for
//!   kubelet's gRPC probes, which can't speak TLS), and nothing else is served there.

use kuajing::certs::DevCertificates;
use kuajing_platform::auth::{Keyring, RequireCaller, SERVICE_CERTIFICATE_MISMATCH};
use kuajing_platform::server::{ServerSettings, serve};
use kuajing_proto::edge::v1 as pb;
use kuajing_proto::edge::v1::edge_service_client::EdgeServiceClient;
use kuajing_proto::wallet::v1 as wpb;
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use kuajing_testkit::{As, TestPlatform};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::support::people::{self, Signup, edge, refused, rid, wallet_of};
use kuajing_proto::identity::v1 as idp;

const GET_WALLET: &str = "/kuajing.wallet.v1.WalletService/GetWallet";

#[tokio::test]
async fn every_hop_runs_over_mutual_tls_and_a_token_only_with_its_own_certificate()
-> anyhow::Result<()> {
    let certs = DevCertificates::local()?;
    let tp = TestPlatform::start_with_tls(certs.clone()).await?;
    let ca = certs.ca_pem();

    // Edge serves TLS without asking a client certificate: a person's client.
    let e = EdgeServiceClient::new(tp.channel_over_tls("edge", As::Nobody, ca, None)?);
    let person = people::sign_up(
        &tp,
        &e,
        Signup {
            prefix: "tls",
            account_type: idp::AccountType::Personal,
            role: idp::AccountRole::Buyer,
            region: "SG",
            email_domain: "example.sg",
        },
    )
    .await;
    let opened = edge!(
        e,
        person.auth(),
        open_wallet(pb::OpenWalletRequest { request_id: rid() })
    )?
    .wallet
    .expect("wallet");
    let read = wallet_of(&e, &person).await;
    assert_eq!(read.wallet_id, opened.wallet_id);
    assert_eq!(read.owner_account_id, person.account_id);

    // Straight at wallet, as a caller GetWallet allows, with that caller's certificate.
    let caller = kuajing_proto::callers::allowed(GET_WALLET)
        .and_then(|c| c.first())
        .expect("GetWallet has callers");
    let by_id = wpb::GetWalletRequest {
        lookup: Some(wpb::get_wallet_request::Lookup::WalletId(
            opened.wallet_id.clone(),
        )),
    };
    let own = certs.tls_for(caller).expect("a certificate per caller");
    let mut wallet = WalletServiceClient::new(tp.channel_over_tls(
        "wallet",
        As::Caller((*caller).to_owned()),
        ca,
        Some(&own),
    )?);
    let served = wallet.get_wallet(by_id.clone()).await?.into_inner();
    assert_eq!(
        served.wallet.expect("wallet").owner_account_id,
        person.account_id
    );

    // The same token on another caller's certificate.
    let other = if *caller == "fx" { "identity" } else { "fx" };
    let mut borrowed = WalletServiceClient::new(tp.channel_over_tls(
        "wallet",
        As::Caller((*caller).to_owned()),
        ca,
        certs.tls_for(other).as_ref(),
    )?);
    let err = borrowed.get_wallet(by_id.clone()).await.unwrap_err();
    refused(&err, Code::Unauthenticated, SERVICE_CERTIFICATE_MISMATCH);

    // No client certificate, a certificate from another CA, plain text: the connection
    // itself is refused, so no call reaches the service.
    let stranger = DevCertificates::local()?;
    let refusals = [
        (
            "no client certificate",
            tp.channel_over_tls("wallet", As::Caller((*caller).to_owned()), ca, None)?,
        ),
        (
            "another CA's certificate",
            tp.channel_over_tls(
                "wallet",
                As::Caller((*caller).to_owned()),
                ca,
                stranger.tls_for(caller).as_ref(),
            )?,
        ),
        (
            "plain text",
            tp.channel_as("wallet", As::Caller((*caller).to_owned())),
        ),
    ];
    for (what, channel) in refusals {
        let err = WalletServiceClient::new(channel)
            .get_wallet(by_id.clone())
            .await
            .expect_err(what);
        assert!(
            matches!(
                err.code(),
                Code::Unavailable | Code::Unknown | Code::Internal
            ),
            "{what}: {err:?}"
        );
        assert!(
            people::reason(&err).is_empty(),
            "{what}: answered by the service: {err:?}"
        );
    }

    tp.stop().await
}

/// Serves `service` (no routes of its own: health and the credential check) on `listener`
/// until the sender is used.
fn serve_guarded(
    service: &'static str,
    guard: RequireCaller,
    listener: tokio::net::TcpListener,
    settings: ServerSettings,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        serve(
            service,
            kuajing_platform::ErrorDomain("wallet.kuajing"),
            tonic::service::Routes::default(),
            Some(guard),
            None,
            listener,
            &settings,
            None,
            async {
                let _ = stopped.await;
            },
        )
        .await
    });
    (stop, server)
}

#[tokio::test]
async fn health_is_served_in_plain_text_beside_the_tls_port() -> anyhow::Result<()> {
    const SERVICE: &str = "kuajing.wallet.v1.WalletService";
    let certs = DevCertificates::local()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let health_addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let settings = ServerSettings {
        tls: certs.tls_for("wallet"),
        health_listen: Some(health_addr),
        ..ServerSettings::default()
    };
    let keys = Keyring::generate(&["wallet"])?
        .for_service("wallet")
        .expect("wallet's keys");
    let guard = RequireCaller::new(keys, kuajing_platform::ErrorDomain("wallet.kuajing"));
    let (stop, server) = serve_guarded(SERVICE, guard, listener, settings);

    let plain = |at: std::net::SocketAddr| {
        tonic::transport::Endpoint::from_shared(format!("http://{at}"))
            .expect("url")
            .connect_lazy()
    };
    let check = |service: &str| HealthCheckRequest {
        service: service.to_owned(),
    };
    let mut health = HealthClient::new(plain(health_addr));
    let mut answer = None;
    for _ in 0..50 {
        match health.check(check(SERVICE)).await {
            Ok(r) => {
                answer = Some(r.into_inner().status);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    assert_eq!(answer, Some(ServingStatus::Serving as i32));
    // Only health there: the service's own methods are not served in plain text.
    let err = WalletServiceClient::new(plain(health_addr))
        .get_wallet(wpb::GetWalletRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err:?}");
    // The main port speaks TLS only.
    let err = HealthClient::new(plain(addr))
        .check(check(SERVICE))
        .await
        .unwrap_err();
    assert!(people::reason(&err).is_empty(), "{err:?}");

    let _ = stop.send(());
    server.await??;
    // Gone with the server.
    assert!(health.check(check(SERVICE)).await.is_err());
    Ok(())
}

/// Certificates renew without a restart, on both sides, even to a new CA: while calls run
/// (each on a new connection, so each is a handshake with what is in force), the CA file
/// first holds the old and the new CA, then every certificate is replaced by one the new
/// CA signed (certificate and key written one after the other, as a Secret update may be
/// seen half done), then the CA file holds the new CA alone. Not one call fails; at the
/// end the server trusts the new CA only and presents its new certificate, and the
/// client, never restarted, presents its new one.
#[tokio::test]
async fn certificates_renew_even_to_a_new_ca_under_load_with_no_failed_call() -> anyhow::Result<()>
{
    use kuajing_platform::key_files::replace_file;
    use kuajing_platform::tls::MutualTls;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    const SERVICE: &str = "kuajing.wallet.v1.WalletService";
    let dir = std::env::temp_dir().join(format!("kj-tls-{}", uuid::Uuid::now_v7()));
    let (old_dir, new_dir) = (dir.join("old"), dir.join("new"));
    let old = DevCertificates::local()?;
    let new = DevCertificates::local()?;
    old.write(&old_dir)?;
    new.write(&new_dir)?;
    let live = dir.join("live");
    std::fs::create_dir_all(&live)?;
    let take = |from: &std::path::Path, file: &str| -> anyhow::Result<()> {
        replace_file(&live.join(file), &std::fs::read_to_string(from.join(file))?)
    };
    for file in [
        "wallet.pem",
        "wallet.key",
        "order.pem",
        "order.key",
        "ca.pem",
    ] {
        take(&old_dir, file)?;
    }
    let side = |name: &str| {
        MutualTls::load(
            &live.join(format!("{name}.pem")),
            &live.join(format!("{name}.key")),
            &live.join("ca.pem"),
        )
    };
    let every = std::time::Duration::from_millis(20);
    let (server_tls, client_tls) = (side("wallet")?, side("order")?);
    let _watchers = (server_tls.watch(every), client_tls.watch(every));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let keys = Keyring::generate(&["wallet"])?
        .for_service("wallet")
        .expect("wallet's keys");
    let guard = RequireCaller::new(keys, kuajing_platform::ErrorDomain("wallet.kuajing"));
    let settings = ServerSettings {
        tls: Some(server_tls),
        ..ServerSettings::default()
    };
    let (stop, server) = serve_guarded(SERVICE, guard, listener, settings);
    let endpoint = move || tonic::transport::Endpoint::from_shared(format!("http://{addr}"));
    let check = move |tls: &MutualTls| {
        let channel = tls.channel(endpoint().expect("url"), "wallet");
        async move {
            HealthClient::new(channel?)
                .check(HealthCheckRequest {
                    service: SERVICE.to_owned(),
                })
                .await
                .map(|r| r.into_inner().status)
                .map_err(anyhow::Error::from)
        }
    };
    // The server is up once a check answers.
    let mut up = false;
    for _ in 0..100 {
        if check(&client_tls).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(every).await;
    }
    assert!(up, "the TLS server never answered");

    let running = Arc::new(AtomicBool::new(true));
    let (calls, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = tokio::spawn({
        let (running, calls, failed, client_tls) = (
            running.clone(),
            calls.clone(),
            failed.clone(),
            client_tls.clone(),
        );
        async move {
            while running.load(Ordering::SeqCst) {
                match check(&client_tls).await {
                    Ok(status) if status == ServingStatus::Serving as i32 => {}
                    other => {
                        eprintln!("a call failed during the renewal: {other:?}");
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
                calls.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let settle = || tokio::time::sleep(every * 15);
    settle().await;
    // 1. Both CAs trusted.
    replace_file(
        &live.join("ca.pem"),
        &format!("{}{}", old.ca_pem(), new.ca_pem()),
    )?;
    settle().await;
    // 2. The new CA's certificates, each file on its own.
    for file in ["wallet.pem", "order.pem", "wallet.key", "order.key"] {
        take(&new_dir, file)?;
        settle().await;
    }
    // 3. The new CA alone.
    take(&new_dir, "ca.pem")?;
    settle().await;
    running.store(false, Ordering::SeqCst);
    load.await?;
    let (calls, failed) = (calls.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    assert!(calls >= 20, "only {calls} calls ran during the renewal");
    assert_eq!(failed, 0, "{failed} of {calls} calls failed");

    // The server now trusts the new CA alone: the old certificate is refused.
    // (This client trusts both CAs: the refusal is the server's.)
    let with_old_certificate = MutualTls::from_pem(
        std::fs::read(old_dir.join("order.pem"))?,
        std::fs::read(old_dir.join("order.key"))?,
        format!("{}{}", old.ca_pem(), new.ca_pem()),
    );
    assert!(
        check(&with_old_certificate).await.is_err(),
        "a certificate of the retired CA is still accepted"
    );
    // A client trusting the new CA alone accepts the server: its certificate is new.
    let fresh = new.tls_for("order").expect("issued");
    assert_eq!(check(&fresh).await?, ServingStatus::Serving as i32);
    // The client that ran through it all presents its new certificate (or the server,
    // trusting the new CA alone, would refuse it).
    assert_eq!(check(&client_tls).await?, ServingStatus::Serving as i32);

    let _ = stop.send(());
    server.await??;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
