//! What a request carries through the server: the state shared by all requests, the
//! request's query, and for the Key Vault data plane its context ([`Ctx`]): the vault the
//! host names, the caller, the base URL for ids, and the one [`Vault`] it resolves.
//!
//! Layer: faces (server). May import the core (`store`, `vault`, `model`, `clock`,
//! `audit`), `api` and `server::error`; the handlers import this, never the reverse.
//!
//! Invariant: a request resolves its vault (reads and decodes the vault record, checks the
//! caller) at most once, on first use; every handler and the access log share that
//! [`Vault`].

use std::sync::{Arc, OnceLock};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;

use super::error::ApiError;
use crate::api::routes::{Access, Op, Params};
use crate::api::{BaseUrl, BlobValue, ListResult};
use crate::audit::CallRecord;
use crate::clock::OffsetClock;
use crate::crypto::Base64Url;
use crate::model::Caller;
use crate::model::Page;
use crate::vault::Vault;
use crate::Store;

/// What the server shares between requests.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The dev-mode clock (`POST /management/time-shift` moves it).
    pub clock: Arc<OffsetClock>,
}

/// Query parameters, with names percent-decoded (the SDKs send `api%2Dversion`).
#[derive(Debug, Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(q: &str) -> Result<Self, ApiError> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .map(Query)
            .map_err(|_| ApiError::bad_parameter("the query string is malformed"))
    }

    /// The first value of parameter `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
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

/// `200 OK` with a JSON body.
pub(crate) fn ok<T: serde::Serialize>(v: T) -> Result<Response, ApiError> {
    Ok(Json(v).into_response())
}

/// `201 Created` with a JSON body.
pub(crate) fn created<T: serde::Serialize>(v: T) -> Result<Response, ApiError> {
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// Largest page a list returns, as Key Vault limits `maxresults`.
const MAX_PAGE: usize = 25;

/// A page of a listing, with a `nextLink` to the same route.
pub(crate) fn list<T, W: serde::Serialize>(
    ctx: &Ctx,
    op: Op,
    args: &[&str],
    page: impl FnOnce(&Vault, usize, Option<&str>) -> crate::Result<Page<T>>,
    item: fn(&BaseUrl, T) -> W,
) -> Result<Response, ApiError> {
    let max = match ctx.query.get("maxresults") {
        None => MAX_PAGE,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_parameter(format!(
                    "maxresults must be an integer from 1 to {MAX_PAGE}, not {v:?}"
                )))
            }
        },
    };
    let continuation = ctx
        .query
        .get("$skiptoken")
        .map(|t| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| ApiError::bad_parameter("$skiptoken is not valid"))
        })
        .transpose()?;
    let page = page(ctx.vault()?, max, continuation.as_deref())?;
    let next_link = page.next.map(|n| {
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n);
        // A filter of the listing holds on every page, so the link carries it on.
        let pending = ctx
            .query
            .get("includePending")
            .map(|v| format!("&includePending={}", crate::api::encode_segment(v)))
            .unwrap_or_default();
        format!(
            "{}?api-version={}&maxresults={max}&$skiptoken={token}{pending}",
            ctx.base.url(op, args),
            ctx.api_version
        )
    });
    ok(ListResult {
        value: page.items.into_iter().map(|i| item(&ctx.base, i)).collect(),
        next_link,
    })
}

/// A backup blob or random bytes: `{"value": base64url}`.
pub(crate) fn blob(bytes: Vec<u8>) -> Result<Response, ApiError> {
    ok(BlobValue {
        value: Base64Url(bytes),
    })
}

/// The store's periodic work, on its clock: purge what is due, then run the certificates'
/// due lifetime actions, recording each EmailContacts action in its vault's access log (a
/// local stand-in for the e-mail Key Vault would send), then the keys' rotation policies
/// (rotations and Notify actions recorded likewise). The server runs it every minute and
/// after a time shift.
pub(crate) fn housekeeping(
    store: &crate::Store,
) -> crate::Result<(
    crate::SweepReport,
    crate::certificates::LifetimeReport,
    crate::keys::KeyRotationReport,
)> {
    let swept = store.sweep()?;
    let lifetime = store.run_lifetime_actions()?;
    let system = Caller::local();
    for (id, contacts) in &lifetime.notified {
        let mut parts = id.splitn(2, '/');
        let (Some(vault), Some(path)) = (parts.next(), parts.next()) else {
            continue;
        };
        let uri = format!("/certificates/{path}");
        tracing::info!(
            vault,
            certificate = path,
            contacts = contacts.len(),
            "certificate lifetime action: EmailContacts"
        );
        store.record_access(
            vault,
            CallRecord {
                caller: &system,
                operation: "CertificateLifetimeEmailContacts",
                api_version: "",
                resource_id: uri.clone(),
                status: 200,
                error_code: None,
                duration_ms: 0,
                request_id: "",
                request_uri: &uri,
            },
        )?;
    }
    let rotations = store.run_key_rotations()?;
    record_key_rotations(store, &rotations)?;
    Ok((swept, lifetime, rotations))
}

