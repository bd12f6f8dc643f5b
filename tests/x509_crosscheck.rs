//! Certificates, CSRs, PFX and PEM files checked against the `openssl` command-line tool
//! (OpenSSL 3), an independent implementation:
//!
//! - self-signed certificates for P-256, P-384, P-521 and RSA 2048 keys show OpenSSL the
//!   subject, SANs (DNS, e-mail, UPN), key usages, EKUs and validity asked for, and their
//!   signatures verify; CA-signed leaves verify under `openssl verify -CAfile` (and not under
//!   another CA); CSRs pass `openssl req -verify`;
//! - PFX files made here open in `openssl pkcs12` with and without a password, their key
//!   matches their certificate, and a wrong password fails there too; Python `cryptography`
//!   (when installed) opens the passwordless one with `load_key_and_certificates(data, None)`,
//!   and the PFX files it writes import here;
//! - PFX files made by `openssl pkcs12 -export` (PBES2/AES-256, and legacy 3DES and RC2) and
//!   PEM files made by `openssl req -x509 -newkey` (PKCS#8, SEC1 and PKCS#1 keys) import here,
//!   and the imported key signs what OpenSSL verifies with the certificate's public key;
//! - wrong passwords and garbage are `BadParameter`.
//!
//! Without an `openssl` binary every test prints why and passes, unless
//! `LOCALHSM_REQUIRE_OPENSSL` is set, which turns its absence into a failure.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use localhsm::crypto::x509::{parse_certificate, CertSpec, CertificateKey, KeyUsage};
use localhsm::crypto::{CurveName, SignatureAlgorithm};
use localhsm::{Error, KeySpec};

macro_rules! args {
    ($($a:expr),* $(,)?) => {
        Vec::<OsString>::from([$(OsString::from($a)),*])
    };
}

struct OpenSsl {
    dir: tempfile::TempDir,
    files: std::cell::Cell<usize>,
}

impl OpenSsl {
    /// `None` (after saying why) when there is no usable `openssl`.
    fn find() -> Option<Self> {
        let found = Command::new("openssl")
            .arg("version")
            .output()
            .ok()
            .filter(|o| o.status.success());
        match found {
            Some(out) => {
                println!("using {}", String::from_utf8_lossy(&out.stdout).trim());
                Some(Self {
                    dir: tempfile::tempdir().expect("temp dir"),
                    files: std::cell::Cell::new(0),
                })
            }
            None if std::env::var_os("LOCALHSM_REQUIRE_OPENSSL").is_some() => {
                panic!("LOCALHSM_REQUIRE_OPENSSL is set but no working `openssl` is on PATH")
            }
            None => {
                println!(
                    "SKIPPED: no working `openssl` binary on PATH; the certificate cross-checks \
                     did not run (set LOCALHSM_REQUIRE_OPENSSL=1 to make this a failure)"
                );
                None
            }
        }
    }

    fn out(&self, stem: &str) -> PathBuf {
        let n = self.files.get();
        self.files.set(n + 1);
        self.dir.path().join(format!("{n}-{stem}"))
    }

    fn file(&self, stem: &str, bytes: &[u8]) -> PathBuf {
        let path = self.out(stem);
        std::fs::write(&path, bytes).expect("write scratch file");
        path
    }

