//! Authentication in dev mode: every request needs a bearer token (the SDKs' challenge flow
//! depends on the 401), any token is accepted, and a JWT's `oid`/`upn`/`tid` claims name the
//! caller. Signatures are not checked.
//!
//! Layer: faces (server); the CLI uses [`mint_token`]. May import `model`. Invariant: a
//! token's claims are decoded once while it stays in use, not on every request; what is
//! remembered is the claims segment and the identity it names, never a whole token.

use std::sync::{Arc, Mutex, OnceLock};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use crate::model::{Caller, VaultKind};

/// The tenant named in challenges and minted tokens.
pub const DEV_TENANT: &str = "00000000-0000-0000-0000-00000000cafe";

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then_some(token.trim())
}

/// Key Vault's 401 challenge for a vault of `kind` reached at `host` (the request's Host).
///
/// The SDKs check that the challenge's resource is a parent domain of the vault's host
/// (`verify_challenge_resource`): Python compares host and port (`netloc`), JavaScript and
/// Rust the host name. For `NAME.localhost[:PORT]` the resource is therefore
/// `https://localhost[:PORT]`, which all three accept; other hosts (`localhost`, an IP
/// address) have no parent domain to name, and get Azure's resource for the vault's kind.
pub fn challenge(kind: VaultKind, host: &str) -> Response {
    let resource = match local_resource(host) {
        Some(local) => local,
        None => match kind {
            VaultKind::Vault => "https://vault.azure.net".to_string(),
            VaultKind::ManagedHsm => "https://managedhsm.azure.net".to_string(),
        },
    };
    let value = format!(
        "Bearer authorization=\"https://login.microsoftonline.com/{DEV_TENANT}\", resource=\"{resource}\""
    );
    let body = serde_json::json!({"error": {
        "code": "Unauthorized",
        "message": "AKV10000: Request is missing a Bearer or PoP token."
    }});
    let mut resp = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// `https://localhost[:PORT]` for a host `NAME.localhost[:PORT]`: the parent domain the
/// SDKs' challenge check accepts.
fn local_resource(host: &str) -> Option<String> {
    let (name, port) = match host.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h, Some(p)),
        _ => (host, None),
    };
    let label = name.to_ascii_lowercase();
    let label = label.strip_suffix(".localhost")?;
    if label.is_empty() || label.contains('.') || label.contains('[') {
        return None;
    }
    Some(match port {
        Some(p) => format!("https://localhost:{p}"),
        None => "https://localhost".to_string(),
    })
}

/// The caller named by a token's claims (when it is a JWT) and the client address.
pub fn caller(token: &str, ip: Option<String>) -> Caller {
    let identity = token.split('.').nth(1).map(identity).unwrap_or_default();
    Caller {
        object_id: identity.object_id.clone(),
        upn: identity.upn.clone(),
        tenant_id: identity.tenant_id.clone(),
        ip,
    }
}

/// Who a JWT's claims name.
#[derive(Debug, Default)]
struct Identity {
    object_id: Option<String>,
    upn: Option<String>,
    tenant_id: Option<String>,
}

/// How many claims segments [`identity`] remembers; a client sends one token for its
/// lifetime, so a few cover every client of a dev server.
const REMEMBERED: usize = 32;

/// The identity a JWT's claims segment names, decoded once per segment while it stays in
/// use. The segment alone is not a credential (the signature is elsewhere in the token).
fn identity(claims: &str) -> Arc<Identity> {
    /// Claims segments and the identities they name, oldest first.
    type Seen = Vec<(Box<str>, Arc<Identity>)>;
    static SEEN: OnceLock<Mutex<Seen>> = OnceLock::new();
    let seen = SEEN.get_or_init(Mutex::default);
    let lock = || seen.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, id)) = lock().iter().find(|(c, _)| **c == *claims) {
        return id.clone();
    }
    let id = Arc::new(decode_claims(claims));
    let mut seen = lock();
    if seen.len() >= REMEMBERED {
        seen.remove(0);
    }
    seen.push((claims.into(), id.clone()));
    id
}

