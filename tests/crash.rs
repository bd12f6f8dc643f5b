//! Guards against losing acknowledged writes or leaving half-written state when the process
//! dies: a seeded random workload (keys: create, add versions, rotate, update tags, delete,
//! recover, purge; secrets, interleaved with them: set new versions with distinctive values
//! up to the 25 KiB limit, update tags, delete, recover, purge) runs against `localhsm serve`
//! on a temporary store, recording every request the server acknowledged, while the server is
//! SIGKILLed at random moments; after each restart every acknowledged change must be there,
//! no key or secret may have half its versions, unreadable material or a value other than the
//! one set, nothing deleted may be half-moved, and the store must open as it is. The same
//! runs for the library in-process: a child process writing through the library is SIGKILLed
//! and the parent reopens the store.
//!
//! Certificates join the workload (created with issuer Self, imported from PFX files with and
//! without a password, updated (tags and enabled), deleted, recovered, purged): after every
//! restart each acknowledged certificate version is whole, with its managed key and secret of
//! the same version, enabled as it is (the key holding the certificate's public key and
//! signing, the secret a PFX of that certificate and key), or all three are deleted together,
//! or all three are gone; never a certificate without its key or secret, or the reverse, and
//! the deleted key and secret lists never show a certificate's.
//!
//! A request in flight at the kill may or may not have applied: the check accepts either,
//! never a mixture. `LOCALHSM_CRASH_KILLS` sets the kills per variant (default 20),
//! `LOCALHSM_CRASH_SEED` reproduces a run's choices (the seed is printed; the kill moments
//! also depend on timing).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use localhsm::crypto::jwk::b64url_encode;
use localhsm::crypto::x509::{self, CertSpec, CertificateKey};
use localhsm::crypto::{CurveName, SecretBytes, SecretString};
use localhsm::model::certificates::{CertificateOptions, CertificatePolicy, CertificateUpdate};
use localhsm::model::{KeyOptions, KeyUpdate, SecretOptions, SecretUpdate};
use localhsm::{MasterKeySource, Store, Vault};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use support::{
    all_pages, exercise_key, http, kid_version, outcome, seed_from_env, test_key_spec,
    usize_from_env, Opener, Rng, Server,
};

/// The names the workload plays with: few, so that operations collide on the same objects.
/// `sec-*` names are secrets, `crt-*` certificates (each with its key and secret of the same
/// name), the others keys (see [`support::test_key_spec`]).
const NAMES: &[&str] = &[
    "ec-a", "ec-b", "ec-c", "oct-a", "oct-b", "oct-c", "sec-a", "sec-b", "sec-c", "crt-a", "crt-b",
];
/// A key with this many versions is deleted rather than grown further.
const MAX_VERSIONS: usize = 5;
/// The environment variable that turns a run of this test binary into a library writer.
const CHILD_ENV: &str = "LOCALHSM_CRASH_CHILD_DIR";

type Tags = BTreeMap<String, String>;

/// Whether `name` is a secret's (else a key's or a certificate's).
fn is_secret(name: &str) -> bool {
    name.starts_with("sec-")
}

/// Whether `name` is a certificate's.
fn is_cert(name: &str) -> bool {
    name.starts_with("crt-")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum State {
    Live,
    Deleted,
}

/// One version as the store must hold it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Version {
    id: String,
    tags: Tags,
    /// A secret's value; `None` for a key.
    #[serde(default)]
    value: Option<String>,
    /// A certificate version's `enabled` (its key and secret must say the same); `None` for
    /// keys and secrets.
    #[serde(default)]
    enabled: Option<bool>,
}

impl std::fmt::Debug for Version {
    /// Long values cut short, so that a failure stays readable.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = if self.id.is_empty() {
            "(id unknown)"
        } else {
            &self.id
        };
        write!(f, "{id} {:?}", self.tags)?;
        if let Some(e) = self.enabled {
            write!(f, " enabled {e}")?;
        }
        if let Some(v) = &self.value {
            let shown: String = v.chars().take(40).collect();
            write!(f, " value {shown:?}.. ({} bytes)", v.len())?;
        }
        Ok(())
    }
}

/// A version of a key (no value).
fn key_version(id: &str, tags: Tags) -> Version {
    Version {
        id: id.to_string(),
        tags,
        value: None,
        enabled: None,
    }
}

/// A version of a certificate.
fn cert_version(id: &str, tags: Tags, enabled: bool) -> Version {
    Version {
        id: id.to_string(),
        tags,
        value: None,
        enabled: Some(enabled),
    }
}

/// Whether the model's versions are the store's. A model version whose id is empty was
/// acknowledged without the id reaching the test (a certificate create answers 202 without
/// it): any id matches it.
fn same_versions(model: &[Version], actual: &[Version]) -> bool {
    model.len() == actual.len()
        && model.iter().zip(actual).all(|(m, a)| {
            (m.id.is_empty() || m.id == a.id)
                && m.tags == a.tags
                && m.value == a.value
                && m.enabled == a.enabled
        })
}

/// What the store must hold for one key, secret or certificate name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Key {
    state: State,
    /// Versions, oldest first.
    versions: Vec<Version>,
}

/// Every acknowledged change, applied: what the store must hold.
type Model = BTreeMap<String, Key>;

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Op {
    Create {
        name: String,
        tags: Tags,
    },
    Rotate {
        name: String,
    },
    /// Sets a secret: a new version holding `value`.
    Set {
        name: String,
        tags: Tags,
        value: String,
    },
    Tag {
        name: String,
        version: String,
        tags: Tags,
    },
    /// Imports a certificate: a new version from PFX `pfx` of [`pfx_pool`].
    Import {
        name: String,
        tags: Tags,
        pfx: usize,
    },
    /// Updates a certificate version's tags and `enabled` (which its key and secret follow).
    CertUpdate {
        name: String,
        version: String,
        tags: Tags,
        enabled: bool,
    },
    Delete {
        name: String,
    },
    Recover {
        name: String,
    },
    Purge {
        name: String,
    },
}

impl Op {
    fn name(&self) -> &str {
        match self {
            Op::Create { name, .. }
            | Op::Rotate { name }
            | Op::Set { name, .. }
            | Op::Tag { name, .. }
            | Op::Import { name, .. }
            | Op::CertUpdate { name, .. }
            | Op::Delete { name }
            | Op::Recover { name }
            | Op::Purge { name } => name,
        }
    }
}

fn random_tags(rng: &mut Rng) -> Tags {
    (0..rng.below(4))
        .map(|i| (format!("t{i}"), format!("{:x}", rng.next_u64())))
        .collect()
}

/// A secret value no other set uses: text with multi-byte characters, now and then long,
/// and one time in twenty exactly Key Vault's limit of 25 KiB.
fn random_value(rng: &mut Rng) -> String {
    let mut v = format!("crash-secret {:016x} ✓ ü 🔑 ", rng.next_u64());
    let limit = localhsm::model::MAX_SECRET_VALUE_BYTES;
    let len = if rng.chance(5) {
        limit
    } else {
        v.len() + rng.below(2000) as usize
    };
    while v.len() < len {
        v.push(char::from(b'a' + (rng.below(26) as u8)));
    }
    v
}

/// The next operation, chosen so that it is valid against `model`.
fn choose(model: &Model, rng: &mut Rng) -> Op {
    let name = rng.pick(NAMES).to_string();
    if is_secret(&name) {
        return choose_secret(model, rng, name);
    }
    if is_cert(&name) {
        return choose_cert(model, rng, name);
    }
    match model.get(&name) {
        None => Op::Create {
            name,
            tags: random_tags(rng),
        },
        Some(k) if k.state == State::Deleted => {
            if rng.chance(50) {
                Op::Recover { name }
            } else {
                Op::Purge { name }
            }
        }
        Some(k) => {
            let roll = rng.below(100);
            if k.versions.len() >= MAX_VERSIONS && roll < 60 {
                return Op::Delete { name };
            }
            match roll {
                _ if k.versions.len() >= MAX_VERSIONS || roll < 40 => {
                    let version = rng.pick(&k.versions).id.clone();
                    Op::Tag {
                        name,
                        version,
                        tags: random_tags(rng),
                    }
                }
                40..=59 => Op::Create {
                    name,
                    tags: random_tags(rng),
                },
                60..=74 => Op::Rotate { name },
                _ => Op::Delete { name },
            }
        }
    }
}

