//! Service credentials: every internal RPC carries a signed token naming the calling
//! service, checked against the method's allowed callers (from its contract's "Callers:"
//! comment, see `kuajing_proto::callers`), default deny.
//!
//! - Each service holds its own Ed25519 key (`KJ_SERVICE_KEY`) and the public keys of the
//!   services it trusts (`KJ_SERVICE_TRUST`, `name=key,...`, a name may repeat). A token is
//!   `kjs1.<claims>.<signature>` (base64url): claims `{svc, aud, exp, iat, kid}`, signed by
//!   the caller's key, for one audience (the called service), valid for minutes.
//! - Keys rotate without downtime: a verifier trusts every key listed for a caller (the
//!   token's `kid` picks one), and keys read from files are reloaded when the files change
//!   (`key_files`): trust the new key everywhere, then sign with it, then drop the old.
//! - Operators are people: identity signs them in (password and a TOTP second factor) and
//!   mints their tokens with the `operator` key, which only identity holds outside
//!   `kuajing up`: audience `*`, at most one hour, the operator's account id in `sub`. Such
//!   a token is that person's: the subject is the token's, never a `kj-subject` naming
//!   someone else. `auditor` tokens are minted the same way (same key) for people who may
//!   read the operator audit log and do nothing else.
//! - When a service acts for a person it also sends that person's account id in
//!   `kj-subject`; only edge (which authenticated the person) may name a subject.
//! - mTLS is not built yet: tokens travel over the cluster network as they are.

use kuajing_proto::reasons::internal as reasons;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use tonic::Status;
use uuid::Uuid;

use crate::error::ErrorDomain;
use crate::revocations::Revocations;

/// Metadata key of the service token.
pub const TOKEN_HEADER: &str = "kj-service-token";
/// Metadata key of the person a service acts for (an account id).
pub const SUBJECT_HEADER: &str = "kj-subject";
/// The operators' credential name.
pub const OPERATOR: &str = "operator";
/// The auditors' credential name: tokens identity mints with the operator key for people
/// who may list the operator audit log, and nothing more (no contract names them otherwise).
pub const AUDITOR: &str = "auditor";
/// Callers outside the six services that hold keys too: operators and the bank and
/// logistics adapters.
pub const EXTERNAL_CALLERS: &[&str] = &[OPERATOR, "bank", "logistics"];
/// Services that authenticate people themselves and take no service credential.
pub const PUBLIC_SERVICES: &[&str] = &["kuajing.edge.v1.EdgeService"];
/// How long a minted service token is valid.
pub const TOKEN_TTL: Duration = Duration::minutes(5);
/// The longest a service's or an adapter's token may live (issue to expiry): checked when
/// it is verified, so a token minted for longer is refused for all its life.
pub const MAX_SERVICE_TOKEN_LIFETIME: Duration = Duration::minutes(10);
/// The longest an operator's or auditor's token may live: identity mints them for this long
/// at sign-in.
pub const MAX_OPERATOR_TOKEN_LIFETIME: Duration = Duration::hours(1);
/// How far ahead of the verifier's clock a token's issue time may be.
const CLOCK_SKEW_SECS: i64 = 60;

/// Reason: the caller is not in the method's allowed callers.
pub use kuajing_proto::reasons::internal::CALLER_NOT_ALLOWED;
/// Reason: the token names one caller, the connection's client certificate another.
pub use kuajing_proto::reasons::internal::SERVICE_CERTIFICATE_MISMATCH;
/// Reason: a token that is malformed, expired, for another audience or badly signed.
pub use kuajing_proto::reasons::internal::SERVICE_CREDENTIAL_INVALID;
/// Reason: no service token.
pub use kuajing_proto::reasons::internal::SERVICE_CREDENTIAL_MISSING;
/// Reason: edge called an RPC that acts for a person without naming the person.
pub use kuajing_proto::reasons::internal::SUBJECT_REQUIRED;

#[derive(Serialize, Deserialize)]
struct TokenClaims {
    svc: String,
    aud: String,
    exp: i64,
    /// Issue time; a token without one (minted before lifetimes were enforced) reads as
    /// issued at the epoch, so it is refused as too long-lived.
    #[serde(default)]
    iat: i64,
    /// Which of the caller's keys signed ([`key_id`]); tokens minted before rotation have
    /// none and are checked against each key trusted for the caller.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    kid: String,
    /// The person an operator's or auditor's token belongs to (an account id); empty for
    /// services' tokens.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    sub: String,
    /// The sign-in session an operator's or auditor's token belongs to: signing out, or
    /// losing the grant, revokes it everywhere (see [`crate::revocations`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    sid: String,
}

/// The id of a public key in tokens and logs: its first six bytes, base64url (8 chars).
pub fn key_id(key: &VerifyingKey) -> String {
    URL_SAFE_NO_PAD.encode(&key.to_bytes()[..6])
}

/// The public keys a service trusts, several per caller while one rotates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trust(BTreeMap<String, Vec<VerifyingKey>>);

