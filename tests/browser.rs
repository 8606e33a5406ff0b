//! Browsers as clients: a real headless Chromium loads a page (tests/browser.html, served
//! by the test) that signs in and shows the wallet's balances through edge's gRPC-Web, and
//! the test reads them off the page; CORS answers only the configured origins, and is off
//! unless origins are configured.
//!
//! Chromium is Debian's `chromium` (CI installs it and sets KJ_TEST_BROWSER=required, so
//! there the test cannot pass without a browser); elsewhere, without one, the browser test
//! says it did not run.

use std::time::Duration;

use kuajing_proto::edge::v1 as pb;
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::wallet::v1 as wpb;
use kuajing_testkit::TestPlatform;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::people::{PASSWORD, Signup, Via, edge, remit, rid, sign_up_via};

const PAGE: &str = include_str!("browser.html");

/// The browser to drive, if there is one.
fn chromium() -> Option<String> {
    if let Ok(path) = std::env::var("KJ_TEST_CHROMIUM") {
        return Some(path);
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| {
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {name}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(str::to_owned)
}

/// Serves the page to every GET until the test ends.
async fn serve_page(listener: TcpListener) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&request);
            let response = if head.starts_with("GET / ") || head.starts_with("GET /?") {
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{PAGE}",
                    PAGE.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .to_owned()
            };
            let _ = socket.write_all(response.as_bytes()).await;
        });
    }
}

/// The response head to a CORS preflight for GetWallet from `origin`.
async fn preflight(edge: &str, origin: &str) -> String {
    let authority = edge.trim_start_matches("http://");
    let mut socket = TcpStream::connect(authority).await.expect("edge");
    let request = format!(
        "OPTIONS /kuajing.edge.v1.EdgeService/GetWallet HTTP/1.1\r\nhost: {authority}\r\norigin: {origin}\r\naccess-control-request-method: POST\r\naccess-control-request-headers: authorization,content-type,x-grpc-web\r\nconnection: close\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).to_lowercase()
}

fn allows(head: &str, origin: &str) -> bool {
    head.lines()
        .any(|l| l.trim() == format!("access-control-allow-origin: {origin}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_browser_signs_in_and_reads_its_balances_through_grpc_web() -> anyhow::Result<()> {
    let Some(browser) = chromium() else {
        assert_ne!(
            std::env::var("KJ_TEST_BROWSER").as_deref(),
            Ok("required"),
            "no Chromium: install Debian's chromium or set KJ_TEST_CHROMIUM"
        );
        eprintln!("NOT RUN: no Chromium on this machine (CI installs it)");
        return Ok(());
    };
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let origin = format!("http://{}", listener.local_addr()?);
    tokio::spawn(serve_page(listener));
    let tp = TestPlatform::start_with_options(&[("edge", &["--web-origins", &origin])]).await?;
    let e = tp.edge();
    let edge_url = tp.urls()["edge"].clone();

    // Someone with money in SGD.
    let person = sign_up_via(
        &tp,
        &e,
        Signup {
            prefix: "webuser",
            account_type: idp::AccountType::Business,
            role: idp::AccountRole::Buyer,
            region: "SG",
            email_domain: "example.com",
        },
        Via::Identity,
    )
    .await;
    edge!(
        e,
        person.auth(),
        open_wallet(pb::OpenWalletRequest { request_id: rid() })
    )?;
    let account = edge!(
        e,
        person.auth(),
        create_receiving_account(pb::CreateReceivingAccountRequest {
            request_id: rid(),
            currency_code: "SGD".to_owned(),
            display_name: "SGD top-up".to_owned(),
            purpose: wpb::ReceivingAccountPurpose::TopUp as i32,
        })
    )?
    .receiving_account
    .expect("receiving account");
    remit(&tp, &account, "1234.56").await;

    // The browser, pointed at the page with where edge is and who signs in.
    let profile = std::env::temp_dir().join(format!("kuajing-chromium-{}", rid()));
    let url = format!(
        "{origin}/?edge={edge_url}&member={}&password={PASSWORD}",
        person.member_name
    );
    let run = tokio::process::Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--virtual-time-budget=20000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", &url])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run).await??;
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("<title>loaded</title>"),
        "the page did not load the wallet: {dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dom.contains(r#"<li id="balance-SGD">SGD 1234.56</li>"#),
        "the page shows the balance: {dom}"
    );
    let wallet = edge!(e, person.auth(), get_wallet(pb::GetWalletRequest {}))?
        .wallet
        .expect("wallet");
    assert_eq!(
        wallet.balances.len(),
        dom.matches("<li id=\"balance-").count()
    );

    // CORS: the page's origin is answered, another is not.
    assert!(allows(&preflight(&edge_url, &origin).await, &origin));
    let other = "http://elsewhere.example";
    let head = preflight(&edge_url, other).await;
    assert!(
        !head.contains("access-control-allow-origin"),
        "an origin not configured is not allowed: {head}"
    );
    tp.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grpc_web_is_off_unless_origins_are_configured() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let edge_url = tp.urls()["edge"].clone();
    let head = preflight(&edge_url, "http://localhost:3000").await;
    assert!(
        !head.contains("access-control-allow-origin"),
        "no origin is allowed by default: {head}"
    );
    // Plain gRPC is unaffected.
    let rates = tp.edge().list_rates(pb::ListRatesRequest::default()).await;
    assert_eq!(rates.unwrap_err().code(), tonic::Code::Unauthenticated);
    tp.stop().await
}
