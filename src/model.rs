//! The objects a vault holds, as callers see them: vault settings, attributes, tags, names,
//! key bundles, callers, and the vocabulary of access control ([`access`]).
//!
//! Layer: base. Imports [`crate::clock`], [`crate::error`] and [`crate::crypto`] only. Plain
//! data and the validation rules Key Vault states for it (name syntax, tag limits, retention
//! range); the lifecycle rules live in [`crate::lifecycle`].

pub mod access;
pub mod certificates;
pub mod key_policies;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::crypto::{Jwk, KeyOperation, KeyType, SecretString};
use crate::error::{Error, Result};

pub use crate::error::ObjectKind;

/// Key Vault's limit on tags per object.
pub const MAX_TAGS: usize = 15;
/// Key Vault's limit on a tag name's length.
pub const MAX_TAG_NAME_LEN: usize = 512;
/// Key Vault's limit on a tag value's length.
pub const MAX_TAG_VALUE_LEN: usize = 256;
/// Shortest soft-delete retention a vault may have, in days.
pub const MIN_RETENTION_DAYS: u32 = 7;
/// Longest (and default) soft-delete retention, in days.
pub const MAX_RETENTION_DAYS: u32 = 90;
/// Seconds in a day.
pub const DAY: u64 = 86_400;
/// Key Vault's limit on a secret's value: 25 KiB of UTF-8.
pub const MAX_SECRET_VALUE_BYTES: usize = 25 * 1024;
/// Longest `contentType` a secret may carry.
pub const MAX_CONTENT_TYPE_LEN: usize = 255;
/// The vault every store starts with. It is a Managed HSM (every key type, `/rng`, local
/// RBAC) that also holds secrets, so both SDK families work against one URL with no set-up.
pub const DEFAULT_VAULT: &str = "default";

/// Tags: name to value, at most [`MAX_TAGS`].
pub type Tags = BTreeMap<String, String>;

/// Checks tags against Key Vault's limits.
pub fn validate_tags(tags: &Tags) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::bad_parameter(format!(
            "at most {MAX_TAGS} tags are allowed, got {}",
            tags.len()
        )));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > MAX_TAG_NAME_LEN {
            return Err(Error::bad_parameter(format!(
                "tag names must be 1 to {MAX_TAG_NAME_LEN} characters"
            )));
        }
        if v.chars().count() > MAX_TAG_VALUE_LEN {
            return Err(Error::bad_parameter(format!(
                "tag {k:?}: values must be at most {MAX_TAG_VALUE_LEN} characters"
            )));
        }
    }
    Ok(())
}

/// Checks that a validity period is not empty: `nbf` must come before `exp`.
pub fn validate_validity(not_before: Option<UnixTime>, expires: Option<UnixTime>) -> Result<()> {
    match (not_before, expires) {
        (Some(nbf), Some(exp)) if nbf >= exp => {
            Err(Error::bad_parameter("nbf must be earlier than exp"))
        }
        _ => Ok(()),
    }
}

/// Checks a name of `what`: 1 to `max` characters of `0-9a-zA-Z-`; a DNS `label` also
/// neither starts nor ends with `-`. The error quotes the name (cut short) and the rule, with
/// `hint` after it.
pub(crate) fn validate_chars(
    what: &str,
    name: &str,
    max: usize,
    label: bool,
    hint: &str,
) -> Result<()> {
    let ok = (1..=max).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !(label && (name.starts_with('-') || name.ends_with('-')));
    if ok {
        return Ok(());
    }
    let shown: String = name.chars().take(max.max(67) + 13).collect();
    let edges = if label {
        ", not starting or ending with -"
    } else {
        ""
    };
    Err(Error::bad_parameter(format!(
        "{what} name {shown:?} is invalid: use 1 to {max} characters of 0-9, a-z, A-Z and -{edges}{hint}"
    )))
}

/// Checks an object name: 1 to 127 characters of `0-9a-zA-Z-`, as Key Vault requires.
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    validate_chars(what, name, 127, false, "")
}

/// Checks a vault name: it is also a DNS label (`{vault}.localhost`), so 1 to 63 characters
/// of `0-9a-zA-Z-`, not starting or ending with `-`.
pub fn validate_vault_name(name: &str) -> Result<()> {
    validate_chars("vault", name, 63, true, "")
}

