//! `kuajing.order.v1.OrderService`: each RPC hands its request to the operation that governs it.

use kuajing_proto::order::v1::order_service_server::OrderService;

use crate::ops::Ctx;

/// The gRPC handler.
pub struct Api {
    #[allow(dead_code)]
    ctx: Ctx,
}

impl Api {
    /// A handler on the operations' context.
    pub fn new(ctx: Ctx) -> Self {
        Api { ctx }
    }
}

#[tonic::async_trait]
impl OrderService for Api {}
