//! The wallet's own settings: how transfers are batched, and the key of bank-account
//! fingerprints. Each is an environment variable
//! and a flag of the `kuajing-wallet` binary (listed by `--help` under "Wallet").
//!
//! Inside `kuajing up` or the testkit the wallet reads them from its options and the
//! environment; the binary parses them with its other flags and installs them first.

/// The wallet's options (flags and environment variables).
#[derive(clap::Args, Clone, Debug)]
#[command(next_help_heading = "Wallet")]
pub struct WalletArgs {
    /// Batch concurrent transfers into shared transactions (`on`), or give each its own
    /// transaction (`off`: slower; for comparison).
    #[arg(long, env = "KJ_WALLET_BATCH", default_value = "on", value_parser = ["on", "off"])]
    pub batch: String,
    /// Transfer batches in flight at once (1 to 64), never two touching the same wallet.
    /// One is the default: while it commits, the next accumulates (see docs/PERFORMANCE.md).
    #[arg(long, env = "KJ_WALLET_BATCH_WORKERS", default_value_t = crate::ops::batch::DEFAULT_WORKERS,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub batch_workers: u16,
    /// Key of bank-account fingerprints: base64 of at least 32 random bytes (`kuajing keys`
    /// prints one). The kuajing-wallet binary refuses to start without it; `kuajing up` and
    /// the tests use one generated and kept in the wallet schema.
    #[arg(long, env = "KJ_WALLET_FINGERPRINT_KEY", hide_env_values = true)]
    pub fingerprint_key: Option<String>,
}

/// The settings the wallet runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Batch workers, or `None` for one transaction per transfer.
    pub batch_workers: Option<usize>,
    /// The configured fingerprint key (base64), if any.
    pub fingerprint_key: Option<String>,
    /// Refuse to start without a configured key (the binary; not `kuajing up`).
    pub key_required: bool,
}

impl WalletArgs {
    /// The settings these options describe.
    pub fn settings(&self) -> Settings {
        Settings {
            batch_workers: (self.batch == "on").then_some(usize::from(self.batch_workers)),
            fingerprint_key: self
                .fingerprint_key
                .clone()
                .filter(|k| !k.trim().is_empty()),
            key_required: false,
        }
    }
}

static SETTINGS: kuajing_platform::config::OwnSettings<Settings> =
    kuajing_platform::config::OwnSettings::new();

/// A fresh fingerprint key, as `kuajing keys` prints it and process runs pass it.
pub fn generated_key() -> anyhow::Result<(&'static str, String)> {
    use base64::Engine as _;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok((
        "KJ_WALLET_FINGERPRINT_KEY",
        base64::engine::general_purpose::STANDARD.encode(key),
    ))
}

/// Makes `settings` the ones the service uses (the binary calls this after parsing its
/// flags). Only the first call counts.
pub fn install(settings: Settings) {
    SETTINGS.install(settings);
}

/// The installed settings, else those of `options` (command-line arguments of an embedded
/// wallet) over the environment's (with defaults).
pub fn current(options: &[String]) -> anyhow::Result<Settings> {
    SETTINGS.current("kuajing-wallet", options, |a: WalletArgs| Ok(a.settings()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batching_is_on_with_one_worker_unless_told() {
        let parse = |a: &[&str]| {
            let options: Vec<String> = a.iter().map(|s| (*s).to_owned()).collect();
            kuajing_platform::config::OwnSettings::new().current(
                "kuajing-wallet",
                &options,
                |w: WalletArgs| Ok(w.settings()),
            )
        };
        assert_eq!(
            parse(&[]).unwrap(),
            Settings {
                batch_workers: Some(1),
                fingerprint_key: None,
                key_required: false,
            }
        );
        assert_eq!(
            parse(&["--batch", "off"]).unwrap(),
            Settings {
                batch_workers: None,
                fingerprint_key: None,
                key_required: false,
            }
        );
        assert_eq!(
            parse(&["--batch-workers", "3"]).unwrap().batch_workers,
            Some(3)
        );
        assert!(parse(&["--batch-workers", "0"]).is_err());
        assert!(parse(&["--batch", "maybe"]).is_err());
    }
}
