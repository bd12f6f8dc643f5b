//! `localhsm serve`: an HTTPS server speaking the Key Vault / Managed HSM keys, secrets and
//! certificates REST API, so the Azure SDKs work against it with only the vault URL
//! changed. A thin layer: it reads requests into the wire types of [`crate::api`], calls
//! the core, and writes Key Vault's JSON.
//!
//! Layer: faces. May import [`crate::api`] (the wire contract and the route table), the
//! core (`store`, `vault`, `model`, `audit`, `clock`, `error`) and its own submodules; never
//! `cli` (the CLI imports this). Its submodules import one another only downwards:
//! handlers (`keys`, `secrets`, `certificates`, `roles`, `management`) use `context` and
//! `error`, never this file.
//!
//! Invariants: each request is matched once against [`crate::api::ROUTES`], which decides
//! 404 against 405 and names the access-log operation; a data-plane request resolves its
//! vault at most once (`context::Ctx`) and, when it is well formed, parses its body once
//! (`error::parse_json`); bad input is a 4xx in Key Vault's error shape, never a 5xx or a
//! panic.

mod admin;
pub mod auth;
mod certificates;
mod context;
pub mod error;
pub mod identity;
mod keys;
pub mod listener;
mod management;
pub mod owner;
mod pkcs11;
mod roles;
mod secrets;
pub mod tls;

/// The wire models, at the path they had before they were shared with the CLI.
pub use crate::api as wire;
pub use context::AppState;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, Request};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::api::routes::{self, Lookup, Op};
use crate::api::versions::{self, Served, VersionPolicy};
use crate::api::BaseUrl;
use crate::clock::OffsetClock;
use crate::error::Result;
use crate::model::{VaultKind, VaultOptions};
use crate::Store;
use context::{Ctx, Query};
use error::ApiError;

/// Largest request body accepted; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// The vault every store starts with; hosts other than `{vault}.localhost` reach it.
pub use crate::model::DEFAULT_VAULT;
/// The file a running server writes into the data directory, so the CLI can find it.
pub const SERVER_FILE: &str = "server.json";
/// The `api-version` values of the Key Vault specifications, all accepted on Key Vault
/// routes (later ones too, unless `--strict-api-version`: see [`crate::api::versions`]).
pub use crate::api::versions::KNOWN as API_VERSIONS;

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

/// The address of a shared store (`postgres://USER:PASSWORD@HOST/DB`): it may carry a
/// password, so its `Debug` form shows only what [`StoreUrl::redacted`] does.
#[derive(Clone)]
pub struct StoreUrl(zeroize::Zeroizing<String>);

impl StoreUrl {
    /// Wraps an address.
    pub fn new(url: impl Into<String>) -> Self {
        Self(zeroize::Zeroizing::new(url.into()))
    }

    /// The address, to connect with.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The address with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        let url = self.0.as_str();
        let Some((scheme, rest)) = url.split_once("://") else {
            return "***".into();
        };
        let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        match authority.rsplit_once('@') {
            Some((user, host)) => {
                let user = user.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}:***@{host}{}", strip_query(tail))
            }
            None => format!("{scheme}://{authority}{}", strip_query(tail)),
        }
    }
}

/// A path without its query, which may carry `password=`.
fn strip_query(tail: &str) -> &str {
    tail.split('?').next().unwrap_or_default()
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StoreUrl").field(&self.redacted()).finish()
    }
}

impl std::str::FromStr for StoreUrl {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(Self::new(s))
    }
}

/// Opens the store at `url` (`postgres://...`) for the server, as [`open_dev_store`] does a
/// data directory: the dev-mode clock, the default vault. The master key comes from
/// `LOCALHSM_MASTER_KEY`, which every replica must be given (a store in a database has no
/// directory for a key file). `timeout` bounds every call to the database.
pub fn open_shared_store(url: &str, timeout: Duration) -> Result<AppState> {
    #[cfg(feature = "postgres")]
    {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(crate::Error::bad_parameter(
                "--store takes a PostgreSQL address, postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
            ));
        }
        let options = crate::store::PostgresOptions {
            timeout,
            ..Default::default()
        };
        let backend = Arc::new(crate::store::PostgresBackend::connect(url, options)?);
        let clock = Arc::new(OffsetClock::new());
        let store = Store::builder_on(backend)
            .master_key(crate::MasterKeySource::Env)
            .clock(clock.clone())
            .open()?;
        clock.catch_up_to(store.now());
        ensure_default_vault(&store)?;
        Ok(AppState { store, clock })
    }
    #[cfg(not(feature = "postgres"))]
    {
        let _ = (url, timeout);
        Err(crate::Error::bad_parameter(
            "this build of localhsm has no PostgreSQL backend (cargo feature `postgres`)",
        ))
    }
}

