//! The storage seam: a small transactional key-value trait ([`Backend`]) that the lifecycle
//! is written against, its backends, sealing at rest and the master key.
//!
//! Layer: storage. Imports the base layer only (`clock`, `error`, `crypto`, `model`). sled is
//! named in `store::sled` and nowhere else in the crate.
//!
//! # The seam
//!
//! A store is a fixed set of [`Table`]s, each an ordered map from byte keys to byte values.
//! A backend offers point reads, ordered range scans with a limit (for paging and for the
//! purge queue, which is ordered by due date), atomic multi-record transactions, atomic
//! blind batches, a flush, and unique ids. Nothing in the trait is specific to an engine: a
//! networked transactional database implements it as well as sled does, and no caller may
//! assume that a read is free (the lifecycle caches what it reads on every request).
//!
//! ## Transaction contract
//!
//! [`Backend::transact`] runs `work` against a consistent view and commits everything it
//! wrote, or nothing:
//! - `work` sees its own writes; reads inside it are serializable with every other
//!   transaction (a backend retries on conflict, or reports it as an error).
//! - `work` may be run more than once (on a conflict), so it must have no effects outside
//!   the [`Txn`] it is given, other than recomputing values it returns.
//! - An `Err` from `work` aborts: nothing it wrote is applied, and the error is returned as is.
//! - A committed transaction is atomic across tables and survives a crash once
//!   [`Backend::flush`] has returned (a backend whose commits are durable by themselves
//!   makes `flush` a no-op). The store flushes before it acknowledges a change.
//! - Transactions cannot scan; scans run outside them (the lifecycle orders its writes so
//!   that a scan followed by a transaction is safe, e.g. a vault is marked `purging` before
//!   its contents are removed).
//!
//! # On-disk format (schema 2)
//!
//! Values are JSON records (see [`crate::lifecycle`] for their layout, and
//! [`crate::keys`] for key versions); secrets inside them are sealed first. The `meta` table
//! holds `schema` (u32 big-endian), `check` (a known value sealed under the master key, so a
//! wrong key fails at open), `salt` (the passphrase salt), `time` (u64 big-endian, the
//! latest time the store has acted on) and `integrity` (the commit counter and the digest
//! of every other record, MACed). sled keeps each table as a tree of the same name in
//! `DIR/db/`; beside it, `DIR/store.anchor` and `DIR/store.journal` hold the evidence that
//! the database is the latest acknowledged state.
//!
//! Schema 1 had no `integrity` record, anchor or journal; its stores are migrated once at
//! open (one transaction writes the digest and the new schema, then the anchor is written),
//! after which builds that read only schema 1 refuse them by the schema check.
//!
//! # Tamper and rollback evidence
//!
//! Every backend is opened through `store::integrity`, which checks at open that the
//! store is the state it last acknowledged and refuses it otherwise with
//! [`Error::StoreIntegrity`]: records changed or lost outside a commit (a flipped byte that
//! made the engine fall back to an older log, a truncated file), a database older than
//! its anchor (a copy of `db/` put back), an empty or missing database where an anchor shows
//! one existed (never silently a new store), a missing or damaged anchor. The engine's own
//! report of damage at open is refused the same way. `localhsm store verify` reports all
//! of it; `localhsm store repair` salvages what is intact, soft-deletes what the removal
//! journal says was deleted after the database's state, and re-anchors. The wrapper sits
//! under the backup gate (`store::gate`), so a whole-store backup copies what it accounts.
//!
//! # Sealing
//!
//! Key material, secret values and certificate private keys are sealed with AES-256-GCM
//! under keys derived from the master key by HKDF-SHA256 (`store::seal`) before they reach any
//! backend; the associated data binds the vault, the object kind, the name and the version,
//! so a sealed value copied to another place does not open. A backend never sees a
//! plaintext secret.

