//! Guards against private key material leaking: after an SDK-suite-like workload with
//! imported KNOWN keys (the RSA, EC and oct keys of `vectors/`), through the REST API
//! in-process, through the library and through a real `localhsm serve`, no private key
//! byte string (raw, hex lower/upper, base64 standard/url, padded/unpadded, at any 3-byte
//! alignment) appears in any file of the data directory, in `trace`-level logs, in the
//! `Debug` output of any public type that can hold material, or in any error message.
//! Also: the master key file and the TLS private key are created with mode 0600, and the
//! server refuses, naming the file and the fix, a master key file readable by others.
//!
//! Secrets likewise: distinctive secret values (ASCII, Unicode, exactly the 25 KiB limit, one
//! byte over it, and one that only ever travels inside a backup and its restore) are set, read,
//! updated, disabled, deleted, recovered, purged, backed up and restored, and refused on
//! purpose (too large, disabled, under a deleted name, in a vault without secrets); no piece
//! of any value (each 16-character token it is made of, in every encoding above) may appear in
//! the data directory, the trace log, the `Debug` output of `SecretString`, `SecretBundle`,
//! `DeletedSecretBundle`, the wire types and errors, or any error message.
//!
//! Certificates likewise: PFX files (with their passwords) and PEM made by the test are
//! imported, certificates are issued by the vault (PFX and PEM secrets, a key that may not
//! leave, a vault issuer given a password), their secrets read, backed up, deleted, purged,
//! restored, and refused on purpose (wrong or missing password, the wrong content type, PEM
//! without its key or with another's certificate, a merge that does not match, the keys and
//! secrets APIs on what a certificate owns). No private key (its JWK members, PKCS#8, PEM
//! block), no PFX whole (raw or base64), no PFX or issuer password, and no certificate secret
//! value may appear in the data directory, the trace logs, the `Debug` output of
//! `CertificateKey`, bundles, wire types and errors, or any error message; the keys the vault
//! made itself are read back after the workload to be looked for too.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use localhsm::crypto::jwk::b64url_encode;
use localhsm::crypto::x509::{CertSpec, CertificateKey};
use localhsm::crypto::CurveName;
use localhsm::crypto::{
    AesParams, EncryptionAlgorithm, Jwk, SecretBase64Url, SecretBytes, SignatureAlgorithm,
    WrapAlgorithm,
};
use localhsm::model::certificates::{CertificateOptions, CertificatePolicy};
use localhsm::model::KeyOptions;
use localhsm::{KeySpec, MasterKeySource, Store};
use serde_json::{json, Value};
use support::{
    create_vault, default_hsm, http, vector_key_json, Api, Opener, Server, TempStore, MASTER,
};

/// The known keys: (name, vector file, key id).
const KNOWN: &[(&str, &str, &str)] = &[
    ("rsa", "rsa-oaep.json", "rsa-2048"),
    ("rsa3k", "rsa-pss-sign.json", "rsa-3072"),
    ("ec256", "ecdsa.json", "ec-p256"),
    ("ec384", "ecdsa.json", "ec-p384"),
    ("ec521", "ecdsa.json", "ec-p521"),
    ("eck1", "ecdsa.json", "ec-p256k"),
    ("gcm", "aes-gcm.json", "gcm-256"),
    ("kw", "aes-kw.json", "kek-128"),
    ("cbc", "aes-cbc.json", "cbc-192"),
];

const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "k"];

/// A secret and every way it could be written down.
struct Needles {
    /// (label, bytes to look for), grouped by their first 8 bytes for a one-pass scan.
    by_prefix: HashMap<[u8; 8], Vec<(String, Vec<u8>)>>,
    count: usize,
}

impl Needles {
    fn new() -> Self {
        Self {
            by_prefix: HashMap::new(),
            count: 0,
        }
    }

    fn add_form(&mut self, label: String, form: Vec<u8>) {
        if form.len() < 16 {
            return;
        }
        let prefix: [u8; 8] = form[..8].try_into().expect("8 bytes");
        self.by_prefix
            .entry(prefix)
            .or_default()
            .push((label, form));
        self.count += 1;
    }

    /// Raw, hex (both cases), and base64 in both alphabets, padded and unpadded; base64 also
    /// at each of the three alignments the secret can have inside a longer encoded blob.
    fn add(&mut self, label: &str, secret: &[u8]) {
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        self.add_form(format!("{label} raw"), secret.to_vec());
        self.add_form(format!("{label} hex"), hex::encode(secret).into_bytes());
        self.add_form(
            format!("{label} HEX"),
            hex::encode_upper(secret).into_bytes(),
        );
        for (name, engine) in [
            ("base64", STANDARD),
            ("base64-nopad", STANDARD_NO_PAD),
            ("base64url", URL_SAFE),
            ("base64url-nopad", URL_SAFE_NO_PAD),
        ] {
            self.add_form(
                format!("{label} {name}"),
                engine.encode(secret).into_bytes(),
            );
        }
        for (name, engine) in [("base64", STANDARD_NO_PAD), ("base64url", URL_SAFE_NO_PAD)] {
            for offset in 0..3 {
                let tail = &secret[offset..];
                let whole = tail.len() / 3 * 3;
                let text = engine.encode(&tail[..whole]);
                self.add_form(format!("{label} {name} @{offset}"), text.into_bytes());
            }
        }
    }

    /// Labels of the needles found in `hay`.
    fn find(&self, hay: &[u8]) -> Vec<String> {
        let mut found = Vec::new();
        if hay.len() < 8 {
            return found;
        }
        for i in 0..=hay.len() - 8 {
            let prefix: [u8; 8] = hay[i..i + 8].try_into().expect("8 bytes");
            if let Some(list) = self.by_prefix.get(&prefix) {
                for (label, form) in list {
                    if hay[i..].starts_with(form) && !found.contains(label) {
                        found.push(label.clone());
                    }
                }
            }
        }
        found
    }
}

// --- secret values ----------------------------------------------------------------------------

/// The `i`-th token of the secret values: 16 lowercase hex digits no other data holds.
fn token(i: u64) -> String {
    // SplitMix64: tokens that look random and never repeat.
    let mut z = i
        .wrapping_add(0x5ec2_e7d0_0000_0001)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    format!("{:016x}", z ^ (z >> 31))
}

/// Tokens `from..from + n`, joined by `sep`.
fn tokens(from: u64, n: u64, sep: &str) -> String {
    (from..from + n).map(token).collect::<Vec<_>>().join(sep)
}

/// `len` bytes of cycling tokens `from..from + 64`, for values at and over the limit.
fn long_value(from: u64, len: usize) -> String {
    let mut v = String::with_capacity(len + 16);
    let mut i = 0;
    while v.len() < len {
        v.push_str(&token(from + i % 64));
        i += 1;
    }
    v.truncate(len);
    v
}

const LIMIT: usize = localhsm::model::MAX_SECRET_VALUE_BYTES;

/// The secret values of the workloads: (label, value, token range it is made of).
fn secret_values() -> Vec<(&'static str, String, std::ops::Range<u64>)> {
    vec![
        (
            "connection string",
            format!("Server=db;User=app;Password={}", tokens(0, 4, "")),
            0..4,
        ),
        (
            "unicode",
            format!("пароль ✓ {} 🔑 {}", tokens(10, 2, "-"), token(12)),
            10..13,
        ),
        (
            "second version",
            tokens(
                20, 3, "
",
            ),
            20..23,
        ),
        ("exactly 25 KiB", long_value(100, LIMIT), 100..164),
        ("25 KiB + 1", long_value(200, LIMIT + 1), 200..264),
        (
            "backup only",
            format!("{} restored", tokens(300, 3, ":")),
            300..303,
        ),
        ("library", format!("lib {}", tokens(400, 3, " ")), 400..403),
        ("disabled", tokens(500, 2, "/"), 500..502),
    ]
}

/// The value of the workloads labelled `label`.
fn secret_value(label: &str) -> String {
    secret_values()
        .into_iter()
        .find(|(l, _, _)| *l == label)
        .map(|(_, v, _)| v)
        .unwrap_or_else(|| panic!("no secret value {label:?}"))
}

/// Every token of every secret value, in every encoding [`Needles::add`] knows; and each
/// whole value (raw), so that a value written down whole is named as such.
fn add_secret_needles(n: &mut Needles) {
    for (label, value, range) in secret_values() {
        for i in range {
            n.add(&format!("secret {label:?} token {i}"), token(i).as_bytes());
        }
        n.add_form(format!("secret {label:?} whole"), value.into_bytes());
    }
}

