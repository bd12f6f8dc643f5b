//! localhsm: a software HSM key store that stands in for Azure Key Vault and Azure Managed
//! HSM on a developer's machine.
//!
//! One core, several faces: this library, an HTTPS server speaking the Key Vault REST API
//! (`server`, `localhsm serve`; feature `server`), and a command line (`cli`; feature
//! `cli`, on by default). With `default-features = false` the crate is the core alone: no
//! HTTP, TLS, async runtime or argument parser.
//!
//! # The handle API
//!
//! Open a [`Store`] (a data directory), get a [`Vault`] (an HSM pool), create or import keys,
//! and resolve a [`KeyHandle`] to sign, verify, encrypt, decrypt, wrap and unwrap. Private
//! material never leaves the handle; only keys created exportable can be exported, through
//! [`hazmat`]. Vaults of kind `vault` (and the default vault) also hold secrets
//! ([`Vault::set_secret`], [`Vault::get_secret`]), on the same lifecycle as keys.
//!
//! ```
//! use localhsm::crypto::{CurveName, HashAlg, KeyType, SecretBytes, SignatureAlgorithm};
//! use localhsm::model::{KeyOptions, VaultKind, VaultOptions};
//! use localhsm::{KeySpec, MasterKeySource, Store};
//!
//! # fn main() -> localhsm::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path(), MasterKeySource::Bytes(SecretBytes::new(vec![7; 32])))?;
//! store.create_vault("dev", VaultOptions { kind: VaultKind::ManagedHsm, ..Default::default() })?;
//! let vault = store.vault("dev")?;
//! vault.create_key("signer", KeyType::EcHsm, KeySpec::Ec(CurveName::P256), KeyOptions::default())?;
//!
//! let key = vault.key("signer", None)?; // the current version, resolved once
//! let digest = HashAlg::Sha256.digest(b"message"); // Key Vault signs digests
//! let signature = key.sign(SignatureAlgorithm::ES256, &digest)?; // raw r||s
//! assert!(key.verify(SignatureAlgorithm::ES256, &digest, &signature)?);
//! # Ok(())
//! # }
//! ```
//!
//! # Layers
//!
//! Each module belongs to one layer and imports only from layers below it; no two modules
//! import each other.
//!
//! | layer | modules | what they hold |
//! |---|---|---|
//! | faces | `api` (the REST contract), `server`, `cli`, [`vectors`], `fuzzing` | wire types and the route table, HTTPS, the command line, test vectors |
//! | services | [`customer_data`] above [`audit`] and [`rbac`], [`hazmat`] | who may, who did, what is held about whom, what may leave |
//! | objects | [`keys`] and [`secrets`] above [`vault`] above [`handle`] | per-kind policy over the lifecycle; the public [`Store`] and [`Vault`]; the hot path |
//! | lifecycle | [`lifecycle`] | versions, soft-delete, recover, purge, purge protection, the purge queue, backup envelopes, vaults |
//! | storage | [`store`] | the [`store::Backend`] seam, the sled and memory backends, sealing at rest, the master key |
//! | base | [`model`] above [`crypto`] above [`error`] above [`clock`] | plain data, key material and algorithms, errors, time |
//!
//! # Lifecycle rules
//!
//! These hold for every face; the server and the CLI only translate them.
//! - Every create, import or set under an existing name adds a version (32 lowercase hex);
//!   the newest is current. Attribute, `key_ops` and tag updates apply to one version. At most
//!   15 tags per version. `key_ops`, `enabled`, `nbf` and `exp` are enforced on every
//!   operation, including on handles resolved before the change.
//! - A vault's soft-delete retention is 7 to 90 days (default 90), fixed when it is created.
//!   Deleting an object moves all its versions to the deleted state with `deletedDate` and
//!   `scheduledPurgeDate = deletedDate + retention`. Its name stays taken: create, import and
//!   restore under it are conflicts until it is recovered (every version back, unchanged)
//!   or purged.
//! - Purge protection can be turned on, never off. With it on, nothing is purged before its
//!   scheduled purge date, by any path: purge, vault purge, restore over it, a sweep, or a
//!   clock set back (the store never acts on a time earlier than one it has already seen).
//!   The refusal is [`Error::PurgeProtected`] (403 Forbidden on the wire).
//! - At its scheduled purge date a deleted object (or vault) is purged automatically; the
//!   sweep reads only the entries that are due.
//! - Vaults soft-delete, recover and purge under the same rules as the objects they hold.
//! - `recoveryLevel` and `recoverableDays` follow Key Vault: `Recoverable+Purgeable`,
//!   `Recoverable` (purge protection), and the `CustomizedRecoverable` forms when retention
//!   is under 90 days.
//!
//! # Storage
//!
//! Behind one small transactional trait ([`store::Backend`]): by default a sled database in
//! one directory ([`Store::open`]), or any backend ([`Store::builder_on`], e.g.
//! [`store::MemoryBackend`]). Every acknowledged change is durable before the call
//! returns, and multi-record changes (delete, recover, purge, restore) are single
//! transactions. Key material and secret values are sealed with AES-256-GCM under a key
//! derived from the master key, bound to its vault, kind, name and version, before they
//! reach the backend;
//! the master key comes from `LOCALHSM_MASTER_KEY`, a key file created with mode 0600 in the
//! data directory, or a passphrase. A wrong master key fails at open with
//! [`Error::WrongMasterKey`]. The [`store`] module documents the on-disk format and the
//! seam's transaction contract.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

// base
pub mod clock;
pub mod crypto;
pub mod error;
pub mod model;
// storage
pub mod store;
// lifecycle
pub mod lifecycle;
// objects
pub mod certificates;
pub mod handle;
pub mod keys;
pub mod secrets;
pub mod vault;
// services
pub mod administration;
pub mod audit;
pub mod customer_data;
pub mod hazmat;
pub mod rbac;
pub mod repair;
pub mod seed;
// faces
#[cfg(feature = "server")]
pub mod api;
#[cfg(feature = "cli")]
pub mod cli;
/// Entry points for the fuzz targets (`fuzz/`) and their regression tests; not a stable API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "server")]
pub mod server;
pub mod vectors;

pub use clock::{Clock, ManualClock, OffsetClock, SystemClock, UnixTime};
pub use crypto::KeySpec;
pub use error::{Error, ObjectKind, Result};
pub use handle::KeyHandle;
pub use lifecycle::SweepReport;
pub use model::access::AccessPolicy;
pub use store::MasterKeySource;
pub use vault::{Store, StoreBuilder, Vault};

/// The README's examples, compiled and run as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
