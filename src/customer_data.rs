//! Customer-data requests: export, or delete, everything the store holds about a principal
//! (object ID), a user principal name, a device ID, or a tag, in every vault.
//!
//! Layer: services. Imports [`crate::audit`] and [`crate::rbac`] (beside it, below it in
//! that order), the objects layer and the base layer; nothing imports it but the faces.
//!
//! What is tied to a subject: role assignments and access policies naming its object ID;
//! keys, secrets and their deleted counterparts whose tags carry it (device IDs live in
//! tags, as IoT Hub ties data to device IDs); and the access-log records of its calls.
//! Export returns them (keys as metadata, public parts and tags, never private material;
//! secrets as metadata and tags, never their values). Delete removes the assignments and
//! access policies (in soft-deleted vaults too), soft-deletes and then purges the tagged
//! keys and secrets (under purge protection one waits for its scheduled purge date, and the
//! report says so), and redacts the subject's object ID, UPN and IP address in the
//! access-log records.

use serde::Serialize;

use crate::audit::{AccessLogRecord, LogQuery};
use crate::clock::UnixTime;
use crate::error::{Error, ObjectKind, Result};
use crate::model::{DeletionInfo, KeyBundle, SecretAttributes, SecretBundle, Tags, VaultInfo};
use crate::rbac::{AccessPolicyEntry, RoleAssignment};
use crate::vault::{Store, Vault};

/// Whom a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A principal's object ID.
    Principal(String),
    /// A user principal name.
    Upn(String),
    /// A device ID (as carried in tag values).
    DeviceId(String),
    /// A tag `key=value`.
    Tag {
        /// Tag name.
        key: String,
        /// Tag value.
        value: String,
    },
}

impl Subject {
    /// Parses `key=value` into a tag subject.
    pub fn tag(spec: &str) -> Result<Self> {
        match spec.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok(Subject::Tag {
                key: k.to_string(),
                value: v.to_string(),
            }),
            _ => Err(Error::bad_parameter(format!(
                "tag {spec:?} must be written key=value"
            ))),
        }
    }

    /// Whether a set of tags carries this subject: for a tag subject, that tag; otherwise
    /// any tag value equal to the subject (case-insensitive).
    pub fn in_tags(&self, tags: &Tags) -> bool {
        match self {
            Subject::Tag { key, value } => tags.get(key) == Some(value),
            Subject::Principal(s) | Subject::Upn(s) | Subject::DeviceId(s) => {
                tags.values().any(|v| v.eq_ignore_ascii_case(s))
            }
        }
    }

    /// Whether an access-log record is of a call this subject made (by object ID or UPN).
    pub fn made(&self, record: &AccessLogRecord) -> bool {
        let c = &record.identity.claim;
        let same = |claim: &Option<String>, s: &str| {
            claim.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(s))
        };
        match self {
            Subject::Principal(oid) => same(&c.oid, oid),
            Subject::Upn(upn) => same(&c.upn, upn),
            Subject::DeviceId(_) | Subject::Tag { .. } => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Subject::Principal(s) => format!("principal {s}"),
            Subject::Upn(s) => format!("upn {s}"),
            Subject::DeviceId(s) => format!("device {s}"),
            Subject::Tag { key, value } => format!("tag {key}={value}"),
        }
    }
}

/// A key version in an export: metadata, public JWK and tags.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedKeyVersion {
    /// Version id.
    pub version: String,
    /// Key type.
    pub kty: String,
    /// Public JWK (no private members).
    pub key: crate::crypto::Jwk,
    /// Attributes.
    pub attributes: crate::model::KeyAttributes,
    /// Tags.
    pub tags: Tags,
}

/// A key in an export, with the versions whose tags carry the subject.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedKey {
    /// Key name.
    pub name: String,
    /// Soft-deleted: when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_date: Option<UnixTime>,
    /// Soft-deleted: when it will be purged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_purge_date: Option<UnixTime>,
    /// The matching versions.
    pub versions: Vec<ExportedKeyVersion>,
}

