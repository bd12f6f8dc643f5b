//! Backup and restore of keys.
//!
//! Guards against: a restore that loses or changes versions, version ids, tags, attributes,
//! timestamps or key material; a tampered, truncated or foreign blob (another store's master
//! key) being accepted or half-applied instead of refused with `InvalidBackup`; a restore that
//! overwrites a live key (must be `KeyExists`) or a soft-deleted one (must be `KeyIsDeleted`).

mod support;

use localhsm::crypto::{KeyOperation, KeyType, SignatureAlgorithm, WrapAlgorithm};
use localhsm::model::{KeyOptions, KeyUpdate};
use localhsm::{Error, KeySpec, Vault};
use support::{
    ec_key, ec_key_with, expect_err, expect_wire_err, hsm, tags, vector_jwk, Opener, TempStore,
    DAY, T0,
};

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
    let ts = TempStore::new();
    let clock = &ts.clock;
    let src = ts.vault("src", hsm(30, false));
    let dst = ts.vault("dst", hsm(7, true));

    let options = KeyOptions {
        tags: tags(&[("a", "1"), ("b", "2")]),
        key_ops: Some(vec![KeyOperation::Sign, KeyOperation::Verify]),
        exportable: true,
        ..Default::default()
    };
    let v1 = ec_key_with(&src, "Multi", options);
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
        let h = v.key("multi", Some(&v1)).unwrap();
        expect_err(h.sign(SignatureAlgorithm::ES256, &[0u8; 32]), "KeyDisabled");
    }
    // A restored key lives on as any other: a new version goes on top.
    let v4 = ec_key(&src, "multi");
    assert_eq!(src.get_key("multi", None).unwrap().version, v4);
    assert_eq!(
        src.list_versions("multi", 100, None).unwrap().items.len(),
        4
    );
}

#[test]
fn restore_into_a_live_name_is_key_exists() {
    let ts = TempStore::new();
    let v = ts.vault("vault", hsm(7, false));
    ec_key(&v, "Name");
    let blob = v.backup_key("name").unwrap();
    let newer = ec_key(&v, "name");
    let before = versions(&v, "name");
    let conflict = (409, "Conflict", Some("KeyAlreadyExists"));
    expect_wire_err(v.restore_key(&blob), "KeyExists", conflict);
    assert_eq!(versions(&v, "name"), before, "the live key was touched");
    assert_eq!(v.key("name", None).unwrap().version(), newer);
}

#[test]
fn restore_into_a_soft_deleted_name_is_key_is_deleted() {
    let ts = TempStore::new();
    for (vault, protected) in [("plain", false), ("protected", true)] {
        let v = ts.vault(vault, hsm(7, protected));
        let version = ec_key(&v, "k");
        let blob = v.backup_key("k").unwrap();
        v.delete_key("k").unwrap();
        let conflict = (409, "Conflict", Some("ObjectIsDeletedButRecoverable"));
        expect_wire_err(v.restore_key(&blob), "KeyIsDeleted", conflict);
        let d = v.get_deleted_key("k").unwrap();
        assert_eq!(d.key.version, version);
        assert_eq!(d.deletion.scheduled_purge_date, T0 + 7 * DAY);
        expect_err(v.get_key("k", None), "KeyNotFound");
    }
}

#[test]
fn tampered_or_truncated_blob_is_invalid_backup() {
    let ts = TempStore::new();
    let v = ts.vault("vault", hsm(7, false));
    ec_key(&v, "k");
    let blob = v.backup_key("k").unwrap();
    let other = ts.vault("other", hsm(7, false));

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
    let store = |key: u8| TempStore::with(Opener::key([key; 32]), T0);
    let (a, b) = (store(1), store(2));
    let va = a.vault("vault", hsm(7, false));
    let vb = b.vault("vault", hsm(7, false));
    let version = ec_key(&va, "k");
    let blob = va.backup_key("k").unwrap();
    assert!(matches!(vb.restore_key(&blob), Err(Error::InvalidBackup)));
    assert!(vb.list_keys(10, None).unwrap().items.is_empty());
    // And the other way round.
    ec_key(&vb, "k2");
    assert!(matches!(
        va.restore_key(&vb.backup_key("k2").unwrap()),
        Err(Error::InvalidBackup)
    ));
    // The blob is bound to the master key, not to the directory: another store opened with
    // the same master key takes it (as Key Vault restores within the same security domain).
    let c = store(1);
    let vc = c.vault("vault", hsm(7, false));
    assert_eq!(vc.restore_key(&blob).unwrap().version, version);
}
