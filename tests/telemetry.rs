//! Traces across services, in a test binary of its own: telemetry is process-wide, and
//! this one exports to an in-process OTLP receiver.
//!
//! Drives a conversion through fx (which calls wallet twice), then one checkout through
//! edge (PayOrders: edge, order, identity, authorization, wallet), and finds for each one
//! trace whose spans come from every service on the way, each callee's span under its
//! caller's, plus SQL statement spans under them and the RPC metrics.

#[allow(dead_code, unused_imports)]
#[path = "support/mod.rs"]
mod support;

use kuajing::parties::rid;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kuajing_proto::fx::v1::{
    CreateQuoteRequest, ExecuteQuoteRequest, create_quote_request::FixedAmount,
};
use kuajing_proto::types::Money;
use kuajing_proto::wallet::v1::{
    CreateReceivingAccountRequest, OpenWalletRequest, ReceivingAccountPurpose,
    RecordInboundRemittanceRequest,
};
use kuajing_testkit::TestPlatform;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;

/// An OTLP receiver keeping what it is sent.
#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<Span>>>,
    metric_names: Arc<Mutex<Vec<String>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            for ss in rs.scope_spans {
                spans.extend(ss.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let mut names = self.metric_names.lock().unwrap();
        for rm in request.into_inner().resource_metrics {
            for sm in rm.scope_metrics {
                names.extend(sm.metrics.into_iter().map(|m| m.name));
            }
        }
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    span.attributes.iter().find(|a| a.key == key).and_then(|a| {
        match a.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

fn m(c: &str, a: &str) -> Option<Money> {
    Some(Money {
        currency_code: c.into(),
        amount: a.into(),
    })
}

#[tokio::test]
async fn one_conversion_is_one_trace_across_services() -> anyhow::Result<()> {
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let serve = receiver.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(serve.clone()))
            .add_service(MetricsServiceServer::new(serve))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });
    use kuajing_platform::telemetry::{self, Export, LogFormat};
    let export = Export {
        endpoint: format!("http://{addr}"),
        metric_interval: Duration::from_millis(500),
    };
    telemetry::init_with(LogFormat::Pretty, "warn", "kuajing-test", Some(export));
    let tp = TestPlatform::start().await?;
    assert!(kuajing_platform::telemetry::exporting());
    let (mut w, mut fx) = (tp.wallet(), tp.fx());
    let owner = rid();
    let wallet = w
        .open_wallet(kuajing::parties::acting(
            &owner,
            OpenWalletRequest {
                request_id: rid(),
                owner_account_id: owner.clone(),
            },
        )?)
        .await?
        .into_inner()
        .wallet
        .unwrap()
        .wallet_id;
    let account = w
        .create_receiving_account(kuajing::parties::acting(
            &owner,
            CreateReceivingAccountRequest {
                request_id: rid(),
                wallet_id: wallet.clone(),
                currency_code: "USD".into(),
                display_name: "usd".into(),
                purpose: ReceivingAccountPurpose::TopUp as i32,
            },
        )?)
        .await?
        .into_inner()
        .receiving_account
        .unwrap();
    w.record_inbound_remittance(RecordInboundRemittanceRequest {
        request_id: rid(),
        account_number: account.bank_details.unwrap().account_number,
        bank_reference: rid(),
        amount: m("USD", "100.00"),
        value_time: Some(kuajing_platform::time::to_proto(chrono::Utc::now())),
        ..Default::default()
    })
    .await?;
    let quote = fx
        .create_quote(CreateQuoteRequest {
            request_id: rid(),
            wallet_id: wallet.clone(),
            sell_currency_code: "USD".into(),
            buy_currency_code: "CNH".into(),
            fixed_amount: Some(FixedAmount::SellAmount(m("USD", "10.00").unwrap())),
            ttl: None,
        })
        .await?
        .into_inner()
        .quote
        .unwrap();
    fx.execute_quote(ExecuteQuoteRequest {
        request_id: rid(),
        quote_id: quote.quote_id,
        wallet_id: wallet,
    })
    .await?;

    // The batch exporter sends on flush; wait until the fx span and its children arrive.
    let mut execute_trace = None;
    for _ in 0..50 {
        kuajing_platform::telemetry::flush();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let spans = receiver.spans.lock().unwrap();
        let exec = spans
            .iter()
            .find(|s| s.name == "kuajing.fx.v1.FxService/ExecuteQuote");
        if let Some(exec) = exec
            && spans.iter().any(|s| {
                s.trace_id == exec.trace_id
                    && s.name == "kuajing.wallet.v1.WalletService/PostConversion"
            })
        {
            execute_trace = Some(exec.trace_id.clone());
            break;
        }
    }
    let trace = execute_trace.expect("the ExecuteQuote trace arrived");
    let spans: Vec<Span> = receiver
        .spans
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.trace_id == trace)
        .cloned()
        .collect();
    let by_id: HashMap<&[u8], &Span> = spans.iter().map(|s| (s.span_id.as_slice(), s)).collect();
    let services: std::collections::BTreeSet<&str> = spans
        .iter()
        .filter_map(|s| attr(s, "rpc.service"))
        .collect();
    assert!(
        services.contains("kuajing.fx.v1.FxService")
            && services.contains("kuajing.wallet.v1.WalletService"),
        "{services:?}"
    );
    // The wallet's server span hangs under the fx server span (through the propagated context).
    let post = spans
        .iter()
        .find(|s| s.name == "kuajing.wallet.v1.WalletService/PostConversion")
        .unwrap();
    let mut up = by_id.get(post.parent_span_id.as_slice()).copied();
    let mut ancestry = Vec::new();
    while let Some(s) = up {
        ancestry.push(s.name.clone());
        up = by_id.get(s.parent_span_id.as_slice()).copied();
    }
    assert!(
        ancestry.contains(&"kuajing.fx.v1.FxService/ExecuteQuote".to_owned()),
        "{ancestry:?}"
    );
    // SQL statements are spans of their own under the RPCs that ran them.
    let sql: Vec<&Span> = spans
        .iter()
        .filter(|s| attr(s, "db.system") == Some("postgresql"))
        .collect();
    assert!(sql.len() >= 3, "SQL spans: {}", sql.len());
    assert!(
        sql.iter()
            .all(|s| by_id.contains_key(s.parent_span_id.as_slice())),
        "every SQL span has a parent in the trace"
    );

    // One checkout through edge: a verified buyer with an active mandate and CNH pays a
    // marketplace order by cross-border pay.
    let ops = support::operator_account(&tp).await;
    let buyer = support::onboard(&tp, &ops).await;
    let seller = support::supplier(&tp, &ops, false, true).await;
    support::active_mandate(&tp, &buyer).await;
    support::top_up(&tp, &buyer.wallet_id, "CNH", "5000.00").await;
    let order = support::create(
        &tp,
        support::marketplace_order(
            &buyer,
            &seller,
            vec![support::line("Desk lamp", "lighting", 10, "25.00", "CNY")],
            "0.00",
        ),
    )
    .await;
    let mut edge = tp.edge();
    let login = edge
        .login(kuajing_proto::edge::v1::LoginRequest {
            request_id: rid(),
            identifier: buyer.member_name.clone(),
            password: kuajing::parties::PASSWORD.to_owned(),
        })
        .await?
        .into_inner();
    let token = login.tokens.expect("tokens").access_token;
    let mut pay = tonic::Request::new(kuajing_proto::edge::v1::PayOrdersRequest {
        request_id: rid(),
        order_ids: vec![order.order_id.clone()],
        payment_method: kuajing_proto::order::v1::PaymentMethod::CrossBorderPay as i32,
        payment_pin: support::PIN.to_owned(),
        ..Default::default()
    });
    pay.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    edge.pay_orders(pay).await?;
    let mut checkout = None;
    for _ in 0..50 {
        kuajing_platform::telemetry::flush();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let spans = receiver.spans.lock().unwrap();
        if let Some(root) = spans
            .iter()
            .find(|s| s.name == "kuajing.edge.v1.EdgeService/PayOrders")
        {
            let services: std::collections::BTreeSet<&str> = spans
                .iter()
                .filter(|s| s.trace_id == root.trace_id)
                .filter_map(|s| attr(s, "rpc.service"))
                .collect();
            if services.len() >= 5 {
                checkout = Some(root.trace_id.clone());
                break;
            }
        }
    }
    let trace = checkout.expect("the checkout trace arrived with spans from five services");
    let spans: Vec<Span> = receiver
        .spans
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.trace_id == trace)
        .cloned()
        .collect();
    let by_id: HashMap<&[u8], &Span> = spans.iter().map(|s| (s.span_id.as_slice(), s)).collect();
    let services: std::collections::BTreeSet<&str> = spans
        .iter()
        .filter_map(|s| attr(s, "rpc.service"))
        .collect();
    for s in [
        "kuajing.edge.v1.EdgeService",
        "kuajing.order.v1.OrderService",
        "kuajing.authorization.v1.AuthorizationService",
        "kuajing.wallet.v1.WalletService",
    ] {
        assert!(services.contains(s), "{s} in {services:?}");
    }
    // Every server span but edge's hangs, through its parents, under edge's PayOrders span.
    let root = spans
        .iter()
        .find(|s| s.name == "kuajing.edge.v1.EdgeService/PayOrders")
        .unwrap();
    for s in spans
        .iter()
        .filter(|s| attr(s, "rpc.service").is_some() && s.span_id != root.span_id)
    {
        let mut up = by_id.get(s.parent_span_id.as_slice()).copied();
        let mut reached = false;
        while let Some(p) = up {
            if p.span_id == root.span_id {
                reached = true;
                break;
            }
            up = by_id.get(p.parent_span_id.as_slice()).copied();
        }
        assert!(reached, "{} is not under the checkout's root span", s.name);
    }

    let mut metrics = Vec::new();
    for _ in 0..40 {
        metrics = receiver.metric_names.lock().unwrap().clone();
        if metrics.iter().any(|m| m == "rpc.server.requests")
            && metrics.iter().any(|m| m == "kuajing.ledger.entries")
            && metrics.iter().any(|m| m == "kuajing.order.saga.outcomes")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for name in [
        "rpc.server.requests",
        "rpc.server.duration",
        "db.client.connections.usage",
        "kuajing.ledger.entries",
        "kuajing.order.saga.outcomes",
    ] {
        assert!(
            metrics.iter().any(|m| m == name),
            "metric {name} exported: {metrics:?}"
        );
    }
    tp.stop().await
}
