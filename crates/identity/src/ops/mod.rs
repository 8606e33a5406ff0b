//! identity's use cases: proto in, domain rules applied, store written, proto out (the gRPC
//! mapping is `crate::api`). One module per part of the contract; this one holds what they
//! share: the service state, the `kj-subject` ownership checks, validation and error
//! helpers.
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

use kuajing_proto::reasons::identity as reasons;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use kuajing_platform::ErrorDomain;
use kuajing_platform::clock::Clock;
use kuajing_platform::error::internal;
use prost::Message;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use uuid::Uuid;

use crate::keys::KeyRing;
use crate::outcome::{self, Begun};
use crate::secrets::{Hasher, Secrets};
use crate::sender::CodeSender;
use crate::settings::Settings;
use crate::store;

/// identity's error domain (ErrorInfo.domain of every refusal).
pub const DOMAIN: ErrorDomain = ErrorDomain("identity.kuajing");

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
            reasons::NOT_OWNER,
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
                reasons::OPERATOR_REQUIRED,
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
