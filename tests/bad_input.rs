//! Guards against bad input crashing or corrupting the server: every REST route (Key Vault
//! data plane and `/management`) gets malformed JSON, wrong types, missing fields, unknown
//! algorithms, invalid and over-long base64url, wrong digest lengths, oversize bodies,
//! over-long and forbidden names and tags, unknown versions, unsupported `api-version`s and
//! requests for keys through another vault's host. Each must be a 4xx in Key Vault's error
//! shape whose message names the problem: never a 5xx, never a panic, never a change to the
//! store. The secret routes get the same, plus values as numbers, missing and over Key Vault's
//! 25 KiB, unknown versions (`SecretNotFound`), deleted secrets that are not there
//! (`SecretNotFound` as well, as Key Vault answers), key backups restored as secrets and the
//! reverse, and a Managed HSM vault, which has no secrets (400 naming the problem). A property test then throws
//! random bytes and random JSON at every route that takes a body. Values of exactly 25 KiB
//! (counted in bytes of UTF-8) are accepted and read back unchanged.
//!
//! The certificate, contacts and issuer routes get the same, plus invalid policies, PFX files
//! with the wrong password, garbage PFX and PEM, PEM without a key, merges that do not match
//! or have nothing pending, missing pending operations (`PendingCertificateNotFound`),
//! issuers (`CertificateIssuerNotFound`) and contacts (`ContactsNotFound`), names a plain key
//! or secret holds, the keys and secrets APIs on what a certificate owns, and backups given to
//! the wrong kind; for each of these requests the store is compared before and after.

mod support;

use base64::Engine as _;
use localhsm::crypto::jwk::b64url_encode;
use localhsm::crypto::x509::{CertSpec, CertificateKey};
use localhsm::crypto::{CurveName, KeyType, SecretBytes, SecretString};
use localhsm::model::certificates::{CertificateOptions, CertificatePolicy};
use localhsm::model::{KeyOptions, SecretOptions, SecretUpdate, VaultOptions};
use localhsm::KeySpec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use support::{
    default_hsm, ec_key, kv, snapshot, snapshot_diff, vector_jwk, Api, Opener, TempStore, T0,
};

/// What a request carries.
enum B {
    None,
    Raw(Vec<u8>),
    Json(Value),
}

impl B {
    fn bytes(&self) -> Vec<u8> {
        match self {
            B::None => Vec::new(),
            B::Raw(b) => b.clone(),
            B::Json(v) => v.to_string().into_bytes(),
        }
    }
}

/// One row of the table: a request and what the answer must be.
struct Case {
    method: &'static str,
    host: String,
    path: String,
    body: B,
    status: u16,
    code: &'static str,
    msg: String,
    /// Whether the store is compared before and after this very request (the certificate
    /// rows), not only once after the whole table.
    each: bool,
}

/// The known objects the table aims at.
struct Setup {
    ec_v1: String,
    ec_v2: String,
    oct_v: String,
    /// A ciphertext under `oct` whose CBC padding is wrong by construction (its last
    /// plaintext byte is 0), so A256CBCPAD decrypt fails for any key, not by chance.
    bad_padding: String,
    rsa_v: String,
    ec_backup: String,
    gone_backup: String,
    foreign_backup: String,
    sec_v1: String,
    sec_v2: String,
    sec_backup: String,
    secgone_backup: String,
    foreign_secret_backup: String,
    c: CertSetup,
}

fn setup(api: &Api) -> Setup {
    let store = &api.store;
    let hsm = default_hsm();
    store
        .create_vault("other", VaultOptions::default())
        .expect("vault other");
    store
        .create_vault(
            "pp",
            VaultOptions {
                purge_protection: true,
                retention_days: 7,
                ..hsm
            },
        )
        .expect("vault pp");
    store
        .create_vault(
            "ppgone",
            VaultOptions {
                purge_protection: true,
                ..hsm
            },
        )
        .expect("vault ppgone");
    store.delete_vault("ppgone").expect("delete ppgone");

    let default = store.vault("default").expect("default vault");
    let ec_v1 = ec_key(&default, "ec");
    let ec_v2 = ec_key(&default, "ec");
    let oct_v = default
        .create_key(
            "oct",
            KeyType::OctHsm,
            KeySpec::Oct(256),
            KeyOptions::default(),
        )
        .expect("create oct key")
        .version;
    let bad_padding = {
        use localhsm::crypto::{AesParams, EncryptionAlgorithm};
        let iv = [0x61u8; 16];
        let params = AesParams {
            iv: Some(&iv),
            ..AesParams::default()
        };
        let sealed = default
            .key("oct", Some(&oct_v))
            .expect("oct key")
            .encrypt(EncryptionAlgorithm::A256Cbc, &[0u8; 32], params)
            .expect("A256CBC encrypt");
        b64url_encode(&sealed.ciphertext)
    };
    let rsa_v = default
        .import_key(
            "rsa",
            &vector_jwk("rsa-oaep.json", "rsa-2048"),
            true,
            KeyOptions::default(),
        )
        .expect("import RSA key")
        .version;
    ec_key(&default, "gone");
    let gone_backup = b64url_encode(&default.backup_key("gone").expect("backup gone"));
    default.delete_key("gone").expect("delete gone");
    let ec_backup = b64url_encode(&default.backup_key("ec").expect("backup ec"));

    let other = store.vault("other").expect("vault other");
    other
        .create_key(
            "only-other",
            KeyType::Ec,
            KeySpec::Ec(CurveName::P256),
            KeyOptions::default(),
        )
        .expect("create only-other");
    let pp = store.vault("pp").expect("vault pp");
    ec_key(&pp, "ppdel");
    pp.delete_key("ppdel").expect("delete ppdel");

    // A backup made by another store (another master key) must not restore here.
    let alien = TempStore::with(Opener::key([0x11; 32]), T0);
    localhsm::server::ensure_default_vault(&alien.store).expect("alien default");
    let av = alien.store.vault("default").expect("alien vault");
    ec_key(&av, "alien");
    let alien_backup = b64url_encode(&av.backup_key("alien").expect("alien backup"));
    let set = |v: &localhsm::Vault, name: &str, value: &str| {
        v.set_secret(name, SecretString::from(value), SecretOptions::default())
            .unwrap_or_else(|e| panic!("set secret {name}: {e}"))
            .version
    };
    set(&av, "alien", "from another store");
    let foreign_secret_backup =
        b64url_encode(&av.backup_secret("alien").expect("alien secret backup"));

    // Secrets: two versions of `sec`, a disabled one, a deleted one; a purge-protected
    // vault of kind `vault` with a deleted secret; a secret only the vault `other` holds.
    let sec_v1 = set(&default, "sec", "first value");
    let sec_v2 = set(&default, "sec", "second value ✓");
    set(&default, "secoff", "disabled value");
    let off = SecretUpdate {
        enabled: Some(false),
        ..SecretUpdate::default()
    };
    default
        .update_secret("secoff", None, off)
        .expect("disable secoff");
    set(&default, "secgone", "deleted value");
    let secgone_backup = b64url_encode(&default.backup_secret("secgone").expect("backup"));
    default.delete_secret("secgone").expect("delete secgone");
    let sec_backup = b64url_encode(&default.backup_secret("sec").expect("backup sec"));
    set(&other, "only-other", "other's value");
    store
        .create_vault(
            "ppkv",
            VaultOptions {
                purge_protection: true,
                retention_days: 7,
                ..VaultOptions::default()
            },
        )
        .expect("vault ppkv");
    let ppkv = store.vault("ppkv").expect("vault ppkv");
    set(&ppkv, "ppsec", "protected value");
    ppkv.delete_secret("ppsec").expect("delete ppsec");
    let c = cert_setup(&default, &ppkv, &other, &av);

    Setup {
        ec_v1,
        ec_v2,
        oct_v,
        bad_padding,
        rsa_v,
        ec_backup,
        gone_backup,
        foreign_backup: alien_backup,
        sec_v1,
        sec_v2,
        sec_backup,
        secgone_backup,
        foreign_secret_backup,
        c,
    }
}

const BAD: &str = "BadParameter";

fn b64(n: usize) -> String {
    b64url_encode(&vec![0x61; n])
}

fn tags(n: usize) -> Value {
    Value::Object(
        (0..n)
            .map(|i| (format!("t{i}"), Value::from("v")))
            .collect(),
    )
}

/// Every (method, path) that takes a JSON body, with a path that reaches real objects.
fn body_routes(s: &Setup) -> Vec<(&'static str, String)> {
    let mut r = vec![
        ("POST", "/keys/ec/create".to_string()),
        ("PUT", "/keys/newkey".to_string()),
        ("PATCH", "/keys/ec".to_string()),
        ("PATCH", format!("/keys/ec/{}", s.ec_v1)),
        ("POST", "/keys/restore".to_string()),
        ("POST", "/rng".to_string()),
        ("PUT", "/secrets/newsec".to_string()),
        ("PATCH", "/secrets/sec".to_string()),
        ("PATCH", format!("/secrets/sec/{}", s.sec_v1)),
        ("POST", "/secrets/restore".to_string()),
    ];
    r.extend(cert_body_routes(s));
    for op in ["sign", "verify"] {
        r.push(("POST", format!("/keys/ec/{}/{op}", s.ec_v2)));
        r.push(("POST", format!("/keys/ec//{op}")));
    }
    for op in ["encrypt", "decrypt", "wrapkey", "unwrapkey"] {
        r.push(("POST", format!("/keys/oct/{}/{op}", s.oct_v)));
        r.push(("POST", format!("/keys/rsa/{}/{op}", s.rsa_v)));
    }
    r
}

/// The management routes that take a JSON body.
fn management_body_routes() -> Vec<(&'static str, &'static str)> {
    vec![
        ("POST", "/management/vaults"),
        ("PATCH", "/management/vaults/other"),
        ("POST", "/management/time-shift"),
        ("POST", "/management/customer-data/export"),
        ("POST", "/management/customer-data/delete"),
    ]
}

/// Every route with its method, for checks that apply to all of them.
fn all_routes(s: &Setup) -> Vec<(&'static str, String)> {
    let mut r = vec![
        ("GET", "/keys".to_string()),
        ("GET", "/keys/ec".to_string()),
        ("DELETE", "/keys/ec".to_string()),
        ("GET", "/keys/ec/versions".to_string()),
        ("POST", "/keys/ec/backup".to_string()),
        ("POST", "/keys/ec/rotate".to_string()),
        ("GET", format!("/keys/ec/{}", s.ec_v1)),
        ("GET", "/deletedkeys".to_string()),
        ("GET", "/deletedkeys/gone".to_string()),
        ("DELETE", "/deletedkeys/gone".to_string()),
        ("POST", "/deletedkeys/gone/recover".to_string()),
    ];
    r.extend(secret_routes(s));
    r.extend(cert_routes(s));
    r.extend(body_routes(s));
    r
}

/// The secret routes without a body, on real secrets.
fn secret_routes(s: &Setup) -> Vec<(&'static str, String)> {
    vec![
        ("GET", "/secrets".to_string()),
        ("GET", "/secrets/sec".to_string()),
        ("DELETE", "/secrets/sec".to_string()),
        ("GET", "/secrets/sec/versions".to_string()),
        ("POST", "/secrets/sec/backup".to_string()),
        ("GET", format!("/secrets/sec/{}", s.sec_v1)),
        ("GET", "/deletedsecrets".to_string()),
        ("GET", "/deletedsecrets/secgone".to_string()),
        ("DELETE", "/deletedsecrets/secgone".to_string()),
        ("POST", "/deletedsecrets/secgone/recover".to_string()),
    ]
}

