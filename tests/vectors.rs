//! Known-answer tests from `vectors/*.json` (made by Python `cryptography`, an independent
//! implementation; see `vectors/README.md`), run through the real path: each JWK is imported
//! into a Managed HSM vault and every case goes through the `KeyHandle` API.
//!
//! Every case of every file runs; the case count of each file is checked against the table in
//! `vectors/README.md`, so a truncated or missing file fails too.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use common::{load_vector_file, repo_path, vector_jwk, TestVault, VectorCase};
use localhsm::crypto::alg::EncryptionScheme;
use localhsm::crypto::{
    AesParams, EncryptionAlgorithm, PublicKey, SignatureAlgorithm, WrapAlgorithm,
};
use localhsm::KeyHandle;

/// The files this suite runs. `every_vector_file_is_covered` keeps this list, the directory
/// and the README table in step.
const FILES: &[&str] = &[
    "aes-cbc.json",
    "aes-gcm.json",
    "aes-kw.json",
    "ecdsa.json",
    "rsa-oaep.json",
    "rsa-pkcs1-sign.json",
    "rsa-pss-sign.json",
    "rsa1_5.json",
];

macro_rules! vector_tests {
    ($($test:ident => $file:literal),+ $(,)?) => {
        $(
            #[test]
            fn $test() {
                run_file($file);
            }
        )+
    };
}

vector_tests! {
    aes_cbc => "aes-cbc.json",
    aes_gcm => "aes-gcm.json",
    aes_kw => "aes-kw.json",
    ecdsa => "ecdsa.json",
    rsa_oaep => "rsa-oaep.json",
    rsa_pkcs1_sign => "rsa-pkcs1-sign.json",
    rsa_pss_sign => "rsa-pss-sign.json",
    rsa1_5 => "rsa1_5.json",
}

/// The `| file | family | algs | keys | cases |` table of `vectors/README.md`.
fn readme_counts() -> BTreeMap<String, usize> {
    let path = repo_path("vectors/README.md");
    let text = std::fs::read_to_string(&path).expect("read vectors/README.md");
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "", file, family, algs, keys, cases, ""
        if cells.len() != 7 {
            continue;
        }
        let Some(file) = cells[1]
            .strip_prefix('`')
            .and_then(|s| s.strip_suffix(".json`"))
        else {
            continue;
        };
        let n: usize = cells[5]
            .parse()
            .unwrap_or_else(|_| panic!("README: bad case count in {line:?}"));
        counts.insert(format!("{file}.json"), n);
    }
    assert!(!counts.is_empty(), "README has no file table");
    counts
}

#[test]
fn every_vector_file_is_covered() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(repo_path("vectors"))
        .expect("read vectors/")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".json"))
        .collect();
    let tested: BTreeSet<String> = FILES.iter().map(|s| s.to_string()).collect();
    let documented: BTreeSet<String> = readme_counts().into_keys().collect();
    assert_eq!(
        on_disk, tested,
        "vectors/*.json vs. the files this suite runs"
    );
    assert_eq!(on_disk, documented, "vectors/*.json vs. the README table");
}

struct Key {
    handle: KeyHandle,
    /// The public part on its own (EC and RSA), for the public-key verify path.
    public: Option<PublicKey>,
}

fn run_file(name: &str) {
    let file = load_vector_file(name);
    let expected = readme_counts()[name];
    assert_eq!(
        file.cases.len(),
        expected,
        "{name}: the README table says {expected} cases"
    );
    let ids: BTreeSet<u64> = file.cases.iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        (1..=expected as u64).collect(),
        "{name}: case ids must be 1..={expected}, each once"
    );

    let mut vault = TestVault::new();
    let mut keys = BTreeMap::new();
    for id in file.keys.keys() {
        let jwk = vector_jwk(&file, id);
        let handle = vault
            .import(id, &jwk)
            .unwrap_or_else(|e| panic!("{name}: import of key {id} failed: {e}"));
        let public = PublicKey::from_jwk(&jwk.public_only()).ok();
        keys.insert(id.clone(), Key { handle, public });
    }

    let mut passed = 0;
    let mut by_kind: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in &file.cases {
        *by_kind
            .entry((case.op.clone(), case.result.clone()))
            .or_default() += 1;
        let outcome = match keys.get(&case.key) {
            Some(key) => run_case(case, key),
            None => Err(format!("unknown key {:?}", case.key)),
        };
        match outcome {
            Ok(()) => passed += 1,
            Err(why) => failures.push(format!(
                "  FAIL {name} #{} {} {} {} {:?} ({}): {why}",
                case.id, case.alg, case.op, case.result, case.flags, case.comment
            )),
        }
    }

    let kinds: Vec<String> = by_kind
        .iter()
        .map(|((op, result), n)| format!("{op} {result} {n}"))
        .collect();
    println!(
        "{name}: {} cases, {passed} passed ({})",
        file.cases.len(),
        kinds.join(", ")
    );
    for f in &failures {
        println!("{f}");
    }
    assert!(
        failures.is_empty(),
        "{name}: {} of {} cases failed:\n{}",
        failures.len(),
        file.cases.len(),
        failures.join("\n")
    );
    assert_eq!(passed, expected);
}

fn parse<T: FromStr>(alg: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    alg.parse().map_err(|e| format!("unknown algorithm: {e}"))
}

/// Ok when the operation was refused; an invalid case must never succeed.
fn refused<T>(r: localhsm::Result<T>) -> Result<(), String> {
    match r {
        Ok(_) => Err("expected the operation to fail, but it succeeded".into()),
        Err(_) => Ok(()),
    }
}

fn ok<T>(what: &str, r: localhsm::Result<T>) -> Result<T, String> {
    r.map_err(|e| format!("{what} failed: {e}"))
}

