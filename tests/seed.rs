//! Seeding (`localhsm::seed`): a declarative file brings a store to a known state.
//!
//! Guards against: a second apply that changes something (it must be a no-op), a file with
//! an error that changes anything at all or does not name its line, an existing object that
//! differs being overwritten, and YAML and JSON meaning different things.

mod support;

use std::path::Path;

use localhsm::seed::{self, Files, Format, SeedReport};
use localhsm::Store;
use support::store::{certificates_snapshot, secrets_snapshot};
use support::{repo_path, snapshot, snapshot_diff, TempStore};

/// Everything the store shows: vaults, keys, secrets (by digest), certificates, and every
/// vault's role assignments.
fn everything(store: &Store) -> String {
    let mut out = snapshot(store) + &secrets_snapshot(store) + &certificates_snapshot(store);
    for info in store.list_vaults().unwrap() {
        let vault = store.vault(&info.name).unwrap();
        let mut roles = vault.list_role_assignments(None).unwrap();
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        out += &format!("roles {}: {roles:?}\n", info.name);
    }
    out
}

/// Reads `text` (as if it were a file in `dir`) and applies it.
fn apply_text(store: &Store, text: &str, format: Format, dir: &Path) -> Result<SeedReport, String> {
    let parsed = seed::parse(text, format, Files::Dir(dir.to_path_buf())).map_err(|e| {
        format!(
            "{}:{}: {}",
            e.line.unwrap_or(0),
            e.column.unwrap_or(0),
            e.message
        )
    })?;
    seed::apply(store, &parsed.seed).map_err(|e| e.to_string())
}

fn example() -> (String, std::path::PathBuf) {
    let path = repo_path("examples/seed.yaml");
    (
        std::fs::read_to_string(&path).unwrap(),
        repo_path("examples"),
    )
}

#[test]
fn the_example_applies_once_and_then_changes_nothing() {
    let t = TempStore::new();
    localhsm::server::ensure_default_vault(&t.store).unwrap();
    let (text, dir) = example();
    let first = apply_text(&t.store, &text, Format::Yaml, &dir).unwrap();
    assert_eq!(
        first.created,
        [
            "key default/signer",
            "key default/data-key",
            "key default/imported-aes",
            "key default/imported-ec",
            "role assignment default: Crypto User for 11111111-2222-3333-4444-555555555555 at /keys/signer",
            "vault payments",
            "key payments/wrapping",
            "secret payments/db-url",
            "secret payments/api-token",
            "certificate payments/web",
            "role assignment payments: Key Vault Secrets User for 11111111-2222-3333-4444-555555555555 at /secrets/db-url",
        ]
    );
    assert_eq!(first.unchanged, ["vault default"]);

    // What the file says is what the store holds.
    let default = t.store.vault("default").unwrap();
    let signer = default.get_key("signer", None).unwrap();
    assert_eq!(signer.kty.as_str(), "EC-HSM");
    assert_eq!(signer.tags.get("app").map(String::as_str), Some("demo"));
    let imported = default.get_key("imported-ec", None).unwrap();
    let point = example_ec_public_key(&dir.join("seed/ec-p256.pem"));
    assert_eq!(imported.key.x.unwrap().0, point.x().unwrap().to_vec());
    assert_eq!(imported.key.y.unwrap().0, point.y().unwrap().to_vec());
    assert_eq!(
        default.get_key("imported-aes", None).unwrap().kty.as_str(),
        "oct-HSM"
    );
    let payments = t.store.vault("payments").unwrap();
    let info = payments.info().unwrap();
    assert_eq!(
        (
            info.kind.as_str(),
            info.retention_days,
            info.purge_protection
        ),
        ("vault", 7, false)
    );
    let url = payments.get_secret("db-url", None).unwrap();
    assert_eq!(
        url.value.unwrap().expose(),
        "postgres://app:example-only@localhost/app"
    );
    let wrapping = payments.get_key("wrapping", None).unwrap();
    assert_eq!(wrapping.key.n.unwrap().0.len() * 8, 3072);
    let web = payments.get_certificate("web", None).unwrap();
    let parsed = localhsm::crypto::x509::parse_certificate(web.cer.as_ref().unwrap()).unwrap();
    assert!(
        format!("{parsed:?}").contains("web.localhost"),
        "{parsed:?}"
    );
    let roles = payments.list_role_assignments(None).unwrap();
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0].scope, "/secrets/db-url");

    // Again: nothing is created and the store is as it was.
    let before = everything(&t.store);
    let second = apply_text(&t.store, &text, Format::Yaml, &dir).unwrap();
    assert!(second.created.is_empty(), "{second:?}");
    assert_eq!(second.unchanged.len(), 12, "{second:?}");
    let after = everything(&t.store);
    assert!(before == after, "{}", snapshot_diff(&before, &after));
}

