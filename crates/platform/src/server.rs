//! The one gRPC server builder every service uses: its v1 service plus `grpc.health.v1`
//! health, server reflection (v1 and v1alpha, so grpcurl, `buf curl` and grpcio all
//! work), a span per request, a request timeout, and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic_health::ServingStatus;

use crate::audit::RecordOperators;
use crate::auth::RequireCaller;
use crate::error::{ErrorDomain, ValidationReason};
use crate::tls::MutualTls;

/// Per-server settings.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    /// Longest a request may run before it answers DEADLINE_EXCEEDED (a shorter
    /// `grpc-timeout` from the client wins).
    pub request_timeout: Duration,
    /// Concurrent requests per connection.
    pub concurrency_per_connection: usize,
    /// Mutual TLS, when configured (see [`crate::tls`]).
    pub tls: Option<MutualTls>,
    /// A second, plain-text address serving only `grpc.health.v1`, for probes that
    /// can't speak TLS (kubelet's gRPC probes); `None` serves none.
    pub health_listen: Option<SocketAddr>,
    /// Also speak HTTP/1.1 on the port (browsers' gRPC-Web; HTTP/2 stays as it is).
    pub accept_http1: bool,
    /// How often a service behind the credential check reads the revoked sessions from
    /// identity, refusing operators' and auditors' tokens of those (see
    /// [`crate::revocations`]); at most a minute.
    pub revocation_poll: Duration,
    /// Accept operators' tokens that name nobody, minted with the operator key itself:
    /// only `kuajing up`, the tests, bench and chaos (off in the binaries unless
    /// KJ_ALLOW_NAMELESS_OPERATORS).
    pub nameless_operators: bool,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            request_timeout: Duration::from_secs(30),
            concurrency_per_connection: 256,
            tls: None,
            health_listen: None,
            accept_http1: false,
            revocation_poll: Duration::from_secs(15),
            nameless_operators: false,
        }
    }
}

/// Serves `routes` (the service's own gRPC service, named `grpc_service`, refusing in
/// domain `errors`) on `listener`
/// until `shutdown` resolves, then drains in-flight requests. `guard`, when given, checks
/// service credentials on every method (health and reflection stay open) and, with TLS
/// configured, the TLS handshake requires a client certificate. `audit`, inside the
/// guard, records operators' calls (the routes then include the audit log's service). Health reports SERVING
/// for the service and for the server ("") while up, NOT_SERVING once shutdown begins.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    grpc_service: &'static str,
    errors: ErrorDomain,
    routes: Routes,
    guard: Option<RequireCaller>,
    audit: Option<RecordOperators>,
    listener: TcpListener,
    settings: &ServerSettings,
    database: Option<sqlx::PgPool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(grpc_service, ServingStatus::Serving)
        .await;
    // Honest health: a service that cannot reach its database answers NOT_SERVING, so
    // Kubernetes stops routing to it, until the database answers again.
    let draining = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = database.map(|pool| {
        tokio::spawn(watch_database(
            pool,
            reporter.clone(),
            grpc_service,
            draining.clone(),
        ))
    });

    let (reflection_v1, reflection_v1alpha) = reflection(grpc_service, audit.is_some())?;

    // Health alone in plain text on its own address, when asked. It answers NOT_SERVING
    // while the main server drains and closes once the main server has stopped.
    let (health_stop, health_stopped) = tokio::sync::oneshot::channel::<()>();
    let plain_health = match settings.health_listen {
        Some(addr) => {
            Some(serve_plain_health(addr, grpc_service, health.clone(), health_stopped).await?)
        }
        None => None,
    };

    let drained = async move {
        shutdown.await;
        draining.store(true, std::sync::atomic::Ordering::SeqCst);
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        reporter
            .set_service_status(grpc_service, ServingStatus::NotServing)
            .await;
        tracing::info!(
            service = grpc_service,
            "shutting down: draining in-flight requests"
        );
    };

    let require_client = guard.is_some();
    let router = Server::builder()
        .accept_http1(settings.accept_http1)
        .timeout(settings.request_timeout)
        .concurrency_limit_per_connection(settings.concurrency_per_connection)
        .trace_fn(rpc_span)
        .layer(crate::metrics::RpcMetrics)
        .layer(ValidationReason(errors))
        .layer(tower::util::option_layer(guard))
        .layer(tower::util::option_layer(audit))
        .add_routes(routes)
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    let served = match &settings.tls {
        // Each handshake with the certificates in force at that moment (reloaded ones).
        Some(tls) => {
            router
                .serve_with_incoming_shutdown(tls.incoming(listener, require_client), drained)
                .await
        }
        // Accepted sockets without Nagle's algorithm: an answer is several small HTTP/2
        // frames, and Nagle would hold the later ones back until the first is acknowledged.
        None => {
            router
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                    drained,
                )
                .await
        }
    };
    if let Some(w) = watcher {
        w.abort();
    }
    let _ = health_stop.send(());
    if let Some(task) = plain_health {
        task.await??;
    }
    served?;
    Ok(())
}

