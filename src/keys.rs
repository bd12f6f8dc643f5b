//! Keys: the key kind's policy over the lifecycle. Key material is generated or imported
//! here, sealed before it is stored, checked against the vault's kind, and used through
//! [`KeyHandle`]s; `key_ops` and attributes apply to one version.
//!
//! Layer: objects. Imports [`crate::vault`] (it adds the key operations to [`Vault`]),
//! [`crate::handle`], the lifecycle and the base layer.
//!
//! A key version is stored as a `KeyVersion` record (JSON, schema 1): `kty`, the public
//! JWK, `key_ops`, `enabled`, `not_before`, `expires`, `created`, `updated`, `exportable`,
//! `tags`, and `sealed`: the key material (`KeyMaterial::to_sealable`) sealed with the
//! binding of `store::seal`. Every change to the material makes a new version. A version
//! may carry a `release_policy`; the key's rotation policy lives on its object record
//! (see `keys/rotation.rs`).

mod rotation;

pub use rotation::KeyRotationReport;

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::crypto::{
    Base64Url, CurveName, Jwk, KeyFamily, KeyMaterial, KeyOperation, KeySpec, KeyType, SecretBytes,
};
use crate::error::{Error, ObjectKind, Result};
use crate::handle::{KeyHandle, KeyPolicy, KeyState};
use crate::lifecycle::objects::{
    new_version_id, versions_page, AttributeUpdate, AttributesMut, Objects, VersionState, Versioned,
};
use crate::lifecycle::records::{ObjectRecord, VaultRecord};
use crate::model::access::DataAction;
use crate::model::key_policies::{
    exportable_needs_release_policy, release_policy_needs_exportable, validate_release_policy,
    KeyReleasePolicy,
};
use crate::model::{
    validate_name, validate_tags, validate_validity, DeletedKeyBundle, DeletionInfo, KeyAttributes,
    KeyBundle, KeyOptions, KeyUpdate, Page, Tags, VaultKind,
};
use crate::vault::{object_scope, Vault};

const KEY: ObjectKind = ObjectKind::Key;
/// What a [`KeyHandle`] can be used for: a caller granted none of these at a key's scope has
/// no use for its handle.
const HANDLE_ACTIONS: [DataAction; 7] = [
    DataAction::KeysRead,
    DataAction::Sign,
    DataAction::Verify,
    DataAction::Encrypt,
    DataAction::Decrypt,
    DataAction::Wrap,
    DataAction::Unwrap,
];

/// One key version as stored: public parts and attributes in the clear, the private
/// material sealed.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct KeyVersion {
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
    /// Whether a certificate owns this key.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) managed: bool,
    /// The sealed key material, base64url.
    pub(crate) sealed: Base64Url,
    /// The rules under which the key may be released (exportable keys only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) release_policy: Option<KeyReleasePolicy>,
}

impl Versioned for KeyVersion {
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

impl KeyVersion {
    /// What the version permits, for its handles.
    fn policy(&self) -> KeyPolicy {
        KeyPolicy {
            live: true,
            enabled: self.enabled,
            not_before: self.not_before,
            expires: self.expires,
            key_ops: self.key_ops.clone(),
        }
    }
}

/// Whether two JWKs carry the same public key.
pub(crate) fn same_public_key(a: &Jwk, b: &Jwk) -> bool {
    a.kty.map(KeyType::family) == b.kty.map(KeyType::family)
        && a.crv == b.crv
        && a.x == b.x
        && a.y == b.y
        && a.n == b.n
        && a.e == b.e
}

impl KeySpec {
    /// The key to generate for a Key Vault create request: `kty` with optional `key_size`
    /// and `crv`, defaulting as Key Vault does (EC: P-256, RSA: 2048, oct: 256).
    pub fn for_key_type(
        kty: KeyType,
        key_size: Option<usize>,
        curve: Option<CurveName>,
    ) -> Result<KeySpec> {
        match kty.family() {
            KeyFamily::Ec => {
                if key_size.is_some() {
                    return Err(Error::bad_parameter(
                        "key_size does not apply to EC keys; use crv",
                    ));
                }
                Ok(KeySpec::Ec(curve.unwrap_or(CurveName::P256)))
            }
            KeyFamily::Rsa | KeyFamily::Oct if curve.is_some() => Err(Error::bad_parameter(
                format!("crv does not apply to {kty} keys"),
            )),
            KeyFamily::Rsa => {
                let bits = key_size.unwrap_or(2048);
                if !crate::crypto::rsa::SUPPORTED_BITS.contains(&bits) {
                    return Err(Error::bad_parameter(format!(
                        "RSA key_size must be 2048, 3072 or 4096, not {bits}"
                    )));
                }
                Ok(KeySpec::Rsa(bits))
            }
            KeyFamily::Oct => {
                let bits = key_size.unwrap_or(256);
                if ![128, 192, 256].contains(&bits) {
                    return Err(Error::bad_parameter(format!(
                        "oct key_size must be 128, 192 or 256, not {bits}"
                    )));
                }
                Ok(KeySpec::Oct(bits))
            }
        }
    }

