//! The foundation: every service starts on its own schema, reports SERVING, lists its
//! service through reflection, migrates idempotently, and cannot read another's schema.

use kuajing_platform::service::{self, Database};
use kuajing_testkit::TestPlatform;
use sqlx::{ConnectOptions, Connection};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

#[tokio::test]
async fn every_service_is_serving_and_listed_by_reflection() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    for running in tp.platform().services() {
        let name = running.def.name;
        for probe in ["", running.def.grpc_service] {
            let status = tp
                .health(name)
                .check(HealthCheckRequest {
                    service: probe.to_owned(),
                })
                .await?
                .into_inner()
                .status;
            assert_eq!(
                status,
                ServingStatus::Serving as i32,
                "{name} health {probe:?}"
            );
        }

        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses = tp
            .reflection(name)
            .server_reflection_info(tokio_stream::iter([request]))
            .await?
            .into_inner();
        let response = responses.message().await?.expect("one reflection response");
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!(
                "{name}: unexpected reflection answer {:?}",
                response.message_response
            );
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        assert!(
            names.contains(&running.def.grpc_service.to_owned()),
            "{name} lists {names:?}"
        );
        assert!(
            names.contains(&"grpc.health.v1.Health".to_owned()),
            "{name} lists {names:?}"
        );
        // Each service advertises only itself, not the other five contracts, and, behind
        // the credential check, the operator audit log it keeps.
        let kuajing: Vec<&str> = names
            .iter()
            .filter(|n| n.starts_with("kuajing."))
            .map(String::as_str)
            .collect();
        let mut expected = vec![running.def.grpc_service];
        if name != "edge" {
            expected.push("kuajing.audit.v1.AuditService");
        }
        assert_eq!(kuajing, expected, "{name}");

        // The same list through reflection v1alpha (the version grpcio's client speaks).
        use tonic_reflection::pb::v1alpha as alpha;
        let mut old =
            alpha::server_reflection_client::ServerReflectionClient::new(tp.channel(name));
        let request = alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
            ),
        };
        let response = old
            .server_reflection_info(tokio_stream::iter([request]))
            .await?
            .into_inner()
            .message()
            .await?
            .expect("one v1alpha reflection response");
        let Some(alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
            response.message_response
        else {
            panic!(
                "{name}: unexpected v1alpha answer {:?}",
                response.message_response
            );
        };
        // Each version lists itself as the reflection service; the rest is the same.
        let not_reflection = |n: &&String| !n.starts_with("grpc.reflection.");
        let listed: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        assert!(listed.contains(&"grpc.reflection.v1alpha.ServerReflection".to_owned()));
        assert_eq!(
            listed.iter().filter(not_reflection).collect::<Vec<_>>(),
            names.iter().filter(not_reflection).collect::<Vec<_>>(),
            "{name}: v1alpha lists what v1 lists"
        );
    }
    tp.stop().await
}

