//! The lifecycle engine's state and primitives: the opened storage, the store's clock
//! ([`StoreTime`]), the cache of vault records, the purge queue and the deletion rules shared
//! by vaults and objects. [`super::objects`] and [`super::vaults`] build the lifecycle on it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::records::{parse_purge_entry, purge_entry, vault_id, Due, VaultRecord};
use crate::clock::{Clock, UnixTime};
use crate::error::{Error, Result};
use crate::model::{DeletionInfo, DAY};
use crate::store::{KeyRange, Storage, Table, Txn, TxnExt};

/// Time as the store sees it: the injected clock, never earlier than the latest time the
/// store has acted on. Setting the clock back therefore cannot make a purge date come early.
pub(crate) struct StoreTime {
    pub(super) clock: Arc<dyn Clock>,
    pub(super) high_water: AtomicU64,
}

impl StoreTime {
    /// The current time, never earlier than a time already returned.
    pub(crate) fn now(&self) -> UnixTime {
        let now = self.clock.now();
        let prev = self.high_water.fetch_max(now, Ordering::SeqCst);
        prev.max(now)
    }

    pub(super) fn high_water(&self) -> UnixTime {
        self.high_water.load(Ordering::SeqCst)
    }
}

/// The dates of a soft delete now, under `retention_days`.
pub(crate) fn deletion_dates(now: UnixTime, retention_days: u32) -> DeletionInfo {
    DeletionInfo {
        deleted_date: now,
        scheduled_purge_date: now.saturating_add(u64::from(retention_days) * DAY),
    }
}

/// The purge-protection rule, for objects and vaults alike: before its scheduled purge
/// date, a deleted thing may be purged only when its vault has no purge protection and the
/// purge was asked for (a sweep purges only what is due).
pub(crate) fn check_purge(
    name: &str,
    deletion: DeletionInfo,
    protected: bool,
    due_only: bool,
    now: UnixTime,
) -> Result<()> {
    if (due_only || protected) && deletion.scheduled_purge_date > now {
        return Err(Error::PurgeProtected {
            object: name.to_string(),
            scheduled_purge_date: deletion.scheduled_purge_date,
        });
    }
    Ok(())
}

/// Cached vault records, with a generation that every change bumps, so that a read that
/// raced a change cannot put an older record back into the cache.
#[derive(Default)]
pub(super) struct VaultCache {
    records: HashMap<String, Arc<VaultRecord>>,
    generation: u64,
}

/// The lifecycle engine over one opened store.
pub(crate) struct Core {
    pub(crate) storage: Storage,
    pub(crate) time: Arc<StoreTime>,
    pub(super) vaults: RwLock<VaultCache>,
    /// The earliest due date in the purge queue (`u64::MAX`: none), read without a lock on
    /// every request; written only under `due_lock`.
    pub(super) next_due: AtomicU64,
    pub(super) due_lock: Mutex<()>,
}

impl Core {
    /// The store's current time.
    pub(crate) fn now(&self) -> UnixTime {
        self.time.now()
    }

    /// Makes the changes so far durable before a call acknowledges them.
    pub(crate) fn commit(&self) -> Result<()> {
        let mark = self.storage.commit(self.time.high_water())?;
        self.time.high_water.fetch_max(mark, Ordering::SeqCst);
        Ok(())
    }

    /// Flushes now, whatever the flush policy.
    pub(crate) fn flush(&self) -> Result<()> {
        let mark = self.storage.flush_now(self.time.high_water())?;
        self.time.high_water.fetch_max(mark, Ordering::SeqCst);
        Ok(())
    }

    /// Moves the clock's high-water mark up to the stored one, which another process
    /// sharing the store moved.
    pub(crate) fn follow_high_water(&self) -> Result<()> {
        let mark = self.storage.stored_high_water()?;
        self.time.high_water.fetch_max(mark, Ordering::SeqCst);
        self.time.clock.follow(mark);
        Ok(())
    }

