//! The built module (`liblocalhsm_pkcs11.so`), loaded through the `cryptoki` crate (a
//! PKCS#11 wrapper written elsewhere) and, where the wrapper hides a detail such as the
//! output-buffer convention, through `cryptoki-sys`'s raw function table. Results are
//! checked with independent code: RustCrypto's p256, rsa and aes-gcm.
//!
//! A PKCS#11 module is one per process, so the tests take turns (`serial`).

use std::sync::{Mutex, MutexGuard};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::RvError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{
    Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use localhsm::crypto::pin::hash_pin;
use localhsm::model::{KeyUpdate, TokenPins, VaultKind};
use localhsm::Store;

mod support;
use support::{module_path, rv, P256_PARAMS, SO_PIN, USER_PIN};

const MASTER_KEY: &str = "0707070707070707070707070707070707070707070707070707070707070707";

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// A data directory with the vaults `default` (a Managed HSM) and `kv` (a vault), whose
/// `default` token has both PINs set; the store is closed again before the module opens it.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Fixture::open_store(dir.path());
            support::token(&store, "default", VaultKind::ManagedHsm);
            support::vault(&store, "kv", VaultKind::Vault);
        }
        support::configure(dir.path(), MASTER_KEY);
        Fixture { dir }
    }

    fn open_store(dir: &std::path::Path) -> Store {
        support::open_store(dir, MASTER_KEY)
    }

    fn load(&self) -> Loaded {
        Loaded(Some(support::initialized()))
    }
}

/// The initialized module, finalized when dropped (even when a test fails), so the next
/// test initializes it afresh.
struct Loaded(Option<Pkcs11>);

impl std::ops::Deref for Loaded {
    type Target = Pkcs11;

    fn deref(&self) -> &Pkcs11 {
        self.0.as_ref().unwrap()
    }
}

impl Drop for Loaded {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = p.finalize();
        }
    }
}

fn pin(p: &str) -> AuthPin {
    AuthPin::new(p.into())
}

fn slot_of(p: &Pkcs11, label: &str) -> Slot {
    p.get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| p.get_token_info(*s).unwrap().label() == label)
        .unwrap_or_else(|| panic!("no token {label}"))
}

fn user_session(p: &Pkcs11) -> Session {
    let s = p.open_rw_session(slot_of(p, "default")).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    s
}

fn ec_pair(s: &Session, label: &str, id: &[u8]) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[
            Attribute::EcParams(P256_PARAMS.to_vec()),
            Attribute::Token(true),
            Attribute::Verify(true),
        ],
        &[
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
            Attribute::Sign(true),
            Attribute::Sensitive(true),
        ],
    )
    .unwrap()
}

