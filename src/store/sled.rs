//! The embedded default backend: a sled database in `DIR/db/`, one tree per [`Table`].
//! The only module that names sled; its errors become [`Error`]s here, in sentences (sled's
//! own texts can carry `Debug` forms, and it re-wraps an I/O error as one).
//!
//! # A full disk
//!
//! sled 0.34 writes its log from background threads, and latches the first I/O error there:
//! from then on every write and flush of that database fails with a clone of it, until the
//! database is opened again. Reads go on from its cache. So:
//! - A write is refused up front with [`Error::DiskFull`] while the file system holding the
//!   database has less free space than a reserve (8 MiB, or [`RESERVE_ENV`] MiB; `0` turns
//!   the check off). sled then never runs out mid-write: nothing of a refused write reaches
//!   the database, and its state stays clean for reads and key operations. Writes to `meta`
//!   alone are not checked: they complete the commit of a change that passed the check (the
//!   clock's mark before the flush), so a change is never refused after it is in.
//! - When sled does latch an error (another process took the space between the check and
//!   the write, or the disk failed), these handles are marked failed: writes fail at once,
//!   reads keep using them. The first write once there is room again drops them and opens
//!   the database anew. What sled had not flushed goes with the old handles; that is never
//!   an acknowledged change, since the store flushes before it acknowledges.
//! - A write made on handles that have since been dropped must not be acknowledged by a
//!   flush on the new ones: each thread remembers the generation of its oldest write that no
//!   flush has covered, and its next flush fails if the database was reopened since. (A
//!   call runs on one thread from its write to its flush. Writes to the access log, which
//!   the call that writes them never flushes, and to `meta` alone, which holds nothing a
//!   caller is told of, are not counted. A write that fails on failed handles ends the
//!   call with an error, so it forgets the thread's earlier ones: they are lost with the
//!   handles, and were never acknowledged.)
//! - [`Backend::reopens`] counts the reopens, for a wrapper that keeps in memory what the
//!   database holds.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use sled::Transactional;

use super::seam::{Backend, KeyRange, Rows, Table, Txn, Write};
use crate::error::{io_sentence, is_disk_full, Error, Result};

/// The database's directory inside the data directory.
pub(crate) const DB_DIR: &str = "db";

/// The variable that sets the free space, in MiB, below which writes are refused.
pub(crate) const RESERVE_ENV: &str = "LOCALHSM_DISK_RESERVE_MIB";
/// The reserve without [`RESERVE_ENV`]: more than sled's write buffers and a snapshot of
/// its page table need, a rounding error on any disk.
const DEFAULT_RESERVE_MIB: u64 = 8;
/// Free space a reopen waits for, whatever the reserve: sled writes a snapshot as it opens.
const REOPEN_SPACE: u64 = 1 << 20;
/// How long after a failed reopen the next one is tried.
const REOPEN_RETRY: Duration = Duration::from_secs(1);

/// A sled database holding every table of a store.
pub struct SledBackend {
    location: String,
    /// `DIR/db`.
    path: PathBuf,
    /// Free bytes below which writes are refused (0: never).
    reserve: u64,
    /// Tells this backend's entries in [`UNFLUSHED`] from another's.
    id: u64,
    state: RwLock<State>,
    /// When a reopen last failed, so a closed database is not reopened on every call.
    failed_reopen: Mutex<Option<Instant>>,
    /// The free space the tests pretend the file system has.
    #[cfg(test)]
    fake_free: Mutex<Option<u64>>,
}

/// The open database, and what became of earlier ones.
struct State {
    /// `None` once failed handles were dropped and the reopen failed too.
    handles: Option<Handles>,
    /// How many databases were dropped: a write made before a drop is lost.
    generation: u64,
    /// Why the last handles were dropped, or why none could be opened since.
    failure: Option<Failure>,
}

