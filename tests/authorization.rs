//! The authorization service over gRPC with the real identity, wallet and fx on a real
//! Postgres: mandates (create, activate with the code identity sent, revoke with the PIN,
//! expiry by the test clock), payment decisions (every denial reason, in contract order),
//! the daily limit under concurrency, reservations confirmed or released exactly once,
//! restricted categories, the decision log, and idempotency.

use std::collections::HashSet;
use std::time::Duration;

use kuajing_proto::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use kuajing_proto::authorization::v1::decide_payment_request::MandateSelector;
use kuajing_proto::authorization::v1::*;
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::types::{Money, PageRequest};
use kuajing_testkit::{As, Channel, TestPlatform};
use rust_decimal::Decimal;
use sqlx::Connection;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::support::Party as Buyer;
use crate::support::*;

type Authz = AuthorizationServiceClient<Channel>;

/// The seed's validity end: 2036-12-31 08:00 China time.
const SEED_END: i64 = 2_114_294_400;

fn at(seconds: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(seconds, 0).expect("time")
}

fn domain(s: &Status) -> String {
    s.get_details_error_info()
        .map(|i| i.domain)
        .unwrap_or_default()
}

fn authz_as(tp: &TestPlatform, caller: &str) -> Authz {
    AuthorizationServiceClient::new(tp.channel_as("authorization", As::Caller(caller.to_owned())))
}

/// Edge: mandates for their owners.
fn edge(tp: &TestPlatform) -> Authz {
    authz_as(tp, "edge")
}

/// Edge acting for `account_id` (`kj-subject` on every request that names nobody else).
fn edge_for(tp: &TestPlatform, account_id: &str) -> Authz {
    AuthorizationServiceClient::new(
        tp.channel_as("authorization", As::Caller("edge".to_owned()))
            .acting_for(account_id),
    )
}

/// Order: decisions and reservations.
fn order(tp: &TestPlatform) -> Authz {
    authz_as(tp, "order")
}

/// Operators, calling directly with an operator credential.
fn operators(tp: &TestPlatform) -> Authz {
    authz_as(tp, "operator")
}

/// A code that is not `code`.
fn wrong(code: &str) -> String {
    let last = code.as_bytes()[5];
    let flipped = if last == b'9' {
        '0'
    } else {
        char::from(last + 1)
    };
    format!("{}{flipped}", &code[..5])
}

/// A supplier; admitted to cross-border pay (TrustPass, enabled) when `enabled`.
async fn supplier(tp: &TestPlatform, ops: &str, enabled: bool) -> String {
    let name = unique("factory");
    let s = register(
        tp,
        idp::RegisterAccountRequest {
            account_type: idp::AccountType::Business as i32,
            role: idp::AccountRole::Supplier as i32,
            region_code: "CN".to_owned(),
            display_name: format!("{name} Trading Co."),
            email: format!("{name}@example.cn"),
            ..personal(&name)
        },
    )
    .await;
    if enabled {
        let mut req = idp::UpdateSupplierProfileRequest {
            request_id: rid(),
            supplier_profile: Some(idp::SupplierProfile {
                account_id: s.account_id.clone(),
                trustpass_active: true,
                cross_border_pay_enabled: true,
                ..Default::default()
            }),
            update_mask: None,
            reason: "signed the cross-border pay agreement".to_owned(),
        };
        let mut mask = req.update_mask.take().unwrap_or_default();
        mask.paths = vec![
            "trustpass_active".to_owned(),
            "cross_border_pay_enabled".to_owned(),
        ];
        req.update_mask = Some(mask);
        identity_as(tp, "operator")
            .update_supplier_profile(acting(ops, req))
            .await
            .expect("supplier profile");
    }
    s.account_id
}

fn member_of(id: &str) -> Option<idp::MarketplaceMember> {
    Some(idp::MarketplaceMember {
        marketplace: idp::Marketplace::Marketplace1688 as i32,
        external_member_id: id.to_owned(),
    })
}

fn create_req(b: &Buyer) -> CreateMandateRequest {
    CreateMandateRequest {
        request_id: rid(),
        wallet_id: b.wallet_id.clone(),
        owner_account_id: b.account_id.clone(),
        marketplace_member: member_of(&b.member),
        expire_time: None,
        funding_currency_code: String::new(),
        verification_channel: idp::VerificationChannel::Email as i32,
    }
}

async fn create(tp: &TestPlatform, req: CreateMandateRequest) -> CreateMandateResponse {
    let owner = req.owner_account_id.clone();
    edge(tp)
        .create_mandate(crate::support::acting(&owner, req))
        .await
        .expect("create mandate")
        .into_inner()
}

fn activate_req(mandate_id: &str, challenge_id: &str, code: &str) -> ActivateMandateRequest {
    ActivateMandateRequest {
        request_id: rid(),
        mandate_id: mandate_id.to_owned(),
        agreement_accepted: true,
        agreement_version: "kjb-2023-02".to_owned(),
        challenge_id: challenge_id.to_owned(),
        code: code.to_owned(),
    }
}

/// Creates a mandate for the buyer and activates it with the code from the outbox.
async fn active_mandate(tp: &TestPlatform, b: &Buyer) -> Mandate {
    let created = create(tp, create_req(b)).await;
    let mandate = created.mandate.expect("mandate");
    let challenge = created.challenge.expect("challenge");
    let code = code_in_outbox(tp, &challenge.challenge_id).await;
    let active = edge_for(tp, &b.account_id)
        .activate_mandate(activate_req(
            &mandate.mandate_id,
            &challenge.challenge_id,
            &code,
        ))
        .await
        .expect("activate")
        .into_inner()
        .mandate
        .expect("mandate");
    assert_eq!(active.state, MandateState::Active as i32);
    active
}

fn decide_req(mandate_id: &str, supplier: &str, amount: Option<Money>) -> DecidePaymentRequest {
    DecidePaymentRequest {
        request_id: rid(),
        mandate_selector: Some(MandateSelector::MandateId(mandate_id.to_owned())),
        payment_id: rid(),
        order_ids: vec![rid(), rid()],
        amount,
        supplier_account_id: supplier.to_owned(),
        category_codes: vec!["apparel.shirts".to_owned(), "toys".to_owned()],
        validate_only: false,
    }
}

async fn decide(tp: &TestPlatform, req: DecidePaymentRequest) -> Decision {
    order(tp)
        .decide_payment(req)
        .await
        .expect("a decision")
        .into_inner()
        .decision
        .expect("decision")
}

#[track_caller]
fn denied(d: &Decision, expected: &str) {
    assert_eq!(d.outcome, DecisionOutcome::Denied as i32, "{d:?}");
    assert_eq!(d.reason, expected, "{d:?}");
    assert!(d.reservation.is_none(), "{d:?}");
    assert!(!d.message.is_empty(), "{d:?}");
}

#[track_caller]
fn approved(d: &Decision) -> Reservation {
    assert_eq!(d.outcome, DecisionOutcome::Approved as i32, "{d:?}");
    assert_eq!(d.reason, "");
    let r = d.reservation.clone().expect("a reservation");
    assert_eq!(r.state, ReservationState::Reserved as i32);
    assert_eq!(r.decision_id, d.decision_id);
    r
}

async fn get(tp: &TestPlatform, mandate_id: &str) -> Mandate {
    order(tp)
        .get_mandate(GetMandateRequest {
            mandate_id: mandate_id.to_owned(),
        })
        .await
        .expect("get")
        .into_inner()
        .mandate
        .expect("mandate")
}

async fn limits(tp: &TestPlatform, mandate_id: &str) -> Limits {
    order(tp)
        .get_limits(GetLimitsRequest {
            mandate_id: mandate_id.to_owned(),
        })
        .await
        .expect("limits")
        .into_inner()
        .limits
        .expect("limits")
}

async fn release(tp: &TestPlatform, reservation_id: &str) -> Result<Reservation, Status> {
    order(tp)
        .release_reservation(ReleaseReservationRequest {
            request_id: rid(),
            reservation_id: reservation_id.to_owned(),
            reason: "hold failed: INSUFFICIENT_FUNDS".to_owned(),
        })
        .await
        .map(|r| r.into_inner().reservation.expect("reservation"))
}

