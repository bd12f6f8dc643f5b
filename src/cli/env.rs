//! `localhsm env`: the environment that points an unchanged Azure SDK application at the
//! running server. The application keeps `DefaultAzureCredential` (or
//! `ManagedIdentityCredential`) and its vault URL from configuration; these variables make
//! the credential ask the server's managed-identity endpoint, name a vault URL whose 401
//! challenge the SDKs accept, and make the TLS stacks trust the local CA.
//!
//! Layer: faces (CLI). May import `server` (its `server.json`, the identity endpoint's
//! path and header secret). Reads the data directory only; never opens the store.

use std::path::Path;
use std::process::ExitCode;

use crate::server::identity::{HeaderSecret, TOKEN_PATH};
use crate::server::{ServerFile, DEFAULT_VAULT, SERVER_FILE};

use super::error::CliError;

/// Prints the `export` lines for the server running on `dir`, naming `vault`.
pub fn run(dir: &Path, vault: Option<String>) -> ExitCode {
    match lines(dir, vault.as_deref().unwrap_or(DEFAULT_VAULT)) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The text `localhsm env` prints: comments and POSIX `export NAME='value'` lines.
pub fn lines(dir: &Path, vault: &str) -> Result<String, CliError> {
    crate::model::validate_vault_name(vault).map_err(|e| CliError::bare(e.to_string()))?;
    let path = dir.join(SERVER_FILE);
    let text = std::fs::read(&path).map_err(|_| {
        CliError::new(
            format!("no server is running on {}", dir.display()),
            format!(
                "start one with `localhsm serve --data {}` first; `localhsm env` reads the {} it writes",
                dir.display(),
                SERVER_FILE
            ),
        )
    })?;
    let server: ServerFile = serde_json::from_slice(&text)
        .map_err(|e| CliError::bare(format!("{} is not readable: {e}", path.display())))?;
    let (endpoint_base, port) = endpoint_base(&server.url)?;
    let secret = HeaderSecret::load(dir).map_err(|e| {
        CliError::new(
            e.to_string(),
            "restart `localhsm serve`: it makes the secret when it starts",
        )
    })?;
    let vault_url = format!("https://{vault}.localhost:{port}");
    let cert = server.cert.display().to_string();
    let mut out = String::new();
    let mut export = |name: &str, value: &str| {
        out.push_str(&format!("export {name}={}\n", quote(value)));
    };
    export("IDENTITY_ENDPOINT", &format!("{endpoint_base}{TOKEN_PATH}"));
    export("IDENTITY_HEADER", secret.expose());
    export("AZURE_KEYVAULT_URL", &vault_url);
    export("VAULT_URL", &vault_url);
    export("KEYVAULT_URI", &vault_url);
    export("REQUESTS_CA_BUNDLE", &cert);
    export("SSL_CERT_FILE", &cert);
    export("NODE_EXTRA_CA_CERTS", &cert);
    Ok(format!(
        "# localhsm at {url} (pid {pid}), data directory {dir}\n\
         # Managed identity (App Service protocol): DefaultAzureCredential and\n\
         # ManagedIdentityCredential get their tokens from the server.\n\
         # {vault}.localhost must resolve to this machine (add \"127.0.0.1 {vault}.localhost\"\n\
         # to /etc/hosts where it does not).\n\
         {out}",
        url = server.url,
        pid = server.pid,
        dir = dir.display(),
    ))
}

/// The base of `IDENTITY_ENDPOINT` and the port, from the server's URL. A server listening
/// on every address is reached at `localhost`, a name its certificate covers.
fn endpoint_base(url: &str) -> Result<(String, u16), CliError> {
    let bad = || CliError::bare(format!("{SERVER_FILE} names an unexpected URL {url:?}"));
    let authority = url.strip_prefix("https://").ok_or_else(bad)?;
    let addr: std::net::SocketAddr = authority.trim_end_matches('/').parse().map_err(|_| bad())?;
    let base = if addr.ip().is_unspecified() {
        format!("https://localhost:{}", addr.port())
    } else {
        format!("https://{addr}")
    };
    Ok((base, addr.port()))
}

/// `value` in single quotes, safe for `eval` in any POSIX shell.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_the_shell() {
        assert_eq!(quote("/tmp/a b/cert.pem"), "'/tmp/a b/cert.pem'");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn endpoint_of_a_server() {
        assert_eq!(
            endpoint_base("https://127.0.0.1:8443").unwrap(),
            ("https://127.0.0.1:8443".to_string(), 8443)
        );
        assert_eq!(
            endpoint_base("https://0.0.0.0:9000").unwrap(),
            ("https://localhost:9000".to_string(), 9000)
        );
        assert_eq!(
            endpoint_base("https://[::1]:9000").unwrap(),
            ("https://[::1]:9000".to_string(), 9000)
        );
        assert!(endpoint_base("http://127.0.0.1:1").is_err());
    }

    #[test]
    fn prints_the_environment_of_a_running_server() {
        let dir = tempfile::tempdir().unwrap();
        assert!(lines(dir.path(), "default").is_err(), "no server.json yet");
        let file = ServerFile {
            url: "https://127.0.0.1:8443".into(),
            cert: dir.path().join("tls/cert.pem"),
            pid: 42,
        };
        std::fs::write(
            dir.path().join(SERVER_FILE),
            serde_json::to_vec(&file).unwrap(),
        )
        .unwrap();
        assert!(
            lines(dir.path(), "default").is_err(),
            "no header secret yet"
        );
        let secret = HeaderSecret::load_or_create(dir.path()).unwrap();
        let text = lines(dir.path(), "kv").unwrap();
        let cert = dir.path().join("tls/cert.pem").display().to_string();
        for want in [
            "export IDENTITY_ENDPOINT='https://127.0.0.1:8443/msi/token'\n".to_string(),
            format!("export IDENTITY_HEADER='{}'\n", secret.expose()),
            "export AZURE_KEYVAULT_URL='https://kv.localhost:8443'\n".to_string(),
            format!("export REQUESTS_CA_BUNDLE='{cert}'\n"),
            format!("export SSL_CERT_FILE='{cert}'\n"),
            format!("export NODE_EXTRA_CA_CERTS='{cert}'\n"),
        ] {
            assert!(text.contains(&want), "{want} missing from:\n{text}");
        }
        assert!(text
            .lines()
            .all(|l| l.starts_with("# ") || l.starts_with("export ")));
        assert!(lines(dir.path(), "not a vault").is_err());
    }
}
