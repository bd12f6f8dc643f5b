//! Versioned objects of any kind in a vault: versions with attributes and tags, soft-delete,
//! recover, purge under purge protection, paging, and backup/restore envelopes. Each kind
//! brings its version record (a [`Versioned`]) and its own checks; the rules are here once.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::core::{check_purge, deletion_dates, Core};
use super::records::{
    object_id, vault_of, vault_prefix, version_id, Due, ObjectRecord, VaultRecord,
};
use crate::clock::UnixTime;
use crate::crypto::{SecretBase64Url, SecretBytes};
use crate::error::{Error, ObjectKind, Result};
use crate::model::key_policies::KeyRotationPolicy;
use crate::model::{validate_name, validate_tags, validate_validity, Page, Tags};
use crate::store::seal::{backup_aad, object_aad};
use crate::store::{decode, KeyRange, Table, Txn, TxnExt};

/// What a backup blob starts with.
pub(crate) const BACKUP_MAGIC: &[u8] = b"LHSMBKP1";

/// The attributes every version of every kind carries, borrowed for an update.
pub(crate) struct AttributesMut<'a> {
    pub(crate) enabled: &'a mut bool,
    pub(crate) not_before: &'a mut Option<UnixTime>,
    pub(crate) expires: &'a mut Option<UnixTime>,
    pub(crate) updated: &'a mut UnixTime,
    pub(crate) tags: &'a mut Tags,
}

/// A kind's version record, as the lifecycle needs to see it.
pub(crate) trait Versioned: Serialize + DeserializeOwned {
    /// The common attributes, for updates.
    fn attributes_mut(&mut self) -> AttributesMut<'_>;
    /// The version's sealed secret (key material, secret value).
    fn sealed(&self) -> &[u8];
    /// Replaces the sealed secret (backups carry it unsealed, under the backup key).
    fn set_sealed(&mut self, sealed: Vec<u8>);
}

/// The state a new version starts in: enabled, and its validity period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VersionState {
    pub(crate) enabled: bool,
    pub(crate) not_before: Option<UnixTime>,
    pub(crate) expires: Option<UnixTime>,
}

/// Changes to a version's common attributes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AttributeUpdate {
    pub(crate) enabled: Option<bool>,
    pub(crate) not_before: Option<Option<UnixTime>>,
    pub(crate) expires: Option<Option<UnixTime>>,
    pub(crate) tags: Option<Tags>,
}

impl AttributeUpdate {
    fn apply(&self, a: AttributesMut<'_>, now: UnixTime) -> Result<()> {
        if let Some(e) = self.enabled {
            *a.enabled = e;
        }
        if let Some(nbf) = self.not_before {
            *a.not_before = nbf;
        }
        if let Some(exp) = self.expires {
            *a.expires = exp;
        }
        validate_validity(*a.not_before, *a.expires)?;
        if let Some(tags) = &self.tags {
            a.tags.clone_from(tags);
        }
        *a.updated = now;
        Ok(())
    }
}

/// A backup's payload: the object's name and every version with its secret. The first
/// schema's key backups have exactly this shape.
#[derive(Serialize, Deserialize)]
pub(crate) struct BackupPayload<V> {
    pub(crate) name: String,
    pub(crate) versions: Vec<BackupVersion<V>>,
    /// A key's rotation policy; absent in backups of objects without one (and in every
    /// backup written before rotation policies existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rotation_policy: Option<KeyRotationPolicy>,
}

/// One version in a backup.
#[derive(Serialize, Deserialize)]
pub(crate) struct BackupVersion<V> {
    pub(crate) version: String,
    pub(crate) record: V,
    pub(crate) material: SecretBase64Url,
}

/// A new version id: 32 lowercase hex digits.
pub(crate) fn new_version_id() -> Result<String> {
    Ok(hex::encode(crate::crypto::random_bytes(16)?))
}

/// The objects of one kind in one vault.
pub(crate) struct Objects<'a> {
    core: &'a Core,
    kind: ObjectKind,
    vault: &'a str,
}

impl<'a> Objects<'a> {
    /// The objects of `kind` in `vault`.
    pub(crate) fn new(core: &'a Core, kind: ObjectKind, vault: &'a str) -> Self {
        Self { core, kind, vault }
    }

