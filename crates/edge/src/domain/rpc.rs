//! The catalogue of EdgeService RPCs: which need a token, which are onboarding (stricter
//! per-IP buckets before a session), which move money (their own per-caller bucket), and
//! which deadline budget their downstream calls get.

/// How an RPC treats the `authorization` metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenUse {
    /// Not needed; one sent is ignored (RegisterAccount, Login, RefreshToken).
    Ignored,
    /// Optional; one sent must be valid (SendVerificationCode, ConfirmContact).
    Optional,
    /// Required.
    Required,
}

/// Which configured per-call budget caps the RPC's downstream calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// The default per-call budget (5 s).
    Call,
    /// Checkout's (PayOrders, 20 s): the order service runs a saga.
    Checkout,
}

/// One RPC of the edge contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rpc {
    /// The method name, e.g. "GetWallet".
    pub name: &'static str,
    /// Token use.
    pub token: TokenUse,
    /// An onboarding RPC: without a session it counts against the onboarding per-IP bucket.
    pub onboarding: bool,
    /// A money-moving RPC: it also counts against the money bucket of the caller.
    pub money: bool,
    /// The budget of its downstream calls.
    pub budget: Budget,
}

const fn person(name: &'static str) -> Rpc {
    Rpc {
        name,
        token: TokenUse::Required,
        onboarding: false,
        money: false,
        budget: Budget::Call,
    }
}

const fn onboarding(name: &'static str, token: TokenUse) -> Rpc {
    Rpc {
        onboarding: true,
        token,
        ..person(name)
    }
}

const fn money(name: &'static str) -> Rpc {
    Rpc {
        money: true,
        ..person(name)
    }
}

const fn checkout(name: &'static str) -> Rpc {
    Rpc {
        budget: Budget::Checkout,
        ..money(name)
    }
}

