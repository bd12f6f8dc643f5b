//! Algorithm, key type, curve and key-operation names, spelled as JWA and Key Vault spell them.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// Declares an enum whose variants map one-to-one to wire names, with `as_str`, `FromStr`,
/// `Display` and string serde, so the names live in exactly one place.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    _ => Err(Error::bad_parameter(format!("unknown {} {:?}", $what, s))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

wire_enum!(
    /// Key type (`kty`), with Key Vault's `-HSM` variants.
    KeyType, "key type" {
        /// Elliptic curve.
        Ec = "EC",
        /// Elliptic curve, HSM-protected.
        EcHsm = "EC-HSM",
        /// RSA.
        Rsa = "RSA",
        /// RSA, HSM-protected.
        RsaHsm = "RSA-HSM",
        /// Symmetric (AES).
        Oct = "oct",
        /// Symmetric (AES), HSM-protected.
        OctHsm = "oct-HSM",
    }
);

/// The family of a key type, ignoring the `-HSM` distinction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    /// EC and EC-HSM.
    Ec,
    /// RSA and RSA-HSM.
    Rsa,
    /// oct and oct-HSM.
    Oct,
}

impl KeyType {
    /// The family this key type belongs to.
    pub fn family(self) -> KeyFamily {
        match self {
            KeyType::Ec | KeyType::EcHsm => KeyFamily::Ec,
            KeyType::Rsa | KeyType::RsaHsm => KeyFamily::Rsa,
            KeyType::Oct | KeyType::OctHsm => KeyFamily::Oct,
        }
    }

    /// The plain JWK `kty` for this type (`EC`, `RSA` or `oct`).
    pub fn jwk_kty(self) -> KeyType {
        match self.family() {
            KeyFamily::Ec => KeyType::Ec,
            KeyFamily::Rsa => KeyType::Rsa,
            KeyFamily::Oct => KeyType::Oct,
        }
    }

    /// The operations a new key of this type permits when the caller names none.
    pub fn default_ops(self) -> Vec<KeyOperation> {
        use KeyOperation::*;
        match self.family() {
            KeyFamily::Ec => vec![Sign, Verify],
            KeyFamily::Rsa => vec![Encrypt, Decrypt, Sign, Verify, WrapKey, UnwrapKey],
            KeyFamily::Oct => vec![Encrypt, Decrypt, WrapKey, UnwrapKey],
        }
    }
}

wire_enum!(
    /// Elliptic curve name (`crv`).
    CurveName, "curve" {
        /// NIST P-256 (secp256r1).
        P256 = "P-256",
        /// NIST P-384.
        P384 = "P-384",
        /// NIST P-521.
        P521 = "P-521",
        /// secp256k1.
        P256K = "P-256K",
    }
);

impl CurveName {
    /// Size of a field element / scalar in bytes.
    pub fn scalar_len(self) -> usize {
        match self {
            CurveName::P256 | CurveName::P256K => 32,
            CurveName::P384 => 48,
            CurveName::P521 => 66,
        }
    }

    /// The signature algorithm Key Vault pairs with this curve.
    pub fn signature_algorithm(self) -> SignatureAlgorithm {
        match self {
            CurveName::P256 => SignatureAlgorithm::ES256,
            CurveName::P384 => SignatureAlgorithm::ES384,
            CurveName::P521 => SignatureAlgorithm::ES512,
            CurveName::P256K => SignatureAlgorithm::ES256K,
        }
    }
}

wire_enum!(
    /// A key operation (`key_ops` entry).
    KeyOperation, "key operation" {
        /// Encrypt with the key.
        Encrypt = "encrypt",
        /// Decrypt with the key.
        Decrypt = "decrypt",
        /// Sign a digest.
        Sign = "sign",
        /// Verify a signature over a digest.
        Verify = "verify",
        /// Wrap another key.
        WrapKey = "wrapKey",
        /// Unwrap another key.
        UnwrapKey = "unwrapKey",
        /// Import (accepted for compatibility; not enforced).
        Import = "import",
        /// Export (accepted for compatibility; exportability is an attribute).
        Export = "export",
    }
);