fn bytes_attr(s: &Session, o: ObjectHandle, ty: AttributeType) -> Vec<u8> {
    match s.get_attributes(o, &[ty]).unwrap().pop() {
        Some(Attribute::EcPoint(v))
        | Some(Attribute::EcParams(v))
        | Some(Attribute::Modulus(v))
        | Some(Attribute::PublicExponent(v))
        | Some(Attribute::Label(v))
        | Some(Attribute::Id(v)) => v,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn vaults_are_tokens_and_login_takes_the_pins() {
    let _g = serial();
    let f = Fixture::new();
    let p = f.load();
    let info = p.get_library_info().unwrap();
    assert_eq!(info.manufacturer_id(), "localhsm");
    let slots = p.get_slots_with_token().unwrap();
    let labels: Vec<String> = slots
        .iter()
        .map(|s| p.get_token_info(*s).unwrap().label().to_string())
        .collect();
    assert_eq!(labels, ["default", "kv"]);

    let default = p.get_token_info(slot_of(&p, "default")).unwrap();
    assert!(default.token_initialized() && default.user_pin_initialized());
    assert_eq!(default.model(), "managedhsm");
    let kv = slot_of(&p, "kv");
    assert!(!p.get_token_info(kv).unwrap().token_initialized());
    // A vault of kind `vault` holds no AES keys, and its token says so.
    let hsm_mechs = p.get_mechanism_list(slot_of(&p, "default")).unwrap();
    let kv_mechs = p.get_mechanism_list(kv).unwrap();
    assert!(hsm_mechs.contains(&MechanismType::AES_GCM));
    assert!(!kv_mechs.contains(&MechanismType::AES_GCM));
    assert!(kv_mechs.contains(&MechanismType::ECDSA_SHA256));
    assert_eq!(
        rv(p.get_mechanism_info(kv, MechanismType::AES_KEY_GEN)),
        RvError::MechanismInvalid
    );

    // Login needs the right PIN; the user PIN of a fresh token is not set.
    let s = p.open_ro_session(kv).unwrap();
    assert_eq!(
        rv(s.login(UserType::User, Some(&pin(USER_PIN)))),
        RvError::UserPinNotInitialized
    );
    drop(s);
    // The token label is the vault's name: nothing else initializes it.
    assert_eq!(
        rv(p.init_token(kv, &pin(SO_PIN), "other")),
        RvError::ArgumentsBad
    );
    p.init_token(kv, &pin(SO_PIN), "kv").unwrap();
    assert!(p.get_token_info(kv).unwrap().token_initialized());
    // Reinitializing needs the SO PIN it has.
    assert_eq!(
        rv(p.init_token(kv, &pin("wrong-pin"), "kv")),
        RvError::PinIncorrect
    );
    let so = p.open_rw_session(kv).unwrap();
    so.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    so.init_pin(&pin("first-pin")).unwrap();
    so.logout().unwrap();
    assert_eq!(
        rv(so.login(UserType::User, Some(&pin("wrong-pin")))),
        RvError::PinIncorrect
    );
    assert_eq!(
        rv(so.login(UserType::User, Some(&pin("ab")))),
        RvError::PinIncorrect
    );
    so.login(UserType::User, Some(&pin("first-pin"))).unwrap();
    assert_eq!(
        rv(so.login(UserType::User, Some(&pin("first-pin")))),
        RvError::UserAlreadyLoggedIn
    );
    so.set_pin(&pin("first-pin"), &pin("second-pin")).unwrap();
    assert_eq!(
        rv(so.set_pin(&pin("second-pin"), &pin("no"))),
        RvError::PinLenRange
    );
    so.logout().unwrap();
    so.login(UserType::User, Some(&pin("second-pin"))).unwrap();
    drop(so);
    drop(p);

    // The PINs were stored as hashes in the vault's record, never as themselves.
    let store = Fixture::open_store(f.dir.path());
    let pins = store.token_pins("kv").unwrap();
    let user = pins.user.unwrap();
    assert!(user.starts_with("pbkdf2-sha256$") && !user.contains("second-pin"));
}

#[test]
fn keys_are_objects_found_by_template_and_sign_and_verify() {
    let _g = serial();
    let f = Fixture::new();
    let p = f.load();
    let s = user_session(&p);
    let (public, private) = ec_pair(&s, "ec-signer", &[0xab, 0xcd]);

    // Found by label, by ID, by class; the pair shares label and ID.
    let by_label = s
        .find_objects(&[Attribute::Label(b"ec-signer".to_vec())])
        .unwrap();
    assert_eq!(by_label.len(), 2);
    let by_class = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(vec![0xab, 0xcd]),
        ])
        .unwrap();
    assert_eq!(by_class, [private]);
    assert!(s
        .find_objects(&[Attribute::Label(b"nothing".to_vec())])
        .unwrap()
        .is_empty());
    assert_eq!(bytes_attr(&s, public, AttributeType::EcParams), P256_PARAMS);
    assert_eq!(bytes_attr(&s, public, AttributeType::Id), [0xab, 0xcd]);
    // The private value never leaves (CKR_ATTRIBUTE_SENSITIVE, which the wrapper reports
    // per attribute; the raw test below checks the code itself).
    let info = s
        .get_attribute_info(private, &[AttributeType::Value, AttributeType::Modulus])
        .unwrap();
    assert!(matches!(
        info.as_slice(),
        [AttributeInfo::Sensitive, AttributeInfo::TypeInvalid]
    ));
    let attrs = s
        .get_attributes(
            private,
            &[
                AttributeType::Sign,
                AttributeType::Decrypt,
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::KeyType,
            ],
        )
        .unwrap();
    assert_eq!(
        attrs,
        [
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::KeyType(KeyType::EC),
        ]
    );

    // CKM_ECDSA signs a digest; RustCrypto's p256 verifies it with CKA_EC_POINT.
    let message = b"signed through PKCS#11";
    let digest = localhsm::crypto::HashAlg::Sha256.digest(message);
    let signature = s.sign(&Mechanism::Ecdsa, private, &digest).unwrap();
    assert_eq!(signature.len(), 64);
    let point = bytes_attr(&s, public, AttributeType::EcPoint);
    assert_eq!(&point[..3], [0x04, 0x41, 0x04]);
    use p256::ecdsa::signature::Verifier as _;
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point[2..]).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&signature).unwrap();
    vk.verify(message, &sig).unwrap();

    // CKM_ECDSA_SHA256 in parts, verified by the module and by p256.
    s.sign_init(&Mechanism::EcdsaSha256, private).unwrap();
    s.sign_update(b"signed through ").unwrap();
    s.sign_update(b"PKCS#11").unwrap();
    let parts = s.sign_final().unwrap();
    vk.verify(
        message,
        &p256::ecdsa::Signature::from_slice(&parts).unwrap(),
    )
    .unwrap();
    s.verify(&Mechanism::EcdsaSha256, public, message, &parts)
        .unwrap();
    let mut bad = parts.clone();
    bad[10] ^= 1;
    assert_eq!(
        rv(s.verify(&Mechanism::EcdsaSha256, public, message, &bad)),
        RvError::SignatureInvalid
    );
    assert_eq!(
        rv(s.verify(&Mechanism::EcdsaSha256, public, message, &bad[..63])),
        RvError::SignatureLenRange
    );
    // A public key does not sign, an EC key does not do RSA.
    assert_eq!(
        rv(s.sign(&Mechanism::Ecdsa, public, &digest)),
        RvError::KeyFunctionNotPermitted
    );
    assert_eq!(
        rv(s.sign(&Mechanism::Sha256RsaPkcs, private, message)),
        RvError::KeyTypeInconsistent
    );

    // RSA: PKCS#1 v1.5 and PSS signatures, OAEP encryption, checked by RustCrypto's rsa.
    let (rsa_pub, rsa_priv) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::ModulusBits(2048u64.into()),
                Attribute::PublicExponent(vec![1, 0, 1]),
            ],
            &[Attribute::Label(b"rsa-signer".to_vec())],
        )
        .unwrap();
    let n = bytes_attr(&s, rsa_pub, AttributeType::Modulus);
    let e = bytes_attr(&s, rsa_pub, AttributeType::PublicExponent);
    let key = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&n),
        rsa::BigUint::from_bytes_be(&e),
    )
    .unwrap();
    let pkcs1 = s
        .sign(&Mechanism::Sha256RsaPkcs, rsa_priv, message)
        .unwrap();
    key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest, &pkcs1)
        .unwrap();
    // CKM_RSA_PKCS pads what it is given: a SHA-256 DigestInfo gives the bytes above
    // (PKCS#1 v1.5 is deterministic); a SHA-1 DigestInfo (pkcs11-tool --test signs one)
    // and TLS 1.0's 36-byte MD5+SHA-1 are signed as given, and RustCrypto checks both.
    let sha256_info = [
        &rsa::Pkcs1v15Sign::new::<sha2::Sha256>().prefix[..],
        &digest,
    ]
    .concat();
    assert_eq!(
        s.sign(&Mechanism::RsaPkcs, rsa_priv, &sha256_info).unwrap(),
        pkcs1
    );
    let sha1_info = [
        &[
            0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
            0x14,
        ][..],
        &[0xa5; 20],
    ]
    .concat();
    for data in [&sha1_info[..], &[0x3c; 36][..], &[0x01; 245][..]] {
        let sig = s.sign(&Mechanism::RsaPkcs, rsa_priv, data).unwrap();
        key.verify(rsa::Pkcs1v15Sign::new_unprefixed(), data, &sig)
            .unwrap();
        s.verify(&Mechanism::RsaPkcs, rsa_pub, data, &sig).unwrap();
        let mut bad = sig.clone();
        bad[0] ^= 0x40;
        assert_eq!(
            rv(s.verify(&Mechanism::RsaPkcs, rsa_pub, data, &bad)),
            RvError::SignatureInvalid
        );
    }
    // At most the modulus length less 11 bytes of padding.
    assert_eq!(
        rv(s.sign(&Mechanism::RsaPkcs, rsa_priv, &[0x01; 246])),
        RvError::DataLenRange
    );
    let pss = PkcsPssParams {
        hash_alg: MechanismType::SHA256,
        mgf: PkcsMgfType::MGF1_SHA256,
        s_len: 32u64.into(),
    };
    let pss_sig = s
        .sign(&Mechanism::Sha256RsaPkcsPss(pss), rsa_priv, message)
        .unwrap();
    key.verify(rsa::Pss::new::<sha2::Sha256>(), &digest, &pss_sig)
        .unwrap();
    // A salt length Key Vault does not use is refused, not replaced.
    let odd = PkcsPssParams {
        s_len: 20u64.into(),
        ..pss
    };
    assert_eq!(
        rv(s.sign(&Mechanism::Sha256RsaPkcsPss(odd), rsa_priv, message)),
        RvError::MechanismParamInvalid
    );
    let oaep = PkcsOaepParams::new(
        MechanismType::SHA256,
        PkcsMgfType::MGF1_SHA256,
        PkcsOaepSource::empty(),
    );
    let mut rng = rand_core::OsRng;
    let ct = key
        .encrypt(&mut rng, rsa::Oaep::new::<sha2::Sha256>(), b"a secret")
        .unwrap();
    let pt = s
        .decrypt(&Mechanism::RsaPkcsOaep(oaep), rsa_priv, &ct)
        .unwrap();
    assert_eq!(pt, b"a secret");

    // A logged-out session sees public objects only.
    s.logout().unwrap();
    let visible = s.find_objects(&[]).unwrap();
    assert!(visible.contains(&public) && visible.contains(&rsa_pub));
    assert!(!visible.contains(&private) && !visible.contains(&rsa_priv));
    assert_eq!(
        rv(s.sign(&Mechanism::Ecdsa, private, &digest)),
        RvError::KeyHandleInvalid
    );
}

