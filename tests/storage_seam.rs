//! Conformance of every storage backend to the seam's contract (`localhsm::store`): point
//! reads and writes, tables kept apart, ordered scans with bounds and limits (paging and the
//! purge queue depend on them), transactions that see their own writes and commit all or
//! nothing, serializable read-modify-write under contention, atomic blind batches, unique
//! ids, binary keys and large values, and (for sled) durability across a reopen.
//!
//! Guards against: a backend that the lifecycle's rules silently depend on behaving
//! differently from another (a lost update, a half-applied transaction, a scan out of order
//! or past its bound), so that a new backend (PostgreSQL) is held to the same contract.

use std::ops::Bound;
use std::sync::Arc;

use localhsm::store::{Backend, KeyRange, MemoryBackend, Rows, SledBackend, Table, Txn, Write};
use localhsm::{Error, ObjectKind};

/// Every backend under test, with what keeps it alive.
fn backends() -> Vec<(&'static str, Arc<dyn Backend>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let sled = SledBackend::open(dir.path()).expect("open sled");
    vec![
        ("sled", Arc::new(sled), Some(dir)),
        ("memory", Arc::new(MemoryBackend::new()), None),
    ]
}

fn put(b: &dyn Backend, table: Table, k: &[u8], v: &[u8]) {
    b.apply(&[Write::Put(table, k.to_vec(), v.to_vec())])
        .expect("put");
}

fn keys(rows: &Rows) -> Vec<Vec<u8>> {
    rows.iter().map(|(k, _)| k.clone()).collect()
}

fn txn(
    b: &dyn Backend,
    mut work: impl FnMut(&mut dyn Txn) -> localhsm::Result<()>,
) -> localhsm::Result<()> {
    b.transact(&mut |tx| work(tx))
}

#[test]
fn reads_writes_and_tables_are_apart() {
    for (name, b, _keep) in backends() {
        let keys_table = Table::Objects(ObjectKind::Key);
        let secrets_table = Table::Objects(ObjectKind::Secret);
        assert_eq!(b.get(keys_table, b"v/a").unwrap(), None, "{name}");
        put(&*b, keys_table, b"v/a", b"key");
        put(&*b, secrets_table, b"v/a", b"secret");
        assert_eq!(
            b.get(keys_table, b"v/a").unwrap().as_deref(),
            Some(&b"key"[..]),
            "{name}"
        );
        assert_eq!(
            b.get(secrets_table, b"v/a").unwrap().as_deref(),
            Some(&b"secret"[..]),
            "{name}"
        );
        put(&*b, keys_table, b"v/a", b"again");
        assert_eq!(
            b.get(keys_table, b"v/a").unwrap().as_deref(),
            Some(&b"again"[..]),
            "{name}"
        );
        b.apply(&[Write::Delete(keys_table, b"v/a".to_vec())])
            .unwrap();
        assert_eq!(b.get(keys_table, b"v/a").unwrap(), None, "{name}");
        assert!(b.get(secrets_table, b"v/a").unwrap().is_some(), "{name}");
        // Deleting what is absent is fine.
        b.apply(&[Write::Delete(keys_table, b"nothing".to_vec())])
            .unwrap();
        for t in Table::ALL {
            assert!(b.scan(t, &KeyRange::all(), 10).is_ok(), "{name}: {t:?}");
        }
    }
}