mod gate;
pub(crate) mod integrity;
mod master_key;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
pub(crate) mod seal;
mod seam;
mod sled;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::clock::UnixTime;
use crate::crypto::{random_bytes, SecretBytes};
use crate::error::{Error, IntegrityProblem, Result};
pub use gate::RestoreReport;
pub(crate) use gate::RestoreStep;
pub use integrity::{
    Anchor, IntegrityReport, JournalEntry, JournalEvent, ANCHOR_FILE, JOURNAL_FILE,
};
use integrity::{Checks, IntegrityBackend, Start};
pub(crate) use master_key::refuse_missing_key_file;
pub use master_key::{parse_master_key, MasterKeySource, KEY_FILE_NAME, MASTER_KEY_ENV};
pub use memory::MemoryBackend;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresBackend, PostgresOptions, DDL_VERSION as POSTGRES_DDL_VERSION};
use seal::{Purpose, Sealer};
pub use seam::{Backend, Change, KeyRange, Rows, StoreLock, Table, Txn, Watcher, Write};
pub use sled::SledBackend;
pub(crate) use sled::DB_DIR;

/// The schema this build reads and writes (and migrates to, from 1).
pub const SCHEMA_VERSION: u32 = 2;
/// The schema before integrity records, which this build migrates at open.
const SCHEMA_V1: u32 = 1;

const META_SCHEMA: &[u8] = b"schema";
const META_CHECK: &[u8] = b"check";
const META_SALT: &[u8] = b"salt";
const META_TIME: &[u8] = b"time";
const CHECK_PLAINTEXT: &[u8] = b"localhsm master key check v1";
const CHECK_AAD: &[u8] = b"localhsm/check/v1";
/// How many records a batched scan reads at a time.
const SCAN_BATCH: usize = 1024;

/// A stored time (u64 big-endian); 0 for a malformed one.
fn parse_time(v: &[u8]) -> UnixTime {
    <[u8; 8]>::try_from(v).map_or(0, u64::from_be_bytes)
}

/// Encodes a record. The records are plain data (string-keyed maps, no fallible
/// `Serialize`), so this cannot fail.
pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// Decodes a record, or says which record is damaged.
pub(crate) fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|_| Error::Corrupt {
        what: what.to_string(),
    })
}

/// Typed reads and writes inside a transaction.
pub(crate) trait TxnExt {
    /// Reads and decodes a record.
    fn get_as<T: DeserializeOwned>(
        &mut self,
        table: Table,
        key: &[u8],
        what: &str,
    ) -> Result<Option<T>>;
    /// Encodes and writes a record.
    fn put_as<T: Serialize>(&mut self, table: Table, key: &[u8], value: &T) -> Result<()>;
}

impl TxnExt for dyn Txn + '_ {
    fn get_as<T: DeserializeOwned>(
        &mut self,
        table: Table,
        key: &[u8],
        what: &str,
    ) -> Result<Option<T>> {
        self.get(table, key)?.map(|v| decode(what, &v)).transpose()
    }

    fn put_as<T: Serialize>(&mut self, table: Table, key: &[u8], value: &T) -> Result<()> {
        self.put(table, key, &encode(value))
    }
}

/// An opened backend with its sealing keys: what the lifecycle stores through.
pub(crate) struct Storage {
    backend: Arc<dyn Backend>,
    /// The same backend, for whole-store backups (`store::gate`).
    gate: Arc<gate::Gate>,
    /// The integrity wrapper under the gate (`store::integrity`).
    integrity: Arc<IntegrityBackend>,
    sealer: Sealer,
    dir: Option<PathBuf>,
    defer_flush: bool,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("location", &self.backend.location())
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Opens `backend` with the master key from `source`: checks the schema, checks the
    /// master key against the sealed known value (or writes both into a new store), checks
    /// that the store is the state it last acknowledged (see the module docs; a failure is
    /// [`Error::StoreIntegrity`]), and returns the storage with the latest time the store
    /// has acted on. `dir` is where the key file, the anchor and the journal live.
    pub(crate) fn open(
        backend: Arc<dyn Backend>,
        source: MasterKeySource,
        dir: Option<&Path>,
        defer_flush: bool,
    ) -> Result<(Self, UnixTime)> {
        Self::open_with(backend, source, dir, defer_flush, Checks::Enforce)
            .map(|(storage, time, _)| (storage, time))
    }