#[test]
fn aes_keys_encrypt_and_unwrap_into_the_vault() {
    let _g = serial();
    let f = Fixture::new();
    let p = f.load();
    let s = user_session(&p);
    let aes = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::ValueLen(32u64.into()),
                Attribute::Label(b"aes-key".to_vec()),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
            ],
        )
        .unwrap();
    let mut iv = [3u8; 12];
    let gcm = Mechanism::AesGcm(GcmParams::new(&mut iv, b"header", 128u64.into()).unwrap());
    let ct = s.encrypt(&gcm, aes, b"gcm plaintext").unwrap();
    assert_eq!(ct.len(), 13 + 16);
    assert_eq!(s.decrypt(&gcm, aes, &ct).unwrap(), b"gcm plaintext");
    let mut tampered = ct.clone();
    tampered[0] ^= 1;
    assert_eq!(
        rv(s.decrypt(&gcm, aes, &tampered)),
        RvError::EncryptedDataInvalid
    );
    let cbc = Mechanism::AesCbcPad([9u8; 16]);
    let ct = s.encrypt(&cbc, aes, b"cbc plaintext").unwrap();
    assert_eq!(ct.len(), 16);
    assert_eq!(s.decrypt(&cbc, aes, &ct).unwrap(), b"cbc plaintext");
    // Keys made here are never extractable: C_WrapKey says so.
    assert_eq!(
        rv(s.wrap_key(&Mechanism::AesKeyWrap, aes, aes)),
        RvError::KeyUnextractable
    );

    // Unwrap with RSA-OAEP: an AES key this test knows, wrapped by RustCrypto's rsa under
    // the token's public key, becomes a key of the vault; AES-GCM by the module under it
    // decrypts with aes-gcm under the known key.
    let (rsa_pub, rsa_priv) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[Attribute::ModulusBits(2048u64.into())],
            &[Attribute::Label(b"rsa-unwrapper".to_vec())],
        )
        .unwrap();
    let n = bytes_attr(&s, rsa_pub, AttributeType::Modulus);
    let key = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&n),
        rsa::BigUint::from(65537u32),
    )
    .unwrap();
    let known = [0x42u8; 32];
    let wrapped = key
        .encrypt(
            &mut rand_core::OsRng,
            rsa::Oaep::new::<sha2::Sha256>(),
            &known,
        )
        .unwrap();
    let oaep = PkcsOaepParams::new(
        MechanismType::SHA256,
        PkcsMgfType::MGF1_SHA256,
        PkcsOaepSource::empty(),
    );
    let unwrapped = s
        .unwrap_key(
            &Mechanism::RsaPkcsOaep(oaep),
            rsa_priv,
            &wrapped,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Label(b"unwrapped".to_vec()),
                Attribute::Encrypt(true),
            ],
        )
        .unwrap();
    let ct = s.encrypt(&gcm, unwrapped, b"under the known key").unwrap();
    use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(&known).unwrap();
    let plain = cipher
        .decrypt(
            aes_gcm::Nonce::from_slice(&[3u8; 12]),
            Payload {
                msg: &ct,
                aad: b"header",
            },
        )
        .unwrap();
    assert_eq!(plain, b"under the known key");
    let mut garbage = wrapped.clone();
    garbage[5] ^= 1;
    assert_eq!(
        rv(s.unwrap_key(
            &Mechanism::RsaPkcsOaep(oaep),
            rsa_priv,
            &garbage,
            &[Attribute::Class(ObjectClass::SECRET_KEY)]
        )),
        RvError::WrappedKeyInvalid
    );

    // Unwrap with AES key wrap (RFC 3394) under a key imported with C_CreateObject.
    let kek_value = [0x17u8; 16];
    let kek = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Value(kek_value.to_vec()),
            Attribute::Label(b"kek".to_vec()),
            Attribute::Unwrap(true),
        ])
        .unwrap();
    let mut blob = [0u8; 40];
    aes_kw::KekAes128::from(kek_value)
        .wrap(&known, &mut blob)
        .unwrap();
    let second = s
        .unwrap_key(
            &Mechanism::AesKeyWrap,
            kek,
            &blob,
            &[
                Attribute::Label(b"from-kw".to_vec()),
                Attribute::Encrypt(true),
            ],
        )
        .unwrap();
    let ct = s.encrypt(&gcm, second, b"same key").unwrap();
    assert_eq!(
        cipher
            .decrypt(
                aes_gcm::Nonce::from_slice(&[3u8; 12]),
                Payload {
                    msg: &ct,
                    aad: b"header"
                }
            )
            .unwrap(),
        b"same key"
    );
}

