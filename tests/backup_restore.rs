//! Backup and restore of keys.
//!
//! Guards against: a restore that loses or changes versions, version ids, tags, attributes,
//! timestamps or key material; a tampered, truncated or foreign blob (another store's master
//! key) being accepted or half-applied instead of refused with `InvalidBackup`; a restore that
//! overwrites a live key (must be `KeyExists`) or a soft-deleted one (must be `KeyIsDeleted`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use localhsm::crypto::{
    CurveName, Jwk, KeyOperation, KeyType, SecretBytes, SignatureAlgorithm, WrapAlgorithm,
};
use localhsm::model::{KeyOptions, KeyUpdate, Tags, VaultKind, VaultOptions};
use localhsm::{Error, KeySpec, ManualClock, MasterKeySource, Store, Vault};

const T0: u64 = 1_700_000_000;
const DAY: u64 = 86_400;

/// Opens the store, retrying for a while on `StoreLocked` (sled releases its lock from
/// background threads after the last handle drops: spacejam/sled#1289).
fn open(dir: &Path, key: u8, clock: Arc<ManualClock>) -> Store {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match Store::builder(dir)
            .master_key(MasterKeySource::Bytes(SecretBytes::new(vec![key; 32])))
            .clock(clock.clone())
            .open()
        {
            Err(Error::StoreLocked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            r => return r.expect("open store"),
        }
    }
}

fn hsm(store: &Store, name: &str, retention_days: u32, purge_protection: bool) -> Vault {
    store
        .create_vault(
            name,
            VaultOptions {
                kind: VaultKind::ManagedHsm,
                retention_days,
                purge_protection,
            },
        )
        .expect("create vault");
    store.vault(name).expect("vault")
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn vector_jwk(file: &str, id: &str) -> Jwk {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("vectors")
        .join(file);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("vector file")).expect("json");
    serde_json::from_value(doc["keys"][id].clone()).expect("jwk")
}

fn ec(v: &Vault, name: &str) -> String {
    v.create_key(
        name,
        KeyType::EcHsm,
        KeySpec::Ec(CurveName::P256),
        KeyOptions::default(),
    )
    .expect("create key")
    .version
}

/// Every version of a key as the caller sees it, attributes and tags included.
fn versions(v: &Vault, name: &str) -> Vec<String> {
    v.list_versions(name, 100, None)
        .unwrap()
        .items
        .into_iter()
        .map(|b| {
            let mut b = b;
            b.vault = String::new(); // compared across vaults
            b.attributes.recovery_level = String::new();
            b.attributes.recoverable_days = 0;
            format!("{b:?}")
        })
        .collect()
}

fn exported_d(v: &Vault, name: &str, version: &str) -> Vec<u8> {
    localhsm::hazmat::export_private_key(v, name, Some(version))
        .unwrap()
        .key
        .d
        .expect("private d")
        .0
        .expose()
        .to_vec()
}

#[test]
fn restore_keeps_every_version_tag_attribute_and_the_material() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = open(dir.path(), 7, clock.clone());
    let src = hsm(&store, "src", 30, false);
    let dst = hsm(&store, "dst", 7, true);

    let v1 = src
        .create_key(
            "Multi",
            KeyType::EcHsm,
            KeySpec::Ec(CurveName::P256),
            KeyOptions {
                tags: tags(&[("a", "1"), ("b", "2")]),
                key_ops: Some(vec![KeyOperation::Sign, KeyOperation::Verify]),
                exportable: true,
                ..Default::default()
            },
        )
        .unwrap()
        .version;
    clock.set(T0 + 100);
    let v2 = src
        .create_key(
            "multi",
            KeyType::OctHsm,
            KeySpec::Oct(256),
            KeyOptions {
                not_before: Some(T0),
                expires: Some(T0 + 400 * DAY),
                ..Default::default()
            },
        )
        .unwrap()
        .version;
    clock.set(T0 + 200);
    let v3 = src
        .import_key(
            "MULTI",
            &vector_jwk("ecdsa.json", "ec-p384"),
            false,
            KeyOptions {
                tags: tags(&[("imported", "yes")]),
                exportable: true,
                ..Default::default()
            },
        )
        .unwrap()
        .version;
    clock.set(T0 + 300);
    src.update_key(
        "multi",
        Some(&v1),
        KeyUpdate {
            enabled: Some(false),
            tags: Some(tags(&[("c", "3")])),
            ..Default::default()
        },
    )
    .unwrap();

    let before = versions(&src, "multi");
    assert_eq!(before.len(), 3);
    let d1 = exported_d(&src, "multi", &v1);
    let d3 = exported_d(&src, "multi", &v3);
    let digest = [3u8; 48];
    let sig = src
        .key("multi", Some(&v3))
        .unwrap()
        .sign(SignatureAlgorithm::ES384, &digest)
        .unwrap();
    let wrapped = src
        .key("multi", Some(&v2))
        .unwrap()
        .wrap_key(WrapAlgorithm::A256Kw, &[8u8; 24])
        .unwrap();

    clock.set(T0 + 400);
    let blob = src.backup_key("multi").unwrap();
    src.delete_key("multi").unwrap();
    src.purge_deleted_key("multi").unwrap();
    clock.set(T0 + 500);

    for (v, days, level) in [
        (&src, 30, "CustomizedRecoverable+Purgeable"),
        (&dst, 7, "CustomizedRecoverable"),
    ] {
        let restored = v.restore_key(&blob).unwrap();
        assert_eq!(restored.name, "Multi", "the name as created");
        assert_eq!(restored.version, v3, "the current version");
        assert_eq!(restored.attributes.recoverable_days, days);
        assert_eq!(restored.attributes.recovery_level, level);
        // Same versions in the same order with the same attributes, tags and timestamps.
        assert_eq!(versions(v, "multi"), before, "in {}", v.name());
        // Same material.
        assert_eq!(exported_d(v, "multi", &v1), d1);
        assert_eq!(exported_d(v, "multi", &v3), d3);
        assert!(v
            .key("multi", None)
            .unwrap()
            .verify(SignatureAlgorithm::ES384, &digest, &sig)
            .unwrap());
        assert_eq!(
            v.key("multi", Some(&v2))
                .unwrap()
                .unwrap_key(WrapAlgorithm::A256Kw, &wrapped)
                .unwrap()
                .expose(),
            &[8u8; 24]
        );
        // Attributes still enforced: v1 is disabled.
        assert!(matches!(
            v.key("multi", Some(&v1))
                .unwrap()
                .sign(SignatureAlgorithm::ES256, &[0u8; 32]),
            Err(Error::KeyDisabled { .. })
        ));
    }
    // A restored key lives on as any other: a new version goes on top.
    let v4 = ec(&src, "multi");
    assert_eq!(src.get_key("multi", None).unwrap().version, v4);
    assert_eq!(
        src.list_versions("multi", 100, None).unwrap().items.len(),
        4
    );
}