    /// [`Storage::open`] for `store verify` and `store repair`: integrity problems are
    /// reported rather than refused, and nothing is written (a store with no schema, or of
    /// schema 1, is an error: there is nothing to inspect yet).
    pub(crate) fn open_for_inspection(
        backend: Arc<dyn Backend>,
        source: MasterKeySource,
        dir: Option<&Path>,
    ) -> Result<(Self, IntegrityReport)> {
        Self::open_with(backend, source, dir, false, Checks::Inspect)
            .map(|(storage, _, report)| (storage, report))
    }

    fn open_with(
        backend: Arc<dyn Backend>,
        source: MasterKeySource,
        dir: Option<&Path>,
        defer_flush: bool,
        checks: Checks,
    ) -> Result<(Self, UnixTime, IntegrityReport)> {
        // Replicas starting together on a new database: one creates the store, the others
        // then find it.
        let mut source = Some(source);
        let mut opened = None;
        backend.clone().exclusive(StoreLock::Open, true, &mut || {
            let source = source
                .take()
                .ok_or_else(|| Error::Storage("the store's open was run twice".into()))?;
            opened = Some(Self::open_locked(
                backend.clone(),
                source,
                dir,
                defer_flush,
                checks,
            )?);
            Ok(())
        })?;
        opened.ok_or_else(|| Error::Storage("the store's open did not run".into()))
    }

