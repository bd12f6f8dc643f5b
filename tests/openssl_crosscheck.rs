//! Interoperability with the `openssl` command-line tool (OpenSSL 3), an independent
//! implementation, using the fixed keys of `vectors/` imported into a Managed HSM vault:
//!
//! - signatures made through `KeyHandle::sign` verify under `openssl pkeyutl -verify` (ECDSA
//!   converted from Key Vault's raw `r||s` to DER), and a corrupted one does not;
//! - signatures made by `openssl pkeyutl -sign` verify through `KeyHandle::verify`, and the
//!   deterministic RS* ones are byte-identical to ours;
//! - ciphertexts from `openssl pkeyutl -encrypt` (OAEP SHA-1, OAEP SHA-256, PKCS#1 v1.5)
//!   decrypt (and unwrap) here, and ours decrypt under `openssl pkeyutl -decrypt`;
//! - AES key wrap and AES-CBC (with and without padding) match `openssl enc` byte for byte.
//!
//! Without an `openssl` binary every test prints why and passes, unless
//! `LOCALHSM_REQUIRE_OPENSSL` is set, which turns its absence into a failure.

mod support;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use localhsm::crypto::{
    AesParams, CurveName, EncryptionAlgorithm as E, Jwk, KeyType, SignatureAlgorithm as S,
    WrapAlgorithm as W,
};
use localhsm::model::KeyOptions;
use localhsm::vectors::encoding::{ecdsa_raw_to_der, fixed_width};
use localhsm::{KeyHandle, Vault};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use support::{default_hsm, vector_file, vector_jwk, TempStore};

// ---------------------------------------------------------------------------------------
// The openssl binary and a scratch directory