/// [`choose`] for a secret.
fn choose_secret(model: &Model, rng: &mut Rng, name: String) -> Op {
    let set = |rng: &mut Rng, name: String| Op::Set {
        tags: random_tags(rng),
        value: random_value(rng),
        name,
    };
    match model.get(&name) {
        None => set(rng, name),
        Some(k) if k.state == State::Deleted => {
            if rng.chance(50) {
                Op::Recover { name }
            } else {
                Op::Purge { name }
            }
        }
        Some(k) => {
            let roll = rng.below(100);
            if k.versions.len() >= MAX_VERSIONS && roll < 60 {
                return Op::Delete { name };
            }
            match roll {
                _ if k.versions.len() >= MAX_VERSIONS || roll < 40 => {
                    let version = rng.pick(&k.versions).id.clone();
                    Op::Tag {
                        name,
                        version,
                        tags: random_tags(rng),
                    }
                }
                40..=74 => set(rng, name),
                _ => Op::Delete { name },
            }
        }
    }
}

/// [`choose`] for a certificate: created (issuer Self) or imported, updated (tags and
/// enabled), deleted, recovered, purged.
fn choose_cert(model: &Model, rng: &mut Rng, name: String) -> Op {
    let make = |rng: &mut Rng, name: String| {
        let tags = random_tags(rng);
        if rng.chance(60) {
            Op::Create { name, tags }
        } else {
            let pfx = rng.below(PFX_POOL as u64) as usize;
            Op::Import { name, tags, pfx }
        }
    };
    match model.get(&name) {
        None => make(rng, name),
        Some(c) if c.state == State::Deleted => {
            if rng.chance(50) {
                Op::Recover { name }
            } else {
                Op::Purge { name }
            }
        }
        Some(c) => {
            let roll = rng.below(100);
            if c.versions.len() >= MAX_VERSIONS && roll < 60 {
                return Op::Delete { name };
            }
            match roll {
                _ if c.versions.len() >= MAX_VERSIONS || roll < 35 => {
                    let version = rng.pick(&c.versions).id.clone();
                    if version.is_empty() {
                        // Its id never reached the test: leave it be.
                        return Op::Delete { name };
                    }
                    Op::CertUpdate {
                        name,
                        version,
                        tags: random_tags(rng),
                        enabled: rng.chance(70),
                    }
                }
                35..=74 => make(rng, name),
                _ => Op::Delete { name },
            }
        }
    }
}

/// How many PFX files [`pfx_pool`] holds.
const PFX_POOL: usize = 3;

/// A PFX to import: its bytes and password.
struct Pfx {
    bytes: Vec<u8>,
    password: Option<&'static str>,
}

/// Self-signed EC certificates with their keys, as PFX files: one without a password, two
/// with one. Made once per process.
fn pfx_pool() -> &'static [Pfx] {
    static POOL: std::sync::OnceLock<Vec<Pfx>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        [None, Some("crash-pw"), Some("pässwörd ✓")]
            .into_iter()
            .enumerate()
            .map(|(i, password)| {
                let key =
                    CertificateKey::generate(localhsm::KeySpec::Ec(CurveName::P256)).expect("key");
                // Valid from yesterday for two years, so that its key signs: a key is as
                // valid as its certificate.
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("clock")
                    .as_secs();
                let spec = CertSpec {
                    subject: format!("CN=crash-import-{i}"),
                    not_before: now - localhsm::model::DAY,
                    validity_months: 24,
                    ..CertSpec::default()
                };
                let der = key.self_signed(&spec).expect("certificate");
                let bytes = key.to_pfx(&[der], password).expect("PFX").expose().to_vec();
                Pfx { bytes, password }
            })
            .collect()
    })
}

/// The policy of the workload's certificates: issuer Self, an EC key (quick to make).
fn cert_policy_json() -> Value {
    json!({"key_props": {"kty": "EC", "crv": "P-256"}, "x509_props": {"subject": "CN=crash"}})
}

/// `model` with `op` applied; `version` is the version a create, rotate or set made.
fn apply(model: &mut Model, op: &Op, version: Option<&str>) {
    let new_version = || {
        version
            .expect("create, rotate, set and import make a version")
            .to_string()
    };
    match op {
        Op::Create { name, tags } if is_cert(name) => {
            // Key Vault's create answers 202 without the version: it may be unknown.
            let cert = model.entry(name.clone()).or_insert(Key {
                state: State::Live,
                versions: Vec::new(),
            });
            let id = version.unwrap_or_default();
            cert.versions.push(cert_version(id, tags.clone(), true));
        }
        Op::Import { name, tags, .. } => {
            let cert = model.entry(name.clone()).or_insert(Key {
                state: State::Live,
                versions: Vec::new(),
            });
            cert.versions
                .push(cert_version(&new_version(), tags.clone(), true));
        }
        Op::CertUpdate {
            name,
            version,
            tags,
            enabled,
        } => {
            let cert = model.get_mut(name).expect("update of a known certificate");
            if let Some(v) = cert.versions.iter_mut().find(|v| &v.id == version) {
                v.tags = tags.clone();
                v.enabled = Some(*enabled);
            }
        }
        Op::Create { name, tags } => {
            let key = model.entry(name.clone()).or_insert(Key {
                state: State::Live,
                versions: Vec::new(),
            });
            key.versions.push(key_version(&new_version(), tags.clone()));
        }
        Op::Rotate { name } => {
            let key = model.get_mut(name).expect("rotate of a known key");
            let tags = key
                .versions
                .last()
                .map(|v| v.tags.clone())
                .unwrap_or_default();
            key.versions.push(key_version(&new_version(), tags));
        }
        Op::Set { name, tags, value } => {
            let secret = model.entry(name.clone()).or_insert(Key {
                state: State::Live,
                versions: Vec::new(),
            });
            secret.versions.push(Version {
                id: new_version(),
                tags: tags.clone(),
                value: Some(value.clone()),
                enabled: None,
            });
        }
        Op::Tag {
            name,
            version,
            tags,
        } => {
            let key = model.get_mut(name).expect("tag of a known key");
            if let Some(v) = key.versions.iter_mut().find(|v| &v.id == version) {
                v.tags = tags.clone();
            }
        }
        Op::Delete { name } => {
            model.get_mut(name).expect("delete of a known key").state = State::Deleted;
        }
        Op::Recover { name } => {
            model.get_mut(name).expect("recover of a known key").state = State::Live;
        }
        Op::Purge { name } => {
            model.remove(name);
        }
    }
}

/// What a store actually holds for one name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Actual {
    /// Every version; a secret's with the value read back.
    Live(Vec<Version>),
    /// A deleted key or secret, with its current version.
    Deleted(String),
}

/// The differences between what the model says and what the store holds.
fn differences(model: &Model, actual: &BTreeMap<String, Actual>) -> Vec<String> {
    let mut out = Vec::new();
    let names: BTreeSet<&String> = model.keys().chain(actual.keys()).collect();
    for name in names {
        let ok = match (model.get(name), actual.get(name)) {
            (None, None) => true,
            (Some(k), Some(Actual::Live(v))) if k.state == State::Live => {
                same_versions(&k.versions, v)
            }
            (Some(k), Some(Actual::Deleted(current))) if k.state == State::Deleted => k
                .versions
                .last()
                .is_some_and(|v| v.id.is_empty() || &v.id == current),
            _ => false,
        };
        if !ok {
            out.push(format!(
                "{name}: expected {:?}, found {:?}",
                model.get(name),
                actual.get(name)
            ));
        }
    }
    out
}

