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

use kuajing_platform::auth::Caller;
use kuajing_proto::wallet::v1::get_wallet_request;

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
impl WalletService for Api {
    async fn open_wallet(
        &self,
        request: Request<OpenWalletRequest>,
    ) -> Result<Response<OpenWalletResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(
            &self.ctx,
            caller.as_ref(),
            Scope::Owner(&r.owner_account_id),
        )
        .await?;
        ops::wallets::open(&self.ctx, r).await.map(Response::new)
    }
    async fn get_wallet(
        &self,
        request: Request<GetWalletRequest>,
    ) -> Result<Response<GetWalletResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(
            &self.ctx,
            caller.as_ref(),
            match &r.lookup {
                Some(get_wallet_request::Lookup::WalletId(w)) => Scope::Wallet(w),
                Some(get_wallet_request::Lookup::OwnerAccountId(o)) => Scope::Owner(o),
                None => Scope::Platform,
            },
        )
        .await?;
        ops::wallets::get(&self.ctx, r).await.map(Response::new)
    }
    async fn create_receiving_account(
        &self,
        request: Request<CreateReceivingAccountRequest>,
    ) -> Result<Response<CreateReceivingAccountResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Wallet(&r.wallet_id)).await?;
        ops::receiving::create(&self.ctx, r)
            .await
            .map(Response::new)
    }
    async fn list_receiving_accounts(
        &self,
        request: Request<ListReceivingAccountsRequest>,
    ) -> Result<Response<ListReceivingAccountsResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Wallet(&r.wallet_id)).await?;
        ops::receiving::list(&self.ctx, r).await.map(Response::new)
    }
    async fn record_inbound_remittance(
        &self,
        request: Request<RecordInboundRemittanceRequest>,
    ) -> Result<Response<RecordInboundRemittanceResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Platform).await?;
        ops::remittances::record(&self.ctx, r)
            .await
            .map(Response::new)
    }
    async fn get_remittance(
        &self,
        request: Request<GetRemittanceRequest>,
    ) -> Result<Response<GetRemittanceResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(
            &self.ctx,
            caller.as_ref(),
            Scope::Remittance(&r.remittance_id),
        )
        .await?;
        ops::remittances::get(&self.ctx, r).await.map(Response::new)
    }
    async fn list_remittances(
        &self,
        request: Request<ListRemittancesRequest>,
    ) -> Result<Response<ListRemittancesResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Wallet(&r.wallet_id)).await?;
        ops::remittances::list(&self.ctx, r)
            .await
            .map(Response::new)
    }
    async fn link_remittance(
        &self,
        request: Request<LinkRemittanceRequest>,
    ) -> Result<Response<LinkRemittanceResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(
            &self.ctx,
            caller.as_ref(),
            Scope::Remittance(&r.remittance_id),
        )
        .await?;
        ops::remittances::link(&self.ctx, r)
            .await
            .map(Response::new)
    }
    async fn create_transfer(
        &self,
        request: Request<CreateTransferRequest>,
    ) -> Result<Response<CreateTransferResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(
            &self.ctx,
            caller.as_ref(),
            Scope::Wallet(&r.source_wallet_id),
        )
        .await?;
        ops::transfers::create(&self.ctx, r)
            .await
            .map(Response::new)
    }
    async fn get_transfer(
        &self,
        request: Request<GetTransferRequest>,
    ) -> Result<Response<GetTransferResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Transfer(&r.transfer_id)).await?;
        ops::transfers::get(&self.ctx, r).await.map(Response::new)
    }
    async fn create_hold(
        &self,
        request: Request<CreateHoldRequest>,
    ) -> Result<Response<CreateHoldResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Wallet(&r.wallet_id)).await?;
        ops::holds::create(&self.ctx, r).await.map(Response::new)
    }
    async fn get_hold(
        &self,
        request: Request<GetHoldRequest>,
    ) -> Result<Response<GetHoldResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Hold(&r.hold_id)).await?;
        ops::holds::get(&self.ctx, r).await.map(Response::new)
    }
    async fn list_holds(
        &self,
        request: Request<ListHoldsRequest>,
    ) -> Result<Response<ListHoldsResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Wallet(&r.wallet_id)).await?;
        ops::holds::list(&self.ctx, r).await.map(Response::new)
    }
    async fn capture_hold(
        &self,
        request: Request<CaptureHoldRequest>,
    ) -> Result<Response<CaptureHoldResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Hold(&r.hold_id)).await?;
        ops::holds::capture(&self.ctx, r).await.map(Response::new)
    }
    async fn release_hold(
        &self,
        request: Request<ReleaseHoldRequest>,
    ) -> Result<Response<ReleaseHoldResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Hold(&r.hold_id)).await?;
        ops::holds::release(&self.ctx, r).await.map(Response::new)
    }
    async fn post_conversion(
        &self,
        request: Request<PostConversionRequest>,
    ) -> Result<Response<PostConversionResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Wallet(&r.wallet_id)).await?;
        ops::conversions::post(&self.ctx, r)
            .await
            .map(Response::new)
    }
    async fn charge_fee(
        &self,
        request: Request<ChargeFeeRequest>,
    ) -> Result<Response<ChargeFeeResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Wallet(&r.wallet_id)).await?;
        ops::fees::charge(&self.ctx, r).await.map(Response::new)
    }
    async fn pay_arrears(
        &self,
        request: Request<PayArrearsRequest>,
    ) -> Result<Response<PayArrearsResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Wallet(&r.wallet_id)).await?;
        ops::fees::pay_arrears(&self.ctx, r)
            .await
            .map(Response::new)
    }
    async fn get_journal_entry(
        &self,
        request: Request<GetJournalEntryRequest>,
    ) -> Result<Response<GetJournalEntryResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(
            &self.ctx,
            caller.as_ref(),
            Scope::Entry(&r.journal_entry_id),
        )
        .await?;
        ops::journal::get(&self.ctx, r).await.map(Response::new)
    }
    async fn list_journal_entries(
        &self,
        request: Request<ListJournalEntriesRequest>,
    ) -> Result<Response<ListJournalEntriesResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Wallet(&r.wallet_id)).await?;
        ops::journal::list(&self.ctx, r).await.map(Response::new)
    }
    async fn reverse_journal_entry(
        &self,
        request: Request<ReverseJournalEntryRequest>,
    ) -> Result<Response<ReverseJournalEntryResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Platform).await?;
        ops::journal::reverse(&self.ctx, r).await.map(Response::new)
    }
    async fn list_ledger_accounts(
        &self,
        request: Request<ListLedgerAccountsRequest>,
    ) -> Result<Response<ListLedgerAccountsResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Platform).await?;
        ops::journal::list_accounts(&self.ctx, r)
            .await
            .map(Response::new)
    }
    async fn register_bank_account(
        &self,
        request: Request<RegisterBankAccountRequest>,
    ) -> Result<Response<RegisterBankAccountResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Wallet(&r.wallet_id)).await?;
        ops::withdrawals::register_bank_account(&self.ctx, r)
            .await
            .map(Response::new)
    }
    async fn list_bank_accounts(
        &self,
        request: Request<ListBankAccountsRequest>,
    ) -> Result<Response<ListBankAccountsResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Wallet(&r.wallet_id)).await?;
        ops::withdrawals::list_bank_accounts(&self.ctx, r)
            .await
            .map(Response::new)
    }
    async fn list_withdrawal_fee_rules(
        &self,
        request: Request<ListWithdrawalFeeRulesRequest>,
    ) -> Result<Response<ListWithdrawalFeeRulesResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Public).await?;
        ops::withdrawals::list_fee_rules(&self.ctx, r)
            .await
            .map(Response::new)
    }
    async fn estimate_withdrawal_fee(
        &self,
        request: Request<EstimateWithdrawalFeeRequest>,
    ) -> Result<Response<EstimateWithdrawalFeeResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Wallet(&r.wallet_id)).await?;
        ops::withdrawals::estimate(&self.ctx, r)
            .await
            .map(Response::new)
    }
    async fn create_withdrawal(
        &self,
        request: Request<CreateWithdrawalRequest>,
    ) -> Result<Response<CreateWithdrawalResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Wallet(&r.wallet_id)).await?;
        ops::withdrawals::create(&self.ctx, r)
            .await
            .map(Response::new)
    }
    async fn get_withdrawal(
        &self,
        request: Request<GetWithdrawalRequest>,
    ) -> Result<Response<GetWithdrawalResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(
            &self.ctx,
            caller.as_ref(),
            Scope::Withdrawal(&r.withdrawal_id),
        )
        .await?;
        ops::withdrawals::get(&self.ctx, r).await.map(Response::new)
    }
    async fn list_withdrawals(
        &self,
        request: Request<ListWithdrawalsRequest>,
    ) -> Result<Response<ListWithdrawalsResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Wallet(&r.wallet_id)).await?;
        ops::withdrawals::list(&self.ctx, r)
            .await
            .map(Response::new)
    }
    async fn update_withdrawal_status(
        &self,
        request: Request<UpdateWithdrawalStatusRequest>,
    ) -> Result<Response<UpdateWithdrawalStatusResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Platform).await?;
        ops::withdrawals::update_status(&self.ctx, r)
            .await
            .map(Response::new)
    }
    async fn list_statement_lines(
        &self,
        request: Request<ListStatementLinesRequest>,
    ) -> Result<Response<ListStatementLinesResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Wallet(&r.wallet_id)).await?;
        ops::statements::list(&self.ctx, r).await.map(Response::new)
    }
    async fn get_fund_overview(
        &self,
        request: Request<GetFundOverviewRequest>,
    ) -> Result<Response<GetFundOverviewResponse>, Status> {
        let caller = Caller::of(&request).cloned();
        let r = request.into_inner();
        ownership::check(&self.ctx, caller.as_ref(), Scope::Wallet(&r.wallet_id)).await?;
        ops::statements::overview(&self.ctx, r)
            .await
            .map(Response::new)
    }
}
