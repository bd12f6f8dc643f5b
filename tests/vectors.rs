//! Known-answer tests from `vectors/*.json` (made by Python `cryptography`, an independent
//! implementation; see `vectors/README.md`), run through the real path by
//! `localhsm::vectors::check_file`: each JWK is imported into a Managed HSM vault and every
//! case goes through the `KeyHandle` API (verify cases also through `PublicKey`).
//!
//! Every case of every file runs; the case count of each file is checked against the table in
//! `vectors/README.md`, so a truncated or missing file fails too.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use localhsm::vectors::format::VectorFile;
use localhsm::vectors::SourceFormat;
use support::repo_path;

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

fn run_file(name: &str) {
    let path = repo_path("vectors").join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    // The strict reader: every case well-formed, no unknown field.
    let file = VectorFile::from_json(&text).unwrap_or_else(|e| panic!("parse {name}: {e}"));
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
    let mut by_kind: BTreeMap<(String, String), usize> = BTreeMap::new();
    for case in &file.cases {
        *by_kind
            .entry((case.op.to_string(), case.result.to_string()))
            .or_default() += 1;
    }

    let report = localhsm::vectors::check_file(&path);
    let kinds: Vec<String> = by_kind
        .iter()
        .map(|((op, result), n)| format!("{op} {result} {n}"))
        .collect();
    println!("{} ({})", report.details(), kinds.join(", "));
    assert_eq!(report.format, Some(SourceFormat::Localhsm));
    assert_eq!(report.algorithm, file.family.as_str());
    assert!(
        report.ok(),
        "{name}: {} of {} cases failed:\n{}",
        report.failed,
        report.cases,
        report.details()
    );
    assert_eq!(
        (report.cases, report.passed, report.skipped),
        (expected, expected, 0)
    );
}