wire_enum!(
    /// Signature algorithm. Key Vault signs and verifies a caller-computed digest.
    SignatureAlgorithm, "signature algorithm" {
        /// ECDSA P-256, SHA-256 digest.
        ES256 = "ES256",
        /// ECDSA P-384, SHA-384 digest.
        ES384 = "ES384",
        /// ECDSA P-521, SHA-512 digest.
        ES512 = "ES512",
        /// ECDSA secp256k1, SHA-256 digest.
        ES256K = "ES256K",
        /// RSASSA-PKCS1-v1_5, SHA-256.
        RS256 = "RS256",
        /// RSASSA-PKCS1-v1_5, SHA-384.
        RS384 = "RS384",
        /// RSASSA-PKCS1-v1_5, SHA-512.
        RS512 = "RS512",
        /// RSASSA-PSS, SHA-256, MGF1-SHA-256, salt of digest length.
        PS256 = "PS256",
        /// RSASSA-PSS, SHA-384.
        PS384 = "PS384",
        /// RSASSA-PSS, SHA-512.
        PS512 = "PS512",
    }
);

/// Hash function a signature algorithm's digest comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlg {
    /// Digest length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// Hashes `data`; a convenience for callers that hold the message rather than its digest.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest as _;
        match self {
            HashAlg::Sha256 => sha2::Sha256::digest(data).to_vec(),
            HashAlg::Sha384 => sha2::Sha384::digest(data).to_vec(),
            HashAlg::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

impl SignatureAlgorithm {
    /// The hash whose digest this algorithm signs.
    pub fn hash(self) -> HashAlg {
        use SignatureAlgorithm::*;
        match self {
            ES256 | ES256K | RS256 | PS256 => HashAlg::Sha256,
            ES384 | RS384 | PS384 => HashAlg::Sha384,
            ES512 | RS512 | PS512 => HashAlg::Sha512,
        }
    }

    /// The key family this algorithm needs.
    pub fn family(self) -> KeyFamily {
        use SignatureAlgorithm::*;
        match self {
            ES256 | ES384 | ES512 | ES256K => KeyFamily::Ec,
            _ => KeyFamily::Rsa,
        }
    }

    /// The curve an ECDSA algorithm needs; `None` for RSA algorithms.
    pub fn curve(self) -> Option<CurveName> {
        use SignatureAlgorithm::*;
        match self {
            ES256 => Some(CurveName::P256),
            ES384 => Some(CurveName::P384),
            ES512 => Some(CurveName::P521),
            ES256K => Some(CurveName::P256K),
            _ => None,
        }
    }
}

wire_enum!(
    /// Encryption algorithm for encrypt / decrypt.
    EncryptionAlgorithm, "encryption algorithm" {
        /// RSAES-OAEP, SHA-1 and MGF1-SHA-1.
        RsaOaep = "RSA-OAEP",
        /// RSAES-OAEP, SHA-256 and MGF1-SHA-256.
        RsaOaep256 = "RSA-OAEP-256",
        /// RSAES-PKCS1-v1_5.
        Rsa1_5 = "RSA1_5",
        /// AES-128-GCM.
        A128Gcm = "A128GCM",
        /// AES-192-GCM.
        A192Gcm = "A192GCM",
        /// AES-256-GCM.
        A256Gcm = "A256GCM",
        /// AES-128-CBC without padding.
        A128Cbc = "A128CBC",
        /// AES-192-CBC without padding.
        A192Cbc = "A192CBC",
        /// AES-256-CBC without padding.
        A256Cbc = "A256CBC",
        /// AES-128-CBC with PKCS#7 padding.
        A128CbcPad = "A128CBCPAD",
        /// AES-192-CBC with PKCS#7 padding.
        A192CbcPad = "A192CBCPAD",
        /// AES-256-CBC with PKCS#7 padding.
        A256CbcPad = "A256CBCPAD",
    }
);

/// The RSA encryption schemes Key Vault offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaPadding {
    /// OAEP with SHA-1.
    OaepSha1,
    /// OAEP with SHA-256.
    OaepSha256,
    /// PKCS#1 v1.5.
    Pkcs1v15,
}

/// How an AES encryption algorithm works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AesMode {
    /// GCM with a 96-bit IV and a 128-bit tag.
    Gcm,
    /// CBC without padding.
    Cbc,
    /// CBC with PKCS#7 padding.
    CbcPad,
}

/// What an encryption algorithm is, in terms of the primitive behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptionScheme {
    /// RSA with the given padding.
    Rsa(RsaPadding),
    /// AES with the given key length in bytes and mode.
    Aes {
        /// Key length in bytes (16, 24 or 32).
        key_len: usize,
        /// Mode of operation.
        mode: AesMode,
    },
}