fn same(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "{what} differs:\n    got  {}\n    want {}",
            hex::encode(got),
            hex::encode(want)
        ))
    }
}

fn run_case(case: &VectorCase, key: &Key) -> Result<(), String> {
    let h = &key.handle;
    match case.op.as_str() {
        "sign" => {
            let alg: SignatureAlgorithm = parse(&case.alg)?;
            let digest = case.bytes("digest")?;
            let result = h.sign(alg, &digest);
            if !case.valid() {
                return refused(result);
            }
            check_digest_of_msg(case, alg, &digest)?;
            let sig = ok("sign", result)?;
            let want = case.bytes("signature")?;
            let deterministic = matches!(
                alg,
                SignatureAlgorithm::RS256 | SignatureAlgorithm::RS384 | SignatureAlgorithm::RS512
            );
            if deterministic {
                same("signature", &sig, &want)?;
            }
            for (what, s) in [("own signature", &sig), ("expected signature", &want)] {
                if !ok("verify", h.verify(alg, &digest, s))? {
                    return Err(format!("{what} does not verify"));
                }
            }
            Ok(())
        }
        "verify" => {
            let alg: SignatureAlgorithm = parse(&case.alg)?;
            let digest = case.bytes("digest")?;
            let sig = case.bytes("signature")?;
            let public = key
                .public
                .as_ref()
                .ok_or("verify needs a key with a public part")?;
            let paths = [
                ("KeyHandle::verify", h.verify(alg, &digest, &sig)),
                (
                    "PublicKey::verify_digest",
                    public.verify_digest(alg, &digest, &sig),
                ),
            ];
            if case.valid() {
                check_digest_of_msg(case, alg, &digest)?;
                for (what, r) in paths {
                    if !ok(what, r)? {
                        return Err(format!("{what} rejected a valid signature"));
                    }
                }
            } else {
                for (what, r) in paths {
                    if matches!(r, Ok(true)) {
                        return Err(format!("{what} accepted an invalid signature"));
                    }
                }
            }
            Ok(())
        }
        "encrypt" => {
            let alg: EncryptionAlgorithm = parse(&case.alg)?;
            let pt = case.bytes("plaintext")?;
            let iv = case.opt_bytes("iv");
            let aad = case.opt_bytes("aad");
            let params = AesParams {
                iv: iv.as_deref(),
                aad: aad.as_deref(),
                tag: None,
            };
            let result = h.encrypt(alg, &pt, params);
            if !case.valid() {
                return refused(result);
            }
            let out = ok("encrypt", result)?;
            if matches!(alg.scheme(), EncryptionScheme::Aes { .. }) {
                // Deterministic for a given iv: reproduce byte for byte.
                same("ciphertext", &out.ciphertext, &case.bytes("ciphertext")?)?;
                same(
                    "iv",
                    out.iv.as_deref().unwrap_or_default(),
                    &case.bytes("iv")?,
                )?;
                match (case.opt_bytes("tag"), out.tag.as_deref()) {
                    (Some(want), Some(got)) => same("tag", got, &want)?,
                    (None, None) => {}
                    (want, got) => {
                        return Err(format!("tag presence differs: got {got:?}, want {want:?}"))
                    }
                }
            }
            let back = ok(
                "decrypt of the encrypt output",
                h.decrypt(
                    alg,
                    &out.ciphertext,
                    AesParams {
                        iv: out.iv.as_deref(),
                        aad: aad.as_deref(),
                        tag: out.tag.as_deref(),
                    },
                ),
            )?;
            same("decrypted plaintext", back.expose(), &pt)
        }
        "decrypt" => {
            let alg: EncryptionAlgorithm = parse(&case.alg)?;
            let ct = case.bytes("ciphertext")?;
            let (iv, aad, tag) = (
                case.opt_bytes("iv"),
                case.opt_bytes("aad"),
                case.opt_bytes("tag"),
            );
            let params = AesParams {
                iv: iv.as_deref(),
                aad: aad.as_deref(),
                tag: tag.as_deref(),
            };
            let result = h.decrypt(alg, &ct, params);
            if !case.valid() {
                return refused(result);
            }
            let pt = ok("decrypt", result)?;
            same("plaintext", pt.expose(), &case.bytes("plaintext")?)
        }
        "wrap" => {
            let alg: WrapAlgorithm = parse(&case.alg)?;
            let pt = case.bytes("plaintext")?;
            let result = h.wrap_key(alg, &pt);
            if !case.valid() {
                return refused(result);
            }
            let wrapped = ok("wrap", result)?;
            same("wrapped key", &wrapped, &case.bytes("ciphertext")?)?;
            let back = ok("unwrap of the wrap output", h.unwrap_key(alg, &wrapped))?;
            same("unwrapped key", back.expose(), &pt)
        }
        "unwrap" => {
            let alg: WrapAlgorithm = parse(&case.alg)?;
            let ct = case.bytes("ciphertext")?;
            let result = h.unwrap_key(alg, &ct);
            if !case.valid() {
                return refused(result);
            }
            let pt = ok("unwrap", result)?;
            same("unwrapped key", pt.expose(), &case.bytes("plaintext")?)
        }
        other => Err(format!("unknown op {other:?}")),
    }
}

/// For valid signature cases: the digest is the hash of `msg` (when given), so the vector
/// itself is consistent with the alg's hash.
fn check_digest_of_msg(
    case: &VectorCase,
    alg: SignatureAlgorithm,
    digest: &[u8],
) -> Result<(), String> {
    match case.opt_bytes("msg") {
        Some(msg) => same("digest of msg", &alg.hash().digest(&msg), digest),
        None => Ok(()),
    }
}
