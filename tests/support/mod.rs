//! The helper module of the integration tests (`mod support;` in each test that needs it).
//!
//! - [`store`]: the one way a test opens a store ([`Opener`], [`TempStore`]), vault options,
//!   the known keys a test creates, and a snapshot of everything a store holds.
//! - [`errors`]: errors named by what they say ([`expect_err`]), the one place that knows how
//!   `localhsm::Error` spells them.
//! - [`rest`]: an in-process REST harness over a temporary store ([`Api`]).
//! - [`server`]: a real `localhsm serve` child process ([`Server`]) and the `localhsm` binary.
//! - [`vectors`]: the known keys of `vectors/`.
//! - [`postgres`]: a new database on the test cluster (`LOCALHSM_TEST_POSTGRES`).
//! - [`rng`]: a small seeded random number generator and numbers from the environment.

#![allow(
    dead_code,
    unused_imports,
    reason = "each integration test compiles this module on its own and uses only part of it"
)]

pub mod errors;
pub mod postgres;
pub mod rest;
pub mod rng;
pub mod server;
pub mod store;
pub mod vectors;

use std::path::{Path, PathBuf};

pub use errors::{error_name, expect_err, expect_wire_err, fails_with, outcome};
pub use rest::{kid_version, kv, Api, Reply};
pub use rng::{seed_from_env, usize_from_env, Rng};
pub use server::{http, localhsm_at, localhsm_bin, localhsm_command, serve_command, Server};
pub use store::{
    all_pages, create_vault, default_hsm, ec_key, ec_key_with, exercise_key, hsm, key_vault,
    oct_key, raw_db, snapshot, snapshot_diff, tags, test_key_spec, vault_snapshot, Opener,
    TempStore, DAY, MASTER, T0,
};
pub use vectors::{vector_file, vector_jwk, vector_key_json};

/// Path of a file or directory relative to the crate root.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}
