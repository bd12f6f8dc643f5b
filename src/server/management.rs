//! `/management/...`: vault management (with Key Vault's permission model), vault access
//! policies, access logs, customer-data requests, the dev-mode clock and whole-store backups,
//! for a running server. Not part of the Key Vault API; the same bearer token is required.
//!
//! Layer: faces (server). May import `api` (bodies, route table), the core (`store`,
//! `model`, `audit`) and `server::{context, error}`. Invariant: when access control is on,
//! only `--admin` principals reach any of it, known route or not.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::context::{created, housekeeping, ok, run_blocking, AppState, Query};
use super::error::{parse_json, ApiError};
use crate::api::routes::{Op, Params};
use crate::api::{
    AccessLogParams, CreateVaultRequest, CustomerDataRequest, SetAccessPolicyRequest,
    TimeShiftRequest, TimeShiftResult, UpdateVaultRequest, Values, VaultWire,
};
use crate::clock::{ShiftRefused, MAX_SHIFT_SECS};
use crate::model::{Caller, VaultInfo, VaultOptions, MAX_RETENTION_DAYS};
use crate::rbac::check_permission_model;
use crate::Store;

async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(Store) -> crate::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    run_blocking(state.store.clone(), f).await
}

fn vaults(list: Vec<VaultInfo>) -> Result<Response, ApiError> {
    ok(Values {
        value: list.into_iter().map(VaultWire::from).collect::<Vec<_>>(),
    })
}

