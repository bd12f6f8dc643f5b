//! RSASSA-PKCS1-v1_5 over data the caller formats: PKCS#11's `CKM_RSA_PKCS` signature, which
//! pads and exponentiates whatever it is given (a DigestInfo of any hash, TLS 1.0's MD5+SHA-1
//! concatenation), where Key Vault's algorithms (RS256/384/512) take a SHA-2 digest and build
//! the DigestInfo themselves.
//!
//! Why a crate of its own: aws-lc-rs signs only through its sealed set of encodings (SHA-2
//! DigestInfos and PSS), `ring` cannot sign a precomputed digest at all, and the `rsa` crate's
//! private-key operations are not constant time (RUSTSEC-2023-0071). aws-lc itself has the
//! operation (`RSA_sign_raw`, blinded and constant time, the code behind every aws-lc-rs RSA
//! signature), so this crate calls it through `aws-lc-sys`, the bindings aws-lc-rs is built
//! on. The core library keeps `#![forbid(unsafe_code)]`; the foreign calls live here, in one
//! function, each with its safety argument.
//!
//! Verification needs no private key and no foreign code: the core checks these signatures
//! with the `rsa` crate's public-key operation.

#![deny(missing_docs, unsafe_op_in_unsafe_fn)]

use std::mem::MaybeUninit;
use std::ptr::NonNull;

use aws_lc_sys as sys;

/// Why a signature was not made. No variant carries key material or the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The key is not a PKCS#8 RSA private key aws-lc accepts.
    KeyRejected,
    /// The data is longer than the key's modulus length less the 11 bytes of padding.
    DataTooLong {
        /// The longest input this key signs, in bytes.
        max: usize,
    },
    /// aws-lc refused the operation.
    Failed,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::KeyRejected => f.write_str("not an RSA private key"),
            Error::DataTooLong { max } => write!(
                f,
                "the data to sign is too long: this key signs at most {max} bytes with PKCS#1 v1.5 padding"
            ),
            Error::Failed => f.write_str("the RSA signature failed"),
        }
    }
}

impl std::error::Error for Error {}

/// The padding's own bytes: `00 01`, at least eight `FF`, `00`.
const PADDING_OVERHEAD: usize = 11;

/// An `EVP_PKEY` this crate owns, freed on drop.
struct Pkey(NonNull<sys::EVP_PKEY>);

impl Drop for Pkey {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `EVP_parse_private_key`, which hands its caller one
        // reference; this is its only owner and it is freed exactly once, here.
        unsafe { sys::EVP_PKEY_free(self.0.as_ptr()) }
    }
}

/// Signs `data` with the RSA private key `pkcs8` (PKCS#8 DER): the signature is
/// `(00 01 FF..FF 00 || data)^d mod n`, as long as the modulus. `data` is at most the
/// modulus length less 11 bytes.
pub fn sign_pkcs1v15(pkcs8: &[u8], data: &[u8]) -> Result<Vec<u8>, Error> {
    let key = parse(pkcs8)?;
    // SAFETY: `key` holds a live EVP_PKEY; `EVP_PKEY_get0_RSA` borrows its RSA (no
    // reference taken, so nothing to free) or returns null when the key is not RSA.
    let rsa = unsafe { sys::EVP_PKEY_get0_RSA(key.0.as_ptr()) };
    if rsa.is_null() {
        return Err(Error::KeyRejected);
    }
    // SAFETY: `rsa` is non-null and lives as long as `key`, which outlives this call.
    let size = unsafe { sys::RSA_size(rsa) } as usize;
    let max = size.saturating_sub(PADDING_OVERHEAD);
    if data.len() > max {
        return Err(Error::DataTooLong { max });
    }
    let mut out = vec![0u8; size];
    let mut written = 0usize;
    // SAFETY: `rsa` is valid (above); `out` is writable for `out.len()` bytes and `written`
    // is a valid place for the length; `data` is readable for `data.len()` bytes. aws-lc
    // writes at most `max_out` bytes and reads exactly `in_len`. The RSA object is shared
    // with no other thread: it belongs to this call's own parse.
    let ok = unsafe {
        sys::RSA_sign_raw(
            rsa,
            &mut written,
            out.as_mut_ptr(),
            out.len(),
            data.as_ptr(),
            data.len(),
            sys::RSA_PKCS1_PADDING,
        )
    };
    if ok != 1 || written != size {
        clear_errors();
        return Err(Error::Failed);
    }
    Ok(out)
}