/// The secret rows of the table: every secret route, every kind of bad input.
#[rustfmt::skip]
fn secret_table(s: &Setup, add: &mut impl FnMut(&'static str, &str, &str, B, u16, &'static str, &str)) {
    let h = "localhost";
    let v1 = &s.sec_v1;
    let unknown_v = "0123456789abcdef0123456789abcdef";
    let limit = localhsm::model::MAX_SECRET_VALUE_BYTES;

    // Names Key Vault forbids and over-long names, on every route naming a secret.
    let long = "a".repeat(128);
    let very_long = "s".repeat(5000);
    for bad in ["bad_name", "bad.name", "bad%20name", "b%C3%A4d", "bad~", long.as_str(), very_long.as_str()] {
        let shown = &bad[..bad.len().min(40)];
        for (m, p) in [
            ("GET", format!("/secrets/{bad}")),
            ("PUT", format!("/secrets/{bad}")),
            ("DELETE", format!("/secrets/{bad}")),
            ("PATCH", format!("/secrets/{bad}")),
            ("GET", format!("/secrets/{bad}/versions")),
            ("POST", format!("/secrets/{bad}/backup")),
            ("GET", format!("/secrets/{bad}/{v1}")),
            ("PATCH", format!("/secrets/{bad}/{v1}")),
            ("GET", format!("/deletedsecrets/{bad}")),
            ("DELETE", format!("/deletedsecrets/{bad}")),
            ("POST", format!("/deletedsecrets/{bad}/recover")),
        ] {
            // A body that would be valid for set and update alike.
            let body = B::Json(json!({"value": "v", "tags": {"a": "b"}}));
            add(m, h, &kv(&p), body, 400, BAD, &format!("secret name \"{shown}"));
        }
    }
    add("GET", h, &kv("/secrets//versions"), B::None, 400, BAD, "secret name \"\" is invalid");
    add("PUT", h, &kv("/secrets/-"), B::Json(json!({"value": "v", "tags": tags(16)})), 400, BAD, "at most 15 tags");

    // Another vault's host, a vault that does not exist, a deleted vault.
    for (host, code, msg) in [
        ("other.localhost", "SecretNotFound", "(name/id) sec"),
        ("OTHER.localhost:8443", "SecretNotFound", "(name/id) sec"),
        ("nosuch.localhost", "VaultNotFound", "vault \"nosuch\" was not found"),
        ("ppgone.localhost:8443", "VaultNotFound", "vault \"ppgone\" was not found"),
    ] {
        for (m, p, body) in [
            ("GET", "/secrets/sec".to_string(), B::None),
            ("DELETE", "/secrets/sec".to_string(), B::None),
            ("PATCH", "/secrets/sec".to_string(), B::Json(json!({"tags": {"x": "y"}}))),
            ("PATCH", format!("/secrets/sec/{v1}"), B::Json(json!({"attributes": {"enabled": false}}))),
            ("GET", "/secrets/sec/versions".to_string(), B::None),
            ("GET", format!("/secrets/sec/{v1}"), B::None),
            ("POST", "/secrets/sec/backup".to_string(), B::None),
        ] {
            add(m, host, &kv(&p), body, 404, code, msg);
        }
        let (code, gone_msg) = if code == "SecretNotFound" {
            ("SecretNotFound", "deleted secret \"secgone\" was not found")
        } else {
            (code, msg)
        };
        add("GET", host, &kv("/deletedsecrets/secgone"), B::None, 404, code, gone_msg);
        add("DELETE", host, &kv("/deletedsecrets/secgone"), B::None, 404, code, gone_msg);
        add("POST", host, &kv("/deletedsecrets/secgone/recover"), B::None, 404, code, gone_msg);
    }
    for (host, msg) in [("nosuch.localhost", "vault \"nosuch\" was not found"), ("ppgone.localhost", "vault \"ppgone\" was not found")] {
        add("GET", host, &kv("/secrets"), B::None, 404, "VaultNotFound", msg);
        add("GET", host, &kv("/deletedsecrets"), B::None, 404, "VaultNotFound", msg);
        add("PUT", host, &kv("/secrets/fresh"), B::Json(json!({"value": "v"})), 404, "VaultNotFound", msg);
        add("POST", host, &kv("/secrets/restore"), B::Json(json!({"value": s.sec_backup})), 404, "VaultNotFound", msg);
    }
    // A Managed HSM other than the default vault has no secrets API: every route says so.
    let no_secrets = "secrets (Managed HSM has no secrets API) is not supported in a vault of kind managedhsm";
    for (m, p, body) in [
        ("GET", "/secrets".to_string(), B::None),
        ("GET", "/deletedsecrets".to_string(), B::None),
        ("PUT", "/secrets/fresh".to_string(), B::Json(json!({"value": "v"}))),
        ("PUT", "/secrets/fresh".to_string(), B::Json(json!({"value": "v".repeat(limit + 1)}))),
        ("GET", "/secrets/sec".to_string(), B::None),
        ("GET", format!("/secrets/sec/{v1}"), B::None),
        ("PATCH", "/secrets/sec".to_string(), B::Json(json!({"tags": {"x": "y"}}))),
        ("PATCH", format!("/secrets/sec/{v1}"), B::Json(json!({"contentType": "text/plain"}))),
        ("DELETE", "/secrets/sec".to_string(), B::None),
        ("GET", "/secrets/sec/versions".to_string(), B::None),
        ("POST", "/secrets/sec/backup".to_string(), B::None),
        ("POST", "/secrets/restore".to_string(), B::Json(json!({"value": s.sec_backup}))),
        ("GET", "/deletedsecrets/secgone".to_string(), B::None),
        ("DELETE", "/deletedsecrets/secgone".to_string(), B::None),
        ("POST", "/deletedsecrets/secgone/recover".to_string(), B::None),
    ] {
        add(m, "pp.localhost", &kv(&p), body, 400, BAD, no_secrets);
    }
    // A deleted secret in another vault is not reachable from this one.
    add("DELETE", h, &kv("/deletedsecrets/ppsec"), B::None, 404, "SecretNotFound", "deleted secret \"ppsec\"");
    add("POST", h, &kv("/deletedsecrets/ppsec/recover"), B::None, 404, "SecretNotFound", "deleted secret \"ppsec\"");

    // Set.
    let set = "/secrets/newsec";
    let over = "x".repeat(limit + 1);
    let over_wide = "é".repeat(limit / 2 + 1);
    let over_mixed = format!("{}✓", "y".repeat(limit - 2));
    for (body, msg) in [
        (json!({}), "missing field `value`".to_string()),
        (json!({"contentType": "text/plain"}), "missing field `value`".to_string()),
        (json!({"value": 5}), "field 'value'".to_string()),
        (json!({"value": 5.5}), "field 'value'".to_string()),
        (json!({"value": null}), "field 'value'".to_string()),
        (json!({"value": true}), "field 'value'".to_string()),
        (json!({"value": ["a"]}), "field 'value'".to_string()),
        (json!({"value": {"a": "b"}}), "field 'value'".to_string()),
        (json!({"value": over}), format!("the secret value is {} bytes; Key Vault allows at most {limit}", limit + 1)),
        (json!({"value": over_wide}), format!("the secret value is {} bytes", limit + 2)),
        (json!({"value": over_mixed}), format!("the secret value is {} bytes", limit + 1)),
        (json!({"value": "v", "contentType": 5}), "field 'contentType'".to_string()),
        (json!({"value": "v", "contentType": "t".repeat(256)}), "contentType must be at most 255 characters".to_string()),
        (json!({"value": "v", "attributes": []}), "field 'attributes'".to_string()),
        (json!({"value": "v", "attributes": {"enabled": "yes"}}), "field 'attributes.enabled'".to_string()),
        (json!({"value": "v", "attributes": {"exp": -1}}), "field 'attributes.exp'".to_string()),
        (json!({"value": "v", "attributes": {"nbf": "soon"}}), "field 'attributes.nbf'".to_string()),
        (json!({"value": "v", "attributes": {"nbf": 200, "exp": 100}}), "nbf must be earlier than exp".to_string()),
        (json!({"value": "v", "attributes": {"nbf": 100, "exp": 100}}), "nbf must be earlier than exp".to_string()),
        (json!({"value": "v", "tags": []}), "field 'tags'".to_string()),
        (json!({"value": "v", "tags": {"a": 1}}), "field 'tags.a'".to_string()),
        (json!({"value": "v", "tags": tags(16)}), "at most 15 tags are allowed, got 16".to_string()),
        (json!({"value": "v", "tags": {"": "v"}}), "tag names must be 1 to 512 characters".to_string()),
        (json!({"value": "v", "tags": {"k": "v".repeat(257)}}), "values must be at most 256 characters".to_string()),
    ] {
        add("PUT", h, &kv(set), B::Json(body), 400, BAD, &msg);
    }
    add("PUT", h, &kv(set), B::Raw(br#"{"value":"a","value":"b"}"#.to_vec()), 400, BAD, "duplicate field `value`");
    add("PUT", h, &kv("/secrets/secgone"), B::Json(json!({"value": "v"})), 409, "Conflict", "deleted but recoverable");
    add("PUT", h, &kv("/secrets/SECGONE"), B::Json(json!({"value": "v"})), 409, "Conflict", "deleted but recoverable");

    // Update, of the current version and of a named one.
    for path in ["/secrets/sec".to_string(), format!("/secrets/sec/{v1}")] {
        for (body, msg) in [
            (json!({"tags": tags(16)}), "at most 15 tags are allowed"),
            (json!({"tags": {"": "v"}}), "tag names must be 1 to 512"),
            (json!({"tags": {"k": null}}), "field 'tags.k'"),
            (json!({"tags": "a=b"}), "field 'tags'"),
            (json!({"contentType": 5}), "field 'contentType'"),
            (json!({"contentType": "t".repeat(256)}), "contentType must be at most 255 characters"),
            (json!({"attributes": {"enabled": "no"}}), "field 'attributes.enabled'"),
            (json!({"attributes": {"enabled": 0}}), "field 'attributes.enabled'"),
            (json!({"attributes": {"exp": "2030-01-01"}}), "field 'attributes.exp'"),
            (json!({"attributes": {"nbf": 10, "exp": 5}}), "nbf must be earlier than exp"),
        ] {
            add("PATCH", h, &kv(&path), B::Json(body), 400, BAD, msg);
        }
    }

    // Unknown versions, and names that are not there (or only deleted).
    for (m, p) in [
        ("PATCH", format!("/secrets/sec/{unknown_v}")),
        ("GET", format!("/secrets/sec/{unknown_v}")),
        ("GET", format!("/secrets/sec/{}", s.ec_v1)),
        ("PATCH", format!("/secrets/sec/{}", s.ec_v1)),
        ("GET", "/secrets/sec/not-a-version".to_string()),
        ("PATCH", "/secrets/sec/not-a-version".to_string()),
        ("GET", "/secrets/sec/backup".to_string()),
        ("GET", format!("/secrets/secgone/{v1}")),
    ] {
        add(m, h, &kv(&p), B::Json(json!({"tags": {"a": "b"}})), 404, "SecretNotFound", "was not found");
    }
    for (m, p, msg) in [
        ("GET", "/secrets/nosec", "(name/id) nosec"),
        ("GET", "/secrets/secgone", "(name/id) secgone"),
        ("GET", "/secrets/ec", "(name/id) ec"),
        ("GET", "/secrets/restore", "(name/id) restore"),
        ("GET", "/secrets/nosec/versions", "(name/id) nosec"),
        ("GET", "/secrets/secgone/versions", "(name/id) secgone"),
        ("PATCH", "/secrets/nosec", "(name/id) nosec"),
        ("PATCH", "/secrets/secgone", "(name/id) secgone"),
        ("DELETE", "/secrets/nosec", "(name/id) nosec"),
        ("DELETE", "/secrets/secgone", "(name/id) secgone"),
        ("POST", "/secrets/nosec/backup", "(name/id) nosec"),
        ("POST", "/secrets/secgone/backup", "(name/id) secgone"),
        ("POST", "/secrets/ec/backup", "(name/id) ec"),
    ] {
        add(m, h, &kv(p), B::Json(json!({"tags": {"a": "b"}})), 404, "SecretNotFound", msg);
    }
    for (m, p, msg) in [
        ("GET", "/deletedsecrets/sec", "deleted secret \"sec\" was not found"),
        ("DELETE", "/deletedsecrets/sec", "deleted secret \"sec\" was not found"),
        ("POST", "/deletedsecrets/sec/recover", "deleted secret \"sec\" was not found"),
        ("GET", "/deletedsecrets/nosec", "deleted secret \"nosec\" was not found"),
        ("DELETE", "/deletedsecrets/nosec", "deleted secret \"nosec\" was not found"),
        ("POST", "/deletedsecrets/nosec/recover", "deleted secret \"nosec\" was not found"),
        ("GET", "/deletedsecrets/gone", "deleted secret \"gone\" was not found"),
    ] {
        add(m, h, &kv(p), B::None, 404, "SecretNotFound", msg);
    }

    // A disabled secret's value, and purge protection.
    add("GET", h, &kv("/secrets/secoff"), B::None, 403, "Forbidden", "operation get is not allowed on a disabled secret");
    add("DELETE", "ppkv.localhost", &kv("/deletedsecrets/ppsec"), B::None, 403, "Forbidden", "cannot be purged before its scheduled purge date");

    // Restore: garbage, another kind's backup, another store's, and conflicts.
    for (body, status, code, msg) in [
        (json!({}), 400, BAD, "missing field `value`"),
        (json!({"value": 5}), 400, BAD, "field 'value'"),
        (json!({"value": "###"}), 400, BAD, "field 'value': invalid base64url"),
        (json!({"value": ""}), 400, BAD, "backup blob is not valid"),
        (json!({"value": b64(64)}), 400, BAD, "backup blob is not valid"),
        (json!({"value": b64(700_000)}), 400, BAD, "backup blob is not valid"),
        (json!({"value": s.ec_backup}), 400, BAD, "backup blob is not valid"),
        (json!({"value": s.gone_backup}), 400, BAD, "backup blob is not valid"),
        (json!({"value": s.foreign_secret_backup}), 400, BAD, "backup blob is not valid"),
        (json!({"value": s.sec_backup}), 409, "Conflict", "already exists"),
        (json!({"value": s.secgone_backup}), 409, "Conflict", "deleted but recoverable"),
    ] {
        add("POST", h, &kv("/secrets/restore"), B::Json(body), status, code, msg);
    }
    for blob in [&s.sec_backup, &s.secgone_backup, &s.foreign_secret_backup] {
        add("POST", h, &kv("/keys/restore"), B::Json(json!({"value": blob})), 400, BAD, "backup blob is not valid");
    }

    // Listings.
    for p in ["/secrets", "/deletedsecrets", "/secrets/sec/versions"] {
        for (q, msg) in [
            ("maxresults=0", "maxresults must be an integer from 1 to 25, not \"0\""),
            ("maxresults=26", "maxresults must be an integer from 1 to 25"),
            ("maxresults=-1", "maxresults must be an integer from 1 to 25"),
            ("maxresults=ten", "maxresults must be an integer from 1 to 25, not \"ten\""),
            ("maxresults=", "maxresults must be an integer from 1 to 25"),
            ("$skiptoken=***", "$skiptoken is not valid"),
            ("$skiptoken=%FF%FE", "$skiptoken is not valid"),
        ] {
            add("GET", h, &kv(&format!("{p}?{q}")), B::None, 400, BAD, msg);
        }
    }

    // Methods the table has no row for.
    for (m, p) in [
        ("POST", "/secrets".to_string()),
        ("PUT", "/secrets".to_string()),
        ("DELETE", "/secrets".to_string()),
        ("POST", "/secrets/sec".to_string()),
        ("PUT", "/secrets/sec/versions".to_string()),
        ("DELETE", "/secrets/sec/versions".to_string()),
        ("PUT", format!("/secrets/sec/{v1}")),
        ("DELETE", format!("/secrets/sec/{v1}")),
        ("POST", format!("/secrets/sec/{v1}")),
        ("POST", "/deletedsecrets".to_string()),
        ("PUT", "/deletedsecrets/secgone".to_string()),
        ("PATCH", "/deletedsecrets/secgone".to_string()),
        ("POST", "/deletedsecrets/secgone".to_string()),
        ("GET", "/deletedsecrets/secgone/recover".to_string()),
        ("DELETE", "/deletedsecrets/secgone/recover".to_string()),
        ("OPTIONS", "/secrets".to_string()),
    ] {
        add(m, h, &kv(&p), B::None, 405, "MethodNotAllowed", &format!("method {m} is not allowed"));
    }
}

// --- certificates -----------------------------------------------------------------------------

/// The certificates the table aims at, and material for imports and merges.
struct CertSetup {
    /// Versions of `crt` (issuer Self, EC), oldest first.
    crt_v1: String,
    crt_v2: String,
    /// Backups (base64url) of `crt`, of `crtgone` (since deleted) and of a certificate of
    /// another store.
    crt_backup: String,
    crtgone_backup: String,
    foreign_backup: String,
    /// A PFX (standard base64) protected by [`PFX_PASSWORD`], and its pieces as PEM.
    pfx: String,
    /// PEM: the PFX's key and certificate; its certificate alone; its key with another
    /// key's certificate.
    pem: String,
    pem_cert_only: String,
    pem_mismatch: String,
    /// Standard base64 DER: a certificate for a key no pending request holds, and `crt`'s.
    other_leaf: String,
    crt_leaf: String,
}

const PFX_PASSWORD: &str = "right horse battery";

/// A self-signed certificate policy that issues quickly (EC P-256).
fn cert_policy() -> Value {
    json!({"key_props": {"kty": "EC", "crv": "P-256"}, "x509_props": {"subject": "CN=bad-input"}})
}

/// `cert_policy` with `path` (a JSON pointer into it) set to `v`.
fn policy_with(path: &str, v: Value) -> Value {
    let mut p = cert_policy();
    let mut parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let last = parts.pop().expect("a member");
    let mut at = &mut p;
    for part in parts {
        at = at
            .as_object_mut()
            .expect("an object")
            .entry(part.to_string())
            .or_insert_with(|| json!({}));
    }
    at.as_object_mut()
        .expect("an object")
        .insert(last.to_string(), v);
    p
}

fn std_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = std_b64(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// Certificates in the default vault (`crt` with two versions, `crtgone` deleted, `pend`
/// waiting for a merge, `imp` imported, so with no operation), an issuer `corp`, a deleted
/// certificate in the purge-protected vault `ppkv`, one only `other` holds, one in another
/// store; and the material of the import and merge rows.
fn cert_setup(
    default: &localhsm::Vault,
    ppkv: &localhsm::Vault,
    other: &localhsm::Vault,
    alien: &localhsm::Vault,
) -> CertSetup {
    let policy: CertificatePolicy = serde_json::from_value(cert_policy()).expect("policy");
    let create = |v: &localhsm::Vault, name: &str, p: CertificatePolicy| {
        v.create_certificate(name, p, CertificateOptions::default())
            .unwrap_or_else(|e| panic!("create certificate {name}: {e}"));
        v.get_certificate(name, None).expect("created").version
    };
    let crt_v1 = create(default, "crt", policy.clone());
    let crt_v2 = create(default, "crt", policy.clone());
    create(default, "crtgone", policy.clone());
    let crtgone_backup = b64url_encode(&default.backup_certificate("crtgone").expect("backup"));
    default
        .delete_certificate("crtgone")
        .expect("delete crtgone");
    let crt_backup = b64url_encode(&default.backup_certificate("crt").expect("backup crt"));
    let mut pending = policy.clone();
    pending.issuer = Some(localhsm::model::certificates::IssuerParameters {
        name: Some("Unknown".into()),
        ..Default::default()
    });
    create(default, "pend", pending);
    default
        .set_certificate_issuer(
            "corp",
            localhsm::model::certificates::IssuerUpdate {
                provider: Some("Test".into()),
                ..Default::default()
            },
        )
        .expect("issuer corp");
    create(ppkv, "ppcrt", policy.clone());
    ppkv.delete_certificate("ppcrt").expect("delete ppcrt");
    create(other, "only-other-crt", policy.clone());
    create(alien, "alien-crt", policy);
    let foreign_backup = b64url_encode(&alien.backup_certificate("alien-crt").expect("backup"));

    let spec = |cn: &str| CertSpec {
        subject: format!("CN={cn}"),
        ..CertSpec::default()
    };
    let key = CertificateKey::generate(KeySpec::Ec(CurveName::P256)).expect("key");
    let der = key.self_signed(&spec("imported")).expect("certificate");
    let pfx = key
        .to_pfx(std::slice::from_ref(&der), Some(PFX_PASSWORD))
        .expect("PFX");
    let other_key = CertificateKey::generate(KeySpec::Ec(CurveName::P256)).expect("key");
    let other_der = other_key.self_signed(&spec("other")).expect("certificate");
    let key_pem = pem_block("PRIVATE KEY", key.to_pkcs8_der().expect("PKCS#8").expose());
    let imp = SecretBytes::from_slice(pfx.expose());
    default
        .import_certificate(
            "imp",
            imp,
            Some(SecretString::from(PFX_PASSWORD)),
            None,
            CertificateOptions::default(),
        )
        .expect("import imp");
    let crt_der = default
        .get_certificate("crt", None)
        .expect("crt")
        .cer
        .expect("issued");
    CertSetup {
        crt_v1,
        crt_v2,
        crt_backup,
        crtgone_backup,
        foreign_backup,
        pfx: std_b64(pfx.expose()),
        pem: format!("{key_pem}{}", pem_block("CERTIFICATE", &der)),
        pem_cert_only: pem_block("CERTIFICATE", &der),
        pem_mismatch: format!("{key_pem}{}", pem_block("CERTIFICATE", &other_der)),
        other_leaf: std_b64(&other_der),
        crt_leaf: std_b64(&crt_der),
    }
}

/// The certificate routes that take a JSON body, with a path that reaches real objects.
fn cert_body_routes(s: &Setup) -> Vec<(&'static str, String)> {
    vec![
        ("POST", "/certificates/newcrt/create".to_string()),
        ("POST", "/certificates/newcrt/import".to_string()),
        ("POST", "/certificates/pend/pending/merge".to_string()),
        ("PATCH", "/certificates/pend/pending".to_string()),
        ("PATCH", "/certificates/crt".to_string()),
        ("PATCH", format!("/certificates/crt/{}", s.c.crt_v1)),
        ("PATCH", "/certificates/crt/policy".to_string()),
        ("POST", "/certificates/restore".to_string()),
        ("PUT", "/certificates/contacts".to_string()),
        ("PUT", "/certificates/issuers/newissuer".to_string()),
        ("PATCH", "/certificates/issuers/corp".to_string()),
    ]
}

/// The certificate routes without a body, on real objects.
fn cert_routes(s: &Setup) -> Vec<(&'static str, String)> {
    vec![
        ("GET", "/certificates".to_string()),
        ("GET", "/certificates/crt".to_string()),
        ("DELETE", "/certificates/crt".to_string()),
        ("GET", "/certificates/crt/versions".to_string()),
        ("GET", format!("/certificates/crt/{}", s.c.crt_v1)),
        ("GET", "/certificates/crt/policy".to_string()),
        ("GET", "/certificates/pend/pending".to_string()),
        ("DELETE", "/certificates/pend/pending".to_string()),
        ("POST", "/certificates/crt/backup".to_string()),
        ("GET", "/deletedcertificates".to_string()),
        ("GET", "/deletedcertificates/crtgone".to_string()),
        ("DELETE", "/deletedcertificates/crtgone".to_string()),
        ("POST", "/deletedcertificates/crtgone/recover".to_string()),
        ("GET", "/certificates/contacts".to_string()),
        ("DELETE", "/certificates/contacts".to_string()),
        ("GET", "/certificates/issuers".to_string()),
        ("GET", "/certificates/issuers/corp".to_string()),
        ("DELETE", "/certificates/issuers/corp".to_string()),
    ]
}

/// The certificate rows of the table: every certificate, contacts and issuers route, every
/// kind of bad input.
#[rustfmt::skip]
fn cert_table(s: &Setup, add: &mut impl FnMut(&'static str, &str, &str, B, u16, &'static str, &str)) {
    let h = "localhost";
    let c = &s.c;
    let v1 = &c.crt_v1;
    let unknown_v = "0123456789abcdef0123456789abcdef";
    let create_ok = || json!({"policy": cert_policy()});
    let create_with = |path: &str, v: Value| json!({"policy": policy_with(path, v)});
    let import_ok = || json!({"value": c.pfx, "pwd": PFX_PASSWORD});
    let merge_other = || json!({"x5c": [c.other_leaf]});
    let pem_policy = json!({"secret_props": {"contentType": "application/x-pem-file"}});

    // Names Key Vault forbids and over-long names, on every route naming a certificate or
    // an issuer.
    let long = "a".repeat(128);
    let very_long = "c".repeat(5000);
    for bad in ["bad_name", "bad.name", "bad%20name", "b%C3%A4d", "bad~", long.as_str(), very_long.as_str()] {
        let shown = &bad[..bad.len().min(40)];
        for (m, p) in [
            ("GET", format!("/certificates/{bad}")),
            ("PATCH", format!("/certificates/{bad}")),
            ("DELETE", format!("/certificates/{bad}")),
            ("POST", format!("/certificates/{bad}/create")),
            ("POST", format!("/certificates/{bad}/import")),
            ("POST", format!("/certificates/{bad}/backup")),
            ("GET", format!("/certificates/{bad}/versions")),
            ("GET", format!("/certificates/{bad}/policy")),
            ("PATCH", format!("/certificates/{bad}/policy")),
            ("GET", format!("/certificates/{bad}/pending")),
            ("PATCH", format!("/certificates/{bad}/pending")),
            ("DELETE", format!("/certificates/{bad}/pending")),
            ("POST", format!("/certificates/{bad}/pending/merge")),
            ("GET", format!("/certificates/{bad}/{v1}")),
            ("PATCH", format!("/certificates/{bad}/{v1}")),
            ("GET", format!("/deletedcertificates/{bad}")),
            ("DELETE", format!("/deletedcertificates/{bad}")),
            ("POST", format!("/deletedcertificates/{bad}/recover")),
        ] {
            // A body that would be valid for create, import and merge alike.
            let body = B::Json(json!({"policy": cert_policy(), "value": c.pfx, "pwd": PFX_PASSWORD, "x5c": [c.crt_leaf], "tags": {"a": "b"}}));
            add(m, h, &kv(&p), body, 400, BAD, &format!("certificate name \"{shown}"));
        }
        for m in ["GET", "PUT", "PATCH", "DELETE"] {
            let body = B::Json(json!({"provider": "Test"}));
            add(m, h, &kv(&format!("/certificates/issuers/{bad}")), body, 400, BAD, &format!("issuer name \"{shown}"));
        }
    }
    add("POST", h, &kv("/certificates//create"), B::Json(create_ok()), 400, BAD, "certificate name \"\" is invalid");
    add("POST", h, &kv("/certificates/-/create"), B::Json(json!({"policy": cert_policy(), "tags": tags(16)})), 400, BAD, "at most 15 tags");

    // Another vault's host, a vault that does not exist, a deleted vault.
    for (host, code, msg) in [
        ("other.localhost", "CertificateNotFound", "(name/id) crt"),
        ("OTHER.localhost:8443", "CertificateNotFound", "(name/id) crt"),
        ("nosuch.localhost", "VaultNotFound", "vault \"nosuch\" was not found"),
        ("ppgone.localhost:8443", "VaultNotFound", "vault \"ppgone\" was not found"),
    ] {
        for (m, p, body) in [
            ("GET", "/certificates/crt".to_string(), B::None),
            ("DELETE", "/certificates/crt".to_string(), B::None),
            ("PATCH", "/certificates/crt".to_string(), B::Json(json!({"tags": {"x": "y"}}))),
            ("PATCH", format!("/certificates/crt/{v1}"), B::Json(json!({"attributes": {"enabled": false}}))),
            ("GET", format!("/certificates/crt/{v1}"), B::None),
            ("GET", "/certificates/crt/versions".to_string(), B::None),
            ("GET", "/certificates/crt/policy".to_string(), B::None),
            ("PATCH", "/certificates/crt/policy".to_string(), B::Json(json!({"x509_props": {"validity_months": 6}}))),
            ("POST", "/certificates/crt/backup".to_string(), B::None),
            ("GET", "/certificates/crt/pending".to_string(), B::None),
            ("PATCH", "/certificates/crt/pending".to_string(), B::Json(json!({"cancellation_requested": true}))),
            ("DELETE", "/certificates/crt/pending".to_string(), B::None),
            ("POST", "/certificates/crt/pending/merge".to_string(), B::Json(json!({"x5c": [c.crt_leaf]}))),
        ] {
            add(m, host, &kv(&p), body, 404, code, msg);
        }
        let gone_msg = if code == "CertificateNotFound" { "deleted certificate \"crtgone\" was not found" } else { msg };
        add("GET", host, &kv("/deletedcertificates/crtgone"), B::None, 404, code, gone_msg);
        add("DELETE", host, &kv("/deletedcertificates/crtgone"), B::None, 404, code, gone_msg);
        add("POST", host, &kv("/deletedcertificates/crtgone/recover"), B::None, 404, code, gone_msg);
        let issuer_code = if code == "CertificateNotFound" { "CertificateIssuerNotFound" } else { code };
        let issuer_msg = if code == "CertificateNotFound" { "certificate issuer \"corp\" was not found" } else { msg };
        for (m, body) in [("GET", B::None), ("PATCH", B::Json(json!({"provider": "Other"}))), ("DELETE", B::None)] {
            add(m, host, &kv("/certificates/issuers/corp"), body, 404, issuer_code, issuer_msg);
        }
    }
    for (host, msg) in [("nosuch.localhost", "vault \"nosuch\" was not found"), ("ppgone.localhost", "vault \"ppgone\" was not found")] {
        for (m, p, body) in [
            ("GET", "/certificates", B::None),
            ("GET", "/deletedcertificates", B::None),
            ("GET", "/certificates/contacts", B::None),
            ("PUT", "/certificates/contacts", B::Json(json!({"contacts": [{"email": "a@example.test"}]}))),
            ("DELETE", "/certificates/contacts", B::None),
            ("GET", "/certificates/issuers", B::None),
            ("PUT", "/certificates/issuers/fresh", B::Json(json!({"provider": "Test"}))),
            ("POST", "/certificates/fresh/create", B::Json(create_ok())),
            ("POST", "/certificates/fresh/import", B::Json(import_ok())),
            ("POST", "/certificates/restore", B::Json(json!({"value": c.crt_backup}))),
        ] {
            add(m, host, &kv(p), body, 404, "VaultNotFound", msg);
        }
    }
    add("GET", "other.localhost", &kv("/certificates/contacts"), B::None, 404, "ContactsNotFound", "this vault has no certificate contacts");

    // A Managed HSM other than the default vault has no certificates API: every route says
    // so, whatever the body (as long as it parses).
    let no_certs = "certificates (Managed HSM has no certificates API) is not supported in a vault of kind managedhsm";
    for (m, p, body) in [
        ("GET", "/certificates".to_string(), B::None),
        ("GET", "/certificates?includePending=true".to_string(), B::None),
        ("GET", "/deletedcertificates".to_string(), B::None),
        ("POST", "/certificates/fresh/create".to_string(), B::Json(create_ok())),
        ("POST", "/certificates/fresh/create".to_string(), B::Json(create_with("/key_props/key_size", json!(1024)))),
        ("POST", "/certificates/fresh/import".to_string(), B::Json(import_ok())),
        ("POST", "/certificates/fresh/import".to_string(), B::Json(json!({"value": c.pem, "policy": pem_policy}))),
        ("GET", "/certificates/crt".to_string(), B::None),
        ("GET", format!("/certificates/crt/{v1}"), B::None),
        ("PATCH", "/certificates/crt".to_string(), B::Json(json!({"tags": {"x": "y"}}))),
        ("PATCH", format!("/certificates/crt/{v1}"), B::Json(json!({"attributes": {"enabled": false}}))),
        ("DELETE", "/certificates/crt".to_string(), B::None),
        ("GET", "/certificates/crt/versions".to_string(), B::None),
        ("GET", "/certificates/crt/policy".to_string(), B::None),
        ("PATCH", "/certificates/crt/policy".to_string(), B::Json(json!({"x509_props": {"validity_months": 6}}))),
        ("GET", "/certificates/pend/pending".to_string(), B::None),
        ("PATCH", "/certificates/pend/pending".to_string(), B::Json(json!({"cancellation_requested": true}))),
        ("DELETE", "/certificates/pend/pending".to_string(), B::None),
        ("POST", "/certificates/pend/pending/merge".to_string(), B::Json(merge_other())),
        ("POST", "/certificates/crt/backup".to_string(), B::None),
        ("POST", "/certificates/restore".to_string(), B::Json(json!({"value": c.crt_backup}))),
        ("GET", "/deletedcertificates/crtgone".to_string(), B::None),
        ("DELETE", "/deletedcertificates/crtgone".to_string(), B::None),
        ("POST", "/deletedcertificates/crtgone/recover".to_string(), B::None),
        ("GET", "/certificates/contacts".to_string(), B::None),
        ("PUT", "/certificates/contacts".to_string(), B::Json(json!({"contacts": [{"email": "a@example.test"}]}))),
        ("DELETE", "/certificates/contacts".to_string(), B::None),
        ("GET", "/certificates/issuers".to_string(), B::None),
        ("GET", "/certificates/issuers/corp".to_string(), B::None),
        ("PUT", "/certificates/issuers/corp".to_string(), B::Json(json!({"provider": "Test"}))),
        ("PATCH", "/certificates/issuers/corp".to_string(), B::Json(json!({"provider": "Test"}))),
        ("DELETE", "/certificates/issuers/corp".to_string(), B::None),
    ] {
        add(m, "pp.localhost", &kv(&p), body, 400, BAD, no_certs);
    }

    // Create: the policy is required, and checked before anything is made.
    let create = "/certificates/newcrt/create";
    for (body, msg) in [
        (json!({}), "policy is required"),
        (json!({"tags": {"a": "b"}}), "policy is required"),
        (json!({"policy": null}), "policy is required"),
        (json!({"policy": 5}), "field 'policy'"),
        (json!({"policy": "CN=a"}), "field 'policy'"),
        (json!({"policy": {}}), "x509_props needs a subject"),
        (json!({"policy": {"x509_props": {}}}), "x509_props needs a subject"),
        (json!({"policy": {"x509_props": {"subject": ""}}}), "x509_props needs a subject"),
        (json!({"policy": {"x509_props": {"subject": " ", "sans": {"dns_names": []}}}}), "x509_props needs a subject"),
        (json!({"policy": {"x509_props": {"subject": 5}}}), "field 'policy.x509_props.subject'"),
        (json!({"policy": {"x509_props": {"sans": {"dns_names": "a.example"}}}}), "field 'policy.x509_props.sans.dns_names'"),
        (create_with("/key_props/kty", json!("oct")), "key_props.kty must be EC, EC-HSM, RSA or RSA-HSM"),
        (create_with("/key_props/kty", json!("oct-HSM")), "key_props.kty must be EC, EC-HSM, RSA or RSA-HSM"),
        (create_with("/key_props/kty", json!("DSA")), "field 'policy.key_props.kty'"),
        (create_with("/key_props/kty", json!(5)), "field 'policy.key_props.kty'"),
        (json!({"policy": {"key_props": {"kty": "RSA", "key_size": 1024}, "x509_props": {"subject": "CN=a"}}}), "key_props.key_size must be 2048, 3072 or 4096 for RSA, not 1024"),
        (json!({"policy": {"key_props": {"kty": "RSA", "key_size": 2049}, "x509_props": {"subject": "CN=a"}}}), "key_props.key_size must be 2048, 3072 or 4096 for RSA, not 2049"),
        (json!({"policy": {"key_props": {"kty": "RSA", "key_size": -1}, "x509_props": {"subject": "CN=a"}}}), "field 'policy.key_props.key_size'"),
        (json!({"policy": {"key_props": {"kty": "RSA", "crv": "P-256"}, "x509_props": {"subject": "CN=a"}}}), "key_props.crv does not apply to RSA keys"),
        (create_with("/key_props/crv", json!("P-256K")), "not P-256K"),
        (create_with("/key_props/crv", json!("P-192")), "field 'policy.key_props.crv'"),
        (create_with("/key_props/key_size", json!(2048)), "key_props.key_size does not apply to EC keys"),
        (create_with("/key_props/exportable", json!("yes")), "field 'policy.key_props.exportable'"),
        (create_with("/x509_props/validity_months", json!(0)), "x509_props.validity_months must be 1 to 1200, not 0"),
        (create_with("/x509_props/validity_months", json!(1201)), "x509_props.validity_months must be 1 to 1200, not 1201"),
        (create_with("/x509_props/validity_months", json!(-1)), "field 'policy.x509_props.validity_months'"),
        (create_with("/x509_props/validity_months", json!(1.5)), "field 'policy.x509_props.validity_months'"),
        (create_with("/secret_props/contentType", json!("text/plain")), "secret_props.contentType must be application/x-pkcs12 or application/x-pem-file"),
        (create_with("/secret_props/contentType", json!("")), "secret_props.contentType must be"),
        (create_with("/secret_props/contentType", json!(7)), "field 'policy.secret_props.contentType'"),
        (create_with("/x509_props/ekus", json!(["serverAuth"])), "x509_props.ekus: \"serverAuth\" is not a dotted OID"),
        (create_with("/x509_props/ekus", json!(["1..3"])), "is not a dotted OID"),
        (create_with("/x509_props/ekus", json!(["1"])), "is not a dotted OID"),
        (create_with("/x509_props/ekus", json!(["1.3.6.1.5.5.7.3.1 "])), "is not a dotted OID"),
        (create_with("/x509_props/ekus", json!("1.3.6.1.5.5.7.3.1")), "field 'policy.x509_props.ekus'"),
        (create_with("/x509_props/key_usage", json!(["frobnicate"])), "field 'policy.x509_props.key_usage"),
        (create_with("/x509_props/subject", json!("not a distinguished name")), "subject \"not a distinguished name\" is not valid"),
        (create_with("/x509_props/sans", json!({"dns_names": ["not a host name!"]})), "is not valid"),
        (create_with("/lifetime_actions", json!([{"trigger": {"lifetime_percentage": 50, "days_before_expiry": 10}, "action": {"action_type": "AutoRenew"}}])), "needs exactly one of lifetime_percentage"),
        (create_with("/lifetime_actions", json!([{"trigger": {}, "action": {"action_type": "AutoRenew"}}])), "needs exactly one of lifetime_percentage"),
        (create_with("/lifetime_actions", json!([{"trigger": {"lifetime_percentage": 0}, "action": {"action_type": "AutoRenew"}}])), "needs exactly one of lifetime_percentage"),
        (create_with("/lifetime_actions", json!([{"trigger": {"lifetime_percentage": 100}, "action": {"action_type": "AutoRenew"}}])), "needs exactly one of lifetime_percentage"),
        (create_with("/lifetime_actions", json!([{"trigger": {"days_before_expiry": 0}, "action": {"action_type": "EmailContacts"}}])), "needs exactly one of lifetime_percentage"),
        (create_with("/lifetime_actions", json!([{"trigger": {"days_before_expiry": 325}, "action": {"action_type": "EmailContacts"}}])), "days_before_expiry (1 to 27 times validity_months)"),
        (create_with("/lifetime_actions", json!([{"trigger": {"lifetime_percentage": 80}, "action": {"action_type": "Frobnicate"}}])), "field 'policy.lifetime_actions"),
        (create_with("/lifetime_actions", json!([{"trigger": {"lifetime_percentage": 80}}])), "field 'policy.lifetime_actions"),
        (create_with("/lifetime_actions", json!([
            {"trigger": {"lifetime_percentage": 80}, "action": {"action_type": "AutoRenew"}},
            {"trigger": {"days_before_expiry": 5}, "action": {"action_type": "AutoRenew"}},
        ])), "at most one AutoRenew and one EmailContacts lifetime action"),
        (create_with("/issuer", json!({"name": 5})), "field 'policy.issuer.name'"),
        (json!({"policy": cert_policy(), "attributes": {"enabled": "yes"}}), "field 'attributes.enabled'"),
        (json!({"policy": cert_policy(), "attributes": []}), "field 'attributes'"),
        (json!({"policy": cert_policy(), "tags": tags(16)}), "at most 15 tags are allowed, got 16"),
        (json!({"policy": cert_policy(), "tags": {"": "v"}}), "tag names must be 1 to 512 characters"),
        (json!({"policy": cert_policy(), "tags": {"k": 1}}), "field 'tags.k'"),
    ] {
        add("POST", h, &kv(create), B::Json(body), 400, BAD, msg);
    }
    add("POST", h, &kv(create), B::Raw(br#"{"policy":{},"policy":{}}"#.to_vec()), 400, BAD, "duplicate field `policy`");
    add("POST", h, &kv(create), B::Json(create_with("/issuer", json!({"name": "nosuchissuer"}))), 404, "CertificateIssuerNotFound", "certificate issuer \"nosuchissuer\" was not found");
    // Names a deleted certificate, a plain key or a plain secret holds: nothing of the new
    // certificate may be left behind (the certificate is written first, then its key, then
    // its secret, in one transaction).
    for (p, status, code, msg) in [
        ("/certificates/crtgone/create", 409, "Conflict", "deleted but recoverable"),
        ("/certificates/CRTGONE/create", 409, "Conflict", "deleted but recoverable"),
        ("/certificates/ec/create", 409, "Conflict", "key \"ec\" already exists"),
        ("/certificates/gone/create", 409, "Conflict", "key \"gone\" is currently in a deleted but recoverable state"),
        ("/certificates/sec/create", 409, "Conflict", "secret \"sec\" already exists"),
        ("/certificates/secgone/create", 409, "Conflict", "secret \"secgone\" is currently in a deleted but recoverable state"),
    ] {
        add("POST", h, &kv(p), B::Json(create_ok()), status, code, msg);
        add("POST", h, &kv(&p.replace("/create", "/import")), B::Json(import_ok()), status, code, msg);
    }

    // Import: a value, the right password, a PFX or PEM that holds a key and its certificate.
    let import = "/certificates/newimp/import";
    for (body, msg) in [
        (json!({}), "missing field `value`".to_string()),
        (json!({"pwd": PFX_PASSWORD}), "missing field `value`".to_string()),
        (json!({"value": 5}), "field 'value'".to_string()),
        (json!({"value": null}), "field 'value'".to_string()),
        (json!({"value": [c.pfx]}), "field 'value'".to_string()),
        (json!({"value": ""}), "a PFX is sent base64-encoded, and this is not base64".to_string()),
        (json!({"value": "###"}), "a PFX is sent base64-encoded, and this is not base64".to_string()),
        (json!({"value": std_b64(b"not a pfx at all, just some bytes")}), "the value is not a PFX (PKCS#12) file in DER".to_string()),
        (json!({"value": c.pfx[..c.pfx.len() / 2]}), "PFX".to_string()),
        (json!({"value": c.pfx}), "the PFX password is wrong or missing".to_string()),
        (json!({"value": c.pfx, "pwd": "wrong"}), "the PFX password is wrong or missing".to_string()),
        (json!({"value": c.pfx, "pwd": ""}), "the PFX password is wrong or missing".to_string()),
        (json!({"value": c.pfx, "pwd": format!("{PFX_PASSWORD} ")}), "the PFX password is wrong or missing".to_string()),
        (json!({"value": c.pfx, "pwd": 5}), "field 'pwd'".to_string()),
        (json!({"value": c.pem, "policy": {"secret_props": {"contentType": "application/x-pkcs12"}}}), "this looks like PEM".to_string()),
        (json!({"value": c.pfx, "pwd": PFX_PASSWORD, "policy": pem_policy}), "with contentType application/x-pem-file, value is the PEM text".to_string()),
        (json!({"value": c.pem_cert_only, "policy": pem_policy}), "the PEM has no private key".to_string()),
        (json!({"value": c.pem_mismatch, "policy": pem_policy}), "the private key".to_string()),
        (json!({"value": "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n", "policy": pem_policy}), "the PEM block PRIVATE KEY is not base64".to_string()),
        (json!({"value": "-----BEGIN PRIVATE KEY-----\nAAAA\n", "policy": pem_policy}), "has no END line".to_string()),
        (json!({"value": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "policy": pem_policy}), "the PEM has no private key".to_string()),
        (json!({"value": c.pfx, "pwd": PFX_PASSWORD, "policy": {"secret_props": {"contentType": "text/plain"}}}), "secret_props.contentType must be application/x-pkcs12 or application/x-pem-file".to_string()),
        (json!({"value": c.pfx, "pwd": PFX_PASSWORD, "policy": {"x509_props": {"validity_months": 0}}}), "x509_props.validity_months must be 1 to 1200, not 0".to_string()),
        (json!({"value": c.pfx, "pwd": PFX_PASSWORD, "policy": 5}), "field 'policy'".to_string()),
        (json!({"value": c.pfx, "pwd": PFX_PASSWORD, "tags": tags(16)}), "at most 15 tags are allowed, got 16".to_string()),
        (json!({"value": c.pfx, "pwd": PFX_PASSWORD, "attributes": {"enabled": 1}}), "field 'attributes.enabled'".to_string()),
    ] {
        add("POST", h, &kv(import), B::Json(body), 400, BAD, &msg);
    }

    // Merge: a chain whose leaf holds the pending request's key, and a pending request.
    let merge = "/certificates/pend/pending/merge";
    for (body, msg) in [
        (json!({}), "missing field `x5c`"),
        (json!({"x5c": []}), "x5c is empty"),
        (json!({"x5c": c.other_leaf}), "field 'x5c'"),
        (json!({"x5c": [5]}), "field 'x5c[0]'"),
        (json!({"x5c": ["###"]}), "field 'x5c[0]'"),
        (json!({"x5c": [std_b64(b"not a certificate")]}), "the value is not an X.509 certificate (DER)"),
        (json!({"x5c": [c.other_leaf, std_b64(b"not a certificate")]}), "the value is not an X.509 certificate (DER)"),
        (json!({"x5c": [c.other_leaf]}), "the certificate's public key does not match the pending request's key"),
        (json!({"x5c": [c.crt_leaf, c.other_leaf]}), "the certificate's public key does not match the pending request's key"),
        (json!({"x5c": [c.other_leaf], "tags": tags(16)}), "at most 15 tags are allowed"),
        (json!({"x5c": [c.other_leaf], "attributes": {"enabled": "no"}}), "field 'attributes.enabled'"),
    ] {
        add("POST", h, &kv(merge), B::Json(body), 400, BAD, msg);
    }
    for name in ["crt", "imp"] {
        add("POST", h, &kv(&format!("/certificates/{name}/pending/merge")), B::Json(json!({"x5c": [c.crt_leaf]})), 400, BAD, &format!("certificate \"{name}\" has no pending operation to merge"));
    }
    for name in ["nosuch", "crtgone", "ec"] {
        add("POST", h, &kv(&format!("/certificates/{name}/pending/merge")), B::Json(merge_other()), 404, "CertificateNotFound", &format!("(name/id) {name}"));
    }

    // The pending operation: a certificate without one, and bad bodies.
    for (m, body) in [("GET", B::None), ("PATCH", B::Json(json!({"cancellation_requested": true}))), ("DELETE", B::None)] {
        add(m, h, &kv("/certificates/imp/pending"), body, 404, "PendingCertificateNotFound", "pending certificate not found: imp");
    }
    for (m, body) in [("GET", B::None), ("PATCH", B::Json(json!({"cancellation_requested": true}))), ("DELETE", B::None)] {
        add(m, h, &kv("/certificates/nosuch/pending"), body, 404, "CertificateNotFound", "(name/id) nosuch");
    }
    for (body, msg) in [
        (json!({}), "missing field `cancellation_requested`"),
        (json!({"cancellation_requested": "yes"}), "field 'cancellation_requested'"),
        (json!({"cancellation_requested": 1}), "field 'cancellation_requested'"),
    ] {
        add("PATCH", h, &kv("/certificates/pend/pending"), B::Json(body), 400, BAD, msg);
    }

    // Update, of the current version and of a named one; the policy through its own route.
    for path in ["/certificates/crt".to_string(), format!("/certificates/crt/{v1}")] {
        for (body, msg) in [
            (json!({"tags": tags(16)}), "at most 15 tags are allowed"),
            (json!({"tags": {"": "v"}}), "tag names must be 1 to 512"),
            (json!({"tags": {"k": null}}), "field 'tags.k'"),
            (json!({"tags": "a=b"}), "field 'tags'"),
            (json!({"attributes": {"enabled": "no"}}), "field 'attributes.enabled'"),
            (json!({"policy": 5}), "field 'policy'"),
            (json!({"policy": {"x509_props": {"validity_months": 0}}}), "x509_props.validity_months must be 1 to 1200, not 0"),
            (json!({"policy": {"key_props": {"kty": "oct"}}}), "key_props.kty must be EC, EC-HSM, RSA or RSA-HSM"),
            (json!({"policy": {"secret_props": {"contentType": "text/plain"}}}), "secret_props.contentType must be"),
            (json!({"policy": {"x509_props": {"validity_months": 6}}, "tags": tags(16)}), "at most 15 tags are allowed"),
        ] {
            add("PATCH", h, &kv(&path), B::Json(body), 400, BAD, msg);
        }
    }
    for (body, status, code, msg) in [
        (json!({"x509_props": {"validity_months": 0}}), 400, BAD, "x509_props.validity_months must be 1 to 1200, not 0"),
        (json!({"x509_props": {"subject": ""}}), 400, BAD, "x509_props needs a subject"),
        (json!({"key_props": {"kty": "oct"}}), 400, BAD, "key_props.kty must be EC, EC-HSM, RSA or RSA-HSM"),
        (json!({"key_props": {"kty": "RSA", "key_size": 1024}}), 400, BAD, "not 1024"),
        (json!({"key_props": {"crv": "P-256K"}}), 400, BAD, "not P-256K"),
        (json!({"secret_props": {"contentType": "text/plain"}}), 400, BAD, "secret_props.contentType must be"),
        (json!({"x509_props": {"ekus": ["serverAuth"]}}), 400, BAD, "is not a dotted OID"),
        (json!({"lifetime_actions": [{"trigger": {}, "action": {"action_type": "AutoRenew"}}]}), 400, BAD, "needs exactly one of lifetime_percentage"),
        (json!({"lifetime_actions": [{"trigger": {"lifetime_percentage": 100}, "action": {"action_type": "AutoRenew"}}]}), 400, BAD, "needs exactly one of lifetime_percentage"),
        (json!({"x509_props": 5}), 400, BAD, "field 'x509_props'"),
        (json!({"issuer": {"name": "nosuchissuer"}}), 404, "CertificateIssuerNotFound", "certificate issuer \"nosuchissuer\" was not found"),
    ] {
        add("PATCH", h, &kv("/certificates/crt/policy"), B::Json(body), status, code, msg);
    }

    // Unknown versions, and names that are not there (or only deleted, or a plain key's).
    for (m, p) in [
        ("GET", format!("/certificates/crt/{unknown_v}")),
        ("PATCH", format!("/certificates/crt/{unknown_v}")),
        ("GET", format!("/certificates/crt/{}", s.ec_v1)),
        ("GET", "/certificates/crt/not-a-version".to_string()),
        ("PATCH", "/certificates/crt/not-a-version".to_string()),
        ("GET", format!("/certificates/crtgone/{v1}")),
        ("GET", format!("/certificates/imp/{}", c.crt_v2)),
        // Words of other routes, where a version or a name goes.
        ("GET", "/certificates/crt/create".to_string()),
        ("GET", "/certificates/crt/import".to_string()),
        ("GET", "/certificates/crt/backup".to_string()),
        ("PATCH", "/certificates/contacts".to_string()),
    ] {
        add(m, h, &kv(&p), B::Json(json!({"tags": {"a": "b"}})), 404, "CertificateNotFound", "was not found");
    }
    // A policy sent with an update of a version that is not there changes nothing either.
    add("PATCH", h, &kv(&format!("/certificates/crt/{unknown_v}")), B::Json(json!({"policy": {"x509_props": {"validity_months": 7}}})), 404, "CertificateNotFound", "was not found");
    for (m, p, msg) in [
        ("GET", "/certificates/nosuch", "(name/id) nosuch"),
        ("GET", "/certificates/crtgone", "(name/id) crtgone"),
        ("GET", "/certificates/ec", "(name/id) ec"),
        ("GET", "/certificates/sec", "(name/id) sec"),
        ("GET", "/certificates/restore", "(name/id) restore"),
        ("GET", "/certificates/nosuch/versions", "(name/id) nosuch"),
        ("GET", "/certificates/crtgone/versions", "(name/id) crtgone"),
        ("GET", "/certificates/nosuch/policy", "(name/id) nosuch"),
        ("PATCH", "/certificates/nosuch/policy", "(name/id) nosuch"),
        ("PATCH", "/certificates/crtgone/policy", "(name/id) crtgone"),
        ("PATCH", "/certificates/nosuch", "(name/id) nosuch"),
        ("PATCH", "/certificates/crtgone", "(name/id) crtgone"),
        ("DELETE", "/certificates/nosuch", "(name/id) nosuch"),
        ("DELETE", "/certificates/crtgone", "(name/id) crtgone"),
        ("DELETE", "/certificates/ec", "(name/id) ec"),
        ("POST", "/certificates/nosuch/backup", "(name/id) nosuch"),
        ("POST", "/certificates/crtgone/backup", "(name/id) crtgone"),
        ("POST", "/certificates/sec/backup", "(name/id) sec"),
    ] {
        let body = if m == "PATCH" { B::Json(json!({"tags": {"a": "b"}})) } else { B::None };
        add(m, h, &kv(p), body, 404, "CertificateNotFound", msg);
    }
    for (m, p, msg) in [
        ("GET", "/deletedcertificates/crt", "deleted certificate \"crt\" was not found"),
        ("DELETE", "/deletedcertificates/crt", "deleted certificate \"crt\" was not found"),
        ("POST", "/deletedcertificates/crt/recover", "deleted certificate \"crt\" was not found"),
        ("GET", "/deletedcertificates/nosuch", "deleted certificate \"nosuch\" was not found"),
        ("DELETE", "/deletedcertificates/nosuch", "deleted certificate \"nosuch\" was not found"),
        ("POST", "/deletedcertificates/nosuch/recover", "deleted certificate \"nosuch\" was not found"),
        ("GET", "/deletedcertificates/gone", "deleted certificate \"gone\" was not found"),
        ("GET", "/deletedcertificates/secgone", "deleted certificate \"secgone\" was not found"),
        // A deleted certificate in another vault is not reachable from this one.
        ("DELETE", "/deletedcertificates/ppcrt", "deleted certificate \"ppcrt\" was not found"),
        ("POST", "/deletedcertificates/ppcrt/recover", "deleted certificate \"ppcrt\" was not found"),
    ] {
        add(m, h, &kv(p), B::None, 404, "CertificateNotFound", msg);
    }
    add("DELETE", "ppkv.localhost", &kv("/deletedcertificates/ppcrt"), B::None, 403, "Forbidden", "cannot be purged before its scheduled purge date");

    // A certificate's key and secret change only with it: the keys and secrets APIs refuse.
    let managed_key = "this key's lifetime is managed by Key Vault";
    let managed_secret = "this secret's lifetime is managed by Key Vault";
    for (m, p, body, msg) in [
        ("POST", "/keys/crt/create".to_string(), B::Json(json!({"kty": "EC"})), managed_key),
        ("PUT", "/keys/crt".to_string(), B::Json(json!({"key": vector_jwk_json()})), managed_key),
        ("PATCH", "/keys/crt".to_string(), B::Json(json!({"tags": {"a": "b"}})), managed_key),
        ("PATCH", format!("/keys/crt/{v1}"), B::Json(json!({"attributes": {"enabled": false}})), managed_key),
        ("DELETE", "/keys/crt".to_string(), B::None, managed_key),
        ("POST", "/keys/crt/rotate".to_string(), B::None, managed_key),
        ("POST", "/deletedkeys/crtgone/recover".to_string(), B::None, managed_key),
        ("DELETE", "/deletedkeys/crtgone".to_string(), B::None, managed_key),
        ("PUT", "/secrets/crt".to_string(), B::Json(json!({"value": "v"})), managed_secret),
        ("PATCH", "/secrets/crt".to_string(), B::Json(json!({"tags": {"a": "b"}})), managed_secret),
        ("PATCH", format!("/secrets/crt/{v1}"), B::Json(json!({"contentType": "text/plain"})), managed_secret),
        ("DELETE", "/secrets/crt".to_string(), B::None, managed_secret),
        ("POST", "/deletedsecrets/crtgone/recover".to_string(), B::None, managed_secret),
        ("DELETE", "/deletedsecrets/crtgone".to_string(), B::None, managed_secret),
    ] {
        add(m, h, &kv(&p), body, 403, "Forbidden", msg);
    }
    // ...and under a deleted certificate's name, a new key or secret is a conflict.
    add("POST", h, &kv("/keys/crtgone/create"), B::Json(json!({"kty": "EC"})), 409, "Conflict", "deleted but recoverable");
    add("PUT", h, &kv("/secrets/crtgone"), B::Json(json!({"value": "v"})), 409, "Conflict", "deleted but recoverable");

    // Restore: garbage, another kind's backup, another store's, and conflicts; and a
    // certificate backup given to the keys or secrets API.
    for (body, status, code, msg) in [
        (json!({}), 400, BAD, "missing field `value`"),
        (json!({"value": 5}), 400, BAD, "field 'value'"),
        (json!({"value": "###"}), 400, BAD, "field 'value': invalid base64url"),
        (json!({"value": ""}), 400, BAD, "backup blob is not valid"),
        (json!({"value": b64(64)}), 400, BAD, "backup blob is not valid"),
        (json!({"value": b64(700_000)}), 400, BAD, "backup blob is not valid"),
        (json!({"value": s.ec_backup}), 400, BAD, "backup blob is not valid"),
        (json!({"value": s.sec_backup}), 400, BAD, "backup blob is not valid"),
        (json!({"value": s.secgone_backup}), 400, BAD, "backup blob is not valid"),
        (json!({"value": c.foreign_backup}), 400, BAD, "backup blob is not valid"),
        (json!({"value": c.crt_backup}), 409, "Conflict", "already exists"),
        (json!({"value": c.crtgone_backup}), 409, "Conflict", "deleted but recoverable"),
    ] {
        add("POST", h, &kv("/certificates/restore"), B::Json(body), status, code, msg);
    }
    for blob in [&c.crt_backup, &c.crtgone_backup, &c.foreign_backup] {
        add("POST", h, &kv("/keys/restore"), B::Json(json!({"value": blob})), 400, BAD, "backup blob is not valid");
        add("POST", h, &kv("/secrets/restore"), B::Json(json!({"value": blob})), 400, BAD, "backup blob is not valid");
    }

    // Contacts: none set is a 404; a contact needs an e-mail address.
    add("GET", h, &kv("/certificates/contacts"), B::None, 404, "ContactsNotFound", "this vault has no certificate contacts");
    add("DELETE", h, &kv("/certificates/contacts"), B::None, 404, "ContactsNotFound", "this vault has no certificate contacts");
    let many: Vec<Value> = (0..65).map(|i| json!({"email": format!("c{i}@example.test")})).collect();
    for (body, msg) in [
        (json!({"contacts": [{"name": "No Mail"}]}), "every contact needs an email address"),
        (json!({"contacts": [{"email": ""}]}), "every contact needs an email address"),
        (json!({"contacts": [{"email": "a@example.test"}, {"phone": "555"}]}), "every contact needs an email address"),
        (json!({"contacts": many}), "at most 64 contacts are allowed"),
        (json!({"contacts": 5}), "field 'contacts'"),
        (json!({"contacts": {"email": "a@example.test"}}), "field 'contacts'"),
        (json!({"contacts": [{"email": 5}]}), "field 'contacts[0].email'"),
        (json!({"contacts": ["a@example.test"]}), "field 'contacts[0]'"),
    ] {
        add("PUT", h, &kv("/certificates/contacts"), B::Json(body), 400, BAD, msg);
    }

    // Issuers: not there, reserved names, a provider required.
    for (m, body) in [("GET", B::None), ("PATCH", B::Json(json!({"provider": "Test"}))), ("DELETE", B::None)] {
        add(m, h, &kv("/certificates/issuers/nosuch"), body, 404, "CertificateIssuerNotFound", "certificate issuer \"nosuch\" was not found");
    }
    for (body, msg) in [
        (json!({}), "provider is required"),
        (json!({"provider": ""}), "provider is required"),
        (json!({"provider": " "}), "provider is required"),
        (json!({"provider": 5}), "field 'provider'"),
        (json!({"provider": "Test", "attributes": {"enabled": "yes"}}), "field 'attributes.enabled'"),
        (json!({"provider": "Test", "org_details": {"admin_details": {"email": "a@example.test"}}}), "field 'org_details.admin_details'"),
        (json!({"provider": "Test", "credentials": {"pwd": 5}}), "field 'credentials.pwd'"),
    ] {
        add("PUT", h, &kv("/certificates/issuers/newissuer"), B::Json(body), 400, BAD, msg);
    }
    for reserved in ["Self", "unknown"] {
        add("PUT", h, &kv(&format!("/certificates/issuers/{reserved}")), B::Json(json!({"provider": "Test"})), 400, BAD, &format!("\"{reserved}\" is a reserved issuer name"));
    }
    add("PATCH", h, &kv("/certificates/issuers/corp"), B::Json(json!({"provider": 5})), 400, BAD, "field 'provider'");

    // Listings.
    for p in ["/certificates", "/deletedcertificates", "/certificates/crt/versions", "/certificates/issuers"] {
        for (q, msg) in [
            ("maxresults=0", "maxresults must be an integer from 1 to 25, not \"0\""),
            ("maxresults=26", "maxresults must be an integer from 1 to 25"),
            ("maxresults=-1", "maxresults must be an integer from 1 to 25"),
            ("maxresults=ten", "maxresults must be an integer from 1 to 25, not \"ten\""),
            ("$skiptoken=***", "$skiptoken is not valid"),
            ("$skiptoken=%FF%FE", "$skiptoken is not valid"),
        ] {
            add("GET", h, &kv(&format!("{p}?{q}")), B::None, 400, BAD, msg);
        }
    }
    for q in ["includePending=maybe", "includePending=1", "includePending="] {
        add("GET", h, &kv(&format!("/certificates?{q}")), B::None, 400, BAD, "includePending must be true or false");
    }

    // Methods the table has no row for, and paths it does not know.
    for (m, p) in [
        ("POST", "/certificates".to_string()),
        ("PUT", "/certificates".to_string()),
        ("DELETE", "/certificates".to_string()),
        ("PUT", "/certificates/crt".to_string()),
        ("POST", "/certificates/crt".to_string()),
        ("PUT", "/certificates/crt/versions".to_string()),
        ("PUT", "/certificates/crt/policy".to_string()),
        ("POST", "/certificates/crt/pending".to_string()),
        ("GET", "/certificates/pend/pending/merge".to_string()),
        ("PUT", format!("/certificates/crt/{v1}")),
        ("DELETE", format!("/certificates/crt/{v1}")),
        ("POST", format!("/certificates/crt/{v1}")),
        ("POST", "/certificates/contacts".to_string()),
        ("POST", "/certificates/issuers".to_string()),
        ("POST", "/certificates/issuers/corp".to_string()),
        ("POST", "/deletedcertificates".to_string()),
        ("PUT", "/deletedcertificates/crtgone".to_string()),
        ("PATCH", "/deletedcertificates/crtgone".to_string()),
        ("POST", "/deletedcertificates/crtgone".to_string()),
        ("GET", "/deletedcertificates/crtgone/recover".to_string()),
        ("OPTIONS", "/certificates".to_string()),
    ] {
        add(m, h, &kv(&p), B::None, 405, "MethodNotAllowed", &format!("method {m} is not allowed"));
    }
    for p in ["/certificates/crt/v/frobnicate", "/certificates/crt/pending/merge/extra", "/certificates/issuers/corp/extra", "/deletedcertificates/crtgone/undelete", "/certificate"] {
        add("POST", h, &kv(p), B::Json(json!({})), 404, "NotFound", "no such resource");
    }
}

/// A private JWK to import over a certificate's key name (refused before it is read).
fn vector_jwk_json() -> Value {
    support::vector_key_json("ecdsa.json", "ec-p256")
}

/// The table: every route, every kind of bad input. Kept one row per line on purpose.
#[rustfmt::skip]
fn table(s: &Setup) -> Vec<Case> {
    let mut t = Vec::new();
    let each = std::cell::Cell::new(false);
    let mut add = |method: &'static str, host: &str, path: &str, body: B, status: u16, code: &'static str, msg: &str| {
        t.push(Case { method, host: host.to_string(), path: path.to_string(), body, status, code, msg: msg.to_string(), each: each.get() })
    };
    let h = "localhost";
    let ec1 = &s.ec_v1;
    let ec2 = &s.ec_v2;
    let octv = &s.oct_v;
    let rsav = &s.rsa_v;
    let unknown_v = "0123456789abcdef0123456789abcdef";
    let d32 = b64(32);

    // --- api-version, on every Key Vault route ---------------------------------------------
    for (m, p) in all_routes(s) {
        add(m, h, &format!("{p}?api-version=1.0"), B::Json(json!({})), 400, BAD, "api-version \"1.0\" is not supported");
        add(m, h, &format!("{p}?api-version=7.5.1"), B::Json(json!({})), 400, BAD, "api-version \"7.5.1\" is not supported");
        add(m, h, &format!("{p}?api-version="), B::Json(json!({})), 400, BAD, "is not supported");
        add(m, h, &p, B::Json(json!({})), 400, BAD, "api-version query parameter is required");
        add(m, h, &format!("{p}?api_version=7.5"), B::Json(json!({})), 400, BAD, "api-version query parameter is required");
    }

    // --- names Key Vault forbids and over-long names, on every route naming a key -----------
    let long = "a".repeat(128);
    let very_long = "k".repeat(5000);
    for bad in ["bad_name", "bad.name", "bad%20name", "b%C3%A4d", "bad~", long.as_str(), very_long.as_str()] {
        let shown = &bad[..bad.len().min(40)];
        for (m, p) in [
            ("GET", format!("/keys/{bad}")),
            ("PUT", format!("/keys/{bad}")),
            ("DELETE", format!("/keys/{bad}")),
            ("PATCH", format!("/keys/{bad}")),
            ("POST", format!("/keys/{bad}/create")),
            ("GET", format!("/keys/{bad}/versions")),
            ("POST", format!("/keys/{bad}/backup")),
            ("POST", format!("/keys/{bad}/rotate")),
            ("GET", format!("/keys/{bad}/{ec1}")),
            ("PATCH", format!("/keys/{bad}/{ec1}")),
            ("POST", format!("/keys/{bad}/{ec1}/sign")),
            ("POST", format!("/keys/{bad}//verify")),
            ("POST", format!("/keys/{bad}/{ec1}/encrypt")),
            ("POST", format!("/keys/{bad}/{ec1}/decrypt")),
            ("POST", format!("/keys/{bad}/{ec1}/wrapkey")),
            ("POST", format!("/keys/{bad}/{ec1}/unwrapkey")),
            ("GET", format!("/deletedkeys/{bad}")),
            ("DELETE", format!("/deletedkeys/{bad}")),
            ("POST", format!("/deletedkeys/{bad}/recover")),
        ] {
            // A body that would be valid for create, update and import alike.
            let body = B::Json(json!({"kty": "EC-HSM", "key": {"kty": "oct", "k": b64(16)}, "tags": {"a": "b"}}));
            add(m, h, &kv(&p), body, 400, BAD, &format!("key name \"{shown}"));
        }
    }
    add("POST", h, &kv("/keys//create"), B::Json(json!({"kty": "EC"})), 400, BAD, "key name \"\" is invalid");
    add("PUT", h, &kv("/keys/-"), B::Json(json!({"key": {"kty": "oct", "k": b64(16)}, "tags": tags(16)})), 400, BAD, "at most 15 tags");

    // --- another vault's host, a vault that does not exist, a deleted vault -----------------
    for (host, code, msg) in [
        ("other.localhost", "KeyNotFound", "(name/id) ec"),
        ("OTHER.localhost:8443", "KeyNotFound", "(name/id) ec"),
        ("nosuch.localhost", "VaultNotFound", "vault \"nosuch\" was not found"),
        ("ppgone.localhost:8443", "VaultNotFound", "vault \"ppgone\" was not found"),
    ] {
        for (m, p, body) in [
            ("GET", "/keys/ec".to_string(), B::None),
            ("DELETE", "/keys/ec".to_string(), B::None),
            ("PATCH", "/keys/ec".to_string(), B::Json(json!({"tags": {"x": "y"}}))),
            ("PATCH", format!("/keys/ec/{ec1}"), B::Json(json!({"attributes": {"enabled": false}}))),
            ("GET", "/keys/ec/versions".to_string(), B::None),
            ("GET", format!("/keys/ec/{ec1}"), B::None),
            ("POST", "/keys/ec/backup".to_string(), B::None),
            ("POST", "/keys/ec/rotate".to_string(), B::None),
            ("POST", format!("/keys/ec/{ec2}/sign"), B::Json(json!({"alg": "ES256", "value": d32}))),
            ("POST", "/keys/ec//verify".to_string(), B::Json(json!({"alg": "ES256", "digest": d32, "value": b64(64)}))),
            ("POST", format!("/keys/oct/{octv}/wrapkey"), B::Json(json!({"alg": "A256KW", "value": d32}))),
            ("POST", format!("/keys/oct/{octv}/encrypt"), B::Json(json!({"alg": "A256GCM", "value": d32}))),
        ] {
            let msg = if code == "KeyNotFound" && p.contains("/oct/") { "(name/id) oct" } else { msg };
            add(m, host, &kv(&p), body, 404, code, msg);
        }
        let gone_msg = if code == "KeyNotFound" { "deleted key \"gone\" was not found" } else { msg };
        add("GET", host, &kv("/deletedkeys/gone"), B::None, 404, code, gone_msg);
        add("DELETE", host, &kv("/deletedkeys/gone"), B::None, 404, code, gone_msg);
        add("POST", host, &kv("/deletedkeys/gone/recover"), B::None, 404, code, gone_msg);
    }
    for (host, msg) in [("nosuch.localhost", "vault \"nosuch\" was not found"), ("ppgone.localhost", "vault \"ppgone\" was not found")] {
        add("GET", host, &kv("/keys"), B::None, 404, "VaultNotFound", msg);
        add("GET", host, &kv("/deletedkeys"), B::None, 404, "VaultNotFound", msg);
        add("POST", host, &kv("/keys/fresh/create"), B::Json(json!({"kty": "EC"})), 404, "VaultNotFound", msg);
        add("PUT", host, &kv("/keys/fresh"), B::Json(json!({"key": {"kty": "oct", "k": b64(16)}})), 404, "VaultNotFound", msg);
        add("POST", host, &kv("/keys/restore"), B::Json(json!({"value": s.ec_backup})), 404, "VaultNotFound", msg);
        add("POST", host, &kv("/rng"), B::Json(json!({"count": 8})), 404, "VaultNotFound", msg);
    }
    // Vault kind `vault` refuses what Azure Key Vault refuses.
    add("POST", "other.localhost", &kv("/keys/fresh/create"), B::Json(json!({"kty": "oct-HSM"})), 400, BAD, "not supported in a vault of kind vault");
    add("PUT", "other.localhost", &kv("/keys/fresh"), B::Json(json!({"key": {"kty": "oct", "k": b64(32)}})), 400, BAD, "not supported in a vault of kind vault");
    add("POST", "other.localhost", &kv("/rng"), B::Json(json!({"count": 8})), 400, BAD, "random number generation is not supported");
    // A deleted key in another vault is not reachable from this one.
    add("DELETE", h, &kv("/deletedkeys/ppdel"), B::None, 404, "KeyNotFound", "deleted key \"ppdel\"");
    add("POST", h, &kv("/deletedkeys/ppdel/recover"), B::None, 404, "KeyNotFound", "deleted key \"ppdel\"");

    // --- body-level garbage, on every route that takes a body ------------------------------
    let garbage = || -> Vec<(B, u16, &'static str, &'static str)> {
        vec![
            (B::None, 400, BAD, "request body is empty"),
            (B::Raw(b"{".to_vec()), 400, BAD, "not valid JSON"),
            (B::Raw(b"not json".to_vec()), 400, BAD, "not valid JSON"),
            (B::Raw(b"{\"kty\": \"EC\",}".to_vec()), 400, BAD, "not valid JSON"),
            (B::Raw(b"{'kty': 'EC'}".to_vec()), 400, BAD, "not valid JSON"),
            (B::Raw(b"\xff\xfe\x00{".to_vec()), 400, BAD, "not valid JSON"),
            (B::Raw(b"{\"value\": \"\xff\"}".to_vec()), 400, BAD, "not valid JSON"),
            (B::Raw(format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes()), 400, BAD, "not valid JSON: recursion limit exceeded"),
            (B::Raw(format!("{}1{}", "{\"a\":".repeat(3000), "}".repeat(3000)).into_bytes()), 400, BAD, "not valid JSON: recursion limit exceeded"),
            (B::Raw(b"{} {}".to_vec()), 400, BAD, "not valid JSON: trailing characters"),
            (B::Raw(b"{\"count\": 1} trailing".to_vec()), 400, BAD, "not valid JSON: trailing characters"),
            (B::Json(json!([])), 400, BAD, "a JSON object is required, not an array"),
            (B::Json(json!(["RS256", "AAAA"])), 400, BAD, "a JSON object is required, not an array"),
            (B::Json(json!("text")), 400, BAD, "a JSON object is required, not a string"),
            (B::Json(json!(42)), 400, BAD, "a JSON object is required, not a number"),
            (B::Json(json!(true)), 400, BAD, "a JSON object is required, not a boolean"),
            (B::Json(Value::Null), 400, BAD, "a JSON object is required, not null"),
            (B::Raw(vec![b' '; localhsm::server::MAX_BODY_BYTES + 1]), 413, "RequestTooLarge", "exceeds 1048576 bytes"),
        ]
    };
    for (m, p) in body_routes(s) {
        for (body, status, code, msg) in garbage() {
            add(m, h, &kv(&p), body, status, code, msg);
        }
    }
    for (m, p) in management_body_routes() {
        for (body, status, code, msg) in garbage() {
            add(m, h, p, body, status, code, msg);
        }
    }

    // --- create ---------------------------------------------------------------------------
    let create = "/keys/ec/create";
    for (body, msg) in [
        (json!({}), "missing field `kty`"),
        (json!({"crv": "P-256"}), "missing field `kty`"),
        (json!({"kty": 1}), "field 'kty'"),
        (json!({"kty": "DSA"}), "unknown key type \"DSA\""),
        (json!({"kty": "ec"}), "unknown key type \"ec\""),
        (json!({"kty": "EC", "crv": "P-999"}), "unknown curve \"P-999\""),
        (json!({"kty": "EC", "crv": 256}), "field 'crv'"),
        (json!({"kty": "EC", "key_size": 256}), "key_size does not apply to EC keys"),
        (json!({"kty": "RSA", "key_size": 1024}), "RSA key_size must be 2048, 3072 or 4096, not 1024"),
        (json!({"kty": "RSA", "key_size": "2048"}), "field 'key_size'"),
        (json!({"kty": "RSA", "key_size": -2048}), "field 'key_size'"),
        (json!({"kty": "RSA", "public_exponent": 3}), "public_exponent must be 65537"),
        (json!({"kty": "RSA", "crv": "P-256"}), "crv does not apply to RSA keys"),
        (json!({"kty": "oct-HSM", "key_size": 512}), "oct key_size must be 128, 192 or 256, not 512"),
        (json!({"kty": "EC", "key_ops": "sign"}), "field 'key_ops'"),
        (json!({"kty": "EC", "key_ops": ["sign", "fly"]}), "unknown key operation \"fly\""),
        (json!({"kty": "EC", "attributes": []}), "field 'attributes'"),
        (json!({"kty": "EC", "attributes": {"enabled": "yes"}}), "field 'attributes.enabled'"),
        (json!({"kty": "EC", "attributes": {"exp": -1}}), "field 'attributes.exp'"),
        (json!({"kty": "EC", "attributes": {"nbf": 1.5}}), "field 'attributes.nbf'"),
        (json!({"kty": "EC", "attributes": {"nbf": 200, "exp": 100}}), "nbf must be earlier than exp"),
        (json!({"kty": "EC", "tags": []}), "field 'tags'"),
        (json!({"kty": "EC", "tags": {"a": 1}}), "field 'tags.a'"),
        (json!({"kty": "EC", "tags": tags(16)}), "at most 15 tags are allowed, got 16"),
        (json!({"kty": "EC", "tags": {"": "v"}}), "tag names must be 1 to 512 characters"),
        (json!({"kty": "EC", "tags": {"k".repeat(513): "v"}}), "tag names must be 1 to 512 characters"),
        (json!({"kty": "EC", "tags": {"k": "v".repeat(257)}}), "values must be at most 256 characters"),
    ] {
        add("POST", h, &kv(create), B::Json(body), 400, BAD, msg);
    }
    add("POST", h, &kv(create), B::Raw(br#"{"kty":"EC","kty":"RSA"}"#.to_vec()), 400, BAD, "duplicate field `kty`");
    add("POST", h, &kv("/keys/gone/create"), B::Json(json!({"kty": "EC-HSM"})), 409, "Conflict", "deleted but recoverable");

    // --- import -----------------------------------------------------------------------------
    let import = "/keys/newkey";
    let ec_jwk = support::vector_key_json("ecdsa.json", "ec-p256");
    let mut off_curve = ec_jwk.clone();
    off_curve["y"] = json!(b64url_encode(&[7u8; 32]));
    for (body, msg) in [
        (json!({}), "missing field `key`"),
        (json!({"key": "jwk"}), "field 'key'"),
        (json!({"key": {}}), "no private members"),
        (json!({"key": {"kty": "EC", "crv": "P-256", "x": ec_jwk["x"], "y": ec_jwk["y"]}}), "no private members"),
        (json!({"key": {"k": b64(32)}}), "JWK member kty is required"),
        (json!({"key": {"kty": "oct", "k": "***"}}), "field 'key.k': invalid base64url"),
        (json!({"key": {"kty": "oct", "k": "A"}}), "field 'key.k': invalid base64url"),
        (json!({"key": {"kty": "oct", "k": "AB"}}), "field 'key.k': invalid base64url"),
        (json!({"key": {"kty": "oct", "k": "AA=A"}}), "field 'key.k': invalid base64url"),
        (json!({"key": {"kty": "oct", "k": "+/+/+/+/+/+/+/+/+/+/+w"}}), "field 'key.k': invalid base64url"),
        (json!({"key": {"kty": "oct", "k": 5}}), "field 'key.k'"),
        (json!({"key": {"kty": "oct", "k": b64(15)}}), "oct key must be 16, 24 or 32 bytes"),
        (json!({"key": {"kty": "oct", "k": b64(300_000)}}), "oct key must be 16, 24 or 32 bytes"),
        (json!({"key": {"kty": "oct", "d": b64(32)}}), "JWK member k is required"),
        (json!({"key": {"kty": "EC", "d": ec_jwk["d"]}}), "JWK member crv is required"),
        (json!({"key": {"kty": "EC", "crv": "P-384", "d": ec_jwk["d"]}}), "not a valid P-384 scalar"),
        (json!({"key": {"kty": "EC", "crv": "P-256", "d": b64url_encode(&[0u8; 32])}}), "not a valid P-256 scalar"),
        (json!({"key": {"kty": "EC", "crv": "P-256", "d": b64url_encode(&[0xffu8; 32])}}), "not a valid P-256 scalar"),
        (json!({"key": {"kty": "EC", "crv": "P-256", "d": ec_jwk["d"], "x": ec_jwk["x"]}}), "x and y"),
        (json!({"key": off_curve}), "not a point on P-256"),
        (json!({"key": {"kty": "RSA", "d": b64(256)}}), "JWK member n is required"),
        (json!({"key": {"kty": "oct", "k": b64(16), "key_hsm": b64(10)}}), "key_hsm"),
        (json!({"key": {"kty": "oct", "k": b64(16), "key_ops": ["fly"]}}), "unknown key operation \"fly\""),
        (json!({"key": {"kty": "oct", "k": b64(16)}, "Hsm": "yes"}), "field 'Hsm'"),
        (json!({"key": {"kty": "oct", "k": b64(16)}, "tags": tags(16)}), "at most 15 tags"),
        (json!({"key": {"kty": "oct", "k": b64(16)}, "attributes": {"exp": "soon"}}), "field 'attributes.exp'"),
        (json!({"key": {"kty": "oct", "k": b64(16)}, "attributes": {"nbf": 9, "exp": 9}}), "nbf must be earlier than exp"),
    ] {
        add("PUT", h, &kv(import), B::Json(body), 400, BAD, msg);
    }
    add("PUT", h, &kv("/keys/gone"), B::Json(json!({"key": {"kty": "oct", "k": b64(16)}})), 409, "Conflict", "deleted but recoverable");

    // --- update (current version and a named one) -------------------------------------------
    for path in ["/keys/ec".to_string(), format!("/keys/ec/{ec1}")] {
        for (body, msg) in [
            (json!({"tags": tags(16)}), "at most 15 tags are allowed"),
            (json!({"tags": {"k".repeat(513): "v"}}), "tag names must be 1 to 512"),
            (json!({"tags": {"": "v"}}), "tag names must be 1 to 512"),
            (json!({"tags": {"k": "v".repeat(257)}}), "at most 256 characters"),
            (json!({"tags": {"k": null}}), "field 'tags.k'"),
            (json!({"tags": "a=b"}), "field 'tags'"),
            (json!({"attributes": {"enabled": "no"}}), "field 'attributes.enabled'"),
            (json!({"attributes": {"enabled": 0}}), "field 'attributes.enabled'"),
            (json!({"attributes": {"exp": "2030-01-01"}}), "field 'attributes.exp'"),
            (json!({"attributes": {"nbf": 10, "exp": 5}}), "nbf must be earlier than exp"),
            (json!({"key_ops": ["sign", 5]}), "field 'key_ops[1]'"),
            (json!({"key_ops": ["SIGN"]}), "unknown key operation \"SIGN\""),
        ] {
            add("PATCH", h, &kv(&path), B::Json(body), 400, BAD, msg);
        }
    }
    for (m, p) in [
        ("PATCH", format!("/keys/ec/{unknown_v}")),
        ("GET", format!("/keys/ec/{unknown_v}")),
        ("PATCH", format!("/keys/ec/{octv}")),
        ("GET", format!("/keys/ec/{octv}")),
        ("GET", "/keys/ec/not-a-version".to_string()),
        ("PATCH", "/keys/ec/not-a-version".to_string()),
        ("GET", "/keys/ec/create".to_string()),
    ] {
        add(m, h, &kv(&p), B::Json(json!({"tags": {"a": "b"}})), 404, "KeyNotFound", "was not found");
    }
    add("PATCH", h, &kv("/keys/gone"), B::Json(json!({"tags": {"a": "b"}})), 404, "KeyNotFound", "(name/id) gone");
    add("PATCH", h, &kv("/keys/nokey"), B::Json(json!({"tags": {"a": "b"}})), 404, "KeyNotFound", "(name/id) nokey");

    // --- sign / verify ------------------------------------------------------------------------
    for path in [format!("/keys/ec/{ec2}/sign"), "/keys/ec//sign".to_string()] {
        for (body, msg) in [
            (json!({}), "missing field `alg`"),
            (json!({"alg": "ES256"}), "missing field `value`"),
            (json!({"alg": "XS256", "value": d32}), "unknown signature algorithm \"XS256\""),
            (json!({"alg": "es256", "value": d32}), "unknown signature algorithm \"es256\""),
            (json!({"alg": 256, "value": d32}), "field 'alg'"),
            (json!({"alg": "ES256", "value": "not base64!"}), "field 'value': invalid base64url"),
            (json!({"alg": "ES256", "value": "AAAAA"}), "field 'value': invalid base64url"),
            (json!({"alg": "ES256", "value": [1, 2]}), "field 'value'"),
            (json!({"alg": "ES256", "value": b64(31)}), "digest must be 32 bytes for ES256, got 31"),
            (json!({"alg": "ES256", "value": b64(33)}), "digest must be 32 bytes for ES256, got 33"),
            (json!({"alg": "ES256", "value": ""}), "digest must be 32 bytes for ES256, got 0"),
            (json!({"alg": "ES256", "value": b64(600_000)}), "digest must be 32 bytes for ES256, got 600000"),
            (json!({"alg": "ES384", "value": b64(48)}), "ES384 is not supported for an EC P-256 key"),
            (json!({"alg": "RS256", "value": d32}), "RS256 is not supported"),
        ] {
            add("POST", h, &kv(&path), B::Json(body), 400, BAD, msg);
        }
    }
    for path in [format!("/keys/ec/{ec2}/verify"), "/keys/ec//verify".to_string()] {
        for (body, msg) in [
            (json!({"alg": "ES256", "value": b64(64)}), "missing field `digest`"),
            (json!({"alg": "ES256", "digest": d32}), "missing field `value`"),
            (json!({"alg": "PS999", "digest": d32, "value": b64(64)}), "unknown signature algorithm \"PS999\""),
            (json!({"alg": "ES256", "digest": "%%%", "value": b64(64)}), "field 'digest': invalid base64url"),
            (json!({"alg": "ES256", "digest": d32, "value": "%%%"}), "field 'value': invalid base64url"),
            (json!({"alg": "ES256", "digest": b64(20), "value": b64(64)}), "digest must be 32 bytes for ES256, got 20"),
            (json!({"alg": "ES512", "digest": b64(64), "value": b64(132)}), "ES512 is not supported for an EC P-256 key"),
        ] {
            add("POST", h, &kv(&path), B::Json(body), 400, BAD, msg);
        }
    }
    add("POST", h, &kv(&format!("/keys/rsa/{rsav}/sign")), B::Json(json!({"alg": "PS256", "value": b64(48)})), 400, BAD, "digest must be 32 bytes for PS256, got 48");
    add("POST", h, &kv(&format!("/keys/rsa/{rsav}/sign")), B::Json(json!({"alg": "ES256", "value": d32})), 400, BAD, "ES256 is not supported for an RSA key");
    add("POST", h, &kv(&format!("/keys/rsa/{rsav}/sign")), B::Json(json!({"alg": "RSNULL", "value": b64(246)})), 400, BAD, "this key signs at most 245 bytes with PKCS#1 v1.5 padding");
    add("POST", h, &kv(&format!("/keys/ec/{ec2}/sign")), B::Json(json!({"alg": "RSNULL", "value": d32})), 400, BAD, "algorithm RSNULL is not supported for an EC key");
    add("POST", h, &kv(&format!("/keys/ec/{ec2}/verify")), B::Json(json!({"alg": "RSNULL", "digest": d32, "value": b64(64)})), 400, BAD, "algorithm RSNULL is not supported for an EC key");
    add("POST", h, &kv(&format!("/keys/oct/{octv}/sign")), B::Json(json!({"alg": "ES256", "value": d32})), 403, "Forbidden", "not permitted by this key's key_ops");
    for (p, body) in [
        (format!("/keys/ec/{unknown_v}/sign"), json!({"alg": "ES256", "value": d32})),
        (format!("/keys/ec/{octv}/verify"), json!({"alg": "ES256", "digest": d32, "value": b64(64)})),
        ("/keys/nokey//sign".to_string(), json!({"alg": "ES256", "value": d32})),
        (format!("/keys/gone/{ec1}/sign"), json!({"alg": "ES256", "value": d32})),
    ] {
        add("POST", h, &kv(&p), B::Json(body), 404, "KeyNotFound", "was not found");
    }

    // --- encrypt / decrypt / wrap / unwrap ------------------------------------------------------
    for key in [format!("oct/{octv}"), format!("rsa/{rsav}")] {
        for op in ["encrypt", "decrypt", "wrapkey", "unwrapkey"] {
            let p = kv(&format!("/keys/{key}/{op}"));
            let kind = if op.contains("wrap") { "key wrap algorithm" } else { "encryption algorithm" };
            add("POST", h, &p, B::Json(json!({"value": d32})), 400, BAD, "missing field `alg`");
            add("POST", h, &p, B::Json(json!({"alg": "RSA-OAEP"})), 400, BAD, "missing field `value`");
            add("POST", h, &p, B::Json(json!({"alg": "ROT13", "value": d32})), 400, BAD, &format!("alg: unknown {kind} \"ROT13\""));
            add("POST", h, &p, B::Json(json!({"alg": "A256GCM ", "value": d32})), 400, BAD, &format!("unknown {kind}"));
            add("POST", h, &p, B::Json(json!({"alg": ["RSA-OAEP"], "value": d32})), 400, BAD, "field 'alg'");
            add("POST", h, &p, B::Json(json!({"alg": "RSA-OAEP", "value": "@@@@"})), 400, BAD, "field 'value': invalid base64url");
            add("POST", h, &p, B::Json(json!({"alg": "RSA-OAEP", "value": d32, "iv": "a b"})), 400, BAD, "field 'iv': invalid base64url");
            add("POST", h, &p, B::Json(json!({"alg": "RSA-OAEP", "value": d32, "tag": 7})), 400, BAD, "field 'tag'");
            add("POST", h, &p, B::Json(json!({"alg": "RSA-OAEP", "value": d32, "aad": "A"})), 400, BAD, "field 'aad': invalid base64url");
        }
    }
    let oct = |op: &str| kv(&format!("/keys/oct/{octv}/{op}"));
    let rsa = |op: &str| kv(&format!("/keys/rsa/{rsav}/{op}"));
    for (path, body, msg) in [
        (oct("encrypt"), json!({"alg": "A128GCM", "value": d32}), "A128GCM is not supported for a 256-bit oct key"),
        (oct("encrypt"), json!({"alg": "RSA-OAEP", "value": d32}), "RSA-OAEP is not supported for an oct key"),
        (oct("encrypt"), json!({"alg": "A256GCM", "value": d32, "iv": b64(16)}), "iv must be 12 bytes, got 16"),
        (oct("encrypt"), json!({"alg": "A256CBC", "value": b64(17)}), "multiple of 16 bytes"),
        (oct("encrypt"), json!({"alg": "A256CBCPAD", "value": d32, "iv": b64(12)}), "iv must be 16 bytes, got 12"),
        (oct("encrypt"), json!({"alg": "A256CBCPAD", "value": d32, "aad": b64(4)}), "does not take additional authenticated data"),
        (oct("decrypt"), json!({"alg": "A256GCM", "value": d32}), "iv is required for A256GCM"),
        (oct("decrypt"), json!({"alg": "A256GCM", "value": d32, "iv": b64(12)}), "tag is required for A256GCM"),
        (oct("decrypt"), json!({"alg": "A256GCM", "value": d32, "iv": b64(12), "tag": b64(15)}), "tag must be 16 bytes for A256GCM, got 15"),
        (oct("decrypt"), json!({"alg": "A256GCM", "value": d32, "iv": b64(12), "tag": b64(16)}), "cryptographic operation failed"),
        (oct("decrypt"), json!({"alg": "A256CBC", "value": b64(20), "iv": b64(16)}), "non-zero multiple of 16 bytes"),
        (oct("decrypt"), json!({"alg": "A256CBCPAD", "value": s.bad_padding, "iv": b64(16)}), "cryptographic operation failed"),
        (oct("decrypt"), json!({"alg": "A192CBC", "value": d32, "iv": b64(16)}), "A192CBC is not supported for a 256-bit oct key"),
        (oct("wrapkey"), json!({"alg": "A256KW", "value": b64(15)}), "at least 16 bytes, in multiples of 8"),
        (oct("wrapkey"), json!({"alg": "A256KW", "value": b64(20)}), "at least 16 bytes, in multiples of 8"),
        (oct("wrapkey"), json!({"alg": "A128KW", "value": d32}), "A128KW is not supported for a 256-bit oct key"),
        (oct("wrapkey"), json!({"alg": "RSA1_5", "value": d32}), "RSA1_5 is not supported for an oct key"),
        (oct("unwrapkey"), json!({"alg": "A256KW", "value": b64(16)}), "at least 24 bytes"),
        (oct("unwrapkey"), json!({"alg": "A256KW", "value": b64(41)}), "at least 24 bytes, in multiples of 8"),
        (oct("unwrapkey"), json!({"alg": "A256KW", "value": b64(40)}), "cryptographic operation failed"),
        (rsa("encrypt"), json!({"alg": "RSA-OAEP", "value": b64(215)}), "plaintext is too long"),
        (rsa("encrypt"), json!({"alg": "RSA1_5", "value": b64(600_000)}), "plaintext is too long"),
        (rsa("encrypt"), json!({"alg": "A256GCM", "value": d32}), "A256GCM is not supported for an RSA key"),
        (rsa("decrypt"), json!({"alg": "RSA-OAEP", "value": d32}), "ciphertext must be 256 bytes for this RSA key, got 32"),
        (rsa("decrypt"), json!({"alg": "RSA-OAEP-256", "value": b64(256)}), "cryptographic operation failed"),
        (rsa("wrapkey"), json!({"alg": "A256KW", "value": d32}), "A256KW is not supported for an RSA key"),
        (rsa("wrapkey"), json!({"alg": "RSA-OAEP-256", "value": b64(300)}), "plaintext is too long"),
        (rsa("unwrapkey"), json!({"alg": "RSA1_5", "value": b64(255)}), "ciphertext must be 256 bytes"),
    ] {
        add("POST", h, &path, B::Json(body), 400, BAD, msg);
    }
    add("POST", h, &kv(&format!("/keys/ec/{ec2}/encrypt")), B::Json(json!({"alg": "RSA-OAEP", "value": d32})), 403, "Forbidden", "not permitted by this key's key_ops");
    add("POST", h, &kv(&format!("/keys/ec/{ec2}/unwrapkey")), B::Json(json!({"alg": "A256KW", "value": b64(40)})), 403, "Forbidden", "not permitted by this key's key_ops");
    add("POST", h, &kv(&format!("/keys/oct/{unknown_v}/wrapkey")), B::Json(json!({"alg": "A256KW", "value": d32})), 404, "KeyNotFound", unknown_v);

    // --- restore, backup, rotate, delete, deleted keys --------------------------------------
    for (body, status, code, msg) in [
        (json!({}), 400, BAD, "missing field `value`"),
        (json!({"value": 5}), 400, BAD, "field 'value'"),
        (json!({"value": "###"}), 400, BAD, "field 'value': invalid base64url"),
        (json!({"value": ""}), 400, BAD, "backup blob is not valid"),
        (json!({"value": b64(64)}), 400, BAD, "backup blob is not valid"),
        (json!({"value": b64(700_000)}), 400, BAD, "backup blob is not valid"),
        (json!({"value": s.foreign_backup}), 400, BAD, "backup blob is not valid"),
        (json!({"value": s.ec_backup}), 409, "Conflict", "already exists"),
        (json!({"value": s.gone_backup}), 409, "Conflict", "deleted but recoverable"),
    ] {
        add("POST", h, &kv("/keys/restore"), B::Json(body), status, code, msg);
    }
    for (m, p, status, code, msg) in [
        ("POST", "/keys/nokey/backup", 404, "KeyNotFound", "(name/id) nokey"),
        ("POST", "/keys/gone/backup", 404, "KeyNotFound", "(name/id) gone"),
        ("POST", "/keys/nokey/rotate", 404, "KeyNotFound", "(name/id) nokey"),
        ("POST", "/keys/gone/rotate", 404, "KeyNotFound", "(name/id) gone"),
        ("GET", "/keys/gone", 404, "KeyNotFound", "(name/id) gone"),
        ("GET", "/keys/gone/versions", 404, "KeyNotFound", "(name/id) gone"),
        ("DELETE", "/keys/nokey", 404, "KeyNotFound", "(name/id) nokey"),
        ("DELETE", "/keys/gone", 404, "KeyNotFound", "(name/id) gone"),
        ("GET", "/deletedkeys/ec", 404, "KeyNotFound", "deleted key \"ec\""),
        ("DELETE", "/deletedkeys/ec", 404, "KeyNotFound", "deleted key \"ec\""),
        ("POST", "/deletedkeys/ec/recover", 404, "KeyNotFound", "deleted key \"ec\""),
        ("DELETE", "/deletedkeys/nokey", 404, "KeyNotFound", "deleted key \"nokey\""),
    ] {
        add(m, h, &kv(p), B::None, status, code, msg);
    }
    add("DELETE", "pp.localhost", &kv("/deletedkeys/ppdel"), B::None, 403, "Forbidden", "cannot be purged before its scheduled purge date");

    // --- listings -------------------------------------------------------------------------------
    for p in ["/keys", "/deletedkeys", "/keys/ec/versions"] {
        for (q, msg) in [
            ("maxresults=0", "maxresults must be an integer from 1 to 25, not \"0\""),
            ("maxresults=26", "maxresults must be an integer from 1 to 25"),
            ("maxresults=-1", "maxresults must be an integer from 1 to 25"),
            ("maxresults=ten", "maxresults must be an integer from 1 to 25, not \"ten\""),
            ("$skiptoken=***", "$skiptoken is not valid"),
            ("$skiptoken=%FF%FE", "$skiptoken is not valid"),
        ] {
            add("GET", h, &kv(&format!("{p}?{q}")), B::None, 400, BAD, msg);
        }
    }
    add("GET", h, &kv(&format!("/keys/ec/versions?$skiptoken={}", b64url_encode(b"x"))), B::None, 400, BAD, "continuation token");

    // --- rng ----------------------------------------------------------------------------------
    for (body, msg) in [
        (json!({}), "missing field `count`"),
        (json!({"count": 0}), "count must be 1 to 128, not 0"),
        (json!({"count": 129}), "count must be 1 to 128, not 129"),
        (json!({"count": 18_446_744_073_709_551_615u64}), "count must be 1 to 128"),
        (json!({"count": -1}), "field 'count'"),
        (json!({"count": "8"}), "field 'count'"),
        (json!({"count": 8.5}), "field 'count'"),
    ] {
        add("POST", h, &kv("/rng"), B::Json(body), 400, BAD, msg);
    }

    // --- methods and unknown routes -------------------------------------------------------------
    for (m, p) in [
        ("PUT", "/keys".to_string()),
        ("DELETE", "/keys".to_string()),
        ("POST", "/keys/ec".to_string()),
        ("PUT", "/keys/ec/versions".to_string()),
        ("DELETE", format!("/keys/ec/{ec1}")),
        ("GET", format!("/keys/ec/{ec1}/sign")),
        ("PUT", "/deletedkeys/gone".to_string()),
        ("GET", "/deletedkeys/gone/recover".to_string()),
        ("GET", "/rng".to_string()),
        ("OPTIONS", "/keys".to_string()),
    ] {
        add(m, h, &kv(&p), B::None, 405, "MethodNotAllowed", &format!("method {m} is not allowed"));
    }
    for p in ["/", "/keys/ec/v/frobnicate", "/keys/ec/v/sign/extra", "/deletedkeys/gone/undelete", "/secrets/sec/v/frobnicate", "/secrets/sec/backup/extra", "/deletedsecrets/secgone/undelete"] {
        add("POST", h, &kv(p), B::Json(json!({})), 404, "NotFound", "no such resource");
    }

    secret_table(s, &mut add);
    each.set(true);
    cert_table(s, &mut add);
    each.set(false);

    // --- management -------------------------------------------------------------------------------
    for (body, status, code, msg) in [
        (json!({}), 400, BAD, "missing field `name`"),
        (json!({"name": 5}), 400, BAD, "field 'name'"),
        (json!({"name": "bad_name"}), 400, BAD, "vault name \"bad_name\" is invalid"),
        (json!({"name": ""}), 400, BAD, "vault name \"\" is invalid"),
        (json!({"name": "-dash"}), 400, BAD, "vault name \"-dash\" is invalid"),
        (json!({"name": "v".repeat(64)}), 400, BAD, "vault name"),
        (json!({"name": "fresh", "kind": "cloud"}), 400, BAD, "field 'kind'"),
        (json!({"name": "fresh", "retentionDays": 6}), 400, BAD, "retention must be 7 to 90 days, not 6"),
        (json!({"name": "fresh", "retentionDays": 91}), 400, BAD, "retention must be 7 to 90 days, not 91"),
        (json!({"name": "fresh", "retentionDays": -7}), 400, BAD, "field 'retentionDays'"),
        (json!({"name": "fresh", "purgeProtection": "on"}), 400, BAD, "field 'purgeProtection'"),
        (json!({"name": "fresh", "colour": "blue"}), 400, BAD, "unknown field `colour`"),
        (json!({"name": "other"}), 409, "Conflict", "already exists"),
        (json!({"name": "OTHER"}), 409, "Conflict", "already exists"),
        (json!({"name": "ppgone"}), 409, "Conflict", "deleted but recoverable"),
    ] {
        add("POST", h, "/management/vaults", B::Json(body), status, code, msg);
    }
    for (m, p, body, status, code, msg) in [
        ("PATCH", "/management/vaults/pp", json!({"purgeProtection": false}), 400, BAD, "cannot be disabled"),
        ("PATCH", "/management/vaults/other", json!({"purgeProtection": 1}), 400, BAD, "field 'purgeProtection'"),
        ("PATCH", "/management/vaults/other", json!({"retentionDays": 7}), 400, BAD, "unknown field `retentionDays`"),
        ("POST", "/management/vaults/other/recover", Value::Null, 404, "VaultNotFound", "deleted vault \"other\""),
        ("POST", "/management/vaults/nosuch/recover", Value::Null, 404, "VaultNotFound", "deleted vault \"nosuch\""),
        ("GET", "/management/deletedvaults/other", Value::Null, 404, "VaultNotFound", "deleted vault \"other\""),
        ("GET", "/management/deletedvaults/nosuch", Value::Null, 404, "VaultNotFound", "\"nosuch\""),
        ("DELETE", "/management/deletedvaults/other", Value::Null, 404, "VaultNotFound", "deleted vault \"other\""),
        ("DELETE", "/management/deletedvaults/ppgone", Value::Null, 403, "Forbidden", "cannot be purged before its scheduled purge date"),
        ("POST", "/management/time-shift", json!({}), 400, BAD, "missing field `seconds`"),
        ("POST", "/management/time-shift", json!({"seconds": -60}), 400, BAD, "field 'seconds'"),
        ("POST", "/management/time-shift", json!({"seconds": "60"}), 400, BAD, "field 'seconds'"),
        ("POST", "/management/time-shift", json!({"seconds": 1.5}), 400, BAD, "field 'seconds'"),
        ("POST", "/management/time-shift", json!({"seconds": 60, "days": 1}), 400, BAD, "unknown field `days`"),
        ("GET", "/management/frobnicate", Value::Null, 404, "NotFound", "no such resource"),
        ("GET", "/management/vaults/other/keys", Value::Null, 404, "NotFound", "no such resource"),
        // Access logs and their settings.
        ("GET", "/management/vaults/nosuch/accesslog", Value::Null, 404, "VaultNotFound", "vault \"nosuch\""),
        ("GET", "/management/vaults/other/accesslog?limit=ten", Value::Null, 400, BAD, "limit must be a number"),
        ("GET", "/management/vaults/other/accesslog?since=yesterday", Value::Null, 400, BAD, "since must be Unix seconds"),
        ("PATCH", "/management/vaults/other", json!({"accessLog": "yes"}), 400, BAD, "field 'accessLog'"),
        ("PATCH", "/management/vaults/other", json!({"logRetentionDays": 0}), 400, BAD, "log retention must be 1 to 365 days, not 0"),
        ("PATCH", "/management/vaults/other", json!({"logRetentionDays": 366}), 400, BAD, "log retention must be 1 to 365 days, not 366"),
        ("PATCH", "/management/vaults/other", json!({"purgeProtection": true, "logRetentionDays": 0}), 400, BAD, "log retention must be 1 to 365 days"),
        ("PATCH", "/management/vaults/other", json!({"accessLog": true, "logRetentionDays": -1}), 400, BAD, "field 'logRetentionDays'"),
        ("PATCH", "/management/vaults/pp", json!({"purgeProtection": false, "accessLog": true}), 400, BAD, "cannot be disabled"),
        ("PATCH", "/management/vaults/nosuch", json!({"accessLog": true}), 404, "VaultNotFound", "vault \"nosuch\""),
        // Customer-data requests: exactly one well-formed subject.
        ("POST", "/management/customer-data/export", json!({}), 400, BAD, "name exactly one of principal, upn, deviceId or tag"),
        ("POST", "/management/customer-data/export", json!({"principal": "a", "upn": "b"}), 400, BAD, "name exactly one of"),
        ("POST", "/management/customer-data/delete", json!({}), 400, BAD, "name exactly one of"),
        ("POST", "/management/customer-data/delete", json!({"tag": "novalue"}), 400, BAD, "tag \"novalue\" must be written key=value"),
        ("POST", "/management/customer-data/delete", json!({"tag": "=v"}), 400, BAD, "must be written key=value"),
        ("POST", "/management/customer-data/delete", json!({"deviceId": 5}), 400, BAD, "field 'deviceId'"),
        ("POST", "/management/customer-data/delete", json!({"principal": "p", "subject": "x"}), 400, BAD, "unknown field `subject`"),
        ("POST", "/management/customer-data/forget", json!({"principal": "p"}), 404, "NotFound", "no such resource"),
    ] {
        let body = if body.is_null() { B::None } else { B::Json(body) };
        add(m, h, p, body, status, code, msg);
    }
    // A vault that is not there, or is deleted, is not found by the routes for live vaults.
    for v in ["nosuch", "ppgone"] {
        let p = format!("/management/vaults/{v}");
        for (m, body) in [("PATCH", B::Json(json!({"purgeProtection": true}))), ("GET", B::None), ("DELETE", B::None)] {
            add(m, h, &p, body, 404, "VaultNotFound", &format!("vault \"{v}\""));
        }
    }
    for (m, p) in [
        ("PUT", "/management/vaults"),
        ("POST", "/management/vaults/other"),
        ("GET", "/management/time-shift"),
        ("PUT", "/management/deletedvaults"),
        ("POST", "/management/vaults/other/accesslog"),
        ("GET", "/management/customer-data/delete"),
        ("DELETE", "/management/customer-data/export"),
    ] {
        add(m, h, p, B::None, 405, "MethodNotAllowed", &format!("method {m} is not allowed"));
    }

    // --- Managed HSM role assignments and definitions ----------------------------------------
    let ra = "/providers/Microsoft.Authorization/roleAssignments";
    let rd = "/providers/Microsoft.Authorization/roleDefinitions";
    let role = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b";
    let assign = |principal: &str| json!({"properties": {"roleDefinitionId": role, "principalId": principal}});
    for (body, status, code, msg) in [
        (json!({}), 400, BAD, "missing field `properties`"),
        (json!({"properties": {}}), 400, BAD, "field 'properties': missing field `roleDefinitionId`"),
        (json!({"properties": []}), 400, BAD, "field 'properties'"),
        (json!({"properties": {"roleDefinitionId": 5, "principalId": "p"}}), 400, BAD, "field 'properties.roleDefinitionId'"),
        (json!({"properties": {"roleDefinitionId": "nope", "principalId": "p"}}), 404, "RoleDefinitionNotFound", "role definition \"nope\" was not found"),
        (assign(""), 400, BAD, "principalId must be the principal's object ID"),
    ] {
        add("PUT", h, &kv(&format!("{ra}/a1")), B::Json(body), status, code, msg);
    }
    for (body, status, code, msg) in garbage() {
        add("PUT", h, &kv(&format!("{ra}/a1")), body, status, code, msg);
    }
    for (m, p, body, status, code, msg) in [
        ("PUT", format!("/keys/bad_name{ra}/a1"), assign("p"), 400, BAD, "key name \"bad_name\" is invalid"),
        ("PUT", format!("/secrets/x{ra}/a1"), assign("p"), 400, BAD, "scope \"/secrets/x\" is invalid"),
        ("PUT", format!("{ra}/bad%20name"), assign("p"), 400, BAD, "role assignment name \"bad%20name\" is invalid"),
        ("PUT", format!("{ra}/{}", "a".repeat(300)), assign("p"), 400, BAD, "role assignment name"),
        ("GET", format!("{ra}/nosuch"), Value::Null, 404, "RoleAssignmentNotFound", "role assignment \"nosuch\" was not found"),
        ("DELETE", format!("{ra}/nosuch"), Value::Null, 404, "RoleAssignmentNotFound", "role assignment \"nosuch\" was not found"),
        ("GET", format!("{ra}?$filter=everything"), Value::Null, 400, BAD, "$filter \"everything\" is not supported"),
        ("GET", format!("{rd}/nosuch"), Value::Null, 404, "RoleDefinitionNotFound", "role definition \"nosuch\" was not found"),
        ("PUT", format!("{rd}/custom"), json!({"properties": {"permissions": [{"dataActions": ["Microsoft.Nope/*"]}]}}), 400, BAD, "names none of Managed HSM's data actions"),
        ("PUT", format!("{rd}/custom"), json!({"properties": {"type": "AKVBuiltInRole"}}), 400, BAD, "a role definition made here is a CustomRole"),
        ("PUT", format!("{rd}/custom"), json!({"properties": {"assignableScopes": ["/nowhere"]}}), 400, BAD, "scope \"/nowhere\" is invalid"),
        ("PUT", format!("{rd}/custom"), json!({"properties": {"roleName": "Managed HSM Crypto User"}}), 400, BAD, "a role named \"Managed HSM Crypto User\" already exists"),
        ("PUT", format!("{rd}/bad%20name"), json!({"properties": {}}), 400, BAD, "role definition name \"bad%20name\" is invalid"),
        ("PUT", format!("/keys{rd}/custom"), json!({"properties": {}}), 400, BAD, "role definitions are made at scope \"/\""),
        ("PUT", format!("{rd}/21dbd100-6940-42c2-9190-5d6cb909625b"), json!({"properties": {}}), 400, BAD, "is a built-in role, which cannot be changed"),
        ("DELETE", format!("{rd}/custom"), Value::Null, 404, "RoleDefinitionNotFound", "role definition \"custom\" was not found"),
        ("DELETE", format!("{rd}/21dbd100-6940-42c2-9190-5d6cb909625b"), Value::Null, 400, BAD, "is a built-in role definition, which cannot be deleted"),
        ("GET", "/settings/NoSuch".to_string(), Value::Null, 400, BAD, "setting \"NoSuch\" is not one of Managed HSM's"),
        ("PATCH", "/settings/AllowKeyManagementOperationsThroughARM".to_string(), json!({"value": "yes"}), 400, BAD, "its value is \"true\" or \"false\""),
        ("PATCH", "/settings/AllowKeyManagementOperationsThroughARM".to_string(), json!({}), 400, BAD, "missing field `value`"),
        ("PATCH", "/settings/NoSuch".to_string(), json!({"value": "true"}), 400, BAD, "is not one of Managed HSM's"),
        ("POST", "/backup".to_string(), json!({"storageResourceUri": "https://acct.blob.core.windows.net/backup"}), 400, BAD, "give a SAS token (token) or set useManagedIdentity"),
        ("POST", "/backup".to_string(), json!({"storageResourceUri": "ftp://acct/backup", "useManagedIdentity": true}), 400, BAD, "is not a blob container URL"),
        ("POST", "/prebackup".to_string(), json!({"storageResourceUri": "https://acct.blob.core.windows.net/Bad_Container", "token": "t"}), 400, BAD, "a container is 3 to 63"),
        ("PUT", "/restore".to_string(), json!({"sasTokenParameters": {"storageResourceUri": "https://acct.blob.core.windows.net/backup", "useManagedIdentity": true}, "folderToRestore": ".."}), 400, BAD, "backup folder \"..\" is invalid"),
        ("PUT", "/restore".to_string(), json!({"folderToRestore": "f"}), 400, BAD, "missing field `sasTokenParameters`"),
        ("PUT", "/prerestore".to_string(), json!({"sasTokenParameters": {"storageResourceUri": "https://acct.blob.core.windows.net/backup"}, "folderToRestore": "f"}), 400, BAD, "give a SAS token"),
        ("PUT", "/keys/k1/restore".to_string(), json!({"sasTokenParameters": {"storageResourceUri": "https://acct.blob.core.windows.net/backup", "token": "t"}, "folder": "a b"}), 400, BAD, "backup folder \"a b\" is invalid"),
        ("PUT", "/keys/bad_name/restore".to_string(), json!({"sasTokenParameters": {"storageResourceUri": "https://acct.blob.core.windows.net/backup", "token": "t"}, "folder": "f"}), 400, BAD, "key name \"bad_name\" is invalid"),
        ("GET", "/backup/nosuch/pending".to_string(), Value::Null, 404, "NotFound", "there is no backup job \"nosuch\""),
        ("GET", "/restore/nosuch/pending".to_string(), Value::Null, 404, "NotFound", "there is no restore job \"nosuch\""),
        ("POST", rd.to_string(), Value::Null, 405, "MethodNotAllowed", "method POST is not allowed"),
        ("POST", format!("{ra}/a1"), assign("p"), 405, "MethodNotAllowed", "method POST is not allowed"),
        ("GET", "/providers/Microsoft.Authorization/frobnicate".to_string(), Value::Null, 404, "NotFound", "no such resource"),
    ] {
        let body = if body.is_null() { B::None } else { B::Json(body) };
        add(m, h, &kv(&p), body, status, code, msg);
    }
    add("PUT", "nosuch.localhost", &kv(&format!("{ra}/a1")), B::Json(assign("p")), 404, "VaultNotFound", "vault \"nosuch\" was not found");
    add("GET", h, &format!("{ra}/nosuch?api-version=1.0"), B::None, 400, BAD, "api-version \"1.0\" is not supported");
    t
}

#[test]
fn every_route_rejects_bad_input_without_changing_the_store() {
    let api = Api::new();
    let s = setup(&api);
    let everything = |store: &localhsm::Store| {
        snapshot(store)
            + &support::store::secrets_snapshot(store)
            + &support::store::certificates_snapshot(store)
    };
    let before = everything(&api.store);
    let mut baseline = before.clone();
    let cases = table(&s);
    let mut failures = Vec::new();
    let mut routes = std::collections::BTreeSet::new();
    for (i, c) in cases.iter().enumerate() {
        let r = api.raw(c.method, &c.host, &c.path, c.body.bytes());
        let mut problems = Vec::new();
        if c.each {
            let now = everything(&api.store);
            if now != baseline {
                let diff: Vec<String> = snapshot_diff(&baseline, &now)
                    .lines()
                    .map(|l| l.chars().take(300).collect())
                    .collect();
                problems.push(format!("the store changed:\n{}", diff.join("\n")));
                baseline = now;
            }
        }
        let path = c.path.split('?').next().unwrap_or_default();
        routes.insert(format!("{} {}", c.method, shape(path, &s)));
        let shown_path: String = c.path.chars().take(120).collect();
        if r.status >= 500 {
            problems.push(format!("a {} is never acceptable", r.status));
        }
        if r.status != c.status {
            problems.push(format!("status {} (expected {})", r.status, c.status));
        }
        if let Some(p) = r.error_shape_problem() {
            problems.push(p);
        }
        if r.code() != Some(c.code) {
            problems.push(format!("code {:?} (expected {:?})", r.code(), c.code));
        }
        if !r.message().is_some_and(|m| m.contains(&c.msg)) {
            problems.push(format!(
                "message {:?} does not contain {:?}",
                r.message().map(|m| m.chars().take(300).collect::<String>()),
                c.msg
            ));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "#{i} {} {} (host {}): {}",
                c.method,
                shown_path,
                c.host,
                problems.join("; ")
            ));
        }
    }
    let after = everything(&api.store);
    println!(
        "{} bad requests over {} route shapes",
        cases.len(),
        routes.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} bad requests were answered wrongly:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(
        before == after,
        "bad input changed the store:\n{}",
        snapshot_diff(&before, &after)
    );
    // Every route of src/server/keys.rs, src/server/secrets.rs, src/server/certificates.rs
    // and src/server/management.rs was hit.
    for route in [
        "GET /keys",
        "POST /keys/restore",
        "GET /keys/{name}",
        "PUT /keys/{name}",
        "DELETE /keys/{name}",
        "PATCH /keys/{name}",
        "POST /keys/{name}/create",
        "GET /keys/{name}/versions",
        "POST /keys/{name}/backup",
        "POST /keys/{name}/rotate",
        "GET /keys/{name}/{version}",
        "PATCH /keys/{name}/{version}",
        "POST /keys/{name}/{version}/sign",
        "POST /keys/{name}/{version}/verify",
        "POST /keys/{name}/{version}/encrypt",
        "POST /keys/{name}/{version}/decrypt",
        "POST /keys/{name}/{version}/wrapkey",
        "POST /keys/{name}/{version}/unwrapkey",
        "GET /deletedkeys",
        "GET /deletedkeys/{name}",
        "DELETE /deletedkeys/{name}",
        "POST /deletedkeys/{name}/recover",
        "POST /rng",
        "GET /management/vaults/{name}",
        "POST /management/vaults",
        "PATCH /management/vaults/{name}",
        "DELETE /management/vaults/{name}",
        "POST /management/vaults/{name}/recover",
        "GET /management/deletedvaults/{name}",
        "DELETE /management/deletedvaults/{name}",
        "POST /management/time-shift",
        "GET /secrets",
        "POST /secrets/restore",
        "GET /secrets/{name}",
        "PUT /secrets/{name}",
        "DELETE /secrets/{name}",
        "PATCH /secrets/{name}",
        "GET /secrets/{name}/versions",
        "POST /secrets/{name}/backup",
        "GET /secrets/{name}/{version}",
        "PATCH /secrets/{name}/{version}",
        "GET /deletedsecrets",
        "GET /deletedsecrets/{name}",
        "DELETE /deletedsecrets/{name}",
        "POST /deletedsecrets/{name}/recover",
        "GET /certificates",
        "POST /certificates/restore",
        "GET /certificates/contacts",
        "PUT /certificates/contacts",
        "DELETE /certificates/contacts",
        "GET /certificates/issuers",
        "GET /certificates/issuers/{name}",
        "PUT /certificates/issuers/{name}",
        "PATCH /certificates/issuers/{name}",
        "DELETE /certificates/issuers/{name}",
        "GET /certificates/{name}",
        "DELETE /certificates/{name}",
        "PATCH /certificates/{name}",
        "POST /certificates/{name}/create",
        "POST /certificates/{name}/import",
        "POST /certificates/{name}/backup",
        "GET /certificates/{name}/versions",
        "GET /certificates/{name}/policy",
        "PATCH /certificates/{name}/policy",
        "GET /certificates/{name}/pending",
        "PATCH /certificates/{name}/pending",
        "DELETE /certificates/{name}/pending",
        "POST /certificates/{name}/pending/merge",
        "GET /certificates/{name}/{version}",
        "PATCH /certificates/{name}/{version}",
        "GET /deletedcertificates",
        "GET /deletedcertificates/{name}",
        "DELETE /deletedcertificates/{name}",
        "POST /deletedcertificates/{name}/recover",
    ] {
        assert!(routes.contains(route), "the table never hits {route}");
    }
}

/// A path with names and versions replaced by placeholders, to count the routes covered.
fn shape(path: &str, s: &Setup) -> String {
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if matches!(seg[0], "certificates" | "deletedcertificates") {
        return cert_shape(&seg);
    }
    let versions = [
        s.ec_v1.as_str(),
        s.ec_v2.as_str(),
        s.oct_v.as_str(),
        s.rsa_v.as_str(),
        s.sec_v1.as_str(),
        s.sec_v2.as_str(),
    ];
    let objects = ["keys", "deletedkeys", "secrets", "deletedsecrets"];
    let mapped: Vec<String> = seg
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let named = seg.first().is_some_and(|f| objects.contains(f))
                || (seg.first() == Some(&"management")
                    && matches!(seg.get(1), Some(&"vaults") | Some(&"deletedvaults")));
            let name_at = if seg.first() == Some(&"management") {
                2
            } else {
                1
            };
            let restore = matches!(seg[0], "keys" | "secrets") && *x == "restore";
            if named && i == name_at && !(restore && seg.len() == 2) {
                "{name}".to_string()
            } else if matches!(seg[0], "keys" | "secrets")
                && i == 2
                && (x.is_empty() || versions.contains(x) || seg.len() == 4 || x.len() == 32)
                && *x != "create"
                && *x != "versions"
                && *x != "backup"
                && *x != "rotate"
            {
                "{version}".to_string()
            } else {
                x.to_string()
            }
        })
        .collect();
    format!("/{}", mapped.join("/"))
}

/// [`shape`] for the certificate routes.
fn cert_shape(seg: &[&str]) -> String {
    let words = [
        "create", "import", "backup", "versions", "policy", "pending",
    ];
    let mapped: Vec<String> = match seg {
        [first] => vec![first.to_string()],
        ["certificates", w @ ("restore" | "contacts" | "issuers")] => {
            vec!["certificates".into(), w.to_string()]
        }
        ["certificates", "issuers", _] => {
            vec!["certificates".into(), "issuers".into(), "{name}".into()]
        }
        [first, _] => vec![first.to_string(), "{name}".into()],
        [first, _, w] if words.contains(w) || *w == "recover" => {
            vec![first.to_string(), "{name}".into(), w.to_string()]
        }
        ["certificates", _, _] => vec!["certificates".into(), "{name}".into(), "{version}".into()],
        [first, _, rest @ ..] => {
            let mut v = vec![first.to_string(), "{name}".into()];
            v.extend(rest.iter().map(|x| x.to_string()));
            v
        }
        [] => Vec::new(),
    };
    format!("/{}", mapped.join("/"))
}

// --- property test ---------------------------------------------------------------------------

const FIELDS: &[&str] = &[
    "kty",
    "crv",
    "key_size",
    "public_exponent",
    "key_ops",
    "attributes",
    "tags",
    "enabled",
    "nbf",
    "exp",
    "exportable",
    "key",
    "Hsm",
    "hsm",
    "alg",
    "value",
    "digest",
    "iv",
    "aad",
    "tag",
    "count",
    "k",
    "d",
    "x",
    "y",
    "n",
    "e",
    "p",
    "q",
    "dp",
    "dq",
    "qi",
    "key_hsm",
    "name",
    "kind",
    "retentionDays",
    "purgeProtection",
    "seconds",
    "contentType",
    "policy",
    "pwd",
    "x5c",
    "contacts",
    "email",
    "provider",
    "cancellation_requested",
];

const WORDS: &[&str] = &[
    "EC",
    "EC-HSM",
    "RSA",
    "RSA-HSM",
    "oct",
    "oct-HSM",
    "P-256",
    "P-384",
    "P-521",
    "P-256K",
    "ES256",
    "ES384",
    "ES512",
    "ES256K",
    "RS256",
    "PS512",
    "RSA-OAEP",
    "RSA-OAEP-256",
    "RSA1_5",
    "A128GCM",
    "A256GCM",
    "A256CBC",
    "A256CBCPAD",
    "A128KW",
    "A256KW",
    "sign",
    "verify",
    "wrapKey",
    "unwrapKey",
    "encrypt",
    "decrypt",
    "managedhsm",
    "vault",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "AAAAAAAAAAAAAAAAAAAAAA",
    "",
    "AQAB",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        "[A-Za-z0-9_=+/-]{0,48}".prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
        (0usize..80).prop_map(|n| Value::from(b64url_encode(&vec![0x33; n]))),
    ];
    leaf.prop_recursive(4, 40, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELDS), inner.clone()), 0..8).prop_map(
                |kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            ),
            prop::collection::vec(("[a-z]{1,6}", inner), 0..4)
                .prop_map(|kv| { Value::Object(kv.into_iter().collect()) }),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        json_value().prop_map(|v| {
            // Valid JSON with a random byte flipped or cut short.
            let mut b = v.to_string().into_bytes();
            let n = b.len();
            if n > 1 {
                b[n / 2] ^= 0x5a;
                b.truncate(n - 1);
            }
            b
        }),
    ]
}

