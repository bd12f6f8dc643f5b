//! Customer-data delete in every vault, soft-deleted ones included.
//!
//! Guards against: a soft-deleted vault that keeps what a customer-data delete removed
//! elsewhere (the subject's role assignments, access policies, certificate contacts, issuer
//! administrators, or tagged keys, secrets and certificates left live), so that recovering
//! the vault gives it back; a delete that purges anything before its scheduled purge date
//! under purge protection, in a live or a soft-deleted vault; and a second export that lists
//! more than what only waits for its purge date, or lists that without the date it goes and
//! why it cannot go sooner.

mod support;

use localhsm::audit::{CallRecord, LogQuery};
use localhsm::clock::rfc3339;
use localhsm::crypto::{HashAlg, KeyType, SecretString, SignatureAlgorithm};
use localhsm::customer_data::{AwaitingPurge, CustomerDataExport, DeletionReport, Subject};
use localhsm::model::access::{KeyPermission, Permissions};
use localhsm::model::certificates::{
    AdministratorDetails, CertificateKeyProperties, CertificateOptions, CertificatePolicy, Contact,
    IssuerUpdate, OrganizationDetails, SubjectAlternativeNames, X509Properties,
};
use localhsm::model::{Caller, KeyOptions, SecretOptions, Tags};
use localhsm::rbac::AccessPolicyEntry;
use localhsm::{AccessPolicy, Vault};
use serde_json::{json, Value};
use support::{ec_key, ec_key_with, expect_err, hsm, key_vault, tags, Api, TempStore, DAY, T0};

/// Managed HSM Crypto User.
const CRYPTO_USER: &str = "21dbd100-6940-42c2-9190-5d6cb909625b";

fn with_tags(t: &Tags) -> KeyOptions {
    KeyOptions {
        tags: t.clone(),
        ..KeyOptions::default()
    }
}

fn set_secret(vault: &Vault, name: &str, t: &Tags) {
    let options = SecretOptions {
        tags: t.clone(),
        ..SecretOptions::default()
    };
    vault
        .set_secret(name, SecretString::new("s3cr3t-value".into()), options)
        .unwrap();
}

