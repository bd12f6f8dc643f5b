//! Tamper and rollback evidence (`store::integrity`): a store opens only as the state it last
//! acknowledged, and `store verify` / `store repair` report and salvage the rest.
//!
//! Guards against: a damaged database opening silently in an older state (a flipped byte in
//! sled's log made it truncate on recovery: keys gone, deleted keys live again), an emptied
//! or removed database opening as a new empty store, an old copy of `db/` put back being
//! served, a removed anchor going unnoticed, the server or a command running on any of
//! these; and a repair that brings deleted keys back live.
//!
//! The corruption trials flip one bit at a random offset of `db/db` (32 trials) and zero a
//! random 4 KiB page of it (8 trials), seeded (the seed and each failing trial's offset are
//! printed; `LOCALHSM_TAMPER_SEED` replays a run): every trial must be refused as damaged,
//! rolled back or lost, or open with exactly the acknowledged state.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use localhsm::error::IntegrityProblem;
use localhsm::{Error, MasterKeySource, Store};
use support::{
    all_pages, hsm, localhsm_command, oct_key, repo_path, seed_from_env, serve_command, Opener,
    Rng, MASTER, T0,
};

const VAULT: &str = "v";

fn master_hex() -> String {
    hex::encode(MASTER)
}

fn opener() -> Opener {
    Opener::new().at(T0)
}

/// What a vault holds: live key names and deleted key names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Keys {
    live: BTreeSet<String>,
    deleted: BTreeSet<String>,
}

fn keys_of(store: &Store) -> localhsm::Result<Keys> {
    let v = store.vault(VAULT)?;
    let live = all_pages(|c| v.list_keys(25, c))?;
    let deleted = all_pages(|c| v.list_deleted_keys(25, c))?;
    Ok(Keys {
        live: live.into_iter().map(|k| k.name).collect(),
        deleted: deleted.into_iter().map(|d| d.key.name).collect(),
    })
}

