//! Runs vector files against localhsm: format detection, then localhsm's own format here
//! (Wycheproof's in [`super::wycheproof`]).
//!
//! Semantics of the own format (`vectors/README.md`, the same as `vectors/gen/check.py`):
//! a `valid` case must succeed, reproduce deterministic outputs (RS* signatures, AES-KW,
//! AES-GCM and AES-CBC with the given iv) and its output must go back through the inverse
//! operation; an `invalid` case must fail. A malformed case (unknown field, alg outside the
//! family, op the family does not have, unknown key, `digest` that is not the hash of `msg`)
//! is a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::format::{Family, KeyJwk, Op, VectorAlg, VectorCase, VectorFile};
use super::report::{display_name, FileReport, SourceFormat};
use super::scratch::Scratch;
use crate::crypto::alg::EncryptionScheme;
use crate::crypto::{AesParams, PublicKey, SignatureAlgorithm};
use crate::KeyHandle;

/// Checks a file, or every `*.json` in a directory (sorted by name): one report per file.
pub fn check(path: impl AsRef<Path>) -> Vec<FileReport> {
    let path = path.as_ref();
    if path.is_dir() {
        let mut files: Vec<_> = match std::fs::read_dir(path) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
                .collect(),
            Err(e) => {
                return vec![FileReport::broken(
                    &path.display().to_string(),
                    SourceFormat::Unknown,
                    format!("cannot read the directory: {e}"),
                )]
            }
        };
        files.sort();
        if files.is_empty() {
            return vec![FileReport::broken(
                &path.display().to_string(),
                SourceFormat::Unknown,
                "no *.json files in the directory",
            )];
        }
        files.iter().map(check_file).collect()
    } else {
        vec![check_file(path)]
    }
}

/// Checks one file of either format.
pub fn check_file(path: impl AsRef<Path>) -> FileReport {
    let path = path.as_ref();
    let name = display_name(path);
    match std::fs::read_to_string(path) {
        Ok(text) => check_str(&name, &text),
        Err(e) => FileReport::broken(&name, SourceFormat::Unknown, format!("cannot read: {e}")),
    }
}

/// Checks the text of a file of either format; `name` is what the report calls it.
pub fn check_str(name: &str, text: &str) -> FileReport {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return FileReport::broken(name, SourceFormat::Unknown, format!("not JSON: {e}")),
    };
    if value.get("testGroups").is_some() {
        super::wycheproof::check_value(name, value)
    } else if value.get("family").is_some() && value.get("cases").is_some() {
        check_own_value(name, value)
    } else {
        FileReport::broken(
            name,
            SourceFormat::Unknown,
            "neither a localhsm vector file (family, keys, cases) nor a Wycheproof file (testGroups)",
        )
    }
}

/// Checks a vector file in memory (e.g. one just generated).
pub fn check_vector_file(name: &str, file: &VectorFile) -> FileReport {
    let value = serde_json::to_value(file).expect("vector files always serialize");
    check_own_value(name, value)
}

/// The top level, read leniently so that one malformed case fails alone.
#[derive(Deserialize)]
struct RawFile {
    family: String,
    #[allow(dead_code)]
    description: String,
    keys: BTreeMap<String, Value>,
    cases: Vec<Value>,
}

/// A key of the file, imported.
struct Key {
    handle: KeyHandle,
    /// The public part on its own (EC and RSA), for the public-key verify path.
    public: Option<PublicKey>,
}

