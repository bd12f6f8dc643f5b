//! Reading the user's inputs: byte values in several spellings, files, stdin, and JSON Web
//! Keys.
//!
//! Layer: faces (CLI). May import the core's `crypto` and `cli::error`. Invariant: only one
//! input of a command is read from stdin; a bad input names the option it came from.

use std::io::Read as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde_json::Value;

use super::error::CliError;
use crate::crypto::Jwk;

/// How byte values may be written, for hints.
pub const BYTES_SYNTAX: &str =
    "byte values are written hex:..., b64:... (base64url or standard base64), @FILE (raw bytes), \
     - (raw bytes from stdin), or plain base64url";

/// Standard base64, padded or not.
const STANDARD_ANY_PAD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

static STDIN_TAKEN: AtomicBool = AtomicBool::new(false);

/// Reads all of stdin; only one input of a command may come from it.
fn stdin(what: &str) -> Result<Vec<u8>, CliError> {
    if STDIN_TAKEN.swap(true, Ordering::SeqCst) {
        return Err(CliError::new(
            format!("{what}: stdin was already read for another value"),
            "only one value can come from stdin (-); give the others as @FILE",
        ));
    }
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .map_err(|e| CliError::bare(format!("{what}: cannot read stdin: {e}")))?;
    Ok(buf)
}

/// Reads a file's raw bytes; `what` names the input in errors.
pub fn file(path: &Path, what: &str) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| {
        CliError::new(
            format!("{what}: cannot read {}: {e}", path.display()),
            "check the path and that you may read the file",
        )
    })
}

/// Writes raw bytes to a file.
pub fn write_file(path: &Path, bytes: &[u8], what: &str) -> Result<(), CliError> {
    std::fs::write(path, bytes).map_err(|e| {
        CliError::new(
            format!("cannot write {what} to {}: {e}", path.display()),
            "check that the directory exists and that you may write to it",
        )
    })
}

/// Decodes a byte value: `hex:...`, `b64:...`, `@FILE`, `-` (stdin), or plain base64url.
pub fn bytes(arg: &str, what: &str) -> Result<Vec<u8>, CliError> {
    let bad = |why: String| CliError::new(format!("{what}: {why}"), BYTES_SYNTAX);
    if arg == "-" {
        return stdin(what);
    }
    if let Some(path) = arg.strip_prefix('@') {
        return file(Path::new(path), what);
    }
    if let Some(h) = arg.strip_prefix("hex:") {
        let h: String = h.chars().filter(|c| !c.is_whitespace()).collect();
        return hex::decode(&h).map_err(|e| bad(format!("invalid hex ({e})")));
    }
    let (text, explicit) = match arg.strip_prefix("b64:") {
        Some(t) => (t, true),
        None => (arg, false),
    };
    let text = text.trim();
    if let Ok(b) = crate::crypto::jwk::b64url_decode(text) {
        return Ok(b);
    }
    if explicit {
        return STANDARD_ANY_PAD
            .decode(text)
            .map_err(|e| bad(format!("invalid base64 ({e})")));
    }
    Err(bad(format!(
        "{:?} is not base64url; prefix hex: or b64: to give another encoding",
        abbreviate(arg)
    )))
}

/// An optional byte value.
pub fn opt_bytes(arg: Option<&str>, what: &str) -> Result<Option<Vec<u8>>, CliError> {
    arg.map(|a| bytes(a, what)).transpose()
}

/// Reads a JSON Web Key from a file or `-` (stdin).
pub fn jwk(arg: &str) -> Result<Jwk, CliError> {
    let raw = if arg == "-" {
        stdin("--jwk")?
    } else {
        file(Path::new(arg), "--jwk")?
    };
    let value: Value = serde_json::from_slice(&raw).map_err(|e| {
        CliError::new(
            format!("--jwk: {arg} is not JSON: {e}"),
            "give a JSON Web Key (RFC 7517) with its private members, e.g. {\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":...,\"y\":...,\"d\":...}",
        )
    })?;
    if !value.is_object() || value.get("kty").is_none() {
        return Err(CliError::new(
            format!("--jwk: {arg} is not a JSON Web Key (no \"kty\" member)"),
            "give a single JWK object, not a set or a wrapper",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        CliError::new(
            format!("--jwk: {arg}: member '{}': {}", e.path(), e.inner()),
            "give a JSON Web Key (RFC 7517) whose members are base64url",
        )
    })
}

fn abbreviate(s: &str) -> String {
    if s.chars().count() > 24 {
        format!("{}...", s.chars().take(24).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_decodes() {
        assert_eq!(bytes("hex:00ff 10", "x").unwrap(), vec![0, 255, 16]);
        assert_eq!(bytes("AP8Q", "x").unwrap(), vec![0, 255, 16]);
        assert_eq!(bytes("b64:AP8Q", "x").unwrap(), vec![0, 255, 16]);
        assert_eq!(bytes("b64:+/8=", "x").unwrap(), vec![251, 255]);
        assert_eq!(bytes("b64:-_8", "x").unwrap(), vec![251, 255]);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, [1, 2, 3]).unwrap();
        assert_eq!(
            bytes(&format!("@{}", p.display()), "x").unwrap(),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn bad_values_name_the_input_and_the_syntax() {
        let e = bytes("hex:zz", "--iv").unwrap_err();
        assert!(e.message.starts_with("--iv: invalid hex"));
        assert_eq!(e.hint.as_deref(), Some(BYTES_SYNTAX));
        let e = bytes("not base64!", "digest").unwrap_err();
        assert!(e.message.contains("not base64url"));
        assert!(bytes("@/no/such/file", "digest").is_err());
    }
}
