//! The vocabulary of access control: Managed HSM's data actions, the set of them a caller
//! holds at a scope ([`Grant`]), the store-wide [`AccessPolicy`], and Key Vault's vault
//! access policies ([`AccessPolicyEntry`]: an object ID with permissions on keys, secrets
//! and certificates), which a vault of kind `vault` may choose over role assignments.
//!
//! Layer: base (part of [`crate::model`]). Plain data: what the objects layer checks on every
//! call, what a [`crate::KeyHandle`] carries and what a vault record stores. Which roles and
//! which permissions grant what, and who holds them, is [`crate::rbac`]'s business.

use serde::{Deserialize, Serialize};

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
    /// Read certificates, their policies and pending operations.
    CertificatesRead = "Microsoft.KeyVault/vaults/certificates/read",
    /// Create a certificate (a new version from its policy).
    CertificatesCreate = "Microsoft.KeyVault/vaults/certificates/create/action",
    /// Import a certificate.
    CertificatesImport = "Microsoft.KeyVault/vaults/certificates/import/action",
    /// Update a certificate, its policy or its pending operation (merge, cancel).
    CertificatesUpdate = "Microsoft.KeyVault/vaults/certificates/update/action",
    /// Delete a certificate.
    CertificatesDelete = "Microsoft.KeyVault/vaults/certificates/delete",
    /// Back up a certificate.
    CertificatesBackup = "Microsoft.KeyVault/vaults/certificates/backup/action",
    /// Restore a certificate.
    CertificatesRestore = "Microsoft.KeyVault/vaults/certificates/restore/action",
    /// Recover a deleted certificate.
    CertificatesRecover = "Microsoft.KeyVault/vaults/certificates/recover/action",
    /// Purge a deleted certificate.
    CertificatesPurge = "Microsoft.KeyVault/vaults/certificates/purge/action",
    /// Read, set or delete the vault's certificate contacts.
    CertificateContactsWrite = "Microsoft.KeyVault/vaults/certificatecontacts/write",
    /// Read certificate issuers.
    CertificateIssuersRead = "Microsoft.KeyVault/vaults/certificatecas/read",
    /// Create or update certificate issuers.
    CertificateIssuersWrite = "Microsoft.KeyVault/vaults/certificatecas/write",
    /// Delete certificate issuers.
    CertificateIssuersDelete = "Microsoft.KeyVault/vaults/certificatecas/delete",
    /// Read a Managed HSM's account settings. Azure publishes no data action for the
    /// settings API; this name follows the pattern of the others, so a custom role can
    /// grant it, and Managed HSM Administrator holds it.
    SettingsRead = "Microsoft.KeyVault/managedHsm/settings/read/action",
    /// Change a Managed HSM's account settings (see [`DataAction::SettingsRead`]).
    SettingsWrite = "Microsoft.KeyVault/managedHsm/settings/write/action",
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

impl AccessPolicy {
    /// Whether `oid` is one of [`AccessPolicy::admins`]. A caller without an object ID (an
    /// empty one included) is never an admin, whatever the list holds.
    pub fn is_admin(&self, oid: &str) -> bool {
        !oid.trim().is_empty() && self.admins.iter().any(|a| a.eq_ignore_ascii_case(oid))
    }

    /// Checks every admin as an object ID ([`validate_principal_id`]): an empty or malformed
    /// `--admin` is refused at start rather than matching callers it was never meant for.
    pub fn validate(&self) -> Result<()> {
        self.admins
            .iter()
            .try_for_each(|a| validate_principal_id("--admin", a))
    }
}

/// The object ID of the store's owner: the person who holds the data directory and its
/// master key. The server names a caller so only when it presents the owner's local
/// credential (`DIR/owner.token`), never because a token claims it; such a caller passes
/// every access check, as the library's own caller does.
pub const OWNER_OID: &str = "localhsm-owner";

/// Whether `oid` is [`OWNER_OID`] (compared as object IDs are: ignoring ASCII case).
pub fn is_owner(oid: &str) -> bool {
    oid.eq_ignore_ascii_case(OWNER_OID)
}

