//! Guards against concurrency bugs in the core: 8+ threads create, rotate, sign, delete,
//! recover and disable/enable the same few keys (EC P-256 and oct) for a bounded time.
//! Afterwards: no version was lost or duplicated and versions appear in the real-time order
//! of their creation; no signature (or key wrap) succeeded on a key that was deleted, or a
//! version that was disabled, when no recover / enable could have come in between (checked
//! over a global sequence of call start and end stamps, for fresh handles and for handles
//! resolved long before); every signature verifies under its version's public key; and a
//! watchdog fails the test with each thread's current call if the run does not finish in
//! time (a deadlock). `LOCALHSM_STRESS_SECS` (default 4) and `LOCALHSM_STRESS_THREADS`
//! (default 8) make the run longer or wider.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use localhsm::crypto::{PublicKey, SignatureAlgorithm, WrapAlgorithm};
use localhsm::model::{KeyOptions, KeyUpdate};
use localhsm::{KeyHandle, Vault};
use support::{
    all_pages, default_hsm, exercise_key, seed_from_env, test_key_spec, usize_from_env, Rng,
    TempStore,
};

const KEYS: &[&str] = &["ec-0", "ec-1", "ec-2", "oct-0"];

/// A global clock: every call takes a stamp before it starts and after it returns, so
/// "A returned before B started" is `a.end < b.start`.
static SEQ: AtomicU64 = AtomicU64::new(0);

fn stamp() -> u64 {
    SEQ.fetch_add(1, Ordering::SeqCst)
}

#[derive(Debug, Clone)]
enum Kind {
    /// A create or rotate that made `version`.
    NewVersion {
        version: String,
        rotate: bool,
    },
    /// A sign (EC) or wrap (oct) with `version`; `held` when on a handle resolved earlier.
    Use {
        version: String,
        held: bool,
        proof: Option<(Vec<u8>, Vec<u8>)>,
    },
    Delete,
    Recover,
    SetEnabled {
        version: String,
        enabled: bool,
    },
}

#[derive(Debug, Clone)]
struct Event {
    thread: usize,
    start: u64,
    end: u64,
    key: &'static str,
    kind: Kind,
}

/// The events of one worker thread.
struct Events {
    thread: usize,
    list: Vec<Event>,
}

impl Events {
    /// Records a call on `key` that took the stamps `start` and `end` and succeeded.
    fn push(&mut self, start: u64, end: u64, key: &'static str, kind: Kind) {
        self.list.push(Event {
            thread: self.thread,
            start,
            end,
            key,
            kind,
        });
    }
}

/// What a worker is doing, for the watchdog's diagnosis.
struct Status {
    call: &'static str,
    key: &'static str,
    since: Instant,
    calls: u64,
}

/// Signs (EC) or wraps (oct) with `h` (`held` when resolved earlier); on success returns the
/// use with what proves it later.
fn use_key(h: &KeyHandle, input: &[u8; 32], held: bool) -> localhsm::Result<Kind> {
    let output = exercise_key(h, input)?;
    Ok(Kind::Use {
        version: h.version().to_string(),
        held,
        proof: Some((input.to_vec(), output)),
    })
}

