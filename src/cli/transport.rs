//! How the CLI's requests reach the store: in-process through the server's router when the
//! CLI can open the data directory itself, or over HTTPS to the server that holds it.
//! Either way the request and the answer are the same REST calls.

use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Method, Request};

use super::error::CliError;
use crate::error::Error;
use crate::server::{ServerFile, SERVER_FILE};

/// How long to wait for a store held by a process that records no server (another CLI
/// command, or a server still starting) before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(3);
/// How long a request to a running server may take.
const REMOTE_TIMEOUT: Duration = Duration::from_secs(60);

/// One request, transport-independent.
pub struct Outgoing<'a> {
    /// HTTP method.
    pub method: Method,
    /// Host name without port: `localhost` or `{vault}.localhost`; the server picks the
    /// vault by it.
    pub host: &'a str,
    /// Path and query.
    pub path: &'a str,
    /// Bearer token.
    pub token: &'a str,
    /// JSON body.
    pub body: Option<Vec<u8>>,
}

impl std::fmt::Debug for Outgoing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a credential: never printed.
        f.debug_struct("Outgoing")
            .field("method", &self.method)
            .field("host", &self.host)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// An answer: status and body.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Response body.
    pub body: Vec<u8>,
}

/// Where requests go.
pub enum Transport {
    /// The store opened by this process; requests go through the router in-process.
    Local(Local),
    /// The server that holds the store.
    Remote(Remote),
}

impl Transport {
    /// Opens the store in `dir`, or, when a running server holds it, connects to that server.
    pub fn open(dir: &Path) -> Result<Self, CliError> {
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match Local::open(dir) {
                Ok(local) => return Ok(Transport::Local(local)),
                Err(e @ Error::StoreLocked { .. }) => {
                    if let Some(file) = read_server_file(dir)? {
                        return Remote::connect(dir, file).map(Transport::Remote);
                    }
                    if Instant::now() >= deadline {
                        return Err(CliError::from_store(&e, dir));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(CliError::from_store(&e, dir)),
            }
        }
    }

    /// The bearer token to send when none is given: the store owner's credential when a
    /// running server holds the store and wrote one (see [`super::owner`]); `None`
    /// in-process, where the CLI is the store's owner already.
    pub fn owner_token(&self) -> Result<Option<zeroize::Zeroizing<String>>, CliError> {
        match self {
            Transport::Local(_) => Ok(None),
            Transport::Remote(r) => match r.file_path.parent() {
                Some(dir) => super::owner::read_credential(dir),
                None => Ok(None),
            },
        }
    }

    /// Lets `time-shift` move the clock of the store this process opened (`--dev-clock`).
    /// A running server decides for itself (`serve --dev-clock`); nothing changes there.
    pub fn allow_time_shift(&self) {
        if let Transport::Local(l) = self {
            l.clock.allow_shifts();
        }
    }

    /// Sends one request.
    pub fn send(&self, req: Outgoing<'_>) -> Result<Reply, CliError> {
        match self {
            Transport::Local(l) => l.send(req),
            Transport::Remote(r) => r.send(req),
        }
    }
}

/// The store, opened by this process, behind the server's router.
pub struct Local {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
    clock: Arc<crate::clock::OffsetClock>,
}

impl Local {
    fn open(dir: &Path) -> Result<Self, Error> {
        let state = crate::server::open_dev_store(dir)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Storage(format!("cannot start the async runtime: {e}")))?;
        tracing::debug!(dir = %dir.display(), "opened the store in-process");
        Ok(Self {
            runtime,
            clock: state.clock.clone(),
            app: crate::server::router(state),
        })
    }

    fn send(&self, req: Outgoing<'_>) -> Result<Reply, CliError> {
        let mut builder = Request::builder()
            .method(req.method)
            .uri(req.path)
            .header(header::HOST, req.host)
            .header(header::AUTHORIZATION, format!("Bearer {}", req.token));
        if req.body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(Body::from(req.body.unwrap_or_default()))
            .map_err(|e| CliError::bare(format!("cannot build the request: {e}")))?;
        self.runtime.block_on(async {
            let resp = crate::server::call(self.app.clone(), request).await;
            let status = resp.status().as_u16();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .map_err(|e| CliError::bare(format!("cannot read the answer: {e}")))?;
            Ok(Reply {
                status,
                body: body.to_vec(),
            })
        })
    }
}

/// A running `localhsm serve` on the same data directory, found through `DIR/server.json`.
pub struct Remote {
    client: reqwest::blocking::Client,
    port: u16,
    file: ServerFile,
    file_path: PathBuf,
}

/// Resolves every name to the server's address, so `https://{vault}.localhost:PORT` reaches
/// it with the right SNI and `Host` whatever the system resolver does with `*.localhost`.
struct ToServer(SocketAddr);

