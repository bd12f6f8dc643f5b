//! What the module's Rust tests share: the module cargo built, the store they hand it, and
//! how a `CKR_*` reads back. Each test file keeps its own master key, so their stores differ.

// Each test binary uses its own part of this.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use localhsm::crypto::pin::hash_pin;
use localhsm::model::{TokenPins, VaultKind, VaultOptions};
use localhsm::{MasterKeySource, Store};

pub const SO_PIN: &str = "so-secret";
pub const USER_PIN: &str = "user-1234";
/// DER of the P-256 curve's OID, as `CKA_EC_PARAMS` holds it.
pub const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// The module cargo built for this test run, or LOCALHSM_PKCS11_MODULE. `cargo test` builds
/// the cdylib into target/<profile>/deps, beside the test binary, and copies it up to
/// target/<profile>/ only on `cargo build`; the copy there may be stale.
pub fn module_path() -> PathBuf {
    if let Some(p) = std::env::var_os("LOCALHSM_PKCS11_MODULE") {
        return p.into();
    }
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().join("liblocalhsm_pkcs11.so");
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The `CKR_*` of a failed call; a panic when the call succeeded.
pub fn rv<T: std::fmt::Debug>(r: Result<T, Error>) -> RvError {
    match r {
        Err(Error::Pkcs11(rv, _)) => rv,
        other => panic!("expected a PKCS#11 error, got {other:?}"),
    }
}

/// The store in `dir` (made when missing) under `master_key` (64 hex digits).
pub fn open_store(dir: &Path, master_key: &str) -> Store {
    let key = localhsm::store::parse_master_key(master_key).unwrap();
    Store::open(dir, MasterKeySource::Bytes(key)).unwrap()
}

/// A new vault `name` of `kind` in `store`.
pub fn vault(store: &Store, name: &str, kind: VaultKind) {
    store
        .create_vault(
            name,
            VaultOptions {
                kind,
                ..Default::default()
            },
        )
        .unwrap();
}

/// A new vault `name` of `kind` whose token has [`SO_PIN`] and [`USER_PIN`] set.
pub fn token(store: &Store, name: &str, kind: VaultKind) {
    vault(store, name, kind);
    let pins = TokenPins {
        so: Some(hash_pin(SO_PIN.as_bytes()).unwrap()),
        user: Some(hash_pin(USER_PIN.as_bytes()).unwrap()),
    };
    store.set_token_pins(name, pins).unwrap();
}

/// Points the module at `dir` and `master_key` through the environment.
pub fn configure(dir: &Path, master_key: &str) {
    std::env::remove_var("LOCALHSM_PKCS11_CONF");
    std::env::set_var("LOCALHSM_DATA", dir);
    std::env::set_var("LOCALHSM_MASTER_KEY", master_key);
}

/// The module, loaded and initialized (with OS locking) on what [`configure`] set.
pub fn initialized() -> Pkcs11 {
    let p = Pkcs11::new(module_path()).unwrap();
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("the module initializes");
    p
}
