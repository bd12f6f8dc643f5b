//! The hot-path operations on SoftHSM2 through PKCS#11 (the `cryptoki` crate), with the same
//! fixed keys as `hot_paths`, for comparison: `sign/<ALG>[-<bits>]/softhsm` and
//! `unwrap/<ALG>[-<bits>]/softhsm`, in ops/s, next to `hot_paths`' `.../handle` results in
//! `target/criterion`.
//!
//! Runs when `/usr/lib/softhsm/libsofthsm2.so` exists (or the library named by
//! `LOCALHSM_BENCH_SOFTHSM_LIB`); otherwise it says why it skips and exits successfully.
//! The token lives in a temporary directory (`SOFTHSM2_CONF` points at a generated
//! configuration), so the system's tokens are never touched. One session, one thread.
//!
//! What each PKCS#11 call is, so that it matches Key Vault's operation:
//! - ES*: `CKM_ECDSA` over the digest (raw `r||s` out, as Key Vault returns).
//! - RS256: `CKM_RSA_PKCS` over `DigestInfo(SHA-256) || digest`.
//! - PS256: `CKM_RSA_PKCS_PSS` over the digest, SHA-256, MGF1-SHA-256, salt 32.
//! - RSA-OAEP / RSA-OAEP-256: `C_Decrypt` with `CKM_RSA_PKCS_OAEP` (SHA-1 / SHA-256).
//! - A256KW: `C_Decrypt` with `CKM_AES_KEY_WRAP` if the token allows it, else `C_UnwrapKey`
//!   to an extractable session object, `C_GetAttributeValue(CKA_VALUE)`, `C_DestroyObject`
//!   (the key bytes back to the caller, as Key Vault's unwrap returns them).

mod common;

use std::hint::black_box;

use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::Session;

use common::token::{
    aes_key, ec_key, rsa_key, softhsm_library, softhsm_session, DATA_KEY, P256K_OID, P256_OID,
    P384_OID, SHA256_DIGEST_INFO,
};
use common::{public, secret};

/// Benchmarks `op` as `<group>/<id>/softhsm` if one trial call succeeds; says why not
/// otherwise.
fn bench_if_supported<T>(
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    group: &str,
    id: &str,
    op: impl Fn() -> cryptoki::error::Result<T>,
) {
    match op() {
        Ok(_) => {
            g.bench_function(BenchmarkId::new(id, "softhsm"), |b| {
                b.iter(|| black_box(op().expect("softhsm operation")))
            });
        }
        Err(e) => eprintln!("softhsm: {group}/{id}: not supported by this token ({e}); skipped"),
    }
}

