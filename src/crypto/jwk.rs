//! JSON Web Keys (RFC 7517) as Key Vault writes them: base64url fields without padding.

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::alg::{CurveName, KeyOperation, KeyType};
use super::secret::SecretBytes;

/// base64url: written without padding, read with or without it, as clients differ.
pub const B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes bytes as unpadded base64url.
pub fn b64url_encode(bytes: &[u8]) -> String {
    B64URL.encode(bytes)
}

/// Decodes base64url, padded or not.
pub fn b64url_decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    B64URL.decode(s)
}

/// Public bytes carried as base64url on the wire.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Base64Url(pub Vec<u8>);

impl fmt::Debug for Base64Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&b64url_encode(&self.0))
    }
}

impl Serialize for Base64Url {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&b64url_encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64Url {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        b64url_decode(&s)
            .map(Base64Url)
            .map_err(|_| serde::de::Error::custom("invalid base64url"))
    }
}

/// Secret bytes carried as base64url on the wire (JWK private members).
pub struct SecretBase64Url(pub SecretBytes);

impl fmt::Debug for SecretBase64Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl Serialize for SecretBase64Url {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let encoded = zeroize::Zeroizing::new(b64url_encode(self.0.expose()));
        s.serialize_str(&encoded)
    }
}

impl<'de> Deserialize<'de> for SecretBase64Url {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = zeroize::Zeroizing::new(String::deserialize(d)?);
        b64url_decode(&s)
            .map(|b| SecretBase64Url(SecretBytes::new(b)))
            .map_err(|_| serde::de::Error::custom("invalid base64url"))
    }
}

/// A JSON Web Key, public or private. Private members are [`SecretBase64Url`]: zeroized on
/// drop and redacted in `Debug`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Jwk {
    /// Key identifier (`kid`), the key's URL in Key Vault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Key type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kty: Option<KeyType>,
    /// Permitted operations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<KeyOperation>>,
    /// RSA modulus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<Base64Url>,
    /// RSA public exponent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<Base64Url>,
    /// RSA private exponent, or EC private scalar.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d: Option<SecretBase64Url>,
    /// RSA `d mod (p-1)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dp: Option<SecretBase64Url>,
    /// RSA `d mod (q-1)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dq: Option<SecretBase64Url>,
    /// RSA `q^-1 mod p`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qi: Option<SecretBase64Url>,
    /// RSA first prime.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p: Option<SecretBase64Url>,
    /// RSA second prime.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<SecretBase64Url>,
    /// Symmetric key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k: Option<SecretBase64Url>,
    /// HSM key blob (BYOK); accepted on the wire, not supported for import.
    #[serde(rename = "key_hsm", skip_serializing_if = "Option::is_none")]
    pub key_hsm: Option<Base64Url>,
    /// Curve name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<CurveName>,
    /// EC public x coordinate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<Base64Url>,
    /// EC public y coordinate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<Base64Url>,
}

impl Jwk {
    /// True when any private member is present.
    pub fn has_private_parts(&self) -> bool {
        self.d.is_some()
            || self.p.is_some()
            || self.q.is_some()
            || self.dp.is_some()
            || self.dq.is_some()
            || self.qi.is_some()
            || self.k.is_some()
    }

    /// A copy with only the public members (and `kid`, `kty`, `key_ops`).
    pub fn public_only(&self) -> Jwk {
        Jwk {
            kid: self.kid.clone(),
            kty: self.kty,
            key_ops: self.key_ops.clone(),
            n: self.n.clone(),
            e: self.e.clone(),
            crv: self.crv,
            x: self.x.clone(),
            y: self.y.clone(),
            ..Jwk::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_members_are_redacted_in_debug() {
        let jwk: Jwk =
            serde_json::from_str(r#"{"kty":"oct","k":"c2VjcmV0LWtleS1ieXRlcw"}"#).unwrap();
        let shown = format!("{jwk:?}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        assert!(shown.contains("REDACTED"));
    }

    #[test]
    fn base64url_reads_padded_and_unpadded() {
        assert_eq!(b64url_decode("AQI").unwrap(), vec![1, 2]);
        assert_eq!(b64url_decode("AQI=").unwrap(), vec![1, 2]);
        assert!(b64url_decode("A$I").is_err());
        assert_eq!(b64url_encode(&[0xfb, 0xff]), "-_8");
    }
}
