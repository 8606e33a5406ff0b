//! `kuajing.fx.v1.FxService`: each RPC hands its request to the operation that governs it.

use kuajing_proto::fx::v1::fx_service_server::FxService;
use kuajing_proto::fx::v1::{
    CreateQuoteRequest, CreateQuoteResponse, ExecuteQuoteRequest, ExecuteQuoteResponse,
    GetConversionRequest, GetConversionResponse, GetEquivalentRequest, GetEquivalentResponse,
    GetQuoteRequest, GetQuoteResponse, GetRateRequest, GetRateResponse, ListConversionsRequest,
    ListConversionsResponse, ListRateChangesRequest, ListRateChangesResponse, ListRatesRequest,
    ListRatesResponse, SetRateRequest, SetRateResponse,
};
use tonic::{Request, Response, Status};

use kuajing_platform::auth::Caller;

use crate::ops::{self, Ctx};
use crate::ownership::{self, Scope};

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
impl FxService for Api {
    async fn list_rates(
        &self,
        request: Request<ListRatesRequest>,
    ) -> Result<Response<ListRatesResponse>, Status> {
        ops::rates::list(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn get_rate(
        &self,
        request: Request<GetRateRequest>,
    ) -> Result<Response<GetRateResponse>, Status> {
        ops::rates::get(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn set_rate(
        &self,
        request: Request<SetRateRequest>,
    ) -> Result<Response<SetRateResponse>, Status> {
        ops::rates::set(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn list_rate_changes(
        &self,
        request: Request<ListRateChangesRequest>,
    ) -> Result<Response<ListRateChangesResponse>, Status> {
        ops::rates::list_changes(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn create_quote(
        &self,
        request: Request<CreateQuoteRequest>,
    ) -> Result<Response<CreateQuoteResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Wallet(&r.wallet_id)).await?;
        ops::quotes::create(&self.ctx, r).await.map(Response::new)
    }
    async fn get_quote(
        &self,
        request: Request<GetQuoteRequest>,
    ) -> Result<Response<GetQuoteResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Quote(&r.quote_id)).await?;
        ops::quotes::get(&self.ctx, r).await.map(Response::new)
    }
    async fn execute_quote(
        &self,
        request: Request<ExecuteQuoteRequest>,
    ) -> Result<Response<ExecuteQuoteResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Wallet(&r.wallet_id)).await?;
        ops::conversions::execute(&self.ctx, r)
            .await
            .map(Response::new)
    }
    async fn get_conversion(
        &self,
        request: Request<GetConversionRequest>,
    ) -> Result<Response<GetConversionResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(
            &self.ctx,
            caller.as_ref(),
            Scope::Conversion(&r.conversion_id),
        )
        .await?;
        ops::conversions::get(&self.ctx, r).await.map(Response::new)
    }
    async fn list_conversions(
        &self,
        request: Request<ListConversionsRequest>,
    ) -> Result<Response<ListConversionsResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Wallet(&r.wallet_id)).await?;
        ops::conversions::list(&self.ctx, r)
            .await
            .map(Response::new)
    }
    async fn get_equivalent(
        &self,
        request: Request<GetEquivalentRequest>,
    ) -> Result<Response<GetEquivalentResponse>, Status> {
        ops::rates::equivalent(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
}