/// A tag value set on secrets: stored in the clear by design, the scans' positive control.
const SECRET_TAG: &str = "visible-secret-tag-7f3a9c";

/// Every private member of every known key, plus the in-process master key.
fn known_needles(with_master: bool) -> Needles {
    let mut n = Needles::new();
    for (name, file, id) in KNOWN {
        let jwk = vector_key_json(file, id);
        for m in PRIVATE_MEMBERS {
            if let Some(v) = jwk[*m].as_str() {
                let bytes = localhsm::crypto::jwk::b64url_decode(v).expect("vector base64url");
                n.add(&format!("{name}.{m}"), &bytes);
            }
        }
    }
    if with_master {
        n.add("master key", &MASTER);
    }
    add_secret_needles(&mut n);
    n
}

fn scan_dir(needles: &Needles, dir: &Path, hits: &mut Vec<String>) -> usize {
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap_or_default();
            files += 1;
            for label in needles.find(&bytes) {
                hits.push(format!("{} holds {label}", path.display()));
            }
        }
    }
    files
}

fn scan_text(needles: &Needles, what: &str, text: &[u8], hits: &mut Vec<String>) {
    for label in needles.find(text) {
        hits.push(format!("{what} holds {label}"));
    }
}

/// A positive control: the scans must find a PUBLIC member and a secret's tag (stored in the
/// clear by design), or they would prove nothing.
fn assert_scan_sees_public_data(dir: &Path) {
    let mut tag = Needles::new();
    tag.add_form("secret tag (public)".into(), SECRET_TAG.as_bytes().to_vec());
    let mut seen = Vec::new();
    scan_dir(&tag, dir, &mut seen);
    assert!(
        !seen.is_empty(),
        "the data directory scan does not see a secret's stored tag"
    );
    let mut control = Needles::new();
    let x = vector_key_json("ecdsa.json", "ec-p256")["x"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    control.add(
        "ec256.x (public)",
        &localhsm::crypto::jwk::b64url_decode(&x).expect("x"),
    );
    let mut seen = Vec::new();
    scan_dir(&control, dir, &mut seen);
    assert!(
        !seen.is_empty(),
        "the data directory scan does not see the stored public key x"
    );
}

// --- trace-level log capture for this test process ---------------------------------------------

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once) a global `trace` subscriber that writes into a buffer. The HTTPS client
/// this test uses against a real server is left out: it is not localhsm, and the server's
/// side of those crates is captured from the server's own `trace` output. The storage
/// engine stops at `warn`, as `localhsm` itself sets it (`cli::QUIET_ENGINE`: its deferred
/// debug records can arrive while a thread is torn down, which the formatter cannot take).
fn log_capture() -> Captured {
    static CAPTURE: OnceLock<Captured> = OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let c = Captured::default();
            let writer = c.clone();
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(
                    "trace,reqwest=off,hyper=off,hyper_util=off,h2=off,rustls=off,sled=warn",
                ))
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .try_init()
                .expect("install the trace subscriber");
            c
        })
        .clone()
}

// --- the workload ---------------------------------------------------------------------------------

fn digest(alg: SignatureAlgorithm) -> Vec<u8> {
    alg.hash().digest(b"a message for the secrets workload")
}

/// Runs an SDK-suite-like workload over REST (in-process) with the known keys imported:
/// every operation of each key, the lifecycle with backup and restore, and failures on
/// purpose, whose error bodies go to `errors`.
fn rest_workload(api: &Api, errors: &mut Vec<String>) {
    let mut fail = |method: &str, path: &str, body: Value, what: &str| {
        let r = api.kv(method, path, Some(body));
        assert!(
            (400..500).contains(&r.status),
            "{what}: expected a 4xx, got {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        errors.push(String::from_utf8_lossy(&r.body).into_owned());
    };
    for (name, file, id) in KNOWN {
        let jwk = vector_key_json(file, id);
        api.ok(
            "PUT",
            &format!("/keys/{name}"),
            Some(json!({"key": jwk, "Hsm": true, "tags": {"purpose": "secrets-test"}})),
        );
        api.ok("GET", &format!("/keys/{name}"), None);
        api.ok("GET", &format!("/keys/{name}/versions"), None);
        api.ok(
            "PATCH",
            &format!("/keys/{name}"),
            Some(json!({"tags": {"updated": "yes"}})),
        );
        // The same key again, with one private member damaged: the error must not echo it.
        for m in ["d", "dp", "qi", "k"] {
            if let Some(v) = jwk[m].as_str() {
                let mut bad = jwk.clone();
                let mut bytes = localhsm::crypto::jwk::b64url_decode(v).expect("base64url");
                let last = bytes.len() - 1;
                bytes[last] ^= 1;
                if m == "k" {
                    bytes.push(0);
                }
                bad[m] = Value::from(b64url_encode(&bytes));
                fail(
                    "PUT",
                    &format!("/keys/{name}-bad"),
                    json!({"key": bad}),
                    "import of a damaged key",
                );
            }
        }
        // Private members in the wrong shape.
        if let Some(v) = jwk["d"].as_str().or(jwk["k"].as_str()) {
            let member = if jwk["d"].is_string() { "d" } else { "k" };
            for wrong in [
                Value::from(format!("+/{}=", v.replace('-', "+").replace('_', "/"))),
                Value::from(format!("{v}!")),
                json!([v]),
                json!({ "value": v }),
            ] {
                let mut bad = jwk.clone();
                bad[member] = wrong;
                fail(
                    "PUT",
                    &format!("/keys/{name}-bad"),
                    json!({"key": bad}),
                    "import of a malformed member",
                );
            }
        }
    }
    for (name, alg) in [
        ("rsa", SignatureAlgorithm::RS256),
        ("rsa", SignatureAlgorithm::PS512),
        ("rsa3k", SignatureAlgorithm::PS384),
        ("ec256", SignatureAlgorithm::ES256),
        ("ec384", SignatureAlgorithm::ES384),
        ("ec521", SignatureAlgorithm::ES512),
        ("eck1", SignatureAlgorithm::ES256K),
    ] {
        let d = b64url_encode(&digest(alg));
        let sig = api.ok(
            "POST",
            &format!("/keys/{name}//sign"),
            Some(json!({"alg": alg.as_str(), "value": d})),
        );
        let v = api.ok(
            "POST",
            &format!("/keys/{name}//verify"),
            Some(json!({"alg": alg.as_str(), "digest": d, "value": sig["value"]})),
        );
        assert_eq!(v["value"], true, "{name} {alg}");
        fail(
            "POST",
            &format!("/keys/{name}//sign"),
            json!({"alg": alg.as_str(), "value": b64url_encode(&[1; 20])}),
            "sign with a digest of the wrong length",
        );
    }
    // RSA encryption and key wrap.
    for alg in ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5"] {
        let ct = api.ok(
            "POST",
            "/keys/rsa//encrypt",
            Some(json!({"alg": alg, "value": b64url_encode(b"plaintext")})),
        );
        let pt = api.ok(
            "POST",
            "/keys/rsa//decrypt",
            Some(json!({"alg": alg, "value": ct["value"]})),
        );
        assert_eq!(pt["value"], b64url_encode(b"plaintext"));
        let w = api.ok(
            "POST",
            "/keys/rsa//wrapkey",
            Some(json!({"alg": alg, "value": b64url_encode(&[9; 32])})),
        );
        api.ok(
            "POST",
            "/keys/rsa//unwrapkey",
            Some(json!({"alg": alg, "value": w["value"]})),
        );
        fail(
            "POST",
            "/keys/rsa//decrypt",
            json!({"alg": alg, "value": b64url_encode(&[7; 256])}),
            "RSA decrypt of garbage",
        );
    }
    // AES-GCM, AES-CBC, AES-KW.
    let g = api.ok(
        "POST",
        "/keys/gcm//encrypt",
        Some(json!({"alg": "A256GCM", "value": b64url_encode(b"gcm text"), "aad": b64url_encode(b"aad")})),
    );
    api.ok(
        "POST",
        "/keys/gcm//decrypt",
        Some(json!({"alg": "A256GCM", "value": g["value"], "iv": g["iv"], "tag": g["tag"], "aad": b64url_encode(b"aad")})),
    );
    fail(
        "POST",
        "/keys/gcm//decrypt",
        json!({"alg": "A256GCM", "value": g["value"], "iv": g["iv"], "tag": b64url_encode(&[0; 16])}),
        "GCM decrypt with a bad tag",
    );
    let c = api.ok(
        "POST",
        "/keys/cbc//encrypt",
        Some(json!({"alg": "A192CBCPAD", "value": b64url_encode(b"cbc text")})),
    );
    api.ok(
        "POST",
        "/keys/cbc//decrypt",
        Some(json!({"alg": "A192CBCPAD", "value": c["value"], "iv": c["iv"]})),
    );
    fail(
        "POST",
        "/keys/cbc//decrypt",
        json!({"alg": "A192CBCPAD", "value": b64url_encode(&[3; 32]), "iv": c["iv"]}),
        "CBC decrypt with bad padding",
    );
    let w = api.ok(
        "POST",
        "/keys/kw//wrapkey",
        Some(json!({"alg": "A128KW", "value": b64url_encode(&[5; 32])})),
    );
    api.ok(
        "POST",
        "/keys/kw//unwrapkey",
        Some(json!({"alg": "A128KW", "value": w["value"]})),
    );
    fail(
        "POST",
        "/keys/kw//unwrapkey",
        json!({"alg": "A128KW", "value": b64url_encode(&[5; 40])}),
        "AES-KW unwrap of garbage",
    );
    fail(
        "POST",
        "/keys/kw//wrapkey",
        json!({"alg": "A256KW", "value": b64url_encode(&[5; 32])}),
        "AES-KW with the wrong key size",
    );
    // Lifecycle: backup, delete, recover, delete, purge, restore; and the conflicts on the way.
    for (name, _, _) in KNOWN {
        let blob = api.ok("POST", &format!("/keys/{name}/backup"), None);
        let restore = json!({"value": blob["value"]});
        api.ok("DELETE", &format!("/keys/{name}"), None);
        api.ok("GET", &format!("/deletedkeys/{name}"), None);
        fail(
            "POST",
            &format!("/keys/{name}/create"),
            json!({"kty": "EC"}),
            "create under a deleted name",
        );
        fail(
            "POST",
            "/keys/restore",
            restore.clone(),
            "restore over a deleted key",
        );
        api.ok("POST", &format!("/deletedkeys/{name}/recover"), None);
        fail(
            "POST",
            "/keys/restore",
            restore.clone(),
            "restore over a live key",
        );
        api.ok("DELETE", &format!("/keys/{name}"), None);
        api.ok("DELETE", &format!("/deletedkeys/{name}"), None);
        api.ok("POST", "/keys/restore", Some(restore));
        api.ok("POST", &format!("/keys/{name}/rotate"), None);
    }
    api.ok("GET", "/keys", None);
    api.ok("GET", "/deletedkeys", None);
    rest_secret_workload(api, errors);
    rest_cert_workload(api, errors);
}

