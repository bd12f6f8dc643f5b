//! Managed HSM administration in the core: full backup folders, full and selective restore,
//! account settings, and custom role definitions under access control.
//!
//! Guards against: a backup folder that is not what it claims (missing keys, keys in the
//! clear, a folder left half-written), a restore that overwrites a key changed since the
//! backup, purges a soft-deleted key or restores part of a backup before failing, a
//! restore that loses a key's versions or material, settings that leak between vaults or
//! take a value their type does not allow, and a custom role that grants more (or less)
//! than its data actions less its excluded ones, is assignable outside its assignable
//! scopes, or does not survive a restart.

mod support;

use localhsm::administration::{ContainerUrl, RestoreReport};
use localhsm::model::{Caller, KeyOptions, VaultKind, VaultOptions};
use localhsm::rbac::{CustomRole, DataAction, RolePermissions};
use localhsm::{AccessPolicy, Error, Store};
use support::store::{ec_key, hsm, TempStore};

const T0: u64 = 1_800_000_000;
const CONTAINER: &str = "https://acct01.blob.core.windows.net/hsm-backups";

fn container() -> ContainerUrl {
    ContainerUrl::parse(CONTAINER).unwrap()
}

fn folder_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

fn caller(oid: &str) -> Caller {
    Caller {
        object_id: Some(oid.into()),
        upn: None,
        tenant_id: None,
        ip: None,
    }
}

#[track_caller]
fn bad_parameter_containing<T: std::fmt::Debug>(r: localhsm::Result<T>, text: &str) {
    match r {
        Err(e @ Error::BadParameter(_)) => {
            assert!(e.to_string().contains(text), "{e} does not say {text:?}")
        }
        other => panic!("expected BadParameter with {text:?}, got {other:?}"),
    }
}

/// A public JWK's members, for comparison.
fn public(jwk: &localhsm::crypto::Jwk) -> String {
    serde_json::to_string(jwk).unwrap()
}

fn purge(store: &Store, vault: &str, key: &str) {
    let v = store.vault(vault).unwrap();
    v.delete_key(key).unwrap();
    v.purge_deleted_key(key).unwrap();
}

#[test]
fn a_full_backup_folder_restores_what_it_holds_and_nothing_else() {
    let ts = TempStore::at(T0);
    let v = ts.vault("hsm", hsm(7, false));
    let a1 = ec_key(&v, "alpha");
    let a2 = ec_key(&v, "alpha");
    ec_key(&v, "beta");
    let alpha_before = v.get_key("alpha", None).unwrap();

    let backup = v.full_backup(&container()).unwrap();
    assert_eq!(backup.folder, "mhsm-hsm-2027011508000000");
    assert_eq!(backup.folder_url, format!("{CONTAINER}/{}", backup.folder));
    assert_eq!(backup.keys, ["alpha", "beta"]);
    let dir = ts
        .path()
        .join("backups/acct01/hsm-backups")
        .join(&backup.folder);
    let mut files: Vec<String> = std::fs::read_dir(dir.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["alpha.bkp", "beta.bkp"]);
    // Nothing but the sealed envelope on disk, and no leftover staging folder.
    let blob = std::fs::read(dir.join("keys/alpha.bkp")).unwrap();
    assert!(blob.starts_with(b"LHSMBKP1"));
    assert!(!String::from_utf8_lossy(&blob).contains("kty"));
    let entries: Vec<_> = std::fs::read_dir(dir.parent().unwrap()).unwrap().collect();
    assert_eq!(entries.len(), 1);

    // A second backup in the same instant gets its own folder.
    let again = v.full_backup(&container()).unwrap();
    assert_eq!(again.folder, "mhsm-hsm-2027011508000001");

    // Over an unchanged vault, a restore changes nothing.
    let report = v.full_restore(&container(), &backup.folder).unwrap();
    assert_eq!(
        report,
        RestoreReport {
            restored: vec![],
            unchanged: vec!["alpha".into(), "beta".into()]
        }
    );

    // A purged key comes back with every version and the same material.
    purge(&ts.store, "hsm", "alpha");
    let report = v.full_restore(&container(), &backup.folder).unwrap();
    assert_eq!(report.restored, ["alpha"]);
    assert_eq!(report.unchanged, ["beta"]);
    let alpha = v.get_key("alpha", None).unwrap();
    assert_eq!(public(&alpha.key), public(&alpha_before.key));
    assert_eq!(alpha.version, a2);
    assert!(v.get_key("alpha", Some(&a1)).is_ok());

    // A key changed since the backup fails the whole restore: the purged one stays gone.
    v.rotate_key("beta").unwrap();
    purge(&ts.store, "hsm", "alpha");
    bad_parameter_containing(
        v.full_restore(&container(), &backup.folder),
        "beta (changed since the backup)",
    );
    assert!(matches!(
        v.get_key("alpha", None),
        Err(Error::NotFound { .. })
    ));

    // Selective: only the key named.
    let report = v
        .selective_key_restore(&container(), &backup.folder, "ALPHA")
        .unwrap();
    assert_eq!(report.restored, ["alpha"]);
    bad_parameter_containing(
        v.selective_key_restore(&container(), &backup.folder, "gamma"),
        "holds no key named \"gamma\"",
    );

    // Another Managed HSM of the same store takes the whole backup.
    let other = ts.vault("hsm2", hsm(7, false));
    let report = other.full_restore(&container(), &backup.folder).unwrap();
    assert_eq!(report.restored, ["alpha", "beta"]);
    assert_eq!(
        public(&other.get_key("alpha", None).unwrap().key),
        public(&alpha_before.key)
    );
}

