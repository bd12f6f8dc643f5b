//! Access control: built-in role definitions (Managed HSM's, and Key Vault's data roles for
//! vaults that hold secrets), role assignments (principals' object IDs at a scope) stored
//! per vault, Key Vault's access policies for the vaults that choose them, and the
//! authorizer that checks every call of a vault acting for a caller ([`Store::vault_as`]).
//!
//! Layer: services. Imports the objects layer ([`Vault`], [`Store`]), the lifecycle and the
//! storage seam (for the assignments table) and the base layer. The vocabulary it grants
//! in, data actions and [`Grant`]s, is base data ([`crate::model::access`]), so a
//! [`crate::KeyHandle`] can carry a grant without knowing about roles.
//!
//! Scopes are `/` (the whole vault), `/keys` (every key; in a Managed HSM also HSM-wide, as
//! Managed HSM treats `/` and `/keys` alike), `/keys/{name}` (one key), `/secrets` (every
//! secret), `/secrets/{name}` (one secret), `/certificates` (every certificate, and the
//! vault's certificate contacts and issuers) and `/certificates/{name}` (one certificate).
//! The built-in roles' ids and data actions are Azure's own: Managed HSM roles in
//! `managedhsm` vaults, Key Vault roles in vaults of kind `vault`, both in the default vault
//! (a Managed HSM that also holds secrets and certificates). A certificate's key and secret
//! are reached through the keys and secrets APIs, so they take key and secret actions at
//! `/keys/{name}` and `/secrets/{name}`, as in Azure.
//!
//! Which model decides is the vault's: role assignments, unless a vault of kind `vault` has
//! `enableRbacAuthorization` off, when its access policies decide and its role assignments
//! are ignored (as in Azure). `--admin` principals may do everything either way.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ObjectKind, Result};
use crate::lifecycle::records::vault_prefix;
pub(crate) use crate::lifecycle::vaults::check_permission_model;
use crate::model::access::{
    validate_principal_id, CertificatePermission, KeyPermission, Permissions, SecretPermission,
    MAX_ACCESS_POLICIES,
};
pub use crate::model::access::{CustomRole, RolePermissions};
use crate::model::{holds, Caller, VaultInfo, VaultKind, VaultOptions};
use crate::store::{decode, encode, KeyRange, Table, Write};
use crate::vault::{Authorizer, Store, Vault};

pub use crate::model::access::{AccessPolicy, AccessPolicyEntry, DataAction, Grant};

/// Which family a built-in role belongs to, and so where it may be assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoleFamily {
    /// Managed HSM local RBAC (`Microsoft.KeyVault/managedHsm/...`): `managedhsm` vaults.
    ManagedHsm,
    /// Azure Key Vault's data roles (`Microsoft.KeyVault/vaults/...`): vaults that hold
    /// secrets (kind `vault`, and the default vault).
    KeyVault,
}

impl RoleFamily {
    /// Whether roles of this family may be assigned in a vault of `kind` named `vault`.
    pub fn available_in(self, kind: VaultKind, vault: &str) -> bool {
        match self {
            RoleFamily::ManagedHsm => kind == VaultKind::ManagedHsm,
            RoleFamily::KeyVault => holds(kind, vault, ObjectKind::Secret),
        }
    }

    /// The role definitions' `type`, as each service reports its built-in roles.
    pub fn role_type(self) -> &'static str {
        match self {
            RoleFamily::ManagedHsm => "AKVBuiltInRole",
            RoleFamily::KeyVault => "BuiltInRole",
        }
    }

    fn label(self) -> &'static str {
        match self {
            RoleFamily::ManagedHsm => "a Managed HSM role",
            RoleFamily::KeyVault => "a Key Vault role",
        }
    }
}

/// A role's permissions as Azure publishes them, where they differ from the data actions it
/// grants here: Key Vault's roles name control-plane actions and wildcards
/// (`Microsoft.KeyVault/vaults/secrets/*`).
#[derive(Debug, Clone, Copy)]
pub struct Published {
    /// Control-plane actions (`Microsoft.Authorization/*/read`, ...).
    pub actions: &'static [&'static str],
    /// Data actions, wildcards and all.
    pub data_actions: &'static [&'static str],
}

/// A built-in role definition.
#[derive(Debug, Clone, Copy)]
pub struct RoleDefinition {
    /// The role's id (a GUID), as Azure publishes it.
    pub id: &'static str,
    /// The role's name.
    pub name: &'static str,
    /// What it is for.
    pub description: &'static str,
    /// Its family: where it may be assigned.
    pub family: RoleFamily,
    /// The data actions it grants here: what the authorizer checks.
    pub data_actions: &'static [DataAction],
    /// What Azure publishes, when that is not the names of `data_actions` (Key Vault roles).
    pub published: Option<Published>,
}

impl RoleDefinition {
    /// What the role grants.
    pub fn grant(&self) -> Grant {
        Grant::of(self.data_actions)
    }

    /// Its control-plane actions, as Azure publishes them.
    pub fn published_actions(&self) -> Vec<&'static str> {
        self.published
            .map(|p| p.actions.to_vec())
            .unwrap_or_default()
    }

    /// Its data actions, as Azure publishes them (wildcards and all).
    pub fn published_data_actions(&self) -> Vec<&'static str> {
        match self.published {
            Some(p) => p.data_actions.to_vec(),
            None => self
                .data_actions
                .iter()
                .filter(|a| !UNPUBLISHED.contains(a))
                .map(|a| a.as_str())
                .collect(),
        }
    }
}

/// Data actions Azure does not publish (the settings API's), which Managed HSM
/// Administrator grants here but its published definition does not list.
const UNPUBLISHED: &[DataAction] = &[DataAction::SettingsRead, DataAction::SettingsWrite];

use DataAction as A;

const ROLE_MANAGEMENT: &[DataAction] = &[
    A::RoleAssignmentsRead,
    A::RoleAssignmentsWrite,
    A::RoleAssignmentsDelete,
    A::RoleDefinitionsRead,
    A::RoleDefinitionsWrite,
    A::RoleDefinitionsDelete,
];

/// The control-plane actions of Key Vault Administrator, Reader, Secrets Officer and
/// Certificates Officer (learn.microsoft.com, "Azure built-in roles for Security"). Of
/// these, only `Microsoft.Authorization/*/read` means anything locally: reading role
/// assignments and definitions.
const KEY_VAULT_ACTIONS: &[&str] = &[
    "Microsoft.Authorization/*/read",
    "Microsoft.Insights/alertRules/*",
    "Microsoft.Resources/deployments/*",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Support/*",
    "Microsoft.KeyVault/checkNameAvailability/read",
    "Microsoft.KeyVault/deletedVaults/read",
    "Microsoft.KeyVault/locations/*/read",
    "Microsoft.KeyVault/vaults/*/read",
    "Microsoft.KeyVault/operations/read",
];

/// Key Vault's `Microsoft.KeyVault/vaults/*`: every key, secret and certificate action Key
/// Vault has. Not `keys/export`: Key Vault defines no export (Managed HSM's Crypto Officer
/// grants it).
const KEY_VAULT_ADMINISTRATOR: &[DataAction] = &[
    A::RoleAssignmentsRead,
    A::RoleDefinitionsRead,
    A::KeysRead,
    A::KeysWrite,
    A::KeysRotate,
    A::KeysCreate,
    A::KeysDelete,
    A::DeletedKeysRead,
    A::DeletedKeysRecover,
    A::DeletedKeysDelete,
    A::KeysBackup,
    A::KeysRestore,
    A::KeysRelease,
    A::KeysImport,
    A::Encrypt,
    A::Decrypt,
    A::Wrap,
    A::Unwrap,
    A::Sign,
    A::Verify,
    A::SecretsGet,
    A::SecretsReadMetadata,
    A::SecretsSet,
    A::SecretsUpdate,
    A::SecretsDelete,
    A::SecretsBackup,
    A::SecretsRestore,
    A::SecretsRecover,
    A::SecretsPurge,
    A::CertificatesRead,
    A::CertificatesCreate,
    A::CertificatesImport,
    A::CertificatesUpdate,
    A::CertificatesDelete,
    A::CertificatesBackup,
    A::CertificatesRestore,
    A::CertificatesRecover,
    A::CertificatesPurge,
    A::CertificateContactsWrite,
    A::CertificateIssuersRead,
    A::CertificateIssuersWrite,
    A::CertificateIssuersDelete,
];

