//! Managed HSM local RBAC: built-in role definitions, role assignments (principals' object
//! IDs at a scope), and the permission check.
//!
//! Scopes are `/` and `/keys` (HSM-wide, equivalent) and `/keys/{name}` (one key). The
//! built-in roles' ids and data actions are Managed HSM's own.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

macro_rules! data_actions {
    ($($(#[$m:meta])* $variant:ident = $wire:literal),+ $(,)?) => {
        /// A Managed HSM data action (`Microsoft.KeyVault/managedHsm/...`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum DataAction { $($(#[$m])* $variant),+ }

        impl DataAction {
            /// Every data action.
            pub const ALL: &'static [DataAction] = &[$(DataAction::$variant),+];

            /// The full data action name.
            pub fn as_str(self) -> &'static str {
                match self { $(DataAction::$variant => concat!("Microsoft.KeyVault/managedHsm/", $wire)),+ }
            }

            fn bit(self) -> u64 {
                1 << (self as u32)
            }
        }
    };
}

data_actions! {
    /// Read key metadata and public parts.
    KeysRead = "keys/read/action",
    /// Update a key's attributes, operations and tags.
    KeysWrite = "keys/write/action",
    /// Rotate a key (new version).
    KeysRotate = "keys/rotate/action",
    /// Create a key.
    KeysCreate = "keys/create",
    /// Delete a key.
    KeysDelete = "keys/delete",
    /// Read deleted keys.
    DeletedKeysRead = "keys/deletedKeys/read/action",
    /// Recover a deleted key.
    DeletedKeysRecover = "keys/deletedKeys/recover/action",
    /// Purge a deleted key.
    DeletedKeysDelete = "keys/deletedKeys/delete",
    /// Back up a key.
    KeysBackup = "keys/backup/action",
    /// Restore a key.
    KeysRestore = "keys/restore/action",
    /// Release a key.
    KeysRelease = "keys/release/action",
    /// Import a key.
    KeysImport = "keys/import/action",
    /// Export a key.
    KeysExport = "keys/export/action",
    /// Encrypt.
    Encrypt = "keys/encrypt/action",
    /// Decrypt.
    Decrypt = "keys/decrypt/action",
    /// Wrap a key.
    Wrap = "keys/wrap/action",
    /// Unwrap a key.
    Unwrap = "keys/unwrap/action",
    /// Sign a digest.
    Sign = "keys/sign/action",
    /// Verify a signature.
    Verify = "keys/verify/action",
    /// Random bytes.
    Rng = "rng/action",
    /// Read role assignments.
    RoleAssignmentsRead = "roleAssignments/read/action",
    /// Create role assignments.
    RoleAssignmentsWrite = "roleAssignments/write/action",
    /// Delete role assignments.
    RoleAssignmentsDelete = "roleAssignments/delete/action",
    /// Read role definitions.
    RoleDefinitionsRead = "roleDefinitions/read/action",
    /// Write role definitions.
    RoleDefinitionsWrite = "roleDefinitions/write/action",
    /// Delete role definitions.
    RoleDefinitionsDelete = "roleDefinitions/delete/action",
    /// Download the security domain.
    SecurityDomainDownload = "securitydomain/download/action",
    /// Read the security domain download status.
    SecurityDomainDownloadRead = "securitydomain/download/read",
    /// Upload a security domain.
    SecurityDomainUpload = "securitydomain/upload/action",
    /// Read the security domain upload status.
    SecurityDomainUploadRead = "securitydomain/upload/read",
    /// Read the security domain transfer key.
    SecurityDomainTransferKeyRead = "securitydomain/transferkey/read",
    /// Start a full backup.
    BackupStart = "backup/start/action",
    /// Read a full backup's status.
    BackupStatus = "backup/status/action",
    /// Start a full restore.
    RestoreStart = "restore/start/action",
    /// Read a full restore's status.
    RestoreStatus = "restore/status/action",
}

/// A built-in role definition.
#[derive(Debug, Clone, Copy)]
pub struct RoleDefinition {
    /// The role's id (a GUID), as Managed HSM publishes it.
    pub id: &'static str,
    /// The role's name.
    pub name: &'static str,
    /// What it is for.
    pub description: &'static str,
    /// The data actions it grants.
    pub data_actions: &'static [DataAction],
}

impl RoleDefinition {
    fn mask(&self) -> u64 {
        self.data_actions.iter().fold(0, |m, a| m | a.bit())
    }
}

use DataAction as A;

const ROLE_MANAGEMENT: &[DataAction] = &[
    A::RoleAssignmentsRead,
    A::RoleAssignmentsWrite,
    A::RoleAssignmentsDelete,
    A::RoleDefinitionsRead,
    A::RoleDefinitionsWrite,
    A::RoleDefinitionsDelete,
];

/// Managed HSM's built-in roles.
pub const BUILT_IN_ROLES: &[RoleDefinition] = &[
    RoleDefinition {
        id: "a290e904-7015-4bba-90c8-60543313cdb4",
        name: "Managed HSM Administrator",
        description:
            "Security domain, full backup and restore, and role management; no key management.",
        data_actions: &[
            A::RoleAssignmentsRead,
            A::RoleAssignmentsWrite,
            A::RoleAssignmentsDelete,
            A::RoleDefinitionsRead,
            A::RoleDefinitionsWrite,
            A::RoleDefinitionsDelete,
            A::SecurityDomainDownload,
            A::SecurityDomainDownloadRead,
            A::SecurityDomainUpload,
            A::SecurityDomainUploadRead,
            A::SecurityDomainTransferKeyRead,
            A::BackupStart,
            A::BackupStatus,
            A::RestoreStart,
            A::RestoreStatus,
        ],
    },
    RoleDefinition {
        id: "515eb02d-2335-4d2d-92f2-b1cbdf9c3778",
        name: "Managed HSM Crypto Officer",
        description: "Role management, purge or recover deleted keys, export keys.",
        data_actions: &[
            A::RoleAssignmentsRead,
            A::RoleAssignmentsWrite,
            A::RoleAssignmentsDelete,
            A::RoleDefinitionsRead,
            A::RoleDefinitionsWrite,
            A::RoleDefinitionsDelete,
            A::DeletedKeysRead,
            A::DeletedKeysDelete,
            A::DeletedKeysRecover,
            A::KeysExport,
        ],
    },
    RoleDefinition {
        id: "21dbd100-6940-42c2-9190-5d6cb909625b",
        name: "Managed HSM Crypto User",
        description: "All key management except purge, recover and export.",
        data_actions: &[
            A::RoleDefinitionsRead,
            A::RoleAssignmentsRead,
            A::KeysRead,
            A::KeysWrite,
            A::KeysRotate,
            A::KeysDelete,
            A::KeysCreate,
            A::KeysImport,
            A::KeysRelease,
            A::KeysBackup,
            A::KeysRestore,
            A::Encrypt,
            A::Decrypt,
            A::Wrap,
            A::Unwrap,
            A::Sign,
            A::Verify,
            A::Rng,
        ],
    },
    RoleDefinition {
        id: "4bd23610-cdcf-4971-bdee-bdc562cc28e4",
        name: "Managed HSM Policy Administrator",
        description: "Create and delete role assignments.",
        data_actions: ROLE_MANAGEMENT,
    },
    RoleDefinition {
        id: "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3",
        name: "Managed HSM Crypto Auditor",
        description: "Read (but not use) key attributes.",
        data_actions: &[
            A::RoleAssignmentsRead,
            A::RoleDefinitionsRead,
            A::KeysRead,
            A::DeletedKeysRead,
        ],
    },
    RoleDefinition {
        id: "33413926-3206-4cdd-b39a-83574fe37a17",
        name: "Managed HSM Crypto Service Encryption User",
        description: "Use a key for service encryption (read, wrap, unwrap).",
        data_actions: &[A::KeysRead, A::Wrap, A::Unwrap],
    },
    RoleDefinition {
        id: "21dbd100-6940-42c2-9190-5d6cb909625c",
        name: "Managed HSM Crypto Service Release User",
        description: "Release a key to a trusted execution environment.",
        data_actions: &[A::KeysRelease],
    },
    RoleDefinition {
        id: "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8",
        name: "Managed HSM Backup",
        description: "Single-key or whole-HSM backup.",
        data_actions: &[A::BackupStart, A::BackupStatus, A::KeysBackup],
    },
    RoleDefinition {
        id: "6efe6056-5259-49d2-8b3d-d3d73544b20b",
        name: "Managed HSM Restore",
        description: "Single-key or whole-HSM restore.",
        data_actions: &[A::RestoreStart, A::RestoreStatus, A::KeysRestore],
    },
];

/// The roles every `--admin` principal holds at `/`.
pub const ADMIN_ROLES: [&str; 3] = [
    "a290e904-7015-4bba-90c8-60543313cdb4",
    "515eb02d-2335-4d2d-92f2-b1cbdf9c3778",
    "21dbd100-6940-42c2-9190-5d6cb909625b",
];

/// The built-in role a role definition id names: a bare GUID or a path ending in one
/// (`Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{guid}`).
pub fn role_definition(id_or_path: &str) -> Option<&'static RoleDefinition> {
    let guid = id_or_path.rsplit('/').next().unwrap_or(id_or_path);
    BUILT_IN_ROLES
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(guid))
}

