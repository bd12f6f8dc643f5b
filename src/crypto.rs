//! Key material and the algorithms that run on it.
//!
//! Layer: base. Imports only [`crate::error`] (and, for certificate dates,
//! [`crate::clock::UnixTime`]); knows nothing of storage, vaults or HTTP. Its
//! child modules import one another (`alg` and `secret` at the bottom) but never this file,
//! which only assembles them. Private material lives in [`SecretBytes`] (zeroized on drop)
//! or in backend key objects that wipe themselves, and never appears in `Debug` output.
//!
//! Backends, chosen per operation (see README, "Why these crates"):
//! - aws-lc-rs: every private-key operation (ECDSA and RSA sign over a digest, RSA decrypt)
//!   except secp256k1 signing, every verification, RSA public operations, EC and RSA key
//!   generation.
//! - libsecp256k1 (the `secp256k1` crate): ES256K signing, several times faster than
//!   aws-lc's generic code for that curve.
//! - RustCrypto `p256`/`p384`/`p521`/`k256` and `rsa`: validation of imported keys.
//! - RustCrypto `aes-gcm`, `aes-kw`, `cbc`: oct keys.
//! - ring: the system CSPRNG.
//! - rcgen (writing) and x509-parser (reading): X.509 certificates and CSRs, signed by the
//!   backends above through [`x509`]; RustCrypto `pkcs12`/`cms`/`pkcs5`: PFX files.

pub mod alg;
pub mod ec;
pub mod jwk;
pub(crate) mod oct;
pub mod pin;
pub(crate) mod pkcs12;
pub(crate) mod random;
pub mod rsa;
pub mod secret;
pub mod x509;

pub use self::rsa::RsaPublicKey;
pub(crate) use alg::unsupported;
pub use alg::{AesParams, Encrypted};
pub use alg::{
    CurveName, EncryptionAlgorithm, HashAlg, KeyFamily, KeyOperation, KeyType, SignatureAlgorithm,
    WrapAlgorithm,
};
use alg::{EncryptionScheme, WrapScheme, RAW_PKCS1};
pub use ec::EcPublicKey;
pub use jwk::{Base64Url, Jwk, SecretBase64Url};
pub use random::{random_bytes, random_guid};
pub use secret::{SecretBytes, SecretString};

use crate::error::{Error, Result};

/// What kind of key to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySpec {
    /// An EC key on a curve.
    Ec(CurveName),
    /// An RSA key of this many bits, public exponent 65537.
    Rsa(usize),
    /// An AES key of this many bits.
    Oct(usize),
}

/// A public key, for verifying and encrypting without the private part (test vectors,
/// cross-checks).
#[derive(Debug)]
pub enum PublicKey {
    /// EC public key.
    Ec(EcPublicKey),
    /// RSA public key.
    Rsa(RsaPublicKey),
}

impl PublicKey {
    /// Reads the public members of a JWK.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self> {
        match jwk.kty.map(KeyType::family) {
            Some(KeyFamily::Ec) => {
                let crv = jwk.crv.ok_or_else(|| missing("crv"))?;
                let x = jwk.x.as_ref().ok_or_else(|| missing("x"))?;
                let y = jwk.y.as_ref().ok_or_else(|| missing("y"))?;
                Ok(PublicKey::Ec(EcPublicKey::from_coordinates(
                    crv, &x.0, &y.0,
                )?))
            }
            Some(KeyFamily::Rsa) => {
                let n = jwk.n.as_ref().ok_or_else(|| missing("n"))?;
                let e = jwk.e.as_ref().ok_or_else(|| missing("e"))?;
                Ok(PublicKey::Rsa(RsaPublicKey::from_components(&n.0, &e.0)?))
            }
            Some(KeyFamily::Oct) => Err(Error::bad_parameter("an oct key has no public part")),
            None => Err(missing("kty")),
        }
    }

    /// Verifies a signature over `digest` (raw `r||s` for ECDSA).
    pub fn verify_digest(
        &self,
        alg: SignatureAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<bool> {
        match self {
            PublicKey::Ec(k) => k.verify_digest(alg, digest, signature),
            PublicKey::Rsa(k) => k.verify_digest(alg, digest, signature),
        }
    }

    /// Encrypts with an RSA public key.
    pub fn encrypt(&self, alg: EncryptionAlgorithm, plaintext: &[u8]) -> Result<Vec<u8>> {
        match (self, alg.scheme()) {
            (PublicKey::Rsa(k), EncryptionScheme::Rsa(padding)) => k.encrypt(padding, plaintext),
            _ => Err(unsupported(alg, "this public key")),
        }
    }
}

fn missing(field: &str) -> Error {
    Error::bad_parameter(format!("JWK member {field} is required"))
}

