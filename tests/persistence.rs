//! Storage: what is on disk, and what happens when it is reopened, damaged or shared.
//!
//! Guards against: state lost or altered across close and reopen (vaults, keys, versions, tags,
//! attributes, deleted keys with their dates, deleted vaults) or across a crash right after an
//! acknowledged write; private key material reaching the data directory in the clear (raw, hex,
//! base64 or base64url); the master key file being readable by others; a wrong master key, a
//! damaged or moved sealed record, or a store of another schema being read as garbage or
//! panicking instead of failing clearly (`WrongMasterKey`, `UnsupportedSchema`; a record
//! edited outside a commit refuses the whole store at open, and `store verify` names it);
//! two processes opening one store at once instead of `StoreLocked`.
//!
//! The damage tests edit the sled trees directly (see `src/lifecycle/records.rs`) while the store
//! is closed. The lock and crash tests run a child copy of this test binary.

mod support;

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use localhsm::crypto::{
    AesParams, CurveName, EncryptionAlgorithm, Jwk, KeyOperation, KeyType, SignatureAlgorithm,
    WrapAlgorithm,
};
use localhsm::model::{KeyOptions, KeyUpdate};
use localhsm::store::{KEY_FILE_NAME, SCHEMA_VERSION};
use localhsm::{Error, KeySpec, MasterKeySource};
use support::{
    ec_key, ec_key_with, hsm, oct_key, raw_db, snapshot, tags, vault_snapshot, vector_jwk, Opener,
    TempStore, DAY, T0,
};

/// A store with the default master key on a clock at `t`, for the child processes.
fn opener(t: u64) -> Opener {
    Opener::new().at(t)
}

// ---------------------------------------------------------------------------------------------
// Close and reopen
// ---------------------------------------------------------------------------------------------

#[test]
fn reopen_keeps_everything() {
    let ts = TempStore::new();
    let (store, clock) = (&ts.store, &ts.clock);
    let a = ts.vault("alpha", hsm(90, false));
    let b = ts.vault("beta", hsm(7, true));
    let c = ts.vault("gamma", hsm(30, false));

    // Several versions with different attributes, tags and key_ops.
    let options = KeyOptions {
        tags: tags(&[("env", "test"), ("owner", "a")]),
        ..Default::default()
    };
    ec_key_with(&a, "signer", options);
    let v2 = a
        .create_key(
            "signer",
            KeyType::Ec,
            KeySpec::Ec(CurveName::P384),
            KeyOptions {
                enabled: Some(false),
                not_before: Some(T0 - DAY),
                expires: Some(T0 + 300 * DAY),
                exportable: true,
                release_policy: release_policy(),
                key_ops: Some(vec![KeyOperation::Verify]),
                ..Default::default()
            },
        )
        .unwrap()
        .version;
    ec_key(&a, "signer");
    a.update_key(
        "signer",
        Some(&v2),
        KeyUpdate {
            tags: Some(tags(&[("updated", "yes")])),
            ..Default::default()
        },
    )
    .unwrap();
    a.create_key(
        "aes",
        KeyType::OctHsm,
        KeySpec::Oct(256),
        KeyOptions::default(),
    )
    .unwrap();
    a.import_key(
        "imported",
        &vector_jwk("ecdsa.json", "ec-p256"),
        false,
        KeyOptions::default(),
    )
    .unwrap();
    b.create_key(
        "gone",
        KeyType::OctHsm,
        KeySpec::Oct(128),
        KeyOptions::default(),
    )
    .unwrap();
    b.create_key(
        "stay",
        KeyType::EcHsm,
        KeySpec::Ec(CurveName::P521),
        KeyOptions::default(),
    )
    .unwrap();
    // A deleted key and a deleted vault, later than the rest.
    let t1 = T0 + 3600;
    clock.set(t1);
    b.delete_key("gone").unwrap();
    c.create_key(
        "in-gamma",
        KeyType::Ec,
        KeySpec::Ec(CurveName::P256K),
        KeyOptions::default(),
    )
    .unwrap();
    let gamma_before = vault_snapshot(&c);
    store.delete_vault("gamma").unwrap();

    // A signature and a wrapped key made now must work with the reopened material.
    let digest = [9u8; 32];
    let sig = a
        .key("imported", None)
        .unwrap()
        .sign(SignatureAlgorithm::ES256, &digest)
        .unwrap();
    let wrapped = a
        .key("aes", None)
        .unwrap()
        .wrap_key(WrapAlgorithm::A256Kw, &[5u8; 32])
        .unwrap();

    let before = snapshot(store);
    assert!(before.contains("signer") && before.contains("gone") && before.contains("gamma"));
    // Every clone of the store (vaults hold one) must go for the database to close.
    drop((a, b, c));

    let ts = ts.reopen(t1);
    let store = &ts.store;
    assert_eq!(snapshot(store), before);
    let a = store.vault("alpha").unwrap();
    assert!(a
        .key("imported", None)
        .unwrap()
        .verify(SignatureAlgorithm::ES256, &digest, &sig)
        .unwrap());
    assert_eq!(
        a.key("aes", None)
            .unwrap()
            .unwrap_key(WrapAlgorithm::A256Kw, &wrapped)
            .unwrap()
            .expose(),
        &[5u8; 32]
    );
    let gone = store
        .vault("beta")
        .unwrap()
        .get_deleted_key("gone")
        .unwrap();
    assert_eq!(gone.deletion.deleted_date, t1);
    assert_eq!(gone.deletion.scheduled_purge_date, t1 + 7 * DAY);
    let gamma = store.vault_info("gamma").unwrap();
    assert_eq!(gamma.deleted_date, Some(t1));
    assert_eq!(gamma.scheduled_purge_date, Some(t1 + 30 * DAY));
    store.recover_vault("gamma").unwrap();
    assert_eq!(vault_snapshot(&store.vault("gamma").unwrap()), gamma_before);
}

