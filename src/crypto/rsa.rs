//! RSA keys.
//!
//! Every private-key operation (sign over a digest, decrypt, unwrap) runs on aws-lc-rs:
//! constant time and at OpenSSL's speed. The `rsa` crate parses and validates imported keys
//! (and yields the JWK components), but never performs a private-key operation: its decryption
//! is not constant time (RUSTSEC-2023-0071, "Marvin").

use std::sync::OnceLock;

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rsa::{
    KeyPair, KeySize, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey,
    Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey, PublicKeyComponents,
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};
use aws_lc_rs::signature::{self as lc, ParsedPublicKey, RsaEncoding, RsaParameters};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::BigUint;

use super::alg::{RsaPadding, SignatureAlgorithm};
use super::ec::import_digest;
use super::secret::SecretBytes;
use crate::error::{Error, Result};

/// The modulus sizes Key Vault offers, in bits.
pub const SUPPORTED_BITS: [usize; 3] = [2048, 3072, 4096];

/// How aws-lc-rs does one RSA signature algorithm.
struct Scheme {
    /// Which of a public key's cached verifiers serves it.
    slot: usize,
    signing: &'static dyn RsaEncoding,
    verification: &'static RsaParameters,
}

/// How many RSA signature algorithms there are (the slots of [`Scheme`]).
const SCHEMES: usize = 6;

fn scheme(alg: SignatureAlgorithm) -> Result<Scheme> {
    use SignatureAlgorithm::*;
    let (slot, signing, verification): (_, &'static dyn RsaEncoding, _) = match alg {
        RS256 => (0, &lc::RSA_PKCS1_SHA256, &lc::RSA_PKCS1_2048_8192_SHA256),
        RS384 => (1, &lc::RSA_PKCS1_SHA384, &lc::RSA_PKCS1_2048_8192_SHA384),
        RS512 => (2, &lc::RSA_PKCS1_SHA512, &lc::RSA_PKCS1_2048_8192_SHA512),
        PS256 => (3, &lc::RSA_PSS_SHA256, &lc::RSA_PSS_2048_8192_SHA256),
        PS384 => (4, &lc::RSA_PSS_SHA384, &lc::RSA_PSS_2048_8192_SHA384),
        PS512 => (5, &lc::RSA_PSS_SHA512, &lc::RSA_PSS_2048_8192_SHA512),
        _ => return Err(not_rsa(alg)),
    };
    Ok(Scheme {
        slot,
        signing,
        verification,
    })
}

fn not_rsa(alg: impl std::fmt::Display) -> Error {
    Error::AlgorithmNotSupported {
        alg: alg.to_string(),
        what: "an RSA key".into(),
    }
}

/// The one public exponent an imported RSA private key may have: 65537 (F4), the one
/// localhsm generates and the one Key Vault's documentation names. Small exponents (3,
/// 17) invite the low-exponent attacks on badly padded messages, and even or unit
/// exponents are not RSA at all; one rule for every import path keeps the set of keys a
/// store can hold the set it can make.
pub const IMPORT_EXPONENT: u32 = 65_537;

/// Refuses an imported key's public exponent `e` (big-endian) unless it is
/// [`IMPORT_EXPONENT`].
fn require_import_exponent(e: &[u8]) -> Result<()> {
    let e = strip_leading_zeros(e);
    if e == &IMPORT_EXPONENT.to_be_bytes()[1..] {
        return Ok(());
    }
    let shown = match e.len() {
        0 => "0".to_string(),
        1..=8 => {
            let mut word = [0u8; 8];
            word[8 - e.len()..].copy_from_slice(e);
            u64::from_be_bytes(word).to_string()
        }
        n => format!("a {}-bit number", n * 8 - e[0].leading_zeros() as usize),
    };
    Err(Error::bad_parameter(format!(
        "RSA public exponent e must be {IMPORT_EXPONENT}, this key has e = {shown}; \
         localhsm imports only RSA keys with e = {IMPORT_EXPONENT}"
    )))
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[start..]
}

