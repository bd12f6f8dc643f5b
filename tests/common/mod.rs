//! Helpers shared by the cryptographic test suites: a throw-away store with one Managed HSM
//! vault, JWK construction and import, hex, and the known-answer vector files in `vectors/`.

// Each integration test compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use localhsm::crypto::{Base64Url, CurveName, Jwk, KeyType, SecretBase64Url, SecretBytes};
use localhsm::model::{KeyOptions, VaultKind, VaultOptions};
use localhsm::{KeyHandle, MasterKeySource, Store, Vault};
use serde::Deserialize;

/// A store in a temporary directory with one Managed HSM vault. The directory is removed
/// when this is dropped.
pub struct TestVault {
    pub vault: Vault,
    _store: Store,
    _dir: tempfile::TempDir,
    imported: usize,
}

impl TestVault {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(
            dir.path(),
            MasterKeySource::Bytes(SecretBytes::new(vec![0x42; 32])),
        )
        .expect("open store");
        store
            .create_vault(
                "hsm",
                VaultOptions {
                    kind: VaultKind::ManagedHsm,
                    ..Default::default()
                },
            )
            .expect("create vault");
        let vault = store.vault("hsm").expect("vault");
        Self {
            vault,
            _store: store,
            _dir: dir,
            imported: 0,
        }
    }

    /// Imports `jwk` (with private members) as an HSM key named `name` with the default
    /// operations of its type, and returns a handle on it.
    pub fn import(&mut self, name: &str, jwk: &Jwk) -> localhsm::Result<KeyHandle> {
        self.vault
            .import_key(name, jwk, true, KeyOptions::default())?;
        self.imported += 1;
        self.vault.key(name, None)
    }

    /// Imports `jwk` under a fresh generated name.
    pub fn import_anon(&mut self, jwk: &Jwk) -> localhsm::Result<KeyHandle> {
        let name = format!("k-{}", self.imported);
        self.import(&name, jwk)
    }
}

/// Path of a file or directory relative to the crate root.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Decodes lowercase or uppercase hex, panicking with the field name on bad input.
pub fn unhex(field: &str, s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("field {field}: bad hex: {e}"))
}

/// Big-endian integer bytes without leading zeros (JWK form for RSA values).
pub fn minimal(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[start..]
}

/// Big-endian integer left-padded (or stripped of leading zeros) to exactly `len` bytes.
pub fn fixed_width(b: &[u8], len: usize) -> Option<Vec<u8>> {
    let m = minimal(b);
    if m.len() > len {
        return None;
    }
    let mut out = vec![0u8; len - m.len()];
    out.extend_from_slice(m);
    Some(out)
}

fn secret(b: &[u8]) -> Option<SecretBase64Url> {
    Some(SecretBase64Url(SecretBytes::from_slice(b)))
}

/// An oct JWK.
pub fn oct_jwk(k: &[u8]) -> Jwk {
    Jwk {
        kty: Some(KeyType::Oct),
        k: secret(k),
        ..Jwk::default()
    }
}

/// A public EC JWK from affine coordinates of any width (padded to the curve's).
pub fn ec_public_jwk(crv: CurveName, x: &[u8], y: &[u8]) -> Option<Jwk> {
    let n = crv.scalar_len();
    Some(Jwk {
        kty: Some(KeyType::Ec),
        crv: Some(crv),
        x: Some(Base64Url(fixed_width(x, n)?)),
        y: Some(Base64Url(fixed_width(y, n)?)),
        ..Jwk::default()
    })
}

/// A public RSA JWK.
pub fn rsa_public_jwk(n: &[u8], e: &[u8]) -> Jwk {
    Jwk {
        kty: Some(KeyType::Rsa),
        n: Some(Base64Url(minimal(n).to_vec())),
        e: Some(Base64Url(minimal(e).to_vec())),
        ..Jwk::default()
    }
}

/// The CRT members of an RSA private JWK.
pub struct RsaCrt<'a> {
    pub dp: &'a [u8],
    pub dq: &'a [u8],
    pub qi: &'a [u8],
}

/// A private RSA JWK; `crt` may be left out (the import computes it).
pub fn rsa_private_jwk(
    n: &[u8],
    e: &[u8],
    d: &[u8],
    p: &[u8],
    q: &[u8],
    crt: Option<RsaCrt<'_>>,
) -> Jwk {
    let mut jwk = rsa_public_jwk(n, e);
    jwk.d = secret(minimal(d));
    jwk.p = secret(minimal(p));
    jwk.q = secret(minimal(q));
    if let Some(c) = crt {
        jwk.dp = secret(minimal(c.dp));
        jwk.dq = secret(minimal(c.dq));
        jwk.qi = secret(minimal(c.qi));
    }
    jwk
}

/// One `vectors/*.json` file (see `vectors/README.md`).
#[derive(Debug, Deserialize)]
pub struct VectorFile {
    pub family: String,
    pub description: String,
    #[serde(default)]
    pub generator: Option<String>,
    #[serde(default)]
    pub schema: Option<String>,
    pub keys: BTreeMap<String, serde_json::Value>,
    pub cases: Vec<VectorCase>,
}

/// One case; binary fields are hex, absent when they do not apply.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorCase {
    pub id: u64,
    pub key: String,
    pub alg: String,
    pub op: String,
    pub result: String,
    pub comment: String,
    pub flags: Vec<String>,
    pub msg: Option<String>,
    pub digest: Option<String>,
    pub signature: Option<String>,
    pub plaintext: Option<String>,
    pub iv: Option<String>,
    pub aad: Option<String>,
    pub ciphertext: Option<String>,
    pub tag: Option<String>,
}

impl VectorCase {
    /// A hex field decoded, or an error naming it when it is absent.
    pub fn bytes(&self, field: &str) -> Result<Vec<u8>, String> {
        self.opt_bytes(field)
            .ok_or_else(|| format!("case has no {field}"))
    }

    /// A hex field decoded, if present.
    pub fn opt_bytes(&self, field: &str) -> Option<Vec<u8>> {
        let v = match field {
            "msg" => &self.msg,
            "digest" => &self.digest,
            "signature" => &self.signature,
            "plaintext" => &self.plaintext,
            "iv" => &self.iv,
            "aad" => &self.aad,
            "ciphertext" => &self.ciphertext,
            "tag" => &self.tag,
            other => panic!("unknown vector field {other}"),
        };
        v.as_deref().map(|s| unhex(field, s))
    }

    pub fn valid(&self) -> bool {
        match self.result.as_str() {
            "valid" => true,
            "invalid" => false,
            other => panic!("case {}: unknown result {other:?}", self.id),
        }
    }
}

/// Reads `vectors/<name>`.
pub fn load_vector_file(name: &str) -> VectorFile {
    let path = repo_path("vectors").join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The JWK `id` of a vector file.
pub fn vector_jwk(file: &VectorFile, id: &str) -> Jwk {
    let v = file
        .keys
        .get(id)
        .unwrap_or_else(|| panic!("{}: no key {id:?}", file.family));
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("key {id}: bad JWK: {e}"))
}
