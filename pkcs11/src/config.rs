//! Where the module finds its store: `LOCALHSM_PKCS11_CONF` names a configuration file;
//! without it, `LOCALHSM_DATA` (else the CLI's default data directory) and the master key
//! from `LOCALHSM_MASTER_KEY` or the data directory's key file, as the CLI finds them.
//!
//! The configuration file has one `name = value` per line (`#` starts a comment):
//! - `data`: the data directory;
//! - `master_key_file`: a file holding the master key (64 hex digits or base64 of 32 bytes);
//! - `passphrase_file`: a file holding the store's passphrase.
//!
//! At most one of the last two; with neither, the usual sources apply.

use std::path::{Path, PathBuf};

use localhsm::crypto::SecretBytes;
use localhsm::store::parse_master_key;
use localhsm::MasterKeySource;

/// The environment variable naming a configuration file.
pub const CONF_ENV: &str = "LOCALHSM_PKCS11_CONF";
/// The environment variable naming the data directory (the CLI's `--data`).
pub const DATA_ENV: &str = "LOCALHSM_DATA";

/// What the module opens.
#[derive(Debug)]
pub struct Config {
    /// The data directory.
    pub data: PathBuf,
    /// Where the master key comes from.
    pub master_key: MasterKeySource,
}

/// The configuration from the environment (and the file it names).
pub fn from_env() -> Result<Config, String> {
    match std::env::var_os(CONF_ENV) {
        Some(path) => from_file(Path::new(&path)),
        None => Ok(Config {
            data: default_data_dir(),
            master_key: MasterKeySource::Default,
        }),
    }
}

/// `LOCALHSM_DATA`, else the user's data directory, as the CLI picks it.
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(DATA_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("localhsm")
}

/// Reads a configuration file.
pub fn from_file(path: &Path) -> Result<Config, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {CONF_ENV} file {}: {e}", path.display()))?;
    parse(&text, path.parent().unwrap_or(Path::new(".")))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses a configuration; relative paths are taken from `base` (the file's directory).
pub fn parse(text: &str, base: &Path) -> Result<Config, String> {
    let mut data = None;
    let mut master_key = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (name, value) = line
            .split_once('=')
            .map(|(a, b)| (a.trim(), b.trim()))
            .ok_or_else(|| format!("line {}: expected name = value", n + 1))?;
        let path = base.join(value);
        match name {
            "data" => data = Some(path),
            "master_key_file" | "passphrase_file" if master_key.is_some() => {
                return Err(format!(
                    "line {}: give master_key_file or passphrase_file, not both",
                    n + 1
                ))
            }
            "master_key_file" => {
                let text = zeroize::Zeroizing::new(
                    std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
                );
                let key = parse_master_key(&text).map_err(|e| e.to_string())?;
                master_key = Some(MasterKeySource::Bytes(key));
            }
            "passphrase_file" => {
                let bytes = zeroize::Zeroizing::new(
                    std::fs::read(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
                );
                let trimmed = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
                master_key = Some(MasterKeySource::Passphrase(SecretBytes::from_slice(
                    trimmed,
                )));
            }
            other => return Err(format!("line {}: unknown setting {other:?}", n + 1)),
        }
    }
    Ok(Config {
        data: data.unwrap_or_else(default_data_dir),
        master_key: master_key.unwrap_or(MasterKeySource::Default),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_names_the_directory_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mk"), "11".repeat(32)).unwrap();
        let c = parse(
            "# store\ndata = store\nmaster_key_file = mk # the key\n",
            dir.path(),
        )
        .unwrap();
        assert_eq!(c.data, dir.path().join("store"));
        assert!(matches!(c.master_key, MasterKeySource::Bytes(_)));
    }

    #[test]
    fn unknown_settings_and_bad_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(parse("colour = blue", dir.path())
            .unwrap_err()
            .contains("unknown setting"));
        assert!(parse("data", dir.path()).is_err());
        std::fs::write(dir.path().join("mk"), "short").unwrap();
        assert!(parse("master_key_file = mk", dir.path()).is_err());
    }
}
