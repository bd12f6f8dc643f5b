//! Symmetric (oct) keys: AES-GCM, AES-CBC with and without PKCS#7 padding, and RFC 3394 key
//! wrap, on the RustCrypto AES crates (constant-time, AES-NI when the CPU has it).

use aes::cipher::{
    BlockCipher, BlockDecrypt, BlockDecryptMut, BlockEncrypt, BlockEncryptMut, BlockSizeUser,
    InnerIvInit, KeyInit,
};
use aes::{Aes128, Aes192, Aes256};
use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{AesGcm, Nonce, Tag};
use aes_kw::Kek;
use cbc::cipher::block_padding::{NoPadding, Pkcs7};

use super::alg::{AesMode, EncryptionAlgorithm, EncryptionScheme, WrapAlgorithm, WrapScheme};
use super::secret::SecretBytes;
use super::{fill_random, random_bytes, unsupported, AesParams, Encrypted};
use crate::error::{Error, Result};

/// GCM nonce length Key Vault uses (96 bits).
pub const GCM_IV_LEN: usize = 12;
/// GCM tag length Key Vault returns (128 bits).
pub const GCM_TAG_LEN: usize = 16;
/// AES block (and CBC IV) length.
pub const BLOCK_LEN: usize = 16;

/// What the three AES key sizes have in common, as the modes here use them.
trait Aes:
    KeyInit + BlockCipher + BlockSizeUser<BlockSize = U16> + BlockEncrypt + BlockDecrypt
{
}

impl<C> Aes for C where
    C: KeyInit + BlockCipher + BlockSizeUser<BlockSize = U16> + BlockEncrypt + BlockDecrypt
{
}

/// One key's AES schedules, expanded once (both zeroized on drop). GCM and CBC borrow the
/// cipher per call: GCM then computes only its GHASH key (one block), which is not kept,
/// since the GHASH state of `aes-gcm` is not zeroized on drop.
struct Schedules<C: Aes> {
    cipher: C,
    kek: Kek<C>,
}

impl<C: Aes> Schedules<C> {
    fn new(key: &[u8]) -> Option<Self> {
        Some(Self {
            cipher: C::new_from_slice(key).ok()?,
            kek: Kek::try_from(key).ok()?,
        })
    }

    fn gcm(&self) -> AesGcm<&C, U12> {
        AesGcm::from(&self.cipher)
    }
}

#[allow(
    clippy::large_enum_variant,
    reason = "one per key, and the key is boxed in KeyMaterial already"
)]
enum Schedule {
    A128(Schedules<Aes128>),
    A192(Schedules<Aes192>),
    A256(Schedules<Aes256>),
}

/// Runs `$body` with `$s` bound to the [`Schedules`] of `$schedule`'s key size.
macro_rules! with_schedules {
    ($schedule:expr, $s:ident => $body:expr) => {
        match $schedule {
            Schedule::A128($s) => $body,
            Schedule::A192($s) => $body,
            Schedule::A256($s) => $body,
        }
    };
}

