//! The CLI's error: what went wrong (the server's own message, or the store's) and a hint
//! at what to do, chosen by Key Vault error code and by the call that failed.
//!
//! Layer: faces (CLI). May import `api` (the route table's operations), the core's `error`
//! and `server` constants. Invariant: a hint names a command that exists, chosen by the
//! call's row of the route table, never by re-reading its path.

use std::fmt;
use std::path::Path;

use serde_json::Value;

use crate::api::Op;
use crate::error::{Error, ObjectKind};

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
                req.op.route().method,
                req.path
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

/// The call an error answered, for choosing a hint.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    /// Its row of the route table.
    pub op: Op,
    /// Its path (a query string is ignored).
    pub path: &'a str,
    /// The vault given with `--vault`, if any.
    pub vault: Option<&'a str>,
    /// The key or vault it names (in its path, or the `name` of its body), if any.
    pub subject: Option<&'a str>,
}

impl RequestInfo<'_> {
    fn is_management(&self) -> bool {
        self.op.route().is_management()
    }

    fn is_secret(&self) -> bool {
        self.op.route().object_kind() == Some(ObjectKind::Secret)
    }

    /// The key or vault the request names, or a placeholder.
    fn subject(&self) -> String {
        self.subject.unwrap_or("NAME").to_string()
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
        use Op as O;
        match self.op {
            O::KeyCreate => "key create",
            O::KeyRestore => "key restore",
            O::KeyImport => "key import",
            O::KeyUpdate | O::KeyUpdateVersion => "key update",
            O::KeySign => "key sign",
            O::KeyVerify => "key verify",
            O::KeyEncrypt => "key encrypt",
            O::KeyDecrypt => "key decrypt",
            O::KeyWrap => "key wrap",
            O::KeyUnwrap => "key unwrap",
            O::RoleAssignmentList | O::RoleAssignmentGet => "role list",
            O::RoleAssignmentCreate => "role assign",
            O::RoleAssignmentDelete => "role remove",
            O::RoleDefinitionList | O::RoleDefinitionGet => "role definitions",
            O::VaultAccessLog => "log list",
            O::CustomerDataExport => "customer-data export",
            O::CustomerDataDelete => "customer-data delete",
            O::TimeShift => "time-shift",
            O::SecretSet => "secret set",
            O::SecretRestore => "secret restore",
            O::SecretUpdate | O::SecretUpdateVersion => "secret update",
            O::DeletedSecretList | O::DeletedSecretGet => "deleted",
            _ if self.is_secret() => "secret",
            _ if self.is_management() => "vault",
            _ => "key",
        }
    }
}

