//! Every credential the platform verifies, fed garbage: access tokens (edge), service and
//! operator tokens (every service), marketplace member proofs (identity). None panics, and
//! none accepts what its key did not sign.
#![no_main]

use chrono::{TimeZone, Utc};
use kuajing_platform::auth::Keyring;
use kuajing_platform::token::{KeySet, SigningKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let now = Utc
        .timestamp_opt(1_800_000_000, 0)
        .single()
        .expect("a time");

    let signing = SigningKey::from_seed(&[1; 32]);
    let mut keys = KeySet::new();
    keys.insert(signing.public(), None);
    assert!(
        keys.verify(text, now).is_err(),
        "an access token nobody signed"
    );
    let _ = KeySet::token_kid(text);

    thread_local! {
        static WALLET: std::sync::Arc<kuajing_platform::auth::ServiceKeys> = Keyring::from_seeds([
            ("wallet", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"),
            ("operator", "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI"),
        ])
        .expect("keys")
        .for_service("wallet")
        .expect("wallet's keys");
    }
    WALLET.with(|wallet| {
        assert!(
            wallet.verify_caller(text, now).is_err(),
            "a service token nobody signed"
        );
    });

    let marketplace = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    let member = uuid::Uuid::from_u128(7);
    assert!(
        kuajing_identity::domain::member_proof::verify(
            &[marketplace.verifying_key()],
            text,
            kuajing_identity::domain::linked::Marketplace::M1688,
            "member",
            member,
            now.timestamp(),
        )
        .is_err(),
        "a member proof nobody signed"
    );
    let _ = kuajing_platform::auth::token_expiry(text);
});