// ---------------------------------------------------------------------------------------------
// No private material in the clear
// ---------------------------------------------------------------------------------------------

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The ways a secret could be spelled on disk.
fn spellings(secret: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("raw", secret.to_vec()),
        (
            "raw first 16 bytes",
            secret[..16.min(secret.len())].to_vec(),
        ),
        ("hex", hex::encode(secret).into_bytes()),
        ("HEX", hex::encode_upper(secret).into_bytes()),
        ("base64", STANDARD.encode(secret).into_bytes()),
        (
            "base64 unpadded",
            STANDARD_NO_PAD.encode(secret).into_bytes(),
        ),
        ("base64url padded", URL_SAFE.encode(secret).into_bytes()),
        ("base64url", URL_SAFE_NO_PAD.encode(secret).into_bytes()),
    ]
}

#[test]
fn imported_private_keys_never_reach_disk_in_the_clear() {
    let ts = TempStore::new();
    let v = ts.vault("vault", hsm(7, false));
    let rsa = vector_jwk("rsa-oaep.json", "rsa-2048");
    let ec = vector_jwk("ecdsa.json", "ec-p256");
    let oct = vector_jwk("aes-kw.json", "kek-256");
    let secret =
        |m: &Option<localhsm::crypto::SecretBase64Url>| m.as_ref().unwrap().0.expose().to_vec();
    let secrets = vec![
        ("rsa d", secret(&rsa.d)),
        ("rsa p", secret(&rsa.p)),
        ("rsa q", secret(&rsa.q)),
        ("rsa dp", secret(&rsa.dp)),
        ("rsa dq", secret(&rsa.dq)),
        ("rsa qi", secret(&rsa.qi)),
        ("ec d", secret(&ec.d)),
        ("oct k", secret(&oct.k)),
    ];
    assert_eq!(secrets[7].1.len(), 32);
    let public_x = URL_SAFE_NO_PAD.encode(&ec.x.as_ref().unwrap().0);

    // Import, add versions, export-protect, back up and restore (which re-seals), delete and
    // recover: every path that writes material.
    for (name, jwk) in [("rsa", rsa), ("ec", ec), ("oct", oct)] {
        let b = v
            .import_key(name, &jwk, true, KeyOptions::default())
            .unwrap();
        assert!(
            b.key.d.is_none() && b.key.k.is_none(),
            "{name}: bundle leaks"
        );
        let again: Jwk = serde_json::from_value(serde_json::to_value(&jwk).unwrap()).unwrap();
        v.import_key(name, &again, false, KeyOptions::default())
            .unwrap();
        let blob = v.backup_key(name).unwrap();
        for (what, s) in &secrets {
            for (how, needle) in spellings(s) {
                assert!(!contains(&blob, &needle), "{what} {how} in a backup blob");
            }
        }
        v.delete_key(name).unwrap();
        v.purge_deleted_key(name).unwrap();
        v.restore_key(&blob).unwrap();
        v.delete_key(name).unwrap();
        v.recover_deleted_key(name).unwrap();
    }
    // The keys work, so the material went somewhere.
    let h = v.key("ec", None).unwrap();
    let sig = h.sign(SignatureAlgorithm::ES256, &[1u8; 32]).unwrap();
    assert!(h
        .verify(SignatureAlgorithm::ES256, &[1u8; 32], &sig)
        .unwrap());
    let ct = v
        .key("rsa", None)
        .unwrap()
        .encrypt(EncryptionAlgorithm::RsaOaep256, b"x", AesParams::default())
        .unwrap();
    assert_eq!(
        v.key("rsa", None)
            .unwrap()
            .decrypt(
                EncryptionAlgorithm::RsaOaep256,
                &ct.ciphertext,
                AesParams::default()
            )
            .unwrap()
            .expose(),
        b"x"
    );
    drop((h, v));
    let dir = ts.close();

    let mut files = Vec::new();
    files_under(dir.path(), &mut files);
    let mut all = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for (what, s) in &secrets {
            for (how, needle) in spellings(s) {
                assert!(
                    !contains(&bytes, &needle),
                    "{what} found {how} in {}",
                    f.display()
                );
            }
        }
        all.extend(bytes);
    }
    // Positive control: the scan does see the data (public parts are stored in the clear).
    assert!(
        contains(&all, public_x.as_bytes()),
        "the scan never saw the public key; is it reading the store's files?"
    );
}

