//! The dev clock and the `--admin` list, on a real `localhsm serve`: time-shift is refused
//! (403 `DevClockDisabled`, naming `localhsm serve --dev-clock`) unless the server was
//! started with `--dev-clock`; a shift is at most 3650 days; under `--enforce-rbac` only an
//! admin may shift; a shifted store still opens without the flag; an empty or malformed
//! `--admin` stops the start; and a caller without an object ID is never an admin.

mod support;

use std::io::BufRead as _;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use base64::Engine as _;
use localhsm::clock::MAX_SHIFT_SECS;
use serde_json::{json, Value};
use support::rest::Api;
use support::{localhsm_command, serve_command, Server};

/// `localhsm serve --data DIR [args]`, once it listens.
fn serve(dir: &Path, args: &[&str]) -> Server {
    let mut child = serve_command(dir, &[])
        .args(args)
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
    std::thread::spawn(move || lines.for_each(drop));
    Server {
        child,
        addr,
        dir: dir.to_path_buf(),
        stdout: Arc::default(),
    }
}

/// A development token naming `oid` (`localhsm token --oid`).
fn token(oid: &str) -> String {
    let out = localhsm_command()
        .args(["token", "--oid", oid])
        .output()
        .expect("localhsm token");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A JWT-shaped token whose claims are `claims` (unsigned, as dev tokens are).
fn token_with_claims(claims: &Value) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.sig",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(claims)
    )
}

/// `POST /management/time-shift` with `seconds`, as the bearer of `token`.
fn shift(server: &Server, token: &str, seconds: u64) -> (u16, Value) {
    let resp = server
        .client()
        .post(format!(
            "https://localhost:{}/management/time-shift",
            server.addr.port()
        ))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(json!({ "seconds": seconds }).to_string())
        .send()
        .expect("time-shift request");
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[test]
fn time_shift_is_off_unless_the_server_has_the_dev_clock() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    let mut plain = serve(dir, &[]);
    let (status, body) = shift(&plain, "x", 60);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "DevClockDisabled", "{body}");
    assert!(
        message(&body).contains("localhsm serve --dev-clock"),
        "the refusal says how to turn it on: {body}"
    );
    plain.stop();

    let mut dev = serve(dir, &["--dev-clock"]);
    let (status, body) = shift(&dev, "x", MAX_SHIFT_SECS + 1);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "BadParameter");
    assert!(
        message(&body).contains(&format!("at most {MAX_SHIFT_SECS}")),
        "{body}"
    );
    let (status, body) = shift(&dev, "x", u64::MAX);
    assert_eq!(status, 400, "{body}");
    let (status, body) = shift(&dev, "x", MAX_SHIFT_SECS);
    assert_eq!(status, 200, "{body}");
    let offset = body["offsetSeconds"].as_i64().unwrap();
    assert!(
        (MAX_SHIFT_SECS as i64..MAX_SHIFT_SECS as i64 + 5).contains(&offset),
        "exactly the bound, nothing from the refused shifts: {body}"
    );
    let shifted_now = body["now"].as_u64().unwrap();
    let (status, body) = shift(&dev, "x", 0);
    assert_eq!(status, 200, "a zero shift changes nothing: {body}");
    dev.stop();

    // A shifted store still opens without the flag, keeps its time (it never runs
    // backwards), and refuses further shifts.
    let mut again = serve(dir, &[]);
    let (status, body) = shift(&again, "x", 1);
    assert_eq!(status, 403, "{body}");
    let resp = again
        .client()
        .post(again.url("/keys/after-restart/create"))
        .bearer_auth("x")
        .header("content-type", "application/json")
        .body(json!({"kty": "EC", "crv": "P-256"}).to_string())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let key: Value = resp.json().unwrap();
    let created = key["attributes"]["created"].as_u64().unwrap();
    assert!(created >= shifted_now, "{created} < {shifted_now}");
    again.stop();
}

#[test]
fn under_access_control_only_an_admin_shifts_the_clock() {
    let tmp = tempfile::tempdir().unwrap();
    let admin = "6f1f5a2e-9a3b-4c41-9a51-0c6f2c1d7e11";
    let server = serve(
        tmp.path(),
        &["--enforce-rbac", "--admin", admin, "--dev-clock"],
    );
    for (who, bearer) in [
        ("another principal", token("someone-else")),
        ("a token without claims", "x".to_string()),
        (
            "a token with no oid",
            token_with_claims(&json!({"upn": "a@b.c"})),
        ),
        (
            "a token with an empty oid",
            token_with_claims(&json!({"oid": ""})),
        ),
    ] {
        let (status, body) = shift(&server, &bearer, 60);
        assert_eq!(status, 403, "{who}: {body}");
        assert_eq!(body["error"]["code"], "Forbidden", "{who}: {body}");
    }
    let (status, body) = shift(&server, &token(admin), 60);
    assert_eq!(status, 200, "{body}");
    assert!(body["offsetSeconds"].as_i64().unwrap() >= 60);
}

#[test]
fn empty_or_malformed_admins_stop_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in [
        "",
        " ",
        "\t",
        "two words",
        "line\nbreak",
        "bell\u{7}",
        "a/b",
        "é",
    ] {
        let out = serve_command(tmp.path(), &[])
            .args(["--enforce-rbac", "--admin", bad])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("run localhsm serve");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--admin {bad:?}: {stderr}");
        assert!(
            stderr.contains("--admin") && stderr.contains("0-9, a-z, A-Z and -"),
            "--admin {bad:?}: the message names the rule: {stderr}"
        );
    }
    // A good one next to a bad one is refused too.
    let out = serve_command(tmp.path(), &[])
        .args(["--enforce-rbac", "--admin", "good-admin", "--admin", ""])
        .output()
        .expect("run localhsm serve");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !tmp.path().join("db").exists(),
        "nothing is created when the start is refused"
    );
}

/// A library user can hand the server any list; a caller without an object ID still never
/// passes an admin check, on the management API or in a vault.
#[test]
fn a_caller_without_an_object_id_is_never_an_admin() {
    let api = Api::new();
    api.store.set_access_policy(localhsm::AccessPolicy {
        enforce: true,
        admins: vec![String::new(), " ".into()],
    });
    let send = |bearer: &str, method: &str, path: &str| {
        let req = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .header("authorization", format!("Bearer {bearer}"))
            .body(axum::body::Body::empty())
            .unwrap();
        api.send(req)
    };
    for bearer in [
        "x".to_string(),
        token_with_claims(&json!({"upn": "a@b.c"})),
        token_with_claims(&json!({"oid": ""})),
        token_with_claims(&json!({"oid": " "})),
    ] {
        let r = send(&bearer, "GET", "/management/vaults");
        assert_eq!(r.status, 403, "{bearer}: {}", r.json);
        let r = send(&bearer, "GET", &support::rest::kv("/keys"));
        assert_eq!(r.status, 403, "{bearer}: {}", r.json);
    }
}