/// What a vault emulates, and so which objects it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum VaultKind {
    /// Azure Key Vault: RSA and EC keys and secrets; no oct keys, no `/rng`.
    #[default]
    Vault,
    /// Azure Managed HSM: every key type, `/rng`, local role assignments; no secrets.
    #[serde(rename = "managedhsm")]
    ManagedHsm,
}

impl VaultKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            VaultKind::Vault => "vault",
            VaultKind::ManagedHsm => "managedhsm",
        }
    }
}

impl std::str::FromStr for VaultKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "vault" => Ok(VaultKind::Vault),
            "managedhsm" => Ok(VaultKind::ManagedHsm),
            _ => Err(Error::bad_parameter(format!(
                "vault kind must be vault or managedhsm, not {s:?}"
            ))),
        }
    }
}

/// Settings for a new vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VaultOptions {
    /// What the vault emulates. Default: [`VaultKind::Vault`].
    pub kind: VaultKind,
    /// Soft-delete retention in days, 7 to 90. Default: 90. Fixed at creation.
    pub retention_days: u32,
    /// Purge protection. Default: off. Once on, it can never be turned off.
    pub purge_protection: bool,
}

impl Default for VaultOptions {
    fn default() -> Self {
        Self {
            kind: VaultKind::Vault,
            retention_days: MAX_RETENTION_DAYS,
            purge_protection: false,
        }
    }
}

/// Key Vault's `recoveryLevel` string for a vault's settings.
pub fn recovery_level(retention_days: u32, purge_protection: bool) -> &'static str {
    match (retention_days >= MAX_RETENTION_DAYS, purge_protection) {
        (true, false) => "Recoverable+Purgeable",
        (true, true) => "Recoverable",
        (false, false) => "CustomizedRecoverable+Purgeable",
        (false, true) => "CustomizedRecoverable",
    }
}

/// A vault as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultInfo {
    /// Name (also the `{name}.localhost` host label).
    pub name: String,
    /// Kind.
    pub kind: VaultKind,
    /// Soft-delete retention in days.
    pub retention_days: u32,
    /// Purge protection.
    pub purge_protection: bool,
    /// Creation time.
    pub created: UnixTime,
    /// When it was soft-deleted, if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_date: Option<UnixTime>,
    /// When a soft-deleted vault will be purged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_purge_date: Option<UnixTime>,
    /// Whether data-plane calls are recorded in the access log.
    pub access_log: bool,
    /// How long access-log records are kept, in days.
    pub log_retention_days: u32,
    /// Key Vault's permission model: `true`, role assignments decide (always, in a Managed
    /// HSM); `false`, the vault's access policies do.
    #[serde(default = "access::rbac_by_default")]
    pub enable_rbac_authorization: bool,
}

impl VaultInfo {
    /// Key Vault's `recoveryLevel` for objects in this vault.
    pub fn recovery_level(&self) -> &'static str {
        recovery_level(self.retention_days, self.purge_protection)
    }

    /// Whether the vault holds objects of `kind`: keys everywhere; secrets in vaults of
    /// kind `vault` and in the [`DEFAULT_VAULT`], as Managed HSM has no secrets API.
    pub fn holds(&self, kind: ObjectKind) -> bool {
        holds(self.kind, &self.name, kind)
    }
}

/// Whether a vault of `vault_kind` named `vault` holds objects of `kind`; see
/// [`VaultInfo::holds`].
pub fn holds(vault_kind: VaultKind, vault: &str, kind: ObjectKind) -> bool {
    match kind {
        ObjectKind::Key => true,
        _ => vault_kind == VaultKind::Vault || vault.eq_ignore_ascii_case(DEFAULT_VAULT),
    }
}

/// A vault's PKCS#11 token PINs, as slow hashes ([`crate::crypto::pin`]); the PINs
/// themselves are never stored. `None`: not set yet.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenPins {
    /// The security officer's PIN hash (set by initializing the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub so: Option<String>,
    /// The user's PIN hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl std::fmt::Debug for TokenPins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Slow hashes still help a guesser: not printed.
        f.debug_struct("TokenPins")
            .field("so", &self.so.as_ref().map(|_| "[set]"))
            .field("user", &self.user.as_ref().map(|_| "[set]"))
            .finish()
    }
}

