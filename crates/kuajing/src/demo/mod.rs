//! `kuajing demo`: the platform's main job on a running `kuajing up`, as its users do it.
//! A buyer registers, is verified, tops up from the sandbox bank, converts to CNH,
//! authorises its 1688 member and pays a supplier's marketplace order, which ships and is
//! received; a supplier opens its programs, drafts a Trade Assurance order, collects the
//! buyer's remittances, ships and withdraws, and the sandbox bank pays it out. People act
//! only through edge with their access tokens; codes come from the sandbox mailbox; what an
//! operator does is done with `kuajing operator`'s calls. Every step is checked: any
//! surprise ends the demo with an error (a non-zero exit).

mod buyer;
mod supplier;

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use kuajing_proto::edge::v1 as pb;
use kuajing_proto::edge::v1::edge_service_client::EdgeServiceClient;
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::sandbox::v1 as sbx;
use kuajing_proto::sandbox::v1::sandbox_service_client::SandboxServiceClient;
use kuajing_proto::wallet::v1 as wpb;
use rust_decimal::Decimal;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::commands::Target;
use crate::operator::Operator;
use crate::parties::{money, rid, unique};

/// `kuajing demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    target: Target,
}

/// The password the demo's people sign in with.
const PASSWORD: &str = "Sunny-Day-42";
/// Their payment PIN.
const PIN: &str = "135790";

/// The demo's reach: edge, the sandbox, an operator.
pub struct Demo {
    edge: EdgeServiceClient<Channel>,
    sandbox: SandboxServiceClient<Channel>,
    ops: Operator,
}

/// Someone signed in through edge.
#[derive(Clone, Debug)]
pub struct Person {
    /// The account.
    pub account_id: String,
    /// Its email (where codes go).
    pub email: String,
    /// Its access token.
    pub token: String,
}

/// One line of the demo's story.
fn step(what: impl std::fmt::Display) {
    println!("  ✓ {what}");
}

/// Runs both journeys against the platform `args` names.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let urls = args.target.ports.urls();
    let connect = |name: &str| -> anyhow::Result<Channel> {
        Ok(tonic::transport::Endpoint::from_shared(urls[name].clone())?.connect_lazy())
    };
    let demo = Demo {
        edge: EdgeServiceClient::new(connect("edge")?),
        sandbox: SandboxServiceClient::new(connect("sandbox")?),
        ops: crate::commands::operator_of(&args.target).await?,
    };
    demo.run().await
}

impl Demo {
    /// From clients and an operator (the tests build one on their platform).
    pub fn new(
        edge: EdgeServiceClient<Channel>,
        sandbox: SandboxServiceClient<Channel>,
        ops: Operator,
    ) -> Demo {
        Demo { edge, sandbox, ops }
    }

    /// Both journeys, then everyone's balances.
    pub async fn run(&self) -> anyhow::Result<()> {
        println!("Supplier: a factory in Shenzhen opens its programs");
        let supplier = supplier::onboard(self).await?;
        println!("Buyer journey: an importer in Singapore pays a 1688 order by cross-border pay");
        let buyer = buyer::journey(self, &supplier).await?;
        println!("Supplier journey: a Trade Assurance order, paid by wire, shipped, withdrawn");
        supplier::journey(self, &supplier, &buyer).await?;
        println!("Balances");
        self.balances("buyer", &buyer).await?;
        self.balances("supplier", &supplier).await?;
        let fees = self
            .ops
            .ledger_accounts(wpb::LedgerAccountKind::FeeRevenue)
            .await?;
        for account in fees.iter().filter(|a| !is_zero(&a.balance)) {
            println!("  platform fee revenue {}", show(&account.balance));
        }
        println!("Demo complete: both journeys ended as expected.");
        Ok(())
    }