fn secret_member<'a>(m: &'a Option<SecretBase64Url>, name: &str) -> Result<&'a SecretBytes> {
    m.as_ref().map(|s| &s.0).ok_or_else(|| missing(name))
}

/// Private key material with its backends prepared. Lives only in memory, zeroized on drop;
/// on disk it exists only sealed.
pub(crate) enum KeyMaterial {
    Ec(ec::EcPrivateKey),
    Rsa(self::rsa::RsaPrivateKey),
    // Boxed: the expanded AES schedules make this variant several times larger.
    Oct(Box<oct::OctKey>),
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyMaterial({:?}, [REDACTED])", self.spec())
    }
}

/// Tags of the sealed encoding: one byte of family (and curve), then the secret.
const SEAL_EC: u8 = 1;
const SEAL_RSA: u8 = 2;
const SEAL_OCT: u8 = 3;

impl KeyMaterial {
    pub(crate) fn generate(spec: KeySpec) -> Result<Self> {
        Ok(match spec {
            KeySpec::Ec(curve) => KeyMaterial::Ec(ec::EcPrivateKey::generate(curve)?),
            KeySpec::Rsa(bits) => KeyMaterial::Rsa(self::rsa::RsaPrivateKey::generate(bits)?),
            KeySpec::Oct(bits) => KeyMaterial::Oct(Box::new(oct::OctKey::generate(bits)?)),
        })
    }

    /// Reads a JWK with its private members, validating it.
    pub(crate) fn from_jwk(jwk: &Jwk) -> Result<Self> {
        if jwk.key_hsm.is_some() {
            return Err(Error::bad_parameter(
                "BYOK key transfer (key_hsm) is not supported; import the JWK's private members",
            ));
        }
        match jwk.kty.map(KeyType::family) {
            Some(KeyFamily::Ec) => {
                let crv = jwk.crv.ok_or_else(|| missing("crv"))?;
                let d = secret_member(&jwk.d, "d")?;
                let xy = match (&jwk.x, &jwk.y) {
                    (Some(x), Some(y)) => Some((x.0.as_slice(), y.0.as_slice())),
                    (None, None) => None,
                    _ => return Err(missing("x and y")),
                };
                Ok(KeyMaterial::Ec(ec::EcPrivateKey::from_scalar(
                    crv,
                    d.duplicate(),
                    xy,
                )?))
            }
            Some(KeyFamily::Rsa) => {
                let n = jwk.n.as_ref().ok_or_else(|| missing("n"))?;
                let e = jwk.e.as_ref().ok_or_else(|| missing("e"))?;
                let d = secret_member(&jwk.d, "d")?;
                let p = secret_member(&jwk.p, "p")?;
                let q = secret_member(&jwk.q, "q")?;
                let crt = match (&jwk.dp, &jwk.dq, &jwk.qi) {
                    (Some(dp), Some(dq), Some(qi)) => Some((&dp.0, &dq.0, &qi.0)),
                    (None, None, None) => None,
                    _ => return Err(missing("dp, dq and qi (all or none)")),
                };
                Ok(KeyMaterial::Rsa(self::rsa::RsaPrivateKey::from_components(
                    &n.0, &e.0, d, p, q, crt,
                )?))
            }
            Some(KeyFamily::Oct) => {
                let k = secret_member(&jwk.k, "k")?;
                Ok(KeyMaterial::Oct(Box::new(oct::OctKey::from_bytes(
                    k.duplicate(),
                )?)))
            }
            None => Err(missing("kty")),
        }
    }

    pub(crate) fn spec(&self) -> KeySpec {
        match self {
            KeyMaterial::Ec(k) => KeySpec::Ec(k.curve()),
            KeyMaterial::Rsa(k) => KeySpec::Rsa(k.public().bits()),
            KeyMaterial::Oct(k) => KeySpec::Oct(k.len() * 8),
        }
    }

    pub(crate) fn family(&self) -> KeyFamily {
        match self {
            KeyMaterial::Ec(_) => KeyFamily::Ec,
            KeyMaterial::Rsa(_) => KeyFamily::Rsa,
            KeyMaterial::Oct(_) => KeyFamily::Oct,
        }
    }

    /// The public JWK (for oct keys: only `kty`).
    pub(crate) fn public_jwk(&self) -> Jwk {
        match self {
            KeyMaterial::Ec(k) => Jwk {
                kty: Some(KeyType::Ec),
                crv: Some(k.curve()),
                x: Some(Base64Url(k.public().x().to_vec())),
                y: Some(Base64Url(k.public().y().to_vec())),
                ..Jwk::default()
            },
            KeyMaterial::Rsa(k) => Jwk {
                kty: Some(KeyType::Rsa),
                n: Some(Base64Url(k.public().n().to_vec())),
                e: Some(Base64Url(k.public().e().to_vec())),
                ..Jwk::default()
            },
            KeyMaterial::Oct(_) => Jwk {
                kty: Some(KeyType::Oct),
                ..Jwk::default()
            },
        }
    }

