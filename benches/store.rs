//! The store's lifecycle operations with 1k and 10k keys in the vault (100k on request), so
//! the growth of each cost with the store's size is visible.
//!
//! Names: `store/<op>/<keys in the store>`; every benchmark reports operations per second
//! (`Throughput::Elements(1)`). Each store is on the same disk as `target/`, opened with the
//! default durability (every change flushed before the call returns); only the fixture is
//! bulk-loaded with [`StoreBuilder::defer_flush`]. See `benches/README.md`.
//!
//! Sizes: `LOCALHSM_BENCH_STORE_SIZES=1000,10000,100000` (default `1000,10000`).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode,
    Throughput,
};
use localhsm::crypto::{CurveName, KeyType};
use localhsm::model::{KeyOptions, KeyUpdate, VaultKind, VaultOptions, DAY};
use localhsm::{Clock, KeySpec, ManualClock, Store, SystemClock, Vault};

/// The page size of the list benchmarks (Key Vault's default `maxresults`).
const PAGE: usize = 25;
/// The vault's soft-delete retention, in days: the sweep benchmark moves the clock past it.
const RETENTION_DAYS: u32 = 7;

fn sizes() -> Vec<usize> {
    match std::env::var("LOCALHSM_BENCH_STORE_SIZES") {
        Ok(s) => s
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .expect("LOCALHSM_BENCH_STORE_SIZES: numbers")
            })
            .collect(),
        Err(_) => vec![1_000, 10_000],
    }
}

fn key_name(i: usize) -> String {
    format!("key-{i:07}")
}

fn create(vault: &Vault, name: &str) {
    vault
        .create_key(
            name,
            KeyType::Ec,
            KeySpec::Ec(CurveName::P256),
            KeyOptions {
                tags: BTreeMap::from([("purpose".to_string(), "bench".to_string())]),
                ..KeyOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("create {name}: {e}"));
}

/// A store of `n` EC P-256 keys in vault `bench`, opened durable, on a manual clock.
struct Fixture {
    n: usize,
    clock: Arc<ManualClock>,
    store: Store,
    vault: Vault,
    /// Counter of the names of keys created (and purged again) by the benchmarks.
    next_extra: usize,
    /// A rotating index into the fixture keys, so reads do not hit one key only.
    cursor: usize,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// Bulk-loads `n` keys with deferred flushing (one flush at the end), then reopens the
    /// store with the default durability. `while_bulk` runs on the bulk-load store first.
    fn build(n: usize, while_bulk: impl FnOnce(&Store)) -> Self {
        let dir = common::bench_dir(&format!("store-{n}"));
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let started = Instant::now();
        {
            let bulk = common::open_store(dir.path(), |b| {
                b.clock(clock.clone()).defer_flush(true);
            });
            bulk.create_vault(
                "bench",
                VaultOptions {
                    kind: VaultKind::ManagedHsm,
                    retention_days: RETENTION_DAYS,
                    purge_protection: false,
                },
            )
            .expect("create vault");
            let vault = bulk.vault("bench").expect("vault");
            for i in 0..n {
                create(&vault, &key_name(i));
            }
            bulk.flush().expect("flush");
            eprintln!(
                "store fixture: {n} keys bulk-loaded in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            while_bulk(&bulk);
        }
        let reopened = Instant::now();
        let store = common::open_store(dir.path(), |b| {
            b.clock(clock.clone());
        });
        // The open checks every record against the store's digest (`store::integrity`).
        eprintln!(
            "store fixture: {n} keys reopened in {:.1} ms",
            reopened.elapsed().as_secs_f64() * 1e3
        );
        let vault = store.vault("bench").expect("vault");
        Self {
            n,
            clock,
            store,
            vault,
            next_extra: 0,
            cursor: 0,
            _dir: dir,
        }
    }

    /// The next fixture key, spread over the whole key space.
    fn next_key(&mut self) -> String {
        self.cursor = (self.cursor + 7919) % self.n;
        key_name(self.cursor)
    }

    /// A fresh name for a key beyond the fixture's.
    fn fresh_name(&mut self) -> String {
        self.next_extra += 1;
        format!("new-{:07}", self.next_extra)
    }

    /// A new key, soft-deleted: what purge and the sweep consume.
    fn deleted_key(&mut self) -> String {
        let name = self.fresh_name();
        create(&self.vault, &name);
        self.vault.delete_key(&name).expect("delete");
        name
    }
}

fn durable_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1));
    // Milliseconds per operation: the same (small) number of iterations in every sample.
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    g
}

/// `store/<name>/<n>`: times `timed` once per iteration, with `setup` before it and
/// `teardown` after it (both untimed), so the store is back to its `n` keys after each
/// iteration.
fn bench_timed<S, T>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    f: &mut Fixture,
    mut setup: impl FnMut(&mut Fixture) -> S,
    mut timed: impl FnMut(&mut Fixture, S) -> T,
    mut teardown: impl FnMut(&mut Fixture, T),
) {
    g.bench_function(BenchmarkId::new(name, f.n), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let input = setup(f);
                let start = Instant::now();
                let out = std::hint::black_box(timed(f, input));
                total += start.elapsed();
                teardown(f, out);
            }
            total
        })
    });
}

