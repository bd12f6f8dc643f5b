//! Purge protection holds under every path.
//!
//! Guards against: a soft-deleted key or vault under purge protection being destroyed before
//! its scheduled purge date by any route (direct purge, vault delete + vault purge, restore or
//! create or import over its name, a store-level sweep, a clock set back and forward again, a
//! reopen), protection being switched off, the refusal not being Key Vault's 403 Forbidden, and
//! the automatic purge not happening at the date (for keys, and for a deleted vault with all its
//! keys, leaving nothing behind in the database). Also the positive case: without protection,
//! purge works at once.
//!
//! Secrets hold the same: a soft-deleted secret under purge protection outlives every path
//! (purge, vault delete + vault purge, restore or set over its name, the sweep, a clock set
//! back, a reopen) until its date, comes back from recover with every version and value, is
//! purged by the sweep exactly at its date, and goes with its vault, leaving no record.
//!
//! Certificates too, with the key and secret they own: a soft-deleted certificate under purge
//! protection outlives purge (its own, or its key's or secret's through their APIs), vault
//! delete + vault purge, restore, create or import over its name, the sweep, a clock set back
//! and a reopen; recover brings back every version whole; at its date the certificate, its
//! key and its secret are purged together, and with a purged vault nothing of them is left.

mod support;

use base64::Engine as _;
use localhsm::crypto::x509::CertificateKey;
use localhsm::crypto::{CurveName, KeyType, SecretString};
use localhsm::model::certificates::{
    CertificateKeyProperties, CertificateOptions, CertificatePolicy, X509Properties,
};
use localhsm::model::{KeyOptions, SecretOptions, Tags, VaultKind, VaultOptions};
use localhsm::{Error, KeySpec, Vault};
use support::{
    ec_key, expect_err, expect_wire_err, fails_with, hsm, raw_db, vector_jwk, TempStore, DAY, T0,
};

fn assert_purge_protected<T: std::fmt::Debug>(r: localhsm::Result<T>, date: u64) {
    let wire = (403, "Forbidden", Some("PurgeProtectionEnabled"));
    match expect_wire_err(r, "PurgeProtected", wire) {
        Error::PurgeProtected {
            scheduled_purge_date,
            ..
        } => assert_eq!(scheduled_purge_date, date),
        other => panic!("expected PurgeProtected, got {other:?}"),
    }
}

fn assert_key_is_deleted<T: std::fmt::Debug>(r: localhsm::Result<T>) {
    let wire = (409, "Conflict", Some("ObjectIsDeletedButRecoverable"));
    expect_wire_err(r, "KeyIsDeleted", wire);
}

/// (deleted date, scheduled purge date) of a soft-deleted key, which must exist.
fn deleted_dates(v: &Vault, name: &str) -> (u64, u64) {
    let d = v.get_deleted_key(name).expect("still soft-deleted");
    (d.deletion.deleted_date, d.deletion.scheduled_purge_date)
}

fn is_gone(v: &Vault, name: &str) -> bool {
    fails_with(&v.get_deleted_key(name), "DeletedKeyNotFound")
        && fails_with(&v.get_key(name, None), "KeyNotFound")
}

#[test]
fn direct_purge_before_the_date_is_forbidden() {
    let f = TempStore::new();
    let v = f.vault("pp", hsm(7, true));
    let version = ec_key(&v, "k");
    let del = v.delete_key("k").unwrap();
    let date = T0 + 7 * DAY;
    assert_eq!(del.deletion.deleted_date, T0);
    assert_eq!(del.deletion.scheduled_purge_date, date);
    for t in [T0, T0 + 1, T0 + 3 * DAY, date - 1] {
        f.clock.set(t);
        assert_purge_protected(v.purge_deleted_key("k"), date);
        assert_purge_protected(v.purge_deleted_key("K"), date);
        assert_eq!(deleted_dates(&v, "k"), (T0, date), "at {t}");
    }
    // Still recoverable, with its version, right up to the date.
    let back = v.recover_deleted_key("k").unwrap();
    assert_eq!(back.version, version);
    assert_eq!(back.attributes.recovery_level, "CustomizedRecoverable");
    assert_eq!(back.attributes.recoverable_days, 7);
}

#[test]
fn purged_automatically_at_the_date_not_before() {
    let f = TempStore::new();
    let v = f.vault("pp", hsm(7, true));
    ec_key(&v, "k");
    v.delete_key("k").unwrap();
    let date = T0 + 7 * DAY;

    f.clock.set(date - 1);
    assert_eq!(f.store.sweep().unwrap(), localhsm::SweepReport::default());
    assert_eq!(deleted_dates(&v, "k"), (T0, date));

    // Exactly at the date the explicit sweep purges it...
    f.clock.set(date);
    let report = f.store.sweep().unwrap();
    assert_eq!(report.keys, vec!["pp/k".to_string()]);
    assert!(report.vaults.is_empty());
    assert!(is_gone(&v, "k"));
    // ...and the name is free again.
    ec_key(&v, "k");

    // Without an explicit sweep, the next call sweeps by itself.
    v.delete_key("k").unwrap();
    let date2 = date + 7 * DAY;
    f.clock.set(date2 - 1);
    assert_eq!(deleted_dates(&v, "k"), (date, date2));
    f.clock.set(date2 + 5 * DAY);
    assert!(v.list_deleted_keys(10, None).unwrap().items.is_empty());
    assert!(is_gone(&v, "k"));
}

