//! Secrets: the secret kind's policy over the lifecycle. A secret is a versioned Unicode
//! value up to Key Vault's 25 KiB, with a content type, attributes and tags; the value is
//! sealed before it is stored and returned only by [`Vault::set_secret`] and
//! [`Vault::get_secret`].
//!
//! Layer: objects. Imports [`crate::vault`] (it adds the secret operations to [`Vault`]),
//! the lifecycle and the base layer.
//!
//! A secret version is stored as a `SecretVersion` record (JSON): `content_type`,
//! `enabled`, `not_before`, `expires`, `created`, `updated`, `tags`, `managed`, and
//! `sealed`: the UTF-8 value sealed with the binding of `store::seal` (vault, kind `secret`,
//! name, version). Setting a secret always makes a new version.
//!
//! Key Vault's rules: a disabled version's value cannot be read (403 `SecretDisabled`);
//! `nbf` and `exp` are informational for secrets (Key Vault returns the value outside them);
//! a soft-deleted name is taken; Managed HSM has no secrets, so a vault of that kind refuses
//! them (the default vault excepted, see [`crate::model::DEFAULT_VAULT`]).

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::crypto::{Base64Url, SecretBytes, SecretString};
use crate::error::{Error, ObjectKind, Result};
use crate::lifecycle::objects::{
    new_version_id, versions_page, AttributeUpdate, AttributesMut, Objects, VersionState, Versioned,
};
use crate::lifecycle::records::{ObjectRecord, VaultRecord};
use crate::model::access::DataAction;
use crate::model::{
    validate_content_type, validate_name, validate_secret, validate_tags, validate_validity,
    DeletedSecretBundle, DeletionInfo, Page, SecretAttributes, SecretBundle, SecretOptions,
    SecretUpdate, Tags,
};
use crate::vault::Vault;

const SECRET: ObjectKind = ObjectKind::Secret;

/// One secret version as stored: attributes in the clear, the value sealed.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SecretVersion {
    #[serde(default)]
    pub(crate) content_type: Option<String>,
    pub(crate) enabled: bool,
    pub(crate) not_before: Option<UnixTime>,
    pub(crate) expires: Option<UnixTime>,
    pub(crate) created: UnixTime,
    pub(crate) updated: UnixTime,
    #[serde(default)]
    pub(crate) tags: Tags,
    /// Whether a certificate owns this secret.
    #[serde(default)]
    pub(crate) managed: bool,
    /// Whether the value may not be read: a certificate whose key is not exportable keeps
    /// only its chain here, and refuses reads as Key Vault does.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) withheld: bool,
    /// The sealed value, base64url.
    pub(crate) sealed: Base64Url,
}

impl Versioned for SecretVersion {
    fn attributes_mut(&mut self) -> AttributesMut<'_> {
        AttributesMut {
            enabled: &mut self.enabled,
            not_before: &mut self.not_before,
            expires: &mut self.expires,
            updated: &mut self.updated,
            tags: &mut self.tags,
        }
    }

    fn sealed(&self) -> &[u8] {
        &self.sealed.0
    }

    fn set_sealed(&mut self, sealed: Vec<u8>) {
        self.sealed = Base64Url(sealed);
    }
}

/// A version's bundle, without its value.
fn bundle(
    vault: &VaultRecord,
    record: &ObjectRecord,
    version: &str,
    v: SecretVersion,
) -> SecretBundle {
    SecretBundle {
        vault: vault.name.clone(),
        name: record.name.clone(),
        version: version.to_string(),
        value: None,
        content_type: v.content_type,
        attributes: SecretAttributes {
            enabled: v.enabled,
            not_before: v.not_before,
            expires: v.expires,
            created: v.created,
            updated: v.updated,
            recovery_level: vault.info().recovery_level().to_string(),
            recoverable_days: vault.retention_days,
        },
        tags: v.tags,
        managed: v.managed,
        is_current: record.current() == Some(version),
    }
}

