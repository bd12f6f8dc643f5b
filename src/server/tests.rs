//! The server's own tests: hosts to vaults, the route table's data actions against the
//! core's checks, and what the certificate handlers answer, through the router as a client
//! reaches it.
//!
//! Layer: faces (server), tests only. May import everything the server does and the
//! built-in roles. Invariants it proves: each data-plane row of the route table names the
//! data action the core checks for it; certificate routes answer with Key Vault's status
//! codes, ids and encodings.

use super::*;
use crate::api::{Access, RoleAssignmentCreateParameters, RoleAssignmentProperties, ROUTES};
use crate::crypto::jwk::b64url_encode;
use crate::crypto::{CurveName, KeyType, SecretBytes};
use crate::model::certificates::{
    CertificateKeyProperties, CertificateOptions, CertificatePolicy, Contact, IssuerParameters,
    IssuerUpdate, X509Properties, ISSUER_SELF, ISSUER_UNKNOWN,
};
use crate::model::{KeyOptions, SecretOptions};
use crate::rbac::BUILT_IN_ROLES;
use crate::AccessPolicy;
use crate::{KeySpec, MasterKeySource};
use base64::Engine as _;
use serde_json::{json, Value};

#[test]
fn host_picks_vault() {
    let vault = |h: &str| vault_for_host(h).map_err(|e| e.status().as_u16());
    assert_eq!(vault("localhost:8443"), Ok("default".into()));
    assert_eq!(vault("localhost"), Ok("default".into()));
    assert_eq!(vault("127.0.0.1:8443"), Ok("default".into()));
    assert_eq!(vault("10.0.0.7"), Ok("default".into()));
    assert_eq!(vault("pp.localhost:8443"), Ok("pp".into()));
    assert_eq!(vault("PP.LOCALHOST"), Ok("pp".into()));
    assert_eq!(vault("default.localhost"), Ok("default".into()));
    assert_eq!(vault("[::1]:8443"), Ok("default".into()));
    assert_eq!(vault("[::1]"), Ok("default".into()));
    assert_eq!(vault("devbox:8443"), Ok("default".into()));
    for bad in [
        "a.b.localhost",
        "v2.localhost.",
        "localhost.",
        ".localhost",
        "v2..localhost",
        "v2.localhost:",
        "v2.localhost:99999",
        "v2.localhost:1:2",
        "[::1",
        "[nope]:1",
        "[::1]x",
        "v 2.localhost",
        "-v.localhost",
        "",
    ] {
        assert_eq!(vault(bad), Err(400), "{bad:?}");
    }
}

/// A store with access control on, the objects every data-plane row can act on, and one
/// principal per built-in role (holding it at `/`) plus one holding none.
struct Rig {
    rt: tokio::runtime::Runtime,
    app: Router,
    backup: String,
    secret_backup: String,
    cert_backup: String,
    /// The PFX of certificate `cert` (its secret's value, base64), to import.
    pfx: String,
    /// The DER of certificate `cert`, standard base64, to merge.
    cer: String,
    _dir: tempfile::TempDir,
}

/// An EC P-256 certificate policy with `issuer` (quick to issue, whatever the build).
fn policy(subject: &str, issuer: &str) -> CertificatePolicy {
    CertificatePolicy {
        key_props: Some(CertificateKeyProperties {
            kty: Some(KeyType::Ec),
            crv: Some(CurveName::P256),
            exportable: Some(true),
            ..CertificateKeyProperties::default()
        }),
        x509_props: Some(X509Properties {
            subject: Some(format!("CN={subject}")),
            ..X509Properties::default()
        }),
        issuer: Some(IssuerParameters {
            name: Some(issuer.into()),
            ..IssuerParameters::default()
        }),
        ..CertificatePolicy::default()
    }
}

const NOBODY: &str = "p-none";
const CRYPTO_USER: &str = "21dbd100-6940-42c2-9190-5d6cb909625b";

fn principal(role: usize) -> String {
    format!("p-role-{role}")
}