    /// `Ok(stdout + stderr)` on exit status 0, else `Err` with both.
    fn run(&self, args: &[OsString]) -> Result<String, String> {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("spawn openssl");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(text)
        } else {
            Err(format!(
                "openssl {args:?} exited with {}: {text}",
                out.status
            ))
        }
    }

    fn ok(&self, args: &[OsString]) -> String {
        self.run(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A DER certificate as a PEM file.
    fn cert_pem(&self, der: &[u8]) -> PathBuf {
        let der_path = self.file("cert.der", der);
        let pem = self.out("cert.pem");
        self.ok(&args![
            "x509", "-inform", "DER", "-in", &der_path, "-out", &pem
        ]);
        pem
    }

    /// The SPKI (PEM) of a certificate, as OpenSSL reads it.
    fn cert_pubkey(&self, cert_pem: &Path) -> String {
        self.ok(&args!["x509", "-in", cert_pem, "-noout", "-pubkey"])
    }

    /// The SPKI (PEM) of a private key file, as OpenSSL reads it.
    fn key_pubkey(&self, key_pem: &Path) -> String {
        self.ok(&args!["pkey", "-in", key_pem, "-pubout"])
    }

    /// Checks with `openssl pkeyutl -verify` that `key` signs for the public key of
    /// `cert_pem`: the private key imported here is the certificate's.
    fn assert_key_signs_for(&self, key: &CertificateKey, cert_pem: &Path, crv: Option<CurveName>) {
        let alg = crv.map_or(SignatureAlgorithm::RS256, CurveName::signature_algorithm);
        let digest = alg.hash().digest(b"x509 crosscheck");
        let sig = key.sign_digest(alg, &digest).unwrap();
        let sig = if crv.is_some() { ecdsa_der(&sig) } else { sig };
        let pubkey = self.file("pub.pem", self.cert_pubkey(cert_pem).as_bytes());
        let dg = self.file("digest.bin", &digest);
        let sig = self.file("sig.bin", &sig);
        let mut a =
            args!["pkeyutl", "-verify", "-pubin", "-inkey", &pubkey, "-in", &dg, "-sigfile", &sig];
        if crv.is_none() {
            a.extend(args!["-pkeyopt", "digest:sha256"]);
        }
        let out = self.ok(&a);
        assert!(out.contains("Signature Verified Successfully"), "{out}");
    }
}

/// Raw `r||s` as DER, for OpenSSL.
fn ecdsa_der(raw: &[u8]) -> Vec<u8> {
    fn int(v: &[u8], out: &mut Vec<u8>) {
        let v = &v[v.iter().position(|&b| b != 0).unwrap_or(v.len() - 1)..];
        let pad = v[0] & 0x80 != 0;
        out.push(2);
        out.push((v.len() + usize::from(pad)) as u8);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut body = Vec::new();
    int(r, &mut body);
    int(s, &mut body);
    let mut out = vec![0x30];
    if body.len() >= 0x80 {
        out.push(0x81);
    }
    out.push(body.len() as u8);
    out.extend(body);
    out
}

fn spec(subject: &str) -> CertSpec {
    CertSpec {
        subject: subject.into(),
        dns_names: vec!["www.contoso.com".into(), "api.contoso.com".into()],
        emails: vec!["admin@contoso.com".into()],
        upns: vec!["user@contoso.com".into()],
        key_usage: vec![KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment],
        ekus: vec!["1.3.6.1.5.5.7.3.1".into(), "1.3.6.1.5.5.7.3.2".into()],
        // 2026-01-31T10:20:30Z, 13 months: to 2027-02-28 (clamped).
        not_before: 1_769_854_830,
        validity_months: 13,
    }
}

fn bad<T: std::fmt::Debug>(r: localhsm::Result<T>) -> String {
    match r {
        Err(Error::BadParameter(m)) => m,
        other => panic!("expected BadParameter, got {other:?}"),
    }
}

const KEYS: [(KeySpec, Option<CurveName>); 4] = [
    (KeySpec::Ec(CurveName::P256), Some(CurveName::P256)),
    (KeySpec::Ec(CurveName::P384), Some(CurveName::P384)),
    (KeySpec::Ec(CurveName::P521), Some(CurveName::P521)),
    (KeySpec::Rsa(2048), None),
];

#[test]
fn self_signed_certificates_read_and_verify_in_openssl() {
    let Some(ossl) = OpenSsl::find() else { return };
    for (key_spec, crv) in KEYS {
        let key = CertificateKey::generate(key_spec).unwrap();
        let der = key
            .self_signed(&spec(
                "CN=web, O=\"Contoso, Ltd\", OU=Ops, L=Redmond, ST=WA, C=US",
            ))
            .unwrap();
        let pem = ossl.cert_pem(&der);
        let subject = ossl.ok(&args![
            "x509", "-in", &pem, "-noout", "-subject", "-nameopt", "RFC2253"
        ]);
        assert_eq!(
            subject.trim(),
            r"subject=CN=web,O=Contoso\, Ltd,OU=Ops,L=Redmond,ST=WA,C=US",
            "{key_spec:?}"
        );
        let text = ossl.ok(&args!["x509", "-in", &pem, "-noout", "-text"]);
        for expected in [
            "DNS:www.contoso.com",
            "DNS:api.contoso.com",
            "email:admin@contoso.com",
            "X509v3 Key Usage: critical",
            "Digital Signature, Key Encipherment",
            "TLS Web Server Authentication, TLS Web Client Authentication",
            "CA:FALSE",
            "Not Before: Jan 31 10:20:30 2026 GMT",
            "Not After : Feb 28 10:20:30 2027 GMT",
            "X509v3 Subject Key Identifier",
        ] {
            assert!(
                text.contains(expected),
                "{key_spec:?}: no {expected:?} in\n{text}"
            );
        }
        // OpenSSL names the UPN only when it is a UTF8String (3.0 prints a doubled colon).
        assert!(
            text.contains("othername: UPN::user@contoso.com")
                || text.contains("othername: UPN:user@contoso.com"),
            "{text}"
        );
        let sig_alg = match crv {
            Some(CurveName::P256) => "ecdsa-with-SHA256",
            Some(CurveName::P384) => "ecdsa-with-SHA384",
            Some(_) => "ecdsa-with-SHA512",
            None => "sha256WithRSAEncryption",
        };
        assert!(
            text.contains(&format!("Signature Algorithm: {sig_alg}")),
            "{text}"
        );
        // The self-signature verifies: the certificate as its own trust anchor, with
        // -check_ss_sig so OpenSSL checks the anchor's signature too.
        let verified = ossl.ok(&args!["verify", "-check_ss_sig", "-CAfile", &pem, &pem]);
        assert!(verified.contains(": OK"), "{verified}");
        // A certificate with a byte of its signature changed does not.
        let mut tampered = der.clone();
        let last = tampered.len() - 5;
        tampered[last] ^= 0x01;
        let tampered = ossl.cert_pem(&tampered);
        assert!(ossl
            .run(&args![
                "verify",
                "-check_ss_sig",
                "-CAfile",
                &tampered,
                &tampered
            ])
            .is_err());
        // Our reading of the certificate agrees with OpenSSL's public key.
        let parsed = parse_certificate(&der).unwrap();
        assert_eq!(
            parsed.subject,
            "CN=web, O=\"Contoso, Ltd\", OU=Ops, L=Redmond, ST=WA, C=US"
        );
        let fp = ossl.ok(&args![
            "x509",
            "-in",
            &pem,
            "-noout",
            "-fingerprint",
            "-sha1"
        ]);
        assert!(
            fp.replace(':', "")
                .contains(&hex::encode_upper(&parsed.x5t)),
            "{fp}"
        );
    }
}

#[test]
fn ca_signed_leaves_verify_under_their_ca_only() {
    let Some(ossl) = OpenSsl::find() else { return };
    let (ca, ca_der) = CertificateKey::new_ca("localhsm issuer CA", 1_767_225_600).unwrap();
    let ca_pem = ossl.cert_pem(&ca_der);
    let ca_text = ossl.ok(&args!["x509", "-in", &ca_pem, "-noout", "-text"]);
    for expected in [
        "CA:TRUE",
        "Certificate Sign, CRL Sign",
        "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier",
    ] {
        assert!(ca_text.contains(expected), "no {expected:?} in\n{ca_text}");
    }
    let (_, other_ca_der) = CertificateKey::new_ca("another CA", 1_767_225_600).unwrap();
    let other_pem = ossl.cert_pem(&other_ca_der);
    for (key_spec, _) in KEYS {
        let key = CertificateKey::generate(key_spec).unwrap();
        let mut s = spec("CN=leaf");
        // Within the CA's validity, so that `openssl verify` at today's date accepts both.
        s.not_before = 1_767_225_600;
        s.validity_months = 60;
        let leaf = key.ca_signed(&s, &ca, &ca_der).unwrap();
        let leaf_pem = ossl.cert_pem(&leaf);
        let out = ossl.ok(&args!["verify", "-CAfile", &ca_pem, &leaf_pem]);
        assert!(out.contains(": OK"), "{key_spec:?}: {out}");
        assert!(
            ossl.run(&args!["verify", "-CAfile", &other_pem, &leaf_pem])
                .is_err(),
            "{key_spec:?} verified under the wrong CA"
        );
        let text = ossl.ok(&args!["x509", "-in", &leaf_pem, "-noout", "-text"]);
        assert!(text.contains("Issuer: CN = localhsm issuer CA"), "{text}");
        assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
    }
}

#[test]
fn csrs_verify_in_openssl() {
    let Some(ossl) = OpenSsl::find() else { return };
    for (key_spec, _) in KEYS {
        let key = CertificateKey::generate(key_spec).unwrap();
        let csr = key.csr(&spec("CN=request, O=Contoso")).unwrap();
        let path = ossl.file("req.der", &csr);
        let out = ossl.ok(&args![
            "req", "-inform", "DER", "-in", &path, "-verify", "-noout", "-text", "-nameopt",
            "RFC2253"
        ]);
        assert!(out.contains("verify OK"), "{key_spec:?}: {out}");
        for expected in [
            "Subject: CN=request,O=Contoso",
            "DNS:www.contoso.com",
            "email:admin@contoso.com",
            "Digital Signature, Key Encipherment",
        ] {
            assert!(
                out.contains(expected),
                "{key_spec:?}: no {expected:?} in\n{out}"
            );
        }
        // A request with its signature changed does not verify.
        let mut tampered = csr.clone();
        let last = tampered.len() - 3;
        tampered[last] ^= 1;
        let path = ossl.file("bad.der", &tampered);
        let verdict = ossl.run(&args![
            "req", "-inform", "DER", "-in", &path, "-verify", "-noout"
        ]);
        assert!(
            verdict.as_ref().map_or(true, |o| !o.contains("verify OK")),
            "{verdict:?}"
        );
    }
}

#[test]
fn pfx_made_here_opens_in_openssl_with_and_without_password() {
    let Some(ossl) = OpenSsl::find() else { return };
    let (ca, ca_der) = CertificateKey::new_ca("PFX CA", 1_767_225_600).unwrap();
    for (key_spec, _) in KEYS {
        let key = CertificateKey::generate(key_spec).unwrap();
        let leaf = key.ca_signed(&spec("CN=pfx"), &ca, &ca_der).unwrap();
        let leaf_pem = ossl.cert_pem(&leaf);
        for password in [None, Some("pässword 1")] {
            let pfx = key
                .to_pfx(&[leaf.clone(), ca_der.clone()], password)
                .unwrap();
            let path = ossl.file("made.pfx", pfx.expose());
            let pass = format!("pass:{}", password.unwrap_or(""));
            let info = ossl.ok(&args![
                "pkcs12", "-in", &path, "-info", "-noout", "-passin", &pass
            ]);
            for expected in [
                "PBES2, PBKDF2, AES-256-CBC",
                "MAC: sha256",
                "Shrouded Keybag",
            ] {
                assert!(
                    info.contains(expected),
                    "{key_spec:?}: no {expected:?} in\n{info}"
                );
            }
            let keys = ossl.out("key.pem");
            let out = ossl.ok(&args![
                "pkcs12", "-in", &path, "-nodes", "-passin", &pass, "-out", &keys
            ]);
            let text = std::fs::read_to_string(&keys).unwrap();
            assert!(text.contains("-----BEGIN PRIVATE KEY-----"), "{out}{text}");
            assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), 2);
            // The key OpenSSL extracted is the leaf certificate's.
            assert_eq!(
                ossl.key_pubkey(&keys),
                ossl.cert_pubkey(&leaf_pem),
                "{key_spec:?}"
            );
            // The leaf comes first and is the one paired with the key.
            let leaf_only = ossl.out("leaf.pem");
            ossl.ok(&args![
                "pkcs12", "-in", &path, "-clcerts", "-nokeys", "-passin", &pass, "-out", &leaf_only
            ]);
            assert_eq!(ossl.cert_pubkey(&leaf_only), ossl.cert_pubkey(&leaf_pem));
            // OpenSSL refuses a wrong password, as we do.
            assert!(ossl
                .run(&args![
                    "pkcs12",
                    "-in",
                    &path,
                    "-nodes",
                    "-passin",
                    "pass:wrong"
                ])
                .is_err());
            assert!(bad(CertificateKey::from_pfx(pfx.expose(), Some("wrong"))).contains("password"));
        }
    }
}

