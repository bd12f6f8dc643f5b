//! Local RBAC bodies: role assignments and role definitions as
//! `KeyVaultAccessControlClient` sends and reads them, and the `$filter` of assignment
//! listings. Role definitions show the permissions Azure publishes (Key Vault's roles with
//! their control-plane actions and wildcard data actions).
//!
//! Layer: faces, shared (see [`crate::api`]). May import `rbac` and `error`. Invariant:
//! ids are the paths the route table serves (`{scope}/providers/Microsoft.Authorization/
//! roleAssignments/{name}`) and role definition ids carry Managed HSM's provider prefix.

use serde::{Deserialize, Serialize};

use super::routes::Op;
use crate::error::{Error, Result};
use crate::rbac::{CustomRole, RoleAssignment, RoleDefinition, RolePermissions};

/// The prefix of a role definition id.
pub const DEFINITION_PREFIX: &str =
    "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/";

/// A role assignment.
#[derive(Debug, Serialize, Deserialize)]
pub struct RoleAssignmentWire {
    /// `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`.
    pub id: String,
    /// The assignment's name.
    pub name: String,
    /// `Microsoft.Authorization/roleAssignments`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What it assigns.
    pub properties: RoleAssignmentProperties,
}

/// What an assignment assigns: a role to a principal, at a scope.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentProperties {
    /// Where it applies (always in answers; a request takes it from the path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The role definition: its id, or its GUID alone.
    pub role_definition_id: String,
    /// The principal's object ID.
    pub principal_id: String,
}

/// Body of `PUT {scope}/providers/Microsoft.Authorization/roleAssignments/{name}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RoleAssignmentCreateParameters {
    /// The role and the principal.
    pub properties: RoleAssignmentProperties,
}

/// A role definition.
#[derive(Debug, Serialize, Deserialize)]
pub struct RoleDefinitionWire {
    /// [`DEFINITION_PREFIX`] and the GUID.
    pub id: String,
    /// The GUID.
    pub name: String,
    /// `Microsoft.Authorization/roleDefinitions`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What it is and allows.
    pub properties: RoleDefinitionProperties,
}

/// A role definition's name, description and permissions.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDefinitionProperties {
    /// Its name.
    pub role_name: String,
    /// What it is for.
    pub description: String,
    /// `AKVBuiltInRole` (Managed HSM's roles) or `BuiltInRole` (Key Vault's).
    #[serde(rename = "type")]
    pub kind: String,
    /// What it allows.
    pub permissions: Vec<Permission>,
    /// Where it may be assigned.
    pub assignable_scopes: Vec<String>,
}

/// A set of allowed (and excluded) actions (a list a request leaves out is empty).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Permission {
    /// Control-plane actions.
    pub actions: Vec<String>,
    /// Control-plane actions excluded.
    pub not_actions: Vec<String>,
    /// Data actions.
    pub data_actions: Vec<String>,
    /// Data actions excluded.
    pub not_data_actions: Vec<String>,
}

impl From<&RoleAssignment> for RoleAssignmentWire {
    fn from(a: &RoleAssignment) -> Self {
        Self {
            id: Op::RoleAssignmentGet.path(&[&a.scope, &a.name]),
            name: a.name.clone(),
            kind: "Microsoft.Authorization/roleAssignments".into(),
            properties: RoleAssignmentProperties {
                scope: Some(a.scope.clone()),
                role_definition_id: format!("{DEFINITION_PREFIX}{}", a.role_definition_id),
                principal_id: a.principal_id.clone(),
            },
        }
    }
}

impl From<&RoleDefinition> for RoleDefinitionWire {
    fn from(r: &RoleDefinition) -> Self {
        Self {
            id: format!("{DEFINITION_PREFIX}{}", r.id),
            name: r.id.into(),
            kind: "Microsoft.Authorization/roleDefinitions".into(),
            properties: RoleDefinitionProperties {
                role_name: r.name.into(),
                description: r.description.into(),
                kind: r.family.role_type().into(),
                permissions: vec![Permission {
                    actions: r.published_actions().into_iter().map(Into::into).collect(),
                    data_actions: r
                        .published_data_actions()
                        .into_iter()
                        .map(Into::into)
                        .collect(),
                    ..Permission::default()
                }],
                assignable_scopes: vec!["/".into()],
            },
        }
    }
}

/// Body of `PUT {scope}/providers/Microsoft.Authorization/roleDefinitions/{name}`: a
/// custom role definition.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RoleDefinitionCreateParameters {
    /// What it is and allows.
    pub properties: RoleDefinitionCreateProperties,
}

/// A custom role definition as a request gives it: what it leaves out is empty (the SDKs
/// send no role name or description when none is given).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RoleDefinitionCreateProperties {
    /// Its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
    /// What it is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `CustomRole`, the only type a request may make.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// What it allows.
    pub permissions: Vec<Permission>,
    /// Where it may be assigned (`/` when none are given).
    pub assignable_scopes: Vec<String>,
}

/// A custom role definition's `type`.
pub const CUSTOM_ROLE_TYPE: &str = "CustomRole";

impl RoleDefinitionCreateParameters {
    /// The custom role `name` (its GUID) this request defines.
    pub fn into_custom_role(self, name: &str) -> Result<CustomRole> {
        let p = self.properties;
        if let Some(kind) = p.kind.as_deref().filter(|k| *k != CUSTOM_ROLE_TYPE) {
            let shown: String = kind.chars().take(40).collect();
            return Err(Error::bad_parameter(format!(
                "a role definition made here is a {CUSTOM_ROLE_TYPE}, not {shown:?}"
            )));
        }
        Ok(CustomRole {
            id: name.to_string(),
            role_name: p.role_name.unwrap_or_default(),
            description: p.description.unwrap_or_default(),
            permissions: p
                .permissions
                .into_iter()
                .map(|p| RolePermissions {
                    actions: p.actions,
                    not_actions: p.not_actions,
                    data_actions: p.data_actions,
                    not_data_actions: p.not_data_actions,
                })
                .collect(),
            assignable_scopes: p.assignable_scopes,
        })
    }
}

