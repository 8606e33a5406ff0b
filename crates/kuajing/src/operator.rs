//! An operator's work on a running platform, as `kuajing operator ...` does it: review
//! real-name verifications, set supplier profiles, record IP complaints, set rates, read
//! the decision log and the operator audit log. Each command calls the service that owns
//! the rule with the operator's own token: signed in through edge with the password and a
//! TOTP code (SignInOperator), one hour, kept in `<data dir>/operator.token` and renewed
//! when it runs out. Every call it makes lands in the services' operator audit log.
//!
//! `kuajing up` makes that first operator on its first start: an account registered and
//! confirmed through identity's own RPCs, granted the operator role as a provisioning step
//! (the grant a platform team makes with KJ_IDENTITY_OPERATOR_ACCOUNT_IDS in production),
//! its second factor enrolled as a person would (the secret kept in
//! `<data dir>/operator.json`, where an authenticator app would keep it), kept across
//! restarts.

use std::path::{Path, PathBuf};

use anyhow::Context;
use kuajing_platform::auth::SUBJECT_HEADER;
use kuajing_proto::audit::v1 as aupb;
use kuajing_proto::audit::v1::audit_service_client::AuditServiceClient;
use kuajing_proto::authorization::v1 as apb;
use kuajing_proto::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use kuajing_proto::edge::v1 as epb;
use kuajing_proto::edge::v1::edge_service_client::EdgeServiceClient;
use kuajing_proto::fx::v1 as fxp;
use kuajing_proto::fx::v1::fx_service_client::FxServiceClient;
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::identity::v1::identity_service_client::IdentityServiceClient;
use kuajing_proto::order::v1 as opb;
use kuajing_proto::order::v1::order_service_client::OrderServiceClient;
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
    /// Its second factor's TOTP secret (base32), as an authenticator app would hold it.
    #[serde(default)]
    pub totp_secret: String,
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
/// knows it (its grant renewed), else a new account registered, confirmed and granted;
/// either way with its second factor enrolled and signed in, its token in
/// `<data dir>/operator.token`. Returns it and whether it is new.
pub async fn bootstrap(reach: &Reach, data_dir: &Path) -> anyhow::Result<(OperatorAccount, bool)> {
    let edge = reach
        .urls
        .get("edge")
        .context("no address for edge")?
        .clone();
    if let Ok(mut known) = read_account(data_dir)
        && reach
            .sign_in_with(&known.member_name, &known.password)
            .await
            .is_ok()
    {
        grant(reach, &known.account_id, "OPERATOR").await?;
        if kuajing_identity::domain::totp::from_base32(&known.totp_secret)
            .is_none_or(|s| s.is_empty())
        {
            // Kept before operators had a second factor: enrol one.
            known.totp_secret = enroll(reach, &edge, &known).await?;
            write_account(data_dir, &known)?;
        }
        renew_token(data_dir, &edge, &known).await?;
        return Ok((known, false));
    }
    let account = provision(reach, "operator_", "Platform operator", "OPERATOR").await?;
    write_account(data_dir, &account)?;
    renew_token(data_dir, &edge, &account).await?;
    Ok((account, true))
}

/// A new person with `role` (OPERATOR, or AUDITOR: reads the operator audit log only):
/// registered and confirmed through identity's RPCs, granted as a provisioning step (the
/// row KJ_IDENTITY_OPERATOR_ACCOUNT_IDS or KJ_IDENTITY_AUDITOR_ACCOUNT_IDS makes in
/// production), second factor enrolled through edge.
pub async fn provision(
    reach: &Reach,
    prefix: &str,
    display_name: &str,
    role: &str,
) -> anyhow::Result<OperatorAccount> {
    let edge = reach
        .urls
        .get("edge")
        .context("no address for edge")?
        .clone();
    let member_name = crate::parties::unique(prefix);
    let password = format!("Kj-{}-9x", &uuid::Uuid::now_v7().simple().to_string()[16..]);
    let account_id = reach
        .register(idp::RegisterAccountRequest {
            request_id: rid(),
            member_name: member_name.clone(),
            account_type: idp::AccountType::Personal as i32,
            role: idp::AccountRole::Buyer as i32,
            region_code: "CN".to_owned(),
            display_name: display_name.to_owned(),
            email: format!("{member_name}@operators.kuajing.example"),
            mobile: String::new(),
            password: password.clone(),
        })
        .await
        .with_context(|| format!("registering {display_name}"))?;
    grant(reach, &account_id, role).await?;
    let mut account = OperatorAccount {
        account_id,
        member_name,
        password,
        totp_secret: String::new(),
    };
    account.totp_secret = enroll(reach, &edge, &account).await?;
    Ok(account)
}

