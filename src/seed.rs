//! Seeding: a declarative file (JSON or YAML) naming vaults and what they hold (keys,
//! generated or imported from a JWK or PEM; secrets; self-signed certificates; role
//! assignments), and the one way `localhsm serve --seed` and `localhsm apply` bring a store
//! to it.
//!
//! ```yaml
//! vaults:
//!   - name: payments            # created if missing
//!     kind: vault               # vault (default) | managedhsm
//!     retentionDays: 7          # 7..90 (default 90)
//!     purgeProtection: false
//!     keys:
//!       - name: signer
//!         kty: EC               # EC, EC-HSM, RSA, RSA-HSM, oct, oct-HSM
//!         curve: P-256          # or size: 2048 for RSA / 256 for oct
//!         keyOps: [sign, verify]
//!         tags: {team: payments}
//!       - name: imported
//!         jwk: "@keys/imported.jwk.json"   # or an inline JWK object; or pem: "@file" / PEM
//!     secrets:
//!       - name: db-password
//!         value: s3cret         # or valueFile: secrets/db-password.txt
//!         contentType: text/plain
//!     certificates:
//!       - name: web
//!         policy: {x509_props: {subject: CN=web.localhost}}   # Key Vault's policy
//!     roleAssignments:
//!       - role: Key Vault Crypto User      # a name, short name or id
//!         principal: 11111111-2222-3333-4444-555555555555
//!         scope: /keys/signer   # default /
//! ```
//!
//! Rules: the whole file is read and checked before anything is written, so a file with an
//! error changes nothing; errors found while reading name the line. Then every entry is
//! compared with the store: what exists and matches is left alone (applying a file twice
//! changes nothing); what exists and differs, or is soft-deleted, is a conflict, reported
//! with every other conflict, and again nothing is written. Existing objects are never
//! overwritten. File references (`@path`, `valueFile`) are relative to the seed file.
//!
//! Layer: services (beside `customer_data`). May import the core below it (`vault`,
//! `keys`, `secrets`, `certificates`, `rbac`, `model`, `crypto`); the server and the CLI use
//! it. Invariants: secret values, key material and file contents live in zeroizing types
//! and never appear in `Debug`, errors or reports.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use crate::crypto::{
    Base64Url, CurveName, Jwk, KeyFamily, KeyMaterial, KeyOperation, KeySpec, KeyType, SecretString,
};
use crate::error::{Error, ObjectKind, Result};
use crate::model::certificates::{CertificateOptions, CertificatePolicy};
use crate::model::key_policies::KeyReleasePolicy;
use crate::model::{
    holds, validate_name, validate_tags, validate_vault_name, KeyOptions, SecretOptions, Tags,
    VaultKind, VaultOptions, DEFAULT_VAULT, MAX_RETENTION_DAYS, MIN_RETENTION_DAYS,
};
use crate::vault::{Store, Vault};

/// How a seed file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

impl Format {
    /// By the file's extension (`.json`, `.yaml`, `.yml`), else by its content: JSON when
    /// it starts with `{`.
    pub fn detect(path: &Path, text: &str) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Format::Json,
            Some(e) if e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml") => {
                Format::Yaml
            }
            _ if text.trim_start().starts_with('{') => Format::Json,
            _ => Format::Yaml,
        }
    }
}

/// A seed file that cannot be read: what is wrong and, when the parser knows, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedError {
    /// 1-based line.
    pub line: Option<usize>,
    /// 1-based column.
    pub column: Option<usize>,
    /// What is wrong (never a secret value).
    pub message: String,
}

impl fmt::Display for SeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: {}", self.message),
            (Some(l), None) => write!(f, "line {l}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for SeedError {}

impl From<SeedError> for Error {
    fn from(e: SeedError) -> Self {
        Error::bad_parameter(format!("seed file: {e}"))
    }
}

/// Where the files a seed names (`@path`, `valueFile`) come from while it is read.
pub enum Files {
    /// The directory of the seed file, on this machine.
    Dir(PathBuf),
    /// Contents sent along with the file (by the CLI, to a server), by the path as written.
    Given(BTreeMap<String, SecretString>),
    /// None: a reference is an error.
    None,
}

/// A parsed, checked seed and the files it read (by the path as written), to send along
/// with it.
pub struct Parsed {
    /// The seed.
    pub seed: Seed,
    /// Every file the seed named, read.
    pub files: BTreeMap<String, SecretString>,
}

struct FileContext {
    source: Files,
    read: BTreeMap<String, SecretString>,
    /// The vault names read so far (lowercase), so a repeated one is refused at its line.
    vaults: BTreeSet<String>,
}

thread_local! {
    // Deserialization has no way to pass context down to a field; the file source is set
    // for the duration of one `parse` on this thread.
    static FILES: RefCell<Option<FileContext>> = const { RefCell::new(None) };
}

/// Reads a file the seed names, as UTF-8.
fn read_reference(reference: &str) -> std::result::Result<SecretString, String> {
    FILES.with(|cell| {
        let mut ctx = cell.borrow_mut();
        let Some(ctx) = ctx.as_mut() else {
            return Err(format!("cannot read {reference:?}: no files here"));
        };
        if let Some(done) = ctx.read.get(reference) {
            return Ok(done.duplicate());
        }
        let value = match &ctx.source {
            Files::Dir(dir) => {
                let path = dir.join(reference);
                let bytes = zeroize::Zeroizing::new(
                    std::fs::read(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
                );
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| format!("{} is not UTF-8 text", path.display()))?;
                SecretString::new(text.to_string())
            }
            Files::Given(map) => map
                .get(reference)
                .map(SecretString::duplicate)
                .ok_or_else(|| format!("the file {reference:?} was not sent with the seed"))?,
            Files::None => {
                return Err(format!(
                    "{reference:?}: file references are not allowed here; inline the content"
                ))
            }
        };
        ctx.read.insert(reference.to_string(), value.duplicate());
        Ok(value)
    })
}

/// Reads and checks a seed file. Semantic checks run while it is read, so their errors
/// name the line as syntax errors do.
pub fn parse(text: &str, format: Format, files: Files) -> std::result::Result<Parsed, SeedError> {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            FILES.with(|c| c.borrow_mut().take());
        }
    }
    FILES.with(|c| {
        *c.borrow_mut() = Some(FileContext {
            source: files,
            read: BTreeMap::new(),
            vaults: BTreeSet::new(),
        })
    });
    let _reset = Reset;
    let seed = match format {
        Format::Json => serde_json::from_str::<Seed>(text).map_err(|e| SeedError {
            line: Some(e.line()).filter(|&l| l > 0),
            column: Some(e.column()).filter(|&c| c > 0),
            message: strip_position(&e.to_string()),
        })?,
        Format::Yaml => {
            // An empty YAML document is an empty seed.
            if text.trim().is_empty() {
                Seed::default()
            } else {
                serde_norway::from_str::<Seed>(text).map_err(|e| SeedError {
                    line: e.location().map(|l| l.line()),
                    column: e.location().map(|l| l.column()),
                    message: strip_position(&e.to_string()),
                })?
            }
        }
    };
    let read = FILES.with(|c| c.borrow_mut().take().map(|ctx| ctx.read));
    Ok(Parsed {
        seed,
        files: read.unwrap_or_default(),
    })
}