    /// The table key of an object.
    pub(crate) fn id(&self, name: &str) -> Vec<u8> {
        object_id(self.vault, name)
    }

    fn not_found(&self, name: &str, version: Option<&str>) -> Error {
        Error::not_found(self.kind, name, version)
    }

    fn deleted_not_found(&self, name: &str) -> Error {
        Error::DeletedNotFound {
            kind: self.kind,
            name: name.to_string(),
        }
    }

    /// The associated data that binds a version's sealed secret to its place.
    pub(crate) fn aad(&self, name: &str, version: &str) -> Vec<u8> {
        object_aad(self.kind, self.vault, name, version)
    }

    /// Seals a version's secret for storage.
    pub(crate) fn seal(&self, name: &str, version: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        self.core.storage.seal(&self.aad(name, version), plaintext)
    }

    /// Opens a version's sealed secret; a failure means the record was damaged or moved.
    pub(crate) fn unseal(&self, name: &str, version: &str, sealed: &[u8]) -> Result<SecretBytes> {
        self.core
            .storage
            .unseal(&self.aad(name, version), sealed)
            .ok_or_else(|| Error::Corrupt {
                what: format!("{} {name}/{version}", self.kind),
            })
    }

    /// `Ok` unless a certificate owns the object: its key and secret change only with it.
    pub(crate) fn refuse_managed(&self, record: &ObjectRecord) -> Result<()> {
        if record.managed {
            return Err(Error::Managed {
                kind: self.kind,
                name: record.name.clone(),
            });
        }
        Ok(())
    }

    /// A live object, or `NotFound`.
    pub(crate) fn live(&self, name: &str) -> Result<ObjectRecord> {
        self.core
            .storage
            .get_as(Table::Objects(self.kind), &self.id(name), self.kind.noun())?
            .ok_or_else(|| self.not_found(name, None))
    }

    /// A soft-deleted object, or `DeletedNotFound`.
    pub(crate) fn deleted(&self, name: &str) -> Result<ObjectRecord> {
        self.core
            .storage
            .get_as(Table::Deleted(self.kind), &self.id(name), "deleted object")?
            .ok_or_else(|| self.deleted_not_found(name))
    }

    /// A live or soft-deleted object.
    pub(crate) fn record(&self, name: &str, deleted: bool) -> Result<ObjectRecord> {
        if deleted {
            self.deleted(name)
        } else {
            self.live(name)
        }
    }

    /// One version's record.
    pub(crate) fn version<V: Versioned>(&self, name: &str, version: &str) -> Result<V> {
        self.core
            .storage
            .get_as(
                Table::Versions(self.kind),
                &version_id(&self.id(name), version),
                "version",
            )?
            .ok_or_else(|| self.not_found(name, Some(version)))
    }

    /// `version` of `record` (the current one when `None`), or `NotFound`.
    pub(crate) fn pick_version(
        &self,
        record: &ObjectRecord,
        version: Option<&str>,
    ) -> Result<String> {
        match version {
            None => record.current(),
            Some(v) => record.versions.iter().map(String::as_str).find(|x| *x == v),
        }
        .map(str::to_string)
        .ok_or_else(|| self.not_found(&record.name, version))
    }

    /// Adds `version` to `name` (creating the object if it is new). Refused while the name
    /// is soft-deleted, and when the vault is not live.
    pub(crate) fn add_version<V: Versioned>(
        &self,
        name: &str,
        version: &str,
        record: &V,
    ) -> Result<ObjectRecord> {
        let object = self
            .core
            .transact(|tx| self.add_version_in(tx, name, version, record, false))?;
        self.core.commit()?;
        Ok(object)
    }

