//! The whole Kuajing platform in one process: the six services, how to launch them
//! together, and a private PostgreSQL for local use. `kuajing up` and the testkit both
//! stand on this.

pub mod bench;
pub mod certs;
pub mod chaos;
pub mod launch;
pub mod parties;
pub mod pgcluster;
pub mod procs;

use kuajing_platform::ServiceDef;

/// The six services, edge first.
pub fn services() -> [&'static ServiceDef; 6] {
    [
        &kuajing_edge::SERVICE,
        &kuajing_identity::SERVICE,
        &kuajing_wallet::SERVICE,
        &kuajing_authorization::SERVICE,
        &kuajing_order::SERVICE,
        &kuajing_fx::SERVICE,
    ]
}
