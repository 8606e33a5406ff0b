//! `kuajing.edge.v1.EdgeService`: every RPC is admitted (`Edge::begin`: address, rate
//! buckets, token, deadline) and handed to the module of its area.

mod account;
mod checkout;
mod dashboard;
mod fx;
mod mandates;
mod onboarding;
mod orders;
mod wallet;
mod watch;

use std::sync::Arc;

use kuajing_proto::edge::v1 as pb;
use kuajing_proto::edge::v1::edge_service_server::EdgeService;
use kuajing_proto::wallet::v1 as wpb;
use tonic::{Code, Request, Response, Status};
use uuid::Uuid;

use crate::Edge;
use crate::caller::Call;
use crate::domain::rpc;
use crate::errors;

/// The gRPC handler.
pub struct Api {
    edge: Arc<Edge>,
}

impl Api {
    /// A handler on edge's shared state.
    pub fn new(edge: Arc<Edge>) -> Self {
        Api { edge }
    }
}

/// A value edge's checks guaranteed (`errors::check` passed); its absence is a bug.
fn got<T>(value: Option<T>) -> Result<T, Status> {
    value.ok_or_else(|| errors::internal("a checked field is missing"))
}

/// A field a service's answer must carry.
fn field<T>(value: Option<T>, what: &str) -> Result<T, Status> {
    value.ok_or_else(|| errors::internal(format!("a service answered without {what}")))
}

/// The caller's wallet, `None` when it has none yet.
async fn find_wallet(edge: &Edge, call: &Call) -> Result<Option<wpb::Wallet>, Status> {
    let me = call.my_id()?;
    let found = crate::call!(
        edge,
        call.out(),
        wallet.get_wallet(wpb::GetWalletRequest {
            lookup: Some(wpb::get_wallet_request::Lookup::OwnerAccountId(
                me.to_string()
            )),
        })
    );
    match found {
        Ok(r) => {
            let wallet = field(r.wallet, "wallet")?;
            if let Ok(id) = Uuid::try_parse(&wallet.wallet_id) {
                edge.remember_wallet(me, id);
            }
            Ok(Some(wallet))
        }
        Err(s) if s.code() == Code::NotFound => Ok(None),
        Err(s) => Err(s),
    }
}

/// The caller's wallet id, or FAILED_PRECONDITION WALLET_NOT_OPEN.
async fn my_wallet(edge: &Edge, call: &Call) -> Result<Uuid, Status> {
    let me = call.my_id()?;
    if let Some(id) = edge.remembered_wallet(me) {
        return Ok(id);
    }
    let wallet = find_wallet(edge, call)
        .await?
        .ok_or_else(|| errors::wallet_not_open(me))?;
    Uuid::try_parse(&wallet.wallet_id).map_err(errors::internal)
}

/// Implements `EdgeService`: `method(Message) => handler;` for every unary RPC, where the
/// request and response types are `pb::MessageRequest` and `pb::MessageResponse` and the
/// catalogue entry is `rpc::METHOD`; the server-streaming RPCs follow, written out.
macro_rules! edge_service {
    ($($method:ident($name:ident) => $handler:path;)* @streams { $($streams:tt)* }) => {
        #[tonic::async_trait]
        impl EdgeService for Api {
            $($streams)*
            $(
                async fn $method(
                    &self,
                    request: Request<edge_types::$name::Req>,
                ) -> Result<Response<edge_types::$name::Resp>, Status> {
                    let call = self.edge.begin(&request, edge_types::$name::RPC).await?;
                    $handler(&self.edge, &call, request.into_inner())
                        .await
                        .map(Response::new)
                }
            )*
        }
    };
}

