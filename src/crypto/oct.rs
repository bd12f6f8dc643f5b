//! Symmetric (oct) keys: AES-GCM, AES-CBC with and without PKCS#7 padding, and RFC 3394 key
//! wrap, on the RustCrypto AES crates (constant-time, AES-NI when the CPU has it).

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit};
use aes::{Aes128, Aes192, Aes256};
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{AesGcm, Nonce, Tag};
use aes_kw::Kek;
use cbc::cipher::block_padding::{NoPadding, Pkcs7};

use super::alg::AesMode;
use super::secret::SecretBytes;
use super::{random_bytes, Encrypted};
use crate::error::{Error, Result};

/// GCM nonce length Key Vault uses (96 bits).
pub const GCM_IV_LEN: usize = 12;
/// GCM tag length Key Vault returns (128 bits).
pub const GCM_TAG_LEN: usize = 16;
/// AES block (and CBC IV) length.
pub const BLOCK_LEN: usize = 16;

/// The expanded AES key schedule, kept so each operation only copies it.
#[derive(Clone)]
enum Schedule {
    A128(Aes128),
    A192(Aes192),
    A256(Aes256),
}

/// Runs `$body` with `$c` bound to the concrete AES cipher of `$schedule`.
macro_rules! with_cipher {
    ($schedule:expr, $c:ident => $body:expr) => {
        match $schedule {
            Schedule::A128($c) => $body,
            Schedule::A192($c) => $body,
            Schedule::A256($c) => $body,
        }
    };
}

/// An AES key with its key schedules expanded once.
pub(crate) struct OctKey {
    k: SecretBytes,
    schedule: Schedule,
    kek: KekSchedule,
}

enum KekSchedule {
    A128(Kek<Aes128>),
    A192(Kek<Aes192>),
    A256(Kek<Aes256>),
}

impl OctKey {
    /// Valid key lengths in bits.
    pub(crate) const SUPPORTED_BITS: [usize; 3] = [128, 192, 256];

    /// Generates a key of `bits` (128, 192 or 256).
    pub(crate) fn generate(bits: usize) -> Result<Self> {
        if !Self::SUPPORTED_BITS.contains(&bits) {
            return Err(Error::bad_parameter(format!(
                "oct key size must be 128, 192 or 256, not {bits}"
            )));
        }
        Self::from_bytes(SecretBytes::new(random_bytes(bits / 8)?))
    }

    /// Builds a key from its bytes (16, 24 or 32 of them).
    pub(crate) fn from_bytes(k: SecretBytes) -> Result<Self> {
        let key = k.expose();
        let bad = || Error::bad_parameter("oct key must be 16, 24 or 32 bytes");
        let (schedule, kek) = match key.len() {
            16 => (
                Schedule::A128(Aes128::new_from_slice(key).map_err(|_| bad())?),
                KekSchedule::A128(Kek::try_from(key).map_err(|_| bad())?),
            ),
            24 => (
                Schedule::A192(Aes192::new_from_slice(key).map_err(|_| bad())?),
                KekSchedule::A192(Kek::try_from(key).map_err(|_| bad())?),
            ),
            32 => (
                Schedule::A256(Aes256::new_from_slice(key).map_err(|_| bad())?),
                KekSchedule::A256(Kek::try_from(key).map_err(|_| bad())?),
            ),
            _ => return Err(bad()),
        };
        Ok(Self { k, schedule, kek })
    }

    pub(crate) fn bytes(&self) -> &SecretBytes {
        &self.k
    }