#[test]
fn pfx_files_cross_between_here_and_python_cryptography() {
    let Some(_ossl) = OpenSsl::find() else { return };
    let probe = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        println!("SKIPPED: python3 with `cryptography` is not available");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (key_spec, _) in KEYS {
        let key = CertificateKey::generate(key_spec).unwrap();
        let leaf = key.self_signed(&spec("CN=python")).unwrap();
        let path = dir.path().join("kv.pfx");
        std::fs::write(
            &path,
            key.to_pfx(std::slice::from_ref(&leaf), None)
                .unwrap()
                .expose(),
        )
        .unwrap();
        let script = r#"
import sys
from cryptography.hazmat.primitives.serialization import pkcs12, Encoding, PublicFormat
data = open(sys.argv[1], "rb").read()
key, cert, extra = pkcs12.load_key_and_certificates(data, None)
fmt = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
assert key.public_key().public_bytes(*fmt) == cert.public_key().public_bytes(*fmt)
print(cert.subject.rfc4514_string())
"#;
        let out = Command::new("python3")
            .args(["-c", script])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{key_spec:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "CN=python");
    }

    // And the other way: PFX files Python writes (with its best encryption, with PBES2
    // AES-256 and a SHA-256 MAC asked for, and unencrypted) import here, key and all.
    let script = r#"
import sys, datetime
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    pkcs12, BestAvailableEncryption, NoEncryption, PrivateFormat)
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "made by python")])
now = datetime.datetime(2026, 1, 1)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256()))
pbes2 = (PrivateFormat.PKCS12.encryption_builder().kdf_rounds(50000)
         .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
         .hmac_hash(hashes.SHA256()).build(b"py pass"))
