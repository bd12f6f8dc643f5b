//! The hot path: cryptographic operations through a resolved [`KeyHandle`], each next to the
//! same operation called directly on the backend (aws-lc-rs, libsecp256k1, aes-kw)
//! with the same key, so the handle's overhead shows as a ratio.
//!
//! Names: `<op>/<ALG>[-<bits>]/handle` and `<op>/<ALG>[-<bits>]/raw`, plus
//! `-2threads` variants (two OS threads sharing one handle, aggregate ops/s). Every
//! benchmark reports ops/s (`Throughput::Elements(1)`). See `benches/README.md`.
//!
//! "raw" is what a caller holding the backend object would write: the primitive call with
//! its input prepared the same way (digest imported, output buffer allocated per call, as
//! the handle's owned result is). The difference to "handle" is the handle's own work: the
//! policy check (one `RwLock` read; enabled, nbf/exp, key_ops), algorithm dispatch and
//! input validation.
//!
//! After each pair, an interleaved check alternates short batches of the two and keeps each
//! side's fastest batch: the ratio it prints (and writes to `target/criterion/
//! interleaved.json`) holds up on a busy machine, where criterion's back-to-back runs do
//! not. `LOCALHSM_BENCH_NO_INTERLEAVED=1` turns it off.

mod common;

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use aes_kw::KekAes256;
use aws_lc_rs::digest::{self as lc_digest, Digest};
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rsa::{
    KeyPair as RsaKeyPair, OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};
use aws_lc_rs::signature::{
    self as lc, EcdsaKeyPair, KeyPair as _, ParsedPublicKey, RsaEncoding, RsaParameters,
};
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use localhsm::crypto::{AesParams, EncryptionAlgorithm, Jwk, SignatureAlgorithm, WrapAlgorithm};
use localhsm::model::KeyOptions;
use localhsm::KeyHandle;
use ring::rand::SecureRandom;
use rsa::pkcs8::EncodePrivateKey;

use common::interleaved::{interleaved, report_interleaved};
use common::token::DATA_KEY;
use common::{public, secret, BenchVault};

/// Runs `op` `iters` times split over two scoped threads: the time from the first thread
/// starting to the last one finishing. Each worker reads the clock itself: on 2 cores the
/// spawning thread may not run again until both workers are done.
fn on_two_threads(iters: u64, op: &(impl Fn() + Sync)) -> Duration {
    let barrier = Barrier::new(2);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let workers: Vec<_> = [iters / 2, iters - iters / 2]
            .into_iter()
            .map(|n| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..n {
                        op();
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("bench thread"))
            .collect()
    });
    let start = spans.iter().map(|s| s.0).min().expect("two spans");
    let end = spans.iter().map(|s| s.1).max().expect("two spans");
    end - start
}

/// Runs `op` `iters` times on this thread; the elapsed time.
fn on_one_thread<T>(iters: u64, op: &impl Fn() -> T) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(op());
    }
    start.elapsed()
}

/// A benchmark group whose benchmarks come in handle/raw pairs.
struct Group<'a> {
    g: BenchmarkGroup<'a, WallTime>,
    name: &'static str,
}

fn group<'a>(c: &'a mut Criterion, name: &'static str) -> Group<'a> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1));
    Group { g, name }
}

