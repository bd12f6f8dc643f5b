//! `localhsm store backup` and `localhsm store restore`: a sealed copy of the whole store,
//! made while the server serves and writes, and a restore from it.
//!
//! Guards against: a backup that is not one point in time (a key half in it, or a later
//! write in it while an earlier one is missing), a backup that shows what it holds, a
//! restore that accepts a wrong master key or a damaged, cut-short, reordered, spliced or
//! newer file, or that changes the target before the whole file is checked; deleted objects
//! coming back live or with other purge dates; a store in use being replaced; and the route
//! open to callers who are not administrators when access control is on.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use localhsm::crypto::{SecretBytes, SignatureAlgorithm};
use localhsm::{AccessPolicy, Error, MasterKeySource, Store};
use serde_json::{json, Value};
use support::{create_vault, ec_key, hsm, http, localhsm_at, raw_db, Api, Opener, Server, MASTER};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .expect("base64url")
}

fn master() -> MasterKeySource {
    MasterKeySource::Bytes(SecretBytes::new(MASTER.to_vec()))
}

/// Whether `sig` (r || s) is an ES256 signature of `digest` by the P-256 key (`x`, `y`).
fn verifies(x: &str, y: &str, digest: &[u8; 32], sig: &[u8]) -> bool {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let (x, y) = (unb64(x), unb64(y));
    let point = p256::EncodedPoint::from_affine_coordinates(
        p256::FieldBytes::from_slice(&x),
        p256::FieldBytes::from_slice(&y),
        false,
    );
    let key = p256::ecdsa::VerifyingKey::from_encoded_point(&point).expect("a P-256 point");
    let sig = p256::ecdsa::Signature::from_slice(sig).expect("r || s");
    key.verify_prehash(digest, &sig).is_ok()
}

/// Signs `digest` with the current version of `name` in the default vault of `store`.
fn sign(store: &Store, name: &str, digest: &[u8; 32]) -> Vec<u8> {
    store
        .vault("default")
        .and_then(|v| v.key(name, None))
        .and_then(|h| h.sign(SignatureAlgorithm::ES256, digest))
        .unwrap_or_else(|e| panic!("sign with {name}: {e}"))
}

/// Records of one table: key and value.
type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// Every record of the closed store in `dir`, by table. `meta` keeps only the records that
/// describe the data (the clock's high-water mark and the passphrase salt), not those each
/// store writes for itself (its schema, master key check and integrity bookkeeping).
fn records(dir: &Path) -> BTreeMap<String, Rows> {
    let db = raw_db(dir);
    let mut out = BTreeMap::new();
    for name in db.tree_names() {
        let name = String::from_utf8_lossy(&name).into_owned();
        if name.starts_with("__sled") {
            continue;
        }
        let tree = db.open_tree(&name).expect("tree");
        let rows: Vec<_> = tree
            .iter()
            .map(|r| r.expect("record"))
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .filter(|(k, _)| name != "meta" || k == b"time" || k == b"salt")
            .collect();
        out.insert(name, rows);
    }
    out
}

/// Every file under `dir` with a digest of its contents, to show a directory is untouched.
fn tree_digest(dir: &Path) -> BTreeMap<String, u64> {
    use std::hash::{Hash, Hasher};
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let path = e.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&path).expect("read").hash(&mut h);
                out.insert(path.display().to_string(), h.finish());
            }
        }
    }
    out
}

/// The store-level error a restore of `file` into `dir` gives, as its message.
fn refused(dir: &Path, file: &[u8], key: MasterKeySource, force: bool) -> String {
    match Store::restore(dir, file, key, force) {
        Err(e @ Error::StoreBackup { .. }) => e.to_string(),
        Err(e) => panic!("refused with another error: {e}"),
        Ok(r) => panic!("restored: {r:?}"),
    }
}

/// The chunks of a backup file (see `src/store/gate.rs`): where the header ends, and each
/// chunk's bytes.
fn chunks(file: &[u8]) -> (usize, Vec<&[u8]>) {
    let short = |at: usize| usize::from(u16::from_be_bytes([file[at], file[at + 1]]));
    let mut at = b"localhsm store backup\n".len() + 2 + 4 + 16;
    at += 2 + short(at);
    at += 2 + short(at);
    let header = at;
    let mut out = Vec::new();
    while at < file.len() {
        let len = u32::from_be_bytes(file[at + 1..at + 5].try_into().unwrap()) as usize;
        out.push(&file[at..at + 5 + len]);
        at += 5 + len;
    }
    (header, out)
}

