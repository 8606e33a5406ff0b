//! The sandbox bank's rules, free of IO: which withdrawals fail (magic amounts, like test
//! card numbers), the ids it derives so every report it makes is idempotent, and the
//! defaults of a simulated remittance.

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The failure reason of a withdrawal with a magic amount.
pub const MAGIC_FAILURE: &str = "SANDBOX: beneficiary account closed";
/// The failure reason of a withdrawal failed on command without one.
pub const COMMANDED_FAILURE: &str = "SANDBOX: returned by the beneficiary bank";
/// The payer of a remittance that names none.
pub const DEFAULT_PAYER: &str = "Sandbox Payer Ltd";

/// How the sandbox bank settles a withdrawal of `amount` (a contract decimal string) on
/// its own: `Some(reason)` fails it, `None` completes it. Amounts ending in .66 fail.
pub fn automatic_failure(amount: &str) -> Option<&'static str> {
    let amount = Decimal::from_str_exact(amount).ok()?;
    let cents = (amount * Decimal::ONE_HUNDRED).trunc() % Decimal::ONE_HUNDRED;
    (amount.fract() != Decimal::ZERO && cents == Decimal::from(66)).then_some(MAGIC_FAILURE)
}

/// A request id derived from `parts`: the same parts give the same id, so a report the
/// sandbox bank repeats (after a restart, or from a second instance) replays the first.
pub fn derived_request_id(parts: &[&str]) -> Uuid {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The bank reference of a remittance that names none: derived from its request id, so a
/// repeated request is the same remittance.
pub fn default_bank_reference(request_id: Uuid) -> String {
    format!("SBX-{}", request_id.simple())
}

/// When the bank credited a remittance: the time inside its UUIDv7 request id, so a
/// repeated request carries the same value time. Other UUIDs have none.
pub fn value_time(request_id: Uuid) -> Option<chrono::DateTime<chrono::Utc>> {
    let (secs, nanos) = request_id.get_timestamp()?.to_unix();
    chrono::DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos)
}

/// The payout reference the sandbox bank gives a withdrawal it takes.
pub fn payout_reference(withdrawal_id: &str) -> String {
    let short: String = withdrawal_id.chars().filter(|c| *c != '-').collect();
    format!("SBX-PAYOUT-{short}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_ending_in_66_fail() {
        assert_eq!(automatic_failure("1000.66"), Some(MAGIC_FAILURE));
        assert_eq!(automatic_failure("0.66"), Some(MAGIC_FAILURE));
        for ok in [
            "1000.00", "66", "1066", "1000.6", "1000.67", "1000.166", "x",
        ] {
            assert_eq!(automatic_failure(ok), None, "{ok}");
        }
    }

    #[test]
    fn derived_ids_repeat_and_differ() {
        let a = derived_request_id(&["w1", "PROCESSING"]);
        assert_eq!(a, derived_request_id(&["w1", "PROCESSING"]));
        assert_ne!(a, derived_request_id(&["w1", "COMPLETED"]));
        // Parts are separated: ("ab","c") is not ("a","bc").
        assert_ne!(
            derived_request_id(&["ab", "c"]),
            derived_request_id(&["a", "bc"])
        );
    }

    #[test]
    fn a_v7_request_id_carries_the_value_time() {
        let id = Uuid::now_v7();
        let t = value_time(id).expect("a v7 time");
        assert!((chrono::Utc::now() - t).num_seconds().abs() < 5);
        assert_eq!(
            value_time(uuid::Builder::from_random_bytes([7; 16]).into_uuid()),
            None
        );
        assert_eq!(default_bank_reference(id).len(), 36);
        assert!(payout_reference(&id.to_string()).len() <= 64);
    }
}
