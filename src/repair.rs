//! `localhsm store verify` and `store repair`: every integrity check of the storage layer
//! (`store::integrity`) reported rather than refused, every record decoded and every sealed
//! value opened; and the repair that keeps what is intact, re-anchors the store, and
//! soft-deletes what the removal journal says was deleted after the database's state, so a
//! rollback never brings a deleted object or vault back live.
//!
//! Layer: services. Imports the store (to open it for inspection), the lifecycle (its
//! records, and the soft delete a repair applies), the vault (to reopen the store) and the
//! version records of each object kind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::certificates::CertificateVersion;
use crate::error::{Error, IntegrityProblem, ObjectKind, Result};
use crate::keys::KeyVersion;
use crate::lifecycle::objects::Objects;
use crate::lifecycle::records::{parse_purge_entry, ObjectRecord, VaultRecord};
use crate::secrets::SecretVersion;
use crate::store::integrity::{for_each_record, read_journal};
use crate::store::seal::object_aad;
use crate::store::{
    decode, Backend, IntegrityReport, JournalEntry, JournalEvent, MasterKeySource, SledBackend,
    Storage, Table, Write, ANCHOR_FILE, DB_DIR, JOURNAL_FILE,
};
use crate::vault::Store;

/// A record that fails to decode, or whose sealed value does not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// The table (its on-disk name).
    pub table: &'static str,
    /// The record's key, readably.
    pub key: String,
    /// What is wrong with it.
    pub why: String,
    raw: Vec<u8>,
}

/// An object or vault the journal says was deleted (or purged) after the database's state,
/// but which the database holds live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoneRemoval {
    /// The object's kind; `None` for a vault.
    pub kind: Option<ObjectKind>,
    /// `vault/name` for an object, the vault's name for a vault.
    pub id: String,
    /// What the journal says happened last, and at which commit.
    pub event: JournalEvent,
    /// The commit of that event.
    pub counter: u64,
}

/// What `store verify` found.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// The data directory.
    pub dir: PathBuf,
    /// The checks of the storage layer: problems, counters, records per table.
    pub integrity: IntegrityReport,
    /// A problem with the removal journal.
    pub journal_problem: Option<String>,
    /// How many journal lines verify.
    pub journal_entries: usize,
    /// Records that fail to decode or unseal.
    pub bad_records: Vec<BadRecord>,
    /// Deletions the database does not show (after a rollback).
    pub undone_removals: Vec<UndoneRemoval>,
}

impl VerifyReport {
    /// Whether all is well.
    pub fn is_clean(&self) -> bool {
        self.integrity.problems.is_empty()
            && self.journal_problem.is_none()
            && self.bad_records.is_empty()
            && self.undone_removals.is_empty()
    }

    /// Acknowledged commits the database lacks (a rollback), per the anchor.
    pub fn commits_lost(&self) -> u64 {
        self.integrity
            .anchor
            .map_or(0, |a| a.counter.saturating_sub(self.integrity.counter))
    }
}

/// What `store repair` did.
#[derive(Debug, Clone, Default)]
pub struct RepairReport {
    /// What the store looked like before (none when the database was gone).
    pub before: Option<VerifyReport>,
    /// Records dropped because they failed to decode or unseal, or named versions that
    /// were dropped.
    pub dropped: Vec<BadRecord>,
    /// Objects and vaults soft-deleted because the journal says they were deleted.
    pub soft_deleted: Vec<UndoneRemoval>,
    /// Deletions the journal records that could not be applied, and why.
    pub not_applied: Vec<(UndoneRemoval, String)>,
    /// The database was gone and a new, empty store was made (`--accept-loss`).
    pub new_store: bool,
    /// The commit counter the store was anchored at.
    pub counter: u64,
}

fn readable(key: &[u8]) -> String {
    String::from_utf8(key.to_vec()).unwrap_or_else(|_| hex::encode(key))
}

/// [`for_each_record`] for checks that cannot fail.
fn for_each(backend: &dyn Backend, table: Table, mut each: impl FnMut(&[u8], &[u8])) -> Result<()> {
    for_each_record(backend, table, |k, v| {
        each(k, v);
        Ok(())
    })
}

/// Decodes a version record of `kind` and opens its sealed value.
fn check_version(storage: &Storage, kind: ObjectKind, key: &[u8], value: &[u8]) -> Option<String> {
    let sealed = match kind {
        ObjectKind::Key => decode::<KeyVersion>("key version", value).map(|v| v.sealed.0),
        ObjectKind::Secret => decode::<SecretVersion>("secret version", value).map(|v| v.sealed.0),
        ObjectKind::Certificate => {
            decode::<CertificateVersion>("certificate version", value).map(|v| v.sealed.0)
        }
    };
    let Ok(sealed) = sealed else {
        return Some("does not decode".into());
    };
    let text = String::from_utf8_lossy(key);
    let mut parts = text.splitn(3, '/');
    let (Some(vault), Some(name), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Some("its key is not vault/name/version".into());
    };
    let aad = object_aad(kind, vault, name, version);
    storage
        .unseal(&aad, &sealed)
        .is_none()
        .then(|| "its sealed value does not open under this master key".into())
}

