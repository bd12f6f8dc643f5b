//! Model test of the certificate cascade: random sequences of certificate operations (create
//! with issuer `Self`, import of a PFX, update, delete, recover, purge, backup, restore), of
//! key and secret operations on the same names, and of clock moves run against the store and
//! against a small in-memory model, comparing after every step.
//!
//! The model is the cascade's invariants, not every field: every certificate version has a key
//! and a secret of the same name and version, both `managed`, enabled as the certificate is,
//! the key holding the certificate's public key and the secret a PFX of that certificate and a
//! key that matches it; delete, recover and purge (by hand, by the sweep at the date, refused
//! under purge protection) move all three together; the deleted key and secret lists never show
//! a certificate's; the keys and secrets APIs refuse to change what a certificate owns
//! (`Managed`), and a certificate refuses a name a plain key or secret holds (`KeyExists`,
//! `KeyIsDeleted`, `SecretExists`, `SecretIsDeleted`); a certificate backup is neither a key
//! nor a secret backup; and a Managed HSM vault other than the default one has no
//! certificates.
//!
//! It is its own model, beside `tests/lifecycle_model.rs`, because that model checks every
//! key and secret field of objects that are independent of one another; a certificate couples
//! the three kinds under one name, so here the three are modelled as one object, and plain
//! keys and secrets only as far as they take its name.
//!
//! It runs over the embedded sled backend and over the memory backend, and ends with a reopen.
//! Deterministic: a fixed RNG seed (override with `LOCALHSM_MODEL_SEED=<u64>`) and
//! `PROPTEST_CASES` cases (default 64).

mod support;

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use base64::Engine as _;
use localhsm::crypto::x509::{self, CertSpec, CertificateKey};
use localhsm::crypto::{CurveName, KeyType, SecretBytes, SecretString, SignatureAlgorithm};
use localhsm::model::certificates::{
    CertificateKeyProperties, CertificateOptions, CertificatePolicy, CertificateUpdate,
    X509Properties,
};
use localhsm::model::{
    recovery_level, KeyOptions, KeyUpdate, SecretOptions, SecretUpdate, Tags, VaultKind,
    VaultOptions,
};
use localhsm::{Error, KeySpec, Store, Vault};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use support::{all_pages, create_vault, outcome, TempStore, DAY, T0};

struct VaultSpec {
    name: &'static str,
    kind: VaultKind,
    retention: u32,
    protected: bool,
}

/// Two vaults that hold certificates (one purge-protected with the shortest retention, one
/// without protection until a step turns it on) and a Managed HSM, which holds none.
const VAULTS: [VaultSpec; 3] = [
    VaultSpec {
        name: "kv",
        kind: VaultKind::Vault,
        retention: 7,
        protected: true,
    },
    VaultSpec {
        name: "plain",
        kind: VaultKind::Vault,
        retention: 30,
        protected: false,
    },
    VaultSpec {
        name: "hsm",
        kind: VaultKind::ManagedHsm,
        retention: 7,
        protected: false,
    },
];

/// Names; `c1`/`C1` are one name (names are case-insensitive).
const NAMES: [&str; 5] = ["c0", "c1", "C1", "Cert-2", "k3"];

#[derive(Debug, Clone, Copy)]
enum VSel {
    Current,
    Index(usize),
    Bogus,
}

/// Which name a step acts on: a (vault, name) pair from the pools, or (more often) the n-th
/// live or soft-deleted certificate (or plain key or secret) the model knows.
#[derive(Debug, Clone, Copy)]
enum Target {
    Named {
        vault: usize,
        name: usize,
    },
    Live(usize),
    Deleted(usize),
    /// The n-th live plain key (or secret, for a secrets step) the model knows.
    PlainLive(usize),
    /// The n-th soft-deleted plain key (or secret).
    PlainDeleted(usize),
}

/// An operation of the keys or secrets API, on a name a certificate may own.
#[derive(Debug, Clone, Copy)]
enum PlainOp {
    Write,
    Update,
    Delete,
    Recover,
    Purge,
}

#[derive(Debug, Clone)]
enum Step {
    CreateCert {
        vault: usize,
        name: usize,
        enabled: bool,
        tags: u8,
    },
    /// Imports PFX `pfx` of the pool; `wrong`: with a wrong password (refused when the PFX
    /// has one).
    ImportCert {
        vault: usize,
        name: usize,
        pfx: usize,
        wrong: bool,
    },
    UpdateCert {
        target: Target,
        version: VSel,
        enabled: Option<bool>,
        tags: Option<u8>,
    },
    DeleteCert(Target),
    RecoverCert(Target),
    PurgeCert(Target),
    BackupCert(Target),
    RestoreCert {
        vault: usize,
        blob: usize,
    },
    /// A certificate backup given to the keys API (`as_key`) or the secrets API: refused.
    RestoreCertElsewhere {
        vault: usize,
        blob: usize,
        as_key: bool,
    },
    Key(Target, PlainOp),
    Secret(Target, PlainOp),
    /// Moves the clock forward by this many seconds.
    Advance(u64),
    /// Sets the clock to a pending scheduled purge date (chosen by index) plus -1, 0 or +1 s.
    AdvanceToDue {
        which: usize,
        offset: i8,
    },
    /// Sets the clock back by this many seconds (the store's time must not follow).
    ClockBack(u64),
    EnableProtection(usize),
    Sweep,
}

fn tags_from(t: u8) -> Tags {
    if t >= 60 {
        // One more than Key Vault allows: refused.
        return (0..16)
            .map(|i| (format!("t{i}"), "x".to_string()))
            .collect();
    }
    (0..t % 3)
        .map(|i| (format!("t{i}"), format!("v{}", t / 3)))
        .collect()
}

fn target(deleted: bool) -> impl Strategy<Value = Target> {
    prop_oneof![
        1 => (0..VAULTS.len(), 0..NAMES.len()).prop_map(|(vault, name)| Target::Named { vault, name }),
        2 => any::<usize>().prop_map(move |i| if deleted { Target::Deleted(i) } else { Target::Live(i) }),
    ]
}