/// Secret values, key material and the files they come from stay out of `Debug`.
#[test]
fn nothing_secret_in_debug() {
    let file = seed::read_file(&repo_path("examples/seed.yaml")).unwrap();
    let shown = format!(
        "{:?} {:?}",
        file.parsed.seed,
        file.parsed.files.values().collect::<Vec<_>>()
    );
    let jwk: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("examples/seed/aes-256.jwk.json")).unwrap(),
    )
    .unwrap();
    let pem = std::fs::read_to_string(repo_path("examples/seed/ec-p256.pem")).unwrap();
    for secret in [
        "example-only-token",
        "postgres://",
        jwk["k"].as_str().unwrap(),
        pem.lines().nth(1).unwrap(),
    ] {
        assert!(!shown.contains(secret), "{secret:?} in {shown}");
    }
    assert!(shown.contains("imported-aes"), "names do show: {shown}");
}

/// The public point of the example's PKCS#8 PEM key, read by the p256 crate.
fn example_ec_public_key(path: &Path) -> p256::EncodedPoint {
    use base64::Engine as _;
    use p256::pkcs8::DecodePrivateKey as _;
    let pem = std::fs::read_to_string(path).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let key = p256::SecretKey::from_pkcs8_der(&der).unwrap();
    p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&key.public_key(), false)
}

/// The same seed in JSON and in YAML means the same.
#[test]
fn json_and_yaml_say_the_same() {
    let yaml = "\
vaults:
  - name: kv
    kind: vault
    retentionDays: 30
    keys:
      - {name: k, kty: RSA, size: 2048, keyOps: [sign, verify], tags: {a: b}}
    secrets:
      - {name: s, value: v, contentType: text/plain}
";
    let json = r#"{"vaults": [{"name": "kv", "kind": "vault", "retentionDays": 30,
  "keys": [{"name": "k", "kty": "RSA", "size": 2048, "keyOps": ["sign", "verify"], "tags": {"a": "b"}}],
  "secrets": [{"name": "s", "value": "v", "contentType": "text/plain"}]}]}"#;
    let (a, b) = (TempStore::new(), TempStore::new());
    let dir = repo_path("examples");
    let ra = apply_text(&a.store, yaml, Format::Yaml, &dir).unwrap();
    let rb = apply_text(&b.store, json, Format::Json, &dir).unwrap();
    assert_eq!(ra, rb);
    assert_eq!(ra.created, ["vault kv", "key kv/k", "secret kv/s"]);
    // Applying the JSON to the store made from YAML changes nothing.
    let again = apply_text(&a.store, json, Format::Json, &dir).unwrap();
    assert!(again.created.is_empty());
    assert_eq!(again.unchanged, ["vault kv", "key kv/k", "secret kv/s"]);
    let key = a.store.vault("kv").unwrap().get_key("k", None).unwrap();
    assert_eq!(key.key_ops.len(), 2);
    assert_eq!(Format::detect(Path::new("x.yml"), "{"), Format::Yaml);
    assert_eq!(
        Format::detect(Path::new("seed"), " {\"vaults\": []}"),
        Format::Json
    );
    assert_eq!(
        Format::detect(Path::new("seed"), "vaults: []"),
        Format::Yaml
    );
}

/// A first entry that is fine, then one with an error on `line`: the error names the line,
/// says what is wrong, and the store does not change (not even by the good entry).
const GOOD_START: &str = "\
vaults:
  - name: fine
    keys:
      - {name: ok, kty: EC}
";