/// The default of a vault's `enableRbacAuthorization`: role assignments decide, Azure's
/// recommended model for Key Vault and the only one a Managed HSM has.
pub fn rbac_by_default() -> bool {
    true
}

macro_rules! permissions {
    ($(#[$doc:meta])* $name:ident, $what:literal {
        $($(#[$m:meta])* $variant:ident = $wire:literal),+ $(,)?
    }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name { $($(#[$m])* $variant),+ }

        impl $name {
            /// Every permission of this family, in Key Vault's order.
            pub const EVERY: &'static [$name] = &[$($name::$variant),+];

            /// Key Vault's name for it.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            /// Key Vault's name, without regard to case (ARM accepts `wrapkey` for `wrapKey`).
            fn from_str(s: &str) -> Result<Self> {
                Self::EVERY
                    .iter()
                    .copied()
                    .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
                    .ok_or_else(|| {
                        let names: Vec<&str> = Self::EVERY.iter().map(|p| p.as_str()).collect();
                        let shown: String = s.chars().take(40).collect();
                        Error::bad_parameter(format!(
                            "{} permission {shown:?} is not one of Key Vault's: {}",
                            $what,
                            names.join(", ")
                        ))
                    })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(
                d: D,
            ) -> std::result::Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

permissions! {
    /// An access-policy permission on keys (ARM's `KeyPermissions`).
    KeyPermission, "key" {
        /// Every key permission.
        All = "all",
        /// Encrypt.
        Encrypt = "encrypt",
        /// Decrypt.
        Decrypt = "decrypt",
        /// Wrap a key.
        WrapKey = "wrapKey",
        /// Unwrap a key.
        UnwrapKey = "unwrapKey",
        /// Sign a digest.
        Sign = "sign",
        /// Verify a signature.
        Verify = "verify",
        /// Read a key (or a deleted key) and its public part.
        Get = "get",
        /// List keys and deleted keys.
        List = "list",
        /// Create a key.
        Create = "create",
        /// Update a key's attributes.
        Update = "update",
        /// Import a key.
        Import = "import",
        /// Delete a key.
        Delete = "delete",
        /// Back up a key.
        Backup = "backup",
        /// Restore a key.
        Restore = "restore",
        /// Recover a deleted key.
        Recover = "recover",
        /// Purge a deleted key.
        Purge = "purge",
        /// Release a key.
        Release = "release",
        /// Rotate a key.
        Rotate = "rotate",
        /// Read a key's rotation policy.
        GetRotationPolicy = "getrotationpolicy",
        /// Set a key's rotation policy.
        SetRotationPolicy = "setrotationpolicy",
    }
}

permissions! {
    /// An access-policy permission on secrets (ARM's `SecretPermissions`).
    SecretPermission, "secret" {
        /// Every secret permission.
        All = "all",
        /// Read a secret's value (and a deleted secret).
        Get = "get",
        /// List secrets, their versions and deleted secrets.
        List = "list",
        /// Set a secret, or update a version's attributes.
        Set = "set",
        /// Delete a secret.
        Delete = "delete",
        /// Back up a secret.
        Backup = "backup",
        /// Restore a secret.
        Restore = "restore",
        /// Recover a deleted secret.
        Recover = "recover",
        /// Purge a deleted secret.
        Purge = "purge",
    }
}

permissions! {
    /// An access-policy permission on certificates (ARM's `CertificatePermissions`).
    CertificatePermission, "certificate" {
        /// Every certificate permission.
        All = "all",
        /// Read a certificate.
        Get = "get",
        /// List certificates.
        List = "list",
        /// Delete a certificate.
        Delete = "delete",
        /// Create a certificate.
        Create = "create",
        /// Import a certificate.
        Import = "import",
        /// Update a certificate.
        Update = "update",
        /// Manage certificate contacts.
        ManageContacts = "managecontacts",
        /// Read certificate issuers.
        GetIssuers = "getissuers",
        /// List certificate issuers.
        ListIssuers = "listissuers",
        /// Set certificate issuers.
        SetIssuers = "setissuers",
        /// Delete certificate issuers.
        DeleteIssuers = "deleteissuers",
        /// Manage certificate issuers.
        ManageIssuers = "manageissuers",
        /// Recover a deleted certificate.
        Recover = "recover",
        /// Purge a deleted certificate.
        Purge = "purge",
        /// Back up a certificate.
        Backup = "backup",
        /// Restore a certificate.
        Restore = "restore",
    }
}

/// What an access policy permits, per object family.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    /// On keys.
    #[serde(default)]
    pub keys: Vec<KeyPermission>,
    /// On secrets.
    #[serde(default)]
    pub secrets: Vec<SecretPermission>,
    /// On certificates.
    #[serde(default)]
    pub certificates: Vec<CertificatePermission>,
}

impl Permissions {
    /// The same permissions, each once, in Key Vault's order.
    pub fn normalized(mut self) -> Self {
        self.keys.sort();
        self.keys.dedup();
        self.secrets.sort();
        self.secrets.dedup();
        self.certificates.sort();
        self.certificates.dedup();
        self
    }
}

/// One of a vault's access policies (ARM's `AccessPolicyEntry`): what the principal with
/// `object_id` (in `tenant_id`, when given) may do in the vault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPolicyEntry {
    /// The tenant of the principal; when set, only tokens of that tenant (`tid`) match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The principal's object ID (`oid`).
    pub object_id: String,
    /// What it may do.
    pub permissions: Permissions,
}

/// Most access policies a vault holds, as Azure Key Vault limits them.
pub const MAX_ACCESS_POLICIES: usize = 1024;

/// Checks an object or tenant ID: 1 to 128 characters of `0-9a-zA-Z-` (a GUID fits).
pub fn validate_principal_id(what: &str, id: &str) -> Result<()> {
    let ok =
        (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        return Ok(());
    }
    let shown: String = id.chars().take(140).collect();
    Err(Error::bad_parameter(format!(
        "{what} {shown:?} is invalid: use 1 to 128 characters of 0-9, a-z, A-Z and - (a GUID)"
    )))
}

impl AccessPolicyEntry {
    /// Checks the IDs and returns the entry with its permissions normalized.
    pub fn validated(self) -> Result<Self> {
        validate_principal_id("objectId", &self.object_id)?;
        if let Some(t) = &self.tenant_id {
            validate_principal_id("tenantId", t)?;
        }
        Ok(Self {
            permissions: self.permissions.normalized(),
            ..self
        })
    }

    /// Whether the entry is for this caller: the same object ID and, when the entry names a
    /// tenant, the same tenant (both without regard to case).
    pub fn matches(&self, object_id: &str, tenant_id: Option<&str>) -> bool {
        self.object_id.eq_ignore_ascii_case(object_id)
            && self
                .tenant_id
                .as_deref()
                .is_none_or(|t| tenant_id.is_some_and(|c| c.eq_ignore_ascii_case(t)))
    }
}

/// A custom role definition, as a vault stores it: Managed HSM's `CustomRole`, made with
/// `KeyVaultAccessControlClient.set_role_definition`. Holds no principal: who holds the
/// role is said by role assignments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomRole {
    /// Its name: a GUID, lowercase.
    pub id: String,
    /// Its display name (may be empty, as the SDKs send it when none is given).
    pub role_name: String,
    /// What it is for (may be empty).
    pub description: String,
    /// What it allows, as given: data actions may hold `*` wildcards.
    pub permissions: Vec<RolePermissions>,
    /// The scopes it may be assigned at (normalized: `/`, `/keys`, ...).
    pub assignable_scopes: Vec<String>,
}

/// One permission block of a role definition: allowed actions less excluded ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolePermissions {
    /// Control-plane actions (kept and shown; nothing local checks them).
    #[serde(default)]
    pub actions: Vec<String>,
    /// Control-plane actions excluded.
    #[serde(default)]
    pub not_actions: Vec<String>,
    /// Data actions allowed, `*` matching any run of characters.
    #[serde(default)]
    pub data_actions: Vec<String>,
    /// Data actions subtracted from those allowed.
    #[serde(default)]
    pub not_data_actions: Vec<String>,
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
