//! Access control, access logs and customer-data requests in the core, and the access
//! policy routes through the REST router.
//!
//! Guards against: a role granting more (or less) than Managed HSM's or Key Vault's built-in
//! definition, an assignment at one key's or secret's scope leaking to another, a role
//! assigned where its family does not belong, handles resolved for one caller being usable
//! beyond that caller's rights, access policies deciding in a vault that uses RBAC (or role
//! assignments in one that chose access policies), access-log records that miss the caller
//! or outlive their retention, and customer-data requests that miss something tied to the
//! subject (role assignments, access policies, tagged keys and secrets, certificates named
//! by their subject or alternative names, certificate contacts and issuer administrators),
//! leak a secret's value or a certificate's private key, or purge what purge protection
//! must keep. Certificates: Key Vault's certificate roles and access-policy permissions
//! grant what Azure's do, and no certificate right reaches the certificate's secret or key.

mod support;

use axum::body::Body;
use axum::http::Request;
use localhsm::audit::{CallRecord, LogQuery};
use localhsm::crypto::x509::{CertSpec, CertificateKey, KeyUsage};
use localhsm::crypto::{
    CurveName, HashAlg, KeyType, SecretBytes, SecretString, SignatureAlgorithm,
};
use localhsm::customer_data::Subject;
use localhsm::model::access::{
    CertificatePermission, KeyPermission, Permissions, SecretPermission,
};
use localhsm::model::certificates::{
    AdministratorDetails, CertificateKeyProperties, CertificateOptions, CertificatePolicy,
    CertificateUpdate, Contact, IssuerUpdate, OrganizationDetails, SubjectAlternativeNames,
    X509Properties,
};
use localhsm::model::{
    Caller, KeyOptions, SecretOptions, SecretUpdate, Tags, VaultKind, VaultOptions, DAY,
    DEFAULT_VAULT,
};
use localhsm::rbac::{AccessPolicyEntry, DataAction, RoleFamily, BUILT_IN_ROLES};
use localhsm::{AccessPolicy, Error, KeySpec, Store, Vault};
use serde_json::{json, Value};
use support::{expect_err, hsm, Api, TempStore};

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
    let hsm_roles = BUILT_IN_ROLES
        .iter()
        .filter(|r| r.family == RoleFamily::ManagedHsm);
    for (i, role) in hsm_roles.enumerate() {
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
        let h = || v.key("k", None);
        assert_eq!(
            !is_denied(h().and_then(|h| h.sign(SignatureAlgorithm::ES256, &digest))),
            has(DataAction::Sign),
            "{}: sign",
            role.name
        );
        assert_eq!(
            !is_denied(h().and_then(|h| h.verify(SignatureAlgorithm::ES256, &digest, &[0; 64]))),
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
fn a_refused_library_caller_learns_nothing_of_which_keys_exist() {
    let ts = with_hsm_vault();
    let store = &ts.store;
    ec(store, "hsm", "present", Tags::new());
    store.set_access_policy(AccessPolicy {
        enforce: true,
        admins: vec!["admin".into()],
    });
    let stranger = store.vault_as("hsm", caller("stranger")).unwrap();
    // Without a grant, a missing key and an existing one get the same refusal: the lookup
    // (and an unseal on a cache miss) waits for the permission check.
    for name in ["present", "absent"] {
        assert!(
            is_denied(stranger.key(name, None)),
            "{name}: a caller with no key right must be refused before the lookup"
        );
    }
    // With a right at the key's scope, the lookup runs and says what exists.
    let admin = store.vault_as("hsm", caller("admin")).unwrap();
    let crypto_user = BUILT_IN_ROLES
        .iter()
        .find(|r| r.name == "Managed HSM Crypto User")
        .unwrap();
    admin
        .create_role_assignment("/keys", "a1", crypto_user.id, "stranger")
        .unwrap();
    assert!(stranger.key("present", None).is_ok());
    assert!(matches!(
        stranger.key("absent", None),
        Err(Error::NotFound { .. })
    ));
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
        .and_then(|h| h.sign(SignatureAlgorithm::ES256, &digest))
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
        .and_then(|h| h.sign(SignatureAlgorithm::ES256, &digest))
        .is_ok());
    let v = store.vault_as("hsm", caller("u")).unwrap();
    assert!(is_denied(
        v.key("mine", None)
            .and_then(|h| h.sign(SignatureAlgorithm::ES256, &digest))
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
        .and_then(|h| h.sign(SignatureAlgorithm::ES256, &digest))
        .is_ok());
    assert!(is_denied(
        v.key("other", None)
            .and_then(|h| h.sign(SignatureAlgorithm::ES256, &digest))
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
            .and_then(|h| h.sign(SignatureAlgorithm::ES256, &digest))
    ));
    expect_err(
        admin.delete_role_assignment("/keys/mine", "a1"),
        "RoleAssignmentNotFound",
    );
    expect_err(
        admin.create_role_assignment("/", "a2", "not-a-role", "u"),
        "RoleDefinitionNotFound",
    );
    // A Managed HSM holds no secrets: no secrets scope, and no Key Vault role.
    assert!(matches!(
        admin.create_role_assignment("/secrets", "a3", user, "u"),
        Err(Error::BadParameter(_))
    ));
    assert!(matches!(
        admin.create_role_assignment("/", "a4", SECRETS_USER, "u"),
        Err(Error::BadParameter(_))
    ));
    // A vault of kind `vault` has role assignments too, of Key Vault's roles only.
    store.create_vault("kv", VaultOptions::default()).unwrap();
    let kv = store.vault_as("kv", caller("admin-oid")).unwrap();
    assert!(kv.list_role_assignments(None).unwrap().is_empty());
    let e = expect_err(
        kv.create_role_assignment("/", "a5", user, "u"),
        "BadParameter",
    );
    assert!(e.to_string().contains("Managed HSM role"), "{e}");
    kv.create_role_assignment("/secrets/Db", "a5", SECRETS_USER, "u")
        .unwrap();
    assert_eq!(
        kv.list_role_assignments(Some("/secrets/db")).unwrap()[0].scope,
        "/secrets/db"
    );
    assert!(kv
        .list_role_assignments(Some("/keys/db"))
        .unwrap()
        .is_empty());
}

const SECRETS_USER: &str = "4633458b-17de-408a-b874-0445c86b69e6";
const SECRETS_OFFICER: &str = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7";
const KV_READER: &str = "21090545-7ca7-4776-b22c-e363652d74d2";
const KV_ADMINISTRATOR: &str = "00482a5a-887f-4fb3-b363-3b7fe8e74483";
const CRYPTO_USER: &str = "21dbd100-6940-42c2-9190-5d6cb909625b";
const CERTIFICATES_OFFICER: &str = "a4417e6f-fecd-4de8-b567-7b0420556985";
const CERTIFICATE_USER: &str = "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba";

fn value(s: &str) -> SecretString {
    SecretString::new(s.to_string())
}

fn set_secret(vault: &Vault, name: &str, v: &str, tags: Tags) {
    let options = SecretOptions {
        tags,
        ..SecretOptions::default()
    };
    vault.set_secret(name, value(v), options).unwrap();
}

/// A refusal must be Key Vault's 403 `Forbidden` with inner code `AccessDenied`.
fn denied<T: std::fmt::Debug>(r: localhsm::Result<T>) -> bool {
    match r {
        Err(e @ Error::AccessDenied { .. }) => {
            assert_eq!((e.wire().status, e.wire().code), (403, "Forbidden"));
            assert_eq!(e.wire().inner, Some("AccessDenied"));
            true
        }
        Err(other) => panic!("expected AccessDenied, got {other:?}"),
        Ok(_) => false,
    }
}

/// What a caller can do with secrets in `vault`, as a row of yes/no answers.
#[derive(Debug, PartialEq, Eq)]
struct SecretRights {
    list: bool,
    get: bool,
    properties: bool,
    versions: bool,
    set: bool,
    update: bool,
    backup: bool,
    delete: bool,
}

fn secret_rights(store: &Store, vault: &str, who: Caller, name: &str) -> SecretRights {
    let v = store.vault_as(vault, who).unwrap();
    let update = SecretUpdate {
        content_type: Some("text/plain".into()),
        ..SecretUpdate::default()
    };
    SecretRights {
        list: !denied(v.list_secrets(25, None)),
        get: !denied(v.get_secret(name, None)),
        properties: !denied(v.get_secret_properties(name, None)),
        versions: !denied(v.list_secret_versions(name, 25, None)),
        // A new value under the same name: refusals come first, so nothing is lost.
        set: !denied(v.set_secret(name, value("v2"), SecretOptions::default())),
        update: !denied(v.update_secret(name, None, update)),
        backup: !denied(v.backup_secret(name)),
        // Last: the secret is gone (soft-deleted) after an allowed delete.
        delete: !denied(v.delete_secret(name)),
    }
}

const NOTHING: SecretRights = SecretRights {
    list: false,
    get: false,
    properties: false,
    versions: false,
    set: false,
    update: false,
    backup: false,
    delete: false,
};

#[test]
fn key_vault_secret_roles_allow_and_refuse_what_azure_does() {
    let ts = TempStore::at(T0);
    let store = &ts.store;
    store.create_vault("kv", VaultOptions::default()).unwrap();
    let trusted = store.vault("kv").unwrap();
    for name in [
        "s-user",
        "s-reader",
        "s-officer",
        "s-admin",
        "s-none",
        "s-mine",
        "s-other",
    ] {
        set_secret(&trusted, name, "v1", Tags::new());
    }
    ec(store, "kv", "k", Tags::new());
    store.set_access_policy(AccessPolicy {
        enforce: true,
        admins: vec!["admin".into()],
    });
    let admin = store.vault_as("kv", caller("admin")).unwrap();
    let defs: Vec<&str> = admin
        .role_definitions()
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        defs,
        [
            KV_ADMINISTRATOR,
            CERTIFICATE_USER,
            CERTIFICATES_OFFICER,
            KV_READER,
            SECRETS_OFFICER,
            SECRETS_USER
        ]
    );
    for (role, who) in [
        (SECRETS_USER, "user"),
        (KV_READER, "reader"),
        (SECRETS_OFFICER, "officer"),
        (KV_ADMINISTRATOR, "kv-admin"),
    ] {
        admin
            .create_role_assignment("/", &format!("a-{who}"), role, who)
            .unwrap();
    }
    admin
        .create_role_assignment("/secrets/S-MINE", "a-scoped", SECRETS_USER, "scoped")
        .unwrap();

    // Secrets User: reads values and metadata, changes nothing.
    assert_eq!(
        secret_rights(store, "kv", caller("user"), "s-user"),
        SecretRights {
            list: true,
            get: true,
            properties: true,
            versions: true,
            ..NOTHING
        }
    );
    // Reader: metadata only, never a value.
    assert_eq!(
        secret_rights(store, "kv", caller("reader"), "s-reader"),
        SecretRights {
            list: true,
            properties: true,
            versions: true,
            ..NOTHING
        }
    );
    // Secrets Officer and Key Vault Administrator: everything.
    let all = SecretRights {
        list: true,
        get: true,
        properties: true,
        versions: true,
        set: true,
        update: true,
        backup: true,
        delete: true,
    };
    assert_eq!(
        secret_rights(store, "kv", caller("officer"), "s-officer"),
        all
    );
    assert_eq!(
        secret_rights(store, "kv", caller("kv-admin"), "s-admin"),
        all
    );
    // No role: nothing.
    assert_eq!(
        secret_rights(store, "kv", caller("nobody"), "s-none"),
        NOTHING
    );
    // One secret's scope: that secret, not the others and not the list.
    assert_eq!(
        secret_rights(store, "kv", caller("scoped"), "s-mine"),
        SecretRights {
            get: true,
            properties: true,
            versions: true,
            ..NOTHING
        }
    );
    assert_eq!(
        secret_rights(store, "kv", caller("scoped"), "s-other"),
        NOTHING
    );

    // The deleted secrets: the officer recovers and purges; the reader sees, no more.
    let officer = store.vault_as("kv", caller("officer")).unwrap();
    let reader = store.vault_as("kv", caller("reader")).unwrap();
    assert!(reader.get_deleted_secret("s-officer").is_ok());
    assert!(reader.list_deleted_secrets(25, None).is_ok());
    assert!(denied(reader.recover_deleted_secret("s-officer")));
    assert!(denied(reader.purge_deleted_secret("s-officer")));
    officer.recover_deleted_secret("s-officer").unwrap();
    officer.delete_secret("s-officer").unwrap();
    officer.purge_deleted_secret("s-officer").unwrap();

    // Keys: the Secrets roles give none; Reader reads; Key Vault Administrator uses them.
    let digest = HashAlg::Sha256.digest(b"m");
    for (who, read, sign) in [
        ("user", false, false),
        ("officer", false, false),
        ("reader", true, false),
        ("kv-admin", true, true),
    ] {
        let v = store.vault_as("kv", caller(who)).unwrap();
        assert_eq!(!denied(v.get_key("k", None)), read, "{who}: get key");
        assert_eq!(!denied(v.list_keys(25, None)), read, "{who}: list keys");
        assert_eq!(
            !denied(
                v.key("k", None)
                    .and_then(|h| h.sign(SignatureAlgorithm::ES256, &digest))
            ),
            sign,
            "{who}: sign"
        );
        // Role management stays with the admins, as Key Vault Administrator "cannot manage
        // role assignments"; reading them comes with `Microsoft.Authorization/*/read`.
        assert!(denied(v.create_role_assignment(
            "/",
            "x",
            SECRETS_USER,
            who
        )));
        assert_eq!(
            !denied(v.list_role_assignments(None)),
            who != "user",
            "{who}: read role assignments"
        );
    }
    // `--admin` principals may do everything with secrets too.
    set_secret(&admin, "by-admin", "v", Tags::new());
    assert_eq!(
        admin
            .get_secret("by-admin", None)
            .unwrap()
            .value
            .unwrap()
            .expose(),
        "v"
    );
    admin.delete_secret("by-admin").unwrap();
    admin.purge_deleted_secret("by-admin").unwrap();
}

#[test]
fn the_default_vault_offers_both_families() {
    let ts = TempStore::at(T0);
    let store = &ts.store;
    store
        .create_vault(
            DEFAULT_VAULT,
            VaultOptions {
                kind: VaultKind::ManagedHsm,
                ..VaultOptions::default()
            },
        )
        .unwrap();
    let default = store.vault(DEFAULT_VAULT).unwrap();
    set_secret(&default, "db", "v1", Tags::new());
    ec(store, DEFAULT_VAULT, "k", Tags::new());
    let defs = default.role_definitions().unwrap();
    assert_eq!(defs.len(), BUILT_IN_ROLES.len());
    assert!(defs.iter().any(|r| r.family == RoleFamily::KeyVault));
    // A Managed HSM role at a secrets scope grants nothing there: refused.
    let e = expect_err(
        default.create_role_assignment("/secrets/db", "a1", CRYPTO_USER, "u"),
        "BadParameter",
    );
    assert!(
        e.to_string().contains("scope \"/secrets/db\" is invalid"),
        "{e}"
    );
    default
        .create_role_assignment("/secrets/db", "a1", SECRETS_USER, "u")
        .unwrap();
    default
        .create_role_assignment("/keys/k", "a2", CRYPTO_USER, "u")
        .unwrap();
    store.set_access_policy(AccessPolicy {
        enforce: true,
        admins: vec!["admin".into()],
    });
    let u = store.vault_as(DEFAULT_VAULT, caller("u")).unwrap();
    assert_eq!(
        u.get_secret("db", None).unwrap().value.unwrap().expose(),
        "v1"
    );
    assert!(denied(u.set_secret(
        "db",
        value("v2"),
        SecretOptions::default()
    )));
    let digest = HashAlg::Sha256.digest(b"m");
    assert!(u
        .key("k", None)
        .and_then(|h| h.sign(SignatureAlgorithm::ES256, &digest))
        .is_ok());
    // `/keys` is HSM-wide for keys, but reaches no secret.
    default
        .create_role_assignment("/keys", "a3", SECRETS_OFFICER, "w")
        .unwrap();
    let w = store.vault_as(DEFAULT_VAULT, caller("w")).unwrap();
    assert!(denied(w.get_secret("db", None)));
}

fn policy(
    oid: &str,
    tenant: Option<&str>,
    keys: &[KeyPermission],
    secrets: &[SecretPermission],
) -> AccessPolicyEntry {
    AccessPolicyEntry {
        tenant_id: tenant.map(str::to_string),
        object_id: oid.into(),
        permissions: Permissions {
            keys: keys.to_vec(),
            secrets: secrets.to_vec(),
            certificates: Vec::new(),
        },
    }
}

fn tenant_caller(oid: &str, tenant: &str) -> Caller {
    Caller {
        tenant_id: Some(tenant.into()),
        ..caller(oid)
    }
}

#[test]
fn access_policy_vaults_follow_their_policies_and_ignore_role_assignments() {
    use KeyPermission as K;
    use SecretPermission as S;
    let ts = TempStore::at(T0);
    let store = &ts.store;
    let info = store
        .create_vault_with_permission_model("ap", VaultOptions::default(), false)
        .unwrap();
    assert!(!info.enable_rbac_authorization);
    let trusted = store.vault("ap").unwrap();
    for name in ["db", "api-key", "spare"] {
        set_secret(&trusted, name, "v1", Tags::new());
    }
    ec(store, "ap", "k", Tags::new());
    // A role assignment in a vault that chose access policies is kept, and ignored.
    trusted
        .create_role_assignment("/", "ignored", SECRETS_OFFICER, "alice")
        .unwrap();
    store
        .set_vault_access_policy(
            "ap",
            policy("bob", None, &[K::Get, K::Sign], &[S::Get, S::List]),
        )
        .unwrap();
    store
        .set_vault_access_policy("ap", policy("carol", Some("t-1"), &[], &[S::All]))
        .unwrap();
    store
        .set_vault_access_policy("ap", policy("dave", None, &[K::List], &[S::List, S::Set]))
        .unwrap();

    store.set_access_policy(AccessPolicy {
        enforce: true,
        admins: vec!["admin".into()],
    });
    assert_eq!(secret_rights(store, "ap", caller("alice"), "db"), NOTHING);
    // get + list: read values and list, change nothing.
    assert_eq!(
        secret_rights(store, "ap", caller("bob"), "db"),
        SecretRights {
            list: true,
            get: true,
            properties: true,
            versions: true,
            ..NOTHING
        }
    );
    // list + set: list and write, never read a value (set includes updates, as in Key Vault).
    assert_eq!(
        secret_rights(store, "ap", caller("dave"), "api-key"),
        SecretRights {
            list: true,
            properties: true,
            versions: true,
            set: true,
            update: true,
            ..NOTHING
        }
    );
    // A policy naming a tenant applies to tokens of that tenant only.
    assert_eq!(
        secret_rights(store, "ap", tenant_caller("carol", "t-2"), "spare"),
        NOTHING
    );
    let carol = store.vault_as("ap", tenant_caller("CAROL", "T-1")).unwrap();
    assert_eq!(
        carol
            .get_secret("spare", None)
            .unwrap()
            .value
            .unwrap()
            .expose(),
        "v1"
    );
    carol.delete_secret("spare").unwrap();
    carol.recover_deleted_secret("spare").unwrap();
    assert!(
        denied(carol.get_key("k", None)),
        "secrets/all gives no key right"
    );
    // Keys: get + sign, not list, not create.
    let bob = store.vault_as("ap", caller("bob")).unwrap();
    let digest = HashAlg::Sha256.digest(b"m");
    assert!(bob.get_key("k", None).is_ok());
    assert!(bob
        .key("k", None)
        .and_then(|h| h.sign(SignatureAlgorithm::ES256, &digest))
        .is_ok());
    assert!(denied(bob.list_keys(25, None)));
    assert!(denied(bob.create_key(
        "k2",
        KeyType::EcHsm,
        KeySpec::Ec(CurveName::P256),
        KeyOptions::default()
    )));
    let dave = store.vault_as("ap", caller("dave")).unwrap();
    assert!(dave.list_keys(25, None).is_ok() && denied(dave.get_key("k", None)));
    // Admins keep full access.
    let admin = store.vault_as("ap", caller("admin")).unwrap();
    assert_eq!(
        admin
            .get_secret("db", None)
            .unwrap()
            .value
            .unwrap()
            .expose(),
        "v1"
    );
    // A changed policy applies to the next call.
    store
        .set_vault_access_policy("ap", policy("bob", None, &[], &[S::List]))
        .unwrap();
    assert!(denied(bob.get_secret("db", None)));
    assert!(store
        .delete_vault_access_policy("ap", "BOB")
        .unwrap()
        .is_some());
    assert!(denied(bob.list_secrets(25, None)));

    // Back to RBAC: the role assignment decides again, and the policies are ignored.
    let info = store.set_rbac_authorization("ap", true).unwrap();
    assert!(info.enable_rbac_authorization);
    let alice = store.vault_as("ap", caller("alice")).unwrap();
    assert_eq!(
        alice
            .get_secret("db", None)
            .unwrap()
            .value
            .unwrap()
            .expose(),
        "v1"
    );
    assert!(denied(dave.list_secrets(25, None)));
    assert_eq!(store.vault_access_policies("ap").unwrap().len(), 2, "kept");
    // A vault that uses RBAC ignores a policy set on it.
    store.create_vault("rbac", VaultOptions::default()).unwrap();
    set_secret(&store.vault("rbac").unwrap(), "db", "v", Tags::new());
    store
        .set_vault_access_policy("rbac", policy("erin", None, &[], &[S::All]))
        .unwrap();
    assert!(denied(
        store
            .vault_as("rbac", caller("erin"))
            .unwrap()
            .get_secret("db", None)
    ));
    // With access control off, nothing is checked in either model.
    store.set_rbac_authorization("ap", false).unwrap();
    store.set_access_policy(AccessPolicy::default());
    assert!(store
        .vault_as("ap", caller("nobody"))
        .unwrap()
        .get_secret("db", None)
        .is_ok());
}

#[test]
fn access_policies_belong_to_vaults_of_kind_vault_and_persist() {
    use KeyPermission as K;
    use SecretPermission as S;
    let ts = TempStore::at(T0);
    let store = &ts.store;
    store.create_vault("hsm", hsm(7, false)).unwrap();
    for r in [
        store.create_vault_with_permission_model("hsm2", hsm(7, false), false),
        store.set_rbac_authorization("hsm", false),
    ] {
        let e = expect_err(r, "BadParameter");
        assert!(e.to_string().contains("enableRbacAuthorization"), "{e}");
    }
    assert!(store.vault_info("hsm").unwrap().enable_rbac_authorization);
    assert!(store.set_rbac_authorization("hsm", true).is_ok());
    let e = expect_err(
        store.set_vault_access_policy("hsm", policy("o", None, &[K::Get], &[])),
        "BadParameter",
    );
    assert!(e.to_string().contains("kind vault"), "{e}");
    expect_err(store.vault_access_policies("hsm"), "BadParameter");
    expect_err(store.vault_access_policies("nosuch"), "VaultNotFound");

    store
        .create_vault_with_permission_model("kv", VaultOptions::default(), false)
        .unwrap();
    // Bad object IDs are refused with what is wrong.
    for bad in ["", "has space", "a/b", &"x".repeat(129)] {
        let e = expect_err(
            store.set_vault_access_policy("kv", policy(bad, None, &[], &[])),
            "BadParameter",
        );
        assert!(e.to_string().contains("objectId"), "{e}");
    }
    expect_err(
        store.set_vault_access_policy("kv", policy("o", Some("t t"), &[], &[])),
        "BadParameter",
    );
    // Stored each once, in Key Vault's order; replaced whole by the next set.
    let stored = store
        .set_vault_access_policy(
            "kv",
            policy("O-1", None, &[K::Sign, K::Get, K::Sign], &[S::List, S::Get]),
        )
        .unwrap();
    assert_eq!(stored.permissions.keys, [K::Sign, K::Get]);
    assert_eq!(stored.permissions.secrets, [S::Get, S::List]);
    store
        .set_vault_access_policy("kv", policy("o-2", Some("t"), &[], &[S::Get]))
        .unwrap();
    store
        .set_vault_access_policy("kv", policy("o-1", None, &[], &[S::Set]))
        .unwrap();
    let all = store.vault_access_policies("kv").unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].permissions.secrets, [S::Set]);
    assert!(all[0].permissions.keys.is_empty());
    assert_eq!(
        store
            .vault_access_policy("kv", "O-2")
            .unwrap()
            .unwrap()
            .tenant_id
            .as_deref(),
        Some("t")
    );
    assert!(store.vault_access_policy("kv", "o-3").unwrap().is_none());
    assert!(store
        .delete_vault_access_policy("kv", "o-3")
        .unwrap()
        .is_none());

    // They survive a reopen, and so does the model; vaults of the old format read as RBAC.
    let before = store.vault_access_policies("kv").unwrap();
    let ts = ts.reopen(T0 + 10);
    assert_eq!(ts.store.vault_access_policies("kv").unwrap(), before);
    assert!(!ts.store.vault_info("kv").unwrap().enable_rbac_authorization);
    assert!(
        ts.store
            .vault_info("hsm")
            .unwrap()
            .enable_rbac_authorization
    );
    // A deleted vault's policies cannot be changed; a recovered one has them back.
    ts.store.delete_vault("kv").unwrap();
    expect_err(
        ts.store
            .set_vault_access_policy("kv", policy("o-4", None, &[], &[])),
        "VaultNotFound",
    );
    ts.store.recover_vault("kv").unwrap();
    assert_eq!(ts.store.vault_access_policies("kv").unwrap(), before);
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

