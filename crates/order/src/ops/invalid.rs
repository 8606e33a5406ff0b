//! INVALID_ARGUMENT answers: BadRequest field violations, plus an ErrorInfo reason when a
//! violation has a named one (NOTE_TOO_LONG, GOODS_REQUIRED, ...).

use kuajing_platform::{ErrorDomain, FieldViolations};
use tonic::Status;
use tonic_types::StatusExt;

/// Collects violations and the first named reason.
#[derive(Debug, Default)]
pub struct Invalid {
    /// The field violations.
    pub v: FieldViolations,
    reason: Option<&'static str>,
}

impl Invalid {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// A violation without a named reason.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.v.add(field, description);
    }

    /// A violation with a named reason (the first one becomes ErrorInfo.reason).
    pub fn reason(
        &mut self,
        reason: &'static str,
        field: impl Into<String>,
        description: impl Into<String>,
    ) {
        self.v.add(field, description);
        self.reason.get_or_insert(reason);
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.v.is_empty()
    }

    /// `Ok(())`, or INVALID_ARGUMENT with every violation (and the reason, if any).
    pub fn finish(self, domain: ErrorDomain) -> Result<(), Status> {
        let status = match self.v.finish() {
            Ok(()) => return Ok(()),
            Err(s) => s,
        };
        let Some(reason) = self.reason else {
            return Err(status);
        };
        let mut details = status.get_error_details();
        details.set_error_info(reason, domain.0, std::collections::HashMap::new());
        Err(Status::with_error_details(
            status.code(),
            status.message(),
            details,
        ))
    }
}

/// A single INVALID_ARGUMENT with a named reason.
pub fn invalid(
    domain: ErrorDomain,
    reason: &'static str,
    field: &str,
    description: &str,
) -> Status {
    let mut i = Invalid::new();
    i.reason(reason, field, description);
    i.finish(domain).expect_err("one violation")
}
