//! `localhsm vectors generate|check`: the command-line face of [`crate::vectors`].
//!
//! The main command tree embeds [`VectorsCommand`] as a subcommand and calls [`run`]:
//!
//! ```
//! use clap::Parser;
//! use localhsm::vectors::cli::VectorsCommand;
//!
//! #[derive(Parser)]
//! enum Top {
//!     #[command(subcommand)]
//!     Vectors(VectorsCommand),
//! }
//! let Top::Vectors(cmd) = Top::parse_from(["localhsm", "vectors", "check", "vectors/"]);
//! assert!(matches!(cmd, VectorsCommand::Check { .. }));
//! ```

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::{PossibleValuesParser, TypedValueParser as _};
use serde::Serialize;

use super::format::VectorAlg;
use super::generate::{self, GenerateOptions, DEFAULT_COUNT, DEFAULT_RSA_BITS, MAX_COUNT};
use super::report::FileReport;

fn alg_names() -> Vec<&'static str> {
    VectorAlg::all()
        .into_iter()
        .map(VectorAlg::as_str)
        .collect()
}

fn alg_parser() -> impl clap::builder::TypedValueParser<Value = VectorAlg> {
    PossibleValuesParser::new(alg_names())
        .map(|s| VectorAlg::parse(&s).expect("a possible value is a known algorithm"))
}

fn bits_parser() -> impl clap::builder::TypedValueParser<Value = usize> {
    PossibleValuesParser::new(["2048", "3072", "4096"])
        .map(|s| s.parse::<usize>().expect("a possible value is a number"))
}

/// `localhsm vectors ...`: known-answer test vectors.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum VectorsCommand {
    /// Write a known-answer vector file for one algorithm, derived from a seed.
    ///
    /// The file follows localhsm's vector format (vectors/README.md), so vectors/gen/check.py
    /// and `localhsm vectors check` read it. The key and every input come from the seed:
    /// the same seed gives the same key and inputs, and a byte-identical file for the
    /// deterministic algorithms (RS*, A*KW, A*GCM, A*CBC, A*CBCPAD). ES*, PS*, RSA-OAEP* and
    /// RSA1_5 outputs are randomised; they verify or decrypt. Besides the valid cases the
    /// file holds invalid ones: tampered signatures, tags and ciphertexts, wrong digest
    /// lengths, bad padding, key/alg mismatches.
    #[command(
        after_help = "Example:\n  localhsm vectors generate --alg ES256 --count 5 --seed 1 --out es256.json"
    )]
    Generate {
        /// The algorithm (JWA / Key Vault name).
        #[arg(long, value_name = "ALG", value_parser = alg_parser(), hide_possible_values = false)]
        alg: VectorAlg,
        /// Number of random valid cases; the invalid cases come on top.
        #[arg(long, value_name = "N", default_value_t = DEFAULT_COUNT,
              value_parser = clap::value_parser!(u16).range(1..=MAX_COUNT as i64).map(usize::from))]
        count: usize,
        /// Seed for the key and the inputs.
        #[arg(long, value_name = "S", default_value_t = 0)]
        seed: u64,
        /// RSA modulus size in bits (RSA algorithms only).
        #[arg(long, value_name = "BITS", value_parser = bits_parser())]
        bits: Option<usize>,
        /// Write the file here instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Run vector files against localhsm and report, per file, the cases passed, failed
    /// and skipped.
    ///
    /// Reads localhsm's own format (vectors/README.md) and Project Wycheproof's JSON format
    /// (ECDSA P-256/P-384/P-521/secp256k1 in DER and P1363 form, RSA PKCS#1 v1.5 and PSS
    /// signatures, RSA-OAEP and PKCS#1 v1.5 decryption, AES-GCM, AES-KW, AES-CBC-PKCS5).
    /// Cases whose parameters Key Vault does not offer (a GCM iv other than 96 bits, RSA-1024,
    /// another curve or hash...) are counted as skipped, with the reason. A directory stands
    /// for its *.json files. Exit status 1 when any case fails or a file cannot be checked.
    #[command(
        after_help = "Example:\n  localhsm vectors check vectors/ wycheproof/testvectors_v1/aes_gcm_test.json"
    )]
    Check {
        /// Vector files or directories.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

/// The `--output json` report of `check`.
#[derive(Serialize)]
struct CheckReport<'a> {
    ok: bool,
    cases: usize,
    passed: usize,
    failed: usize,
    skipped: usize,
    files: &'a [FileReport],
}

/// The `--output json` report of `generate --out`.
#[derive(Serialize)]
struct GenerateReport {
    file: String,
    family: &'static str,
    alg: &'static str,
    seed: u64,
    cases: usize,
    valid: usize,
    invalid: usize,
    keys: Vec<String>,
    deterministic: bool,
}

