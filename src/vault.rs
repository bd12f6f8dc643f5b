//! A vault (an HSM pool) and the key lifecycle inside it: create and import (each adds a
//! version), update, soft-delete, recover, purge, backup and restore.
//!
//! The rules (see the crate docs): a deleted key's name stays taken until it is recovered or
//! purged; recover brings back every version unchanged; under purge protection nothing is
//! purged before its scheduled purge date; at that date the store purges it by itself.

mod roles;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::crypto::{Base64Url, Jwk, KeyFamily, KeyMaterial, KeySpec, KeyType, SecretBase64Url};
use crate::error::{Error, Result};
use crate::handle::KeyHandle;
use crate::model::{
    validate_name, validate_tags, Caller, DeletedKeyBundle, DeletionInfo, KeyAttributes, KeyBundle,
    KeyOptions, KeyUpdate, Page, VaultInfo, VaultKind, DAY,
};
use crate::rbac::{self, DataAction, Grant, RoleAssignment};
use crate::store::records::{
    decode, encode, key_id, key_prefix, material_aad, purge_entry, vault_id, version_id, Due,
    KeyRecord, VaultRecord, VersionRecord,
};
use crate::store::seal::Purpose;
use crate::store::{abort, tx_error, Shared};

fn key_scope(name: &str) -> String {
    format!("/keys/{}", name.to_ascii_lowercase())
}
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

pub(crate) const BACKUP_MAGIC: &[u8] = b"LHSMBKP1";
pub(crate) const BACKUP_AAD: &[u8] = b"localhsm/backup/v1";

/// Most random bytes one `/rng` call returns, as Managed HSM limits it.
pub const MAX_RANDOM_BYTES: usize = 128;

/// A live vault. Cheap to clone. Every call re-checks that the vault is still live.
#[derive(Clone)]
pub struct Vault {
    shared: Arc<Shared>,
    name: String,
    /// Who is acting; `None` for the trusted local user (no access control).
    caller: Option<Arc<Caller>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("name", &self.name).finish()
    }
}

#[derive(Serialize, Deserialize)]
struct BackupPayload {
    name: String,
    versions: Vec<BackupVersion>,
}

#[derive(Serialize, Deserialize)]
struct BackupVersion {
    version: String,
    record: VersionRecord,
    material: SecretBase64Url,
}

/// Whether two JWKs carry the same public key.
fn same_public_key(a: &Jwk, b: &Jwk) -> bool {
    a.kty.map(KeyType::family) == b.kty.map(KeyType::family)
        && a.crv == b.crv
        && a.x == b.x
        && a.y == b.y
        && a.n == b.n
        && a.e == b.e
}

fn new_version_id() -> Result<String> {
    Ok(hex::encode(crate::crypto::random_bytes(16)?))
}

