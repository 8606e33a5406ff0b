//! Cross-border pay mandates the caller owns: creating one on its wallet, activating,
//! reading, revoking, its decisions and limits; and the restricted categories.

use kuajing_proto::authorization::v1 as apb;
use kuajing_proto::edge::v1 as pb;
use tonic::Status;
use uuid::Uuid;

use super::{field, got, my_wallet};
use crate::Edge;
use crate::caller::Call;
use crate::domain::access;
use crate::{call, errors};
use kuajing_platform::FieldViolations;

/// One of the caller's mandates (authorization refuses another's too).
pub(super) async fn my_mandate(
    edge: &Edge,
    call: &Call,
    mandate_id: Uuid,
) -> Result<apb::Mandate, Status> {
    let r = call!(
        edge,
        call.out(),
        authorization.get_mandate(apb::GetMandateRequest {
            mandate_id: mandate_id.to_string(),
        })
    )?;
    let mandate = field(r.mandate, "mandate")?;
    access::owned(
        "mandate",
        &mandate_id.to_string(),
        mandate.owner_account_id == call.my_id()?.to_string(),
    )
    .map_err(errors::refused)?;
    Ok(mandate)
}

/// Authorises a marketplace account to pay from the caller's wallet.
pub async fn create_mandate(
    edge: &Edge,
    call: &Call,
    req: pb::CreateMandateRequest,
) -> Result<pb::CreateMandateResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    errors::check(v)?;
    let wallet_id = my_wallet(edge, call).await?;
    let r = call!(
        edge,
        call.out(),
        authorization.create_mandate(apb::CreateMandateRequest {
            request_id: call.request_id(got(rid)?, "create"),
            wallet_id: wallet_id.to_string(),
            owner_account_id: call.my_id()?.to_string(),
            marketplace_member: req.marketplace_member,
            expire_time: req.expire_time,
            funding_currency_code: req.funding_currency_code,
            verification_channel: req.verification_channel,
        })
    )?;
    Ok(pb::CreateMandateResponse {
        mandate: r.mandate,
        challenge: r.challenge,
    })
}

/// Activates one of the caller's pending mandates.
pub async fn activate_mandate(
    edge: &Edge,
    call: &Call,
    req: pb::ActivateMandateRequest,
) -> Result<pb::ActivateMandateResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    let mandate_id = v.uuid("mandate_id", &req.mandate_id);
    errors::check(v)?;
    my_mandate(edge, call, got(mandate_id)?).await?;
    let r = call!(
        edge,
        call.out(),
        authorization.activate_mandate(apb::ActivateMandateRequest {
            request_id: call.request_id(got(rid)?, "activate"),
            mandate_id: req.mandate_id,
            agreement_accepted: req.agreement_accepted,
            agreement_version: req.agreement_version,
            challenge_id: req.challenge_id,
            code: req.code,
        })
    )?;
    Ok(pb::ActivateMandateResponse { mandate: r.mandate })
}

/// One of the caller's mandates.
pub async fn get_mandate(
    edge: &Edge,
    call: &Call,
    req: pb::GetMandateRequest,
) -> Result<pb::GetMandateResponse, Status> {
    let mut v = FieldViolations::new();
    let mandate_id = v.uuid("mandate_id", &req.mandate_id);
    errors::check(v)?;
    let mandate = my_mandate(edge, call, got(mandate_id)?).await?;
    Ok(pb::GetMandateResponse {
        mandate: Some(mandate),
    })
}

/// The caller's mandates.
pub async fn list_mandates(
    edge: &Edge,
    call: &Call,
    req: pb::ListMandatesRequest,
) -> Result<pb::ListMandatesResponse, Status> {
    let r = call!(
        edge,
        call.out(),
        authorization.list_mandates(apb::ListMandatesRequest {
            owner_account_id: call.my_id()?.to_string(),
            wallet_id: String::new(),
            marketplace_member: req.marketplace_member,
            state: req.state,
            page: req.page,
        })
    )?;
    Ok(pb::ListMandatesResponse {
        mandates: r.mandates,
        page: r.page,
    })
}

/// Revokes one of the caller's mandates with the caller's PIN.
pub async fn revoke_mandate(
    edge: &Edge,
    call: &Call,
    req: pb::RevokeMandateRequest,
) -> Result<pb::RevokeMandateResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    let mandate_id = v.uuid("mandate_id", &req.mandate_id);
    v.six_digits("payment_pin", &req.payment_pin);
    errors::check(v)?;
    my_mandate(edge, call, got(mandate_id)?).await?;
    let r = call!(
        edge,
        call.out(),
        authorization.revoke_mandate(apb::RevokeMandateRequest {
            request_id: call.request_id(got(rid)?, "revoke"),
            mandate_id: req.mandate_id,
            payment_pin: req.payment_pin,
            reason: req.reason,
        })
    )?;
    Ok(pb::RevokeMandateResponse { mandate: r.mandate })
}

/// The decisions made on one of the caller's mandates.
pub async fn list_decisions(
    edge: &Edge,
    call: &Call,
    req: pb::ListDecisionsRequest,
) -> Result<pb::ListDecisionsResponse, Status> {
    let mut v = FieldViolations::new();
    let mandate_id = v.uuid("mandate_id", &req.mandate_id);
    errors::check(v)?;
    my_mandate(edge, call, got(mandate_id)?).await?;
    let r = call!(
        edge,
        call.out(),
        authorization.list_decisions(apb::ListDecisionsRequest {
            mandate_id: req.mandate_id,
            payment_id: String::new(),
            outcome: req.outcome,
            time_range: req.time_range,
            page: req.page,
        })
    )?;
    Ok(pb::ListDecisionsResponse {
        decisions: r.decisions,
        page: r.page,
    })
}

/// The limits, and today's use of one of the caller's mandates.
pub async fn get_limits(
    edge: &Edge,
    call: &Call,
    req: pb::GetLimitsRequest,
) -> Result<pb::GetLimitsResponse, Status> {
    let mut v = FieldViolations::new();
    let mandate_id = v.optional_uuid("mandate_id", &req.mandate_id);
    errors::check(v)?;
    if let Some(id) = got(mandate_id)? {
        my_mandate(edge, call, id).await?;
    }
    let r = call!(
        edge,
        call.out(),
        authorization.get_limits(apb::GetLimitsRequest {
            mandate_id: req.mandate_id,
        })
    )?;
    Ok(pb::GetLimitsResponse { limits: r.limits })
}

/// The restricted goods categories.
pub async fn list_restricted_categories(
    edge: &Edge,
    call: &Call,
    req: pb::ListRestrictedCategoriesRequest,
) -> Result<pb::ListRestrictedCategoriesResponse, Status> {
    let r = call!(
        edge,
        call.out(),
        authorization.list_restricted_categories(apb::ListRestrictedCategoriesRequest {
            include_unrestricted: req.include_unrestricted,
            page: req.page,
        })
    )?;
    Ok(pb::ListRestrictedCategoriesResponse {
        restricted_categories: r.restricted_categories,
        page: r.page,
    })
}
