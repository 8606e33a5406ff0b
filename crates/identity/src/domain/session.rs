//! Sessions: the access token's claims, and what a presented refresh token leads to.
//!
//! A session is a family of refresh tokens. Each refresh rotates: the presented token is
//! used up and a new one continues the family. A used token presented again means two
//! parties hold the family (one of them a thief), so the whole family is revoked.

use chrono::{DateTime, Duration, Utc};
use kuajing_platform::token::{AUDIENCE, Claims, ISSUER};
use kuajing_proto::reasons::identity as reasons;
use uuid::Uuid;

use super::account::Role;

/// Token lifetimes, from configuration (defaults: 15 minutes and 30 days).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Access token lifetime.
    pub access_ttl: Duration,
    /// Refresh token (session) lifetime, from the login; rotation does not extend it.
    pub refresh_ttl: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            access_ttl: Duration::minutes(15),
            refresh_ttl: Duration::days(30),
        }
    }
}

/// The claims of an access token issued at `issued_at`.
pub fn access_claims(
    account_id: Uuid,
    roles: &[Role],
    session_id: Uuid,
    jti: Uuid,
    issued_at: DateTime<Utc>,
    ttl: Duration,
) -> Claims {
    let iat = issued_at.timestamp();
    Claims {
        iss: ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        sub: account_id.to_string(),
        roles: roles.iter().map(|r| r.claim().to_owned()).collect(),
        sid: session_id.to_string(),
        iat,
        nbf: iat,
        exp: iat + ttl.num_seconds(),
        jti: jti.to_string(),
    }
}

/// Why a refresh token is refused (after it was recognised as ours).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshRefusal {
    /// REFRESH_TOKEN_REVOKED: the session was logged out or revoked.
    Revoked,
    /// REFRESH_TOKEN_REUSED: an already rotated token; the family must be revoked now.
    Reused,
    /// REFRESH_TOKEN_EXPIRED.
    Expired,
}

impl RefreshRefusal {
    /// The contract's reason.
    pub fn reason(self) -> &'static str {
        match self {
            RefreshRefusal::Revoked => reasons::REFRESH_TOKEN_REVOKED,
            RefreshRefusal::Reused => reasons::REFRESH_TOKEN_REUSED,
            RefreshRefusal::Expired => reasons::REFRESH_TOKEN_EXPIRED,
        }
    }
}

/// Whether a refresh token may be exchanged at `now`. A revoked session stays revoked
/// whatever is presented; a rotated token is theft even once the session has expired (the
/// revocation is then harmless but recorded).
pub fn check_refresh(
    session_revoked: bool,
    token_already_used: bool,
    session_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), RefreshRefusal> {
    if session_revoked {
        return Err(RefreshRefusal::Revoked);
    }
    if token_already_used {
        return Err(RefreshRefusal::Reused);
    }
    if now >= session_expires_at {
        return Err(RefreshRefusal::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_carry_the_contract_fields() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let (a, s, j) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let c = access_claims(
            a,
            &[Role::Supplier, Role::Operator],
            s,
            j,
            now,
            Duration::minutes(15),
        );
        assert_eq!(c.iss, "identity.kuajing");
        assert_eq!(c.aud, "kuajing");
        assert_eq!(c.sub, a.to_string());
        assert_eq!(c.sid, s.to_string());
        assert_eq!(c.roles, vec!["supplier", "operator"]);
        assert_eq!(c.exp - c.iat, 900);
        assert_eq!(c.nbf, c.iat);
    }

    #[test]
    fn refresh_decisions() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let later = now + Duration::days(30);
        assert_eq!(check_refresh(false, false, later, now), Ok(()));
        assert_eq!(
            check_refresh(true, false, later, now),
            Err(RefreshRefusal::Revoked)
        );
        assert_eq!(
            check_refresh(true, true, later, now),
            Err(RefreshRefusal::Revoked)
        );
        assert_eq!(
            check_refresh(false, true, later, now),
            Err(RefreshRefusal::Reused)
        );
        assert_eq!(
            check_refresh(false, true, now, later),
            Err(RefreshRefusal::Reused)
        );
        assert_eq!(
            check_refresh(false, false, later, later),
            Err(RefreshRefusal::Expired)
        );
    }
}
