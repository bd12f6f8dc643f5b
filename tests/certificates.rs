//! Certificates through the library: issuance (Self, a vault issuer's local CA, Unknown
//! then merge), import, the managed key and secret of the same name and version, the
//! delete/recover/purge cascade, purge protection, backup/restore and lifetime actions on
//! the store's clock. Certificates are parsed back with the crate's X.509 reader, whose own
//! tests check it against OpenSSL; the SDK suites check issued certificates with Python
//! `cryptography` and node:crypto.

mod support;

use base64::Engine as _;
use localhsm::crypto::x509::{self, CertificateKey};
use localhsm::crypto::{HashAlg, KeyType, SecretBytes, SignatureAlgorithm};
use localhsm::model::certificates::{
    ActionType, CertificateKeyProperties, CertificateOptions, CertificatePolicy,
    CertificateSecretProperties, CertificateUpdate, Contact, IssuerParameters, IssuerUpdate,
    LifetimeAction, LifetimeActionType, LifetimeTrigger, OperationStatus, SubjectAlternativeNames,
    X509Properties, CONTENT_TYPE_PEM,
};
use localhsm::model::{VaultKind, VaultOptions, DAY};
use localhsm::ObjectKind;
use support::errors::{error_name, expect_err};
use support::store::TempStore;

const T0: u64 = 1_800_000_000;

fn kv(purge_protection: bool) -> VaultOptions {
    VaultOptions {
        kind: VaultKind::Vault,
        retention_days: 7,
        purge_protection,
    }
}

