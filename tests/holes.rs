//! Smaller holes found by adversarial testing, each closed and kept closed.
//!
//! Guards against: an unauthorized caller learning whether a key, secret or certificate
//! exists from the status of a refused call (the lookup ran before the permission check);
//! a host that is malformed or names no vault (`v2.localhost.`, `x.v2.localhost`) acting on
//! the default vault while the ids it returns name another host; a role-assignment PUT at
//! another scope moving the assignment; a failed open leaving files behind (a new
//! `master.key` beside a store sealed under the old one).

mod support;

use axum::body::Body;
use axum::http::Request;
use localhsm::AccessPolicy;
use serde_json::{json, Value};
use support::{create_vault, hsm, kv, Api, Reply};

/// Sends a Key Vault call (`api-version=7.5`) to `host` with a token naming `oid`.
fn call(api: &Api, oid: &str, method: &str, host: &str, path: &str, body: Option<Value>) -> Reply {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = localhsm::server::auth::mint_token(oid, None, None, now);
    let req = Request::builder()
        .method(method)
        .uri(kv(path))
        .header("host", host)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
        .unwrap();
    api.send(req)
}

fn ok(r: Reply, what: &str) -> Value {
    assert!(
        (200..300).contains(&r.status),
        "{what}: {} {}",
        r.status,
        r.json
    );
    r.json
}

const ADMIN: &str = "admin-oid";
/// Crypto User on the key `other` only: a role, but not at the scopes asked about.
const NEIGHBOUR: &str = "neighbour-oid";
/// No role at all.
const STRANGER: &str = "stranger-oid";
/// Crypto User and Secrets User and Certificate User at `/`: the control, who may look.
const READER: &str = "reader-oid";

/// A default vault with a key `thekey`, a deleted key `gonekey`, a secret `thesecret`
/// and a certificate `thecert`, access control on, and the principals above.
fn guarded() -> Api {
    let api = Api::new();
    api.store.set_access_policy(AccessPolicy {
        enforce: true,
        admins: vec![ADMIN.into()],
    });
    let admin = |method: &str, path: &str, body: Value| {
        ok(
            call(&api, ADMIN, method, "localhost", path, Some(body)),
            path,
        )
    };
    for name in ["thekey", "other", "gonekey"] {
        admin(
            "POST",
            &format!("/keys/{name}/create"),
            json!({"kty": "EC", "crv": "P-256"}),
        );
    }
    ok(
        call(&api, ADMIN, "DELETE", "localhost", "/keys/gonekey", None),
        "delete",
    );
    admin("PUT", "/secrets/thesecret", json!({"value": "hush"}));
    admin(
        "POST",
        "/certificates/thecert/create",
        json!({"policy": {"x509_props": {"subject": "CN=thecert"}, "issuer": {"name": "Self"}}}),
    );
    let assign = |n: u32, scope: &str, role: &str, who: &str| {
        admin(
            "PUT",
            &format!("{scope}/providers/Microsoft.Authorization/roleAssignments/0000000{n}-0000-0000-0000-000000000000"),
            json!({"properties": {"roleDefinitionId": role, "principalId": who}}),
        )
    };
    // Managed HSM Crypto User; Key Vault Secrets User; Key Vault Certificate User.
    let crypto_user = "21dbd100-6940-42c2-9190-5d6cb909625b";
    assign(1, "/keys/other", crypto_user, NEIGHBOUR);
    assign(2, "", crypto_user, READER);
    assign(3, "", "4633458b-17de-408a-b874-0445c86b69e6", READER);
    assign(4, "", "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba", READER);
    api
}

