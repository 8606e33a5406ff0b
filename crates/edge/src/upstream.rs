//! Calls to the internal services: one client per service on the shared peer channels
//! (which add edge's service credential), each call marked with the person edge acts for
//! (`kj-subject`), the client's trace context, and a deadline; the platform's call policy
//! (`kuajing_platform::outbound`) retries a call that got no answer (every call edge makes
//! carries a request id derived from the client's, so it is safe to repeat) within that
//! deadline. Answers pass through `errors::from_upstream`.

use std::future::Future;
use std::time::{Duration, Instant};

use kuajing_platform::outbound;
use kuajing_platform::service::{PeerChannel, Peers, for_subject};
use kuajing_proto::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use kuajing_proto::fx::v1::fx_service_client::FxServiceClient;
use kuajing_proto::identity::v1::identity_service_client::IdentityServiceClient;
use kuajing_proto::order::v1::order_service_client::OrderServiceClient;
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use tonic::Status;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};
use uuid::Uuid;

use crate::domain::deadline;
use crate::errors;

/// Trace context headers copied from the client's request to every downstream call.
pub const TRACE_HEADERS: [&str; 2] = ["traceparent", "tracestate"];

/// How one downstream call is made.
#[derive(Clone, Debug)]
pub struct Outbound<'a> {
    /// The client's deadline, if it set one.
    pub deadline: Option<Instant>,
    /// The cap of each attempt.
    pub budget: Duration,
    /// The person edge acts for (`kj-subject`), if any.
    pub subject: Option<Uuid>,
    /// Trace context to propagate.
    pub trace: &'a [(AsciiMetadataKey, AsciiMetadataValue)],
    /// Retries allowed when a service does not answer.
    pub retries: u32,
}

impl Outbound<'_> {
    /// The deadline of an attempt starting now; `None` when the client's has passed.
    fn timeout(&self) -> Option<Duration> {
        let remaining = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        deadline::downstream(remaining, self.budget)
    }
}

/// The internal services, by short name.
#[derive(Clone, Debug)]
pub struct Upstream {
    peers: Peers,
}

/// identity's client.
pub type Identity = IdentityServiceClient<PeerChannel>;
/// wallet's client.
pub type Wallet = WalletServiceClient<PeerChannel>;
/// fx's client.
pub type Fx = FxServiceClient<PeerChannel>;
/// authorization's client.
pub type Authorization = AuthorizationServiceClient<PeerChannel>;
/// order's client.
pub type Order = OrderServiceClient<PeerChannel>;

impl Upstream {
    /// Clients on these peers.
    pub fn new(peers: Peers) -> Self {
        Upstream { peers }
    }

    fn channel(&self, name: &str) -> Result<PeerChannel, Status> {
        self.peers.channel(name).map_err(errors::internal)
    }

    /// identity.
    pub fn identity(&self) -> Result<Identity, Status> {
        Ok(IdentityServiceClient::new(self.channel("identity")?))
    }

    /// wallet.
    pub fn wallet(&self) -> Result<Wallet, Status> {
        Ok(WalletServiceClient::new(self.channel("wallet")?))
    }

    /// fx.
    pub fn fx(&self) -> Result<Fx, Status> {
        Ok(FxServiceClient::new(self.channel("fx")?))
    }

    /// authorization.
    pub fn authorization(&self) -> Result<Authorization, Status> {
        Ok(AuthorizationServiceClient::new(
            self.channel("authorization")?,
        ))
    }

    /// order.
    pub fn order(&self) -> Result<Order, Status> {
        Ok(OrderServiceClient::new(self.channel("order")?))
    }

    /// Sends `message` to `service` with `send` (a client method), as `out` says.
    pub async fn unary<M, R, F, Fut>(
        &self,
        service: &'static str,
        out: Outbound<'_>,
        message: M,
        send: F,
    ) -> Result<R, Status>
    where
        M: Clone + Send + Sync,
        R: Send,
        F: Fn(tonic::Request<M>) -> Fut + Send + Sync,
        Fut: Future<Output = Result<tonic::Response<R>, Status>> + Send,
    {
        if out.timeout().is_none() {
            return Err(errors::client_deadline());
        }
        // The platform's call policy with this RPC's budget and retries; the client's
        // deadline less edge's margin for its own answer bounds every attempt.
        let policy = outbound::CallPolicy {
            attempt_deadline: out.budget,
            attempts: out.retries.saturating_add(1),
            first_backoff: deadline::FIRST_BACKOFF,
        };
        let until = out
            .deadline
            .map(|d| d.checked_sub(deadline::MARGIN).unwrap_or_else(Instant::now));
        let send = &send;
        outbound::call(&policy, until, outbound::Repeat::Safe, |timeout| {
            let mut request = tonic::Request::new(message.clone());
            request.set_timeout(timeout);
            if let Some(subject) = out.subject {
                for_subject(&mut request, subject);
            }
            for (k, v) in out.trace {
                request.metadata_mut().insert(k.clone(), v.clone());
            }
            async move {
                match tokio::time::timeout(timeout, send(request)).await {
                    Err(_) => Err(Status::deadline_exceeded("no answer within the deadline")),
                    Ok(answer) => answer.map(tonic::Response::into_inner),
                }
            }
        })
        .await
        .map_err(|status| errors::from_upstream(service, status))
    }
}

/// Calls `service.method(message)` as `out` says: `call!(edge, out, wallet.get_wallet(m))`.
#[macro_export]
#[doc(hidden)]
macro_rules! call {
    ($edge:expr, $out:expr, $svc:ident . $method:ident ( $msg:expr )) => {{
        let client = $edge.upstream.$svc()?;
        $edge
            .upstream
            .unary(stringify!($svc), $out, $msg, move |request| {
                let mut client = client.clone();
                async move { client.$method(request).await }
            })
            .await
    }};
}
