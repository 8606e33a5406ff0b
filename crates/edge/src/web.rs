//! Browsers as clients: edge's own port also answers gRPC-Web (binary or base64 text, over
//! HTTP/1.1 or HTTP/2; the platform server accepts HTTP/1.1 on edge's port), with CORS
//! for the configured origins only. With no origin configured (the default) edge answers
//! plain gRPC alone and a browser cannot use it.

use std::time::Duration;

use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use tonic::service::Routes;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Request headers a gRPC-Web client sends besides the standard ones.
const REQUEST_HEADERS: [&str; 5] = [
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "traceparent",
    "tracestate",
];

/// Response headers a browser may read: a gRPC-Web error answered without a body has its
/// status in the headers.
const RESPONSE_HEADERS: [&str; 3] = ["grpc-status", "grpc-message", "grpc-status-details-bin"];

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(3600);

/// `routes` with CORS for `origins` in front (the service itself already speaks gRPC-Web);
/// unchanged when `origins` is empty.
pub fn for_browsers(routes: Routes, origins: &[String]) -> anyhow::Result<Routes> {
    if origins.is_empty() {
        return Ok(routes);
    }
    let origins = origins
        .iter()
        .map(|o| HeaderValue::from_str(o))
        .collect::<Result<Vec<_>, _>>()?;
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([http::Method::POST])
        .allow_headers(
            [AUTHORIZATION, CONTENT_TYPE]
                .into_iter()
                .chain(REQUEST_HEADERS.map(HeaderName::from_static))
                .collect::<Vec<_>>(),
        )
        .expose_headers(RESPONSE_HEADERS.map(HeaderName::from_static))
        .max_age(PREFLIGHT_MAX_AGE);
    Ok(Routes::from(routes.into_axum_router().layer(cors)))
}
