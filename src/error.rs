//! The one error type of the core. Each variant knows its Key Vault error code and HTTP
//! status, so every face (server, CLI, library) reports a failure the same way.
//!
//! Layer: base. Imports only [`crate::clock`] (to write dates into messages). Errors raised
//! by the object lifecycle carry the [`ObjectKind`] they are about, and [`Error::wire`] is the
//! one exhaustive match that turns a variant and its kind into Key Vault's code and status
//! (`KeyNotFound`, `SecretNotFound`, `CertificateNotFound`, ...).

use crate::clock::{rfc3339, UnixTime};

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The kinds of object a vault holds. Every kind lives on the same soft-delete lifecycle;
/// the kind picks the object's tables, its sealing context and its Key Vault error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ObjectKind {
    /// A key (`/keys`).
    Key,
    /// A secret (`/secrets`).
    Secret,
    /// A certificate (`/certificates`).
    Certificate,
}

impl ObjectKind {
    /// Every kind.
    pub const ALL: [ObjectKind; 3] = [ObjectKind::Key, ObjectKind::Secret, ObjectKind::Certificate];

    /// The noun in messages and in sealing contexts: `key`, `secret`, `certificate`.
    pub fn noun(self) -> &'static str {
        match self {
            ObjectKind::Key => "key",
            ObjectKind::Secret => "secret",
            ObjectKind::Certificate => "certificate",
        }
    }
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.noun())
    }
}

/// Where to go instead, for something a vault's kind does not offer.
fn kind_hint(kind: &str) -> &'static str {
    if kind == "vault" {
        "use a managedhsm vault"
    } else {
        "use a vault of kind vault, or the default vault"
    }
}

/// "the data directory DIR", or without a path when it is not known.
fn data_dir(dir: Option<&str>) -> String {
    match dir {
        Some(d) => format!("the data directory {d}"),
        None => "the data directory".to_string(),
    }
}

fn with_version(name: &str, version: Option<&str>) -> String {
    match version {
        Some(v) => format!("{name}/{v}"),
        None => name.to_string(),
    }
}