/// Checks `actual` against `model`, allowing `in_doubt` (an operation whose answer was lost
/// in the crash) to have applied or not, but nothing in between. Returns the model to carry
/// on with and whether the in-doubt operation turned out applied.
fn reconcile(
    model: &Model,
    actual: &BTreeMap<String, Actual>,
    in_doubt: Option<&Op>,
) -> Result<(Model, Option<bool>), String> {
    let not_applied = differences(model, actual);
    if not_applied.is_empty() {
        return Ok((with_ids(model, actual), in_doubt.map(|_| false)));
    }
    let Some(op) = in_doubt else {
        return Err(format!(
            "acknowledged state lost or changed:\n{}",
            not_applied.join("\n")
        ));
    };
    // The operation may have applied: for create, rotate, set and import, its version is
    // the one the store shows after the versions the model knows.
    let makes_version = matches!(
        op,
        Op::Create { .. } | Op::Rotate { .. } | Op::Set { .. } | Op::Import { .. }
    );
    let version = match actual.get(op.name()) {
        Some(Actual::Live(v)) if makes_version => {
            let known = model.get(op.name()).map_or(0, |k| k.versions.len());
            v.get(known).map(|x| x.id.clone())
        }
        _ => None,
    };
    let mut applied = model.clone();
    if !makes_version || version.is_some() {
        apply(&mut applied, op, version.as_deref());
        if differences(&applied, actual).is_empty() {
            return Ok((with_ids(&applied, actual), Some(true)));
        }
    }
    Err(format!(
        "the in-flight operation {op:?} left a state that is neither before nor after it:\n{}",
        not_applied.join("\n")
    ))
}

/// `model` with the ids it did not know (see [`same_versions`]) taken from `actual`, which
/// matches it.
fn with_ids(model: &Model, actual: &BTreeMap<String, Actual>) -> Model {
    let mut model = model.clone();
    for (name, k) in model.iter_mut() {
        if let Some(Actual::Live(versions)) = actual.get(name) {
            for (m, a) in k.versions.iter_mut().zip(versions) {
                if m.id.is_empty() {
                    m.id = a.id.clone();
                }
            }
        }
    }
    model
}

// --- the server variant -----------------------------------------------------------------------

/// How a request ended: acknowledged (with the version it made), or lost with the server.
enum Outcome {
    Acked(Option<String>),
    Lost,
}

struct Rest<'a> {
    server: &'a Server,
    client: reqwest::blocking::Client,
}

