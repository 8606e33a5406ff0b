//! The error model: every failure is a `google.rpc.Status` with rich details.
//!
//! - `INVALID_ARGUMENT` carries `BadRequest` field violations (collect them with
//!   [`FieldViolations`]); nothing is written when it is returned.
//! - Business refusals carry `ErrorInfo { reason, domain, metadata }` with a stable
//!   UPPER_SNAKE reason; state-machine refusals add a `PreconditionFailure`.
//! - `NOT_FOUND` carries `ResourceInfo`.
//! - `INTERNAL` means a bug: the cause is logged, the client sees only a generic message.
//! - `UNAVAILABLE` / `DATABASE_UNAVAILABLE` (domain `kuajing`, the platform's own, whatever
//!   the service) means the service's database did not answer: repeat the request.
//!
//! Messages never contain secrets, passwords, codes or tokens.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// Reason for a repeated `request_id` whose request body differs from the first one.
pub use kuajing_proto::reasons::internal::IDEMPOTENCY_KEY_REUSED;
/// Reason on `NOT_FOUND` answers.
pub use kuajing_proto::reasons::internal::RESOURCE_NOT_FOUND;

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

/// Reason: the transaction lost a deadlock or a serialization conflict to another one;
/// nothing was written, and the same request (same request_id) may simply be repeated.
pub use kuajing_proto::reasons::internal::TRANSACTION_CONFLICT;

/// True for a database failure that a repeat of the whole transaction may not meet again:
/// a deadlock (40P01) or a serialization failure (40001).
pub fn is_conflict(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("40P01" | "40001")))
}

impl ErrorDomain {
    /// A database failure as a service answers it: ABORTED / TRANSACTION_CONFLICT for a
    /// conflict a repeat resolves (a transient answer callers retry), INTERNAL otherwise.
    pub fn database(self, e: sqlx::Error) -> Status {
        if is_conflict(&e) {
            tracing::warn!(error = %e, "transaction conflict; the request may be repeated");
            self.refuse(
                Code::Aborted,
                TRANSACTION_CONFLICT,
                "the transaction conflicted with another; nothing was written, repeat the request",
            )
        } else {
            internal(e)
        }
    }
}

/// Reason: the service's database did not answer (down, failing over, or every
/// connection busy past the pool's wait). A read may simply be repeated; a write's outcome
/// is unknown, and its repeat with the same request_id answers it exactly once.
pub use kuajing_proto::reasons::internal::DATABASE_UNAVAILABLE;

/// The domain of failures the platform answers the same way in every service.
pub const PLATFORM: ErrorDomain = ErrorDomain("kuajing");

/// True for a database failure that says the database did not answer, not that the
/// statement was wrong: no connection (refused, broken, TLS, or a peer not speaking the
/// protocol, as a cut connection's stand-in does), the pool's wait ran out or the pool
/// closed, or the server shutting down, starting or out of connections (SQLSTATE classes
/// 08 and 57P, and 53300).
pub fn is_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P") || c == "53300"),
        _ => false,
    }
}

/// `INTERNAL` for an unexpected failure: logs the cause, tells the client nothing of it.
/// A database that did not answer is no bug: that answers `UNAVAILABLE` /
/// [`DATABASE_UNAVAILABLE`] (every service passes its database errors through here), so
/// clients and load balancers retry instead of giving up.
pub fn internal<E: std::fmt::Display + 'static>(cause: E) -> Status {
    if let Some(e) = (&cause as &dyn std::any::Any).downcast_ref::<sqlx::Error>()
        && is_unreachable(e)
    {
        tracing::warn!(error = %cause, "the database did not answer");
        return PLATFORM.refuse(
            Code::Unavailable,
            DATABASE_UNAVAILABLE,
            "the database did not answer; repeat the request with the same request_id",
        );
    }
    tracing::error!(error = %cause, "internal error");
    Status::internal("internal error")
}

