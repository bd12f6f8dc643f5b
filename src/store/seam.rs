//! The storage seam itself: the tables of a store, key ranges, and the [`Backend`] and
//! [`Txn`] traits every engine implements. The contract is in the docs of
//! [`crate::store`].

use std::ops::Bound;
use std::sync::Arc;

use crate::error::{ObjectKind, Result};

/// The tables of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// Store settings: schema version, master key check, passphrase salt, clock high-water
    /// mark.
    Meta,
    /// Vault records, by lowercase vault name.
    Vaults,
    /// Live objects of a kind, by `vault/name` (lowercase).
    Objects(ObjectKind),
    /// Soft-deleted objects of a kind, by `vault/name`.
    Deleted(ObjectKind),
    /// Object versions of a kind, by `vault/name/version`.
    Versions(ObjectKind),
    /// Due purges, by `due (u64 BE) || kind || id`.
    PurgeQueue,
    /// Role assignments, by `vault/assignment-name`.
    RoleAssignments,
    /// Access-log records, by `vault || 0 || time (u64 BE) || sequence (u64 BE)`.
    AccessLog,
    /// Certificate issuers (each a local CA), by `vault/issuer-name` (lowercase).
    Issuers,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Table; 15] = [
        Table::Meta,
        Table::Vaults,
        Table::Objects(ObjectKind::Key),
        Table::Deleted(ObjectKind::Key),
        Table::Versions(ObjectKind::Key),
        Table::Objects(ObjectKind::Secret),
        Table::Deleted(ObjectKind::Secret),
        Table::Versions(ObjectKind::Secret),
        Table::Objects(ObjectKind::Certificate),
        Table::Deleted(ObjectKind::Certificate),
        Table::Versions(ObjectKind::Certificate),
        Table::PurgeQueue,
        Table::RoleAssignments,
        Table::AccessLog,
        Table::Issuers,
    ];

    /// The table's position in [`Table::ALL`].
    pub fn index(self) -> usize {
        let kind = |k: ObjectKind| match k {
            ObjectKind::Key => 0,
            ObjectKind::Secret => 3,
            ObjectKind::Certificate => 6,
        };
        match self {
            Table::Meta => 0,
            Table::Vaults => 1,
            Table::Objects(k) => 2 + kind(k),
            Table::Deleted(k) => 3 + kind(k),
            Table::Versions(k) => 4 + kind(k),
            Table::PurgeQueue => 11,
            Table::RoleAssignments => 12,
            Table::AccessLog => 13,
            Table::Issuers => 14,
        }
    }

    /// The table's name, the same in every backend. The key tables keep the names of the
    /// first schema (`keys`, `deleted_keys`, `versions`).
    pub fn name(self) -> &'static str {
        use ObjectKind as K;
        match self {
            Table::Meta => "meta",
            Table::Vaults => "vaults",
            Table::Objects(K::Key) => "keys",
            Table::Deleted(K::Key) => "deleted_keys",
            Table::Versions(K::Key) => "versions",
            Table::Objects(K::Secret) => "secrets",
            Table::Deleted(K::Secret) => "deleted_secrets",
            Table::Versions(K::Secret) => "secret_versions",
            Table::Objects(K::Certificate) => "certificates",
            Table::Deleted(K::Certificate) => "deleted_certificates",
            Table::Versions(K::Certificate) => "certificate_versions",
            Table::PurgeQueue => "purge_queue",
            Table::RoleAssignments => "role_assignments",
            Table::AccessLog => "access_log",
            Table::Issuers => "certificate_issuers",
        }
    }
}

/// A range of keys for [`Backend::scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    /// Where the range starts.
    pub start: Bound<Vec<u8>>,
    /// Where it ends.
    pub end: Bound<Vec<u8>>,
}

impl KeyRange {
    /// Every key.
    pub fn all() -> Self {
        Self {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
        }
    }

    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: &[u8]) -> Self {
        Self {
            start: Bound::Included(prefix.to_vec()),
            end: prefix_end(prefix),
        }
    }

    /// Keys from `start` (inclusive) up to `end` (exclusive).
    pub fn between(start: &[u8], end: &[u8]) -> Self {
        Self {
            start: Bound::Included(start.to_vec()),
            end: Bound::Excluded(end.to_vec()),
        }
    }

    /// Keys with `prefix` that sort after `after` (exclusive), for the next page.
    pub fn prefix_after(prefix: &[u8], after: &[u8]) -> Self {
        Self {
            start: Bound::Excluded(after.to_vec()),
            end: prefix_end(prefix),
        }
    }

    /// Whether `key` lies in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        std::ops::RangeBounds::<[u8]>::contains(
            &(
                self.start.as_ref().map(Vec::as_slice),
                self.end.as_ref().map(Vec::as_slice),
            ),
            key,
        )
    }
}

/// The first key after every key that starts with `prefix`.
fn prefix_end(prefix: &[u8]) -> Bound<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Bound::Excluded(end);
        }
    }
    Bound::Unbounded
}