impl Group<'_> {
    /// `<group>/<id>/handle` and `<group>/<id>/raw`, then the interleaved check of their
    /// ratio.
    fn pair<T, U>(&mut self, id: &str, handle: impl Fn() -> T, raw: impl Fn() -> U) {
        self.g.bench_function(BenchmarkId::new(id, "handle"), |b| {
            b.iter(|| black_box(handle()))
        });
        self.g
            .bench_function(BenchmarkId::new(id, "raw"), |b| b.iter(|| black_box(raw())));
        interleaved(
            &format!("{}/{id}", self.name),
            ("handle", &|n| on_one_thread(n, &handle)),
            ("raw", &|n| on_one_thread(n, &raw)),
        );
    }

    /// `<group>/<id>/<name>`: another backend for the raw side of the pair `<id>`, then the
    /// interleaved check of `raw` against it.
    fn alternative<T, U>(
        &mut self,
        id: &str,
        name: &'static str,
        raw: impl Fn() -> T,
        other: impl Fn() -> U,
    ) {
        self.g.bench_function(BenchmarkId::new(id, name), |b| {
            b.iter(|| black_box(other()))
        });
        interleaved(
            &format!("{}/{id}", self.name),
            ("raw", &|n| on_one_thread(n, &raw)),
            (name, &|n| on_one_thread(n, &other)),
        );
    }

    /// `<group>/<id>/handle-2threads` and `.../raw-2threads`: two threads sharing the handle
    /// (and the raw object); then the interleaved checks of 2 threads against 1, and of
    /// handle against raw on 2 threads.
    fn pair_two_threads(&mut self, id: &str, handle: impl Fn() + Sync, raw: impl Fn() + Sync) {
        self.g
            .bench_function(BenchmarkId::new(id, "handle-2threads"), |b| {
                b.iter_custom(|iters| on_two_threads(iters, &handle))
            });
        self.g
            .bench_function(BenchmarkId::new(id, "raw-2threads"), |b| {
                b.iter_custom(|iters| on_two_threads(iters, &raw))
            });
        let id = format!("{}/{id}", self.name);
        interleaved(
            &id,
            ("handle", &|n| on_one_thread(n, &handle)),
            ("handle-2threads", &|n| on_two_threads(n, &handle)),
        );
        interleaved(
            &id,
            ("raw", &|n| on_one_thread(n, &raw)),
            ("raw-2threads", &|n| on_two_threads(n, &raw)),
        );
        // Handle against raw, both on two threads: whether sharing the handle costs.
        interleaved(
            &id,
            ("raw-2threads", &|n| on_two_threads(n, &raw)),
            ("handle-2threads", &|n| on_two_threads(n, &handle)),
        );
    }

    fn finish(self) {
        self.g.finish();
    }
}

// ---------------------------------------------------------------------------------------
// The raw backend objects, built from the same JWK components as the imported keys.

struct RawEc {
    pair: EcdsaKeyPair,
    verifier: ParsedPublicKey,
    digest_alg: &'static lc_digest::Algorithm,
}

impl RawEc {
    fn new(jwk: &Jwk, alg: SignatureAlgorithm) -> Self {
        let (sign, verify, digest_alg) = match alg {
            SignatureAlgorithm::ES256 => (
                &lc::ECDSA_P256_SHA256_FIXED_SIGNING,
                &lc::ECDSA_P256_SHA256_FIXED,
                &lc_digest::SHA256,
            ),
            SignatureAlgorithm::ES384 => (
                &lc::ECDSA_P384_SHA384_FIXED_SIGNING,
                &lc::ECDSA_P384_SHA384_FIXED,
                &lc_digest::SHA384,
            ),
            SignatureAlgorithm::ES256K => (
                &lc::ECDSA_P256K1_SHA256_FIXED_SIGNING,
                &lc::ECDSA_P256K1_SHA256_FIXED,
                &lc_digest::SHA256,
            ),
            _ => panic!("no raw EC key for {alg}"),
        };
        let mut point = vec![4u8];
        point.extend(public(&jwk.x, "x"));
        point.extend(public(&jwk.y, "y"));
        let pair = EcdsaKeyPair::from_private_key_and_public_key(sign, secret(&jwk.d, "d"), &point)
            .expect("EC key");
        let verifier = ParsedPublicKey::new(verify, &point).expect("EC public key");
        Self {
            pair,
            verifier,
            digest_alg,
        }
    }

    fn sign(&self, digest: &[u8]) -> lc::Signature {
        let digest = Digest::import_less_safe(digest, self.digest_alg).expect("digest");
        self.pair.sign_digest(&digest).expect("sign")
    }

    fn verify(&self, digest: &[u8], sig: &[u8]) -> bool {
        let digest = Digest::import_less_safe(digest, self.digest_alg).expect("digest");
        self.verifier.verify_digest_sig(&digest, sig).is_ok()
    }
}

/// secp256k1 on libsecp256k1, the handle's ES256K backend: the key parsed once, the
/// context built and blinded once.
struct RawK1 {
    key: secp256k1::SecretKey,
    ctx: secp256k1::Secp256k1<secp256k1::SignOnly>,
}

impl RawK1 {
    fn new(jwk: &Jwk) -> Self {
        let mut ctx = secp256k1::Secp256k1::signing_only();
        let mut seed = [0u8; 32];
        ring::rand::SystemRandom::new().fill(&mut seed).unwrap();
        ctx.seeded_randomize(&seed);
        let key = secp256k1::SecretKey::from_slice(secret(&jwk.d, "d")).expect("secp256k1 key");
        Self { key, ctx }
    }