impl Rig {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::builder(dir.path())
            .master_key(MasterKeySource::Bytes(SecretBytes::new(vec![9; 32])))
            .defer_flush(true)
            .open()
            .expect("store");
        ensure_default_vault(&store).expect("default vault");
        let v = store.vault(DEFAULT_VAULT).expect("vault");
        let ec = KeySpec::Ec(CurveName::P256);
        for name in ["k", "gone"] {
            v.create_key(name, KeyType::EcHsm, ec, KeyOptions::default())
                .expect("EC key");
        }
        v.create_key(
            "aes",
            KeyType::OctHsm,
            KeySpec::Oct(256),
            KeyOptions::default(),
        )
        .expect("oct key");
        v.delete_key("gone").expect("delete");
        let backup = b64url_encode(&v.backup_key("k").expect("backup"));
        for name in ["s", "sgone"] {
            v.set_secret(name, "v".into(), SecretOptions::default())
                .expect("secret");
        }
        v.delete_secret("sgone").expect("delete secret");
        let secret_backup = b64url_encode(&v.backup_secret("s").expect("secret backup"));
        // Certificates: one issued (by itself), one deleted, one waiting for a merge; the
        // vault's contacts and an issuer.
        for name in ["cert", "certgone"] {
            v.create_certificate(
                name,
                policy(name, ISSUER_SELF),
                CertificateOptions::default(),
            )
            .expect("certificate");
            v.get_certificate_operation(name).expect("operation");
        }
        v.delete_certificate("certgone")
            .expect("delete certificate");
        v.create_certificate(
            "pend",
            policy("pend", ISSUER_UNKNOWN),
            CertificateOptions::default(),
        )
        .expect("pending certificate");
        let cert_backup = b64url_encode(&v.backup_certificate("cert").expect("cert backup"));
        let pfx = v
            .get_secret("cert", None)
            .expect("certificate secret")
            .value
            .expect("secret value")
            .expose()
            .to_string();
        let cer = v
            .get_certificate("cert", None)
            .expect("cert")
            .cer
            .expect("cer");
        let cer = base64::engine::general_purpose::STANDARD.encode(cer);
        v.set_certificate_contacts(vec![Contact {
            email: Some("ops@example.com".into()),
            ..Contact::default()
        }])
        .expect("contacts");
        v.set_certificate_issuer(
            "issuer1",
            IssuerUpdate {
                provider: Some("Test".into()),
                ..IssuerUpdate::default()
            },
        )
        .expect("issuer");
        v.create_role_assignment("/", "a1", CRYPTO_USER, "someone")
            .expect("assignment");
        for (i, role) in BUILT_IN_ROLES.iter().enumerate() {
            v.create_role_assignment("/", &format!("r{i}"), role.id, &principal(i))
                .expect("role");
        }
        store.set_access_policy(AccessPolicy {
            enforce: true,
            admins: vec!["admin".into()],
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let clock = Arc::new(OffsetClock::new());
        Self {
            rt,
            app: router(AppState { store, clock }),
            backup,
            secret_backup,
            cert_backup,
            pfx,
            cer,
            _dir: dir,
        }
    }

    /// Sends `op` with arguments and a body that would succeed for a caller allowed it.
    fn send(&self, op: Op, who: &str) -> (u16, Value) {
        let args: Vec<&str> = op
            .route()
            .params()
            .map(|p| match (p, op) {
                ("scope", _) => "/",
                ("version", _) => "",
                ("key", Op::KeyEncrypt | Op::KeyDecrypt | Op::KeyWrap | Op::KeyUnwrap) => "aes",
                ("key", Op::DeletedKeyGet | Op::DeletedKeyPurge | Op::DeletedKeyRecover) => "gone",
                ("key", Op::KeyImport) => "imported",
                ("key", _) => "k",
                (
                    "secret",
                    Op::DeletedSecretGet | Op::DeletedSecretPurge | Op::DeletedSecretRecover,
                ) => "sgone",
                ("secret", _) => "s",
                (
                    "certificate",
                    Op::DeletedCertificateGet
                    | Op::DeletedCertificatePurge
                    | Op::DeletedCertificateRecover,
                ) => "certgone",
                (
                    "certificate",
                    Op::OperationGet
                    | Op::OperationUpdate
                    | Op::OperationDelete
                    | Op::CertificateMerge,
                ) => "pend",
                ("certificate", Op::CertificateImport) => "imported",
                ("certificate", Op::CertificateCreate) => "created",
                ("certificate", _) => "cert",
                ("name", Op::IssuerGet | Op::IssuerSet | Op::IssuerUpdate | Op::IssuerDelete) => {
                    "issuer1"
                }
                ("name", Op::RoleAssignmentCreate) => "a2",
                ("name", Op::RoleDefinitionGet) => CRYPTO_USER,
                ("name", Op::SettingGet | Op::SettingUpdate) => {
                    "AllowKeyManagementOperationsThroughARM"
                }
                _ => "a1",
            })
            .collect();
        let b = |n: usize| b64url_encode(&vec![7; n]);
        let body = match op {
            Op::KeyRestore => json!({ "value": self.backup }),
            Op::KeyImport => json!({ "key": { "kty": "oct", "k": b(32) }, "Hsm": true }),
            Op::KeyUpdate | Op::KeyUpdateVersion => json!({ "tags": { "a": "b" } }),
            Op::KeyUpdateRotationPolicy => json!({ "lifetimeActions": [
                { "trigger": { "timeAfterCreate": "P90D" }, "action": { "type": "Rotate" } }
            ] }),
            Op::KeyCreate => json!({ "kty": "EC-HSM" }),
            Op::KeySign => json!({ "alg": "ES256", "value": b(32) }),
            Op::KeyVerify => json!({ "alg": "ES256", "digest": b(32), "value": b(64) }),
            Op::KeyEncrypt => json!({ "alg": "A256GCM", "value": b(16) }),
            Op::KeyDecrypt => {
                json!({ "alg": "A256GCM", "value": b(16), "iv": b(12), "tag": b(16) })
            }
            Op::KeyWrap => json!({ "alg": "A256KW", "value": b(16) }),
            Op::KeyUnwrap => json!({ "alg": "A256KW", "value": b(24) }),
            Op::Random => json!({ "count": 8 }),
            Op::SecretSet => json!({ "value": "v2" }),
            Op::SecretUpdate | Op::SecretUpdateVersion => json!({ "contentType": "text/plain" }),
            Op::SecretRestore => json!({ "value": self.secret_backup }),
            Op::CertificateCreate => json!({ "policy": {
                "key_props": { "kty": "EC", "crv": "P-256" },
                "x509_props": { "subject": "CN=created" },
                "issuer": { "name": "Self" }
            } }),
            Op::CertificateImport => json!({ "value": self.pfx }),
            // Well formed, but not signed for the pending key: a 400 after access control.
            Op::CertificateMerge => json!({ "x5c": [self.cer] }),
            Op::CertificateUpdate | Op::CertificateUpdateVersion => json!({ "tags": { "a": "b" } }),
            Op::PolicyUpdate => json!({ "lifetime_actions": [
                { "trigger": { "lifetime_percentage": 80 }, "action": { "action_type": "EmailContacts" } }
            ] }),
            Op::OperationUpdate => json!({ "cancellation_requested": true }),
            Op::CertificateRestore => json!({ "value": self.cert_backup }),
            Op::ContactsSet => json!({ "contacts": [{ "email": "dev@example.com" }] }),
            Op::IssuerSet => json!({ "provider": "Test" }),
            Op::IssuerUpdate => json!({ "attributes": { "enabled": true } }),
            Op::RoleAssignmentCreate => serde_json::to_value(RoleAssignmentCreateParameters {
                properties: RoleAssignmentProperties {
                    scope: None,
                    role_definition_id: CRYPTO_USER.into(),
                    principal_id: "someone-else".into(),
                },
            })
            .expect("body"),
            Op::RoleDefinitionSet => json!({ "properties": {
                "roleName": "Key reader",
                "permissions": [{ "dataActions": ["Microsoft.KeyVault/managedHsm/keys/read/action"] }]
            } }),
            Op::SettingUpdate => json!({ "value": "true" }),
            Op::FullBackup | Op::PreFullBackup => json!({
                "storageResourceUri": "https://acct.blob.core.windows.net/backup",
                "useManagedIdentity": true
            }),
            Op::FullRestore | Op::PreFullRestore => json!({
                "sasTokenParameters": {
                    "storageResourceUri": "https://acct.blob.core.windows.net/backup",
                    "token": "sv=1"
                },
                "folderToRestore": "mhsm-none"
            }),
            Op::SelectiveKeyRestore => json!({
                "sasTokenParameters": {
                    "storageResourceUri": "https://acct.blob.core.windows.net/backup",
                    "useManagedIdentity": true
                },
                "folder": "mhsm-none"
            }),
            _ => Value::Null,
        };
        let token = auth::mint_token(who, None, None, 1_800_000_000);
        let req = Request::builder()
            .method(op.route().method.clone())
            .uri(format!("{}?api-version=7.5", op.path(&args)))
            .header("host", "localhost")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from(if body.is_null() {
                Vec::new()
            } else {
                body.to_string().into_bytes()
            }))
            .expect("request");
        self.rt.block_on(async {
            let resp = call(self.app.clone(), req).await;
            let status = resp.status().as_u16();
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body");
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        })
    }
}