#[test]
fn customer_data_covers_secrets_by_tag_without_their_values() {
    let ts = TempStore::at(T0);
    let (store, clock) = (&ts.store, &ts.clock);
    let kv_options = |purge_protection| VaultOptions {
        retention_days: 7,
        purge_protection,
        ..VaultOptions::default()
    };
    store.create_vault("kv", kv_options(false)).unwrap();
    store.create_vault("kvpp", kv_options(true)).unwrap();
    store.create_vault("gone", kv_options(false)).unwrap();
    store.create_vault("hsm", hsm(7, false)).unwrap();
    let device: Tags = [("deviceId".to_string(), "dev-1".to_string())].into();
    let other: Tags = [("deviceId".to_string(), "dev-2".to_string())].into();
    let kv = store.vault("kv").unwrap();
    // s1: its first version carries the device, its second does not.
    set_secret(&kv, "s1", "value-of-s1-v1", device.clone());
    set_secret(&kv, "s1", "value-of-s1-v2", other.clone());
    set_secret(&kv, "s3", "value-of-s3", device.clone());
    kv.delete_secret("s3").unwrap();
    set_secret(&kv, "plain", "value-of-plain", other);
    set_secret(
        &store.vault("kvpp").unwrap(),
        "s2",
        "value-of-s2",
        device.clone(),
    );
    set_secret(
        &store.vault("gone").unwrap(),
        "s4",
        "value-of-s4",
        device.clone(),
    );
    store.delete_vault("gone").unwrap();
    ec(store, "hsm", "k1", device);

    let subject = Subject::DeviceId("DEV-1".into());
    let export = store.export_customer_data(&subject).unwrap();
    let json = serde_json::to_string(&export).unwrap();
    assert!(
        !json.contains("value-of"),
        "no secret value in an export: {json}"
    );
    let found = |deleted: bool| -> Vec<(String, String, usize)> {
        let mut v: Vec<_> = export
            .vaults
            .iter()
            .flat_map(|v| {
                let list = if deleted {
                    &v.deleted_secrets
                } else {
                    &v.secrets
                };
                list.iter()
                    .map(move |s| (v.vault.clone(), s.name.clone(), s.versions.len()))
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        found(false),
        [
            ("gone".to_string(), "s4".to_string(), 1),
            ("kv".into(), "s1".into(), 1),
            ("kvpp".into(), "s2".into(), 1)
        ]
    );
    assert_eq!(found(true), [("kv".to_string(), "s3".to_string(), 1)]);
    let kv_export = export.vaults.iter().find(|v| v.vault == "kv").unwrap();
    let s1 = &kv_export.secrets[0];
    assert_eq!(s1.versions[0].tags["deviceId"], "dev-1");
    assert!(s1.versions[0].attributes.enabled);
    assert!(kv_export.deleted_secrets[0].scheduled_purge_date.is_some());
    assert!(export
        .vaults
        .iter()
        .any(|v| v.vault == "gone" && v.vault_deleted));
    assert_eq!(
        export
            .vaults
            .iter()
            .find(|v| v.vault == "hsm")
            .unwrap()
            .keys
            .len(),
        1,
        "keys still count"
    );
    // A tag subject finds them too (the value as written).
    let by_tag = store
        .export_customer_data(&Subject::tag("deviceId=dev-1").unwrap())
        .unwrap();
    assert_eq!(
        by_tag
            .vaults
            .iter()
            .map(|v| v.secrets.len() + v.deleted_secrets.len())
            .sum::<usize>(),
        4
    );

    let report = store.delete_customer_data(&subject).unwrap();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(report.secrets_deleted.clone()),
        ["gone/s4", "kv/s1", "kvpp/s2"]
    );
    assert_eq!(
        sorted(report.secrets_purged.clone()),
        ["gone/s4", "kv/s1", "kv/s3"],
        "a soft-deleted vault without purge protection holds nothing back"
    );
    let mut waiting: Vec<(String, String, Option<u64>)> = report
        .secrets_awaiting_purge
        .iter()
        .map(|w| (w.vault.clone(), w.name.clone(), w.scheduled_purge_date))
        .collect();
    waiting.sort();
    assert_eq!(
        waiting,
        [("kvpp".to_string(), "s2".to_string(), Some(T0 + 7 * DAY))]
    );
    assert!(report
        .secrets_awaiting_purge
        .iter()
        .all(|w| w.reason.contains("purge protection")));
    assert_eq!(report.keys_purged, ["hsm/k1"]);
    // What was not about the subject stays; what was is gone for good.
    assert_eq!(
        kv.get_secret("plain", None)
            .unwrap()
            .value
            .unwrap()
            .expose(),
        "value-of-plain"
    );
    expect_err(kv.get_deleted_secret("s1"), "DeletedSecretNotFound");
    let kvpp = store.vault("kvpp").unwrap();
    assert!(
        kvpp.get_deleted_secret("s2").is_ok(),
        "purge-protected: waits"
    );
    clock.advance(7 * DAY);
    assert!(
        store
            .export_customer_data(&subject)
            .unwrap()
            .vaults
            .is_empty(),
        "purged at its date"
    );
}

#[test]
fn customer_data_covers_role_assignments_and_access_policies() {
    use SecretPermission as S;
    let ts = TempStore::at(T0);
    let store = &ts.store;
    store.create_vault("kv", VaultOptions::default()).unwrap();
    store
        .create_vault_with_permission_model("ap", VaultOptions::default(), false)
        .unwrap();
    store
        .create_vault_with_permission_model("gone", VaultOptions::default(), false)
        .unwrap();
    store
        .vault("kv")
        .unwrap()
        .create_role_assignment("/secrets/db", "r1", SECRETS_USER, "OID-1")
        .unwrap();
    store
        .vault("gone")
        .unwrap()
        .create_role_assignment("/", "r2", KV_READER, "oid-1")
        .unwrap();
    for (vault, oid) in [("ap", "oid-1"), ("ap", "bystander"), ("gone", "oid-1")] {
        store
            .set_vault_access_policy(vault, policy(oid, None, &[], &[S::Get]))
            .unwrap();
    }
    store.delete_vault("gone").unwrap();

    let subject = Subject::Principal("oid-1".into());
    let export = store.export_customer_data(&subject).unwrap();
    let by_vault = |name: &str| export.vaults.iter().find(|v| v.vault == name).unwrap();
    assert_eq!(by_vault("kv").role_assignments[0].name, "r1");
    assert_eq!(by_vault("gone").role_assignments[0].name, "r2");
    assert_eq!(by_vault("ap").access_policies.len(), 1);
    assert_eq!(by_vault("ap").access_policies[0].object_id, "oid-1");
    assert_eq!(
        by_vault("ap").access_policies[0].permissions.secrets,
        [S::Get]
    );
    assert_eq!(by_vault("gone").access_policies.len(), 1);
    let json = serde_json::to_value(&export).unwrap();
    assert!(json["vaults"][0].get("accessPolicies").is_some());

    let report = store.delete_customer_data(&subject).unwrap();
    let mut removed = report.role_assignments_removed.clone();
    removed.sort();
    assert_eq!(removed, ["gone/r2", "kv/r1"]);
    let mut removed = report.access_policies_removed.clone();
    removed.sort();
    assert_eq!(removed, ["ap/oid-1", "gone/oid-1"]);
    assert!(store
        .export_customer_data(&subject)
        .unwrap()
        .vaults
        .is_empty());
    let left = store.vault_access_policies("ap").unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].object_id, "bystander");
    // Removed from the soft-deleted vault too: a recovered vault does not bring them back.
    store.recover_vault("gone").unwrap();
    assert!(store.vault_access_policies("gone").unwrap().is_empty());
    assert!(store
        .vault("gone")
        .unwrap()
        .list_role_assignments(None)
        .unwrap()
        .is_empty());
}