impl Trust {
    /// Parses `name=base64url-key,...` (`KJ_SERVICE_TRUST`); a name listed twice is trusted
    /// with both keys.
    pub fn parse(text: &str) -> anyhow::Result<Trust> {
        let mut trust = Trust::default();
        for entry in text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.starts_with('#'))
        {
            let (who, key) = entry
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("{entry:?} is not name=key"))?;
            let key = VerifyingKey::from_bytes(
                &decode_key(key).map_err(|e| anyhow::anyhow!("{who}: {e}"))?,
            )
            .map_err(|_| anyhow::anyhow!("{who}: not an Ed25519 key"))?;
            trust.add(who.trim(), key);
        }
        Ok(trust)
    }

    /// Trusts `key` for `caller` too.
    pub fn add(&mut self, caller: &str, key: VerifyingKey) {
        let keys = self.0.entry(caller.to_owned()).or_default();
        if !keys.contains(&key) {
            keys.push(key);
        }
    }

    /// Whether `key` is trusted for `caller`.
    pub fn trusts(&self, caller: &str, key: &VerifyingKey) -> bool {
        self.0.get(caller).is_some_and(|keys| keys.contains(key))
    }

    /// `name=key,...` as [`Trust::parse`] reads it.
    pub fn text(&self) -> String {
        self.0
            .iter()
            .flat_map(|(n, keys)| {
                keys.iter()
                    .map(move |k| format!("{n}={}", URL_SAFE_NO_PAD.encode(k.to_bytes())))
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The key of `caller` that a token's `kid` names, or every key of `caller` when the
    /// token names none.
    fn keys_for<'a>(
        &'a self,
        caller: &str,
        kid: &'a str,
    ) -> impl Iterator<Item = &'a VerifyingKey> + use<'a> {
        self.0
            .get(caller)
            .into_iter()
            .flatten()
            .filter(move |k| kid.is_empty() || key_id(k) == kid)
    }
}

impl From<HashMap<String, VerifyingKey>> for Trust {
    fn from(map: HashMap<String, VerifyingKey>) -> Trust {
        let mut trust = Trust::default();
        for (name, key) in map {
            trust.add(&name, key);
        }
        trust
    }
}

/// The longest a token of `svc` may live.
fn max_lifetime(svc: &str) -> Duration {
    if is_person(svc) {
        MAX_OPERATOR_TOKEN_LIFETIME
    } else {
        MAX_SERVICE_TOKEN_LIFETIME
    }
}

/// Whether tokens of `svc` belong to people (operators, auditors), minted with the
/// operator key for audience `*`.
fn is_person(svc: &str) -> bool {
    svc == OPERATOR || svc == AUDITOR
}

/// Who called: the verified service and, if it acts for a person, that person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The calling service (`edge`, `order`, ..., `operator`).
    pub service: String,
    /// The person the service acts for, when it names one.
    pub subject: Option<Uuid>,
}

impl Caller {
    /// The person whose ownership a handler checks: the subject, except for operators and
    /// auditors, whose grant reaches everyone's resources (their calls are audited).
    pub fn owner_to_check(&self) -> Option<Uuid> {
        if is_person(&self.service) {
            None
        } else {
            self.subject
        }
    }

    /// The person a request acts for: the subject the credential check settled, or, where
    /// no check ran (a service's own tests), the `kj-subject` metadata as sent; one that is
    /// not an account id is refused (PERMISSION_DENIED / NOT_OWNER in `domain`). The one
    /// way every service reads it.
    pub fn subject_of<T>(
        request: &tonic::Request<T>,
        domain: ErrorDomain,
    ) -> Result<Option<Uuid>, Status> {
        if let Some(caller) = Caller::of(request) {
            return Ok(caller.subject);
        }
        match request.metadata().get(SUBJECT_HEADER) {
            None => Ok(None),
            Some(value) => value
                .to_str()
                .ok()
                .and_then(|s| Uuid::try_parse(s.trim()).ok())
                .map(Some)
                .ok_or_else(|| {
                    domain.refuse(
                        tonic::Code::PermissionDenied,
                        reasons::NOT_OWNER,
                        "kj-subject is not an account id",
                    )
                }),
        }
    }

    /// The caller a handler was called by (set by the credential check).
    pub fn of<T>(request: &tonic::Request<T>) -> Option<&Caller> {
        request.extensions().get::<Caller>()
    }
}

/// A service's own key and the keys it trusts, replaceable while it serves.
pub struct ServiceKeys {
    name: String,
    current: RwLock<Arc<Held>>,
    /// Tokens minted, by audience.
    cache: Mutex<HashMap<String, Minted>>,
    /// Tokens whose signature, issuer and audience were checked: token -> (issuer,
    /// expiry). A caller reuses its token for half its life, so each is verified once
    /// (an Ed25519 verification costs more than the rest of a small call's handling);
    /// the expiry is still checked on every use. Only verified tokens enter, so a stranger
    /// cannot fill it.
    /// The generation of the keys that verified each is kept too: replaced keys forget it.
    verified: Mutex<HashMap<String, Verified>>,
}

/// A token this service minted: the token, its expiry, the generation of the keys that
/// minted it.
type Minted = (String, DateTime<Utc>, u64);

/// A token this service verified: what it says, its expiry and issue time, and the
/// generation of the keys that verified it.
#[derive(Clone)]
struct Verified {
    token: VerifiedToken,
    exp: i64,
    iat: i64,
    generation: u64,
}

/// Who a verified token speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The caller: a service, an adapter, `operator` or `auditor`.
    pub caller: String,
    /// The person an operator's or auditor's token names.
    pub person: Option<Uuid>,
    /// The sign-in session of a person's token.
    pub session: Option<Uuid>,
}

/// The keys in force: one to sign with, those to trust.
struct Held {
    key: SigningKey,
    kid: String,
    trust: Trust,
    /// Distinct for every set of keys put in force (in this process).
    generation: u64,
}

/// Most verified tokens remembered; past this the memory starts over.
const VERIFIED_MAX: usize = 4096;

impl std::fmt::Debug for ServiceKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceKeys")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A 32-byte Ed25519 seed, base64url (`KJ_SERVICE_KEY`, a key file).
pub fn parse_seed(text: &str) -> anyhow::Result<[u8; 32]> {
    decode_key(text)
}

impl Held {
    fn new(seed: [u8; 32], trust: Trust) -> Held {
        let key = SigningKey::from_bytes(&seed);
        static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Held {
            kid: key_id(&key.verifying_key()),
            key,
            trust,
            generation: GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }
}

fn decode_key(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .map_err(|_| anyhow::anyhow!("not base64url"))?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("not 32 bytes"))
}

