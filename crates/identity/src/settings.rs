//! Identity's own settings: token lifetimes and keys, code, login and PIN rules, hashing
//! cost, operators and admission thresholds. Every one is an environment variable (and a
//! flag of the `kuajing-identity` binary, listed by `--help`) with the contract's default.
//!
//! The platform builds services from a plain `ServiceContext`, so when identity runs inside
//! `kuajing up` or the testkit it reads these from the environment; the binary parses them
//! with its other flags and installs them first.

use anyhow::Context;
use chrono::Duration;
use uuid::Uuid;

use crate::domain::admission::AdmissionRules;
use crate::domain::code::CodePolicy;
use crate::domain::linked::Marketplace;
use crate::domain::lockout::Lockout;
use crate::domain::region;
use crate::domain::session::SessionPolicy;

/// Identity's options (flags and environment variables).
#[derive(clap::Args, Clone, Debug)]
#[command(next_help_heading = "Identity")]
pub struct IdentityArgs {
    /// Ed25519 key that signs access tokens: base64 of a PKCS#8 DER private key or of a
    /// 32-byte seed, or a PKCS#8 PEM. Unset: a key is generated on first start, kept in the
    /// identity schema, and rotated every KJ_IDENTITY_SIGNING_KEY_ROTATION_SECS (the next
    /// key is published before it signs).
    #[arg(long, env = "KJ_IDENTITY_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<String>,
    /// The signing key in a file (a mounted Secret) instead, reloaded when it changes so
    /// that it rotates without a restart: `signing=<key>` and, ahead of a rotation,
    /// `next=<key>` (published before it signs), one per line; or one bare key.
    #[arg(
        long,
        env = "KJ_IDENTITY_SIGNING_KEY_FILE",
        conflicts_with = "signing_key"
    )]
    pub signing_key_file: Option<std::path::PathBuf>,
    /// How often the signing key file is checked for changes, in seconds.
    #[arg(long, env = "KJ_IDENTITY_SIGNING_KEY_RELOAD_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub signing_key_reload_secs: u64,
    /// Server secret, base64 of at least 32 random bytes, that keys verification-code
    /// hashes, refresh tokens, the PIN hash pepper and document-number encryption. Unset: one
    /// is generated on first start and kept in the identity schema (fine for local use; in
    /// production supply it, so that a copy of the database alone reveals nothing).
    /// Changing it invalidates refresh tokens, pending codes and payment PINs.
    #[arg(long, env = "KJ_IDENTITY_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// The SMTP server that delivers email codes: `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS), `smtps://user:pass@host` (TLS), or `smtp://host:port` (plain text, a
    /// local relay). Unset: `kuajing up` and the tests keep messages in the development
    /// outbox; the binary refuses to start (codes would be kept in plain text).
    #[arg(long, env = "KJ_IDENTITY_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Keep every email and text message in the identity.outbox table instead of
    /// delivering it, codes in plain text: for bench and chaos runs of the binaries on a
    /// developer's machine, never in production (no manifest sets it). `kuajing up` and the
    /// tests do so by themselves.
    #[arg(long, env = "KJ_IDENTITY_DEVELOPMENT_SENDER")]
    pub development_sender: bool,
    /// The sender of code emails.
    #[arg(
        long,
        env = "KJ_IDENTITY_SMTP_FROM",
        default_value = "Kuajing <no-reply@localhost>"
    )]
    pub smtp_from: String,
    /// The SMS provider's webhook that delivers text-message codes: an https:// URL (plain
    /// http only to this host) taking a signed JSON POST (see `sender::webhook`). Unset:
    /// `kuajing up` and the tests keep text messages in the development outbox; the binary
    /// refuses text codes (SENDER_UNAVAILABLE).
    #[arg(long, env = "KJ_IDENTITY_SMS_WEBHOOK_URL", hide_env_values = true)]
    pub sms_webhook_url: Option<String>,
    /// The key that signs each webhook POST (base64 of at least 32 random bytes; the
    /// receiver checks `Kuajing-Signature` with it). Required with the URL.
    #[arg(long, env = "KJ_IDENTITY_SMS_WEBHOOK_SECRET", hide_env_values = true)]
    pub sms_webhook_secret: Option<String>,
    /// Access token lifetime, seconds.
    #[arg(long, env = "KJ_IDENTITY_ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: u32,
    /// Refresh token (session) lifetime from login, seconds; rotation does not extend it.
    #[arg(
        long,
        env = "KJ_IDENTITY_REFRESH_TOKEN_TTL_SECS",
        default_value_t = 2_592_000
    )]
    pub refresh_token_ttl_secs: u32,
    /// How long a generated signing key signs before the next one takes over, seconds.
    #[arg(
        long,
        env = "KJ_IDENTITY_SIGNING_KEY_ROTATION_SECS",
        default_value_t = 7_776_000
    )]
    pub signing_key_rotation_secs: u32,
    /// How long verifiers may cache the published key set, seconds.
    #[arg(
        long,
        env = "KJ_IDENTITY_KEYS_MAX_CACHE_AGE_SECS",
        default_value_t = 300
    )]
    pub keys_max_cache_age_secs: u32,
    /// How long a verification code works, seconds.
    #[arg(long, env = "KJ_IDENTITY_CODE_TTL_SECS", default_value_t = 900)]
    pub code_ttl_secs: u32,
    /// How long after a code a new one may be sent for the same purpose, seconds.
    #[arg(long, env = "KJ_IDENTITY_CODE_RESEND_SECS", default_value_t = 60)]
    pub code_resend_secs: u32,
    /// Wrong attempts a verification code allows (the last exhausts it).
    #[arg(long, env = "KJ_IDENTITY_CODE_MAX_ATTEMPTS", default_value_t = 5)]
    pub code_max_attempts: u16,
    /// Consecutive failed logins that lock an account.
    #[arg(long, env = "KJ_IDENTITY_LOGIN_MAX_FAILURES", default_value_t = 5)]
    pub login_max_failures: u16,
    /// How long a login lock lasts, seconds.
    #[arg(long, env = "KJ_IDENTITY_LOGIN_LOCK_SECS", default_value_t = 900)]
    pub login_lock_secs: u32,
    /// Consecutive wrong payment PINs that lock the PIN.
    #[arg(long, env = "KJ_IDENTITY_PIN_MAX_FAILURES", default_value_t = 5)]
    pub pin_max_failures: u16,
    /// How long a PIN lock lasts, seconds.
    #[arg(long, env = "KJ_IDENTITY_PIN_LOCK_SECS", default_value_t = 900)]
    pub pin_lock_secs: u32,
    /// Argon2id memory cost of passwords, KiB (OWASP's 19 MiB by default; a PIN is a keyed
    /// MAC and costs none).
    #[arg(long, env = "KJ_IDENTITY_ARGON2_MEMORY_KIB", default_value_t = 19_456)]
    pub argon2_memory_kib: u32,
    /// Argon2id iterations.
    #[arg(long, env = "KJ_IDENTITY_ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,
    /// Argon2id lanes.
    #[arg(long, env = "KJ_IDENTITY_ARGON2_PARALLELISM", default_value_t = 1)]
    pub argon2_parallelism: u32,
    /// Password hashes that may run at once; 0 = one per core, fewer when the container's
    /// memory limit (cgroup) holds fewer beside the service (each holds the argon2 memory).
    #[arg(long, env = "KJ_IDENTITY_HASH_CONCURRENCY", default_value_t = 0)]
    pub hash_concurrency: u32,
    /// Account ids granted the operator role, comma-separated (the only way to become an
    /// operator). Operators pass their account id in the `kj-subject` metadata.
    #[arg(long, env = "KJ_IDENTITY_OPERATOR_ACCOUNT_IDS", value_delimiter = ',')]
    pub operator_account_ids: Vec<Uuid>,
    /// Account ids granted the auditor role, comma-separated: they sign in like operators
    /// and may only list the operator audit log.
    #[arg(long, env = "KJ_IDENTITY_AUDITOR_ACCOUNT_IDS", value_delimiter = ',')]
    pub auditor_account_ids: Vec<Uuid>,
    /// The operator key (base64url Ed25519 seed, `OPERATOR_KEY` of `kuajing keys`): identity
    /// signs operators' and auditors' tokens with it when they sign in with their second
    /// factor; the services trust its public half as `operator`. Unset: nobody can sign in
    /// as an operator. Outside `kuajing up`, only identity holds it.
    #[arg(long, env = "KJ_IDENTITY_OPERATOR_KEY", hide_env_values = true)]
    pub operator_key: Option<String>,
    /// The keys that sign marketplace member proofs (what BindMarketplaceAccount needs),
    /// comma-separated `<marketplace>=<base64url Ed25519 public key>` with marketplace
    /// `1688` or `ALIBABA_COM`; a marketplace listed twice is trusted with both keys (a
    /// rotation). A marketplace without a key binds nobody (MARKETPLACE_PROOF_UNAVAILABLE).
    #[arg(long, env = "KJ_IDENTITY_MARKETPLACE_KEYS", value_delimiter = ',')]
    pub marketplace_keys: Vec<String>,
    /// Trade Assurance: violation points must be below this.
    #[arg(
        long,
        env = "KJ_IDENTITY_TA_VIOLATION_POINTS_LIMIT",
        default_value_t = 48
    )]
    pub ta_violation_points_limit: u16,
    /// Trade Assurance: a company's serious IP complaints must be below this.
    #[arg(long, env = "KJ_IDENTITY_TA_IP_COMPLAINTS_LIMIT", default_value_t = 3)]
    pub ta_ip_complaints_limit: u16,
    /// Trade Assurance: regions of paid members, comma-separated ISO 3166-1 alpha-2.
    #[arg(
        long,
        env = "KJ_IDENTITY_TA_PAID_REGIONS",
        value_delimiter = ',',
        default_value = "CN,HK,TW"
    )]
    pub ta_paid_regions: Vec<String>,
    /// Trade Assurance: regions of free members.
    #[arg(
        long,
        env = "KJ_IDENTITY_TA_FREE_REGIONS",
        value_delimiter = ',',
        default_value = "CN"
    )]
    pub ta_free_regions: Vec<String>,
    /// Direct Pay: regions of (paid) suppliers.
    #[arg(
        long,
        env = "KJ_IDENTITY_DIRECT_PAY_REGIONS",
        value_delimiter = ',',
        default_value = "CN"
    )]
    pub direct_pay_regions: Vec<String>,
}

