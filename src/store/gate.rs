//! A consistent, sealed copy of the whole store: the gate every change passes through, the
//! file `localhsm store backup` writes, and the steps `localhsm store restore` takes.
//!
//! # The gate
//!
//! [`Gate`] wraps the backend, outside every other wrapper, so what it copies is what the
//! store acknowledged. Each transaction and each batch holds it shared; a backup holds it
//! exclusively while it reads every table, so the copy is one point in time: changes wait for
//! the scan (a multi-record change is in the copy whole or not at all), reads never wait, so
//! signing and other key operations go on during a backup.
//!
//! # The file (format 1)
//!
//! ```text
//! header  "localhsm store backup\n" | format u16 | schema u32 | id [16] | salt len u16 | salt
//!         | check len u16 | check
//! chunk   final u8 | len u32 | sealed payload          (repeated; the last one has final = 1)
//! ```
//!
//! Integers are big-endian. The header is in the clear and holds nothing secret: the schema
//! of the store, a random id, the passphrase salt (public, as in the store) and `check`, a
//! known value sealed under the backup key, so a wrong master key is told apart from a
//! damaged file. Each payload (1 MiB at most) is sealed with AES-256-GCM under the backup key
//! derived from the master key (`Purpose::Backup`) with associated data of its own,
//! `localhsm/store-backup/v1 NUL header || index u64 || final u8`: a chunk changed, dropped,
//! moved, taken from another backup or cut off fails to open, and the file ends right after
//! its one final chunk. The payloads, joined, are every record of every table in
//! `Table::ALL` order, `name len u8 | table name | key len u32 | key | value len u32 | value`,
//! then `0 u8 | record count u64`. Records keep their secrets sealed under the record key;
//! the backup seals everything again.
//!
//! # Restore
//!
//! A restore checks the whole file first (header, master key, every chunk), then writes the
//! records into a new store in a staging directory inside the data directory, through the
//! normal storage stack; reopens it there (so every check at open passes on it before it is
//! used); and only then moves it into place: `DIR/db` and the `DIR/store.*` files, replacing
//! those of an existing store only when asked to. The master key file is never touched.
//! Until that last step the target is untouched, whatever fails.

use std::collections::HashSet;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::master_key::{self, MasterKeySource, KEY_FILE_NAME, MASTER_KEY_ENV};
use super::seal::{Purpose, Sealer};
use super::seam::{Backend, KeyRange, Rows, StoreLock, Table, Txn, Watcher, Write};
use super::sled::{SledBackend, DB_DIR};
use crate::crypto::{random_bytes, SecretBytes};
use crate::error::{Error, Result};

const MAGIC: &[u8] = b"localhsm store backup\n";
const FORMAT: u16 = 1;
/// Largest payload of one chunk.
const CHUNK: usize = 1 << 20;
/// Largest sealed chunk a reader accepts: a payload with the seal's overhead.
const MAX_SEALED: usize = CHUNK + 64;
const CHUNK_AAD: &[u8] = b"localhsm/store-backup/v1\0";
const CHECK_AAD: &[u8] = b"localhsm/store-backup/v1/check";
const CHECK_PLAINTEXT: &[u8] = b"localhsm store backup key check v1";
/// How many records a scan reads, and a restore writes, at a time.
const BATCH: usize = 1024;

/// The backend of a store, with the gate that lets a backup see one point in time.
pub(crate) struct Gate {
    inner: Arc<dyn Backend>,
    changes: RwLock<()>,
}

impl Gate {
    /// Gates `inner`.
    pub(crate) fn new(inner: Arc<dyn Backend>) -> Self {
        Self {
            inner,
            changes: RwLock::new(()),
        }
    }

