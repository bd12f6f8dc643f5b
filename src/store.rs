//! The key store: a sled database directory holding vaults, keys and their versions, with
//! key material sealed under the master key. Vault-level rules live here; the key lifecycle
//! lives in [`crate::vault`].

mod master_key;
pub(crate) mod records;
pub(crate) mod seal;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

pub use master_key::{parse_master_key, MasterKeySource, KEY_FILE_NAME, MASTER_KEY_ENV};
pub use records::SCHEMA_VERSION;

use crate::clock::{Clock, SystemClock, UnixTime};
use crate::crypto::random_bytes;
use crate::error::{Error, Result};
use crate::handle::{KeyHandle, Policy};
use crate::model::{
    validate_vault_name, Caller, DeletionInfo, VaultInfo, VaultOptions, DAY, MAX_RETENTION_DAYS,
    MIN_RETENTION_DAYS,
};
use crate::vault::Vault;
use records::{
    decode, encode, key_prefix, parse_purge_entry, purge_entry, vault_id, Due, KeyRecord,
    VaultRecord, VersionRecord,
};
use seal::{Purpose, Sealer};

/// Time as the store sees it: the injected clock, never earlier than the latest time the
/// store has acted on. Setting the clock back therefore cannot make a purge date come early.
pub(crate) struct StoreTime {
    clock: Arc<dyn Clock>,
    high_water: AtomicU64,
}

impl StoreTime {
    pub(crate) fn now(&self) -> UnixTime {
        let now = self.clock.now();
        let prev = self.high_water.fetch_max(now, Ordering::SeqCst);
        prev.max(now)
    }
}

/// Access control for callers of [`Store::vault_as`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    /// Whether role assignments are enforced. Off: every caller may do anything.
    pub enforce: bool,
    /// Object IDs that hold Administrator, Crypto Officer and Crypto User at `/` in every
    /// vault, without stored assignments.
    pub admins: Vec<String>,
}

/// Cached, unsealed handles of one key, kept in step with the store by `reconcile`.
struct CachedKey {
    current: String,
    versions: HashMap<String, KeyHandle>,
}

/// State shared by the store, its vaults and their handles.
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    db: sled::Db,
    meta: sled::Tree,
    pub(crate) vaults: sled::Tree,
    pub(crate) keys: sled::Tree,
    pub(crate) deleted_keys: sled::Tree,
    pub(crate) versions: sled::Tree,
    pub(crate) purge_queue: sled::Tree,
    pub(crate) role_assignments: sled::Tree,
    pub(crate) access_log: sled::Tree,
    pub(crate) sealer: Sealer,
    access_policy: RwLock<AccessPolicy>,
    pub(crate) time: Arc<StoreTime>,
    cache: RwLock<HashMap<Vec<u8>, CachedKey>>,
    /// Set by [`StoreBuilder::defer_flush`]: changes are not flushed one by one.
    defer_flush: bool,
}

/// Opens a [`Store`] with settings other than the defaults.
pub struct StoreBuilder {
    dir: PathBuf,
    master_key: MasterKeySource,
    clock: Arc<dyn Clock>,
    defer_flush: bool,
}

impl StoreBuilder {
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
    /// the disk at [`Store::flush`], at the database's periodic background flush, or when
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
        Store::open_with(&self.dir, source, self.clock.clone(), self.defer_flush)
    }
}

