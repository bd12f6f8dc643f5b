//! The `localhsm` binary end to end: vault and key commands on a temporary data directory,
//! in-process (no server) and through a running `localhsm serve` on the same directory.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::{kid_version, localhsm_command, Opener, Server};

/// A data directory and a way to run the CLI on it.
struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn data(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = localhsm_command();
        cmd.arg("--data").arg(self.data()).args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run localhsm")
    }

    /// Runs with stdin from `input`.
    fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn localhsm");
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs a command that must succeed; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "localhsm {args:?} failed ({:?}):\n{}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Runs a command with `--output json` that must succeed; returns the parsed JSON.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {text}"))
    }

    /// Runs a command that must fail with `code`; returns stderr.
    fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(
            out.status.code(),
            Some(code),
            "localhsm {args:?}: expected exit {code}\nstdout: {}\nstderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        stderr
    }

    /// Runs a command that must fail with exit 1 and print `error:` and a `hint:`
    /// containing `hint`; returns stderr.
    fn fails_with_hint(&self, args: &[&str], hint: &str) -> String {
        let stderr = self.fails(1, args);
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        let hint_line = stderr
            .lines()
            .find(|l| l.starts_with("hint: "))
            .unwrap_or_else(|| panic!("{args:?}: no hint in {stderr}"));
        assert!(
            hint_line.contains(hint),
            "{args:?}: hint {hint_line:?} lacks {hint:?}"
        );
        stderr
    }

    fn path(&self, name: &str) -> PathBuf {
        self.data().join(name)
    }
}

