//! Access control, access logs and customer-data requests in the core.
//!
//! Guards against: a role granting more (or less) than Managed HSM's built-in definition,
//! an assignment at one key's scope leaking to another key, handles resolved for one caller
//! being usable beyond that caller's rights, access-log records that miss the caller or
//! outlive their retention, and customer-data requests that miss something tied to the
//! subject or purge what purge protection must keep.

mod support;

use localhsm::audit::{CallRecord, LogQuery};
use localhsm::crypto::{CurveName, HashAlg, KeyType, SignatureAlgorithm};
use localhsm::customer_data::Subject;
use localhsm::model::{Caller, KeyOptions, Tags, VaultOptions, DAY};
use localhsm::rbac::{DataAction, BUILT_IN_ROLES};
use localhsm::{AccessPolicy, Error, KeySpec, Store};
use support::{expect_err, hsm, TempStore};

/// Later than the other suites' start, so that nothing here depends on that default.
const T0: u64 = 1_800_000_000;

fn caller(oid: &str) -> Caller {
    Caller {
        object_id: Some(oid.into()),
        upn: Some(format!("{oid}@example.com")),
        tenant_id: Some("tenant".into()),
        ip: Some("10.1.2.3".into()),
    }
}

fn ec(store: &Store, vault: &str, name: &str, tags: Tags) {
    let options = KeyOptions {
        tags,
        ..KeyOptions::default()
    };
    store
        .vault(vault)
        .unwrap()
        .create_key(name, KeyType::EcHsm, KeySpec::Ec(CurveName::P256), options)
        .unwrap();
}

/// A store at [`T0`] with a Managed HSM vault `hsm` (7 days' retention, no purge protection).
fn with_hsm_vault() -> TempStore {
    let ts = TempStore::at(T0);
    ts.vault("hsm", hsm(7, false));
    ts
}

fn is_denied<T: std::fmt::Debug>(r: localhsm::Result<T>) -> bool {
    match r {
        Err(e @ Error::AccessDenied { .. }) => {
            assert_eq!(e.wire().status, 403);
            assert_eq!(e.wire().code, "Forbidden");
            true
        }
        Err(other) => panic!("expected AccessDenied, got {other:?}"),
        Ok(_) => false,
    }
}

#[test]
fn every_built_in_role_allows_exactly_its_data_actions_through_the_vault() {
    let ts = with_hsm_vault();
    let store = &ts.store;
    ec(store, "hsm", "k", Tags::new());
    let digest = HashAlg::Sha256.digest(b"m");
    store.set_access_policy(AccessPolicy {
        enforce: true,
        admins: vec!["admin".into()],
    });
    let admin = store.vault_as("hsm", caller("admin")).unwrap();
    for (i, role) in BUILT_IN_ROLES.iter().enumerate() {
        let oid = format!("principal-{i}");
        admin
            .create_role_assignment("/keys/k", &format!("assignment-{i}"), role.id, &oid)
            .unwrap();
        let v = store.vault_as("hsm", caller(&oid)).unwrap();
        let has = |a: DataAction| role.data_actions.contains(&a);
        assert_eq!(
            !is_denied(v.get_key("k", None)),
            has(DataAction::KeysRead),
            "{}: read",
            role.name
        );
        assert_eq!(
            !is_denied(v.list_versions("k", 25, None)),
            has(DataAction::KeysRead),
            "{}: versions",
            role.name
        );
        assert_eq!(
            !is_denied(v.backup_key("k")),
            has(DataAction::KeysBackup),
            "{}: backup",
            role.name
        );
        let h = v.key("k", None).unwrap();
        assert_eq!(
            !is_denied(h.sign(SignatureAlgorithm::ES256, &digest)),
            has(DataAction::Sign),
            "{}: sign",
            role.name
        );
        assert_eq!(
            !is_denied(h.verify(SignatureAlgorithm::ES256, &digest, &[0; 64])),
            has(DataAction::Verify),
            "{}: verify",
            role.name
        );
        // Key-scoped assignments do not reach vault-wide actions.
        assert!(
            is_denied(v.list_keys(25, None)),
            "{}: list at /keys",
            role.name
        );
        assert!(is_denied(v.random_bytes(8)), "{}: rng at /", role.name);
    }
}

