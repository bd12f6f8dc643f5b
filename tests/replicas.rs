//! Several `localhsm serve` replicas over one PostgreSQL database act as one Key Vault:
//! a change on one is in force on the others within a second (a key disabled, deleted or
//! given other `key_ops`; a role assignment made or removed), and a replica killed with
//! SIGKILL in the middle of writes loses no write it acknowledged while the others keep
//! serving.
//!
//! Runs on the cluster `LOCALHSM_TEST_POSTGRES` names (see `tests/postgres/cluster.sh`),
//! each test on a new database; without one it says so and passes, except in CI, where it
//! fails.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::Server;

const MASTER_HEX: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
const API: &str = "api-version=7.5";
const ADMIN: &str = "11111111-1111-1111-1111-111111111111";
const USER: &str = "22222222-2222-2222-2222-222222222222";
const CRYPTO_USER: &str = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b";
/// The bound a change must be seen within on the other replicas.
const STALENESS: Duration = Duration::from_secs(1);

struct Replica {
    server: Server,
    client: reqwest::blocking::Client,
    _dir: tempfile::TempDir,
}

impl Replica {
    fn start(url: &str, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut all = vec!["--store", url];
        all.extend_from_slice(args);
        let server = Server::start_with(
            dir.path(),
            &all,
            &[("LOCALHSM_MASTER_KEY", MASTER_HEX)],
            std::process::Stdio::inherit(),
        )
        .expect("replica starts");
        let client = server.client();
        Self {
            server,
            client,
            _dir: dir,
        }
    }

    fn call(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = self.server.url(path);
        let mut req = self
            .client
            .request(method.parse().unwrap(), url)
            .bearer_auth(token);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().unwrap_or(Value::Null))
    }
}

/// A development token naming `oid` (unsigned, as dev tokens are).
fn token(oid: &str) -> String {
    use base64::Engine as _;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.sig",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&json!({"oid": oid, "tid": "dev"}))
    )
}

fn digest() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 32])
}

/// Signs with `key` (`name/version`).
fn sign(r: &Replica, who: &str, key: &str) -> (u16, Value) {
    r.call(
        &token(who),
        "POST",
        &format!("/keys/{key}/sign"),
        Some(json!({"alg": "ES256", "value": digest()})),
    )
}

/// Waits until `check` holds, and says how long that took; fails past the staleness bound
/// (with slack for a loaded machine only in what it reports, not in what it accepts).
fn within_bound(what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if check() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < STALENESS,
            "{what}: not seen by the other replica within {STALENESS:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_change_on_one_replica_is_in_force_on_the_other_within_a_second() {
    let Some(url) = support::postgres::fresh_database() else {
        return;
    };
    let a = Replica::start(&url, &[]);
    let b = Replica::start(&url, &[]);
    let any = "anyone";
    let (s, key) = a.call(
        &token(any),
        "POST",
        "/keys/shared/create",
        Some(json!({"kty": "EC", "crv": "P-256"})),
    );
    assert_eq!(s, 200, "{key}");
    let shared = &format!(
        "shared/{}",
        support::kid_version(key["key"]["kid"].as_str().unwrap())
    );
    // b signs with it at once (and caches its handle).
    let (s, body) = sign(&b, any, shared);
    assert_eq!(s, 200, "{body}");

    // Disabled on a: b stops signing.
    let (s, body) = a.call(
        &token(any),
        "PATCH",
        "/keys/shared",
        Some(json!({"attributes": {"enabled": false}})),
    );
    assert_eq!(s, 200, "{body}");
    let took = within_bound("disable", || sign(&b, any, shared).0 == 403);
    eprintln!("disable seen by the other replica after {took:?}");
    let (_, body) = sign(&b, any, shared);
    assert_eq!(body["error"]["innererror"]["code"], "KeyDisabled", "{body}");

    // Enabled on b with other key_ops: a follows both.
    let (s, body) = b.call(
        &token(any),
        "PATCH",
        "/keys/shared",
        Some(json!({"attributes": {"enabled": true}, "key_ops": ["verify"]})),
    );
    assert_eq!(s, 200, "{body}");
    within_bound("key_ops", || {
        let (s, body) = sign(&a, any, shared);
        s == 403 && body["error"]["innererror"]["code"] == "KeyOperationNotPermitted"
    });
    let (s, body) = b.call(
        &token(any),
        "PATCH",
        "/keys/shared",
        Some(json!({"key_ops": ["sign", "verify"]})),
    );
    assert_eq!(s, 200, "{body}");
    within_bound("key_ops again", || sign(&a, any, shared).0 == 200);

    // Deleted on a: gone on b.
    let (s, body) = a.call(&token(any), "DELETE", "/keys/shared", None);
    assert_eq!(s, 200, "{body}");
    within_bound("delete", || sign(&b, any, shared).0 == 404);
    // Recovered on b: back on a.
    let (s, body) = b.call(&token(any), "POST", "/deletedkeys/shared/recover", None);
    assert_eq!(s, 200, "{body}");
    within_bound("recover", || sign(&a, any, shared).0 == 200);
}