fn write_account(data_dir: &Path, account: &OperatorAccount) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    crate::write_private(
        &account_file(data_dir),
        &serde_json::to_string_pretty(account)?,
    )
}

/// Grants `role` as a provisioning step, kept across restarts (BOOTSTRAP).
async fn grant(reach: &Reach, account_id: &str, role: &str) -> anyhow::Result<()> {
    let mut conn = reach.database.connect().await?;
    sqlx::query(
        "INSERT INTO identity.operator_grants (account_id, granted_at, source, role)
         VALUES ($1::uuid, now(), 'BOOTSTRAP', $2) ON CONFLICT (account_id) DO NOTHING",
    )
    .bind(account_id)
    .bind(role)
    .execute(&mut conn)
    .await
    .context("granting the operator role")?;
    conn.close().await?;
    Ok(())
}

/// Enrols the operator's second factor through edge, as a person would with an
/// authenticator app; a factor confirmed earlier whose secret is lost is first reset, the
/// platform team's step (`operator_factors` row removed). Answers the secret (base32).
async fn enroll(reach: &Reach, edge: &str, account: &OperatorAccount) -> anyhow::Result<String> {
    let mut conn = reach.database.connect().await?;
    sqlx::query("DELETE FROM identity.operator_factors WHERE account_id = $1::uuid")
        .bind(&account.account_id)
        .execute(&mut conn)
        .await
        .context("resetting the operator's second factor")?;
    conn.close().await?;
    let mut edge = EdgeServiceClient::new(crate::parties::balanced("edge", edge)?);
    let enrol = |challenge_id: String, code: String| epb::EnrollOperatorFactorRequest {
        request_id: rid(),
        identifier: account.member_name.clone(),
        password: account.password.clone(),
        challenge_id,
        code,
    };
    // The password sends a code to the operator's verified email (the development
    // outbox, here); the password and the code enrol.
    let challenge = edge
        .enroll_operator_factor(enrol(String::new(), String::new()))
        .await
        .context("asking for the operator's enrolment code")?
        .into_inner()
        .challenge
        .context("no enrolment code was sent")?;
    let code = reach.code_in_outbox(&challenge.challenge_id).await?;
    let enrolled = edge
        .enroll_operator_factor(enrol(challenge.challenge_id, code))
        .await
        .context("enrolling the operator's second factor")?
        .into_inner();
    Ok(enrolled.secret)
}

/// Signs the operator in through edge with its password and the authenticator's current
/// code; answers its token (one hour). A code is good once: when this step's was used
/// already (a sign-in moments ago), the next step's is, within the allowed drift.
pub async fn sign_in(edge: &str, account: &OperatorAccount) -> anyhow::Result<String> {
    use kuajing_identity::domain::totp;
    let secret = totp::from_base32(&account.totp_secret)
        .filter(|s| !s.is_empty())
        .context("the operator's TOTP secret (operator.json totp_secret)")?;
    let mut client = EdgeServiceClient::new(crate::parties::balanced("edge", edge)?);
    let step = totp::step_of(chrono::Utc::now().timestamp());
    let mut refused = None;
    for step in [step, step + 1] {
        let answer = client
            .sign_in_operator(epb::SignInOperatorRequest {
                request_id: rid(),
                identifier: account.member_name.clone(),
                password: account.password.clone(),
                totp_code: totp::code_at(&secret, step),
            })
            .await;
        match answer {
            Ok(r) => return Ok(r.into_inner().token),
            Err(s) if s.code() == tonic::Code::Unauthenticated => refused = Some(s),
            Err(s) => return Err(s).context("signing the operator in"),
        }
    }
    Err(refused.map_or_else(|| anyhow::anyhow!("no answer"), anyhow::Error::from))
        .context("signing the operator in")
}

/// Where the operator's current token is kept.
pub fn token_file(data_dir: &Path) -> PathBuf {
    data_dir.join("operator.token")
}

/// Signs in again and keeps the new token in `data_dir`.
async fn renew_token(
    data_dir: &Path,
    edge: &str,
    account: &OperatorAccount,
) -> anyhow::Result<String> {
    let token = sign_in(edge, account).await?;
    crate::write_private(&token_file(data_dir), &token)?;
    Ok(token)
}

