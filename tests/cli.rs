//! The `localhsm` binary end to end: vault, key, secret and certificate commands on a
//! temporary data directory, in-process (no server) and through a running `localhsm serve`
//! on the same directory. Certificates are checked with the `openssl` tool where there is
//! one (`LOCALHSM_REQUIRE_OPENSSL` makes it required).

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

    // Dev-only time travel, off unless asked for: the refusal says how to turn it on.
    let refused = cli.fails(1, &["time-shift", &(91 * 86_400).to_string()]);
    assert!(
        refused.contains("localhsm serve --dev-clock") && refused.contains("--dev-clock"),
        "{refused}"
    );
    let too_far = cli.fails(1, &["time-shift", "--dev-clock", "315360001"]);
    assert!(too_far.contains("at most 315360000"), "{too_far}");
    // The deleted key in pp reaches its purge date.
    let shifted = cli.json(&["time-shift", "--dev-clock", &(91 * 86_400).to_string()]);
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
        vec!["secret", "--help"],
        vec!["secret", "get", "--help"],
        vec!["secret", "update", "--help"],
        vec!["time-shift", "--help"],
        vec!["cert", "--help"],
        vec!["cert", "create", "--help"],
        vec!["cert", "import", "--help"],
        vec!["cert", "download", "--help"],
        vec!["cert", "merge", "--help"],
        vec!["cert", "policy", "set", "--help"],
        vec!["cert", "contacts", "set", "--help"],
        vec!["cert", "issuer", "create", "--help"],
    ] {
        let out = cli.ok(&args);
        assert!(out.contains("Example:"), "{args:?}: {out}");
    }
    let shift_help = cli.ok(&["time-shift", "--help"]);
    for want in [
        "Dev only",
        "serve --dev-clock",
        "purge protection",
        "3650 days",
    ] {
        assert!(shift_help.contains(want), "{want}: {shift_help}");
    }
    let create = cli.ok(&["cert", "create", "--help"]);
    for want in [
        "--issuer Unknown",
        "--policy",
        "cert merge",
        "--not-exportable",
    ] {
        assert!(create.contains(want), "{want} not in {create}");
    }
    let import = cli.ok(&["cert", "import", "--help"]);
    assert!(import.contains("--password-file") && import.contains("shell history"));
    let set = cli.ok(&["secret", "set", "--help"]);
    assert!(
        set.contains("Example:") && set.contains("@FILE") && set.contains("stdin"),
        "{set}"
    );
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
    // The default vault offers Managed HSM's nine roles and Key Vault's six data roles.
    let defs = cli.json(&["role", "definitions"]);
    assert_eq!(defs["value"].as_array().unwrap().len(), 15);
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

/// The names of a secret listing (the last part of each `id`).
fn secret_names(list: &Value) -> Vec<String> {
    names(list, "id")
        .iter()
        .map(String::as_str)
        .map(kid_version)
        .collect()
}

#[test]
fn secrets_set_get_list_update_in_process() {
    let cli = Cli::new();
    let unicode = "pässwörd ✓ 🔑 — 秘密";

    // Set prints the id and attributes, never the value, in either format.
    let table = cli.ok(&[
        "secret",
        "set",
        "greeting",
        unicode,
        "--content-type",
        "text/plain",
        "--tag",
        "env=dev",
    ]);
    assert!(!table.contains(unicode), "{table}");
    assert!(table.contains("content type: text/plain"), "{table}");
    assert!(table.contains("env=dev") && table.contains("/secrets/greeting/"));
    let first = table
        .lines()
        .find_map(|l| l.strip_prefix("version:"))
        .expect("a version line")
        .trim()
        .to_string();
    let set = cli.json(&["secret", "set", "greeting", unicode, "--tags", "env=prod"]);
    assert!(set.get("value").is_none(), "{set}");
    assert!(!set.to_string().contains(unicode));
    let second = kid_version(set["id"].as_str().unwrap());
    assert_ne!(first, second);
    assert_eq!(set["tags"]["env"], "prod");
    assert_eq!(set["attributes"]["enabled"], true);

    // Get prints the value exactly (no newline when stdout is not a terminal); JSON is the
    // bundle with it.
    assert_eq!(cli.ok(&["secret", "get", "greeting"]), unicode);
    let got = cli.json(&["secret", "get", "greeting"]);
    assert_eq!(got["value"], unicode);
    assert_eq!(got["id"], set["id"]);
    assert_eq!(
        cli.ok(&["secret", "get", "greeting", "--version", &first]),
        unicode
    );
    // --show-value is the way to see it from set.
    let shown = cli.json(&["secret", "set", "shown", "visible", "--show-value"]);
    assert_eq!(shown["value"], "visible");
    let shown = cli.ok(&["secret", "set", "shown", "in-a-table", "--show-value"]);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("value:") && l.ends_with(" in-a-table")),
        "{shown}"
    );

    // Values that begin with '-' are values, before options and after them.
    cli.ok(&["secret", "set", "dash", "-n", "--tag", "k=v"]);
    assert_eq!(cli.ok(&["secret", "get", "dash"]), "-n");
    cli.ok(&["secret", "set", "dash", "--tag", "k=v", "--not-a-flag"]);
    assert_eq!(cli.ok(&["secret", "get", "dash"]), "--not-a-flag");

    // @FILE is the file's text as it is, trailing newline included; @@ escapes a leading @.
    let file = cli.path("pem.txt");
    let pem = "-----BEGIN THING-----\nAAEC\n-----END THING-----\n";
    std::fs::write(&file, pem).unwrap();
    let from_file = cli.ok(&["secret", "set", "pem", &format!("@{}", file.display())]);
    assert!(!from_file.contains("BEGIN THING"), "{from_file}");
    assert_eq!(cli.ok(&["secret", "get", "pem"]), pem);
    cli.ok(&["secret", "set", "at", "@@home"]);
    assert_eq!(cli.ok(&["secret", "get", "at"]), "@home");
    cli.fails_with_hint(&["secret", "set", "at", "@/no/such/file"], "@@TEXT");
    std::fs::write(&file, [0xff, 0xfe, 0x00]).unwrap();
    let err = cli.fails_with_hint(
        &["secret", "set", "bin", &format!("@{}", file.display())],
        "base64",
    );
    assert!(err.contains("not UTF-8"), "{err}");
    let big = cli.path("big.txt");
    std::fs::write(&big, "x".repeat(25 * 1024 + 1)).unwrap();
    let err = cli.fails(1, &["secret", "set", "big", &format!("@{}", big.display())]);
    assert!(err.contains("25600 bytes"), "{err}");
    // Exactly at Key Vault's limit is fine.
    std::fs::write(&big, "x".repeat(25 * 1024)).unwrap();
    cli.ok(&["secret", "set", "big", &format!("@{}", big.display())]);
    assert_eq!(cli.ok(&["secret", "get", "big"]).len(), 25 * 1024);

    // Stdin: with `-`, or when no value is given and stdin is not a terminal.
    let out = cli.run_with_stdin(
        &["secret", "set", "piped", "-"],
        "from stdin ✓\n".as_bytes(),
    );
    assert!(out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("from stdin"));
    assert_eq!(cli.ok(&["secret", "get", "piped"]), "from stdin ✓\n");
    let out = cli.run_with_stdin(&["secret", "set", "implicit"], b"-implicit-");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(cli.ok(&["secret", "get", "implicit"]), "-implicit-");
    // A closed, empty stdin without `-` is a missing value, not an empty secret.
    let err = cli.fails_with_hint(&["secret", "set", "nothing"], "@FILE");
    assert!(err.contains("no value given"), "{err}");
    cli.fails_with_hint(&["secret", "get", "nothing"], "localhsm secret list");

    // Listings carry no values.
    let list = cli.json(&["secret", "list"]);
    let mut listed = secret_names(&list);
    listed.sort();
    assert_eq!(
        listed,
        ["at", "big", "dash", "greeting", "implicit", "pem", "piped", "shown"]
    );
    assert!(list["value"]
        .as_array()
        .unwrap()
        .iter()
        .all(|item| item.get("value").is_none()));
    let table = cli.ok(&["secret", "list"]);
    assert!(
        table.starts_with("NAME") && table.contains("env=prod"),
        "{table}"
    );
    assert!(!table.contains(unicode) && !table.contains("from stdin"));
    assert_eq!(
        secret_names(&cli.json(&["secret", "list", "--max", "2"])).len(),
        2
    );
    let versions = cli.json(&["secret", "versions", "greeting"]);
    let mut got = secret_names(&versions);
    got.sort();
    let mut want = vec![first.clone(), second.clone()];
    want.sort();
    assert_eq!(got, want);
    assert!(!versions.to_string().contains(unicode));
    assert_eq!(
        secret_names(&cli.json(&["secret", "versions", "greeting", "--max", "1"])).len(),
        1
    );
    let table = cli.ok(&["secret", "versions", "greeting"]);
    assert!(
        table.starts_with("VERSION") && table.contains(&first),
        "{table}"
    );

    // Update: content type and tags of the current version, or of one by --version.
    let upd = cli.json(&[
        "secret",
        "update",
        "greeting",
        "--content-type",
        "application/x-greeting",
        "--tag",
        "owner=me",
        "--tag",
        "team=ops",
    ]);
    assert_eq!(upd["contentType"], "application/x-greeting");
    assert_eq!(
        upd["tags"],
        serde_json::json!({"owner": "me", "team": "ops"})
    );
    assert!(upd.get("value").is_none());
    assert_eq!(kid_version(upd["id"].as_str().unwrap()), second);
    let old = cli.json(&[
        "secret",
        "update",
        "greeting",
        "--version",
        &first,
        "--expires",
        "2030-01-01T00:00:00Z",
    ]);
    assert_eq!(old["attributes"]["exp"], 1_893_456_000);
    assert_eq!(old["contentType"], "text/plain");
    assert_eq!(old["tags"], serde_json::json!({"env": "dev"}));
    let current = cli.json(&["secret", "get", "greeting"]);
    assert_eq!(current["contentType"], "application/x-greeting");
    assert!(current["attributes"].get("exp").is_none());
    // A new version with validity dates.
    let dated = cli.json(&[
        "secret",
        "set",
        "dated",
        "v",
        "--not-before",
        "1700000000",
        "--expires",
        "2030-01-01T00:00:00Z",
    ]);
    assert_eq!(dated["attributes"]["nbf"], 1_700_000_000);
    assert_eq!(dated["attributes"]["exp"], 1_893_456_000);

    // Disabled: the value cannot be read (Key Vault's 403 SecretDisabled), older versions can.
    let off = cli.json(&["secret", "update", "greeting", "--enabled", "false"]);
    assert_eq!(off["attributes"]["enabled"], false);
    let err = cli.fails_with_hint(
        &["secret", "get", "greeting"],
        "localhsm secret update greeting --enabled true",
    );
    assert!(err.contains("disabled secret"), "{err}");
    assert!(!err.contains(unicode));
    assert_eq!(
        cli.ok(&["secret", "get", "greeting", "--version", &first]),
        unicode
    );
    cli.ok(&["secret", "update", "greeting", "--enabled", "true"]);
    assert_eq!(cli.ok(&["secret", "get", "greeting"]), unicode);
    // Set a new version disabled.
    let disabled = cli.json(&["secret", "set", "off", "v", "--enabled", "false"]);
    assert_eq!(disabled["attributes"]["enabled"], false);
    cli.fails(1, &["secret", "get", "off"]);

    // Usage errors are clap's: exit status 2.
    cli.fails(2, &["secret", "update", "greeting"]);
    cli.fails(2, &["secret", "set", "x", "v", "--enabled", "maybe"]);
    cli.fails(2, &["secret", "set", "x", "v", "--tag", "novalue"]);
    cli.fails(2, &["secret", "set"]);
    // Bad names are the server's 400, with the command's help named.
    cli.fails_with_hint(
        &["secret", "set", "no_underscores", "v"],
        "secret set --help",
    );
}

