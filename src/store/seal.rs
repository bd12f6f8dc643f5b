//! Sealing at rest: AES-256-GCM under keys derived from the master key with HKDF-SHA256.
//!
//! Sealed form: `version (1) || nonce (12) || ciphertext || tag (16)`. The associated data
//! names what the plaintext belongs to (for key material: vault, key name and version), so a
//! record copied to another place fails to open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ring::hkdf;

use crate::crypto::{random_bytes, SecretBytes};
use crate::error::{Error, Result};

const SEALED_V1: u8 = 1;
const NONCE_LEN: usize = 12;

/// Which derived key to use. Distinct keys keep backup blobs and stored records apart.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purpose {
    /// Records in the store.
    Record,
    /// Backup blobs handed to callers.
    Backup,
}

impl Purpose {
    fn info(self) -> &'static [u8] {
        match self {
            Purpose::Record => b"localhsm v1 record sealing key",
            Purpose::Backup => b"localhsm v1 backup sealing key",
        }
    }
}

/// Seals and opens records with keys derived from the master key.
pub(crate) struct Sealer {
    record: Aes256Gcm,
    backup: Aes256Gcm,
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
        let derive = |p: Purpose| -> Result<Aes256Gcm> {
            let mut key = zeroize::Zeroizing::new([0u8; 32]);
            prk.expand(&[p.info()], Len32)
                .and_then(|okm| okm.fill(&mut key[..]))
                .map_err(|_| Error::MasterKey("key derivation failed".into()))?;
            Aes256Gcm::new_from_slice(&key[..])
                .map_err(|_| Error::MasterKey("key derivation failed".into()))
        };
        Ok(Self {
            record: derive(Purpose::Record)?,
            backup: derive(Purpose::Backup)?,
        })
    }

    fn cipher(&self, purpose: Purpose) -> &Aes256Gcm {
        match purpose {
            Purpose::Record => &self.record,
            Purpose::Backup => &self.backup,
        }
    }

    /// Seals `plaintext` bound to `aad`.
    pub(crate) fn seal(&self, purpose: Purpose, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let nonce = random_bytes(NONCE_LEN)?;
        let ct = self
            .cipher(purpose)
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
        self.cipher(purpose)
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