#[test]
fn destroy_is_the_vaults_soft_delete_and_policy_applies() {
    let _g = serial();
    let f = Fixture::new();
    {
        // A key disabled through the core refuses to sign through PKCS#11.
        let store = Fixture::open_store(f.dir.path());
        let vault = store.vault("default").unwrap();
        let b = vault
            .create_key(
                "disabled",
                localhsm::crypto::KeyType::EcHsm,
                localhsm::KeySpec::Ec(localhsm::crypto::CurveName::P256),
                Default::default(),
            )
            .unwrap();
        vault
            .update_key(
                "disabled",
                Some(&b.version),
                KeyUpdate {
                    enabled: Some(false),
                    ..Default::default()
                },
            )
            .unwrap();
    }
    let p = f.load();
    let s = user_session(&p);
    let found = s
        .find_objects(&[
            Attribute::Label(b"disabled".to_vec()),
            Attribute::Class(ObjectClass::PRIVATE_KEY),
        ])
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        rv(s.sign(&Mechanism::Ecdsa, found[0], &[1u8; 32])),
        RvError::KeyFunctionNotPermitted
    );

    let (public, private) = ec_pair(&s, "short-lived", &[1]);
    s.destroy_object(private).unwrap();
    // Both halves are gone: the key was soft-deleted with all its versions.
    assert!(s
        .find_objects(&[Attribute::Label(b"short-lived".to_vec())])
        .unwrap()
        .is_empty());
    assert_eq!(
        rv(s.get_attributes(public, &[AttributeType::Label])),
        RvError::ObjectHandleInvalid
    );
    // Its name stays taken until it is recovered or purged.
    assert_eq!(
        rv(s.generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::EcParams(P256_PARAMS.to_vec())],
            &[Attribute::Label(b"short-lived".to_vec())],
        )),
        RvError::AttributeValueInvalid
    );
    drop(s);
    drop(p);
    let store = Fixture::open_store(f.dir.path());
    let deleted = store
        .vault("default")
        .unwrap()
        .get_deleted_key("short-lived")
        .unwrap();
    assert!(deleted.deletion.scheduled_purge_date > deleted.deletion.deleted_date);
}

#[test]
fn sessions_work_from_many_threads() {
    let _g = serial();
    let f = Fixture::new();
    let p = f.load();
    let s = user_session(&p);
    let (public, private) = ec_pair(&s, "shared", &[7]);
    std::thread::scope(|scope| {
        for t in 0..4u8 {
            let p = &p;
            scope.spawn(move || {
                let s = p.open_ro_session(slot_of(p, "default")).unwrap();
                for i in 0..5u8 {
                    let msg = [t, i];
                    let sig = s.sign(&Mechanism::EcdsaSha256, private, &msg).unwrap();
                    s.verify(&Mechanism::EcdsaSha256, public, &msg, &sig)
                        .unwrap();
                }
            });
        }
    });
}

#[test]
fn a_configuration_file_names_the_store_and_its_master_key() {
    let _g = serial();
    let f = Fixture::new();
    let conf_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        conf_dir.path().join("master.hex"),
        format!("{MASTER_KEY}\n"),
    )
    .unwrap();
    let conf = conf_dir.path().join("localhsm-pkcs11.conf");
    std::fs::write(
        &conf,
        format!(
            "# the store\ndata = {}\nmaster_key_file = master.hex\n",
            f.dir.path().display()
        ),
    )
    .unwrap();
    // Neither the environment's data directory nor its master key is used.
    std::env::set_var("LOCALHSM_DATA", conf_dir.path().join("elsewhere"));
    std::env::remove_var("LOCALHSM_MASTER_KEY");
    std::env::set_var("LOCALHSM_PKCS11_CONF", &conf);
    let p = f.load();
    assert_eq!(p.get_slots_with_token().unwrap().len(), 2);
    drop(p);
    assert!(!conf_dir.path().join("elsewhere").exists());

    // A wrong key, or a file that does not parse, fails C_Initialize.
    std::fs::write(conf_dir.path().join("master.hex"), "11".repeat(32)).unwrap();
    let p = Pkcs11::new(module_path()).unwrap();
    let args = CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK);
    assert_eq!(rv(p.initialize(args)), RvError::DeviceError);
    std::fs::write(&conf, "colour = blue\n").unwrap();
    assert_eq!(rv(p.initialize(args)), RvError::GeneralError);
    std::env::remove_var("LOCALHSM_PKCS11_CONF");
}

