//! [`Remote`]: the tokens of a store that a running `localhsm serve` holds, reached the way
//! the CLI reaches them: the server's address and certificate from `DIR/server.json`, the
//! owner's credential from `DIR/owner.token` as the bearer token, and the Key Vault REST API
//! (`https://{vault}.localhost:PORT/keys/...`) for everything else. The server applies its own
//! checks (RBAC, `key_ops`, `enabled`, `nbf`/`exp`) and writes its access log, as for any other
//! client.
//!
//! Two things the module needs are not on the Key Vault API; both come from owner-only
//! management routes: the PIN hashes (`GET/PUT /management/vaults/{vault}/pkcs11-pins`), and
//! the length of an oct key (`GET /management/vaults/{vault}/pkcs11-keys/{key}/{version}`),
//! which `CKA_VALUE_LEN` and the AES mechanisms need and Key Vault's key bundle does not
//! give (an oct key's public JWK is its `kty` alone).
//!
//! Through a server the module sees EC, RSA and AES keys and makes them: `C_GenerateKey`
//! posts `/keys/{name}/create`, `C_CreateObject` and `C_UnwrapKey` put the key with
//! `PUT /keys/{name}`. No private key leaves the server, so `C_WrapKey` answers
//! `CKR_KEY_UNEXTRACTABLE`.

use std::collections::HashMap;
use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use localhsm::crypto::{
    AesParams, Encrypted, EncryptionAlgorithm, Jwk, KeyFamily, KeySpec, KeyType, SecretBytes,
    SecretString, SignatureAlgorithm, WrapAlgorithm,
};
use localhsm::error::ObjectKind;
use localhsm::model::certificates::{CertificateAttributes, CertificateBundle};
use localhsm::model::{
    KeyAttributes, KeyBundle, KeyOptions, SecretAttributes, SecretBundle, Tags, TokenPins,
    VaultInfo, VaultKind,
};
use localhsm::Error;
use reqwest::Method;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::backend::{Key, KeyOps, Result, TokenBackend};

/// The file a running server writes into its data directory (`localhsm::server::SERVER_FILE`).
pub const SERVER_FILE: &str = "server.json";
/// The owner's credential the server writes beside it (`localhsm::server::owner::OWNER_FILE`).
pub const OWNER_FILE: &str = "owner.token";
/// The Key Vault API version the module speaks.
const API_VERSION: &str = "7.4";
/// Key Vault's PKCS#1 v1.5 signature over a value the caller formats (`CKM_RSA_PKCS`).
const RSNULL: &str = "RSNULL";
/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A running server, as the module talks to it.
pub struct Remote {
    client: reqwest::blocking::Client,
    port: u16,
    token: Zeroizing<String>,
    /// `DIR/server.json`, for messages.
    file: PathBuf,
}

/// Resolves every name to the server, so `https://{vault}.localhost:PORT` reaches it with the
/// right SNI and `Host` whatever the system resolver does with `*.localhost`.
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

/// What `DIR/server.json` holds.
#[derive(serde::Deserialize)]
struct ServerFile {
    url: String,
    cert: PathBuf,
    pid: u32,
}

impl Remote {
    /// The server holding `dir`, if it wrote its file there: `Ok(None)` when there is none.
    pub fn find(dir: &Path) -> std::result::Result<Option<Remote>, String> {
        let file = dir.join(SERVER_FILE);
        let text = match std::fs::read(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
        };
        let server: ServerFile = serde_json::from_slice(&text)
            .map_err(|e| format!("{} is not a server file: {e}", file.display()))?;
        Self::connect(dir, &file, server).map(Some)
    }