#[test]
fn secrets_delete_recover_purge_backup_restore() {
    let cli = Cli::new();
    cli.ok(&["secret", "set", "db", "first"]);
    cli.ok(&["secret", "set", "db", "second", "--tag", "env=dev"]);
    cli.ok(&["secret", "set", "other", "x"]);
    // A deleted key of the same name stays apart from the deleted secret.
    cli.ok(&["key", "create", "db", "--kty", "EC"]);
    cli.ok(&["key", "delete", "db"]);

    // Backup first, to restore after the purge.
    let backup = cli.path("db.backup");
    let backup_arg = backup.to_str().unwrap();
    assert!(cli
        .ok(&["secret", "backup", "db", "--file", backup_arg])
        .contains("Wrote the backup of secret db"));
    let blob = std::fs::read(&backup).unwrap();
    assert!(!blob.is_empty());
    assert!(
        !blob.windows(6).any(|w| w == b"second"),
        "the backup blob holds the value in the clear"
    );

    // Delete: the deleted bundle, no value.
    let del = cli.json(&["secret", "delete", "db"]);
    assert!(del.get("value").is_none(), "{del}");
    assert!(del["recoveryId"]
        .as_str()
        .unwrap()
        .ends_with("/deletedsecrets/db"));
    assert!(del["scheduledPurgeDate"].as_u64() > del["deletedDate"].as_u64());
    cli.fails_with_hint(
        &["secret", "get", "db"],
        "localhsm deleted list --kind secret",
    );
    assert_eq!(secret_names(&cli.json(&["secret", "list"])), ["other"]);

    // `deleted` shows keys by default and secrets with --kind secret (or secrets).
    assert_eq!(key_names(&cli.json(&["deleted", "list"])), ["db"]);
    let deleted = cli.json(&["deleted", "list", "--kind", "secret"]);
    assert_eq!(secret_names(&deleted), ["db"]);
    assert!(deleted["value"][0].get("value").is_none());
    let table = cli.ok(&["deleted", "list", "--kind", "secrets"]);
    assert!(
        table.starts_with("NAME") && table.contains("env=dev"),
        "{table}"
    );
    let shown = cli.ok(&["deleted", "show", "db", "--kind", "secret"]);
    assert!(
        shown.contains("scheduled purge:") && shown.contains("/deletedsecrets/db"),
        "{shown}"
    );
    assert!(!shown.contains("second"));
    assert_eq!(
        cli.json(&["deleted", "show", "db"])["key"]["kty"],
        "EC",
        "without --kind, deleted show is about keys"
    );

    // The name is taken while deleted.
    let err = cli.fails_with_hint(
        &["secret", "set", "db", "third"],
        "localhsm secret recover db",
    );
    assert!(err.contains("deleted but recoverable"), "{err}");

    // Recover (through `secret` and through `deleted`) brings back every version.
    let recovered = cli.json(&["secret", "recover", "db"]);
    assert!(recovered.get("value").is_none());
    assert_eq!(cli.ok(&["secret", "get", "db"]), "second");
    assert_eq!(
        secret_names(&cli.json(&["secret", "versions", "db"])).len(),
        2
    );
    cli.ok(&["secret", "delete", "db"]);
    cli.ok(&["deleted", "recover", "db", "--kind", "secret"]);
    assert_eq!(cli.ok(&["secret", "get", "db"]), "second");
    cli.fails_with_hint(
        &["secret", "recover", "db"],
        "localhsm deleted list --kind secret",
    );

    // Purge: through `secret` and through `deleted`.
    cli.ok(&["secret", "delete", "db"]);
    assert!(cli
        .ok(&["secret", "purge", "db"])
        .contains("Purged secret db"));
    assert!(cli
        .ok(&["deleted", "list", "--kind", "secret"])
        .contains("(no deleted secrets)"));
    cli.ok(&["secret", "delete", "other"]);
    assert!(cli
        .ok(&["deleted", "purge", "other", "--kind", "secret"])
        .contains("Purged secret other"));
    cli.fails_with_hint(
        &["deleted", "show", "db", "--kind", "secret"],
        "localhsm deleted list --kind secret",
    );
    // The deleted key was never touched.
    assert_eq!(key_names(&cli.json(&["deleted", "list"])), ["db"]);

    // Restore brings back both versions with their values and tags.
    let restored = cli.json(&["secret", "restore", "--file", backup_arg]);
    assert!(restored.get("value").is_none());
    assert!(restored["id"].as_str().unwrap().contains("/secrets/db/"));
    assert_eq!(restored["tags"]["env"], "dev");
    assert_eq!(cli.ok(&["secret", "get", "db"]), "second");
    let versions = secret_names(&cli.json(&["secret", "versions", "db"]));
    let mut values: Vec<String> = versions
        .iter()
        .map(|v| cli.ok(&["secret", "get", "db", "--version", v]))
        .collect();
    values.sort();
    assert_eq!(values, ["first", "second"]);
    cli.fails_with_hint(
        &["secret", "restore", "--file", backup_arg],
        "delete and purge the existing secret",
    );
    cli.fails_with_hint(
        &["secret", "backup", "nope", "--file", backup_arg],
        "secret list",
    );

    // Purge protection: a deleted secret waits for its date.
    cli.ok(&[
        "vault",
        "create",
        "pp",
        "--purge-protection",
        "--retention-days",
        "7",
    ]);
    cli.ok(&["--vault", "pp", "secret", "set", "s", "v"]);
    cli.ok(&["--vault", "pp", "secret", "delete", "s"]);
    cli.fails_with_hint(
        &["--vault", "pp", "secret", "purge", "s"],
        "localhsm deleted show s --kind secret --vault pp",
    );
}

