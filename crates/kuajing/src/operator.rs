//! An operator's work on a running platform, as `kuajing operator ...` does it: review
//! real-name verifications, set supplier profiles, record IP complaints, set rates, read
//! the decision log. Each command calls the service that owns the rule with the operator
//! credential (`<data dir>/operator.token`) as the operator account `kuajing up` made
//! (`<data dir>/operator.json`): identity refuses operator work from anyone else.
//!
//! `kuajing up` makes that first operator on its first start: an account registered and
//! confirmed through identity's own RPCs, granted the operator role as a provisioning step
//! (the grant a platform team makes with KJ_IDENTITY_OPERATOR_ACCOUNT_IDS in production),
//! kept across restarts.

use std::path::{Path, PathBuf};

use anyhow::Context;
use kuajing_platform::auth::SUBJECT_HEADER;
use kuajing_proto::authorization::v1 as apb;
use kuajing_proto::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use kuajing_proto::fx::v1 as fxp;
use kuajing_proto::fx::v1::fx_service_client::FxServiceClient;
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::identity::v1::identity_service_client::IdentityServiceClient;
use kuajing_proto::wallet::v1 as wpb;
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use serde::{Deserialize, Serialize};
use sqlx::{ConnectOptions, Connection};

use crate::parties::{Authed, Reach, Token, rid};

/// The operator `kuajing up` made, as kept in `<data dir>/operator.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OperatorAccount {
    /// The operator's identity account.
    pub account_id: String,
    /// Its member name (sign-in).
    pub member_name: String,
    /// Its password.
    pub password: String,
}

/// Where the operator account is kept.
pub fn account_file(data_dir: &Path) -> PathBuf {
    data_dir.join("operator.json")
}