#[test]
fn scans_are_ordered_bounded_and_limited() {
    for (name, b, _keep) in backends() {
        let t = Table::PurgeQueue;
        // Inserted out of order, including 0x00 and 0xff bytes and a key that is a prefix of
        // another.
        let all: Vec<&[u8]> = vec![
            b"b",
            b"a\xff",
            b"a",
            b"a/",
            b"a/x",
            b"\x00",
            b"\xff\xff",
            b"a/y",
        ];
        for k in &all {
            put(&*b, t, k, k);
        }
        let mut sorted: Vec<Vec<u8>> = all.iter().map(|k| k.to_vec()).collect();
        sorted.sort();
        let got = b.scan(t, &KeyRange::all(), usize::MAX).unwrap();
        assert_eq!(keys(&got), sorted, "{name}");
        assert!(
            got.iter().all(|(k, v)| k == v),
            "{name}: values follow keys"
        );
        assert_eq!(
            keys(&b.scan(t, &KeyRange::all(), 3).unwrap()),
            sorted[..3],
            "{name}"
        );
        assert!(b.scan(t, &KeyRange::all(), 0).unwrap().is_empty(), "{name}");
        assert_eq!(
            keys(&b.scan(t, &KeyRange::prefix(b"a/"), 10).unwrap()),
            vec![b"a/".to_vec(), b"a/x".to_vec(), b"a/y".to_vec()],
            "{name}"
        );
        assert_eq!(
            keys(
                &b.scan(t, &KeyRange::prefix_after(b"a/", b"a/x"), 10)
                    .unwrap()
            ),
            vec![b"a/y".to_vec()],
            "{name}"
        );
        assert_eq!(
            keys(&b.scan(t, &KeyRange::between(b"a", b"a/x"), 10).unwrap()),
            vec![b"a".to_vec(), b"a/".to_vec()],
            "{name}"
        );
        let upto_b = KeyRange {
            start: Bound::Unbounded,
            end: Bound::Included(b"a\xff".to_vec()),
        };
        assert_eq!(
            keys(&b.scan(t, &upto_b, 100).unwrap()),
            sorted[..6],
            "{name}"
        );
        assert_eq!(
            keys(&b.scan(t, &KeyRange::prefix(b"\xff\xff"), 10).unwrap()),
            vec![b"\xff\xff".to_vec()],
            "{name}"
        );
        assert!(
            b.scan(t, &KeyRange::prefix(b"zz"), 10).unwrap().is_empty(),
            "{name}"
        );
    }
}

#[test]
fn transactions_see_their_writes_and_commit_all_or_nothing() {
    for (name, b, _keep) in backends() {
        let live = Table::Objects(ObjectKind::Key);
        let deleted = Table::Deleted(ObjectKind::Key);
        put(&*b, live, b"v/k", b"record");
        // A move between tables, reading its own writes on the way.
        txn(&*b, |tx| {
            let r = tx.get(live, b"v/k")?.expect("present");
            tx.delete(live, b"v/k")?;
            assert_eq!(tx.get(live, b"v/k")?, None);
            tx.put(deleted, b"v/k", &r)?;
            assert_eq!(tx.get(deleted, b"v/k")?.as_deref(), Some(&b"record"[..]));
            Ok(())
        })
        .unwrap();
        assert_eq!(b.get(live, b"v/k").unwrap(), None, "{name}");
        assert!(b.get(deleted, b"v/k").unwrap().is_some(), "{name}");
        // An error aborts: none of the writes lands, and the error comes back as it was.
        let r = txn(&*b, |tx| {
            tx.delete(deleted, b"v/k")?;
            tx.put(live, b"v/k", b"half")?;
            tx.put(Table::PurgeQueue, b"due", b"")?;
            Err(Error::InvalidBackup)
        });
        assert!(matches!(r, Err(Error::InvalidBackup)), "{name}: {r:?}");
        assert!(b.get(deleted, b"v/k").unwrap().is_some(), "{name}");
        assert_eq!(b.get(live, b"v/k").unwrap(), None, "{name}");
        assert_eq!(b.get(Table::PurgeQueue, b"due").unwrap(), None, "{name}");
    }
}

#[test]
fn contended_read_modify_write_loses_nothing() {
    for (name, b, _keep) in backends() {
        let t = Table::Meta;
        let threads = 8;
        let rounds = 100;
        std::thread::scope(|s| {
            for _ in 0..threads {
                let b = b.clone();
                s.spawn(move || {
                    for _ in 0..rounds {
                        txn(&*b, |tx| {
                            let n = tx
                                .get(t, b"counter")?
                                .map_or(0, |v| u64::from_be_bytes(v.try_into().expect("8 bytes")));
                            tx.put(t, b"counter", &(n + 1).to_be_bytes())
                        })
                        .expect("increment");
                    }
                });
            }
        });
        let n = b.get(t, b"counter").unwrap().expect("counter");
        assert_eq!(
            u64::from_be_bytes(n.try_into().unwrap()),
            threads * rounds,
            "{name}: lost updates"
        );
    }
}