#[test]
fn random_bodies_never_break_a_route() {
    let api = Api::new();
    let s = setup(&api);
    let mut routes: Vec<(&'static str, String, String)> = body_routes(&s)
        .into_iter()
        .map(|(m, p)| (m, "localhost".to_string(), kv(&p)))
        .collect();
    for (m, p) in management_body_routes() {
        routes.push((m, "localhost".to_string(), p.to_string()));
    }
    routes.push((
        "POST",
        "other.localhost".into(),
        kv("/keys/only-other/create"),
    ));
    routes.push(("PUT", "other.localhost".into(), kv("/keys/only-other")));
    routes.push(("PUT", "other.localhost".into(), kv("/secrets/only-other")));
    routes.push(("PATCH", "other.localhost".into(), kv("/secrets/only-other")));
    routes.push(("PUT", "pp.localhost".into(), kv("/secrets/fresh")));
    routes.push((
        "POST",
        "pp.localhost".into(),
        kv("/certificates/fresh/create"),
    ));
    routes.push((
        "POST",
        "pp.localhost".into(),
        kv("/certificates/fresh/import"),
    ));
    let cases = support::usize_from_env("LOCALHSM_PROPTEST_CASES", 1500) as u32;
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let n = routes.len();
    let tried = std::cell::Cell::new(0usize);
    runner
        .run(&(0..n, body()), |(i, body)| {
            let (m, host, path) = &routes[i];
            let r = api.raw(m, host, path, body.clone());
            tried.set(tried.get() + 1);
            prop_assert!(
                r.status < 500,
                "{m} {path}: {} for body {:?}: {}",
                r.status,
                String::from_utf8_lossy(&body),
                String::from_utf8_lossy(&r.body)
            );
            if r.status >= 400 {
                prop_assert!(
                    r.error_shape_problem().is_none(),
                    "{m} {path}: {:?} for body {:?}",
                    r.error_shape_problem(),
                    String::from_utf8_lossy(&body)
                );
            } else if r.status != 204 {
                prop_assert!(r.json.is_object(), "{m} {path}: 2xx without a JSON object");
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    println!("{} random bodies over {n} routes", tried.get());
}

/// Key Vault's limit is 25 KiB of UTF-8: a value of exactly 25 * 1024 bytes, in one-, two-,
/// three- or four-byte characters, is set and read back unchanged, through REST and through
/// the library; one byte more is a 400 naming the size, and nothing is stored.
#[test]
fn secret_values_of_exactly_25_kib_are_accepted_and_one_byte_more_is_not() {
    let api = Api::new();
    let limit = localhsm::model::MAX_SECRET_VALUE_BYTES;
    assert_eq!(limit, 25 * 1024);
    let values = [
        "a".repeat(limit),
        "é".repeat(limit / 2),
        format!("{}x", "€".repeat(limit / 3)),
        "🔑".repeat(limit / 4),
    ];
    for (i, value) in values.iter().enumerate() {
        assert_eq!(value.len(), limit, "value {i}");
        let path = format!("/secrets/limit{i}");
        let set = api.ok("PUT", &path, Some(json!({"value": value})));
        assert_eq!(set["value"].as_str(), Some(value.as_str()), "set {i}");
        let got = api.ok("GET", &path, None);
        assert_eq!(got["value"].as_str(), Some(value.as_str()), "get {i}");
        let over = format!("{value}!");
        let r = api.kv("PUT", &path, Some(json!({"value": over})));
        assert_eq!(
            (r.status, r.code()),
            (400, Some(BAD)),
            "{i}: {:?}",
            r.message()
        );
        let msg = r.message().unwrap_or_default();
        assert!(
            msg.contains(&format!("the secret value is {} bytes", limit + 1)),
            "{msg}"
        );
        let start: String = value.chars().take(16).collect();
        assert!(!msg.contains(&start), "the 400 echoes the value");
        let versions = api.ok("GET", &format!("{path}/versions"), None);
        assert_eq!(
            versions["value"].as_array().map(Vec::len),
            Some(1),
            "{i}: the refused set stored a version"
        );
    }
    let vault = api.store.vault("default").expect("default vault");
    for (i, value) in values.iter().enumerate() {
        let b = vault
            .set_secret(
                "lib-limit",
                SecretString::from(value.as_str()),
                SecretOptions::default(),
            )
            .unwrap_or_else(|e| panic!("{i}: {e}"));
        let got = vault
            .get_secret("lib-limit", Some(&b.version))
            .expect("get");
        assert_eq!(
            got.value.as_ref().map(SecretString::expose),
            Some(value.as_str())
        );
        let over = SecretString::from(format!("{value}é"));
        let e = support::expect_err(
            vault.set_secret("lib-limit", over, SecretOptions::default()),
            "BadParameter",
        );
        assert_eq!(e.wire().status, 400);
    }
    let listed = vault
        .list_secret_versions("lib-limit", 25, None)
        .expect("versions");
    assert_eq!(listed.items.len(), values.len());
}

#[test]
fn huge_time_shifts_are_refused_and_never_move_the_clock() {
    let api = Api::new();
    api.clock.allow_shifts();
    let before = api.store.now();
    let bound = localhsm::clock::MAX_SHIFT_SECS;
    for seconds in [u64::MAX, i64::MAX as u64, bound + 1] {
        let r = api.raw(
            "POST",
            "localhost",
            "/management/time-shift",
            json!({ "seconds": seconds }).to_string().into_bytes(),
        );
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json["error"]["code"], BAD);
        let message = r.json["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("at most {bound}")),
            "the message names the bound: {message}"
        );
        assert_eq!(api.clock.offset(), 0, "a refused shift moves nothing");
        assert!(api.store.now() >= before);
    }
}