/// One open of the database.
struct Handles {
    db: sled::Db,
    /// One tree per table, in [`Table::ALL`] order.
    trees: Vec<sled::Tree>,
    /// Set when these handles hit an I/O error, which sled latches: their writes fail.
    failed: OnceLock<Failure>,
}

/// An I/O failure of the database, kept to answer later calls with.
#[derive(Debug, Clone)]
enum Failure {
    /// No space left on the file system (or the user's quota is spent).
    Full,
    /// Another I/O error, in words.
    Io(String),
    /// Opening the database again failed, for this reason.
    Reopen(String),
}

impl Failure {
    /// Why a reopen failed.
    fn of_reopen(e: &Error) -> Self {
        match e {
            Error::DiskFull { .. } => Failure::Full,
            Error::Storage(why) => Failure::Reopen(why.clone()),
            other => Failure::Reopen(other.to_string()),
        }
    }

    fn error(&self, location: &str) -> Error {
        match self {
            Failure::Full => Error::DiskFull {
                dir: Some(location.to_string()),
            },
            Failure::Io(what) => Error::Storage(format!(
                "the database in {location} could not be written ({what}); writes resume once \
                 it can be opened again"
            )),
            Failure::Reopen(why) => Error::Storage(format!(
                "the database in {location} could not be opened again after an I/O error, and \
                 is tried again on later calls: {why}"
            )),
        }
    }
}

impl std::fmt::Debug for SledBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledBackend")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// A sled error in the store's words. I/O errors keep their meaning (a full disk is
/// [`Error::DiskFull`]); the rest say what failed without sled's internals.
fn engine_error(location: &str, e: sled::Error) -> Error {
    match e {
        sled::Error::Io(io) if is_disk_full(&io) => Failure::Full.error(location),
        sled::Error::Io(io) => Error::Storage(format!(
            "the database in {location} could not be read or written: {}",
            io_sentence(&io)
        )),
        sled::Error::Corruption { .. } => Error::Storage(format!(
            "the database file in {location} is damaged; restore the data directory from a \
             backup"
        )),
        sled::Error::CollectionNotFound(_) => {
            Error::Storage(format!("a table of the database in {location} is missing"))
        }
        _ => Error::Storage(format!(
            "the database engine failed unexpectedly on the store in {location}"
        )),
    }
}

fn is_lock_error(io: &std::io::Error) -> bool {
    io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock")
}

/// The reserve in bytes, from the value of [`RESERVE_ENV`] if it is set.
fn reserve(setting: Option<&str>) -> Result<u64> {
    let Some(text) = setting else {
        return Ok(DEFAULT_RESERVE_MIB << 20);
    };
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|mib| *mib <= 1 << 30)
        .map(|mib| mib << 20)
        .ok_or_else(|| {
            Error::bad_parameter(format!(
                "{RESERVE_ENV} must be a whole number of MiB (0 turns the free-space check off), \
                 not {text:?}"
            ))
        })
}

thread_local! {
    /// Per backend (by id): the generation of this thread's oldest write that no flush has
    /// covered yet.
    static UNFLUSHED: RefCell<Vec<(u64, u64)>> = const { RefCell::new(Vec::new()) };
}

/// Whether a write to `table` is one a flush acknowledges to a caller: not the access log
/// (written after the call is answered, never flushed by it) nor `meta` (the clock's mark,
/// written before every flush, and records that change only with other tables).
fn counts(table: Table) -> bool {
    !matches!(table, Table::AccessLog | Table::Meta)
}

/// Remembers a write of this thread on `backend`'s database of `generation`.
fn note_write(backend: u64, generation: u64) {
    UNFLUSHED.with(|u| {
        let mut u = u.borrow_mut();
        if !u.iter().any(|(b, _)| *b == backend) {
            u.push((backend, generation));
        }
    });
}

