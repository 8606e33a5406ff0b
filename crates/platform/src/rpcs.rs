//! The gRPC mapping of a service whose every RPC has one shape: read the caller, check that
//! the person it acts for (`kj-subject`) owns what the request names, run the use case.
//! Written once here so that each service's `api.rs` is a table of its RPCs.

/// Implements the tonic service trait `$service` for `$api` (a struct with a `ctx` field),
/// one method per row: `rpc_name(Request) -> Response, |r| scope => use_case;`. Each method
/// reads the verified caller, awaits `$check(&ctx, caller, scope)` (the service's ownership
/// check; `scope` may borrow from the request `r`), then answers `use_case(&ctx, r)`.
///
/// ```ignore
/// kuajing_platform::checked_rpcs! {
///     impl WalletService for Api, checked by ownership::check;
///     get_hold(GetHoldRequest) -> GetHoldResponse, |r| Scope::Hold(&r.hold_id) => ops::holds::get;
/// }
/// ```
#[macro_export]
macro_rules! checked_rpcs {
    (
        impl $service:ident for $api:ty, checked by $check:path;
        $( $method:ident($request:ty) -> $response:ty, |$r:ident| $scope:expr => $op:path; )*
    ) => {
        #[tonic::async_trait]
        impl $service for $api {
            $(
                async fn $method(
                    &self,
                    request: tonic::Request<$request>,
                ) -> Result<tonic::Response<$response>, tonic::Status> {
                    let caller = $crate::auth::Caller::of(&request).cloned();
                    let $r = request.into_inner();
                    $check(&self.ctx, caller.as_ref(), $scope).await?;
                    $op(&self.ctx, $r).await.map(tonic::Response::new)
                }
            )*
        }
    };
}
