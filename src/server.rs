//! `localhsm serve`: an HTTPS server speaking the Key Vault / Managed HSM keys REST API, so
//! the Azure SDKs work against it with only the vault URL changed. A thin layer: it parses
//! requests, calls the core, and writes Key Vault's JSON.

pub mod auth;
pub mod error;
mod keys;
mod management;
mod roles;
pub mod tls;
pub mod wire;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::clock::OffsetClock;
use crate::error::Result;
use crate::model::{VaultKind, VaultOptions};
use crate::store::Store;
use error::ApiError;

/// Largest request body accepted; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// The vault every store starts with; hosts other than `{vault}.localhost` reach it.
pub const DEFAULT_VAULT: &str = "default";
/// The file a running server writes into the data directory, so the CLI can find it.
pub const SERVER_FILE: &str = "server.json";
/// The `api-version` values accepted on Key Vault routes.
pub const API_VERSIONS: &[&str] = &["7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01"];

/// What the server shares between requests.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The dev-mode clock (`POST /management/time-shift` moves it).
    pub clock: Arc<OffsetClock>,
}

/// Creates the default vault (a Managed HSM) in a new store. Whichever face opens a data
/// directory first calls this.
pub fn ensure_default_vault(store: &Store) -> Result<()> {
    let options = VaultOptions {
        kind: VaultKind::ManagedHsm,
        ..VaultOptions::default()
    };
    match store.create_vault(DEFAULT_VAULT, options) {
        Ok(_) => Ok(()),
        Err(crate::Error::VaultExists { .. }) | Err(crate::Error::VaultIsDeleted { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens the store in `dir` for the server or the CLI: the dev-mode clock, resumed from the
/// latest time the store has acted on (so a shifted clock keeps moving after a restart),
/// and the default vault.
pub fn open_dev_store(dir: &Path) -> Result<AppState> {
    let clock = Arc::new(OffsetClock::new());
    let store = Store::builder(dir).clock(clock.clone()).open()?;
    clock.catch_up_to(store.now());
    ensure_default_vault(&store)?;
    Ok(AppState { store, clock })
}

/// The application: every route, over `state`.
pub fn router(state: AppState) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// Where a request is going, after the path is split.
struct Target<'a> {
    segments: Vec<&'a str>,
}

impl<'a> Target<'a> {
    /// Splits a path into segments. A trailing slash is dropped; an empty interior segment
    /// stays (an empty version means "current", as the SDKs send it).
    fn parse(path: &'a str) -> Self {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let segments = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        Self { segments }
    }
}

/// The vault a host names: `{vault}.localhost[:port]`, else the default vault.
pub fn vault_for_host(host: &str) -> String {
    if host.starts_with('[') {
        return DEFAULT_VAULT.to_string();
    }
    let name = match host.rsplit_once(':') {
        Some((h, port)) if port.parse::<u16>().is_ok() => h,
        _ => host,
    };
    match name.to_ascii_lowercase().strip_suffix(".localhost") {
        Some(label) if !label.is_empty() && !label.contains('.') => label.to_string(),
        _ => DEFAULT_VAULT.to_string(),
    }
}

fn host_of(req: &Request<Body>) -> String {
    req.headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".to_string())
}

fn new_request_id() -> String {
    crate::crypto::random_guid().unwrap_or_else(|_| "00000000-0000-0000-0000-000000000000".into())
}

/// Runs a store call off the async workers (it may write, and so flush, or hash a lot)
/// and maps its error to the wire.
pub(crate) async fn run_blocking<A: Send + 'static, T: Send + 'static>(
    arg: A,
    f: impl FnOnce(A) -> crate::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(move || f(arg))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "the operation was interrupted",
            )
        })?
        .map_err(ApiError::from)
}

async fn handle(State(state): State<AppState>, req: Request<Body>) -> Response {
    let started = Instant::now();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let request_id = new_request_id();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut resp = match route(state, peer, req, &request_id).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert("x-ms-request-id", v);
    }
    tracing::debug!(
        %method,
        %path,
        status = resp.status().as_u16(),
        duration_us = started.elapsed().as_micros() as u64,
        request_id,
        "request"
    );
    resp
}

async fn route(
    state: AppState,
    peer: Option<SocketAddr>,
    req: Request<Body>,
    request_id: &str,
) -> Result<Response, ApiError> {
    let host = host_of(&req);
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let method = req.method().clone();
    let target = Target::parse(&path);
    let is_management = target.segments.first() == Some(&"management");

    // The challenge comes first: the SDKs send their first request without a token and
    // without a body, and expect a 401 before any validation.
    let Some(token) = auth::bearer(req.headers()).map(str::to_string) else {
        let kind = if is_management {
            VaultKind::Vault
        } else {
            state
                .store
                .vault_info(&vault_for_host(&host))
                .map(|v| v.kind)
                .unwrap_or_default()
        };
        return Ok(auth::challenge(kind));
    };
    let caller = auth::caller(&token, peer.map(|p| p.ip().to_string()));

    let body = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLarge",
                format!("the request body exceeds {MAX_BODY_BYTES} bytes"),
            )
        })?;
    let params = Query::parse(&query)?;

    if is_management {
        return management::route(
            &state,
            &caller,
            &method,
            &target.segments[1..],
            &params,
            &body,
        )
        .await;
    }
    let api_version = params.get("api-version").ok_or_else(|| {
        ApiError::bad_parameter(format!(
            "the api-version query parameter is required; supported: {}",
            API_VERSIONS.join(", ")
        ))
    })?;
    if !API_VERSIONS.contains(&api_version) {
        return Err(ApiError::bad_parameter(format!(
            "api-version {api_version:?} is not supported; supported: {}",
            API_VERSIONS.join(", ")
        )));
    }
    let ctx = keys::Ctx {
        state,
        vault_name: vault_for_host(&host),
        base: wire::BaseUrl(format!("https://{host}")),
        api_version: api_version.to_string(),
        caller,
        params,
    };
    let started = Instant::now();
    let (outcome, operation) = match roles::split(&target.segments) {
        Some((scope, rest)) => (
            roles::route(&ctx, &method, &scope, &rest, &body).await,
            roles::operation_name(&method, &rest),
        ),
        None => (
            keys::route(&ctx, &method, &target.segments, body).await,
            keys::operation_name(&method, &target.segments),
        ),
    };
    let (status, code) = match &outcome {
        Ok(r) => (r.status().as_u16(), None),
        Err(e) => (e.status().as_u16(), Some(e.code())),
    };
    let call = crate::audit::CallRecord {
        caller: &ctx.caller,
        operation,
        api_version: &ctx.api_version,
        resource_id: keys::resource_id(&ctx, &target.segments),
        status,
        error_code: code,
        duration_ms: started.elapsed().as_millis() as u64,
        request_id,
        request_uri: &path,
    };
    if let Err(e) = ctx.state.store.record_access(&ctx.vault_name, call) {
        tracing::warn!(error = %e, "cannot write the access log");
    }
    outcome
}

