//! Model test of the soft-delete lifecycle: random sequences of key, secret and vault
//! operations run against the store and against a plain in-memory model of the rules in
//! DESIGN.md ("Rules the core holds") and issue 10 (secrets), comparing after every step.
//! Keys and secrets share the pool of names, so the two kinds are proven independent on the
//! one lifecycle (a key and a secret of one name live, die and come due on their own).
//!
//! Guards against: a lifecycle rule drifting from Key Vault's (a deleted name reusable, recover
//! losing or reordering versions, purge protection bypassed, the wrong error variant), the
//! automatic purge firing early, late or not at all (exactly at the scheduled date, through the
//! lazy sweep and after the clock is set back), wrong `recoveryLevel` / `recoverableDays`
//! strings, cached key handles going stale after update / delete / recover / restore / vault
//! delete, backup + restore not bringing back every version unchanged, and state (including the
//! clock's high-water mark) not surviving a reopen. For secrets also: a value read back that
//! is not the one set (for every version, after updates, recover, restore and reopen), a
//! disabled version's value readable, `nbf` / `exp` refusing a read (they are informational
//! for secrets), the 25 KiB limit off by one, a Managed HSM vault holding secrets, a key
//! backup restoring as a secret or the other way round, and listings of secrets or versions
//! losing items across pages. Vaults of kind `vault` refuse oct keys.
//!
//! It runs twice: over the embedded sled backend and over the memory backend, so the lifecycle
//! is proven against the storage seam, not against one engine.
//!
//! Deterministic: a fixed RNG seed (override with `LOCALHSM_MODEL_SEED=<u64>`) and
//! `PROPTEST_CASES` cases (default 160).

mod support;

use std::collections::BTreeMap;
use std::sync::Mutex;

use localhsm::crypto::{
    CurveName, KeyFamily, KeyOperation, KeyType, SecretString, SignatureAlgorithm, WrapAlgorithm,
};
use localhsm::model::{
    recovery_level, KeyBundle, KeyOptions, KeyUpdate, SecretBundle, SecretOptions, SecretUpdate,
    Tags, VaultKind, VaultOptions,
};
use localhsm::{Error, KeySpec, ManualClock, Store, Vault};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use support::{all_pages, create_vault, outcome, TempStore, DAY, T0};

struct VaultSpec {
    name: &'static str,
    kind: VaultKind,
    retention: u32,
    protected: bool,
}

/// Managed HSMs: one purge-protected with the shortest retention, one without protection, one
/// with the default retention (so all four recovery levels can appear once protection is
/// switched on); none holds secrets. Then the two that do: a purge-protected vault of kind
/// `vault` (which also refuses oct keys), and a Managed HSM named `default`, which holds
/// secrets as the store's default vault does.
const VAULTS: [VaultSpec; 5] = [
    VaultSpec {
        name: "pp7",
        kind: VaultKind::ManagedHsm,
        retention: 7,
        protected: true,
    },
    VaultSpec {
        name: "plain30",
        kind: VaultKind::ManagedHsm,
        retention: 30,
        protected: false,
    },
    VaultSpec {
        name: "std90",
        kind: VaultKind::ManagedHsm,
        retention: 90,
        protected: false,
    },
    VaultSpec {
        name: "kv7",
        kind: VaultKind::Vault,
        retention: 7,
        protected: true,
    },
    VaultSpec {
        name: "default",
        kind: VaultKind::ManagedHsm,
        retention: 30,
        protected: false,
    },
];

/// Key names; `k1`/`K1` and `Key-3`/`key-3` are the same key (names are case-insensitive).
const NAMES: [&str; 6] = ["k0", "k1", "K1", "k2", "Key-3", "key-3"];

const OPS: [KeyOperation; 6] = [
    KeyOperation::Sign,
    KeyOperation::Verify,
    KeyOperation::Encrypt,
    KeyOperation::Decrypt,
    KeyOperation::WrapKey,
    KeyOperation::UnwrapKey,
];

#[derive(Debug, Clone, Copy)]
enum VSel {
    Current,
    Index(usize),
    Bogus,
}

/// Which key a step acts on: a (vault, name) pair from the fixed pools, or (more often, so
/// the interesting paths are reached) the n-th live or soft-deleted key the model knows,
/// sometimes spelled in upper case.
#[derive(Debug, Clone, Copy)]
enum Target {
    Named { vault: usize, name: usize },
    Live(usize),
    Deleted(usize),
}

#[derive(Debug, Clone)]
enum Step {
    Create {
        vault: usize,
        name: usize,
        oct: bool,
        enabled: bool,
        tags: u8,
    },
    Update {
        target: Target,
        version: VSel,
        enabled: Option<bool>,
        tags: Option<u8>,
        ops: Option<u8>,
    },
    Delete(Target),
    Recover(Target),
    Purge(Target),
    Backup(Target),
    Restore {
        vault: usize,
        blob: usize,
    },
    /// Moves the clock forward by this many seconds (0 to 100 days).
    Advance(u64),
    /// Sets the clock to a pending scheduled purge date (chosen by index) plus -1, 0 or +1 s.
    AdvanceToDue {
        which: usize,
        offset: i8,
    },
    /// Sets the clock back by this many seconds.
    ClockBack(u64),
    EnableProtection(usize),
    DisableProtection(usize),
    DeleteVault(usize),
    /// Recovers a vault: mostly a soft-deleted one (by index), else any.
    RecoverVault(usize),
    /// Purges a vault: mostly a soft-deleted one (by index), else any.
    PurgeVault(usize),
    CreateVault(usize),
    Sweep,
    /// Sets a secret: a new version. `value`, `content_type` and `validity` pick from small
    /// menus (see [`secret_value`], [`content_type_from`], [`validity_from`]), some of them
    /// refused.
    SetSecret {
        vault: usize,
        name: usize,
        value: u8,
        enabled: bool,
        tags: u8,
        content_type: u8,
        validity: u8,
    },
    /// Reads a version's value.
    GetSecret {
        target: Target,
        version: VSel,
    },
    UpdateSecret {
        target: Target,
        version: VSel,
        enabled: Option<bool>,
        tags: Option<u8>,
        content_type: Option<u8>,
        /// See [`validity_update_from`].
        validity: Option<u8>,
    },
    DeleteSecret(Target),
    RecoverSecret(Target),
    PurgeSecret(Target),
    BackupSecret(Target),
    /// Restores a secret backup (`cross`: a key backup, which must be refused).
    RestoreSecret {
        vault: usize,
        blob: usize,
        cross: bool,
    },
    /// Restores a secret backup as a key, which must be refused.
    RestoreSecretAsKey {
        vault: usize,
        blob: usize,
    },
}

fn tags_from(t: u8) -> Tags {
    if t >= 60 {
        // One more than Key Vault allows: refused.
        return (0..16)
            .map(|i| (format!("t{i}"), "x".to_string()))
            .collect();
    }
    (0..t % 4)
        .map(|i| (format!("t{i}"), format!("v{}", t / 4)))
        .collect()
}

/// Key Vault's limit on a secret value, in bytes of UTF-8.
const MAX_VALUE: usize = localhsm::model::MAX_SECRET_VALUE_BYTES;

/// A secret value: usually short Unicode text that no other set in the run uses (`n` counts
/// the sets); one in sixteen exactly Key Vault's 25 KiB limit (two-byte characters included),
/// one in sixteen a byte over it (refused).
fn secret_value(pick: u8, n: u64) -> String {
    let full = |extra: usize| {
        let mut s = format!("limit {n} ");
        while s.len() + 2 <= MAX_VALUE {
            s.push('é');
        }
        while s.len() < MAX_VALUE + extra {
            s.push('x');
        }
        s
    };
    match pick % 16 {
        15 => full(1),
        14 => full(0),
        _ => format!(
            "value {n}: pässwörd ✓ \"quoted\" \\ 🔑 {}",
            "z".repeat(usize::from(pick))
        ),
    }
}

/// A content type; one in sixteen is over the 255 characters allowed (refused).
fn content_type_from(pick: u8) -> Option<String> {
    match pick % 16 {
        0..=5 => None,
        6..=8 => Some("text/plain".into()),
        9..=11 => Some("application/x-pkcs12".into()),
        12..=14 => Some(format!("application/json; v={pick}")),
        _ => Some("t".repeat(256)),
    }
}

