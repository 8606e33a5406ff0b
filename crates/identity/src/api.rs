//! `kuajing.identity.v1.IdentityService`: each RPC's subject read from the request, its use
//! case (`crate::ops`) called, its answer sent.

use std::sync::Arc;

use kuajing_proto::identity::v1::identity_service_server::IdentityService;
use kuajing_proto::identity::v1::*;
use tonic::{Request, Response, Status};

use crate::ops::{State, Subject};

/// The gRPC handler.
pub struct Api {
    state: Arc<State>,
}

impl Api {
    /// A handler on the service state.
    pub fn new(state: State) -> Self {
        Api {
            state: Arc::new(state),
        }
    }
}

fn respond<T>(result: Result<T, Status>) -> Result<Response<T>, Status> {
    result.map(Response::new)
}

#[tonic::async_trait]
impl IdentityService for Api {
    async fn register_account(
        &self,
        r: Request<RegisterAccountRequest>,
    ) -> Result<Response<RegisterAccountResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.register_account(s, r.into_inner()).await)
    }

    async fn get_account(
        &self,
        r: Request<GetAccountRequest>,
    ) -> Result<Response<GetAccountResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.get_account(s, r.into_inner()).await)
    }

    async fn send_verification_code(
        &self,
        r: Request<SendVerificationCodeRequest>,
    ) -> Result<Response<SendVerificationCodeResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        // The verified calling service, when service credentials are checked.
        let caller = kuajing_platform::auth::Caller::of(&r).map(|c| c.service.clone());
        respond(
            self.state
                .send_verification_code(s, caller.as_deref(), r.into_inner())
                .await,
        )
    }

    async fn verify_code(
        &self,
        r: Request<VerifyCodeRequest>,
    ) -> Result<Response<VerifyCodeResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.verify_code(s, r.into_inner()).await)
    }

    async fn confirm_contact(
        &self,
        r: Request<ConfirmContactRequest>,
    ) -> Result<Response<ConfirmContactResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.confirm_contact(s, r.into_inner()).await)
    }

    async fn login(&self, r: Request<LoginRequest>) -> Result<Response<LoginResponse>, Status> {
        respond(self.state.login(r.into_inner()).await)
    }

    async fn refresh_token(
        &self,
        r: Request<RefreshTokenRequest>,
    ) -> Result<Response<RefreshTokenResponse>, Status> {
        respond(self.state.refresh_token(r.into_inner()).await)
    }

    async fn logout(&self, r: Request<LogoutRequest>) -> Result<Response<LogoutResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.logout(s, r.into_inner()).await)
    }

    async fn list_verification_keys(
        &self,
        r: Request<ListVerificationKeysRequest>,
    ) -> Result<Response<ListVerificationKeysResponse>, Status> {
        respond(self.state.list_verification_keys(r.into_inner()).await)
    }

    async fn submit_real_name_verification(
        &self,
        r: Request<SubmitRealNameVerificationRequest>,
    ) -> Result<Response<SubmitRealNameVerificationResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(
            self.state
                .submit_real_name_verification(s, r.into_inner())
                .await,
        )
    }

    async fn get_real_name_verification(
        &self,
        r: Request<GetRealNameVerificationRequest>,
    ) -> Result<Response<GetRealNameVerificationResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(
            self.state
                .get_real_name_verification(s, r.into_inner())
                .await,
        )
    }

    async fn list_real_name_verifications(
        &self,
        r: Request<ListRealNameVerificationsRequest>,
    ) -> Result<Response<ListRealNameVerificationsResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(
            self.state
                .list_real_name_verifications(s, r.into_inner())
                .await,
        )
    }

    async fn review_real_name_verification(
        &self,
        r: Request<ReviewRealNameVerificationRequest>,
    ) -> Result<Response<ReviewRealNameVerificationResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(
            self.state
                .review_real_name_verification(s, r.into_inner())
                .await,
        )
    }

    async fn bind_marketplace_account(
        &self,
        r: Request<BindMarketplaceAccountRequest>,
    ) -> Result<Response<BindMarketplaceAccountResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.bind_marketplace_account(s, r.into_inner()).await)
    }

    async fn unbind_marketplace_account(
        &self,
        r: Request<UnbindMarketplaceAccountRequest>,
    ) -> Result<Response<UnbindMarketplaceAccountResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(
            self.state
                .unbind_marketplace_account(s, r.into_inner())
                .await,
        )
    }

    async fn get_linked_account(
        &self,
        r: Request<GetLinkedAccountRequest>,
    ) -> Result<Response<GetLinkedAccountResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.get_linked_account(s, r.into_inner()).await)
    }

    async fn list_linked_accounts(
        &self,
        r: Request<ListLinkedAccountsRequest>,
    ) -> Result<Response<ListLinkedAccountsResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.list_linked_accounts(s, r.into_inner()).await)
    }

    async fn get_supplier_profile(
        &self,
        r: Request<GetSupplierProfileRequest>,
    ) -> Result<Response<GetSupplierProfileResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.get_supplier_profile(s, r.into_inner()).await)
    }

    async fn update_supplier_profile(
        &self,
        r: Request<UpdateSupplierProfileRequest>,
    ) -> Result<Response<UpdateSupplierProfileResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.update_supplier_profile(s, r.into_inner()).await)
    }

    async fn record_ip_complaint(
        &self,
        r: Request<RecordIpComplaintRequest>,
    ) -> Result<Response<RecordIpComplaintResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.record_ip_complaint(s, r.into_inner()).await)
    }

    async fn check_supplier_admission(
        &self,
        r: Request<CheckSupplierAdmissionRequest>,
    ) -> Result<Response<CheckSupplierAdmissionResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.check_supplier_admission(s, r.into_inner()).await)
    }

    async fn open_supplier_program(
        &self,
        r: Request<OpenSupplierProgramRequest>,
    ) -> Result<Response<OpenSupplierProgramResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.open_supplier_program(s, r.into_inner()).await)
    }

    async fn set_payment_pin(
        &self,
        r: Request<SetPaymentPinRequest>,
    ) -> Result<Response<SetPaymentPinResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.set_payment_pin(s, r.into_inner()).await)
    }

    async fn verify_payment_pin(
        &self,
        r: Request<VerifyPaymentPinRequest>,
    ) -> Result<Response<VerifyPaymentPinResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.verify_payment_pin(s, r.into_inner()).await)
    }

    async fn list_security_events(
        &self,
        r: Request<ListSecurityEventsRequest>,
    ) -> Result<Response<ListSecurityEventsResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.list_security_events(s, r.into_inner()).await)
    }

    async fn start_contact_change(
        &self,
        r: Request<StartContactChangeRequest>,
    ) -> Result<Response<StartContactChangeResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.start_contact_change(s, r.into_inner()).await)
    }

    async fn confirm_contact_change(
        &self,
        r: Request<ConfirmContactChangeRequest>,
    ) -> Result<Response<ConfirmContactChangeResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.confirm_contact_change(s, r.into_inner()).await)
    }

    async fn start_password_reset(
        &self,
        r: Request<StartPasswordResetRequest>,
    ) -> Result<Response<StartPasswordResetResponse>, Status> {
        respond(self.state.start_password_reset(r.into_inner()).await)
    }

    async fn reset_password(
        &self,
        r: Request<ResetPasswordRequest>,
    ) -> Result<Response<ResetPasswordResponse>, Status> {
        respond(self.state.reset_password(r.into_inner()).await)
    }

    async fn list_revoked_sessions(
        &self,
        r: Request<ListRevokedSessionsRequest>,
    ) -> Result<Response<ListRevokedSessionsResponse>, Status> {
        respond(self.state.list_revoked_sessions(r.into_inner()).await)
    }

    async fn change_password(
        &self,
        r: Request<ChangePasswordRequest>,
    ) -> Result<Response<ChangePasswordResponse>, Status> {
        let s = Subject::of(&r, self.state.errors)?;
        respond(self.state.change_password(s, r.into_inner()).await)
    }

    async fn enroll_operator_factor(
        &self,
        r: Request<EnrollOperatorFactorRequest>,
    ) -> Result<Response<EnrollOperatorFactorResponse>, Status> {
        respond(self.state.enroll_operator_factor(r.into_inner()).await)
    }

    async fn sign_in_operator(
        &self,
        r: Request<SignInOperatorRequest>,
    ) -> Result<Response<SignInOperatorResponse>, Status> {
        respond(self.state.sign_in_operator(r.into_inner()).await)
    }

    async fn sign_out_operator(
        &self,
        r: Request<SignOutOperatorRequest>,
    ) -> Result<Response<SignOutOperatorResponse>, Status> {
        use kuajing_platform::auth::{NamedPerson, SignInSession};
        let person = r.extensions().get::<NamedPerson>().map(|p| p.0);
        let session = r.extensions().get::<SignInSession>().map(|s| s.0);
        let signed_in = person.zip(session);
        respond(
            self.state
                .sign_out_operator(signed_in, r.into_inner())
                .await,
        )
    }
}