impl From<&CustomRole> for RoleDefinitionWire {
    fn from(r: &CustomRole) -> Self {
        Self {
            id: format!("{DEFINITION_PREFIX}{}", r.id),
            name: r.id.clone(),
            kind: "Microsoft.Authorization/roleDefinitions".into(),
            properties: RoleDefinitionProperties {
                role_name: r.role_name.clone(),
                description: r.description.clone(),
                kind: CUSTOM_ROLE_TYPE.into(),
                permissions: r
                    .permissions
                    .iter()
                    .map(|p| Permission {
                        actions: p.actions.clone(),
                        not_actions: p.not_actions.clone(),
                        data_actions: p.data_actions.clone(),
                        not_data_actions: p.not_data_actions.clone(),
                    })
                    .collect(),
                assignable_scopes: r.assignable_scopes.clone(),
            },
        }
    }
}

/// A role assignment listing's `$filter`: `atScope()`, `principalId eq '{id}'`, or both
/// joined by `and`, as the Key Vault API defines them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RoleAssignmentFilter {
    /// Only assignments at the request's scope or above it.
    pub at_scope: bool,
    /// Only assignments to this principal.
    pub principal: Option<String>,
}

impl RoleAssignmentFilter {
    /// Reads a `$filter` (none: no filter).
    pub fn parse(filter: Option<&str>) -> Result<Self> {
        let mut f = Self::default();
        let Some(text) = filter else {
            return Ok(f);
        };
        for term in text.split(" and ").map(str::trim).filter(|t| !t.is_empty()) {
            if term.replace(' ', "").eq_ignore_ascii_case("atScope()") {
                f.at_scope = true;
            } else if let Some(id) = term
                .strip_prefix("principalId eq '")
                .and_then(|r| r.strip_suffix('\''))
            {
                f.principal = Some(id.to_string());
            } else {
                return Err(Error::bad_parameter(format!(
                    "$filter {term:?} is not supported: use atScope() or principalId eq '{{id}}'"
                )));
            }
        }
        Ok(f)
    }

    /// Whether it keeps an assignment to `principal` (scopes are filtered by the core).
    pub fn keeps(&self, principal: &str) -> bool {
        self.principal
            .as_deref()
            .is_none_or(|p| principal.eq_ignore_ascii_case(p))
    }
}

impl std::fmt::Display for RoleAssignmentFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut terms = Vec::new();
        if self.at_scope {
            terms.push("atScope()".to_string());
        }
        if let Some(p) = &self.principal {
            terms.push(format!("principalId eq '{p}'"));
        }
        f.write_str(&terms.join(" and "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_read_back_what_they_write() {
        for f in [
            RoleAssignmentFilter::default(),
            RoleAssignmentFilter {
                at_scope: true,
                principal: None,
            },
            RoleAssignmentFilter {
                at_scope: true,
                principal: Some("p-1".into()),
            },
        ] {
            let text = f.to_string();
            let text = (!text.is_empty()).then_some(text);
            assert_eq!(RoleAssignmentFilter::parse(text.as_deref()).unwrap(), f);
        }
        assert!(RoleAssignmentFilter::parse(Some("atScope() or x")).is_err());
    }

    #[test]
    fn definitions_show_what_azure_publishes() {
        let wire = |id: &str| {
            serde_json::to_value(RoleDefinitionWire::from(
                crate::rbac::role_definition(id).unwrap(),
            ))
            .unwrap()
        };
        let officer = wire("b86a8fe4-44ce-4948-aee5-eccb2c155cd7");
        assert_eq!(
            officer["properties"]["roleName"],
            "Key Vault Secrets Officer"
        );
        assert_eq!(officer["properties"]["type"], "BuiltInRole");
        let p = &officer["properties"]["permissions"][0];
        assert_eq!(
            p["dataActions"],
            serde_json::json!(["Microsoft.KeyVault/vaults/secrets/*"])
        );
        assert_eq!(p["actions"][0], "Microsoft.Authorization/*/read");
        assert_eq!(p["notDataActions"], serde_json::json!([]));
        let user = wire("21dbd100-6940-42c2-9190-5d6cb909625b");
        assert_eq!(user["properties"]["type"], "AKVBuiltInRole");
        assert_eq!(
            user["properties"]["permissions"][0]["actions"],
            serde_json::json!([])
        );
        assert_eq!(
            user["id"],
            format!("{DEFINITION_PREFIX}21dbd100-6940-42c2-9190-5d6cb909625b")
        );
    }

    #[test]
    fn assignments_are_ids_of_the_table() {
        let a = RoleAssignment {
            name: "a1".into(),
            scope: "/keys/k1".into(),
            role_definition_id: "g".into(),
            principal_id: "p".into(),
        };
        let w = RoleAssignmentWire::from(&a);
        assert_eq!(
            w.id,
            "/keys/k1/providers/Microsoft.Authorization/roleAssignments/a1"
        );
        let top = RoleAssignment {
            scope: "/".into(),
            ..a
        };
        assert_eq!(
            RoleAssignmentWire::from(&top).id,
            "/providers/Microsoft.Authorization/roleAssignments/a1"
        );
        let v = serde_json::to_value(&w).unwrap();
        assert_eq!(
            v["properties"]["roleDefinitionId"],
            format!("{DEFINITION_PREFIX}g")
        );
        assert_eq!(v["type"], "Microsoft.Authorization/roleAssignments");
    }
}