impl Vault {
    fn secrets(&self) -> Objects<'_> {
        self.objects(SECRET)
    }

    fn require_on_secret(&self, action: DataAction, name: &str) -> Result<()> {
        self.require_on(action, SECRET, name)
    }

    /// The vault's record, when it holds secrets; a Managed HSM does not.
    fn secrets_vault(&self) -> Result<std::sync::Arc<VaultRecord>> {
        let vault = self.record()?;
        if !vault.info().holds(SECRET) {
            return Err(Error::NotSupportedByVaultKind {
                what: "secrets (Managed HSM has no secrets API)".into(),
                kind: vault.kind.as_str(),
            });
        }
        Ok(vault)
    }

    fn secret_bundle(
        &self,
        vault: &VaultRecord,
        record: &ObjectRecord,
        version: Option<&str>,
    ) -> Result<SecretBundle> {
        let version = self.secrets().pick_version(record, version)?;
        let v = self.secrets().version(&record.name, &version)?;
        Ok(bundle(vault, record, &version, v))
    }

    fn deleted_secret_bundle(
        &self,
        vault: &VaultRecord,
        record: ObjectRecord,
    ) -> Result<DeletedSecretBundle> {
        let deletion = record.deletion.ok_or_else(|| Error::Corrupt {
            what: "deleted secret".into(),
        })?;
        Ok(DeletedSecretBundle {
            secret: self.secret_bundle(vault, &record, None)?,
            deletion,
        })
    }

    /// Sets a secret: a new version of `name` holding `value` (the secret is created if it
    /// is new). Refused while the name is soft-deleted.
    pub fn set_secret(
        &self,
        name: &str,
        value: SecretString,
        options: SecretOptions,
    ) -> Result<SecretBundle> {
        validate_name("secret", name)?;
        self.require_on_secret(DataAction::SecretsSet, name)?;
        let vault = self.secrets_vault()?;
        validate_secret(&value, options.content_type.as_deref())?;
        validate_tags(&options.tags)?;
        validate_validity(options.not_before, options.expires)?;
        let version = new_version_id()?;
        let now = self.core().now();
        let sealed = self
            .secrets()
            .seal(name, &version, value.expose().as_bytes())?;
        let v = SecretVersion {
            content_type: options.content_type,
            enabled: options.enabled.unwrap_or(true),
            not_before: options.not_before,
            expires: options.expires,
            created: now,
            updated: now,
            tags: options.tags,
            managed: false,
            withheld: false,
            sealed: Base64Url(sealed),
        };
        let record = self.secrets().add_version(name, &version, &v)?;
        let mut b = bundle(&vault, &record, &version, v);
        b.value = Some(value);
        Ok(b)
    }

    /// A secret version with its value (the current version when `version` is `None`).
    /// A disabled version's value cannot be read; `nbf` and `exp` do not stop the read, as
    /// in Key Vault.
    pub fn get_secret(&self, name: &str, version: Option<&str>) -> Result<SecretBundle> {
        self.require_on_secret(DataAction::SecretsGet, name)?;
        let vault = self.secrets_vault()?;
        let secrets = self.secrets();
        let record = secrets.live(name)?;
        let version = secrets.pick_version(&record, version)?;
        let v: SecretVersion = secrets.version(&record.name, &version)?;
        if !v.enabled {
            return Err(Error::Disabled {
                kind: SECRET,
                operation: "get",
            });
        }
        if v.withheld {
            return Err(Error::NotExportable);
        }
        let plain = secrets.unseal(&record.name, &version, &v.sealed.0)?;
        let value = SecretString::from_bytes(&plain).ok_or_else(|| Error::Corrupt {
            what: format!("secret {}/{version}", record.name),
        })?;
        let mut b = bundle(&vault, &record, &version, v);
        b.value = Some(value);
        Ok(b)
    }

    /// A secret version's attributes, content type and tags, without its value.
    pub fn get_secret_properties(&self, name: &str, version: Option<&str>) -> Result<SecretBundle> {
        self.require_on_secret(DataAction::SecretsReadMetadata, name)?;
        let vault = self.secrets_vault()?;
        let record = self.secrets().live(name)?;
        self.secret_bundle(&vault, &record, version)
    }

    /// Live secrets (their current versions, without values), by lowercase name, `max` at
    /// a time. Pass the returned `next` to continue.
    pub fn list_secrets(
        &self,
        max: usize,
        continuation: Option<&str>,
    ) -> Result<Page<SecretBundle>> {
        self.require(DataAction::SecretsReadMetadata, "/secrets")?;
        let vault = self.secrets_vault()?;
        self.secrets()
            .page(false, max, continuation)?
            .try_map(|record| self.secret_bundle(&vault, &record, None))
    }

    /// The versions of a secret (without values), oldest first, `max` at a time.
    pub fn list_secret_versions(
        &self,
        name: &str,
        max: usize,
        continuation: Option<&str>,
    ) -> Result<Page<SecretBundle>> {
        self.require_on_secret(DataAction::SecretsReadMetadata, name)?;
        let vault = self.secrets_vault()?;
        let record = self.secrets().live(name)?;
        let (versions, next) = versions_page(&record, max, continuation)?;
        let items = versions
            .iter()
            .map(|v| self.secret_bundle(&vault, &record, Some(v)))
            .collect::<Result<_>>()?;
        Ok(Page { items, next })
    }

    /// Soft-deleted secrets, `max` at a time.
    pub fn list_deleted_secrets(
        &self,
        max: usize,
        continuation: Option<&str>,
    ) -> Result<Page<DeletedSecretBundle>> {
        self.require(DataAction::SecretsReadMetadata, "/secrets")?;
        let vault = self.secrets_vault()?;
        self.secrets()
            .page(true, max, continuation)?
            .try_map(|record| self.deleted_secret_bundle(&vault, record))
    }

    /// Updates a version's attributes, content type or tags (the current version when
    /// `version` is `None`). The value never changes: set the secret for a new version.
    pub fn update_secret(
        &self,
        name: &str,
        version: Option<&str>,
        update: SecretUpdate,
    ) -> Result<SecretBundle> {
        self.require_on_secret(DataAction::SecretsUpdate, name)?;
        let vault = self.secrets_vault()?;
        // Malformed input is a 400 whatever the secret's state; only then is it looked up.
        if let Some(tags) = &update.tags {
            validate_tags(tags)?;
        }
        validate_content_type(update.content_type.as_deref())?;
        self.secrets().refuse_managed(&self.secrets().live(name)?)?;
        let attributes = AttributeUpdate {
            enabled: update.enabled,
            not_before: update.not_before,
            expires: update.expires,
            tags: update.tags,
        };
        let (record, version, v) = self.secrets().update_version(
            name,
            version,
            &attributes,
            |v: &mut SecretVersion| {
                if let Some(ct) = &update.content_type {
                    v.content_type = Some(ct.clone());
                }
            },
        )?;
        Ok(bundle(&vault, &record, &version, v))
    }

    /// Soft-deletes a secret with all its versions. It is purged automatically at
    /// `now + retention`; until then its name stays taken.
    pub fn delete_secret(&self, name: &str) -> Result<DeletedSecretBundle> {
        self.require_on_secret(DataAction::SecretsDelete, name)?;
        let vault = self.secrets_vault()?;
        self.secrets().refuse_managed(&self.secrets().live(name)?)?;
        let record = self.secrets().delete(name)?;
        self.deleted_secret_bundle(&vault, record)
    }

    /// A soft-deleted secret (without its value).
    pub fn get_deleted_secret(&self, name: &str) -> Result<DeletedSecretBundle> {
        self.require_on_secret(DataAction::SecretsReadMetadata, name)?;
        let vault = self.secrets_vault()?;
        let record = self.secrets().deleted(name)?;
        self.deleted_secret_bundle(&vault, record)
    }

    /// Recovers a soft-deleted secret with every version, unchanged.
    pub fn recover_deleted_secret(&self, name: &str) -> Result<SecretBundle> {
        self.require_on_secret(DataAction::SecretsRecover, name)?;
        let vault = self.secrets_vault()?;
        self.secrets()
            .refuse_managed(&self.secrets().deleted(name)?)?;
        let record = self.secrets().recover(name)?;
        self.secret_bundle(&vault, &record, None)
    }

    /// Purges a soft-deleted secret for good. Refused with [`Error::PurgeProtected`] before
    /// its scheduled purge date when the vault has purge protection.
    pub fn purge_deleted_secret(&self, name: &str) -> Result<()> {
        self.require_on_secret(DataAction::SecretsPurge, name)?;
        self.secrets_vault()?;
        self.secrets()
            .refuse_managed(&self.secrets().deleted(name)?)?;
        self.secrets().purge(name)
    }

    /// A backup of a secret with all its versions, attributes and tags: an opaque blob,
    /// encrypted and authenticated under this store's master key.
    pub fn backup_secret(&self, name: &str) -> Result<Vec<u8>> {
        self.require_on_secret(DataAction::SecretsBackup, name)?;
        self.secrets_vault()?;
        self.secrets().backup::<SecretVersion>(name)
    }

    /// Restores a secret from [`Vault::backup_secret`]'s blob under its original name and
    /// version ids. Refused when the name is in use, live or soft-deleted.
    pub fn restore_secret(&self, blob: &[u8]) -> Result<SecretBundle> {
        let vault = self.secrets_vault()?;
        let payload = self.secrets().open_backup::<SecretVersion>(blob)?;
        let name = payload.name.clone();
        self.require_on_secret(DataAction::SecretsRestore, &name)?;
        let record = self.secrets().restore(payload, |_, value: &SecretBytes| {
            SecretString::from_bytes(value)
                .map(|_| ())
                .ok_or(Error::InvalidBackup)
        })?;
        self.secret_bundle(&vault, &record, None)
    }

    /// Every version of a secret (live, or soft-deleted when `deleted`), oldest first,
    /// without values, with its deletion info. No access check: for store-level
    /// administration.
    pub(crate) fn all_secret_versions(
        &self,
        name: &str,
        deleted: bool,
    ) -> Result<(Vec<SecretBundle>, Option<DeletionInfo>)> {
        let vault = self.secrets().vault()?;
        let record = self.secrets().record(name, deleted)?;
        let versions = record
            .versions
            .iter()
            .map(|v| self.secret_bundle(&vault, &record, Some(v)))
            .collect::<Result<_>>()?;
        Ok((versions, record.deletion))
    }

    /// A sealed secret version for a certificate of the same name and version: its PFX or
    /// PEM, or with `withheld` only its chain. Not stored here; the certificate writes it.
    pub(crate) fn managed_secret_version(
        &self,
        name: &str,
        version: &str,
        value: &SecretString,
        content_type: &str,
        withheld: bool,
        state: VersionState,
    ) -> Result<SecretVersion> {
        let now = self.core().now();
        let sealed = self
            .secrets()
            .seal(name, version, value.expose().as_bytes())?;
        Ok(SecretVersion {
            content_type: Some(content_type.to_string()),
            enabled: state.enabled,
            not_before: state.not_before,
            expires: state.expires,
            created: now,
            updated: now,
            tags: Tags::new(),
            managed: true,
            withheld,
            sealed: Base64Url(sealed),
        })
    }

    /// Names of the secrets in this vault, live or soft-deleted. No access check.
    pub(crate) fn secret_names(&self, deleted: bool) -> Result<Vec<String>> {
        self.secrets().names(deleted)
    }
}
