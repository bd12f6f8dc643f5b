//! Conformance of every storage backend to the seam's contract (`localhsm::store`): point
//! reads and writes, tables kept apart, ordered scans with bounds and limits (paging and the
//! purge queue depend on them), transactions that see their own writes and commit all or
//! nothing, serializable read-modify-write under contention, atomic blind batches, unique
//! ids, binary keys and large values, and (for sled) durability across a reopen. PostgreSQL
//! (on the cluster `LOCALHSM_TEST_POSTGRES` names) is held to the same contract, and to what
//! only a backend that several processes share must do: serializable transactions between
//! two connections of their own, change notices, and store-wide locks.
//!
//! Guards against: a backend that the lifecycle's rules silently depend on behaving
//! differently from another (a lost update, a half-applied transaction, a scan out of order
//! or past its bound), so that a new backend (PostgreSQL) is held to the same contract.

use std::ops::Bound;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;

use localhsm::store::{
    Backend, Change, KeyRange, MemoryBackend, PostgresBackend, PostgresOptions, Rows, SledBackend,
    StoreLock, Table, Txn, Write,
};
use localhsm::{Error, ObjectKind};

/// Every backend under test, with what keeps it alive.
fn backends() -> Vec<(&'static str, Arc<dyn Backend>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let sled = SledBackend::open(dir.path()).expect("open sled");
    let mut all: Vec<(&'static str, Arc<dyn Backend>, Option<tempfile::TempDir>)> = vec![
        ("sled", Arc::new(sled), Some(dir)),
        ("memory", Arc::new(MemoryBackend::new()), None),
    ];
    if let Some(pg) = support::postgres::fresh_backend() {
        all.push(("postgres", pg, None));
    }
    all
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

/// Two replicas: two backends of their own (each its connections, its listener) on one
/// database.
fn two_replicas() -> Option<(Arc<PostgresBackend>, Arc<PostgresBackend>)> {
    let url = support::postgres::fresh_database()?;
    let open = || Arc::new(PostgresBackend::connect(&url, PostgresOptions::default()).unwrap());
    Some((open(), open()))
}

fn counter(v: Option<Vec<u8>>) -> u64 {
    v.map_or(0, |v| u64::from_be_bytes(v.try_into().expect("8 bytes")))
}

#[test]
fn postgres_replicas_lose_no_update_to_each_other() {
    let Some((a, b)) = two_replicas() else { return };
    let rounds = 60;
    std::thread::scope(|s| {
        for backend in [&a, &b, &a, &b] {
            let backend = backend.clone();
            s.spawn(move || {
                for _ in 0..rounds {
                    txn(&*backend, |tx| {
                        let n = counter(tx.get(Table::Meta, b"counter")?);
                        tx.put(Table::Meta, b"counter", &(n + 1).to_be_bytes())
                    })
                    .expect("increment");
                }
            });
        }
    });
    assert_eq!(counter(a.get(Table::Meta, b"counter").unwrap()), 4 * rounds);
    assert_eq!(counter(b.get(Table::Meta, b"counter").unwrap()), 4 * rounds);
    // Ids are unique across replicas too.
    let ids: std::collections::HashSet<u64> = (0..50)
        .flat_map(|_| [a.next_id().unwrap(), b.next_id().unwrap()])
        .collect();
    assert_eq!(ids.len(), 100);
}

#[test]
fn postgres_replicas_hear_each_others_changes_within_a_second() {
    let Some((a, b)) = two_replicas() else { return };
    let heard: Arc<Mutex<Vec<Change>>> = Arc::default();
    let sink = heard.clone();
    b.watch(Arc::new(move |c: &Change| {
        sink.lock().unwrap().push(c.clone())
    }));
    // The listener connects in the background: wait until a first notice gets through.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut n = 0u32;
    loop {
        n += 1;
        put(&*a, Table::Vaults, b"probe", &n.to_be_bytes());
        std::thread::sleep(Duration::from_millis(100));
        if !heard.lock().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "replica b never heard replica a");
    }
    heard.lock().unwrap().clear();
    let started = Instant::now();
    a.apply(&[
        Write::Put(
            Table::Versions(ObjectKind::Key),
            b"v/k/1".to_vec(),
            b"x".to_vec(),
        ),
        Write::Delete(Table::Objects(ObjectKind::Key), b"v/k".to_vec()),
        Write::Put(Table::AccessLog, b"v\x00log".to_vec(), b"x".to_vec()),
    ])
    .unwrap();
    let want = vec![
        Change::Record(Table::Versions(ObjectKind::Key), b"v/k/1".to_vec()),
        Change::Record(Table::Objects(ObjectKind::Key), b"v/k".to_vec()),
    ];
    loop {
        let got: Vec<Change> = heard
            .lock()
            .unwrap()
            .iter()
            .filter(|c| !matches!(c, Change::Record(Table::Meta, _)))
            .cloned()
            .collect();
        if got.len() >= want.len() {
            // Access-log records are nobody's cache: never announced.
            assert_eq!(got, want);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "replica b heard only {got:?} within a second"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // A replica does not hear its own changes (it already knows them).
    heard.lock().unwrap().clear();
    put(&*b, Table::Vaults, b"own", b"x");
    std::thread::sleep(Duration::from_millis(300));
    assert!(heard.lock().unwrap().is_empty());
}

#[test]
fn postgres_store_locks_hold_across_replicas() {
    let Some((a, b)) = two_replicas() else { return };
    let mut inside_b = None;
    a.exclusive(StoreLock::Sweep, false, &mut || {
        // While a holds it, b's try fails at once without running its work...
        inside_b = Some(
            b.exclusive(StoreLock::Sweep, false, &mut || {
                panic!("ran under a held lock")
            })
            .unwrap(),
        );
        // ...and another lock is free.
        assert!(b
            .exclusive(StoreLock::Housekeeping, false, &mut || Ok(()))
            .unwrap());
        Ok(())
    })
    .unwrap();
    assert_eq!(inside_b, Some(false));
    // Released: b takes it now.
    assert!(b
        .exclusive(StoreLock::Sweep, false, &mut || Ok(()))
        .unwrap());
    // An error from the work comes back as is, and the lock is released.
    let e = a
        .exclusive(StoreLock::Sweep, true, &mut || {
            Err(Error::Storage("boom".into()))
        })
        .unwrap_err();
    assert!(e.to_string().contains("boom"));
    assert!(b
        .exclusive(StoreLock::Sweep, false, &mut || Ok(()))
        .unwrap());
}

#[test]
fn postgres_unreachable_is_a_clear_unavailable_error_not_a_hang() {
    // Nothing listens on port 1: refused at once. The deadline bounds a silent peer too.
    let options = PostgresOptions {
        timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let started = Instant::now();
    let e = PostgresBackend::connect("postgres://x@127.0.0.1:1/db", options.clone()).unwrap_err();
    assert!(matches!(e, Error::StoreUnavailable(_)), "{e:?}");
    // A blackholed address (TEST-NET-1, never routed): the connect timeout answers.
    let e = PostgresBackend::connect("postgres://x@192.0.2.1:5432/db", options).unwrap_err();
    assert!(matches!(e, Error::StoreUnavailable(_)), "{e:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn postgres_tables_of_a_later_version_are_refused_clearly() {
    let Some(url) = support::postgres::fresh_database() else {
        return;
    };
    drop(PostgresBackend::connect(&url, PostgresOptions::default()).unwrap());
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let found: i32 = admin
        .query_one("SELECT max(version) FROM localhsm.ddl_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(found, localhsm::store::POSTGRES_DDL_VERSION);
    admin
        .execute(
            "INSERT INTO localhsm.ddl_version (version) VALUES (99)",
            &[],
        )
        .unwrap();
    let e = PostgresBackend::connect(&url, PostgresOptions::default()).unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedSchema { found: 99, .. }),
        "{e:?}"
    );
}

/// A TCP forwarder to `target` that can be cut: nothing flows either way and the
/// connections stay open (a partition, not a refusal); what was sent meanwhile arrives
/// when the cut heals, as TCP retransmits it.
struct Partition {
    addr: std::net::SocketAddr,
    cut: Arc<std::sync::atomic::AtomicBool>,
}

impl Partition {
    fn to(target: std::net::SocketAddr) -> Self {
        use std::io::{Read, Write as _};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = cut.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = std::net::TcpStream::connect(target) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let flag = flag.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        loop {
                            let n = match from.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            // Cut: held until the partition heals.
                            while flag.load(Ordering::Relaxed) {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            if to.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    });
                }
            }
        });
        Self { addr, cut }
    }
}

