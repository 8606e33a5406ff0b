//! Operators are people: each signs in through edge with a password and a TOTP second
//! factor and gets a one-hour token that is theirs alone; every call such a token makes is
//! written to the answering service's append-only operator audit log, which auditors (who
//! can do nothing else) list.

use std::path::PathBuf;

use kuajing::operator::{AUDITED, OperatorAccount, bootstrap, sign_in};
use kuajing_identity::domain::totp;
use kuajing_platform::auth::{self, TOKEN_HEADER};
use kuajing_proto::audit::v1 as aupb;
use kuajing_proto::audit::v1::audit_service_client::AuditServiceClient;
use kuajing_proto::edge::v1 as pb;
use kuajing_proto::fx::v1 as fxp;
use kuajing_proto::fx::v1::fx_service_client::FxServiceClient;
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::identity::v1::identity_service_client::IdentityServiceClient;
use kuajing_proto::wallet::v1 as wpb;
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use kuajing_testkit::TestPlatform;
use sqlx::{ConnectOptions, Connection};
use tonic::Code;

use crate::support::{EDGE_UNLIMITED, admin, reason, refused, rid, unique};

/// A fresh directory for what `kuajing up` keeps, removed on drop.
struct DataDir(PathBuf);

impl DataDir {
    fn new() -> DataDir {
        let dir = std::env::temp_dir().join(unique("kj-operators-"));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        DataDir(dir)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn secret(account: &OperatorAccount) -> Vec<u8> {
    totp::from_base32(&account.totp_secret).expect("a base32 secret")
}

fn sign_in_request(account: &OperatorAccount, code: &str) -> pb::SignInOperatorRequest {
    pb::SignInOperatorRequest {
        request_id: rid(),
        identifier: account.member_name.clone(),
        password: account.password.clone(),
        totp_code: code.to_owned(),
    }
}

/// A request carrying `token` as its credential (and `subject`, when given).
fn with_token<T>(token: &str, subject: Option<&str>, message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut()
        .insert(TOKEN_HEADER, token.parse().expect("ascii"));
    if let Some(s) = subject {
        r.metadata_mut()
            .insert(auth::SUBJECT_HEADER, s.parse().expect("ascii"));
    }
    r
}

/// A token of the shared operator key (only `kuajing up` and the tests hold it): it names
/// nobody.
fn shared_operator_token(tp: &TestPlatform) -> String {
    tp.platform()
        .keyring()
        .token(
            auth::OPERATOR,
            "*",
            chrono::Utc::now() + chrono::Duration::minutes(5),
        )
        .expect("the operator key")
}

fn list_ledger() -> wpb::ListLedgerAccountsRequest {
    wpb::ListLedgerAccountsRequest::default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operators_sign_in_with_a_second_factor_and_act_as_themselves() -> anyhow::Result<()> {
    let tp = TestPlatform::start_with_options(&[("edge", EDGE_UNLIMITED)]).await?;
    let dir = DataDir::new();
    let (ops, _) = bootstrap(&tp.reach(), &dir.0).await?;
    let mut e = tp.edge();
    let urls = tp.urls();
    let edge = urls.get("edge").expect("edge").clone();
    let key = secret(&ops);
    let now = chrono::Utc::now();
    let step = totp::step_of(now.timestamp());

    // Bad input first: a code must be six digits.
    let bad = e
        .sign_in_operator(sign_in_request(&ops, "12345"))
        .await
        .expect_err("five digits");
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    // A wrong code is refused like a wrong password.
    let wrong = format!(
        "{:06}",
        (totp::code_at(&key, step).parse::<u32>()? + 1) % 1_000_000
    );
    let refusal = e
        .sign_in_operator(sign_in_request(&ops, &wrong))
        .await
        .expect_err("wrong code");
    refused(&refusal, Code::Unauthenticated, "INVALID_CREDENTIALS");
    // The next step's code (within the drift) signs in; the token is at most an hour.
    let good = sign_in_request(&ops, &totp::code_at(&key, step + 1));
    let signed = e.sign_in_operator(good.clone()).await?.into_inner();
    assert_eq!(signed.role, "operator");
    assert_eq!(signed.account_id, ops.account_id);
    let expiry = auth::token_expiry(&signed.token).expect("an expiry");
    assert!(expiry <= chrono::Utc::now() + chrono::Duration::minutes(61));
    assert!(expiry >= now + chrono::Duration::minutes(59));
    // A replay of the request answers the same token; the same code again is refused.
    let replay = e.sign_in_operator(good.clone()).await?.into_inner();
    assert_eq!(replay.token, signed.token);
    let again = e
        .sign_in_operator(pb::SignInOperatorRequest {
            request_id: rid(),
            ..good
        })
        .await
        .expect_err("a used code");
    refused(&again, Code::Unauthenticated, "INVALID_CREDENTIALS");
    // Enrolled and confirmed: the factor is not enrolled again by whoever has the password.
    let enroll = e
        .enroll_operator_factor(pb::EnrollOperatorFactorRequest {
            request_id: rid(),
            identifier: ops.member_name.clone(),
            password: ops.password.clone(),
            ..Default::default()
        })
        .await
        .expect_err("confirmed");
    refused(&enroll, Code::FailedPrecondition, "FACTOR_ALREADY_ENROLLED");

    // The token is the operator's: it works as the operator, with or without naming them...
    let mut wallet = WalletServiceClient::new(tp.channel_as("wallet", kuajing_testkit::As::Nobody));
    let token = signed.token.as_str();
    wallet
        .list_ledger_accounts(with_token(token, None, list_ledger()))
        .await?;
    wallet
        .list_ledger_accounts(with_token(token, Some(&ops.account_id), list_ledger()))
        .await?;
    // ...and never as anyone else.
    let someone = uuid::Uuid::now_v7().to_string();
    let other = wallet
        .list_ledger_accounts(with_token(token, Some(&someone), list_ledger()))
        .await
        .expect_err("another person");
    refused(&other, Code::PermissionDenied, auth::CALLER_NOT_ALLOWED);
    // The operator token of old, a day long, is refused everywhere.
    let day = tp
        .platform()
        .keyring()
        .token(
            auth::OPERATOR,
            "*",
            chrono::Utc::now() + chrono::Duration::hours(24),
        )
        .expect("the operator key");
    let old = wallet
        .list_ledger_accounts(with_token(&day, None, list_ledger()))
        .await
        .expect_err("24 hours");
    refused(
        &old,
        Code::Unauthenticated,
        auth::SERVICE_CREDENTIAL_INVALID,
    );

    // Someone without a grant: the right password is still no operator.
    let (buyer_name, buyer_password) = (unique("plain_"), "Kj-plain-pass-9x".to_owned());
    tp.reach()
        .register(idp::RegisterAccountRequest {
            request_id: rid(),
            member_name: buyer_name.clone(),
            account_type: idp::AccountType::Personal as i32,
            role: idp::AccountRole::Buyer as i32,
            region_code: "SG".to_owned(),
            display_name: "Plain".to_owned(),
            email: format!("{buyer_name}@example.com"),
            mobile: String::new(),
            password: buyer_password.clone(),
        })
        .await?;
    let not = e
        .enroll_operator_factor(pb::EnrollOperatorFactorRequest {
            request_id: rid(),
            identifier: buyer_name,
            password: buyer_password,
            ..Default::default()
        })
        .await
        .expect_err("no grant");
    refused(&not, Code::PermissionDenied, "NOT_AN_OPERATOR");
    // The password alone enrols nothing: it sends a code to the verified email, and the
    // password with that code answers the secret (and the security log says so). Until
    // confirmed, enrolling again (with a new code) replaces the secret; a replay of an
    // enrolment shows its own secret, or none once another replaced it.
    let fresh = kuajing::operator::provision(&tp.reach(), "auditor_", "Auditor", "AUDITOR").await?;
    let ask = pb::EnrollOperatorFactorRequest {
        request_id: String::new(),
        identifier: fresh.member_name.clone(),
        password: fresh.password.clone(),
        ..Default::default()
    };
    let with_code = async |e: &mut kuajing_proto::edge::v1::edge_service_client::EdgeServiceClient<_>| -> anyhow::Result<pb::EnrollOperatorFactorRequest> {
        let sent = e
            .enroll_operator_factor(pb::EnrollOperatorFactorRequest {
                request_id: rid(),
                ..ask.clone()
            })
            .await?
            .into_inner();
        assert!(sent.secret.is_empty(), "the password alone shows no secret");
        let challenge = sent.challenge.expect("a code sent to the email");
        let code = tp.reach().code_in_outbox(&challenge.challenge_id).await?;
        Ok(pb::EnrollOperatorFactorRequest {
            request_id: rid(),
            challenge_id: challenge.challenge_id,
            code,
            ..ask.clone()
        })
    };
    let enrol = with_code(&mut e).await?;
    let wrong = format!("{:06}", (enrol.code.parse::<u32>()? + 1) % 1_000_000);
    let err = e
        .enroll_operator_factor(pb::EnrollOperatorFactorRequest {
            request_id: rid(),
            code: wrong,
            ..enrol.clone()
        })
        .await
        .expect_err("a wrong code");
    refused(&err, Code::PermissionDenied, "CODE_INVALID");
    let first = e.enroll_operator_factor(enrol.clone()).await?.into_inner();
    let replayed = e.enroll_operator_factor(enrol.clone()).await?.into_inner();
    assert_eq!(replayed.secret, first.secret);
    assert_ne!(first.secret, fresh.totp_secret, "replaced");
    let used = e
        .enroll_operator_factor(pb::EnrollOperatorFactorRequest {
            request_id: rid(),
            ..enrol.clone()
        })
        .await
        .expect_err("a code enrols once");
    refused(&used, Code::FailedPrecondition, "CODE_ALREADY_USED");
    let again = with_code(&mut e).await?;
    let second = e.enroll_operator_factor(again).await?.into_inner();
    assert_ne!(second.secret, first.secret);
    let stale = e
        .enroll_operator_factor(enrol)
        .await
        .expect_err("replaced since");
    refused(&stale, Code::FailedPrecondition, "FACTOR_ALREADY_ENROLLED");
    let mut conn = admin(&tp).await;
    let enrolments: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM identity.security_events
          WHERE account_id = $1::uuid AND type = 'OPERATOR_FACTOR_ENROLLED'",
    )
    .bind(&fresh.account_id)
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    assert_eq!(enrolments, 3, "provisioning's, then two here");

    // The kept token serves while it lasts (bootstrap signed in and kept it; a renewal
    // signs in as bootstrap did).
    let kept = std::fs::read_to_string(kuajing::operator::token_file(&dir.0))?;
    assert_eq!(kuajing::operator::token(&dir.0, &edge).await?, kept.trim());
    tp.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_operator_call_is_in_an_append_only_log_that_auditors_read() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let dir = DataDir::new();
    let ops = tp.operator(&dir.0).await?;
    let account = kuajing::operator::read_account(&dir.0)?;

    // Two actions, one of them refused.
    ops.set_rate("USD", "CNH", "7.1234", "an audited change")
        .await?;
    let bad = ops.set_rate("USD", "XXX", "7", "no such currency").await;
    assert!(bad.is_err());
    // A supplier's quotas are set in order, and audited there.
    let s = tp
        .reach()
        .supplier(&account.account_id, true, false)
        .await?;
    let q = ops
        .set_quotas(&s.account_id, "1000.00", Some("5000.00"), "granted")
        .await?;
    assert_eq!(q.credit_quota_available.unwrap().amount, "1000.00");
    assert_eq!(q.fx_quota_available.unwrap().amount, "5000.00");
    let log = ops.audit_log(50).await?;
    let sets: Vec<&aupb::OperatorAction> = log
        .iter()
        .filter(|a| a.method == "/kuajing.fx.v1.FxService/SetRate")
        .collect();
    assert_eq!(sets.len(), 2, "{log:#?}");
    assert!(
        log.iter().any(|a| a.service == "order"
            && a.method == "/kuajing.order.v1.OrderService/SetSupplierQuotas"),
        "{log:#?}"
    );
    for a in &sets {
        assert_eq!(a.caller, "operator");
        assert_eq!(a.operator_account_id, account.account_id);
        assert_eq!(a.service, "fx");
        assert!(a.answer_time.is_some());
    }
    let field = |a: &aupb::OperatorAction, name: &str| {
        a.request
            .as_ref()
            .and_then(|r| r.fields.get(name))
            .and_then(|v| match &v.kind {
                Some(prost_types::value::Kind::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
    };
    assert_eq!(
        field(sets[0], "reason").as_deref(),
        Some("an audited change")
    );
    assert_eq!(sets[0].answer_code, Some(Code::Ok as i32));
    assert_eq!(field(sets[1], "quoteCurrencyCode").as_deref(), Some("XXX"));
    assert_eq!(sets[1].answer_code, Some(Code::InvalidArgument as i32));

    // An auditor: signs in the same way, reads every service's log, and can do nothing else.
    let auditor =
        kuajing::operator::provision(&tp.reach(), "auditor_", "Auditor", "AUDITOR").await?;
    let edge = tp.urls().get("edge").expect("edge").clone();
    let token = sign_in(&edge, &auditor).await?;
    let mut fx_audit = AuditServiceClient::new(tp.channel_as("fx", kuajing_testkit::As::Nobody));
    let listed = fx_audit
        .list_operator_actions(with_token(
            &token,
            None,
            aupb::ListOperatorActionsRequest {
                operator_account_id: account.account_id.clone(),
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    let listed_sets = listed
        .actions
        .iter()
        .filter(|a| a.method.ends_with("/SetRate"))
        .count();
    assert_eq!(listed_sets, 2, "{listed:#?}");
    let mut fx = FxServiceClient::new(tp.channel_as("fx", kuajing_testkit::As::Nobody));
    let acts = fx
        .set_rate(with_token(
            &token,
            None,
            fxp::SetRateRequest {
                request_id: rid(),
                base_currency_code: "USD".to_owned(),
                quote_currency_code: "CNH".to_owned(),
                mid_rate: "9".to_owned(),
                reason: "an auditor".to_owned(),
            },
        ))
        .await
        .expect_err("auditors only read");
    refused(&acts, Code::PermissionDenied, auth::CALLER_NOT_ALLOWED);
    // The auditor's reading is itself in the log, under the auditor's name.
    let own = fx_audit
        .list_operator_actions(with_token(
            &token,
            None,
            aupb::ListOperatorActionsRequest {
                operator_account_id: auditor.account_id.clone(),
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    assert!(own.actions.iter().all(|a| a.caller == "auditor"));
    assert!(!own.actions.is_empty());

    // A token of the shared operator key (only `kuajing up` and the tests hold it) names
    // nobody: the log says so, and keeps whom its kj-subject claimed apart.
    let shared = shared_operator_token(&tp);
    fx.set_rate(with_token(
        &shared,
        Some(&auditor.account_id),
        fxp::SetRateRequest {
            request_id: rid(),
            base_currency_code: "USD".to_owned(),
            quote_currency_code: "CNH".to_owned(),
            mid_rate: "7.2001".to_owned(),
            reason: "the shared key".to_owned(),
        },
    ))
    .await?;
    let everyone = fx_audit
        .list_operator_actions(with_token(
            &token,
            None,
            aupb::ListOperatorActionsRequest::default(),
        ))
        .await?
        .into_inner();
    let claimed = everyone
        .actions
        .iter()
        .find(|a| a.method.ends_with("/SetRate") && a.subject_account_id == auditor.account_id)
        .expect("the shared key's call");
    assert_eq!(claimed.operator_account_id, "");
    // A person's own token: the subject is the person, so none is kept apart.
    assert!(sets.iter().all(|a| a.subject_account_id.is_empty()));

    // Nobody running as the service can change it: not a row, not the whole.
    let runtime = tp
        .platform()
        .services()
        .iter()
        .find(|s| s.def.name == "fx")
        .expect("fx")
        .def
        .runtime_role();
    let mut fx_db = tp.db().admin_options().username(&runtime).connect().await?;
    for sql in [
        "UPDATE fx.operator_actions SET code = 0",
        "DELETE FROM fx.operator_actions",
        "TRUNCATE fx.operator_actions",
        "DROP TRIGGER operator_actions_append_only ON fx.operator_actions",
    ] {
        let err = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut fx_db)
            .await
            .expect_err(sql);
        let code = err
            .as_database_error()
            .and_then(|e| e.code())
            .map(|c| c.into_owned());
        assert_eq!(code.as_deref(), Some("42501"), "{sql}: {err}");
    }
    fx_db.close().await?;
    let mut conn = admin(&tp).await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM fx.operator_actions")
        .fetch_one(&mut conn)
        .await?;
    assert!(rows >= 4, "{rows}");
    conn.close().await?;
    tp.stop().await
}

/// Waits until every one of `services` refuses `token` as belonging to an ended sign-in
/// (the credential check, before any method: each one's audit log serves as the probe).
async fn refused_everywhere_within(tp: &TestPlatform, token: &str, services: &[&str]) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    for service in services {
        let mut audit =
            AuditServiceClient::new(tp.channel_as(service, kuajing_testkit::As::Nobody));
        loop {
            let request = aupb::ListOperatorActionsRequest::default();
            match audit
                .list_operator_actions(with_token(token, None, request))
                .await
            {
                Err(err) if reason(&err) == auth::SERVICE_CREDENTIAL_INVALID => break,
                Err(err) => panic!("{service}: {err:?}"),
                Ok(_) => {}
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{service} still takes the token of an ended sign-in"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signing_out_or_losing_the_grant_ends_an_operators_token_everywhere() -> anyhow::Result<()>
{
    let mut tp =
        TestPlatform::start_replicated_with_options(1, &["identity"], &[("edge", EDGE_UNLIMITED)])
            .await?;
    let edge = tp.urls().get("edge").expect("edge").clone();
    let leaver = kuajing::operator::provision(&tp.reach(), "leaver_", "Leaver", "OPERATOR").await?;
    let stayer = kuajing::operator::provision(&tp.reach(), "stayer_", "Stayer", "OPERATOR").await?;
    let ended = sign_in(&edge, &leaver).await?;
    let kept = sign_in(&edge, &stayer).await?;
    let mut wallet = WalletServiceClient::new(tp.channel_as("wallet", kuajing_testkit::As::Nobody));
    for token in [&ended, &kept] {
        wallet
            .list_ledger_accounts(with_token(token, None, list_ledger()))
            .await?;
    }

    // Signing out ends that sign-in (a replay answers the same), and every service
    // refuses its token within a poll; the other operator's token works on.
    let mut identity =
        IdentityServiceClient::new(tp.channel_as("identity", kuajing_testkit::As::Nobody));
    let out = idp::SignOutOperatorRequest {
        request_id: rid(),
        all_sessions: false,
    };
    let answer = identity
        .sign_out_operator(with_token(&ended, None, out.clone()))
        .await?
        .into_inner();
    assert_eq!(answer.revoked_session_count, 1);
    refused_everywhere_within(&tp, &ended, &AUDITED).await;
    let late = identity
        .sign_out_operator(with_token(&ended, None, out))
        .await
        .expect_err("the token is refused before its replay is looked up");
    refused(
        &late,
        Code::Unauthenticated,
        auth::SERVICE_CREDENTIAL_INVALID,
    );
    wallet
        .list_ledger_accounts(with_token(&kept, None, list_ledger()))
        .await?;
    // A token that names nobody has no sign-in to end.
    let shared = shared_operator_token(&tp);
    let nobody = identity
        .sign_out_operator(with_token(
            &shared,
            None,
            idp::SignOutOperatorRequest {
                request_id: rid(),
                all_sessions: true,
            },
        ))
        .await
        .expect_err("no sign-in");
    refused(&nobody, Code::FailedPrecondition, "NO_SIGN_IN");

    // A grant taken away (the platform team's configuration, applied as identity starts)
    // ends the sign-ins made under it, everywhere.
    let mut conn = admin(&tp).await;
    sqlx::query("DELETE FROM identity.operator_grants WHERE account_id = $1::uuid")
        .bind(&stayer.account_id)
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    tp.kill("identity").await?;
    tp.restart("identity").await?;
    refused_everywhere_within(&tp, &kept, &AUDITED).await;
    tp.stop().await
}