/// `nbf` and `exp` for a set at `now`: mostly none; some in the past or the future (secrets
/// are still readable outside them); `nbf == exp` is refused.
fn validity_from(pick: u8, now: u64) -> (Option<u64>, Option<u64>) {
    match pick % 10 {
        0..=4 => (None, None),
        5 => (Some(now - DAY), Some(now + DAY)),
        6 => (Some(now + 10 * DAY), None),
        7 => (None, Some(now - DAY)),
        8 => (Some(now - 3 * DAY), Some(now - 2 * DAY)),
        _ => (Some(now), Some(now)),
    }
}

/// Changes to `nbf` and `exp` for an update at `now` (`Some(None)` clears one); the result
/// is refused when it leaves `nbf >= exp`.
#[allow(
    clippy::type_complexity,
    reason = "the shape of SecretUpdate's two fields"
)]
fn validity_update_from(pick: u8, now: u64) -> (Option<Option<u64>>, Option<Option<u64>>) {
    match pick % 5 {
        0 => (None, Some(None)),
        1 => (Some(None), None),
        2 => (None, Some(Some(now + 5 * DAY))),
        3 => (Some(Some(now + 50 * DAY)), None),
        _ => (Some(Some(now)), Some(Some(now))),
    }
}

fn ops_from(bits: u8) -> Vec<KeyOperation> {
    OPS.iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, op)| *op)
        .collect()
}

fn target(deleted: bool) -> impl Strategy<Value = Target> {
    prop_oneof![
        1 => (0..VAULTS.len(), 0..NAMES.len()).prop_map(|(vault, name)| Target::Named { vault, name }),
        2 => any::<usize>().prop_map(move |i| if deleted { Target::Deleted(i) } else { Target::Live(i) }),
    ]
}

fn step_strategy() -> impl Strategy<Value = Step> {
    let v = || 0..VAULTS.len();
    let n = || 0..NAMES.len();
    let vsel = prop_oneof![
        3 => Just(VSel::Current),
        3 => any::<usize>().prop_map(VSel::Index),
        1 => Just(VSel::Bogus),
    ];
    prop_oneof![
        12 => (v(), n(), any::<bool>(), prop::bool::weighted(0.85), 0u8..64).prop_map(
            |(vault, name, oct, enabled, tags)| Step::Create { vault, name, oct, enabled, tags }
        ),
        6 => (
            target(false),
            vsel,
            prop::option::of(any::<bool>()),
            prop::option::of(0u8..64),
            prop::option::of(0u8..64),
        )
            .prop_map(|(target, version, enabled, tags, ops)| Step::Update {
                target,
                version,
                enabled,
                tags,
                ops
            }),
        7 => target(false).prop_map(Step::Delete),
        4 => target(true).prop_map(Step::Recover),
        4 => target(true).prop_map(Step::Purge),
        3 => target(false).prop_map(Step::Backup),
        4 => (v(), any::<usize>()).prop_map(|(vault, blob)| Step::Restore { vault, blob }),
        4 => (0..2 * DAY).prop_map(Step::Advance),
        2 => (0..=100 * DAY).prop_map(Step::Advance),
        3 => (any::<usize>(), -1i8..=1).prop_map(|(which, offset)| Step::AdvanceToDue { which, offset }),
        1 => (0..=40 * DAY).prop_map(Step::ClockBack),
        1 => v().prop_map(Step::EnableProtection),
        1 => v().prop_map(Step::DisableProtection),
        1 => v().prop_map(Step::DeleteVault),
        2 => any::<usize>().prop_map(Step::RecoverVault),
        2 => any::<usize>().prop_map(Step::PurgeVault),
        2 => v().prop_map(Step::CreateVault),
        1 => Just(Step::Sweep),
    ]
}

/// A vault for a secret step: mostly one that holds secrets (`kv7`, `default`), so that the
/// lifecycle is reached more often than the refusal.
fn secret_vault() -> impl Strategy<Value = usize> + Clone {
    let holding: Vec<usize> = (0..VAULTS.len())
        .filter(|&i| VAULTS[i].kind == VaultKind::Vault || VAULTS[i].name == "default")
        .collect();
    prop_oneof![
        1 => 0..VAULTS.len(),
        2 => prop::sample::select(holding),
    ]
}

/// [`target`] for a secret step.
fn secret_target(deleted: bool) -> impl Strategy<Value = Target> {
    prop_oneof![
        1 => (secret_vault(), 0..NAMES.len()).prop_map(|(vault, name)| Target::Named { vault, name }),
        2 => any::<usize>().prop_map(move |i| if deleted { Target::Deleted(i) } else { Target::Live(i) }),
    ]
}

fn secret_step_strategy() -> impl Strategy<Value = Step> {
    let v = secret_vault;
    let vsel = || {
        prop_oneof![
            3 => Just(VSel::Current),
            3 => any::<usize>().prop_map(VSel::Index),
            1 => Just(VSel::Bogus),
        ]
    };
    prop_oneof![
        12 => (v(), 0..NAMES.len(), any::<u8>(), prop::bool::weighted(0.8), 0u8..64, any::<u8>(), any::<u8>())
            .prop_map(|(vault, name, value, enabled, tags, content_type, validity)| Step::SetSecret {
                vault, name, value, enabled, tags, content_type, validity
            }),
        6 => (secret_target(false), vsel()).prop_map(|(target, version)| Step::GetSecret { target, version }),
        6 => (
            secret_target(false),
            vsel(),
            prop::option::of(any::<bool>()),
            prop::option::of(0u8..64),
            prop::option::of(any::<u8>()),
            prop::option::of(any::<u8>()),
        )
            .prop_map(|(target, version, enabled, tags, content_type, validity)| Step::UpdateSecret {
                target, version, enabled, tags, content_type, validity
            }),
        7 => secret_target(false).prop_map(Step::DeleteSecret),
        4 => secret_target(true).prop_map(Step::RecoverSecret),
        4 => secret_target(true).prop_map(Step::PurgeSecret),
        3 => secret_target(false).prop_map(Step::BackupSecret),
        4 => (v(), any::<usize>(), prop::bool::weighted(0.15))
            .prop_map(|(vault, blob, cross)| Step::RestoreSecret { vault, blob, cross }),
        1 => (v(), any::<usize>()).prop_map(|(vault, blob)| Step::RestoreSecretAsKey { vault, blob }),
    ]
}