impl Rest<'_> {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Value), String> {
        http(&self.client, method, &self.server.url(path), body.as_ref()).map_err(|e| {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(inner) = src {
                s.push_str(&format!(": {inner}"));
                src = inner.source();
            }
            s
        })
    }

    fn perform(&self, op: &Op) -> Outcome {
        if is_secret(op.name()) {
            return self.perform_secret(op);
        }
        if is_cert(op.name()) {
            return self.perform_cert(op);
        }
        let (method, path, body) = match op {
            Op::Create { name, tags } => {
                let body = if name.starts_with("ec-") {
                    json!({"kty": "EC-HSM", "crv": "P-256", "tags": tags})
                } else {
                    json!({"kty": "oct-HSM", "key_size": 256, "tags": tags})
                };
                ("POST", format!("/keys/{name}/create"), Some(body))
            }
            Op::Rotate { name } => ("POST", format!("/keys/{name}/rotate"), None),
            Op::Tag {
                name,
                version,
                tags,
            } => (
                "PATCH",
                format!("/keys/{name}/{version}"),
                Some(json!({ "tags": tags })),
            ),
            Op::Delete { name } => ("DELETE", format!("/keys/{name}"), None),
            Op::Recover { name } => ("POST", format!("/deletedkeys/{name}/recover"), None),
            Op::Purge { name } => ("DELETE", format!("/deletedkeys/{name}"), None),
            Op::Set { .. } => unreachable!("a set is a secret's"),
            Op::Import { .. } | Op::CertUpdate { .. } => unreachable!("a certificate's"),
        };
        match self.call(method, &path, body) {
            Ok((status, body)) if (200..300).contains(&status) => {
                let version = body
                    .pointer("/key/kid")
                    .and_then(Value::as_str)
                    .map(kid_version);
                Outcome::Acked(match op {
                    Op::Create { .. } | Op::Rotate { .. } => version,
                    _ => None,
                })
            }
            Ok((status, body)) => {
                panic!("{op:?} was refused with {status} {body}: the model and the store disagree")
            }
            Err(_) => Outcome::Lost,
        }
    }

    /// [`Rest::perform`] for a secret.
    fn perform_secret(&self, op: &Op) -> Outcome {
        let (method, path, body) = match op {
            Op::Set { name, tags, value } => (
                "PUT",
                format!("/secrets/{name}"),
                Some(json!({"value": value, "tags": tags})),
            ),
            Op::Tag {
                name,
                version,
                tags,
            } => (
                "PATCH",
                format!("/secrets/{name}/{version}"),
                Some(json!({ "tags": tags })),
            ),
            Op::Delete { name } => ("DELETE", format!("/secrets/{name}"), None),
            Op::Recover { name } => ("POST", format!("/deletedsecrets/{name}/recover"), None),
            Op::Purge { name } => ("DELETE", format!("/deletedsecrets/{name}"), None),
            Op::Create { .. } | Op::Rotate { .. } => unreachable!("create and rotate are a key's"),
            Op::Import { .. } | Op::CertUpdate { .. } => unreachable!("a certificate's"),
        };
        match self.call(method, &path, body) {
            Ok((status, body)) if (200..300).contains(&status) => Outcome::Acked(match op {
                Op::Set { value, .. } => {
                    assert_eq!(
                        body["value"].as_str(),
                        Some(value.as_str()),
                        "a set answers with the value set"
                    );
                    body["id"].as_str().map(kid_version)
                }
                _ => None,
            }),
            Ok((status, body)) => {
                panic!("{op:?} was refused with {status} {body}: the model and the store disagree")
            }
            Err(_) => Outcome::Lost,
        }
    }

    /// [`Rest::perform`] for a certificate.
    fn perform_cert(&self, op: &Op) -> Outcome {
        let (method, path, body) = match op {
            Op::Create { name, tags } => (
                "POST",
                format!("/certificates/{name}/create"),
                Some(json!({"policy": cert_policy_json(), "tags": tags})),
            ),
            Op::Import { name, tags, pfx } => {
                let p = &pfx_pool()[*pfx];
                let value = base64::engine::general_purpose::STANDARD.encode(&p.bytes);
                (
                    "POST",
                    format!("/certificates/{name}/import"),
                    Some(json!({"value": value, "pwd": p.password, "tags": tags})),
                )
            }
            Op::CertUpdate {
                name,
                version,
                tags,
                enabled,
            } => (
                "PATCH",
                format!("/certificates/{name}/{version}"),
                Some(json!({"tags": tags, "attributes": {"enabled": enabled}})),
            ),
            Op::Delete { name } => ("DELETE", format!("/certificates/{name}"), None),
            Op::Recover { name } => ("POST", format!("/deletedcertificates/{name}/recover"), None),
            Op::Purge { name } => ("DELETE", format!("/deletedcertificates/{name}"), None),
            Op::Rotate { .. } | Op::Set { .. } | Op::Tag { .. } => {
                unreachable!("not a certificate's")
            }
        };
        match self.call(method, &path, body) {
            Ok((status, body)) if (200..300).contains(&status) => Outcome::Acked(match op {
                // The 202 names no version; the certificate does. If the server dies before
                // it answers, the create stands acknowledged with its version unknown.
                Op::Create { name, .. } => {
                    match self.call("GET", &format!("/certificates/{name}"), None) {
                        Ok((200, b)) => b["id"].as_str().map(kid_version),
                        _ => None,
                    }
                }
                Op::Import { .. } => body["id"].as_str().map(kid_version),
                _ => None,
            }),
            Ok((status, body)) => {
                panic!("{op:?} was refused with {status} {body}: the model and the store disagree")
            }
            Err(_) => Outcome::Lost,
        }
    }

    /// Every page of a listing.
    fn list(&self, path: &str) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        let (status, mut page) = self.call("GET", path, None)?;
        if status != 200 {
            return Err(format!("GET {path}: {status} {page}"));
        }
        loop {
            out.extend(page["value"].as_array().cloned().unwrap_or_default());
            let Some(next) = page["nextLink"].as_str().map(str::to_string) else {
                break;
            };
            let (status, body) =
                http(&self.client, "GET", &next, None).map_err(|e| e.to_string())?;
            if status != 200 {
                return Err(format!("GET {next}: {status} {body}"));
            }
            page = body;
        }
        Ok(out)
    }

    /// What the server holds, with every live version's material exercised.
    fn snapshot(&self) -> Result<BTreeMap<String, Actual>, String> {
        let tags = |item: &Value| -> Tags {
            item["tags"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut actual = BTreeMap::new();
        // A certificate's key and secret versions, as their own listings show them: (id,
        // enabled, managed).
        let mut owned_keys: BTreeMap<String, Vec<(String, bool, bool)>> = BTreeMap::new();
        let mut owned_secrets: BTreeMap<String, Vec<(String, bool, bool)>> = BTreeMap::new();
        let owned = |v: &Value, id: &str| {
            (
                kid_version(v[id].as_str().unwrap_or_default()),
                v["attributes"]["enabled"].as_bool().unwrap_or(false),
                v["managed"].as_bool().unwrap_or(false),
            )
        };
        for item in self.list("/keys")? {
            let name = kid_version(item["kid"].as_str().unwrap_or_default());
            if is_cert(&name) {
                let versions = self.list(&format!("/keys/{name}/versions"))?;
                owned_keys.insert(name, versions.iter().map(|v| owned(v, "kid")).collect());
                continue;
            }
            let versions: Vec<Version> = self
                .list(&format!("/keys/{name}/versions"))?
                .iter()
                .map(|v| key_version(&kid_version(v["kid"].as_str().unwrap_or_default()), tags(v)))
                .collect();
            for v in &versions {
                self.use_material(&name, &v.id)?;
            }
            actual.insert(name, Actual::Live(versions));
        }
        for item in self.list("/secrets")? {
            let name = kid_version(item["id"].as_str().unwrap_or_default());
            if is_cert(&name) {
                let versions = self.list(&format!("/secrets/{name}/versions"))?;
                owned_secrets.insert(name, versions.iter().map(|v| owned(v, "id")).collect());
                continue;
            }
            let mut versions = Vec::new();
            for v in self.list(&format!("/secrets/{name}/versions"))? {
                let id = kid_version(v["id"].as_str().unwrap_or_default());
                if v.get("value").is_some() {
                    return Err(format!("{name}/{id}: a version listing carries the value"));
                }
                let (status, body) = self.call("GET", &format!("/secrets/{name}/{id}"), None)?;
                if status != 200 {
                    return Err(format!("{name}/{id}: get answered {status} {body}"));
                }
                versions.push(Version {
                    value: body["value"].as_str().map(str::to_string),
                    tags: tags(&v),
                    enabled: None,
                    id,
                });
            }
            if actual
                .insert(name.clone(), Actual::Live(versions))
                .is_some()
            {
                return Err(format!("{name} is both a key and a secret"));
            }
        }
        // Certificates: every version whole, with its key and secret of the same version
        // (and no key or secret of a certificate's name without it).
        for item in self.list("/certificates")? {
            let name = kid_version(item["id"].as_str().unwrap_or_default());
            let mut versions = Vec::new();
            for v in self.list(&format!("/certificates/{name}/versions"))? {
                let id = kid_version(v["id"].as_str().unwrap_or_default());
                let enabled = v["attributes"]["enabled"].as_bool().unwrap_or(false);
                self.check_cert_version(&name, &id, enabled)?;
                versions.push(cert_version(&id, tags(&v), enabled));
            }
            let expect: Vec<(String, bool, bool)> = versions
                .iter()
                .map(|v| (v.id.clone(), v.enabled == Some(true), true))
                .collect();
            for (what, listed) in [
                ("key", owned_keys.remove(&name)),
                ("secret", owned_secrets.remove(&name)),
            ] {
                if listed.as_ref() != Some(&expect) {
                    return Err(format!(
                        "certificate {name} has versions (id, enabled, managed) {expect:?}, its {what} {listed:?}"
                    ));
                }
            }
            actual.insert(name, Actual::Live(versions));
        }
        if let Some((name, _)) = owned_keys.iter().chain(&owned_secrets).next() {
            return Err(format!("a key or secret {name} without its certificate"));
        }
        for item in self.list("/deletedcertificates")? {
            let name = kid_version(item["id"].as_str().unwrap_or_default());
            let (status, body) = self.call("GET", &format!("/deletedcertificates/{name}"), None)?;
            if status != 200 {
                return Err(format!(
                    "deleted certificate {name} is listed but not readable: {status} {body}"
                ));
            }
            let current = kid_version(body["id"].as_str().unwrap_or_default());
            for what in ["certificates", "keys", "secrets"] {
                let (status, _) = self.call("GET", &format!("/{what}/{name}"), None)?;
                if status != 404 {
                    return Err(format!(
                        "certificate {name} is deleted but GET /{what}/{name} answers {status}: half-moved"
                    ));
                }
            }
            if actual.contains_key(&name) {
                return Err(format!("certificate {name} is both deleted and live"));
            }
            actual.insert(name, Actual::Deleted(current));
        }
        // A certificate name nothing holds has no key or secret left, live or deleted.
        for name in NAMES
            .iter()
            .filter(|n| is_cert(n) && !actual.contains_key(**n))
        {
            for what in [
                "keys",
                "secrets",
                "deletedkeys",
                "deletedsecrets",
                "deletedcertificates",
            ] {
                let (status, body) = self.call("GET", &format!("/{what}/{name}"), None)?;
                if status != 404 {
                    return Err(format!(
                        "no certificate {name}, but GET /{what}/{name} answers {status} {body}"
                    ));
                }
            }
        }
        for item in self.list("/deletedkeys")? {
            let name = kid_version(item["kid"].as_str().unwrap_or_default());
            if is_cert(&name) {
                return Err(format!("the deleted keys list a certificate's key {name}"));
            }
            let (status, body) = self.call("GET", &format!("/deletedkeys/{name}"), None)?;
            if status != 200 {
                return Err(format!(
                    "deleted key {name} is listed but not readable: {status} {body}"
                ));
            }
            let current = kid_version(
                body.pointer("/key/kid")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            );
            let (status, _) = self.call("GET", &format!("/keys/{name}"), None)?;
            if status != 404 || actual.contains_key(&name) {
                return Err(format!("{name} is both deleted and live: half-moved"));
            }
            actual.insert(name, Actual::Deleted(current));
        }
        for item in self.list("/deletedsecrets")? {
            let name = kid_version(item["id"].as_str().unwrap_or_default());
            if is_cert(&name) {
                return Err(format!(
                    "the deleted secrets list a certificate's secret {name}"
                ));
            }
            let (status, body) = self.call("GET", &format!("/deletedsecrets/{name}"), None)?;
            if status != 200 || body.get("value").is_some() {
                return Err(format!(
                    "deleted secret {name} is listed but not readable without its value: {status} {body}"
                ));
            }
            let current = kid_version(body["id"].as_str().unwrap_or_default());
            let (status, _) = self.call("GET", &format!("/secrets/{name}"), None)?;
            if status != 404 || actual.contains_key(&name) {
                return Err(format!(
                    "secret {name} is both deleted and live: half-moved"
                ));
            }
            actual.insert(name, Actual::Deleted(current));
        }
        Ok(actual)
    }

    /// Checks one certificate version through REST: its certificate, its key of the same
    /// version (managed, enabled as the certificate, holding the certificate's public key,
    /// signing when enabled) and its secret of the same version (managed; when enabled, a PFX
    /// of this certificate and a key that matches it; when disabled, refused).
    fn check_cert_version(&self, name: &str, id: &str, enabled: bool) -> Result<(), String> {
        let at = format!("{name}/{id}");
        let (status, cert) = self.call("GET", &format!("/certificates/{name}/{id}"), None)?;
        if status != 200 {
            return Err(format!("certificate {at}: {status} {cert}"));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(cert["cer"].as_str().unwrap_or_default())
            .map_err(|e| format!("certificate {at}: cer: {e}"))?;
        let parsed = x509::parse_certificate(&der).map_err(|e| format!("{at}: {e}"))?;
        let (status, key) = self.call("GET", &format!("/keys/{name}/{id}"), None)?;
        if status != 200 {
            return Err(format!("certificate {at} without its key: {status} {key}"));
        }
        let x = key["key"]["x"].as_str().unwrap_or_default();
        let want_x = parsed
            .public
            .x
            .as_ref()
            .map(|x| b64url_encode(&x.0))
            .unwrap_or_default();
        if key["managed"] != true || key["attributes"]["enabled"] != enabled || x != want_x {
            return Err(format!("certificate {at}: its key is not its own: {key}"));
        }
        let (status, secret) = self.call("GET", &format!("/secrets/{name}/{id}"), None)?;
        match (enabled, status) {
            (true, 200) => {
                let pfx = base64::engine::general_purpose::STANDARD
                    .decode(secret["value"].as_str().unwrap_or_default())
                    .map_err(|e| format!("certificate {at}: secret: {e}"))?;
                let (k, chain) = CertificateKey::from_pfx(&pfx, None)
                    .map_err(|e| format!("certificate {at}: secret: {e}"))?;
                if chain.first() != Some(&der) || !k.matches(&der).unwrap_or(false) {
                    return Err(format!(
                        "certificate {at}: its secret holds another certificate or key"
                    ));
                }
                if secret["managed"] != true {
                    return Err(format!("certificate {at}: its secret is not managed"));
                }
                let d = b64url_encode(&[7; 32]);
                let (status, body) = self.call(
                    "POST",
                    &format!("/keys/{name}/{id}/sign"),
                    Some(json!({"alg": "ES256", "value": d})),
                )?;
                if status != 200 {
                    return Err(format!(
                        "certificate {at}: its key does not sign: {status} {body}"
                    ));
                }
            }
            (false, 403) => {}
            _ => {
                return Err(format!(
                    "certificate {at} (enabled {enabled}) without its secret: {status} {secret}"
                ))
            }
        }
        Ok(())
    }

    fn use_material(&self, name: &str, version: &str) -> Result<(), String> {
        let (op, body) = if name.starts_with("ec-") {
            (
                "sign",
                json!({"alg": "ES256", "value": b64url_encode(&[7; 32])}),
            )
        } else {
            (
                "wrapkey",
                json!({"alg": "A256KW", "value": b64url_encode(&[7; 32])}),
            )
        };
        let (status, resp) =
            self.call("POST", &format!("/keys/{name}/{version}/{op}"), Some(body))?;
        if status != 200 {
            return Err(format!("{name}/{version}: {op} answered {status} {resp}"));
        }
        Ok(())
    }
}

fn start(dir: &Path, log: &Path) -> Server {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("server log");
    Server::start(dir, &[], stderr.into()).unwrap_or_else(|e| {
        panic!(
            "the server does not start on the crashed store: {e}\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        )
    })
}

#[derive(Default, Debug)]
struct Stats {
    kills: usize,
    acked: usize,
    /// Of `acked`, the operations on secrets.
    acked_secrets: usize,
    /// Of `acked`, the operations on certificates, by kind.
    acked_certs: BTreeMap<&'static str, usize>,
    in_flight_applied: usize,
    in_flight_not_applied: usize,
    /// Of the operations in flight at a kill, those on certificates.
    in_flight_certs: usize,
}

impl Stats {
    /// Counts an acknowledged operation.
    fn ack(&mut self, op: &Op) {
        self.acked += 1;
        if is_secret(op.name()) {
            self.acked_secrets += 1;
        }
        if is_cert(op.name()) {
            let kind = match op {
                Op::Create { .. } => "create",
                Op::Import { .. } => "import",
                Op::CertUpdate { .. } => "update",
                Op::Delete { .. } => "delete",
                Op::Recover { .. } => "recover",
                Op::Purge { .. } => "purge",
                _ => "other",
            };
            *self.acked_certs.entry(kind).or_default() += 1;
        }
    }

    /// Counts an operation that was in flight at a kill.
    fn in_flight(&mut self, op: Option<&Op>) {
        if op.is_some_and(|op| is_cert(op.name())) {
            self.in_flight_certs += 1;
        }
    }

    /// The model to carry on with after a [`reconcile`], counting whether the operation in
    /// doubt had applied.
    fn count_in_doubt(&mut self, (model, applied): (Model, Option<bool>)) -> Model {
        match applied {
            Some(true) => self.in_flight_applied += 1,
            Some(false) => self.in_flight_not_applied += 1,
            None => {}
        }
        model
    }

    /// The end of a run: the store, opened after the last kill, holds what `model` says down
    /// to the material of every version (see [`deep_check`]), and enough operations ran to
    /// mean anything.
    fn finish(&self, variant: &str, seed: u64, store: &Store, model: &Model, started: Instant) {
        deep_check(store, model).unwrap_or_else(|e| panic!("seed {seed}, final check: {e}"));
        println!(
            "crash ({variant}): {} kills survived, {} acknowledged operations ({} on secrets, on certificates {:?}), in flight at a kill: {} applied, {} not ({} on certificates), {:.1?}",
            self.kills, self.acked, self.acked_secrets, self.acked_certs, self.in_flight_applied, self.in_flight_not_applied, self.in_flight_certs, started.elapsed()
        );
        assert!(
            self.acked > self.kills,
            "too few operations ran to mean anything"
        );
        assert!(
            self.acked_secrets > 0 && self.acked_secrets < self.acked,
            "the workload must interleave key and secret writes"
        );
        let certs: usize = self.acked_certs.values().sum();
        assert!(
            certs > 0 && certs + self.acked_secrets < self.acked,
            "the workload must interleave certificate writes with the others"
        );
    }
}

#[test]
fn server_survives_sigkill_without_losing_acknowledged_writes() {
    let seed = seed_from_env("LOCALHSM_CRASH_SEED");
    let kills = usize_from_env("LOCALHSM_CRASH_KILLS", 20);
    println!("crash (server): seed {seed} (LOCALHSM_CRASH_SEED={seed} to replay), {kills} kills");
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    let log = tmp.path().join("server.log");
    let mut model = Model::new();
    let mut in_doubt: Option<Op> = None;
    let mut stats = Stats::default();
    let started = Instant::now();
    for round in 0..=kills {
        let mut server = start(&dir, &log);
        let rest = Rest {
            server: &server,
            client: server.client(),
        };
        let actual = rest
            .snapshot()
            .unwrap_or_else(|e| panic!("seed {seed}, after kill {round}: {e}"));
        stats.in_flight(in_doubt.as_ref());
        let reconciled = reconcile(&model, &actual, in_doubt.as_ref())
            .unwrap_or_else(|e| panic!("seed {seed}, after kill {round}: {e}"));
        model = stats.count_in_doubt(reconciled);
        if round == kills {
            drop(rest);
            server.stop();
            break;
        }
        // Kill at a random moment while the workload runs: usually mid-request.
        let delay = Duration::from_micros(rng.below(250_000) + 1_000);
        let pid = server.child.id();
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        });
        loop {
            let op = choose(&model, &mut rng);
            match rest.perform(&op) {
                Outcome::Acked(version) => {
                    apply(&mut model, &op, version.as_deref());
                    stats.ack(&op);
                }
                Outcome::Lost => {
                    in_doubt = Some(op);
                    break;
                }
            }
        }
        killer.join().expect("killer thread");
        server.kill();
        stats.kills += 1;
    }
    // The deepest check, through the library: every deleted key comes back with exactly its
    // versions, and every version's material opens.
    let store = Opener::source(|| MasterKeySource::KeyFile)
        .try_open(&dir)
        .expect("the store opens as it is");
    stats.finish("server", seed, &store, &model, started);
}

// --- the library variant ----------------------------------------------------------------------

fn lib_snapshot(vault: &Vault) -> Result<BTreeMap<String, Actual>, String> {
    let e = |e: localhsm::Error| e.to_string();
    let mut actual = BTreeMap::new();
    // A certificate's key and secret versions as their own listings show them: (id,
    // enabled, managed).
    let mut owned_keys: BTreeMap<String, Vec<(String, bool, bool)>> = BTreeMap::new();
    let mut owned_secrets: BTreeMap<String, Vec<(String, bool, bool)>> = BTreeMap::new();
    for k in all_pages(|next| vault.list_keys(25, next)).map_err(e)? {
        let versions = vault.list_versions(&k.name, 25, None).map_err(e)?;
        if versions.next.is_some() {
            return Err(format!("{} has more than 25 versions", k.name));
        }
        if is_cert(&k.name) {
            let listed = versions.items.iter();
            let listed = listed.map(|b| (b.version.clone(), b.attributes.enabled, b.managed));
            owned_keys.insert(k.name.clone(), listed.collect());
            continue;
        }
        let versions: Vec<Version> = versions
            .items
            .iter()
            .map(|b| key_version(&b.version, b.tags.clone()))
            .collect();
        for v in &versions {
            lib_use_material(vault, &k.name, &v.id)?;
        }
        actual.insert(k.name.clone(), Actual::Live(versions));
    }
    for s in all_pages(|next| vault.list_secrets(25, next)).map_err(e)? {
        if is_cert(&s.name) {
            let listed = all_pages(|next| vault.list_secret_versions(&s.name, 2, next));
            let listed = listed.map_err(e)?.into_iter();
            let listed = listed.map(|b| (b.version, b.attributes.enabled, b.managed));
            owned_secrets.insert(s.name.clone(), listed.collect());
            continue;
        }
        let mut versions = Vec::new();
        for b in all_pages(|next| vault.list_secret_versions(&s.name, 2, next)).map_err(e)? {
            let got = vault
                .get_secret(&s.name, Some(&b.version))
                .map_err(|err| format!("{}/{}: value unreadable: {err}", s.name, b.version))?;
            versions.push(Version {
                id: b.version.clone(),
                tags: b.tags.clone(),
                value: got.value.map(|v| v.expose().to_string()),
                enabled: None,
            });
        }
        if actual
            .insert(s.name.clone(), Actual::Live(versions))
            .is_some()
        {
            return Err(format!("{} is both a key and a secret", s.name));
        }
    }
    // Certificates: every version whole, with its key and secret of the same version (and
    // no key or secret of a certificate's name without it).
    for c in all_pages(|next| vault.list_certificates(25, next, true)).map_err(e)? {
        let mut versions = Vec::new();
        for b in all_pages(|next| vault.list_certificate_versions(&c.name, 2, next)).map_err(e)? {
            lib_check_cert_version(vault, &c.name, &b.version, b.attributes.enabled)?;
            versions.push(cert_version(
                &b.version,
                b.tags.clone(),
                b.attributes.enabled,
            ));
        }
        let expect: Vec<(String, bool, bool)> = versions
            .iter()
            .map(|v| (v.id.clone(), v.enabled == Some(true), true))
            .collect();
        for (what, listed) in [
            ("key", owned_keys.remove(&c.name)),
            ("secret", owned_secrets.remove(&c.name)),
        ] {
            if listed.as_ref() != Some(&expect) {
                return Err(format!(
                    "certificate {} has versions (id, enabled, managed) {expect:?}, its {what} {listed:?}",
                    c.name
                ));
            }
        }
        actual.insert(c.name.clone(), Actual::Live(versions));
    }
    if let Some((name, _)) = owned_keys.iter().chain(&owned_secrets).next() {
        return Err(format!("a key or secret {name} without its certificate"));
    }
    for d in all_pages(|next| vault.list_deleted_certificates(25, next)).map_err(e)? {
        let name = d.certificate.name.clone();
        let live = [
            outcome(&vault.get_certificate(&name, None)),
            outcome(&vault.get_key(&name, None)),
            outcome(&vault.get_secret(&name, None)),
        ];
        if live != ["CertificateNotFound", "KeyNotFound", "SecretNotFound"]
            || actual.contains_key(&name)
        {
            return Err(format!(
                "certificate {name} is deleted, yet {live:?}: half-moved"
            ));
        }
        actual.insert(name, Actual::Deleted(d.certificate.version));
    }
    // A certificate name nothing holds has no key or secret left, live or deleted.
    for name in NAMES
        .iter()
        .filter(|n| is_cert(n) && !actual.contains_key(**n))
    {
        let left = [
            outcome(&vault.get_key(name, None)),
            outcome(&vault.get_secret(name, None)),
            outcome(&vault.get_deleted_key(name)),
            outcome(&vault.get_deleted_secret(name)),
            outcome(&vault.get_deleted_certificate(name)),
        ];
        let none = [
            "KeyNotFound",
            "SecretNotFound",
            "DeletedKeyNotFound",
            "DeletedSecretNotFound",
            "DeletedCertificateNotFound",
        ];
        if left != none {
            return Err(format!("no certificate {name}, but {left:?}"));
        }
    }
    let deleted = vault.list_deleted_keys(25, None).map_err(e)?;
    for d in &deleted.items {
        if is_cert(&d.key.name) {
            return Err(format!(
                "the deleted keys list a certificate's key {}",
                d.key.name
            ));
        }
        if actual.contains_key(&d.key.name) {
            return Err(format!(
                "{} is both deleted and live: half-moved",
                d.key.name
            ));
        }
        actual.insert(d.key.name.clone(), Actual::Deleted(d.key.version.clone()));
    }
    for d in all_pages(|next| vault.list_deleted_secrets(25, next)).map_err(e)? {
        if is_cert(&d.secret.name) {
            return Err(format!(
                "the deleted secrets list a certificate's secret {}",
                d.secret.name
            ));
        }
        if actual.contains_key(&d.secret.name) {
            return Err(format!(
                "secret {} is both deleted and live: half-moved",
                d.secret.name
            ));
        }
        actual.insert(d.secret.name.clone(), Actual::Deleted(d.secret.version));
    }
    Ok(actual)
}

/// [`Rest::check_cert_version`] through the library.
fn lib_check_cert_version(
    vault: &Vault,
    name: &str,
    id: &str,
    enabled: bool,
) -> Result<(), String> {
    let at = format!("{name}/{id}");
    let err = |what: &'static str| {
        let at = at.clone();
        move |e: localhsm::Error| format!("certificate {at}: {what}: {e}")
    };
    let cert = vault.get_certificate(name, Some(id)).map_err(err("get"))?;
    let der = cert
        .cer
        .ok_or_else(|| format!("certificate {name}/{id} is not issued"))?;
    let parsed = x509::parse_certificate(&der).map_err(err("parse"))?;
    let key = vault
        .get_key(name, Some(id))
        .map_err(err("without its key"))?;
    if !key.managed || key.attributes.enabled != enabled || key.key.x != parsed.public.x {
        return Err(format!(
            "certificate {name}/{id}: its key is not its own: {key:?}"
        ));
    }
    let props = vault
        .get_secret_properties(name, Some(id))
        .map_err(err("without its secret"))?;
    if !props.managed || props.attributes.enabled != enabled {
        return Err(format!(
            "certificate {name}/{id}: its secret is not its own"
        ));
    }
    match vault.get_secret(name, Some(id)) {
        Ok(s) if enabled => {
            let value = s
                .value
                .ok_or_else(|| format!("certificate {name}/{id}: no value"))?;
            let pfx = base64::engine::general_purpose::STANDARD
                .decode(value.expose())
                .map_err(|e| format!("certificate {name}/{id}: secret: {e}"))?;
            let (k, chain) = CertificateKey::from_pfx(&pfx, None).map_err(err("secret"))?;
            if chain.first() != Some(&der) || !k.matches(&der).unwrap_or(false) {
                return Err(format!(
                    "certificate {name}/{id}: its secret holds another certificate or key"
                ));
            }
            vault
                .key(name, Some(id))
                .and_then(|h| h.sign(localhsm::crypto::SignatureAlgorithm::ES256, &[7; 32]))
                .map_err(err("its key does not sign"))?;
        }
        Err(e) if !enabled && support::error_name(&e) == "SecretDisabled" => {}
        other => {
            return Err(format!(
                "certificate {name}/{id} (enabled {enabled}): secret read gave {}",
                outcome(&other)
            ))
        }
    }
    Ok(())
}

