//! The identity service: accounts, verification codes, real-name verification, linked
//! marketplace accounts, supplier admission, payment PIN and tokens.
//!
//! A library, so `kuajing up` and the testkit embed it; `src/main.rs` is the thin binary.
//! Schema `identity`, owned by role `kj_identity`; contract `kuajing.identity.v1.IdentityService`.
//!
//! - `domain`: the rules, free of IO.
//! - `store`: Postgres access.
//! - `api`: the gRPC handlers (validation, transactions, proto conversion).
//! - `secrets`, `keys`, `sender`, `outcome`, `settings`: how secrets are hashed, tokens
//!   signed, codes delivered, idempotent answers recorded, and what is configurable.

mod api;
pub mod binary;
pub mod domain;
mod keys;
mod ops;
mod outcome;
mod secrets;
pub mod sender;
pub mod settings;
mod store;

use std::sync::Arc;

use anyhow::Context;
use kuajing_platform::service::BoxFuture;
use kuajing_platform::token::SigningKey;
use kuajing_platform::{ServiceContext, ServiceDef};
use kuajing_proto::identity::v1::identity_service_server::{IdentityServiceServer, SERVICE_NAME};
use sqlx::migrate::Migrator;
use tonic::service::Routes;

use crate::sender::smtp::SmtpSender;
use crate::sender::webhook::WebhookSender;
use crate::sender::{ByChannel, CodeSender, DevelopmentSender, NotConfigured};

/// The service's embedded schema migrations (`migrations/`).
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// How the platform runs this service.
pub static SERVICE: ServiceDef = ServiceDef {
    name: "identity",
    grpc_service: SERVICE_NAME,
    schema: "identity",
    migrator: &MIGRATOR,
    errors: crate::ops::DOMAIN,
    routes,
    accepts_http1: false,
};

/// Name of the generated server secret in `service_secrets`.
const SERVER_SECRET: &str = "server_secret";

fn routes(ctx: ServiceContext) -> BoxFuture<anyhow::Result<Routes>> {
    Box::pin(async move {
        let api = build(ctx, Arc::new(DevelopmentSender)).await?;
        Ok(Routes::new(IdentityServiceServer::new(api)))
    })
}

/// Builds the handler with this code sender: reads the settings, loads (or creates) the
/// server secret and the signing keys, and applies the configured operator grants.
async fn build(ctx: ServiceContext, sender: Arc<dyn CodeSender>) -> anyhow::Result<api::Api> {
    let settings = settings::current(&ctx.options)?;
    if settings.secrets_required {
        binary::require_secrets(&settings)?;
    }
    let sender = code_sender(&settings, sender)?;
    let now = ctx.clock.now();
    let secret = server_secret(&ctx, &settings, now).await?;
    let secrets = secrets::Secrets::derive(&secret).context("KJ_IDENTITY_SECRET_KEY")?;
    let concurrency =
        secrets::Hasher::concurrency_for(settings.hash_cost, settings.hash_concurrency);
    tracing::info!(
        concurrency,
        "password hashes at once (cores and memory limit)"
    );
    let hasher = secrets::Hasher::new(settings.hash_cost, secrets.pin_key(), concurrency);
    let keys = signing_keys(&ctx, &settings, now).await?;
    let grants: Vec<_> = (settings.operators.iter())
        .map(|id| (*id, store::operators::Grant::Operator))
        .chain((settings.auditors.iter()).map(|id| (*id, store::operators::Grant::Auditor)))
        .collect();
    store::accounts::sync_operators(&ctx.pool, &grants, now).await?;
    let operator_key = match &settings.operator_key {
        Some(text) => Some(ed25519_dalek::SigningKey::from_bytes(
            &kuajing_platform::auth::parse_seed(text).context("KJ_IDENTITY_OPERATOR_KEY")?,
        )),
        None => {
            tracing::warn!("KJ_IDENTITY_OPERATOR_KEY is not set: operators cannot sign in");
            None
        }
    };
    let dummy_password_hash = hasher
        .run(|h| h.hash_password("timing-equaliser-for-unknown-logins-1"))
        .await??;
    Ok(api::Api::new(ops::State {
        pool: ctx.pool,
        errors: ctx.errors,
        clock: ctx.clock,
        settings,
        secrets,
        hasher,
        keys,
        sender,
        dummy_password_hash,
        operator_key,
    }))
}

