//! Metrics every service exports (through OTLP when telemetry exports; otherwise the
//! instruments are no-ops): per service and method, requests, errors by gRPC code and
//! latency; connection pool usage; and the counters services record themselves
//! (ledger entries, saga outcomes) through a [`Tally`].

use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Body, Frame};
use opentelemetry::KeyValue;
use opentelemetry::global;
use opentelemetry::metrics::{Counter, Histogram};

/// Every metric the services export, by its OpenTelemetry name: what dashboards and alert
/// rules may use (deploy/check-observability checks them against this list).
pub const EXPORTED: &[&str] = &[
    "rpc.server.requests",
    "rpc.server.duration",
    "rpc.client.calls",
    "db.client.connections.usage",
    "db.client.connections.max",
    "kuajing.ledger.entries",
    "kuajing.ledger.batch.size",
    "kuajing.order.saga.outcomes",
    "kuajing.order.saga.duration",
    "kuajing.keys.reloads",
    "kuajing.identity.deliveries",
];

struct Instruments {
    requests: Counter<u64>,
    duration: Histogram<u64>,
}

fn instruments() -> &'static Instruments {
    static I: OnceLock<Instruments> = OnceLock::new();
    I.get_or_init(|| {
        let meter = global::meter("kuajing");
        Instruments {
            requests: meter
                .u64_counter("rpc.server.requests")
                .with_description("RPCs served, by service, method and gRPC status code")
                .build(),
            duration: meter
                .u64_histogram("rpc.server.duration")
                .with_unit("us")
                .with_description("RPC latency until the last byte of the answer")
                .build(),
        }
    })
}

/// A counter a service records itself (e.g. `kuajing.ledger.entries`), declared as a
/// `static` and created on its first use, once telemetry is installed.
pub struct Tally {
    name: &'static str,
    description: &'static str,
    counter: OnceLock<Counter<u64>>,
}

impl Tally {
    /// A counter named `name`.
    pub const fn new(name: &'static str, description: &'static str) -> Tally {
        Tally {
            name,
            description,
            counter: OnceLock::new(),
        }
    }

    /// Adds `n` with the given attributes (key, value).
    pub fn add(&self, n: u64, attributes: &[(&'static str, &str)]) {
        let attributes: Vec<KeyValue> = attributes
            .iter()
            .map(|(k, v)| KeyValue::new(*k, (*v).to_owned()))
            .collect();
        self.counter
            .get_or_init(|| {
                global::meter("kuajing")
                    .u64_counter(self.name)
                    .with_description(self.description)
                    .build()
            })
            .add(n, &attributes);
    }
}

/// A histogram a service records itself (e.g. `kuajing.order.saga.duration`), declared as
/// a `static` like a [`Tally`].
pub struct Spread {
    name: &'static str,
    unit: &'static str,
    description: &'static str,
    histogram: OnceLock<Histogram<u64>>,
}

impl Spread {
    /// A histogram named `name`, in `unit` (UCUM, e.g. "ms", "1").
    pub const fn new(name: &'static str, unit: &'static str, description: &'static str) -> Spread {
        Spread {
            name,
            unit,
            description,
            histogram: OnceLock::new(),
        }
    }

    /// Records `value` with the given attributes (key, value).
    pub fn record(&self, value: u64, attributes: &[(&'static str, &str)]) {
        let attributes: Vec<KeyValue> = attributes
            .iter()
            .map(|(k, v)| KeyValue::new(*k, (*v).to_owned()))
            .collect();
        self.histogram
            .get_or_init(|| {
                global::meter("kuajing")
                    .u64_histogram(self.name)
                    .with_unit(self.unit)
                    .with_description(self.description)
                    .build()
            })
            .record(value, &attributes);
    }
}

/// Observes a pool's connections (in use and idle) and its ceiling as gauges: used over
/// max is the pool's saturation.
pub fn observe_pool(service: &'static str, pool: sqlx::PgPool) {
    let max = u64::from(pool.options().get_max_connections());
    let _ceiling = global::meter("kuajing")
        .u64_observable_gauge("db.client.connections.max")
        .with_description("the most Postgres connections the service's pool opens")
        .with_callback(move |observer| {
            observer.observe(max, &[KeyValue::new("service", service)]);
        })
        .build();
    let _gauge = global::meter("kuajing")
        .u64_observable_gauge("db.client.connections.usage")
        .with_description("Postgres connections of the service's pool, by state")
        .with_callback(move |observer| {
            let idle = u64::try_from(pool.num_idle()).unwrap_or(0);
            let size = u64::from(pool.size());
            observer.observe(
                size.saturating_sub(idle),
                &[
                    KeyValue::new("service", service),
                    KeyValue::new("state", "used"),
                ],
            );
            observer.observe(
                idle,
                &[
                    KeyValue::new("service", service),
                    KeyValue::new("state", "idle"),
                ],
            );
        })
        .build();
}

/// The tower layer recording [`instruments`] for every RPC.
#[derive(Clone, Copy, Debug, Default)]
pub struct RpcMetrics;

impl<S> tower::Layer<S> for RpcMetrics {
    type Service = RpcMetricsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RpcMetricsService { inner }
    }
}

/// See [`RpcMetrics`].
#[derive(Clone, Debug)]
pub struct RpcMetricsService<S> {
    inner: S,
}

impl<S, B, RB> tower::Service<http::Request<B>> for RpcMetricsService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    RB: Body + Send + 'static,
{
    type Response = http::Response<Measured<RB>>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().trim_start_matches('/').to_owned();
        let start = Instant::now();
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            // Errors usually come "trailers-only", in the headers; successes in trailers.
            let code = response
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok(response.map(|body| Measured {
                body,
                path,
                start,
                code,
                done: false,
            }))
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body that records the RPC when its last frame (the trailers) passes.
    pub struct Measured<B> {
        #[pin]
        body: B,
        path: String,
        start: Instant,
        code: Option<String>,
        done: bool,
    }
}

impl<B: Body> Body for Measured<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.body.poll_frame(cx);
        let finished = match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(code) = trailers.get("grpc-status").and_then(|v| v.to_str().ok())
                {
                    *this.code = Some(code.to_owned());
                }
                frame.is_trailers()
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => true,
            Poll::Pending => false,
        };
        if finished && !*this.done {
            *this.done = true;
            let (service, method) = this
                .path
                .split_once('/')
                .unwrap_or((this.path.as_str(), ""));
            let attrs = [
                KeyValue::new("rpc.service", service.to_owned()),
                KeyValue::new("rpc.method", method.to_owned()),
                KeyValue::new(
                    "rpc.grpc.status_code",
                    this.code.clone().unwrap_or_else(|| "0".to_owned()),
                ),
            ];
            let i = instruments();
            i.requests.add(1, &attrs);
            i.duration.record(
                u64::try_from(this.start.elapsed().as_micros()).unwrap_or(u64::MAX),
                &attrs,
            );
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
