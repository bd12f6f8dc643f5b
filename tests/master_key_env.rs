//! The master key from `LOCALHSM_MASTER_KEY` (`MasterKeySource::Env`, and `Default` when set).
//!
//! Guards against: the accepted spellings (hex either case, base64 padded, base64url) not
//! opening the same store; a missing, malformed or short value not failing clearly; another
//! key not being reported as `WrongMasterKey`; the value leaking into error messages;
//! `Default` creating a key file when the variable is set.
//!
//! Environment variables are process-global, so this binary holds a single test.

mod support;

use std::path::Path;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use localhsm::store::{KEY_FILE_NAME, MASTER_KEY_ENV};
use localhsm::{Error, MasterKeySource, Store};
use support::{create_vault, default_hsm, oct_key, Opener, T0};

fn open(dir: &Path, source: fn() -> MasterKeySource) -> localhsm::Result<Store> {
    Opener::source(source).at(T0).try_open(dir)
}

fn set(value: &str) {
    std::env::set_var(MASTER_KEY_ENV, value);
}

#[test]
fn master_key_from_the_environment() {
    // 0xfb bytes: standard base64 uses '+' and '/', base64url '-' and '_', so the two differ.
    let key = [0xfbu8; 32];
    let dir = tempfile::tempdir().unwrap();

    std::env::remove_var(MASTER_KEY_ENV);
    match open(dir.path(), || MasterKeySource::Env) {
        Err(Error::MasterKey(msg)) => assert!(msg.contains(MASTER_KEY_ENV), "{msg}"),
        other => panic!("unset: expected MasterKey, got {other:?}"),
    }

    // Create the store under the hex spelling.
    set(&hex::encode(key));
    let store = open(dir.path(), || MasterKeySource::Env).unwrap();
    let version = oct_key(&create_vault(&store, "vault", default_hsm()), "k");
    drop(store);
    assert!(
        !dir.path().join(KEY_FILE_NAME).exists(),
        "a key file was written although the key came from the environment"
    );

    // Every accepted spelling of the same key opens it, through Env and through Default.
    for (how, text) in [
        ("hex", hex::encode(key)),
        ("HEX", hex::encode_upper(key)),
        ("hex with a newline", format!("{}\n", hex::encode(key))),
        ("base64", STANDARD.encode(key)),
        ("base64url", URL_SAFE_NO_PAD.encode(key)),
        ("base64url padded", URL_SAFE.encode(key)),
    ] {
        set(&text);
        for source in [|| MasterKeySource::Env, || MasterKeySource::Default] {
            let store = open(dir.path(), source).unwrap_or_else(|e| panic!("{how}: {e}"));
            let v = store.vault("vault").unwrap();
            assert_eq!(v.key("k", None).unwrap().version(), version, "{how}");
        }
    }
    // Same bytes as the directly given key.
    let store = Opener::key(key).at(T0).try_open(dir.path()).unwrap();
    drop(store);
    assert!(!dir.path().join(KEY_FILE_NAME).exists());

    // Unpadded standard base64: report what happens (accepted or a clear MasterKey error).
    set(&STANDARD_NO_PAD.encode(key));
    match open(dir.path(), || MasterKeySource::Env) {
        Ok(_) | Err(Error::MasterKey(_)) => {}
        other => panic!("unpadded base64: {other:?}"),
    }

    // Another valid key: WrongMasterKey, and the value is not echoed.
    let other = hex::encode([0x11u8; 32]);
    set(&other);
    match open(dir.path(), || MasterKeySource::Env) {
        Err(e @ Error::WrongMasterKey) => assert!(!e.to_string().contains(&other)),
        other => panic!("wrong key: expected WrongMasterKey, got {other:?}"),
    }

    // Malformed or short values: a clear MasterKey error that does not echo the value.
    for bad in [
        "not a key at all",
        &hex::encode([0x22u8; 16]),
        &hex::encode([0x22u8; 33]),
        &STANDARD.encode([0x22u8; 31]),
        "",
    ] {
        set(bad);
        match open(dir.path(), || MasterKeySource::Env) {
            Err(e @ Error::MasterKey(_)) => {
                let msg = e.to_string();
                assert!(msg.contains(MASTER_KEY_ENV), "{msg}");
                if bad.len() > 4 {
                    assert!(!msg.contains(bad), "the value leaked: {msg}");
                }
            }
            other => panic!("{bad:?}: expected MasterKey, got {other:?}"),
        }
    }

    // With the variable unset, Default falls back to the key file, which this store never
    // had: a clear error, and no new key file beside a store it could not open.
    std::env::remove_var(MASTER_KEY_ENV);
    match open(dir.path(), || MasterKeySource::Default) {
        Err(e @ Error::MasterKey(_)) => {
            let msg = e.to_string();
            assert!(
                msg.contains(KEY_FILE_NAME) && msg.contains(MASTER_KEY_ENV),
                "{msg}"
            );
        }
        other => panic!("expected MasterKey, got {other:?}"),
    }
    assert!(!dir.path().join(KEY_FILE_NAME).exists());
}