/// The application: every route, over `state`.
pub fn router(state: AppState) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// The vault a host names: `{vault}.localhost[:port]` that vault, `localhost`, an IP
/// address or another host name the default vault. A host that is malformed, or that
/// reads as a vault's host but is not one (`a.b.localhost`, `v2.localhost.`), is a 400
/// naming it: answering from another vault would hand out ids of a host that was not
/// served. Whether the named vault exists is the caller's next question (404
/// `VaultNotFound`).
pub fn vault_for_host(host: &str) -> Result<String, ApiError> {
    let bad = |why: &str| {
        ApiError::bad_parameter(format!(
            "the Host {host:?} {why}; use NAME.localhost[:port] for the vault NAME, or \
             localhost or an IP address for the default vault"
        ))
    };
    let port_ok = |p: &str| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
    };
    if let Some(rest) = host.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or_else(|| bad("is malformed"))?;
        let port_fits = match after.strip_prefix(':') {
            Some(p) => port_ok(p),
            None => after.is_empty(),
        };
        if ip.parse::<std::net::Ipv6Addr>().is_err() || !port_fits {
            return Err(bad("is malformed"));
        }
        return Ok(DEFAULT_VAULT.to_string());
    }
    let name = match host.split_once(':') {
        Some((h, p)) if port_ok(p) => h,
        Some(_) => return Err(bad("has a malformed port")),
        None => host,
    };
    let name = name.to_ascii_lowercase();
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Ok(DEFAULT_VAULT.to_string());
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(bad("is not a valid host name"));
    }
    match name.strip_suffix(".localhost") {
        None => Ok(DEFAULT_VAULT.to_string()),
        Some(label) if !label.contains('.') => Ok(label.to_string()),
        Some(_) => Err(bad("has more labels than NAME.localhost")),
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
    let segments = routes::segments(&path);
    let is_management = segments.first() == Some(&"management");

    // The managed-identity endpoint is how a client gets its first token, so it answers
    // without one (it checks its own header secret).
    if let Some(issuer) = identity::Issuer::serving(&req) {
        let now = crate::clock::Clock::now(&crate::clock::SystemClock);
        return Ok(issuer.respond(&method, req.headers(), &query, now));
    }
    // The challenge comes first: the SDKs send their first request without a token and
    // without a body, and expect a 401 before any validation.
    let Some(token) = auth::bearer(req.headers()).map(str::to_string) else {
        let kind = if is_management {
            VaultKind::Vault
        } else {
            state
                .store
                .vault_info(&vault_for_host(&host)?)
                .map(|v| v.kind)
                .unwrap_or_default()
        };
        return Ok(auth::challenge(kind, &host));
    };
    let caller = auth::caller(&token, peer.map(|p| p.ip().to_string()));
    let caller = owner::identify(req.extensions(), &token, caller)?;

    let version_policy = req
        .extensions()
        .get::<VersionPolicy>()
        .copied()
        .unwrap_or_default();
    let (parts, body) = req.into_parts();
    let body = error::read_body(&parts.headers, body, MAX_BODY_BYTES).await?;
    let params = Query::parse(&query)?;

    if is_management {
        // Before the route: the management API is closed to others, whatever they ask.
        management::require_admin(&state, &caller)?;
        return match routes::lookup(&method, &segments) {
            Lookup::Found(route, p) if pkcs11::serves(route.op) => {
                pkcs11::handle(&state, &caller, route.op, &p, &body).await
            }
            Lookup::Found(route, p) => {
                management::handle(&state, route.op, &p, &params, &body).await
            }
            miss => Err(ApiError::unrouted(&miss, &method, &path)),
        };
    }
    let api_version = params
        .get("api-version")
        .ok_or_else(|| ApiError::bad_parameter(versions::missing()))?;
    // A later version than any known one is served as the newest (no behaviour of the
    // server depends on the version yet); the client sees its own version echoed.
    let served = versions::check(api_version, version_policy).map_err(ApiError::bad_parameter)?;
    if served == Served::Later {
        versions::note_later(api_version);
    }
    let ctx = Ctx::new(
        state,
        vault_for_host(&host)?,
        BaseUrl(format!("https://{host}")),
        api_version.to_string(),
        caller,
        params,
    );
    let started = Instant::now();
    let found = routes::lookup(&method, &segments);
    let outcome = match &found {
        Lookup::Found(route, p) => dispatch(&ctx, route.op, p, &body).await,
        miss => Err(unrouted(miss, &method, &path, &segments)),
    };
    let route = match &found {
        Lookup::Found(route, p) => Some((*route, p)),
        _ => None,
    };
    let (status, code) = match &outcome {
        Ok(r) => (r.status().as_u16(), None),
        Err(e) => (e.status().as_u16(), Some(e.code())),
    };
    ctx.record_access(crate::audit::CallRecord {
        caller: &ctx.caller,
        operation: route.map_or("Unknown", |(r, _)| r.log_name),
        api_version: &ctx.api_version,
        resource_id: resource_id(&ctx.base, route),
        status,
        error_code: code,
        duration_ms: started.elapsed().as_millis() as u64,
        request_id,
        request_uri: &path,
    });
    outcome
}

