//! The `kuajing-edge` binary: the platform's service options plus edge's own (listed
//! under "Edge" in `--help`), installed before the service is built.

use crate::settings::{self, EdgeArgs};

/// Parses the command line and environment, and runs the service.
pub fn main() -> anyhow::Result<()> {
    kuajing_platform::config::service_main_with::<EdgeArgs>(&crate::SERVICE, |edge| {
        settings::install(edge.settings()?);
        Ok(())
    })
}