/// Server reflection (v1 and v1alpha) over every contract, listing the services this
/// server serves, so grpcurl needs no proto files.
#[allow(clippy::type_complexity)]
fn reflection(
    grpc_service: &'static str,
    audited: bool,
) -> anyhow::Result<(
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    tonic_reflection::server::v1alpha::ServerReflectionServer<
        impl tonic_reflection::server::v1alpha::ServerReflection,
    >,
)> {
    let named = || {
        let builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(kuajing_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name(grpc_service);
        if audited {
            builder.with_service_name("kuajing.audit.v1.AuditService")
        } else {
            builder
        }
        .with_service_name("grpc.health.v1.Health")
    };
    let reflection_v1 = named()
        .with_service_name("grpc.reflection.v1.ServerReflection")
        .build_v1()?;
    let reflection_v1alpha = named()
        .with_service_name("grpc.reflection.v1alpha.ServerReflection")
        .build_v1alpha()?;
    Ok((reflection_v1, reflection_v1alpha))
}

/// The span of one RPC, a child of the caller's trace when the request carries one.
fn rpc_span(req: &http::Request<()>) -> tracing::Span {
    let path = req.uri().path();
    let (service, method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path, ""));
    let span = tracing::info_span!(
        "rpc",
        otel.name = %path.trim_start_matches('/'),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    crate::telemetry::adopt_remote_parent(&span, req.headers());
    span
}

/// Health alone, in plain text on `addr`, until `stopped` resolves.
async fn serve_plain_health<S>(
    addr: std::net::SocketAddr,
    grpc_service: &str,
    health: S,
    stopped: tokio::sync::oneshot::Receiver<()>,
) -> anyhow::Result<tokio::task::JoinHandle<Result<(), tonic::transport::Error>>>
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + tonic::server::NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("health listener on {addr}: {e}"))?;
    tracing::info!(service = grpc_service, %addr, "serving health in plain text");
    Ok(tokio::spawn(
        Server::builder()
            .add_service(health)
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                async {
                    let _ = stopped.await;
                },
            ),
    ))
}

/// How often a service asks its database whether it answers.
pub const DATABASE_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Asks the database every [`DATABASE_CHECK_EVERY`] (`SELECT 1`, at most one second) and
/// reports the service NOT_SERVING while it does not answer, SERVING again once it does
/// (never again once the drain has begun).
async fn watch_database(
    pool: sqlx::PgPool,
    reporter: tonic_health::server::HealthReporter,
    grpc_service: &'static str,
    draining: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let mut serving = true;
    loop {
        tokio::time::sleep(DATABASE_CHECK_EVERY).await;
        let answered = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            sqlx::query("SELECT 1").execute(&pool),
        )
        .await
        .is_ok_and(|r| r.is_ok());
        if draining.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        if answered != serving {
            serving = answered;
            let status = if serving {
                tracing::info!(
                    service = grpc_service,
                    "the database answers again: SERVING"
                );
                ServingStatus::Serving
            } else {
                tracing::warn!(
                    service = grpc_service,
                    "the database does not answer: NOT_SERVING"
                );
                ServingStatus::NotServing
            };
            reporter.set_service_status("", status).await;
            reporter.set_service_status(grpc_service, status).await;
        }
    }
}

/// Resolves on ctrl-c or SIGTERM (what Kubernetes sends before killing a pod).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}
