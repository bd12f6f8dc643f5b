//! Guards against changing the on-disk format by accident: `tests/fixtures/store-v1/` is a
//! store written by the first release (schema 1) with a known master key file inside, two
//! vaults (one purge-protected), keys of each family with several versions, tags and
//! attributes, a deleted key and a backup blob. Every later version must open a copy of it
//! (sled writes on open, so never the fixture itself) and read back exactly what
//! `expected.json` records; signatures made with a fixture key verify, a known oct key
//! unwraps a known wrapped value, and the backup restores.
//!
//! Secrets came after v1: a v1 store holds none, and after opening it takes them in both its
//! vaults (the default vault and the purge-protected vault of kind `vault`), keeps them across
//! a reopen, and serves them over REST.
//!
//! The generator is the ignored test `regenerate_store_fixture` (see
//! `tests/fixtures/store-v1/README.md`). Regenerate only for a deliberate new schema, and
//! then as `store-v2` next to this one: this fixture pins what v1 stores look like.
//!
//! `tests/fixtures/store-v2/` is the same store as written by schema 2 (the v1 fixture
//! migrated once: its integrity record, `store.anchor` and `store.journal`); it must open
//! and read back the same, without a migration (`regenerate_store_v2_fixture` makes it).

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use localhsm::crypto::jwk::b64url_encode;
use localhsm::crypto::{
    CurveName, Jwk, KeyOperation, KeyType, PublicKey, SignatureAlgorithm, WrapAlgorithm,
};
use localhsm::model::{KeyOptions, KeyUpdate, VaultKind, VaultOptions};
use localhsm::{Error, KeySpec, ManualClock, MasterKeySource, Vault};
use serde_json::{json, Value};
use support::{create_vault, repo_path, tags, vector_jwk, Opener};

const FIXTURE: &str = "tests/fixtures/store-v1";
/// The same store at schema 2.
const FIXTURE_V2: &str = "tests/fixtures/store-v2";
/// 2100-01-01T00:00:00Z: the fixture's clock, so its deleted key is not due for decades.
const FIXTURE_TIME: u64 = 4_102_444_800;
/// The fixture's master key (also in `master.key`, as hex).
const FIXTURE_MASTER_HEX: &str = "6c6f63616c68736d2073746f72652d76312066697874757265206b6579212121";
/// RFC 3394 section 4.1: KEK 000102..0f wraps 00112233..ff into this.
const RFC3394_KEK: &str = "000102030405060708090a0b0c0d0e0f";
const RFC3394_KEY: &str = "00112233445566778899aabbccddeeff";
const RFC3394_WRAPPED: &str = "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5";

/// Opens stores with the master key file in their directory, as the fixture has it.
fn key_file() -> Opener {
    Opener::source(|| MasterKeySource::KeyFile)
}

