//! Managed HSM administration over REST: the account settings (`/settings`), full backup
//! (`/backup`, `/prebackup`), full restore (`/restore`, `/prerestore`), selective key
//! restore (`/keys/{key}/restore`) and the jobs' status (`/backup|restore/{jobId}/pending`),
//! as `KeyVaultSettingsClient` and `KeyVaultBackupClient` call them.
//!
//! Layer: faces (server). May import `api` (bodies, route table), the core
//! (`administration`, `vault`) and `server::{context, error}`.
//!
//! Jobs run to the end before the first answer, which says `InProgress` as Azure's does;
//! the SDKs' pollers follow its `Azure-AsyncOperation` header to the status route, whose
//! first answer is already the outcome (`Succeeded` or `Failed`). A request
//! the caller may not make, or one that is malformed, fails as a request (4xx); what goes
//! wrong while the job runs (no such backup folder, a key in the way) fails the job, with
//! Key Vault's error code and message in its `error`. Job states are kept in memory, for
//! the most recent [`MAX_JOBS`] jobs.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::context::{ok, run_blocking, Ctx};
use super::error::{parse_json, ApiError};
use crate::api::routes::{Op, Params};
use crate::api::{
    JobError, JobStatusWire, RestoreOperationParameters, SasTokenParameter,
    SelectiveKeyRestoreOperationParameters, SettingWire, SettingsListResult, UpdateSettingRequest,
};
use crate::error::Error;
use crate::vault::Vault;

/// Whether this module serves `op`.
pub(crate) fn serves(op: Op) -> bool {
    matches!(
        op,
        Op::SettingList
            | Op::SettingGet
            | Op::SettingUpdate
            | Op::FullBackup
            | Op::PreFullBackup
            | Op::FullBackupStatus
            | Op::FullRestore
            | Op::PreFullRestore
            | Op::RestoreStatus
            | Op::SelectiveKeyRestore
    )
}

/// Answers an administration request.
pub(crate) async fn handle(
    ctx: &Ctx,
    op: Op,
    p: &Params<'_>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let name = p.get("name").unwrap_or_default().to_string();
    match op {
        Op::SettingList => {
            let settings = ctx.vault()?.settings()?;
            ok(SettingsListResult {
                settings: settings.into_iter().map(SettingWire::from).collect(),
            })
        }
        Op::SettingGet => ok(SettingWire::from(ctx.vault()?.setting(&name)?)),
        Op::SettingUpdate => {
            let req: UpdateSettingRequest = parse_json(body)?;
            let s = ctx
                .blocking(move |v| v.update_setting(&name, &req.value))
                .await?;
            ok(SettingWire::from(s))
        }
        Op::FullBackup | Op::PreFullBackup => {
            let req: SasTokenParameter = parse_json(body)?;
            let container = req.container()?;
            drop(req);
            let pre = op == Op::PreFullBackup;
            let outcome = run(ctx, move |v| {
                if pre {
                    v.check_full_backup(&container).map(|()| (None, None))
                } else {
                    v.full_backup(&container).map(|b| {
                        let details = format!("{} keys backed up to {}", b.keys.len(), b.folder);
                        (Some(details), Some(b.folder_url))
                    })
                }
            })
            .await?;
            start_job(ctx, JobKind::Backup, outcome)
        }
        Op::FullRestore | Op::PreFullRestore => {
            let req: RestoreOperationParameters = parse_json(body)?;
            let container = req.sas_token_parameters.container()?;
            let folder = req.folder_to_restore.clone();
            drop(req);
            crate::administration::validate_folder(&folder)?;
            let pre = op == Op::PreFullRestore;
            let outcome = run(ctx, move |v| {
                if pre {
                    v.check_full_restore(&container, &folder)
                        .map(|()| (None, None))
                } else {
                    v.full_restore(&container, &folder)
                        .map(|r| (Some(restored(&r)), None))
                }
            })
            .await?;
            start_job(ctx, JobKind::Restore, outcome)
        }
        Op::SelectiveKeyRestore => {
            let key = p.object().map(|(_, n)| n.to_string()).unwrap_or_default();
            let req: SelectiveKeyRestoreOperationParameters = parse_json(body)?;
            let container = req.sas_token_parameters.container()?;
            let folder = req.folder.clone();
            drop(req);
            crate::administration::validate_folder(&folder)?;
            let outcome = run(ctx, move |v| {
                v.selective_key_restore(&container, &folder, &key)
                    .map(|r| (Some(restored(&r)), None))
            })
            .await?;
            start_job(ctx, JobKind::Restore, outcome)
        }
        Op::FullBackupStatus => job_status(ctx, JobKind::Backup, &name),
        Op::RestoreStatus => job_status(ctx, JobKind::Restore, &name),
        other => Err(ApiError::misrouted(other)),
    }
}

fn restored(r: &crate::administration::RestoreReport) -> String {
    let mut text = format!("{} keys restored", r.restored.len());
    if !r.unchanged.is_empty() {
        text.push_str(&format!(
            "; {} already present and unchanged ({})",
            r.unchanged.len(),
            r.unchanged.join(", ")
        ));
    }
    text
}

