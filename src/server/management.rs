//! `/management/...`: vault management and the dev-mode clock, for a running server.
//! Not part of the Key Vault API; the same bearer token is required.

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error::{parse_json, ApiError};
use super::wire::{
    CreateVaultRequest, CustomerDataRequest, TimeShiftRequest, UpdateVaultRequest, VaultWire,
};
use super::{method_not_allowed, not_found, AppState, Query};
use crate::model::Caller;
use crate::model::{VaultOptions, MAX_RETENTION_DAYS};
use crate::store::Store;

async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(Store) -> crate::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    super::run_blocking(state.store.clone(), f).await
}

fn vault_json(info: crate::model::VaultInfo) -> Response {
    Json(VaultWire::from(info)).into_response()
}

/// When access control is enforced, only `--admin` principals may use the management API:
/// it can purge vaults, move the clock and redact logs.
fn require_admin(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    let policy = state.store.access_policy();
    if !policy.enforce {
        return Ok(());
    }
    let oid = caller.object_id.as_deref().unwrap_or("");
    if policy.admins.iter().any(|a| a.eq_ignore_ascii_case(oid)) {
        return Ok(());
    }
    Err(crate::Error::AccessDenied {
        caller: caller
            .object_id
            .clone()
            .unwrap_or_else(|| "anonymous".into()),
        action: "localhsm/management (an --admin principal)",
        scope: "/management".into(),
    }
    .into())
}

pub(crate) async fn route(
    state: &AppState,
    caller: &Caller,
    method: &Method,
    seg: &[&str],
    params: &Query,
    body: &[u8],
) -> Result<Response, ApiError> {
    use Method as M;
    require_admin(state, caller)?;
    match (seg, method) {
        (["vaults"], &M::GET) => {
            let vaults = blocking(state, |s| s.list_vaults()).await?;
            let value: Vec<VaultWire> = vaults.into_iter().map(VaultWire::from).collect();
            Ok(Json(json!({ "value": value })).into_response())
        }
        (["vaults"], &M::POST) => {
            let req: CreateVaultRequest = parse_json(body)?;
            let options = VaultOptions {
                kind: req.kind.unwrap_or_default(),
                retention_days: req.retention_days.unwrap_or(MAX_RETENTION_DAYS),
                purge_protection: req.purge_protection.unwrap_or(false),
            };
            let info = blocking(state, move |s| s.create_vault(&req.name, options)).await?;
            Ok((StatusCode::CREATED, Json(VaultWire::from(info))).into_response())
        }
        (["vaults", name], &M::GET) => {
            let name = name.to_string();
            let info = blocking(state, move |s| s.vault(&name)?.info()).await?;
            Ok(vault_json(info))
        }
        (["vaults", name], &M::PATCH) => {
            let req: UpdateVaultRequest = parse_json(body)?;
            let name = name.to_string();
            let info = blocking(state, move |s| {
                // Refuse a bad part before applying any: purge protection cannot be undone.
                if let Some(days) = req.log_retention_days {
                    crate::store::check_log_retention(days)?;
                }
                if let Some(on) = req.purge_protection {
                    s.set_purge_protection(&name, on)?;
                }
                if req.access_log.is_some() || req.log_retention_days.is_some() {
                    let on = match req.access_log {
                        Some(on) => on,
                        None => s.vault_info(&name)?.access_log,
                    };
                    s.set_access_log(&name, on, req.log_retention_days)?;
                }
                s.vault(&name)?.info()
            })
            .await?;
            Ok(vault_json(info))
        }
        (["vaults", name], &M::DELETE) => {
            let name = name.to_string();
            let info = blocking(state, move |s| s.delete_vault(&name)).await?;
            Ok(vault_json(info))
        }
        (["vaults", name, "recover"], &M::POST) => {
            let name = name.to_string();
            let info = blocking(state, move |s| s.recover_vault(&name)).await?;
            Ok(vault_json(info))
        }
        (["vaults", name, "accesslog"], &M::GET) => {
            let query = crate::audit::LogQuery {
                principal: params.get("principal").map(str::to_string),
                since: params
                    .get("since")
                    .map(|v| {
                        v.parse()
                            .map_err(|_| ApiError::bad_parameter("since must be Unix seconds"))
                    })
                    .transpose()?,
                limit: params
                    .get("limit")
                    .map(|v| {
                        v.parse()
                            .map_err(|_| ApiError::bad_parameter("limit must be a number"))
                    })
                    .transpose()?,
            };
            let name = name.to_string();
            let records = blocking(state, move |s| s.access_log(&name, &query)).await?;
            Ok(Json(json!({ "value": records })).into_response())
        }
        (["customer-data", "export"], &M::POST) => {
            let subject = parse_json::<CustomerDataRequest>(body)?.subject()?;
            let export = blocking(state, move |s| s.export_customer_data(&subject)).await?;
            Ok(Json(export).into_response())
        }
        (["customer-data", "delete"], &M::POST) => {
            let subject = parse_json::<CustomerDataRequest>(body)?.subject()?;
            let report = blocking(state, move |s| s.delete_customer_data(&subject)).await?;
            Ok(Json(report).into_response())
        }
        (["deletedvaults"], &M::GET) => {
            let vaults = blocking(state, |s| s.list_deleted_vaults()).await?;
            let value: Vec<VaultWire> = vaults.into_iter().map(VaultWire::from).collect();
            Ok(Json(json!({ "value": value })).into_response())
        }
        (["deletedvaults", name], &M::GET) => {
            let name = name.to_string();
            let info = blocking(state, move |s| {
                let info = s.vault_info(&name)?;
                if info.deleted_date.is_none() {
                    return Err(crate::Error::DeletedVaultNotFound { vault: name });
                }
                Ok(info)
            })
            .await?;
            Ok(vault_json(info))
        }
        (["deletedvaults", name], &M::DELETE) => {
            let name = name.to_string();
            blocking(state, move |s| s.purge_vault(&name)).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (["time-shift"], &M::POST) => {
            let req: TimeShiftRequest = parse_json(body)?;
            let clock = state.clock.clone();
            let report = blocking(state, move |s| {
                clock.shift_forward(req.seconds);
                s.sweep()
            })
            .await?;
            Ok(Json(json!({
                "now": state.store.now(),
                "offsetSeconds": state.clock.offset(),
                "purgedKeys": report.keys,
                "purgedVaults": report.vaults,
            }))
            .into_response())
        }
        (
            ["vaults"]
            | ["vaults", _]
            | ["vaults", _, "recover"]
            | ["vaults", _, "accesslog"]
            | ["customer-data", "export" | "delete"]
            | ["deletedvaults"]
            | ["deletedvaults", _]
            | ["time-shift"],
            _,
        ) => Err(method_not_allowed(method)),
        _ => Err(not_found(seg)),
    }
}