fn decode_claims(segment: &str) -> Identity {
    let Ok(bytes) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(segment.trim_end_matches('='))
    else {
        return Identity::default();
    };
    let Ok(claims) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Identity::default();
    };
    let claim = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| claims.get(*n).and_then(|v| v.as_str()).map(str::to_string))
    };
    Identity {
        object_id: claim(&["oid"]),
        upn: claim(&["upn", "preferred_username", "unique_name"]),
        tenant_id: claim(&["tid"]),
    }
}

/// An unsigned JWT (`alg: none`) with the given claims, for `localhsm token`. The server
/// reads its claims and does not check signatures in dev mode.
pub fn mint_token(oid: &str, upn: Option<&str>, tenant: Option<&str>, now: u64) -> String {
    let enc = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let header = serde_json::json!({"alg": "none", "typ": "JWT"});
    let mut claims = serde_json::json!({
        "aud": "https://vault.azure.net",
        "iss": format!("https://sts.windows.net/{}/", tenant.unwrap_or(DEV_TENANT)),
        "iat": now,
        "nbf": now,
        "exp": now + 365 * 86_400,
        "oid": oid,
        "tid": tenant.unwrap_or(DEV_TENANT),
    });
    if let Some(upn) = upn {
        claims["upn"] = serde_json::Value::from(upn);
    }
    format!("{}.{}.", enc(&header), enc(&claims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_name_the_caller() {
        let t = mint_token("oid-1", Some("a@b.c"), None, 1);
        let c = caller(&t, Some("127.0.0.1".into()));
        assert_eq!(c.object_id.as_deref(), Some("oid-1"));
        assert_eq!(c.upn.as_deref(), Some("a@b.c"));
        assert_eq!(c.tenant_id.as_deref(), Some(DEV_TENANT));
        assert_eq!(caller("opaque-token", None), Caller::default());
    }

    fn challenge_resource(kind: VaultKind, host: &str) -> String {
        let resp = challenge(kind, host);
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let value = resp.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        let start = value.find("resource=\"").unwrap() + "resource=\"".len();
        value[start..].split('"').next().unwrap().to_string()
    }

    /// The three SDKs' checks, as they read the challenge: the request's host must end
    /// with `.` and the resource's host (Python: `netloc`, with the port).
    fn sdks_accept(resource: &str, host: &str) -> bool {
        let netloc = resource.strip_prefix("https://").unwrap();
        let python = host.ends_with(&format!(".{netloc}"));
        let hostname = |h: &str| h.rsplit_once(':').map_or(h, |(n, _)| n).to_string();
        let js_rust = hostname(host).ends_with(&format!(".{}", hostname(netloc)));
        python && js_rust
    }

    #[test]
    fn challenges_name_a_resource_the_sdks_accept_for_localhost_vaults() {
        for (host, want) in [
            ("default.localhost:8443", "https://localhost:8443"),
            ("Kv.LocalHost:50000", "https://localhost:50000"),
            ("kv.localhost", "https://localhost"),
        ] {
            for kind in [VaultKind::Vault, VaultKind::ManagedHsm] {
                let got = challenge_resource(kind, host);
                assert_eq!(got, want, "{host}");
                assert!(sdks_accept(&got, &host.to_ascii_lowercase()), "{host}");
            }
        }
        // No parent domain to name: Azure's resource for the kind, as before.
        for host in [
            "localhost:8443",
            "127.0.0.1:8443",
            "[::1]:8443",
            "a.b.localhost:1",
            ".localhost:1",
        ] {
            assert_eq!(
                challenge_resource(VaultKind::ManagedHsm, host),
                "https://managedhsm.azure.net"
            );
            assert_eq!(
                challenge_resource(VaultKind::Vault, host),
                "https://vault.azure.net"
            );
        }
    }

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert!(bearer(&h).is_none());
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(bearer(&h).is_none());
    }
}