/// The generation of this thread's oldest unflushed write on `backend`, forgotten.
fn take_unflushed(backend: u64) -> Option<u64> {
    UNFLUSHED.with(|u| {
        let mut u = u.borrow_mut();
        let i = u.iter().position(|(b, _)| *b == backend)?;
        Some(u.swap_remove(i).1)
    })
}

impl SledBackend {
    /// Opens (or creates) the data directory `dir` (mode 0700) and the database in
    /// `dir/db`. Fails with [`Error::StoreLocked`] when
    /// another process holds it.
    ///
    /// sled releases its lock from background threads a moment after the last handle of a
    /// previous open is dropped, so a close followed at once by an open is retried briefly;
    /// another process holding the store still fails after the retries.
    pub fn open(dir: &Path) -> Result<Self> {
        static IDS: AtomicU64 = AtomicU64::new(0);
        let location = dir.display().to_string();
        let reserve = reserve(std::env::var(RESERVE_ENV).ok().as_deref())?;
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            // The directory holds the master key file: keep it to its owner.
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        let path = dir.join(DB_DIR);
        let handles = open_handles(&path, &location)?;
        Ok(Self {
            location,
            path,
            reserve,
            id: IDS.fetch_add(1, Ordering::Relaxed),
            state: RwLock::new(State {
                handles: Some(handles),
                generation: 0,
                failure: None,
            }),
            failed_reopen: Mutex::new(None),
            #[cfg(test)]
            fake_free: Mutex::new(None),
        })
    }

    fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Free bytes on the database's file system, when the system says.
    fn free_space(&self) -> Option<u64> {
        #[cfg(test)]
        if let Some(free) = *self.fake_free.lock().unwrap_or_else(|p| p.into_inner()) {
            return Some(free);
        }
        fs2::available_space(&self.path).ok()
    }

    /// Refuses a write while free space is below the reserve. When the system cannot say,
    /// the write goes ahead: sled's own error would stop it.
    fn check_space(&self) -> Result<()> {
        match self.free_space() {
            Some(free) if free < self.reserve => Err(Failure::Full.error(&self.location)),
            _ => Ok(()),
        }
    }

    /// The error for a call that finds no usable database.
    fn unavailable(&self, state: &State) -> Error {
        state
            .failure
            .as_ref()
            .unwrap_or(&Failure::Io("it is not open".into()))
            .error(&self.location)
    }

    /// Drops failed handles (or none) and opens the database anew, once the file system has
    /// room for it. Returns at once when the handles are sound.
    fn heal(&self) {
        let sound = |s: &State| s.handles.as_ref().is_some_and(|h| h.failed.get().is_none());
        if sound(&self.state()) {
            return;
        }
        if self
            .free_space()
            .is_some_and(|free| free < self.reserve.max(REOPEN_SPACE))
        {
            return;
        }
        let mut failed_reopen = self.failed_reopen.lock().unwrap_or_else(|p| p.into_inner());
        if failed_reopen.is_some_and(|at| at.elapsed() < REOPEN_RETRY) {
            return;
        }
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        if sound(&state) {
            return;
        }
        if let Some(old) = state.handles.take() {
            state.failure = old.failed.get().cloned();
            state.generation += 1;
            drop_quietly(old);
        }
        match open_handles(&self.path, &self.location) {
            Ok(handles) => {
                state.handles = Some(handles);
                *failed_reopen = None;
                tracing::warn!(
                    dir = %self.location,
                    "the database was opened again after a write error; writes go on"
                );
            }
            Err(e) => {
                state.failure = Some(Failure::of_reopen(&e));
                *failed_reopen = Some(Instant::now());
                tracing::error!(error = %e, "the database cannot be opened again yet");
            }
        }
    }

    /// Runs a read on the open handles. A read that fails on handles that have failed is
    /// tried once more after a reopen, when there is room for one.
    fn read<T>(&self, op: impl Fn(&Handles) -> Result<T>) -> Result<T> {
        let first = {
            let state = self.state();
            match &state.handles {
                Some(h) => match op(h) {
                    Ok(v) => return Ok(v),
                    Err(e) if h.failed.get().is_none() => return Err(e),
                    Err(e) => e,
                },
                None => self.unavailable(&state),
            }
        };
        self.heal();
        let state = self.state();
        match &state.handles {
            Some(h) if h.failed.get().is_none() => op(h),
            _ => Err(first),
        }
    }

