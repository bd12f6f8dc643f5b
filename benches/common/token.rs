//! PKCS#11 through the `cryptoki` crate, shared by the benchmarks that drive a PKCS#11 module:
//! a SoftHSM2 token confined to a temporary directory, and its keys made from the fixed JWKs
//! of `vectors/*.json`.

use std::path::{Path, PathBuf};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use localhsm::crypto::Jwk;

use super::{public, secret};

/// DER of the OID of P-256 (prime256v1), a `CKA_EC_PARAMS` value.
pub const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// DER of the OID of P-384 (secp384r1).
pub const P384_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
/// DER of the OID of secp256k1.
pub const P256K_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];

/// Where Debian and Ubuntu install SoftHSM2.
pub const DEFAULT_SOFTHSM_LIB: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The key a benchmark wraps and unwraps: 32 bytes, an AES-256 data key.
pub const DATA_KEY: [u8; 32] = [0x5a; 32];
/// DER prefix of a SHA-256 DigestInfo (RFC 8017 9.2, note 1).
pub const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// SoftHSM2: `LOCALHSM_BENCH_SOFTHSM_LIB`, else [`DEFAULT_SOFTHSM_LIB`].
pub fn softhsm_library() -> PathBuf {
    std::env::var_os("LOCALHSM_BENCH_SOFTHSM_LIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOFTHSM_LIB))
}

/// A token in a temporary directory, initialized, with a logged-in user session.
pub fn softhsm_session(lib: &Path, tokens: &Path) -> cryptoki::error::Result<(Pkcs11, Session)> {
    let conf = tokens.join("softhsm2.conf");
    let tokendir = tokens.join("tokens");
    std::fs::create_dir_all(&tokendir).expect("token dir");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokendir.display()
        ),
    )
    .expect("softhsm2.conf");
    // Read by SoftHSM2 in C_Initialize; set before any other thread exists.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let pkcs11 = Pkcs11::new(lib)?;
    pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
    // The token is (re)initialized below: only do that to SoftHSM2, which SOFTHSM2_CONF
    // has confined to the temporary directory. Another module's first token would be wiped.
    let info = pkcs11.get_library_info()?;
    if !info.manufacturer_id().contains("SoftHSM") {
        return Err(cryptoki::error::Error::NotSupported);
    }
    let slot = pkcs11.get_slots_with_token()?[0];
    let so_pin = AuthPin::new("bench-so".into());
    let user_pin = AuthPin::new("bench-user".into());
    pkcs11.init_token(slot, &so_pin, "localhsm-bench")?;
    {
        let so = pkcs11.open_rw_session(slot)?;
        so.login(UserType::So, Some(&so_pin))?;
        so.init_pin(&user_pin)?;
    }
    let session = pkcs11.open_rw_session(slot)?;
    session.login(UserType::User, Some(&user_pin))?;
    Ok((pkcs11, session))
}

/// Creates a session key object, private to the logged-in user and sensitive, of `class` and
/// `key_type` with the further `attributes`.
pub fn session_key(
    s: &Session,
    class: ObjectClass,
    key_type: KeyType,
    attributes: impl IntoIterator<Item = Attribute>,
) -> cryptoki::error::Result<ObjectHandle> {
    let mut template = vec![
        Attribute::Class(class),
        Attribute::KeyType(key_type),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(true),
    ];
    template.extend(attributes);
    s.create_object(&template)
}

/// An EC private key from a JWK on the curve `oid_der` (DER of its OID), as a session object.
pub fn ec_key(s: &Session, jwk: &Jwk, oid_der: &[u8]) -> cryptoki::error::Result<ObjectHandle> {
    session_key(
        s,
        ObjectClass::PRIVATE_KEY,
        KeyType::EC,
        [
            Attribute::Sign(true),
            Attribute::EcParams(oid_der.to_vec()),
            Attribute::Value(secret(&jwk.d, "d").to_vec()),
        ],
    )
}

/// An RSA private key from a JWK, as a session object.
pub fn rsa_key(s: &Session, jwk: &Jwk) -> cryptoki::error::Result<ObjectHandle> {
    session_key(
        s,
        ObjectClass::PRIVATE_KEY,
        KeyType::RSA,
        [
            Attribute::Sign(true),
            Attribute::Decrypt(true),
            Attribute::Modulus(public(&jwk.n, "n")),
            Attribute::PublicExponent(public(&jwk.e, "e")),
            Attribute::PrivateExponent(secret(&jwk.d, "d").to_vec()),
            Attribute::Prime1(secret(&jwk.p, "p").to_vec()),
            Attribute::Prime2(secret(&jwk.q, "q").to_vec()),
            Attribute::Exponent1(secret(&jwk.dp, "dp").to_vec()),
            Attribute::Exponent2(secret(&jwk.dq, "dq").to_vec()),
            Attribute::Coefficient(secret(&jwk.qi, "qi").to_vec()),
        ],
    )
}

/// An AES key from a JWK, as a session object.
pub fn aes_key(s: &Session, jwk: &Jwk) -> cryptoki::error::Result<ObjectHandle> {
    session_key(
        s,
        ObjectClass::SECRET_KEY,
        KeyType::AES,
        [
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(true),
            Attribute::Unwrap(true),
            Attribute::Value(secret(&jwk.k, "k").to_vec()),
        ],
    )
}
