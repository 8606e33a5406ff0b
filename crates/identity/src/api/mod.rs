//! `kuajing.identity.v1.IdentityService`: proto in, domain rules applied, store written,
//! proto out. One module per part of the contract; this one holds what they share: the
//! service state, the `kj-subject` ownership checks, validation and error helpers.
//!
//! Every request is validated completely before anything is read or written; bad input
//! answers INVALID_ARGUMENT with one field violation per bad field (ErrorInfo reason
//! VALIDATION_FAILED unless the contract names another) and writes nothing. Every
//! mutating RPC runs in one transaction with its idempotency record (see `outcome`).
//!
//! Callers and credentials are a later issue: a request without `kj-subject` is trusted to
//! act as the caller vouches (edge during onboarding, services acting for the system).
//! When `kj-subject` is present, the subject must own the resource or be an operator.

mod account_changes;
mod accounts;
mod admission;
mod audit;
mod codes;
mod convert;
mod linked;
mod operators;
mod pin;
mod real_name;
mod sessions;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use kuajing_platform::clock::Clock;
use kuajing_platform::error::internal;
use kuajing_platform::{ErrorDomain, FieldViolations};
use kuajing_proto::identity::v1::identity_service_server::IdentityService;
use kuajing_proto::identity::v1::*;
use prost::Message;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};
use uuid::Uuid;

use crate::keys::KeyRing;
use crate::outcome::{self, Begun};
use crate::secrets::{Hasher, Secrets};
use crate::sender::CodeSender;
use crate::settings::Settings;
use crate::store;

/// Reason of INVALID_ARGUMENT answers unless the contract names another.
const VALIDATION_FAILED: &str = "VALIDATION_FAILED";

/// Everything the handlers share.
pub struct State {
    pub pool: PgPool,
    pub errors: ErrorDomain,
    pub clock: Clock,
    pub settings: Settings,
    pub secrets: Secrets,
    pub hasher: Hasher,
    pub keys: std::sync::Arc<KeyRing>,
    pub sender: Arc<dyn CodeSender>,
    /// A password hash to verify against when a login names no account, so that an
    /// unknown identifier takes as long as a wrong password.
    pub dummy_password_hash: String,
    /// The key operators' and auditors' tokens are signed with, when configured.
    pub operator_key: Option<ed25519_dalek::SigningKey>,
}

/// The gRPC handler.
pub struct Api {
    state: Arc<State>,
}

impl Api {
    /// A handler on the service state.
    pub fn new(state: State) -> Self {
        Api {
            state: Arc::new(state),
        }
    }
}

pub use kuajing_platform::auth::Subject;

/// A mutating request's start: its recorded answer, or a transaction and a claimed key.
pub enum Started<R> {
    Replay(Result<R, Status>),
    Fresh(
        Transaction<'static, Postgres>,
        kuajing_platform::idempotency::Key,
    ),
}

/// Database errors are bugs or outages: INTERNAL, cause logged, nothing told.
pub fn db(e: sqlx::Error) -> Status {
    internal(e)
}

/// Validation: field violations plus the contract's ErrorInfo reason (VALIDATION_FAILED,
/// or the specific reason of a violation when it is the only one).
pub struct Check {
    violations: FieldViolations,
    count: usize,
    special: Option<&'static str>,
}

impl Check {
    pub fn new() -> Check {
        Check {
            violations: FieldViolations::new(),
            count: 0,
            special: None,
        }
    }

