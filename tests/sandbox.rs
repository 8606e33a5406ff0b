//! The sandbox `kuajing up` ships: the simulated bank (remittances in, withdrawals paid
//! out or failed and reversed), the mailbox, the first operator and its commands, supplier
//! self-service through edge, and `kuajing demo`'s two journeys. And the other side: with
//! sandbox mode off, nothing of it is served, and no manifest can start it.

use std::path::PathBuf;
use std::time::Duration;

use kuajing::sandbox::Settlement;
use kuajing_proto::edge::v1 as pb;
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::sandbox::v1 as sbx;
use kuajing_proto::sandbox::v1::sandbox_service_client::SandboxServiceClient;
use kuajing_proto::wallet::v1 as wpb;
use kuajing_testkit::{As, TestPlatform};
use rust_decimal::Decimal;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::people::{self, Signup, Via, edge};
use crate::support::{acting, balance, dec, m, reason, refused, rid, unique};

/// A fresh directory for what `kuajing up` keeps (operator.json), removed on drop.
struct DataDir(PathBuf);

impl DataDir {
    fn new() -> DataDir {
        let dir = std::env::temp_dir().join(unique("kj-sandbox-"));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        DataDir(dir)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A receiving account of `purpose` in `currency` on `wallet`; returns its number.
async fn receiving(
    tp: &TestPlatform,
    wallet: &str,
    currency: &str,
    purpose: wpb::ReceivingAccountPurpose,
) -> String {
    let mut w = tp.wallet();
    let owner = crate::support::owner_of(&mut w, wallet).await;
    w.create_receiving_account(acting(
        &owner,
        wpb::CreateReceivingAccountRequest {
            request_id: rid(),
            wallet_id: wallet.to_owned(),
            currency_code: currency.to_owned(),
            display_name: format!("{currency} account"),
            purpose: purpose as i32,
        },
    ))
    .await
    .expect("CreateReceivingAccount")
    .into_inner()
    .receiving_account
    .and_then(|a| a.bank_details)
    .expect("bank details")
    .account_number
}

fn remit(request_id: &str, account_number: &str, amount: &str) -> sbx::RemitRequest {
    sbx::RemitRequest {
        request_id: request_id.to_owned(),
        account_number: account_number.to_owned(),
        amount: m("USD", amount),
        bank_reference: String::new(),
        payer_name: "ACME Trading Pte Ltd".to_owned(),
        remittance_info: "INV-7".to_owned(),
    }
}

/// A supplier with a wallet, USD 1,000.00 topped up through the sandbox bank, the PIN
/// [`kuajing::parties::PIN`] and a USD corporate bank account; returns (wallet, bank account).
async fn funded_supplier(tp: &TestPlatform) -> anyhow::Result<(String, String, String)> {
    let reach = tp.reach();
    let ops = reach.operator().await?;
    let s = reach.supplier(&ops, true, false).await?;
    let number = receiving(tp, &s.wallet_id, "USD", wpb::ReceivingAccountPurpose::TopUp).await;
    tp.sandbox()
        .remit(remit(&rid(), &number, "1000.00"))
        .await?;
    // The PIN, with the code the sandbox mailbox shows.
    let mut identity =
        kuajing_proto::identity::v1::identity_service_client::IdentityServiceClient::new(
            tp.channel_as("identity", As::Caller("edge".to_owned())),
        );
    let challenge = identity
        .send_verification_code(acting(
            &s.account_id,
            idp::SendVerificationCodeRequest {
                request_id: rid(),
                account_id: s.account_id.clone(),
                channel: idp::VerificationChannel::Email as i32,
                purpose: idp::VerificationPurpose::SetPaymentPin as i32,
                reference: String::new(),
            },
        ))
        .await?
        .into_inner()
        .challenge
        .expect("challenge");
    let email = format!("{}@example.cn", s.member_name);
    let mail = tp
        .sandbox()
        .list_messages(sbx::ListMessagesRequest {
            recipient: email.to_uppercase(),
        })
        .await?
        .into_inner()
        .messages;
    let code = mail
        .iter()
        .find(|msg| msg.challenge_id == challenge.challenge_id)
        .map(|msg| msg.code.clone())
        .expect("the PIN code in the mailbox");
    assert_eq!(code.len(), 6, "{mail:?}");
    identity
        .set_payment_pin(acting(
            &s.account_id,
            idp::SetPaymentPinRequest {
                request_id: rid(),
                account_id: s.account_id.clone(),
                pin: kuajing::parties::PIN.to_owned(),
                challenge_id: challenge.challenge_id,
                code,
            },
        ))
        .await?;
    let bank = crate::support::wallet_for(tp, &s.account_id)
        .register_bank_account(wpb::RegisterBankAccountRequest {
            request_id: rid(),
            wallet_id: s.wallet_id.clone(),
            r#type: wpb::BankAccountType::Corporate as i32,
            holder_name: "Shenzhen Bright Lighting Co., Ltd.".into(),
            bank_name: "Bank of China Shenzhen Branch".into(),
            branch_name: String::new(),
            account_number: format!("62{}", &uuid::Uuid::now_v7().simple().to_string()[16..]),
            swift_code: "BKCHCNBJ45A".into(),
            routing_code: String::new(),
            country_code: "CN".into(),
            currency_code: "USD".into(),
        })
        .await?
        .into_inner()
        .bank_account
        .expect("bank account")
        .bank_account_id;
    Ok((s.account_id, s.wallet_id, bank))
}

async fn withdraw(
    tp: &TestPlatform,
    wallet: &str,
    bank: &str,
    amount: &str,
) -> anyhow::Result<wpb::Withdrawal> {
    let mut w = tp.wallet();
    let owner = crate::support::owner_of(&mut w, wallet).await;
    Ok(crate::support::wallet_for(tp, &owner)
        .create_withdrawal(wpb::CreateWithdrawalRequest {
            request_id: rid(),
            wallet_id: wallet.to_owned(),
            bank_account_id: bank.to_owned(),
            source_fund_pool: wpb::FundPool::Standard as i32,
            amount: m("USD", amount),
            payment_pin: kuajing::parties::PIN.to_owned(),
            remark: "sandbox".into(),
        })
        .await?
        .into_inner()
        .withdrawal
        .expect("withdrawal"))
}

/// The withdrawal once the sandbox bank has settled it (or its last state after 10 s).
async fn settled(tp: &TestPlatform, withdrawal_id: &str) -> anyhow::Result<wpb::Withdrawal> {
    let mut last = None;
    for _ in 0..100 {
        let w = tp
            .wallet()
            .get_withdrawal(wpb::GetWithdrawalRequest {
                withdrawal_id: withdrawal_id.to_owned(),
            })
            .await?
            .into_inner()
            .withdrawal
            .expect("withdrawal");
        if w.status == wpb::WithdrawalStatus::Completed as i32
            || w.status == wpb::WithdrawalStatus::Failed as i32
        {
            return Ok(w);
        }
        last = Some(w);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(last.expect("a withdrawal"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_sandbox_mode_off_nothing_of_the_sandbox_is_served() -> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    assert!(tp.platform().sandbox_addr().is_none());
    // Edge, the public door, has no such service: UNIMPLEMENTED.
    let edge = tp.platform().addr("edge").expect("edge");
    let mut at_edge = SandboxServiceClient::new(
        tonic::transport::Endpoint::from_shared(format!("http://{edge}"))?.connect_lazy(),
    );
    let s = at_edge
        .remit(remit(&rid(), "6200000000", "1.00"))
        .await
        .expect_err("not served by edge");
    assert_eq!(s.code(), Code::Unimplemented, "{s:?}");
    // No internal service serves it either, whoever calls: it is in no service's table.
    for name in ["identity", "wallet", "authorization", "order", "fx"] {
        for who in [
            As::Caller("operator".to_owned()),
            As::Caller("bank".to_owned()),
        ] {
            let mut client = SandboxServiceClient::new(tp.channel_as(name, who));
            let s = client
                .remit(remit(&rid(), "6200000000", "1.00"))
                .await
                .expect_err("not served");
            assert!(
                matches!(s.code(), Code::Unimplemented | Code::PermissionDenied),
                "{name}: {s:?}"
            );
        }
    }
    // The manifests run the service binaries only: nothing starts `kuajing` (whose `up`
    // serves the sandbox) or exposes the sandbox's port.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut stack = vec![root.join("k8s"), root.join("deploy")];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            files += 1;
            for forbidden in [
                "sandbox",
                "50056",
                "kuajing up",
                "/kuajing\"",
                "- kuajing\n",
            ] {
                assert!(
                    !text.to_lowercase().contains(forbidden),
                    "{} mentions {forbidden:?}",
                    path.display()
                );
            }
        }
    }
    assert!(files > 10, "read the manifests ({files} files)");
    tp.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sandbox_remittances_are_idempotent_like_a_banks() -> anyhow::Result<()> {
    let tp = TestPlatform::start_with_sandbox(Settlement::Manual).await?;
    let reach = tp.reach();
    let owner = reach
        .register(kuajing::parties::personal(&unique("payee")))
        .await?;
    let wallet = reach.open_wallet(&owner).await?;
    let number = receiving(&tp, &wallet, "USD", wpb::ReceivingAccountPurpose::TopUp).await;
    let mut bank = tp.sandbox();

    let id = rid();
    let first = bank
        .remit(remit(&id, &number, "250.00"))
        .await?
        .into_inner();
    let again = bank
        .remit(remit(&id, &number, "250.00"))
        .await?
        .into_inner();
    let (first, again) = (first.remittance.expect("r"), again.remittance.expect("r"));
    assert_eq!(first.remittance_id, again.remittance_id);
    assert_eq!(first.bank_reference, format!("SBX-{}", id.replace('-', "")));
    assert_eq!(first.status, wpb::RemittanceStatus::Credited as i32);
    assert_eq!(
        balance(&tp, &wallet, "USD").await,
        (dec("250.00"), Decimal::ZERO)
    );

    // The same bank reference in another message (another amount): a conflict, nothing moves.
    let mut other = remit(&rid(), &number, "999.00");
    other.bank_reference = first.bank_reference.clone();
    let s = bank.remit(other).await.expect_err("a conflicting reuse");
    refused(&s, Code::AlreadyExists, "BANK_REFERENCE_CONFLICT");
    assert_eq!(
        balance(&tp, &wallet, "USD").await,
        (dec("250.00"), Decimal::ZERO)
    );

    // Bad input is the sandbox's own refusal; an unknown account is wallet's.
    let s = bank
        .remit(remit(&uuid::Uuid::now_v7().to_string(), "", "-1"))
        .await
        .expect_err("bad input");
    assert_eq!(s.code(), Code::InvalidArgument);
    let fields: Vec<String> = s
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default();
    assert!(fields.contains(&"account_number".to_owned()), "{fields:?}");
    assert!(fields.contains(&"amount.amount".to_owned()), "{fields:?}");
    let v4 = uuid::Builder::from_random_bytes([9; 16])
        .into_uuid()
        .to_string();
    let s = bank
        .remit(remit(&v4, &number, "1.00"))
        .await
        .expect_err("a request id without a time");
    assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
    let s = bank
        .remit(remit(&rid(), "6299999999999", "1.00"))
        .await
        .expect_err("no such account");
    refused(&s, Code::NotFound, "RECEIVING_ACCOUNT_NOT_FOUND");
    tp.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sandbox_bank_pays_withdrawals_out_and_fails_magic_amounts_with_a_reversal()
-> anyhow::Result<()> {
    let tp =
        TestPlatform::start_with_sandbox(Settlement::After(Duration::from_millis(200))).await?;
    let (_, wallet, bank) = funded_supplier(&tp).await?;

    let paid = withdraw(&tp, &wallet, &bank, "300.00").await?;
    let paid = settled(&tp, &paid.withdrawal_id).await?;
    assert_eq!(
        paid.status,
        wpb::WithdrawalStatus::Completed as i32,
        "{paid:?}"
    );
    assert!(paid.bank_reference.starts_with("SBX-PAYOUT-"), "{paid:?}");
    assert_eq!(balance(&tp, &wallet, "USD").await.0, dec("700.00"));

    // Amounts ending in .66 fail; the reversal returns the amount and fee.
    let magic = withdraw(&tp, &wallet, &bank, "100.66").await?;
    assert_eq!(balance(&tp, &wallet, "USD").await.0, dec("599.34"));
    let failed = settled(&tp, &magic.withdrawal_id).await?;
    assert_eq!(
        failed.status,
        wpb::WithdrawalStatus::Failed as i32,
        "{failed:?}"
    );
    assert_eq!(
        failed.failure_reason,
        kuajing::sandbox::rules::MAGIC_FAILURE
    );
    assert!(!failed.reversal_entry_id.is_empty());
    assert_eq!(balance(&tp, &wallet, "USD").await.0, dec("700.00"));
    tp.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_manual_mode_withdrawals_settle_on_command_exactly_once() -> anyhow::Result<()> {
    let tp = TestPlatform::start_with_sandbox(Settlement::Manual).await?;
    let (_, wallet, bank) = funded_supplier(&tp).await?;
    let w = withdraw(&tp, &wallet, &bank, "200.00").await?;
    // Taken by the bank, never settled on its own.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let waiting = settled(&tp, &w.withdrawal_id).await?;
    assert_eq!(
        waiting.status,
        wpb::WithdrawalStatus::Processing as i32,
        "{waiting:?}"
    );

    let command = sbx::SettleWithdrawalRequest {
        request_id: rid(),
        withdrawal_id: w.withdrawal_id.clone(),
        outcome: sbx::SettlementOutcome::Failed as i32,
        failure_reason: String::new(),
    };
    let mut bank_client = tp.sandbox();
    let failed = bank_client
        .settle_withdrawal(command.clone())
        .await?
        .into_inner()
        .withdrawal
        .expect("withdrawal");
    assert_eq!(failed.status, wpb::WithdrawalStatus::Failed as i32);
    assert_eq!(
        failed.failure_reason,
        kuajing::sandbox::rules::COMMANDED_FAILURE
    );
    assert_eq!(balance(&tp, &wallet, "USD").await.0, dec("1000.00"));
    // The same command again: the same answer, no second reversal.
    let replay = bank_client
        .settle_withdrawal(command)
        .await?
        .into_inner()
        .withdrawal
        .expect("withdrawal");
    assert_eq!(replay.reversal_entry_id, failed.reversal_entry_id);
    assert_eq!(balance(&tp, &wallet, "USD").await.0, dec("1000.00"));
    // Another command on a settled withdrawal: refused by wallet's state machine.
    let s = bank_client
        .settle_withdrawal(sbx::SettleWithdrawalRequest {
            request_id: rid(),
            withdrawal_id: w.withdrawal_id.clone(),
            outcome: sbx::SettlementOutcome::Completed as i32,
            failure_reason: String::new(),
        })
        .await
        .expect_err("settled already");
    refused(&s, Code::FailedPrecondition, "INVALID_STATUS_TRANSITION");
    tp.stop().await
}

/// A supplier signed in through edge (a free member, as registration leaves it).
async fn free_supplier(tp: &TestPlatform) -> people::Person {
    people::sign_up_via(
        tp,
        &tp.edge(),
        Signup {
            prefix: "factory",
            account_type: idp::AccountType::Business,
            role: idp::AccountRole::Supplier,
            region: "CN",
            email_domain: "example.cn",
        },
        Via::Identity,
    )
    .await
}

fn open(program: idp::AdmissionProgram, agreement: bool) -> pb::OpenSupplierProgramRequest {
    pb::OpenSupplierProgramRequest {
        request_id: rid(),
        program: program as i32,
        agreement_accepted: agreement,
    }
}

/// The PreconditionFailure violation types of a refusal.
fn failed_rules(s: &tonic::Status) -> Vec<String> {
    s.get_details_precondition_failure()
        .map(|p| p.violations.into_iter().map(|v| v.r#type).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn suppliers_open_their_programs_themselves_or_hear_every_rule_they_fail()
-> anyhow::Result<()> {
    let tp = TestPlatform::start().await?;
    let e = tp.edge();
    let dir = DataDir::new();
    let ops = tp.operator(&dir.0).await?;
    let s = free_supplier(&tp).await;

    // A free member: cross-border pay is refused with the source's words.
    let cbp = open(idp::AdmissionProgram::CrossBorderPay, true);
    let refusal = edge!(e, s.auth(), open_supplier_program(cbp)).expect_err("free");
    refused(&refusal, Code::FailedPrecondition, "NOT_TRUSTPASS");
    assert_eq!(refusal.message(), "您还不是诚信通商家,暂时无法开通跨境宝.");
    // Trade Assurance: every failing rule at once; Direct Pay likewise.
    let ta = open(idp::AdmissionProgram::TradeAssurance, false);
    let refusal = edge!(e, s.auth(), open_supplier_program(ta.clone())).expect_err("free");
    refused(&refusal, Code::FailedPrecondition, "SUPPLIER_NOT_ADMITTED");
    assert_eq!(failed_rules(&refusal), ["REAL_NAME_NOT_VERIFIED"]);
    let dp = open(idp::AdmissionProgram::DirectPay, false);
    let refusal = edge!(e, s.auth(), open_supplier_program(dp)).expect_err("free");
    assert_eq!(failed_rules(&refusal), ["NOT_PAID_MEMBER"]);
    // Signing needs the agreement accepted.
    let s2 = edge!(
        e,
        s.auth(),
        open_supplier_program(open(idp::AdmissionProgram::CrossBorderPay, false))
    )
    .expect_err("no agreement");
    assert_eq!(s2.code(), Code::InvalidArgument, "{s2:?}");

    // The operator records a paid TrustPass membership: cross-border pay on by default.
    let profile = ops
        .update_supplier(
            &s.account_id,
            &kuajing::operator::SupplierChange {
                paid: Some(true),
                trustpass: Some(true),
                ..Default::default()
            },
            "paid TrustPass member",
        )
        .await?;
    assert!(profile.cross_border_pay_enabled, "{profile:?}");
    // A refusal is recorded under its request id: the replay answers it again.
    let replay = edge!(e, s.auth(), open_supplier_program(ta)).expect_err("recorded refusal");
    assert_eq!(failed_rules(&replay), ["REAL_NAME_NOT_VERIFIED"]);
    // A new request is admitted and recorded on the profile.
    let opened = edge!(
        e,
        s.auth(),
        open_supplier_program(open(idp::AdmissionProgram::TradeAssurance, false))
    )?;
    assert!(opened.admission.expect("admission").admitted);
    let profile = opened.supplier_profile.expect("profile");
    assert_eq!(
        profile.open_programs,
        [idp::AdmissionProgram::TradeAssurance as i32]
    );
    let signed = edge!(
        e,
        s.auth(),
        open_supplier_program(open(idp::AdmissionProgram::CrossBorderPay, true))
    )?;
    assert!(signed.admission.expect("admission").admitted);
    // An operator may still turn it off; becoming paid again does not turn it back on.
    let off = ops
        .update_supplier(
            &s.account_id,
            &kuajing::operator::SupplierChange {
                cross_border_pay: Some(false),
                ..Default::default()
            },
            "supplier asked to stop cross-border pay",
        )
        .await?;
    assert!(!off.cross_border_pay_enabled);
    let again = ops
        .update_supplier(
            &s.account_id,
            &kuajing::operator::SupplierChange {
                paid: Some(true),
                ..Default::default()
            },
            "membership renewed",
        )
        .await?;
    assert!(!again.cross_border_pay_enabled);
    // A buyer is no supplier.
    let buyer = people::sign_up_via(
        &tp,
        &e,
        Signup {
            prefix: "buyer",
            account_type: idp::AccountType::Personal,
            role: idp::AccountRole::Buyer,
            region: "SG",
            email_domain: "example.com",
        },
        Via::Identity,
    )
    .await;
    let s3 = edge!(
        e,
        buyer.auth(),
        open_supplier_program(open(idp::AdmissionProgram::TradeAssurance, false))
    )
    .expect_err("a buyer");
    assert_eq!(s3.code(), Code::PermissionDenied, "{s3:?}");
    tp.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_first_operator_works_without_a_restart_and_keeps_its_role_across_one()
-> anyhow::Result<()> {
    let mut tp = TestPlatform::start_restartable(&["identity"]).await?;
    let dir = DataDir::new();
    let ops = tp.operator(&dir.0).await?;
    let account = kuajing::operator::read_account(&dir.0)?;
    // A second bootstrap finds the same operator.
    let (again, new) = kuajing::operator::bootstrap(&tp.reach(), &dir.0).await?;
    assert!(!new);
    assert_eq!(again, account);

    // Review: a pending verification is listed, then approved.
    let reach = tp.reach();
    let person = reach
        .register(kuajing::parties::personal(&unique("kyc")))
        .await?;
    let submitted = tp
        .identity()
        .submit_real_name_verification(acting(
            &person,
            idp::SubmitRealNameVerificationRequest {
                request_id: rid(),
                account_id: person.clone(),
                subject_type: idp::RealNameSubjectType::Individual as i32,
                legal_name: "Tan Mei Ling".to_owned(),
                document_type: idp::IdentityDocumentType::Passport as i32,
                document_number: "E12345678".to_owned(),
                document_region_code: "SG".to_owned(),
                birth_date: "1990-02-28".to_owned(),
                nationality_region_code: "SG".to_owned(),
                document_expire_date: "2099-12-31".to_owned(),
                document_photo_refs: vec!["s3://kyc/front.jpg".to_owned()],
            },
        ))
        .await?
        .into_inner()
        .real_name_verification
        .expect("verification");
    let pending = ops.pending_verifications().await?;
    assert!(
        pending
            .iter()
            .any(|v| v.real_name_verification_id == submitted.real_name_verification_id),
        "{pending:?}"
    );
    let approved = ops
        .review(&submitted.real_name_verification_id, None)
        .await?;
    assert_eq!(approved.status, idp::RealNameStatus::Verified as i32);

    // Rates and complaints.
    let rate = ops.set_rate("USD", "CNH", "7.2", "market moved").await?;
    assert_eq!(dec(&rate.mid_rate), dec("7.2"));
    let s = reach.supplier(&account.account_id, true, true).await?;
    let complaint = ops
        .record_complaint(&s.account_id, &unique("IPC-"), true, "counterfeit logo")
        .await?;
    assert_eq!(
        complaint
            .supplier_profile
            .expect("profile")
            .ip_complaint_count,
        1
    );

    // Identity restarts (re-applying its configured grants): the operator stays one.
    tp.kill("identity").await?;
    tp.restart("identity").await?;
    let mut still = None;
    for _ in 0..50 {
        match ops.pending_verifications().await {
            Ok(list) => {
                still = Some(list);
                break;
            }
            Err(e) if format!("{e:#}").contains("OPERATOR_REQUIRED") => {
                panic!("the grant was lost: {e:#}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(still.expect("identity answers again").is_empty());
    // Anyone else is no operator.
    let s = tp
        .identity()
        .list_real_name_verifications(acting(
            &person,
            idp::ListRealNameVerificationsRequest::default(),
        ))
        .await
        .expect_err("not an operator");
    assert_eq!(reason(&s), "OPERATOR_REQUIRED", "{s:?}");
    tp.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_completes_both_journeys_on_a_sandbox_platform() -> anyhow::Result<()> {
    let tp =
        TestPlatform::start_with_sandbox(Settlement::After(Duration::from_millis(200))).await?;
    let dir = DataDir::new();
    let ops = tp.operator(&dir.0).await?;
    let demo = kuajing::demo::Demo::new(tp.edge_client(), tp.sandbox(), ops.clone());
    demo.run().await?;
    // The buyer's checkout left its decision in the log an operator reads.
    let decisions = ops.decisions("", 10).await?;
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    tp.stop().await
}
