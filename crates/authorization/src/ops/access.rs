//! Who a request acts for: the person in the `kj-subject` metadata, the ownership check
//! (NOT_OWNER) and operator RPCs (OPERATOR_REQUIRED).
//!
//! Which services may call which RPC (the contract's "Callers:" table) and whether they may
//! name a person is checked by the platform's credential layer before a handler runs. Here:
//! a request without a subject acts as its (verified) caller vouches, a service for the
//! system; with a subject (edge acting for a person it authenticated, or an operator) the
//! subject must own the mandate or be an operator: an account identity lists with the
//! OPERATOR role.

use kuajing_platform::auth::Caller;
use kuajing_proto::identity::v1::AccountRole;
use tonic::{Code, Status};
use uuid::Uuid;

use super::{Ctx, peers};
/// Reason: the subject does not own the resource.
pub use kuajing_proto::reasons::authorization::NOT_OWNER;
/// Reason: an operator-only RPC without an operator subject.
pub use kuajing_proto::reasons::authorization::OPERATOR_REQUIRED;

pub use kuajing_platform::auth::Subject;

/// The calling service named by the request's verified credential (e.g. "order"); empty
/// when no credential was checked.
pub fn caller_service<T>(request: &tonic::Request<T>) -> String {
    Caller::of(request)
        .map(|c| c.service.clone())
        .unwrap_or_default()
}

/// PERMISSION_DENIED / NOT_OWNER.
pub fn not_owner(ctx: &Ctx) -> Status {
    ctx.errors().refuse(
        Code::PermissionDenied,
        NOT_OWNER,
        "the subject does not own this mandate",
    )
}

/// True when `account_id` is an operator (identity lists the OPERATOR role).
pub async fn is_operator_account(ctx: &Ctx, account_id: Uuid) -> Result<bool, Status> {
    Ok(peers::account(ctx, account_id)
        .await?
        .is_some_and(|a| a.roles.contains(&(AccountRole::Operator as i32))))
}

/// True when the subject is an operator.
pub async fn is_operator(ctx: &Ctx, subject: Subject) -> Result<bool, Status> {
    match subject.0 {
        None => Ok(false),
        Some(id) => is_operator_account(ctx, id).await,
    }
}

/// The subject may act on a resource owned by `owner`: no subject (the caller vouches),
/// the owner itself, or an operator.
pub async fn check_owner(ctx: &Ctx, subject: Subject, owner: Uuid) -> Result<(), Status> {
    match subject.0 {
        None => Ok(()),
        Some(s) if s == owner => Ok(()),
        Some(s) => {
            if is_operator_account(ctx, s).await? {
                Ok(())
            } else {
                Err(not_owner(ctx))
            }
        }
    }
}

/// The operator acting; PERMISSION_DENIED / OPERATOR_REQUIRED unless the request comes
/// with an operator credential (when credentials are checked, `caller_service` names it)
/// and a subject naming an operator account.
pub async fn require_operator(
    ctx: &Ctx,
    caller_service: &str,
    subject: Subject,
) -> Result<Uuid, Status> {
    let refuse = || {
        ctx.errors().refuse(
            Code::PermissionDenied,
            OPERATOR_REQUIRED,
            "this RPC is for operators: an operator credential with kj-subject naming an operator account",
        )
    };
    if !caller_service.is_empty() && caller_service != kuajing_platform::auth::OPERATOR {
        return Err(refuse());
    }
    let id = subject.0.ok_or_else(refuse)?;
    if is_operator_account(ctx, id).await? {
        Ok(id)
    } else {
        Err(refuse())
    }
}