/// A self-issued EC certificate with `subject` and the e-mail alternative names `emails`.
fn issue(vault: &Vault, name: &str, subject: &str, emails: &[&str], t: &Tags) {
    let policy = CertificatePolicy {
        key_props: Some(CertificateKeyProperties {
            kty: Some(KeyType::Ec),
            ..Default::default()
        }),
        x509_props: Some(X509Properties {
            subject: Some(subject.into()),
            sans: Some(SubjectAlternativeNames {
                emails: Some(emails.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            }),
            validity_months: Some(12),
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = CertificateOptions {
        tags: t.clone(),
        ..CertificateOptions::default()
    };
    vault.create_certificate(name, policy, options).unwrap();
}

/// One thing a delete left waiting: `(kind, vault, name, date)`.
type Waiting = (&'static str, String, String, u64);

/// What waits, sorted; and every reason.
fn waiting(report: &DeletionReport) -> (Vec<Waiting>, Vec<String>) {
    let lists: [(&'static str, &Vec<AwaitingPurge>); 3] = [
        ("key", &report.keys_awaiting_purge),
        ("secret", &report.secrets_awaiting_purge),
        ("certificate", &report.certificates_awaiting_purge),
    ];
    let mut rows = Vec::new();
    let mut reasons = Vec::new();
    for (kind, list) in lists {
        for w in list {
            let date = w.scheduled_purge_date.expect("a date for what waits");
            rows.push((kind, w.vault.clone(), w.name.clone(), date));
            reasons.push(format!("{kind} {}/{}: {}", w.vault, w.name, w.reason));
        }
    }
    rows.sort();
    reasons.sort();
    (rows, reasons)
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// Every key, secret and certificate an export lists: `(vault, list, name, awaitingPurge)`.
fn listed(export: &CustomerDataExport) -> Vec<(String, &'static str, String, Option<String>)> {
    let mut out = Vec::new();
    for v in &export.vaults {
        let mut add = |list: &'static str, name: &str, awaiting: &Option<String>| {
            out.push((v.vault.clone(), list, name.to_string(), awaiting.clone()));
        };
        for k in &v.keys {
            add("keys", &k.name, &k.awaiting_purge);
        }
        for k in &v.deleted_keys {
            add("deletedKeys", &k.name, &k.awaiting_purge);
        }
        for s in &v.secrets {
            add("secrets", &s.name, &s.awaiting_purge);
        }
        for s in &v.deleted_secrets {
            add("deletedSecrets", &s.name, &s.awaiting_purge);
        }
        for c in &v.certificates {
            add("certificates", &c.name, &c.awaiting_purge);
        }
        for c in &v.deleted_certificates {
            add("deletedCertificates", &c.name, &c.awaiting_purge);
        }
    }
    out.sort();
    out
}

/// Nothing in `vault` named `name` is live, of any kind.
#[track_caller]
fn none_live(vault: &Vault, name: &str) {
    expect_err(vault.get_key(name, None), "KeyNotFound");
    expect_err(vault.get_secret(name, None), "SecretNotFound");
    expect_err(vault.get_certificate(name, None), "CertificateNotFound");
}

/// By device ID, in four vaults: live and soft-deleted, each with and without purge
/// protection. Tagged keys, secrets and certificates are soft-deleted in the soft-deleted
/// vaults too, purged where purge protection allows, and otherwise wait: for their own
/// scheduled purge date or their vault's, whichever comes first. Recovering the vaults
/// gives nothing back live; a second export lists only what waits, each with its date and
/// reason; and nothing is purged before its date.
#[test]
fn by_device_id_in_live_and_soft_deleted_vaults_with_and_without_purge_protection() {
    let ts = TempStore::at(T0);
    let (store, clock) = (&ts.store, &ts.clock);
    let device = tags(&[("deviceId", "dev-1")]);
    for (name, pp) in [
        ("live", false),
        ("livepp", true),
        ("gone", false),
        ("gonepp", true),
    ] {
        let v = ts.vault(name, key_vault(7, pp));
        ec_key_with(&v, "k", with_tags(&device));
        set_secret(&v, "s", &device);
        issue(&v, "c", "CN=gateway", &[], &device);
        ec_key(&v, "other");
    }
    // Deleted before its vault, so its own scheduled purge date comes before the vault's.
    let gonepp = store.vault("gonepp").unwrap();
    ec_key_with(&gonepp, "pre", with_tags(&device));
    clock.advance(DAY);
    gonepp.delete_key("pre").unwrap();
    clock.advance(DAY);
    let gone_at = store.delete_vault("gone").unwrap();
    let gonepp_at = store.delete_vault("gonepp").unwrap();
    let vault_purge = T0 + 9 * DAY;
    assert_eq!(gonepp_at.scheduled_purge_date, Some(vault_purge));
    assert_eq!(gone_at.scheduled_purge_date, Some(vault_purge));
    clock.advance(DAY);
    let now = T0 + 3 * DAY;
    let own_purge = now + 7 * DAY;

    let subject = Subject::DeviceId("DEV-1".into());
    let first = store.export_customer_data(&subject).unwrap();
    assert!(first.note.is_none(), "live data is not only waiting");
    let live_in_gone: Vec<_> = listed(&first)
        .into_iter()
        .filter(|(v, list, _, _)| v.starts_with("gone") && !list.starts_with("deleted"))
        .collect();
    assert_eq!(live_in_gone.len(), 6, "{live_in_gone:?}");
    assert!(
        live_in_gone.iter().all(|(.., awaiting)| awaiting.is_none()),
        "a live object in a soft-deleted vault is not waiting for anything: a delete removes it"
    );

    let report = store.delete_customer_data(&subject).unwrap();
    let each = |vaults: &[&str], name: &str| -> Vec<String> {
        vaults.iter().map(|v| format!("{v}/{name}")).collect()
    };
    let all = ["gone", "gonepp", "live", "livepp"];
    let unprotected = ["gone", "live"];
    assert_eq!(sorted(&report.keys_deleted), each(&all, "k"));
    assert_eq!(sorted(&report.secrets_deleted), each(&all, "s"));
    assert_eq!(sorted(&report.certificates_deleted), each(&all, "c"));
    assert_eq!(sorted(&report.keys_purged), each(&unprotected, "k"));
    assert_eq!(sorted(&report.secrets_purged), each(&unprotected, "s"));
    assert_eq!(sorted(&report.certificates_purged), each(&unprotected, "c"));
    let (rows, reasons) = waiting(&report);
    let row =
        |kind, vault: &str, name: &str, date| (kind, vault.to_string(), name.to_string(), date);
    assert_eq!(
        rows,
        [
            // The vault goes before the object's own date: it goes with the vault.
            row("certificate", "gonepp", "c", vault_purge),
            row("certificate", "livepp", "c", own_purge),
            row("key", "gonepp", "k", vault_purge),
            // Deleted before the vault: its own date comes first.
            row("key", "gonepp", "pre", T0 + 8 * DAY),
            row("key", "livepp", "k", own_purge),
            row("secret", "gonepp", "s", vault_purge),
            row("secret", "livepp", "s", own_purge),
        ]
    );
    for r in &reasons {
        assert!(r.contains("purge protection"), "{r}");
        assert!(r.contains("nothing can purge it sooner"), "{r}");
        if r.contains("gonepp/pre") || r.contains("livepp/") {
            assert!(!r.contains("with the vault"), "{r}");
        } else {
            assert!(
                r.contains(&format!(
                    "purged with the vault at {}",
                    rfc3339(vault_purge)
                )) && r.contains(&rfc3339(own_purge)),
                "the vault's date, and its own should the vault be recovered: {r}"
            );
        }
    }

    // A second export: only what waits, each with its date and why.
    let second = store.export_customer_data(&subject).unwrap();
    let note = second
        .note
        .as_deref()
        .expect("a note when only waiting is left");
    assert!(
        note.contains("waits for its scheduled purge date"),
        "{note}"
    );
    let names: Vec<(String, &str, String)> = listed(&second)
        .into_iter()
        .map(|(v, list, name, awaiting)| {
            let why = awaiting.unwrap_or_else(|| panic!("{v}/{name} listed without a reason"));
            assert!(why.contains("purge protection"), "{why}");
            (v, list, name)
        })
        .collect();
    let item = |v: &str, list, name: &str| (v.to_string(), list, name.to_string());
    assert_eq!(
        names,
        [
            item("gonepp", "deletedCertificates", "c"),
            item("gonepp", "deletedKeys", "k"),
            item("gonepp", "deletedKeys", "pre"),
            item("gonepp", "deletedSecrets", "s"),
            item("livepp", "deletedCertificates", "c"),
            item("livepp", "deletedKeys", "k"),
            item("livepp", "deletedSecrets", "s"),
        ]
    );
    let gonepp_export = second.vaults.iter().find(|v| v.vault == "gonepp").unwrap();
    assert!(gonepp_export.vault_deleted);
    let k = gonepp_export
        .deleted_keys
        .iter()
        .find(|k| k.name == "k")
        .unwrap();
    assert_eq!(
        (k.deleted_date, k.scheduled_purge_date),
        (Some(now), Some(own_purge))
    );
    assert!(k
        .awaiting_purge
        .as_deref()
        .unwrap()
        .contains(&rfc3339(vault_purge)));

    // Deleting again changes nothing and reports the same wait.
    let again = store.delete_customer_data(&subject).unwrap();
    assert!(again.keys_deleted.is_empty() && again.keys_purged.is_empty());
    assert!(again.secrets_deleted.is_empty() && again.certificates_purged.is_empty());
    assert_eq!(waiting(&again).0, rows);

    // Nothing goes before its date: `pre` at its own, the rest still held.
    clock.set(T0 + 8 * DAY - 1);
    assert_eq!(
        listed(&store.export_customer_data(&subject).unwrap()).len(),
        7
    );
    clock.set(T0 + 8 * DAY);
    assert_eq!(
        listed(&store.export_customer_data(&subject).unwrap()).len(),
        6
    );

    // Recovering the vaults gives nothing of the subject's back live; the rest is there.
    store.recover_vault("gone").unwrap();
    store.recover_vault("gonepp").unwrap();
    let gone = store.vault("gone").unwrap();
    let gonepp = store.vault("gonepp").unwrap();
    for v in [&gone, &gonepp] {
        none_live(v, "k");
        none_live(v, "s");
        none_live(v, "c");
        assert!(v.get_key("other", None).is_ok());
    }
    // Unprotected: purged, with the certificate's key and secret.
    for name in ["k", "c"] {
        expect_err(gone.get_deleted_key(name), "DeletedKeyNotFound");
    }
    for name in ["s", "c"] {
        expect_err(gone.get_deleted_secret(name), "DeletedSecretNotFound");
    }
    expect_err(
        gone.get_deleted_certificate("c"),
        "DeletedCertificateNotFound",
    );
    // Protected: soft-deleted, under the vault's retention, and not purgeable before then.
    let k = gonepp.get_deleted_key("k").unwrap();
    assert_eq!(k.deletion.scheduled_purge_date, own_purge);
    expect_err(gonepp.purge_deleted_key("k"), "PurgeProtected");
    expect_err(gonepp.purge_deleted_secret("s"), "PurgeProtected");
    expect_err(gonepp.purge_deleted_certificate("c"), "PurgeProtected");
    assert_eq!(
        gonepp
            .get_deleted_certificate("c")
            .unwrap()
            .deletion
            .scheduled_purge_date,
        own_purge
    );
    // Live again, the vault no longer sets the date: each object's own does.
    for (.., awaiting) in listed(&store.export_customer_data(&subject).unwrap()) {
        let why = awaiting.unwrap();
        assert!(!why.contains("with the vault"), "{why}");
    }
    clock.set(own_purge);
    assert!(store
        .export_customer_data(&subject)
        .unwrap()
        .vaults
        .is_empty());
    assert!(gonepp.get_key("other", None).is_ok());
}

/// By principal: role assignments and access policies in soft-deleted vaults (with and
/// without purge protection) are removed, so a recovered vault does not let the principal
/// in again; a key tagged with its object ID is soft-deleted there and waits under purge
/// protection; others keep their rights.
#[test]
fn by_principal_a_recovered_vault_does_not_let_the_principal_back_in() {
    let ts = TempStore::at(T0);
    let store = &ts.store;
    let mine = tags(&[("owner", "oid-1")]);
    for (name, pp) in [("hsm", false), ("hsmgone", false), ("hsmgonepp", true)] {
        let v = ts.vault(name, hsm(7, pp));
        ec_key(&v, "shared");
        for oid in ["oid-1", "oid-2"] {
            v.create_role_assignment("/", &format!("r-{oid}"), CRYPTO_USER, oid)
                .unwrap();
        }
    }
    ec_key_with(
        &store.vault("hsmgonepp").unwrap(),
        "owned",
        with_tags(&mine),
    );
    store
        .create_vault_with_permission_model("ap", key_vault(7, true), false)
        .unwrap();
    ec_key(&store.vault("ap").unwrap(), "shared");
    for oid in ["OID-1", "oid-2"] {
        store
            .set_vault_access_policy(
                "ap",
                AccessPolicyEntry {
                    tenant_id: None,
                    object_id: oid.into(),
                    permissions: Permissions {
                        keys: vec![KeyPermission::Get, KeyPermission::Sign],
                        ..Permissions::default()
                    },
                },
            )
            .unwrap();
    }
    for v in ["hsmgone", "hsmgonepp", "ap"] {
        store.delete_vault(v).unwrap();
    }

    let subject = Subject::Principal("Oid-1".into());
    let report = store.delete_customer_data(&subject).unwrap();
    assert_eq!(
        sorted(&report.role_assignments_removed),
        ["hsm/r-oid-1", "hsmgone/r-oid-1", "hsmgonepp/r-oid-1"]
    );
    assert_eq!(report.access_policies_removed, ["ap/OID-1"]);
    assert_eq!(report.keys_deleted, ["hsmgonepp/owned"]);
    assert!(report.keys_purged.is_empty());
    let (rows, _) = waiting(&report);
    assert_eq!(
        rows,
        [(
            "key",
            "hsmgonepp".to_string(),
            "owned".to_string(),
            T0 + 7 * DAY
        )]
    );
    let second = store.export_customer_data(&subject).unwrap();
    assert!(second.note.is_some(), "{second:?}");
    assert_eq!(second.vaults.len(), 1);
    assert!(second.vaults[0].role_assignments.is_empty());

    for v in ["hsmgone", "hsmgonepp", "ap"] {
        store.recover_vault(v).unwrap();
    }
    store.set_access_policy(AccessPolicy {
        enforce: true,
        admins: vec!["admin".into()],
    });
    let caller = |oid: &str| Caller {
        object_id: Some(oid.into()),
        upn: None,
        tenant_id: None,
        ip: None,
    };
    let digest = HashAlg::Sha256.digest(b"m");
    let sign = |vault: &str, oid: &str| {
        store
            .vault_as(vault, caller(oid))
            .and_then(|v| v.key("shared", None))
            .and_then(|h| h.sign(SignatureAlgorithm::ES256, &digest))
    };
    for v in ["hsm", "hsmgone", "hsmgonepp", "ap"] {
        expect_err(sign(v, "oid-1"), "AccessDenied");
        assert!(
            sign(v, "oid-2").is_ok(),
            "{v}: a bystander keeps its rights"
        );
    }
    let trusted = store.vault("hsmgonepp").unwrap();
    expect_err(trusted.get_key("owned", None), "KeyNotFound");
    assert!(trusted.get_deleted_key("owned").is_ok());
}

/// By UPN in a soft-deleted vault under purge protection: the certificate contact and the
/// issuer administrator entry with its address are removed, a certificate naming it and a
/// key tagged with it are soft-deleted (and wait for the vault's purge date), its log
/// records are redacted; recovering the vault gives none of it back.
#[test]
fn by_upn_in_a_soft_deleted_vault_nothing_comes_back_with_the_vault() {
    let ts = TempStore::at(T0);
    let (store, clock) = (&ts.store, &ts.clock);
    let ann = "ann@example.com";
    let v = ts.vault("kvpp", key_vault(7, true));
    issue(&v, "ann-cert", "CN=app", &[ann], &Tags::new());
    issue(&v, "bob-cert", "CN=app", &["bob@example.com"], &Tags::new());
    ec_key_with(
        &v,
        "ann-key",
        with_tags(&tags(&[("user", "ANN@example.com")])),
    );
    let contact = |email: &str| Contact {
        email: Some(email.into()),
        name: None,
        phone: None,
    };
    v.set_certificate_contacts(vec![contact(ann), contact("bob@example.com")])
        .unwrap();
    let admin = |email: &str| AdministratorDetails {
        first_name: None,
        last_name: None,
        email: Some(email.into()),
        phone: None,
    };
    v.set_certificate_issuer(
        "ca",
        IssuerUpdate {
            provider: Some("Test".into()),
            organization: Some(OrganizationDetails {
                id: Some("org".into()),
                admin_details: Some(vec![admin(ann), admin("bob@example.com")]),
            }),
            ..IssuerUpdate::default()
        },
    )
    .unwrap();
    store.set_access_log("kvpp", true, None).unwrap();
    let who = Caller {
        object_id: Some("oid-ann".into()),
        upn: Some(ann.into()),
        tenant_id: None,
        ip: Some("10.0.0.1".into()),
    };
    store
        .record_access(
            "kvpp",
            CallRecord {
                caller: &who,
                operation: "KeySign",
                api_version: "7.5",
                resource_id: "https://kvpp.localhost/keys/ann-key".into(),
                status: 200,
                error_code: None,
                duration_ms: 1,
                request_id: "req-1",
                request_uri: "/keys/ann-key/sign",
            },
        )
        .unwrap();
    drop(v);
    clock.advance(DAY);
    store.delete_vault("kvpp").unwrap();
    clock.advance(DAY);

    let subject = Subject::Upn("Ann@Example.com".into());
    let report = store.delete_customer_data(&subject).unwrap();
    assert_eq!(report.certificates_deleted, ["kvpp/ann-cert"]);
    assert_eq!(report.keys_deleted, ["kvpp/ann-key"]);
    assert_eq!(
        report.certificate_contacts_removed,
        ["kvpp/ann@example.com"]
    );
    assert_eq!(report.issuer_admins_removed, ["kvpp/ca/ann@example.com"]);
    assert_eq!(report.access_log_records_redacted, 1);
    let (rows, _) = waiting(&report);
    let vault_purge = T0 + 8 * DAY;
    assert_eq!(
        rows,
        [
            ("certificate", "kvpp".into(), "ann-cert".into(), vault_purge),
            ("key", "kvpp".into(), "ann-key".into(), vault_purge),
        ]
    );
    let second = store.export_customer_data(&subject).unwrap();
    assert!(second.note.is_some(), "{second:?}");
    let left = &second.vaults[0];
    assert!(left.certificate_contacts.is_empty() && left.certificate_issuers.is_empty());
    assert!(left.access_log.is_empty());

    store.recover_vault("kvpp").unwrap();
    let v = store.vault("kvpp").unwrap();
    expect_err(v.get_certificate("ann-cert", None), "CertificateNotFound");
    expect_err(v.get_key("ann-cert", None), "KeyNotFound");
    expect_err(v.get_key("ann-key", None), "KeyNotFound");
    assert!(v.get_deleted_certificate("ann-cert").is_ok());
    assert!(v.get_certificate("bob-cert", None).is_ok());
    let contacts: Vec<Option<String>> = v
        .get_certificate_contacts()
        .unwrap()
        .into_iter()
        .map(|c| c.email)
        .collect();
    assert_eq!(contacts, [Some("bob@example.com".to_string())]);
    let admins: Vec<Option<String>> = v
        .get_certificate_issuer("ca")
        .unwrap()
        .organization
        .and_then(|o| o.admin_details)
        .unwrap_or_default()
        .into_iter()
        .map(|a| a.email)
        .collect();
    assert_eq!(admins, [Some("bob@example.com".to_string())]);
    let log = store.access_log("kvpp", &LogQuery::default()).unwrap();
    assert_eq!(log[0].identity.claim.upn.as_deref(), Some("[redacted]"));
}

/// By tag, through the management API, with soft-deleted vaults with and without purge
/// protection: the report, a second export and the recovered vaults as a Key Vault client
/// sees them.
#[test]
fn by_tag_through_the_management_api() {
    let api = Api::new();
    let store = &api.store;
    let blue = tags(&[("team", "blue")]);
    for (name, pp) in [("open", false), ("locked", true)] {
        store.create_vault(name, hsm(7, pp)).unwrap();
        let v = store.vault(name).unwrap();
        ec_key_with(&v, "k", with_tags(&blue));
        ec_key_with(&v, "red", with_tags(&tags(&[("team", "red")])));
        store.delete_vault(name).unwrap();
    }
    let post = |op: &str| {
        let r = api.raw(
            "POST",
            "localhost",
            &format!("/management/customer-data/{op}"),
            json!({"tag": "team=blue"}).to_string().into_bytes(),
        );
        assert_eq!(r.status, 200, "{op}: {}", r.json);
        r.json
    };
    let report = post("delete");
    let mut deleted: Vec<String> = serde_json::from_value(report["keysDeleted"].clone()).unwrap();
    deleted.sort();
    assert_eq!(deleted, ["locked/k", "open/k"]);
    assert_eq!(report["keysPurged"], json!(["open/k"]));
    let locked = store.vault_info("locked").unwrap();
    let waits = &report["keysAwaitingPurge"];
    assert_eq!(waits.as_array().unwrap().len(), 1, "{report}");
    assert_eq!(
        (&waits[0]["vault"], &waits[0]["name"]),
        (&json!("locked"), &json!("k"))
    );
    assert_eq!(
        waits[0]["scheduledPurgeDate"],
        json!(locked.scheduled_purge_date.unwrap())
    );
    // Deleted now, in a vault deleted a moment ago: the vault's date, however the seconds
    // fell, is when it goes.
    assert!(waits[0]["reason"]
        .as_str()
        .unwrap()
        .contains("purge protection"));

    let second = post("export");
    assert!(second["note"].is_string(), "{second}");
    let vaults = second["vaults"].as_array().unwrap();
    assert_eq!(vaults.len(), 1, "{second}");
    assert_eq!(vaults[0]["vault"], "locked");
    assert_eq!(vaults[0]["keys"], json!([]));
    assert_eq!(vaults[0]["deletedKeys"][0]["name"], "k");
    assert!(vaults[0]["deletedKeys"][0]["awaitingPurge"].is_string());

    for name in ["open", "locked"] {
        let r = api.raw(
            "POST",
            "localhost",
            &format!("/management/vaults/{name}/recover"),
            vec![],
        );
        assert_eq!(r.status, 200, "{}", r.json);
        let host = format!("{name}.localhost");
        let get = |path: &str| api.kv_at("GET", &host, path, None);
        let live = get("/keys/k");
        assert_eq!(
            (live.status, live.code()),
            (404, Some("KeyNotFound")),
            "{name}: {}",
            live.json
        );
        assert_eq!(get("/keys/red").status, 200, "{name}: another tag stays");
        let deleted = get("/deletedkeys/k");
        let expected = if name == "locked" { 200 } else { 404 };
        assert_eq!(deleted.status, expected, "{name}: {}", deleted.json);
    }
    let unchanged: Value = post("export");
    assert_eq!(unchanged["vaults"].as_array().unwrap().len(), 1);
}
