//! Access tokens: compact JWS (JWT) signed with EdDSA over Ed25519 (RFC 8037).
//!
//! `identity` signs them with a [`SigningKey`]; every other service (edge first) verifies
//! them locally with a [`KeySet`] built from the keys `identity.ListVerificationKeys`
//! publishes. Signing uses `ed25519-dalek` directly: a general JWT crate would pull in an
//! RSA implementation we do not use (and its advisories).
//!
//! Token shape (the contract's `TokenPair.access_token`):
//! - header `{"alg":"EdDSA","typ":"JWT","kid":<key id>}`;
//! - claims `iss` "identity.kuajing", `aud` "kuajing", `sub` (account id), `roles`, `sid`
//!   (session id), `iat`, `nbf`, `exp` (Unix seconds), `jti`.
//!
//! Signing is deterministic (Ed25519 is), and the JSON is serialised in a fixed field
//! order, so the same claims and key always give the same token: identity relies on this
//! to answer a replayed login with the very token it issued first, without storing it.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signature, Signer, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The JWS algorithm of every access token.
pub const ALGORITHM: &str = "EdDSA";
/// The `iss` claim of access tokens.
pub const ISSUER: &str = "identity.kuajing";
/// The `aud` claim of access tokens.
pub const AUDIENCE: &str = "kuajing";

/// The claims of an access token.
///
/// Field order is the serialisation order; do not reorder (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: [`ISSUER`].
    pub iss: String,
    /// Audience: [`AUDIENCE`].
    pub aud: String,
    /// Subject: the account id.
    pub sub: String,
    /// Lower-case role names: "buyer", "supplier", "operator".
    pub roles: Vec<String>,
    /// Session (refresh token family) id.
    pub sid: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Not before, Unix seconds.
    pub nbf: i64,
    /// Expires at, Unix seconds (the token is refused from this second on).
    pub exp: i64,
    /// Token id.
    pub jti: String,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
}

