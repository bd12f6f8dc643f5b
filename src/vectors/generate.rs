//! `localhsm vectors generate`: a vector file in localhsm's format (`vectors/README.md`) for
//! one algorithm, from a seed.
//!
//! Determinism: every random choice comes from ChaCha20 seeded with SHA-256 of a label and
//! the seed. The key depends only on the seed and its key id (so RS256, PS256 and RSA-OAEP
//! files of one seed share `rsa-2048`); the inputs (messages, plaintexts, ivs, aad) depend
//! on the seed and the algorithm. Keys: EC scalars are random bytes retried until valid on
//! the curve; RSA keys come from `rsa::RsaPrivateKey::new` (key generation only; no `rsa`
//! private-key operation is used); oct keys are random bytes.
//!
//! Outputs go through [`KeyHandle`] of the key imported into a scratch vault, the real path.
//! RS*, A*KW, A*GCM and A*CBC* are deterministic, so the same options give a byte-identical
//! file; ES*, PS*, RSA-OAEP* and RSA1_5 outputs are randomised by localhsm and only verify
//! or decrypt. The invalid cases are made by tampering with real outputs (bit flips,
//! truncation, swapped or out-of-range values, wrong tags, aad or iv), by asking for
//! refused parameters (wrong digest length, key/alg mismatch, bad lengths), and, for RSA
//! decryption, by encoding malformed OAEP and PKCS#1 v1.5 blocks and encrypting them with
//! the public key. Before it is returned, every generated file is run through
//! [`check_vector_file`](super::check::check_vector_file); a case that fails is a bug and an error.

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest as _, Sha256};

use super::encoding::ecdsa_raw_to_der;
use super::format::{Expected, Family, KeyJwk, Op, VectorAlg, VectorCase, VectorFile, SCHEMA};
use super::report::VectorError;
use super::scratch::Scratch;
use crate::crypto::alg::{AesMode, EncryptionScheme, RsaPadding};
use crate::crypto::jwk::{b64url_decode, b64url_encode};
use crate::crypto::{
    AesParams, CurveName, Encrypted, EncryptionAlgorithm as E, HashAlg, SignatureAlgorithm as S,
    WrapAlgorithm as W,
};
use crate::KeyHandle;

/// Valid cases per file when `--count` is not given.
pub const DEFAULT_COUNT: usize = 8;
/// The largest `--count` accepted.
pub const MAX_COUNT: usize = 1000;
/// RSA modulus size when `--bits` is not given.
pub const DEFAULT_RSA_BITS: usize = 2048;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerateOptions {
    /// The algorithm; the file's family follows from it.
    pub alg: VectorAlg,
    /// Number of random valid cases (1 to [`MAX_COUNT`]). The fixed invalid cases, and a few
    /// special valid ones, come on top.
    pub count: usize,
    /// The seed: same seed, same keys and inputs.
    pub seed: u64,
    /// RSA modulus size: 2048, 3072 or 4096 (ignored for other algorithms).
    pub bits: usize,
}

impl GenerateOptions {
    /// The defaults for `alg`: [`DEFAULT_COUNT`] cases, seed 0, RSA-2048.
    pub fn new(alg: VectorAlg) -> Self {
        Self {
            alg,
            count: DEFAULT_COUNT,
            seed: 0,
            bits: DEFAULT_RSA_BITS,
        }
    }

    fn is_rsa(&self) -> bool {
        matches!(
            self.alg.family(),
            Family::RsaPkcs1Sign | Family::RsaPssSign | Family::RsaOaep | Family::Rsa1_5
        )
    }

    fn validate(&self) -> Result<(), VectorError> {
        if !(1..=MAX_COUNT).contains(&self.count) {
            return Err(VectorError::Invalid(format!(
                "count must be 1 to {MAX_COUNT}, not {}",
                self.count
            )));
        }
        if self.is_rsa() && !crate::crypto::rsa::SUPPORTED_BITS.contains(&self.bits) {
            return Err(VectorError::Invalid(format!(
                "RSA bits must be 2048, 3072 or 4096, not {}",
                self.bits
            )));
        }
        Ok(())
    }
}

