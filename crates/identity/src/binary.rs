//! The `kuajing-identity` binary: the platform's service options plus identity's own
//! (listed under "Identity" in `--help`), installed before the service is built.
//!
//! The binary is how identity runs anywhere but on a developer's machine, so it refuses to
//! start without its server secret and signing key: generated ones would be kept in the
//! identity schema, where a copy of the database would reveal them (tokens could be forged,
//! PIN MACs tested offline). Only `kuajing up` and the tests generate them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::settings::{self, IdentityArgs, Settings};

/// Parses the command line and environment, and runs the service.
pub fn main() -> anyhow::Result<()> {
    kuajing_platform::config::service_main_with::<IdentityArgs>(&crate::SERVICE, |identity| {
        // Checked when the service is built, so a migrate-only run needs no secrets.
        let settings = Settings {
            secrets_required: true,
            ..identity.settings()?
        };
        settings::install(settings);
        Ok(())
    })
}

/// Refuses settings without the server secret, the signing key or an email sender, naming
/// the variable.
pub fn require_secrets(settings: &Settings) -> anyhow::Result<()> {
    for (missing, variable, what) in [
        (
            settings.secret_key.is_none(),
            "KJ_IDENTITY_SECRET_KEY",
            "the server secret (base64 of at least 32 random bytes)",
        ),
        (
            settings.signing_key.is_none() && settings.signing_key_file.is_none(),
            "KJ_IDENTITY_SIGNING_KEY",
            "the access tokens' Ed25519 signing key (base64 of a 32-byte seed, or PKCS#8; or \
             a file of them, KJ_IDENTITY_SIGNING_KEY_FILE)",
        ),
    ] {
        anyhow::ensure!(
            !missing,
            "{variable} is not set: kuajing-identity needs {what} from a secret store, so that \
             a copy of the database alone reveals nothing (`kuajing keys` prints one; only \
             `kuajing up` generates its own)"
        );
    }
    anyhow::ensure!(
        settings.smtp.is_some() || settings.development_sender,
        "KJ_IDENTITY_SMTP_URL is not set: kuajing-identity delivers verification codes by \
         email through an SMTP server (only `kuajing up` and the tests keep them in a \
         development outbox, in plain text)"
    );
    Ok(())
}

/// A fresh server secret and signing key as the environment variables the binary reads:
/// `[("KJ_IDENTITY_SECRET_KEY", ...), ("KJ_IDENTITY_SIGNING_KEY", ...)]`.
pub fn generated_secrets() -> anyhow::Result<[(&'static str, String); 2]> {
    let secret = crate::secrets::random_bytes::<{ crate::secrets::SECRET_LEN }>()?;
    let signing = crate::secrets::random_bytes::<32>()?;
    Ok([
        ("KJ_IDENTITY_SECRET_KEY", STANDARD.encode(secret)),
        ("KJ_IDENTITY_SIGNING_KEY", STANDARD.encode(signing)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Args {
        #[command(flatten)]
        identity: IdentityArgs,
    }

    fn settings(args: &[&str]) -> Settings {
        Args::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .unwrap()
            .identity
            .settings()
            .unwrap()
    }

    #[test]
    fn the_binary_needs_its_secrets_and_a_mail_server_and_says_which_is_missing() {
        let [(_, secret), (_, signing)] = generated_secrets().unwrap();
        let none = require_secrets(&settings(&[])).unwrap_err().to_string();
        assert!(
            none.starts_with("KJ_IDENTITY_SECRET_KEY is not set"),
            "{none}"
        );
        let no_signing = require_secrets(&settings(&["--secret-key", &secret]))
            .unwrap_err()
            .to_string();
        assert!(
            no_signing.starts_with("KJ_IDENTITY_SIGNING_KEY is not set"),
            "{no_signing}"
        );
        let both = settings(&["--secret-key", &secret, "--signing-key", &signing]);
        let no_smtp = require_secrets(&both).unwrap_err().to_string();
        assert!(
            no_smtp.starts_with("KJ_IDENTITY_SMTP_URL is not set"),
            "{no_smtp}"
        );
        let all = settings(&[
            "--secret-key",
            &secret,
            "--signing-key",
            &signing,
            "--smtp-url",
            "smtp://mail.example:587?tls=required",
        ]);
        require_secrets(&all).unwrap();
        // Bench and chaos runs opt in to the development outbox instead.
        let dev = settings(&[
            "--secret-key",
            &secret,
            "--signing-key",
            &signing,
            "--development-sender",
        ]);
        require_secrets(&dev).unwrap();
        // What `kuajing keys` prints parses as the keys they are.
        kuajing_platform::token::SigningKey::parse(&signing).unwrap();
    }
}
