//! The error model: every failure is a `google.rpc.Status` with rich details.
//!
//! - `INVALID_ARGUMENT` carries `BadRequest` field violations (collect them with
//!   [`FieldViolations`]); nothing is written when it is returned.
//! - Business refusals carry `ErrorInfo { reason, domain, metadata }` with a stable
//!   UPPER_SNAKE reason; state-machine refusals add a `PreconditionFailure`.
//! - `NOT_FOUND` carries `ResourceInfo`.
//! - `INTERNAL` means a bug: the cause is logged, the client sees only a generic message.
//!
//! Messages never contain secrets, passwords, codes or tokens.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// Reason for a repeated `request_id` whose request body differs from the first one.
pub const IDEMPOTENCY_KEY_REUSED: &str = "IDEMPOTENCY_KEY_REUSED";
/// Reason on `NOT_FOUND` answers.
pub const RESOURCE_NOT_FOUND: &str = "RESOURCE_NOT_FOUND";

/// The `ErrorInfo.domain` of one service, e.g. `wallet.kuajing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorDomain(pub &'static str);

impl ErrorDomain {
    /// A business refusal: `code` with `ErrorInfo { reason }` and a human message.
    pub fn refuse(self, code: Code, reason: &str, message: impl Into<String>) -> Status {
        self.refuse_with(code, reason, message, HashMap::new())
    }

    /// A business refusal with `ErrorInfo.metadata` (string key/value context).
    pub fn refuse_with(
        self,
        code: Code,
        reason: &str,
        message: impl Into<String>,
        metadata: HashMap<String, String>,
    ) -> Status {
        let details = ErrorDetails::with_error_info(reason, self.0, metadata);
        Status::with_error_details(code, message, details)
    }

