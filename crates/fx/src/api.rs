//! `kuajing.fx.v1.FxService`, as a table: each RPC's request checked for ownership (what
//! it names must be the `kj-subject` person's, `ownership::check`), then handed to the
//! operation that governs it (`ops::*`), which validates, runs and answers.

use kuajing_proto::fx::v1::fx_service_server::FxService;
use kuajing_proto::fx::v1::{
    CreateQuoteRequest, CreateQuoteResponse, ExecuteQuoteRequest, ExecuteQuoteResponse,
    GetConversionRequest, GetConversionResponse, GetEquivalentRequest, GetEquivalentResponse,
    GetQuoteRequest, GetQuoteResponse, GetRateRequest, GetRateResponse, ListConversionsRequest,
    ListConversionsResponse, ListRateChangesRequest, ListRateChangesResponse, ListRatesRequest,
    ListRatesResponse, SetRateRequest, SetRateResponse,
};

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
    impl FxService for Api, checked by ownership::check;
    list_rates(ListRatesRequest) -> ListRatesResponse,
        |r| Scope::Platform => ops::rates::list;
    get_rate(GetRateRequest) -> GetRateResponse,
        |r| Scope::Platform => ops::rates::get;
    set_rate(SetRateRequest) -> SetRateResponse,
        |r| Scope::Platform => ops::rates::set;
    list_rate_changes(ListRateChangesRequest) -> ListRateChangesResponse,
        |r| Scope::Platform => ops::rates::list_changes;
    create_quote(CreateQuoteRequest) -> CreateQuoteResponse,
        |r| Scope::Wallet(&r.wallet_id) => ops::quotes::create;
    get_quote(GetQuoteRequest) -> GetQuoteResponse,
        |r| Scope::Quote(&r.quote_id) => ops::quotes::get;
    execute_quote(ExecuteQuoteRequest) -> ExecuteQuoteResponse,
        |r| Scope::Wallet(&r.wallet_id) => ops::conversions::execute;
    get_conversion(GetConversionRequest) -> GetConversionResponse,
        |r| Scope::Conversion(&r.conversion_id) => ops::conversions::get;
    list_conversions(ListConversionsRequest) -> ListConversionsResponse,
        |r| Scope::Wallet(&r.wallet_id) => ops::conversions::list;
    get_equivalent(GetEquivalentRequest) -> GetEquivalentResponse,
        |r| Scope::Platform => ops::rates::equivalent;
}
