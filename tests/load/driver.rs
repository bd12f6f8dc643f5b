//! The load generator behind `tests/load/main.rs` (the full and soak runs) and
//! `tests/load_smoke.rs` (the CI variant): starts `localhsm serve` on a temporary data
//! directory and a free port, creates an EC-HSM P-256 key and an oct-HSM 256 key, and drives
//! `POST /keys/{name}/{version}/sign` (ES256) and `.../unwrapkey` (A256KW) over HTTPS/1.1
//! from N concurrent connections, each sending its next request when the last one answered.
//! Reports requests/s, p50/p99 latency, errors, CPU per request and the server's memory.
//! The same generator drives the floor ([`floor`]: hyper + rustls + the raw ECDSA primitive,
//! in a process of its own) with the very same sign request, so that `localhsm` can be
//! stated as a ratio of it.
#![allow(dead_code, reason = "each test target uses part of it")]

#[path = "floor.rs"]
pub mod floor;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The server binary: `LOCALHSM_BIN`, else the one Cargo built with this test.
pub fn server_binary() -> PathBuf {
    std::env::var_os("LOCALHSM_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_localhsm")))
}

/// A `u64` from the environment, or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not {v:?}")),
        Err(_) => default,
    }
}

/// A running server (`localhsm serve`, or the floor), killed on drop.
pub struct Server {
    child: Child,
    dir: tempfile::TempDir,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The certificate to trust (the CA's for `localhsm`, the floor's self-signed one).
    pub cert: PathBuf,
}

impl Server {
    /// Starts `bin serve` on 127.0.0.1, port chosen by the OS, and waits until it listens.
    pub fn start(bin: &Path) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--data")
            .arg(dir.path())
            .arg("--addr")
            .arg("127.0.0.1:0")
            .env_remove("LOCALHSM_MASTER_KEY")
            .env("LOCALHSM_LOG", "warn")
            .stdin(Stdio::null());
        let cert = dir.path().join("tls").join("cert.pem");
        Server::spawn(cmd, dir, cert, &bin.display().to_string())
    }

    /// Starts `bin` as a replica on the shared store `url` (PostgreSQL), with the master
    /// key `master_hex` (every replica of a store needs the same).
    pub fn start_on_store(bin: &Path, url: &str, master_hex: &str) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--data")
            .arg(dir.path())
            .arg("--addr")
            .arg("127.0.0.1:0")
            .arg("--store")
            .arg(url)
            .env("LOCALHSM_MASTER_KEY", master_hex)
            .env("LOCALHSM_LOG", "warn")
            .stdin(Stdio::null());
        let cert = dir.path().join("tls").join("cert.pem");
        Server::spawn(cmd, dir, cert, &bin.display().to_string())
    }

    /// Starts the floor server ([`floor`]): this test binary again, running only the
    /// floor's entry point, and waits until it listens.
    pub fn start_floor() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut cmd = Command::new(exe);
        cmd.arg(floor::test_name())
            .args([
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
                "-q",
            ])
            .env(floor::DIR_ENV, dir.path())
            // The floor exits when this pipe closes.
            .stdin(Stdio::piped());
        let cert = dir.path().join(floor::CERT_FILE);
        Server::spawn(cmd, dir, cert, "the floor server")
    }

    fn spawn(mut cmd: Command, dir: tempfile::TempDir, cert: PathBuf, what: &str) -> Server {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        // A stdout line names the address (after whatever the test harness prints first,
        // for the floor); keep draining stdout afterwards.
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref().map_while(|l| l.ok()) {
                if let Some((_, url)) = line.split_once("listening on https://") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let addr: SocketAddr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a.parse().expect("listen address"),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not start listening");
            }
        };
        Server {
            child,
            dir,
            addr,
            cert,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's memory now, from /proc.
    pub fn memory(&self) -> Memory {
        Memory::of(self.pid())
    }

    /// The floor's signing key (SEC1, uncompressed); only for a server from [`Server::start_floor`].
    pub fn floor_public_key(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join(floor::PUBLIC_KEY_FILE)).expect("the floor's public key")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of a process, in KiB: now (`VmRSS`) and at its peak (`VmHWM`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// VmRSS.
    pub rss_kib: u64,
    /// VmHWM.
    pub peak_kib: u64,
}

impl Memory {
    /// Reads `/proc/PID/status`; zeros where /proc is not there.
    pub fn of(pid: u32) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Memory {
            rss_kib: field("VmRSS:"),
            peak_kib: field("VmHWM:"),
        }
    }
}

