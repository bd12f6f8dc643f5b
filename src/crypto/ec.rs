//! Elliptic-curve keys: ECDSA over a caller-supplied digest, signatures in Key Vault's raw
//! `r||s` form.
//!
//! Signing runs on aws-lc-rs (`EcdsaKeyPair::sign_digest`: constant time, OpenSSL's speed)
//! for the NIST curves, and on libsecp256k1 (the `secp256k1` crate) for secp256k1, where
//! aws-lc has only its generic, several times slower, curve code. libsecp256k1 signs with an
//! RFC 6979 nonce and always returns the low-S form, which every verifier accepts.
//! Verification runs on aws-lc-rs for every curve and accepts high-S signatures from other
//! signers, as the Wycheproof `ecdsa_secp256k1_sha256` vectors require (strict low-S
//! verifiers such as `k256` and libsecp256k1 reject them).
//! Curve arithmetic for validation (scalar range, point on curve, public key from private)
//! uses the RustCrypto curve crates, independently of the backends.

use std::sync::OnceLock;

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::signature::{
    self as lc, EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm, KeyPair as _,
    ParsedPublicKey,
};

use super::alg::{CurveName, SignatureAlgorithm};
use super::secret::SecretBytes;
use crate::error::{Error, Result};

/// The libsecp256k1 signing context: built and blinded (`seeded_randomize`, a side-channel
/// counter-measure) once per process; signing only reads it.
fn secp256k1_context() -> Result<&'static secp256k1::Secp256k1<secp256k1::SignOnly>> {
    static CONTEXT: OnceLock<secp256k1::Secp256k1<secp256k1::SignOnly>> = OnceLock::new();
    if let Some(ctx) = CONTEXT.get() {
        return Ok(ctx);
    }
    let mut ctx = secp256k1::Secp256k1::signing_only();
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    super::random::fill_random(seed.as_mut_slice())?;
    ctx.seeded_randomize(&seed);
    // Two threads may both get here; either context serves.
    Ok(CONTEXT.get_or_init(|| ctx))
}

fn signing_alg(curve: CurveName) -> &'static EcdsaSigningAlgorithm {
    match curve {
        CurveName::P256 => &lc::ECDSA_P256_SHA256_FIXED_SIGNING,
        CurveName::P384 => &lc::ECDSA_P384_SHA384_FIXED_SIGNING,
        CurveName::P521 => &lc::ECDSA_P521_SHA512_FIXED_SIGNING,
        CurveName::P256K => &lc::ECDSA_P256K1_SHA256_FIXED_SIGNING,
    }
}

fn verification_alg(curve: CurveName, der: bool) -> &'static EcdsaVerificationAlgorithm {
    match (curve, der) {
        (CurveName::P256, false) => &lc::ECDSA_P256_SHA256_FIXED,
        (CurveName::P384, false) => &lc::ECDSA_P384_SHA384_FIXED,
        (CurveName::P521, false) => &lc::ECDSA_P521_SHA512_FIXED,
        (CurveName::P256K, false) => &lc::ECDSA_P256K1_SHA256_FIXED,
        (CurveName::P256, true) => &lc::ECDSA_P256_SHA256_ASN1,
        (CurveName::P384, true) => &lc::ECDSA_P384_SHA384_ASN1,
        (CurveName::P521, true) => &lc::ECDSA_P521_SHA512_ASN1,
        (CurveName::P256K, true) => &lc::ECDSA_P256K1_SHA256_ASN1,
    }
}

/// The aws-lc-rs digest algorithm for a hash.
pub(crate) fn lc_digest_alg(hash: super::alg::HashAlg) -> &'static digest::Algorithm {
    match hash {
        super::alg::HashAlg::Sha256 => &digest::SHA256,
        super::alg::HashAlg::Sha384 => &digest::SHA384,
        super::alg::HashAlg::Sha512 => &digest::SHA512,
    }
}

/// Checks a caller's digest length against the algorithm.
fn check_digest(alg: SignatureAlgorithm, digest: &[u8]) -> Result<()> {
    let len = alg.hash().output_len();
    if digest.len() != len {
        return Err(Error::bad_parameter(format!(
            "digest must be {len} bytes for {alg}, got {}",
            digest.len()
        )));
    }
    Ok(())
}

/// Wraps a caller's digest after checking its length against the algorithm.
pub(crate) fn import_digest(alg: SignatureAlgorithm, digest: &[u8]) -> Result<Digest> {
    check_digest(alg, digest)?;
    Digest::import_less_safe(digest, lc_digest_alg(alg.hash())).map_err(|_| Error::CryptoFailure)
}

