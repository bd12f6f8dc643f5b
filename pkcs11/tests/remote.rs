//! The module beside a running `localhsm serve`: the server holds the data directory, so the
//! module goes through it (the Key Vault REST API, as the store's owner). Keys made through
//! PKCS#11 sign, and the server's REST verify accepts the signatures; keys made through REST
//! sign through PKCS#11, and independent code (RustCrypto's p256 and rsa) verifies them with
//! the public key REST gives. AES keys of a Managed HSM are listed with their length and
//! used across the two (AES-GCM and CBC-PAD output of one side decrypts on the other;
//! aes-gcm and aes-kw check imported and unwrapped keys). PINs, policy and soft delete hold
//! across the two.
//!
//! Needs the `localhsm` binary: `LOCALHSM_BIN`, else `localhsm` in the target directory
//! (`cargo build --release -p localhsm`; CI builds it before these tests).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cryptoki::context::Pkcs11;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use localhsm::model::access::OWNER_OID;
use localhsm::model::VaultKind;
use serde_json::{json, Value};
use sha2::Digest as _;

mod support;
use support::{rv, P256_PARAMS, USER_PIN};

const MASTER_KEY: &str = "0909090909090909090909090909090909090909090909090909090909090909";

fn target_dir() -> PathBuf {
    // target/<profile>/deps/remote-<hash>
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
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
        let store = support::open_store(dir.path(), MASTER_KEY);
        support::token(&store, "default", VaultKind::Vault);
        store.set_access_log("default", true, None).unwrap();
        // A Managed HSM holds the oct (AES) keys; a vault of kind `vault` refuses them.
        support::token(&store, "hsm", VaultKind::ManagedHsm);
    }
    let server = Server::start(dir.path());
    support::configure(dir.path(), MASTER_KEY);

    let p = support::initialized();
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
        // CKM_RSA_PKCS over a SHA-1 DigestInfo: the server's RSNULL signs it as given.
        let sha1_info = [
            &[
                0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
                0x14,
            ][..],
            &[0x5e; 20],
        ]
        .concat();
        let raw = s.sign(&Mechanism::RsaPkcs, handles[0], &sha1_info).unwrap();
        pk.verify(rsa::Pkcs1v15Sign::new_unprefixed(), &sha1_info, &raw)
            .expect("rsa verifies the server's RSNULL signature");
        let public = find(&s, ObjectClass::PUBLIC_KEY, "rest-rsa");
        s.verify(&Mechanism::RsaPkcs, public[0], &sha1_info, &raw)
            .unwrap();
        assert_eq!(
            rv(s.verify(&Mechanism::RsaPkcs, public[0], &sha1_info[1..], &raw)),
            RvError::SignatureInvalid
        );
        // An application calling from an async runtime's thread, where reqwest's blocking
        // client must not block: the module sends from a thread of its own.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let again = runtime
            .block_on(async { s.sign(&Mechanism::Sha256RsaPkcs, handles[0], b"message") })
            .expect("C_Sign from inside an async runtime");
        assert_eq!(again, sig, "PKCS#1 v1.5 is deterministic");
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

    // A vault of kind `vault` holds no oct keys: refused as in process.
    assert_eq!(
        rv(s.generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::ValueLen(32u64.into()),
                Attribute::Label(b"no-aes-here".to_vec()),
            ],
        )),
        RvError::TemplateInconsistent
    );
    assert_eq!(
        rv(s.create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(cryptoki::object::KeyType::AES),
            Attribute::Value(vec![1; 16]),
            Attribute::Label(b"no-aes-here".to_vec()),
        ])),
        RvError::TemplateInconsistent
    );
    assert_eq!(server.kv("GET", "/keys/no-aes-here", None).0, 404);

    aes_keys_through_the_server(&p, &server);

    drop(s);
    let _ = p.finalize();
    drop(server);
}

