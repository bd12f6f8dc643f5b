//! Managed HSM local RBAC: built-in role definitions, role assignments (principals' object
//! IDs at a scope) stored per vault, and the authorizer that checks every call of a vault
//! acting for a caller ([`Store::vault_as`]).
//!
//! Layer: services. Imports the objects layer ([`Vault`], [`Store`]), the lifecycle and the
//! storage seam (for the assignments table) and the base layer. The vocabulary it grants
//! in, data actions and [`Grant`]s, is base data ([`crate::model::access`]), so a
//! [`crate::KeyHandle`] can carry a grant without knowing about roles.
//!
//! Scopes are `/` and `/keys` (HSM-wide, equivalent) and `/keys/{name}` (one key). The
//! built-in roles' ids and data actions are Managed HSM's own.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lifecycle::records::vault_prefix;
use crate::model::{Caller, VaultKind};
use crate::store::{decode, encode, KeyRange, Table, Write};
use crate::vault::{Authorizer, Store, Vault};

pub use crate::model::access::{AccessPolicy, DataAction, Grant};

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
    /// What the role grants.
    pub fn grant(&self) -> Grant {
        Grant::of(self.data_actions)
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
    assignments
        .into_iter()
        .filter(|a| scope_covers(&a.scope, resource))
        .filter_map(|a| role_definition(&a.role_definition_id))
        .fold(Grant::default(), |g, r| g.union(r.grant()))
}

/// The admins' grant: everything their three roles allow, everywhere.
pub(crate) fn admin_grant() -> Grant {
    ADMIN_ROLES
        .iter()
        .filter_map(|id| role_definition(id))
        .fold(Grant::default(), |g, r| g.union(r.grant()))
}

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
/// `--admin` principals, and the role assignments stored in the vault.
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
        if self
            .policy
            .admins
            .iter()
            .any(|a| a.eq_ignore_ascii_case(oid))
        {
            return Ok(admin_grant());
        }
        let mine: Vec<RoleAssignment> = vault
            .role_assignments_raw()?
            .into_iter()
            .filter(|a| a.principal_id.eq_ignore_ascii_case(oid))
            .collect();
        Ok(granted(&mine, scope))
    }
}

impl Store {
    /// A live vault acting for `caller`: when access control is on
    /// ([`Store::set_access_policy`]), every operation checks the caller's role assignments.
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
}

impl Vault {
    fn require_managed_hsm(&self) -> Result<()> {
        let vault = self.record()?;
        if vault.kind != VaultKind::ManagedHsm {
            return Err(Error::NotSupportedByVaultKind {
                what: "local role-based access control".into(),
                kind: vault.kind.as_str(),
            });
        }
        Ok(())
    }

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

    /// Role assignments; with `at_or_above`, only those that apply at that scope: at it or
    /// above it (`/keys/k` sees `/`, `/keys` and `/keys/k`), as Key Vault's `atScope()`
    /// filter does.
    pub fn list_role_assignments(&self, at_or_above: Option<&str>) -> Result<Vec<RoleAssignment>> {
        self.require_managed_hsm()?;
        self.require(DataAction::RoleAssignmentsRead, "/")?;
        let scope = at_or_above.map(normalize_scope).transpose()?;
        Ok(self
            .role_assignments_raw()?
            .into_iter()
            .filter(|a| scope.as_deref().is_none_or(|s| scope_contains(&a.scope, s)))
            .collect())
    }

    /// One role assignment by name, at `scope`.
    pub fn role_assignment(&self, scope: &str, name: &str) -> Result<RoleAssignment> {
        self.require_managed_hsm()?;
        self.require(DataAction::RoleAssignmentsRead, "/")?;
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
    /// `role_definition_id` (a GUID or a role definition's id path) at `scope`.
    pub fn create_role_assignment(
        &self,
        scope: &str,
        name: &str,
        role_definition_id: &str,
        principal_id: &str,
    ) -> Result<RoleAssignment> {
        self.require_managed_hsm()?;
        self.require(DataAction::RoleAssignmentsWrite, "/")?;
        validate_assignment_name(name)?;
        let role =
            role_definition(role_definition_id).ok_or_else(|| Error::RoleDefinitionNotFound {
                id: role_definition_id.to_string(),
            })?;
        if principal_id.trim().is_empty() || principal_id.len() > 128 {
            return Err(Error::bad_parameter(
                "principalId must be the principal's object ID",
            ));
        }
        let assignment = RoleAssignment {
            name: name.to_ascii_lowercase(),
            scope: normalize_scope(scope)?,
            role_definition_id: role.id.to_string(),
            principal_id: principal_id.to_string(),
        };
        self.core().storage.backend().apply(&[Write::Put(
            Table::RoleAssignments,
            assignment_id(self.name(), name),
            encode(&assignment),
        )])?;
        self.core().commit()?;
        Ok(assignment)
    }

    /// Deletes the assignment `name` at `scope` and returns it.
    pub fn delete_role_assignment(&self, scope: &str, name: &str) -> Result<RoleAssignment> {
        self.require_managed_hsm()?;
        self.require(DataAction::RoleAssignmentsDelete, "/")?;
        let assignment = self.load_assignment_at(scope, name)?;
        self.core().storage.backend().apply(&[Write::Delete(
            Table::RoleAssignments,
            assignment_id(self.name(), name),
        )])?;
        self.core().commit()?;
        Ok(assignment)
    }

    /// The role definitions available in this vault (Managed HSM's built-in roles).
    pub fn role_definitions(&self) -> Result<&'static [RoleDefinition]> {
        self.require_managed_hsm()?;
        self.require(DataAction::RoleDefinitionsRead, "/")?;
        Ok(BUILT_IN_ROLES)
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
    fn built_in_roles_allow_and_deny_as_managed_hsm_does() {
        let role = |name: &str| {
            BUILT_IN_ROLES
                .iter()
                .find(|r| r.name.ends_with(name))
                .unwrap()
        };
        // Per role: actions it must grant, and actions it must not.
        let cases: &[(&str, &[DataAction], &[DataAction])] = &[
            (
                "Crypto User",
                &[A::Sign, A::KeysCreate, A::Rng],
                &[
                    A::DeletedKeysDelete,
                    A::KeysExport,
                    A::DeletedKeysRecover,
                    A::RoleAssignmentsWrite,
                ],
            ),
            (
                "Crypto Officer",
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
                &[A::RoleAssignmentsWrite, A::BackupStart],
                &[A::Sign, A::KeysRead],
            ),
            (
                "Policy Administrator",
                &[A::RoleAssignmentsDelete],
                &[A::KeysRead],
            ),
            (
                "Crypto Auditor",
                &[A::KeysRead, A::DeletedKeysRead],
                &[A::Sign, A::DeletedKeysDelete],
            ),
            (
                "Service Encryption User",
                &[A::Wrap, A::Unwrap],
                &[A::Decrypt, A::Sign],
            ),
            ("Service Release User", &[A::KeysRelease], &[A::KeysRead]),
            ("HSM Backup", &[A::KeysBackup], &[A::KeysRestore]),
            ("HSM Restore", &[A::KeysRestore], &[A::KeysBackup]),
        ];
        for (name, allowed, denied) in cases {
            let grant = granted(&[assignment(role(name).id, "/")], "/keys/k");
            for a in *allowed {
                assert!(grant.allows(*a), "{name} must allow {a:?}");
            }
            for a in *denied {
                assert!(!grant.allows(*a), "{name} must not allow {a:?}");
            }
        }
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