fn names(list: &Value, field: &str) -> Vec<String> {
    list["value"]
        .as_array()
        .expect("value array")
        .iter()
        .map(|v| v[field].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The names of a key listing (the last part of each `kid`).
fn key_names(list: &Value) -> Vec<String> {
    names(list, "kid")
        .iter()
        .map(String::as_str)
        .map(kid_version)
        .collect()
}

#[test]
fn vaults_create_list_show_delete_recover_purge() {
    let cli = Cli::new();
    assert!(cli.ok(&["vault", "list"]).contains("default"));

    let dev = cli.json(&[
        "vault",
        "create",
        "dev",
        "--kind",
        "managedhsm",
        "--retention-days",
        "7",
    ]);
    assert_eq!(dev["name"], "dev");
    assert_eq!(dev["kind"], "managedhsm");
    assert_eq!(dev["retentionDays"], 7);
    assert_eq!(dev["purgeProtection"], false);
    cli.ok(&["vault", "create", "pp", "--purge-protection"]);
    cli.fails_with_hint(&["vault", "create", "dev"], "vault list");

    let list = cli.json(&["vault", "list"]);
    let mut vaults = names(&list, "name");
    vaults.sort();
    assert_eq!(vaults, ["default", "dev", "pp"]);
    let table = cli.ok(&["vault", "show", "pp"]);
    assert!(table.contains("purge protection: true"), "{table}");

    // Delete, recover, delete again, purge.
    let deleted = cli.json(&["vault", "delete", "dev"]);
    assert!(deleted["scheduledPurgeDate"].as_u64().is_some());
    assert_eq!(
        names(&cli.json(&["vault", "list", "--deleted"]), "name"),
        ["dev"]
    );
    assert_eq!(
        cli.json(&["vault", "show", "dev", "--deleted"])["name"],
        "dev"
    );
    cli.fails_with_hint(&["vault", "create", "dev"], "localhsm vault recover dev");
    cli.fails_with_hint(&["--vault", "dev", "key", "list"], "vault recover dev");
    cli.ok(&["vault", "recover", "dev"]);
    assert_eq!(cli.json(&["vault", "show", "dev"])["retentionDays"], 7);
    cli.ok(&["vault", "delete", "dev"]);
    assert!(cli
        .ok(&["vault", "purge", "dev"])
        .contains("Purged vault dev"));
    assert!(cli
        .ok(&["vault", "list-deleted"])
        .contains("(no deleted vaults)"));
    cli.fails_with_hint(&["vault", "show", "dev"], "vault list");

    // Purge protection: keys and the vault itself refuse purging.
    cli.ok(&["--vault", "pp", "key", "create", "k", "--kty", "EC"]);
    cli.ok(&["--vault", "pp", "key", "delete", "k"]);
    cli.fails_with_hint(
        &["--vault", "pp", "key", "purge", "k"],
        "localhsm deleted show k --vault pp",
    );
    cli.ok(&["vault", "delete", "pp"]);
    cli.fails_with_hint(
        &["vault", "purge", "pp"],
        "localhsm vault show pp --deleted",
    );
    cli.ok(&["vault", "recover", "pp"]);

    // Turning purge protection on later.
    cli.ok(&["vault", "create", "later"]);
    let updated = cli.json(&["vault", "update", "later", "--purge-protection"]);
    assert_eq!(updated["purgeProtection"], true);
    assert_eq!(updated["recoveryLevel"], "Recoverable");

    // Dev-only time travel: the deleted key in pp reaches its purge date.
    let shifted = cli.json(&["time-shift", &(91 * 86_400).to_string()]);
    assert_eq!(shifted["purgedKeys"], serde_json::json!(["pp/k"]));

    // Usage errors are clap's: exit status 2.
    cli.fails(2, &["vault", "create"]);
    cli.fails(2, &["vault", "create", "x", "--kind", "mainframe"]);
    let bad = cli.fails(1, &["--vault", "no.dots", "key", "list"]);
    assert!(bad.contains("--vault"), "{bad}");
}

#[test]
fn keys_full_lifecycle_in_process() {
    let cli = Cli::new();
    let ec = cli.json(&[
        "key",
        "create",
        "ec",
        "--kty",
        "EC-HSM",
        "--curve",
        "P-256",
        "--ops",
        "sign,verify",
        "--tag",
        "env=dev",
    ]);
    assert_eq!(ec["key"]["kty"], "EC-HSM");
    assert_eq!(ec["key"]["crv"], "P-256");
    assert_eq!(ec["tags"]["env"], "dev");
    let v1 = kid_version(ec["key"]["kid"].as_str().unwrap());
    let ec2 = cli.json(&["key", "create", "ec", "--kty", "EC-HSM", "--curve", "P-256"]);
    let v2 = kid_version(ec2["key"]["kid"].as_str().unwrap());
    assert_ne!(v1, v2);

    // Lists and tables.
    assert_eq!(key_names(&cli.json(&["key", "list"])), ["ec"]);
    let versions = cli.json(&["key", "versions", "ec"]);
    let mut got = key_names(&versions);
    got.sort();
    let mut want = vec![v1.clone(), v2.clone()];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        key_names(&cli.json(&["key", "versions", "ec", "--max", "1"])).len(),
        1
    );
    let table = cli.ok(&["key", "versions", "ec"]);
    assert!(table.starts_with("VERSION"), "{table}");
    assert!(table.contains(&v1) && table.contains("env=dev"), "{table}");
    let old = cli.json(&["key", "get", "ec", "--version", &v1]);
    assert_eq!(old["key"]["key_ops"], serde_json::json!(["sign", "verify"]));
    let shown = cli.ok(&["key", "get", "ec"]);
    assert!(shown.contains(&v2) && shown.contains("created:"), "{shown}");

    // Sign a file's hash; verify with the file and with the digest given in hex.
    let msg = cli.path("message.txt");
    std::fs::write(&msg, b"hello, localhsm").unwrap();
    let msg_arg = msg.to_str().unwrap();
    let sign_file = [
        "key",
        "sign",
        "ec",
        "--alg",
        "ES256",
        "--message-file",
        msg_arg,
    ];
    let sig = cli.json(&sign_file);
    let sig_b64 = sig["value"].as_str().unwrap().to_string();
    assert!(sig["kid"].as_str().unwrap().ends_with(&v2));
    let verified = cli.json(&[
        "key",
        "verify",
        "ec",
        "--alg",
        "ES256",
        "--message-file",
        msg_arg,
        "--signature",
        &sig_b64,
    ]);
    assert_eq!(verified["value"], true);
    let digest = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(b"hello, localhsm"))
    };
    let verify_hex = cli.ok(&[
        "key",
        "verify",
        "ec",
        "--alg",
        "ES256",
        &format!("hex:{digest}"),
        "--signature",
        &format!("b64:{sig_b64}"),
    ]);
    assert!(verify_hex.contains("valid: true"), "{verify_hex}");
    // A signature over something else: exit 1, "valid: false".
    let other = cli.run(&[
        "key",
        "verify",
        "ec",
        "--alg",
        "ES256",
        &format!("hex:{}", "00".repeat(32)),
        "--signature",
        &sig_b64,
    ]);
    assert_eq!(other.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&other.stdout).contains("valid: false"));
    // Base64url values may begin with `-` (a byte from 0xf8): they are values, not flags,
    // as a positional and after an option alike.
    let dash_digest = localhsm::crypto::jwk::b64url_encode(&[0xf8; 32]);
    let dash_signature = localhsm::crypto::jwk::b64url_encode(&[0xf8; 64]);
    assert!(dash_digest.starts_with('-') && dash_signature.starts_with('-'));
    let dashed = cli.run(&[
        "key",
        "verify",
        "ec",
        "--alg",
        "ES256",
        &dash_digest,
        "--signature",
        &dash_signature,
    ]);
    assert_eq!(dashed.status.code(), Some(1), "{dashed:?}");
    assert!(String::from_utf8_lossy(&dashed.stdout).contains("valid: false"));
    // Bad byte input and a wrong digest length explain themselves.
    cli.fails_with_hint(&["key", "sign", "ec", "--alg", "ES256", "hex:zz"], "hex:");
    cli.fails_with_hint(
        &["key", "sign", "ec", "--alg", "ES256", "hex:00"],
        "key sign --help",
    );
    cli.fails(2, &["key", "sign", "ec", "--alg", "ES999", "hex:00"]);
    cli.fails(2, &["key", "sign", "ec", "--alg", "ES256"]);

    // Update: disable, tags, then a refused operation with a hint, then enable.
    let upd = cli.json(&["key", "update", "ec", "--disable", "--tag", "owner=me"]);
    assert_eq!(upd["attributes"]["enabled"], false);
    assert_eq!(upd["tags"], serde_json::json!({"owner": "me"}));
    cli.fails_with_hint(&sign_file, "localhsm key update ec --enable");
    cli.ok(&["key", "update", "ec", "--enable"]);
    let old_upd = cli.json(&["key", "update", "ec", "--version", &v1, "--disable"]);
    assert_eq!(old_upd["attributes"]["enabled"], false);
    assert_eq!(
        cli.json(&["key", "get", "ec"])["attributes"]["enabled"],
        true
    );

    // Symmetric keys (the default vault is a Managed HSM): encrypt/decrypt, wrap/unwrap.
    cli.ok(&["key", "create", "aes", "--kty", "oct-HSM", "--size", "256"]);
    let enc = cli.json(&[
        "key",
        "encrypt",
        "aes",
        "--alg",
        "A256GCM",
        "hex:68656c6c6f",
        "--aad",
        "hex:0102",
    ]);
    let (ct, iv, tag) = (
        enc["value"].as_str().unwrap(),
        enc["iv"].as_str().unwrap(),
        enc["tag"].as_str().unwrap(),
    );
    let plain_file = cli.path("plain.bin");
    let dec = cli.ok(&[
        "key",
        "decrypt",
        "aes",
        "--alg",
        "A256GCM",
        ct,
        "--iv",
        iv,
        "--tag",
        tag,
        "--aad",
        "hex:0102",
        "--hex",
        "--out",
        plain_file.to_str().unwrap(),
    ]);
    assert!(dec.contains("plaintext (hex): 68656c6c6f"), "{dec}");
    assert_eq!(std::fs::read(&plain_file).unwrap(), b"hello");
    // Plaintext from stdin.
    let enc_stdin = cli.run_with_stdin(
        &[
            "key", "encrypt", "aes", "--alg", "A256GCM", "-", "--output", "json",
        ],
        b"from stdin",
    );
    assert!(enc_stdin.status.success());
    let cek = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let wrapped = cli.json(&[
        "key",
        "wrap",
        "aes",
        "--alg",
        "A256KW",
        &format!("hex:{cek}"),
    ]);
    let unwrapped = cli.ok(&[
        "key",
        "unwrap",
        "aes",
        "--alg",
        "A256KW",
        wrapped["value"].as_str().unwrap(),
        "--hex",
    ]);
    assert!(
        unwrapped.contains(&format!("key (hex):         {cek}")) || unwrapped.contains(cek),
        "{unwrapped}"
    );

    // RSA: encrypt/decrypt and wrap/unwrap through files.
    cli.ok(&["key", "create", "rsa", "--kty", "RSA", "--size", "2048"]);
    assert!(cli.ok(&["key", "get", "rsa"]).contains("2048 bits"));
    let rsa_ct = cli.path("rsa.ct");
    cli.ok(&[
        "key",
        "encrypt",
        "rsa",
        "--alg",
        "RSA-OAEP-256",
        "b64:c2VjcmV0",
        "--out",
        rsa_ct.to_str().unwrap(),
    ]);
    let rsa_pt = cli.json(&[
        "key",
        "decrypt",
        "rsa",
        "--alg",
        "RSA-OAEP-256",
        &format!("@{}", rsa_ct.display()),
    ]);
    assert_eq!(rsa_pt["value"], "c2VjcmV0");
    let rsa_wrapped = cli.json(&[
        "key",
        "wrap",
        "rsa",
        "--alg",
        "RSA-OAEP",
        &format!("hex:{cek}"),
    ]);
    let rsa_unwrapped = cli.json(&[
        "key",
        "unwrap",
        "rsa",
        "--alg",
        "RSA-OAEP",
        rsa_wrapped["value"].as_str().unwrap(),
    ]);
    assert_eq!(
        hex::encode(
            localhsm::crypto::jwk::b64url_decode(rsa_unwrapped["value"].as_str().unwrap()).unwrap()
        ),
        cek
    );

    // Backup, delete, recover, delete, purge, restore.
    let backup = cli.path("ec.backup");
    let backup_arg = backup.to_str().unwrap();
    assert!(cli
        .ok(&["key", "backup", "ec", "--file", backup_arg])
        .contains("Wrote the backup"));
    assert!(std::fs::metadata(&backup).unwrap().len() > 0);
    let del = cli.json(&["key", "delete", "ec"]);
    assert!(del["scheduledPurgeDate"].as_u64().is_some());
    assert!(del["recoveryId"]
        .as_str()
        .unwrap()
        .ends_with("/deletedkeys/ec"));
    assert_eq!(key_names(&cli.json(&["deleted", "list"])), ["ec"]);
    let shown = cli.ok(&["deleted", "show", "ec"]);
    assert!(shown.contains("scheduled purge:"), "{shown}");
    cli.fails_with_hint(&["key", "get", "ec"], "localhsm deleted list");
    cli.fails_with_hint(
        &["key", "create", "ec", "--kty", "EC"],
        "localhsm key recover ec",
    );
    assert_eq!(cli.json(&["key", "recover", "ec"])["key"]["kty"], "EC-HSM");
    cli.ok(&["key", "get", "ec"]);
    cli.ok(&["key", "delete", "ec"]);
    assert!(cli.ok(&["key", "purge", "ec"]).contains("Purged key ec"));
    assert!(cli.ok(&["deleted", "list"]).contains("(no deleted keys)"));
    cli.fails_with_hint(&["deleted", "show", "ec"], "localhsm deleted list");
    let restored = cli.json(&["key", "restore", "--file", backup_arg]);
    assert!(restored["key"]["kid"]
        .as_str()
        .unwrap()
        .contains("/keys/ec/"));
    assert_eq!(key_names(&cli.json(&["key", "versions", "ec"])).len(), 2);
    cli.fails_with_hint(
        &["key", "restore", "--file", backup_arg],
        "delete and purge",
    );

    // Paging: more keys than one page.
    for i in 0..27 {
        cli.ok(&["key", "create", &format!("p{i:02}"), "--kty", "EC"]);
    }
    assert_eq!(key_names(&cli.json(&["key", "list"])).len(), 30);
    let limited = cli.json(&["key", "list", "--max", "3"]);
    assert_eq!(key_names(&limited).len(), 3);
    assert!(limited["nextLink"].is_string());
}