impl reqwest::dns::Resolve for ToServer {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let addr = self.0;
        Box::pin(async move {
            let addrs: reqwest::dns::Addrs = Box::new(std::iter::once(addr));
            Ok(addrs)
        })
    }
}

/// Reads `DIR/server.json`; `None` when there is none.
fn read_server_file(dir: &Path) -> Result<Option<ServerFile>, CliError> {
    let path = dir.join(SERVER_FILE);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CliError::new(
                format!("cannot read {}: {e}", path.display()),
                "check the data directory's permissions",
            ))
        }
    };
    serde_json::from_slice(&text).map(Some).map_err(|e| {
        CliError::new(
            format!("{} is not a valid server file: {e}", path.display()),
            "restart `localhsm serve` on this data directory so it writes the file again",
        )
    })
}

impl Remote {
    fn connect(dir: &Path, file: ServerFile) -> Result<Self, CliError> {
        let file_path = dir.join(SERVER_FILE);
        let stale_hint = || {
            format!(
                "is the server (pid {}) still running? If it is not, remove the stale {}",
                file.pid,
                file_path.display()
            )
        };
        let url = reqwest::Url::parse(&file.url).map_err(|e| {
            CliError::new(
                format!(
                    "{} names an invalid URL {:?}: {e}",
                    file_path.display(),
                    file.url
                ),
                stale_hint(),
            )
        })?;
        let port = url.port_or_known_default().unwrap_or(443);
        let host = url.host_str().unwrap_or("");
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip = host
            .parse::<IpAddr>()
            .ok()
            .or_else(|| {
                (host, port)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .map(|a| a.ip())
            })
            .ok_or_else(|| {
                CliError::new(
                    format!(
                        "cannot resolve the server address in {}",
                        file_path.display()
                    ),
                    stale_hint(),
                )
            })?;
        // A server listening on all interfaces is reached on loopback.
        let ip = match ip {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            other => other,
        };
        let mut pem = Vec::new();
        std::fs::File::open(&file.cert)
            .and_then(|mut f| f.read_to_end(&mut pem))
            .map_err(|e| {
                CliError::new(
                    format!(
                        "cannot read the server's certificate {}: {e}",
                        file.cert.display()
                    ),
                    stale_hint(),
                )
            })?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
            CliError::new(
                format!(
                    "the server's certificate {} is not valid PEM: {e}",
                    file.cert.display()
                ),
                "restart `localhsm serve` on this data directory",
            )
        })?;
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = reqwest::blocking::Client::builder()
            .tls_certs_only([cert])
            .dns_resolver(Arc::new(ToServer(SocketAddr::new(ip, port))))
            .no_proxy()
            .timeout(REMOTE_TIMEOUT)
            .build()
            .map_err(|e| {
                CliError::bare(format!("cannot set up the HTTPS client: {}", chain(&e)))
            })?;
        tracing::debug!(url = %file.url, pid = file.pid, "sending requests to the running server");
        Ok(Self {
            client,
            port,
            file,
            file_path,
        })
    }

    fn send(&self, req: Outgoing<'_>) -> Result<Reply, CliError> {
        let url = format!("https://{}:{}{}", req.host, self.port, req.path);
        let mut builder = self.client.request(req.method, &url).bearer_auth(req.token);
        if let Some(body) = req.body {
            builder = builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let resp = builder.send().map_err(|e| self.failure(&url, &e))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().map_err(|e| self.failure(&url, &e))?;
        Ok(Reply {
            status,
            body: body.to_vec(),
        })
    }

    /// What a failed exchange with the server means.
    fn failure(&self, url: &str, e: &reqwest::Error) -> CliError {
        let detail = chain(e);
        let server = format!(
            "the localhsm server at {} (pid {}, from {})",
            self.file.url,
            self.file.pid,
            self.file_path.display()
        );
        if detail.contains("certificate") || detail.contains("Certificate") {
            CliError::new(
                format!(
                    "{server} presented a certificate that does not verify for {url}: {detail}"
                ),
                format!(
                    "the CLI trusts only {}; if the server uses another certificate (--tls-cert), \
                     make sure it is the one server.json names and that it covers this host name",
                    self.file.cert.display()
                ),
            )
        } else if e.is_timeout() {
            CliError::new(
                format!(
                    "{server} did not answer within {} s",
                    REMOTE_TIMEOUT.as_secs()
                ),
                "check that the server is not stuck (its log is on its stdout/stderr)",
            )
        } else {
            CliError::new(
                format!("cannot reach {server}: {detail}"),
                format!(
                    "the store is locked by another process; is that server still running \
                     (`kill -0 {}`)? If not, remove the stale {} and try again",
                    self.file.pid,
                    self.file_path.display()
                ),
            )
        }
    }
}

/// An error and its causes, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}