/// For every data-plane row: a caller holding no role is refused with 403 `AccessDenied`
/// naming exactly the row's data action, and a caller holding one built-in role gets past
/// access control if and only if that role grants the row's action. So the table's
/// actions and the core's checks cannot drift apart.
///
/// The built-in roles are the only way to grant actions, and none grants "all but one";
/// the roles that grant a row's action without also granting `keys/read` (Backup, Restore,
/// Crypto Officer for deleted keys, Policy Administrator for role writes) show that those
/// rows need nothing more.
#[test]
fn every_data_plane_row_names_the_action_the_core_checks() {
    let mut checked = 0;
    for route in ROUTES {
        let Access::Data(action) = route.access else {
            continue;
        };
        let rig = Rig::new();
        let allows = |i: usize| BUILT_IN_ROLES[i].data_actions.contains(&action);
        // Refusals first: they change nothing, so every caller sees the same objects.
        let mut callers: Vec<(String, bool)> = (0..BUILT_IN_ROLES.len())
            .map(|i| (principal(i), allows(i)))
            .collect();
        callers.push((NOBODY.to_string(), false));
        callers.sort_by_key(|(_, allowed)| *allowed);
        assert!(callers.iter().any(|(_, a)| *a), "no role grants {action:?}");
        for (who, allowed) in callers {
            let (status, body) = rig.send(route.op, &who);
            let denied = status == 403
                && body.pointer("/error/innererror/code") == Some(&json!("AccessDenied"));
            let what = format!("{} /{} as {who}: {status} {body}", route.method, route.path);
            if allowed {
                assert!(!denied, "allowed but refused: {what}");
            } else {
                assert!(denied, "not refused: {what}");
                let message = body.pointer("/error/message").and_then(Value::as_str);
                let named = format!("perform action {} on", action.as_str());
                assert!(message.is_some_and(|m| m.contains(&named)), "{what}");
            }
        }
        checked += 1;
    }
    let data_rows = ROUTES
        .iter()
        .filter(|r| matches!(r.access, Access::Data(_)))
        .count();
    assert_eq!(checked, data_rows);
}

