//! Proof that a person controls a marketplace member account, so nobody binds a member id
//! that is not theirs (whoever claimed an id first would otherwise own its cross-border
//! pay). The marketplace (or the platform team's bridge to its sign-in) signs, right after
//! the person signs in there, a short-lived assertion naming the marketplace, the member
//! and the Kuajing account it is for:
//!
//! `kjm1.<base64url JSON claims>.<base64url Ed25519 signature of "kjm1.<claims>">`, claims
//! `mkt` (the marketplace: "1688", "ALIBABA_COM"), `mem` (member id), `acc` (the Kuajing
//! account id), `iat` and `exp` (Unix seconds, at most ten minutes apart).
//!
//! Identity verifies it with the marketplace's public keys (`KJ_IDENTITY_MARKETPLACE_KEYS`;
//! several per marketplace while a key rotates). A proof is good for that account and
//! member only, so one that leaks binds nothing for anyone else. The sandbox's simulated
//! marketplace signs them in `kuajing up` (SandboxService.SignInToMarketplace).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use uuid::Uuid;

use super::linked::Marketplace;

const PREFIX: &str = "kjm1";
/// The longest a proof may live, issue to expiry.
pub const MAX_LIFETIME_SECS: i64 = 600;
/// How far ahead of identity's clock an issue time may be.
const CLOCK_SKEW_SECS: i64 = 60;

#[derive(serde::Serialize, serde::Deserialize)]
struct Claims {
    mkt: String,
    mem: String,
    acc: String,
    iat: i64,
    exp: i64,
}

/// A marketplace key derived from `secret`: the sandbox's simulated marketplaces sign
/// with one derived from the platform's keyring, so `kuajing up`, its sandbox and its
/// tools agree on it without keeping another file (identity trusts it only where it is
/// configured, which only `kuajing up` and the tests do).
pub fn derived_key(secret: &[u8]) -> SigningKey {
    use sha2::Digest as _;
    let mut hash = sha2::Sha256::new();
    hash.update(b"kuajing sandbox marketplace v1\0");
    hash.update(secret);
    SigningKey::from_bytes(&hash.finalize().into())
}

/// `key`'s public half as KJ_IDENTITY_MARKETPLACE_KEYS lists it (base64url).
pub fn key_text(key: &SigningKey) -> String {
    URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes())
}

/// A proof for `member` of `marketplace` binding to `account`, issued at `iat` (Unix
/// seconds) for the longest lifetime: what a marketplace signs.
pub fn sign(
    key: &SigningKey,
    marketplace: Marketplace,
    member: &str,
    account: Uuid,
    iat: i64,
) -> String {
    let claims = Claims {
        mkt: marketplace.as_str().to_owned(),
        mem: member.to_owned(),
        acc: account.to_string(),
        iat,
        exp: iat + MAX_LIFETIME_SECS,
    };
    let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
    let signed = format!("{PREFIX}.{claims}");
    let signature = key.sign(signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

/// Whether `proof`, signed by one of `keys`, proves `member` of `marketplace` for `account`
/// at `now` (Unix seconds); else why not.
pub fn verify(
    keys: &[VerifyingKey],
    proof: &str,
    marketplace: Marketplace,
    member: &str,
    account: Uuid,
    now: i64,
) -> Result<(), &'static str> {
    let mut parts = proof.split('.');
    let (Some(PREFIX), Some(claims_b64), Some(sig_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a member proof (kjm1.<claims>.<signature>)");
    };
    let signature = URL_SAFE_NO_PAD
        .decode(sig_b64)
        .ok()
        .and_then(|s| Signature::from_slice(&s).ok())
        .ok_or("not a member proof: malformed signature")?;
    let signed = format!("{PREFIX}.{claims_b64}");
    if !keys
        .iter()
        .any(|k| k.verify(signed.as_bytes(), &signature).is_ok())
    {
        return Err("not signed by the marketplace");
    }
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(claims_b64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("not a member proof: malformed claims")?;
    if claims.mkt != marketplace.as_str() || claims.mem != member {
        return Err("the proof is for another marketplace member");
    }
    if claims.acc != account.to_string() {
        return Err("the proof is for another account");
    }
    if claims.exp - claims.iat > MAX_LIFETIME_SECS || claims.iat > now + CLOCK_SKEW_SECS {
        return Err("the proof's times are not acceptable (at most ten minutes, not ahead)");
    }
    if now >= claims.exp {
        return Err("the proof has expired: sign in to the marketplace again");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_binds_its_member_to_its_account_only_while_it_lasts() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let keys = [key.verifying_key()];
        let (me, now) = (Uuid::now_v7(), 1_800_000_000);
        let proof = sign(&key, Marketplace::M1688, "buyer-1", me, now);
        let ok =
            |p: &str, m: &str, a: Uuid, at: i64| verify(&keys, p, Marketplace::M1688, m, a, at);
        assert_eq!(ok(&proof, "buyer-1", me, now + 599), Ok(()));
        assert!(ok(&proof, "buyer-1", me, now + 600).is_err(), "expired");
        assert!(ok(&proof, "buyer-2", me, now).is_err(), "another member");
        assert!(
            ok(&proof, "buyer-1", Uuid::now_v7(), now).is_err(),
            "another account"
        );
        assert!(
            verify(&keys, &proof, Marketplace::AlibabaCom, "buyer-1", me, now).is_err(),
            "another marketplace"
        );
        let stranger = SigningKey::from_bytes(&[8; 32]);
        let forged = sign(&stranger, Marketplace::M1688, "buyer-1", me, now);
        assert!(ok(&forged, "buyer-1", me, now).is_err(), "another key");
        // Both keys of a rotation verify.
        let both = [stranger.verifying_key(), key.verifying_key()];
        assert_eq!(
            verify(&both, &forged, Marketplace::M1688, "buyer-1", me, now),
            Ok(())
        );
        assert!(ok("kjm1.e30.AAAA", "buyer-1", me, now).is_err());
        assert!(ok("", "buyer-1", me, now).is_err());
        // A proof issued ahead of the clock is refused.
        let ahead = sign(&key, Marketplace::M1688, "buyer-1", me, now + 3600);
        assert!(ok(&ahead, "buyer-1", me, now).is_err());
    }
}
