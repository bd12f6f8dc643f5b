//! TLS for the dev server.
//!
//! By default the data directory holds a local certificate authority (`tls/cert.pem`, the
//! one file clients trust, and its key `tls/ca-key.pem`, mode 0600). The server issues a leaf
//! certificate for each name a client asks for by SNI: `localhost` and `{vault}.localhost`.
//! A single wildcard `*.localhost` certificate would not do: TLS clients refuse wildcards
//! directly under a one-label name. Clients connecting by IP address get a leaf for
//! `localhost`, `127.0.0.1` and `::1`. `--tls-cert/--tls-key` take the user's own instead.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::error::{Error, Result};

/// Paths of a certificate and its private key, PEM.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate (for the generated setup: the local CA certificate clients trust).
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// The generated CA's paths in `dir`: `tls/cert.pem` and `tls/ca-key.pem`.
pub fn default_files(dir: &Path) -> TlsFiles {
    TlsFiles {
        cert: dir.join("tls").join("cert.pem"),
        key: dir.join("tls").join("ca-key.pem"),
    }
}

/// Most leaf certificates kept; each distinct vault host costs one.
const MAX_LEAVES: usize = 1024;

fn tls_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Storage(format!("TLS {what}: {e}"))
}

/// The CA's parameters. Rebuilt identically on every start, so leaves issued now chain to
/// the certificate written on first start (same subject, same key).
fn ca_params() -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| tls_err("CA", e))?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhsm local development CA");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "localhsm");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2049, 12, 31);
    Ok(params)
}

/// A local CA that issues per-host leaf certificates on demand.
pub struct LocalCa {
    ca_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    leaves: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCa").finish_non_exhaustive()
    }
}

impl LocalCa {
    /// Loads the CA from `dir/tls/`, creating it on first use.
    pub fn load_or_create(dir: &Path) -> Result<(Self, TlsFiles)> {
        let files = default_files(dir);
        let (key, cert_pem) = match (
            fs::read_to_string(&files.key),
            fs::read_to_string(&files.cert),
        ) {
            (Ok(key_pem), Ok(cert_pem)) => (
                KeyPair::from_pem(&key_pem).map_err(|e| tls_err("CA key", e))?,
                cert_pem,
            ),
            _ => {
                fs::create_dir_all(dir.join("tls"))?;
                let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
                    .map_err(|e| tls_err("CA key", e))?;
                let cert = ca_params()?
                    .self_signed(&key)
                    .map_err(|e| tls_err("CA certificate", e))?;
                write_private(&files.key, key.serialize_pem().as_bytes())?;
                fs::write(&files.cert, cert.pem())?;
                (key, cert.pem())
            }
        };
        let ca_der = rustls::pki_types::pem::PemObject::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| tls_err("CA certificate", e))?;
        let issuer = Issuer::new(ca_params()?, key);
        Ok((
            Self {
                ca_der,
                issuer,
                leaves: Mutex::new(HashMap::new()),
            },
            files,
        ))
    }

    /// A leaf certificate for `host` (`localhost` or `{label}.localhost`), or for the
    /// loopback names when `host` is `None`.
    pub fn leaf(&self, host: Option<&str>) -> Result<Arc<CertifiedKey>> {
        let cache_key = host.unwrap_or("").to_string();
        let mut leaves = self.leaves.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = leaves.get(&cache_key) {
            return Ok(k.clone());
        }
        let sans: Vec<String> = match host {
            Some(h) => vec![h.to_string()],
            None => vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
        };
        let mut params = CertificateParams::new(sans).map_err(|e| tls_err("leaf", e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, host.unwrap_or("localhost"));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2049, 12, 31);
        let key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| tls_err("leaf key", e))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| tls_err("leaf certificate", e))?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&der)
            .map_err(|e| tls_err("leaf key", e))?;
        let certified = Arc::new(CertifiedKey::new(
            vec![cert.der().clone(), self.ca_der.clone()],
            signing,
        ));
        if leaves.len() >= MAX_LEAVES {
            leaves.clear();
        }
        leaves.insert(cache_key, certified.clone());
        Ok(certified)
    }
}

/// Only `localhost` and `{label}.localhost` get a leaf of their own.
fn leaf_name(sni: Option<&str>) -> Option<String> {
    let name = sni?.to_ascii_lowercase();
    if name == "localhost" {
        return Some(name);
    }
    let label = name.strip_suffix(".localhost")?;
    let ok = (1..=63).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-');
    ok.then_some(name)
}

impl ResolvesServerCert for LocalCa {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = leaf_name(hello.server_name());
        match self.leaf(name.as_deref()) {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::error!(error = %e, "cannot issue a TLS certificate");
                None
            }
        }
    }
}

/// The rustls server configuration: the local CA's resolver, or the user's certificate.
pub fn server_config(
    dir: &Path,
    own: Option<&TlsFiles>,
) -> std::result::Result<(rustls::ServerConfig, PathBuf), Box<dyn std::error::Error>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth();
    let (mut config, trust) = match own {
        Some(files) => {
            use rustls::pki_types::pem::PemObject;
            let chain = CertificateDer::pem_file_iter(&files.cert)
                .map_err(|e| format!("cannot read {}: {e}", files.cert.display()))?
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| format!("cannot read {}: {e}", files.cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(&files.key)
                .map_err(|e| format!("cannot read {}: {e}", files.key.display()))?;
            (builder.with_single_cert(chain, key)?, files.cert.clone())
        }
        None => {
            let (ca, files) = LocalCa::load_or_create(dir)?;
            (builder.with_cert_resolver(Arc::new(ca)), files.cert)
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((config, trust))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_localhost_names_get_leaves() {
        assert_eq!(leaf_name(Some("localhost")).as_deref(), Some("localhost"));
        assert_eq!(
            leaf_name(Some("PP.localhost")).as_deref(),
            Some("pp.localhost")
        );
        assert_eq!(leaf_name(Some("a.b.localhost")), None);
        assert_eq!(leaf_name(Some("example.com")), None);
        assert_eq!(leaf_name(None), None);
    }

    #[test]
    fn ca_persists_and_issues_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, files) = LocalCa::load_or_create(dir.path()).unwrap();
        let first = fs::read(&files.cert).unwrap();
        assert!(ca.leaf(Some("pp.localhost")).is_ok());
        let (again, _) = LocalCa::load_or_create(dir.path()).unwrap();
        assert_eq!(
            fs::read(&files.cert).unwrap(),
            first,
            "the CA is not regenerated"
        );
        assert!(again.leaf(None).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&files.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
