//! `localhsm setting` and `localhsm backup`: a Managed HSM's account settings, and full
//! backup and restore of its keys, through the same REST calls `KeyVaultSettingsClient`
//! and `KeyVaultBackupClient` make.
//!
//! Layer: faces (CLI). May import `api` (route table, bodies) and `cli::{client, error,
//! output}`; nothing imports it but [`crate::cli`] (and `cli::args` its leaf [`grammar`]). Invariant: as in [`super::commands`],
//! every call is a row of the route table with a wire-type body.

pub mod grammar;

pub use grammar::{BackupCommand, SettingCommand};

use serde_json::Value;

use super::client::{read, Client, Status};
use super::error::CliError;
use super::output::Printer;
use crate::api::{
    JobStatusWire, Op, RestoreOperationParameters, SasTokenParameter,
    SelectiveKeyRestoreOperationParameters, SettingWire, SettingsListResult, UpdateSettingRequest,
};

fn setting_table(settings: &[SettingWire]) -> String {
    let mut out = format!("{:<42} {:<8} {}\n", "NAME", "VALUE", "TYPE");
    for s in settings {
        out.push_str(&format!(
            "{:<42} {:<8} {}\n",
            s.name,
            s.value,
            s.kind.as_deref().unwrap_or("")
        ));
    }
    out
}

/// `localhsm setting ...`.
pub fn setting(c: &Client, p: &Printer, cmd: SettingCommand) -> Result<Status, CliError> {
    match cmd {
        SettingCommand::List => {
            let v = c.call(Op::SettingList, &[])?;
            let list: SettingsListResult = read(&v)?;
            p.show_with(&v, |_| setting_table(&list.settings));
        }
        SettingCommand::Get { name } => {
            let v = c.call(Op::SettingGet, &[&name])?;
            let s: SettingWire = read(&v)?;
            p.show_with(&v, |_| setting_table(&[s]));
        }
        SettingCommand::Set { name, value } => {
            let v = c.call_with(Op::SettingUpdate, &[&name], &UpdateSettingRequest { value })?;
            let s: SettingWire = read(&v)?;
            p.show_with(&v, |_| setting_table(&[s]));
        }
    }
    Ok(Status::Done)
}

/// The container and folder of a backup folder URL: everything before its last segment,
/// and that segment.
fn split_folder_url(url: &str) -> Result<(&str, &str), CliError> {
    url.trim_end_matches('/')
        .rsplit_once('/')
        .filter(|(container, folder)| !folder.is_empty() && container.contains("://"))
        .ok_or_else(|| {
            CliError::new(
                format!("{url:?} is not a backup folder URL"),
                "give the URL `localhsm backup create` printed (CONTAINER_URL/mhsm-VAULT-TIME)",
            )
        })
}

/// The locally held container is reached as the HSM's managed identity would reach it.
fn container(url: &str) -> SasTokenParameter {
    SasTokenParameter {
        storage_resource_uri: url.to_string(),
        token: None,
        use_managed_identity: Some(true),
    }
}

/// Follows a job's first answer to its outcome, as the SDKs' pollers do.
fn outcome(c: &Client, status_op: Op, started: &Value) -> Result<JobStatusWire, CliError> {
    let first: JobStatusWire = read(started)?;
    let done: JobStatusWire = read(&c.call(status_op, &[&first.job_id])?)?;
    if done.status == "Succeeded" {
        return Ok(done);
    }
    let error = done.error.map_or_else(
        || format!("the job ended {}", done.status),
        |e| format!("{}: {}", e.code, e.message),
    );
    Err(CliError::new(
        error,
        "nothing was changed; fix what the message names and run the command again",
    ))
}

/// `localhsm backup ...`.
pub fn backup(c: &Client, p: &Printer, cmd: BackupCommand) -> Result<Status, CliError> {
    match cmd {
        BackupCommand::Create { container: url } => {
            let started = c.call_with(Op::FullBackup, &[], &container(&url))?;
            let done = outcome(c, Op::FullBackupStatus, &started)?;
            let v = serde_json::to_value(&done).unwrap_or_default();
            p.show_with(&v, |_| {
                format!(
                    "{}\n{}\n",
                    done.azure_storage_blob_container_uri
                        .as_deref()
                        .unwrap_or_default(),
                    done.status_details.as_deref().unwrap_or_default()
                )
            });
        }
        BackupCommand::Restore { folder_url, key } => {
            let (url, folder) = split_folder_url(&folder_url)?;
            let started = match &key {
                Some(key) => c.call_with(
                    Op::SelectiveKeyRestore,
                    &[key],
                    &SelectiveKeyRestoreOperationParameters {
                        sas_token_parameters: container(url),
                        folder: folder.to_string(),
                    },
                )?,
                None => c.call_with(
                    Op::FullRestore,
                    &[],
                    &RestoreOperationParameters {
                        sas_token_parameters: container(url),
                        folder_to_restore: folder.to_string(),
                    },
                )?,
            };
            let done = outcome(c, Op::RestoreStatus, &started)?;
            let v = serde_json::to_value(&done).unwrap_or_default();
            p.show_with(&v, |_| {
                format!("{}\n", done.status_details.as_deref().unwrap_or_default())
            });
        }
    }
    Ok(Status::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_urls_split_into_container_and_folder() {
        assert_eq!(
            split_folder_url("https://a.blob.core.windows.net/c/mhsm-x-1/").unwrap(),
            ("https://a.blob.core.windows.net/c", "mhsm-x-1")
        );
        assert!(split_folder_url("mhsm-x-1").is_err());
        assert!(split_folder_url("https://a.blob.core.windows.net/").is_err());
    }
}