/// A seed file read from disk: its text, how it is written, and what it says.
pub struct SeedFile {
    /// How it is written.
    pub format: Format,
    /// Its text.
    pub text: SecretString,
    /// What it says, checked, with the files it names.
    pub parsed: Parsed,
}

/// A seed file that cannot be read or is wrong: the file, and what [`SeedError`] says.
#[derive(Debug)]
pub struct SeedFileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub error: SeedError,
}

impl fmt::Display for SeedFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for SeedFileError {}

/// Reads and checks the seed file at `path` (JSON or YAML, see [`Format::detect`]); the
/// files it names are read relative to its directory.
pub fn read_file(path: &Path) -> std::result::Result<SeedFile, SeedFileError> {
    let fail = |message: String| SeedFileError {
        path: path.to_path_buf(),
        error: SeedError {
            line: None,
            column: None,
            message,
        },
    };
    let bytes = zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| fail(e.to_string()))?);
    let text = SecretString::new(
        String::from_utf8(bytes.to_vec()).map_err(|_| fail("not UTF-8 text".into()))?,
    );
    let format = Format::detect(path, text.expose());
    let dir = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let parsed = parse(text.expose(), format, Files::Dir(dir)).map_err(|error| SeedFileError {
        path: path.to_path_buf(),
        error,
    })?;
    Ok(SeedFile {
        format,
        text,
        parsed,
    })
}

/// A parser's message without the position it appends (reported separately).
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

// --- the document ----------------------------------------------------------------------

/// Reads `R` from a mapping and checks it into `T` while the mapping is still being read,
/// so the parser reports a failed check at the entry's own line (checked afterwards, as
/// `#[serde(try_from)]` does, YAML errors would name the enclosing list's line).
fn checked<'de, D, R, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    R: Deserialize<'de>,
    T: TryFrom<R, Error = String>,
{
    struct Checked<R, T>(PhantomData<fn() -> (R, T)>);
    impl<'de, R, T> de::Visitor<'de> for Checked<R, T>
    where
        R: Deserialize<'de>,
        T: TryFrom<R, Error = String>,
    {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a mapping")
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> std::result::Result<T, A::Error> {
            let raw = R::deserialize(de::value::MapAccessDeserializer::new(map))?;
            T::try_from(raw).map_err(de::Error::custom)
        }
    }
    d.deserialize_map(Checked(PhantomData))
}

macro_rules! checked_from {
    ($($t:ty => $raw:ty),+ $(,)?) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                checked::<D, $raw, $t>(d)
            }
        }
    )+};
}

checked_from! {
    Seed => RawSeed,
    VaultSeed => RawVault,
    KeySeed => RawKey,
    SecretSeed => RawSecret,
    CertificateSeed => RawCertificate,
    RoleSeed => RawRole,
}