/// A ChaCha20 stream for `label` and `parts`: SHA-256 over them, length-prefixed.
fn stream(label: &str, parts: &[&[u8]]) -> ChaCha20Rng {
    let mut h = Sha256::new();
    for p in std::iter::once(label.as_bytes()).chain(parts.iter().copied()) {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    ChaCha20Rng::from_seed(h.finalize().into())
}

/// The key id `alg` uses (`ec-p256`, `rsa-2048`, `kek-256`, `gcm-128`, `cbc-192`...).
pub fn key_id(opts: &GenerateOptions) -> String {
    match opts.alg {
        VectorAlg::Sign(s) => match s.curve() {
            Some(c) => ec_key_id(c),
            None => format!("rsa-{}", opts.bits),
        },
        VectorAlg::Encrypt(e) => match e.scheme() {
            EncryptionScheme::Rsa(_) => format!("rsa-{}", opts.bits),
            EncryptionScheme::Aes {
                key_len,
                mode: AesMode::Gcm,
            } => format!("gcm-{}", key_len * 8),
            EncryptionScheme::Aes { key_len, .. } => format!("cbc-{}", key_len * 8),
        },
        VectorAlg::Wrap(w) => match w.scheme() {
            crate::crypto::alg::WrapScheme::AesKw(len) => format!("kek-{}", len * 8),
            crate::crypto::alg::WrapScheme::Rsa(_) => format!("rsa-{}", opts.bits),
        },
    }
}

/// Per-curve code over the RustCrypto curve types: `$body` sees the curve's crate as
/// `$krate` and its curve type as `$c`.
macro_rules! per_curve {
    ($curve:expr, $c:ident, $krate:ident => $body:expr) => {
        per_curve!(@match $curve, $c, $krate, $body,
            P256 p256 NistP256, P384 p384 NistP384, P521 p521 NistP521, P256K k256 Secp256k1)
    };
    (@match $curve:expr, $c:ident, $krate:ident, $body:expr, $($name:ident $cr:ident $ty:ident),+) => {
        match $curve {
            $(CurveName::$name => {
                #[allow(unused_imports, reason = "not every body uses the crate")]
                use $cr as $krate;
                #[allow(dead_code, reason = "not every body uses the curve type")]
                type $c = $cr::$ty;
                $body
            })+
        }
    };
}

/// The key id of an EC key on `curve` (`ec-p256`...).
fn ec_key_id(curve: CurveName) -> String {
    format!(
        "ec-{}",
        curve.as_str().to_ascii_lowercase().replace('-', "")
    )
}

fn curve_of(id: &str) -> Option<CurveName> {
    CurveName::ALL.iter().copied().find(|&c| ec_key_id(c) == id)
}

/// The key `opts` uses, derived from the seed and the key id only.
pub fn derive_key(opts: &GenerateOptions) -> Result<(String, KeyJwk), VectorError> {
    opts.validate()?;
    let id = key_id(opts);
    let mut rng = stream(
        "localhsm-vectors/1 key",
        &[id.as_bytes(), &opts.seed.to_be_bytes()],
    );
    let b64 = |b: &[u8]| Some(b64url_encode(b));
    let jwk = if let Some(curve) = curve_of(&id) {
        let width = curve.scalar_len();
        per_curve!(curve, C, c => {
            use c::elliptic_curve::sec1::ToEncodedPoint;
            loop {
                let mut d = vec![0u8; width];
                rng.fill_bytes(&mut d);
                if curve == CurveName::P521 {
                    d[0] &= 0x01; // 521 bits
                }
                if let Ok(sk) = c::SecretKey::from_slice(&d) {
                    let point = sk.public_key().to_encoded_point(false);
                    let (x, y) = (point.x().expect("affine"), point.y().expect("affine"));
                    break KeyJwk {
                        kty: "EC".into(),
                        crv: Some(curve.as_str().into()),
                        x: b64(x),
                        y: b64(y),
                        d: b64(&d),
                        ..KeyJwk::default()
                    };
                }
            }
        })
    } else if id.starts_with("rsa-") {
        use rsa::traits::{PrivateKeyParts, PublicKeyParts};
        let key = rsa::RsaPrivateKey::new(&mut rng, opts.bits)
            .map_err(|e| VectorError::Invalid(format!("RSA key generation failed: {e}")))?;
        let primes = key.primes();
        let be = |v: &rsa::BigUint| b64(&v.to_bytes_be());
        let missing = || VectorError::Invalid("RSA key without CRT values".into());
        KeyJwk {
            kty: "RSA".into(),
            n: be(key.n()),
            e: be(key.e()),
            d: be(key.d()),
            p: be(&primes[0]),
            q: be(&primes[1]),
            dp: be(key.dp().ok_or_else(missing)?),
            dq: be(key.dq().ok_or_else(missing)?),
            qi: be(&key.crt_coefficient().ok_or_else(missing)?),
            ..KeyJwk::default()
        }
    } else {
        let bits: usize = id
            .rsplit('-')
            .next()
            .and_then(|b| b.parse().ok())
            .expect("oct key ids end in their size");
        let mut k = vec![0u8; bits / 8];
        rng.fill_bytes(&mut k);
        KeyJwk {
            kty: "oct".into(),
            k: b64(&k),
            ..KeyJwk::default()
        }
    };
    Ok((id, jwk))
}

/// Generates the file `opts` describes and checks it against localhsm before returning it.
pub fn generate(opts: &GenerateOptions) -> Result<VectorFile, VectorError> {
    let (kid, jwk) = derive_key(opts)?;
    generate_with_key(opts, &kid, &jwk)
}

/// [`generate`] with a key of the caller's instead of the one derived from the seed (the
/// inputs still come from the seed). `kid` must be [`key_id`]`(opts)` and `jwk` a private
/// key of that kind: the curve of an ES* alg, `opts.bits` for RSA, the size of an AES alg.
pub fn generate_with_key(
    opts: &GenerateOptions,
    kid: &str,
    jwk: &KeyJwk,
) -> Result<VectorFile, VectorError> {
    opts.validate()?;
    let want = key_id(opts);
    if kid != want {
        return Err(VectorError::Invalid(format!(
            "{} needs key {want}, not {kid}",
            opts.alg
        )));
    }
    let expected_kty = match opts.alg.family() {
        Family::Ecdsa => "EC",
        Family::AesKw | Family::AesGcm | Family::AesCbc => "oct",
        _ => "RSA",
    };
    let fits = jwk.kty == expected_kty
        && match expected_kty {
            "EC" => jwk.crv.as_deref().and_then(|c| c.parse::<CurveName>().ok()) == curve_of(kid),
            "RSA" => rsa_modulus(jwk)?.len() * 8 == opts.bits && rsa_modulus(jwk)?[0] >= 0x80,
            _ => {
                let len = jwk
                    .k
                    .as_deref()
                    .and_then(|k| b64url_decode(k).ok())
                    .map(|k| k.len());
                Some(format!("{}", len.unwrap_or(0) * 8))
                    == kid.rsplit('-').next().map(String::from)
            }
        };
    if !fits {
        return Err(VectorError::Invalid(format!(
            "key {kid} must be a private {expected_kty} key of the size {} uses",
            opts.alg
        )));
    }
    let (kid, jwk) = (kid.to_string(), jwk.clone());
    let mut scratch = Scratch::new()?;
    let handle = scratch.import(&jwk.to_jwk().map_err(VectorError::Invalid)?)?;
    let mut g = Gen {
        rng: stream(
            "localhsm-vectors/1 data",
            &[
                opts.alg.as_str().as_bytes(),
                &opts.seed.to_be_bytes(),
                &(opts.bits as u64).to_be_bytes(),
            ],
        ),
        cases: Vec::new(),
        kid: kid.clone(),
        alg: opts.alg.as_str().to_string(),
        h: handle,
        count: opts.count,
    };
    match opts.alg {
        VectorAlg::Sign(s) if s.curve().is_some() => g.ecdsa(s)?,
        VectorAlg::Sign(s @ (S::RS256 | S::RS384 | S::RS512)) => g.rsa_sign(s, false, &jwk)?,
        VectorAlg::Sign(s) => g.rsa_sign(s, true, &jwk)?,
        VectorAlg::Encrypt(e) => match e.scheme() {
            EncryptionScheme::Rsa(RsaPadding::Pkcs1v15) => g.rsa1_5(&jwk)?,
            EncryptionScheme::Rsa(_) => g.rsa_oaep(e, &jwk)?,
            EncryptionScheme::Aes {
                key_len,
                mode: AesMode::Gcm,
            } => g.aes_gcm(e, key_len * 8)?,
            EncryptionScheme::Aes { key_len, mode } => {
                g.aes_cbc(e, key_len * 8, mode == AesMode::CbcPad)?
            }
        },
        VectorAlg::Wrap(w) => g.aes_kw(w, &mut scratch)?,
    }
    let family = opts.alg.family();
    let bits = if opts.is_rsa() {
        format!(" --bits {}", opts.bits)
    } else {
        String::new()
    };
    let file = VectorFile {
        family,
        description: format!(
            "{} Generated by `localhsm vectors generate` from seed {}: the key and the inputs \
             come from ChaCha20 seeded with SHA-256 of the seed (same seed, same key and \
             inputs); every output was computed by localhsm through KeyHandle. {}",
            family_text(family),
            opts.seed,
            if deterministic(opts.alg) {
                "This algorithm is deterministic: the same options give a byte-identical file."
            } else {
                "Outputs are randomised: implementations must verify or decrypt them, not \
                 reproduce them."
            }
        ),
        generator: Some(format!(
            "localhsm {} vectors generate --alg {} --count {} --seed {}{bits}",
            env!("CARGO_PKG_VERSION"),
            opts.alg,
            opts.count,
            opts.seed
        )),
        schema: Some(SCHEMA.to_string()),
        keys: [(kid, jwk)].into_iter().collect(),
        cases: g.cases,
    };
    let report = super::check::check_vector_file("generated", &file);
    if !report.ok() {
        return Err(VectorError::Invalid(format!(
            "the generated file failed its own check (a localhsm bug):\n{}",
            report.details()
        )));
    }
    Ok(file)
}

/// [`generate`], as the file's text.
pub fn generate_json(opts: &GenerateOptions) -> Result<String, VectorError> {
    generate(opts).map(|f| f.to_json())
}

/// Whether `alg`'s outputs are a function of key and inputs (so files are byte-identical).
pub fn deterministic(alg: VectorAlg) -> bool {
    matches!(
        alg.family(),
        Family::RsaPkcs1Sign | Family::AesKw | Family::AesGcm | Family::AesCbc
    )
}

fn family_text(f: Family) -> &'static str {
    match f {
        Family::Ecdsa => {
            "ECDSA over a precomputed digest. Signatures are raw r||s, each half left-padded \
             to the curve's byte width (not DER)."
        }
        Family::RsaPkcs1Sign => {
            "RSASSA-PKCS1-v1_5 over a precomputed digest. Deterministic: op 'sign' cases must \
             be reproduced byte for byte."
        }
        Family::RsaPssSign => {
            "RSASSA-PSS over a precomputed digest: MGF1 with the same hash, salt length = \
             digest length."
        }
        Family::RsaOaep => {
            "RSAES-OAEP decryption (RSA-OAEP = SHA-1 with MGF1-SHA1, RSA-OAEP-256 = SHA-256 \
             with MGF1-SHA256; empty label)."
        }
        Family::Rsa1_5 => {
            "RSAES-PKCS1-v1_5 decryption, padding checked strictly; invalid cases must make \
             decrypt fail with an error."
        }
        Family::AesKw => {
            "AES key wrap, RFC 3394, default IV A6A6A6A6A6A6A6A6, no padding. Deterministic: \
             op 'wrap' cases must be reproduced byte for byte."
        }
        Family::AesGcm => {
            "AES-GCM: 96-bit iv, 128-bit tag kept separate from the ciphertext, optional aad. \
             Deterministic for a given iv: op 'encrypt' cases must be reproduced byte for byte."
        }
        Family::AesCbc => {
            "AES-CBC with a 128-bit iv (A*CBC: no padding, input a multiple of 16 bytes; \
             A*CBCPAD: PKCS#7). Deterministic: op 'encrypt' cases must be reproduced byte \
             for byte."
        }
    }
}