#[test]
fn batches_ids_and_values() {
    for (name, b, _keep) in backends() {
        // A blind batch across tables lands whole.
        b.apply(&[
            Write::Put(Table::Vaults, b"v".to_vec(), b"vault".to_vec()),
            Write::Put(Table::AccessLog, b"v\x00\x01".to_vec(), b"log".to_vec()),
            Write::Delete(Table::Vaults, b"other".to_vec()),
        ])
        .unwrap();
        assert!(b.get(Table::Vaults, b"v").unwrap().is_some(), "{name}");
        assert!(
            b.get(Table::AccessLog, b"v\x00\x01").unwrap().is_some(),
            "{name}"
        );
        b.apply(&[]).unwrap();
        // Ids never repeat, across threads.
        let ids: Vec<u64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let b = b.clone();
                    s.spawn(move || (0..250).map(|_| b.next_id().unwrap()).collect::<Vec<_>>())
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{name}: repeated ids");
        // Large and empty values, binary keys.
        let big: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        put(&*b, Table::Versions(ObjectKind::Key), b"\x00\xff\x00", &big);
        put(&*b, Table::Versions(ObjectKind::Key), b"empty", b"");
        assert_eq!(
            b.get(Table::Versions(ObjectKind::Key), b"\x00\xff\x00")
                .unwrap()
                .as_deref(),
            Some(big.as_slice()),
            "{name}"
        );
        assert_eq!(
            b.get(Table::Versions(ObjectKind::Key), b"empty")
                .unwrap()
                .as_deref(),
            Some(&b""[..]),
            "{name}"
        );
        b.flush().unwrap();
        assert!(!b.location().is_empty(), "{name}");
    }
}

#[test]
fn sled_keeps_flushed_writes_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let b = SledBackend::open(dir.path()).unwrap();
        txn(&b, |tx| {
            tx.put(Table::Objects(ObjectKind::Key), b"v/k", b"record")?;
            tx.put(Table::Versions(ObjectKind::Key), b"v/k/1", b"version")
        })
        .unwrap();
        b.flush().unwrap();
    }
    // sled releases its lock from background threads just after the last handle drops.
    let mut attempts = 0;
    let b = loop {
        match SledBackend::open(dir.path()) {
            Err(Error::StoreLocked { .. }) if attempts < 10 => attempts += 1,
            r => break r.unwrap(),
        }
    };
    assert_eq!(
        b.get(Table::Objects(ObjectKind::Key), b"v/k")
            .unwrap()
            .as_deref(),
        Some(&b"record"[..])
    );
    assert_eq!(
        b.get(Table::Versions(ObjectKind::Key), b"v/k/1")
            .unwrap()
            .as_deref(),
        Some(&b"version"[..])
    );
}

/// The integrity wrapper every store opens its backend through (`store::integrity`) keeps its
/// digest in step with every transaction and batch: after a random workload on the memory
/// backend (creates, rotations, deletes, recoveries, purges, tag updates) the store reopens
/// on the same backend, which recomputes the digest from every record and compares; and one
/// record changed behind the store's back makes the reopen fail as damaged.
#[test]
fn the_integrity_digest_follows_random_work_on_the_memory_backend() {
    use localhsm::crypto::{KeyType, SecretBytes};
    use localhsm::model::{KeyOptions, KeyUpdate, VaultKind, VaultOptions};
    use localhsm::{KeySpec, MasterKeySource, Store};
    let backend = Arc::new(MemoryBackend::new());
    let open = || {
        Store::builder_on(backend.clone())
            .master_key(MasterKeySource::Bytes(SecretBytes::new(vec![3; 32])))
            .open()
    };
    let store = open().expect("open");
    let options = VaultOptions {
        kind: VaultKind::ManagedHsm,
        retention_days: 7,
        purge_protection: false,
    };
    store.create_vault("v", options).expect("vault");
    let v = store.vault("v").expect("vault");
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for step in 0..300 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let name = format!("k{}", seed % 6);
        // Outcomes vary (a name may be deleted, absent or live): only the digest matters.
        let _ = match (seed >> 8) % 6 {
            0 => v
                .create_key(
                    &name,
                    KeyType::Oct,
                    KeySpec::Oct(128),
                    KeyOptions::default(),
                )
                .map(drop),
            1 => v.rotate_key(&name).map(drop),
            2 => v.delete_key(&name).map(drop),
            3 => v.recover_deleted_key(&name).map(drop),
            4 => v.purge_deleted_key(&name),
            _ => v
                .update_key(
                    &name,
                    None,
                    KeyUpdate {
                        enabled: Some(step % 2 == 0),
                        ..KeyUpdate::default()
                    },
                )
                .map(drop),
        };
    }
    drop(v);
    drop(store);
    drop(open().expect("the digest matches a full recomputation"));
    let (k, _) = backend
        .scan(Table::Vaults, &KeyRange::all(), 1)
        .unwrap()
        .pop()
        .expect("the vault record");
    put(&*backend, Table::Vaults, &k, b"{}");
    assert!(matches!(
        open(),
        Err(Error::StoreIntegrity {
            problem: localhsm::error::IntegrityProblem::Damaged(_),
            ..
        })
    ));
}
