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
    /// The server's most specific Key Vault error code (the inner code when there is one),
    /// for commands that answer some errors in their own words.
    pub code: Option<String>,
}

impl CliError {
    /// An error with a hint.
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: Some(hint.into()),
            code: None,
        }
    }

    /// An error without a hint.
    pub fn bare(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
            code: None,
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
        if let Some(own) = own_message(&code, inner, req) {
            message = own;
        }
        let hint = api_hint(&code, inner, req);
        let most_specific = if inner.is_empty() {
            code
        } else {
            inner.to_string()
        };
        Self {
            message,
            hint,
            code: (!most_specific.is_empty()).then_some(most_specific),
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
            Error::DiskFull { .. } => format!(
                "free space on the disk holding {d} (`df -h {d}` shows how much is left), then \
                 run the command again"
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

    fn is_certificate(&self) -> bool {
        self.op.route().object_kind() == Some(ObjectKind::Certificate)
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
            O::SeedApply => "apply",
            O::SecretSet => "secret set",
            O::SecretRestore => "secret restore",
            O::SecretUpdate | O::SecretUpdateVersion => "secret update",
            O::DeletedSecretList | O::DeletedSecretGet => "deleted",
            O::CertificateCreate => "cert create",
            O::CertificateImport => "cert import",
            O::CertificateMerge => "cert merge",
            O::CertificateRestore => "cert restore",
            O::CertificateUpdate | O::CertificateUpdateVersion => "cert update",
            O::PolicyUpdate => "cert policy set",
            O::OperationGet | O::OperationUpdate | O::OperationDelete => "cert pending",
            O::ContactsSet => "cert contacts set",
            O::IssuerSet => "cert issuer create",
            O::IssuerUpdate => "cert issuer update",
            O::DeletedCertificateList | O::DeletedCertificateGet => "deleted",
            _ if self.is_certificate() => "cert",
            _ if self.is_secret() => "secret",
            _ if self.is_management() => "vault",
            _ => "key",
        }
    }
}

/// The CLI's own words for errors whose server message would puzzle a CLI user.
fn own_message(code: &str, inner: &str, req: &RequestInfo<'_>) -> Option<String> {
    let name = req.subject();
    match (code, inner) {
        ("Forbidden", "KeyNotExportable") if req.is_secret() => Some(format!(
            "the private key of certificate {name} is not exportable (its policy says \
             exportable: false), so its secret, the PFX or PEM with the key, cannot be read"
        )),
        _ => None,
    }
}

/// What to do about a Key Vault error `code` (with `inner` code) answering `req`.
fn api_hint(code: &str, inner: &str, req: &RequestInfo<'_>) -> Option<String> {
    let name = req.subject();
    let vf = req.vault_flag();
    if let Some(hint) = certificate_hint(code, inner, req) {
        return Some(hint);
    }
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
        ("DevClockDisabled", _) => "time-shift is for development stores: start the server \
             with `localhsm serve --dev-clock`, or with no server running pass --dev-clock to \
             `localhsm time-shift` itself"
            .to_string(),
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
        ("InsufficientStorage", _) => "see what fills it with `df -h` on the data directory; \
                                       once there is space, run the command again (no restart \
                                       is needed)"
            .to_string(),
        ("NotFound" | "MethodNotAllowed", _) => {
            "the server does not offer this call: is it the same localhsm version as this CLI?"
                .to_string()
        }
        _ => return None,
    };
    Some(hint)
}

