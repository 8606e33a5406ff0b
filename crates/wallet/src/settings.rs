//! The wallet's own settings: how transfers are batched. Each is an environment variable
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
    /// Transfer batches in flight at once (1 to 64). One is fastest: while it commits, the
    /// next accumulates (see docs/PERFORMANCE.md).
    #[arg(long, env = "KJ_WALLET_BATCH_WORKERS", default_value_t = crate::batch::DEFAULT_WORKERS,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub batch_workers: u16,
}

/// The settings the wallet runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Batch workers, or `None` for one transaction per transfer.
    pub batch_workers: Option<usize>,
}

impl WalletArgs {
    /// The settings these options describe.
    pub fn settings(&self) -> Settings {
        Settings {
            batch_workers: (self.batch == "on").then_some(usize::from(self.batch_workers)),
        }
    }
}

static SETTINGS: kuajing_platform::config::OwnSettings<Settings> =
    kuajing_platform::config::OwnSettings::new();

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
                batch_workers: Some(1)
            }
        );
        assert_eq!(
            parse(&["--batch", "off"]).unwrap(),
            Settings {
                batch_workers: None
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
