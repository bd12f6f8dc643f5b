//! The library end to end in one pass: a Managed HSM vault, a key of every curve and RSA
//! signing, verifying and refusing another message, RSA-OAEP, AES key wrap and AES-GCM round
//! trips, versions, soft delete (90 days by default) and recover, backup and restore, paging,
//! and a store that refuses another master key.

mod support;

use localhsm::crypto::{
    AesParams, CurveName, EncryptionAlgorithm as E, HashAlg, KeyType, SignatureAlgorithm as S,
    WrapAlgorithm as W,
};
use localhsm::model::KeyOptions;
use localhsm::KeySpec;
use support::{default_hsm, Opener, TempStore};

#[test]
fn smoke() {
    let ts = TempStore::new();
    let v = ts.store.create_vault("hsm", default_hsm()).unwrap();
    assert_eq!(v.name, "hsm");
    let vault = ts.store.vault("hsm").unwrap();
    for (spec, alg) in [
        (KeySpec::Ec(CurveName::P256), S::ES256),
        (KeySpec::Ec(CurveName::P384), S::ES384),
        (KeySpec::Ec(CurveName::P521), S::ES512),
        (KeySpec::Ec(CurveName::P256K), S::ES256K),
        (KeySpec::Rsa(2048), S::PS256),
    ] {
        let kty = if matches!(spec, KeySpec::Ec(_)) {
            KeyType::EcHsm
        } else {
            KeyType::RsaHsm
        };
        let b = vault
            .create_key("k1", kty, spec, KeyOptions::default())
            .unwrap();
        let h = vault.key("k1", None).unwrap();
        assert_eq!(h.version(), b.version);
        let d = alg.hash().digest(b"hello");
        let sig = h.sign(alg, &d).unwrap();
        assert!(h.verify(alg, &d, &sig).unwrap());
        assert!(!h
            .verify(alg, &HashAlg::digest(alg.hash(), b"other"), &sig)
            .unwrap());
    }
    let h = vault.key("k1", None).unwrap();
    let ct = h
        .encrypt(E::RsaOaep256, b"secret", AesParams::default())
        .unwrap();
    assert_eq!(
        h.decrypt(E::RsaOaep256, &ct.ciphertext, AesParams::default())
            .unwrap()
            .expose(),
        b"secret"
    );
    vault
        .create_key(
            "aes",
            KeyType::OctHsm,
            KeySpec::Oct(256),
            KeyOptions::default(),
        )
        .unwrap();
    let a = vault.key("aes", None).unwrap();
    let w = a.wrap_key(W::A256Kw, &[7u8; 32]).unwrap();
    assert_eq!(a.unwrap_key(W::A256Kw, &w).unwrap().expose(), &[7u8; 32]);
    let g = a
        .encrypt(
            E::A256Gcm,
            b"pt",
            AesParams {
                aad: Some(b"aad"),
                ..Default::default()
            },
        )
        .unwrap();
    let p = a
        .decrypt(
            E::A256Gcm,
            &g.ciphertext,
            AesParams {
                iv: g.iv.as_deref(),
                aad: Some(b"aad"),
                tag: g.tag.as_deref(),
            },
        )
        .unwrap();
    assert_eq!(p.expose(), b"pt");
    let versions = vault.list_versions("k1", 25, None).unwrap();
    assert_eq!(versions.items.len(), 5);
    let del = vault.delete_key("k1").unwrap();
    assert!(h.sign(S::PS256, &[0; 32]).is_err());
    assert_eq!(
        del.deletion.scheduled_purge_date - del.deletion.deleted_date,
        90 * 86400
    );
    assert!(vault.get_key("k1", None).is_err());
    let r = vault.recover_deleted_key("k1").unwrap();
    assert_eq!(r.version, versions.items[4].version);
    let blob = vault.backup_key("k1").unwrap();
    vault.delete_key("k1").unwrap();
    vault.purge_deleted_key("k1").unwrap();
    vault.restore_key(&blob).unwrap();
    assert_eq!(vault.list_versions("k1", 25, None).unwrap().items.len(), 5);
    let page = vault.list_keys(1, None).unwrap();
    assert_eq!(page.items.len(), 1);
    let page2 = vault.list_keys(1, page.next.as_deref()).unwrap();
    assert_eq!(page2.items.len(), 1);
    assert!(page2.next.is_none());
    drop((h, a, vault));
    let dir = ts.close();
    assert!(matches!(
        Opener::key([2; 32]).try_open(dir.path()),
        Err(localhsm::Error::WrongMasterKey)
    ));
}