/// The built-in roles: Managed HSM's (learn.microsoft.com, "Local RBAC built-in roles for
/// Managed HSM"), then Key Vault's data roles for keys, secrets and certificates
/// (learn.microsoft.com, "Azure built-in roles for Security").
pub const BUILT_IN_ROLES: &[RoleDefinition] = &[
    RoleDefinition {
        id: "a290e904-7015-4bba-90c8-60543313cdb4",
        name: "Managed HSM Administrator",
        description:
            "Security domain, full backup and restore, and role management; no key management.",
        family: RoleFamily::ManagedHsm,
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
            A::SettingsRead,
            A::SettingsWrite,
        ],
        published: None,
    },
    RoleDefinition {
        id: "515eb02d-2335-4d2d-92f2-b1cbdf9c3778",
        name: "Managed HSM Crypto Officer",
        description: "Role management, purge or recover deleted keys, export keys.",
        family: RoleFamily::ManagedHsm,
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
        published: None,
    },
    RoleDefinition {
        id: "21dbd100-6940-42c2-9190-5d6cb909625b",
        name: "Managed HSM Crypto User",
        description: "All key management except purge, recover and export.",
        family: RoleFamily::ManagedHsm,
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
        published: None,
    },
    RoleDefinition {
        id: "4bd23610-cdcf-4971-bdee-bdc562cc28e4",
        name: "Managed HSM Policy Administrator",
        description: "Create and delete role assignments.",
        family: RoleFamily::ManagedHsm,
        data_actions: ROLE_MANAGEMENT,
        published: None,
    },
    RoleDefinition {
        id: "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3",
        name: "Managed HSM Crypto Auditor",
        description: "Read (but not use) key attributes.",
        family: RoleFamily::ManagedHsm,
        data_actions: &[
            A::RoleAssignmentsRead,
            A::RoleDefinitionsRead,
            A::KeysRead,
            A::DeletedKeysRead,
        ],
        published: None,
    },
    RoleDefinition {
        id: "33413926-3206-4cdd-b39a-83574fe37a17",
        name: "Managed HSM Crypto Service Encryption User",
        description: "Use a key for service encryption (read, wrap, unwrap).",
        family: RoleFamily::ManagedHsm,
        data_actions: &[A::KeysRead, A::Wrap, A::Unwrap],
        published: None,
    },
    RoleDefinition {
        id: "21dbd100-6940-42c2-9190-5d6cb909625c",
        name: "Managed HSM Crypto Service Release User",
        description: "Release a key to a trusted execution environment.",
        family: RoleFamily::ManagedHsm,
        data_actions: &[A::KeysRelease],
        published: None,
    },
    RoleDefinition {
        id: "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8",
        name: "Managed HSM Backup",
        description: "Single-key or whole-HSM backup.",
        family: RoleFamily::ManagedHsm,
        data_actions: &[A::BackupStart, A::BackupStatus, A::KeysBackup],
        published: None,
    },
    RoleDefinition {
        id: "6efe6056-5259-49d2-8b3d-d3d73544b20b",
        name: "Managed HSM Restore",
        description: "Single-key or whole-HSM restore.",
        family: RoleFamily::ManagedHsm,
        data_actions: &[A::RestoreStart, A::RestoreStatus, A::KeysRestore],
        published: None,
    },
    RoleDefinition {
        id: "00482a5a-887f-4fb3-b363-3b7fe8e74483",
        name: "Key Vault Administrator",
        description: "Perform all data plane operations on a key vault and all objects in it, \
                      including certificates, keys, and secrets. Cannot manage key vault \
                      resources or manage role assignments.",
        family: RoleFamily::KeyVault,
        data_actions: KEY_VAULT_ADMINISTRATOR,
        published: Some(Published {
            actions: KEY_VAULT_ACTIONS,
            data_actions: &["Microsoft.KeyVault/vaults/*"],
        }),
    },
    RoleDefinition {
        id: "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba",
        name: "Key Vault Certificate User",
        description: "Read certificate contents.",
        family: RoleFamily::KeyVault,
        // Reading a certificate's contents means reading its secret (the PFX or PEM) and its
        // key's public part, so the role grants those too, as Azure's does.
        data_actions: &[
            A::CertificatesRead,
            A::SecretsGet,
            A::SecretsReadMetadata,
            A::KeysRead,
        ],
        published: Some(Published {
            actions: &[],
            data_actions: &[
                "Microsoft.KeyVault/vaults/certificates/read",
                "Microsoft.KeyVault/vaults/secrets/getSecret/action",
                "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
                "Microsoft.KeyVault/vaults/keys/read",
            ],
        }),
    },
    RoleDefinition {
        id: "a4417e6f-fecd-4de8-b567-7b0420556985",
        name: "Key Vault Certificates Officer",
        description: "Perform any action on the certificates of a key vault, except manage \
                      permissions.",
        family: RoleFamily::KeyVault,
        // Certificates, issuers and contacts; not the certificate's secret or key, which
        // the secrets and keys roles grant (as in Azure, where the officer cannot read the
        // PFX through the secrets API).
        data_actions: &[
            A::RoleAssignmentsRead,
            A::RoleDefinitionsRead,
            A::CertificatesRead,
            A::CertificatesCreate,
            A::CertificatesImport,
            A::CertificatesUpdate,
            A::CertificatesDelete,
            A::CertificatesBackup,
            A::CertificatesRestore,
            A::CertificatesRecover,
            A::CertificatesPurge,
            A::CertificateContactsWrite,
            A::CertificateIssuersRead,
            A::CertificateIssuersWrite,
            A::CertificateIssuersDelete,
        ],
        published: Some(Published {
            actions: KEY_VAULT_ACTIONS,
            data_actions: &[
                "Microsoft.KeyVault/vaults/certificatecas/*",
                "Microsoft.KeyVault/vaults/certificates/*",
                "Microsoft.KeyVault/vaults/certificatecontacts/write",
            ],
        }),
    },
    RoleDefinition {
        id: "21090545-7ca7-4776-b22c-e363652d74d2",
        name: "Key Vault Reader",
        description: "Read metadata of key vaults and its certificates, keys, and secrets. \
                      Cannot read sensitive values such as secret contents or key material.",
        family: RoleFamily::KeyVault,
        // `vaults/*/read` reads keys (public parts) and deleted keys, certificates and
        // issuers (`certificatecas/read`); secrets only as metadata, never a value.
        // Contacts have no read action in Key Vault (`certificatecontacts/write` reads
        // them), so a reader does not see them.
        data_actions: &[
            A::RoleAssignmentsRead,
            A::RoleDefinitionsRead,
            A::KeysRead,
            A::DeletedKeysRead,
            A::SecretsReadMetadata,
            A::CertificatesRead,
            A::CertificateIssuersRead,
        ],
        published: Some(Published {
            actions: KEY_VAULT_ACTIONS,
            data_actions: &[
                "Microsoft.KeyVault/vaults/*/read",
                "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
            ],
        }),
    },
    RoleDefinition {
        id: "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        name: "Key Vault Secrets Officer",
        description: "Perform any action on the secrets of a key vault, except manage \
                      permissions.",
        family: RoleFamily::KeyVault,
        data_actions: &[
            A::RoleAssignmentsRead,
            A::RoleDefinitionsRead,
            A::SecretsGet,
            A::SecretsReadMetadata,
            A::SecretsSet,
            A::SecretsUpdate,
            A::SecretsDelete,
            A::SecretsBackup,
            A::SecretsRestore,
            A::SecretsRecover,
            A::SecretsPurge,
        ],
        published: Some(Published {
            actions: KEY_VAULT_ACTIONS,
            data_actions: &["Microsoft.KeyVault/vaults/secrets/*"],
        }),
    },
    RoleDefinition {
        id: "4633458b-17de-408a-b874-0445c86b69e6",
        name: "Key Vault Secrets User",
        description: "Read secret contents.",
        family: RoleFamily::KeyVault,
        data_actions: &[A::SecretsGet, A::SecretsReadMetadata],
        published: Some(Published {
            actions: &[],
            data_actions: &[
                "Microsoft.KeyVault/vaults/secrets/getSecret/action",
                "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
            ],
        }),
    },
];

/// The roles every `--admin` principal holds at `/` in every vault: Managed HSM's
/// Administrator, Crypto Officer and Crypto User, and Key Vault Administrator (for secrets
/// and certificates), whichever the vault's kind.
pub const ADMIN_ROLES: [&str; 4] = [
    "a290e904-7015-4bba-90c8-60543313cdb4",
    "515eb02d-2335-4d2d-92f2-b1cbdf9c3778",
    "21dbd100-6940-42c2-9190-5d6cb909625b",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483",
];

/// The built-in role a role definition id names: a bare GUID or a path ending in one
/// (`Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{guid}`).
pub fn role_definition(id_or_path: &str) -> Option<&'static RoleDefinition> {
    let guid = id_or_path.rsplit('/').next().unwrap_or(id_or_path);
    BUILT_IN_ROLES
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(guid))
}

/// The built-in roles that may be assigned in a vault of `kind` named `vault`.
pub fn roles_available_in(
    kind: VaultKind,
    vault: &str,
) -> impl Iterator<Item = &'static RoleDefinition> + '_ {
    BUILT_IN_ROLES
        .iter()
        .filter(move |r| r.family.available_in(kind, vault))
}

/// A role assignment: a principal holds a role at a scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    /// The assignment's name (a GUID, chosen by the caller).
    pub name: String,
    /// `/`, `/keys`, `/keys/{name}`, `/secrets`, `/secrets/{name}`, `/certificates` or
    /// `/certificates/{name}`.
    pub scope: String,
    /// The role definition's GUID.
    pub role_definition_id: String,
    /// The principal's object ID.
    pub principal_id: String,
}

/// The object families a scope may name, and the kind of object each holds.
const SCOPE_FAMILIES: [(&str, ObjectKind); 3] = [
    ("keys", ObjectKind::Key),
    ("secrets", ObjectKind::Secret),
    ("certificates", ObjectKind::Certificate),
];

/// Normalizes a scope to `/`, `/keys`, `/keys/{name}`, `/secrets`, `/secrets/{name}`,
/// `/certificates` or `/certificates/{name}` (object names lowercased, as they are
/// case-insensitive), or says what is wrong with it.
pub fn normalize_scope(scope: &str) -> Result<String> {
    let parts: Vec<&str> = scope.split('/').filter(|s| !s.is_empty()).collect();
    let family = |segment: &str| {
        SCOPE_FAMILIES
            .into_iter()
            .find(|(f, _)| segment.eq_ignore_ascii_case(f))
    };
    match parts.as_slice() {
        [] => Ok("/".into()),
        [f] if family(f).is_some() => Ok(format!("/{}", family(f).map_or("", |(f, _)| f))),
        [f, name] if family(f).is_some() => {
            let (family, kind) = family(f).unwrap_or(SCOPE_FAMILIES[0]);
            crate::model::validate_name(kind.noun(), name)?;
            Ok(format!("/{family}/{}", name.to_ascii_lowercase()))
        }
        _ => Err(Error::bad_parameter(format!(
            "scope {scope:?} is invalid: use /, /keys, /keys/{{key-name}}, /secrets, \
             /secrets/{{secret-name}}, /certificates or /certificates/{{certificate-name}}"
        ))),
    }
}

/// The object kind a normalized scope is about (`/secrets/db` is about secrets), or `None`
/// for `/`.
fn scope_kind(scope: &str) -> Option<ObjectKind> {
    let family = scope.trim_start_matches('/').split('/').next()?;
    SCOPE_FAMILIES
        .into_iter()
        .find(|(f, _)| *f == family)
        .map(|(_, kind)| kind)
}

/// Whether a normalized scope names one object (`/keys/{name}`, `/secrets/{name}`,
/// `/certificates/{name}`) rather than a collection or the vault.
fn is_object_scope(scope: &str) -> bool {
    scope_kind(scope).is_some() && scope.trim_start_matches('/').contains('/')
}