fn policy(subject: &str) -> CertificatePolicy {
    CertificatePolicy {
        x509_props: Some(X509Properties {
            subject: Some(subject.into()),
            sans: Some(SubjectAlternativeNames {
                dns_names: Some(vec!["app.example.test".into()]),
                emails: Some(vec!["ops@example.test".into()]),
                upns: None,
            }),
            validity_months: Some(12),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn ec_policy(subject: &str) -> CertificatePolicy {
    CertificatePolicy {
        key_props: Some(CertificateKeyProperties {
            kty: Some(KeyType::Ec),
            ..Default::default()
        }),
        ..policy(subject)
    }
}

#[test]
fn self_signed_certificates_own_a_key_and_a_secret_of_their_version() {
    let s = TempStore::at(T0);
    let v = s.vault("kv", kv(false));
    let op = v
        .create_certificate(
            "web",
            ec_policy("CN=web, O=Contoso"),
            CertificateOptions::default(),
        )
        .unwrap();
    assert_eq!(
        op.status,
        OperationStatus::InProgress,
        "the create answer, as Azure's"
    );
    assert_eq!(
        v.get_certificate_operation("web").unwrap().status,
        OperationStatus::Completed
    );
    let c = v.get_certificate("web", None).unwrap();
    let der = c.cer.clone().expect("issued");
    let parsed = x509::parse_certificate(&der).unwrap();
    assert!(parsed.subject.contains("CN=web"), "{}", parsed.subject);
    assert_eq!(parsed.dns_names, vec!["app.example.test".to_string()]);
    assert_eq!(parsed.emails, vec!["ops@example.test".to_string()]);
    assert_eq!(c.attributes.expires, Some(parsed.not_after));

    // The key: same name and version, managed, and it signs what the certificate verifies.
    let key = v.get_key("web", Some(&c.version)).unwrap();
    assert!(key.managed);
    assert_eq!(key.key.x, parsed.public.x);
    let digest = HashAlg::Sha256.digest(b"hello");
    let sig = v
        .key("web", Some(&c.version))
        .unwrap()
        .sign(SignatureAlgorithm::ES256, &digest)
        .unwrap();
    let public = localhsm::crypto::PublicKey::from_jwk(&parsed.public).unwrap();
    assert!(public
        .verify_digest(SignatureAlgorithm::ES256, &digest, &sig)
        .unwrap());

    // The secret: a PFX with no password holding that key and certificate.
    let secret = v.get_secret("web", Some(&c.version)).unwrap();
    assert_eq!(secret.content_type.as_deref(), Some("application/x-pkcs12"));
    assert!(secret.managed);
    let pfx = base64::engine::general_purpose::STANDARD
        .decode(secret.value.unwrap().expose())
        .unwrap();
    let (_, chain) = CertificateKey::from_pfx(&pfx, None).unwrap();
    assert_eq!(chain[0], der);

    // Managed objects change only with the certificate.
    for e in [
        error_name(&v.delete_key("web").unwrap_err()),
        error_name(&v.delete_secret("web").unwrap_err()),
        error_name(&v.rotate_key("web").unwrap_err()),
    ] {
        assert_eq!(e, "Managed");
    }
    let e = v
        .set_secret("web", "x".into(), Default::default())
        .unwrap_err();
    assert_eq!(e.wire().status, 403, "{e}");
}

#[test]
fn pem_and_non_exportable_policies() {
    let s = TempStore::at(T0);
    let v = s.vault("kv", kv(false));
    let mut p = policy("CN=pem");
    p.secret_props = Some(CertificateSecretProperties {
        content_type: Some(CONTENT_TYPE_PEM.into()),
    });
    v.create_certificate("pem", p, CertificateOptions::default())
        .unwrap();
    let secret = v.get_secret("pem", None).unwrap();
    let text = secret.value.unwrap();
    assert!(text.expose().starts_with("-----BEGIN PRIVATE KEY-----"));
    let (_, chain) = CertificateKey::from_pem(text.expose()).unwrap();
    assert_eq!(
        Some(chain[0].clone()),
        v.get_certificate("pem", None).unwrap().cer
    );

    let mut p = policy("CN=locked");
    p.key_props = Some(CertificateKeyProperties {
        exportable: Some(false),
        ..Default::default()
    });
    v.create_certificate("locked", p, CertificateOptions::default())
        .unwrap();
    let e = v.get_secret("locked", None).unwrap_err();
    assert_eq!(e.wire().status, 403, "{e}");
    assert!(!e.to_string().contains("PRIVATE KEY"));
}

#[test]
fn a_vault_issuer_signs_with_its_own_local_ca() {
    let s = TempStore::at(T0);
    let v = s.vault("kv", kv(false));
    let issuer = v
        .set_certificate_issuer(
            "corp",
            IssuerUpdate {
                provider: Some("Test".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let mut p = policy("CN=svc");
    p.issuer = Some(IssuerParameters {
        name: Some("corp".into()),
        ..Default::default()
    });
    v.create_certificate("svc", p, CertificateOptions::default())
        .unwrap();
    let leaf =
        x509::parse_certificate(&v.get_certificate("svc", None).unwrap().cer.unwrap()).unwrap();
    let ca = x509::parse_certificate(&issuer.ca_certificate).unwrap();
    assert_eq!(leaf.issuer, ca.subject);
    assert!(ca.is_ca);
    // Unknown issuers are refused before anything is made.
    let mut p = policy("CN=nope");
    p.issuer = Some(IssuerParameters {
        name: Some("missing".into()),
        ..Default::default()
    });
    let e = v
        .create_certificate("nope", p, CertificateOptions::default())
        .unwrap_err();
    assert_eq!(e.wire().code, "CertificateIssuerNotFound");
    expect_err(v.get_certificate("nope", None), "CertificateNotFound");
}

#[test]
fn unknown_issuer_waits_for_a_merge_with_a_matching_chain() {
    let s = TempStore::at(T0);
    let v = s.vault("kv", kv(false));
    let mut p = ec_policy("CN=ext");
    p.issuer = Some(IssuerParameters {
        name: Some("Unknown".into()),
        ..Default::default()
    });
    v.create_certificate("ext", p, CertificateOptions::default())
        .unwrap();
    let op = v.get_certificate_operation("ext").unwrap();
    assert_eq!(op.status, OperationStatus::InProgress);
    let csr = op.csr.expect("a CSR");
    let csr_key = x509::csr_public_key(&csr).unwrap();
    assert!(v.get_certificate("ext", None).unwrap().cer.is_none());
    assert!(v
        .list_certificates(25, None, false)
        .unwrap()
        .items
        .is_empty());
    assert_eq!(v.list_certificates(25, None, true).unwrap().items.len(), 1);

    // A chain for another key is refused.
    let tmp = tempfile::tempdir().unwrap();
    let spec = x509::CertSpec {
        subject: "CN=ext".into(),
        dns_names: vec![],
        emails: vec![],
        upns: vec![],
        key_usage: vec![x509::KeyUsage::DigitalSignature],
        ekus: vec![],
        not_before: T0,
        validity_months: 3,
    };
    let (ca_key, ca_der) = CertificateKey::new_ca("test CA", T0).unwrap();
    let other =
        CertificateKey::generate(localhsm::KeySpec::Ec(localhsm::crypto::CurveName::P256)).unwrap();
    let wrong = other.ca_signed(&spec, &ca_key, &ca_der).unwrap();
    let e = v
        .merge_certificate(
            "ext",
            vec![wrong, ca_der.clone()],
            CertificateOptions::default(),
        )
        .unwrap_err();
    assert_eq!(e.wire().status, 400, "{e}");

    // OpenSSL, as the outside CA, signs the CSR; the chain it returns completes the
    // certificate.
    let path = |n: &str| tmp.path().join(n);
    std::fs::write(path("csr.der"), &csr).unwrap();
    std::fs::write(path("ca.der"), &ca_der).unwrap();
    std::fs::write(path("ca.key"), ca_key.to_pkcs8_der().unwrap().expose()).unwrap();
    let status = std::process::Command::new("openssl")
        .args(["x509", "-req", "-inform", "DER", "-in"])
        .arg(path("csr.der"))
        .args(["-CAform", "DER", "-CA"])
        .arg(path("ca.der"))
        .args(["-CAkeyform", "DER", "-CAkey"])
        .arg(path("ca.key"))
        .args(["-days", "30", "-outform", "DER", "-out"])
        .arg(path("leaf.der"))
        .status()
        .expect("the openssl binary");
    assert!(status.success());
    let leaf = std::fs::read(path("leaf.der")).unwrap();
    assert_eq!(x509::parse_certificate(&leaf).unwrap().public.x, csr_key.x);
    let merged = v
        .merge_certificate(
            "ext",
            vec![leaf.clone(), ca_der],
            CertificateOptions::default(),
        )
        .unwrap();
    assert_eq!(merged.cer, Some(leaf));
    assert_eq!(
        v.get_certificate_operation("ext").unwrap().status,
        OperationStatus::Completed
    );
    assert!(v.get_secret("ext", None).unwrap().managed);
}

#[test]
fn import_pfx_and_pem_with_the_key_they_carry() {
    let s = TempStore::at(T0);
    let v = s.vault("kv", kv(false));
    v.create_certificate("src", policy("CN=src"), CertificateOptions::default())
        .unwrap();
    let pfx = base64::engine::general_purpose::STANDARD
        .decode(v.get_secret("src", None).unwrap().value.unwrap().expose())
        .unwrap();
    let (material, chain) = CertificateKey::from_pfx(&pfx, None).unwrap();
    let locked = material.to_pfx(&chain, Some("pw")).unwrap();
    let e = v
        .import_certificate(
            "imp",
            SecretBytes::from_slice(locked.expose()),
            Some("wrong".into()),
            None,
            CertificateOptions::default(),
        )
        .unwrap_err();
    assert_eq!(e.wire().status, 400, "{e}");
    let b = v
        .import_certificate(
            "imp",
            SecretBytes::from_slice(locked.expose()),
            Some("pw".into()),
            None,
            CertificateOptions::default(),
        )
        .unwrap();
    assert_eq!(b.cer.as_ref(), Some(&chain[0]));
    assert_eq!(
        b.policy.issuer.unwrap().name.as_deref(),
        Some("Unknown"),
        "imported certificates name no issuer"
    );
    let pem = material.to_pem(&chain).unwrap();
    let p = CertificatePolicy {
        secret_props: Some(CertificateSecretProperties {
            content_type: Some(CONTENT_TYPE_PEM.into()),
        }),
        ..Default::default()
    };
    let b = v
        .import_certificate(
            "imp-pem",
            SecretBytes::from_slice(pem.expose().as_bytes()),
            None,
            Some(p),
            CertificateOptions::default(),
        )
        .unwrap();
    assert_eq!(b.content_type, CONTENT_TYPE_PEM);
    let e = v
        .import_certificate(
            "junk",
            SecretBytes::from_slice(b"not a pfx"),
            None,
            None,
            CertificateOptions::default(),
        )
        .unwrap_err();
    assert_eq!(e.wire().status, 400, "{e}");
}

#[test]
fn delete_recover_purge_cascade_to_the_key_and_secret() {
    let s = TempStore::at(T0);
    let v = s.vault("kv", kv(false));
    v.create_certificate("c", policy("CN=c"), CertificateOptions::default())
        .unwrap();
    v.create_key(
        "plain",
        KeyType::Rsa,
        localhsm::KeySpec::Rsa(2048),
        Default::default(),
    )
    .unwrap();
    v.delete_key("plain").unwrap();
    let d = v.delete_certificate("c").unwrap();
    assert_eq!(
        d.deletion.scheduled_purge_date,
        d.deletion.deleted_date + 7 * DAY
    );
    expect_err(v.get_key("c", None), "KeyNotFound");
    expect_err(v.get_secret("c", None), "SecretNotFound");
    let deleted_keys: Vec<String> = v
        .list_deleted_keys(25, None)
        .unwrap()
        .items
        .into_iter()
        .map(|k| k.key.name)
        .collect();
    assert_eq!(
        deleted_keys,
        vec!["plain".to_string()],
        "managed keys are not listed"
    );
    assert!(v.list_deleted_secrets(25, None).unwrap().items.is_empty());
    expect_err(v.recover_deleted_key("c"), "Managed");
    expect_err(
        v.create_certificate("c", policy("CN=c"), CertificateOptions::default()),
        "CertificateIsDeleted",
    );
    v.recover_deleted_certificate("c").unwrap();
    assert!(v.get_key("c", None).unwrap().managed);
    assert!(v.get_secret("c", None).is_ok());
    v.delete_certificate("c").unwrap();
    v.purge_deleted_certificate("c").unwrap();
    expect_err(v.get_deleted_certificate("c"), "DeletedCertificateNotFound");
    expect_err(v.get_deleted_key("c"), "DeletedKeyNotFound");
    expect_err(v.get_deleted_secret("c"), "DeletedSecretNotFound");
    // The name is free for a plain key again.
    v.create_key(
        "c",
        KeyType::Rsa,
        localhsm::KeySpec::Rsa(2048),
        Default::default(),
    )
    .unwrap();
    expect_err(
        v.create_certificate("c", policy("CN=c"), CertificateOptions::default()),
        "KeyExists",
    );
}

#[test]
fn purge_protection_holds_for_certificates_by_every_path() {
    let s = TempStore::at(T0);
    let v = s.vault("pp", kv(true));
    v.create_certificate("c", policy("CN=c"), CertificateOptions::default())
        .unwrap();
    let blob = v.backup_certificate("c").unwrap();
    v.delete_certificate("c").unwrap();
    let e = v.purge_deleted_certificate("c").unwrap_err();
    assert_eq!(error_name(&e), "PurgeProtected");
    assert_eq!(e.wire().status, 403);
    expect_err(v.restore_certificate(&blob), "CertificateIsDeleted");
    // Nothing moved: the key and secret are still deleted and recoverable with it.
    v.recover_deleted_certificate("c").unwrap();
    assert!(v.get_key("c", None).is_ok() && v.get_secret("c", None).is_ok());
}

#[test]
fn backup_and_restore_bring_back_certificate_key_and_secret() {
    let s = TempStore::at(T0);
    let v = s.vault("kv", kv(false));
    v.create_certificate("c", policy("CN=c"), CertificateOptions::default())
        .unwrap();
    let before = v.get_certificate("c", None).unwrap();
    let secret_before = v.get_secret("c", None).unwrap().value.unwrap();
    let blob = v.backup_certificate("c").unwrap();
    expect_err(v.restore_certificate(&blob), "CertificateExists");
    v.delete_certificate("c").unwrap();
    v.purge_deleted_certificate("c").unwrap();
    let after = v.restore_certificate(&blob).unwrap();
    assert_eq!(after.version, before.version);
    assert_eq!(after.cer, before.cer);
    assert!(v.get_key("c", Some(&before.version)).unwrap().managed);
    assert_eq!(
        v.get_secret("c", None).unwrap().value.unwrap(),
        secret_before
    );
    // A certificate backup is not a key backup, nor the reverse.
    assert_eq!(
        error_name(&v.restore_key(&blob).unwrap_err()),
        "InvalidBackup"
    );
}

#[test]
fn updates_policy_contacts_and_lifetime_actions() {
    let s = TempStore::at(T0);
    let v = s.vault("kv", kv(false));
    let mut p = policy("CN=renew");
    p.lifetime_actions = Some(vec![
        LifetimeAction {
            trigger: LifetimeTrigger {
                lifetime_percentage: Some(50),
                days_before_expiry: None,
            },
            action: LifetimeActionType {
                action_type: ActionType::AutoRenew,
            },
        },
        LifetimeAction {
            trigger: LifetimeTrigger {
                lifetime_percentage: None,
                days_before_expiry: Some(30),
            },
            action: LifetimeActionType {
                action_type: ActionType::EmailContacts,
            },
        },
    ]);
    v.create_certificate("renew", p, CertificateOptions::default())
        .unwrap();
    let first = v.get_certificate("renew", None).unwrap();

    let b = v
        .update_certificate(
            "renew",
            None,
            CertificateUpdate {
                enabled: Some(false),
                tags: Some(support::store::tags(&[("env", "dev")])),
                policy: None,
            },
        )
        .unwrap();
    assert!(!b.attributes.enabled);
    assert!(
        !v.get_key("renew", None).unwrap().attributes.enabled,
        "the key follows"
    );
    expect_err(v.get_secret("renew", None), "SecretDisabled");
    v.update_certificate(
        "renew",
        None,
        CertificateUpdate {
            enabled: Some(true),
            ..Default::default()
        },
    )
    .unwrap();

    let updated = v
        .update_certificate_policy(
            "renew",
            CertificatePolicy {
                x509_props: Some(X509Properties {
                    validity_months: Some(6),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        updated.x509_props.as_ref().unwrap().validity_months,
        Some(6)
    );
    assert_eq!(
        updated.x509_props.unwrap().subject.as_deref(),
        Some("CN=renew"),
        "a policy update merges"
    );

    expect_err(v.get_certificate_contacts(), "ContactsNotFound");
    v.set_certificate_contacts(vec![Contact {
        email: Some("ops@example.test".into()),
        name: Some("Ops".into()),
        phone: None,
    }])
    .unwrap();

    // Nothing is due yet.
    let report = s.store.run_lifetime_actions().unwrap();
    assert!(
        report.renewed.is_empty() && report.notified.is_empty(),
        "{report:?}"
    );
    // Past half the lifetime: renewed once, with the updated policy (6 months).
    s.clock.set(T0 + 200 * DAY);
    let report = s.store.run_lifetime_actions().unwrap();
    assert_eq!(report.renewed.len(), 1, "{report:?}");
    let second = v.get_certificate("renew", None).unwrap();
    assert_ne!(second.version, first.version);
    let p2 = x509::parse_certificate(&second.cer.unwrap()).unwrap();
    assert_eq!(p2.not_before, T0 + 200 * DAY);
    assert!(p2.not_after < p2.not_before + 190 * DAY);
    assert_eq!(
        v.get_key("renew", Some(&second.version)).unwrap().version,
        second.version
    );
    assert_eq!(
        v.list_certificate_versions("renew", 25, None)
            .unwrap()
            .items
            .len(),
        2
    );
    // Near the new version's expiry: contacts are to be told, once.
    s.clock.set(p2.not_after - 10 * DAY);
    let report = s.store.run_lifetime_actions().unwrap();
    assert_eq!(report.notified.len(), 1, "{report:?}");
    assert_eq!(report.notified[0].1, vec!["ops@example.test".to_string()]);
    let again = s.store.run_lifetime_actions().unwrap();
    assert!(again.notified.is_empty());
}

#[test]
fn managed_hsm_vaults_hold_no_certificates_but_the_default_vault_does() {
    let s = TempStore::at(T0);
    let hsm = s.vault("hsm", support::store::default_hsm());
    let e = hsm
        .create_certificate("c", policy("CN=c"), CertificateOptions::default())
        .unwrap_err();
    assert_eq!(e.wire().status, 400);
    assert!(e.to_string().contains("Managed HSM"), "{e}");
    let d = s.vault(
        localhsm::model::DEFAULT_VAULT,
        support::store::default_hsm(),
    );
    d.create_certificate("c", policy("CN=c"), CertificateOptions::default())
        .unwrap();
    assert_eq!(
        localhsm::Error::not_found(ObjectKind::Certificate, "x", None)
            .wire()
            .code,
        "CertificateNotFound"
    );
}