// ---------------------------------------------------------------------------------------------
// Master key
// ---------------------------------------------------------------------------------------------

#[cfg(unix)]
#[test]
fn master_key_file_is_created_private_and_guarded() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key_file_store = Opener::source(|| MasterKeySource::KeyFile).at(T0);
    let store = key_file_store.open(&data);
    let v = support::create_vault(&store, "vault", hsm(7, false));
    let version = oct_key(&v, "k");
    drop(v);
    drop(store);
    let key_file = data.join(KEY_FILE_NAME);
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "master key file mode {mode:o}");
    let dir_mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode & 0o077, 0, "data directory mode {dir_mode:o}");
    let text = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(text.trim().len(), 64, "a hex key");

    // The same file opens the store again.
    let store = key_file_store.open(&data);
    let v = store.vault("vault").unwrap();
    assert_eq!(v.key("k", None).unwrap().version(), version);
    drop(v);
    drop(store);

    // A key file others can read is refused, not used.
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    match key_file_store.try_open(&data) {
        Err(Error::MasterKey(msg)) => assert!(!msg.contains(text.trim()), "message leaks the key"),
        other => panic!("expected MasterKey, got {other:?}"),
    }
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();

    // Another valid key in the file is a wrong master key, reported as such.
    std::fs::write(&key_file, format!("{}\n", "ab".repeat(32))).unwrap();
    assert!(matches!(
        key_file_store.try_open(&data),
        Err(Error::WrongMasterKey)
    ));
}