/// What to do about a Key Vault error `code` (with `inner` code) answering `req`.
fn api_hint(code: &str, inner: &str, req: &RequestInfo<'_>) -> Option<String> {
    let name = req.subject();
    let vf = req.vault_flag();
    let hint = match (code, inner) {
        // Key Vault answers a missing deleted secret with `SecretNotFound` too.
        ("SecretNotFound", _)
            if matches!(
                req.op,
                Op::DeletedSecretList
                    | Op::DeletedSecretGet
                    | Op::DeletedSecretPurge
                    | Op::DeletedSecretRecover
            ) =>
        {
            format!("`localhsm deleted list --kind secret{vf}` shows the deleted secrets of this vault")
        }
        ("SecretNotFound", _) => format!(
            "`localhsm secret list{vf}` shows the secrets of this vault; deleted secrets show in \
             `localhsm deleted list --kind secret{vf}`"
        ),

        ("Conflict", "ObjectIsDeletedButRecoverable") if req.is_secret() => format!(
            "recover it with `localhsm secret recover {name}{vf}`, or purge it with \
             `localhsm secret purge {name}{vf}` to reuse the name"
        ),
        ("Conflict", "SecretAlreadyExists") => {
            "restore into another vault with --vault NAME, or delete and purge the existing \
             secret first"
                .to_string()
        }
        ("Forbidden", "PurgeProtectionEnabled") if req.is_secret() => format!(
            "the vault has purge protection: wait until the scheduled purge date shown by \
             `localhsm deleted show {name} --kind secret{vf}`, or recover the secret with \
             `localhsm secret recover {name}{vf}`"
        ),
        ("Forbidden", "SecretDisabled") => format!(
            "enable it with `localhsm secret update {name} --enabled true{vf}` (and --version V \
             when it is not the current version)"
        ),
        ("KeyNotFound", _)
            if matches!(
                req.op,
                Op::DeletedKeyList | Op::DeletedKeyGet | Op::DeletedKeyPurge | Op::DeletedKeyRecover
            ) =>
        {
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
        ("BadParameter", _) if req.is_secret() && !vf.is_empty() => format!(
            "check the values given (`localhsm {} --help`); only the default vault and vaults of \
             kind vault hold secrets: `localhsm vault show {}` shows this one's kind",
            req.command(),
            req.vault.unwrap_or_default()
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

    fn req<'a>(op: Op, args: &[&'a str], vault: Option<&'a str>) -> RequestInfo<'a> {
        RequestInfo {
            op,
            path: "/",
            vault,
            subject: args.first().copied(),
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
    #[rustfmt::skip]
    fn hints_follow_the_code_and_the_request() {
        let conflict = ("Conflict", Some("ObjectIsDeletedButRecoverable"));
        for (status, (code, inner), request, hint) in [
            (404, ("KeyNotFound", None), req(Op::KeyGet, &["k1"], Some("dev")), "localhsm key list --vault dev"),
            (404, ("KeyNotFound", None), req(Op::DeletedKeyGet, &["k1"], None), "localhsm deleted list`"),
            (409, conflict, req(Op::KeyCreate, &["k1"], None), "localhsm key recover k1`"),
            (409, conflict, req(Op::VaultCreate, &["v1"], None), "localhsm vault recover v1"),
            (403, ("Forbidden", Some("PurgeProtectionEnabled")), req(Op::DeletedVaultPurge, &["pp"], None), "localhsm vault show pp --deleted"),
            (400, ("BadParameter", None), req(Op::KeyWrap, &["k", ""], None), "localhsm key wrap --help"),
            (400, ("BadParameter", None), req(Op::RoleAssignmentCreate, &["/", "a"], None), "localhsm role assign --help"),
            (404, ("SecretNotFound", None), req(Op::SecretGet, &["s1"], Some("kv")), "localhsm deleted list --kind secret --vault kv"),
            (404, ("SecretNotFound", None), req(Op::DeletedSecretRecover, &["s1"], None), "localhsm deleted list --kind secret`"),
            (409, conflict, req(Op::SecretSet, &["s1"], None), "localhsm secret recover s1`"),
            (403, ("Forbidden", Some("PurgeProtectionEnabled")), req(Op::DeletedSecretPurge, &["s1"], None), "localhsm deleted show s1 --kind secret"),
            (403, ("Forbidden", Some("SecretDisabled")), req(Op::SecretGet, &["s1"], None), "localhsm secret update s1 --enabled true"),
            (400, ("BadParameter", None), req(Op::SecretSet, &["s1"], None), "localhsm secret set --help"),
            (400, ("BadParameter", None), req(Op::SecretList, &[], Some("hsm")), "localhsm vault show hsm"),
        ] {
            let e = CliError::from_response(status, &err(code, inner), &request);
            assert_eq!(e.message, "boom");
            let got = e.hint.unwrap_or_default();
            assert!(got.contains(hint), "{code} for {:?}: {got}", request.op);
        }
    }

    #[test]
    fn non_json_errors_still_say_what_failed() {
        let e = CliError::from_response(502, b"<html>", &req(Op::KeyList, &[], None));
        assert!(e.message.contains("HTTP 502"));
        assert_eq!(e.hint, None);
    }

    #[test]
    fn display_has_error_and_hint_lines() {
        let e = CliError::new("it broke", "fix it");
        assert_eq!(e.to_string(), "error: it broke\nhint: fix it");
    }
}