    fn connect(dir: &Path, file: &Path, server: ServerFile) -> std::result::Result<Remote, String> {
        let stale = |what: String| {
            format!(
                "{what} (from {}: is the server, pid {}, still running?)",
                file.display(),
                server.pid
            )
        };
        let url = reqwest::Url::parse(&server.url)
            .map_err(|e| stale(format!("invalid server URL {:?}: {e}", server.url)))?;
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
            .ok_or_else(|| stale(format!("cannot resolve {host}")))?;
        // A server listening on all interfaces is reached on loopback.
        let ip = match ip {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            other => other,
        };
        let pem = std::fs::read(&server.cert).map_err(|e| {
            stale(format!(
                "cannot read the server's certificate {}: {e}",
                server.cert.display()
            ))
        })?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| format!("{} is not a PEM certificate: {e}", server.cert.display()))?;
        let token = read_owner_token(dir)?;
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = reqwest::blocking::Client::builder()
            .tls_certs_only([cert])
            .dns_resolver(Arc::new(ToServer(SocketAddr::new(ip, port))))
            .no_proxy()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| format!("cannot set up the HTTPS client: {e}"))?;
        Ok(Remote {
            client,
            port,
            token,
            file: file.to_path_buf(),
        })
    }

    /// One request to `host` (`localhost` for the management API, `{vault}.localhost` for a
    /// vault's). `what` names the object for a not-found answer.
    fn call(
        &self,
        method: Method,
        host: &str,
        path_and_query: &str,
        body: Option<&Value>,
        what: (ObjectKind, &str),
    ) -> Result<Value> {
        let body = body.map(|b| Zeroizing::new(b.to_string().into_bytes()));
        self.send(method, host, path_and_query, body, what)
    }

    /// [`Remote::call`] with a JSON body already serialized (kept in a zeroizing buffer: an
    /// import's body holds private key members).
    fn send(
        &self,
        method: Method,
        host: &str,
        path_and_query: &str,
        body: Option<Zeroizing<Vec<u8>>>,
        what: (ObjectKind, &str),
    ) -> Result<Value> {
        // An application may call PKCS#11 from a thread that drives an async runtime, and
        // reqwest's blocking client, in a debug build, panics when asked to block one: there
        // the request runs on a thread of its own while the caller's waits, as a PKCS#11
        // call does. (A release build of reqwest just blocks.)
        if tokio::runtime::Handle::try_current().is_ok() {
            return std::thread::scope(|scope| {
                scope
                    .spawn(|| self.send_here(method, host, path_and_query, body, what))
                    .join()
            })
            .unwrap_or_else(|_| Err(Error::Storage("the request's thread failed".into())));
        }
        self.send_here(method, host, path_and_query, body, what)
    }

    fn send_here(
        &self,
        method: Method,
        host: &str,
        path_and_query: &str,
        body: Option<Zeroizing<Vec<u8>>>,
        what: (ObjectKind, &str),
    ) -> Result<Value> {
        let url = format!("https://{host}:{}{path_and_query}", self.port);
        let mut req = self
            .client
            .request(method, &url)
            .bearer_auth(self.token.as_str());
        if let Some(body) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let mut resp = req.send().map_err(|e| {
            Error::Storage(format!(
                "the server named in {} did not answer: {e}",
                self.file.display()
            ))
        })?;
        let status = resp.status().as_u16();
        // A decrypt or unwrapkey answer holds plaintext or key material.
        let mut bytes = Zeroizing::new(Vec::new());
        resp.read_to_end(&mut bytes)
            .map_err(|e| Error::Storage(format!("cannot read the server's answer: {e}")))?;
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if (200..300).contains(&status) {
            return Ok(value);
        }
        Err(wire_error(status, &value, what))
    }

    fn vault_call(
        &self,
        method: Method,
        vault: &str,
        path: &str,
        body: Option<&Value>,
        what: (ObjectKind, &str),
    ) -> Result<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        self.call(
            method,
            &format!("{vault}.localhost"),
            &format!("{path}{sep}api-version={API_VERSION}"),
            body,
            what,
        )
    }

    fn management(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        self.call(
            method,
            "localhost",
            &format!("/management/{path}"),
            body,
            (ObjectKind::Key, ""),
        )
    }

    /// Every item of a listing, following `nextLink` (its path and query, on our host).
    fn list(&self, vault: &str, path: &str, kind: ObjectKind) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut next = Some(format!("{path}?api-version={API_VERSION}&maxresults=25"));
        while let Some(p) = next.take() {
            let page = self.call(
                Method::GET,
                &format!("{vault}.localhost"),
                &p,
                None,
                (kind, ""),
            )?;
            if let Some(items) = page["value"].as_array() {
                out.extend(items.iter().cloned());
            }
            if let Some(link) = page["nextLink"].as_str() {
                let url = reqwest::Url::parse(link)
                    .map_err(|e| Error::Storage(format!("bad nextLink {link:?}: {e}")))?;
                next = Some(match url.query() {
                    Some(q) => format!("{}?{q}", url.path()),
                    None => url.path().to_string(),
                });
            }
        }
        Ok(out)
    }

    /// A key version as the server describes it, with its spec; an oct key's size is not
    /// in the bundle, so its spec is `Oct(0)` here and [`RemoteBackend::oct_spec`] asks for
    /// the size.
    fn key_bundle(vault: &str, v: &Value) -> Result<(KeyBundle, KeySpec)> {
        let key: Jwk = serde_json::from_value(v["key"].clone())
            .map_err(|e| Error::Storage(format!("the server sent a key that is no JWK: {e}")))?;
        let (name, version) = id_parts(key.kid.as_deref().unwrap_or(""))?;
        let kty = key
            .kty
            .ok_or_else(|| Error::Storage("the server sent a key without kty".into()))?;
        let spec = match kty.family() {
            KeyFamily::Ec => KeySpec::Ec(
                key.crv
                    .ok_or_else(|| Error::Storage("an EC key without crv".into()))?,
            ),
            KeyFamily::Rsa => KeySpec::Rsa(key.n.as_ref().map(|n| n.0.len() * 8).unwrap_or(0)),
            KeyFamily::Oct => KeySpec::Oct(0),
        };
        let a = &v["attributes"];
        let bundle = KeyBundle {
            vault: vault.to_string(),
            name,
            version,
            kty,
            key_ops: key.key_ops.clone().unwrap_or_default(),
            attributes: KeyAttributes {
                enabled: a["enabled"].as_bool().unwrap_or(true),
                not_before: a["nbf"].as_u64(),
                expires: a["exp"].as_u64(),
                created: a["created"].as_u64().unwrap_or(0),
                updated: a["updated"].as_u64().unwrap_or(0),
                exportable: a["exportable"].as_bool().unwrap_or(false),
                recovery_level: a["recoveryLevel"].as_str().unwrap_or("").to_string(),
                recoverable_days: a["recoverableDays"].as_u64().unwrap_or(0) as u32,
            },
            tags: tags(v),
            managed: v["managed"].as_bool().unwrap_or(false),
            is_current: true,
            release_policy: None,
            key,
        };
        Ok((bundle, spec))
    }

    fn secret_bundle(vault: &str, v: &Value) -> Result<SecretBundle> {
        let (name, version) = id_parts(v["id"].as_str().unwrap_or(""))?;
        let a = &v["attributes"];
        Ok(SecretBundle {
            vault: vault.to_string(),
            name,
            version,
            value: v["value"]
                .as_str()
                .map(|s| SecretString::new(s.to_string())),
            content_type: v["contentType"].as_str().map(str::to_string),
            attributes: SecretAttributes {
                enabled: a["enabled"].as_bool().unwrap_or(true),
                not_before: a["nbf"].as_u64(),
                expires: a["exp"].as_u64(),
                created: a["created"].as_u64().unwrap_or(0),
                updated: a["updated"].as_u64().unwrap_or(0),
                recovery_level: a["recoveryLevel"].as_str().unwrap_or("").to_string(),
                recoverable_days: a["recoverableDays"].as_u64().unwrap_or(0) as u32,
            },
            tags: tags(v),
            managed: v["managed"].as_bool().unwrap_or(false),
            is_current: true,
        })
    }

    fn certificate_bundle(vault: &str, v: &Value) -> Result<CertificateBundle> {
        let (name, version) = id_parts(v["id"].as_str().unwrap_or(""))?;
        let a = &v["attributes"];
        let bytes = |field: &str, url: bool| {
            v[field].as_str().and_then(|s| {
                if url {
                    URL_SAFE_NO_PAD.decode(s).ok()
                } else {
                    STANDARD.decode(s).ok()
                }
            })
        };
        Ok(CertificateBundle {
            vault: vault.to_string(),
            name,
            version,
            cer: bytes("cer", false),
            x5t: bytes("x5t", true),
            policy: Default::default(),
            attributes: CertificateAttributes {
                enabled: a["enabled"].as_bool().unwrap_or(true),
                not_before: a["nbf"].as_u64(),
                expires: a["exp"].as_u64(),
                created: a["created"].as_u64().unwrap_or(0),
                updated: a["updated"].as_u64().unwrap_or(0),
                recovery_level: a["recoveryLevel"].as_str().unwrap_or("").to_string(),
                recoverable_days: a["recoverableDays"].as_u64().unwrap_or(0) as u32,
            },
            tags: tags(v),
            content_type: v["contentType"].as_str().unwrap_or("").to_string(),
            is_current: true,
        })
    }
}

