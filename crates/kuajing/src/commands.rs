//! The `kuajing` subcommands that talk to a running platform: `sandbox` (the simulated
//! bank and mailbox) and `operator` (an operator's work), and where they find it.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use kuajing_proto::sandbox::v1 as sbx;
use kuajing_proto::sandbox::v1::sandbox_service_client::SandboxServiceClient;

use crate::operator::{Operator, SupplierChange};
use crate::parties::rid;

/// Where the platform listens (the same options and defaults as `kuajing up`).
#[derive(Args, Clone, Debug)]
pub struct PortArgs {
    /// Address the services listen on.
    #[arg(long, env = "KJ_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port of edge, the public entry.
    #[arg(long, env = "KJ_EDGE_PORT", default_value_t = 50050)]
    pub edge_port: u16,
    /// Port of identity.
    #[arg(long, env = "KJ_IDENTITY_PORT", default_value_t = 50051)]
    pub identity_port: u16,
    /// Port of wallet.
    #[arg(long, env = "KJ_WALLET_PORT", default_value_t = 50052)]
    pub wallet_port: u16,
    /// Port of authorization.
    #[arg(long, env = "KJ_AUTHORIZATION_PORT", default_value_t = 50053)]
    pub authorization_port: u16,
    /// Port of order.
    #[arg(long, env = "KJ_ORDER_PORT", default_value_t = 50054)]
    pub order_port: u16,
    /// Port of fx.
    #[arg(long, env = "KJ_FX_PORT", default_value_t = 50055)]
    pub fx_port: u16,
    /// Port of the sandbox (simulated bank and mailbox).
    #[arg(long, env = "KJ_SANDBOX_PORT", default_value_t = crate::sandbox::DEFAULT_PORT)]
    pub sandbox_port: u16,
}

impl PortArgs {
    /// Port per name, the sandbox included.
    pub fn ports(&self) -> Vec<(&'static str, u16)> {
        vec![
            ("edge", self.edge_port),
            ("identity", self.identity_port),
            ("wallet", self.wallet_port),
            ("authorization", self.authorization_port),
            ("order", self.order_port),
            ("fx", self.fx_port),
            ("sandbox", self.sandbox_port),
        ]
    }

    /// `http://host:port` per name (plain text: `kuajing up` without `--tls`).
    pub fn urls(&self) -> BTreeMap<String, String> {
        self.ports()
            .into_iter()
            .map(|(name, port)| {
                let addr = std::net::SocketAddr::new(self.host, port);
                (name.to_owned(), format!("http://{addr}"))
            })
            .collect()
    }
}

/// A running platform, found as `kuajing up` left it.
#[derive(Args, Clone, Debug)]
pub struct Target {
    #[command(flatten)]
    pub ports: PortArgs,
    /// The data directory of `kuajing up` (operator.token and operator.json).
    #[arg(long, env = "KJ_HOME", default_value = ".kuajing")]
    pub data_dir: PathBuf,
}

/// `kuajing sandbox`.
#[derive(Args, Debug)]
pub struct SandboxArgs {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    command: SandboxCmd,
}