/// `RegisterAccount`.
pub const REGISTER_ACCOUNT: Rpc = onboarding("RegisterAccount", TokenUse::Ignored);
/// `SendVerificationCode`.
pub const SEND_VERIFICATION_CODE: Rpc = onboarding("SendVerificationCode", TokenUse::Optional);
/// `ConfirmContact`.
pub const CONFIRM_CONTACT: Rpc = onboarding("ConfirmContact", TokenUse::Optional);
/// `Login`.
pub const LOGIN: Rpc = onboarding("Login", TokenUse::Ignored);
/// `RefreshToken`.
pub const REFRESH_TOKEN: Rpc = onboarding("RefreshToken", TokenUse::Ignored);
/// `Logout`.
pub const LOGOUT: Rpc = person("Logout");
/// `GetMe`.
pub const GET_ME: Rpc = person("GetMe");
/// `SubmitRealNameVerification`.
pub const SUBMIT_REAL_NAME_VERIFICATION: Rpc = person("SubmitRealNameVerification");
/// `GetRealNameVerification`.
pub const GET_REAL_NAME_VERIFICATION: Rpc = person("GetRealNameVerification");
/// `BindMarketplaceAccount`.
pub const BIND_MARKETPLACE_ACCOUNT: Rpc = person("BindMarketplaceAccount");
/// `UnbindMarketplaceAccount`.
pub const UNBIND_MARKETPLACE_ACCOUNT: Rpc = person("UnbindMarketplaceAccount");
/// `ListLinkedAccounts`.
pub const LIST_LINKED_ACCOUNTS: Rpc = person("ListLinkedAccounts");
/// `SetPaymentPin`.
pub const SET_PAYMENT_PIN: Rpc = person("SetPaymentPin");
/// `ListSecurityEvents`.
pub const LIST_SECURITY_EVENTS: Rpc = person("ListSecurityEvents");
/// `StartContactChange`.
pub const START_CONTACT_CHANGE: Rpc = person("StartContactChange");
/// `ConfirmContactChange`.
pub const CONFIRM_CONTACT_CHANGE: Rpc = person("ConfirmContactChange");
/// `ChangePassword`.
pub const CHANGE_PASSWORD: Rpc = person("ChangePassword");
/// `StartPasswordReset`.
pub const START_PASSWORD_RESET: Rpc = onboarding("StartPasswordReset", TokenUse::Ignored);
/// `ResetPassword`.
pub const RESET_PASSWORD: Rpc = onboarding("ResetPassword", TokenUse::Ignored);
/// `EnrollOperatorFactor`.
pub const ENROLL_OPERATOR_FACTOR: Rpc = onboarding("EnrollOperatorFactor", TokenUse::Ignored);
/// `SignInOperator`.
pub const SIGN_IN_OPERATOR: Rpc = onboarding("SignInOperator", TokenUse::Ignored);
/// `OpenWallet`.
pub const OPEN_WALLET: Rpc = person("OpenWallet");
/// `GetBuyerDashboard`.
pub const GET_BUYER_DASHBOARD: Rpc = person("GetBuyerDashboard");
/// `GetSupplierWorkbench`.
pub const GET_SUPPLIER_WORKBENCH: Rpc = person("GetSupplierWorkbench");
/// `OpenSupplierProgram`.
pub const OPEN_SUPPLIER_PROGRAM: Rpc = person("OpenSupplierProgram");
/// `GetSupplierProfile`.
pub const GET_SUPPLIER_PROFILE: Rpc = person("GetSupplierProfile");
/// `CheckSupplierAdmission`.
pub const CHECK_SUPPLIER_ADMISSION: Rpc = person("CheckSupplierAdmission");
/// `GetWallet`.
pub const GET_WALLET: Rpc = person("GetWallet");
/// `CreateReceivingAccount`.
pub const CREATE_RECEIVING_ACCOUNT: Rpc = person("CreateReceivingAccount");
/// `ListReceivingAccounts`.
pub const LIST_RECEIVING_ACCOUNTS: Rpc = person("ListReceivingAccounts");
/// `ListRemittances`.
pub const LIST_REMITTANCES: Rpc = person("ListRemittances");
/// `GetRemittance`.
pub const GET_REMITTANCE: Rpc = person("GetRemittance");
/// `ListStatementLines`.
pub const LIST_STATEMENT_LINES: Rpc = person("ListStatementLines");
/// `GetJournalEntry`.
pub const GET_JOURNAL_ENTRY: Rpc = person("GetJournalEntry");
/// `CreateTransfer`.
pub const CREATE_TRANSFER: Rpc = money("CreateTransfer");
/// `GetTransfer`.
pub const GET_TRANSFER: Rpc = person("GetTransfer");
/// `RegisterBankAccount`.
pub const REGISTER_BANK_ACCOUNT: Rpc = person("RegisterBankAccount");
/// `ListBankAccounts`.
pub const LIST_BANK_ACCOUNTS: Rpc = person("ListBankAccounts");
/// `ListWithdrawalFeeRules`.
pub const LIST_WITHDRAWAL_FEE_RULES: Rpc = person("ListWithdrawalFeeRules");
/// `EstimateWithdrawalFee`.
pub const ESTIMATE_WITHDRAWAL_FEE: Rpc = person("EstimateWithdrawalFee");
/// `CreateWithdrawal`.
pub const CREATE_WITHDRAWAL: Rpc = money("CreateWithdrawal");
/// `GetWithdrawal`.
pub const GET_WITHDRAWAL: Rpc = person("GetWithdrawal");
/// `ListWithdrawals`.
pub const LIST_WITHDRAWALS: Rpc = person("ListWithdrawals");
/// `GetFundOverview`.
pub const GET_FUND_OVERVIEW: Rpc = person("GetFundOverview");
/// `PayArrears`.
pub const PAY_ARREARS: Rpc = money("PayArrears");
/// `ListHolds`.
pub const LIST_HOLDS: Rpc = person("ListHolds");
/// `GetHold`.
pub const GET_HOLD: Rpc = person("GetHold");
/// `ListRates`.
pub const LIST_RATES: Rpc = person("ListRates");
/// `GetRate`.
pub const GET_RATE: Rpc = person("GetRate");
/// `CreateQuote`.
pub const CREATE_QUOTE: Rpc = person("CreateQuote");
/// `GetQuote`.
pub const GET_QUOTE: Rpc = person("GetQuote");
/// `ExecuteQuote`.
pub const EXECUTE_QUOTE: Rpc = money("ExecuteQuote");
/// `GetConversion`.
pub const GET_CONVERSION: Rpc = person("GetConversion");
/// `ListConversions`.
pub const LIST_CONVERSIONS: Rpc = person("ListConversions");
/// `CreateMandate`.
pub const CREATE_MANDATE: Rpc = person("CreateMandate");
/// `ActivateMandate`.
pub const ACTIVATE_MANDATE: Rpc = person("ActivateMandate");
/// `GetMandate`.
pub const GET_MANDATE: Rpc = person("GetMandate");
/// `ListMandates`.
pub const LIST_MANDATES: Rpc = person("ListMandates");
/// `RevokeMandate`.
pub const REVOKE_MANDATE: Rpc = person("RevokeMandate");
/// `ListDecisions`.
pub const LIST_DECISIONS: Rpc = person("ListDecisions");
/// `GetLimits`.
pub const GET_LIMITS: Rpc = person("GetLimits");
/// `ListRestrictedCategories`.
pub const LIST_RESTRICTED_CATEGORIES: Rpc = person("ListRestrictedCategories");
/// `CreateMarketplaceOrder`.
pub const CREATE_MARKETPLACE_ORDER: Rpc = person("CreateMarketplaceOrder");
/// `DraftTradeAssuranceOrder`.
pub const DRAFT_TRADE_ASSURANCE_ORDER: Rpc = person("DraftTradeAssuranceOrder");
/// `DraftDirectPayOrder`.
pub const DRAFT_DIRECT_PAY_ORDER: Rpc = person("DraftDirectPayOrder");
/// `GetOrder`.
pub const GET_ORDER: Rpc = person("GetOrder");
/// `ListOrders`.
pub const LIST_ORDERS: Rpc = person("ListOrders");
/// `CountOrdersByStatus`.
pub const COUNT_ORDERS_BY_STATUS: Rpc = person("CountOrdersByStatus");
/// `UpdateOrder`.
pub const UPDATE_ORDER: Rpc = person("UpdateOrder");
/// `AcceptOrder`.
pub const ACCEPT_ORDER: Rpc = person("AcceptOrder");
/// `RejectOrder`.
pub const REJECT_ORDER: Rpc = person("RejectOrder");
/// `ConfirmOrder`.
pub const CONFIRM_ORDER: Rpc = person("ConfirmOrder");
/// `QueryPaymentMethods`.
pub const QUERY_PAYMENT_METHODS: Rpc = person("QueryPaymentMethods");
/// `EstimateOrderFees`.
pub const ESTIMATE_ORDER_FEES: Rpc = person("EstimateOrderFees");
/// `PayOrders`.
pub const PAY_ORDERS: Rpc = checkout("PayOrders");
/// `PayTradeOrder`.
pub const PAY_TRADE_ORDER: Rpc = checkout("PayTradeOrder");
/// `GetPayment`.
pub const GET_PAYMENT: Rpc = person("GetPayment");
/// `WatchPayment`.
pub const WATCH_PAYMENT: Rpc = person("WatchPayment");
/// `CreatePaymentLink`.
pub const CREATE_PAYMENT_LINK: Rpc = person("CreatePaymentLink");
/// `OpenPaymentLink`.
pub const OPEN_PAYMENT_LINK: Rpc = onboarding("OpenPaymentLink", TokenUse::Ignored);
/// `RevokePaymentLink`.
pub const REVOKE_PAYMENT_LINK: Rpc = person("RevokePaymentLink");
/// `LinkRemittanceToOrder`.
pub const LINK_REMITTANCE_TO_ORDER: Rpc = person("LinkRemittanceToOrder");
/// `AddShipment`.
pub const ADD_SHIPMENT: Rpc = person("AddShipment");
/// `MarkShipmentDelivered`.
pub const MARK_SHIPMENT_DELIVERED: Rpc = person("MarkShipmentDelivered");
/// `ConfirmReceipt`.
pub const CONFIRM_RECEIPT: Rpc = person("ConfirmReceipt");
/// `PayInspectionFee`.
pub const PAY_INSPECTION_FEE: Rpc = person("PayInspectionFee");
/// `CancelOrder`.
pub const CANCEL_ORDER: Rpc = person("CancelOrder");
/// `RequestRefund`.
pub const REQUEST_REFUND: Rpc = person("RequestRefund");
/// `ResolveRefund`.
pub const RESOLVE_REFUND: Rpc = person("ResolveRefund");
/// `SubmitReview`.
pub const SUBMIT_REVIEW: Rpc = person("SubmitReview");
/// `ListOrderEvents`.
pub const LIST_ORDER_EVENTS: Rpc = person("ListOrderEvents");