#[test]
fn store_sweep_before_the_date_purges_nothing() {
    let f = TempStore::new();
    let v = f.vault("pp", hsm(7, true));
    for name in ["a", "b", "c"] {
        ec_key(&v, name);
    }
    v.delete_key("a").unwrap();
    f.clock.set(T0 + DAY);
    v.delete_key("b").unwrap();
    f.store.delete_vault("pp").unwrap();
    for t in [T0 + DAY, T0 + 2 * DAY, T0 + 7 * DAY - 1] {
        f.clock.set(t);
        assert_eq!(
            f.store.sweep().unwrap(),
            localhsm::SweepReport::default(),
            "at {t}"
        );
    }
    f.store.recover_vault("pp").unwrap();
    assert_eq!(deleted_dates(&v, "a"), (T0, T0 + 7 * DAY));
    assert_eq!(deleted_dates(&v, "b"), (T0 + DAY, T0 + 8 * DAY));
    assert!(v.get_key("c", None).is_ok());
}

#[test]
fn vault_delete_and_purge_cannot_bypass_it() {
    let f = TempStore::new();
    let v = f.vault("pp", hsm(7, true));
    let live_version = ec_key(&v, "live");
    ec_key(&v, "gone");
    v.delete_key("gone").unwrap(); // due at T0 + 7d
    let key_date = T0 + 7 * DAY;

    f.clock.set(T0 + DAY);
    let info = f.store.delete_vault("pp").unwrap();
    let vault_date = T0 + 8 * DAY;
    assert_eq!(info.deleted_date, Some(T0 + DAY));
    assert_eq!(info.scheduled_purge_date, Some(vault_date));
    assert_purge_protected(f.store.purge_vault("pp"), vault_date);
    expect_err(
        f.store.create_vault("pp", VaultOptions::default()),
        "VaultIsDeleted",
    );
    // The vault's keys are out of reach while it is deleted, purge included.
    expect_err(v.purge_deleted_key("gone"), "VaultNotFound");

    f.clock.set(key_date - 1);
    assert_purge_protected(f.store.purge_vault("pp"), vault_date);
    f.store.recover_vault("pp").unwrap();
    // Recover brought everything back as it was.
    assert_eq!(v.get_key("live", None).unwrap().version, live_version);
    assert_eq!(deleted_dates(&v, "gone"), (T0, key_date));
    assert_purge_protected(v.purge_deleted_key("gone"), key_date);
}

#[test]
fn deleted_vault_is_purged_at_its_date_with_all_its_keys() {
    let f = TempStore::new();
    let v = f.vault("pp", hsm(7, true));
    let other = f.vault("other", hsm(7, true));
    ec_key(&v, "live");
    v.create_key(
        "aes",
        KeyType::OctHsm,
        KeySpec::Oct(256),
        KeyOptions::default(),
    )
    .unwrap();
    ec_key(&v, "deleted");
    v.delete_key("deleted").unwrap();
    ec_key(&other, "live"); // same name in another vault: must survive
    f.clock.set(T0 + DAY);
    f.store.delete_vault("pp").unwrap();
    let vault_date = T0 + 8 * DAY;

    // The deleted key comes due first, while the vault is deleted.
    f.clock.set(T0 + 7 * DAY);
    assert_eq!(
        f.store.sweep().unwrap().keys,
        vec!["pp/deleted".to_string()]
    );
    f.clock.set(vault_date - 1);
    assert_purge_protected(f.store.purge_vault("pp"), vault_date);
    assert_eq!(f.store.list_deleted_vaults().unwrap().len(), 1);

    f.clock.set(vault_date);
    assert!(f.store.list_deleted_vaults().unwrap().is_empty());
    expect_err(f.store.vault_info("pp"), "VaultNotFound");
    expect_err(f.store.purge_vault("pp"), "DeletedVaultNotFound");
    // The name is free, and the new vault starts empty.
    let again = f.vault("pp", hsm(7, true));
    assert!(again.list_keys(10, None).unwrap().items.is_empty());
    assert!(again.list_deleted_keys(10, None).unwrap().items.is_empty());
    expect_err(again.key("live", None), "KeyNotFound");
    assert!(other.get_key("live", None).is_ok());

    // Nothing of the purged vault's keys is left in the database.
    drop((v, other, again));
    let db = raw_db(f.close().path());
    for tree in ["keys", "deleted_keys", "versions"] {
        let t = db.open_tree(tree).unwrap();
        let left: Vec<_> = t.scan_prefix(b"pp/").keys().collect();
        assert!(
            left.is_empty(),
            "{tree} still holds {} pp/ records",
            left.len()
        );
        if tree != "deleted_keys" {
            assert!(t.scan_prefix(b"other/").next().is_some(), "{tree}: other/");
        }
    }
    let queue = db.open_tree("purge_queue").unwrap();
    assert_eq!(queue.len(), 0, "purge queue entries left behind");
}

#[test]
fn restore_over_a_deleted_name_is_a_conflict() {
    let f = TempStore::new();
    let v = f.vault("pp", hsm(7, true));
    let elsewhere = f.vault("plain", hsm(7, false));
    let version = ec_key(&v, "k");
    let blob = v.backup_key("k").unwrap();
    v.delete_key("k").unwrap();
    assert_key_is_deleted(v.restore_key(&blob));
    f.clock.set(T0 + 7 * DAY - 1);
    assert_key_is_deleted(v.restore_key(&blob));
    assert_eq!(deleted_dates(&v, "k"), (T0, T0 + 7 * DAY));
    assert_eq!(
        v.get_deleted_key("k").unwrap().key.version,
        version,
        "the deleted key was replaced"
    );
    // Restoring into another vault leaves the protected one alone.
    assert_eq!(elsewhere.restore_key(&blob).unwrap().version, version);
    assert_eq!(deleted_dates(&v, "k"), (T0, T0 + 7 * DAY));
    // At the date it is purged, and then the restore goes through.
    f.clock.set(T0 + 7 * DAY);
    assert_eq!(v.restore_key(&blob).unwrap().version, version);
}