    /// [`Objects::add_version`] inside a transaction, so that versions of several kinds land
    /// together (a certificate with its key and secret). `managed` marks an object a
    /// certificate owns; a version is never added across that line, either way.
    pub(crate) fn add_version_in<V: Versioned>(
        &self,
        tx: &mut dyn Txn,
        name: &str,
        version: &str,
        record: &V,
        managed: bool,
    ) -> Result<ObjectRecord> {
        let id = self.id(name);
        let vid = version_id(&id, version);
        Core::live_vault_tx(tx, self.vault)?;
        if tx.get(Table::Deleted(self.kind), &id)?.is_some() {
            return Err(Error::IsDeleted {
                kind: self.kind,
                name: name.to_string(),
            });
        }
        let mut object = tx
            .get_as::<ObjectRecord>(Table::Objects(self.kind), &id, self.kind.noun())?
            .unwrap_or_else(|| ObjectRecord {
                name: name.to_string(),
                versions: Vec::new(),
                deletion: None,
                managed,
                rotation_policy: None,
                notified_version: None,
            });
        if object.managed != managed {
            return Err(if object.managed {
                Error::Managed {
                    kind: self.kind,
                    name: object.name,
                }
            } else {
                Error::AlreadyExists {
                    kind: self.kind,
                    name: object.name,
                }
            });
        }
        object.versions.push(version.to_string());
        tx.put_as(Table::Objects(self.kind), &id, &object)?;
        tx.put_as(Table::Versions(self.kind), &vid, record)?;
        Ok(object)
    }

    /// Updates one version (the current one when `version` is `None`): the common
    /// attributes, then what `change` does to the kind's own fields, in one transaction.
    pub(crate) fn update_version<V: Versioned>(
        &self,
        name: &str,
        version: Option<&str>,
        update: &AttributeUpdate,
        mut change: impl FnMut(&mut V),
    ) -> Result<(ObjectRecord, String, V)> {
        if let Some(tags) = &update.tags {
            validate_tags(tags)?;
        }
        let now = self.core.now();
        let out = self.core.transact(|tx| {
            self.update_version_in(tx, name, version, update, now, |v| {
                change(v);
                Ok(())
            })
        })?;
        self.core.commit()?;
        Ok(out)
    }

    /// [`Objects::update_version`] inside a transaction; `change` may refuse.
    pub(crate) fn update_version_in<V: Versioned>(
        &self,
        tx: &mut dyn Txn,
        name: &str,
        version: Option<&str>,
        update: &AttributeUpdate,
        now: UnixTime,
        change: impl FnOnce(&mut V) -> Result<()>,
    ) -> Result<(ObjectRecord, String, V)> {
        let id = self.id(name);
        Core::live_vault_tx(tx, self.vault)?;
        let object = tx
            .get_as::<ObjectRecord>(Table::Objects(self.kind), &id, self.kind.noun())?
            .ok_or_else(|| self.not_found(name, version))?;
        let version = self.pick_version(&object, version)?;
        let vid = version_id(&id, &version);
        let mut record: V = tx
            .get_as(Table::Versions(self.kind), &vid, "version")?
            .ok_or_else(|| self.not_found(name, Some(&version)))?;
        update.apply(record.attributes_mut(), now)?;
        change(&mut record)?;
        tx.put_as(Table::Versions(self.kind), &vid, &record)?;
        Ok((object, version, record))
    }

    /// Changes a live object's record in one transaction, refused when it is gone.
    pub(crate) fn update_record(
        &self,
        name: &str,
        mut change: impl FnMut(&mut ObjectRecord) -> Result<()>,
    ) -> Result<ObjectRecord> {
        let id = self.id(name);
        let object = self.core.transact(|tx| {
            Core::live_vault_tx(tx, self.vault)?;
            let mut object = tx
                .get_as::<ObjectRecord>(Table::Objects(self.kind), &id, self.kind.noun())?
                .ok_or_else(|| self.not_found(name, None))?;
            change(&mut object)?;
            tx.put_as(Table::Objects(self.kind), &id, &object)?;
            Ok(object)
        })?;
        self.core.commit()?;
        Ok(object)
    }

    /// Soft-deletes an object with all its versions. It is purged automatically at
    /// `now + retention`; until then its name stays taken.
    pub(crate) fn delete(&self, name: &str) -> Result<ObjectRecord> {
        let now = self.core.now();
        let object = self.core.transact(|tx| self.delete_in(tx, name, now))?;
        self.core.commit()?;
        if let Some(d) = object.deletion {
            self.core.queued(d.scheduled_purge_date);
        }
        Ok(object)
    }

    /// [`Objects::delete`] inside a transaction. The caller tells the core about the queued
    /// purge ([`Core::queued`]) once the transaction has committed.
    pub(crate) fn delete_in(
        &self,
        tx: &mut dyn Txn,
        name: &str,
        now: UnixTime,
    ) -> Result<ObjectRecord> {
        let vault = Core::live_vault_tx(tx, self.vault)?;
        self.soft_delete_in(tx, &vault, name, now)
    }

