//! `kuajing.order.v1.OrderService`: each RPC hands its request to the operation that governs it,
//! with who the request acts for ([`Who`]): the person's part is checked here when the
//! request names it (creating, drafting, listing), else by the operation on the order it
//! loads (see `ownership`).

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
    GetSupplierQuotasRequest, GetSupplierQuotasResponse, LinkRemittanceToOrderRequest,
    LinkRemittanceToOrderResponse, ListOrderEventsRequest, ListOrderEventsResponse,
    ListOrdersRequest, ListOrdersResponse, MarkShipmentDeliveredRequest,
    MarkShipmentDeliveredResponse, PayInspectionFeeRequest, PayInspectionFeeResponse,
    PayOrdersRequest, PayOrdersResponse, PayTradeOrderRequest, PayTradeOrderResponse,
    QueryPaymentMethodsRequest, QueryPaymentMethodsResponse, RejectOrderRequest,
    RejectOrderResponse, RequestRefundRequest, RequestRefundResponse, ResolveRefundRequest,
    ResolveRefundResponse, SetSupplierQuotasRequest, SetSupplierQuotasResponse,
    SubmitReviewRequest, SubmitReviewResponse, UpdateOrderRequest, UpdateOrderResponse,
};
use kuajing_proto::order::v1::{OrderParty, estimate_order_fees_request};
use tonic::{Request, Response, Status};