fn run(c: &mut Criterion, s: &Session) -> cryptoki::error::Result<()> {
    let digest256 = common::digest(32);
    let digest384 = common::digest(48);

    let mut g = c.benchmark_group("sign");
    g.throughput(Throughput::Elements(1));
    let curves: [(&str, &str, &[u8], &[u8]); 3] = [
        ("ES256", "ec-p256", P256_OID, &digest256),
        ("ES384", "ec-p384", P384_OID, &digest384),
        ("ES256K", "ec-p256k", P256K_OID, &digest256),
    ];
    for (name, id, oid, digest) in curves {
        let key = ec_key(s, &common::vector_jwk("ecdsa.json", id), oid)?;
        bench_if_supported(&mut g, "sign", name, || {
            s.sign(&Mechanism::Ecdsa, key, digest)
        });
    }
    let mut rsa_keys = Vec::new();
    for bits in [2048, 3072] {
        let key = rsa_key(
            s,
            &common::vector_jwk("rsa-oaep.json", &format!("rsa-{bits}")),
        )?;
        rsa_keys.push((bits, key));
        let mut digest_info = SHA256_DIGEST_INFO.to_vec();
        digest_info.extend_from_slice(&digest256);
        bench_if_supported(&mut g, "sign", &format!("RS256-{bits}"), || {
            s.sign(&Mechanism::RsaPkcs, key, &digest_info)
        });
        let pss = Mechanism::RsaPkcsPss(PkcsPssParams {
            hash_alg: MechanismType::SHA256,
            mgf: PkcsMgfType::MGF1_SHA256,
            s_len: 32.into(),
        });
        bench_if_supported(&mut g, "sign", &format!("PS256-{bits}"), || {
            s.sign(&pss, key, &digest256)
        });
    }
    g.finish();

    let mut g = c.benchmark_group("unwrap");
    g.throughput(Throughput::Elements(1));
    for (bits, key) in &rsa_keys {
        let jwk = common::vector_jwk("rsa-oaep.json", &format!("rsa-{bits}"));
        let public_key = localhsm::crypto::RsaPublicKey::from_components(
            &public(&jwk.n, "n"),
            &public(&jwk.e, "e"),
        )
        .expect("RSA public key");
        let oaeps = [
            (
                "RSA-OAEP",
                MechanismType::SHA1,
                PkcsMgfType::MGF1_SHA1,
                localhsm::crypto::alg::RsaPadding::OaepSha1,
            ),
            (
                "RSA-OAEP-256",
                MechanismType::SHA256,
                PkcsMgfType::MGF1_SHA256,
                localhsm::crypto::alg::RsaPadding::OaepSha256,
            ),
        ];
        for (name, hash, mgf, padding) in oaeps {
            let wrapped = public_key.encrypt(padding, &DATA_KEY).expect("encrypt");
            let mechanism =
                Mechanism::RsaPkcsOaep(PkcsOaepParams::new(hash, mgf, PkcsOaepSource::empty()));
            bench_if_supported(&mut g, "unwrap", &format!("{name}-{bits}"), || {
                let plain = s.decrypt(&mechanism, *key, &wrapped)?;
                assert_eq!(plain, DATA_KEY);
                Ok(plain)
            });
        }
    }
    let kek_jwk = common::vector_jwk("aes-kw.json", "kek-256");
    let kek = aes_key(s, &kek_jwk)?;
    let kek_bytes: [u8; 32] = secret(&kek_jwk.k, "k").try_into().expect("KEK");
    let wrapped = aes_kw::KekAes256::from(kek_bytes)
        .wrap_vec(&DATA_KEY)
        .expect("wrap");
    match s.decrypt(&Mechanism::AesKeyWrap, kek, &wrapped) {
        Ok(plain) => {
            assert_eq!(plain, DATA_KEY);
            bench_if_supported(&mut g, "unwrap", "A256KW", || {
                s.decrypt(&Mechanism::AesKeyWrap, kek, &wrapped)
            });
        }
        Err(e) => {
            eprintln!(
                "softhsm: C_Decrypt with CKM_AES_KEY_WRAP: {e}; measuring C_UnwrapKey + \
                 C_GetAttributeValue + C_DestroyObject instead"
            );
            let template = [
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Token(false),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
            ];
            bench_if_supported(&mut g, "unwrap", "A256KW", || {
                let key = s.unwrap_key(&Mechanism::AesKeyWrap, kek, &wrapped, &template)?;
                let value = s.get_attributes(key, &[AttributeType::Value]);
                s.destroy_object(key)?;
                match value?.pop() {
                    Some(Attribute::Value(v)) => Ok(v),
                    _ => Err(cryptoki::error::Error::NotSupported),
                }
            });
        }
    }
    g.finish();
    Ok(())
}

fn main() {
    let lib = softhsm_library();
    if !lib.exists() {
        println!(
            "softhsm bench: skipping: {} does not exist. Install SoftHSM2 (Debian/Ubuntu: \
             apt-get install softhsm2) or point LOCALHSM_BENCH_SOFTHSM_LIB at libsofthsm2.so.",
            lib.display()
        );
        return;
    }
    let tokens = common::bench_dir("softhsm");
    let (_pkcs11, session) = match softhsm_session(&lib, tokens.path()) {
        Ok(s) => s,
        Err(e) => {
            println!(
                "softhsm bench: skipping: could not set up a token with {} (it must be \
                 SoftHSM2): {e}",
                lib.display()
            );
            return;
        }
    };
    let mut c = common::criterion().configure_from_args();
    if let Err(e) = run(&mut c, &session) {
        panic!("softhsm bench: {e}");
    }
    c.final_summary();
}