#[test]
fn restore_never_purges_a_soft_deleted_key() {
    let ts = TempStore::at(T0);
    let v = ts.vault("pp", hsm(7, true));
    ec_key(&v, "kept");
    let backup = v.full_backup(&container()).unwrap();
    v.delete_key("kept").unwrap();
    bad_parameter_containing(
        v.full_restore(&container(), &backup.folder),
        "kept (soft-deleted)",
    );
    // Still soft-deleted, and recoverable.
    v.recover_deleted_key("kept").unwrap();
    assert!(v.get_key("kept", None).is_ok());
}

#[test]
fn damaged_or_missing_backups_restore_nothing() {
    let ts = TempStore::at(T0);
    let v = ts.vault("hsm", hsm(7, false));
    ec_key(&v, "a");
    ec_key(&v, "b");
    let backup = v.full_backup(&container()).unwrap();
    purge(&ts.store, "hsm", "a");
    purge(&ts.store, "hsm", "b");
    let dir = ts
        .path()
        .join("backups/acct01/hsm-backups")
        .join(&backup.folder);
    let mut blob = std::fs::read(dir.join("keys/b.bkp")).unwrap();
    let last = blob.len() - 1;
    blob[last] ^= 1;
    std::fs::write(dir.join("keys/b.bkp"), blob).unwrap();
    assert!(matches!(
        v.full_restore(&container(), &backup.folder),
        Err(Error::InvalidBackup)
    ));
    assert!(v.check_full_restore(&container(), &backup.folder).is_err());
    // `a` was fine, but nothing is restored from a backup that is not whole.
    assert!(v.get_key("a", None).is_err());

    bad_parameter_containing(
        v.full_restore(&container(), "mhsm-hsm-1999"),
        "there is no full backup at https://acct01.blob.core.windows.net/hsm-backups/mhsm-hsm-1999",
    );
    bad_parameter_containing(v.full_restore(&container(), "../x"), "is invalid");
    assert!(v.check_full_backup(&container()).is_ok());
    assert_eq!(folder_of(&backup.folder_url), backup.folder);
}

#[test]
fn full_backups_belong_to_managed_hsms_with_a_data_directory() {
    let ts = TempStore::at(T0);
    let kv = ts.vault(
        "kv",
        VaultOptions {
            kind: VaultKind::Vault,
            ..VaultOptions::default()
        },
    );
    assert!(matches!(
        kv.full_backup(&container()),
        Err(Error::NotSupportedByVaultKind { .. })
    ));
    assert!(matches!(
        kv.settings(),
        Err(Error::NotSupportedByVaultKind { .. })
    ));
    let memory = TempStore::in_memory();
    let v = memory.vault("hsm", hsm(7, false));
    bad_parameter_containing(v.full_backup(&container()), "no data directory");
}

#[test]
fn settings_are_per_vault_typed_and_kept() {
    let ts = TempStore::at(T0);
    let v = ts.vault("hsm", hsm(7, false));
    ts.vault("other", hsm(7, false));
    let name = "AllowKeyManagementOperationsThroughARM";
    let s = v.settings().unwrap();
    assert_eq!(
        s.iter()
            .map(|s| (s.name, s.value.as_str(), s.kind))
            .collect::<Vec<_>>(),
        [(name, "false", "boolean")]
    );
    assert_eq!(v.update_setting(name, "TRUE").unwrap().value, "true");
    bad_parameter_containing(v.update_setting(name, "1"), "\"true\" or \"false\"");
    bad_parameter_containing(v.setting("Nope"), "is not one of Managed HSM's");
    drop(v);
    let ts = ts.reopen(T0 + 10);
    assert_eq!(
        ts.store.vault("hsm").unwrap().setting(name).unwrap().value,
        "true"
    );
    assert_eq!(
        ts.store
            .vault("other")
            .unwrap()
            .setting(name)
            .unwrap()
            .value,
        "false"
    );
}