#[test]
fn a_file_with_an_error_changes_nothing_and_names_the_line() {
    let t = TempStore::new();
    let dir = repo_path("examples");
    let before = everything(&t.store);
    // (the rest of the file after GOOD_START, the line of the error, what it says)
    let cases: &[(&str, usize, &str)] = &[
        ("  - name: bad\n    keys:\n      - name: k\n        kyt: EC\n", 8, "unknown field `kyt`"),
        ("  - name: bad\n    keys:\n      - {name: k, kty: DSA}\n", 7, "DSA"),
        ("  - name: bad\n    keys:\n      - {name: k, kty: RSA, size: 1000}\n", 7, "2048, 3072 or 4096"),
        ("  - name: bad\n    keys:\n      - {name: k}\n", 7, "give kty"),
        ("  - name: bad\n    retentionDays: 3\n", 5, "retentionDays must be 7 to 90"),
        ("  - name: bad_name\n", 5, "vault"),
        ("  - name: bad\n    keys:\n      - {name: k, jwk: \"@missing.json\"}\n", 7, "missing.json"),
        ("  - name: bad\n    keys:\n      - {name: k, pem: \"not a pem\"}\n", 7, "key \"k\""),
        ("  - name: bad\n    keys:\n      - {name: k, kty: oct}\n", 5, "holds no oct keys"),
        ("  - name: bad\n    kind: managedhsm\n    secrets:\n      - {name: s, value: v}\n", 5, "holds no secrets"),
        ("  - name: bad\n    secrets:\n      - {name: s, value: v, valueFile: x}\n", 7, "value or valueFile"),
        ("  - name: bad\n    keys:\n      - {name: k, kty: EC}\n      - {name: k, kty: RSA}\n", 5, "has the name of a key"),
        ("  - name: bad\n    roleAssignments:\n      - {role: Crypto User, principal: p, scope: /nope}\n", 7, "scope"),
        (
            "  - name: bad\n    certificates:\n      - name: c\n        policy: {x509_props: {subject: CN=x}, issuer: {name: Unknown}}\n",
            7,
            "issuer.name must be Self",
        ),
        ("  - name: fine\n", 5, "vault \"fine\" is named twice"),
        ("  - name: bad\n   keys: []\n", 6, ""),
    ];
    for (rest, line, says) in cases {
        let text = format!("{GOOD_START}{rest}");
        let err = apply_text(&t.store, &text, Format::Yaml, &dir).unwrap_err();
        let (pos, message) = err.split_once(": ").unwrap();
        let got_line: usize = pos.split(':').next().unwrap().parse().unwrap();
        assert_eq!(got_line, *line, "{text}\n=> {err}");
        assert!(message.contains(says), "{text}\n=> {err}");
        let after = everything(&t.store);
        assert!(
            before == after,
            "{text}\n{}",
            snapshot_diff(&before, &after)
        );
    }
    // JSON: syntax and meaning alike.
    let json_cases: &[(&str, usize, &str)] = &[
        ("{\"vaults\": [\n  {\"name\": \"a\",\n   \"keys\": [{\"name\": \"k\", \"kty\": \"EC\",}]}]}", 3, ""),
        ("{\"vaults\": [\n  {\"name\": \"a\",\n   \"keys\": [{\"name\": \"k\", \"kty\": \"RSA\", \"curve\": \"P-256\"}]}]}", 3, "crv"),
        ("{\"vaults\": [\n  {\"name\": \"a\",\n   \"secrets\": [{\"name\": \"s\"}]}]}", 3, "value or valueFile"),
    ];
    for (text, line, says) in json_cases {
        let err = apply_text(&t.store, text, Format::Json, &dir).unwrap_err();
        let (pos, message) = err.split_once(": ").unwrap();
        let got_line: usize = pos.split(':').next().unwrap().parse().unwrap();
        assert_eq!(got_line, *line, "{text}\n=> {err}");
        assert!(message.contains(says), "{text}\n=> {err}");
    }
    assert!(before == everything(&t.store));
    // Secret values never show in errors.
    let err = apply_text(
        &t.store,
        "vaults:\n  - name: v\n    secrets:\n      - {name: s, value: hunter2-secret, valueFile: f}\n",
        Format::Yaml,
        &dir,
    )
    .unwrap_err();
    assert!(!err.contains("hunter2"), "{err}");
    // A value of another type is refused without quoting it; a number is its digits.
    let err = apply_text(
        &t.store,
        "vaults:\n  - name: v\n    secrets:\n      - {name: s, value: [hunter2-secret]}\n",
        Format::Yaml,
        &dir,
    )
    .unwrap_err();
    assert!(err.starts_with("4:") && !err.contains("hunter2"), "{err}");
    assert!(before == everything(&t.store));
    apply_text(
        &t.store,
        "vaults:\n  - name: v\n    secrets:\n      - {name: pin, value: 1234}\n",
        Format::Yaml,
        &dir,
    )
    .unwrap();
    let pin = t.store.vault("v").unwrap().get_secret("pin", None).unwrap();
    assert_eq!(pin.value.unwrap().expose(), "1234");
}

