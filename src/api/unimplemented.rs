//! The calls of Key Vault's data plane that localhsm does not implement: each one the REST
//! specifications define (for any data-plane version from 7.0 to [`super::versions::NEWEST`])
//! and [`super::routes::ROUTES`] has no row for. The server answers them 501
//! `NotImplemented` naming the operation, so an SDK reports "not implemented" rather than
//! "not found".
//!
//! Layer: faces, shared. Imports the HTTP method type only.
//!
//! Invariants: the server consults this table only after [`super::routes::lookup`] misses,
//! so a row of `ROUTES` always wins (a test holds that no entry here is reachable through
//! `ROUTES`, so an entry is removed when its call gets a row); whole families of calls
//! localhsm has none of (storage accounts, the security domain, EKM connections) are also
//! claimed by their first path segment, for paths later specifications may add.

use axum::http::Method;

/// A call of the specifications without a row in `ROUTES`.
#[derive(Debug)]
pub struct Unimplemented {
    /// Its HTTP method.
    pub method: Method,
    /// Its path as the specifications spell it, without the leading `/`; `{...}` segments
    /// are placeholders.
    pub path: &'static str,
    /// The operation, as the REST reference names it.
    pub operation: &'static str,
}

macro_rules! unimplemented_calls {
    ($($method:ident $path:literal => $operation:literal;)+) => {
        /// The calls, by feature.
        pub static UNIMPLEMENTED: &[Unimplemented] = &[
            $(Unimplemented {
                method: Method::$method,
                path: $path,
                operation: $operation,
            },)+
        ];
    };
}

unimplemented_calls! {
    // Keys: secure key release (7.3), its 7.3-preview name, key attestation (7.6) and the
    // TEE-attested wrap and unwrap (2026-04-01).
    POST "keys/{key-name}/{key-version}/release" => "Release Key";
    POST "keys/{key-name}/{key-version}/export" => "Export Key";
    GET "keys/{key-name}/{key-version}/attestation" => "Get Key Attestation";
    POST "keys/{key-name}/{key-version}/securewrapkey" => "Secure Wrap Key";
    POST "keys/{key-name}/{key-version}/secureunwrapkey" => "Secure Unwrap Key";
    // Storage accounts and SAS definitions managed by Key Vault (7.0 to 7.6).
    GET "storage" => "Get Storage Accounts";
    POST "storage/restore" => "Restore Storage Account";
    GET "storage/{storage-account-name}" => "Get Storage Account";
    PUT "storage/{storage-account-name}" => "Set Storage Account";
    PATCH "storage/{storage-account-name}" => "Update Storage Account";
    DELETE "storage/{storage-account-name}" => "Delete Storage Account";
    POST "storage/{storage-account-name}/backup" => "Backup Storage Account";
    POST "storage/{storage-account-name}/regeneratekey" => "Regenerate Storage Account Key";
    GET "storage/{storage-account-name}/sas" => "Get SAS Definitions";
    GET "storage/{storage-account-name}/sas/{sas-definition-name}" => "Get SAS Definition";
    PUT "storage/{storage-account-name}/sas/{sas-definition-name}" => "Set SAS Definition";
    PATCH "storage/{storage-account-name}/sas/{sas-definition-name}" => "Update SAS Definition";
    DELETE "storage/{storage-account-name}/sas/{sas-definition-name}" => "Delete SAS Definition";
    GET "deletedstorage" => "Get Deleted Storage Accounts";
    GET "deletedstorage/{storage-account-name}" => "Get Deleted Storage Account";
    DELETE "deletedstorage/{storage-account-name}" => "Purge Deleted Storage Account";
    POST "deletedstorage/{storage-account-name}/recover" => "Recover Deleted Storage Account";
    GET "deletedstorage/{storage-account-name}/sas" => "Get Deleted SAS Definitions";
    GET "deletedstorage/{storage-account-name}/sas/{sas-definition-name}" => "Get Deleted SAS Definition";
    POST "deletedstorage/{storage-account-name}/sas/{sas-definition-name}/recover" => "Recover Deleted SAS Definition";
    // The Managed HSM security domain (7.2).
    POST "securitydomain/download" => "Security Domain Download";
    GET "securitydomain/download/pending" => "Security Domain Download Pending";
    GET "securitydomain/upload" => "Security Domain Transfer Key";
    POST "securitydomain/upload" => "Security Domain Upload";
    GET "securitydomain/upload/pending" => "Security Domain Upload Pending";
    // External Key Manager connections (2026-01-01-preview).
    GET "ekm" => "Get EKM Connection";
    PATCH "ekm" => "Update EKM Connection";
    DELETE "ekm" => "Delete EKM Connection";
    POST "ekm/create" => "Create EKM Connection";
    GET "ekm/certificate" => "Get EKM Certificate";
    POST "ekm/check" => "Check EKM Connection";
}