/// A key store in one data directory. Cheap to clone; all clones share one database.
///
/// Every acknowledged change is flushed to disk before the call returns.
#[derive(Clone)]
pub struct Store {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

fn is_lock_error(io: &std::io::Error) -> bool {
    io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock")
}

/// Opens the sled database, retrying briefly while its lock is held: sled releases the lock
/// from background threads a moment after the last handle of a previous open is dropped,
/// so a close followed at once by an open can otherwise fail. Another process holding the
/// store still fails after the retries.
fn open_db(path: &Path) -> std::result::Result<sled::Db, sled::Error> {
    let mut attempt = 0;
    loop {
        match sled::Config::new().path(path).open() {
            Err(sled::Error::Io(io)) if is_lock_error(&io) && attempt < 20 => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

pub(crate) fn tx_error(e: TransactionError<Error>) -> Error {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    }
}

pub(crate) fn abort<T>(e: Error) -> std::result::Result<T, ConflictableTransactionError<Error>> {
    Err(ConflictableTransactionError::Abort(e))
}

impl Store {
    /// Opens (or creates) the store in `dir` with the system clock.
    pub fn open(dir: impl AsRef<Path>, master_key: MasterKeySource) -> Result<Self> {
        Self::open_with(dir.as_ref(), master_key, Arc::new(SystemClock), false)
    }

    /// A builder for a store in `dir`.
    pub fn builder(dir: impl AsRef<Path>) -> StoreBuilder {
        StoreBuilder {
            dir: dir.as_ref().to_path_buf(),
            master_key: MasterKeySource::Default,
            clock: Arc::new(SystemClock),
            defer_flush: false,
        }
    }

    fn open_with(
        dir: &Path,
        source: MasterKeySource,
        clock: Arc<dyn Clock>,
        defer_flush: bool,
    ) -> Result<Self> {
        let dir_text = dir.display().to_string();
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        let db = open_db(&dir.join("db")).map_err(|e| match e {
            sled::Error::Io(io) if is_lock_error(&io) => Error::StoreLocked {
                dir: dir_text.clone(),
            },
            other => other.into(),
        })?;
        let meta = db.open_tree("meta")?;
        let fresh = meta.get(records::META_SCHEMA)?.is_none();
        if !fresh {
            let found = meta
                .get(records::META_SCHEMA)?
                .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
                .map(u32::from_be_bytes)
                .unwrap_or(0);
            if found != SCHEMA_VERSION {
                return Err(Error::UnsupportedSchema {
                    dir: dir_text,
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
        }
        let salt_tree = meta.clone();
        let master = master_key::resolve(source, dir, move || {
            if let Some(s) = salt_tree.get(records::META_SALT)? {
                return Ok(s.to_vec());
            }
            let salt = random_bytes(16)?;
            salt_tree.insert(records::META_SALT, salt.as_slice())?;
            Ok(salt)
        })?;
        let sealer = Sealer::new(&master)?;
        drop(master);
        match meta.get(records::META_CHECK)? {
            Some(check) => {
                let opened = sealer.open(Purpose::Record, records::CHECK_AAD, &check);
                if opened.as_ref().map(|p| p.expose()) != Some(records::CHECK_PLAINTEXT) {
                    return Err(Error::WrongMasterKey);
                }
            }
            None if fresh => {
                let check = sealer.seal(
                    Purpose::Record,
                    records::CHECK_AAD,
                    records::CHECK_PLAINTEXT,
                )?;
                meta.insert(records::META_CHECK, check)?;
                meta.insert(records::META_SCHEMA, &SCHEMA_VERSION.to_be_bytes())?;
            }
            None => {
                return Err(Error::Corrupt {
                    what: "master key check".into(),
                })
            }
        }
        let high_water = meta
            .get(records::META_TIME)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        db.flush()?;
        let shared = Shared {
            dir: dir.to_path_buf(),
            vaults: db.open_tree("vaults")?,
            keys: db.open_tree("keys")?,
            deleted_keys: db.open_tree("deleted_keys")?,
            versions: db.open_tree("versions")?,
            purge_queue: db.open_tree("purge_queue")?,
            role_assignments: db.open_tree("role_assignments")?,
            access_log: db.open_tree("access_log")?,
            access_policy: RwLock::new(AccessPolicy::default()),
            meta,
            db,
            sealer,
            time: Arc::new(StoreTime {
                clock,
                high_water: AtomicU64::new(high_water),
            }),
            cache: RwLock::new(HashMap::new()),
            defer_flush,
        };
        let store = Store {
            shared: Arc::new(shared),
        };
        store.finish_interrupted_purges()?;
        Ok(store)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The store's current time (never earlier than a time it has already acted on).
    pub fn now(&self) -> UnixTime {
        self.shared.time.now()
    }

    /// Creates a vault.
    pub fn create_vault(&self, name: &str, options: VaultOptions) -> Result<VaultInfo> {
        validate_vault_name(name)?;
        if !(MIN_RETENTION_DAYS..=MAX_RETENTION_DAYS).contains(&options.retention_days) {
            return Err(Error::bad_parameter(format!(
                "retention must be {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS} days, not {}",
                options.retention_days
            )));
        }
        self.shared.sweep_if_due()?;
        let record = VaultRecord {
            name: name.to_ascii_lowercase(),
            kind: options.kind,
            retention_days: options.retention_days,
            purge_protection: options.purge_protection,
            created: self.now(),
            deletion: None,
            purging: false,
            access_log: false,
            log_retention_days: records::DEFAULT_LOG_RETENTION_DAYS,
        };
        let id = vault_id(name);
        self.shared
            .vaults
            .transaction(|t| {
                if let Some(existing) = t.get(&id)? {
                    let existing: VaultRecord = match decode("vault", &existing) {
                        Ok(r) => r,
                        Err(e) => return abort(e),
                    };
                    let vault = existing.name.clone();
                    return abort(if existing.deletion.is_some() || existing.purging {
                        Error::VaultIsDeleted { vault }
                    } else {
                        Error::VaultExists { vault }
                    });
                }
                t.insert(id.as_slice(), encode(&record))?;
                Ok(())
            })
            .map_err(tx_error)?;
        self.shared.flush()?;
        Ok(record.info())
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
        let record = self.shared.live_vault(name)?;
        Ok(Vault::new(self.shared.clone(), record.name, None))
    }

    /// A live vault acting for `caller`: when access control is on
    /// ([`Store::set_access_policy`]), every operation checks the caller's role assignments.
    pub fn vault_as(&self, name: &str, caller: Caller) -> Result<Vault> {
        let record = self.shared.live_vault(name)?;
        Ok(Vault::new(
            self.shared.clone(),
            record.name,
            Some(Arc::new(caller)),
        ))
    }

    /// The access policy in force.
    pub fn access_policy(&self) -> AccessPolicy {
        self.shared.access_policy()
    }

    /// A vault by name, live or soft-deleted, with no access control: for store-level
    /// administration (customer-data requests).
    pub(crate) fn vault_unchecked(&self, name: &str) -> Vault {
        Vault::new(self.shared.clone(), name.to_ascii_lowercase(), None)
    }

    /// Sets who may do what for callers of [`Store::vault_as`]. Not persisted: a server sets
    /// it at start from its options.
    pub fn set_access_policy(&self, policy: AccessPolicy) {
        *self
            .shared
            .access_policy
            .write()
            .unwrap_or_else(|p| p.into_inner()) = policy;
    }

    /// Turns a vault's access log on or off and sets its retention (1 to 365 days).
    pub fn set_access_log(
        &self,
        name: &str,
        enabled: bool,
        retention_days: Option<u32>,
    ) -> Result<VaultInfo> {
        if let Some(days) = retention_days {
            check_log_retention(days)?;
        }
        let info = self.update_vault_record(name, |r| {
            r.access_log = enabled;
            if let Some(days) = retention_days {
                r.log_retention_days = days;
            }
            Ok(())
        })?;
        Ok(info)
    }

    fn update_vault_record(
        &self,
        name: &str,
        change: impl Fn(&mut VaultRecord) -> Result<()>,
    ) -> Result<VaultInfo> {
        let id = vault_id(name);
        let info = self
            .shared
            .vaults
            .transaction(|t| {
                let Some(v) = t.get(&id)? else {
                    return abort(Error::VaultNotFound {
                        vault: name.to_string(),
                    });
                };
                let mut r: VaultRecord = match decode("vault", &v) {
                    Ok(r) => r,
                    Err(e) => return abort(e),
                };
                if r.deletion.is_some() || r.purging {
                    return abort(Error::VaultNotFound {
                        vault: name.to_string(),
                    });
                }
                if let Err(e) = change(&mut r) {
                    return abort(e);
                }
                t.insert(id.as_slice(), encode(&r))?;
                Ok(r.info())
            })
            .map_err(tx_error)?;
        self.shared.flush()?;
        Ok(info)
    }

    /// A vault's settings, live or soft-deleted.
    pub fn vault_info(&self, name: &str) -> Result<VaultInfo> {
        self.shared.sweep_if_due()?;
        self.shared
            .vault_record(name)?
            .filter(|r| !r.purging)
            .map(|r| r.info())
            .ok_or_else(|| Error::VaultNotFound {
                vault: name.to_string(),
            })
    }

    /// Live vaults, by name.
    pub fn list_vaults(&self) -> Result<Vec<VaultInfo>> {
        self.vaults_where(|r| r.deletion.is_none())
    }

    /// Soft-deleted vaults, by name.
    pub fn list_deleted_vaults(&self) -> Result<Vec<VaultInfo>> {
        self.vaults_where(|r| r.deletion.is_some())
    }

    fn vaults_where(&self, keep: impl Fn(&VaultRecord) -> bool) -> Result<Vec<VaultInfo>> {
        self.shared.sweep_if_due()?;
        let mut out = Vec::new();
        for item in self.shared.vaults.iter() {
            let (_, v) = item?;
            let r: VaultRecord = decode("vault", &v)?;
            if !r.purging && keep(&r) {
                out.push(r.info());
            }
        }
        Ok(out)
    }

    /// Turns purge protection on. It can never be turned off again.
    pub fn enable_purge_protection(&self, name: &str) -> Result<VaultInfo> {
        self.update_vault_record(name, |r| {
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

    /// Soft-deletes a vault: its keys become unreachable until it is recovered, and it is
    /// purged (with its keys) at `deleted + retention`.
    pub fn delete_vault(&self, name: &str) -> Result<VaultInfo> {
        self.shared.sweep_if_due()?;
        let now = self.now();
        let id = vault_id(name);
        let info = (&self.shared.vaults, &self.shared.purge_queue)
            .transaction(|(vaults, queue)| {
                let Some(v) = vaults.get(&id)? else {
                    return abort(Error::VaultNotFound {
                        vault: name.to_string(),
                    });
                };
                let mut r: VaultRecord = match decode("vault", &v) {
                    Ok(r) => r,
                    Err(e) => return abort(e),
                };
                if r.deletion.is_some() || r.purging {
                    return abort(Error::VaultNotFound {
                        vault: name.to_string(),
                    });
                }
                let deletion = DeletionInfo {
                    deleted_date: now,
                    scheduled_purge_date: now + u64::from(r.retention_days) * DAY,
                };
                r.deletion = Some(deletion);
                vaults.insert(id.as_slice(), encode(&r))?;
                queue.insert(
                    purge_entry(deletion.scheduled_purge_date, Due::Vault, &id),
                    &[][..],
                )?;
                Ok(r.info())
            })
            .map_err(tx_error)?;
        self.shared.flush()?;
        self.shared.forget_vault(&info.name);
        Ok(info)
    }

    /// Recovers a soft-deleted vault with all its keys.
    pub fn recover_vault(&self, name: &str) -> Result<VaultInfo> {
        self.shared.sweep_if_due()?;
        let id = vault_id(name);
        let info = (&self.shared.vaults, &self.shared.purge_queue)
            .transaction(|(vaults, queue)| {
                let r = match vaults.get(&id)?.map(|v| decode::<VaultRecord>("vault", &v)) {
                    Some(Ok(r)) if !r.purging => r,
                    Some(Err(e)) => return abort(e),
                    _ => {
                        return abort(Error::DeletedVaultNotFound {
                            vault: name.to_string(),
                        })
                    }
                };
                let Some(deletion) = r.deletion else {
                    return abort(Error::DeletedVaultNotFound {
                        vault: name.to_string(),
                    });
                };
                let mut r = r;
                r.deletion = None;
                vaults.insert(id.as_slice(), encode(&r))?;
                queue.remove(purge_entry(deletion.scheduled_purge_date, Due::Vault, &id))?;
                Ok(r.info())
            })
            .map_err(tx_error)?;
        self.shared.flush()?;
        Ok(info)
    }

    /// Purges a soft-deleted vault and everything in it, for good. Under purge protection
    /// this is refused before the vault's scheduled purge date.
    pub fn purge_vault(&self, name: &str) -> Result<()> {
        self.shared.sweep_if_due()?;
        let r = self
            .shared
            .vault_record(name)?
            .filter(|r| r.deletion.is_some() && !r.purging)
            .ok_or_else(|| Error::DeletedVaultNotFound {
                vault: name.to_string(),
            })?;
        self.shared.purge_vault(r, false)
    }

    /// Purges everything whose scheduled purge date has come. Runs by itself before store
    /// calls; exposed for servers that want to sweep on a timer. Costs in proportion to what
    /// is due, not to the size of the store.
    pub fn sweep(&self) -> Result<SweepReport> {
        self.shared.sweep()
    }

    /// Flushes everything to disk (every acknowledged call has already done so, unless the
    /// store was opened with [`StoreBuilder::defer_flush`]).
    pub fn flush(&self) -> Result<()> {
        self.shared.flush_now()
    }

    fn finish_interrupted_purges(&self) -> Result<()> {
        let mut pending = Vec::new();
        for item in self.shared.vaults.iter() {
            let (_, v) = item?;
            let r: VaultRecord = decode("vault", &v)?;
            if r.purging {
                pending.push(r);
            }
        }
        for r in pending {
            self.shared.purge_vault(r, true)?;
        }
        Ok(())
    }
}

/// Checks an access-log retention (1 to 365 days), so a caller can refuse a request before
/// applying any part of it.
pub(crate) fn check_log_retention(days: u32) -> Result<()> {
    if !(1..=365).contains(&days) {
        return Err(Error::bad_parameter(format!(
            "log retention must be 1 to 365 days, not {days}"
        )));
    }
    Ok(())
}

/// What a sweep purged.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Keys purged, as `vault/name`.
    pub keys: Vec<String>,
    /// Vaults purged.
    pub vaults: Vec<String>,
    /// Access-log records dropped after their retention.
    pub access_log_records: usize,
}

impl VaultRecord {
    pub(crate) fn info(&self) -> VaultInfo {
        VaultInfo {
            name: self.name.clone(),
            kind: self.kind,
            retention_days: self.retention_days,
            purge_protection: self.purge_protection,
            created: self.created,
            deleted_date: self.deletion.map(|d| d.deleted_date),
            scheduled_purge_date: self.deletion.map(|d| d.scheduled_purge_date),
            access_log: self.access_log,
            log_retention_days: self.log_retention_days,
        }
    }
}

impl Shared {
    /// Makes a change durable before its call returns (skipped under deferred flushing).
    pub(crate) fn flush(&self) -> Result<()> {
        if self.defer_flush {
            return Ok(());
        }
        self.flush_now()
    }

    fn flush_now(&self) -> Result<()> {
        let now = self.time.high_water.load(Ordering::SeqCst);
        self.meta.insert(records::META_TIME, &now.to_be_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    pub(crate) fn generate_id(&self) -> Result<u64> {
        Ok(self.db.generate_id()?)
    }

    pub(crate) fn access_policy(&self) -> AccessPolicy {
        self.access_policy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn vault_record(&self, name: &str) -> Result<Option<VaultRecord>> {
        self.vaults
            .get(vault_id(name))?
            .map(|v| decode("vault", &v))
            .transpose()
    }

    /// The record of a live vault, or `VaultNotFound`.
    pub(crate) fn live_vault(&self, name: &str) -> Result<VaultRecord> {
        self.sweep_if_due()?;
        self.vault_record(name)?
            .filter(|r| r.deletion.is_none() && !r.purging)
            .ok_or_else(|| Error::VaultNotFound {
                vault: name.to_string(),
            })
    }

    /// Sweeps when the earliest entry of the purge queue is due: one read when nothing is.
    pub(crate) fn sweep_if_due(&self) -> Result<()> {
        let now = self.time.now();
        if let Some((k, _)) = self.purge_queue.first()? {
            if parse_purge_entry(&k).is_some_and(|(due, _, _)| due <= now) {
                self.sweep()?;
            }
        }
        Ok(())
    }

    fn sweep(&self) -> Result<SweepReport> {
        let now = self.time.now();
        let mut report = SweepReport {
            access_log_records: self.sweep_access_logs(now)?,
            ..SweepReport::default()
        };
        let end = (now.saturating_add(1)).to_be_bytes();
        let due: Vec<sled::IVec> = self
            .purge_queue
            .range(..end.as_slice())
            .keys()
            .collect::<std::result::Result<_, _>>()?;
        for k in due {
            let Some((_, kind, id)) = parse_purge_entry(&k) else {
                self.purge_queue.remove(&k)?;
                continue;
            };
            let id_text = String::from_utf8_lossy(id).into_owned();
            match kind {
                Due::Key => match self.purge_key(id, true) {
                    Ok(true) => report.keys.push(id_text),
                    // No such deleted key (recovered, or purged by hand): a stale entry.
                    Ok(false) => {
                        self.purge_queue.remove(&k)?;
                    }
                    // The key's own date is later than this entry's: the entry is stale
                    // (the key's real entry is still queued). Drop it rather than let one
                    // bad entry fail every call that sweeps.
                    Err(Error::PurgeProtected { .. }) => {
                        tracing::warn!(key = %id_text, "dropping a stale purge-queue entry");
                        self.purge_queue.remove(&k)?;
                    }
                    Err(e) => return Err(e),
                },
                Due::Vault => match self.vault_record(&id_text)? {
                    Some(r) if r.deletion.is_some() => match self.purge_vault(r, true) {
                        Ok(()) => report.vaults.push(id_text),
                        Err(Error::PurgeProtected { .. }) => {
                            tracing::warn!(vault = %id_text, "dropping a stale purge-queue entry");
                            self.purge_queue.remove(&k)?;
                        }
                        Err(e) => return Err(e),
                    },
                    _ => {
                        self.purge_queue.remove(&k)?;
                    }
                },
            }
        }
        if !report.keys.is_empty() || !report.vaults.is_empty() {
            self.flush()?;
        }
        Ok(report)
    }

    /// Removes a deleted key and all its versions in one transaction. With `due_only`
    /// unset, purge protection is checked by the caller. Returns false if no such deleted key.
    pub(crate) fn purge_key(&self, id: &[u8], due_only: bool) -> Result<bool> {
        let now = self.time.now();
        let vault = String::from_utf8_lossy(id)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let vid_of_vault = vault_id(&vault);
        // Purge protection is read inside the transaction, so a concurrent
        // enable_purge_protection either lands first (and stops this purge) or after it.
        let purged = (
            &self.vaults,
            &self.deleted_keys,
            &self.versions,
            &self.purge_queue,
        )
            .transaction(|(vaults, deleted, versions, queue)| {
                let Some(v) = deleted.get(id)? else {
                    return Ok(false);
                };
                let protected = match vaults.get(&vid_of_vault)? {
                    Some(v) => match decode::<VaultRecord>("vault", &v) {
                        Ok(r) => r.purge_protection,
                        Err(e) => return abort(e),
                    },
                    None => false,
                };
                let r: KeyRecord = match decode("deleted key", &v) {
                    Ok(r) => r,
                    Err(e) => return abort(e),
                };
                let Some(deletion) = r.deletion else {
                    return abort(Error::Corrupt {
                        what: "deleted key".into(),
                    });
                };
                if (due_only || protected) && deletion.scheduled_purge_date > now {
                    return abort(Error::PurgeProtected {
                        object: r.name.clone(),
                        scheduled_purge_date: deletion.scheduled_purge_date,
                    });
                }
                for version in &r.versions {
                    let mut vid = id.to_vec();
                    vid.push(b'/');
                    vid.extend_from_slice(version.as_bytes());
                    versions.remove(vid)?;
                }
                deleted.remove(id)?;
                queue.remove(purge_entry(deletion.scheduled_purge_date, Due::Key, id))?;
                Ok(true)
            })
            .map_err(tx_error)?;
        if purged {
            self.flush()?;
        }
        Ok(purged)
    }

    /// Purges a deleted vault and everything in it. The vault is first marked as purging
    /// (durably), so a crash part-way is finished at the next open, and its name cannot be
    /// reused before the purge completes.
    pub(crate) fn purge_vault(&self, r: VaultRecord, resume: bool) -> Result<()> {
        let now = self.time.now();
        let id = vault_id(&r.name);
        // Re-read and mark the vault in one transaction: a recover that commits between the
        // caller's read and this mark must win, not be overwritten.
        self.vaults
            .transaction(|t| {
                let current: VaultRecord = match t.get(&id)?.map(|v| decode("vault", &v)) {
                    Some(Ok(c)) => c,
                    Some(Err(e)) => return abort(e),
                    None => {
                        return abort(Error::DeletedVaultNotFound {
                            vault: r.name.clone(),
                        })
                    }
                };
                if !(resume && current.purging) {
                    let Some(deletion) = current.deletion else {
                        return abort(Error::DeletedVaultNotFound {
                            vault: r.name.clone(),
                        });
                    };
                    if current.purge_protection && deletion.scheduled_purge_date > now {
                        return abort(Error::PurgeProtected {
                            object: r.name.clone(),
                            scheduled_purge_date: deletion.scheduled_purge_date,
                        });
                    }
                }
                let mut marked = current;
                marked.purging = true;
                t.insert(id.as_slice(), encode(&marked))?;
                Ok(())
            })
            .map_err(tx_error)?;
        self.flush()?;
        let prefix = key_prefix(&r.name);
        for k in self.deleted_keys.scan_prefix(&prefix) {
            let (k, v) = k?;
            if let Some(d) = decode::<KeyRecord>("deleted key", &v)?.deletion {
                self.purge_queue
                    .remove(purge_entry(d.scheduled_purge_date, Due::Key, &k))?;
            }
        }
        for tree in [
            &self.keys,
            &self.deleted_keys,
            &self.versions,
            &self.role_assignments,
        ] {
            let mut batch = sled::Batch::default();
            for k in tree.scan_prefix(&prefix).keys() {
                batch.remove(k?);
            }
            tree.apply_batch(batch)?;
        }
        let mut log_prefix = id.clone();
        log_prefix.push(0);
        let mut batch = sled::Batch::default();
        for k in self.access_log.scan_prefix(&log_prefix).keys() {
            batch.remove(k?);
        }
        self.access_log.apply_batch(batch)?;
        if let Some(d) = r.deletion {
            self.purge_queue
                .remove(purge_entry(d.scheduled_purge_date, Due::Vault, &id))?;
        }
        self.flush()?;
        self.vaults.remove(id.as_slice())?;
        self.flush()?;
        self.forget_vault(&r.name);
        Ok(())
    }

    pub(crate) fn load_version(&self, vid: &[u8]) -> Result<Option<VersionRecord>> {
        self.versions
            .get(vid)?
            .map(|v| decode("key version", &v))
            .transpose()
    }

    /// A handle from the cache, if this key version is cached.
    pub(crate) fn cached_handle(&self, kid: &[u8], version: Option<&str>) -> Option<KeyHandle> {
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        let entry = cache.get(kid)?;
        let v = version.unwrap_or(&entry.current);
        entry.versions.get(v).cloned()
    }

    /// Resolves a handle on a cache miss. Reads the committed state while holding the cache
    /// lock, so a concurrent change cannot leave a stale handle behind (changes reconcile the
    /// cache under the same lock after they commit).
    pub(crate) fn resolve_handle(
        &self,
        kid: &[u8],
        version: Option<&str>,
        build: impl FnOnce(&KeyRecord, &str, VersionRecord) -> Result<KeyHandle>,
    ) -> Result<KeyHandle> {
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = cache.get(kid) {
            if let Some(h) = entry.versions.get(version.unwrap_or(&entry.current)) {
                return Ok(h.clone());
            }
        }
        let not_found = |name: &str| Error::KeyNotFound {
            name: name.to_string(),
            version: version.map(str::to_string),
        };
        let name_guess = String::from_utf8_lossy(kid)
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let record: KeyRecord = match self.keys.get(kid)? {
            Some(v) => decode("key", &v)?,
            None => return Err(not_found(&name_guess)),
        };
        let current = record
            .versions
            .last()
            .cloned()
            .ok_or_else(|| not_found(&record.name))?;
        let version = version.unwrap_or(&current).to_string();
        if !record.versions.contains(&version) {
            return Err(not_found(&record.name));
        }
        let mut vid = kid.to_vec();
        vid.push(b'/');
        vid.extend_from_slice(version.as_bytes());
        let vr = self
            .load_version(&vid)?
            .ok_or_else(|| not_found(&record.name))?;
        let handle = build(&record, &version, vr)?;
        let entry = cache.entry(kid.to_vec()).or_insert_with(|| CachedKey {
            current: current.clone(),
            versions: HashMap::new(),
        });
        entry.current = current;
        entry.versions.insert(version, handle.clone());
        Ok(handle)
    }

    /// Brings cached handles of a key in line with its committed state: new current
    /// version, updated attributes, or (deleted, purged) dead.
    pub(crate) fn reconcile(&self, kid: &[u8]) -> Result<()> {
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        let Some(entry) = cache.get_mut(kid) else {
            return Ok(());
        };
        let record: Option<KeyRecord> =
            self.keys.get(kid)?.map(|v| decode("key", &v)).transpose()?;
        let Some(record) = record else {
            for h in entry.versions.values() {
                h.set_policy(Policy::dead());
            }
            cache.remove(kid);
            return Ok(());
        };
        if let Some(current) = record.versions.last() {
            entry.current = current.clone();
        }
        for (version, h) in &entry.versions {
            let mut vid = kid.to_vec();
            vid.push(b'/');
            vid.extend_from_slice(version.as_bytes());
            match self.load_version(&vid)? {
                Some(vr) => h.set_policy(Policy::from_record(&vr)),
                None => h.set_policy(Policy::dead()),
            }
        }
        Ok(())
    }

    /// Kills every cached handle of a vault (deleted or purged).
    fn forget_vault(&self, vault: &str) {
        let prefix = key_prefix(vault);
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        cache.retain(|kid, entry| {
            if kid.starts_with(&prefix) {
                for h in entry.versions.values() {
                    h.set_policy(Policy::dead());
                }
                false
            } else {
                true
            }
        });
    }
}
