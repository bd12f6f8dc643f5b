//! The local managed-identity endpoint, so `DefaultAzureCredential` and
//! `ManagedIdentityCredential` get tokens from `localhsm serve` with only environment
//! variables set. It speaks App Service's protocol, which the Python, JavaScript and Rust
//! SDKs all read from `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`: `GET {endpoint}?api-version=
//! 2019-08-01&resource=R` with the header secret in `X-IDENTITY-HEADER`, answered with
//! `{"access_token","expires_on","resource","token_type"}`. IMDS is not served: its
//! protocol carries no secret, and every SDK here reaches App Service first.
//!
//! Layer: faces (server). May import `crypto` (randomness) and `clock`; the server puts an
//! [`Issuer`] in each request's extensions and calls [`Issuer::serving`] ahead of the
//! bearer challenge, since a token request has no token yet.
//!
//! Invariants: no token is issued without the header secret, compared in constant time;
//! the secret is made once per data directory into a file only its owner can read
//! ([`SECRET_FILE`], mode 0600) and never appears in logs, `Debug` output or errors.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::clock::UnixTime;
use crate::error::{Error, Result};

/// Where the token endpoint answers (`IDENTITY_ENDPOINT` is the server's URL plus this).
pub const TOKEN_PATH: &str = "/msi/token";
/// The file in the data directory holding the header secret (`IDENTITY_HEADER`).
pub const SECRET_FILE: &str = "identity-header";
/// The App Service protocol version every SDK sends.
pub const API_VERSION: &str = "2019-08-01";
/// The header that carries the secret.
pub const SECRET_HEADER: &str = "x-identity-header";
/// How long a token lives, as App Service's do.
pub const TOKEN_LIFETIME_SECS: u64 = 24 * 3600;
/// Object ID of the local identity unless `serve --identity-oid` names another.
pub const DEFAULT_OID: &str = "00000000-0000-0000-0000-00000000d0e1";
/// User principal name of the local identity unless `serve --identity-upn` names another.
pub const DEFAULT_UPN: &str = "developer@localhsm.localhost";
/// Longest `resource` accepted; longer ones are refused rather than echoed into a token.
const MAX_RESOURCE: usize = 2048;

/// Who the endpoint's tokens name: the claims RBAC and the access log read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalIdentity {
    /// Object ID (`oid` claim): what role assignments name.
    pub oid: String,
    /// User principal name (`upn` claim).
    pub upn: String,
    /// Tenant ID (`tid` claim).
    pub tid: String,
}

impl Default for LocalIdentity {
    fn default() -> Self {
        Self {
            oid: DEFAULT_OID.to_string(),
            upn: DEFAULT_UPN.to_string(),
            tid: super::auth::DEV_TENANT.to_string(),
        }
    }
}

/// The header secret of a data directory: what a client must present to get a token.
pub struct HeaderSecret(Zeroizing<String>);

impl std::fmt::Debug for HeaderSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeaderSecret")
    }
}

impl HeaderSecret {
    /// Reads the secret of `dir`, making it first if the directory has none (mode 0600,
    /// created exclusively, so two servers starting at once agree on one secret).
    pub fn load_or_create(dir: &Path) -> Result<Self> {
        let path = dir.join(SECRET_FILE);
        let fresh = Zeroizing::new(hex::encode(Zeroizing::new(crate::crypto::random_bytes(
            32,
        )?)));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        match opts.open(&path) {
            Ok(mut file) => {
                file.write_all(fresh.as_bytes())?;
                file.sync_all()?;
                Ok(Self(fresh))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load(dir),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the secret of `dir`; an error when there is none (no server has run there).
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(SECRET_FILE);
        let text = Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| {
            Error::Storage(format!(
                "cannot read the identity header secret {}: {e}",
                path.display()
            ))
        })?);
        let secret = text.trim();
        if secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::Storage(format!(
                "{} does not hold an identity header secret; remove it and restart the server",
                path.display()
            )));
        }
        Ok(Self(Zeroizing::new(secret.to_string())))
    }

    /// The secret itself, for `localhsm env` to print as `IDENTITY_HEADER`.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn matches(&self, presented: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(presented).into()
    }
}

/// Issues tokens for the local identity to callers that present the header secret.
#[derive(Debug, Clone)]
pub struct Issuer(Arc<(LocalIdentity, HeaderSecret)>);

impl Issuer {
    /// An issuer of `identity`'s tokens, guarded by `secret`.
    pub fn new(identity: LocalIdentity, secret: HeaderSecret) -> Self {
        Self(Arc::new((identity, secret)))
    }

    /// The issuer a request to [`TOKEN_PATH`] is for, when the server runs one (the CLI's
    /// in-process transport does not: there the path falls through to the challenge).
    pub fn serving(req: &Request<Body>) -> Option<Self> {
        (req.uri().path() == TOKEN_PATH)
            .then(|| req.extensions().get::<Self>().cloned())
            .flatten()
    }

