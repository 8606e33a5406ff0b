//! `kuajing up`, the README's run command, as a newcomer runs it: the real binary with no
//! database configured, so it makes and runs its own PostgreSQL under its data directory.
//!
//! - Every service prints a ready line, answers SERVING and lists its contract through
//!   reflection on its port; a person registers through edge.
//! - ctrl-c (SIGINT) stops the services and the private PostgreSQL, and the command exits 0.
//! - A second `kuajing up` on the same data directory (with `--tls` this time) finds that
//!   person: the data outlived the first run. Over mutual TLS, edge answers a client that
//!   trusts the printed CA, and fx answers an operator with the printed certificate and
//!   token.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kuajing_proto::edge::v1 as pb;
use kuajing_proto::edge::v1::edge_service_client::EdgeServiceClient;
use kuajing_proto::fx::v1 as fxpb;
use kuajing_proto::fx::v1::fx_service_client::FxServiceClient;
use kuajing_proto::identity::v1 as idpb;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

const SERVICES: [(&str, &str); 6] = [
    ("edge", "kuajing.edge.v1.EdgeService"),
    ("identity", "kuajing.identity.v1.IdentityService"),
    ("wallet", "kuajing.wallet.v1.WalletService"),
    (
        "authorization",
        "kuajing.authorization.v1.AuthorizationService",
    ),
    ("order", "kuajing.order.v1.OrderService"),
    ("fx", "kuajing.fx.v1.FxService"),
];
const PASSWORD: &str = "Sunny-Day-42";

/// Eight ports free right now: the private PostgreSQL's, one per service and the
/// sandbox's.
fn free_ports() -> Vec<u16> {
    let held: Vec<TcpListener> = (0..8)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("bound").port())
        .collect()
}

/// The flags naming every port but Postgres's (`kuajing up`, `operator`, `sandbox` share
/// them).
fn port_flags(ports: &[u16]) -> Vec<String> {
    let mut flags = Vec::new();
    for ((name, _), port) in SERVICES.iter().zip(&ports[1..]) {
        flags.push(format!("--{name}-port"));
        flags.push(port.to_string());
    }
    flags.push("--sandbox-port".to_owned());
    flags.push(ports[7].to_string());
    flags
}