/// A data-plane request the table has a row for.
async fn dispatch(
    ctx: &Ctx,
    op: Op,
    p: &routes::Params<'_>,
    body: &[u8],
) -> Result<Response, ApiError> {
    // A name Key Vault forbids is a 400 naming the problem on every route, not a 404 that
    // suggests such an object could exist.
    let object = p.object();
    if let Some((kind, name)) = object {
        crate::model::validate_name(kind.noun(), name)?;
    }
    ctx.authorize(op, p)?;
    if op.route().is_scoped() {
        let name = p.get("name").unwrap_or_default();
        return roles::handle(ctx, op, p.scope(), name, body).await;
    }
    if admin::serves(op) {
        return admin::handle(ctx, op, p, body).await;
    }
    let target = (object.map_or("", |(_, n)| n), p.version());
    match op.route().object_kind() {
        Some(crate::ObjectKind::Secret) => secrets::handle(ctx, op, target, body).await,
        Some(crate::ObjectKind::Certificate) => {
            // The issuer routes name their issuer in `{name}`, under the same rules.
            let name = match p.get("name") {
                Some(issuer) => {
                    crate::model::validate_name("issuer", issuer)?;
                    issuer
                }
                None => target.0,
            };
            certificates::handle(ctx, op, (name, target.1), body).await
        }
        _ => keys::handle(ctx, op, target, body).await,
    }
}

/// A data-plane request the table has no row for: a 400 for an object name Key Vault
/// forbids (before the 404 or 405, which would suggest such an object could exist), a 501
/// for a call of Key Vault's specifications localhsm does not implement, else the miss.
fn unrouted(
    miss: &Lookup<'_>,
    method: &axum::http::Method,
    path: &str,
    segments: &[&str],
) -> ApiError {
    match routes::object_name(segments).map(|(k, n)| crate::model::validate_name(k.noun(), n)) {
        Some(Err(e)) => e.into(),
        _ => match crate::api::unimplemented::lookup(method, segments) {
            Some(missing) => ApiError::not_implemented(&missing),
            None => ApiError::unrouted(miss, method, path),
        },
    }
}

