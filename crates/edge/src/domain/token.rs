//! Who is calling: the bearer access token in the `authorization` metadata, verified
//! against identity's published keys with clock leeway, and the person it names.

use chrono::{DateTime, Duration, Utc};
use kuajing_platform::token::{Claims, KeySet, TokenError};
use uuid::Uuid;

/// Reason: `exp` has passed (beyond the leeway).
pub use kuajing_proto::reasons::edge::TOKEN_EXPIRED;
/// Reason: malformed, bad signature, unknown key, wrong issuer or audience.
pub use kuajing_proto::reasons::edge::TOKEN_INVALID;
/// Reason: no `authorization` metadata, or not "Bearer <token>".
pub use kuajing_proto::reasons::edge::TOKEN_MISSING;
/// Reason: the token's session was signed out or revoked.
pub use kuajing_proto::reasons::edge::TOKEN_REVOKED;

/// The longest an access token may live (exp - nbf): identity issues 15-minute tokens and
/// refuses to be configured past an hour, so a longer one was not made to be used here.
pub const MAX_LIFETIME_SECS: i64 = 3600;

/// Why a request is not authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenRefusal {
    /// No bearer token.
    Missing,
    /// A token that does not verify (why, for the log; never shown with the token).
    Invalid(TokenError),
    /// A token past its expiry.
    Expired,
    /// A token that would live longer than [`MAX_LIFETIME_SECS`].
    TooLong,
    /// A token of a session that was signed out or revoked.
    Revoked,
}

impl TokenRefusal {
    /// The ErrorInfo reason.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenRefusal::Missing => TOKEN_MISSING,
            TokenRefusal::Invalid(_) => TOKEN_INVALID,
            TokenRefusal::Expired => TOKEN_EXPIRED,
            TokenRefusal::TooLong => TOKEN_INVALID,
            TokenRefusal::Revoked => TOKEN_REVOKED,
        }
    }

    /// A message for the client (never contains the token).
    pub fn message(&self) -> String {
        match self {
            TokenRefusal::Missing => {
                "this RPC needs an access token: metadata `authorization: Bearer <token>`"
                    .to_owned()
            }
            TokenRefusal::Invalid(why) => format!("the access token is not valid: {why}"),
            TokenRefusal::Expired => {
                "the access token has expired; get a new one with RefreshToken".to_owned()
            }
            TokenRefusal::TooLong => {
                format!("the access token lives longer than {MAX_LIFETIME_SECS} s")
            }
            TokenRefusal::Revoked => "the session was signed out; sign in again".to_owned(),
        }
    }
}

/// A role that gates role-specific RPCs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// An overseas buyer.
    Buyer,
    /// A supplier.
    Supplier,
}

impl Role {
    /// The lower-case name, as in the token's `roles` claim and ErrorInfo metadata.
    pub fn name(self) -> &'static str {
        match self {
            Role::Buyer => "buyer",
            Role::Supplier => "supplier",
        }
    }
}

/// The roles a token grants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Roles {
    /// "buyer".
    pub buyer: bool,
    /// "supplier".
    pub supplier: bool,
    /// "operator".
    pub operator: bool,
}

impl Roles {
    /// From the `roles` claim (unknown names are ignored).
    pub fn from_claim(names: &[String]) -> Roles {
        let has = |n: &str| names.iter().any(|r| r.eq_ignore_ascii_case(n));
        Roles {
            buyer: has("buyer"),
            supplier: has("supplier"),
            operator: has("operator"),
        }
    }

    /// Whether the token grants `role`.
    pub fn has(self, role: Role) -> bool {
        match role {
            Role::Buyer => self.buyer,
            Role::Supplier => self.supplier,
        }
    }
}

/// The authenticated person: the token's subject and roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// The account id (`sub`).
    pub account_id: Uuid,
    /// The roles (`roles`).
    pub roles: Roles,
    /// The session (`sid`).
    pub session_id: String,
}

/// The token of an `authorization` metadata value: "Bearer <token>" (scheme in any case).
pub fn bearer(value: Option<&str>) -> Result<&str, TokenRefusal> {
    let value = value.ok_or(TokenRefusal::Missing)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(TokenRefusal::Missing)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(TokenRefusal::Missing);
    }
    Ok(token)
}

/// True when the token names a key id the set does not hold: the verifier should refetch
/// the published keys (rate-limited) before deciding.
pub fn names_unknown_key(keys: &KeySet, token: &str) -> bool {
    KeySet::token_kid(token).is_ok_and(|kid| !keys.contains(&kid))
}

fn refusal(e: TokenError) -> TokenRefusal {
    match e {
        TokenError::Expired => TokenRefusal::Expired,
        other => TokenRefusal::Invalid(other),
    }
}

/// A token that verified: the person and the window it is valid in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The person it names.
    pub person: Person,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// The key that signed it.
    pub kid: String,
}

impl Verified {
    /// Whether the token is still within its window at `now` (with `leeway`): the check a
    /// verifier that remembers verified tokens repeats on each use, instead of the
    /// signature.
    pub fn at(&self, now: DateTime<Utc>, leeway: Duration) -> Result<&Person, TokenRefusal> {
        let now = now.timestamp();
        let leeway = leeway.num_seconds();
        if now >= self.exp + leeway {
            return Err(TokenRefusal::Expired);
        }
        if now < self.nbf - leeway {
            return Err(TokenRefusal::Invalid(TokenError::NotYetValid));
        }
        Ok(&self.person)
    }
}