fn hexd(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

/// Copies the fixture to a fresh temporary directory (git does not keep empty directories
/// or file modes, so the copy gets `master.key` at 0600 as the store requires).
fn fixture_copy() -> (tempfile::TempDir, PathBuf) {
    fixture_copy_of(FIXTURE)
}

/// [`fixture_copy`] of the fixture at `fixture`.
fn fixture_copy_of(fixture: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("store");
    copy_dir(&repo_path(fixture), &dir);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.join("master.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod master.key");
    }
    (tmp, dir)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

fn expected() -> Value {
    let path = repo_path(FIXTURE).join("expected.json");
    serde_json::from_slice(&std::fs::read(&path).expect("expected.json")).expect("JSON")
}

/// What a version must read back as.
fn version_json(b: &localhsm::model::KeyBundle) -> Value {
    json!({
        "version": b.version,
        "kty": b.kty.as_str(),
        "key_ops": b.key_ops.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
        "enabled": b.attributes.enabled,
        "nbf": b.attributes.not_before,
        "exp": b.attributes.expires,
        "created": b.attributes.created,
        "updated": b.attributes.updated,
        "exportable": b.attributes.exportable,
        "recovery_level": b.attributes.recovery_level,
        "recoverable_days": b.attributes.recoverable_days,
        "tags": b.tags,
        "public": serde_json::to_value(Jwk {
            key_ops: None,
            ..b.key.public_only()
        }).expect("JWK"),
    })
}

fn versions_json(vault: &Vault, name: &str) -> Vec<Value> {
    let page = vault.list_versions(name, 25, None).expect("versions");
    assert!(page.next.is_none());
    page.items.iter().map(version_json).collect()
}

fn vault_json(info: &localhsm::model::VaultInfo) -> Value {
    json!({
        "name": info.name,
        "kind": info.kind.as_str(),
        "retention_days": info.retention_days,
        "purge_protection": info.purge_protection,
        "created": info.created,
        "recovery_level": info.recovery_level(),
    })
}

/// Uses every version of a key: EC and RSA sign, oct wraps. Disabled versions must refuse.
fn exercise(vault: &Vault, name: &str, versions: &[Value]) {
    for v in versions {
        let version = v["version"].as_str().expect("version");
        let h = vault.key(name, Some(version)).expect("handle");
        let r = match v["kty"].as_str().unwrap_or_default() {
            "EC" | "EC-HSM" => {
                let crv: CurveName = v["public"]["crv"]
                    .as_str()
                    .expect("crv")
                    .parse()
                    .expect("crv");
                let alg = crv.signature_algorithm();
                h.sign(alg, &alg.hash().digest(b"fixture")).map(drop)
            }
            "RSA" | "RSA-HSM" => h.sign(SignatureAlgorithm::PS256, &[1; 32]).map(drop),
            _ => h
                .wrap_key(WrapAlgorithm::A256Kw, &[1; 32])
                .or_else(|_| h.wrap_key(WrapAlgorithm::A128Kw, &[1; 32]))
                .map(drop),
        };
        if v["enabled"] == true {
            r.unwrap_or_else(|e| panic!("{name}/{version}: {e}"));
        } else {
            assert!(
                matches!(r, Err(Error::Disabled { .. })),
                "{name}/{version} is disabled in the fixture: {r:?}"
            );
        }
    }
}

#[test]
fn the_v1_fixture_opens_and_reads_back_exactly() {
    reads_back_exactly(FIXTURE);
}

/// The schema-2 fixture opens as it is (no migration: its commit counter and anchor are
/// those it was written with) and reads back what the v1 fixture does.
#[test]
fn the_v2_fixture_opens_and_reads_back_exactly() {
    let (_tmp, dir) = fixture_copy_of(FIXTURE_V2);
    let verify = localhsm::repair::verify(&dir, MasterKeySource::KeyFile).expect("verify");
    assert!(verify.is_clean(), "{verify:?}");
    assert_eq!(
        verify.integrity.anchor.map(|a| a.counter),
        Some(verify.integrity.counter)
    );
    drop(verify);
    assert_eq!(
        std::fs::read(repo_path(FIXTURE_V2).join("expected.json")).expect("v2 expected"),
        std::fs::read(repo_path(FIXTURE).join("expected.json")).expect("v1 expected"),
        "the v2 fixture holds the v1 fixture's store"
    );
    reads_back_exactly(FIXTURE_V2);
}

fn reads_back_exactly(fixture: &str) {
    let exp = expected();
    let (_tmp, dir) = fixture_copy_of(fixture);
    let store = key_file().open(&dir);
    assert!(
        store.now() >= FIXTURE_TIME,
        "the store's clock high-water mark was kept"
    );

    // Vaults.
    let vaults: Vec<Value> = store
        .list_vaults()
        .expect("vaults")
        .iter()
        .map(vault_json)
        .collect();
    assert_eq!(Value::from(vaults), exp["vaults"], "vaults");

    // Live keys: every version, in order, with its attributes, tags and public key; each usable.
    for (id, expect) in exp["keys"].as_object().expect("keys") {
        let (vault_name, name) = id.split_once('/').expect("vault/name");
        let vault = store.vault(vault_name).expect("vault");
        let expected_versions = expect["versions"].as_array().expect("versions");
        if let Some(deletion) = expect.get("deleted").filter(|d| !d.is_null()) {
            let d = vault.get_deleted_key(name).expect("deleted key");
            assert_eq!(d.deletion.deleted_date, deletion["deleted_date"]);
            assert_eq!(
                d.deletion.scheduled_purge_date,
                deletion["scheduled_purge_date"]
            );
            assert_eq!(
                Some(&Value::from(d.key.version.clone())),
                expected_versions.last().map(|v| &v["version"])
            );
            assert!(matches!(
                vault.get_key(name, None),
                Err(Error::NotFound { .. })
            ));
            // Purge protection holds; recover brings back every version unchanged.
            assert!(matches!(
                vault.purge_deleted_key(name),
                Err(Error::PurgeProtected { .. })
            ));
            vault.recover_deleted_key(name).expect("recover");
        }
        let got = versions_json(&vault, name);
        assert_eq!(&Value::from(got.clone()), &expect["versions"], "{id}");
        exercise(&vault, name, &got);
    }
    let listed: usize = store
        .list_vaults()
        .expect("vaults")
        .iter()
        .map(|v| {
            store
                .vault(&v.name)
                .and_then(|v| v.list_keys(25, None))
                .expect("keys")
                .items
                .len()
        })
        .sum();
    assert_eq!(
        listed,
        exp["keys"].as_object().expect("keys").len(),
        "no other keys"
    );

    // Known answers: a fixture key signs verifiably, the known oct key unwraps RFC 3394.
    let default = store.vault("default").expect("default");
    let known = &exp["known"];
    let ec_version = known["ec_version"].as_str().expect("ec version");
    let h = default.key("ec-signer", Some(ec_version)).expect("handle");
    let digest = SignatureAlgorithm::ES256
        .hash()
        .digest(b"signed by the v1 fixture");
    let sig = h.sign(SignatureAlgorithm::ES256, &digest).expect("sign");
    let public = PublicKey::from_jwk(&vector_jwk("ecdsa.json", "ec-p256")).expect("public key");
    assert!(public
        .verify_digest(SignatureAlgorithm::ES256, &digest, &sig)
        .expect("verify"));
    let rsa_version = known["rsa_version"].as_str().expect("rsa version");
    let h = default.key("rsa-key", Some(rsa_version)).expect("handle");
    let sig = h.sign(SignatureAlgorithm::RS256, &[9; 32]).expect("sign");
    let public = PublicKey::from_jwk(&vector_jwk("rsa-oaep.json", "rsa-2048")).expect("public key");
    assert!(public
        .verify_digest(SignatureAlgorithm::RS256, &[9; 32], &sig)
        .expect("verify"));
    let oct_version = known["oct_version"].as_str().expect("oct version");
    let h = default.key("aes-key", Some(oct_version)).expect("handle");
    let key = h
        .unwrap_key(WrapAlgorithm::A128Kw, &hexd(RFC3394_WRAPPED))
        .expect("unwrap");
    assert_eq!(key.expose(), hexd(RFC3394_KEY).as_slice());
    // A signature made by the fixture's generator still verifies.
    let sig = localhsm::crypto::jwk::b64url_decode(known["ec_signature"].as_str().expect("sig"))
        .expect("b64");
    let public = PublicKey::from_jwk(&vector_jwk("ecdsa.json", "ec-p256")).expect("public key");
    assert!(public
        .verify_digest(
            SignatureAlgorithm::ES256,
            &SignatureAlgorithm::ES256.hash().digest(b"fixture"),
            &sig
        )
        .expect("verify"));

    // The backup blob written by v1 restores, with its versions.
    let blob = std::fs::read(repo_path(fixture).join("backup-restorable.bin")).expect("backup");
    let restored = default.restore_key(&blob).expect("restore the v1 backup");
    assert_eq!(restored.name, "restorable");
    assert_eq!(
        Value::from(versions_json(&default, "restorable")),
        exp["restorable"]["versions"],
        "restored versions"
    );

    // And the copy reopens after all that, with the same master key only.
    drop((h, default));
    drop(store);
    assert!(matches!(
        Opener::key([0; 32]).try_open(&dir),
        Err(Error::WrongMasterKey)
    ));
    key_file().open(&dir);
}

/// A v1 store, written before secrets existed, takes them once opened: set, read, list,
/// update, delete, recover, back up and restore in both vaults; purge protection holds for
/// them in `pp`; everything survives a reopen; and the keys are untouched.
#[test]
fn the_v1_fixture_takes_secrets_after_opening() {
    use localhsm::crypto::SecretString;
    use localhsm::model::{SecretOptions, SecretUpdate};
    let exp = expected();
    let (_tmp, dir) = fixture_copy();
    let clock = Arc::new(ManualClock::new(FIXTURE_TIME));
    let store = key_file().clock(clock).open(&dir);
    let mut set_versions = Vec::new();
    for vault_name in ["default", "pp"] {
        let vault = store.vault(vault_name).expect("vault");
        assert!(
            vault.list_secrets(25, None).expect("list").items.is_empty(),
            "{vault_name}: a v1 store holds no secrets"
        );
        assert!(vault
            .list_deleted_secrets(25, None)
            .expect("list deleted")
            .items
            .is_empty());
        let options = SecretOptions {
            content_type: Some("text/plain".into()),
            tags: tags(&[("from", "after v1")]),
            ..SecretOptions::default()
        };
        let value = format!("set in the v1 store's {vault_name} ✓");
        let first = vault
            .set_secret("later", SecretString::from(value.as_str()), options)
            .unwrap_or_else(|e| panic!("{vault_name}: set a secret in a v1 store: {e}"));
        assert_eq!(first.attributes.created, store.now());
        let second = vault
            .set_secret(
                "later",
                SecretString::from("second"),
                SecretOptions::default(),
            )
            .expect("second version");
        let update = SecretUpdate {
            tags: Some(tags(&[("updated", "yes")])),
            ..SecretUpdate::default()
        };
        vault
            .update_secret("later", Some(&first.version), update)
            .expect("update");
        let got = vault
            .get_secret("later", Some(&first.version))
            .expect("get");
        assert_eq!(
            got.value.as_ref().map(SecretString::expose),
            Some(value.as_str())
        );
        assert_eq!(got.content_type.as_deref(), Some("text/plain"));
        let blob = vault.backup_secret("later").expect("backup");
        vault.delete_secret("later").expect("delete");
        if vault_name == "pp" {
            assert!(matches!(
                vault.purge_deleted_secret("later"),
                Err(Error::PurgeProtected { .. })
            ));
            vault.recover_deleted_secret("later").expect("recover");
        } else {
            vault.purge_deleted_secret("later").expect("purge");
            vault.restore_secret(&blob).expect("restore");
        }
        set_versions.push((vault_name, value, first.version, second.version));
    }
    // The keys are as the fixture has them.
    let default = store.vault("default").expect("default");
    assert_eq!(
        Value::from(versions_json(&default, "ec-signer")),
        exp["keys"]["default/ec-signer"]["versions"]
    );
    drop(default);
    drop(store);

    // After a reopen, every secret is there with its versions and values.
    let store = key_file().open(&dir);
    for (vault_name, value, v1, v2) in set_versions {
        let vault = store.vault(vault_name).expect("vault");
        let versions: Vec<String> = vault
            .list_secret_versions("later", 25, None)
            .expect("versions")
            .items
            .into_iter()
            .map(|b| b.version)
            .collect();
        assert_eq!(versions, vec![v1.clone(), v2], "{vault_name}");
        let got = vault
            .get_secret("later", Some(&v1))
            .expect("get after reopen");
        assert_eq!(
            got.value.as_ref().map(SecretString::expose),
            Some(value.as_str())
        );
        assert_eq!(got.tags, tags(&[("updated", "yes")]));
    }
}

/// The server binary of this build serves the v1 store too.
#[test]
fn the_server_serves_the_v1_fixture() {
    let (_tmp, dir) = fixture_copy();
    let mut server = support::Server::start(&dir, &[], std::process::Stdio::null())
        .expect("serve the v1 fixture");
    let client = server.client();
    let exp = expected();
    let (status, body) = support::http(
        &client,
        "GET",
        &server.url("/keys/ec-signer/versions"),
        None,
    )
    .expect("GET");
    assert_eq!(status, 200, "{body}");
    let versions: Vec<String> = body["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|v| support::kid_version(v["kid"].as_str().unwrap_or_default()))
        .collect();
    let expected: Vec<String> = exp["keys"]["default/ec-signer"]["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["version"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(versions, expected);
    let (status, body) = support::http(
        &client,
        "POST",
        &server.url(&format!(
            "/keys/aes-key/{}/unwrapkey",
            exp["known"]["oct_version"].as_str().unwrap_or_default()
        )),
        Some(&json!({"alg": "A128KW", "value": b64url_encode(&hexd(RFC3394_WRAPPED))})),
    )
    .expect("unwrap");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"], b64url_encode(&hexd(RFC3394_KEY)));
    // And takes secrets over REST, though v1 had none.
    let (status, body) = support::http(
        &client,
        "PUT",
        &server.url("/secrets/served"),
        Some(&json!({"value": "served from a v1 store"})),
    )
    .expect("set");
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        support::http(&client, "GET", &server.url("/secrets/served"), None).expect("get");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"], "served from a v1 store");
    drop(client);
    server.stop();
}

// --- the generator ------------------------------------------------------------------------------

/// Rebuilds `tests/fixtures/store-v1/`. Ignored, and inert unless
/// `LOCALHSM_REGENERATE_FIXTURE=1`: run
/// `LOCALHSM_REGENERATE_FIXTURE=1 cargo test --test store_fixture -- --ignored regenerate_store_fixture`.
#[test]
#[ignore = "writes tests/fixtures/store-v1; see its README"]
fn regenerate_store_fixture() {
    if std::env::var("LOCALHSM_REGENERATE_FIXTURE").as_deref() != Ok("1") {
        println!("set LOCALHSM_REGENERATE_FIXTURE=1 to rewrite {FIXTURE}");
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("store");
    std::fs::create_dir_all(&dir).expect("dir");
    write_private(
        &dir.join("master.key"),
        format!("{FIXTURE_MASTER_HEX}\n").as_bytes(),
    );
    let clock = Arc::new(ManualClock::new(FIXTURE_TIME));
    let store = key_file().clock(clock.clone()).open(&dir);
    localhsm::server::ensure_default_vault(&store).expect("default vault");
    let pp_options = VaultOptions {
        kind: VaultKind::Vault,
        retention_days: 30,
        purge_protection: true,
    };
    let pp = create_vault(&store, "pp", pp_options);
    let default = store.vault("default").expect("default");
    let opts = |t: localhsm::model::Tags| KeyOptions {
        tags: t,
        ..KeyOptions::default()
    };
    let tick = |s: u64| clock.advance(s);

    // EC: a known key, a generated version (disabled later), a rotation.
    let ec_v1 = default
        .import_key(
            "ec-signer",
            &vector_jwk("ecdsa.json", "ec-p256"),
            true,
            opts(tags(&[("env", "fixture"), ("v", "1")])),
        )
        .expect("import EC")
        .version;
    tick(60);
    let ec_v2 = default
        .create_key(
            "ec-signer",
            KeyType::EcHsm,
            KeySpec::Ec(CurveName::P256),
            opts(tags(&[("v", "2")])),
        )
        .expect("create EC")
        .version;
    tick(60);
    default.rotate_key("ec-signer").expect("rotate EC");
    tick(60);
    default
        .update_key(
            "ec-signer",
            Some(&ec_v2),
            KeyUpdate {
                enabled: Some(false),
                ..KeyUpdate::default()
            },
        )
        .expect("disable");
    // RSA: a known key and a generated one.
    let rsa_v1 = default
        .import_key(
            "rsa-key",
            &vector_jwk("rsa-oaep.json", "rsa-2048"),
            false,
            opts(tags(&[("family", "rsa")])),
        )
        .expect("import RSA")
        .version;
    tick(60);
    default
        .create_key(
            "rsa-key",
            KeyType::RsaHsm,
            KeySpec::Rsa(2048),
            KeyOptions {
                exportable: true,
                // Key Vault, and so localhsm since, require a release policy here.
                release_policy: Some(localhsm::model::key_policies::KeyReleasePolicy {
                    content_type: localhsm::model::key_policies::DEFAULT_RELEASE_CONTENT_TYPE
                        .into(),
                    data: localhsm::crypto::Base64Url(b"{\"anyOf\":[]}".to_vec()),
                    immutable: false,
                }),
                ..opts(tags(&[("v", "2")]))
            },
        )
        .expect("create RSA");
    // oct: the RFC 3394 KEK (wrap/unwrap only) and a generated 256-bit key.
    let kek = Jwk {
        kty: Some(KeyType::Oct),
        k: Some(localhsm::crypto::SecretBase64Url(
            localhsm::crypto::SecretBytes::new(hexd(RFC3394_KEK)),
        )),
        ..Jwk::default()
    };
    let oct_v1 = default
        .import_key(
            "aes-key",
            &kek,
            true,
            KeyOptions {
                key_ops: Some(vec![KeyOperation::WrapKey, KeyOperation::UnwrapKey]),
                ..opts(tags(&[("rfc", "3394")]))
            },
        )
        .expect("import oct")
        .version;
    tick(60);
    default
        .create_key(
            "aes-key",
            KeyType::OctHsm,
            KeySpec::Oct(256),
            KeyOptions::default(),
        )
        .expect("create oct");
    // Validity dates, in a P-384 key.
    default
        .create_key(
            "dated",
            KeyType::Ec,
            KeySpec::Ec(CurveName::P384),
            KeyOptions {
                not_before: Some(FIXTURE_TIME - 86_400),
                expires: Some(FIXTURE_TIME + 100 * 365 * 86_400),
                ..opts(tags(&[("dated", "yes")]))
            },
        )
        .expect("create dated");
    // A backup, then the key purged: the blob must restore in later versions.
    default
        .create_key(
            "restorable",
            KeyType::EcHsm,
            KeySpec::Ec(CurveName::P521),
            opts(tags(&[("b", "1")])),
        )
        .expect("create restorable");
    default.rotate_key("restorable").expect("rotate restorable");
    let restorable_versions = versions_json(&default, "restorable");
    let blob = default.backup_key("restorable").expect("backup");
    default.delete_key("restorable").expect("delete restorable");
    default
        .purge_deleted_key("restorable")
        .expect("purge restorable");
    // The purge-protected vault: a live key and a deleted one.
    pp.create_key(
        "pp-ec",
        KeyType::Ec,
        KeySpec::Ec(CurveName::P256K),
        opts(tags(&[("vault", "pp")])),
    )
    .expect("create pp-ec");
    pp.import_key(
        "pp-deleted",
        &vector_jwk("ecdsa.json", "ec-p256k"),
        false,
        opts(tags(&[("state", "deleted")])),
    )
    .expect("import pp-deleted");
    tick(60);
    pp.rotate_key("pp-deleted").expect("rotate pp-deleted");
    tick(60);
    let pp_versions = versions_json(&pp, "pp-deleted");
    let deleted = pp.delete_key("pp-deleted").expect("delete pp-deleted");

    let h = default.key("ec-signer", Some(&ec_v1)).expect("handle");
    let sig = h
        .sign(
            SignatureAlgorithm::ES256,
            &SignatureAlgorithm::ES256.hash().digest(b"fixture"),
        )
        .expect("sign");
    let mut keys = serde_json::Map::new();
    for (vault, name) in [
        (&default, "ec-signer"),
        (&default, "rsa-key"),
        (&default, "aes-key"),
        (&default, "dated"),
        (&pp, "pp-ec"),
    ] {
        keys.insert(
            format!("{}/{name}", vault.name()),
            json!({ "versions": versions_json(vault, name) }),
        );
    }
    keys.insert(
        "pp/pp-deleted".into(),
        json!({
            "versions": pp_versions,
            "deleted": {
                "deleted_date": deleted.deletion.deleted_date,
                "scheduled_purge_date": deleted.deletion.scheduled_purge_date,
            },
        }),
    );
    let expected = json!({
        "about": "What tests/store_fixture.rs must read back from this store. Written by the generator; do not edit.",
        "schema": localhsm::store::SCHEMA_VERSION,
        "time": FIXTURE_TIME,
        "vaults": store.list_vaults().expect("vaults").iter().map(vault_json).collect::<Vec<_>>(),
        "keys": keys,
        "restorable": { "versions": restorable_versions },
        "known": {
            "ec_version": ec_v1,
            "rsa_version": rsa_v1,
            "oct_version": oct_v1,
            "ec_signature": b64url_encode(&sig),
        },
    });
    drop((h, default, pp));
    store.flush().expect("flush");
    drop(store);

    let target = repo_path(FIXTURE);
    let readme = std::fs::read(target.join("README.md")).ok();
    let _ = std::fs::remove_dir_all(&target);
    copy_dir(&dir, &target);
    // Git keeps neither empty directories nor modes: leave the tree as a checkout has it.
    let _ = std::fs::remove_dir(target.join("db").join("blobs"));
    std::fs::write(target.join("backup-restorable.bin"), &blob).expect("backup file");
    std::fs::write(
        target.join("expected.json"),
        serde_json::to_string_pretty(&expected).expect("JSON") + "\n",
    )
    .expect("expected.json");
    if let Some(readme) = readme {
        std::fs::write(target.join("README.md"), readme).expect("README");
    }
    println!("wrote {}", target.display());
}

/// Rebuilds `tests/fixtures/store-v2/` from the v1 fixture: a copy migrated by one open
/// and closed. Ignored, and inert unless `LOCALHSM_REGENERATE_FIXTURE=2`.
#[test]
#[ignore = "writes tests/fixtures/store-v2; see its README"]
fn regenerate_store_v2_fixture() {
    if std::env::var("LOCALHSM_REGENERATE_FIXTURE").as_deref() != Ok("2") {
        println!("set LOCALHSM_REGENERATE_FIXTURE=2 to rewrite {FIXTURE_V2}");
        return;
    }
    let (_tmp, dir) = fixture_copy();
    drop(key_file().open(&dir));
    let target = repo_path(FIXTURE_V2);
    let readme = std::fs::read(target.join("README.md")).ok();
    let _ = std::fs::remove_dir_all(&target);
    copy_dir(&dir, &target);
    let _ = std::fs::remove_dir(target.join("db").join("blobs"));
    if let Some(readme) = readme {
        std::fs::write(target.join("README.md"), readme).expect("README");
    }
    println!("wrote {}", target.display());
}

fn write_private(path: &Path, bytes: &[u8]) {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    std::io::Write::write_all(&mut opts.open(path).expect("create"), bytes).expect("write");
}
