//! A full disk. Guards against: a full disk that turns reads and signs into 500s, writes that
//! keep failing after space returns until a restart, an ENOSPC answered as a 500 with Rust
//! `Debug` text, and a full period that loses an acknowledged change or keeps part of a
//! refused one.
//!
//! - Through the real server's router, on a backend that refuses writes with ENOSPC on
//!   demand (the memory backend under a switch: no root, no timing): writes get 507
//!   `InsufficientStorage` in Key Vault's error shape with a sentence; reads, signs,
//!   verifies, wraps and decrypts go on, with the access log on and a purge falling due; once
//!   there is space, writes go on without a restart; what was acknowledged is all there,
//!   before and after a reopen, and nothing refused is.
//! - On sled through `localhsm serve`, with the free-space reserve set above what any disk
//!   has, so every write is refused as on a full disk; then a restart without it.
//!
//! A real full file system (a small tmpfs, root only) is `tests/disk_full.sh`, run by
//! `.ci/run`.

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use localhsm::audit::LogQuery;
use localhsm::crypto::jwk::b64url_encode;
use localhsm::crypto::SecretBytes;
use localhsm::store::{Backend, KeyRange, MemoryBackend, Rows, Table, Txn, Write};
use localhsm::{ManualClock, MasterKeySource, Store};
use serde_json::{json, Value};
use support::{http, Api, Reply, Server, MASTER, T0};

const DAY: u64 = 86_400;

/// The memory backend on a disk that can fill up: while full, every write fails the way a
/// storage engine's does on ENOSPC, before any of it is applied. Reads always work.
#[derive(Default)]
struct FillableDisk {
    inner: MemoryBackend,
    full: AtomicBool,
    /// Writes refused so far.
    refused: AtomicU64,
}

impl FillableDisk {
    fn refuse(&self) -> localhsm::Result<()> {
        if !self.full.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.refused.fetch_add(1, Ordering::SeqCst);
        // ENOSPC, as the engine reports it.
        Err(std::io::Error::from_raw_os_error(28).into())
    }
}

impl Backend for FillableDisk {
    fn location(&self) -> String {
        "memory (a disk that fills up)".into()
    }

    fn get(&self, table: Table, key: &[u8]) -> localhsm::Result<Option<Vec<u8>>> {
        self.inner.get(table, key)
    }

    fn scan(&self, table: Table, range: &KeyRange, limit: usize) -> localhsm::Result<Rows> {
        self.inner.scan(table, range, limit)
    }

    fn transact(
        &self,
        work: &mut dyn FnMut(&mut dyn Txn) -> localhsm::Result<()>,
    ) -> localhsm::Result<()> {
        self.refuse()?;
        self.inner.transact(work)
    }

    fn apply(&self, writes: &[Write]) -> localhsm::Result<()> {
        self.refuse()?;
        self.inner.apply(writes)
    }

    fn flush(&self) -> localhsm::Result<()> {
        self.inner.flush()
    }

    fn next_id(&self) -> localhsm::Result<u64> {
        self.refuse()?;
        self.inner.next_id()
    }
}

fn open(backend: &Arc<FillableDisk>, clock: &Arc<ManualClock>) -> Store {
    Store::builder_on(backend.clone())
        .master_key(MasterKeySource::Bytes(SecretBytes::new(MASTER.to_vec())))
        .clock(clock.clone())
        .open()
        .expect("open the store")
}