/// Command-line arguments of mixed types (`&str`, `String`, `&Path`...).
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
                let version = String::from_utf8_lossy(&out.stdout);
                println!("using {}", version.trim());
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
                    "SKIPPED: no working `openssl` binary on PATH; the OpenSSL cross-checks did \
                     not run (set LOCALHSM_REQUIRE_OPENSSL=1 to make this a failure)"
                );
                None
            }
        }
    }

    /// Writes `bytes` to a fresh file in the scratch directory.
    fn file(&self, stem: &str, bytes: &[u8]) -> PathBuf {
        let path = self.out(stem);
        std::fs::write(&path, bytes).expect("write scratch file");
        path
    }

    /// A fresh path in the scratch directory, for openssl to write.
    fn out(&self, stem: &str) -> PathBuf {
        let n = self.files.get();
        self.files.set(n + 1);
        self.dir.path().join(format!("{n}-{stem}"))
    }

    /// Runs `openssl args...`; `Ok(stdout)` on exit status 0, else `Err(stderr)`.
    fn run(&self, args: &[OsString]) -> Result<Vec<u8>, String> {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("spawn openssl");
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(format!(
                "openssl {args:?} exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// `openssl pkeyutl MODE.. -inkey KEY -in DIGEST FLAG FILE` with the options of
    /// signature algorithm `alg` (see [`sign_opts`]).
    fn pkeyutl_sig(
        &self,
        alg: S,
        mode: &[&str],
        key: &Path,
        digest: &Path,
        (flag, file): (&str, &Path),
    ) -> Result<Vec<u8>, String> {
        let mut args = args!["pkeyutl"];
        args.extend(mode.iter().map(OsString::from));
        args.extend(args!["-inkey", key, "-in", digest, flag, file]);
        args.extend(sign_opts(alg).iter().map(OsString::from));
        self.run(&args)
    }

    fn read(path: &Path) -> Vec<u8> {
        std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }
}

// ---------------------------------------------------------------------------------------
// Keys: the vector JWKs, imported, and as PEM for openssl

struct TestKey {
    id: String,
    handle: KeyHandle,
    public_pem: String,
    private_pem: String,
}

fn b(m: &Option<localhsm::crypto::SecretBase64Url>) -> &[u8] {
    m.as_ref().expect("private member").0.expose()
}

/// A public key as SPKI and a private key as PKCS#8, in PEM: the files openssl reads.
fn pems(public: &impl EncodePublicKey, private: &impl EncodePrivateKey) -> (String, String) {
    let public = public
        .to_public_key_pem(LineEnding::LF)
        .expect("public PEM");
    let private = private
        .to_pkcs8_pem(LineEnding::LF)
        .expect("private PEM")
        .to_string();
    (public, private)
}

fn rsa_pems(jwk: &Jwk) -> (String, String) {
    use rsa::BigUint;
    let int = |v: &[u8]| BigUint::from_bytes_be(v);
    let key = rsa::RsaPrivateKey::from_components(
        int(&jwk.n.as_ref().unwrap().0),
        int(&jwk.e.as_ref().unwrap().0),
        int(b(&jwk.d)),
        vec![int(b(&jwk.p)), int(b(&jwk.q))],
    )
    .expect("RSA components");
    pems(&key.to_public_key(), &key)
}

fn ec_pems(jwk: &Jwk) -> (String, String) {
    macro_rules! pems {
        ($krate:ident) => {{
            let sk = $krate::SecretKey::from_slice(b(&jwk.d)).expect("EC scalar");
            pems(&sk.public_key(), &sk)
        }};
    }
    match jwk.crv.expect("crv") {
        CurveName::P256 => pems!(p256),
        CurveName::P384 => pems!(p384),
        CurveName::P521 => pems!(p521),
        CurveName::P256K => pems!(k256),
        other => panic!("unexpected curve {other}"),
    }
}

/// A Managed HSM vault for the imported keys, in a store that lives as long as the first.
fn hsm_vault() -> (TempStore, Vault) {
    let store = TempStore::new();
    let vault = store.vault("hsm", default_hsm());
    (store, vault)
}

/// Imports `jwk` (with its private members) as HSM key `id` with the default operations of
/// its type.
fn import(vault: &Vault, id: &str, jwk: &Jwk) -> KeyHandle {
    vault
        .import_key(id, jwk, true, KeyOptions::default())
        .and_then(|_| vault.key(id, None))
        .unwrap_or_else(|e| panic!("import {id}: {e}"))
}

/// Imports every key of `vectors/<file>` and prepares its PEM files.
fn keys(vault: &Vault, file: &str) -> BTreeMap<String, TestKey> {
    vector_file(file)
        .keys
        .keys()
        .map(|id| {
            let jwk = vector_jwk(file, id);
            let handle = import(vault, id, &jwk);
            let (public_pem, private_pem) = match jwk.kty {
                Some(KeyType::Rsa) => rsa_pems(&jwk),
                Some(KeyType::Ec) => ec_pems(&jwk),
                other => panic!("{id}: no PEM for {other:?}"),
            };
            let key = TestKey {
                id: id.clone(),
                handle,
                public_pem,
                private_pem,
            };
            (id.clone(), key)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// ECDSA signature encodings

/// An ASN.1 `ECDSA-Sig-Value` as raw `r||s`, each `width` bytes.
fn ecdsa_der_to_raw(der: &[u8], width: usize) -> Vec<u8> {
    fn take_len(d: &[u8]) -> (usize, &[u8]) {
        match d[0] {
            n @ 0..=0x7f => (n as usize, &d[1..]),
            0x81 => (d[1] as usize, &d[2..]),
            other => panic!("unexpected DER length byte {other:#x}"),
        }
    }
    assert_eq!(der[0], 0x30, "not a DER SEQUENCE");
    let (len, mut rest) = take_len(&der[1..]);
    assert_eq!(len, rest.len(), "DER SEQUENCE length");
    let mut raw = Vec::with_capacity(2 * width);
    for _ in 0..2 {
        assert_eq!(rest[0], 0x02, "not a DER INTEGER");
        let (n, tail) = take_len(&rest[1..]);
        raw.extend(fixed_width(&tail[..n], width).expect("integer fits the curve"));
        rest = &tail[n..];
    }
    assert!(rest.is_empty(), "trailing bytes after the signature");
    raw
}

// ---------------------------------------------------------------------------------------
// Signatures

fn digest_name(alg: S) -> &'static str {
    match alg.hash().output_len() {
        32 => "sha256",
        48 => "sha384",
        _ => "sha512",
    }
}

/// The `pkeyutl` options for `alg` over a precomputed digest.
fn sign_opts(alg: S) -> Vec<String> {
    let md = digest_name(alg);
    let mut opts = Vec::new();
    if matches!(alg, S::PS256 | S::PS384 | S::PS512) {
        opts.push("rsa_padding_mode:pss".to_string());
        // An explicit length: OpenSSL then checks the salt is exactly the digest length.
        opts.push(format!("rsa_pss_saltlen:{}", alg.hash().output_len()));
        opts.push(format!("rsa_mgf1_md:{md}"));
    }
    opts.push(format!("digest:{md}"));
    opts.into_iter()
        .flat_map(|o| ["-pkeyopt".to_string(), o])
        .collect()
}

/// Every signature algorithm with the keys it runs on.
fn signature_cases() -> Vec<(S, &'static str, &'static str)> {
    let mut v = vec![
        (S::ES256, "ecdsa.json", "ec-p256"),
        (S::ES384, "ecdsa.json", "ec-p384"),
        (S::ES512, "ecdsa.json", "ec-p521"),
        (S::ES256K, "ecdsa.json", "ec-p256k"),
    ];
    for alg in [S::RS256, S::RS384, S::RS512, S::PS256, S::PS384, S::PS512] {
        for key in ["rsa-2048", "rsa-3072", "rsa-4096"] {
            v.push((alg, "rsa-oaep.json", key));
        }
    }
    v
}

const MESSAGES: [&[u8]; 2] = [b"", b"localhsm / openssl cross-check"];

/// The keys of some `vectors/` files, imported into one vault, by (file, key id).
struct Keys {
    _store: TempStore,
    keys: BTreeMap<(String, String), TestKey>,
}

impl Keys {
    fn load(files: &[&str]) -> Self {
        let (store, vault) = hsm_vault();
        let mut keys = BTreeMap::new();
        for file in files {
            for (id, k) in self::keys(&vault, file) {
                keys.insert((file.to_string(), id), k);
            }
        }
        Keys {
            _store: store,
            keys,
        }
    }
}

fn signature_keys() -> Keys {
    Keys::load(&["ecdsa.json", "rsa-oaep.json"])
}

#[test]
fn our_signatures_verify_in_openssl() {
    let Some(ossl) = OpenSsl::find() else { return };
    let sk = signature_keys();
    let mut checked = BTreeMap::<String, usize>::new();
    for (alg, file, id) in signature_cases() {
        let key = &sk.keys[&(file.to_string(), id.to_string())];
        let public = ossl.file(&format!("{id}.pub.pem"), key.public_pem.as_bytes());
        for (i, msg) in MESSAGES.iter().enumerate() {
            let digest = alg.hash().digest(msg);
            let sig = key
                .handle
                .sign(alg, &digest)
                .unwrap_or_else(|e| panic!("{alg} {id}: sign: {e}"));
            let sig = match alg {
                S::ES256 | S::ES384 | S::ES512 | S::ES256K => ecdsa_raw_to_der(&sig),
                _ => sig,
            };
            let verify = |sig: &[u8]| {
                let digest_file = ossl.file("digest.bin", &digest);
                let sig_file = ossl.file("sig.bin", sig);
                let mode = ["-verify", "-pubin"];
                ossl.pkeyutl_sig(alg, &mode, &public, &digest_file, ("-sigfile", &sig_file))
            };
            if let Err(e) = verify(&sig) {
                panic!("{alg} {id}: openssl rejected our signature: {e}");
            }
            if i == 0 {
                // Control: the same check must fail on a corrupted signature.
                let mut bad = sig.clone();
                let last = bad.len() - 2;
                bad[last] ^= 0x01;
                assert!(
                    verify(&bad).is_err(),
                    "{alg} {id}: openssl accepted a corrupted signature; the check is vacuous"
                );
            }
            *checked.entry(format!("{alg} {id}")).or_default() += 1;
        }
    }
    for (what, n) in &checked {
        println!("{what}: {n} signatures verified by openssl (and a corrupted one refused)");
    }
    assert_eq!(checked.len(), signature_cases().len());
}

#[test]
fn openssl_signatures_verify_here() {
    let Some(ossl) = OpenSsl::find() else { return };
    let sk = signature_keys();
    let mut checked = 0;
    for (alg, file, id) in signature_cases() {
        let key = &sk.keys[&(file.to_string(), id.to_string())];
        let private = ossl.file(&format!("{id}.key.pem"), key.private_pem.as_bytes());
        for msg in MESSAGES {
            let digest = alg.hash().digest(msg);
            let digest_file = ossl.file("digest.bin", &digest);
            let sig_file = ossl.out("sig.bin");
            ossl.pkeyutl_sig(alg, &["-sign"], &private, &digest_file, ("-out", &sig_file))
                .unwrap_or_else(|e| panic!("{alg} {id}: openssl sign: {e}"));
            let sig = OpenSsl::read(&sig_file);
            let sig = match alg.curve() {
                Some(c) => ecdsa_der_to_raw(&sig, c.scalar_len()),
                None => sig,
            };
            if matches!(alg, S::RS256 | S::RS384 | S::RS512) {
                let ours = key.handle.sign(alg, &digest).expect("sign");
                assert_eq!(
                    hex::encode(&ours),
                    hex::encode(&sig),
                    "{alg} {id}: PKCS#1 v1.5 is deterministic; our signature differs from openssl's"
                );
            }
            assert!(
                key.handle
                    .verify(alg, &digest, &sig)
                    .unwrap_or_else(|e| panic!("{alg} {id}: verify: {e}")),
                "{alg} {id}: openssl's signature does not verify here"
            );
            checked += 1;
        }
    }
    println!(
        "{checked} openssl signatures verified here ({} algorithm/key pairs; RS* byte-identical)",
        signature_cases().len()
    );
    assert_eq!(checked, signature_cases().len() * MESSAGES.len());
}

// ---------------------------------------------------------------------------------------
// RSA encryption

/// (algorithm, the same as a wrap algorithm, `pkeyutl` options).
fn rsa_paddings() -> [(E, W, &'static [&'static str]); 3] {
    [
        (
            E::RsaOaep,
            W::RsaOaep,
            &[
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                "rsa_oaep_md:sha1",
                "-pkeyopt",
                "rsa_mgf1_md:sha1",
            ],
        ),
        (
            E::RsaOaep256,
            W::RsaOaep256,
            &[
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                "rsa_oaep_md:sha256",
                "-pkeyopt",
                "rsa_mgf1_md:sha256",
            ],
        ),
        (
            E::Rsa1_5,
            W::Rsa1_5,
            &["-pkeyopt", "rsa_padding_mode:pkcs1"],
        ),
    ]
}

/// Plaintext lengths to try: short, a 256-bit key, and the longest the padding allows.
fn rsa_plaintexts(alg: E, modulus_len: usize) -> Vec<Vec<u8>> {
    let max = match alg {
        E::RsaOaep => modulus_len - 2 * 20 - 2,
        E::RsaOaep256 => modulus_len - 2 * 32 - 2,
        _ => modulus_len - 11,
    };
    [1, 32, max]
        .iter()
        .map(|&n| (0..n).map(|i| (i * 7 + n) as u8).collect())
        .collect()
}

fn modulus_len(id: &str) -> usize {
    id.trim_start_matches("rsa-")
        .parse::<usize>()
        .expect("rsa-<bits>")
        / 8
}

/// One RSA encryption case: a key, a padding (as encryption and as wrap algorithm, with its
/// `pkeyutl` options) and a plaintext.
type RsaCase<'a> = (&'a TestKey, E, W, &'static [&'static str], Vec<u8>);

/// Every key with every padding and each of its plaintexts.
fn rsa_cases(keys: &Keys) -> Vec<RsaCase<'_>> {
    let mut cases = Vec::new();
    for key in keys.keys.values() {
        for (alg, wrap_alg, opts) in rsa_paddings() {
            for pt in rsa_plaintexts(alg, modulus_len(&key.id)) {
                cases.push((key, alg, wrap_alg, opts, pt));
            }
        }
    }
    cases
}