for enc, stem in [(BestAvailableEncryption(b"py pass"), "best"), (pbes2, "pbes2"),
                  (NoEncryption(), "none")]:
    data = pkcs12.serialize_key_and_certificates(b"kv", key, cert, None, enc)
    open(sys.argv[1] + "/" + stem + ".pfx", "wb").write(data)
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (stem, password) in [
        ("best", Some("py pass")),
        ("pbes2", Some("py pass")),
        ("none", None),
    ] {
        let bytes = std::fs::read(dir.path().join(format!("{stem}.pfx"))).unwrap();
        let (key, chain) =
            CertificateKey::from_pfx(&bytes, password).unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert!(key.matches(&chain[0]).unwrap(), "{stem}");
        assert_eq!(
            parse_certificate(&chain[0]).unwrap().subject,
            "CN=made by python"
        );
        if password.is_some() {
            assert!(bad(CertificateKey::from_pfx(&bytes, Some("nope"))).contains("password"));
        }
    }
}

/// `openssl req -x509 -newkey ...`: a PKCS#8 key file and a certificate file.
fn openssl_cert(ossl: &OpenSsl, newkey: &[&str]) -> (PathBuf, PathBuf) {
    let key = ossl.out("key.pem");
    let cert = ossl.out("cert.pem");
    let mut a = args!["req", "-x509"];
    a.extend(newkey.iter().map(OsString::from));
    a.extend(args![
        "-keyout",
        &key,
        "-out",
        &cert,
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/C=US/O=OpenSSL/CN=made by openssl",
        "-addext",
        "subjectAltName=DNS:ossl.example"
    ]);
    ossl.ok(&a);
    (key, cert)
}