async fn confirm(tp: &TestPlatform, reservation_id: &str) -> Result<Reservation, Status> {
    order(tp)
        .confirm_reservation(ConfirmReservationRequest {
            request_id: rid(),
            reservation_id: reservation_id.to_owned(),
        })
        .await
        .map(|r| r.into_inner().reservation.expect("reservation"))
}

async fn revoke(
    tp: &TestPlatform,
    owner: &str,
    mandate_id: &str,
    pin: &str,
) -> Result<Mandate, Status> {
    edge_for(tp, owner)
        .revoke_mandate(RevokeMandateRequest {
            request_id: rid(),
            mandate_id: mandate_id.to_owned(),
            payment_pin: pin.to_owned(),
            reason: "no longer buying on 1688".to_owned(),
        })
        .await
        .map(|r| r.into_inner().mandate.expect("mandate"))
}

#[tokio::test]
async fn a_mandate_is_created_pending_and_activated_with_the_code_identity_sent()
-> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let b = onboard(&tp, &ops).await;
    let other = onboard(&tp, &ops).await;
    let mut c = edge_for(&tp, &b.account_id);

    // Bad input: one violation per field, nothing written.
    let bad = CreateMandateRequest {
        request_id: "not-a-uuid".to_owned(),
        wallet_id: "w".to_owned(),
        owner_account_id: String::new(),
        marketplace_member: Some(idp::MarketplaceMember {
            marketplace: 0,
            external_member_id: "x".repeat(65),
        }),
        expire_time: Some(kuajing_platform::time::to_proto(
            tp.clock().now() - chrono::Duration::seconds(1),
        )),
        funding_currency_code: "XXX".to_owned(),
        verification_channel: 9,
    };
    let err = c.create_mandate(bad).await.expect_err("bad");
    refused(&err, Code::InvalidArgument, "VALIDATION_FAILED");
    assert_eq!(
        fields(&err),
        vec![
            "request_id",
            "wallet_id",
            "owner_account_id",
            "marketplace_member.marketplace",
            "marketplace_member.external_member_id",
            "expire_time",
            "funding_currency_code",
            "verification_channel",
        ]
    );
    let mut too_late = create_req(&b);
    too_late.expire_time = Some(kuajing_platform::time::to_proto(at(
        SEED_END + 86_400 * 365 * 30
    )));
    refused(
        &c.create_mandate(too_late).await.expect_err("beyond max"),
        Code::InvalidArgument,
        "VALIDATION_FAILED",
    );
    assert_eq!(
        count(&tp, "SELECT count(*) FROM authz.create_mandate_ids").await,
        0
    );

    // The wallet must be the owner's; the member bound and verified; the code sendable.
    let mut theirs = create_req(&b);
    theirs.wallet_id = other.wallet_id.clone();
    let err = c.create_mandate(theirs).await.expect_err("not b's wallet");
    refused(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    assert_eq!(
        err.get_details_resource_info().map(|r| r.resource_name),
        Some(other.wallet_id.clone())
    );
    let mut nowhere = create_req(&b);
    nowhere.wallet_id = rid();
    refused(
        &c.create_mandate(nowhere).await.expect_err("no wallet"),
        Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );
    let mut unbound = create_req(&b);
    unbound.marketplace_member = member_of("nobody-on-1688");
    refused(
        &c.create_mandate(unbound).await.expect_err("unbound"),
        Code::FailedPrecondition,
        "MARKETPLACE_ACCOUNT_NOT_VERIFIED",
    );
    let mut by_sms = create_req(&b);
    by_sms.verification_channel = 0; // SMS by default; the buyer has no mobile.
    let err = c.create_mandate(by_sms).await.expect_err("no mobile");
    refused(&err, Code::FailedPrecondition, "CONTACT_MISSING");
    assert_eq!(domain(&err), "identity.kuajing");
    refused(
        &c.create_mandate(acting(&other.account_id, create_req(&b)))
            .await
            .expect_err("someone else"),
        Code::PermissionDenied,
        "NOT_OWNER",
    );
    assert_eq!(count(&tp, "SELECT count(*) FROM authz.mandates").await, 0);

    // Created pending, with the seed's validity end, CNH funding, and a code sent.
    let req = create_req(&b);
    let created = c
        .create_mandate(acting(&b.account_id, req.clone()))
        .await?
        .into_inner();
    let mandate = created.mandate.clone().expect("mandate");
    let challenge = created.challenge.clone().expect("challenge");
    assert_eq!(mandate.state, MandateState::PendingVerification as i32);
    assert_eq!(mandate.owner_account_id, b.account_id);
    assert_eq!(mandate.payer_account_id, b.account_id);
    assert_eq!(mandate.linked_account_id, b.linked_account_id);
    assert_eq!(mandate.wallet_id, b.wallet_id);
    assert_eq!(mandate.funding_currency_code, "CNH");
    assert_eq!(
        mandate.expire_time.as_ref().map(|t| t.seconds),
        Some(SEED_END)
    );
    assert!(mandate.activate_time.is_none());
    assert_eq!(
        challenge.purpose,
        idp::VerificationPurpose::ActivateMandate as i32
    );
    assert_eq!(challenge.reference, mandate.mandate_id);
    assert_eq!(challenge.account_id, b.account_id);

    // A replay answers the same mandate and sends no second code.
    let again = c.create_mandate(req.clone()).await?.into_inner();
    assert_eq!(again, created);
    let sent = format!(
        "SELECT count(*) FROM identity.verification_challenges WHERE reference = '{}'",
        mandate.mandate_id
    );
    assert_eq!(count(&tp, &sent).await, 1);
    let mut reused = req.clone();
    reused.funding_currency_code = "USD".to_owned();
    refused(
        &c.create_mandate(reused).await.expect_err("reused"),
        Code::AlreadyExists,
        "IDEMPOTENCY_KEY_REUSED",
    );

    // Pending mandates cannot pay.
    let s = supplier(&tp, &ops, true).await;
    denied(
        &decide(&tp, decide_req(&mandate.mandate_id, &s, m("CNY", "100.00"))).await,
        "MANDATE_NOT_ACTIVE",
    );

    // Activation: the agreement, its current version, the right code.
    let code = code_in_outbox(&tp, &challenge.challenge_id).await;
    let mut not_accepted = activate_req(&mandate.mandate_id, &challenge.challenge_id, &code);
    not_accepted.agreement_accepted = false;
    not_accepted.code = "12345".to_owned();
    let err = c
        .activate_mandate(not_accepted)
        .await
        .expect_err("no agreement");
    refused(&err, Code::InvalidArgument, "AGREEMENT_NOT_ACCEPTED");
    assert_eq!(fields(&err), vec!["agreement_accepted", "code"]);
    let mut outdated = activate_req(&mandate.mandate_id, &challenge.challenge_id, &code);
    outdated.agreement_version = "kjb-2019-01".to_owned();
    let err = c.activate_mandate(outdated).await.expect_err("outdated");
    refused(&err, Code::FailedPrecondition, "AGREEMENT_VERSION_OUTDATED");
    assert_eq!(
        metadata(&err, "current_version").as_deref(),
        Some("kjb-2023-02")
    );
    let err = c
        .activate_mandate(activate_req(
            &mandate.mandate_id,
            &challenge.challenge_id,
            &wrong(&code),
        ))
        .await
        .expect_err("wrong code");
    refused(&err, Code::PermissionDenied, "CODE_INVALID");
    assert_eq!(domain(&err), "identity.kuajing");
    assert_eq!(metadata(&err, "attempts_remaining").as_deref(), Some("4"));
    refused(
        &c.activate_mandate(activate_req(&rid(), &challenge.challenge_id, &code))
            .await
            .expect_err("no mandate"),
        Code::NotFound,
        "MANDATE_NOT_FOUND",
    );
    refused(
        &c.activate_mandate(acting(
            &other.account_id,
            activate_req(&mandate.mandate_id, &challenge.challenge_id, &code),
        ))
        .await
        .expect_err("someone else"),
        Code::PermissionDenied,
        "NOT_OWNER",
    );
    assert_eq!(
        get(&tp, &mandate.mandate_id).await.state,
        MandateState::PendingVerification as i32
    );

    let before = tp.clock().now();
    let activate = activate_req(&mandate.mandate_id, &challenge.challenge_id, &code);
    let active = c
        .activate_mandate(activate.clone())
        .await?
        .into_inner()
        .mandate
        .expect("mandate");
    assert_eq!(active.state, MandateState::Active as i32);
    assert_eq!(active.agreement_version, "kjb-2023-02");
    let at = active.activate_time.expect("activate time");
    assert!(at.seconds >= before.timestamp() - 1);
    assert_eq!(active.agreement_accept_time, Some(at));
    // Replayed: the same answer (the consumed code is not presented again).
    let replayed = c.activate_mandate(activate).await?.into_inner();
    assert_eq!(replayed.mandate, Some(active.clone()));
    let err = c
        .activate_mandate(activate_req(
            &mandate.mandate_id,
            &challenge.challenge_id,
            &code,
        ))
        .await
        .expect_err("already active");
    refused(&err, Code::FailedPrecondition, "MANDATE_NOT_PENDING");
    assert_eq!(
        metadata(&err, "state").as_deref(),
        Some("MANDATE_STATE_ACTIVE")
    );
    assert!(err.get_details_precondition_failure().is_some());

    // One active mandate per member.
    let err = c
        .create_mandate(create_req(&b))
        .await
        .expect_err("already active");
    refused(&err, Code::AlreadyExists, "MANDATE_ALREADY_EXISTS");
    assert_eq!(
        metadata(&err, "mandate_id").as_deref(),
        Some(mandate.mandate_id.as_str())
    );

    // Get and list.
    assert_eq!(get(&tp, &mandate.mandate_id).await, active);
    refused(
        &c.get_mandate(acting(
            &other.account_id,
            GetMandateRequest {
                mandate_id: mandate.mandate_id.clone(),
            },
        ))
        .await
        .expect_err("someone else"),
        Code::PermissionDenied,
        "NOT_OWNER",
    );
    let as_operator = operators(&tp)
        .get_mandate(acting(
            &ops,
            GetMandateRequest {
                mandate_id: mandate.mandate_id.clone(),
            },
        ))
        .await?;
    assert_eq!(as_operator.into_inner().mandate, Some(active.clone()));
    refused(
        &c.get_mandate(GetMandateRequest { mandate_id: rid() })
            .await
            .expect_err("none"),
        Code::NotFound,
        "MANDATE_NOT_FOUND",
    );
    let other_mandate = create(&tp, create_req(&other)).await.mandate.expect("m");
    let list = |req: ListMandatesRequest| {
        let mut c = order(&tp);
        async move { c.list_mandates(req).await.map(|r| r.into_inner()) }
    };
    let mine = list(ListMandatesRequest {
        owner_account_id: b.account_id.clone(),
        ..Default::default()
    })
    .await?;
    assert_eq!(mine.mandates, vec![active.clone()]);
    let by_wallet = list(ListMandatesRequest {
        wallet_id: other.wallet_id.clone(),
        ..Default::default()
    })
    .await?;
    assert_eq!(by_wallet.mandates, vec![other_mandate.clone()]);
    let by_member = list(ListMandatesRequest {
        marketplace_member: member_of(&b.member),
        state: MandateState::Active as i32,
        ..Default::default()
    })
    .await?;
    assert_eq!(by_member.mandates.len(), 1);
    let pending_of_b = list(ListMandatesRequest {
        owner_account_id: b.account_id.clone(),
        state: MandateState::PendingVerification as i32,
        ..Default::default()
    })
    .await?;
    assert!(pending_of_b.mandates.is_empty());
    let err = list(ListMandatesRequest::default())
        .await
        .expect_err("no filter");
    refused(&err, Code::InvalidArgument, "VALIDATION_FAILED");
    let err = c
        .list_mandates(acting(
            &b.account_id,
            ListMandatesRequest {
                owner_account_id: other.account_id.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("someone else's");
    refused(&err, Code::PermissionDenied, "NOT_OWNER");
    // A person listing by wallet sees only their own mandates.
    let own_only = c
        .list_mandates(acting(
            &b.account_id,
            ListMandatesRequest {
                wallet_id: other.wallet_id.clone(),
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    assert!(own_only.mandates.is_empty());
    let everything = operators(&tp)
        .list_mandates(acting(
            &ops,
            ListMandatesRequest {
                page: Some(PageRequest {
                    page_size: 1,
                    page_token: String::new(),
                }),
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    assert_eq!(everything.mandates, vec![other_mandate]);
    let rest = operators(&tp)
        .list_mandates(acting(
            &ops,
            ListMandatesRequest {
                page: Some(PageRequest {
                    page_size: 1,
                    page_token: everything.page.expect("page").next_page_token,
                }),
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    assert_eq!(rest.mandates, vec![active]);
    assert!(rest.page.expect("page").next_page_token.is_empty());

    tp.stop().await
}

/// Today's limit day in China time (the default limit zone), as the service reports it.
fn china_today(tp: &TestPlatform) -> String {
    (tp.clock().now() + chrono::Duration::hours(8))
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}

fn by_member(member: &str, supplier: &str, amount: Option<Money>) -> DecidePaymentRequest {
    DecidePaymentRequest {
        mandate_selector: Some(MandateSelector::MarketplaceMember(
            member_of(member).expect("member"),
        )),
        ..decide_req("", supplier, amount)
    }
}

#[tokio::test]
async fn decisions_deny_with_every_reason_in_contract_order_and_approve_with_a_reservation()
-> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let b = onboard(&tp, &ops).await;
    let s = supplier(&tp, &ops, true).await;
    let not_trustpass = supplier(&tp, &ops, false).await;
    let mandate = active_mandate(&tp, &b).await;
    let id = mandate.mandate_id.as_str();
    let mut c = order(&tp);
    let recorded = "SELECT count(*) FROM authz.decisions";

    // Bad input: every field, nothing recorded.
    let mut bad = decide_req(id, "nope", m("CNY", "0"));
    bad.mandate_selector = None;
    bad.payment_id = String::new();
    bad.order_ids = (0..51).map(|_| rid()).collect();
    bad.category_codes = vec!["Plant Seeds".to_owned()];
    let err = c.decide_payment(bad).await.expect_err("bad");
    refused(&err, Code::InvalidArgument, "VALIDATION_FAILED");
    assert_eq!(
        fields(&err),
        vec![
            "mandate_selector",
            "payment_id",
            "order_ids",
            "amount.amount",
            "supplier_account_id",
            "category_codes[0]"
        ]
    );
    let mut many = decide_req(id, &s, m("CNY", "1.001"));
    many.order_ids = vec!["x".to_owned()];
    many.category_codes = (0..101).map(|i| format!("c{i}")).collect();
    many.request_id = String::new();
    let err = c.decide_payment(many).await.expect_err("bad");
    assert_eq!(
        fields(&err),
        vec![
            "request_id",
            "order_ids[0]",
            "amount.amount",
            "category_codes"
        ]
    );
    assert_eq!(count(&tp, recorded).await, 0);

    // 1. No such mandate, by id or by a member that never had one: recorded denials.
    let d = decide(&tp, decide_req(&rid(), &s, m("CNY", "100.00"))).await;
    denied(&d, "MANDATE_NOT_FOUND");
    assert!(d.mandate_id.is_empty());
    assert!(!d.decision_id.is_empty());
    assert!(d.usd_amount.is_none());
    let d = decide(&tp, by_member("never-authorised", &s, m("CNY", "100.00"))).await;
    denied(&d, "MANDATE_NOT_FOUND");
    assert_eq!(d.marketplace_member, member_of("never-authorised"));

    // 6. The supplier must be admitted to cross-border pay (checked before the goods).
    let mut both = decide_req(id, &not_trustpass, m("CNY", "100.00"));
    both.category_codes = vec!["harpoons".to_owned()];
    let d = decide(&tp, both).await;
    denied(&d, "SUPPLIER_NOT_ENABLED");
    assert_eq!(d.message, "您还不是诚信通商家,暂时无法开通跨境宝.");
    assert_eq!(
        d.details.get("failed_rules").map(String::as_str),
        Some("NOT_TRUSTPASS,CROSS_BORDER_PAY_NOT_ENABLED")
    );
    assert!(d.usd_amount.is_none() && d.usd_rate.is_empty());
    denied(
        &decide(&tp, decide_req(id, &rid(), m("CNY", "100.00"))).await,
        "SUPPLIER_NOT_ENABLED",
    );

    // 7. Restricted goods, children included.
    let mut seeds = decide_req(id, &s, m("CNY", "100.00"));
    seeds.category_codes = vec!["toys".to_owned(), "plant_seeds.vegetable".to_owned()];
    let d = decide(&tp, seeds).await;
    denied(&d, "CATEGORY_RESTRICTED");
    assert_eq!(
        d.details.get("category_code").map(String::as_str),
        Some("plant_seeds.vegetable")
    );
    let mut lookalike = decide_req(id, &s, m("CNY", "100.00"));
    lookalike.category_codes = vec!["plant_seedsx".to_owned(), "garden.plant_seeds".to_owned()];
    let lookalike = approved(&decide(&tp, lookalike).await);

    // Approved in CNY: the USD equivalent from fx is reserved on today's limit.
    let req = decide_req(id, &s, m("CNY", "7115.00"));
    let d = decide(&tp, req.clone()).await;
    let r = approved(&d);
    assert_eq!(d.usd_amount, m("USD", "1000.00"));
    assert!(d.usd_rate.starts_with("0.1405"), "{}", d.usd_rate);
    assert!(d.usd_rate_time.is_some());
    assert_eq!(d.mandate_id, id);
    assert_eq!(d.marketplace_member, member_of(&b.member));
    assert_eq!(d.order_ids, req.order_ids);
    assert_eq!(d.payment_id, req.payment_id);
    assert_eq!(d.category_codes, req.category_codes);
    assert_eq!(d.caller_service, "order");
    assert_eq!(d.subject_account_id, "");
    assert_eq!(r.amount, m("CNY", "7115.00"));
    assert_eq!(r.usd_amount, m("USD", "1000.00"));
    assert_eq!(r.mandate_id, id);
    assert_eq!(r.payment_id, req.payment_id);
    assert_eq!(r.limit_date, china_today(&tp));
    // A replay answers the same decision and reserves nothing more.
    let replay = decide(&tp, req.clone()).await;
    assert_eq!(replay, d);
    let mut reused = req.clone();
    reused.amount = m("CNY", "7116.00");
    refused(
        &c.decide_payment(reused).await.expect_err("reused"),
        Code::AlreadyExists,
        "IDEMPOTENCY_KEY_REUSED",
    );
    let l = limits(&tp, id).await;
    assert_eq!(
        amount(&l.reserved_amount),
        dec("1000.00") + amount(&lookalike.usd_amount)
    );
    assert_eq!(l.limit_date, r.limit_date);

    // 8. Per transaction: equal is allowed, a cent more is not.
    let d = decide(&tp, decide_req(id, &s, m("USD", "10000000.01"))).await;
    denied(&d, "LIMIT_PER_TRANSACTION");
    assert_eq!(
        d.details.get("limit").map(String::as_str),
        Some("10000000.00")
    );
    assert_eq!(d.usd_amount, m("USD", "10000000.01"));
    // Through fx (USD/CNY 7.115): CNY 71,150,000.01 is USD 10,000,000.0014, over the
    // limit although it rounds to it: the limit judges the unrounded equivalent.
    denied(
        &decide(&tp, decide_req(id, &s, m("CNY", "71150000.01"))).await,
        "LIMIT_PER_TRANSACTION",
    );
    approved(&decide(&tp, decide_req(id, &s, m("USD", "10000000.00"))).await);

    // 9. Per day: fill the day to exactly USD 100,000,000, then a cent is refused.
    // Used so far: 1000.00 (CNY 7115) + 100 CNY (lookalike) + 10,000,000.
    let used = amount(&limits(&tp, id).await.reserved_amount);
    for _ in 0..8 {
        approved(&decide(&tp, decide_req(id, &s, m("USD", "10000000.00"))).await);
    }
    let rest = dec("100000000") - used - dec("80000000");
    approved(&decide(&tp, decide_req(id, &s, m("USD", &rest.to_string()))).await);
    let l = limits(&tp, id).await;
    assert_eq!(l.reserved_amount, m("USD", "100000000.00"));
    assert_eq!(l.remaining_amount, m("USD", "0.00"));
    let d = decide(&tp, decide_req(id, &s, m("USD", "0.01"))).await;
    denied(&d, "LIMIT_PER_DAY");
    assert_eq!(d.details.get("remaining").map(String::as_str), Some("0.00"));
    assert_eq!(
        d.details.get("limit").map(String::as_str),
        Some("100000000.00")
    );
    assert_eq!(d.usd_amount, m("USD", "0.01"));

    // validate_only: the same checks, nothing recorded or reserved.
    let before = count(&tp, recorded).await;
    let mut check = decide_req(id, &s, m("USD", "0.01"));
    check.validate_only = true;
    check.request_id = String::new();
    let d = decide(&tp, check.clone()).await;
    denied(&d, "LIMIT_PER_DAY");
    assert!(d.decision_id.is_empty());
    check.category_codes = vec!["gambling".to_owned()];
    denied(&decide(&tp, check).await, "CATEGORY_RESTRICTED");
    assert_eq!(count(&tp, recorded).await, before);

    // By marketplace member: its active mandate decides.
    let d = decide(&tp, by_member(&b.member, &s, m("USD", "0.01"))).await;
    denied(&d, "LIMIT_PER_DAY");
    assert_eq!(d.mandate_id, id);

    // The decision log: every recorded decision, newest first, per mandate or payment.
    let mut e = edge_for(&tp, &b.account_id);
    let all = e
        .list_decisions(acting(
            &b.account_id,
            ListDecisionsRequest {
                mandate_id: id.to_owned(),
                ..Default::default()
            },
        ))
        .await?
        .into_inner()
        .decisions;
    let on_mandate = format!("SELECT count(*) FROM authz.decisions WHERE mandate_id = '{id}'");
    assert_eq!(all.len() as i64, count(&tp, &on_mandate).await);
    assert!(
        all.windows(2)
            .all(|w| w[0].create_time.as_ref().map(|t| (t.seconds, t.nanos))
                >= w[1].create_time.as_ref().map(|t| (t.seconds, t.nanos)))
    );
    assert!(all.iter().all(|d| d.caller_service == "order"));
    let approvals = e
        .list_decisions(ListDecisionsRequest {
            mandate_id: id.to_owned(),
            outcome: DecisionOutcome::Approved as i32,
            page: Some(PageRequest {
                page_size: 3,
                page_token: String::new(),
            }),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(approvals.decisions.len(), 3);
    assert!(approvals.decisions.iter().all(|d| d.reservation.is_some()));
    assert!(!approvals.page.expect("page").next_page_token.is_empty());
    let for_payment = order(&tp)
        .list_decisions(ListDecisionsRequest {
            payment_id: req.payment_id.clone(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .decisions;
    assert_eq!(for_payment, vec![replay]);
    refused(
        &e.list_decisions(ListDecisionsRequest::default())
            .await
            .expect_err("no filter"),
        Code::InvalidArgument,
        "VALIDATION_FAILED",
    );
    refused(
        &e.list_decisions(ListDecisionsRequest {
            mandate_id: rid(),
            ..Default::default()
        })
        .await
        .expect_err("no mandate"),
        Code::NotFound,
        "MANDATE_NOT_FOUND",
    );
    refused(
        &e.list_decisions(acting(
            &rid(),
            ListDecisionsRequest {
                mandate_id: id.to_owned(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("not the owner"),
        Code::PermissionDenied,
        "NOT_OWNER",
    );

    tp.stop().await
}

#[tokio::test]
async fn revoking_needs_the_payment_pin_and_every_later_decision_is_denied() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let b = onboard(&tp, &ops).await;
    let s = supplier(&tp, &ops, true).await;
    let mandate = active_mandate(&tp, &b).await;
    let id = mandate.mandate_id.as_str();
    let in_flight = approved(&decide(&tp, decide_req(id, &s, m("USD", "500.00"))).await);

    // A wrong PIN is identity's refusal; the mandate stays active.
    let err = revoke(&tp, &b.account_id, id, "000000")
        .await
        .expect_err("wrong pin");
    refused(&err, Code::PermissionDenied, "PIN_INVALID");
    assert_eq!(domain(&err), "identity.kuajing");
    assert_eq!(metadata(&err, "attempts_remaining").as_deref(), Some("4"));
    assert_eq!(get(&tp, id).await.state, MandateState::Active as i32);
    let err = revoke(&tp, &b.account_id, id, "12ab56")
        .await
        .expect_err("not digits");
    refused(&err, Code::InvalidArgument, "VALIDATION_FAILED");
    assert_eq!(fields(&err), vec!["payment_pin"]);
    refused(
        &revoke(&tp, &b.account_id, &rid(), PIN)
            .await
            .expect_err("none"),
        Code::NotFound,
        "MANDATE_NOT_FOUND",
    );
    refused(
        &edge_for(&tp, &b.account_id)
            .revoke_mandate(acting(
                &rid(),
                RevokeMandateRequest {
                    request_id: rid(),
                    mandate_id: id.to_owned(),
                    payment_pin: PIN.to_owned(),
                    reason: String::new(),
                },
            ))
            .await
            .expect_err("not the owner"),
        Code::PermissionDenied,
        "NOT_OWNER",
    );

    // Revoked with the PIN; replayed without a second PIN check.
    let req = RevokeMandateRequest {
        request_id: rid(),
        mandate_id: id.to_owned(),
        payment_pin: PIN.to_owned(),
        reason: "no longer buying on 1688".to_owned(),
    };
    let revoked = edge_for(&tp, &b.account_id)
        .revoke_mandate(acting(&b.account_id, req.clone()))
        .await?
        .into_inner()
        .mandate
        .expect("mandate");
    assert_eq!(revoked.state, MandateState::Revoked as i32);
    assert_eq!(revoked.revoke_reason, "no longer buying on 1688");
    assert!(revoked.revoke_time.is_some());
    assert_eq!(revoked.update_time, revoked.revoke_time);
    let mut replay = req.clone();
    replay.payment_pin = "999999".to_owned(); // never stored: not part of the request's identity
    let again = edge_for(&tp, &b.account_id)
        .revoke_mandate(replay)
        .await?
        .into_inner();
    assert_eq!(again.mandate, Some(revoked.clone()));
    let mut reused = req.clone();
    reused.reason = "changed my mind".to_owned();
    refused(
        &edge_for(&tp, &b.account_id)
            .revoke_mandate(reused)
            .await
            .expect_err("reused"),
        Code::AlreadyExists,
        "IDEMPOTENCY_KEY_REUSED",
    );
    let err = revoke(&tp, &b.account_id, id, PIN)
        .await
        .expect_err("already");
    refused(&err, Code::FailedPrecondition, "MANDATE_REVOKED");
    assert!(err.get_details_precondition_failure().is_some());
    assert_eq!(get(&tp, id).await, revoked);

    // Every later decision is denied, by id or by member.
    denied(
        &decide(&tp, decide_req(id, &s, m("USD", "1.00"))).await,
        "MANDATE_REVOKED",
    );
    let d = decide(&tp, by_member(&b.member, &s, m("CNY", "1.00"))).await;
    denied(&d, "MANDATE_REVOKED");
    assert_eq!(d.mandate_id, id);

    // A payment approved before the revocation still finishes.
    let done = confirm(&tp, &in_flight.reservation_id).await?;
    assert_eq!(done.state, ReservationState::Confirmed as i32);
    assert_eq!(limits(&tp, id).await.confirmed_amount, m("USD", "500.00"));

    // The member may be authorised again; until activated its latest mandate is judged.
    let fresh = create(&tp, create_req(&b)).await.mandate.expect("mandate");
    let d = decide(&tp, by_member(&b.member, &s, m("USD", "1.00"))).await;
    denied(&d, "MANDATE_NOT_ACTIVE");
    assert_eq!(d.mandate_id, fresh.mandate_id);
    // A pending mandate can be revoked too.
    let gone = revoke(&tp, &b.account_id, &fresh.mandate_id, PIN).await?;
    assert_eq!(gone.state, MandateState::Revoked as i32);

    tp.stop().await
}

#[tokio::test]
async fn a_marketplace_account_unbound_in_identity_can_no_longer_pay() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let b = onboard(&tp, &ops).await;
    let s = supplier(&tp, &ops, true).await;

    // Two pending mandates for one member; the first activated wins.
    let first = create(&tp, create_req(&b)).await;
    let second = create(&tp, create_req(&b)).await;
    let (m1, c1) = (first.mandate.expect("m"), first.challenge.expect("c"));
    let (m2, c2) = (second.mandate.expect("m"), second.challenge.expect("c"));
    let code1 = code_in_outbox(&tp, &c1.challenge_id).await;
    let code2 = code_in_outbox(&tp, &c2.challenge_id).await;
    edge_for(&tp, &b.account_id)
        .activate_mandate(activate_req(&m2.mandate_id, &c2.challenge_id, &code2))
        .await?;
    let err = edge_for(&tp, &b.account_id)
        .activate_mandate(activate_req(&m1.mandate_id, &c1.challenge_id, &code1))
        .await
        .expect_err("another is active");
    refused(&err, Code::AlreadyExists, "MANDATE_ALREADY_EXISTS");
    approved(&decide(&tp, decide_req(&m2.mandate_id, &s, m("USD", "10.00"))).await);

    // Unbound in identity: the mandate's binding is gone.
    tp.identity()
        .unbind_marketplace_account(acting(
            &b.account_id,
            idp::UnbindMarketplaceAccountRequest {
                request_id: rid(),
                linked_account_id: b.linked_account_id.clone(),
                reason: "sold the 1688 account".to_owned(),
            },
        ))
        .await?;
    let d = decide(&tp, decide_req(&m2.mandate_id, &s, m("USD", "10.00"))).await;
    denied(&d, "MARKETPLACE_ACCOUNT_NOT_VERIFIED");
    assert!(d.usd_amount.is_none());
    // Bound again, it is a new binding: the old mandate still cannot pay.
    tp.identity()
        .bind_marketplace_account(acting(
            &b.account_id,
            idp::BindMarketplaceAccountRequest {
                request_id: rid(),
                account_id: b.account_id.clone(),
                marketplace: idp::Marketplace::Marketplace1688 as i32,
                external_member_id: b.member.clone(),
                external_account_type: idp::AccountType::Personal as i32,
                member_proof: tp.reach().member_proof(&b.member, &b.account_id)?,
            },
        ))
        .await?;
    denied(
        &decide(&tp, by_member(&b.member, &s, m("USD", "10.00"))).await,
        "MARKETPLACE_ACCOUNT_NOT_VERIFIED",
    );
    // Nor can the pending one made for the old binding be activated.
    revoke(&tp, &b.account_id, &m2.mandate_id, PIN).await?;
    let err = edge_for(&tp, &b.account_id)
        .activate_mandate(activate_req(&m1.mandate_id, &c1.challenge_id, &code1))
        .await
        .expect_err("binding changed");
    refused(
        &err,
        Code::FailedPrecondition,
        "MARKETPLACE_ACCOUNT_NOT_VERIFIED",
    );
    // A mandate for the new binding pays again.
    let renewed = active_mandate(&tp, &b).await;
    approved(&decide(&tp, decide_req(&renewed.mandate_id, &s, m("USD", "10.00"))).await);

    tp.stop().await
}

#[tokio::test]
async fn a_mandate_expires_by_the_test_clock() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let b = onboard(&tp, &ops).await;
    let s = supplier(&tp, &ops, true).await;
    let hour = chrono::Duration::hours(1);

    let mut req = create_req(&b);
    let end = tp.clock().now() + hour * 2;
    req.expire_time = Some(kuajing_platform::time::to_proto(end));
    let created = create(&tp, req).await;
    let (short, ch) = (created.mandate.expect("m"), created.challenge.expect("c"));
    let code = code_in_outbox(&tp, &ch.challenge_id).await;
    edge_for(&tp, &b.account_id)
        .activate_mandate(activate_req(&short.mandate_id, &ch.challenge_id, &code))
        .await?;
    let id = short.mandate_id.as_str();
    let in_flight = approved(&decide(&tp, decide_req(id, &s, m("USD", "100.00"))).await);
    let mut list_expired = ListMandatesRequest {
        owner_account_id: b.account_id.clone(),
        state: MandateState::Expired as i32,
        ..Default::default()
    };
    assert!(
        edge_for(&tp, &b.account_id)
            .list_mandates(list_expired.clone())
            .await?
            .into_inner()
            .mandates
            .is_empty()
    );

    // Three hours later it reads EXPIRED, whether or not a sweep stored it.
    tp.clock().advance(Duration::from_secs(3 * 3600));
    let expired = get(&tp, id).await;
    assert_eq!(expired.state, MandateState::Expired as i32);
    assert_eq!(
        expired.update_time.map(|t| t.seconds),
        Some(end.timestamp())
    );
    denied(
        &decide(&tp, decide_req(id, &s, m("USD", "1.00"))).await,
        "MANDATE_EXPIRED",
    );
    denied(
        &decide(&tp, by_member(&b.member, &s, m("USD", "1.00"))).await,
        "MANDATE_EXPIRED",
    );
    refused(
        &revoke(&tp, &b.account_id, id, PIN)
            .await
            .expect_err("expired"),
        Code::FailedPrecondition,
        "MANDATE_EXPIRED",
    );
    let listed = edge_for(&tp, &b.account_id)
        .list_mandates(list_expired.clone())
        .await?
        .into_inner()
        .mandates;
    assert_eq!(listed, vec![expired]);
    list_expired.state = MandateState::Active as i32;
    assert!(
        edge_for(&tp, &b.account_id)
            .list_mandates(list_expired)
            .await?
            .into_inner()
            .mandates
            .is_empty()
    );
    // Its payment in flight still ends cleanly.
    let released = release(&tp, &in_flight.reservation_id).await?;
    assert_eq!(released.state, ReservationState::Released as i32);

    // A pending mandate past its end cannot be activated.
    let mut req = create_req(&b);
    req.expire_time = Some(kuajing_platform::time::to_proto(tp.clock().now() + hour));
    let created = create(&tp, req).await;
    let (pending, ch) = (created.mandate.expect("m"), created.challenge.expect("c"));
    let code = code_in_outbox(&tp, &ch.challenge_id).await;
    tp.clock().advance(Duration::from_secs(2 * 3600));
    assert_eq!(
        get(&tp, &pending.mandate_id).await.state,
        MandateState::Expired as i32
    );
    let err = edge_for(&tp, &b.account_id)
        .activate_mandate(activate_req(&pending.mandate_id, &ch.challenge_id, &code))
        .await
        .expect_err("expired");
    refused(&err, Code::FailedPrecondition, "MANDATE_EXPIRED");

    // The member is authorised again (the expired active mandate does not block it).
    let renewed = active_mandate(&tp, &b).await;
    approved(&decide(&tp, decide_req(&renewed.mandate_id, &s, m("CNY", "50.00"))).await);
    assert_eq!(get(&tp, id).await.state, MandateState::Expired as i32);

    // A day later fx's rates are stale: no USD equivalent, nothing recorded. USD needs none.
    tp.clock().advance(Duration::from_secs(25 * 3600));
    let before = count(&tp, "SELECT count(*) FROM authz.decisions").await;
    let err = order(&tp)
        .decide_payment(decide_req(&renewed.mandate_id, &s, m("CNY", "50.00")))
        .await
        .expect_err("stale rates");
    refused(&err, Code::Unavailable, "FX_UNAVAILABLE");
    assert_eq!(
        count(&tp, "SELECT count(*) FROM authz.decisions").await,
        before
    );
    let d = decide(&tp, decide_req(&renewed.mandate_id, &s, m("USD", "50.00"))).await;
    let r = approved(&d);
    assert_eq!(d.usd_rate, "1");
    // A new limit day: yesterday's use does not count.
    assert_eq!(r.limit_date, china_today(&tp));
    assert_eq!(
        limits(&tp, &renewed.mandate_id).await.reserved_amount,
        m("USD", "50.00")
    );

    // Validity ends are checked at creation.
    let mut past = create_req(&b);
    past.expire_time = Some(kuajing_platform::time::to_proto(tp.clock().now() - hour));
    let err = edge_for(&tp, &b.account_id)
        .create_mandate(past)
        .await
        .expect_err("past");
    assert_eq!(fields(&err), vec!["expire_time"]);

    tp.stop().await
}

#[tokio::test]
async fn concurrent_decisions_on_one_mandate_never_reserve_past_the_daily_limit()
-> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let b = onboard(&tp, &ops).await;
    let s = supplier(&tp, &ops, true).await;
    let mandate = active_mandate(&tp, &b).await;
    let id = mandate.mandate_id.clone();

    // 24 payments of USD 5,000,000 at once: only 20 fit in USD 100,000,000.
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let mut c = order(&tp);
        let req = decide_req(&id, &s, m("USD", "5000000.00"));
        tasks.push(tokio::spawn(async move {
            c.decide_payment(req)
                .await
                .map(|r| r.into_inner().decision.expect("decision"))
        }));
    }
    let mut decisions = Vec::new();
    for t in tasks {
        decisions.push(t.await??);
    }
    let approvals: Vec<&Decision> = decisions
        .iter()
        .filter(|d| d.outcome == DecisionOutcome::Approved as i32)
        .collect();
    assert_eq!(approvals.len(), 20);
    for d in decisions
        .iter()
        .filter(|d| d.outcome != DecisionOutcome::Approved as i32)
    {
        denied(d, "LIMIT_PER_DAY");
    }
    let reserved: Decimal = approvals
        .iter()
        .map(|d| amount(&d.reservation.as_ref().expect("r").usd_amount))
        .sum();
    assert_eq!(reserved, dec("100000000"));
    let l = limits(&tp, &id).await;
    assert_eq!(l.reserved_amount, m("USD", "100000000.00"));
    assert_eq!(l.remaining_amount, m("USD", "0.00"));
    // The day's counter equals the sum of its reservations.
    let mut conn = admin(&tp).await;
    let (counter, sum): (Decimal, Decimal) = sqlx::query_as(
        "SELECT (SELECT d.reserved_usd FROM authz.wallet_limit_days d
                 JOIN authz.mandates m USING (wallet_id) WHERE m.mandate_id = $1::uuid),
                (SELECT sum(usd_amount) FROM authz.reservations WHERE mandate_id = $1::uuid AND state = 1)",
    )
    .bind(&id)
    .fetch_one(&mut conn)
    .await?;
    conn.close().await.ok();
    assert_eq!((counter, sum), (dec("100000000"), dec("100000000")));

    tp.stop().await
}

#[tokio::test]
async fn a_buyer_registered_in_mainland_china_cannot_authorise_cross_border_pay()
-> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let name = unique("shanghai");
    let account = register(
        &tp,
        idp::RegisterAccountRequest {
            request_id: rid(),
            member_name: name.clone(),
            account_type: idp::AccountType::Business as i32,
            role: idp::AccountRole::Buyer as i32,
            region_code: "CN".to_owned(),
            display_name: "Shanghai Importers".to_owned(),
            email: format!("{name}@example.cn"),
            mobile: String::new(),
            password: kuajing::parties::PASSWORD.to_owned(),
        },
    )
    .await;
    let wallet_id = open_wallet(&tp, &account.account_id).await;
    let err = edge_for(&tp, &account.account_id)
        .create_mandate(CreateMandateRequest {
            request_id: rid(),
            wallet_id,
            owner_account_id: account.account_id.clone(),
            marketplace_member: member_of(&unique("member")),
            expire_time: None,
            funding_currency_code: String::new(),
            verification_channel: idp::VerificationChannel::Email as i32,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(reason(&err), "BUYER_REGION_NOT_ELIGIBLE");
    assert_eq!(
        metadata(&err, "region_code").as_deref(),
        Some("CN"),
        "{err:?}"
    );
    tp.stop().await
}

#[tokio::test]
async fn the_daily_limit_is_the_buyers_across_every_mandate_on_its_wallet() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let b = onboard(&tp, &ops).await;
    let s = supplier(&tp, &ops, true).await;
    let first = active_mandate(&tp, &b).await;
    // A second marketplace account of the same buyer, authorised on the same wallet.
    let second_member = unique("buyer-two");
    identity_as(&tp, "edge")
        .bind_marketplace_account(acting(
            &b.account_id,
            idp::BindMarketplaceAccountRequest {
                request_id: rid(),
                account_id: b.account_id.clone(),
                marketplace: idp::Marketplace::Marketplace1688 as i32,
                external_member_id: second_member.clone(),
                external_account_type: idp::AccountType::Personal as i32,
                member_proof: tp.reach().member_proof(&second_member, &b.account_id)?,
            },
        ))
        .await?;
    let second = active_mandate(
        &tp,
        &Buyer {
            member: second_member,
            ..b.clone()
        },
    )
    .await;
    assert_ne!(first.mandate_id, second.mandate_id);
    assert_eq!(first.wallet_id, second.wallet_id);

    // USD 60,000,000 through the first and 40,000,000 through the second fill the day; the
    // next cent is refused through either (kept per mandate, the second had its own 100M).
    let pay = |mandate: &str, usd: &str| decide_req(mandate, &s, m("USD", usd));
    for _ in 0..6 {
        approved(&decide(&tp, pay(&first.mandate_id, "10000000.00")).await);
    }
    let after_first = limits(&tp, &second.mandate_id).await;
    assert_eq!(after_first.remaining_amount, m("USD", "40000000.00"));
    for _ in 0..4 {
        approved(&decide(&tp, pay(&second.mandate_id, "10000000.00")).await);
    }
    for mandate in [&first, &second] {
        let l = limits(&tp, &mandate.mandate_id).await;
        assert_eq!(l.reserved_amount, m("USD", "100000000.00"));
        assert_eq!(l.remaining_amount, m("USD", "0.00"));
        denied(
            &decide(&tp, pay(&mandate.mandate_id, "0.01")).await,
            "LIMIT_PER_DAY",
        );
    }
    tp.stop().await
}

#[tokio::test]
async fn a_released_reservation_gives_the_limit_back_exactly_once() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let b = onboard(&tp, &ops).await;
    let s = supplier(&tp, &ops, true).await;
    let mandate = active_mandate(&tp, &b).await;
    let id = mandate.mandate_id.as_str();

    // Limits without a mandate: the configuration and the day in China time.
    let plain = order(&tp)
        .get_limits(GetLimitsRequest::default())
        .await?
        .into_inner()
        .limits
        .expect("limits");
    assert_eq!(plain.per_transaction_limit, m("USD", "10000000.00"));
    assert_eq!(plain.per_day_limit, m("USD", "100000000.00"));
    assert_eq!(plain.time_zone, "Asia/Shanghai");
    assert_eq!(plain.limit_date, china_today(&tp));
    let (start, end) = (
        plain.day_start_time.expect("start").seconds,
        plain.day_end_time.expect("end").seconds,
    );
    assert_eq!(end - start, 86_400);
    assert_eq!(start.rem_euclid(86_400), 16 * 3600, "midnight in Shanghai");
    assert!(plain.reserved_amount.is_none() && plain.remaining_amount.is_none());
    refused(
        &order(&tp)
            .get_limits(GetLimitsRequest { mandate_id: rid() })
            .await
            .expect_err("none"),
        Code::NotFound,
        "MANDATE_NOT_FOUND",
    );

    let a = approved(&decide(&tp, decide_req(id, &s, m("USD", "4000000.00"))).await);
    let bb = approved(&decide(&tp, decide_req(id, &s, m("USD", "3000000.00"))).await);
    approved(&decide(&tp, decide_req(id, &s, m("USD", "2000000.00"))).await);
    let l = limits(&tp, id).await;
    assert_eq!(l.reserved_amount, m("USD", "9000000.00"));
    assert_eq!(l.remaining_amount, m("USD", "91000000.00"));

    // Eight concurrent releases of one reservation give its amount back once.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut c = order(&tp);
        let req = ReleaseReservationRequest {
            request_id: rid(),
            reservation_id: a.reservation_id.clone(),
            reason: "hold failed: INSUFFICIENT_FUNDS".to_owned(),
        };
        tasks.push(tokio::spawn(async move {
            c.release_reservation(req)
                .await
                .map(|r| r.into_inner().reservation.expect("r"))
        }));
    }
    let mut released = Vec::new();
    for t in tasks {
        released.push(t.await??);
    }
    assert!(released.iter().all(|r| r == &released[0]));
    assert_eq!(released[0].state, ReservationState::Released as i32);
    assert_eq!(
        released[0].release_reason,
        "hold failed: INSUFFICIENT_FUNDS"
    );
    assert!(released[0].release_time.is_some());
    let l = limits(&tp, id).await;
    assert_eq!(l.reserved_amount, m("USD", "5000000.00"));
    assert_eq!(l.remaining_amount, m("USD", "95000000.00"));
    // And again later: unchanged.
    assert_eq!(release(&tp, &a.reservation_id).await?, released[0]);
    assert_eq!(
        limits(&tp, id).await.remaining_amount,
        m("USD", "95000000.00")
    );
    refused(
        &confirm(&tp, &a.reservation_id).await.expect_err("released"),
        Code::FailedPrecondition,
        "RESERVATION_RELEASED",
    );

    // Confirmed: counted for good, once; a confirmed payment's limit never comes back.
    let req = ConfirmReservationRequest {
        request_id: rid(),
        reservation_id: bb.reservation_id.clone(),
    };
    let confirmed = order(&tp)
        .confirm_reservation(req.clone())
        .await?
        .into_inner()
        .reservation
        .expect("r");
    assert_eq!(confirmed.state, ReservationState::Confirmed as i32);
    assert!(confirmed.confirm_time.is_some() && confirmed.release_time.is_none());
    assert_eq!(confirmed.limit_date, bb.limit_date);
    let replay = order(&tp)
        .confirm_reservation(req.clone())
        .await?
        .into_inner();
    assert_eq!(replay.reservation, Some(confirmed.clone()));
    assert_eq!(confirm(&tp, &bb.reservation_id).await?, confirmed);
    let err = release(&tp, &bb.reservation_id)
        .await
        .expect_err("confirmed");
    refused(
        &err,
        Code::FailedPrecondition,
        "RESERVATION_ALREADY_CONFIRMED",
    );
    assert!(err.get_details_precondition_failure().is_some());
    let l = limits(&tp, id).await;
    assert_eq!(l.reserved_amount, m("USD", "2000000.00"));
    assert_eq!(l.confirmed_amount, m("USD", "3000000.00"));
    assert_eq!(l.remaining_amount, m("USD", "95000000.00"));

    // Idempotency and input.
    let mut reused = req.clone();
    reused.reservation_id = a.reservation_id.clone();
    refused(
        &order(&tp)
            .confirm_reservation(reused)
            .await
            .expect_err("reused"),
        Code::AlreadyExists,
        "IDEMPOTENCY_KEY_REUSED",
    );
    let missing = rid();
    let err = release(&tp, &missing).await.expect_err("none");
    refused(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    assert_eq!(
        err.get_details_resource_info().map(|r| r.resource_name),
        Some(missing)
    );
    let err = order(&tp)
        .release_reservation(ReleaseReservationRequest {
            request_id: "r".to_owned(),
            reservation_id: "x".to_owned(),
            reason: "y".repeat(501),
        })
        .await
        .expect_err("bad");
    assert_eq!(fields(&err), vec!["request_id", "reservation_id", "reason"]);

    // What came back is usable again, to the cent.
    for _ in 0..9 {
        approved(&decide(&tp, decide_req(id, &s, m("USD", "10000000.00"))).await);
    }
    approved(&decide(&tp, decide_req(id, &s, m("USD", "5000000.00"))).await);
    denied(
        &decide(&tp, decide_req(id, &s, m("USD", "0.01"))).await,
        "LIMIT_PER_DAY",
    );

    tp.stop().await
}

#[tokio::test]
async fn restricted_categories_are_preloaded_and_changed_only_by_operators_with_an_audit()
-> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let b = onboard(&tp, &ops).await;
    let s = supplier(&tp, &ops, true).await;
    let mandate = active_mandate(&tp, &b).await;
    let id = mandate.mandate_id.as_str();

    let list = |include_unrestricted: bool, page: Option<PageRequest>| {
        let mut c = tp.authorization();
        async move {
            c.list_restricted_categories(ListRestrictedCategoriesRequest {
                include_unrestricted,
                page,
            })
            .await
            .map(|r| r.into_inner())
        }
    };
    let seed: Vec<String> = list(false, None)
        .await?
        .restricted_categories
        .into_iter()
        .map(|c| c.category_code)
        .collect();
    assert_eq!(
        seed,
        [
            "cigarette_paper",
            "drug_abuse",
            "gambling",
            "harpoons",
            "nutrients",
            "plant_seeds",
            "pornography",
            "terrorism",
            "violence"
        ]
    );
    // Paged by code.
    let mut codes = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(
            false,
            Some(PageRequest {
                page_size: 4,
                page_token: token.clone(),
            }),
        )
        .await?;
        codes.extend(
            page.restricted_categories
                .into_iter()
                .map(|c| c.category_code),
        );
        token = page.page.expect("page").next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(codes, seed);
    refused(
        &list(
            false,
            Some(PageRequest {
                page_size: 4,
                page_token: "zz".to_owned(),
            }),
        )
        .await
        .expect_err("bad token"),
        Code::InvalidArgument,
        "VALIDATION_FAILED",
    );

    let set = |code: &str, name: &str, restricted: bool| SetRestrictedCategoryRequest {
        request_id: rid(),
        category_code: code.to_owned(),
        display_name: name.to_owned(),
        restricted,
        reason: "compliance review 2026-Q3".to_owned(),
    };
    // Operators only: an operator credential and an operator subject.
    let replica = set("toys.replica_weapons", "Replica weapons (仿真武器)", true);
    // Not through edge (the credential layer or the service refuses it).
    let err = edge(&tp)
        .set_restricted_category(acting(&ops, replica.clone()))
        .await
        .expect_err("edge");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    refused(
        &operators(&tp)
            .set_restricted_category(acting(&b.account_id, replica.clone()))
            .await
            .expect_err("not an operator"),
        Code::PermissionDenied,
        "OPERATOR_REQUIRED",
    );
    refused(
        &operators(&tp)
            .set_restricted_category(replica.clone())
            .await
            .expect_err("nobody"),
        Code::PermissionDenied,
        "OPERATOR_REQUIRED",
    );
    let mut bad = set("Toys!", "x", true);
    bad.reason = String::new();
    let err = operators(&tp)
        .set_restricted_category(acting(&ops, bad))
        .await
        .expect_err("bad");
    assert_eq!(fields(&err), vec!["category_code", "reason"]);
    let err = operators(&tp)
        .set_restricted_category(acting(&ops, set("fireworks", "", true)))
        .await
        .expect_err("new without a name");
    assert_eq!(fields(&err), vec!["display_name"]);
    assert_eq!(
        count(
            &tp,
            "SELECT count(*) FROM authz.restricted_category_changes"
        )
        .await,
        0
    );

    // A new restriction covers its children at once.
    let mut ok_toy = decide_req(id, &s, m("USD", "10.00"));
    ok_toy.category_codes = vec!["toys.replica_weapons.swords".to_owned()];
    approved(&decide(&tp, ok_toy.clone()).await);
    let created = operators(&tp)
        .set_restricted_category(acting(&ops, replica.clone()))
        .await?
        .into_inner()
        .restricted_category
        .expect("category");
    assert!(created.restricted);
    assert_eq!(created.update_account_id, ops);
    assert_eq!(created.display_name, "Replica weapons (仿真武器)");
    let again = operators(&tp)
        .set_restricted_category(acting(&ops, replica.clone()))
        .await?
        .into_inner();
    assert_eq!(again.restricted_category, Some(created.clone()));
    let mut reused = replica.clone();
    reused.restricted = false;
    refused(
        &operators(&tp)
            .set_restricted_category(acting(&ops, reused))
            .await
            .expect_err("reused"),
        Code::AlreadyExists,
        "IDEMPOTENCY_KEY_REUSED",
    );
    ok_toy.request_id = rid();
    let d = decide(&tp, ok_toy).await;
    denied(&d, "CATEGORY_RESTRICTED");
    assert_eq!(
        d.details
            .get("restricted_category_code")
            .map(String::as_str),
        Some("toys.replica_weapons")
    );

    // Lifting a seed restriction (keeping its name) lets its goods be paid for.
    let mut seeds = decide_req(id, &s, m("USD", "10.00"));
    seeds.category_codes = vec!["plant_seeds".to_owned()];
    denied(&decide(&tp, seeds.clone()).await, "CATEGORY_RESTRICTED");
    let lifted = operators(&tp)
        .set_restricted_category(acting(&ops, set("plant_seeds", "", false)))
        .await?
        .into_inner()
        .restricted_category
        .expect("category");
    assert!(!lifted.restricted);
    assert_eq!(lifted.display_name, "Plant seeds (植物种子)");
    seeds.request_id = rid();
    approved(&decide(&tp, seeds).await);
    let shown: Vec<String> = list(false, None)
        .await?
        .restricted_categories
        .into_iter()
        .map(|c| c.category_code)
        .collect();
    assert!(!shown.contains(&"plant_seeds".to_owned()));
    assert!(shown.contains(&"toys.replica_weapons".to_owned()));
    let everything = list(true, None).await?.restricted_categories;
    assert_eq!(everything.len(), 10);
    assert!(everything.iter().any(|c| c == &lifted));

    // The audit trail: actor, previous and new values, reason.
    let mut conn = admin(&tp).await;
    let audit: Vec<(String, Option<bool>, bool, String, String)> = sqlx::query_as(
        "SELECT category_code, previous_restricted, restricted, actor_account_id::text, reason
         FROM authz.restricted_category_changes ORDER BY changed_at, change_id",
    )
    .fetch_all(&mut conn)
    .await?;
    conn.close().await.ok();
    let why = "compliance review 2026-Q3".to_owned();
    assert_eq!(
        audit,
        vec![
            (
                "toys.replica_weapons".to_owned(),
                None,
                true,
                ops.clone(),
                why.clone()
            ),
            (
                "plant_seeds".to_owned(),
                Some(true),
                false,
                ops.clone(),
                why
            ),
        ]
    );
    let seen: HashSet<String> = everything.into_iter().map(|c| c.category_code).collect();
    assert_eq!(seen.len(), 10);

    tp.stop().await
}

/// Nobody authorises another person's marketplace member alone: a mandate's activation code
/// goes to whoever holds the member's binding, so another wallet owner's mandate for it
/// stays pending (and a pending mandate blocks nobody), while the member's own is made and
/// activated as usual; with the member's code (its acceptance), the other's activates.
#[tokio::test]
async fn a_mandate_for_another_persons_member_needs_that_members_code() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let ops = operator_account(&tp).await;
    let member = onboard(&tp, &ops).await;
    let stranger = onboard(&tp, &ops).await;

    // The stranger authorises the member on the stranger's own wallet.
    let mut theirs = create_req(&stranger);
    theirs.marketplace_member = member_of(&member.member);
    let created = create(&tp, theirs).await;
    let (pending, challenge) = (
        created.mandate.expect("mandate"),
        created.challenge.expect("challenge"),
    );
    let mut conn = admin(&tp).await;
    let holder: String = sqlx::query_scalar(
        "SELECT account_id::text FROM identity.verification_challenges WHERE challenge_id = $1::uuid",
    )
    .bind(&challenge.challenge_id)
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    assert_eq!(
        holder, member.account_id,
        "the code goes to the member's holder"
    );
    // Without the member's code it cannot be activated...
    let guess = edge_for(&tp, &stranger.account_id)
        .activate_mandate(activate_req(
            &pending.mandate_id,
            &challenge.challenge_id,
            "000000",
        ))
        .await
        .expect_err("a guessed code");
    assert_eq!(guess.code(), Code::PermissionDenied, "{guess:?}");
    // ...and, pending, it keeps nobody from the member's own mandate.
    let own = active_mandate(&tp, &member).await;
    assert_eq!(own.state, MandateState::Active as i32);
    edge_for(&tp, &member.account_id)
        .revoke_mandate(RevokeMandateRequest {
            request_id: rid(),
            mandate_id: own.mandate_id.clone(),
            payment_pin: kuajing::parties::PIN.to_owned(),
            reason: "trying the other".to_owned(),
        })
        .await?;
    // The member accepts by giving its code: then the stranger's mandate activates.
    let code = code_in_outbox(&tp, &challenge.challenge_id).await;
    let activated = edge_for(&tp, &stranger.account_id)
        .activate_mandate(activate_req(
            &pending.mandate_id,
            &challenge.challenge_id,
            &code,
        ))
        .await?
        .into_inner()
        .mandate
        .expect("mandate");
    assert_eq!(activated.state, MandateState::Active as i32);
    tp.stop().await
}