impl ServiceKeys {
    /// Keys from a seed and the keys to trust.
    pub fn new(name: &str, seed: [u8; 32], trust: impl Into<Trust>) -> ServiceKeys {
        ServiceKeys {
            name: name.to_owned(),
            current: RwLock::new(Arc::new(Held::new(seed, trust.into()))),
            cache: Mutex::default(),
            verified: Mutex::default(),
        }
    }

    /// From `KJ_SERVICE_KEY` (base64url 32-byte seed) and `KJ_SERVICE_TRUST`
    /// (`name=base64url-public-key,...`); `kuajing keys` prints a set.
    pub fn from_config(name: &str, seed: &str, trust: &str) -> anyhow::Result<ServiceKeys> {
        let seed = parse_seed(seed).map_err(|e| anyhow::anyhow!("KJ_SERVICE_KEY: {e}"))?;
        let trust = Trust::parse(trust).map_err(|e| anyhow::anyhow!("KJ_SERVICE_TRUST: {e}"))?;
        Ok(ServiceKeys::new(name, seed, trust))
    }

    /// This service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn held(&self) -> Arc<Held> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Puts new keys in force: tokens are minted with the new key from now on, and only
    /// keys in the new trust verify (tokens checked before are checked again).
    pub fn replace(&self, seed: [u8; 32], trust: Trust) {
        let held = Held::new(seed, trust);
        tracing::info!(
            service = %self.name,
            kid = %held.kid,
            trusted = held.trust.0.values().map(Vec::len).sum::<usize>(),
            "service keys in force"
        );
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(held);
        // What the old keys minted or verified is never used again (generations differ).
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// The id of the key this service signs with.
    pub fn key_id(&self) -> String {
        self.held().kid.clone()
    }

    /// A token naming this service, for `audience`.
    pub fn mint(&self, audience: &str, now: DateTime<Utc>) -> String {
        mint(&self.name, &self.held().key, audience, now)
    }

    /// A cached token for `audience`, renewed when less than half its life is left.
    /// A token minted with a key since replaced is not reused.
    pub fn token_for(&self, audience: &str) -> String {
        let now = Utc::now();
        let held = self.held();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((token, exp, generation)) = cache.get(audience)
            && *generation == held.generation
            && *exp - now > TOKEN_TTL / 2
        {
            return token.clone();
        }
        let token = mint(&self.name, &held.key, audience, now);
        cache.insert(
            audience.to_owned(),
            (token.clone(), now + TOKEN_TTL, held.generation),
        );
        token
    }

    /// Verifies a token presented to this service; returns the caller's name.
    /// A token remembered as verified under keys since replaced is checked again.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<String, &'static str> {
        self.verify_caller(token, now).map(|v| v.caller)
    }

    /// [`ServiceKeys::verify`], with the person an operator's or auditor's token names.
    pub fn verify_caller(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<VerifiedToken, &'static str> {
        let held = self.held();
        let remembered = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .filter(|known| known.generation == held.generation)
            .cloned();
        let known = match remembered {
            Some(known) => known,
            None => {
                let known = Verified {
                    generation: held.generation,
                    ..verify_signed(&self.name, &held.trust, token)?
                };
                let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
                if verified.len() >= VERIFIED_MAX {
                    verified.clear();
                }
                verified.insert(token.to_owned(), known.clone());
                known
            }
        };
        if now.timestamp() >= known.exp {
            return Err("service token expired");
        }
        if known.iat > now.timestamp() + CLOCK_SKEW_SECS {
            return Err("service token issued in the future");
        }
        Ok(known.token)
    }
}

/// Checks a token presented to service `name` trusting `trust`: its form, issuer,
/// signature, audience and lifetime (not its expiry); answers what it says (generation 0).
fn verify_signed(name: &str, trust: &Trust, token: &str) -> Result<Verified, &'static str> {
    let mut parts = token.split('.');
    let (Some("kjs1"), Some(claims_b64), Some(sig_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed service token");
    };
    let claims: TokenClaims = URL_SAFE_NO_PAD
        .decode(claims_b64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("malformed service token")?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig_b64)
        .ok()
        .and_then(|s| Signature::from_slice(&s).ok())
        .ok_or("malformed service token")?;
    // Auditors' tokens are signed with the operator key.
    let signer = if claims.svc == AUDITOR {
        OPERATOR
    } else {
        claims.svc.as_str()
    };
    let mut keys = trust.keys_for(signer, &claims.kid).peekable();
    if keys.peek().is_none() {
        return Err(if trust.0.contains_key(signer) {
            "service token signed by a key no longer (or not yet) trusted"
        } else {
            "service token from an untrusted service"
        });
    }
    let signed = format!("kjs1.{claims_b64}");
    if !keys.any(|key| key.verify(signed.as_bytes(), &sig).is_ok()) {
        return Err("bad service token signature");
    }
    if claims.aud != name && !(is_person(&claims.svc) && claims.aud == "*") {
        return Err("service token for another service");
    }
    if claims.exp.saturating_sub(claims.iat) > max_lifetime(&claims.svc).num_seconds() {
        return Err("service token lives too long: at most 10 minutes (1 hour for operators)");
    }
    let person = match (is_person(&claims.svc), claims.sub.as_str()) {
        (_, "") => None,
        (true, sub) => Some(Uuid::try_parse(sub).map_err(|_| "malformed service token")?),
        (false, _) => return Err("a service's token names no person"),
    };
    let session = match (person, claims.sid.as_str()) {
        (_, "") => None,
        (Some(_), sid) => Some(Uuid::try_parse(sid).map_err(|_| "malformed service token")?),
        (None, _) => return Err("a session in a token that names nobody"),
    };
    Ok(Verified {
        token: VerifiedToken {
            caller: claims.svc,
            person,
            session,
        },
        exp: claims.exp,
        iat: claims.iat,
        generation: 0,
    })
}