#[test]
fn pfx_and_pem_made_by_openssl_import_here() {
    let Some(ossl) = OpenSsl::find() else { return };
    let kinds: [(&[&str], Option<CurveName>); 3] = [
        (&["-newkey", "rsa:2048"], None),
        (
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            Some(CurveName::P256),
        ),
        (
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
            Some(CurveName::P384),
        ),
    ];
    let legacy_provider = ossl
        .run(&args!["list", "-providers", "-provider", "legacy"])
        .is_ok();
    for (newkey, crv) in kinds {
        let (key_pem, cert_pem) = openssl_cert(&ossl, newkey);
        let cert_text = std::fs::read_to_string(&cert_pem).unwrap();
        let key_text = std::fs::read_to_string(&key_pem).unwrap();
        assert!(
            key_text.contains("BEGIN PRIVATE KEY"),
            "OpenSSL 3 writes PKCS#8"
        );

        // PFX, PBES2/AES-256 (OpenSSL 3's default), legacy 3DES, and RC2 (-legacy).
        let mut exports: Vec<(Vec<&str>, Option<&str>)> = vec![
            (vec![], Some("Pa55 wörd")),
            (vec![], None),
            (
                vec![
                    "-keypbe",
                    "PBE-SHA1-3DES",
                    "-certpbe",
                    "PBE-SHA1-3DES",
                    "-macalg",
                    "sha1",
                ],
                Some("legacy"),
            ),
            (vec!["-nomac", "-keypbe", "NONE", "-certpbe", "NONE"], None),
        ];
        if legacy_provider {
            exports.push((vec!["-legacy"], Some("legacy rc2")));
        } else {
            println!("the OpenSSL legacy provider is absent: RC2 PFX import not checked");
        }
        for (extra, password) in exports {
            let pfx = ossl.out("ossl.pfx");
            let mut a =
                args!["pkcs12", "-export", "-inkey", &key_pem, "-in", &cert_pem, "-out", &pfx];
            a.extend(extra.iter().map(OsString::from));
            a.extend(args![
                "-passout",
                format!("pass:{}", password.unwrap_or(""))
            ]);
            ossl.ok(&a);
            let bytes = std::fs::read(&pfx).unwrap();
            let (key, chain) = CertificateKey::from_pfx(&bytes, password)
                .unwrap_or_else(|e| panic!("{newkey:?} {extra:?}: {e}"));
            assert_eq!(chain.len(), 1);
            assert!(key.matches(&chain[0]).unwrap());
            assert_eq!(
                parse_certificate(&chain[0]).unwrap().subject,
                "CN=made by openssl, O=OpenSSL, C=US"
            );
            assert_eq!(
                parse_certificate(&chain[0]).unwrap().dns_names,
                ["ossl.example"]
            );
            ossl.assert_key_signs_for(&key, &cert_pem, crv);
            if let Some(p) = password {
                assert!(
                    bad(CertificateKey::from_pfx(&bytes, Some(&format!("{p}x"))))
                        .contains("password"),
                    "{extra:?}"
                );
                assert!(bad(CertificateKey::from_pfx(&bytes, None)).contains("password"));
            }
        }

        // PEM: PKCS#8 as OpenSSL 3 writes it, then the traditional SEC1 / PKCS#1 forms.
        let (key, chain) = CertificateKey::from_pem(&format!("{key_text}{cert_text}")).unwrap();
        assert!(key.matches(&chain[0]).unwrap());
        ossl.assert_key_signs_for(&key, &cert_pem, crv);
        let traditional = ossl.out("trad.pem");
        match crv {
            Some(_) => ossl.ok(&args!["ec", "-in", &key_pem, "-out", &traditional]),
            None => ossl.ok(&args![
                "rsa",
                "-in",
                &key_pem,
                "-traditional",
                "-out",
                &traditional
            ]),
        };
        let trad = std::fs::read_to_string(&traditional).unwrap();
        let label = if crv.is_some() {
            "EC PRIVATE KEY"
        } else {
            "RSA PRIVATE KEY"
        };
        assert!(trad.contains(label), "{trad}");
        let (key, _) = CertificateKey::from_pem(&format!("{cert_text}{trad}")).unwrap();
        ossl.assert_key_signs_for(&key, &cert_pem, crv);

        // Our PEM of the imported key reads back in OpenSSL as the same key.
        let ours = key.to_pem(&chain).unwrap();
        let ours = ossl.file("ours.pem", ours.expose().as_bytes());
        assert_eq!(ossl.key_pubkey(&ours), ossl.cert_pubkey(&cert_pem));
    }
}

#[test]
fn garbage_is_bad_parameter() {
    let Some(_ossl) = OpenSsl::find() else { return };
    assert!(bad(CertificateKey::from_pfx(b"\x30\x82\x01\x00garbage", None)).contains("PFX"));
    assert!(bad(CertificateKey::from_pfx(b"", Some("x"))).contains("PFX"));
    assert!(bad(CertificateKey::from_pem("not pem at all")).contains("no private key"));
    assert!(bad(parse_certificate(b"\x30\x03\x02\x01\x00")).contains("X.509"));
}
