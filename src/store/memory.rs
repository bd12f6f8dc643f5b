//! A backend in memory: for tests and throw-away stores. It keeps the seam's contract
//! except durability (nothing survives the process): transactions hold one write lock for
//! their whole run, so they never conflict and never retry.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use super::seam::{Backend, KeyRange, Rows, Table, Txn, Write};
use crate::error::Result;

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// Every table of a store, in memory.
#[derive(Debug)]
pub struct MemoryBackend {
    /// One map per table, in [`Table::ALL`] order.
    tables: RwLock<Vec<Map>>,
    next_id: AtomicU64,
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            tables: RwLock::new(vec![Map::new(); Table::ALL.len()]),
            next_id: AtomicU64::new(0),
        }
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

/// A transaction's pending writes over the committed tables.
struct MemoryTxn<'a> {
    base: &'a [Map],
    writes: HashMap<(usize, Vec<u8>), Option<Vec<u8>>>,
}

impl Txn for MemoryTxn<'_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let i = table.index();
        Ok(match self.writes.get(&(i, key.to_vec())) {
            Some(pending) => pending.clone(),
            None => self.base[i].get(key).cloned(),
        })
    }

    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        self.writes
            .insert((table.index(), key.to_vec()), Some(value.to_vec()));
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<()> {
        self.writes.insert((table.index(), key.to_vec()), None);
        Ok(())
    }
}

fn write(tables: &mut [Map], table: usize, key: Vec<u8>, value: Option<Vec<u8>>) {
    match value {
        Some(v) => tables[table].insert(key, v),
        None => tables[table].remove(&key),
    };
}

impl Backend for MemoryBackend {
    fn location(&self) -> String {
        "memory".into()
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let tables = self.tables.read().unwrap_or_else(|p| p.into_inner());
        Ok(tables[table.index()].get(key).cloned())
    }

    fn scan(&self, table: Table, range: &KeyRange, limit: usize) -> Result<Rows> {
        let tables = self.tables.read().unwrap_or_else(|p| p.into_inner());
        Ok(tables[table.index()]
            .range::<Vec<u8>, _>((range.start.clone(), range.end.clone()))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn transact(&self, work: &mut dyn FnMut(&mut dyn Txn) -> Result<()>) -> Result<()> {
        let mut tables = self.tables.write().unwrap_or_else(|p| p.into_inner());
        let mut txn = MemoryTxn {
            base: &tables,
            writes: HashMap::new(),
        };
        work(&mut txn)?;
        let writes = txn.writes;
        for ((table, key), value) in writes {
            write(&mut tables, table, key, value);
        }
        Ok(())
    }

    fn apply(&self, writes: &[Write]) -> Result<()> {
        let mut tables = self.tables.write().unwrap_or_else(|p| p.into_inner());
        for w in writes {
            match w {
                Write::Put(t, k, v) => write(&mut tables, t.index(), k.clone(), Some(v.clone())),
                Write::Delete(t, k) => write(&mut tables, t.index(), k.clone(), None),
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn next_id(&self) -> Result<u64> {
        Ok(self.next_id.fetch_add(1, Ordering::SeqCst))
    }
}