#[test]
fn create_or_import_under_a_deleted_name_is_a_conflict() {
    let f = TempStore::new();
    let v = f.vault("pp", hsm(7, true));
    let version = ec_key(&v, "Name");
    v.delete_key("name").unwrap();
    for name in ["Name", "name", "NAME"] {
        assert_key_is_deleted(v.create_key(
            name,
            KeyType::EcHsm,
            KeySpec::Ec(CurveName::P256),
            KeyOptions::default(),
        ));
        assert_key_is_deleted(v.create_key(
            name,
            KeyType::OctHsm,
            KeySpec::Oct(128),
            KeyOptions::default(),
        ));
        let jwk = vector_jwk("ecdsa.json", "ec-p256");
        assert_key_is_deleted(v.import_key(name, &jwk, true, KeyOptions::default()));
    }
    let d = v.get_deleted_key("name").unwrap();
    assert_eq!(d.key.name, "Name");
    assert_eq!(d.key.version, version);
    assert_eq!(
        v.recover_deleted_key("NAME").unwrap().version,
        version,
        "recover brings back the one version"
    );
}

#[test]
fn clock_set_back_cannot_bring_the_date_forward() {
    let f = TempStore::new();
    let v = f.vault("pp", hsm(7, true));
    ec_key(&v, "k1");
    ec_key(&v, "k2");
    v.delete_key("k1").unwrap();
    let d1 = T0 + 7 * DAY;

    // The store sees T0+6d, then the clock goes back a month.
    f.clock.set(T0 + 6 * DAY);
    assert_eq!(f.store.now(), T0 + 6 * DAY);
    f.clock.set(T0 - 30 * DAY);
    assert_eq!(f.store.now(), T0 + 6 * DAY, "time went backwards");
    // A key deleted now is dated by the store's time, not by the clock set back (which would
    // put its purge date in the past and purge it at once).
    let del = v.delete_key("k2").unwrap();
    assert_eq!(del.deletion.deleted_date, T0 + 6 * DAY);
    let d2 = T0 + 13 * DAY;
    assert_eq!(del.deletion.scheduled_purge_date, d2);
    assert_eq!(f.store.sweep().unwrap(), localhsm::SweepReport::default());
    assert_purge_protected(v.purge_deleted_key("k2"), d2);
    assert_purge_protected(v.purge_deleted_key("k1"), d1);

    // Forward again, but still short of k1's date: nothing purged.
    f.clock.set(d1 - 1);
    assert_eq!(deleted_dates(&v, "k1"), (T0, d1));
    f.clock.set(d1);
    assert!(is_gone(&v, "k1"));
    assert_eq!(deleted_dates(&v, "k2"), (T0 + 6 * DAY, d2));

    // The high-water mark survives a reopen with the clock set back.
    ec_key(&v, "k3"); // an acknowledged write at d1
    drop(v);
    let f = f.reopen(T0);
    let (store, clock) = (&f.store, &f.clock);
    assert_eq!(store.now(), d1, "the reopened store went back in time");
    let v = store.vault("pp").unwrap();
    assert_eq!(deleted_dates(&v, "k2"), (T0 + 6 * DAY, d2));
    assert_purge_protected(v.purge_deleted_key("k2"), d2);
    v.delete_key("k3").unwrap();
    assert_eq!(deleted_dates(&v, "k3"), (d1, d1 + 7 * DAY));
    clock.set(d2 - 1);
    assert_eq!(deleted_dates(&v, "k2"), (T0 + 6 * DAY, d2));
    clock.set(d2);
    assert!(is_gone(&v, "k2"));
}

#[test]
fn purge_protection_cannot_be_turned_off_and_survives_reopen() {
    let f = TempStore::new();
    let pp = f.vault("pp", hsm(90, true));
    let later = f.vault("later", hsm(30, false));
    assert_eq!(
        later
            .get_key("x", None)
            .map(|_| ())
            .unwrap_err()
            .wire()
            .status,
        404
    );
    ec_key(&pp, "k");
    ec_key(&later, "k");
    assert_eq!(
        pp.get_key("k", None).unwrap().attributes.recovery_level,
        "Recoverable"
    );
    assert_eq!(
        later.get_key("k", None).unwrap().attributes.recovery_level,
        "CustomizedRecoverable+Purgeable"
    );
    // Turning it off on an unprotected vault is a no-op; on a protected one it is refused.
    assert!(
        !f.store
            .set_purge_protection("later", false)
            .unwrap()
            .purge_protection
    );
    match f.store.set_purge_protection("pp", false) {
        Err(e @ Error::PurgeProtectionIrreversible) => assert_eq!(e.wire().status, 400),
        other => panic!("expected PurgeProtectionIrreversible, got {other:?}"),
    }
    // Switched on later, it applies to existing keys, and to keys deleted before it was on.
    later.delete_key("k").unwrap();
    assert!(
        f.store
            .set_purge_protection("later", true)
            .unwrap()
            .purge_protection
    );
    assert!(matches!(
        f.store.set_purge_protection("later", false),
        Err(Error::PurgeProtectionIrreversible)
    ));
    assert_purge_protected(later.purge_deleted_key("k"), T0 + 30 * DAY);
    assert_eq!(
        later
            .get_deleted_key("k")
            .unwrap()
            .key
            .attributes
            .recovery_level,
        "CustomizedRecoverable"
    );
    pp.delete_key("k").unwrap();

    drop((pp, later));
    let f = f.reopen(T0);
    let store = &f.store;
    for name in ["pp", "later"] {
        assert!(store.vault_info(name).unwrap().purge_protection, "{name}");
        assert!(matches!(
            store.set_purge_protection(name, false),
            Err(Error::PurgeProtectionIrreversible)
        ));
    }
    let pp = store.vault("pp").unwrap();
    let later = store.vault("later").unwrap();
    assert_purge_protected(pp.purge_deleted_key("k"), T0 + 90 * DAY);
    assert_purge_protected(later.purge_deleted_key("k"), T0 + 30 * DAY);
    store.delete_vault("pp").unwrap();
    assert_purge_protected(store.purge_vault("pp"), T0 + 90 * DAY);
}