// ---------------------------------------------------------------------------------------
// Helpers

/// A hash of another length than `h`, for wrong-digest-length cases.
fn other_hash(h: HashAlg) -> HashAlg {
    match h {
        HashAlg::Sha256 => HashAlg::Sha384,
        _ => HashAlg::Sha256,
    }
}

fn flip(mut b: Vec<u8>, i: usize) -> Vec<u8> {
    b[i] ^= 0x01;
    b
}

/// An invalid input: its flag, what it is, and its bytes.
type Bad = (&'static str, String, Vec<u8>);

/// `value` with the low bit of byte `i` flipped: "bit flip in {what} ({at})".
fn bit_flip(flag: &'static str, what: &str, value: &[u8], i: usize, at: &str) -> Bad {
    let comment = format!("bit flip in {what} ({at})");
    (flag, comment, flip(value.to_vec(), i))
}

/// `value` with a bit flipped at byte `i`, and with one flipped in its last byte.
fn two_bit_flips(flag: &'static str, what: &str, value: &[u8], i: usize) -> [Bad; 2] {
    let last = value.len() - 1;
    [
        bit_flip(flag, what, value, i, &format!("byte {i}")),
        bit_flip(flag, what, value, last, "last byte"),
    ]
}

/// The RSA modulus `n` given as a signature or ciphertext (`what`): out of range.
fn modulus_as(what: &str, n: &[u8]) -> Bad {
    let comment = format!("{what} value equal to the modulus n (out of range)");
    ("RangeCheck", comment, n.to_vec())
}

/// An RSA ciphertext without its first byte: one byte shorter than the modulus.
fn one_byte_short(ct: &[u8]) -> Bad {
    let comment = format!("ciphertext of {} bytes (k - 1)", ct.len() - 1);
    ("InvalidLength", comment, ct[1..].to_vec())
}

/// The group order n, big-endian, curve width.
fn curve_order(curve: CurveName) -> Vec<u8> {
    per_curve!(curve, C, c => {
        use c::elliptic_curve::bigint::Encoding as _;
        use c::elliptic_curve::Curve as _;
        let full = C::ORDER.to_be_bytes();
        full[full.len() - curve.scalar_len()..].to_vec()
    })
}

/// Whether s > n/2.
fn high_s(curve: CurveName, sig: &[u8]) -> bool {
    per_curve!(curve, C, _c => {
        ecdsa::Signature::<C>::from_slice(sig)
            .map(|s| s.normalize_s().is_some())
            .unwrap_or(false)
    })
}

/// The same signature with s replaced by n - s.
fn negate_s(curve: CurveName, sig: &[u8]) -> Result<Vec<u8>, VectorError> {
    per_curve!(curve, C, _c => {
        let bad = |_| VectorError::Invalid("localhsm returned a malformed ECDSA signature".into());
        let parsed = ecdsa::Signature::<C>::from_slice(sig).map_err(bad)?;
        let (r, s) = parsed.split_scalars();
        let neg = ecdsa::Signature::<C>::from_scalars(r, -s).map_err(bad)?;
        Ok(neg.to_bytes().to_vec())
    })
}

fn rsa_int(jwk: &KeyJwk, name: &str, v: &Option<String>) -> Result<rsa::BigUint, VectorError> {
    let b = v
        .as_deref()
        .and_then(|s| b64url_decode(s).ok())
        .ok_or_else(|| VectorError::Invalid(format!("{} key without {name}", jwk.kty)))?;
    Ok(rsa::BigUint::from_bytes_be(&b))
}

/// Raw RSA with the public key: `em^e mod n`, k bytes. (Public operation only.)
fn rsa_public_raw(jwk: &KeyJwk, em: &[u8]) -> Result<Vec<u8>, VectorError> {
    let n = rsa_int(jwk, "n", &jwk.n)?;
    let e = rsa_int(jwk, "e", &jwk.e)?;
    let k = n.to_bytes_be().len();
    let c = rsa::BigUint::from_bytes_be(em).modpow(&e, &n).to_bytes_be();
    let mut out = vec![0u8; k - c.len()];
    out.extend(c);
    Ok(out)
}

fn rsa_modulus(jwk: &KeyJwk) -> Result<Vec<u8>, VectorError> {
    Ok(rsa_int(jwk, "n", &jwk.n)?.to_bytes_be())
}

/// The OAEP hash: SHA-1 (RSA-OAEP) or SHA-256 (RSA-OAEP-256).
fn oaep_hash(sha1: bool, data: &[u8]) -> Vec<u8> {
    if sha1 {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, data)
            .as_ref()
            .to_vec()
    } else {
        Sha256::digest(data).to_vec()
    }
}