/// The secrets part of [`rest_workload`]: every secret route, with values that must not leak,
/// and failures on purpose whose error bodies go to `errors`.
fn rest_secret_workload(api: &Api, errors: &mut Vec<String>) {
    let mut fail = |method: &str, host: &str, path: &str, body: Option<Value>, status: u16| {
        let r = api.kv_at(method, host, path, body);
        assert_eq!(
            r.status,
            status,
            "{method} {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        errors.push(String::from_utf8_lossy(&r.body).into_owned());
    };
    let tags = json!({"visible": SECRET_TAG});
    let set = |name: &str, label: &str| {
        let value = secret_value(label);
        let b = api.ok(
            "PUT",
            &format!("/secrets/{name}"),
            Some(json!({"value": value, "contentType": "text/plain", "tags": tags})),
        );
        assert_eq!(b["value"].as_str(), Some(value.as_str()), "{label}");
        b
    };
    let version = |b: &Value| support::kid_version(b["id"].as_str().expect("id"));
    let v1 = version(&set("conn", "connection string"));
    let v2 = version(&set("conn", "second version"));
    set("uni", "unicode");
    set("big", "exactly 25 KiB");
    for (path, label) in [
        (format!("/secrets/conn/{v1}"), "connection string"),
        (format!("/secrets/conn/{v2}"), "second version"),
        ("/secrets/conn".to_string(), "second version"),
        ("/secrets/uni".to_string(), "unicode"),
        ("/secrets/big".to_string(), "exactly 25 KiB"),
    ] {
        let b = api.ok("GET", &path, None);
        assert_eq!(b["value"].as_str(), Some(secret_value(label).as_str()));
    }
    for path in [
        "/secrets",
        "/secrets/conn/versions",
        "/secrets?maxresults=1",
    ] {
        let b = api.ok("GET", path, None);
        let items = b["value"].as_array().expect("a listing");
        assert!(!items.is_empty(), "{path}");
        assert!(
            items.iter().all(|i| i.get("value").is_none()),
            "{path} lists values"
        );
    }
    api.ok(
        "PATCH",
        &format!("/secrets/conn/{v1}"),
        Some(json!({"contentType": "application/x-conn", "tags": tags})),
    );
    // One byte over the limit: refused, and the 400 names the size, never the value.
    fail(
        "PUT",
        "localhost",
        "/secrets/over",
        Some(json!({"value": secret_value("25 KiB + 1")})),
        400,
    );
    // Disabled: the value is refused with 403.
    set("off", "disabled");
    api.ok(
        "PATCH",
        "/secrets/off",
        Some(json!({"attributes": {"enabled": false}})),
    );
    fail("GET", "localhost", "/secrets/off", None, 403);
    // A vault of kind managedhsm has no secrets.
    api.store
        .create_vault("hsmonly", support::default_hsm())
        .expect("vault hsmonly");
    fail(
        "PUT",
        "hsmonly.localhost",
        "/secrets/conn",
        Some(json!({"value": secret_value("connection string")})),
        400,
    );
    // Wrong shapes around a real value.
    for body in [
        json!({"value": [secret_value("unicode")]}),
        json!({"value": {"v": secret_value("unicode")}}),
        json!({"value": secret_value("unicode"), "attributes": {"nbf": 9, "exp": 9}}),
        json!({"value": secret_value("unicode"), "contentType": "t".repeat(256)}),
    ] {
        fail("PUT", "localhost", "/secrets/uni", Some(body), 400);
    }
    // The lifecycle, with backup and restore and the conflicts on the way.
    set("boxed", "backup only");
    let blob = api.ok("POST", "/secrets/boxed/backup", None);
    let restore = json!({"value": blob["value"]});
    api.ok("DELETE", "/secrets/boxed", None);
    api.ok("GET", "/deletedsecrets/boxed", None);
    api.ok("GET", "/deletedsecrets", None);
    fail(
        "PUT",
        "localhost",
        "/secrets/boxed",
        Some(json!({"value": secret_value("unicode")})),
        409,
    );
    fail(
        "POST",
        "localhost",
        "/secrets/restore",
        Some(restore.clone()),
        409,
    );
    api.ok("POST", "/deletedsecrets/boxed/recover", None);
    fail(
        "POST",
        "localhost",
        "/secrets/restore",
        Some(restore.clone()),
        409,
    );
    fail(
        "POST",
        "localhost",
        "/keys/restore",
        Some(restore.clone()),
        400,
    );
    api.ok("DELETE", "/secrets/boxed", None);
    api.ok("DELETE", "/deletedsecrets/boxed", None);
    let back = api.ok("POST", "/secrets/restore", Some(restore));
    assert!(
        back.get("value").is_none(),
        "a restore answers without the value"
    );
    let b = api.ok("GET", "/secrets/boxed", None);
    assert_eq!(
        b["value"].as_str(),
        Some(secret_value("backup only").as_str())
    );
}

/// The library: imports into a second vault (some exportable), uses handles, exports, and
/// fails on purpose. Returns the `Debug` strings of everything that can hold material.
fn library_workload(store: &Store, errors: &mut Vec<String>, debug: &mut Vec<String>) {
    let vault = create_vault(store, "lib", default_hsm());
    let mut err = |e: localhsm::Error| {
        errors.push(format!("{e}"));
        errors.push(format!("{e:?}"));
        errors.push(format!("{:?}", localhsm::server::error::ApiError::from(e)));
    };
    for (i, (name, file, id)) in KNOWN.iter().enumerate() {
        let jwk_json = vector_key_json(file, id);
        let jwk: Jwk = serde_json::from_value(jwk_json.clone()).expect("JWK");
        debug.push(format!("{jwk:?}"));
        debug.push(format!("{:#?}", jwk));
        let params: localhsm::server::wire::KeyImportParameters =
            serde_json::from_value(json!({"key": jwk_json, "Hsm": true})).expect("wire");
        debug.push(format!("{params:?}"));
        let exportable = i % 2 == 0;
        let options = KeyOptions {
            exportable,
            release_policy: exportable.then(|| localhsm::model::key_policies::KeyReleasePolicy {
                content_type: localhsm::model::key_policies::DEFAULT_RELEASE_CONTENT_TYPE.into(),
                data: localhsm::crypto::Base64Url(br#"{"anyOf":[],"version":"1.0.0"}"#.to_vec()),
                immutable: false,
            }),
            ..KeyOptions::default()
        };
        let bundle = vault
            .import_key(name, &jwk, true, options)
            .expect("library import");
        debug.push(format!("{bundle:?}"));
        let handle = vault.key(name, None).expect("handle");
        debug.push(format!("{handle:?}"));
        debug.push(format!("{:?}", handle.clone()));
        match localhsm::hazmat::export_private_key(&vault, name, None) {
            Ok(exported) => {
                assert!(exportable, "{name}: a non-exportable key was exported");
                assert!(
                    exported.key.has_private_parts(),
                    "{name}: export without private parts"
                );
                debug.push(format!("{exported:?}"));
                debug.push(format!("{:#?}", exported.key));
            }
            Err(e) => {
                assert!(!exportable, "{name}: export failed: {e}");
                err(e);
            }
        }
        // Failing operations on the key, each error kept.
        let results: Vec<localhsm::Result<()>> = vec![
            handle.sign(SignatureAlgorithm::ES256, &[0; 7]).map(drop),
            handle.sign(SignatureAlgorithm::PS256, &[0; 32]).map(drop),
            handle
                .decrypt(
                    EncryptionAlgorithm::RsaOaep,
                    &[1; 256],
                    AesParams::default(),
                )
                .map(drop),
            handle
                .decrypt(
                    EncryptionAlgorithm::A256Gcm,
                    &[1; 32],
                    AesParams {
                        iv: Some(&[0; 12]),
                        tag: Some(&[0; 16]),
                        aad: None,
                    },
                )
                .map(drop),
            handle.unwrap_key(WrapAlgorithm::A128Kw, &[2; 40]).map(drop),
            handle
                .unwrap_key(WrapAlgorithm::RsaOaep256, &[2; 384])
                .map(drop),
            handle.wrap_key(WrapAlgorithm::A256Kw, &[2; 7]).map(drop),
            vault
                .import_key(name, &Jwk::default(), false, KeyOptions::default())
                .map(drop),
        ];
        for r in results {
            if let Err(e) = r {
                err(e);
            }
        }
        // Damaged copies of the key are refused without echoing them.
        for m in ["d", "p", "dq", "qi", "k"] {
            if let Some(v) = jwk_json[m].as_str() {
                let mut bad = jwk_json.clone();
                let mut bytes = localhsm::crypto::jwk::b64url_decode(v).expect("base64url");
                bytes[0] ^= 0x40;
                if m == "k" {
                    bytes.truncate(bytes.len() - 1);
                }
                bad[m] = Value::from(b64url_encode(&bytes));
                let bad: Jwk = serde_json::from_value(bad).expect("JWK");
                match vault.import_key(&format!("{name}-bad"), &bad, false, KeyOptions::default()) {
                    Ok(_) => panic!("{name}: a damaged {m} was imported"),
                    Err(e) => err(e),
                }
            }
        }
        // Disabled, deleted: the errors of a held handle.
        vault
            .update_key(
                name,
                None,
                localhsm::model::KeyUpdate {
                    enabled: Some(false),
                    ..Default::default()
                },
            )
            .expect("disable");
        if let Err(e) = handle.sign(
            SignatureAlgorithm::ES256,
            &digest(SignatureAlgorithm::ES256),
        ) {
            err(e);
        }
        let deleted = vault.delete_key(name).expect("delete");
        debug.push(format!("{deleted:?}"));
        if let Err(e) = handle.wrap_key(WrapAlgorithm::A128Kw, &[1; 16]) {
            err(e);
        }
        if let Err(e) = vault.key(name, None) {
            err(e);
        }
        vault.recover_deleted_key(name).expect("recover");
    }
    let secret = SecretBytes::from_slice(&MASTER);
    debug.push(format!("{secret:?}"));
    debug.push(format!("{:?}", SecretBase64Url(secret.duplicate())));
    debug.push(format!("{:?}", MasterKeySource::Bytes(secret.duplicate())));
    debug.push(format!("{:?}", MasterKeySource::Passphrase(secret)));
    debug.push(format!("{store:?}"));
    debug.push(format!("{vault:?}"));
    debug.push(format!("{:?}", store.clone()));
    let h = vault.key("rsa", None).expect("handle");
    let enc = h.encrypt(EncryptionAlgorithm::RsaOaep256, b"x", AesParams::default());
    debug.push(format!("{enc:?}"));
    // A wrong master key: the error names the problem, never the key.
    let other = TempStore::new().close();
    let mut wrong = MASTER;
    wrong[0] ^= 1;
    match Opener::key(wrong).try_open(other.path()) {
        Ok(_) => panic!("a wrong master key opened the store"),
        Err(e) => err(e),
    }
    library_secret_workload(store, errors, debug);
    library_cert_workload(store, errors, debug);
}

/// The secrets part of [`library_workload`], in a vault of kind `vault`: the `Debug` output
/// of every type that holds a value, and the errors of refusals.
fn library_secret_workload(store: &Store, errors: &mut Vec<String>, debug: &mut Vec<String>) {
    use localhsm::crypto::SecretString;
    use localhsm::model::{SecretOptions, SecretUpdate};
    let vault = create_vault(store, "libkv", localhsm::model::VaultOptions::default());
    let mut err = |e: localhsm::Error| {
        errors.push(format!("{e}"));
        errors.push(format!("{e:?}"));
        errors.push(format!("{:?}", localhsm::server::error::ApiError::from(e)));
    };
    let options = || SecretOptions {
        content_type: Some("text/plain".into()),
        tags: support::tags(&[("visible", SECRET_TAG)]),
        ..SecretOptions::default()
    };
    for label in ["library", "unicode", "exactly 25 KiB"] {
        let value = SecretString::from(secret_value(label));
        debug.push(format!("{value:?}"));
        debug.push(format!("{:#?}", value.duplicate()));
        let set = vault
            .set_secret("lib", value, options())
            .expect("set a secret");
        assert_eq!(
            set.value.as_ref().map(SecretString::expose),
            Some(secret_value(label).as_str())
        );
        debug.push(format!("{set:?}"));
        debug.push(format!("{set:#?}"));
        let got = vault.get_secret("lib", None);
        debug.push(format!("{got:?}"));
        let wire = localhsm::server::wire::SecretBundleWire::version(
            &localhsm::server::wire::BaseUrl("https://localhost".into()),
            got.expect("get"),
        );
        debug.push(format!("{wire:?}"));
        let params: localhsm::server::wire::SecretSetParameters =
            serde_json::from_value(json!({"value": secret_value(label), "tags": {"a": "b"}}))
                .expect("wire");
        debug.push(format!("{params:?}"));
    }
    debug.push(format!("{:?}", vault.list_secrets(25, None)));
    debug.push(format!("{:?}", vault.list_secret_versions("lib", 25, None)));
    debug.push(format!("{:?}", vault.get_secret_properties("lib", None)));
    let update = SecretUpdate {
        enabled: Some(false),
        ..SecretUpdate::default()
    };
    debug.push(format!("{:?}", vault.update_secret("lib", None, update)));
    match vault.get_secret("lib", None) {
        Ok(b) => panic!("a disabled secret was read: {}", b.version),
        Err(e) => err(e),
    }
    let too_big = SecretString::from(secret_value("25 KiB + 1"));
    match vault.set_secret("big", too_big, options()) {
        Ok(_) => panic!("a value over 25 KiB was set"),
        Err(e) => err(e),
    }
    let blob = vault.backup_secret("lib").expect("backup");
    if let Err(e) = vault.restore_key(&blob) {
        err(e);
    }
    let deleted = vault.delete_secret("lib").expect("delete");
    debug.push(format!("{deleted:?}"));
    debug.push(format!("{:?}", vault.get_deleted_secret("lib")));
    debug.push(format!("{:?}", vault.list_deleted_secrets(25, None)));
    for r in [
        vault.get_secret("lib", None).map(drop),
        vault.restore_secret(&blob).map(drop),
        vault
            .set_secret(
                "lib",
                SecretString::from(secret_value("library")),
                options(),
            )
            .map(drop),
    ] {
        if let Err(e) = r {
            err(e);
        }
    }
    debug.push(format!("{:?}", vault.recover_deleted_secret("lib")));
    // Managed HSM has no secrets: the refusal names the problem, not the value.
    let hsm = store.vault("lib").expect("vault lib");
    match hsm.set_secret("s", SecretString::from(secret_value("library")), options()) {
        Ok(_) => panic!("a Managed HSM took a secret"),
        Err(e) => err(e),
    }
}

// --- certificates -------------------------------------------------------------------------------

/// A tag value set on certificates: stored in the clear by design.
const CERT_TAG: &str = "visible-certificate-tag-2b7e41";

/// The password sent in an issuer's credentials (`credentials.pwd`), which localhsm drops.
const ISSUER_PASSWORD: &str = "issuer-account-password-9d4c2e17";

/// A certificate the test makes, so that its private key is known: the key's type, the
/// password its PFX is protected with, the PFX, the PEM (key, then certificate) and the
/// certificate.
struct CertMaterial {
    label: &'static str,
    password: &'static str,
    pfx: Vec<u8>,
    pem: String,
    der: Vec<u8>,
}

/// Self-signed certificates with EC P-256, EC P-384 and RSA 2048 keys, made once per process.
fn cert_materials() -> &'static [CertMaterial] {
    static MATERIALS: OnceLock<Vec<CertMaterial>> = OnceLock::new();
    MATERIALS.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        [
            (
                "ec256",
                KeySpec::Ec(CurveName::P256),
                "pfx-password-ec256-3f9a1c0b",
            ),
            (
                "ec384",
                KeySpec::Ec(CurveName::P384),
                "pfx-password-ec384-b2e7d0aa",
            ),
            (
                "rsa2048",
                KeySpec::Rsa(2048),
                "pfx-password-rsa2048-c4d19e77",
            ),
        ]
        .into_iter()
        .map(|(label, spec, password)| {
            let key = CertificateKey::generate(spec).expect("key");
            let cert_spec = CertSpec {
                subject: format!("CN=leak-{label}"),
                dns_names: vec![format!("{label}.leak.example")],
                not_before: now - localhsm::model::DAY,
                validity_months: 24,
                ..CertSpec::default()
            };
            let der = key.self_signed(&cert_spec).expect("certificate");
            let chain = std::slice::from_ref(&der);
            CertMaterial {
                label,
                password,
                pfx: key
                    .to_pfx(chain, Some(password))
                    .expect("PFX")
                    .expose()
                    .to_vec(),
                pem: key.to_pem(chain).expect("PEM").expose().to_string(),
                der,
            }
        })
        .collect()
    })
}