/// An RSA public key prepared for verification and encryption.
pub struct RsaPublicKey {
    n: Vec<u8>,
    e: Vec<u8>,
    spki: Vec<u8>,
    /// The key parsed once per signature algorithm (aws-lc-rs binds a parsed key to one),
    /// at its first verification: parsing costs 2-4 µs, a sixth of a verification, and
    /// doing it for all six algorithms whenever a key is unsealed would spend that time and
    /// memory on algorithms the key is never verified with.
    verifiers: Box<[OnceLock<ParsedPublicKey>; SCHEMES]>,
    oaep: OaepPublicEncryptingKey,
    pkcs1: Pkcs1PublicEncryptingKey,
}

impl std::fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaPublicKey")
            .field("bits", &self.bits())
            .finish()
    }
}

impl RsaPublicKey {
    /// Builds a public key from its modulus and exponent (big-endian).
    pub fn from_components(n: &[u8], e: &[u8]) -> Result<Self> {
        let n = strip_leading_zeros(n).to_vec();
        let e = strip_leading_zeros(e).to_vec();
        if n.last().is_none_or(|b| b & 1 == 0) {
            return Err(Error::bad_parameter("RSA modulus n must be odd"));
        }
        let bits = n.len() * 8 - n[0].leading_zeros() as usize;
        if !(2048..=8192).contains(&bits) {
            return Err(Error::bad_parameter(format!(
                "RSA keys must be 2048 to 8192 bits, this one has {bits}"
            )));
        }
        let rejected = || Error::bad_parameter("RSA public key (n, e) rejected");
        let components = PublicKeyComponents {
            n: n.as_slice(),
            e: e.as_slice(),
        };
        let spki: PublicKeyX509Der<'static> = components.as_der().map_err(|_| rejected())?;
        let encrypting = || -> Result<PublicEncryptingKey> {
            PublicKeyComponents {
                n: n.as_slice(),
                e: e.as_slice(),
            }
            .try_into()
            .map_err(|_| rejected())
        };
        let oaep = OaepPublicEncryptingKey::new(encrypting()?).map_err(|_| rejected())?;
        let pkcs1 = Pkcs1PublicEncryptingKey::new(encrypting()?).map_err(|_| rejected())?;
        Ok(Self {
            spki: spki.as_ref().to_vec(),
            n,
            e,
            verifiers: Default::default(),
            oaep,
            pkcs1,
        })
    }

    /// Modulus, big-endian without leading zeros.
    pub fn n(&self) -> &[u8] {
        &self.n
    }

    /// Public exponent, big-endian without leading zeros.
    pub fn e(&self) -> &[u8] {
        &self.e
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.n.len() * 8 - self.n[0].leading_zeros() as usize
    }

    /// Verifies a signature over `digest`. `Ok(false)` when it does not verify.
    pub fn verify_digest(
        &self,
        alg: SignatureAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<bool> {
        let scheme = scheme(alg)?;
        let digest = import_digest(alg, digest)?;
        let slot = &self.verifiers[scheme.slot];
        let verifier = match slot.get() {
            Some(v) => v,
            None => match ParsedPublicKey::new(scheme.verification, &self.spki) {
                Ok(v) => slot.get_or_init(|| v),
                // The key was checked when it was built; whatever aws-lc-rs refuses here
                // verifies nothing.
                Err(_) => return Ok(false),
            },
        };
        Ok(verifier.verify_digest_sig(&digest, signature).is_ok())
    }

    /// Verifies an RSASSA-PKCS1-v1_5 signature over `data` as given (no hash, no
    /// DigestInfo added): the check of [`RsaPrivateKey::sign_pkcs1v15_raw`]'s signatures.
    /// `Ok(false)` when it does not verify. A public-key operation, so RustCrypto's `rsa`
    /// may run it.
    pub fn verify_pkcs1v15_raw(&self, data: &[u8], signature: &[u8]) -> Result<bool> {
        use rsa::traits::SignatureScheme as _;
        let key = rsa::RsaPublicKey::new_with_max_size(
            BigUint::from_bytes_be(&self.n),
            BigUint::from_bytes_be(&self.e),
            8192,
        )
        .map_err(|_| Error::CryptoFailure)?;
        Ok(rsa::Pkcs1v15Sign::new_unprefixed()
            .verify(&key, data, signature)
            .is_ok())
    }

    /// Encrypts `plaintext` with the given padding.
    pub fn encrypt(&self, padding: RsaPadding, plaintext: &[u8]) -> Result<Vec<u8>> {
        let too_long =
            || Error::bad_parameter("plaintext is too long for this RSA key and padding");
        let mut out = vec![0u8; self.oaep.ciphertext_size()];
        let len = match padding {
            RsaPadding::OaepSha1 | RsaPadding::OaepSha256 => {
                let alg = oaep_alg(padding);
                if plaintext.len() > self.oaep.max_plaintext_size(alg) {
                    return Err(too_long());
                }
                self.oaep
                    .encrypt(alg, plaintext, &mut out, None)
                    .map_err(|_| Error::CryptoFailure)?
                    .len()
            }
            RsaPadding::Pkcs1v15 => {
                if plaintext.len() > self.pkcs1.max_plaintext_size() {
                    return Err(too_long());
                }
                self.pkcs1
                    .encrypt(plaintext, &mut out)
                    .map_err(|_| Error::CryptoFailure)?
                    .len()
            }
        };
        out.truncate(len);
        Ok(out)
    }
}

fn oaep_alg(padding: RsaPadding) -> &'static aws_lc_rs::rsa::OaepAlgorithm {
    match padding {
        RsaPadding::OaepSha256 => &OAEP_SHA256_MGF1SHA256,
        _ => &OAEP_SHA1_MGF1SHA1,
    }
}