#[test]
fn scope_and_admins() {
    let ts = with_hsm_vault();
    let store = &ts.store;
    ec(store, "hsm", "mine", Tags::new());
    ec(store, "hsm", "other", Tags::new());
    let digest = HashAlg::Sha256.digest(b"m");
    let user = "21dbd100-6940-42c2-9190-5d6cb909625b";

    // Off: any caller may do anything.
    let anyone = store.vault_as("hsm", caller("nobody")).unwrap();
    assert!(anyone
        .key("mine", None)
        .unwrap()
        .sign(SignatureAlgorithm::ES256, &digest)
        .is_ok());

    store.set_access_policy(AccessPolicy {
        enforce: true,
        admins: vec!["Admin-Oid".into()],
    });
    let admin = store.vault_as("hsm", caller("admin-oid")).unwrap();
    assert!(
        admin.list_keys(25, None).is_ok(),
        "admins are matched case-insensitively"
    );
    assert!(admin
        .key("mine", None)
        .unwrap()
        .sign(SignatureAlgorithm::ES256, &digest)
        .is_ok());
    let v = store.vault_as("hsm", caller("u")).unwrap();
    assert!(is_denied(
        v.key("mine", None)
            .unwrap()
            .sign(SignatureAlgorithm::ES256, &digest)
    ));
    assert!(
        is_denied(v.create_role_assignment("/", "x", user, "u")),
        "users cannot grant themselves roles"
    );
    admin
        .create_role_assignment("/keys/MINE", "a1", user, "u")
        .unwrap();
    assert!(v
        .key("mine", None)
        .unwrap()
        .sign(SignatureAlgorithm::ES256, &digest)
        .is_ok());
    assert!(is_denied(
        v.key("other", None)
            .unwrap()
            .sign(SignatureAlgorithm::ES256, &digest)
    ));
    // A caller with no object ID gets nothing.
    let anonymous = store.vault_as("hsm", Caller::default()).unwrap();
    assert!(is_denied(anonymous.get_key("mine", None)));
    // The trusted library path is unaffected.
    assert!(store.vault("hsm").unwrap().list_keys(25, None).is_ok());
    // Removing the assignment removes the right.
    admin.delete_role_assignment("/keys/mine", "a1").unwrap();
    assert!(is_denied(
        v.key("mine", None)
            .unwrap()
            .sign(SignatureAlgorithm::ES256, &digest)
    ));
    expect_err(
        admin.delete_role_assignment("/keys/mine", "a1"),
        "RoleAssignmentNotFound",
    );
    expect_err(
        admin.create_role_assignment("/", "a2", "not-a-role", "u"),
        "RoleDefinitionNotFound",
    );
    assert!(matches!(
        admin.create_role_assignment("/secrets", "a3", user, "u"),
        Err(Error::BadParameter(_))
    ));
    // Role assignments belong to Managed HSM vaults.
    store.create_vault("kv", VaultOptions::default()).unwrap();
    assert!(matches!(
        store.vault("kv").unwrap().list_role_assignments(None),
        Err(Error::NotSupportedByVaultKind { .. })
    ));
}

fn call<'a>(who: &'a Caller, op: &'a str, status: u16) -> CallRecord<'a> {
    CallRecord {
        caller: who,
        operation: op,
        api_version: "7.5",
        resource_id: "https://hsm.localhost/keys/k".into(),
        status,
        error_code: (status >= 400).then_some("Forbidden"),
        duration_ms: 1,
        request_id: "req-1",
        request_uri: "/keys/k/sign",
    }
}

#[test]
fn access_logs_record_callers_and_expire() {
    let ts = with_hsm_vault();
    let (store, clock) = (&ts.store, &ts.clock);
    let alice = caller("alice");
    assert!(
        !store
            .record_access("hsm", call(&alice, "KeySign", 200))
            .unwrap(),
        "off by default"
    );
    store.set_access_log("hsm", true, Some(2)).unwrap();
    assert!(store
        .record_access("hsm", call(&alice, "KeySign", 200))
        .unwrap());
    clock.advance(DAY);
    store
        .record_access("hsm", call(&caller("bob"), "KeySign", 403))
        .unwrap();
    let all = store.access_log("hsm", &LogQuery::default()).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].identity.claim.oid.as_deref(), Some("alice"));
    assert_eq!(all[0].caller_ip_address.as_deref(), Some("10.1.2.3"));
    assert_eq!(all[0].result_type, "Success");
    assert_eq!(all[1].http_status_code, 403);
    assert_eq!(all[1].result_type, "Failure");
    let bobs = LogQuery {
        principal: Some("BOB".into()),
        ..LogQuery::default()
    };
    assert_eq!(store.access_log("hsm", &bobs).unwrap().len(), 1);
    // Alice's record is 2 days old at T0 + 2 days: past retention.
    clock.advance(DAY + 1);
    let left = store.access_log("hsm", &LogQuery::default()).unwrap();
    assert_eq!(left.len(), 1, "expired records are not returned");
    assert_eq!(
        store.sweep().unwrap().access_log_records,
        1,
        "and the sweep drops them"
    );
    assert!(matches!(
        store.set_access_log("hsm", true, Some(0)),
        Err(Error::BadParameter(_))
    ));
}