#[test]
fn wrong_master_key_fails_at_open() {
    let ts = TempStore::new();
    oct_key(&ts.vault("vault", hsm(7, false)), "k");
    let dir = ts.close();
    for wrong in [0x34, 0x00, 0xff] {
        match Opener::key([wrong; 32]).try_open(dir.path()) {
            Err(e @ Error::WrongMasterKey) => assert_eq!(e.wire().status, 500),
            other => panic!("expected WrongMasterKey, got {other:?}"),
        }
    }
    // A failed open leaves the store intact and unlocked.
    let store = opener(T0).open(dir.path());
    assert!(store.vault("vault").unwrap().key("k", None).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Damage on disk
// ---------------------------------------------------------------------------------------------

/// Edits the `sealed` member of a version record directly in sled, with the store closed.
fn edit_sealed(dir: &Path, vid: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let db = raw_db(dir);
    let versions = db.open_tree("versions").unwrap();
    let raw = versions
        .get(vid.as_bytes())
        .unwrap()
        .expect("version record");
    let mut record: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    edit(&mut record);
    versions
        .insert(vid.as_bytes(), serde_json::to_vec(&record).unwrap())
        .unwrap();
    db.flush().unwrap();
}

fn sealed_bytes(record: &serde_json::Value) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(record["sealed"].as_str().expect("sealed is a string"))
        .expect("base64url")
}

#[test]
fn tampered_or_moved_sealed_record_is_corrupt() {
    let ts = TempStore::new();
    let v = ts.vault("vault", hsm(7, false));
    let [a, b, c, d] = ["a", "b", "c", "d"].map(|name| ec_key(&v, name));
    drop(v);
    let dir = ts.close();

    // a: one bit flipped in the ciphertext.
    edit_sealed(dir.path(), &format!("vault/a/{a}"), |r| {
        let mut s = sealed_bytes(r);
        let i = s.len() / 2;
        s[i] ^= 0x01;
        r["sealed"] = URL_SAFE_NO_PAD.encode(&s).into();
    });
    // b: c's sealed material moved into b's record (same type, valid under the same key).
    let c_sealed = {
        let db = raw_db(dir.path());
        let raw = db
            .open_tree("versions")
            .unwrap()
            .get(format!("vault/c/{c}"))
            .unwrap()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&raw).unwrap()["sealed"].clone()
    };
    edit_sealed(dir.path(), &format!("vault/b/{b}"), |r| {
        r["sealed"] = c_sealed
    });
    // d: truncated to less than a nonce and tag.
    edit_sealed(dir.path(), &format!("vault/d/{d}"), |r| {
        let s = sealed_bytes(r);
        r["sealed"] = URL_SAFE_NO_PAD.encode(&s[..10]).into();
    });

    // Records changed outside a commit: the store refuses to open rather than serve them.
    assert_refused_as_damaged(opener(T0).try_open(dir.path()));
    // `store verify` names exactly the damaged versions (and the keys that name them).
    let report = verify_retrying(dir.path());
    let mut bad: Vec<String> = report
        .bad_records
        .iter()
        .filter(|b| b.table == "versions")
        .map(|b| b.key.clone())
        .collect();
    bad.sort();
    assert_eq!(
        bad,
        vec![
            format!("vault/a/{a}"),
            format!("vault/b/{b}"),
            format!("vault/d/{d}")
        ]
    );
    // `store repair` drops them; the undamaged key is unaffected and signs.
    let repaired = localhsm::repair::repair(dir.path(), master, false).expect("repair");
    assert!(repaired.dropped.len() >= 3, "{:?}", repaired.dropped);
    let store = opener(T0).open(dir.path());
    let v = store.vault("vault").unwrap();
    let h = v.key("c", None).unwrap();
    assert!(h.sign(SignatureAlgorithm::ES256, &[2u8; 32]).is_ok());
    let names: Vec<String> = v
        .list_keys(10, None)
        .unwrap()
        .items
        .iter()
        .map(|k| k.name.clone())
        .collect();
    assert_eq!(names, vec!["c".to_string()]);
}

fn master() -> MasterKeySource {
    MasterKeySource::Bytes(localhsm::crypto::SecretBytes::new(support::MASTER.to_vec()))
}

