//! Before and around a session: registration with its contact codes, verification codes,
//! contact confirmation, login, token refresh and logout.

use kuajing_proto::edge::v1 as pb;
use kuajing_proto::identity::v1 as idp;
use tonic::Status;
use uuid::Uuid;

use super::{field, got};
use crate::Edge;
use crate::caller::Call;
use crate::domain::access;
use crate::domain::token::TokenRefusal;
use crate::{call, errors};
use kuajing_platform::FieldViolations;

/// Registers, then sends a CONFIRM_CONTACT code to each contact given.
pub async fn register_account(
    edge: &Edge,
    call: &Call,
    req: pb::RegisterAccountRequest,
) -> Result<pb::RegisterAccountResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    if let Some(role) = v.enum_value::<idp::AccountRole>("role", req.role)
        && role == idp::AccountRole::Operator
    {
        v.add(
            "role",
            "must be ACCOUNT_ROLE_BUYER or ACCOUNT_ROLE_SUPPLIER",
        );
    }
    errors::check(v)?;
    let rid = got(rid)?;
    let contacts = [
        (
            !req.email.is_empty(),
            idp::VerificationChannel::Email,
            "code-email",
        ),
        (
            !req.mobile.is_empty(),
            idp::VerificationChannel::Sms,
            "code-sms",
        ),
    ];
    let account = call!(
        edge,
        call.anonymous(),
        identity.register_account(idp::RegisterAccountRequest {
            request_id: call.request_id(rid, "register"),
            member_name: req.member_name,
            account_type: req.account_type,
            role: req.role,
            region_code: req.region_code,
            display_name: req.display_name,
            email: req.email,
            mobile: req.mobile,
            password: req.password,
        })
    )?;
    let account = field(account.account, "account")?;
    let mut challenges = Vec::new();
    for (given, channel, step) in contacts {
        if !given {
            continue;
        }
        let sent = call!(
            edge,
            call.anonymous(),
            identity.send_verification_code(idp::SendVerificationCodeRequest {
                request_id: call.request_id(rid, step),
                account_id: account.account_id.clone(),
                channel: channel as i32,
                purpose: idp::VerificationPurpose::ConfirmContact as i32,
                reference: String::new(),
            })
        );
        match sent {
            Ok(r) => challenges.extend(r.challenge),
            Err(e) => tracing::warn!(
                account_id = %account.account_id,
                ?channel,
                code = ?e.code(),
                error = %e.message(),
                "registered, but the contact code was not sent"
            ),
        }
    }
    Ok(pb::RegisterAccountResponse {
        account: Some(account),
        challenges,
    })
}

/// The account a pre-session or in-session code RPC acts on: with a token the caller's
/// own (empty means the caller); without, the one named (the onboarding flow).
fn code_account(call: &Call, named: Option<Uuid>) -> Result<Uuid, Status> {
    match &call.person {
        Some(p) => access::own_account(p.account_id, named).map_err(errors::refused),
        None => named
            .ok_or_else(|| errors::invalid("account_id", "is required without an access token")),
    }
}

/// Sends a verification code (CONFIRM_CONTACT also before login).
pub async fn send_verification_code(
    edge: &Edge,
    call: &Call,
    req: pb::SendVerificationCodeRequest,
) -> Result<pb::SendVerificationCodeResponse, Status> {
    use idp::VerificationPurpose as Purpose;
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    v.enum_value::<idp::VerificationChannel>("channel", req.channel);
    let purpose = v.enum_value::<Purpose>("purpose", req.purpose);
    let named = v.optional_uuid("account_id", &req.account_id);
    let mandate = match purpose {
        Some(Purpose::ActivateMandate) => v.uuid("reference", &req.reference),
        Some(_) if !req.reference.is_empty() => {
            v.add("reference", "is only for ACTIVATE_MANDATE");
            None
        }
        _ => None,
    };
    errors::check(v)?;
    let (rid, purpose, named) = (got(rid)?, got(purpose)?, got(named)?);
    if call.person.is_none() && purpose != Purpose::ConfirmContact {
        return Err(errors::unauthenticated(&TokenRefusal::Missing));
    }
    let account = code_account(call, named)?;
    edge.limiter
        .identifier("account", &account.to_string())
        .await?;
    if let Some(mandate_id) = mandate {
        super::mandates::my_mandate(edge, call, mandate_id).await?;
    }
    let r = call!(
        edge,
        call.out(),
        identity.send_verification_code(idp::SendVerificationCodeRequest {
            request_id: call.request_id(rid, "send"),
            account_id: account.to_string(),
            channel: req.channel,
            purpose: req.purpose,
            reference: req.reference,
        })
    )?;
    Ok(pb::SendVerificationCodeResponse {
        challenge: r.challenge,
    })
}