/// Query parameters, with names percent-decoded (the SDKs send `api%2Dversion`).
#[derive(Debug, Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: &str) -> Result<Self, ApiError> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .map(Query)
            .map_err(|_| ApiError::bad_parameter("the query string is malformed"))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Settings for [`serve`].
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub addr: SocketAddr,
    /// The user's own certificate and key; `None` generates one into the data directory.
    pub tls: Option<tls::TlsFiles>,
    /// Access control for every vault (off: any caller may do anything).
    pub access: crate::store::AccessPolicy,
}

/// What [`SERVER_FILE`] holds.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ServerFile {
    /// Base URL of the running server.
    pub url: String,
    /// Its certificate (PEM), for clients to trust.
    pub cert: PathBuf,
    /// Its process id.
    pub pid: u32,
}

/// Runs the server until Ctrl-C or SIGTERM; flushes the store on the way out.
pub async fn serve(opts: ServeOptions) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let state = {
        let dir = opts.data_dir.clone();
        tokio::task::spawn_blocking(move || open_dev_store(&dir)).await??
    };
    let store = state.store.clone();
    store.set_access_policy(opts.access.clone());
    let (tls_config, trust_cert) = tls::server_config(&opts.data_dir, opts.tls.as_ref())?;
    let rustls_config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls_config));
    let app = router(state);
    let handle = axum_server::Handle::new();

    let shutdown = handle.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        shutdown.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    let sweeper = store.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let s = sweeper.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || s.sweep()).await {
                tracing::warn!(error = %e, "purge sweep failed");
            }
        }
    });
    let listening = handle.clone();
    let data_dir = opts.data_dir.clone();
    let cert = trust_cert.clone();
    tokio::spawn(async move {
        if let Some(addr) = listening.listening().await {
            announce(&data_dir, addr, &cert);
        }
    });

    let result = axum_server::bind_rustls(opts.addr, rustls_config)
        .handle(handle)
        .serve(app.into_make_service_with_connect_info::<SocketAddr>())
        .await;
    let _ = std::fs::remove_file(opts.data_dir.join(SERVER_FILE));
    store.flush()?;
    result.map_err(|e| format!("cannot serve on {}: {e}", opts.addr).into())
}

fn announce(data_dir: &Path, addr: SocketAddr, cert: &Path) {
    let url = format!("https://{addr}");
    let file = ServerFile {
        url: url.clone(),
        cert: cert.to_path_buf(),
        pid: std::process::id(),
    };
    if let Ok(text) = serde_json::to_vec_pretty(&file) {
        let _ = std::fs::write(data_dir.join(SERVER_FILE), text);
    }
    let port = addr.port();
    println!("localhsm listening on {url}");
    println!("  data directory: {}", data_dir.display());
    println!(
        "  TLS certificate (trust it in your client): {}",
        cert.display()
    );
    println!("  vault URL: https://localhost:{port}  (vault NAME: https://NAME.localhost:{port})");
    println!("  Python: KeyClient(\"https://localhost:{port}\", credential, verify_challenge_resource=False, connection_verify=\"{}\")", cert.display());
    println!("  Dev only: POST /management/time-shift moves this server's clock forward.");
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Answers a request in-process, without a network: the CLI's path when no server runs.
pub async fn call(app: Router, req: Request<Body>) -> Response {
    use tower::ServiceExt;
    match app.oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// Method check helper for routes.
pub(crate) fn method_not_allowed(method: &Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!("method {method} is not allowed on this resource"),
    )
}

/// An unknown route.
pub(crate) fn not_found(path: &[&str]) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("no such resource: /{}", path.join("/")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_picks_vault() {
        assert_eq!(vault_for_host("localhost:8443"), "default");
        assert_eq!(vault_for_host("127.0.0.1:8443"), "default");
        assert_eq!(vault_for_host("pp.localhost:8443"), "pp");
        assert_eq!(vault_for_host("PP.LOCALHOST"), "pp");
        assert_eq!(vault_for_host("a.b.localhost"), "default");
        assert_eq!(vault_for_host("[::1]:8443"), "default");
    }

    #[test]
    fn paths_split_like_key_vault() {
        assert_eq!(Target::parse("/keys/k/").segments, vec!["keys", "k"]);
        assert_eq!(
            Target::parse("/keys/k//sign").segments,
            vec!["keys", "k", "", "sign"]
        );
        assert!(Target::parse("/").segments.is_empty());
    }
}