/// A store with access control off, for what the certificate handlers answer.
struct Open {
    rt: tokio::runtime::Runtime,
    app: Router,
    _dir: tempfile::TempDir,
}

impl Open {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::builder(dir.path())
            .master_key(MasterKeySource::Bytes(SecretBytes::new(vec![5; 32])))
            .defer_flush(true)
            .open()
            .expect("store");
        ensure_default_vault(&store).expect("default vault");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let clock = Arc::new(OffsetClock::new());
        Self {
            rt,
            app: router(AppState { store, clock }),
            _dir: dir,
        }
    }

    /// Sends `method path` (a path and query without `api-version`) with `body`: the
    /// status, the `Location` header and the JSON answer.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Option<String>, Value) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let token = auth::mint_token("someone", None, None, 1_800_000_000);
        let req = Request::builder()
            .method(method)
            .uri(format!("{path}{sep}api-version=7.5"))
            .header("host", "localhost")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
            .expect("request");
        self.rt.block_on(async {
            let resp = call(self.app.clone(), req).await;
            let status = resp.status().as_u16();
            let location = resp
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .map(str::to_string);
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body");
            let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            (status, location, json)
        })
    }

    /// `call`, expecting `status`; the answer.
    fn expect(&self, status: u16, method: &str, path: &str, body: Option<Value>) -> Value {
        let (got, _, json) = self.call(method, path, body);
        assert_eq!(got, status, "{method} {path}: {json}");
        json
    }

    /// Every item of a listing, following `nextLink` (whose query must carry on).
    fn all(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut next = Some(path.to_string());
        while let Some(path) = next {
            let page = self.expect(200, "GET", &path, None);
            items.extend(page["value"].as_array().expect("value").iter().cloned());
            next = page["nextLink"].as_str().map(|l| {
                let rest = l.strip_prefix("https://localhost").expect("same host");
                // The helper adds api-version again; the link's own is dropped.
                rest.replace("api-version=7.5&", "")
            });
        }
        items
    }
}

fn ec_policy(subject: &str, issuer: &str) -> Value {
    json!({
        "key_props": { "kty": "EC", "crv": "P-256", "exportable": true },
        "x509_props": { "subject": format!("CN={subject}"), "sans": { "dns_names": [format!("{subject}.example")] } },
        "issuer": { "name": issuer }
    })
}

fn std_b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("base64 string"))
        .expect("standard base64")
}

