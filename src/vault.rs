//! The store and its vaults, as a library user holds them: [`Store`] (opened over a
//! backend, with the master key) and [`Vault`] (one vault, for a caller).
//!
//! Layer: objects. Imports the lifecycle, the storage layer (to open a backend) and the base
//! layer, and [`crate::handle`]'s cache. Each kind of object adds its operations to
//! [`Vault`] in its own module ([`crate::keys`]); access control plugs in through the
//! `Authorizer` trait, which [`crate::rbac`] implements. Every `Vault` operation asks its
//! authorizer first; a vault from [`Store::vault`] has none (the trusted local user).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::clock::{Clock, SystemClock, UnixTime};
use crate::error::{Error, ObjectKind, Result};
use crate::handle::HandleCache;
use crate::lifecycle::objects::Objects;
use crate::lifecycle::records::{vault_prefix, VaultRecord};
use crate::lifecycle::{Core, SweepReport};
use crate::model::access::{AccessPolicy, DataAction, Grant};
use crate::model::{Caller, TokenPins, VaultInfo, VaultKind, VaultOptions};
use crate::store::{
    Backend, Change, MasterKeySource, RestoreReport, RestoreStep, SledBackend, Storage, StoreLock,
    Table,
};

/// Most random bytes one `/rng` call returns, as Managed HSM limits it.
pub const MAX_RANDOM_BYTES: usize = 128;

/// Where a store keeps its data.
enum Location {
    /// A data directory with the embedded sled database (and the master key file).
    Dir(PathBuf),
    /// A backend the caller opened.
    Backend(Arc<dyn Backend>),
}

/// Opens a [`Store`] with settings other than the defaults.
pub struct StoreBuilder {
    location: Location,
    master_key: MasterKeySource,
    clock: Arc<dyn Clock>,
    defer_flush: bool,
}

impl StoreBuilder {
    fn new(location: Location) -> Self {
        Self {
            location,
            master_key: MasterKeySource::Default,
            clock: Arc::new(SystemClock),
            defer_flush: false,
        }
    }

    /// Where the master key comes from. Default: [`MasterKeySource::Default`].
    pub fn master_key(&mut self, source: MasterKeySource) -> &mut Self {
        self.master_key = source;
        self
    }

    /// The clock. Default: [`SystemClock`].
    pub fn clock(&mut self, clock: Arc<dyn Clock>) -> &mut Self {
        self.clock = clock;
        self
    }

    /// For bulk loads only (building a large store for a benchmark or a migration): when
    /// `true`, a change is **not** flushed to disk before its call returns. Changes reach
    /// the disk at [`Store::flush`], at the backend's periodic background flush, or when
    /// the last clone of the store is dropped; a crash before then can lose any of them.
    /// Multi-record changes stay atomic. Default: `false`, every acknowledged change is on
    /// disk before the call returns.
    pub fn defer_flush(&mut self, defer: bool) -> &mut Self {
        self.defer_flush = defer;
        self
    }

    /// Opens (or creates) the store.
    pub fn open(&mut self) -> Result<Store> {
        let source = std::mem::replace(&mut self.master_key, MasterKeySource::Default);
        let (backend, dir): (Arc<dyn Backend>, Option<&Path>) = match &self.location {
            Location::Dir(dir) => {
                crate::store::refuse_missing_key_file(
                    &source,
                    dir,
                    &dir.join(crate::store::DB_DIR),
                )?;
                crate::store::refuse_lost_database(dir)?;
                (Arc::new(SledBackend::open(dir)?), Some(dir))
            }
            Location::Backend(b) => (b.clone(), None),
        };
        let (storage, high_water) = Storage::open(backend.clone(), source, dir, self.defer_flush)?;
        let core = Core::open(storage, high_water, self.clock.clone())?;
        let store = Store {
            shared: Arc::new(Shared {
                core,
                handles: HandleCache::default(),
                access: RwLock::new(Arc::new(AccessPolicy::default())),
            }),
        };
        if backend.shared() {
            // Weak: the backend (and its thread) must not keep the store alive.
            let shared = Arc::downgrade(&store.shared);
            backend.watch(Arc::new(move |change| {
                if let Some(shared) = shared.upgrade() {
                    Store { shared }.follow(change);
                }
            }));
        }
        Ok(store)
    }
}

