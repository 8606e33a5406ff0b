//! `kuajing-order`: runs the order service alone (`--help` lists its options).

use kuajing_order::settings::{self, OrderArgs};

fn main() -> anyhow::Result<()> {
    kuajing_platform::config::service_main_with::<OrderArgs>(&kuajing_order::SERVICE, |o| {
        settings::install(o.settings());
        Ok(())
    })
}