/// Key, vault and clock steps, and secret steps, in about equal measure.
fn any_step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => step_strategy(),
        4 => secret_step_strategy(),
    ]
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct MVersion {
    id: String,
    kty: KeyType,
    enabled: bool,
    tags: Tags,
    key_ops: Vec<KeyOperation>,
    created: u64,
    updated: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct MKey {
    /// The name as first created (or as in the backup it was restored from).
    name: String,
    versions: Vec<MVersion>,
    /// (deleted date, scheduled purge date) while soft-deleted.
    deletion: Option<(u64, u64)>,
}

impl MKey {
    /// The version `id` names, or the current one.
    fn version(&self, id: Option<&str>) -> Option<&MVersion> {
        match id {
            None => self.versions.last(),
            Some(id) => self.versions.iter().find(|v| v.id == id),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct MSecretVersion {
    id: String,
    value: String,
    content_type: Option<String>,
    enabled: bool,
    not_before: Option<u64>,
    expires: Option<u64>,
    tags: Tags,
    created: u64,
    updated: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct MSecret {
    /// The name as first set (or as in the backup it was restored from).
    name: String,
    versions: Vec<MSecretVersion>,
    /// (deleted date, scheduled purge date) while soft-deleted.
    deletion: Option<(u64, u64)>,
}

impl MSecret {
    /// The version `id` names, or the current one.
    fn version(&self, id: Option<&str>) -> Option<&MSecretVersion> {
        match id {
            None => self.versions.last(),
            Some(id) => self.versions.iter().find(|v| v.id == id),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VState {
    Live,
    Deleted { deleted: u64, purge: u64 },
    Gone,
}

#[derive(Debug, Clone)]
struct MVault {
    name: &'static str,
    kind: VaultKind,
    retention: u32,
    protected: bool,
    created: u64,
    state: VState,
    /// Lowercase name -> key.
    live: BTreeMap<String, MKey>,
    deleted: BTreeMap<String, MKey>,
    /// Lowercase name -> secret.
    secrets: BTreeMap<String, MSecret>,
    deleted_secrets: BTreeMap<String, MSecret>,
}

impl MVault {
    /// Forgets every object: the vault was purged.
    fn clear(&mut self) {
        self.live.clear();
        self.deleted.clear();
        self.secrets.clear();
        self.deleted_secrets.clear();
    }

    /// What any call on the vault's keys gives first: `VaultNotFound` unless it is live.
    fn must_be_live(&self) -> Result<(), &'static str> {
        match self.state {
            VState::Live => Ok(()),
            _ => Err("VaultNotFound"),
        }
    }

    /// What a call on live key `lower` gives first: the vault's answer, then `KeyNotFound`.
    fn must_have_live(&self, lower: &str) -> Result<(), &'static str> {
        self.must_be_live()?;
        match self.live.contains_key(lower) {
            true => Ok(()),
            false => Err("KeyNotFound"),
        }
    }

    /// What creating key `lower` gives when a soft-deleted key holds the name: `KeyIsDeleted`.
    fn must_not_be_deleted(&self, lower: &str) -> Result<(), &'static str> {
        match self.deleted.contains_key(lower) {
            true => Err("KeyIsDeleted"),
            false => Ok(()),
        }
    }

    /// What any call on the vault's secrets gives first: `VaultNotFound` unless it is live,
    /// then `NotSupportedByVaultKind` unless it holds secrets (kind `vault`, or the vault
    /// named `default`).
    fn must_hold_secrets(&self) -> Result<(), &'static str> {
        self.must_be_live()?;
        match self.kind == VaultKind::Vault || self.name == "default" {
            true => Ok(()),
            false => Err("NotSupportedByVaultKind"),
        }
    }

    /// What a call on live secret `lower` gives first: the vault's answer, then
    /// `SecretNotFound`.
    fn must_have_secret(&self, lower: &str) -> Result<(), &'static str> {
        self.must_hold_secrets()?;
        match self.secrets.contains_key(lower) {
            true => Ok(()),
            false => Err("SecretNotFound"),
        }
    }

    /// What a call on soft-deleted secret `lower` gives first: the vault's answer, then
    /// `DeletedSecretNotFound`.
    fn must_have_deleted_secret(&self, lower: &str) -> Result<(), &'static str> {
        self.must_hold_secrets()?;
        match self.deleted_secrets.contains_key(lower) {
            true => Ok(()),
            false => Err("DeletedSecretNotFound"),
        }
    }

    /// What a call on soft-deleted key `lower` gives first: the vault's answer, then
    /// `DeletedKeyNotFound`.
    fn must_have_deleted(&self, lower: &str) -> Result<(), &'static str> {
        self.must_be_live()?;
        match self.deleted.contains_key(lower) {
            true => Ok(()),
            false => Err("DeletedKeyNotFound"),
        }
    }
}

struct Model {
    /// The store's time: the highest clock value it has seen.
    now: u64,
    /// What the manual clock reads.
    clock: u64,
    vaults: Vec<MVault>,
    /// Backup blobs with the key they hold.
    blobs: Vec<(Vec<u8>, MKey)>,
    /// Secret backup blobs with the secret they hold.
    secret_blobs: Vec<(Vec<u8>, MSecret)>,
    /// How many secret values have been made, so each is new.
    values: u64,
}

impl Model {
    fn new() -> Self {
        Model {
            now: T0,
            clock: T0,
            vaults: VAULTS
                .iter()
                .map(|s| MVault {
                    name: s.name,
                    kind: s.kind,
                    retention: s.retention,
                    protected: s.protected,
                    created: T0,
                    state: VState::Live,
                    live: BTreeMap::new(),
                    deleted: BTreeMap::new(),
                    secrets: BTreeMap::new(),
                    deleted_secrets: BTreeMap::new(),
                })
                .collect(),
            blobs: Vec::new(),
            secret_blobs: Vec::new(),
            values: 0,
        }
    }

    fn set_clock(&mut self, clock: &ManualClock, t: u64) {
        self.clock = t;
        clock.set(t);
        self.now = self.now.max(t);
        self.sweep();
    }

    /// What the store's sweep does: purge every deleted key and vault whose date has come.
    fn sweep(&mut self) {
        let now = self.now;
        for v in &mut self.vaults {
            v.deleted.retain(|_, k| {
                let (_, purge) = k.deletion.expect("deleted");
                if purge <= now {
                    seen(if purge == now {
                        "auto purge key: at the date"
                    } else {
                        "auto purge key: after the date"
                    });
                    seen(if v.protected {
                        "auto purge key: protected"
                    } else {
                        "auto purge key: unprotected"
                    });
                }
                purge > now
            });
            v.deleted_secrets.retain(|_, k| {
                let (_, purge) = k.deletion.expect("deleted");
                if purge <= now {
                    seen(if purge == now {
                        "auto purge secret: at the date"
                    } else {
                        "auto purge secret: after the date"
                    });
                    seen(if v.protected {
                        "auto purge secret: protected"
                    } else {
                        "auto purge secret: unprotected"
                    });
                }
                purge > now
            });
            if let VState::Deleted { purge, .. } = v.state {
                if purge <= now {
                    seen(if purge == now {
                        "auto purge vault: at the date"
                    } else {
                        "auto purge vault: after the date"
                    });
                    if !v.live.is_empty() || !v.deleted.is_empty() {
                        seen("auto purge vault: with keys");
                    }
                    if !v.secrets.is_empty() || !v.deleted_secrets.is_empty() {
                        seen("auto purge vault: with secrets");
                    }
                    v.state = VState::Gone;
                    v.clear();
                }
            }
        }
    }

    fn pending_dates(&self) -> Vec<u64> {
        let mut dates = Vec::new();
        for v in &self.vaults {
            if let VState::Deleted { purge, .. } = v.state {
                dates.push(purge);
            }
            dates.extend(v.deleted.values().map(|k| k.deletion.expect("deleted").1));
            dates.extend(
                v.deleted_secrets
                    .values()
                    .map(|k| k.deletion.expect("deleted").1),
            );
        }
        dates.sort_unstable();
        dates.dedup();
        dates
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
        // Operations, not the cross-checks in `compare`.
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

fn check_bundle(
    ctx: &str,
    b: &KeyBundle,
    vault: &MVault,
    key: &MKey,
    v: &MVersion,
    is_current: bool,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(&b.vault, vault.name, "{}: vault", ctx);
    prop_assert_eq!(&b.name, &key.name, "{}: name", ctx);
    prop_assert_eq!(&b.version, &v.id, "{}: version", ctx);
    prop_assert_eq!(b.kty, v.kty, "{}: kty", ctx);
    prop_assert_eq!(b.attributes.enabled, v.enabled, "{}: enabled", ctx);
    prop_assert_eq!(&b.tags, &v.tags, "{}: tags", ctx);
    prop_assert_eq!(&b.key_ops, &v.key_ops, "{}: key_ops", ctx);
    prop_assert_eq!(b.attributes.created, v.created, "{}: created", ctx);
    prop_assert_eq!(b.attributes.updated, v.updated, "{}: updated", ctx);
    prop_assert_eq!(
        b.attributes.recovery_level.as_str(),
        recovery_level(vault.retention, vault.protected),
        "{}: recoveryLevel",
        ctx
    );
    prop_assert_eq!(
        b.attributes.recoverable_days,
        vault.retention,
        "{}: recoverableDays",
        ctx
    );
    prop_assert_eq!(b.is_current, is_current, "{}: is_current", ctx);
    Ok(())
}

/// [`check_bundle`] for the current version of `key`.
fn check_current(
    ctx: &str,
    b: &KeyBundle,
    vault: &MVault,
    key: &MKey,
) -> Result<(), TestCaseError> {
    let current = key.versions.last().expect("a key has a version");
    check_bundle(ctx, b, vault, key, current, true)
}

/// A secret bundle against the model's version. `with_value`: the bundle carries the value
/// (set and get), else it must carry none (lists, updates, deleted bundles).
fn check_secret_bundle(
    ctx: &str,
    b: &SecretBundle,
    vault: &MVault,
    secret: &MSecret,
    v: &MSecretVersion,
    is_current: bool,
    with_value: bool,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(&b.vault, vault.name, "{}: vault", ctx);
    prop_assert_eq!(&b.name, &secret.name, "{}: name", ctx);
    prop_assert_eq!(&b.version, &v.id, "{}: version", ctx);
    match (&b.value, with_value) {
        (Some(got), true) => prop_assert!(
            got.expose() == v.value,
            "{}: value read back is not the value set ({} bytes, expected {})",
            ctx,
            got.len(),
            v.value.len()
        ),
        (None, false) => {}
        (got, _) => {
            return Err(TestCaseError::fail(format!(
                "{ctx}: value present {} where {with_value} was expected",
                got.is_some()
            )))
        }
    }
    prop_assert_eq!(&b.content_type, &v.content_type, "{}: contentType", ctx);
    prop_assert_eq!(b.attributes.enabled, v.enabled, "{}: enabled", ctx);
    prop_assert_eq!(b.attributes.not_before, v.not_before, "{}: nbf", ctx);
    prop_assert_eq!(b.attributes.expires, v.expires, "{}: exp", ctx);
    prop_assert_eq!(&b.tags, &v.tags, "{}: tags", ctx);
    prop_assert_eq!(b.attributes.created, v.created, "{}: created", ctx);
    prop_assert_eq!(b.attributes.updated, v.updated, "{}: updated", ctx);
    prop_assert_eq!(
        b.attributes.recovery_level.as_str(),
        recovery_level(vault.retention, vault.protected),
        "{}: recoveryLevel",
        ctx
    );
    prop_assert_eq!(
        b.attributes.recoverable_days,
        vault.retention,
        "{}: recoverableDays",
        ctx
    );
    prop_assert!(!b.managed, "{}: managed", ctx);
    prop_assert_eq!(b.is_current, is_current, "{}: is_current", ctx);
    Ok(())
}

/// Every secret of a live vault that holds them: listed two a page, each version listed
/// two a page, each version's value read back (or refused, when disabled); deleted secrets
/// with their dates.
fn compare_secrets(ctx: &str, vault: &Vault, mv: &MVault) -> Result<(), TestCaseError> {
    let err = |e: Error| TestCaseError::fail(format!("{ctx}: secret listing failed: {e}"));
    if mv.must_hold_secrets().is_err() {
        check_outcome(
            &format!("{ctx}: list_secrets where secrets are not held"),
            &vault.list_secrets(2, None),
            Err("NotSupportedByVaultKind"),
        )?;
        prop_assert!(mv.secrets.is_empty() && mv.deleted_secrets.is_empty());
        return Ok(());
    }
    let listed = all_pages(|next| vault.list_secrets(2, next)).map_err(err)?;
    prop_assert_eq!(
        listed.iter().map(|b| b.name.clone()).collect::<Vec<_>>(),
        mv.secrets
            .values()
            .map(|k| k.name.clone())
            .collect::<Vec<_>>(),
        "{}: live secrets",
        ctx
    );
    for (b, secret) in listed.iter().zip(mv.secrets.values()) {
        let c = format!("{ctx}/{} listed secret", secret.name);
        let cur = secret.versions.last().expect("a secret has a version");
        check_secret_bundle(&c, b, mv, secret, cur, true, false)?;
        let versions =
            all_pages(|next| vault.list_secret_versions(&secret.name, 2, next)).map_err(err)?;
        prop_assert_eq!(
            versions
                .iter()
                .map(|b| b.version.clone())
                .collect::<Vec<_>>(),
            secret
                .versions
                .iter()
                .map(|v| v.id.clone())
                .collect::<Vec<_>>(),
            "{}/{}: secret versions",
            ctx,
            &secret.name
        );
        let n = secret.versions.len();
        for (i, (b, v)) in versions.iter().zip(&secret.versions).enumerate() {
            let c = format!("{ctx}/{}/{} secret", secret.name, v.id);
            check_secret_bundle(&c, b, mv, secret, v, i + 1 == n, false)?;
            let got = vault.get_secret(&secret.name, Some(&v.id));
            let want = match v.enabled {
                true => Ok(()),
                false => Err("SecretDisabled"),
            };
            check_outcome(&format!("{c}: get"), &got, want)?;
            if let Ok(b) = got {
                check_secret_bundle(&c, &b, mv, secret, v, i + 1 == n, true)?;
            }
            let props = vault
                .get_secret_properties(&secret.name, Some(&v.id))
                .map_err(err)?;
            check_secret_bundle(&c, &props, mv, secret, v, i + 1 == n, false)?;
        }
    }
    let deleted = all_pages(|next| vault.list_deleted_secrets(2, next)).map_err(err)?;
    prop_assert_eq!(
        deleted
            .iter()
            .map(|d| (
                d.secret.name.clone(),
                d.deletion.deleted_date,
                d.deletion.scheduled_purge_date
            ))
            .collect::<Vec<_>>(),
        mv.deleted_secrets
            .values()
            .map(|k| {
                let (d, p) = k.deletion.expect("deleted");
                (k.name.clone(), d, p)
            })
            .collect::<Vec<_>>(),
        "{}: deleted secrets",
        ctx
    );
    for (d, secret) in deleted.iter().zip(mv.deleted_secrets.values()) {
        let c = format!("{ctx}/{} deleted secret", secret.name);
        let cur = secret.versions.last().expect("a secret has a version");
        check_secret_bundle(&c, &d.secret, mv, secret, cur, true, false)?;
        let got = vault.get_deleted_secret(&secret.name).map_err(err)?;
        prop_assert_eq!(got.deletion, d.deletion);
        check_secret_bundle(&c, &got.secret, mv, secret, cur, true, false)?;
        check_outcome(
            &format!("{c}: get"),
            &vault.get_secret(&secret.name, None),
            Err("SecretNotFound"),
        )?;
    }
    Ok(())
}

/// Uses a key version through a (possibly cached) handle and checks enabled and key_ops are
/// enforced as the model says.
fn check_handle(ctx: &str, vault: &Vault, key: &MKey, v: &MVersion) -> Result<(), TestCaseError> {
    let h = vault
        .key(&key.name, Some(&v.id))
        .map_err(|e| TestCaseError::fail(format!("{ctx}: handle: {e}")))?;
    prop_assert_eq!(h.version(), v.id.as_str(), "{}: handle version", ctx);
    prop_assert_eq!(h.name(), key.name.as_str(), "{}: handle name", ctx);
    let (op, got) = match v.kty.family() {
        localhsm::crypto::KeyFamily::Oct => (
            KeyOperation::WrapKey,
            outcome(&h.wrap_key(WrapAlgorithm::A256Kw, &[7u8; 16])),
        ),
        _ => (
            KeyOperation::Sign,
            outcome(&h.sign(SignatureAlgorithm::ES256, &[1u8; 32])),
        ),
    };
    let want = if !v.enabled {
        "KeyDisabled"
    } else if !v.key_ops.contains(&op) {
        "OperationNotPermitted"
    } else {
        "Ok"
    };
    prop_assert_eq!(got.as_str(), want, "{}: {:?} through a handle", ctx, op);
    Ok(())
}

fn compare(store: &Store, vaults: &[Option<Vault>], m: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(store.now(), m.now, "store time");
    let err = |e: Error| TestCaseError::fail(format!("listing failed: {e}"));
    let live: Vec<(String, u32, bool)> = store
        .list_vaults()
        .map_err(err)?
        .into_iter()
        .map(|i| (i.name, i.retention_days, i.purge_protection))
        .collect();
    let deleted: Vec<(String, Option<u64>, Option<u64>)> = store
        .list_deleted_vaults()
        .map_err(err)?
        .into_iter()
        .map(|i| (i.name, i.deleted_date, i.scheduled_purge_date))
        .collect();
    let mut want_live = Vec::new();
    let mut want_deleted = Vec::new();
    for v in &m.vaults {
        match v.state {
            VState::Live => want_live.push((v.name.to_string(), v.retention, v.protected)),
            VState::Deleted { deleted, purge } => {
                want_deleted.push((v.name.to_string(), Some(deleted), Some(purge)))
            }
            VState::Gone => {}
        }
    }
    want_live.sort();
    want_deleted.sort();
    prop_assert_eq!(live, want_live, "live vaults");
    prop_assert_eq!(deleted, want_deleted, "deleted vaults");

    for (mv, vault) in m.vaults.iter().zip(vaults) {
        let ctx = mv.name;
        match mv.state {
            VState::Live => {}
            VState::Deleted { deleted, purge } => {
                let info = store.vault_info(mv.name).map_err(err)?;
                prop_assert_eq!(info.deleted_date, Some(deleted));
                prop_assert_eq!(info.scheduled_purge_date, Some(purge));
                if let Some(vault) = vault {
                    check_outcome(
                        &format!("{ctx}: list_keys on a deleted vault"),
                        &vault.list_keys(10, None),
                        Err("VaultNotFound"),
                    )?;
                    check_outcome(
                        &format!("{ctx}: list_secrets on a deleted vault"),
                        &vault.list_secrets(10, None),
                        Err("VaultNotFound"),
                    )?;
                }
                continue;
            }
            VState::Gone => {
                check_outcome(
                    &format!("{ctx}: vault_info of a purged vault"),
                    &store.vault_info(mv.name),
                    Err("VaultNotFound"),
                )?;
                continue;
            }
        }
        let Some(vault) = vault else {
            return Err(TestCaseError::fail(format!(
                "{ctx}: live, but no Vault value"
            )));
        };
        let info = store.vault_info(mv.name).map_err(err)?;
        prop_assert_eq!(info.purge_protection, mv.protected, "{}: protection", ctx);
        prop_assert_eq!(info.retention_days, mv.retention);
        prop_assert_eq!(info.created, mv.created, "{}: vault created", ctx);

        // Live keys, two per page, in name order; each the current (newest) version.
        let listed = all_pages(|next| vault.list_keys(2, next)).map_err(err)?;
        prop_assert_eq!(
            listed.iter().map(|b| b.name.clone()).collect::<Vec<_>>(),
            mv.live.values().map(|k| k.name.clone()).collect::<Vec<_>>(),
            "{}: live keys",
            ctx
        );
        for (b, key) in listed.iter().zip(mv.live.values()) {
            let cur = key.versions.last().expect("a key has a version");
            check_bundle(&format!("{ctx}/{} listed", key.name), b, mv, key, cur, true)?;
            let versions = vault.list_versions(&key.name, 100, None).map_err(err)?;
            prop_assert_eq!(
                versions
                    .items
                    .iter()
                    .map(|b| b.version.clone())
                    .collect::<Vec<_>>(),
                key.versions
                    .iter()
                    .map(|v| v.id.clone())
                    .collect::<Vec<_>>(),
                "{}/{}: versions",
                ctx,
                &key.name
            );
            for (i, (b, v)) in versions.items.iter().zip(&key.versions).enumerate() {
                let c = format!("{ctx}/{}/{}", key.name, v.id);
                check_bundle(&c, b, mv, key, v, i + 1 == key.versions.len())?;
                check_handle(&c, vault, key, v)?;
            }
            let cur_handle = vault.key(&key.name, None).map_err(err)?;
            prop_assert_eq!(
                cur_handle.version(),
                cur.id.as_str(),
                "{}: current handle",
                ctx
            );
        }

        // Deleted keys with their dates.
        let deleted = vault.list_deleted_keys(100, None).map_err(err)?;
        prop_assert_eq!(
            deleted
                .items
                .iter()
                .map(|d| (
                    d.key.name.clone(),
                    d.deletion.deleted_date,
                    d.deletion.scheduled_purge_date
                ))
                .collect::<Vec<_>>(),
            mv.deleted
                .values()
                .map(|k| {
                    let (d, p) = k.deletion.expect("deleted");
                    (k.name.clone(), d, p)
                })
                .collect::<Vec<_>>(),
            "{}: deleted keys",
            ctx
        );
        for (d, key) in deleted.items.iter().zip(mv.deleted.values()) {
            check_current(&format!("{ctx}/{} deleted", key.name), &d.key, mv, key)?;
            let got = vault.get_deleted_key(&key.name).map_err(err)?;
            prop_assert_eq!(got.deletion, d.deletion);
            check_outcome(
                &format!("{ctx}/{}: handle of a deleted key", key.name),
                &vault.key(&key.name, None),
                Err("KeyNotFound"),
            )?;
            check_outcome(
                &format!("{ctx}/{}: get of a deleted key", key.name),
                &vault.get_key(&key.name, None),
                Err("KeyNotFound"),
            )?;
        }

        compare_secrets(ctx, vault, mv)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Running a step against both
// ---------------------------------------------------------------------------------------------

/// Mostly the n-th soft-deleted vault, when there is one; else the n-th vault.
fn deleted_vault(m: &Model, i: usize) -> usize {
    let deleted: Vec<usize> = (0..m.vaults.len())
        .filter(|&v| matches!(m.vaults[v].state, VState::Deleted { .. }))
        .collect();
    if i % 4 != 0 && !deleted.is_empty() {
        deleted[i / 4 % deleted.len()]
    } else {
        i % VAULTS.len()
    }
}

/// The vault index, the key name and its lowercase form (the model's key) that a target
/// points at in the model's current state.
fn resolve(m: &Model, target: Target) -> (usize, String, String) {
    let (vault, name) = resolve_name(m, target, false);
    let lower = name.to_ascii_lowercase();
    (vault, name, lower)
}

/// [`resolve`] for a secret: the n-th live or soft-deleted secret the model knows.
fn resolve_secret(m: &Model, target: Target) -> (usize, String, String) {
    let (vault, name) = resolve_name(m, target, true);
    let lower = name.to_ascii_lowercase();
    (vault, name, lower)
}

fn resolve_name(m: &Model, target: Target, secrets: bool) -> (usize, String) {
    let pick = |i: usize, deleted: bool| {
        let keys: Vec<(usize, &str)> = m
            .vaults
            .iter()
            .enumerate()
            .filter(|(_, v)| v.state == VState::Live)
            .flat_map(|(vi, v)| {
                let names: Vec<&str> = match (secrets, deleted) {
                    (false, false) => v.live.values().map(|k| k.name.as_str()).collect(),
                    (false, true) => v.deleted.values().map(|k| k.name.as_str()).collect(),
                    (true, false) => v.secrets.values().map(|k| k.name.as_str()).collect(),
                    (true, true) => v
                        .deleted_secrets
                        .values()
                        .map(|k| k.name.as_str())
                        .collect(),
                };
                names.into_iter().map(move |n| (vi, n))
            })
            .collect();
        match keys.get(i % keys.len().max(1)) {
            Some(&(vi, name)) if (i / 7) % 3 == 1 => (vi, name.to_ascii_uppercase()),
            Some(&(vi, name)) => (vi, name.to_string()),
            None => (i % VAULTS.len(), NAMES[i % NAMES.len()].to_string()),
        }
    };
    match target {
        Target::Named { vault, name } => (vault, NAMES[name].to_string()),
        Target::Live(i) => pick(i, false),
        Target::Deleted(i) => pick(i, true),
    }
}

fn vault_options(spec: &VaultSpec) -> VaultOptions {
    VaultOptions {
        kind: spec.kind,
        retention_days: spec.retention,
        purge_protection: spec.protected,
    }
}

/// A vault of kind `vault` refuses oct keys, created or restored.
fn kind_allows(mv: &MVault, ktys: &[KeyType]) -> Result<(), &'static str> {
    let oct = ktys.iter().any(|k| k.family() == KeyFamily::Oct);
    match mv.kind == VaultKind::Vault && oct {
        true => Err("NotSupportedByVaultKind"),
        false => Ok(()),
    }
}

fn apply(
    step: &Step,
    store: &Store,
    vaults: &[Vault],
    clock: &ManualClock,
    m: &mut Model,
) -> Result<(), TestCaseError> {
    let now = m.now;
    match *step {
        Step::Create {
            vault,
            name,
            oct,
            enabled,
            tags,
        } => {
            let (kty, spec) = if oct {
                (KeyType::OctHsm, KeySpec::Oct(256))
            } else {
                (KeyType::EcHsm, KeySpec::Ec(CurveName::P256))
            };
            let tags = tags_from(tags);
            let options = KeyOptions {
                enabled: Some(enabled),
                tags: tags.clone(),
                ..Default::default()
            };
            let name = NAMES[name];
            let got = vaults[vault].create_key(name, kty, spec, options);
            let mv = &mut m.vaults[vault];
            let lower = name.to_ascii_lowercase();
            let want = mv
                .must_be_live()
                .and_then(|()| kind_allows(mv, &[kty]))
                .and_then(|()| match tags.len() > 15 {
                    true => Err("BadParameter"),
                    false => mv.must_not_be_deleted(&lower),
                });
            check_outcome("create", &got, want)?;
            if let Ok(b) = got {
                let key = mv.live.entry(lower).or_insert_with(|| MKey {
                    name: name.to_string(),
                    versions: Vec::new(),
                    deletion: None,
                });
                prop_assert!(
                    key.versions.iter().all(|v| v.id != b.version),
                    "version id reused"
                );
                prop_assert_eq!(b.version.len(), 32);
                key.versions.push(MVersion {
                    id: b.version.clone(),
                    kty,
                    enabled,
                    tags,
                    key_ops: kty.default_ops(),
                    created: now,
                    updated: now,
                });
                let key = mv.live[&name.to_ascii_lowercase()].clone();
                let v = key.versions.last().expect("pushed");
                check_bundle("create result", &b, mv, &key, v, true)?;
            }
        }
        Step::Update {
            target,
            version,
            enabled,
            tags,
            ops,
        } => {
            let (vault, name, lower) = resolve(m, target);
            let mv = &mut m.vaults[vault];
            let key = mv.live.get(&lower);
            let version_id = match (version, key) {
                (VSel::Current, _) => None,
                (VSel::Index(i), Some(k)) => Some(k.versions[i % k.versions.len()].id.clone()),
                (VSel::Index(_), None) | (VSel::Bogus, _) => Some("0".repeat(32)),
            };
            let update = KeyUpdate {
                enabled,
                tags: tags.map(tags_from),
                key_ops: ops.map(ops_from),
                ..Default::default()
            };
            let got = vaults[vault].update_key(&name, version_id.as_deref(), update.clone());
            let target = key.and_then(|k| k.version(version_id.as_deref()));
            let want = mv.must_be_live().and_then(|()| {
                if update.tags.as_ref().is_some_and(|t| t.len() > 15) {
                    Err("BadParameter")
                } else if target.is_none() {
                    Err("KeyNotFound")
                } else {
                    Ok(())
                }
            });
            check_outcome("update", &got, want)?;
            if let Ok(b) = got {
                let key = mv.live.get_mut(&lower).expect("live");
                let n = key.versions.len();
                let idx = key
                    .versions
                    .iter()
                    .position(|v| Some(&v.id) == version_id.as_ref())
                    .unwrap_or(n - 1);
                let v = &mut key.versions[idx];
                v.enabled = update.enabled.unwrap_or(v.enabled);
                v.tags = update.tags.unwrap_or_else(|| v.tags.clone());
                v.key_ops = update.key_ops.unwrap_or_else(|| v.key_ops.clone());
                v.updated = now;
                let (key, v) = (&mv.live[&lower], &mv.live[&lower].versions[idx]);
                check_bundle("update result", &b, mv, key, v, idx + 1 == n)?;
            }
        }
        Step::Delete(target) => {
            let (vault, name, lower) = resolve(m, target);
            let got = vaults[vault].delete_key(&name);
            let mv = &mut m.vaults[vault];
            check_outcome("delete", &got, mv.must_have_live(&lower))?;
            if let Ok(d) = got {
                let mut key = mv.live.remove(&lower).expect("live");
                let dates = (now, now + u64::from(mv.retention) * DAY);
                key.deletion = Some(dates);
                prop_assert_eq!(
                    (d.deletion.deleted_date, d.deletion.scheduled_purge_date),
                    dates
                );
                check_current("delete result", &d.key, mv, &key)?;
                mv.deleted.insert(lower, key);
            }
        }
        Step::Recover(target) => {
            let (vault, name, lower) = resolve(m, target);
            let got = vaults[vault].recover_deleted_key(&name);
            let mv = &mut m.vaults[vault];
            check_outcome("recover", &got, mv.must_have_deleted(&lower))?;
            if let Ok(b) = got {
                let mut key = mv.deleted.remove(&lower).expect("deleted");
                key.deletion = None;
                check_current("recover result", &b, mv, &key)?;
                mv.live.insert(lower, key);
            }
        }
        Step::Purge(target) => {
            let (vault, name, lower) = resolve(m, target);
            let got = vaults[vault].purge_deleted_key(&name);
            let mv = &mut m.vaults[vault];
            let want = mv.must_have_deleted(&lower).and_then(|()| {
                let (_, purge) = mv.deleted[&lower].deletion.expect("deleted");
                match mv.protected && purge > now {
                    true => Err("PurgeProtected"),
                    false => Ok(()),
                }
            });
            check_outcome("purge", &got, want)?;
            if let Err(e) = &got {
                if support::error_name(e) == "PurgeProtected" {
                    prop_assert_eq!(e.wire().status, 403);
                }
            }
            if got.is_ok() {
                mv.deleted.remove(&lower);
            }
        }
        Step::Backup(target) => {
            let (vault, name, lower) = resolve(m, target);
            let got = vaults[vault].backup_key(&name);
            let mv = &m.vaults[vault];
            check_outcome("backup", &got, mv.must_have_live(&lower))?;
            if let Ok(blob) = got {
                m.blobs.push((blob, mv.live[&lower].clone()));
            }
        }
        Step::Restore { vault, blob } => {
            if m.blobs.is_empty() {
                return Ok(());
            }
            let (blob, key) = m.blobs[blob % m.blobs.len()].clone();
            let got = vaults[vault].restore_key(&blob);
            let mv = &mut m.vaults[vault];
            let lower = key.name.to_ascii_lowercase();
            let ktys: Vec<KeyType> = key.versions.iter().map(|v| v.kty).collect();
            let want = mv
                .must_be_live()
                .and_then(|()| kind_allows(mv, &ktys))
                .and_then(|()| mv.must_not_be_deleted(&lower))
                .and_then(|()| match mv.live.contains_key(&lower) {
                    true => Err("KeyExists"),
                    false => Ok(()),
                });
            check_outcome("restore", &got, want)?;
            if let Ok(b) = got {
                check_current("restore result", &b, mv, &key)?;
                mv.live.insert(lower, key);
            }
        }
        Step::Advance(secs) => {
            let t = m.clock + secs;
            m.set_clock(clock, t);
        }
        Step::AdvanceToDue { which, offset } => {
            let dates = m.pending_dates();
            if let Some(&d) = dates.get(which % dates.len().max(1)) {
                let t = d.saturating_add_signed(i64::from(offset));
                m.set_clock(clock, t);
            }
        }
        Step::ClockBack(secs) => {
            let t = m.clock.saturating_sub(secs);
            m.set_clock(clock, t);
        }
        Step::EnableProtection(vault) => {
            let got = store.enable_purge_protection(VAULTS[vault].name);
            let mv = &mut m.vaults[vault];
            check_outcome("enable purge protection", &got, mv.must_be_live())?;
            if got.is_ok() {
                mv.protected = true;
            }
        }
        Step::DisableProtection(vault) => {
            let got = store.set_purge_protection(VAULTS[vault].name, false);
            let mv = &m.vaults[vault];
            // Settings change only on a live vault, whichever way the change goes.
            let irreversible = match mv.protected {
                true => Err("PurgeProtectionIrreversible"),
                false => Ok(()),
            };
            let want = mv.must_be_live().and(irreversible);
            check_outcome("disable purge protection", &got, want)?;
        }
        Step::DeleteVault(vault) => {
            let got = store.delete_vault(VAULTS[vault].name);
            let mv = &mut m.vaults[vault];
            check_outcome("delete vault", &got, mv.must_be_live())?;
            if let Ok(info) = got {
                let (deleted, purge) = (now, now + u64::from(mv.retention) * DAY);
                prop_assert_eq!(info.deleted_date, Some(deleted));
                prop_assert_eq!(info.scheduled_purge_date, Some(purge));
                mv.state = VState::Deleted { deleted, purge };
            }
        }
        Step::RecoverVault(i) => {
            let vault = deleted_vault(m, i);
            let got = store.recover_vault(VAULTS[vault].name);
            let mv = &mut m.vaults[vault];
            let want = match mv.state {
                VState::Deleted { .. } => Ok(()),
                _ => Err("DeletedVaultNotFound"),
            };
            check_outcome("recover vault", &got, want)?;
            if got.is_ok() {
                mv.state = VState::Live;
            }
        }
        Step::PurgeVault(i) => {
            let vault = deleted_vault(m, i);
            let got = store.purge_vault(VAULTS[vault].name);
            let mv = &mut m.vaults[vault];
            let want = match mv.state {
                VState::Deleted { purge, .. } if mv.protected && purge > now => {
                    Err("PurgeProtected")
                }
                VState::Deleted { .. } => Ok(()),
                _ => Err("DeletedVaultNotFound"),
            };
            check_outcome("purge vault", &got, want)?;
            if got.is_ok() {
                mv.state = VState::Gone;
                mv.clear();
            }
        }
        Step::CreateVault(vault) => {
            let spec = &VAULTS[vault];
            let got = store.create_vault(spec.name, vault_options(spec));
            let mv = &mut m.vaults[vault];
            let want = match mv.state {
                VState::Live => Err("VaultExists"),
                VState::Deleted { .. } => Err("VaultIsDeleted"),
                VState::Gone => Ok(()),
            };
            check_outcome("create vault", &got, want)?;
            if got.is_ok() {
                mv.state = VState::Live;
                mv.protected = spec.protected;
                mv.created = now;
            }
        }
        Step::Sweep => {
            // Every store call sweeps what is due first, so an explicit sweep finds nothing.
            let report = store
                .sweep()
                .map_err(|e| TestCaseError::fail(format!("sweep: {e}")))?;
            prop_assert_eq!(report, localhsm::SweepReport::default());
        }
        _ => return apply_secret(step, vaults, m),
    }
    Ok(())
}

/// The secret steps of [`apply`].
fn apply_secret(step: &Step, vaults: &[Vault], m: &mut Model) -> Result<(), TestCaseError> {
    let now = m.now;
    match *step {
        Step::SetSecret {
            vault,
            name,
            value,
            enabled,
            tags,
            content_type,
            validity,
        } => {
            m.values += 1;
            let value = secret_value(value, m.values);
            let tags = tags_from(tags);
            let content_type = content_type_from(content_type);
            let (not_before, expires) = validity_from(validity, now);
            let options = SecretOptions {
                content_type: content_type.clone(),
                enabled: Some(enabled),
                not_before,
                expires,
                tags: tags.clone(),
            };
            let name = NAMES[name];
            let got = vaults[vault].set_secret(name, SecretString::from(value.as_str()), options);
            let mv = &mut m.vaults[vault];
            let lower = name.to_ascii_lowercase();
            let bad = value.len() > MAX_VALUE
                || content_type.as_ref().is_some_and(|c| c.len() > 255)
                || tags.len() > 15
                || not_before.zip(expires).is_some_and(|(n, e)| n >= e);
            let want = mv.must_hold_secrets().and_then(|()| {
                if bad {
                    Err("BadParameter")
                } else if mv.deleted_secrets.contains_key(&lower) {
                    Err("SecretIsDeleted")
                } else {
                    Ok(())
                }
            });
            check_outcome("set secret", &got, want)?;
            if value.len() == MAX_VALUE {
                seen(format!("set secret of exactly 25 KiB: {}", outcome(&got)));
            }
            if let Ok(b) = got {
                let secret = mv.secrets.entry(lower.clone()).or_insert_with(|| MSecret {
                    name: name.to_string(),
                    versions: Vec::new(),
                    deletion: None,
                });
                prop_assert!(
                    secret.versions.iter().all(|v| v.id != b.version),
                    "secret version id reused"
                );
                prop_assert_eq!(b.version.len(), 32);
                secret.versions.push(MSecretVersion {
                    id: b.version.clone(),
                    value,
                    content_type,
                    enabled,
                    not_before,
                    expires,
                    tags,
                    created: now,
                    updated: now,
                });
                let secret = &mv.secrets[&lower];
                let v = secret.versions.last().expect("pushed");
                check_secret_bundle("set result", &b, mv, secret, v, true, true)?;
            }
        }
        Step::GetSecret { target, version } => {
            let (vault, name, lower) = resolve_secret(m, target);
            let mv = &m.vaults[vault];
            let secret = mv.secrets.get(&lower);
            let version_id = pick_version(version, secret.map(|s| s.versions.len()), |i| {
                secret.map(|s| s.versions[i].id.clone())
            });
            let got = vaults[vault].get_secret(&name, version_id.as_deref());
            let target = secret.and_then(|s| s.version(version_id.as_deref()));
            let want = mv.must_have_secret(&lower).and(match target {
                None => Err("SecretNotFound"),
                Some(v) if !v.enabled => Err("SecretDisabled"),
                Some(_) => Ok(()),
            });
            check_outcome("get secret", &got, want)?;
            if let (Ok(b), Some(secret), Some(v)) = (got, secret, target) {
                let current = secret.versions.last().map(|c| &c.id) == Some(&v.id);
                check_secret_bundle("get result", &b, mv, secret, v, current, true)?;
                let informational =
                    v.not_before.is_some_and(|t| t > now) || v.expires.is_some_and(|t| t <= now);
                if informational {
                    seen("get secret: Ok outside nbf..exp");
                }
            }
        }
        Step::UpdateSecret {
            target,
            version,
            enabled,
            tags,
            content_type,
            validity,
        } => {
            let (vault, name, lower) = resolve_secret(m, target);
            let mv = &mut m.vaults[vault];
            let secret = mv.secrets.get(&lower);
            let version_id = pick_version(version, secret.map(|s| s.versions.len()), |i| {
                secret.map(|s| s.versions[i].id.clone())
            });
            let (not_before, expires) = validity
                .map(|p| validity_update_from(p, now))
                .unwrap_or_default();
            let update = SecretUpdate {
                content_type: content_type.and_then(content_type_from),
                enabled,
                not_before,
                expires,
                tags: tags.map(tags_from),
            };
            let got = vaults[vault].update_secret(&name, version_id.as_deref(), update.clone());
            let target = secret.and_then(|s| s.version(version_id.as_deref()));
            let bad_input = update.content_type.as_ref().is_some_and(|c| c.len() > 255)
                || update.tags.as_ref().is_some_and(|t| t.len() > 15);
            // nbf and exp are checked as they end up, after the version is found.
            let bad_validity = target.is_some_and(|v| {
                let n = update.not_before.unwrap_or(v.not_before);
                let e = update.expires.unwrap_or(v.expires);
                n.zip(e).is_some_and(|(n, e)| n >= e)
            });
            let want = mv.must_hold_secrets().and_then(|()| {
                if bad_input {
                    Err("BadParameter")
                } else if target.is_none() {
                    Err("SecretNotFound")
                } else if bad_validity {
                    Err("BadParameter")
                } else {
                    Ok(())
                }
            });
            check_outcome("update secret", &got, want)?;
            if let Ok(b) = got {
                let secret = mv.secrets.get_mut(&lower).expect("live");
                let n = secret.versions.len();
                let idx = secret
                    .versions
                    .iter()
                    .position(|v| Some(&v.id) == version_id.as_ref())
                    .unwrap_or(n - 1);
                let v = &mut secret.versions[idx];
                v.enabled = update.enabled.unwrap_or(v.enabled);
                v.not_before = update.not_before.unwrap_or(v.not_before);
                v.expires = update.expires.unwrap_or(v.expires);
                if let Some(t) = update.tags {
                    v.tags = t;
                }
                if let Some(c) = update.content_type {
                    v.content_type = Some(c);
                }
                v.updated = now;
                let secret = &mv.secrets[&lower];
                let v = &secret.versions[idx];
                check_secret_bundle("update result", &b, mv, secret, v, idx + 1 == n, false)?;
            }
        }
        Step::DeleteSecret(target) => {
            let (vault, name, lower) = resolve_secret(m, target);
            let got = vaults[vault].delete_secret(&name);
            let mv = &mut m.vaults[vault];
            check_outcome("delete secret", &got, mv.must_have_secret(&lower))?;
            if let Ok(d) = got {
                let mut secret = mv.secrets.remove(&lower).expect("live");
                let dates = (now, now + u64::from(mv.retention) * DAY);
                secret.deletion = Some(dates);
                prop_assert_eq!(
                    (d.deletion.deleted_date, d.deletion.scheduled_purge_date),
                    dates
                );
                let cur = secret.versions.last().expect("a version");
                check_secret_bundle("delete result", &d.secret, mv, &secret, cur, true, false)?;
                mv.deleted_secrets.insert(lower, secret);
            }
        }
        Step::RecoverSecret(target) => {
            let (vault, name, lower) = resolve_secret(m, target);
            let got = vaults[vault].recover_deleted_secret(&name);
            let mv = &mut m.vaults[vault];
            check_outcome("recover secret", &got, mv.must_have_deleted_secret(&lower))?;
            if let Ok(b) = got {
                let mut secret = mv.deleted_secrets.remove(&lower).expect("deleted");
                secret.deletion = None;
                let cur = secret.versions.last().expect("a version");
                check_secret_bundle("recover result", &b, mv, &secret, cur, true, false)?;
                mv.secrets.insert(lower, secret);
            }
        }
        Step::PurgeSecret(target) => {
            let (vault, name, lower) = resolve_secret(m, target);
            let got = vaults[vault].purge_deleted_secret(&name);
            let mv = &mut m.vaults[vault];
            let want = mv.must_have_deleted_secret(&lower).and_then(|()| {
                let (_, purge) = mv.deleted_secrets[&lower].deletion.expect("deleted");
                match mv.protected && purge > now {
                    true => Err("PurgeProtected"),
                    false => Ok(()),
                }
            });
            check_outcome("purge secret", &got, want)?;
            if let Err(e) = &got {
                if support::error_name(e) == "PurgeProtected" {
                    prop_assert_eq!(e.wire().status, 403);
                }
            }
            if got.is_ok() {
                mv.deleted_secrets.remove(&lower);
            }
        }
        Step::BackupSecret(target) => {
            let (vault, name, lower) = resolve_secret(m, target);
            let got = vaults[vault].backup_secret(&name);
            let mv = &m.vaults[vault];
            check_outcome("backup secret", &got, mv.must_have_secret(&lower))?;
            if let Ok(blob) = got {
                m.secret_blobs.push((blob, mv.secrets[&lower].clone()));
            }
        }
        Step::RestoreSecret { vault, blob, cross } => {
            if cross {
                // A key's backup is not a secret's, whatever it holds.
                if m.blobs.is_empty() {
                    return Ok(());
                }
                let (blob, _) = &m.blobs[blob % m.blobs.len()];
                let got = vaults[vault].restore_secret(blob);
                let mv = &m.vaults[vault];
                let want = mv.must_hold_secrets().and(Err("InvalidBackup"));
                return check_outcome("restore key backup as secret", &got, want);
            }
            if m.secret_blobs.is_empty() {
                return Ok(());
            }
            let (blob, secret) = m.secret_blobs[blob % m.secret_blobs.len()].clone();
            let got = vaults[vault].restore_secret(&blob);
            let mv = &mut m.vaults[vault];
            let lower = secret.name.to_ascii_lowercase();
            let want = mv.must_hold_secrets().and_then(|()| {
                if mv.deleted_secrets.contains_key(&lower) {
                    Err("SecretIsDeleted")
                } else if mv.secrets.contains_key(&lower) {
                    Err("SecretExists")
                } else {
                    Ok(())
                }
            });
            check_outcome("restore secret", &got, want)?;
            if let Ok(b) = got {
                let cur = secret.versions.last().expect("a version");
                check_secret_bundle("restore result", &b, mv, &secret, cur, true, false)?;
                mv.secrets.insert(lower, secret);
            }
        }
        Step::RestoreSecretAsKey { vault, blob } => {
            if m.secret_blobs.is_empty() {
                return Ok(());
            }
            let (blob, _) = &m.secret_blobs[blob % m.secret_blobs.len()];
            let got = vaults[vault].restore_key(blob);
            let want = m.vaults[vault].must_be_live().and(Err("InvalidBackup"));
            check_outcome("restore secret backup as key", &got, want)?;
        }
        _ => unreachable!("not a secret step: {step:?}"),
    }
    Ok(())
}

/// The version id a step names: none (the current one), the n-th of the object's `count`
/// versions (`id(n)`), or one that does not exist.
fn pick_version(
    version: VSel,
    count: Option<usize>,
    id: impl Fn(usize) -> Option<String>,
) -> Option<String> {
    match (version, count) {
        (VSel::Current, _) => None,
        (VSel::Index(i), Some(n)) => id(i % n),
        (VSel::Index(_), None) | (VSel::Bogus, _) => Some("0".repeat(32)),
    }
}

/// The backend a model run uses.
#[derive(Clone, Copy)]
enum On {
    Sled,
    Memory,
    Postgres,
}

fn run_case(steps: &[Step], on: On) -> Result<(), TestCaseError> {
    let ts = match on {
        On::Sled => TempStore::new(),
        On::Memory => TempStore::in_memory(),
        On::Postgres => TempStore::on_postgres().expect("checked by run_model"),
    };
    let (store, clock) = (&ts.store, &ts.clock);
    let vaults: Vec<Vault> = VAULTS
        .iter()
        .map(|s| create_vault(store, s.name, vault_options(s)))
        .collect();
    let all: Vec<Option<Vault>> = vaults.iter().cloned().map(Some).collect();
    let mut m = Model::new();
    compare(store, &all, &m)?;
    for (i, step) in steps.iter().enumerate() {
        let before = m.now - T0;
        apply(step, store, &vaults, clock, &mut m).map_err(|e| {
            TestCaseError::fail(format!("step {i} {step:?} (time T0+{before}s): {e}"))
        })?;
        compare(store, &all, &m).map_err(|e| {
            TestCaseError::fail(format!(
                "after step {i} {step:?} (time T0+{}s): {e}",
                m.now - T0
            ))
        })?;
    }
    // Everything, including the time the store has acted on, survives a reopen, even with the
    // clock set back to the start.
    store
        .flush()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    drop(all);
    drop(vaults);
    let ts = ts.reopen(T0);
    m.clock = T0;
    // `Store::vault` gives only live vaults; the others are checked through the store.
    let vaults: Vec<Option<Vault>> = VAULTS.iter().map(|s| ts.store.vault(s.name).ok()).collect();
    compare(&ts.store, &vaults, &m).map_err(|e| TestCaseError::fail(format!("after reopen: {e}")))
}

#[test]
fn lifecycle_matches_model() {
    run_model(On::Sled);
}

/// The same model over the memory backend: the lifecycle holds whatever is under the seam.
#[test]
fn lifecycle_matches_model_in_memory() {
    run_model(On::Memory);
}

/// And over PostgreSQL (the cluster `LOCALHSM_TEST_POSTGRES` names; a database per case),
/// with fewer cases: each step is many round trips.
#[test]
fn lifecycle_matches_model_on_postgres() {
    if support::postgres::fresh_database().is_none() {
        return;
    }
    run_model(On::Postgres);
}

fn run_model(on: On) {
    let seed: u64 = std::env::var("LOCALHSM_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x10ca_15e5_0001);
    let cases: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(match on {
            On::Postgres => 24,
            _ => 160,
        });
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let result = runner.run(
        &prop::collection::vec(any_step_strategy(), 40..=80),
        |steps| run_case(&steps, on),
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    let seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    for (what, n) in seen.iter() {
        println!("{n:7}  {what}");
    }
    // The run must reach the interesting corners, or it proves little.
    for must in [
        "create: Ok",
        "create: KeyIsDeleted",
        "create: BadParameter",
        "create: VaultNotFound",
        "update: Ok",
        "update: KeyNotFound",
        "delete: Ok",
        "delete: KeyNotFound",
        "recover: Ok",
        "recover: DeletedKeyNotFound",
        "purge: Ok",
        "purge: PurgeProtected",
        "purge: DeletedKeyNotFound",
        "backup: Ok",
        "restore: Ok",
        "restore: KeyExists",
        "restore: KeyIsDeleted",
        "enable purge protection: Ok",
        "disable purge protection: PurgeProtectionIrreversible",
        "delete vault: Ok",
        "recover vault: Ok",
        "purge vault: Ok",
        "purge vault: PurgeProtected",
        "create vault: Ok",
        "create vault: VaultIsDeleted",
        "auto purge key: at the date",
        "auto purge key: after the date",
        "auto purge key: protected",
        "auto purge key: unprotected",
        "auto purge vault: at the date",
        "auto purge vault: with keys",
        "create: NotSupportedByVaultKind",
        "restore: NotSupportedByVaultKind",
        "set secret: Ok",
        "set secret: SecretIsDeleted",
        "set secret: BadParameter",
        "set secret: NotSupportedByVaultKind",
        "set secret: VaultNotFound",
        "set secret of exactly 25 KiB: Ok",
        "get secret: Ok",
        "get secret: Ok outside nbf..exp",
        "get secret: SecretDisabled",
        "get secret: SecretNotFound",
        "update secret: Ok",
        "update secret: BadParameter",
        "update secret: SecretNotFound",
        "delete secret: Ok",
        "delete secret: SecretNotFound",
        "recover secret: Ok",
        "recover secret: DeletedSecretNotFound",
        "purge secret: Ok",
        "purge secret: PurgeProtected",
        "purge secret: DeletedSecretNotFound",
        "backup secret: Ok",
        "restore secret: Ok",
        "restore secret: SecretExists",
        "restore secret: SecretIsDeleted",
        "restore key backup as secret: InvalidBackup",
        "restore secret backup as key: InvalidBackup",
        "auto purge secret: at the date",
        "auto purge secret: after the date",
        "auto purge secret: protected",
        "auto purge secret: unprotected",
        "auto purge vault: with secrets",
    ] {
        if cases >= 100 {
            assert!(seen.contains_key(must), "the run never reached {must:?}");
        }
    }
}