impl KeySpec {
    /// The key to generate for a Key Vault create request: `kty` with optional `key_size`
    /// and `crv`, defaulting as Key Vault does (EC: P-256, RSA: 2048, oct: 256).
    pub fn for_key_type(
        kty: KeyType,
        key_size: Option<usize>,
        curve: Option<crate::crypto::CurveName>,
    ) -> Result<KeySpec> {
        match kty.family() {
            KeyFamily::Ec => {
                if key_size.is_some() {
                    return Err(Error::bad_parameter(
                        "key_size does not apply to EC keys; use crv",
                    ));
                }
                Ok(KeySpec::Ec(curve.unwrap_or(crate::crypto::CurveName::P256)))
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

impl Vault {
    pub(crate) fn new(shared: Arc<Shared>, name: String, caller: Option<Arc<Caller>>) -> Self {
        Self {
            shared,
            name,
            caller,
        }
    }

    /// What this vault's caller may do at `scope` (`/`, `/keys` or `/keys/{name}`).
    pub fn grant(&self, scope: &str) -> Result<Grant> {
        let Some(caller) = &self.caller else {
            return Ok(Grant::ALL);
        };
        let policy = self.shared.access_policy();
        if !policy.enforce {
            return Ok(Grant::ALL);
        }
        let Some(oid) = caller.object_id.as_deref() else {
            return Ok(Grant::default());
        };
        if policy.admins.iter().any(|a| a.eq_ignore_ascii_case(oid)) {
            return Ok(rbac::admin_grant());
        }
        let mine: Vec<RoleAssignment> = self
            .role_assignments_raw()?
            .into_iter()
            .filter(|a| a.principal_id.eq_ignore_ascii_case(oid))
            .collect();
        Ok(rbac::granted(&mine, scope))
    }

    fn caller_label(&self) -> String {
        self.caller
            .as_ref()
            .and_then(|c| c.object_id.clone())
            .unwrap_or_else(|| "anonymous".to_string())
    }

    /// Checks that the caller may perform `action` at `scope`.
    fn require(&self, action: DataAction, scope: &str) -> Result<()> {
        self.grant(scope)?
            .require(action, &self.caller_label(), scope)
    }

    fn require_on_key(&self, action: DataAction, name: &str) -> Result<()> {
        self.require(action, &key_scope(name))
    }

    /// The vault's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The vault's settings.
    pub fn info(&self) -> Result<VaultInfo> {
        Ok(self.record()?.info())
    }

    fn record(&self) -> Result<VaultRecord> {
        self.shared.live_vault(&self.name)
    }

    fn now(&self) -> u64 {
        self.shared.time.now()
    }

    /// Inside a transaction: aborts with `VaultNotFound` unless the vault is live. Changes
    /// that put a key record in place check this atomically with their writes, so none can
    /// land after a concurrent vault delete + purge has swept the vault (the record would
    /// outlive the purge and reappear in a new vault of the same name).
    fn ensure_live_tx(
        &self,
        vaults: &TransactionalTree,
    ) -> std::result::Result<(), ConflictableTransactionError<Error>> {
        let live = match vaults.get(vault_id(&self.name))? {
            Some(v) => match decode::<VaultRecord>("vault", &v) {
                Ok(r) => r.deletion.is_none() && !r.purging,
                Err(e) => return abort(e),
            },
            None => false,
        };
        if live {
            Ok(())
        } else {
            abort(Error::VaultNotFound {
                vault: self.name.clone(),
            })
        }
    }

    fn check_kind(&self, vault: &VaultRecord, kty: KeyType) -> Result<()> {
        if vault.kind == VaultKind::Vault && kty.family() == KeyFamily::Oct {
            return Err(Error::NotSupportedByVaultKind {
                what: format!("key type {kty}"),
                kind: vault.kind.as_str(),
            });
        }
        Ok(())
    }

    fn bundle(
        &self,
        vault: &VaultRecord,
        record: &KeyRecord,
        version: &str,
        vr: VersionRecord,
    ) -> KeyBundle {
        let mut key = vr.public;
        key.key_ops = Some(vr.key_ops.clone());
        KeyBundle {
            vault: vault.name.clone(),
            name: record.name.clone(),
            version: version.to_string(),
            kty: vr.kty,
            key,
            key_ops: vr.key_ops,
            attributes: KeyAttributes {
                enabled: vr.enabled,
                not_before: vr.not_before,
                expires: vr.expires,
                created: vr.created,
                updated: vr.updated,
                exportable: vr.exportable,
                recovery_level: vault.info().recovery_level().to_string(),
                recoverable_days: vault.retention_days,
            },
            tags: vr.tags,
            is_current: record.versions.last().map(String::as_str) == Some(version),
        }
    }

    fn load_version(&self, name: &str, version: &str) -> Result<VersionRecord> {
        self.shared
            .load_version(&version_id(&self.name, name, version))?
            .ok_or_else(|| Error::KeyNotFound {
                name: name.to_string(),
                version: Some(version.to_string()),
            })
    }

    fn live_key(&self, name: &str) -> Result<KeyRecord> {
        match self.shared.keys.get(key_id(&self.name, name))? {
            Some(v) => decode("key", &v),
            None => Err(Error::KeyNotFound {
                name: name.to_string(),
                version: None,
            }),
        }
    }

    fn deleted_key(&self, name: &str) -> Result<KeyRecord> {
        match self.shared.deleted_keys.get(key_id(&self.name, name))? {
            Some(v) => decode("deleted key", &v),
            None => Err(Error::DeletedKeyNotFound {
                name: name.to_string(),
            }),
        }
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
        self.check_kind(&vault, kty)?;
        self.check_options(&options)?;
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
        self.check_kind(&vault, kty)?;
        if options.key_ops.is_none() {
            options.key_ops = jwk.key_ops.clone();
        }
        self.check_options(&options)?;
        self.add_version(&vault, name, kty, &material, options)
    }

    /// Adds a new version of an existing key with fresh material of the same type and size,
    /// keeping its `key_ops`, tags and exportability.
    pub fn rotate_key(&self, name: &str) -> Result<KeyBundle> {
        self.require_on_key(DataAction::KeysRotate, name)?;
        let vault = self.record()?;
        let record = self.live_key(name)?;
        let current = record.versions.last().ok_or_else(|| Error::KeyNotFound {
            name: name.to_string(),
            version: None,
        })?;
        let vr = self.load_version(name, current)?;
        let handle = self.resolve(name, Some(current))?;
        let material = KeyMaterial::generate(handle.material().spec())?;
        let options = KeyOptions {
            key_ops: Some(vr.key_ops),
            enabled: Some(true),
            not_before: None,
            expires: None,
            exportable: vr.exportable,
            tags: vr.tags,
        };
        self.add_version(&vault, &record.name, vr.kty, &material, options)
    }

    fn check_options(&self, options: &KeyOptions) -> Result<()> {
        validate_tags(&options.tags)?;
        if let (Some(nbf), Some(exp)) = (options.not_before, options.expires) {
            if nbf >= exp {
                return Err(Error::bad_parameter("nbf must be earlier than exp"));
            }
        }
        Ok(())
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
        let now = self.now();
        let sealed = self.shared.sealer.seal(
            Purpose::Record,
            &material_aad(&self.name, name, &version),
            material.to_sealable().expose(),
        )?;
        let vr = VersionRecord {
            kty,
            public: material.public_jwk(),
            key_ops: options.key_ops.unwrap_or_else(|| kty.default_ops()),
            enabled: options.enabled.unwrap_or(true),
            not_before: options.not_before,
            expires: options.expires,
            created: now,
            updated: now,
            exportable: options.exportable,
            tags: options.tags,
            sealed: Base64Url(sealed),
        };
        let id = key_id(&self.name, name);
        let vid = version_id(&self.name, name, &version);
        let encoded = encode(&vr);
        let record = (
            &self.shared.keys,
            &self.shared.deleted_keys,
            &self.shared.versions,
            &self.shared.vaults,
        )
            .transaction(|(keys, deleted, versions, vaults)| {
                self.ensure_live_tx(vaults)?;
                if deleted.get(&id)?.is_some() {
                    return abort(Error::KeyIsDeleted {
                        name: name.to_string(),
                    });
                }
                let mut record = match keys.get(&id)?.map(|v| decode::<KeyRecord>("key", &v)) {
                    Some(Ok(r)) => r,
                    Some(Err(e)) => return abort(e),
                    None => KeyRecord {
                        name: name.to_string(),
                        versions: Vec::new(),
                        deletion: None,
                    },
                };
                record.versions.push(version.clone());
                keys.insert(id.as_slice(), encode(&record))?;
                versions.insert(vid.as_slice(), encoded.as_slice())?;
                Ok(record)
            })
            .map_err(tx_error)?;
        self.shared.flush()?;
        self.shared.reconcile(&id)?;
        Ok(self.bundle(vault, &record, &version, vr))
    }

    /// A key version's bundle (public parts only); the current version when `version` is
    /// `None`.
    pub fn get_key(&self, name: &str, version: Option<&str>) -> Result<KeyBundle> {
        self.require_on_key(DataAction::KeysRead, name)?;
        self.bundle_of(name, version)
    }

    fn bundle_of(&self, name: &str, version: Option<&str>) -> Result<KeyBundle> {
        let vault = self.record()?;
        let record = self.live_key(name)?;
        let version = match version {
            Some(v) if record.versions.iter().any(|x| x == v) => v.to_string(),
            Some(v) => {
                return Err(Error::KeyNotFound {
                    name: name.to_string(),
                    version: Some(v.to_string()),
                })
            }
            None => record.versions.last().cloned().unwrap_or_default(),
        };
        let vr = self.load_version(name, &version)?;
        Ok(self.bundle(&vault, &record, &version, vr))
    }

    /// Live keys (their current versions), by lowercase name, `max` at a time. Pass the
    /// returned `next` to continue. Costs in proportion to the page, not to the vault.
    pub fn list_keys(&self, max: usize, continuation: Option<&str>) -> Result<Page<KeyBundle>> {
        self.require(DataAction::KeysRead, "/keys")?;
        let vault = self.record()?;
        self.page(&self.shared.keys, max, continuation, |record| {
            let version = record.versions.last().cloned().unwrap_or_default();
            let vr = self.load_version(&record.name, &version)?;
            Ok(self.bundle(&vault, &record, &version, vr))
        })
    }

    /// Soft-deleted keys, `max` at a time.
    pub fn list_deleted_keys(
        &self,
        max: usize,
        continuation: Option<&str>,
    ) -> Result<Page<DeletedKeyBundle>> {
        self.require(DataAction::DeletedKeysRead, "/keys")?;
        let vault = self.record()?;
        self.page(&self.shared.deleted_keys, max, continuation, |record| {
            self.deleted_bundle(&vault, record)
        })
    }

    fn page<T>(
        &self,
        tree: &sled::Tree,
        max: usize,
        continuation: Option<&str>,
        mut item: impl FnMut(KeyRecord) -> Result<T>,
    ) -> Result<Page<T>> {
        let max = max.max(1);
        let prefix = key_prefix(&self.name);
        let start = match continuation {
            Some(after) => {
                let mut k = key_id(&self.name, after);
                k.push(0);
                k
            }
            None => prefix.clone(),
        };
        let mut items = Vec::new();
        let mut last = None;
        let mut more = false;
        for entry in tree.range(start..) {
            let (k, v) = entry?;
            if !k.starts_with(&prefix) {
                break;
            }
            if items.len() == max {
                more = true;
                break;
            }
            let record: KeyRecord = decode("key", &v)?;
            last = Some(String::from_utf8_lossy(&k[prefix.len()..]).into_owned());
            items.push(item(record)?);
        }
        Ok(Page {
            items,
            next: if more { last } else { None },
        })
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
        let record = self.live_key(name)?;
        let start: usize = match continuation {
            Some(c) => c
                .parse()
                .map_err(|_| Error::bad_parameter("invalid continuation token"))?,
            None => 0,
        };
        let max = max.max(1);
        let mut items = Vec::new();
        for version in record.versions.iter().skip(start).take(max) {
            let vr = self.load_version(name, version)?;
            items.push(self.bundle(&vault, &record, version, vr));
        }
        let end = start + items.len();
        Ok(Page {
            items,
            next: (end < record.versions.len()).then(|| end.to_string()),
        })
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
        if let Some(tags) = &update.tags {
            validate_tags(tags)?;
        }
        let now = self.now();
        let id = key_id(&self.name, name);
        let (record, version, vr) = (&self.shared.keys, &self.shared.versions)
            .transaction(|(keys, versions)| {
                let record: KeyRecord = match keys.get(&id)?.map(|v| decode("key", &v)) {
                    Some(Ok(r)) => r,
                    Some(Err(e)) => return abort(e),
                    None => {
                        return abort(Error::KeyNotFound {
                            name: name.to_string(),
                            version: version.map(str::to_string),
                        })
                    }
                };
                let version = match version {
                    Some(v) if record.versions.iter().any(|x| x == v) => v.to_string(),
                    None => record.versions.last().cloned().unwrap_or_default(),
                    Some(v) => {
                        return abort(Error::KeyNotFound {
                            name: name.to_string(),
                            version: Some(v.to_string()),
                        })
                    }
                };
                let vid = version_id(&self.name, name, &version);
                let mut vr: VersionRecord = match versions.get(&vid)?.map(|v| decode("version", &v))
                {
                    Some(Ok(r)) => r,
                    Some(Err(e)) => return abort(e),
                    None => {
                        return abort(Error::KeyNotFound {
                            name: name.to_string(),
                            version: Some(version),
                        })
                    }
                };
                if let Some(e) = update.enabled {
                    vr.enabled = e;
                }
                if let Some(nbf) = update.not_before {
                    vr.not_before = nbf;
                }
                if let Some(exp) = update.expires {
                    vr.expires = exp;
                }
                if let (Some(nbf), Some(exp)) = (vr.not_before, vr.expires) {
                    if nbf >= exp {
                        return abort(Error::bad_parameter("nbf must be earlier than exp"));
                    }
                }
                if let Some(ops) = &update.key_ops {
                    vr.key_ops = ops.clone();
                }
                if let Some(tags) = &update.tags {
                    vr.tags = tags.clone();
                }
                vr.updated = now;
                versions.insert(vid.as_slice(), encode(&vr))?;
                Ok((record, version, vr))
            })
            .map_err(tx_error)?;
        self.shared.flush()?;
        self.shared.reconcile(&id)?;
        Ok(self.bundle(&vault, &record, &version, vr))
    }

    /// Soft-deletes a key with all its versions. It is purged automatically at
    /// `now + retention`; until then its name stays taken.
    pub fn delete_key(&self, name: &str) -> Result<DeletedKeyBundle> {
        self.require_on_key(DataAction::KeysDelete, name)?;
        let vault = self.record()?;
        let now = self.now();
        let deletion = DeletionInfo {
            deleted_date: now,
            scheduled_purge_date: now + u64::from(vault.retention_days) * DAY,
        };
        let id = key_id(&self.name, name);
        let record = (
            &self.shared.keys,
            &self.shared.deleted_keys,
            &self.shared.purge_queue,
            &self.shared.vaults,
        )
            .transaction(|(keys, deleted, queue, vaults)| {
                self.ensure_live_tx(vaults)?;
                let mut record: KeyRecord = match keys.get(&id)?.map(|v| decode("key", &v)) {
                    Some(Ok(r)) => r,
                    Some(Err(e)) => return abort(e),
                    None => {
                        return abort(Error::KeyNotFound {
                            name: name.to_string(),
                            version: None,
                        })
                    }
                };
                record.deletion = Some(deletion);
                keys.remove(id.as_slice())?;
                deleted.insert(id.as_slice(), encode(&record))?;
                queue.insert(
                    purge_entry(deletion.scheduled_purge_date, Due::Key, &id),
                    &[][..],
                )?;
                Ok(record)
            })
            .map_err(tx_error)?;
        self.shared.flush()?;
        self.shared.reconcile(&id)?;
        self.deleted_bundle(&vault, record)
    }

    fn deleted_bundle(&self, vault: &VaultRecord, record: KeyRecord) -> Result<DeletedKeyBundle> {
        let deletion = record.deletion.ok_or_else(|| Error::Corrupt {
            what: "deleted key".into(),
        })?;
        let version = record.versions.last().cloned().unwrap_or_default();
        let vr = self.load_version(&record.name, &version)?;
        Ok(DeletedKeyBundle {
            key: self.bundle(vault, &record, &version, vr),
            deletion,
        })
    }

    /// A soft-deleted key.
    pub fn get_deleted_key(&self, name: &str) -> Result<DeletedKeyBundle> {
        self.require_on_key(DataAction::DeletedKeysRead, name)?;
        let vault = self.record()?;
        let record = self.deleted_key(name)?;
        self.deleted_bundle(&vault, record)
    }

    /// Recovers a soft-deleted key with every version, unchanged.
    pub fn recover_deleted_key(&self, name: &str) -> Result<KeyBundle> {
        self.require_on_key(DataAction::DeletedKeysRecover, name)?;
        let vault = self.record()?;
        let id = key_id(&self.name, name);
        let record = (
            &self.shared.keys,
            &self.shared.deleted_keys,
            &self.shared.purge_queue,
            &self.shared.vaults,
        )
            .transaction(|(keys, deleted, queue, vaults)| {
                self.ensure_live_tx(vaults)?;
                let mut record: KeyRecord =
                    match deleted.get(&id)?.map(|v| decode("deleted key", &v)) {
                        Some(Ok(r)) => r,
                        Some(Err(e)) => return abort(e),
                        None => {
                            return abort(Error::DeletedKeyNotFound {
                                name: name.to_string(),
                            })
                        }
                    };
                if let Some(d) = record.deletion.take() {
                    queue.remove(purge_entry(d.scheduled_purge_date, Due::Key, &id))?;
                }
                deleted.remove(id.as_slice())?;
                keys.insert(id.as_slice(), encode(&record))?;
                Ok(record)
            })
            .map_err(tx_error)?;
        self.shared.flush()?;
        self.shared.reconcile(&id)?;
        let version = record.versions.last().cloned().unwrap_or_default();
        let vr = self.load_version(name, &version)?;
        Ok(self.bundle(&vault, &record, &version, vr))
    }

    /// Purges a soft-deleted key for good. Refused with [`Error::PurgeProtected`] before its
    /// scheduled purge date when the vault has purge protection.
    pub fn purge_deleted_key(&self, name: &str) -> Result<()> {
        self.require_on_key(DataAction::DeletedKeysDelete, name)?;
        self.record()?;
        let id = key_id(&self.name, name);
        if self.shared.purge_key(&id, false)? {
            Ok(())
        } else {
            Err(Error::DeletedKeyNotFound {
                name: name.to_string(),
            })
        }
    }

    /// A backup of a key with all its versions, attributes and tags: an opaque blob,
    /// encrypted and authenticated under this store's master key.
    pub fn backup_key(&self, name: &str) -> Result<Vec<u8>> {
        self.require_on_key(DataAction::KeysBackup, name)?;
        self.record()?;
        let record = self.live_key(name)?;
        let mut versions = Vec::with_capacity(record.versions.len());
        for version in &record.versions {
            let mut vr = self.load_version(name, version)?;
            let material = self.unseal(name, version, &vr)?;
            vr.sealed = Base64Url::default();
            versions.push(BackupVersion {
                version: version.clone(),
                record: vr,
                material: SecretBase64Url(material.to_sealable()),
            });
        }
        let payload = BackupPayload {
            name: record.name.clone(),
            versions,
        };
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&payload).map_err(|e| Error::Storage(e.to_string()))?,
        );
        let mut blob = BACKUP_MAGIC.to_vec();
        blob.extend(
            self.shared
                .sealer
                .seal(Purpose::Backup, BACKUP_AAD, &plain)?,
        );
        Ok(blob)
    }

    /// Restores a key from [`Vault::backup_key`]'s blob under its original name and version
    /// ids. Refused when the name is in use, live or soft-deleted.
    pub fn restore_key(&self, blob: &[u8]) -> Result<KeyBundle> {
        let vault = self.record()?;
        let sealed = blob
            .strip_prefix(BACKUP_MAGIC)
            .ok_or(Error::InvalidBackup)?;
        let plain = self
            .shared
            .sealer
            .open(Purpose::Backup, BACKUP_AAD, sealed)
            .ok_or(Error::InvalidBackup)?;
        let payload: BackupPayload =
            serde_json::from_slice(plain.expose()).map_err(|_| Error::InvalidBackup)?;
        drop(plain);
        let name = payload.name.clone();
        validate_name("key", &name).map_err(|_| Error::InvalidBackup)?;
        self.require_on_key(DataAction::KeysRestore, &name)?;
        if payload.versions.is_empty() {
            return Err(Error::InvalidBackup);
        }
        let mut rows = Vec::with_capacity(payload.versions.len());
        for v in payload.versions {
            let material = KeyMaterial::from_sealable(v.material.0.expose())
                .map_err(|_| Error::InvalidBackup)?;
            // The record's key type and public key must be the material's, or the key
            // would publish a public key that does not verify what it signs.
            if material.family() != v.record.kty.family()
                || !same_public_key(&material.public_jwk(), &v.record.public)
            {
                return Err(Error::InvalidBackup);
            }
            self.check_kind(&vault, v.record.kty)?;
            let mut vr = v.record;
            vr.sealed = Base64Url(self.shared.sealer.seal(
                Purpose::Record,
                &material_aad(&self.name, &name, &v.version),
                material.to_sealable().expose(),
            )?);
            rows.push((v.version, vr));
        }
        let id = key_id(&self.name, &name);
        let record = KeyRecord {
            name: name.clone(),
            versions: rows.iter().map(|(v, _)| v.clone()).collect(),
            deletion: None,
        };
        (
            &self.shared.keys,
            &self.shared.deleted_keys,
            &self.shared.versions,
            &self.shared.vaults,
        )
            .transaction(|(keys, deleted, versions, vaults)| {
                self.ensure_live_tx(vaults)?;
                if deleted.get(&id)?.is_some() {
                    return abort(Error::KeyIsDeleted { name: name.clone() });
                }
                if keys.get(&id)?.is_some() {
                    return abort(Error::KeyExists { name: name.clone() });
                }
                keys.insert(id.as_slice(), encode(&record))?;
                for (version, vr) in &rows {
                    versions.insert(version_id(&self.name, &name, version), encode(vr))?;
                }
                Ok(())
            })
            .map_err(tx_error)?;
        self.shared.flush()?;
        self.shared.reconcile(&id)?;
        self.bundle_of(&name, None)
    }

    /// Every version of a key (live, or soft-deleted when `deleted`), oldest first, with
    /// its deletion info. No access check: for store-level administration.
    pub(crate) fn all_versions(
        &self,
        name: &str,
        deleted: bool,
    ) -> Result<(Vec<KeyBundle>, Option<DeletionInfo>)> {
        let vault = self
            .shared
            .vault_record(&self.name)?
            .ok_or_else(|| Error::VaultNotFound {
                vault: self.name.clone(),
            })?;
        let record = if deleted {
            self.deleted_key(name)?
        } else {
            self.live_key(name)?
        };
        let mut out = Vec::with_capacity(record.versions.len());
        for version in &record.versions {
            let vr = self.load_version(&record.name, version)?;
            out.push(self.bundle(&vault, &record, version, vr));
        }
        Ok((out, record.deletion))
    }

    /// Names of the keys in this vault, live or soft-deleted. No access check.
    pub(crate) fn key_names(&self, deleted: bool) -> Result<Vec<String>> {
        let tree = if deleted {
            &self.shared.deleted_keys
        } else {
            &self.shared.keys
        };
        tree.scan_prefix(key_prefix(&self.name))
            .values()
            .map(|v| Ok(decode::<KeyRecord>("key", &v?)?.name))
            .collect()
    }

    fn unseal(&self, name: &str, version: &str, vr: &VersionRecord) -> Result<KeyMaterial> {
        let plain = self
            .shared
            .sealer
            .open(
                Purpose::Record,
                &material_aad(&self.name, name, version),
                &vr.sealed.0,
            )
            .ok_or_else(|| Error::Corrupt {
                what: format!("key {name}/{version}"),
            })?;
        KeyMaterial::from_sealable(plain.expose())
    }

    /// A handle on a key version (the current one when `version` is `None`), for
    /// cryptographic operations. Resolved handles are cached, so this is cheap after the
    /// first call.
    pub fn key(&self, name: &str, version: Option<&str>) -> Result<KeyHandle> {
        let handle = self.resolve(name, version)?;
        if self.caller.is_none() {
            return Ok(handle);
        }
        let scope = key_scope(name);
        let grant = self.grant(&scope)?;
        Ok(handle.with_access(grant, self.caller_label(), scope))
    }

    fn resolve(&self, name: &str, version: Option<&str>) -> Result<KeyHandle> {
        let id = key_id(&self.name, name);
        if let Some(h) = self.shared.cached_handle(&id, version) {
            return Ok(h);
        }
        self.record()?;
        self.shared
            .resolve_handle(&id, version, |record, version, vr| {
                let material = self.unseal(&record.name, version, &vr)?;
                Ok(KeyHandle::new(
                    &self.name,
                    &record.name,
                    version,
                    &vr,
                    material,
                    self.shared.time.clone(),
                ))
            })
    }

    /// `count` random bytes from the system CSPRNG (Managed HSM's `/rng`).
    pub fn random_bytes(&self, count: usize) -> Result<Vec<u8>> {
        self.require(DataAction::Rng, "/")?;
        let vault = self.record()?;
        if vault.kind != VaultKind::ManagedHsm {
            return Err(Error::NotSupportedByVaultKind {
                what: "random number generation".into(),
                kind: vault.kind.as_str(),
            });
        }
        if !(1..=MAX_RANDOM_BYTES).contains(&count) {
            return Err(Error::bad_parameter(format!(
                "count must be 1 to {MAX_RANDOM_BYTES}, not {count}"
            )));
        }
        crate::crypto::random_bytes(count)
    }

    /// The private JWK of an exportable key version; see [`crate::hazmat`].
    pub(crate) fn export_private(&self, name: &str, version: Option<&str>) -> Result<KeyBundle> {
        self.require_on_key(DataAction::KeysExport, name)?;
        let mut bundle = self.bundle_of(name, version)?;
        if !bundle.attributes.exportable {
            return Err(Error::NotExportable);
        }
        let vr = self.load_version(name, &bundle.version)?;
        let material = self.unseal(name, &bundle.version, &vr)?;
        let mut jwk = material.private_jwk()?;
        jwk.key_ops = Some(bundle.key_ops.clone());
        bundle.key = jwk;
        Ok(bundle)
    }
}
