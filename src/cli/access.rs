//! `localhsm role`, `log` and `customer-data`: access control (role assignments of Managed
//! HSM's and Key Vault's built-in roles and of a vault's custom roles, and custom role
//! definitions), access logs and customer-data requests, through the same REST client as
//! every other command.
//!
//! Layer: faces (CLI). May import `api` (route table, bodies), `rbac` (the built-in roles)
//! and `cli::{args, client, dates, error, output}`; nothing imports it but
//! [`crate::cli`]. Invariant: as in [`super::commands`], every call is a row of the route
//! table with a wire-type body.

use super::args::{CustomerDataCommand, LogCommand, LogFilter, RoleCommand, Subject};
use super::client::{read, Client, Status};
use super::error::CliError;
use super::output::{Printer, Shape};
use crate::api::{
    AccessLogParams, CustomerDataRequest, ListResult, Op, Permission,
    RoleAssignmentCreateParameters, RoleAssignmentFilter, RoleAssignmentProperties,
    RoleAssignmentWire, RoleDefinitionCreateParameters, RoleDefinitionCreateProperties,
    RoleDefinitionWire, CUSTOM_ROLE_TYPE,
};
use crate::clock::parse_time;
use crate::rbac::BUILT_IN_ROLES;
use serde_json::json;

/// A built-in role by id, full name or short name (`Crypto User`, `Secrets User`),
/// case-insensitively. A short name two families share (`Administrator`) must be given in
/// full.
fn role_id(role: &str) -> Result<&'static str, CliError> {
    let wanted = role.trim().to_ascii_lowercase().replace(['-', '_'], " ");
    let found: Vec<&'static str> = BUILT_IN_ROLES
        .iter()
        .filter(|r| {
            let name = r.name.to_ascii_lowercase();
            let short = ["managed hsm ", "key vault "]
                .iter()
                .find_map(|family| name.strip_prefix(family));
            r.id.eq_ignore_ascii_case(role.trim()) || name == wanted || short == Some(&wanted)
        })
        .map(|r| r.id)
        .collect();
    match found.as_slice() {
        [id] => Ok(id),
        [] => Err(CliError::new(
            format!("{role:?} is not a built-in role"),
            "`localhsm role definitions` lists them (use the name, e.g. \"Crypto User\" or \"Secrets User\", or the id)",
        )),
        _ => Err(CliError::new(
            format!("{role:?} names more than one built-in role"),
            "give the full name, e.g. \"Managed HSM Administrator\" or \"Key Vault Administrator\"",
        )),
    }
}

fn new_assignment_name() -> Result<String, CliError> {
    crate::crypto::random_guid().map_err(|e| CliError::bare(e.to_string()))
}

/// `localhsm role ...`.
pub fn role(c: &Client, p: &Printer, cmd: RoleCommand) -> Result<Status, CliError> {
    match cmd {
        RoleCommand::List { scope: None } => {
            let v = c.call(Op::RoleAssignmentList, &["/"])?;
            p.show(Shape::RoleAssignments, &v);
        }
        RoleCommand::List { scope: Some(scope) } => {
            let filter = RoleAssignmentFilter {
                at_scope: true,
                principal: None,
            };
            let query = [("$filter", filter.to_string())];
            let v = c.call_query(Op::RoleAssignmentList, &[&scope], &query)?;
            p.show(Shape::RoleAssignments, &v);
        }
        RoleCommand::Assign {
            role,
            principal,
            scope,
            name,
        } => {
            let name = match name {
                Some(n) => n,
                None => new_assignment_name()?,
            };
            let role_definition_id = match role_id(&role) {
                Ok(id) => id.to_string(),
                // Not a built-in role: one of the vault's custom roles, if it has one so named.
                Err(e) => find_definition(c, &role)
                    .ok()
                    .filter(|d| d.properties.kind == CUSTOM_ROLE_TYPE)
                    .map(|d| d.name)
                    .ok_or(e)?,
            };
            let body = RoleAssignmentCreateParameters {
                properties: RoleAssignmentProperties {
                    scope: None,
                    role_definition_id,
                    principal_id: principal,
                },
            };
            let v = c.call_with(Op::RoleAssignmentCreate, &[&scope, &name], &body)?;
            p.show(Shape::RoleAssignments, &json!({ "value": [v] }));
        }
        RoleCommand::Remove { name } => {
            // An assignment's id includes its scope; find it so the user need not give it.
            let all: ListResult<RoleAssignmentWire> =
                read(&c.call(Op::RoleAssignmentList, &["/"])?)?;
            let scope = all
                .value
                .into_iter()
                .find(|a| a.name.eq_ignore_ascii_case(&name))
                .and_then(|a| a.properties.scope)
                .unwrap_or_else(|| "/".to_string());
            let v = c.call(Op::RoleAssignmentDelete, &[&scope, &name])?;
            p.show(Shape::RoleAssignments, &json!({ "value": [v] }));
        }
        RoleCommand::Definitions => {
            let v = c.call(Op::RoleDefinitionList, &["/"])?;
            p.show(Shape::RoleDefinitions, &v);
        }
        RoleCommand::Define {
            name,
            description,
            data_actions,
            not_data_actions,
            assignable_scopes,
            id,
        } => {
            let id = match id {
                Some(id) => id,
                None => new_assignment_name()?,
            };
            let body = RoleDefinitionCreateParameters {
                properties: RoleDefinitionCreateProperties {
                    role_name: Some(name),
                    description: Some(description),
                    kind: Some(CUSTOM_ROLE_TYPE.into()),
                    permissions: vec![Permission {
                        data_actions,
                        not_data_actions,
                        ..Permission::default()
                    }],
                    assignable_scopes,
                },
            };
            let v = c.call_with(Op::RoleDefinitionSet, &["/", &id], &body)?;
            p.show(Shape::RoleDefinitions, &json!({ "value": [v] }));
        }
        RoleCommand::ShowDefinition { role } => {
            let d = find_definition(c, &role)?;
            let v = serde_json::to_value(&d).unwrap_or_default();
            p.show(Shape::RoleDefinitions, &json!({ "value": [v] }));
        }
        RoleCommand::DeleteDefinition { role } => {
            let d = find_definition(c, &role)?;
            let v = c.call(Op::RoleDefinitionDelete, &["/", &d.name])?;
            p.show(Shape::RoleDefinitions, &json!({ "value": [v] }));
        }
    }
    Ok(Status::Done)
}