fn assert_refused_as_damaged<T: std::fmt::Debug>(r: Result<T, Error>) {
    match r {
        Err(Error::StoreIntegrity {
            problem: localhsm::error::IntegrityProblem::Damaged(_),
            ..
        }) => {}
        other => panic!("expected a refusal as damaged, got {other:?}"),
    }
}

/// `store verify`, retried while sled still holds the lock of a store just closed.
fn verify_retrying(dir: &Path) -> localhsm::repair::VerifyReport {
    for _ in 0..100 {
        match localhsm::repair::verify(dir, master()) {
            Err(Error::StoreLocked { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            r => return r.expect("verify"),
        }
    }
    panic!("the store stayed locked");
}

#[test]
fn undecodable_version_record_is_corrupt() {
    let ts = TempStore::new();
    let version = oct_key(&ts.vault("vault", hsm(7, false)), "k");
    let dir = ts.close();
    edit_sealed(dir.path(), &format!("vault/k/{version}"), |r| {
        r["sealed"] = "not base64url!".into()
    });
    assert_refused_as_damaged(opener(T0).try_open(dir.path()));
    let report = verify_retrying(dir.path());
    assert!(!report.is_clean());
    assert!(
        report
            .bad_records
            .iter()
            .any(|b| b.key == format!("vault/k/{version}") && b.why == "does not decode"),
        "{:?}",
        report.bad_records
    );
}

#[test]
fn another_schema_version_is_refused() {
    let dir = TempStore::new().close();
    let set_schema = |stored: &[u8]| {
        let db = raw_db(dir.path());
        db.open_tree("meta")
            .unwrap()
            .insert("schema", stored)
            .unwrap();
        db.flush().unwrap();
    };
    for (stored, found) in [
        (
            (SCHEMA_VERSION + 1).to_be_bytes().to_vec(),
            SCHEMA_VERSION + 1,
        ),
        (0u32.to_be_bytes().to_vec(), 0),
        (b"garbage".to_vec(), 0),
    ] {
        set_schema(&stored);
        match opener(T0).try_open(dir.path()) {
            Err(
                e @ Error::UnsupportedSchema {
                    found: f,
                    supported,
                    ..
                },
            ) => {
                assert_eq!((f, supported), (found, SCHEMA_VERSION));
                assert!(e.to_string().contains("schema version"), "{e}");
            }
            other => panic!("expected UnsupportedSchema, got {other:?}"),
        }
    }
    // Put back, the store opens again.
    set_schema(&SCHEMA_VERSION.to_be_bytes());
    opener(T0).open(dir.path());
}

// ---------------------------------------------------------------------------------------------
// One store, two openers; crash after an acknowledged write
// ---------------------------------------------------------------------------------------------

const CHILD_ENV: &str = "LOCALHSM_TEST_CHILD";

/// Runs this test binary again as a child running only `test` with `CHILD_ENV=mode:dir`.
fn child(test: &str, mode: &str, dir: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, format!("{mode}:{}", dir.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child")
}

/// Reads the child's stdout up to the line `marker`, returning the lines before it.
fn read_until(out: &mut impl BufRead, marker: &str) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            panic!("child ended before {marker}; it said {lines:?}");
        }
        let line = line.trim_end().to_string();
        // libtest may have written "test child_process ... " on the same line.
        if line.ends_with(marker) {
            return lines;
        }
        lines.push(line);
    }
}