/// Collects `BadRequest` field violations while validating a request; turns into
/// `INVALID_ARGUMENT` when any were found. Every service validates through this one type.
#[derive(Debug, Default)]
pub struct FieldViolations {
    violations: Vec<FieldViolation>,
    /// Violations past [`MAX_LISTED_VIOLATIONS`]: counted, not listed.
    unlisted: usize,
    /// The contract's reason the violations name, for [`FieldViolations::finish_in`].
    reason: Named,
}

/// What the recorded violations say about the answer's `ErrorInfo` reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Named {
    /// Nothing recorded yet.
    #[default]
    Nothing,
    /// Every violation named this reason.
    All(&'static str),
    /// Some violation named none, or two named different ones: [`VALIDATION_FAILED`].
    Mixed,
}

/// At most this many field violations are listed in one answer. A status travels in
/// HTTP/2 headers, which peers cap (16 KiB by default): ten thousand bad list items must
/// still be a clear INVALID_ARGUMENT, not a protocol error.
pub const MAX_LISTED_VIOLATIONS: usize = 50;

impl FieldViolations {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` (a proto field path such as `amount.currency_code`) is invalid.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.reason = Named::Mixed;
        self.push(field.into(), description.into());
    }

    /// Records a violation of a rule the contract names with its own reason
    /// (`NOTE_TOO_LONG`, `PASSWORD_TOO_WEAK`, ...). [`FieldViolations::finish_in`] answers
    /// with that reason when every violation named it, and with [`VALIDATION_FAILED`] when
    /// anything else is wrong too: the reason describes the whole refusal.
    pub fn named(
        &mut self,
        reason: &'static str,
        field: impl Into<String>,
        description: impl Into<String>,
    ) {
        self.reason = match self.reason {
            Named::Nothing => Named::All(reason),
            Named::All(r) if r == reason => Named::All(r),
            _ => Named::Mixed,
        };
        self.push(field.into(), description.into());
    }

    fn push(&mut self, field: String, description: String) {
        if self.violations.len() < MAX_LISTED_VIOLATIONS {
            self.violations
                .push(FieldViolation::new(field, description));
        } else {
            self.unlisted += 1;
        }
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

    /// The idempotency key every mutating request carries: a UUID chosen by the caller.
    pub fn request_id(&mut self, value: &str) -> Option<uuid::Uuid> {
        if value.is_empty() {
            self.add("request_id", "is required (a UUID chosen by the caller)");
            return None;
        }
        self.uuid("request_id", value)
    }

    /// A list of 1 to `max` distinct UUIDs. A list too long is one violation, and at most
    /// `max` ids come back (each checked).
    pub fn uuid_list(&mut self, field: &str, values: &[String], max: usize) -> Vec<uuid::Uuid> {
        if values.is_empty() {
            self.add(field, "needs at least one id");
        } else if values.len() > max {
            self.add(field, format!("at most {max} ids"));
        }
        let mut seen = std::collections::HashSet::new();
        let mut ids = Vec::new();
        for (i, value) in values.iter().take(max).enumerate() {
            let item = format!("{field}[{i}]");
            if let Some(id) = self.uuid(&item, value) {
                if !seen.insert(id) {
                    self.add(item, "is a duplicate");
                }
                ids.push(id);
            }
        }
        ids
    }

    /// Exactly six ASCII digits (PINs and verification codes).
    pub fn six_digits(&mut self, field: &str, value: &str) {
        if value.len() != 6 || !value.bytes().all(|b| b.is_ascii_digit()) {
            self.add(field, "must be exactly 6 digits");
        }
    }

    /// A whole number within `min..=max`.
    pub fn range(&mut self, field: &str, value: i32, min: i32, max: i32) {
        if value < min || value > max {
            self.add(field, format!("must be between {min} and {max}"));
        }
    }

    /// The request's `page` (size and token), checked.
    pub fn page(&mut self, page: Option<&kuajing_proto::types::PageRequest>) -> crate::page::Page {
        crate::page::Page::from_proto("page", page, self)
    }

    /// An optional time range (`start_time` inclusive, `end_time` exclusive), each bound
    /// `None` when unset; a violation for a bound out of range or an end not after the start.
    pub fn time_range(
        &mut self,
        field: &str,
        range: Option<&kuajing_proto::types::TimeRange>,
    ) -> (
        Option<chrono::DateTime<chrono::Utc>>,
        Option<chrono::DateTime<chrono::Utc>>,
    ) {
        let Some(range) = range else {
            return (None, None);
        };
        let mut bound = |name: &str, t: Option<&prost_types::Timestamp>| {
            let t = t?;
            let parsed = crate::time::from_proto(t);
            if parsed.is_none() {
                self.add(format!("{field}.{name}"), "is out of range");
            }
            parsed
        };
        let from = bound("start_time", range.start_time.as_ref());
        let until = bound("end_time", range.end_time.as_ref());
        if let (Some(f), Some(u)) = (from, until)
            && u <= f
        {
            self.add(format!("{field}.end_time"), "must be after start_time");
        }
        (from, until)
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

    /// An optional enum field: `default` when unset (0), a violation when the value is
    /// unknown (answered with `default` so validation can go on).
    pub fn enum_or<E: TryFrom<i32>>(&mut self, field: &str, value: i32, default: E) -> E {
        if value == 0 {
            return default;
        }
        E::try_from(value).unwrap_or_else(|_| {
            self.add(field, format!("unknown value {value}"));
            default
        })
    }

    /// How many violations were recorded (listed or not).
    pub fn len(&self) -> usize {
        self.violations.len() + self.unlisted
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
            many => format!("{} invalid fields", many.len() + self.unlisted),
        };
        let mut violations = self.violations;
        if self.unlisted > 0 {
            violations.push(FieldViolation::new(
                "",
                format!(
                    "{} more invalid fields are not listed (at most {MAX_LISTED_VIOLATIONS} are)",
                    self.unlisted
                ),
            ));
        }
        Err(Status::with_error_details(
            Code::InvalidArgument,
            message,
            ErrorDetails::with_bad_request(violations),
        ))
    }

    /// As [`FieldViolations::finish`], with an `ErrorInfo` of `domain`: the reason every
    /// violation named (see [`FieldViolations::named`]), else [`VALIDATION_FAILED`].
    pub fn finish_in(self, domain: ErrorDomain) -> Result<(), Status> {
        let reason = match self.reason {
            Named::All(reason) => reason,
            Named::Nothing | Named::Mixed => VALIDATION_FAILED,
        };
        self.finish_with(domain, reason)
    }

    /// As [`FieldViolations::finish`], naming `reason` in an `ErrorInfo` of `domain`.
    pub fn finish_with(self, domain: ErrorDomain, reason: &str) -> Result<(), Status> {
        self.finish().map_err(|s| {
            let mut details = s.get_error_details();
            details.set_error_info(reason, domain.0, HashMap::new());
            Status::with_error_details(Code::InvalidArgument, s.message(), details)
        })
    }
}

/// Reason on `INVALID_ARGUMENT` answers whose service named no other.
pub use kuajing_proto::reasons::internal::VALIDATION_FAILED;

/// A tower layer giving every `INVALID_ARGUMENT` answer that carries no `ErrorInfo` one
/// with reason [`VALIDATION_FAILED`] in the service's domain, so that every refusal a
/// client sees has a stable reason to switch on, whichever helper built it. Errors leave
/// "trailers-only", in the response headers, which is where this looks.
#[derive(Clone, Copy, Debug)]
pub struct ValidationReason(pub ErrorDomain);

impl<S> tower::Layer<S> for ValidationReason {
    type Service = ValidationReasonService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ValidationReasonService {
            inner,
            domain: self.0,
        }
    }
}

/// See [`ValidationReason`].
#[derive(Clone, Debug)]
pub struct ValidationReasonService<S> {
    inner: S,
    domain: ErrorDomain,
}

impl<S, B, RB> tower::Service<http::Request<B>> for ValidationReasonService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let future = self.inner.call(request);
        let domain = self.domain;
        Box::pin(async move {
            let mut response = future.await?;
            add_validation_reason(response.headers_mut(), domain);
            Ok(response)
        })
    }
}

/// Adds `ErrorInfo { VALIDATION_FAILED }` to an `INVALID_ARGUMENT` status in `headers`
/// that has no `ErrorInfo`; leaves every other answer alone.
fn add_validation_reason(headers: &mut http::HeaderMap, domain: ErrorDomain) {
    let invalid = headers
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == b"3");
    if !invalid {
        return;
    }
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    if status.get_details_error_info().is_some() {
        return;
    }
    let mut details = status.get_error_details();
    details.set_error_info(VALIDATION_FAILED, domain.0, HashMap::new());
    let rich = Status::with_error_details(status.code(), status.message(), details);
    // Replaces grpc-status, grpc-message and grpc-status-details-bin.
    let _ = rich.add_header(headers);
}

impl ErrorDomain {
    /// `INVALID_ARGUMENT` for one field that broke a rule the contract names `reason`.
    pub fn invalid(self, reason: &'static str, field: &str, description: &str) -> Status {
        let mut v = FieldViolations::new();
        v.named(reason, field, description);
        v.finish_in(self).expect_err("one violation was added")
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

    #[test]
    fn a_database_that_did_not_answer_is_unavailable_and_anything_else_internal() {
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        ] {
            let s = internal(e);
            assert_eq!(s.code(), Code::Unavailable);
            let info = s.get_details_error_info().expect("ErrorInfo");
            assert_eq!(info.reason, DATABASE_UNAVAILABLE);
            assert_eq!(info.domain, "kuajing");
        }
        assert_eq!(internal(sqlx::Error::RowNotFound).code(), Code::Internal);
        assert_eq!(internal("a bug").code(), Code::Internal);
    }

    const D: ErrorDomain = ErrorDomain("test.kuajing");

    #[test]
    fn ten_thousand_violations_list_fifty_and_count_the_rest() {
        let mut v = FieldViolations::new();
        for i in 0..10_000 {
            v.add(format!("items[{i}]"), "is not a UUID");
        }
        let status = v.finish_with(D, VALIDATION_FAILED).unwrap_err();
        assert_eq!(status.message(), "10000 invalid fields");
        let listed = status.get_details_bad_request().unwrap().field_violations;
        assert_eq!(listed.len(), MAX_LISTED_VIOLATIONS + 1);
        assert_eq!(listed[0].field, "items[0]");
        assert!(
            listed[MAX_LISTED_VIOLATIONS]
                .description
                .starts_with("9950 more")
        );
        let mut headers = http::HeaderMap::new();
        status.add_header(&mut headers).unwrap();
        let size: usize = headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len())
            .sum();
        assert!(
            size < 8 * 1024,
            "the status fits in HTTP/2 headers: {size} bytes"
        );
    }

    #[test]
    fn a_bare_invalid_argument_leaves_with_a_validation_reason() {
        let mut headers = http::HeaderMap::new();
        invalid_field("amount", "must be positive")
            .add_header(&mut headers)
            .unwrap();
        add_validation_reason(&mut headers, D);
        let status = Status::from_header_map(&headers).expect("a status");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "invalid amount: must be positive");
        let info = status.get_details_error_info().expect("error info");
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            (VALIDATION_FAILED, D.0)
        );
        let bad = status
            .get_details_bad_request()
            .expect("field violations kept");
        assert_eq!(bad.field_violations[0].field, "amount");

        // A reason the service chose, and other codes, pass unchanged.
        for status in [
            D.refuse(Code::InvalidArgument, "NOTE_TOO_LONG", "too long"),
            D.refuse(Code::FailedPrecondition, "INSUFFICIENT_FUNDS", "short"),
        ] {
            let mut headers = http::HeaderMap::new();
            status.add_header(&mut headers).unwrap();
            let before = headers.clone();
            add_validation_reason(&mut headers, D);
            assert_eq!(headers, before);
        }
    }

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

    fn reason_of(result: Result<(), Status>) -> String {
        let status = result.expect_err("violations were recorded");
        assert_eq!(status.code(), Code::InvalidArgument);
        status.get_details_error_info().expect("ErrorInfo").reason
    }

    #[test]
    fn a_named_reason_answers_only_when_every_violation_named_it() {
        const D: ErrorDomain = ErrorDomain("test.kuajing");
        let mut v = FieldViolations::new();
        v.named("NOTE_TOO_LONG", "note", "at most 500 characters");
        assert_eq!(reason_of(v.finish_in(D)), "NOTE_TOO_LONG");

        let mut v = FieldViolations::new();
        v.named("NOTE_TOO_LONG", "lines[0].note", "at most 500 characters");
        v.named("NOTE_TOO_LONG", "lines[1].note", "at most 500 characters");
        assert_eq!(reason_of(v.finish_in(D)), "NOTE_TOO_LONG");

        let mut v = FieldViolations::new();
        v.named("NOTE_TOO_LONG", "note", "at most 500 characters");
        v.add("order_id", "must be a UUID");
        assert_eq!(reason_of(v.finish_in(D)), VALIDATION_FAILED);

        let mut v = FieldViolations::new();
        v.add("order_id", "must be a UUID");
        v.named("NOTE_TOO_LONG", "note", "at most 500 characters");
        assert_eq!(reason_of(v.finish_in(D)), VALIDATION_FAILED);

        let mut v = FieldViolations::new();
        v.named("NOTE_TOO_LONG", "note", "too long");
        v.named("GOODS_REQUIRED", "lines", "at least one");
        assert_eq!(reason_of(v.finish_in(D)), VALIDATION_FAILED);

        let mut v = FieldViolations::new();
        v.add("order_id", "must be a UUID");
        assert_eq!(reason_of(v.finish_in(D)), VALIDATION_FAILED);
        assert!(FieldViolations::new().finish_in(D).is_ok());
        assert_eq!(
            reason_of(Err(D.invalid("CURRENCY_MISMATCH", "amount", "must be USD"))),
            "CURRENCY_MISMATCH"
        );
    }

    fn fields(v: FieldViolations) -> Vec<String> {
        v.violations.into_iter().map(|f| f.field).collect()
    }

    #[test]
    fn a_list_over_its_limit_is_one_violation_and_gives_back_at_most_the_limit() {
        let mut v = FieldViolations::new();
        let list: Vec<String> = (0..25).map(|_| uuid::Uuid::now_v7().to_string()).collect();
        assert_eq!(v.uuid_list("ids", &list, 20).len(), 20);
        assert_eq!(fields(v), ["ids"]);
    }

    #[test]
    fn request_ids_pins_lists_and_ranges() {
        let mut v = FieldViolations::new();
        let id = uuid::Uuid::now_v7();
        assert_eq!(v.request_id(&id.to_string()), Some(id));
        assert_eq!(v.optional_uuid("x", ""), Some(None));
        v.six_digits("pin", "123456");
        v.range("page_size", 50, 0, 50);
        assert!(v.is_empty());

        assert_eq!(v.request_id(""), None);
        assert_eq!(v.uuid("order_id", "nope"), None);
        v.six_digits("pin", "12345a");
        v.six_digits("code", "1234567");
        let list = v.uuid_list("order_ids", &[id.to_string(), id.to_string()], 50);
        assert_eq!(list.len(), 2);
        v.uuid_list("empty", &[], 50);
        v.range("page_size", 51, 0, 50);
        assert_eq!(
            fields(v),
            [
                "request_id",
                "order_id",
                "pin",
                "code",
                "order_ids[1]",
                "empty",
                "page_size"
            ]
        );
    }
}