#[test]
fn only_key_vaults_and_the_default_vault_hold_secrets() {
    let cli = Cli::new();
    cli.ok(&["vault", "create", "hsm", "--kind", "managedhsm"]);
    cli.ok(&["vault", "create", "kv", "--kind", "vault"]);

    // A Managed HSM other than the default vault refuses every secret call, clearly.
    for args in [
        vec!["--vault", "hsm", "secret", "set", "s", "v"],
        vec!["--vault", "hsm", "secret", "list"],
        vec!["--vault", "hsm", "secret", "get", "s"],
        vec!["--vault", "hsm", "deleted", "list", "--kind", "secret"],
    ] {
        let err = cli.fails_with_hint(&args, "localhsm vault show hsm");
        assert!(
            err.contains("Managed HSM has no secrets") && err.contains("managedhsm"),
            "{args:?}: {err}"
        );
    }
    // Keys are still fine there.
    cli.ok(&["--vault", "hsm", "key", "create", "k", "--kty", "oct-HSM"]);

    // A vault and the default vault each hold their own secret of the same name.
    cli.ok(&["--vault", "kv", "secret", "set", "s", "in kv"]);
    cli.ok(&["secret", "set", "s", "in default"]);
    assert_eq!(cli.ok(&["--vault", "kv", "secret", "get", "s"]), "in kv");
    assert_eq!(cli.ok(&["secret", "get", "s"]), "in default");
    let kv = cli.json(&["--vault", "kv", "secret", "get", "s"]);
    assert!(kv["id"]
        .as_str()
        .unwrap()
        .starts_with("https://kv.localhost/secrets/s/"));
}

#[test]
fn secrets_go_through_a_running_server() {
    let cli = Cli::new();
    let server = Server::start(cli.data(), &[], Stdio::inherit()).expect("localhsm serve");
    let port = server.addr.port();
    let origin = format!("https://localhost:{port}");
    let http = server.client();
    let token = "Bearer dev";

    // Set by the CLI (from stdin): the id carries the server's port; HTTP reads the value.
    let out = cli.run_with_stdin(
        &["secret", "set", "via-cli", "--output", "json"],
        "-über-".as_bytes(),
    );
    assert!(out.status.success(), "{out:?}");
    let set: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(set.get("value").is_none());
    let id = set["id"].as_str().unwrap();
    assert!(
        id.starts_with(&format!("{origin}/secrets/via-cli/")),
        "{id}"
    );
    let got: Value = http
        .get(format!("{origin}/secrets/via-cli?api-version=7.5"))
        .header("Authorization", token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(got["value"], "-über-");
    assert_eq!(got["id"], set["id"]);

    // Set over HTTP; the CLI reads it, lists it, deletes and recovers it.
    let resp = http
        .put(format!("{origin}/secrets/via-http?api-version=7.5"))
        .header("Authorization", token)
        .json(&serde_json::json!({"value": "s3cr3t", "contentType": "text/plain"}))
        .send()
        .unwrap();
    assert!(resp.status().is_success());
    assert_eq!(cli.ok(&["secret", "get", "via-http"]), "s3cr3t");
    let mut listed = secret_names(&cli.json(&["secret", "list"]));
    listed.sort();
    assert_eq!(listed, ["via-cli", "via-http"]);
    cli.ok(&["secret", "delete", "via-http"]);
    assert_eq!(
        secret_names(&cli.json(&["deleted", "list", "--kind", "secret"])),
        ["via-http"]
    );
    cli.fails_with_hint(&["secret", "get", "via-http"], "localhsm secret list");
    cli.ok(&["deleted", "recover", "via-http", "--kind", "secret"]);
    assert_eq!(cli.ok(&["secret", "get", "via-http"]), "s3cr3t");
    cli.ok(&["secret", "update", "via-http", "--enabled", "false"]);
    cli.fails_with_hint(&["secret", "get", "via-http"], "--enabled true");
}

// ---------------------------------------------------------------------------------------
// Certificates

/// The `openssl` command-line tool, an independent X.509 and PKCS#12 implementation, run in
/// a scratch directory.
struct OpenSsl;

impl OpenSsl {
    /// `None` (after saying why) when there is no working `openssl`, unless
    /// `LOCALHSM_REQUIRE_OPENSSL` is set, which makes its absence a failure (as in
    /// tests/openssl_crosscheck.rs).
    fn find() -> Option<Self> {
        let works = Command::new("openssl")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        if works {
            Some(Self)
        } else if std::env::var_os("LOCALHSM_REQUIRE_OPENSSL").is_some() {
            panic!("LOCALHSM_REQUIRE_OPENSSL is set but no working `openssl` is on PATH")
        } else {
            println!(
                "SKIPPED: no working `openssl` binary on PATH; the OpenSSL checks of certificates \
                 did not run (set LOCALHSM_REQUIRE_OPENSSL=1 to make this a failure)"
            );
            None
        }
    }

    fn output(&self, args: &[&str]) -> Output {
        Command::new("openssl")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run openssl")
    }

    /// Runs openssl, which must succeed; returns stdout and stderr together (some versions
    /// print `verify OK` on either).
    fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "openssl {args:?} failed: {text}");
        text
    }

    /// The public key (PEM SubjectPublicKeyInfo) of a certificate file.
    fn cert_pubkey(&self, cert: &str) -> String {
        self.ok(&["x509", "-in", cert, "-noout", "-pubkey"])
    }

    /// The public key (PEM SubjectPublicKeyInfo) of the private key in a PEM file.
    fn key_pubkey(&self, key: &str) -> String {
        self.ok(&["pkey", "-in", key, "-pubout"])
    }
}

/// A path in the test's data directory, as a string argument.
fn arg(cli: &Cli, name: &str) -> String {
    cli.path(name)
        .to_str()
        .expect("UTF-8 temp path")
        .to_string()
}

/// The version in an id `https://host/{kind}/{name}/{version}`.
fn id_version(id: &Value) -> String {
    kid_version(id.as_str().expect("an id"))
}

/// The names of a certificate listing (the last part of each `id`).
fn cert_names(list: &Value) -> Vec<String> {
    let mut n: Vec<String> = names(list, "id")
        .iter()
        .map(String::as_str)
        .map(kid_version)
        .collect();
    n.sort();
    n
}

/// Standard base64, as `cer` is written.
fn b64(s: &Value) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s.as_str().expect("base64 text"))
        .expect("base64")
}

/// The DER of each CERTIFICATE block of PEM text.
fn pem_certs(pem: &str) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    pem.split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .map(|rest| {
            let body: String = rest
                .split("-----END CERTIFICATE-----")
                .next()
                .unwrap()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap()
        })
        .collect()
}

