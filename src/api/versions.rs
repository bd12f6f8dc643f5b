//! The `api-version` values of Key Vault's data plane: every GA and preview version the
//! Key Vault REST specifications publish from 7.0 on, and what the server makes of one it
//! does not know.
//!
//! Layer: faces, shared. Imports nothing of the crate; the server asks [`check`] about
//! each data-plane request.
//!
//! Invariants: [`KNOWN`] is in release order and [`NEWEST`] is its last entry (a test
//! holds both); a version is accepted when it is known, or when it has a version's shape
//! (`7.x`, `7.x-preview[.n]`, `YYYY-MM-DD`, `YYYY-MM-DD-preview`) and sorts after the
//! newest known version of the same shape, in which case it is served as [`NEWEST`]. An
//! earlier or malformed version is refused, and so is every unknown one under
//! [`VersionPolicy::strict`].

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// Every data-plane api-version in the Key Vault REST specifications
/// (`specification/keyvault/data-plane/`, in the `Microsoft.KeyVault`, `Legacy`, `Keys`,
/// `Secrets`, `Certificates`, `Administration`, `SecurityDomain` and `SecretsStorage`
/// folders, `stable` and `preview`), from 7.0, in release order. The Managed HSM-only
/// surfaces (administration, security domain) use the same version names.
pub const KNOWN: &[&str] = &[
    "7.0-preview",
    "7.0",
    "7.1-preview",
    "7.1",
    "7.2-preview",
    "7.2",
    "7.3-preview",
    "7.3",
    "7.4-preview.1",
    "7.4",
    "7.5-preview.1",
    "7.5",
    "7.6-preview.1",
    "7.6-preview.2",
    "7.6",
    "2025-06-01-preview",
    "2025-06-01",
    "2025-07-01-preview",
    "2025-07-01",
    "2026-01-01-preview",
    "2026-03-01-preview",
    "2026-04-01",
    "2026-05-01-preview",
    "2026-07-01-preview",
];

/// The newest version in the specifications: the semantics a later, unknown version gets.
pub const NEWEST: &str = "2026-07-01-preview";

/// How strictly the server reads `api-version` (`localhsm serve --strict-api-version`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VersionPolicy {
    /// Only [`KNOWN`] versions; a later one is refused like an earlier one.
    pub strict: bool,
}

/// How the server serves an accepted version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// One of [`KNOWN`].
    Known,
    /// A later version than any known one of its shape, served as [`NEWEST`].
    Later,
}

/// Whether `version` is served under `policy`: `Ok` with how, or `Err` with the message
/// of the 400 that refuses it (it names the version and the supported ones).
pub fn check(version: &str, policy: VersionPolicy) -> Result<Served, String> {
    if KNOWN.contains(&version) {
        return Ok(Served::Known);
    }
    if !policy.strict && is_later(version) {
        return Ok(Served::Later);
    }
    let later = if policy.strict {
        ""
    } else {
        ", or a later version of the same form"
    };
    Err(format!(
        "api-version {version:?} is not supported; supported: {}{later}",
        KNOWN.join(", ")
    ))
}

/// The message of the 400 for a request without `api-version`.
pub fn missing() -> String {
    format!(
        "the api-version query parameter is required; supported: {}",
        KNOWN.join(", ")
    )
}

/// Logs, once per version and process, that `version` is served as [`NEWEST`]. At most
/// [`MAX_NOTED`] versions are remembered, so made-up versions cannot grow memory; past
/// that they are served without a word.
pub fn note_later(version: &str) {
    static NOTED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let mut noted = NOTED.lock().unwrap_or_else(|p| p.into_inner());
    if noted.len() >= MAX_NOTED || noted.contains(version) {
        return;
    }
    noted.insert(version.to_string());
    tracing::warn!(
        api_version = version,
        served_as = NEWEST,
        "api-version {version} is newer than any this server knows; serving it as {NEWEST}"
    );
}

/// How many later versions [`note_later`] remembers.
pub const MAX_NOTED: usize = 64;

/// A version's place in release order: numbered (`7.x`) ones before dated ones; a preview
/// before the GA of the same number or date.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    /// `major.minor`, then 0 for `-preview`, `n + 1` for `-preview.n`, and `u32::MAX`
    /// for the GA.
    Numbered(u32, u32, u32),
    /// Year, month, day, then 0 for a preview and 1 for the GA.
    Dated(u32, u32, u32, u32),
}