/// A secret version in an export: metadata and tags, never the value.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedSecretVersion {
    /// Version id.
    pub version: String,
    /// Content type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Attributes.
    pub attributes: SecretAttributes,
    /// Tags.
    pub tags: Tags,
}

/// A secret in an export, with the versions whose tags carry the subject.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedSecret {
    /// Secret name.
    pub name: String,
    /// Soft-deleted: when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_date: Option<UnixTime>,
    /// Soft-deleted: when it will be purged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_purge_date: Option<UnixTime>,
    /// The matching versions.
    pub versions: Vec<ExportedSecretVersion>,
}

/// What one vault holds about the subject.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultExport {
    /// Vault name.
    pub vault: String,
    /// Whether the vault itself is soft-deleted.
    pub vault_deleted: bool,
    /// Role assignments naming the subject.
    pub role_assignments: Vec<RoleAssignment>,
    /// Access policies naming the subject's object ID.
    pub access_policies: Vec<AccessPolicyEntry>,
    /// Live keys whose tags carry the subject.
    pub keys: Vec<ExportedKey>,
    /// Soft-deleted keys whose tags carry the subject.
    pub deleted_keys: Vec<ExportedKey>,
    /// Live secrets whose tags carry the subject (never their values).
    pub secrets: Vec<ExportedSecret>,
    /// Soft-deleted secrets whose tags carry the subject (never their values).
    pub deleted_secrets: Vec<ExportedSecret>,
    /// Access-log records of the subject's calls.
    pub access_log: Vec<AccessLogRecord>,
}

/// Everything held about a subject.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerDataExport {
    /// The subject, described.
    pub subject: String,
    /// When the export was made (Unix seconds).
    pub generated: UnixTime,
    /// Per vault, only vaults that hold something.
    pub vaults: Vec<VaultExport>,
}

/// A key or secret that could not be purged yet.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AwaitingPurge {
    /// Vault.
    pub vault: String,
    /// Key or secret name.
    pub name: String,
    /// When it will be purged.
    pub scheduled_purge_date: Option<UnixTime>,
    /// Why it waits.
    pub reason: String,
}

/// What a customer-data deletion did.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletionReport {
    /// The subject, described.
    pub subject: String,
    /// Role assignments removed, as `vault/name`.
    pub role_assignments_removed: Vec<String>,
    /// Access policies removed, as `vault/objectId`.
    pub access_policies_removed: Vec<String>,
    /// Keys soft-deleted, as `vault/name`.
    pub keys_deleted: Vec<String>,
    /// Keys purged, as `vault/name`.
    pub keys_purged: Vec<String>,
    /// Keys that must wait (purge protection, or a soft-deleted vault).
    pub keys_awaiting_purge: Vec<AwaitingPurge>,
    /// Secrets soft-deleted, as `vault/name`.
    pub secrets_deleted: Vec<String>,
    /// Secrets purged, as `vault/name`.
    pub secrets_purged: Vec<String>,
    /// Secrets that must wait (purge protection, or a soft-deleted vault).
    pub secrets_awaiting_purge: Vec<AwaitingPurge>,
    /// Access-log records redacted.
    pub access_log_records_redacted: usize,
}

fn exported(
    name: &str,
    versions: Vec<KeyBundle>,
    deletion: Option<DeletionInfo>,
    subject: &Subject,
) -> Option<ExportedKey> {
    let matching: Vec<ExportedKeyVersion> = versions
        .into_iter()
        .filter(|b| subject.in_tags(&b.tags))
        .map(|b| ExportedKeyVersion {
            version: b.version,
            kty: b.kty.to_string(),
            key: b.key.public_only(),
            attributes: b.attributes,
            tags: b.tags,
        })
        .collect();
    (!matching.is_empty()).then(|| ExportedKey {
        name: name.to_string(),
        deleted_date: deletion.map(|d| d.deleted_date),
        scheduled_purge_date: deletion.map(|d| d.scheduled_purge_date),
        versions: matching,
    })
}