#[test]
fn a_restore_brings_back_every_record_and_deleted_objects_stay_deleted() {
    let api = Api::new();
    let created = api.ok(
        "POST",
        "/keys/signer/create",
        Some(json!({"kty": "EC-HSM", "crv": "P-256"})),
    );
    api.ok(
        "POST",
        "/keys/gone/create",
        Some(json!({"kty": "EC-HSM", "crv": "P-256"})),
    );
    let gone = api.ok("DELETE", "/keys/gone", None);
    let r = api.raw(
        "POST",
        "localhost",
        "/management/vaults",
        json!({"name": "kv", "kind": "vault", "purgeProtection": true, "retentionDays": 7})
            .to_string()
            .into_bytes(),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let put = |name: &str, value: &str| {
        let r = api.kv_at(
            "PUT",
            "kv.localhost",
            &format!("/secrets/{name}"),
            Some(json!({"value": value})),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    };
    put("kept", "a value that stays");
    put("pw", "a value that is deleted");
    let pw = api
        .kv_at("DELETE", "kv.localhost", "/secrets/pw", None)
        .json;
    let assignment = api.raw(
        "PUT",
        "localhost",
        "/providers/Microsoft.Authorization/roleAssignments/0e4f3c3a-5b8f-4b1e-9d1c-2a7e3c1b9f00?api-version=7.5",
        json!({"properties": {
            "roleDefinitionId": "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b",
            "principalId": "11111111-2222-3333-4444-555555555555"
        }})
        .to_string()
        .into_bytes(),
    );
    assert!(
        (200..300).contains(&assignment.status),
        "{}",
        String::from_utf8_lossy(&assignment.body)
    );

    // Through the management route, as the CLI asks a running server.
    let reply = api.raw("GET", "localhost", "/management/store/backup", Vec::new());
    assert_eq!(reply.status, 200);
    let file = reply.body;
    // Closed, so its database can be read directly.
    let Api {
        store,
        dir,
        app,
        rt,
        clock,
    } = api;
    drop((store, app, rt, clock));
    let before = records(dir.path());
    assert!(before["keys"].len() == 1 && before["deleted_keys"].len() == 1);
    assert!(before["role_assignments"].len() == 1 && before["deleted_secrets"].len() == 1);

    let target = tempfile::tempdir().unwrap();
    let restored_dir = target.path().join("restored");
    let report = Store::restore(&restored_dir, &file, master(), false).expect("restore");
    assert!(!report.replaced);
    assert_eq!(report.vaults, ["default", "kv"]);
    #[cfg(unix)]
    assert_eq!(
        mode(&restored_dir),
        0o700,
        "a new data directory is its owner's"
    );
    assert_eq!(records(&restored_dir), before, "every record, as it was");

    let restored = Api::serve(
        Opener::new().open(&restored_dir),
        tempfile::tempdir().unwrap(),
    );
    let key = restored.ok("GET", "/keys/signer", None);
    assert_eq!(key["key"], created["key"]);
    let digest = [7u8; 32];
    let sig = sign(&restored.store, "signer", &digest);
    let (x, y) = (
        created["key"]["x"].as_str().unwrap(),
        created["key"]["y"].as_str().unwrap(),
    );
    assert!(verifies(x, y, &digest, &sig), "signs as the original key");
    // Deleted objects are deleted still, with the dates they had.
    assert_eq!(restored.kv("GET", "/keys/gone", None).status, 404);
    let deleted = restored.ok("GET", "/deletedkeys/gone", None);
    assert_eq!(deleted["scheduledPurgeDate"], gone["scheduledPurgeDate"]);
    assert_eq!(deleted["deletedDate"], gone["deletedDate"]);
    let deleted = restored.kv_at("GET", "kv.localhost", "/deletedsecrets/pw", None);
    assert_eq!(deleted.json["scheduledPurgeDate"], pw["scheduledPurgeDate"]);
    let kept = restored.kv_at("GET", "kv.localhost", "/secrets/kept", None);
    assert_eq!(kept.json["value"], "a value that stays");
    let vault = restored.raw("GET", "localhost", "/management/vaults/kv", Vec::new());
    assert_eq!(vault.json["purgeProtection"], true);
}

#[test]
fn a_backup_holds_nothing_in_the_clear() {
    let api = Api::new();
    let key_bytes: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
    let r = api.kv(
        "PUT",
        "/keys/plainly-named-key",
        Some(json!({"key": {"kty": "oct-HSM", "k": b64(&key_bytes), "key_ops": ["wrapKey"]}})),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let secret = "correct horse battery staple 5e1f";
    let r = api.kv(
        "PUT",
        "/secrets/plainly-named-secret",
        Some(json!({"value": secret})),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let file = api.store.backup().expect("backup");
    let holds = |needle: &[u8]| file.windows(needle.len()).any(|w| w == needle);
    for needle in [
        &key_bytes[..],
        b64(&key_bytes).as_bytes(),
        &key_bytes[..8],
        secret.as_bytes(),
        b"plainly-named",
        b"default",
        b"keys",
    ] {
        assert!(
            !holds(needle),
            "the backup shows {:?}",
            String::from_utf8_lossy(needle)
        );
    }
}

#[test]
fn damaged_foreign_or_newer_files_are_refused_and_the_target_is_untouched() {
    let api = Api::new();
    let r = api.raw(
        "POST",
        "localhost",
        "/management/vaults",
        json!({"name": "kv", "kind": "vault"})
            .to_string()
            .into_bytes(),
    );
    assert_eq!(r.status, 201);
    // More than one chunk (1 MiB each), so order and boundaries are exercised.
    for i in 0..60 {
        let r = api.kv_at(
            "PUT",
            "kv.localhost",
            &format!("/secrets/s{i}"),
            Some(json!({"value": format!("{i:05}").repeat(4000)})),
        );
        assert_eq!(r.status, 200);
    }
    let file = api.store.backup().unwrap();
    let other = api.store.backup().unwrap();
    let (header, parts) = chunks(&file);
    assert!(parts.len() >= 2, "{} chunks", parts.len());
    let (_, other_parts) = chunks(&other);

    // An existing store under --force, and a new directory: neither may change.
    let existing = tempfile::tempdir().unwrap();
    drop(Opener::new().open(existing.path()));
    let fresh = tempfile::tempdir().unwrap();
    let new_dir = fresh.path().join("new");
    let untouched = tree_digest(existing.path());

    let mut cases: Vec<(&str, Vec<u8>, MasterKeySource, &str)> = Vec::new();
    let key = |b: u8| MasterKeySource::Bytes(SecretBytes::new(vec![b; 32]));
    cases.push(("wrong key", file.clone(), key(1), "another master key"));
    let mut flipped = file.clone();
    let middle = header + parts[0].len() / 2;
    flipped[middle] ^= 0x10;
    cases.push(("flipped byte", flipped, master(), "does not authenticate"));
    let mut flipped_header = file.clone();
    flipped_header[30] ^= 1;
    cases.push((
        "flipped header byte",
        flipped_header,
        master(),
        "does not authenticate",
    ));
    cases.push((
        "cut in a chunk",
        file[..file.len() - 10].to_vec(),
        master(),
        "cut short",
    ));
    cases.push((
        "cut at a chunk's end",
        file[..header + parts[0].len()].to_vec(),
        master(),
        "cut short",
    ));
    cases.push((
        "cut in the header",
        file[..header - 3].to_vec(),
        master(),
        "cut short",
    ));
    let mut reordered = file[..header].to_vec();
    reordered.extend_from_slice(parts[1]);
    reordered.extend_from_slice(parts[0]);
    for p in &parts[2..] {
        reordered.extend_from_slice(p);
    }
    cases.push(("reordered", reordered, master(), "does not authenticate"));
    let mut spliced = file[..header].to_vec();
    spliced.extend_from_slice(parts[0]);
    for p in &other_parts[1..] {
        spliced.extend_from_slice(p);
    }
    cases.push((
        "spliced from another backup",
        spliced,
        master(),
        "does not authenticate",
    ));
    let mut dropped_last = file[..header].to_vec();
    for p in &parts[..parts.len() - 1] {
        dropped_last.extend_from_slice(p);
    }
    cases.push(("last chunk dropped", dropped_last, master(), "cut short"));
    let mut longer = file.clone();
    longer.extend_from_slice(parts[0]);
    cases.push(("a chunk appended", longer, master(), "after its last chunk"));
    let mut newer = file.clone();
    let schema_at = b"localhsm store backup\n".len() + 2;
    newer[schema_at..schema_at + 4].copy_from_slice(&99u32.to_be_bytes());
    cases.push(("newer schema", newer, master(), "schema 99, newer"));
    cases.push((
        "not a backup",
        b"{\"value\": 1}".to_vec(),
        master(),
        "not a localhsm store backup",
    ));
    cases.push(("empty", Vec::new(), master(), "not a localhsm store backup"));

    for (what, bytes, key, says) in cases {
        let (again, key2) = match &key {
            MasterKeySource::Bytes(k) => (
                MasterKeySource::Bytes(k.duplicate()),
                MasterKeySource::Bytes(k.duplicate()),
            ),
            _ => unreachable!(),
        };
        drop(key);
        let message = refused(existing.path(), &bytes, again, true);
        assert!(message.contains(says), "{what}: {message}");
        assert_eq!(
            tree_digest(existing.path()),
            untouched,
            "{what}: the existing store changed"
        );
        let message = refused(&new_dir, &bytes, key2, false);
        assert!(message.contains(says), "{what}: {message}");
        assert!(!new_dir.exists(), "{what}: the new directory was made");
    }
    // The untouched store still opens, and the good file restores.
    drop(Opener::new().open(existing.path()));
    Store::restore(&new_dir, &file, master(), false).expect("the good file restores");
    let store = Opener::new().open(&new_dir);
    let value = store
        .vault("kv")
        .and_then(|v| v.get_secret("s59", None))
        .expect("secret");
    assert_eq!(value.value.expect("a value").expose(), "00059".repeat(4000));
}

#[test]
fn a_forced_restore_never_purges_what_purge_protection_keeps() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let store = Opener::new().open(dir);
    let kv = create_vault(&store, "kv", hsm(7, true));
    let free = create_vault(&store, "free", hsm(7, false));
    let before_any = store.backup().unwrap();
    ec_key(&kv, "k");
    ec_key(&free, "loose");
    kv.delete_key("k").unwrap();
    free.delete_key("loose").unwrap();
    let due = kv
        .get_deleted_key("k")
        .unwrap()
        .deletion
        .scheduled_purge_date;
    let with_deleted = store.backup().unwrap();
    drop((kv, free, store));

    // The older backup lacks the deleted, protected key: replacing the store would purge it
    // early. (The unprotected one may go.)
    let message = refused(dir, &before_any, master(), true);
    assert!(
        message.contains("key \"k\" in vault \"kv\"") && message.contains("purge protection"),
        "{message}"
    );
    assert!(!message.contains("loose"), "{message}");
    let store = Opener::new().open(dir);
    let kv = store.vault("kv").unwrap();
    assert_eq!(
        kv.get_deleted_key("k")
            .unwrap()
            .deletion
            .scheduled_purge_date,
        due
    );

    // A protected key made live after the backup: not lost either.
    ec_key(&kv, "k2");
    drop((kv, store));
    let message = refused(dir, &with_deleted, master(), true);
    assert!(
        message.contains("key \"k2\" in vault \"kv\" (live)"),
        "{message}"
    );

    // A backup that keeps both (the deleted one with its date) replaces the store.
    let store = Opener::new().open(dir);
    let both = store.backup().unwrap();
    store.vault("kv").unwrap().delete_key("k2").unwrap();
    drop(store);
    let report = Store::restore(dir, &both, master(), true).expect("restore");
    assert!(report.replaced);
    let store = Opener::new().open(dir);
    let kv = store.vault("kv").unwrap();
    assert!(
        kv.get_key("k2", None).is_ok(),
        "live again, as in the backup"
    );
    assert_eq!(
        kv.get_deleted_key("k")
            .unwrap()
            .deletion
            .scheduled_purge_date,
        due
    );
}

#[test]
fn a_store_sealed_under_a_passphrase_restores_with_it() {
    let pass = |p: &str| MasterKeySource::Passphrase(SecretBytes::new(p.as_bytes().to_vec()));
    let from = tempfile::tempdir().unwrap();
    let store = Opener::source(move || pass("open sesame")).open(from.path());
    ec_key(&create_vault(&store, "default", hsm(7, false)), "signer");
    let file = store.backup().unwrap();
    drop(store);
    let to = tempfile::tempdir().unwrap();
    for wrong in [pass("open sesame?"), master()] {
        let message = refused(to.path(), &file, wrong, false);
        assert!(message.contains("another master key"), "{message}");
    }
    // The salt travels in the backup: the same passphrase gives the same key there.
    Store::restore(to.path(), &file, pass("open sesame"), false).expect("restore");
    let store = Opener::source(move || pass("open sesame")).open(to.path());
    let digest = [1u8; 32];
    let sig = sign(&store, "signer", &digest);
    let handle = store.vault("default").and_then(|v| v.key("signer", None));
    assert!(handle
        .and_then(|h| h.verify(SignatureAlgorithm::ES256, &digest, &sig))
        .unwrap());
}

#[test]
fn only_administrators_and_the_owner_take_a_backup_under_access_control() {
    let api = Api::new();
    api.store.set_access_policy(AccessPolicy {
        enforce: true,
        admins: vec!["aaaaaaaa-0000-0000-0000-000000000001".into()],
    });
    let now = api.store.now();
    let ask = |oid: &str| {
        let token = localhsm::server::auth::mint_token(oid, None, None, now);
        let req = axum::http::Request::builder()
            .method("GET")
            .uri("/management/store/backup")
            .header("host", "localhost")
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap();
        api.send(req)
    };
    let denied = ask("bbbbbbbb-0000-0000-0000-000000000002");
    assert_eq!(denied.status, 403);
    assert_eq!(denied.json["error"]["code"], "Forbidden");
    let allowed = ask("aaaaaaaa-0000-0000-0000-000000000001");
    assert_eq!(allowed.status, 200);
    let target = tempfile::tempdir().unwrap();
    Store::restore(target.path(), &allowed.body, master(), false).expect("restore");
}

// --- through the binary ---------------------------------------------------------------

fn cli_ok(dir: &Path, args: &[&str]) -> String {
    let out = localhsm_at(dir, args);
    assert!(
        out.status.success(),
        "localhsm {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cli_err(dir: &Path, args: &[&str]) -> String {
    let out = localhsm_at(dir, args);
    assert_eq!(out.status.code(), Some(1), "localhsm {args:?} did not fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn copy_master_key(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::copy(from.join("master.key"), to.join("master.key")).unwrap();
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_backup_while_serving_and_writing_holds_a_prefix_of_the_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut server = Server::start(&dir, &[], Stdio::inherit()).expect("server");
    let client = server.client();
    // (name, x, y) of every acknowledged key, in creation order.
    let acked: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, stop, url) = (acked.clone(), stop.clone(), server.url(""));
        let base = url
            .split('?')
            .next()
            .unwrap()
            .trim_end_matches('/')
            .to_string();
        std::thread::spawn(move || {
            for i in 0..2000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let name = format!("w{i:04}");
                let url = format!("{base}/keys/{name}/create?api-version=7.5");
                let body = json!({"kty": "EC-HSM", "crv": "P-256"});
                let (status, key) = http(&client, "POST", &url, Some(&body)).expect("create");
                assert_eq!(status, 200, "{key}");
                let xy = |c: &str| key["key"][c].as_str().unwrap().to_string();
                acked.lock().unwrap().push((name, xy("x"), xy("y")));
            }
        })
    };
    let count = || acked.lock().unwrap().len();
    while count() < 30 {
        assert!(!writer.is_finished(), "the writer stopped early");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let file = tmp.path().join("store.backup");
    let before = count();
    let out = cli_ok(&dir, &["store", "backup", file.to_str().unwrap()]);
    let after = count();
    assert!(out.contains("Backed up the store"), "{out}");
    let at_end = after + 10;
    while count() < at_end {
        assert!(!writer.is_finished(), "the writer stopped early");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    stop.store(true, Ordering::SeqCst);
    writer.join().expect("writer");
    server.stop();
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    let acked = acked.lock().unwrap().clone();

    let restored = tmp.path().join("restored");
    copy_master_key(&dir, &restored);
    let out = cli_ok(
        &restored,
        &[
            "store",
            "restore",
            file.to_str().unwrap(),
            "--output",
            "json",
        ],
    );
    let report: Value = serde_json::from_str(&out).expect("JSON report");
    assert_eq!(report["replaced"], false);
    // Each key was made with one version in one transaction: the copy has both or neither.
    let raw = records(&restored);
    assert_eq!(
        raw["keys"].len(),
        raw["versions"].len(),
        "a key without its version, or the reverse"
    );
    let store = Opener::source(|| MasterKeySource::KeyFile).open(&restored);
    let vault = store.vault("default").unwrap();
    let mut names: Vec<String> = support::all_pages(|next| vault.list_keys(25, next))
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
    names.sort();
    let n = names.len();
    eprintln!("{n} keys restored; {before} acknowledged before the backup, {after} after it");
    // Everything acknowledged before the backup began, nothing that began after it ended,
    // and no gap: one point in time of a sequential writer.
    assert!(
        (before..=after + 1).contains(&n),
        "{n} keys; {before} acknowledged before the backup, {after} after"
    );
    let expected: Vec<String> = acked[..n].iter().map(|(name, ..)| name.clone()).collect();
    assert_eq!(
        names, expected,
        "the restored keys are a prefix of the writes"
    );
    let digest = [0x42u8; 32];
    for (name, x, y) in &acked[..n] {
        let sig = sign(&store, name, &digest);
        assert!(
            verifies(x, y, &digest, &sig),
            "{name} signs as the original"
        );
    }
}

#[test]
fn restore_through_the_cli_needs_the_key_refuses_to_overwrite_and_replaces_with_force() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, restored) = (tmp.path().join("data"), tmp.path().join("restored"));
    let file = tmp.path().join("store.backup");
    let path = file.to_str().unwrap();

    let empty = tmp.path().join("empty");
    let err = cli_err(&empty, &["store", "backup", path]);
    assert!(err.contains("there is no store"), "{err}");
    assert!(!empty.join("db").exists(), "no store was made to back up");

    cli_ok(
        &dir,
        &[
            "key", "create", "signer", "--kty", "EC-HSM", "--curve", "P-256",
        ],
    );
    // No server: the CLI opens the store itself.
    let out = cli_ok(&dir, &["store", "backup", path]);
    assert!(out.contains("Backed up"), "{out}");

    let err = cli_err(&restored, &["store", "restore", path]);
    assert!(
        err.contains("master.key") && err.contains("LOCALHSM_MASTER_KEY"),
        "{err}"
    );
    assert!(!restored.join("db").exists());
    copy_master_key(&dir, &restored);
    let out = cli_ok(&restored, &["store", "restore", path]);
    assert!(out.contains("Restored"), "{out}");
    assert!(cli_ok(&restored, &["key", "list"]).contains("signer"));

    let err = cli_err(&restored, &["store", "restore", path]);
    assert!(
        err.contains("already holds a store") && err.contains("--force"),
        "{err}"
    );

    // A server holds the store: never replaced.
    let mut server = Server::start(&restored, &[], Stdio::inherit()).expect("server");
    let err = cli_err(&restored, &["store", "restore", path, "--force"]);
    assert!(err.contains("stop the server"), "{err}");
    let (status, _) = http(&server.client(), "GET", &server.url("/keys/signer"), None).unwrap();
    assert_eq!(status, 200, "the server still serves the store");
    server.stop();

    cli_ok(
        &restored,
        &[
            "key", "create", "later", "--kty", "EC-HSM", "--curve", "P-256",
        ],
    );
    let key_file = std::fs::read(restored.join("master.key")).unwrap();
    let out = cli_ok(&restored, &["store", "restore", path, "--force"]);
    assert!(out.contains("replacing the store"), "{out}");
    assert_eq!(
        std::fs::read(restored.join("master.key")).unwrap(),
        key_file
    );
    let keys = cli_ok(&restored, &["key", "list"]);
    assert!(keys.contains("signer") && !keys.contains("later"), "{keys}");
    let leftovers: Vec<_> = std::fs::read_dir(&restored)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".restore"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