/// Create, the pending operation, get, list, versions, policy and update, through the
/// router: Key Vault's status codes, ids from the request's host, `cer` as standard base64
/// whose SHA-1 (computed here with another library) is `x5t`, and the key and secret the
/// certificate owns marked `managed`.
#[test]
fn certificates_are_created_read_and_listed_as_key_vault_answers() {
    let s = Open::new();
    let mut body = json!({ "policy": ec_policy("c1", "Self"), "tags": { "a": "b" } });
    let (status, location, op) = s.call("POST", "/certificates/c1/create", Some(body.clone()));
    assert_eq!(status, 202, "{op}");
    assert_eq!(op["id"], "https://localhost/certificates/c1/pending");
    assert_eq!(op["status"], "inProgress");
    assert_eq!(op["issuer"]["name"], "Self");
    let request_id = op["request_id"].as_str().expect("request_id");
    assert_eq!(
        location.as_deref(),
        Some(
            format!(
                "https://localhost/certificates/c1/pending?api-version=7.5&request_id={request_id}"
            )
            .as_str()
        )
    );
    let op = s.expect(200, "GET", "/certificates/c1/pending", None);
    assert_eq!(op["status"], "completed", "{op}");
    assert_eq!(op["target"], "https://localhost/certificates/c1");

    let b = s.expect(200, "GET", "/certificates/c1", None);
    let version = b["id"]
        .as_str()
        .and_then(|id| id.strip_prefix("https://localhost/certificates/c1/"))
        .expect("id with version")
        .to_string();
    assert_eq!(version.len(), 32);
    assert_eq!(b["kid"], format!("https://localhost/keys/c1/{version}"));
    assert_eq!(b["sid"], format!("https://localhost/secrets/c1/{version}"));
    assert_eq!(
        b["policy"]["id"],
        "https://localhost/certificates/c1/policy"
    );
    assert_eq!(b["policy"]["issuer"]["name"], "Self");
    assert_eq!(b["contentType"], "application/x-pkcs12");
    assert_eq!(b["tags"], json!({ "a": "b" }));
    assert!(
        b["attributes"]["nbf"].is_u64() && b["attributes"]["exp"].is_u64(),
        "{b}"
    );
    assert!(b["attributes"]["recoveryLevel"].is_string(), "{b}");
    let cer = std_b64(&b["cer"]);
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &cer);
    assert_eq!(b["x5t"], b64url_encode(sha1.as_ref()));
    let by_version = s.expect(200, "GET", &format!("/certificates/c1/{version}"), None);
    assert_eq!(by_version["cer"], b["cer"]);

    let key = s.expect(200, "GET", "/keys/c1", None);
    assert_eq!(key["managed"], true, "{key}");
    assert_eq!(key["key"]["kid"], b["kid"]);
    let secret = s.expect(200, "GET", &format!("/secrets/c1/{version}"), None);
    assert_eq!(secret["managed"], true, "{secret}");
    assert_eq!(secret["contentType"], "application/x-pkcs12");

    // A second version; a certificate waiting for a merge shows only with includePending,
    // on every page.
    body["tags"] = json!({ "a": "c" });
    s.expect(202, "POST", "/certificates/c1/create", Some(body));
    s.expect(
        202,
        "POST",
        "/certificates/p1/create",
        Some(json!({ "policy": ec_policy("p1", "Unknown") })),
    );
    let versions = s.all("/certificates/c1/versions?maxresults=1");
    assert_eq!(versions.len(), 2);
    assert!(versions.iter().all(|v| v["id"]
        .as_str()
        .is_some_and(|id| id.len() == "https://localhost/certificates/c1/".len() + 32)));
    assert!(versions
        .iter()
        .all(|v| v.get("cer").is_none() && v.get("policy").is_none()));
    let ids = |items: Vec<Value>| -> Vec<String> {
        items
            .iter()
            .map(|i| i["id"].as_str().expect("id").to_string())
            .collect()
    };
    assert_eq!(
        ids(s.all("/certificates")),
        ["https://localhost/certificates/c1"]
    );
    let with_pending = ids(s.all("/certificates?includePending=true&maxresults=1"));
    assert!(
        with_pending.contains(&"https://localhost/certificates/p1".to_string()),
        "{with_pending:?}"
    );
    assert_eq!(with_pending.len(), 2);
    let e = s.expect(400, "GET", "/certificates?includePending=maybe", None);
    assert_eq!(e["error"]["code"], "BadParameter");

    // Policy: read, then a partial update merged in; the answer has the policy's id.
    let p = s.expect(200, "GET", "/certificates/c1/policy", None);
    assert_eq!(p["id"], "https://localhost/certificates/c1/policy");
    assert_eq!(p["key_props"]["crv"], "P-256");
    let actions = json!([{ "trigger": { "days_before_expiry": 30 }, "action": { "action_type": "EmailContacts" } }]);
    let p = s.expect(
        200,
        "PATCH",
        "/certificates/c1/policy",
        Some(json!({ "lifetime_actions": actions })),
    );
    assert_eq!(p["lifetime_actions"], actions);
    assert_eq!(p["key_props"]["crv"], "P-256", "{p}");

    // Update: tags and enabled, by version.
    let u = s.expect(
        200,
        "PATCH",
        &format!("/certificates/c1/{version}"),
        Some(json!({ "tags": { "t": "1" }, "attributes": { "enabled": false } })),
    );
    assert_eq!(
        u["id"],
        format!("https://localhost/certificates/c1/{version}")
    );
    assert_eq!(u["tags"], json!({ "t": "1" }));
    assert_eq!(u["attributes"]["enabled"], false);

    // Bad input is a 400 naming it, before any lookup.
    let e = s.expect(
        400,
        "POST",
        "/certificates/nope/create",
        Some(json!({ "tags": {} })),
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("policy")),
        "{e}"
    );
    s.expect(
        400,
        "POST",
        "/certificates/c1/create",
        Some(json!({ "policy": { "key_props": { "kty": "EC-SHAPED" } } })),
    );
}