/// Confirms a contact with its CONFIRM_CONTACT code.
pub async fn confirm_contact(
    edge: &Edge,
    call: &Call,
    req: pb::ConfirmContactRequest,
) -> Result<pb::ConfirmContactResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    let named = v.optional_uuid("account_id", &req.account_id);
    v.uuid("challenge_id", &req.challenge_id);
    v.six_digits("code", &req.code);
    errors::check(v)?;
    let (rid, named) = (got(rid)?, got(named)?);
    let account = code_account(call, named)?;
    edge.limiter
        .identifier("account", &account.to_string())
        .await?;
    let r = call!(
        edge,
        call.out(),
        identity.confirm_contact(idp::ConfirmContactRequest {
            request_id: call.request_id(rid, "confirm"),
            account_id: account.to_string(),
            challenge_id: req.challenge_id,
            code: req.code,
        })
    )?;
    Ok(pb::ConfirmContactResponse { account: r.account })
}

/// A sign-in's request id, checked, once the identifier's login bucket allows another try.
async fn sign_in_request(edge: &Edge, request_id: &str, identifier: &str) -> Result<Uuid, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(request_id);
    errors::check(v)?;
    let rid = got(rid)?;
    if !identifier.is_empty() {
        edge.limiter.identifier("login", identifier).await?;
    }
    Ok(rid)
}

/// Logs in; edge adds the client's address and user agent for the security log.
pub async fn login(
    edge: &Edge,
    call: &Call,
    req: pb::LoginRequest,
) -> Result<pb::LoginResponse, Status> {
    let rid = sign_in_request(edge, &req.request_id, &req.identifier).await?;
    let r = call!(
        edge,
        call.anonymous(),
        identity.login(idp::LoginRequest {
            request_id: call.request_id(rid, "login"),
            identifier: req.identifier,
            password: req.password,
            client_ip: client_ip(call),
            user_agent: call.user_agent.clone(),
        })
    )?;
    Ok(pb::LoginResponse {
        tokens: r.tokens,
        account: r.account,
    })
}

/// Enrols an operator's second factor (rate-limited like a login).
pub async fn enroll_operator_factor(
    edge: &Edge,
    call: &Call,
    req: pb::EnrollOperatorFactorRequest,
) -> Result<pb::EnrollOperatorFactorResponse, Status> {
    let rid = sign_in_request(edge, &req.request_id, &req.identifier).await?;
    let r = call!(
        edge,
        call.anonymous(),
        identity.enroll_operator_factor(idp::EnrollOperatorFactorRequest {
            request_id: call.request_id(rid, "enroll-operator-factor"),
            identifier: req.identifier,
            password: req.password,
            client_ip: client_ip(call),
            challenge_id: req.challenge_id,
            code: req.code,
        })
    )?;
    Ok(pb::EnrollOperatorFactorResponse {
        account_id: r.account_id,
        secret: r.secret,
        otpauth_uri: r.otpauth_uri,
        challenge: r.challenge,
    })
}