fn mint(name: &str, key: &SigningKey, audience: &str, now: DateTime<Utc>) -> String {
    mint_until(name, key, audience, now, now + TOKEN_TTL)
}

fn mint_until(
    name: &str,
    key: &SigningKey,
    audience: &str,
    iat: DateTime<Utc>,
    exp: DateTime<Utc>,
) -> String {
    sign(
        TokenClaims {
            svc: name.to_owned(),
            aud: audience.to_owned(),
            exp: exp.timestamp(),
            iat: iat.timestamp(),
            kid: key_id(&key.verifying_key()),
            sub: String::new(),
            sid: String::new(),
        },
        key,
    )
}

/// A person's token: `role` ([`OPERATOR`] or [`AUDITOR`]) for `person` in sign-in
/// `session`, audience `*`, from `iat` until `exp` (at most
/// [`MAX_OPERATOR_TOKEN_LIFETIME`], or services refuse it), signed with the operator key.
/// Identity mints these when an operator signs in.
pub fn person_token(
    key: &SigningKey,
    role: &str,
    person: Uuid,
    session: Uuid,
    iat: DateTime<Utc>,
    exp: DateTime<Utc>,
) -> anyhow::Result<String> {
    anyhow::ensure!(is_person(role), "{role} tokens do not belong to people");
    Ok(sign(
        TokenClaims {
            svc: role.to_owned(),
            aud: "*".to_owned(),
            exp: exp.timestamp(),
            iat: iat.timestamp(),
            kid: key_id(&key.verifying_key()),
            sub: person.to_string(),
            sid: session.to_string(),
        },
        key,
    ))
}