/// A role assignment: a principal holds a role at a scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    /// The assignment's name (a GUID, chosen by the caller).
    pub name: String,
    /// `/`, `/keys` or `/keys/{name}`.
    pub scope: String,
    /// The role definition's GUID.
    pub role_definition_id: String,
    /// The principal's object ID.
    pub principal_id: String,
}

/// Normalizes a scope to `/`, `/keys` or `/keys/{name}` (key names lowercased, as keys are
/// case-insensitive), or says what is wrong with it.
pub fn normalize_scope(scope: &str) -> Result<String> {
    let parts: Vec<&str> = scope.split('/').filter(|s| !s.is_empty()).collect();
    match parts.as_slice() {
        [] => Ok("/".into()),
        [k] if k.eq_ignore_ascii_case("keys") => Ok("/keys".into()),
        [k, name] if k.eq_ignore_ascii_case("keys") => {
            crate::model::validate_name("key", name)?;
            Ok(format!("/keys/{}", name.to_ascii_lowercase()))
        }
        _ => Err(Error::bad_parameter(format!(
            "scope {scope:?} is invalid: use /, /keys or /keys/{{key-name}}"
        ))),
    }
}

/// Whether an assignment at `assigned` covers a resource at `resource` (both normalized).
/// `/` and `/keys` are HSM-wide; `/keys/{name}` covers that key only.
pub fn scope_covers(assigned: &str, resource: &str) -> bool {
    assigned == "/" || assigned == "/keys" || assigned == resource
}

