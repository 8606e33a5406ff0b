//! `kuajing.wallet.v1.WalletService`, as a table: each RPC's request checked for ownership (what
//! it names must be the `kj-subject` person's, `ownership::check`), then handed to the
//! operation that governs it (`ops::*`), which validates, runs and answers.

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

kuajing_platform::checked_rpcs! {
    impl WalletService for Api, checked by ownership::check;
    open_wallet(OpenWalletRequest) -> OpenWalletResponse,
        |r| Scope::Owner(&r.owner_account_id) => ops::wallets::open;
    get_wallet(GetWalletRequest) -> GetWalletResponse,
        |r| match &r.lookup {
                Some(get_wallet_request::Lookup::WalletId(w)) => Scope::Wallet(w),
                Some(get_wallet_request::Lookup::OwnerAccountId(o)) => Scope::Owner(o),
                None => Scope::Platform,
            } => ops::wallets::get;
    create_receiving_account(CreateReceivingAccountRequest) -> CreateReceivingAccountResponse,
        |r| Scope::Wallet(&r.wallet_id) => ops::receiving::create;
    list_receiving_accounts(ListReceivingAccountsRequest) -> ListReceivingAccountsResponse,
        |r| Scope::Wallet(&r.wallet_id) => ops::receiving::list;
    record_inbound_remittance(RecordInboundRemittanceRequest) -> RecordInboundRemittanceResponse,
        |r| Scope::Platform => ops::remittances::record;
    get_remittance(GetRemittanceRequest) -> GetRemittanceResponse,
        |r| Scope::Remittance(&r.remittance_id) => ops::remittances::get;
    list_remittances(ListRemittancesRequest) -> ListRemittancesResponse,
        |r| Scope::Wallet(&r.wallet_id) => ops::remittances::list;
    link_remittance(LinkRemittanceRequest) -> LinkRemittanceResponse,
        |r| Scope::Remittance(&r.remittance_id) => ops::remittances::link;
    create_transfer(CreateTransferRequest) -> CreateTransferResponse,
        |r| Scope::Wallet(&r.source_wallet_id) => ops::transfers::create;
    get_transfer(GetTransferRequest) -> GetTransferResponse,
        |r| Scope::Transfer(&r.transfer_id) => ops::transfers::get;
    create_hold(CreateHoldRequest) -> CreateHoldResponse,
        |r| Scope::Wallet(&r.wallet_id) => ops::holds::create;
    get_hold(GetHoldRequest) -> GetHoldResponse,
        |r| Scope::Hold(&r.hold_id) => ops::holds::get;
    list_holds(ListHoldsRequest) -> ListHoldsResponse,
        |r| Scope::Wallet(&r.wallet_id) => ops::holds::list;
    capture_hold(CaptureHoldRequest) -> CaptureHoldResponse,
        |r| Scope::Hold(&r.hold_id) => ops::holds::capture;
    release_hold(ReleaseHoldRequest) -> ReleaseHoldResponse,
        |r| Scope::Hold(&r.hold_id) => ops::holds::release;
    post_conversion(PostConversionRequest) -> PostConversionResponse,
        |r| Scope::Wallet(&r.wallet_id) => ops::conversions::post;
    charge_fee(ChargeFeeRequest) -> ChargeFeeResponse,
        |r| Scope::Wallet(&r.wallet_id) => ops::fees::charge;
    pay_arrears(PayArrearsRequest) -> PayArrearsResponse,
        |r| Scope::Wallet(&r.wallet_id) => ops::fees::pay_arrears;
    get_journal_entry(GetJournalEntryRequest) -> GetJournalEntryResponse,
        |r| Scope::Entry(&r.journal_entry_id) => ops::journal::get;
    list_journal_entries(ListJournalEntriesRequest) -> ListJournalEntriesResponse,
        |r| Scope::Wallet(&r.wallet_id) => ops::journal::list;
    reverse_journal_entry(ReverseJournalEntryRequest) -> ReverseJournalEntryResponse,
        |r| Scope::Platform => ops::journal::reverse;
    list_ledger_accounts(ListLedgerAccountsRequest) -> ListLedgerAccountsResponse,
        |r| Scope::Platform => ops::journal::list_accounts;
    register_bank_account(RegisterBankAccountRequest) -> RegisterBankAccountResponse,
        |r| Scope::Wallet(&r.wallet_id) => ops::withdrawals::register_bank_account;
    list_bank_accounts(ListBankAccountsRequest) -> ListBankAccountsResponse,
        |r| Scope::Wallet(&r.wallet_id) => ops::withdrawals::list_bank_accounts;
    list_withdrawal_fee_rules(ListWithdrawalFeeRulesRequest) -> ListWithdrawalFeeRulesResponse,
        |r| Scope::Public => ops::withdrawals::list_fee_rules;
    estimate_withdrawal_fee(EstimateWithdrawalFeeRequest) -> EstimateWithdrawalFeeResponse,
        |r| Scope::Wallet(&r.wallet_id) => ops::withdrawals::estimate;
    create_withdrawal(CreateWithdrawalRequest) -> CreateWithdrawalResponse,
        |r| Scope::Wallet(&r.wallet_id) => ops::withdrawals::create;
    get_withdrawal(GetWithdrawalRequest) -> GetWithdrawalResponse,
        |r| Scope::Withdrawal(&r.withdrawal_id) => ops::withdrawals::get;
    list_withdrawals(ListWithdrawalsRequest) -> ListWithdrawalsResponse,
        |r| Scope::Wallet(&r.wallet_id) => ops::withdrawals::list;
    update_withdrawal_status(UpdateWithdrawalStatusRequest) -> UpdateWithdrawalStatusResponse,
        |r| Scope::Platform => ops::withdrawals::update_status;
    list_statement_lines(ListStatementLinesRequest) -> ListStatementLinesResponse,
        |r| Scope::Wallet(&r.wallet_id) => ops::statements::list;
    get_fund_overview(GetFundOverviewRequest) -> GetFundOverviewResponse,
        |r| Scope::Wallet(&r.wallet_id) => ops::statements::overview;
}