    fn family(self) -> KeyFamily {
        match self {
            KeySpec::Ec(_) => KeyFamily::Ec,
            KeySpec::Rsa(_) => KeyFamily::Rsa,
            KeySpec::Oct(_) => KeyFamily::Oct,
        }
    }
}

/// Replaces a version's release policy: only on an exportable key, and never once the
/// current policy is immutable (setting the same policy again changes nothing and is
/// allowed).
fn set_release_policy(name: &str, v: &mut KeyVersion, p: &KeyReleasePolicy) -> Result<()> {
    check_release(v.exportable, Some(p))?;
    if let Some(current) = &v.release_policy {
        if current.immutable && current != p {
            return Err(Error::bad_parameter(format!(
                "the release policy of key {name} is immutable and cannot be changed"
            )));
        }
    }
    v.release_policy = Some(p.clone());
    Ok(())
}

/// A vault of kind `vault` holds no oct keys, as Azure Key Vault refuses them.
fn check_kind(vault: &VaultRecord, kty: KeyType) -> Result<()> {
    if vault.kind == VaultKind::Vault && kty.family() == KeyFamily::Oct {
        return Err(Error::NotSupportedByVaultKind {
            what: format!("key type {kty}"),
            kind: vault.kind.as_str(),
        });
    }
    Ok(())
}

fn check_options(options: &KeyOptions) -> Result<()> {
    validate_tags(&options.tags)?;
    validate_validity(options.not_before, options.expires)?;
    check_release(options.exportable, options.release_policy.as_ref())
}

/// Key Vault's pairing of exportability and release policy: an exportable key has one, a
/// key that is not exportable has none.
fn check_release(exportable: bool, policy: Option<&KeyReleasePolicy>) -> Result<()> {
    match (exportable, policy) {
        (true, None) => Err(exportable_needs_release_policy()),
        (false, Some(_)) => Err(release_policy_needs_exportable()),
        (_, Some(p)) => validate_release_policy(p),
        (false, None) => Ok(()),
    }
}

/// A version's bundle: public parts and attributes as callers see them.
fn bundle(vault: &VaultRecord, record: &ObjectRecord, version: &str, v: KeyVersion) -> KeyBundle {
    let mut key = v.public;
    key.key_ops = Some(v.key_ops.clone());
    KeyBundle {
        vault: vault.name.clone(),
        name: record.name.clone(),
        version: version.to_string(),
        kty: v.kty,
        key,
        key_ops: v.key_ops,
        attributes: KeyAttributes {
            enabled: v.enabled,
            not_before: v.not_before,
            expires: v.expires,
            created: v.created,
            updated: v.updated,
            exportable: v.exportable,
            recovery_level: vault.info().recovery_level().to_string(),
            recoverable_days: vault.retention_days,
        },
        tags: v.tags,
        managed: v.managed,
        is_current: record.current() == Some(version),
        release_policy: v.release_policy,
    }
}

impl Vault {
    fn keys(&self) -> Objects<'_> {
        self.objects(KEY)
    }

    fn require_on_key(&self, action: DataAction, name: &str) -> Result<()> {
        self.require_on(action, KEY, name)
    }

    fn key_material(&self, name: &str, version: &str, v: &KeyVersion) -> Result<KeyMaterial> {
        let plain = self.keys().unseal(name, version, &v.sealed.0)?;
        KeyMaterial::from_sealable(plain.expose())
    }

