//! A throw-away store for the vector tools: the file's keys are imported into a Managed HSM
//! vault of a store in memory, and every case runs through a real [`KeyHandle`].

use std::sync::Arc;

use crate::crypto::{random_bytes, Jwk, SecretBytes};
use crate::model::{KeyOptions, VaultKind, VaultOptions};
use crate::store::MemoryBackend;
use crate::{KeyHandle, MasterKeySource, Store, Vault};

/// A store in memory with one Managed HSM vault.
pub(crate) struct Scratch {
    vault: Vault,
    imported: usize,
}

impl Scratch {
    pub(crate) fn new() -> crate::Result<Self> {
        let store = Store::builder_on(Arc::new(MemoryBackend::new()))
            .master_key(MasterKeySource::Bytes(SecretBytes::new(random_bytes(32)?)))
            .open()?;
        store.create_vault(
            "vectors",
            VaultOptions {
                kind: VaultKind::ManagedHsm,
                ..Default::default()
            },
        )?;
        let vault = store.vault("vectors")?;
        Ok(Self { vault, imported: 0 })
    }

    /// Imports `jwk` (with private members) as an HSM key with its type's default
    /// operations, under a fresh name.
    pub(crate) fn import(&mut self, jwk: &Jwk) -> crate::Result<KeyHandle> {
        self.imported += 1;
        let name = format!("k{}", self.imported);
        self.vault
            .import_key(&name, jwk, true, KeyOptions::default())?;
        self.vault.key(&name, None)
    }
}
