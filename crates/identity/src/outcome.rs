//! Idempotency with recorded refusals.
//!
//! The platform's idempotency record stores one response per `request_id`, written in the
//! same transaction as the effect. Identity also has effects that come with a refusal: a
//! wrong code or PIN counts an attempt, a wrong password counts towards the login lock, a
//! reused refresh token revokes its family. Those must commit even though the RPC fails,
//! and a retry with the same `request_id` must answer the same refusal without counting
//! again (the contract says so for VerifyPaymentPin in so many words). So identity stores
//! an [`Recorded`] outcome, a response or a refusal, in the platform's record.
//!
//! Which answers are recorded: every answer after the request passed validation, except
//! failures that mean "try again" (INTERNAL, UNAVAILABLE, ...) and late INVALID_ARGUMENT
//! answers, which roll everything back, the claim on the `request_id` included, so nothing
//! is written for bad input.

use kuajing_platform::ErrorDomain;
use kuajing_platform::error::internal;
use kuajing_platform::idempotency::{self, Begin, Key};
use prost::Message;
use sqlx::{PgConnection, Postgres, Transaction};
use tonic::{Code, Status};

/// A stored answer: exactly one of a response or a refusal.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Recorded {
    /// The encoded response, on success.
    #[prost(bytes = "vec", optional, tag = "1")]
    pub response: Option<Vec<u8>>,
    /// The gRPC code of a refusal.
    #[prost(int32, tag = "2")]
    pub code: i32,
    /// The refusal's message (never holds a secret).
    #[prost(string, tag = "3")]
    pub message: String,
    /// The refusal's encoded `google.rpc.Status` details.
    #[prost(bytes = "vec", tag = "4")]
    pub details: Vec<u8>,
}

impl Recorded {
    fn ok<R: Message>(response: &R) -> Recorded {
        Recorded {
            response: Some(response.encode_to_vec()),
            ..Recorded::default()
        }
    }

    fn refused(status: &Status) -> Recorded {
        Recorded {
            response: None,
            code: status.code() as i32,
            message: status.message().to_owned(),
            details: status.details().to_vec(),
        }
    }

    /// The answer it stands for.
    pub fn answer<R: Message + Default>(&self) -> Result<R, Status> {
        match &self.response {
            Some(bytes) => R::decode(bytes.as_slice()).map_err(internal),
            None => Err(Status::with_details(
                Code::from_i32(self.code),
                self.message.clone(),
                self.details.clone().into(),
            )),
        }
    }
}

/// Whether a refusal is part of the request's answer (and so recorded), rather than a
/// transient failure or bad input that leaves no trace.
pub fn is_recorded(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::FailedPrecondition
            | Code::PermissionDenied
            | Code::Unauthenticated
            | Code::NotFound
            | Code::AlreadyExists
            | Code::ResourceExhausted
            | Code::OutOfRange
    )
}

/// What [`begin`] found.
pub enum Begun<R> {
    /// The request ran before: its recorded answer.
    Replay(Result<R, Status>),
    /// A new request: do the work in the transaction, then [`finish`].
    Fresh(Key),
}

/// Claims `request_id` for `method` with the request fingerprinted as `hash` (a keyed
/// MAC: identity's requests carry passwords, PINs and codes), or finds the recorded answer.
pub async fn begin<R: Message + Default>(
    conn: &mut PgConnection,
    domain: ErrorDomain,
    method: &str,
    request_id: &str,
    hash: [u8; 32],
) -> Result<Begun<R>, Status> {
    match idempotency::begin_hashed::<Recorded>(conn, domain, method, request_id, hash).await? {
        Begin::Replay(recorded) => Ok(Begun::Replay(recorded.answer())),
        Begin::Fresh(key) => Ok(Begun::Fresh(key)),
    }
}

/// Records the answer and commits, or rolls back for an unrecorded failure. `stored` is
/// what to record for a success when it differs from what is returned (a token pair is
/// recorded without its tokens).
pub async fn finish<R: Message>(
    mut tx: Transaction<'static, Postgres>,
    key: Key,
    result: Result<R, Status>,
    stored: Option<&R>,
) -> Result<R, Status> {
    let recorded = match &result {
        Ok(response) => Recorded::ok(stored.unwrap_or(response)),
        Err(status) if is_recorded(status) => Recorded::refused(status),
        Err(_) => {
            // Dropping the transaction rolls it back, claim included.
            drop(tx);
            return result;
        }
    };
    key.complete(&mut tx, &recorded).await?;
    tx.commit().await.map_err(internal)?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use kuajing_platform::error::invalid_field;
    use tonic_types::StatusExt;

    #[test]
    fn refusals_round_trip_with_their_details() {
        let d = ErrorDomain("identity.kuajing");
        let status = d.refuse(Code::PermissionDenied, "PIN_INVALID", "wrong PIN");
        let back = Recorded::refused(&status).answer::<Recorded>().unwrap_err();
        assert_eq!(back.code(), Code::PermissionDenied);
        assert_eq!(back.message(), "wrong PIN");
        assert_eq!(back.get_details_error_info().unwrap().reason, "PIN_INVALID");
    }

    #[test]
    fn responses_round_trip() {
        let inner = Recorded {
            message: "inner".into(),
            ..Recorded::default()
        };
        assert_eq!(Recorded::ok(&inner).answer::<Recorded>().unwrap(), inner);
    }

    #[test]
    fn which_failures_are_recorded() {
        let d = ErrorDomain("identity.kuajing");
        assert!(is_recorded(&d.refuse(
            Code::PermissionDenied,
            "CODE_INVALID",
            "x"
        )));
        assert!(is_recorded(&d.refuse(
            Code::ResourceExhausted,
            "PIN_LOCKED",
            "x"
        )));
        assert!(!is_recorded(&Status::internal("x")));
        assert!(!is_recorded(&Status::unavailable("x")));
        assert!(!is_recorded(&invalid_field("pin", "bad")));
    }
}