fn lib_use_material(vault: &Vault, name: &str, version: &str) -> Result<(), String> {
    let h = vault
        .key(name, Some(version))
        .map_err(|e| format!("{name}/{version}: {e}"))?;
    exercise_key(&h, &[7; 32])
        .map(drop)
        .map_err(|e| format!("{name}/{version}: material unusable: {e}"))
}

/// Recovers every deleted key, secret and certificate and checks that each comes back with
/// exactly the model's versions, all usable (every secret value as set, every certificate
/// with its key and secret); then checks the whole model.
fn deep_check(store: &Store, model: &Model) -> Result<(), String> {
    localhsm::server::ensure_default_vault(store).map_err(|e| e.to_string())?;
    let vault = store.vault("default").map_err(|e| e.to_string())?;
    let actual = lib_snapshot(&vault)?;
    let (mut model, _) = reconcile(model, &actual, None)?;
    for (name, key) in model.iter_mut() {
        if key.state == State::Deleted {
            if is_secret(name) {
                vault.recover_deleted_secret(name).map(drop)
            } else if is_cert(name) {
                vault.recover_deleted_certificate(name).map(drop)
            } else {
                vault.recover_deleted_key(name).map(drop)
            }
            .map_err(|e| format!("recover {name}: {e}"))?;
            key.state = State::Live;
        }
    }
    let actual = lib_snapshot(&vault)?;
    reconcile(&model, &actual, None).map(drop)
}