/// Parses a PKCS#8 private key, refusing trailing bytes.
fn parse(pkcs8: &[u8]) -> Result<Pkey, Error> {
    let mut cbs = MaybeUninit::<sys::CBS>::uninit();
    // SAFETY: `CBS_init` initializes every field of the CBS it is given; the CBS borrows
    // `pkcs8`, which outlives every use of it below.
    let cbs = unsafe {
        sys::CBS_init(cbs.as_mut_ptr(), pkcs8.as_ptr(), pkcs8.len());
        cbs.assume_init_mut()
    };
    // SAFETY: `cbs` is initialized and points into `pkcs8`; the function returns a new
    // EVP_PKEY the caller owns, or null.
    let parsed = unsafe { sys::EVP_parse_private_key(cbs) };
    let Some(key) = NonNull::new(parsed).map(Pkey) else {
        clear_errors();
        return Err(Error::KeyRejected);
    };
    // SAFETY: `cbs` is still initialized and borrows `pkcs8`.
    if unsafe { sys::CBS_len(cbs) } != 0 {
        return Err(Error::KeyRejected);
    }
    Ok(key)
}

/// Empties aws-lc's per-thread error queue, so a failure here leaves nothing behind for the
/// next aws-lc-rs call on this thread to misread.
fn clear_errors() {
    // SAFETY: takes no arguments and touches only this thread's error queue.
    unsafe { sys::ERR_clear_error() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, UnparsedPublicKey};

    fn rsa_pkcs8() -> (Vec<u8>, signature::RsaKeyPair) {
        let pair = signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der: Pkcs8V1Der<'static> = pair.as_der().unwrap();
        (der.as_ref().to_vec(), pair)
    }

    #[test]
    fn a_sha256_digest_info_signs_as_aws_lc_rs_signs_the_message() {
        let (pkcs8, pair) = rsa_pkcs8();
        let message = b"the same bytes two ways";
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message);
        // RFC 8017, section 9.2, note 1.
        let mut info = vec![
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ];
        info.extend_from_slice(digest.as_ref());
        let raw = sign_pkcs1v15(&pkcs8, &info).unwrap();
        let mut expected = vec![0u8; pair.public_modulus_len()];
        pair.sign(
            &signature::RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            message,
            &mut expected,
        )
        .unwrap();
        assert_eq!(raw, expected);
        UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            pair.public_key().as_ref(),
        )
        .verify(message, &raw)
        .unwrap();
    }

    #[test]
    fn data_longer_than_the_padding_allows_is_refused() {
        let (pkcs8, _) = rsa_pkcs8();
        assert_eq!(sign_pkcs1v15(&pkcs8, &[7; 245]).unwrap().len(), 256);
        assert_eq!(
            sign_pkcs1v15(&pkcs8, &[7; 246]),
            Err(Error::DataTooLong { max: 245 })
        );
    }

    #[test]
    fn what_is_not_an_rsa_private_key_is_rejected() {
        let (pkcs8, _) = rsa_pkcs8();
        assert_eq!(sign_pkcs1v15(&[], b"x"), Err(Error::KeyRejected));
        assert_eq!(
            sign_pkcs1v15(&pkcs8[..pkcs8.len() - 1], b"x"),
            Err(Error::KeyRejected)
        );
        let trailing = [&pkcs8[..], &[0]].concat();
        assert_eq!(sign_pkcs1v15(&trailing, b"x"), Err(Error::KeyRejected));
        let ec = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let ec_der = ec.to_pkcs8v1().unwrap();
        assert_eq!(
            sign_pkcs1v15(ec_der.as_ref(), b"x"),
            Err(Error::KeyRejected)
        );
        // A refusal leaves nothing on aws-lc's error queue for the next call to misread.
        assert_eq!(sign_pkcs1v15(&pkcs8, b"still signs").unwrap().len(), 256);
    }
}