#[test]
fn a_store_held_elsewhere_fails_initialize_clearly() {
    let _g = serial();
    let f = Fixture::new();
    let held = Fixture::open_store(f.dir.path());
    let p = Pkcs11::new(module_path()).unwrap();
    let start = std::time::Instant::now();
    assert_eq!(
        rv(p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))),
        RvError::DeviceError
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    drop(held);
}

/// The raw function table, for what the wrapper hides.
mod raw {
    use super::*;
    use cryptoki_sys::*;

    struct Lib(cryptoki_sys::Pkcs11);

    impl Lib {
        fn list(&self) -> CK_FUNCTION_LIST {
            let mut list: *mut CK_FUNCTION_LIST = std::ptr::null_mut();
            // SAFETY: the module's C_GetFunctionList writes a pointer to its static table.
            let rv = unsafe { self.0.C_GetFunctionList(&mut list) };
            assert_eq!(rv, CKR_OK);
            // SAFETY: the table is static and valid for the life of the library.
            unsafe { *list }
        }
    }

    #[test]
    fn the_output_buffer_convention_and_error_codes_hold() {
        let _g = serial();
        let f = Fixture::new();
        // SAFETY: loading the module runs no initialization code beyond Rust statics.
        let lib = Lib(unsafe { cryptoki_sys::Pkcs11::new(module_path()) }.unwrap());
        let l = lib.list();
        assert_eq!((l.version.major, l.version.minor), (2, 40));
        // SAFETY (for every call below): the arguments are valid pointers of the sizes
        // given, or deliberately NULL where the test checks that the module refuses them.
        unsafe {
            let not_yet = l.C_GetSlotList.unwrap()(CK_TRUE, std::ptr::null_mut(), &mut 0);
            assert_eq!(not_yet, CKR_CRYPTOKI_NOT_INITIALIZED);
            assert_eq!(l.C_Initialize.unwrap()(std::ptr::null_mut()), CKR_OK);
            assert_eq!(
                l.C_Initialize.unwrap()(std::ptr::null_mut()),
                CKR_CRYPTOKI_ALREADY_INITIALIZED
            );

            // Slot list: NULL asks the length, short gets BUFFER_TOO_SMALL and the length.
            let mut n: CK_ULONG = 0;
            assert_eq!(
                l.C_GetSlotList.unwrap()(CK_TRUE, std::ptr::null_mut(), &mut n),
                CKR_OK
            );
            assert_eq!(n, 2);
            let mut slots = [0 as CK_SLOT_ID; 2];
            let mut short: CK_ULONG = 1;
            assert_eq!(
                l.C_GetSlotList.unwrap()(CK_TRUE, slots.as_mut_ptr(), &mut short),
                CKR_BUFFER_TOO_SMALL
            );
            assert_eq!(short, 2);
            assert_eq!(
                l.C_GetSlotList.unwrap()(CK_TRUE, slots.as_mut_ptr(), &mut n),
                CKR_OK
            );
            assert_eq!(
                l.C_GetSlotList.unwrap()(CK_TRUE, slots.as_mut_ptr(), std::ptr::null_mut()),
                CKR_ARGUMENTS_BAD
            );

            let mut h: CK_SESSION_HANDLE = 0;
            let flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
            assert_eq!(
                l.C_OpenSession.unwrap()(slots[0], flags, std::ptr::null_mut(), None, &mut h),
                CKR_OK
            );
            assert_eq!(
                l.C_OpenSession.unwrap()(
                    slots[0],
                    CKF_RW_SESSION,
                    std::ptr::null_mut(),
                    None,
                    &mut h
                ),
                CKR_SESSION_PARALLEL_NOT_SUPPORTED
            );
            let mut pin = USER_PIN.as_bytes().to_vec();
            assert_eq!(
                l.C_Login.unwrap()(h, CKU_USER, pin.as_mut_ptr(), pin.len() as CK_ULONG),
                CKR_OK
            );
            assert_eq!(
                l.C_Login.unwrap()(h, CKU_USER, std::ptr::null_mut(), 4),
                CKR_ARGUMENTS_BAD
            );

            // An EC key pair, then C_Sign under the convention.
            let mut params = P256_PARAMS.to_vec();
            let mut label = b"raw".to_vec();
            let mut public_t = [CK_ATTRIBUTE {
                type_: CKA_EC_PARAMS,
                pValue: params.as_mut_ptr() as *mut _,
                ulValueLen: params.len() as CK_ULONG,
            }];
            let mut private_t = [CK_ATTRIBUTE {
                type_: CKA_LABEL,
                pValue: label.as_mut_ptr() as *mut _,
                ulValueLen: label.len() as CK_ULONG,
            }];
            let mut mech = CK_MECHANISM {
                mechanism: CKM_EC_KEY_PAIR_GEN,
                pParameter: std::ptr::null_mut(),
                ulParameterLen: 0,
            };
            let (mut public, mut private) = (0, 0);
            assert_eq!(
                l.C_GenerateKeyPair.unwrap()(
                    h,
                    &mut mech,
                    public_t.as_mut_ptr(),
                    1,
                    private_t.as_mut_ptr(),
                    1,
                    &mut public,
                    &mut private
                ),
                CKR_OK
            );
            let mut sign = CK_MECHANISM {
                mechanism: CKM_ECDSA_SHA256,
                pParameter: std::ptr::null_mut(),
                ulParameterLen: 0,
            };

            // Template values of a length no value of theirs can have are refused before
            // they are read (pkcs11-check declares 0xFFFFFFFF over a few bytes): a CK_BBOOL
            // of 8 bytes, a label longer than 1 MiB (both buffers real, so a regression
            // reads only what is there). CKA_ALWAYS_AUTHENTICATE, which needs a
            // context-specific login the module lacks, is refused rather than dropped.
            let mut eight = [CK_TRUE; 8];
            let mut huge = vec![b'x'; (1 << 20) + 1];
            let mut yes = CK_TRUE;
            for (ty, p, len) in [
                (CKA_TOKEN, eight.as_mut_ptr(), 8),
                (CKA_LABEL, huge.as_mut_ptr(), huge.len()),
                (CKA_ALWAYS_AUTHENTICATE, &mut yes as *mut u8, 1),
            ] {
                let mut bad_t = [CK_ATTRIBUTE {
                    type_: ty,
                    pValue: p as *mut _,
                    ulValueLen: len as CK_ULONG,
                }];
                let (mut bad_public, mut bad_private) = (0, 0);
                assert_eq!(
                    l.C_GenerateKeyPair.unwrap()(
                        h,
                        &mut mech,
                        public_t.as_mut_ptr(),
                        1,
                        bad_t.as_mut_ptr(),
                        1,
                        &mut bad_public,
                        &mut bad_private
                    ),
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    "attribute {ty:#x} of length {len}"
                );
            }
            // A key whose CKA_SIGN is false is refused at C_SignInit, as PKCS#11 asks.
            let mut no = CK_FALSE;
            let mut verify_only_t = [CK_ATTRIBUTE {
                type_: CKA_SIGN,
                pValue: &mut no as *mut u8 as *mut _,
                ulValueLen: 1,
            }];
            let (mut vo_public, mut vo_private) = (0, 0);
            assert_eq!(
                l.C_GenerateKeyPair.unwrap()(
                    h,
                    &mut mech,
                    public_t.as_mut_ptr(),
                    1,
                    verify_only_t.as_mut_ptr(),
                    1,
                    &mut vo_public,
                    &mut vo_private
                ),
                CKR_OK
            );
            assert_eq!(
                l.C_SignInit.unwrap()(h, &mut sign, vo_private),
                CKR_KEY_FUNCTION_NOT_PERMITTED
            );
            assert_eq!(l.C_SignInit.unwrap()(h, &mut sign, private), CKR_OK);
            assert_eq!(
                l.C_SignInit.unwrap()(h, &mut sign, private),
                CKR_OPERATION_ACTIVE
            );
            let mut data = b"raw data".to_vec();
            let mut len: CK_ULONG = 0;
            let sign_fn = l.C_Sign.unwrap();
            assert_eq!(
                sign_fn(h, data.as_mut_ptr(), 8, std::ptr::null_mut(), &mut len),
                CKR_OK
            );
            assert_eq!(len, 64);
            let mut sig = [0u8; 64];
            let mut short: CK_ULONG = 10;
            assert_eq!(
                sign_fn(h, data.as_mut_ptr(), 8, sig.as_mut_ptr(), &mut short),
                CKR_BUFFER_TOO_SMALL
            );
            assert_eq!(short, 64);
            assert_eq!(
                sign_fn(h, data.as_mut_ptr(), 8, sig.as_mut_ptr(), &mut len),
                CKR_OK
            );
            // Delivered: the operation is over.
            assert_eq!(
                sign_fn(h, data.as_mut_ptr(), 8, sig.as_mut_ptr(), &mut len),
                CKR_OPERATION_NOT_INITIALIZED
            );
            let mut verify = sign;
            assert_eq!(l.C_VerifyInit.unwrap()(h, &mut verify, public), CKR_OK);
            assert_eq!(
                l.C_Verify.unwrap()(h, data.as_mut_ptr(), 8, sig.as_mut_ptr(), 64),
                CKR_OK
            );

            // C_GetAttributeValue: per attribute, the others still filled in.
            let mut small = [0u8; 2];
            let mut class: CK_ULONG = 0;
            let mut attrs = [
                CK_ATTRIBUTE {
                    type_: CKA_LABEL,
                    pValue: small.as_mut_ptr() as *mut _,
                    ulValueLen: 2,
                },
                CK_ATTRIBUTE {
                    type_: CKA_CLASS,
                    pValue: &mut class as *mut CK_ULONG as *mut _,
                    ulValueLen: std::mem::size_of::<CK_ULONG>() as CK_ULONG,
                },
                CK_ATTRIBUTE {
                    type_: CKA_VALUE,
                    pValue: std::ptr::null_mut(),
                    ulValueLen: 0,
                },
                CK_ATTRIBUTE {
                    type_: CKA_MODULUS,
                    pValue: std::ptr::null_mut(),
                    ulValueLen: 0,
                },
            ];
            let rv = l.C_GetAttributeValue.unwrap()(h, private, attrs.as_mut_ptr(), 4);
            assert_eq!(rv, CKR_BUFFER_TOO_SMALL);
            assert_eq!(attrs[0].ulValueLen, CK_ULONG::MAX);
            assert_eq!((class, attrs[1].ulValueLen), (CKO_PRIVATE_KEY, 8));
            assert_eq!(attrs[2].ulValueLen, CK_ULONG::MAX);
            assert_eq!(attrs[3].ulValueLen, CK_ULONG::MAX);
            let rv = l.C_GetAttributeValue.unwrap()(h, private, attrs[2..].as_mut_ptr(), 1);
            assert_eq!(rv, CKR_ATTRIBUTE_SENSITIVE);
            let mut label_len = [CK_ATTRIBUTE {
                type_: CKA_LABEL,
                pValue: std::ptr::null_mut(),
                ulValueLen: 0,
            }];
            assert_eq!(
                l.C_GetAttributeValue.unwrap()(h, private, label_len.as_mut_ptr(), 1),
                CKR_OK
            );
            assert_eq!(label_len[0].ulValueLen, 3);

            // What is not implemented says so.
            assert_eq!(
                l.C_DigestKey.unwrap()(h, private),
                CKR_FUNCTION_NOT_SUPPORTED
            );
            assert_eq!(
                l.C_EncryptUpdate.unwrap()(h, data.as_mut_ptr(), 8, std::ptr::null_mut(), &mut len),
                CKR_FUNCTION_NOT_SUPPORTED
            );
            let mut digest = CK_MECHANISM {
                mechanism: CKM_MD5,
                pParameter: std::ptr::null_mut(),
                ulParameterLen: 0,
            };
            assert_eq!(
                l.C_DigestInit.unwrap()(h, &mut digest),
                CKR_MECHANISM_INVALID
            );
            digest.mechanism = CKM_SHA384;
            assert_eq!(l.C_DigestInit.unwrap()(h, &mut digest), CKR_OK);
            let mut out = [0u8; 48];
            let mut out_len: CK_ULONG = 48;
            assert_eq!(
                l.C_Digest.unwrap()(h, data.as_mut_ptr(), 8, out.as_mut_ptr(), &mut out_len),
                CKR_OK
            );
            assert_eq!(
                out.to_vec(),
                localhsm::crypto::HashAlg::Sha384.digest(b"raw data")
            );
            assert_eq!(l.C_CloseSession.unwrap()(h), CKR_OK);
            assert_eq!(l.C_CloseSession.unwrap()(h), CKR_SESSION_HANDLE_INVALID);

            // PKCS#11 3.0: two interfaces, 3.0 first.
            let mut count: CK_ULONG = 0;
            assert_eq!(
                lib.0.C_GetInterfaceList(std::ptr::null_mut(), &mut count),
                CKR_OK
            );
            assert_eq!(count, 2);
            let mut interface: *mut CK_INTERFACE = std::ptr::null_mut();
            let mut v3 = CK_VERSION { major: 3, minor: 0 };
            assert_eq!(
                lib.0
                    .C_GetInterface(std::ptr::null_mut(), &mut v3, &mut interface, 0),
                CKR_OK
            );
            let list3 = *((*interface).pFunctionList as *const CK_FUNCTION_LIST_3_0);
            assert_eq!((list3.version.major, list3.version.minor), (3, 0));
            assert_eq!(
                list3.C_LoginUser.unwrap()(
                    0,
                    CKU_USER,
                    std::ptr::null_mut(),
                    0,
                    std::ptr::null_mut(),
                    0
                ),
                CKR_FUNCTION_NOT_SUPPORTED
            );
            assert_eq!(l.C_Finalize.unwrap()(std::ptr::null_mut()), CKR_OK);
        }
        drop(f);
    }
}