fn lib_perform(vault: &Vault, op: &Op) -> localhsm::Result<Option<String>> {
    if is_secret(op.name()) {
        return lib_perform_secret(vault, op);
    }
    if is_cert(op.name()) {
        return lib_perform_cert(vault, op);
    }
    Ok(match op {
        Op::Create { name, tags } => {
            let (kty, spec) = test_key_spec(name);
            let options = KeyOptions {
                tags: tags.clone(),
                ..KeyOptions::default()
            };
            Some(vault.create_key(name, kty, spec, options)?.version)
        }
        Op::Rotate { name } => Some(vault.rotate_key(name)?.version),
        Op::Tag {
            name,
            version,
            tags,
        } => {
            let update = KeyUpdate {
                tags: Some(tags.clone()),
                ..KeyUpdate::default()
            };
            vault.update_key(name, Some(version), update)?;
            None
        }
        Op::Delete { name } => {
            vault.delete_key(name)?;
            None
        }
        Op::Recover { name } => {
            vault.recover_deleted_key(name)?;
            None
        }
        Op::Purge { name } => {
            vault.purge_deleted_key(name)?;
            None
        }
        Op::Set { .. } => unreachable!("a set is a secret's"),
        Op::Import { .. } | Op::CertUpdate { .. } => unreachable!("a certificate's"),
    })
}