/// The child side of the lock and crash tests; does nothing in a normal run.
#[test]
fn child_process() {
    let Ok(arg) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (mode, dir) = arg.split_once(':').unwrap();
    let dir = Path::new(dir);
    // End the line libtest started ("test child_process ... "), so ours stand alone.
    println!();
    // Never outlive a parent that went away: give up after a minute.
    std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_secs(60));
        std::process::exit(3);
    });
    match mode {
        "hold" => {
            let store = opener(T0).open(dir);
            println!("CHILD-READY");
            // Hold the store until the parent closes stdin.
            let mut sink = String::new();
            let _ = std::io::stdin().read_line(&mut sink);
            drop(store);
        }
        "crash" => {
            let store = opener(T0 + 10).open(dir);
            let v = support::create_vault(&store, "crashy", hsm(7, true));
            for i in 0..5 {
                let b = v
                    .create_key(
                        &format!("k{i}"),
                        KeyType::OctHsm,
                        KeySpec::Oct(256),
                        KeyOptions {
                            tags: tags(&[("i", &i.to_string())]),
                            ..Default::default()
                        },
                    )
                    .unwrap();
                println!("created k{i} {}", b.version);
            }
            v.update_key(
                "k1",
                None,
                KeyUpdate {
                    enabled: Some(false),
                    ..Default::default()
                },
            )
            .unwrap();
            println!("disabled k1");
            v.delete_key("k2").unwrap();
            println!("deleted k2");
            println!("CHILD-READY");
            std::io::stdout().flush().unwrap();
            // Die without dropping anything: no destructors, no final flush.
            std::process::abort();
        }
        other => panic!("unknown child mode {other}"),
    }
}

#[test]
fn second_open_is_store_locked() {
    let ts = TempStore::new();
    ts.vault("vault", hsm(7, false));

    // In the same process.
    match opener(T0).open_once(ts.path()) {
        Err(e @ Error::StoreLocked { .. }) => {
            assert!(e.to_string().contains("in use"), "{e}");
        }
        other => panic!("expected StoreLocked, got {other:?}"),
    }
    let dir = ts.close();
    // In another process, while that one holds it...
    let mut holder = child("child_process", "hold", dir.path());
    let mut out = BufReader::new(holder.stdout.take().unwrap());
    read_until(&mut out, "CHILD-READY");
    match opener(T0).open_once(dir.path()) {
        Err(Error::StoreLocked { .. }) => {}
        other => panic!("expected StoreLocked while another process holds it, got {other:?}"),
    }
    // ...and free again once it lets go.
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    let store = opener(T0).open(dir.path());
    assert!(store.vault("vault").is_ok());
}

#[test]
fn acknowledged_writes_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut crashing = child("child_process", "crash", dir.path());
    let mut out = BufReader::new(crashing.stdout.take().unwrap());
    let said = read_until(&mut out, "CHILD-READY");
    let status = crashing.wait().unwrap();
    assert!(!status.success(), "the child was meant to abort");

    let store = opener(T0).open(dir.path());
    // The time the child acted at survives too.
    assert_eq!(store.now(), T0 + 10);
    let v = store.vault("crashy").unwrap();
    assert!(v.info().unwrap().purge_protection);
    for line in &said {
        if let Some(rest) = line.strip_prefix("created ") {
            let (name, version) = rest.split_once(' ').unwrap();
            if name == "k2" {
                let d = v.get_deleted_key(name).unwrap();
                assert_eq!(d.key.version, version);
                assert_eq!(d.deletion.scheduled_purge_date, T0 + 10 + 7 * DAY);
                continue;
            }
            let b = v.get_key(name, None).unwrap();
            assert_eq!(b.version, version, "{name}");
            assert_eq!(b.tags["i"], name[1..]);
            assert_eq!(b.attributes.enabled, name != "k1", "{name}");
            assert!(v.key(name, None).is_ok(), "{name}: material");
        }
    }
    let acknowledged = said
        .iter()
        .filter(|l| {
            l.starts_with("created ") || l.starts_with("disabled ") || l.starts_with("deleted ")
        })
        .count();
    assert_eq!(acknowledged, 7, "{said:?}");
}

/// A release policy for an exportable key (Key Vault requires one).
fn release_policy() -> Option<localhsm::model::key_policies::KeyReleasePolicy> {
    Some(localhsm::model::key_policies::KeyReleasePolicy {
        content_type: localhsm::model::key_policies::DEFAULT_RELEASE_CONTENT_TYPE.into(),
        data: localhsm::crypto::Base64Url(br#"{"anyOf":[],"version":"1.0.0"}"#.to_vec()),
        immutable: false,
    })
}
