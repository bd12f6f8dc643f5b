//! Shared by the benchmarks: the fixed keys of `vectors/*.json`, a throw-away store on the
//! same disk as `target/` (not tmpfs, so a durable flush costs what it costs), and the
//! criterion settings.

// Each bench target compiles this module on its own and uses only part of it.
#![allow(dead_code)]

pub mod interleaved;
pub mod token;

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::Criterion;
use localhsm::crypto::{Jwk, SecretBytes};
use localhsm::model::{KeyOptions, VaultKind, VaultOptions};
use localhsm::{KeyHandle, MasterKeySource, Store, StoreBuilder, Vault};

/// Criterion with short default times, so a bench target finishes in minutes on 2 cores.
/// Command-line flags (`--warm-up-time`, `--measurement-time`, `--sample-size`) still win.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

/// The fixed master key of every bench store.
pub fn master_key() -> MasterKeySource {
    MasterKeySource::Bytes(SecretBytes::new(vec![0x42; 32]))
}

/// A fresh directory under `target/tmp` (same file system as the build: a real disk).
pub fn bench_dir(label: &str) -> tempfile::TempDir {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(base).expect("create target/tmp");
    tempfile::Builder::new()
        .prefix(&format!("localhsm-bench-{label}-"))
        .tempdir_in(base)
        .expect("bench temp dir")
}

/// Opens a store in `dir` with the bench master key.
pub fn open_store(dir: &Path, configure: impl FnOnce(&mut StoreBuilder)) -> Store {
    let mut builder = Store::builder(dir);
    builder.master_key(master_key());
    configure(&mut builder);
    builder.open().expect("open bench store")
}

/// Path of a file relative to the crate root.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The JWK (with private members) `id` of `vectors/<file>`.
pub fn vector_jwk(file: &str, id: &str) -> Jwk {
    let path = repo_path("vectors").join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let doc: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
    let key = doc["keys"]
        .get(id)
        .unwrap_or_else(|| panic!("{file}: no key {id:?}"))
        .clone();
    serde_json::from_value(key).unwrap_or_else(|e| panic!("{file} {id}: bad JWK: {e}"))
}

/// A store with one Managed HSM vault, in a temporary directory removed on drop.
pub struct BenchVault {
    pub vault: Vault,
    pub store: Store,
    _dir: tempfile::TempDir,
}

impl BenchVault {
    pub fn new(label: &str) -> Self {
        let dir = bench_dir(label);
        let store = open_store(dir.path(), |_| {});
        store
            .create_vault(
                "bench",
                VaultOptions {
                    kind: VaultKind::ManagedHsm,
                    ..Default::default()
                },
            )
            .expect("create vault");
        let vault = store.vault("bench").expect("vault");
        Self {
            vault,
            store,
            _dir: dir,
        }
    }

    /// Imports `jwk` as an HSM key with its type's default operations; returns its handle.
    pub fn import(&self, name: &str, jwk: &Jwk) -> KeyHandle {
        self.vault
            .import_key(name, jwk, true, KeyOptions::default())
            .unwrap_or_else(|e| panic!("import {name}: {e}"));
        self.vault.key(name, None).expect("handle")
    }
}

/// Public bytes of a JWK member.
pub fn public(m: &Option<localhsm::crypto::Base64Url>, name: &str) -> Vec<u8> {
    m.as_ref()
        .unwrap_or_else(|| panic!("JWK has no {name}"))
        .0
        .clone()
}

/// Secret bytes of a JWK private member.
pub fn secret<'a>(m: &'a Option<localhsm::crypto::SecretBase64Url>, name: &str) -> &'a [u8] {
    m.as_ref()
        .unwrap_or_else(|| panic!("JWK has no {name}"))
        .0
        .expose()
}

/// The digest a benchmark signs: SHA-256/384 of a fixed message.
pub fn digest(len: usize) -> Vec<u8> {
    let hash = match len {
        32 => localhsm::crypto::HashAlg::Sha256,
        48 => localhsm::crypto::HashAlg::Sha384,
        64 => localhsm::crypto::HashAlg::Sha512,
        _ => panic!("no hash of {len} bytes"),
    };
    hash.digest(b"localhsm benchmark message")
}