fn mgf1(sha1: bool, seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter: u32 = 0;
    while out.len() < len {
        out.extend(oaep_hash(sha1, &[seed, &counter.to_be_bytes()].concat()));
        counter += 1;
    }
    out.truncate(len);
    out
}

/// EME-OAEP encoding (RFC 8017 7.1.1 step 2) with `label`, `seed` and a chosen first byte.
fn oaep_encode(sha1: bool, k: usize, m: &[u8], label: &[u8], seed: &[u8], first: u8) -> Vec<u8> {
    let hlen = seed.len();
    let mut db = oaep_hash(sha1, label);
    db.resize(k - m.len() - hlen - 2, 0);
    db.push(0x01);
    db.extend_from_slice(m);
    let masked_db: Vec<u8> = db
        .iter()
        .zip(mgf1(sha1, seed, db.len()))
        .map(|(a, b)| a ^ b)
        .collect();
    let masked_seed: Vec<u8> = seed
        .iter()
        .zip(mgf1(sha1, &masked_db, hlen))
        .map(|(a, b)| a ^ b)
        .collect();
    [vec![first], masked_seed, masked_db].concat()
}

// ---------------------------------------------------------------------------------------
// The generator

struct Gen {
    rng: ChaCha20Rng,
    cases: Vec<VectorCase>,
    kid: String,
    alg: String,
    h: KeyHandle,
    count: usize,
}