#[test]
fn a_refused_caller_cannot_tell_a_missing_object_from_an_existing_one() {
    let api = guarded();
    let digest = json!({"alg": "ES256", "value": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"});
    // (method, path with NAME for the object's name, existing name, body)
    let routes: &[(&str, &str, &str, Option<Value>)] = &[
        ("GET", "/keys/NAME", "thekey", None),
        ("GET", "/keys/NAME/versions", "thekey", None),
        ("POST", "/keys/NAME//sign", "thekey", Some(digest.clone())),
        (
            "POST",
            "/keys/NAME//encrypt",
            "thekey",
            Some(json!({"alg": "RSA-OAEP", "value": "AAAA"})),
        ),
        ("POST", "/keys/NAME/backup", "thekey", None),
        ("GET", "/deletedkeys/NAME", "gonekey", None),
        ("GET", "/secrets/NAME", "thesecret", None),
        ("GET", "/deletedsecrets/NAME", "thesecret", None),
        ("GET", "/certificates/NAME", "thecert", None),
        ("GET", "/certificates/NAME/policy", "thecert", None),
    ];
    for who in [STRANGER, NEIGHBOUR] {
        for (method, template, existing, body) in routes {
            let there = call(
                &api,
                who,
                method,
                "localhost",
                &template.replace("NAME", existing),
                body.clone(),
            );
            let missing = call(
                &api,
                who,
                method,
                "localhost",
                &template.replace("NAME", "missing"),
                body.clone(),
            );
            let what = format!("{who}: {method} {template}");
            assert_eq!(there.status, 403, "{what} (existing): {}", there.json);
            assert_eq!(missing.status, 403, "{what} (missing): {}", missing.json);
            assert_eq!(there.code(), Some("Forbidden"), "{what}");
            assert_eq!(there.code(), missing.code(), "{what}");
            assert_eq!(
                there
                    .message()
                    .map(|m| m.replace(&format!("/{existing}"), "/NAME")),
                missing.message().map(|m| m.replace("/missing", "/NAME")),
                "{what}"
            );
        }
    }
    // The control: a caller with the rights sees the difference.
    for (path, missing, body) in [
        (
            "/keys/thekey//sign",
            "/keys/missing//sign",
            Some(digest.clone()),
        ),
        ("/secrets/thesecret", "/secrets/missing", None),
        ("/certificates/thecert", "/certificates/missing", None),
    ] {
        let method = if body.is_some() { "POST" } else { "GET" };
        let there = call(&api, READER, method, "localhost", path, body.clone());
        assert_eq!(there.status, 200, "{path}: {}", there.json);
        let r = call(&api, READER, method, "localhost", missing, body);
        assert_eq!(r.status, 404, "{missing}: {}", r.json);
    }
    // The neighbour still signs with the key it was given.
    let r = call(
        &api,
        NEIGHBOUR,
        "POST",
        "localhost",
        "/keys/other//sign",
        Some(digest),
    );
    assert_eq!(r.status, 200, "{}", r.json);
}

#[test]
fn a_host_names_one_vault_or_is_refused() {
    let api = Api::new();
    create_vault(&api.store, "v2", hsm(7, false));
    let create = |host: &str, name: &str| {
        api.kv_at(
            "POST",
            host,
            &format!("/keys/{name}/create"),
            Some(json!({"kty": "EC", "crv": "P-256"})),
        )
    };
    let names = |vault: &str| {
        let v = api.store.vault(vault).unwrap();
        let page = v.list_keys(25, None).unwrap();
        page.items
            .iter()
            .map(|b| b.name.clone())
            .collect::<Vec<_>>()
    };
    for (i, host) in [
        "v2.localhost.",
        "x.v2.localhost",
        "x.v2.localhost:8443",
        "v2.localhost.:8443",
        "localhost.",
        "v2..localhost",
        "v2.localhost:port",
        "[::1",
        "bad host",
    ]
    .iter()
    .enumerate()
    {
        let r = create(host, &format!("k{i}"));
        assert_eq!(
            (r.status, r.code()),
            (400, Some("BadParameter")),
            "{host}: {}",
            r.json
        );
        assert!(r.message().unwrap().contains(host), "{host}: {}", r.json);
        assert_eq!(r.error_shape_problem(), None);
    }
    assert!(names("default").is_empty(), "{:?}", names("default"));
    assert!(names("v2").is_empty());

    let r = create("nosuch.localhost:8443", "k");
    assert_eq!(
        (r.status, r.code()),
        (404, Some("VaultNotFound")),
        "{}",
        r.json
    );

    // The hosts that do name a vault, and the ids they give back.
    for (host, vault, key) in [
        ("v2.localhost:8443", "v2", "a"),
        ("V2.LOCALHOST", "v2", "b"),
        ("localhost", "default", "c"),
        ("localhost:8443", "default", "d"),
        ("default.localhost", "default", "e"),
        ("127.0.0.1:8443", "default", "f"),
        ("[::1]:8443", "default", "g"),
    ] {
        let r = create(host, key);
        assert_eq!(r.status, 200, "{host}: {}", r.json);
        let kid = r.json["key"]["kid"].as_str().unwrap();
        assert!(
            kid.starts_with(&format!("https://{host}/keys/{key}/")),
            "{kid}"
        );
        assert!(
            names(vault).contains(&key.to_string()),
            "{host}: {:?}",
            names(vault)
        );
    }
}

#[test]
fn a_role_assignment_name_is_bound_to_its_scope() {
    let api = Api::new();
    let name = "6f2a41f4-0000-4000-8000-00000000beef";
    let at =
        |scope: &str| format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}");
    let body = |who: &str| {
        json!({"properties": {
            "roleDefinitionId": "21dbd100-6940-42c2-9190-5d6cb909625b",
            "principalId": who,
        }})
    };
    let put = |scope: &str, who: &str| api.kv("PUT", &at(scope), Some(body(who)));
    let first = put("/keys/a", "alice");
    assert_eq!(first.status, 201, "{}", first.json);
    // The same name, scope and content again: idempotent.
    let again = put("/keys/a", "alice");
    assert_eq!(again.status, 201, "{}", again.json);
    assert_eq!(again.json, first.json);

    for scope in ["/keys/b", "/keys", "", "/KEYS/B"] {
        let r = put(scope, "alice");
        assert_eq!(
            (r.status, r.code()),
            (409, Some("RoleAssignmentExists")),
            "{scope}: {}",
            r.json
        );
        assert!(r.message().unwrap().contains("/keys/a"), "{}", r.json);
        assert_eq!(r.error_shape_problem(), None);
        let moved = api.kv("GET", &at(scope), None);
        assert_eq!(moved.status, 404, "{scope}: {}", moved.json);
    }
    // Still where it was made, unchanged, and the only one of its name.
    let kept = api.kv("GET", &at("/keys/a"), None);
    assert_eq!(kept.status, 200, "{}", kept.json);
    assert_eq!(kept.json, first.json);
    let all = api.kv(
        "GET",
        "/providers/Microsoft.Authorization/roleAssignments",
        None,
    );
    let named: Vec<_> = all.json["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["name"] == name)
        .collect();
    assert_eq!(named.len(), 1, "{}", all.json);

    // Deleted where it lives, the name is free for another scope.
    assert_eq!(api.kv("DELETE", &at("/keys/a"), None).status, 200);
    let r = put("/keys/b", "alice");
    assert_eq!(r.status, 201, "{}", r.json);
}

/// Every path under `dir`, relative, sorted.
fn listing(dir: &std::path::Path) -> Vec<String> {
    fn walk(root: &std::path::Path, at: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(at).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(root).unwrap().display().to_string());
            if path.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn a_failed_open_leaves_no_files_behind() {
    use localhsm::store::KEY_FILE_NAME;
    use localhsm::{MasterKeySource, Store};
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), MasterKeySource::KeyFile).unwrap();
        localhsm::server::ensure_default_vault(&store).unwrap();
        store.flush().unwrap();
    }
    let key_file = dir.path().join(KEY_FILE_NAME);
    let key = std::fs::read(&key_file).unwrap();
    std::fs::remove_file(&key_file).unwrap();
    let before = listing(dir.path());

    let e = Store::open(dir.path(), MasterKeySource::KeyFile).unwrap_err();
    assert!(matches!(e, localhsm::Error::MasterKey(_)), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(KEY_FILE_NAME) && text.contains("missing"),
        "{text}"
    );
    assert_eq!(listing(dir.path()), before);
    // The server's and the CLI's way in fails the same way, before writing anything of its own.
    assert!(localhsm::server::open_dev_store(dir.path()).is_err());
    assert_eq!(listing(dir.path()), before);
    // A passphrase does not open a store sealed under a key, and writes no salt into it.
    let pass = MasterKeySource::Passphrase(localhsm::crypto::SecretBytes::new(b"guess".to_vec()));
    let e = Store::open(dir.path(), pass).unwrap_err();
    assert!(matches!(e, localhsm::Error::WrongMasterKey), "{e:?}");
    // This one had to open the database to read its salt, and sled writes a snapshot of
    // its log on every open: that file is sled's own, nothing else is new.
    let sled_snapshot = |p: &String| !p.starts_with("db/snap.");
    let after: Vec<String> = listing(dir.path())
        .into_iter()
        .filter(sled_snapshot)
        .collect();
    assert_eq!(after, before);

    // With its key back, the store opens as it was.
    std::fs::write(&key_file, key).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let store = Store::open(dir.path(), MasterKeySource::KeyFile).unwrap();
    assert!(store.vault("default").is_ok());
}

