//! Edge's own refusals (ErrorInfo domain "edge.kuajing") and how a service's answer
//! reaches the client: passed through with its details, except what the client must not
//! see (a service refusing edge's own credential is a bug: INTERNAL).

use std::collections::HashMap;
use std::time::Duration;

use kuajing_platform::ErrorDomain;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::access::Refusal;
use crate::domain::token::TokenRefusal;
use kuajing_platform::FieldViolations;

/// Edge's error domain.
pub const DOMAIN: ErrorDomain = ErrorDomain("edge.kuajing");

/// Reason: the resource is someone else's.
pub use kuajing_proto::reasons::edge::NOT_OWNER;
/// Reason: a rate limit bucket is empty.
pub use kuajing_proto::reasons::edge::RATE_LIMITED;
/// Reason: the RPC needs a role the caller lacks.
pub use kuajing_proto::reasons::edge::ROLE_REQUIRED;
/// Reason: edge's own input checks failed.
pub use kuajing_proto::reasons::edge::VALIDATION_FAILED;
/// Reason: the caller has no wallet yet.
pub use kuajing_proto::reasons::edge::WALLET_NOT_OPEN;
/// Reason: missing, or not the caller's where ids must not be probed.
pub const RESOURCE_NOT_FOUND: &str = kuajing_platform::error::RESOURCE_NOT_FOUND;
/// Reason: the client's own deadline left no time to call anything.
pub use kuajing_proto::reasons::edge::DEADLINE_EXCEEDED;
/// Reason: a service did not answer within the call's deadline.
pub use kuajing_proto::reasons::edge::UPSTREAM_DEADLINE_EXCEEDED;
/// Reason: a service did not answer.
pub use kuajing_proto::reasons::edge::UPSTREAM_UNAVAILABLE;

/// Reasons a service gives when it refuses edge's own credential: never shown as such.
const CREDENTIAL_REASONS: [&str; 4] = [
    "SERVICE_CREDENTIAL_MISSING",
    "SERVICE_CREDENTIAL_INVALID",
    "CALLER_NOT_ALLOWED",
    "OPERATOR_REQUIRED",
];

fn md(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// UNAUTHENTICATED with TOKEN_MISSING, TOKEN_INVALID or TOKEN_EXPIRED.
pub fn unauthenticated(refusal: &TokenRefusal) -> Status {
    if let TokenRefusal::Invalid(why) = refusal {
        tracing::debug!(%why, "access token refused");
    }
    DOMAIN.refuse(Code::Unauthenticated, refusal.reason(), refusal.message())
}

/// `Ok(())` when nothing was recorded, else INVALID_ARGUMENT VALIDATION_FAILED with the
/// field violations; nothing is called.
pub fn check(violations: FieldViolations) -> Result<(), Status> {
    violations.finish_in(DOMAIN)
}

/// One invalid field.
pub fn invalid(field: &str, description: &str) -> Status {
    let mut v = FieldViolations::new();
    v.add(field, description);
    check(v).expect_err("one violation")
}

/// The status of an ownership or role refusal.
pub fn refused(refusal: Refusal) -> Status {
    match refusal {
        Refusal::NotOwner {
            resource_type,
            resource_id,
        } => DOMAIN.refuse_with(
            Code::PermissionDenied,
            NOT_OWNER,
            format!("this {resource_type} belongs to another account"),
            md(&[
                ("resource_type", resource_type),
                ("resource_id", &resource_id),
            ]),
        ),
        Refusal::NotFound {
            resource_type,
            resource_id,
        } => DOMAIN.not_found(resource_type, resource_id),
        Refusal::RoleRequired(role) => DOMAIN.refuse_with(
            Code::PermissionDenied,
            ROLE_REQUIRED,
            format!("this RPC is for the {role} role"),
            md(&[("required_role", role)]),
        ),
        Refusal::Invalid { field, description } => invalid(field, description),
    }
}

/// FAILED_PRECONDITION WALLET_NOT_OPEN.
pub fn wallet_not_open(account_id: uuid::Uuid) -> Status {
    DOMAIN.precondition(
        WALLET_NOT_OPEN,
        format!("account/{account_id}"),
        "the caller has no wallet yet: open one with OpenWallet",
    )
}

/// RESOURCE_EXHAUSTED RATE_LIMITED with RetryInfo and the bucket's scope.
pub fn rate_limited(scope: &str, retry: Duration) -> Status {
    // Round up to whole milliseconds, so a client waiting the delay is admitted.
    let millis = retry.as_nanos().div_ceil(1_000_000);
    let retry = Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX));
    let mut details =
        ErrorDetails::with_error_info(RATE_LIMITED, DOMAIN.0, md(&[("scope", scope)]));
    details.set_retry_info(Some(retry));
    Status::with_error_details(
        Code::ResourceExhausted,
        format!(
            "too many requests ({scope}); retry in {} ms",
            retry.as_millis()
        ),
        details,
    )
}

/// UNAVAILABLE UPSTREAM_UNAVAILABLE naming the service.
pub fn upstream_unavailable(service: &str) -> Status {
    DOMAIN.refuse_with(
        Code::Unavailable,
        UPSTREAM_UNAVAILABLE,
        format!("the {service} service did not answer; retry (with the same request_id)"),
        md(&[("service", service)]),
    )
}