/// Reads the operator account from `data_dir`.
pub fn read_account(data_dir: &Path) -> anyhow::Result<OperatorAccount> {
    let path = account_file(data_dir);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (written by `kuajing up`; is the platform running with this --data-dir?)",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The first operator of a sandbox platform: the one in `data_dir` when identity still
/// knows it (its grant renewed), else a new account registered, confirmed and granted.
/// Returns it and whether it is new.
pub async fn bootstrap(reach: &Reach, data_dir: &Path) -> anyhow::Result<(OperatorAccount, bool)> {
    if let Ok(known) = read_account(data_dir)
        && reach
            .sign_in_with(&known.member_name, &known.password)
            .await
            .is_ok()
    {
        grant(reach, &known.account_id).await?;
        return Ok((known, false));
    }
    let member_name = crate::parties::unique("operator_");
    let password = format!("Kj-{}-9x", &uuid::Uuid::now_v7().simple().to_string()[16..]);
    let account_id = reach
        .register(idp::RegisterAccountRequest {
            request_id: rid(),
            member_name: member_name.clone(),
            account_type: idp::AccountType::Personal as i32,
            role: idp::AccountRole::Buyer as i32,
            region_code: "CN".to_owned(),
            display_name: "Platform operator".to_owned(),
            email: format!("{member_name}@operators.kuajing.example"),
            mobile: String::new(),
            password: password.clone(),
        })
        .await
        .context("registering the first operator")?;
    grant(reach, &account_id).await?;
    let account = OperatorAccount {
        account_id,
        member_name,
        password,
    };
    std::fs::create_dir_all(data_dir)?;
    crate::write_private(
        &account_file(data_dir),
        &serde_json::to_string_pretty(&account)?,
    )?;
    Ok((account, true))
}

/// Grants the operator role as a provisioning step, kept across restarts (BOOTSTRAP).
async fn grant(reach: &Reach, account_id: &str) -> anyhow::Result<()> {
    let mut conn = reach.database.connect().await?;
    sqlx::query(
        "INSERT INTO identity.operator_grants (account_id, granted_at, source)
         VALUES ($1::uuid, now(), 'BOOTSTRAP') ON CONFLICT (account_id) DO NOTHING",
    )
    .bind(account_id)
    .execute(&mut conn)
    .await
    .context("granting the operator role")?;
    conn.close().await?;
    Ok(())
}

/// An operator at work: the operator credential, acting as the operator account.
#[derive(Clone)]
pub struct Operator {
    identity: IdentityServiceClient<Authed>,
    fx: FxServiceClient<Authed>,
    authorization: AuthorizationServiceClient<Authed>,
    wallet: WalletServiceClient<Authed>,
    account_id: String,
}

fn channel(url: &str, token: &str) -> anyhow::Result<Authed> {
    Ok(tonic::service::interceptor::InterceptedService::new(
        crate::parties::balanced("peer", url)?,
        Token::new(token)?,
    ))
}

impl Operator {
    /// An operator calling the services at `urls` (by short name) with `token`.
    pub fn new(
        urls: &std::collections::BTreeMap<String, String>,
        token: &str,
        account_id: &str,
    ) -> anyhow::Result<Operator> {
        let url = |name: &str| {
            urls.get(name)
                .cloned()
                .with_context(|| format!("no address for {name}"))
        };
        Ok(Operator {
            identity: IdentityServiceClient::new(channel(&url("identity")?, token)?),
            fx: FxServiceClient::new(channel(&url("fx")?, token)?),
            authorization: AuthorizationServiceClient::new(channel(&url("authorization")?, token)?),
            wallet: WalletServiceClient::new(channel(&url("wallet")?, token)?),
            account_id: account_id.to_owned(),
        })
    }

    /// A request made as the operator account.
    fn acting<T>(&self, message: T) -> anyhow::Result<tonic::Request<T>> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert(
            SUBJECT_HEADER,
            self.account_id.parse().context("account id")?,
        );
        Ok(request)
    }

    /// Real-name verifications waiting for review, oldest first.
    pub async fn pending_verifications(&self) -> anyhow::Result<Vec<idp::RealNameVerification>> {
        Ok(self
            .identity
            .clone()
            .list_real_name_verifications(self.acting(idp::ListRealNameVerificationsRequest {
                status: idp::RealNameStatus::Pending as i32,
                ..Default::default()
            })?)
            .await?
            .into_inner()
            .real_name_verifications)
    }

    /// Approves a verification, or rejects it with `rejection` as the reason.
    pub async fn review(
        &self,
        verification_id: &str,
        rejection: Option<&str>,
    ) -> anyhow::Result<idp::RealNameVerification> {
        let (decision, reason) = match rejection {
            None => (idp::ReviewDecision::Approve, String::new()),
            Some(r) => (idp::ReviewDecision::Reject, r.to_owned()),
        };
        self.identity
            .clone()
            .review_real_name_verification(self.acting(idp::ReviewRealNameVerificationRequest {
                request_id: rid(),
                real_name_verification_id: verification_id.to_owned(),
                decision: decision as i32,
                rejection_reason: reason,
            })?)
            .await?
            .into_inner()
            .real_name_verification
            .context("a verification")
    }

    /// Changes the supplier profile fields in `change` (only those set).
    pub async fn update_supplier(
        &self,
        account_id: &str,
        change: &SupplierChange,
        reason: &str,
    ) -> anyhow::Result<idp::SupplierProfile> {
        let mut profile = idp::SupplierProfile {
            account_id: account_id.to_owned(),
            ..Default::default()
        };
        let mut paths = Vec::new();
        if let Some(paid) = change.paid {
            profile.membership = if paid {
                idp::SupplierMembership::Paid
            } else {
                idp::SupplierMembership::Free
            } as i32;
            paths.push("membership");
        }
        if let Some(on) = change.trustpass {
            profile.trustpass_active = on;
            paths.push("trustpass_active");
        }
        if let Some(on) = change.cross_border_pay {
            profile.cross_border_pay_enabled = on;
            paths.push("cross_border_pay_enabled");
        }
        if let Some(on) = change.bad_credit_record {
            profile.bad_credit_record = on;
            paths.push("bad_credit_record");
        }
        if let Some(points) = change.violation_points {
            profile.violation_points = points;
            paths.push("violation_points");
        }
        if let Some(flags) = &change.risk_flags {
            profile.risk_flags = flags.clone();
            paths.push("risk_flags");
        }
        anyhow::ensure!(
            !paths.is_empty(),
            "nothing to change: name at least one field"
        );
        self.identity
            .clone()
            .update_supplier_profile(self.acting(idp::UpdateSupplierProfileRequest {
                request_id: rid(),
                supplier_profile: Some(profile),
                update_mask: Some(prost_types::FieldMask {
                    paths: paths.into_iter().map(str::to_owned).collect(),
                }),
                reason: reason.to_owned(),
            })?)
            .await?
            .into_inner()
            .supplier_profile
            .context("a profile")
    }

    /// Records an IP-infringement complaint against a supplier account.
    pub async fn record_complaint(
        &self,
        account_id: &str,
        reference: &str,
        serious: bool,
        description: &str,
    ) -> anyhow::Result<idp::RecordIpComplaintResponse> {
        Ok(self
            .identity
            .clone()
            .record_ip_complaint(self.acting(idp::RecordIpComplaintRequest {
                request_id: rid(),
                account_id: account_id.to_owned(),
                complaint_reference: reference.to_owned(),
                serious,
                description: description.to_owned(),
                complaint_time: None,
            })?)
            .await?
            .into_inner())
    }

    /// Sets a mid rate (quote units per one base unit).
    pub async fn set_rate(
        &self,
        base: &str,
        quote: &str,
        mid_rate: &str,
        reason: &str,
    ) -> anyhow::Result<fxp::Rate> {
        self.fx
            .clone()
            .set_rate(self.acting(fxp::SetRateRequest {
                request_id: rid(),
                base_currency_code: base.to_owned(),
                quote_currency_code: quote.to_owned(),
                mid_rate: mid_rate.to_owned(),
                reason: reason.to_owned(),
            })?)
            .await?
            .into_inner()
            .rate
            .context("a rate")
    }

    /// The payment decision log, newest first (of one mandate, when named).
    pub async fn decisions(
        &self,
        mandate_id: &str,
        page_size: i32,
    ) -> anyhow::Result<Vec<apb::Decision>> {
        Ok(self
            .authorization
            .clone()
            .list_decisions(self.acting(apb::ListDecisionsRequest {
                mandate_id: mandate_id.to_owned(),
                page: Some(kuajing_proto::types::PageRequest {
                    page_size,
                    page_token: String::new(),
                }),
                ..Default::default()
            })?)
            .await?
            .into_inner()
            .decisions)
    }

    /// The platform's own ledger accounts of `kind` (fee revenue, escrow, ...).
    pub async fn ledger_accounts(
        &self,
        kind: wpb::LedgerAccountKind,
    ) -> anyhow::Result<Vec<wpb::LedgerAccount>> {
        Ok(self
            .wallet
            .clone()
            // Wallet knows no operator accounts: the operator credential alone (a subject
            // would be read as a person who owns no platform account).
            .list_ledger_accounts(wpb::ListLedgerAccountsRequest {
                kind: kind as i32,
                ..Default::default()
            })
            .await?
            .into_inner()
            .ledger_accounts)
    }
}

/// Supplier profile fields to change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct SupplierChange {
    /// Paid (true) or free (false) member.
    pub paid: Option<bool>,
    /// TrustPass (诚信通) membership active.
    pub trustpass: Option<bool>,
    /// Cross-border pay enabled.
    pub cross_border_pay: Option<bool>,
    /// A bad-credit record.
    pub bad_credit_record: Option<bool>,
    /// Violation points.
    pub violation_points: Option<i32>,
    /// Risk flags (replaces them all).
    pub risk_flags: Option<Vec<String>>,
}
