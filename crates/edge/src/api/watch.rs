//! WatchPayment: a server stream that follows one of the caller's payments to its end.
//! Each stream reads the payment from the order service every `POLL_EVERY` and sends it
//! when it changed; it holds nothing a restart loses (the client resumes with the
//! update_time it last saw), so it needs no shared state across edge replicas.

use std::sync::Arc;

use kuajing_proto::edge::v1 as pb;
use kuajing_proto::order::v1 as opb;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status};
use uuid::Uuid;

use super::checkout::PAY_STEP;
use super::field;
use crate::Edge;
use crate::caller::Call;
use crate::domain::watch::{APPEAR_WITHIN, MAX_STREAM, POLL_EVERY, is_news, is_terminal};
use crate::domain::{access, request_id, rpc};
use crate::{call, errors};
use kuajing_platform::FieldViolations;

/// The stream WatchPayment answers with.
pub type PaymentStream = tonic::codegen::BoxStream<pb::WatchPaymentResponse>;

/// Which payment a stream follows.
enum Named {
    Payment(Uuid),
    /// The order service's request id of the caller's PayOrders.
    Checkout(Uuid),
}

/// Admits the request and starts following the payment.
pub async fn watch_payment(
    edge: &Arc<Edge>,
    call: &Call,
    req: pb::WatchPaymentRequest,
) -> Result<PaymentStream, Status> {
    let mut v = FieldViolations::new();
    let payment_id = v.optional_uuid("payment_id", &req.payment_id);
    let request = v.optional_uuid("request_id", &req.request_id);
    if req.payment_id.is_empty() == req.request_id.is_empty() {
        v.add(
            "payment_id",
            "exactly one of payment_id and request_id is required",
        );
    }
    errors::check(v)?;
    let me = call.my_id()?;
    let slot = edge.streams.open(me)?;
    let named = match (payment_id.flatten(), request.flatten()) {
        (Some(id), _) => Named::Payment(id),
        (None, Some(rid)) => Named::Checkout(request_id::derive(
            Some(me),
            rpc::PAY_ORDERS.name,
            rid,
            PAY_STEP,
        )),
        (None, None) => return Err(errors::internal("a checked id is missing")),
    };
    let (tx, rx) = mpsc::channel(4);
    let (edge, call) = (Arc::clone(edge), call.clone());
    tokio::spawn(async move {
        // The slot is held for as long as the stream runs.
        let _slot = slot;
        let ended = follow(&edge, &call, me, named, req.after_update_time, &tx).await;
        if let Err(status) = ended {
            // The client may have gone; nothing else to tell.
            let _ = tx.send(Err(status)).await;
        }
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}

/// Sends each new state of the payment until it ends, the stream's time is up, or the
/// client goes away.
async fn follow(
    edge: &Edge,
    call: &Call,
    me: Uuid,
    named: Named,
    after: Option<prost_types::Timestamp>,
    tx: &mpsc::Sender<Result<pb::WatchPaymentResponse, Status>>,
) -> Result<(), Status> {
    let started = Instant::now();
    let until = call.deadline().map_or(started + MAX_STREAM, |d| {
        Instant::from_std(d).min(started + MAX_STREAM)
    });
    let mut sent: Option<opb::Payment> = None;
    while Instant::now() < until {
        let (payment_id, request_id) = match &named {
            Named::Payment(id) => (id.to_string(), String::new()),
            Named::Checkout(id) => (String::new(), id.to_string()),
        };
        let read = call!(
            edge,
            call.out(),
            order.get_payment(opb::GetPaymentRequest {
                payment_id,
                request_id,
            })
        );
        match read {
            Ok(r) => {
                let payment = field(r.payment, "payment")?;
                access::visible(
                    "payment",
                    &payment.payment_id,
                    payment.buyer_account_id == me.to_string(),
                )
                .map_err(errors::refused)?;
                if is_news(&payment, sent.as_ref(), after.as_ref()) {
                    let end = is_terminal(&payment);
                    let message = pb::WatchPaymentResponse {
                        payment: Some(payment.clone()),
                    };
                    if tx.send(Ok(message)).await.is_err() || end {
                        return Ok(());
                    }
                    sent = Some(payment);
                }
            }
            // A checkout named by its request id: the payment may not exist yet.
            Err(s)
                if s.code() == Code::NotFound
                    && matches!(named, Named::Checkout(_))
                    && started.elapsed() < APPEAR_WITHIN => {}
            // The order service did not answer: keep trying while the stream lasts.
            Err(s) if matches!(s.code(), Code::Unavailable | Code::DeadlineExceeded) => {}
            Err(s) => return Err(s),
        }
        tokio::select! {
            () = tokio::time::sleep(POLL_EVERY) => {}
            () = tx.closed() => return Ok(()),
        }
    }
    Ok(())
}
