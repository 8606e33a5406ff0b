//! An operator's second factor: time-based one-time passwords (RFC 6238, the codes every
//! authenticator app shows): HMAC-SHA-1 of the 30-second step since the epoch, truncated to
//! six digits (RFC 4226). The HMAC is the `hmac` crate's; what is here is the RFC's
//! arithmetic, checked against its published test vectors. A code is accepted for the
//! step before, the current one and the one after (clocks drift), and once only: a step
//! at or before the last one accepted is refused, so an overheard code cannot be replayed.

use hmac::{KeyInit, Mac};

/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Secret length in bytes (160 bits, as RFC 4226 recommends).
pub const SECRET_LEN: usize = 20;
/// Steps either side of now a code may come from.
const DRIFT_STEPS: i64 = 1;

/// The step `unix_secs` falls in.
pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The code of `step` under `secret`, zero-padded.
pub fn code_at(secret: &[u8], step: i64) -> String {
    let mut mac = <hmac::Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    // Dynamic truncation: the low nibble of the last byte picks four bytes.
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let word = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!(
        "{:0width$}",
        word % 10u32.pow(DIGITS),
        width = DIGITS as usize
    )
}

/// Whether `code` is well formed: exactly six ASCII digits.
pub fn well_formed(code: &str) -> bool {
    code.len() == DIGITS as usize && code.bytes().all(|b| b.is_ascii_digit())
}

/// The step `code` is valid for at `unix_secs` (now, or one step either side), if any
/// step after `last_accepted`. Compares every candidate in constant time.
pub fn accepted_step(
    secret: &[u8],
    code: &str,
    unix_secs: i64,
    last_accepted: Option<i64>,
) -> Option<i64> {
    use subtle::ConstantTimeEq;
    if !well_formed(code) {
        return None;
    }
    let now = step_of(unix_secs);
    let mut found = None;
    for step in now - DRIFT_STEPS..=now + DRIFT_STEPS {
        let matches: bool = code_at(secret, step)
            .as_bytes()
            .ct_eq(code.as_bytes())
            .into();
        if matches && last_accepted.is_none_or(|last| step > last) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// RFC 4648 base32 without padding: how authenticator apps take a secret.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Reads [`base32`] text back (case-insensitive, padding and spaces ignored); `None` for
/// anything else.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.chars().filter(|c| !matches!(c, '=' | ' ')) {
        let value = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => u32::from(c) - u32::from('A'),
            c @ '2'..='7' => u32::from(c) - u32::from('2') + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// The enrolment address authenticator apps read (usually from a QR code).
pub fn otpauth_uri(issuer: &str, member_name: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{issuer}:{member_name}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        base32(secret)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (its 8-digit codes; ours are their last six).
    #[test]
    fn the_rfcs_vectors() {
        let secret = b"12345678901234567890";
        for (t, code8) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at(secret, step_of(t)), code8[2..], "at {t}");
        }
    }

    #[test]
    fn a_code_is_good_near_its_step_and_once() {
        let secret = b"12345678901234567890";
        let t = 1_111_111_111;
        let code = code_at(secret, step_of(t));
        assert_eq!(accepted_step(secret, &code, t, None), Some(step_of(t)));
        // Thirty seconds either way is drift; ninety is not.
        assert_eq!(accepted_step(secret, &code, t + 30, None), Some(step_of(t)));
        assert_eq!(accepted_step(secret, &code, t - 30, None), Some(step_of(t)));
        assert_eq!(accepted_step(secret, &code, t + 90, None), None);
        // Accepted once: the same step again is a replay.
        assert_eq!(accepted_step(secret, &code, t, Some(step_of(t))), None);
        assert_eq!(accepted_step(secret, "12345", t, None), None);
        assert_eq!(accepted_step(secret, "12a456", t, None), None);
        assert_eq!(accepted_step(b"another secret......", &code, t, None), None);
    }

    #[test]
    fn base32_is_rfc_4648() {
        // RFC 4648 section 10, padding dropped.
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(plain.as_bytes()), encoded);
            assert_eq!(from_base32(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(from_base32("mzxw6ytboi").unwrap(), b"foobar");
        assert_eq!(from_base32("MZXW1"), None);
        let uri = otpauth_uri("Kuajing", "ops_anna", b"12345678901234567890");
        assert!(uri.starts_with(
            "otpauth://totp/Kuajing:ops_anna?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&"
        ));
    }
}