    /// The JWK with private members. Only the export path of an exportable key calls this.
    pub(crate) fn private_jwk(&self) -> Result<Jwk> {
        let s = |b: &SecretBytes| Some(SecretBase64Url(b.duplicate()));
        let mut jwk = self.public_jwk();
        match self {
            KeyMaterial::Ec(k) => jwk.d = s(k.scalar()),
            KeyMaterial::Rsa(k) => {
                let c = k.components()?;
                jwk.d = s(&c.d);
                jwk.p = s(&c.p);
                jwk.q = s(&c.q);
                jwk.dp = s(&c.dp);
                jwk.dq = s(&c.dq);
                jwk.qi = s(&c.qi);
            }
            KeyMaterial::Oct(k) => jwk.k = s(k.bytes()),
        }
        Ok(jwk)
    }

    /// The private key as PKCS#8 DER (`PRIVATE KEY`), for certificates' PFX and PEM forms.
    /// EC (every curve) and RSA; an oct key has none.
    pub(crate) fn to_pkcs8_der(&self) -> Result<SecretBytes> {
        match self {
            KeyMaterial::Ec(k) => k.to_pkcs8_der(),
            KeyMaterial::Rsa(k) => Ok(k.pkcs8().duplicate()),
            KeyMaterial::Oct(_) => Err(Error::bad_parameter("an oct key has no PKCS#8 form")),
        }
    }