/// Whether an assignment at `assigned` covers a resource at `resource` (both normalized).
/// `/` covers everything; `/keys` every key and what is neither a secret nor a certificate
/// (Managed HSM treats it as HSM-wide); `/secrets` every secret; `/certificates` every
/// certificate (and the vault's contacts and issuers); `/{family}/{name}` that object.
pub fn scope_covers(assigned: &str, resource: &str) -> bool {
    match assigned {
        "/" => true,
        "/keys" => !matches!(
            scope_kind(resource),
            Some(ObjectKind::Secret | ObjectKind::Certificate)
        ),
        "/secrets" => scope_kind(resource) == Some(ObjectKind::Secret),
        "/certificates" => scope_kind(resource) == Some(ObjectKind::Certificate),
        one => one == resource,
    }
}

/// Whether scope `outer` is `inner` or above it (`/` above `/keys` above `/keys/k`, and
/// likewise for secrets and certificates). Unlike [`scope_covers`], `/` and `/keys` are
/// distinct here: this is about where an assignment lives, not what it grants.
pub fn scope_contains(outer: &str, inner: &str) -> bool {
    outer == inner
        || outer == "/"
        || SCOPE_FAMILIES.iter().any(|(f, _)| {
            outer.strip_prefix('/') == Some(f)
                && inner
                    .strip_prefix(outer)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
}

/// The data actions a set of assignments grants at `resource`, as a mask: each assigned
/// role is a built-in one or one of the vault's `custom` roles.
pub(crate) fn granted<'a>(
    assignments: impl IntoIterator<Item = &'a RoleAssignment>,
    resource: &str,
    custom: &[CustomRole],
) -> Grant {
    assignments
        .into_iter()
        .filter(|a| scope_covers(&a.scope, resource))
        .filter_map(|a| match role_definition(&a.role_definition_id) {
            Some(r) => Some(r.grant()),
            None => custom
                .iter()
                .find(|c| c.id.eq_ignore_ascii_case(&a.role_definition_id))
                .map(custom_role_grant),
        })
        .fold(Grant::default(), Grant::union)
}

// --- custom role definitions --------------------------------------------------------------

/// Whether a data action pattern names `action`: compared without regard to case, `*`
/// standing for any run of characters (`Microsoft.KeyVault/managedHsm/keys/*`), as Azure
/// reads the data actions of a role definition.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    fn go(p: &[u8], a: &[u8]) -> bool {
        match p.split_first() {
            None => a.is_empty(),
            Some((b'*', rest)) => (0..=a.len()).any(|i| go(rest, &a[i..])),
            Some((c, rest)) => a
                .split_first()
                .is_some_and(|(d, tail)| c.eq_ignore_ascii_case(d) && go(rest, tail)),
        }
    }
    go(pattern.as_bytes(), action.as_bytes())
}

/// What a custom role grants: for each permission block, the data actions its
/// `dataActions` name less those its `notDataActions` name; the union of the blocks.
pub fn custom_role_grant(role: &CustomRole) -> Grant {
    let actions: Vec<DataAction> = DataAction::ALL
        .iter()
        .copied()
        .filter(|a| {
            role.permissions.iter().any(|p| {
                p.data_actions.iter().any(|d| action_matches(d, a.as_str()))
                    && !p
                        .not_data_actions
                        .iter()
                        .any(|d| action_matches(d, a.as_str()))
            })
        })
        .collect();
    Grant::of(&actions)
}

/// Most custom role definitions a vault holds.
pub const MAX_CUSTOM_ROLES: usize = 64;

/// Checks a custom role definition before it is stored and returns it normalized: a GUID
/// name that is not a built-in role's, data actions that each name at least one of Managed
/// HSM's, and assignable scopes that are scopes (`/` when none are given).
fn validated_custom_role(role: CustomRole) -> Result<CustomRole> {
    crate::model::validate_chars("role definition", &role.id, 64, false, " (a GUID)")?;
    if role_definition(&role.id).is_some() {
        return Err(Error::bad_parameter(format!(
            "role definition {:?} is a built-in role, which cannot be changed; give the custom \
             role a new GUID",
            role.id
        )));
    }
    if role.role_name.len() > 512 || role.description.len() > 2048 {
        return Err(Error::bad_parameter(
            "roleName is at most 512 characters and description at most 2048",
        ));
    }
    if role.permissions.len() > 16 {
        return Err(Error::bad_parameter(
            "a role definition has at most 16 permission blocks",
        ));
    }
    for p in &role.permissions {
        for pattern in p.data_actions.iter().chain(&p.not_data_actions) {
            let known = pattern.len() <= 256
                && DataAction::ALL
                    .iter()
                    .any(|a| action_matches(pattern, a.as_str()));
            if !known {
                let shown: String = pattern.chars().take(80).collect();
                return Err(Error::bad_parameter(format!(
                    "data action {shown:?} names none of Managed HSM's data actions \
                     (Microsoft.KeyVault/managedHsm/keys/read/action, ...; `*` is a wildcard)"
                )));
            }
        }
    }
    let mut scopes = Vec::new();
    for s in &role.assignable_scopes {
        let s = normalize_scope(s)?;
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    if scopes.is_empty() {
        scopes.push("/".into());
    }
    Ok(CustomRole {
        id: role.id.to_ascii_lowercase(),
        assignable_scopes: scopes,
        ..role
    })
}

/// The admins' grant: everything their roles allow, everywhere.
pub(crate) fn admin_grant() -> Grant {
    ADMIN_ROLES
        .iter()
        .filter_map(|id| role_definition(id))
        .fold(Grant::default(), |g, r| g.union(r.grant()))
}

// --- access policies -------------------------------------------------------------------

/// What a key permission grants. Key Vault checks `get` on one key (and one deleted key) and
/// `list` on the collections; so `get` reads at object scopes and `list` at `/` and
/// `/keys`. Listing one key's versions therefore takes `get` here.
fn key_permission(p: KeyPermission, object: bool) -> &'static [DataAction] {
    use KeyPermission as K;
    const READ: &[DataAction] = &[A::KeysRead, A::DeletedKeysRead];
    match p {
        K::Get if object => READ,
        K::List if !object => READ,
        K::Get | K::List => &[],
        K::Encrypt => &[A::Encrypt],
        K::Decrypt => &[A::Decrypt],
        K::WrapKey => &[A::Wrap],
        K::UnwrapKey => &[A::Unwrap],
        K::Sign => &[A::Sign],
        K::Verify => &[A::Verify],
        K::Create => &[A::KeysCreate],
        K::Update => &[A::KeysWrite],
        K::Import => &[A::KeysImport],
        K::Delete => &[A::KeysDelete],
        K::Backup => &[A::KeysBackup],
        K::Restore => &[A::KeysRestore],
        K::Recover => &[A::DeletedKeysRecover],
        K::Purge => &[A::DeletedKeysDelete],
        K::Release => &[A::KeysRelease],
        K::Rotate => &[A::KeysRotate],
        // Rotation policies are not served yet; `all` is expanded by the caller.
        K::GetRotationPolicy | K::SetRotationPolicy | K::All => &[],
    }
}

/// What a secret permission grants. `get` reads a value (and a deleted secret) at object
/// scopes; `list` reads metadata everywhere (lists at `/secrets`, a secret's versions at
/// its own scope, which Key Vault also grants to `list`). Key Vault's update secret needs
/// `set`.
fn secret_permission(p: SecretPermission, object: bool) -> &'static [DataAction] {
    use SecretPermission as S;
    match p {
        S::Get if object => &[A::SecretsGet, A::SecretsReadMetadata],
        S::Get => &[],
        S::List => &[A::SecretsReadMetadata],
        S::Set => &[A::SecretsSet, A::SecretsUpdate],
        S::Delete => &[A::SecretsDelete],
        S::Backup => &[A::SecretsBackup],
        S::Restore => &[A::SecretsRestore],
        S::Recover => &[A::SecretsRecover],
        S::Purge => &[A::SecretsPurge],
        S::All => &[],
    }
}

/// What a certificate permission grants (Key Vault's REST reference names the permission
/// each operation needs). As for keys, `get` reads at object scopes (one certificate, its
/// versions, policy, pending operation and deleted state) and `list` at `/certificates`.
/// The vault's contacts and issuers are checked at `/certificates`: `managecontacts`
/// covers reading, setting and deleting contacts (Key Vault has no contacts read action);
/// `manageissuers` covers every issuer operation, `getissuers` and `listissuers` read
/// them, `setissuers` and `deleteissuers` change them.
fn certificate_permission(p: CertificatePermission, object: bool) -> &'static [DataAction] {
    use CertificatePermission as C;
    match p {
        C::Get if object => &[A::CertificatesRead],
        C::List if !object => &[A::CertificatesRead],
        C::Get | C::List => &[],
        C::Update => &[A::CertificatesUpdate],
        C::Create => &[A::CertificatesCreate],
        C::Import => &[A::CertificatesImport],
        C::Delete => &[A::CertificatesDelete],
        C::Recover => &[A::CertificatesRecover],
        C::Backup => &[A::CertificatesBackup],
        C::Restore => &[A::CertificatesRestore],
        C::Purge => &[A::CertificatesPurge],
        C::ManageContacts => &[A::CertificateContactsWrite],
        C::GetIssuers | C::ListIssuers => &[A::CertificateIssuersRead],
        C::SetIssuers => &[A::CertificateIssuersWrite],
        C::DeleteIssuers => &[A::CertificateIssuersDelete],
        C::ManageIssuers => &[
            A::CertificateIssuersRead,
            A::CertificateIssuersWrite,
            A::CertificateIssuersDelete,
        ],
        C::All => &[],
    }
}

/// `all` stands for every permission of its family.
fn expand<P: Copy + PartialEq>(given: &[P], all: P, every: &'static [P]) -> Vec<P> {
    if given.contains(&all) {
        every.to_vec()
    } else {
        given.to_vec()
    }
}

/// What one set of access-policy permissions grants at `scope` (normalized).
pub(crate) fn permissions_grant(p: &Permissions, scope: &str) -> Grant {
    let object = is_object_scope(scope);
    let keys = expand(&p.keys, KeyPermission::All, KeyPermission::EVERY);
    let secrets = expand(&p.secrets, SecretPermission::All, SecretPermission::EVERY);
    let certificates = expand(
        &p.certificates,
        CertificatePermission::All,
        CertificatePermission::EVERY,
    );
    // Certificate permissions grant no key or secret action, as in Key Vault: a
    // certificate's key and secret are reached through the keys and secrets permissions.
    let actions: Vec<DataAction> = keys
        .into_iter()
        .flat_map(|k| key_permission(k, object).iter().copied())
        .chain(
            secrets
                .into_iter()
                .flat_map(|s| secret_permission(s, object).iter().copied()),
        )
        .chain(
            certificates
                .into_iter()
                .flat_map(|c| certificate_permission(c, object).iter().copied()),
        )
        .collect();
    Grant::of(&actions)
}

