//! The REST API in-process: `localhsm::server::router` over a store in a temporary
//! directory, called without a network.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use localhsm::server::{call, ensure_default_vault, router, AppState};
use localhsm::{OffsetClock, Store};
use serde_json::Value;

use super::store::Opener;

/// A REST server answering in-process (no network) over a store in a temporary directory.
pub struct Api {
    pub rt: tokio::runtime::Runtime,
    pub app: axum::Router,
    pub store: Store,
    pub dir: tempfile::TempDir,
    /// The server's clock: shifts are refused until `clock.allow_shifts()`, as a server
    /// started without `--dev-clock` refuses them.
    pub clock: Arc<OffsetClock>,
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
        Self::open(tempfile::tempdir().expect("temp dir"))
    }

    /// Serves the store in `dir` (master key [`super::MASTER`]) in-process.
    pub fn open(dir: tempfile::TempDir) -> Self {
        let store = Opener::new().open(dir.path());
        Self::serve(store, dir)
    }

    /// Serves `store` in-process (`dir`: its directory, kept as long as the harness).
    pub fn serve(store: Store, dir: tempfile::TempDir) -> Self {
        ensure_default_vault(&store).expect("default vault");
        let clock = Arc::new(OffsetClock::new());
        let app = router(AppState {
            store: store.clone(),
            clock: clock.clone(),
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
            clock,
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

/// The version id at the end of a `kid` (or the name at the end of a versionless one).
pub fn kid_version(kid: &str) -> String {
    kid.rsplit('/').next().unwrap_or_default().to_string()
}