    /// An edge call with `token`, waiting as told while edge answers RATE_LIMITED.
    async fn call<T, F, Fut>(&self, what: &str, mut call: F) -> anyhow::Result<T>
    where
        F: FnMut(EdgeServiceClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        for _ in 0..90 {
            match call(self.edge.clone()).await {
                Err(s) if s.code() == Code::ResourceExhausted => {
                    let wait = s
                        .get_details_retry_info()
                        .and_then(|r| r.retry_delay)
                        .unwrap_or(Duration::from_secs(1));
                    tokio::time::sleep(wait.min(Duration::from_secs(10))).await;
                }
                Err(s) => return Err(refused(what, &s)),
                Ok(r) => return Ok(r.into_inner()),
            }
        }
        anyhow::bail!("{what}: edge kept answering RATE_LIMITED")
    }

    /// The code the sandbox mailbox holds for `challenge_id`, sent to `recipient`.
    async fn code(&self, recipient: &str, challenge_id: &str) -> anyhow::Result<String> {
        let messages = self
            .sandbox
            .clone()
            .list_messages(sbx::ListMessagesRequest {
                recipient: recipient.to_owned(),
            })
            .await
            .map_err(|s| refused("ListMessages (sandbox mailbox)", &s))?
            .into_inner()
            .messages;
        messages
            .into_iter()
            .find(|m| m.challenge_id == challenge_id && !m.code.is_empty())
            .map(|m| m.code)
            .with_context(|| {
                format!("no code for challenge {challenge_id} in {recipient}'s mailbox")
            })
    }

    /// Registers through edge, confirms the email with the code from the mailbox, signs in.
    async fn sign_up(
        &self,
        prefix: &str,
        account_type: idp::AccountType,
        role: idp::AccountRole,
        region: &str,
    ) -> anyhow::Result<Person> {
        let name = unique(prefix);
        let email = format!("{name}@example.com");
        let registration = pb::RegisterAccountRequest {
            request_id: rid(),
            member_name: name.clone(),
            account_type: account_type as i32,
            role: role as i32,
            region_code: region.to_owned(),
            display_name: format!("{name} Ltd"),
            email: email.clone(),
            mobile: String::new(),
            password: PASSWORD.to_owned(),
        };
        let registered = self
            .call("RegisterAccount", |mut e| {
                let r = registration.clone();
                async move { e.register_account(r).await }
            })
            .await?;
        let account = registered.account.context("RegisterAccount: no account")?;
        let challenge = registered
            .challenges
            .first()
            .context("RegisterAccount: no confirmation challenge")?
            .clone();
        let code = self.code(&email, &challenge.challenge_id).await?;
        let confirm = pb::ConfirmContactRequest {
            request_id: rid(),
            account_id: account.account_id.clone(),
            challenge_id: challenge.challenge_id.clone(),
            code,
        };
        let confirmed = self
            .call("ConfirmContact", |mut e| {
                let r = confirm.clone();
                async move { e.confirm_contact(r).await }
            })
            .await?;
        expect(
            confirmed.account.is_some_and(|a| a.email_verified),
            "ConfirmContact: the email is verified",
        )?;
        let login = pb::LoginRequest {
            request_id: rid(),
            identifier: name.clone(),
            password: PASSWORD.to_owned(),
        };
        let tokens = self
            .call("Login", |mut e| {
                let r = login.clone();
                async move { e.login(r).await }
            })
            .await?
            .tokens
            .context("Login: no tokens")?;
        step(format!(
            "{name} registered, email confirmed by code, signed in"
        ));
        Ok(Person {
            account_id: account.account_id,
            email,
            token: tokens.access_token,
        })
    }

    /// Sets the person's payment PIN with a code from the mailbox.
    async fn set_pin(&self, p: &Person) -> anyhow::Result<()> {
        let send = pb::SendVerificationCodeRequest {
            request_id: rid(),
            account_id: String::new(),
            channel: idp::VerificationChannel::Email as i32,
            purpose: idp::VerificationPurpose::SetPaymentPin as i32,
            reference: String::new(),
        };
        let challenge = self
            .call("SendVerificationCode", |mut e| {
                let r = authed(p, send.clone());
                async move { e.send_verification_code(r).await }
            })
            .await?
            .challenge
            .context("no challenge")?;
        let code = self.code(&p.email, &challenge.challenge_id).await?;
        let set = pb::SetPaymentPinRequest {
            request_id: rid(),
            pin: PIN.to_owned(),
            challenge_id: challenge.challenge_id,
            code,
        };
        self.call("SetPaymentPin", |mut e| {
            let r = authed(p, set.clone());
            async move { e.set_payment_pin(r).await }
        })
        .await?;
        step("payment PIN set with an emailed code");
        Ok(())
    }

