//! Stores for tests: the one way to open one ([`Opener`]), a throw-away one ([`TempStore`]),
//! vault options, the keys tests create, and a snapshot of everything a store holds.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use localhsm::crypto::{CurveName, KeyType, SecretBytes, SignatureAlgorithm, WrapAlgorithm};
use localhsm::model::{KeyOptions, Page, Tags, VaultKind, VaultOptions};
use localhsm::store::{Backend, MemoryBackend};
use localhsm::{Clock, Error, KeyHandle, KeySpec, ManualClock, MasterKeySource, Store, Vault};

pub use localhsm::model::DAY;

/// The master key of every test store that does not pick its own.
pub const MASTER: [u8; 32] = [0x5a; 32];

/// Where a test store's manual clock starts unless the test picks another time.
pub const T0: u64 = 1_700_000_000;

/// How a test opens a store: the master key and the clock.
///
/// Opening retries for a while on `StoreLocked`: sled releases its lock file from background
/// threads some time after the last handle is dropped (spacejam/sled#1289), so reopening a
/// store this process has just closed can briefly report it locked. [`Opener::open_once`]
/// does not retry, for tests of the lock itself.
#[derive(Clone)]
pub struct Opener {
    master_key: Arc<dyn Fn() -> MasterKeySource + Send + Sync>,
    clock: Option<Arc<dyn Clock>>,
}

impl Opener {
    /// [`MASTER`] as the master key, the system clock.
    pub fn new() -> Self {
        Self::key(MASTER)
    }

    /// `key` as the master key, the system clock.
    pub fn key(key: [u8; 32]) -> Self {
        Self::source(move || MasterKeySource::Bytes(SecretBytes::new(key.to_vec())))
    }

    /// The master key `source` gives (called for every attempt), the system clock.
    pub fn source(source: impl Fn() -> MasterKeySource + Send + Sync + 'static) -> Self {
        Self {
            master_key: Arc::new(source),
            clock: None,
        }
    }

    /// The same, on `clock`.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The same, on a new manual clock reading `t`.
    pub fn at(self, t: u64) -> Self {
        self.clock(Arc::new(ManualClock::new(t)))
    }

    /// Opens the store in `dir` once, without retrying.
    pub fn open_once(&self, dir: impl AsRef<Path>) -> localhsm::Result<Store> {
        self.open_with(Store::builder(dir))
    }

    /// Opens a store on `backend` (memory or PostgreSQL: nothing to retry).
    #[track_caller]
    pub fn open_on(&self, backend: Arc<dyn Backend>) -> Store {
        let location = backend.location();
        self.open_with(Store::builder_on(backend))
            .unwrap_or_else(|e| panic!("open the store in {location}: {e}"))
    }

    fn open_with(&self, mut builder: localhsm::StoreBuilder) -> localhsm::Result<Store> {
        builder.master_key((self.master_key)());
        if let Some(clock) = &self.clock {
            builder.clock(clock.clone());
        }
        builder.open()
    }

    /// Opens the store in `dir`, retrying on `StoreLocked` for up to 5 s.
    pub fn try_open(&self, dir: impl AsRef<Path>) -> localhsm::Result<Store> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.open_once(dir.as_ref()) {
                Err(Error::StoreLocked { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                r => return r,
            }
        }
    }

    /// Opens the store in `dir`, which must work.
    #[track_caller]
    pub fn open(&self, dir: impl AsRef<Path>) -> Store {
        let dir = dir.as_ref();
        self.try_open(dir)
            .unwrap_or_else(|e| panic!("open the store in {}: {e}", dir.display()))
    }
}

impl Default for Opener {
    fn default() -> Self {
        Self::new()
    }
}