/// Import (PFX and PEM, by the policy's content type), the pending operation of a
/// certificate signed outside the vault (merge, cancel, delete), contacts and issuers.
#[test]
fn certificates_are_imported_merged_and_issued_as_key_vault_answers() {
    let s = Open::new();
    s.expect(
        202,
        "POST",
        "/certificates/c1/create",
        Some(json!({ "policy": ec_policy("c1", "Self") })),
    );
    let c1 = s.expect(200, "GET", "/certificates/c1", None);
    let pfx = s.expect(200, "GET", "/secrets/c1", None)["value"].clone();
    let imported = s.expect(
        200,
        "POST",
        "/certificates/imp/import",
        Some(json!({ "value": pfx })),
    );
    assert_eq!(imported["x5t"], c1["x5t"]);
    assert!(imported["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("https://localhost/certificates/imp/")));
    assert_eq!(imported["contentType"], "application/x-pkcs12");

    let mut pem_policy = ec_policy("c2", "Self");
    pem_policy["secret_props"] = json!({ "contentType": "application/x-pem-file" });
    s.expect(
        202,
        "POST",
        "/certificates/c2/create",
        Some(json!({ "policy": pem_policy })),
    );
    let pem = s.expect(200, "GET", "/secrets/c2", None)["value"].clone();
    assert!(
        pem.as_str().is_some_and(|p| p.contains("-----BEGIN")),
        "PEM secret"
    );
    // PEM text without a content type is PEM, as the JS SDK sends it; PEM text under a
    // PFX content type is a contradiction, named.
    let e = s.expect(
        400,
        "POST",
        "/certificates/pemimp/import",
        Some(json!({ "value": pem, "policy": { "secret_props": { "contentType": "application/x-pkcs12" } } })),
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("application/x-pem-file")),
        "{e}"
    );
    let untyped = s.expect(
        200,
        "POST",
        "/certificates/pemimp-untyped/import",
        Some(json!({ "value": pem })),
    );
    assert_eq!(untyped["contentType"], "application/x-pem-file");
    let pem_import = json!({ "value": pem, "policy": { "secret_props": { "contentType": "application/x-pem-file" } } });
    let imported = s.expect(200, "POST", "/certificates/pemimp/import", Some(pem_import));
    assert_eq!(imported["contentType"], "application/x-pem-file");
    let e = s.expect(
        400,
        "POST",
        "/certificates/bad/import",
        Some(json!({ "value": "not base64!" })),
    );
    assert_eq!(e["error"]["code"], "BadParameter");

    // Issuer Unknown: a CSR, then a merge; a chain for another key is refused.
    let (status, _, op) = s.call(
        "POST",
        "/certificates/p1/create",
        Some(json!({ "policy": ec_policy("p1", "Unknown") })),
    );
    assert_eq!(status, 202, "{op}");
    let op = s.expect(200, "GET", "/certificates/p1/pending", None);
    assert_eq!(op["status"], "inProgress");
    assert_eq!(std_b64(&op["csr"])[0], 0x30, "csr is DER");
    assert!(op.get("target").is_none(), "{op}");
    s.expect(
        400,
        "POST",
        "/certificates/p1/pending/merge",
        Some(json!({ "x5c": [] })),
    );
    s.expect(
        400,
        "POST",
        "/certificates/p1/pending/merge",
        Some(json!({ "x5c": [c1["cer"]] })),
    );
    let op = s.expect(
        200,
        "PATCH",
        "/certificates/p1/pending",
        Some(json!({ "cancellation_requested": true })),
    );
    assert_eq!(op["cancellation_requested"], true);
    let op = s.expect(200, "DELETE", "/certificates/p1/pending", None);
    assert_eq!(op["id"], "https://localhost/certificates/p1/pending");

    // Contacts.
    let contacts = json!([{ "email": "ops@example.com", "name": "Ops", "phone": "1" }]);
    let c = s.expect(
        200,
        "PUT",
        "/certificates/contacts",
        Some(json!({ "contacts": contacts })),
    );
    assert_eq!(
        c,
        json!({ "id": "https://localhost/certificates/contacts", "contacts": contacts })
    );
    assert_eq!(s.expect(200, "GET", "/certificates/contacts", None), c);
    assert_eq!(s.expect(200, "DELETE", "/certificates/contacts", None), c);

    // Issuers: the password goes in and never comes back.
    let set = json!({
        "provider": "Test",
        "credentials": { "account_id": "acct", "pwd": "hunter2-secret" },
        "org_details": { "admin_details": [{ "first_name": "A", "email": "a@example.com" }] }
    });
    let (status, _, i) = s.call("PUT", "/certificates/issuers/iss1", Some(set));
    assert_eq!(status, 200, "{i}");
    assert!(!i.to_string().contains("hunter2"), "{i}");
    assert_eq!(i["id"], "https://localhost/certificates/issuers/iss1");
    assert_eq!(i["credentials"], json!({ "account_id": "acct" }));
    assert_eq!(
        i["org_details"]["admin_details"][0]["email"],
        "a@example.com"
    );
    assert_eq!(i["attributes"]["enabled"], true);
    let i = s.expect(
        200,
        "PATCH",
        "/certificates/issuers/iss1",
        Some(json!({ "attributes": { "enabled": false } })),
    );
    assert_eq!(i["attributes"]["enabled"], false);
    assert_eq!(i["provider"], "Test");
    s.expect(
        200,
        "PATCH",
        "/certificates/issuers/iss1",
        Some(json!({ "attributes": { "enabled": true } })),
    );
    assert!(!s
        .expect(200, "GET", "/certificates/issuers/iss1", None)
        .to_string()
        .contains("hunter2"));
    assert_eq!(
        s.all("/certificates/issuers"),
        [json!({ "id": "https://localhost/certificates/issuers/iss1", "provider": "Test" })]
    );
    s.expect(
        400,
        "PUT",
        "/certificates/issuers/iss2",
        Some(json!({ "credentials": { "account_id": "x" } })),
    );
    let e = s.expect(
        400,
        "PUT",
        "/certificates/issuers/bad_name",
        Some(json!({ "provider": "Test" })),
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("issuer name")),
        "{e}"
    );
    // A certificate from the issuer is signed by its CA, not by itself.
    s.expect(
        202,
        "POST",
        "/certificates/fromca/create",
        Some(json!({ "policy": ec_policy("fromca", "iss1") })),
    );
    s.expect(200, "GET", "/certificates/fromca/pending", None);
    let b = s.expect(200, "GET", "/certificates/fromca", None);
    let parsed = crate::crypto::x509::parse_certificate(&std_b64(&b["cer"])).expect("parses");
    assert_eq!(parsed.subject, "CN=fromca");
    assert_ne!(parsed.issuer, parsed.subject);
    let i = s.expect(200, "DELETE", "/certificates/issuers/iss1", None);
    assert_eq!(i["id"], "https://localhost/certificates/issuers/iss1");
    s.expect(404, "GET", "/certificates/issuers/iss1", None);
}