#[test]
fn openssl_ciphertexts_decrypt_here() {
    let Some(ossl) = OpenSsl::find() else { return };
    let keys = Keys::load(&["rsa-oaep.json"]);
    let mut checked = 0;
    for (key, alg, wrap_alg, opts, pt) in rsa_cases(&keys) {
        let public = ossl.file(&format!("{}.pub.pem", key.id), key.public_pem.as_bytes());
        let pt_file = ossl.file("pt.bin", &pt);
        let ct_file = ossl.out("ct.bin");
        let mut args = args![
            "pkeyutl", "-encrypt", "-pubin", "-inkey", &public, "-in", &pt_file, "-out", &ct_file
        ];
        args.extend(opts.iter().map(OsString::from));
        ossl.run(&args)
            .unwrap_or_else(|e| panic!("{alg} {}: openssl encrypt: {e}", key.id));
        let ct = OpenSsl::read(&ct_file);
        let what = format!("{alg} {} ({}-byte plaintext)", key.id, pt.len());
        let got = key
            .handle
            .decrypt(alg, &ct, AesParams::default())
            .unwrap_or_else(|e| panic!("{what}: decrypt of openssl's ciphertext: {e}"));
        assert_eq!(got.expose(), &pt[..], "{what}: decrypt");
        let got = key
            .handle
            .unwrap_key(wrap_alg, &ct)
            .unwrap_or_else(|e| panic!("{what}: unwrap of openssl's ciphertext: {e}"));
        assert_eq!(got.expose(), &pt[..], "{what}: unwrap");
        checked += 1;
    }
    println!(
        "{checked} openssl ciphertexts (RSA-OAEP, RSA-OAEP-256, RSA1_5 x 3 keys x 3 lengths) \
         decrypted and unwrapped here"
    );
    assert_eq!(checked, 27);
}

