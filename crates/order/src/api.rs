//! `kuajing.order.v1.OrderService`: each RPC hands its request to the operation that governs it.

use std::time::Duration;

use kuajing_proto::order::v1::order_service_server::OrderService;
use kuajing_proto::order::v1::{
    AcceptOrderRequest, AcceptOrderResponse, AddShipmentRequest, AddShipmentResponse,
    CancelOrderRequest, CancelOrderResponse, ConfirmOrderRequest, ConfirmOrderResponse,
    ConfirmReceiptRequest, ConfirmReceiptResponse, CountOrdersByStatusRequest,
    CountOrdersByStatusResponse, CreateMarketplaceOrderRequest, CreateMarketplaceOrderResponse,
    DraftDirectPayOrderRequest, DraftDirectPayOrderResponse, DraftTradeAssuranceOrderRequest,
    DraftTradeAssuranceOrderResponse, EstimateOrderFeesRequest, EstimateOrderFeesResponse,
    GetOrderRequest, GetOrderResponse, GetPaymentRequest, GetPaymentResponse,
    LinkRemittanceToOrderRequest, LinkRemittanceToOrderResponse, ListOrderEventsRequest,
    ListOrderEventsResponse, ListOrdersRequest, ListOrdersResponse, MarkShipmentDeliveredRequest,
    MarkShipmentDeliveredResponse, PayOrdersRequest, PayOrdersResponse, QueryPaymentMethodsRequest,
    QueryPaymentMethodsResponse, RejectOrderRequest, RejectOrderResponse, RequestRefundRequest,
    RequestRefundResponse, ResolveRefundRequest, ResolveRefundResponse, SubmitReviewRequest,
    SubmitReviewResponse, UpdateOrderRequest, UpdateOrderResponse,
};
use tonic::{Request, Response, Status};

use crate::ops::{self, Ctx};

/// The gRPC handler.
pub struct Api {
    ctx: Ctx,
}

impl Api {
    /// A handler on the operations' context.
    pub fn new(ctx: Ctx) -> Self {
        Api { ctx }
    }
}

