//! Backup and restore of keys and secrets.
//!
//! Guards against: a restore that loses or changes versions, version ids, tags, attributes,
//! timestamps, content types, key material or secret values; a tampered, truncated or foreign
//! blob (another store's master key) being accepted or half-applied instead of refused with
//! `InvalidBackup`; a key's backup restoring as a secret or a secret's as a key (each kind
//! binds its backups); a restore that overwrites a live object (must be `KeyExists` /
//! `SecretExists`) or a soft-deleted one (must be `KeyIsDeleted` / `SecretIsDeleted`); a
//! secret restored into a Managed HSM, which has no secrets.

mod support;

use localhsm::crypto::{KeyOperation, KeyType, SecretString, SignatureAlgorithm, WrapAlgorithm};
use localhsm::model::{
    KeyOptions, KeyUpdate, SecretOptions, SecretUpdate, VaultKind, VaultOptions,
};
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

/// A release policy for an exportable key (Key Vault requires one).
fn release_policy() -> Option<localhsm::model::key_policies::KeyReleasePolicy> {
    Some(localhsm::model::key_policies::KeyReleasePolicy {
        content_type: localhsm::model::key_policies::DEFAULT_RELEASE_CONTENT_TYPE.into(),
        data: localhsm::crypto::Base64Url(br#"{"anyOf":[],"version":"1.0.0"}"#.to_vec()),
        immutable: false,
    })
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
        release_policy: release_policy(),
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
                release_policy: release_policy(),
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

// --- secrets ------------------------------------------------------------------------------------

/// A vault of kind `vault` (it holds secrets).
fn kv(retention_days: u32, purge_protection: bool) -> VaultOptions {
    VaultOptions {
        kind: VaultKind::Vault,
        retention_days,
        purge_protection,
    }
}

/// Every version of a secret as the caller sees it (no value), attributes, content type and
/// tags included; the vault's own fields blanked, for comparison across vaults.
fn secret_versions(v: &Vault, name: &str) -> Vec<String> {
    support::all_pages(|next| v.list_secret_versions(name, 2, next))
        .unwrap()
        .into_iter()
        .map(|mut b| {
            b.vault = String::new();
            b.attributes.recovery_level = String::new();
            b.attributes.recoverable_days = 0;
            format!("{b:?}")
        })
        .collect()
}

/// The value of a secret version.
fn value_of(v: &Vault, name: &str, version: &str) -> String {
    let b = v.get_secret(name, Some(version)).unwrap();
    b.value.expect("get carries the value").expose().to_string()
}

fn set(v: &Vault, name: &str, value: &str, options: SecretOptions) -> String {
    v.set_secret(name, SecretString::from(value), options)
        .unwrap_or_else(|e| panic!("set secret {name}: {e}"))
        .version
}

#[test]
fn secret_restore_keeps_every_version_attribute_tag_content_type_and_value() {
    let ts = TempStore::new();
    let clock = &ts.clock;
    let src = ts.vault("src", kv(30, false));
    let dst = ts.vault("dst", kv(7, true));
    localhsm::server::ensure_default_vault(&ts.store).unwrap();
    let default = ts.store.vault("default").unwrap();

    let big = format!(
        "{}!",
        "é".repeat(localhsm::model::MAX_SECRET_VALUE_BYTES / 2 - 1)
    );
    let values = [
        "first ✓ value",
        "",
        big.as_str(),
        "line one\nline two\u{0}nul 🔑",
    ];
    let mut ids = Vec::new();
    for (i, value) in values.iter().enumerate() {
        clock.set(T0 + 100 * i as u64);
        let options = SecretOptions {
            content_type: (i % 2 == 0).then(|| format!("application/x-test-{i}")),
            enabled: Some(i != 3),
            not_before: (i == 1).then_some(T0 - DAY),
            expires: (i == 2).then_some(T0 + 400 * DAY),
            tags: tags(&[("version", &i.to_string()), ("kind", "secret")]),
        };
        let name = ["Multi", "multi", "MULTI", "mUlti"][i];
        ids.push(set(&src, name, value, options));
    }
    clock.set(T0 + 1_000);
    src.update_secret(
        "multi",
        Some(&ids[0]),
        SecretUpdate {
            enabled: Some(false),
            content_type: Some("text/updated".into()),
            tags: Some(tags(&[("updated", "yes")])),
            expires: Some(Some(T0 + 9 * DAY)),
            ..Default::default()
        },
    )
    .unwrap();
    let before = secret_versions(&src, "multi");
    assert_eq!(before.len(), 4);

    clock.set(T0 + 2_000);
    let blob = src.backup_secret("multi").unwrap();
    src.delete_secret("multi").unwrap();
    src.purge_deleted_secret("multi").unwrap();
    clock.set(T0 + 3_000);

    for (v, days, level) in [
        (&src, 30, "CustomizedRecoverable+Purgeable"),
        (&dst, 7, "CustomizedRecoverable"),
        (&default, 90, "Recoverable+Purgeable"),
    ] {
        let restored = v.restore_secret(&blob).unwrap();
        assert_eq!(restored.name, "Multi", "the name as first set");
        assert_eq!(restored.version, ids[3], "the current version");
        assert!(
            restored.value.is_none(),
            "a restore answers without the value"
        );
        assert_eq!(restored.attributes.recoverable_days, days);
        assert_eq!(restored.attributes.recovery_level, level);
        // Same versions in the same order, same attributes, content types, tags, timestamps.
        assert_eq!(secret_versions(v, "multi"), before, "in {}", v.name());
        // Same values, where enabled; the disabled ones stay refused.
        assert_eq!(value_of(v, "multi", &ids[1]), values[1]);
        assert_eq!(value_of(v, "multi", &ids[2]), values[2]);
        for disabled in [&ids[0], &ids[3]] {
            expect_wire_err(
                v.get_secret("multi", Some(disabled)),
                "SecretDisabled",
                (403, "Forbidden", Some("SecretDisabled")),
            );
        }
    }
    // Enabled again, the disabled versions' values are the ones set.
    let enable = SecretUpdate {
        enabled: Some(true),
        ..Default::default()
    };
    for i in [0, 3] {
        dst.update_secret("multi", Some(&ids[i]), enable.clone())
            .unwrap();
        assert_eq!(value_of(&dst, "multi", &ids[i]), values[i]);
    }
    // A restored secret lives on as any other: a set makes a new version on top.
    let v5 = set(&src, "multi", "fifth", SecretOptions::default());
    assert_eq!(src.get_secret("multi", None).unwrap().version, v5);
    assert_eq!(secret_versions(&src, "multi").len(), 5);
}

#[test]
fn each_kind_binds_its_backups() {
    let ts = TempStore::new();
    let v = ts.vault("vault", kv(7, false));
    ec_key(&v, "same");
    set(
        &v,
        "same",
        "the secret of the same name",
        SecretOptions::default(),
    );
    let key_blob = v.backup_key("same").unwrap();
    let secret_blob = v.backup_secret("same").unwrap();
    let other = ts.vault("other", kv(7, false));
    let hsm_vault = ts.vault("hsm", hsm(7, false));
    for (what, r) in [
        (
            "key backup as a secret",
            other.restore_secret(&key_blob).map(drop),
        ),
        (
            "secret backup as a key",
            other.restore_key(&secret_blob).map(drop),
        ),
        (
            "secret backup as a key in a Managed HSM",
            hsm_vault.restore_key(&secret_blob).map(drop),
        ),
    ] {
        match r {
            Err(e @ Error::InvalidBackup) => assert_eq!(e.wire().status, 400, "{what}"),
            other => panic!("{what}: expected InvalidBackup, got {other:?}"),
        }
    }
    // Nothing half-restored, and each blob still restores as its own kind.
    assert!(other.list_keys(10, None).unwrap().items.is_empty());
    assert!(other.list_secrets(10, None).unwrap().items.is_empty());
    other.restore_key(&key_blob).unwrap();
    let s = other.restore_secret(&secret_blob).unwrap();
    assert_eq!(
        value_of(&other, "same", &s.version),
        "the secret of the same name"
    );
    // A Managed HSM has no secrets: the refusal says so, whatever the blob.
    let e = expect_wire_err(
        hsm_vault.restore_secret(&secret_blob),
        "NotSupportedByVaultKind",
        (400, "BadParameter", None),
    );
    assert!(e.to_string().contains("Managed HSM has no secrets"), "{e}");
    assert!(hsm_vault.restore_key(&key_blob).is_ok());
}

#[test]
fn secret_restore_into_a_live_or_soft_deleted_name_is_a_conflict() {
    let ts = TempStore::new();
    let v = ts.vault("vault", kv(7, false));
    let first = set(&v, "Name", "first", SecretOptions::default());
    let blob = v.backup_secret("name").unwrap();
    let newer = set(&v, "name", "newer", SecretOptions::default());
    let before = secret_versions(&v, "name");
    expect_wire_err(
        v.restore_secret(&blob),
        "SecretExists",
        (409, "Conflict", Some("SecretAlreadyExists")),
    );
    assert_eq!(
        secret_versions(&v, "name"),
        before,
        "the live secret was touched"
    );
    assert_eq!(v.get_secret("name", None).unwrap().version, newer);
    v.delete_secret("name").unwrap();
    expect_wire_err(
        v.restore_secret(&blob),
        "SecretIsDeleted",
        (409, "Conflict", Some("ObjectIsDeletedButRecoverable")),
    );
    let d = v.get_deleted_secret("name").unwrap();
    assert_eq!(d.secret.version, newer, "the deleted secret was replaced");
    v.purge_deleted_secret("name").unwrap();
    assert_eq!(v.restore_secret(&blob).unwrap().version, first);
    assert_eq!(value_of(&v, "name", &first), "first");
}

#[test]
fn tampered_truncated_or_foreign_secret_blob_is_invalid_backup() {
    let store = |key: u8| TempStore::with(Opener::key([key; 32]), T0);
    let (a, b) = (store(1), store(2));
    let va = a.vault("vault", kv(7, false));
    let vb = b.vault("vault", kv(7, false));
    let version = set(&va, "s", "a value to tamper with", SecretOptions::default());
    let blob = va.backup_secret("s").unwrap();

    let mut bad: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("one byte short".into(), blob[..blob.len() - 1].to_vec()),
        ("one byte more".into(), [blob.as_slice(), &[0]].concat()),
        ("twice".into(), [blob.as_slice(), blob.as_slice()].concat()),
    ];
    for i in 0..blob.len() {
        let mut b = blob.clone();
        b[i] ^= 0x01;
        bad.push((format!("bit flipped at {i}"), b));
    }
    let other = a.vault("other", kv(7, false));
    for (what, b) in &bad {
        match other.restore_secret(b) {
            Err(e @ Error::InvalidBackup) => assert_eq!(e.wire().status, 400, "{what}"),
            other => panic!("{what}: expected InvalidBackup, got {other:?}"),
        }
    }
    assert!(other.list_secrets(10, None).unwrap().items.is_empty());
    // Another store's master key: refused. The same master key elsewhere: restored.
    assert!(matches!(
        vb.restore_secret(&blob),
        Err(Error::InvalidBackup)
    ));
    assert!(vb.list_secrets(10, None).unwrap().items.is_empty());
    let c = store(1);
    let vc = c.vault("vault", kv(7, false));
    assert_eq!(vc.restore_secret(&blob).unwrap().version, version);
    assert_eq!(value_of(&vc, "s", &version), "a value to tamper with");
    // The genuine blob restores here too.
    assert_eq!(other.restore_secret(&blob).unwrap().version, version);
}