/// Signs an operator in (rate-limited like a login): a token for the internal services.
pub async fn sign_in_operator(
    edge: &Edge,
    call: &Call,
    req: pb::SignInOperatorRequest,
) -> Result<pb::SignInOperatorResponse, Status> {
    let rid = sign_in_request(edge, &req.request_id, &req.identifier).await?;
    let r = call!(
        edge,
        call.anonymous(),
        identity.sign_in_operator(idp::SignInOperatorRequest {
            request_id: call.request_id(rid, "sign-in-operator"),
            identifier: req.identifier,
            password: req.password,
            totp_code: req.totp_code,
            client_ip: client_ip(call),
        })
    )?;
    Ok(pb::SignInOperatorResponse {
        token: r.token,
        role: r.role,
        account_id: r.account_id,
        expire_time: r.expire_time,
        session_id: r.session_id,
    })
}

fn client_ip(call: &Call) -> String {
    call.client_ip.map(|ip| ip.to_string()).unwrap_or_default()
}

/// Rotates a refresh token.
pub async fn refresh_token(
    edge: &Edge,
    call: &Call,
    req: pb::RefreshTokenRequest,
) -> Result<pb::RefreshTokenResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    errors::check(v)?;
    let rid = got(rid)?;
    let r = call!(
        edge,
        call.anonymous(),
        identity.refresh_token(idp::RefreshTokenRequest {
            request_id: call.request_id(rid, "refresh"),
            refresh_token: req.refresh_token,
            client_ip: client_ip(call),
            user_agent: call.user_agent.clone(),
        })
    )?;
    Ok(pb::RefreshTokenResponse { tokens: r.tokens })
}

/// Ends a session of the caller, or all of them.
pub async fn logout(
    edge: &Edge,
    call: &Call,
    req: pb::LogoutRequest,
) -> Result<pb::LogoutResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    errors::check(v)?;
    let rid = got(rid)?;
    let r = call!(
        edge,
        call.out(),
        identity.logout(idp::LogoutRequest {
            request_id: call.request_id(rid, "logout"),
            refresh_token: req.refresh_token,
            all_sessions: req.all_sessions,
        })
    )?;
    Ok(pb::LogoutResponse {
        revoked_session_count: r.revoked_session_count,
    })
}

/// Starts resetting a forgotten password: a code to the account's verified address.
pub async fn start_password_reset(
    edge: &Edge,
    call: &Call,
    req: pb::StartPasswordResetRequest,
) -> Result<pb::StartPasswordResetResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    v.enum_value::<idp::VerificationChannel>("channel", req.channel);
    errors::check(v)?;
    if !req.identifier.is_empty() {
        edge.limiter.identifier("reset", &req.identifier).await?;
    }
    let r = call!(
        edge,
        call.anonymous(),
        identity.start_password_reset(idp::StartPasswordResetRequest {
            request_id: call.request_id(got(rid)?, "start"),
            identifier: req.identifier,
            channel: req.channel,
        })
    )?;
    Ok(pb::StartPasswordResetResponse {
        challenge_id: r.challenge_id,
        expire_time: r.expire_time,
    })
}

/// Sets a new password with the reset code; every session of the account ends.
pub async fn reset_password(
    edge: &Edge,
    call: &Call,
    req: pb::ResetPasswordRequest,
) -> Result<pb::ResetPasswordResponse, Status> {
    let mut v = FieldViolations::new();
    let rid = v.request_id(&req.request_id);
    v.uuid("challenge_id", &req.challenge_id);
    v.six_digits("code", &req.code);
    errors::check(v)?;
    if !req.identifier.is_empty() {
        edge.limiter.identifier("reset", &req.identifier).await?;
    }
    let r = call!(
        edge,
        call.anonymous(),
        identity.reset_password(idp::ResetPasswordRequest {
            request_id: call.request_id(got(rid)?, "reset"),
            identifier: req.identifier,
            challenge_id: req.challenge_id,
            code: req.code,
            new_password: req.new_password,
        })
    )?;
    Ok(pb::ResetPasswordResponse {
        revoked_session_count: r.revoked_session_count,
    })
}
