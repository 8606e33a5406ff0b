//! `kuajing-wallet`: runs the wallet service alone (`--help` lists its options).

use kuajing_wallet::settings::{self, WalletArgs};

fn main() -> anyhow::Result<()> {
    kuajing_platform::config::service_main_with::<WalletArgs>(&kuajing_wallet::SERVICE, |w| {
        settings::install(settings::Settings {
            key_required: true,
            ..w.settings()
        });
        Ok(())
    })
}