/// The sled database of the store in `dir`, opened directly, for tests that read or damage
/// records (see `src/lifecycle/records.rs`). The store must be closed; retried like
/// [`Opener::try_open`].
pub fn raw_db(dir: &Path) -> sled::Db {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match sled::open(dir.join("db")) {
            Ok(db) => return db,
            Err(e) if Instant::now() >= deadline => panic!("open sled: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// A store in a temporary directory (removed on drop) on a manual clock; or, from
/// [`TempStore::in_memory`] and [`TempStore::on_postgres`], on another backend.
pub struct TempStore {
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
    opener: Opener,
    backend: Option<Arc<dyn Backend>>,
}

impl TempStore {
    /// Master key [`MASTER`], the clock at [`T0`].
    pub fn new() -> Self {
        Self::with(Opener::new(), T0)
    }

    /// Master key [`MASTER`], the clock at `t`.
    pub fn at(t: u64) -> Self {
        Self::with(Opener::new(), t)
    }

    /// Opened by `opener` (its master key), the clock at `t`.
    pub fn with(opener: Opener, t: u64) -> Self {
        Self::open_in(tempfile::tempdir().expect("temp dir"), opener, t, None)
    }

    /// Master key [`MASTER`], the clock at [`T0`], on the memory backend (the directory is
    /// there but holds nothing). [`TempStore::reopen`] opens a new store on the same
    /// backend.
    pub fn in_memory() -> Self {
        Self::open_in(
            tempfile::tempdir().expect("temp dir"),
            Opener::new(),
            T0,
            Some(Arc::new(MemoryBackend::new())),
        )
    }

    /// The same on a new database of the PostgreSQL test cluster, or `None` when there is
    /// none (see [`super::postgres::fresh_database`]).
    pub fn on_postgres() -> Option<Self> {
        let backend = super::postgres::fresh_backend()?;
        Some(Self::open_in(
            tempfile::tempdir().expect("temp dir"),
            Opener::new(),
            T0,
            Some(backend),
        ))
    }

    fn open_in(
        dir: tempfile::TempDir,
        opener: Opener,
        t: u64,
        backend: Option<Arc<dyn Backend>>,
    ) -> Self {
        let clock = Arc::new(ManualClock::new(t));
        let on_clock = opener.clone().clock(clock.clone());
        let store = match &backend {
            Some(backend) => on_clock.open_on(backend.clone()),
            None => on_clock.open(dir.path()),
        };
        Self {
            store,
            clock,
            dir,
            opener,
            backend,
        }
    }

    /// Closes the store and hands over its directory. Every `Vault` and `KeyHandle` of the
    /// store must be dropped first: they keep the database open.
    pub fn close(self) -> tempfile::TempDir {
        self.dir
    }

    /// Closes the store and opens it again, with the same master key, on a new manual clock
    /// at `t`. Every `Vault` and `KeyHandle` of the store must be dropped first: they keep
    /// the database open.
    pub fn reopen(self, t: u64) -> Self {
        let Self {
            store,
            dir,
            opener,
            backend,
            ..
        } = self;
        drop(store);
        Self::open_in(dir, opener, t, backend)
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Creates vault `name` with `options` and returns it.
    pub fn vault(&self, name: &str, options: VaultOptions) -> Vault {
        create_vault(&self.store, name, options)
    }
}

impl Default for TempStore {
    fn default() -> Self {
        Self::new()
    }
}

/// Creates vault `name` in `store` with `options` and returns it.
#[track_caller]
pub fn create_vault(store: &Store, name: &str, options: VaultOptions) -> Vault {
    store
        .create_vault(name, options)
        .unwrap_or_else(|e| panic!("create vault {name}: {e}"));
    store.vault(name).expect("the vault just created")
}

/// A Managed HSM vault with `retention_days` of soft-delete retention.
pub fn hsm(retention_days: u32, purge_protection: bool) -> VaultOptions {
    VaultOptions {
        kind: VaultKind::ManagedHsm,
        retention_days,
        purge_protection,
    }
}

/// A vault of kind `vault` (keys, secrets and certificates) with `retention_days` of
/// soft-delete retention.
pub fn key_vault(retention_days: u32, purge_protection: bool) -> VaultOptions {
    VaultOptions {
        kind: VaultKind::Vault,
        retention_days,
        purge_protection,
    }
}

/// A Managed HSM vault with the default retention and no purge protection.
pub fn default_hsm() -> VaultOptions {
    VaultOptions {
        kind: VaultKind::ManagedHsm,
        ..VaultOptions::default()
    }
}

/// Tags from pairs.
pub fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Creates an EC-HSM P-256 key (or a new version of it) named `name`; returns the version.
#[track_caller]
pub fn ec_key(vault: &Vault, name: &str) -> String {
    ec_key_with(vault, name, KeyOptions::default())
}

/// [`ec_key`] with `options`.
#[track_caller]
pub fn ec_key_with(vault: &Vault, name: &str, options: KeyOptions) -> String {
    let spec = KeySpec::Ec(CurveName::P256);
    vault
        .create_key(name, KeyType::EcHsm, spec, options)
        .unwrap_or_else(|e| panic!("create EC key {name}: {e}"))
        .version
}

/// Creates an oct-HSM 256-bit key (or a new version of it) named `name`; returns the version.
#[track_caller]
pub fn oct_key(vault: &Vault, name: &str) -> String {
    vault
        .create_key(
            name,
            KeyType::OctHsm,
            KeySpec::Oct(256),
            KeyOptions::default(),
        )
        .unwrap_or_else(|e| panic!("create oct key {name}: {e}"))
        .version
}

/// The type of the workload keys of the stress and crash tests: `ec-*` names are EC-HSM
/// P-256 keys, the others oct-HSM 256-bit keys.
pub fn test_key_spec(name: &str) -> (KeyType, KeySpec) {
    if name.starts_with("ec-") {
        (KeyType::EcHsm, KeySpec::Ec(CurveName::P256))
    } else {
        (KeyType::OctHsm, KeySpec::Oct(256))
    }
}

/// Uses a workload key (see [`test_key_spec`]): signs `input` (ES256) with an EC key,
/// wraps it (A256KW) with an oct key. Returns the signature or the wrapped key.
pub fn exercise_key(h: &KeyHandle, input: &[u8; 32]) -> localhsm::Result<Vec<u8>> {
    if h.name().starts_with("ec-") {
        h.sign(SignatureAlgorithm::ES256, input)
    } else {
        h.wrap_key(WrapAlgorithm::A256Kw, input)
    }
}

/// Every item of a paged listing: `list` is called with each continuation in turn.
pub fn all_pages<T>(
    mut list: impl FnMut(Option<&str>) -> localhsm::Result<Page<T>>,
) -> localhsm::Result<Vec<T>> {
    let mut items = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = list(next.as_deref())?;
        items.extend(page.items);
        match page.next {
            Some(n) => next = Some(n),
            None => return Ok(items),
        }
    }
}

/// Everything a store holds that a caller can see, as text, one line per item: vaults (live
/// and deleted) and, for every live vault, its [`vault_snapshot`]. Two equal snapshots mean
/// no visible change.
pub fn snapshot(store: &Store) -> String {
    let mut out = String::new();
    for v in store.list_deleted_vaults().expect("list deleted vaults") {
        out += &format!("deleted-vault {}: {v:?}\n", v.name);
    }
    for info in store.list_vaults().expect("list vaults") {
        out += &format!("vault {}: {info:?}\n", info.name);
        out += &vault_snapshot(&store.vault(&info.name).expect("vault"));
    }
    out
}

/// Every version of every live key of `vault` in listing order (attributes, tags, key_ops,
/// public key), and every deleted key, one line each; listed in small pages, so that paging
/// is exercised too.
pub fn vault_snapshot(vault: &Vault) -> String {
    let name = vault.name();
    let mut out = String::new();
    for key in all_pages(|next| vault.list_keys(7, next)).expect("list keys") {
        let versions = all_pages(|next| vault.list_versions(&key.name, 5, next));
        for (i, b) in versions.expect("list versions").iter().enumerate() {
            out += &format!("key {name}/{}/{i} {}: {b:?}\n", b.name, b.version);
        }
    }
    for d in all_pages(|next| vault.list_deleted_keys(7, next)).expect("list deleted keys") {
        out += &format!("deleted-key {name}/{}: {d:?}\n", d.key.name);
    }
    out
}

/// The line-by-line difference of two snapshots, for failure messages.
pub fn snapshot_diff(before: &str, after: &str) -> String {
    let b: std::collections::BTreeSet<&str> = before.lines().collect();
    let a: std::collections::BTreeSet<&str> = after.lines().collect();
    let mut out = String::new();
    for l in b.difference(&a) {
        out += &format!("- {l}\n");
    }
    for l in a.difference(&b) {
        out += &format!("+ {l}\n");
    }
    out
}

/// Every secret a store holds that a caller can see, as text, one line per item: for every
/// live vault that holds secrets, every version of every live secret in listing order
/// (attributes, tags, content type) with a digest of its value (or that it is disabled), and
/// every deleted secret; listed in small pages. Two equal snapshots mean no visible change;
/// values themselves are never written down.
pub fn secrets_snapshot(store: &Store) -> String {
    use std::hash::{Hash, Hasher};
    let mut out = String::new();
    for info in store.list_vaults().expect("list vaults") {
        if !info.holds(localhsm::ObjectKind::Secret) {
            continue;
        }
        let vault = store.vault(&info.name).expect("vault");
        let name = vault.name();
        for s in all_pages(|next| vault.list_secrets(7, next)).expect("list secrets") {
            let versions = all_pages(|next| vault.list_secret_versions(&s.name, 5, next));
            for (i, b) in versions.expect("list secret versions").iter().enumerate() {
                let value = match vault.get_secret(&b.name, Some(&b.version)) {
                    Ok(got) => {
                        let mut h = std::collections::hash_map::DefaultHasher::new();
                        got.value.as_ref().map(|v| v.expose()).hash(&mut h);
                        format!("value digest {:016x}", h.finish())
                    }
                    Err(e) => format!("value refused: {e}"),
                };
                out += &format!(
                    "secret {name}/{}/{i} {}: {b:?} {value}\n",
                    b.name, b.version
                );
            }
        }
        for d in all_pages(|next| vault.list_deleted_secrets(7, next)).expect("deleted secrets") {
            out += &format!("deleted-secret {name}/{}: {d:?}\n", d.secret.name);
        }
    }
    out
}

/// Every certificate a store holds that a caller can see, as text, one line per item: for
/// every live vault that holds certificates, every version of every live certificate
/// (pending ones included) in listing order with its policy and pending operation, every
/// deleted certificate, the vault's contacts and its issuers; listed in small pages. Two
/// equal snapshots mean no visible change to certificates; [`vault_snapshot`] and
/// [`secrets_snapshot`] cover the keys and secrets they own.
pub fn certificates_snapshot(store: &Store) -> String {
    let mut out = String::new();
    for info in store.list_vaults().expect("list vaults") {
        if !info.holds(localhsm::ObjectKind::Certificate) {
            continue;
        }
        let vault = store.vault(&info.name).expect("vault");
        let name = vault.name();
        let listed = all_pages(|next| vault.list_certificates(7, next, true));
        for c in listed.expect("list certificates") {
            let versions = all_pages(|next| vault.list_certificate_versions(&c.name, 5, next));
            for (i, b) in versions.expect("certificate versions").iter().enumerate() {
                // The certificate by its thumbprint, so that a line stays readable.
                let x5t = b.x5t.as_deref().map(hex::encode);
                out += &format!(
                    "certificate {name}/{}/{i} {}: x5t {x5t:?} {:?} tags {:?} current {} \
                     content type {} policy {:?}\n",
                    b.name, b.version, b.attributes, b.tags, b.is_current, b.content_type, b.policy
                );
            }
            let policy = vault.get_certificate_policy(&c.name);
            out += &format!("certificate-policy {name}/{}: {policy:?}\n", c.name);
            let op = vault.get_certificate_operation(&c.name);
            out += &format!("certificate-operation {name}/{}: {op:?}\n", c.name);
        }
        let deleted = all_pages(|next| vault.list_deleted_certificates(7, next));
        for d in deleted.expect("deleted certificates") {
            let b = &d.certificate;
            let x5t = b.x5t.as_deref().map(hex::encode);
            out += &format!(
                "deleted-certificate {name}/{}: {:?} {} x5t {x5t:?} {:?} tags {:?}\n",
                b.name, d.deletion, b.version, b.attributes, b.tags
            );
        }
        let contacts = vault.get_certificate_contacts();
        out += &format!("certificate-contacts {name}: {contacts:?}\n");
        let issuers = all_pages(|next| vault.list_certificate_issuers(7, next));
        for i in issuers.expect("certificate issuers") {
            let ca = hex::encode(&i.ca_certificate[..i.ca_certificate.len().min(24)]);
            out += &format!(
                "certificate-issuer {name}/{}: {} {:?} {:?} {} {} {} CA {ca}..\n",
                i.name, i.provider, i.account_id, i.organization, i.enabled, i.created, i.updated
            );
        }
    }
    out
}