    /// The bundle of a version of `record` (the current one when `version` is `None`).
    fn bundle_of_record(
        &self,
        vault: &VaultRecord,
        record: &ObjectRecord,
        version: Option<&str>,
    ) -> Result<KeyBundle> {
        let version = self.keys().pick_version(record, version)?;
        let v = self.keys().version(&record.name, &version)?;
        Ok(bundle(vault, record, &version, v))
    }

    fn deleted_bundle(
        &self,
        vault: &VaultRecord,
        record: ObjectRecord,
    ) -> Result<DeletedKeyBundle> {
        let deletion = record.deletion.ok_or_else(|| Error::Corrupt {
            what: "deleted key".into(),
        })?;
        Ok(DeletedKeyBundle {
            key: self.bundle_of_record(vault, &record, None)?,
            deletion,
        })
    }

    /// Brings cached handles of a key in line with its committed state after a change.
    pub(crate) fn reconcile(&self, name: &str) -> Result<()> {
        let keys = self.keys();
        self.handles().reconcile(&keys.id(name), |cached| {
            let record = match keys.live(name) {
                Ok(r) => r,
                Err(Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            let mut policies = Vec::with_capacity(cached.len());
            for version in cached {
                let policy = match keys.version::<KeyVersion>(&record.name, version) {
                    Ok(v) => Some(v.policy()),
                    Err(Error::NotFound { .. }) => None,
                    Err(e) => return Err(e),
                };
                policies.push((version.clone(), policy));
            }
            Ok(Some(KeyState {
                current: record.current().unwrap_or_default().to_string(),
                policies,
            }))
        })
    }

    /// Creates a key, or a new version of it if the name exists. `kty` picks the type
    /// (with or without `-HSM`); `spec` must be of the same family.
    pub fn create_key(
        &self,
        name: &str,
        kty: KeyType,
        spec: KeySpec,
        options: KeyOptions,
    ) -> Result<KeyBundle> {
        validate_name("key", name)?;
        self.require_on_key(DataAction::KeysCreate, name)?;
        if spec.family() != kty.family() {
            return Err(Error::bad_parameter(format!(
                "key type {kty} does not match the requested key parameters"
            )));
        }
        let vault = self.record()?;
        check_kind(&vault, kty)?;
        check_options(&options)?;
        let material = KeyMaterial::generate(spec)?;
        self.add_version(&vault, name, kty, &material, options)
    }

    /// Imports a key from a JWK with its private members, as a new version of `name`.
    /// `hsm` asks for the `-HSM` key type, as Key Vault's import does.
    pub fn import_key(
        &self,
        name: &str,
        jwk: &Jwk,
        hsm: bool,
        mut options: KeyOptions,
    ) -> Result<KeyBundle> {
        validate_name("key", name)?;
        self.require_on_key(DataAction::KeysImport, name)?;
        let vault = self.record()?;
        let material = KeyMaterial::from_jwk(jwk)?;
        let kty = match (
            material.family(),
            hsm || jwk.kty.is_some_and(|k| k != k.jwk_kty()),
        ) {
            (KeyFamily::Ec, false) => KeyType::Ec,
            (KeyFamily::Ec, true) => KeyType::EcHsm,
            (KeyFamily::Rsa, false) => KeyType::Rsa,
            (KeyFamily::Rsa, true) => KeyType::RsaHsm,
            (KeyFamily::Oct, false) => KeyType::Oct,
            (KeyFamily::Oct, true) => KeyType::OctHsm,
        };
        check_kind(&vault, kty)?;
        if options.key_ops.is_none() {
            options.key_ops = jwk.key_ops.clone();
        }
        check_options(&options)?;
        self.add_version(&vault, name, kty, &material, options)
    }

    /// Adds a new version of an existing key with fresh material of the same type and size,
    /// keeping its `key_ops`, tags and exportability.
    /// Its release policy carries over, and the rotation policy's `expiryTime`, if any, sets
    /// the new version's `exp`.
    pub fn rotate_key(&self, name: &str) -> Result<KeyBundle> {
        self.require_on_key(DataAction::KeysRotate, name)?;
        self.rotate_unchecked(name)
    }

    /// [`Vault::rotate_key`] without the access check, for the rotation sweep.
    fn rotate_unchecked(&self, name: &str) -> Result<KeyBundle> {
        let vault = self.record()?;
        let record = self.keys().live(name)?;
        self.keys().refuse_managed(&record)?;
        let current = self.keys().pick_version(&record, None)?;
        let v: KeyVersion = self.keys().version(name, &current)?;
        let spec = self.key_material(name, &current, &v)?.spec();
        let material = KeyMaterial::generate(spec)?;
        let options = KeyOptions {
            key_ops: Some(v.key_ops),
            enabled: Some(true),
            not_before: None,
            expires: None,
            exportable: v.exportable,
            tags: v.tags,
            release_policy: v.release_policy,
        };
        self.add_version(&vault, &record.name, v.kty, &material, options)
    }

    fn add_version(
        &self,
        vault: &VaultRecord,
        name: &str,
        kty: KeyType,
        material: &KeyMaterial,
        options: KeyOptions,
    ) -> Result<KeyBundle> {
        let version = new_version_id()?;
        let now = self.core().now();
        // A new version of a key with a rotation policy lives for its expiryTime, unless
        // the caller says otherwise.
        let expires = match options.expires {
            Some(exp) => Some(exp),
            None => self.policy_expiry(name, now)?,
        };
        validate_validity(options.not_before, expires)?;
        let sealed = self
            .keys()
            .seal(name, &version, material.to_sealable().expose())?;
        let v = KeyVersion {
            kty,
            public: material.public_jwk(),
            key_ops: options.key_ops.unwrap_or_else(|| kty.default_ops()),
            enabled: options.enabled.unwrap_or(true),
            not_before: options.not_before,
            expires,
            created: now,
            updated: now,
            exportable: options.exportable,
            tags: options.tags,
            managed: false,
            sealed: Base64Url(sealed),
            release_policy: options.release_policy,
        };
        let record = self.keys().add_version(name, &version, &v)?;
        self.reconcile(name)?;
        Ok(bundle(vault, &record, &version, v))
    }

    /// A sealed key version for a certificate of the same name and version: the key the
    /// certificate owns. Not stored here; the certificate writes it with its own version.
    pub(crate) fn managed_key_version(
        &self,
        name: &str,
        version: &str,
        material: &KeyMaterial,
        kty: KeyType,
        exportable: bool,
        state: VersionState,
    ) -> Result<KeyVersion> {
        let now = self.core().now();
        let sealed = self
            .keys()
            .seal(name, version, material.to_sealable().expose())?;
        Ok(KeyVersion {
            kty,
            public: material.public_jwk(),
            key_ops: kty.default_ops(),
            enabled: state.enabled,
            not_before: state.not_before,
            expires: state.expires,
            created: now,
            updated: now,
            exportable,
            tags: Tags::new(),
            managed: true,
            sealed: Base64Url(sealed),
            release_policy: None,
        })
    }

    /// The key material of a version of a key, for a certificate that owns it.
    pub(crate) fn managed_key_material(&self, name: &str, version: &str) -> Result<KeyMaterial> {
        let v: KeyVersion = self.keys().version(name, version)?;
        self.key_material(name, version, &v)
    }

    /// A key version's bundle (public parts only); the current version when `version` is
    /// `None`.
    pub fn get_key(&self, name: &str, version: Option<&str>) -> Result<KeyBundle> {
        self.require_on_key(DataAction::KeysRead, name)?;
        let vault = self.record()?;
        let record = self.keys().live(name)?;
        self.bundle_of_record(&vault, &record, version)
    }

    /// Live keys (their current versions), by lowercase name, `max` at a time. Pass the
    /// returned `next` to continue. Costs in proportion to the page, not to the vault.
    pub fn list_keys(&self, max: usize, continuation: Option<&str>) -> Result<Page<KeyBundle>> {
        self.require(DataAction::KeysRead, "/keys")?;
        let vault = self.record()?;
        self.keys()
            .page(false, max, continuation)?
            .try_map(|record| self.bundle_of_record(&vault, &record, None))
    }

    /// Soft-deleted keys, `max` at a time.
    pub fn list_deleted_keys(
        &self,
        max: usize,
        continuation: Option<&str>,
    ) -> Result<Page<DeletedKeyBundle>> {
        self.require(DataAction::DeletedKeysRead, "/keys")?;
        let vault = self.record()?;
        self.keys()
            .page(true, max, continuation)?
            .try_map(|record| self.deleted_bundle(&vault, record))
    }

    /// The versions of a key, oldest first, `max` at a time.
    pub fn list_versions(
        &self,
        name: &str,
        max: usize,
        continuation: Option<&str>,
    ) -> Result<Page<KeyBundle>> {
        self.require_on_key(DataAction::KeysRead, name)?;
        let vault = self.record()?;
        let record = self.keys().live(name)?;
        let (versions, next) = versions_page(&record, max, continuation)?;
        let items = versions
            .iter()
            .map(|v| self.bundle_of_record(&vault, &record, Some(v)))
            .collect::<Result<_>>()?;
        Ok(Page { items, next })
    }

    /// Updates a version's attributes, `key_ops` or tags (the current version when
    /// `version` is `None`).
    pub fn update_key(
        &self,
        name: &str,
        version: Option<&str>,
        update: KeyUpdate,
    ) -> Result<KeyBundle> {
        self.require_on_key(DataAction::KeysWrite, name)?;
        let vault = self.record()?;
        // Malformed input is a 400 whatever the key's state; only then is it looked up.
        if let Some(tags) = &update.tags {
            validate_tags(tags)?;
        }
        if let Some(p) = &update.release_policy {
            validate_release_policy(p)?;
        }
        self.keys().refuse_managed(&self.keys().live(name)?)?;
        let attributes = AttributeUpdate {
            enabled: update.enabled,
            not_before: update.not_before,
            expires: update.expires,
            tags: update.tags,
        };
        let keys = self.keys();
        let now = self.core().now();
        let (record, version, v) = self.core().transact(|tx| {
            keys.update_version_in(tx, name, version, &attributes, now, |v: &mut KeyVersion| {
                if let Some(ops) = &update.key_ops {
                    v.key_ops.clone_from(ops);
                }
                if let Some(p) = &update.release_policy {
                    set_release_policy(name, v, p)?;
                }
                Ok(())
            })
        })?;
        self.core().commit()?;
        self.reconcile(name)?;
        Ok(bundle(&vault, &record, &version, v))
    }

    /// Soft-deletes a key with all its versions. It is purged automatically at
    /// `now + retention`; until then its name stays taken.
    pub fn delete_key(&self, name: &str) -> Result<DeletedKeyBundle> {
        self.require_on_key(DataAction::KeysDelete, name)?;
        let vault = self.record()?;
        self.keys().refuse_managed(&self.keys().live(name)?)?;
        let record = self.keys().delete(name)?;
        self.reconcile(name)?;
        self.deleted_bundle(&vault, record)
    }

    /// A soft-deleted key.
    pub fn get_deleted_key(&self, name: &str) -> Result<DeletedKeyBundle> {
        self.require_on_key(DataAction::DeletedKeysRead, name)?;
        let vault = self.record()?;
        let record = self.keys().deleted(name)?;
        self.deleted_bundle(&vault, record)
    }

    /// Recovers a soft-deleted key with every version, unchanged.
    pub fn recover_deleted_key(&self, name: &str) -> Result<KeyBundle> {
        self.require_on_key(DataAction::DeletedKeysRecover, name)?;
        let vault = self.record()?;
        self.keys().refuse_managed(&self.keys().deleted(name)?)?;
        let record = self.keys().recover(name)?;
        self.reconcile(name)?;
        self.bundle_of_record(&vault, &record, None)
    }

    /// Purges a soft-deleted key for good. Refused with [`Error::PurgeProtected`] before its
    /// scheduled purge date when the vault has purge protection.
    pub fn purge_deleted_key(&self, name: &str) -> Result<()> {
        self.require_on_key(DataAction::DeletedKeysDelete, name)?;
        self.record()?;
        self.keys().refuse_managed(&self.keys().deleted(name)?)?;
        self.keys().purge(name)
    }

    /// A backup of a key with all its versions, attributes and tags: an opaque blob,
    /// encrypted and authenticated under this store's master key.
    pub fn backup_key(&self, name: &str) -> Result<Vec<u8>> {
        self.require_on_key(DataAction::KeysBackup, name)?;
        self.record()?;
        self.keys().backup::<KeyVersion>(name)
    }

    /// Restores a key from [`Vault::backup_key`]'s blob under its original name and version
    /// ids. Refused when the name is in use, live or soft-deleted.
    pub fn restore_key(&self, blob: &[u8]) -> Result<KeyBundle> {
        let vault = self.record()?;
        let payload = self.keys().open_backup::<KeyVersion>(blob)?;
        let name = payload.name.clone();
        self.require_on_key(DataAction::KeysRestore, &name)?;
        let record = self.keys().restore(payload, |v, material: &SecretBytes| {
            let material =
                KeyMaterial::from_sealable(material.expose()).map_err(|_| Error::InvalidBackup)?;
            // The record's key type and public key must be the material's, or the key
            // would publish a public key that does not verify what it signs.
            if material.family() != v.kty.family()
                || !same_public_key(&material.public_jwk(), &v.public)
            {
                return Err(Error::InvalidBackup);
            }
            check_kind(&vault, v.kty)
        })?;
        self.reconcile(&name)?;
        self.bundle_of_record(&vault, &record, None)
    }

    /// Every version of a key (live, or soft-deleted when `deleted`), oldest first, with
    /// its deletion info. No access check: for store-level administration.
    pub(crate) fn all_key_versions(
        &self,
        name: &str,
        deleted: bool,
    ) -> Result<(Vec<KeyBundle>, Option<DeletionInfo>)> {
        let vault = self.keys().vault()?;
        let record = self.keys().record(name, deleted)?;
        let versions = record
            .versions
            .iter()
            .map(|v| self.bundle_of_record(&vault, &record, Some(v)))
            .collect::<Result<_>>()?;
        Ok((versions, record.deletion))
    }

    /// Names of the keys in this vault, live or soft-deleted. No access check.
    pub(crate) fn key_names(&self, deleted: bool) -> Result<Vec<String>> {
        self.keys().names(deleted)
    }

    /// A handle on a key version (the current one when `version` is `None`), for
    /// cryptographic operations. Resolved handles are cached, so this is cheap after the
    /// first call.
    pub fn key(&self, name: &str, version: Option<&str>) -> Result<KeyHandle> {
        if !self.is_checked() {
            return self.resolve(name, version);
        }
        // The grant comes first: a caller who may use no key here is refused before the
        // lookup, so the answer says nothing of whether the key exists.
        let scope = object_scope(KEY, name);
        let grant = self.grant(&scope)?;
        if !HANDLE_ACTIONS.iter().any(|a| grant.allows(*a)) {
            grant.require(DataAction::KeysRead, &self.caller_label(), &scope)?;
        }
        let handle = self.resolve(name, version)?;
        Ok(handle.with_access(grant, self.caller_label(), scope))
    }

    fn resolve(&self, name: &str, version: Option<&str>) -> Result<KeyHandle> {
        let keys = self.keys();
        let id = keys.id(name);
        if let Some(h) = self.handles().get(&id, version) {
            return Ok(h);
        }
        self.record()?;
        self.handles().resolve(&id, version, || {
            let record = match keys.live(name) {
                Err(Error::NotFound { .. }) => return Err(Error::not_found(KEY, name, version)),
                other => other?,
            };
            let current = record.current().unwrap_or_default().to_string();
            let version = keys.pick_version(&record, version)?;
            let v: KeyVersion = keys.version(&record.name, &version)?;
            let material = self.key_material(&record.name, &version, &v)?;
            let handle = KeyHandle::new(
                (self.name(), &record.name, &version),
                v.kty,
                v.policy(),
                material,
                self.core().time.clone(),
            );
            Ok((current, handle))
        })
    }

    /// The private JWK of an exportable key version; see [`crate::hazmat`].
    pub(crate) fn export_private(&self, name: &str, version: Option<&str>) -> Result<KeyBundle> {
        self.require_on_key(DataAction::KeysExport, name)?;
        let vault = self.record()?;
        let record = self.keys().live(name)?;
        let version = self.keys().pick_version(&record, version)?;
        let v: KeyVersion = self.keys().version(&record.name, &version)?;
        if !v.exportable {
            return Err(Error::NotExportable);
        }
        let mut jwk = self
            .key_material(&record.name, &version, &v)?
            .private_jwk()?;
        jwk.key_ops = Some(v.key_ops.clone());
        let mut bundle = bundle(&vault, &record, &version, v);
        bundle.key = jwk;
        Ok(bundle)
    }
}
