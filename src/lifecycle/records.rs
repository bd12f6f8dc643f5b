//! The lifecycle's records and how their keys are spelled. Changing anything here changes
//! the on-disk format: bump [`crate::store::SCHEMA_VERSION`], add a migration and pin a
//! fixture of the new schema beside `tests/fixtures/store-v1/`.
//!
//! Tables (see [`crate::store::Table`]):
//! - `vaults`: lowercase vault name -> [`VaultRecord`] (its settings, its permission model
//!   and its access policies; fields added since schema 1 are optional, so older records
//!   read as they always did).
//! - objects of each kind (`keys`, ...): `vault/name` -> [`ObjectRecord`] for live objects.
//! - deleted objects (`deleted_keys`, ...): `vault/name` -> [`ObjectRecord`] with its
//!   deletion dates.
//! - versions (`versions` for keys, ...): `vault/name/version` -> the kind's version record
//!   (for keys, [`crate::keys`]' `KeyVersion`); kept while the object is deleted, so recover
//!   brings back every version unchanged.
//! - `purge_queue`: `due (u64 BE) || kind byte || id` -> empty, where the id is `vault/name`
//!   for an object and `vault` for a vault; ordered by due date, so a sweep reads only what
//!   is due.
//! - `role_assignments`: `vault/assignment-name` -> a [`crate::rbac::RoleAssignment`].
//! - `access_log`: `vault || 0 || time (u64 BE) || sequence (u64 BE)` -> an
//!   [`crate::audit::AccessLogRecord`]; ordered by time, so retention is a range delete.
//!
//! Object names are case-insensitive, as in Key Vault: keys of the tables use the lowercase
//! name and records keep the name as created. Vault names are DNS labels, stored lowercase.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::error::ObjectKind;
use crate::model::access::AccessPolicyEntry;
use crate::model::{DeletionInfo, VaultInfo, VaultKind};

/// A vault's settings and state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VaultRecord {
    pub(crate) name: String,
    pub(crate) kind: VaultKind,
    pub(crate) retention_days: u32,
    pub(crate) purge_protection: bool,
    pub(crate) created: UnixTime,
    #[serde(default)]
    pub(crate) deletion: Option<DeletionInfo>,
    /// Set while a purge of the vault is under way, so an interrupted purge is finished at
    /// the next open and the name is not reused before then.
    #[serde(default)]
    pub(crate) purging: bool,
    /// Whether data-plane calls are recorded in the access log.
    #[serde(default)]
    pub(crate) access_log: bool,
    /// How long access-log records are kept, in days.
    #[serde(default = "default_log_retention")]
    pub(crate) log_retention_days: u32,
    /// Key Vault's permission model: role assignments (`true`), or the access policies
    /// below (`false`, vaults of kind `vault` only). Absent in stores written before access
    /// policies existed, which read as `true`: the model every vault had then.
    #[serde(default = "crate::model::access::rbac_by_default")]
    pub(crate) enable_rbac_authorization: bool,
    /// The vault's access policies, at most one per object ID. Kept whichever model is in
    /// force, as Azure keeps them, so switching back and forth loses nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) access_policies: Vec<AccessPolicyEntry>,
    /// Who hears about certificates' lifetime events (Key Vault's certificate contacts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) certificate_contacts: Vec<crate::model::certificates::Contact>,
    /// A Managed HSM's account settings that differ from their defaults, by name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub(crate) settings: std::collections::BTreeMap<String, String>,
    /// The vault's custom role definitions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) custom_roles: Vec<crate::model::access::CustomRole>,
    /// The PIN hashes of the vault's PKCS#11 token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) token_pins: Option<crate::model::TokenPins>,
}

/// Access-log retention when none was set.
pub(crate) const DEFAULT_LOG_RETENTION_DAYS: u32 = 90;

fn default_log_retention() -> u32 {
    DEFAULT_LOG_RETENTION_DAYS
}

impl VaultRecord {
    /// Neither soft-deleted nor being purged.
    pub(crate) fn is_live(&self) -> bool {
        self.deletion.is_none() && !self.purging
    }

    /// The vault as callers see it.
    pub(crate) fn info(&self) -> VaultInfo {
        VaultInfo {
            name: self.name.clone(),
            kind: self.kind,
            retention_days: self.retention_days,
            purge_protection: self.purge_protection,
            created: self.created,
            deleted_date: self.deletion.map(|d| d.deleted_date),
            scheduled_purge_date: self.deletion.map(|d| d.scheduled_purge_date),
            access_log: self.access_log,
            log_retention_days: self.log_retention_days,
            enable_rbac_authorization: self.enable_rbac_authorization,
        }
    }

    /// Whether the vault's access policies, not role assignments, decide who may do what.
    pub(crate) fn uses_access_policies(&self) -> bool {
        self.kind == VaultKind::Vault && !self.enable_rbac_authorization
    }
}

