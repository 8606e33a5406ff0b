//! `kuajing.authorization.v1.AuthorizationService`: each RPC hands its request (and the
//! person it acts for, from `kj-subject`) to the operation that governs it (`ops::*`),
//! which validates, runs and answers.

use kuajing_proto::authorization::v1::authorization_service_server::AuthorizationService;
use kuajing_proto::authorization::v1::{
    ActivateMandateRequest, ActivateMandateResponse, ConfirmReservationRequest,
    ConfirmReservationResponse, CreateMandateRequest, CreateMandateResponse, DecidePaymentRequest,
    DecidePaymentResponse, GetLimitsRequest, GetLimitsResponse, GetMandateRequest,
    GetMandateResponse, ListDecisionsRequest, ListDecisionsResponse, ListMandatesRequest,
    ListMandatesResponse, ListRestrictedCategoriesRequest, ListRestrictedCategoriesResponse,
    ReleaseReservationRequest, ReleaseReservationResponse, RevokeMandateRequest,
    RevokeMandateResponse, SetRestrictedCategoryRequest, SetRestrictedCategoryResponse,
};
use tonic::{Request, Response, Status};

use crate::ops::access::Subject;
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

    fn subject<T>(&self, request: &Request<T>) -> Result<Subject, Status> {
        Subject::of(request, self.ctx.errors())
    }
}

#[tonic::async_trait]
impl AuthorizationService for Api {
    async fn create_mandate(
        &self,
        request: Request<CreateMandateRequest>,
    ) -> Result<Response<CreateMandateResponse>, Status> {
        let subject = self.subject(&request)?;
        ops::mandates::create(&self.ctx, subject, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn activate_mandate(
        &self,
        request: Request<ActivateMandateRequest>,
    ) -> Result<Response<ActivateMandateResponse>, Status> {
        let subject = self.subject(&request)?;
        ops::mandates::activate(&self.ctx, subject, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn get_mandate(
        &self,
        request: Request<GetMandateRequest>,
    ) -> Result<Response<GetMandateResponse>, Status> {
        let subject = self.subject(&request)?;
        ops::mandates::get(&self.ctx, subject, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn list_mandates(
        &self,
        request: Request<ListMandatesRequest>,
    ) -> Result<Response<ListMandatesResponse>, Status> {
        let subject = self.subject(&request)?;
        ops::mandates::list(&self.ctx, subject, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn revoke_mandate(
        &self,
        request: Request<RevokeMandateRequest>,
    ) -> Result<Response<RevokeMandateResponse>, Status> {
        let subject = self.subject(&request)?;
        ops::mandates::revoke(&self.ctx, subject, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn decide_payment(
        &self,
        request: Request<DecidePaymentRequest>,
    ) -> Result<Response<DecidePaymentResponse>, Status> {
        let subject = self.subject(&request)?;
        let caller = ops::access::caller_service(&request);
        ops::decisions::decide(&self.ctx, subject, caller, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn confirm_reservation(
        &self,
        request: Request<ConfirmReservationRequest>,
    ) -> Result<Response<ConfirmReservationResponse>, Status> {
        ops::reservations::confirm(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn release_reservation(
        &self,
        request: Request<ReleaseReservationRequest>,
    ) -> Result<Response<ReleaseReservationResponse>, Status> {
        ops::reservations::release(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn list_decisions(
        &self,
        request: Request<ListDecisionsRequest>,
    ) -> Result<Response<ListDecisionsResponse>, Status> {
        let subject = self.subject(&request)?;
        ops::decisions::list(&self.ctx, subject, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn list_restricted_categories(
        &self,
        request: Request<ListRestrictedCategoriesRequest>,
    ) -> Result<Response<ListRestrictedCategoriesResponse>, Status> {
        ops::categories::list(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn set_restricted_category(
        &self,
        request: Request<SetRestrictedCategoryRequest>,
    ) -> Result<Response<SetRestrictedCategoryResponse>, Status> {
        let subject = self.subject(&request)?;
        let caller = ops::access::caller_service(&request);
        ops::categories::set(&self.ctx, subject, caller, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn get_limits(
        &self,
        request: Request<GetLimitsRequest>,
    ) -> Result<Response<GetLimitsResponse>, Status> {
        let subject = self.subject(&request)?;
        ops::limits::get(&self.ctx, subject, request.into_inner())
            .await
            .map(Response::new)
    }
}