/// Verifies `token` at `now` with `leeway` on `nbf` and `exp` (a token is accepted from
/// `nbf - leeway` until `exp + leeway`), and reads the person it names.
pub fn verify(
    keys: &KeySet,
    token: &str,
    now: DateTime<Utc>,
    leeway: Duration,
) -> Result<Verified, TokenRefusal> {
    let claims = match keys.verify(token, now) {
        Ok(c) => c,
        Err(TokenError::Expired) => keys.verify(token, now - leeway).map_err(refusal)?,
        Err(TokenError::NotYetValid) => keys.verify(token, now + leeway).map_err(refusal)?,
        Err(e) => return Err(refusal(e)),
    };
    let kid = KeySet::token_kid(token).map_err(TokenRefusal::Invalid)?;
    verified(claims, kid)
}

fn verified(claims: Claims, kid: String) -> Result<Verified, TokenRefusal> {
    if claims.exp.saturating_sub(claims.nbf) > MAX_LIFETIME_SECS {
        return Err(TokenRefusal::TooLong);
    }
    let account_id =
        Uuid::try_parse(&claims.sub).map_err(|_| TokenRefusal::Invalid(TokenError::Malformed))?;
    Ok(Verified {
        person: Person {
            account_id,
            roles: Roles::from_claim(&claims.roles),
            session_id: claims.sid,
        },
        nbf: claims.nbf,
        exp: claims.exp,
        kid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kuajing_platform::token::{AUDIENCE, ISSUER, SigningKey};

    fn claims(now: i64, sub: &str, roles: &[&str]) -> Claims {
        Claims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: sub.to_owned(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            sid: "s".to_owned(),
            iat: now,
            nbf: now,
            exp: now + 900,
            jti: "j".to_owned(),
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn set(key: &SigningKey) -> KeySet {
        let mut s = KeySet::new();
        s.insert(key.public(), None);
        s
    }

    const LEEWAY: Duration = Duration::seconds(30);

    #[test]
    fn bearer_needs_the_scheme_and_one_token() {
        assert_eq!(bearer(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Ok("abc"));
        for bad in [
            None,
            Some(""),
            Some("abc"),
            Some("Basic abc"),
            Some("Bearer "),
            Some("Bearer a b"),
        ] {
            assert_eq!(bearer(bad), Err(TokenRefusal::Missing), "{bad:?}");
        }
    }

    #[test]
    fn leeway_is_thirty_seconds_each_side() {
        let key = SigningKey::generate().unwrap();
        let keys = set(&key);
        let sub = Uuid::now_v7();
        let token = key.sign(&claims(1_000, &sub.to_string(), &["buyer"]));
        let verified = verify(&keys, &token, at(1_000), LEEWAY).unwrap();
        let person = &verified.person;
        assert_eq!(person.account_id, sub);
        assert!(person.roles.has(Role::Buyer) && !person.roles.has(Role::Supplier));
        assert_eq!(verified.kid, key.kid());
        // A remembered verification keeps to the same window.
        assert!(verified.at(at(1_929), LEEWAY).is_ok());
        assert_eq!(verified.at(at(1_930), LEEWAY), Err(TokenRefusal::Expired));
        assert!(verified.at(at(970), LEEWAY).is_ok());
        assert!(verified.at(at(969), LEEWAY).is_err());
        // exp = 1900: accepted until 1929, refused from 1930.
        assert!(verify(&keys, &token, at(1_929), LEEWAY).is_ok());
        assert_eq!(
            verify(&keys, &token, at(1_930), LEEWAY),
            Err(TokenRefusal::Expired)
        );
        // nbf = 1000: accepted from 970.
        assert!(verify(&keys, &token, at(970), LEEWAY).is_ok());
        assert!(matches!(
            verify(&keys, &token, at(969), LEEWAY),
            Err(TokenRefusal::Invalid(TokenError::NotYetValid))
        ));
    }

    #[test]
    fn a_token_living_past_an_hour_is_refused() {
        let key = SigningKey::generate().unwrap();
        let keys = set(&key);
        let sub = Uuid::now_v7().to_string();
        let hour = Claims {
            exp: 1_000 + MAX_LIFETIME_SECS,
            ..claims(1_000, &sub, &["buyer"])
        };
        assert!(verify(&keys, &key.sign(&hour), at(1_000), LEEWAY).is_ok());
        let day = Claims {
            exp: 1_000 + 86_400,
            ..claims(1_000, &sub, &["buyer"])
        };
        assert_eq!(
            verify(&keys, &key.sign(&day), at(1_000), LEEWAY),
            Err(TokenRefusal::TooLong)
        );
    }

    #[test]
    fn foreign_keys_garbage_and_non_uuid_subjects_are_invalid() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let keys = set(&key);
        let foreign = other.sign(&claims(10, &Uuid::now_v7().to_string(), &[]));
        assert!(names_unknown_key(&keys, &foreign));
        assert_eq!(
            verify(&keys, &foreign, at(10), LEEWAY).map_err(|e| e.reason()),
            Err(TOKEN_INVALID)
        );
        let bad_sub = key.sign(&claims(10, "not-a-uuid", &[]));
        assert!(!names_unknown_key(&keys, &bad_sub));
        assert_eq!(
            verify(&keys, &bad_sub, at(10), LEEWAY).map_err(|e| e.reason()),
            Err(TOKEN_INVALID)
        );
        assert_eq!(
            verify(&keys, "x.y.z", at(10), LEEWAY).map_err(|e| e.reason()),
            Err(TOKEN_INVALID)
        );
        assert!(!names_unknown_key(&keys, "garbage"));
    }

    #[test]
    fn roles_come_from_the_claim() {
        let r = Roles::from_claim(&["supplier".to_owned(), "OPERATOR".to_owned()]);
        assert!(r.supplier && r.operator && !r.buyer);
        assert_eq!(TokenRefusal::Missing.reason(), TOKEN_MISSING);
        assert!(!TokenRefusal::Expired.message().is_empty());
    }
}