/// The release-order key of a version of one of Key Vault's two forms, or `None`.
fn key(version: &str) -> Option<Key> {
    if let Some(key) = dated(version) {
        return Some(key);
    }
    let (number, pre) = match version.split_once("-preview") {
        Some((number, "")) => (number, Some(0)),
        Some((number, n)) => (number, Some(digits(n.strip_prefix('.')?)?.checked_add(1)?)),
        None => (version, None),
    };
    let (major, minor) = number.split_once('.')?;
    Some(Key::Numbered(
        digits(major)?,
        digits(minor)?,
        pre.unwrap_or(u32::MAX),
    ))
}

fn dated(version: &str) -> Option<Key> {
    let (date, ga) = match version.strip_suffix("-preview") {
        Some(date) => (date, 0),
        None => (version, 1),
    };
    let mut parts = date.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d) = (digits(y)?, digits(m)?, digits(d)?);
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some(Key::Dated(y, m, d, ga))
}

/// A decimal number of at most 9 ASCII digits (no sign, no spaces).
fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Whether `version` has a version's form and sorts after every known version of its form.
fn is_later(version: &str) -> bool {
    let Some(k) = key(version) else {
        return false;
    };
    let same_form = |other: &Key| {
        matches!(
            (&k, other),
            (Key::Numbered(..), Key::Numbered(..)) | (Key::Dated(..), Key::Dated(..))
        )
    };
    KNOWN
        .iter()
        .filter_map(|v| key(v))
        .filter(same_form)
        .all(|known| k.cmp(&known) == Ordering::Greater)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LENIENT: VersionPolicy = VersionPolicy { strict: false };
    const STRICT: VersionPolicy = VersionPolicy { strict: true };

    #[test]
    fn the_list_is_in_release_order_and_ends_with_the_newest() {
        let keys: Vec<Key> = KNOWN
            .iter()
            .map(|v| key(v).unwrap_or_else(|| panic!("{v} has no version form")))
            .collect();
        for pair in keys.windows(2) {
            assert!(pair[0] < pair[1], "{:?} before {:?}", pair[0], pair[1]);
        }
        assert_eq!(KNOWN.last(), Some(&NEWEST));
        for v in [
            "7.0",
            "7.2",
            "7.6-preview.2",
            "2025-07-01",
            "2026-04-01",
            NEWEST,
        ] {
            assert_eq!(check(v, STRICT), Ok(Served::Known), "{v}");
        }
    }

    #[test]
    fn later_versions_are_served_as_the_newest_unless_strict() {
        for v in [
            "2026-07-01",
            "2026-08-01-preview",
            "2027-01-01",
            "2099-12-31-preview",
            "7.7",
            "7.10",
            "8.0",
            "7.7-preview.1",
        ] {
            assert_eq!(check(v, LENIENT), Ok(Served::Later), "{v}");
            let refused = check(v, STRICT).unwrap_err();
            assert!(
                refused.contains(&format!("{v:?} is not supported")),
                "{refused}"
            );
            assert!(!refused.contains("later version"), "{refused}");
        }
    }

    #[test]
    fn earlier_and_malformed_versions_are_refused() {
        for v in [
            "",
            "1.0",
            "6.0",
            "7.5.1",
            "7",
            "7.",
            ".5",
            "7.5-preview.x",
            "7.5-previewer",
            "7.6-preview.3",
            "+7.7",
            "7.7 ",
            "07.7-beta",
            "2016-10-01",
            "2015-06-01",
            "2026-06-30",
            "2026-07-01-beta",
            "2026-7-01",
            "2026-13-01",
            "2026-12-32",
            "2026-00-10",
            "20260-01-01",
            "2026-08-01-preview-preview",
            "9999999999.0",
            "latest",
        ] {
            let refused = check(v, LENIENT).unwrap_err();
            assert!(
                refused.contains(&format!("{v:?} is not supported")),
                "{refused}"
            );
            assert!(refused.contains("7.0, "), "{refused}");
            assert!(refused.contains(NEWEST), "{refused}");
        }
    }

    #[test]
    fn forms_order_previews_before_their_ga() {
        assert!(key("7.6-preview.2") < key("7.6"));
        assert!(key("7.6-preview") < key("7.6-preview.1"));
        assert!(key("7.9") < key("2016-10-01"));
        assert!(key("2026-07-01-preview") < key("2026-07-01"));
        assert!(key("2026-07-01") < key("2026-07-02-preview"));
        assert!(missing().contains(NEWEST));
    }
}