/// Attributes of a key version, as Key Vault reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyAttributes {
    /// Whether the version may be used.
    pub enabled: bool,
    /// Not valid before this time.
    pub not_before: Option<UnixTime>,
    /// Not valid after this time.
    pub expires: Option<UnixTime>,
    /// Creation time.
    pub created: UnixTime,
    /// Last update time.
    pub updated: UnixTime,
    /// Whether the private key may be exported.
    pub exportable: bool,
    /// Key Vault's recovery level string, from the vault's settings.
    pub recovery_level: String,
    /// Soft-delete retention in days.
    pub recoverable_days: u32,
}

/// A key version: identity, public key, attributes, tags.
#[derive(Debug)]
pub struct KeyBundle {
    /// Vault name.
    pub vault: String,
    /// Key name as created.
    pub name: String,
    /// Version id (32 lowercase hex).
    pub version: String,
    /// Key type as created (`EC-HSM` etc.).
    pub kty: KeyType,
    /// Public JWK (for oct keys, only `kty`); private members only on export.
    pub key: Jwk,
    /// Permitted operations.
    pub key_ops: Vec<KeyOperation>,
    /// Attributes.
    pub attributes: KeyAttributes,
    /// Tags.
    pub tags: Tags,
    /// Whether a certificate owns the key (Key Vault's `managed`).
    pub managed: bool,
    /// Whether this is the current (newest) version.
    pub is_current: bool,
    /// The version's release policy, if it has one.
    pub release_policy: Option<key_policies::KeyReleasePolicy>,
}

/// Soft-delete information of a deleted object (or vault).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionInfo {
    /// When it was deleted.
    pub deleted_date: UnixTime,
    /// When it will be purged automatically (and, under purge protection, the earliest
    /// moment it may be purged at all).
    pub scheduled_purge_date: UnixTime,
}

/// A deleted key: its current version's bundle plus deletion info.
#[derive(Debug)]
pub struct DeletedKeyBundle {
    /// The current version at deletion.
    pub key: KeyBundle,
    /// Deletion dates.
    pub deletion: DeletionInfo,
}

/// Changes to a key version; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyUpdate {
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// Set (`Some(Some(t))`) or clear (`Some(None)`) `nbf`.
    pub not_before: Option<Option<UnixTime>>,
    /// Set or clear `exp`.
    pub expires: Option<Option<UnixTime>>,
    /// Replace `key_ops`.
    pub key_ops: Option<Vec<KeyOperation>>,
    /// Replace the tags.
    pub tags: Option<Tags>,
    /// Set or replace the release policy; refused once the current one is immutable.
    pub release_policy: Option<key_policies::KeyReleasePolicy>,
}

/// Options for creating or importing a key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyOptions {
    /// Permitted operations; default by key type (EC: sign, verify; RSA: all six; oct:
    /// encrypt, decrypt, wrapKey, unwrapKey).
    pub key_ops: Option<Vec<KeyOperation>>,
    /// Enabled; default true.
    pub enabled: Option<bool>,
    /// `nbf`.
    pub not_before: Option<UnixTime>,
    /// `exp`.
    pub expires: Option<UnixTime>,
    /// Whether private material may be exported; default false. An exportable key needs
    /// a release policy, as in Key Vault.
    pub exportable: bool,
    /// Tags.
    pub tags: Tags,
    /// The rules under which the key may be released; only for exportable keys.
    pub release_policy: Option<key_policies::KeyReleasePolicy>,
}

/// Attributes of a secret version, as Key Vault reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretAttributes {
    /// Whether the value may be read.
    pub enabled: bool,
    /// Not valid before this time (informational: Key Vault still returns the value).
    pub not_before: Option<UnixTime>,
    /// Not valid after this time (informational, as for `not_before`).
    pub expires: Option<UnixTime>,
    /// Creation time.
    pub created: UnixTime,
    /// Last update time.
    pub updated: UnixTime,
    /// Key Vault's recovery level string, from the vault's settings.
    pub recovery_level: String,
    /// Soft-delete retention in days.
    pub recoverable_days: u32,
}

/// A secret version: identity, value (when read), content type, attributes, tags.
#[derive(Debug)]
pub struct SecretBundle {
    /// Vault name.
    pub vault: String,
    /// Secret name as set.
    pub name: String,
    /// Version id (32 lowercase hex).
    pub version: String,
    /// The value: present on set and get, absent in lists, updates and deleted bundles.
    pub value: Option<SecretString>,
    /// The caller's description of the value (`text/plain`, `application/x-pkcs12`, ...).
    pub content_type: Option<String>,
    /// Attributes.
    pub attributes: SecretAttributes,
    /// Tags.
    pub tags: Tags,
    /// Whether a certificate owns the secret (Key Vault's `managed`).
    pub managed: bool,
    /// Whether this is the current (newest) version.
    pub is_current: bool,
}

