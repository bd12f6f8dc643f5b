//! Secret byte buffers and strings: zeroized on drop, never printed, compared in constant
//! time.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Bytes of key material. Not `Clone`, so copies are deliberate (`duplicate`); `Debug` prints
/// only the length; memory is zeroized when dropped.
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Copies `bytes` into a new secret buffer.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// The secret bytes. Every read of key material goes through here.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An explicit copy.
    pub fn duplicate(&self) -> Self {
        Self::from_slice(self.expose())
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([REDACTED; {}])", self.0.len())
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        self.expose().ct_eq(other.expose()).into()
    }
}

impl Eq for SecretBytes {}

impl From<Zeroizing<Vec<u8>>> for SecretBytes {
    fn from(z: Zeroizing<Vec<u8>>) -> Self {
        Self(z)
    }
}

/// A secret's value: any Unicode string (a password, a connection string, a PEM file). Not
/// `Clone`; `Debug` prints only the length; zeroized when dropped. Serializes as the plain
/// string, for the wire only: storage gets it sealed.
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Takes ownership of `value`.
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The value. Every read of a secret value goes through here.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in bytes (UTF-8).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An explicit copy.
    pub fn duplicate(&self) -> Self {
        Self::new(self.expose().to_string())
    }

    /// The value as secret bytes, for sealing.
    pub fn to_bytes(&self) -> SecretBytes {
        SecretBytes::from_slice(self.expose().as_bytes())
    }

    /// The value of unsealed bytes; `None` when they are not UTF-8.
    pub fn from_bytes(bytes: &SecretBytes) -> Option<Self> {
        std::str::from_utf8(bytes.expose())
            .ok()
            .map(|s| Self::new(s.to_string()))
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self::new(value.to_string())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretString([REDACTED; {}])", self.0.len())
    }
}

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        self.expose()
            .as_bytes()
            .ct_eq(other.expose().as_bytes())
            .into()
    }
}

impl Eq for SecretString {}

impl serde::Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.expose())
    }
}

impl<'de> serde::Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_bytes() {
        let s = SecretBytes::from_slice(b"\x13\x37topsecret");
        let shown = format!("{s:?}");
        assert!(!shown.contains("topsecret") && !shown.contains("19") && shown.contains("11"));
        let s = SecretString::from("hunter2");
        assert_eq!(format!("{s:?}"), "SecretString([REDACTED; 7])");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"hunter2\"");
    }
}