#[test]
fn customer_data_across_vaults_with_purge_protection() {
    let ts = TempStore::at(T0);
    let (store, clock) = (&ts.store, &ts.clock);
    store.create_vault("open", hsm(7, false)).unwrap();
    store.create_vault("locked", hsm(7, true)).unwrap();
    store.create_vault("kv", VaultOptions::default()).unwrap();
    let device: Tags = [("deviceId".to_string(), "dev-7".to_string())].into();
    ec(store, "open", "d1", device.clone());
    ec(store, "locked", "d2", device.clone());
    ec(store, "kv", "d3", device.clone());
    ec(
        store,
        "open",
        "unrelated",
        [("deviceId".to_string(), "dev-8".to_string())].into(),
    );
    // A deleted tagged key counts too.
    ec(store, "open", "d4", device);
    store.vault("open").unwrap().delete_key("d4").unwrap();
    store
        .vault("locked")
        .unwrap()
        .create_role_assignment("/", "r1", "21dbd100-6940-42c2-9190-5d6cb909625b", "oid-9")
        .unwrap();
    store.set_access_log("locked", true, None).unwrap();
    store
        .record_access("locked", call(&caller("oid-9"), "KeySign", 200))
        .unwrap();

    let device_id = Subject::DeviceId("DEV-7".into());
    let export = store.export_customer_data(&device_id).unwrap();
    let keys: Vec<(String, String)> = export
        .vaults
        .iter()
        .flat_map(|v| {
            v.keys
                .iter()
                .chain(&v.deleted_keys)
                .map(move |k| (v.vault.clone(), k.name.clone()))
        })
        .collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    let json = serde_json::to_string(&export).unwrap();
    assert!(
        !json.contains("\"d\"") && !json.contains("unrelated"),
        "no private members, no other subjects"
    );

    let report = store.delete_customer_data(&device_id).unwrap();
    assert_eq!(report.keys_purged.len(), 3, "{report:?}"); // open/d1, open/d4, kv/d3
    assert_eq!(report.keys_awaiting_purge.len(), 1);
    assert_eq!(report.keys_awaiting_purge[0].name, "d2");
    assert_eq!(
        report.keys_awaiting_purge[0].scheduled_purge_date,
        Some(T0 + 7 * DAY)
    );
    let again = store.export_customer_data(&device_id).unwrap();
    assert_eq!(again.vaults.len(), 1, "only what must wait is left");
    assert_eq!(again.vaults[0].deleted_keys[0].name, "d2");
    clock.advance(7 * DAY);
    assert!(
        store
            .export_customer_data(&device_id)
            .unwrap()
            .vaults
            .is_empty(),
        "purged at its date"
    );

    let principal = Subject::Principal("oid-9".into());
    let export = store.export_customer_data(&principal).unwrap();
    assert_eq!(export.vaults.len(), 1);
    assert_eq!(export.vaults[0].role_assignments.len(), 1);
    assert_eq!(export.vaults[0].access_log.len(), 1);
    let report = store.delete_customer_data(&principal).unwrap();
    assert_eq!(
        report.role_assignments_removed,
        vec!["locked/r1".to_string()]
    );
    assert_eq!(report.access_log_records_redacted, 1);
    assert!(store
        .export_customer_data(&principal)
        .unwrap()
        .vaults
        .is_empty());
    let records = store.access_log("locked", &LogQuery::default()).unwrap();
    assert_eq!(records[0].identity.claim.oid.as_deref(), Some("[redacted]"));
    assert_eq!(records[0].caller_ip_address.as_deref(), Some("[redacted]"));
    assert_eq!(
        records[0].operation_name, "KeySign",
        "the record itself stays"
    );
}