    /// Runs a write on sound handles, after the free-space check. `op` gets the handles'
    /// generation.
    fn write<T>(&self, op: impl FnOnce(&Handles, u64) -> Result<T>) -> Result<T> {
        self.on_sound(|h, generation| {
            self.check_space()?;
            op(h, generation)
        })
    }

    /// Runs `op` on sound handles (reopened first if they failed and there is room), with
    /// their generation.
    fn on_sound<T>(&self, op: impl FnOnce(&Handles, u64) -> Result<T>) -> Result<T> {
        self.heal();
        let state = self.state();
        let result = match &state.handles {
            None => Err(self.unavailable(&state)),
            Some(h) => match h.failed.get() {
                Some(f) => Err(f.error(&self.location)),
                None => op(h, state.generation),
            },
        };
        if result.is_err()
            && state
                .handles
                .as_ref()
                .is_none_or(|h| h.failed.get().is_some())
        {
            // This thread's unflushed writes are on handles that can no longer flush them,
            // and the call that made them ends with this error: no later flush of this
            // thread is theirs to answer for (they are lost with the handles, unacknowledged).
            let _ = take_unflushed(self.id);
        }
        result
    }

    /// Marks the handles failed, as sled's latched error does.
    #[cfg(test)]
    fn fail_for_test(&self, failure: Failure) {
        if let Some(h) = &self.state().handles {
            let _ = h.failed.set(failure);
        }
    }
}

impl Drop for SledBackend {
    fn drop(&mut self) {
        let _ = take_unflushed(self.id);
    }
}

/// Opens the database at `path`, retrying briefly while a previous open's lock is released.
fn open_handles(path: &Path, location: &str) -> Result<Handles> {
    let mut attempt = 0;
    let db = loop {
        match sled::Config::new().path(path).open() {
            Err(sled::Error::Io(io)) if is_lock_error(&io) => {
                if attempt == 20 {
                    return Err(Error::StoreLocked {
                        dir: location.to_string(),
                    });
                }
                attempt += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            // Damage found while recovering the log: refused as damaged, never served.
            Err(sled::Error::Corruption { .. }) => {
                return Err(Error::StoreIntegrity {
                    dir: location.to_string(),
                    problem: crate::error::IntegrityProblem::Damaged(
                        "the database engine found damage in db/ as it opened".into(),
                    ),
                })
            }
            other => break other.map_err(|e| engine_error(location, e))?,
        }
    };
    let trees = Table::ALL
        .iter()
        .map(|t| db.open_tree(t.name()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| engine_error(location, e))?;
    Ok(Handles {
        db,
        trees,
        failed: OnceLock::new(),
    })
}

/// Drops a database's handles. sled flushes and syncs a database that has not failed as its
/// last handle goes, and panics if the sync fails: that must not take the caller down.
fn drop_quietly(handles: Handles) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(handles)));
}

impl Handles {
    fn tree(&self, table: Table) -> &sled::Tree {
        &self.trees[table.index()]
    }

    /// A sled error in the store's words; an I/O error also marks these handles failed,
    /// since sled has latched it (or a read found the disk failing).
    fn fail(&self, location: &str, e: sled::Error) -> Error {
        if let sled::Error::Io(io) = &e {
            let failure = if is_disk_full(io) {
                Failure::Full
            } else {
                Failure::Io(io_sentence(io))
            };
            if self.failed.set(failure).is_ok() {
                tracing::error!(
                    dir = %location,
                    error = %io_sentence(io),
                    "the database hit an I/O error: writes are refused until it can be opened \
                     again, reads go on"
                );
            }
        }
        engine_error(location, e)
    }
}