/// Sends a request through the REST router as the caller `oid`.
fn send(
    api: &Api,
    method: &str,
    host: &str,
    path: &str,
    oid: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = localhsm::server::auth::mint_token(oid, None, None, now);
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
        .unwrap();
    let r = api.send(req);
    (r.status, r.json)
}

#[test]
fn access_policies_through_the_management_api_and_the_data_plane() {
    let api = Api::new();
    let admin = "admin";
    let mgmt = |method: &str, path: &str, body: Option<Value>| {
        send(
            &api,
            method,
            "localhost",
            &format!("/management/{path}"),
            admin,
            body,
        )
    };
    let (status, created) = mgmt(
        "POST",
        "vaults",
        Some(json!({"name": "ap", "kind": "vault", "enableRbacAuthorization": false})),
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["enableRbacAuthorization"], false);
    assert_eq!(
        mgmt("GET", "vaults/ap", None).1["enableRbacAuthorization"],
        false
    );
    assert_eq!(
        mgmt("GET", "vaults/default", None).1["enableRbacAuthorization"],
        true
    );
    let (status, e) = mgmt(
        "PATCH",
        "vaults/default",
        Some(json!({"enableRbacAuthorization": false})),
    );
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (400, Some("BadParameter")),
        "{e}"
    );
    let (status, e) = mgmt(
        "POST",
        "vaults",
        Some(json!({"name": "hsm2", "kind": "managedhsm", "enableRbacAuthorization": false})),
    );
    assert_eq!(status, 400, "{e}");

    // Set, read, list, replace, delete.
    let (status, p) = mgmt(
        "PUT",
        "vaults/ap/accesspolicies/bob",
        Some(json!({"permissions": {"secrets": ["Get", "LIST", "get"], "keys": ["wrapkey"]}})),
    );
    assert_eq!(status, 200, "{p}");
    assert_eq!(
        p,
        json!({"objectId": "bob", "permissions": {
            "keys": ["wrapKey"], "secrets": ["get", "list"], "certificates": []}})
    );
    assert_eq!(mgmt("GET", "vaults/ap/accesspolicies/BOB", None).1, p);
    mgmt(
        "PUT",
        "vaults/ap/accesspolicies/carol",
        Some(json!({"objectId": "carol", "tenantId": "t-1", "permissions": {"secrets": ["all"]}})),
    );
    let (_, list) = mgmt("GET", "vaults/ap/accesspolicies", None);
    assert_eq!(list["value"].as_array().unwrap().len(), 2);
    assert_eq!(list["value"][1]["tenantId"], "t-1");
    for (body, says) in [
        (
            json!({"permissions": {"secrets": ["write"]}}),
            "secret permission \"write\"",
        ),
        (
            json!({"objectId": "eve", "permissions": {}}),
            "not the object ID",
        ),
        (json!({"permissions": {"storage": ["get"]}}), "storage"),
        (json!({}), "permissions"),
    ] {
        let (status, e) = mgmt("PUT", "vaults/ap/accesspolicies/bob", Some(body));
        assert_eq!(
            (status, e["error"]["code"].as_str()),
            (400, Some("BadParameter")),
            "{e}"
        );
        assert!(
            e["error"]["message"].as_str().unwrap().contains(says),
            "{e}"
        );
    }
    let (status, e) = mgmt(
        "PUT",
        "vaults/ap/accesspolicies/a%20b",
        Some(json!({"permissions": {}})),
    );
    assert_eq!(status, 400, "{e}");
    let (status, e) = mgmt("GET", "vaults/ap/accesspolicies/nobody", None);
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (404, Some("AccessPolicyNotFound")),
        "{e}"
    );
    let (status, e) = mgmt(
        "PUT",
        "vaults/default/accesspolicies/bob",
        Some(json!({"permissions": {}})),
    );
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (400, Some("BadParameter")),
        "{e}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("kind vault"),
        "{e}"
    );
    let (status, e) = mgmt("GET", "vaults/nosuch/accesspolicies", None);
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (404, Some("VaultNotFound")),
        "{e}"
    );
    assert_eq!(
        mgmt("DELETE", "vaults/ap/accesspolicies/carol", None).0,
        200
    );
    assert_eq!(
        mgmt("DELETE", "vaults/ap/accesspolicies/carol", None).0,
        404
    );

    // The data plane, enforced: bob's policy decides.
    set_secret(&api.store.vault("ap").unwrap(), "db", "s3cret", Tags::new());
    api.store.set_access_policy(AccessPolicy {
        enforce: true,
        admins: vec![admin.into()],
    });
    let at = |method: &str, path: &str, oid: &str, body: Option<Value>| {
        send(&api, method, "ap.localhost", &support::kv(path), oid, body)
    };
    let (status, got) = at("GET", "/secrets/db", "bob", None);
    assert_eq!(
        (status, got["value"].as_str()),
        (200, Some("s3cret")),
        "{got}"
    );
    assert_eq!(at("GET", "/secrets", "bob", None).0, 200);
    for (method, path, body) in [
        ("PUT", "/secrets/db", Some(json!({"value": "new"}))),
        ("DELETE", "/secrets/db", None),
        ("POST", "/secrets/db/backup", None),
    ] {
        let (status, e) = at(method, path, "bob", body);
        assert_eq!(status, 403, "{method} {path}: {e}");
        assert_eq!(e["error"]["code"], "Forbidden");
        assert_eq!(e["error"]["innererror"]["code"], "AccessDenied");
    }
    assert_eq!(at("GET", "/secrets/db", "mallory", None).0, 403);
    assert_eq!(
        at("PUT", "/secrets/db", admin, Some(json!({"value": "v2"}))).0,
        200
    );
    // Only admins reach the management API.
    let (status, _) = send(
        &api,
        "GET",
        "localhost",
        "/management/vaults/ap/accesspolicies",
        "bob",
        None,
    );
    assert_eq!(status, 403);
}

