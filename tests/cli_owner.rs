//! The CLI as the store's owner beside a server that enforces access control
//! (`localhsm serve --enforce-rbac --admin X`): with no `--token` it reads the owner's
//! credential the server wrote (`DIR/owner.token`, mode 0600) and may do anything, the
//! management API included; `--token` makes it someone else, who is refused without a role;
//! a token claiming the owner's object ID is not the owner; and a credential file others
//! can read is refused with a clear message.

mod support;

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use serde_json::Value;
use support::{localhsm_at, localhsm_command, serve_command, Server};

/// `localhsm serve --enforce-rbac --admin ADMIN` on `dir`, once it listens.
fn serve_enforcing(dir: &Path) -> Server {
    let mut child = serve_command(dir, &[])
        .args(["--enforce-rbac", "--admin", "some-admin-oid"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn localhsm serve");
    let out = child.stdout.take().expect("piped stdout");
    let mut lines = std::io::BufReader::new(out).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server exited before listening")
            .expect("server stdout");
        if let Some(url) = line.strip_prefix("localhsm listening on https://") {
            break url.trim().parse().expect("an address");
        }
    };
    // Keep draining its stdout so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Server {
        child,
        addr,
        dir: dir.to_path_buf(),
        stdout: Arc::default(),
    }
}

fn cli(dir: &Path, args: &[&str]) -> Output {
    localhsm_at(dir, args)
}

fn ok(dir: &Path, args: &[&str]) -> Value {
    let out = cli(dir, &[args, &["--output", "json"]].concat());
    assert!(
        out.status.success(),
        "localhsm {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {:?}", out.stdout))
}

/// Runs a command that must fail; returns stderr.
fn refused(dir: &Path, args: &[&str]) -> String {
    let out = cli(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    stderr
}

fn token(oid: &str) -> String {
    let out = Command::new(support::localhsm_bin())
        .args(["token", "--oid", oid])
        .output()
        .expect("localhsm token");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn the_cli_is_the_owner_of_an_enforcing_server() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = serve_enforcing(dir);
    let credential = dir.join("owner.token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&credential).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the credential is the owner's alone");
    }

    // The owner: keys, the access log and customer data, through the server.
    ok(dir, &["vault", "update", "default", "--access-log", "on"]);
    let created = ok(
        dir,
        &[
            "key",
            "create",
            "k1",
            "--kty",
            "EC",
            "--curve",
            "P-256",
            "--tag",
            "deviceId=d-1",
        ],
    );
    let kid = created["key"]["kid"].as_str().unwrap();
    assert!(
        kid.starts_with(&format!("https://localhost:{}/", server.addr.port())),
        "through the server: {kid}"
    );
    let digest = format!("hex:{}", "11".repeat(32));
    let sig = ok(dir, &["key", "sign", "k1", "--alg", "ES256", &digest]);
    assert!(sig["value"].as_str().is_some_and(|v| !v.is_empty()));
    let log = ok(dir, &["log", "list"]);
    let records = log["value"].as_array().unwrap();
    let sign = records
        .iter()
        .find(|r| r["operationName"] == "KeySign")
        .unwrap_or_else(|| panic!("no KeySign in {log}"));
    assert_eq!(sign["identity"]["claim"]["oid"], "localhsm-owner", "{sign}");
    let user = std::env::var("USER").unwrap_or_else(|_| "owner".into());
    assert_eq!(
        sign["identity"]["claim"]["upn"],
        format!("{user}@localhost")
    );
    let export = localhsm_command()
        .arg("--data")
        .arg(dir)
        .args(["customer-data", "export", "--device-id", "d-1"])
        .output()
        .unwrap();
    assert!(export.status.success(), "{export:?}");
    let export: Value = serde_json::from_slice(&export.stdout).unwrap();
    assert_eq!(export["vaults"][0]["keys"][0]["name"], "k1", "{export}");

    // Someone else, with no role: refused for data and management alike.
    let stranger = token("11111111-0000-0000-0000-000000000001");
    for args in [
        &["key", "sign", "k1", "--alg", "ES256", &digest][..],
        &["key", "create", "k2", "--kty", "EC"],
        &["log", "list"],
        &["customer-data", "export", "--device-id", "d-1"],
    ] {
        let err = refused(dir, &[&["--token", &stranger][..], args].concat());
        assert!(err.contains("is not authorized"), "{args:?}: {err}");
    }
    // A token that claims the owner's object ID is not the owner.
    let forged = token("localhsm-owner");
    for args in [&["log", "list"][..], &["key", "get", "k1"]] {
        let err = refused(dir, &[&["--token", &forged][..], args].concat());
        assert!(
            err.contains("reserved for the store's owner"),
            "{args:?}: {err}"
        );
    }
    // Neither is the credential of an earlier start, nor something close to it.
    let secret = std::fs::read_to_string(&credential).unwrap();
    let near = format!("{}x", &secret[..secret.len() - 1]);
    // `--token=...`: a credential may begin with `-`, which would read as an option.
    let err = refused(dir, &[&format!("--token={near}"), "log", "list"]);
    assert!(err.contains("is not authorized"), "{err}");

    // A credential file others can read is refused, and so named.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&credential, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = refused(dir, &["key", "list"]);
        assert!(
            err.contains("owner.token") && err.contains("0644") && err.contains("chmod 600"),
            "{err}"
        );
        std::fs::set_permissions(&credential, std::fs::Permissions::from_mode(0o600)).unwrap();
        ok(dir, &["key", "list"]);
    }

    // Removed while the server runs, it is written again within seconds.
    std::fs::remove_file(&credential).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !credential.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(std::fs::read_to_string(&credential).unwrap(), secret);
    ok(dir, &["log", "list"]);

    // A clean stop removes the credential with the server file.
    let mut server = server;
    server.stop();
    assert!(!credential.exists());
    assert!(!dir.join("server.json").exists());
    // In-process, the CLI is the store's owner already.
    let keys = ok(dir, &["key", "list"]);
    assert_eq!(keys["value"].as_array().unwrap().len(), 1);
}