/// A thumbprint as `cert get` prints it: the SHA-1 `x5t`, upper-case hex.
fn thumbprint_hex(x5t: &Value) -> String {
    let bytes = localhsm::crypto::jwk::b64url_decode(x5t.as_str().unwrap()).unwrap();
    hex::encode_upper(bytes)
}

#[cfg(unix)]
fn owner_only(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o077 == 0
}

#[cfg(not(unix))]
fn owner_only(_: &Path) -> bool {
    true
}

#[test]
fn certificates_self_signed_ec_and_rsa_download_checked_by_openssl() {
    let cli = Cli::new();
    let ssl = OpenSsl::find();

    // EC, self-signed: the bundle carries the certificate, its key and secret ids.
    let web = cli.json(&[
        "cert",
        "create",
        "web",
        "--subject",
        "CN=www.example.com, O=Contoso",
        "--dns",
        "www.example.com,example.com",
        "--email",
        "admin@example.com",
        "--kty",
        "EC",
        "--curve",
        "P-384",
        "--tag",
        "env=dev",
    ]);
    let version = id_version(&web["id"]);
    assert_eq!(id_version(&web["kid"]), version);
    assert_eq!(id_version(&web["sid"]), version);
    assert!(web["kid"].as_str().unwrap().contains("/keys/web/"));
    assert_eq!(web["policy"]["key_props"]["crv"], "P-384");
    assert_eq!(web["policy"]["issuer"]["name"], "Self");
    assert_eq!(web["tags"]["env"], "dev");
    assert_eq!(web["contentType"], "application/x-pkcs12");
    let cer = b64(&web["cer"]);

    // The table: subject, names, thumbprint, validity, ids.
    let table = cli.ok(&["cert", "get", "web"]);
    for want in [
        "CN=www.example.com, O=Contoso",
        "www.example.com, example.com",
        "admin@example.com",
        &thumbprint_hex(&web["x5t"]),
        "EC P-384, exportable",
        web["kid"].as_str().unwrap(),
        web["sid"].as_str().unwrap(),
        "env=dev",
        "expires:",
    ] {
        assert!(table.contains(want), "{want:?} not in:\n{table}");
    }
    assert_eq!(
        cli.json(&["cert", "get", "web", "--version", &version])["x5t"],
        web["x5t"]
    );
    // Its key is a key of the keys API with the same version, on the policy's curve.
    let key = cli.json(&["key", "get", "web"]);
    assert_eq!(key["key"]["kid"], web["kid"]);
    assert_eq!(key["key"]["crv"], "P-384");
    assert_eq!(key["managed"], true);

    // RSA, with its size, usages, EKU and validity.
    let signer = cli.json(&[
        "cert",
        "create",
        "signer",
        "--kty",
        "RSA",
        "--size",
        "3072",
        "--subject",
        "CN=Signer",
        "--key-usage",
        "digitalSignature",
        "--eku",
        "codeSigning",
        "--validity-months",
        "6",
    ]);
    assert_eq!(signer["policy"]["key_props"]["key_size"], 3072);
    assert_eq!(
        signer["policy"]["x509_props"]["ekus"],
        serde_json::json!(["1.3.6.1.5.5.7.3.3"])
    );
    let months = (signer["attributes"]["exp"].as_u64().unwrap()
        - signer["attributes"]["nbf"].as_u64().unwrap())
        / 86_400;
    assert!((181..=184).contains(&months), "{months} days");
    assert_eq!(cert_names(&cli.json(&["cert", "list"])), ["signer", "web"]);
    assert_eq!(
        names(&cli.json(&["cert", "versions", "web"]), "x5t").len(),
        1
    );

    // Downloads: PEM and DER are the certificate; PFX and PEM-with-key hold the key too.
    let (pem, der, pfx, keyed) = (
        arg(&cli, "web.pem"),
        arg(&cli, "web.der"),
        arg(&cli, "web.pfx"),
        arg(&cli, "web-key.pem"),
    );
    assert!(cli
        .ok(&["cert", "download", "web", "--out", &pem])
        .contains("Wrote certificate web as PEM"));
    cli.ok(&["cert", "download", "web", "--format", "der", "--out", &der]);
    cli.ok(&["cert", "download", "web", "--format", "pfx", "--out", &pfx]);
    cli.ok(&[
        "cert",
        "download",
        "web",
        "--format",
        "pem-with-key",
        "--out",
        &keyed,
    ]);
    assert_eq!(std::fs::read(&der).unwrap(), cer);
    assert_eq!(
        pem_certs(&std::fs::read_to_string(&pem).unwrap()),
        std::slice::from_ref(&cer)
    );
    assert_eq!(
        pem_certs(&cli.ok(&["cert", "download", "web"])),
        std::slice::from_ref(&cer)
    );
    assert!(owner_only(Path::new(&pfx)) && owner_only(Path::new(&keyed)));
    let (pfx_key, pfx_chain) =
        localhsm::crypto::x509::CertificateKey::from_pfx(&std::fs::read(&pfx).unwrap(), None)
            .expect("the PFX opens without a password");
    assert_eq!(pfx_chain, std::slice::from_ref(&cer));
    assert!(pfx_key.matches(&cer).unwrap());
    let keyed_text = std::fs::read_to_string(&keyed).unwrap();
    assert!(keyed_text.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(pem_certs(&keyed_text), std::slice::from_ref(&cer));

    // A non-exportable key's PFX is refused, clearly; the certificate alone still comes.
    cli.ok(&[
        "cert",
        "create",
        "locked",
        "--subject",
        "CN=locked",
        "--not-exportable",
    ]);
    let locked_pfx = arg(&cli, "locked.pfx");
    for format in ["pfx", "pem-with-key"] {
        let err = cli.fails_with_hint(
            &[
                "cert",
                "download",
                "locked",
                "--format",
                format,
                "--out",
                &locked_pfx,
            ],
            "localhsm cert download locked --format pem",
        );
        assert!(
            err.contains("non-exportable key") && err.contains("never leaves the vault"),
            "{err}"
        );
        assert!(err.contains("--alg RS256"), "{err}");
    }
    assert!(!Path::new(&locked_pfx).exists());
    cli.ok(&[
        "cert",
        "download",
        "locked",
        "--out",
        &arg(&cli, "locked.pem"),
    ]);
    let err = cli.fails_with_hint(&["secret", "get", "locked"], "cert download locked");
    assert!(err.contains("not exportable"), "{err}");

    // A certificate's key and secret change only through the certificate.
    cli.fails_with_hint(&["key", "delete", "web"], "localhsm cert delete web");
    cli.fails_with_hint(&["secret", "delete", "web"], "localhsm cert delete web");
    cli.fails_with_hint(&["secret", "set", "web", "x"], "localhsm cert create web");
    // A new certificate needs a subject; a new version keeps the policy.
    cli.fails_with_hint(&["cert", "create", "bare"], "--subject \"CN=bare\"");
    let v2 = cli.json(&["cert", "create", "web"]);
    assert_ne!(id_version(&v2["id"]), version);
    assert_eq!(v2["policy"]["key_props"]["crv"], "P-384");
    assert_eq!(
        names(&cli.json(&["cert", "versions", "web"]), "id").len(),
        2
    );
    cli.fails_with_hint(&["cert", "get", "nope"], "localhsm cert list");

    let Some(ssl) = ssl else { return };
    // OpenSSL reads the same certificate from the PEM and the DER.
    let subject = ssl.ok(&["x509", "-in", &pem, "-noout", "-subject"]);
    assert!(
        subject.contains("CN = www.example.com") && subject.contains("O = Contoso"),
        "{subject}"
    );
    let sans = ssl.ok(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        &der,
        "-noout",
        "-ext",
        "subjectAltName",
    ]);
    for want in [
        "DNS:www.example.com",
        "DNS:example.com",
        "email:admin@example.com",
    ] {
        assert!(sans.contains(want), "{want} not in {sans}");
    }
    let fingerprint = ssl.ok(&["x509", "-in", &pem, "-noout", "-fingerprint", "-sha1"]);
    assert_eq!(
        fingerprint
            .trim()
            .rsplit('=')
            .next()
            .unwrap()
            .replace(':', ""),
        thumbprint_hex(&web["x5t"])
    );
    // The self-signature verifies.
    assert!(ssl
        .ok(&["verify", "-check_ss_sig", "-CAfile", &pem, &pem])
        .contains("OK"));
    // The PFX opens with the empty password; its key is the certificate's.
    let opened = arg(&cli, "opened.pem");
    ssl.ok(&[
        "pkcs12", "-in", &pfx, "-nodes", "-passin", "pass:", "-out", &opened,
    ]);
    let opened_text = std::fs::read_to_string(&opened).unwrap();
    assert!(opened_text.contains("BEGIN PRIVATE KEY") && opened_text.contains("www.example.com"));
    assert_eq!(ssl.key_pubkey(&opened), ssl.cert_pubkey(&pem));
    assert_eq!(ssl.key_pubkey(&keyed), ssl.cert_pubkey(&pem));

    // The RSA certificate: size, usages, EKU; self-signature.
    let signer_pem = arg(&cli, "signer.pem");
    cli.ok(&["cert", "download", "signer", "--out", &signer_pem]);
    let text = ssl.ok(&["x509", "-in", &signer_pem, "-noout", "-text"]);
    for want in [
        "Public-Key: (3072 bit)",
        "Code Signing",
        "Digital Signature",
    ] {
        assert!(text.contains(want), "{want} not in {text}");
    }
    assert!(!text.contains("Key Encipherment"), "{text}");
    ssl.ok(&[
        "verify",
        "-check_ss_sig",
        "-CAfile",
        &signer_pem,
        &signer_pem,
    ]);
}