/// What the store, its vaults and their handles share.
pub(crate) struct Shared {
    pub(crate) core: Core,
    pub(crate) handles: HandleCache,
    access: RwLock<Arc<AccessPolicy>>,
}

/// A key store. Cheap to clone; all clones share one backend.
///
/// Every acknowledged change is durable before the call returns.
#[derive(Clone)]
pub struct Store {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("storage", &self.shared.core.storage)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store in the data directory `dir` (the embedded sled
    /// database) with the system clock.
    pub fn open(dir: impl AsRef<Path>, master_key: MasterKeySource) -> Result<Self> {
        Self::builder(dir).master_key(master_key).open()
    }

    /// A builder for a store in the data directory `dir`.
    pub fn builder(dir: impl AsRef<Path>) -> StoreBuilder {
        StoreBuilder::new(Location::Dir(dir.as_ref().to_path_buf()))
    }

    /// A builder for a store on `backend` (for example [`crate::store::MemoryBackend`]).
    /// Such a store has no data directory, so its master key cannot come from a key file.
    pub fn builder_on(backend: Arc<dyn Backend>) -> StoreBuilder {
        StoreBuilder::new(Location::Backend(backend))
    }

    pub(crate) fn core(&self) -> &Core {
        &self.shared.core
    }

    /// Brings what this process keeps in memory in line with a change another process
    /// sharing the store committed: vault records, key handles (so a key disabled, deleted
    /// or given other `key_ops` elsewhere stops or changes here), the purge queue's next
    /// date and the clock's high-water mark. Role assignments and everything else are read
    /// from the store on each call, so they need nothing. What cannot be read now is
    /// dropped, to be read again when used.
    fn follow(&self, change: &Change) {
        let core = self.core();
        match change {
            Change::Unknown => {
                core.vault_changed();
                // One read first: when the store cannot be reached, every cached handle is
                // dropped at once rather than each after its own timeout.
                if let Err(e) = core.follow_high_water() {
                    tracing::debug!(error = %e, "cannot reach the store: dropping cached keys");
                    self.shared.handles.forget(b"");
                    return;
                }
                if let Err(e) = core.reload_next_due() {
                    tracing::debug!(error = %e, "cannot read the purge queue now");
                }
                for id in self.shared.handles.ids() {
                    self.follow_key(&id);
                }
            }
            Change::Record(Table::Vaults, key) => {
                core.vault_changed();
                let name = String::from_utf8_lossy(key);
                if !matches!(core.vault_record(&name), Ok(Some(r)) if r.is_live()) {
                    self.shared.handles.forget(&vault_prefix(&name));
                }
            }
            Change::Record(
                Table::Objects(ObjectKind::Key)
                | Table::Deleted(ObjectKind::Key)
                | Table::Versions(ObjectKind::Key),
                key,
            ) => self.follow_key(key),
            Change::Record(Table::PurgeQueue, key) => core.follow_queue(key),
            Change::Record(Table::Meta, key) if key.as_slice() == b"time" => {
                let _ = core.follow_high_water();
            }
            Change::Record(..) => {}
        }
    }

    /// Re-reads the committed state of the key a record of `key` (`vault/name[/version]`)
    /// belongs to, when this process has handles of it.
    fn follow_key(&self, key: &[u8]) {
        let text = String::from_utf8_lossy(key);
        let mut parts = text.splitn(3, '/');
        let (Some(vault), Some(name)) = (parts.next(), parts.next()) else {
            return;
        };
        let id = format!("{vault}/{name}");
        if !self.shared.handles.holds(id.as_bytes()) {
            return;
        }
        if let Err(e) = self.vault_unchecked(vault).reconcile(name) {
            tracing::debug!(error = %e, key = %id, "cannot re-read a changed key now");
            self.shared.handles.forget_key(id.as_bytes());
        }
    }

    /// Runs periodic work that writes on one process at a time, among those sharing the
    /// store; while another runs it, returns the empty report.
    pub(crate) fn housekeeping<T: Default>(&self, work: impl FnOnce() -> Result<T>) -> Result<T> {
        let mut work = Some(work);
        let mut out = T::default();
        self.core()
            .storage
            .backend()
            .exclusive(StoreLock::Housekeeping, false, &mut || {
                if let Some(w) = work.take() {
                    out = w()?;
                }
                Ok(())
            })?;
        Ok(out)
    }

    /// The data directory, for a store that has one.
    pub fn dir(&self) -> Option<&Path> {
        self.shared.core.storage.dir()
    }

    /// The store's current time (never earlier than a time it has already acted on).
    pub fn now(&self) -> UnixTime {
        self.core().now()
    }

    /// Creates a vault.
    pub fn create_vault(&self, name: &str, options: VaultOptions) -> Result<VaultInfo> {
        self.core().create_vault(name, options)
    }

    /// Creates the vault unless it exists (live); returns it either way.
    pub fn ensure_vault(&self, name: &str, options: VaultOptions) -> Result<Vault> {
        match self.create_vault(name, options) {
            Ok(_) | Err(Error::VaultExists { .. }) => self.vault(name),
            Err(e) => Err(e),
        }
    }

    /// A live vault, for the trusted local user of the library: no access control applies.
    pub fn vault(&self, name: &str) -> Result<Vault> {
        let record = self.core().live_vault(name)?;
        Ok(Vault::new(self.clone(), record.name.clone(), None))
    }

    /// A vault by name, live or soft-deleted, with no access control: for store-level
    /// administration (customer-data requests).
    pub(crate) fn vault_unchecked(&self, name: &str) -> Vault {
        Vault::new(self.clone(), name.to_ascii_lowercase(), None)
    }

    /// A vault's settings, live or soft-deleted.
    pub fn vault_info(&self, name: &str) -> Result<VaultInfo> {
        self.core().vault_info(name)
    }

    /// Live vaults, by name.
    pub fn list_vaults(&self) -> Result<Vec<VaultInfo>> {
        self.core().list_vaults(false)
    }

    /// Soft-deleted vaults, by name.
    pub fn list_deleted_vaults(&self) -> Result<Vec<VaultInfo>> {
        self.core().list_vaults(true)
    }

    /// Turns purge protection on. It can never be turned off again.
    pub fn enable_purge_protection(&self, name: &str) -> Result<VaultInfo> {
        self.core().update_vault(name, |r| {
            r.purge_protection = true;
            Ok(())
        })
    }

    /// Sets purge protection: `true` turns it on; `false` is refused once it is on.
    pub fn set_purge_protection(&self, name: &str, on: bool) -> Result<VaultInfo> {
        if on {
            return self.enable_purge_protection(name);
        }
        let info = self.vault(name)?.info()?;
        if info.purge_protection {
            return Err(Error::PurgeProtectionIrreversible);
        }
        Ok(info)
    }

    /// Turns a vault's access log on or off and sets its retention (1 to 365 days).
    pub fn set_access_log(
        &self,
        name: &str,
        enabled: bool,
        retention_days: Option<u32>,
    ) -> Result<VaultInfo> {
        if let Some(days) = retention_days {
            crate::lifecycle::check_log_retention(days)?;
        }
        self.core().update_vault(name, |r| {
            r.access_log = enabled;
            if let Some(days) = retention_days {
                r.log_retention_days = days;
            }
            Ok(())
        })
    }

    /// The PIN hashes of a live vault's PKCS#11 token (all `None` until it is initialized).
    /// Store-level, for the trusted local user: the PKCS#11 module and the CLI.
    pub fn token_pins(&self, name: &str) -> Result<TokenPins> {
        Ok(self
            .core()
            .live_vault(name)?
            .token_pins
            .clone()
            .unwrap_or_default())
    }

    /// Replaces the PIN hashes of a live vault's PKCS#11 token (see [`crate::crypto::pin`]).
    pub fn set_token_pins(&self, name: &str, pins: TokenPins) -> Result<()> {
        self.core().update_vault(name, |r| {
            r.token_pins = Some(pins.clone());
            Ok(())
        })?;
        Ok(())
    }

    /// Soft-deletes a vault: what it holds becomes unreachable until it is recovered, and
    /// it is purged (with everything in it) at `deleted + retention`.
    pub fn delete_vault(&self, name: &str) -> Result<VaultInfo> {
        let info = self.core().delete_vault(name)?;
        self.shared.handles.forget(&vault_prefix(&info.name));
        Ok(info)
    }

    /// Recovers a soft-deleted vault with everything in it.
    pub fn recover_vault(&self, name: &str) -> Result<VaultInfo> {
        self.core().recover_vault(name)
    }

    /// Purges a soft-deleted vault and everything in it, for good. Under purge protection
    /// this is refused before the vault's scheduled purge date.
    pub fn purge_vault(&self, name: &str) -> Result<()> {
        self.core().purge_vault(name)
    }

    /// Purges everything whose scheduled purge date has come. Runs by itself before store
    /// calls; exposed for servers that want to sweep on a timer. Costs in proportion to what
    /// is due, not to the size of the store.
    pub fn sweep(&self) -> Result<SweepReport> {
        self.core().sweep()
    }

    /// Flushes everything to disk (every acknowledged call has already done so, unless the
    /// store was opened with [`StoreBuilder::defer_flush`]).
    pub fn flush(&self) -> Result<()> {
        self.core().flush()
    }

    /// A copy of the whole store (every vault, object, deleted object, role assignment,
    /// issuer, setting, the access log and the clock's high-water mark) as one point in
    /// time, sealed under a key derived from the master key: it holds nothing in the clear
    /// and is useless without that key. Changes wait while the store is read; reads and key
    /// operations do not. [`Store::restore`] brings it back.
    pub fn backup(&self) -> Result<Vec<u8>> {
        self.core().storage.backup()
    }

    /// Restores a [`Store::backup`] into the data directory `dir`, whose store must be
    /// closed. The master key comes from `master_key` as at [`Store::open`] (it must be the
    /// key of the store the backup was made from; a key file is never created). The whole
    /// backup is checked first: a wrong key, a damaged, cut-short or reordered file, or one
    /// from a newer release is an error that leaves `dir` as it was. A store already in
    /// `dir` is replaced only when `force` is `true` (its master key file stays). Restored
    /// deleted objects stay deleted with their scheduled purge dates; nothing is purged.
    pub fn restore(
        dir: impl AsRef<Path>,
        backup: &[u8],
        master_key: MasterKeySource,
        force: bool,
    ) -> Result<RestoreReport> {
        let dir = dir.as_ref();
        let source = force.then(|| again(&master_key));
        let mut before = None;
        Storage::restore(dir, backup, master_key, force, &mut |step| match step {
            // Only once the file is known good is the store it replaces opened.
            RestoreStep::Checked => {
                before = source.as_ref().and_then(|s| protected_in(dir, s));
                Ok(())
            }
            RestoreStep::Built { staging, key } => {
                let Some(before) = &before else {
                    return Ok(());
                };
                let restored = Store::builder(staging)
                    .master_key(MasterKeySource::Bytes(key.duplicate()))
                    .open()?;
                keeps(dir, before, &protected(&restored, None)?)
            }
        })
    }

    /// The access policy in force.
    pub fn access_policy(&self) -> AccessPolicy {
        (*self.policy()).clone()
    }

    pub(crate) fn policy(&self) -> Arc<AccessPolicy> {
        self.shared
            .access
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sets who may do what for callers of [`Store::vault_as`]. Not persisted: a server sets
    /// it at start from its options.
    pub fn set_access_policy(&self, policy: AccessPolicy) {
        *self
            .shared
            .access
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(policy);
    }
}

/// What a store keeps under purge protection, by vault, kind and name (no kind: the vault
/// itself): `None` for what is live, else the scheduled purge date of what is soft-deleted.
type Protected = std::collections::BTreeMap<(String, Option<ObjectKind>, String), Option<UnixTime>>;

/// What a store holds in its purge-protected vaults: everything live, and what is
/// soft-deleted and, when `now` is given, not yet due. Runs no sweep: nothing is purged.
fn protected(store: &Store, now: Option<UnixTime>) -> Result<Protected> {
    let core = store.core();
    let mut out = Protected::new();
    for vault in core.all_vaults()? {
        if !vault.purge_protection || vault.purging {
            continue;
        }
        let state = |deletion: &Option<crate::model::DeletionInfo>| match deletion {
            None => Some(None),
            Some(d) if now.is_none_or(|now| d.scheduled_purge_date > now) => {
                Some(Some(d.scheduled_purge_date))
            }
            Some(_) => None,
        };
        if let Some(s) = state(&vault.deletion) {
            out.insert((vault.name.clone(), None, String::new()), s);
        }
        for kind in ObjectKind::ALL {
            let objects = Objects::new(core, kind, &vault.name);
            for deleted in [false, true] {
                let mut next = None;
                loop {
                    let page = objects.page(deleted, 1000, next.as_deref())?;
                    for record in page.items {
                        if let Some(s) = state(&record.deletion) {
                            out.insert((vault.name.clone(), Some(kind), record.name), s);
                        }
                    }
                    next = page.next;
                    if next.is_none() {
                        break;
                    }
                }
            }
        }
    }
    Ok(out)
}

/// What the store in `dir` holds under purge protection, when it opens with `source`.
/// `None` when it does not: held by a server (the restore then refuses), or unreadable
/// (damaged, rolled back, sealed under another key), when nothing in it can be vouched for
/// and replacing it is what `force` is for.
fn protected_in(dir: &Path, source: &MasterKeySource) -> Option<Protected> {
    if !dir.join(crate::store::DB_DIR).exists() {
        return None;
    }
    let store = Store::builder(dir).master_key(again(source)).open().ok()?;
    protected(&store, Some(store.now())).ok()
}

/// The same master key source again.
fn again(source: &MasterKeySource) -> MasterKeySource {
    match source {
        MasterKeySource::Default => MasterKeySource::Default,
        MasterKeySource::Env => MasterKeySource::Env,
        MasterKeySource::KeyFile => MasterKeySource::KeyFile,
        MasterKeySource::Passphrase(p) => MasterKeySource::Passphrase(p.duplicate()),
        MasterKeySource::Bytes(b) => MasterKeySource::Bytes(b.duplicate()),
    }
}

/// Refuses a restore over the store in `dir` that would lose what it holds under purge
/// protection (`before`): each of it must be in the restored store (`after`) live, or
/// soft-deleted with a scheduled purge date no earlier.
fn keeps(dir: &Path, before: &Protected, after: &Protected) -> Result<()> {
    let lost: Vec<String> = before
        .iter()
        .filter(|(id, was)| match (was, after.get(*id)) {
            (_, Some(None)) => false,
            (Some(due), Some(Some(now_due))) => now_due < due,
            _ => true,
        })
        .map(|((vault, kind, name), was)| {
            let what = match kind {
                Some(kind) => format!("{kind} {name:?} in vault {vault:?}"),
                None => format!("vault {vault:?}"),
            };
            match was {
                Some(due) => format!(
                    "{what} (deleted, not to be purged before {})",
                    crate::clock::rfc3339(*due)
                ),
                None => format!("{what} (live)"),
            }
        })
        .collect();
    if lost.is_empty() {
        return Ok(());
    }
    let shown = lost.len().min(5);
    let more = match lost.len() - shown {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    Err(Error::StoreBackup {
        problem: format!(
            "the store in {} holds, under purge protection, what the backup does not keep: \
             {}{more}. Replacing it would purge that before its scheduled purge date; restore \
             a backup made since, or into another --data DIR. Nothing was changed",
            dir.display(),
            lost[..shown].join(", ")
        ),
    })
}

/// Decides what a vault's caller may do; [`crate::rbac`] provides the one that reads role
/// assignments (or the vault's access policies, when it chose them).
pub(crate) trait Authorizer: Send + Sync {
    /// Who is asking.
    fn caller(&self) -> &Caller;
    /// What the caller may do at `scope` in `vault`.
    fn grant(&self, vault: &Vault, scope: &str) -> Result<Grant>;
}

/// An authorizer that answers for one scope from a grant already evaluated in this
/// request ([`Vault::checked`]) and asks its inner authorizer for any other scope.
#[cfg_attr(
    not(feature = "server"),
    allow(dead_code, reason = "only the server checks a request's grant once")
)]
struct Remembered {
    inner: Arc<dyn Authorizer>,
    scope: String,
    grant: Grant,
}

impl Authorizer for Remembered {
    fn caller(&self) -> &Caller {
        self.inner.caller()
    }