#[test]
fn our_ciphertexts_decrypt_in_openssl() {
    let Some(ossl) = OpenSsl::find() else { return };
    let keys = Keys::load(&["rsa-oaep.json"]);
    let mut checked = 0;
    for (key, alg, wrap_alg, opts, pt) in rsa_cases(&keys) {
        let private = ossl.file(&format!("{}.key.pem", key.id), key.private_pem.as_bytes());
        let what = format!("{alg} {} ({}-byte plaintext)", key.id, pt.len());
        let encrypted = key
            .handle
            .encrypt(alg, &pt, AesParams::default())
            .unwrap_or_else(|e| panic!("{what}: encrypt: {e}"))
            .ciphertext;
        let wrapped = key
            .handle
            .wrap_key(wrap_alg, &pt)
            .unwrap_or_else(|e| panic!("{what}: wrap: {e}"));
        for ct in [encrypted, wrapped] {
            let ct_file = ossl.file("ct.bin", &ct);
            let mut args = args!["pkeyutl", "-decrypt", "-inkey", &private, "-in", &ct_file];
            args.extend(opts.iter().map(OsString::from));
            let got = ossl
                .run(&args)
                .unwrap_or_else(|e| panic!("{what}: openssl decrypt: {e}"));
            assert_eq!(got, pt, "{what}: openssl decrypted something else");
            checked += 1;
        }
    }
    println!("{checked} of our RSA ciphertexts (encrypt and wrapKey) decrypted by openssl");
    assert_eq!(checked, 54);
}