/// Why a token or a key was refused. Messages never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts of JSON, or a bad signature length.
    #[error("malformed token")]
    Malformed,
    /// `alg` is not EdDSA (or `typ` is not JWT).
    #[error("unsupported token algorithm or type")]
    UnsupportedAlgorithm,
    /// The header has no `kid`, or names a key not in the set.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `iss` is not [`ISSUER`].
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` is not [`AUDIENCE`].
    #[error("wrong audience")]
    WrongAudience,
    /// Used before `nbf`.
    #[error("token not yet valid")]
    NotYetValid,
    /// Used at or after `exp`.
    #[error("token expired")]
    Expired,
    /// The signing key was retired and its `not_after` passed.
    #[error("signing key retired")]
    KeyRetired,
}

/// Why a key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not base64 (standard or url-safe, padded or not) nor PEM.
    #[error("the key is not base64 or PEM")]
    NotBase64,
    /// Neither a 32-byte seed nor an Ed25519 PKCS#8 document.
    #[error("the key is neither a 32-byte Ed25519 seed nor an Ed25519 PKCS#8 private key")]
    NotEd25519,
    /// The operating system's random source failed.
    #[error("no randomness available")]
    NoRandomness,
}

/// Decodes base64 in any of the usual alphabets and paddings.
fn decode_any_base64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    [URL_SAFE_NO_PAD, URL_SAFE, STANDARD, STANDARD_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The RFC 7638 JWK thumbprint of an Ed25519 public key (`x` in base64url): the key id we
/// give every key, so a key id always names exactly one key.
pub fn thumbprint(x: &str) -> String {
    // The members in lexicographic order, no whitespace, as RFC 7638 requires.
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    b64url(&Sha256::digest(canonical.as_bytes()))
}

/// An Ed25519 public key that verifies tokens, with its key id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    kid: String,
    key: VerifyingKey,
}

impl PublicKey {
    /// From the 32 raw bytes; the key id is the thumbprint.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, KeyError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::NotEd25519)?;
        Ok(PublicKey::from_verifying_key(key))
    }

    /// From a JWK's `x` member (base64url, 43 characters), with the `kid` it is published
    /// under.
    pub fn from_jwk(kid: &str, x: &str) -> Result<PublicKey, KeyError> {
        let bytes = URL_SAFE_NO_PAD.decode(x).map_err(|_| KeyError::NotBase64)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError::NotEd25519)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::NotEd25519)?;
        Ok(PublicKey {
            kid: kid.to_owned(),
            key,
        })
    }

    fn from_verifying_key(key: VerifyingKey) -> PublicKey {
        let kid = thumbprint(&b64url(key.as_bytes()));
        PublicKey { kid, key }
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWK `x` member: the 32 bytes in base64url without padding.
    pub fn x(&self) -> String {
        b64url(self.key.as_bytes())
    }

    /// The 32 raw bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

/// An Ed25519 private key that signs tokens.
#[derive(Clone)]
pub struct SigningKey {
    public: PublicKey,
    key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("SigningKey")
            .field("kid", &self.public.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// From a 32-byte Ed25519 seed (the RFC 8032 private key).
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        let key = ed25519_dalek::SigningKey::from_bytes(seed);
        SigningKey {
            public: PublicKey::from_verifying_key(key.verifying_key()),
            key,
        }
    }

    /// A new random key.
    pub fn generate() -> Result<SigningKey, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| KeyError::NoRandomness)?;
        Ok(SigningKey::from_seed(&seed))
    }

    /// Reads a key given as text: base64 (any alphabet, padded or not) of a 32-byte seed or
    /// of an Ed25519 PKCS#8 DER document (v1 or v2), or a PKCS#8 PEM
    /// (`-----BEGIN PRIVATE KEY-----`).
    pub fn parse(text: &str) -> Result<SigningKey, KeyError> {
        let text = text.trim();
        let body: String = if text.starts_with("-----BEGIN") {
            text.lines()
                .filter(|l| !l.starts_with("-----"))
                .map(str::trim)
                .collect()
        } else {
            text.to_owned()
        };
        let bytes = decode_any_base64(&body).ok_or(KeyError::NotBase64)?;
        if let Ok(seed) = <[u8; 32]>::try_from(bytes.as_slice()) {
            return Ok(SigningKey::from_seed(&seed));
        }
        let key =
            ed25519_dalek::SigningKey::from_pkcs8_der(&bytes).map_err(|_| KeyError::NotEd25519)?;
        Ok(SigningKey::from_seed(&key.to_bytes()))
    }

    /// The 32-byte seed (to store the key). Secret.
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `claims` into a compact JWS with this key's `kid`.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = Header {
            alg: ALGORITHM.to_owned(),
            typ: Some("JWT".to_owned()),
            kid: Some(self.public.kid.clone()),
        };
        // Serialising plain structs of strings and integers cannot fail.
        let header = serde_json::to_vec(&header).unwrap_or_default();
        let claims = serde_json::to_vec(claims).unwrap_or_default();
        let signing_input = format!("{}.{}", b64url(&header), b64url(&claims));
        let signature = self.key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", b64url(&signature.to_bytes()))
    }
}

// Two signing keys are equal when their public halves are (the seed determines both).
impl PartialEq for SigningKey {
    fn eq(&self, other: &Self) -> bool {
        self.public == other.public
    }
}

impl Eq for SigningKey {}

/// The keys a verifier accepts, by key id, each with the time after which tokens signed
/// with it are refused (set once the key is retired).
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: HashMap<String, (VerifyingKey, Option<DateTime<Utc>>)>,
}

impl KeySet {
    /// An empty set.
    pub fn new() -> KeySet {
        KeySet::default()
    }

    /// Adds (or replaces) a key.
    pub fn insert(&mut self, key: &PublicKey, not_after: Option<DateTime<Utc>>) {
        self.keys.insert(key.kid.clone(), (key.key, not_after));
    }

    /// True when the set knows `kid` (verifiers refetch the set on an unknown one).
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the set has no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `kid` a token names, without verifying anything (to decide whether to refetch).
    pub fn token_kid(token: &str) -> Result<String, TokenError> {
        let header = token.split('.').next().ok_or(TokenError::Malformed)?;
        let header: Header = decode_json(header)?;
        header.kid.ok_or(TokenError::UnknownKey)
    }

    /// Verifies `token` at time `now`: the header, the signature with the key its `kid`
    /// names, the issuer, the audience and the validity window.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: Header = decode_json(header_b64)?;
        if header.alg != ALGORITHM {
            return Err(TokenError::UnsupportedAlgorithm);
        }
        if header.typ.as_deref().is_some_and(|t| t != "JWT") {
            return Err(TokenError::UnsupportedAlgorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let (key, not_after) = self.keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| TokenError::Malformed)?;
        let signature = Signature::from_slice(&signature).map_err(|_| TokenError::Malformed)?;
        let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];
        key.verify_strict(signing_input.as_bytes(), &signature)
            .map_err(|_| TokenError::BadSignature)?;
        let claims: Claims = decode_json(claims_b64)?;
        if claims.iss != ISSUER {
            return Err(TokenError::WrongIssuer);
        }
        if claims.aud != AUDIENCE {
            return Err(TokenError::WrongAudience);
        }
        let now_secs = now.timestamp();
        if now_secs < claims.nbf {
            return Err(TokenError::NotYetValid);
        }
        if now_secs >= claims.exp {
            return Err(TokenError::Expired);
        }
        if not_after.is_some_and(|t| now >= t) {
            return Err(TokenError::KeyRetired);
        }
        Ok(claims)
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64) -> Claims {
        Claims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: "0193b0c4-8a52-7c8e-9d7a-1f2e3d4c5b6a".to_owned(),
            roles: vec!["buyer".to_owned()],
            sid: "0193b0c4-8a52-7c8e-9d7a-1f2e3d4c5b6b".to_owned(),
            iat: now,
            nbf: now,
            exp: now + 900,
            jti: "0193b0c4-8a52-7c8e-9d7a-1f2e3d4c5b6c".to_owned(),
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn set_of(key: &SigningKey) -> KeySet {
        let mut set = KeySet::new();
        set.insert(key.public(), None);
        set
    }

    #[test]
    fn signs_and_verifies_within_the_window_only() {
        let key = SigningKey::generate().unwrap();
        let now = 1_700_000_000;
        let token = key.sign(&claims(now));
        let set = set_of(&key);
        assert_eq!(set.verify(&token, at(now)), Ok(claims(now)));
        assert_eq!(set.verify(&token, at(now + 899)), Ok(claims(now)));
        assert_eq!(set.verify(&token, at(now + 900)), Err(TokenError::Expired));
        assert_eq!(
            set.verify(&token, at(now - 1)),
            Err(TokenError::NotYetValid)
        );
        assert_eq!(KeySet::token_kid(&token).unwrap(), key.kid());
    }

    #[test]
    fn signing_is_deterministic() {
        let key = SigningKey::from_seed(&[7; 32]);
        assert_eq!(key.sign(&claims(5)), key.sign(&claims(5)));
    }

    #[test]
    fn altered_tokens_and_foreign_keys_are_refused() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let token = key.sign(&claims(100));
        let set = set_of(&key);

        // A changed claim with the original signature.
        let mut forged = claims(100);
        forged.roles.push("operator".to_owned());
        let forged_payload = b64url(&serde_json::to_vec(&forged).unwrap());
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(
            set.verify(&tampered, at(100)),
            Err(TokenError::BadSignature)
        );

        // Signed by a key the set does not know.
        assert_eq!(
            set.verify(&other.sign(&claims(100)), at(100)),
            Err(TokenError::UnknownKey)
        );

        // Another key's signature under this key's kid.
        let other_sig = other.sign(&claims(100));
        let other_parts: Vec<&str> = other_sig.split('.').collect();
        let swapped = format!("{}.{}.{}", parts[0], parts[1], other_parts[2]);
        assert_eq!(set.verify(&swapped, at(100)), Err(TokenError::BadSignature));

        for garbage in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.??.**",
            &format!("{}.x.y", parts[0]),
        ] {
            assert!(set.verify(garbage, at(100)).is_err(), "{garbage}");
        }
    }

    #[test]
    fn other_algorithms_issuers_and_audiences_are_refused() {
        let key = SigningKey::generate().unwrap();
        let set = set_of(&key);
        let none_header = b64url(br#"{"alg":"none","typ":"JWT"}"#);
        let token = key.sign(&claims(10));
        let rest = token.split_once('.').unwrap().1;
        assert_eq!(
            set.verify(&format!("{none_header}.{rest}"), at(10)),
            Err(TokenError::UnsupportedAlgorithm)
        );
        let mut c = claims(10);
        c.iss = "evil".to_owned();
        assert_eq!(
            set.verify(&key.sign(&c), at(10)),
            Err(TokenError::WrongIssuer)
        );
        let mut c = claims(10);
        c.aud = "other".to_owned();
        assert_eq!(
            set.verify(&key.sign(&c), at(10)),
            Err(TokenError::WrongAudience)
        );
    }

    #[test]
    fn retired_keys_stop_verifying_after_not_after() {
        let key = SigningKey::generate().unwrap();
        let mut set = KeySet::new();
        set.insert(key.public(), Some(at(500)));
        let token = key.sign(&claims(100));
        assert!(set.verify(&token, at(499)).is_ok());
        assert_eq!(set.verify(&token, at(500)), Err(TokenError::KeyRetired));
        // Expiry is still checked first.
        assert_eq!(set.verify(&token, at(1000)), Err(TokenError::Expired));
    }

    #[test]
    fn keys_parse_from_seed_and_pkcs8_and_jwk() {
        let key = SigningKey::from_seed(&[42; 32]);
        let from_seed = SigningKey::parse(&STANDARD.encode([42u8; 32])).unwrap();
        assert_eq!(from_seed.kid(), key.kid());
        let from_url = SigningKey::parse(&URL_SAFE_NO_PAD.encode([42u8; 32])).unwrap();
        assert_eq!(from_url.kid(), key.kid());

        // RFC 8410 §10.3 example private key and its public key.
        let pem = "-----BEGIN PRIVATE KEY-----\n\
                   MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
                   -----END PRIVATE KEY-----\n";
        let rfc = SigningKey::parse(pem).unwrap();
        assert_eq!(
            rfc.public().x(),
            "Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE"
        );
        let der_b64 = "MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC";
        assert_eq!(SigningKey::parse(der_b64).unwrap().kid(), rfc.kid());

        assert_eq!(SigningKey::parse("not base64!"), Err(KeyError::NotBase64));
        assert_eq!(
            SigningKey::parse(&STANDARD.encode([1u8; 31])),
            Err(KeyError::NotEd25519)
        );

        let jwk = PublicKey::from_jwk(key.kid(), &key.public().x()).unwrap();
        assert_eq!(&jwk, key.public());
        assert_eq!(key.kid().len(), 43);
        assert!(format!("{key:?}").contains(key.kid()));
    }

    #[test]
    fn rfc8037_thumbprint() {
        // RFC 8037 appendix A.3.
        assert_eq!(
            thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
