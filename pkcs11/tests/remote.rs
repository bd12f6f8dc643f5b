//! The module beside a running `localhsm serve`: the server holds the data directory, so the
//! module goes through it (the Key Vault REST API, as the store's owner). Keys made through
//! PKCS#11 sign, and the server's REST verify accepts the signatures; keys made through REST
//! sign through PKCS#11, and independent code (RustCrypto's p256 and rsa) verifies them with
//! the public key REST gives. PINs, policy and soft delete hold across the two.
//!
//! Needs the `localhsm` binary: `LOCALHSM_BIN`, else `localhsm` in the target directory
//! (`cargo build --release -p localhsm`; CI builds it before these tests).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use localhsm::crypto::pin::hash_pin;
use localhsm::model::access::OWNER_OID;
use localhsm::model::{TokenPins, VaultKind, VaultOptions};
use localhsm::{MasterKeySource, Store};
use serde_json::{json, Value};
use sha2::Digest as _;

const MASTER_KEY: &str = "0909090909090909090909090909090909090909090909090909090909090909";
const SO_PIN: &str = "so-secret";
const USER_PIN: &str = "user-1234";
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

fn target_dir() -> PathBuf {
    // target/<profile>/deps/remote-<hash>
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

fn module_path() -> PathBuf {
    if let Some(p) = std::env::var_os("LOCALHSM_PKCS11_MODULE") {
        return p.into();
    }
    let path = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .join("liblocalhsm_pkcs11.so");
    assert!(path.exists(), "{} was not built", path.display());
    path
}

fn localhsm_bin() -> PathBuf {
    let path = std::env::var_os("LOCALHSM_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("localhsm"));
    assert!(
        path.exists(),
        "{} does not exist: build it (cargo build --release -p localhsm) or set LOCALHSM_BIN",
        path.display()
    );
    path
}

/// `localhsm serve` on `dir`, killed when dropped.
struct Server {
    child: std::process::Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Server {
    fn start(dir: &Path) -> Server {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(localhsm_bin())
            .args(["serve", "--addr", "127.0.0.1:0", "--data"])
            .arg(dir)
            .env("LOCALHSM_MASTER_KEY", MASTER_KEY)
            .env_remove("LOCALHSM_DATA")
            .env_remove("LOCALHSM_TOKEN")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start localhsm serve");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("localhsm listening on https://") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let addr = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the server announces its address")
            .parse()
            .expect("an address");
        let server = Server {
            child,
            addr,
            dir: dir.to_path_buf(),
        };
        // The files the module reads, written as the server starts.
        for _ in 0..500 {
            if dir.join("server.json").exists() && dir.join("owner.token").exists() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the server wrote no server.json and owner.token");
    }

    /// A REST call to the vault `default` as a dev-mode caller (any bearer token).
    fn kv(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(method, "default.localhost", path, body, "dev-token")
    }

    fn call(
        &self,
        method: &str,
        host: &str,
        path: &str,
        body: Option<Value>,
        token: &str,
    ) -> (u16, Value) {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let pem = std::fs::read(self.dir.join("tls").join("cert.pem")).expect("CA certificate");
        let client = reqwest::blocking::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
            .resolve(host, self.addr)
            .no_proxy()
            .build()
            .unwrap();
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = format!(
            "https://{host}:{}{path}{sep}api-version=7.5",
            self.addr.port()
        );
        let mut req = client
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().expect("the server answers");
        let status = resp.status().as_u16();
        let bytes = resp.bytes().unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(v: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(v.as_str().expect("a base64url string"))
        .unwrap()
}

fn rv<T: std::fmt::Debug>(r: Result<T, Error>) -> RvError {
    match r {
        Err(Error::Pkcs11(rv, _)) => rv,
        other => panic!("expected a PKCS#11 error, got {other:?}"),
    }
}

fn find(s: &Session, class: ObjectClass, label: &str) -> Vec<ObjectHandle> {
    s.find_objects(&[
        Attribute::Class(class),
        Attribute::Label(label.as_bytes().to_vec()),
    ])
    .unwrap()
}

#[test]
fn through_a_running_server_keys_cross_between_pkcs11_and_rest() {
    let dir = tempfile::tempdir().unwrap();
    {
        let key = localhsm::store::parse_master_key(MASTER_KEY).unwrap();
        let store = Store::open(dir.path(), MasterKeySource::Bytes(key)).unwrap();
        store
            .create_vault(
                "default",
                VaultOptions {
                    kind: VaultKind::Vault,
                    ..Default::default()
                },
            )
            .unwrap();
        let pins = TokenPins {
            so: Some(hash_pin(SO_PIN.as_bytes()).unwrap()),
            user: Some(hash_pin(USER_PIN.as_bytes()).unwrap()),
        };
        store.set_token_pins("default", pins).unwrap();
        store.set_access_log("default", true, None).unwrap();
    }
    let server = Server::start(dir.path());
    std::env::remove_var("LOCALHSM_PKCS11_CONF");
    std::env::set_var("LOCALHSM_DATA", dir.path());
    std::env::set_var("LOCALHSM_MASTER_KEY", MASTER_KEY);

    let p = Pkcs11::new(module_path()).unwrap();
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("the module initializes beside the server");
    let slot = p
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| p.get_token_info(*s).unwrap().label() == "default")
        .expect("the vault `default` is a token");
    let info = p.get_token_info(slot).unwrap();
    assert!(info.token_initialized() && info.user_pin_initialized());
    assert_eq!(info.model(), "vault");

    let s = p.open_rw_session(slot).unwrap();
    // The PINs come from the vault record through the server; a wrong one is refused.
    assert_eq!(
        rv(s.login(UserType::User, Some(&AuthPin::new("wrong-pin".into())))),
        RvError::PinIncorrect
    );
    s.login(UserType::User, Some(&AuthPin::new(USER_PIN.into())))
        .unwrap();
    let digest = sha2::Sha256::digest(b"signed through the server").to_vec();

    // PKCS#11 makes a key; REST sees it and verifies its signature.
    let (public, private) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::EcParams(P256_PARAMS.to_vec()),
                Attribute::Token(true),
                Attribute::Verify(true),
            ],
            &[
                Attribute::Label(b"p11-made".to_vec()),
                Attribute::Id(vec![0x42]),
                Attribute::Sign(true),
            ],
        )
        .unwrap();
    let sig = s.sign(&Mechanism::Ecdsa, private, &digest).unwrap();
    assert_eq!(sig.len(), 64);
    let (status, key) = server.kv("GET", "/keys/p11-made", None);
    assert_eq!(status, 200, "{key}");
    assert_eq!(key["key"]["crv"], "P-256");
    assert_eq!(key["tags"]["pkcs11-id"], "42");
    let version = kid_version(&key);
    // The server logged the module's signature as the store owner's call.
    let (status, log) = server.kv("GET", "/management/vaults/default/accesslog", None);
    assert_eq!(status, 200, "{log}");
    let signed_here = log["value"].as_array().unwrap().iter().any(|r| {
        r["operationName"] == "KeySign"
            && r["resultType"] == "Success"
            && r["requestUri"]
                .as_str()
                .unwrap()
                .contains("/keys/p11-made/")
            && r["identity"].to_string().contains(OWNER_OID)
    });
    assert!(signed_here, "no KeySign record of the owner in {log}");
    let (status, verified) = server.kv(
        "POST",
        &format!("/keys/p11-made/{version}/verify"),
        Some(json!({ "alg": "ES256", "digest": b64(&digest), "value": b64(&sig) })),
    );
    assert_eq!((status, &verified["value"]), (200, &json!(true)));
    // And the other way: REST signs, the module verifies with the public key object.
    let (status, signed) = server.kv(
        "POST",
        &format!("/keys/p11-made/{version}/sign"),
        Some(json!({ "alg": "ES256", "value": b64(&digest) })),
    );
    assert_eq!(status, 200, "{signed}");
    let rest_sig = unb64(&signed["value"]);
    s.verify(&Mechanism::Ecdsa, public, &digest, &rest_sig)
        .expect("the module verifies the server's signature");
    let mut bad = rest_sig.clone();
    bad[10] ^= 1;
    assert_eq!(
        rv(s.verify(&Mechanism::Ecdsa, public, &digest, &bad)),
        RvError::SignatureInvalid
    );

    // REST makes keys; the module finds them and signs; RustCrypto verifies with the public
    // key REST returns.
    let (status, ec) = server.kv(
        "POST",
        "/keys/rest-ec/create",
        Some(json!({ "kty": "EC", "crv": "P-256", "key_ops": ["sign", "verify"] })),
    );
    assert_eq!(status, 200, "{ec}");
    let handles = find(&s, ObjectClass::PRIVATE_KEY, "rest-ec");
    assert_eq!(handles.len(), 1);
    let sig = s
        .sign(&Mechanism::EcdsaSha256, handles[0], b"message")
        .unwrap();
    {
        use p256::ecdsa::signature::Verifier as _;
        let mut point = vec![4u8];
        point.extend(unb64(&ec["key"]["x"]));
        point.extend(unb64(&ec["key"]["y"]));
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
        let sig = p256::ecdsa::Signature::from_slice(&sig).unwrap();
        vk.verify(b"message", &sig)
            .expect("p256 verifies the module's signature");
    }
    let (status, rsa_key) = server.kv(
        "POST",
        "/keys/rest-rsa/create",
        Some(json!({ "kty": "RSA", "key_size": 2048 })),
    );
    assert_eq!(status, 200, "{rsa_key}");
    let handles = find(&s, ObjectClass::PRIVATE_KEY, "rest-rsa");
    assert_eq!(handles.len(), 1);
    let sig = s
        .sign(&Mechanism::Sha256RsaPkcs, handles[0], b"message")
        .unwrap();
    {
        let n = rsa::BigUint::from_bytes_be(&unb64(&rsa_key["key"]["n"]));
        let e = rsa::BigUint::from_bytes_be(&unb64(&rsa_key["key"]["e"]));
        let pk = rsa::RsaPublicKey::new(n, e).unwrap();
        pk.verify(
            rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            &sha2::Sha256::digest(b"message"),
            &sig,
        )
        .expect("rsa verifies the module's signature");
    }

    // C_CreateObject imports a private key through the server (PUT /keys/{name}).
    let vector: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors/ecdsa.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let vector = &vector["keys"]["ec-p256"];
    let imported = s
        .create_object(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(cryptoki::object::KeyType::EC),
            Attribute::Token(true),
            Attribute::Sign(true),
            Attribute::Label(b"p11-imported".to_vec()),
            Attribute::EcParams(P256_PARAMS.to_vec()),
            Attribute::Value(unb64(&vector["d"])),
        ])
        .unwrap();
    let (status, key) = server.kv("GET", "/keys/p11-imported", None);
    assert_eq!(status, 200, "{key}");
    assert_eq!(key["key"]["x"], vector["x"]);
    assert_eq!(key["key"]["kty"], "EC");
    let sig = s.sign(&Mechanism::Ecdsa, imported, &digest).unwrap();
    let (status, verified) = server.kv(
        "POST",
        &format!("/keys/p11-imported/{}/verify", kid_version(&key)),
        Some(json!({ "alg": "ES256", "digest": b64(&digest), "value": b64(&sig) })),
    );
    assert_eq!((status, &verified["value"]), (200, &json!(true)));

    // The server's policy applies: a key disabled through REST refuses to sign here.
    let (status, _) = server.kv(
        "PATCH",
        &format!("/keys/rest-ec/{}", kid_version(&ec)),
        Some(json!({ "attributes": { "enabled": false } })),
    );
    assert_eq!(status, 200);
    let handles = find(&s, ObjectClass::PRIVATE_KEY, "rest-ec");
    assert_eq!(
        rv(s.sign(&Mechanism::Ecdsa, handles[0], &digest)),
        RvError::KeyFunctionNotPermitted
    );

    // A destroy is the vault's soft delete.
    s.destroy_object(private).unwrap();
    assert_eq!(server.kv("GET", "/keys/p11-made", None).0, 404);
    let (status, deleted) = server.kv("GET", "/deletedkeys/p11-made", None);
    assert_eq!(status, 200, "{deleted}");
    assert!(find(&s, ObjectClass::PRIVATE_KEY, "p11-made").is_empty());

    // C_SetPIN writes the new hash through the owner-only route; the new PIN logs in.
    s.set_pin(
        &AuthPin::new(USER_PIN.into()),
        &AuthPin::new("user-5678".into()),
    )
    .unwrap();
    s.logout().unwrap();
    assert_eq!(
        rv(s.login(UserType::User, Some(&AuthPin::new(USER_PIN.into())))),
        RvError::PinIncorrect
    );
    s.login(UserType::User, Some(&AuthPin::new("user-5678".into())))
        .unwrap();

    // The PIN hashes are the owner's alone: another caller is refused, even in dev mode.
    let (status, body) = server.call(
        "GET",
        "localhost",
        "/management/vaults/default/pkcs11-pins",
        None,
        "dev-token",
    );
    assert_eq!(status, 403, "{body}");
    let owner = std::fs::read_to_string(dir.path().join("owner.token")).unwrap();
    let (status, pins) = server.call(
        "GET",
        "localhost",
        "/management/vaults/default/pkcs11-pins",
        None,
        owner.trim(),
    );
    assert_eq!(status, 200, "{pins}");
    assert!(pins["user"]
        .as_str()
        .is_some_and(|h| h.starts_with("pbkdf2-sha256$")));
    let (status, body) = server.call(
        "PUT",
        "localhost",
        "/management/vaults/default/pkcs11-pins",
        Some(json!({ "so": "not-a-hash", "user": null })),
        owner.trim(),
    );
    assert_eq!(status, 400, "{body}");

    drop(s);
    let _ = p.finalize();
    drop(server);
}

/// The version at the end of a bundle's `kid`.
fn kid_version(bundle: &Value) -> String {
    bundle["key"]["kid"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}
