//! What each mechanism does on a key handle. Every signature, cipher and wrap goes through
//! [`KeyHandle`], the same hot path as the REST API, so the key's `key_ops`, `enabled` and
//! validity dates apply. Key Vault signs digests; the hashing mechanisms hash here first.

use cryptoki_sys::*;
use localhsm::crypto::{
    AesParams, CurveName, EncryptionAlgorithm, HashAlg, KeySpec, SignatureAlgorithm, WrapAlgorithm,
};
use localhsm::Error;

// The key behind an operation, wherever it lives (see `crate::backend`).
use crate::backend::Key as KeyHandle;
use sha2::Digest as _;
use zeroize::Zeroizing;

/// A PKCS#11 result: the value, or the `CKR_*` to return.
pub type R<T> = Result<T, CK_RV>;

/// A mechanism and its parameters, copied out of the caller's `CK_MECHANISM`.
#[derive(Debug, Clone)]
pub struct Mechanism {
    /// `CKM_*`.
    pub ty: CK_MECHANISM_TYPE,
    /// Its parameters.
    pub params: Params,
}

/// Mechanism parameters the module reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Params {
    /// None given.
    None,
    /// Bytes (an IV, for CBC and key wrap).
    Bytes(Vec<u8>),
    /// `CK_GCM_PARAMS`.
    Gcm {
        /// The IV.
        iv: Vec<u8>,
        /// Additional authenticated data.
        aad: Vec<u8>,
        /// Tag length in bits.
        tag_bits: CK_ULONG,
    },
    /// `CK_RSA_PKCS_OAEP_PARAMS`.
    Oaep {
        /// Hash (`CKM_SHA_1`, `CKM_SHA256`).
        hash: CK_MECHANISM_TYPE,
        /// Mask generation (`CKG_MGF1_*`).
        mgf: CK_RSA_PKCS_MGF_TYPE,
        /// Label (`CKZ_DATA_SPECIFIED` source data).
        label: Vec<u8>,
    },
    /// `CK_RSA_PKCS_PSS_PARAMS`.
    Pss {
        /// Hash.
        hash: CK_MECHANISM_TYPE,
        /// Mask generation.
        mgf: CK_RSA_PKCS_MGF_TYPE,
        /// Salt length in bytes.
        salt_len: CK_ULONG,
    },
}

const EC_FLAGS: CK_FLAGS = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;

/// Every mechanism the module offers: type, smallest and largest key (bits for EC and RSA,
/// bytes for AES, as PKCS#11 counts them) and what it does.
pub const MECHANISMS: &[(CK_MECHANISM_TYPE, CK_ULONG, CK_ULONG, CK_FLAGS)] = &[
    (
        CKM_EC_KEY_PAIR_GEN,
        256,
        521,
        CKF_GENERATE_KEY_PAIR | EC_FLAGS,
    ),
    (CKM_ECDSA, 256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS),
    (CKM_ECDSA_SHA256, 256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS),
    (CKM_ECDSA_SHA384, 256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS),
    (CKM_ECDSA_SHA512, 256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS),
    (CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, 4096, CKF_GENERATE_KEY_PAIR),
    (
        CKM_RSA_PKCS,
        2048,
        4096,
        CKF_SIGN | CKF_VERIFY | CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP,
    ),
    (CKM_SHA256_RSA_PKCS, 2048, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA384_RSA_PKCS, 2048, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA512_RSA_PKCS, 2048, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_RSA_PKCS_PSS, 2048, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA256_RSA_PKCS_PSS, 2048, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA384_RSA_PKCS_PSS, 2048, 4096, CKF_SIGN | CKF_VERIFY),
    (CKM_SHA512_RSA_PKCS_PSS, 2048, 4096, CKF_SIGN | CKF_VERIFY),
    (
        CKM_RSA_PKCS_OAEP,
        2048,
        4096,
        CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP,
    ),
    (CKM_AES_KEY_GEN, 16, 32, CKF_GENERATE),
    (CKM_AES_GCM, 16, 32, CKF_ENCRYPT | CKF_DECRYPT),
    (CKM_AES_CBC_PAD, 16, 32, CKF_ENCRYPT | CKF_DECRYPT),
    (CKM_AES_KEY_WRAP, 16, 32, CKF_WRAP | CKF_UNWRAP),
    (CKM_SHA256, 0, 0, CKF_DIGEST),
    (CKM_SHA384, 0, 0, CKF_DIGEST),
    (CKM_SHA512, 0, 0, CKF_DIGEST),
];