    fn grant(&self, vault: &Vault, scope: &str) -> Result<Grant> {
        if scope == self.scope {
            return Ok(self.grant);
        }
        self.inner.grant(vault, scope)
    }
}

/// A vault, for a caller. Cheap to clone. Every call re-checks that the vault is still live
/// and that the caller may make it.
#[derive(Clone)]
pub struct Vault {
    store: Store,
    name: String,
    access: Option<Arc<dyn Authorizer>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("name", &self.name).finish()
    }
}

/// The resource scope of an object: `/keys/{name}` (lowercase, as names are
/// case-insensitive).
pub(crate) fn object_scope(kind: ObjectKind, name: &str) -> String {
    format!("/{}s/{}", kind.noun(), name.to_ascii_lowercase())
}

impl Vault {
    pub(crate) fn new(store: Store, name: String, access: Option<Arc<dyn Authorizer>>) -> Self {
        Self {
            store,
            name,
            access,
        }
    }

    /// The vault's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The vault's settings.
    pub fn info(&self) -> Result<VaultInfo> {
        Ok(self.record()?.info())
    }

    pub(crate) fn core(&self) -> &Core {
        self.store.core()
    }

    /// This vault acting for the trusted local caller: for an operation whose caller was
    /// checked once for the whole vault (a full backup or restore), so its per-object steps
    /// do not check again.
    pub(crate) fn trusted(&self) -> Vault {
        Vault::new(self.store.clone(), self.name.clone(), None)
    }

