//! The caller's wallet: opening it, balances, receiving accounts and remittances,
//! statements and entries, transfers, bank accounts and withdrawals, the fund overview
//! and arrears. Requests never name a wallet: edge fills in the caller's; what they name
//! by id (a remittance, a transfer, ...) must hang off it.

use kuajing_proto::edge::v1 as pb;
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::wallet::v1 as wpb;
use tonic::Status;
use uuid::Uuid;

use super::{field, find_wallet, got, my_wallet};
use crate::Edge;
use crate::caller::Call;
use crate::domain::access;
use crate::domain::token::Role;
use crate::{call, errors};
use kuajing_platform::FieldViolations;

/// Opens the caller's wallet.
pub async fn open_wallet(
    edge: &Edge,
    call: &Call,
    req: pb::OpenWalletRequest,
) -> Result<pb::OpenWalletResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    errors::check(v)?;
    let me = call.my_id()?;
    let r = call!(
        edge,
        call.out(),
        wallet.open_wallet(wpb::OpenWalletRequest {
            request_id: call.request_id(got(rid)?, "open"),
            owner_account_id: me.to_string(),
        })
    )?;
    if let Some(id) = r
        .wallet
        .as_ref()
        .and_then(|w| Uuid::try_parse(&w.wallet_id).ok())
    {
        edge.remember_wallet(me, id);
    }
    Ok(pb::OpenWalletResponse { wallet: r.wallet })
}

/// The caller's wallet and balances.
pub async fn get_wallet(
    edge: &Edge,
    call: &Call,
    _req: pb::GetWalletRequest,
) -> Result<pb::GetWalletResponse, Status> {
    let wallet = find_wallet(edge, call)
        .await?
        .ok_or_else(|| errors::wallet_not_open(call.my_id().unwrap_or_default()))?;
    Ok(pb::GetWalletResponse {
        wallet: Some(wallet),
    })
}

/// A receiving account on the caller's wallet (TRADE_COLLECTION: suppliers).
pub async fn create_receiving_account(
    edge: &Edge,
    call: &Call,
    req: pb::CreateReceivingAccountRequest,
) -> Result<pb::CreateReceivingAccountResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    let purpose = v.enum_value::<wpb::ReceivingAccountPurpose>("purpose", req.purpose);
    errors::check(v)?;
    if got(purpose)? == wpb::ReceivingAccountPurpose::TradeCollection {
        call.require(Role::Supplier)?;
    }
    let wallet_id = my_wallet(edge, call).await?;
    let r = call!(
        edge,
        call.out(),
        wallet.create_receiving_account(wpb::CreateReceivingAccountRequest {
            request_id: call.request_id(got(rid)?, "create"),
            wallet_id: wallet_id.to_string(),
            currency_code: req.currency_code,
            display_name: req.display_name,
            purpose: req.purpose,
        })
    )?;
    Ok(pb::CreateReceivingAccountResponse {
        receiving_account: r.receiving_account,
    })
}

/// The caller's receiving accounts.
pub async fn list_receiving_accounts(
    edge: &Edge,
    call: &Call,
    req: pb::ListReceivingAccountsRequest,
) -> Result<pb::ListReceivingAccountsResponse, Status> {
    let wallet_id = my_wallet(edge, call).await?;
    let r = call!(
        edge,
        call.out(),
        wallet.list_receiving_accounts(wpb::ListReceivingAccountsRequest {
            wallet_id: wallet_id.to_string(),
            currency_code: req.currency_code,
            page: req.page,
        })
    )?;
    Ok(pb::ListReceivingAccountsResponse {
        receiving_accounts: r.receiving_accounts,
        page: r.page,
    })
}

/// Remittances to the caller's wallet.
pub async fn list_remittances(
    edge: &Edge,
    call: &Call,
    req: pb::ListRemittancesRequest,
) -> Result<pb::ListRemittancesResponse, Status> {
    let mut v = FieldViolations::new();
    let filter = v.optional_uuid("receiving_account_id", &req.receiving_account_id);
    errors::check(v)?;
    let wallet_id = my_wallet(edge, call).await?;
    if let Some(account) = got(filter)? {
        check_receiving_account(edge, call, wallet_id, account).await?;
    }
    let r = call!(
        edge,
        call.out(),
        wallet.list_remittances(wpb::ListRemittancesRequest {
            wallet_id: wallet_id.to_string(),
            receiving_account_id: req.receiving_account_id,
            statuses: req.statuses,
            value_time_range: req.value_time_range,
            page: req.page,
        })
    )?;
    Ok(pb::ListRemittancesResponse {
        remittances: r.remittances,
        page: r.page,
    })
}

