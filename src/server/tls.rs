//! TLS: a self-signed certificate generated into the data directory on first start
//! (SANs `localhost`, `*.localhost`, `127.0.0.1`, `::1`), or the user's own.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Paths of a certificate and its private key, PEM.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// The generated certificate's paths in `dir`: `tls/cert.pem` and `tls/key.pem`.
pub fn default_files(dir: &Path) -> TlsFiles {
    TlsFiles {
        cert: dir.join("tls").join("cert.pem"),
        key: dir.join("tls").join("key.pem"),
    }
}

/// Makes sure the generated certificate exists, creating it (key mode 0600) if not.
pub fn ensure_self_signed(dir: &Path) -> Result<TlsFiles> {
    let files = default_files(dir);
    if files.cert.exists() && files.key.exists() {
        return Ok(files);
    }
    let tls_dir = dir.join("tls");
    fs::create_dir_all(&tls_dir)?;
    let sans = ["localhost", "*.localhost", "127.0.0.1", "::1"]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>();
    let mut params = rcgen::CertificateParams::new(sans)
        .map_err(|e| Error::Storage(format!("certificate parameters: {e}")))?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "localhsm development certificate",
    );
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2049, 12, 31);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| Error::Storage(format!("certificate key: {e}")))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| Error::Storage(format!("self-signed certificate: {e}")))?;
    write_private(&files.key, key.serialize_pem().as_bytes())?;
    fs::write(&files.cert, cert.pem())?;
    Ok(files)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