    /// Records a violation.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.count += 1;
        self.violations.add(field, description);
    }

    /// Records a violation with its own ErrorInfo reason (used when it is the only one).
    pub fn add_with_reason(
        &mut self,
        reason: &'static str,
        field: impl Into<String>,
        description: impl Into<String>,
    ) {
        self.special = Some(reason);
        self.add(field, description);
    }

    /// Records `result`'s error on `field`.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e);
                None
            }
        }
    }

    /// A required UUID.
    pub fn uuid(&mut self, field: &str, value: &str) -> Option<Uuid> {
        if value.is_empty() {
            self.check::<()>(field, Err("is required".to_owned()));
            return None;
        }
        self.check(
            field,
            Uuid::try_parse(value).map_err(|_| "must be a UUID".to_owned()),
        )
    }

    /// The request id: a UUID chosen by the caller.
    pub fn request_id(&mut self, value: &str) {
        if value.is_empty() {
            self.check::<()>(
                "request_id",
                Err("is required (a UUID chosen by the caller)".to_owned()),
            );
        } else if Uuid::try_parse(value).is_err() {
            self.check::<()>("request_id", Err("must be a UUID".to_owned()));
        }
    }

    /// A required enum: known and not UNSPECIFIED.
    pub fn enumeration<E: TryFrom<i32>>(&mut self, field: &str, value: i32) -> Option<E> {
        if value == 0 {
            self.check::<()>(field, Err("is required".to_owned()));
            return None;
        }
        self.check(
            field,
            E::try_from(value).map_err(|_| format!("unknown value {value}")),
        )
    }

    /// Page request.
    pub fn page(
        &mut self,
        page: Option<&kuajing_proto::types::PageRequest>,
    ) -> kuajing_platform::page::Page {
        let before = self.violations.len();
        let p = kuajing_platform::page::Page::from_proto("page", page, &mut self.violations);
        self.count += self.violations.len() - before;
        p
    }

    /// A time range filter: (from, until).
    pub fn time_range(
        &mut self,
        field: &str,
        range: Option<&kuajing_proto::types::TimeRange>,
    ) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let before = self.violations.len();
        let bounds = self.violations.time_range(field, range);
        self.count += self.violations.len() - before;
        bounds
    }

    /// INVALID_ARGUMENT when anything was recorded.
    pub fn finish(self) -> Result<(), Status> {
        let status = match self.violations.finish() {
            Ok(()) => return Ok(()),
            Err(status) => status,
        };
        let reason = match self.special {
            Some(r) if self.count == 1 => r,
            _ => VALIDATION_FAILED,
        };
        let mut details = status.get_error_details();
        details.set_error_info(reason, "identity.kuajing", HashMap::new());
        Err(Status::with_error_details(
            status.code(),
            status.message(),
            details,
        ))
    }
}

impl Default for Check {
    fn default() -> Self {
        Check::new()
    }
}

/// Takes a value validation has vouched for.
pub fn checked<T>(value: Option<T>) -> Result<T, Status> {
    value.ok_or_else(|| internal("validation passed a missing value"))
}