/// Runs `kuajing <args>` against the platform in `dir`; its stdout, after checking it
/// succeeded.
fn kuajing(dir: &Path, ports: &[u16], args: &[&str]) -> String {
    let (command, rest) = args.split_first().expect("a command");
    let out = Command::new(env!("CARGO_BIN_EXE_kuajing"))
        .arg(command)
        .arg("--data-dir")
        .arg(dir)
        .args(port_flags(ports))
        .args(rest)
        .output()
        .expect("kuajing runs");
    assert!(
        out.status.success(),
        "kuajing {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A failing test must not leave `kuajing up` (and its PostgreSQL) running.
impl Drop for Up {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A running `kuajing up` and the addresses its ready lines named.
struct Up {
    child: Child,
    ready: Vec<(String, SocketAddr)>,
    lines: Vec<String>,
}

impl Up {
    fn start(dir: &Path, ports: &[u16], tls: bool) -> Up {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kuajing"));
        cmd.arg("up")
            .arg("--data-dir")
            .arg(dir)
            .args(["--pg-port", &ports[0].to_string()]);
        cmd.args(port_flags(ports));
        if tls {
            cmd.arg("--tls");
        }
        // What the README's command sees on a fresh machine: nothing configured.
        for (key, _) in std::env::vars() {
            if key.starts_with("KJ_") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("kuajing up starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Drains stdout to the end: a closed pipe would fail kuajing's later prints.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(180);
        let mut up = Up {
            child,
            ready: Vec::new(),
            lines: Vec::new(),
        };
        while !up.lines.iter().any(|l| l.starts_with("Press ctrl-c")) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = up.child.kill();
                panic!(
                    "kuajing up did not get ready; it printed:\n{}",
                    up.lines.join("\n")
                );
            };
            if let Some(rest) = line.strip_prefix("ready") {
                let words: Vec<&str> = rest.split_whitespace().collect();
                let addr = words
                    .last()
                    .and_then(|a| a.parse().ok())
                    .expect("an address");
                up.ready.push((words[0].to_owned(), addr));
            }
            up.lines.push(line);
        }
        up
    }

    fn addr(&self, name: &str) -> SocketAddr {
        self.ready
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no ready line for {name}"))
    }

    /// ctrl-c, as a person stops it; the exit status.
    fn interrupt(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "SIGINT sent");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("kuajing up did not stop on ctrl-c");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn plain(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("url")
        .timeout(Duration::from_secs(30))
        .connect_lazy()
}

fn over_tls(addr: SocketAddr, dir: &Path, client: Option<&str>) -> Channel {
    let read = |f: &str| std::fs::read(dir.join("tls").join(f)).expect("a file kuajing up wrote");
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read("ca.pem")))
        .domain_name("localhost");
    if let Some(name) = client {
        tls = tls.identity(Identity::from_pem(
            read(&format!("{name}.pem")),
            read(&format!("{name}.key")),
        ));
    }
    Endpoint::from_shared(format!("https://{addr}"))
        .expect("url")
        .timeout(Duration::from_secs(30))
        .tls_config(tls)
        .expect("tls")
        .connect_lazy()
}

async fn listed_services(channel: Channel) -> Vec<String> {
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let response = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection answers")
        .into_inner()
        .message()
        .await
        .expect("a reflection message")
        .expect("one reflection response");
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

fn login(member_name: &str) -> pb::LoginRequest {
    pb::LoginRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        identifier: member_name.to_owned(),
        password: PASSWORD.to_owned(),
    }
}

fn postgres_is_up(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kuajing_up_serves_every_service_stops_on_ctrl_c_and_keeps_its_data() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("kuajing-up-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("data dir");

    // First run: plain text, as the README's grpcurl examples use it.
    let ports = free_ports();
    let up = Up::start(&dir, &ports, false);
    assert_eq!(
        up.ready.len(),
        6,
        "one ready line per service: {:?}",
        up.lines
    );
    for (name, contract) in SERVICES {
        let channel = plain(up.addr(name));
        let status = HealthClient::new(channel.clone())
            .check(HealthCheckRequest {
                service: contract.to_owned(),
            })
            .await
            .expect("health answers")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{name}");
        let listed = listed_services(channel).await;
        assert!(
            listed.iter().any(|s| s == contract),
            "{name} lists {listed:?}"
        );
    }
    let member = format!("up_{}", std::process::id());
    let mut edge = EdgeServiceClient::new(plain(up.addr("edge")));
    edge.register_account(pb::RegisterAccountRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        member_name: member.clone(),
        account_type: idpb::AccountType::Personal as i32,
        role: idpb::AccountRole::Buyer as i32,
        region_code: "SG".to_owned(),
        email: format!("{member}@example.com"),
        password: PASSWORD.to_owned(),
        ..Default::default()
    })
    .await
    .expect("a person registers through edge");
    edge.login(login(&member)).await.expect("and logs in");
    drop(edge);
    // The sandbox serves, and the commands an operator and a newcomer use reach it: the
    // registration's code is in the mailbox, the first operator works without a restart.
    assert!(
        up.lines.iter().any(|l| l.starts_with("sandbox")),
        "{:?}",
        up.lines
    );
    let email = format!("{member}@example.com");
    let mail = kuajing(&dir, &ports, &["sandbox", "messages", &email]);
    assert!(mail.contains("\"code\": \""), "{mail}");
    let rate = kuajing(
        &dir,
        &ports,
        &[
            "operator", "rate", "USD", "CNH", "7.15", "--reason", "a test",
        ],
    );
    assert!(rate.contains("\"midRate\": \"7.15\""), "{rate}");
    let queue = kuajing(&dir, &ports, &["operator", "verifications"]);
    assert!(queue.trim().starts_with('{'), "{queue}");
    assert!(postgres_is_up(ports[0]), "the private PostgreSQL runs");
    let status = up.interrupt();
    assert!(status.success(), "ctrl-c ends kuajing up cleanly: {status}");
    assert!(
        !postgres_is_up(ports[0]),
        "ctrl-c stops the private PostgreSQL too"
    );

    // Second run on the same data, with mutual TLS between the services.
    let ports = free_ports();
    let up = Up::start(&dir, &ports, true);
    assert_eq!(up.ready.len(), 6, "{:?}", up.lines);
    let mut edge = EdgeServiceClient::new(over_tls(up.addr("edge"), &dir, None));
    let tokens = edge
        .login(login(&member))
        .await
        .expect("the person registered in the first run logs in")
        .into_inner()
        .tokens
        .expect("tokens");
    assert!(!tokens.access_token.is_empty());
    let token = std::fs::read_to_string(dir.join("operator.token")).expect("operator token");
    let mut request = tonic::Request::new(fxpb::GetRateRequest {
        base_currency_code: "USD".to_owned(),
        quote_currency_code: "CNH".to_owned(),
    });
    request
        .metadata_mut()
        .insert("kj-service-token", token.trim().parse().expect("ascii"));
    let rate = FxServiceClient::new(over_tls(up.addr("fx"), &dir, Some("operator")))
        .get_rate(request)
        .await
        .expect("fx answers the operator's certificate and token")
        .into_inner();
    assert!(rate.rate.is_some(), "{rate:?}");
    // Without a client certificate the internal services refuse the connection itself.
    let refused = HealthClient::new(over_tls(up.addr("wallet"), &dir, None))
        .check(HealthCheckRequest::default())
        .await;
    assert!(
        refused.is_err(),
        "wallet served a client without a certificate"
    );
    drop(edge);
    let status = up.interrupt();
    assert!(status.success(), "{status}");
    assert!(!postgres_is_up(ports[0]));
    let _ = std::fs::remove_dir_all(&dir);
}