/// A seed: the vaults to bring about.
#[derive(Debug, Default)]
pub struct Seed {
    /// The vaults, in order.
    pub vaults: Vec<VaultSeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeed {
    #[serde(default)]
    vaults: Vec<VaultSeed>,
}

impl TryFrom<RawSeed> for Seed {
    type Error = String;
    fn try_from(raw: RawSeed) -> std::result::Result<Self, String> {
        Ok(Seed { vaults: raw.vaults })
    }
}

/// Refuses a vault named a second time in the file being read.
fn first_mention(vault: &str) -> std::result::Result<(), String> {
    let fresh = FILES.with(|cell| {
        cell.borrow_mut()
            .as_mut()
            .is_none_or(|ctx| ctx.vaults.insert(vault.to_ascii_lowercase()))
    });
    match fresh {
        true => Ok(()),
        false => Err(format!("vault {vault:?} is named twice")),
    }
}

/// A vault and what it holds.
#[derive(Debug)]
pub struct VaultSeed {
    /// Name.
    pub name: String,
    /// Kind; for a vault that exists, compared only when given.
    pub kind: Option<VaultKind>,
    /// Soft-delete retention in days; compared only when given.
    pub retention_days: Option<u32>,
    /// Purge protection; compared only when given.
    pub purge_protection: Option<bool>,
    /// Keys.
    pub keys: Vec<KeySeed>,
    /// Secrets.
    pub secrets: Vec<SecretSeed>,
    /// Certificates.
    pub certificates: Vec<CertificateSeed>,
    /// Role assignments.
    pub role_assignments: Vec<RoleSeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawVault {
    name: String,
    kind: Option<VaultKind>,
    retention_days: Option<u32>,
    purge_protection: Option<bool>,
    #[serde(default)]
    keys: Vec<KeySeed>,
    #[serde(default)]
    secrets: Vec<SecretSeed>,
    #[serde(default)]
    certificates: Vec<CertificateSeed>,
    #[serde(default)]
    role_assignments: Vec<RoleSeed>,
}

impl VaultSeed {
    /// The kind the vault has if the file creates it: as given, else a Managed HSM for the
    /// default vault (as every store starts with) and a Key Vault for others.
    fn kind_when_new(&self) -> VaultKind {
        self.kind
            .unwrap_or(if self.name.eq_ignore_ascii_case(DEFAULT_VAULT) {
                VaultKind::ManagedHsm
            } else {
                VaultKind::default()
            })
    }
}

impl TryFrom<RawVault> for VaultSeed {
    type Error = String;
    fn try_from(r: RawVault) -> std::result::Result<Self, String> {
        validate_vault_name(&r.name).map_err(|e| e.to_string())?;
        first_mention(&r.name)?;
        if let Some(d) = r.retention_days {
            if !(MIN_RETENTION_DAYS..=MAX_RETENTION_DAYS).contains(&d) {
                return Err(format!(
                    "vault {:?}: retentionDays must be {MIN_RETENTION_DAYS} to \
                     {MAX_RETENTION_DAYS}, not {d}",
                    r.name
                ));
            }
        }
        let v = VaultSeed {
            name: r.name,
            kind: r.kind,
            retention_days: r.retention_days,
            purge_protection: r.purge_protection,
            keys: r.keys,
            secrets: r.secrets,
            certificates: r.certificates,
            role_assignments: r.role_assignments,
        };
        // A certificate owns a key and a secret of its name: the three share names here.
        let mut names: BTreeMap<String, &str> = BTreeMap::new();
        let all = v
            .keys
            .iter()
            .map(|k| (&k.name, "key"))
            .chain(v.secrets.iter().map(|s| (&s.name, "secret")))
            .chain(v.certificates.iter().map(|c| (&c.name, "certificate")));
        for (name, what) in all {
            if let Some(before) = names.insert(name.to_ascii_lowercase(), what) {
                return Err(format!(
                    "vault {:?}: {what} {name:?} has the name of a {before} already listed \
                     (a certificate's key and secret take its name)",
                    v.name
                ));
            }
        }
        let kind = v.kind_when_new();
        check_kind_holds(&v, kind)?;
        Ok(v)
    }
}

/// What a vault of `kind` cannot hold: secrets and certificates outside Key Vaults (but for
/// the default vault), oct keys in a Key Vault.
fn check_kind_holds(v: &VaultSeed, kind: VaultKind) -> std::result::Result<(), String> {
    for (what, n, obj) in [
        ("secrets", v.secrets.len(), ObjectKind::Secret),
        (
            "certificates",
            v.certificates.len(),
            ObjectKind::Certificate,
        ),
    ] {
        if n > 0 && !holds(kind, &v.name, obj) {
            return Err(format!(
                "vault {:?} is a {}, which holds no {what}",
                v.name,
                kind.as_str()
            ));
        }
    }
    if kind == VaultKind::Vault {
        if let Some(k) = v.keys.iter().find(|k| k.family() == KeyFamily::Oct) {
            return Err(format!(
                "vault {:?} is a vault, which holds no oct keys (key {:?}); use a managedhsm",
                v.name, k.name
            ));
        }
    }
    Ok(())
}

/// A key: generated, or imported.
#[derive(Debug)]
pub struct KeySeed {
    /// Name.
    pub name: String,
    /// Where its material comes from.
    pub material: KeySource,
    /// Permitted operations (default: by key type; compared only when given).
    pub key_ops: Option<Vec<KeyOperation>>,
    /// Enabled (compared only when given).
    pub enabled: Option<bool>,
    /// Tags.
    pub tags: Tags,
    /// Exportable (needs a release policy).
    pub exportable: bool,
    /// Release policy.
    pub release_policy: Option<KeyReleasePolicy>,
}

/// Where a key's material comes from.
#[derive(Debug)]
pub enum KeySource {
    /// Generated.
    Generate {
        /// Key type.
        kty: KeyType,
        /// Curve or size.
        spec: KeySpec,
    },
    /// Imported from a private JWK (a PEM file is read into one).
    Import {
        /// The key, with its private members.
        jwk: Box<Jwk>,
        /// Whether to import it as an `-HSM` key type.
        hsm: bool,
    },
}

impl KeySeed {
    fn family(&self) -> KeyFamily {
        match &self.material {
            KeySource::Generate { kty, .. } => kty.family(),
            KeySource::Import { jwk, .. } => match (&jwk.k, &jwk.n) {
                (Some(_), _) => KeyFamily::Oct,
                (None, Some(_)) => KeyFamily::Rsa,
                _ => KeyFamily::Ec,
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawKey {
    name: String,
    kty: Option<KeyType>,
    size: Option<usize>,
    curve: Option<CurveName>,
    key_ops: Option<Vec<KeyOperation>>,
    enabled: Option<bool>,
    #[serde(default)]
    tags: Tags,
    #[serde(default)]
    exportable: bool,
    release_policy: Option<serde_json::Value>,
    jwk: Option<JwkSource>,
    pem: Option<PemSource>,
}

impl TryFrom<RawKey> for KeySeed {
    type Error = String;
    fn try_from(r: RawKey) -> std::result::Result<Self, String> {
        validate_name("key", &r.name).map_err(|e| e.to_string())?;
        let name = r.name;
        let at = |e: &dyn fmt::Display| format!("key {name:?}: {e}");
        let imported = |jwk: Jwk| -> std::result::Result<KeySource, String> {
            if r.size.is_some() || r.curve.is_some() {
                return Err(at(
                    &"size and curve come from the imported key; leave them out",
                ));
            }
            if !jwk.has_private_parts() {
                return Err(at(
                    &"the JWK has no private members: import needs the private key",
                ));
            }
            let material = KeyMaterial::from_jwk(&jwk).map_err(|e| at(&e))?;
            if let Some(kty) = r.kty {
                if kty.family() != material.family() {
                    return Err(at(&format!("kty {kty} does not match the imported key")));
                }
            }
            Ok(KeySource::Import {
                jwk: Box::new(jwk),
                hsm: r.kty.is_some_and(|k| k != k.jwk_kty()),
            })
        };
        let material = match (r.jwk, r.pem) {
            (Some(_), Some(_)) => return Err(at(&"give jwk or pem, not both")),
            (Some(JwkSource(jwk)), None) => imported(jwk)?,
            (None, Some(PemSource(pem))) => imported(pem_to_jwk(&pem).map_err(|e| at(&e))?)?,
            (None, None) => {
                let kty = r.kty.ok_or_else(|| {
                    at(&"give kty (to generate it), or jwk or pem (to import it)")
                })?;
                let spec = KeySpec::for_key_type(kty, r.size, r.curve).map_err(|e| at(&e))?;
                KeySource::Generate { kty, spec }
            }
        };
        validate_tags(&r.tags).map_err(|e| at(&e))?;
        let release_policy = r
            .release_policy
            .map(|p| {
                if !p.is_object() {
                    return Err(at(&"releasePolicy must be the policy's JSON object"));
                }
                Ok(KeyReleasePolicy {
                    content_type: "application/json; charset=utf-8".into(),
                    data: Base64Url(p.to_string().into_bytes()),
                    immutable: false,
                })
            })
            .transpose()?;
        match (r.exportable, &release_policy) {
            (true, None) => return Err(at(&"an exportable key needs a releasePolicy")),
            (false, Some(_)) => return Err(at(&"a releasePolicy needs exportable: true")),
            _ => {}
        }
        Ok(KeySeed {
            name,
            material,
            key_ops: r.key_ops,
            enabled: r.enabled,
            tags: r.tags,
            exportable: r.exportable,
            release_policy,
        })
    }
}

/// A private key in PEM as a private JWK: PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`)
/// or PKCS#1 (`RSA PRIVATE KEY`); the first such block counts, others are ignored.
fn pem_to_jwk(pem: &SecretString) -> Result<Jwk> {
    let text = pem.expose();
    for label in [
        "PRIVATE KEY",
        "EC PRIVATE KEY",
        "RSA PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
    ] {
        let begin = format!("-----BEGIN {label}-----");
        let Some(start) = text.find(&begin) else {
            continue;
        };
        let body = &text[start + begin.len()..];
        let end = body
            .find(&format!("-----END {label}-----"))
            .ok_or_else(|| {
                Error::bad_parameter(format!("the PEM's {label} block has no END line"))
            })?;
        let body = &body[..end];
        if label == "ENCRYPTED PRIVATE KEY" || body.contains("ENCRYPTED") {
            return Err(Error::bad_parameter(
                "the PEM's private key is encrypted; give it unencrypted (openssl pkcs8 -topk8 -nocrypt)",
            ));
        }
        let b64: zeroize::Zeroizing<String> =
            zeroize::Zeroizing::new(body.chars().filter(|c| !c.is_whitespace()).collect());
        let der = zeroize::Zeroizing::new(
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64.as_bytes())
                .map_err(|_| {
                    Error::bad_parameter(format!("the PEM's {label} block is not base64"))
                })?,
        );
        let material = match label {
            "PRIVATE KEY" => KeyMaterial::from_pkcs8_der(&der)?,
            "EC PRIVATE KEY" => {
                KeyMaterial::Ec(crate::crypto::ec::EcPrivateKey::from_sec1_der(&der)?)
            }
            _ => KeyMaterial::Rsa(crate::crypto::rsa::RsaPrivateKey::from_pkcs1_der(&der)?),
        };
        return material.private_jwk();
    }
    Err(Error::bad_parameter(
        "no private key in the PEM (a PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block)",
    ))
}

/// A JWK: an inline object, or `"@path"` naming a JSON file.
struct JwkSource(Jwk);

impl<'de> Deserialize<'de> for JwkSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = JwkSource;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JWK object, or \"@path\" naming a JWK file")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<JwkSource, E> {
                let path = s.strip_prefix('@').ok_or_else(|| {
                    E::custom("jwk: a string must be \"@path\" naming a JWK file")
                })?;
                let text = read_reference(path).map_err(E::custom)?;
                serde_json::from_str(text.expose())
                    .map(JwkSource)
                    .map_err(|e| E::custom(format!("{path}: not a JWK: {e}")))
            }
            fn visit_map<A: de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<JwkSource, A::Error> {
                Jwk::deserialize(de::value::MapAccessDeserializer::new(map)).map(JwkSource)
            }
        }
        d.deserialize_any(V)
    }
}

/// PEM text, inline or `"@path"`.
struct PemSource(SecretString);

impl<'de> Deserialize<'de> for PemSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = SecretString::deserialize(d)?;
        match s.expose().strip_prefix('@') {
            Some(path) => read_reference(path)
                .map(PemSource)
                .map_err(de::Error::custom),
            None => Ok(PemSource(s)),
        }
    }
}

