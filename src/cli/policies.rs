//! `localhsm access-policy`: Key Vault's access policies of a vault of kind `vault`, through
//! the management API (`/management/vaults/{vault}/accesspolicies[/{object-id}]`).
//!
//! Layer: faces (CLI). May import `api` (route table, bodies) and `cli::{args, client,
//! error, output}`; nothing imports it but [`crate::cli`]. Invariant: as in
//! [`super::commands`], every call is a row of the route table with a wire-type body.

use serde_json::json;

use super::args::AccessPolicyCommand;
use super::client::{Client, Status};
use super::error::CliError;
use super::output::{Printer, Shape};
use crate::api::{Op, PermissionsRequest, SetAccessPolicyRequest};

/// `localhsm access-policy ...`, on the vault given by `--vault`.
pub fn access_policy(
    c: &Client,
    p: &Printer,
    cmd: AccessPolicyCommand,
) -> Result<Status, CliError> {
    let vault = c.vault_name();
    match cmd {
        AccessPolicyCommand::List => {
            let v = c.call(Op::AccessPolicyList, &[&vault])?;
            p.show(Shape::AccessPolicies, &v);
        }
        AccessPolicyCommand::Get { object_id } => {
            let v = c.call(Op::AccessPolicyGet, &[&vault, &object_id])?;
            p.show(Shape::AccessPolicies, &json!({ "value": [v] }));
        }
        AccessPolicyCommand::Set {
            object_id,
            tenant_id,
            key_permissions,
            secret_permissions,
            certificate_permissions,
        } => {
            if key_permissions.is_empty()
                && secret_permissions.is_empty()
                && certificate_permissions.is_empty()
            {
                return Err(CliError::new(
                    "give at least one of --key-permissions, --secret-permissions or \
                     --certificate-permissions",
                    "a policy replaces the principal's whole policy; to take every permission \
                     away, use `localhsm access-policy delete`",
                ));
            }
            let some = |v: Vec<String>| (!v.is_empty()).then_some(v);
            let body = SetAccessPolicyRequest {
                object_id: None,
                tenant_id,
                permissions: PermissionsRequest {
                    keys: some(key_permissions),
                    secrets: some(secret_permissions),
                    certificates: some(certificate_permissions),
                },
            };
            let v = c.call_with(Op::AccessPolicySet, &[&vault, &object_id], &body)?;
            p.show(Shape::AccessPolicies, &json!({ "value": [v] }));
        }
        AccessPolicyCommand::Delete { object_id } => {
            let v = c.call(Op::AccessPolicyDelete, &[&vault, &object_id])?;
            p.show(Shape::AccessPolicies, &json!({ "value": [v] }));
        }
    }
    Ok(Status::Done)
}