/// What a vault's access policies grant the caller `object_id` (of `tenant_id`) at `scope`.
pub(crate) fn policy_grant(
    policies: &[AccessPolicyEntry],
    object_id: &str,
    tenant_id: Option<&str>,
    scope: &str,
) -> Grant {
    policies
        .iter()
        .filter(|p| p.matches(object_id, tenant_id))
        .fold(Grant::default(), |g, p| {
            g.union(permissions_grant(&p.permissions, scope))
        })
}

// --- storage -----------------------------------------------------------------------------

/// The table key of a role assignment: `vault/name`, lowercase.
fn assignment_id(vault: &str, name: &str) -> Vec<u8> {
    let mut k = vault_prefix(vault);
    k.extend_from_slice(name.to_ascii_lowercase().as_bytes());
    k
}

fn validate_assignment_name(name: &str) -> Result<()> {
    crate::model::validate_chars("role assignment", name, 64, false, " (a GUID)")
}

/// The authorizer of a vault acting for a caller: the store's [`AccessPolicy`], its
/// `--admin` principals, and the vault's role assignments or access policies.
struct RoleAuthorizer {
    caller: Caller,
    policy: Arc<AccessPolicy>,
}

impl Authorizer for RoleAuthorizer {
    fn caller(&self) -> &Caller {
        &self.caller
    }

    fn grant(&self, vault: &Vault, scope: &str) -> Result<Grant> {
        if !self.policy.enforce {
            return Ok(Grant::ALL);
        }
        let Some(oid) = self.caller.object_id.as_deref() else {
            return Ok(Grant::default());
        };
        if crate::model::access::is_owner(oid) {
            return Ok(Grant::ALL);
        }
        if self.policy.is_admin(oid) {
            return Ok(admin_grant());
        }
        let record = vault.record()?;
        if record.uses_access_policies() {
            return Ok(policy_grant(
                &record.access_policies,
                oid,
                self.caller.tenant_id.as_deref(),
                scope,
            ));
        }
        let mine: Vec<RoleAssignment> = vault
            .role_assignments_raw()?
            .into_iter()
            .filter(|a| a.principal_id.eq_ignore_ascii_case(oid))
            .collect();
        Ok(granted(&mine, scope, &record.custom_roles))
    }
}

impl Store {
    /// A live vault acting for `caller`: when access control is on
    /// ([`Store::set_access_policy`]), every operation checks what the caller may do: by
    /// its role assignments, or by the vault's access policies when the vault chose them.
    pub fn vault_as(&self, name: &str, caller: Caller) -> Result<Vault> {
        let record = self.core().live_vault(name)?;
        let access = RoleAuthorizer {
            caller,
            policy: self.policy(),
        };
        Ok(Vault::new(
            self.clone(),
            record.name.clone(),
            Some(Arc::new(access)),
        ))
    }

    /// Creates a vault with Key Vault's permission model chosen: `enable_rbac_authorization`
    /// `true` (what [`Store::create_vault`] does) lets role assignments decide; `false`
    /// lets the vault's access policies decide, and only a vault of kind `vault` may choose
    /// it (a 400 otherwise).
    pub fn create_vault_with_permission_model(
        &self,
        name: &str,
        options: VaultOptions,
        enable_rbac_authorization: bool,
    ) -> Result<VaultInfo> {
        self.core()
            .create_vault_with(name, options, enable_rbac_authorization)
    }

    /// Switches a live vault's permission model (`enableRbacAuthorization`). Its role
    /// assignments and access policies are both kept; only which of them decides changes.
    pub fn set_rbac_authorization(
        &self,
        vault: &str,
        enable_rbac_authorization: bool,
    ) -> Result<VaultInfo> {
        self.core().update_vault(vault, |r| {
            check_permission_model(r.kind, enable_rbac_authorization)?;
            r.enable_rbac_authorization = enable_rbac_authorization;
            Ok(())
        })
    }

    /// The access policies of a live vault of kind `vault`.
    pub fn vault_access_policies(&self, vault: &str) -> Result<Vec<AccessPolicyEntry>> {
        let record = self.core().live_vault(vault)?;
        require_policy_kind(record.kind, &record.name)?;
        Ok(record.access_policies.clone())
    }

    /// The access policy of `object_id` in a live vault of kind `vault`, if it has one.
    pub fn vault_access_policy(
        &self,
        vault: &str,
        object_id: &str,
    ) -> Result<Option<AccessPolicyEntry>> {
        validate_principal_id("objectId", object_id)?;
        Ok(self
            .vault_access_policies(vault)?
            .into_iter()
            .find(|p| p.object_id.eq_ignore_ascii_case(object_id)))
    }

    /// Sets (adds, or replaces) the access policy of `entry.object_id` in a live vault of
    /// kind `vault`, and returns it as stored (permissions each once, in Key Vault's order).
    /// At most [`MAX_ACCESS_POLICIES`] per vault, as in Azure.
    pub fn set_vault_access_policy(
        &self,
        vault: &str,
        entry: AccessPolicyEntry,
    ) -> Result<AccessPolicyEntry> {
        let entry = entry.validated()?;
        let stored = entry.clone();
        self.core().update_vault(vault, |r| {
            require_policy_kind(r.kind, &r.name)?;
            let at = r
                .access_policies
                .iter()
                .position(|p| p.object_id.eq_ignore_ascii_case(&entry.object_id));
            match at {
                Some(i) => r.access_policies[i] = entry.clone(),
                None if r.access_policies.len() >= MAX_ACCESS_POLICIES => {
                    return Err(Error::bad_parameter(format!(
                        "vault {:?} has {MAX_ACCESS_POLICIES} access policies, the most a \
                         vault may have; delete one first",
                        r.name
                    )))
                }
                None => r.access_policies.push(entry.clone()),
            }
            Ok(())
        })?;
        Ok(stored)
    }