/// Everything that can go wrong in the key store.
///
/// Messages never carry key material, secret values, digests or plaintexts. Cryptographic
/// failures (a bad tag, bad padding) are deliberately one opaque variant,
/// [`Error::CryptoFailure`], so that errors cannot serve as an oracle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No vault of that name exists (or it is soft-deleted, for data-plane calls).
    #[error("vault {vault:?} was not found")]
    VaultNotFound {
        /// The vault asked for.
        vault: String,
    },
    /// A vault of that name already exists.
    #[error("a vault named {vault:?} already exists")]
    VaultExists {
        /// The vault asked for.
        vault: String,
    },
    /// The vault name is soft-deleted: it must be recovered or purged before reuse.
    #[error(
        "vault {vault:?} is deleted but recoverable; recover or purge it before reusing the name"
    )]
    VaultIsDeleted {
        /// The vault asked for.
        vault: String,
    },
    /// No deleted vault of that name exists.
    #[error("deleted vault {vault:?} was not found")]
    DeletedVaultNotFound {
        /// The vault asked for.
        vault: String,
    },
    /// No object of that kind and name (or version) exists in the vault.
    #[error("a {kind} with (name/id) {} was not found in this key vault", with_version(name, version.as_deref()))]
    NotFound {
        /// What was asked for.
        kind: ObjectKind,
        /// Its name.
        name: String,
        /// The version, when one was asked for.
        version: Option<String>,
    },
    /// No deleted object of that kind and name exists in the vault.
    #[error("deleted {kind} {name:?} was not found in this key vault")]
    DeletedNotFound {
        /// What was asked for.
        kind: ObjectKind,
        /// Its name.
        name: String,
    },
    /// The name belongs to a soft-deleted object: create, import, set and restore under it
    /// must wait until it is recovered or purged.
    #[error("{kind} {name:?} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the {kind} can only be recovered or purged")]
    IsDeleted {
        /// The object's kind.
        kind: ObjectKind,
        /// Its name.
        name: String,
    },
    /// The certificate has no pending (or completed) creation operation on record.
    #[error("pending certificate not found: {name}")]
    OperationNotFound {
        /// The certificate's name.
        name: String,
    },
    /// The vault has no certificate contacts.
    #[error("this vault has no certificate contacts")]
    ContactsNotFound,
    /// No certificate issuer of that name exists in the vault.
    #[error("certificate issuer {name:?} was not found in this key vault")]
    IssuerNotFound {
        /// The issuer's name.
        name: String,
    },
    /// The object belongs to a certificate of the same name and changes only with it.
    #[error("this {kind}'s lifetime is managed by Key Vault: {name:?} belongs to the certificate of the same name; change, delete, recover or purge the certificate instead")]
    Managed {
        /// The kind: key or secret.
        kind: ObjectKind,
        /// The object's name.
        name: String,
    },
    /// Restore found a live object under the backup's name, or a certificate found a key or
    /// secret of its own name that it does not own.
    #[error("{kind} {name:?} already exists; restore, and a certificate (for its key and secret), need a name that is not in use")]
    AlreadyExists {
        /// The object's kind.
        kind: ObjectKind,
        /// Its name.
        name: String,
    },
    /// Purge protection forbids purging this object before its scheduled purge date.
    #[error("{object:?} cannot be purged before its scheduled purge date ({}): the vault has purge protection enabled", rfc3339(*scheduled_purge_date))]
    PurgeProtected {
        /// What was to be purged (an object's or a vault's name).
        object: String,
        /// The earliest date at which it may be purged.
        scheduled_purge_date: UnixTime,
    },
    /// Purge protection is on and cannot be turned off.
    #[error("purge protection cannot be disabled once it is enabled")]
    PurgeProtectionIrreversible,
    /// The object version is disabled.
    #[error("operation {operation} is not allowed on a disabled {kind}")]
    Disabled {
        /// The object's kind.
        kind: ObjectKind,
        /// The operation attempted.
        operation: &'static str,
    },
    /// The object version's `nbf` is in the future.
    #[error("operation {operation} is not allowed before the {kind}'s activation date (nbf)")]
    NotYetValid {
        /// The object's kind.
        kind: ObjectKind,
        /// The operation attempted.
        operation: &'static str,
    },
    /// The object version's `exp` has passed.
    #[error("operation {operation} is not allowed on an expired {kind} (exp)")]
    Expired {
        /// The object's kind.
        kind: ObjectKind,
        /// The operation attempted.
        operation: &'static str,
    },
    /// The key's `key_ops` do not include the operation.
    #[error("operation {operation} is not permitted by this key's key_ops")]
    OperationNotPermitted {
        /// The operation attempted.
        operation: &'static str,
    },
    /// Access control denied the caller this data action at this scope.
    #[error("caller {caller} is not authorized to perform action {action} on resource {scope}; assign it a role that grants the action (localhsm role assign), or in a vault that uses access policies, an access policy that does (localhsm access-policy set)")]
    AccessDenied {
        /// Who asked (object ID, or "anonymous").
        caller: String,
        /// The data action needed.
        action: &'static str,
        /// The resource scope.
        scope: String,
    },
    /// No role assignment of that name exists.
    #[error("role assignment {name:?} was not found")]
    RoleAssignmentNotFound {
        /// The assignment's name.
        name: String,
    },
    /// A role assignment's name is taken at another scope: a name is bound to the scope it
    /// was made at, as in Azure.
    #[error(
        "role assignment {name:?} already exists at scope {scope:?}; delete it there, or \
         choose another name (a new GUID)"
    )]
    RoleAssignmentExists {
        /// The assignment's name.
        name: String,
        /// The scope it lives at.
        scope: String,
    },
    /// No role definition of that id exists.
    #[error("role definition {id:?} was not found")]
    RoleDefinitionNotFound {
        /// The id asked for.
        id: String,
    },
    /// The key is not exportable, so its private material cannot leave the store.
    #[error("the key is not exportable")]
    NotExportable,
    /// A parameter was missing, malformed or out of range.
    #[error("{0}")]
    BadParameter(String),
    /// The algorithm does not apply to this key type or operation.
    #[error("algorithm {alg} is not supported for {what}")]
    AlgorithmNotSupported {
        /// JWA name of the algorithm.
        alg: String,
        /// The key type or operation it was used with.
        what: String,
    },
    /// The vault kind does not offer this feature (for example oct keys in a `vault`).
    #[error(
        "{what} is not supported in a vault of kind {kind}; {}",
        kind_hint(kind)
    )]
    NotSupportedByVaultKind {
        /// The feature asked for.
        what: String,
        /// The vault's kind.
        kind: &'static str,
    },
    /// A cryptographic operation failed on its input (bad tag, bad padding, malformed
    /// ciphertext). Opaque on purpose.
    #[error("the cryptographic operation failed for the given input")]
    CryptoFailure,
    /// A backup blob is malformed, tampered with, or from another store.
    #[error("the backup blob is not valid for this store")]
    InvalidBackup,
    /// The master key does not open this store.
    #[error("the master key does not open this store (wrong LOCALHSM_MASTER_KEY, key file or passphrase)")]
    WrongMasterKey,
    /// The master key could not be obtained.
    #[error("master key: {0}")]
    MasterKey(String),
    /// The store holds data of a schema this version cannot read.
    #[error(
        "the store in {dir} has schema version {found}; this localhsm reads version {supported}"
    )]
    UnsupportedSchema {
        /// Where the store is (a data directory, or the backend's description).
        dir: String,
        /// The version found in the store.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// Another process holds the store open.
    #[error(
        "the store in {dir} is in use by another process (is `localhsm serve` running on it?)"
    )]
    StoreLocked {
        /// The data directory.
        dir: String,
    },
    /// The file system holding the store has no space left (or the user's disk quota is
    /// spent): the change was refused, and nothing of it was stored. Writes resume by
    /// themselves once there is space again; reads and key operations go on meanwhile.
    #[error(
        "the disk holding {} is full, so this change was not saved; free space on it and \
         writes resume without a restart (reads, sign, verify, wrap and unwrap keep working \
         meanwhile)",
        data_dir(dir.as_deref())
    )]
    DiskFull {
        /// The data directory, when it is known where the write went.
        dir: Option<String>,
    },
    /// A stored record failed its integrity check or could not be decoded.
    #[error("stored record {what} is damaged or was not written by this store")]
    Corrupt {
        /// Which record.
        what: String,
    },
    /// A whole-store backup file cannot be restored (damaged, cut short, from a newer
    /// release, sealed under another master key), or the restore cannot write where asked.
    /// The message says what to do; the target was left as it was.
    #[error("{problem}")]
    StoreBackup {
        /// What is wrong, in a sentence.
        problem: String,
    },
    /// The storage engine failed.
    #[error("storage error: {0}")]
    Storage(String),
    /// A networked store (PostgreSQL) is out of reach for now: down, restarting, cut off,
    /// or slower than the query timeout. Nothing of the change was acknowledged; the call
    /// may be retried, and service resumes by itself when the database is back.
    #[error("the store's database is unavailable ({0}); try again shortly")]
    StoreUnavailable(String),
    /// Another process (a replica on the same database) changed the same records at the
    /// same moment, and the change kept conflicting after retries. Nothing of it was
    /// applied.
    #[error("the change conflicted with a concurrent change on another replica: {0}")]
    StoreConflict(String),
    /// The store cannot prove it is the state it last acknowledged (damaged, rolled back,
    /// emptied, or its anchor is gone), so it is not opened and never served.
    #[error(
        "the store in {dir} {problem}, so it was not opened. Restore it from a backup \
         (`localhsm store restore FILE`, with a file made by `localhsm store backup`), or run \
         `localhsm store verify --data {dir}` to see what is intact and \
         `localhsm store repair --data {dir}` to keep it and report what was lost"
    )]
    StoreIntegrity {
        /// The data directory (or the backend's description).
        dir: String,
        /// What is wrong.
        problem: IntegrityProblem,
    },
}