impl Gen {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        self.rng.fill_bytes(&mut b);
        b
    }

    fn nonzero_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut b = self.bytes(n);
        for x in &mut b {
            while *x == 0 {
                *x = (self.rng.next_u32() & 0xff) as u8;
            }
        }
        b
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n as u64) as usize
    }

    /// Message lengths: 0, 3, 33, 200, then random up to 256.
    fn msg(&mut self, i: usize) -> Vec<u8> {
        let len = match i {
            0 => 0,
            1 => 3,
            2 => 33,
            3 => 200,
            _ => self.below(257),
        };
        self.bytes(len)
    }

    fn case(&self, alg: &str, op: Op, result: Expected, comment: impl Into<String>) -> VectorCase {
        VectorCase::new(&self.kid, alg, op, result, comment)
    }

    fn invalid(&self, op: Op, flag: &str, comment: impl Into<String>) -> VectorCase {
        let mut c = self.case(&self.alg, op, Expected::Invalid, comment);
        c.flags.push(flag.to_string());
        c
    }

    /// A case asking for `other`, an algorithm of another key size or curve.
    fn mismatch(&self, other: &str, op: Op, comment: String) -> VectorCase {
        let mut c = self.case(other, op, Expected::Invalid, comment);
        c.flags.push("KeyAlgMismatch".into());
        c
    }

    fn push(&mut self, mut c: VectorCase) {
        c.id = self.cases.len() as u64 + 1;
        self.cases.push(c);
    }

    /// Pushes AES encryption case `c` with a random `pt_len`-byte plaintext and a random
    /// `iv_len`-byte iv.
    fn push_encrypt(&mut self, mut c: VectorCase, pt_len: usize, iv_len: usize) {
        c.plaintext = Some(self.bytes(pt_len));
        c.iv = Some(self.bytes(iv_len));
        self.push(c);
    }

    /// Pushes AES decryption case `c` with a random `iv_len`-byte iv and a random
    /// `ct_len`-byte ciphertext.
    fn push_decrypt(&mut self, mut c: VectorCase, iv_len: usize, ct_len: usize) {
        c.iv = Some(self.bytes(iv_len));
        c.ciphertext = Some(self.bytes(ct_len));
        self.push(c);
    }

    /// One invalid `op` case per (flag, comment, ciphertext).
    fn invalid_ciphertexts(&mut self, op: Op, bad: Vec<Bad>) {
        for (flag, comment, ct) in bad {
            let mut c = self.invalid(op, flag, comment);
            c.ciphertext = Some(ct);
            self.push(c);
        }
    }

    /// One invalid verify case per (flag, comment, signature) over `digest` of `msg`.
    fn invalid_signatures(&mut self, msg: &[u8], digest: &[u8], bad: Vec<Bad>) {
        for (flag, comment, sig) in bad {
            let c = self.invalid(Op::Verify, flag, comment);
            self.sig_case(c, Some(msg), digest, Some(&sig));
        }
    }

    /// The message (3 to 64 bytes), digest and signature the special and invalid signature
    /// cases start from.
    fn base_signature(&mut self, alg: S) -> Result<[Vec<u8>; 3], VectorError> {
        let len = 3 + self.below(62);
        let msg = self.bytes(len);
        let digest = alg.hash().digest(&msg);
        let sig = self.h.sign(alg, &digest)?;
        Ok([msg, digest, sig])
    }

    /// A signature-verify case over `digest` (with `msg` when the digest is its hash).
    fn sig_case(
        &mut self,
        mut c: VectorCase,
        msg: Option<&[u8]>,
        digest: &[u8],
        sig: Option<&[u8]>,
    ) {
        c.msg = msg.map(<[u8]>::to_vec);
        c.digest = Some(digest.to_vec());
        c.signature = sig.map(<[u8]>::to_vec);
        self.push(c);
    }

    // ----- signatures

    fn ecdsa(&mut self, alg: S) -> Result<(), VectorError> {
        let curve = alg.curve().expect("an ECDSA alg");
        let hash = alg.hash();
        let w = curve.scalar_len();
        for i in 0..self.count {
            let msg = self.msg(i);
            let digest = hash.digest(&msg);
            let sig = self.h.sign(alg, &digest)?;
            let high = high_s(curve, &sig);
            let mut c = self.case(
                &self.alg,
                Op::Verify,
                Expected::Valid,
                format!(
                    "signature of {}-byte message by localhsm (random k{})",
                    msg.len(),
                    if high { "; high-S: s > n/2" } else { "" }
                ),
            );
            if high {
                c.flags.push("HighS".into());
            }
            self.sig_case(c, Some(&msg), &digest, Some(&sig));
        }
        let [msg, digest, sig] = self.base_signature(alg)?;

        let neg = negate_s(curve, &sig)?;
        let mut c = self.case(
            &self.alg,
            Op::Verify,
            Expected::Valid,
            "s replaced by n - s; plain ECDSA (no low-S rule) accepts both",
        );
        c.flags.push("MalleableS".into());
        if high_s(curve, &neg) {
            c.flags.push("HighS".into());
        }
        self.sig_case(c, Some(&msg), &digest, Some(&neg));

        let order = curve_order(curve);
        let (r, s) = sig.split_at(w);
        let tampered: Vec<Bad> = vec![
            bit_flip("ModifiedSignature", "r", &sig, w - 1, "last byte of r"),
            bit_flip("ModifiedSignature", "s", &sig, w, "first byte of s"),
            (
                "ModifiedSignature",
                "r and s swapped".into(),
                [s, r].concat(),
            ),
            ("RangeCheck", "r = s = 0".into(), vec![0u8; 2 * w]),
            (
                "RangeCheck",
                "r replaced by the group order n (out of range)".into(),
                [&order[..], s].concat(),
            ),
            (
                "SignatureEncoding",
                "DER-encoded signature of the same digest: Key Vault signatures are raw r||s"
                    .into(),
                ecdsa_raw_to_der(&sig),
            ),
            (
                "SignatureEncoding",
                "raw signature truncated by one byte".into(),
                sig[..2 * w - 1].to_vec(),
            ),
        ];
        self.invalid_signatures(&msg, &digest, tampered);
        self.common_sig_invalid(alg, &msg, &digest, &sig)?;

        // Key/alg mismatch: the alg of another curve.
        let other = match alg {
            S::ES256 => S::ES384,
            _ => S::ES256,
        };
        let other_digest = other.hash().digest(&msg);
        let other_curve = other.curve().expect("ECDSA");
        let comment = format!("{other} used with a {curve} key: {other} requires {other_curve}");
        let c = self.mismatch(other.as_str(), Op::Verify, comment);
        self.sig_case(c, Some(&msg), &other_digest, Some(&sig));
        let comment = format!("{other} requested with a {curve} key");
        let c = self.mismatch(other.as_str(), Op::Sign, comment);
        self.sig_case(c, Some(&msg), &other_digest, None);
        Ok(())
    }

    /// Wrong digest (verify), wrong digest length (verify and sign).
    fn common_sig_invalid(
        &mut self,
        alg: S,
        msg: &[u8],
        digest: &[u8],
        sig: &[u8],
    ) -> Result<(), VectorError> {
        let hash = alg.hash();
        let other_msg = flip(msg.to_vec(), msg.len() - 1);
        let c = self.invalid(
            Op::Verify,
            "WrongDigest",
            "signature of H(m) presented with H(m'), m' = m with its last bit flipped",
        );
        self.sig_case(c, Some(&other_msg), &hash.digest(&other_msg), Some(sig));

        let wrong = other_hash(hash).digest(msg);
        let c = self.invalid(
            Op::Verify,
            "DigestLength",
            format!(
                "{}-byte digest for {alg}, which takes {} bytes",
                wrong.len(),
                digest.len()
            ),
        );
        self.sig_case(c, None, &wrong, Some(sig));
        let c = self.invalid(
            Op::Sign,
            "DigestLength",
            format!(
                "sign a {}-byte digest with {alg} (needs {} bytes)",
                wrong.len(),
                digest.len()
            ),
        );
        self.sig_case(c, None, &wrong, None);
        Ok(())
    }

    fn rsa_sign(&mut self, alg: S, pss: bool, jwk: &KeyJwk) -> Result<(), VectorError> {
        let hash = alg.hash();
        for i in 0..self.count {
            let msg = self.msg(i);
            let digest = hash.digest(&msg);
            let sig = self.h.sign(alg, &digest)?;
            let c = if pss {
                self.case(
                    &self.alg,
                    Op::Verify,
                    Expected::Valid,
                    format!(
                        "signature of {}-byte message by localhsm, {}-byte random salt",
                        msg.len(),
                        hash.output_len()
                    ),
                )
            } else {
                self.case(
                    &self.alg,
                    Op::Sign,
                    Expected::Valid,
                    format!("deterministic signature of {}-byte message", msg.len()),
                )
            };
            self.sig_case(c, Some(&msg), &digest, Some(&sig));
        }
        let [msg, digest, sig] = self.base_signature(alg)?;
        let k = sig.len();
        let n = rsa_modulus(jwk)?;
        // PS*: the (deterministic) PKCS#1 v1.5 signature of the same digest. RS*: the PKCS#1
        // v1.5 signature of the same message under another hash, which keeps RS* files
        // deterministic (a PSS signature would be randomised).
        let (flag, other_comment, other_sig) = if pss {
            (
                "WrongPadding",
                format!("valid PKCS#1 v1.5 signature of the same digest presented as {alg}"),
                self.h.sign(rs_alg(hash), &digest)?,
            )
        } else {
            let other = rs_alg(other_hash(hash));
            (
                "WrongHash",
                format!(
                    "valid {other} signature of the same message (a {:?} DigestInfo) presented as {alg}",
                    other.hash()
                ),
                self.h.sign(other, &other.hash().digest(&msg))?,
            )
        };
        let mut tampered = Vec::from(two_bit_flips(
            "ModifiedSignature",
            "the signature",
            &sig,
            17,
        ));
        tampered.extend([
            modulus_as("signature", &n),
            (
                "SignatureEncoding",
                format!(
                    "signature with an extra leading zero byte (length {})",
                    k + 1
                ),
                [&[0u8][..], &sig].concat(),
            ),
            (
                "SignatureEncoding",
                format!("signature truncated by one byte (length {})", k - 1),
                sig[..k - 1].to_vec(),
            ),
            (flag, other_comment, other_sig),
        ]);
        self.invalid_signatures(&msg, &digest, tampered);
        self.common_sig_invalid(alg, &msg, &digest, &sig)
    }

    // ----- RSA decryption

    fn rsa_oaep(&mut self, alg: E, jwk: &KeyJwk) -> Result<(), VectorError> {
        let n = rsa_modulus(jwk)?;
        let k = n.len();
        let sha1 = alg == E::RsaOaep;
        let hlen = if sha1 { 20 } else { 32 };
        let max = k - 2 * hlen - 2;
        self.rsa_decrypt_valid(alg, max, "maximum for this key/alg")?;

        let pt = self.bytes(16);
        let ct = self.h.encrypt(alg, &pt, AesParams::default())?.ciphertext;
        let other = if sha1 { E::RsaOaep256 } else { E::RsaOaep };
        let other_ct = self.h.encrypt(other, &pt, AesParams::default())?.ciphertext;
        let seed = self.bytes(hlen);
        let bad_first = rsa_public_raw(jwk, &oaep_encode(sha1, k, &pt, b"", &seed, 0x01))?;
        let seed = self.bytes(hlen);
        let labelled = rsa_public_raw(jwk, &oaep_encode(sha1, k, &pt, b"label", &seed, 0x00))?;
        let mut bad = Vec::from(two_bit_flips(
            "ModifiedCiphertext",
            "the ciphertext",
            &ct,
            40,
        ));
        bad.extend([
            modulus_as("ciphertext", &n),
            one_byte_short(&ct),
            (
                "WrongHash",
                format!("ciphertext made with {other} (the other OAEP hash)"),
                other_ct,
            ),
            (
                "BadPadding",
                "EME-OAEP block whose leading byte is 0x01 instead of 0x00".into(),
                bad_first,
            ),
            (
                "WrongLabel",
                "OAEP ciphertext made with label 'label'; Key Vault uses the empty label".into(),
                labelled,
            ),
        ]);
        self.invalid_ciphertexts(Op::Decrypt, bad);
        self.too_long(max)
    }

    fn rsa1_5(&mut self, jwk: &KeyJwk) -> Result<(), VectorError> {
        let alg = E::Rsa1_5;
        let n = rsa_modulus(jwk)?;
        let k = n.len();
        let max = k - 11;
        self.rsa_decrypt_valid(alg, max, "maximum for this key")?;

        let pt = self.bytes(16);
        let ct = self.h.encrypt(alg, &pt, AesParams::default())?.ciphertext;
        // A bit flip almost always breaks the padding; pick one that localhsm refuses.
        let flipped = (0..8)
            .map(|bit| {
                let mut c = ct.clone();
                c[k - 1] ^= 1 << bit;
                c
            })
            .find(|c| self.h.decrypt(alg, c, AesParams::default()).is_err())
            .ok_or_else(|| VectorError::Invalid("every bit flip decrypted".into()))?;
        let ps = self.nonzero_bytes(k - 3 - pt.len());
        let block = |prefix: &[u8], ps: &[u8], m: &[u8]| [prefix, ps, &[0u8][..], m].concat();
        let type1 = block(&[0, 1], &vec![0xff; k - 3 - pt.len()], &pt);
        let lead1 = block(&[1, 2], &ps, &pt);
        let no_sep = [&[0u8, 2][..], &self.nonzero_bytes(k - 2)].concat();
        let short_m = self.bytes(k - 10);
        let ps7 = self.nonzero_bytes(7);
        let short_ps = block(&[0, 2], &ps7, &short_m);
        let mut bad: Vec<Bad> = vec![
            (
                "ModifiedCiphertext",
                "bit flip in the ciphertext (last byte); the padding no longer checks".into(),
                flipped,
            ),
            modulus_as("ciphertext", &n),
            one_byte_short(&ct),
        ];
        // Blocks with broken padding, through the raw RSA operation.
        for (comment, block) in [
            ("block type 01 (signature padding 00 01 FF..FF 00 M)", type1),
            ("leading byte 01 instead of 00 (01 02 PS 00 M)", lead1),
            (
                "no zero separator: 00 02 followed by k-2 non-zero bytes",
                no_sep,
            ),
            (
                "padding string of 7 bytes (minimum is 8): 00 02 PS 00 M",
                short_ps,
            ),
        ] {
            bad.push(("BadPadding", comment.into(), rsa_public_raw(jwk, &block)?));
        }
        self.invalid_ciphertexts(Op::Decrypt, bad);
        self.too_long(max)
    }

    /// Valid decrypt cases: plaintexts of 1, 16, 32 and `max` bytes, then random lengths.
    fn rsa_decrypt_valid(&mut self, alg: E, max: usize, max_text: &str) -> Result<(), VectorError> {
        for i in 0..self.count {
            let len = match i {
                0 => 1,
                1 => 16,
                2 => 32,
                3 => max,
                _ => 1 + self.below(max),
            };
            let pt = self.bytes(len);
            let ct = self.h.encrypt(alg, &pt, AesParams::default())?.ciphertext;
            let mut c = self.case(
                &self.alg,
                Op::Decrypt,
                Expected::Valid,
                if len == max {
                    format!("{len}-byte plaintext ({max_text})")
                } else {
                    format!("{len}-byte plaintext")
                },
            );
            if len == max {
                c.flags.push("MaxLength".into());
            }
            c.plaintext = Some(pt);
            c.ciphertext = Some(ct);
            self.push(c);
        }
        Ok(())
    }

    fn too_long(&mut self, max: usize) -> Result<(), VectorError> {
        let pt = self.bytes(max + 1);
        let mut c = self.invalid(
            Op::Encrypt,
            "MessageTooLong",
            format!(
                "encrypt {} bytes: one more than the maximum {max} for this key/alg",
                max + 1
            ),
        );
        c.plaintext = Some(pt);
        self.push(c);
        Ok(())
    }

    // ----- AES

    /// Encrypts `pt` with AES `alg` under the chosen `iv` (and GCM `aad`).
    fn aes_encrypt(
        &self,
        alg: E,
        pt: &[u8],
        iv: &[u8],
        aad: Option<&[u8]>,
    ) -> Result<Encrypted, VectorError> {
        let params = AesParams {
            iv: Some(iv),
            aad,
            tag: None,
        };
        Ok(self.h.encrypt(alg, pt, params)?)
    }

    fn aes_kw(&mut self, alg: W, scratch: &mut Scratch) -> Result<(), VectorError> {
        let bits = match alg.scheme() {
            crate::crypto::alg::WrapScheme::AesKw(len) => len * 8,
            crate::crypto::alg::WrapScheme::Rsa(_) => {
                return Err(VectorError::Invalid(format!(
                    "{alg} is not an AES key wrap"
                )))
            }
        };
        for i in 0..self.count {
            let len = match i {
                0 => 16,
                1 => 24,
                2 => 32,
                3 => 40,
                4 => 64,
                _ => 8 * (2 + self.below(15)),
            };
            let pt = self.bytes(len);
            let ct = self.h.wrap_key(alg, &pt)?;
            let mut c = self.case(
                &self.alg,
                Op::Wrap,
                Expected::Valid,
                format!("wrap a {len}-byte key"),
            );
            c.plaintext = Some(pt);
            c.ciphertext = Some(ct);
            self.push(c);
        }
        for (len, why) in [
            (8, "RFC 3394 needs at least 16"),
            (20, "not a multiple of 8; RFC 3394 has no padding"),
        ] {
            let mut c = self.invalid(
                Op::Wrap,
                "InvalidLength",
                format!("wrap {len} bytes ({why})"),
            );
            c.plaintext = Some(self.bytes(len));
            self.push(c);
        }
        let other = aes_alg(other_size(bits), [W::A128Kw, W::A192Kw, W::A256Kw]);
        let comment = format!("{other} requested with a {bits}-bit key");
        let mut c = self.mismatch(other.as_str(), Op::Wrap, comment);
        c.plaintext = Some(self.bytes(16));
        self.push(c);

        let pt = self.bytes(32);
        let ct = self.h.wrap_key(alg, &pt)?;
        let other_kek = self.bytes(bits / 8);
        let other_handle = scratch.import(&crate::crypto::Jwk {
            kty: Some(crate::crypto::KeyType::Oct),
            k: Some(crate::crypto::SecretBase64Url(
                crate::crypto::SecretBytes::from_slice(&other_kek),
            )),
            ..Default::default()
        })?;
        let under_other = other_handle.wrap_key(alg, &pt)?;
        let integrity = "integrity check fails";
        let bad: Vec<Bad> = vec![
            bit_flip(
                "ModifiedCiphertext",
                "the first semiblock",
                &ct,
                0,
                integrity,
            ),
            bit_flip(
                "ModifiedCiphertext",
                "the last byte",
                &ct,
                ct.len() - 1,
                integrity,
            ),
            (
                "InvalidLength",
                "ciphertext of 39 bytes (not a multiple of 8)".into(),
                ct[..39].to_vec(),
            ),
            (
                "InvalidLength",
                "ciphertext of 16 bytes (RFC 3394 needs at least 24)".into(),
                ct[..16].to_vec(),
            ),
            (
                "WrongKey",
                format!(
                    "wrapped under a different {bits}-bit KEK ({})",
                    hex::encode(&other_kek)
                ),
                under_other,
            ),
        ];
        self.invalid_ciphertexts(Op::Unwrap, bad);
        Ok(())
    }

    fn aes_gcm(&mut self, alg: E, bits: usize) -> Result<(), VectorError> {
        for i in 0..self.count {
            let (len, aad_len) = match i {
                0 => (16, 0),
                1 => (1, 13),
                2 => (100, 32),
                3 => (0, 20),
                _ => (self.below(257), self.below(65)),
            };
            let pt = self.bytes(len);
            let aad = self.bytes(aad_len);
            let iv = self.bytes(12);
            let out = self.aes_encrypt(alg, &pt, &iv, Some(&aad))?;
            let mut c = self.case(
                &self.alg,
                Op::Encrypt,
                Expected::Valid,
                match (len, aad_len) {
                    (0, a) => format!("empty plaintext, {a}-byte aad (tag only)"),
                    (p, 0) => format!("{p}-byte plaintext, no aad"),
                    (p, a) => format!("{p}-byte plaintext, {a}-byte aad"),
                },
            );
            if len == 0 {
                c.flags.push("EmptyPlaintext".into());
            }
            c.plaintext = Some(pt);
            c.iv = Some(iv);
            c.aad = (!aad.is_empty()).then_some(aad);
            c.ciphertext = Some(out.ciphertext);
            c.tag = out.tag;
            self.push(c);
        }
        let other = aes_alg(other_size(bits), [E::A128Gcm, E::A192Gcm, E::A256Gcm]);
        let comment = format!("{other} requested with a {bits}-bit key");
        let c = self.mismatch(other.as_str(), Op::Encrypt, comment);
        self.push_encrypt(c, 16, 12);
        let comment = "8-byte iv (Key Vault's GCM iv is 12 bytes)";
        let c = self.invalid(Op::Encrypt, "InvalidIvLength", comment);
        self.push_encrypt(c, 16, 8);

        let pt = self.bytes(32);
        let aad = self.bytes(16);
        let iv = self.bytes(12);
        let out = self.aes_encrypt(alg, &pt, &iv, Some(&aad))?;
        let (ct, tag) = (out.ciphertext, out.tag.unwrap_or_default());
        // Each case changes one input of a valid decryption.
        let decrypt = |flag: &str, comment: &str| {
            let mut c = self.invalid(Op::Decrypt, flag, comment);
            c.iv = Some(iv.clone());
            c.aad = Some(aad.clone());
            c.ciphertext = Some(ct.clone());
            c.tag = Some(tag.clone());
            c
        };
        let bad = vec![
            VectorCase {
                ciphertext: Some(flip(ct.clone(), 0)),
                ..decrypt("ModifiedCiphertext", "bit flip in the ciphertext")
            },
            VectorCase {
                tag: Some(flip(tag.clone(), 15)),
                ..decrypt("ModifiedTag", "bit flip in the tag (wrong tag)")
            },
            VectorCase {
                tag: Some(vec![0; 16]),
                ..decrypt("ModifiedTag", "all-zero tag")
            },
            VectorCase {
                aad: Some(flip(aad.clone(), 0)),
                ..decrypt("ModifiedAad", "aad changed (one bit)")
            },
            VectorCase {
                aad: None,
                ..decrypt("ModifiedAad", "aad omitted (encrypted with 16-byte aad)")
            },
            VectorCase {
                iv: Some(flip(iv.clone(), 0)),
                ..decrypt("ModifiedIv", "iv changed (one bit)")
            },
            VectorCase {
                tag: Some(tag[..12].to_vec()),
                ..decrypt(
                    "TruncatedTag",
                    "tag truncated to 96 bits (Key Vault tags are 128 bits)",
                )
            },
        ];
        for c in bad {
            self.push(c);
        }
        Ok(())
    }

    fn aes_cbc(&mut self, alg: E, bits: usize, pad: bool) -> Result<(), VectorError> {
        for i in 0..self.count {
            let len = match (pad, i) {
                (false, 0) => 16,
                (false, 1) => 32,
                (false, 2) => 48,
                (false, 3) => 128,
                (false, _) => 16 * (1 + self.below(8)),
                (true, 0) => 0,
                (true, 1) => 1,
                (true, 2) => 15,
                (true, 3) => 16,
                (true, 4) => 33,
                (true, _) => self.below(201),
            };
            let pt = self.bytes(len);
            let iv = self.bytes(16);
            let out = self.aes_encrypt(alg, &pt, &iv, None)?;
            let comment = if pad {
                format!("{len}-byte plaintext ({} padding bytes)", 16 - len % 16)
            } else {
                format!("{len}-byte plaintext")
            };
            let mut c = self.case(&self.alg, Op::Encrypt, Expected::Valid, comment);
            if len == 0 {
                c.flags.push("EmptyPlaintext".into());
            }
            c.plaintext = Some(pt);
            c.iv = Some(iv);
            c.ciphertext = Some(out.ciphertext);
            self.push(c);
        }
        let same_mode = |b| {
            if pad {
                aes_alg(b, [E::A128CbcPad, E::A192CbcPad, E::A256CbcPad])
            } else {
                aes_alg(b, [E::A128Cbc, E::A192Cbc, E::A256Cbc])
            }
        };
        let other = same_mode(other_size(bits));
        let comment = format!("{other} requested with a {bits}-bit key");
        let c = self.mismatch(other.as_str(), Op::Encrypt, comment);
        self.push_encrypt(c, 16, 16);
        let c = self.invalid(Op::Encrypt, "InvalidIvLength", "12-byte iv (CBC needs 16)");
        self.push_encrypt(c, 16, 12);
        if !pad {
            let comment = format!(
                "15-byte plaintext: not a multiple of the block size ({alg} has no padding)"
            );
            let c = self.invalid(Op::Encrypt, "InvalidLength", comment);
            self.push_encrypt(c, 15, 16);
        } else {
            // Blocks whose PKCS#7 padding is wrong, encrypted without padding under the
            // same key.
            let raw = aes_alg(bits, [E::A128Cbc, E::A192Cbc, E::A256Cbc]);
            let blocks: Vec<(&str, Vec<u8>)> = vec![
                ("last plaintext byte 0x00 (padding length 0)", {
                    let mut b = self.bytes(16);
                    b[15] = 0;
                    b
                }),
                (
                    "last plaintext byte 0x11 (padding length 17 > block size)",
                    {
                        let mut b = self.bytes(16);
                        b[15] = 0x11;
                        b
                    },
                ),
                (
                    "inconsistent padding: ends 05 05 05 04 05",
                    [self.bytes(11), vec![5, 5, 5, 4, 5]].concat(),
                ),
            ];
            for (comment, block) in blocks {
                let iv = self.bytes(16);
                let ct = self.aes_encrypt(raw, &block, &iv, None)?.ciphertext;
                let mut c = self.invalid(Op::Decrypt, "BadPadding", comment);
                c.iv = Some(iv);
                c.ciphertext = Some(ct);
                self.push(c);
            }
            let comment = "empty ciphertext (PKCS#7 output is at least one block)";
            let c = self.invalid(Op::Decrypt, "InvalidLength", comment);
            self.push_decrypt(c, 16, 0);
        }
        for len in [31, 20] {
            let comment = format!("ciphertext of {len} bytes: not a multiple of the block size");
            let c = self.invalid(Op::Decrypt, "InvalidLength", comment);
            self.push_decrypt(c, 16, len);
        }
        Ok(())
    }
}