#[tonic::async_trait]
impl OrderService for Api {
    async fn create_marketplace_order(
        &self,
        request: Request<CreateMarketplaceOrderRequest>,
    ) -> Result<Response<CreateMarketplaceOrderResponse>, Status> {
        let subject = ops::subject(&request);
        ops::marketplace::create(&self.ctx, request.into_inner(), subject)
            .await
            .map(Response::new)
    }
    async fn draft_trade_assurance_order(
        &self,
        request: Request<DraftTradeAssuranceOrderRequest>,
    ) -> Result<Response<DraftTradeAssuranceOrderResponse>, Status> {
        let subject = ops::subject(&request);
        ops::drafting::draft_trade_assurance(&self.ctx, request.into_inner(), subject)
            .await
            .map(Response::new)
    }
    async fn draft_direct_pay_order(
        &self,
        request: Request<DraftDirectPayOrderRequest>,
    ) -> Result<Response<DraftDirectPayOrderResponse>, Status> {
        let subject = ops::subject(&request);
        ops::drafting::draft_direct_pay(&self.ctx, request.into_inner(), subject)
            .await
            .map(Response::new)
    }
    async fn get_order(
        &self,
        request: Request<GetOrderRequest>,
    ) -> Result<Response<GetOrderResponse>, Status> {
        ops::queries::get(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn list_orders(
        &self,
        request: Request<ListOrdersRequest>,
    ) -> Result<Response<ListOrdersResponse>, Status> {
        ops::queries::list(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn count_orders_by_status(
        &self,
        request: Request<CountOrdersByStatusRequest>,
    ) -> Result<Response<CountOrdersByStatusResponse>, Status> {
        ops::queries::count(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn update_order(
        &self,
        request: Request<UpdateOrderRequest>,
    ) -> Result<Response<UpdateOrderResponse>, Status> {
        let subject = ops::subject(&request);
        ops::modification::update(&self.ctx, request.into_inner(), subject)
            .await
            .map(Response::new)
    }
    async fn accept_order(
        &self,
        request: Request<AcceptOrderRequest>,
    ) -> Result<Response<AcceptOrderResponse>, Status> {
        let subject = ops::subject(&request);
        ops::confirmation::accept(&self.ctx, request.into_inner(), subject)
            .await
            .map(Response::new)
    }
    async fn reject_order(
        &self,
        request: Request<RejectOrderRequest>,
    ) -> Result<Response<RejectOrderResponse>, Status> {
        let subject = ops::subject(&request);
        ops::confirmation::reject(&self.ctx, request.into_inner(), subject)
            .await
            .map(Response::new)
    }
    async fn confirm_order(
        &self,
        request: Request<ConfirmOrderRequest>,
    ) -> Result<Response<ConfirmOrderResponse>, Status> {
        let subject = ops::subject(&request);
        ops::confirmation::confirm(&self.ctx, request.into_inner(), subject)
            .await
            .map(Response::new)
    }
    async fn query_payment_methods(
        &self,
        request: Request<QueryPaymentMethodsRequest>,
    ) -> Result<Response<QueryPaymentMethodsResponse>, Status> {
        ops::payment_methods::query(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn estimate_order_fees(
        &self,
        request: Request<EstimateOrderFeesRequest>,
    ) -> Result<Response<EstimateOrderFeesResponse>, Status> {
        ops::payment_methods::estimate(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn get_payment(
        &self,
        request: Request<GetPaymentRequest>,
    ) -> Result<Response<GetPaymentResponse>, Status> {
        ops::payments::get(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn pay_orders(
        &self,
        request: Request<PayOrdersRequest>,
    ) -> Result<Response<PayOrdersResponse>, Status> {
        let subject = ops::subject(&request);
        // Wait for the saga within the caller's deadline (less a margin for the answer).
        let budget = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(ops::sweeps::grpc_timeout)
            .map(|t| t.saturating_sub(Duration::from_millis(300)))
            .map_or(self.ctx.settings.pay_wait, |t| {
                t.min(self.ctx.settings.pay_wait)
            });
        ops::payments::pay(&self.ctx, request.into_inner(), subject, budget)
            .await
            .map(Response::new)
    }
    async fn link_remittance_to_order(
        &self,
        request: Request<LinkRemittanceToOrderRequest>,
    ) -> Result<Response<LinkRemittanceToOrderResponse>, Status> {
        let subject = ops::subject(&request);
        ops::remittances::link(&self.ctx, request.into_inner(), subject)
            .await
            .map(Response::new)
    }
    async fn add_shipment(
        &self,
        request: Request<AddShipmentRequest>,
    ) -> Result<Response<AddShipmentResponse>, Status> {
        let subject = ops::subject(&request);
        ops::shipments::add(&self.ctx, request.into_inner(), subject)
            .await
            .map(Response::new)
    }
    async fn mark_shipment_delivered(
        &self,
        request: Request<MarkShipmentDeliveredRequest>,
    ) -> Result<Response<MarkShipmentDeliveredResponse>, Status> {
        let subject = ops::subject(&request);
        ops::shipments::deliver(&self.ctx, request.into_inner(), subject)
            .await
            .map(Response::new)
    }
    async fn confirm_receipt(
        &self,
        request: Request<ConfirmReceiptRequest>,
    ) -> Result<Response<ConfirmReceiptResponse>, Status> {
        let subject = ops::subject(&request);
        ops::receipt::confirm(&self.ctx, request.into_inner(), subject)
            .await
            .map(Response::new)
    }
    async fn cancel_order(
        &self,
        request: Request<CancelOrderRequest>,
    ) -> Result<Response<CancelOrderResponse>, Status> {
        let subject = ops::subject(&request);
        ops::confirmation::cancel(&self.ctx, request.into_inner(), subject)
            .await
            .map(Response::new)
    }
    async fn request_refund(
        &self,
        request: Request<RequestRefundRequest>,
    ) -> Result<Response<RequestRefundResponse>, Status> {
        let subject = ops::subject(&request);
        ops::refunds::request(&self.ctx, request.into_inner(), subject)
            .await
            .map(Response::new)
    }
    async fn resolve_refund(
        &self,
        request: Request<ResolveRefundRequest>,
    ) -> Result<Response<ResolveRefundResponse>, Status> {
        let subject = ops::subject(&request);
        ops::refunds::resolve(&self.ctx, request.into_inner(), subject)
            .await
            .map(Response::new)
    }
    async fn submit_review(
        &self,
        request: Request<SubmitReviewRequest>,
    ) -> Result<Response<SubmitReviewResponse>, Status> {
        let subject = ops::subject(&request);
        ops::reviews::submit(&self.ctx, request.into_inner(), subject)
            .await
            .map(Response::new)
    }
    async fn list_order_events(
        &self,
        request: Request<ListOrderEventsRequest>,
    ) -> Result<Response<ListOrderEventsResponse>, Status> {
        ops::events::list(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
}
