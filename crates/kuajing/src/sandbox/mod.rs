//! The sandbox: the outside world a platform run by `kuajing up` talks to, simulated and
//! shipped with the product so every journey works end to end with simulated money. A
//! bank (money in, withdrawals paid out or failed) and a mailbox (verification codes),
//! served as `kuajing.sandbox.v1.SandboxService` beside the six services.
//!
//! Only the `kuajing` command serves it (`kuajing up`, the testkit when asked): no service
//! binary links this module, so no image or manifest can switch it on.

pub mod bank;
pub mod mailbox;
pub mod marketplace;
pub mod rules;

use anyhow::Context;
use kuajing_platform::ErrorDomain;
use kuajing_platform::auth::Keyring;
use kuajing_platform::server::ServerSettings;
use kuajing_platform::service::Peers;
use kuajing_proto::sandbox::v1 as pb;
use kuajing_proto::sandbox::v1::sandbox_service_server::{SandboxService, SandboxServiceServer};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

pub use bank::{Bank, Settlement};

/// The sandbox's gRPC service name.
pub const GRPC_SERVICE: &str = "kuajing.sandbox.v1.SandboxService";
/// Its error domain.
pub const ERRORS: ErrorDomain = ErrorDomain("sandbox.kuajing");
/// Its default port (`kuajing up`).
pub const DEFAULT_PORT: u16 = 50056;
/// The caller it acts as towards wallet.
pub const BANK: &str = "bank";

/// How the sandbox runs.
#[derive(Clone, Debug)]
pub struct SandboxSettings {
    /// When withdrawals settle.
    pub settlement: Settlement,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        SandboxSettings {
            settlement: Settlement::After(std::time::Duration::from_secs(3)),
        }
    }
}

struct Server {
    bank: Bank,
    outbox: PgPool,
    keyring: Keyring,
}

#[tonic::async_trait]
impl SandboxService for Server {
    async fn remit(
        &self,
        r: Request<pb::RemitRequest>,
    ) -> Result<Response<pb::RemitResponse>, Status> {
        self.bank.remit(r.into_inner()).await.map(Response::new)
    }

    async fn settle_withdrawal(
        &self,
        r: Request<pb::SettleWithdrawalRequest>,
    ) -> Result<Response<pb::SettleWithdrawalResponse>, Status> {
        self.bank
            .settle_withdrawal(r.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_messages(
        &self,
        r: Request<pb::ListMessagesRequest>,
    ) -> Result<Response<pb::ListMessagesResponse>, Status> {
        mailbox::list(&self.outbox, r.into_inner())
            .await
            .map(Response::new)
    }

    async fn sign_in_to_marketplace(
        &self,
        r: Request<pb::SignInToMarketplaceRequest>,
    ) -> Result<Response<pb::SignInToMarketplaceResponse>, Status> {
        marketplace::sign_in(&self.keyring, r.into_inner()).map(Response::new)
    }
}

/// Serves the sandbox on `listener` and runs the bank's settlement loop until `stopped`
/// turns true. `wallet_url` is where wallet listens; `keyring` holds the bank adapter's
/// key; `admin` reads identity's development outbox.
pub async fn serve(
    listener: TcpListener,
    wallet_url: String,
    keyring: &Keyring,
    admin: &PgConnectOptions,
    server: ServerSettings,
    settings: SandboxSettings,
    mut stopped: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let keys = keyring
        .for_service(BANK)
        .context("the bank adapter's key")?;
    let peers = Peers::new(
        [("wallet".to_owned(), wallet_url)],
        keys,
        server.tls.as_ref(),
    )?;
    let bank = Bank::new(peers.channel("wallet")?);
    let outbox = PgPoolOptions::new()
        .max_connections(2)
        .connect_lazy_with(admin.clone());
    let worker = {
        let (bank, mut stopped) = (bank.clone(), stopped.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.wait_for(|s| *s) => return,
                }
                match bank.work(settings.settlement).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(settled = n, "sandbox bank settled withdrawals"),
                    // Wallet restarting or not up yet: the next round tries again.
                    Err(e) => tracing::debug!(error = %e, "sandbox bank round failed"),
                }
            }
        })
    };
    let routes = tonic::service::Routes::new(SandboxServiceServer::new(Server {
        bank,
        outbox: outbox.clone(),
        keyring: keyring.clone(),
    }));
    let served = kuajing_platform::server::serve(
        GRPC_SERVICE,
        ERRORS,
        routes,
        None,
        None,
        listener,
        &server,
        None,
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        },
    )
    .await;
    worker.abort();
    outbox.close().await;
    served
}