/// A secret.
#[derive(Debug)]
pub struct SecretSeed {
    /// Name.
    pub name: String,
    /// Value.
    pub value: SecretString,
    /// Content type.
    pub content_type: Option<String>,
    /// Enabled (compared only when given).
    pub enabled: Option<bool>,
    /// Tags.
    pub tags: Tags,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSecret {
    name: String,
    value: Option<ScalarSecret>,
    value_file: Option<String>,
    content_type: Option<String>,
    enabled: Option<bool>,
    #[serde(default)]
    tags: Tags,
}

impl TryFrom<RawSecret> for SecretSeed {
    type Error = String;
    fn try_from(r: RawSecret) -> std::result::Result<Self, String> {
        validate_name("secret", &r.name).map_err(|e| e.to_string())?;
        let name = r.name;
        let value = match (r.value, r.value_file) {
            (Some(ScalarSecret(v)), None) => v,
            (None, Some(f)) => read_reference(&f).map_err(|e| format!("secret {name:?}: {e}"))?,
            _ => {
                return Err(format!(
                    "secret {name:?}: give value or valueFile (one of them)"
                ))
            }
        };
        validate_tags(&r.tags).map_err(|e| format!("secret {name:?}: {e}"))?;
        Ok(SecretSeed {
            name,
            value,
            content_type: r.content_type,
            enabled: r.enabled,
            tags: r.tags,
        })
    }
}

/// A secret value written as any scalar (`value: 1234` is the string `1234`, as YAML
/// readers expect); a parser's type error would otherwise quote the value.
struct ScalarSecret(SecretString);

impl<'de> Deserialize<'de> for ScalarSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = ScalarSecret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<ScalarSecret, E> {
                Ok(ScalarSecret(SecretString::new(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<ScalarSecret, E> {
                Ok(ScalarSecret(SecretString::new(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<ScalarSecret, E> {
                self.visit_string(v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<ScalarSecret, E> {
                self.visit_string(v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<ScalarSecret, E> {
                self.visit_string(v.to_string())
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<ScalarSecret, E> {
                self.visit_string(v.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

/// A self-signed certificate, by Key Vault's certificate policy.
#[derive(Debug)]
pub struct CertificateSeed {
    /// Name.
    pub name: String,
    /// Policy (Key Vault's JSON: `key_props`, `x509_props`, `issuer`, ...).
    pub policy: CertificatePolicy,
    /// Enabled (compared only when given).
    pub enabled: Option<bool>,
    /// Tags.
    pub tags: Tags,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCertificate {
    name: String,
    policy: CertificatePolicy,
    enabled: Option<bool>,
    #[serde(default)]
    tags: Tags,
}

impl TryFrom<RawCertificate> for CertificateSeed {
    type Error = String;
    fn try_from(r: RawCertificate) -> std::result::Result<Self, String> {
        validate_name("certificate", &r.name).map_err(|e| e.to_string())?;
        let at = |e: &dyn fmt::Display| format!("certificate {:?}: {e}", r.name);
        let issuer = r.policy.issuer.as_ref().and_then(|i| i.name.as_deref());
        if issuer.is_some_and(|i| !i.eq_ignore_ascii_case("Self")) {
            return Err(at(
                &"a seed creates self-signed certificates: issuer.name must be Self",
            ));
        }
        if subject(&r.policy).is_none() {
            return Err(at(
                &"policy.x509_props.subject is required (e.g. CN=web.localhost)",
            ));
        }
        crate::certificates::normalize(r.policy.clone(), 0).map_err(|e| at(&e))?;
        validate_tags(&r.tags).map_err(|e| at(&e))?;
        Ok(CertificateSeed {
            name: r.name,
            policy: r.policy,
            enabled: r.enabled,
            tags: r.tags,
        })
    }
}

fn subject(p: &CertificatePolicy) -> Option<&str> {
    p.x509_props.as_ref().and_then(|x| x.subject.as_deref())
}

/// A role assignment.
#[derive(Debug)]
pub struct RoleSeed {
    /// Role: a built-in role's id, name or short name (`Crypto User`), or a custom role's
    /// id or name (one the vault holds already).
    pub role: String,
    /// The principal's object ID.
    pub principal: String,
    /// Scope, normalized (`/`, `/keys`, `/keys/{name}`, ...).
    pub scope: String,
    /// The assignment's name (a GUID); default: a new one.
    pub name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    role: String,
    principal: String,
    scope: Option<String>,
    name: Option<String>,
}

impl TryFrom<RawRole> for RoleSeed {
    type Error = String;
    fn try_from(r: RawRole) -> std::result::Result<Self, String> {
        if r.role.trim().is_empty() {
            return Err("role assignment: role is empty".into());
        }
        if r.principal.trim().is_empty() || r.principal.len() > 128 {
            return Err("role assignment: principal must be the principal's object ID".into());
        }
        let scope = crate::rbac::normalize_scope(r.scope.as_deref().unwrap_or("/"))
            .map_err(|e| format!("role assignment: {e}"))?;
        Ok(RoleSeed {
            role: r.role.trim().to_string(),
            principal: r.principal.trim().to_string(),
            scope,
            name: r.name,
        })
    }
}

// --- applying --------------------------------------------------------------------------

/// What applying a seed did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedReport {
    /// What was created (`vault payments`, `key payments/signer`, ...).
    pub created: Vec<String>,
    /// What already existed and matched.
    pub unchanged: Vec<String>,
}

/// What the CLI sends to a running server to apply a seed there: the file's text and the
/// files it names, so the server reads it as the CLI did and errors name the same lines.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyRequest {
    /// How the text is written.
    pub format: Format,
    /// The seed file's text.
    pub text: SecretString,
    /// The files it names, by the path as written.
    #[serde(default)]
    pub files: BTreeMap<String, SecretString>,
}

enum Action<'a> {
    Vault(&'a VaultSeed, VaultKind),
    Key(&'a str, &'a KeySeed),
    Secret(&'a str, &'a SecretSeed),
    Certificate(&'a str, &'a CertificateSeed),
    Role {
        vault: &'a str,
        seed: &'a RoleSeed,
        role_id: String,
    },
}

impl Action<'_> {
    fn describe(&self) -> String {
        match self {
            Action::Vault(v, _) => format!("vault {}", v.name),
            Action::Key(v, k) => format!("key {v}/{}", k.name),
            Action::Secret(v, s) => format!("secret {v}/{}", s.name),
            Action::Certificate(v, c) => format!("certificate {v}/{}", c.name),
            Action::Role { vault, seed, .. } => role_label(vault, seed),
        }
    }

    fn run(&self, store: &Store) -> Result<()> {
        match self {
            Action::Vault(v, kind) => {
                let options = VaultOptions {
                    kind: *kind,
                    retention_days: v.retention_days.unwrap_or(MAX_RETENTION_DAYS),
                    purge_protection: v.purge_protection.unwrap_or(false),
                };
                store.create_vault(&v.name, options).map(drop)
            }
            Action::Key(v, k) => {
                let vault = store.vault(v)?;
                let options = KeyOptions {
                    key_ops: k.key_ops.clone(),
                    enabled: k.enabled,
                    exportable: k.exportable,
                    tags: k.tags.clone(),
                    release_policy: k.release_policy.clone(),
                    ..KeyOptions::default()
                };
                match &k.material {
                    KeySource::Generate { kty, spec } => {
                        vault.create_key(&k.name, *kty, *spec, options)
                    }
                    KeySource::Import { jwk, hsm } => vault.import_key(&k.name, jwk, *hsm, options),
                }
                .map(drop)
            }
            Action::Secret(v, s) => {
                let options = SecretOptions {
                    content_type: s.content_type.clone(),
                    enabled: s.enabled,
                    tags: s.tags.clone(),
                    ..SecretOptions::default()
                };
                store
                    .vault(v)?
                    .set_secret(&s.name, s.value.duplicate(), options)
                    .map(drop)
            }
            Action::Certificate(v, c) => {
                let options = CertificateOptions {
                    enabled: c.enabled,
                    tags: c.tags.clone(),
                };
                store
                    .vault(v)?
                    .create_certificate(&c.name, c.policy.clone(), options)
                    .map(drop)
            }
            Action::Role {
                vault,
                seed,
                role_id,
            } => {
                let name = match &seed.name {
                    Some(n) => n.clone(),
                    None => crate::crypto::random_guid()?,
                };
                store
                    .vault(vault)?
                    .create_role_assignment(&seed.scope, &name, role_id, &seed.principal)
                    .map(drop)
            }
        }
    }
}

fn role_label(vault: &str, r: &RoleSeed) -> String {
    format!(
        "role assignment {vault}: {} for {} at {}",
        r.role, r.principal, r.scope
    )
}

/// Brings `store` to what `seed` describes, as its owner (no access checks): checks every
/// entry against the store first, and writes only when nothing conflicts.
pub fn apply(store: &Store, seed: &Seed) -> Result<SeedReport> {
    let mut actions = Vec::new();
    let mut report = SeedReport::default();
    let mut conflicts = Vec::new();
    for v in &seed.vaults {
        plan_vault(store, v, &mut actions, &mut report, &mut conflicts)?;
    }
    if !conflicts.is_empty() {
        return Err(Error::bad_parameter(format!(
            "the seed conflicts with what the store holds, so nothing was changed:\n  - {}\n\
             A seed never overwrites: change the file, or delete (and purge) what differs.",
            conflicts.join("\n  - ")
        )));
    }
    for a in &actions {
        a.run(store)?;
        report.created.push(a.describe());
    }
    Ok(report)
}

fn plan_vault<'a>(
    store: &Store,
    v: &'a VaultSeed,
    actions: &mut Vec<Action<'a>>,
    report: &mut SeedReport,
    conflicts: &mut Vec<String>,
) -> Result<()> {
    let existing = match store.vault_info(&v.name) {
        Ok(info) => Some(info),
        Err(Error::VaultNotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    let label = format!("vault {}", v.name);
    let kind = match &existing {
        None => {
            let kind = v.kind_when_new();
            actions.push(Action::Vault(v, kind));
            kind
        }
        Some(info) if info.deleted_date.is_some() => {
            conflicts.push(format!(
                "{label} is soft-deleted: recover it (`localhsm vault recover`) or purge it"
            ));
            return Ok(());
        }
        Some(info) => {
            let mut diffs = Vec::new();
            differ(
                &mut diffs,
                "kind",
                v.kind.map(|k| k.as_str()),
                info.kind.as_str(),
            );
            differ(
                &mut diffs,
                "retentionDays",
                v.retention_days,
                info.retention_days,
            );
            differ(
                &mut diffs,
                "purgeProtection",
                v.purge_protection,
                info.purge_protection,
            );
            if diffs.is_empty() {
                report.unchanged.push(label.clone());
            } else {
                conflicts.push(format!("{label}: {}", diffs.join("; ")));
            }
            if let Err(e) = check_kind_holds(v, info.kind) {
                conflicts.push(e);
                return Ok(());
            }
            info.kind
        }
    };
    let live = match existing {
        Some(_) => Some(store.vault(&v.name)?),
        None => None,
    };
    for k in &v.keys {
        plan_object(
            live.as_ref(),
            &v.name,
            "key",
            &k.name,
            |vault| key_found(vault, k),
            Action::Key(&v.name, k),
            actions,
            report,
            conflicts,
        )?;
    }
    for s in &v.secrets {
        plan_object(
            live.as_ref(),
            &v.name,
            "secret",
            &s.name,
            |vault| secret_found(vault, s),
            Action::Secret(&v.name, s),
            actions,
            report,
            conflicts,
        )?;
    }
    for c in &v.certificates {
        plan_object(
            live.as_ref(),
            &v.name,
            "certificate",
            &c.name,
            |vault| certificate_found(vault, c),
            Action::Certificate(&v.name, c),
            actions,
            report,
            conflicts,
        )?;
    }
    let assignments = match &live {
        Some(vault) => vault.role_assignments_raw()?,
        None => Vec::new(),
    };
    for r in &v.role_assignments {
        let label = role_label(&v.name, r);
        let role_id = match resolve_role(live.as_ref(), kind, &v.name, &r.role)? {
            Ok(id) => id,
            Err(why) => {
                conflicts.push(format!("{label}: {why}"));
                continue;
            }
        };
        let same = |a: &crate::rbac::RoleAssignment| {
            a.role_definition_id.eq_ignore_ascii_case(&role_id)
                && a.principal_id.eq_ignore_ascii_case(&r.principal)
                && a.scope == r.scope
        };
        let named = r
            .name
            .as_ref()
            .and_then(|n| assignments.iter().find(|a| a.name.eq_ignore_ascii_case(n)));
        match named {
            Some(a) if same(a) => report.unchanged.push(label),
            Some(a) => conflicts.push(format!(
                "{label}: an assignment named {:?} exists for role {} to {} at {}",
                a.name, a.role_definition_id, a.principal_id, a.scope
            )),
            None if r.name.is_none() && assignments.iter().any(same) => {
                report.unchanged.push(label)
            }
            None => actions.push(Action::Role {
                vault: &v.name,
                seed: r,
                role_id,
            }),
        }
    }
    Ok(())
}

/// Adds `what: file X, store Y` when the file gives a value that differs.
fn differ<T: PartialEq + fmt::Debug>(
    diffs: &mut Vec<String>,
    what: &str,
    file: Option<T>,
    store: T,
) {
    if let Some(f) = file {
        if f != store {
            diffs.push(format!("{what} is {store:?}, the file says {f:?}"));
        }
    }
}

/// What the store holds under a name the seed gives.
enum Found {
    /// Nothing, live or deleted: the name is free.
    Nothing,
    /// A soft-deleted object (its name stays taken).
    Deleted,
    /// A live object; how it differs from the file (empty: it matches).
    Live(Vec<String>),
}

/// Plans one key, secret or certificate: create it when the name is free; leave it when it
/// matches; a conflict when it differs or is soft-deleted.
#[allow(
    clippy::too_many_arguments,
    reason = "one call shape for the three object kinds"
)]
fn plan_object<'a>(
    live: Option<&Vault>,
    vault: &str,
    what: &str,
    name: &str,
    found: impl FnOnce(&Vault) -> Result<Found>,
    create: Action<'a>,
    actions: &mut Vec<Action<'a>>,
    report: &mut SeedReport,
    conflicts: &mut Vec<String>,
) -> Result<()> {
    let label = format!("{what} {vault}/{name}");
    let Some(v) = live else {
        actions.push(create);
        return Ok(());
    };
    match found(v) {
        Ok(Found::Nothing) => actions.push(create),
        Ok(Found::Live(d)) if d.is_empty() => report.unchanged.push(label),
        Ok(Found::Live(d)) => {
            conflicts.push(format!("{label} exists and differs: {}", d.join("; ")))
        }
        Ok(Found::Deleted) => conflicts.push(format!(
            "{label} is soft-deleted: recover or purge it first (its name stays taken)"
        )),
        Err(Error::Disabled { .. }) => conflicts.push(format!(
            "{label} exists and is disabled, so it cannot be compared"
        )),
        Err(e) => return Err(e),
    }
    Ok(())
}

/// What `get` finds, and when it finds nothing, whether `deleted` does.
fn found<T>(
    get: Result<T>,
    deleted: impl FnOnce() -> bool,
    diff: impl FnOnce(T) -> Vec<String>,
) -> Result<Found> {
    match get {
        Ok(t) => Ok(Found::Live(diff(t))),
        Err(Error::NotFound { .. }) if deleted() => Ok(Found::Deleted),
        Err(Error::NotFound { .. }) => Ok(Found::Nothing),
        Err(e) => Err(e),
    }
}

fn key_found(vault: &Vault, k: &KeySeed) -> Result<Found> {
    let deleted = || vault.get_deleted_key(&k.name).is_ok();
    found(vault.get_key(&k.name, None), deleted, |b| {
        let mut d = Vec::new();
        match &k.material {
            KeySource::Generate { kty, spec } => {
                differ(&mut d, "kty", Some(kty.as_str()), b.kty.as_str());
                match spec {
                    KeySpec::Ec(crv) => differ(&mut d, "curve", Some(Some(*crv)), b.key.crv),
                    KeySpec::Rsa(bits) => differ(
                        &mut d,
                        "size",
                        Some(*bits),
                        b.key.n.as_ref().map_or(0, |n| n.0.len() * 8),
                    ),
                    // An oct key shows nothing of its size.
                    KeySpec::Oct(_) => {}
                }
            }
            KeySource::Import { jwk, hsm } => {
                let kty = imported_kty(k.family(), *hsm);
                differ(&mut d, "kty", Some(kty.as_str()), b.kty.as_str());
                // An oct key shows nothing of its material: it matches by type alone.
                let public = jwk.public_only();
                if (b.key.crv, &b.key.x, &b.key.y, &b.key.n, &b.key.e)
                    != (public.crv, &public.x, &public.y, &public.n, &public.e)
                {
                    d.push("it holds another key than the file's".into());
                }
            }
        }
        if let Some(ops) = &k.key_ops {
            let want: BTreeSet<&str> = ops.iter().map(|o| o.as_str()).collect();
            let have: BTreeSet<&str> = b.key_ops.iter().map(|o| o.as_str()).collect();
            differ(&mut d, "keyOps", Some(want), have);
        }
        differ(&mut d, "enabled", k.enabled, b.attributes.enabled);
        differ(
            &mut d,
            "exportable",
            Some(k.exportable),
            b.attributes.exportable,
        );
        differ(&mut d, "tags", Some(&k.tags), &b.tags);
        d
    })
}

/// The key type an import of `family` gets.
fn imported_kty(family: KeyFamily, hsm: bool) -> KeyType {
    match (family, hsm) {
        (KeyFamily::Ec, false) => KeyType::Ec,
        (KeyFamily::Ec, true) => KeyType::EcHsm,
        (KeyFamily::Rsa, false) => KeyType::Rsa,
        (KeyFamily::Rsa, true) => KeyType::RsaHsm,
        (KeyFamily::Oct, false) => KeyType::Oct,
        (KeyFamily::Oct, true) => KeyType::OctHsm,
    }
}

fn secret_found(vault: &Vault, s: &SecretSeed) -> Result<Found> {
    let deleted = || vault.get_deleted_secret(&s.name).is_ok();
    found(vault.get_secret(&s.name, None), deleted, |b| {
        let mut d = Vec::new();
        if b.value.as_ref().map(SecretString::expose) != Some(s.value.expose()) {
            d.push("its value is another".into());
        }
        differ(
            &mut d,
            "contentType",
            Some(&s.content_type),
            &b.content_type,
        );
        differ(&mut d, "enabled", s.enabled, b.attributes.enabled);
        differ(&mut d, "tags", Some(&s.tags), &b.tags);
        d
    })
}

fn certificate_found(vault: &Vault, c: &CertificateSeed) -> Result<Found> {
    let deleted = || vault.get_deleted_certificate(&c.name).is_ok();
    found(vault.get_certificate(&c.name, None), deleted, |b| {
        let mut d = Vec::new();
        differ(
            &mut d,
            "subject",
            Some(subject(&c.policy)),
            subject(&b.policy),
        );
        differ(&mut d, "enabled", c.enabled, b.attributes.enabled);
        differ(&mut d, "tags", Some(&c.tags), &b.tags);
        d
    })
}

/// The role definition id `role` names in a vault of `kind`: a built-in role's id, name or
/// short name, or one of the vault's custom roles by id or name (`live`: the vault, when it
/// exists already). `Ok(Err(why))` when it names none.
fn resolve_role(
    live: Option<&Vault>,
    kind: VaultKind,
    vault: &str,
    role: &str,
) -> Result<std::result::Result<String, String>> {
    let wanted = role.to_ascii_lowercase();
    let builtin = crate::rbac::roles_available_in(kind, vault).find(|r| {
        let name = r.name.to_ascii_lowercase();
        let short = ["managed hsm ", "key vault "]
            .iter()
            .find_map(|p| name.strip_prefix(p).map(str::to_string));
        r.id.eq_ignore_ascii_case(&wanted) || name == wanted || short.as_deref() == Some(&wanted)
    });
    if let Some(r) = builtin {
        return Ok(Ok(r.id.to_string()));
    }
    if let Some(v) = live {
        let custom = v.custom_roles()?.into_iter().find(|c| {
            c.id.eq_ignore_ascii_case(&wanted) || c.role_name.eq_ignore_ascii_case(&wanted)
        });
        if let Some(c) = custom {
            return Ok(Ok(c.id));
        }
    }
    Ok(Err(format!(
        "no role {role:?} in this {} (`localhsm role definitions` lists them)",
        kind.as_str()
    )))
}