/// When access control is enforced, only `--admin` principals and the store's owner (its
/// local credential, see `server::owner`) may use the management API: it can purge vaults,
/// move the clock and redact logs.
pub(crate) fn require_admin(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    let policy = state.store.access_policy();
    if !policy.enforce {
        return Ok(());
    }
    let oid = caller.object_id.as_deref().unwrap_or("");
    if crate::model::access::is_owner(oid) || policy.is_admin(oid) {
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

/// Answers a request for one of the management routes.
pub(crate) async fn handle(
    state: &AppState,
    op: Op,
    p: &Params<'_>,
    query: &Query,
    body: &[u8],
) -> Result<Response, ApiError> {
    let name = p.get("vault").unwrap_or_default().to_string();
    match op {
        Op::VaultList => vaults(blocking(state, |s| s.list_vaults()).await?),
        Op::DeletedVaultList => vaults(blocking(state, |s| s.list_deleted_vaults()).await?),
        Op::VaultCreate => {
            let req: CreateVaultRequest = parse_json(body)?;
            let options = VaultOptions {
                kind: req.kind.unwrap_or_default(),
                retention_days: req.retention_days.unwrap_or(MAX_RETENTION_DAYS),
                purge_protection: req.purge_protection.unwrap_or(false),
            };
            let rbac = req.enable_rbac_authorization.unwrap_or(true);
            let info = blocking(state, move |s| {
                s.create_vault_with_permission_model(&req.name, options, rbac)
            })
            .await?;
            created(VaultWire::from(info))
        }
        Op::VaultGet => vault(blocking(state, move |s| s.vault(&name)?.info()).await?),
        Op::VaultUpdate => {
            let req: UpdateVaultRequest = parse_json(body)?;
            let info = blocking(state, move |s| {
                // Refuse a bad part before applying any: purge protection cannot be undone.
                if let Some(days) = req.log_retention_days {
                    crate::lifecycle::check_log_retention(days)?;
                }
                if let Some(rbac) = req.enable_rbac_authorization {
                    check_permission_model(s.vault(&name)?.info()?.kind, rbac)?;
                }
                if let Some(on) = req.purge_protection {
                    s.set_purge_protection(&name, on)?;
                }
                if let Some(rbac) = req.enable_rbac_authorization {
                    s.set_rbac_authorization(&name, rbac)?;
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
            vault(info)
        }
        Op::VaultDelete => vault(blocking(state, move |s| s.delete_vault(&name)).await?),
        Op::VaultRecover => vault(blocking(state, move |s| s.recover_vault(&name)).await?),
        Op::VaultAccessLog => {
            let log_query = AccessLogParams::from_query(|n| query.get(n))?.into();
            let records = blocking(state, move |s| s.access_log(&name, &log_query)).await?;
            ok(Values { value: records })
        }
        Op::AccessPolicyList => {
            let policies = blocking(state, move |s| s.vault_access_policies(&name)).await?;
            ok(Values { value: policies })
        }
        Op::AccessPolicyGet => {
            let oid = p.get("name").unwrap_or_default().to_string();
            let (v, o) = (name.clone(), oid.clone());
            let found = blocking(state, move |s| s.vault_access_policy(&v, &o)).await?;
            ok(found.ok_or_else(|| no_policy(&name, &oid))?)
        }
        Op::AccessPolicySet => {
            let oid = p.get("name").unwrap_or_default().to_string();
            let entry = parse_json::<SetAccessPolicyRequest>(body)?.entry(&oid)?;
            ok(blocking(state, move |s| s.set_vault_access_policy(&name, entry)).await?)
        }
        Op::AccessPolicyDelete => {
            let oid = p.get("name").unwrap_or_default().to_string();
            let (v, o) = (name.clone(), oid.clone());
            let gone = blocking(state, move |s| s.delete_vault_access_policy(&v, &o)).await?;
            ok(gone.ok_or_else(|| no_policy(&name, &oid))?)
        }
        Op::CustomerDataExport => {
            let subject = parse_json::<CustomerDataRequest>(body)?.subject()?;
            ok(blocking(state, move |s| s.export_customer_data(&subject)).await?)
        }
        Op::CustomerDataDelete => {
            let subject = parse_json::<CustomerDataRequest>(body)?.subject()?;
            ok(blocking(state, move |s| s.delete_customer_data(&subject)).await?)
        }
        Op::DeletedVaultGet => {
            let info = blocking(state, move |s| {
                let info = s.vault_info(&name)?;
                if info.deleted_date.is_none() {
                    return Err(crate::Error::DeletedVaultNotFound { vault: name });
                }
                Ok(info)
            })
            .await?;
            vault(info)
        }
        Op::DeletedVaultPurge => {
            blocking(state, move |s| s.purge_vault(&name)).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Op::TimeShift => {
            let req: TimeShiftRequest = parse_json(body)?;
            state.clock.shift(req.seconds).map_err(shift_refused)?;
            let (report, lifetime, rotations) = blocking(state, |s| {
                let done = housekeeping(&s)?;
                // Recorded now, not at the next change: the other replicas of a shared
                // store follow the stored time.
                s.now();
                s.flush()?;
                Ok(done)
            })
            .await?;
            ok(TimeShiftResult {
                now: state.store.now(),
                offset_seconds: state.clock.offset(),
                purged_keys: report.keys,
                purged_secrets: report.secrets,
                purged_vaults: report.vaults,
                renewed_certificates: lifetime.renewed,
                rotated_keys: rotations.rotated,
            })
        }
        Op::SeedApply => {
            let req: crate::seed::ApplyRequest = parse_json(body)?;
            let report = blocking(state, move |s| {
                let parsed = crate::seed::parse(
                    req.text.expose(),
                    req.format,
                    crate::seed::Files::Given(req.files),
                )?;
                crate::seed::apply(&s, &parsed.seed)
            })
            .await?;
            ok(report)
        }
        Op::StoreBackup => {
            // Sealed under the master key: the bytes are safe to hand over as they are.
            let sealed = blocking(state, |s| s.backup()).await?;
            let content_type = [(axum::http::header::CONTENT_TYPE, "application/octet-stream")];
            Ok((content_type, sealed).into_response())
        }
        other => Err(ApiError::misrouted(other)),
    }
}

/// A refused `time-shift`, worded so the user knows how to get what they asked for.
fn shift_refused(why: ShiftRefused) -> ApiError {
    match why {
        ShiftRefused::Disabled => ApiError::new(
            StatusCode::FORBIDDEN,
            "DevClockDisabled",
            "time-shift is off: this server was started without --dev-clock. A shift can \
             reach scheduled purge dates, and so ends the wait purge protection imposes; to \
             allow it on a development store, restart with `localhsm serve --dev-clock` (or, \
             with no server running, `localhsm time-shift --dev-clock SECONDS`)",
        ),
        ShiftRefused::TooFar => ApiError::bad_parameter(format!(
            "seconds must be at most {MAX_SHIFT_SECS} (3650 days, about 10 years) per \
             time-shift; shift again to go further"
        )),
    }
}

/// A vault of kind `vault` without a policy for the object ID: a 404 that names what is
/// missing, as `RoleAssignmentNotFound` does for role assignments.
fn no_policy(vault: &str, object_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "AccessPolicyNotFound",
        format!("vault {vault:?} has no access policy for object ID {object_id:?}"),
    )
}

fn vault(info: VaultInfo) -> Result<Response, ApiError> {
    ok(VaultWire::from(info))
}
