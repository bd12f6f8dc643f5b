//! Regression tests for what the fuzz targets in `fuzz/` found, plus a replay of their
//! committed seed corpus. Each test feeds the same function the fuzz target calls
//! (`localhsm::fuzzing`, built for tests through the `fuzzing` feature); the function
//! panics if an invariant breaks.

use localhsm::fuzzing;

/// A fuzz target's function.
type Target = fn(&[u8]);

/// The targets share one store per process; tests that restore keys take turns.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every committed seed of every target still runs clean.
#[test]
fn seed_corpus_replays() {
    let _serial = serial();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let targets: [(&str, Target); 4] = [
        ("jwk_import", fuzzing::jwk_import),
        ("rest_request", fuzzing::rest_request),
        ("backup_blob", fuzzing::backup_blob),
        ("sealed_record", fuzzing::sealed_record),
    ];
    for (name, run) in targets {
        let mut seeds: Vec<_> = std::fs::read_dir(root.join(name))
            .unwrap_or_else(|e| panic!("fuzz/corpus/{name}: {e}"))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "seed"))
            .collect();
        seeds.sort();
        assert!(!seeds.is_empty(), "fuzz/corpus/{name} has no seeds");
        for seed in seeds {
            let data = std::fs::read(&seed).expect("seed");
            run(&data);
        }
    }
}

/// A real backup blob restores over nothing (its key exists) and its mutations are refused.
#[test]
fn backup_blob_mutations_are_refused() {
    let _serial = serial();
    let blob = fuzzing::real_backup_blob();
    assert!(blob.starts_with(b"LHSMBKP1"));
    for at in [0u8, 8, 9, 100, 255] {
        fuzzing::backup_blob(&[1, at, 0x01]);
    }
    fuzzing::backup_blob(&[1, 0x80]); // truncated to half
    fuzzing::backup_blob(&[0]);
    fuzzing::backup_blob(&blob.iter().copied().skip(1).collect::<Vec<_>>());
}

/// The seeds reach past the parsers: the REST seeds answer 200 (or the 401 challenge),
/// and the sealed backup payloads restore.
#[test]
fn seeds_reach_the_operations() {
    let _serial = serial();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let read = |target: &str, seed: &str| {
        std::fs::read(root.join(target).join(format!("{seed}.seed"))).expect("seed")
    };
    for (seed, status) in [
        ("sign", 200),
        ("unwrap", 400), // a made-up ciphertext does not unwrap
        ("encrypt-gcm", 200),
        ("list", 200),
        ("no-auth", 401),
    ] {
        let (got, body) = fuzzing::rest_call(&read("rest_request", seed)).expect("a request");
        assert_eq!(
            got.as_u16(),
            status,
            "{seed}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    for seed in ["payload-ec", "payload-oct"] {
        let restored = fuzzing::backup_restore(&read("backup_blob", seed)).expect("input");
        assert!(restored.is_ok(), "{seed}: {restored:?}");
    }
}

/// A sealed backup payload of `backup_blob`'s seed `payload-ec`, edited by `edit`.
fn edited_payload(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let seed = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus/backup_blob/payload-ec.seed"),
    )
    .expect("seed");
    let mut payload: serde_json::Value = serde_json::from_slice(&seed[1..]).expect("JSON");
    edit(&mut payload);
    let mut input = vec![2];
    input.extend(serde_json::to_vec(&payload).expect("JSON"));
    input
}

fn b64url(bytes: &[u8]) -> serde_json::Value {
    localhsm::crypto::jwk::b64url_encode(bytes).into()
}

/// backup_blob findings, one per case: a restored version whose material does not match its
/// record. Restore now refuses each.
/// - A record showing one EC public key over the material of another EC key: the key's
///   published public key did not verify its signatures.
/// - A record saying EC-HSM over an AES key's material: restored as an EC key that could not
///   sign.
#[test]
fn restore_refuses_material_that_is_not_the_records() {
    let _serial = serial();
    // Sealed material: a key type byte, a curve byte, then the key.
    for (what, material) in [
        (
            "another EC P-256 key",
            [&[1u8, 1][..], &[0x11; 32]].concat(),
        ),
        ("an AES key", [&[3u8, 0][..], &[0x22; 32]].concat()),
    ] {
        let input = edited_payload(|p| p["versions"][0]["material"] = b64url(&material));
        let outcome = fuzzing::backup_restore(&input).expect("input");
        assert!(
            matches!(outcome, Err(localhsm::Error::InvalidBackup)),
            "{what}: {outcome:?}"
        );
    }
}
