//! The CLI's error: what went wrong (the server's own message, or the store's) and a hint
//! at what to do, chosen by Key Vault error code and by the request that failed.

use std::fmt;
use std::path::Path;

use serde_json::Value;

use crate::error::Error;

/// A failed command. Printed as `error: ...` and `hint: ...` on stderr; the process exits 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// What went wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl CliError {
    /// An error with a hint.
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// An error without a hint.
    pub fn bare(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
        }
    }

    /// An error response of the REST API (`{"error":{"code","message","innererror"}}`),
    /// with a hint for the request `req` that received it.
    pub fn from_response(status: u16, body: &[u8], req: &RequestInfo<'_>) -> Self {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let error = parsed.as_ref().and_then(|v| v.get("error"));
        let field = |name: &str| {
            error
                .and_then(|e| e.get(name))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let code = field("code");
        let inner = error
            .and_then(|e| e.pointer("/innererror/code"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let mut message = field("message");
        if message.is_empty() {
            message = format!(
                "the server answered HTTP {status} to {} {}",
                req.method, req.path
            );
        }
        Self {
            message,
            hint: api_hint(&code, inner, req),
        }
    }

    /// A failure to open the store in `dir`.
    pub fn from_store(e: &Error, dir: &Path) -> Self {
        let d = dir.display();
        let hint = match e {
            Error::StoreLocked { .. } => format!(
                "no running server is recorded in {}; if `localhsm serve` is starting, try again \
                 in a moment, otherwise find the process holding the store with `fuser -v {d}/db` \
                 (or `lsof +D {d}`) and stop it",
                dir.join(crate::server::SERVER_FILE).display()
            ),
            Error::WrongMasterKey => format!(
                "use the master key this store was created with: set LOCALHSM_MASTER_KEY to it, \
                 or unset LOCALHSM_MASTER_KEY to use the key file {d}/{}",
                crate::store::KEY_FILE_NAME
            ),
            Error::MasterKey(_) => format!(
                "LOCALHSM_MASTER_KEY must be 64 hex digits or base64 of 32 bytes; unset it to use \
                 the key file {d}/{}",
                crate::store::KEY_FILE_NAME
            ),
            Error::UnsupportedSchema { .. } => {
                "use the localhsm release that wrote this store, or another --data DIR".into()
            }
            Error::Corrupt { .. } => {
                "the data directory is damaged: restore it from a copy, or use another --data DIR"
                    .into()
            }
            Error::Storage(_) => format!(
                "check that {d} is a directory you can write to, and that the disk is not full"
            ),
            _ => return Self::bare(e.to_string()),
        };
        Self::new(e.to_string(), hint)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

/// The request an error answered, for choosing a hint.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path (a query string is ignored).
    pub path: &'a str,
    /// The vault given with `--vault`, if any.
    pub vault: Option<&'a str>,
    /// The JSON body sent, if any.
    pub body: Option<&'a Value>,
}

impl RequestInfo<'_> {
    fn segments(&self) -> Vec<&str> {
        let path = self.path.split('?').next().unwrap_or("");
        let path = path.strip_prefix('/').unwrap_or(path);
        let path = path.strip_suffix('/').unwrap_or(path);
        if path.is_empty() {
            return Vec::new();
        }
        path.split('/').collect()
    }

    fn is_management(&self) -> bool {
        self.segments().first() == Some(&"management")
    }

    /// The key or vault the request names: from the path, else the body's `name`.
    fn subject(&self) -> String {
        let seg = self.segments();
        let from_path = match seg.as_slice() {
            ["management", "vaults" | "deletedvaults", name, ..] => Some(*name),
            ["keys", "restore"] => None,
            ["keys" | "deletedkeys", name, ..] => Some(*name),
            _ => None,
        };
        from_path
            .map(str::to_string)
            .or_else(|| {
                self.body
                    .and_then(|b| b.get("name"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "NAME".to_string())
    }

    /// ` --vault V` when a vault other than the default one was given.
    fn vault_flag(&self) -> String {
        match self.vault {
            Some(v) if v != crate::server::DEFAULT_VAULT => format!(" --vault {v}"),
            _ => String::new(),
        }
    }

    /// The `localhsm` command that sends this request, for `--help` hints.
    fn command(&self) -> &'static str {
        let seg = self.segments();
        match (seg.as_slice(), self.method) {
            (["management", ..], _) => "vault",
            (["keys", _, "create"], _) => "key create",
            (["keys", "restore"], _) => "key restore",
            (["keys", _], "PUT") => "key import",
            (["keys", _, ..], "PATCH") => "key update",
            (["keys", _, _, op], _) => match *op {
                "sign" => "key sign",
                "verify" => "key verify",
                "encrypt" => "key encrypt",
                "decrypt" => "key decrypt",
                "wrapkey" => "key wrap",
                "unwrapkey" => "key unwrap",
                _ => "key",
            },
            _ => "key",
        }
    }
}

/// What to do about a Key Vault error `code` (with `inner` code) answering `req`.
fn api_hint(code: &str, inner: &str, req: &RequestInfo<'_>) -> Option<String> {
    let name = req.subject();
    let vf = req.vault_flag();
    let hint = match (code, inner) {
        ("KeyNotFound", _) if req.segments().first() == Some(&"deletedkeys") => {
            format!("`localhsm deleted list{vf}` shows the deleted keys of this vault")
        }
        ("KeyNotFound", _) => format!(
            "`localhsm key list{vf}` shows the keys of this vault; deleted keys show in \
             `localhsm deleted list{vf}`"
        ),
        ("VaultNotFound", _) if req.is_management() => {
            "`localhsm vault list` shows the vaults, `localhsm vault list --deleted` the deleted ones"
                .to_string()
        }
        ("VaultNotFound", _) => {
            let vault = req.vault.unwrap_or(crate::server::DEFAULT_VAULT);
            format!(
                "`localhsm vault list` shows the vaults; create this one with \
                 `localhsm vault create {vault}`, or recover it with `localhsm vault recover {vault}`"
            )
        }
        ("Conflict", "ObjectIsDeletedButRecoverable") if req.is_management() => format!(
            "recover it with `localhsm vault recover {name}`, or purge it with \
             `localhsm vault purge {name}` to reuse the name"
        ),
        ("Conflict", "ObjectIsDeletedButRecoverable") => format!(
            "recover it with `localhsm key recover {name}{vf}`, or purge it with \
             `localhsm key purge {name}{vf}` to reuse the name"
        ),
        ("Conflict", "VaultAlreadyExists") => {
            "pick another name; `localhsm vault list` shows the names in use".to_string()
        }
        ("Conflict", "KeyAlreadyExists") => {
            "restore into another vault with --vault NAME, or delete and purge the existing key \
             first"
                .to_string()
        }
        ("Forbidden", "PurgeProtectionEnabled") if req.is_management() => format!(
            "the vault has purge protection: wait until the scheduled purge date shown by \
             `localhsm vault show {name} --deleted`, or recover it with `localhsm vault recover {name}`"
        ),
        ("Forbidden", "PurgeProtectionEnabled") => format!(
            "the vault has purge protection: wait until the scheduled purge date shown by \
             `localhsm deleted show {name}{vf}`, or recover the key with \
             `localhsm key recover {name}{vf}`"
        ),
        ("Forbidden", "KeyDisabled") => {
            format!("enable it with `localhsm key update {name} --enable{vf}`")
        }
        ("Forbidden", "KeyOperationNotPermitted") => format!(
            "`localhsm key get {name}{vf}` shows its key_ops; change them with \
             `localhsm key update {name} --ops OPS{vf}`"
        ),
        ("Forbidden", "KeyNotYetValid") => format!(
            "wait until its not-before date, or change it with \
             `localhsm key update {name} --not-before TIME{vf}`"
        ),
        ("Forbidden", "KeyExpired") => format!(
            "set a later expiry with `localhsm key update {name} --expires TIME{vf}`, or create \
             a new version with `localhsm key rotate {name}{vf}`"
        ),
        ("BadParameter", _) => format!(
            "check the values given; `localhsm {} --help` describes them",
            req.command()
        ),
        ("Unauthorized", _) => "pass a bearer token with --token or LOCALHSM_TOKEN (any token is \
                                accepted in dev mode; `localhsm token --oid ID` makes one)"
            .to_string(),
        ("RequestTooLarge", _) => format!(
            "inputs are limited to {} KiB per request",
            crate::server::MAX_BODY_BYTES / 1024
        ),
        ("InternalError", _) => {
            "run the command again with LOCALHSM_LOG=debug, or read the server's log".to_string()
        }
        ("NotFound" | "MethodNotAllowed", _) => {
            "the server does not offer this call: is it the same localhsm version as this CLI?"
                .to_string()
        }
        _ => return None,
    };
    Some(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(method: &'a str, path: &'a str, vault: Option<&'a str>) -> RequestInfo<'a> {
        RequestInfo {
            method,
            path,
            vault,
            body: None,
        }
    }

    fn err(code: &str, inner: Option<&str>) -> Vec<u8> {
        let mut e = serde_json::json!({"code": code, "message": "boom"});
        if let Some(i) = inner {
            e["innererror"] = serde_json::json!({ "code": i });
        }
        serde_json::to_vec(&serde_json::json!({ "error": e })).unwrap()
    }

    #[test]
    fn hints_follow_the_code_and_the_request() {
        let e = CliError::from_response(
            404,
            &err("KeyNotFound", None),
            &req("GET", "/keys/k1?api-version=7.5", Some("dev")),
        );
        assert_eq!(e.message, "boom");
        assert!(e.hint.unwrap().contains("localhsm key list --vault dev"));

        let e = CliError::from_response(
            409,
            &err("Conflict", Some("ObjectIsDeletedButRecoverable")),
            &req("POST", "/keys/k1/create", None),
        );
        assert!(e.hint.unwrap().contains("localhsm key recover k1`"));

        let e = CliError::from_response(
            403,
            &err("Forbidden", Some("PurgeProtectionEnabled")),
            &req("DELETE", "/management/deletedvaults/pp", None),
        );
        assert!(e.hint.unwrap().contains("localhsm vault show pp --deleted"));

        let body = serde_json::json!({"name": "v1"});
        let e = CliError::from_response(
            409,
            &err("Conflict", Some("ObjectIsDeletedButRecoverable")),
            &RequestInfo {
                body: Some(&body),
                ..req("POST", "/management/vaults", None)
            },
        );
        assert!(e.hint.unwrap().contains("localhsm vault recover v1"));

        let e = CliError::from_response(
            400,
            &err("BadParameter", None),
            &req("POST", "/keys/k//wrapkey", None),
        );
        assert!(e.hint.unwrap().contains("localhsm key wrap --help"));
    }

    #[test]
    fn non_json_errors_still_say_what_failed() {
        let e = CliError::from_response(502, b"<html>", &req("GET", "/keys", None));
        assert!(e.message.contains("HTTP 502"));
        assert_eq!(e.hint, None);
    }

    #[test]
    fn display_has_error_and_hint_lines() {
        let e = CliError::new("it broke", "fix it");
        assert_eq!(e.to_string(), "error: it broke\nhint: fix it");
    }
}
