//! The `kuajing-identity` binary: the platform's service options plus identity's own
//! (listed under "Identity" in `--help`), installed before the service is built.

use crate::settings::{self, IdentityArgs};

/// Parses the command line and environment, and runs the service.
pub fn main() -> anyhow::Result<()> {
    kuajing_platform::config::service_main_with::<IdentityArgs>(&crate::SERVICE, |identity| {
        settings::install(identity.settings()?);
        Ok(())
    })
}