use crate::ops::{self, Ctx};
use crate::ownership::{self, Need, Who};

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
        let who = Who::of(&request);
        let r = request.into_inner();
        ownership::require_account(&self.ctx, who, &r.buyer_account_id, Need::Buyer)?;
        ops::marketplace::create(&self.ctx, r, who.subject)
            .await
            .map(Response::new)
    }
    async fn draft_trade_assurance_order(
        &self,
        request: Request<DraftTradeAssuranceOrderRequest>,
    ) -> Result<Response<DraftTradeAssuranceOrderResponse>, Status> {
        let who = Who::of(&request);
        let r = request.into_inner();
        match OrderParty::try_from(r.drafted_by) {
            Ok(OrderParty::Supplier) => {
                ownership::require_account(&self.ctx, who, &r.supplier_account_id, Need::Supplier)?
            }
            Ok(OrderParty::Buyer) => {
                ownership::require_account(&self.ctx, who, &r.buyer_account_id, Need::Buyer)?
            }
            // The operation refuses an unknown drafter.
            _ => {}
        }
        ops::drafting::draft_trade_assurance(&self.ctx, r, who.subject)
            .await
            .map(Response::new)
    }
    async fn draft_direct_pay_order(
        &self,
        request: Request<DraftDirectPayOrderRequest>,
    ) -> Result<Response<DraftDirectPayOrderResponse>, Status> {
        let who = Who::of(&request);
        let r = request.into_inner();
        ownership::require_account(&self.ctx, who, &r.supplier_account_id, Need::Supplier)?;
        ops::drafting::draft_direct_pay(&self.ctx, r, who.subject)
            .await
            .map(Response::new)
    }
    async fn get_order(
        &self,
        request: Request<GetOrderRequest>,
    ) -> Result<Response<GetOrderResponse>, Status> {
        let who = Who::of(&request);
        ops::queries::get(&self.ctx, request.into_inner(), who)
            .await
            .map(Response::new)
    }
    async fn list_orders(
        &self,
        request: Request<ListOrdersRequest>,
    ) -> Result<Response<ListOrdersResponse>, Status> {
        let who = Who::of(&request);
        let r = request.into_inner();
        ownership::require_named(&self.ctx, who, &r.supplier_account_id, &r.buyer_account_id)?;
        ops::queries::list(&self.ctx, r).await.map(Response::new)
    }
    async fn count_orders_by_status(
        &self,
        request: Request<CountOrdersByStatusRequest>,
    ) -> Result<Response<CountOrdersByStatusResponse>, Status> {
        let who = Who::of(&request);
        let r = request.into_inner();
        ownership::require_named(&self.ctx, who, &r.supplier_account_id, &r.buyer_account_id)?;
        ops::queries::count(&self.ctx, r).await.map(Response::new)
    }
    async fn update_order(
        &self,
        request: Request<UpdateOrderRequest>,
    ) -> Result<Response<UpdateOrderResponse>, Status> {
        let who = Who::of(&request);
        ops::modification::update(&self.ctx, request.into_inner(), who)
            .await
            .map(Response::new)
    }
    async fn accept_order(
        &self,
        request: Request<AcceptOrderRequest>,
    ) -> Result<Response<AcceptOrderResponse>, Status> {
        let who = Who::of(&request);
        ops::confirmation::accept(&self.ctx, request.into_inner(), who)
            .await
            .map(Response::new)
    }
    async fn reject_order(
        &self,
        request: Request<RejectOrderRequest>,
    ) -> Result<Response<RejectOrderResponse>, Status> {
        let who = Who::of(&request);
        ops::confirmation::reject(&self.ctx, request.into_inner(), who)
            .await
            .map(Response::new)
    }
    async fn confirm_order(
        &self,
        request: Request<ConfirmOrderRequest>,
    ) -> Result<Response<ConfirmOrderResponse>, Status> {
        let who = Who::of(&request);
        ops::confirmation::confirm(&self.ctx, request.into_inner(), who)
            .await
            .map(Response::new)
    }
    async fn query_payment_methods(
        &self,
        request: Request<QueryPaymentMethodsRequest>,
    ) -> Result<Response<QueryPaymentMethodsResponse>, Status> {
        let who = Who::of(&request);
        ops::payment_methods::query(&self.ctx, request.into_inner(), who)
            .await
            .map(Response::new)
    }
    async fn estimate_order_fees(
        &self,
        request: Request<EstimateOrderFeesRequest>,
    ) -> Result<Response<EstimateOrderFeesResponse>, Status> {
        let who = Who::of(&request);
        let r = request.into_inner();
        // An existing order is checked by the operation, which loads it.
        if let Some(estimate_order_fees_request::Subject::Draft(d)) = &r.subject {
            ownership::require_named(&self.ctx, who, &d.supplier_account_id, &d.buyer_account_id)?;
        }
        ops::payment_methods::estimate(&self.ctx, r, who)
            .await
            .map(Response::new)
    }
    async fn get_payment(
        &self,
        request: Request<GetPaymentRequest>,
    ) -> Result<Response<GetPaymentResponse>, Status> {
        let who = Who::of(&request);
        ops::payments::get(&self.ctx, request.into_inner(), who)
            .await
            .map(Response::new)
    }
    async fn pay_orders(
        &self,
        request: Request<PayOrdersRequest>,
    ) -> Result<Response<PayOrdersResponse>, Status> {
        let who = Who::of(&request);
        let budget = pay_budget(&self.ctx, request.metadata());
        ops::payments::pay(&self.ctx, request.into_inner(), who, budget)
            .await
            .map(Response::new)
    }
    async fn pay_trade_order(
        &self,
        request: Request<PayTradeOrderRequest>,
    ) -> Result<Response<PayTradeOrderResponse>, Status> {
        let who = Who::of(&request);
        let budget = pay_budget(&self.ctx, request.metadata());
        ops::trade_payments::pay(&self.ctx, request.into_inner(), who, budget)
            .await
            .map(Response::new)
    }
    async fn link_remittance_to_order(
        &self,
        request: Request<LinkRemittanceToOrderRequest>,
    ) -> Result<Response<LinkRemittanceToOrderResponse>, Status> {
        let who = Who::of(&request);
        ops::remittances::link(&self.ctx, request.into_inner(), who)
            .await
            .map(Response::new)
    }
    async fn add_shipment(
        &self,
        request: Request<AddShipmentRequest>,
    ) -> Result<Response<AddShipmentResponse>, Status> {
        let who = Who::of(&request);
        ops::shipments::add(&self.ctx, request.into_inner(), who)
            .await
            .map(Response::new)
    }
    async fn mark_shipment_delivered(
        &self,
        request: Request<MarkShipmentDeliveredRequest>,
    ) -> Result<Response<MarkShipmentDeliveredResponse>, Status> {
        let who = Who::of(&request);
        ops::shipments::deliver(&self.ctx, request.into_inner(), who)
            .await
            .map(Response::new)
    }
    async fn confirm_receipt(
        &self,
        request: Request<ConfirmReceiptRequest>,
    ) -> Result<Response<ConfirmReceiptResponse>, Status> {
        let who = Who::of(&request);
        ops::receipt::confirm(&self.ctx, request.into_inner(), who)
            .await
            .map(Response::new)
    }
    async fn pay_inspection_fee(
        &self,
        request: Request<PayInspectionFeeRequest>,
    ) -> Result<Response<PayInspectionFeeResponse>, Status> {
        let who = Who::of(&request);
        ops::inspection::pay(&self.ctx, request.into_inner(), who)
            .await
            .map(Response::new)
    }
    async fn set_supplier_quotas(
        &self,
        request: Request<SetSupplierQuotasRequest>,
    ) -> Result<Response<SetSupplierQuotasResponse>, Status> {
        ops::quotas::set(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn get_supplier_quotas(
        &self,
        request: Request<GetSupplierQuotasRequest>,
    ) -> Result<Response<GetSupplierQuotasResponse>, Status> {
        let who = Who::of(&request);
        let r = request.into_inner();
        ownership::require_named(&self.ctx, who, &r.supplier_account_id, "")?;
        ops::quotas::get(&self.ctx, r).await.map(Response::new)
    }
    async fn cancel_order(
        &self,
        request: Request<CancelOrderRequest>,
    ) -> Result<Response<CancelOrderResponse>, Status> {
        let who = Who::of(&request);
        ops::confirmation::cancel(&self.ctx, request.into_inner(), who)
            .await
            .map(Response::new)
    }
    async fn request_refund(
        &self,
        request: Request<RequestRefundRequest>,
    ) -> Result<Response<RequestRefundResponse>, Status> {
        let who = Who::of(&request);
        ops::refunds::request(&self.ctx, request.into_inner(), who)
            .await
            .map(Response::new)
    }
    async fn resolve_refund(
        &self,
        request: Request<ResolveRefundRequest>,
    ) -> Result<Response<ResolveRefundResponse>, Status> {
        let who = Who::of(&request);
        ops::refunds::resolve(&self.ctx, request.into_inner(), who)
            .await
            .map(Response::new)
    }
    async fn submit_review(
        &self,
        request: Request<SubmitReviewRequest>,
    ) -> Result<Response<SubmitReviewResponse>, Status> {
        let who = Who::of(&request);
        ops::reviews::submit(&self.ctx, request.into_inner(), who)
            .await
            .map(Response::new)
    }
    async fn list_order_events(
        &self,
        request: Request<ListOrderEventsRequest>,
    ) -> Result<Response<ListOrderEventsResponse>, Status> {
        let who = Who::of(&request);
        ops::events::list(&self.ctx, request.into_inner(), who)
            .await
            .map(Response::new)
    }
    async fn create_payment_link(
        &self,
        request: Request<kuajing_proto::order::v1::CreatePaymentLinkRequest>,
    ) -> Result<Response<kuajing_proto::order::v1::CreatePaymentLinkResponse>, Status> {
        let who = Who::of(&request);
        ops::payment_links::create(&self.ctx, request.into_inner(), who)
            .await
            .map(Response::new)
    }
    async fn open_payment_link(
        &self,
        request: Request<kuajing_proto::order::v1::OpenPaymentLinkRequest>,
    ) -> Result<Response<kuajing_proto::order::v1::OpenPaymentLinkResponse>, Status> {
        ops::payment_links::open(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn revoke_payment_link(
        &self,
        request: Request<kuajing_proto::order::v1::RevokePaymentLinkRequest>,
    ) -> Result<Response<kuajing_proto::order::v1::RevokePaymentLinkResponse>, Status> {
        let who = Who::of(&request);
        ops::payment_links::revoke(&self.ctx, request.into_inner(), who)
            .await
            .map(Response::new)
    }
}

/// How long a payment RPC waits for its saga: the caller's deadline less a margin for the
/// answer, at most the configured wait.
fn pay_budget(ctx: &ops::Ctx, metadata: &tonic::metadata::MetadataMap) -> Duration {
    kuajing_platform::outbound::timeout_of(metadata)
        .map(|t| t.saturating_sub(Duration::from_millis(300)))
        .map_or(ctx.settings.pay_wait, |t| t.min(ctx.settings.pay_wait))
}