/// Pages of receiving accounts read to find one (a wallet holds at most 50 by default).
const RECEIVING_ACCOUNT_PAGES: usize = 10;

/// Refuses a receiving account that is not on the caller's wallet. The wallet has no
/// lookup by id, so edge looks among the caller's own: one that is not there answers
/// NOT_FOUND whether it is missing or someone else's (ids are not probed).
async fn check_receiving_account(
    edge: &Edge,
    call: &Call,
    wallet_id: Uuid,
    account: Uuid,
) -> Result<(), Status> {
    let wanted = account.to_string();
    let mut page_token = String::new();
    for _ in 0..RECEIVING_ACCOUNT_PAGES {
        let r = call!(
            edge,
            call.out(),
            wallet.list_receiving_accounts(wpb::ListReceivingAccountsRequest {
                wallet_id: wallet_id.to_string(),
                currency_code: String::new(),
                page: Some(kuajing_proto::types::PageRequest {
                    page_size: 100,
                    page_token: page_token.clone(),
                }),
            })
        )?;
        if r.receiving_accounts
            .iter()
            .any(|a| a.receiving_account_id == wanted)
        {
            return Ok(());
        }
        page_token = r.page.map(|p| p.next_page_token).unwrap_or_default();
        if page_token.is_empty() {
            break;
        }
    }
    access::visible("receiving_account", &wanted, false).map_err(errors::refused)
}

/// One remittance on the caller's wallet (also the check LinkRemittanceToOrder makes).
pub(super) async fn my_remittance(
    edge: &Edge,
    call: &Call,
    remittance_id: &str,
) -> Result<wpb::Remittance, Status> {
    let r = call!(
        edge,
        call.out(),
        wallet.get_remittance(wpb::GetRemittanceRequest {
            remittance_id: remittance_id.to_owned(),
        })
    )?;
    let remittance = field(r.remittance, "remittance")?;
    let mine = my_wallet(edge, call).await?;
    access::owned(
        "remittance",
        remittance_id,
        remittance.wallet_id == mine.to_string(),
    )
    .map_err(errors::refused)?;
    Ok(remittance)
}

/// One of the caller's remittances.
pub async fn get_remittance(
    edge: &Edge,
    call: &Call,
    req: pb::GetRemittanceRequest,
) -> Result<pb::GetRemittanceResponse, Status> {
    let mut v = FieldViolations::new();
    v.uuid("remittance_id", &req.remittance_id);
    errors::check(v)?;
    let remittance = my_remittance(edge, call, &req.remittance_id).await?;
    Ok(pb::GetRemittanceResponse {
        remittance: Some(remittance),
    })
}

/// The caller's statement.
pub async fn list_statement_lines(
    edge: &Edge,
    call: &Call,
    req: pb::ListStatementLinesRequest,
) -> Result<pb::ListStatementLinesResponse, Status> {
    let wallet_id = my_wallet(edge, call).await?;
    let r = call!(
        edge,
        call.out(),
        wallet.list_statement_lines(wpb::ListStatementLinesRequest {
            wallet_id: wallet_id.to_string(),
            currency_code: req.currency_code,
            create_time_range: req.create_time_range,
            types: req.types,
            page: req.page,
        })
    )?;
    Ok(pb::ListStatementLinesResponse {
        statement_lines: r.statement_lines,
        page: r.page,
    })
}