/// CPU time a process has used (user + system), from `/proc/PID/stat`; zero without /proc.
/// Assumes the usual 100 clock ticks per second.
pub fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// One kind of request the load sends, again and again.
#[derive(Clone)]
pub struct Target {
    /// Name in reports.
    pub name: &'static str,
    /// Path and query.
    pub path: String,
    /// JSON body.
    pub body: Bytes,
}

/// The two load targets, on keys created in the server's default vault.
pub struct Targets {
    /// ES256 over a 32-byte digest.
    pub sign: Target,
    /// A256KW unwrap of a wrapped 32-byte key.
    pub unwrap: Target,
    /// The EC key's public point (SEC1, uncompressed), to verify what `sign` answers.
    pub sign_public: Vec<u8>,
}

/// The digest every sign request carries.
pub fn sign_digest() -> Vec<u8> {
    localhsm::crypto::HashAlg::Sha256.digest(b"localhsm load test")
}

/// An HTTPS/1.1 connection to the server.
pub struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: String,
}

/// What a client needs to reach the server.
#[derive(Clone)]
pub struct Client {
    addr: SocketAddr,
    tls: TlsConnector,
}

impl Client {
    /// Trusts `cert` (the server's CA).
    pub fn new(server: &Server) -> Client {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&server.cert).expect("read cert.pem") {
            roots.add(cert.expect("cert.pem")).expect("trust cert.pem");
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        Client {
            addr: server.addr,
            tls: TlsConnector::from(Arc::new(config)),
        }
    }

    /// Opens a connection (TCP, TLS to `localhost`, HTTP/1.1).
    pub async fn connect(&self) -> Result<Conn, String> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
        let name = ServerName::try_from("localhost").expect("server name");
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn {
            sender,
            host: format!("localhost:{}", self.addr.port()),
        })
    }
}

impl Conn {
    /// POSTs `body` to `path`; the status and the response body.
    pub async fn post(&mut self, path: &str, body: Bytes) -> Result<(StatusCode, Bytes), String> {
        self.send(hyper::Method::POST, path, body).await
    }

    /// Sends `body` to `path` with `method`; the status and the response body.
    pub async fn send(
        &mut self,
        method: hyper::Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), String> {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .header("authorization", "Bearer load-test")
            .header("content-type", "application/json")
            .body(Full::new(body))
            .map_err(|e| format!("request: {e}"))?;
        self.sender
            .ready()
            .await
            .map_err(|e| format!("connection: {e}"))?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| format!("send: {e}"))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok((status, body))
    }

    async fn post_json(&mut self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let (status, bytes) = self
            .post(path, Bytes::from(body.to_string()))
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        assert_eq!(
            status,
            StatusCode::OK,
            "POST {path}: {}",
            String::from_utf8_lossy(&bytes)
        );
        serde_json::from_slice(&bytes).expect("JSON answer")
    }
}

const API: &str = "api-version=7.4";

fn kid_path(bundle: &serde_json::Value) -> String {
    let kid = bundle["key"]["kid"].as_str().expect("kid");
    let at = kid.find("/keys/").expect("kid path");
    kid[at..].to_string()
}

/// Creates the keys and the wrapped key, and builds the two targets.
pub async fn setup(client: &Client) -> Targets {
    let mut c = client.connect().await.expect("connect");
    let ec = c
        .post_json(
            &format!("/keys/load-ec/create?{API}"),
            serde_json::json!({"kty": "EC-HSM", "crv": "P-256"}),
        )
        .await;
    let aes = c
        .post_json(
            &format!("/keys/load-aes/create?{API}"),
            serde_json::json!({"kty": "oct-HSM", "key_size": 256}),
        )
        .await;
    let coordinate = |c: &str| {
        let v = ec["key"][c].as_str().expect("EC public key");
        localhsm::crypto::jwk::b64url_decode(v).expect("base64url")
    };
    let sign_public = [vec![4], coordinate("x"), coordinate("y")].concat();
    let (ec, aes) = (kid_path(&ec), kid_path(&aes));
    let b64 = |b: &[u8]| localhsm::crypto::jwk::b64url_encode(b);
    let wrapped = c
        .post_json(
            &format!("{aes}/wrapkey?{API}"),
            serde_json::json!({"alg": "A256KW", "value": b64(&[0x42; 32])}),
        )
        .await;
    let wrapped = wrapped["value"].as_str().expect("wrapped").to_string();
    let digest = sign_digest();
    Targets {
        sign: Target {
            name: "ES256 sign",
            path: format!("{ec}/sign?{API}"),
            body: Bytes::from(
                serde_json::json!({"alg": "ES256", "value": b64(&digest)}).to_string(),
            ),
        },
        unwrap: Target {
            name: "A256KW unwrap",
            path: format!("{aes}/unwrapkey?{API}"),
            body: Bytes::from(serde_json::json!({"alg": "A256KW", "value": wrapped}).to_string()),
        },
        sign_public,
    }
}