/// The callers each service's NetworkPolicy (`k8s/base/<service>.yaml`) admits: the
/// services by `app.kubernetes.io/name`, outside callers by `kuajing.io/caller`.
fn network_policy_callers(service: &str) -> std::collections::BTreeSet<String> {
    let path = format!("{}/../k8s/base/{service}.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let policy = text
        .split("\n---")
        .find(|doc| doc.contains("kind: NetworkPolicy"))
        .unwrap_or_else(|| panic!("{path} has no NetworkPolicy"));
    let (_, ingress) = policy
        .split_once("\n  ingress:")
        .unwrap_or_else(|| panic!("{path}: the NetworkPolicy has no ingress rules"));
    ingress
        .lines()
        .map(str::trim)
        .filter_map(|l| {
            l.strip_prefix("app.kubernetes.io/name: ")
                .or_else(|| l.strip_prefix("kuajing.io/caller: "))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn network_policies_admit_exactly_the_callers_the_contracts_name() {
    for (service, package) in [
        ("identity", "kuajing.identity.v1.IdentityService"),
        ("wallet", "kuajing.wallet.v1.WalletService"),
        (
            "authorization",
            "kuajing.authorization.v1.AuthorizationService",
        ),
        ("order", "kuajing.order.v1.OrderService"),
        ("fx", "kuajing.fx.v1.FxService"),
    ] {
        let prefix = format!("/{package}/");
        let named: std::collections::BTreeSet<String> = kuajing_proto::callers::CALLERS
            .iter()
            .filter(|(path, _)| path.starts_with(&prefix))
            .flat_map(|(_, callers)| callers.iter())
            .map(|caller| (*caller).to_owned())
            .collect();
        assert!(!named.is_empty(), "{service}: no callers in the contract");
        assert_eq!(
            network_policy_callers(service),
            named,
            "k8s/base/{service}.yaml admits other callers than {package}'s contract names"
        );
    }
    // Edge is the public entry: its policy admits everyone, so it names no caller.
    assert!(network_policy_callers("edge").is_empty());
}

#[tokio::test]
async fn unknown_service_health_is_not_found() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let err = tp
        .health("wallet")
        .check(HealthCheckRequest {
            service: "kuajing.nope.v1.Nope".to_owned(),
        })
        .await
        .expect_err("unknown service");
    assert_eq!(err.code(), tonic::Code::NotFound);
    tp.stop().await
}

#[tokio::test]
async fn edge_refuses_a_call_without_a_token_and_internal_services_without_a_credential()
-> anyhow::Result<()> {
    use tonic_types::StatusExt;
    let tp = TestPlatform::start().await?;
    let err = tp
        .edge()
        .get_me(kuajing_proto::edge::v1::GetMeRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
    let mut wallet = kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient::new(
        tp.channel_as("wallet", kuajing_testkit::As::Nobody),
    );
    let err = wallet
        .list_ledger_accounts(kuajing_proto::wallet::v1::ListLedgerAccountsRequest::default())
        .await
        .expect_err("no credential");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert_eq!(
        err.get_details_error_info().unwrap().reason,
        "SERVICE_CREDENTIAL_MISSING"
    );
    tp.stop().await
}

#[tokio::test]
async fn migrations_run_twice_are_harmless() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let admin = tp.db().admin_options();
    for running in tp.platform().services() {
        let def = running.def;
        let pool = service::prepare_database(
            def,
            &Database::Provision(admin.clone()),
            &Default::default(),
            true,
        )
        .await?;
        // The record of migrations is the owner's: read it as the administrator.
        let mut conn = admin.clone().connect().await?;
        let applied: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {}._sqlx_migrations WHERE success",
            def.schema
        )))
        .fetch_one(&mut conn)
        .await?;
        conn.close().await?;
        assert_eq!(applied, def.migrator.iter().count() as i64, "{}", def.name);
        let owner: String = sqlx::query_scalar(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = $1",
        )
        .bind(def.schema)
        .fetch_one(&pool)
        .await?;
        assert_eq!(owner, def.role(), "{} schema owner", def.name);
        pool.close().await;
    }
    tp.stop().await
}

#[tokio::test]
async fn a_service_role_cannot_read_another_services_schema() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let admin = tp.db().admin_options();
    let defs: Vec<_> = tp.platform().services().iter().map(|r| r.def).collect();
    for me in &defs {
        let mut conn = admin.clone().username(&me.role()).connect().await?;
        let own = format!("SELECT count(*) FROM {}.idempotency_records", me.schema);
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(own))
            .fetch_one(&mut conn)
            .await?;
        for other in defs.iter().filter(|d| d.name != me.name) {
            let sql = format!("SELECT count(*) FROM {}.idempotency_records", other.schema);
            let err = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut conn)
                .await
                .expect_err("must be denied");
            let code = err
                .as_database_error()
                .and_then(|e| e.code())
                .map(|c| c.into_owned());
            assert_eq!(
                code.as_deref(),
                Some("42501"),
                "{} reading {}: {err}",
                me.name,
                other.name
            );
        }
        conn.close().await?;
    }
    tp.stop().await
}

/// A transaction-mode pooler refuses startup options and hands a client's transactions to
/// any server session: the services' settings are their roles' defaults in the database,
/// so a plain connection as a service's role, with no options, already has them.
#[tokio::test]
async fn a_service_roles_sessions_carry_its_schema_and_timeout_without_startup_options()
-> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let admin = tp.db().admin_options();
    for run in tp.platform().services() {
        let mut conn = admin
            .clone()
            .username(&run.def.runtime_role())
            .connect()
            .await?;
        let (path, timeout): (String, String) = sqlx::query_as(
            "SELECT current_setting('search_path'), current_setting('statement_timeout')",
        )
        .fetch_one(&mut conn)
        .await?;
        assert_eq!(path, run.def.schema, "{}", run.def.name);
        assert_eq!(timeout, "30s", "{}", run.def.name);
        conn.close().await?;
    }
    tp.stop().await
}

