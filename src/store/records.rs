//! The on-disk records and how their sled keys are spelled. Changing anything here changes
//! the schema: bump [`SCHEMA_VERSION`] and teach `Store::open` the migration.
//!
//! Trees:
//! - `meta`: `schema` (u32 BE), `check` (sealed known value: detects a wrong master key),
//!   `salt` (passphrase salt), `time` (u64 BE high-water mark of the clock).
//! - `vaults`: vault name -> [`VaultRecord`].
//! - `keys`: `vault/name` -> [`KeyRecord`] for live keys.
//! - `deleted_keys`: `vault/name` -> [`KeyRecord`] for soft-deleted keys.
//! - `versions`: `vault/name/version` -> [`VersionRecord`]; kept while deleted, so recover
//!   brings back every version unchanged.
//! - `purge_queue`: `due (u64 BE) || kind || vault/name` -> empty; ordered by due date so the
//!   sweep reads only what is due.
//! - `role_assignments`: `vault/assignment-name` -> [`crate::rbac::RoleAssignment`].
//! - `access_log`: `vault || 0 || time (u64 BE) || sequence (u64 BE)` -> an
//!   [`crate::audit::AccessLogRecord`]; ordered by time so retention is a range delete.
//!
//! Key names are case-insensitive, as in Key Vault: sled keys use the lowercase name and
//! key records keep the name as created. Vault names are DNS labels and are stored
//! lowercase.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::crypto::{Jwk, KeyOperation, KeyType};
use crate::model::{DeletionInfo, Tags, VaultKind};

/// The schema this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

pub(crate) const META_SCHEMA: &[u8] = b"schema";
pub(crate) const META_CHECK: &[u8] = b"check";
pub(crate) const META_SALT: &[u8] = b"salt";
pub(crate) const META_TIME: &[u8] = b"time";
pub(crate) const CHECK_PLAINTEXT: &[u8] = b"localhsm master key check v1";
pub(crate) const CHECK_AAD: &[u8] = b"localhsm/check/v1";

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
}

/// Access-log retention when none was set.
pub(crate) const DEFAULT_LOG_RETENTION_DAYS: u32 = 90;

fn default_log_retention() -> u32 {
    DEFAULT_LOG_RETENTION_DAYS
}

/// A key: its name as created, its versions oldest first (the last is current), and its
/// deletion info when soft-deleted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    pub(crate) name: String,
    pub(crate) versions: Vec<String>,
    #[serde(default)]
    pub(crate) deletion: Option<DeletionInfo>,
}

/// One key version: public parts and attributes in the clear, private material sealed.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct VersionRecord {
    pub(crate) kty: KeyType,
    pub(crate) public: Jwk,
    pub(crate) key_ops: Vec<KeyOperation>,
    pub(crate) enabled: bool,
    pub(crate) not_before: Option<UnixTime>,
    pub(crate) expires: Option<UnixTime>,
    pub(crate) created: UnixTime,
    pub(crate) updated: UnixTime,
    pub(crate) exportable: bool,
    pub(crate) tags: Tags,
    /// `Sealer::seal(Record, material_aad(..), KeyMaterial::to_sealable())`, base64url.
    pub(crate) sealed: crate::crypto::Base64Url,
}

/// What a purge-queue entry points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    Key = b'k' as isize,
    Vault = b'v' as isize,
}

/// The sled key of a vault (its lowercase name).
pub(crate) fn vault_id(vault: &str) -> Vec<u8> {
    vault.to_ascii_lowercase().into_bytes()
}

pub(crate) fn key_id(vault: &str, name: &str) -> Vec<u8> {
    format!(
        "{}/{}",
        vault.to_ascii_lowercase(),
        name.to_ascii_lowercase()
    )
    .into_bytes()
}

pub(crate) fn key_prefix(vault: &str) -> Vec<u8> {
    format!("{}/", vault.to_ascii_lowercase()).into_bytes()
}

pub(crate) fn version_id(vault: &str, name: &str, version: &str) -> Vec<u8> {
    format!(
        "{}/{}/{}",
        vault.to_ascii_lowercase(),
        name.to_ascii_lowercase(),
        version
    )
    .into_bytes()
}

pub(crate) fn purge_entry(due: UnixTime, kind: Due, id: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + id.len());
    k.extend_from_slice(&due.to_be_bytes());
    k.push(kind as u8);
    k.extend_from_slice(id);
    k
}

/// Splits a purge-queue key into its parts.
pub(crate) fn parse_purge_entry(k: &[u8]) -> Option<(UnixTime, Due, &[u8])> {
    let (due, rest) = k.split_first_chunk::<8>()?;
    let (&kind, id) = rest.split_first()?;
    let kind = match kind {
        b'k' => Due::Key,
        b'v' => Due::Vault,
        _ => return None,
    };
    Some((u64::from_be_bytes(*due), kind, id))
}

/// Associated data binding sealed key material to its vault, name and version.
pub(crate) fn material_aad(vault: &str, name: &str, version: &str) -> Vec<u8> {
    let mut aad = b"localhsm/key/v1\0".to_vec();
    aad.extend_from_slice(&version_id(vault, name, version));
    aad
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Serializing these plain records cannot fail: no maps with non-string keys, no
    // fallible Serialize impls.
    serde_json::to_vec(v).unwrap_or_default()
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    what: &str,
    bytes: &[u8],
) -> crate::error::Result<T> {
    serde_json::from_slice(bytes).map_err(|_| crate::error::Error::Corrupt {
        what: what.to_string(),
    })
}