/// A transaction's view of every tree. A read conflict is remembered so that the whole
/// transaction is retried rather than aborted with a storage error.
struct SledTxn<'a> {
    trees: &'a [TransactionalTree],
    handles: &'a Handles,
    location: &'a str,
    conflict: bool,
    /// Set when the transaction writes a table other than `meta`: such a write waits for
    /// the free-space check. `meta` alone (the clock's mark written as a change commits,
    /// a wrapper's record of it) is part of committing what already passed it.
    grows: bool,
    /// Set when the transaction writes a table that [`counts`] as an acknowledged write.
    wrote: &'a Cell<bool>,
}

impl SledTxn<'_> {
    fn check<T>(&mut self, r: std::result::Result<T, UnabortableTransactionError>) -> Result<T> {
        r.map_err(|e| match e {
            UnabortableTransactionError::Conflict => {
                self.conflict = true;
                Error::Storage("transaction conflict".into())
            }
            UnabortableTransactionError::Storage(e) => self.handles.fail(self.location, e),
        })
    }

    fn wrote(&mut self, table: Table) {
        self.grows |= table != Table::Meta;
        if counts(table) {
            self.wrote.set(true);
        }
    }
}

impl Txn for SledTxn<'_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let r = self.trees[table.index()].get(key);
        Ok(self.check(r)?.map(|v| v.to_vec()))
    }

    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        self.wrote(table);
        let r = self.trees[table.index()].insert(key, value);
        self.check(r).map(drop)
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<()> {
        self.wrote(table);
        let r = self.trees[table.index()].remove(key);
        self.check(r).map(drop)
    }
}