/// Records what the keys' rotation policies did in each vault's access log, as the
/// system: a rotation as `KeyRotate`, a due Notify action as `KeyNearExpiry` (the Event
/// Grid event Key Vault would publish).
fn record_key_rotations(
    store: &crate::Store,
    report: &crate::keys::KeyRotationReport,
) -> crate::Result<()> {
    let system = Caller::local();
    let rows = report
        .rotated
        .iter()
        .map(|id| ("KeyRotate", id))
        .chain(report.notified.iter().map(|id| ("KeyNearExpiry", id)));
    for (operation, id) in rows {
        let mut parts = id.splitn(2, '/');
        let (Some(vault), Some(path)) = (parts.next(), parts.next()) else {
            continue;
        };
        let uri = format!("/keys/{path}");
        tracing::info!(vault, key = path, operation, "key rotation policy action");
        store.record_access(
            vault,
            CallRecord {
                caller: &system,
                operation,
                api_version: "",
                resource_id: uri.clone(),
                status: 200,
                error_code: None,
                duration_ms: 0,
                request_id: "",
                request_uri: &uri,
            },
        )?;
    }
    Ok(())
}

/// One data-plane request's context.
pub(crate) struct Ctx {
    pub(crate) state: AppState,
    /// The vault the host names (not yet checked to exist).
    pub(crate) vault_name: String,
    pub(crate) base: BaseUrl,
    pub(crate) api_version: String,
    pub(crate) caller: Caller,
    pub(crate) query: Query,
    vault: OnceLock<Vault>,
}

impl Ctx {
    pub(crate) fn new(
        state: AppState,
        vault_name: String,
        base: BaseUrl,
        api_version: String,
        caller: Caller,
        query: Query,
    ) -> Self {
        Self {
            state,
            vault_name,
            base,
            api_version,
            caller,
            query,
            vault: OnceLock::new(),
        }
    }

    /// The request's vault, acting for the request's caller (access control applies).
    /// Resolved on first use (so a malformed body is a 400 whatever the vault's state) and
    /// kept for the rest of the request.
    pub(crate) fn vault(&self) -> Result<&Vault, ApiError> {
        if let Some(v) = self.vault.get() {
            return Ok(v);
        }
        let v = self
            .state
            .store
            .vault_as(&self.vault_name, self.caller.clone())?;
        Ok(self.vault.get_or_init(|| v))
    }

    /// Checks, before any object is looked up, that the caller may make the call `op` at
    /// the scope the request names (`/keys/NAME`, `/keys`, or the vault), so an
    /// unauthorized caller gets the same 403 whether or not the object exists, as from
    /// Key Vault. The answer is kept with the request's vault: the operation's own check at
    /// that scope does not evaluate the caller's roles again. Role routes check their own
    /// scope; a restore is checked by the core at the scope of the object its blob names
    /// (before any lookup), since the request names none.
    pub(crate) fn authorize(&self, op: Op, p: &Params<'_>) -> Result<(), ApiError> {
        let route = op.route();
        let Access::Data(action) = route.access else {
            return Ok(());
        };
        if route.is_scoped()
            || matches!(
                op,
                Op::KeyRestore | Op::SecretRestore | Op::CertificateRestore
            )
            || !self.state.store.policy().enforce
        {
            return Ok(());
        }
        let scope = match (p.object(), route.object_kind()) {
            (Some((kind, name)), _) => crate::vault::object_scope(kind, name),
            (None, Some(kind)) => format!("/{}s", kind.noun()),
            (None, None) => "/".to_string(),
        };
        let checked = match self.vault.get() {
            Some(v) => v.checked(action, &scope)?,
            None => self
                .state
                .store
                .vault_as(&self.vault_name, self.caller.clone())?
                .checked(action, &scope)?,
        };
        // First use of the vault in this request (dispatch calls this before any handler).
        let _ = self.vault.set(checked);
        Ok(())
    }

    /// Runs a call on the request's vault off the async workers (it may write, and so
    /// flush).
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Vault) -> crate::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        run_blocking(self.vault()?.clone(), f).await
    }

    /// Appends the call to the vault's access log, if the log is on. A failure to write
    /// is logged, not answered: the call itself has happened.
    pub(crate) fn record_access(&self, call: CallRecord<'_>) {
        // Whether the log is on comes from the store's cache of vault records: no second
        // read or decode of the record this request already resolved.
        let vault = self
            .vault
            .get()
            .map_or(self.vault_name.as_str(), Vault::name);
        if let Err(e) = self.state.store.record_access(vault, call) {
            tracing::warn!(error = %e, "cannot write the access log");
        }
    }
}