fn worker(
    t: usize,
    vault: Vault,
    seed: u64,
    stop: Arc<AtomicBool>,
    status: Arc<Vec<Mutex<Status>>>,
) -> Vec<Event> {
    let mut rng = Rng::new(seed);
    let mut events = Events {
        thread: t,
        list: Vec::new(),
    };
    let mut held: Vec<KeyHandle> = Vec::new();
    let set = |call: &'static str, key: &'static str| {
        let mut s = status[t].lock().unwrap_or_else(|p| p.into_inner());
        s.call = call;
        s.key = key;
        s.since = Instant::now();
        s.calls += 1;
    };
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let key: &'static str = KEYS[rng.below(KEYS.len() as u64) as usize];
        let roll = rng.below(100);
        let mut input = [0u8; 32];
        input[..8].copy_from_slice(&(t as u64).to_be_bytes());
        input[8..16].copy_from_slice(&n.to_be_bytes());
        let start = stamp();
        let kind = match roll {
            0..=9 => {
                set("create", key);
                let (kty, spec) = test_key_spec(key);
                vault
                    .create_key(key, kty, spec, KeyOptions::default())
                    .ok()
                    .map(|b| Kind::NewVersion {
                        version: b.version,
                        rotate: false,
                    })
            }
            10..=14 => {
                set("rotate", key);
                vault.rotate_key(key).ok().map(|b| Kind::NewVersion {
                    version: b.version,
                    rotate: true,
                })
            }
            15..=39 => {
                set("resolve+sign", key);
                match vault.key(key, None) {
                    Ok(h) => {
                        let kind = use_key(&h, &input, false).ok();
                        if held.len() < 8 {
                            held.push(h);
                        } else {
                            let i = rng.below(8) as usize;
                            held[i] = h;
                        }
                        kind
                    }
                    Err(_) => None,
                }
            }
            40..=59 if !held.is_empty() => {
                let h = held[rng.below(held.len() as u64) as usize].clone();
                let key: &'static str = KEYS.iter().find(|k| **k == h.name()).expect("known key");
                set("sign on a held handle", key);
                let start = stamp();
                let r = use_key(&h, &input, true);
                let end = stamp();
                if let Ok(kind) = r {
                    events.push(start, end, key, kind);
                }
                continue;
            }
            60..=67 => {
                set("delete", key);
                vault.delete_key(key).ok().map(|_| Kind::Delete)
            }
            68..=77 => {
                set("recover", key);
                vault.recover_deleted_key(key).ok().map(|_| Kind::Recover)
            }
            _ => {
                // Disable or enable the current version or one a held handle names.
                let enabled = roll >= 88;
                set(if enabled { "enable" } else { "disable" }, key);
                let version = match held.iter().find(|h| h.name() == key) {
                    Some(h) if rng.chance(40) => Some(h.version().to_string()),
                    _ => vault.get_key(key, None).ok().map(|b| b.version),
                };
                version.and_then(|version| {
                    let update = KeyUpdate {
                        enabled: Some(enabled),
                        ..KeyUpdate::default()
                    };
                    // The stamp must cover only the update, not the lookup above.
                    let start = stamp();
                    let ok = vault.update_key(key, Some(&version), update).is_ok();
                    let end = stamp();
                    if ok {
                        events.push(start, end, key, Kind::SetEnabled { version, enabled });
                    }
                    None
                })
            }
        };
        let end = stamp();
        if let Some(kind) = kind {
            events.push(start, end, key, kind);
        }
    }
    set("finished", "-");
    events.list
}

fn versions_of(vault: &Vault, key: &str) -> Vec<String> {
    let versions = all_pages(|next| vault.list_versions(key, 25, next)).expect("list versions");
    versions.into_iter().map(|b| b.version).collect()
}