impl Backend for SledBackend {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.read(|h| {
            Ok(h.tree(table)
                .get(key)
                .map_err(|e| h.fail(&self.location, e))?
                .map(|v| v.to_vec()))
        })
    }

    fn scan(&self, table: Table, range: &KeyRange, limit: usize) -> Result<Rows> {
        self.read(|h| {
            h.tree(table)
                .range((range.start.clone(), range.end.clone()))
                .take(limit)
                .map(|item| {
                    item.map(|(k, v)| (k.to_vec(), v.to_vec()))
                        .map_err(|e| h.fail(&self.location, e))
                })
                .collect()
        })
    }

    fn transact(&self, work: &mut dyn FnMut(&mut dyn Txn) -> Result<()>) -> Result<()> {
        // The free space is checked as the transaction is about to commit, and only if it
        // writes more than `meta`: one that only reads (and finds, say, that a vault
        // exists) goes on, and so does the commit of a change that already passed it.
        self.on_sound(|h, generation| {
            // sled's closure is `Fn`; the work runs once per attempt, never reentrantly.
            let work = RefCell::new(work);
            let wrote = Cell::new(false);
            let result = h.trees.as_slice().transaction(|trees| {
                wrote.set(false);
                let mut txn = SledTxn {
                    trees,
                    handles: h,
                    location: &self.location,
                    conflict: false,
                    grows: false,
                    wrote: &wrote,
                };
                let outcome = (work.borrow_mut())(&mut txn);
                match outcome {
                    _ if txn.conflict => Err(ConflictableTransactionError::Conflict),
                    Ok(()) if txn.grows => self
                        .check_space()
                        .map_err(ConflictableTransactionError::Abort),
                    Ok(()) => Ok(()),
                    Err(e) => Err(ConflictableTransactionError::Abort(e)),
                }
            });
            result.map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => h.fail(&self.location, e),
            })?;
            if wrote.get() {
                note_write(self.id, generation);
            }
            Ok(())
        })
    }

    fn apply(&self, writes: &[Write]) -> Result<()> {
        let table_of = |w: &Write| match w {
            Write::Put(t, ..) | Write::Delete(t, _) => *t,
        };
        let single = writes
            .first()
            .map(table_of)
            .filter(|t| writes.iter().all(|w| table_of(w) == *t));
        let Some(table) = single else {
            if writes.is_empty() {
                return Ok(());
            }
            return self.transact(&mut |tx| Write::all_in(writes, tx));
        };
        let mut batch = sled::Batch::default();
        for w in writes {
            match w {
                Write::Put(_, k, v) => batch.insert(k.as_slice(), v.as_slice()),
                Write::Delete(_, k) => batch.remove(k.as_slice()),
            }
        }
        self.on_sound(|h, generation| {
            if table != Table::Meta {
                self.check_space()?;
            }
            h.tree(table)
                .apply_batch(batch)
                .map_err(|e| h.fail(&self.location, e))?;
            if counts(table) {
                note_write(self.id, generation);
            }
            Ok(())
        })
    }

    fn flush(&self) -> Result<()> {
        let oldest = take_unflushed(self.id);
        let state = self.state();
        if oldest.is_some_and(|g| g != state.generation) {
            // This thread's write went to handles dropped since, unflushed: it is lost.
            return Err(self.unavailable(&state));
        }
        let Some(h) = &state.handles else {
            return Err(self.unavailable(&state));
        };
        if let Some(f) = h.failed.get() {
            return Err(f.error(&self.location));
        }
        h.db.flush()
            .map(drop)
            .map_err(|e| h.fail(&self.location, e))
    }

    fn next_id(&self) -> Result<u64> {
        self.write(|h, _| h.db.generate_id().map_err(|e| h.fail(&self.location, e)))
    }

    fn reopens(&self) -> u64 {
        self.state().generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Vec<u8> {
        vec![b'k', n]
    }

    fn put(b: &SledBackend, n: u8) -> Result<()> {
        b.apply(&[Write::Put(Table::Vaults, key(n), vec![n])])
    }

    fn has(b: &SledBackend, n: u8) -> bool {
        b.get(Table::Vaults, &key(n)).unwrap() == Some(vec![n])
    }

    fn set_free(b: &SledBackend, free: Option<u64>) {
        *b.fake_free.lock().unwrap() = free;
    }

    fn disk_full(r: Result<()>) -> bool {
        matches!(r, Err(Error::DiskFull { dir: Some(_) }))
    }

    #[test]
    fn writes_below_the_reserve_are_refused_and_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = SledBackend::open(dir.path()).unwrap();
        b.reserve = 8 << 20;
        put(&b, 1).unwrap();
        b.flush().unwrap();
        set_free(&b, Some(b.reserve - 1));
        assert!(disk_full(put(&b, 2)));
        assert!(disk_full(b.transact(&mut |tx| tx.put(
            Table::Vaults,
            &key(3),
            &[3]
        ))));
        // A transaction that only reads is no write; the commit of a change (`meta` alone)
        // is not refused once the change is in.
        b.transact(&mut |tx| tx.get(Table::Vaults, &key(1)).map(drop))
            .unwrap();
        b.apply(&[Write::Put(Table::Meta, key(7), vec![7])])
            .unwrap();
        b.transact(&mut |tx| tx.put(Table::Meta, &key(8), &[8]))
            .unwrap();
        assert!(matches!(b.next_id(), Err(Error::DiskFull { .. })));
        let message = put(&b, 2).unwrap_err().to_string();
        assert!(
            message.contains(&format!(
                "the data directory {} is full",
                dir.path().display()
            )),
            "{message}"
        );
        // Reads, and a flush of what was acknowledged, go on.
        assert!(has(&b, 1) && !has(&b, 2) && !has(&b, 3));
        b.flush().unwrap();
        set_free(&b, None);
        put(&b, 2).unwrap();
        b.flush().unwrap();
        drop(b);
        let b = SledBackend::open(dir.path()).unwrap();
        assert!(has(&b, 1) && has(&b, 2) && !has(&b, 3));
    }

    #[test]
    fn failed_handles_serve_reads_and_are_replaced_once_there_is_room() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = SledBackend::open(dir.path()).unwrap();
        // No reserve: the failed handles, not the free-space check, refuse the writes.
        b.reserve = 0;
        put(&b, 1).unwrap();
        b.flush().unwrap();
        b.fail_for_test(Failure::Full);
        // No room for a reopen: writes and flushes fail, reads go on.
        set_free(&b, Some(REOPEN_SPACE - 1));
        assert!(disk_full(put(&b, 2)));
        assert!(disk_full(b.flush()));
        assert!(has(&b, 1));
        assert_eq!(b.state().generation, 0);
        // Room again: the next write reopens the database and goes through.
        set_free(&b, None);
        put(&b, 2).unwrap();
        b.flush().unwrap();
        assert_eq!(b.state().generation, 1);
        assert!(has(&b, 1) && has(&b, 2));
        // Another I/O error is reported in words, and heals the same way.
        b.fail_for_test(Failure::Io("Input/output error (os error 5)".into()));
        let e = b.flush().unwrap_err().to_string();
        assert!(
            e.contains("could not be written (Input/output error"),
            "{e}"
        );
        put(&b, 3).unwrap();
        b.flush().unwrap();
        assert!(has(&b, 3));
    }

    #[test]
    fn a_write_on_dropped_handles_is_not_acknowledged_by_a_later_flush() {
        let dir = tempfile::tempdir().unwrap();
        let b = std::sync::Arc::new(SledBackend::open(dir.path()).unwrap());
        // Another thread writes, then waits to flush while this one reopens the database.
        let (wrote_tx, wrote_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let other = {
            let b = b.clone();
            std::thread::spawn(move || {
                put(&b, 1).unwrap();
                wrote_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                // The store writes the clock's mark just before it flushes: that new write
                // must not hide the old one.
                put(&b, 9).unwrap();
                b.flush()
            })
        };
        wrote_rx.recv().unwrap();
        b.fail_for_test(Failure::Full);
        put(&b, 2).unwrap();
        go_tx.send(()).unwrap();
        assert!(disk_full(other.join().unwrap()));
        // This thread's own write went to the new handles: its flush acknowledges it.
        b.flush().unwrap();
        assert_eq!(b.reopens(), 1);
        // An access-log record (with a `meta` record in the same transaction, as a wrapper
        // may add) is not a write a flush acknowledges.
        b.apply(&[
            Write::Put(Table::AccessLog, key(4), vec![4]),
            Write::Put(Table::Meta, key(4), vec![4]),
        ])
        .unwrap();
        b.fail_for_test(Failure::Full);
        put(&b, 5).unwrap();
        b.flush().unwrap();
        assert_eq!(b.reopens(), 2);
        // A call whose write went in, and whose commit then failed on failed handles, ended
        // with that error: the next call on this thread, after a reopen, is not refused.
        put(&b, 6).unwrap();
        b.fail_for_test(Failure::Full);
        set_free(&b, Some(0));
        assert!(disk_full(b.apply(&[Write::Put(
            Table::Meta,
            key(6),
            vec![6]
        )])));
        set_free(&b, None);
        put(&b, 7).unwrap();
        b.flush().unwrap();
        assert_eq!(b.reopens(), 3);
        assert!(has(&b, 7));
    }

    #[test]
    fn the_reserve_is_whole_mib() {
        assert_eq!(reserve(None).unwrap(), 8 << 20);
        assert_eq!(reserve(Some("0")).unwrap(), 0);
        assert_eq!(reserve(Some(" 64 ")).unwrap(), 64 << 20);
        for bad in ["", "-1", "1.5", "8M", "99999999999"] {
            let e = reserve(Some(bad)).unwrap_err().to_string();
            assert!(
                e.starts_with("LOCALHSM_DISK_RESERVE_MIB must be a whole number"),
                "{e}"
            );
        }
    }
}