fn nothing<T>(_: &mut Fixture, _: T) {}

fn bench_size(c: &mut Criterion, n: usize, sweep_sizes: &[usize]) {
    // Creating a key without the flush, on the bulk-load store (deferred flushing): what the
    // flush costs is the difference to `create_key`. The keys go to a scratch vault, purged
    // afterwards in one go, so `bench` keeps its `n` keys.
    let mut f = Fixture::build(n, |store| {
        let options = VaultOptions {
            kind: VaultKind::ManagedHsm,
            ..VaultOptions::default()
        };
        store.create_vault("scratch", options).expect("vault");
        let scratch = store.vault("scratch").expect("vault");
        let mut g = durable_group(c, "store");
        let mut i = 0usize;
        g.bench_function(BenchmarkId::new("create_key_deferred_flush", n), |b| {
            b.iter(|| {
                i += 1;
                create(&scratch, &format!("deferred-{i:07}"));
            })
        });
        g.finish();
        store.delete_vault("scratch").expect("delete vault");
        store.purge_vault("scratch").expect("purge vault");
        store.flush().expect("flush");
    });

    let mut g = durable_group(c, "store");
    bench_timed(
        &mut g,
        "create_key",
        &mut f,
        |f| f.fresh_name(),
        |f, name| {
            create(&f.vault, &name);
            name
        },
        |f, name| {
            f.vault.delete_key(&name).expect("delete");
            f.vault.purge_deleted_key(&name).expect("purge");
        },
    );
    let mut counter = 0u64;
    bench_timed(
        &mut g,
        "update_tags",
        &mut f,
        |f| {
            counter += 1;
            let tags = BTreeMap::from([("rev".to_string(), counter.to_string())]);
            (f.next_key(), tags)
        },
        |f, (name, tags)| {
            let update = KeyUpdate {
                tags: Some(tags),
                ..KeyUpdate::default()
            };
            f.vault.update_key(&name, None, update).expect("update")
        },
        nothing,
    );
    bench_timed(
        &mut g,
        "delete_key",
        &mut f,
        |f| f.next_key(),
        |f, name| {
            f.vault.delete_key(&name).expect("delete");
            name
        },
        |f, name| {
            f.vault.recover_deleted_key(&name).expect("recover");
        },
    );
    bench_timed(
        &mut g,
        "recover_key",
        &mut f,
        |f| {
            let name = f.next_key();
            f.vault.delete_key(&name).expect("delete");
            name
        },
        |f, name| f.vault.recover_deleted_key(&name).expect("recover"),
        nothing,
    );
    bench_timed(
        &mut g,
        "purge_key",
        &mut f,
        |f| f.deleted_key(),
        |f, name| f.vault.purge_deleted_key(&name).expect("purge"),
        nothing,
    );
    // The sweep with `due` deleted keys past their purge date: the clock moves past the
    // retention, then one sweep purges them all (one durable transaction each).
    for &due in sweep_sizes {
        bench_timed(
            &mut g,
            &format!("sweep_due_{due}"),
            &mut f,
            |f| {
                if due > 0 {
                    for _ in 0..due {
                        f.deleted_key();
                    }
                    f.clock.advance(u64::from(RETENTION_DAYS) * DAY + 1);
                }
            },
            |f, ()| {
                let report = f.store.sweep().expect("sweep");
                assert_eq!(report.keys.len(), due, "sweep purged what was due");
            },
            nothing,
        );
    }
    g.finish();

    // Reads: no flush, microseconds, default sampling.    // Reads: no flush, microseconds, default sampling.
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(1));
    bench_timed(
        &mut g,
        "get_key",
        &mut f,
        |f| f.next_key(),
        |f, name| f.vault.get_key(&name, None).expect("get"),
        nothing,
    );
    g.bench_function(BenchmarkId::new("list_first_page", n), |b| {
        b.iter(|| {
            let page = f.vault.list_keys(PAGE, None).expect("list");
            assert_eq!(page.items.len(), PAGE);
            page
        })
    });
    let middle = key_name(n / 2);
    g.bench_function(BenchmarkId::new("list_middle_page", n), |b| {
        b.iter(|| {
            let page = f.vault.list_keys(PAGE, Some(&middle)).expect("list");
            assert_eq!(page.items.len(), PAGE);
            page
        })
    });
    g.finish();
}

fn store(c: &mut Criterion) {
    let sizes = sizes();
    let largest = sizes.iter().copied().max().unwrap_or(0);
    for &n in &sizes {
        // The sweep with nothing and with 10 keys due at every size; its growth with what
        // is due (1, 10, 100) at the largest.
        let sweeps: &[usize] = if n == largest {
            &[0, 1, 10, 100]
        } else {
            &[0, 10]
        };
        bench_size(c, n, sweeps);
    }
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = store
}
criterion_main!(benches);
