//! Calls to identity, wallet and fx, made with the platform's one call policy
//! (`kuajing_platform::outbound`: a deadline per attempt, retried when nothing was answered;
//! every call here is a read or carries a request id derived from the caller's, so it is
//! safe to repeat), never inside a database transaction. A peer's business refusal (a status carrying its ErrorInfo) passes through
//! unchanged (domain identity.kuajing, ...); a peer that does not answer becomes
//! UNAVAILABLE with IDENTITY_UNAVAILABLE, WALLET_UNAVAILABLE or FX_UNAVAILABLE (nothing is
//! written; retry with the same request_id).

use std::future::Future;

use chrono::{DateTime, Utc};
use kuajing_platform::error::internal;
use kuajing_platform::outbound;
use kuajing_platform::service::PeerChannel;
use kuajing_platform::{Currency, Money, time};
use kuajing_proto::fx::v1::GetEquivalentRequest;
use kuajing_proto::fx::v1::fx_service_client::FxServiceClient;
use kuajing_proto::identity::v1::identity_service_client::IdentityServiceClient;
use kuajing_proto::identity::v1::{
    Account, AdmissionProgram, CheckSupplierAdmissionRequest, GetAccountRequest,
    GetLinkedAccountRequest, LinkedAccount, MarketplaceMember, SendVerificationCodeRequest,
    VerificationChallenge, VerificationChannel, VerificationPurpose, VerifyCodeRequest,
    VerifyPaymentPinRequest, get_linked_account_request,
};
use kuajing_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use kuajing_proto::wallet::v1::{GetWalletRequest, Wallet, get_wallet_request};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use tonic::{Code, Status};
use uuid::Uuid;

use super::Ctx;
use crate::domain::decision::Admission;

/// Reason: no USD equivalent could be obtained from fx.
pub use kuajing_proto::reasons::authorization::FX_UNAVAILABLE;
/// Reason: identity did not answer.
pub use kuajing_proto::reasons::authorization::IDENTITY_UNAVAILABLE;
/// Reason: wallet did not answer.
pub use kuajing_proto::reasons::authorization::WALLET_UNAVAILABLE;

/// A peer service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// identity.
    Identity,
    /// wallet.
    Wallet,
    /// fx.
    Fx,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Identity => "identity",
            Peer::Wallet => "wallet",
            Peer::Fx => "fx",
        }
    }

    fn unavailable_reason(self) -> &'static str {
        match self {
            Peer::Identity => IDENTITY_UNAVAILABLE,
            Peer::Wallet => WALLET_UNAVAILABLE,
            Peer::Fx => FX_UNAVAILABLE,
        }
    }

    fn channel(self, ctx: &Ctx) -> Result<PeerChannel, Status> {
        ctx.svc.peers.channel(self.name()).map_err(internal)
    }
}

/// UNAVAILABLE with the peer's `*_UNAVAILABLE` reason.
pub fn unavailable(ctx: &Ctx, peer: Peer, cause: &Status) -> Status {
    tracing::warn!(peer = peer.name(), code = ?cause.code(), message = %cause.message(), "peer call failed");
    ctx.errors().refuse(
        Code::Unavailable,
        peer.unavailable_reason(),
        format!(
            "{} did not answer; nothing was written, retry with the same request_id",
            peer.name()
        ),
    )
}

/// True for a failure that says nothing about the request: transient by the platform's
/// classifier, and not a reason of the peer's own (identity's SENDER_UNAVAILABLE is an
/// answer, passed through).
pub fn is_transient(status: &Status) -> bool {
    outbound::is_transient(status) && !outbound::answered(status)
}

/// A peer's failure as this service answers it: transient failures become
/// `*_UNAVAILABLE`; the peer's own refusals pass through.
pub fn peer_error(ctx: &Ctx, peer: Peer, status: Status) -> Status {
    if is_transient(&status) {
        unavailable(ctx, peer, &status)
    } else {
        status
    }
}

