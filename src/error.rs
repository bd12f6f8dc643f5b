//! The one error type of the core. Each variant knows its Key Vault error code and HTTP
//! status, so every face (server, CLI, library) reports a failure the same way.

use crate::clock::UnixTime;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the key store.
///
/// Messages never carry key material, digests or plaintexts. Cryptographic failures (a bad tag,
/// bad padding, a signature that does not verify as an operation error) are deliberately one
/// opaque variant, [`Error::CryptoFailure`], so that errors cannot serve as an oracle.
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
    /// No key of that name (or version) exists in the vault.
    #[error("a key with (name/id) {name}{} was not found in this key vault", version.as_deref().map(|v| format!("/{v}")).unwrap_or_default())]
    KeyNotFound {
        /// Key name.
        name: String,
        /// Version, when one was asked for.
        version: Option<String>,
    },
    /// No deleted key of that name exists in the vault.
    #[error("deleted key {name:?} was not found in this key vault")]
    DeletedKeyNotFound {
        /// Key name.
        name: String,
    },
    /// The key name belongs to a soft-deleted key: create, import and restore must wait until
    /// it is recovered or purged.
    #[error("key {name:?} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged")]
    KeyIsDeleted {
        /// Key name.
        name: String,
    },
    /// Restore found a live key under the backup's name.
    #[error("key {name:?} already exists; restore needs a name that is not in use")]
    KeyExists {
        /// Key name.
        name: String,
    },
    /// Purge protection forbids purging this object before its scheduled purge date.
    #[error("{object:?} cannot be purged before its scheduled purge date ({}): the vault has purge protection enabled", crate::audit::rfc3339(*scheduled_purge_date))]
    PurgeProtected {
        /// What was to be purged (key or vault name).
        object: String,
        /// The earliest date at which it may be purged.
        scheduled_purge_date: UnixTime,
    },
    /// Purge protection is on and cannot be turned off.
    #[error("purge protection cannot be disabled once it is enabled")]
    PurgeProtectionIrreversible,
    /// The key version is disabled.
    #[error("operation {operation} is not allowed on a disabled key")]
    KeyDisabled {
        /// The operation attempted.
        operation: &'static str,
    },
    /// The key version's `nbf` is in the future.
    #[error("operation {operation} is not allowed before the key's activation date (nbf)")]
    KeyNotYetValid {
        /// The operation attempted.
        operation: &'static str,
    },
    /// The key version's `exp` has passed.
    #[error("operation {operation} is not allowed on an expired key (exp)")]
    KeyExpired {
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
    #[error("caller {caller} is not authorized to perform action {action} on resource {scope}; assign it a role that grants the action (localhsm role assign)")]
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
    #[error("{what} is not supported in a vault of kind {kind}; use a managedhsm vault")]
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
    /// The data directory holds a store of a schema this version cannot read.
    #[error(
        "the store in {dir} has schema version {found}; this localhsm reads version {supported}"
    )]
    UnsupportedSchema {
        /// The data directory.
        dir: String,
        /// The version found on disk.
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
    /// A stored record failed its integrity check or could not be decoded.
    #[error("stored record {what} is damaged or was not written by this store")]
    Corrupt {
        /// Which record.
        what: String,
    },
    /// The storage engine failed.
    #[error("storage error: {0}")]
    Storage(String),
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

    /// The HTTP status and Key Vault codes for this error.
    pub fn wire(&self) -> WireError {
        let w = |status, code, inner| WireError {
            status,
            code,
            inner,
        };
        match self {
            Error::VaultNotFound { .. } => w(404, "VaultNotFound", None),
            Error::DeletedVaultNotFound { .. } => w(404, "VaultNotFound", None),
            Error::VaultExists { .. } => w(409, "Conflict", Some("VaultAlreadyExists")),
            Error::VaultIsDeleted { .. } => {
                w(409, "Conflict", Some("ObjectIsDeletedButRecoverable"))
            }
            Error::KeyNotFound { .. } | Error::DeletedKeyNotFound { .. } => {
                w(404, "KeyNotFound", None)
            }
            Error::KeyIsDeleted { .. } => w(409, "Conflict", Some("ObjectIsDeletedButRecoverable")),
            Error::KeyExists { .. } => w(409, "Conflict", Some("KeyAlreadyExists")),
            Error::PurgeProtected { .. } => w(403, "Forbidden", Some("PurgeProtectionEnabled")),
            Error::PurgeProtectionIrreversible => w(400, "BadParameter", None),
            Error::KeyDisabled { .. } => w(403, "Forbidden", Some("KeyDisabled")),
            Error::KeyNotYetValid { .. } => w(403, "Forbidden", Some("KeyNotYetValid")),
            Error::KeyExpired { .. } => w(403, "Forbidden", Some("KeyExpired")),
            Error::OperationNotPermitted { .. } => {
                w(403, "Forbidden", Some("KeyOperationNotPermitted"))
            }
            Error::NotExportable => w(403, "Forbidden", Some("KeyNotExportable")),
            Error::AccessDenied { .. } => w(403, "Forbidden", Some("AccessDenied")),
            Error::RoleAssignmentNotFound { .. } => w(404, "RoleAssignmentNotFound", None),
            Error::RoleDefinitionNotFound { .. } => w(404, "RoleDefinitionNotFound", None),
            Error::BadParameter(_)
            | Error::AlgorithmNotSupported { .. }
            | Error::NotSupportedByVaultKind { .. }
            | Error::CryptoFailure
            | Error::InvalidBackup => w(400, "BadParameter", None),
            Error::WrongMasterKey
            | Error::MasterKey(_)
            | Error::UnsupportedSchema { .. }
            | Error::StoreLocked { .. }
            | Error::Corrupt { .. }
            | Error::Storage(_) => w(500, "InternalError", None),
        }
    }
}

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        Error::Storage(e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Storage(e.to_string())
    }
}
