//! Helpers shared by the reliability suites (`bad_input`, `jwk_import`, `secrets`, `crash`,
//! `stress`, `store_fixture`): an in-process REST harness over a temporary store, a
//! snapshot of everything a store holds, the known keys of `vectors/`, and a small seeded
//! random number generator.

// Each integration test compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use localhsm::crypto::{Jwk, SecretBytes};
use localhsm::server::{call, ensure_default_vault, router, AppState};
use localhsm::{MasterKeySource, OffsetClock, Store};
use serde_json::Value;

/// The master key every in-process harness uses.
pub const MASTER: [u8; 32] = [0x5a; 32];

/// Path of a file or directory relative to the crate root.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A REST server answering in-process (no network) over a store in a temporary directory.
pub struct Api {
    pub rt: tokio::runtime::Runtime,
    pub app: axum::Router,
    pub store: Store,
    pub dir: tempfile::TempDir,
}

/// An HTTP answer: status, raw body, and the body as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub json: Value,
}

impl Reply {
    /// `error.code`, when the body has Key Vault's error shape.
    pub fn code(&self) -> Option<&str> {
        self.json.pointer("/error/code").and_then(Value::as_str)
    }

    /// `error.message`, when the body has Key Vault's error shape.
    pub fn message(&self) -> Option<&str> {
        self.json.pointer("/error/message").and_then(Value::as_str)
    }

    /// Whether the body is exactly Key Vault's error shape:
    /// `{"error":{"code":"..","message":"..",("innererror":{"code":".."})?}}`.
    pub fn error_shape_problem(&self) -> Option<String> {
        let Some(root) = self.json.as_object() else {
            return Some(format!(
                "body is not a JSON object: {:?}",
                String::from_utf8_lossy(&self.body)
            ));
        };
        if root.len() != 1 || !root.contains_key("error") {
            return Some(format!("body must have only `error`: {}", self.json));
        }
        let e = &root["error"];
        let nonempty = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        if !nonempty(e.get("code")) || !nonempty(e.get("message")) {
            return Some(format!(
                "error.code and error.message must be set: {}",
                self.json
            ));
        }
        if let Some(obj) = e.as_object() {
            for k in obj.keys() {
                if !["code", "message", "innererror"].contains(&k.as_str()) {
                    return Some(format!("unexpected member error.{k}: {}", self.json));
                }
            }
        }
        if let Some(inner) = e.get("innererror") {
            if !nonempty(inner.get("code")) {
                return Some(format!("innererror.code must be set: {}", self.json));
            }
        }
        None
    }
}

impl Api {
    /// A fresh store with the default vault (a Managed HSM), served in-process.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::open(dir)
    }

    /// Serves the store in `dir` in-process.
    pub fn open(dir: tempfile::TempDir) -> Self {
        let store = Store::open(
            dir.path(),
            MasterKeySource::Bytes(SecretBytes::new(MASTER.to_vec())),
        )
        .expect("open store");
        ensure_default_vault(&store).expect("default vault");
        let app = router(AppState {
            store: store.clone(),
            clock: Arc::new(OffsetClock::new()),
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        Self {
            rt,
            app,
            store,
            dir,
        }
    }

    /// Sends a request with a bearer token. `path` is sent as given (add the `api-version`
    /// yourself, or use [`kv`]).
    pub fn raw(&self, method: &str, host: &str, path: &str, body: Vec<u8>) -> Reply {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", host)
            .header("authorization", "Bearer x")
            .header("content-type", "application/json")
            .body(Body::from(body))
            .expect("request");
        self.send(req)
    }

    /// Sends a prepared request.
    pub fn send(&self, req: Request<Body>) -> Reply {
        let app = self.app.clone();
        self.rt.block_on(async move {
            let resp = call(app, req).await;
            let status = resp.status().as_u16();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("response body")
                .to_vec();
            let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
            Reply { status, body, json }
        })
    }

    /// A Key Vault call on the default vault (`Host: localhost`) with `api-version=7.5`.
    pub fn kv(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.kv_at(method, "localhost", path, body)
    }

    /// A Key Vault call on `host` with `api-version=7.5`.
    pub fn kv_at(&self, method: &str, host: &str, path: &str, body: Option<Value>) -> Reply {
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        self.raw(method, host, &kv(path), body)
    }

    /// Like [`Api::kv`] but panics unless the status is 2xx; returns the JSON.
    pub fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = self.kv(method, path, body);
        assert!(
            (200..300).contains(&r.status),
            "{method} {path}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        r.json
    }
}

/// `path` with `api-version=7.5` added to its query.
pub fn kv(path: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}api-version=7.5")
}