impl EncryptionAlgorithm {
    /// The primitive behind this algorithm.
    pub fn scheme(self) -> EncryptionScheme {
        use EncryptionAlgorithm::*;
        let aes = |key_len, mode| EncryptionScheme::Aes { key_len, mode };
        match self {
            RsaOaep => EncryptionScheme::Rsa(RsaPadding::OaepSha1),
            RsaOaep256 => EncryptionScheme::Rsa(RsaPadding::OaepSha256),
            Rsa1_5 => EncryptionScheme::Rsa(RsaPadding::Pkcs1v15),
            A128Gcm => aes(16, AesMode::Gcm),
            A192Gcm => aes(24, AesMode::Gcm),
            A256Gcm => aes(32, AesMode::Gcm),
            A128Cbc => aes(16, AesMode::Cbc),
            A192Cbc => aes(24, AesMode::Cbc),
            A256Cbc => aes(32, AesMode::Cbc),
            A128CbcPad => aes(16, AesMode::CbcPad),
            A192CbcPad => aes(24, AesMode::CbcPad),
            A256CbcPad => aes(32, AesMode::CbcPad),
        }
    }
}

wire_enum!(
    /// Key wrapping algorithm for wrapkey / unwrapkey.
    WrapAlgorithm, "key wrap algorithm" {
        /// RSAES-OAEP, SHA-1.
        RsaOaep = "RSA-OAEP",
        /// RSAES-OAEP, SHA-256.
        RsaOaep256 = "RSA-OAEP-256",
        /// RSAES-PKCS1-v1_5.
        Rsa1_5 = "RSA1_5",
        /// AES-128 key wrap (RFC 3394).
        A128Kw = "A128KW",
        /// AES-192 key wrap (RFC 3394).
        A192Kw = "A192KW",
        /// AES-256 key wrap (RFC 3394).
        A256Kw = "A256KW",
    }
);

/// What a wrap algorithm is, in terms of the primitive behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrapScheme {
    /// RSA encryption of the key with the given padding.
    Rsa(RsaPadding),
    /// RFC 3394 AES key wrap with a key of this many bytes.
    AesKw(usize),
}

impl WrapAlgorithm {
    /// The primitive behind this algorithm.
    pub fn scheme(self) -> WrapScheme {
        use WrapAlgorithm::*;
        match self {
            RsaOaep => WrapScheme::Rsa(RsaPadding::OaepSha1),
            RsaOaep256 => WrapScheme::Rsa(RsaPadding::OaepSha256),
            Rsa1_5 => WrapScheme::Rsa(RsaPadding::Pkcs1v15),
            A128Kw => WrapScheme::AesKw(16),
            A192Kw => WrapScheme::AesKw(24),
            A256Kw => WrapScheme::AesKw(32),
        }
    }
}

/// The output of an encryption: ciphertext plus, for AES, the IV, tag and AAD used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encrypted {
    /// The ciphertext.
    pub ciphertext: Vec<u8>,
    /// Initialization vector (AES only).
    pub iv: Option<Vec<u8>>,
    /// Authentication tag (AES-GCM only).
    pub tag: Option<Vec<u8>>,
    /// Additional authenticated data echoed back (AES-GCM only).
    pub aad: Option<Vec<u8>>,
}

/// Optional AES parameters for encrypt and decrypt, as Key Vault takes them.
#[derive(Debug, Clone, Copy, Default)]
pub struct AesParams<'a> {
    /// IV: 12 bytes for GCM, 16 for CBC. Generated on encrypt when absent.
    pub iv: Option<&'a [u8]>,
    /// Additional authenticated data (GCM only).
    pub aad: Option<&'a [u8]>,
    /// Authentication tag (GCM decrypt only).
    pub tag: Option<&'a [u8]>,
}

/// The error for an algorithm that does not apply to a key or operation.
/// The name errors give RSASSA-PKCS1-v1_5 over caller-formatted data (PKCS#11's
/// `CKM_RSA_PKCS`): Key Vault's `RSNULL`, which is not a digest algorithm and so not a
/// [`SignatureAlgorithm`].
pub(crate) const RAW_PKCS1: &str = "RSNULL";

pub(crate) fn unsupported(alg: impl std::fmt::Display, what: &str) -> Error {
    Error::AlgorithmNotSupported {
        alg: alg.to_string(),
        what: what.to_string(),
    }
}
