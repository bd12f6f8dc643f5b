//! Role assignments of a Managed HSM vault: create, get, list, delete; and its role
//! definitions.

use super::Vault;
use crate::error::{Error, Result};
use crate::model::VaultKind;
use crate::rbac::{self, DataAction, RoleAssignment, RoleDefinition, BUILT_IN_ROLES};
use crate::store::records::{decode, encode, key_prefix};

fn assignment_id(vault: &str, name: &str) -> Vec<u8> {
    let mut k = key_prefix(vault);
    k.extend_from_slice(name.to_ascii_lowercase().as_bytes());
    k
}

fn validate_assignment_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::bad_parameter(format!(
            "role assignment name {:?} is invalid: use 1 to 64 characters of 0-9, a-z, A-Z and - (a GUID)",
            name.chars().take(80).collect::<String>()
        )))
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
        self.shared
            .role_assignments
            .scan_prefix(key_prefix(&self.name))
            .values()
            .map(|v| decode("role assignment", &v?))
            .collect()
    }

    /// Role assignments; with `at_or_above`, only those that apply at that scope: at it or
    /// above it (`/keys/k` sees `/`, `/keys` and `/keys/k`), as Key Vault's `atScope()`
    /// filter does.
    pub fn list_role_assignments(&self, at_or_above: Option<&str>) -> Result<Vec<RoleAssignment>> {
        self.require_managed_hsm()?;
        self.require(DataAction::RoleAssignmentsRead, "/")?;
        let scope = at_or_above.map(rbac::normalize_scope).transpose()?;
        Ok(self
            .role_assignments_raw()?
            .into_iter()
            .filter(|a| {
                scope
                    .as_deref()
                    .is_none_or(|s| rbac::scope_contains(&a.scope, s))
            })
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
        let scope = rbac::normalize_scope(scope)?;
        let a = self.load_assignment(name)?;
        if a.scope != scope {
            return Err(Error::RoleAssignmentNotFound {
                name: name.to_string(),
            });
        }
        Ok(a)
    }

    fn load_assignment(&self, name: &str) -> Result<RoleAssignment> {
        match self
            .shared
            .role_assignments
            .get(assignment_id(&self.name, name))?
        {
            Some(v) => decode("role assignment", &v),
            None => Err(Error::RoleAssignmentNotFound {
                name: name.to_string(),
            }),
        }
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
        let role = rbac::role_definition(role_definition_id).ok_or_else(|| {
            Error::RoleDefinitionNotFound {
                id: role_definition_id.to_string(),
            }
        })?;
        if principal_id.trim().is_empty() || principal_id.len() > 128 {
            return Err(Error::bad_parameter(
                "principalId must be the principal's object ID",
            ));
        }
        let assignment = RoleAssignment {
            name: name.to_ascii_lowercase(),
            scope: rbac::normalize_scope(scope)?,
            role_definition_id: role.id.to_string(),
            principal_id: principal_id.to_string(),
        };
        self.shared
            .role_assignments
            .insert(assignment_id(&self.name, name), encode(&assignment))?;
        self.shared.flush()?;
        Ok(assignment)
    }

    /// Deletes the assignment `name` at `scope` and returns it.
    pub fn delete_role_assignment(&self, scope: &str, name: &str) -> Result<RoleAssignment> {
        self.require_managed_hsm()?;
        self.require(DataAction::RoleAssignmentsDelete, "/")?;
        let assignment = self.load_assignment_at(scope, name)?;
        self.shared
            .role_assignments
            .remove(assignment_id(&self.name, name))?;
        self.shared.flush()?;
        Ok(assignment)
    }

    /// The role definitions available in this vault (Managed HSM's built-in roles).
    pub fn role_definitions(&self) -> Result<&'static [RoleDefinition]> {
        self.require_managed_hsm()?;
        self.require(DataAction::RoleDefinitionsRead, "/")?;
        Ok(BUILT_IN_ROLES)
    }
}