#[test]
fn restore_into_a_live_name_is_key_exists() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 7, Arc::new(ManualClock::new(T0)));
    let v = hsm(&store, "vault", 7, false);
    ec(&v, "Name");
    let blob = v.backup_key("name").unwrap();
    let newer = ec(&v, "name");
    let before = versions(&v, "name");
    match v.restore_key(&blob) {
        Err(e @ Error::KeyExists { .. }) => {
            let w = e.wire();
            assert_eq!((w.status, w.code), (409, "Conflict"));
            assert_eq!(w.inner, Some("KeyAlreadyExists"));
        }
        other => panic!("expected KeyExists, got {other:?}"),
    }
    assert_eq!(versions(&v, "name"), before, "the live key was touched");
    assert_eq!(v.key("name", None).unwrap().version(), newer);
}

#[test]
fn restore_into_a_soft_deleted_name_is_key_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = open(dir.path(), 7, clock.clone());
    for (vault, protected) in [("plain", false), ("protected", true)] {
        let v = hsm(&store, vault, 7, protected);
        let version = ec(&v, "k");
        let blob = v.backup_key("k").unwrap();
        v.delete_key("k").unwrap();
        match v.restore_key(&blob) {
            Err(e @ Error::KeyIsDeleted { .. }) => {
                let w = e.wire();
                assert_eq!((w.status, w.code), (409, "Conflict"));
                assert_eq!(w.inner, Some("ObjectIsDeletedButRecoverable"));
            }
            other => panic!("{vault}: expected KeyIsDeleted, got {other:?}"),
        }
        let d = v.get_deleted_key("k").unwrap();
        assert_eq!(d.key.version, version);
        assert_eq!(d.deletion.scheduled_purge_date, T0 + 7 * DAY);
        assert!(matches!(
            v.get_key("k", None),
            Err(Error::KeyNotFound { .. })
        ));
    }
}

#[test]
fn tampered_or_truncated_blob_is_invalid_backup() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 7, Arc::new(ManualClock::new(T0)));
    let v = hsm(&store, "vault", 7, false);
    ec(&v, "k");
    let blob = v.backup_key("k").unwrap();
    let other = hsm(&store, "other", 7, false);

    let mut bad: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("magic only".into(), blob[..8.min(blob.len())].to_vec()),
        ("one byte short".into(), blob[..blob.len() - 1].to_vec()),
        ("one byte more".into(), [blob.as_slice(), &[0]].concat()),
        ("twice".into(), [blob.as_slice(), blob.as_slice()].concat()),
    ];
    // Every single byte flipped, wherever it is: magic, format byte, nonce, body, tag.
    for i in 0..blob.len() {
        let mut b = blob.clone();
        b[i] ^= 0x01;
        bad.push((format!("bit flipped at {i}"), b));
    }
    for (what, b) in &bad {
        match other.restore_key(b) {
            Err(e @ Error::InvalidBackup) => assert_eq!(e.wire().status, 400, "{what}"),
            other => panic!("{what}: expected InvalidBackup, got {other:?}"),
        }
    }
    // Nothing half-restored.
    assert!(other.list_keys(10, None).unwrap().items.is_empty());
    // The genuine blob still works.
    other.restore_key(&blob).unwrap();
}

#[test]
fn blob_from_a_store_with_another_master_key_is_refused() {
    let (d1, d2, d3) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let a = open(d1.path(), 1, Arc::new(ManualClock::new(T0)));
    let b = open(d2.path(), 2, Arc::new(ManualClock::new(T0)));
    let va = hsm(&a, "vault", 7, false);
    let vb = hsm(&b, "vault", 7, false);
    let version = ec(&va, "k");
    let blob = va.backup_key("k").unwrap();
    assert!(matches!(vb.restore_key(&blob), Err(Error::InvalidBackup)));
    assert!(vb.list_keys(10, None).unwrap().items.is_empty());
    // And the other way round.
    ec(&vb, "k2");
    assert!(matches!(
        va.restore_key(&vb.backup_key("k2").unwrap()),
        Err(Error::InvalidBackup)
    ));
    // The blob is bound to the master key, not to the directory: another store opened with
    // the same master key takes it (as Key Vault restores within the same security domain).
    let c = open(d3.path(), 1, Arc::new(ManualClock::new(T0)));
    let vc = hsm(&c, "vault", 7, false);
    assert_eq!(vc.restore_key(&blob).unwrap().version, version);
}