#[test]
fn what_exists_and_differs_is_reported_not_overwritten() {
    let t = TempStore::new();
    let dir = repo_path("examples");
    let base = "\
vaults:
  - name: kv
    kind: vault
    retentionDays: 7
    keys:
      - {name: k, kty: EC, curve: P-256, tags: {a: b}}
    secrets:
      - {name: s, value: one}
";
    apply_text(&t.store, base, Format::Yaml, &dir).unwrap();
    let before = everything(&t.store);
    let conflicts = [
        (
            base.replace("retentionDays: 7", "retentionDays: 8"),
            "retentionDays is 7, the file says 8",
        ),
        (
            "vaults:\n  - name: kv\n    kind: managedhsm\n".to_string(),
            "kind is \"vault\", the file says \"managedhsm\"",
        ),
        (
            base.replace("curve: P-256", "curve: P-384"),
            "key kv/k exists and differs: curve",
        ),
        (
            base.replace("kty: EC, curve: P-256", "kty: RSA"),
            "kty is \"EC\", the file says \"RSA\"",
        ),
        (base.replace("{a: b}", "{a: c}"), "tags"),
        (
            base.replace("value: one", "value: two"),
            "secret kv/s exists and differs: its value is another",
        ),
    ];
    for (text, says) in &conflicts {
        // A new vault in the same file is not created either.
        let text = format!("{text}  - name: other\n");
        let err = apply_text(&t.store, &text, Format::Yaml, &dir).unwrap_err();
        assert!(err.contains(says), "{text}\n=> {err}");
        assert!(err.contains("nothing was changed"), "{err}");
        assert!(!err.contains("two"), "no secret value in {err}");
        let after = everything(&t.store);
        assert!(
            before == after,
            "{text}\n{}",
            snapshot_diff(&before, &after)
        );
    }
    // A soft-deleted name stays taken.
    t.store.vault("kv").unwrap().delete_secret("s").unwrap();
    let err = apply_text(&t.store, base, Format::Yaml, &dir).unwrap_err();
    assert!(err.contains("secret kv/s is soft-deleted"), "{err}");
    // Role assignments: the same one again is no change; a named one that differs conflicts.
    let roles = "\
vaults:
  - name: kv
    roleAssignments:
      - {role: Key Vault Secrets User, principal: p-1, scope: /secrets, name: 5c1a1e41-0000-0000-0000-000000000001}
";
    let first = apply_text(&t.store, roles, Format::Yaml, &dir).unwrap();
    assert_eq!(first.created.len(), 1);
    let again = apply_text(&t.store, roles, Format::Yaml, &dir).unwrap();
    assert!(again.created.is_empty());
    let err = apply_text(&t.store, &roles.replace("p-1", "p-2"), Format::Yaml, &dir).unwrap_err();
    assert!(err.contains("an assignment named"), "{err}");
    let err = apply_text(
        &t.store,
        &roles.replace("Secrets User", "Nobody"),
        Format::Yaml,
        &dir,
    )
    .unwrap_err();
    assert!(err.contains("no role \"Key Vault Nobody\""), "{err}");

    // A custom role the vault holds, by its name.
    let hsm = "vaults:\n  - name: hsm\n    kind: managedhsm\n";
    apply_text(&t.store, hsm, Format::Yaml, &dir).unwrap();
    let role = localhsm::rbac::CustomRole {
        id: "0b5e4a51-0000-4000-8000-00000000c0de".into(),
        role_name: "Signers".into(),
        description: String::new(),
        permissions: vec![localhsm::rbac::RolePermissions {
            data_actions: vec!["Microsoft.KeyVault/managedHsm/keys/sign/action".into()],
            ..Default::default()
        }],
        assignable_scopes: vec!["/".into()],
    };
    t.store
        .vault("hsm")
        .unwrap()
        .set_custom_role("/", role)
        .unwrap();
    let custom = format!("{hsm}    roleAssignments:\n      - {{role: signers, principal: p-3}}\n");
    let first = apply_text(&t.store, &custom, Format::Yaml, &dir).unwrap();
    assert_eq!(first.created.len(), 1, "{first:?}");
    let assigned = t
        .store
        .vault("hsm")
        .unwrap()
        .list_role_assignments(None)
        .unwrap();
    assert_eq!(
        assigned[0].role_definition_id,
        "0b5e4a51-0000-4000-8000-00000000c0de"
    );
    let again = apply_text(&t.store, &custom, Format::Yaml, &dir).unwrap();
    assert!(again.created.is_empty(), "{again:?}");
}
