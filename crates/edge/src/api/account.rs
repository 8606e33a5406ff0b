//! The caller's own account: profile, real-name verification, marketplace bindings,
//! payment PIN and security log. Every request names the caller's account and nothing
//! else, so the ownership check is "it is the caller".

use kuajing_proto::edge::v1 as pb;
use kuajing_proto::identity::v1 as idp;
use tonic::Status;

use super::{field, find_wallet, got};
use crate::Edge;
use crate::caller::Call;
use crate::domain::access;
use crate::domain::token::Role;
use crate::{call, errors};
use kuajing_platform::FieldViolations;

/// The caller's account, wallet id and (suppliers) supplier profile, fetched together.
pub async fn get_me(
    edge: &Edge,
    call: &Call,
    _req: pb::GetMeRequest,
) -> Result<pb::GetMeResponse, Status> {
    let me = call.me()?;
    let account = async {
        call!(
            edge,
            call.out(),
            identity.get_account(idp::GetAccountRequest {
                account_id: me.account_id.to_string(),
            })
        )
    };
    let profile = async {
        if !me.roles.supplier {
            return Ok(None);
        }
        call!(
            edge,
            call.out(),
            identity.get_supplier_profile(idp::GetSupplierProfileRequest {
                account_id: me.account_id.to_string(),
            })
        )
        .map(|r| r.supplier_profile)
    };
    let (account, wallet, profile) = tokio::join!(account, find_wallet(edge, call), profile);
    Ok(pb::GetMeResponse {
        account: Some(field(account?.account, "account")?),
        wallet_id: wallet?.map(|w| w.wallet_id).unwrap_or_default(),
        supplier_profile: profile?,
    })
}

/// Submits the caller's real-name details.
pub async fn submit_real_name_verification(
    edge: &Edge,
    call: &Call,
    req: pb::SubmitRealNameVerificationRequest,
) -> Result<pb::SubmitRealNameVerificationResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    errors::check(v)?;
    let r = call!(
        edge,
        call.out(),
        identity.submit_real_name_verification(idp::SubmitRealNameVerificationRequest {
            request_id: call.request_id(got(rid)?, "submit"),
            account_id: call.my_id()?.to_string(),
            subject_type: req.subject_type,
            legal_name: req.legal_name,
            document_type: req.document_type,
            document_number: req.document_number,
            document_region_code: req.document_region_code,
            birth_date: req.birth_date,
            nationality_region_code: req.nationality_region_code,
            document_expire_date: req.document_expire_date,
            document_photo_refs: req.document_photo_refs,
        })
    )?;
    Ok(pb::SubmitRealNameVerificationResponse {
        real_name_verification: r.real_name_verification,
    })
}

/// The caller's latest verification, or one of its own by id.
pub async fn get_real_name_verification(
    edge: &Edge,
    call: &Call,
    req: pb::GetRealNameVerificationRequest,
) -> Result<pb::GetRealNameVerificationResponse, Status> {
    use idp::get_real_name_verification_request::Key;
    let mut v = FieldViolations::new();
    let id = v.optional_uuid("real_name_verification_id", &req.real_name_verification_id);
    errors::check(v)?;
    let me = call.my_id()?;
    let key = match got(id)? {
        Some(id) => Key::RealNameVerificationId(id.to_string()),
        None => Key::AccountId(me.to_string()),
    };
    let r = call!(
        edge,
        call.out(),
        identity.get_real_name_verification(idp::GetRealNameVerificationRequest { key: Some(key) })
    )?;
    let verification = field(r.real_name_verification, "real_name_verification")?;
    access::owned(
        "real_name_verification",
        &verification.real_name_verification_id,
        verification.account_id == me.to_string(),
    )
    .map_err(errors::refused)?;
    Ok(pb::GetRealNameVerificationResponse {
        real_name_verification: Some(verification),
    })
}

