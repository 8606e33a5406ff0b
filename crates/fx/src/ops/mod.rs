//! The fx operations: rates, quotes and conversions.

pub mod conversions;
pub mod quotes;
pub mod rates;

use std::sync::Arc;

use kuajing_platform::error::internal;
use kuajing_platform::service::PeerChannel;
use kuajing_platform::{ErrorDomain, ServiceContext};
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use tonic::Status;

use crate::settings::Settings;

/// Reason: no direct, inverse or crossed rate for a pair.
pub use kuajing_proto::reasons::fx::RATE_NOT_FOUND;
/// Reason: the rate is older than the maximum age.
pub use kuajing_proto::reasons::fx::RATE_STALE;

/// What every operation needs.
#[derive(Clone)]
pub struct Ctx {
    /// The service context.
    pub svc: ServiceContext,
    /// fx settings.
    pub settings: Arc<Settings>,
}

impl Ctx {
    /// This service's error domain.
    pub fn errors(&self) -> ErrorDomain {
        self.svc.errors
    }

    /// Now, by the service clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.svc.clock.now()
    }

    /// A wallet client.
    pub fn wallet(&self) -> Result<WalletServiceClient<PeerChannel>, Status> {
        Ok(WalletServiceClient::new(
            self.svc.peers.channel("wallet").map_err(internal)?,
        ))
    }
}