/// Whether scope `outer` is `inner` or above it (`/` above `/keys` above `/keys/k`). Unlike
/// [`scope_covers`], `/` and `/keys` are distinct here: this is about where an assignment
/// lives, not what it grants.
pub fn scope_contains(outer: &str, inner: &str) -> bool {
    outer == inner || outer == "/" || (outer == "/keys" && inner.starts_with("/keys/"))
}

/// The data actions a set of assignments grants at `resource`, as a mask.
pub(crate) fn granted<'a>(
    assignments: impl IntoIterator<Item = &'a RoleAssignment>,
    resource: &str,
) -> Grant {
    let mask = assignments
        .into_iter()
        .filter(|a| scope_covers(&a.scope, resource))
        .filter_map(|a| role_definition(&a.role_definition_id))
        .fold(0, |m, r| m | r.mask());
    Grant(mask)
}

/// The admins' grant: everything their three roles allow, everywhere.
pub(crate) fn admin_grant() -> Grant {
    Grant(
        ADMIN_ROLES
            .iter()
            .filter_map(|id| role_definition(id))
            .fold(0, |m, r| m | r.mask()),
    )
}

/// What a caller may do at one scope: a set of data actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Grant(u64);

impl Grant {
    /// Everything (access control off, or the trusted local caller).
    pub const ALL: Grant = Grant(u64::MAX);