/// Sends `target` (a sign request) `count` times on one connection and verifies each
/// signature against `public` (SEC1) with RustCrypto's p256, independently of the aws-lc-rs
/// code that made it.
pub async fn check_signatures(
    client: &Client,
    target: &Target,
    public: &[u8],
    count: usize,
) -> Result<(), String> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(public)
        .map_err(|e| format!("public key: {e}"))?;
    let digest = sign_digest();
    let mut c = client.connect().await?;
    for _ in 0..count {
        let (status, body) = c.post(&target.path, target.body.clone()).await?;
        let text = String::from_utf8_lossy(&body);
        if status != StatusCode::OK {
            return Err(format!("{status}: {text}"));
        }
        let answer: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("{e}: {text}"))?;
        let kid = answer["kid"].as_str().unwrap_or_default();
        if !kid.starts_with("https://") || !kid.contains("/keys/") {
            return Err(format!("kid {kid:?} is not a key identifier: {text}"));
        }
        let value = answer["value"].as_str().unwrap_or_default();
        let sig =
            localhsm::crypto::jwk::b64url_decode(value).map_err(|e| format!("{e}: {text}"))?;
        let sig = p256::ecdsa::Signature::from_slice(&sig).map_err(|e| format!("{e}: {text}"))?;
        key.verify_prehash(&digest, &sig)
            .map_err(|_| format!("the signature does not verify: {text}"))?;
    }
    Ok(())
}

/// Latencies in a log-linear histogram: exact below 128 µs, then 64 buckets per power of
/// two (under 1.6% error), in constant memory however long the run.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; 64 * 60],
        }
    }
}

impl Histogram {
    fn index(us: u64) -> usize {
        if us < 128 {
            return us as usize;
        }
        let top = 63 - us.leading_zeros() as usize; // >= 7
        let shift = top - 6;
        shift * 64 + (us >> shift) as usize
    }

    fn lower_bound(index: usize) -> u64 {
        if index < 128 {
            return index as u64;
        }
        let shift = index / 64 - 1;
        ((index % 64 + 64) as u64) << shift
    }

    /// Adds a sample.
    pub fn record(&mut self, d: Duration) {
        let i = Self::index(d.as_micros() as u64).min(self.counts.len() - 1);
        self.counts[i] += 1;
    }

    /// Adds another histogram's samples.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The `p`th percentile (0 to 100).
    pub fn percentile(&self, p: f64) -> Duration {
        let total = self.count();
        if total == 0 {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_micros(Self::lower_bound(i));
            }
        }
        Duration::from_micros(Self::lower_bound(self.counts.len() - 1))
    }
}

/// The result of one run.
pub struct Report {
    /// What was driven.
    pub name: String,
    /// Concurrent connections.
    pub connections: usize,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Answered 200 OK.
    pub ok: u64,
    /// Anything else: another status, a connection or TLS failure.
    pub errors: u64,
    /// The first error, for the message.
    pub first_error: Option<String>,
    /// Latency of the successful requests.
    pub latency: Histogram,
    /// Server memory when the run ended.
    pub memory_end: Memory,
    /// Server memory a minute into the run (runs of over a minute).
    pub memory_first_minute: Option<Memory>,
    /// CPU time the server used during the run.
    pub server_cpu: Duration,
    /// CPU time this process (the load generator) used during the run.
    pub client_cpu: Duration,
}