/// Every record that fails to decode or unseal, and every object naming a version that is
/// missing or bad.
fn bad_records(storage: &Storage) -> Result<Vec<BadRecord>> {
    let backend = storage.integrity().inner();
    let mut bad = Vec::new();
    let mut push = |table: Table, key: &[u8], why: String| {
        bad.push(BadRecord {
            table: table.name(),
            key: readable(key),
            why,
            raw: key.to_vec(),
        })
    };
    for_each(backend, Table::Vaults, |k, v| {
        if decode::<VaultRecord>("vault", v).is_err() {
            push(Table::Vaults, k, "does not decode".into());
        }
    })?;
    for kind in ObjectKind::ALL {
        let mut good_versions = std::collections::HashSet::new();
        for_each(backend, Table::Versions(kind), |k, v| {
            match check_version(storage, kind, k, v) {
                Some(why) => push(Table::Versions(kind), k, why),
                None => {
                    good_versions.insert(k.to_vec());
                }
            }
        })?;
        for table in [Table::Objects(kind), Table::Deleted(kind)] {
            for_each(backend, table, |k, v| {
                match decode::<ObjectRecord>("object", v) {
                    Err(_) => push(table, k, "does not decode".into()),
                    Ok(r) => {
                        let missing: Vec<&str> = r
                            .versions
                            .iter()
                            .filter(|ver| {
                                let mut id = k.to_vec();
                                id.push(b'/');
                                id.extend_from_slice(ver.as_bytes());
                                !good_versions.contains(&id)
                            })
                            .map(String::as_str)
                            .collect();
                        if !missing.is_empty() {
                            push(
                                table,
                                k,
                                format!("names versions missing or bad: {}", missing.join(", ")),
                            );
                        }
                    }
                }
            })?;
        }
    }
    for_each(backend, Table::PurgeQueue, |k, _| {
        if parse_purge_entry(k).is_none() {
            push(Table::PurgeQueue, k, "is not a purge-queue key".into());
        }
    })?;
    for table in [Table::RoleAssignments, Table::Issuers, Table::AccessLog] {
        for_each(backend, table, |k, v| {
            if serde_json::from_slice::<serde_json::Value>(v).is_err() {
                push(table, k, "does not decode".into());
            }
        })?;
    }
    Ok(bad)
}

/// The journal's last event for each object and vault after commit `after`, that the
/// database contradicts (holds live what was deleted or purged).
fn undone_removals(
    backend: &dyn Backend,
    entries: &[JournalEntry],
    after: u64,
) -> Result<Vec<UndoneRemoval>> {
    let mut last: BTreeMap<(Option<ObjectKind>, Vec<u8>), (JournalEvent, u64)> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.counter > after) {
        last.insert((e.kind(), e.key.clone()), (e.event, e.counter));
    }
    let mut out = Vec::new();
    for ((kind, key), (event, counter)) in last {
        if event == JournalEvent::Recovered {
            continue;
        }
        let live = match kind {
            Some(k) => backend.get(Table::Objects(k), &key)?.is_some(),
            None => backend
                .get(Table::Vaults, &key)?
                .and_then(|v| decode::<VaultRecord>("vault", &v).ok())
                .is_some_and(|r| r.deletion.is_none() && !r.purging),
        };
        if live {
            out.push(UndoneRemoval {
                kind,
                id: readable(&key),
                event,
                counter,
            });
        }
    }
    // Objects before vaults: an object is soft-deleted only while its vault is live.
    out.sort_by_key(|u| u.kind.is_none());
    Ok(out)
}

/// Opens the store in `dir` for inspection (nothing refused, nothing written).
fn inspect(dir: &Path, source: MasterKeySource) -> Result<(Storage, VerifyReport)> {
    crate::store::refuse_missing_key_file(&source, dir, &dir.join(DB_DIR))?;
    crate::store::refuse_lost_database(dir)?;
    let backend = Arc::new(SledBackend::open(dir)?);
    let (storage, integrity) = Storage::open_for_inspection(backend, source, Some(dir))?;
    let (entries, journal_problem) =
        read_journal(storage.integrity().key(), dir, integrity.anchor.as_ref());
    let bad_records = bad_records(&storage)?;
    // Lines past the anchor may be of commits that never reached the database (a crash
    // before the flush, trimmed at the next open): only anchored ones are evidence here.
    let anchored: Vec<JournalEntry> = entries
        .iter()
        .filter(|e| integrity.anchor.is_some_and(|a| e.counter <= a.counter))
        .cloned()
        .collect();
    let undone = undone_removals(storage.integrity().inner(), &anchored, integrity.counter)?;
    let report = VerifyReport {
        dir: dir.to_path_buf(),
        journal_problem,
        journal_entries: entries.len(),
        bad_records,
        undone_removals: undone,
        integrity,
    };
    Ok((storage, report))
}