    /// Answers a token request made at `now` (seconds since the epoch, the real clock:
    /// clients compare `expires_on` with theirs).
    pub fn respond(
        &self,
        method: &Method,
        headers: &HeaderMap,
        query: &str,
        now: UnixTime,
    ) -> Response {
        match self.token(method, headers, query, now) {
            Ok(body) => {
                let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
                resp.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                resp
            }
            Err(refusal) => refusal.into_response(),
        }
    }

    fn token(
        &self,
        method: &Method,
        headers: &HeaderMap,
        query: &str,
        now: UnixTime,
    ) -> std::result::Result<serde_json::Value, Refusal> {
        if method != Method::GET {
            return Err(Refusal::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!("the token endpoint answers GET, not {method}"),
            ));
        }
        let (identity, secret) = &*self.0;
        let Some(presented) = headers.get(SECRET_HEADER) else {
            return Err(Refusal::unauthorized(
                "the X-IDENTITY-HEADER header is missing; send IDENTITY_HEADER as `localhsm env` prints it",
            ));
        };
        if !secret.matches(presented.as_bytes()) {
            return Err(Refusal::unauthorized(
                "the X-IDENTITY-HEADER header does not match this data directory's identity secret",
            ));
        }
        let params: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|_| Refusal::bad_parameter("the query string is malformed"))?;
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        match param("api-version") {
            Some(API_VERSION) => {}
            Some(other) => {
                return Err(Refusal::bad_parameter(format!(
                    "api-version {other:?} is not supported; use {API_VERSION}"
                )))
            }
            None => {
                return Err(Refusal::bad_parameter(format!(
                    "the api-version query parameter is required ({API_VERSION})"
                )))
            }
        }
        let resource = match param("resource").map(str::trim) {
            Some(r) if !r.is_empty() && r.len() <= MAX_RESOURCE => r,
            Some(r) if r.len() > MAX_RESOURCE => {
                return Err(Refusal::bad_parameter(format!(
                    "resource is longer than {MAX_RESOURCE} characters"
                )))
            }
            _ => {
                return Err(Refusal::bad_parameter(
                    "the resource query parameter is required (the audience of the token)",
                ))
            }
        };
        // `client_id`, `object_id` and `mi_res_id` pick a user-assigned identity in Azure;
        // there is one local identity, so they are accepted and ignored.
        let expires_on = now.saturating_add(TOKEN_LIFETIME_SECS);
        Ok(serde_json::json!({
            "access_token": jwt(identity, resource, now, expires_on),
            // A string, as App Service sends it (the Rust SDK accepts only a string).
            "expires_on": expires_on.to_string(),
            "resource": resource,
            "token_type": "Bearer",
        }))
    }
}

/// An unsigned JWT (`alg: none`; the dev server reads claims, it does not check signatures)
/// naming `identity`, for `audience`.
fn jwt(identity: &LocalIdentity, audience: &str, now: UnixTime, exp: UnixTime) -> String {
    let enc = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let header = serde_json::json!({"alg": "none", "typ": "JWT"});
    let claims = serde_json::json!({
        "aud": audience,
        "iss": format!("https://sts.windows.net/{}/", identity.tid),
        "iat": now,
        "nbf": now,
        "exp": exp,
        "oid": identity.oid,
        "sub": identity.oid,
        "tid": identity.tid,
        "upn": identity.upn,
    });
    format!("{}.{}.", enc(header), enc(claims))
}