#[test]
fn eight_threads_on_four_keys_lose_nothing_and_never_sign_when_they_must_not() {
    let secs = usize_from_env("LOCALHSM_STRESS_SECS", 4) as u64;
    let threads = usize_from_env("LOCALHSM_STRESS_THREADS", 8).max(8);
    let grace = Duration::from_secs(usize_from_env("LOCALHSM_STRESS_GRACE_SECS", 60) as u64);
    let seed = seed_from_env("LOCALHSM_STRESS_SEED");
    println!("stress: {threads} threads, {secs} s, seed {seed}");
    let ts = TempStore::new();
    let vault = ts.vault("hsm", default_hsm());
    let mut initial: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for key in KEYS {
        let (kty, spec) = test_key_spec(key);
        let b = vault
            .create_key(key, kty, spec, KeyOptions::default())
            .expect("initial key");
        initial.insert(key, vec![b.version]);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let status: Arc<Vec<Mutex<Status>>> = Arc::new(
        (0..threads)
            .map(|_| {
                Mutex::new(Status {
                    call: "starting",
                    key: "-",
                    since: Instant::now(),
                    calls: 0,
                })
            })
            .collect(),
    );
    let started = Instant::now();
    let mut rng = Rng::new(seed);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (vault, stop, status) = (vault.clone(), stop.clone(), status.clone());
            let seed = rng.next_u64();
            std::thread::Builder::new()
                .name(format!("stress-{t}"))
                .spawn(move || worker(t, vault, seed, stop, status))
                .expect("spawn worker")
        })
        .collect();

    // The watchdog: the run must end within its time plus a grace period.
    let run = Duration::from_secs(secs);
    while started.elapsed() < run {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + grace;
    while !handles.iter().all(|h| h.is_finished()) {
        if Instant::now() > deadline {
            let now = Instant::now();
            let report: Vec<String> = status
                .iter()
                .enumerate()
                .map(|(t, s)| {
                    let s = s.lock().unwrap_or_else(|p| p.into_inner());
                    format!(
                        "  stress-{t}: in {}({}) for {:.1?}, after {} calls",
                        s.call,
                        s.key,
                        now - s.since,
                        s.calls
                    )
                })
                .collect();
            panic!(
                "deadlock or livelock: the workers did not stop within {grace:?} of the end of the run (seed {seed}):\n{}",
                report.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut events: Vec<Event> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("worker panicked"))
        .collect();
    events.sort_by_key(|e| e.start);
    let elapsed = started.elapsed();

    // Recover what is deleted and enable every version, to read everything back.
    for key in KEYS {
        let _ = vault.recover_deleted_key(key);
    }
    let mut failures = Vec::new();

    // 1. No version lost or duplicated; creates ordered as they happened.
    let mut listed: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for key in KEYS {
        let versions = versions_of(&vault, key);
        let unique: BTreeSet<&String> = versions.iter().collect();
        if unique.len() != versions.len() {
            failures.push(format!("{key}: duplicate versions in {versions:?}"));
        }
        let mut expected: BTreeSet<String> = initial[key].iter().cloned().collect();
        for e in events.iter().filter(|e| e.key == *key) {
            if let Kind::NewVersion { version, .. } = &e.kind {
                expected.insert(version.clone());
            }
        }
        let listed_set: BTreeSet<String> = versions.iter().cloned().collect();
        for lost in expected.difference(&listed_set) {
            failures.push(format!(
                "{key}: version {lost} was created and acknowledged, then lost"
            ));
        }
        for extra in listed_set.difference(&expected) {
            failures.push(format!(
                "{key}: version {extra} exists but no create returned it"
            ));
        }
        listed.insert(key, versions);
    }
    let creates: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e.kind, Kind::NewVersion { .. }))
        .collect();
    for a in &creates {
        for b in creates.iter().filter(|b| b.key == a.key && a.end < b.start) {
            let (Kind::NewVersion { version: va, .. }, Kind::NewVersion { version: vb, .. }) =
                (&a.kind, &b.kind)
            else {
                continue;
            };
            let pos = |v: &String| listed[a.key].iter().position(|x| x == v);
            if let (Some(pa), Some(pb)) = (pos(va), pos(vb)) {
                if pa > pb {
                    failures.push(format!(
                        "{}: version {va} (created first, thread {}) is listed after {vb} (thread {})",
                        a.key, a.thread, b.thread
                    ));
                }
            }
        }
    }

    // 2. No use of a deleted key, or of a disabled version, when nothing could have undone it.
    // It is enough to look at the latest such change that returned before the use began:
    // anything that could undo it could undo the earlier ones too.
    let uses: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e.kind, Kind::Use { .. }))
        .collect();
    let intervals = |f: &dyn Fn(&Event) -> bool| -> Vec<(u64, u64, usize)> {
        events
            .iter()
            .filter(|e| f(e))
            .map(|e| (e.start, e.end, e.thread))
            .collect()
    };
    let mut violations = |s: &Event,
                          what: &str,
                          undo: &str,
                          done: &[(u64, u64, usize)],
                          undone: &[(u64, u64, usize)]| {
        let Kind::Use { version, held, .. } = &s.kind else {
            return;
        };
        let Some(&(d_start, d_end, d_thread)) =
            done.iter().filter(|d| d.1 < s.start).max_by_key(|d| d.0)
        else {
            return;
        };
        if !undone.iter().any(|r| r.1 > d_start && r.0 < s.end) {
            failures.push(format!(
                "{}/{version}: a {} succeeded at [{}, {}] (thread {}) after a {what} returned at {d_end} (thread {d_thread}), with no {undo} in between",
                s.key,
                if *held { "use of a held handle" } else { "use of a fresh handle" },
                s.start,
                s.end,
                s.thread,
            ));
        }
    };
    for key in KEYS {
        let deletes = intervals(&|e| e.key == *key && matches!(e.kind, Kind::Delete));
        let recovers = intervals(&|e| e.key == *key && matches!(e.kind, Kind::Recover));
        let mut by_version: BTreeMap<&String, Vec<&Event>> = BTreeMap::new();
        for s in uses.iter().filter(|s| s.key == *key) {
            if let Kind::Use { version, .. } = &s.kind {
                by_version.entry(version).or_default().push(s);
            }
            violations(s, "delete", "recover", &deletes, &recovers);
        }
        for (version, list) in by_version {
            let setting = |on: bool| {
                intervals(&|e| {
                    e.key == *key
                        && matches!(&e.kind, Kind::SetEnabled { version: v, enabled } if v == version && *enabled == on)
                })
            };
            let (disables, enables) = (setting(false), setting(true));
            for s in list {
                violations(s, "disable", "enable", &disables, &enables);
            }
        }
    }

    // 3. Every signature verifies under its version's public key; every wrap unwraps.
    for key in KEYS {
        for v in &listed[key] {
            let update = KeyUpdate {
                enabled: Some(true),
                ..KeyUpdate::default()
            };
            vault.update_key(key, Some(v), update).expect("enable");
        }
    }
    let mut checked = 0;
    let mut publics: BTreeMap<(&str, &String), Option<PublicKey>> = BTreeMap::new();
    for s in &uses {
        let Kind::Use {
            version,
            proof: Some((input, output)),
            ..
        } = &s.kind
        else {
            continue;
        };
        let ok = if s.key.starts_with("ec-") {
            let public = publics.entry((s.key, version)).or_insert_with(|| {
                let bundle = vault.get_key(s.key, Some(version)).expect("bundle");
                PublicKey::from_jwk(&bundle.key).ok()
            });
            public
                .as_ref()
                .and_then(|k| {
                    k.verify_digest(SignatureAlgorithm::ES256, input, output)
                        .ok()
                })
                .unwrap_or(false)
        } else {
            vault
                .key(s.key, Some(version))
                .and_then(|h| h.unwrap_key(WrapAlgorithm::A256Kw, output))
                .is_ok_and(|k| k.expose() == input.as_slice())
        };
        checked += 1;
        if !ok {
            failures.push(format!(
                "{}/{version}: a result of thread {} does not verify under that version",
                s.key, s.thread
            ));
        }
    }

    let count = |f: fn(&Kind) -> bool| events.iter().filter(|e| f(&e.kind)).count();
    let calls: u64 = status
        .iter()
        .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).calls)
        .sum();
    println!(
        "stress: {calls} calls in {elapsed:.1?}; succeeded: {} new versions, {} signs/wraps ({} on held handles), {} deletes, {} recovers, {} enable/disable; {} results verified; versions now {:?}",
        count(|k| matches!(k, Kind::NewVersion { .. })),
        uses.len(),
        count(|k| matches!(k, Kind::Use { held: true, .. })),
        count(|k| matches!(k, Kind::Delete)),
        count(|k| matches!(k, Kind::Recover)),
        count(|k| matches!(k, Kind::SetEnabled { .. })),
        checked,
        listed.iter().map(|(k, v)| (*k, v.len())).collect::<BTreeMap<_, _>>()
    );
    assert!(
        failures.is_empty(),
        "seed {seed}: {} violations:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The run exercised the interesting interleavings at all.
    for (what, n) in [
        ("delete", count(|k| matches!(k, Kind::Delete))),
        ("recover", count(|k| matches!(k, Kind::Recover))),
        (
            "disable",
            count(|k| matches!(k, Kind::SetEnabled { enabled: false, .. })),
        ),
        (
            "use of a held handle",
            count(|k| matches!(k, Kind::Use { held: true, .. })),
        ),
        (
            "rotate",
            count(|k| matches!(k, Kind::NewVersion { rotate: true, .. })),
        ),
    ] {
        assert!(n > 0, "no successful {what} in the whole run");
    }
}