    pub(crate) fn handles(&self) -> &HandleCache {
        &self.store.shared.handles
    }

    /// The objects of `kind` in this vault, on the lifecycle.
    pub(crate) fn objects(&self, kind: ObjectKind) -> Objects<'_> {
        Objects::new(self.core(), kind, &self.name)
    }

    /// The vault's record; `VaultNotFound` unless it is live.
    pub(crate) fn record(&self) -> Result<Arc<VaultRecord>> {
        self.core().live_vault(&self.name)
    }

    /// The caller this vault acts for (`None`: the trusted local user).
    pub(crate) fn caller(&self) -> Option<&Caller> {
        self.access.as_deref().map(Authorizer::caller)
    }

    /// Who is asking, for messages: the object ID, or `anonymous`.
    pub(crate) fn caller_label(&self) -> String {
        self.caller()
            .and_then(|c| c.object_id.clone())
            .unwrap_or_else(|| "anonymous".to_string())
    }

    /// Whether calls are checked at all (a vault for a caller, not the local user).
    pub(crate) fn is_checked(&self) -> bool {
        self.access.is_some()
    }

    /// What this vault's caller may do at `scope` (`/`, `/keys`, `/keys/{name}`, `/secrets`
    /// or `/secrets/{name}`).
    pub fn grant(&self, scope: &str) -> Result<Grant> {
        match &self.access {
            None => Ok(Grant::ALL),
            Some(a) => a.grant(self, scope),
        }
    }

    /// Checks that the caller may perform `action` at `scope`.
    pub(crate) fn require(&self, action: DataAction, scope: &str) -> Result<()> {
        self.grant(scope)?
            .require(action, &self.caller_label(), scope)
    }

    /// Checks that the caller may perform `action` at `scope` before anything is looked
    /// up (so a refusal says nothing of what exists), and returns this vault remembering
    /// the caller's grant at `scope`: the operation's own check at that scope is then a
    /// comparison, not a second evaluation.
    #[cfg_attr(
        not(feature = "server"),
        allow(dead_code, reason = "only the server checks a request's grant once")
    )]
    pub(crate) fn checked(&self, action: DataAction, scope: &str) -> Result<Vault> {
        let Some(inner) = &self.access else {
            return Ok(self.clone());
        };
        let grant = inner.grant(self, scope)?;
        grant.require(action, &self.caller_label(), scope)?;
        let remembered = Remembered {
            inner: inner.clone(),
            scope: scope.to_string(),
            grant,
        };
        Ok(Vault::new(
            self.store.clone(),
            self.name.clone(),
            Some(Arc::new(remembered)),
        ))
    }

    /// Checks that the caller may perform `action` on the object `name` of `kind`.
    pub(crate) fn require_on(
        &self,
        action: DataAction,
        kind: ObjectKind,
        name: &str,
    ) -> Result<()> {
        self.require(action, &object_scope(kind, name))
    }

    /// `count` random bytes from the system CSPRNG (Managed HSM's `/rng`).
    pub fn random_bytes(&self, count: usize) -> Result<Vec<u8>> {
        self.require(DataAction::Rng, "/")?;
        let vault = self.record()?;
        if vault.kind != VaultKind::ManagedHsm {
            return Err(Error::NotSupportedByVaultKind {
                what: "random number generation".into(),
                kind: vault.kind.as_str(),
            });
        }
        if !(1..=MAX_RANDOM_BYTES).contains(&count) {
            return Err(Error::bad_parameter(format!(
                "count must be 1 to {MAX_RANDOM_BYTES}, not {count}"
            )));
        }
        crate::crypto::random_bytes(count)
    }
}