/// Binds a marketplace buyer account to the caller (buyers).
pub async fn bind_marketplace_account(
    edge: &Edge,
    call: &Call,
    req: pb::BindMarketplaceAccountRequest,
) -> Result<pb::BindMarketplaceAccountResponse, Status> {
    call.require(Role::Buyer)?;
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    errors::check(v)?;
    let r = call!(
        edge,
        call.out(),
        identity.bind_marketplace_account(idp::BindMarketplaceAccountRequest {
            request_id: call.request_id(got(rid)?, "bind"),
            account_id: call.my_id()?.to_string(),
            marketplace: req.marketplace,
            external_member_id: req.external_member_id,
            external_account_type: req.external_account_type,
            member_proof: req.member_proof,
        })
    )?;
    Ok(pb::BindMarketplaceAccountResponse {
        linked_account: r.linked_account,
    })
}

/// Unbinds one of the caller's marketplace accounts (identity checks it is the caller's).
pub async fn unbind_marketplace_account(
    edge: &Edge,
    call: &Call,
    req: pb::UnbindMarketplaceAccountRequest,
) -> Result<pb::UnbindMarketplaceAccountResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    v.uuid("linked_account_id", &req.linked_account_id);
    errors::check(v)?;
    let r = call!(
        edge,
        call.out(),
        identity.unbind_marketplace_account(idp::UnbindMarketplaceAccountRequest {
            request_id: call.request_id(got(rid)?, "unbind"),
            linked_account_id: req.linked_account_id,
            reason: req.reason,
        })
    )?;
    Ok(pb::UnbindMarketplaceAccountResponse {
        linked_account: r.linked_account,
    })
}

/// The caller's bindings.
pub async fn list_linked_accounts(
    edge: &Edge,
    call: &Call,
    req: pb::ListLinkedAccountsRequest,
) -> Result<pb::ListLinkedAccountsResponse, Status> {
    let r = call!(
        edge,
        call.out(),
        identity.list_linked_accounts(idp::ListLinkedAccountsRequest {
            account_id: call.my_id()?.to_string(),
            status: req.status,
            page: req.page,
        })
    )?;
    Ok(pb::ListLinkedAccountsResponse {
        linked_accounts: r.linked_accounts,
        page: r.page,
    })
}

/// Sets the caller's payment PIN with a SET_PAYMENT_PIN code.
pub async fn set_payment_pin(
    edge: &Edge,
    call: &Call,
    req: pb::SetPaymentPinRequest,
) -> Result<pb::SetPaymentPinResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    v.six_digits("pin", &req.pin);
    v.uuid("challenge_id", &req.challenge_id);
    v.six_digits("code", &req.code);
    errors::check(v)?;
    let r = call!(
        edge,
        call.out(),
        identity.set_payment_pin(idp::SetPaymentPinRequest {
            request_id: call.request_id(got(rid)?, "pin"),
            account_id: call.my_id()?.to_string(),
            pin: req.pin,
            challenge_id: req.challenge_id,
            code: req.code,
        })
    )?;
    Ok(pb::SetPaymentPinResponse { account: r.account })
}

/// The caller's security log.
pub async fn list_security_events(
    edge: &Edge,
    call: &Call,
    req: pb::ListSecurityEventsRequest,
) -> Result<pb::ListSecurityEventsResponse, Status> {
    let r = call!(
        edge,
        call.out(),
        identity.list_security_events(idp::ListSecurityEventsRequest {
            account_id: call.my_id()?.to_string(),
            types: req.types,
            time_range: req.time_range,
            page: req.page,
        })
    )?;
    Ok(pb::ListSecurityEventsResponse {
        security_events: r.security_events,
        page: r.page,
    })
}

/// The caller, a supplier, opens Trade Assurance, Direct Pay or cross-border pay itself.
pub async fn open_supplier_program(
    edge: &Edge,
    call: &Call,
    req: pb::OpenSupplierProgramRequest,
) -> Result<pb::OpenSupplierProgramResponse, Status> {
    call.require(Role::Supplier)?;
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    errors::check(v)?;
    let r = call!(
        edge,
        call.out(),
        identity.open_supplier_program(idp::OpenSupplierProgramRequest {
            request_id: call.request_id(got(rid)?, "open-program"),
            account_id: call.my_id()?.to_string(),
            program: req.program,
            agreement_accepted: req.agreement_accepted,
        })
    )?;
    Ok(pb::OpenSupplierProgramResponse {
        supplier_profile: r.supplier_profile,
        admission: r.admission,
    })
}