/// Why a store failed its integrity check at open (see `crate::store` for the checks).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntegrityProblem {
    /// Records changed or were lost outside a commit, or the engine found damage.
    #[error("is damaged: {0}")]
    Damaged(String),
    /// The database is an older state than the anchor acknowledges.
    #[error(
        "was rolled back: its database is {commits} commit(s) older than the state it last \
         acknowledged (store.anchor records commit {anchored}, the database holds commit {found})"
    )]
    RolledBack {
        /// How many acknowledged commits the database lacks.
        commits: u64,
        /// The commit the anchor records.
        anchored: u64,
        /// The commit the database holds.
        found: u64,
    },
    /// The database is missing or empty while the anchor shows it held data.
    #[error(
        "has lost its database: db/ is missing or empty, but store.anchor shows it held data \
         (commit {anchored}); it is not made a new, empty store unless you ask with \
         `localhsm store repair --accept-loss`"
    )]
    DatabaseLost {
        /// The commit the anchor records.
        anchored: u64,
    },
    /// The anchor file is missing for a store that has one.
    #[error(
        "has no store.anchor, the record outside the database that proves the database is \
         the latest state"
    )]
    AnchorMissing,
    /// The anchor file does not authenticate or cannot be read.
    #[error("has a damaged store.anchor: {0}")]
    AnchorDamaged(String),
}