/// Hints for the certificate routes, and for keys and secrets that a certificate owns.
fn certificate_hint(code: &str, inner: &str, req: &RequestInfo<'_>) -> Option<String> {
    use Op as O;
    let name = req.subject();
    let vf = req.vault_flag();
    let deleted_op = matches!(
        req.op,
        O::DeletedCertificateList
            | O::DeletedCertificateGet
            | O::DeletedCertificatePurge
            | O::DeletedCertificateRecover
    );
    let hint = match (code, inner) {
        // A key or secret that a certificate owns (older servers said
        // `ManagedObjectNotModifiable`).
        (
            "Forbidden",
            "KeyManagedByKeyVault" | "SecretManagedByKeyVault" | "ManagedObjectNotModifiable",
        ) => {
            let what = match req.op {
                O::KeyDelete | O::SecretDelete => {
                    format!("delete it with `localhsm cert delete {name}{vf}`")
                }
                O::DeletedKeyRecover | O::DeletedSecretRecover => {
                    format!("recover it with `localhsm cert recover {name}{vf}`")
                }
                O::DeletedKeyPurge | O::DeletedSecretPurge => {
                    format!("purge it with `localhsm cert purge {name}{vf}`")
                }
                O::KeyBackup | O::SecretBackup => {
                    format!("back it up with `localhsm cert backup {name} --file FILE{vf}`")
                }
                O::KeyRotate | O::KeyCreate | O::KeyImport | O::SecretSet => format!(
                    "a new version comes from `localhsm cert create {name}{vf}` (or `cert import`)"
                ),
                _ => format!(
                    "change it with `localhsm cert update {name}{vf}` or `localhsm cert policy set \
                     {name}{vf}`"
                ),
            };
            format!("manage it through its certificate: {what}")
        }
        ("Forbidden", "KeyNotExportable") if req.is_secret() => format!(
            "`localhsm cert download {name} --format pem{vf}` (or der) writes the certificate \
             alone; the key works inside the vault, e.g. `localhsm key sign {name} ...{vf}`"
        ),
        _ if !req.is_certificate() => return None,
        ("CertificateNotFound", _) if deleted_op => format!(
            "`localhsm deleted list --kind certificate{vf}` shows the deleted certificates of \
             this vault"
        ),
        ("CertificateNotFound", _) => format!(
            "`localhsm cert list --include-pending{vf}` shows the certificates of this vault; \
             deleted ones show in `localhsm deleted list --kind certificate{vf}`"
        ),
        ("PendingCertificateNotFound", _) => format!(
            "certificate {name} has no creation operation on record (imported certificates and \
             deleted operations have none); `localhsm cert get {name}{vf}` shows the certificate"
        ),
        ("CertificateIssuerNotFound", _) => format!(
            "`localhsm cert issuer list{vf}` shows the issuers; create one with \
             `localhsm cert issuer create NAME --provider Test{vf}`, or use --issuer Self"
        ),
        ("ContactsNotFound", _) => {
            format!("set them with `localhsm cert contacts set --contact admin@example.com{vf}`")
        }
        ("Conflict", "ObjectIsDeletedButRecoverable") => format!(
            "recover it with `localhsm cert recover {name}{vf}`, or purge it with \
             `localhsm cert purge {name}{vf}` to reuse the name"
        ),
        ("Conflict", "CertificateAlreadyExists") => {
            "restore into another vault with --vault NAME, or delete and purge the existing \
             certificate first"
                .to_string()
        }
        ("Conflict", "KeyAlreadyExists" | "SecretAlreadyExists") => format!(
            "a certificate keeps its key and secret under its own name, and a key or secret \
             named {name} already exists: pick another name, or delete and purge that object"
        ),
        ("Forbidden", "PurgeProtectionEnabled") => format!(
            "the vault has purge protection: wait until the scheduled purge date shown by \
             `localhsm deleted show {name} --kind certificate{vf}`, or recover the certificate \
             with `localhsm cert recover {name}{vf}`"
        ),
        ("Forbidden", "CertificateDisabled") => format!(
            "enable it with `localhsm cert update {name} --enabled true{vf}` (and --version V \
             when it is not the current version)"
        ),
        ("BadParameter", _) if req.op == O::CertificateImport => format!(
            "a PFX usually has a password: give it with --password-file FILE or --password - \
             (stdin); PEM needs an unencrypted PKCS#8 key and its certificate; \
             `localhsm {} --help` has examples",
            req.command()
        ),
        ("BadParameter", _) if !vf.is_empty() => format!(
            "check the values given (`localhsm {} --help`); only the default vault and vaults of \
             kind vault hold certificates: `localhsm vault show {}` shows this one's kind",
            req.command(),
            req.vault.unwrap_or_default()
        ),
        ("BadParameter", _) => format!(
            "check the values given; `localhsm {} --help` describes them",
            req.command()
        ),
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
            (404, ("CertificateNotFound", None), req(Op::CertificateGet, &["c1"], Some("kv")), "localhsm cert list --include-pending --vault kv"),
            (404, ("CertificateNotFound", None), req(Op::DeletedCertificateRecover, &["c1"], None), "localhsm deleted list --kind certificate`"),
            (404, ("PendingCertificateNotFound", None), req(Op::OperationGet, &["c1"], None), "localhsm cert get c1"),
            (404, ("CertificateIssuerNotFound", None), req(Op::IssuerGet, &["i1"], None), "localhsm cert issuer list"),
            (404, ("ContactsNotFound", None), req(Op::ContactsGet, &[], None), "localhsm cert contacts set"),
            (409, conflict, req(Op::CertificateCreate, &["c1"], None), "localhsm cert recover c1`"),
            (409, ("Conflict", Some("CertificateAlreadyExists")), req(Op::CertificateRestore, &[], None), "delete and purge the existing certificate"),
            (409, ("Conflict", Some("KeyAlreadyExists")), req(Op::CertificateCreate, &["c1"], None), "a key or secret named c1"),
            (403, ("Forbidden", Some("PurgeProtectionEnabled")), req(Op::DeletedCertificatePurge, &["c1"], None), "localhsm deleted show c1 --kind certificate"),
            (403, ("Forbidden", Some("CertificateDisabled")), req(Op::CertificateGet, &["c1"], None), "localhsm cert update c1 --enabled true"),
            (403, ("Forbidden", Some("KeyManagedByKeyVault")), req(Op::KeyDelete, &["c1"], None), "localhsm cert delete c1"),
            (403, ("Forbidden", Some("SecretManagedByKeyVault")), req(Op::SecretSet, &["c1"], None), "localhsm cert create c1"),
            (403, ("Forbidden", Some("KeyManagedByKeyVault")), req(Op::DeletedKeyPurge, &["c1"], None), "localhsm cert purge c1"),
            (403, ("Forbidden", Some("ManagedObjectNotModifiable")), req(Op::KeyUpdate, &["c1"], None), "localhsm cert update c1"),
            (400, ("BadParameter", None), req(Op::CertificateImport, &["c1"], None), "--password-file"),
            (400, ("BadParameter", None), req(Op::PolicyUpdate, &["c1"], None), "localhsm cert policy set --help"),
            (400, ("BadParameter", None), req(Op::CertificateList, &[], Some("hsm")), "localhsm vault show hsm"),
        ] {
            let e = CliError::from_response(status, &err(code, inner), &request);
            assert_eq!(e.message, "boom");
            let got = e.hint.unwrap_or_default();
            assert!(got.contains(hint), "{code} for {:?}: {got}", request.op);
        }
    }

    #[test]
    fn codes_are_kept_and_some_messages_are_the_cli_own() {
        let e = CliError::from_response(
            403,
            &err("Forbidden", Some("KeyNotExportable")),
            &req(Op::SecretGetVersion, &["web", "v"], None),
        );
        assert_eq!(e.code.as_deref(), Some("KeyNotExportable"));
        assert!(
            e.message.contains("certificate web is not exportable"),
            "{}",
            e.message
        );
        assert!(e
            .hint
            .unwrap_or_default()
            .contains("localhsm cert download web --format pem"));
        let e = CliError::from_response(
            404,
            &err("CertificateNotFound", None),
            &req(Op::CertificateGet, &["c"], None),
        );
        assert_eq!(
            (e.code.as_deref(), e.message.as_str()),
            (Some("CertificateNotFound"), "boom")
        );
        let e = CliError::from_response(502, b"<html>", &req(Op::KeyList, &[], None));
        assert_eq!(e.code, None);
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