fn sign(claims: TokenClaims, key: &SigningKey) -> String {
    let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
    let sig = key.sign(format!("kjs1.{claims}").as_bytes());
    format!("kjs1.{claims}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

/// When `token` expires, read without checking it: for its holder, deciding when to get
/// a new one (a service never trusts a token on this).
pub fn token_expiry(token: &str) -> Option<DateTime<Utc>> {
    let claims = token.strip_prefix("kjs1.")?.split('.').next()?;
    let claims: TokenClaims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()?;
    DateTime::from_timestamp(claims.exp, 0)
}

/// Keys for a whole platform (one per service, plus operators), for `kuajing up`, the
/// testkit and `kuajing keys`.
#[derive(Clone)]
pub struct Keyring {
    keys: BTreeMap<String, SigningKey>,
}

impl Keyring {
    /// Fresh random keys for `names` and the external callers (operators, adapters).
    pub fn generate(names: &[&str]) -> anyhow::Result<Keyring> {
        let mut keys = BTreeMap::new();
        for name in names
            .iter()
            .copied()
            .chain(EXTERNAL_CALLERS.iter().copied())
        {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            keys.insert(name.to_owned(), SigningKey::from_bytes(&seed));
        }
        Ok(Keyring { keys })
    }

    /// The keys given, by caller name (base64url seeds, as [`Keyring::seed_text`] writes).
    pub fn from_seeds<'a>(
        seeds: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> anyhow::Result<Keyring> {
        let mut keys = BTreeMap::new();
        for (name, seed) in seeds {
            let seed = parse_seed(seed).map_err(|e| anyhow::anyhow!("key of {name}: {e}"))?;
            keys.insert(name.to_owned(), SigningKey::from_bytes(&seed));
        }
        Ok(Keyring { keys })
    }

    /// The same callers with fresh keys: what a rotation moves to.
    pub fn rotated(&self) -> anyhow::Result<Keyring> {
        let names: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        let mut fresh = Keyring::generate(&names)?;
        fresh.keys.retain(|n, _| self.keys.contains_key(n));
        Ok(fresh)
    }

    /// Every caller's public key.
    pub fn trust(&self) -> Trust {
        let mut trust = Trust::default();
        for (name, key) in &self.keys {
            trust.add(name, key.verifying_key());
        }
        trust
    }

    /// The callers: the services and the external callers.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The public key of `caller`.
    pub fn public_key(&self, caller: &str) -> Option<VerifyingKey> {
        Some(self.keys.get(caller)?.verifying_key())
    }

    /// The private key (base64url seed) of `caller`, as `KJ_SERVICE_KEY` or a key file
    /// holds it.
    pub fn seed_text(&self, caller: &str) -> Option<String> {
        Some(URL_SAFE_NO_PAD.encode(self.keys.get(caller)?.to_bytes()))
    }

    /// The keys service `name` runs with.
    pub fn for_service(&self, name: &str) -> Option<Arc<ServiceKeys>> {
        let key = self.keys.get(name)?;
        Some(Arc::new(ServiceKeys::new(
            name,
            key.to_bytes(),
            self.trust(),
        )))
    }

    /// A token for `caller` (a service name or `operator`) to `audience`, valid until `exp`.
    /// An operator token made here names no person: only the tests and `kuajing up`'s own
    /// tools, which hold the operator key, make them.
    pub fn token(&self, caller: &str, audience: &str, exp: DateTime<Utc>) -> Option<String> {
        // Auditors' tokens are signed with the operator key.
        let key = self
            .keys
            .get(if caller == AUDITOR { OPERATOR } else { caller })?;
        let audience = if is_person(caller) { "*" } else { audience };
        Some(mint_until(caller, key, audience, Utc::now(), exp))
    }

    /// The operator key's private half (identity signs operators' and auditors' tokens
    /// with it).
    pub fn operator_key(&self) -> Option<SigningKey> {
        self.keys.get(OPERATOR).cloned()
    }

    /// The environment one service would run with (`KJ_SERVICE_KEY`, `KJ_SERVICE_TRUST`).
    pub fn env_for(&self, name: &str) -> Option<[(String, String); 2]> {
        Some([
            ("KJ_SERVICE_KEY".to_owned(), self.seed_text(name)?),
            ("KJ_SERVICE_TRUST".to_owned(), self.trust().text()),
        ])
    }
}

/// The refusal for a request without a valid credential or from a caller not allowed.
fn refusal(domain: ErrorDomain, reason: &str, message: &str) -> Status {
    let code = if reason == CALLER_NOT_ALLOWED {
        tonic::Code::PermissionDenied
    } else {
        tonic::Code::Unauthenticated
    };
    domain.refuse(code, reason, message)
}

/// The person an operator's or auditor's token names (its `sub`), put on the request
/// beside the [`Caller`]: who is accountable for the call, whatever `kj-subject` says (a
/// token of the shared operator key, which only `kuajing up` and the tests mint, names
/// nobody).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamedPerson(pub Uuid);

/// The sign-in session of a person's token, put on the request beside its [`NamedPerson`]
/// (what signing out ends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignInSession(pub Uuid);

/// Checks a request's credential against the allowed callers of its method. Returns the
/// caller, or the refusal to answer with.
pub fn check<B>(
    keys: &ServiceKeys,
    domain: ErrorDomain,
    request: &http::Request<B>,
) -> Result<Caller, Status> {
    check_named(keys, &Checks::default(), domain, request).map(|(caller, _)| caller)
}

/// What the credential check refuses beyond a bad token and a caller not allowed.
#[derive(Clone, Default)]
struct Checks {
    /// People's tokens of the sessions listed here.
    revocations: Option<Arc<Revocations>>,
    /// Refuse operators' and auditors' tokens that name nobody (minted with the operator
    /// key itself, as only `kuajing up`, the tests, bench and chaos do).
    named_people_only: bool,
}

/// The person a token names, and the sign-in it carries.
type Signed = (NamedPerson, Option<SignInSession>);

/// [`check`], refusing a person's token whose session `revocations` lists, with the
/// person the token names and its session, if any.
fn check_named<B>(
    keys: &ServiceKeys,
    checks: &Checks,
    domain: ErrorDomain,
    request: &http::Request<B>,
) -> Result<(Caller, Option<Signed>), Status> {
    let path = request.uri().path();
    let token = request.headers().get(TOKEN_HEADER).ok_or_else(|| {
        refusal(
            domain,
            SERVICE_CREDENTIAL_MISSING,
            "this service needs a service credential",
        )
    })?;
    let token = token.to_str().map_err(|_| {
        refusal(
            domain,
            SERVICE_CREDENTIAL_INVALID,
            "malformed service token",
        )
    })?;
    let VerifiedToken {
        caller,
        person,
        session,
    } = keys
        .verify_caller(token, Utc::now())
        .map_err(|why| refusal(domain, SERVICE_CREDENTIAL_INVALID, why))?;
    if checks.named_people_only && is_person(&caller) && person.is_none() {
        return Err(refusal(
            domain,
            SERVICE_CREDENTIAL_INVALID,
            "an operator's token must name its person: sign in (SignInOperator); tokens of the \
             operator key itself serve only `kuajing up` and its tools",
        ));
    }
    if let (Some(session), Some(revoked)) = (session, checks.revocations.as_deref())
        && revoked.is_revoked(&session.to_string())
    {
        return Err(refusal(
            domain,
            SERVICE_CREDENTIAL_INVALID,
            "this token's sign-in has ended (signed out, or the grant was removed): sign in again",
        ));
    }
    certificate_names_caller(domain, request, &caller)?;
    let allowed = kuajing_proto::callers::allowed(path).unwrap_or_default();
    if !allowed.contains(&caller.as_str()) {
        return Err(refusal(
            domain,
            CALLER_NOT_ALLOWED,
            &format!("{caller} may not call {path}"),
        ));
    }
    let subject = subject_of(domain, request, &caller, person)?;
    // Edge authenticates people: an RPC its contract says edge calls for a person must name
    // that person, so a forgotten subject cannot skip the handler's ownership check.
    if caller == "edge" && subject.is_none() && kuajing_proto::callers::edge_needs_subject(path) {
        return Err(domain.refuse(
            tonic::Code::PermissionDenied,
            SUBJECT_REQUIRED,
            format!("edge must name the person it acts for (`{SUBJECT_HEADER}`) to call {path}"),
        ));
    }
    Ok((
        Caller {
            service: caller,
            subject,
        },
        person.map(|p| (NamedPerson(p), session.map(SignInSession))),
    ))
}

/// Over mutual TLS, refuses a token that names another caller than the connection's
/// client certificate (SERVICE_CERTIFICATE_MISMATCH).
fn certificate_names_caller<B>(
    domain: ErrorDomain,
    request: &http::Request<B>,
    caller: &str,
) -> Result<(), Status> {
    if let Some(certs) = crate::tls::peer_certificates(request) {
        let named = certs
            .first()
            .is_some_and(|leaf| crate::tls::certificate_names(leaf, caller));
        if !named {
            return Err(refusal(
                domain,
                SERVICE_CERTIFICATE_MISMATCH,
                &format!(
                    "the client certificate does not name {caller}, whom the service token names"
                ),
            ));
        }
    }
    Ok(())
}

/// The person the call acts for (`kj-subject`). Only a service that authenticated the
/// person (edge) or an operator may name one; a person's own token names its person, and
/// nobody else.
fn subject_of<B>(
    domain: ErrorDomain,
    request: &http::Request<B>,
    caller: &str,
    person: Option<Uuid>,
) -> Result<Option<Uuid>, Status> {
    Ok(match request.headers().get(SUBJECT_HEADER) {
        _ if person.is_some() => {
            let named = request.headers().get(SUBJECT_HEADER);
            if named.is_some_and(|v| v.to_str().ok() != person.map(|p| p.to_string()).as_deref()) {
                return Err(refusal(
                    domain,
                    CALLER_NOT_ALLOWED,
                    &format!("an {caller} acts as the person the token names, nobody else"),
                ));
            }
            person
        }
        None => None,
        Some(_) if caller != "edge" && caller != OPERATOR => {
            return Err(refusal(
                domain,
                CALLER_NOT_ALLOWED,
                &format!("{caller} may not act for a person"),
            ));
        }
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| Uuid::try_parse(s).ok())
                .ok_or_else(|| {
                    crate::error::invalid_field(SUBJECT_HEADER, "must be an account id")
                })?,
        ),
    })
}

