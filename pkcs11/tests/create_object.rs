//! `C_CreateObject` of EC and RSA private keys: the fixed keys of `vectors/*.json` (made by
//! Python cryptography) imported through the module, then used. The public key object the
//! vault derives carries the vector's public key, and RustCrypto verifies the module's
//! signatures with it; bad templates get their `CKR_*`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use localhsm::model::VaultKind;
use serde_json::Value;
use sha2::Digest as _;

mod support;
use support::{rv, P256_PARAMS, USER_PIN};

const MASTER_KEY: &str = "0808080808080808080808080808080808080808080808080808080808080808";

/// A member of `vectors/<file>`'s key `id`, decoded.
fn member(file: &str, id: &str, name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vectors")
        .join(file);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    URL_SAFE_NO_PAD
        .decode(doc["keys"][id][name].as_str().unwrap())
        .unwrap()
}

fn public_of(s: &Session, label: &str) -> ObjectHandle {
    let found = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .unwrap();
    assert_eq!(found.len(), 1, "one public key {label}");
    found[0]
}

fn attr(s: &Session, o: ObjectHandle, ty: AttributeType) -> Vec<u8> {
    match s.get_attributes(o, &[ty]).unwrap().pop() {
        Some(Attribute::EcPoint(v)) | Some(Attribute::Modulus(v)) | Some(Attribute::Id(v)) => v,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn ec_and_rsa_private_keys_are_imported_and_sign() {
    let dir = tempfile::tempdir().unwrap();
    support::token(
        &support::open_store(dir.path(), MASTER_KEY),
        "default",
        VaultKind::ManagedHsm,
    );
    support::configure(dir.path(), MASTER_KEY);
    let p = support::initialized();
    let slot = p.get_slots_with_token().unwrap()[0];
    let s = p.open_rw_session(slot).unwrap();

    let ec = |d: Vec<u8>, params: Vec<u8>| {
        vec![
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::Token(true),
            Attribute::Sign(true),
            Attribute::Label(b"imported-ec".to_vec()),
            Attribute::Id(vec![0x17]),
            Attribute::EcParams(params),
            Attribute::Value(d),
        ]
    };
    let d = member("ecdsa.json", "ec-p256", "d");
    // Only the user imports keys.
    assert_eq!(
        rv(s.create_object(&ec(d.clone(), P256_PARAMS.to_vec()))),
        RvError::UserNotLoggedIn
    );
    s.login(UserType::User, Some(&AuthPin::new(USER_PIN.into())))
        .unwrap();

    let private = s
        .create_object(&ec(d.clone(), P256_PARAMS.to_vec()))
        .unwrap();
    let public = public_of(&s, "imported-ec");
    // CKA_EC_POINT: DER OCTET STRING of 04 || x || y, the vector's public key.
    let mut point = vec![0x04, 0x41, 0x04];
    point.extend(member("ecdsa.json", "ec-p256", "x"));
    point.extend(member("ecdsa.json", "ec-p256", "y"));
    assert_eq!(attr(&s, public, AttributeType::EcPoint), point);
    assert_eq!(attr(&s, private, AttributeType::Id), [0x17]);
    let sig = s
        .sign(&Mechanism::EcdsaSha256, private, b"imported")
        .unwrap();
    {
        use p256::ecdsa::signature::Verifier as _;
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point[2..]).unwrap();
        vk.verify(
            b"imported",
            &p256::ecdsa::Signature::from_slice(&sig).unwrap(),
        )
        .expect("p256 verifies with the vector's public key");
    }

    let rsa_member = |name| member("rsa-oaep.json", "rsa-2048", name);
    let rsa = |with_crt: bool| {
        let mut t = vec![
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Token(true),
            Attribute::Sign(true),
            Attribute::Label(b"imported-rsa".to_vec()),
            Attribute::Modulus(rsa_member("n")),
            Attribute::PublicExponent(rsa_member("e")),
            Attribute::PrivateExponent(rsa_member("d")),
            Attribute::Prime1(rsa_member("p")),
            Attribute::Prime2(rsa_member("q")),
        ];
        if with_crt {
            t.extend([
                Attribute::Exponent1(rsa_member("dp")),
                Attribute::Exponent2(rsa_member("dq")),
                Attribute::Coefficient(rsa_member("qi")),
            ]);
        }
        t
    };
    let private = s.create_object(&rsa(true)).unwrap();
    let public = public_of(&s, "imported-rsa");
    assert_eq!(attr(&s, public, AttributeType::Modulus), rsa_member("n"));
    let sig = s
        .sign(&Mechanism::Sha256RsaPkcs, private, b"imported")
        .unwrap();
    let pk = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&rsa_member("n")),
        rsa::BigUint::from_bytes_be(&rsa_member("e")),
    )
    .unwrap();
    pk.verify(
        rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
        &sha2::Sha256::digest(b"imported"),
        &sig,
    )
    .expect("rsa verifies with the vector's public key");
    // The same label again: a new version, without the CRT values this time.
    s.create_object(&rsa(false)).unwrap();

    // Bad templates.
    assert_eq!(
        rv(s.create_object(&ec(d.clone(), vec![0x06, 0x03, 0x2b, 0x65, 0x70]))),
        RvError::CurveNotSupported
    );
    assert_eq!(
        rv(s.create_object(&ec(vec![0; 32], P256_PARAMS.to_vec()))),
        RvError::AttributeValueInvalid,
        "a zero scalar"
    );
    let mut no_prime = rsa(true);
    no_prime.retain(|a| !matches!(a, Attribute::Prime2(_)));
    assert_eq!(rv(s.create_object(&no_prime)), RvError::TemplateIncomplete);
    let mut wrong_prime = rsa(true);
    for a in wrong_prime.iter_mut() {
        if let Attribute::Prime1(p) = a {
            let last = p.len() - 1;
            p[last] ^= 2;
        }
    }
    assert_eq!(
        rv(s.create_object(&wrong_prime)),
        RvError::AttributeValueInvalid
    );
    assert_eq!(
        rv(s.create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(P256_PARAMS.to_vec()),
            Attribute::EcPoint(point),
        ])),
        RvError::TemplateInconsistent
    );
    let mut extractable = ec(d, P256_PARAMS.to_vec());
    extractable.push(Attribute::Extractable(true));
    assert_eq!(
        rv(s.create_object(&extractable)),
        RvError::TemplateInconsistent
    );
    drop(s);
    let _ = p.finalize();
}
