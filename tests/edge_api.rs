//! The public API a buyer's or supplier's app needs beyond the journeys: its own escrow
//! holds, its supplier profile and admission, a checkout followed live to its end (across
//! restarts of edge and of the order service), and account changes (email, mobile,
//! password reset and change).

use std::time::Duration;

use kuajing_edge::domain::request_id;
use kuajing_proto::edge::v1 as pb;
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::order::v1 as opb;
use kuajing_proto::wallet::v1 as wpb;
use kuajing_testkit::TestPlatform;
use rust_decimal::Decimal;
use tonic::{Code, Status};
use uuid::Uuid;

use crate::support::people::{
    Edge, PERSONAL_PIN, Signup, Via, authed, dec, edge, onboard_buyer, operator, place_order,
    refused, rid, set_pin, sign_up, sign_up_via, supplier,
};
use crate::support::{admin, amount};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_buyer_sees_which_escrow_holds_make_up_its_held_balance() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let e = tp.edge();
    let ops = operator(&tp).await;
    let b = onboard_buyer(&tp, &e, &ops, Via::Edge).await;
    let s = supplier(&tp, &e, &ops, Via::Edge).await;
    set_pin(&tp, &e, &b.personal, PERSONAL_PIN).await;
    let first = place_order(&e, &b, &s, 10, "100.00").await;
    let second = place_order(&e, &b, &s, 3, "50.00").await;
    for order in [&first, &second] {
        crate::support::people::pay(&e, &b, &[order], "").await?;
    }

    // The business wallet pays under the mandate: its holds are the two orders' escrow.
    let business = b.business.auth();
    let holds = edge!(
        e,
        business.clone(),
        list_holds(pb::ListHoldsRequest::default())
    )?
    .holds;
    assert_eq!(holds.len(), 2, "{holds:?}");
    let by_order = |order_id: &str| {
        holds
            .iter()
            .find(|h| h.order_id == order_id)
            .unwrap_or_else(|| panic!("a hold for {order_id}: {holds:?}"))
            .clone()
    };
    let escrow = by_order(&first.order_id);
    assert_eq!(escrow.state, wpb::HoldState::Open as i32);
    assert_eq!(escrow.purpose, wpb::HoldPurpose::Escrow as i32);
    assert_eq!(escrow.wallet_id, b.wallet_id);
    // Order total plus the buyer's cross-border pay fee (0.20 % of CNY 1,000.00).
    assert_eq!(amount(&escrow.amount), dec("1002.00"));
    assert_eq!(amount(&by_order(&second.order_id).amount), dec("150.30"));
    // What GetWallet shows as held is exactly the open holds.
    let wallet = edge!(e, business.clone(), get_wallet(pb::GetWalletRequest {}))?
        .wallet
        .expect("wallet");
    let open: Decimal = holds.iter().map(|h| amount(&h.amount)).sum();
    assert_eq!(crate::support::people::balance(&wallet, "CNH").1, open);

    // Narrowed by order and by state.
    let one = edge!(
        e,
        business.clone(),
        list_holds(pb::ListHoldsRequest {
            order_id: second.order_id.clone(),
            ..Default::default()
        })
    )?;
    assert_eq!(one.holds.len(), 1);
    let released = edge!(
        e,
        business.clone(),
        list_holds(pb::ListHoldsRequest {
            states: vec![wpb::HoldState::Released as i32],
            ..Default::default()
        })
    )?;
    assert!(released.holds.is_empty(), "{released:?}");

    // One hold, read by its owner; another person's read is refused.
    let read = edge!(
        e,
        business.clone(),
        get_hold(pb::GetHoldRequest {
            hold_id: escrow.hold_id.clone(),
        })
    )?
    .hold
    .expect("hold");
    assert_eq!(read, escrow);
    let intruder = edge!(
        e,
        s.auth(),
        get_hold(pb::GetHoldRequest {
            hold_id: escrow.hold_id.clone(),
        })
    )
    .unwrap_err();
    refused(&intruder, Code::PermissionDenied, "NOT_OWNER");
    // Another person's order narrows the caller's own holds to none.
    let theirs = edge!(
        e,
        s.auth(),
        list_holds(pb::ListHoldsRequest {
            order_id: first.order_id.clone(),
            ..Default::default()
        })
    )?;
    assert!(theirs.holds.is_empty(), "{theirs:?}");
    let bad = edge!(
        e,
        business,
        list_holds(pb::ListHoldsRequest {
            states: vec![99],
            ..Default::default()
        })
    )
    .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    tp.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_supplier_reads_its_own_profile_and_every_admission_rule_it_fails() -> anyhow::Result<()>
{
    let tp = TestPlatform::start().await?;
    let e = tp.edge();
    let ops = operator(&tp).await;
    let admitted = supplier(&tp, &e, &ops, Via::Edge).await;
    let profile = edge!(
        e,
        admitted.auth(),
        get_supplier_profile(pb::GetSupplierProfileRequest {})
    )?
    .supplier_profile
    .expect("profile");
    assert_eq!(profile.account_id, admitted.account_id);
    assert_eq!(profile.membership, idp::SupplierMembership::Paid as i32);
    assert!(profile.trustpass_active);
    let admission = |who: Option<String>, program: idp::AdmissionProgram| {
        let e = e.clone();
        async move {
            edge!(
                e,
                who,
                check_supplier_admission(pb::CheckSupplierAdmissionRequest {
                    program: program as i32,
                })
            )
        }
    };
    let ta = admission(admitted.auth(), idp::AdmissionProgram::TradeAssurance)
        .await?
        .admission
        .expect("admission");
    assert!(ta.admitted, "{ta:?}");
    assert_eq!(ta.account_id, admitted.account_id);

    // A new supplier, a free member with no real-name verification: every failing rule.
    let new = sign_up(
        &tp,
        &e,
        Signup {
            prefix: "workshop",
            account_type: idp::AccountType::Business,
            role: idp::AccountRole::Supplier,
            region: "CN",
            email_domain: "example.cn",
        },
    )
    .await;
    let refused_ta = admission(new.auth(), idp::AdmissionProgram::TradeAssurance)
        .await?
        .admission
        .expect("admission");
    assert!(!refused_ta.admitted);
    let rules: Vec<&str> = refused_ta
        .failed_rules
        .iter()
        .map(|r| r.reason.as_str())
        .collect();
    assert_eq!(rules, ["REAL_NAME_NOT_VERIFIED"], "{refused_ta:?}");
    let direct_pay = admission(new.auth(), idp::AdmissionProgram::DirectPay)
        .await?
        .admission
        .expect("admission");
    let rules: Vec<&str> = direct_pay
        .failed_rules
        .iter()
        .map(|r| r.reason.as_str())
        .collect();
    assert_eq!(rules, ["NOT_PAID_MEMBER"], "{direct_pay:?}");
    assert!(
        direct_pay
            .failed_rules
            .iter()
            .all(|r| !r.message.is_empty())
    );

    // Suppliers only, and a program is required.
    let buyer = sign_up(
        &tp,
        &e,
        Signup {
            prefix: "importer",
            account_type: idp::AccountType::Business,
            role: idp::AccountRole::Buyer,
            region: "SG",
            email_domain: "example.com",
        },
    )
    .await;
    let s = edge!(
        e,
        buyer.auth(),
        get_supplier_profile(pb::GetSupplierProfileRequest {})
    )
    .unwrap_err();
    refused(&s, Code::PermissionDenied, "ROLE_REQUIRED");
    let s = admission(buyer.auth(), idp::AdmissionProgram::DirectPay)
        .await
        .unwrap_err();
    refused(&s, Code::PermissionDenied, "ROLE_REQUIRED");
    let s = admission(new.auth(), idp::AdmissionProgram::Unspecified)
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
    tp.stop().await
}