    /// [`Objects::delete_in`] whether the vault is live or soft-deleted (not while it is
    /// being purged), under the vault's retention: for customer-data deletes, so that
    /// recovering the vault brings the object back soft-deleted, never live.
    pub(crate) fn delete_in_any_vault(
        &self,
        tx: &mut dyn Txn,
        name: &str,
        now: UnixTime,
    ) -> Result<ObjectRecord> {
        let vault = Core::unpurged_vault_tx(tx, self.vault)?;
        self.soft_delete_in(tx, &vault, name, now)
    }

    fn soft_delete_in(
        &self,
        tx: &mut dyn Txn,
        vault: &VaultRecord,
        name: &str,
        now: UnixTime,
    ) -> Result<ObjectRecord> {
        let id = self.id(name);
        let mut object = tx
            .get_as::<ObjectRecord>(Table::Objects(self.kind), &id, self.kind.noun())?
            .ok_or_else(|| self.not_found(name, None))?;
        let deletion = deletion_dates(now, vault.retention_days);
        object.deletion = Some(deletion);
        tx.delete(Table::Objects(self.kind), &id)?;
        tx.put_as(Table::Deleted(self.kind), &id, &object)?;
        Core::enqueue(
            tx,
            deletion.scheduled_purge_date,
            Due::Object(self.kind),
            &id,
        )?;
        Ok(object)
    }

    /// Recovers a soft-deleted object with every version, unchanged.
    pub(crate) fn recover(&self, name: &str) -> Result<ObjectRecord> {
        let object = self.core.transact(|tx| self.recover_in(tx, name))?;
        self.core.commit()?;
        Ok(object)
    }

    /// [`Objects::recover`] inside a transaction.
    pub(crate) fn recover_in(&self, tx: &mut dyn Txn, name: &str) -> Result<ObjectRecord> {
        let id = self.id(name);
        Core::live_vault_tx(tx, self.vault)?;
        let mut object = tx
            .get_as::<ObjectRecord>(Table::Deleted(self.kind), &id, "deleted object")?
            .ok_or_else(|| self.deleted_not_found(name))?;
        if let Some(d) = object.deletion.take() {
            Core::dequeue(tx, d.scheduled_purge_date, Due::Object(self.kind), &id)?;
        }
        tx.delete(Table::Deleted(self.kind), &id)?;
        tx.put_as(Table::Objects(self.kind), &id, &object)?;
        Ok(object)
    }

    /// Purges a soft-deleted object for good. Refused with [`Error::PurgeProtected`] before
    /// its scheduled purge date when the vault has purge protection.
    pub(crate) fn purge(&self, name: &str) -> Result<()> {
        if purge_by_id(self.core, self.kind, &self.id(name), false)? {
            self.core.commit()
        } else {
            Err(self.deleted_not_found(name))
        }
    }

    /// Puts a restored object in place under its original name and version ids. Refused
    /// when the name is in use, live or soft-deleted.
    pub(crate) fn insert_restored<V: Versioned>(
        &self,
        name: &str,
        versions: &[(String, V)],
        rotation_policy: Option<KeyRotationPolicy>,
    ) -> Result<ObjectRecord> {
        let object = self.core.transact(|tx| {
            self.insert_restored_with(tx, name, versions, false, rotation_policy.clone())
        })?;
        self.core.commit()?;
        Ok(object)
    }

    /// [`Objects::insert_restored`] inside a transaction; `managed` as for
    /// [`Objects::add_version_in`].
    pub(crate) fn insert_restored_in<V: Versioned>(
        &self,
        tx: &mut dyn Txn,
        name: &str,
        versions: &[(String, V)],
        managed: bool,
    ) -> Result<ObjectRecord> {
        self.insert_restored_with(tx, name, versions, managed, None)
    }

