//! `kuajing-authorization`: runs the authorization service alone (`--help` lists its options).

use kuajing_authorization::settings::{self, AuthzArgs};

fn main() -> anyhow::Result<()> {
    kuajing_platform::config::service_main_with::<AuthzArgs>(&kuajing_authorization::SERVICE, |a| {
        settings::install(a.settings());
        Ok(())
    })
}