/// Every RPC, in contract order.
pub const ALL: &[&Rpc] = &[
    &REGISTER_ACCOUNT,
    &SEND_VERIFICATION_CODE,
    &CONFIRM_CONTACT,
    &LOGIN,
    &REFRESH_TOKEN,
    &LOGOUT,
    &GET_ME,
    &SUBMIT_REAL_NAME_VERIFICATION,
    &GET_REAL_NAME_VERIFICATION,
    &BIND_MARKETPLACE_ACCOUNT,
    &UNBIND_MARKETPLACE_ACCOUNT,
    &LIST_LINKED_ACCOUNTS,
    &SET_PAYMENT_PIN,
    &LIST_SECURITY_EVENTS,
    &START_CONTACT_CHANGE,
    &CONFIRM_CONTACT_CHANGE,
    &CHANGE_PASSWORD,
    &START_PASSWORD_RESET,
    &RESET_PASSWORD,
    &ENROLL_OPERATOR_FACTOR,
    &SIGN_IN_OPERATOR,
    &OPEN_WALLET,
    &GET_BUYER_DASHBOARD,
    &GET_SUPPLIER_WORKBENCH,
    &OPEN_SUPPLIER_PROGRAM,
    &GET_SUPPLIER_PROFILE,
    &CHECK_SUPPLIER_ADMISSION,
    &GET_WALLET,
    &CREATE_RECEIVING_ACCOUNT,
    &LIST_RECEIVING_ACCOUNTS,
    &LIST_REMITTANCES,
    &GET_REMITTANCE,
    &LIST_STATEMENT_LINES,
    &GET_JOURNAL_ENTRY,
    &CREATE_TRANSFER,
    &GET_TRANSFER,
    &REGISTER_BANK_ACCOUNT,
    &LIST_BANK_ACCOUNTS,
    &LIST_WITHDRAWAL_FEE_RULES,
    &ESTIMATE_WITHDRAWAL_FEE,
    &CREATE_WITHDRAWAL,
    &GET_WITHDRAWAL,
    &LIST_WITHDRAWALS,
    &GET_FUND_OVERVIEW,
    &PAY_ARREARS,
    &LIST_HOLDS,
    &GET_HOLD,
    &LIST_RATES,
    &GET_RATE,
    &CREATE_QUOTE,
    &GET_QUOTE,
    &EXECUTE_QUOTE,
    &GET_CONVERSION,
    &LIST_CONVERSIONS,
    &CREATE_MANDATE,
    &ACTIVATE_MANDATE,
    &GET_MANDATE,
    &LIST_MANDATES,
    &REVOKE_MANDATE,
    &LIST_DECISIONS,
    &GET_LIMITS,
    &LIST_RESTRICTED_CATEGORIES,
    &CREATE_MARKETPLACE_ORDER,
    &DRAFT_TRADE_ASSURANCE_ORDER,
    &DRAFT_DIRECT_PAY_ORDER,
    &GET_ORDER,
    &LIST_ORDERS,
    &COUNT_ORDERS_BY_STATUS,
    &UPDATE_ORDER,
    &ACCEPT_ORDER,
    &REJECT_ORDER,
    &CONFIRM_ORDER,
    &QUERY_PAYMENT_METHODS,
    &ESTIMATE_ORDER_FEES,
    &PAY_ORDERS,
    &GET_PAYMENT,
    &WATCH_PAYMENT,
    &CREATE_PAYMENT_LINK,
    &OPEN_PAYMENT_LINK,
    &REVOKE_PAYMENT_LINK,
    &LINK_REMITTANCE_TO_ORDER,
    &ADD_SHIPMENT,
    &MARK_SHIPMENT_DELIVERED,
    &CONFIRM_RECEIPT,
    &PAY_INSPECTION_FEE,
    &PAY_TRADE_ORDER,
    &CANCEL_ORDER,
    &REQUEST_REFUND,
    &RESOLVE_REFUND,
    &SUBMIT_REVIEW,
    &LIST_ORDER_EVENTS,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_the_contract() {
        let prefix = "/kuajing.edge.v1.EdgeService/";
        let contract: Vec<&str> = kuajing_proto::callers::CALLERS
            .iter()
            .filter_map(|(path, _)| path.strip_prefix(prefix))
            .collect();
        let ours: Vec<&str> = ALL.iter().map(|r| r.name).collect();
        assert_eq!(ours, contract);
    }

    #[test]
    fn classes() {
        let public: Vec<&str> = ALL
            .iter()
            .filter(|r| r.token != TokenUse::Required)
            .map(|r| r.name)
            .collect();
        assert_eq!(
            public,
            [
                "RegisterAccount",
                "SendVerificationCode",
                "ConfirmContact",
                "Login",
                "RefreshToken",
                "StartPasswordReset",
                "ResetPassword",
                "EnrollOperatorFactor",
                "SignInOperator",
                "OpenPaymentLink"
            ]
        );
        let money: Vec<&str> = ALL.iter().filter(|r| r.money).map(|r| r.name).collect();
        assert_eq!(
            money,
            [
                "CreateTransfer",
                "CreateWithdrawal",
                "PayArrears",
                "ExecuteQuote",
                "PayOrders",
                "PayTradeOrder"
            ]
        );
        assert_eq!(PAY_ORDERS.budget, Budget::Checkout);
        assert_eq!(PAY_TRADE_ORDER.budget, Budget::Checkout);
        assert!(
            ALL.iter()
                .filter(|r| r.onboarding)
                .all(|r| r.token != TokenUse::Required)
        );
    }
}