    /// [`Objects::insert_restored_in`] with the object's rotation policy from its backup.
    fn insert_restored_with<V: Versioned>(
        &self,
        tx: &mut dyn Txn,
        name: &str,
        versions: &[(String, V)],
        managed: bool,
        rotation_policy: Option<KeyRotationPolicy>,
    ) -> Result<ObjectRecord> {
        let id = self.id(name);
        let object = ObjectRecord {
            name: name.to_string(),
            versions: versions.iter().map(|(v, _)| v.clone()).collect(),
            deletion: None,
            managed,
            rotation_policy,
            notified_version: None,
        };
        Core::live_vault_tx(tx, self.vault)?;
        if tx.get(Table::Deleted(self.kind), &id)?.is_some() {
            return Err(Error::IsDeleted {
                kind: self.kind,
                name: name.to_string(),
            });
        }
        if tx.get(Table::Objects(self.kind), &id)?.is_some() {
            return Err(Error::AlreadyExists {
                kind: self.kind,
                name: name.to_string(),
            });
        }
        tx.put_as(Table::Objects(self.kind), &id, &object)?;
        for (version, record) in versions {
            tx.put_as(
                Table::Versions(self.kind),
                &version_id(&id, version),
                record,
            )?;
        }
        Ok(object)
    }

    /// Live or soft-deleted objects, by lowercase name, `max` at a time. Pass the returned
    /// `next` to continue. Costs in proportion to the page, not to the vault.
    pub(crate) fn page(
        &self,
        deleted: bool,
        max: usize,
        continuation: Option<&str>,
    ) -> Result<Page<ObjectRecord>> {
        let max = max.max(1);
        let table = if deleted {
            Table::Deleted(self.kind)
        } else {
            Table::Objects(self.kind)
        };
        let prefix = vault_prefix(self.vault);
        let range = match continuation {
            Some(after) => KeyRange::prefix_after(&prefix, &self.id(after)),
            None => KeyRange::prefix(&prefix),
        };
        let rows = self.core.storage.backend().scan(table, &range, max + 1)?;
        let more = rows.len() > max;
        // A certificate's deleted key and secret are listed only through the certificate.
        let items = rows
            .iter()
            .take(max)
            .map(|(_, v)| decode::<ObjectRecord>(self.kind.noun(), v))
            .filter(|r| !(deleted && r.as_ref().is_ok_and(|r| r.managed)))
            .collect::<Result<Vec<_>>>()?;
        let next = match (more, rows.get(max - 1)) {
            (true, Some((k, _))) => Some(String::from_utf8_lossy(&k[prefix.len()..]).into_owned()),
            _ => None,
        };
        Ok(Page { items, next })
    }

    /// Names of the objects in this vault, live or soft-deleted.
    pub(crate) fn names(&self, deleted: bool) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let mut next = None;
        loop {
            let page = self.page(deleted, 1000, next.as_deref())?;
            names.extend(page.items.into_iter().map(|r| r.name));
            next = page.next;
            if next.is_none() {
                return Ok(names);
            }
        }
    }

    /// A backup of an object with all its versions, attributes and tags: an opaque blob,
    /// encrypted and authenticated under this store's master key.
    pub(crate) fn backup<V: Versioned>(&self, name: &str) -> Result<Vec<u8>> {
        let object = self.live(name)?;
        let mut versions = Vec::with_capacity(object.versions.len());
        for version in &object.versions {
            let mut record: V = self.version(name, version)?;
            let material = self.unseal(name, version, record.sealed())?;
            record.set_sealed(Vec::new());
            versions.push(BackupVersion {
                version: version.clone(),
                record,
                material: SecretBase64Url(material),
            });
        }
        let payload = BackupPayload {
            name: object.name,
            versions,
            rotation_policy: object.rotation_policy,
        };
        let plain = Zeroizing::new(
            serde_json::to_vec(&payload).map_err(|e| Error::Storage(e.to_string()))?,
        );
        let mut blob = BACKUP_MAGIC.to_vec();
        blob.extend(
            self.core
                .storage
                .seal_backup(&backup_aad(self.kind), &plain)?,
        );
        Ok(blob)
    }

    /// Opens a backup blob of this kind: authenticated, decoded, with a valid name and at
    /// least one version.
    pub(crate) fn open_backup<V: Versioned>(&self, blob: &[u8]) -> Result<BackupPayload<V>> {
        let sealed = blob
            .strip_prefix(BACKUP_MAGIC)
            .ok_or(Error::InvalidBackup)?;
        let plain = self
            .core
            .storage
            .unseal_backup(&backup_aad(self.kind), sealed)
            .ok_or(Error::InvalidBackup)?;
        let payload: BackupPayload<V> =
            serde_json::from_slice(plain.expose()).map_err(|_| Error::InvalidBackup)?;
        validate_name(self.kind.noun(), &payload.name).map_err(|_| Error::InvalidBackup)?;
        if payload.versions.is_empty() {
            return Err(Error::InvalidBackup);
        }
        Ok(payload)
    }

    /// Restores a backup opened by [`Objects::open_backup`]: `check` vets each version and
    /// its secret (a refusal aborts the whole restore), each secret is sealed anew for its
    /// place here, and the object goes in place with [`Objects::insert_restored`].
    pub(crate) fn restore<V: Versioned>(
        &self,
        payload: BackupPayload<V>,
        check: impl FnMut(&V, &SecretBytes) -> Result<()>,
    ) -> Result<ObjectRecord> {
        let rotation_policy = payload.rotation_policy.clone();
        let (name, rows) = self.reseal(payload, check)?;
        self.insert_restored(&name, &rows, rotation_policy)
    }

    /// A backup's versions, vetted by `check` and sealed anew for their place here, ready
    /// for [`Objects::insert_restored_in`].
    pub(crate) fn reseal<V: Versioned>(
        &self,
        payload: BackupPayload<V>,
        mut check: impl FnMut(&V, &SecretBytes) -> Result<()>,
    ) -> Result<(String, Vec<(String, V)>)> {
        let name = payload.name;
        let mut rows = Vec::with_capacity(payload.versions.len());
        for v in payload.versions {
            let mut record = v.record;
            check(&record, &v.material.0)?;
            record.set_sealed(self.seal(&name, &v.version, v.material.0.expose())?);
            rows.push((v.version, record));
        }
        Ok((name, rows))
    }

    /// The vault's record (it may be deleted), for bundles.
    pub(crate) fn vault(&self) -> Result<std::sync::Arc<VaultRecord>> {
        self.core.any_vault(self.vault)
    }
}

