//! The store owner's local credential: a random secret the server writes at start into
//! `DIR/owner.token` (mode 0600), so the person who holds the data directory, and only
//! they, can act through the running server as the store's owner
//! ([`crate::model::access::OWNER_OID`]), which passes every access check. The CLI reads
//! the file and sends the secret as its bearer token when no `--token` is given.
//!
//! Layer: faces (server). May import `model`, `crypto` and `server::error`. Invariants: the
//! secret is compared in constant time, never logged, never in `Debug`, and zeroized when
//! dropped; a new one is written at every start (an old file grants nothing once its server
//! is gone), written again if removed while the server runs, and removed on a clean stop;
//! and no token can claim the owner's object ID.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::http::{Extensions, StatusCode};
use base64::Engine as _;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::error::ApiError;
use crate::model::access::{is_owner, OWNER_OID};
use crate::model::Caller;

/// The file in the data directory that holds the owner's credential.
pub const OWNER_FILE: &str = "owner.token";

/// How many random bytes the secret has (base64url-encoded in the file).
const SECRET_BYTES: usize = 32;

/// The owner's credential as the running server holds it.
#[derive(Clone)]
pub struct OwnerCredential {
    secret: Arc<Zeroizing<String>>,
    /// The operating-system user running the server: the owner's `upn` in access logs.
    user: String,
    path: PathBuf,
    /// Set on a clean stop: the file is gone for good.
    retired: Arc<AtomicBool>,
}

impl std::fmt::Debug for OwnerCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnerCredential")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl OwnerCredential {
    /// Creates a new secret and writes it to `DIR/owner.token`, readable by the file's
    /// owner only.
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        let bytes = Zeroizing::new(
            crate::crypto::random_bytes(SECRET_BYTES)
                .map_err(|e| std::io::Error::other(e.to_string()))?,
        );
        let secret =
            Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&*bytes));
        let path = dir.join(OWNER_FILE);
        write_private(&path, secret.as_bytes())?;
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "owner".into());
        Ok(Self {
            secret: Arc::new(secret),
            user: format!("{user}@localhost"),
            path,
            retired: Arc::default(),
        })
    }

    /// Writes the file again if someone removed it while the server runs (the server calls
    /// this every few seconds), so the CLI does not lose its way in.
    pub fn restore_if_missing(&self) {
        if self.retired.load(Ordering::SeqCst) || self.path.exists() {
            return;
        }
        match write_private(&self.path, self.secret.as_bytes()) {
            Ok(()) => {
                tracing::info!(path = %self.path.display(), "wrote the owner's credential again")
            }
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot write the owner's credential")
            }
        }
    }

    /// Whether `token` is this credential, compared in constant time.
    pub fn matches(&self, token: &str) -> bool {
        self.secret.as_bytes().ct_eq(token.as_bytes()).into()
    }

    /// The caller the credential names.
    fn caller(&self, ip: Option<String>) -> Caller {
        Caller {
            object_id: Some(OWNER_OID.to_string()),
            upn: Some(self.user.clone()),
            tenant_id: None,
            ip,
        }
    }

    /// Removes the file (on a clean stop), if it still holds this credential.
    pub fn remove(&self) {
        self.retired.store(true, Ordering::SeqCst);
        if let Ok(text) = std::fs::read(&self.path).map(Zeroizing::new) {
            if self.secret.as_bytes().ct_eq(&text).into() {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// Writes `bytes` to `path`, readable by its owner only: under a temporary name (created
/// exclusively, so never through a planted link), then renamed into place, so a reader sees
/// the whole file or none (the owner's credential here, a store backup in the CLI).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

/// Who a request's bearer `token` names: the store's owner when it is the owner's
/// credential (the router carries it as an extension, set by `serve`); otherwise `caller`,
/// read from the token's claims. A token whose claims name the owner without being the
/// credential is refused, so the owner's identity cannot be forged.
pub(crate) fn identify(
    extensions: &Extensions,
    token: &str,
    caller: Caller,
) -> Result<Caller, ApiError> {
    if let Some(owner) = extensions.get::<OwnerCredential>() {
        if owner.matches(token) {
            return Ok(owner.caller(caller.ip));
        }
    }
    if caller.object_id.as_deref().is_some_and(is_owner) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            format!(
                "the object ID {OWNER_OID:?} is reserved for the store's owner, who is \
                 recognised by the credential in the data directory ({OWNER_FILE}), not by \
                 a token's claims"
            ),
        ));
    }
    Ok(caller)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_names_the_owner_and_a_claim_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let cred = OwnerCredential::create(dir.path()).unwrap();
        let secret = std::fs::read_to_string(dir.path().join(OWNER_FILE)).unwrap();
        assert_eq!(secret.len(), 43, "32 bytes, base64url without padding");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(OWNER_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!format!("{cred:?}").contains(&secret));

        let mut ext = Extensions::new();
        ext.insert(cred.clone());
        let ip = Some("127.0.0.1".to_string());
        let owner = identify(&ext, &secret, Caller::default()).unwrap();
        assert_eq!(owner.object_id.as_deref(), Some(OWNER_OID));

        // A token claiming the owner's oid, in any case, is refused with or without a
        // credential in force.
        let forged = super::super::auth::mint_token("LocalHSM-Owner", None, None, 1);
        let claimed = super::super::auth::caller(&forged, ip.clone());
        let err = identify(&ext, &forged, claimed.clone()).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
        assert!(identify(&Extensions::new(), &forged, claimed).is_err());

        // A near miss is someone else.
        let mut near = secret.clone();
        near.replace_range(..1, if secret.starts_with('A') { "B" } else { "A" });
        let other = identify(&ext, &near, Caller::default()).unwrap();
        assert_eq!(other.object_id, None);

        // Removed while the server runs: written again, the same secret.
        std::fs::remove_file(dir.path().join(OWNER_FILE)).unwrap();
        cred.restore_if_missing();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(OWNER_FILE)).unwrap(),
            secret
        );

        // A new start writes a new secret; the old one names no one.
        let again = OwnerCredential::create(dir.path()).unwrap();
        assert!(!again.matches(&secret));
        cred.remove();
        assert!(
            dir.path().join(OWNER_FILE).exists(),
            "not the old one's file"
        );
        again.remove();
        assert!(!dir.path().join(OWNER_FILE).exists());
        again.restore_if_missing();
        assert!(
            !dir.path().join(OWNER_FILE).exists(),
            "not after a clean stop"
        );
    }
}
