//! PINs of PKCS#11 tokens, kept only as a slow hash: PBKDF2-HMAC-SHA256 with a random salt
//! per PIN, in one self-describing string (`pbkdf2-sha256$ITERATIONS$SALT$HASH`, base64url),
//! so the cost can rise later without breaking hashes already stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::random::random_bytes;
use crate::error::{Error, Result};

/// Shortest PIN a token takes.
pub const MIN_PIN_LEN: usize = 4;
/// Longest PIN a token takes.
pub const MAX_PIN_LEN: usize = 64;

/// PBKDF2-HMAC-SHA256 iterations for a new PIN hash (OWASP's 2023 figure, as for
/// passphrases): a stolen store gives an attacker one slow guess per PIN hash.
const ITERATIONS: u32 = 600_000;
const SCHEME: &str = "pbkdf2-sha256";
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

/// The PIN hash to store for `pin`.
pub fn hash_pin(pin: &[u8]) -> Result<String> {
    let salt = random_bytes(SALT_LEN)?;
    let mut out = [0u8; HASH_LEN];
    derive(ITERATIONS, &salt, pin, &mut out);
    let text = format!(
        "{SCHEME}${ITERATIONS}${}${}",
        URL_SAFE_NO_PAD.encode(&salt),
        URL_SAFE_NO_PAD.encode(out)
    );
    zeroize::Zeroize::zeroize(&mut out);
    Ok(text)
}

/// Whether `pin` matches `stored` (a [`hash_pin`] string), compared in constant time. A
/// malformed hash is an error, never a match.
pub fn verify_pin(pin: &[u8], stored: &str) -> Result<bool> {
    let bad = || Error::Corrupt {
        what: "PIN hash".into(),
    };
    let mut parts = stored.split('$');
    let (Some(SCHEME), Some(iterations), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad());
    };
    let iterations = iterations
        .parse::<u32>()
        .ok()
        .and_then(std::num::NonZeroU32::new)
        .ok_or_else(bad)?;
    let salt = URL_SAFE_NO_PAD.decode(salt).map_err(|_| bad())?;
    let hash = URL_SAFE_NO_PAD.decode(hash).map_err(|_| bad())?;
    Ok(ring::pbkdf2::verify(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        pin,
        &hash,
    )
    .is_ok())
}

fn derive(iterations: u32, salt: &[u8], pin: &[u8], out: &mut [u8]) {
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        std::num::NonZeroU32::new(iterations).unwrap_or(std::num::NonZeroU32::MIN),
        salt,
        pin,
        out,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_matches_its_hash_and_nothing_else() {
        let stored = hash_pin(b"123456").unwrap();
        assert!(stored.starts_with("pbkdf2-sha256$600000$"));
        assert!(!stored.contains("123456"));
        assert!(verify_pin(b"123456", &stored).unwrap());
        assert!(!verify_pin(b"123457", &stored).unwrap());
        assert!(!verify_pin(b"", &stored).unwrap());
        // Same PIN, new salt: the hashes differ.
        assert_ne!(stored, hash_pin(b"123456").unwrap());
    }

    #[test]
    fn a_malformed_hash_is_an_error() {
        for bad in [
            "",
            "pbkdf2-sha256$0$AA$AA",
            "md5$1$AA$AA",
            "pbkdf2-sha256$1$AA$AA$x",
        ] {
            assert!(verify_pin(b"1", bad).is_err(), "{bad}");
        }
    }
}