/// [`lib_perform`] for a certificate.
fn lib_perform_cert(vault: &Vault, op: &Op) -> localhsm::Result<Option<String>> {
    let options = |tags: &Tags| CertificateOptions {
        enabled: None,
        tags: tags.clone(),
    };
    Ok(match op {
        Op::Create { name, tags } => {
            let policy: CertificatePolicy =
                serde_json::from_value(cert_policy_json()).expect("policy");
            vault.create_certificate(name, policy, options(tags))?;
            Some(vault.get_certificate(name, None)?.version)
        }
        Op::Import { name, tags, pfx } => {
            let p = &pfx_pool()[*pfx];
            let b = vault.import_certificate(
                name,
                SecretBytes::from_slice(&p.bytes),
                p.password.map(SecretString::from),
                None,
                options(tags),
            )?;
            Some(b.version)
        }
        Op::CertUpdate {
            name,
            version,
            tags,
            enabled,
        } => {
            let update = CertificateUpdate {
                enabled: Some(*enabled),
                tags: Some(tags.clone()),
                policy: None,
            };
            vault.update_certificate(name, Some(version), update)?;
            None
        }
        Op::Delete { name } => {
            vault.delete_certificate(name)?;
            None
        }
        Op::Recover { name } => {
            vault.recover_deleted_certificate(name)?;
            None
        }
        Op::Purge { name } => {
            vault.purge_deleted_certificate(name)?;
            None
        }
        Op::Rotate { .. } | Op::Set { .. } | Op::Tag { .. } => unreachable!("not a certificate's"),
    })
}

/// [`lib_perform`] for a secret.
fn lib_perform_secret(vault: &Vault, op: &Op) -> localhsm::Result<Option<String>> {
    Ok(match op {
        Op::Set { name, tags, value } => {
            let options = SecretOptions {
                tags: tags.clone(),
                ..SecretOptions::default()
            };
            let b = vault.set_secret(name, SecretString::from(value.as_str()), options)?;
            assert!(
                b.value.is_some_and(|v| v.expose() == value),
                "a set answers with the value set"
            );
            Some(b.version)
        }
        Op::Tag {
            name,
            version,
            tags,
        } => {
            let update = SecretUpdate {
                tags: Some(tags.clone()),
                ..SecretUpdate::default()
            };
            vault.update_secret(name, Some(version), update)?;
            None
        }
        Op::Delete { name } => {
            vault.delete_secret(name)?;
            None
        }
        Op::Recover { name } => {
            vault.recover_deleted_secret(name)?;
            None
        }
        Op::Purge { name } => {
            vault.purge_deleted_secret(name)?;
            None
        }
        Op::Create { .. } | Op::Rotate { .. } => unreachable!("create and rotate are a key's"),
        Op::Import { .. } | Op::CertUpdate { .. } => unreachable!("a certificate's"),
    })
}

fn open_lib(dir: &Path) -> localhsm::Result<Store> {
    Opener::new().try_open(dir)
}

/// Not a test on its own: with `LOCALHSM_CRASH_CHILD_DIR` set (by the library variant
/// below), this is the child that writes through the library until it is killed, printing
/// `@@begin` before and `@@ack` after every operation.
#[test]
fn crash_child_library_writer() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let seed: u64 = std::env::var("LOCALHSM_CRASH_CHILD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("child seed");
    let mut model: Model =
        serde_json::from_slice(&std::fs::read(dir.join("model.json")).expect("model file"))
            .expect("model JSON");
    let store = open_lib(&dir.join("data")).expect("child opens the store");
    localhsm::server::ensure_default_vault(&store).expect("default vault");
    let vault = store.vault("default").expect("default vault");
    let mut rng = Rng::new(seed);
    println!("@@ready");
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let op = choose(&model, &mut rng);
        println!("@@begin {}", serde_json::to_string(&op).expect("op JSON"));
        let version = lib_perform(&vault, &op)
            .unwrap_or_else(|e| panic!("{op:?} failed: {e}: the model and the store disagree"));
        println!(
            "@@ack {}",
            serde_json::to_string(&(&op, &version)).expect("ack JSON")
        );
        apply(&mut model, &op, version.as_deref());
    }
}