/// Runs a `vectors` command. `output_json` prints a JSON report instead of text lines.
/// Exit status: 0 when everything passed, 1 on any failure, 2 on bad options.
pub fn run(cmd: VectorsCommand, output_json: bool) -> ExitCode {
    match cmd {
        VectorsCommand::Generate {
            alg,
            count,
            seed,
            bits,
            out,
        } => run_generate(alg, count, seed, bits, out, output_json),
        VectorsCommand::Check { files } => run_check(&files, output_json),
    }
}

fn run_generate(
    alg: VectorAlg,
    count: usize,
    seed: u64,
    bits: Option<usize>,
    out: Option<PathBuf>,
    output_json: bool,
) -> ExitCode {
    let opts = GenerateOptions {
        alg,
        count,
        seed,
        bits: bits.unwrap_or(DEFAULT_RSA_BITS),
    };
    let rsa = matches!(
        alg.family(),
        super::format::Family::RsaPkcs1Sign
            | super::format::Family::RsaPssSign
            | super::format::Family::RsaOaep
            | super::format::Family::Rsa1_5
    );
    if bits.is_some() && !rsa {
        eprintln!("error: --bits applies to RSA algorithms only, not {alg}");
        return ExitCode::from(2);
    }
    let file = match generate::generate(&opts) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = file.to_json();
    let Some(path) = out else {
        let mut stdout = std::io::stdout().lock();
        return match stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: writing to standard output: {e}");
                ExitCode::FAILURE
            }
        };
    };
    if let Err(e) = std::fs::write(&path, &text) {
        eprintln!("error: {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    let valid = file.cases.iter().filter(|c| c.valid()).count();
    if output_json {
        let v = GenerateReport {
            file: path.display().to_string(),
            family: file.family.as_str(),
            alg: alg.as_str(),
            seed,
            cases: file.cases.len(),
            valid,
            invalid: file.cases.len() - valid,
            keys: file.keys.keys().cloned().collect(),
            deterministic: generate::deterministic(alg),
        };
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON"));
    } else {
        println!(
            "wrote {}: {} cases ({valid} valid, {} invalid), {alg}, seed {seed}",
            path.display(),
            file.cases.len(),
            file.cases.len() - valid
        );
    }
    ExitCode::SUCCESS
}

fn run_check(paths: &[PathBuf], output_json: bool) -> ExitCode {
    let reports: Vec<FileReport> = paths.iter().flat_map(super::check::check).collect();
    let ok = reports.iter().all(FileReport::ok);
    let sum = |f: fn(&FileReport) -> usize| reports.iter().map(f).sum::<usize>();
    let (cases, passed, failed, skipped) = (
        sum(|r| r.cases),
        sum(|r| r.passed),
        sum(|r| r.failed),
        sum(|r| r.skipped),
    );
    if output_json {
        let v = CheckReport {
            ok,
            cases,
            passed,
            failed,
            skipped,
            files: &reports,
        };
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON"));
    } else {
        for r in &reports {
            println!("{}", r.details());
        }
        let broken = reports.iter().filter(|r| r.error.is_some()).count();
        let mut total = format!(
            "{} file{}: {cases} cases, {passed} passed, {failed} failed, {skipped} skipped",
            reports.len(),
            if reports.len() == 1 { "" } else { "s" }
        );
        if broken > 0 {
            total += &format!(", {broken} not checked");
        }
        println!("{total}");
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Top {
        #[command(subcommand)]
        cmd: VectorsCommand,
    }

    #[test]
    fn grammar() {
        Top::command().debug_assert();
        let t = Top::try_parse_from(["x", "generate", "--alg", "RSA-OAEP-256", "--bits", "3072"])
            .unwrap();
        let want = VectorsCommand::Generate {
            alg: VectorAlg::parse("RSA-OAEP-256").unwrap(),
            count: DEFAULT_COUNT,
            seed: 0,
            bits: Some(3072),
            out: None,
        };
        assert_eq!(t.cmd, want);
        assert!(Top::try_parse_from(["x", "generate", "--alg", "HS256"]).is_err());
        assert!(
            Top::try_parse_from(["x", "generate", "--alg", "RS256", "--bits", "1024"]).is_err()
        );
        assert!(Top::try_parse_from(["x", "generate", "--alg", "RS256", "--count", "0"]).is_err());
        assert!(Top::try_parse_from(["x", "check"]).is_err());
        let help = Top::command()
            .find_subcommand_mut("generate")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(
            help.contains("Example:") && help.contains("A256CBCPAD"),
            "{help}"
        );
    }
}
