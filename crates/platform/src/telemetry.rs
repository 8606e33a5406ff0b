//! Logging, tracing and metrics setup shared by every binary.
//!
//! Logs go to stdout, pretty or JSON (with the current span's fields, `trace_id` and
//! `span_id` among them). When `OTEL_EXPORTER_OTLP_ENDPOINT` is set, spans and metrics are
//! also exported over OTLP/gRPC: every RPC is a span (its parent taken from the caller's
//! W3C `traceparent`), every SQL statement is a span (from sqlx's statement events), and
//! request, error, latency, pool, saga and ledger metrics are exported. When it is not
//! set nothing is exported and no span data is built: the cost is a log filter check.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    Span as _, SpanKind, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{KeyValue, global};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    #[default]
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

static PROVIDERS: OnceLock<(SdkTracerProvider, SdkMeterProvider)> = OnceLock::new();

/// True when spans and metrics are exported (OTLP endpoint configured at init).
pub fn exporting() -> bool {
    PROVIDERS.get().is_some()
}

/// Where spans and metrics go.
#[derive(Clone, Debug)]
pub struct Export {
    /// OTLP/gRPC endpoint, e.g. `http://otel-collector:4317`.
    pub endpoint: String,
    /// How often metrics are sent.
    pub metric_interval: Duration,
}

impl Export {
    /// From `OTEL_EXPORTER_OTLP_ENDPOINT` (and `OTEL_METRIC_EXPORT_INTERVAL`, ms); `None`
    /// when no endpoint is set.
    pub fn from_env() -> Option<Export> {
        let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
            .ok()
            .filter(|e| !e.trim().is_empty())?;
        let ms = std::env::var("OTEL_METRIC_EXPORT_INTERVAL")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(60_000);
        Some(Export {
            endpoint,
            metric_interval: Duration::from_millis(ms),
        })
    }
}

/// Installs the global subscriber: `RUST_LOG`-style filter (default `default_filter`) for
/// log lines in `format`, and OTLP export when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (then
/// it must run inside a tokio runtime). `service` names the resource. A second call is a
/// no-op, so tests and embedded launches can call it freely.
pub fn init(format: LogFormat, default_filter: &str, service: &str) {
    init_with(format, default_filter, service, Export::from_env());
}

/// [`init`] with an explicit export destination (or none).
pub fn init_with(format: LogFormat, default_filter: &str, service: &str, export: Option<Export>) {
    if PROVIDERS.get().is_some() || tracing::dispatcher::has_been_set() {
        return;
    }
    let filter =
        || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let fmt_layer = match format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .compact()
            .with_target(false)
            .with_filter(filter())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter())
            .boxed(),
    };
    let otel_layers = export.and_then(|export| match export_pipeline(service, &export) {
        Ok((traces, metrics)) => {
            global::set_text_map_propagator(TraceContextPropagator::new());
            global::set_meter_provider(metrics.clone());
            global::set_tracer_provider(traces.clone());
            let tracer = traces.tracer("kuajing");
            let _ = PROVIDERS.set((traces, metrics));
            let spans = tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(
                    Targets::new()
                        .with_default(tracing::Level::INFO)
                        .with_target("sqlx", tracing::level_filters::LevelFilter::OFF),
                );
            let sql = SqlSpans
                .with_filter(Targets::new().with_target("sqlx::query", tracing::Level::DEBUG));
            Some(spans.and_then(sql).boxed())
        }
        Err(e) => {
            eprintln!("telemetry: OTLP export disabled: {e}");
            None
        }
    });
    let _ = tracing_subscriber::registry()
        .with(fmt_layer)
        .with(otel_layers)
        .try_init();
}

fn export_pipeline(
    service: &str,
    export: &Export,
) -> anyhow::Result<(SdkTracerProvider, SdkMeterProvider)> {
    use opentelemetry_otlp::WithExportConfig as _;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service.to_owned())
        .build();
    let spans = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(&export.endpoint)
        .build()?;
    let traces = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_batch_exporter(spans)
        .build();
    let metrics = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .with_endpoint(&export.endpoint)
        .build()?;
    let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(metrics)
        .with_interval(export.metric_interval)
        .build();
    let meters = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(reader)
        .build();
    Ok((traces, meters))
}

/// Flushes and stops the exporters (call once, on shutdown).
pub fn shutdown() {
    if let Some((traces, metrics)) = PROVIDERS.get() {
        let _ = traces.force_flush();
        let _ = metrics.force_flush();
    }
}

/// Forces pending spans out (tests read them from a collector).
pub fn flush() {
    if let Some((traces, _)) = PROVIDERS.get() {
        let _ = traces.force_flush();
    }
}

/// Turns sqlx's per-statement events into client spans of their own, timed by the
/// statement's elapsed time and parented to the span the query ran in.
struct SqlSpans;

#[derive(Default)]
struct Statement {
    summary: String,
    sql: String,
    rows: Option<u64>,
    elapsed: Option<Duration>,
}

impl Visit for Statement {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_owned(),
            "db.statement" => self.sql = value.to_owned(),
            _ => {}
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "rows_affected" || field.name() == "rows_returned" {
            self.rows = Some(self.rows.unwrap_or(0) + value);
        }
    }
    // sqlx reports the statement's duration in seconds as a float: a timing, not money.
    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed = Duration::try_from_secs_f64(value).ok();
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SqlSpans {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut st = Statement::default();
        event.record(&mut st);
        let Some(elapsed) = st.elapsed else { return };
        let end = SystemTime::now();
        let parent = tracing::Span::current().context();
        let tracer = global::tracer("kuajing.sql");
        let name = if st.summary.is_empty() {
            "sql".to_owned()
        } else {
            st.summary.clone()
        };
        let mut span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_start_time(end.checked_sub(elapsed).unwrap_or(end))
            .with_attributes([
                KeyValue::new("db.system", "postgresql"),
                KeyValue::new("db.statement", st.sql),
                KeyValue::new(
                    "db.rows",
                    i64::try_from(st.rows.unwrap_or(0)).unwrap_or(i64::MAX),
                ),
            ])
            .start_with_context(&tracer, &parent);
        span.end_with_timestamp(end);
    }
}

/// Links the current tracing span to the caller's trace (from W3C `traceparent` in
/// `headers`) and records its trace and span ids as fields for the logs.
pub fn adopt_remote_parent(span: &tracing::Span, headers: &http::HeaderMap) {
    if !exporting() {
        return;
    }
    let parent = global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
    let _ = span.set_parent(parent);
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    if sc.is_valid() {
        span.record("trace_id", tracing::field::display(sc.trace_id()));
        span.record("span_id", tracing::field::display(sc.span_id()));
    }
}

/// Adds the current span's W3C trace context to an outgoing request's metadata.
pub fn inject_current(metadata: &mut tonic::metadata::MetadataMap) {
    if !exporting() {
        return;
    }
    let cx = tracing::Span::current().context();
    global::get_text_map_propagator(|p| p.inject_context(&cx, &mut MetadataInjector(metadata)));
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl opentelemetry::propagation::Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(k, v);
        }
    }
}