    /// A state-machine refusal: `FAILED_PRECONDITION` with `ErrorInfo` and a
    /// `PreconditionFailure` naming the subject (e.g. `hold/0193...`).
    pub fn precondition(
        self,
        reason: &str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Status {
        let message = message.into();
        let mut details = ErrorDetails::with_error_info(reason, self.0, HashMap::new());
        details.add_precondition_failure_violation(reason, subject, message.clone());
        Status::with_error_details(Code::FailedPrecondition, message, details)
    }

    /// `NOT_FOUND` with `ResourceInfo { resource_type, resource_name }`.
    pub fn not_found(self, resource_type: &str, resource_name: impl Into<String>) -> Status {
        self.not_found_because(RESOURCE_NOT_FOUND, resource_type, resource_name)
    }

    /// `NOT_FOUND` with a specific reason (e.g. `RATE_NOT_FOUND`) and `ResourceInfo`.
    pub fn not_found_because(
        self,
        reason: &str,
        resource_type: &str,
        resource_name: impl Into<String>,
    ) -> Status {
        let name = resource_name.into();
        let message = format!("{resource_type} {name} not found");
        let mut details = ErrorDetails::with_error_info(reason, self.0, HashMap::new());
        details.set_resource_info(resource_type, name, "", message.clone());
        Status::with_error_details(Code::NotFound, message, details)
    }

    /// `ALREADY_EXISTS` / `IDEMPOTENCY_KEY_REUSED`.
    pub fn idempotency_key_reused(self, request_id: &str) -> Status {
        let mut metadata = HashMap::new();
        metadata.insert("request_id".to_owned(), request_id.to_owned());
        self.refuse_with(
            Code::AlreadyExists,
            IDEMPOTENCY_KEY_REUSED,
            "request_id was already used with a different request",
            metadata,
        )
    }

    /// A not-yet-built RPC: `UNIMPLEMENTED` with a message that says so.
    pub fn not_built(self, rpc: &str) -> Status {
        self.refuse(
            Code::Unimplemented,
            "NOT_BUILT",
            format!("{rpc} is part of the v1 contract but is not built yet"),
        )
    }
}

/// `INTERNAL` for an unexpected failure: logs the cause, tells the client nothing of it.
pub fn internal(cause: impl std::fmt::Display) -> Status {
    tracing::error!(error = %cause, "internal error");
    Status::internal("internal error")
}

/// Collects `BadRequest` field violations while validating a request; turns into
/// `INVALID_ARGUMENT` when any were found.
#[derive(Debug, Default)]
pub struct FieldViolations {
    violations: Vec<FieldViolation>,
}

impl FieldViolations {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` (a proto field path such as `amount.currency_code`) is invalid.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.violations
            .push(FieldViolation::new(field, description));
    }

    /// Runs a check returning `Result<T, String>`, recording the message on failure.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(description) => {
                self.add(field, description);
                None
            }
        }
    }

    /// A required UUID field (ids are UUIDv7 strings).
    pub fn uuid(&mut self, field: &str, value: &str) -> Option<uuid::Uuid> {
        if value.is_empty() {
            self.add(field, "is required");
            return None;
        }
        self.optional_uuid(field, value).flatten()
    }

    /// An optional UUID field: `Some(None)` when empty, `None` when malformed.
    pub fn optional_uuid(&mut self, field: &str, value: &str) -> Option<Option<uuid::Uuid>> {
        if value.is_empty() {
            return Some(None);
        }
        match uuid::Uuid::try_parse(value) {
            Ok(id) => Some(Some(id)),
            Err(_) => {
                self.add(field, "must be a UUID");
                None
            }
        }
    }

    /// A required Money field that must be above zero.
    pub fn positive_money(
        &mut self,
        field: &str,
        money: Option<&kuajing_proto::types::Money>,
    ) -> Option<crate::Money> {
        let m = self.money(field, money)?;
        if !m.is_positive() {
            self.add(format!("{field}.amount"), "must be greater than zero");
            return None;
        }
        Some(m)
    }

    /// A required Money field (any sign).
    pub fn money(
        &mut self,
        field: &str,
        money: Option<&kuajing_proto::types::Money>,
    ) -> Option<crate::Money> {
        match crate::Money::from_proto(field, money) {
            Ok(m) => Some(m),
            Err((f, d)) => {
                self.add(f, d);
                None
            }
        }
    }

    /// A free-text field of at most `max` characters (control characters refused).
    pub fn text<'a>(&mut self, field: &str, value: &'a str, max: usize) -> &'a str {
        if value.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        } else if value.chars().any(|c| c.is_control() && c != '\n') {
            self.add(field, "must not contain control characters");
        }
        value
    }

    /// A required enum field: known to this build and not `_UNSPECIFIED` (0).
    pub fn enum_value<E: TryFrom<i32>>(&mut self, field: &str, value: i32) -> Option<E> {
        if value == 0 {
            self.add(field, "is required");
            return None;
        }
        match E::try_from(value) {
            Ok(e) => Some(e),
            Err(_) => {
                self.add(field, format!("unknown value {value}"));
                None
            }
        }
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.violations.is_empty()
    }

    /// `Ok(())` when nothing was recorded, else `INVALID_ARGUMENT` with every violation.
    pub fn finish(self) -> Result<(), Status> {
        if self.violations.is_empty() {
            return Ok(());
        }
        let message = match self.violations.as_slice() {
            [one] => format!("invalid {}: {}", one.field, one.description),
            many => format!("{} invalid fields", many.len()),
        };
        Err(Status::with_error_details(
            Code::InvalidArgument,
            message,
            ErrorDetails::with_bad_request(self.violations),
        ))
    }
}

/// `INVALID_ARGUMENT` for a single field.
pub fn invalid_field(field: impl Into<String>, description: impl Into<String>) -> Status {
    let mut v = FieldViolations::new();
    v.add(field, description);
    v.finish().expect_err("one violation was added")
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: ErrorDomain = ErrorDomain("test.kuajing");

    #[test]
    fn refusal_carries_reason_and_domain() {
        let status = D.refuse(Code::FailedPrecondition, "INSUFFICIENT_FUNDS", "not enough");
        let info = status.get_details_error_info().expect("error info");
        assert_eq!(info.reason, "INSUFFICIENT_FUNDS");
        assert_eq!(info.domain, "test.kuajing");
        assert_eq!(status.code(), Code::FailedPrecondition);
    }

    #[test]
    fn violations_become_bad_request() {
        let mut v = FieldViolations::new();
        assert!(v.is_empty());
        v.add("amount", "must be positive");
        v.add("currency_code", "unknown currency");
        let status = v.finish().unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        let bad = status.get_details_bad_request().expect("bad request");
        assert_eq!(bad.field_violations.len(), 2);
        assert_eq!(bad.field_violations[0].field, "amount");
    }

    #[test]
    fn not_found_names_the_resource() {
        let status = D.not_found("wallet", "0193");
        let info = status.get_details_resource_info().expect("resource info");
        assert_eq!(info.resource_type, "wallet");
        assert_eq!(info.resource_name, "0193");
    }

    #[test]
    fn precondition_failure_is_attached() {
        let status = D.precondition("HOLD_NOT_OPEN", "hold/1", "hold is captured");
        let pf = status
            .get_details_precondition_failure()
            .expect("precondition");
        assert_eq!(pf.violations[0].r#type, "HOLD_NOT_OPEN");
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "HOLD_NOT_OPEN"
        );
    }
}
