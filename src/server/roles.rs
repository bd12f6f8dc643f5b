//! Local RBAC over REST (Managed HSM's roles, and Key Vault's in vaults that hold secrets):
//! `/{scope}/providers/Microsoft.Authorization/roleAssignments[/{name}]` and
//! `/{scope}/providers/Microsoft.Authorization/roleDefinitions[/{name}]`, as
//! `KeyVaultAccessControlClient` calls them.
//!
//! Layer: faces (server). May import `api` (bodies, route table), the core (`vault`,
//! `rbac`) and `server::{context, error}`. Invariant: the core checks the caller's data
//! action on every call; a vault lists and gets the built-in role definitions it offers,
//! then its custom ones (made, replaced and deleted here; a built-in one cannot be).

use axum::response::Response;

use super::context::{created, ok, Ctx};
use super::error::{parse_json, ApiError};
use crate::api::routes::Op;
use crate::api::{
    ListResult, RoleAssignmentCreateParameters, RoleAssignmentFilter, RoleAssignmentWire,
    RoleDefinitionCreateParameters, RoleDefinitionWire,
};

/// Answers a request for one of the role routes, at `scope`, on the assignment or
/// definition `name` (empty for the collections).
pub(crate) async fn handle(
    ctx: &Ctx,
    op: Op,
    scope: &str,
    name: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let (scope, name) = (scope.to_string(), name.to_string());
    match op {
        Op::RoleAssignmentList => {
            let filter = RoleAssignmentFilter::parse(ctx.query.get("$filter"))?;
            let found = ctx
                .vault()?
                .list_role_assignments(filter.at_scope.then_some(scope.as_str()))?;
            ok(ListResult {
                value: found
                    .iter()
                    .filter(|a| filter.keeps(&a.principal_id))
                    .map(RoleAssignmentWire::from)
                    .collect(),
                next_link: None,
            })
        }
        Op::RoleAssignmentGet => ok(RoleAssignmentWire::from(
            &ctx.vault()?.role_assignment(&scope, &name)?,
        )),
        Op::RoleAssignmentCreate => {
            let p: RoleAssignmentCreateParameters = parse_json(body)?;
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
            created(RoleAssignmentWire::from(&a))
        }
        Op::RoleAssignmentDelete => {
            let a = ctx
                .blocking(move |v| v.delete_role_assignment(&scope, &name))
                .await?;
            ok(RoleAssignmentWire::from(&a))
        }
        Op::RoleDefinitionList => {
            let vault = ctx.vault()?;
            let mut value: Vec<RoleDefinitionWire> = vault
                .role_definitions()?
                .into_iter()
                .map(RoleDefinitionWire::from)
                .collect();
            value.extend(vault.custom_roles()?.iter().map(RoleDefinitionWire::from));
            ok(ListResult {
                value,
                next_link: None,
            })
        }
        Op::RoleDefinitionGet => {
            let vault = ctx.vault()?;
            let guid = name.rsplit('/').next().unwrap_or(&name);
            match vault
                .role_definitions()?
                .into_iter()
                .find(|d| d.id.eq_ignore_ascii_case(guid))
            {
                Some(def) => ok(RoleDefinitionWire::from(def)),
                None => ok(RoleDefinitionWire::from(&vault.custom_role(&name)?)),
            }
        }
        Op::RoleDefinitionSet => {
            let p: RoleDefinitionCreateParameters = parse_json(body)?;
            let role = p.into_custom_role(&name)?;
            let stored = ctx
                .blocking(move |v| v.set_custom_role(&scope, role))
                .await?;
            created(RoleDefinitionWire::from(&stored))
        }
        Op::RoleDefinitionDelete => {
            let gone = ctx
                .blocking(move |v| v.delete_custom_role(&scope, &name))
                .await?;
            ok(RoleDefinitionWire::from(&gone))
        }
        other => Err(ApiError::misrouted(other)),
    }
}