impl State {
    /// Now, by the service clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Claims the request id in a new transaction, or returns the recorded answer.
    pub async fn start<Req: Message, R: Message + Default>(
        &self,
        method: &str,
        request_id: &str,
        request: &Req,
    ) -> Result<Started<R>, Status> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let hash = self.secrets.request_fingerprint(method, request);
        match outcome::begin(&mut tx, self.errors, method, request_id, hash).await? {
            Begun::Replay(answer) => Ok(Started::Replay(answer)),
            Begun::Fresh(key) => Ok(Started::Fresh(tx, key)),
        }
    }

    /// A business refusal.
    pub fn refuse(&self, code: Code, reason: &str, message: impl Into<String>) -> Status {
        self.errors.refuse(code, reason, message)
    }

    /// A business refusal with metadata.
    pub fn refuse_with(
        &self,
        code: Code,
        reason: &str,
        message: impl Into<String>,
        metadata: &[(&str, String)],
    ) -> Status {
        self.errors.refuse_with(
            code,
            reason,
            message,
            metadata
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    /// A state refusal: FAILED_PRECONDITION with a PreconditionFailure.
    pub fn precondition(
        &self,
        reason: &str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Status {
        self.errors.precondition(reason, subject, message)
    }

    /// NOT_FOUND / RESOURCE_NOT_FOUND naming the resource.
    pub fn not_found(&self, resource_type: &str, name: impl ToString) -> Status {
        self.errors.not_found(resource_type, name.to_string())
    }

    /// NOT_FOUND with its own reason, naming the resource.
    pub fn not_found_as(&self, reason: &str, resource_type: &str, name: impl ToString) -> Status {
        let name = name.to_string();
        let message = format!("{resource_type} {name} not found");
        let mut details = ErrorDetails::with_error_info(reason, self.errors.0, HashMap::new());
        details.set_resource_info(resource_type, name, "", message.clone());
        Status::with_error_details(Code::NotFound, message, details)
    }

    /// RESOURCE_EXHAUSTED with RetryInfo (locks and resend waits).
    pub fn retry_later(
        &self,
        reason: &str,
        message: impl Into<String>,
        wait: Duration,
        metadata: &[(&str, String)],
    ) -> Status {
        let meta: HashMap<String, String> = metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let mut details = ErrorDetails::with_error_info(reason, self.errors.0, meta);
        details.set_retry_info(Some(wait.to_std().unwrap_or_default()));
        Status::with_error_details(Code::ResourceExhausted, message, details)
    }

    /// NOT_OWNER.
    pub fn not_owner(&self) -> Status {
        self.refuse(
            Code::PermissionDenied,
            "NOT_OWNER",
            "the subject does not own this resource",
        )
    }

    /// Whether the subject may act on a resource owned by `owner`: no subject (the caller
    /// vouches), the owner itself, or an operator.
    pub async fn authorize(
        &self,
        conn: &mut PgConnection,
        subject: Subject,
        owner: Uuid,
    ) -> Result<(), Status> {
        match subject.0 {
            None => Ok(()),
            Some(s) if s == owner => Ok(()),
            Some(s) => {
                if store::accounts::is_operator(conn, s).await.map_err(db)? {
                    Ok(())
                } else {
                    Err(self.not_owner())
                }
            }
        }
    }

    /// The operator acting; OPERATOR_REQUIRED without one.
    pub async fn operator(
        &self,
        conn: &mut PgConnection,
        subject: Subject,
    ) -> Result<Uuid, Status> {
        let refuse = || {
            self.refuse(
                Code::PermissionDenied,
                "OPERATOR_REQUIRED",
                "this RPC is for operators (kj-subject must name an operator account)",
            )
        };
        let id = subject.0.ok_or_else(refuse)?;
        if store::accounts::is_operator(conn, id).await.map_err(db)? {
            Ok(id)
        } else {
            Err(refuse())
        }
    }
}

fn respond<T>(result: Result<T, Status>) -> Result<Response<T>, Status> {
    result.map(Response::new)
}

#[tonic::async_trait]
impl IdentityService for Api {
    async fn register_account(
        &self,
        r: Request<RegisterAccountRequest>,
    ) -> Result<Response<RegisterAccountResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.register_account(s, r.into_inner()).await)
    }

    async fn get_account(
        &self,
        r: Request<GetAccountRequest>,
    ) -> Result<Response<GetAccountResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.get_account(s, r.into_inner()).await)
    }

    async fn send_verification_code(
        &self,
        r: Request<SendVerificationCodeRequest>,
    ) -> Result<Response<SendVerificationCodeResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        // The verified calling service, when service credentials are checked.
        let caller = kuajing_platform::auth::Caller::of(&r).map(|c| c.service.clone());
        respond(
            self.state
                .send_verification_code(s, caller.as_deref(), r.into_inner())
                .await,
        )
    }

    async fn verify_code(
        &self,
        r: Request<VerifyCodeRequest>,
    ) -> Result<Response<VerifyCodeResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.verify_code(s, r.into_inner()).await)
    }

    async fn confirm_contact(
        &self,
        r: Request<ConfirmContactRequest>,
    ) -> Result<Response<ConfirmContactResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.confirm_contact(s, r.into_inner()).await)
    }

    async fn login(&self, r: Request<LoginRequest>) -> Result<Response<LoginResponse>, Status> {
        respond(self.state.login(r.into_inner()).await)
    }

    async fn refresh_token(
        &self,
        r: Request<RefreshTokenRequest>,
    ) -> Result<Response<RefreshTokenResponse>, Status> {
        respond(self.state.refresh_token(r.into_inner()).await)
    }

    async fn logout(&self, r: Request<LogoutRequest>) -> Result<Response<LogoutResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.logout(s, r.into_inner()).await)
    }

    async fn list_verification_keys(
        &self,
        r: Request<ListVerificationKeysRequest>,
    ) -> Result<Response<ListVerificationKeysResponse>, Status> {
        respond(self.state.list_verification_keys(r.into_inner()).await)
    }

    async fn submit_real_name_verification(
        &self,
        r: Request<SubmitRealNameVerificationRequest>,
    ) -> Result<Response<SubmitRealNameVerificationResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(
            self.state
                .submit_real_name_verification(s, r.into_inner())
                .await,
        )
    }

    async fn get_real_name_verification(
        &self,
        r: Request<GetRealNameVerificationRequest>,
    ) -> Result<Response<GetRealNameVerificationResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(
            self.state
                .get_real_name_verification(s, r.into_inner())
                .await,
        )
    }

    async fn list_real_name_verifications(
        &self,
        r: Request<ListRealNameVerificationsRequest>,
    ) -> Result<Response<ListRealNameVerificationsResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(
            self.state
                .list_real_name_verifications(s, r.into_inner())
                .await,
        )
    }

    async fn review_real_name_verification(
        &self,
        r: Request<ReviewRealNameVerificationRequest>,
    ) -> Result<Response<ReviewRealNameVerificationResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(
            self.state
                .review_real_name_verification(s, r.into_inner())
                .await,
        )
    }

    async fn bind_marketplace_account(
        &self,
        r: Request<BindMarketplaceAccountRequest>,
    ) -> Result<Response<BindMarketplaceAccountResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.bind_marketplace_account(s, r.into_inner()).await)
    }

    async fn unbind_marketplace_account(
        &self,
        r: Request<UnbindMarketplaceAccountRequest>,
    ) -> Result<Response<UnbindMarketplaceAccountResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(
            self.state
                .unbind_marketplace_account(s, r.into_inner())
                .await,
        )
    }

    async fn get_linked_account(
        &self,
        r: Request<GetLinkedAccountRequest>,
    ) -> Result<Response<GetLinkedAccountResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.get_linked_account(s, r.into_inner()).await)
    }

    async fn list_linked_accounts(
        &self,
        r: Request<ListLinkedAccountsRequest>,
    ) -> Result<Response<ListLinkedAccountsResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.list_linked_accounts(s, r.into_inner()).await)
    }

    async fn get_supplier_profile(
        &self,
        r: Request<GetSupplierProfileRequest>,
    ) -> Result<Response<GetSupplierProfileResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.get_supplier_profile(s, r.into_inner()).await)
    }

    async fn update_supplier_profile(
        &self,
        r: Request<UpdateSupplierProfileRequest>,
    ) -> Result<Response<UpdateSupplierProfileResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.update_supplier_profile(s, r.into_inner()).await)
    }

    async fn record_ip_complaint(
        &self,
        r: Request<RecordIpComplaintRequest>,
    ) -> Result<Response<RecordIpComplaintResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.record_ip_complaint(s, r.into_inner()).await)
    }

    async fn check_supplier_admission(
        &self,
        r: Request<CheckSupplierAdmissionRequest>,
    ) -> Result<Response<CheckSupplierAdmissionResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.check_supplier_admission(s, r.into_inner()).await)
    }

    async fn open_supplier_program(
        &self,
        r: Request<OpenSupplierProgramRequest>,
    ) -> Result<Response<OpenSupplierProgramResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.open_supplier_program(s, r.into_inner()).await)
    }

    async fn set_payment_pin(
        &self,
        r: Request<SetPaymentPinRequest>,
    ) -> Result<Response<SetPaymentPinResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.set_payment_pin(s, r.into_inner()).await)
    }

    async fn verify_payment_pin(
        &self,
        r: Request<VerifyPaymentPinRequest>,
    ) -> Result<Response<VerifyPaymentPinResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.verify_payment_pin(s, r.into_inner()).await)
    }

    async fn list_security_events(
        &self,
        r: Request<ListSecurityEventsRequest>,
    ) -> Result<Response<ListSecurityEventsResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.list_security_events(s, r.into_inner()).await)
    }

    async fn start_contact_change(
        &self,
        r: Request<StartContactChangeRequest>,
    ) -> Result<Response<StartContactChangeResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.start_contact_change(s, r.into_inner()).await)
    }

    async fn confirm_contact_change(
        &self,
        r: Request<ConfirmContactChangeRequest>,
    ) -> Result<Response<ConfirmContactChangeResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.confirm_contact_change(s, r.into_inner()).await)
    }

    async fn start_password_reset(
        &self,
        r: Request<StartPasswordResetRequest>,
    ) -> Result<Response<StartPasswordResetResponse>, Status> {
        respond(self.state.start_password_reset(r.into_inner()).await)
    }

    async fn reset_password(
        &self,
        r: Request<ResetPasswordRequest>,
    ) -> Result<Response<ResetPasswordResponse>, Status> {
        respond(self.state.reset_password(r.into_inner()).await)
    }

    async fn list_revoked_sessions(
        &self,
        r: Request<ListRevokedSessionsRequest>,
    ) -> Result<Response<ListRevokedSessionsResponse>, Status> {
        respond(self.state.list_revoked_sessions(r.into_inner()).await)
    }

    async fn change_password(
        &self,
        r: Request<ChangePasswordRequest>,
    ) -> Result<Response<ChangePasswordResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.change_password(s, r.into_inner()).await)
    }

    async fn enroll_operator_factor(
        &self,
        r: Request<EnrollOperatorFactorRequest>,
    ) -> Result<Response<EnrollOperatorFactorResponse>, Status> {
        respond(self.state.enroll_operator_factor(r.into_inner()).await)
    }

    async fn sign_in_operator(
        &self,
        r: Request<SignInOperatorRequest>,
    ) -> Result<Response<SignInOperatorResponse>, Status> {
        respond(self.state.sign_in_operator(r.into_inner()).await)
    }

    async fn sign_out_operator(
        &self,
        r: Request<SignOutOperatorRequest>,
    ) -> Result<Response<SignOutOperatorResponse>, Status> {
        use kuajing_platform::auth::{NamedPerson, SignInSession};
        let person = r.extensions().get::<NamedPerson>().map(|p| p.0);
        let session = r.extensions().get::<SignInSession>().map(|s| s.0);
        let signed_in = person.zip(session);
        respond(
            self.state
                .sign_out_operator(signed_in, r.into_inner())
                .await,
        )
    }
}