/// The private components of an RSA key, as a JWK carries them (`n`, `e` are public).
pub(crate) struct RsaPrivateComponents {
    pub(crate) d: SecretBytes,
    pub(crate) p: SecretBytes,
    pub(crate) q: SecretBytes,
    pub(crate) dp: SecretBytes,
    pub(crate) dq: SecretBytes,
    pub(crate) qi: SecretBytes,
}

/// An RSA private key, prepared for signing and decryption on aws-lc-rs.
pub(crate) struct RsaPrivateKey {
    pkcs8: SecretBytes,
    public: RsaPublicKey,
    signer: KeyPair,
    oaep: OaepPrivateDecryptingKey,
    pkcs1: Pkcs1PrivateDecryptingKey,
}

impl RsaPrivateKey {
    /// Generates a key of `bits` (2048, 3072 or 4096) with public exponent 65537.
    pub(crate) fn generate(bits: usize) -> Result<Self> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            _ => {
                return Err(Error::bad_parameter(format!(
                    "RSA key size must be 2048, 3072 or 4096, not {bits}"
                )))
            }
        };
        let pair = KeyPair::generate(size).map_err(|_| Error::CryptoFailure)?;
        let der: aws_lc_rs::encoding::Pkcs8V1Der<'static> =
            pair.as_der().map_err(|_| Error::CryptoFailure)?;
        Self::from_pkcs8(SecretBytes::from_slice(der.as_ref()))
    }

    /// Builds a key from its JWK components, validating them: the primes multiply to `n`,
    /// `d` inverts `e`, and any CRT values given match the ones computed.
    pub(crate) fn from_components(
        n: &[u8],
        e: &[u8],
        d: &SecretBytes,
        p: &SecretBytes,
        q: &SecretBytes,
        crt: Option<(&SecretBytes, &SecretBytes, &SecretBytes)>,
    ) -> Result<Self> {
        // Cheap checks first: they name the problem, and they keep a malformed or huge key
        // away from the big-number arithmetic below.
        let modulus = strip_leading_zeros(n);
        if modulus.last().is_none_or(|b| b & 1 == 0) {
            return Err(Error::bad_parameter(
                "RSA modulus n must be odd; an even modulus is not an RSA key",
            ));
        }
        let bits = modulus.len() * 8 - modulus[0].leading_zeros() as usize;
        if !SUPPORTED_BITS.contains(&bits) {
            return Err(Error::bad_parameter(format!(
                "RSA key size must be 2048, 3072 or 4096 bits, this key has {bits}"
            )));
        }
        require_import_exponent(e)?;
        let mut members = vec![("d", d), ("p", p), ("q", q)];
        if let Some((dp, dq, qi)) = crt {
            members.extend([("dp", dp), ("dq", dq), ("qi", qi)]);
        }
        for (name, value) in members {
            if strip_leading_zeros(value.expose()).len() > modulus.len() {
                return Err(Error::bad_parameter(format!(
                    "RSA private member {name} is longer than the modulus n"
                )));
            }
        }
        let uint = |b: &[u8]| BigUint::from_bytes_be(b);
        let key = rsa::RsaPrivateKey::from_components(
            uint(n),
            uint(e),
            uint(d.expose()),
            vec![uint(p.expose()), uint(q.expose())],
        )
        .map_err(|_| Error::bad_parameter("RSA key components are inconsistent"))?;
        key.validate()
            .map_err(|_| Error::bad_parameter("RSA key components are inconsistent"))?;
        if let Some((dp, dq, qi)) = crt {
            let ok = key.dp().is_some_and(|v| *v == uint(dp.expose()))
                && key.dq().is_some_and(|v| *v == uint(dq.expose()))
                && key
                    .crt_coefficient()
                    .is_some_and(|v| v == uint(qi.expose()));
            if !ok {
                return Err(Error::bad_parameter(
                    "RSA CRT parameters dp, dq, qi do not match p, q and d",
                ));
            }
        }
        let bits = key.n().bits();
        if !SUPPORTED_BITS.contains(&bits) {
            return Err(Error::bad_parameter(format!(
                "RSA key size must be 2048, 3072 or 4096 bits, this key has {bits}"
            )));
        }
        let der = key
            .to_pkcs8_der()
            .map_err(|_| Error::bad_parameter("RSA key could not be encoded"))?;
        Self::from_pkcs8(SecretBytes::from_slice(der.as_bytes()))
    }

    /// Builds a key from PKCS#8 DER (the sealed form).
    pub(crate) fn from_pkcs8(pkcs8: SecretBytes) -> Result<Self> {
        let rejected = || Error::bad_parameter("RSA private key rejected");
        let signer = KeyPair::from_pkcs8(pkcs8.expose()).map_err(|_| rejected())?;
        let decrypting =
            || PrivateDecryptingKey::from_pkcs8(pkcs8.expose()).map_err(|_| rejected());
        let oaep = OaepPrivateDecryptingKey::new(decrypting()?).map_err(|_| rejected())?;
        let pkcs1 = Pkcs1PrivateDecryptingKey::new(decrypting()?).map_err(|_| rejected())?;
        let public = {
            use aws_lc_rs::signature::KeyPair as _;
            use rsa::pkcs8::DecodePublicKey;
            let spki: PublicKeyX509Der<'static> =
                signer.public_key().as_der().map_err(|_| rejected())?;
            let key =
                rsa::RsaPublicKey::from_public_key_der(spki.as_ref()).map_err(|_| rejected())?;
            RsaPublicKey::from_components(&key.n().to_bytes_be(), &key.e().to_bytes_be())?
        };
        Ok(Self {
            pkcs8,
            public,
            signer,
            oaep,
            pkcs1,
        })
    }

    /// Reads a PKCS#8 RSA key from outside (a certificate import), refusing the sizes Key
    /// Vault does not offer before aws-lc-rs sees it. Reading the modulus is a parse, not a
    /// private-key operation.
    pub(crate) fn from_imported_pkcs8(der: &[u8]) -> Result<Self> {
        use rsa::pkcs1::der::Decode as _;
        let malformed = || Error::bad_parameter("the PKCS#8 RSA private key is malformed");
        let info = rsa::pkcs8::PrivateKeyInfo::try_from(der).map_err(|_| malformed())?;
        let key = rsa::pkcs1::RsaPrivateKey::from_der(info.private_key).map_err(|_| malformed())?;
        let n = strip_leading_zeros(key.modulus.as_bytes());
        let bits = n
            .first()
            .map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize);
        if !SUPPORTED_BITS.contains(&bits) {
            return Err(Error::bad_parameter(format!(
                "RSA key size must be 2048, 3072 or 4096 bits, this key has {bits}"
            )));
        }
        require_import_exponent(key.public_exponent.as_bytes())?;
        Self::from_pkcs8(SecretBytes::from_slice(der))
    }

    /// Reads a PKCS#1 `RSAPrivateKey` (PEM `RSA PRIVATE KEY`) by wrapping it in PKCS#8.
    pub(crate) fn from_pkcs1_der(der: &[u8]) -> Result<Self> {
        use rsa::pkcs8::der::Encode as _;
        let info = rsa::pkcs8::PrivateKeyInfo::new(rsa::pkcs1::ALGORITHM_ID, der);
        // `to_der` sizes its buffer before writing, so no partial copy is left behind.
        let wrapped = zeroize::Zeroizing::new(
            info.to_der()
                .map_err(|_| Error::bad_parameter("the RSA PRIVATE KEY is malformed"))?,
        );
        Self::from_imported_pkcs8(&wrapped)
    }

    pub(crate) fn public(&self) -> &RsaPublicKey {
        &self.public
    }

    pub(crate) fn pkcs8(&self) -> &SecretBytes {
        &self.pkcs8
    }

    /// The private components, for export of an exportable key.
    pub(crate) fn components(&self) -> Result<RsaPrivateComponents> {
        let key = rsa::RsaPrivateKey::from_pkcs8_der(self.pkcs8.expose())
            .map_err(|_| Error::CryptoFailure)?;
        let secret = |v: &BigUint| SecretBytes::new(v.to_bytes_be());
        let primes = key.primes();
        if primes.len() != 2 {
            return Err(Error::CryptoFailure);
        }
        let missing = || Error::CryptoFailure;
        Ok(RsaPrivateComponents {
            d: secret(key.d()),
            p: secret(&primes[0]),
            q: secret(&primes[1]),
            dp: secret(key.dp().ok_or_else(missing)?),
            dq: secret(key.dq().ok_or_else(missing)?),
            qi: secret(&key.crt_coefficient().ok_or_else(missing)?),
        })
    }

    /// Signs `digest` with PKCS#1 v1.5 or PSS (salt length = digest length).
    pub(crate) fn sign_digest(&self, alg: SignatureAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
        let scheme = scheme(alg)?;
        let digest = import_digest(alg, digest)?;
        let mut sig = vec![0u8; self.signer.public_modulus_len()];
        self.signer
            .sign_digest(scheme.signing, &digest, &mut sig)
            .map_err(|_| Error::CryptoFailure)?;
        Ok(sig)
    }

    /// Signs `data` as given with RSASSA-PKCS1-v1_5 padding and no hash of its own (PKCS#11's
    /// `CKM_RSA_PKCS`: the caller supplies the DigestInfo, of any hash). On aws-lc, constant
    /// time, through `localhsm-rsa-raw`: aws-lc-rs signs SHA-2 DigestInfos only.
    pub(crate) fn sign_pkcs1v15_raw(&self, data: &[u8]) -> Result<Vec<u8>> {
        localhsm_rsa_raw::sign_pkcs1v15(self.pkcs8.expose(), data).map_err(|e| match e {
            localhsm_rsa_raw::Error::DataTooLong { .. } => Error::bad_parameter(e.to_string()),
            _ => Error::CryptoFailure,
        })
    }

    /// Decrypts `ciphertext`. Every failure is the same opaque error.
    pub(crate) fn decrypt(&self, padding: RsaPadding, ciphertext: &[u8]) -> Result<SecretBytes> {
        let size = self.oaep.key_size_bytes();
        if ciphertext.len() != size {
            return Err(Error::bad_parameter(format!(
                "ciphertext must be {size} bytes for this RSA key, got {}",
                ciphertext.len()
            )));
        }
        let mut out = zeroize::Zeroizing::new(vec![0u8; size]);
        let len = match padding {
            RsaPadding::OaepSha1 | RsaPadding::OaepSha256 => self
                .oaep
                .decrypt(oaep_alg(padding), ciphertext, &mut out, None)
                .map_err(|_| Error::CryptoFailure)?
                .len(),
            RsaPadding::Pkcs1v15 => self
                .pkcs1
                .decrypt(ciphertext, &mut out)
                .map_err(|_| Error::CryptoFailure)?
                .len(),
        };
        out.truncate(len);
        Ok(SecretBytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::alg::HashAlg;

    #[test]
    fn each_algorithm_verifies_with_its_own_parsed_key() {
        use SignatureAlgorithm::*;
        let key = RsaPrivateKey::generate(2048).unwrap();
        let algs = [RS256, RS384, RS512, PS256, PS384, PS512];
        for alg in algs {
            let digest = alg.hash().digest(b"rsa verify");
            let sig = key.sign_digest(alg, &digest).unwrap();
            // Twice: the second call takes the parsed key cached by the first.
            for _ in 0..2 {
                assert!(
                    key.public().verify_digest(alg, &digest, &sig).unwrap(),
                    "{alg}"
                );
            }
            for other in algs.into_iter().filter(|&o| o != alg) {
                let digest = other.hash().digest(b"rsa verify");
                assert!(
                    !key.public().verify_digest(other, &digest, &sig).unwrap(),
                    "{alg} signature accepted as {other}"
                );
            }
        }
        assert!(matches!(
            key.public()
                .verify_digest(ES256, &HashAlg::Sha256.digest(b"x"), &[0; 256]),
            Err(Error::AlgorithmNotSupported { .. })
        ));
    }

    #[test]
    fn raw_pkcs1_over_a_sha2_digest_info_is_the_rs_signature() {
        use sha2::{Sha256, Sha384, Sha512};
        use SignatureAlgorithm::*;
        let key = RsaPrivateKey::generate(2048).unwrap();
        // RustCrypto's DigestInfo prefixes, built from each hash's OID, not from this crate.
        let cases = [
            (RS256, rsa::Pkcs1v15Sign::new::<Sha256>().prefix),
            (RS384, rsa::Pkcs1v15Sign::new::<Sha384>().prefix),
            (RS512, rsa::Pkcs1v15Sign::new::<Sha512>().prefix),
        ];
        for (alg, prefix) in cases {
            let digest = alg.hash().digest(b"raw pkcs1");
            let info = [&prefix[..], &digest].concat();
            let raw = key.sign_pkcs1v15_raw(&info).unwrap();
            // PKCS#1 v1.5 is deterministic: the same key over the same DigestInfo gives the
            // same bytes as aws-lc-rs's own RS* path.
            assert_eq!(raw, key.sign_digest(alg, &digest).unwrap(), "{alg}");
            assert!(key.public().verify_pkcs1v15_raw(&info, &raw).unwrap());
        }
    }

    #[test]
    fn raw_pkcs1_signs_a_sha1_digest_info_that_aws_lc_verifies_over_the_message() {
        use sha1::Digest as _;
        let key = RsaPrivateKey::generate(2048).unwrap();
        let message = b"signed the way pkcs11-tool --test signs";
        // RFC 8017, section 9.2, note 1: the DER prefix of a SHA-1 DigestInfo.
        let prefix = hex::decode("3021300906052b0e03021a05000414").unwrap();
        let info = [&prefix[..], &sha1::Sha1::digest(message)[..]].concat();
        let sig = key.sign_pkcs1v15_raw(&info).unwrap();
        assert_eq!(sig.len(), 256);
        // aws-lc hashes the message and builds its own DigestInfo to check this.
        let public = lc::UnparsedPublicKey::new(
            &lc::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            key.public().spki.clone(),
        );
        public.verify(message, &sig).unwrap();
        assert!(key.public().verify_pkcs1v15_raw(&info, &sig).unwrap());
        let mut bad = sig.clone();
        bad[100] ^= 1;
        assert!(!key.public().verify_pkcs1v15_raw(&info, &bad).unwrap());
        assert!(!key.public().verify_pkcs1v15_raw(&info[1..], &sig).unwrap());
    }

    #[test]
    fn raw_pkcs1_takes_up_to_the_modulus_less_eleven_bytes() {
        let key = RsaPrivateKey::generate(2048).unwrap();
        let longest = vec![0x5a; 256 - 11];
        let sig = key.sign_pkcs1v15_raw(&longest).unwrap();
        assert!(key.public().verify_pkcs1v15_raw(&longest, &sig).unwrap());
        let err = key.sign_pkcs1v15_raw(&[0x5a; 256 - 10]).unwrap_err();
        assert!(
            matches!(&err, Error::BadParameter(m) if m.contains("at most 245 bytes")),
            "{err:?}"
        );
        // Empty data is still a well-defined signature (all padding).
        let sig = key.sign_pkcs1v15_raw(&[]).unwrap();
        assert!(key.public().verify_pkcs1v15_raw(&[], &sig).unwrap());
    }
}