#[test]
fn certificates_and_secrets_are_certificate_and_data_objects() {
    use localhsm::model::certificates::{
        CertificateKeyProperties, CertificateOptions, CertificatePolicy, X509Properties,
    };
    use localhsm::model::SecretOptions;

    let _g = serial();
    let f = Fixture::new();
    let (der, version) = {
        let store = Fixture::open_store(f.dir.path());
        let pins = TokenPins {
            so: Some(hash_pin(SO_PIN.as_bytes()).unwrap()),
            user: Some(hash_pin(USER_PIN.as_bytes()).unwrap()),
        };
        store.set_token_pins("kv", pins).unwrap();
        let vault = store.vault("kv").unwrap();
        let policy = CertificatePolicy {
            key_props: Some(CertificateKeyProperties {
                kty: Some(localhsm::crypto::KeyType::Ec),
                ..Default::default()
            }),
            x509_props: Some(X509Properties {
                subject: Some("CN=web.example.test, O=Contoso".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        vault
            .create_certificate("web", policy, CertificateOptions::default())
            .unwrap();
        vault
            .set_secret(
                "db-password",
                localhsm::crypto::SecretString::new("hunter2-but-longer".into()),
                SecretOptions::default(),
            )
            .unwrap();
        let c = vault.get_certificate("web", None).unwrap();
        (c.cer.unwrap(), c.version)
    };
    let p = f.load();
    let s = p.open_rw_session(slot_of(&p, "kv")).unwrap();

    // Before login: the certificate is public, the secret is not even found.
    let certs = s
        .find_objects(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::Label(b"web".to_vec()),
        ])
        .unwrap();
    assert_eq!(certs.len(), 1);
    let cert = certs[0];
    let attrs = s
        .get_attributes(
            cert,
            &[
                AttributeType::Value,
                AttributeType::CertificateType,
                AttributeType::Subject,
                AttributeType::Issuer,
                AttributeType::SerialNumber,
                AttributeType::Private,
                AttributeType::Trusted,
                AttributeType::Token,
            ],
        )
        .unwrap();
    let (value, subject, issuer, serial) = match &attrs[..] {
        [Attribute::Value(v), Attribute::CertificateType(t), Attribute::Subject(sub), Attribute::Issuer(iss), Attribute::SerialNumber(sn), Attribute::Private(false), Attribute::Trusted(false), Attribute::Token(true)] =>
        {
            assert_eq!(*t, cryptoki::object::CertificateType::X_509);
            (v.clone(), sub.clone(), iss.clone(), sn.clone())
        }
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(value, der);
    let (_, parsed) = x509_parser::parse_x509_certificate(&value).unwrap();
    let tbs = &parsed.tbs_certificate;
    assert_eq!(subject, tbs.subject.as_raw());
    // Self-signed: the issuer is the subject.
    assert_eq!(issuer, tbs.subject.as_raw());
    assert!(tbs.subject.to_string().contains("CN=web.example.test"));
    // CKA_SERIAL_NUMBER is the DER INTEGER: tag, length, then the serial's octets.
    assert_eq!(serial[0], 0x02);
    assert_eq!(serial[1] as usize, serial.len() - 2);
    assert_eq!(&serial[2..], tbs.raw_serial());
    assert_eq!(
        s.find_objects(&[Attribute::Class(ObjectClass::DATA)])
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        s.get_attributes(cert, &[AttributeType::Modulus]).unwrap(),
        Vec::<Attribute>::new(),
        "an attribute the object lacks is left out"
    );
    // A certificate is no key.
    assert_eq!(
        rv(s.sign(&Mechanism::Ecdsa, cert, &[1u8; 32])),
        RvError::KeyHandleInvalid
    );

    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    // The certificate's CKA_ID is its private key's, so tools pair them.
    let id = bytes_attr(&s, cert, AttributeType::Id);
    assert_eq!(id, hex::decode(&version).unwrap());
    let keys = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(id.clone()),
        ])
        .unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(bytes_attr(&s, keys[0], AttributeType::Label), b"web");

    let data = s
        .find_objects(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Label(b"db-password".to_vec()),
        ])
        .unwrap();
    assert_eq!(data.len(), 1);
    match &s
        .get_attributes(
            data[0],
            &[
                AttributeType::Value,
                AttributeType::Application,
                AttributeType::Private,
                AttributeType::Modifiable,
            ],
        )
        .unwrap()[..]
    {
        [Attribute::Value(v), Attribute::Application(app), Attribute::Private(true), Attribute::Modifiable(false)] =>
        {
            assert_eq!(v, b"hunter2-but-longer");
            assert_eq!(app, b"localhsm");
        }
        other => panic!("unexpected {other:?}"),
    }
    // The certificate's own secret (its key and chain) is a data object too, and the vault
    // refuses to delete it apart from its certificate.
    let managed = s
        .find_objects(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Label(b"web".to_vec()),
        ])
        .unwrap();
    assert_eq!(managed.len(), 1);
    assert_eq!(rv(s.destroy_object(managed[0])), RvError::ActionProhibited);
    assert_eq!(rv(s.destroy_object(keys[0])), RvError::ActionProhibited);

    // Destroying them is the vault's soft delete.
    s.destroy_object(data[0]).unwrap();
    s.destroy_object(cert).unwrap();
    assert!(s
        .find_objects(&[Attribute::Label(b"db-password".to_vec())])
        .unwrap()
        .is_empty());
    assert!(s
        .find_objects(&[Attribute::Label(b"web".to_vec())])
        .unwrap()
        .is_empty());
    drop(s);
    drop(p);
    let store = Fixture::open_store(f.dir.path());
    let vault = store.vault("kv").unwrap();
    vault.get_deleted_secret("db-password").unwrap();
    vault.get_deleted_certificate("web").unwrap();
}