/// A role definition of the vault by GUID or role name (without regard to case).
fn find_definition(c: &Client, role: &str) -> Result<RoleDefinitionWire, CliError> {
    let all: ListResult<RoleDefinitionWire> = read(&c.call(Op::RoleDefinitionList, &["/"])?)?;
    let wanted = role.trim();
    all.value
        .into_iter()
        .find(|d| {
            d.name.eq_ignore_ascii_case(wanted)
                || d.properties.role_name.eq_ignore_ascii_case(wanted)
        })
        .ok_or_else(|| {
            CliError::new(
                format!("the vault has no role definition {role:?}"),
                "`localhsm role definitions` lists them; `localhsm role define` makes a custom one",
            )
        })
}

fn log_params(f: LogFilter) -> Result<AccessLogParams, CliError> {
    let since = f
        .since
        .map(|s| {
            parse_time(&s).map_err(|e| {
                CliError::new(
                    format!("--since: {e}"),
                    "give Unix seconds or an RFC 3339 time",
                )
            })
        })
        .transpose()?;
    Ok(AccessLogParams {
        principal: f.principal,
        since,
        limit: f.limit,
    })
}

/// `localhsm log ...`.
pub fn log(c: &Client, p: &Printer, cmd: LogCommand) -> Result<Status, CliError> {
    let vault = c.vault_name();
    match cmd {
        LogCommand::List(f) => {
            let v = c.call_query(Op::VaultAccessLog, &[&vault], &log_params(f)?)?;
            p.show(Shape::AccessLog, &v);
        }
        LogCommand::Export(f) => {
            let v = c.call_query(Op::VaultAccessLog, &[&vault], &log_params(f)?)?;
            let records: crate::api::Values<serde_json::Value> = read(&v)?;
            for record in records.value {
                println!("{record}");
            }
        }
    }
    Ok(Status::Done)
}

/// `localhsm customer-data ...`.
pub fn customer_data(
    c: &Client,
    p: &Printer,
    cmd: CustomerDataCommand,
) -> Result<Status, CliError> {
    let (op, subject) = match cmd {
        CustomerDataCommand::Export(s) => (Op::CustomerDataExport, s),
        CustomerDataCommand::Delete(s) => (Op::CustomerDataDelete, s),
    };
    let Subject {
        principal,
        upn,
        device_id,
        tag,
    } = subject;
    let body = CustomerDataRequest {
        principal,
        upn,
        email: None,
        device_id,
        tag,
    };
    let v = c.call_with(op, &[], &body)?;
    if op == Op::CustomerDataExport {
        // The export is one JSON document whatever the output format.
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        p.show(Shape::CustomerDataDeletion, &v);
    }
    Ok(Status::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names() {
        assert_eq!(
            role_id("Crypto User").unwrap(),
            "21dbd100-6940-42c2-9190-5d6cb909625b"
        );
        assert_eq!(
            role_id("managed hsm crypto officer").unwrap(),
            "515eb02d-2335-4d2d-92f2-b1cbdf9c3778"
        );
        assert_eq!(
            role_id("crypto-auditor").unwrap(),
            "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3"
        );
        assert_eq!(
            role_id("secrets user").unwrap(),
            "4633458b-17de-408a-b874-0445c86b69e6"
        );
        assert_eq!(
            role_id("Key Vault Administrator").unwrap(),
            "00482a5a-887f-4fb3-b363-3b7fe8e74483"
        );
        assert!(role_id("Administrator").is_err(), "two families share it");
        assert!(role_id("Owner").is_err());
    }
}