/// How an error is reported on the wire: HTTP status, Key Vault error code, inner error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireError {
    /// HTTP status code.
    pub status: u16,
    /// Key Vault `error.code`.
    pub code: &'static str,
    /// Key Vault `error.innererror.code`, when Key Vault sends one.
    pub inner: Option<&'static str>,
}

impl Error {
    /// Shorthand for [`Error::BadParameter`].
    pub fn bad_parameter(msg: impl Into<String>) -> Self {
        Error::BadParameter(msg.into())
    }

    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(kind: ObjectKind, name: &str, version: Option<&str>) -> Self {
        Error::NotFound {
            kind,
            name: name.to_string(),
            version: version.map(str::to_string),
        }
    }

    /// The HTTP status and Key Vault codes for this error.
    pub fn wire(&self) -> WireError {
        use ObjectKind as K;
        let w = |status, code, inner| WireError {
            status,
            code,
            inner,
        };
        let forbidden = |inner| w(403, "Forbidden", Some(inner));
        match self {
            Error::VaultNotFound { .. } | Error::DeletedVaultNotFound { .. } => {
                w(404, "VaultNotFound", None)
            }
            Error::VaultExists { .. } => w(409, "Conflict", Some("VaultAlreadyExists")),
            Error::VaultIsDeleted { .. } | Error::IsDeleted { .. } => {
                w(409, "Conflict", Some("ObjectIsDeletedButRecoverable"))
            }
            Error::NotFound { kind, .. } => match kind {
                K::Key => w(404, "KeyNotFound", None),
                K::Secret => w(404, "SecretNotFound", None),
                K::Certificate => w(404, "CertificateNotFound", None),
            },
            // Key Vault answers a missing deleted object with the kind's plain not-found
            // code ("Deleted Secret not found: NAME" is a `SecretNotFound`).
            Error::DeletedNotFound { kind, .. } => match kind {
                K::Key => w(404, "KeyNotFound", None),
                K::Secret => w(404, "SecretNotFound", None),
                K::Certificate => w(404, "CertificateNotFound", None),
            },
            Error::AlreadyExists { kind, .. } => match kind {
                K::Key => w(409, "Conflict", Some("KeyAlreadyExists")),
                K::Secret => w(409, "Conflict", Some("SecretAlreadyExists")),
                K::Certificate => w(409, "Conflict", Some("CertificateAlreadyExists")),
            },
            Error::Disabled { kind, .. } => forbidden(match kind {
                K::Key => "KeyDisabled",
                K::Secret => "SecretDisabled",
                K::Certificate => "CertificateDisabled",
            }),
            Error::NotYetValid { kind, .. } => forbidden(match kind {
                K::Key => "KeyNotYetValid",
                K::Secret => "SecretNotYetValid",
                K::Certificate => "CertificateNotYetValid",
            }),
            Error::Expired { kind, .. } => forbidden(match kind {
                K::Key => "KeyExpired",
                K::Secret => "SecretExpired",
                K::Certificate => "CertificateExpired",
            }),
            Error::PurgeProtected { .. } => forbidden("PurgeProtectionEnabled"),
            Error::Managed { kind, .. } => forbidden(match kind {
                K::Secret => "SecretManagedByKeyVault",
                _ => "KeyManagedByKeyVault",
            }),
            Error::OperationNotFound { .. } => w(404, "PendingCertificateNotFound", None),
            Error::ContactsNotFound => w(404, "ContactsNotFound", None),
            Error::IssuerNotFound { .. } => w(404, "CertificateIssuerNotFound", None),
            Error::PurgeProtectionIrreversible => w(400, "BadParameter", None),
            Error::OperationNotPermitted { .. } => forbidden("KeyOperationNotPermitted"),
            Error::NotExportable => forbidden("KeyNotExportable"),
            Error::AccessDenied { .. } => forbidden("AccessDenied"),
            Error::RoleAssignmentNotFound { .. } => w(404, "RoleAssignmentNotFound", None),
            Error::RoleAssignmentExists { .. } => w(409, "RoleAssignmentExists", None),
            Error::RoleDefinitionNotFound { .. } => w(404, "RoleDefinitionNotFound", None),
            Error::BadParameter(_)
            | Error::AlgorithmNotSupported { .. }
            | Error::NotSupportedByVaultKind { .. }
            | Error::CryptoFailure
            | Error::InvalidBackup
            | Error::StoreBackup { .. } => w(400, "BadParameter", None),
            // 507, not 503 with Retry-After: the SDKs retry a 503 for their whole retry
            // budget, and a full disk waits for a person, not for time.
            Error::DiskFull { .. } => w(507, "InsufficientStorage", None),
            // 503 with `Retry-After` (set by the server): the SDKs retry it, and a database
            // restart or failover is over in seconds.
            Error::StoreUnavailable(_) => w(503, "ServiceUnavailable", None),
            Error::StoreConflict(_) => w(409, "Conflict", None),
            Error::WrongMasterKey
            | Error::MasterKey(_)
            | Error::UnsupportedSchema { .. }
            | Error::StoreLocked { .. }
            | Error::Corrupt { .. }
            | Error::Storage(_)
            // Refused at open, before anything serves: never reaches a request.
            | Error::StoreIntegrity { .. } => w(500, "InternalError", None),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        if is_disk_full(&e) {
            return Error::DiskFull { dir: None };
        }
        Error::Storage(io_sentence(&e))
    }
}

/// Whether an I/O error says the file system (or the user's quota) has no space left. By
/// kind, not OS code: an error cloned by the storage engine keeps only its kind.
pub(crate) fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// An I/O error in words for a person: the system's own sentence for an OS error ("No
/// space left on device (os error 28)"), else the name of its kind. Never the error's
/// `Debug` form, which a wrapped error's text can carry (the storage engine wraps one as
/// `Os { code: 28, kind: StorageFull, .. }`).
pub(crate) fn io_sentence(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(_) => e.to_string(),
        None => e.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_codes_follow_the_kind() {
        let e = Error::not_found(ObjectKind::Key, "k1", Some("abc"));
        assert_eq!(
            e.to_string(),
            "a key with (name/id) k1/abc was not found in this key vault"
        );
        assert_eq!((e.wire().status, e.wire().code), (404, "KeyNotFound"));
        let e = Error::not_found(ObjectKind::Secret, "s1", None);
        assert_eq!(e.wire().code, "SecretNotFound");
        let e = Error::Disabled {
            kind: ObjectKind::Key,
            operation: "sign",
        };
        assert_eq!(
            e.to_string(),
            "operation sign is not allowed on a disabled key"
        );
        assert_eq!(e.wire().inner, Some("KeyDisabled"));
        let e = Error::IsDeleted {
            kind: ObjectKind::Certificate,
            name: "c".into(),
        };
        assert_eq!(e.wire().status, 409);
        assert!(e
            .to_string()
            .contains("the certificate can only be recovered"));
    }

    #[test]
    fn io_errors_read_as_sentences() {
        use std::io::{Error as Io, ErrorKind};
        // ENOSPC and EDQUOT, from the system or as the storage engine re-wraps them (its
        // clone keeps only the kind, with the original's Debug form as the text).
        let wrapped = Io::new(
            ErrorKind::StorageFull,
            r#"Os { code: 28, kind: StorageFull, message: "No space left on device" }"#,
        );
        for io in [
            Io::from_raw_os_error(28),
            Io::from_raw_os_error(122),
            wrapped,
        ] {
            let e = Error::from(io);
            assert!(matches!(e, Error::DiskFull { dir: None }), "{e:?}");
            let wire = e.wire();
            assert_eq!((wire.status, wire.code), (507, "InsufficientStorage"));
            let message = e.to_string();
            assert!(message.starts_with("the disk holding the data directory is full"));
        }
        let e = Error::DiskFull {
            dir: Some("/srv/hsm".into()),
        };
        assert!(e
            .to_string()
            .contains("the data directory /srv/hsm is full"));
        let e = Error::from(Io::other("could not lock: Os { code: 11 }"));
        assert_eq!(e.to_string(), "storage error: other error");
        let e = Error::from(Io::from_raw_os_error(13));
        assert!(
            e.to_string().contains("Permission denied (os error 13)"),
            "{e}"
        );
    }
}