    fn sign(&self, digest: &[u8]) -> [u8; 64] {
        let msg = secp256k1::Message::from_digest_slice(digest).expect("digest");
        self.ctx.sign_ecdsa(&msg, &self.key).serialize_compact()
    }
}

struct RawRsa {
    pair: RsaKeyPair,
    decrypt: OaepPrivateDecryptingKey,
    encrypt: OaepPublicEncryptingKey,
    spki: Vec<u8>,
}

impl RawRsa {
    /// PKCS#8 from the JWK's n, e, d, p, q (via the `rsa` crate), loaded into aws-lc-rs.
    fn new(jwk: &Jwk) -> Self {
        let uint = rsa::BigUint::from_bytes_be;
        let key = rsa::RsaPrivateKey::from_components(
            uint(&public(&jwk.n, "n")),
            uint(&public(&jwk.e, "e")),
            uint(secret(&jwk.d, "d")),
            vec![uint(secret(&jwk.p, "p")), uint(secret(&jwk.q, "q"))],
        )
        .expect("RSA components");
        let pkcs8 = key.to_pkcs8_der().expect("PKCS#8");
        let pair = RsaKeyPair::from_pkcs8(pkcs8.as_bytes()).expect("RSA key pair");
        let decrypt = OaepPrivateDecryptingKey::new(
            PrivateDecryptingKey::from_pkcs8(pkcs8.as_bytes()).expect("RSA decrypting key"),
        )
        .expect("OAEP key");
        let spki: PublicKeyX509Der<'static> = pair.public_key().as_der().expect("SPKI");
        let spki = spki.as_ref().to_vec();
        let encrypt = OaepPublicEncryptingKey::new(
            PublicEncryptingKey::from_der(&spki).expect("RSA public key"),
        )
        .expect("OAEP public key");
        Self {
            pair,
            decrypt,
            encrypt,
            spki,
        }
    }

    fn sign(&self, encoding: &'static dyn RsaEncoding, digest: &[u8]) -> Vec<u8> {
        let digest = Digest::import_less_safe(digest, &lc_digest::SHA256).expect("digest");
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign_digest(encoding, &digest, &mut sig)
            .expect("sign");
        sig
    }

    fn unwrap(&self, alg: &'static OaepAlgorithm, wrapped: &[u8]) -> Vec<u8> {
        owned_output(self.decrypt.key_size_bytes(), |out| {
            let plain = self.decrypt.decrypt(alg, wrapped, out, None);
            plain.expect("decrypt").len()
        })
    }

    fn encrypt(&self, alg: &'static OaepAlgorithm, plaintext: &[u8]) -> Vec<u8> {
        owned_output(self.encrypt.ciphertext_size(), |out| {
            let ciphertext = self.encrypt.encrypt(alg, plaintext, out, None);
            ciphertext.expect("encrypt").len()
        })
    }
}

/// The output of an aws-lc-rs operation that writes at most `len` bytes into a buffer and
/// says how many, in a buffer of its own (as the handle returns it).
fn owned_output(len: usize, op: impl FnOnce(&mut [u8]) -> usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let written = op(&mut out);
    out.truncate(written);
    out
}

// ---------------------------------------------------------------------------------------

