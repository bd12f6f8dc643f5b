//! Symmetric (oct) keys: AES-GCM, AES-CBC with and without PKCS#7 padding, and RFC 3394 key
//! wrap. CBC and key wrap run on the RustCrypto AES crates (constant-time, AES-NI when the
//! CPU has it); GCM runs on aws-lc-rs, whose key context (with its GHASH key) is set up once
//! per key and wiped when it is freed. (RustCrypto's `aes-gcm` does not wipe its GHASH key
//! on drop, so a kept `AesGcm` would leave it in freed memory, and setting one up per call
//! costs a fifth of the operation.)

use aes::cipher::{
    BlockCipher, BlockDecrypt, BlockDecryptMut, BlockEncrypt, BlockEncryptMut, BlockSizeUser,
    InnerIvInit, KeyInit,
};
use aes::{Aes128, Aes192, Aes256};
use aes_gcm::aead::consts::U16;
use aes_kw::Kek;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_192_GCM, AES_256_GCM};
use cbc::cipher::block_padding::{NoPadding, Pkcs7};

use super::alg::{
    unsupported, AesMode, AesParams, Encrypted, EncryptionAlgorithm, EncryptionScheme,
    WrapAlgorithm, WrapScheme,
};
use super::random::{fill_random, random_bytes};
use super::secret::SecretBytes;
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

/// One key's AES schedules for CBC and key wrap, expanded once (both zeroized on drop).
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
    gcm: LessSafeKey,
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
        let built = match key.len() {
            16 => Schedules::new(key).map(|s| (Schedule::A128(s), &AES_128_GCM)),
            24 => Schedules::new(key).map(|s| (Schedule::A192(s), &AES_192_GCM)),
            32 => Schedules::new(key).map(|s| (Schedule::A256(s), &AES_256_GCM)),
            _ => None,
        };
        let (schedule, gcm) =
            built.ok_or_else(|| Error::bad_parameter("oct key must be 16, 24 or 32 bytes"))?;
        let gcm = UnboundKey::new(gcm, key)
            .map(LessSafeKey::new)
            .map_err(|_| Error::bad_parameter("oct key must be 16, 24 or 32 bytes"))?;
        Ok(Self { k, schedule, gcm })
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
    #[inline(always)]
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
        match mode {
            AesMode::Gcm => {
                let mut iv = [0u8; GCM_IV_LEN];
                given_or_random(params.iv, &mut iv)?;
                let mut buf = plaintext.to_vec();
                let tag = self
                    .gcm
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(iv),
                        Aad::from(params.aad.unwrap_or(&[])),
                        &mut buf,
                    )
                    .map_err(|_| Error::CryptoFailure)?;
                Ok(Encrypted {
                    ciphertext: buf,
                    iv: Some(iv.to_vec()),
                    tag: Some(tag.as_ref().to_vec()),
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
                let mut random = [0u8; BLOCK_LEN];
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
                let nonce =
                    Nonce::try_assume_unique_for_key(iv).map_err(|_| Error::CryptoFailure)?;
                let mut plain = zeroize::Zeroizing::new(ciphertext.to_vec());
                self.gcm
                    .open_in_place_separate_tag(
                        nonce,
                        Aad::from(params.aad.unwrap_or(&[])),
                        tag,
                        &mut plain,
                    )
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
/// The IV: the one given (of the right length), or fresh random bytes, in `buf`.
#[inline]
fn given_or_random<'a>(given: Option<&'a [u8]>, buf: &'a mut [u8]) -> Result<&'a [u8]> {
    match given {
        Some(v) if v.len() == buf.len() => {
            buf.copy_from_slice(v);
            Ok(buf)
        }
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