/// A deleted secret: its current version's bundle (no value) plus deletion info.
#[derive(Debug)]
pub struct DeletedSecretBundle {
    /// The current version at deletion.
    pub secret: SecretBundle,
    /// Deletion dates.
    pub deletion: DeletionInfo,
}

/// Options for setting a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretOptions {
    /// Content type, at most [`MAX_CONTENT_TYPE_LEN`] characters.
    pub content_type: Option<String>,
    /// Enabled; default true.
    pub enabled: Option<bool>,
    /// `nbf`.
    pub not_before: Option<UnixTime>,
    /// `exp`.
    pub expires: Option<UnixTime>,
    /// Tags.
    pub tags: Tags,
}

/// Changes to a secret version; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretUpdate {
    /// Replace the content type.
    pub content_type: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// Set (`Some(Some(t))`) or clear (`Some(None)`) `nbf`.
    pub not_before: Option<Option<UnixTime>>,
    /// Set or clear `exp`.
    pub expires: Option<Option<UnixTime>>,
    /// Replace the tags.
    pub tags: Option<Tags>,
}

/// Checks a secret's value and content type against Key Vault's limits.
pub fn validate_secret(value: &SecretString, content_type: Option<&str>) -> Result<()> {
    if value.len() > MAX_SECRET_VALUE_BYTES {
        return Err(Error::bad_parameter(format!(
            "the secret value is {} bytes; Key Vault allows at most {MAX_SECRET_VALUE_BYTES}",
            value.len()
        )));
    }
    validate_content_type(content_type)
}

/// Checks a content type's length.
pub fn validate_content_type(content_type: Option<&str>) -> Result<()> {
    match content_type {
        Some(ct) if ct.chars().count() > MAX_CONTENT_TYPE_LEN => Err(Error::bad_parameter(
            format!("contentType must be at most {MAX_CONTENT_TYPE_LEN} characters"),
        )),
        _ => Ok(()),
    }
}

/// One page of a listing, with the continuation to pass for the next page.
#[derive(Debug)]
pub struct Page<T> {
    /// Items in this page.
    pub items: Vec<T>,
    /// Opaque continuation for the next page; `None` on the last page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// The same page with each item turned into another by `f`, which may fail.
    pub fn try_map<U>(self, f: impl FnMut(T) -> Result<U>) -> Result<Page<U>> {
        Ok(Page {
            items: self.items.into_iter().map(f).collect::<Result<_>>()?,
            next: self.next,
        })
    }
}

/// Who is asking: recorded for access control and access logs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Caller {
    /// Microsoft Entra object ID (`oid`).
    pub object_id: Option<String>,
    /// User principal name (`upn`).
    pub upn: Option<String>,
    /// Tenant ID (`tid`).
    pub tenant_id: Option<String>,
    /// Client IP address.
    pub ip: Option<String>,
}

impl Caller {
    /// The local user of the library or CLI, with no identity.
    pub fn local() -> Self {
        Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_levels_follow_key_vault() {
        assert_eq!(recovery_level(90, false), "Recoverable+Purgeable");
        assert_eq!(recovery_level(90, true), "Recoverable");
        assert_eq!(recovery_level(7, false), "CustomizedRecoverable+Purgeable");
        assert_eq!(recovery_level(30, true), "CustomizedRecoverable");
    }

    #[test]
    fn names_follow_key_vault_rules() {
        assert!(validate_name("key", "a-Z-09").is_ok());
        assert!(validate_name("key", "").is_err());
        assert!(validate_name("key", "has_underscore").is_err());
        assert!(validate_name("key", &"a".repeat(128)).is_err());
        assert!(validate_name("key", &"a".repeat(127)).is_ok());
        assert!(validate_vault_name("-bad").is_err());
        assert!(validate_vault_name("good-1").is_ok());
    }

    #[test]
    fn tag_limits() {
        let mut t: Tags = (0..15).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(validate_tags(&t).is_ok());
        t.insert("k15".into(), "v".into());
        assert!(validate_tags(&t).is_err());
        let long: Tags = [("k".to_string(), "v".repeat(257))].into();
        assert!(validate_tags(&long).is_err());
    }
}