/// A service serves as a runtime role that reads and writes its schema's rows and nothing
/// more: the application cannot alter its tables or drop the ledger's immutability
/// triggers; the schema's owner only migrates.
#[tokio::test]
async fn the_services_serve_as_a_role_that_cannot_change_their_schema() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let admin = tp.db().admin_options();
    // Who each service's sessions are (its health check keeps one busy every second).
    let mut conn = admin.clone().connect().await?;
    for run in tp.platform().services() {
        let mut users = Vec::new();
        for _ in 0..50 {
            users = sqlx::query_scalar::<_, String>(
                "SELECT DISTINCT usename::text FROM pg_stat_activity
                 WHERE datname = current_database() AND application_name = $1",
            )
            .bind(run.def.name)
            .fetch_all(&mut conn)
            .await?;
            if !users.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(users, [run.def.runtime_role()], "{}", run.def.name);
    }
    conn.close().await?;
    let wallet = admin.clone().username("kj_wallet_app").connect().await?;
    let mut wallet = wallet;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM wallet.journal_entries")
        .fetch_one(&mut wallet)
        .await?;
    assert!(n >= 0);
    for ddl in [
        "DROP TRIGGER journal_entries_immutable ON wallet.journal_entries",
        "ALTER TABLE wallet.postings DISABLE TRIGGER postings_immutable",
        "ALTER TABLE wallet.journal_entries ADD COLUMN note text",
        "TRUNCATE wallet.postings",
        "DELETE FROM wallet._sqlx_migrations",
        "CREATE TABLE wallet.shadow_ledger (amount numeric)",
    ] {
        let err = sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
            .execute(&mut wallet)
            .await
            .expect_err(ddl);
        let code = err
            .as_database_error()
            .and_then(|e| e.code())
            .map(|c| c.into_owned());
        assert_eq!(code.as_deref(), Some("42501"), "{ddl}: {err}");
    }
    wallet.close().await?;
    tp.stop().await
}

