//! localhsm's own known-answer vector format, as `vectors/README.md` specifies it: a file per
//! family, the keys as JWKs with their private members, and cases whose binary fields are
//! lowercase hex, absent when they do not apply.
//!
//! ```json
//! { "family": "ecdsa", "description": "...", "generator": "...", "schema": "localhsm-vectors/1 ...",
//!   "keys": { "ec-p256": { "kty": "EC", "crv": "P-256", "x": "...", "y": "...", "d": "..." } },
//!   "cases": [ { "id": 1, "key": "ec-p256", "alg": "ES256", "op": "verify", "result": "valid",
//!                "comment": "...", "flags": [], "msg": "...", "digest": "...", "signature": "..." } ] }
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::crypto::{EncryptionAlgorithm, Jwk, SignatureAlgorithm, WrapAlgorithm};

/// The `schema` string written into generated files.
pub const SCHEMA: &str = "localhsm-vectors/1 (see vectors/README.md)";

/// Declares a string enum with its wire names, `as_str`, `ALL`, `Display` and serde.
macro_rules! names {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used in vector files.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }

            /// Reads a name used in vector files.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($wire => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names!(
    /// A vector file's `family`: the kind of operation its cases exercise.
    Family {
        /// ES256, ES384, ES512, ES256K.
        Ecdsa = "ecdsa",
        /// RS256, RS384, RS512.
        RsaPkcs1Sign = "rsa-pkcs1-sign",
        /// PS256, PS384, PS512.
        RsaPssSign = "rsa-pss-sign",
        /// RSA-OAEP, RSA-OAEP-256.
        RsaOaep = "rsa-oaep",
        /// RSA1_5.
        Rsa1_5 = "rsa1_5",
        /// A128KW, A192KW, A256KW.
        AesKw = "aes-kw",
        /// A128GCM, A192GCM, A256GCM.
        AesGcm = "aes-gcm",
        /// A128CBC ... A256CBCPAD.
        AesCbc = "aes-cbc",
    }
);

names!(
    /// A case's `op`.
    Op {
        /// Sign a digest.
        Sign = "sign",
        /// Verify a signature over a digest.
        Verify = "verify",
        /// Encrypt.
        Encrypt = "encrypt",
        /// Decrypt.
        Decrypt = "decrypt",
        /// Wrap a key.
        Wrap = "wrap",
        /// Unwrap a key.
        Unwrap = "unwrap",
    }
);

names!(
    /// A case's `result`: what the implementation must do.
    Expected {
        /// The operation must succeed (and reproduce deterministic outputs).
        Valid = "valid",
        /// The operation must fail.
        Invalid = "invalid",
    }
);

impl Family {
    /// The ops a case of this family may have.
    pub fn ops(self) -> &'static [Op] {
        match self {
            Family::Ecdsa | Family::RsaPkcs1Sign | Family::RsaPssSign => &[Op::Sign, Op::Verify],
            Family::RsaOaep | Family::Rsa1_5 | Family::AesGcm | Family::AesCbc => {
                &[Op::Encrypt, Op::Decrypt]
            }
            Family::AesKw => &[Op::Wrap, Op::Unwrap],
        }
    }

    /// The family an algorithm name belongs to (`None` for names outside the format).
    pub fn of_alg(alg: &str) -> Option<Family> {
        VectorAlg::parse(alg).map(VectorAlg::family)
    }
}

/// An algorithm the vector format covers, by its JWA / Key Vault name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VectorAlg {
    /// ES*, RS*, PS*.
    Sign(SignatureAlgorithm),
    /// RSA-OAEP, RSA-OAEP-256, RSA1_5, A*GCM, A*CBC, A*CBCPAD.
    Encrypt(EncryptionAlgorithm),
    /// A128KW, A192KW, A256KW (the RSA wrap algorithms belong to the encryption families).
    Wrap(WrapAlgorithm),
}

impl VectorAlg {
    /// Every algorithm the format covers, family by family.
    pub fn all() -> Vec<VectorAlg> {
        let mut out: Vec<VectorAlg> = SignatureAlgorithm::ALL
            .iter()
            .map(|&a| VectorAlg::Sign(a))
            .collect();
        out.extend(
            EncryptionAlgorithm::ALL
                .iter()
                .map(|&a| VectorAlg::Encrypt(a)),
        );
        out.extend(
            WrapAlgorithm::ALL
                .iter()
                .filter(|a| matches!(a.scheme(), crate::crypto::alg::WrapScheme::AesKw(_)))
                .map(|&a| VectorAlg::Wrap(a)),
        );
        out
    }