// ---- certificates ----------------------------------------------------------------------

/// An EC certificate policy (quick to issue) with a subject and alternative names.
fn cert_policy(subject: &str, emails: &[&str], upns: &[&str]) -> CertificatePolicy {
    let names = |v: &[&str]| (!v.is_empty()).then(|| v.iter().map(|s| s.to_string()).collect());
    CertificatePolicy {
        key_props: Some(CertificateKeyProperties {
            kty: Some(KeyType::Ec),
            ..Default::default()
        }),
        x509_props: Some(X509Properties {
            subject: Some(subject.into()),
            sans: Some(SubjectAlternativeNames {
                emails: names(emails),
                dns_names: Some(vec!["app.example.test".into()]),
                upns: names(upns),
            }),
            validity_months: Some(12),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn tagged(tags: Tags) -> CertificateOptions {
    CertificateOptions {
        tags,
        ..CertificateOptions::default()
    }
}

fn issue(vault: &Vault, name: &str, policy: CertificatePolicy, tags: Tags) {
    vault
        .create_certificate(name, policy, tagged(tags))
        .unwrap();
}

/// A PFX made outside the vault (its own key, self-signed), for imports.
fn outside_pfx(subject: &str, emails: &[&str], upns: &[&str]) -> SecretBytes {
    let key = CertificateKey::generate(KeySpec::Ec(CurveName::P256)).unwrap();
    let spec = CertSpec {
        subject: subject.into(),
        dns_names: vec![],
        emails: emails.iter().map(|s| s.to_string()).collect(),
        upns: upns.iter().map(|s| s.to_string()).collect(),
        key_usage: vec![KeyUsage::DigitalSignature],
        ekus: vec![],
        not_before: T0,
        validity_months: 6,
    };
    let der = key.self_signed(&spec).unwrap();
    SecretBytes::from_slice(key.to_pfx(&[der], None).unwrap().expose())
}

fn import(vault: &Vault, name: &str, pfx: SecretBytes) -> localhsm::Result<()> {
    vault
        .import_certificate(name, pfx, None, None, CertificateOptions::default())
        .map(drop)
}

fn issuer(provider: &str, admins: &[(&str, &str)]) -> IssuerUpdate {
    IssuerUpdate {
        provider: Some(provider.into()),
        organization: Some(OrganizationDetails {
            id: Some("org-1".into()),
            admin_details: Some(
                admins
                    .iter()
                    .map(|(name, email)| AdministratorDetails {
                        first_name: Some(name.to_string()),
                        last_name: Some("Example".into()),
                        email: Some(email.to_string()),
                        phone: Some("555-0100".into()),
                    })
                    .collect(),
            ),
        }),
        ..IssuerUpdate::default()
    }
}

fn contact(name: &str, email: &str) -> Contact {
    Contact {
        email: Some(email.into()),
        name: Some(name.into()),
        phone: Some("555-0199".into()),
    }
}

/// What a caller can do with certificates, their contacts and issuers in `vault`, and
/// with the secret and key a certificate owns.
#[derive(Debug, PartialEq, Eq, Default)]
struct CertificateRights {
    list: bool,
    get: bool,
    versions: bool,
    policy: bool,
    create: bool,
    import: bool,
    update: bool,
    backup: bool,
    delete: bool,
    contacts: bool,
    read_issuers: bool,
    write_issuers: bool,
    delete_issuers: bool,
    secret: bool,
    key: bool,
}

/// Tries every certificate right on `name` (which must exist, and is soft-deleted after an
/// allowed delete) and `{name}-new`/`{name}-imp` (created when allowed); the issuer
/// `{name}-ca` must exist.
fn certificate_rights(store: &Store, vault: &str, who: Caller, name: &str) -> CertificateRights {
    let v = store.vault_as(vault, who).unwrap();
    let issuer_name = format!("{name}-ca");
    CertificateRights {
        list: !denied(v.list_certificates(25, None, false)),
        get: !denied(v.get_certificate(name, None)),
        versions: !denied(v.list_certificate_versions(name, 25, None)),
        policy: !denied(v.get_certificate_policy(name)),
        create: !denied(v.create_certificate(
            &format!("{name}-new"),
            cert_policy("CN=new", &[], &[]),
            CertificateOptions::default(),
        )),
        import: !denied(import(
            &v,
            &format!("{name}-imp"),
            outside_pfx("CN=imp", &[], &[]),
        )),
        update: !denied(v.update_certificate(
            name,
            None,
            CertificateUpdate {
                tags: Some([("env".to_string(), "test".to_string())].into()),
                ..CertificateUpdate::default()
            },
        )),
        backup: !denied(v.backup_certificate(name)),
        contacts: !denied(v.set_certificate_contacts(vec![contact("Ops", "ops@example.test")])),
        read_issuers: !denied(v.list_certificate_issuers(25, None)),
        write_issuers: !denied(v.update_certificate_issuer(
            &issuer_name,
            IssuerUpdate {
                enabled: Some(true),
                ..IssuerUpdate::default()
            },
        )),
        secret: !denied(v.get_secret(name, None)),
        key: !denied(v.get_key(name, None)),
        // Last: these remove what they act on.
        delete_issuers: !denied(v.delete_certificate_issuer(&issuer_name)),
        delete: !denied(v.delete_certificate(name)),
    }
}

#[test]
fn key_vault_certificate_roles_allow_and_refuse_what_azure_does() {
    let ts = TempStore::at(T0);
    let store = &ts.store;
    store.create_vault("kv", VaultOptions::default()).unwrap();
    store.create_vault("hsm", hsm(7, false)).unwrap();
    store.create_vault(DEFAULT_VAULT, hsm(7, false)).unwrap();
    let trusted = store.vault("kv").unwrap();
    let people = ["officer", "reader", "user", "kv-admin", "nobody", "scoped"];
    for who in people.iter().chain(&["elsewhere"]) {
        issue(
            &trusted,
            &format!("c-{who}"),
            cert_policy("CN=app", &[], &[]),
            Tags::new(),
        );
        trusted
            .set_certificate_issuer(&format!("c-{who}-ca"), issuer("Test", &[]))
            .unwrap();
    }
    store.set_access_policy(AccessPolicy {
        enforce: true,
        admins: vec!["admin".into()],
    });
    let admin = store.vault_as("kv", caller("admin")).unwrap();
    for (role, who) in [
        (CERTIFICATES_OFFICER, "officer"),
        (KV_READER, "reader"),
        (CERTIFICATE_USER, "user"),
        (KV_ADMINISTRATOR, "kv-admin"),
    ] {
        admin
            .create_role_assignment("/", &format!("a-{who}"), role, who)
            .unwrap();
    }
    // One certificate's scope, written as a user might.
    admin
        .create_role_assignment(
            "/Certificates/C-Scoped",
            "a-scoped",
            CERTIFICATES_OFFICER,
            "scoped",
        )
        .unwrap();
    let every_certificate_right = CertificateRights {
        list: true,
        get: true,
        versions: true,
        policy: true,
        create: true,
        import: true,
        update: true,
        backup: true,
        delete: true,
        contacts: true,
        read_issuers: true,
        write_issuers: true,
        delete_issuers: true,
        ..CertificateRights::default()
    };
    // Certificates Officer: every certificate, contact and issuer action; not the
    // certificate's secret (its PFX) or key, which take the secrets and keys roles.
    assert_eq!(
        certificate_rights(store, "kv", caller("officer"), "c-officer"),
        every_certificate_right
    );
    // Reader: certificates and issuers, read only; not contacts (Key Vault has no contacts
    // read action), never the private key.
    assert_eq!(
        certificate_rights(store, "kv", caller("reader"), "c-reader"),
        CertificateRights {
            list: true,
            get: true,
            versions: true,
            policy: true,
            read_issuers: true,
            key: true,
            ..CertificateRights::default()
        }
    );
    // Certificate User: reads certificates and their contents (secret and key), no more.
    assert_eq!(
        certificate_rights(store, "kv", caller("user"), "c-user"),
        CertificateRights {
            list: true,
            get: true,
            versions: true,
            policy: true,
            secret: true,
            key: true,
            ..CertificateRights::default()
        }
    );
    // Key Vault Administrator: everything, contents too.
    assert_eq!(
        certificate_rights(store, "kv", caller("kv-admin"), "c-kv-admin"),
        CertificateRights {
            secret: true,
            key: true,
            ..every_certificate_right
        }
    );
    assert_eq!(
        certificate_rights(store, "kv", caller("nobody"), "c-nobody"),
        CertificateRights::default()
    );
    // One certificate's scope: that certificate, not the list, not new names, not the
    // vault's contacts or issuers.
    assert_eq!(
        certificate_rights(store, "kv", caller("scoped"), "c-scoped"),
        CertificateRights {
            get: true,
            versions: true,
            policy: true,
            update: true,
            backup: true,
            delete: true,
            ..CertificateRights::default()
        }
    );
    assert_eq!(
        certificate_rights(store, "kv", caller("scoped"), "c-elsewhere"),
        CertificateRights::default()
    );
    // What the officer made is theirs to manage: recover and purge it, restore a backup.
    let officer = store.vault_as("kv", caller("officer")).unwrap();
    let reader = store.vault_as("kv", caller("reader")).unwrap();
    assert!(reader.get_deleted_certificate("c-officer").is_ok());
    assert!(reader.list_deleted_certificates(25, None).is_ok());
    assert!(denied(reader.recover_deleted_certificate("c-officer")));
    assert!(denied(reader.purge_deleted_certificate("c-officer")));
    assert!(denied(reader.get_certificate_contacts()));
    let backup = officer.backup_certificate("c-officer-new").unwrap();
    officer.recover_deleted_certificate("c-officer").unwrap();
    officer.delete_certificate("c-officer-new").unwrap();
    officer.purge_deleted_certificate("c-officer-new").unwrap();
    assert!(denied(reader.restore_certificate(&backup)));
    officer.restore_certificate(&backup).unwrap();
    assert_eq!(
        officer.get_certificate_contacts().unwrap()[0]
            .email
            .as_deref(),
        Some("ops@example.test")
    );
    officer.delete_certificate_contacts().unwrap();
    officer
        .set_certificate_issuer("made-by-officer", issuer("Test", &[]))
        .unwrap();
    // Neither the secrets nor the keys API opens to the officer.
    assert!(denied(officer.get_secret_properties("c-officer", None)));
    assert!(denied(officer.list_secrets(25, None)));
    let digest = HashAlg::Sha256.digest(b"m");
    assert!(denied(
        officer
            .key("c-officer", None)
            .and_then(|h| h.sign(SignatureAlgorithm::ES256, &digest))
    ));
    // `--admin` principals: every certificate action, and the contents.
    issue(
        &admin,
        "by-admin",
        cert_policy("CN=admin", &[], &[]),
        Tags::new(),
    );
    assert!(admin.get_secret("by-admin", None).unwrap().value.is_some());
    admin.delete_certificate("by-admin").unwrap();
    admin.purge_deleted_certificate("by-admin").unwrap();
    admin
        .set_certificate_contacts(vec![contact("A", "a@example.test")])
        .unwrap();

    // Certificate scopes need a vault that holds certificates and a Key Vault role.
    // (The default vault offers both families, so the Managed HSM role is assignable there.)
    let e = store
        .vault_as(DEFAULT_VAULT, caller("admin"))
        .unwrap()
        .create_role_assignment("/certificates", "x1", CRYPTO_USER, "p")
        .unwrap_err();
    assert!(
        e.to_string().contains("grants nothing on certificates"),
        "{e}"
    );
    let hsm = store.vault_as("hsm", caller("admin")).unwrap();
    let e = hsm
        .create_role_assignment("/certificates", "x2", CRYPTO_USER, "p")
        .unwrap_err();
    assert!(e.to_string().contains("holds no certificates"), "{e}");
    let e = admin
        .create_role_assignment("/certificates/bad_name", "x3", CERTIFICATES_OFFICER, "p")
        .unwrap_err();
    assert_eq!(e.wire().status, 400, "{e}");
    let a = admin
        .create_role_assignment("/CERTIFICATES", "x4", CERTIFICATES_OFFICER, "p")
        .unwrap();
    assert_eq!(a.scope, "/certificates");
    assert_eq!(
        admin
            .list_role_assignments(Some("/certificates/anything"))
            .unwrap()
            .iter()
            .filter(|a| a.name == "x4" || a.name == "a-scoped")
            .count(),
        1,
        "/certificates is above every certificate; /certificates/c-scoped is not above others"
    );
}

fn certificate_policy_entry(
    oid: &str,
    certificates: &[CertificatePermission],
) -> AccessPolicyEntry {
    AccessPolicyEntry {
        tenant_id: None,
        object_id: oid.into(),
        permissions: Permissions {
            certificates: certificates.to_vec(),
            ..Permissions::default()
        },
    }
}

#[test]
fn access_policy_vaults_grant_certificate_permissions_as_key_vault_does() {
    use CertificatePermission as C;
    let ts = TempStore::at(T0);
    let store = &ts.store;
    store
        .create_vault_with_permission_model("ap", VaultOptions::default(), false)
        .unwrap();
    let trusted = store.vault("ap").unwrap();
    let grants: &[(&str, &[C])] = &[
        ("getter", &[C::Get]),
        ("lister", &[C::List]),
        (
            "maker",
            &[C::Create, C::Import, C::Update, C::Delete, C::Backup],
        ),
        ("contacts", &[C::ManageContacts]),
        ("issuer-reader", &[C::GetIssuers, C::ListIssuers]),
        ("issuer-setter", &[C::SetIssuers]),
        ("issuer-deleter", &[C::DeleteIssuers]),
        ("issuer-manager", &[C::ManageIssuers]),
        ("everything", &[C::All]),
    ];
    for (who, permissions) in grants {
        issue(
            &trusted,
            &format!("c-{who}"),
            cert_policy("CN=app", &[], &[]),
            Tags::new(),
        );
        trusted
            .set_certificate_issuer(&format!("c-{who}-ca"), issuer("Test", &[]))
            .unwrap();
        store
            .set_vault_access_policy("ap", certificate_policy_entry(who, permissions))
            .unwrap();
    }
    store.set_access_policy(AccessPolicy {
        enforce: true,
        admins: vec![],
    });
    let rights = |who: &str| certificate_rights(store, "ap", caller(who), &format!("c-{who}"));
    let none = CertificateRights::default();
    // get reads one certificate (its versions and policy too); list lists, as for keys.
    assert_eq!(
        rights("getter"),
        CertificateRights {
            get: true,
            versions: true,
            policy: true,
            ..none
        }
    );
    assert_eq!(
        rights("lister"),
        CertificateRights {
            list: true,
            ..CertificateRights::default()
        }
    );
    assert_eq!(
        rights("maker"),
        CertificateRights {
            create: true,
            import: true,
            update: true,
            backup: true,
            delete: true,
            ..CertificateRights::default()
        }
    );
    assert_eq!(
        rights("contacts"),
        CertificateRights {
            contacts: true,
            ..CertificateRights::default()
        }
    );
    assert_eq!(
        rights("issuer-reader"),
        CertificateRights {
            read_issuers: true,
            ..CertificateRights::default()
        }
    );
    assert_eq!(
        rights("issuer-setter"),
        CertificateRights {
            write_issuers: true,
            ..CertificateRights::default()
        }
    );
    assert_eq!(
        rights("issuer-deleter"),
        CertificateRights {
            delete_issuers: true,
            ..CertificateRights::default()
        }
    );
    assert_eq!(
        rights("issuer-manager"),
        CertificateRights {
            read_issuers: true,
            write_issuers: true,
            delete_issuers: true,
            ..CertificateRights::default()
        }
    );
    // all: every certificate permission, and still not the certificate's secret or key,
    // which take the secrets and keys permissions, as in Key Vault.
    assert_eq!(
        rights("everything"),
        CertificateRights {
            list: true,
            get: true,
            versions: true,
            policy: true,
            create: true,
            import: true,
            update: true,
            backup: true,
            delete: true,
            contacts: true,
            read_issuers: true,
            write_issuers: true,
            delete_issuers: true,
            ..CertificateRights::default()
        }
    );
    // Recover and purge are their own permissions.
    let everything = store.vault_as("ap", caller("everything")).unwrap();
    everything
        .recover_deleted_certificate("c-everything")
        .unwrap();
    let maker = store.vault_as("ap", caller("maker")).unwrap();
    assert!(denied(maker.recover_deleted_certificate("c-maker")));
    assert!(denied(maker.purge_deleted_certificate("c-maker")));
    store
        .set_vault_access_policy(
            "ap",
            certificate_policy_entry("maker", &[C::Recover, C::Purge, C::Restore]),
        )
        .unwrap();
    let blob = everything.backup_certificate("c-everything").unwrap();
    maker.recover_deleted_certificate("c-maker").unwrap();
    everything.delete_certificate("c-everything").unwrap();
    maker.purge_deleted_certificate("c-everything").unwrap();
    maker.restore_certificate(&blob).unwrap();
    // With the secrets permission beside it, the certificate's PFX is readable.
    store
        .set_vault_access_policy(
            "ap",
            AccessPolicyEntry {
                tenant_id: None,
                object_id: "everything".into(),
                permissions: Permissions {
                    certificates: vec![C::All],
                    secrets: vec![SecretPermission::Get],
                    keys: vec![KeyPermission::Get],
                },
            },
        )
        .unwrap();
    assert!(everything
        .get_secret("c-everything", None)
        .unwrap()
        .value
        .is_some());
    assert!(everything.get_key("c-everything", None).is_ok());
}

#[test]
fn customer_data_covers_certificates_contacts_and_issuers() {
    let ts = TempStore::at(T0);
    let (store, clock) = (&ts.store, &ts.clock);
    let kv_options = |purge_protection| VaultOptions {
        retention_days: 7,
        purge_protection,
        ..VaultOptions::default()
    };
    store.create_vault("kv", kv_options(false)).unwrap();
    store.create_vault("kvpp", kv_options(true)).unwrap();
    let kv = store.vault("kv").unwrap();
    let kvpp = store.vault("kvpp").unwrap();
    let ann = "ann@example.com";
    // Issued with Ann's address in the e-mail SANs; imported from outside with it as a UPN;
    // one already soft-deleted; one in a purge-protected vault; and bystanders.
    issue(
        &kv,
        "ann-tls",
        cert_policy("CN=app, O=Contoso", &[ann], &[]),
        Tags::new(),
    );
    import(
        &kv,
        "ann-imported",
        outside_pfx("CN=Signing", &[], &["Ann@Example.com"]),
    )
    .unwrap();
    issue(
        &kv,
        "ann-old",
        cert_policy("CN=ann@example.com", &[], &[]),
        Tags::new(),
    );
    kv.delete_certificate("ann-old").unwrap();
    issue(
        &kv,
        "other",
        cert_policy("CN=other", &["ops@example.com"], &[]),
        Tags::new(),
    );
    import(
        &kv,
        "near-miss",
        outside_pfx("CN=ann@example.com.evil", &[], &[]),
    )
    .unwrap();
    issue(
        &kvpp,
        "ann-pp",
        cert_policy("CN=pp", &[ann], &[]),
        Tags::new(),
    );
    kv.set_certificate_contacts(vec![
        contact("Ann", "ANN@example.com"),
        contact("Bob", "bob@example.com"),
    ])
    .unwrap();
    kv.set_certificate_issuer(
        "ca",
        issuer("Test", &[("Ann", ann), ("Bob", "bob@example.com")]),
    )
    .unwrap();
    kv.set_certificate_issuer("bob-only", issuer("Test", &[("Bob", "bob@example.com")]))
        .unwrap();
    let pfx_of_ann = kv.get_secret("ann-tls", None).unwrap().value.unwrap();

    let subject = Subject::Email("Ann@example.com".into());
    let export = store.export_customer_data(&subject).unwrap();
    let json = serde_json::to_string(&export).unwrap();
    assert!(
        !json.contains(&pfx_of_ann.expose()[..40]) && !json.contains("BEGIN"),
        "no PFX, PEM or private key in an export"
    );
    let by_vault = |name: &str| export.vaults.iter().find(|v| v.vault == name).unwrap();
    let names = |list: &[localhsm::customer_data::ExportedCertificate]| -> Vec<String> {
        let mut v: Vec<String> = list.iter().map(|c| c.name.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(
        names(&by_vault("kv").certificates),
        ["ann-imported", "ann-tls"]
    );
    assert_eq!(names(&by_vault("kv").deleted_certificates), ["ann-old"]);
    assert_eq!(names(&by_vault("kvpp").certificates), ["ann-pp"]);
    let tls = by_vault("kv")
        .certificates
        .iter()
        .find(|c| c.name == "ann-tls")
        .unwrap();
    let v = &tls.versions[0];
    assert_eq!(v.subject.as_deref(), Some("CN=app, O=Contoso"));
    let sans = v.subject_alternative_names.as_ref().unwrap();
    assert_eq!(sans.emails.as_deref(), Some(&[ann.to_string()][..]));
    assert_eq!(
        sans.dns_names.as_deref(),
        Some(&["app.example.test".to_string()][..])
    );
    assert_eq!(v.policy_subject.as_deref(), Some("CN=app, O=Contoso"));
    let imported = by_vault("kv")
        .certificates
        .iter()
        .find(|c| c.name == "ann-imported")
        .unwrap();
    assert_eq!(
        imported.versions[0]
            .subject_alternative_names
            .as_ref()
            .unwrap()
            .upns
            .as_deref(),
        Some(&["Ann@Example.com".to_string()][..])
    );
    assert!(by_vault("kv").deleted_certificates[0]
        .scheduled_purge_date
        .is_some());
    assert_eq!(
        by_vault("kv").certificate_contacts,
        [contact("Ann", "ANN@example.com")]
    );
    let issuers = &by_vault("kv").certificate_issuers;
    assert_eq!(issuers.len(), 1, "bob-only has no admin with Ann's address");
    assert_eq!(issuers[0].name, "ca");
    assert_eq!(issuers[0].organization_id.as_deref(), Some("org-1"));
    assert_eq!(issuers[0].admin_details.len(), 1);
    assert_eq!(
        issuers[0].admin_details[0].first_name.as_deref(),
        Some("Ann")
    );
    assert_eq!(
        issuers[0].admin_details[0].phone.as_deref(),
        Some("555-0100")
    );
    let value = serde_json::to_value(&export).unwrap();
    let kv_json = value["vaults"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["vault"] == "kv")
        .unwrap();
    assert_eq!(kv_json["certificateContacts"][0]["phone"], "555-0199");
    assert_eq!(
        kv_json["certificateIssuers"][0]["adminDetails"][0]["email"],
        ann
    );
    // A UPN subject finds the same certificates, contacts and administrators.
    let by_upn = store
        .export_customer_data(&Subject::Upn(ann.into()))
        .unwrap();
    assert_eq!(
        by_upn
            .vaults
            .iter()
            .map(|v| v.certificates.len()
                + v.deleted_certificates.len()
                + v.certificate_contacts.len()
                + v.certificate_issuers.len())
            .sum::<usize>(),
        6
    );

    let report = store.delete_customer_data(&subject).unwrap();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(report.certificates_deleted.clone()),
        ["kv/ann-imported", "kv/ann-tls", "kvpp/ann-pp"]
    );
    assert_eq!(
        sorted(report.certificates_purged.clone()),
        ["kv/ann-imported", "kv/ann-old", "kv/ann-tls"]
    );
    assert_eq!(report.certificates_awaiting_purge.len(), 1);
    let waiting = &report.certificates_awaiting_purge[0];
    assert_eq!(
        (waiting.vault.as_str(), waiting.name.as_str()),
        ("kvpp", "ann-pp")
    );
    assert_eq!(waiting.scheduled_purge_date, Some(T0 + 7 * DAY));
    assert!(
        waiting.reason.contains("purge protection"),
        "{}",
        waiting.reason
    );
    assert_eq!(report.certificate_contacts_removed, ["kv/ANN@example.com"]);
    assert_eq!(report.issuer_admins_removed, ["kv/ca/ann@example.com"]);
    // Contacts and administrators: Ann's entries are gone, Bob's and the issuer stay.
    assert_eq!(
        kv.get_certificate_contacts().unwrap(),
        [contact("Bob", "bob@example.com")]
    );
    let ca = kv.get_certificate_issuer("ca").unwrap();
    let org = ca.organization.unwrap();
    assert_eq!(org.id.as_deref(), Some("org-1"));
    let admins = org.admin_details.unwrap();
    assert_eq!(admins.len(), 1);
    assert_eq!(admins[0].email.as_deref(), Some("bob@example.com"));
    assert_eq!(ca.provider, "Test");
    // The certificates are gone for good, with the keys and secrets they owned.
    for name in ["ann-tls", "ann-imported", "ann-old"] {
        expect_err(
            kv.get_deleted_certificate(name),
            "DeletedCertificateNotFound",
        );
        expect_err(kv.get_key(name, None), "KeyNotFound");
        expect_err(kv.get_deleted_key(name), "DeletedKeyNotFound");
        expect_err(kv.get_secret(name, None), "SecretNotFound");
    }
    assert!(kv.get_certificate("other", None).is_ok());
    assert!(
        kv.get_certificate("near-miss", None).is_ok(),
        "a longer address is another"
    );
    // Purge protection holds: the certificate waits, deleted, for its date.
    assert!(kvpp.get_deleted_certificate("ann-pp").is_ok());
    let again = store.export_customer_data(&subject).unwrap();
    assert_eq!(again.vaults.len(), 1, "only what must wait is left");
    assert_eq!(names(&again.vaults[0].deleted_certificates), ["ann-pp"]);
    clock.advance(7 * DAY);
    assert!(store
        .export_customer_data(&subject)
        .unwrap()
        .vaults
        .is_empty());
    expect_err(
        kvpp.get_deleted_certificate("ann-pp"),
        "DeletedCertificateNotFound",
    );
}

#[test]
fn customer_data_finds_certificates_by_device_id_and_tag() {
    let ts = TempStore::at(T0);
    let store = &ts.store;
    store.create_vault("kv", VaultOptions::default()).unwrap();
    let kv = store.vault("kv").unwrap();
    let device: Tags = [("deviceId".to_string(), "dev-9".to_string())].into();
    // Tagged as keys are; and a device certificate naming the device in its subject, as
    // IoT Hub's X.509 device certificates do.
    issue(&kv, "tagged", cert_policy("CN=gateway", &[], &[]), device);
    issue(
        &kv,
        "device-cn",
        cert_policy("CN=DEV-9", &[], &[]),
        Tags::new(),
    );
    issue(
        &kv,
        "unrelated",
        cert_policy("CN=dev-90", &[], &[]),
        Tags::new(),
    );
    kv.set_certificate_contacts(vec![contact("Dev", "dev-9@example.com")])
        .unwrap();
    let by_device = Subject::DeviceId("dev-9".into());
    let export = store.export_customer_data(&by_device).unwrap();
    let mut found: Vec<&str> = export.vaults[0]
        .certificates
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    found.sort();
    assert_eq!(found, ["device-cn", "tagged"]);
    assert!(
        export.vaults[0].certificate_contacts.is_empty(),
        "a device has no address"
    );
    let by_tag = store
        .export_customer_data(&Subject::tag("deviceId=dev-9").unwrap())
        .unwrap();
    assert_eq!(by_tag.vaults[0].certificates.len(), 1);
    assert_eq!(by_tag.vaults[0].certificates[0].name, "tagged");
    assert_eq!(
        by_tag.vaults[0].certificates[0].versions[0].tags["deviceId"],
        "dev-9"
    );
    let report = store.delete_customer_data(&by_device).unwrap();
    let mut purged = report.certificates_purged.clone();
    purged.sort();
    assert_eq!(purged, ["kv/device-cn", "kv/tagged"]);
    assert!(report.certificate_contacts_removed.is_empty());
    assert!(kv.get_certificate("unrelated", None).is_ok());
    assert_eq!(kv.get_certificate_contacts().unwrap().len(), 1);
}

#[test]
fn customer_data_by_email_through_the_management_api() {
    let api = Api::new();
    let store = &api.store;
    let default = store.vault(DEFAULT_VAULT).unwrap();
    default
        .set_certificate_contacts(vec![contact("Ann", "ann@example.com")])
        .unwrap();
    let post = |op: &str, body: Value| {
        send(
            &api,
            "POST",
            "localhost",
            &format!("/management/customer-data/{op}"),
            "admin",
            Some(body),
        )
    };
    let (status, export) = post("export", json!({"email": "ann@example.com"}));
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["subject"], "email ann@example.com");
    assert_eq!(export["vaults"][0]["certificateContacts"][0]["name"], "Ann");
    let (status, e) = post("export", json!({"email": "a@b.c", "upn": "a@b.c"}));
    assert_eq!(status, 400, "{e}");
    let (status, report) = post("delete", json!({"email": "ANN@example.com"}));
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["certificateContactsRemoved"],
        json!([format!("{DEFAULT_VAULT}/ann@example.com")])
    );
    assert!(report["certificatesAwaitingPurge"]
        .as_array()
        .unwrap()
        .is_empty());
    expect_err(default.get_certificate_contacts(), "ContactsNotFound");
}

/// A customer-data delete reaches soft-deleted vaults: recovering the vault afterwards does
/// not give the principal its role assignments or its tagged key back. A second export
/// lists only what waits for its purge date (a key soft-deleted under purge protection),
/// with the reason, and says so.
#[test]
fn customer_data_delete_covers_soft_deleted_vaults_and_a_second_export_says_what_waits() {
    let api = Api::new();
    let store = &api.store;
    store.create_vault("pp", hsm(7, true)).unwrap();
    store.create_vault("gone", hsm(7, false)).unwrap();
    let mine: Tags = [("owner".to_string(), "oid-1".to_string())].into();
    ec(store, "pp", "held", mine.clone());
    ec(store, "gone", "inside", mine);
    for v in ["pp", "gone"] {
        store
            .vault(v)
            .unwrap()
            .create_role_assignment("/", &format!("r-{v}"), CRYPTO_USER, "OID-1")
            .unwrap();
    }
    store
        .vault("gone")
        .unwrap()
        .create_role_assignment("/keys", "r-other", CRYPTO_USER, "oid-2")
        .unwrap();
    store.delete_vault("gone").unwrap();
    let post = |op: &str| {
        let r = api.raw(
            "POST",
            "localhost",
            &format!("/management/customer-data/{op}"),
            json!({"principal": "oid-1"}).to_string().into_bytes(),
        );
        assert_eq!(r.status, 200, "{op}: {}", r.json);
        r.json
    };
    let vault_of = |export: &Value, name: &str| -> Value {
        export["vaults"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["vault"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no vault {name} in {export}"))
    };

    let first = post("export");
    assert!(
        first.get("note").is_none(),
        "live data is not only waiting: {first}"
    );
    assert_eq!(
        vault_of(&first, "gone")["roleAssignments"][0]["name"],
        "r-gone"
    );
    assert_eq!(vault_of(&first, "gone")["vaultDeleted"], true);
    assert_eq!(vault_of(&first, "pp")["roleAssignments"][0]["name"], "r-pp");

    let report = post("delete");
    let mut removed: Vec<String> =
        serde_json::from_value(report["roleAssignmentsRemoved"].clone()).unwrap();
    removed.sort();
    assert_eq!(removed, ["gone/r-gone", "pp/r-pp"]);

    let second = post("export");
    let note = second["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("waits for its scheduled purge date"),
        "the second export says what it is: {second}"
    );
    assert_eq!(second["vaults"].as_array().unwrap().len(), 1, "{second}");
    for v in second["vaults"].as_array().unwrap() {
        assert_eq!(v["roleAssignments"], json!([]), "{v}");
        assert_eq!(v["accessLog"], json!([]), "{v}");
    }
    let pp = vault_of(&second, "pp");
    assert_eq!(pp["keys"], json!([]));
    assert_eq!(pp["deletedKeys"][0]["name"], "held");
    assert!(pp["deletedKeys"][0]["scheduledPurgeDate"].is_u64());
    assert!(pp["deletedKeys"][0]["awaitingPurge"]
        .as_str()
        .unwrap()
        .contains("purge protection"));
    // No purge protection: purged in the soft-deleted vault.
    assert!(report["keysPurged"]
        .as_array()
        .unwrap()
        .contains(&json!("gone/inside")));

    // Recovering the vault does not bring the principal's roles back; others keep theirs.
    let r = api.raw(
        "POST",
        "localhost",
        "/management/vaults/gone/recover",
        vec![],
    );
    assert_eq!(r.status, 200, "{}", r.json);
    let listed = api.kv_at(
        "GET",
        "gone.localhost",
        "/providers/Microsoft.Authorization/roleAssignments",
        None,
    );
    assert_eq!(listed.status, 200, "{}", listed.json);
    let principals: Vec<&str> = listed.json["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["properties"]["principalId"].as_str())
        .collect();
    assert_eq!(principals, ["oid-2"], "{}", listed.json);
    for path in ["/keys/inside", "/deletedkeys/inside"] {
        let r = api.kv_at("GET", "gone.localhost", path, None);
        assert_eq!(r.status, 404, "{path}: {}", r.json);
    }
}
