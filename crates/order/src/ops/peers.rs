//! Calls to the other services, made with the platform's one call policy
//! (`kuajing_platform::outbound`): each attempt with a deadline, retried when the answer is
//! transient (every call order makes is safe to repeat: reads, or writes with a request id
//! that is the same on every retry). A peer still unreachable after the retries answers
//! UNAVAILABLE / DEPENDENCY_UNAVAILABLE.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use kuajing_platform::outbound;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Reason: a service this call depends on did not answer.
pub const DEPENDENCY_UNAVAILABLE: &str = "DEPENDENCY_UNAVAILABLE";

/// The ErrorInfo reason of an answer ("" when none).
pub fn reason(s: &Status) -> String {
    s.get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default()
}

/// The ErrorInfo metadata of an answer.
pub fn metadata(s: &Status) -> HashMap<String, String> {
    s.get_details_error_info()
        .map(|i| i.metadata)
        .unwrap_or_default()
}

/// The ErrorInfo domain of an answer.
pub fn domain(s: &Status) -> String {
    s.get_details_error_info()
        .map(|i| i.domain)
        .unwrap_or_default()
}

/// UNAVAILABLE naming the peer.
pub fn unavailable(peer: &str, cause: &Status) -> Status {
    tracing::warn!(peer, code = ?cause.code(), message = %cause.message(), "peer unavailable");
    let details = tonic_types::ErrorDetails::with_error_info(
        DEPENDENCY_UNAVAILABLE,
        "order.kuajing",
        HashMap::from([("service".to_owned(), peer.to_owned())]),
    );
    Status::with_error_details(
        Code::Unavailable,
        format!("{peer} did not answer; retry with the same request_id"),
        details,
    )
}

/// Runs `call` with the platform's call policy (every call order makes is safe to repeat);
/// a peer that still gives no answer becomes UNAVAILABLE / DEPENDENCY_UNAVAILABLE.
pub async fn retry<T, F, Fut>(peer: &str, call: F) -> Result<T, Status>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    match outbound::call(&outbound::POLICY, None, outbound::Repeat::Safe, call).await {
        Err(s) if outbound::is_transient(&s) => Err(unavailable(peer, &s)),
        other => other,
    }
}

/// Calls `$client::$method($request)` on peer `$peer` with a deadline and retries:
/// `rpc!(ctx, "wallet", WalletServiceClient, get_wallet, request)`.
#[macro_export]
macro_rules! rpc {
    ($ctx:expr, $peer:literal, $client:ident, $method:ident, $request:expr) => {{
        let channel = $ctx
            .svc
            .peers
            .channel($peer)
            .map_err(kuajing_platform::error::internal)?;
        let request = $request;
        $crate::ops::peers::retry($peer, |timeout| {
            let mut client = $client::new(channel.clone());
            let mut r = tonic::Request::new(request.clone());
            r.set_timeout(timeout);
            async move { client.$method(r).await.map(|r| r.into_inner()) }
        })
        .await
    }};
}

/// `Ok(None)` for a NOT_FOUND answer.
pub fn found<T>(r: Result<T, Status>) -> Result<Option<T>, Status> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(s) if s.code() == Code::NotFound => Ok(None),
        Err(s) => Err(s),
    }
}