#[test]
fn certificates_unknown_issuer_csr_signed_by_openssl_then_merged() {
    let cli = Cli::new();
    // The CSR alone on stdout, what to do next on stderr.
    let out = cli.run(&[
        "cert",
        "create",
        "api",
        "--subject",
        "CN=api.internal",
        "--dns",
        "api.internal",
        "--issuer",
        "Unknown",
        "--kty",
        "EC",
    ]);
    assert!(out.status.success(), "{out:?}");
    let csr = String::from_utf8(out.stdout).unwrap();
    assert!(
        csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----\n")
            && csr.ends_with("-----END CERTIFICATE REQUEST-----\n"),
        "{csr}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("localhsm cert merge api --chain"));

    // Pending: listed only with --include-pending; nothing to download yet.
    assert!(cert_names(&cli.json(&["cert", "list"])).is_empty());
    assert_eq!(
        cert_names(&cli.json(&["cert", "list", "--include-pending"])),
        ["api"]
    );
    let pending = cli.json(&["cert", "pending", "api"]);
    assert_eq!(pending["status"], "inProgress");
    assert_eq!(pending["issuer"]["name"], "Unknown");
    assert!(cli.ok(&["cert", "get", "api"]).contains("pending"));
    cli.fails_with_hint(
        &["cert", "download", "api", "--out", &arg(&cli, "x.pem")],
        "localhsm cert merge api",
    );
    let csr_file = arg(&cli, "api.csr");
    cli.ok(&["cert", "pending", "api", "--csr-out", &csr_file]);
    assert_eq!(std::fs::read_to_string(&csr_file).unwrap(), csr);

    // A chain whose leaf holds another key is refused.
    cli.ok(&["cert", "create", "other", "--subject", "CN=other"]);
    let other = arg(&cli, "other.pem");
    cli.ok(&["cert", "download", "other", "--out", &other]);
    let err = cli.fails_with_hint(
        &["cert", "merge", "api", "--chain", &other],
        "localhsm cert merge --help",
    );
    assert!(err.contains("does not match"), "{err}");
    cli.fails_with_hint(
        &["cert", "merge", "api", "--chain", &csr_file],
        "the certificate your CA signed",
    );
    // A second pending one, written with --csr-out, for a DER merge.
    assert!(cli
        .ok(&[
            "cert",
            "create",
            "api2",
            "--subject",
            "CN=api2.internal",
            "--issuer",
            "unknown",
            "--csr-out",
            &arg(&cli, "api2.csr"),
        ])
        .contains("Wrote the CSR"));

    let Some(ssl) = OpenSsl::find() else { return };
    let verified = ssl.ok(&["req", "-in", &csr_file, "-noout", "-verify", "-subject"]);
    assert!(
        verified.contains("verify OK") && verified.contains("CN = api.internal"),
        "{verified}"
    );
    let (ca_key, ca) = (arg(&cli, "ca.key"), arg(&cli, "ca.pem"));
    ssl.ok(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &ca_key,
        "-out",
        &ca,
        "-subj",
        "/CN=Test CA",
        "-days",
        "30",
    ]);
    let signed = arg(&cli, "api.pem");
    ssl.ok(&[
        "x509",
        "-req",
        "-in",
        &csr_file,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-set_serial",
        "7",
        "-days",
        "30",
        "-copy_extensions",
        "copy",
        "-out",
        &signed,
    ]);
    let chain = arg(&cli, "chain.pem");
    let chain_text =
        std::fs::read_to_string(&signed).unwrap() + &std::fs::read_to_string(&ca).unwrap();
    std::fs::write(&chain, chain_text).unwrap();
    let merged = cli.json(&[
        "cert", "merge", "api", "--chain", &chain, "--tag", "ca=test",
    ]);
    assert_eq!(merged["tags"]["ca"], "test");
    assert!(cli
        .ok(&["cert", "get", "api"])
        .contains("issuer:       CN=Test CA"));
    assert_eq!(cli.json(&["cert", "pending", "api"])["status"], "completed");
    let downloaded = arg(&cli, "api-dl.pem");
    cli.ok(&["cert", "download", "api", "--out", &downloaded]);
    assert!(ssl
        .ok(&["verify", "-CAfile", &ca, &downloaded])
        .contains("OK"));
    // Its PFX holds the CA's certificate after the leaf, and the CSR's key.
    let pfx = arg(&cli, "api.pfx");
    cli.ok(&["cert", "download", "api", "--format", "pfx", "--out", &pfx]);
    let opened = arg(&cli, "api-opened.pem");
    ssl.ok(&[
        "pkcs12", "-in", &pfx, "-nodes", "-passin", "pass:", "-out", &opened,
    ]);
    let certs = pem_certs(&std::fs::read_to_string(&opened).unwrap());
    assert_eq!(certs.len(), 2);
    assert_eq!(ssl.key_pubkey(&opened), ssl.cert_pubkey(&downloaded));

    // A DER merge of the leaf alone.
    let der = arg(&cli, "api2.der");
    ssl.ok(&[
        "x509",
        "-req",
        "-in",
        &arg(&cli, "api2.csr"),
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-set_serial",
        "8",
        "-days",
        "30",
        "-outform",
        "DER",
        "-out",
        &der,
    ]);
    let merged = cli.json(&["cert", "merge", "api2", "--chain", &der]);
    assert_eq!(b64(&merged["cer"]), std::fs::read(&der).unwrap());
}