/// A journal entry touching the caller's wallet, without other wallets' postings.
pub async fn get_journal_entry(
    edge: &Edge,
    call: &Call,
    req: pb::GetJournalEntryRequest,
) -> Result<pb::GetJournalEntryResponse, Status> {
    let mut v = FieldViolations::new();
    v.uuid("journal_entry_id", &req.journal_entry_id);
    errors::check(v)?;
    let r = call!(
        edge,
        call.out(),
        wallet.get_journal_entry(wpb::GetJournalEntryRequest {
            journal_entry_id: req.journal_entry_id.clone(),
        })
    )?;
    let mut entry = field(r.journal_entry, "journal_entry")?;
    let mine = my_wallet(edge, call).await?.to_string();
    let touches = entry.postings.iter().any(|p| p.wallet_id == mine);
    access::owned("journal_entry", &req.journal_entry_id, touches).map_err(errors::refused)?;
    entry
        .postings
        .retain(|p| p.wallet_id.is_empty() || p.wallet_id == mine);
    Ok(pb::GetJournalEntryResponse {
        journal_entry: Some(entry),
    })
}

/// Verifies the caller's PIN, then transfers from the caller's wallet.
pub async fn create_transfer(
    edge: &Edge,
    call: &Call,
    req: pb::CreateTransferRequest,
) -> Result<pb::CreateTransferResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    let destination = v.uuid("destination_wallet_id", &req.destination_wallet_id);
    v.six_digits("payment_pin", &req.payment_pin);
    errors::check(v)?;
    let (rid, destination) = (got(rid)?, got(destination)?);
    let source = my_wallet(edge, call).await?;
    if destination == source {
        return Err(errors::invalid(
            "destination_wallet_id",
            "must be another wallet than the caller's",
        ));
    }
    let transfer_request_id = call.request_id(rid, "transfer");
    let verified = call!(
        edge,
        call.out(),
        identity.verify_payment_pin(idp::VerifyPaymentPinRequest {
            request_id: call.request_id(rid, "pin"),
            account_id: call.my_id()?.to_string(),
            pin: req.payment_pin,
            operation_reference: format!("transfer/{transfer_request_id}"),
        })
    )?;
    if !verified.verified {
        return Err(errors::internal(
            "identity answered an unverified PIN without an error",
        ));
    }
    let r = call!(
        edge,
        call.out(),
        wallet.create_transfer(wpb::CreateTransferRequest {
            request_id: transfer_request_id,
            source_wallet_id: source.to_string(),
            destination_wallet_id: destination.to_string(),
            amount: req.amount,
            destination_fund_pool: wpb::FundPool::Standard as i32,
            fee_legs: Vec::new(),
            order_id: String::new(),
            description: req.description,
        })
    )?;
    Ok(pb::CreateTransferResponse {
        transfer: r.transfer,
        source_balance: r.source_balance,
    })
}

/// A transfer from or to the caller's wallet.
pub async fn get_transfer(
    edge: &Edge,
    call: &Call,
    req: pb::GetTransferRequest,
) -> Result<pb::GetTransferResponse, Status> {
    let mut v = FieldViolations::new();
    v.uuid("transfer_id", &req.transfer_id);
    errors::check(v)?;
    let r = call!(
        edge,
        call.out(),
        wallet.get_transfer(wpb::GetTransferRequest {
            transfer_id: req.transfer_id.clone(),
        })
    )?;
    let transfer = field(r.transfer, "transfer")?;
    let mine = my_wallet(edge, call).await?.to_string();
    access::owned(
        "transfer",
        &req.transfer_id,
        transfer.source_wallet_id == mine || transfer.destination_wallet_id == mine,
    )
    .map_err(errors::refused)?;
    Ok(pb::GetTransferResponse {
        transfer: Some(transfer),
    })
}

/// Registers a bank account on the caller's wallet.
pub async fn register_bank_account(
    edge: &Edge,
    call: &Call,
    req: pb::RegisterBankAccountRequest,
) -> Result<pb::RegisterBankAccountResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    errors::check(v)?;
    let wallet_id = my_wallet(edge, call).await?;
    let r = call!(
        edge,
        call.out(),
        wallet.register_bank_account(wpb::RegisterBankAccountRequest {
            request_id: call.request_id(got(rid)?, "register"),
            wallet_id: wallet_id.to_string(),
            r#type: req.r#type,
            holder_name: req.holder_name,
            bank_name: req.bank_name,
            branch_name: req.branch_name,
            account_number: req.account_number,
            swift_code: req.swift_code,
            routing_code: req.routing_code,
            country_code: req.country_code,
            currency_code: req.currency_code,
        })
    )?;
    Ok(pb::RegisterBankAccountResponse {
        bank_account: r.bank_account,
    })
}