fn exported_secret(
    name: &str,
    versions: Vec<SecretBundle>,
    deletion: Option<DeletionInfo>,
    subject: &Subject,
) -> Option<ExportedSecret> {
    let matching: Vec<ExportedSecretVersion> = versions
        .into_iter()
        .filter(|b| subject.in_tags(&b.tags))
        .map(|b| ExportedSecretVersion {
            version: b.version,
            content_type: b.content_type,
            attributes: b.attributes,
            tags: b.tags,
        })
        .collect();
    (!matching.is_empty()).then(|| ExportedSecret {
        name: name.to_string(),
        deleted_date: deletion.map(|d| d.deleted_date),
        scheduled_purge_date: deletion.map(|d| d.scheduled_purge_date),
        versions: matching,
    })
}

/// What deleting one kind of tagged object in one vault did, and where it goes in the report.
struct Erased<'r> {
    deleted: &'r mut Vec<String>,
    purged: &'r mut Vec<String>,
    awaiting: &'r mut Vec<AwaitingPurge>,
}

impl Erased<'_> {
    /// Soft-deletes the `live` objects, then purges them and the `deleted` ones, as the
    /// vault's rules allow; in a soft-deleted vault, everything waits for the vault's purge.
    fn erase(
        &mut self,
        info: &VaultInfo,
        noun: &str,
        (live, deleted): (Vec<String>, Vec<String>),
        delete: impl Fn(&str) -> Result<()>,
        purge: impl Fn(&str) -> Result<()>,
    ) -> Result<()> {
        if info.deleted_date.is_some() {
            for name in live.into_iter().chain(deleted) {
                self.awaiting.push(AwaitingPurge {
                    vault: info.name.clone(),
                    name,
                    scheduled_purge_date: info.scheduled_purge_date,
                    reason: format!("the vault is soft-deleted; its {noun} are purged with it"),
                });
            }
            return Ok(());
        }
        for name in &live {
            delete(name)?;
            self.deleted.push(format!("{}/{name}", info.name));
        }
        for name in live.into_iter().chain(deleted) {
            match purge(&name) {
                Ok(()) => self.purged.push(format!("{}/{name}", info.name)),
                Err(Error::PurgeProtected {
                    scheduled_purge_date,
                    ..
                }) => self.awaiting.push(AwaitingPurge {
                    vault: info.name.clone(),
                    name,
                    scheduled_purge_date: Some(scheduled_purge_date),
                    reason: "purge protection: purged automatically at its scheduled purge date"
                        .into(),
                }),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn names<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| name(i).to_string()).collect()
}

impl Store {
    fn every_vault(&self) -> Result<Vec<(Vault, VaultInfo)>> {
        let mut all = self.list_vaults()?;
        all.extend(self.list_deleted_vaults()?);
        Ok(all
            .into_iter()
            .map(|info| (self.vault_unchecked(&info.name), info))
            .collect())
    }

    fn tagged_keys(
        &self,
        vault: &Vault,
        subject: &Subject,
        deleted: bool,
    ) -> Result<Vec<ExportedKey>> {
        let mut out = Vec::new();
        for name in vault.key_names(deleted)? {
            let (versions, deletion) = vault.all_key_versions(&name, deleted)?;
            out.extend(exported(&name, versions, deletion, subject));
        }
        Ok(out)
    }

    fn tagged_secrets(
        &self,
        vault: &Vault,
        info: &VaultInfo,
        subject: &Subject,
        deleted: bool,
    ) -> Result<Vec<ExportedSecret>> {
        let mut out = Vec::new();
        if !info.holds(ObjectKind::Secret) {
            return Ok(out);
        }
        for name in vault.secret_names(deleted)? {
            let (versions, deletion) = vault.all_secret_versions(&name, deleted)?;
            out.extend(exported_secret(&name, versions, deletion, subject));
        }
        Ok(out)
    }

    /// Everything tied to `subject`, in every vault (live and soft-deleted).
    pub fn export_customer_data(&self, subject: &Subject) -> Result<CustomerDataExport> {
        let mut vaults = Vec::new();
        for (vault, info) in self.every_vault()? {
            let (role_assignments, access_policies) = match subject {
                Subject::Principal(oid) => (
                    vault
                        .role_assignments_raw()?
                        .into_iter()
                        .filter(|a| a.principal_id.eq_ignore_ascii_case(oid))
                        .collect(),
                    vault
                        .access_policies_raw()?
                        .into_iter()
                        .filter(|p| p.object_id.eq_ignore_ascii_case(oid))
                        .collect(),
                ),
                _ => (Vec::new(), Vec::new()),
            };
            let access_log = self
                .access_log(&info.name, &LogQuery::default())?
                .into_iter()
                .filter(|r| subject.made(r))
                .collect::<Vec<_>>();
            let export = VaultExport {
                vault: info.name.clone(),
                vault_deleted: info.deleted_date.is_some(),
                role_assignments,
                access_policies,
                keys: self.tagged_keys(&vault, subject, false)?,
                deleted_keys: self.tagged_keys(&vault, subject, true)?,
                secrets: self.tagged_secrets(&vault, &info, subject, false)?,
                deleted_secrets: self.tagged_secrets(&vault, &info, subject, true)?,
                access_log,
            };
            let empty = export.role_assignments.is_empty()
                && export.access_policies.is_empty()
                && export.keys.is_empty()
                && export.deleted_keys.is_empty()
                && export.secrets.is_empty()
                && export.deleted_secrets.is_empty()
                && export.access_log.is_empty();
            if !empty {
                vaults.push(export);
            }
        }
        Ok(CustomerDataExport {
            subject: subject.describe(),
            generated: self.now(),
            vaults,
        })
    }

    /// Removes what is tied to `subject`: its role assignments and access policies (in
    /// every vault, soft-deleted ones too); its tagged keys and secrets (soft-delete, then
    /// purge where the vault's rules allow); and its identity in access-log records.
    pub fn delete_customer_data(&self, subject: &Subject) -> Result<DeletionReport> {
        let mut report = DeletionReport {
            subject: subject.describe(),
            ..DeletionReport::default()
        };
        for (vault, info) in self.every_vault()? {
            if let Subject::Principal(oid) = subject {
                for a in vault.role_assignments_raw()? {
                    if a.principal_id.eq_ignore_ascii_case(oid) {
                        vault.remove_role_assignment_raw(&a.name)?;
                        report
                            .role_assignments_removed
                            .push(format!("{}/{}", info.name, a.name));
                    }
                }
                for p in vault.remove_access_policies_raw(oid)? {
                    report
                        .access_policies_removed
                        .push(format!("{}/{}", info.name, p.object_id));
                }
            }
            let keys = (
                names(&self.tagged_keys(&vault, subject, false)?, |k| &k.name),
                names(&self.tagged_keys(&vault, subject, true)?, |k| &k.name),
            );
            Erased {
                deleted: &mut report.keys_deleted,
                purged: &mut report.keys_purged,
                awaiting: &mut report.keys_awaiting_purge,
            }
            .erase(
                &info,
                "keys",
                keys,
                |n| vault.delete_key(n).map(drop),
                |n| vault.purge_deleted_key(n),
            )?;
            let secrets = (
                names(&self.tagged_secrets(&vault, &info, subject, false)?, |s| {
                    &s.name
                }),
                names(&self.tagged_secrets(&vault, &info, subject, true)?, |s| {
                    &s.name
                }),
            );
            Erased {
                deleted: &mut report.secrets_deleted,
                purged: &mut report.secrets_purged,
                awaiting: &mut report.secrets_awaiting_purge,
            }
            .erase(
                &info,
                "secrets",
                secrets,
                |n| vault.delete_secret(n).map(drop),
                |n| vault.purge_deleted_secret(n),
            )?;
        }
        report.access_log_records_redacted = self.redact_access_logs(|r| subject.made(r))?;
        self.flush()?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_match_tags() {
        let tags: Tags = [("deviceId".to_string(), "Dev-42".to_string())].into();
        assert!(Subject::DeviceId("dev-42".into()).in_tags(&tags));
        assert!(Subject::tag("deviceId=Dev-42").unwrap().in_tags(&tags));
        assert!(!Subject::tag("deviceId=dev-42").unwrap().in_tags(&tags));
        assert!(!Subject::Principal("other".into()).in_tags(&tags));
        assert!(Subject::tag("novalue").is_err());
    }
}