    /// Reads a PKCS#8 `PrivateKeyInfo` (unencrypted): an EC key on P-256, P-384, P-521 or
    /// secp256k1, or an RSA key of 2048, 3072 or 4096 bits.
    pub(crate) fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        use p256::pkcs8::{ObjectIdentifier as Oid, PrivateKeyInfo};
        const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
        const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
        let info = PrivateKeyInfo::try_from(der).map_err(|_| {
            Error::bad_parameter("the private key is not PKCS#8 DER (PrivateKeyInfo)")
        })?;
        match info.algorithm.oid {
            EC_PUBLIC_KEY => {
                let curve = match info.algorithm.parameters_oid().map(|o| o.to_string()) {
                    Ok(o) if o == "1.2.840.10045.3.1.7" => CurveName::P256,
                    Ok(o) if o == "1.3.132.0.34" => CurveName::P384,
                    Ok(o) if o == "1.3.132.0.35" => CurveName::P521,
                    Ok(o) if o == "1.3.132.0.10" => CurveName::P256K,
                    _ => {
                        return Err(Error::bad_parameter(
                            "the EC private key is not on P-256, P-384, P-521 or secp256k1",
                        ))
                    }
                };
                Ok(KeyMaterial::Ec(ec::EcPrivateKey::from_pkcs8_der(curve, der)?))
            }
            RSA_ENCRYPTION => Ok(KeyMaterial::Rsa(
                self::rsa::RsaPrivateKey::from_imported_pkcs8(der)?,
            )),
            other => Err(Error::bad_parameter(format!(
                "private keys of algorithm {other} are not supported; Key Vault holds RSA and EC keys"
            ))),
        }
    }

    /// The compact form that gets sealed at rest.
    pub(crate) fn to_sealable(&self) -> SecretBytes {
        let (tag, extra, secret) = match self {
            KeyMaterial::Ec(k) => (SEAL_EC, curve_code(k.curve()), k.scalar()),
            KeyMaterial::Rsa(k) => (SEAL_RSA, 0, k.pkcs8()),
            KeyMaterial::Oct(k) => (SEAL_OCT, 0, k.bytes()),
        };
        let mut out = zeroize::Zeroizing::new(Vec::with_capacity(2 + secret.len()));
        out.extend_from_slice(&[tag, extra]);
        out.extend_from_slice(secret.expose());
        SecretBytes::from(out)
    }

    /// Reads the form written by [`KeyMaterial::to_sealable`].
    pub(crate) fn from_sealable(bytes: &[u8]) -> Result<Self> {
        let corrupt = || Error::Corrupt {
            what: "key material".into(),
        };
        let (&[tag, extra], secret) = bytes.split_first_chunk::<2>().ok_or_else(corrupt)?;
        let secret = SecretBytes::from_slice(secret);
        match tag {
            SEAL_EC => {
                let curve = curve_from_code(extra).ok_or_else(corrupt)?;
                Ok(KeyMaterial::Ec(ec::EcPrivateKey::from_scalar(
                    curve, secret, None,
                )?))
            }
            SEAL_RSA => Ok(KeyMaterial::Rsa(self::rsa::RsaPrivateKey::from_pkcs8(
                secret,
            )?)),
            SEAL_OCT => Ok(KeyMaterial::Oct(Box::new(oct::OctKey::from_bytes(secret)?))),
            _ => Err(corrupt()),
        }
    }

    pub(crate) fn sign_digest(&self, alg: SignatureAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
        match self {
            KeyMaterial::Ec(k) => k.sign_digest(alg, digest),
            KeyMaterial::Rsa(k) => k.sign_digest(alg, digest),
            KeyMaterial::Oct(_) => Err(unsupported(alg, self.family_name())),
        }
    }

    pub(crate) fn verify_digest(
        &self,
        alg: SignatureAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<bool> {
        match self {
            KeyMaterial::Ec(k) => k.public().verify_digest(alg, digest, signature),
            KeyMaterial::Rsa(k) => k.public().verify_digest(alg, digest, signature),
            KeyMaterial::Oct(_) => Err(unsupported(alg, self.family_name())),
        }
    }

    pub(crate) fn sign_pkcs1v15_raw(&self, data: &[u8]) -> Result<Vec<u8>> {
        match self {
            KeyMaterial::Rsa(k) => k.sign_pkcs1v15_raw(data),
            _ => Err(unsupported(RAW_PKCS1, self.family_name())),
        }
    }

    pub(crate) fn verify_pkcs1v15_raw(&self, data: &[u8], signature: &[u8]) -> Result<bool> {
        match self {
            KeyMaterial::Rsa(k) => k.public().verify_pkcs1v15_raw(data, signature),
            _ => Err(unsupported(RAW_PKCS1, self.family_name())),
        }
    }

    #[inline]
    pub(crate) fn encrypt(
        &self,
        alg: EncryptionAlgorithm,
        plaintext: &[u8],
        params: AesParams<'_>,
    ) -> Result<Encrypted> {
        match (self, alg.scheme()) {
            (KeyMaterial::Rsa(k), EncryptionScheme::Rsa(padding)) => Ok(Encrypted {
                ciphertext: k.public().encrypt(padding, plaintext)?,
                iv: None,
                tag: None,
                aad: None,
            }),
            (KeyMaterial::Oct(k), _) => k.encrypt(alg, plaintext, params),
            _ => Err(unsupported(alg, self.family_name())),
        }
    }

    pub(crate) fn decrypt(
        &self,
        alg: EncryptionAlgorithm,
        ciphertext: &[u8],
        params: AesParams<'_>,
    ) -> Result<SecretBytes> {
        match (self, alg.scheme()) {
            (KeyMaterial::Rsa(k), EncryptionScheme::Rsa(padding)) => k.decrypt(padding, ciphertext),
            (KeyMaterial::Oct(k), _) => k.decrypt(alg, ciphertext, params),
            _ => Err(unsupported(alg, self.family_name())),
        }
    }

    pub(crate) fn wrap(&self, alg: WrapAlgorithm, key: &[u8]) -> Result<Vec<u8>> {
        match (self, alg.scheme()) {
            (KeyMaterial::Rsa(k), WrapScheme::Rsa(padding)) => k.public().encrypt(padding, key),
            (KeyMaterial::Oct(k), _) => k.wrap(alg, key),
            _ => Err(unsupported(alg, self.family_name())),
        }
    }

    pub(crate) fn unwrap(&self, alg: WrapAlgorithm, wrapped: &[u8]) -> Result<SecretBytes> {
        match (self, alg.scheme()) {
            (KeyMaterial::Rsa(k), WrapScheme::Rsa(padding)) => k.decrypt(padding, wrapped),
            (KeyMaterial::Oct(k), _) => k.unwrap(alg, wrapped),
            _ => Err(unsupported(alg, self.family_name())),
        }
    }

    fn family_name(&self) -> &'static str {
        match self {
            KeyMaterial::Ec(_) => "an EC key",
            KeyMaterial::Rsa(_) => "an RSA key",
            KeyMaterial::Oct(_) => "an oct key",
        }
    }
}

fn curve_code(c: CurveName) -> u8 {
    match c {
        CurveName::P256 => 1,
        CurveName::P384 => 2,
        CurveName::P521 => 3,
        CurveName::P256K => 4,
    }
}

fn curve_from_code(b: u8) -> Option<CurveName> {
    Some(match b {
        1 => CurveName::P256,
        2 => CurveName::P384,
        3 => CurveName::P521,
        4 => CurveName::P256K,
        _ => return None,
    })
}