/// Families of calls localhsm implements none of, by first path segment, with what they
/// manage: any path under them is answered as not implemented.
pub const FAMILIES: &[(&str, &str)] = &[
    ("storage", "Storage account"),
    ("deletedstorage", "Deleted storage account"),
    ("securitydomain", "Security domain"),
    ("ekm", "External Key Manager (EKM)"),
];

/// What a request asks for that localhsm does not implement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The operation (or family of operations) it names.
    pub operation: String,
    /// `METHOD /path` as the specifications spell it, when the call is in the table.
    pub call: Option<String>,
}

impl Missing {
    /// The message of the 501.
    pub fn message(&self) -> String {
        match &self.call {
            Some(call) => format!("{} ({call}) is not implemented by localhsm", self.operation),
            None => format!("{} is not implemented by localhsm", self.operation),
        }
    }
}

/// The unimplemented call a request's method and path segments name, if any: a call of
/// the table, else a family by its first segment. Consult it only when `ROUTES` misses.
pub fn lookup(method: &Method, segments: &[&str]) -> Option<Missing> {
    let call = UNIMPLEMENTED.iter().find(|u| {
        u.method == *method && {
            let pieces: Vec<&str> = u.path.split('/').collect();
            pieces.len() == segments.len()
                && pieces
                    .iter()
                    .zip(segments)
                    .all(|(p, s)| p.starts_with('{') || p == s)
        }
    });
    if let Some(u) = call {
        return Some(Missing {
            operation: u.operation.to_string(),
            call: Some(format!("{} /{}", u.method, u.path)),
        });
    }
    let first = segments.first()?;
    FAMILIES
        .iter()
        .find(|(segment, _)| segment == first)
        .map(|(_, what)| Missing {
            operation: format!("{what} operations ({method} /{})", segments.join("/")),
            call: None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::routes::{lookup as route, segments, Lookup};

    /// A request path for an entry: each placeholder filled.
    fn sample(path: &str) -> String {
        let filled: Vec<&str> = path
            .split('/')
            .map(|p| match p {
                "{key-version}" => "0123456789abcdef0123456789abcdef",
                p if p.starts_with('{') => "n-1",
                p => p,
            })
            .collect();
        format!("/{}", filled.join("/"))
    }

    #[test]
    fn every_entry_is_found_and_no_row_of_the_route_table_serves_it() {
        for (i, u) in UNIMPLEMENTED.iter().enumerate() {
            let path = sample(u.path);
            let segs = segments(&path);
            assert!(
                !matches!(route(&u.method, &segs), Lookup::Found(..)),
                "{} {path} has a row in ROUTES: remove its entry here",
                u.method
            );
            let found = lookup(&u.method, &segs).expect("found");
            assert_eq!(found.operation, u.operation);
            assert!(found.message().contains(u.operation), "{}", found.message());
            assert!(
                !UNIMPLEMENTED[..i]
                    .iter()
                    .any(|o| o.method == u.method && o.path == u.path),
                "{} {} is listed twice",
                u.method,
                u.path
            );
        }
    }

    #[test]
    fn families_claim_their_other_paths_and_nothing_else_is_claimed() {
        let m = lookup(&Method::PUT, &segments("/ekm/privateEndpoints/pe1")).expect("family");
        assert!(m
            .operation
            .starts_with("External Key Manager (EKM) operations"));
        assert!(
            m.message().contains("PUT /ekm/privateEndpoints/pe1"),
            "{}",
            m.message()
        );
        assert!(lookup(&Method::PUT, &segments("/storage/s1/sas/d1/extra")).is_some());
        for (method, path) in [
            (Method::POST, "/keys/k/v/frobnicate"),
            (Method::GET, "/keys/k/v/release"),
            (Method::POST, "/keys/k/release"),
            (Method::GET, "/frobnicate"),
            (Method::GET, "/storages"),
            (Method::GET, "/"),
        ] {
            assert_eq!(lookup(&method, &segments(path)), None, "{method} {path}");
        }
    }
}