/// A keys or secrets step: an operation, and a name to aim it at that makes it interesting
/// (a certificate's, a pool name, or a plain object's in the state the operation needs).
fn plain_step() -> impl Strategy<Value = (Target, PlainOp)> {
    let named =
        || (vault(), 0..NAMES.len()).prop_map(|(vault, name)| Target::Named { vault, name });
    let write = prop_oneof![
        2 => named(),
        1 => any::<usize>().prop_map(Target::Live),
        1 => any::<usize>().prop_map(Target::Deleted),
    ];
    let on_live = || {
        prop_oneof![
            1 => named(),
            1 => any::<usize>().prop_map(Target::Live),
            3 => any::<usize>().prop_map(Target::PlainLive),
        ]
    };
    let on_deleted = || {
        prop_oneof![
            1 => named(),
            1 => any::<usize>().prop_map(Target::Deleted),
            3 => any::<usize>().prop_map(Target::PlainDeleted),
        ]
    };
    prop_oneof![
        3 => write.prop_map(|t| (t, PlainOp::Write)),
        1 => on_live().prop_map(|t| (t, PlainOp::Update)),
        3 => on_live().prop_map(|t| (t, PlainOp::Delete)),
        2 => on_deleted().prop_map(|t| (t, PlainOp::Recover)),
        2 => on_deleted().prop_map(|t| (t, PlainOp::Purge)),
    ]
}

/// A vault for a step: mostly one that holds certificates.
fn vault() -> impl Strategy<Value = usize> {
    prop_oneof![4 => 0..2usize, 1 => Just(2usize)]
}

fn step_strategy() -> impl Strategy<Value = Step> {
    let vsel = prop_oneof![
        3 => Just(VSel::Current),
        3 => any::<usize>().prop_map(VSel::Index),
        1 => Just(VSel::Bogus),
    ];
    prop_oneof![
        7 => (vault(), 0..NAMES.len(), prop::bool::weighted(0.85), 0u8..64)
            .prop_map(|(vault, name, enabled, tags)| Step::CreateCert { vault, name, enabled, tags }),
        4 => (vault(), 0..NAMES.len(), 0..PFX_POOL, prop::bool::weighted(0.2))
            .prop_map(|(vault, name, pfx, wrong)| Step::ImportCert { vault, name, pfx, wrong }),
        5 => (target(false), vsel, prop::option::of(any::<bool>()), prop::option::of(0u8..64))
            .prop_map(|(target, version, enabled, tags)| Step::UpdateCert { target, version, enabled, tags }),
        6 => target(false).prop_map(Step::DeleteCert),
        4 => target(true).prop_map(Step::RecoverCert),
        4 => target(true).prop_map(Step::PurgeCert),
        3 => target(false).prop_map(Step::BackupCert),
        4 => (vault(), any::<usize>()).prop_map(|(vault, blob)| Step::RestoreCert { vault, blob }),
        1 => (0..VAULTS.len(), any::<usize>(), any::<bool>())
            .prop_map(|(vault, blob, as_key)| Step::RestoreCertElsewhere { vault, blob, as_key }),
        8 => plain_step().prop_map(|(t, op)| Step::Key(t, op)),
        8 => plain_step().prop_map(|(t, op)| Step::Secret(t, op)),
        3 => (0..3 * DAY).prop_map(Step::Advance),
        1 => (0..=40 * DAY).prop_map(Step::Advance),
        3 => (any::<usize>(), -1i8..=1).prop_map(|(which, offset)| Step::AdvanceToDue { which, offset }),
        1 => (0..=20 * DAY).prop_map(Step::ClockBack),
        1 => (0..VAULTS.len()).prop_map(Step::EnableProtection),
        1 => Just(Step::Sweep),
    ]
}

// ---------------------------------------------------------------------------------------------
// Test material: PFX files to import
// ---------------------------------------------------------------------------------------------

const PFX_POOL: usize = 3;

/// A PFX to import: its bytes, its password, and the certificate it holds.
struct Pfx {
    bytes: Vec<u8>,
    password: Option<&'static str>,
    der: Vec<u8>,
}

/// Self-signed EC certificates with their keys, made once: without a password, with an
/// ASCII one and with a non-ASCII one.
fn pfx_pool() -> &'static [Pfx] {
    static POOL: OnceLock<Vec<Pfx>> = OnceLock::new();
    POOL.get_or_init(|| {
        [None, Some("pw-1"), Some("pässwörd ✓")]
            .into_iter()
            .enumerate()
            .map(|(i, password)| {
                let key = CertificateKey::generate(KeySpec::Ec(CurveName::P256)).expect("key");
                let spec = CertSpec {
                    subject: format!("CN=imported-{i}"),
                    dns_names: vec![format!("imported-{i}.example.test")],
                    not_before: T0 - DAY,
                    validity_months: 24,
                    ..CertSpec::default()
                };
                let der = key.self_signed(&spec).expect("self-signed");
                let bytes = key
                    .to_pfx(std::slice::from_ref(&der), password)
                    .expect("PFX")
                    .expose()
                    .to_vec();
                Pfx {
                    bytes,
                    password,
                    der,
                }
            })
            .collect()
    })
}