/// Argon2id cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashCost {
    /// Memory, KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

/// The validated settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Refuse to serve without a configured signing key and server secret (the binary;
    /// `kuajing up` and the tests generate them).
    pub secrets_required: bool,
    /// Configured signing key text (secret), if any.
    pub signing_key: Option<String>,
    /// The SMTP server's URL (secret: it may hold a password) and the sender address.
    pub smtp: Option<(String, String)>,
    /// The SMS webhook's URL and signing key text (both secret), when configured.
    pub sms_webhook: Option<(String, String)>,
    /// Messages may be kept in the development outbox (the binary's explicit opt-in).
    pub development_sender: bool,
    /// The file holding the signing keys, if configured so, and how often it is checked.
    pub signing_key_file: Option<(std::path::PathBuf, std::time::Duration)>,
    /// Configured server secret text (secret), if any.
    pub secret_key: Option<String>,
    /// Token lifetimes.
    pub sessions: SessionPolicy,
    /// Signing key rotation period.
    pub key_rotation: Duration,
    /// Verifiers' cache age for the key set.
    pub keys_max_cache_age: Duration,
    /// Code rules.
    pub codes: CodePolicy,
    /// Login lockout.
    pub login_lockout: Lockout,
    /// PIN lockout.
    pub pin_lockout: Lockout,
    /// Argon2id cost.
    pub hash_cost: HashCost,
    /// Hashes at once, when configured (else derived from cores and the memory limit).
    pub hash_concurrency: Option<usize>,
    /// Operators.
    pub operators: Vec<Uuid>,
    /// Auditors.
    pub auditors: Vec<Uuid>,
    /// The operator key's text (secret), if configured.
    pub operator_key: Option<String>,
    /// The keys each marketplace signs member proofs with.
    pub marketplace_keys: Vec<(Marketplace, ed25519_dalek::VerifyingKey)>,
    /// Admission thresholds.
    pub admission: AdmissionRules,
}

