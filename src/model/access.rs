//! The vocabulary of access control: Managed HSM's data actions, the set of them a caller
//! holds at a scope ([`Grant`]), and the store-wide [`AccessPolicy`].
//!
//! Layer: base (part of [`crate::model`]). Plain data: what the objects layer checks on every
//! call and what a [`crate::KeyHandle`] carries. Which roles grant what, and who holds them,
//! is [`crate::rbac`]'s business.

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

/// What a caller may do at one scope: a set of data actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Grant(u64);

impl Grant {
    /// Everything (access control off, or the trusted local caller).
    pub const ALL: Grant = Grant(u64::MAX);

    /// Exactly `actions`.
    pub fn of(actions: &[DataAction]) -> Grant {
        Grant(actions.iter().fold(0, |m, a| m | a.bit()))
    }

    /// Everything either grant allows.
    pub fn union(self, other: Grant) -> Grant {
        Grant(self.0 | other.0)
    }

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

/// Access control for callers of [`crate::Store::vault_as`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    /// Whether role assignments are enforced. Off: every caller may do anything.
    pub enforce: bool,
    /// Object IDs that hold Administrator, Crypto Officer and Crypto User at `/` in every
    /// vault, without stored assignments.
    pub admins: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_fits_the_mask() {
        assert!(DataAction::ALL.len() <= 64);
        let g = Grant::of(&[DataAction::Sign]);
        assert!(g.allows(DataAction::Sign) && !g.allows(DataAction::Verify));
        assert!(g
            .union(Grant::of(&[DataAction::Verify]))
            .allows(DataAction::Verify));
        assert!(Grant::default()
            .require(DataAction::Sign, "c", "/")
            .is_err());
    }
}
