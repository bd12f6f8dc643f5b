//! Seeding end to end: `localhsm serve --seed FILE` applies the committed example before
//! it serves; `localhsm apply FILE` through that server (as the store's owner, access
//! control on) then changes nothing; a file with an error changes nothing and names its
//! line, whether given to `apply` or to `serve --seed` (which then does not start); and
//! with no server, `apply` works in-process.

mod support;

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::Arc;

use support::{localhsm_at, repo_path, serve_command, Server};

/// `localhsm serve ARGS` on `dir`, once it listens; what it printed before that.
fn serve(dir: &Path, args: &[&str]) -> (Server, String) {
    let mut child = serve_command(dir, &[])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn localhsm serve");
    let out = child.stdout.take().expect("piped stdout");
    let mut lines = std::io::BufReader::new(out).lines();
    let mut printed = String::new();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server exited before listening")
            .expect("server stdout");
        if let Some(url) = line.strip_prefix("localhsm listening on https://") {
            break url.trim().parse().expect("an address");
        }
        printed += &line;
        printed.push('\n');
    };
    std::thread::spawn(move || lines.for_each(drop));
    let server = Server {
        child,
        addr,
        dir: dir.to_path_buf(),
        stdout: Arc::default(),
    };
    (server, printed)
}

fn cli(dir: &Path, args: &[&str]) -> Output {
    localhsm_at(dir, args)
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = cli(dir, args);
    assert!(
        out.status.success(),
        "localhsm {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(dir: &Path, args: &[&str]) -> String {
    let out = cli(dir, args);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn serve_seed_then_apply_through_the_server_and_in_process() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let example = repo_path("examples/seed.yaml");
    let example = example.to_str().unwrap();
    let (mut server, printed) = serve(
        dir,
        &["--seed", example, "--enforce-rbac", "--admin", "an-admin"],
    );
    assert!(
        printed.contains("seeded from") && printed.contains("11 created, 1 unchanged"),
        "{printed}"
    );

    // What the seed made, through the server, as the store's owner.
    let keys = ok(dir, &["key", "list", "--output", "json"]);
    for name in ["signer", "data-key", "imported-aes", "imported-ec"] {
        assert!(keys.contains(&format!("/keys/{name}\"")), "{name}: {keys}");
    }
    let secret = ok(
        dir,
        &[
            "--vault", "payments", "secret", "get", "db-url", "--output", "json",
        ],
    );
    assert!(
        secret.contains("postgres://app:example-only@localhost/app"),
        "{secret}"
    );

    // Applying it again, through the server: nothing changes.
    let again = ok(dir, &["apply", example]);
    assert!(again.contains("0 created, 12 unchanged"), "{again}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(dir, &["apply", example, "--output", "json"])).unwrap();
    assert_eq!(json["created"], serde_json::json!([]));

    // A new entry and an error in the same file: nothing at all, and the line is named.
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "vaults:\n  - name: extra\n  - name: broken\n    keys:\n      - {name: k, kty: EC, curve: P-999}\n",
    )
    .unwrap();
    let err = fails(dir, &["apply", bad.to_str().unwrap()]);
    assert!(err.contains("bad.yaml: line 5"), "{err}");
    assert!(
        err.contains("P-999") && err.contains("nothing was changed"),
        "{err}"
    );
    let vaults = ok(dir, &["vault", "list", "--output", "json"]);
    assert!(!vaults.contains("\"extra\""), "{vaults}");

    // Someone without the management API may not apply.
    let stranger = ok(dir, &["token", "--oid", "someone-else"]);
    let err = fails(dir, &["--token", stranger.trim(), "apply", example]);
    assert!(err.contains("is not authorized"), "{err}");

    // A server whose seed has an error does not start, and says where.
    server.stop();
    let out = serve_command(dir, &[])
        .args(["--seed", bad.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("bad.yaml: line 5"), "{stderr}");
    assert!(!dir.join("server.json").exists());

    // No server: in-process, the same answer.
    let local = ok(dir, &["apply", example]);
    assert!(local.contains("0 created, 12 unchanged"), "{local}");
}