/// Delete, the deleted certificate and its listing, recover, purge, backup and restore.
#[test]
fn deleted_certificates_recover_purge_and_restore_as_key_vault_answers() {
    let s = Open::new();
    s.expect(
        202,
        "POST",
        "/certificates/c1/create",
        Some(json!({ "policy": ec_policy("c1", "Self") })),
    );
    let live = s.expect(200, "GET", "/certificates/c1", None);
    let backup = s.expect(200, "POST", "/certificates/c1/backup", None)["value"].clone();
    assert!(backup.as_str().is_some_and(|b| !b.is_empty()));

    let d = s.expect(200, "DELETE", "/certificates/c1", None);
    assert_eq!(d["id"], live["id"]);
    assert_eq!(d["recoveryId"], "https://localhost/deletedcertificates/c1");
    assert!(
        d["deletedDate"].is_u64() && d["scheduledPurgeDate"].is_u64(),
        "{d}"
    );
    assert_eq!(d["cer"], live["cer"]);
    let items = s.all("/deletedcertificates");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], "https://localhost/certificates/c1");
    assert_eq!(
        items[0]["recoveryId"],
        "https://localhost/deletedcertificates/c1"
    );
    assert_eq!(
        s.expect(200, "GET", "/deletedcertificates/c1", None)["recoveryId"],
        d["recoveryId"]
    );
    let e = s.expect(404, "GET", "/certificates/c1", None);
    assert_eq!(e["error"]["code"], "CertificateNotFound");

    let r = s.expect(200, "POST", "/deletedcertificates/c1/recover", None);
    assert_eq!(r["id"], live["id"]);
    assert!(r.get("recoveryId").is_none());
    s.expect(200, "DELETE", "/certificates/c1", None);
    let (status, _, body) = s.call("DELETE", "/deletedcertificates/c1", None);
    assert_eq!((status, body), (204, Value::Null));
    s.expect(404, "GET", "/deletedcertificates/c1", None);

    let restored = s.expect(
        200,
        "POST",
        "/certificates/restore",
        Some(json!({ "value": backup })),
    );
    assert_eq!(restored["id"], live["id"]);
    assert_eq!(restored["cer"], live["cer"]);
}

/// The access log names certificates, their contacts and issuers by id.
#[test]
fn resource_ids_name_certificates_contacts_and_issuers() {
    let base = BaseUrl("https://h".into());
    let id = |method: axum::http::Method, path: &str| {
        let segments = routes::segments(path);
        match routes::lookup(&method, &segments) {
            Lookup::Found(route, p) => resource_id(&base, Some((route, &p))),
            _ => panic!("no row for {path}"),
        }
    };
    let v = "0123456789abcdef0123456789abcdef";
    use axum::http::Method;
    assert_eq!(
        id(Method::GET, &format!("/certificates/c1/{v}")),
        format!("https://h/certificates/c1/{v}")
    );
    assert_eq!(
        id(Method::GET, "/certificates/c1"),
        "https://h/certificates/c1"
    );
    assert_eq!(
        id(Method::GET, "/certificates/c1/pending"),
        "https://h/certificates/c1"
    );
    assert_eq!(
        id(Method::POST, "/deletedcertificates/c1/recover"),
        "https://h/certificates/c1"
    );
    assert_eq!(
        id(Method::PUT, "/certificates/contacts"),
        "https://h/certificates/contacts"
    );
    assert_eq!(
        id(Method::DELETE, "/certificates/issuers/i1"),
        "https://h/certificates/issuers/i1"
    );
    assert_eq!(id(Method::GET, "/certificates/issuers"), "https://h");
    assert_eq!(id(Method::GET, "/certificates"), "https://h");
    assert_eq!(
        id(Method::GET, &format!("/secrets/s1/{v}")),
        format!("https://h/secrets/s1/{v}")
    );
}