    /// Every record of every table, encoded as the backup's payload, as of one moment.
    fn snapshot(&self) -> Result<Vec<u8>> {
        let _exclusive = self.changes.write().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        let mut count = 0u64;
        for table in Table::ALL {
            let mut range = KeyRange::all();
            loop {
                let rows = self.inner.scan(table, &range, BATCH)?;
                let Some((last, _)) = rows.last() else {
                    break;
                };
                range.start = Bound::Excluded(last.clone());
                for (key, value) in &rows {
                    push_record(&mut out, table, key, value)?;
                    count += 1;
                }
            }
        }
        out.push(0);
        out.extend_from_slice(&count.to_be_bytes());
        Ok(out)
    }

    /// A sealed copy of the whole store (see the module docs), for a store of `schema`
    /// whose passphrase salt, if it has one, is `salt`.
    pub(crate) fn backup(
        &self,
        sealer: &Sealer,
        schema: u32,
        salt: Option<&[u8]>,
    ) -> Result<Vec<u8>> {
        let records = self.snapshot()?;
        let mut header = Vec::with_capacity(MAGIC.len() + 40);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&FORMAT.to_be_bytes());
        header.extend_from_slice(&schema.to_be_bytes());
        header.extend_from_slice(&random_bytes(16)?);
        push_short(&mut header, salt.unwrap_or_default())?;
        let mut out = header.clone();
        push_short(
            &mut out,
            &sealer.seal(Purpose::Backup, CHECK_AAD, CHECK_PLAINTEXT)?,
        )?;
        let pieces: Vec<&[u8]> = records.chunks(CHUNK).collect();
        for (index, piece) in pieces.iter().enumerate() {
            let last = index + 1 == pieces.len();
            let sealed = sealer.seal(Purpose::Backup, &chunk_aad(&header, index, last), piece)?;
            out.push(u8::from(last));
            out.extend_from_slice(
                &u32::try_from(sealed.len())
                    .unwrap_or(u32::MAX)
                    .to_be_bytes(),
            );
            out.extend_from_slice(&sealed);
        }
        Ok(out)
    }
}

impl Backend for Gate {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.get(table, key)
    }

    fn scan(&self, table: Table, range: &KeyRange, limit: usize) -> Result<Rows> {
        self.inner.scan(table, range, limit)
    }

    fn transact(&self, work: &mut dyn FnMut(&mut dyn Txn) -> Result<()>) -> Result<()> {
        let _shared = self.changes.read().unwrap_or_else(|p| p.into_inner());
        self.inner.transact(work)
    }

    fn apply(&self, writes: &[Write]) -> Result<()> {
        let _shared = self.changes.read().unwrap_or_else(|p| p.into_inner());
        self.inner.apply(writes)
    }

    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    fn next_id(&self) -> Result<u64> {
        self.inner.next_id()
    }

    fn shared(&self) -> bool {
        self.inner.shared()
    }

    fn watch(&self, watcher: Watcher) {
        self.inner.watch(watcher)
    }

    fn exclusive(
        &self,
        lock: StoreLock,
        wait: bool,
        work: &mut dyn FnMut() -> Result<()>,
    ) -> Result<bool> {
        self.inner.exclusive(lock, wait, work)
    }
}