/// Asserts a 507 in Key Vault's error shape whose message says, in words, that the disk is
/// full and that writes resume without a restart.
#[track_caller]
fn assert_disk_full(r: &Reply, what: &str) {
    assert_eq!(
        r.status,
        507,
        "{what}: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.error_shape_problem(), None, "{what}");
    assert_eq!(r.code(), Some("InsufficientStorage"), "{what}");
    let message = r.message().unwrap_or_default();
    assert!(
        message.starts_with("the disk holding the data directory is full")
            && message.contains("without a restart"),
        "{what}: {message}"
    );
    for debug in ["Os {", "StorageFull", "kind:", "code: 28", "Io("] {
        assert!(!message.contains(debug), "{what}: Debug text in {message}");
    }
}

fn digest(n: u8) -> String {
    b64url_encode(&[n; 32])
}

/// The `value` a key operation (`/keys/{key}//{op}`) answers.
fn key_op(api: &Api, key: &str, op: &str, body: Value) -> Value {
    api.ok("POST", &format!("/keys/{key}//{op}"), Some(body))["value"].clone()
}

/// Signs with `ec`, verifies with it, wraps and unwraps with `aes`, encrypts and decrypts
/// with `rsa`, and reads each key: every operation on existing keys, with known answers.
fn use_every_key(api: &Api) {
    let sig = key_op(
        api,
        "ec",
        "sign",
        json!({"alg": "ES256", "value": digest(1)}),
    );
    let check = json!({"alg": "ES256", "digest": digest(1), "value": sig});
    assert_eq!(key_op(api, "ec", "verify", check), true);
    for (key, alg, wrap, unwrap, n) in [
        ("aes", "A256KW", "wrapkey", "unwrapkey", 2),
        ("rsa", "RSA-OAEP-256", "encrypt", "decrypt", 3),
    ] {
        let sealed = key_op(api, key, wrap, json!({"alg": alg, "value": digest(n)}));
        let opened = key_op(api, key, unwrap, json!({"alg": alg, "value": sealed}));
        assert_eq!(opened, digest(n), "{key} {alg}");
    }
    for name in ["ec", "aes", "rsa"] {
        let key = api.ok("GET", &format!("/keys/{name}"), None);
        assert!(key["key"]["kid"]
            .as_str()
            .unwrap()
            .contains(&format!("/keys/{name}/")));
        assert_eq!(key["tags"], json!({"kept": "yes"}), "{name}");
    }
}

/// The names of the live keys of the default vault.
fn key_names(api: &Api) -> BTreeSet<String> {
    api.ok("GET", "/keys", None)["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            k["kid"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn create(api: &Api, name: &str, body: Value) -> Reply {
    api.kv("POST", &format!("/keys/{name}/create"), Some(body))
}

#[test]
fn a_full_disk_refuses_writes_in_words_serves_keys_and_heals_without_a_restart() {
    let backend = Arc::new(FillableDisk::default());
    let clock = Arc::new(ManualClock::new(T0));
    let api = Api::serve(
        open(&backend, &clock),
        tempfile::tempdir().expect("temp dir"),
    );
    let tags = json!({"kept": "yes"});
    for (name, spec) in [
        ("ec", json!({"kty": "EC-HSM", "crv": "P-256"})),
        ("aes", json!({"kty": "oct-HSM", "key_size": 256})),
        ("rsa", json!({"kty": "RSA-HSM", "key_size": 2048})),
        ("doomed", json!({"kty": "EC-HSM", "crv": "P-256"})),
    ] {
        let mut body = spec;
        body["tags"] = tags.clone();
        assert_eq!(create(&api, name, body).status, 200, "create {name}");
    }
    // Soft-deleted now, due for purge while the disk is full.
    let deleted = api.ok("DELETE", "/keys/doomed", None);
    let purge_at = deleted["scheduledPurgeDate"].as_u64().unwrap();
    api.store
        .set_access_log("default", true, None)
        .expect("access log on");
    use_every_key(&api);

    backend.full.store(true, Ordering::SeqCst);
    clock.set(purge_at + DAY);
    let writes = [
        create(&api, "new", json!({"kty": "EC-HSM", "crv": "P-256"})),
        api.kv(
            "PATCH",
            "/keys/ec",
            Some(json!({"tags": {"changed": "no"}})),
        ),
        api.kv("POST", "/keys/rsa/rotate", None),
        api.kv("DELETE", "/keys/aes", None),
        api.kv("DELETE", "/deletedkeys/doomed", None),
        api.kv(
            "PUT",
            "/keys/imported",
            Some(json!({"key": {"kty": "oct-HSM", "k": b64url_encode(&[9; 32])}})),
        ),
    ];
    for (i, r) in writes.iter().enumerate() {
        assert_disk_full(r, &format!("write #{i}"));
    }
    let refused_before_reads = backend.refused.load(Ordering::SeqCst);

    // Existing keys are served meanwhile: a purge has fallen due and every call writes an
    // access-log record, and neither stops a read or a key operation.
    use_every_key(&api);
    assert_eq!(key_names(&api), names(&["aes", "ec", "rsa"]));
    let versions = api.ok("GET", "/keys/rsa/versions", None)["value"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(versions, 1, "the refused rotation left no version");
    assert_eq!(
        api.kv("GET", "/deletedkeys/doomed", None).status,
        200,
        "the due purge waits for space"
    );
    assert!(
        backend.refused.load(Ordering::SeqCst) > refused_before_reads,
        "the key operations did try to write (the access log, the sweep) and went on"
    );

    // Space returns: writes go on at once, and the due purge happens.
    backend.full.store(false, Ordering::SeqCst);
    let mut body = json!({"kty": "EC-HSM", "crv": "P-256"});
    body["tags"] = tags.clone();
    assert_eq!(create(&api, "after", body).status, 200);
    assert_eq!(api.kv("GET", "/deletedkeys/doomed", None).status, 404);
    let logged = api
        .store
        .access_log("default", &LogQuery::default())
        .expect("access log");
    assert!(
        logged.iter().any(|r| r.operation_name == "KeyCreate"
            && r.http_status_code == 200
            && r.time_unix > purge_at),
        "the access log is written again"
    );
    assert!(
        !logged.iter().any(|r| r.http_status_code == 507
            || r.operation_name == "KeySign" && r.time_unix > purge_at),
        "nothing was logged while the disk was full"
    );
    use_every_key(&api);

    // Nothing acknowledged is lost and nothing refused is there, now and after a reopen.
    let expected = names(&["aes", "after", "ec", "rsa"]);
    assert_eq!(key_names(&api), expected);
    assert_eq!(api.kv("GET", "/keys/new", None).status, 404);
    assert_eq!(api.kv("GET", "/keys/imported", None).status, 404);
    drop(api);
    let api = Api::serve(
        open(&backend, &clock),
        tempfile::tempdir().expect("temp dir"),
    );
    assert_eq!(key_names(&api), expected);
    use_every_key(&api);
}

/// `localhsm serve` on sled with a reserve no disk has, so every write is refused as on a
/// full disk: the same 507, keys served; a restart without the reserve keeps every key
/// acknowledged before, none refused, and writes again.
#[test]
fn serve_on_sled_refuses_writes_below_the_reserve_and_keeps_every_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = hex::encode(MASTER);
    let env = [("LOCALHSM_MASTER_KEY", key.as_str())];
    let create = |server: &Server, name: &str| {
        http(
            &server.client(),
            "POST",
            &server.url(&format!("/keys/{name}/create")),
            Some(&json!({"kty": "EC-HSM", "crv": "P-256"})),
        )
        .expect("create request")
    };
    let sign = |server: &Server, name: &str| {
        http(
            &server.client(),
            "POST",
            &server.url(&format!("/keys/{name}//sign")),
            Some(&json!({"alg": "ES256", "value": digest(4)})),
        )
        .expect("sign request")
    };
    let stderr = || std::process::Stdio::null();

    let mut server = Server::start(dir.path(), &env, stderr()).expect("start");
    for name in ["a", "b"] {
        assert_eq!(create(&server, name).0, 200);
    }
    server.stop();

    let full = [env[0], ("LOCALHSM_DISK_RESERVE_MIB", "1073741824")];
    let mut server = Server::start(dir.path(), &full, stderr()).expect("start with a reserve");
    let (status, body) = create(&server, "c");
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["error"]["code"], "InsufficientStorage");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "the disk holding the data directory {} is full",
            dir.path().display()
        )),
        "{message}"
    );
    for name in ["a", "b"] {
        let (status, body) = sign(&server, name);
        assert_eq!(status, 200, "sign with {name}: {body}");
        let (status, _) = http(
            &server.client(),
            "GET",
            &server.url(&format!("/keys/{name}")),
            None,
        )
        .expect("get request");
        assert_eq!(status, 200);
    }
    server.stop();

    let server = Server::start(dir.path(), &env, stderr()).expect("restart");
    for name in ["a", "b"] {
        assert_eq!(sign(&server, name).0, 200, "{name} kept");
    }
    let (status, _) = http(&server.client(), "GET", &server.url("/keys/c"), None).expect("get");
    assert_eq!(status, 404, "the refused key is not there");
    assert_eq!(create(&server, "c").0, 200);
}
