//! Errors named by what they say: "KeyNotFound", "VaultIsDeleted", "PurgeProtected"...
//!
//! Tests check object errors (not found, exists, deleted) by these names rather than by
//! matching `Error` variants, so that how the core spells them (one variant per object, or
//! one variant carrying an object kind) is known in [`error_name`] alone.

use std::fmt::Debug;

use localhsm::Error;

/// The name of an error as tests compare it: its kind of object and what happened to it
/// ("KeyNotFound", "DeletedKeyNotFound", "KeyIsDeleted", "KeyExists", "VaultNotFound",
/// "DeletedVaultNotFound", "VaultIsDeleted", "VaultExists", "RoleAssignmentNotFound"...),
/// and for other errors their variant ("PurgeProtected", "BadParameter"...).
///
/// Read from `Debug`: the variant's name, after the value of its `kind` field when it has
/// one first (`NotFound { kind: Key, .. }` is "KeyNotFound").
pub fn error_name(e: &Error) -> String {
    let debug = format!("{e:?}");
    let word = |s: &str| -> String { s.chars().take_while(char::is_ascii_alphanumeric).collect() };
    let variant = word(&debug);
    match debug[variant.len()..].trim_start().strip_prefix("{ kind: ") {
        Some(rest) => format!("{}{variant}", word(rest)),
        None => variant,
    }
}

/// "Ok", or the [`error_name`] of the error.
pub fn outcome<T>(r: &localhsm::Result<T>) -> String {
    match r {
        Ok(_) => "Ok".to_string(),
        Err(e) => error_name(e),
    }
}

/// Whether `r` failed with an error named `name`.
pub fn fails_with<T>(r: &localhsm::Result<T>, name: &str) -> bool {
    outcome(r) == name
}

/// The error of `r`, which must be named `name`; panics with what came instead.
#[track_caller]
pub fn expect_err<T: Debug>(r: localhsm::Result<T>, name: &str) -> Error {
    match r {
        Err(e) if error_name(&e) == name => e,
        other => panic!("expected {name}, got {other:?}"),
    }
}

/// The error of `r`, which must be named `name` and go on the wire as HTTP `status` with
/// Key Vault error code `code` and inner error code `inner`.
#[track_caller]
pub fn expect_wire_err<T: Debug>(
    r: localhsm::Result<T>,
    name: &str,
    (status, code, inner): (u16, &str, Option<&str>),
) -> Error {
    let e = expect_err(r, name);
    let w = e.wire();
    assert_eq!((w.status, w.code, w.inner), (status, code, inner), "{e}");
    e
}
