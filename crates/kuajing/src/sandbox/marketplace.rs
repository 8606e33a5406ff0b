//! The simulated marketplaces (1688, Alibaba.com) people sign in to in the sandbox: each
//! sign-in answers the member proof identity needs to bind the member
//! (`kuajing_identity::domain::member_proof`). Any member signs in: it is a simulation,
//! trusted only by the identity `kuajing up` (and the testkit) configures with its key.

use kuajing_identity::domain::linked::Marketplace;
use kuajing_identity::domain::member_proof;
use kuajing_platform::auth::{Keyring, OPERATOR};
use kuajing_proto::identity::v1 as idp;
use kuajing_proto::sandbox::v1 as pb;
use tonic::Status;
use uuid::Uuid;

/// The key the simulated marketplaces sign with, derived from the platform's keyring.
fn key(keyring: &Keyring) -> anyhow::Result<ed25519_dalek::SigningKey> {
    let secret = keyring
        .seed_text(OPERATOR)
        .ok_or_else(|| anyhow::anyhow!("the keyring has no operator key"))?;
    Ok(member_proof::derived_key(secret.as_bytes()))
}

/// Identity's `--marketplace-keys` for the simulated marketplaces.
pub fn trusted(keyring: &Keyring) -> anyhow::Result<String> {
    let text = member_proof::key_text(&key(keyring)?);
    Ok(format!("1688={text},ALIBABA_COM={text}"))
}

/// A proof that `member` of `marketplace` signed in, for binding to `account`.
pub fn proof(
    keyring: &Keyring,
    marketplace: Marketplace,
    member: &str,
    account: Uuid,
) -> anyhow::Result<String> {
    Ok(member_proof::sign(
        &key(keyring)?,
        marketplace,
        member,
        account,
        chrono::Utc::now().timestamp(),
    ))
}

/// SandboxService.SignInToMarketplace.
pub fn sign_in(
    keyring: &Keyring,
    req: pb::SignInToMarketplaceRequest,
) -> Result<pb::SignInToMarketplaceResponse, Status> {
    let mut v = kuajing_platform::FieldViolations::default();
    let marketplace = match idp::Marketplace::try_from(req.marketplace) {
        Ok(idp::Marketplace::Marketplace1688) => Some(Marketplace::M1688),
        Ok(idp::Marketplace::AlibabaCom) => Some(Marketplace::AlibabaCom),
        _ => {
            v.add(
                "marketplace",
                "must be MARKETPLACE_1688 or MARKETPLACE_ALIBABA_COM",
            );
            None
        }
    };
    let member = req.external_member_id.trim();
    if member.is_empty() || member.chars().count() > 64 || member.chars().any(char::is_control) {
        v.add(
            "external_member_id",
            "1 to 64 characters, no control characters",
        );
    }
    let account = Uuid::try_parse(&req.account_id).ok();
    if account.is_none() {
        v.add("account_id", "must be a UUID");
    }
    v.finish()?;
    let (Some(marketplace), Some(account)) = (marketplace, account) else {
        return Err(Status::internal("checked above"));
    };
    let member_proof = proof(keyring, marketplace, &req.external_member_id, account)
        .map_err(|e| Status::internal(e.to_string()))?;
    let expires = chrono::Utc::now() + chrono::Duration::seconds(member_proof::MAX_LIFETIME_SECS);
    Ok(pb::SignInToMarketplaceResponse {
        member_proof,
        expire_time: expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}