    fn open_locked(
        backend: Arc<dyn Backend>,
        source: MasterKeySource,
        dir: Option<&Path>,
        defer_flush: bool,
        checks: Checks,
    ) -> Result<(Self, UnixTime, IntegrityReport)> {
        let schema = backend.get(Table::Meta, META_SCHEMA)?;
        let fresh = schema.is_none();
        let mut found_schema = SCHEMA_VERSION;
        if let Some(found) = schema {
            let found = <[u8; 4]>::try_from(found.as_slice())
                .map(u32::from_be_bytes)
                .unwrap_or(0);
            if found != SCHEMA_VERSION && found != SCHEMA_V1 {
                return Err(Error::UnsupportedSchema {
                    dir: backend.location(),
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            found_schema = found;
        }
        if fresh {
            // An empty database where an anchor shows a store existed: the database was
            // emptied or removed. Never a new store unless the user asks (`store repair
            // --accept-loss`).
            if let Some(dir) = dir.filter(|d| integrity::has_anchor(d)) {
                return Err(database_lost(dir));
            }
            if checks == Checks::Inspect {
                return Err(Error::Storage(format!(
                    "there is no store in {} to inspect",
                    backend.location()
                )));
            }
        }
        let salt_backend = backend.clone();
        let master = master_key::resolve(source, dir, fresh, move || {
            if let Some(s) = salt_backend.get(Table::Meta, META_SALT)? {
                return Ok(s);
            }
            // An existing store without a salt was sealed under a key, not a passphrase:
            // refuse without writing one into it.
            if !fresh {
                return Err(Error::WrongMasterKey);
            }
            let salt = random_bytes(16)?;
            salt_backend.apply(&[Write::Put(Table::Meta, META_SALT.to_vec(), salt.clone())])?;
            Ok(salt)
        })?;
        let sealer = Sealer::new(&master)?;
        drop(master);
        match backend.get(Table::Meta, META_CHECK)? {
            Some(check) => {
                let opened = sealer.open(Purpose::Record, CHECK_AAD, &check);
                if opened.as_ref().map(SecretBytes::expose) != Some(CHECK_PLAINTEXT) {
                    return Err(Error::WrongMasterKey);
                }
            }
            None if fresh => {
                // The schema record comes with the first integrity record, in one commit.
                let check = sealer.seal(Purpose::Record, CHECK_AAD, CHECK_PLAINTEXT)?;
                backend.apply(&[Write::Put(Table::Meta, META_CHECK.to_vec(), check)])?;
            }
            None => {
                return Err(Error::Corrupt {
                    what: "master key check".into(),
                })
            }
        }
        let start = if fresh {
            Start::Created
        } else if found_schema == SCHEMA_V1 {
            Start::Migrate
        } else {
            Start::Existing
        };
        let (integrity, report) = integrity::open(
            backend,
            sealer.integrity_key(),
            dir,
            start,
            (META_SCHEMA, SCHEMA_VERSION.to_be_bytes().to_vec()),
            checks,
        )?;
        let integrity = Arc::new(integrity);
        let high_water = integrity
            .get(Table::Meta, META_TIME)?
            .map_or(0, |v| parse_time(&v));
        // Outside every other wrapper, so a whole-store backup copies what was acknowledged.
        let gate = Arc::new(gate::Gate::new(integrity.clone()));
        let storage = Self {
            backend: gate.clone(),
            gate,
            integrity,
            sealer,
            dir: dir.map(Path::to_path_buf),
            defer_flush,
        };
        Ok((storage, high_water, report))
    }

    /// The integrity wrapper over the backend, for `store verify` and `store repair`.
    pub(crate) fn integrity(&self) -> &IntegrityBackend {
        &self.integrity
    }

    /// The data directory, for a store that has one.
    pub(crate) fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The backend.
    pub(crate) fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    /// Reads and decodes a record.
    pub(crate) fn get_as<T: DeserializeOwned>(
        &self,
        table: Table,
        key: &[u8],
        what: &str,
    ) -> Result<Option<T>> {
        self.backend
            .get(table, key)?
            .map(|v| decode(what, &v))
            .transpose()
    }

    /// Hands the records of `table` in `range` to `each`, in key order, a bounded batch at a
    /// time, until the range ends or `each` returns `false`. The cursor moves past each
    /// batch, so `each` may remove what it was given.
    pub(crate) fn scan_batches(
        &self,
        table: Table,
        mut range: KeyRange,
        mut each: impl FnMut(Rows) -> Result<bool>,
    ) -> Result<()> {
        loop {
            let batch = self.backend.scan(table, &range, SCAN_BATCH)?;
            let Some((last, _)) = batch.last() else {
                return Ok(());
            };
            range.start = std::ops::Bound::Excluded(last.clone());
            if !each(batch)? {
                return Ok(());
            }
        }
    }

    /// Runs `work` as one transaction (see the module docs) and returns what it returned.
    pub(crate) fn transact<T>(&self, mut work: impl FnMut(&mut dyn Txn) -> Result<T>) -> Result<T> {
        let mut out = None;
        self.backend.transact(&mut |tx| {
            out = Some(work(tx)?);
            Ok(())
        })?;
        out.ok_or_else(|| Error::Storage("a transaction committed without a result".into()))
    }

    /// Makes changes durable before a call returns, recording the clock's high-water mark
    /// with them (skipped when the store defers flushes).
    /// Returns the mark as stored, which another process sharing the store may have
    /// moved further.
    pub(crate) fn commit(&self, high_water: UnixTime) -> Result<UnixTime> {
        if self.defer_flush {
            return Ok(high_water);
        }
        self.flush_now(high_water)
    }

    /// Flushes now, whatever the flush policy. The stored mark only moves forward, so time
    /// never runs backwards across processes that share the store.
    pub(crate) fn flush_now(&self, high_water: UnixTime) -> Result<UnixTime> {
        let mark = self.transact(|tx| {
            let stored = tx
                .get(Table::Meta, META_TIME)?
                .map_or(0, |v| parse_time(&v));
            let mark = stored.max(high_water);
            if mark != stored {
                tx.put(Table::Meta, META_TIME, &mark.to_be_bytes())?;
            }
            Ok(mark)
        })?;
        self.backend.flush()?;
        Ok(mark)
    }

    /// The clock's high-water mark as stored (another process may have moved it).
    pub(crate) fn stored_high_water(&self) -> Result<UnixTime> {
        Ok(self
            .backend
            .get(Table::Meta, META_TIME)?
            .map_or(0, |v| parse_time(&v)))
    }

    /// Seals a secret for storage, bound to `aad`.
    pub(crate) fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        self.sealer.seal(Purpose::Record, aad, plaintext)
    }

    /// Opens what [`Storage::seal`] sealed with the same `aad`.
    pub(crate) fn unseal(&self, aad: &[u8], sealed: &[u8]) -> Option<SecretBytes> {
        self.sealer.open(Purpose::Record, aad, sealed)
    }

    /// Seals a backup blob's payload.
    pub(crate) fn seal_backup(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        self.sealer.seal(Purpose::Backup, aad, plaintext)
    }

    /// Opens a backup blob's payload.
    pub(crate) fn unseal_backup(&self, aad: &[u8], sealed: &[u8]) -> Option<SecretBytes> {
        self.sealer.open(Purpose::Backup, aad, sealed)
    }

    /// A sealed copy of every record of the store, as of one moment (see `store::gate`).
    pub(crate) fn backup(&self) -> Result<Vec<u8>> {
        let salt = self.backend.get(Table::Meta, META_SALT)?;
        self.gate
            .backup(&self.sealer, SCHEMA_VERSION, salt.as_deref())
    }

    /// Restores the backup `file` into the data directory `dir` (see `store::gate`): the
    /// whole file is checked under the master key from `source` before anything is written,
    /// the store is rebuilt through this storage stack beside the target and checked by a
    /// second open, and only then moved into place, replacing a store there only with
    /// `force`. `check` is asked at each [`RestoreStep`] and may refuse.
    pub(crate) fn restore(
        dir: &Path,
        file: &[u8],
        source: MasterKeySource,
        force: bool,
        check: &mut dyn FnMut(RestoreStep<'_>) -> Result<()>,
    ) -> Result<RestoreReport> {
        let header = gate::Header::read(file, SCHEMA_VERSION)?;
        let master = gate::restore_key(source, dir, &header)?;
        let image = gate::Image::open(&Sealer::new(&master)?, &header, file)?;
        let high_water = image
            .meta(META_TIME)
            .and_then(|v| <[u8; 8]>::try_from(v).ok())
            .map_or(0, u64::from_be_bytes);
        check(RestoreStep::Checked)?;
        let target = gate::Target::prepare(dir, force)?;
        let open = |d: &Path| {
            let backend = Arc::new(SledBackend::open(d)?);
            Self::open(
                backend,
                MasterKeySource::Bytes(master.duplicate()),
                Some(d),
                false,
            )
        };
        let (staging, _) = open(target.staging())?;
        let mut report = image.write_to(staging.backend())?;
        staging.flush_now(high_water)?;
        drop(staging);
        drop(open(target.staging())?);
        check(RestoreStep::Built {
            staging: target.staging(),
            key: &master,
        })?;
        report.replaced = target.swap()?;
        Ok(report)
    }
}

/// The refusal for a data directory whose anchor outlived its database.
fn database_lost(dir: &Path) -> Error {
    Error::StoreIntegrity {
        dir: dir.display().to_string(),
        problem: IntegrityProblem::DatabaseLost {
            anchored: integrity::anchored_counter_unchecked(dir).unwrap_or(0),
        },
    }
}

/// Refuses, before the engine opens (and so creates) anything, a data directory whose
/// anchor shows a store but whose database is missing or empty.
pub(crate) fn refuse_lost_database(dir: &Path) -> Result<()> {
    if !integrity::has_anchor(dir) {
        return Ok(());
    }
    let file = dir.join(DB_DIR).join("db");
    if std::fs::metadata(file).map_or(true, |m| m.len() == 0) {
        return Err(database_lost(dir));
    }
    Ok(())
}