fn other_size(bits: usize) -> usize {
    if bits == 256 {
        128
    } else {
        256
    }
}

fn aes_alg<T: Copy>(bits: usize, algs: [T; 3]) -> T {
    match bits {
        128 => algs[0],
        192 => algs[1],
        _ => algs[2],
    }
}

fn rs_alg(h: HashAlg) -> S {
    match h {
        HashAlg::Sha256 => S::RS256,
        HashAlg::Sha384 => S::RS384,
        HashAlg::Sha512 => S::RS512,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_orders() {
        assert_eq!(
            hex::encode(curve_order(CurveName::P256)),
            "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"
        );
        assert_eq!(
            hex::encode(curve_order(CurveName::P256K)),
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
        );
        let n521 = curve_order(CurveName::P521);
        assert_eq!((n521.len(), n521[0], n521[1]), (66, 0x01, 0xff));
    }

    #[test]
    fn ec_keys_depend_on_seed_and_key_id_only() {
        let es = |a: &str, seed| GenerateOptions {
            seed,
            ..GenerateOptions::new(VectorAlg::parse(a).unwrap())
        };
        let (id, a) = derive_key(&es("ES512", 3)).unwrap();
        assert_eq!(id, "ec-p521");
        assert_eq!(derive_key(&es("ES512", 3)).unwrap().1, a);
        assert_ne!(derive_key(&es("ES512", 4)).unwrap().1, a);
        assert_eq!(derive_key(&es("ES256K", 3)).unwrap().0, "ec-p256k");
        assert_eq!(derive_key(&es("A192CBCPAD", 3)).unwrap().0, "cbc-192");
        assert_eq!(
            derive_key(&es("A192CBC", 3)).unwrap(),
            derive_key(&es("A192CBCPAD", 3)).unwrap()
        );
    }
}