struct Keys {
    _vault: BenchVault,
    /// aws-lc-rs for every curve (the raw side of ES256 and ES384, and ES256K's other
    /// backend).
    ec: Vec<(&'static str, SignatureAlgorithm, KeyHandle, RawEc)>,
    /// ES256K's raw side: libsecp256k1, as the handle signs.
    k1: RawK1,
    rsa: Vec<(usize, KeyHandle, RawRsa)>,
    kek: (KeyHandle, KekAes256),
    gcm: (KeyHandle, aws_lc_rs::aead::LessSafeKey),
    /// ec-p256 again, with `nbf` and `exp` set: the policy check then reads the clock.
    es256_dated: KeyHandle,
}

fn keys() -> Keys {
    let vault = BenchVault::new("hot-paths");
    let ec_specs = [
        ("ES256", "ec-p256", SignatureAlgorithm::ES256),
        ("ES384", "ec-p384", SignatureAlgorithm::ES384),
        ("ES256K", "ec-p256k", SignatureAlgorithm::ES256K),
    ];
    let ec = ec_specs
        .into_iter()
        .map(|(name, id, alg)| {
            let jwk = common::vector_jwk("ecdsa.json", id);
            let handle = vault.import(id, &jwk);
            (name, alg, handle, RawEc::new(&jwk, alg))
        })
        .collect();
    let k1 = RawK1::new(&common::vector_jwk("ecdsa.json", "ec-p256k"));
    let rsa = [2048, 3072]
        .into_iter()
        .map(|bits| {
            let id = format!("rsa-{bits}");
            let jwk = common::vector_jwk("rsa-oaep.json", &id);
            let handle = vault.import(&id, &jwk);
            (bits, handle, RawRsa::new(&jwk))
        })
        .collect();
    let kek_jwk = common::vector_jwk("aes-kw.json", "kek-256");
    let kek_bytes: [u8; 32] = secret(&kek_jwk.k, "k").try_into().expect("32-byte KEK");
    let kek = (
        vault.import("kek-256", &kek_jwk),
        KekAes256::from(kek_bytes),
    );
    let gcm_jwk = common::vector_jwk("aes-gcm.json", "gcm-256");
    let gcm = (
        vault.import("gcm-256", &gcm_jwk),
        aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, secret(&gcm_jwk.k, "k"))
            .map(aws_lc_rs::aead::LessSafeKey::new)
            .expect("GCM key"),
    );
    let now = vault.store.now();
    let dated = KeyOptions {
        not_before: Some(now - 3600),
        expires: Some(now + 10 * 365 * 86_400),
        ..KeyOptions::default()
    };
    let p256 = common::vector_jwk("ecdsa.json", "ec-p256");
    vault
        .vault
        .import_key("ec-p256-dated", &p256, true, dated)
        .expect("import");
    let es256_dated = vault.vault.key("ec-p256-dated", None).expect("handle");
    Keys {
        es256_dated,
        _vault: vault,
        ec,
        k1,
        rsa,
        kek,
        gcm,
    }
}

fn rsa_sig_algs() -> [(
    &'static str,
    SignatureAlgorithm,
    &'static dyn RsaEncoding,
    &'static RsaParameters,
); 2] {
    [
        (
            "RS256",
            SignatureAlgorithm::RS256,
            &lc::RSA_PKCS1_SHA256,
            &lc::RSA_PKCS1_2048_8192_SHA256,
        ),
        (
            "PS256",
            SignatureAlgorithm::PS256,
            &lc::RSA_PSS_SHA256,
            &lc::RSA_PSS_2048_8192_SHA256,
        ),
    ]
}

fn oaep_algs() -> [(
    &'static str,
    WrapAlgorithm,
    EncryptionAlgorithm,
    &'static OaepAlgorithm,
); 2] {
    [
        (
            "RSA-OAEP",
            WrapAlgorithm::RsaOaep,
            EncryptionAlgorithm::RsaOaep,
            &OAEP_SHA1_MGF1SHA1,
        ),
        (
            "RSA-OAEP-256",
            WrapAlgorithm::RsaOaep256,
            EncryptionAlgorithm::RsaOaep256,
            &OAEP_SHA256_MGF1SHA256,
        ),
    ]
}

/// Checks that handle and raw agree before timing them (a benchmark of a broken
/// operation measures nothing).
fn check_keys(k: &Keys) {
    for (name, alg, handle, raw) in &k.ec {
        let d = common::digest(alg_digest_len(*alg));
        let sig = handle.sign(*alg, &d).expect("handle sign");
        assert!(
            raw.verify(&d, &sig),
            "{name}: raw rejects the handle's signature"
        );
        let sig = raw.sign(&d);
        assert!(
            handle.verify(*alg, &d, sig.as_ref()).unwrap(),
            "{name}: handle rejects raw"
        );
    }
    // libsecp256k1 signs deterministically (RFC 6979): the handle and raw sign alike.
    let (_, alg, handle, _) = &k.ec[2];
    let d = common::digest(32);
    assert_eq!(
        handle.sign(*alg, &d).unwrap(),
        k.k1.sign(&d),
        "ES256K: libsecp256k1 signatures differ"
    );
    for (bits, handle, raw) in &k.rsa {
        let d = common::digest(32);
        assert_eq!(
            handle.sign(SignatureAlgorithm::RS256, &d).unwrap(),
            raw.sign(&lc::RSA_PKCS1_SHA256, &d),
            "RS256-{bits}: PKCS#1 v1.5 signatures differ"
        );
        for (name, wrap_alg, _, oaep) in oaep_algs() {
            let wrapped = handle.wrap_key(wrap_alg, &DATA_KEY).unwrap();
            assert_eq!(raw.unwrap(oaep, &wrapped), DATA_KEY, "{name}-{bits}");
        }
    }
    let (handle, kek) = &k.kek;
    assert_eq!(
        handle.wrap_key(WrapAlgorithm::A256Kw, &DATA_KEY).unwrap(),
        kek.wrap_vec(&DATA_KEY).unwrap(),
        "A256KW: wrapped keys differ"
    );
}