#[test]
fn certificates_import_pfx_and_pem_with_passwords() {
    use localhsm::crypto::x509::{CertSpec, CertificateKey};
    use localhsm::crypto::{CurveName, KeySpec};

    let cli = Cli::new();
    // A PFX with a password, made outside any vault.
    let key = CertificateKey::generate(KeySpec::Ec(CurveName::P256)).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let spec = CertSpec {
        subject: "CN=made.example".into(),
        dns_names: vec!["made.example".into()],
        not_before: now - 60,
        ..CertSpec::default()
    };
    let der = key.self_signed(&spec).unwrap();
    let pfx = key
        .to_pfx(std::slice::from_ref(&der), Some("pässword"))
        .unwrap();
    let pfx_path = arg(&cli, "made.pfx");
    std::fs::write(&pfx_path, pfx.expose()).unwrap();
    let pw = arg(&cli, "pw.txt");
    std::fs::write(&pw, "pässword\n").unwrap();

    // No password, a wrong one: refused with a hint; the right one from a file, stdin or
    // (explicitly) the command line.
    cli.fails_with_hint(
        &["cert", "import", "made", "--file", &pfx_path],
        "--password-file",
    );
    let wrong = arg(&cli, "wrong.txt");
    std::fs::write(&wrong, "nope").unwrap();
    cli.fails_with_hint(
        &[
            "cert",
            "import",
            "made",
            "--file",
            &pfx_path,
            "--password-file",
            &wrong,
        ],
        "--password-file",
    );
    let made = cli.json(&[
        "cert",
        "import",
        "made",
        "--file",
        &pfx_path,
        "--password-file",
        &pw,
        "--tag",
        "src=pfx",
    ]);
    assert_eq!(b64(&made["cer"]), der);
    assert_eq!(made["policy"]["issuer"]["name"], "Unknown");
    assert_eq!(made["tags"]["src"], "pfx");
    let out = cli.run_with_stdin(
        &[
            "cert",
            "import",
            "made2",
            "--file",
            &pfx_path,
            "--password",
            "-",
            "--output",
            "json",
        ],
        "pässword\r\n".as_bytes(),
    );
    assert!(out.status.success(), "{out:?}");
    let made2: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(b64(&made2["cer"]), der);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("pässword"));
    cli.ok(&[
        "cert",
        "import",
        "made3",
        "--file",
        &pfx_path,
        "--password",
        "pässword",
    ]);
    cli.fails(
        2,
        &[
            "cert",
            "import",
            "x",
            "--file",
            &pfx_path,
            "--password",
            "a",
            "--password-file",
            &pw,
        ],
    );
    // The key in the vault is the imported one: its PFX download holds the same key.
    let back = arg(&cli, "back.pfx");
    cli.ok(&[
        "cert", "download", "made", "--format", "pfx", "--out", &back,
    ]);
    let (back_key, chain) = CertificateKey::from_pfx(&std::fs::read(&back).unwrap(), None).unwrap();
    assert_eq!(chain, std::slice::from_ref(&der));
    assert!(back_key.matches(&der).unwrap());

    // PEM: key then certificate, detected from the content; kept as PEM.
    let pem = key.to_pem(std::slice::from_ref(&der)).unwrap();
    let pem_path = arg(&cli, "made.pem");
    std::fs::write(&pem_path, pem.expose()).unwrap();
    let from_pem = cli.json(&[
        "cert",
        "import",
        "pem",
        "--file",
        &pem_path,
        "--not-exportable",
    ]);
    assert_eq!(from_pem["contentType"], "application/x-pem-file");
    assert_eq!(from_pem["policy"]["key_props"]["exportable"], false);
    cli.fails_with_hint(
        &[
            "cert",
            "download",
            "pem",
            "--format",
            "pem-with-key",
            "--out",
            &arg(&cli, "k.pem"),
        ],
        "--format pem",
    );
    let err = cli.fails(
        1,
        &[
            "cert",
            "import",
            "pem2",
            "--file",
            &pem_path,
            "--password-file",
            &pw,
        ],
    );
    assert!(err.contains("a password applies to PFX files"), "{err}");
    // Garbage is named as such.
    let junk = arg(&cli, "junk.bin");
    std::fs::write(&junk, b"\x01\x02not a certificate").unwrap();
    cli.fails_with_hint(&["cert", "import", "junk", "--file", &junk], "PFX");

    let Some(ssl) = OpenSsl::find() else { return };
    // An RSA PFX made by OpenSSL 3 (PBES2, AES-256-CBC, SHA-256 MAC), with a password file.
    let (k, c) = (arg(&cli, "ossl.key"), arg(&cli, "ossl.crt"));
    ssl.ok(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &k,
        "-out",
        &c,
        "-subj",
        "/O=OpenSSL/CN=openssl.example",
        "-days",
        "10",
        "-addext",
        "subjectAltName=DNS:openssl.example",
    ]);
    let ossl_pfx = arg(&cli, "ossl.pfx");
    ssl.ok(&[
        "pkcs12",
        "-export",
        "-inkey",
        &k,
        "-in",
        &c,
        "-out",
        &ossl_pfx,
        "-passout",
        "pass:hunter2",
    ]);
    let ossl_pw = arg(&cli, "ossl.pw");
    std::fs::write(&ossl_pw, "hunter2\n").unwrap();
    let imported = cli.json(&[
        "cert",
        "import",
        "ossl",
        "--file",
        &ossl_pfx,
        "--password-file",
        &ossl_pw,
    ]);
    assert_eq!(
        imported["policy"]["x509_props"]["subject"],
        "CN=openssl.example, O=OpenSSL"
    );
    assert_eq!(imported["policy"]["key_props"]["kty"], "RSA");
    let crt_der = ssl.output(&["x509", "-in", &c, "-outform", "DER"]).stdout;
    assert_eq!(b64(&imported["cer"]), crt_der);
    let table = cli.ok(&["cert", "get", "ossl"]);
    assert!(table.contains("openssl.example"), "{table}");
    // Downloaded again as a PFX, OpenSSL opens it and finds its own key.
    let again = arg(&cli, "ossl-again.pfx");
    cli.ok(&[
        "cert", "download", "ossl", "--format", "pfx", "--out", &again,
    ]);
    let opened = arg(&cli, "ossl-opened.pem");
    ssl.ok(&[
        "pkcs12", "-in", &again, "-nodes", "-passin", "pass:", "-out", &opened,
    ]);
    assert_eq!(ssl.key_pubkey(&opened), ssl.key_pubkey(&k));
    // OpenSSL's PEM (its key, then the certificate) imports too.
    let both = arg(&cli, "ossl-both.pem");
    std::fs::write(
        &both,
        std::fs::read_to_string(&k).unwrap() + &std::fs::read_to_string(&c).unwrap(),
    )
    .unwrap();
    let from_pem = cli.json(&["cert", "import", "ossl-pem", "--file", &both]);
    assert_eq!(b64(&from_pem["cer"]), crt_der);
    let keyed = arg(&cli, "ossl-keyed.pem");
    cli.ok(&[
        "cert",
        "download",
        "ossl-pem",
        "--format",
        "pem-with-key",
        "--out",
        &keyed,
    ]);
    assert_eq!(ssl.key_pubkey(&keyed), ssl.key_pubkey(&k));
}