#[test]
fn a_store_address_never_shows_its_password() {
    for (url, want) in [
        (
            "postgres://me:hunter2@db:5432/vaults?password=hunter2",
            "postgres://me:***@db:5432/vaults",
        ),
        ("postgres://me@db/vaults", "postgres://me:***@db/vaults"),
        ("postgres://db/vaults", "postgres://db/vaults"),
        ("host=db password=hunter2", "***"),
    ] {
        let u = crate::server::StoreUrl::new(url);
        assert_eq!(u.redacted(), want);
        assert!(!format!("{u:?}").contains("hunter2"));
    }
}

/// `GET /management/vaults/{vault}/pkcs11-keys/{key}[/{version}]`: the type and size of a
/// key version, for the store's owner alone (access control off or on); a missing,
/// deleted or unknown key is a 404 `KeyNotFound`, never a 500.
#[test]
fn pkcs11_key_specs_answer_the_owner_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::builder(dir.path())
        .master_key(MasterKeySource::Bytes(SecretBytes::new(vec![3; 32])))
        .defer_flush(true)
        .open()
        .expect("store");
    ensure_default_vault(&store).expect("default vault");
    let v = store.vault(DEFAULT_VAULT).expect("vault");
    let aes = v
        .create_key(
            "aes",
            KeyType::OctHsm,
            KeySpec::Oct(192),
            KeyOptions::default(),
        )
        .expect("oct key");
    let aes2 = v.rotate_key("aes").expect("rotate");
    v.create_key(
        "ec",
        KeyType::EcHsm,
        KeySpec::Ec(CurveName::P384),
        KeyOptions::default(),
    )
    .expect("EC key");
    v.create_key(
        "gone",
        KeyType::OctHsm,
        KeySpec::Oct(128),
        KeyOptions::default(),
    )
    .expect("oct key");
    v.delete_key("gone").expect("delete");
    let cred = owner::OwnerCredential::create(dir.path()).expect("owner credential");
    let owner_token = std::fs::read_to_string(dir.path().join(owner::OWNER_FILE)).expect("token");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let app = router(AppState {
        store: store.clone(),
        clock: Arc::new(OffsetClock::new()),
    })
    .layer(axum::Extension(cred));
    let get = |path: &str, token: &str| {
        let req = Request::builder()
            .method("GET")
            .uri(path)
            .header("host", "localhost")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request");
        rt.block_on(async {
            let resp = call(app.clone(), req).await;
            let status = resp.status().as_u16();
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body");
            (
                status,
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            )
        })
    };
    let owner = owner_token.trim();
    let base = "/management/vaults/default/pkcs11-keys";

    // The current version, and an older one by name, with the size the bundle lacks.
    let (status, body) = get(&format!("{base}/aes"), owner);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "name": "aes", "version": aes2.version, "kty": "oct-HSM", "key_size": 192 })
    );
    let (status, body) = get(&format!("{base}/aes/{}", aes.version), owner);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], aes.version.as_str());
    assert_eq!(body["key_size"], 192);
    let (status, body) = get(&format!("{base}/ec"), owner);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kty"], "EC-HSM");
    assert_eq!(body["crv"], "P-384");
    assert!(body.get("key_size").is_none(), "{body}");

    // Missing, deleted, an unknown version: 404 KeyNotFound. A missing vault: 404.
    for path in [
        format!("{base}/nope"),
        format!("{base}/gone"),
        format!("{base}/aes/0123456789abcdef0123456789abcdef"),
    ] {
        let (status, body) = get(&path, owner);
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "KeyNotFound", "{path}: {body}");
    }
    let (status, body) = get("/management/vaults/novault/pkcs11-keys/aes", owner);
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "VaultNotFound", "{body}");
    // A name Key Vault forbids: 400 naming it.
    let (status, body) = get(&format!("{base}/bad_name"), owner);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "BadParameter", "{body}");

    // Anyone else is refused, with access control off (dev mode) and on (even an admin).
    let admin = auth::mint_token("admin", None, None, 1_800_000_000);
    let (status, body) = get(&format!("{base}/aes"), &admin);
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["error"]["innererror"]["code"], "AccessDenied",
        "{body}"
    );
    store.set_access_policy(AccessPolicy {
        enforce: true,
        admins: vec!["admin".into()],
    });
    for token in [
        admin,
        auth::mint_token("someone", None, None, 1_800_000_000),
    ] {
        let (status, body) = get(&format!("{base}/aes"), &token);
        assert_eq!(status, 403, "{body}");
        assert_eq!(
            body["error"]["innererror"]["code"], "AccessDenied",
            "{body}"
        );
        // The same refusal for a key that does not exist: nothing is told of it.
        let (status, _) = get(&format!("{base}/nope"), &token);
        assert_eq!(status, 403);
    }
    let (status, body) = get(&format!("{base}/aes"), owner);
    assert_eq!((status, &body["key_size"]), (200, &json!(192)), "{body}");
}
