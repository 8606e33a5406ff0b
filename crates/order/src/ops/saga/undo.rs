//! The compensations of the saga: release a hold, release a reservation. A step whose
//! outcome is unknown is first repeated with its own request id, to learn what it did.

use kuajing_platform::error::internal;
use kuajing_proto::authorization::v1::ReleaseReservationRequest;
use kuajing_proto::authorization::v1::authorization_service_client::AuthorizationServiceClient;
use kuajing_proto::wallet::v1::ReleaseHoldRequest;
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use tonic::Status;

use super::{Apply, Driver};
use crate::ops::peers;
use crate::rpc;
use kuajing_platform::outbound::is_transient as transient;

impl Driver<'_> {
    pub(super) fn compensation_reason(&self) -> String {
        let reason = self
            .p
            .failure
            .as_ref()
            .map(|f| f.reason.clone())
            .unwrap_or_default();
        format!("payment {} failed: {reason}", self.p.payment_id)
    }

    /// Releases the step's hold; a hold of unknown outcome is first asked for again.
    pub(super) async fn release_hold(&mut self, i: usize) -> Result<Result<(), Status>, Status> {
        let ctx = self.ctx;
        let mut hold_id = self.p.steps[i].result_id.clone();
        if hold_id.is_empty() {
            match rpc!(
                ctx,
                "wallet",
                WalletServiceClient,
                create_hold,
                self.hold_request(i)?
            ) {
                Ok(r) => hold_id = r.hold.map(|h| h.hold_id).unwrap_or_default(),
                Err(s) if transient(&s) => return Ok(Err(s)),
                // Refused (e.g. insufficient funds): nothing was ever held.
                Err(_) => return Ok(Ok(())),
            }
            self.record(
                i,
                hold_id.clone(),
                Apply::Hold {
                    hold_id: hold_id.clone(),
                },
            );
        }
        let req = ReleaseHoldRequest {
            request_id: self.p.steps[i].compensation_request_id.clone(),
            hold_id: hold_id.clone(),
            reason: self.compensation_reason().chars().take(200).collect(),
        };
        Ok(
            match rpc!(ctx, "wallet", WalletServiceClient, release_hold, req) {
                Ok(_) => Ok(()),
                Err(s) if transient(&s) => Err(s),
                Err(s) => {
                    // HOLD_NOT_OPEN: already released or expired, which is what we want.
                    let state = peers::metadata(&s)
                        .get("state")
                        .cloned()
                        .unwrap_or_default();
                    if state.ends_with("CAPTURED") || peers::reason(&s) != "HOLD_NOT_OPEN" {
                        tracing::error!(hold_id = %hold_id, reason = %peers::reason(&s), "a compensation could not release a hold");
                    }
                    Ok(())
                }
            },
        )
    }

    /// Releases the step's reservation; a decision of unknown outcome is asked again.
    pub(super) async fn release_reservation(
        &mut self,
        i: usize,
    ) -> Result<Result<(), Status>, Status> {
        let ctx = self.ctx;
        let k = self
            .item_index(i)
            .ok_or_else(|| internal("a decision step without its item"))?;
        let mut reservation_id = self.p.items[k].reservation_id.clone();
        if reservation_id.is_empty() && self.p.steps[i].result_id.is_empty() {
            match rpc!(
                ctx,
                "authorization",
                AuthorizationServiceClient,
                decide_payment,
                self.decide_request(i)?
            ) {
                Ok(r) => {
                    let d = r.decision.unwrap_or_default();
                    reservation_id = d
                        .reservation
                        .as_ref()
                        .map(|r| r.reservation_id.clone())
                        .unwrap_or_default();
                    self.record(
                        i,
                        d.decision_id.clone(),
                        Apply::Decision {
                            decision_id: d.decision_id,
                            reservation_id: reservation_id.clone(),
                        },
                    );
                }
                Err(s) if transient(&s) => return Ok(Err(s)),
                Err(_) => return Ok(Ok(())),
            }
        }
        if reservation_id.is_empty() {
            return Ok(Ok(()));
        }
        let req = ReleaseReservationRequest {
            request_id: self.p.steps[i].compensation_request_id.clone(),
            reservation_id: reservation_id.clone(),
            reason: self.compensation_reason().chars().take(500).collect(),
        };
        Ok(
            match rpc!(
                ctx,
                "authorization",
                AuthorizationServiceClient,
                release_reservation,
                req
            ) {
                Ok(_) => Ok(()),
                Err(s) if transient(&s) => Err(s),
                Err(s) => {
                    tracing::error!(reservation_id = %reservation_id, reason = %peers::reason(&s), "a compensation could not release a reservation");
                    Ok(())
                }
            },
        )
    }
}
