//! The soft-delete lifecycle, written once: vaults (`lifecycle::vaults`) and the versioned objects
//! they hold (`lifecycle::objects`), over the storage seam.
//!
//! Layer: lifecycle. Imports the storage layer and the base layer; knows nothing of keys,
//! secrets or certificates beyond their [`crate::ObjectKind`] (each kind adds its own policy in the
//! objects layer above: [`crate::keys`], ...).
//!
//! The rules it keeps, for every kind and for vaults (see the crate docs for the full list):
//! - retention is 7 to 90 days, fixed when the vault is created; delete moves an object (all
//!   its versions) to the deleted state with `scheduledPurgeDate = deletedDate + retention`,
//!   and its name stays taken until it is recovered or purged;
//! - under purge protection nothing is purged before its scheduled purge date, by any path,
//!   and the store never acts on a time earlier than one it has already acted on
//!   (`StoreTime`);
//! - due purges are found through the purge queue, ordered by due date, so a sweep costs in
//!   proportion to what is due;
//! - every multi-record change is one transaction, made durable before the call returns.
//!
//! `Core` caches vault records (they are read on every request and change rarely) and
//! the earliest due date of the purge queue, so a request costs no storage read for either.

pub(crate) mod core;
pub(crate) mod objects;
pub(crate) mod records;
pub(crate) mod vaults;

pub(crate) use self::core::{Core, StoreTime};
pub use vaults::{check_log_retention, SweepReport};