#[derive(Subcommand, Debug)]
enum SandboxCmd {
    /// A simulated payer sends money to a receiving account (a top-up, or a buyer paying a
    /// supplier's trade collection account). Prints the remittance.
    Remit {
        /// The receiving account's number (its bank details, from CreateReceivingAccount).
        #[arg(long)]
        account_number: String,
        /// The amount and currency, e.g. `SGD 10000.00`.
        #[arg(long)]
        amount: String,
        /// The bank's reference [default: SBX- and the request id].
        #[arg(long, default_value = "")]
        reference: String,
        /// The payer's name [default: Sandbox Payer Ltd].
        #[arg(long, default_value = "")]
        payer: String,
        /// The payer's message (an invoice or order number).
        #[arg(long, default_value = "")]
        info: String,
        /// A UUIDv7 to make the remittance idempotent by [default: a new one].
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Settles a withdrawal now: completed, or failed with `--fail` (reversed).
    Settle {
        /// The withdrawal id.
        withdrawal_id: String,
        /// Fail it, with this reason.
        #[arg(long)]
        fail: Option<String>,
    },
    /// The messages (verification codes) sent to an email address or mobile number.
    Messages {
        /// The email address or mobile number.
        recipient: String,
    },
}

/// "SGD 10000.00" as the contract's Money, checked (currency, minor units) before it is sent.
fn parse_money(s: &str) -> anyhow::Result<kuajing_proto::types::Money> {
    kuajing_platform::Money::parse_written(s)
        .map(|m| m.to_proto())
        .map_err(|e| anyhow::anyhow!("--amount {e}"))
}

/// Runs `kuajing sandbox ...`.
pub async fn sandbox(args: SandboxArgs) -> anyhow::Result<()> {
    let url = args.target.ports.urls()["sandbox"].clone();
    let mut client = SandboxServiceClient::new(
        tonic::transport::Endpoint::from_shared(url.clone())?.connect_lazy(),
    );
    // A refusal says why; no answer at all means nothing listens there.
    let unreachable = |s: tonic::Status| {
        use tonic_types::StatusExt as _;
        match s.get_details_error_info() {
            Some(info) => anyhow::anyhow!("{:?} {}: {}", s.code(), info.reason, s.message()),
            None if s.code() == tonic::Code::Unavailable => anyhow::anyhow!(
                "no answer from the sandbox at {url} (is `kuajing up` running?): {}",
                s.message()
            ),
            None => anyhow::anyhow!("{:?}: {}", s.code(), s.message()),
        }
    };
    match args.command {
        SandboxCmd::Remit {
            account_number,
            amount,
            reference,
            payer,
            info,
            request_id,
        } => {
            let r = client
                .remit(sbx::RemitRequest {
                    request_id: request_id.unwrap_or_else(rid),
                    account_number,
                    amount: Some(parse_money(&amount)?),
                    bank_reference: reference,
                    payer_name: payer,
                    remittance_info: info,
                })
                .await
                .map_err(unreachable)?
                .into_inner();
            crate::print_json("kuajing.sandbox.v1.RemitResponse", &r)
        }
        SandboxCmd::Settle {
            withdrawal_id,
            fail,
        } => {
            let outcome = if fail.is_some() {
                sbx::SettlementOutcome::Failed
            } else {
                sbx::SettlementOutcome::Completed
            };
            let r = client
                .settle_withdrawal(sbx::SettleWithdrawalRequest {
                    request_id: rid(),
                    withdrawal_id,
                    outcome: outcome as i32,
                    failure_reason: fail.unwrap_or_default(),
                })
                .await
                .map_err(unreachable)?
                .into_inner();
            crate::print_json("kuajing.sandbox.v1.SettleWithdrawalResponse", &r)
        }
        SandboxCmd::Messages { recipient } => {
            let r = client
                .list_messages(sbx::ListMessagesRequest { recipient })
                .await
                .map_err(unreachable)?
                .into_inner();
            crate::print_json("kuajing.sandbox.v1.ListMessagesResponse", &r)
        }
    }
}

/// `kuajing operator`.
#[derive(Args, Debug)]
pub struct OperatorArgs {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    command: OperatorCmd,
}

#[derive(Subcommand, Debug)]
enum OperatorCmd {
    /// Real-name verifications waiting for review, oldest first.
    Verifications,
    /// Approves a real-name verification.
    Approve {
        /// The verification id.
        verification_id: String,
    },
    /// Rejects a real-name verification.
    Reject {
        /// The verification id.
        verification_id: String,
        /// Why (the person sees it).
        #[arg(long)]
        reason: String,
    },
    /// Changes a supplier's profile: membership, TrustPass, cross-border pay, credit,
    /// violation points, risk flags (only the options given). A supplier that becomes a
    /// paid TrustPass member is enabled for cross-border pay by default.
    Supplier {
        /// The supplier's account id.
        account_id: String,
        /// A paid member.
        #[arg(long, conflicts_with = "free")]
        paid: bool,
        /// A free member.
        #[arg(long)]
        free: bool,
        /// TrustPass (诚信通) membership active: true or false.
        #[arg(long)]
        trustpass: Option<bool>,
        /// Cross-border pay enabled: true or false.
        #[arg(long)]
        cross_border_pay: Option<bool>,
        /// A bad-credit record: true or false.
        #[arg(long)]
        bad_credit_record: Option<bool>,
        /// Violation points, 0 to 10000.
        #[arg(long)]
        violation_points: Option<i32>,
        /// Risk flags, replacing the current ones (repeat for several; `--risk-flag ''`
        /// clears them).
        #[arg(long = "risk-flag")]
        risk_flags: Option<Vec<String>>,
        /// Why (audited).
        #[arg(long)]
        reason: String,
    },
    /// Records an IP-infringement complaint against a supplier account.
    Complaint {
        /// The supplier's account id.
        account_id: String,
        /// The complaint's reference, unique per account.
        #[arg(long)]
        reference: String,
        /// A serious complaint (counts towards Trade Assurance admission).
        #[arg(long)]
        serious: bool,
        /// What it is about.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Sets a mid rate: quote units per one base unit, e.g. `rate USD CNH 7.12`.
    Rate {
        /// Base currency.
        base: String,
        /// Quote currency.
        quote: String,
        /// Mid rate.
        mid_rate: String,
        /// Why (audited).
        #[arg(long)]
        reason: String,
    },
    /// Sets a supplier's Trade Assurance credit quota and pre-received FX quota, in USD:
    /// links to its guaranteed orders within the credit quota are released at once (others
    /// are kept as guarantee funds until the order completes); the FX quota bounds what its
    /// orders may receive before shipping.
    Quotas {
        /// The supplier's account id.
        account_id: String,
        /// Credit quota, USD (0 or more).
        #[arg(long)]
        credit: String,
        /// FX quota, USD (0 or more); leave out for no limit.
        #[arg(long)]
        fx: Option<String>,
        /// Why (audited).
        #[arg(long)]
        reason: String,
    },
    /// Prints the operator's token for the internal services (`kj-service-token`): the
    /// kept one while it has five minutes left, else a new sign-in with password and TOTP.
    Token,
    /// Ends the kept token's sign-in (every service refuses it within a minute) and
    /// forgets it; the next command signs in again.
    SignOut,
    /// The operator audit log of every service, merged, newest last.
    Audit {
        /// How many from each service.
        #[arg(long, default_value_t = 50)]
        limit: i32,
    },
    /// The payment decision log, newest first.
    Decisions {
        /// Only this mandate's decisions.
        #[arg(long, default_value = "")]
        mandate_id: String,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: i32,
    },
}

/// The operator `kuajing up` made, signed in (its kept token while it lasts), from the
/// data directory.
pub async fn operator_of(target: &Target) -> anyhow::Result<Operator> {
    let account = crate::operator::read_account(&target.data_dir)?;
    let urls = target.ports.urls();
    let edge = urls.get("edge").context("no address for edge")?;
    let token = crate::operator::token(&target.data_dir, edge).await?;
    Operator::new(&urls, &token, &account.account_id)
}

/// Runs `kuajing operator ...`. Long by design: one arm per subcommand, each a call and
/// a print.
pub async fn operator(args: OperatorArgs) -> anyhow::Result<()> {
    let ops = operator_of(&args.target).await?;
    match args.command {
        OperatorCmd::Token => {
            println!("{}", ops.token());
            Ok(())
        }
        OperatorCmd::SignOut => {
            let ended = ops.sign_out().await?;
            let kept = crate::operator::token_file(&args.target.data_dir);
            if let Err(e) = std::fs::remove_file(&kept) {
                anyhow::ensure!(
                    e.kind() == std::io::ErrorKind::NotFound,
                    "removing {}: {e}",
                    kept.display()
                );
            }
            println!("signed out ({ended} sign-in ended)");
            Ok(())
        }
        OperatorCmd::Audit { limit } => {
            let actions = ops.audit_log(limit).await?;
            crate::print_json(
                "kuajing.audit.v1.ListOperatorActionsResponse",
                &kuajing_proto::audit::v1::ListOperatorActionsResponse {
                    actions,
                    page: None,
                },
            )
        }
        OperatorCmd::Verifications => {
            let list = ops.pending_verifications().await?;
            crate::print_json(
                "kuajing.identity.v1.ListRealNameVerificationsResponse",
                &kuajing_proto::identity::v1::ListRealNameVerificationsResponse {
                    real_name_verifications: list,
                    page: None,
                },
            )
        }
        OperatorCmd::Approve { verification_id } => {
            let v = ops.review(&verification_id, None).await?;
            crate::print_json("kuajing.identity.v1.RealNameVerification", &v)
        }
        OperatorCmd::Reject {
            verification_id,
            reason,
        } => {
            let v = ops.review(&verification_id, Some(&reason)).await?;
            crate::print_json("kuajing.identity.v1.RealNameVerification", &v)
        }
        OperatorCmd::Supplier {
            account_id,
            paid,
            free,
            trustpass,
            cross_border_pay,
            bad_credit_record,
            violation_points,
            risk_flags,
            reason,
        } => {
            let change = SupplierChange {
                paid: (paid || free).then_some(paid),
                trustpass,
                cross_border_pay,
                bad_credit_record,
                violation_points,
                risk_flags: risk_flags
                    .map(|flags| flags.into_iter().filter(|f| !f.is_empty()).collect()),
            };
            let p = ops.update_supplier(&account_id, &change, &reason).await?;
            crate::print_json("kuajing.identity.v1.SupplierProfile", &p)
        }
        OperatorCmd::Complaint {
            account_id,
            reference,
            serious,
            description,
        } => {
            let r = ops
                .record_complaint(&account_id, &reference, serious, &description)
                .await?;
            crate::print_json("kuajing.identity.v1.RecordIpComplaintResponse", &r)
        }
        OperatorCmd::Rate {
            base,
            quote,
            mid_rate,
            reason,
        } => {
            let r = ops.set_rate(&base, &quote, &mid_rate, &reason).await?;
            crate::print_json("kuajing.fx.v1.Rate", &r)
        }
        OperatorCmd::Quotas {
            account_id,
            credit,
            fx,
            reason,
        } => {
            let q = ops
                .set_quotas(&account_id, &credit, fx.as_deref(), &reason)
                .await?;
            crate::print_json("kuajing.order.v1.SupplierQuotas", &q)
        }
        OperatorCmd::Decisions { mandate_id, limit } => {
            let list = ops.decisions(&mandate_id, limit).await?;
            crate::print_json(
                "kuajing.authorization.v1.ListDecisionsResponse",
                &kuajing_proto::authorization::v1::ListDecisionsResponse {
                    decisions: list,
                    page: None,
                },
            )
        }
    }
}