fn role(id: &str, allow: &[&str], deny: &[&str], scopes: &[&str]) -> CustomRole {
    CustomRole {
        id: id.into(),
        role_name: format!("role {id}"),
        description: String::new(),
        permissions: vec![RolePermissions {
            data_actions: allow.iter().map(|s| s.to_string()).collect(),
            not_data_actions: deny.iter().map(|s| s.to_string()).collect(),
            ..RolePermissions::default()
        }],
        assignable_scopes: scopes.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn custom_roles_are_enforced_like_built_in_ones_and_survive_a_restart() {
    let ts = TempStore::at(T0);
    ts.vault("hsm", hsm(7, false));
    ts.store.set_access_policy(AccessPolicy {
        enforce: true,
        admins: vec!["admin".into()],
    });
    let admin = ts.store.vault_as("hsm", caller("admin")).unwrap();
    ec_key(&ts.store.vault("hsm").unwrap(), "k");
    let made = admin
        .set_custom_role(
            "/",
            role(
                "1b2c3d4e-0000-4000-8000-000000000001",
                &["Microsoft.KeyVault/managedHsm/keys/*"],
                &["microsoft.keyvault/managedhsm/keys/delete"],
                &[],
            ),
        )
        .unwrap();
    assert_eq!(made.assignable_scopes, ["/"]);
    let user = || ts.store.vault_as("hsm", caller("user")).unwrap();
    assert!(matches!(
        user().get_key("k", None),
        Err(Error::AccessDenied { .. })
    ));
    admin
        .create_role_assignment(
            "/",
            "assign-1",
            "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/1b2c3d4e-0000-4000-8000-000000000001",
            "user",
        )
        .unwrap();
    assert!(user().get_key("k", None).is_ok());
    assert!(user()
        .create_key(
            "made-by-user",
            localhsm::crypto::KeyType::EcHsm,
            localhsm::KeySpec::Ec(localhsm::crypto::CurveName::P256),
            KeyOptions::default()
        )
        .is_ok());
    match user().delete_key("k") {
        Err(Error::AccessDenied { action, .. }) => {
            assert_eq!(action, DataAction::KeysDelete.as_str())
        }
        other => panic!("delete must be refused: {other:?}"),
    }
    assert!(matches!(
        user().random_bytes(8),
        Err(Error::AccessDenied { .. })
    ));

    // The definition and its assignment are stored: a restart keeps both.
    drop(admin);
    let ts = ts.reopen(T0 + 60);
    ts.store.set_access_policy(AccessPolicy {
        enforce: true,
        admins: vec!["admin".into()],
    });
    let user = ts.store.vault_as("hsm", caller("user")).unwrap();
    assert!(user.get_key("k", None).is_ok());
    assert!(matches!(
        user.delete_key("k"),
        Err(Error::AccessDenied { .. })
    ));
    let admin = ts.store.vault_as("hsm", caller("admin")).unwrap();
    assert_eq!(admin.custom_roles().unwrap().len(), 1);

    // In use, it cannot be deleted; unassigned, it can, and its grant goes with it.
    bad_parameter_containing(
        admin.delete_custom_role("/", "1b2c3d4e-0000-4000-8000-000000000001"),
        "assign-1",
    );
    admin.delete_role_assignment("/", "assign-1").unwrap();
    let gone = admin
        .delete_custom_role("/", "1b2c3d4e-0000-4000-8000-000000000001")
        .unwrap();
    assert_eq!(gone.id, "1b2c3d4e-0000-4000-8000-000000000001");
    assert!(matches!(
        admin.custom_role("1b2c3d4e-0000-4000-8000-000000000001"),
        Err(Error::RoleDefinitionNotFound { .. })
    ));
    assert!(matches!(
        admin.delete_custom_role("/", "1b2c3d4e-0000-4000-8000-000000000001"),
        Err(Error::RoleDefinitionNotFound { .. })
    ));
}

#[test]
fn custom_roles_are_assigned_only_where_their_scopes_allow() {
    let ts = TempStore::at(T0);
    let v = ts.vault("hsm", hsm(7, false));
    ec_key(&v, "k");
    let id = "2b2c3d4e-0000-4000-8000-000000000002";
    v.set_custom_role(
        "/",
        role(
            id,
            &["Microsoft.KeyVault/managedHsm/keys/sign/action"],
            &[],
            &["/keys/K"],
        ),
    )
    .unwrap();
    assert_eq!(v.custom_role(id).unwrap().assignable_scopes, ["/keys/k"]);
    bad_parameter_containing(
        v.create_role_assignment("/", "a1", id, "user"),
        "may be assigned at /keys/k",
    );
    let a = v
        .create_role_assignment("/keys/k", "a1", id, "user")
        .unwrap();
    assert_eq!(a.role_definition_id, id);
    ts.store.set_access_policy(AccessPolicy {
        enforce: true,
        admins: vec![],
    });
    let user = ts.store.vault_as("hsm", caller("user")).unwrap();
    // Sign only: the handle resolves (it needs no read) and signs; reading is refused.
    let h = user.key("k", None).unwrap();
    assert!(h
        .sign(localhsm::crypto::SignatureAlgorithm::ES256, &[7; 32])
        .is_ok());
    assert!(matches!(
        user.get_key("k", None),
        Err(Error::AccessDenied { .. })
    ));
}