#[test]
fn certificate_contacts_and_issuers() {
    let cli = Cli::new();
    cli.fails_with_hint(&["cert", "contacts", "get"], "localhsm cert contacts set");
    let set = cli.json(&[
        "cert",
        "contacts",
        "set",
        "--contact",
        "admin@contoso.com",
        "--contact",
        "email=ops@contoso.com,name=Ops Team,phone=5551234",
    ]);
    assert_eq!(
        set["contacts"],
        serde_json::json!([
            {"email": "admin@contoso.com"},
            {"email": "ops@contoso.com", "name": "Ops Team", "phone": "5551234"}
        ])
    );
    let table = cli.ok(&["cert", "contacts", "get"]);
    assert!(
        table.starts_with("EMAIL") && table.contains("Ops Team"),
        "{table}"
    );
    let file = arg(&cli, "contacts.json");
    std::fs::write(
        &file,
        r#"{"contacts": [{"email": "new@contoso.com", "name": "Doe, Jane"}]}"#,
    )
    .unwrap();
    let replaced = cli.json(&["cert", "contacts", "set", "--file", &file]);
    assert_eq!(replaced["contacts"][0]["name"], "Doe, Jane");
    assert_eq!(replaced["contacts"].as_array().unwrap().len(), 1);
    assert!(cli
        .ok(&["cert", "contacts", "delete"])
        .contains("new@contoso.com"));
    cli.fails_with_hint(&["cert", "contacts", "get"], "cert contacts set");
    cli.fails(2, &["cert", "contacts", "set"]);

    // Issuers: create, read (never a password), update, list, use, delete.
    cli.fails_with_hint(
        &["cert", "issuer", "get", "testca"],
        "localhsm cert issuer list",
    );
    let created = cli.json(&[
        "cert",
        "issuer",
        "create",
        "testca",
        "--provider",
        "Test",
        "--account-id",
        "acct-1",
        "--org-id",
        "org-1",
        "--admin",
        "first=Jane,last=Doe,email=jane@contoso.com,phone=555",
    ]);
    assert_eq!(created["provider"], "Test");
    assert_eq!(
        created["credentials"],
        serde_json::json!({"account_id": "acct-1"})
    );
    assert_eq!(created["org_details"]["id"], "org-1");
    assert_eq!(
        created["org_details"]["admin_details"][0]["email"],
        "jane@contoso.com"
    );
    let shown = cli.ok(&["cert", "issuer", "get", "testca"]);
    assert!(
        shown.contains("Jane Doe <jane@contoso.com> 555") && shown.contains("acct-1"),
        "{shown}"
    );
    let updated = cli.json(&[
        "cert",
        "issuer",
        "update",
        "testca",
        "--provider",
        "DigiCert",
    ]);
    assert_eq!(updated["provider"], "DigiCert");
    assert_eq!(updated["org_details"]["id"], "org-1");
    cli.ok(&[
        "cert",
        "issuer",
        "create",
        "second",
        "--provider",
        "Test",
        "--disabled",
    ]);
    let list = cli.ok(&["cert", "issuer", "list"]);
    assert!(
        list.contains("testca  DigiCert") && list.contains("second"),
        "{list}"
    );

    // A certificate from the issuer's local CA: its chain names the CA, which signed it.
    let issued = cli.json(&[
        "cert",
        "create",
        "byca",
        "--subject",
        "CN=byca.example",
        "--issuer",
        "testca",
    ]);
    assert_eq!(issued["policy"]["issuer"]["name"], "testca");
    let keyed = arg(&cli, "byca.pem");
    cli.ok(&[
        "cert",
        "download",
        "byca",
        "--format",
        "pem-with-key",
        "--out",
        &keyed,
    ]);
    let chain = pem_certs(&std::fs::read_to_string(&keyed).unwrap());
    assert_eq!(chain.len(), 2, "leaf and CA");
    assert_eq!(chain[0], b64(&issued["cer"]));
    cli.fails_with_hint(
        &[
            "cert",
            "create",
            "nope",
            "--subject",
            "CN=x",
            "--issuer",
            "missing",
        ],
        "localhsm cert issuer list",
    );
    let disabled = cli.json(&["cert", "issuer", "update", "testca", "--enabled", "false"]);
    assert_eq!(disabled["attributes"]["enabled"], false);
    cli.ok(&["cert", "issuer", "delete", "testca"]);
    cli.fails_with_hint(&["cert", "issuer", "get", "testca"], "cert issuer list");
    // Certificates it signed stay.
    cli.ok(&["cert", "get", "byca"]);

    let Some(ssl) = OpenSsl::find() else { return };
    let (leaf, ca) = (arg(&cli, "leaf.pem"), arg(&cli, "ca.pem"));
    let pem_of = |der: &[u8]| {
        use base64::Engine as _;
        let b = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    };
    std::fs::write(&leaf, pem_of(&chain[0])).unwrap();
    std::fs::write(&ca, pem_of(&chain[1])).unwrap();
    assert!(ssl.ok(&["verify", "-CAfile", &ca, &leaf]).contains("OK"));
    assert_eq!(ssl.key_pubkey(&keyed), ssl.cert_pubkey(&leaf));
}

#[test]
fn certificates_delete_recover_purge_backup_restore() {
    let cli = Cli::new();
    cli.ok(&[
        "cert",
        "create",
        "web",
        "--subject",
        "CN=web",
        "--kty",
        "EC",
    ]);
    cli.ok(&[
        "cert",
        "create",
        "web",
        "--subject",
        "CN=web",
        "--kty",
        "EC",
        "--tag",
        "v=2",
    ]);
    let backup = arg(&cli, "web.backup");
    assert!(cli
        .ok(&["cert", "backup", "web", "--file", &backup])
        .contains("Wrote the backup of certificate web"));

    // Delete: the certificate, its key and its secret go together; only the certificate
    // shows in the deleted lists.
    let deleted = cli.json(&["cert", "delete", "web"]);
    assert!(deleted["recoveryId"]
        .as_str()
        .unwrap()
        .ends_with("/deletedcertificates/web"));
    assert!(deleted["scheduledPurgeDate"].as_u64() > deleted["deletedDate"].as_u64());
    cli.fails_with_hint(
        &["cert", "get", "web"],
        "localhsm deleted list --kind certificate",
    );
    cli.fails_with_hint(&["key", "get", "web"], "localhsm key list");
    cli.fails_with_hint(&["secret", "get", "web"], "localhsm secret list");
    assert_eq!(
        cert_names(&cli.json(&["deleted", "list", "--kind", "certificate"])),
        ["web"]
    );
    assert!(cli.ok(&["deleted", "list"]).contains("(no deleted keys)"));
    let table = cli.ok(&["deleted", "list", "--kind", "certificates"]);
    assert!(
        table.starts_with("NAME") && table.contains("v=2"),
        "{table}"
    );
    assert!(cli
        .ok(&["deleted", "show", "web", "--kind", "certificate"])
        .contains("scheduled purge:"));
    cli.fails_with_hint(
        &["cert", "create", "web", "--subject", "CN=web"],
        "localhsm cert recover web",
    );

    // Recover brings back all versions, the key and the secret.
    cli.ok(&["deleted", "recover", "web", "--kind", "certificate"]);
    assert_eq!(
        names(&cli.json(&["cert", "versions", "web"]), "id").len(),
        2
    );
    cli.ok(&["key", "get", "web"]);
    cli.ok(&[
        "cert",
        "download",
        "web",
        "--format",
        "pfx",
        "--out",
        &arg(&cli, "w.pfx"),
    ]);

    // Purge, then restore from the backup.
    cli.ok(&["cert", "delete", "web"]);
    assert!(cli
        .ok(&["cert", "purge", "web"])
        .contains("Purged certificate web"));
    cli.fails_with_hint(
        &["deleted", "show", "web", "--kind", "certificate"],
        "localhsm deleted list --kind certificate",
    );
    let restored = cli.json(&["cert", "restore", "--file", &backup]);
    assert_eq!(restored["tags"]["v"], "2");
    assert_eq!(
        names(&cli.json(&["cert", "versions", "web"]), "id").len(),
        2
    );
    cli.ok(&["key", "get", "web"]);
    cli.fails_with_hint(
        &["cert", "restore", "--file", &backup],
        "delete and purge the existing certificate",
    );

    // Disable, enable; the policy changes for the versions to come.
    cli.ok(&["cert", "update", "web", "--enabled", "false"]);
    cli.fails_with_hint(
        &[
            "cert",
            "download",
            "web",
            "--format",
            "pfx",
            "--out",
            &arg(&cli, "d.pfx"),
        ],
        "localhsm cert update web --enabled true",
    );
    cli.ok(&["cert", "update", "web", "--enabled", "true"]);
    let policy = cli.json(&["cert", "policy", "set", "web", "--validity-months", "24"]);
    assert_eq!(policy["x509_props"]["validity_months"], 24);
    assert_eq!(policy["x509_props"]["subject"], "CN=web");
    let pol_file = arg(&cli, "policy.json");
    std::fs::write(
        &pol_file,
        cli.ok(&["cert", "policy", "get", "web", "--output", "json"]),
    )
    .unwrap();
    let renewed = cli.json(&[
        "cert",
        "create",
        "web2",
        "--policy",
        &pol_file,
        "--subject",
        "CN=web2",
    ]);
    assert_eq!(renewed["policy"]["x509_props"]["validity_months"], 24);
    assert_eq!(renewed["policy"]["x509_props"]["subject"], "CN=web2");
    let shown = cli.ok(&["cert", "policy", "get", "web"]);
    assert!(
        shown.contains("validity months:  24") && shown.contains("AutoRenew"),
        "{shown}"
    );
    cli.fails_with_hint(
        &["cert", "policy", "set", "web", "--validity-months", "0"],
        "localhsm cert policy set --help",
    );
    cli.fails_with_hint(&["cert", "pending", "nope"], "localhsm cert list");

    // Purge protection holds for certificates too.
    cli.ok(&["vault", "create", "pp", "--purge-protection"]);
    cli.ok(&["--vault", "pp", "cert", "create", "c", "--subject", "CN=c"]);
    cli.ok(&["--vault", "pp", "cert", "delete", "c"]);
    cli.fails_with_hint(
        &["--vault", "pp", "cert", "purge", "c"],
        "localhsm deleted show c --kind certificate --vault pp",
    );
    // A Managed HSM other than the default vault holds no certificates.
    cli.ok(&["vault", "create", "hsm", "--kind", "managedhsm"]);
    cli.fails_with_hint(
        &["--vault", "hsm", "cert", "list"],
        "localhsm vault show hsm",
    );
}