    /// Key length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.k.len()
    }

    fn check_len(&self, alg: &str, key_len: usize) -> Result<()> {
        if key_len != self.k.len() {
            return Err(Error::AlgorithmNotSupported {
                alg: alg.to_string(),
                what: format!("a {}-bit oct key", self.k.len() * 8),
            });
        }
        Ok(())
    }

    /// Encrypts with AES in `mode`. `iv` is generated when not given.
    pub(crate) fn encrypt(
        &self,
        alg: &str,
        key_len: usize,
        mode: AesMode,
        plaintext: &[u8],
        iv: Option<&[u8]>,
        aad: Option<&[u8]>,
    ) -> Result<Encrypted> {
        self.check_len(alg, key_len)?;
        match mode {
            AesMode::Gcm => {
                let iv = fixed_or_random(iv, GCM_IV_LEN, "iv")?;
                let mut buf = plaintext.to_vec();
                let tag = with_cipher!(&self.schedule, c => {
                    AesGcm::<_, U12>::from(c.clone())
                        .encrypt_in_place_detached(Nonce::from_slice(&iv), aad.unwrap_or(&[]), &mut buf)
                })
                .map_err(|_| Error::CryptoFailure)?;
                Ok(Encrypted {
                    ciphertext: buf,
                    iv: Some(iv),
                    tag: Some(tag.to_vec()),
                    aad: aad.map(<[u8]>::to_vec),
                })
            }
            AesMode::Cbc | AesMode::CbcPad => {
                reject_aad(aad, alg)?;
                if mode == AesMode::Cbc && plaintext.len() % BLOCK_LEN != 0 {
                    return Err(Error::bad_parameter(format!(
                        "{alg} has no padding: the plaintext length must be a multiple of 16 bytes"
                    )));
                }
                let iv = fixed_or_random(iv, BLOCK_LEN, "iv")?;
                let ciphertext = with_cipher!(&self.schedule, c => {
                    let enc = cbc::Encryptor::inner_iv_slice_init(c.clone(), &iv)
                        .map_err(|_| Error::CryptoFailure)?;
                    if mode == AesMode::CbcPad {
                        enc.encrypt_padded_vec_mut::<Pkcs7>(plaintext)
                    } else {
                        enc.encrypt_padded_vec_mut::<NoPadding>(plaintext)
                    }
                });
                Ok(Encrypted {
                    ciphertext,
                    iv: Some(iv),
                    tag: None,
                    aad: None,
                })
            }
        }
    }

    /// Decrypts with AES in `mode`. Every authentication or padding failure is the same
    /// opaque error.
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors Key Vault's decrypt parameters"
    )]
    pub(crate) fn decrypt(
        &self,
        alg: &str,
        key_len: usize,
        mode: AesMode,
        ciphertext: &[u8],
        iv: Option<&[u8]>,
        aad: Option<&[u8]>,
        tag: Option<&[u8]>,
    ) -> Result<SecretBytes> {
        self.check_len(alg, key_len)?;
        match mode {
            AesMode::Gcm => {
                let iv = required(iv, GCM_IV_LEN, "iv", alg)?;
                let tag = required(tag, GCM_TAG_LEN, "tag", alg)?;
                let mut plain = zeroize::Zeroizing::new(ciphertext.to_vec());
                with_cipher!(&self.schedule, c => {
                    AesGcm::<_, U12>::from(c.clone()).decrypt_in_place_detached(
                        Nonce::from_slice(iv),
                        aad.unwrap_or(&[]),
                        &mut plain,
                        Tag::from_slice(tag),
                    )
                })
                .map_err(|_| Error::CryptoFailure)?;
                Ok(SecretBytes::from(plain))
            }
            AesMode::Cbc | AesMode::CbcPad => {
                reject_aad(aad, alg)?;
                let iv = required(iv, BLOCK_LEN, "iv", alg)?;
                if ciphertext.is_empty() || ciphertext.len() % BLOCK_LEN != 0 {
                    return Err(Error::bad_parameter(
                        "CBC ciphertext length must be a non-zero multiple of 16 bytes",
                    ));
                }
                let plain = with_cipher!(&self.schedule, c => {
                    let dec = cbc::Decryptor::inner_iv_slice_init(c.clone(), iv)
                        .map_err(|_| Error::CryptoFailure)?;
                    if mode == AesMode::CbcPad {
                        dec.decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
                    } else {
                        dec.decrypt_padded_vec_mut::<NoPadding>(ciphertext)
                    }
                })
                .map_err(|_| Error::CryptoFailure)?;
                Ok(SecretBytes::new(plain))
            }
        }
    }

    /// RFC 3394 key wrap.
    pub(crate) fn wrap(&self, alg: &str, key_len: usize, key: &[u8]) -> Result<Vec<u8>> {
        self.check_len(alg, key_len)?;
        if key.len() < 16 || key.len() % 8 != 0 {
            return Err(Error::bad_parameter(
                "AES key wrap needs a key of at least 16 bytes, in multiples of 8",
            ));
        }
        match &self.kek {
            KekSchedule::A128(k) => k.wrap_vec(key),
            KekSchedule::A192(k) => k.wrap_vec(key),
            KekSchedule::A256(k) => k.wrap_vec(key),
        }
        .map_err(|_| Error::CryptoFailure)
    }

    /// RFC 3394 key unwrap; an integrity failure is the opaque crypto error.
    pub(crate) fn unwrap(&self, alg: &str, key_len: usize, wrapped: &[u8]) -> Result<SecretBytes> {
        self.check_len(alg, key_len)?;
        if wrapped.len() < 24 || wrapped.len() % 8 != 0 {
            return Err(Error::bad_parameter(
                "AES-wrapped key must be at least 24 bytes, in multiples of 8",
            ));
        }
        let mut out = zeroize::Zeroizing::new(vec![0u8; wrapped.len() - 8]);
        match &self.kek {
            KekSchedule::A128(k) => k.unwrap(wrapped, &mut out),
            KekSchedule::A192(k) => k.unwrap(wrapped, &mut out),
            KekSchedule::A256(k) => k.unwrap(wrapped, &mut out),
        }
        .map_err(|_| Error::CryptoFailure)?;
        Ok(SecretBytes::from(out))
    }
}

fn reject_aad(aad: Option<&[u8]>, alg: &str) -> Result<()> {
    match aad {
        Some(a) if !a.is_empty() => Err(Error::bad_parameter(format!(
            "{alg} does not take additional authenticated data (aad)"
        ))),
        _ => Ok(()),
    }
}

fn fixed_or_random(given: Option<&[u8]>, len: usize, field: &str) -> Result<Vec<u8>> {
    match given {
        Some(v) if v.len() == len => Ok(v.to_vec()),
        Some(v) => Err(Error::bad_parameter(format!(
            "{field} must be {len} bytes, got {}",
            v.len()
        ))),
        None => random_bytes(len),
    }
}

fn required<'a>(given: Option<&'a [u8]>, len: usize, field: &str, alg: &str) -> Result<&'a [u8]> {
    match given {
        Some(v) if v.len() == len => Ok(v),
        Some(v) => Err(Error::bad_parameter(format!(
            "{field} must be {len} bytes for {alg}, got {}",
            v.len()
        ))),
        None => Err(Error::bad_parameter(format!(
            "{field} is required for {alg}"
        ))),
    }
}