/// A refused token request: Key Vault's error shape, plus App Service's `statusCode` and
/// `message`, which MSAL puts in the error the application sees.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    }

    fn bad_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadParameter", message)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {"code": self.code, "message": self.message},
            "statusCode": self.status.as_u16(),
            "message": self.message,
        });
        (self.status, axum::Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixTime = 1_800_000_000;

    fn issuer(dir: &Path) -> (Issuer, String) {
        let secret = HeaderSecret::load_or_create(dir).unwrap();
        let text = secret.expose().to_string();
        let identity = LocalIdentity {
            oid: "9d2c5f3e-1111-2222-3333-444455556666".into(),
            upn: "alice@contoso.localhost".into(),
            tid: "72f988bf-0000-0000-0000-000000000047".into(),
        };
        (Issuer::new(identity, secret), text)
    }

    fn call(
        issuer: &Issuer,
        method: Method,
        secret: Option<&str>,
        query: &str,
    ) -> (u16, serde_json::Value) {
        let mut headers = HeaderMap::new();
        if let Some(s) = secret {
            headers.insert(SECRET_HEADER, HeaderValue::from_str(s).unwrap());
        }
        let resp = issuer.respond(&method, &headers, query, NOW);
        let status = resp.status().as_u16();
        let body = futures_body(resp);
        (status, serde_json::from_slice(&body).unwrap())
    }

    fn futures_body(resp: Response) -> Vec<u8> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(axum::body::to_bytes(resp.into_body(), 1 << 20))
            .unwrap()
            .to_vec()
    }

    const GOOD: &str = "api-version=2019-08-01&resource=https%3A%2F%2Flocalhost%3A8443";

    #[test]
    fn the_right_header_gets_a_jwt_naming_the_identity() {
        let dir = tempfile::tempdir().unwrap();
        let (issuer, secret) = issuer(dir.path());
        let (status, body) = call(&issuer, Method::GET, Some(&secret), GOOD);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["resource"], "https://localhost:8443");
        assert_eq!(body["expires_on"], (NOW + TOKEN_LIFETIME_SECS).to_string());
        let token = body["access_token"].as_str().unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[1])
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["oid"], "9d2c5f3e-1111-2222-3333-444455556666");
        assert_eq!(claims["upn"], "alice@contoso.localhost");
        assert_eq!(claims["tid"], "72f988bf-0000-0000-0000-000000000047");
        assert_eq!(claims["aud"], "https://localhost:8443");
        assert_eq!(claims["iat"], NOW);
        assert_eq!(claims["nbf"], NOW);
        assert_eq!(claims["exp"], NOW + TOKEN_LIFETIME_SECS);
        // The server reads the caller out of it as out of any token.
        let caller = super::super::auth::caller(token, None);
        assert_eq!(
            caller.object_id.as_deref(),
            Some("9d2c5f3e-1111-2222-3333-444455556666")
        );
        assert_eq!(caller.upn.as_deref(), Some("alice@contoso.localhost"));
        // A user-assigned identity's id is accepted and changes nothing.
        let (status, _) = call(
            &issuer,
            Method::GET,
            Some(&secret),
            &format!("{GOOD}&client_id=abc&object_id=def&mi_res_id=ghi"),
        );
        assert_eq!(status, 200);
    }

    #[test]
    fn no_token_without_the_right_header() {
        let dir = tempfile::tempdir().unwrap();
        let (issuer, secret) = issuer(dir.path());
        let mut wrong = secret.clone();
        wrong.replace_range(0..1, if secret.starts_with('0') { "1" } else { "0" });
        for presented in [None, Some(""), Some(wrong.as_str()), Some(&secret[1..])] {
            let (status, body) = call(&issuer, Method::GET, presented, GOOD);
            assert_eq!(status, 401, "{presented:?}");
            assert_eq!(body["error"]["code"], "Unauthorized");
            assert_eq!(body["statusCode"], 401);
            assert!(body.get("access_token").is_none());
            assert!(!body.to_string().contains(&secret), "the secret leaked");
        }
        // The header is checked before anything else: a bad query still gets the 401.
        let (status, _) = call(&issuer, Method::GET, None, "api-version=1");
        assert_eq!(status, 401);
    }

    #[test]
    fn bad_requests_are_400_in_key_vault_shape() {
        let dir = tempfile::tempdir().unwrap();
        let (issuer, secret) = issuer(dir.path());
        let long = format!(
            "api-version=2019-08-01&resource={}",
            "a".repeat(MAX_RESOURCE + 1)
        );
        for query in [
            "resource=https%3A%2F%2Fvault.azure.net",
            "api-version=2017-09-01&resource=https%3A%2F%2Fvault.azure.net",
            "api-version=2019-08-01",
            "api-version=2019-08-01&resource=",
            long.as_str(),
        ] {
            let (status, body) = call(&issuer, Method::GET, Some(&secret), query);
            assert_eq!(status, 400, "{query}: {body}");
            assert_eq!(body["error"]["code"], "BadParameter");
            assert!(body.get("access_token").is_none());
        }
        let (status, body) = call(&issuer, Method::POST, Some(&secret), GOOD);
        assert_eq!(status, 405);
        assert_eq!(body["error"]["code"], "MethodNotAllowed");
    }

    #[test]
    fn the_secret_is_made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = HeaderSecret::load_or_create(dir.path()).unwrap();
        let again = HeaderSecret::load_or_create(dir.path()).unwrap();
        assert_eq!(first.expose(), again.expose());
        assert_eq!(first.expose().len(), 64);
        assert_eq!(
            HeaderSecret::load(dir.path()).unwrap().expose(),
            first.expose()
        );
        assert_eq!(format!("{first:?}"), "HeaderSecret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let other = tempfile::tempdir().unwrap();
        assert!(HeaderSecret::load(other.path()).is_err());
        assert_ne!(
            HeaderSecret::load_or_create(other.path()).unwrap().expose(),
            first.expose()
        );
    }
}