/// The operator's token: the kept one while it has five minutes left, else a new sign-in
/// (kept for the next command).
pub async fn token(data_dir: &Path, edge: &str) -> anyhow::Result<String> {
    let kept = std::fs::read_to_string(token_file(data_dir)).unwrap_or_default();
    let fresh_until = chrono::Utc::now() + chrono::Duration::minutes(5);
    if kuajing_platform::auth::token_expiry(kept.trim()).is_some_and(|exp| exp > fresh_until) {
        return Ok(kept.trim().to_owned());
    }
    renew_token(data_dir, edge, &read_account(data_dir)?).await
}

/// An operator at work: the operator credential, acting as the operator account.
#[derive(Clone)]
pub struct Operator {
    token: String,
    audit: Vec<AuditServiceClient<Authed>>,
    identity: IdentityServiceClient<Authed>,
    fx: FxServiceClient<Authed>,
    authorization: AuthorizationServiceClient<Authed>,
    wallet: WalletServiceClient<Authed>,
    order: OrderServiceClient<Authed>,
    account_id: String,
}

/// The services that keep an operator audit log (every one behind the credential check).
pub const AUDITED: [&str; 5] = ["identity", "wallet", "authorization", "order", "fx"];

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
        let mut audit = Vec::new();
        for name in AUDITED {
            audit.push(AuditServiceClient::new(channel(&url(name)?, token)?));
        }
        Ok(Operator {
            token: token.to_owned(),
            audit,
            identity: IdentityServiceClient::new(channel(&url("identity")?, token)?),
            fx: FxServiceClient::new(channel(&url("fx")?, token)?),
            authorization: AuthorizationServiceClient::new(channel(&url("authorization")?, token)?),
            wallet: WalletServiceClient::new(channel(&url("wallet")?, token)?),
            order: OrderServiceClient::new(channel(&url("order")?, token)?),
            account_id: account_id.to_owned(),
        })
    }

    /// The token it calls with.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Ends this token's sign-in: every service refuses it within a minute. Answers how
    /// many sign-ins ended (0 when it had ended already).
    pub async fn sign_out(&self) -> anyhow::Result<i32> {
        let ended = self
            .identity
            .clone()
            .sign_out_operator(idp::SignOutOperatorRequest {
                request_id: rid(),
                all_sessions: false,
            })
            .await
            .context("signing the operator out")?;
        Ok(ended.into_inner().revoked_session_count)
    }

    /// The last `limit` operator actions each audited service recorded, merged by time.
    pub async fn audit_log(&self, limit: i32) -> anyhow::Result<Vec<aupb::OperatorAction>> {
        let mut all = Vec::new();
        for client in &self.audit {
            // The newest `limit`: the log lists oldest first, so page to the end.
            let mut page_token = String::new();
            let mut service = Vec::new();
            loop {
                let r = client
                    .clone()
                    .list_operator_actions(aupb::ListOperatorActionsRequest {
                        page: Some(kuajing_proto::types::PageRequest {
                            page_size: 200,
                            page_token,
                        }),
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                service.extend(r.actions);
                page_token = r.page.map(|p| p.next_page_token).unwrap_or_default();
                if page_token.is_empty() {
                    break;
                }
            }
            let keep = usize::try_from(limit.max(0)).unwrap_or(0);
            all.extend(service.into_iter().rev().take(keep));
        }
        all.sort_by_key(|a| {
            a.request_time
                .as_ref()
                .map(|t| (t.seconds, t.nanos))
                .unwrap_or_default()
        });
        Ok(all)
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

    /// Sets a supplier's credit quota and FX quota (USD amounts; `fx` `None`: no limit).
    pub async fn set_quotas(
        &self,
        supplier: &str,
        credit: &str,
        fx: Option<&str>,
        reason: &str,
    ) -> anyhow::Result<opb::SupplierQuotas> {
        let usd = |amount: &str| kuajing_proto::types::Money {
            currency_code: "USD".to_owned(),
            amount: amount.to_owned(),
        };
        self.order
            .clone()
            .set_supplier_quotas(self.acting(opb::SetSupplierQuotasRequest {
                request_id: rid(),
                supplier_account_id: supplier.to_owned(),
                credit_quota: Some(usd(credit)),
                fx_quota: fx.map(usd),
                reason: reason.to_owned(),
            })?)
            .await?
            .into_inner()
            .quotas
            .context("the quotas")
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