/// The PRIVATE KEY block of PEM text, BEGIN and END lines included.
fn pem_key_block(pem: &str) -> Option<&str> {
    let start = pem.find("-----BEGIN PRIVATE KEY-----")?;
    let end_marker = "-----END PRIVATE KEY-----";
    let end = pem[start..].find(end_marker)? + start + end_marker.len();
    Some(&pem[start..end])
}

/// The private members of a key as a JWK export gives them.
fn add_jwk_needles(n: &mut Needles, label: &str, jwk: &Jwk) {
    for (m, value) in [
        ("d", &jwk.d),
        ("p", &jwk.p),
        ("q", &jwk.q),
        ("dp", &jwk.dp),
        ("dq", &jwk.dq),
        ("qi", &jwk.qi),
    ] {
        if let Some(v) = value {
            n.add(&format!("{label}.{m}"), v.0.expose());
        }
    }
}

/// Needles for a certificate's private key given as a PFX (or PEM): the PFX whole, the PEM
/// key block whole, the PKCS#8 key, and the JWK private members (read by importing it into a
/// scratch store in memory, which is never scanned, and exporting the key).
fn add_key_needles(
    n: &mut Needles,
    label: &str,
    pfx: Option<(&[u8], Option<&str>)>,
    pem: Option<&str>,
) {
    let key = match (pfx, pem) {
        (Some((bytes, password)), _) => {
            n.add(&format!("{label} PFX"), bytes);
            CertificateKey::from_pfx(bytes, password)
                .expect("the PFX opens")
                .0
        }
        (None, Some(text)) => {
            let block = pem_key_block(text).expect("a PRIVATE KEY block");
            n.add_form(format!("{label} PEM key block"), block.as_bytes().to_vec());
            CertificateKey::from_pem(text).expect("the PEM opens").0
        }
        (None, None) => return,
    };
    let pkcs8 = key.to_pkcs8_der().expect("PKCS#8");
    n.add(&format!("{label} PKCS#8"), pkcs8.expose());
    // The key again as PEM and as a PFX of its own, under a scratch certificate: the PEM
    // block to look for wherever the key came from, the PFX to open in a scratch store.
    let scratch_der = key
        .self_signed(&CertSpec {
            subject: "CN=scratch".into(),
            not_before: 1_700_000_000,
            ..CertSpec::default()
        })
        .expect("certificate");
    let chain = std::slice::from_ref(&scratch_der);
    let pem = key.to_pem(chain).expect("PEM");
    let block = pem_key_block(pem.expose()).expect("a PRIVATE KEY block");
    n.add_form(
        format!("{label} PEM key block (re-encoded)"),
        block.as_bytes().to_vec(),
    );
    let own_pfx = key.to_pfx(chain, None).expect("PFX");
    let scratch = TempStore::in_memory();
    let v = create_vault(
        &scratch.store,
        "scratch",
        localhsm::model::VaultOptions::default(),
    );
    v.import_certificate(
        "c",
        SecretBytes::from_slice(own_pfx.expose()),
        None,
        None,
        CertificateOptions::default(),
    )
    .expect("scratch import");
    let exported = localhsm::hazmat::export_private_key(&v, "c", None).expect("scratch export");
    add_jwk_needles(n, label, &exported.key);
}