/// Most job states kept for the status routes.
pub(crate) const MAX_JOBS: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobKind {
    Backup,
    Restore,
}

impl JobKind {
    fn status_op(self) -> Op {
        match self {
            JobKind::Backup => Op::FullBackupStatus,
            JobKind::Restore => Op::RestoreStatus,
        }
    }
}

struct Job {
    vault: String,
    kind: JobKind,
    status: JobStatusWire,
}

#[derive(Default)]
struct Jobs {
    by_id: HashMap<String, Job>,
    order: VecDeque<String>,
}

fn jobs() -> &'static Mutex<Jobs> {
    static JOBS: OnceLock<Mutex<Jobs>> = OnceLock::new();
    JOBS.get_or_init(Mutex::default)
}

/// What a job did: its status details and, for a backup, its folder's URL.
type JobOutcome = (Option<String>, Option<String>);

/// Runs a job on the request's vault, off the async workers. An error that is the
/// request's rather than the job's (the caller may not act, the vault is missing or of
/// the wrong kind) is answered as the request's; any other fails the job.
async fn run(
    ctx: &Ctx,
    job: impl FnOnce(Vault) -> crate::Result<JobOutcome> + Send + 'static,
) -> Result<crate::Result<JobOutcome>, ApiError> {
    let outcome = run_blocking(ctx.vault()?.clone(), move |v| Ok(job(v))).await?;
    match outcome {
        Err(
            e @ (Error::AccessDenied { .. }
            | Error::VaultNotFound { .. }
            | Error::NotSupportedByVaultKind { .. }),
        ) => Err(e.into()),
        other => Ok(other),
    }
}

/// Records a finished job and answers `202 Accepted` with its state and the
/// `Azure-AsyncOperation` URL of its status.
fn start_job(
    ctx: &Ctx,
    kind: JobKind,
    outcome: crate::Result<JobOutcome>,
) -> Result<Response, ApiError> {
    let started = ctx.state.store.now();
    let (status, details, error, container_uri) = match outcome {
        Ok((details, uri)) => ("Succeeded", details, None, uri),
        Err(e) => {
            let wire = e.wire();
            let message = e.to_string();
            let error = JobError {
                code: wire.code.to_string(),
                message: message.clone(),
            };
            ("Failed", Some(message), Some(error), None)
        }
    };
    let job_id = crate::crypto::random_bytes(16)
        .map(hex::encode)
        .map_err(ApiError::from)?;
    let wire = JobStatusWire {
        status: status.into(),
        status_details: details,
        error,
        start_time: started,
        end_time: Some(ctx.state.store.now()),
        job_id: job_id.clone(),
        azure_storage_blob_container_uri: container_uri,
    };
    {
        let mut jobs = jobs().lock().unwrap_or_else(|e| e.into_inner());
        if jobs.order.len() >= MAX_JOBS {
            if let Some(old) = jobs.order.pop_front() {
                jobs.by_id.remove(&old);
            }
        }
        jobs.order.push_back(job_id.clone());
        jobs.by_id.insert(
            job_id.clone(),
            Job {
                vault: ctx.vault_name.clone(),
                kind,
                status: wire.clone(),
            },
        );
    }
    // The first answer says `InProgress`, as Azure's does: the SDKs' pollers take an
    // outcome in the first answer as final without reading it, so a failure would go
    // unreported. They follow the status URL at once (`x-ms-retry-after-ms`) and read the
    // outcome there.
    let first = JobStatusWire {
        status: "InProgress".into(),
        status_details: None,
        error: None,
        end_time: None,
        azure_storage_blob_container_uri: None,
        ..wire
    };
    let mut resp = (StatusCode::ACCEPTED, Json(first)).into_response();
    // The pollers GET this URL as it is, so it carries the request's api-version.
    let status_url = format!(
        "{}?api-version={}",
        ctx.base.url(kind.status_op(), &[&job_id]),
        crate::api::encode_segment(&ctx.api_version)
    );
    if let Ok(v) = HeaderValue::from_str(&status_url) {
        resp.headers_mut().insert("azure-asyncoperation", v);
    }
    resp.headers_mut()
        .insert("x-ms-retry-after-ms", HeaderValue::from_static("10"));
    Ok(resp)
}

fn job_status(ctx: &Ctx, kind: JobKind, id: &str) -> Result<Response, ApiError> {
    let action = match kind {
        JobKind::Backup => crate::rbac::DataAction::BackupStatus,
        JobKind::Restore => crate::rbac::DataAction::RestoreStatus,
    };
    ctx.vault()?.require(action, "/")?;
    let jobs = jobs().lock().unwrap_or_else(|e| e.into_inner());
    match jobs.by_id.get(&id.to_ascii_lowercase()) {
        Some(job) if job.kind == kind && job.vault == ctx.vault_name => ok(job.status.clone()),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!(
                "there is no {} job {id:?} in this vault (jobs are kept in memory while the \
                 server runs, the latest {MAX_JOBS})",
                match kind {
                    JobKind::Backup => "backup",
                    JobKind::Restore => "restore",
                }
            ),
        )),
    }
}