fn alg_digest_len(alg: SignatureAlgorithm) -> usize {
    alg.hash().output_len()
}

fn bench_sign(c: &mut Criterion, k: &Keys) {
    let mut g = group(c, "sign");
    for (name, alg, handle, raw) in &k.ec {
        let d = common::digest(alg_digest_len(*alg));
        if *alg == SignatureAlgorithm::ES256K {
            // The handle signs on libsecp256k1; aws-lc-rs is the other candidate.
            g.pair(name, || handle.sign(*alg, &d).unwrap(), || k.k1.sign(&d));
            g.alternative(name, "raw-aws-lc", || k.k1.sign(&d), || raw.sign(&d));
        } else {
            g.pair(name, || handle.sign(*alg, &d).unwrap(), || raw.sign(&d));
        }
    }
    for (bits, handle, raw) in &k.rsa {
        for (name, alg, encoding, _) in rsa_sig_algs() {
            let d = common::digest(32);
            g.pair(
                &format!("{name}-{bits}"),
                || handle.sign(alg, &d).unwrap(),
                || raw.sign(encoding, &d),
            );
        }
    }
    g.finish();
}

fn bench_unwrap(c: &mut Criterion, k: &Keys) {
    let mut g = group(c, "unwrap");
    for (bits, handle, raw) in &k.rsa {
        for (name, wrap_alg, _, oaep) in oaep_algs() {
            let wrapped = handle.wrap_key(wrap_alg, &DATA_KEY).unwrap();
            g.pair(
                &format!("{name}-{bits}"),
                || handle.unwrap_key(wrap_alg, &wrapped).unwrap(),
                || raw.unwrap(oaep, &wrapped),
            );
        }
    }
    let (handle, kek) = &k.kek;
    let wrapped = kek.wrap_vec(&DATA_KEY).unwrap();
    g.pair(
        "A256KW",
        || handle.unwrap_key(WrapAlgorithm::A256Kw, &wrapped).unwrap(),
        || kek.unwrap_vec(&wrapped).unwrap(),
    );
    g.finish();
}

fn bench_verify(c: &mut Criterion, k: &Keys) {
    let mut g = group(c, "verify");
    for (name, alg, handle, raw) in &k.ec {
        let d = common::digest(alg_digest_len(*alg));
        let sig = handle.sign(*alg, &d).unwrap();
        g.pair(
            name,
            || assert!(handle.verify(*alg, &d, &sig).unwrap()),
            || assert!(raw.verify(&d, &sig)),
        );
    }
    for (bits, handle, raw) in &k.rsa {
        for (name, alg, _, params) in rsa_sig_algs() {
            let d = common::digest(32);
            let sig = handle.sign(alg, &d).unwrap();
            // Parsed once, as a caller verifying many signatures with one key would.
            let verifier = ParsedPublicKey::new(params, &raw.spki).expect("RSA public key");
            g.pair(
                &format!("{name}-{bits}"),
                || assert!(handle.verify(alg, &d, &sig).unwrap()),
                || {
                    let digest = Digest::import_less_safe(&d, &lc_digest::SHA256).unwrap();
                    assert!(verifier.verify_digest_sig(&digest, &sig).is_ok())
                },
            );
        }
    }
    g.finish();
}