    /// Reads a JWA name (`ES256`, `RSA-OAEP-256`, `A256KW`, ...).
    pub fn parse(s: &str) -> Option<VectorAlg> {
        Self::all().into_iter().find(|a| a.as_str() == s)
    }

    /// The JWA name.
    pub fn as_str(self) -> &'static str {
        match self {
            VectorAlg::Sign(a) => a.as_str(),
            VectorAlg::Encrypt(a) => a.as_str(),
            VectorAlg::Wrap(a) => a.as_str(),
        }
    }

    /// The vector family of this algorithm.
    pub fn family(self) -> Family {
        use crate::crypto::alg::{AesMode, EncryptionScheme, RsaPadding};
        use SignatureAlgorithm as S;
        match self {
            VectorAlg::Sign(S::ES256 | S::ES384 | S::ES512 | S::ES256K) => Family::Ecdsa,
            VectorAlg::Sign(S::RS256 | S::RS384 | S::RS512) => Family::RsaPkcs1Sign,
            VectorAlg::Sign(_) => Family::RsaPssSign,
            VectorAlg::Encrypt(a) => match a.scheme() {
                EncryptionScheme::Rsa(RsaPadding::Pkcs1v15) => Family::Rsa1_5,
                EncryptionScheme::Rsa(_) => Family::RsaOaep,
                EncryptionScheme::Aes {
                    mode: AesMode::Gcm, ..
                } => Family::AesGcm,
                EncryptionScheme::Aes { .. } => Family::AesCbc,
            },
            VectorAlg::Wrap(_) => Family::AesKw,
        }
    }
}

impl fmt::Display for VectorAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for VectorAlg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        VectorAlg::parse(s).ok_or_else(|| {
            let names: Vec<&str> = VectorAlg::all().iter().map(|a| a.as_str()).collect();
            format!("unknown algorithm {s:?}; one of {}", names.join(", "))
        })
    }
}

/// One vector file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorFile {
    /// The family every case belongs to.
    pub family: Family,
    /// Free text: what the file covers and the algorithm semantics.
    pub description: String,
    /// Informational: what made the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
    /// Informational: [`SCHEMA`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Key id to JWK (private members included).
    pub keys: BTreeMap<String, KeyJwk>,
    /// The cases, ids counting from 1.
    pub cases: Vec<VectorCase>,
}

impl VectorFile {
    /// Reads a file, failing on the first malformed case. (The checker reads case by case so
    /// that one malformed case fails alone; see [`crate::vectors::check_str`].)
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// The file as written: two-space indented JSON and a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("vector files always serialize");
        s.push('\n');
        s
    }
}

/// A JWK as the vector files carry it: base64url members without padding, private members
/// included, written in the order `kty, crv, x, y, n, e, d, p, q, dp, dq, qi, k`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyJwk {
    /// `EC`, `RSA` or `oct`.
    pub kty: String,
    /// EC curve: `P-256`, `P-384`, `P-521` or `P-256K`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x (fixed width).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y (fixed width).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// RSA private exponent or EC private scalar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    /// RSA first prime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<String>,
    /// RSA second prime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// RSA `d mod (p-1)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp: Option<String>,
    /// RSA `d mod (q-1)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dq: Option<String>,
    /// RSA `q^-1 mod p`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qi: Option<String>,
    /// Symmetric key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<String>,
}

impl KeyJwk {
    /// The localhsm [`Jwk`] (for import).
    pub fn to_jwk(&self) -> Result<Jwk, String> {
        let value = serde_json::to_value(self).map_err(|e| e.to_string())?;
        serde_json::from_value(value).map_err(|e| format!("not a usable JWK: {e}"))
    }
}