/// AES keys of a Managed HSM through the server: made by PKCS#11 and by REST, listed with
/// their length (from the owner-only `pkcs11-keys` route), and used across the two; AES-GCM
/// and CBC-PAD output of one side decrypts on the other, and keys imported or unwrapped
/// through the server hold the bytes an independent implementation (aes-gcm, aes-kw) used.
fn aes_keys_through_the_server(p: &Pkcs11, server: &Server) {
    use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
    use cryptoki::mechanism::aead::GcmParams;
    use cryptoki::object::{AttributeType, KeyType};

    let hsm = |method: &str, path: &str, body: Option<Value>| {
        server.call(method, "hsm.localhost", path, body, "dev-token")
    };
    let slot = p
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| p.get_token_info(*s).unwrap().label() == "hsm")
        .expect("the vault `hsm` is a token");
    assert_eq!(p.get_token_info(slot).unwrap().model(), "managedhsm");
    assert!(p
        .get_mechanism_list(slot)
        .unwrap()
        .contains(&cryptoki::mechanism::MechanismType::AES_KEY_GEN));
    let s = p.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&AuthPin::new(USER_PIN.into())))
        .unwrap();
    let value_len = |h: ObjectHandle| match s
        .get_attributes(h, &[AttributeType::ValueLen])
        .unwrap()
        .as_slice()
    {
        [Attribute::ValueLen(n)] => u64::from(*n),
        other => panic!("CKA_VALUE_LEN: {other:?}"),
    };
    let gcm_iv = [5u8; 12];
    let aad = b"header";
    // cryptoki's GcmParams borrows the IV mutably: each use takes its own copy.
    fn gcm<'a>(iv: &'a mut [u8; 12], aad: &'a [u8]) -> Mechanism<'a> {
        Mechanism::AesGcm(GcmParams::new(iv, aad, 128u64.into()).unwrap())
    }

    // C_GenerateKey through the server: an oct-HSM key of 256 bits, listed as 32 bytes.
    let made = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::ValueLen(32u64.into()),
                Attribute::Label(b"p11-aes".to_vec()),
                Attribute::Token(true),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
            ],
        )
        .unwrap();
    assert_eq!(value_len(made), 32);
    let (status, key) = hsm("GET", "/keys/p11-aes", None);
    assert_eq!(status, 200, "{key}");
    assert_eq!(key["key"]["kty"], "oct-HSM");
    let version = kid_version(&key);
    let found = find(&s, ObjectClass::SECRET_KEY, "p11-aes");
    assert_eq!(found.len(), 1);
    assert_eq!(value_len(found[0]), 32);

    // AES-GCM by the module (ciphertext then tag), decrypted by the server's REST.
    let gcm_to_rest = |key: ObjectHandle, path: &str, alg: &str, message: &[u8]| {
        let mut iv = gcm_iv;
        let ct = s.encrypt(&gcm(&mut iv, aad), key, message).unwrap();
        assert_eq!(ct.len(), message.len() + 16);
        let (body, tag) = ct.split_at(ct.len() - 16);
        let (status, plain) = hsm(
            "POST",
            &format!("{path}/decrypt"),
            Some(json!({
                "alg": alg, "value": b64(body), "iv": b64(&gcm_iv),
                "tag": b64(tag), "aad": b64(aad),
            })),
        );
        assert_eq!(status, 200, "{plain}");
        assert_eq!(unb64(&plain["value"]), message);
    };

    // AES-GCM by the module, decrypted by the server's REST; and the reverse.
    gcm_to_rest(
        found[0],
        &format!("/keys/p11-aes/{version}"),
        "A256GCM",
        b"gcm via p11",
    );
    let (status, enc) = hsm(
        "POST",
        &format!("/keys/p11-aes/{version}/encrypt"),
        Some(json!({ "alg": "A256GCM", "value": b64(b"gcm via rest"), "aad": b64(aad) })),
    );
    assert_eq!(status, 200, "{enc}");
    let mut rest_iv: [u8; 12] = unb64(&enc["iv"]).try_into().expect("a 96-bit IV");
    let mut joined = unb64(&enc["value"]);
    joined.extend(unb64(&enc["tag"]));
    assert_eq!(
        s.decrypt(&gcm(&mut rest_iv, aad), found[0], &joined)
            .unwrap(),
        b"gcm via rest"
    );
    joined[0] ^= 1;
    assert_eq!(
        rv(s.decrypt(&gcm(&mut rest_iv, aad), found[0], &joined)),
        RvError::EncryptedDataInvalid
    );
    // CBC-PAD by the module, decrypted by REST.
    let cbc_iv = [9u8; 16];
    let ct = s
        .encrypt(&Mechanism::AesCbcPad(cbc_iv), found[0], b"cbc via p11")
        .unwrap();
    assert_eq!(ct.len(), 16);
    let (status, plain) = hsm(
        "POST",
        &format!("/keys/p11-aes/{version}/decrypt"),
        Some(json!({ "alg": "A256CBCPAD", "value": b64(&ct), "iv": b64(&cbc_iv) })),
    );
    assert_eq!(status, 200, "{plain}");
    assert_eq!(unb64(&plain["value"]), b"cbc via p11");

    // An oct key made through REST: found by label, 16 bytes, usable both ways.
    let (status, rest_key) = hsm(
        "POST",
        "/keys/rest-aes/create",
        Some(json!({ "kty": "oct-HSM", "key_size": 128 })),
    );
    assert_eq!(status, 200, "{rest_key}");
    let rest_version = kid_version(&rest_key);
    let found = find(&s, ObjectClass::SECRET_KEY, "rest-aes");
    assert_eq!(found.len(), 1);
    assert_eq!(value_len(found[0]), 16);
    gcm_to_rest(
        found[0],
        &format!("/keys/rest-aes/{rest_version}"),
        "A128GCM",
        b"to rest",
    );
    let (status, enc) = hsm(
        "POST",
        &format!("/keys/rest-aes/{rest_version}/encrypt"),
        Some(json!({ "alg": "A128CBCPAD", "value": b64(b"from rest"), "iv": b64(&cbc_iv) })),
    );
    assert_eq!(status, 200, "{enc}");
    assert_eq!(
        s.decrypt(
            &Mechanism::AesCbcPad(cbc_iv),
            found[0],
            &unb64(&enc["value"])
        )
        .unwrap(),
        b"from rest"
    );
    // A key the server does not let out cannot be wrapped here.
    assert_eq!(
        rv(s.wrap_key(&Mechanism::AesKeyWrap, found[0], made)),
        RvError::KeyUnextractable
    );

    // C_CreateObject imports a KEK this test knows (PUT /keys/{name}); aes-gcm under the
    // same bytes decrypts what the module encrypts under it.
    let kek_value = [0x17u8; 32];
    let kek = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(true),
            Attribute::Value(kek_value.to_vec()),
            Attribute::Label(b"p11-kek".to_vec()),
            Attribute::Encrypt(true),
            Attribute::Unwrap(true),
        ])
        .unwrap();
    assert_eq!(value_len(kek), 32);
    let (status, key) = hsm("GET", "/keys/p11-kek", None);
    assert_eq!(status, 200, "{key}");
    assert_eq!(key["key"]["kty"], "oct-HSM");
    let independent = |key: &[u8], ct: &[u8]| {
        aes_gcm::Aes256Gcm::new_from_slice(key)
            .unwrap()
            .decrypt(
                aes_gcm::Nonce::from_slice(&gcm_iv),
                Payload { msg: ct, aad },
            )
            .expect("aes-gcm decrypts the module's output")
    };
    let mut iv = gcm_iv;
    let ct = s
        .encrypt(&gcm(&mut iv, aad), kek, b"under the kek")
        .unwrap();
    assert_eq!(independent(&kek_value, &ct), b"under the kek");

    // C_UnwrapKey: a key wrapped by aes-kw (RFC 3394) under the KEK, unwrapped through the
    // server's unwrapkey into a new key (PUT /keys/{name}) that holds the same bytes.
    let known = [0x42u8; 32];
    let mut blob = [0u8; 40];
    aes_kw::KekAes256::from(kek_value)
        .wrap(&known, &mut blob)
        .unwrap();
    let unwrapped = s
        .unwrap_key(
            &Mechanism::AesKeyWrap,
            kek,
            &blob,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Token(true),
                Attribute::Label(b"p11-unwrapped".to_vec()),
                Attribute::Encrypt(true),
            ],
        )
        .unwrap();
    assert_eq!(value_len(unwrapped), 32);
    let found = find(&s, ObjectClass::SECRET_KEY, "p11-unwrapped");
    assert_eq!(found.len(), 1);
    assert_eq!(value_len(found[0]), 32);
    let mut iv = gcm_iv;
    let ct = s
        .encrypt(&gcm(&mut iv, aad), found[0], b"same key")
        .unwrap();
    assert_eq!(independent(&known, &ct), b"same key");
    let mut garbage = blob;
    garbage[3] ^= 1;
    assert_eq!(
        rv(s.unwrap_key(
            &Mechanism::AesKeyWrap,
            kek,
            &garbage,
            &[Attribute::Label(b"p11-garbage".to_vec())],
        )),
        RvError::WrappedKeyInvalid
    );
    assert_eq!(hsm("GET", "/keys/p11-garbage", None).0, 404);

    // A destroy is the vault's soft delete, for secret keys too.
    s.destroy_object(made).unwrap();
    assert_eq!(hsm("GET", "/keys/p11-aes", None).0, 404);
    assert!(find(&s, ObjectClass::SECRET_KEY, "p11-aes").is_empty());

    // The key-spec route is the owner's alone, like the PINs.
    let path = format!("/management/vaults/hsm/pkcs11-keys/rest-aes/{rest_version}");
    let (status, body) = server.call("GET", "localhost", &path, None, "dev-token");
    assert_eq!(status, 403, "{body}");
    let owner = std::fs::read_to_string(server.dir.join("owner.token")).unwrap();
    let (status, body) = server.call("GET", "localhost", &path, None, owner.trim());
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["kty"], &body["key_size"]),
        (&json!("oct-HSM"), &json!(128))
    );
    let (status, body) = server.call(
        "GET",
        "localhost",
        "/management/vaults/hsm/pkcs11-keys/p11-aes",
        None,
        owner.trim(),
    );
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "KeyNotFound");
    drop(s);
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