/// An object of any kind: its name as created, its versions oldest first (the last is
/// current), and its deletion dates when soft-deleted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ObjectRecord {
    pub(crate) name: String,
    pub(crate) versions: Vec<String>,
    #[serde(default)]
    pub(crate) deletion: Option<DeletionInfo>,
    /// Whether a certificate owns the object (its key or secret): changed, deleted,
    /// recovered and purged only with the certificate, and not listed on its own when
    /// deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) managed: bool,
    /// A key's rotation policy (keys only; absent until one is set, and in stores written
    /// before rotation policies existed). It lives on the object, not a version, so delete,
    /// recover and backup keep it and purge removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rotation_policy: Option<crate::model::key_policies::KeyRotationPolicy>,
    /// The version whose Notify lifetime action has been recorded, so it is recorded once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) notified_version: Option<String>,
}

impl ObjectRecord {
    /// The current (newest) version.
    pub(crate) fn current(&self) -> Option<&str> {
        self.versions.last().map(String::as_str)
    }
}

/// What a purge-queue entry points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// An object of a kind, by `vault/name`.
    Object(ObjectKind),
    /// A vault, by name.
    Vault,
}

impl Due {
    fn byte(self) -> u8 {
        match self {
            Due::Object(ObjectKind::Key) => b'k',
            Due::Object(ObjectKind::Secret) => b's',
            Due::Object(ObjectKind::Certificate) => b'c',
            Due::Vault => b'v',
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            b'k' => Due::Object(ObjectKind::Key),
            b's' => Due::Object(ObjectKind::Secret),
            b'c' => Due::Object(ObjectKind::Certificate),
            b'v' => Due::Vault,
            _ => return None,
        })
    }
}

/// The table key of a vault (its lowercase name).
pub(crate) fn vault_id(vault: &str) -> Vec<u8> {
    vault.to_ascii_lowercase().into_bytes()
}

/// The prefix of everything a vault holds in the object, version and role tables.
pub(crate) fn vault_prefix(vault: &str) -> Vec<u8> {
    format!("{}/", vault.to_ascii_lowercase()).into_bytes()
}

/// The table key of an object: `vault/name`, lowercase.
pub(crate) fn object_id(vault: &str, name: &str) -> Vec<u8> {
    let mut id = vault_prefix(vault);
    id.extend_from_slice(name.to_ascii_lowercase().as_bytes());
    id
}

/// The table key of an object version: `vault/name/version`.
pub(crate) fn version_id(object_id: &[u8], version: &str) -> Vec<u8> {
    let mut id = Vec::with_capacity(object_id.len() + 1 + version.len());
    id.extend_from_slice(object_id);
    id.push(b'/');
    id.extend_from_slice(version.as_bytes());
    id
}

/// The vault part of an object id.
pub(crate) fn vault_of(object_id: &[u8]) -> &[u8] {
    object_id.split(|&b| b == b'/').next().unwrap_or_default()
}

/// A purge-queue key.
pub(crate) fn purge_entry(due: UnixTime, what: Due, id: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + id.len());
    k.extend_from_slice(&due.to_be_bytes());
    k.push(what.byte());
    k.extend_from_slice(id);
    k
}

/// Splits a purge-queue key into its parts.
pub(crate) fn parse_purge_entry(k: &[u8]) -> Option<(UnixTime, Due, &[u8])> {
    let (due, rest) = k.split_first_chunk::<8>()?;
    let (&what, id) = rest.split_first()?;
    Some((u64::from_be_bytes(*due), Due::from_byte(what)?, id))
}

/// The prefix of a vault's access-log records.
pub(crate) fn log_prefix(vault: &str) -> Vec<u8> {
    let mut k = vault_id(vault);
    k.push(0);
    k
}

/// The key of an access-log record.
pub(crate) fn log_key(vault: &str, time: UnixTime, seq: u64) -> Vec<u8> {
    let mut k = log_prefix(vault);
    k.extend_from_slice(&time.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_the_first_schema() {
        assert_eq!(object_id("Dev", "Signer"), b"dev/signer");
        assert_eq!(version_id(b"dev/signer", "0a"), b"dev/signer/0a");
        assert_eq!(vault_of(b"dev/signer"), b"dev");
        let k = purge_entry(7, Due::Object(ObjectKind::Key), b"dev/signer");
        assert_eq!(&k[..9], &[0, 0, 0, 0, 0, 0, 0, 7, b'k']);
        assert_eq!(
            parse_purge_entry(&k),
            Some((7, Due::Object(ObjectKind::Key), &b"dev/signer"[..]))
        );
        assert_eq!(
            parse_purge_entry(&purge_entry(1, Due::Vault, b"v")).map(|e| e.1),
            Some(Due::Vault)
        );
        assert!(parse_purge_entry(b"short").is_none());
        assert_eq!(log_key("V", 1, 2)[..2], *b"v\0");
    }
}