/// DEADLINE_EXCEEDED UPSTREAM_DEADLINE_EXCEEDED naming the service.
pub fn upstream_deadline(service: &str) -> Status {
    DOMAIN.refuse_with(
        Code::DeadlineExceeded,
        UPSTREAM_DEADLINE_EXCEEDED,
        format!("the {service} service did not answer in time; retry (with the same request_id)"),
        md(&[("service", service)]),
    )
}

/// DEADLINE_EXCEEDED: the client's deadline left no time.
pub fn client_deadline() -> Status {
    DOMAIN.refuse(
        Code::DeadlineExceeded,
        DEADLINE_EXCEEDED,
        "the request's deadline has passed",
    )
}

/// INTERNAL: a bug (logged, never detailed to the client).
pub fn internal(cause: impl std::fmt::Display + 'static) -> Status {
    kuajing_platform::error::internal(cause)
}

/// What the client sees of a service's answer: the same code, message and details, except
/// a refusal of edge's credential (INTERNAL), and a missing or late answer (edge's
/// UPSTREAM_UNAVAILABLE / UPSTREAM_DEADLINE_EXCEEDED).
pub fn from_upstream(service: &str, status: Status) -> Status {
    let info = status.get_details_error_info();
    if let Some(info) = &info
        && CREDENTIAL_REASONS.contains(&info.reason.as_str())
    {
        return internal(format!(
            "{service} refused edge's service credential: {} ({})",
            info.reason,
            status.message()
        ));
    }
    match (status.code(), info.is_some()) {
        (Code::Unavailable, false) => {
            tracing::warn!(service, error = %status.message(), "upstream unavailable");
            upstream_unavailable(service)
        }
        (Code::DeadlineExceeded | Code::Cancelled, false) => upstream_deadline(service),
        (Code::Internal, _) => Status::internal("internal error"),
        (code, _) => Status::with_details(
            code,
            status.message().to_owned(),
            status.details().to_vec().into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(s: &Status) -> String {
        s.get_details_error_info()
            .map(|i| i.reason)
            .unwrap_or_default()
    }

    #[test]
    fn service_refusals_pass_through_with_their_details() {
        let wallet = ErrorDomain("wallet.kuajing");
        let mut m = HashMap::new();
        m.insert("currency_code".to_owned(), "CNH".to_owned());
        let s = from_upstream(
            "wallet",
            wallet.refuse_with(Code::FailedPrecondition, "INSUFFICIENT_FUNDS", "short", m),
        );
        assert_eq!(s.code(), Code::FailedPrecondition);
        let info = s.get_details_error_info().unwrap();
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("INSUFFICIENT_FUNDS", "wallet.kuajing")
        );
        assert_eq!(info.metadata["currency_code"], "CNH");
        assert_eq!(s.message(), "short");
    }

    #[test]
    fn credential_refusals_and_silence_are_edges_own() {
        let s = from_upstream(
            "order",
            ErrorDomain("order.kuajing").refuse(Code::PermissionDenied, "CALLER_NOT_ALLOWED", "no"),
        );
        assert_eq!(s.code(), Code::Internal);
        let s = from_upstream("fx", Status::unavailable("connection refused"));
        assert_eq!(
            (s.code(), reason(&s)),
            (Code::Unavailable, UPSTREAM_UNAVAILABLE.to_owned())
        );
        assert_eq!(
            s.get_details_error_info().unwrap().metadata["service"],
            "fx"
        );
        let s = from_upstream("fx", Status::deadline_exceeded("late"));
        assert_eq!(reason(&s), UPSTREAM_DEADLINE_EXCEEDED);
        // A service's own UNAVAILABLE reason is its answer, not silence.
        let sender =
            ErrorDomain("identity.kuajing").refuse(Code::Unavailable, "SENDER_UNAVAILABLE", "x");
        assert!(kuajing_platform::outbound::answered(&sender));
        assert_eq!(
            reason(&from_upstream("identity", sender)),
            "SENDER_UNAVAILABLE"
        );
        assert!(kuajing_platform::outbound::is_transient(
            &Status::unavailable("x")
        ));
    }

    #[test]
    fn own_refusals() {
        let s = rate_limited("ip", Duration::from_micros(1_500));
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(
            s.get_details_retry_info().unwrap().retry_delay,
            Some(Duration::from_millis(2))
        );
        assert_eq!(s.get_details_error_info().unwrap().metadata["scope"], "ip");
        let s = refused(Refusal::RoleRequired("buyer"));
        assert_eq!(
            (s.code(), reason(&s)),
            (Code::PermissionDenied, ROLE_REQUIRED.to_owned())
        );
        let s = invalid("request_id", "is required");
        assert_eq!(reason(&s), VALIDATION_FAILED);
        assert_eq!(
            s.get_details_bad_request().unwrap().field_violations[0].field,
            "request_id"
        );
        let s = unauthenticated(&TokenRefusal::Expired);
        assert_eq!(
            (s.code(), reason(&s)),
            (Code::Unauthenticated, "TOKEN_EXPIRED".to_owned())
        );
    }
}