/// The resource a request is about, for the access log: the key, secret or certificate
/// (with its version when the path names one), the certificate contacts or issuer, or the
/// vault. Never a value: ids only.
fn resource_id(base: &BaseUrl, found: Option<(&routes::Route, &routes::Params<'_>)>) -> String {
    use crate::ObjectKind as K;
    match found.map(|(r, p)| (r.op, p.get("name"))) {
        Some((Op::ContactsGet | Op::ContactsSet | Op::ContactsDelete, _)) => {
            return base.contacts_id()
        }
        Some((Op::IssuerGet | Op::IssuerSet | Op::IssuerUpdate | Op::IssuerDelete, Some(n))) => {
            return base.issuer_id(n)
        }
        _ => {}
    }
    match found.and_then(|(_, p)| Some((p.object()?, p.version()))) {
        Some(((K::Secret, name), Some(v))) if v.len() == 32 => base.secret_id(name, v),
        Some(((K::Secret, name), _)) => base.secret_url(name),
        Some(((K::Certificate, name), Some(v))) if v.len() == 32 => base.certificate_id(name, v),
        Some(((K::Certificate, name), _)) => base.certificate_url(name),
        Some(((_, name), Some(v))) if v.len() == 32 => base.kid(name, v),
        Some(((_, name), _)) => base.key_url(name),
        None => base.0.clone(),
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
    pub access: crate::AccessPolicy,
    /// A seed file to apply before serving (see [`crate::seed`]).
    pub seed: Option<PathBuf>,
    /// Who the managed-identity endpoint's tokens name.
    pub identity: identity::LocalIdentity,
    /// Accept only the api-versions of the specifications, not later ones.
    pub strict_api_version: bool,
    /// Let `POST /management/time-shift` move the clock (`--dev-clock`); off, it is refused.
    pub dev_clock: bool,
    /// The connection bound and the timeouts that close stalled connections.
    pub limits: listener::ConnectionLimits,
    /// A shared store (`postgres://...`) instead of the data directory's own; the data
    /// directory then holds only this replica's TLS files and credentials.
    pub store: Option<StoreUrl>,
    /// The longest a call waits for a shared store's database.
    pub store_timeout: Duration,
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
    // Before the store is opened: an empty or malformed --admin stops the start.
    opts.access.validate()?;
    let state = {
        let dir = opts.data_dir.clone();
        let (shared, timeout) = (opts.store.clone(), opts.store_timeout);
        tokio::task::spawn_blocking(move || match shared {
            Some(url) => open_shared_store(url.expose(), timeout),
            None => open_dev_store(&dir),
        })
        .await??
    };
    if opts.dev_clock {
        state.clock.allow_shifts();
        println!("dev clock on: time-shift may move this server's clock forward, past purge dates");
    }
    let store = state.store.clone();
    store.set_access_policy(opts.access.clone());
    if let Some(path) = opts.seed.clone() {
        let (s, p) = (store.clone(), path.clone());
        let report = tokio::task::spawn_blocking(move || -> std::result::Result<_, String> {
            let file = crate::seed::read_file(&p).map_err(|e| e.to_string())?;
            crate::seed::apply(&s, &file.parsed.seed).map_err(|e| format!("{}: {e}", p.display()))
        })
        .await?
        .map_err(|e| format!("seed {e}"))?;
        println!(
            "seeded from {}: {} created, {} unchanged",
            path.display(),
            report.created.len(),
            report.unchanged.len()
        );
    }
    let (tls_config, trust_cert) = tls::server_config(&opts.data_dir, opts.tls.as_ref())?;
    // After the store is opened (and so locked): a second server on the same directory
    // stops before it could replace the running one's credential.
    let owner = owner::OwnerCredential::create(&opts.data_dir).map_err(|e| {
        format!(
            "cannot write the owner's credential {}: {e}",
            opts.data_dir.join(owner::OWNER_FILE).display()
        )
    })?;
    let issuer = identity::Issuer::new(
        opts.identity.clone(),
        identity::HeaderSecret::load_or_create(&opts.data_dir)?,
    );
    let app = router(state)
        .layer(axum::Extension(owner.clone()))
        .layer(axum::Extension(issuer))
        .layer(axum::Extension(VersionPolicy {
            strict: opts.strict_api_version,
        }));
    let keeper = owner.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            keeper.restore_if_missing();
        }
    });
    let sweeper = store.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let s = sweeper.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || context::housekeeping(&s)).await
            {
                tracing::warn!(error = %e, "purge sweep or certificate lifetime actions failed");
            }
        }
    });
    let result = match tokio::net::TcpListener::bind(opts.addr).await {
        Ok(listener) => {
            if let Ok(addr) = listener.local_addr() {
                announce(&opts.data_dir, addr, &trust_cert);
            }
            let tls = Arc::new(tls_config);
            listener::run(listener, tls, app, opts.limits, wait_for_signal()).await;
            Ok(())
        }
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(opts.data_dir.join(SERVER_FILE));
    owner.remove();
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
    println!(
        "  vault URL: https://default.localhost:{port}  (vault NAME: https://NAME.localhost:{port})"
    );
    println!(
        "  Azure SDKs, application code unchanged: eval \"$(localhsm env --data {})\"",
        data_dir.display()
    );
    println!("  Secrets: SecretClient(\"https://localhost:{port}\", ...) with the same options; the default vault and vaults of kind vault hold secrets.");
    println!("  Dev only: with --dev-clock, POST /management/time-shift moves this server's clock forward.");
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

#[cfg(test)]
mod tests;