/// The caller's own supplier profile.
pub async fn get_supplier_profile(
    edge: &Edge,
    call: &Call,
    _req: pb::GetSupplierProfileRequest,
) -> Result<pb::GetSupplierProfileResponse, Status> {
    call.require(Role::Supplier)?;
    let r = call!(
        edge,
        call.out(),
        identity.get_supplier_profile(idp::GetSupplierProfileRequest {
            account_id: call.my_id()?.to_string(),
        })
    )?;
    Ok(pb::GetSupplierProfileResponse {
        supplier_profile: Some(field(r.supplier_profile, "supplier_profile")?),
    })
}

/// Whether the caller, a supplier, is admitted to a program, with every failing rule.
pub async fn check_supplier_admission(
    edge: &Edge,
    call: &Call,
    req: pb::CheckSupplierAdmissionRequest,
) -> Result<pb::CheckSupplierAdmissionResponse, Status> {
    call.require(Role::Supplier)?;
    let mut v = FieldViolations::new();
    v.enum_value::<idp::AdmissionProgram>("program", req.program);
    errors::check(v)?;
    let r = call!(
        edge,
        call.out(),
        identity.check_supplier_admission(idp::CheckSupplierAdmissionRequest {
            account_id: call.my_id()?.to_string(),
            program: req.program,
        })
    )?;
    Ok(pb::CheckSupplierAdmissionResponse {
        admission: Some(field(r.admission, "admission")?),
    })
}

/// Starts changing the caller's email or mobile: a code goes to the new address.
pub async fn start_contact_change(
    edge: &Edge,
    call: &Call,
    req: pb::StartContactChangeRequest,
) -> Result<pb::StartContactChangeResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    v.enum_value::<idp::VerificationChannel>("channel", req.channel);
    errors::check(v)?;
    let me = call.my_id()?.to_string();
    edge.limiter.identifier("contact", &me).await?;
    let r = call!(
        edge,
        call.out(),
        identity.start_contact_change(idp::StartContactChangeRequest {
            request_id: call.request_id(got(rid)?, "start"),
            account_id: me,
            channel: req.channel,
            new_address: req.new_address,
        })
    )?;
    Ok(pb::StartContactChangeResponse {
        challenge: r.challenge,
    })
}

/// Confirms the caller's new email or mobile with the code sent to it.
pub async fn confirm_contact_change(
    edge: &Edge,
    call: &Call,
    req: pb::ConfirmContactChangeRequest,
) -> Result<pb::ConfirmContactChangeResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    v.uuid("challenge_id", &req.challenge_id);
    v.six_digits("code", &req.code);
    errors::check(v)?;
    let me = call.my_id()?.to_string();
    edge.limiter.identifier("contact", &me).await?;
    let r = call!(
        edge,
        call.out(),
        identity.confirm_contact_change(idp::ConfirmContactChangeRequest {
            request_id: call.request_id(got(rid)?, "confirm"),
            account_id: me,
            challenge_id: req.challenge_id,
            code: req.code,
        })
    )?;
    Ok(pb::ConfirmContactChangeResponse { account: r.account })
}

/// Changes the caller's login password; every session of the caller ends.
pub async fn change_password(
    edge: &Edge,
    call: &Call,
    req: pb::ChangePasswordRequest,
) -> Result<pb::ChangePasswordResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    errors::check(v)?;
    let me = call.my_id()?.to_string();
    // A stolen token must not guess the password faster than a login could.
    edge.limiter.identifier("login", &me).await?;
    let r = call!(
        edge,
        call.out(),
        identity.change_password(idp::ChangePasswordRequest {
            request_id: call.request_id(got(rid)?, "change"),
            account_id: me,
            current_password: req.current_password,
            new_password: req.new_password,
        })
    )?;
    Ok(pb::ChangePasswordResponse {
        revoked_session_count: r.revoked_session_count,
    })
}