#[test]
fn import_a_vector_jwk_and_check_a_known_signature() {
    let cli = Cli::new();
    let vectors: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/ecdsa.json"))
            .unwrap(),
    )
    .unwrap();
    let jwk = &vectors["keys"]["ec-p256"];
    let jwk_file = cli.path("p256.json");
    std::fs::write(&jwk_file, jwk.to_string()).unwrap();

    let imported = cli.json(&[
        "key",
        "import",
        "imported",
        "--jwk",
        jwk_file.to_str().unwrap(),
        "--hsm",
    ]);
    assert_eq!(imported["key"]["kty"], "EC-HSM");
    assert_eq!(imported["key"]["x"], jwk["x"]);
    assert!(
        imported["key"].get("d").is_none(),
        "private member in output"
    );
    let table = cli.ok(&["key", "get", "imported"]);
    assert!(!table.contains(jwk["d"].as_str().unwrap()));

    // A valid vector signature over "abc" verifies.
    let case = vectors["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["key"] == "ec-p256"
                && c["alg"] == "ES256"
                && c["result"] == "valid"
                && c["msg"] == "616263"
        })
        .expect("a valid ES256 case over abc");
    let msg = cli.path("abc.txt");
    std::fs::write(&msg, b"abc").unwrap();
    let out = cli.ok(&[
        "key",
        "verify",
        "imported",
        "--alg",
        "ES256",
        "--message-file",
        msg.to_str().unwrap(),
        "--signature",
        &format!("hex:{}", case["signature"].as_str().unwrap()),
    ]);
    assert!(out.contains("valid: true"), "{out}");

    // Import from stdin, into a non-HSM key.
    let out = cli.run_with_stdin(
        &[
            "key",
            "import",
            "from-stdin",
            "--jwk",
            "-",
            "--output",
            "json",
        ],
        jwk.to_string().as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["key"]["kty"], "EC");

    // A public-only JWK is refused with the server's reason.
    let public = serde_json::json!({"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"]});
    std::fs::write(&jwk_file, public.to_string()).unwrap();
    let err = cli.fails(
        1,
        &["key", "import", "pub", "--jwk", jwk_file.to_str().unwrap()],
    );
    assert!(err.contains("private"), "{err}");
}