/// Sends `message` to `peer` with `send` (a client method on the peer's channel), each
/// attempt with its deadline. It names no `kj-subject`: only edge may act for a person;
/// this service calls as itself (its credential is added by the channel).
async fn call<M, R, F, Fut>(ctx: &Ctx, peer: Peer, message: M, send: F) -> Result<R, Status>
where
    M: Clone,
    F: Fn(PeerChannel, tonic::Request<M>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<R>, Status>>,
{
    outbound::unary(&peer.channel(ctx)?, message, send).await
}

/// The request id this service uses for its own call to a peer on behalf of the caller's
/// request `request_id`: derived (a UUIDv8 of SHA-256 over `label` and the id), so a retry
/// of the caller's request repeats the same peer request, which the peer replays.
pub fn derived_request_id(label: &str, request_id: Uuid) -> Uuid {
    let mut h = Sha256::new();
    h.update(b"kuajing.authorization\0");
    h.update(label.as_bytes());
    h.update([0]);
    h.update(request_id.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// An identity account; `None` when there is none.
pub async fn account(ctx: &Ctx, account_id: Uuid) -> Result<Option<Account>, Status> {
    let r = GetAccountRequest {
        account_id: account_id.to_string(),
    };
    match call(ctx, Peer::Identity, r, |c, r| async move {
        IdentityServiceClient::new(c).get_account(r).await
    })
    .await
    {
        Ok(r) => Ok(r.account),
        Err(s) if s.code() == Code::NotFound => Ok(None),
        Err(s) => Err(peer_error(ctx, Peer::Identity, s)),
    }
}

/// The current (not UNBOUND) binding of a marketplace member; `None` when not bound.
pub async fn binding_of_member(
    ctx: &Ctx,
    member: MarketplaceMember,
) -> Result<Option<LinkedAccount>, Status> {
    let r = GetLinkedAccountRequest {
        key: Some(get_linked_account_request::Key::MarketplaceMember(member)),
    };
    match call(ctx, Peer::Identity, r, |c, r| async move {
        IdentityServiceClient::new(c).get_linked_account(r).await
    })
    .await
    {
        Ok(r) => Ok(r.linked_account),
        Err(s) if s.code() == Code::NotFound => Ok(None),
        Err(s) => Err(peer_error(ctx, Peer::Identity, s)),
    }
}

/// A binding by id, in any status; `None` when there is no such binding.
pub async fn binding(ctx: &Ctx, linked_account_id: Uuid) -> Result<Option<LinkedAccount>, Status> {
    let r = GetLinkedAccountRequest {
        key: Some(get_linked_account_request::Key::LinkedAccountId(
            linked_account_id.to_string(),
        )),
    };
    match call(ctx, Peer::Identity, r, |c, r| async move {
        IdentityServiceClient::new(c).get_linked_account(r).await
    })
    .await
    {
        Ok(r) => Ok(r.linked_account),
        Err(s) if s.code() == Code::NotFound => Ok(None),
        Err(s) => Err(peer_error(ctx, Peer::Identity, s)),
    }
}

/// Sends the member's holder a mandate activation code (purpose ACTIVATE_MANDATE,
/// reference the mandate id).
pub async fn send_activation_code(
    ctx: &Ctx,
    request_id: Uuid,
    holder: Uuid,
    channel: VerificationChannel,
    mandate_id: Uuid,
) -> Result<VerificationChallenge, Status> {
    let r = SendVerificationCodeRequest {
        request_id: request_id.to_string(),
        account_id: holder.to_string(),
        channel: channel as i32,
        purpose: VerificationPurpose::ActivateMandate as i32,
        reference: mandate_id.to_string(),
    };
    let challenge = call(ctx, Peer::Identity, r, |c, r| async move {
        IdentityServiceClient::new(c)
            .send_verification_code(r)
            .await
    })
    .await
    .map_err(|s| peer_error(ctx, Peer::Identity, s))?
    .challenge;
    challenge.ok_or_else(|| internal("identity sent a code without a challenge"))
}

/// Checks and consumes the member's holder's activation code for `mandate_id`.
pub async fn verify_activation_code(
    ctx: &Ctx,
    request_id: Uuid,
    holder: Uuid,
    challenge_id: Uuid,
    code: &str,
    mandate_id: Uuid,
) -> Result<(), Status> {
    let r = VerifyCodeRequest {
        request_id: request_id.to_string(),
        account_id: holder.to_string(),
        challenge_id: challenge_id.to_string(),
        code: code.to_owned(),
        purpose: VerificationPurpose::ActivateMandate as i32,
        reference: mandate_id.to_string(),
    };
    call(ctx, Peer::Identity, r, |c, r| async move {
        IdentityServiceClient::new(c).verify_code(r).await
    })
    .await
    .map_err(|s| peer_error(ctx, Peer::Identity, s))?;
    Ok(())
}

/// Checks the owner's payment PIN for revoking `mandate_id`.
pub async fn verify_pin(
    ctx: &Ctx,
    request_id: Uuid,
    owner: Uuid,
    pin: &str,
    mandate_id: Uuid,
) -> Result<(), Status> {
    let r = VerifyPaymentPinRequest {
        request_id: request_id.to_string(),
        account_id: owner.to_string(),
        pin: pin.to_owned(),
        operation_reference: format!("authorization.RevokeMandate:{mandate_id}"),
    };
    let verified = call(ctx, Peer::Identity, r, |c, r| async move {
        IdentityServiceClient::new(c).verify_payment_pin(r).await
    })
    .await
    .map_err(|s| peer_error(ctx, Peer::Identity, s))?
    .verified;
    if verified {
        Ok(())
    } else {
        Err(internal(
            "identity answered a PIN check without verifying it",
        ))
    }
}

/// Whether the supplier is admitted to cross-border pay.
pub async fn cross_border_admission(ctx: &Ctx, supplier: Uuid) -> Result<Admission, Status> {
    let r = CheckSupplierAdmissionRequest {
        account_id: supplier.to_string(),
        program: AdmissionProgram::CrossBorderPay as i32,
    };
    match call(ctx, Peer::Identity, r, |c, r| async move {
        IdentityServiceClient::new(c)
            .check_supplier_admission(r)
            .await
    })
    .await
    {
        Ok(r) => {
            let a = r
                .admission
                .ok_or_else(|| internal("identity answered no admission"))?;
            if a.admitted {
                Ok(Admission::Admitted)
            } else {
                Ok(Admission::Refused(
                    a.failed_rules.into_iter().map(|f| f.reason).collect(),
                ))
            }
        }
        Err(s) if s.code() == Code::NotFound => Ok(Admission::NoProfile),
        Err(s) if is_transient(&s) => Err(unavailable(ctx, Peer::Identity, &s)),
        Err(s) => Err(s),
    }
}

/// A wallet; `None` when there is no such wallet.
pub async fn wallet(ctx: &Ctx, wallet_id: Uuid) -> Result<Option<Wallet>, Status> {
    let r = GetWalletRequest {
        lookup: Some(get_wallet_request::Lookup::WalletId(wallet_id.to_string())),
    };
    match call(ctx, Peer::Wallet, r, |c, r| async move {
        WalletServiceClient::new(c).get_wallet(r).await
    })
    .await
    {
        Ok(r) => Ok(r.wallet),
        Err(s) if s.code() == Code::NotFound => Ok(None),
        Err(s) => Err(peer_error(ctx, Peer::Wallet, s)),
    }
}

/// A USD equivalent from fx: the amount, the rate (USD per unit) and when it was set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsdEquivalent {
    /// The USD amount, rounded to cents (what is reserved and reported).
    pub usd: Decimal,
    /// The amount times the rate before rounding: what the per-transaction limit judges
    /// (the rounded cents could hide up to half a cent over it).
    pub exact: Decimal,
    /// USD per one unit of the amount's currency.
    pub rate: Decimal,
    /// When the rate was set.
    pub rate_set_at: DateTime<Utc>,
}

/// The USD equivalent of `amount` at fx's mid rate. USD itself needs no call. Any failure
/// is FX_UNAVAILABLE: without an equivalent the limits cannot be judged.
pub async fn usd_equivalent(ctx: &Ctx, amount: Money) -> Result<UsdEquivalent, Status> {
    if amount.currency() == Currency::USD {
        return Ok(UsdEquivalent {
            usd: amount.amount(),
            exact: amount.amount(),
            rate: Decimal::ONE,
            rate_set_at: ctx.now(),
        });
    }
    let r = GetEquivalentRequest {
        amount: Some(amount.to_proto()),
        target_currency_code: Currency::USD.code().to_owned(),
    };
    let fx_failed = |s: &Status| unavailable(ctx, Peer::Fx, s);
    let eq = call(ctx, Peer::Fx, r, |c, r| async move {
        FxServiceClient::new(c).get_equivalent(r).await
    })
    .await
    .map_err(|s| fx_failed(&s))?
    .equivalent
    .ok_or_else(|| fx_failed(&Status::internal("fx answered no equivalent")))?;
    let usd = eq
        .equivalent
        .as_ref()
        .and_then(|m| Money::parse(&m.currency_code, &m.amount).ok())
        .filter(|m| m.currency() == Currency::USD)
        .ok_or_else(|| fx_failed(&Status::internal("fx answered a malformed equivalent")))?;
    let rate = kuajing_platform::money::parse_decimal(&eq.rate)
        .map_err(|_| fx_failed(&Status::internal("fx answered a malformed rate")))?;
    let rate_set_at = eq
        .rate_set_time
        .as_ref()
        .and_then(time::from_proto)
        .unwrap_or_else(|| ctx.now());
    Ok(UsdEquivalent {
        usd: usd.amount(),
        exact: amount.amount().checked_mul(rate).unwrap_or(usd.amount()),
        rate,
        rate_set_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        assert_eq!(derived_request_id("x", a), derived_request_id("x", a));
        assert_ne!(derived_request_id("x", a), derived_request_id("y", a));
        assert_ne!(derived_request_id("x", a), derived_request_id("x", b));
        assert_eq!(derived_request_id("x", a).get_version_num(), 8);
    }

    #[test]
    fn transient_failures_are_told_from_refusals() {
        assert!(is_transient(&Status::unavailable("down")));
        assert!(is_transient(&Status::deadline_exceeded("slow")));
        assert!(is_transient(&Status::internal("bug")));
        assert!(!is_transient(&Status::failed_precondition("no")));
        assert!(!is_transient(&Status::permission_denied("no")));
        let sender = kuajing_platform::ErrorDomain("identity.kuajing").refuse(
            Code::Unavailable,
            "SENDER_UNAVAILABLE",
            "sender down",
        );
        assert!(!is_transient(&sender));
    }
}