/// Every piece of the test's certificates that must not leak: their keys (see
/// [`add_key_needles`]), their PFX and PEM as sent, the PFX passwords, and the issuer
/// password.
fn add_cert_needles(n: &mut Needles) {
    for m in cert_materials() {
        add_key_needles(
            n,
            &format!("certificate {}", m.label),
            Some((&m.pfx, Some(m.password))),
            None,
        );
        n.add_form(
            format!("certificate {} PEM whole", m.label),
            m.pem.as_bytes().to_vec(),
        );
        let block = pem_key_block(&m.pem).expect("a PRIVATE KEY block");
        n.add_form(
            format!("certificate {} PEM key block", m.label),
            block.as_bytes().to_vec(),
        );
        n.add(
            &format!("certificate {} PFX password", m.label),
            m.password.as_bytes(),
        );
    }
    n.add("issuer password", ISSUER_PASSWORD.as_bytes());
}

/// Needles for the keys `vault` made itself (issued certificates) and for every certificate
/// secret it holds: each readable secret value whole (PFX or PEM) and the key in it, and each
/// exportable key's private members. Returns how many certificate versions gave needles.
fn add_issued_needles(n: &mut Needles, vault: &localhsm::Vault) -> usize {
    let mut found = 0;
    let certs = support::all_pages(|next| vault.list_certificates(25, next, true)).expect("list");
    for c in certs {
        let versions = vault
            .list_certificate_versions(&c.name, 25, None)
            .expect("versions");
        for b in versions.items {
            let label = format!("issued {}/{}", c.name, &b.version[..8]);
            if let Ok(s) = vault.get_secret(&c.name, Some(&b.version)) {
                let value = s.value.expect("a value");
                n.add_form(
                    format!("{label} secret value"),
                    value.expose().as_bytes().to_vec(),
                );
                if b.content_type == localhsm::model::certificates::CONTENT_TYPE_PEM {
                    if pem_key_block(value.expose()).is_some() {
                        add_key_needles(n, &label, None, Some(value.expose()));
                        found += 1;
                    }
                } else if let Ok(pfx) =
                    base64::engine::general_purpose::STANDARD.decode(value.expose())
                {
                    add_key_needles(n, &label, Some((&pfx, None)), None);
                    found += 1;
                }
            }
            if let Ok(exported) =
                localhsm::hazmat::export_private_key(vault, &c.name, Some(&b.version))
            {
                add_jwk_needles(n, &label, &exported.key);
            }
        }
    }
    found
}

/// A positive control: the data directory scan must find a certificate (public, stored in
/// the clear by design) and a certificate's tag.
fn assert_scan_sees_certificates(dir: &Path, der: &[u8]) {
    let mut control = Needles::new();
    control.add("certificate (public)", der);
    let mut seen = Vec::new();
    scan_dir(&control, dir, &mut seen);
    assert!(
        !seen.is_empty(),
        "the data directory scan does not see a stored certificate"
    );
    let mut tag = Needles::new();
    tag.add_form(
        "certificate tag (public)".into(),
        CERT_TAG.as_bytes().to_vec(),
    );
    let mut seen = Vec::new();
    scan_dir(&tag, dir, &mut seen);
    assert!(
        !seen.is_empty(),
        "the data directory scan does not see a certificate's tag"
    );
}