edge_service! {
    register_account(RegisterAccount) => onboarding::register_account;
    send_verification_code(SendVerificationCode) => onboarding::send_verification_code;
    confirm_contact(ConfirmContact) => onboarding::confirm_contact;
    login(Login) => onboarding::login;
    enroll_operator_factor(EnrollOperatorFactor) => onboarding::enroll_operator_factor;
    sign_in_operator(SignInOperator) => onboarding::sign_in_operator;
    refresh_token(RefreshToken) => onboarding::refresh_token;
    logout(Logout) => onboarding::logout;
    get_me(GetMe) => account::get_me;
    submit_real_name_verification(SubmitRealNameVerification) => account::submit_real_name_verification;
    get_real_name_verification(GetRealNameVerification) => account::get_real_name_verification;
    bind_marketplace_account(BindMarketplaceAccount) => account::bind_marketplace_account;
    unbind_marketplace_account(UnbindMarketplaceAccount) => account::unbind_marketplace_account;
    list_linked_accounts(ListLinkedAccounts) => account::list_linked_accounts;
    set_payment_pin(SetPaymentPin) => account::set_payment_pin;
    list_security_events(ListSecurityEvents) => account::list_security_events;
    start_contact_change(StartContactChange) => account::start_contact_change;
    confirm_contact_change(ConfirmContactChange) => account::confirm_contact_change;
    change_password(ChangePassword) => account::change_password;
    start_password_reset(StartPasswordReset) => onboarding::start_password_reset;
    reset_password(ResetPassword) => onboarding::reset_password;
    open_wallet(OpenWallet) => wallet::open_wallet;
    get_buyer_dashboard(GetBuyerDashboard) => dashboard::get_buyer_dashboard;
    get_supplier_workbench(GetSupplierWorkbench) => dashboard::get_supplier_workbench;
    open_supplier_program(OpenSupplierProgram) => account::open_supplier_program;
    get_supplier_profile(GetSupplierProfile) => account::get_supplier_profile;
    check_supplier_admission(CheckSupplierAdmission) => account::check_supplier_admission;
    get_wallet(GetWallet) => wallet::get_wallet;
    create_receiving_account(CreateReceivingAccount) => wallet::create_receiving_account;
    list_receiving_accounts(ListReceivingAccounts) => wallet::list_receiving_accounts;
    list_remittances(ListRemittances) => wallet::list_remittances;
    get_remittance(GetRemittance) => wallet::get_remittance;
    list_statement_lines(ListStatementLines) => wallet::list_statement_lines;
    get_journal_entry(GetJournalEntry) => wallet::get_journal_entry;
    create_transfer(CreateTransfer) => wallet::create_transfer;
    get_transfer(GetTransfer) => wallet::get_transfer;
    register_bank_account(RegisterBankAccount) => wallet::register_bank_account;
    list_bank_accounts(ListBankAccounts) => wallet::list_bank_accounts;
    list_withdrawal_fee_rules(ListWithdrawalFeeRules) => wallet::list_withdrawal_fee_rules;
    estimate_withdrawal_fee(EstimateWithdrawalFee) => wallet::estimate_withdrawal_fee;
    create_withdrawal(CreateWithdrawal) => wallet::create_withdrawal;
    get_withdrawal(GetWithdrawal) => wallet::get_withdrawal;
    list_withdrawals(ListWithdrawals) => wallet::list_withdrawals;
    get_fund_overview(GetFundOverview) => wallet::get_fund_overview;
    pay_arrears(PayArrears) => wallet::pay_arrears;
    list_holds(ListHolds) => wallet::list_holds;
    get_hold(GetHold) => wallet::get_hold;
    list_rates(ListRates) => fx::list_rates;
    get_rate(GetRate) => fx::get_rate;
    create_quote(CreateQuote) => fx::create_quote;
    get_quote(GetQuote) => fx::get_quote;
    execute_quote(ExecuteQuote) => fx::execute_quote;
    get_conversion(GetConversion) => fx::get_conversion;
    list_conversions(ListConversions) => fx::list_conversions;
    create_mandate(CreateMandate) => mandates::create_mandate;
    activate_mandate(ActivateMandate) => mandates::activate_mandate;
    get_mandate(GetMandate) => mandates::get_mandate;
    list_mandates(ListMandates) => mandates::list_mandates;
    revoke_mandate(RevokeMandate) => mandates::revoke_mandate;
    list_decisions(ListDecisions) => mandates::list_decisions;
    get_limits(GetLimits) => mandates::get_limits;
    list_restricted_categories(ListRestrictedCategories) => mandates::list_restricted_categories;
    create_marketplace_order(CreateMarketplaceOrder) => orders::create_marketplace_order;
    draft_trade_assurance_order(DraftTradeAssuranceOrder) => orders::draft_trade_assurance_order;
    draft_direct_pay_order(DraftDirectPayOrder) => orders::draft_direct_pay_order;
    get_order(GetOrder) => orders::get_order;
    list_orders(ListOrders) => orders::list_orders;
    count_orders_by_status(CountOrdersByStatus) => orders::count_orders_by_status;
    update_order(UpdateOrder) => orders::update_order;
    accept_order(AcceptOrder) => orders::accept_order;
    reject_order(RejectOrder) => orders::reject_order;
    confirm_order(ConfirmOrder) => orders::confirm_order;
    query_payment_methods(QueryPaymentMethods) => checkout::query_payment_methods;
    estimate_order_fees(EstimateOrderFees) => checkout::estimate_order_fees;
    pay_orders(PayOrders) => checkout::pay_orders;
    pay_trade_order(PayTradeOrder) => checkout::pay_trade_order;
    get_payment(GetPayment) => checkout::get_payment;
    create_payment_link(CreatePaymentLink) => checkout::create_payment_link;
    open_payment_link(OpenPaymentLink) => checkout::open_payment_link;
    revoke_payment_link(RevokePaymentLink) => checkout::revoke_payment_link;
    link_remittance_to_order(LinkRemittanceToOrder) => orders::link_remittance_to_order;
    add_shipment(AddShipment) => orders::add_shipment;
    mark_shipment_delivered(MarkShipmentDelivered) => orders::mark_shipment_delivered;
    confirm_receipt(ConfirmReceipt) => orders::confirm_receipt;
    pay_inspection_fee(PayInspectionFee) => orders::pay_inspection_fee;
    cancel_order(CancelOrder) => orders::cancel_order;
    request_refund(RequestRefund) => orders::request_refund;
    resolve_refund(ResolveRefund) => orders::resolve_refund;
    submit_review(SubmitReview) => orders::submit_review;
    list_order_events(ListOrderEvents) => orders::list_order_events;
    @streams {
        async fn watch_payment(
            &self,
            request: Request<pb::WatchPaymentRequest>,
        ) -> Result<Response<watch::PaymentStream>, Status> {
            let call = self.edge.begin(&request, &rpc::WATCH_PAYMENT).await?;
            watch::watch_payment(&self.edge, &call, request.into_inner())
                .await
                .map(Response::new)
        }
    }
}