#[test]
fn in_process_operations_are_in_the_vaults_access_log_as_the_owners() {
    let _g = serial();
    let f = Fixture::new();
    {
        let store = Fixture::open_store(f.dir.path());
        store.set_access_log("default", true, None).unwrap();
        let vault = store.vault("default").unwrap();
        let b = vault
            .create_key(
                "off",
                localhsm::crypto::KeyType::EcHsm,
                localhsm::KeySpec::Ec(localhsm::crypto::CurveName::P256),
                Default::default(),
            )
            .unwrap();
        let off = KeyUpdate {
            enabled: Some(false),
            ..Default::default()
        };
        vault.update_key("off", Some(&b.version), off).unwrap();
    }
    let p = f.load();
    let s = user_session(&p);
    let (_, private) = ec_pair(&s, "logged", &[7]);
    s.sign(&Mechanism::Ecdsa, private, &[3u8; 32]).unwrap();
    // A refused operation is logged as the failure the server would answer.
    let off = s
        .find_objects(&[
            Attribute::Label(b"off".to_vec()),
            Attribute::Class(ObjectClass::PRIVATE_KEY),
        ])
        .unwrap();
    assert_eq!(
        rv(s.sign(&Mechanism::Ecdsa, off[0], &[3u8; 32])),
        RvError::KeyFunctionNotPermitted
    );
    drop(s);
    drop(p);
    let store = Fixture::open_store(f.dir.path());
    let log = store
        .access_log("default", &localhsm::audit::LogQuery::default())
        .unwrap();
    let ops: Vec<(&str, &str, u16)> = log
        .iter()
        .map(|r| {
            (
                r.operation_name.as_str(),
                r.identity.claim.oid.as_deref().unwrap_or_default(),
                r.http_status_code,
            )
        })
        .collect();
    assert!(
        ops.contains(&("KeyCreate", localhsm::model::access::OWNER_OID, 200)),
        "{ops:?}"
    );
    let sign = log
        .iter()
        .find(|r| r.operation_name == "KeySign")
        .unwrap_or_else(|| panic!("no KeySign in {ops:?}"));
    assert_eq!(sign.http_status_code, 200);
    assert!(
        sign.resource_id.starts_with("/keys/logged/"),
        "{}",
        sign.resource_id
    );
    let refused = log
        .iter()
        .find(|r| r.operation_name == "KeySign" && r.resource_id.starts_with("/keys/off/"))
        .unwrap_or_else(|| panic!("no refused KeySign in {ops:?}"));
    assert_eq!(refused.http_status_code, 403);
    assert_eq!(refused.result_type, "Failure");
    assert!(
        sign.identity
            .claim
            .upn
            .as_deref()
            .is_some_and(|u| u.ends_with("@localhost")),
        "{:?}",
        sign.identity.claim.upn
    );
}