#[test]
fn postgres_partition_gives_clean_errors_within_the_timeout_and_heals() {
    let Some(url) = support::postgres::fresh_database() else {
        return;
    };
    // postgres://user@host:port/db -> the same database through the forwarder.
    let (scheme_user, rest) = url.split_once('@').unwrap();
    let (hostport, db) = rest.split_once('/').unwrap();
    let target: std::net::SocketAddr = hostport.parse().unwrap();
    let partition = Partition::to(target);
    let through = format!("{scheme_user}@{}/{db}", partition.addr);
    let timeout = Duration::from_millis(700);
    let b = PostgresBackend::connect(
        &through,
        PostgresOptions {
            timeout,
            ..Default::default()
        },
    )
    .unwrap();
    put(&b, Table::Vaults, b"before", b"1");
    partition
        .cut
        .store(true, std::sync::atomic::Ordering::Relaxed);
    for (what, outcome) in [
        ("read", b.get(Table::Vaults, b"before").map(|_| ())),
        (
            "write",
            b.apply(&[Write::Put(Table::Vaults, b"during".to_vec(), b"2".to_vec())]),
        ),
        (
            "scan",
            b.scan(Table::Vaults, &KeyRange::all(), 10).map(|_| ()),
        ),
    ] {
        let e = outcome.expect_err(what);
        assert!(matches!(e, Error::StoreUnavailable(_)), "{what}: {e:?}");
    }
    // Each call gave up at its deadline (a connect or a query), never hung.
    let started = Instant::now();
    let e = b.get(Table::Vaults, b"before").unwrap_err();
    assert!(matches!(e, Error::StoreUnavailable(_)), "{e:?}");
    assert!(started.elapsed() < timeout * 3, "{:?}", started.elapsed());
    partition
        .cut
        .store(false, std::sync::atomic::Ordering::Relaxed);
    // Healed: new connections serve again, without a restart.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match b.get(Table::Vaults, b"before") {
            Ok(v) => {
                assert_eq!(v.as_deref(), Some(&b"1"[..]));
                break;
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "never healed: {e:?}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    // The write cut off in the partition is whole or absent, never half.
    let during = b.get(Table::Vaults, b"during").unwrap();
    assert!(during.is_none() || during.as_deref() == Some(&b"2"[..]));
}
