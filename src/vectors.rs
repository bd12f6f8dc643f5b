//! Test vectors: generate known-answer files in localhsm's own format (`vectors/README.md`)
//! from a seed, and check files of that format and of Project Wycheproof's JSON format
//! against localhsm's key operations.
//!
//! Layer: faces. Imports the objects layer (a store, a vault, key handles), the storage
//! seam (its memory backend) and the base layer; no core module imports it.
//!
//! Everything runs through the real path: the file's keys are imported into a Managed HSM
//! vault of a throw-away store in memory, and every case goes through
//! [`KeyHandle`](crate::KeyHandle) (and [`crate::crypto::PublicKey`] for Wycheproof's
//! public-key-only signature files).
//!
//! - [`generate::generate`] derives the keys and the inputs from a seed with ChaCha20, then
//!   computes the outputs through `KeyHandle`. The same seed gives the same keys and inputs,
//!   and byte-identical files for the deterministic algorithms (RS*, A*KW, A*GCM, A*CBC*);
//!   ES*, PS*, RSA-OAEP* and RSA1_5 outputs are randomised and only verify or decrypt. Each
//!   file also carries invalid cases (tampered signatures, tags and ciphertexts, wrong digest
//!   lengths, key/alg mismatches...).
//! - [`check`] runs files of either format and returns one [`FileReport`] per file: cases,
//!   passed, failed (with the case ids) and skipped (with the reason). Wycheproof cases whose
//!   parameters Key Vault does not offer (a GCM iv other than 96 bits, PSS with another salt
//!   length, RSA-1024, an unsupported curve or hash...) are skipped, never passed; see
//!   [`wycheproof`] for the mapping.
//! - `cli` (feature `cli`) is the `localhsm vectors generate|check` command.
//!
//! ```
//! use localhsm::vectors::{self, format::VectorAlg, generate::GenerateOptions};
//!
//! let opts = GenerateOptions { count: 3, seed: 7, ..GenerateOptions::new(VectorAlg::parse("A256GCM").unwrap()) };
//! let file = vectors::generate::generate(&opts).unwrap();
//! let report = vectors::check_vector_file("a256gcm.json", &file);
//! assert!(report.ok(), "{}", report.summary());
//! assert_eq!(report.failed, 0);
//! ```

mod check;
#[cfg(feature = "cli")]
pub mod cli;
pub mod encoding;
pub mod format;
pub mod generate;
mod report;
mod scratch;
pub mod wycheproof;

pub use check::{check, check_file, check_str, check_vector_file};
pub use report::{CaseFailure, FileReport, SourceFormat, VectorError};
