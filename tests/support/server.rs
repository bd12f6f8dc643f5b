//! A real `localhsm serve` child process on a data directory, and the `localhsm` binary
//! built for this test run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::rest::kv;

/// A `localhsm serve` child process on a data directory, listening on a free port.
pub struct Server {
    pub child: std::process::Child,
    pub addr: std::net::SocketAddr,
    pub dir: PathBuf,
    /// Everything the server printed on stdout so far (a reader thread appends to it).
    pub stdout: Arc<std::sync::Mutex<String>>,
}

/// The `localhsm` binary built for this test run.
pub fn localhsm_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_localhsm"))
}

/// The variables that steer `localhsm`; a test sets the ones it means and no others.
const LOCALHSM_ENV: [&str; 6] = [
    "LOCALHSM_MASTER_KEY",
    "LOCALHSM_DATA",
    "LOCALHSM_VAULT",
    "LOCALHSM_TOKEN",
    "LOCALHSM_LOG",
    "RUST_LOG",
];

/// `localhsm` with a clean environment (no master key, data directory, vault, token or log
/// settings inherited) and no standard input.
pub fn localhsm_command() -> std::process::Command {
    let mut cmd = std::process::Command::new(localhsm_bin());
    for var in LOCALHSM_ENV {
        cmd.env_remove(var);
    }
    cmd.stdin(std::process::Stdio::null());
    cmd
}

/// Runs `localhsm --data DIR ARGS...` ([`localhsm_command`]) to the end.
pub fn localhsm_at(dir: &Path, args: &[&str]) -> std::process::Output {
    localhsm_command()
        .arg("--data")
        .arg(dir)
        .args(args)
        .output()
        .expect("run localhsm")
}

/// `localhsm serve --data DIR --addr 127.0.0.1:0` with a clean environment plus `env`.
pub fn serve_command(dir: &Path, env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = localhsm_command();
    cmd.arg("serve")
        .arg("--data")
        .arg(dir)
        .args(["--addr", "127.0.0.1:0"])
        .envs(env.iter().copied());
    cmd
}

impl Server {
    /// Starts the server and waits (up to 60 s) until it listens. `stderr` receives its
    /// standard error.
    pub fn start(
        dir: &Path,
        env: &[(&str, &str)],
        stderr: std::process::Stdio,
    ) -> Result<Server, String> {
        Self::start_with(dir, &[], env, stderr)
    }

    /// [`Server::start`] with more arguments to `serve`.
    pub fn start_with(
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        stderr: std::process::Stdio,
    ) -> Result<Server, String> {
        use std::io::BufRead;
        let mut child = serve_command(dir, env)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", localhsm_bin().display()))?;
        let out = child.stdout.take().expect("piped stdout");
        let stdout = Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let stdout = stdout.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if let Some(url) = line.strip_prefix("localhsm listening on https://") {
                        let _ = tx.send(url.trim().to_string());
                    }
                    let mut s = stdout.lock().unwrap_or_else(|p| p.into_inner());
                    s.push_str(&line);
                    s.push('\n');
                }
            });
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            match rx.recv_timeout(std::time::Duration::from_millis(20)) {
                Ok(addr) => {
                    let addr = addr
                        .parse()
                        .map_err(|e| format!("server announced {addr:?}: {e}"))?;
                    return Ok(Server {
                        child,
                        addr,
                        dir: dir.to_path_buf(),
                        stdout,
                    });
                }
                Err(_) if std::time::Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err("the server did not announce its address within 60 s".into());
                }
                Err(_) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        return Err(format!("the server exited before listening: {status}"));
                    }
                }
            }
        }
    }

    /// An HTTPS client that trusts the server's CA and reaches it as `localhost`.
    pub fn client(&self) -> reqwest::blocking::Client {
        self.client_for(&["localhost"])
    }

    /// An HTTPS client that trusts the server's CA and reaches it under each of `hosts`
    /// (`localhost`, `{vault}.localhost`...).
    pub fn client_for(&self, hosts: &[&str]) -> reqwest::blocking::Client {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let pem = std::fs::read(self.dir.join("tls").join("cert.pem")).expect("CA certificate");
        let cert = reqwest::Certificate::from_pem(&pem).expect("CA PEM");
        let mut builder = reqwest::blocking::Client::builder()
            .tls_certs_only([cert])
            .no_proxy()
            .timeout(std::time::Duration::from_secs(30));
        for host in hosts {
            builder = builder.resolve(host, self.addr);
        }
        builder.build().expect("HTTPS client")
    }

    /// `https://localhost:PORT{path}` with `api-version=7.5` added.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{}", self.addr.port(), kv(path))
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (a graceful stop), then reap; SIGKILL after 20 s.
    pub fn stop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        self.kill();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// Sends a Key Vault request with a bearer token; returns the status and the JSON body.
pub fn http(
    client: &reqwest::blocking::Client,
    method: &str,
    url: &str,
    body: Option<&Value>,
) -> reqwest::Result<(u16, Value)> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = client.request(method, url).bearer_auth("x");
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send()?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes()?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}