/// A page of an object's versions, oldest first: `max` starting at the index the
/// continuation names.
pub(crate) fn versions_page<'r>(
    record: &'r ObjectRecord,
    max: usize,
    continuation: Option<&str>,
) -> Result<(&'r [String], Option<String>)> {
    let start: usize = match continuation {
        Some(c) => c
            .parse()
            .map_err(|_| Error::bad_parameter("invalid continuation token"))?,
        None => 0,
    };
    let start = start.min(record.versions.len());
    let end = start.saturating_add(max.max(1)).min(record.versions.len());
    let next = (end < record.versions.len()).then(|| end.to_string());
    Ok((&record.versions[start..end], next))
}

/// Removes a deleted object and all its versions in one transaction; does not flush.
/// `due_only` (a sweep) purges only what is due; otherwise purge protection decides.
/// Returns false if there is no such deleted object.
pub(crate) fn purge_by_id(
    core: &Core,
    kind: ObjectKind,
    id: &[u8],
    due_only: bool,
) -> Result<bool> {
    let now = core.now();
    core.transact(|tx| purge_in(tx, kind, id, due_only, now))
}

/// Inside a transaction: removes the deleted object `id` of `kind` with its versions and its
/// queued purge. Purge protection is read in the same transaction, so a concurrent enable
/// either lands first (and stops this purge) or after it.
pub(crate) fn purge_in(
    tx: &mut dyn Txn,
    kind: ObjectKind,
    id: &[u8],
    due_only: bool,
    now: UnixTime,
) -> Result<bool> {
    let Some(object) = tx.get_as::<ObjectRecord>(Table::Deleted(kind), id, "deleted object")?
    else {
        return Ok(false);
    };
    let protected = tx
        .get_as::<VaultRecord>(Table::Vaults, vault_of(id), "vault")?
        .is_some_and(|v| v.purge_protection);
    let deletion = object.deletion.ok_or_else(|| Error::Corrupt {
        what: "deleted object".into(),
    })?;
    check_purge(&object.name, deletion, protected, due_only, now)?;
    for version in &object.versions {
        tx.delete(Table::Versions(kind), &version_id(id, version))?;
    }
    tx.delete(Table::Deleted(kind), id)?;
    Core::dequeue(tx, deletion.scheduled_purge_date, Due::Object(kind), id)?;
    Ok(true)
}
