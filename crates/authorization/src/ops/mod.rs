//! The authorization operations, one module per area of the contract. Each validates its
//! request completely (nothing is read or written for bad input), asks its peers first
//! (identity, wallet, fx: never inside a database transaction), then runs one short
//! transaction with its idempotency record, and answers in proto.

pub mod access;
pub mod categories;
pub mod decisions;
pub mod limits;
pub mod mandates;
pub mod peers;
pub mod reservations;

use std::sync::Arc;

use kuajing_platform::error::internal;
use kuajing_platform::{ErrorDomain, FieldViolations, ServiceContext, idempotency};
use kuajing_proto::identity::v1::{Marketplace, MarketplaceMember};
use prost::Message;
use tonic::Status;

use crate::settings::Settings;

/// Reason of INVALID_ARGUMENT answers unless the contract names another.
pub use kuajing_proto::reasons::authorization::VALIDATION_FAILED;
/// Longest free-text reason (revocations, releases, category changes).
pub const REASON_MAX: usize = 500;
/// Longest marketplace member id.
pub const MEMBER_ID_MAX: usize = 64;

/// What every operation needs.
#[derive(Clone)]
pub struct Ctx {
    /// The service context (pool, clock, peers, errors).
    pub svc: ServiceContext,
    /// authorization settings.
    pub settings: Arc<Settings>,
}

impl Ctx {
    /// This service's error domain.
    pub fn errors(&self) -> ErrorDomain {
        self.svc.errors
    }

    /// Now, by the service clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.svc.clock.now()
    }
}

/// `Ok(())` when `v` is empty, else INVALID_ARGUMENT with every field violation and an
/// ErrorInfo whose reason is `reason`.
pub fn finish_with(errors: ErrorDomain, v: FieldViolations, reason: &str) -> Result<(), Status> {
    v.finish_with(errors, reason)
}

/// [`finish_with`] reason VALIDATION_FAILED.
pub fn finish(errors: ErrorDomain, v: FieldViolations) -> Result<(), Status> {
    finish_with(errors, v, VALIDATION_FAILED)
}

/// A marketplace member: a known marketplace and an id of 1 to 64 characters without
/// control characters (compared exactly).
pub fn member(
    v: &mut FieldViolations,
    field: &str,
    m: Option<&MarketplaceMember>,
) -> Option<(Marketplace, String)> {
    let Some(m) = m else {
        v.add(field, "is required");
        return None;
    };
    let marketplace = v.enum_value::<Marketplace>(&format!("{field}.marketplace"), m.marketplace);
    let id = &m.external_member_id;
    let id_field = format!("{field}.external_member_id");
    let ok = if id.is_empty() {
        v.add(id_field, "is required");
        false
    } else if id.chars().count() > MEMBER_ID_MAX {
        v.add(
            id_field,
            format!("must be at most {MEMBER_ID_MAX} characters"),
        );
        false
    } else if id.chars().any(char::is_control) {
        v.add(id_field, "must not contain control characters");
        false
    } else {
        true
    };
    match (marketplace, ok) {
        (Some(mp), true) => Some((mp, id.clone())),
        _ => None,
    }
}

/// The proto form of a member.
pub fn member_proto(marketplace: i16, external_member_id: &str) -> MarketplaceMember {
    MarketplaceMember {
        marketplace: i32::from(marketplace),
        external_member_id: external_member_id.to_owned(),
    }
}

/// A finished request's recorded answer, if `request_id` already ran with this request.
/// Answering a replay before calling any peer keeps a retry free of second effects (a
/// second code sent, a PIN attempt counted again). A request_id reused with another body
/// answers IDEMPOTENCY_KEY_REUSED here.
pub async fn replay<Req: Message, Resp: Message + Default>(
    ctx: &Ctx,
    method: &str,
    request_id: &str,
    request: &Req,
) -> Result<Option<Resp>, Status> {
    let mut tx = ctx.svc.pool.begin().await.map_err(internal)?;
    let begun =
        idempotency::begin::<Req, Resp>(&mut tx, ctx.errors(), method, request_id, request).await?;
    tx.rollback().await.map_err(internal)?;
    match begun {
        idempotency::Begin::Replay(r) => Ok(Some(r)),
        idempotency::Begin::Fresh(_) => Ok(None),
    }
}

/// True when a database error is a unique violation (another transaction got there first).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "23505")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;
    use tonic_types::StatusExt;

    const D: ErrorDomain = ErrorDomain("authorization.kuajing");

    #[test]
    fn invalid_input_carries_field_violations_and_a_reason() {
        assert!(finish(D, FieldViolations::new()).is_ok());
        let mut v = FieldViolations::new();
        v.add("agreement_accepted", "must be true");
        v.add("code", "must be exactly 6 digits");
        let s = finish_with(D, v, "AGREEMENT_NOT_ACCEPTED").unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument);
        let info = s.get_details_error_info().expect("error info");
        assert_eq!(info.reason, "AGREEMENT_NOT_ACCEPTED");
        assert_eq!(info.domain, "authorization.kuajing");
        let bad = s.get_details_bad_request().expect("bad request");
        assert_eq!(bad.field_violations.len(), 2);
    }

    #[test]
    fn marketplace_members_are_checked() {
        let mut v = FieldViolations::new();
        let ok = MarketplaceMember {
            marketplace: Marketplace::Marketplace1688 as i32,
            external_member_id: "测试买家账号003".to_owned(),
        };
        assert_eq!(
            member(&mut v, "m", Some(&ok)),
            Some((Marketplace::Marketplace1688, "测试买家账号003".to_owned()))
        );
        assert!(v.is_empty());
        for bad in [
            MarketplaceMember {
                marketplace: 0,
                external_member_id: "x".to_owned(),
            },
            MarketplaceMember {
                marketplace: 1,
                external_member_id: String::new(),
            },
            MarketplaceMember {
                marketplace: 1,
                external_member_id: "x".repeat(65),
            },
            MarketplaceMember {
                marketplace: 1,
                external_member_id: "a\u{7}b".to_owned(),
            },
        ] {
            let mut v = FieldViolations::new();
            assert_eq!(member(&mut v, "m", Some(&bad)), None, "{bad:?}");
            assert!(!v.is_empty());
        }
        let mut v = FieldViolations::new();
        assert_eq!(member(&mut v, "m", None), None);
        assert!(!v.is_empty());
    }
}