#[test]
fn certificates_go_through_a_running_server() {
    let cli = Cli::new();
    let server = Server::start(cli.data(), &[], Stdio::inherit()).expect("localhsm serve");
    let origin = format!("https://localhost:{}", server.addr.port());
    let http = server.client();
    let token = "Bearer dev";

    // Created by the CLI: the ids carry the server's port; HTTP reads the same certificate.
    let created = cli.json(&[
        "cert",
        "create",
        "via-cli",
        "--subject",
        "CN=via-cli",
        "--kty",
        "EC",
    ]);
    assert!(
        created["id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{origin}/certificates/via-cli/")),
        "{created}"
    );
    let got: Value = http
        .get(format!("{origin}/certificates/via-cli?api-version=7.5"))
        .header("Authorization", token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(got["x5t"], created["x5t"]);

    // Created over HTTP; the CLI sees, downloads and deletes it.
    let resp = http
        .post(format!(
            "{origin}/certificates/via-http/create?api-version=7.5"
        ))
        .header("Authorization", token)
        .json(&serde_json::json!({"policy": {
            "x509_props": {"subject": "CN=via-http"},
            "key_props": {"kty": "RSA", "key_size": 2048, "exportable": false}
        }}))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    assert_eq!(
        cert_names(&cli.json(&["cert", "list"])),
        ["via-cli", "via-http"]
    );
    let pfx = arg(&cli, "via-cli.pfx");
    cli.ok(&[
        "cert", "download", "via-cli", "--format", "pfx", "--out", &pfx,
    ]);
    let (key, chain) =
        localhsm::crypto::x509::CertificateKey::from_pfx(&std::fs::read(&pfx).unwrap(), None)
            .unwrap();
    assert_eq!(chain[0], b64(&created["cer"]));
    assert!(key.matches(&chain[0]).unwrap());
    cli.fails_with_hint(
        &[
            "cert",
            "download",
            "via-http",
            "--format",
            "pfx",
            "--out",
            &arg(&cli, "h.pfx"),
        ],
        "localhsm cert download via-http --format pem",
    );
    let pem = arg(&cli, "via-http.pem");
    cli.ok(&["cert", "download", "via-http", "--out", &pem]);

    // A pending one, its CSR, and contacts and issuers through the server.
    let csr = cli.ok(&[
        "cert",
        "create",
        "pending",
        "--subject",
        "CN=p",
        "--issuer",
        "Unknown",
    ]);
    assert!(csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
    assert_eq!(
        cert_names(&cli.json(&["cert", "list", "--include-pending", "--max", "5"])),
        ["pending", "via-cli", "via-http"]
    );
    cli.ok(&["cert", "contacts", "set", "--contact", "ops@contoso.com"]);
    let contacts: Value = http
        .get(format!("{origin}/certificates/contacts?api-version=7.5"))
        .header("Authorization", token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(contacts["contacts"][0]["email"], "ops@contoso.com");
    cli.ok(&["cert", "issuer", "create", "ca", "--provider", "Test"]);
    let byca = cli.json(&[
        "cert",
        "create",
        "byca",
        "--subject",
        "CN=byca",
        "--issuer",
        "ca",
    ]);
    assert_eq!(byca["policy"]["issuer"]["name"], "ca");

    // Delete and recover through the server; errors come with hints.
    cli.ok(&["cert", "delete", "via-http"]);
    assert_eq!(
        cert_names(&cli.json(&["deleted", "list", "--kind", "certificate"])),
        ["via-http"]
    );
    cli.fails_with_hint(
        &["key", "delete", "via-cli"],
        "localhsm cert delete via-cli",
    );
    cli.ok(&["cert", "recover", "via-http"]);
    cli.fails_with_hint(&["cert", "get", "missing"], "localhsm cert list");

    if let Some(ssl) = OpenSsl::find() {
        let opened = arg(&cli, "opened.pem");
        ssl.ok(&[
            "pkcs12", "-in", &pfx, "-nodes", "-passin", "pass:", "-out", &opened,
        ]);
        assert!(ssl
            .ok(&["x509", "-in", &pem, "-noout", "-subject"])
            .contains("CN = via-http"));
        let cli_pem = arg(&cli, "via-cli.pem");
        cli.ok(&["cert", "download", "via-cli", "--out", &cli_pem]);
        assert_eq!(ssl.key_pubkey(&opened), ssl.cert_pubkey(&cli_pem));
    }
}

#[test]
fn settings_full_backup_restore_and_custom_roles() {
    let cli = Cli::new();
    let arm = "AllowKeyManagementOperationsThroughARM";
    let listed = cli.ok(&["setting", "list"]);
    assert!(listed.contains(arm) && listed.contains("false"), "{listed}");
    let set = cli.json(&["setting", "set", arm, "true"]);
    assert_eq!(
        (set["name"].as_str(), set["value"].as_str()),
        (Some(arm), Some("true"))
    );
    assert_eq!(cli.json(&["setting", "get", arm])["value"], "true");
    cli.fails(1, &["setting", "set", arm, "maybe"]);

    cli.ok(&[
        "key", "create", "signer", "--kty", "EC-HSM", "--curve", "P-256",
    ]);
    let container = "https://myacct.blob.core.windows.net/backups";
    let made = cli.json(&["backup", "create", "--container", container]);
    let folder_url = made["azureStorageBlobContainerUri"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        folder_url.starts_with(&format!("{container}/mhsm-default-")),
        "{folder_url}"
    );
    let folder = folder_url.rsplit('/').next().unwrap();
    assert!(cli
        .path("backups/myacct/backups")
        .join(folder)
        .join("keys/signer.bkp")
        .is_file());
    cli.ok(&["key", "delete", "signer"]);
    cli.ok(&["deleted", "purge", "signer"]);
    let restored = cli.ok(&["backup", "restore", &folder_url, "--key", "signer"]);
    assert!(restored.contains("1 keys restored"), "{restored}");
    cli.ok(&["key", "get", "signer"]);
    cli.fails_with_hint(
        &["backup", "restore", &format!("{container}/mhsm-none-1")],
        "nothing was changed",
    );

    let defined = cli.json(&[
        "role",
        "define",
        "--name",
        "Signer only",
        "--data-actions",
        "Microsoft.KeyVault/managedHsm/keys/sign/action",
        "--assignable-scope",
        "/keys",
    ]);
    let guid = defined["value"][0]["name"].as_str().unwrap().to_string();
    assert_eq!(defined["value"][0]["properties"]["type"], "CustomRole");
    let assigned = cli.json(&[
        "role",
        "assign",
        "--role",
        "signer only",
        "--principal",
        "11111111-2222-3333-4444-555555555555",
        "--scope",
        "/keys/signer",
    ]);
    let assignment = assigned["value"][0]["name"].as_str().unwrap().to_string();
    assert!(assigned["value"][0]["properties"]["roleDefinitionId"]
        .as_str()
        .unwrap()
        .ends_with(&guid));
    assert_eq!(
        cli.json(&["role", "show-definition", &guid])["value"][0]["properties"]["roleName"],
        "Signer only"
    );
    // Still assigned: refused; unassigned: deleted.
    cli.fails(1, &["role", "delete-definition", "Signer only"]);
    cli.ok(&["role", "remove", &assignment]);
    cli.ok(&["role", "delete-definition", "Signer only"]);
    cli.fails_with_hint(
        &["role", "show-definition", &guid],
        "localhsm role definitions",
    );
    for args in [
        vec!["setting", "--help"],
        vec!["backup", "create", "--help"],
        vec!["role", "define", "--help"],
    ] {
        assert!(cli.ok(&args).contains("Example:"), "{args:?}");
    }
}