#[test]
fn role_assignments_made_on_one_replica_hold_on_the_other_within_a_second() {
    let Some(url) = support::postgres::fresh_database() else {
        return;
    };
    let args = ["--enforce-rbac", "--admin", ADMIN];
    let a = Replica::start(&url, &args);
    let b = Replica::start(&url, &args);
    let (s, body) = a.call(
        &token(ADMIN),
        "POST",
        "/keys/guarded/create",
        Some(json!({"kty": "EC", "crv": "P-256"})),
    );
    assert_eq!(s, 200, "{body}");
    let guarded = &format!(
        "guarded/{}",
        support::kid_version(body["key"]["kid"].as_str().unwrap())
    );
    let (s, body) = sign(&b, USER, guarded);
    assert_eq!(s, 403, "no role yet: {body}");
    let assignment =
        "/providers/Microsoft.Authorization/roleAssignments/33333333-3333-3333-3333-333333333333";
    let (s, body) = a.call(
        &token(ADMIN),
        "PUT",
        assignment,
        Some(json!({"properties": {"roleDefinitionId": CRYPTO_USER, "principalId": USER}})),
    );
    assert!(s == 200 || s == 201, "{s} {body}");
    within_bound("role assignment", || sign(&b, USER, guarded).0 == 200);
    let (s, body) = b.call(&token(ADMIN), "DELETE", assignment, None);
    assert_eq!(s, 200, "{body}");
    within_bound("role assignment removed", || {
        sign(&a, USER, guarded).0 == 403
    });
}

#[test]
fn a_replica_killed_mid_write_loses_no_acknowledged_write() {
    let Some(url) = support::postgres::fresh_database() else {
        return;
    };
    let mut a = Replica::start(&url, &[]);
    let b = Replica::start(&url, &[]);
    let any = "anyone";
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let writer = {
        let acknowledged = acknowledged.clone();
        let client = a.client.clone();
        let port = a.server.addr.port();
        std::thread::spawn(move || {
            for i in 0.. {
                let name = format!("s{i}");
                let sent = client
                    .put(format!("https://localhost:{port}/secrets/{name}?{API}"))
                    .bearer_auth(token(any))
                    .header("content-type", "application/json")
                    .body(json!({"value": format!("value {i}")}).to_string())
                    .timeout(Duration::from_secs(10))
                    .send();
                match sent {
                    Ok(r) if r.status().is_success() => acknowledged.lock().unwrap().push(name),
                    // The write the kill cut off (or refused): attempted, not acknowledged.
                    _ => return i + 1,
                }
            }
            unreachable!()
        })
    };
    // Kill it while the writes go on.
    let start = Instant::now();
    while acknowledged.lock().unwrap().len() < 40 {
        assert!(start.elapsed() < Duration::from_secs(60), "writes too slow");
        std::thread::sleep(Duration::from_millis(5));
    }
    a.server.kill();
    let attempted = writer.join().unwrap();
    let acked = acknowledged.lock().unwrap().clone();
    assert!(acked.len() >= 40 && acked.len() < attempted);
    // The other replica keeps serving, and holds every acknowledged write, whole.
    for name in &acked {
        let (s, body) = b.call(&token(any), "GET", &format!("/secrets/{name}"), None);
        assert_eq!(s, 200, "acknowledged {name} is lost: {body}");
        let i = name.trim_start_matches('s');
        assert_eq!(body["value"], format!("value {i}"));
    }
    let (s, body) = b.call(
        &token(any),
        "PUT",
        "/secrets/after-the-kill",
        Some(json!({"value": "still writing"})),
    );
    assert_eq!(s, 200, "{body}");
    eprintln!(
        "{} writes acknowledged before the kill; the write in flight was {}",
        acked.len(),
        if attempted > acked.len() {
            "answered with an error or cut off"
        } else {
            "none"
        }
    );
}