/// One write of a blind batch ([`Backend::apply`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Sets `key` to `value`.
    Put(Table, Vec<u8>, Vec<u8>),
    /// Removes `key`.
    Delete(Table, Vec<u8>),
}

impl Write {
    /// Performs `writes` inside `tx`, in order: how an engine or wrapper without a native
    /// blind batch turns [`Backend::apply`] into a transaction.
    pub fn all_in(writes: &[Write], tx: &mut dyn Txn) -> Result<()> {
        for w in writes {
            match w {
                Write::Put(t, k, v) => tx.put(*t, k, v)?,
                Write::Delete(t, k) => tx.delete(*t, k)?,
            }
        }
        Ok(())
    }
}

/// The view a transaction works on; see the module docs for the contract.
pub trait Txn {
    /// Reads a record, seeing this transaction's own writes.
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Writes a record.
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()>;
    /// Removes a record (absent is fine).
    fn delete(&mut self, table: Table, key: &[u8]) -> Result<()>;
}

/// A change another process committed to a store that several processes share, as
/// [`Backend::watch`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A record of `table` at this key was written or removed.
    Record(Table, Vec<u8>),
    /// Anything may have changed: the backend lost track for a while (its connection for
    /// change notices dropped, or a notice was too large to carry its records).
    Unknown,
}

/// What [`Backend::watch`] calls with each change.
pub type Watcher = Arc<dyn Fn(&Change) + Send + Sync>;

/// Work that one process at a time may do on a store that several share
/// ([`Backend::exclusive`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreLock {
    /// Opening the store: creating or migrating it, and the checks at open.
    Open,
    /// The purge sweep.
    Sweep,
    /// Periodic housekeeping that writes (certificate lifetime actions, log retention).
    Housekeeping,
}

/// Records read by a scan: key and value, in key order.
pub type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// A storage engine under the store. See the module docs for the contract every method
/// keeps; `tests/storage_seam.rs` checks it for every backend.
pub trait Backend: Send + Sync + 'static {
    /// Where the data lives, for messages (`/home/me/.local/share/localhsm`, `memory`).
    fn location(&self) -> String;
    /// Reads one record.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Records whose keys lie in `range`, in key order, at most `limit` of them.
    fn scan(&self, table: Table, range: &KeyRange, limit: usize) -> Result<Rows>;
    /// Runs `work` as one atomic, serializable transaction.
    fn transact(&self, work: &mut dyn FnMut(&mut dyn Txn) -> Result<()>) -> Result<()>;
    /// Applies writes that depend on no read, atomically.
    fn apply(&self, writes: &[Write]) -> Result<()>;
    /// Makes every committed change durable.
    fn flush(&self) -> Result<()>;
    /// A number no earlier call returned (unique for the life of the store).
    fn next_id(&self) -> Result<u64>;
    /// How many times the engine has dropped changes it had committed but not flushed
    /// (sled, when it opens its database again after an I/O error such as a full disk).
    /// Such changes were never acknowledged; a wrapper that keeps in memory what the
    /// backend holds reloads it when this number moves. An engine that never drops a
    /// committed change keeps the default, 0.
    fn reopens(&self) -> u64 {
        0
    }
    /// Whether other processes may change the store while this one has it open (replicas
    /// over one database). Whatever a process keeps in memory of such a store must follow
    /// [`Backend::watch`]. An engine that one process holds alone keeps the default.
    fn shared(&self) -> bool {
        false
    }
    /// Has `watcher` called, from a thread of the backend's own, with each change that
    /// other processes commit, soon after they commit it. An engine that one process holds
    /// alone never calls it (the default).
    fn watch(&self, watcher: Watcher) {
        let _ = watcher;
    }
    /// Runs `work` while holding `lock` against every other process on this store. When
    /// `wait` is false and another process holds it, returns `Ok(false)` without running
    /// `work`. An engine that one process holds alone runs `work` at once (the default):
    /// callers serialize their own threads.
    fn exclusive(
        &self,
        lock: StoreLock,
        wait: bool,
        work: &mut dyn FnMut() -> Result<()>,
    ) -> Result<bool> {
        let _ = (lock, wait);
        work()?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_indexes_match_their_order() {
        for (i, t) in Table::ALL.iter().enumerate() {
            assert_eq!(t.index(), i, "{t:?}");
        }
        let names: std::collections::HashSet<_> = Table::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(names.len(), Table::ALL.len());
    }

    #[test]
    fn prefix_ranges() {
        let r = KeyRange::prefix(b"ab");
        assert!(r.contains(b"ab") && r.contains(b"ab\xff\xff") && !r.contains(b"ac"));
        assert!(!r.contains(b"aa\xff"));
        let r = KeyRange::prefix(b"a\xff");
        assert!(r.contains(b"a\xff\x00") && !r.contains(b"b"));
        assert_eq!(KeyRange::prefix(b"\xff\xff").end, Bound::Unbounded);
        let r = KeyRange::prefix_after(b"v/", b"v/b");
        assert!(!r.contains(b"v/b") && r.contains(b"v/c") && !r.contains(b"w"));
    }
}