/// The owner's credential in `dir`, from a file only its owner may read or write.
fn read_owner_token(dir: &Path) -> std::result::Result<Zeroizing<String>, String> {
    let path = dir.join(OWNER_FILE);
    let mut file = std::fs::File::open(&path).map_err(|e| {
        format!(
            "cannot read the store owner's credential {}: {e} (the module acts as the store's \
             owner through a running server, as the CLI does)",
            path.display()
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let meta = file
            .metadata()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.mode() & 0o077 != 0 {
            return Err(format!(
                "{} may be read or written by others (mode {:o}); it is not used",
                path.display(),
                meta.mode() & 0o777
            ));
        }
    }
    let mut text = Zeroizing::new(String::new());
    file.read_to_string(&mut text)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let token = Zeroizing::new(text.trim().to_string());
    if token.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(token)
}

/// `name` and `version` of `https://host/{kind}s/{name}/{version}`.
fn id_parts(id: &str) -> Result<(String, String)> {
    let mut parts = id.rsplit('/');
    match (parts.next(), parts.next()) {
        (Some(version), Some(name)) if !version.is_empty() && !name.is_empty() => {
            Ok((name.to_string(), version.to_string()))
        }
        _ => Err(Error::Storage(format!(
            "the server sent an id without a version: {id:?}"
        ))),
    }
}

fn tags(v: &Value) -> Tags {
    v["tags"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The last segment of a list item's id (`https://host/keys/{name}`).
fn item_name(v: &Value, field: &str) -> Option<String> {
    v[field]
        .as_str()
        .and_then(|id| id.rsplit('/').next())
        .map(str::to_string)
}

/// The core error a Key Vault error answer stands for, so that it maps to the same `CKR_*`
/// as in process.
fn wire_error(status: u16, body: &Value, (kind, name): (ObjectKind, &str)) -> Error {
    let error = &body["error"];
    let code = error["code"].as_str().unwrap_or("");
    let inner = error["innererror"]["code"].as_str().unwrap_or("");
    let message = error["message"].as_str().unwrap_or("").to_string();
    let operation = "this operation";
    match (status, code, inner) {
        (404, "VaultNotFound", _) => Error::VaultNotFound {
            vault: message.clone(),
        },
        (404, _, _) => Error::not_found(kind, name, None),
        (409, _, "ObjectIsDeletedButRecoverable") => Error::IsDeleted {
            kind,
            name: name.to_string(),
        },
        (409, _, _) => Error::AlreadyExists {
            kind,
            name: name.to_string(),
        },
        (403, _, "KeyDisabled" | "SecretDisabled" | "CertificateDisabled") => {
            Error::Disabled { kind, operation }
        }
        (403, _, "KeyNotYetValid" | "SecretNotYetValid" | "CertificateNotYetValid") => {
            Error::NotYetValid { kind, operation }
        }
        (403, _, "KeyExpired" | "SecretExpired" | "CertificateExpired") => {
            Error::Expired { kind, operation }
        }
        (403, _, "KeyOperationNotPermitted") => Error::OperationNotPermitted { operation },
        (403, _, "KeyNotExportable") => Error::NotExportable,
        (403, _, "PurgeProtectionEnabled") => Error::PurgeProtected {
            object: name.to_string(),
            scheduled_purge_date: 0,
        },
        (403, _, "KeyManagedByKeyVault" | "SecretManagedByKeyVault") => Error::Managed {
            kind,
            name: name.to_string(),
        },
        (401 | 403, _, _) => Error::AccessDenied {
            caller: "the store's owner".into(),
            action: "the operation (refused by the server)",
            scope: message,
        },
        (400, _, _) => Error::BadParameter(message),
        _ => Error::Storage(format!("the server answered {status} {code}: {message}")),
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Clears every string of `v` in place, before it is dropped: the base64 of a plaintext or
/// of key material does not stay behind in freed memory.
fn scrub(v: &mut Value) {
    use zeroize::Zeroize as _;
    match v {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(scrub),
        Value::Object(map) => map.values_mut().for_each(scrub),
        _ => {}
    }
}

/// The bytes of a base64url member of an answer.
fn member(v: &Value, field: &str) -> Result<Vec<u8>> {
    v[field]
        .as_str()
        .and_then(|s| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok())
        .ok_or_else(|| Error::Storage(format!("the server's answer has no {field}")))
}

/// One key version on the server.
struct RemoteKey {
    remote: Arc<Remote>,
    vault: String,
    name: String,
    version: String,
    spec: KeySpec,
}

impl RemoteKey {
    /// `POST /keys/{name}/{version}/{op}`. The request's members (a plaintext, a key to
    /// wrap) are cleared once it is sent; the caller clears the answer's with [`scrub`].
    fn op(&self, op: &str, mut body: Value) -> Result<Value> {
        let answer = self.remote.vault_call(
            Method::POST,
            &self.vault,
            &format!("/keys/{}/{}/{op}", self.name, self.version),
            Some(&body),
            (ObjectKind::Key, &self.name),
        );
        scrub(&mut body);
        answer
    }

    fn sign_as(&self, alg: &str, value: &[u8]) -> Result<Vec<u8>> {
        let r = self.op("sign", json!({ "alg": alg, "value": b64(value) }))?;
        member(&r, "value")
    }

    fn verify_as(&self, alg: &str, digest: &[u8], signature: &[u8]) -> Result<bool> {
        let r = self.op(
            "verify",
            json!({ "alg": alg, "digest": b64(digest), "value": b64(signature) }),
        )?;
        r["value"]
            .as_bool()
            .ok_or_else(|| Error::Storage("the server's verify answer has no value".into()))
    }

    fn cipher_body(alg: &str, input: &[u8], params: AesParams<'_>) -> Value {
        let mut body = json!({ "alg": alg, "value": b64(input) });
        for (field, value) in [("iv", params.iv), ("aad", params.aad), ("tag", params.tag)] {
            if let Some(v) = value {
                body[field] = Value::String(b64(v));
            }
        }
        body
    }
}

impl KeyOps for RemoteKey {
    fn spec(&self) -> KeySpec {
        self.spec
    }

    fn sign(&self, alg: SignatureAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
        self.sign_as(alg.as_str(), digest)
    }

    fn verify(&self, alg: SignatureAlgorithm, digest: &[u8], signature: &[u8]) -> Result<bool> {
        self.verify_as(alg.as_str(), digest, signature)
    }

    fn sign_pkcs1v15_raw(&self, data: &[u8]) -> Result<Vec<u8>> {
        self.sign_as(RSNULL, data)
    }

    fn verify_pkcs1v15_raw(&self, data: &[u8], signature: &[u8]) -> Result<bool> {
        self.verify_as(RSNULL, data, signature)
    }

    fn encrypt(
        &self,
        alg: EncryptionAlgorithm,
        plaintext: &[u8],
        params: AesParams<'_>,
    ) -> Result<Encrypted> {
        let r = self.op(
            "encrypt",
            Self::cipher_body(&alg.to_string(), plaintext, params),
        )?;
        Ok(Encrypted {
            ciphertext: member(&r, "value")?,
            iv: member(&r, "iv").ok(),
            tag: member(&r, "tag").ok(),
            aad: member(&r, "aad").ok(),
        })
    }

    fn decrypt(
        &self,
        alg: EncryptionAlgorithm,
        ciphertext: &[u8],
        params: AesParams<'_>,
    ) -> Result<SecretBytes> {
        let mut r = self.op(
            "decrypt",
            Self::cipher_body(&alg.to_string(), ciphertext, params),
        )?;
        let plain = member(&r, "value").map(SecretBytes::new);
        scrub(&mut r);
        plain
    }

    fn wrap_key(&self, alg: WrapAlgorithm, key: &[u8]) -> Result<Vec<u8>> {
        let r = self.op(
            "wrapkey",
            json!({ "alg": alg.to_string(), "value": b64(key) }),
        )?;
        member(&r, "value")
    }

    fn unwrap_key(&self, alg: WrapAlgorithm, wrapped: &[u8]) -> Result<SecretBytes> {
        let mut r = self.op(
            "unwrapkey",
            json!({ "alg": alg.to_string(), "value": b64(wrapped) }),
        )?;
        let key = member(&r, "value").map(SecretBytes::new);
        scrub(&mut r);
        key
    }
}

/// The backend over a running server; the `Arc` lets key handles share the client.
pub struct RemoteBackend {
    remote: Arc<Remote>,
    /// Key versions already looked up, by vault, name and version: a version's type and
    /// size never change, and the server checks everything else on each operation (a key
    /// deleted since answers 404 there), so each `C_*Init` after the first costs no request.
    keys: std::sync::Mutex<HashMap<(String, String, String), Key>>,
}

impl RemoteBackend {
    /// The backend over `remote`.
    pub fn new(remote: Remote) -> Self {
        Self {
            remote: Arc::new(remote),
            keys: Default::default(),
        }
    }

    fn cached(&self, vault: &str, name: &str, version: &str) -> Option<Key> {
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(vault.to_string(), name.to_string(), version.to_string()))
            .cloned()
    }

    /// The spec of an oct key version: from a handle already looked up, else from the
    /// owner-only management route (the key bundle does not say an oct key's size), once
    /// per version.
    fn oct_spec(&self, vault: &str, name: &str, version: &str) -> Result<KeySpec> {
        if let Some(key) = self.cached(vault, name, version) {
            return Ok(key.spec());
        }
        let v = self.remote.call(
            Method::GET,
            "localhost",
            &format!("/management/vaults/{vault}/pkcs11-keys/{name}/{version}"),
            None,
            (ObjectKind::Key, name),
        )?;
        let bits = v["key_size"].as_u64().unwrap_or(0) as usize;
        let oct = v["kty"]
            .as_str()
            .and_then(|k| k.parse::<KeyType>().ok())
            .is_some_and(|k| k.family() == KeyFamily::Oct);
        if !oct || v["version"] != version || !matches!(bits, 128 | 192 | 256) {
            return Err(Error::Storage(format!(
                "the server described {name}/{version} as {v}, not as that oct key"
            )));
        }
        let spec = KeySpec::Oct(bits);
        // Kept, so the next listing and the next operation ask no more.
        self.remember(vault, name, version, spec);
        Ok(spec)
    }

    /// A handle on a key version, kept for later calls.
    fn remember(&self, vault: &str, name: &str, version: &str, spec: KeySpec) -> Key {
        let key: Key = Arc::new(RemoteKey {
            remote: self.remote.clone(),
            vault: vault.to_string(),
            name: name.to_string(),
            version: version.to_string(),
            spec,
        });
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).insert(
            (vault.to_string(), name.to_string(), version.to_string()),
            key.clone(),
        );
        key
    }

    /// Refuses an oct key in a vault of kind `vault` as the core does, before the request:
    /// the server's refusal is a plain 400, which would not map to the same `CKR_*`.
    fn check_oct_kind(&self, vault: &str, kty: KeyType) -> Result<()> {
        if kty.family() == KeyFamily::Oct {
            self.refuse_in(vault, VaultKind::Vault, || format!("key type {kty}"))?;
        }
        Ok(())
    }

    /// The core's refusal of what a vault of `kind` does not hold, when `vault` is one.
    fn refuse_in(&self, vault: &str, kind: VaultKind, what: impl FnOnce() -> String) -> Result<()> {
        if self.vault_info(vault)?.kind == kind {
            return Err(Error::NotSupportedByVaultKind {
                what: what(),
                kind: kind.as_str(),
            });
        }
        Ok(())
    }

    /// Every object `path` lists, each read again with `get` (by the last segment of its
    /// `id_field`); one deleted since the listing is left out.
    fn each_listed<T>(
        &self,
        vault: &str,
        path: &str,
        kind: ObjectKind,
        id_field: &str,
        get: impl Fn(&str) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for item in self.remote.list(vault, path, kind)? {
            let Some(name) = item_name(&item, id_field) else {
                continue;
            };
            match get(&name) {
                Ok(o) => out.push(o),
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

impl TokenBackend for RemoteBackend {
    fn vault_names(&self) -> Result<Vec<String>> {
        let list = self.remote.management(Method::GET, "vaults", None)?;
        Ok(list["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["deletedDate"].is_null())
            .filter_map(|v| v["name"].as_str().map(str::to_string))
            .collect())
    }

    fn vault_info(&self, vault: &str) -> Result<VaultInfo> {
        let v = self
            .remote
            .management(Method::GET, &format!("vaults/{vault}"), None)
            .map_err(|e| match e {
                Error::NotFound { .. } => Error::VaultNotFound {
                    vault: vault.to_string(),
                },
                e => e,
            })?;
        serde_json::from_value(v)
            .map_err(|e| Error::Storage(format!("the server sent a vault I cannot read: {e}")))
    }

    fn token_pins(&self, vault: &str) -> Result<TokenPins> {
        let v =
            self.remote
                .management(Method::GET, &format!("vaults/{vault}/pkcs11-pins"), None)?;
        Ok(TokenPins {
            so: v["so"].as_str().map(str::to_string),
            user: v["user"].as_str().map(str::to_string),
        })
    }

    fn set_token_pins(&self, vault: &str, pins: TokenPins) -> Result<()> {
        let body = json!({ "so": pins.so, "user": pins.user });
        self.remote.management(
            Method::PUT,
            &format!("vaults/{vault}/pkcs11-pins"),
            Some(&body),
        )?;
        Ok(())
    }

    fn keys(&self, vault: &str) -> Result<Vec<(KeyBundle, KeySpec)>> {
        self.each_listed(vault, "/keys", ObjectKind::Key, "kid", |name| {
            self.get_key(vault, name, None)
        })
    }

    fn get_key(
        &self,
        vault: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<(KeyBundle, KeySpec)> {
        let path = format!("/keys/{name}/{}", version.unwrap_or(""));
        let v = self
            .remote
            .vault_call(Method::GET, vault, &path, None, (ObjectKind::Key, name))?;
        let (b, spec) = Remote::key_bundle(vault, &v)?;
        let spec = match spec {
            KeySpec::Oct(_) => self.oct_spec(vault, &b.name, &b.version)?,
            other => other,
        };
        Ok((b, spec))
    }

    fn key(&self, vault: &str, name: &str, version: Option<&str>) -> Result<Key> {
        if let Some(v) = version {
            if let Some(key) = self.cached(vault, name, v) {
                return Ok(key);
            }
        }
        let (b, spec) = self.get_key(vault, name, version)?;
        Ok(self.remember(vault, &b.name, &b.version, spec))
    }

    fn create_key(
        &self,
        vault: &str,
        name: &str,
        kty: KeyType,
        spec: KeySpec,
        options: KeyOptions,
    ) -> Result<KeyBundle> {
        let mut body = json!({
            "kty": kty,
            "key_ops": options.key_ops.unwrap_or_default(),
            "attributes": {
                "enabled": options.enabled.unwrap_or(true),
                "exportable": options.exportable,
            },
            "tags": options.tags,
        });
        match spec {
            KeySpec::Ec(crv) => body["crv"] = json!(crv),
            KeySpec::Rsa(bits) | KeySpec::Oct(bits) => body["key_size"] = json!(bits),
        }
        self.check_oct_kind(vault, kty)?;
        let v = self.remote.vault_call(
            Method::POST,
            vault,
            &format!("/keys/{name}/create"),
            Some(&body),
            (ObjectKind::Key, name),
        )?;
        Remote::key_bundle(vault, &v).map(|(b, _)| b)
    }

    fn import_key(
        &self,
        vault: &str,
        name: &str,
        jwk: &Jwk,
        hsm: bool,
        options: KeyOptions,
    ) -> Result<KeyBundle> {
        let kty = jwk
            .kty
            .ok_or_else(|| Error::bad_parameter("the key to import has no kty"))?;
        self.check_oct_kind(vault, kty)?;
        #[derive(serde::Serialize)]
        struct Import<'a> {
            key: &'a Jwk,
            #[serde(rename = "Hsm")]
            hsm: bool,
            attributes: Value,
            tags: &'a Tags,
        }
        let body = Import {
            key: jwk,
            hsm,
            attributes: json!({
                "enabled": options.enabled.unwrap_or(true),
                "exportable": options.exportable,
            }),
            tags: &options.tags,
        };
        // Private members: serialized straight into a zeroizing buffer, never a `Value`.
        let mut bytes = Zeroizing::new(Vec::new());
        serde_json::to_writer(&mut *bytes, &body)
            .map_err(|e| Error::Storage(format!("cannot encode the key: {e}")))?;
        let v = self.remote.send(
            Method::PUT,
            &format!("{vault}.localhost"),
            &format!("/keys/{name}?api-version={API_VERSION}"),
            Some(bytes),
            (ObjectKind::Key, name),
        )?;
        Remote::key_bundle(vault, &v).map(|(b, _)| b)
    }

    fn delete_key(&self, vault: &str, name: &str) -> Result<()> {
        self.remote
            .vault_call(
                Method::DELETE,
                vault,
                &format!("/keys/{name}"),
                None,
                (ObjectKind::Key, name),
            )
            .map(|_| ())
    }

    fn export_key(&self, _vault: &str, _name: &str, _version: Option<&str>) -> Result<KeyBundle> {
        Err(Error::NotExportable)
    }

    fn certificates(&self, vault: &str) -> Result<Vec<CertificateBundle>> {
        self.refuse_in(vault, VaultKind::ManagedHsm, || "certificates".into())?;
        self.each_listed(
            vault,
            "/certificates",
            ObjectKind::Certificate,
            "id",
            |name| self.get_certificate(vault, name, None),
        )
    }

    fn get_certificate(
        &self,
        vault: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<CertificateBundle> {
        let path = format!("/certificates/{name}/{}", version.unwrap_or(""));
        let v = self.remote.vault_call(
            Method::GET,
            vault,
            &path,
            None,
            (ObjectKind::Certificate, name),
        )?;
        Remote::certificate_bundle(vault, &v)
    }

    fn delete_certificate(&self, vault: &str, name: &str) -> Result<()> {
        self.remote
            .vault_call(
                Method::DELETE,
                vault,
                &format!("/certificates/{name}"),
                None,
                (ObjectKind::Certificate, name),
            )
            .map(|_| ())
    }

    fn secrets(&self, vault: &str) -> Result<Vec<SecretBundle>> {
        self.refuse_in(vault, VaultKind::ManagedHsm, || "secrets".into())?;
        // The listing has no version; the current one is read without its value.
        self.each_listed(vault, "/secrets", ObjectKind::Secret, "id", |name| {
            self.get_secret_properties(vault, name, None)
        })
    }

    fn get_secret(&self, vault: &str, name: &str, version: Option<&str>) -> Result<SecretBundle> {
        let path = format!("/secrets/{name}/{}", version.unwrap_or(""));
        let v =
            self.remote
                .vault_call(Method::GET, vault, &path, None, (ObjectKind::Secret, name))?;
        Remote::secret_bundle(vault, &v)
    }

    fn get_secret_properties(
        &self,
        vault: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<SecretBundle> {
        // Key Vault has no properties-only read of one version: its versions listing
        // carries the attributes without values.
        let versions = self.remote.list(
            vault,
            &format!("/secrets/{name}/versions"),
            ObjectKind::Secret,
        )?;
        let mut found: Option<SecretBundle> = None;
        for item in &versions {
            let b = Remote::secret_bundle(vault, item)?;
            let wanted = match version {
                Some(v) => b.version == v,
                // The newest version is the current one.
                None => found
                    .as_ref()
                    .is_none_or(|f| b.attributes.created >= f.attributes.created),
            };
            if wanted {
                found = Some(b);
            }
        }
        found.ok_or_else(|| Error::not_found(ObjectKind::Secret, name, version))
    }

    fn delete_secret(&self, vault: &str, name: &str) -> Result<()> {
        self.remote
            .vault_call(
                Method::DELETE,
                vault,
                &format!("/secrets/{name}"),
                None,
                (ObjectKind::Secret, name),
            )
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_clears_every_string_and_keeps_the_rest() {
        let mut v = json!({
            "value": "c2VjcmV0",
            "nested": { "k": ["a2V5", 7, { "iv": "aXY" }] },
            "n": 3,
            "ok": true,
        });
        scrub(&mut v);
        assert_eq!(
            v,
            json!({ "value": "", "nested": { "k": ["", 7, { "iv": "" }] }, "n": 3, "ok": true })
        );
    }

    #[test]
    fn ids_split_into_name_and_version() {
        assert_eq!(
            id_parts("https://hsm.localhost:8443/keys/k1/0123abcd").unwrap(),
            ("k1".to_string(), "0123abcd".to_string())
        );
        assert!(id_parts("https://hsm.localhost:8443/keys/k1/").is_err());
    }
}