fn policy() -> CertificatePolicy {
    CertificatePolicy {
        key_props: Some(CertificateKeyProperties {
            kty: Some(KeyType::Ec),
            ..Default::default()
        }),
        x509_props: Some(X509Properties {
            subject: Some("CN=model".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct MVersion {
    id: String,
    enabled: bool,
    tags: Tags,
    /// The certificate, as the store first answered with it.
    der: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct MCert {
    /// The name as first created (or as in the backup it was restored from).
    name: String,
    versions: Vec<MVersion>,
    /// (deleted date, scheduled purge date) while soft-deleted.
    deletion: Option<(u64, u64)>,
}

/// A plain key or secret: only its name and dates matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MPlain {
    name: String,
    deletion: Option<(u64, u64)>,
}

#[derive(Debug, Clone)]
struct MVault {
    name: &'static str,
    kind: VaultKind,
    retention: u32,
    protected: bool,
    /// Lowercase name -> certificate.
    certs: BTreeMap<String, MCert>,
    deleted_certs: BTreeMap<String, MCert>,
    /// Lowercase name -> plain key or secret.
    keys: BTreeMap<String, MPlain>,
    deleted_keys: BTreeMap<String, MPlain>,
    secrets: BTreeMap<String, MPlain>,
    deleted_secrets: BTreeMap<String, MPlain>,
}

impl MVault {
    fn holds_certs(&self) -> bool {
        self.kind == VaultKind::Vault
    }

    /// The first refusal of every certificate call.
    fn must_hold_certs(&self) -> Result<(), &'static str> {
        match self.holds_certs() {
            true => Ok(()),
            false => Err("NotSupportedByVaultKind"),
        }
    }

    /// What writing a new certificate version under `lower` meets, in the order the store
    /// checks: the certificate's name, then the key's, then the secret's.
    fn can_write_cert(&self, lower: &str) -> Result<(), &'static str> {
        if self.deleted_certs.contains_key(lower) {
            return Err("CertificateIsDeleted");
        }
        if self.deleted_keys.contains_key(lower) {
            return Err("KeyIsDeleted");
        }
        if self.keys.contains_key(lower) {
            return Err("KeyExists");
        }
        if self.deleted_secrets.contains_key(lower) {
            return Err("SecretIsDeleted");
        }
        if self.secrets.contains_key(lower) {
            return Err("SecretExists");
        }
        Ok(())
    }

    /// What restoring a certificate under `lower` meets.
    fn can_restore_cert(&self, lower: &str) -> Result<(), &'static str> {
        if self.deleted_certs.contains_key(lower) {
            return Err("CertificateIsDeleted");
        }
        if self.certs.contains_key(lower) {
            return Err("CertificateExists");
        }
        self.can_write_cert(lower)
    }

    /// Whether the name's key or secret is a certificate's: live, or deleted.
    fn owned(&self, lower: &str, deleted: bool) -> bool {
        match deleted {
            false => self.certs.contains_key(lower),
            true => self.deleted_certs.contains_key(lower),
        }
    }
}

struct Model {
    /// The store's time: the highest clock value it has seen.
    now: u64,
    vaults: Vec<MVault>,
    /// Certificate backups with what they hold.
    blobs: Vec<(Vec<u8>, MCert)>,
}

impl Model {
    fn new() -> Self {
        Model {
            now: T0,
            vaults: VAULTS
                .iter()
                .map(|s| MVault {
                    name: s.name,
                    kind: s.kind,
                    retention: s.retention,
                    protected: s.protected,
                    certs: BTreeMap::new(),
                    deleted_certs: BTreeMap::new(),
                    keys: BTreeMap::new(),
                    deleted_keys: BTreeMap::new(),
                    secrets: BTreeMap::new(),
                    deleted_secrets: BTreeMap::new(),
                })
                .collect(),
            blobs: Vec::new(),
        }
    }

    fn set_clock(&mut self, clock: &localhsm::ManualClock, t: u64) {
        clock.set(t);
        self.now = self.now.max(t);
        self.sweep();
    }

    /// What the store's sweep does: purge what is due, certificates with their key and
    /// secret.
    fn sweep(&mut self) {
        let now = self.now;
        for v in &mut self.vaults {
            let due = |d: &Option<(u64, u64)>| d.expect("deleted").1 <= now;
            v.deleted_certs.retain(|_, c| {
                if due(&c.deletion) {
                    seen(if v.protected {
                        "auto purge certificate: protected"
                    } else {
                        "auto purge certificate: unprotected"
                    });
                }
                !due(&c.deletion)
            });
            v.deleted_keys.retain(|_, k| !due(&k.deletion));
            v.deleted_secrets.retain(|_, s| !due(&s.deletion));
        }
    }

    fn pending_dates(&self) -> Vec<u64> {
        let mut dates: Vec<u64> = self
            .vaults
            .iter()
            .flat_map(|v| {
                v.deleted_certs
                    .values()
                    .map(|c| c.deletion)
                    .chain(v.deleted_keys.values().map(|k| k.deletion))
                    .chain(v.deleted_secrets.values().map(|s| s.deletion))
            })
            .map(|d| d.expect("deleted").1)
            .collect();
        dates.sort_unstable();
        dates.dedup();
        dates
    }

    /// The (vault, name, lowercase name) a target names; `secrets`: plain targets name
    /// secrets, else keys.
    fn resolve(&self, t: Target, secrets: bool) -> (usize, String, String) {
        let pick = |which: &dyn Fn(&MVault) -> Vec<String>, i: usize| -> Option<(usize, String)> {
            let all: Vec<(usize, String)> = self
                .vaults
                .iter()
                .enumerate()
                .flat_map(|(vi, v)| which(v).into_iter().map(move |n| (vi, n)))
                .collect();
            (!all.is_empty()).then(|| all[i % all.len()].clone())
        };
        let names = |m: &BTreeMap<String, MCert>| m.values().map(|c| c.name.clone()).collect();
        let plain = |m: &BTreeMap<String, MPlain>| m.values().map(|c| c.name.clone()).collect();
        let fallback = |i: usize| (i % 2, NAMES[i % NAMES.len()].to_string());
        let (vault, name) = match t {
            Target::Named { vault, name } => (vault, NAMES[name].to_string()),
            Target::Live(i) => pick(&|v| names(&v.certs), i).unwrap_or_else(|| fallback(i)),
            Target::Deleted(i) => {
                pick(&|v| names(&v.deleted_certs), i).unwrap_or_else(|| fallback(i))
            }
            Target::PlainLive(i) => {
                let which = |v: &MVault| plain(if secrets { &v.secrets } else { &v.keys });
                pick(&which, i).unwrap_or_else(|| fallback(i))
            }
            Target::PlainDeleted(i) => {
                let which = |v: &MVault| {
                    plain(if secrets {
                        &v.deleted_secrets
                    } else {
                        &v.deleted_keys
                    })
                };
                pick(&which, i).unwrap_or_else(|| fallback(i))
            }
        };
        // Now and then spell it in upper case: names are case-insensitive.
        let name = match t {
            Target::Live(i)
            | Target::Deleted(i)
            | Target::PlainLive(i)
            | Target::PlainDeleted(i)
                if i % 5 == 0 =>
            {
                name.to_ascii_uppercase()
            }
            _ => name,
        };
        let lower = name.to_ascii_lowercase();
        (vault, name, lower)
    }
}

// ---------------------------------------------------------------------------------------------
// Comparing
// ---------------------------------------------------------------------------------------------

/// How often each (operation, outcome) pair came up, to check the run covers what matters.
static SEEN: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

fn seen(what: impl Into<String>) {
    *SEEN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(what.into())
        .or_default() += 1;
}

fn check_outcome<T>(
    what: &str,
    got: &Result<T, Error>,
    want: Result<(), &str>,
) -> Result<(), TestCaseError> {
    let want = match want {
        Ok(()) => "Ok".to_string(),
        Err(e) => e.to_string(),
    };
    let got_s = outcome(got);
    if !what.contains(':') {
        seen(format!("{what}: {want}"));
    }
    if got_s != want {
        let detail = match got {
            Err(e) => format!(" ({e})"),
            Ok(_) => String::new(),
        };
        return Err(TestCaseError::fail(format!(
            "{what}: store gave {got_s}{detail}, model expects {want}"
        )));
    }
    Ok(())
}

fn fail(ctx: &str) -> impl Fn(Error) -> TestCaseError + '_ {
    move |e| TestCaseError::fail(format!("{ctx}: {e}"))
}

/// One live certificate version against the model: the bundle, then its key and secret of
/// the same version.
fn check_version(
    ctx: &str,
    now: u64,
    vault: &Vault,
    mv: &MVault,
    cert: &MCert,
    v: &MVersion,
    current: bool,
) -> Result<(), TestCaseError> {
    let b = vault
        .get_certificate(&cert.name, Some(&v.id))
        .map_err(fail(ctx))?;
    prop_assert_eq!(&b.name, &cert.name, "{}: name", ctx);
    prop_assert_eq!(&b.version, &v.id, "{}: version", ctx);
    prop_assert_eq!(b.attributes.enabled, v.enabled, "{}: enabled", ctx);
    prop_assert_eq!(&b.tags, &v.tags, "{}: tags", ctx);
    prop_assert_eq!(b.is_current, current, "{}: is_current", ctx);
    prop_assert_eq!(
        b.attributes.recovery_level.as_str(),
        recovery_level(mv.retention, mv.protected),
        "{}: recoveryLevel",
        ctx
    );
    let der = b.cer.clone().expect("issued");
    prop_assert!(der == v.der, "{}: the certificate changed", ctx);
    let parsed = x509::parse_certificate(&der).map_err(fail(ctx))?;

    // The key: same name and version, managed, enabled as the certificate, its public key.
    let key = vault
        .get_key(&cert.name, Some(&v.id))
        .map_err(|e| TestCaseError::fail(format!("{ctx}: a certificate without its key: {e}")))?;
    prop_assert!(key.managed, "{}: the key is not managed", ctx);
    prop_assert_eq!(key.attributes.enabled, v.enabled, "{}: key enabled", ctx);
    prop_assert_eq!(&key.key.x, &parsed.public.x, "{}: key x", ctx);
    prop_assert_eq!(&key.key.y, &parsed.public.y, "{}: key y", ctx);
    let signed = vault
        .key(&cert.name, Some(&v.id))
        .and_then(|h| h.sign(SignatureAlgorithm::ES256, &[9; 32]));
    // The key is as valid as its certificate.
    let want = if !v.enabled {
        "KeyDisabled"
    } else if now < parsed.not_before {
        "KeyNotYetValid"
    } else if now >= parsed.not_after {
        "KeyExpired"
    } else {
        "Ok"
    };
    prop_assert_eq!(outcome(&signed), want, "{}: sign with the key", ctx);

    // The secret: same name and version, managed, a PFX of this certificate and its key.
    let props = vault
        .get_secret_properties(&cert.name, Some(&v.id))
        .map_err(|e| {
            TestCaseError::fail(format!("{ctx}: a certificate without its secret: {e}"))
        })?;
    prop_assert!(props.managed, "{}: the secret is not managed", ctx);
    prop_assert_eq!(
        props.attributes.enabled,
        v.enabled,
        "{}: secret enabled",
        ctx
    );
    let got = vault.get_secret(&cert.name, Some(&v.id));
    let want = if v.enabled {
        Ok(())
    } else {
        Err("SecretDisabled")
    };
    check_outcome(&format!("{ctx}: get secret"), &got, want)?;
    if let Ok(s) = got {
        let value = s.value.expect("get carries the value");
        let pfx = base64::engine::general_purpose::STANDARD
            .decode(value.expose())
            .map_err(|e| TestCaseError::fail(format!("{ctx}: secret is not base64: {e}")))?;
        let (k, chain) = CertificateKey::from_pfx(&pfx, None).map_err(fail(ctx))?;
        prop_assert!(
            chain.first() == Some(&der),
            "{}: the PFX's certificate",
            ctx
        );
        prop_assert!(
            k.matches(&der).map_err(fail(ctx))?,
            "{}: the PFX's key",
            ctx
        );
    }
    Ok(())
}

/// Names and managed flags of a listing, by lowercase name.
fn names_of<T>(items: &[T], f: impl Fn(&T) -> (String, bool)) -> Vec<(String, bool)> {
    items.iter().map(f).collect()
}

fn compare(store: &Store, vaults: &[Vault], m: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(store.now(), m.now, "store time");
    for (mv, vault) in m.vaults.iter().zip(vaults) {
        let ctx = mv.name;
        let e = fail(ctx);
        // Keys: the plain ones and one managed key per live certificate; the deleted list
        // only the plain ones.
        let mut want: BTreeMap<String, (String, bool)> = BTreeMap::new();
        for (l, k) in &mv.keys {
            want.insert(l.clone(), (k.name.clone(), false));
        }
        for (l, c) in &mv.certs {
            want.insert(l.clone(), (c.name.clone(), true));
        }
        let keys = all_pages(|next| vault.list_keys(2, next)).map_err(&e)?;
        prop_assert_eq!(
            names_of(&keys, |b| (b.name.clone(), b.managed)),
            want.values().cloned().collect::<Vec<_>>(),
            "{}: keys",
            ctx
        );
        let deleted_keys = all_pages(|next| vault.list_deleted_keys(2, next)).map_err(&e)?;
        prop_assert_eq!(
            deleted_keys
                .iter()
                .map(|d| (
                    d.key.name.clone(),
                    d.deletion.deleted_date,
                    d.deletion.scheduled_purge_date
                ))
                .collect::<Vec<_>>(),
            mv.deleted_keys
                .values()
                .map(|k| (
                    k.name.clone(),
                    k.deletion.expect("deleted").0,
                    k.deletion.expect("deleted").1
                ))
                .collect::<Vec<_>>(),
            "{}: deleted keys (a certificate's never among them)",
            ctx
        );
        if !mv.holds_certs() {
            check_outcome(
                &format!("{ctx}: list certificates"),
                &vault.list_certificates(2, None, true),
                Err("NotSupportedByVaultKind"),
            )?;
            prop_assert!(mv.certs.is_empty() && mv.deleted_certs.is_empty());
            continue;
        }
        // Secrets likewise.
        let mut want: BTreeMap<String, (String, bool)> = BTreeMap::new();
        for (l, s) in &mv.secrets {
            want.insert(l.clone(), (s.name.clone(), false));
        }
        for (l, c) in &mv.certs {
            want.insert(l.clone(), (c.name.clone(), true));
        }
        let secrets = all_pages(|next| vault.list_secrets(2, next)).map_err(&e)?;
        prop_assert_eq!(
            names_of(&secrets, |b| (b.name.clone(), b.managed)),
            want.values().cloned().collect::<Vec<_>>(),
            "{}: secrets",
            ctx
        );
        let deleted_secrets = all_pages(|next| vault.list_deleted_secrets(2, next)).map_err(&e)?;
        prop_assert_eq!(
            deleted_secrets
                .iter()
                .map(|d| (
                    d.secret.name.clone(),
                    d.deletion.deleted_date,
                    d.deletion.scheduled_purge_date
                ))
                .collect::<Vec<_>>(),
            mv.deleted_secrets
                .values()
                .map(|s| (
                    s.name.clone(),
                    s.deletion.expect("deleted").0,
                    s.deletion.expect("deleted").1
                ))
                .collect::<Vec<_>>(),
            "{}: deleted secrets (a certificate's never among them)",
            ctx
        );

        // Certificates, every version whole.
        let listed = all_pages(|next| vault.list_certificates(2, next, true)).map_err(&e)?;
        prop_assert_eq!(
            listed.iter().map(|b| b.name.clone()).collect::<Vec<_>>(),
            mv.certs
                .values()
                .map(|c| c.name.clone())
                .collect::<Vec<_>>(),
            "{}: certificates",
            ctx
        );
        for cert in mv.certs.values() {
            let c = format!("{ctx}/{}", cert.name);
            let versions = all_pages(|next| vault.list_certificate_versions(&cert.name, 2, next))
                .map_err(fail(&c))?;
            prop_assert_eq!(
                versions
                    .iter()
                    .map(|b| b.version.clone())
                    .collect::<Vec<_>>(),
                cert.versions
                    .iter()
                    .map(|v| v.id.clone())
                    .collect::<Vec<_>>(),
                "{}: versions",
                &c
            );
            let n = cert.versions.len();
            for (i, v) in cert.versions.iter().enumerate() {
                check_version(
                    &format!("{c}/{}", v.id),
                    m.now,
                    vault,
                    mv,
                    cert,
                    v,
                    i + 1 == n,
                )?;
            }
        }
        let deleted = all_pages(|next| vault.list_deleted_certificates(2, next)).map_err(&e)?;
        prop_assert_eq!(
            deleted
                .iter()
                .map(|d| (
                    d.certificate.name.clone(),
                    d.deletion.deleted_date,
                    d.deletion.scheduled_purge_date
                ))
                .collect::<Vec<_>>(),
            mv.deleted_certs
                .values()
                .map(|c| (
                    c.name.clone(),
                    c.deletion.expect("deleted").0,
                    c.deletion.expect("deleted").1
                ))
                .collect::<Vec<_>>(),
            "{}: deleted certificates",
            ctx
        );
        for cert in mv.deleted_certs.values() {
            let c = format!("{ctx}/{} deleted", cert.name);
            let cur = cert.versions.last().expect("a version");
            let d = vault
                .get_deleted_certificate(&cert.name)
                .map_err(fail(&c))?;
            prop_assert_eq!(&d.certificate.version, &cur.id, "{}: current version", &c);
            // The key and secret went with it: neither is live.
            check_outcome(
                &format!("{c}: get key"),
                &vault.get_key(&cert.name, None),
                Err("KeyNotFound"),
            )?;
            check_outcome(
                &format!("{c}: get secret"),
                &vault.get_secret(&cert.name, None),
                Err("SecretNotFound"),
            )?;
        }
        // A name nothing holds, live or deleted, has no key or secret left either: a purge
        // took all three.
        for name in NAMES {
            let l = name.to_ascii_lowercase();
            if !mv.deleted_certs.contains_key(&l) && !mv.deleted_keys.contains_key(&l) {
                check_outcome(
                    &format!("{ctx}/{name}: deleted key left behind"),
                    &vault.get_deleted_key(name),
                    Err("DeletedKeyNotFound"),
                )?;
            }
            if !mv.deleted_certs.contains_key(&l) && !mv.deleted_secrets.contains_key(&l) {
                check_outcome(
                    &format!("{ctx}/{name}: deleted secret left behind"),
                    &vault.get_deleted_secret(name),
                    Err("DeletedSecretNotFound"),
                )?;
            }
            if !mv.certs.contains_key(&l) && !mv.deleted_certs.contains_key(&l) {
                check_outcome(
                    &format!("{ctx}/{name}: certificate left behind"),
                    &vault.get_certificate(name, None),
                    Err("CertificateNotFound"),
                )?;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Applying a step to both
// ---------------------------------------------------------------------------------------------

fn options(enabled: bool, tags: u8) -> CertificateOptions {
    CertificateOptions {
        enabled: Some(enabled),
        tags: tags_from(tags),
    }
}

/// Adds a version the store made to the model's certificate `lower` (creating it), reading
/// the new version's id and certificate from the store's listing, which must be the model's
/// versions plus exactly one.
fn add_version(
    vault: &Vault,
    mv: &mut MVault,
    name: &str,
    lower: &str,
    enabled: bool,
    tags: Tags,
) -> Result<(), TestCaseError> {
    let cert = mv.certs.entry(lower.to_string()).or_insert(MCert {
        name: name.to_string(),
        versions: Vec::new(),
        deletion: None,
    });
    let listed = all_pages(|next| vault.list_certificate_versions(name, 25, next))
        .map_err(fail("versions after a write"))?;
    prop_assert_eq!(listed.len(), cert.versions.len() + 1, "one new version");
    let new = listed.last().expect("the new version");
    prop_assert!(
        cert.versions.iter().all(|v| v.id != new.version),
        "the new version is last"
    );
    cert.versions.push(MVersion {
        id: new.version.clone(),
        enabled,
        tags,
        der: new.cer.clone().expect("issued"),
    });
    Ok(())
}

fn apply(
    step: &Step,
    vaults: &[Vault],
    clock: &localhsm::ManualClock,
    store: &Store,
    m: &mut Model,
) -> Result<(), TestCaseError> {
    let now = m.now;
    match *step {
        Step::CreateCert {
            vault,
            name,
            enabled,
            tags,
        } => {
            let name = NAMES[name];
            let lower = name.to_ascii_lowercase();
            let got = vaults[vault].create_certificate(name, policy(), options(enabled, tags));
            let mv = &mut m.vaults[vault];
            let want = mv.must_hold_certs().and_then(|()| {
                if tags_from(tags).len() > 15 {
                    Err("BadParameter")
                } else {
                    mv.can_write_cert(&lower)
                }
            });
            check_outcome("create certificate", &got, want)?;
            if got.is_ok() {
                add_version(&vaults[vault], mv, name, &lower, enabled, tags_from(tags))?;
            }
        }
        Step::ImportCert {
            vault,
            name,
            pfx,
            wrong,
        } => {
            let name = NAMES[name];
            let lower = name.to_ascii_lowercase();
            let p = &pfx_pool()[pfx];
            let refused = wrong && p.password.is_some();
            let password = match (refused, p.password) {
                (true, _) => Some(SecretString::from("not the password")),
                (false, pw) => pw.map(SecretString::from),
            };
            let got = vaults[vault].import_certificate(
                name,
                SecretBytes::from_slice(&p.bytes),
                password,
                None,
                CertificateOptions::default(),
            );
            let mv = &mut m.vaults[vault];
            let want = mv.must_hold_certs().and_then(|()| match refused {
                true => Err("BadParameter"),
                false => mv.can_write_cert(&lower),
            });
            let what = if refused {
                "import certificate with a wrong password"
            } else {
                "import certificate"
            };
            check_outcome(what, &got, want)?;
            if let Ok(b) = got {
                prop_assert!(
                    b.cer.as_ref() == Some(&p.der),
                    "import keeps the certificate"
                );
                add_version(&vaults[vault], mv, name, &lower, true, Tags::new())?;
            }
        }
        Step::UpdateCert {
            target,
            version,
            enabled,
            tags,
        } => {
            let (vault, name, lower) = m.resolve(target, false);
            let mv = &mut m.vaults[vault];
            let cert = mv.certs.get(&lower);
            let version_id = match (version, cert) {
                (VSel::Current, _) => None,
                (VSel::Index(i), Some(c)) => Some(c.versions[i % c.versions.len()].id.clone()),
                _ => Some("0".repeat(32)),
            };
            let update = CertificateUpdate {
                enabled,
                tags: tags.map(tags_from),
                policy: None,
            };
            let got =
                vaults[vault].update_certificate(&name, version_id.as_deref(), update.clone());
            let idx = cert.and_then(|c| match &version_id {
                None => Some(c.versions.len() - 1),
                Some(id) => c.versions.iter().position(|v| &v.id == id),
            });
            let want = mv.must_hold_certs().and_then(|()| {
                if update.tags.as_ref().is_some_and(|t| t.len() > 15) {
                    Err("BadParameter")
                } else if idx.is_none() {
                    Err("CertificateNotFound")
                } else {
                    Ok(())
                }
            });
            check_outcome("update certificate", &got, want)?;
            if got.is_ok() {
                let cert = mv.certs.get_mut(&lower).expect("live");
                let v = &mut cert.versions[idx.expect("found")];
                v.enabled = update.enabled.unwrap_or(v.enabled);
                if let Some(t) = update.tags {
                    v.tags = t;
                }
            }
        }
        Step::DeleteCert(target) => {
            let (vault, name, lower) = m.resolve(target, false);
            let got = vaults[vault].delete_certificate(&name);
            let mv = &mut m.vaults[vault];
            let want = mv
                .must_hold_certs()
                .and_then(|()| match mv.certs.contains_key(&lower) {
                    true => Ok(()),
                    false => Err("CertificateNotFound"),
                });
            check_outcome("delete certificate", &got, want)?;
            if let Ok(d) = got {
                let mut cert = mv.certs.remove(&lower).expect("live");
                let dates = (now, now + u64::from(mv.retention) * DAY);
                prop_assert_eq!(
                    (d.deletion.deleted_date, d.deletion.scheduled_purge_date),
                    dates
                );
                cert.deletion = Some(dates);
                mv.deleted_certs.insert(lower, cert);
            }
        }
        Step::RecoverCert(target) => {
            let (vault, name, lower) = m.resolve(target, false);
            let got = vaults[vault].recover_deleted_certificate(&name);
            let mv = &mut m.vaults[vault];
            let want =
                mv.must_hold_certs()
                    .and_then(|()| match mv.deleted_certs.contains_key(&lower) {
                        true => Ok(()),
                        false => Err("DeletedCertificateNotFound"),
                    });
            check_outcome("recover certificate", &got, want)?;
            if got.is_ok() {
                let mut cert = mv.deleted_certs.remove(&lower).expect("deleted");
                cert.deletion = None;
                mv.certs.insert(lower, cert);
            }
        }
        Step::PurgeCert(target) => {
            let (vault, name, lower) = m.resolve(target, false);
            let got = vaults[vault].purge_deleted_certificate(&name);
            let mv = &mut m.vaults[vault];
            let want = mv
                .must_hold_certs()
                .and_then(|()| match mv.deleted_certs.get(&lower) {
                    None => Err("DeletedCertificateNotFound"),
                    Some(c) if mv.protected && c.deletion.expect("deleted").1 > now => {
                        Err("PurgeProtected")
                    }
                    Some(_) => Ok(()),
                });
            check_outcome("purge certificate", &got, want)?;
            if let Err(e) = &got {
                if support::error_name(e) == "PurgeProtected" {
                    prop_assert_eq!(e.wire().status, 403);
                }
            }
            if got.is_ok() {
                mv.deleted_certs.remove(&lower);
            }
        }
        Step::BackupCert(target) => {
            let (vault, name, lower) = m.resolve(target, false);
            let got = vaults[vault].backup_certificate(&name);
            let mv = &m.vaults[vault];
            let want = mv
                .must_hold_certs()
                .and_then(|()| match mv.certs.contains_key(&lower) {
                    true => Ok(()),
                    false => Err("CertificateNotFound"),
                });
            check_outcome("backup certificate", &got, want)?;
            if let Ok(blob) = got {
                m.blobs.push((blob, mv.certs[&lower].clone()));
            }
        }
        Step::RestoreCert { vault, blob } => {
            if m.blobs.is_empty() {
                return Ok(());
            }
            let (blob, cert) = m.blobs[blob % m.blobs.len()].clone();
            let got = vaults[vault].restore_certificate(&blob);
            let mv = &mut m.vaults[vault];
            let lower = cert.name.to_ascii_lowercase();
            let want = mv
                .must_hold_certs()
                .and_then(|()| mv.can_restore_cert(&lower));
            check_outcome("restore certificate", &got, want)?;
            if let Ok(b) = got {
                let cur = cert.versions.last().expect("a version");
                prop_assert_eq!(&b.version, &cur.id, "restore: current version");
                mv.certs.insert(lower, cert);
            }
        }
        Step::RestoreCertElsewhere {
            vault,
            blob,
            as_key,
        } => {
            if m.blobs.is_empty() {
                return Ok(());
            }
            let (blob, _) = &m.blobs[blob % m.blobs.len()];
            let mv = &m.vaults[vault];
            if as_key {
                let got = vaults[vault].restore_key(blob);
                check_outcome(
                    "restore certificate backup as key",
                    &got,
                    Err("InvalidBackup"),
                )?;
            } else {
                let got = vaults[vault].restore_secret(blob);
                let want = match mv.holds_certs() {
                    true => Err("InvalidBackup"),
                    false => Err("NotSupportedByVaultKind"),
                };
                check_outcome("restore certificate backup as secret", &got, want)?;
            }
        }
        Step::Key(target, op) => apply_key(target, op, vaults, m)?,
        Step::Secret(target, op) => apply_secret(target, op, vaults, m)?,
        Step::Advance(secs) => {
            let t = m.now + secs;
            m.set_clock(clock, t);
        }
        Step::AdvanceToDue { which, offset } => {
            let dates = m.pending_dates();
            if dates.is_empty() {
                return Ok(());
            }
            let due = dates[which % dates.len()];
            let t = due.saturating_add_signed(i64::from(offset)).max(m.now);
            m.set_clock(clock, t);
        }
        Step::ClockBack(secs) => {
            // The store's time stays where it was: nothing comes due earlier or later.
            m.set_clock(clock, m.now.saturating_sub(secs));
        }
        Step::EnableProtection(vault) => {
            let got = store.enable_purge_protection(VAULTS[vault].name);
            check_outcome("enable purge protection", &got, Ok(()))?;
            m.vaults[vault].protected = true;
        }
        Step::Sweep => {
            let got = store.sweep();
            check_outcome("sweep", &got, Ok(()))?;
        }
    }
    Ok(())
}

/// A keys-API step on a name a certificate may own.
fn apply_key(
    target: Target,
    op: PlainOp,
    vaults: &[Vault],
    m: &mut Model,
) -> Result<(), TestCaseError> {
    let now = m.now;
    let (vault, name, lower) = m.resolve(target, false);
    let v = &vaults[vault];
    let mv = &mut m.vaults[vault];
    let owned_live = mv.owned(&lower, false);
    let owned_deleted = mv.owned(&lower, true);
    let (what, got, want) = match op {
        PlainOp::Write => {
            let got = v.create_key(
                &name,
                KeyType::Ec,
                KeySpec::Ec(CurveName::P256),
                KeyOptions::default(),
            );
            let want = if owned_deleted || mv.deleted_keys.contains_key(&lower) {
                Err("KeyIsDeleted")
            } else if owned_live {
                Err("Managed")
            } else {
                Ok(())
            };
            ("create key", outcome(&got), want)
        }
        PlainOp::Update => {
            let update = KeyUpdate {
                tags: Some(tags_from(1)),
                ..KeyUpdate::default()
            };
            let got = v.update_key(&name, None, update);
            let want = if owned_live {
                Err("Managed")
            } else if mv.keys.contains_key(&lower) {
                Ok(())
            } else {
                Err("KeyNotFound")
            };
            ("update key", outcome(&got), want)
        }
        PlainOp::Delete => {
            let got = v.delete_key(&name);
            let want = if owned_live {
                Err("Managed")
            } else if mv.keys.contains_key(&lower) {
                Ok(())
            } else {
                Err("KeyNotFound")
            };
            ("delete key", outcome(&got), want)
        }
        PlainOp::Recover => {
            let got = v.recover_deleted_key(&name);
            let want = if owned_deleted {
                Err("Managed")
            } else if mv.deleted_keys.contains_key(&lower) {
                Ok(())
            } else {
                Err("DeletedKeyNotFound")
            };
            ("recover key", outcome(&got), want)
        }
        PlainOp::Purge => {
            let got = v.purge_deleted_key(&name);
            let want = if owned_deleted {
                Err("Managed")
            } else {
                match mv.deleted_keys.get(&lower) {
                    None => Err("DeletedKeyNotFound"),
                    Some(k) if mv.protected && k.deletion.expect("deleted").1 > now => {
                        Err("PurgeProtected")
                    }
                    Some(_) => Ok(()),
                }
            };
            ("purge key", outcome(&got), want)
        }
    };
    let on = if owned_live || owned_deleted {
        " on a certificate's name"
    } else {
        ""
    };
    check_named(&format!("{what}{on}"), &got, want)?;
    if got == "Ok" {
        match op {
            PlainOp::Write => {
                mv.keys.entry(lower).or_insert(MPlain {
                    name,
                    deletion: None,
                });
            }
            PlainOp::Delete => {
                let mut k = mv.keys.remove(&lower).expect("live");
                k.deletion = Some((now, now + u64::from(mv.retention) * DAY));
                mv.deleted_keys.insert(lower, k);
            }
            PlainOp::Recover => {
                let mut k = mv.deleted_keys.remove(&lower).expect("deleted");
                k.deletion = None;
                mv.keys.insert(lower, k);
            }
            PlainOp::Purge => {
                mv.deleted_keys.remove(&lower);
            }
            PlainOp::Update => {}
        }
    }
    Ok(())
}

/// A secrets-API step on a name a certificate may own.
fn apply_secret(
    target: Target,
    op: PlainOp,
    vaults: &[Vault],
    m: &mut Model,
) -> Result<(), TestCaseError> {
    let now = m.now;
    let (vault, name, lower) = m.resolve(target, true);
    let v = &vaults[vault];
    let mv = &mut m.vaults[vault];
    let owned_live = mv.owned(&lower, false);
    let owned_deleted = mv.owned(&lower, true);
    let (what, got, want) = match op {
        PlainOp::Write => {
            let got = v.set_secret(&name, SecretString::from("plain"), SecretOptions::default());
            let want = if owned_deleted || mv.deleted_secrets.contains_key(&lower) {
                Err("SecretIsDeleted")
            } else if owned_live {
                Err("Managed")
            } else {
                Ok(())
            };
            ("set secret", outcome(&got), want)
        }
        PlainOp::Update => {
            let update = SecretUpdate {
                tags: Some(tags_from(1)),
                ..SecretUpdate::default()
            };
            let got = v.update_secret(&name, None, update);
            let want = if owned_live {
                Err("Managed")
            } else if mv.secrets.contains_key(&lower) {
                Ok(())
            } else {
                Err("SecretNotFound")
            };
            ("update secret", outcome(&got), want)
        }
        PlainOp::Delete => {
            let got = v.delete_secret(&name);
            let want = if owned_live {
                Err("Managed")
            } else if mv.secrets.contains_key(&lower) {
                Ok(())
            } else {
                Err("SecretNotFound")
            };
            ("delete secret", outcome(&got), want)
        }
        PlainOp::Recover => {
            let got = v.recover_deleted_secret(&name);
            let want = if owned_deleted {
                Err("Managed")
            } else if mv.deleted_secrets.contains_key(&lower) {
                Ok(())
            } else {
                Err("DeletedSecretNotFound")
            };
            ("recover secret", outcome(&got), want)
        }
        PlainOp::Purge => {
            let got = v.purge_deleted_secret(&name);
            let want = if owned_deleted {
                Err("Managed")
            } else {
                match mv.deleted_secrets.get(&lower) {
                    None => Err("DeletedSecretNotFound"),
                    Some(s) if mv.protected && s.deletion.expect("deleted").1 > now => {
                        Err("PurgeProtected")
                    }
                    Some(_) => Ok(()),
                }
            };
            ("purge secret", outcome(&got), want)
        }
    };
    // A Managed HSM other than the default vault refuses every secret call first.
    let want = match mv.holds_certs() {
        true => want,
        false => Err("NotSupportedByVaultKind"),
    };
    let on = if owned_live || owned_deleted {
        " on a certificate's name"
    } else {
        ""
    };
    check_named(&format!("{what}{on}"), &got, want)?;
    if got == "Ok" {
        match op {
            PlainOp::Write => {
                mv.secrets.entry(lower).or_insert(MPlain {
                    name,
                    deletion: None,
                });
            }
            PlainOp::Delete => {
                let mut s = mv.secrets.remove(&lower).expect("live");
                s.deletion = Some((now, now + u64::from(mv.retention) * DAY));
                mv.deleted_secrets.insert(lower, s);
            }
            PlainOp::Recover => {
                let mut s = mv.deleted_secrets.remove(&lower).expect("deleted");
                s.deletion = None;
                mv.secrets.insert(lower, s);
            }
            PlainOp::Purge => {
                mv.deleted_secrets.remove(&lower);
            }
            PlainOp::Update => {}
        }
    }
    Ok(())
}

/// [`check_outcome`] for an outcome already named.
fn check_named(what: &str, got: &str, want: Result<(), &str>) -> Result<(), TestCaseError> {
    let want = want.err().unwrap_or("Ok");
    seen(format!("{what}: {want}"));
    if got != want {
        return Err(TestCaseError::fail(format!(
            "{what}: store gave {got}, model expects {want}"
        )));
    }
    Ok(())
}

fn run_case(steps: &[Step], memory: bool) -> Result<(), TestCaseError> {
    let ts = if memory {
        TempStore::in_memory()
    } else {
        TempStore::new()
    };
    let (store, clock) = (&ts.store, &ts.clock);
    let vaults: Vec<Vault> = VAULTS
        .iter()
        .map(|s| {
            let options = VaultOptions {
                kind: s.kind,
                retention_days: s.retention,
                purge_protection: s.protected,
            };
            create_vault(store, s.name, options)
        })
        .collect();
    let mut m = Model::new();
    compare(store, &vaults, &m)?;
    for (i, step) in steps.iter().enumerate() {
        let before = m.now - T0;
        apply(step, &vaults, clock, store, &mut m).map_err(|e| {
            TestCaseError::fail(format!("step {i} {step:?} (time T0+{before}s): {e}"))
        })?;
        compare(store, &vaults, &m).map_err(|e| {
            TestCaseError::fail(format!(
                "after step {i} {step:?} (time T0+{}s): {e}",
                m.now - T0
            ))
        })?;
    }
    // Everything survives a reopen, with the clock set back to the start.
    store
        .flush()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    drop(vaults);
    let ts = ts.reopen(T0);
    let vaults: Vec<Vault> = VAULTS
        .iter()
        .map(|s| ts.store.vault(s.name).expect("live vault"))
        .collect();
    compare(&ts.store, &vaults, &m).map_err(|e| TestCaseError::fail(format!("after reopen: {e}")))
}

#[test]
fn certificate_cascade_matches_model() {
    run_model(false);
}

/// The same model over the memory backend.
#[test]
fn certificate_cascade_matches_model_in_memory() {
    run_model(true);
}

fn run_model(memory: bool) {
    let seed: u64 = std::env::var("LOCALHSM_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xce47_0001);
    let cases: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    seed_bytes[8] = u8::from(memory);
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 1_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let result = runner.run(&prop::collection::vec(step_strategy(), 30..=60), |steps| {
        run_case(&steps, memory)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    for (what, n) in seen.iter() {
        println!("{n:7}  {what}");
    }
    // The run must reach the interesting corners, or it proves little.
    for must in [
        "create certificate: Ok",
        "create certificate: CertificateIsDeleted",
        "create certificate: KeyExists",
        "create certificate: SecretExists",
        "create certificate: BadParameter",
        "create certificate: NotSupportedByVaultKind",
        "import certificate: Ok",
        "import certificate with a wrong password: BadParameter",
        "update certificate: Ok",
        "update certificate: CertificateNotFound",
        "delete certificate: Ok",
        "delete certificate: CertificateNotFound",
        "recover certificate: Ok",
        "recover certificate: DeletedCertificateNotFound",
        "purge certificate: Ok",
        "purge certificate: PurgeProtected",
        "purge certificate: DeletedCertificateNotFound",
        "backup certificate: Ok",
        "restore certificate: Ok",
        "restore certificate: CertificateExists",
        "restore certificate: CertificateIsDeleted",
        "restore certificate backup as key: InvalidBackup",
        "restore certificate backup as secret: InvalidBackup",
        "create key on a certificate's name: Managed",
        "create key on a certificate's name: KeyIsDeleted",
        "delete key on a certificate's name: Managed",
        "recover key on a certificate's name: Managed",
        "purge key on a certificate's name: Managed",
        "set secret on a certificate's name: Managed",
        "set secret on a certificate's name: SecretIsDeleted",
        "delete secret on a certificate's name: Managed",
        "recover secret on a certificate's name: Managed",
        "purge secret on a certificate's name: Managed",
        "create certificate: KeyIsDeleted",
        "create certificate: SecretIsDeleted",
        "create key: Ok",
        "delete key: Ok",
        "set secret: Ok",
        "delete secret: Ok",
        "auto purge certificate: protected",
        "auto purge certificate: unprotected",
    ] {
        if cases >= 32 {
            assert!(seen.contains_key(must), "the run never reached {must:?}");
        }
    }
}