/// A tower layer enforcing [`check`] on every method of the wrapped service except the
/// health and reflection services.
#[derive(Clone)]
pub struct RequireCaller {
    keys: Arc<ServiceKeys>,
    domain: ErrorDomain,
    checks: Checks,
}

impl RequireCaller {
    /// The layer for a service running with `keys`.
    pub fn new(keys: Arc<ServiceKeys>, domain: ErrorDomain) -> Self {
        RequireCaller {
            keys,
            domain,
            checks: Checks::default(),
        }
    }

    /// Also refusing people's tokens of the sessions `revocations` lists.
    pub fn with_revocations(mut self, revocations: Arc<Revocations>) -> Self {
        self.checks.revocations = Some(revocations);
        self
    }

    /// Also refusing operators' and auditors' tokens that name nobody.
    pub fn named_people_only(mut self, only: bool) -> Self {
        self.checks.named_people_only = only;
        self
    }
}

impl<S> tower::Layer<S> for RequireCaller {
    type Service = RequireCallerService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequireCallerService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`RequireCaller`] wraps around.
#[derive(Clone)]
pub struct RequireCallerService<S> {
    inner: S,
    layer: RequireCaller,
}

impl<S, B> tower::Service<http::Request<B>> for RequireCallerService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures_util::future::Either<
        S::Future,
        std::future::Ready<Result<Self::Response, Self::Error>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        if path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.") {
            return futures_util::future::Either::Left(self.inner.call(request));
        }
        let layer = &self.layer;
        match check_named(&layer.keys, &layer.checks, layer.domain, &request) {
            Ok((caller, person)) => {
                request.extensions_mut().insert(caller);
                if let Some((person, session)) = person {
                    request.extensions_mut().insert(person);
                    if let Some(session) = session {
                        request.extensions_mut().insert(session);
                    }
                }
                futures_util::future::Either::Left(self.inner.call(request))
            }
            Err(status) => {
                futures_util::future::Either::Right(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}

/// The person a request acts for, as [`Caller::subject_of`] reads it; `None` when the
/// caller named nobody. The one subject type of the services that take `kj-subject`
/// (order keeps its own `Who`, which also says whether the person is to be checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Subject(pub Option<Uuid>);

impl Subject {
    /// The request's person; a `kj-subject` that is not an account id is refused.
    pub fn of<T>(request: &tonic::Request<T>, domain: ErrorDomain) -> Result<Subject, Status> {
        Caller::subject_of(request, domain).map(Subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::generate(&["edge", "wallet", "order", "fx"]).unwrap()
    }

    fn request(path: &str, token: Option<&str>, subject: Option<&str>) -> http::Request<()> {
        let mut r = http::Request::builder().uri(path);
        if let Some(t) = token {
            r = r.header(TOKEN_HEADER, t);
        }
        if let Some(s) = subject {
            r = r.header(SUBJECT_HEADER, s);
        }
        r.body(()).unwrap()
    }

    const D: ErrorDomain = ErrorDomain("wallet.kuajing");
    const POST: &str = "/kuajing.wallet.v1.WalletService/PostConversion";

    fn reason(s: &Status) -> String {
        use tonic_types::StatusExt;
        s.get_details_error_info()
            .map(|i| i.reason)
            .unwrap_or_default()
    }

    #[test]
    fn the_table_decides_who_may_call() {
        let ring = ring();
        let wallet = ring.for_service("wallet").unwrap();
        let exp = Utc::now() + Duration::minutes(1);
        let fx = ring.token("fx", "wallet", exp).unwrap();
        assert_eq!(
            check(&wallet, D, &request(POST, Some(&fx), None))
                .unwrap()
                .service,
            "fx"
        );
        let order = ring.token("order", "wallet", exp).unwrap();
        let err = check(&wallet, D, &request(POST, Some(&order), None)).unwrap_err();
        assert_eq!(
            (err.code(), reason(&err).as_str()),
            (tonic::Code::PermissionDenied, CALLER_NOT_ALLOWED)
        );
        let err = check(&wallet, D, &request(POST, None, None)).unwrap_err();
        assert_eq!(
            (err.code(), reason(&err).as_str()),
            (tonic::Code::Unauthenticated, SERVICE_CREDENTIAL_MISSING)
        );
        let unknown = "/kuajing.wallet.v1.WalletService/NoSuchMethod";
        assert!(
            check(&wallet, D, &request(unknown, Some(&fx), None)).is_err(),
            "default deny"
        );
    }

    #[test]
    fn forged_expired_and_misdirected_tokens_are_refused() {
        let ring = ring();
        let wallet = ring.for_service("wallet").unwrap();
        let now = Utc::now();
        let expired = ring
            .token("fx", "wallet", now - Duration::seconds(1))
            .unwrap();
        let for_order = ring
            .token("fx", "order", now + Duration::minutes(1))
            .unwrap();
        let other_ring = Keyring::generate(&["fx"]).unwrap();
        let forged = other_ring
            .token("fx", "wallet", now + Duration::minutes(1))
            .unwrap();
        let good = ring
            .token("fx", "wallet", now + Duration::minutes(1))
            .unwrap();
        let mut tampered = good.clone();
        tampered.replace_range(10..11, if &good[10..11] == "A" { "B" } else { "A" });
        for token in [
            expired,
            for_order,
            forged,
            tampered,
            "kjs1.x.y".to_owned(),
            "garbage".to_owned(),
        ] {
            let err = check(&wallet, D, &request(POST, Some(&token), None)).unwrap_err();
            assert_eq!(reason(&err), SERVICE_CREDENTIAL_INVALID, "{token}");
        }
    }

    #[test]
    fn a_remembered_token_still_expires_and_a_changed_one_is_checked_again() {
        let ring = ring();
        let wallet = ring.for_service("wallet").unwrap();
        let now = Utc::now();
        let good = ring
            .token("fx", "wallet", now + Duration::seconds(30))
            .unwrap();
        assert_eq!(wallet.verify(&good, now).unwrap(), "fx");
        assert_eq!(wallet.verify(&good, now).unwrap(), "fx", "remembered");
        assert_eq!(
            wallet.verify(&good, now + Duration::seconds(30)),
            Err("service token expired")
        );
        let mut tampered = good.clone();
        let last = tampered.len() - 2;
        tampered.replace_range(
            last..last + 1,
            if &good[last..last + 1] == "A" {
                "B"
            } else {
                "A"
            },
        );
        assert_eq!(
            wallet.verify(&tampered, now),
            Err("bad service token signature")
        );
        // A refused token is not remembered: it is refused again for the same reason.
        assert!(wallet.verify(&tampered, now).is_err());
    }

    #[test]
    fn only_edge_and_operators_name_a_subject() {
        let ring = ring();
        let wallet = ring.for_service("wallet").unwrap();
        let exp = Utc::now() + Duration::minutes(1);
        let get = "/kuajing.wallet.v1.WalletService/GetWallet";
        let person = Uuid::now_v7().to_string();
        let edge = ring.token("edge", "wallet", exp).unwrap();
        let caller = check(&wallet, D, &request(get, Some(&edge), Some(&person))).unwrap();
        assert_eq!(caller.subject.map(|s| s.to_string()), Some(person.clone()));
        let fx = ring.token("fx", "wallet", exp).unwrap();
        assert!(check(&wallet, D, &request(get, Some(&fx), Some(&person))).is_err());
        let operator = ring.token(OPERATOR, "ignored", exp).unwrap();
        let list = "/kuajing.wallet.v1.WalletService/ListLedgerAccounts";
        assert_eq!(
            check(&wallet, D, &request(list, Some(&operator), None))
                .unwrap()
                .service,
            OPERATOR
        );
    }

    #[test]
    fn outside_development_an_operators_token_names_its_person() {
        let ring = ring();
        let wallet = ring.for_service("wallet").unwrap();
        let list = "/kuajing.wallet.v1.WalletService/ListLedgerAccounts";
        let now = Utc::now();
        let nameless = ring
            .token(OPERATOR, "*", now + Duration::minutes(5))
            .unwrap();
        let strict = Checks {
            named_people_only: true,
            ..Checks::default()
        };
        let refused =
            check_named(&wallet, &strict, D, &request(list, Some(&nameless), None)).unwrap_err();
        assert_eq!(reason(&refused), SERVICE_CREDENTIAL_INVALID);
        let lenient = Checks::default();
        assert!(check_named(&wallet, &lenient, D, &request(list, Some(&nameless), None)).is_ok());
        let key = ring.operator_key().unwrap();
        let (me, sign_in) = (Uuid::now_v7(), Uuid::now_v7());
        let named = person_token(
            &key,
            OPERATOR,
            me,
            sign_in,
            now,
            now + Duration::minutes(30),
        )
        .unwrap();
        assert!(check_named(&wallet, &strict, D, &request(list, Some(&named), None)).is_ok());
    }

    #[test]
    fn a_persons_token_is_that_persons_alone() {
        let ring = ring();
        let wallet = ring.for_service("wallet").unwrap();
        let (now, key) = (Utc::now(), ring.operator_key().unwrap());
        let exp = now + Duration::minutes(30);
        let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
        let mine = person_token(&key, OPERATOR, me, Uuid::now_v7(), now, exp).unwrap();
        let list = "/kuajing.wallet.v1.WalletService/ListLedgerAccounts";
        let caller = check(&wallet, D, &request(list, Some(&mine), None)).unwrap();
        assert_eq!(
            (caller.service.as_str(), caller.subject),
            (OPERATOR, Some(me))
        );
        let same = me.to_string();
        assert!(check(&wallet, D, &request(list, Some(&mine), Some(&same))).is_ok());
        let refused = check(
            &wallet,
            D,
            &request(list, Some(&mine), Some(&other.to_string())),
        )
        .unwrap_err();
        assert_eq!(reason(&refused), CALLER_NOT_ALLOWED);
        // An auditor's token verifies with the operator key, yet no contract but the audit
        // log's lets an auditor in.
        let auditor = person_token(&key, AUDITOR, me, Uuid::now_v7(), now, exp).unwrap();
        let refused = check(&wallet, D, &request(list, Some(&auditor), None)).unwrap_err();
        assert_eq!(reason(&refused), CALLER_NOT_ALLOWED);
        // Only people's tokens name people, and only with the operator key.
        assert!(person_token(&key, "wallet", me, Uuid::now_v7(), now, exp).is_err());
        let forged = person_token(
            &SigningKey::from_bytes(&[3; 32]),
            OPERATOR,
            me,
            Uuid::now_v7(),
            now,
            exp,
        )
        .unwrap();
        let refused = check(&wallet, D, &request(list, Some(&forged), None)).unwrap_err();
        assert_eq!(reason(&refused), SERVICE_CREDENTIAL_INVALID);
    }

    #[test]
    fn edge_names_the_person_where_the_contract_says_it_acts_for_one() {
        let ring = ring();
        let wallet = ring.for_service("wallet").unwrap();
        let exp = Utc::now() + Duration::minutes(1);
        let edge = ring.token("edge", "wallet", exp).unwrap();
        let get = "/kuajing.wallet.v1.WalletService/GetWallet";
        let refused = check(&wallet, D, &request(get, Some(&edge), None)).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        assert_eq!(reason(&refused), SUBJECT_REQUIRED);
        assert!(refused.message().contains("kj-subject"), "{refused:?}");
        // Public reference data: no person needed.
        let rules = "/kuajing.wallet.v1.WalletService/ListWithdrawalFeeRules";
        assert_eq!(
            check(&wallet, D, &request(rules, Some(&edge), None))
                .unwrap()
                .subject,
            None
        );
        // Services acting for the system name nobody and are not refused.
        let order = ring.token("order", "wallet", exp).unwrap();
        assert!(check(&wallet, D, &request(get, Some(&order), None)).is_ok());
    }

    #[test]
    fn every_token_kind_has_a_maximum_lifetime() {
        let ring = ring();
        let wallet = ring.for_service("wallet").unwrap();
        let now = Utc::now();
        let service = |life: Duration| ring.token("fx", "wallet", now + life).unwrap();
        assert!(wallet.verify(&service(Duration::minutes(10)), now).is_ok());
        assert_eq!(
            wallet.verify(&service(Duration::hours(1)), now),
            Err("service token lives too long: at most 10 minutes (1 hour for operators)")
        );
        let operator = |life: Duration| ring.token(OPERATOR, "*", now + life).unwrap();
        assert!(wallet.verify(&operator(Duration::hours(1)), now).is_ok());
        assert!(
            wallet
                .verify(&operator(Duration::minutes(61)), now)
                .is_err()
        );
        assert!(wallet.verify(&operator(Duration::hours(24)), now).is_err());
        let key = ring.operator_key().unwrap();
        let person = Uuid::now_v7();
        let auditor =
            |life: Duration| person_token(&key, AUDITOR, person, Uuid::now_v7(), now, now + life);
        assert!(
            wallet
                .verify(&auditor(Duration::hours(1)).unwrap(), now)
                .is_ok()
        );
        assert!(
            wallet
                .verify(&auditor(Duration::minutes(61)).unwrap(), now)
                .is_err()
        );
        // Issued an hour from now, for ten minutes: refused until then.
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut trusted = HashMap::new();
        trusted.insert("fx".to_owned(), key.verifying_key());
        let wallet = ServiceKeys::new("wallet", [8; 32], trusted);
        let later = now + Duration::hours(1);
        let early = mint_until("fx", &key, "wallet", later, later + Duration::minutes(10));
        assert_eq!(
            wallet.verify(&early, now),
            Err("service token issued in the future")
        );
        assert!(wallet.verify(&early, later).is_ok());
        // A token without an issue time (minted before lifetimes) is refused.
        let claims = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"svc":"fx","aud":"wallet","exp":{}}}"#,
            (now + Duration::minutes(1)).timestamp()
        ));
        let sig = key.sign(format!("kjs1.{claims}").as_bytes());
        let old = format!("kjs1.{claims}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()));
        assert!(wallet.verify(&old, now).is_err());
    }

    #[test]
    fn a_caller_trusted_with_two_keys_is_served_with_either_and_replaced_keys_forget() {
        let old = ring();
        let new = old.rotated().unwrap();
        let mut both = old.trust();
        both.add("fx", new.public_key("fx").unwrap());
        let wallet = ServiceKeys::new("wallet", [9; 32], both.clone());
        assert_eq!(
            Trust::parse(&both.text()).unwrap(),
            both,
            "the text round-trips"
        );
        let now = Utc::now();
        let exp = now + Duration::minutes(1);
        let (by_old, by_new) = (
            old.token("fx", "wallet", exp).unwrap(),
            new.token("fx", "wallet", exp).unwrap(),
        );
        assert_eq!(wallet.verify(&by_old, now).unwrap(), "fx");
        assert_eq!(wallet.verify(&by_new, now).unwrap(), "fx");
        // Edge's new key is not trusted yet: its kid names no trusted key.
        let edge_new = new.token("edge", "wallet", exp).unwrap();
        assert_eq!(
            wallet.verify(&edge_new, now),
            Err("service token signed by a key no longer (or not yet) trusted")
        );
        // Only the new fx key from now on: the token verified (and remembered) before is
        // refused, and tokens this service minted are minted again with its new key.
        let minted = wallet.token_for("order");
        wallet.replace([10; 32], new.trust());
        assert!(wallet.verify(&by_old, now).is_err());
        assert_eq!(wallet.verify(&by_new, now).unwrap(), "fx");
        let again = wallet.token_for("order");
        assert_ne!(minted, again);
        assert_eq!(
            wallet.key_id(),
            key_id(&SigningKey::from_bytes(&[10; 32]).verifying_key())
        );
    }

    #[test]
    fn env_round_trips() {
        let ring = ring();
        let [(k1, key), (k2, trust)] = ring.env_for("wallet").unwrap();
        assert_eq!(
            (k1.as_str(), k2.as_str()),
            ("KJ_SERVICE_KEY", "KJ_SERVICE_TRUST")
        );
        assert_eq!(decode_key(&key).unwrap().len(), 32);
        assert_eq!(trust.split(',').count(), 4 + EXTERNAL_CALLERS.len());
    }
}