/// Request, response and catalogue entry of each RPC, by name.
#[allow(non_snake_case)]
mod edge_types {
    use super::{pb, rpc};
    pub mod CreatePaymentLink {
        pub type Req = super::pb::CreatePaymentLinkRequest;
        pub type Resp = super::pb::CreatePaymentLinkResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::CREATE_PAYMENT_LINK;
    }
    pub mod OpenPaymentLink {
        pub type Req = super::pb::OpenPaymentLinkRequest;
        pub type Resp = super::pb::OpenPaymentLinkResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::OPEN_PAYMENT_LINK;
    }
    pub mod RevokePaymentLink {
        pub type Req = super::pb::RevokePaymentLinkRequest;
        pub type Resp = super::pb::RevokePaymentLinkResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::REVOKE_PAYMENT_LINK;
    }
    pub mod StartContactChange {
        pub type Req = super::pb::StartContactChangeRequest;
        pub type Resp = super::pb::StartContactChangeResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::START_CONTACT_CHANGE;
    }
    pub mod ConfirmContactChange {
        pub type Req = super::pb::ConfirmContactChangeRequest;
        pub type Resp = super::pb::ConfirmContactChangeResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::CONFIRM_CONTACT_CHANGE;
    }
    pub mod ChangePassword {
        pub type Req = super::pb::ChangePasswordRequest;
        pub type Resp = super::pb::ChangePasswordResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::CHANGE_PASSWORD;
    }
    pub mod StartPasswordReset {
        pub type Req = super::pb::StartPasswordResetRequest;
        pub type Resp = super::pb::StartPasswordResetResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::START_PASSWORD_RESET;
    }
    pub mod ResetPassword {
        pub type Req = super::pb::ResetPasswordRequest;
        pub type Resp = super::pb::ResetPasswordResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::RESET_PASSWORD;
    }
    pub mod GetSupplierProfile {
        pub type Req = super::pb::GetSupplierProfileRequest;
        pub type Resp = super::pb::GetSupplierProfileResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::GET_SUPPLIER_PROFILE;
    }
    pub mod CheckSupplierAdmission {
        pub type Req = super::pb::CheckSupplierAdmissionRequest;
        pub type Resp = super::pb::CheckSupplierAdmissionResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::CHECK_SUPPLIER_ADMISSION;
    }
    pub mod ListHolds {
        pub type Req = super::pb::ListHoldsRequest;
        pub type Resp = super::pb::ListHoldsResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::LIST_HOLDS;
    }
    pub mod GetHold {
        pub type Req = super::pb::GetHoldRequest;
        pub type Resp = super::pb::GetHoldResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::GET_HOLD;
    }
    pub mod RegisterAccount {
        pub type Req = super::pb::RegisterAccountRequest;
        pub type Resp = super::pb::RegisterAccountResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::REGISTER_ACCOUNT;
    }
    pub mod SendVerificationCode {
        pub type Req = super::pb::SendVerificationCodeRequest;
        pub type Resp = super::pb::SendVerificationCodeResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::SEND_VERIFICATION_CODE;
    }
    pub mod ConfirmContact {
        pub type Req = super::pb::ConfirmContactRequest;
        pub type Resp = super::pb::ConfirmContactResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::CONFIRM_CONTACT;
    }
    pub mod EnrollOperatorFactor {
        pub type Req = super::pb::EnrollOperatorFactorRequest;
        pub type Resp = super::pb::EnrollOperatorFactorResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::ENROLL_OPERATOR_FACTOR;
    }
    pub mod SignInOperator {
        pub type Req = super::pb::SignInOperatorRequest;
        pub type Resp = super::pb::SignInOperatorResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::SIGN_IN_OPERATOR;
    }
    pub mod Login {
        pub type Req = super::pb::LoginRequest;
        pub type Resp = super::pb::LoginResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::LOGIN;
    }
    pub mod RefreshToken {
        pub type Req = super::pb::RefreshTokenRequest;
        pub type Resp = super::pb::RefreshTokenResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::REFRESH_TOKEN;
    }
    pub mod Logout {
        pub type Req = super::pb::LogoutRequest;
        pub type Resp = super::pb::LogoutResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::LOGOUT;
    }
    pub mod GetMe {
        pub type Req = super::pb::GetMeRequest;
        pub type Resp = super::pb::GetMeResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::GET_ME;
    }
    pub mod SubmitRealNameVerification {
        pub type Req = super::pb::SubmitRealNameVerificationRequest;
        pub type Resp = super::pb::SubmitRealNameVerificationResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::SUBMIT_REAL_NAME_VERIFICATION;
    }
    pub mod GetRealNameVerification {
        pub type Req = super::pb::GetRealNameVerificationRequest;
        pub type Resp = super::pb::GetRealNameVerificationResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::GET_REAL_NAME_VERIFICATION;
    }
    pub mod BindMarketplaceAccount {
        pub type Req = super::pb::BindMarketplaceAccountRequest;
        pub type Resp = super::pb::BindMarketplaceAccountResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::BIND_MARKETPLACE_ACCOUNT;
    }
    pub mod UnbindMarketplaceAccount {
        pub type Req = super::pb::UnbindMarketplaceAccountRequest;
        pub type Resp = super::pb::UnbindMarketplaceAccountResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::UNBIND_MARKETPLACE_ACCOUNT;
    }
    pub mod ListLinkedAccounts {
        pub type Req = super::pb::ListLinkedAccountsRequest;
        pub type Resp = super::pb::ListLinkedAccountsResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::LIST_LINKED_ACCOUNTS;
    }
    pub mod SetPaymentPin {
        pub type Req = super::pb::SetPaymentPinRequest;
        pub type Resp = super::pb::SetPaymentPinResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::SET_PAYMENT_PIN;
    }
    pub mod ListSecurityEvents {
        pub type Req = super::pb::ListSecurityEventsRequest;
        pub type Resp = super::pb::ListSecurityEventsResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::LIST_SECURITY_EVENTS;
    }
    pub mod OpenWallet {
        pub type Req = super::pb::OpenWalletRequest;
        pub type Resp = super::pb::OpenWalletResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::OPEN_WALLET;
    }
    pub mod GetBuyerDashboard {
        pub type Req = super::pb::GetBuyerDashboardRequest;
        pub type Resp = super::pb::GetBuyerDashboardResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::GET_BUYER_DASHBOARD;
    }
    pub mod GetSupplierWorkbench {
        pub type Req = super::pb::GetSupplierWorkbenchRequest;
        pub type Resp = super::pb::GetSupplierWorkbenchResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::GET_SUPPLIER_WORKBENCH;
    }
    pub mod OpenSupplierProgram {
        pub type Req = super::pb::OpenSupplierProgramRequest;
        pub type Resp = super::pb::OpenSupplierProgramResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::OPEN_SUPPLIER_PROGRAM;
    }
    pub mod GetWallet {
        pub type Req = super::pb::GetWalletRequest;
        pub type Resp = super::pb::GetWalletResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::GET_WALLET;
    }
    pub mod CreateReceivingAccount {
        pub type Req = super::pb::CreateReceivingAccountRequest;
        pub type Resp = super::pb::CreateReceivingAccountResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::CREATE_RECEIVING_ACCOUNT;
    }
    pub mod ListReceivingAccounts {
        pub type Req = super::pb::ListReceivingAccountsRequest;
        pub type Resp = super::pb::ListReceivingAccountsResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::LIST_RECEIVING_ACCOUNTS;
    }
    pub mod ListRemittances {
        pub type Req = super::pb::ListRemittancesRequest;
        pub type Resp = super::pb::ListRemittancesResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::LIST_REMITTANCES;
    }
    pub mod GetRemittance {
        pub type Req = super::pb::GetRemittanceRequest;
        pub type Resp = super::pb::GetRemittanceResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::GET_REMITTANCE;
    }
    pub mod ListStatementLines {
        pub type Req = super::pb::ListStatementLinesRequest;
        pub type Resp = super::pb::ListStatementLinesResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::LIST_STATEMENT_LINES;
    }
    pub mod GetJournalEntry {
        pub type Req = super::pb::GetJournalEntryRequest;
        pub type Resp = super::pb::GetJournalEntryResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::GET_JOURNAL_ENTRY;
    }
    pub mod CreateTransfer {
        pub type Req = super::pb::CreateTransferRequest;
        pub type Resp = super::pb::CreateTransferResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::CREATE_TRANSFER;
    }
    pub mod GetTransfer {
        pub type Req = super::pb::GetTransferRequest;
        pub type Resp = super::pb::GetTransferResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::GET_TRANSFER;
    }
    pub mod RegisterBankAccount {
        pub type Req = super::pb::RegisterBankAccountRequest;
        pub type Resp = super::pb::RegisterBankAccountResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::REGISTER_BANK_ACCOUNT;
    }
    pub mod ListBankAccounts {
        pub type Req = super::pb::ListBankAccountsRequest;
        pub type Resp = super::pb::ListBankAccountsResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::LIST_BANK_ACCOUNTS;
    }
    pub mod ListWithdrawalFeeRules {
        pub type Req = super::pb::ListWithdrawalFeeRulesRequest;
        pub type Resp = super::pb::ListWithdrawalFeeRulesResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::LIST_WITHDRAWAL_FEE_RULES;
    }
    pub mod EstimateWithdrawalFee {
        pub type Req = super::pb::EstimateWithdrawalFeeRequest;
        pub type Resp = super::pb::EstimateWithdrawalFeeResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::ESTIMATE_WITHDRAWAL_FEE;
    }
    pub mod CreateWithdrawal {
        pub type Req = super::pb::CreateWithdrawalRequest;
        pub type Resp = super::pb::CreateWithdrawalResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::CREATE_WITHDRAWAL;
    }
    pub mod GetWithdrawal {
        pub type Req = super::pb::GetWithdrawalRequest;
        pub type Resp = super::pb::GetWithdrawalResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::GET_WITHDRAWAL;
    }
    pub mod ListWithdrawals {
        pub type Req = super::pb::ListWithdrawalsRequest;
        pub type Resp = super::pb::ListWithdrawalsResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::LIST_WITHDRAWALS;
    }
    pub mod GetFundOverview {
        pub type Req = super::pb::GetFundOverviewRequest;
        pub type Resp = super::pb::GetFundOverviewResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::GET_FUND_OVERVIEW;
    }
    pub mod PayArrears {
        pub type Req = super::pb::PayArrearsRequest;
        pub type Resp = super::pb::PayArrearsResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::PAY_ARREARS;
    }
    pub mod ListRates {
        pub type Req = super::pb::ListRatesRequest;
        pub type Resp = super::pb::ListRatesResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::LIST_RATES;
    }
    pub mod GetRate {
        pub type Req = super::pb::GetRateRequest;
        pub type Resp = super::pb::GetRateResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::GET_RATE;
    }
    pub mod CreateQuote {
        pub type Req = super::pb::CreateQuoteRequest;
        pub type Resp = super::pb::CreateQuoteResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::CREATE_QUOTE;
    }
    pub mod GetQuote {
        pub type Req = super::pb::GetQuoteRequest;
        pub type Resp = super::pb::GetQuoteResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::GET_QUOTE;
    }
    pub mod ExecuteQuote {
        pub type Req = super::pb::ExecuteQuoteRequest;
        pub type Resp = super::pb::ExecuteQuoteResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::EXECUTE_QUOTE;
    }
    pub mod GetConversion {
        pub type Req = super::pb::GetConversionRequest;
        pub type Resp = super::pb::GetConversionResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::GET_CONVERSION;
    }
    pub mod ListConversions {
        pub type Req = super::pb::ListConversionsRequest;
        pub type Resp = super::pb::ListConversionsResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::LIST_CONVERSIONS;
    }
    pub mod CreateMandate {
        pub type Req = super::pb::CreateMandateRequest;
        pub type Resp = super::pb::CreateMandateResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::CREATE_MANDATE;
    }
    pub mod ActivateMandate {
        pub type Req = super::pb::ActivateMandateRequest;
        pub type Resp = super::pb::ActivateMandateResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::ACTIVATE_MANDATE;
    }
    pub mod GetMandate {
        pub type Req = super::pb::GetMandateRequest;
        pub type Resp = super::pb::GetMandateResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::GET_MANDATE;
    }
    pub mod ListMandates {
        pub type Req = super::pb::ListMandatesRequest;
        pub type Resp = super::pb::ListMandatesResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::LIST_MANDATES;
    }
    pub mod RevokeMandate {
        pub type Req = super::pb::RevokeMandateRequest;
        pub type Resp = super::pb::RevokeMandateResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::REVOKE_MANDATE;
    }
    pub mod ListDecisions {
        pub type Req = super::pb::ListDecisionsRequest;
        pub type Resp = super::pb::ListDecisionsResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::LIST_DECISIONS;
    }
    pub mod GetLimits {
        pub type Req = super::pb::GetLimitsRequest;
        pub type Resp = super::pb::GetLimitsResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::GET_LIMITS;
    }
    pub mod ListRestrictedCategories {
        pub type Req = super::pb::ListRestrictedCategoriesRequest;
        pub type Resp = super::pb::ListRestrictedCategoriesResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::LIST_RESTRICTED_CATEGORIES;
    }
    pub mod CreateMarketplaceOrder {
        pub type Req = super::pb::CreateMarketplaceOrderRequest;
        pub type Resp = super::pb::CreateMarketplaceOrderResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::CREATE_MARKETPLACE_ORDER;
    }
    pub mod DraftTradeAssuranceOrder {
        pub type Req = super::pb::DraftTradeAssuranceOrderRequest;
        pub type Resp = super::pb::DraftTradeAssuranceOrderResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::DRAFT_TRADE_ASSURANCE_ORDER;
    }
    pub mod DraftDirectPayOrder {
        pub type Req = super::pb::DraftDirectPayOrderRequest;
        pub type Resp = super::pb::DraftDirectPayOrderResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::DRAFT_DIRECT_PAY_ORDER;
    }
    pub mod GetOrder {
        pub type Req = super::pb::GetOrderRequest;
        pub type Resp = super::pb::GetOrderResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::GET_ORDER;
    }
    pub mod ListOrders {
        pub type Req = super::pb::ListOrdersRequest;
        pub type Resp = super::pb::ListOrdersResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::LIST_ORDERS;
    }
    pub mod CountOrdersByStatus {
        pub type Req = super::pb::CountOrdersByStatusRequest;
        pub type Resp = super::pb::CountOrdersByStatusResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::COUNT_ORDERS_BY_STATUS;
    }
    pub mod UpdateOrder {
        pub type Req = super::pb::UpdateOrderRequest;
        pub type Resp = super::pb::UpdateOrderResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::UPDATE_ORDER;
    }
    pub mod AcceptOrder {
        pub type Req = super::pb::AcceptOrderRequest;
        pub type Resp = super::pb::AcceptOrderResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::ACCEPT_ORDER;
    }
    pub mod RejectOrder {
        pub type Req = super::pb::RejectOrderRequest;
        pub type Resp = super::pb::RejectOrderResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::REJECT_ORDER;
    }
    pub mod ConfirmOrder {
        pub type Req = super::pb::ConfirmOrderRequest;
        pub type Resp = super::pb::ConfirmOrderResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::CONFIRM_ORDER;
    }
    pub mod QueryPaymentMethods {
        pub type Req = super::pb::QueryPaymentMethodsRequest;
        pub type Resp = super::pb::QueryPaymentMethodsResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::QUERY_PAYMENT_METHODS;
    }
    pub mod EstimateOrderFees {
        pub type Req = super::pb::EstimateOrderFeesRequest;
        pub type Resp = super::pb::EstimateOrderFeesResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::ESTIMATE_ORDER_FEES;
    }
    pub mod PayOrders {
        pub type Req = super::pb::PayOrdersRequest;
        pub type Resp = super::pb::PayOrdersResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::PAY_ORDERS;
    }
    pub mod PayTradeOrder {
        pub type Req = super::pb::PayTradeOrderRequest;
        pub type Resp = super::pb::PayTradeOrderResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::PAY_TRADE_ORDER;
    }
    pub mod GetPayment {
        pub type Req = super::pb::GetPaymentRequest;
        pub type Resp = super::pb::GetPaymentResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::GET_PAYMENT;
    }
    pub mod LinkRemittanceToOrder {
        pub type Req = super::pb::LinkRemittanceToOrderRequest;
        pub type Resp = super::pb::LinkRemittanceToOrderResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::LINK_REMITTANCE_TO_ORDER;
    }
    pub mod AddShipment {
        pub type Req = super::pb::AddShipmentRequest;
        pub type Resp = super::pb::AddShipmentResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::ADD_SHIPMENT;
    }
    pub mod MarkShipmentDelivered {
        pub type Req = super::pb::MarkShipmentDeliveredRequest;
        pub type Resp = super::pb::MarkShipmentDeliveredResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::MARK_SHIPMENT_DELIVERED;
    }
    pub mod ConfirmReceipt {
        pub type Req = super::pb::ConfirmReceiptRequest;
        pub type Resp = super::pb::ConfirmReceiptResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::CONFIRM_RECEIPT;
    }
    pub mod PayInspectionFee {
        pub type Req = super::pb::PayInspectionFeeRequest;
        pub type Resp = super::pb::PayInspectionFeeResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::PAY_INSPECTION_FEE;
    }
    pub mod CancelOrder {
        pub type Req = super::pb::CancelOrderRequest;
        pub type Resp = super::pb::CancelOrderResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::CANCEL_ORDER;
    }
    pub mod RequestRefund {
        pub type Req = super::pb::RequestRefundRequest;
        pub type Resp = super::pb::RequestRefundResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::REQUEST_REFUND;
    }
    pub mod ResolveRefund {
        pub type Req = super::pb::ResolveRefundRequest;
        pub type Resp = super::pb::ResolveRefundResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::RESOLVE_REFUND;
    }
    pub mod SubmitReview {
        pub type Req = super::pb::SubmitReviewRequest;
        pub type Resp = super::pb::SubmitReviewResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::SUBMIT_REVIEW;
    }
    pub mod ListOrderEvents {
        pub type Req = super::pb::ListOrderEventsRequest;
        pub type Resp = super::pb::ListOrderEventsResponse;
        pub const RPC: &super::rpc::Rpc = &super::rpc::LIST_ORDER_EVENTS;
    }
}