/// The version id at the end of a `kid`.
pub fn kid_version(kid: &str) -> String {
    kid.rsplit('/').next().unwrap_or_default().to_string()
}

/// Everything a store holds that a caller can see, as text: vaults (live and deleted),
/// every version of every live key (attributes, tags, key_ops, public key), and every
/// deleted key. Two equal snapshots mean no visible change.
pub fn snapshot(store: &Store) -> String {
    let mut out = BTreeMap::new();
    let vaults = store.list_vaults().expect("list vaults");
    for v in store.list_deleted_vaults().expect("list deleted vaults") {
        out.insert(format!("deleted-vault {}", v.name), format!("{v:?}"));
    }
    for info in vaults {
        out.insert(format!("vault {}", info.name), format!("{info:?}"));
        let vault = store.vault(&info.name).expect("vault");
        let mut next = None;
        loop {
            let page = vault.list_keys(7, next.as_deref()).expect("list keys");
            for key in &page.items {
                let mut vnext = None;
                loop {
                    let versions = vault
                        .list_versions(&key.name, 5, vnext.as_deref())
                        .expect("list versions");
                    for b in &versions.items {
                        out.insert(
                            format!("key {}/{}/{}", info.name, b.name, b.version),
                            bundle_text(b),
                        );
                    }
                    match versions.next {
                        Some(n) => vnext = Some(n),
                        None => break,
                    }
                }
            }
            match page.next {
                Some(n) => next = Some(n),
                None => break,
            }
        }
        let mut next = None;
        loop {
            let page = vault
                .list_deleted_keys(7, next.as_deref())
                .expect("list deleted keys");
            for d in &page.items {
                out.insert(
                    format!("deleted-key {}/{}", info.name, d.key.name),
                    format!("{:?} {}", d.deletion, bundle_text(&d.key)),
                );
            }
            match page.next {
                Some(n) => next = Some(n),
                None => break,
            }
        }
    }
    out.into_iter()
        .map(|(k, v)| format!("{k}: {v}\n"))
        .collect()
}

fn bundle_text(b: &localhsm::model::KeyBundle) -> String {
    format!(
        "kty={} current={} ops={:?} attrs={:?} tags={:?} jwk={}",
        b.kty,
        b.is_current,
        b.key_ops,
        b.attributes,
        b.tags,
        serde_json::to_string(&b.key).unwrap_or_default()
    )
}

/// The line-by-line difference of two snapshots, for failure messages.
pub fn snapshot_diff(before: &str, after: &str) -> String {
    let b: std::collections::BTreeSet<&str> = before.lines().collect();
    let a: std::collections::BTreeSet<&str> = after.lines().collect();
    let mut out = String::new();
    for l in b.difference(&a) {
        out.push_str(&format!("- {l}\n"));
    }
    for l in a.difference(&b) {
        out.push_str(&format!("+ {l}\n"));
    }
    out
}

/// The raw JSON of key `id` in `vectors/<file>`.
pub fn vector_key_json(file: &str, id: &str) -> Value {
    let path = repo_path("vectors").join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).expect("vector file JSON");
    v["keys"][id].clone()
}

/// Key `id` of `vectors/<file>` as a JWK.
pub fn vector_jwk(file: &str, id: &str) -> Jwk {
    serde_json::from_value(vector_key_json(file, id)).expect("vector JWK")
}

