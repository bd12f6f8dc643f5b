//! Helpers shared by the cryptographic test suites: a throw-away store with one Managed HSM
//! vault, big-endian integer widths, and the known-answer vector files in `vectors/` (read
//! with `localhsm::vectors::format`, the one reader of that format).

// Each integration test compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use localhsm::crypto::{Jwk, SecretBytes};
use localhsm::model::{KeyOptions, VaultKind, VaultOptions};
pub use localhsm::vectors::format::VectorFile;
use localhsm::{KeyHandle, MasterKeySource, Store, Vault};

/// A store in a temporary directory with one Managed HSM vault. The directory is removed
/// when this is dropped.
pub struct TestVault {
    pub vault: Vault,
    _store: Store,
    _dir: tempfile::TempDir,
    imported: usize,
}

impl TestVault {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(
            dir.path(),
            MasterKeySource::Bytes(SecretBytes::new(vec![0x42; 32])),
        )
        .expect("open store");
        store
            .create_vault(
                "hsm",
                VaultOptions {
                    kind: VaultKind::ManagedHsm,
                    ..Default::default()
                },
            )
            .expect("create vault");
        let vault = store.vault("hsm").expect("vault");
        Self {
            vault,
            _store: store,
            _dir: dir,
            imported: 0,
        }
    }

    /// Imports `jwk` (with private members) as an HSM key named `name` with the default
    /// operations of its type, and returns a handle on it.
    pub fn import(&mut self, name: &str, jwk: &Jwk) -> localhsm::Result<KeyHandle> {
        self.vault
            .import_key(name, jwk, true, KeyOptions::default())?;
        self.imported += 1;
        self.vault.key(name, None)
    }

    /// Imports `jwk` under a fresh generated name.
    pub fn import_anon(&mut self, jwk: &Jwk) -> localhsm::Result<KeyHandle> {
        let name = format!("k-{}", self.imported);
        self.import(&name, jwk)
    }
}

/// Path of a file or directory relative to the crate root.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Big-endian integer bytes without leading zeros (JWK form for RSA values).
pub fn minimal(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[start..]
}

/// Big-endian integer left-padded (or stripped of leading zeros) to exactly `len` bytes.
pub fn fixed_width(b: &[u8], len: usize) -> Option<Vec<u8>> {
    let m = minimal(b);
    if m.len() > len {
        return None;
    }
    let mut out = vec![0u8; len - m.len()];
    out.extend_from_slice(m);
    Some(out)
}

/// Reads `vectors/<name>`.
pub fn load_vector_file(name: &str) -> VectorFile {
    let path = repo_path("vectors").join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    VectorFile::from_json(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The JWK `id` of a vector file.
pub fn vector_jwk(file: &VectorFile, id: &str) -> Jwk {
    file.keys
        .get(id)
        .unwrap_or_else(|| panic!("{}: no key {id:?}", file.family))
        .to_jwk()
        .unwrap_or_else(|e| panic!("key {id}: bad JWK: {e}"))
}