/// One case. Binary fields are bytes here and lowercase hex in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorCase {
    /// Unique within the file, counting from 1.
    pub id: u64,
    /// Key id in the file's `keys`.
    pub key: String,
    /// JWA / Key Vault algorithm name.
    pub alg: String,
    /// The operation.
    pub op: Op,
    /// What the operation must do.
    pub result: Expected,
    /// What the case tests.
    pub comment: String,
    /// Labels (see the README's list).
    #[serde(default)]
    pub flags: Vec<String>,
    /// For reference: the message `digest` was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex_field")]
    pub msg: Option<Vec<u8>>,
    /// Input to sign and verify (Key Vault signs digests).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex_field")]
    pub digest: Option<Vec<u8>>,
    /// ECDSA raw `r||s`; RSA k bytes.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex_field")]
    pub signature: Option<Vec<u8>>,
    /// Plaintext (may be empty).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex_field")]
    pub plaintext: Option<Vec<u8>>,
    /// GCM: 12 bytes; CBC: 16 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex_field")]
    pub iv: Option<Vec<u8>>,
    /// GCM additional authenticated data; absent means none.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex_field")]
    pub aad: Option<Vec<u8>>,
    /// Ciphertext (GCM: without the tag; AES-KW: the wrapped key).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex_field")]
    pub ciphertext: Option<Vec<u8>>,
    /// GCM tag, kept separate from the ciphertext.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex_field")]
    pub tag: Option<Vec<u8>>,
}

impl VectorCase {
    /// A case with no binary fields and no flags; `id` 0 until the file numbers it.
    pub fn new(
        key: impl Into<String>,
        alg: impl Into<String>,
        op: Op,
        result: Expected,
        comment: impl Into<String>,
    ) -> Self {
        Self {
            id: 0,
            key: key.into(),
            alg: alg.into(),
            op,
            result,
            comment: comment.into(),
            flags: Vec::new(),
            msg: None,
            digest: None,
            signature: None,
            plaintext: None,
            iv: None,
            aad: None,
            ciphertext: None,
            tag: None,
        }
    }

    /// True for `"result": "valid"`.
    pub fn valid(&self) -> bool {
        self.result == Expected::Valid
    }

    /// A binary field, or an error naming it when it is absent.
    pub fn need(&self, field: &str) -> Result<&[u8], String> {
        self.field(field)
            .ok_or_else(|| format!("case has no {field}"))
    }

    /// A binary field by name, if present.
    pub fn field(&self, field: &str) -> Option<&[u8]> {
        match field {
            "msg" => self.msg.as_deref(),
            "digest" => self.digest.as_deref(),
            "signature" => self.signature.as_deref(),
            "plaintext" => self.plaintext.as_deref(),
            "iv" => self.iv.as_deref(),
            "aad" => self.aad.as_deref(),
            "ciphertext" => self.ciphertext.as_deref(),
            "tag" => self.tag.as_deref(),
            _ => None,
        }
    }
}

/// serde for `Option<Vec<u8>>` as lowercase hex (the README: no prefix, no separators, and
/// uppercase is malformed, as `check.py` has it).
mod hex_field {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let s = String::deserialize(d)?;
        if s.bytes().any(|c| c.is_ascii_uppercase()) {
            return Err(serde::de::Error::custom("hex must be lowercase"));
        }
        hex::decode(&s)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("bad hex: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alg_has_a_family_and_round_trips() {
        let all = VectorAlg::all();
        assert_eq!(all.len(), 25);
        for a in all {
            assert_eq!(VectorAlg::parse(a.as_str()), Some(a));
            assert!(a.family().ops().len() == 2);
        }
        assert_eq!(Family::of_alg("RSA-OAEP"), Some(Family::RsaOaep));
        assert_eq!(Family::of_alg("A192KW"), Some(Family::AesKw));
        assert_eq!(Family::of_alg("A192CBCPAD"), Some(Family::AesCbc));
        assert_eq!(Family::of_alg("HS256"), None);
    }

    #[test]
    fn cases_round_trip_and_reject_unknown_fields_and_uppercase_hex() {
        let mut c = VectorCase::new("k", "A128GCM", Op::Encrypt, Expected::Valid, "x");
        c.id = 3;
        c.plaintext = Some(vec![]);
        c.iv = Some(vec![0xab; 12]);
        let text = serde_json::to_string(&c).unwrap();
        assert!(
            text.contains(r#""plaintext":"""#) && !text.contains("aad"),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<VectorCase>(&text).unwrap(), c);
        let upper = text.replace("abab", "ABAB");
        assert!(serde_json::from_str::<VectorCase>(&upper).is_err());
        let extra = text.replace(r#""id":3"#, r#""id":3,"nonce":"00""#);
        assert!(serde_json::from_str::<VectorCase>(&extra).is_err());
    }
}