macro_rules! per_curve {
    ($curve:expr, $krate:ident => $body:expr) => {
        match $curve {
            CurveName::P256 => {
                use p256 as $krate;
                $body
            }
            CurveName::P384 => {
                use p384 as $krate;
                $body
            }
            CurveName::P521 => {
                use p521 as $krate;
                $body
            }
            CurveName::P256K => {
                use k256 as $krate;
                $body
            }
        }
    };
}

/// The uncompressed SEC1 point (`04||x||y`) for private scalar `d`, which must be a valid,
/// non-zero scalar of exactly the curve's length.
fn public_point_of(curve: CurveName, d: &[u8]) -> Result<Vec<u8>> {
    let bad = || Error::bad_parameter(format!("EC private key d is not a valid {curve} scalar"));
    if d.len() != curve.scalar_len() {
        return Err(bad());
    }
    per_curve!(curve, c => {
        use c::elliptic_curve::sec1::ToEncodedPoint;
        let sk = c::SecretKey::from_slice(d).map_err(|_| bad())?;
        Ok(sk.public_key().to_encoded_point(false).as_bytes().to_vec())
    })
}

/// Checks that `04||x||y` is a point on the curve (and not the identity).
fn validate_point(curve: CurveName, point: &[u8]) -> Result<()> {
    per_curve!(curve, c => {
        c::PublicKey::from_sec1_bytes(point)
            .map(|_| ())
            .map_err(|_| Error::bad_parameter(format!("EC public key is not a point on {curve}")))
    })
}

/// Moves a curve crate's scalar bytes into a [`SecretBytes`], erasing the copy.
fn scalar_of<N: p256::elliptic_curve::generic_array::ArrayLength<u8>>(
    mut bytes: p256::elliptic_curve::generic_array::GenericArray<u8, N>,
) -> SecretBytes {
    use zeroize::Zeroize as _;
    let d = SecretBytes::from_slice(bytes.as_slice());
    bytes.as_mut_slice().zeroize();
    d
}

/// An EC public key prepared for verification.
pub struct EcPublicKey {
    curve: CurveName,
    point: Vec<u8>,
    verifier: ParsedPublicKey,
}

impl std::fmt::Debug for EcPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcPublicKey")
            .field("curve", &self.curve)
            .finish()
    }
}

impl EcPublicKey {
    /// Builds a public key from its affine coordinates, checking the point is on the curve.
    pub fn from_coordinates(curve: CurveName, x: &[u8], y: &[u8]) -> Result<Self> {
        let n = curve.scalar_len();
        if x.len() != n || y.len() != n {
            return Err(Error::bad_parameter(format!(
                "EC public key coordinates must be {n} bytes each for {curve}"
            )));
        }
        let mut point = Vec::with_capacity(1 + 2 * n);
        point.push(4);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        Self::from_sec1(curve, point)
    }

    /// Builds a public key from an uncompressed SEC1 point.
    pub fn from_sec1(curve: CurveName, point: Vec<u8>) -> Result<Self> {
        validate_point(curve, &point)?;
        let verifier = ParsedPublicKey::new(verification_alg(curve, false), &point)
            .map_err(|_| Error::bad_parameter(format!("EC public key rejected for {curve}")))?;
        Ok(Self {
            curve,
            point,
            verifier,
        })
    }

    /// The curve.
    pub fn curve(&self) -> CurveName {
        self.curve
    }

    /// The x coordinate.
    pub fn x(&self) -> &[u8] {
        &self.point[1..1 + self.curve.scalar_len()]
    }

    /// The y coordinate.
    pub fn y(&self) -> &[u8] {
        &self.point[1 + self.curve.scalar_len()..]
    }

    fn check_alg(&self, alg: SignatureAlgorithm) -> Result<()> {
        if alg.curve() != Some(self.curve) {
            return Err(Error::AlgorithmNotSupported {
                alg: alg.to_string(),
                what: format!("an EC {} key", self.curve),
            });
        }
        Ok(())
    }