fn check_own_value(name: &str, value: Value) -> FileReport {
    let raw: RawFile = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(e) => {
            return FileReport::broken(
                name,
                SourceFormat::Localhsm,
                format!("not a localhsm vector file: {e}"),
            )
        }
    };
    let Some(family) = Family::parse(&raw.family) else {
        return FileReport::broken(
            name,
            SourceFormat::Localhsm,
            format!("unknown family {:?}", raw.family),
        );
    };
    let mut report = FileReport::new(name, SourceFormat::Localhsm, family.as_str());
    report.cases = raw.cases.len();
    if raw.cases.is_empty() {
        report.error = Some("the file has no cases".into());
        return report;
    }
    let mut scratch = match Scratch::new() {
        Ok(s) => s,
        Err(e) => {
            report.error = Some(format!("cannot open a scratch store: {e}"));
            return report;
        }
    };

    // Keys: a key that cannot be imported fails every case that uses it.
    let mut keys: BTreeMap<String, Result<Key, String>> = BTreeMap::new();
    for (id, v) in &raw.keys {
        let key = serde_json::from_value::<KeyJwk>(v.clone())
            .map_err(|e| e.to_string())
            .and_then(|k| k.to_jwk())
            .and_then(|jwk| {
                let handle = scratch.import(&jwk).map_err(|e| e.to_string())?;
                let public = PublicKey::from_jwk(&jwk.public_only()).ok();
                Ok(Key { handle, public })
            })
            .map_err(|e| format!("key {id:?} cannot be imported: {e}"));
        keys.insert(id.clone(), key);
    }

    let mut seen = BTreeSet::new();
    for v in &raw.cases {
        let id = v.get("id").and_then(Value::as_u64);
        let case = match serde_json::from_value::<VectorCase>(v.clone()) {
            Ok(c) => c,
            Err(e) => {
                report.fail(id, format!("malformed case: {e}"));
                continue;
            }
        };
        let label = format!(
            "{} {} {} {} {:?} ({})",
            case.key,
            case.alg,
            case.op,
            case.result.as_str(),
            case.flags,
            case.comment
        );
        if !seen.insert(case.id) {
            report.fail(id, format!("{label}: malformed case: duplicate id"));
            continue;
        }
        let outcome = well_formed(family, &case).and_then(|()| match keys.get(&case.key) {
            None => Err(format!("malformed case: unknown key {:?}", case.key)),
            Some(Err(e)) => Err(e.clone()),
            Some(Ok(key)) => run_case(&case, key),
        });
        match outcome {
            Ok(()) => report.pass(),
            Err(why) => report.fail(Some(case.id), format!("{label}: {why}")),
        }
    }
    report
}

/// The structural rules of `check.py`.
fn well_formed(family: Family, case: &VectorCase) -> Result<(), String> {
    let alg = VectorAlg::parse(&case.alg)
        .ok_or_else(|| format!("malformed case: unknown alg {:?}", case.alg))?;
    if alg.family() != family {
        return Err(format!(
            "malformed case: alg {} does not belong to family {family}",
            case.alg
        ));
    }
    if !family.ops().contains(&case.op) {
        return Err(format!(
            "malformed case: op {} is not an op of family {family}",
            case.op
        ));
    }
    if let (VectorAlg::Sign(sig), Some(msg)) = (alg, case.msg.as_deref()) {
        let digest = case.need("digest")?;
        if sig.hash().digest(msg) != digest {
            return Err(format!(
                "malformed case: digest is not the {:?} hash of msg",
                sig.hash()
            ));
        }
    }
    Ok(())
}

fn parse<T: std::str::FromStr>(alg: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    alg.parse().map_err(|e| format!("unknown algorithm: {e}"))
}

/// Ok when the operation was refused; an invalid case must never succeed.
fn refused<T>(r: crate::Result<T>) -> Result<(), String> {
    match r {
        Ok(_) => Err("expected the operation to fail, but it succeeded".into()),
        Err(_) => Ok(()),
    }
}

fn ok<T>(what: &str, r: crate::Result<T>) -> Result<T, String> {
    r.map_err(|e| format!("{what} failed: {e}"))
}

/// The output of a case's operation: `None` when the case is invalid and the operation
/// refused, as it must; an error when it did not, or when a valid case failed.
fn output<T>(case: &VectorCase, what: &str, r: crate::Result<T>) -> Result<Option<T>, String> {
    if case.valid() {
        ok(what, r).map(Some)
    } else {
        refused(r).map(|()| None)
    }
}

fn same(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "{what} differs: got {}, want {}",
            hex::encode(got),
            hex::encode(want)
        ))
    }
}