/// An AES key with its key schedules expanded once.
pub(crate) struct OctKey {
    k: SecretBytes,
    schedule: Schedule,
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
        let schedule = match key.len() {
            16 => Schedules::new(key).map(Schedule::A128),
            24 => Schedules::new(key).map(Schedule::A192),
            32 => Schedules::new(key).map(Schedule::A256),
            _ => None,
        }
        .ok_or_else(|| Error::bad_parameter("oct key must be 16, 24 or 32 bytes"))?;
        Ok(Self { k, schedule })
    }

    pub(crate) fn bytes(&self) -> &SecretBytes {
        &self.k
    }

    /// Key length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.k.len()
    }

    /// Checks that an algorithm for `key_len`-byte keys fits this key.
    fn check_len(&self, alg: impl std::fmt::Display, key_len: usize) -> Result<()> {
        if key_len != self.k.len() {
            return Err(unsupported(
                alg,
                &format!("a {}-bit oct key", self.k.len() * 8),
            ));
        }
        Ok(())
    }

    /// The AES mode of `alg`, which must be an AES algorithm for this key's length.
    fn mode(&self, alg: EncryptionAlgorithm) -> Result<AesMode> {
        match alg.scheme() {
            EncryptionScheme::Aes { key_len, mode } => {
                self.check_len(alg, key_len)?;
                Ok(mode)
            }
            EncryptionScheme::Rsa(_) => Err(unsupported(alg, "an oct key")),
        }
    }

    /// Checks that `alg` is AES key wrap for this key's length.
    fn check_wrap(&self, alg: WrapAlgorithm) -> Result<()> {
        match alg.scheme() {
            WrapScheme::AesKw(key_len) => self.check_len(alg, key_len),
            WrapScheme::Rsa(_) => Err(unsupported(alg, "an oct key")),
        }
    }

    /// Encrypts with an AES algorithm. The IV is drawn from the system CSPRNG when
    /// `params` has none.
    pub(crate) fn encrypt(
        &self,
        alg: EncryptionAlgorithm,
        plaintext: &[u8],
        params: AesParams<'_>,
    ) -> Result<Encrypted> {
        let mode = self.mode(alg)?;
        let mut random = [0u8; BLOCK_LEN];
        match mode {
            AesMode::Gcm => {
                let iv = given_or_random(params.iv, &mut random[..GCM_IV_LEN])?;
                let mut buf = plaintext.to_vec();
                let tag = with_schedules!(&self.schedule, s => s.gcm().encrypt_in_place_detached(
                    Nonce::from_slice(iv),
                    params.aad.unwrap_or(&[]),
                    &mut buf,
                ))
                .map_err(|_| Error::CryptoFailure)?;
                Ok(Encrypted {
                    ciphertext: buf,
                    iv: Some(iv.to_vec()),
                    tag: Some(tag.to_vec()),
                    aad: params.aad.map(<[u8]>::to_vec),
                })
            }
            AesMode::Cbc | AesMode::CbcPad => {
                reject_aad(params.aad, alg)?;
                if mode == AesMode::Cbc && plaintext.len() % BLOCK_LEN != 0 {
                    return Err(Error::bad_parameter(format!(
                        "{alg} has no padding: the plaintext length must be a multiple of 16 bytes"
                    )));
                }
                let iv = given_or_random(params.iv, &mut random)?;
                let ciphertext = with_schedules!(&self.schedule, s => {
                    let enc = cbc::Encryptor::inner_iv_slice_init(&s.cipher, iv)
                        .map_err(|_| Error::CryptoFailure)?;
                    if mode == AesMode::CbcPad {
                        enc.encrypt_padded_vec_mut::<Pkcs7>(plaintext)
                    } else {
                        enc.encrypt_padded_vec_mut::<NoPadding>(plaintext)
                    }
                });
                Ok(Encrypted {
                    ciphertext,
                    iv: Some(iv.to_vec()),
                    tag: None,
                    aad: None,
                })
            }
        }
    }

    /// Decrypts with an AES algorithm. Every authentication or padding failure is the same
    /// opaque error.
    pub(crate) fn decrypt(
        &self,
        alg: EncryptionAlgorithm,
        ciphertext: &[u8],
        params: AesParams<'_>,
    ) -> Result<SecretBytes> {
        let mode = self.mode(alg)?;
        match mode {
            AesMode::Gcm => {
                let iv = required(params.iv, GCM_IV_LEN, "iv", alg)?;
                let tag = required(params.tag, GCM_TAG_LEN, "tag", alg)?;
                let mut plain = zeroize::Zeroizing::new(ciphertext.to_vec());
                with_schedules!(&self.schedule, s => s.gcm().decrypt_in_place_detached(
                    Nonce::from_slice(iv),
                    params.aad.unwrap_or(&[]),
                    &mut plain,
                    Tag::from_slice(tag),
                ))
                .map_err(|_| Error::CryptoFailure)?;
                Ok(SecretBytes::from(plain))
            }
            AesMode::Cbc | AesMode::CbcPad => {
                reject_aad(params.aad, alg)?;
                let iv = required(params.iv, BLOCK_LEN, "iv", alg)?;
                if ciphertext.is_empty() || ciphertext.len() % BLOCK_LEN != 0 {
                    return Err(Error::bad_parameter(
                        "CBC ciphertext length must be a non-zero multiple of 16 bytes",
                    ));
                }
                let plain = with_schedules!(&self.schedule, s => {
                    let dec = cbc::Decryptor::inner_iv_slice_init(&s.cipher, iv)
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
    pub(crate) fn wrap(&self, alg: WrapAlgorithm, key: &[u8]) -> Result<Vec<u8>> {
        self.check_wrap(alg)?;
        if key.len() < 16 || key.len() % 8 != 0 {
            return Err(Error::bad_parameter(
                "AES key wrap needs a key of at least 16 bytes, in multiples of 8",
            ));
        }
        with_schedules!(&self.schedule, s => s.kek.wrap_vec(key)).map_err(|_| Error::CryptoFailure)
    }

    /// RFC 3394 key unwrap; an integrity failure is the opaque crypto error.
    pub(crate) fn unwrap(&self, alg: WrapAlgorithm, wrapped: &[u8]) -> Result<SecretBytes> {
        self.check_wrap(alg)?;
        if wrapped.len() < 24 || wrapped.len() % 8 != 0 {
            return Err(Error::bad_parameter(
                "AES-wrapped key must be at least 24 bytes, in multiples of 8",
            ));
        }
        let mut out = zeroize::Zeroizing::new(vec![0u8; wrapped.len() - 8]);
        with_schedules!(&self.schedule, s => s.kek.unwrap(wrapped, &mut out))
            .map_err(|_| Error::CryptoFailure)?;
        Ok(SecretBytes::from(out))
    }
}

fn reject_aad(aad: Option<&[u8]>, alg: EncryptionAlgorithm) -> Result<()> {
    match aad {
        Some(a) if !a.is_empty() => Err(Error::bad_parameter(format!(
            "{alg} does not take additional authenticated data (aad)"
        ))),
        _ => Ok(()),
    }
}

/// The caller's IV if it has `buf`'s length, else `buf` filled from the system CSPRNG.
fn given_or_random<'a>(given: Option<&'a [u8]>, buf: &'a mut [u8]) -> Result<&'a [u8]> {
    match given {
        Some(v) if v.len() == buf.len() => Ok(v),
        Some(v) => Err(Error::bad_parameter(format!(
            "iv must be {} bytes, got {}",
            buf.len(),
            v.len()
        ))),
        None => {
            fill_random(buf)?;
            Ok(buf)
        }
    }
}

fn required<'a>(
    given: Option<&'a [u8]>,
    len: usize,
    field: &str,
    alg: EncryptionAlgorithm,
) -> Result<&'a [u8]> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(bytes: &[u8]) -> OctKey {
        OctKey::from_bytes(SecretBytes::from_slice(bytes)).unwrap()
    }

    #[test]
    fn gcm_known_answer_and_round_trip() {
        // The GCM specification's test case 14: AES-256, zero key, IV and plaintext.
        let k = key(&[0; 32]);
        let iv = [0u8; GCM_IV_LEN];
        let params = AesParams {
            iv: Some(&iv),
            ..AesParams::default()
        };
        let out = k
            .encrypt(EncryptionAlgorithm::A256Gcm, &[0; 16], params)
            .unwrap();
        assert_eq!(
            hex::encode(&out.ciphertext),
            "cea7403d4d606b6e074ec5d3baf39d18"
        );
        let tag = out.tag.unwrap();
        assert_eq!(hex::encode(&tag), "d0d1c8a799996bf0265b98b5d48ab919");
        let params = AesParams {
            tag: Some(&tag),
            ..params
        };
        let plain = k.decrypt(EncryptionAlgorithm::A256Gcm, &out.ciphertext, params);
        assert_eq!(plain.unwrap().expose(), [0; 16]);
        let mut forged = out.ciphertext.clone();
        forged[0] ^= 1;
        assert!(matches!(
            k.decrypt(EncryptionAlgorithm::A256Gcm, &forged, params),
            Err(Error::CryptoFailure)
        ));
    }

    #[test]
    fn generated_ivs_are_fresh() {
        let k = key(&[7; 16]);
        let encrypt = |alg| k.encrypt(alg, &[1; 32], AesParams::default()).unwrap();
        for (alg, len) in [
            (EncryptionAlgorithm::A128Gcm, GCM_IV_LEN),
            (EncryptionAlgorithm::A128CbcPad, BLOCK_LEN),
        ] {
            let (a, b) = (encrypt(alg), encrypt(alg));
            assert_eq!(a.iv.as_ref().map(Vec::len), Some(len), "{alg}");
            assert_ne!(a.iv, b.iv, "{alg}");
            assert_ne!(a.ciphertext, b.ciphertext, "{alg}");
        }
    }
}
