//! What checking a file found ([`FileReport`]), and the errors of generating and reading
//! vector files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Which format a checked file was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    /// localhsm's own format (`vectors/README.md`).
    Localhsm,
    /// Project Wycheproof's JSON test vectors.
    Wycheproof,
    /// Unreadable, or neither format.
    Unknown,
}

/// One case that failed, or a problem with the whole file (`id` absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseFailure {
    /// The case id (`id` / `tcId`); `None` for a file-level problem.
    pub id: Option<u64>,
    /// What was expected and what happened.
    pub detail: String,
}

/// The outcome of checking one file (or one Wycheproof set).
///
/// `passed + failed + skipped == cases`. Wycheproof's `acceptable` cases may go either way;
/// they count as passed and are also tallied on their own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileReport {
    /// The name the file was checked under (its file name).
    pub file: String,
    /// The file's format.
    pub format: Option<SourceFormat>,
    /// The family (localhsm format) or `algorithm` (Wycheproof).
    pub algorithm: String,
    /// Number of cases in the file.
    pub cases: usize,
    /// Cases whose outcome matched the expected result.
    pub passed: usize,
    /// Cases whose outcome contradicted it (or that were malformed).
    pub failed: usize,
    /// Cases not run because Key Vault does not offer their parameters.
    pub skipped: usize,
    /// Wycheproof `acceptable` cases the implementation accepted (included in `passed`).
    pub acceptable_accepted: usize,
    /// Wycheproof `acceptable` cases the implementation refused (included in `passed`).
    pub acceptable_rejected: usize,
    /// Skip reason to the number of cases skipped for it.
    pub skip_reasons: BTreeMap<String, usize>,
    /// One entry per failed case (and per file-level problem).
    pub failures: Vec<CaseFailure>,
    /// Why the file could not be checked at all (unreadable, not JSON, neither format,
    /// no cases). A file with an error is not [`ok`](FileReport::ok).
    pub error: Option<String>,
}

impl FileReport {
    pub(crate) fn new(file: &str, format: SourceFormat, algorithm: &str) -> Self {
        Self {
            file: file.to_string(),
            format: Some(format),
            algorithm: algorithm.to_string(),
            ..Self::default()
        }
    }

    pub(crate) fn broken(file: &str, format: SourceFormat, error: impl Into<String>) -> Self {
        let error = error.into();
        Self {
            file: file.to_string(),
            format: Some(format),
            failures: vec![CaseFailure {
                id: None,
                detail: error.clone(),
            }],
            error: Some(error),
            ..Self::default()
        }
    }

    /// No case failed, nothing was wrong with the file, and it had cases.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.error.is_none() && self.cases > 0
    }

    /// Cases that ran (passed or failed).
    pub fn ran(&self) -> usize {
        self.passed + self.failed
    }

    /// The ids of the failed cases, in file order.
    pub fn failed_ids(&self) -> Vec<u64> {
        self.failures.iter().filter_map(|f| f.id).collect()
    }

    pub(crate) fn pass(&mut self) {
        self.passed += 1;
    }

    pub(crate) fn fail(&mut self, id: Option<u64>, detail: impl Into<String>) {
        self.failed += 1;
        self.failures.push(CaseFailure {
            id,
            detail: detail.into(),
        });
    }

    pub(crate) fn skip(&mut self, reason: impl Into<String>, n: usize) {
        if n == 0 {
            return;
        }
        self.skipped += n;
        *self.skip_reasons.entry(reason.into()).or_default() += n;
    }

    /// One line: `name: N cases, N passed, N failed, N skipped`, plus the acceptable
    /// breakdown when there is one.
    pub fn summary(&self) -> String {
        if let Some(e) = &self.error {
            return format!("{}: not checked: {e}", self.file);
        }
        let mut s = format!(
            "{}: {} cases, {} passed, {} failed, {} skipped",
            self.file, self.cases, self.passed, self.failed, self.skipped
        );
        let acceptable = self.acceptable_accepted + self.acceptable_rejected;
        if acceptable > 0 {
            s += &format!(
                " ({acceptable} acceptable: {} accepted, {} rejected)",
                self.acceptable_accepted, self.acceptable_rejected
            );
        }
        s
    }

    /// The summary line, then the skip reasons, the failed ids and each failure, indented.
    pub fn details(&self) -> String {
        let mut s = self.summary();
        for (why, n) in &self.skip_reasons {
            s += &format!("\n  skipped {n}: {why}");
        }
        let ids = self.failed_ids();
        if !ids.is_empty() {
            let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
            s += &format!("\n  failed ids: {}", ids.join(", "));
        }
        if self.error.is_none() {
            for f in &self.failures {
                match f.id {
                    Some(id) => s += &format!("\n  FAIL {id}: {}", f.detail),
                    None => s += &format!("\n  FAIL (file): {}", f.detail),
                }
            }
        }
        s
    }
}

/// Errors of generation and of reading files.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Bad options or input.
    #[error("{0}")]
    Invalid(String),
    /// A localhsm operation failed where it had to succeed.
    #[error("localhsm: {0}")]
    Localhsm(#[from] crate::Error),
}

/// A file's name for reports: its last path component.
pub(crate) fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines() {
        let mut r = FileReport::new("x.json", SourceFormat::Localhsm, "aes-kw");
        r.cases = 4;
        r.pass();
        r.pass();
        r.fail(Some(3), "wrong output");
        r.skip("AES-512", 1);
        assert_eq!(
            r.summary(),
            "x.json: 4 cases, 2 passed, 1 failed, 1 skipped"
        );
        let d = r.details();
        assert!(
            d.contains("failed ids: 3") && d.contains("skipped 1: AES-512"),
            "{d}"
        );
        assert!(!r.ok());
        assert_eq!(r.failed_ids(), vec![3]);
    }
}
