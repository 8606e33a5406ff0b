//! `kuajing.edge.v1.EdgeService`: proto in, domain out.
//!
//! Not built yet: every RPC answers UNIMPLEMENTED ("not yet implemented") through the
//! generated default methods until the edge issue fills them in.

use kuajing_platform::ServiceContext;
use kuajing_proto::edge::v1::edge_service_server::EdgeService;

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
impl EdgeService for Api {}