    /// Whether `action` is allowed.
    pub fn allows(self, action: DataAction) -> bool {
        self.0 & action.bit() != 0
    }

    /// `Ok` when `action` is allowed, else Key Vault's 403.
    pub fn require(self, action: DataAction, caller: &str, scope: &str) -> Result<()> {
        if self.allows(action) {
            Ok(())
        } else {
            Err(Error::AccessDenied {
                caller: caller.to_string(),
                action: action.as_str(),
                scope: scope.to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(role: &str, scope: &str) -> RoleAssignment {
        RoleAssignment {
            name: "a".into(),
            scope: scope.into(),
            role_definition_id: role.into(),
            principal_id: "p".into(),
        }
    }

    #[test]
    fn every_action_fits_the_mask() {
        assert!(DataAction::ALL.len() <= 64);
    }

    #[test]
    fn built_in_roles_allow_and_deny_as_managed_hsm_does() {
        let role = |name: &str| {
            BUILT_IN_ROLES
                .iter()
                .find(|r| r.name.ends_with(name))
                .unwrap()
        };
        let grant = |r: &RoleDefinition| granted(&[assignment(r.id, "/")], "/keys/k");
        let user = grant(role("Crypto User"));
        assert!(user.allows(A::Sign) && user.allows(A::KeysCreate) && user.allows(A::Rng));
        assert!(!user.allows(A::DeletedKeysDelete) && !user.allows(A::KeysExport));
        assert!(!user.allows(A::DeletedKeysRecover) && !user.allows(A::RoleAssignmentsWrite));
        let officer = grant(role("Crypto Officer"));
        assert!(officer.allows(A::DeletedKeysDelete) && officer.allows(A::DeletedKeysRecover));
        assert!(officer.allows(A::KeysExport) && officer.allows(A::RoleAssignmentsWrite));
        assert!(!officer.allows(A::Sign) && !officer.allows(A::KeysCreate));
        let admin = grant(role("HSM Administrator"));
        assert!(admin.allows(A::RoleAssignmentsWrite) && admin.allows(A::BackupStart));
        assert!(!admin.allows(A::Sign) && !admin.allows(A::KeysRead));
        let policy = grant(role("Policy Administrator"));
        assert!(policy.allows(A::RoleAssignmentsDelete) && !policy.allows(A::KeysRead));
        let auditor = grant(role("Crypto Auditor"));
        assert!(auditor.allows(A::KeysRead) && auditor.allows(A::DeletedKeysRead));
        assert!(!auditor.allows(A::Sign) && !auditor.allows(A::DeletedKeysDelete));
        let encryption = grant(role("Service Encryption User"));
        assert!(encryption.allows(A::Wrap) && encryption.allows(A::Unwrap));
        assert!(!encryption.allows(A::Decrypt) && !encryption.allows(A::Sign));
        let release = grant(role("Service Release User"));
        assert!(release.allows(A::KeysRelease) && !release.allows(A::KeysRead));
        let backup = grant(role("HSM Backup"));
        assert!(backup.allows(A::KeysBackup) && !backup.allows(A::KeysRestore));
        let restore = grant(role("HSM Restore"));
        assert!(restore.allows(A::KeysRestore) && !restore.allows(A::KeysBackup));
    }

    #[test]
    fn scopes() {
        let user = "21dbd100-6940-42c2-9190-5d6cb909625b";
        let path =
            format!("Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{user}");
        assert!(granted(&[assignment(&path, "/keys/k")], "/keys/k").allows(A::Sign));
        assert!(!granted(&[assignment(user, "/keys/other")], "/keys/k").allows(A::Sign));
        assert!(granted(&[assignment(user, "/keys")], "/keys/k").allows(A::Sign));
        assert_eq!(normalize_scope("/keys/MyKey/").unwrap(), "/keys/mykey");
        assert_eq!(normalize_scope("").unwrap(), "/");
        assert!(normalize_scope("/secrets").is_err());
        assert!(admin_grant().allows(A::Sign) && admin_grant().allows(A::DeletedKeysDelete));
    }
}