/// An RSA key with public exponent `e` made by `openssl` in `dir`: (PKCS#8 PEM, PKCS#1
/// PEM, a self-signed certificate PEM, a PFX under the password `pw`).
fn openssl_rsa(dir: &std::path::Path, e: u32) -> (String, String, String, Vec<u8>) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let (key, pkcs1, cert, pfx) = (
        format!("k{e}.pem"),
        format!("k{e}.rsa.pem"),
        format!("c{e}.pem"),
        format!("c{e}.pfx"),
    );
    let exp = format!("rsa_keygen_pubexp:{e}");
    run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-pkeyopt",
        &exp,
        "-out",
        &key,
    ]);
    run(&["rsa", "-in", &key, "-traditional", "-out", &pkcs1]);
    let subject = format!("/CN=e{e}");
    run(&[
        "req", "-x509", "-new", "-key", &key, "-subj", &subject, "-days", "30", "-out", &cert,
    ]);
    run(&[
        "pkcs12", "-export", "-inkey", &key, "-in", &cert, "-passout", "pass:pw", "-out", &pfx,
    ]);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    (
        read(&key),
        read(&pkcs1),
        read(&cert),
        std::fs::read(dir.join(&pfx)).unwrap(),
    )
}

/// The private JWK of a PKCS#8 PEM RSA key, with `e` replaced when `e` is given.
fn rsa_jwk(pem: &str, e: Option<&[u8]>) -> Value {
    use base64::Engine as _;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    let k = rsa::RsaPrivateKey::from_pkcs8_pem(pem).unwrap();
    let b = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let u = |v: &rsa::BigUint| b(&v.to_bytes_be());
    json!({
        "kty": "RSA",
        "n": u(k.n()),
        "e": e.map_or_else(|| u(k.e()), b),
        "d": u(k.d()),
        "p": u(&k.primes()[0]),
        "q": u(&k.primes()[1]),
        "dp": u(k.dp().unwrap()),
        "dq": u(k.dq().unwrap()),
        "qi": u(&k.crt_coefficient().unwrap()),
    })
}