/// Reads `stream` until it has been quiet for `quiet`, it ends, or it fails.
async fn drain(
    stream: &mut tonic::Streaming<pb::WatchPaymentResponse>,
    quiet: Duration,
) -> (Vec<opb::Payment>, Option<Result<(), Status>>) {
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(quiet, stream.message()).await {
            Err(_) => return (seen, None),
            Ok(Ok(Some(m))) => seen.push(m.payment.expect("payment")),
            Ok(Ok(None)) => return (seen, Some(Ok(()))),
            Ok(Err(s)) => return (seen, Some(Err(s))),
        }
    }
}

async fn watch(
    e: &Edge,
    token: Option<String>,
    req: pb::WatchPaymentRequest,
) -> Result<tonic::Streaming<pb::WatchPaymentResponse>, Status> {
    e.clone()
        .watch_payment(authed(token.as_deref(), req))
        .await
        .map(tonic::Response::into_inner)
}

fn updated(p: &opb::Payment) -> (i64, i32) {
    let t = p.update_time.as_ref().expect("update_time");
    (t.seconds, t.nanos)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_buyer_follows_its_checkout_live_to_the_end_across_restarts_of_edge_and_order()
-> anyhow::Result<()> {
    let mut tp = TestPlatform::start_restartable(&["edge", "order"]).await?;
    let e = tp.edge();
    let ops = operator(&tp).await;
    let b = onboard_buyer(&tp, &e, &ops, Via::Edge).await;
    let s = supplier(&tp, &e, &ops, Via::Edge).await;
    set_pin(&tp, &e, &b.personal, PERSONAL_PIN).await;
    let orders = [
        place_order(&e, &b, &s, 4, "25.00").await,
        place_order(&e, &b, &s, 2, "80.00").await,
    ];

    // The checkout stops (as if its driver died) before the second escrow hold, so it is
    // caught mid-way; the order service's payment key is edge's derivation of ours.
    let checkout = Uuid::now_v7();
    let payment_key = request_id::derive(
        Some(Uuid::parse_str(&b.personal.account_id)?),
        "PayOrders",
        checkout,
        "pay",
    );
    {
        let mut conn = admin(&tp).await;
        sqlx::query(
            "INSERT INTO orders.payment_fault_plans (payment_request_id, step_kind, order_index, point, action)
             VALUES ($1, $2, 1, 'BEFORE_CALL', 'HALT')",
        )
        .bind(payment_key)
        .bind(opb::PaymentStepKind::WalletHold as i16)
        .execute(&mut conn)
        .await?;
    }
    // Following starts before PayOrders is even sent: the stream waits for the payment.
    let mut live = watch(
        &e,
        b.personal.auth(),
        pb::WatchPaymentRequest {
            request_id: checkout.to_string(),
            ..Default::default()
        },
    )
    .await?;
    let paying = {
        let mut client = e.clone();
        let mut request = authed(
            b.personal.auth().as_deref(),
            pb::PayOrdersRequest {
                request_id: checkout.to_string(),
                order_ids: orders.iter().map(|o| o.order_id.clone()).collect(),
                payment_method: opb::PaymentMethod::CrossBorderPay as i32,
                payment_pin: PERSONAL_PIN.to_owned(),
                ..Default::default()
            },
        );
        request.set_timeout(Duration::from_secs(3));
        tokio::spawn(async move { client.pay_orders(request).await })
    };
    let (before, end) = drain(&mut live, Duration::from_secs(2)).await;
    assert!(
        end.is_none(),
        "the stream ended while the saga was halted: {end:?}"
    );
    assert!(!before.is_empty(), "no state was sent");
    let last = before.last().expect("a state").clone();
    assert_eq!(last.state, opb::PaymentState::InProgress as i32, "{last:?}");
    assert!(
        before.windows(2).all(|w| updated(&w[0]) < updated(&w[1])),
        "each message is a newer state: {before:?}"
    );
    // The client's 3 s deadline passed mid-saga: it heard the payment was still in progress
    // or DEADLINE_EXCEEDED, and the saga went on without it (below: it ends, once).
    match paying.await? {
        Ok(r) => {
            let p = r.into_inner().payment.expect("payment");
            assert_eq!(p.state, opb::PaymentState::InProgress as i32, "{p:?}");
        }
        Err(s) => assert_eq!(s.code(), Code::DeadlineExceeded, "{s:?}"),
    }
    let pay_again = pb::PayOrdersRequest {
        request_id: checkout.to_string(),
        order_ids: orders.iter().map(|o| o.order_id.clone()).collect(),
        payment_method: opb::PaymentMethod::CrossBorderPay as i32,
        payment_pin: PERSONAL_PIN.to_owned(),
        ..Default::default()
    };

    // Edge restarts: the stream is cut, and resumed from the last state seen.
    tp.kill("edge").await?;
    let (_, cut) = drain(&mut live, Duration::from_secs(5)).await;
    assert!(
        matches!(cut, Some(Err(_))),
        "a killed edge cuts the stream: {cut:?}"
    );
    tp.restart("edge").await?;
    let e = tp.edge();
    let resume = pb::WatchPaymentRequest {
        payment_id: last.payment_id.clone(),
        after_update_time: last.update_time,
        ..Default::default()
    };
    let mut resumed = watch(&e, b.personal.auth(), resume.clone()).await?;
    let (nothing_new, end) = drain(&mut resumed, Duration::from_millis(800)).await;
    assert!(
        nothing_new.is_empty() && end.is_none(),
        "nothing changed since the last state seen: {nothing_new:?} {end:?}"
    );

    // The order service restarts; the driver's lease lapses and recovery finishes the
    // payment. The resumed stream rides out the restart and ends with the end.
    tp.kill("order").await?;
    tp.restart("order").await?;
    tp.clock().advance(Duration::from_secs(20));
    let (after, end) = drain(&mut resumed, Duration::from_secs(60)).await;
    assert!(matches!(end, Some(Ok(()))), "the stream ends OK: {end:?}");
    let done = after.last().expect("the final state");
    assert_eq!(done.state, opb::PaymentState::Succeeded as i32, "{done:?}");
    assert!(
        after.iter().all(|p| updated(p) > updated(&last)),
        "{after:?}"
    );
    let polled = edge!(
        e,
        b.personal.auth(),
        get_payment(pb::GetPaymentRequest {
            payment_id: last.payment_id.clone(),
        })
    )?
    .payment
    .expect("payment");
    assert_eq!(&polled, done);
    // The checkout the client gave up on, sent again: its payment, finished, once.
    let replayed = edge!(e, b.personal.auth(), pay_orders(pay_again))?
        .payment
        .expect("payment");
    assert_eq!(replayed.payment_id, done.payment_id);
    assert_eq!(replayed.state, opb::PaymentState::Succeeded as i32);

    // A finished payment: one message, at once, then the end, resumed or not.
    let (once, end) = drain(
        &mut watch(&e, b.personal.auth(), resume).await?,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!((once.len(), end.map(|r| r.is_ok())), (1, Some(true)));

    // Refusals: someone else's payment reads as missing; exactly one id.
    let theirs = watch(
        &e,
        s.auth(),
        pb::WatchPaymentRequest {
            payment_id: last.payment_id.clone(),
            ..Default::default()
        },
    )
    .await;
    let theirs = match theirs {
        Ok(mut stream) => stream.message().await.unwrap_err(),
        Err(s) => s,
    };
    refused(&theirs, Code::NotFound, "RESOURCE_NOT_FOUND");
    let both = watch(
        &e,
        b.personal.auth(),
        pb::WatchPaymentRequest {
            payment_id: last.payment_id.clone(),
            request_id: checkout.to_string(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(both.code(), Code::InvalidArgument, "{both:?}");
    tp.stop().await
}

/// A platform whose edge admits the many onboarding calls these tests make at once.
async fn roomy_platform() -> anyhow::Result<TestPlatform> {
    TestPlatform::start_with_options(&[(
        "edge",
        &[
            "--onboarding-per-minute",
            "600",
            "--identifier-per-minute",
            "600",
        ],
    )])
    .await
}

fn someone(prefix: &'static str) -> Signup<'static> {
    Signup {
        prefix,
        account_type: idp::AccountType::Personal,
        role: idp::AccountRole::Buyer,
        region: "SG",
        email_domain: "example.com",
    }
}

async fn login(e: &Edge, identifier: &str, password: &str) -> Result<pb::LoginResponse, Status> {
    edge!(
        e,
        None,
        login(pb::LoginRequest {
            request_id: rid(),
            identifier: identifier.to_owned(),
            password: password.to_owned(),
        })
    )
}

async fn refresh(e: &Edge, refresh_token: &str) -> Result<pb::RefreshTokenResponse, Status> {
    edge!(
        e,
        None,
        refresh_token(pb::RefreshTokenRequest {
            request_id: rid(),
            refresh_token: refresh_token.to_owned(),
        })
    )
}

async fn events_of(e: &Edge, token: Option<String>) -> Vec<i32> {
    edge!(
        e,
        token,
        list_security_events(pb::ListSecurityEventsRequest::default())
    )
    .expect("ListSecurityEvents")
    .security_events
    .iter()
    .map(|e| e.r#type)
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_person_changes_its_email_and_mobile_by_a_code_to_the_new_address() -> anyhow::Result<()>
{
    let tp = roomy_platform().await?;
    let e = tp.edge();
    let p = sign_up_via(&tp, &e, someone("mover"), Via::Identity).await;
    let new_email = format!("{}@example.org", p.member_name);
    let start = |channel: idp::VerificationChannel, address: String, token: Option<String>| {
        let e = e.clone();
        async move {
            edge!(
                e,
                token,
                start_contact_change(pb::StartContactChangeRequest {
                    request_id: rid(),
                    channel: channel as i32,
                    new_address: address,
                })
            )
        }
    };
    let challenge = start(idp::VerificationChannel::Email, new_email.clone(), p.auth())
        .await?
        .challenge
        .expect("challenge");
    assert_eq!(
        challenge.purpose,
        idp::VerificationPurpose::ChangeContact as i32
    );
    // The code went to the new address, not the registered one.
    let (to, code): (String, String) = {
        let mut conn = admin(&tp).await;
        sqlx::query_as(
            "SELECT destination, substring(body from '[0-9]{6}') FROM identity.outbox
             WHERE challenge_id = $1::uuid",
        )
        .bind(&challenge.challenge_id)
        .fetch_one(&mut conn)
        .await?
    };
    assert_eq!(to, new_email);
    let confirm = |code: String, request_id: String| {
        let (e, token, challenge_id) = (e.clone(), p.auth(), challenge.challenge_id.clone());
        async move {
            edge!(
                e,
                token,
                confirm_contact_change(pb::ConfirmContactChangeRequest {
                    request_id,
                    challenge_id,
                    code,
                })
            )
        }
    };
    let wrong = if code == "000000" { "111111" } else { "000000" };
    refused(
        &confirm(wrong.to_owned(), rid()).await.unwrap_err(),
        Code::PermissionDenied,
        "CODE_INVALID",
    );
    let once = rid();
    let changed = confirm(code.clone(), once.clone())
        .await?
        .account
        .expect("account");
    assert_eq!(
        (changed.email.as_str(), changed.email_verified),
        (new_email.as_str(), true)
    );
    // A retry is the same answer; the code is spent for any other request.
    assert_eq!(
        confirm(code.clone(), once).await?.account.expect("account"),
        changed
    );
    refused(
        &confirm(code, rid()).await.unwrap_err(),
        Code::FailedPrecondition,
        "CODE_ALREADY_USED",
    );
    // The old address is told, without a code; the new one signs in.
    let notices: Vec<String> = {
        let mut conn = admin(&tp).await;
        sqlx::query_scalar(
            "SELECT body FROM identity.outbox WHERE destination = $1 AND challenge_id IS NULL",
        )
        .bind(&p.email)
        .fetch_all(&mut conn)
        .await?
    };
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains("was changed") && !notices[0].chars().any(|c| c.is_ascii_digit()));
    login(&e, &new_email, crate::support::people::PASSWORD).await?;
    refused(
        &login(&e, &p.email, crate::support::people::PASSWORD)
            .await
            .unwrap_err(),
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    assert!(
        events_of(&e, p.auth())
            .await
            .contains(&(idp::SecurityEventType::ContactChanged as i32))
    );

    // A mobile the account never had.
    let mobile = "+6591234567";
    let challenge = start(idp::VerificationChannel::Sms, mobile.to_owned(), p.auth())
        .await?
        .challenge
        .expect("challenge");
    let code = crate::support::code_in_outbox(&tp, &challenge.challenge_id).await;
    let changed = edge!(
        e,
        p.auth(),
        confirm_contact_change(pb::ConfirmContactChangeRequest {
            request_id: rid(),
            challenge_id: challenge.challenge_id.clone(),
            code,
        })
    )?
    .account
    .expect("account");
    assert_eq!(
        (changed.mobile.as_str(), changed.mobile_verified),
        (mobile, true)
    );

    // Refusals: someone else's address, the current one, a malformed one.
    let other = sign_up_via(&tp, &e, someone("other"), Via::Identity).await;
    let taken = start(
        idp::VerificationChannel::Email,
        new_email.clone(),
        other.auth(),
    )
    .await
    .unwrap_err();
    refused(&taken, Code::AlreadyExists, "EMAIL_TAKEN");
    let same = start(idp::VerificationChannel::Sms, mobile.to_owned(), p.auth())
        .await
        .unwrap_err();
    assert_eq!(same.code(), Code::InvalidArgument, "{same:?}");
    let bad = start(
        idp::VerificationChannel::Email,
        "not-an-email".to_owned(),
        p.auth(),
    )
    .await
    .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    // Another person's challenge is not found for the caller.
    let theirs = edge!(
        e,
        other.auth(),
        confirm_contact_change(pb::ConfirmContactChangeRequest {
            request_id: rid(),
            challenge_id: challenge.challenge_id,
            code: "123456".to_owned(),
        })
    )
    .unwrap_err();
    refused(&theirs, Code::NotFound, "RESOURCE_NOT_FOUND");
    tp.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forgotten_password_is_reset_by_a_code_and_every_session_ends() -> anyhow::Result<()> {
    let tp = roomy_platform().await?;
    let e = tp.edge();
    let p = sign_up_via(&tp, &e, someone("forgetful"), Via::Identity).await;
    let start = |identifier: String| {
        let e = e.clone();
        async move {
            edge!(
                e,
                None,
                start_password_reset(pb::StartPasswordResetRequest {
                    request_id: rid(),
                    identifier,
                    channel: idp::VerificationChannel::Email as i32,
                })
            )
        }
    };
    let reset = |identifier: String, challenge_id: String, code: String, password: &str| {
        let (e, password) = (e.clone(), password.to_owned());
        async move {
            edge!(
                e,
                None,
                reset_password(pb::ResetPasswordRequest {
                    request_id: rid(),
                    identifier,
                    challenge_id,
                    code,
                    new_password: password,
                })
            )
        }
    };
    let started = start(p.member_name.clone()).await?;
    let code = crate::support::code_in_outbox(&tp, &started.challenge_id).await;
    let new_password = "Rainy-Night-77";
    // A weak password does not spend the code; a wrong code does not reset.
    let weak = reset(
        p.member_name.clone(),
        started.challenge_id.clone(),
        code.clone(),
        "short",
    )
    .await
    .unwrap_err();
    assert_eq!(weak.code(), Code::InvalidArgument, "{weak:?}");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    refused(
        &reset(
            p.member_name.clone(),
            started.challenge_id.clone(),
            wrong.to_owned(),
            new_password,
        )
        .await
        .unwrap_err(),
        Code::PermissionDenied,
        "CODE_INVALID",
    );
    let done = reset(
        p.member_name.clone(),
        started.challenge_id.clone(),
        code.clone(),
        new_password,
    )
    .await?;
    assert!(done.revoked_session_count >= 1, "{done:?}");
    // Every session ended; the old password no longer signs in, the new one does.
    refused(
        &refresh(&e, &p.refresh_token).await.unwrap_err(),
        Code::Unauthenticated,
        "REFRESH_TOKEN_REVOKED",
    );
    refused(
        &login(&e, &p.member_name, crate::support::people::PASSWORD)
            .await
            .unwrap_err(),
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    let fresh = login(&e, &p.member_name, new_password).await?;
    let token = fresh.tokens.map(|t| t.access_token);
    assert!(
        events_of(&e, token)
            .await
            .contains(&(idp::SecurityEventType::PasswordReset as i32))
    );
    refused(
        &reset(
            p.member_name.clone(),
            started.challenge_id,
            code,
            "Other-Day-99",
        )
        .await
        .unwrap_err(),
        Code::FailedPrecondition,
        "CODE_ALREADY_USED",
    );

    // Nobody by that name: the same answer, no message, and nothing to reset.
    let nobody = start("no_such_member".to_owned()).await?;
    assert!(!nobody.challenge_id.is_empty() && nobody.expire_time.is_some());
    let sent: i64 = {
        let mut conn = admin(&tp).await;
        sqlx::query_scalar("SELECT count(*) FROM identity.outbox WHERE challenge_id = $1::uuid")
            .bind(&nobody.challenge_id)
            .fetch_one(&mut conn)
            .await?
    };
    assert_eq!(sent, 0);
    let missing = reset(
        "no_such_member".to_owned(),
        nobody.challenge_id,
        "123456".to_owned(),
        new_password,
    )
    .await
    .unwrap_err();
    refused(&missing, Code::NotFound, "RESOURCE_NOT_FOUND");
    tp.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_signed_in_person_changes_its_password_given_the_current_one() -> anyhow::Result<()> {
    let tp = roomy_platform().await?;
    let e = tp.edge();
    let p = sign_up_via(&tp, &e, someone("careful"), Via::Identity).await;
    let change = |current: &str, new: &str| {
        let (e, token) = (e.clone(), p.auth());
        let (current, new) = (current.to_owned(), new.to_owned());
        async move {
            edge!(
                e,
                token,
                change_password(pb::ChangePasswordRequest {
                    request_id: rid(),
                    current_password: current,
                    new_password: new,
                })
            )
        }
    };
    let new_password = "Windy-Hill-31";
    refused(
        &change("Not-My-Password-1", new_password).await.unwrap_err(),
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    let same = change(
        crate::support::people::PASSWORD,
        crate::support::people::PASSWORD,
    )
    .await
    .unwrap_err();
    assert_eq!(same.code(), Code::InvalidArgument, "{same:?}");
    let done = change(crate::support::people::PASSWORD, new_password).await?;
    assert!(done.revoked_session_count >= 1, "{done:?}");
    refused(
        &refresh(&e, &p.refresh_token).await.unwrap_err(),
        Code::Unauthenticated,
        "REFRESH_TOKEN_REVOKED",
    );
    let fresh = login(&e, &p.member_name, new_password).await?;
    let events = events_of(&e, fresh.tokens.map(|t| t.access_token)).await;
    assert!(events.contains(&(idp::SecurityEventType::PasswordChanged as i32)));
    // The wrong current password was a failed login.
    assert!(events.contains(&(idp::SecurityEventType::LoginFailed as i32)));
    tp.stop().await
}

async fn open_link(e: &Edge, token: &str) -> Result<pb::OpenPaymentLinkResponse, Status> {
    edge!(
        e,
        None,
        open_payment_link(pb::OpenPaymentLinkRequest {
            token: token.to_owned(),
        })
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_link_shows_its_orders_without_a_session_and_leads_to_payment()
-> anyhow::Result<()> {
    let tp = roomy_platform().await?;
    let e = tp.edge();
    let ops = operator(&tp).await;
    let b = onboard_buyer(&tp, &e, &ops, Via::Identity).await;
    let s = supplier(&tp, &e, &ops, Via::Identity).await;
    set_pin(&tp, &e, &b.personal, PERSONAL_PIN).await;
    let orders = [
        place_order(&e, &b, &s, 10, "100.00").await,
        place_order(&e, &b, &s, 2, "80.00").await,
    ];
    let create =
        |who: Option<String>, ids: Vec<String>, valid_for: Option<i64>, request_id: String| {
            let e = e.clone();
            async move {
                edge!(
                    e,
                    who,
                    create_payment_link(pb::CreatePaymentLinkRequest {
                        request_id,
                        order_ids: ids,
                        valid_for: valid_for
                            .map(|seconds| prost_types::Duration { seconds, nanos: 0 }),
                    })
                )
            }
        };
    let both: Vec<String> = orders.iter().map(|o| o.order_id.clone()).collect();

    // The supplier sends the buyer a link for both orders.
    let once = rid();
    let made = create(s.auth(), both.clone(), Some(3600), once.clone()).await?;
    assert!(
        made.token.starts_with("kjpl_") && made.token.len() == 48,
        "{made:?}"
    );
    let link = made.payment_link.clone().expect("link");
    assert_eq!(link.state, opb::PaymentLinkState::Active as i32);
    assert_eq!(link.order_ids, both);
    assert_eq!(link.creator_account_id, s.account_id);
    assert_eq!(amount(&link.total_amount), dec("1160.00"));
    // A replay is the same link, without the token (it is shown once).
    let again = create(s.auth(), both.clone(), Some(3600), once).await?;
    assert_eq!(
        (again.payment_link, again.token.as_str()),
        (Some(link.clone()), "")
    );

    // Anyone holding the token sees the orders and amounts, with no session.
    let opened = open_link(&e, &made.token).await?;
    assert_eq!(
        opened.payment_link.as_ref().map(|l| l.state),
        Some(opb::PaymentLinkState::Active as i32)
    );
    let numbers: Vec<&str> = opened
        .orders
        .iter()
        .map(|o| o.order_number.as_str())
        .collect();
    assert_eq!(
        numbers,
        [
            orders[0].order_number.as_str(),
            orders[1].order_number.as_str()
        ]
    );
    assert!(
        opened
            .orders
            .iter()
            .all(|o| o.status == opb::OrderStatus::Unpaid as i32)
    );
    assert_eq!(amount(&opened.orders[1].total_amount), dec("160.00"));

    // The buyer pays what the link names, with a session and the PIN; the link is used.
    let ids: Vec<&opb::Order> = orders.iter().collect();
    let paid = crate::support::people::pay(&e, &b, &ids, "")
        .await?
        .payment
        .expect("payment");
    assert_eq!(paid.state, opb::PaymentState::Succeeded as i32);
    let used = open_link(&e, &made.token).await?;
    assert_eq!(
        used.payment_link.map(|l| l.state),
        Some(opb::PaymentLinkState::Used as i32)
    );
    assert!(
        used.orders
            .iter()
            .all(|o| o.status == opb::OrderStatus::Paid as i32)
    );
    // A paid order takes no new link.
    let paid_again = create(s.auth(), both, None, rid()).await.unwrap_err();
    refused(
        &paid_again,
        Code::FailedPrecondition,
        "INVALID_STATE_TRANSITION",
    );

    // Revoked: only the creator or the buyer may; then the token opens nothing.
    let third = place_order(&e, &b, &s, 1, "10.00").await;
    let revocable = create(b.personal.auth(), vec![third.order_id.clone()], None, rid()).await?;
    let link_id = revocable.payment_link.expect("link").payment_link_id;
    let revoke = |who: Option<String>| {
        let (e, link_id) = (e.clone(), link_id.clone());
        async move {
            edge!(
                e,
                who,
                revoke_payment_link(pb::RevokePaymentLinkRequest {
                    request_id: rid(),
                    payment_link_id: link_id,
                })
            )
        }
    };
    let stranger = sign_up_via(&tp, &e, someone("stranger"), Via::Identity).await;
    refused(
        &revoke(stranger.auth()).await.unwrap_err(),
        Code::PermissionDenied,
        "NOT_OWNER",
    );
    let revoked = revoke(b.personal.auth()).await?.payment_link.expect("link");
    assert_eq!(revoked.state, opb::PaymentLinkState::Revoked as i32);
    assert!(revoked.revoke_time.is_some());
    assert_eq!(
        revoke(b.personal.auth()).await?.payment_link.expect("link"),
        revoked
    );
    refused(
        &open_link(&e, &revocable.token).await.unwrap_err(),
        Code::FailedPrecondition,
        "PAYMENT_LINK_REVOKED",
    );

    // Expired after its minute.
    let brief = create(s.auth(), vec![third.order_id.clone()], Some(60), rid()).await?;
    open_link(&e, &brief.token).await?;
    tp.clock().advance(Duration::from_secs(61));
    refused(
        &open_link(&e, &brief.token).await.unwrap_err(),
        Code::FailedPrecondition,
        "PAYMENT_LINK_EXPIRED",
    );

    // Tokens that are not one, or are no link's; orders the caller has no part in.
    let malformed = open_link(&e, "kjpl_short").await.unwrap_err();
    assert_eq!(malformed.code(), Code::InvalidArgument, "{malformed:?}");
    let unknown = format!("kjpl_{}", "A".repeat(43));
    refused(
        &open_link(&e, &unknown).await.unwrap_err(),
        Code::NotFound,
        "PAYMENT_LINK_NOT_FOUND",
    );
    let theirs = create(stranger.auth(), vec![third.order_id.clone()], None, rid())
        .await
        .unwrap_err();
    assert!(
        matches!(theirs.code(), Code::NotFound | Code::PermissionDenied),
        "{theirs:?}"
    );
    let too_long = create(
        s.auth(),
        vec![third.order_id.clone()],
        Some(31 * 86_400),
        rid(),
    )
    .await
    .unwrap_err();
    assert_eq!(too_long.code(), Code::InvalidArgument, "{too_long:?}");
    tp.stop().await
}

/// Asks GetMe with `token` until every one of ten calls in a row answers `reason` (or OK when
/// `reason` is None), at most `secs` seconds.
async fn settles(e: &Edge, token: &str, reason: Option<&str>, secs: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let mut all = true;
        for _ in 0..10 {
            let r = edge!(e, Some(token.to_owned()), get_me(pb::GetMeRequest {}));
            all &= match (reason, &r) {
                (None, Ok(_)) => true,
                (Some(want), Err(s)) => crate::support::people::reason(s) == want,
                _ => false,
            };
        }
        if all {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "GetMe did not settle on {reason:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_signed_out_sessions_access_token_is_refused_within_a_poll() -> anyhow::Result<()> {
    // Two edges, each polling identity for revocations (every 500 ms in the tests).
    let tp = TestPlatform::start_replicated_with_options(
        2,
        &[],
        &[(
            "edge",
            &[
                "--onboarding-per-minute",
                "600",
                "--caller-rate",
                "1000",
                "--caller-burst",
                "1000",
            ],
        )],
    )
    .await?;
    let e = tp.edge();
    let p = sign_up_via(&tp, &e, someone("leaver"), Via::Identity).await;
    let other = login(&e, &p.member_name, crate::support::people::PASSWORD)
        .await?
        .tokens
        .expect("tokens");
    settles(&e, &p.token, None, 5).await;
    settles(&e, &other.access_token, None, 5).await;

    // Signing one session out ends its access token on every edge, not the other's.
    edge!(
        e,
        p.auth(),
        logout(pb::LogoutRequest {
            request_id: rid(),
            refresh_token: p.refresh_token.clone(),
            all_sessions: false,
        })
    )?;
    settles(&e, &p.token, Some("TOKEN_REVOKED"), 10).await;
    settles(&e, &other.access_token, None, 5).await;

    // A password change ends every session, that one's tokens too.
    edge!(
        e,
        Some(other.access_token.clone()),
        change_password(pb::ChangePasswordRequest {
            request_id: rid(),
            current_password: crate::support::people::PASSWORD.to_owned(),
            new_password: "Quiet-Lake-58".to_owned(),
        })
    )?;
    settles(&e, &other.access_token, Some("TOKEN_REVOKED"), 10).await;
    tp.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revoked_sessions_page_through_a_thousand_revoked_at_one_instant() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let e = tp.edge();
    let p = sign_up_via(&tp, &e, someone("manysessions"), Via::Identity).await;
    // 1,005 sessions ended by one password change share one revoke time.
    let at = tp.clock().now();
    {
        let mut conn = admin(&tp).await;
        sqlx::query(
            "INSERT INTO identity.sessions (session_id, account_id, roles, created_at, expires_at,
                 revoked_at, revoke_reason)
             SELECT gen_random_uuid(), $1::uuid, '{buyer}', $2, $2 + interval '1 day', $2,
                 'PASSWORD_CHANGED'
             FROM generate_series(1, 1005)",
        )
        .bind(&p.account_id)
        .bind(at)
        .execute(&mut conn)
        .await?;
    }
    let mut identity = crate::support::identity_as(&tp, "edge");
    let since = Some(kuajing_platform::time::to_proto(at));
    let first = identity
        .list_revoked_sessions(idp::ListRevokedSessionsRequest {
            revoked_since: since,
            after_session_id: String::new(),
        })
        .await?
        .into_inner();
    assert_eq!((first.revoked_sessions.len(), first.more), (1000, true));
    let last = first.revoked_sessions.last().expect("a row");
    let rest = identity
        .list_revoked_sessions(idp::ListRevokedSessionsRequest {
            revoked_since: last.revoke_time,
            after_session_id: last.session_id.clone(),
        })
        .await?
        .into_inner();
    assert!(!rest.more);
    let mut all: Vec<&str> = first
        .revoked_sessions
        .iter()
        .chain(&rest.revoked_sessions)
        .map(|s| s.session_id.as_str())
        .collect();
    all.sort_unstable();
    all.dedup();
    assert!(all.len() >= 1005, "every session once: {}", all.len());
    tp.stop().await
}
