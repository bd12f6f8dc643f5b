//! Sealing at rest: AES-256-GCM under keys derived from the master key with HKDF-SHA256.
//!
//! Sealed form: `version (1) || nonce (12) || ciphertext || tag (16)`. The associated data
//! names what the plaintext belongs to ([`object_aad`]: vault, object kind, name and
//! version), so a record copied to another place fails to open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ring::hkdf;

use crate::crypto::{random_bytes, SecretBytes};
use crate::error::{Error, ObjectKind, Result};

/// Associated data binding a sealed secret to its vault, kind, name and version:
/// `localhsm/{kind}/v1 NUL vault/name/version` (vault and name lowercase, as they are
/// stored). For keys this is the binding of the first schema.
pub(crate) fn object_aad(kind: ObjectKind, vault: &str, name: &str, version: &str) -> Vec<u8> {
    format!(
        "localhsm/{}/v1\0{}/{}/{version}",
        kind.noun(),
        vault.to_ascii_lowercase(),
        name.to_ascii_lowercase()
    )
    .into_bytes()
}

/// Associated data of a backup blob of one kind, so that a key's backup cannot be restored
/// as another kind. Keys keep the binding of the first schema.
pub(crate) fn backup_aad(kind: ObjectKind) -> Vec<u8> {
    match kind {
        ObjectKind::Key => b"localhsm/backup/v1".to_vec(),
        other => format!("localhsm/backup/v1/{}", other.noun()).into_bytes(),
    }
}

const SEALED_V1: u8 = 1;
const NONCE_LEN: usize = 12;

/// Which derived key to use. Distinct keys keep backup blobs and stored records apart.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purpose {
    /// Records in the store.
    Record,
    /// Backup blobs handed to callers.
    Backup,
    /// The MAC key of the store's integrity records (`store::integrity`): the record digest,
    /// the anchor and the removal journal.
    Integrity,
}

impl Purpose {
    fn info(self) -> &'static [u8] {
        match self {
            Purpose::Record => b"localhsm v1 record sealing key",
            Purpose::Backup => b"localhsm v1 backup sealing key",
            Purpose::Integrity => b"localhsm v2 integrity MAC key",
        }
    }
}

/// Seals and opens records with keys derived from the master key.
pub(crate) struct Sealer {
    record: Aes256Gcm,
    backup: Aes256Gcm,
    integrity: ring::hmac::Key,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([REDACTED])")
    }
}

struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

impl Sealer {
    /// Derives the sealing keys from a 32-byte master key.
    pub(crate) fn new(master: &SecretBytes) -> Result<Self> {
        if master.len() != 32 {
            return Err(Error::MasterKey("the master key must be 32 bytes".into()));
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"localhsm").extract(master.expose());
        let expand = |p: Purpose| -> Result<zeroize::Zeroizing<[u8; 32]>> {
            let mut key = zeroize::Zeroizing::new([0u8; 32]);
            prk.expand(&[p.info()], Len32)
                .and_then(|okm| okm.fill(&mut key[..]))
                .map_err(|_| Error::MasterKey("key derivation failed".into()))?;
            Ok(key)
        };
        let derive = |p: Purpose| -> Result<Aes256Gcm> {
            Aes256Gcm::new_from_slice(&expand(p)?[..])
                .map_err(|_| Error::MasterKey("key derivation failed".into()))
        };
        Ok(Self {
            record: derive(Purpose::Record)?,
            backup: derive(Purpose::Backup)?,
            integrity: ring::hmac::Key::new(
                ring::hmac::HMAC_SHA256,
                &expand(Purpose::Integrity)?[..],
            ),
        })
    }

    fn cipher(&self, purpose: Purpose) -> Option<&Aes256Gcm> {
        match purpose {
            Purpose::Record => Some(&self.record),
            Purpose::Backup => Some(&self.backup),
            Purpose::Integrity => None,
        }
    }

    /// The MAC key of the integrity records ([`Purpose::Integrity`]).
    pub(crate) fn integrity_key(&self) -> ring::hmac::Key {
        self.integrity.clone()
    }

    /// Seals `plaintext` bound to `aad`.
    pub(crate) fn seal(&self, purpose: Purpose, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let nonce = random_bytes(NONCE_LEN)?;
        let ct = self
            .cipher(purpose)
            .ok_or_else(|| Error::Storage("the integrity key does not seal".into()))?
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| Error::Storage("sealing failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens what [`Sealer::seal`] produced with the same `aad`; `None` if it does not
    /// authenticate (wrong key, wrong place, tampered).
    pub(crate) fn open(&self, purpose: Purpose, aad: &[u8], sealed: &[u8]) -> Option<SecretBytes> {
        let (&version, rest) = sealed.split_first()?;
        if version != SEALED_V1 || rest.len() < NONCE_LEN + 16 {
            return None;
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        self.cipher(purpose)?
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .ok()
            .map(SecretBytes::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(&SecretBytes::new(vec![byte; 32])).unwrap()
    }

    #[test]
    fn bindings_keep_the_first_schema_for_keys() {
        assert_eq!(
            object_aad(ObjectKind::Key, "Dev", "Signer", "0a1b"),
            b"localhsm/key/v1\0dev/signer/0a1b".to_vec()
        );
        assert_ne!(
            object_aad(ObjectKind::Secret, "dev", "signer", "0a1b"),
            object_aad(ObjectKind::Key, "dev", "signer", "0a1b")
        );
        assert_eq!(backup_aad(ObjectKind::Key), b"localhsm/backup/v1".to_vec());
        assert_ne!(backup_aad(ObjectKind::Secret), backup_aad(ObjectKind::Key));
    }

    #[test]
    fn round_trip_and_binding() {
        let s = sealer(7);
        let sealed = s.seal(Purpose::Record, b"vault/key/v1", b"secret").unwrap();
        assert_eq!(
            s.open(Purpose::Record, b"vault/key/v1", &sealed)
                .unwrap()
                .expose(),
            b"secret"
        );
        assert!(s.open(Purpose::Record, b"vault/key/v2", &sealed).is_none());
        assert!(s.open(Purpose::Backup, b"vault/key/v1", &sealed).is_none());
        assert!(sealer(8)
            .open(Purpose::Record, b"vault/key/v1", &sealed)
            .is_none());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(s
            .open(Purpose::Record, b"vault/key/v1", &tampered)
            .is_none());
    }
}