impl Report {
    /// Requests answered per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// One line for the log and the README.
    pub fn line(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let mut s = format!(
            "{:<14} {:>3} conns {:>6.1} s: {:>8.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {}  server RSS {} MiB (peak {} MiB)",
            self.name,
            self.connections,
            self.elapsed.as_secs_f64(),
            self.rate(),
            ms(self.latency.percentile(50.0)),
            ms(self.latency.percentile(99.0)),
            self.errors,
            self.memory_end.rss_kib / 1024,
            self.memory_end.peak_kib / 1024,
        );
        if self.ok > 0 && !self.server_cpu.is_zero() {
            let per = |d: Duration| d.as_secs_f64() * 1e6 / self.ok as f64;
            s.push_str(&format!(
                "\n  CPU per request: server {:.0} µs, load generator {:.0} µs",
                per(self.server_cpu),
                per(self.client_cpu)
            ));
        }
        if let Some(m) = self.memory_first_minute {
            s.push_str(&format!(
                "  RSS after 1 min {:.1} MiB, at end {:.1} MiB",
                m.rss_kib as f64 / 1024.0,
                self.memory_end.rss_kib as f64 / 1024.0
            ));
        }
        if let Some(e) = &self.first_error {
            s.push_str(&format!("\n  first error: {e}"));
        }
        s
    }
}

struct ConnResult {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    latency: Histogram,
}

async fn one_connection(
    client: Client,
    target: Target,
    duration: Duration,
    start: Arc<tokio::sync::Barrier>,
) -> ConnResult {
    let mut r = ConnResult {
        ok: 0,
        errors: 0,
        first_error: None,
        latency: Histogram::default(),
    };
    let fail = |r: &mut ConnResult, e: String| {
        r.errors += 1;
        r.first_error.get_or_insert(e);
    };
    // Connect first; the clock starts when every connection is open.
    let mut conn = client.connect().await;
    start.wait().await;
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        let c = match &mut conn {
            Ok(c) => c,
            Err(e) => {
                fail(&mut r, e.clone());
                tokio::time::sleep(Duration::from_millis(10)).await;
                conn = client.connect().await;
                continue;
            }
        };
        let t0 = Instant::now();
        match c.post(&target.path, target.body.clone()).await {
            Ok((StatusCode::OK, body)) if body.starts_with(b"{\"kid\"") => {
                r.latency.record(t0.elapsed());
                r.ok += 1;
            }
            Ok((status, body)) => fail(
                &mut r,
                format!("{status}: {}", String::from_utf8_lossy(&body)),
            ),
            Err(e) => {
                fail(&mut r, e);
                conn = client.connect().await;
            }
        }
    }
    r
}

/// Drives `targets` (connections take them in turn) from `connections` connections for
/// `duration`, sampling the server's memory a minute in when the run is longer than that.
pub async fn drive(
    server: &Server,
    client: &Client,
    name: &str,
    targets: &[Target],
    connections: usize,
    duration: Duration,
) -> Report {
    let start = Arc::new(tokio::sync::Barrier::new(connections + 1));
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            tokio::spawn(one_connection(
                client.clone(),
                targets[i % targets.len()].clone(),
                duration,
                start.clone(),
            ))
        })
        .collect();
    start.wait().await;
    let t0 = Instant::now();
    let pid = server.pid();
    let (server_cpu0, client_cpu0) = (cpu_time(&pid.to_string()), cpu_time("self"));
    let sampler = tokio::spawn(async move {
        let minute = Duration::from_secs(60);
        if duration <= minute {
            return None;
        }
        tokio::time::sleep(minute).await;
        Some(Memory::of(pid))
    });
    let mut report = Report {
        name: name.to_string(),
        connections,
        elapsed: Duration::ZERO,
        ok: 0,
        errors: 0,
        first_error: None,
        latency: Histogram::default(),
        memory_end: Memory::default(),
        memory_first_minute: None,
        server_cpu: Duration::ZERO,
        client_cpu: Duration::ZERO,
    };
    for t in tasks {
        let r = t.await.expect("connection task");
        report.ok += r.ok;
        report.errors += r.errors;
        if report.first_error.is_none() {
            report.first_error = r.first_error;
        }
        report.latency.merge(&r.latency);
    }
    report.elapsed = t0.elapsed();
    report.server_cpu = cpu_time(&pid.to_string()).saturating_sub(server_cpu0);
    report.client_cpu = cpu_time("self").saturating_sub(client_cpu0);
    report.memory_end = server.memory();
    report.memory_first_minute = sampler.await.expect("sampler");
    report
}

/// A multi-threaded runtime for the load generator.
pub fn runtime() -> tokio::runtime::Runtime {
    let threads = env_u64("LOCALHSM_LOAD_CLIENT_THREADS", 2) as usize;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .expect("runtime")
}
