//! Managed HSM local RBAC over REST:
//! `/{scope}/providers/Microsoft.Authorization/roleAssignments[/{name}]` and
//! `/{scope}/providers/Microsoft.Authorization/roleDefinitions[/{name}]`, as
//! `KeyVaultAccessControlClient` calls them.

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{parse_json, ApiError};
use super::keys::Ctx;
use super::{method_not_allowed, not_found};
use crate::rbac::{RoleAssignment, RoleDefinition};

const DEFINITION_PREFIX: &str =
    "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/";

/// Where `providers/Microsoft.Authorization` starts in a path, if it is a role route.
pub(crate) fn split(seg: &[&str]) -> Option<(String, Vec<String>)> {
    let i = seg.windows(2).position(|w| {
        w[0].eq_ignore_ascii_case("providers")
            && w[1].eq_ignore_ascii_case("Microsoft.Authorization")
    })?;
    let scope_parts: Vec<&str> = seg[..i].iter().copied().filter(|s| !s.is_empty()).collect();
    let scope = format!("/{}", scope_parts.join("/"));
    Some((scope, seg[i + 2..].iter().map(|s| s.to_string()).collect()))
}

/// Key Vault's operation name for a role route, for the access log.
pub(crate) fn operation_name(method: &Method, rest: &[String]) -> &'static str {
    match (rest.first().map(String::as_str), rest.len(), method) {
        (Some("roleAssignments"), 1, _) => "RoleAssignmentList",
        (Some("roleAssignments"), 2, &Method::PUT) => "RoleAssignmentCreate",
        (Some("roleAssignments"), 2, &Method::DELETE) => "RoleAssignmentDelete",
        (Some("roleAssignments"), 2, _) => "RoleAssignmentGet",
        (Some("roleDefinitions"), 1, _) => "RoleDefinitionList",
        (Some("roleDefinitions"), 2, _) => "RoleDefinitionGet",
        _ => "Unknown",
    }
}

fn assignment_json(a: &RoleAssignment) -> Value {
    let prefix = if a.scope == "/" { "" } else { a.scope.as_str() };
    json!({
        "id": format!("{prefix}/providers/Microsoft.Authorization/roleAssignments/{}", a.name),
        "name": a.name,
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {
            "scope": a.scope,
            "roleDefinitionId": format!("{DEFINITION_PREFIX}{}", a.role_definition_id),
            "principalId": a.principal_id,
        }
    })
}

fn definition_json(r: &RoleDefinition) -> Value {
    let actions: Vec<&str> = r.data_actions.iter().map(|a| a.as_str()).collect();
    json!({
        "id": format!("{DEFINITION_PREFIX}{}", r.id),
        "name": r.id,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": r.name,
            "description": r.description,
            "type": "AKVBuiltInRole",
            "permissions": [{
                "actions": [],
                "notActions": [],
                "dataActions": actions,
                "notDataActions": [],
            }],
            "assignableScopes": ["/"],
        }
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssignmentProperties {
    role_definition_id: String,
    principal_id: String,
}

#[derive(Debug, Deserialize)]
struct CreateAssignment {
    properties: AssignmentProperties,
}

/// A role assignment `$filter`: `atScope()`, `principalId eq '{id}'`, or both joined by
/// `and`, as the Key Vault API defines them.
#[derive(Debug, Default)]
struct Filter {
    at_scope: bool,
    principal: Option<String>,
}

impl Filter {
    fn parse(filter: Option<&str>) -> Result<Self, ApiError> {
        let mut f = Filter::default();
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
                return Err(ApiError::bad_parameter(format!(
                    "$filter {term:?} is not supported: use atScope() or principalId eq '{{id}}'"
                )));
            }
        }
        Ok(f)
    }
}

fn list(value: Vec<Value>) -> Result<Response, ApiError> {
    Ok(Json(json!({ "value": value, "nextLink": null })).into_response())
}

pub(crate) async fn route(
    ctx: &Ctx,
    method: &Method,
    scope: &str,
    rest: &[String],
    body: &[u8],
) -> Result<Response, ApiError> {
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    match (rest.as_slice(), method) {
        (["roleAssignments"], &Method::GET) => {
            let filter = Filter::parse(ctx.params.get("$filter"))?;
            let vault = ctx.vault()?;
            let found = vault.list_role_assignments(filter.at_scope.then_some(scope))?;
            list(
                found
                    .iter()
                    .filter(|a| {
                        filter
                            .principal
                            .as_deref()
                            .is_none_or(|p| a.principal_id.eq_ignore_ascii_case(p))
                    })
                    .map(assignment_json)
                    .collect(),
            )
        }
        (["roleAssignments", name], &Method::GET) => {
            Ok(Json(assignment_json(&ctx.vault()?.role_assignment(scope, name)?)).into_response())
        }
        (["roleAssignments", name], &Method::PUT) => {
            let p: CreateAssignment = parse_json(body)?;
            let (scope, name) = (scope.to_string(), name.to_string());
            let a = ctx
                .blocking(move |v| {
                    v.create_role_assignment(
                        &scope,
                        &name,
                        &p.properties.role_definition_id,
                        &p.properties.principal_id,
                    )
                })
                .await?;
            Ok((StatusCode::CREATED, Json(assignment_json(&a))).into_response())
        }
        (["roleAssignments", name], &Method::DELETE) => {
            let (scope, name) = (scope.to_string(), name.to_string());
            let a = ctx
                .blocking(move |v| v.delete_role_assignment(&scope, &name))
                .await?;
            Ok(Json(assignment_json(&a)).into_response())
        }
        (["roleDefinitions"], &Method::GET) => {
            let defs = ctx.vault()?.role_definitions()?;
            list(defs.iter().map(definition_json).collect())
        }
        (["roleDefinitions", name], &Method::GET) => {
            let defs = ctx.vault()?.role_definitions()?;
            let def = defs
                .iter()
                .find(|d| d.id.eq_ignore_ascii_case(name))
                .ok_or_else(|| crate::Error::RoleDefinitionNotFound {
                    id: name.to_string(),
                })?;
            Ok(Json(definition_json(def)).into_response())
        }
        (["roleDefinitions", _], &Method::PUT | &Method::DELETE) => Err(ApiError::bad_parameter(
            "custom role definitions are not supported; assign a built-in role",
        )),
        (
            ["roleAssignments"]
            | ["roleAssignments", _]
            | ["roleDefinitions"]
            | ["roleDefinitions", _],
            _,
        ) => Err(method_not_allowed(method)),
        _ => Err(not_found(&rest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_from_paths() {
        let s = |p: &str| {
            let seg: Vec<&str> = p.split('/').collect();
            split(&seg).map(|(scope, rest)| (scope, rest.join("/")))
        };
        assert_eq!(
            s("/providers/Microsoft.Authorization/roleAssignments/a"),
            Some(("/".into(), "roleAssignments/a".into()))
        );
        assert_eq!(
            s("keys/k1/providers/Microsoft.Authorization/roleAssignments"),
            Some(("/keys/k1".into(), "roleAssignments".into()))
        );
        assert_eq!(s("keys/k1/sign"), None);
    }
}