/// A running hash.
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256.
    Sha256(sha2::Sha256),
    /// SHA-384.
    Sha384(sha2::Sha384),
    /// SHA-512.
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// The hash of a digest mechanism (`CKM_SHA256` ...) or of a mechanism's hash parameter.
    pub fn for_mechanism(ty: CK_MECHANISM_TYPE) -> Option<Hasher> {
        match ty {
            CKM_SHA256 => Some(Hasher::Sha256(sha2::Sha256::new())),
            CKM_SHA384 => Some(Hasher::Sha384(sha2::Sha384::new())),
            CKM_SHA512 => Some(Hasher::Sha512(sha2::Sha512::new())),
            _ => None,
        }
    }

    fn of(alg: HashAlg) -> Hasher {
        match alg {
            HashAlg::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlg::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            HashAlg::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    /// Adds data.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The digest.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// A `C_DigestInit` ... `C_Digest` or `C_DigestFinal` in progress.
pub struct DigestOp {
    hasher: Option<Hasher>,
    /// The digest, once computed, until the caller has it.
    pub result: Option<Vec<u8>>,
}

impl DigestOp {
    /// Starts a digest.
    pub fn new(m: &Mechanism) -> R<DigestOp> {
        if m.params != Params::None {
            return Err(CKR_MECHANISM_PARAM_INVALID);
        }
        let hasher = Hasher::for_mechanism(m.ty).ok_or(CKR_MECHANISM_INVALID)?;
        Ok(DigestOp {
            hasher: Some(hasher),
            result: None,
        })
    }

    /// Adds data.
    pub fn update(&mut self, data: &[u8]) -> R<()> {
        self.hasher
            .as_mut()
            .ok_or(CKR_OPERATION_ACTIVE)?
            .update(data);
        Ok(())
    }

    /// The digest (computed once).
    pub fn finish(&mut self) -> R<&[u8]> {
        if self.result.is_none() {
            let h = self.hasher.take().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
            self.result = Some(h.finish());
        }
        Ok(self.result.as_deref().unwrap_or_default())
    }
}

/// How a signature mechanism turns its input into what the key handle signs.
#[derive(Debug, Clone, Copy)]
enum SignKind {
    /// ECDSA over a digest the caller gives (`CKM_ECDSA`) or this module computes.
    Ecdsa(CurveName),
    /// `CKM_RSA_PKCS`: the input is a DigestInfo (or other data the caller formats).
    RsaPkcs,
    /// RSASSA-PKCS1-v1_5 or PSS with a known algorithm over a digest.
    Rsa(SignatureAlgorithm),
}

/// What `C_SignUpdate` and `C_VerifyUpdate` feed.
enum Input {
    Raw(Zeroizing<Vec<u8>>),
    Hash(Box<Hasher>),
}

/// A sign or verify operation in progress.
pub struct SignOp {
    key: KeyHandle,
    kind: SignKind,
    input: Option<Input>,
    /// The signature, once computed, until the caller has it.
    pub result: Option<Vec<u8>>,
    /// Whether the mechanism hashes (and so takes several parts).
    pub multi_part: bool,
}

fn hash_of(ty: CK_MECHANISM_TYPE) -> Option<HashAlg> {
    match ty {
        CKM_SHA256 => Some(HashAlg::Sha256),
        CKM_SHA384 => Some(HashAlg::Sha384),
        CKM_SHA512 => Some(HashAlg::Sha512),
        _ => None,
    }
}

fn pss_alg(hash: HashAlg) -> SignatureAlgorithm {
    match hash {
        HashAlg::Sha256 => SignatureAlgorithm::PS256,
        HashAlg::Sha384 => SignatureAlgorithm::PS384,
        HashAlg::Sha512 => SignatureAlgorithm::PS512,
    }
}

fn pkcs1_alg(hash: HashAlg) -> SignatureAlgorithm {
    match hash {
        HashAlg::Sha256 => SignatureAlgorithm::RS256,
        HashAlg::Sha384 => SignatureAlgorithm::RS384,
        HashAlg::Sha512 => SignatureAlgorithm::RS512,
    }
}

fn mgf_of(hash: HashAlg) -> CK_RSA_PKCS_MGF_TYPE {
    match hash {
        HashAlg::Sha256 => CKG_MGF1_SHA256,
        HashAlg::Sha384 => CKG_MGF1_SHA384,
        HashAlg::Sha512 => CKG_MGF1_SHA512,
    }
}

fn hash_len(hash: HashAlg) -> usize {
    match hash {
        HashAlg::Sha256 => 32,
        HashAlg::Sha384 => 48,
        HashAlg::Sha512 => 64,
    }
}

/// The PSS parameters Key Vault's PS256/384/512 use: the hash, MGF1 with the same hash,
/// and a salt as long as the digest. Others are refused, not silently replaced.
fn check_pss(params: &Params, hash: Option<HashAlg>) -> R<HashAlg> {
    let Params::Pss {
        hash: h,
        mgf,
        salt_len,
    } = params
    else {
        return Err(CKR_MECHANISM_PARAM_INVALID);
    };
    let h = hash_of(*h).ok_or(CKR_MECHANISM_PARAM_INVALID)?;
    if hash.is_some_and(|want| want != h) || *mgf != mgf_of(h) || *salt_len as usize != hash_len(h)
    {
        return Err(CKR_MECHANISM_PARAM_INVALID);
    }
    Ok(h)
}

/// The curve's signature algorithm and the digest length it signs.
fn ecdsa_alg(curve: CurveName) -> R<(SignatureAlgorithm, usize)> {
    match curve {
        CurveName::P256 => Ok((SignatureAlgorithm::ES256, 32)),
        CurveName::P384 => Ok((SignatureAlgorithm::ES384, 48)),
        CurveName::P521 => Ok((SignatureAlgorithm::ES512, 64)),
        CurveName::P256K => Ok((SignatureAlgorithm::ES256K, 32)),
        _ => Err(CKR_CURVE_NOT_SUPPORTED),
    }
}

/// The digest ECDSA signs, in the length the key handle takes. ECDSA uses the leftmost
/// bits of a digest up to the bit length of the group order (FIPS 186-4 6.4, SEC 1 4.1.3
/// step 5): for P-256, secp256k1 and P-384 (orders of 256 and 384 bits) that is the leftmost
/// 32 or 48 bytes, and a shorter digest is the same integer with zeros in front. For P-521
/// the handle takes 64 bytes and any digest of at most 64 bytes is used whole.
fn ecdsa_digest(curve: CurveName, digest: &[u8]) -> R<(SignatureAlgorithm, Vec<u8>)> {
    let (alg, n) = ecdsa_alg(curve)?;
    if digest.is_empty() || (curve == CurveName::P521 && digest.len() > n) {
        return Err(CKR_DATA_LEN_RANGE);
    }
    let mut out = vec![0u8; n.saturating_sub(digest.len())];
    out.extend_from_slice(&digest[..digest.len().min(n)]);
    Ok((alg, out))
}

/// The DigestInfo prefixes of RFC 8017 9.2, note 1, for the hashes Key Vault signs with.
const DIGEST_INFO: [(HashAlg, &[u8]); 3] = [
    (
        HashAlg::Sha256,
        &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
    ),
    (
        HashAlg::Sha384,
        &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
    ),
    (
        HashAlg::Sha512,
        &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
    ),
];

/// The algorithm and digest of a SHA-2 DigestInfo; `CKR_DATA_INVALID` for any other input
/// (which `CKM_RSA_PKCS` then signs as given).
fn parse_digest_info(data: &[u8]) -> R<(SignatureAlgorithm, &[u8])> {
    DIGEST_INFO
        .iter()
        .find_map(|(hash, prefix)| {
            data.strip_prefix(*prefix)
                .filter(|d| d.len() == hash_len(*hash))
                .map(|d| (pkcs1_alg(*hash), d))
        })
        .ok_or(CKR_DATA_INVALID)
}

impl SignOp {
    /// Starts a sign or verify operation with `m` on `key`.
    pub fn new(m: &Mechanism, key: KeyHandle) -> R<SignOp> {
        let spec = key.spec();
        let (kind, hash) = match (m.ty, spec) {
            (CKM_ECDSA, KeySpec::Ec(c)) => (SignKind::Ecdsa(c), None),
            (CKM_ECDSA_SHA256, KeySpec::Ec(c)) => (SignKind::Ecdsa(c), Some(HashAlg::Sha256)),
            (CKM_ECDSA_SHA384, KeySpec::Ec(c)) => (SignKind::Ecdsa(c), Some(HashAlg::Sha384)),
            (CKM_ECDSA_SHA512, KeySpec::Ec(c)) => (SignKind::Ecdsa(c), Some(HashAlg::Sha512)),
            (CKM_RSA_PKCS, KeySpec::Rsa(_)) => (SignKind::RsaPkcs, None),
            (CKM_SHA256_RSA_PKCS, KeySpec::Rsa(_)) => (
                SignKind::Rsa(SignatureAlgorithm::RS256),
                Some(HashAlg::Sha256),
            ),
            (CKM_SHA384_RSA_PKCS, KeySpec::Rsa(_)) => (
                SignKind::Rsa(SignatureAlgorithm::RS384),
                Some(HashAlg::Sha384),
            ),
            (CKM_SHA512_RSA_PKCS, KeySpec::Rsa(_)) => (
                SignKind::Rsa(SignatureAlgorithm::RS512),
                Some(HashAlg::Sha512),
            ),
            (CKM_RSA_PKCS_PSS, KeySpec::Rsa(_)) => {
                (SignKind::Rsa(pss_alg(check_pss(&m.params, None)?)), None)
            }
            (
                CKM_SHA256_RSA_PKCS_PSS | CKM_SHA384_RSA_PKCS_PSS | CKM_SHA512_RSA_PKCS_PSS,
                KeySpec::Rsa(_),
            ) => {
                let want = match m.ty {
                    CKM_SHA256_RSA_PKCS_PSS => HashAlg::Sha256,
                    CKM_SHA384_RSA_PKCS_PSS => HashAlg::Sha384,
                    _ => HashAlg::Sha512,
                };
                let h = check_pss(&m.params, Some(want))?;
                (SignKind::Rsa(pss_alg(h)), Some(h))
            }
            (
                CKM_ECDSA | CKM_ECDSA_SHA256 | CKM_ECDSA_SHA384 | CKM_ECDSA_SHA512 | CKM_RSA_PKCS
                | CKM_SHA256_RSA_PKCS | CKM_SHA384_RSA_PKCS | CKM_SHA512_RSA_PKCS
                | CKM_RSA_PKCS_PSS,
                _,
            ) => return Err(CKR_KEY_TYPE_INCONSISTENT),
            _ => return Err(CKR_MECHANISM_INVALID),
        };
        if !matches!(
            m.ty,
            CKM_RSA_PKCS_PSS
                | CKM_SHA256_RSA_PKCS_PSS
                | CKM_SHA384_RSA_PKCS_PSS
                | CKM_SHA512_RSA_PKCS_PSS
        ) && m.params != Params::None
        {
            return Err(CKR_MECHANISM_PARAM_INVALID);
        }
        Ok(SignOp {
            key,
            kind,
            multi_part: hash.is_some(),
            input: Some(match hash {
                Some(h) => Input::Hash(Box::new(Hasher::of(h))),
                None => Input::Raw(Zeroizing::new(Vec::new())),
            }),
            result: None,
        })
    }

    /// Adds data (`C_SignUpdate`, `C_VerifyUpdate`, and the single-part calls).
    pub fn update(&mut self, data: &[u8]) -> R<()> {
        match self.input.as_mut() {
            Some(Input::Hash(h)) => h.update(data),
            Some(Input::Raw(buf)) => buf.extend_from_slice(data),
            None => return Err(CKR_OPERATION_ACTIVE),
        }
        Ok(())
    }

    /// What the key handle signs or verifies.
    fn prepared(&mut self) -> R<Prepared> {
        let input = self.input.take().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let digest = match input {
            Input::Hash(h) => Zeroizing::new((*h).finish()),
            Input::Raw(data) => data,
        };
        match self.kind {
            SignKind::Ecdsa(curve) => {
                ecdsa_digest(curve, &digest).map(|(alg, d)| Prepared::Digest(alg, d))
            }
            SignKind::RsaPkcs => match parse_digest_info(&digest) {
                // A SHA-2 DigestInfo goes the way of RS256/384/512 (the same bytes, since
                // PKCS#1 v1.5 is deterministic), which a key behind a server can take too.
                Ok((alg, d)) => Ok(Prepared::Digest(alg, d.to_vec())),
                Err(_) => {
                    let max = match self.key.spec() {
                        KeySpec::Rsa(bits) => (bits / 8).saturating_sub(PKCS1_PADDING),
                        _ => return Err(CKR_KEY_TYPE_INCONSISTENT),
                    };
                    if digest.len() > max {
                        return Err(CKR_DATA_LEN_RANGE);
                    }
                    Ok(Prepared::Raw(digest))
                }
            },
            SignKind::Rsa(alg) => {
                let want = hash_len(alg.hash());
                if digest.len() != want {
                    return Err(CKR_DATA_LEN_RANGE);
                }
                Ok(Prepared::Digest(alg, digest.to_vec()))
            }
        }
    }

    /// The signature (computed once; later calls return it again).
    pub fn sign(&mut self) -> R<&[u8]> {
        if self.result.is_none() {
            let sig = match self.prepared()? {
                Prepared::Digest(alg, digest) => self.key.sign(alg, &digest),
                Prepared::Raw(data) => self.key.sign_pkcs1v15_raw(&data),
            };
            self.result = Some(sig.map_err(op_error)?);
        }
        Ok(self.result.as_deref().unwrap_or_default())
    }

    /// Checks `signature`; `CKR_SIGNATURE_INVALID` when it does not verify.
    pub fn verify(&mut self, signature: &[u8]) -> R<()> {
        let expected = match self.key.spec() {
            KeySpec::Ec(c) => 2 * c.scalar_len(),
            KeySpec::Rsa(bits) => bits / 8,
            KeySpec::Oct(_) => return Err(CKR_KEY_TYPE_INCONSISTENT),
        };
        let prepared = self.prepared()?;
        if signature.len() != expected {
            return Err(CKR_SIGNATURE_LEN_RANGE);
        }
        let outcome = match prepared {
            Prepared::Digest(alg, digest) => self.key.verify(alg, &digest, signature),
            Prepared::Raw(data) => self.key.verify_pkcs1v15_raw(&data, signature),
        };
        match outcome {
            Ok(true) => Ok(()),
            Ok(false) | Err(Error::CryptoFailure) => Err(CKR_SIGNATURE_INVALID),
            Err(e) => Err(op_error(e)),
        }
    }
}

/// What a sign or verify operation hands the key.
enum Prepared {
    /// A digest, for a Key Vault signature algorithm.
    Digest(SignatureAlgorithm, Vec<u8>),
    /// Data `CKM_RSA_PKCS` pads as given.
    Raw(Zeroizing<Vec<u8>>),
}

/// The bytes PKCS#1 v1.5 padding adds at the least (`00 01`, eight `FF`, `00`).
const PKCS1_PADDING: usize = 11;

/// An encrypt or decrypt operation in progress.
pub struct CipherOp {
    key: KeyHandle,
    kind: CipherKind,
    /// The output, once computed, until the caller has it.
    pub result: Option<Zeroizing<Vec<u8>>>,
}

enum CipherKind {
    Gcm {
        alg: EncryptionAlgorithm,
        iv: Vec<u8>,
        aad: Vec<u8>,
    },
    CbcPad {
        alg: EncryptionAlgorithm,
        iv: Vec<u8>,
    },
    Rsa(EncryptionAlgorithm),
}

fn aes_bits(key: &KeyHandle) -> R<usize> {
    match key.spec() {
        KeySpec::Oct(bits) => Ok(bits),
        _ => Err(CKR_KEY_TYPE_INCONSISTENT),
    }
}

fn rsa_key(key: &KeyHandle) -> R<()> {
    match key.spec() {
        KeySpec::Rsa(_) => Ok(()),
        _ => Err(CKR_KEY_TYPE_INCONSISTENT),
    }
}

/// The OAEP variant Key Vault offers for these parameters: SHA-1 or SHA-256, MGF1 with the
/// same hash, and no label.
fn oaep(params: &Params) -> R<bool> {
    match params {
        Params::Oaep { hash, mgf, label } if label.is_empty() => match (*hash, *mgf) {
            (CKM_SHA_1, CKG_MGF1_SHA1) => Ok(false),
            (CKM_SHA256, CKG_MGF1_SHA256) => Ok(true),
            _ => Err(CKR_MECHANISM_PARAM_INVALID),
        },
        _ => Err(CKR_MECHANISM_PARAM_INVALID),
    }
}

impl CipherOp {
    /// Starts an encrypt or decrypt operation with `m` on `key`.
    pub fn new(m: &Mechanism, key: KeyHandle) -> R<CipherOp> {
        let kind = match m.ty {
            CKM_AES_GCM => {
                let alg = match aes_bits(&key)? {
                    128 => EncryptionAlgorithm::A128Gcm,
                    192 => EncryptionAlgorithm::A192Gcm,
                    _ => EncryptionAlgorithm::A256Gcm,
                };
                match &m.params {
                    Params::Gcm { iv, aad, tag_bits }
                        if iv.len() == 12 && *tag_bits as usize == 8 * 16 =>
                    {
                        CipherKind::Gcm {
                            alg,
                            iv: iv.clone(),
                            aad: aad.clone(),
                        }
                    }
                    _ => return Err(CKR_MECHANISM_PARAM_INVALID),
                }
            }
            CKM_AES_CBC_PAD => {
                let alg = match aes_bits(&key)? {
                    128 => EncryptionAlgorithm::A128CbcPad,
                    192 => EncryptionAlgorithm::A192CbcPad,
                    _ => EncryptionAlgorithm::A256CbcPad,
                };
                match &m.params {
                    Params::Bytes(iv) if iv.len() == 16 => CipherKind::CbcPad {
                        alg,
                        iv: iv.clone(),
                    },
                    _ => return Err(CKR_MECHANISM_PARAM_INVALID),
                }
            }
            CKM_RSA_PKCS_OAEP => {
                rsa_key(&key)?;
                CipherKind::Rsa(if oaep(&m.params)? {
                    EncryptionAlgorithm::RsaOaep256
                } else {
                    EncryptionAlgorithm::RsaOaep
                })
            }
            CKM_RSA_PKCS => {
                rsa_key(&key)?;
                if m.params != Params::None {
                    return Err(CKR_MECHANISM_PARAM_INVALID);
                }
                CipherKind::Rsa(EncryptionAlgorithm::Rsa1_5)
            }
            _ => return Err(CKR_MECHANISM_INVALID),
        };
        Ok(CipherOp {
            key,
            kind,
            result: None,
        })
    }

    /// Encrypts (computed once; later calls return the same ciphertext). AES-GCM output is
    /// the ciphertext followed by the 16-byte tag, as PKCS#11 defines it.
    pub fn encrypt(&mut self, data: &[u8]) -> R<&[u8]> {
        if self.result.is_none() {
            let out = match &self.kind {
                CipherKind::Gcm { alg, iv, aad } => {
                    let params = AesParams {
                        iv: Some(iv),
                        aad: Some(aad),
                        tag: None,
                    };
                    let e = self.key.encrypt(*alg, data, params).map_err(op_error)?;
                    let mut out = e.ciphertext;
                    out.extend(e.tag.unwrap_or_default());
                    out
                }
                CipherKind::CbcPad { alg, iv } => {
                    let params = AesParams {
                        iv: Some(iv),
                        aad: None,
                        tag: None,
                    };
                    self.key
                        .encrypt(*alg, data, params)
                        .map_err(op_error)?
                        .ciphertext
                }
                CipherKind::Rsa(alg) => {
                    self.key
                        .encrypt(*alg, data, AesParams::default())
                        .map_err(|e| match e {
                            Error::BadParameter(_) => CKR_DATA_LEN_RANGE,
                            e => op_error(e),
                        })?
                        .ciphertext
                }
            };
            self.result = Some(Zeroizing::new(out));
        }
        Ok(self
            .result
            .as_deref()
            .map(Vec::as_slice)
            .unwrap_or_default())
    }

    /// Decrypts (computed once). Every failure to authenticate or unpad is the same
    /// `CKR_ENCRYPTED_DATA_INVALID`.
    pub fn decrypt(&mut self, data: &[u8]) -> R<&[u8]> {
        if self.result.is_none() {
            let invalid = |e: Error| match e {
                Error::CryptoFailure | Error::BadParameter(_) => CKR_ENCRYPTED_DATA_INVALID,
                e => op_error(e),
            };
            let plain = match &self.kind {
                CipherKind::Gcm { alg, iv, aad } => {
                    let split = data
                        .len()
                        .checked_sub(16)
                        .ok_or(CKR_ENCRYPTED_DATA_LEN_RANGE)?;
                    let (ct, tag) = data.split_at(split);
                    let params = AesParams {
                        iv: Some(iv),
                        aad: Some(aad),
                        tag: Some(tag),
                    };
                    self.key.decrypt(*alg, ct, params).map_err(invalid)?
                }
                CipherKind::CbcPad { alg, iv } => {
                    if data.is_empty() || data.len() % 16 != 0 {
                        return Err(CKR_ENCRYPTED_DATA_LEN_RANGE);
                    }
                    let params = AesParams {
                        iv: Some(iv),
                        aad: None,
                        tag: None,
                    };
                    self.key.decrypt(*alg, data, params).map_err(invalid)?
                }
                CipherKind::Rsa(alg) => self
                    .key
                    .decrypt(*alg, data, AesParams::default())
                    .map_err(invalid)?,
            };
            self.result = Some(Zeroizing::new(plain.expose().to_vec()));
        }
        Ok(self
            .result
            .as_deref()
            .map(Vec::as_slice)
            .unwrap_or_default())
    }
}

/// The key-wrap algorithm of mechanism `m` with the wrapping (or unwrapping) key `key`.
pub fn wrap_algorithm(m: &Mechanism, key: &KeyHandle) -> R<WrapAlgorithm> {
    match m.ty {
        CKM_AES_KEY_WRAP => {
            // Only RFC 3394's default IV, which is what an absent parameter means.
            const DEFAULT_IV: [u8; 8] = [0xa6; 8];
            match &m.params {
                Params::None => {}
                Params::Bytes(iv) if iv.as_slice() == DEFAULT_IV => {}
                _ => return Err(CKR_MECHANISM_PARAM_INVALID),
            }
            Ok(match aes_bits(key)? {
                128 => WrapAlgorithm::A128Kw,
                192 => WrapAlgorithm::A192Kw,
                _ => WrapAlgorithm::A256Kw,
            })
        }
        CKM_RSA_PKCS_OAEP => {
            rsa_key(key)?;
            Ok(if oaep(&m.params)? {
                WrapAlgorithm::RsaOaep256
            } else {
                WrapAlgorithm::RsaOaep
            })
        }
        CKM_RSA_PKCS => {
            rsa_key(key)?;
            if m.params != Params::None {
                return Err(CKR_MECHANISM_PARAM_INVALID);
            }
            Ok(WrapAlgorithm::Rsa1_5)
        }
        _ => Err(CKR_MECHANISM_INVALID),
    }
}

/// The `CKR_*` for an error from a key operation.
pub fn op_error(e: Error) -> CK_RV {
    match e {
        Error::Disabled { .. }
        | Error::NotYetValid { .. }
        | Error::Expired { .. }
        | Error::OperationNotPermitted { .. } => CKR_KEY_FUNCTION_NOT_PERMITTED,
        Error::NotFound { .. } | Error::IsDeleted { .. } => CKR_KEY_HANDLE_INVALID,
        Error::AlgorithmNotSupported { .. } => CKR_KEY_TYPE_INCONSISTENT,
        Error::BadParameter(_) => CKR_DATA_INVALID,
        Error::CryptoFailure => CKR_FUNCTION_FAILED,
        Error::NotExportable => CKR_KEY_UNEXTRACTABLE,
        e => store_error(e),
    }
}

/// The `CKR_*` for an error from the store.
pub fn store_error(e: Error) -> CK_RV {
    match e {
        Error::VaultNotFound { .. } | Error::VaultIsDeleted { .. } => CKR_TOKEN_NOT_PRESENT,
        Error::NotFound { .. } | Error::IsDeleted { .. } => CKR_OBJECT_HANDLE_INVALID,
        Error::PurgeProtected { .. } | Error::Managed { .. } | Error::AccessDenied { .. } => {
            CKR_ACTION_PROHIBITED
        }
        Error::AlreadyExists { .. } | Error::BadParameter(_) => CKR_ATTRIBUTE_VALUE_INVALID,
        Error::AlgorithmNotSupported { .. } | Error::NotSupportedByVaultKind { .. } => {
            CKR_TEMPLATE_INCONSISTENT
        }
        Error::Storage(_) | Error::Corrupt { .. } | Error::StoreLocked { .. } => CKR_DEVICE_ERROR,
        _ => CKR_GENERAL_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_digests_take_the_leftmost_bytes_or_pad_in_front() {
        let long = [7u8; 64];
        let (alg, d) = ecdsa_digest(CurveName::P256, &long).unwrap();
        assert_eq!(
            (alg, d.as_slice()),
            (SignatureAlgorithm::ES256, &long[..32])
        );
        let (_, d) = ecdsa_digest(CurveName::P384, &[1u8; 20]).unwrap();
        assert_eq!(&d[..28], &[0u8; 28]);
        assert_eq!(&d[28..], &[1u8; 20]);
        assert_eq!(
            ecdsa_digest(CurveName::P521, &[1u8; 66]),
            Err(CKR_DATA_LEN_RANGE)
        );
        assert_eq!(ecdsa_digest(CurveName::P256, &[]), Err(CKR_DATA_LEN_RANGE));
    }

    #[test]
    fn digest_info_names_its_hash() {
        let digest = HashAlg::Sha384.digest(b"x");
        let mut info = DIGEST_INFO[1].1.to_vec();
        info.extend(&digest);
        let (alg, d) = parse_digest_info(&info).unwrap();
        assert_eq!((alg, d), (SignatureAlgorithm::RS384, digest.as_slice()));
        // A bare digest, or a DigestInfo cut short, is not one.
        assert_eq!(parse_digest_info(&digest), Err(CKR_DATA_INVALID));
        assert_eq!(
            parse_digest_info(&info[..info.len() - 1]),
            Err(CKR_DATA_INVALID)
        );
    }
}