fn run_case(case: &VectorCase, key: &Key) -> Result<(), String> {
    let h = &key.handle;
    match case.op {
        Op::Sign => {
            let alg: SignatureAlgorithm = parse(&case.alg)?;
            let digest = case.need("digest")?;
            let Some(sig) = output(case, "sign", h.sign(alg, digest))? else {
                return Ok(());
            };
            let want = case.need("signature")?;
            let deterministic = matches!(
                alg,
                SignatureAlgorithm::RS256 | SignatureAlgorithm::RS384 | SignatureAlgorithm::RS512
            );
            if deterministic {
                same("signature", &sig, want)?;
            }
            for (what, s) in [("own signature", &sig[..]), ("expected signature", want)] {
                if !ok("verify", h.verify(alg, digest, s))? {
                    return Err(format!("{what} does not verify"));
                }
            }
            Ok(())
        }
        Op::Verify => {
            let alg: SignatureAlgorithm = parse(&case.alg)?;
            let digest = case.need("digest")?;
            let sig = case.need("signature")?;
            let public = key
                .public
                .as_ref()
                .ok_or("verify needs a key with a public part")?;
            let paths = [
                ("KeyHandle::verify", h.verify(alg, digest, sig)),
                (
                    "PublicKey::verify_digest",
                    public.verify_digest(alg, digest, sig),
                ),
            ];
            for (what, r) in paths {
                if case.valid() {
                    if !ok(what, r)? {
                        return Err(format!("{what} rejected a valid signature"));
                    }
                } else if matches!(r, Ok(true)) {
                    return Err(format!("{what} accepted an invalid signature"));
                }
            }
            Ok(())
        }
        Op::Encrypt => {
            let alg: crate::crypto::EncryptionAlgorithm = parse(&case.alg)?;
            let pt = case.need("plaintext")?;
            let aad = case.aad.as_deref();
            let params = AesParams {
                iv: case.iv.as_deref(),
                aad,
                tag: None,
            };
            let Some(out) = output(case, "encrypt", h.encrypt(alg, pt, params))? else {
                return Ok(());
            };
            if matches!(alg.scheme(), EncryptionScheme::Aes { .. }) {
                // Deterministic for a given iv: reproduce byte for byte.
                same("ciphertext", &out.ciphertext, case.need("ciphertext")?)?;
                same(
                    "iv",
                    out.iv.as_deref().unwrap_or_default(),
                    case.need("iv")?,
                )?;
                match (case.tag.as_deref(), out.tag.as_deref()) {
                    (Some(want), Some(got)) => same("tag", got, want)?,
                    (None, None) => {}
                    (want, got) => {
                        return Err(format!(
                            "tag presence differs: got {:?}, want {:?}",
                            got.map(hex::encode),
                            want.map(hex::encode)
                        ))
                    }
                }
            }
            let back = ok(
                "decrypt of the encrypt output",
                h.decrypt(
                    alg,
                    &out.ciphertext,
                    AesParams {
                        iv: out.iv.as_deref(),
                        aad,
                        tag: out.tag.as_deref(),
                    },
                ),
            )?;
            same("decrypted plaintext", back.expose(), pt)
        }
        Op::Decrypt => {
            let alg: crate::crypto::EncryptionAlgorithm = parse(&case.alg)?;
            let ct = case.need("ciphertext")?;
            let params = AesParams {
                iv: case.iv.as_deref(),
                aad: case.aad.as_deref(),
                tag: case.tag.as_deref(),
            };
            let Some(pt) = output(case, "decrypt", h.decrypt(alg, ct, params))? else {
                return Ok(());
            };
            same("plaintext", pt.expose(), case.need("plaintext")?)
        }
        Op::Wrap => {
            let alg: crate::crypto::WrapAlgorithm = parse(&case.alg)?;
            let pt = case.need("plaintext")?;
            let Some(wrapped) = output(case, "wrap", h.wrap_key(alg, pt))? else {
                return Ok(());
            };
            same("wrapped key", &wrapped, case.need("ciphertext")?)?;
            let back = ok("unwrap of the wrap output", h.unwrap_key(alg, &wrapped))?;
            same("unwrapped key", back.expose(), pt)
        }
        Op::Unwrap => {
            let alg: crate::crypto::WrapAlgorithm = parse(&case.alg)?;
            let ct = case.need("ciphertext")?;
            let Some(pt) = output(case, "unwrap", h.unwrap_key(alg, ct))? else {
                return Ok(());
            };
            same("unwrapped key", pt.expose(), case.need("plaintext")?)
        }
    }
}