/// The certificates part of the REST workload: imports of the test's PFX files (with their
/// passwords) and PEM, certificates issued by the vault (PFX, PEM, not exportable, by an
/// issuer with a password), their secrets read, the lifecycle with backup and restore, and
/// refusals on purpose whose error bodies go to `errors`.
fn rest_cert_workload(api: &Api, errors: &mut Vec<String>) {
    let mut fail = |method: &str, path: &str, body: Option<Value>, status: u16| {
        let r = api.kv(method, path, body);
        assert_eq!(
            r.status,
            status,
            "{method} {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        errors.push(String::from_utf8_lossy(&r.body).into_owned());
    };
    let tags = json!({"visible": CERT_TAG});
    let pem_policy = json!({"secret_props": {"contentType": "application/x-pem-file"}});
    let mats = cert_materials();
    for m in mats {
        let pfx = base64::engine::general_purpose::STANDARD.encode(&m.pfx);
        let b = api.ok(
            "POST",
            &format!("/certificates/imp-{}/import", m.label),
            Some(json!({"value": pfx, "pwd": m.password, "tags": tags})),
        );
        assert!(b["cer"].is_string(), "{}", m.label);
        api.ok(
            "POST",
            &format!("/certificates/pem-{}/import", m.label),
            Some(json!({"value": m.pem, "policy": pem_policy, "tags": tags})),
        );
        for name in [format!("imp-{}", m.label), format!("pem-{}", m.label)] {
            api.ok("GET", &format!("/certificates/{name}"), None);
            api.ok("GET", &format!("/certificates/{name}/versions"), None);
            api.ok("GET", &format!("/certificates/{name}/policy"), None);
            let s = api.ok("GET", &format!("/secrets/{name}"), None);
            assert!(
                s["value"].is_string(),
                "{name}: the secret holds the PFX or PEM"
            );
            api.ok("GET", &format!("/keys/{name}"), None);
        }
        // Refusals around the real material: wrong or missing password, the wrong content
        // type, PEM without its key or with another certificate.
        let imp = format!("/certificates/bad-{}/import", m.label);
        for body in [
            json!({"value": pfx, "pwd": "not the password at all"}),
            json!({"value": pfx}),
            json!({"value": pfx, "pwd": m.password, "policy": pem_policy}),
            json!({"value": m.pem, "policy": {"secret_props": {"contentType": "application/x-pkcs12"}}}),
            json!({"value": pem_key_block(&m.pem).expect("key block"), "policy": pem_policy}),
        ] {
            fail("POST", &imp, Some(body), 400);
        }
    }
    let other = &mats[1];
    let mismatched = format!(
        "{}\n{}",
        pem_key_block(&mats[0].pem).expect("key block"),
        &other.pem[other
            .pem
            .find("-----BEGIN CERTIFICATE-----")
            .expect("certificate")..]
    );
    fail(
        "POST",
        "/certificates/mismatch/import",
        Some(json!({"value": mismatched, "policy": pem_policy})),
        400,
    );
    // Issued by the vault: PFX and PEM secrets, a key that may not leave, an issuer's CA.
    let ec = json!({"kty": "EC", "crv": "P-256"});
    api.ok(
        "PUT",
        "/certificates/issuers/corp",
        Some(json!({"provider": "Test", "credentials": {"account_id": "acct", "pwd": ISSUER_PASSWORD}})),
    );
    for (name, policy) in [
        (
            "self-pfx",
            json!({"key_props": ec, "x509_props": {"subject": "CN=self-pfx"}}),
        ),
        (
            "self-pem",
            json!({"key_props": {"kty": "RSA", "key_size": 2048}, "secret_props": {"contentType": "application/x-pem-file"}, "x509_props": {"subject": "CN=self-pem"}}),
        ),
        (
            "self-locked",
            json!({"key_props": {"kty": "EC", "crv": "P-384", "exportable": false}, "x509_props": {"subject": "CN=locked"}}),
        ),
        (
            "by-corp",
            json!({"key_props": ec, "x509_props": {"subject": "CN=by-corp"}, "issuer": {"name": "corp"}}),
        ),
        (
            "pending",
            json!({"key_props": ec, "x509_props": {"subject": "CN=pending"}, "issuer": {"name": "Unknown"}}),
        ),
    ] {
        let r = api.kv(
            "POST",
            &format!("/certificates/{name}/create"),
            Some(json!({"policy": policy, "tags": tags})),
        );
        assert_eq!(
            r.status,
            202,
            "{name}: {}",
            String::from_utf8_lossy(&r.body)
        );
        api.ok("GET", &format!("/certificates/{name}/pending"), None);
    }
    api.ok("GET", "/secrets/self-pfx", None);
    api.ok("GET", "/secrets/self-pem", None);
    fail("GET", "/secrets/self-locked", None, 403);
    let leaf = base64::engine::general_purpose::STANDARD.encode(&mats[0].der);
    fail(
        "POST",
        "/certificates/pending/pending/merge",
        Some(json!({"x5c": [leaf]})),
        400,
    );
    // A certificate's key and secret change only with it.
    fail("DELETE", "/keys/self-pfx", None, 403);
    fail(
        "PUT",
        "/secrets/self-pfx",
        Some(json!({"value": "over it"})),
        403,
    );
    // The lifecycle, with backup and restore and the conflicts on the way.
    for name in ["imp-ec256", "self-pem"] {
        let blob = api.ok("POST", &format!("/certificates/{name}/backup"), None);
        let restore = json!({"value": blob["value"]});
        api.ok("DELETE", &format!("/certificates/{name}"), None);
        api.ok("GET", &format!("/deletedcertificates/{name}"), None);
        fail(
            "POST",
            &format!("/certificates/{name}/import"),
            Some(json!({"value": m_pfx(0), "pwd": mats[0].password})),
            409,
        );
        fail("POST", "/certificates/restore", Some(restore.clone()), 409);
        fail("POST", "/keys/restore", Some(restore.clone()), 400);
        fail("POST", "/secrets/restore", Some(restore.clone()), 400);
        api.ok(
            "POST",
            &format!("/deletedcertificates/{name}/recover"),
            None,
        );
        api.ok("DELETE", &format!("/certificates/{name}"), None);
        let r = api.kv("DELETE", &format!("/deletedcertificates/{name}"), None);
        assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
        api.ok("POST", "/certificates/restore", Some(restore));
        api.ok("GET", &format!("/secrets/{name}"), None);
    }
    api.ok("GET", "/certificates?includePending=true", None);
    api.ok("GET", "/deletedcertificates", None);
}

/// Material `i` of [`cert_materials`] as its PFX in base64.
fn m_pfx(i: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(&cert_materials()[i].pfx)
}

/// The certificates part of the library workload, in a vault of kind `vault`: the `Debug`
/// output of every type that holds a key, a PFX, PEM or a password, and the errors of
/// refusals.
fn library_cert_workload(store: &Store, errors: &mut Vec<String>, debug: &mut Vec<String>) {
    use localhsm::crypto::SecretString;
    let vault = create_vault(store, "libcert", localhsm::model::VaultOptions::default());
    let mut err = |e: localhsm::Error| {
        errors.push(format!("{e}"));
        errors.push(format!("{e:?}"));
        errors.push(format!("{:?}", localhsm::server::error::ApiError::from(e)));
    };
    let options = || CertificateOptions {
        enabled: None,
        tags: support::tags(&[("visible", CERT_TAG)]),
    };
    let base = localhsm::server::wire::BaseUrl("https://localhost".into());
    for m in cert_materials() {
        let opened = CertificateKey::from_pfx(&m.pfx, Some(m.password));
        debug.push(format!("{opened:?}"));
        debug.push(format!("{opened:#?}"));
        let from_pem = CertificateKey::from_pem(&m.pem);
        debug.push(format!("{from_pem:?}"));
        for r in [
            CertificateKey::from_pfx(&m.pfx, Some("wrong password, surely")).map(drop),
            CertificateKey::from_pfx(&m.pfx, None).map(drop),
            CertificateKey::from_pem(pem_key_block(&m.pem).expect("key block")).map(drop),
        ] {
            if let Err(e) = r {
                err(e);
            }
        }
        let password = SecretString::from(m.password);
        debug.push(format!("{password:?}"));
        let value = SecretBytes::from_slice(&m.pfx);
        debug.push(format!("{value:?}"));
        let name = format!("lib-{}", m.label);
        let b = vault
            .import_certificate(&name, value, Some(password), None, options())
            .expect("library import");
        debug.push(format!("{b:?}"));
        debug.push(format!("{b:#?}"));
        debug.push(format!(
            "{:?}",
            localhsm::server::wire::CertificateBundleWire::version(&base, b)
        ));
        let params: Result<localhsm::server::wire::CertificateImportParameters, _> =
            serde_json::from_value(json!({
                "value": base64::engine::general_purpose::STANDARD.encode(&m.pfx),
                "pwd": m.password,
            }));
        debug.push(format!("{params:?}"));
        let pem_params: Result<localhsm::server::wire::CertificateImportParameters, _> =
            serde_json::from_value(json!({"value": m.pem}));
        debug.push(format!("{pem_params:?}"));
        let s = vault.get_secret(&name, None);
        debug.push(format!("{s:?}"));
        debug.push(format!("{:?}", vault.get_key(&name, None)));
        debug.push(format!("{:?}", vault.key(&name, None)));
        debug.push(format!("{:?}", vault.get_certificate_policy(&name)));
        match vault.get_certificate_operation(&name) {
            Ok(op) => debug.push(format!("{op:?}")),
            Err(e) => err(e),
        }
        for r in [
            vault
                .import_certificate(
                    &format!("{name}-wrong"),
                    SecretBytes::from_slice(&m.pfx),
                    Some(SecretString::from("wrong password, surely")),
                    None,
                    options(),
                )
                .map(drop),
            vault
                .import_certificate(
                    &format!("{name}-nopw"),
                    SecretBytes::from_slice(&m.pfx),
                    None,
                    None,
                    options(),
                )
                .map(drop),
            vault.delete_key(&name).map(drop),
            vault.delete_secret(&name).map(drop),
            vault
                .set_secret(
                    &name,
                    SecretString::from(m.pem.as_str()),
                    Default::default(),
                )
                .map(drop),
        ] {
            if let Err(e) = r {
                err(e);
            }
        }
    }
    // Issued here, one key not exportable: its secret and its export are refused.
    let policy: CertificatePolicy = serde_json::from_value(json!({
        "key_props": {"kty": "EC", "crv": "P-256", "exportable": false},
        "x509_props": {"subject": "CN=lib-locked"},
    }))
    .expect("policy");
    let op = vault
        .create_certificate("lib-locked", policy, options())
        .expect("create");
    debug.push(format!("{op:?}"));
    for r in [
        vault.get_secret("lib-locked", None).map(drop),
        localhsm::hazmat::export_private_key(&vault, "lib-locked", None).map(drop),
    ] {
        match r {
            Ok(()) => panic!("a key that may not leave the vault left it"),
            Err(e) => err(e),
        }
    }
    let blob = vault.backup_certificate("lib-ec256").expect("backup");
    if let Err(e) = vault.restore_key(&blob) {
        err(e);
    }
    let deleted = vault.delete_certificate("lib-ec256").expect("delete");
    debug.push(format!("{deleted:?}"));
    debug.push(format!("{:?}", vault.list_deleted_certificates(25, None)));
    debug.push(format!("{:?}", vault.list_certificates(25, None, true)));
    debug.push(format!(
        "{:?}",
        vault.recover_deleted_certificate("lib-ec256")
    ));
    let issuer = vault
        .set_certificate_issuer(
            "corp",
            localhsm::model::certificates::IssuerUpdate {
                provider: Some("Test".into()),
                account_id: Some("acct".into()),
                ..Default::default()
            },
        )
        .expect("issuer");
    debug.push(format!("{issuer:?}"));
    let wire: Result<localhsm::server::wire::IssuerParametersWire, _> = serde_json::from_value(
        json!({"provider": "Test", "credentials": {"account_id": "acct", "pwd": ISSUER_PASSWORD}}),
    );
    debug.push(format!("{wire:?}"));
}

#[test]
fn no_private_bytes_in_files_logs_debug_or_errors_in_process() {
    let logs = log_capture();
    let api = Api::new();
    let mut errors = Vec::new();
    let mut debug = Vec::new();
    rest_workload(&api, &mut errors);
    library_workload(&api.store, &mut errors, &mut debug);
    api.store.flush().expect("flush");

    let mut needles = known_needles(true);
    add_cert_needles(&mut needles);
    let mut issued = 0;
    for name in ["default", "libcert"] {
        let vault = api.store.vault(name).expect("vault");
        issued += add_issued_needles(&mut needles, &vault);
    }
    assert!(
        issued >= 10,
        "only {issued} certificate keys were read back"
    );
    api.store.flush().expect("flush");
    let mut hits = Vec::new();
    let files = scan_dir(&needles, api.dir.path(), &mut hits);
    assert_scan_sees_public_data(api.dir.path());
    assert_scan_sees_certificates(api.dir.path(), &cert_materials()[0].der);
    let log_bytes = logs.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    scan_text(&needles, "the trace log", &log_bytes, &mut hits);
    for (what, texts, shown) in [("Debug output", &debug, 60), ("error", &errors, 120)] {
        for (i, text) in texts.iter().enumerate() {
            let label = format!("{what} #{i} ({text:.shown$})");
            scan_text(&needles, &label, text.as_bytes(), &mut hits);
        }
    }
    println!(
        "{} needles; scanned {files} files, {} bytes of trace log, {} Debug strings, {} error messages",
        needles.count,
        log_bytes.len(),
        debug.len(),
        errors.len()
    );
    assert!(
        hits.is_empty(),
        "private key material leaked:\n{}",
        hits.join("\n")
    );
    // The scans looked at real material: logs were captured and the types were printed.
    let log_text = String::from_utf8_lossy(&log_bytes);
    assert!(log_text.contains("request"), "no request was logged");
    assert!(
        log_text.contains("TRACE") || log_text.contains("DEBUG"),
        "the log is not at trace level"
    );
    assert!(debug.iter().any(|d| d.contains("REDACTED")));
    assert!(errors.len() > 100, "only {} errors collected", errors.len());
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A real `localhsm serve` with `LOCALHSM_LOG=trace`: a short workload with the known keys,
/// then its output and data directory are scanned. Then the file modes, and the refusal of
/// a master key file readable by others.
#[cfg(unix)]
#[test]
fn no_private_bytes_from_a_real_server_and_key_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let _ = log_capture();
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    let stderr_path = tmp.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut server =
        Server::start(&dir, &[("LOCALHSM_LOG", "trace")], stderr.into()).expect("server starts");

    // Files holding secrets are private from the first start.
    let master = dir.join("master.key");
    assert_eq!(mode(&master), 0o600, "{}", master.display());
    assert_eq!(
        mode(&dir.join("tls").join("ca-key.pem")),
        0o600,
        "TLS CA key"
    );
    assert_eq!(mode(&dir) & 0o077, 0, "the data directory is private");

    let client = server.client();
    let mut errors = Vec::new();
    for (name, file, id) in KNOWN {
        let jwk = vector_key_json(file, id);
        let (status, body) = http(
            &client,
            "PUT",
            &server.url(&format!("/keys/{name}")),
            Some(&json!({
                "key": jwk,
                "attributes": {"exportable": true},
                "release_policy": {"data": "eyJhbnlPZiI6W119"}
            })),
        )
        .expect("import");
        assert_eq!(status, 200, "{name}: {body}");
        let mut bad = jwk.clone();
        for m in ["qi", "d", "k"] {
            if let Some(v) = jwk[m].as_str() {
                let mut b = localhsm::crypto::jwk::b64url_decode(v).expect("base64url");
                b[0] ^= 0x11;
                if m == "k" {
                    b.push(0x11);
                }
                bad[m] = Value::from(b64url_encode(&b));
                break;
            }
        }
        let (status, body) = http(
            &client,
            "PUT",
            &server.url(&format!("/keys/{name}-bad")),
            Some(&json!({"key": bad})),
        )
        .expect("bad import");
        assert_eq!(status, 400, "{name}: {body}");
        errors.push(body.to_string());
        let (status, blob) = http(
            &client,
            "POST",
            &server.url(&format!("/keys/{name}/backup")),
            None,
        )
        .expect("backup");
        assert_eq!(status, 200);
        for (m, p) in [
            ("DELETE", format!("/keys/{name}")),
            ("DELETE", format!("/deletedkeys/{name}")),
        ] {
            let (status, body) = http(&client, m, &server.url(&p), None).expect("lifecycle");
            assert!(status < 300, "{m} {p}: {status} {body}");
        }
        let (status, body) = http(
            &client,
            "POST",
            &server.url("/keys/restore"),
            Some(&json!({"value": blob["value"]})),
        )
        .expect("restore");
        assert_eq!(status, 200, "{body}");
    }
    for (name, alg) in [("rsa", "PS256"), ("ec256", "ES256"), ("eck1", "ES256K")] {
        let (status, body) = http(
            &client,
            "POST",
            &server.url(&format!("/keys/{name}//sign")),
            Some(&json!({"alg": alg, "value": b64url_encode(&[4; 32])})),
        )
        .expect("sign");
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = http(
        &client,
        "POST",
        &server.url("/keys/kw//unwrapkey"),
        Some(&json!({"alg": "A128KW", "value": b64url_encode(&[4; 40])})),
    )
    .expect("unwrap");
    assert_eq!(status, 400, "{body}");
    errors.push(body.to_string());
    // Secrets: set, read, back up, delete, purge, restore; and refusals whose bodies are kept.
    let call = |m: &str, p: &str, body: Option<Value>, want: u16| -> Value {
        let (status, b) = http(&client, m, &server.url(p), body.as_ref()).expect("secret call");
        assert_eq!(status, want, "{m} {p}: {b}");
        b
    };
    let tags = json!({"visible": SECRET_TAG});
    for (name, label) in [
        ("conn", "connection string"),
        ("uni", "unicode"),
        ("big", "exactly 25 KiB"),
        ("boxed", "backup only"),
        ("off", "disabled"),
    ] {
        let value = secret_value(label);
        let set = json!({"value": value, "tags": tags});
        let b = call("PUT", &format!("/secrets/{name}"), Some(set), 200);
        assert_eq!(b["value"].as_str(), Some(value.as_str()));
        let b = call("GET", &format!("/secrets/{name}"), None, 200);
        assert_eq!(b["value"].as_str(), Some(value.as_str()));
    }
    call("GET", "/secrets", None, 200);
    call("GET", "/secrets/conn/versions", None, 200);
    let over = json!({"value": secret_value("25 KiB + 1")});
    errors.push(call("PUT", "/secrets/over", Some(over), 400).to_string());
    let off = json!({"attributes": {"enabled": false}});
    call("PATCH", "/secrets/off", Some(off), 200);
    errors.push(call("GET", "/secrets/off", None, 403).to_string());
    let blob = call("POST", "/secrets/boxed/backup", None, 200);
    let restore = json!({"value": blob["value"]});
    call("DELETE", "/secrets/boxed", None, 200);
    let retake = json!({"value": secret_value("unicode")});
    errors.push(call("PUT", "/secrets/boxed", Some(retake), 409).to_string());
    errors.push(call("POST", "/secrets/restore", Some(restore.clone()), 409).to_string());
    call("DELETE", "/deletedsecrets/boxed", None, 204);
    call("POST", "/secrets/restore", Some(restore), 200);
    let b = call("GET", "/secrets/boxed", None, 200);
    assert_eq!(
        b["value"].as_str(),
        Some(secret_value("backup only").as_str())
    );
    // Certificates: imports with their passwords and as PEM, issued ones, their secrets
    // read, a wrong password refused, backup, delete, purge, restore.
    let tags = json!({"visible": CERT_TAG});
    let pem_policy = json!({"secret_props": {"contentType": "application/x-pem-file"}});
    for m in cert_materials() {
        let pfx = base64::engine::general_purpose::STANDARD.encode(&m.pfx);
        let import = json!({"value": pfx, "pwd": m.password, "tags": tags});
        call(
            "POST",
            &format!("/certificates/srv-{}/import", m.label),
            Some(import),
            200,
        );
        let import = json!({"value": m.pem, "policy": pem_policy, "tags": tags});
        call(
            "POST",
            &format!("/certificates/srvpem-{}/import", m.label),
            Some(import),
            200,
        );
        let wrong = json!({"value": pfx, "pwd": "not the password at all"});
        let path = format!("/certificates/srvbad-{}/import", m.label);
        errors.push(call("POST", &path, Some(wrong), 400).to_string());
        call("GET", &format!("/secrets/srv-{}", m.label), None, 200);
        call("GET", &format!("/secrets/srvpem-{}", m.label), None, 200);
    }
    for (name, policy) in [
        (
            "srv-self",
            json!({"key_props": {"kty": "EC"}, "x509_props": {"subject": "CN=srv"}}),
        ),
        (
            "srv-selfpem",
            json!({"key_props": {"kty": "EC", "crv": "P-384"}, "secret_props": {"contentType": "application/x-pem-file"}, "x509_props": {"subject": "CN=srvpem"}}),
        ),
    ] {
        let create = json!({"policy": policy, "tags": tags});
        call(
            "POST",
            &format!("/certificates/{name}/create"),
            Some(create),
            202,
        );
        call("GET", &format!("/secrets/{name}"), None, 200);
    }
    let blob = call("POST", "/certificates/srv-ec256/backup", None, 200);
    call("DELETE", "/certificates/srv-ec256", None, 200);
    call("DELETE", "/deletedcertificates/srv-ec256", None, 204);
    call(
        "POST",
        "/certificates/restore",
        Some(json!({"value": blob["value"]})),
        200,
    );
    drop(client);
    server.stop();
    assert!(
        matches!(server.child.try_wait(), Ok(Some(s)) if s.success()),
        "the server stops cleanly on SIGTERM"
    );

    let mut needles = known_needles(false);
    add_cert_needles(&mut needles);
    {
        // The keys the server made, read back through the library.
        let store = Opener::source(|| MasterKeySource::KeyFile)
            .try_open(&dir)
            .expect("the store opens");
        let vault = store.vault("default").expect("default vault");
        let issued = add_issued_needles(&mut needles, &vault);
        assert!(issued >= 8, "only {issued} certificate keys were read back");
        store.flush().expect("flush");
    }
    let mut hits = Vec::new();
    let files = scan_dir(&needles, &dir, &mut hits);
    assert_scan_sees_public_data(&dir);
    assert_scan_sees_certificates(&dir, &cert_materials()[0].der);
    let err_log = std::fs::read(&stderr_path).expect("stderr log");
    let out_log = server
        .stdout
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    scan_text(&needles, "the server's stderr (trace)", &err_log, &mut hits);
    scan_text(
        &needles,
        "the server's stdout",
        out_log.as_bytes(),
        &mut hits,
    );
    for e in &errors {
        scan_text(
            &needles,
            &format!("error {e:.100}"),
            e.as_bytes(),
            &mut hits,
        );
    }
    println!(
        "server: scanned {files} files, {} bytes of trace log",
        err_log.len()
    );
    assert!(
        hits.is_empty(),
        "private key material leaked:\n{}",
        hits.join("\n")
    );
    assert!(
        String::from_utf8_lossy(&err_log).contains("TRACE"),
        "the server did not log at trace level"
    );

    // A master key file readable by others: refused, naming the file and the fix.
    for loose in [0o644, 0o640, 0o604] {
        std::fs::set_permissions(&master, std::fs::Permissions::from_mode(loose)).expect("chmod");
        let out = support::serve_command(&dir, &[])
            .output()
            .expect("run localhsm serve");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !out.status.success(),
            "serve started with master.key mode {loose:o}: {text}"
        );
        assert!(
            text.contains(&master.display().to_string()),
            "the message names the file: {text}"
        );
        assert!(
            text.contains("chmod 600"),
            "the message says how to fix it: {text}"
        );
        assert!(!text.contains("listening"), "{text}");
    }
    std::fs::set_permissions(&master, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let mut again =
        Server::start(&dir, &[], std::process::Stdio::null()).expect("restart after chmod 600");
    again.stop();
}

#[test]
fn needles_find_every_encoding() {
    let secret: Vec<u8> = (0u8..40)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let mut n = Needles::new();
    n.add("s", &secret);
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let mut blob = b"prefix-bytes".to_vec();
    blob.extend_from_slice(&secret);
    blob.extend_from_slice(b"suffix");
    for shift in 0..3 {
        let embedded = [&vec![0u8; shift][..], &blob].concat();
        assert!(
            !n.find(STANDARD.encode(&embedded).as_bytes()).is_empty(),
            "std @{shift}"
        );
        assert!(
            !n.find(URL_SAFE_NO_PAD.encode(&embedded).as_bytes())
                .is_empty(),
            "url @{shift}"
        );
    }
    assert!(!n.find(hex::encode_upper(&blob).as_bytes()).is_empty());
    assert!(!n.find(&blob).is_empty());
    assert!(n.find(b"nothing to see here, nothing at all").is_empty());
}