fn bench_encrypt(c: &mut Criterion, k: &Keys) {
    let mut g = group(c, "encrypt");
    for (bits, handle, raw) in &k.rsa {
        let (name, _, alg, oaep) = oaep_algs()[1];
        g.pair(
            &format!("{name}-{bits}"),
            || {
                handle
                    .encrypt(alg, &DATA_KEY, AesParams::default())
                    .unwrap()
            },
            || raw.encrypt(oaep, &DATA_KEY),
        );
    }
    // A256GCM with a fresh random 96-bit IV per call, as Managed HSM generates it: both
    // sides draw it from the system CSPRNG. `raw` keeps the IV and tag on the stack;
    // `raw-owned` returns them in `Vec`s, as the handle's `Encrypted` must.
    let (handle, cipher) = &k.gcm;
    let rng = ring::rand::SystemRandom::new();
    let raw = || {
        let mut iv = [0u8; 12];
        rng.fill(&mut iv).unwrap();
        let mut buf = DATA_KEY.to_vec();
        let tag = cipher
            .seal_in_place_separate_tag(
                aws_lc_rs::aead::Nonce::assume_unique_for_key(iv),
                aws_lc_rs::aead::Aad::empty(),
                &mut buf,
            )
            .unwrap();
        (buf, iv, tag)
    };
    g.pair(
        "A256GCM",
        || {
            handle
                .encrypt(
                    EncryptionAlgorithm::A256Gcm,
                    &DATA_KEY,
                    AesParams::default(),
                )
                .unwrap()
        },
        raw,
    );
    g.alternative("A256GCM", "raw-owned", raw, || {
        let (buf, iv, tag) = raw();
        (buf, iv.to_vec(), tag.as_ref().to_vec())
    });
    g.finish();
}

fn bench_wrap(c: &mut Criterion, k: &Keys) {
    let mut g = group(c, "wrap");
    let (bits, handle, raw) = &k.rsa[0];
    let (name, alg, _, oaep) = oaep_algs()[1];
    g.pair(
        &format!("{name}-{bits}"),
        || handle.wrap_key(alg, &DATA_KEY).unwrap(),
        || raw.encrypt(oaep, &DATA_KEY),
    );
    let (handle, kek) = &k.kek;
    g.pair(
        "A256KW",
        || handle.wrap_key(WrapAlgorithm::A256Kw, &DATA_KEY).unwrap(),
        || kek.wrap_vec(&DATA_KEY).unwrap(),
    );
    g.finish();
}

/// Two threads sharing one handle: ES256 sign (a 16 µs operation) and A256KW unwrap (a
/// sub-microsecond one, where a contended policy lock would show most).
fn bench_two_threads(c: &mut Criterion, k: &Keys) {
    let (_, alg, handle, raw) = &k.ec[0];
    let d = common::digest(32);
    let mut g = group(c, "sign");
    g.pair_two_threads(
        "ES256",
        || {
            black_box(handle.sign(*alg, &d).unwrap());
        },
        || {
            black_box(raw.sign(&d));
        },
    );
    // The same key with nbf/exp: each operation also reads the store's clock.
    let dated = &k.es256_dated;
    let plain = || handle.sign(*alg, &d).unwrap();
    let with_dates = || dated.sign(*alg, &d).unwrap();
    g.g.bench_function(BenchmarkId::new("ES256", "handle-dated"), |b| {
        b.iter(|| black_box(with_dates()))
    });
    g.g.bench_function(BenchmarkId::new("ES256", "handle-dated-2threads"), |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, &|| {
                black_box(with_dates());
            })
        })
    });
    interleaved(
        "sign/ES256",
        ("handle", &|n| on_one_thread(n, &plain)),
        ("handle-dated", &|n| on_one_thread(n, &with_dates)),
    );
    interleaved(
        "sign/ES256",
        ("handle-2threads", &|n| {
            on_two_threads(n, &|| {
                black_box(plain());
            })
        }),
        ("handle-dated-2threads", &|n| {
            on_two_threads(n, &|| {
                black_box(with_dates());
            })
        }),
    );
    g.finish();
    let (handle, kek) = &k.kek;
    let wrapped = kek.wrap_vec(&DATA_KEY).unwrap();
    let mut g = group(c, "unwrap");
    g.pair_two_threads(
        "A256KW",
        || {
            black_box(handle.unwrap_key(WrapAlgorithm::A256Kw, &wrapped).unwrap());
        },
        || {
            black_box(kek.unwrap_vec(&wrapped).unwrap());
        },
    );
    g.finish();
}

fn hot_paths(c: &mut Criterion) {
    let k = keys();
    check_keys(&k);
    bench_sign(c, &k);
    bench_unwrap(c, &k);
    bench_two_threads(c, &k);
    bench_verify(c, &k);
    bench_encrypt(c, &k);
    bench_wrap(c, &k);
    report_interleaved();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = hot_paths
}
criterion_main!(benches);
