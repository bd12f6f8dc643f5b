//! Managed HSM administration bodies: account settings (`settings.json`) and full backup,
//! full restore and selective key restore (`backuprestore.json`), as
//! `KeyVaultSettingsClient` and `KeyVaultBackupClient` send and read them.
//!
//! Layer: faces, shared (see [`crate::api`]). May import `administration` and `error`.
//! Invariant: a SAS token is read, checked for presence and dropped (zeroized); it is never
//! stored, logged, shown by `Debug` or sent back.

use serde::{Deserialize, Deserializer, Serialize};
use zeroize::Zeroize;

use crate::administration::{ContainerUrl, Setting};
use crate::error::{Error, Result};

/// A setting (`{"name","value","type"}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SettingWire {
    /// Its name.
    pub name: String,
    /// Its value, as a string.
    pub value: String,
    /// Its type (`boolean`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl From<Setting> for SettingWire {
    fn from(s: Setting) -> Self {
        Self {
            name: s.name.to_string(),
            value: s.value,
            kind: Some(s.kind.to_string()),
        }
    }
}

/// `GET /settings`: `{"settings":[...]}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SettingsListResult {
    /// Every setting.
    pub settings: Vec<SettingWire>,
}

/// Body of `PATCH /settings/{name}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateSettingRequest {
    /// The new value.
    pub value: String,
}

/// A SAS token: accepted, never kept. `Debug` shows only that one was given.
#[derive(Default)]
pub struct SasToken(String);

impl SasToken {
    /// A token (for clients that send one).
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl Drop for SasToken {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for SasToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SasToken(..)")
    }
}

impl<'de> Deserialize<'de> for SasToken {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(SasToken)
    }
}

impl Serialize for SasToken {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Where a backup goes or comes from, and how the HSM would reach it: a SAS token or its
/// managed identity. Also the body of `POST /backup` and `POST /prebackup`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SasTokenParameter {
    /// The blob container's URL.
    pub storage_resource_uri: String,
    /// A SAS token for the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<SasToken>,
    /// Whether the HSM's managed identity reaches the container instead of a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_managed_identity: Option<bool>,
}

impl SasTokenParameter {
    /// The container it names, once it is known how the HSM would reach it: a token or
    /// the managed identity, as Azure requires one of them. Nothing checks the token's
    /// contents: the backup stays on this machine.
    pub fn container(&self) -> Result<ContainerUrl> {
        let has_token = self.token.as_ref().is_some_and(|t| !t.is_empty());
        if !has_token && self.use_managed_identity != Some(true) {
            return Err(Error::bad_parameter(
                "give a SAS token (token) or set useManagedIdentity to true",
            ));
        }
        ContainerUrl::parse(&self.storage_resource_uri)
    }
}

/// Body of `PUT /restore`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreOperationParameters {
    /// The container and the way to reach it.
    pub sas_token_parameters: SasTokenParameter,
    /// The backup's folder in the container.
    pub folder_to_restore: String,
}

/// Body of `PUT /keys/{key}/restore`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectiveKeyRestoreOperationParameters {
    /// The container and the way to reach it.
    pub sas_token_parameters: SasTokenParameter,
    /// The backup's folder in the container.
    pub folder: String,
}

/// The error of a failed job.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobError {
    /// Key Vault's error code.
    pub code: String,
    /// What went wrong.
    pub message: String,
}

/// A backup or restore job's state, as the status routes and the first answer show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct JobStatusWire {
    /// `InProgress`, `Succeeded` or `Failed`.
    pub status: String,
    /// What it did, or why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    /// When it started, in Unix seconds.
    pub start_time: u64,
    /// When it ended, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<u64>,
    /// Its id.
    pub job_id: String,
    /// A full backup's folder URL (backups only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_storage_blob_container_uri: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_read_but_never_shown() {
        let p: SasTokenParameter = serde_json::from_str(
            r#"{"storageResourceUri":"https://acct.blob.core.windows.net/backup","token":"sv=2024&sig=SECRET"}"#,
        )
        .unwrap();
        assert!(!format!("{p:?}").contains("SECRET"));
        assert_eq!(p.container().unwrap().container, "backup");
        let none: SasTokenParameter = serde_json::from_str(
            r#"{"storageResourceUri":"https://acct.blob.core.windows.net/backup"}"#,
        )
        .unwrap();
        assert!(none.container().is_err());
        let mi: SasTokenParameter = serde_json::from_str(
            r#"{"storageResourceUri":"https://acct.blob.core.windows.net/backup","useManagedIdentity":true}"#,
        )
        .unwrap();
        assert!(mi.container().is_ok());
    }

    #[test]
    fn job_status_has_the_sdk_field_names() {
        let v = serde_json::to_value(JobStatusWire {
            status: "Succeeded".into(),
            status_details: None,
            error: None,
            start_time: 10,
            end_time: Some(11),
            job_id: "j".into(),
            azure_storage_blob_container_uri: Some("https://a/b/c".into()),
        })
        .unwrap();
        assert_eq!(v["startTime"], 10);
        assert_eq!(v["endTime"], 11);
        assert_eq!(v["jobId"], "j");
        assert_eq!(v["azureStorageBlobContainerUri"], "https://a/b/c");
        assert!(v.get("error").is_none());
    }
}