    /// The person's wallet.
    async fn wallet(&self, p: &Person) -> anyhow::Result<wpb::Wallet> {
        self.call("GetWallet", |mut e| {
            let r = authed(p, pb::GetWalletRequest {});
            async move { e.get_wallet(r).await }
        })
        .await?
        .wallet
        .context("GetWallet: no wallet")
    }

    /// `member` signs in to the simulated 1688: the proof for binding it to `account_id`.
    async fn member_proof(&self, member: &str, account_id: &str) -> anyhow::Result<String> {
        Ok(self
            .sandbox
            .clone()
            .sign_in_to_marketplace(sbx::SignInToMarketplaceRequest {
                marketplace: kuajing_proto::identity::v1::Marketplace::Marketplace1688 as i32,
                external_member_id: member.to_owned(),
                account_id: account_id.to_owned(),
            })
            .await
            .map_err(|s| refused("SignInToMarketplace (sandbox)", &s))?
            .into_inner()
            .member_proof)
    }

    /// A simulated payer sends `amount` to the receiving account `account_number`.
    async fn remit(
        &self,
        account_number: &str,
        currency: &str,
        amount: &str,
        payer: &str,
        info: &str,
    ) -> anyhow::Result<wpb::Remittance> {
        self.sandbox
            .clone()
            .remit(sbx::RemitRequest {
                request_id: rid(),
                account_number: account_number.to_owned(),
                amount: money(currency, amount),
                bank_reference: String::new(),
                payer_name: payer.to_owned(),
                remittance_info: info.to_owned(),
            })
            .await
            .map_err(|s| refused("Remit (sandbox bank)", &s))?
            .into_inner()
            .remittance
            .context("Remit: no remittance")
    }

    async fn balances(&self, who: &str, p: &Person) -> anyhow::Result<()> {
        let wallet = self.wallet(p).await?;
        for b in wallet
            .balances
            .iter()
            .filter(|b| !is_zero(&b.available) || !is_zero(&b.held))
        {
            println!(
                "  {who:<8} {} available {}, held {}",
                b.currency_code,
                amount_of(&b.available),
                amount_of(&b.held)
            );
        }
        Ok(())
    }
}

/// `message` with the person's access token.
fn authed<T>(p: &Person, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = format!("Bearer {}", p.token).parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// A refusal, with its reason, as the demo's error.
fn refused(what: &str, s: &Status) -> anyhow::Error {
    let reason = s
        .get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default();
    anyhow::anyhow!("{what}: {:?} {reason}: {}", s.code(), s.message())
}

/// Fails the demo with `what` unless `ok`.
fn expect(ok: bool, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(ok, "expected: {what}");
    Ok(())
}

fn decimal(m: &Option<kuajing_proto::types::Money>) -> Decimal {
    m.as_ref()
        .and_then(|m| Decimal::from_str_exact(&m.amount).ok())
        .unwrap_or_default()
}

fn is_zero(m: &Option<kuajing_proto::types::Money>) -> bool {
    decimal(m).is_zero()
}

fn amount_of(m: &Option<kuajing_proto::types::Money>) -> String {
    m.as_ref().map(|m| m.amount.clone()).unwrap_or_default()
}

fn show(m: &Option<kuajing_proto::types::Money>) -> String {
    m.as_ref()
        .map(|m| format!("{} {}", m.currency_code, m.amount))
        .unwrap_or_default()
}

/// The (available, held) balance in `currency`.
fn balance(wallet: &wpb::Wallet, currency: &str) -> (Decimal, Decimal) {
    wallet
        .balances
        .iter()
        .find(|b| b.currency_code == currency)
        .map(|b| (decimal(&b.available), decimal(&b.held)))
        .unwrap_or_default()
}