fn secs(n: u32) -> Duration {
    Duration::seconds(i64::from(n))
}

impl IdentityArgs {
    /// Checks the options and turns them into settings. Long by design: one check or
    /// conversion per option, in the order `--help` lists them.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        anyhow::ensure!(
            self.access_token_ttl_secs > 0 && self.access_token_ttl_secs <= 3600,
            "access token lifetime must be 1 to 3600 seconds (edge refuses longer-lived tokens)"
        );
        anyhow::ensure!(
            self.refresh_token_ttl_secs > self.access_token_ttl_secs,
            "refresh token lifetime must exceed the access token lifetime"
        );
        anyhow::ensure!(
            self.signing_key_rotation_secs > 0,
            "key rotation period must be positive"
        );
        anyhow::ensure!(self.code_ttl_secs > 0, "code lifetime must be positive");
        anyhow::ensure!(
            self.code_max_attempts > 0,
            "code attempts must be at least 1"
        );
        anyhow::ensure!(
            self.login_max_failures > 0,
            "login failures must be at least 1"
        );
        anyhow::ensure!(self.pin_max_failures > 0, "PIN failures must be at least 1");
        argon2::Params::new(
            self.argon2_memory_kib,
            self.argon2_iterations,
            self.argon2_parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("invalid argon2 cost: {e}"))?;
        for (name, list) in [
            ("KJ_IDENTITY_TA_PAID_REGIONS", &self.ta_paid_regions),
            ("KJ_IDENTITY_TA_FREE_REGIONS", &self.ta_free_regions),
            ("KJ_IDENTITY_DIRECT_PAY_REGIONS", &self.direct_pay_regions),
        ] {
            for code in list {
                region::validate(code).map_err(|e| anyhow::anyhow!("{name}: {code:?} {e}"))?;
            }
        }
        Ok(Settings {
            secrets_required: false,
            signing_key: self.signing_key.clone().filter(|s| !s.trim().is_empty()),
            smtp: self
                .smtp_url
                .clone()
                .filter(|s| !s.trim().is_empty())
                .map(|url| (url, self.smtp_from.clone())),
            sms_webhook: match (
                self.sms_webhook_url
                    .clone()
                    .filter(|s| !s.trim().is_empty()),
                self.sms_webhook_secret
                    .clone()
                    .filter(|s| !s.trim().is_empty()),
            ) {
                (Some(url), Some(secret)) => Some((url, secret)),
                (None, None) => None,
                _ => anyhow::bail!(
                    "KJ_IDENTITY_SMS_WEBHOOK_URL and KJ_IDENTITY_SMS_WEBHOOK_SECRET go together"
                ),
            },
            development_sender: self.development_sender,
            signing_key_file: self.signing_key_file.clone().map(|p| {
                (
                    p,
                    std::time::Duration::from_secs(self.signing_key_reload_secs),
                )
            }),
            secret_key: self.secret_key.clone().filter(|s| !s.trim().is_empty()),
            sessions: SessionPolicy {
                access_ttl: secs(self.access_token_ttl_secs),
                refresh_ttl: secs(self.refresh_token_ttl_secs),
            },
            key_rotation: secs(self.signing_key_rotation_secs),
            keys_max_cache_age: secs(self.keys_max_cache_age_secs),
            codes: CodePolicy {
                ttl: secs(self.code_ttl_secs),
                resend_after: secs(self.code_resend_secs),
                max_attempts: i32::from(self.code_max_attempts),
            },
            login_lockout: Lockout {
                max_failures: i32::from(self.login_max_failures),
                lock_for: secs(self.login_lock_secs),
            },
            pin_lockout: Lockout {
                max_failures: i32::from(self.pin_max_failures),
                lock_for: secs(self.pin_lock_secs),
            },
            hash_concurrency: (self.hash_concurrency > 0)
                .then(|| usize::try_from(self.hash_concurrency).unwrap_or(1)),
            hash_cost: HashCost {
                memory_kib: self.argon2_memory_kib,
                iterations: self.argon2_iterations,
                parallelism: self.argon2_parallelism,
            },
            operators: self.operator_account_ids.clone(),
            auditors: self.auditor_account_ids.clone(),
            operator_key: self.operator_key.clone().filter(|s| !s.trim().is_empty()),
            marketplace_keys: self
                .marketplace_keys
                .iter()
                .filter(|entry| !entry.trim().is_empty())
                .map(|entry| parse_marketplace_key(entry))
                .collect::<anyhow::Result<_>>()?,
            admission: AdmissionRules {
                violation_points_limit: i32::from(self.ta_violation_points_limit),
                ip_complaints_limit: i64::from(self.ta_ip_complaints_limit),
                trade_assurance_paid_regions: self.ta_paid_regions.clone(),
                trade_assurance_free_regions: self.ta_free_regions.clone(),
                direct_pay_regions: self.direct_pay_regions.clone(),
            },
        })
    }
}

