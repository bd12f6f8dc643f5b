//! Where the master key comes from: the environment, a key file in the data directory
//! (created with mode 0600 on first open), a passphrase, or bytes given by the caller.
//! Part of the storage layer: the key never leaves it, only the sealing keys derived from
//! it ([`super::seal`]).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use base64::Engine as _;

use crate::crypto::{random_bytes, SecretBytes};
use crate::error::{Error, Result};

/// The environment variable holding a master key (64 hex digits or base64 of 32 bytes).
pub const MASTER_KEY_ENV: &str = "LOCALHSM_MASTER_KEY";
/// The key file's name inside the data directory.
pub const KEY_FILE_NAME: &str = "master.key";
/// PBKDF2-HMAC-SHA256 iterations for passphrases (OWASP's 2023 recommendation).
const PBKDF2_ITERATIONS: u32 = 600_000;

/// How [`crate::Store`] obtains its master key.
pub enum MasterKeySource {
    /// `LOCALHSM_MASTER_KEY` when set, else the key file in the data directory (created on
    /// first open).
    Default,
    /// `LOCALHSM_MASTER_KEY`, which must be set.
    Env,
    /// The key file in the data directory, created with mode 0600 on first open.
    KeyFile,
    /// A passphrase, stretched with PBKDF2-HMAC-SHA256 and a per-store salt.
    Passphrase(SecretBytes),
    /// 32 bytes given directly.
    Bytes(SecretBytes),
}

impl std::fmt::Debug for MasterKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MasterKeySource::Default => "Default",
            MasterKeySource::Env => "Env",
            MasterKeySource::KeyFile => "KeyFile",
            MasterKeySource::Passphrase(_) => "Passphrase([REDACTED])",
            MasterKeySource::Bytes(_) => "Bytes([REDACTED])",
        })
    }
}

/// Parses a master key written as 64 hex digits or as base64 (standard or url-safe).
pub fn parse_master_key(text: &str) -> Result<SecretBytes> {
    let text = zeroize::Zeroizing::new(text.trim().to_string());
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text.as_bytes()).ok()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text.as_bytes()))
            .or_else(|_| crate::crypto::jwk::b64url_decode(&text))
            .ok()
    };
    match bytes {
        Some(b) if b.len() == 32 => Ok(SecretBytes::new(b)),
        Some(b) => {
            let n = b.len();
            drop(SecretBytes::new(b));
            Err(Error::MasterKey(format!(
                "a master key must be 32 bytes, this one decodes to {n}"
            )))
        }
        None => Err(Error::MasterKey(
            "a master key must be 64 hex digits or base64 of 32 bytes".into(),
        )),
    }
}

/// Resolves `source` for the store whose key file (if any) lives in `dir`. `salt`
/// supplies the per-store passphrase salt. Only a `fresh` store (one with nothing sealed
/// yet) gets a new key file: for an existing store a missing file is an error that
/// creates nothing, since no new key could open what the old one sealed.
pub(crate) fn resolve(
    source: MasterKeySource,
    dir: Option<&Path>,
    fresh: bool,
    salt: impl FnOnce() -> Result<Vec<u8>>,
) -> Result<SecretBytes> {
    let key_file = || {
        match dir {
        Some(dir) => key_file(dir, fresh),
        None => Err(Error::MasterKey(format!(
            "this store has no data directory for a key file; set {MASTER_KEY_ENV} or give a passphrase"
        ))),
    }
    };
    match source {
        MasterKeySource::Bytes(b) => Ok(b),
        MasterKeySource::Env => {
            from_env()?.ok_or_else(|| Error::MasterKey(format!("{MASTER_KEY_ENV} is not set")))
        }
        MasterKeySource::KeyFile => key_file(),
        MasterKeySource::Default => match from_env()? {
            Some(k) => Ok(k),
            None => key_file(),
        },
        MasterKeySource::Passphrase(p) => {
            let salt = salt()?;
            let mut out = vec![0u8; 32];
            ring::pbkdf2::derive(
                ring::pbkdf2::PBKDF2_HMAC_SHA256,
                std::num::NonZeroU32::new(PBKDF2_ITERATIONS).unwrap_or(std::num::NonZeroU32::MIN),
                &salt,
                p.expose(),
                &mut out,
            );
            Ok(SecretBytes::new(out))
        }
    }
}

/// Refuses, before anything in `dir` is opened or written, to open the existing store
/// there (its database `db` exists) when `source` reads the key file and the file is
/// missing: opening the database would already write to it, and a new key could not open
/// what the old one sealed.
pub(crate) fn refuse_missing_key_file(
    source: &MasterKeySource,
    dir: &Path,
    db: &Path,
) -> Result<()> {
    let reads_file = match source {
        MasterKeySource::KeyFile => true,
        MasterKeySource::Default => std::env::var_os(MASTER_KEY_ENV).is_none(),
        _ => false,
    };
    if reads_file && db.exists() && !dir.join(KEY_FILE_NAME).exists() {
        return Err(missing_key_file(dir));
    }
    Ok(())
}

fn missing_key_file(dir: &Path) -> Error {
    Error::MasterKey(format!(
        "{} is missing, and the store in {} is sealed under the key it held: put the file \
         back from your backup, or give that key in {MASTER_KEY_ENV}",
        dir.join(KEY_FILE_NAME).display(),
        dir.display()
    ))
}

fn from_env() -> Result<Option<SecretBytes>> {
    match std::env::var(MASTER_KEY_ENV) {
        Ok(v) => {
            let v = zeroize::Zeroizing::new(v);
            parse_master_key(&v)
                .map(Some)
                .map_err(|e| Error::MasterKey(format!("{MASTER_KEY_ENV}: {e}")))
        }
        Err(_) => Ok(None),
    }
}

fn key_file(dir: &Path, may_create: bool) -> Result<SecretBytes> {
    let path = dir.join(KEY_FILE_NAME);
    match fs::read(&path) {
        Ok(bytes) => {
            check_permissions(&path)?;
            let text = zeroize::Zeroizing::new(bytes);
            let text = std::str::from_utf8(&text).map_err(|_| {
                Error::MasterKey(format!("{} is not a hex key file", path.display()))
            })?;
            parse_master_key(text).map_err(|e| Error::MasterKey(format!("{}: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && may_create => create_key_file(&path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(missing_key_file(dir)),
        Err(e) => Err(Error::MasterKey(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

fn create_key_file(path: &Path) -> Result<SecretBytes> {
    let key = SecretBytes::new(random_bytes(32)?);
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts
        .open(path)
        .map_err(|e| Error::MasterKey(format!("cannot create {}: {e}", path.display())))?;
    let text = zeroize::Zeroizing::new(hex::encode(key.expose()) + "\n");
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::MasterKey(format!("cannot write {}: {e}", path.display())))?;
    Ok(key)
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(Error::MasterKey(format!(
            "{} is readable by other users (mode {:o}); run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_and_base64() {
        let hex_key = "00".repeat(31) + "ff";
        assert_eq!(parse_master_key(&hex_key).unwrap().expose()[31], 0xff);
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(parse_master_key(&b64).unwrap().expose(), &[7u8; 32]);
        assert!(parse_master_key("abcd").is_err());
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        assert!(parse_master_key(&short).is_err());
    }
}