    /// Deletes the access policy of `object_id` from a live vault of kind `vault`; returns
    /// it, or `None` when there was none.
    pub fn delete_vault_access_policy(
        &self,
        vault: &str,
        object_id: &str,
    ) -> Result<Option<AccessPolicyEntry>> {
        validate_principal_id("objectId", object_id)?;
        // The change may run more than once (a transaction retried); the last run's answer
        // is the one that committed.
        let removed = std::sync::Mutex::new(None);
        self.core().update_vault(vault, |r| {
            require_policy_kind(r.kind, &r.name)?;
            let at = r
                .access_policies
                .iter()
                .position(|p| p.object_id.eq_ignore_ascii_case(object_id));
            *removed.lock().unwrap_or_else(|e| e.into_inner()) =
                at.map(|i| r.access_policies.remove(i));
            Ok(())
        })?;
        Ok(removed.into_inner().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Access policies belong to vaults of kind `vault`.
fn require_policy_kind(kind: VaultKind, vault: &str) -> Result<()> {
    if kind != VaultKind::Vault {
        return Err(Error::bad_parameter(format!(
            "vault {vault:?} is a {}: access policies are for vaults of kind vault; a Managed \
             HSM always uses local RBAC (localhsm role ...)",
            kind.as_str()
        )));
    }
    Ok(())
}

impl Vault {
    /// Every assignment in this vault, without an access check (the check itself needs it).
    pub(crate) fn role_assignments_raw(&self) -> Result<Vec<RoleAssignment>> {
        self.core()
            .storage
            .backend()
            .scan(
                Table::RoleAssignments,
                &KeyRange::prefix(&vault_prefix(self.name())),
                usize::MAX,
            )?
            .iter()
            .map(|(_, v)| decode("role assignment", v))
            .collect()
    }

    /// Removes an assignment by name whatever the vault's state, without an access check:
    /// for customer-data deletes.
    pub(crate) fn remove_role_assignment_raw(&self, name: &str) -> Result<()> {
        self.core().storage.backend().apply(&[Write::Delete(
            Table::RoleAssignments,
            assignment_id(self.name(), name),
        )])?;
        self.core().commit()
    }

    /// This vault's access policies whatever its state, without an access check.
    pub(crate) fn access_policies_raw(&self) -> Result<Vec<AccessPolicyEntry>> {
        Ok(self.core().any_vault(self.name())?.access_policies.clone())
    }

    /// Removes the access policies of `object_id` whatever the vault's state (live or
    /// soft-deleted), without an access check: for customer-data deletes. Returns them.
    pub(crate) fn remove_access_policies_raw(
        &self,
        object_id: &str,
    ) -> Result<Vec<AccessPolicyEntry>> {
        let removed: Vec<AccessPolicyEntry> = self
            .access_policies_raw()?
            .into_iter()
            .filter(|p| p.object_id.eq_ignore_ascii_case(object_id))
            .collect();
        if !removed.is_empty() {
            self.core().update_any_vault(self.name(), |r| {
                r.access_policies
                    .retain(|p| !p.object_id.eq_ignore_ascii_case(object_id));
                Ok(())
            })?;
        }
        Ok(removed)
    }

    /// Role assignments; with `at_or_above`, only those that apply at that scope: at it or
    /// above it (`/keys/k` sees `/`, `/keys` and `/keys/k`), as Key Vault's `atScope()`
    /// filter does.
    pub fn list_role_assignments(&self, at_or_above: Option<&str>) -> Result<Vec<RoleAssignment>> {
        self.require(DataAction::RoleAssignmentsRead, "/")?;
        self.record()?;
        let scope = at_or_above.map(normalize_scope).transpose()?;
        Ok(self
            .role_assignments_raw()?
            .into_iter()
            .filter(|a| scope.as_deref().is_none_or(|s| scope_contains(&a.scope, s)))
            .collect())
    }

    /// One role assignment by name, at `scope`.
    pub fn role_assignment(&self, scope: &str, name: &str) -> Result<RoleAssignment> {
        self.require(DataAction::RoleAssignmentsRead, "/")?;
        self.record()?;
        self.load_assignment_at(scope, name)
    }

    /// The assignment `name`, which must live at `scope`: its id is
    /// `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`.
    fn load_assignment_at(&self, scope: &str, name: &str) -> Result<RoleAssignment> {
        let scope = normalize_scope(scope)?;
        let not_found = || Error::RoleAssignmentNotFound {
            name: name.to_string(),
        };
        let a: RoleAssignment = self
            .core()
            .storage
            .get_as(
                Table::RoleAssignments,
                &assignment_id(self.name(), name),
                "role assignment",
            )?
            .ok_or_else(not_found)?;
        if a.scope != scope {
            return Err(not_found());
        }
        Ok(a)
    }

    /// Creates (or replaces) the assignment `name`: `principal_id` holds the role
    /// `role_definition_id` (a GUID or a role definition's id path) at `scope`. The role must
    /// be one this vault offers ([`Vault::role_definitions`]), and a secrets scope needs a
    /// vault that holds secrets and a role that grants something on them.
    pub fn create_role_assignment(
        &self,
        scope: &str,
        name: &str,
        role_definition_id: &str,
        principal_id: &str,
    ) -> Result<RoleAssignment> {
        self.require(DataAction::RoleAssignmentsWrite, "/")?;
        let vault = self.record()?;
        validate_assignment_name(name)?;
        let guid = role_definition_id
            .rsplit('/')
            .next()
            .unwrap_or(role_definition_id);
        if let Some(custom) = vault
            .custom_roles
            .iter()
            .find(|c| c.id.eq_ignore_ascii_case(guid))
        {
            return self.assign_custom_role(scope, name, custom, principal_id);
        }
        let role =
            role_definition(role_definition_id).ok_or_else(|| Error::RoleDefinitionNotFound {
                id: role_definition_id.to_string(),
            })?;
        if !role.family.available_in(vault.kind, &vault.name) {
            return Err(Error::bad_parameter(format!(
                "role {:?} is {}, which cannot be assigned in vault {:?} (a {}); \
                 `localhsm role definitions` lists the roles it offers",
                role.name,
                role.family.label(),
                vault.name,
                vault.kind.as_str()
            )));
        }
        if principal_id.trim().is_empty() || principal_id.len() > 128 {
            return Err(Error::bad_parameter(
                "principalId must be the principal's object ID",
            ));
        }
        let normalized = normalize_scope(scope)?;
        if let Some(kind @ (ObjectKind::Secret | ObjectKind::Certificate)) = scope_kind(&normalized)
        {
            let (objects, roles) = match kind {
                ObjectKind::Secret => (
                    "secrets",
                    "Key Vault Secrets User, Key Vault Secrets Officer",
                ),
                _ => (
                    "certificates",
                    "Key Vault Certificates Officer, Key Vault Certificate User",
                ),
            };
            let why = if !holds(vault.kind, &vault.name, kind) {
                Some(format!("vault {:?} holds no {objects}", vault.name))
            } else if role.family == RoleFamily::ManagedHsm {
                Some(format!(
                    "{:?} is a Managed HSM role, which grants nothing on {objects}; assign a \
                     Key Vault role ({roles}, ...)",
                    role.name
                ))
            } else {
                None
            };
            if let Some(why) = why {
                return Err(Error::bad_parameter(format!(
                    "scope {scope:?} is invalid here: {why}"
                )));
            }
        }
        let assignment = RoleAssignment {
            name: name.to_ascii_lowercase(),
            scope: normalized,
            role_definition_id: role.id.to_string(),
            principal_id: principal_id.to_string(),
        };
        self.put_assignment(assignment)
    }

    /// Stores `assignment` under its name, unless the name is taken at another scope: a
    /// name is bound to its scope (Azure answers 409), so a PUT elsewhere never moves it.
    /// At its own scope a PUT replaces it (the same content: no change).
    fn put_assignment(&self, assignment: RoleAssignment) -> Result<RoleAssignment> {
        let id = assignment_id(self.name(), &assignment.name);
        let existing: Option<RoleAssignment> =
            self.core()
                .storage
                .get_as(Table::RoleAssignments, &id, "role assignment")?;
        if let Some(e) = existing.filter(|e| e.scope != assignment.scope) {
            return Err(Error::RoleAssignmentExists {
                name: assignment.name,
                scope: e.scope,
            });
        }
        self.core().storage.backend().apply(&[Write::Put(
            Table::RoleAssignments,
            id,
            encode(&assignment),
        )])?;
        self.core().commit()?;
        Ok(assignment)
    }

    /// Deletes the assignment `name` at `scope` and returns it.
    pub fn delete_role_assignment(&self, scope: &str, name: &str) -> Result<RoleAssignment> {
        self.require(DataAction::RoleAssignmentsDelete, "/")?;
        self.record()?;
        let assignment = self.load_assignment_at(scope, name)?;
        self.core().storage.backend().apply(&[Write::Delete(
            Table::RoleAssignments,
            assignment_id(self.name(), name),
        )])?;
        self.core().commit()?;
        Ok(assignment)
    }

    /// The role definitions this vault offers: Managed HSM's built-in roles in a
    /// `managedhsm` vault, Key Vault's in a vault of kind `vault`, both in the default vault.
    pub fn role_definitions(&self) -> Result<Vec<&'static RoleDefinition>> {
        self.require(DataAction::RoleDefinitionsRead, "/")?;
        let vault = self.record()?;
        Ok(roles_available_in(vault.kind, &vault.name).collect())
    }

    /// The vault's custom role definitions, in the order they were made.
    pub fn custom_roles(&self) -> Result<Vec<CustomRole>> {
        self.require(DataAction::RoleDefinitionsRead, "/")?;
        Ok(self.record()?.custom_roles.clone())
    }

    /// The custom role definition `id` (a GUID, or a role definition id path ending in one).
    pub fn custom_role(&self, id: &str) -> Result<CustomRole> {
        let guid = id.rsplit('/').next().unwrap_or(id);
        self.custom_roles()?
            .into_iter()
            .find(|c| c.id.eq_ignore_ascii_case(guid))
            .ok_or_else(|| Error::RoleDefinitionNotFound { id: id.to_string() })
    }

    /// Creates, or replaces, the custom role definition `role.id`, defined at `scope`
    /// (Managed HSM defines roles at `/` only). Its role name may not be another role's.
    /// Returns it as stored.
    pub fn set_custom_role(&self, scope: &str, role: CustomRole) -> Result<CustomRole> {
        self.require(DataAction::RoleDefinitionsWrite, "/")?;
        self.record()?;
        if normalize_scope(scope)? != "/" {
            return Err(Error::bad_parameter(format!(
                "role definitions are made at scope \"/\", not {scope:?}; narrow where one \
                 applies with assignableScopes"
            )));
        }
        let role = validated_custom_role(role)?;
        let stored = role.clone();
        self.core().update_vault(self.name(), |r| {
            let clash = !role.role_name.is_empty()
                && (BUILT_IN_ROLES
                    .iter()
                    .any(|b| b.name.eq_ignore_ascii_case(&role.role_name))
                    || r.custom_roles.iter().any(|c| {
                        c.id != role.id && c.role_name.eq_ignore_ascii_case(&role.role_name)
                    }));
            if clash {
                return Err(Error::bad_parameter(format!(
                    "a role named {:?} already exists; role names are unique",
                    role.role_name
                )));
            }
            match r.custom_roles.iter().position(|c| c.id == role.id) {
                Some(i) => r.custom_roles[i] = role.clone(),
                None if r.custom_roles.len() >= MAX_CUSTOM_ROLES => {
                    return Err(Error::bad_parameter(format!(
                        "vault {:?} has {MAX_CUSTOM_ROLES} custom role definitions, the most \
                         it may have; delete one first",
                        r.name
                    )))
                }
                None => r.custom_roles.push(role.clone()),
            }
            Ok(())
        })?;
        Ok(stored)
    }

    /// Deletes the custom role definition `id` and returns it. A built-in role cannot be
    /// deleted, nor a role that assignments still hold (delete those first).
    pub fn delete_custom_role(&self, scope: &str, id: &str) -> Result<CustomRole> {
        self.require(DataAction::RoleDefinitionsDelete, "/")?;
        self.record()?;
        normalize_scope(scope)?;
        if let Some(b) = role_definition(id) {
            return Err(Error::bad_parameter(format!(
                "{:?} is a built-in role definition, which cannot be deleted",
                b.name
            )));
        }
        let role = self.custom_role(id)?;
        let holders: Vec<String> = self
            .role_assignments_raw()?
            .into_iter()
            .filter(|a| a.role_definition_id.eq_ignore_ascii_case(&role.id))
            .map(|a| a.name)
            .collect();
        if !holders.is_empty() {
            return Err(Error::bad_parameter(format!(
                "role definition {:?} is assigned by role assignments {}; delete them first",
                role.id,
                holders.join(", ")
            )));
        }
        self.core().update_vault(self.name(), |r| {
            r.custom_roles.retain(|c| c.id != role.id);
            Ok(())
        })?;
        Ok(role)
    }

    /// Assigns a custom role: at a scope its `assignableScopes` contain.
    fn assign_custom_role(
        &self,
        scope: &str,
        name: &str,
        role: &CustomRole,
        principal_id: &str,
    ) -> Result<RoleAssignment> {
        if principal_id.trim().is_empty() || principal_id.len() > 128 {
            return Err(Error::bad_parameter(
                "principalId must be the principal's object ID",
            ));
        }
        let normalized = normalize_scope(scope)?;
        if !role
            .assignable_scopes
            .iter()
            .any(|s| scope_contains(s, &normalized))
        {
            return Err(Error::bad_parameter(format!(
                "role {:?} may be assigned at {}, not at {scope:?}",
                role.id,
                role.assignable_scopes.join(", ")
            )));
        }
        let vault = self.record()?;
        if let Some(kind) = scope_kind(&normalized) {
            if !holds(vault.kind, &vault.name, kind) {
                return Err(Error::bad_parameter(format!(
                    "scope {scope:?} is invalid here: vault {:?} holds no {}s",
                    vault.name,
                    kind.noun()
                )));
            }
        }
        let assignment = RoleAssignment {
            name: name.to_ascii_lowercase(),
            scope: normalized,
            role_definition_id: role.id.clone(),
            principal_id: principal_id.to_string(),
        };
        self.put_assignment(assignment)
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

    fn role(name: &str) -> &'static RoleDefinition {
        BUILT_IN_ROLES
            .iter()
            .find(|r| r.name.ends_with(name))
            .unwrap()
    }

    /// Per role: actions it must grant at `at`, and actions it must not.
    type Case<'a> = (&'a str, &'a str, &'a [DataAction], &'a [DataAction]);

    fn check(cases: &[Case<'_>]) {
        for (name, at, allowed, denied) in cases {
            let grant = granted(&[assignment(role(name).id, "/")], at, &[]);
            for a in *allowed {
                assert!(grant.allows(*a), "{name} must allow {a:?} at {at}");
            }
            for a in *denied {
                assert!(!grant.allows(*a), "{name} must not allow {a:?} at {at}");
            }
        }
    }

    #[test]
    fn built_in_roles_allow_and_deny_as_managed_hsm_does() {
        check(&[
            (
                "Crypto User",
                "/keys/k",
                &[A::Sign, A::KeysCreate, A::Rng],
                &[
                    A::DeletedKeysDelete,
                    A::KeysExport,
                    A::DeletedKeysRecover,
                    A::RoleAssignmentsWrite,
                    A::SecretsGet,
                ],
            ),
            (
                "Crypto Officer",
                "/keys/k",
                &[
                    A::DeletedKeysDelete,
                    A::DeletedKeysRecover,
                    A::KeysExport,
                    A::RoleAssignmentsWrite,
                ],
                &[A::Sign, A::KeysCreate],
            ),
            (
                "HSM Administrator",
                "/keys/k",
                &[A::RoleAssignmentsWrite, A::BackupStart],
                &[A::Sign, A::KeysRead],
            ),
            (
                "Policy Administrator",
                "/keys/k",
                &[A::RoleAssignmentsDelete],
                &[A::KeysRead],
            ),
            (
                "Crypto Auditor",
                "/keys/k",
                &[A::KeysRead, A::DeletedKeysRead],
                &[A::Sign, A::DeletedKeysDelete],
            ),
            (
                "Service Encryption User",
                "/keys/k",
                &[A::Wrap, A::Unwrap],
                &[A::Decrypt, A::Sign],
            ),
            (
                "Service Release User",
                "/keys/k",
                &[A::KeysRelease],
                &[A::KeysRead],
            ),
            ("HSM Backup", "/keys/k", &[A::KeysBackup], &[A::KeysRestore]),
            (
                "HSM Restore",
                "/keys/k",
                &[A::KeysRestore],
                &[A::KeysBackup],
            ),
        ]);
    }

    #[test]
    fn key_vault_roles_allow_and_deny_as_azure_does() {
        let every_secret_action = [
            A::SecretsGet,
            A::SecretsReadMetadata,
            A::SecretsSet,
            A::SecretsUpdate,
            A::SecretsDelete,
            A::SecretsBackup,
            A::SecretsRestore,
            A::SecretsRecover,
            A::SecretsPurge,
        ];
        let every_certificate_action: Vec<DataAction> = A::ALL
            .iter()
            .copied()
            .filter(|a| {
                a.as_str()
                    .starts_with("Microsoft.KeyVault/vaults/certificate")
            })
            .collect();
        assert_eq!(every_certificate_action.len(), 13);
        check(&[
            (
                "Key Vault Secrets User",
                "/secrets/s",
                &[A::SecretsGet, A::SecretsReadMetadata],
                &[
                    A::SecretsSet,
                    A::SecretsUpdate,
                    A::SecretsDelete,
                    A::SecretsPurge,
                    A::SecretsBackup,
                    A::KeysRead,
                    A::RoleAssignmentsRead,
                ],
            ),
            (
                "Key Vault Secrets Officer",
                "/secrets/s",
                &every_secret_action,
                &[A::KeysRead, A::Sign, A::RoleAssignmentsWrite],
            ),
            (
                "Key Vault Reader",
                "/secrets/s",
                &[A::SecretsReadMetadata, A::RoleAssignmentsRead],
                &[A::SecretsGet, A::SecretsSet, A::SecretsDelete],
            ),
            (
                "Key Vault Reader",
                "/keys/k",
                &[A::KeysRead, A::DeletedKeysRead],
                &[A::Sign, A::Decrypt, A::KeysCreate, A::KeysBackup],
            ),
            (
                "Key Vault Administrator",
                "/secrets/s",
                &every_secret_action,
                &[A::RoleAssignmentsWrite, A::RoleAssignmentsDelete],
            ),
            (
                "Key Vault Administrator",
                "/certificates/c",
                &every_certificate_action,
                &[A::RoleAssignmentsWrite],
            ),
            (
                "Key Vault Certificates Officer",
                "/certificates/c",
                &every_certificate_action,
                // Not the certificate's secret (its PFX) or key: those are the secrets and
                // keys roles' business.
                &[
                    A::SecretsGet,
                    A::SecretsReadMetadata,
                    A::KeysRead,
                    A::Sign,
                    A::RoleAssignmentsWrite,
                ],
            ),
            (
                "Key Vault Certificate User",
                "/certificates/c",
                &[A::CertificatesRead],
                &[
                    A::CertificatesCreate,
                    A::CertificatesImport,
                    A::CertificatesUpdate,
                    A::CertificatesDelete,
                    A::CertificatesPurge,
                    A::CertificateContactsWrite,
                    A::CertificateIssuersRead,
                    A::RoleAssignmentsRead,
                ],
            ),
            (
                // Its contents: the secret's value (the PFX or PEM) and the key's public part.
                "Key Vault Certificate User",
                "/secrets/c",
                &[A::SecretsGet, A::SecretsReadMetadata],
                &[A::SecretsSet, A::SecretsDelete],
            ),
            (
                "Key Vault Certificate User",
                "/keys/c",
                &[A::KeysRead],
                &[A::Sign, A::Decrypt, A::KeysDelete, A::DeletedKeysRead],
            ),
            (
                "Key Vault Reader",
                "/certificates/c",
                &[A::CertificatesRead, A::CertificateIssuersRead],
                // Contacts have no read action: `certificatecontacts/write` reads them.
                &[
                    A::CertificateContactsWrite,
                    A::CertificatesCreate,
                    A::CertificatesImport,
                    A::CertificatesDelete,
                    A::CertificateIssuersWrite,
                    A::CertificateIssuersDelete,
                ],
            ),
            (
                "Key Vault Secrets Officer",
                "/certificates/c",
                &[],
                &every_certificate_action,
            ),
            (
                "Key Vault Administrator",
                "/keys/k",
                &[
                    A::KeysCreate,
                    A::Sign,
                    A::Decrypt,
                    A::DeletedKeysDelete,
                    A::KeysRelease,
                ],
                // Not Managed HSM's own: export, the security domain, full backup, rng.
                &[
                    A::KeysExport,
                    A::SecurityDomainDownload,
                    A::BackupStart,
                    A::RestoreStart,
                    A::Rng,
                ],
            ),
        ]);
    }

    #[test]
    fn key_vault_roles_publish_azures_ids_and_strings() {
        let published = |name: &str| role(name).published_data_actions();
        assert_eq!(
            role("Key Vault Administrator").id,
            "00482a5a-887f-4fb3-b363-3b7fe8e74483"
        );
        assert_eq!(
            published("Key Vault Administrator"),
            ["Microsoft.KeyVault/vaults/*"]
        );
        assert_eq!(
            role("Key Vault Secrets Officer").id,
            "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
        );
        assert_eq!(
            published("Key Vault Secrets Officer"),
            ["Microsoft.KeyVault/vaults/secrets/*"]
        );
        assert_eq!(
            role("Key Vault Secrets User").id,
            "4633458b-17de-408a-b874-0445c86b69e6"
        );
        assert_eq!(
            published("Key Vault Secrets User"),
            [
                "Microsoft.KeyVault/vaults/secrets/getSecret/action",
                "Microsoft.KeyVault/vaults/secrets/readMetadata/action"
            ]
        );
        assert!(role("Key Vault Secrets User")
            .published_actions()
            .is_empty());
        assert_eq!(
            role("Key Vault Reader").id,
            "21090545-7ca7-4776-b22c-e363652d74d2"
        );
        assert_eq!(
            published("Key Vault Reader"),
            [
                "Microsoft.KeyVault/vaults/*/read",
                "Microsoft.KeyVault/vaults/secrets/readMetadata/action"
            ]
        );
        assert!(role("Key Vault Reader")
            .published_actions()
            .contains(&"Microsoft.Authorization/*/read"));
        assert_eq!(
            role("Key Vault Certificates Officer").id,
            "a4417e6f-fecd-4de8-b567-7b0420556985"
        );
        assert_eq!(
            published("Key Vault Certificates Officer"),
            [
                "Microsoft.KeyVault/vaults/certificatecas/*",
                "Microsoft.KeyVault/vaults/certificates/*",
                "Microsoft.KeyVault/vaults/certificatecontacts/write"
            ]
        );
        assert_eq!(
            role("Key Vault Certificates Officer").published_actions(),
            KEY_VAULT_ACTIONS
        );
        assert_eq!(
            role("Key Vault Certificate User").id,
            "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba"
        );
        assert_eq!(
            published("Key Vault Certificate User"),
            [
                "Microsoft.KeyVault/vaults/certificates/read",
                "Microsoft.KeyVault/vaults/secrets/getSecret/action",
                "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
                "Microsoft.KeyVault/vaults/keys/read"
            ]
        );
        assert!(role("Key Vault Certificate User")
            .published_actions()
            .is_empty());
        // Each trailing wildcard a Key Vault role publishes (`vaults/certificates/*`) is
        // granted in full: every action here whose name it matches.
        for r in BUILT_IN_ROLES
            .iter()
            .filter(|r| r.family == RoleFamily::KeyVault)
        {
            for p in r.published_data_actions() {
                let Some(prefix) = p.strip_suffix('*').filter(|p| !p.contains('*')) else {
                    continue;
                };
                let covered: Vec<_> = A::ALL
                    .iter()
                    .filter(|a| a.as_str().starts_with(prefix))
                    .collect();
                assert!(!covered.is_empty(), "{p} matches no action");
                for a in covered {
                    assert!(
                        r.data_actions.contains(a),
                        "{} publishes {p}: {a:?}",
                        r.name
                    );
                }
            }
        }
        // A Managed HSM role publishes exactly what it grants.
        let user = role("Managed HSM Crypto User");
        assert_eq!(user.published_data_actions().len(), user.data_actions.len());
        assert!(user
            .published_data_actions()
            .contains(&"Microsoft.KeyVault/managedHsm/keys/sign/action"));
        // Every id is distinct, and each published data action of a Key Vault role that
        // names one action exactly (no wildcard) is one it grants. Key Vault's key actions
        // are granted as Managed HSM's (`vaults/keys/read` is `managedHsm/keys/read/action`).
        let ids: std::collections::HashSet<&str> = BUILT_IN_ROLES.iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), BUILT_IN_ROLES.len());
        fn as_granted(p: &str) -> &str {
            match p {
                "Microsoft.KeyVault/vaults/keys/read" => A::KeysRead.as_str(),
                other => other,
            }
        }
        for r in BUILT_IN_ROLES {
            for p in r
                .published_data_actions()
                .iter()
                .filter(|p| !p.contains('*'))
            {
                assert!(
                    r.data_actions.iter().any(|a| a.as_str() == as_granted(p)),
                    "{} publishes {p} but does not grant it",
                    r.name
                );
            }
        }
    }

    #[test]
    fn data_action_patterns_match_as_azure_reads_them() {
        let sign = A::Sign.as_str();
        assert!(action_matches(sign, sign));
        assert!(action_matches(
            "microsoft.keyvault/MANAGEDHSM/keys/sign/action",
            sign
        ));
        assert!(action_matches("Microsoft.KeyVault/managedHsm/keys/*", sign));
        assert!(action_matches(
            "Microsoft.KeyVault/managedHsm/*/sign/action",
            sign
        ));
        assert!(action_matches("*", sign));
        assert!(!action_matches(
            "Microsoft.KeyVault/managedHsm/keys/sign",
            sign
        ));
        assert!(!action_matches(
            "Microsoft.KeyVault/managedHsm/keys/verify/action",
            sign
        ));
        assert!(!action_matches("", sign));
    }

    #[test]
    fn custom_roles_grant_their_actions_less_the_excluded_ones() {
        let custom = |allow: &[&str], deny: &[&str]| CustomRole {
            id: "c1".into(),
            role_name: String::new(),
            description: String::new(),
            permissions: vec![RolePermissions {
                data_actions: allow.iter().map(|s| s.to_string()).collect(),
                not_data_actions: deny.iter().map(|s| s.to_string()).collect(),
                ..RolePermissions::default()
            }],
            assignable_scopes: vec!["/".into()],
        };
        let keys_but_delete = custom(
            &["Microsoft.KeyVault/managedHsm/keys/*"],
            &[
                "Microsoft.KeyVault/managedHsm/keys/delete",
                "*/deletedKeys/*",
            ],
        );
        let g = custom_role_grant(&keys_but_delete);
        for a in [A::Sign, A::KeysRead, A::KeysCreate, A::KeysExport] {
            assert!(g.allows(a), "{a:?}");
        }
        for a in [
            A::KeysDelete,
            A::DeletedKeysDelete,
            A::DeletedKeysRecover,
            A::Rng,
            A::RoleAssignmentsWrite,
            A::SecretsGet,
        ] {
            assert!(!g.allows(a), "{a:?}");
        }
        // Assigned: the grant follows the assignment's scope, as a built-in role's does.
        let at = |scope: &str, resource: &str| {
            let mut a = assignment("c1", scope);
            a.role_definition_id = "C1".into();
            granted(&[a], resource, std::slice::from_ref(&keys_but_delete))
        };
        assert!(at("/keys/k", "/keys/k").allows(A::Sign));
        assert!(!at("/keys/k", "/keys/other").allows(A::Sign));
        assert!(at("/", "/keys/other").allows(A::Sign));
        // An assignment of a role the vault does not define grants nothing.
        assert!(!granted(&[assignment("c2", "/")], "/keys/k", &[keys_but_delete]).allows(A::Sign));
        // Blocks are unioned; an exclusion applies to its own block.
        let mut two = custom(&[A::Sign.as_str()], &[]);
        two.permissions.push(RolePermissions {
            data_actions: vec![A::Verify.as_str().into()],
            not_data_actions: vec![A::Sign.as_str().into()],
            ..RolePermissions::default()
        });
        let g = custom_role_grant(&two);
        assert!(g.allows(A::Sign) && g.allows(A::Verify) && !g.allows(A::KeysRead));
    }

    #[test]
    fn custom_roles_are_checked_before_they_are_stored() {
        let ok = CustomRole {
            id: "0B2C3D4E-0000-4000-8000-000000000001".into(),
            role_name: "r".into(),
            description: String::new(),
            permissions: vec![RolePermissions {
                data_actions: vec!["Microsoft.KeyVault/managedHsm/keys/*".into()],
                ..RolePermissions::default()
            }],
            assignable_scopes: vec!["/KEYS".into(), "/keys".into()],
        };
        let v = validated_custom_role(ok.clone()).unwrap();
        assert_eq!(v.id, "0b2c3d4e-0000-4000-8000-000000000001");
        assert_eq!(v.assignable_scopes, ["/keys"]);
        let built_in = CustomRole {
            id: "21dbd100-6940-42c2-9190-5d6cb909625b".into(),
            ..ok.clone()
        };
        assert!(validated_custom_role(built_in).is_err());
        let mut unknown = ok.clone();
        unknown.permissions[0].data_actions = vec!["Microsoft.Compute/*".into()];
        assert!(validated_custom_role(unknown).is_err());
        let mut bad_scope = ok;
        bad_scope.assignable_scopes = vec!["/nowhere".into()];
        assert!(validated_custom_role(bad_scope).is_err());
    }

    #[test]
    fn roles_belong_to_vault_kinds() {
        let names = |kind, vault| -> Vec<&str> {
            roles_available_in(kind, vault).map(|r| r.name).collect()
        };
        let hsm = names(VaultKind::ManagedHsm, "hsm");
        assert!(hsm.iter().all(|n| n.starts_with("Managed HSM")) && hsm.len() == 9);
        let kv = names(VaultKind::Vault, "kv");
        assert_eq!(
            kv,
            [
                "Key Vault Administrator",
                "Key Vault Certificate User",
                "Key Vault Certificates Officer",
                "Key Vault Reader",
                "Key Vault Secrets Officer",
                "Key Vault Secrets User"
            ]
        );
        assert_eq!(
            names(VaultKind::ManagedHsm, crate::model::DEFAULT_VAULT).len(),
            15
        );
    }

    #[test]
    fn scopes() {
        let user = "21dbd100-6940-42c2-9190-5d6cb909625b";
        let secrets_user = "4633458b-17de-408a-b874-0445c86b69e6";
        let path =
            format!("Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{user}");
        assert!(granted(&[assignment(&path, "/keys/k")], "/keys/k", &[]).allows(A::Sign));
        assert!(!granted(&[assignment(user, "/keys/other")], "/keys/k", &[]).allows(A::Sign));
        assert!(granted(&[assignment(user, "/keys")], "/keys/k", &[]).allows(A::Sign));
        assert!(granted(&[assignment(user, "/keys")], "/", &[]).allows(A::Rng));
        assert_eq!(normalize_scope("/keys/MyKey/").unwrap(), "/keys/mykey");
        assert_eq!(normalize_scope("").unwrap(), "/");
        assert_eq!(
            normalize_scope("/Secrets/DbPassword").unwrap(),
            "/secrets/dbpassword"
        );
        assert_eq!(normalize_scope("secrets").unwrap(), "/secrets");
        assert!(normalize_scope("/secrets/bad_name").is_err());
        assert_eq!(normalize_scope("/Certificates").unwrap(), "/certificates");
        assert_eq!(
            normalize_scope("certificates/WebTls/").unwrap(),
            "/certificates/webtls"
        );
        assert!(normalize_scope("/certificates/bad.name").is_err());
        assert!(normalize_scope("/certificates/a/b").is_err());
        assert!(normalize_scope("/certificatecas").is_err());
        assert!(normalize_scope("/keys/a/b").is_err());
        // Secrets scopes: a secret's scope covers that secret only; /keys covers no secret.
        let get = |at: &str, resource: &str| {
            granted(&[assignment(secrets_user, at)], resource, &[]).allows(A::SecretsGet)
        };
        assert!(get("/secrets/db", "/secrets/db"));
        assert!(!get("/secrets/db", "/secrets/other"));
        assert!(get("/secrets", "/secrets/other") && get("/", "/secrets/other"));
        assert!(!get("/keys", "/secrets/db"));
        assert!(!granted(&[assignment(user, "/secrets")], "/keys/k", &[]).allows(A::Sign));
        assert!(
            scope_contains("/secrets", "/secrets/db") && !scope_contains("/keys", "/secrets/db")
        );
        // Certificate scopes: `/certificates` covers every certificate, and the contacts
        // and issuers (checked at `/certificates`); neither `/keys` nor `/secrets` does.
        let officer = "a4417e6f-fecd-4de8-b567-7b0420556985";
        let cert = |at: &str, resource: &str, a: DataAction| {
            granted(&[assignment(officer, at)], resource, &[]).allows(a)
        };
        assert!(cert(
            "/certificates/web",
            "/certificates/web",
            A::CertificatesDelete
        ));
        assert!(!cert(
            "/certificates/web",
            "/certificates/api",
            A::CertificatesDelete
        ));
        assert!(
            !cert("/certificates/web", "/certificates", A::CertificatesRead),
            "one certificate's scope lists nothing"
        );
        assert!(cert(
            "/certificates",
            "/certificates/api",
            A::CertificatesPurge
        ));
        assert!(cert(
            "/certificates",
            "/certificates",
            A::CertificateIssuersWrite
        ));
        assert!(cert("/", "/certificates", A::CertificateContactsWrite));
        assert!(!cert("/keys", "/certificates/web", A::CertificatesRead));
        assert!(!cert("/secrets", "/certificates/web", A::CertificatesRead));
        assert!(!cert("/keys", "/certificates", A::CertificateContactsWrite));
        assert!(!granted(
            &[assignment(secrets_user, "/certificates")],
            "/secrets/web",
            &[]
        )
        .allows(A::SecretsGet));
        assert!(scope_contains("/certificates", "/certificates/web"));
        assert!(!scope_contains("/certificates", "/certificatesx/web"));
        assert!(!scope_contains("/certificates/web", "/certificates"));
        assert!(!scope_contains("/secrets", "/certificates/web"));
        assert!(!scope_contains("/keys", "/certificates"));
        assert!(is_object_scope("/certificates/web") && !is_object_scope("/certificates"));
        assert!(!is_object_scope("/") && is_object_scope("/keys/k"));
        let admin = admin_grant();
        assert!(A::ALL
            .iter()
            .filter(|a| a
                .as_str()
                .starts_with("Microsoft.KeyVault/vaults/certificate"))
            .all(|a| admin.allows(*a)));
        assert!(admin.allows(A::Sign) && admin.allows(A::DeletedKeysDelete));
        assert!(admin.allows(A::SecretsGet) && admin.allows(A::SecretsPurge));
        assert!(A::ALL
            .iter()
            .filter(|a| a.as_str().contains("/secrets/"))
            .all(|a| admin.allows(*a)));
    }

    fn entry(
        oid: &str,
        tenant: Option<&str>,
        keys: &[KeyPermission],
        secrets: &[SecretPermission],
    ) -> AccessPolicyEntry {
        AccessPolicyEntry {
            tenant_id: tenant.map(str::to_string),
            object_id: oid.into(),
            permissions: Permissions {
                keys: keys.to_vec(),
                secrets: secrets.to_vec(),
                certificates: Vec::new(),
            },
        }
    }

    #[test]
    fn access_policy_permissions_map_to_key_vaults_checks() {
        use KeyPermission as K;
        use SecretPermission as S;
        let at = |e: &AccessPolicyEntry, scope: &str| {
            policy_grant(std::slice::from_ref(e), "o", None, scope)
        };
        let reader = entry("o", None, &[], &[S::Get]);
        assert!(at(&reader, "/secrets/s").allows(A::SecretsGet));
        assert!(
            !at(&reader, "/secrets").allows(A::SecretsReadMetadata),
            "get does not list"
        );
        assert!(!at(&reader, "/secrets/s").allows(A::SecretsSet));
        let lister = entry("o", None, &[K::List], &[S::List]);
        assert!(at(&lister, "/secrets").allows(A::SecretsReadMetadata));
        assert!(at(&lister, "/secrets/s").allows(A::SecretsReadMetadata));
        assert!(
            !at(&lister, "/secrets/s").allows(A::SecretsGet),
            "list reads no value"
        );
        assert!(
            at(&lister, "/keys").allows(A::KeysRead)
                && at(&lister, "/keys").allows(A::DeletedKeysRead)
        );
        assert!(!at(&lister, "/keys/k").allows(A::KeysRead));
        let setter = entry("o", None, &[], &[S::Set]);
        assert!(at(&setter, "/secrets/s").allows(A::SecretsSet));
        assert!(
            at(&setter, "/secrets/s").allows(A::SecretsUpdate),
            "update needs set"
        );
        let crypto = entry("o", None, &[K::Get, K::Sign, K::WrapKey, K::Purge], &[]);
        let g = at(&crypto, "/keys/k");
        assert!(g.allows(A::KeysRead) && g.allows(A::Sign) && g.allows(A::Wrap));
        assert!(g.allows(A::DeletedKeysDelete) && !g.allows(A::Unwrap) && !g.allows(A::Decrypt));
        let everything = entry("o", None, &[K::All], &[S::All]);
        for scope in ["/keys/k", "/secrets/s"] {
            let g = at(&everything, scope);
            for a in [
                A::KeysRead,
                A::KeysCreate,
                A::Sign,
                A::KeysRelease,
                A::SecretsGet,
                A::SecretsPurge,
            ] {
                assert!(g.allows(a), "all allows {a:?} at {scope}");
            }
            // Neither Managed HSM's own actions nor role management come with any policy.
            for a in [
                A::KeysExport,
                A::Rng,
                A::RoleAssignmentsRead,
                A::RoleAssignmentsWrite,
            ] {
                assert!(!g.allows(a), "all does not allow {a:?}");
            }
        }
        // Only the caller's own entry counts, and a tenant, when named, must match.
        let tenanted = entry("O", Some("T1"), &[], &[S::Get]);
        assert!(policy_grant(
            std::slice::from_ref(&tenanted),
            "o",
            Some("t1"),
            "/secrets/s"
        )
        .allows(A::SecretsGet));
        assert!(!policy_grant(
            std::slice::from_ref(&tenanted),
            "o",
            Some("t2"),
            "/secrets/s"
        )
        .allows(A::SecretsGet));
        assert!(!policy_grant(&[tenanted], "o", None, "/secrets/s").allows(A::SecretsGet));
        assert!(!policy_grant(&[reader], "other", None, "/secrets/s").allows(A::SecretsGet));
    }

    #[test]
    fn certificate_permissions_map_to_key_vaults_checks() {
        use CertificatePermission as C;
        let of = |perms: &[C], scope: &str| {
            permissions_grant(
                &Permissions {
                    certificates: perms.to_vec(),
                    ..Permissions::default()
                },
                scope,
            )
        };
        let every: Vec<DataAction> = A::ALL
            .iter()
            .copied()
            .filter(|a| {
                a.as_str()
                    .starts_with("Microsoft.KeyVault/vaults/certificate")
            })
            .collect();
        // Per permission: the scope it is checked at, and exactly what it grants there.
        let cases: &[(C, &str, &[DataAction])] = &[
            (C::Get, "/certificates/c", &[A::CertificatesRead]),
            (C::Get, "/certificates", &[]),
            (C::List, "/certificates", &[A::CertificatesRead]),
            (C::List, "/certificates/c", &[]),
            (C::Update, "/certificates/c", &[A::CertificatesUpdate]),
            (C::Create, "/certificates/c", &[A::CertificatesCreate]),
            (C::Import, "/certificates/c", &[A::CertificatesImport]),
            (C::Delete, "/certificates/c", &[A::CertificatesDelete]),
            (C::Recover, "/certificates/c", &[A::CertificatesRecover]),
            (C::Backup, "/certificates/c", &[A::CertificatesBackup]),
            (C::Restore, "/certificates/c", &[A::CertificatesRestore]),
            (C::Purge, "/certificates/c", &[A::CertificatesPurge]),
            (
                C::ManageContacts,
                "/certificates",
                &[A::CertificateContactsWrite],
            ),
            (C::GetIssuers, "/certificates", &[A::CertificateIssuersRead]),
            (
                C::ListIssuers,
                "/certificates",
                &[A::CertificateIssuersRead],
            ),
            (
                C::SetIssuers,
                "/certificates",
                &[A::CertificateIssuersWrite],
            ),
            (
                C::DeleteIssuers,
                "/certificates",
                &[A::CertificateIssuersDelete],
            ),
            (
                C::ManageIssuers,
                "/certificates",
                &[
                    A::CertificateIssuersRead,
                    A::CertificateIssuersWrite,
                    A::CertificateIssuersDelete,
                ],
            ),
        ];
        for (p, scope, grants) in cases {
            let g = of(&[*p], scope);
            for a in A::ALL {
                assert_eq!(g.allows(*a), grants.contains(a), "{p} at {scope}: {a:?}");
            }
        }
        // Every permission but `all` has a case above.
        for p in C::EVERY.iter().filter(|p| **p != C::All) {
            assert!(cases.iter().any(|(c, _, _)| c == p), "{p} has no case");
        }
        // `all` is every certificate action, at one certificate and at `/certificates`,
        // and no key, secret or role action: a certificate's key and secret take the keys
        // and secrets permissions.
        let one = of(&[C::All], "/certificates/c");
        let all = of(&[C::All], "/certificates");
        for a in A::ALL {
            let certificate = every.contains(a);
            assert_eq!(one.allows(*a) || all.allows(*a), certificate, "all: {a:?}");
        }
        assert!(one.allows(A::CertificatesRead) && all.allows(A::CertificatesRead));
        assert!(!of(&[C::All], "/secrets/c").allows(A::SecretsGet));
        assert!(!of(&[C::All], "/keys/c").allows(A::KeysRead));
        // Certificate permissions beside key and secret ones add to them.
        let mixed = Permissions {
            keys: vec![KeyPermission::Sign],
            secrets: vec![SecretPermission::Get],
            certificates: vec![C::Get],
        };
        assert!(permissions_grant(&mixed, "/certificates/c").allows(A::CertificatesRead));
        assert!(permissions_grant(&mixed, "/secrets/c").allows(A::SecretsGet));
        assert!(permissions_grant(&mixed, "/keys/c").allows(A::Sign));
        assert!(!permissions_grant(&mixed, "/certificates/c").allows(A::CertificatesDelete));
    }

    #[test]
    fn permissions_read_key_vaults_names() {
        assert_eq!(
            "wrapkey".parse::<KeyPermission>().unwrap(),
            KeyPermission::WrapKey
        );
        assert_eq!(KeyPermission::WrapKey.as_str(), "wrapKey");
        assert_eq!(
            "GetRotationPolicy"
                .parse::<KeyPermission>()
                .unwrap()
                .as_str(),
            "getrotationpolicy"
        );
        assert_eq!(
            "SET".parse::<SecretPermission>().unwrap(),
            SecretPermission::Set
        );
        assert!("managecontacts"
            .parse::<crate::model::access::CertificatePermission>()
            .is_ok());
        let e = "write".parse::<SecretPermission>().unwrap_err();
        assert!(e.to_string().contains("secret permission \"write\""), "{e}");
        assert!(e.to_string().contains("get, list, set, delete"), "{e}");
        assert_eq!(KeyPermission::EVERY.len(), 21);
        assert_eq!(SecretPermission::EVERY.len(), 9);
        let p = Permissions {
            keys: vec![KeyPermission::Sign, KeyPermission::Get, KeyPermission::Sign],
            ..Permissions::default()
        }
        .normalized();
        assert_eq!(p.keys, [KeyPermission::Sign, KeyPermission::Get]);
        let json =
            serde_json::to_value(entry("o", None, &[KeyPermission::UnwrapKey], &[])).unwrap();
        assert_eq!(json["permissions"]["keys"][0], "unwrapKey");
        assert_eq!(json["objectId"], "o");
        assert!(json.get("tenantId").is_none());
    }
}
