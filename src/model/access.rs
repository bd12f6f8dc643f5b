//! The vocabulary of access control: Managed HSM's data actions, the set of them a caller
//! holds at a scope ([`Grant`]), and the store-wide [`AccessPolicy`].
//!
//! Layer: base (part of [`crate::model`]). Plain data: what the objects layer checks on every
//! call and what a [`crate::KeyHandle`] carries. Which roles grant what, and who holds them,
//! is [`crate::rbac`]'s business.

use crate::error::{Error, Result};

macro_rules! data_actions {
    ($($(#[$m:meta])* $variant:ident = $wire:literal),+ $(,)?) => {
        /// A data action: Managed HSM's (`Microsoft.KeyVault/managedHsm/...`) or, for
        /// secrets, Key Vault's (`Microsoft.KeyVault/vaults/...`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum DataAction { $($(#[$m])* $variant),+ }

        impl DataAction {
            /// Every data action.
            pub const ALL: &'static [DataAction] = &[$(DataAction::$variant),+];

            /// The full data action name.
            pub fn as_str(self) -> &'static str {
                match self { $(DataAction::$variant => $wire),+ }
            }

            fn bit(self) -> u64 {
                1 << (self as u32)
            }
        }
    };
}

data_actions! {
    /// Read key metadata and public parts.
    KeysRead = "Microsoft.KeyVault/managedHsm/keys/read/action",
    /// Update a key's attributes, operations and tags.
    KeysWrite = "Microsoft.KeyVault/managedHsm/keys/write/action",
    /// Rotate a key (new version).
    KeysRotate = "Microsoft.KeyVault/managedHsm/keys/rotate/action",
    /// Create a key.
    KeysCreate = "Microsoft.KeyVault/managedHsm/keys/create",
    /// Delete a key.
    KeysDelete = "Microsoft.KeyVault/managedHsm/keys/delete",
    /// Read deleted keys.
    DeletedKeysRead = "Microsoft.KeyVault/managedHsm/keys/deletedKeys/read/action",
    /// Recover a deleted key.
    DeletedKeysRecover = "Microsoft.KeyVault/managedHsm/keys/deletedKeys/recover/action",
    /// Purge a deleted key.
    DeletedKeysDelete = "Microsoft.KeyVault/managedHsm/keys/deletedKeys/delete",
    /// Back up a key.
    KeysBackup = "Microsoft.KeyVault/managedHsm/keys/backup/action",
    /// Restore a key.
    KeysRestore = "Microsoft.KeyVault/managedHsm/keys/restore/action",
    /// Release a key.
    KeysRelease = "Microsoft.KeyVault/managedHsm/keys/release/action",
    /// Import a key.
    KeysImport = "Microsoft.KeyVault/managedHsm/keys/import/action",
    /// Export a key.
    KeysExport = "Microsoft.KeyVault/managedHsm/keys/export/action",
    /// Encrypt.
    Encrypt = "Microsoft.KeyVault/managedHsm/keys/encrypt/action",
    /// Decrypt.
    Decrypt = "Microsoft.KeyVault/managedHsm/keys/decrypt/action",
    /// Wrap a key.
    Wrap = "Microsoft.KeyVault/managedHsm/keys/wrap/action",
    /// Unwrap a key.
    Unwrap = "Microsoft.KeyVault/managedHsm/keys/unwrap/action",
    /// Sign a digest.
    Sign = "Microsoft.KeyVault/managedHsm/keys/sign/action",
    /// Verify a signature.
    Verify = "Microsoft.KeyVault/managedHsm/keys/verify/action",
    /// Random bytes.
    Rng = "Microsoft.KeyVault/managedHsm/rng/action",
    /// Read role assignments.
    RoleAssignmentsRead = "Microsoft.KeyVault/managedHsm/roleAssignments/read/action",
    /// Create role assignments.
    RoleAssignmentsWrite = "Microsoft.KeyVault/managedHsm/roleAssignments/write/action",
    /// Delete role assignments.
    RoleAssignmentsDelete = "Microsoft.KeyVault/managedHsm/roleAssignments/delete/action",
    /// Read role definitions.
    RoleDefinitionsRead = "Microsoft.KeyVault/managedHsm/roleDefinitions/read/action",
    /// Write role definitions.
    RoleDefinitionsWrite = "Microsoft.KeyVault/managedHsm/roleDefinitions/write/action",
    /// Delete role definitions.
    RoleDefinitionsDelete = "Microsoft.KeyVault/managedHsm/roleDefinitions/delete/action",
    /// Download the security domain.
    SecurityDomainDownload = "Microsoft.KeyVault/managedHsm/securitydomain/download/action",
    /// Read the security domain download status.
    SecurityDomainDownloadRead = "Microsoft.KeyVault/managedHsm/securitydomain/download/read",
    /// Upload a security domain.
    SecurityDomainUpload = "Microsoft.KeyVault/managedHsm/securitydomain/upload/action",
    /// Read the security domain upload status.
    SecurityDomainUploadRead = "Microsoft.KeyVault/managedHsm/securitydomain/upload/read",
    /// Read the security domain transfer key.
    SecurityDomainTransferKeyRead = "Microsoft.KeyVault/managedHsm/securitydomain/transferkey/read",
    /// Start a full backup.
    BackupStart = "Microsoft.KeyVault/managedHsm/backup/start/action",
    /// Read a full backup's status.
    BackupStatus = "Microsoft.KeyVault/managedHsm/backup/status/action",
    /// Start a full restore.
    RestoreStart = "Microsoft.KeyVault/managedHsm/restore/start/action",
    /// Read a full restore's status.
    RestoreStatus = "Microsoft.KeyVault/managedHsm/restore/status/action",
    /// Read a secret's value.
    SecretsGet = "Microsoft.KeyVault/vaults/secrets/getSecret/action",
    /// Read secrets' metadata (lists, versions, deleted secrets).
    SecretsReadMetadata = "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
    /// Set a secret (a new version).
    SecretsSet = "Microsoft.KeyVault/vaults/secrets/setSecret/action",
    /// Update a secret version's attributes, content type and tags.
    SecretsUpdate = "Microsoft.KeyVault/vaults/secrets/update/action",
    /// Delete a secret.
    SecretsDelete = "Microsoft.KeyVault/vaults/secrets/delete",
    /// Back up a secret.
    SecretsBackup = "Microsoft.KeyVault/vaults/secrets/backup/action",
    /// Restore a secret.
    SecretsRestore = "Microsoft.KeyVault/vaults/secrets/restore/action",
    /// Recover a deleted secret.
    SecretsRecover = "Microsoft.KeyVault/vaults/secrets/recover/action",
    /// Purge a deleted secret.
    SecretsPurge = "Microsoft.KeyVault/vaults/secrets/purge/action",
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