/// Email through SMTP and text messages through the SMS webhook when configured; a channel
/// without a provider is refused by the binary (unless told to keep messages,
/// KJ_IDENTITY_DEVELOPMENT_SENDER), while `kuajing up` and the tests keep them in the
/// outbox (`sender`).
fn code_sender(
    settings: &settings::Settings,
    sender: Arc<dyn CodeSender>,
) -> anyhow::Result<Arc<dyn CodeSender>> {
    let keep = !settings.secrets_required || settings.development_sender;
    let email: Arc<dyn CodeSender> = match &settings.smtp {
        Some((url, from)) => Arc::new(SmtpSender::new(url, from, settings.secrets_required)?),
        None if keep => sender.clone(),
        None => Arc::new(NotConfigured("email")),
    };
    let sms: Arc<dyn CodeSender> = match &settings.sms_webhook {
        Some((url, secret)) => Arc::new(WebhookSender::new(
            url,
            &kuajing_platform::config::decode_key(secret)
                .map_err(|e| anyhow::anyhow!("KJ_IDENTITY_SMS_WEBHOOK_SECRET: {e}"))?,
            settings.secrets_required,
        )?),
        None if keep => sender,
        None => Arc::new(NotConfigured("SMS")),
    };
    Ok(Arc::new(ByChannel { email, sms }))
}

/// The server secret: configured, or generated once and kept in the identity schema (local
/// use only; outside development the binary refuses to start without one).
async fn server_secret(
    ctx: &ServiceContext,
    settings: &settings::Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<u8>> {
    Ok(match &settings.secret_key {
        Some(text) => kuajing_platform::config::decode_key(text)
            .map_err(|e| anyhow::anyhow!("KJ_IDENTITY_SECRET_KEY: {e}"))?,
        None => {
            tracing::warn!(
                "KJ_IDENTITY_SECRET_KEY is not set: using a server secret generated and kept in \
                 the identity schema (fine for local use; configure one in production)"
            );
            kuajing_platform::service_secrets::get_or_create(
                &ctx.pool,
                SERVER_SECRET,
                || Ok(secrets::random_bytes::<{ secrets::SECRET_LEN }>()?.to_vec()),
                now,
            )
            .await?
        }
    })
}

/// The token signing key ring: from the configured key (or key file, followed as it
/// changes), or generated and rotated in the identity schema.
async fn signing_keys(
    ctx: &ServiceContext,
    settings: &settings::Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Arc<keys::KeyRing>> {
    // The signing key file as read now: what is in force until it changes.
    let signing_file = match &settings.signing_key_file {
        Some((path, _)) => kuajing_platform::key_files::read_all(std::slice::from_ref(path))
            .context("KJ_IDENTITY_SIGNING_KEY_FILE")?,
        None => Vec::new(),
    };
    let configured = match (&settings.signing_key, &settings.signing_key_file) {
        (Some(text), _) => Some(keys::Configured::signing(
            SigningKey::parse(text).context("KJ_IDENTITY_SIGNING_KEY")?,
        )),
        (None, Some((path, _))) => {
            let text = String::from_utf8_lossy(&signing_file[0]).into_owned();
            Some(
                keys::Configured::parse(&text)
                    .with_context(|| format!("KJ_IDENTITY_SIGNING_KEY_FILE {}", path.display()))?,
            )
        }
        (None, None) => None,
    };
    let keys = Arc::new(
        keys::KeyRing::start(
            ctx.pool.clone(),
            configured,
            settings.key_rotation,
            settings.sessions.access_ttl,
            now,
        )
        .await?,
    );
    if let Some((path, every)) = &settings.signing_key_file {
        let (keys, clock) = (keys.clone(), ctx.clock.clone());
        let in_force = signing_file;
        kuajing_platform::key_files::on_change(
            vec![path.clone()],
            in_force,
            *every,
            move |contents| {
                let (keys, now) = (keys.clone(), clock.now());
                async move {
                    let text = contents.concat();
                    let configured = keys::Configured::parse(&String::from_utf8_lossy(&text))?;
                    keys.reconfigure(configured, now).await
                }
            },
        );
    }
    Ok(keys)
}
