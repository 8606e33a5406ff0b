//! `kuajing.identity.v1.IdentityService`: proto in, domain out.
//!
//! Not built yet: every RPC answers UNIMPLEMENTED ("not yet implemented") through the
//! generated default methods until the identity issue fills them in.

use kuajing_platform::ServiceContext;
use kuajing_proto::identity::v1::identity_service_server::IdentityService;

/// The gRPC handler.
pub struct Api {
    #[allow(dead_code)] // used once the RPCs are built
    ctx: ServiceContext,
}

impl Api {
    /// A handler on the service's context.
    pub fn new(ctx: ServiceContext) -> Self {
        Api { ctx }
    }
}

#[tonic::async_trait]
impl IdentityService for Api {}