// ---------------------------------------------------------------------------------------
// AES

fn oct_key(file: &str, id: &str, vault: &Vault) -> (Vec<u8>, KeyHandle) {
    let jwk = vector_jwk(file, id);
    let k = b(&jwk.k).to_vec();
    (k, import(vault, id, &jwk))
}

/// `openssl enc` with `cipher`, key `key` and `iv` (both hex) on `input`.
fn enc_args(cipher: &str, key: &[u8], iv: &str, input: &Path) -> Vec<OsString> {
    args![
        "enc",
        cipher,
        "-K",
        hex::encode(key),
        "-iv",
        iv,
        "-in",
        input
    ]
}

#[test]
fn aes_key_wrap_matches_openssl() {
    let Some(ossl) = OpenSsl::find() else { return };
    let cipher_list = ossl
        .run(&args!["list", "-cipher-algorithms"])
        .expect("openssl list");
    if !String::from_utf8_lossy(&cipher_list).contains("id-aes256-wrap") {
        println!("SKIPPED: this openssl has no id-aes*-wrap ciphers; AES-KW not cross-checked");
        return;
    }
    let (_store, vault) = hsm_vault();
    let mut checked = 0;
    for (id, alg, cipher) in [
        ("kek-128", W::A128Kw, "-id-aes128-wrap"),
        ("kek-192", W::A192Kw, "-id-aes192-wrap"),
        ("kek-256", W::A256Kw, "-id-aes256-wrap"),
    ] {
        let (kek, handle) = oct_key("aes-kw.json", id, &vault);
        for len in [16, 24, 32, 64] {
            let key: Vec<u8> = (0..len).map(|i| (i * 13 + len) as u8).collect();
            let in_file = ossl.file("key.bin", &key);
            let theirs = ossl
                .run(&enc_args(cipher, &kek, "A6A6A6A6A6A6A6A6", &in_file))
                .unwrap_or_else(|e| panic!("{alg}: openssl wrap: {e}"));
            let ours = handle.wrap_key(alg, &key).expect("wrap");
            assert_eq!(
                hex::encode(&ours),
                hex::encode(&theirs),
                "{alg} {len}-byte key: wrap differs from openssl's"
            );
            let back = handle.unwrap_key(alg, &theirs).expect("unwrap");
            assert_eq!(back.expose(), &key[..], "{alg}: unwrap of openssl's output");
            checked += 1;
        }
    }
    println!("AES key wrap (A128KW, A192KW, A256KW x 4 key lengths): {checked} byte-identical to openssl enc -id-aes*-wrap");
    assert_eq!(checked, 12);
}

