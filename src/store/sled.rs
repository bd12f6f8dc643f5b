//! The embedded default backend: a sled database in `DIR/db/`, one tree per [`Table`].
//! The only module that names sled; its errors become [`Error`]s here.

use std::cell::RefCell;
use std::path::Path;

use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use sled::Transactional;

use super::seam::{Backend, KeyRange, Rows, Table, Txn, Write};
use crate::error::{Error, Result};

/// A sled database holding every table of a store.
pub struct SledBackend {
    location: String,
    db: sled::Db,
    /// One tree per table, in [`Table::ALL`] order.
    trees: Vec<sled::Tree>,
}

impl std::fmt::Debug for SledBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledBackend")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

fn storage(e: sled::Error) -> Error {
    Error::Storage(e.to_string())
}

fn is_lock_error(io: &std::io::Error) -> bool {
    io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock")
}

/// The database's directory inside the data directory.
pub(crate) const DB_DIR: &str = "db";

impl SledBackend {
    /// Opens (or creates) the data directory `dir` (mode 0700) and the database in
    /// `dir/db`. Fails with [`Error::StoreLocked`] when
    /// another process holds it.
    ///
    /// sled releases its lock from background threads a moment after the last handle of a
    /// previous open is dropped, so a close followed at once by an open is retried briefly;
    /// another process holding the store still fails after the retries.
    pub fn open(dir: &Path) -> Result<Self> {
        let location = dir.display().to_string();
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            // The directory holds the master key file: keep it to its owner.
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        let path = dir.join(DB_DIR);
        let mut attempt = 0;
        let db = loop {
            match sled::Config::new().path(&path).open() {
                Err(sled::Error::Io(io)) if is_lock_error(&io) => {
                    if attempt == 20 {
                        return Err(Error::StoreLocked { dir: location });
                    }
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => break other.map_err(storage)?,
            }
        };
        let trees = Table::ALL
            .iter()
            .map(|t| db.open_tree(t.name()))
            .collect::<std::result::Result<_, _>>()
            .map_err(storage)?;
        Ok(Self {
            location,
            db,
            trees,
        })
    }

    fn tree(&self, table: Table) -> &sled::Tree {
        &self.trees[table.index()]
    }
}

/// A transaction's view of every tree. A read conflict is remembered so that the whole
/// transaction is retried rather than aborted with a storage error.
struct SledTxn<'a> {
    trees: &'a [TransactionalTree],
    conflict: bool,
}

impl SledTxn<'_> {
    fn check<T>(&mut self, r: std::result::Result<T, UnabortableTransactionError>) -> Result<T> {
        r.map_err(|e| match e {
            UnabortableTransactionError::Conflict => {
                self.conflict = true;
                Error::Storage("transaction conflict".into())
            }
            UnabortableTransactionError::Storage(e) => storage(e),
        })
    }
}

impl Txn for SledTxn<'_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let r = self.trees[table.index()].get(key);
        Ok(self.check(r)?.map(|v| v.to_vec()))
    }

    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        let r = self.trees[table.index()].insert(key, value);
        self.check(r).map(drop)
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<()> {
        let r = self.trees[table.index()].remove(key);
        self.check(r).map(drop)
    }
}

impl Backend for SledBackend {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .tree(table)
            .get(key)
            .map_err(storage)?
            .map(|v| v.to_vec()))
    }

    fn scan(&self, table: Table, range: &KeyRange, limit: usize) -> Result<Rows> {
        self.tree(table)
            .range((range.start.clone(), range.end.clone()))
            .take(limit)
            .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(storage))
            .collect()
    }

    fn transact(&self, work: &mut dyn FnMut(&mut dyn Txn) -> Result<()>) -> Result<()> {
        // sled's closure is `Fn`; the work runs once per attempt, never reentrantly.
        let work = RefCell::new(work);
        let result = self.trees.as_slice().transaction(|trees| {
            let mut txn = SledTxn {
                trees,
                conflict: false,
            };
            let outcome = (work.borrow_mut())(&mut txn);
            match outcome {
                _ if txn.conflict => Err(ConflictableTransactionError::Conflict),
                Ok(()) => Ok(()),
                Err(e) => Err(ConflictableTransactionError::Abort(e)),
            }
        });
        result.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => storage(e),
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
            return self.transact(&mut |tx| {
                for w in writes {
                    match w {
                        Write::Put(t, k, v) => tx.put(*t, k, v)?,
                        Write::Delete(t, k) => tx.delete(*t, k)?,
                    }
                }
                Ok(())
            });
        };
        let mut batch = sled::Batch::default();
        for w in writes {
            match w {
                Write::Put(_, k, v) => batch.insert(k.as_slice(), v.as_slice()),
                Write::Delete(_, k) => batch.remove(k.as_slice()),
            }
        }
        self.tree(table).apply_batch(batch).map_err(storage)
    }

    fn flush(&self) -> Result<()> {
        self.db.flush().map(drop).map_err(storage)
    }

    fn next_id(&self) -> Result<u64> {
        self.db.generate_id().map_err(storage)
    }
}
