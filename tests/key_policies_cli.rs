//! `localhsm key rotation-policy show|set` and `--release-policy` on key commands, in
//! process on a temporary data directory: defaults, round trips, Key Vault's refusals in
//! the CLI's words, expiry from the policy, and immutable release policies.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};
use support::localhsm_command;

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = localhsm_command();
        cmd.arg("--data").arg(self.dir.path()).args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run localhsm")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "localhsm {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {text}"))
    }

    fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        stderr
    }

    fn write(&self, name: &str, body: &Value) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, body.to_string()).expect("write");
        path_str(&path)
    }
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

#[test]
fn rotation_policy_show_set_and_refusals() {
    let cli = Cli::new();
    cli.ok(&["key", "create", "signer", "--kty", "EC"]);
    let default = cli.json(&["key", "rotation-policy", "show", "signer"]);
    assert_eq!(
        default["lifetimeActions"],
        json!([{"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}])
    );
    assert_eq!(default["attributes"], json!({}));
    assert!(default["id"]
        .as_str()
        .is_some_and(|id| id.ends_with("/keys/signer/rotationpolicy")));

    let set = cli.json(&[
        "key",
        "rotation-policy",
        "set",
        "signer",
        "--rotate-after",
        "P90D",
        "--notify-before-expiry",
        "P30D",
        "--expires-in",
        "P1Y",
    ]);
    assert_eq!(
        set["lifetimeActions"],
        json!([
            {"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "Rotate"}},
            {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}
        ])
    );
    assert_eq!(set["attributes"]["expiryTime"], "P1Y");
    let table = cli.ok(&["key", "rotation-policy", "show", "signer"]);
    assert!(table.contains("Rotate, P90D after creation"), "{table}");
    assert!(table.contains("Notify, P30D before expiry"), "{table}");
    assert!(table.contains("P1Y after creation"), "{table}");

    // New versions expire by the policy.
    let rotated = cli.json(&["key", "rotate", "signer"]);
    let a = &rotated["attributes"];
    assert_eq!(
        a["exp"].as_u64().expect("exp") - a["created"].as_u64().expect("created"),
        365 * 86_400
    );

    // Key Vault's rules, as the server states them.
    let err = cli.fails(
        1,
        &[
            "key",
            "rotation-policy",
            "set",
            "signer",
            "--rotate-after",
            "P2D",
        ],
    );
    assert!(err.contains("at least 7 days"), "{err}");
    let err = cli.fails(
        1,
        &[
            "key",
            "rotation-policy",
            "set",
            "signer",
            "--notify-before-expiry",
            "P30D",
        ],
    );
    assert!(err.contains("expiryTime"), "{err}");
    // The grammar: something to set, and one rotate trigger.
    cli.fails(2, &["key", "rotation-policy", "set", "signer"]);
    cli.fails(
        2,
        &[
            "key",
            "rotation-policy",
            "set",
            "signer",
            "--rotate-after",
            "P30D",
            "--rotate-before-expiry",
            "P30D",
        ],
    );
    // The policy is unchanged by the refusals.
    assert_eq!(
        cli.json(&["key", "rotation-policy", "show", "signer"])["lifetimeActions"],
        set["lifetimeActions"]
    );

    // Key Vault's JSON from a file, and --reset back to the default actions.
    let file = cli.write(
        "policy.json",
        &json!({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P60D"}, "action": {"type": "Rotate"}}]}),
    );
    let from_file = cli.json(&["key", "rotation-policy", "set", "signer", "--file", &file]);
    assert_eq!(
        from_file["lifetimeActions"],
        json!([{"trigger": {"timeAfterCreate": "P60D"}, "action": {"type": "Rotate"}}])
    );
    let reset = cli.json(&["key", "rotation-policy", "set", "signer", "--reset"]);
    assert_eq!(reset["lifetimeActions"], default["lifetimeActions"]);

    let err = cli.fails(1, &["key", "rotation-policy", "show", "missing"]);
    assert!(err.contains("missing"), "{err}");

    // A time shift runs the policies and says what it rotated.
    cli.ok(&[
        "key",
        "rotation-policy",
        "set",
        "signer",
        "--rotate-after",
        "P30D",
    ]);
    let before = cli.json(&["key", "get", "signer"])["key"]["kid"].clone();
    let quiet = cli.json(&["time-shift", "--dev-clock", &(29 * 86_400).to_string()]);
    assert_eq!(quiet["rotatedKeys"], json!([]));
    // In process, each command starts from the system clock (the store only keeps it from
    // going back), so this shift alone passes the 30 days.
    let shifted = cli.json(&["time-shift", "--dev-clock", &(31 * 86_400).to_string()]);
    let rotated = shifted["rotatedKeys"].as_array().expect("rotatedKeys");
    assert_eq!(rotated.len(), 1, "{shifted}");
    let now = cli.json(&["key", "get", "signer"]);
    assert_ne!(now["key"]["kid"], before);
    let version = now["key"]["kid"]
        .as_str()
        .and_then(|k| k.rsplit('/').next())
        .expect("version");
    assert_eq!(rotated[0], format!("default/signer/{version}"));
    let table = cli.ok(&["time-shift", "--dev-clock", "60"]);
    assert!(table.contains("rotated keys"), "{table}");
}

#[test]
fn release_policies_on_create_and_update() {
    let cli = Cli::new();
    let policy = cli.write("release.json", &json!({"anyOf": [], "version": "1.0.0"}));
    let other = cli.write("other.json", &json!({"anyOf": [], "version": "1.0.1"}));
    // --exportable needs a release policy, and a release policy needs --exportable.
    cli.fails(2, &["key", "create", "x", "--kty", "RSA", "--exportable"]);
    cli.fails(
        2,
        &[
            "key",
            "create",
            "x",
            "--kty",
            "RSA",
            "--release-policy",
            &policy,
        ],
    );
    let created = cli.json(&[
        "key",
        "create",
        "x",
        "--kty",
        "RSA",
        "--exportable",
        "--release-policy",
        &policy,
        "--immutable",
    ]);
    assert_eq!(created["attributes"]["exportable"], true);
    let r = &created["release_policy"];
    assert_eq!(r["immutable"], true);
    assert_eq!(r["contentType"], "application/json; charset=utf-8");
    let data =
        localhsm::crypto::jwk::b64url_decode(r["data"].as_str().expect("data")).expect("b64");
    let doc: Value = serde_json::from_slice(&data).expect("policy JSON");
    assert_eq!(doc["version"], "1.0.0");
    let table = cli.ok(&["key", "get", "x"]);
    assert!(
        table.contains("release policy") && table.contains("immutable"),
        "{table}"
    );
    let err = cli.fails(1, &["key", "update", "x", "--release-policy", &other]);
    assert!(err.contains("immutable"), "{err}");
    // Not JSON: refused before anything is sent.
    let junk = cli.dir.path().join("junk.json");
    std::fs::write(&junk, "not json").expect("write");
    let err = cli.fails(
        1,
        &[
            "key",
            "create",
            "y",
            "--kty",
            "EC",
            "--exportable",
            "--release-policy",
            &path_str(&junk),
        ],
    );
    assert!(
        err.contains("--release-policy") && err.contains("not JSON"),
        "{err}"
    );
}