/// The manifests as a platform team's cluster would run several pods of each service:
/// the HPA alone owns each Deployment's replica count (a `replicas` field beside it would
/// reset the count on every apply), and the services dial each other through headless
/// Services, whose DNS names answer every pod, so calls spread over the pods.
#[test]
fn manifests_leave_the_count_to_the_autoscaler_and_dial_peers_headless() {
    let root = format!("{}/../k8s", env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| {
        std::fs::read_to_string(format!("{root}/{p}")).unwrap_or_else(|e| panic!("{p}: {e}"))
    };
    let peers = read("base/peers.yaml");
    let config = read("base/config.yaml");
    for (service, port) in [
        ("identity", 50051),
        ("wallet", 50052),
        ("authorization", 50053),
        ("order", 50054),
        ("fx", 50055),
    ] {
        let text = read(&format!("base/{service}.yaml"));
        let deployment = text
            .split("\n---")
            .find(|d| d.contains("kind: Deployment"))
            .expect("a Deployment");
        assert!(
            !deployment
                .lines()
                .any(|l| l.trim_start().starts_with("replicas:")),
            "{service}: the Deployment sets replicas beside its HPA"
        );
        assert!(text.contains("kind: HorizontalPodAutoscaler"), "{service}");
        let headless = peers
            .split("\n---")
            .find(|d| d.contains(&format!("name: {service}-pods")))
            .unwrap_or_else(|| panic!("no headless Service for {service}"));
        assert!(headless.contains("clusterIP: None"), "{service}");
        assert!(
            headless.contains(&format!("app.kubernetes.io/name: {service}")),
            "{service}"
        );
        let key = format!(
            "KJ_{}_URL: http://{service}-pods:{port}",
            service.to_uppercase()
        );
        assert!(config.contains(&key), "config.yaml lacks {key}");
    }
    for overlay in [
        "overlays/dev/kustomization.yaml",
        "overlays/prod/kustomization.yaml",
    ] {
        assert!(
            !read(overlay).contains("/spec/replicas"),
            "{overlay} sets replicas"
        );
    }
}

async fn status_of(tp: &TestPlatform, name: &str, service: &str) -> i32 {
    tp.health(name)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .map(|r| r.into_inner().status)
        .unwrap_or(-1)
}

/// Health tells the truth about the database: a service that cannot reach it answers
/// NOT_SERVING (Kubernetes stops routing to it) until it answers again, then SERVING; its
/// RPCs meanwhile answer UNAVAILABLE / DATABASE_UNAVAILABLE.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_service_whose_database_is_gone_answers_not_serving_until_it_is_back()
-> anyhow::Result<()> {
    let server = kuajing_testkit::server().await?;
    let target: std::net::SocketAddr = format!("{}:{}", server.get_host(), server.get_port())
        .parse()
        .or_else(|_| format!("127.0.0.1:{}", server.get_port()).parse())?;
    // A stable address in front of the test's Postgres that the test cuts (every live
    // connection dropped, new ones refused) and mends: a database gone and back.
    let cable = kuajing::forwarder::Forwarder::start(([127, 0, 0, 1], 0).into(), target).await?;
    let tp = TestPlatform::start_with_database_at("127.0.0.1", cable.addr().port()).await?;
    let wallet = "kuajing.wallet.v1.WalletService";
    let wait_for = |want: ServingStatus| {
        let tp = &tp;
        async move {
            for _ in 0..100 {
                if status_of(tp, "wallet", wallet).await == want as i32 {
                    return true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            false
        }
    };
    assert!(wait_for(ServingStatus::Serving).await, "serving at first");
    cable.cut();
    assert!(
        wait_for(ServingStatus::NotServing).await,
        "NOT_SERVING while the database is gone"
    );
    // A call meanwhile is told to come back (UNAVAILABLE, which clients retry), not that
    // the service has a bug (INTERNAL).
    let err = tp
        .wallet()
        .list_ledger_accounts(kuajing_proto::wallet::v1::ListLedgerAccountsRequest::default())
        .await
        .expect_err("the database is gone");
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    let info = tonic_types::StatusExt::get_details_error_info(&err).expect("ErrorInfo");
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        (kuajing_platform::error::DATABASE_UNAVAILABLE, "kuajing")
    );
    cable.mend();
    assert!(
        wait_for(ServingStatus::Serving).await,
        "SERVING once it is back"
    );
    // And it works again.
    tp.wallet()
        .list_ledger_accounts(kuajing_proto::wallet::v1::ListLedgerAccountsRequest::default())
        .await?;
    tp.stop().await
}

/// What serves only development is switched on by nothing that deploys: no manifest (base,
/// components, overlays) accepts operators' tokens that name nobody, nor uses the
/// development code sender.
#[test]
fn no_manifest_switches_on_a_development_only_setting() {
    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("k8s/ is readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                files(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s");
    let mut all = Vec::new();
    files(&root, &mut all);
    assert!(all.len() > 10, "the manifests are there: {all:?}");
    for path in all {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for setting in [
            "KJ_ALLOW_NAMELESS_OPERATORS",
            "KJ_IDENTITY_DEVELOPMENT_SENDER",
        ] {
            assert!(!text.contains(setting), "{} sets {setting}", path.display());
        }
    }
}

/// Every service binary's command line is well formed: the platform's options and the
/// service's own never claim one name twice (clap would panic at start, before `--help`).
#[test]
fn every_binarys_options_are_one_set_without_clashes() {
    use kuajing_platform::config::command_of;
    let commands = [
        command_of::<kuajing_identity::settings::IdentityArgs>(&kuajing_identity::SERVICE),
        command_of::<kuajing_wallet::settings::WalletArgs>(&kuajing_wallet::SERVICE),
        command_of::<kuajing_authorization::settings::AuthzArgs>(&kuajing_authorization::SERVICE),
        command_of::<kuajing_order::settings::OrderArgs>(&kuajing_order::SERVICE),
        command_of::<kuajing_fx::settings::FxArgs>(&kuajing_fx::SERVICE),
        command_of::<kuajing_edge::settings::EdgeArgs>(&kuajing_edge::SERVICE),
    ];
    for command in commands {
        let name = command.get_name().to_owned();
        command.debug_assert();
        assert!(name.starts_with("kuajing-"), "{name}");
    }
}