/// A store in `dir` with `live` keys and `deleted` soft-deleted ones, closed.
fn build(dir: &Path, live: usize, deleted: usize) -> Keys {
    let store = opener().open(dir);
    store.create_vault(VAULT, hsm(7, false)).expect("vault");
    let v = store.vault(VAULT).expect("vault");
    for i in 0..live + deleted {
        oct_key(&v, &format!("k{i:03}"));
    }
    for i in live..live + deleted {
        v.delete_key(&format!("k{i:03}")).expect("delete");
    }
    let keys = keys_of(&store).expect("keys");
    assert_eq!((keys.live.len(), keys.deleted.len()), (live, deleted));
    keys
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The problem a refused open names, or `None` when it opened.
fn problem(r: &localhsm::Result<Store>) -> Option<Result<IntegrityProblem, String>> {
    match r {
        Ok(_) => None,
        Err(Error::StoreIntegrity { problem, .. }) => Some(Ok(problem.clone())),
        Err(e) => Some(Err(format!("{e:?}"))),
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run localhsm")
}

fn localhsm(dir: &Path, args: &[&str]) -> Output {
    run(localhsm_command()
        .args(args)
        .arg("--data")
        .arg(dir)
        .env("LOCALHSM_MASTER_KEY", master_hex()))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `localhsm serve` on `dir`: it must exit by itself, nonzero, without ever listening.
/// Returns its standard error.
fn serve_refuses(dir: &Path) -> String {
    let mut child = serve_command(dir, &[("LOCALHSM_MASTER_KEY", &master_hex())])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            assert!(!status.success(), "serve exited 0 on a refused store");
            assert!(
                !text(&out.stdout).contains("listening"),
                "serve listened on a refused store: {}",
                text(&out.stdout)
            );
            return text(&out.stderr);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve kept running on a refused store");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn flipped_bits_and_zeroed_pages_are_refused_or_open_the_acknowledged_state() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let template = tmp.path().join("template");
    let acked = build(&template, 60, 20);
    let db_file = template.join("db").join("db");
    let len = std::fs::metadata(&db_file).expect("db/db").len();
    let seed = seed_from_env("LOCALHSM_TAMPER_SEED");
    println!("seed {seed} (LOCALHSM_TAMPER_SEED), db/db is {len} bytes");
    let mut rng = Rng::new(seed);
    let (mut refused, mut intact) = (0, 0);
    let mut failures = Vec::new();
    // 32 flips of one bit, then 8 zeroed 4 KiB pages.
    for trial in 0..40 {
        let zeroed = trial >= 32;
        let offset = if zeroed {
            rng.below(len.div_ceil(4096)) * 4096
        } else {
            rng.below(len)
        };
        let bit = 1u8 << rng.below(8);
        let dir = tmp.path().join(format!("trial-{trial}"));
        copy_dir(&template, &dir);
        let file = dir.join("db").join("db");
        let mut bytes = std::fs::read(&file).expect("read db");
        if zeroed {
            let end = (offset as usize + 4096).min(bytes.len());
            bytes[offset as usize..end].fill(0);
        } else {
            bytes[offset as usize] ^= bit;
        }
        std::fs::write(&file, &bytes).expect("write db");
        let opened = opener().try_open(&dir);
        match problem(&opened) {
            // A flip early in the log leaves the engine nothing it trusts: an empty
            // database, which the anchor shows is a loss.
            Some(Ok(
                IntegrityProblem::Damaged(_)
                | IntegrityProblem::RolledBack { .. }
                | IntegrityProblem::DatabaseLost { .. },
            )) => refused += 1,
            Some(other) => failures.push(format!(
                "trial {trial}: offset {offset} bit {bit:#04x}: refused with another error: \
                 {other:?}"
            )),
            None => {
                let store = opened.expect("opened");
                match keys_of(&store) {
                    Ok(k) if k == acked => intact += 1,
                    other => failures.push(format!(
                        "trial {trial}: offset {offset} bit {bit:#04x}: opened another state: \
                         {other:?}"
                    )),
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!("40 trials (32 flips, 8 zeroed pages): {refused} refused, {intact} opened intact");
    assert!(failures.is_empty(), "seed {seed}:\n{}", failures.join("\n"));
}

#[test]
fn lost_database_truncation_and_lost_anchor_are_each_refused_by_every_face() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let template = tmp.path().join("template");
    build(&template, 20, 5);
    let len = std::fs::metadata(template.join("db/db"))
        .expect("db/db")
        .len();
    type Damage = fn(&Path, u64);
    let cases: [(&str, Damage, &[&str]); 4] = [
        (
            "truncated",
            |d, len| {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(d.join("db/db"))
                    .expect("open");
                f.set_len(len / 2).expect("truncate");
            },
            &["is damaged", "was rolled back", "has lost its database"],
        ),
        (
            "emptied",
            |d, _| std::fs::write(d.join("db/db"), b"").expect("empty"),
            &["has lost its database"],
        ),
        (
            "db removed",
            |d, _| std::fs::remove_dir_all(d.join("db")).expect("remove db"),
            &["has lost its database"],
        ),
        (
            "anchor removed",
            |d, _| std::fs::remove_file(d.join("store.anchor")).expect("remove anchor"),
            &["has no store.anchor"],
        ),
    ];
    for (name, damage, expect) in cases {
        let dir = tmp.path().join(name.replace(' ', "-"));
        copy_dir(&template, &dir);
        damage(&dir, len);
        let had_db = dir.join("db").exists();
        let says = |s: &str| expect.iter().any(|e| s.contains(e));

        let r = opener().try_open(&dir);
        let message = r
            .as_ref()
            .err()
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(
            matches!(r, Err(Error::StoreIntegrity { .. })) && says(&message),
            "{name}: the library opened it or said something else: {:?}",
            r.map(|_| ())
        );
        assert!(
            message.contains("localhsm store restore"),
            "{name}: {message}"
        );

        let out = localhsm(&dir, &["key", "list"]);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{name}: key list exited 0");
        assert!(says(&stderr), "{name}: key list said: {stderr}");

        let stderr = serve_refuses(&dir);
        assert!(says(&stderr), "{name}: serve said: {stderr}");
        // Nothing was made in its place.
        assert_eq!(
            dir.join("db").exists(),
            had_db,
            "{name}: a database appeared"
        );
    }
}

#[test]
fn a_rolled_back_database_is_refused_and_repair_keeps_deleted_keys_deleted() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("store");
    build(&dir, 10, 2);
    let old_db = tmp.path().join("old-db");
    copy_dir(&dir.join("db"), &old_db);

    // After the copy: two new keys, three deletes (one then purged), one recovery.
    let store = opener().open(&dir);
    let v = store.vault(VAULT).expect("vault");
    for name in ["new-a", "new-b"] {
        oct_key(&v, name);
    }
    for name in ["k000", "k001", "k002"] {
        v.delete_key(name).expect("delete");
    }
    v.purge_deleted_key("k002").expect("purge");
    v.recover_deleted_key("k010").expect("recover");
    let acked = keys_of(&store).expect("keys");
    drop(v);
    drop(store);

    // The old copy of db/ put back.
    std::fs::remove_dir_all(dir.join("db")).expect("remove db");
    copy_dir(&old_db, &dir.join("db"));
    let r = opener().try_open(&dir);
    let Some(Ok(IntegrityProblem::RolledBack { commits, .. })) = problem(&r) else {
        panic!("expected a refusal as rolled back: {:?}", r.map(|_| ()));
    };
    assert!(commits >= 6, "{commits} commits");
    drop(r);

    let out = localhsm(&dir, &["store", "verify"]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "verify: {stdout}{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("was rolled back"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{commits} acknowledged commit(s) are not in the database"
        )),
        "{stdout}"
    );
    for name in ["k000", "k001", "k002"] {
        assert!(
            stdout.contains(&format!("key v/{name} (")),
            "{name}: {stdout}"
        );
    }

    let out = localhsm(&dir, &["store", "repair"]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "repair: {stdout}{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("lost: {commits} acknowledged commit(s)")),
        "{stdout}"
    );
    for name in ["k000", "k001", "k002"] {
        assert!(
            stdout.contains(&format!("soft-deleted key v/{name}")),
            "{stdout}"
        );
    }

    let store = opener().open(&dir);
    let now = keys_of(&store).expect("keys");
    // The keys deleted after the copy are not live (k002, purged, is soft-deleted: a repair
    // never purges); the keys created after it are lost; k010's recovery came after the
    // copy and is lost too, so it stays deleted as the copy had it.
    for name in ["k000", "k001", "k002"] {
        assert!(!now.live.contains(name), "{name} came back live");
        assert!(now.deleted.contains(name), "{name} is not soft-deleted");
    }
    for name in ["new-a", "new-b"] {
        assert!(!now.live.contains(name) && acked.live.contains(name));
    }
    let expected_live: BTreeSet<String> = (3..10).map(|i| format!("k{i:03}")).collect();
    assert_eq!(now.live, expected_live);
    drop(store);

    let out = localhsm(&dir, &["store", "verify"]);
    assert!(
        out.status.success(),
        "verify after repair: {}",
        text(&out.stdout)
    );
}

#[test]
fn verify_exit_codes_and_reports() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("store");
    build(&dir, 3, 1);
    let out = localhsm(&dir, &["store", "verify"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("all checks pass"), "{stdout}");
    let out = localhsm(&dir, &["--output", "json", "store", "verify"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["ok"], true);
    assert_eq!(report["records"]["deleted_keys"], 1);
    assert_eq!(report["databaseCommit"], report["anchorCommit"]);

    // A record edited outside a commit.
    {
        let db = support::raw_db(&dir);
        let keys = db.open_tree("keys").expect("tree");
        let (k, v) = keys.iter().next().expect("a key").expect("read");
        let mut v = v.to_vec();
        v.push(b' ');
        keys.insert(k, v).expect("edit");
        db.flush().expect("flush");
    }
    let mut out = localhsm(&dir, &["store", "verify"]);
    for _ in 0..50 {
        if !text(&out.stderr).contains("in use") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        out = localhsm(&dir, &["store", "verify"]);
    }
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("do not match the digest of its last commit"),
        "{stdout}"
    );
    let out = localhsm(&dir, &["--output", "json", "store", "verify"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["ok"], false);
}

#[test]
fn a_v1_store_migrates_once_and_its_old_copy_is_then_a_rollback() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("store");
    copy_dir(&repo_path("tests/fixtures/store-v1"), &dir);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.join("master.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod");
    }
    let v1_db = tmp.path().join("v1-db");
    copy_dir(&dir.join("db"), &v1_db);
    let key_file = Opener::source(|| MasterKeySource::KeyFile);
    let store = key_file.open(&dir);
    assert!(!store.list_vaults().expect("vaults").is_empty());
    drop(store);
    assert!(
        dir.join("store.anchor").exists(),
        "migration wrote the anchor"
    );
    let report = loop {
        match localhsm::repair::verify(&dir, MasterKeySource::KeyFile) {
            Err(Error::StoreLocked { .. }) => std::thread::sleep(Duration::from_millis(20)),
            r => break r.expect("verify"),
        }
    };
    assert!(report.is_clean(), "{report:?}");
    // Opens again without migrating (the same commit).
    let before = report.integrity.counter;
    drop(key_file.open(&dir));
    // The schema-1 copy put back is older than the anchor.
    std::fs::remove_dir_all(dir.join("db")).expect("remove db");
    copy_dir(&v1_db, &dir.join("db"));
    let r = key_file.try_open(&dir);
    assert!(
        matches!(
            problem(&r),
            Some(Ok(IntegrityProblem::RolledBack { found: 0, .. }))
        ),
        "{:?}",
        r.map(|_| ())
    );
    assert!(before >= 2);
}

#[test]
fn a_lost_database_becomes_a_new_store_only_when_asked() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("store");
    build(&dir, 2, 0);
    std::fs::remove_dir_all(dir.join("db")).expect("remove db");
    let out = localhsm(&dir, &["store", "repair"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--accept-loss"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.join("db").exists());
    let out = localhsm(&dir, &["store", "repair", "--accept-loss"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("new, empty store"));
    let store = opener().open(&dir);
    assert!(store.list_vaults().expect("vaults").is_empty());
    drop(store);
    assert!(localhsm(&dir, &["store", "verify"]).status.success());
}
