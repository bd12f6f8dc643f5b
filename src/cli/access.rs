//! `localhsm role`, `log` and `customer-data`: access control, access logs and
//! customer-data requests, through the same REST client as every other command.

use axum::http::Method;
use serde_json::{json, Value};

use super::args::{CustomerDataCommand, LogCommand, LogFilter, RoleCommand, Subject};
use super::commands::{seg, Client, Status};
use super::dates::parse_time;
use super::error::CliError;
use super::output::{Printer, Shape};
use crate::rbac::BUILT_IN_ROLES;

/// The REST path of a role collection at `scope` (`/`, `/keys`, `/keys/NAME`).
fn role_path(scope: &str, collection: &str) -> String {
    let scope = scope.trim_matches('/');
    let prefix = if scope.is_empty() {
        String::new()
    } else {
        format!("/{scope}")
    };
    format!("{prefix}/providers/Microsoft.Authorization/{collection}")
}

/// A built-in role by id, full name or short name (`Crypto User`), case-insensitively.
fn role_id(role: &str) -> Result<&'static str, CliError> {
    let wanted = role.trim().to_ascii_lowercase().replace(['-', '_'], " ");
    BUILT_IN_ROLES
        .iter()
        .find(|r| {
            let name = r.name.to_ascii_lowercase();
            r.id.eq_ignore_ascii_case(role.trim())
                || name == wanted
                || name.strip_prefix("managed hsm ") == Some(wanted.as_str())
        })
        .map(|r| r.id)
        .ok_or_else(|| {
            CliError::new(
                format!("{role:?} is not a built-in role"),
                "`localhsm role definitions` lists them (use the name, e.g. \"Crypto User\", or the id)",
            )
        })
}

fn new_assignment_name() -> Result<String, CliError> {
    crate::crypto::random_guid().map_err(|e| CliError::bare(e.to_string()))
}

/// `localhsm role ...`.
pub fn role(c: &Client, p: &Printer, cmd: RoleCommand) -> Result<Status, CliError> {
    match cmd {
        RoleCommand::List { scope } => {
            let (path, at_scope) = match &scope {
                Some(s) => (role_path(s, "roleAssignments"), true),
                None => (role_path("/", "roleAssignments"), false),
            };
            let path = if at_scope {
                format!("{path}?$filter=atScope()")
            } else {
                path
            };
            let v = c.request(Method::GET, &path, None)?;
            p.show(Shape::RoleAssignments, &v);
        }
        RoleCommand::Assign {
            role,
            principal,
            scope,
            name,
        } => {
            let id = role_id(&role)?;
            let name = match name {
                Some(n) => n,
                None => new_assignment_name()?,
            };
            let body =
                json!({ "properties": { "roleDefinitionId": id, "principalId": principal } });
            let path = format!("{}/{}", role_path(&scope, "roleAssignments"), seg(&name));
            let v = c.request(Method::PUT, &path, Some(body))?;
            p.show(Shape::RoleAssignments, &json!({ "value": [v] }));
        }
        RoleCommand::Remove { name } => {
            // An assignment's id includes its scope; find it so the user need not give it.
            let all = c.request(Method::GET, &role_path("/", "roleAssignments"), None)?;
            let scope = all
                .get("value")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|a| {
                    a.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.eq_ignore_ascii_case(&name))
                })
                .and_then(|a| a.pointer("/properties/scope").and_then(Value::as_str))
                .unwrap_or("/")
                .to_string();
            let path = format!("{}/{}", role_path(&scope, "roleAssignments"), seg(&name));
            let v = c.request(Method::DELETE, &path, None)?;
            p.show(Shape::RoleAssignments, &json!({ "value": [v] }));
        }
        RoleCommand::Definitions => {
            let v = c.request(Method::GET, &role_path("/", "roleDefinitions"), None)?;
            p.show(Shape::RoleDefinitions, &v);
        }
    }
    Ok(Status::Done)
}

fn log_query(vault: &str, f: &LogFilter) -> Result<String, CliError> {
    let mut q = Vec::new();
    if let Some(principal) = &f.principal {
        q.push(format!("principal={}", seg(principal)));
    }
    if let Some(since) = &f.since {
        let t = parse_time(since).map_err(|e| {
            CliError::new(
                format!("--since: {e}"),
                "give Unix seconds or an RFC 3339 time",
            )
        })?;
        q.push(format!("since={t}"));
    }
    if let Some(limit) = f.limit {
        q.push(format!("limit={limit}"));
    }
    let mut path = format!("/management/vaults/{}/accesslog", seg(vault));
    if !q.is_empty() {
        path.push('?');
        path.push_str(&q.join("&"));
    }
    Ok(path)
}

/// `localhsm log ...`.
pub fn log(c: &Client, p: &Printer, cmd: LogCommand) -> Result<Status, CliError> {
    let vault = c.vault_name();
    match cmd {
        LogCommand::List(f) => {
            let v = c.request(Method::GET, &log_query(&vault, &f)?, None)?;
            p.show(Shape::AccessLog, &v);
        }
        LogCommand::Export(f) => {
            let v = c.request(Method::GET, &log_query(&vault, &f)?, None)?;
            for record in v
                .get("value")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
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
    let (path, subject) = match cmd {
        CustomerDataCommand::Export(s) => ("/management/customer-data/export", s),
        CustomerDataCommand::Delete(s) => ("/management/customer-data/delete", s),
    };
    let Subject {
        principal,
        upn,
        device_id,
        tag,
    } = subject;
    let body = json!({ "principal": principal, "upn": upn, "deviceId": device_id, "tag": tag });
    let body = Value::Object(
        body.as_object()
            .into_iter()
            .flatten()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    );
    let v = c.request(Method::POST, path, Some(body))?;
    if path.ends_with("export") {
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
    fn role_names_and_paths() {
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
        assert!(role_id("Owner").is_err());
        assert_eq!(
            role_path("/", "roleAssignments"),
            "/providers/Microsoft.Authorization/roleAssignments"
        );
        assert_eq!(
            role_path("/keys/k1", "roleAssignments"),
            "/keys/k1/providers/Microsoft.Authorization/roleAssignments"
        );
    }
}