/// The caller's bank accounts.
pub async fn list_bank_accounts(
    edge: &Edge,
    call: &Call,
    req: pb::ListBankAccountsRequest,
) -> Result<pb::ListBankAccountsResponse, Status> {
    let wallet_id = my_wallet(edge, call).await?;
    let r = call!(
        edge,
        call.out(),
        wallet.list_bank_accounts(wpb::ListBankAccountsRequest {
            wallet_id: wallet_id.to_string(),
            page: req.page,
        })
    )?;
    Ok(pb::ListBankAccountsResponse {
        bank_accounts: r.bank_accounts,
        page: r.page,
    })
}

/// The withdrawal fee schedule.
pub async fn list_withdrawal_fee_rules(
    edge: &Edge,
    call: &Call,
    req: pb::ListWithdrawalFeeRulesRequest,
) -> Result<pb::ListWithdrawalFeeRulesResponse, Status> {
    let r = call!(
        edge,
        call.out(),
        wallet.list_withdrawal_fee_rules(wpb::ListWithdrawalFeeRulesRequest { page: req.page })
    )?;
    Ok(pb::ListWithdrawalFeeRulesResponse {
        fee_rules: r.fee_rules,
        page: r.page,
    })
}

/// What a withdrawal from the caller's wallet would cost.
pub async fn estimate_withdrawal_fee(
    edge: &Edge,
    call: &Call,
    req: pb::EstimateWithdrawalFeeRequest,
) -> Result<pb::EstimateWithdrawalFeeResponse, Status> {
    let mut v = FieldViolations::new();
    v.uuid("bank_account_id", &req.bank_account_id);
    errors::check(v)?;
    let wallet_id = my_wallet(edge, call).await?;
    let r = call!(
        edge,
        call.out(),
        wallet.estimate_withdrawal_fee(wpb::EstimateWithdrawalFeeRequest {
            wallet_id: wallet_id.to_string(),
            bank_account_id: req.bank_account_id,
            source_fund_pool: req.source_fund_pool,
            amount: req.amount,
        })
    )?;
    Ok(pb::EstimateWithdrawalFeeResponse {
        fee: r.fee,
        net_amount: r.net_amount,
        fee_rule: r.fee_rule,
        within_limit: r.within_limit,
        sufficient_funds: r.sufficient_funds,
        membership_tier: r.membership_tier,
    })
}

/// A withdrawal from the caller's wallet (wallet verifies the PIN with identity).
pub async fn create_withdrawal(
    edge: &Edge,
    call: &Call,
    req: pb::CreateWithdrawalRequest,
) -> Result<pb::CreateWithdrawalResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    v.uuid("bank_account_id", &req.bank_account_id);
    v.six_digits("payment_pin", &req.payment_pin);
    errors::check(v)?;
    let wallet_id = my_wallet(edge, call).await?;
    let r = call!(
        edge,
        call.out(),
        wallet.create_withdrawal(wpb::CreateWithdrawalRequest {
            request_id: call.request_id(got(rid)?, "withdraw"),
            wallet_id: wallet_id.to_string(),
            bank_account_id: req.bank_account_id,
            source_fund_pool: req.source_fund_pool,
            amount: req.amount,
            payment_pin: req.payment_pin,
            remark: req.remark,
        })
    )?;
    Ok(pb::CreateWithdrawalResponse {
        withdrawal: r.withdrawal,
    })
}

/// One of the caller's withdrawals.
pub async fn get_withdrawal(
    edge: &Edge,
    call: &Call,
    req: pb::GetWithdrawalRequest,
) -> Result<pb::GetWithdrawalResponse, Status> {
    let mut v = FieldViolations::new();
    v.uuid("withdrawal_id", &req.withdrawal_id);
    errors::check(v)?;
    let r = call!(
        edge,
        call.out(),
        wallet.get_withdrawal(wpb::GetWithdrawalRequest {
            withdrawal_id: req.withdrawal_id.clone(),
        })
    )?;
    let withdrawal = field(r.withdrawal, "withdrawal")?;
    let mine = my_wallet(edge, call).await?.to_string();
    access::owned(
        "withdrawal",
        &req.withdrawal_id,
        withdrawal.wallet_id == mine,
    )
    .map_err(errors::refused)?;
    Ok(pb::GetWithdrawalResponse {
        withdrawal: Some(withdrawal),
    })
}