    /// Notes a purge-queue entry another process committed (its key), so this process
    /// sweeps when it is due too.
    pub(crate) fn follow_queue(&self, key: &[u8]) {
        if let Some((due, _, _)) = parse_purge_entry(key) {
            self.queued(due);
        }
    }

    /// Runs one storage transaction.
    pub(crate) fn transact<T>(&self, work: impl FnMut(&mut dyn Txn) -> Result<T>) -> Result<T> {
        self.storage.transact(work)
    }

    // --- vault records ------------------------------------------------------------------

    /// A vault's record, live or deleted, from the cache when it is there.
    pub(crate) fn vault_record(&self, name: &str) -> Result<Option<Arc<VaultRecord>>> {
        let key = name.to_ascii_lowercase();
        let generation = {
            let cache = self.vaults.read().unwrap_or_else(|p| p.into_inner());
            if let Some(r) = cache.records.get(&key) {
                return Ok(Some(r.clone()));
            }
            cache.generation
        };
        let record: Option<VaultRecord> =
            self.storage
                .get_as(Table::Vaults, &vault_id(&key), "vault")?;
        let record = record.map(Arc::new);
        if let Some(r) = &record {
            let mut cache = self.vaults.write().unwrap_or_else(|p| p.into_inner());
            if cache.generation == generation {
                cache.records.insert(key, r.clone());
            }
        }
        Ok(record)
    }

    /// Forgets cached vault records after a change to them has committed.
    pub(crate) fn vault_changed(&self) {
        let mut cache = self.vaults.write().unwrap_or_else(|p| p.into_inner());
        cache.records.clear();
        cache.generation += 1;
    }

    /// Inside a transaction: the vault's record, or `VaultNotFound` unless it is live.
    /// Changes that put an object in place check this atomically with their writes, so none
    /// can land after a concurrent vault delete + purge has swept the vault (the object
    /// would outlive the purge and reappear in a new vault of the same name).
    pub(crate) fn live_vault_tx(tx: &mut dyn Txn, name: &str) -> Result<VaultRecord> {
        tx.get_as::<VaultRecord>(Table::Vaults, &vault_id(name), "vault")?
            .filter(VaultRecord::is_live)
            .ok_or_else(|| Error::VaultNotFound {
                vault: name.to_string(),
            })
    }

    // --- the purge queue ----------------------------------------------------------------

    /// Inside a transaction: queues a purge. Call [`Core::queued`] after the commit.
    pub(crate) fn enqueue(tx: &mut dyn Txn, due: UnixTime, what: Due, id: &[u8]) -> Result<()> {
        tx.put(Table::PurgeQueue, &purge_entry(due, what, id), &[])
    }

    /// Inside a transaction: removes a queued purge.
    pub(crate) fn dequeue(tx: &mut dyn Txn, due: UnixTime, what: Due, id: &[u8]) -> Result<()> {
        tx.delete(Table::PurgeQueue, &purge_entry(due, what, id))
    }

    /// Notes a committed queue entry, so the next call at or after `due` sweeps.
    pub(crate) fn queued(&self, due: UnixTime) {
        let _guard = self.due_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.next_due.fetch_min(due, Ordering::SeqCst);
    }

    /// Re-reads the earliest due date. Under the lock, so an entry committed before the
    /// read is seen by it and one committed after is noted by [`Core::queued`] after it.
    pub(crate) fn reload_next_due(&self) -> Result<()> {
        let _guard = self.due_lock.lock().unwrap_or_else(|p| p.into_inner());
        let first = self
            .storage
            .backend()
            .scan(Table::PurgeQueue, &KeyRange::all(), 1)?;
        let due = first
            .first()
            .and_then(|(k, _)| parse_purge_entry(k))
            .map_or(u64::MAX, |(due, _, _)| due);
        self.next_due.store(due, Ordering::SeqCst);
        Ok(())
    }
}