#[test]
fn library_survives_sigkill_of_a_writing_process() {
    let seed = seed_from_env("LOCALHSM_CRASH_SEED").wrapping_add(1);
    let kills = usize_from_env("LOCALHSM_CRASH_KILLS", 20);
    println!("crash (library): seed {seed}, {kills} kills");
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut model = Model::new();
    let mut stats = Stats::default();
    let started = Instant::now();
    let exe = std::env::current_exe().expect("test binary");
    for round in 0..kills {
        std::fs::write(
            tmp.path().join("model.json"),
            serde_json::to_vec(&model).expect("model JSON"),
        )
        .expect("model file");
        let mut child = Command::new(&exe)
            .args([
                "crash_child_library_writer",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, tmp.path())
            .env("LOCALHSM_CRASH_CHILD_SEED", rng.next_u64().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the writer");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Usually wait until it writes, then kill it at a random moment; now and then kill
        // it while it is still opening the store.
        let mut lines = Vec::new();
        if rng.chance(80) {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !lines.iter().any(|l: &String| l.ends_with("@@ready")) {
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(l) => lines.push(l),
                    Err(_)
                        if Instant::now() < deadline
                            && child.try_wait().ok().flatten().is_none() => {}
                    Err(_) => {
                        let _ = child.kill();
                        let out = child.wait_with_output().expect("writer output");
                        panic!(
                            "the writer never started: {}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_micros(rng.below(200_000) + 500));
        let _ = child.kill();
        let status = child.wait().expect("reap the writer");
        reader.join().expect("reader thread");
        lines.extend(rx.try_iter());
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        assert!(
            !status.success() && !stderr.contains("panicked"),
            "the writer must die by the kill, not by itself: {status}\n{stderr}"
        );
        stats.kills += 1;
        // Replay the acknowledgements; an operation begun and not acknowledged is in doubt.
        let mut in_doubt = None;
        // libtest may print its own text before ours on a line: ours starts at `@@`.
        for line in lines.iter().filter_map(|l| l.find("@@").map(|i| &l[i..])) {
            if let Some(op) = line.strip_prefix("@@begin ") {
                in_doubt = serde_json::from_str::<Op>(op).ok();
            } else if let Some(ack) = line.strip_prefix("@@ack ") {
                if let Ok((op, version)) = serde_json::from_str::<(Op, Option<String>)>(ack) {
                    apply(&mut model, &op, version.as_deref());
                    stats.ack(&op);
                    in_doubt = None;
                }
            }
        }
        let store = open_lib(&tmp.path().join("data"))
            .unwrap_or_else(|e| panic!("seed {seed}, kill {round}: the store does not open: {e}"));
        // A writer killed while still opening a new store never made the default vault, and
        // acknowledged nothing: make it as the writer would have.
        localhsm::server::ensure_default_vault(&store).expect("default vault");
        let vault = store.vault("default").expect("default vault");
        let actual =
            lib_snapshot(&vault).unwrap_or_else(|e| panic!("seed {seed}, kill {round}: {e}"));
        stats.in_flight(in_doubt.as_ref());
        let reconciled = reconcile(&model, &actual, in_doubt.as_ref())
            .unwrap_or_else(|e| panic!("seed {seed}, kill {round}: {e}"));
        model = stats.count_in_doubt(reconciled);
        drop(vault);
        drop(store);
    }
    let store = open_lib(&tmp.path().join("data")).expect("final open");
    stats.finish("library", seed, &store, &model, started);
}

#[test]
fn reconcile_accepts_before_or_after_and_nothing_else() {
    let mut model = Model::new();
    apply(
        &mut model,
        &Op::Create {
            name: "ec-a".into(),
            tags: Tags::new(),
        },
        Some("v1"),
    );
    let live = |v: &[&str]| Actual::Live(v.iter().map(|x| key_version(x, Tags::new())).collect());
    let actual: BTreeMap<_, _> = [("ec-a".to_string(), live(&["v1"]))].into();
    assert!(reconcile(&model, &actual, None).is_ok());
    let rotate = Op::Rotate {
        name: "ec-a".into(),
    };
    let after: BTreeMap<_, _> = [("ec-a".to_string(), live(&["v1", "v2"]))].into();
    assert_eq!(
        reconcile(&model, &after, Some(&rotate)).unwrap().1,
        Some(true)
    );
    assert_eq!(
        reconcile(&model, &actual, Some(&rotate)).unwrap().1,
        Some(false)
    );
    assert!(
        reconcile(&model, &after, None).is_err(),
        "an unacknowledged version"
    );
    let two_more: BTreeMap<_, _> = [("ec-a".to_string(), live(&["v1", "v2", "v3"]))].into();
    assert!(reconcile(&model, &two_more, Some(&rotate)).is_err());
    let lost: BTreeMap<_, _> = [("ec-a".to_string(), live(&[]))].into();
    assert!(
        reconcile(&model, &lost, Some(&rotate)).is_err(),
        "half the versions"
    );
    let delete = Op::Delete {
        name: "ec-a".into(),
    };
    let deleted: BTreeMap<_, _> = [("ec-a".to_string(), Actual::Deleted("v1".into()))].into();
    assert_eq!(
        reconcile(&model, &deleted, Some(&delete)).unwrap().1,
        Some(true)
    );
    assert!(
        reconcile(&model, &BTreeMap::new(), Some(&delete)).is_err(),
        "deleted is not purged"
    );

    // A secret set in flight: its version with the value set, or nothing; never another value.
    let set = Op::Set {
        name: "sec-a".into(),
        tags: Tags::new(),
        value: "s1".into(),
    };
    let secret = |id: &str, value: &str| Version {
        id: id.into(),
        tags: Tags::new(),
        value: Some(value.into()),
        enabled: None,
    };
    let set_done: BTreeMap<_, _> = [
        ("ec-a".to_string(), live(&["v1"])),
        ("sec-a".to_string(), Actual::Live(vec![secret("w1", "s1")])),
    ]
    .into();
    let (after_set, applied) = reconcile(&model, &set_done, Some(&set)).unwrap();
    assert_eq!(applied, Some(true));
    assert_eq!(
        reconcile(&model, &actual, Some(&set)).unwrap().1,
        Some(false)
    );
    let other_value: BTreeMap<_, _> = [
        ("ec-a".to_string(), live(&["v1"])),
        ("sec-a".to_string(), Actual::Live(vec![secret("w1", "s2")])),
    ]
    .into();
    assert!(
        reconcile(&model, &other_value, Some(&set)).is_err(),
        "a value other than the one set"
    );
    let no_value: BTreeMap<_, _> = [
        ("ec-a".to_string(), live(&["v1"])),
        (
            "sec-a".to_string(),
            Actual::Live(vec![key_version("w1", Tags::new())]),
        ),
    ]
    .into();
    assert!(
        reconcile(&model, &no_value, Some(&set)).is_err(),
        "a secret without its value"
    );
    let delete_secret = Op::Delete {
        name: "sec-a".into(),
    };
    let secret_deleted: BTreeMap<_, _> = [
        ("ec-a".to_string(), live(&["v1"])),
        ("sec-a".to_string(), Actual::Deleted("w1".into())),
    ]
    .into();
    assert_eq!(
        reconcile(&after_set, &secret_deleted, Some(&delete_secret))
            .unwrap()
            .1,
        Some(true)
    );
    assert!(
        reconcile(&after_set, &secret_deleted, None).is_err(),
        "an unacknowledged delete"
    );

    // A certificate create acknowledged without its id (the 202 names none): any id, once;
    // the id is then known.
    let mut model = Model::new();
    let create = Op::Create {
        name: "crt-a".into(),
        tags: Tags::new(),
    };
    apply(&mut model, &create, None);
    let cert = |id: &str, enabled: bool, tag: &str| {
        let tags: Tags = [("t".to_string(), tag.to_string())].into();
        cert_version(id, if tag.is_empty() { Tags::new() } else { tags }, enabled)
    };
    let issued: BTreeMap<_, _> = [(
        "crt-a".to_string(),
        Actual::Live(vec![cert("c1", true, "")]),
    )]
    .into();
    let (known, _) = reconcile(&model, &issued, None).unwrap();
    assert_eq!(known["crt-a"].versions[0].id, "c1");
    let two: BTreeMap<_, _> = [(
        "crt-a".to_string(),
        Actual::Live(vec![cert("c1", true, ""), cert("c2", true, "")]),
    )]
    .into();
    assert!(
        reconcile(&model, &two, None).is_err(),
        "an unacknowledged version"
    );
    // An update in flight: both its tags and enabled, or neither.
    let update = Op::CertUpdate {
        name: "crt-a".into(),
        version: "c1".into(),
        tags: [("t".to_string(), "x".to_string())].into(),
        enabled: false,
    };
    let one = |v: Version| -> BTreeMap<String, Actual> {
        [("crt-a".to_string(), Actual::Live(vec![v]))].into()
    };
    assert_eq!(
        reconcile(&known, &one(cert("c1", false, "x")), Some(&update))
            .unwrap()
            .1,
        Some(true)
    );
    assert_eq!(
        reconcile(&known, &one(cert("c1", true, "")), Some(&update))
            .unwrap()
            .1,
        Some(false)
    );
    assert!(
        reconcile(&known, &one(cert("c1", true, "x")), Some(&update)).is_err(),
        "tags without enabled"
    );
    assert!(
        reconcile(&known, &one(cert("c1", false, "")), Some(&update)).is_err(),
        "enabled without tags"
    );
}
