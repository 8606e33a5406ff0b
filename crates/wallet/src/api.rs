//! `kuajing.wallet.v1.WalletService`: each RPC hands its request to the operation that
//! governs it (`ops::*`), which validates, runs and answers.

use kuajing_proto::wallet::v1::wallet_service_server::WalletService;
use kuajing_proto::wallet::v1::{
    CaptureHoldRequest, CaptureHoldResponse, ChargeFeeRequest, ChargeFeeResponse,
    CreateHoldRequest, CreateHoldResponse, CreateReceivingAccountRequest,
    CreateReceivingAccountResponse, CreateTransferRequest, CreateTransferResponse,
    CreateWithdrawalRequest, CreateWithdrawalResponse, EstimateWithdrawalFeeRequest,
    EstimateWithdrawalFeeResponse, GetFundOverviewRequest, GetFundOverviewResponse, GetHoldRequest,
    GetHoldResponse, GetJournalEntryRequest, GetJournalEntryResponse, GetRemittanceRequest,
    GetRemittanceResponse, GetTransferRequest, GetTransferResponse, GetWalletRequest,
    GetWalletResponse, GetWithdrawalRequest, GetWithdrawalResponse, LinkRemittanceRequest,
    LinkRemittanceResponse, ListBankAccountsRequest, ListBankAccountsResponse, ListHoldsRequest,
    ListHoldsResponse, ListJournalEntriesRequest, ListJournalEntriesResponse,
    ListLedgerAccountsRequest, ListLedgerAccountsResponse, ListReceivingAccountsRequest,
    ListReceivingAccountsResponse, ListRemittancesRequest, ListRemittancesResponse,
    ListStatementLinesRequest, ListStatementLinesResponse, ListWithdrawalFeeRulesRequest,
    ListWithdrawalFeeRulesResponse, ListWithdrawalsRequest, ListWithdrawalsResponse,
    OpenWalletRequest, OpenWalletResponse, PayArrearsRequest, PayArrearsResponse,
    PostConversionRequest, PostConversionResponse, RecordInboundRemittanceRequest,
    RecordInboundRemittanceResponse, RegisterBankAccountRequest, RegisterBankAccountResponse,
    ReleaseHoldRequest, ReleaseHoldResponse, ReverseJournalEntryRequest,
    ReverseJournalEntryResponse, UpdateWithdrawalStatusRequest, UpdateWithdrawalStatusResponse,
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
impl WalletService for Api {
    async fn open_wallet(
        &self,
        request: Request<OpenWalletRequest>,
    ) -> Result<Response<OpenWalletResponse>, Status> {
        ops::wallets::open(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn get_wallet(
        &self,
        request: Request<GetWalletRequest>,
    ) -> Result<Response<GetWalletResponse>, Status> {
        ops::wallets::get(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn create_receiving_account(
        &self,
        request: Request<CreateReceivingAccountRequest>,
    ) -> Result<Response<CreateReceivingAccountResponse>, Status> {
        ops::receiving::create(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn list_receiving_accounts(
        &self,
        request: Request<ListReceivingAccountsRequest>,
    ) -> Result<Response<ListReceivingAccountsResponse>, Status> {
        ops::receiving::list(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn record_inbound_remittance(
        &self,
        request: Request<RecordInboundRemittanceRequest>,
    ) -> Result<Response<RecordInboundRemittanceResponse>, Status> {
        ops::remittances::record(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn get_remittance(
        &self,
        request: Request<GetRemittanceRequest>,
    ) -> Result<Response<GetRemittanceResponse>, Status> {
        ops::remittances::get(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn list_remittances(
        &self,
        request: Request<ListRemittancesRequest>,
    ) -> Result<Response<ListRemittancesResponse>, Status> {
        ops::remittances::list(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn link_remittance(
        &self,
        request: Request<LinkRemittanceRequest>,
    ) -> Result<Response<LinkRemittanceResponse>, Status> {
        ops::remittances::link(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn create_transfer(
        &self,
        request: Request<CreateTransferRequest>,
    ) -> Result<Response<CreateTransferResponse>, Status> {
        ops::transfers::create(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn get_transfer(
        &self,
        request: Request<GetTransferRequest>,
    ) -> Result<Response<GetTransferResponse>, Status> {
        ops::transfers::get(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn create_hold(
        &self,
        request: Request<CreateHoldRequest>,
    ) -> Result<Response<CreateHoldResponse>, Status> {
        ops::holds::create(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn get_hold(
        &self,
        request: Request<GetHoldRequest>,
    ) -> Result<Response<GetHoldResponse>, Status> {
        ops::holds::get(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn list_holds(
        &self,
        request: Request<ListHoldsRequest>,
    ) -> Result<Response<ListHoldsResponse>, Status> {
        ops::holds::list(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn capture_hold(
        &self,
        request: Request<CaptureHoldRequest>,
    ) -> Result<Response<CaptureHoldResponse>, Status> {
        ops::holds::capture(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn release_hold(
        &self,
        request: Request<ReleaseHoldRequest>,
    ) -> Result<Response<ReleaseHoldResponse>, Status> {
        ops::holds::release(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn post_conversion(
        &self,
        request: Request<PostConversionRequest>,
    ) -> Result<Response<PostConversionResponse>, Status> {
        ops::conversions::post(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn charge_fee(
        &self,
        request: Request<ChargeFeeRequest>,
    ) -> Result<Response<ChargeFeeResponse>, Status> {
        ops::fees::charge(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn pay_arrears(
        &self,
        request: Request<PayArrearsRequest>,
    ) -> Result<Response<PayArrearsResponse>, Status> {
        ops::fees::pay_arrears(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn get_journal_entry(
        &self,
        request: Request<GetJournalEntryRequest>,
    ) -> Result<Response<GetJournalEntryResponse>, Status> {
        ops::journal::get(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn list_journal_entries(
        &self,
        request: Request<ListJournalEntriesRequest>,
    ) -> Result<Response<ListJournalEntriesResponse>, Status> {
        ops::journal::list(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn reverse_journal_entry(
        &self,
        request: Request<ReverseJournalEntryRequest>,
    ) -> Result<Response<ReverseJournalEntryResponse>, Status> {
        ops::journal::reverse(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn list_ledger_accounts(
        &self,
        request: Request<ListLedgerAccountsRequest>,
    ) -> Result<Response<ListLedgerAccountsResponse>, Status> {
        ops::journal::list_accounts(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn register_bank_account(
        &self,
        request: Request<RegisterBankAccountRequest>,
    ) -> Result<Response<RegisterBankAccountResponse>, Status> {
        ops::withdrawals::register_bank_account(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn list_bank_accounts(
        &self,
        request: Request<ListBankAccountsRequest>,
    ) -> Result<Response<ListBankAccountsResponse>, Status> {
        ops::withdrawals::list_bank_accounts(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn list_withdrawal_fee_rules(
        &self,
        request: Request<ListWithdrawalFeeRulesRequest>,
    ) -> Result<Response<ListWithdrawalFeeRulesResponse>, Status> {
        ops::withdrawals::list_fee_rules(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn estimate_withdrawal_fee(
        &self,
        request: Request<EstimateWithdrawalFeeRequest>,
    ) -> Result<Response<EstimateWithdrawalFeeResponse>, Status> {
        ops::withdrawals::estimate(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn create_withdrawal(
        &self,
        request: Request<CreateWithdrawalRequest>,
    ) -> Result<Response<CreateWithdrawalResponse>, Status> {
        ops::withdrawals::create(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn get_withdrawal(
        &self,
        request: Request<GetWithdrawalRequest>,
    ) -> Result<Response<GetWithdrawalResponse>, Status> {
        ops::withdrawals::get(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn list_withdrawals(
        &self,
        request: Request<ListWithdrawalsRequest>,
    ) -> Result<Response<ListWithdrawalsResponse>, Status> {
        ops::withdrawals::list(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn update_withdrawal_status(
        &self,
        request: Request<UpdateWithdrawalStatusRequest>,
    ) -> Result<Response<UpdateWithdrawalStatusResponse>, Status> {
        ops::withdrawals::update_status(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn list_statement_lines(
        &self,
        request: Request<ListStatementLinesRequest>,
    ) -> Result<Response<ListStatementLinesResponse>, Status> {
        ops::statements::list(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
    async fn get_fund_overview(
        &self,
        request: Request<GetFundOverviewRequest>,
    ) -> Result<Response<GetFundOverviewResponse>, Status> {
        ops::statements::overview(&self.ctx, request.into_inner())
            .await
            .map(Response::new)
    }
}