#[test]
fn without_protection_purge_works_at_once() {
    let f = TempStore::new();
    let v = f.vault("plain", hsm(30, false));
    ec_key(&v, "k");
    let mut tags = Tags::new();
    tags.insert("a".into(), "b".into());
    v.create_key(
        "aes",
        KeyType::OctHsm,
        KeySpec::Oct(256),
        KeyOptions {
            tags,
            ..Default::default()
        },
    )
    .unwrap();
    v.delete_key("k").unwrap();
    assert_eq!(deleted_dates(&v, "k"), (T0, T0 + 30 * DAY));
    assert_eq!(
        v.get_deleted_key("k")
            .unwrap()
            .key
            .attributes
            .recovery_level,
        "CustomizedRecoverable+Purgeable"
    );
    v.purge_deleted_key("k").unwrap();
    assert!(is_gone(&v, "k"));
    expect_err(v.purge_deleted_key("k"), "DeletedKeyNotFound");
    ec_key(&v, "k"); // the name is free at once

    f.store.delete_vault("plain").unwrap();
    f.store.purge_vault("plain").unwrap();
    expect_err(f.store.vault_info("plain"), "VaultNotFound");
    let again = f.vault("plain", hsm(30, false));
    assert!(again.list_keys(10, None).unwrap().items.is_empty());
    expect_err(again.key("aes", None), "KeyNotFound");
}