#[test]
fn a_held_store_without_a_server_is_explained() {
    let cli = Cli::new();
    cli.ok(&["vault", "list"]);
    let store = Opener::source(|| localhsm::MasterKeySource::Default).open(cli.data());
    cli.fails_with_hint(&["key", "list"], "fuser");
    // A stale server file pointing nowhere.
    let stale = serde_json::json!({
        "url": format!("https://127.0.0.1:{}", free_port()),
        "cert": cli.path("tls/cert.pem"),
        "pid": 999_999,
    });
    std::fs::write(cli.path("server.json"), stale.to_string()).unwrap();
    cli.fails_with_hint(&["key", "list"], "server.json");
    drop(store);
    // Once the store is free, a stale server file does not matter.
    cli.ok(&["key", "list"]);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn commands_go_through_a_running_server() {
    let cli = Cli::new();
    let server = Server::start(cli.data(), &[], Stdio::inherit()).expect("localhsm serve");
    let port = server.addr.port();
    let origin = format!("https://localhost:{port}");

    // Created by the CLI; the kid carries the server's port, so it came through the server.
    let created = cli.json(&[
        "key", "create", "via-cli", "--kty", "EC", "--curve", "P-256",
    ]);
    let kid = created["key"]["kid"].as_str().unwrap();
    assert!(kid.starts_with(&format!("{origin}/keys/via-cli/")), "{kid}");

    let http = server.client_for(&["localhost", "remote.localhost"]);
    let token = "Bearer dev";
    let got: Value = http
        .get(format!("{origin}/keys/via-cli?api-version=7.5"))
        .header("Authorization", token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(got["key"]["kid"], created["key"]["kid"]);

    // Created through the server; the CLI sees it.
    let resp = http
        .post(format!("{origin}/keys/via-http/create?api-version=7.5"))
        .header("Authorization", token)
        .json(&serde_json::json!({"kty": "EC", "crv": "P-256"}))
        .send()
        .unwrap();
    assert!(resp.status().is_success());
    let mut listed = key_names(&cli.json(&["key", "list"]));
    listed.sort();
    assert_eq!(listed, ["via-cli", "via-http"]);

    // A named vault at {vault}.localhost:PORT, and crypto through the server.
    cli.ok(&["vault", "create", "remote", "--kind", "managedhsm"]);
    let aes = cli.json(&[
        "--vault", "remote", "key", "create", "aes", "--kty", "oct-HSM",
    ]);
    assert!(aes["key"]["kid"]
        .as_str()
        .unwrap()
        .starts_with(&format!("https://remote.localhost:{port}/keys/aes/")));
    let listed: Value = http
        .get(format!(
            "https://remote.localhost:{port}/keys?api-version=7.5"
        ))
        .header("Authorization", token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(key_names(&listed), ["aes"]);
    let sig = cli.json(&[
        "key",
        "sign",
        "via-http",
        "--alg",
        "ES256",
        &format!("hex:{}", "11".repeat(32)),
    ]);
    let ok = cli.ok(&[
        "key",
        "verify",
        "via-http",
        "--alg",
        "ES256",
        &format!("hex:{}", "11".repeat(32)),
        "--signature",
        sig["value"].as_str().unwrap(),
    ]);
    assert!(ok.contains("valid: true"));

    // Errors from the server come with hints too.
    cli.fails_with_hint(&["key", "get", "missing"], "localhsm key list");

    // Once the server is gone, the CLI opens the store itself (a stale server.json is
    // ignored when nothing holds the store).
    drop(server);
    let local = cli.json(&["key", "get", "via-http"]);
    assert!(local["key"]["kid"]
        .as_str()
        .unwrap()
        .starts_with("https://localhost/keys/via-http/"));
}

#[test]
fn every_command_has_help_with_an_example() {
    let cli = Cli::new();
    for args in [
        vec!["--help"],
        vec!["vault", "create", "--help"],
        vec!["key", "sign", "--help"],
        vec!["deleted", "list", "--help"],
        vec!["time-shift", "--help"],
    ] {
        let out = cli.ok(&args);
        assert!(out.contains("Example:"), "{args:?}: {out}");
    }
    assert!(cli.ok(&["time-shift", "--help"]).contains("Dev only"));
}

#[test]
fn roles_access_logs_and_customer_data() {
    let cli = Cli::new();
    cli.ok(&[
        "vault",
        "create",
        "pp",
        "--kind",
        "managedhsm",
        "--retention-days",
        "7",
        "--purge-protection",
    ]);
    cli.ok(&[
        "key",
        "create",
        "k1",
        "--kty",
        "EC-HSM",
        "--tag",
        "deviceId=sensor-1",
    ]);
    cli.ok(&[
        "--vault",
        "pp",
        "key",
        "create",
        "k2",
        "--kty",
        "oct-HSM",
        "--tag",
        "deviceId=sensor-1",
    ]);

    // Roles: assign by short name, list (all and at a scope), definitions, remove.
    let a = cli.json(&[
        "role",
        "assign",
        "--role",
        "Crypto User",
        "--principal",
        "oid-1",
        "--scope",
        "/keys/k1",
        "--name",
        "a-1",
    ]);
    assert_eq!(a["value"][0]["properties"]["scope"], "/keys/k1");
    let all = cli.json(&["role", "list"]);
    assert_eq!(all["value"].as_array().unwrap().len(), 1);
    assert_eq!(
        cli.json(&["role", "list", "--scope", "/"])["value"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let defs = cli.json(&["role", "definitions"]);
    assert_eq!(defs["value"].as_array().unwrap().len(), 9);
    assert!(cli
        .ok(&["role", "list"])
        .contains("Managed HSM Crypto User"));
    cli.fails_with_hint(
        &["role", "assign", "--role", "Owner", "--principal", "x"],
        "role definitions",
    );

    // Access log: off, then on; the CLI's own calls are recorded with its caller.
    cli.ok(&[
        "vault",
        "update",
        "default",
        "--access-log",
        "on",
        "--log-retention-days",
        "30",
    ]);
    cli.ok(&["key", "get", "k1"]);
    let log = cli.json(&["log", "list"]);
    let records = log["value"].as_array().unwrap();
    assert!(records
        .iter()
        .any(|r| r["operationName"] == "KeyGet" && r["httpStatusCode"] == 200));
    let lines = cli.ok(&["log", "export"]);
    assert!(
        lines
            .lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok())
            && !lines.is_empty()
    );

    // Customer data: export finds both tagged keys; delete purges one, the other waits.
    let export = cli.ok(&["customer-data", "export", "--device-id", "SENSOR-1"]);
    let export: Value = serde_json::from_str(&export).unwrap();
    assert_eq!(export["vaults"].as_array().unwrap().len(), 2, "{export}");
    assert!(
        !export.to_string().contains("\"k\":"),
        "no private key material"
    );
    let report = cli.json(&["customer-data", "delete", "--device-id", "sensor-1"]);
    assert_eq!(report["keysPurged"], serde_json::json!(["default/k1"]));
    assert_eq!(report["keysAwaitingPurge"][0]["name"], "k2");
    let again: Value =
        serde_json::from_str(&cli.ok(&["customer-data", "export", "--device-id", "sensor-1"]))
            .unwrap();
    assert_eq!(again["vaults"].as_array().unwrap().len(), 1);
    assert_eq!(again["vaults"][0]["vault"], "pp");
    let report = cli.json(&["customer-data", "delete", "--principal", "oid-1"]);
    assert_eq!(
        report["roleAssignmentsRemoved"],
        serde_json::json!(["default/a-1"])
    );
    cli.fails(2, &["customer-data", "export"]);
}
