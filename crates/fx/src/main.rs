//! `kuajing-fx`: runs the fx service alone (`--help` lists its options).

use kuajing_fx::settings::{self, FxArgs};

fn main() -> anyhow::Result<()> {
    kuajing_platform::config::service_main_with::<FxArgs>(&kuajing_fx::SERVICE, |f| {
        settings::install(f.settings()?);
        Ok(())
    })
}