/// Parses identity's options alone (the tests' view of the flags).
#[cfg(test)]
#[derive(clap::Parser, Debug)]
#[command(name = "kuajing-identity")]
struct FromEnv {
    #[command(flatten)]
    args: IdentityArgs,
}

static SETTINGS: kuajing_platform::config::OwnSettings<Settings> =
    kuajing_platform::config::OwnSettings::new();

/// Makes `settings` the ones the service uses (the binary calls this after parsing its
/// flags). Only the first call counts.
pub fn install(settings: Settings) {
    SETTINGS.install(settings);
}

/// The installed settings, else those of `options` (command-line arguments of an embedded
/// identity) over the environment's (with defaults).
pub fn current(options: &[String]) -> anyhow::Result<Settings> {
    SETTINGS
        .current("kuajing-identity", options, |a: IdentityArgs| a.settings())
        .context("reading identity's options and KJ_IDENTITY_* environment variables")
}

/// One `<marketplace>=<base64url public key>` of KJ_IDENTITY_MARKETPLACE_KEYS.
fn parse_marketplace_key(
    entry: &str,
) -> anyhow::Result<(Marketplace, ed25519_dalek::VerifyingKey)> {
    use base64::Engine as _;
    let (name, key) = entry.trim().split_once('=').ok_or_else(|| {
        anyhow::anyhow!("KJ_IDENTITY_MARKETPLACE_KEYS: {entry:?} is not <marketplace>=<key>")
    })?;
    let marketplace = Marketplace::parse(name.trim()).ok_or_else(|| {
        anyhow::anyhow!(
            "KJ_IDENTITY_MARKETPLACE_KEYS: unknown marketplace {name:?} (1688, ALIBABA_COM)"
        )
    })?;
    let bytes: [u8; 32] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(key.trim().trim_end_matches('='))
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            anyhow::anyhow!("KJ_IDENTITY_MARKETPLACE_KEYS: {name}: not a base64url 32-byte key")
        })?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
        .map_err(|e| anyhow::anyhow!("KJ_IDENTITY_MARKETPLACE_KEYS: {name}: {e}"))?;
    Ok((marketplace, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn marketplace_keys_name_a_marketplace_and_a_public_key() {
        let key =
            crate::domain::member_proof::key_text(&ed25519_dalek::SigningKey::from_bytes(&[5; 32]));
        let (m, _) = parse_marketplace_key(&format!(" 1688={key} ")).unwrap();
        assert_eq!(m, Marketplace::M1688);
        assert!(parse_marketplace_key(&format!("ALIBABA_COM={key}")).is_ok());
        for bad in [
            format!("TAOBAO={key}"),
            "1688=not-a-key".to_owned(),
            key.clone(),
        ] {
            let err = parse_marketplace_key(&bad).unwrap_err().to_string();
            assert!(err.contains("KJ_IDENTITY_MARKETPLACE_KEYS"), "{err}");
        }
    }

    #[test]
    fn defaults_are_the_contracts() {
        let parsed = FromEnv::try_parse_from(["x"]).unwrap();
        let s = parsed.args.settings().unwrap();
        assert_eq!(s.sessions, SessionPolicy::default());
        assert_eq!(s.codes, CodePolicy::default());
        assert_eq!(s.login_lockout.max_failures, 5);
        assert_eq!(s.login_lockout.lock_for, Duration::minutes(15));
        assert_eq!(s.pin_lockout.max_failures, 5);
        assert_eq!(s.admission, AdmissionRules::default());
        assert_eq!(s.keys_max_cache_age, Duration::minutes(5));
    }

    #[test]
    fn bad_values_are_refused() {
        let bad = FromEnv::try_parse_from(["x", "--code-max-attempts", "0"]).unwrap();
        assert!(bad.args.settings().is_err());
        let bad = FromEnv::try_parse_from(["x", "--ta-paid-regions", "CN,XX"]).unwrap();
        assert!(bad.args.settings().is_err());
        let bad = FromEnv::try_parse_from(["x", "--argon2-memory-kib", "1"]).unwrap();
        assert!(bad.args.settings().is_err());
        let ok = FromEnv::try_parse_from([
            "x",
            "--operator-account-ids",
            &format!("{},{}", Uuid::nil(), Uuid::max()),
        ])
        .unwrap();
        assert_eq!(ok.args.settings().unwrap().operators.len(), 2);
    }
}