fn push_short(out: &mut Vec<u8>, bytes: &[u8]) -> Result<()> {
    let len = u16::try_from(bytes.len())
        .map_err(|_| Error::Storage("a backup header field is too long".into()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

fn push_record(out: &mut Vec<u8>, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
    let name = table.name().as_bytes();
    let long = |n: usize| {
        u32::try_from(n).map_err(|_| Error::Storage("a record is too large to back up".into()))
    };
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(&long(key.len())?.to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&long(value.len())?.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

fn chunk_aad(header: &[u8], index: usize, last: bool) -> Vec<u8> {
    let mut aad = Vec::with_capacity(CHUNK_AAD.len() + header.len() + 9);
    aad.extend_from_slice(CHUNK_AAD);
    aad.extend_from_slice(header);
    aad.extend_from_slice(&(index as u64).to_be_bytes());
    aad.push(u8::from(last));
    aad
}

/// A problem with a backup file or a restore, in a sentence.
fn refused(problem: impl Into<String>) -> Error {
    Error::StoreBackup {
        problem: problem.into(),
    }
}

fn damaged(what: &str) -> Error {
    refused(format!(
        "the backup file is damaged: {what}; nothing was restored. Use another copy of the \
         backup"
    ))
}

/// Reads a file front to back.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|b| b.try_into().ok())
    }

    fn short(&mut self) -> Option<&'a [u8]> {
        let len = u16::from_be_bytes(self.array()?);
        self.take(usize::from(len))
    }

    fn long(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(self.array()?);
        self.take(usize::try_from(len).ok()?)
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

/// The clear header of a backup file.
pub(crate) struct Header {
    /// The header up to the check, bound into every chunk.
    bound: Vec<u8>,
    salt: Option<Vec<u8>>,
    check: Vec<u8>,
    /// Where the chunks start.
    body: usize,
}

impl Header {
    /// Reads the header of `file`, refusing a file that is not a store backup, or that holds
    /// a store of a schema other than `schema` (the one this build reads and writes).
    pub(crate) fn read(file: &[u8], schema: u32) -> Result<Self> {
        if !file.starts_with(MAGIC) {
            return Err(refused(
                "the file is not a localhsm store backup (one that `localhsm store backup` \
                 writes); a single key's or secret's backup is restored with `localhsm key \
                 restore` or `localhsm secret restore`",
            ));
        }
        let mut r = Reader {
            bytes: file,
            at: MAGIC.len(),
        };
        let cut = || damaged("it is cut short inside its header");
        let format = u16::from_be_bytes(r.array().ok_or_else(cut)?);
        if format != FORMAT {
            return Err(refused(format!(
                "the backup was written in backup format {format} by a newer localhsm; this one \
                 reads format {FORMAT}: restore it with the release that made it, or a later one"
            )));
        }
        let found = u32::from_be_bytes(r.array().ok_or_else(cut)?);
        if found > schema {
            return Err(refused(format!(
                "the backup holds a store of schema {found}, newer than this localhsm reads \
                 ({schema}): restore it with the release that made it, or a later one"
            )));
        }
        if found < schema {
            return Err(refused(format!(
                "the backup holds a store of schema {found}; this localhsm restores schema \
                 {schema}: restore it with the release that made it, then open the store with \
                 this one, which upgrades it"
            )));
        }
        r.take(16).ok_or_else(cut)?;
        let salt = r.short().ok_or_else(cut)?;
        let bound = file[..r.at].to_vec();
        let check = r.short().ok_or_else(cut)?.to_vec();
        Ok(Self {
            bound,
            salt: (!salt.is_empty()).then(|| salt.to_vec()),
            check,
            body: r.at,
        })
    }
}

/// The master key a restore into `dir` opens the backup with, from `source` as every
/// command reads it, with the backup's own passphrase salt. Never creates a key file: a new
/// key could not open the backup.
pub(crate) fn restore_key(
    source: MasterKeySource,
    dir: &Path,
    header: &Header,
) -> Result<SecretBytes> {
    let reads_file = match &source {
        MasterKeySource::KeyFile => true,
        MasterKeySource::Default => std::env::var_os(MASTER_KEY_ENV).is_none(),
        _ => false,
    };
    let key_file = dir.join(KEY_FILE_NAME);
    if reads_file && !key_file.exists() {
        return Err(refused(format!(
            "there is no master key to open the backup with: {MASTER_KEY_ENV} is not set and \
             {} does not exist. A backup is sealed under the master key of the store it was \
             made from: copy that store's {KEY_FILE_NAME} to {} (mode 0600), or set \
             {MASTER_KEY_ENV} to that key",
            key_file.display(),
            key_file.display()
        )));
    }
    let salt = header.salt.clone();
    master_key::resolve(source, Some(dir), false, move || {
        salt.ok_or_else(|| {
            refused(
                "the backup was made from a store sealed under a master key, not a \
                 passphrase: give that key instead",
            )
        })
    })
}

/// A backup file, opened and checked whole: every record of the store it was made from.
pub(crate) struct Image {
    records: Vec<(Table, Vec<u8>, Vec<u8>)>,
}

impl Image {
    /// Opens every chunk of `file` under `sealer` and decodes the records; any failure is
    /// an error that names it, before anything is written anywhere.
    pub(crate) fn open(sealer: &Sealer, header: &Header, file: &[u8]) -> Result<Self> {
        let check = sealer.open(Purpose::Backup, CHECK_AAD, &header.check);
        if check.as_ref().map(SecretBytes::expose) != Some(CHECK_PLAINTEXT) {
            return Err(refused(
                "the backup is sealed under another master key than the one given (or its \
                 header is damaged): use the master key of the store it was made from, in \
                 LOCALHSM_MASTER_KEY or as the data directory's master.key",
            ));
        }
        let mut r = Reader {
            bytes: file,
            at: header.body,
        };
        let mut payload = zeroize::Zeroizing::new(Vec::new());
        let mut index = 0usize;
        loop {
            if r.done() {
                return Err(damaged(&format!(
                    "it is cut short: it ends after chunk {index} of a longer file"
                )));
            }
            let cut = || damaged(&format!("it is cut short inside chunk {}", index + 1));
            let [flag] = r.array::<1>().ok_or_else(cut)?;
            let last = match flag {
                0 => false,
                1 => true,
                _ => return Err(damaged(&format!("chunk {} has a bad marker", index + 1))),
            };
            let len = u32::from_be_bytes(r.array().ok_or_else(cut)?) as usize;
            if len > MAX_SEALED {
                return Err(damaged(&format!("chunk {} has a bad length", index + 1)));
            }
            let sealed = r.take(len).ok_or_else(cut)?;
            let opened = sealer
                .open(
                    Purpose::Backup,
                    &chunk_aad(&header.bound, index, last),
                    sealed,
                )
                .ok_or_else(|| {
                    damaged(&format!(
                        "chunk {} does not authenticate (changed, moved, or taken from \
                         another backup)",
                        index + 1
                    ))
                })?;
            payload.extend_from_slice(opened.expose());
            index += 1;
            if last {
                break;
            }
        }
        if !r.done() {
            return Err(damaged("it goes on after its last chunk"));
        }
        Self::decode(&payload)
    }

    fn decode(payload: &[u8]) -> Result<Self> {
        let bad = || damaged("its records do not decode");
        let mut r = Reader {
            bytes: payload,
            at: 0,
        };
        let mut records = Vec::new();
        loop {
            let [len] = r.array::<1>().ok_or_else(bad)?;
            if len == 0 {
                break;
            }
            let name = r.take(usize::from(len)).ok_or_else(bad)?;
            let table = Table::ALL
                .into_iter()
                .find(|t| t.name().as_bytes() == name)
                .ok_or_else(|| {
                    refused(format!(
                        "the backup holds a table ({}) this localhsm does not know: restore it \
                         with the release that made it, or a later one",
                        String::from_utf8_lossy(name)
                    ))
                })?;
            let key = r.long().ok_or_else(bad)?.to_vec();
            let value = r.long().ok_or_else(bad)?.to_vec();
            records.push((table, key, value));
        }
        let count = u64::from_be_bytes(r.array().ok_or_else(bad)?);
        if !r.done() || count != records.len() as u64 {
            return Err(bad());
        }
        Ok(Self { records })
    }

    /// The value of the `Meta` record `key`.
    pub(crate) fn meta(&self, key: &[u8]) -> Option<&[u8]> {
        self.records
            .iter()
            .find(|(t, k, _)| *t == Table::Meta && k == key)
            .map(|(_, _, v)| v.as_slice())
    }

    /// Writes every record into the new, empty store behind `backend`, in batches. The
    /// `Meta` records that store already holds (its schema, its master key check, the
    /// bookkeeping of the storage stack) are its own and stay.
    pub(crate) fn write_to(&self, backend: &dyn Backend) -> Result<RestoreReport> {
        let own: HashSet<Vec<u8>> = backend
            .scan(Table::Meta, &KeyRange::all(), usize::MAX)?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let mut batch = Vec::with_capacity(BATCH);
        for (table, key, value) in &self.records {
            if *table == Table::Meta && own.contains(key) {
                continue;
            }
            batch.push(Write::Put(*table, key.clone(), value.clone()));
            if batch.len() == BATCH {
                backend.apply(&batch)?;
                batch.clear();
            }
        }
        if !batch.is_empty() {
            backend.apply(&batch)?;
        }
        Ok(RestoreReport {
            records: self.records.len(),
            vaults: self
                .records
                .iter()
                .filter(|(t, ..)| *t == Table::Vaults)
                .map(|(_, k, _)| String::from_utf8_lossy(k).into_owned())
                .collect(),
            replaced: false,
        })
    }
}

/// How far a restore has got, for the checks of its caller.
pub(crate) enum RestoreStep<'a> {
    /// The whole file is checked; nothing is written yet.
    Checked,
    /// The new store is built in `staging`, sealed under `key`, and not yet in place.
    Built {
        /// The staging directory (a data directory).
        staging: &'a Path,
        /// The master key.
        key: &'a SecretBytes,
    },
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestoreReport {
    /// How many records the backup held (every table).
    pub records: usize,
    /// The vaults restored (live and soft-deleted), by name.
    pub vaults: Vec<String>,
    /// Whether a store that was there before was replaced (`force`).
    pub replaced: bool,
}

/// Whether a directory entry belongs to a store: its database or its `store.*` files.
fn is_store_entry(name: &str) -> bool {
    name == DB_DIR || name.starts_with("store.")
}

/// The names of the store's entries in `dir`.
fn store_entries(dir: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if is_store_entry(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

fn io_problem(what: &str, path: &Path, e: &std::io::Error) -> Error {
    refused(format!("cannot {what} {}: {e}", path.display()))
}

/// The data directory a restore writes into: the staging directory the new store is built
/// in, and, with `force`, the old store held locked until it is moved out.
pub(crate) struct Target {
    dir: PathBuf,
    staging: PathBuf,
    held: Option<SledBackend>,
    /// Where the old store went, once it is moved out; kept if it could not be put back.
    keep_staging: bool,
}

impl Target {
    /// Checks that a restore may write into `dir` and makes its staging directory: `dir`
    /// must hold no store, or `force` must be given and no other process (a running server)
    /// may hold it.
    pub(crate) fn prepare(dir: &Path, force: bool) -> Result<Self> {
        let existing = store_entries(dir)?;
        if !existing.is_empty() && !force {
            return Err(refused(format!(
                "{} already holds a store ({}); restoring would replace it. Pass --force to \
                 replace it (its master key file stays), or restore into another --data DIR",
                dir.display(),
                existing.join(", ")
            )));
        }
        let held = if dir.join(DB_DIR).exists() {
            match SledBackend::open(dir) {
                Ok(b) => Some(b),
                Err(Error::StoreLocked { .. }) => {
                    return Err(refused(format!(
                        "the store in {} is in use by another process (is `localhsm serve` \
                         running on it?): stop the server, then restore; nothing was changed",
                        dir.display()
                    )))
                }
                // A store the engine cannot even open is what `--force` is for.
                Err(_) => None,
            }
        } else {
            None
        };
        // A new data directory is its owner's alone, as `SledBackend::open` makes it.
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|e| io_problem("create", dir, &e))?;
        let staging = dir.join(format!(".restore-{}", std::process::id()));
        if staging.exists() {
            std::fs::remove_dir_all(&staging)
                .map_err(|e| io_problem("remove the leftover", &staging, &e))?;
        }
        std::fs::create_dir(&staging).map_err(|e| io_problem("create", &staging, &e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            staging,
            held,
            keep_staging: false,
        })
    }

    /// Where the new store is built.
    pub(crate) fn staging(&self) -> &Path {
        &self.staging
    }

    /// Moves the new store into place, the old one (if any) out, and removes the staging
    /// directory. Returns whether a store was replaced.
    pub(crate) fn swap(mut self) -> Result<bool> {
        let old = store_entries(&self.dir)?;
        let replaced = self.staging.join("replaced");
        let new: Vec<String> = store_entries(&self.staging)?;
        if !old.is_empty() {
            std::fs::create_dir(&replaced).map_err(|e| io_problem("create", &replaced, &e))?;
        }
        let mut moved_out = Vec::new();
        for name in &old {
            if let Err(e) = std::fs::rename(self.dir.join(name), replaced.join(name)) {
                self.put_back(&replaced, &moved_out);
                return Err(io_problem("move aside", &self.dir.join(name), &e));
            }
            moved_out.push(name.clone());
        }
        // The old store is out of the way: release it.
        drop(self.held.take());
        let mut moved_in = Vec::new();
        for name in &new {
            if let Err(e) = std::fs::rename(self.staging.join(name), self.dir.join(name)) {
                for n in &moved_in {
                    let _ = std::fs::rename(self.dir.join(n), self.staging.join(n));
                }
                self.put_back(&replaced, &moved_out);
                return Err(io_problem("move into place", &self.staging.join(name), &e));
            }
            moved_in.push(name.clone());
        }
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(!old.is_empty())
    }

    /// Puts the old store's entries back after a failed swap; if that fails too, keeps the
    /// staging directory (it holds them) and says where.
    fn put_back(&mut self, replaced: &Path, names: &[String]) {
        for name in names {
            if std::fs::rename(replaced.join(name), self.dir.join(name)).is_err() {
                self.keep_staging = true;
                tracing::error!(
                    kept = %replaced.display(),
                    "the replaced store could not be put back; its files are kept here"
                );
            }
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        drop(self.held.take());
        if !self.keep_staging {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryBackend;

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(&SecretBytes::new(vec![byte; 32])).unwrap()
    }

    fn gate_with(records: usize) -> Gate {
        let backend = MemoryBackend::new();
        let mut writes = vec![Write::Put(
            Table::Meta,
            b"schema".to_vec(),
            vec![0, 0, 0, 1],
        )];
        for i in 0..records {
            writes.push(Write::Put(
                Table::Vaults,
                format!("v{i:05}").into_bytes(),
                vec![b'x'; 700],
            ));
        }
        backend.apply(&writes).unwrap();
        Gate::new(Arc::new(backend))
    }

    fn open(s: &Sealer, file: &[u8]) -> Result<Image> {
        let header = Header::read(file, 1)?;
        Image::open(s, &header, file)
    }

    #[test]
    fn a_backup_opens_whole_and_every_change_to_it_is_refused() {
        let s = sealer(1);
        // Over two chunks, so order and truncation at a chunk boundary are exercised.
        let file = gate_with(2000).backup(&s, 1, None).unwrap();
        let image = open(&s, &file).unwrap();
        assert_eq!(image.records.len(), 2001);
        assert_eq!(image.meta(b"schema"), Some(&[0, 0, 0, 1][..]));

        let problem_under = |s: &Sealer, f: &[u8]| match open(s, f) {
            Err(Error::StoreBackup { problem }) => problem,
            other => panic!("not refused: {:?}", other.map(|i| i.records.len())),
        };
        let problem = |f: &[u8]| problem_under(&s, f);
        assert!(problem_under(&sealer(2), &file).contains("another master key"));
        let mut flipped = file.clone();
        let at = flipped.len() - 100;
        flipped[at] ^= 1;
        assert!(problem(&flipped).contains("does not authenticate"));
        assert!(problem(&file[..file.len() - 1]).contains("cut short"));
        let header = Header::read(&file, 1).unwrap();
        let first_len =
            u32::from_be_bytes(file[header.body + 1..header.body + 5].try_into().unwrap()) as usize;
        let first_end = header.body + 5 + first_len;
        assert!(problem(&file[..first_end]).contains("cut short"));
        // The second chunk first: neither opens at the other's place.
        let mut reordered = file[..header.body].to_vec();
        reordered.extend_from_slice(&file[first_end..]);
        reordered.extend_from_slice(&file[header.body..first_end]);
        assert!(problem(&reordered).contains("does not authenticate"));
        let mut longer = file.clone();
        longer.push(0);
        assert!(problem(&longer).contains("goes on after"));
        // A chunk of another backup of the same store, under the same key.
        let other = gate_with(2000).backup(&s, 1, None).unwrap();
        let mut spliced = file[..first_end].to_vec();
        spliced.extend_from_slice(&other[first_end..]);
        assert!(problem(&spliced).contains("does not authenticate"));
        assert!(problem(b"not a backup").contains("not a localhsm store backup"));
        assert!(
            matches!(Header::read(&file, 0), Err(Error::StoreBackup { problem }) if problem.contains("newer"))
        );
    }

    /// A backend whose scans are slow, so changes would land between the tables of a copy
    /// if the gate let them.
    struct SlowScans(MemoryBackend);

    impl Backend for SlowScans {
        fn location(&self) -> String {
            self.0.location()
        }
        fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
            self.0.get(table, key)
        }
        fn scan(&self, table: Table, range: &KeyRange, limit: usize) -> Result<Rows> {
            std::thread::sleep(std::time::Duration::from_millis(5));
            self.0.scan(table, range, limit)
        }
        fn transact(&self, work: &mut dyn FnMut(&mut dyn Txn) -> Result<()>) -> Result<()> {
            self.0.transact(work)
        }
        fn apply(&self, writes: &[Write]) -> Result<()> {
            self.0.apply(writes)
        }
        fn flush(&self) -> Result<()> {
            self.0.flush()
        }
        fn next_id(&self) -> Result<u64> {
            self.0.next_id()
        }
    }

    #[test]
    fn a_backup_is_one_point_in_time_while_changes_go_on() {
        let gate = Arc::new(Gate::new(Arc::new(SlowScans(MemoryBackend::new()))));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Each change writes a vault record and an issuer record in one transaction: the
        // first and the last table but one of the copy.
        let writer = {
            let (gate, stop) = (gate.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u32;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    gate.transact(&mut |tx| {
                        tx.put(Table::Vaults, &n.to_be_bytes(), b"v")?;
                        tx.put(Table::Issuers, &n.to_be_bytes(), b"i")
                    })
                    .unwrap();
                    n += 1;
                    std::thread::sleep(std::time::Duration::from_micros(500));
                }
                n
            })
        };
        let s = sealer(3);
        let count = |table: Table, image: &Image| {
            image.records.iter().filter(|(t, ..)| *t == table).count()
        };
        let mut copies = Vec::new();
        for _ in 0..5 {
            std::thread::sleep(std::time::Duration::from_millis(10));
            let file = gate.backup(&s, 1, None).unwrap();
            let image = open(&s, &file).unwrap();
            let (vaults, issuers) = (count(Table::Vaults, &image), count(Table::Issuers, &image));
            assert_eq!(vaults, issuers, "a change is half in the copy");
            copies.push(vaults);
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let written = writer.join().unwrap() as usize;
        assert!(
            copies.windows(2).all(|w| w[0] < w[1]) && copies[4] <= written,
            "changes went on between the copies: {copies:?} of {written}"
        );
    }

    #[test]
    fn changes_wait_for_a_backup_and_reads_do_not() {
        let gate = Arc::new(gate_with(10));
        let exclusive = gate.changes.write().unwrap();
        let writer = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                gate.apply(&[Write::Put(Table::Vaults, b"late".to_vec(), vec![1])])
                    .unwrap()
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(
            !writer.is_finished(),
            "a change went through during a backup"
        );
        assert_eq!(gate.get(Table::Vaults, b"late").unwrap(), None);
        assert!(gate.get(Table::Vaults, b"v00001").unwrap().is_some());
        drop(exclusive);
        writer.join().unwrap();
        assert_eq!(gate.get(Table::Vaults, b"late").unwrap(), Some(vec![1]));
    }
}