/// SplitMix64: a tiny, seedable generator for reproducible workloads.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A seed from `var` when set (decimal or 0x-hex), else from the clock.
pub fn seed_from_env(var: &str) -> u64 {
    match std::env::var(var) {
        Ok(s) => {
            let s = s.trim();
            let parsed = match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16),
                None => s.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("{var}={s:?} is not a number"))
        }
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    }
}

/// A number from `var` when set, else `default`.
pub fn usize_from_env(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .map(|s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{var}={s:?} is not a number"))
        })
        .unwrap_or(default)
}

/// A `localhsm serve` child process on a data directory, listening on a free port.
pub struct Server {
    pub child: std::process::Child,
    pub addr: std::net::SocketAddr,
    pub dir: PathBuf,
    /// Everything the server printed on stdout so far (a reader thread appends to it).
    pub stdout: Arc<std::sync::Mutex<String>>,
}

/// The `localhsm` binary built for this test run.
pub fn localhsm_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_localhsm"))
}

/// `localhsm serve --data DIR --addr 127.0.0.1:0` with a clean environment (no master key,
/// data directory or log settings inherited) plus `env`.
pub fn serve_command(dir: &Path, env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = std::process::Command::new(localhsm_bin());
    cmd.arg("serve")
        .arg("--data")
        .arg(dir)
        .arg("--addr")
        .arg("127.0.0.1:0")
        .env_remove("LOCALHSM_MASTER_KEY")
        .env_remove("LOCALHSM_DATA")
        .env_remove("LOCALHSM_VAULT")
        .env_remove("LOCALHSM_LOG")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

impl Server {
    /// Starts the server and waits (up to 60 s) until it listens. `stderr` receives its
    /// standard error.
    pub fn start(
        dir: &Path,
        env: &[(&str, &str)],
        stderr: std::process::Stdio,
    ) -> Result<Server, String> {
        use std::io::BufRead;
        let mut child = serve_command(dir, env)
            .stdout(std::process::Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", localhsm_bin().display()))?;
        let out = child.stdout.take().expect("piped stdout");
        let stdout = Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let stdout = stdout.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if let Some(url) = line.strip_prefix("localhsm listening on https://") {
                        let _ = tx.send(url.trim().to_string());
                    }
                    let mut s = stdout.lock().unwrap_or_else(|p| p.into_inner());
                    s.push_str(&line);
                    s.push('\n');
                }
            });
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            match rx.recv_timeout(std::time::Duration::from_millis(20)) {
                Ok(addr) => {
                    let addr = addr
                        .parse()
                        .map_err(|e| format!("server announced {addr:?}: {e}"))?;
                    return Ok(Server {
                        child,
                        addr,
                        dir: dir.to_path_buf(),
                        stdout,
                    });
                }
                Err(_) if std::time::Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err("the server did not announce its address within 60 s".into());
                }
                Err(_) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        return Err(format!("the server exited before listening: {status}"));
                    }
                }
            }
        }
    }

    /// An HTTPS client that trusts the server's CA and reaches it as `localhost`.
    pub fn client(&self) -> reqwest::blocking::Client {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let pem = std::fs::read(self.dir.join("tls").join("cert.pem")).expect("CA certificate");
        let cert = reqwest::Certificate::from_pem(&pem).expect("CA PEM");
        reqwest::blocking::Client::builder()
            .tls_certs_only([cert])
            .resolve("localhost", self.addr)
            .no_proxy()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("HTTPS client")
    }

    /// `https://localhost:PORT{path}` with `api-version=7.5` added.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{}", self.addr.port(), kv(path))
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (a graceful stop), then reap; SIGKILL after 20 s.
    pub fn stop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        self.kill();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// Sends a Key Vault request with a bearer token; returns the status and the JSON body.
pub fn http(
    client: &reqwest::blocking::Client,
    method: &str,
    url: &str,
    body: Option<&Value>,
) -> reqwest::Result<(u16, Value)> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = client.request(method, url).bearer_auth("x");
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send()?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes()?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}
