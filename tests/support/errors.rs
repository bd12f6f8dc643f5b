//! Errors named by what they say: "KeyNotFound", "VaultIsDeleted", "PurgeProtected"...
//!
//! Tests check object errors (not found, exists, deleted) by these names rather than by
//! matching `Error` variants: the core spells them as one variant carrying an object kind,
//! and [`error_name`] alone knows how.

use std::fmt::Debug;

use localhsm::{Error, ObjectKind};

/// The name of an error as tests compare it: its kind of object and what happened to it
/// ("KeyNotFound", "DeletedKeyNotFound", "KeyIsDeleted", "KeyExists", "KeyDisabled",
/// "VaultNotFound", "DeletedVaultNotFound", "VaultIsDeleted", "VaultExists",
/// "RoleAssignmentNotFound"...), and for other errors their variant ("PurgeProtected",
/// "BadParameter"...).
pub fn error_name(e: &Error) -> String {
    let kind = |k: &ObjectKind| {
        let noun = k.to_string();
        noun[..1].to_ascii_uppercase() + &noun[1..]
    };
    match e {
        Error::NotFound { kind: k, .. } => format!("{}NotFound", kind(k)),
        Error::DeletedNotFound { kind: k, .. } => format!("Deleted{}NotFound", kind(k)),
        Error::IsDeleted { kind: k, .. } => format!("{}IsDeleted", kind(k)),
        Error::AlreadyExists { kind: k, .. } => format!("{}Exists", kind(k)),
        Error::Disabled { kind: k, .. } => format!("{}Disabled", kind(k)),
        Error::NotYetValid { kind: k, .. } => format!("{}NotYetValid", kind(k)),
        Error::Expired { kind: k, .. } => format!("{}Expired", kind(k)),
        other => format!("{other:?}")
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect(),
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