/// Keys being created while their vault is deleted and purged must not outlive the purge:
/// they used to be written after the purge had swept the vault and then reappeared in a new
/// vault of the same name. RSA-3072 generation keeps the creates in flight long enough.
#[test]
fn vault_purge_is_final_even_with_creates_in_flight() {
    let f = TempStore::new();
    let v = f.vault("racy", hsm(7, false));
    let creating: Vec<_> = (0..3)
        .map(|i| {
            let v = v.clone();
            std::thread::spawn(move || {
                v.create_key(
                    &format!("late{i}"),
                    KeyType::RsaHsm,
                    KeySpec::Rsa(3072),
                    KeyOptions::default(),
                )
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(10));
    f.store.delete_vault("racy").unwrap();
    f.store.purge_vault("racy").unwrap();
    for t in creating {
        // Either the create finished before the delete (and was purged with the vault) or
        // it saw the vault gone.
        if let Err(e) = t.join().expect("create thread") {
            assert_eq!(support::error_name(&e), "VaultNotFound", "{e}");
        }
    }
    // Either way the new vault of that name starts empty.
    let again = f.vault("racy", hsm(7, false));
    let names: Vec<String> = again
        .list_keys(10, None)
        .unwrap()
        .items
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert!(names.is_empty(), "keys outlived the vault purge: {names:?}");
    for i in 0..3 {
        expect_err(again.key(&format!("late{i}"), None), "KeyNotFound");
    }
}

// --- secrets ------------------------------------------------------------------------------------

/// A vault of kind `vault` (it holds secrets) with `retention_days` and `protected`.
fn kv(retention_days: u32, protected: bool) -> VaultOptions {
    VaultOptions {
        kind: VaultKind::Vault,
        retention_days,
        purge_protection: protected,
    }
}

/// Sets `value` as a new version of secret `name`; returns the version.
fn set(v: &Vault, name: &str, value: &str) -> String {
    v.set_secret(name, SecretString::from(value), SecretOptions::default())
        .unwrap_or_else(|e| panic!("set secret {name}: {e}"))
        .version
}

fn assert_secret_is_deleted<T: std::fmt::Debug>(r: localhsm::Result<T>) {
    let wire = (409, "Conflict", Some("ObjectIsDeletedButRecoverable"));
    expect_wire_err(r, "SecretIsDeleted", wire);
}

/// (deleted date, scheduled purge date) of a soft-deleted secret, which must exist.
fn secret_dates(v: &Vault, name: &str) -> (u64, u64) {
    let d = v.get_deleted_secret(name).expect("still soft-deleted");
    (d.deletion.deleted_date, d.deletion.scheduled_purge_date)
}

fn secret_is_gone(v: &Vault, name: &str) -> bool {
    fails_with(&v.get_deleted_secret(name), "DeletedSecretNotFound")
        && fails_with(&v.get_secret(name, None), "SecretNotFound")
}

/// Every version of a live secret with its value, oldest first.
fn secret_values(v: &Vault, name: &str) -> Vec<(String, String)> {
    v.list_secret_versions(name, 25, None)
        .expect("versions")
        .items
        .iter()
        .map(|b| {
            let got = v.get_secret(name, Some(&b.version)).expect("value");
            let value = got.value.expect("get carries the value");
            (b.version.clone(), value.expose().to_string())
        })
        .collect()
}

#[test]
fn a_protected_secret_outlives_every_path_until_its_date() {
    let f = TempStore::new();
    let v = f.vault("kv", kv(7, true));
    let elsewhere = f.vault("plainkv", kv(7, false));
    let v1 = set(&v, "Sec", "first ✓");
    let v2 = set(&v, "sec", "second 🔑");
    let blob = v.backup_secret("sec").unwrap();
    let del = v.delete_secret("SEC").unwrap();
    let date = T0 + 7 * DAY;
    assert_eq!(
        (del.deletion.deleted_date, del.deletion.scheduled_purge_date),
        (T0, date)
    );
    assert_eq!(del.secret.version, v2);
    assert!(
        del.secret.value.is_none(),
        "a deleted bundle carries no value"
    );
    assert_eq!(
        del.secret.attributes.recovery_level,
        "CustomizedRecoverable"
    );
    for t in [T0, T0 + 1, T0 + 3 * DAY, date - 1] {
        f.clock.set(t);
        for name in ["sec", "SEC", "Sec"] {
            assert_purge_protected(v.purge_deleted_secret(name), date);
            assert_secret_is_deleted(v.restore_secret(&blob));
            assert_secret_is_deleted(v.set_secret(
                name,
                SecretString::from("over it"),
                SecretOptions::default(),
            ));
        }
        assert_eq!(f.store.sweep().unwrap(), localhsm::SweepReport::default());
        assert_eq!(secret_dates(&v, "sec"), (T0, date), "at {t}");
    }
    // Restoring elsewhere leaves the protected one alone.
    assert_eq!(elsewhere.restore_secret(&blob).unwrap().version, v2);
    assert_eq!(secret_dates(&v, "sec"), (T0, date));

    // The vault deleted and purged: refused, and the secret waits out of reach.
    let vault_date = date - 1 + 7 * DAY;
    f.store.delete_vault("kv").unwrap();
    assert_purge_protected(f.store.purge_vault("kv"), vault_date);
    expect_err(v.purge_deleted_secret("sec"), "VaultNotFound");
    expect_err(v.restore_secret(&blob), "VaultNotFound");
    f.store.recover_vault("kv").unwrap();

    // Recover right up to the date brings back both versions with their values.
    let back = v.recover_deleted_secret("sec").unwrap();
    assert_eq!(
        (back.name.as_str(), back.version.as_str()),
        ("Sec", v2.as_str())
    );
    assert_eq!(
        secret_values(&v, "sec"),
        vec![
            (v1, "first ✓".to_string()),
            (v2.clone(), "second 🔑".to_string())
        ]
    );

    // Deleted again at date - 1: due a week later, purged by the sweep exactly then.
    v.delete_secret("sec").unwrap();
    let date2 = date - 1 + 7 * DAY;
    f.clock.set(date2 - 1);
    assert_eq!(f.store.sweep().unwrap(), localhsm::SweepReport::default());
    assert_purge_protected(v.purge_deleted_secret("sec"), date2);
    f.clock.set(date2);
    let report = f.store.sweep().unwrap();
    // The report names what it purged by the store's (lowercase) id, as it does for keys.
    assert_eq!(report.secrets, vec!["kv/sec".to_string()]);
    assert!(report.keys.is_empty() && report.vaults.is_empty());
    assert!(secret_is_gone(&v, "sec"));
    // The name is free: the backup restores, every version and value as it was.
    assert_eq!(v.restore_secret(&blob).unwrap().version, v2);
    assert_eq!(secret_values(&v, "sec").len(), 2);
}

#[test]
fn a_secret_and_a_key_of_one_name_come_due_on_their_own() {
    let f = TempStore::new();
    let v = f.vault("kv", kv(7, true));
    ec_key(&v, "twin");
    set(&v, "twin", "the secret twin");
    v.delete_key("twin").unwrap();
    f.clock.set(T0 + DAY);
    v.delete_secret("twin").unwrap();
    assert_purge_protected(v.purge_deleted_key("twin"), T0 + 7 * DAY);
    assert_purge_protected(v.purge_deleted_secret("twin"), T0 + 8 * DAY);
    f.clock.set(T0 + 7 * DAY);
    let report = f.store.sweep().unwrap();
    assert_eq!(report.keys, vec!["kv/twin".to_string()]);
    assert!(report.secrets.is_empty(), "the secret went with the key");
    assert_eq!(secret_dates(&v, "twin"), (T0 + DAY, T0 + 8 * DAY));
    f.clock.set(T0 + 8 * DAY);
    // Without an explicit sweep, the next call sweeps by itself.
    assert!(v.list_deleted_secrets(10, None).unwrap().items.is_empty());
    assert!(secret_is_gone(&v, "twin"));
}

#[test]
fn a_clock_set_back_and_a_reopen_cannot_bring_a_secret_date_forward() {
    let f = TempStore::new();
    let v = f.vault("kv", kv(7, true));
    set(&v, "s1", "one");
    set(&v, "s2", "two");
    v.delete_secret("s1").unwrap();
    let d1 = T0 + 7 * DAY;
    // The store sees T0+6d, then the clock goes back a month.
    f.clock.set(T0 + 6 * DAY);
    assert_eq!(f.store.now(), T0 + 6 * DAY);
    f.clock.set(T0 - 30 * DAY);
    let del = v.delete_secret("s2").unwrap();
    let d2 = T0 + 13 * DAY;
    assert_eq!(
        (del.deletion.deleted_date, del.deletion.scheduled_purge_date),
        (T0 + 6 * DAY, d2),
        "dated by the store's time, not by the clock set back"
    );
    assert_purge_protected(v.purge_deleted_secret("s1"), d1);
    assert_purge_protected(v.purge_deleted_secret("s2"), d2);
    drop(v);
    let f = f.reopen(T0);
    let v = f.store.vault("kv").unwrap();
    assert!(f.store.vault_info("kv").unwrap().purge_protection);
    assert_purge_protected(v.purge_deleted_secret("s1"), d1);
    assert_purge_protected(v.purge_deleted_secret("s2"), d2);
    f.clock.set(d1 - 1);
    assert_eq!(secret_dates(&v, "s1"), (T0, d1));
    f.clock.set(d1);
    assert!(secret_is_gone(&v, "s1"));
    assert_eq!(secret_dates(&v, "s2"), (T0 + 6 * DAY, d2));
    assert_eq!(
        v.recover_deleted_secret("s2").unwrap().name,
        "s2",
        "recoverable up to its date"
    );
    assert_eq!(secret_values(&v, "s2")[0].1, "two");
}

#[test]
fn the_default_vault_protects_its_secrets_too() {
    let f = TempStore::new();
    localhsm::server::ensure_default_vault(&f.store).unwrap();
    let v = f.store.vault("default").unwrap();
    set(&v, "s", "in the default vault");
    f.store.enable_purge_protection("default").unwrap();
    v.delete_secret("s").unwrap();
    let retention = f.store.vault_info("default").unwrap().retention_days;
    let date = T0 + u64::from(retention) * DAY;
    assert_purge_protected(v.purge_deleted_secret("s"), date);
    f.clock.set(date - 1);
    assert_purge_protected(v.purge_deleted_secret("s"), date);
    f.clock.set(date);
    assert_eq!(
        f.store.sweep().unwrap().secrets,
        vec!["default/s".to_string()]
    );
}

#[test]
fn a_deleted_vault_is_purged_at_its_date_with_all_its_secrets() {
    let f = TempStore::new();
    let v = f.vault("kv", kv(7, true));
    let other = f.vault("otherkv", kv(7, true));
    set(&v, "live", "live value");
    set(&v, "live", "live value 2");
    set(&v, "deleted", "deleted value");
    v.delete_secret("deleted").unwrap();
    ec_key(&v, "live");
    set(&other, "live", "must survive");
    f.clock.set(T0 + DAY);
    f.store.delete_vault("kv").unwrap();
    let vault_date = T0 + 8 * DAY;
    f.clock.set(T0 + 7 * DAY);
    assert_eq!(
        f.store.sweep().unwrap().secrets,
        vec!["kv/deleted".to_string()]
    );
    f.clock.set(vault_date - 1);
    assert_purge_protected(f.store.purge_vault("kv"), vault_date);
    f.clock.set(vault_date);
    assert!(f.store.list_deleted_vaults().unwrap().is_empty());
    let again = f.vault("kv", kv(7, true));
    assert!(again.list_secrets(10, None).unwrap().items.is_empty());
    assert!(again
        .list_deleted_secrets(10, None)
        .unwrap()
        .items
        .is_empty());
    expect_err(again.get_secret("live", None), "SecretNotFound");
    assert_eq!(secret_values(&other, "live")[0].1, "must survive");

    drop((v, other, again));
    let db = raw_db(f.close().path());
    for tree in [
        "secrets",
        "deleted_secrets",
        "secret_versions",
        "keys",
        "versions",
    ] {
        let t = db.open_tree(tree).unwrap();
        let left: Vec<_> = t.scan_prefix(b"kv/").keys().collect();
        assert!(
            left.is_empty(),
            "{tree} still holds {} kv/ records",
            left.len()
        );
    }
    for tree in ["secrets", "secret_versions"] {
        let t = db.open_tree(tree).unwrap();
        assert!(
            t.scan_prefix(b"otherkv/").next().is_some(),
            "{tree}: otherkv/"
        );
    }
    assert_eq!(db.open_tree("purge_queue").unwrap().len(), 0);
}

#[test]
fn without_protection_a_secret_purges_at_once() {
    let f = TempStore::new();
    let v = f.vault("plainkv", kv(30, false));
    set(&v, "s", "value");
    v.delete_secret("s").unwrap();
    assert_eq!(secret_dates(&v, "s"), (T0, T0 + 30 * DAY));
    assert_eq!(
        v.get_deleted_secret("s")
            .unwrap()
            .secret
            .attributes
            .recovery_level,
        "CustomizedRecoverable+Purgeable"
    );
    v.purge_deleted_secret("s").unwrap();
    assert!(secret_is_gone(&v, "s"));
    expect_err(v.purge_deleted_secret("s"), "DeletedSecretNotFound");
    set(&v, "s", "the name is free at once");
    // Switched on later, protection covers secrets deleted from then on, and before.
    v.delete_secret("s").unwrap();
    f.store.enable_purge_protection("plainkv").unwrap();
    assert_purge_protected(v.purge_deleted_secret("s"), T0 + 30 * DAY);
}

// --- certificates -------------------------------------------------------------------------------

/// A self-signed EC certificate policy (EC, so that issuing costs little).
fn cert_policy(subject: &str) -> CertificatePolicy {
    CertificatePolicy {
        key_props: Some(CertificateKeyProperties {
            kty: Some(KeyType::Ec),
            ..Default::default()
        }),
        x509_props: Some(X509Properties {
            subject: Some(subject.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Issues a new version of certificate `name`; returns the version.
fn issue(v: &Vault, name: &str) -> String {
    v.create_certificate(name, cert_policy("CN=pp"), CertificateOptions::default())
        .unwrap_or_else(|e| panic!("create certificate {name}: {e}"));
    v.get_certificate(name, None).expect("just issued").version
}

fn assert_cert_is_deleted<T: std::fmt::Debug>(r: localhsm::Result<T>) {
    let wire = (409, "Conflict", Some("ObjectIsDeletedButRecoverable"));
    expect_wire_err(r, "CertificateIsDeleted", wire);
}

/// (deleted date, scheduled purge date) of a soft-deleted certificate, which must exist.
fn cert_dates(v: &Vault, name: &str) -> (u64, u64) {
    let d = v.get_deleted_certificate(name).expect("still soft-deleted");
    (d.deletion.deleted_date, d.deletion.scheduled_purge_date)
}

/// Whether the certificate, its key and its secret are all gone, live and deleted.
fn cert_is_gone(v: &Vault, name: &str) -> bool {
    fails_with(
        &v.get_deleted_certificate(name),
        "DeletedCertificateNotFound",
    ) && fails_with(&v.get_certificate(name, None), "CertificateNotFound")
        && fails_with(&v.get_deleted_key(name), "DeletedKeyNotFound")
        && fails_with(&v.get_key(name, None), "KeyNotFound")
        && fails_with(&v.get_deleted_secret(name), "DeletedSecretNotFound")
        && fails_with(&v.get_secret(name, None), "SecretNotFound")
}

/// Checks that live certificate `name` has exactly `versions`, each with its managed key
/// of the same version (holding the certificate's public key, and signing) and its managed
/// secret of the same version (a PFX holding that certificate and a key that matches it).
#[track_caller]
fn assert_cert_whole(v: &Vault, name: &str, versions: &[String]) {
    let listed: Vec<String> = v
        .list_certificate_versions(name, 25, None)
        .expect("certificate versions")
        .items
        .into_iter()
        .map(|b| b.version)
        .collect();
    assert_eq!(listed, versions, "{name}: certificate versions");
    for version in versions {
        let c = v.get_certificate(name, Some(version)).expect("version");
        let der = c.cer.expect("issued");
        let key = v.get_key(name, Some(version)).expect("its key");
        assert!(key.managed, "{name}/{version}: the key is managed");
        let parsed = localhsm::crypto::x509::parse_certificate(&der).expect("parse");
        assert_eq!(
            key.key.x, parsed.public.x,
            "{name}/{version}: key and certificate"
        );
        let h = v.key(name, Some(version)).expect("key handle");
        h.sign(localhsm::crypto::SignatureAlgorithm::ES256, &[3; 32])
            .unwrap_or_else(|e| panic!("{name}/{version}: the key does not sign: {e}"));
        let secret = v.get_secret(name, Some(version)).expect("its secret");
        assert!(secret.managed, "{name}/{version}: the secret is managed");
        let pfx = base64::engine::general_purpose::STANDARD
            .decode(secret.value.expect("a value").expose())
            .expect("base64 PFX");
        let (k, chain) = CertificateKey::from_pfx(&pfx, None).expect("PFX");
        assert_eq!(
            chain[0], der,
            "{name}/{version}: the PFX holds the certificate"
        );
        assert!(k.matches(&der).expect("match"), "{name}/{version}: PFX key");
    }
}

#[test]
fn a_protected_certificate_outlives_every_path_until_its_date_with_its_key_and_secret() {
    let f = TempStore::new();
    let v = f.vault("kv", kv(7, true));
    let elsewhere = f.vault("plainkv", kv(7, false));
    let v1 = issue(&v, "Cert");
    let v2 = issue(&v, "cert");
    let versions = vec![v1, v2.clone()];
    assert_cert_whole(&v, "cert", &versions);
    let blob = v.backup_certificate("cert").unwrap();
    let del = v.delete_certificate("CERT").unwrap();
    let date = T0 + 7 * DAY;
    assert_eq!(
        (del.deletion.deleted_date, del.deletion.scheduled_purge_date),
        (T0, date)
    );
    assert_eq!(del.certificate.version, v2);
    let pfx = {
        let k = CertificateKey::generate(KeySpec::Ec(CurveName::P256)).unwrap();
        let spec = localhsm::crypto::x509::CertSpec {
            subject: "CN=over".into(),
            ..Default::default()
        };
        let der = k.self_signed(&spec).unwrap();
        k.to_pfx(&[der], None).unwrap()
    };
    for t in [T0, T0 + 1, T0 + 3 * DAY, date - 1] {
        f.clock.set(t);
        for name in ["cert", "CERT", "Cert"] {
            assert_purge_protected(v.purge_deleted_certificate(name), date);
            assert_cert_is_deleted(v.restore_certificate(&blob));
            assert_cert_is_deleted(v.create_certificate(
                name,
                cert_policy("CN=over"),
                CertificateOptions::default(),
            ));
            assert_cert_is_deleted(v.import_certificate(
                name,
                localhsm::crypto::SecretBytes::from_slice(pfx.expose()),
                None,
                None,
                CertificateOptions::default(),
            ));
            // Its key and secret cannot be purged, recovered or written over on their own.
            for r in [
                outcome_of(v.purge_deleted_key(name)),
                outcome_of(v.purge_deleted_secret(name)),
                outcome_of(v.recover_deleted_key(name)),
                outcome_of(v.recover_deleted_secret(name)),
            ] {
                assert_eq!(r, "Managed", "{name} at {t}");
            }
            expect_err(
                v.create_key(
                    name,
                    KeyType::Ec,
                    KeySpec::Ec(CurveName::P256),
                    KeyOptions::default(),
                ),
                "KeyIsDeleted",
            );
            expect_err(
                v.set_secret(name, SecretString::from("over"), SecretOptions::default()),
                "SecretIsDeleted",
            );
        }
        assert_eq!(f.store.sweep().unwrap(), localhsm::SweepReport::default());
        assert_eq!(cert_dates(&v, "cert"), (T0, date), "at {t}");
    }
    // Restoring elsewhere leaves the protected one alone.
    assert_eq!(elsewhere.restore_certificate(&blob).unwrap().version, v2);
    assert_cert_whole(&elsewhere, "cert", &versions);
    assert_eq!(cert_dates(&v, "cert"), (T0, date));

    // The vault deleted: its purge is refused, and the certificate waits out of reach.
    let vault_date = date - 1 + 7 * DAY;
    f.store.delete_vault("kv").unwrap();
    assert_purge_protected(f.store.purge_vault("kv"), vault_date);
    expect_err(v.purge_deleted_certificate("cert"), "VaultNotFound");
    expect_err(v.restore_certificate(&blob), "VaultNotFound");
    f.store.recover_vault("kv").unwrap();
    assert_eq!(cert_dates(&v, "cert"), (T0, date));

    // A clock set back a month, and a reopen on it, cannot bring the date forward.
    f.clock.set(T0 - 30 * DAY);
    assert_eq!(f.store.now(), date - 1);
    assert_eq!(f.store.sweep().unwrap(), localhsm::SweepReport::default());
    assert_purge_protected(v.purge_deleted_certificate("cert"), date);
    drop((v, elsewhere));
    let f = f.reopen(T0 - 30 * DAY);
    let v = f.store.vault("kv").unwrap();
    assert_eq!(f.store.now(), date - 1);
    assert_purge_protected(v.purge_deleted_certificate("cert"), date);
    assert_eq!(cert_dates(&v, "cert"), (T0, date));

    // Recover right up to the date brings back every version with its key and secret.
    let back = v.recover_deleted_certificate("cert").unwrap();
    assert_eq!(
        (back.name.as_str(), back.version.as_str()),
        ("Cert", v2.as_str())
    );
    assert_cert_whole(&v, "cert", &versions);

    // Deleted again at date - 1: due a week later; the three go together exactly then.
    v.delete_certificate("cert").unwrap();
    let date2 = date - 1 + 7 * DAY;
    f.clock.set(date2 - 1);
    assert_eq!(f.store.sweep().unwrap(), localhsm::SweepReport::default());
    assert_purge_protected(v.purge_deleted_certificate("cert"), date2);
    assert_eq!(cert_dates(&v, "cert"), (date - 1, date2));
    f.clock.set(date2);
    let report = f.store.sweep().unwrap();
    assert_eq!(report.keys, vec!["kv/cert".to_string()], "{report:?}");
    assert_eq!(report.secrets, vec!["kv/cert".to_string()], "{report:?}");
    assert!(cert_is_gone(&v, "cert"));
    // The name is free: the backup restores, every version whole.
    assert_eq!(v.restore_certificate(&blob).unwrap().version, v2);
    assert_cert_whole(&v, "cert", &versions);
}

/// `"Ok"` or the error's name.
fn outcome_of<T>(r: localhsm::Result<T>) -> String {
    support::outcome(&r)
}

#[test]
fn a_deleted_vault_is_purged_at_its_date_with_its_certificates_keys_and_secrets() {
    let f = TempStore::new();
    let v = f.vault("kv", kv(7, true));
    let other = f.vault("otherkv", kv(7, true));
    issue(&v, "live");
    issue(&v, "gone");
    v.delete_certificate("gone").unwrap();
    let keep = issue(&other, "live");
    f.clock.set(T0 + DAY);
    f.store.delete_vault("kv").unwrap();
    let vault_date = T0 + 8 * DAY;
    // The deleted certificate comes due first, while the vault is deleted: its key and
    // secret go with it.
    f.clock.set(T0 + 7 * DAY);
    let report = f.store.sweep().unwrap();
    assert_eq!(report.keys, vec!["kv/gone".to_string()]);
    assert_eq!(report.secrets, vec!["kv/gone".to_string()]);
    f.clock.set(vault_date - 1);
    assert_purge_protected(f.store.purge_vault("kv"), vault_date);
    f.clock.set(vault_date);
    assert!(f.store.list_deleted_vaults().unwrap().is_empty());
    let again = f.vault("kv", kv(7, true));
    assert!(again
        .list_certificates(10, None, true)
        .unwrap()
        .items
        .is_empty());
    assert!(again
        .list_deleted_certificates(10, None)
        .unwrap()
        .items
        .is_empty());
    assert!(cert_is_gone(&again, "live") && cert_is_gone(&again, "gone"));
    assert_cert_whole(&other, "live", &[keep]);

    drop((v, other, again));
    let db = raw_db(f.close().path());
    for tree in [
        "certificates",
        "deleted_certificates",
        "certificate_versions",
        "keys",
        "deleted_keys",
        "versions",
        "secrets",
        "deleted_secrets",
        "secret_versions",
    ] {
        let t = db.open_tree(tree).unwrap();
        let left: Vec<_> = t.scan_prefix(b"kv/").keys().collect();
        assert!(
            left.is_empty(),
            "{tree} still holds {} kv/ records",
            left.len()
        );
    }
    for tree in ["certificates", "certificate_versions", "keys", "secrets"] {
        let t = db.open_tree(tree).unwrap();
        assert!(
            t.scan_prefix(b"otherkv/").next().is_some(),
            "{tree}: otherkv/"
        );
    }
    assert_eq!(db.open_tree("purge_queue").unwrap().len(), 0);
}

#[test]
fn without_protection_a_certificate_purges_at_once_with_its_key_and_secret() {
    let f = TempStore::new();
    let v = f.vault("plainkv", kv(30, false));
    issue(&v, "c");
    v.delete_certificate("c").unwrap();
    assert_eq!(cert_dates(&v, "c"), (T0, T0 + 30 * DAY));
    assert_eq!(
        v.get_deleted_certificate("c")
            .unwrap()
            .certificate
            .attributes
            .recovery_level,
        "CustomizedRecoverable+Purgeable"
    );
    // Not through the keys or secrets API: only with the certificate.
    expect_err(v.purge_deleted_key("c"), "Managed");
    expect_err(v.purge_deleted_secret("c"), "Managed");
    v.purge_deleted_certificate("c").unwrap();
    assert!(cert_is_gone(&v, "c"));
    expect_err(
        v.purge_deleted_certificate("c"),
        "DeletedCertificateNotFound",
    );
    let fresh = issue(&v, "c");
    assert_cert_whole(&v, "c", &[fresh]);
    // Switched on later, protection covers certificates deleted from then on.
    v.delete_certificate("c").unwrap();
    f.store.enable_purge_protection("plainkv").unwrap();
    assert_purge_protected(v.purge_deleted_certificate("c"), T0 + 30 * DAY);
    f.clock.set(T0 + 30 * DAY);
    assert!(v
        .list_deleted_certificates(10, None)
        .unwrap()
        .items
        .is_empty());
    assert!(cert_is_gone(&v, "c"));
}