    /// Verifies a raw `r||s` signature over `digest`. `Ok(false)` when it does not verify.
    pub fn verify_digest(
        &self,
        alg: SignatureAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<bool> {
        self.verify(alg, digest, signature, false)
    }

    /// Verifies a DER (ASN.1) signature over `digest`; for test vectors in that form.
    pub fn verify_digest_der(
        &self,
        alg: SignatureAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<bool> {
        self.verify(alg, digest, signature, true)
    }

    fn verify(
        &self,
        alg: SignatureAlgorithm,
        digest: &[u8],
        signature: &[u8],
        der: bool,
    ) -> Result<bool> {
        self.check_alg(alg)?;
        let digest = import_digest(alg, digest)?;
        let verified = if der {
            lc::UnparsedPublicKey::new(verification_alg(self.curve, true), &self.point)
                .verify_digest(&digest, signature)
        } else {
            self.verifier.verify_digest_sig(&digest, signature)
        };
        Ok(verified.is_ok())
    }
}

/// An EC private key, prepared for signing.
pub(crate) struct EcPrivateKey {
    d: SecretBytes,
    public: EcPublicKey,
    signer: Signer,
}

/// The signing backend of a curve.
enum Signer {
    /// P-256, P-384, P-521.
    AwsLc(EcdsaKeyPair),
    /// secp256k1. The scalar stays only in `d` (zeroized on drop): the crate's `SecretKey`
    /// is `Copy` and never erased by itself, so each signature builds one from `d` (a range
    /// check, tens of nanoseconds against tens of microseconds for the signature) and
    /// erases it after use.
    Secp256k1,
}

impl Signer {
    fn new(curve: CurveName, d: &[u8], point: &[u8]) -> Result<Self> {
        let rejected = || Error::bad_parameter(format!("EC private key rejected for {curve}"));
        if curve == CurveName::P256K {
            secp256k1::SecretKey::from_slice(d)
                .map_err(|_| rejected())?
                .non_secure_erase();
            return Ok(Signer::Secp256k1);
        }
        EcdsaKeyPair::from_private_key_and_public_key(signing_alg(curve), d, point)
            .map(Signer::AwsLc)
            .map_err(|_| rejected())
    }
}

impl EcPrivateKey {
    /// Generates a fresh key on `curve`.
    pub(crate) fn generate(curve: CurveName) -> Result<Self> {
        let pair = EcdsaKeyPair::generate(signing_alg(curve)).map_err(|_| Error::CryptoFailure)?;
        let d = pair
            .private_key()
            .as_be_bytes()
            .map_err(|_| Error::CryptoFailure)?;
        let d = SecretBytes::from_slice(d.as_ref());
        let public = EcPublicKey::from_sec1(curve, pair.public_key().as_ref().to_vec())?;
        let signer = match curve {
            CurveName::P256K => Signer::new(curve, d.expose(), &public.point)?,
            _ => Signer::AwsLc(pair),
        };
        Ok(Self { d, public, signer })
    }

    /// Builds a key from its private scalar, checking it against `(x, y)` when given.
    pub(crate) fn from_scalar(
        curve: CurveName,
        d: SecretBytes,
        xy: Option<(&[u8], &[u8])>,
    ) -> Result<Self> {
        if let Some((x, y)) = xy {
            // A point off the curve is named as such, before it is compared with `d`.
            EcPublicKey::from_coordinates(curve, x, y)?;
        }
        let point = public_point_of(curve, d.expose())?;
        let public = EcPublicKey::from_sec1(curve, point)?;
        if let Some((x, y)) = xy {
            if x != public.x() || y != public.y() {
                return Err(Error::bad_parameter(
                    "EC key is inconsistent: x and y do not match the private key d",
                ));
            }
        }
        let signer = Signer::new(curve, d.expose(), &public.point)?;
        Ok(Self { d, public, signer })
    }

    pub(crate) fn curve(&self) -> CurveName {
        self.public.curve
    }

    pub(crate) fn public(&self) -> &EcPublicKey {
        &self.public
    }

    pub(crate) fn scalar(&self) -> &SecretBytes {
        &self.d
    }

    /// The key as PKCS#8 DER (`PRIVATE KEY`), with its public point, as OpenSSL writes it.
    pub(crate) fn to_pkcs8_der(&self) -> Result<SecretBytes> {
        per_curve!(self.curve(), c => {
            use c::pkcs8::EncodePrivateKey;
            // SecretKey erases itself on drop, and the document is zeroized too.
            let key = c::SecretKey::from_slice(self.d.expose()).map_err(|_| Error::CryptoFailure)?;
            let doc = key.to_pkcs8_der().map_err(|_| Error::CryptoFailure)?;
            Ok(SecretBytes::from_slice(doc.as_bytes()))
        })
    }

    /// Reads the private key of a PKCS#8 `PrivateKeyInfo` for `curve` (the caller has read
    /// the curve from its algorithm parameters).
    pub(crate) fn from_pkcs8_der(curve: CurveName, der: &[u8]) -> Result<Self> {
        let d = per_curve!(curve, c => {
            use c::pkcs8::DecodePrivateKey;
            let key = c::SecretKey::from_pkcs8_der(der).map_err(|_| {
                Error::bad_parameter(format!("the PKCS#8 EC private key is not a valid {curve} key"))
            })?;
            scalar_of(key.to_bytes())
        });
        Self::from_scalar(curve, d, None)
    }

    /// Reads a SEC1 `ECPrivateKey` (PEM `EC PRIVATE KEY`). The curve comes from its
    /// parameters; a key that names none is tried on each curve in turn and taken by the first
    /// that accepts it (and its public key, when present), so a bare P-256 or secp256k1 scalar
    /// without parameters or public key reads as P-256.
    pub(crate) fn from_sec1_der(der: &[u8]) -> Result<Self> {
        for curve in [
            CurveName::P256,
            CurveName::P384,
            CurveName::P521,
            CurveName::P256K,
        ] {
            let d = per_curve!(curve, c => {
                c::SecretKey::from_sec1_der(der).ok().map(|key| scalar_of(key.to_bytes()))
            });
            if let Some(d) = d {
                return Self::from_scalar(curve, d, None);
            }
        }
        Err(Error::bad_parameter(
            "the EC PRIVATE KEY is not a SEC1 key on P-256, P-384, P-521 or secp256k1",
        ))
    }

    /// Signs `digest`, returning `r||s`.
    pub(crate) fn sign_digest(&self, alg: SignatureAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
        self.public.check_alg(alg)?;
        match &self.signer {
            Signer::AwsLc(pair) => {
                let digest = import_digest(alg, digest)?;
                let sig = pair
                    .sign_digest(&digest)
                    .map_err(|_| Error::CryptoFailure)?;
                Ok(sig.as_ref().to_vec())
            }
            Signer::Secp256k1 => {
                check_digest(alg, digest)?;
                let msg = secp256k1::Message::from_digest_slice(digest)
                    .map_err(|_| Error::CryptoFailure)?;
                let mut key = secp256k1::SecretKey::from_slice(self.d.expose())
                    .map_err(|_| Error::CryptoFailure)?;
                let sig = secp256k1_context()?.sign_ecdsa(&msg, &key);
                key.non_secure_erase();
                Ok(sig.serialize_compact().to_vec())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
    use k256::ecdsa::{Signature as K256Signature, SigningKey, VerifyingKey};

    use super::*;

    fn k256_verifier(key: &EcPrivateKey) -> VerifyingKey {
        VerifyingKey::from_sec1_bytes(&key.public().point).unwrap()
    }

    #[test]
    fn es256k_signs_as_rfc6979_with_low_s() {
        let key = EcPrivateKey::generate(CurveName::P256K).unwrap();
        let digest = crate::crypto::HashAlg::Sha256.digest(b"es256k");
        let sig = key
            .sign_digest(SignatureAlgorithm::ES256K, &digest)
            .unwrap();
        // k256 signs by RFC 6979 too and normalizes to low S: the same bytes.
        let expected: K256Signature = SigningKey::from_slice(key.scalar().expose())
            .unwrap()
            .sign_prehash(&digest)
            .unwrap();
        assert_eq!(sig, expected.to_bytes().to_vec());
        // k256 refuses high S, so this also shows the signature is low-S.
        let parsed = K256Signature::from_slice(&sig).unwrap();
        assert!(k256_verifier(&key).verify_prehash(&digest, &parsed).is_ok());
        assert!(key
            .public()
            .verify_digest(SignatureAlgorithm::ES256K, &digest, &sig)
            .unwrap());
    }

    #[test]
    fn es256k_verification_accepts_high_s() {
        let key = EcPrivateKey::generate(CurveName::P256K).unwrap();
        let digest = crate::crypto::HashAlg::Sha256.digest(b"high s");
        let low = K256Signature::from_slice(
            &key.sign_digest(SignatureAlgorithm::ES256K, &digest)
                .unwrap(),
        )
        .unwrap();
        let (r, s) = low.split_scalars();
        let high = K256Signature::from_scalars(r, -*s).unwrap();
        assert!(k256_verifier(&key).verify_prehash(&digest, &high).is_err());
        let public = key.public();
        assert!(public
            .verify_digest(SignatureAlgorithm::ES256K, &digest, &high.to_bytes())
            .unwrap());
        let mut other = digest.clone();
        other[0] ^= 1;
        assert!(!public
            .verify_digest(SignatureAlgorithm::ES256K, &other, &high.to_bytes())
            .unwrap());
    }
}