/// The caller's withdrawals.
pub async fn list_withdrawals(
    edge: &Edge,
    call: &Call,
    req: pb::ListWithdrawalsRequest,
) -> Result<pb::ListWithdrawalsResponse, Status> {
    let wallet_id = my_wallet(edge, call).await?;
    let r = call!(
        edge,
        call.out(),
        wallet.list_withdrawals(wpb::ListWithdrawalsRequest {
            wallet_id: wallet_id.to_string(),
            statuses: req.statuses,
            create_time_range: req.create_time_range,
            page: req.page,
        })
    )?;
    Ok(pb::ListWithdrawalsResponse {
        withdrawals: r.withdrawals,
        page: r.page,
    })
}

/// The caller's fund overview.
pub async fn get_fund_overview(
    edge: &Edge,
    call: &Call,
    req: pb::GetFundOverviewRequest,
) -> Result<pb::GetFundOverviewResponse, Status> {
    let wallet_id = my_wallet(edge, call).await?;
    let r = call!(
        edge,
        call.out(),
        wallet.get_fund_overview(wpb::GetFundOverviewRequest {
            wallet_id: wallet_id.to_string(),
            currency_codes: req.currency_codes,
        })
    )?;
    Ok(pb::GetFundOverviewResponse {
        fund_overview: r.fund_overview,
    })
}

/// Pays the caller's arrears.
pub async fn pay_arrears(
    edge: &Edge,
    call: &Call,
    req: pb::PayArrearsRequest,
) -> Result<pb::PayArrearsResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    errors::check(v)?;
    let wallet_id = my_wallet(edge, call).await?;
    let r = call!(
        edge,
        call.out(),
        wallet.pay_arrears(wpb::PayArrearsRequest {
            request_id: call.request_id(got(rid)?, "pay"),
            wallet_id: wallet_id.to_string(),
            amount: req.amount,
        })
    )?;
    Ok(pb::PayArrearsResponse {
        journal_entry: r.journal_entry,
        remaining_arrears: r.remaining_arrears,
    })
}

/// The holds on the caller's wallet (escrow for orders, guarantee funds, freezes).
pub async fn list_holds(
    edge: &Edge,
    call: &Call,
    req: pb::ListHoldsRequest,
) -> Result<pb::ListHoldsResponse, Status> {
    let mut v = FieldViolations::new();
    v.optional_uuid("order_id", &req.order_id);
    for state in &req.states {
        v.enum_value::<wpb::HoldState>("states", *state);
    }
    errors::check(v)?;
    let wallet_id = my_wallet(edge, call).await?;
    let r = call!(
        edge,
        call.out(),
        wallet.list_holds(wpb::ListHoldsRequest {
            wallet_id: wallet_id.to_string(),
            order_id: req.order_id,
            states: req.states,
            page: req.page,
        })
    )?;
    Ok(pb::ListHoldsResponse {
        holds: r.holds,
        page: r.page,
    })
}

/// One hold on the caller's wallet.
pub async fn get_hold(
    edge: &Edge,
    call: &Call,
    req: pb::GetHoldRequest,
) -> Result<pb::GetHoldResponse, Status> {
    let mut v = FieldViolations::new();
    v.uuid("hold_id", &req.hold_id);
    errors::check(v)?;
    let r = call!(
        edge,
        call.out(),
        wallet.get_hold(wpb::GetHoldRequest {
            hold_id: req.hold_id.clone(),
        })
    )?;
    let hold = field(r.hold, "hold")?;
    let mine = my_wallet(edge, call).await?.to_string();
    access::owned("hold", &req.hold_id, hold.wallet_id == mine).map_err(errors::refused)?;
    Ok(pb::GetHoldResponse { hold: Some(hold) })
}