#[test]
fn aes_cbc_matches_openssl() {
    let Some(ossl) = OpenSsl::find() else { return };
    let (_store, vault) = hsm_vault();
    let iv: Vec<u8> = (0u8..16).map(|i| i.wrapping_mul(17)).collect();
    let mut checked = 0;
    for (id, bits, plain, pad) in [
        ("cbc-128", 128, E::A128Cbc, E::A128CbcPad),
        ("cbc-192", 192, E::A192Cbc, E::A192CbcPad),
        ("cbc-256", 256, E::A256Cbc, E::A256CbcPad),
    ] {
        let (k, handle) = oct_key("aes-cbc.json", id, &vault);
        let cipher = format!("-aes-{bits}-cbc");
        for (alg, len) in [(plain, 16), (plain, 64), (pad, 1), (pad, 16), (pad, 33)] {
            let pt: Vec<u8> = (0..len).map(|i| (i * 5 + len) as u8).collect();
            let in_file = ossl.file("pt.bin", &pt);
            let mut args = enc_args(&cipher, &k, &hex::encode(&iv), &in_file);
            if alg == plain {
                args.push("-nopad".into());
            }
            let theirs = ossl
                .run(&args)
                .unwrap_or_else(|e| panic!("{alg}: openssl enc: {e}"));
            let params = AesParams {
                iv: Some(&iv),
                ..AesParams::default()
            };
            let ours = handle.encrypt(alg, &pt, params).expect("encrypt");
            assert_eq!(
                hex::encode(&ours.ciphertext),
                hex::encode(&theirs),
                "{alg} {len}-byte plaintext: differs from openssl enc"
            );
            let back = handle.decrypt(alg, &theirs, params).expect("decrypt");
            assert_eq!(back.expose(), &pt[..], "{alg}: decrypt of openssl's output");
            checked += 1;
        }
    }
    println!("AES-CBC and AES-CBCPAD (3 key sizes x 5 plaintexts): {checked} byte-identical to openssl enc");
    assert_eq!(checked, 15);
}