/// Runs every check on the store in `dir` and reports what it finds. Fails only when there
/// is nothing to inspect: no store, a lost database, the wrong master key, a store in use.
pub fn verify(dir: &Path, source: MasterKeySource) -> Result<VerifyReport> {
    inspect(dir, source).map(|(_, report)| report)
}

/// Repairs the store in `dir` (see the module docs). `source` gives the master key (asked
/// twice: the store is opened for inspection, then normally). With `accept_loss`, a data
/// directory whose database is gone becomes a new, empty store; without it, that is an
/// error.
pub fn repair(
    dir: &Path,
    source: impl Fn() -> MasterKeySource,
    accept_loss: bool,
) -> Result<RepairReport> {
    let mut report = RepairReport::default();
    match crate::store::refuse_lost_database(dir) {
        Err(Error::StoreIntegrity {
            problem: IntegrityProblem::DatabaseLost { anchored },
            ..
        }) => {
            if !accept_loss {
                return Err(Error::bad_parameter(format!(
                    "the database in {} is gone (its anchor records commit {anchored}) and \
                     there is nothing to salvage: restore a backup with `localhsm store \
                     restore FILE`, or start an empty store there with `localhsm store repair \
                     --accept-loss`",
                    dir.display()
                )));
            }
            // Kept beside the new store for whoever investigates; `store.*` files, so a
            // forced restore removes them with the rest.
            for name in [ANCHOR_FILE, JOURNAL_FILE] {
                let from = dir.join(name);
                if from.exists() {
                    std::fs::rename(&from, dir.join(format!("{name}.lost-{anchored}")))?;
                }
            }
            let db = dir.join(DB_DIR);
            if db.exists() {
                std::fs::remove_dir_all(&db)?;
            }
            let store = Store::builder(dir).master_key(source()).open()?;
            report.new_store = true;
            report.counter = store.core().storage.integrity().counter();
            return Ok(report);
        }
        Err(e) => return Err(e),
        Ok(()) => {}
    }
    let (storage, before) = inspect(dir, source())?;
    // Every line after the database's state counts here, anchored or not: soft-deleting
    // what may have been deleted errs the safe way.
    let (entries, _) = read_journal(
        storage.integrity().key(),
        dir,
        before.integrity.anchor.as_ref(),
    );
    let undone = undone_removals(
        storage.integrity().inner(),
        &entries,
        before.integrity.counter,
    )?;
    report.dropped = salvage(&storage, &before.bad_records)?;
    report.counter = storage.integrity().reanchor()?;
    drop(storage);
    report.before = Some(before);

    let store = Store::builder(dir).master_key(source()).open()?;
    for u in undone {
        match soft_delete(&store, &u) {
            Ok(()) => report.soft_deleted.push(u),
            Err(e) => report.not_applied.push((u, e.to_string())),
        }
    }
    store.flush()?;
    report.counter = report
        .counter
        .max(store.core().storage.integrity().counter());
    Ok(report)
}

/// Drops the bad records; an object that names a bad version keeps its good versions, or
/// is dropped when none is left.
fn salvage(storage: &Storage, bad: &[BadRecord]) -> Result<Vec<BadRecord>> {
    let backend = storage.backend();
    let table_of = |name: &str| Table::ALL.into_iter().find(|t| t.name() == name);
    let mut dropped = Vec::new();
    for b in bad {
        let Some(table) = table_of(b.table) else {
            continue;
        };
        let key = b.raw.clone();
        if matches!(table, Table::Objects(_) | Table::Deleted(_)) {
            if let Some(mut r) = backend
                .get(table, &key)?
                .and_then(|v| decode::<ObjectRecord>("object", &v).ok())
            {
                let kind = match table {
                    Table::Objects(k) | Table::Deleted(k) => k,
                    _ => continue,
                };
                let mut keep = Vec::new();
                for ver in &r.versions {
                    let mut id = key.clone();
                    id.push(b'/');
                    id.extend_from_slice(ver.as_bytes());
                    let good = match backend.get(Table::Versions(kind), &id)? {
                        Some(v) => check_version(storage, kind, &id, &v).is_none(),
                        None => false,
                    };
                    if good {
                        keep.push(ver.clone());
                    }
                }
                if !keep.is_empty() {
                    r.versions = keep;
                    backend.apply(&[Write::Put(table, key.clone(), crate::store::encode(&r))])?;
                    dropped.push(b.clone());
                    continue;
                }
            }
        }
        backend.apply(&[Write::Delete(table, key)])?;
        dropped.push(b.clone());
    }
    Ok(dropped)
}

/// Soft-deletes what the journal says was deleted, through the lifecycle.
fn soft_delete(store: &Store, u: &UndoneRemoval) -> Result<()> {
    match u.kind {
        None => store.delete_vault(&u.id).map(drop),
        Some(kind) => {
            let (vault, name) = u.id.split_once('/').ok_or_else(|| Error::Corrupt {
                what: format!("object id {}", u.id),
            })?;
            Objects::new(store.core(), kind, vault)
                .delete(name)
                .map(drop)
        }
    }
}