#[test]
fn rsa_import_takes_only_the_exponent_65537_on_every_path() {
    use base64::Engine as _;
    let api = Api::new();
    let tmp = tempfile::tempdir().unwrap();
    let pem_policy = json!({"secret_props": {"contentType": "application/x-pem-file"}});
    // Every import path: a JWK, a certificate with its key as PKCS#8 PEM, as PKCS#1 PEM,
    // and a PFX.
    let imports = |tag: &str, (key, pkcs1, cert, pfx): &(String, String, String, Vec<u8>)| {
        vec![
            (
                "JWK",
                api.kv(
                    "PUT",
                    &format!("/keys/jwk{tag}"),
                    Some(json!({"key": rsa_jwk(key, None)})),
                ),
            ),
            (
                "PKCS#8 PEM",
                api.kv(
                    "POST",
                    &format!("/certificates/pem{tag}/import"),
                    Some(json!({"value": format!("{key}{cert}"), "policy": pem_policy})),
                ),
            ),
            (
                "PKCS#1 PEM",
                api.kv(
                    "POST",
                    &format!("/certificates/rsa{tag}/import"),
                    Some(json!({"value": format!("{pkcs1}{cert}"), "policy": pem_policy})),
                ),
            ),
            (
                "PFX",
                api.kv(
                    "POST",
                    &format!("/certificates/pfx{tag}/import"),
                    Some(json!({
                        "value": base64::engine::general_purpose::STANDARD.encode(pfx),
                        "pwd": "pw",
                    })),
                ),
            ),
        ]
    };
    let good = openssl_rsa(tmp.path(), 65537);
    for (path, r) in imports("f4", &good) {
        assert!(
            matches!(r.status, 200 | 201),
            "{path}, e = 65537: {} {}",
            r.status,
            r.json
        );
    }
    for e in [3, 17] {
        let bad = openssl_rsa(tmp.path(), e);
        for (path, r) in imports(&format!("e{e}"), &bad) {
            assert_eq!(
                (r.status, r.code()),
                (400, Some("BadParameter")),
                "{path}, e = {e}: {}",
                r.json
            );
            let m = r.message().unwrap();
            assert!(
                m.contains("65537") && m.contains(&format!("e = {e}")),
                "{path}: {m}"
            );
        }
    }
    // Exponents no key generator makes: the rule answers before the arithmetic does.
    for (e, shown) in [
        (&[2u8][..], "2"),
        (&[1], "1"),
        (&[1, 0, 0], "65536"),
        (&[0, 1, 0, 1], "65537"),
    ] {
        let r = api.kv(
            "PUT",
            &format!("/keys/odd{shown}"),
            Some(json!({"key": rsa_jwk(&good.0, Some(e))})),
        );
        if shown == "65537" {
            // A leading zero byte is the same number.
            assert_eq!(r.status, 200, "{}", r.json);
            continue;
        }
        assert_eq!(
            (r.status, r.code()),
            (400, Some("BadParameter")),
            "e = {shown}: {}",
            r.json
        );
        assert!(
            r.message().unwrap().contains(&format!("e = {shown}")),
            "{}",
            r.json
        );
    }
    // Nothing refused was stored.
    let keys = api.kv("GET", "/keys", None).json;
    let names: Vec<&str> = keys["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().rsplit('/').next().unwrap())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.contains("e3") && !n.contains("e17")),
        "{names:?}"
    );
}
