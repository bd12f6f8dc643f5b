//! Tamper and rollback evidence at the seam: [`IntegrityBackend`] wraps any [`Backend`] and
//! lets the store prove at open that it is the state it last acknowledged.
//!
//! What it keeps (schema 2):
//! - In the database, `meta/integrity`: a commit counter and a **set digest** of every record
//!   of every table (all but this one record): the sum modulo 2^256 of
//!   `HMAC-SHA256(k, table || 0 || len(key) || key || value)` over all records, with `k`
//!   derived from the master key ([`super::seal::Purpose::Integrity`]); the pair is MACed under
//!   `k` too, so neither can be edited alone. Every transaction updates both incrementally: a
//!   put or delete reads the old value in the same transaction, so the digest moves by
//!   `-old +new`. Blind batches ([`Backend::apply`]) become transactions for those reads.
//!   Commits are serialized by a mutex, so the one hot record does not make concurrent sled
//!   transactions conflict and retry; reads pass straight through and cost nothing.
//! - Outside the database, in the data directory, `store.anchor`: the counter and digest of
//!   the latest flushed commit, with the removal journal's length and chain value, MACed
//!   under `k`. It is written after each flush that advanced the counter and never moves
//!   backwards: in place, into the one of its two fixed slots that does not hold the newest
//!   copy, so a torn write leaves the one before it (see `AnchorFile` for why it is not a
//!   temp file renamed into place, and how durable it is). A crash between the database's
//!   flush and the anchor's write leaves the database ahead of the anchor, which is accepted
//!   (and re-anchored at open); a database behind the anchor is a rollback.
//! - `store.journal`: one line per removal that matters for "deleted stays deleted" (a live
//!   object deleted or purged, a deleted object recovered or purged, a vault soft-deleted,
//!   recovered or purged), as `counter event table key mac`, each MAC chaining the previous
//!   one. Lines are written when their transaction commits, before the database flush that
//!   makes the commit durable, so the journal is never behind an acknowledged commit (a line
//!   that cannot be written fails that flush); lines past the database's counter (a crash
//!   before the flush) are trimmed at the next open. `store repair` reads it to soft-delete
//!   what a rollback brought back.
//!
//! At open ([`open`]): the integrity record must authenticate; one scan of every table must
//! give the recorded digest; and, for a store with a data directory, the anchor must exist
//! (except for a store still at its creation commit), authenticate, and not be ahead of the
//! database, nor disagree with it at the same counter. Each failure is an
//! [`IntegrityProblem`]; enforced, the first refuses the open; inspected (`store verify`,
//! `store repair`), they are all reported. Stores without a data directory (memory,
//! `Store::builder_on`) keep the in-database digest check only.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use ring::hmac;

use super::seam::{Backend, KeyRange, Rows, StoreLock, Table, Txn, Watcher, Write};
use crate::error::{Error, IntegrityProblem, ObjectKind, Result};

/// The anchor's file name inside the data directory.
pub const ANCHOR_FILE: &str = "store.anchor";
/// The removal journal's file name inside the data directory.
pub const JOURNAL_FILE: &str = "store.journal";
/// The integrity record's key in the `meta` table.
pub(crate) const META_INTEGRITY: &[u8] = b"integrity";
/// The counter of a store's first commit. A store still there may lack an anchor (a crash
/// between its creation and the anchor's first write): it holds nothing to lose.
pub(crate) const CREATED: u64 = 1;

const RECORD_V1: u8 = 1;
const RECORD_LEN: usize = 1 + 8 + 32 + 32;
const ANCHOR_HEADER: &str = "localhsm store anchor v1";
const SCAN_BATCH: usize = 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn mac(key: &hmac::Key, parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = hmac::Context::with_key(key);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

fn mac_ok(key: &hmac::Key, parts: &[&[u8]], tag: &[u8]) -> bool {
    let expected = mac(key, parts);
    subtle::ConstantTimeEq::ct_eq(&expected[..], tag).into()
}

/// A set digest: the sum modulo 2^256 of the records' MACs, so that a record can be added or
/// taken away without reading the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Digest([u64; 4]);

impl Digest {
    fn limbs(h: &[u8; 32]) -> [u64; 4] {
        let mut l = [0u64; 4];
        for (i, chunk) in h.chunks_exact(8).enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            l[i] = u64::from_le_bytes(b);
        }
        l
    }

    fn add(&mut self, h: &[u8; 32]) {
        let o = Self::limbs(h);
        let mut carry = false;
        for (a, b) in self.0.iter_mut().zip(o) {
            let (s1, c1) = a.overflowing_add(b);
            let (s2, c2) = s1.overflowing_add(u64::from(carry));
            *a = s2;
            carry = c1 || c2;
        }
    }

    fn sub(&mut self, h: &[u8; 32]) {
        let o = Self::limbs(h);
        let mut borrow = false;
        for (a, b) in self.0.iter_mut().zip(o) {
            let (d1, b1) = a.overflowing_sub(b);
            let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
            *a = d2;
            borrow = b1 || b2;
        }
    }

    fn merge(&mut self, plus: &Digest, minus: &Digest) {
        self.add(&plus.bytes());
        self.sub(&minus.bytes());
    }

    /// The digest as 32 bytes (little-endian limbs).
    pub(crate) fn bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, l) in self.0.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&l.to_le_bytes());
        }
        out
    }

    fn from_bytes(b: &[u8; 32]) -> Self {
        Self(Self::limbs(b))
    }
}

/// Whether a record takes part in the digest (the integrity record itself does not).
fn covered(table: Table, key: &[u8]) -> bool {
    !(table == Table::Meta && key == META_INTEGRITY)
}

fn record_mac(key: &hmac::Key, table: Table, k: &[u8], v: &[u8]) -> [u8; 32] {
    let len = u32::try_from(k.len()).unwrap_or(u32::MAX).to_be_bytes();
    mac(key, &[table.name().as_bytes(), &[0], &len, k, v])
}

fn encode_record(key: &hmac::Key, counter: u64, digest: &Digest) -> Vec<u8> {
    let d = digest.bytes();
    let c = counter.to_be_bytes();
    let tag = mac(key, &[b"localhsm integrity record v1\0", &c, &d]);
    let mut out = Vec::with_capacity(RECORD_LEN);
    out.push(RECORD_V1);
    out.extend_from_slice(&c);
    out.extend_from_slice(&d);
    out.extend_from_slice(&tag);
    out
}

fn decode_record(key: &hmac::Key, raw: &[u8]) -> Option<(u64, Digest)> {
    if raw.len() != RECORD_LEN || raw[0] != RECORD_V1 {
        return None;
    }
    let c: [u8; 8] = raw[1..9].try_into().ok()?;
    let d: [u8; 32] = raw[9..41].try_into().ok()?;
    mac_ok(
        key,
        &[b"localhsm integrity record v1\0", &c, &d],
        &raw[41..],
    )
    .then(|| (u64::from_be_bytes(c), Digest::from_bytes(&d)))
}

/// Hands every record of `table` to `each`, a bounded batch at a time.
pub(crate) fn for_each_record(
    backend: &dyn Backend,
    table: Table,
    mut each: impl FnMut(&[u8], &[u8]) -> Result<()>,
) -> Result<()> {
    let mut range = KeyRange::all();
    loop {
        let batch = backend.scan(table, &range, SCAN_BATCH)?;
        let Some((last, _)) = batch.last() else {
            return Ok(());
        };
        range.start = std::ops::Bound::Excluded(last.clone());
        for (k, v) in &batch {
            each(k, v)?;
        }
    }
}

/// The digest of every record of `backend`, and how many records each table holds.
pub(crate) fn scan_digest(
    backend: &dyn Backend,
    key: &hmac::Key,
) -> Result<(Digest, Vec<(Table, u64)>)> {
    let mut digest = Digest::default();
    let mut counts = Vec::with_capacity(Table::ALL.len());
    for table in Table::ALL {
        let mut n = 0u64;
        for_each_record(backend, table, |k, v| {
            if covered(table, k) {
                digest.add(&record_mac(key, table, k, v));
                n += 1;
            }
            Ok(())
        })?;
        counts.push((table, n));
    }
    Ok((digest, counts))
}

// --- the removal journal ------------------------------------------------------------------

/// What a journal line says happened to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalEvent {
    /// A live object moved to the deleted table, or a vault was soft-deleted.
    Deleted,
    /// A deleted object moved back to the live table, or a vault was recovered.
    Recovered,
    /// An object or vault removed for good.
    Purged,
}

impl JournalEvent {
    fn as_str(self) -> &'static str {
        match self {
            JournalEvent::Deleted => "deleted",
            JournalEvent::Recovered => "recovered",
            JournalEvent::Purged => "purged",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "deleted" => JournalEvent::Deleted,
            "recovered" => JournalEvent::Recovered,
            "purged" => JournalEvent::Purged,
            _ => return None,
        })
    }
}

/// One line of the removal journal: at commit `counter`, `event` happened to the record
/// `key` of `table` (`Vaults`, `Objects(kind)` or `Deleted(kind)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// The commit that made the change.
    pub counter: u64,
    /// What happened.
    pub event: JournalEvent,
    /// The table the record was in (a vault's events name `Vaults`).
    pub table: Table,
    /// The record's key (`vault/name`, or a vault's name).
    pub key: Vec<u8>,
}

impl JournalEntry {
    /// The object kind the entry is about, `None` for a vault.
    pub fn kind(&self) -> Option<ObjectKind> {
        match self.table {
            Table::Objects(k) | Table::Deleted(k) => Some(k),
            _ => None,
        }
    }

    fn body(&self) -> String {
        format!(
            "{} {} {} {}",
            self.counter,
            self.event.as_str(),
            self.table.name(),
            escape(&self.key)
        )
    }
}

/// Writes a key readably: printable ASCII as is, anything else (and `%`) as `%XX`.
fn escape(key: &[u8]) -> String {
    let mut s = String::with_capacity(key.len());
    for &b in key {
        if b.is_ascii_graphic() && b != b'%' {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02x}"));
        }
    }
    s
}

fn unescape(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

fn chain_next(key: &hmac::Key, prev: &[u8; 32], body: &str) -> [u8; 32] {
    mac(key, &[b"localhsm journal v1\0", prev, body.as_bytes()])
}

/// Parses journal lines from `bytes` (which starts at a line boundary), verifying the chain
/// from `chain`. Returns the valid entries with the offset (relative to `bytes`) and chain
/// value after each, and whether the rest was malformed (a torn or altered line).
fn parse_journal(
    key: &hmac::Key,
    bytes: &[u8],
    mut chain: [u8; 32],
) -> (Vec<(JournalEntry, u64, [u8; 32])>, bool) {
    let mut out = Vec::new();
    let mut offset = 0usize;
    let table_of = |name: &str| Table::ALL.into_iter().find(|t| t.name() == name);
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let parsed = (|| {
            let text = std::str::from_utf8(line.strip_suffix(b"\n")?).ok()?;
            let (body, tag) = text.rsplit_once(' ')?;
            let mut f = body.split(' ');
            let entry = JournalEntry {
                counter: f.next()?.parse().ok()?,
                event: JournalEvent::parse(f.next()?)?,
                table: table_of(f.next()?)?,
                key: unescape(f.next()?)?,
            };
            if f.next().is_some() {
                return None;
            }
            let next = chain_next(key, &chain, body);
            let tag = hex::decode(tag).ok()?;
            let same: bool = subtle::ConstantTimeEq::ct_eq(&next[..], &tag[..]).into();
            same.then_some((entry, next))
        })();
        let Some((entry, next)) = parsed else {
            return (out, true);
        };
        chain = next;
        offset += line.len();
        out.push((entry, offset as u64, chain));
    }
    (out, false)
}

/// The journal as it is being appended to.
struct JournalWriter {
    file: File,
    len: u64,
    chain: [u8; 32],
}

impl JournalWriter {
    fn append(&mut self, key: &hmac::Key, entries: &[JournalEntry]) -> Result<()> {
        let mut text = String::new();
        let mut chain = self.chain;
        for e in entries {
            let body = e.body();
            chain = chain_next(key, &chain, &body);
            text.push_str(&body);
            text.push(' ');
            text.push_str(&hex::encode(chain));
            text.push('\n');
        }
        if let Err(e) = self.file.write_all(text.as_bytes()) {
            // Cut off what part of the lines landed, so the next try starts on a line.
            let _ = self
                .file
                .set_len(self.len)
                .and_then(|()| self.file.seek(SeekFrom::Start(self.len)).map(drop));
            return Err(e.into());
        }
        self.len += text.len() as u64;
        self.chain = chain;
        Ok(())
    }
}

fn open_private(path: &Path, truncate: bool) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(truncate);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

// --- the anchor -------------------------------------------------------------------------------

/// What `store.anchor` records: the latest flushed commit and the journal up to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    /// The commit counter.
    pub counter: u64,
    digest: [u8; 32],
    /// The journal's length at that commit, in bytes.
    pub journal_len: u64,
    chain: [u8; 32],
}

impl Anchor {
    fn body(&self) -> String {
        format!(
            "{ANCHOR_HEADER}\ncounter {}\ndigest {}\njournal {} {}\n",
            self.counter,
            hex::encode(self.digest),
            self.journal_len,
            hex::encode(self.chain)
        )
    }

    fn encode(&self, key: &hmac::Key) -> String {
        let body = self.body();
        let tag = mac(key, &[body.as_bytes()]);
        format!("{body}mac {}\n", hex::encode(tag))
    }

    fn decode(key: &hmac::Key, text: &str) -> std::result::Result<Self, String> {
        let malformed = || "it is not an anchor file this localhsm wrote".to_string();
        let (body, last) = text
            .strip_suffix('\n')
            .and_then(|t| t.rsplit_once('\n'))
            .ok_or_else(malformed)?;
        let body = format!("{body}\n");
        let tag = last
            .strip_prefix("mac ")
            .and_then(|t| hex::decode(t).ok())
            .ok_or_else(malformed)?;
        if !mac_ok(key, &[body.as_bytes()], &tag) {
            return Err("it does not authenticate under this store's master key".into());
        }
        let mut lines = body.lines();
        (lines.next() == Some(ANCHOR_HEADER))
            .then_some(())
            .ok_or_else(malformed)?;
        let field = |line: Option<&str>, name: &str| -> Option<String> {
            line?
                .strip_prefix(name)?
                .strip_prefix(' ')
                .map(str::to_string)
        };
        let hex32 = |s: &str| -> Option<[u8; 32]> { hex::decode(s).ok()?.try_into().ok() };
        let counter = field(lines.next(), "counter").and_then(|c| c.parse().ok());
        let digest = field(lines.next(), "digest").and_then(|d| hex32(&d));
        let journal = field(lines.next(), "journal");
        let (journal_len, chain) = journal
            .as_deref()
            .and_then(|j| j.split_once(' '))
            .and_then(|(l, c)| Some((l.parse().ok()?, hex32(c)?)))
            .ok_or_else(malformed)?;
        Ok(Self {
            counter: counter.ok_or_else(malformed)?,
            digest: digest.ok_or_else(malformed)?,
            journal_len,
            chain,
        })
    }
}

/// Each copy of the anchor fills one slot of this many bytes; the file holds two.
const SLOT: usize = 512;

/// The newest copy in an anchor file that authenticates, with its slot.
fn parse_slots(
    key: &hmac::Key,
    bytes: &[u8],
) -> std::result::Result<Option<(Anchor, usize)>, String> {
    let mut best: Option<(Anchor, usize)> = None;
    let mut seen = false;
    for (slot, chunk) in bytes.chunks(SLOT).enumerate().take(2) {
        let text = chunk
            .iter()
            .position(|&b| b == 0)
            .map_or(chunk, |end| &chunk[..end]);
        if text.is_empty() {
            continue;
        }
        seen = true;
        let Ok(text) = std::str::from_utf8(text) else {
            continue;
        };
        if let Ok(a) = Anchor::decode(key, text) {
            if best.is_none_or(|(b, _)| a.counter > b.counter) {
                best = Some((a, slot));
            }
        }
    }
    match best {
        Some(b) => Ok(Some(b)),
        None if seen => {
            Err("neither of its two copies authenticates under this store's master key".into())
        }
        // Made and killed before its first copy was written: no anchor yet.
        None => Ok(None),
    }
}

/// Reads the anchor of `dir`: `Ok(None)` when there is none.
fn read_anchor(key: &hmac::Key, dir: &Path) -> std::result::Result<Option<Anchor>, String> {
    match std::fs::read(dir.join(ANCHOR_FILE)) {
        Ok(bytes) => parse_slots(key, &bytes).map(|b| b.map(|(a, _)| a)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("it cannot be read: {e}")),
    }
}

/// The counter an anchor claims, read without its key (for a refusal that comes before
/// the master key is known).
pub(crate) fn anchored_counter_unchecked(dir: &Path) -> Option<u64> {
    let bytes = std::fs::read(dir.join(ANCHOR_FILE)).ok()?;
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|l| l.strip_prefix("counter "))
        .filter_map(|c| c.parse().ok())
        .max()
}

/// Whether `dir` has an anchor file (whatever it holds).
pub(crate) fn has_anchor(dir: &Path) -> bool {
    dir.join(ANCHOR_FILE).exists()
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The anchor file, written in place: two fixed slots, each new anchor into the slot that
/// does not hold the newest one. A write torn by a crash spoils only its own slot, and the
/// other still holds the anchor before it (which the database is not behind).
///
/// Durability matches the engine's: sled makes a commit durable with `sync_file_range`
/// (written back to the device, no cache-flush barrier) before its flush returns, and the
/// anchor is written after that, so the anchor is never on disk ahead of the data it
/// vouches for. A process killed at any point leaves it in the page cache, where every
/// later reader sees it; after a power loss it may lag the database (accepted), never lead
/// it. It is `fdatasync`ed when the store closes. Syncing it on every commit, as a temp file
/// renamed into place would, cost 3 to 9 ms a commit on the disks measured, against 0.2 ms
/// for the engine's own flush.
struct AnchorFile {
    file: File,
    next: usize,
}

impl AnchorFile {
    /// Opens the anchor file of `dir`, or (when `recreate`, or it holds no valid copy)
    /// makes a new one, synced with its directory.
    fn open(key: &hmac::Key, dir: &Path, recreate: bool) -> Result<Self> {
        let path = dir.join(ANCHOR_FILE);
        if !recreate {
            if let Ok(bytes) = std::fs::read(&path) {
                if let Ok(Some((_, slot))) = parse_slots(key, &bytes) {
                    return Ok(Self {
                        file: open_private(&path, false)?,
                        next: 1 - slot,
                    });
                }
            }
        }
        let file = open_private(&path, true)?;
        file.set_len(2 * SLOT as u64)?;
        file.sync_all()?;
        sync_dir(dir)?;
        Ok(Self { file, next: 0 })
    }

    fn write(&mut self, key: &hmac::Key, anchor: &Anchor) -> Result<()> {
        let mut buf = anchor.encode(key).into_bytes();
        if buf.len() >= SLOT {
            return Err(Error::Storage("the anchor outgrew its slot".into()));
        }
        buf.resize(SLOT, 0);
        self.file.seek(SeekFrom::Start((self.next * SLOT) as u64))?;
        self.file.write_all(&buf)?;
        self.next = 1 - self.next;
        Ok(())
    }
}

// --- the wrapper ------------------------------------------------------------------------------

/// How [`open`] treats what it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checks {
    /// Refuse the store on the first problem.
    Enforce,
    /// Report every problem and open anyway, writing nothing (`store verify`, `store repair`).
    Inspect,
}

/// What the database holds when [`open`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// A store created by this open: its records get their first digest.
    Created,
    /// A store of schema 1: migrated in one transaction that also sets its schema record.
    Migrate,
    /// A store of the current schema.
    Existing,
}

/// What an open found: each problem, and what the database and the anchor say.
#[derive(Debug, Clone, Default)]
pub struct IntegrityReport {
    /// Every problem found, in the order checked.
    pub problems: Vec<IntegrityProblem>,
    /// The database's commit counter (0 when it has none).
    pub counter: u64,
    /// The anchor, when there is one that authenticates.
    pub anchor: Option<Anchor>,
    /// How many records each table holds.
    pub records: Vec<(Table, u64)>,
}

struct State {
    counter: u64,
    digest: Digest,
    journal: Option<JournalWriter>,
    /// Lines of committed transactions not yet written (a write failed): the next flush
    /// writes them or fails, so nothing is acknowledged without its line.
    pending: Vec<JournalEntry>,
}

impl State {
    fn write_pending(&mut self, key: &hmac::Key) -> Result<()> {
        match self.journal.as_mut() {
            Some(j) if !self.pending.is_empty() => {
                j.append(key, &self.pending)?;
                self.pending.clear();
                Ok(())
            }
            Some(_) => Ok(()),
            None => {
                self.pending.clear();
                Ok(())
            }
        }
    }
}

/// Where the last anchor stands, and the lock that serializes flushes.
struct Anchoring {
    anchor: Option<Anchor>,
    enabled: bool,
    /// Opened at the first anchor this process writes.
    file: Option<AnchorFile>,
}

/// A [`Backend`] that keeps the commit counter, the digest, the anchor and the journal
/// (see the module docs). Reads pass straight through.
pub(crate) struct IntegrityBackend {
    inner: Arc<dyn Backend>,
    key: hmac::Key,
    dir: Option<PathBuf>,
    state: Mutex<State>,
    anchoring: Mutex<Anchoring>,
    /// A second handle on the journal, to fsync it without holding the commit lock.
    journal_sync: Option<File>,
}

impl std::fmt::Debug for IntegrityBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntegrityBackend")
            .field("location", &self.inner.location())
            .finish_non_exhaustive()
    }
}

/// A transaction that tracks how the digest moves and which removals to journal.
struct TrackingTxn<'a> {
    inner: &'a mut dyn Txn,
    key: &'a hmac::Key,
    plus: Digest,
    minus: Digest,
    /// Removals, in order: (table, key, a later put moved it to its twin table).
    removals: Vec<(Table, Vec<u8>, JournalEvent)>,
    puts: HashSet<(usize, Vec<u8>)>,
}

impl TrackingTxn<'_> {
    fn change(&mut self, table: Table, key: &[u8], new: Option<&[u8]>) -> Result<()> {
        if !covered(table, key) {
            // The record is the store's own: one copied in (a whole-store restore writes
            // every record of a backup) is replaced by the one this commit writes.
            return Ok(());
        }
        let old = self.inner.get(table, key)?;
        if let Some(old) = &old {
            self.minus.add(&record_mac(self.key, table, key, old));
        }
        if let Some(new) = new {
            self.plus.add(&record_mac(self.key, table, key, new));
            self.puts.insert((table.index(), key.to_vec()));
        }
        let vault_due = |k: &[u8]| (k.len() > 9 && k[8] == b'v').then(|| k[9..].to_vec());
        match (table, new) {
            (Table::Vaults, None) if old.is_some() => {
                self.removals
                    .push((Table::Vaults, key.to_vec(), JournalEvent::Purged));
            }
            (Table::Objects(_) | Table::Deleted(_), None) if old.is_some() => {
                self.removals
                    .push((table, key.to_vec(), JournalEvent::Purged));
            }
            // A vault's soft delete queues its purge; its recovery (or purge) dequeues it.
            (Table::PurgeQueue, Some(_)) => {
                if let Some(v) = vault_due(key) {
                    self.removals
                        .push((Table::Vaults, v, JournalEvent::Deleted));
                }
            }
            (Table::PurgeQueue, None) if old.is_some() => {
                if let Some(v) = vault_due(key) {
                    self.removals
                        .push((Table::Vaults, v, JournalEvent::Recovered));
                }
            }
            _ => {}
        }
        match new {
            Some(v) => self.inner.put(table, key, v),
            None => self.inner.delete(table, key),
        }
    }

    /// The journal entries of this transaction at `counter`: a removal from the live table
    /// with a put into the deleted one is a delete, the reverse a recovery.
    fn entries(&self, counter: u64) -> Vec<JournalEntry> {
        self.removals
            .iter()
            .map(|(table, key, event)| {
                let twin = match table {
                    Table::Objects(k) => Some((Table::Deleted(*k), JournalEvent::Deleted)),
                    Table::Deleted(k) => Some((Table::Objects(*k), JournalEvent::Recovered)),
                    _ => None,
                };
                let event = match twin {
                    Some((t, e)) if self.puts.contains(&(t.index(), key.clone())) => e,
                    _ => *event,
                };
                JournalEntry {
                    counter,
                    event,
                    table: *table,
                    key: key.clone(),
                }
            })
            .collect()
    }
}

impl Txn for TrackingTxn<'_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.get(table, key)
    }

    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        self.change(table, key, Some(value))
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<()> {
        self.change(table, key, None)
    }
}

/// Checks `inner` (see the module docs) and wraps it. `key` is the integrity MAC key, `dir`
/// the data directory of the anchor and journal (none: the in-database check only).
/// `schema_record` is the schema record to write in the migration's transaction.
/// How many times a scan at open is tried again because another process committed
/// meanwhile (a store that several share), before the open gives up.
const SCAN_TRIES: u32 = 50;

/// The integrity record and the digest of every record, as of one commit. Scans are not
/// transactions: on a store that other processes write while this one opens, the scan is
/// taken again until no commit (each moves the record) happened during it.
#[allow(clippy::type_complexity)]
fn consistent_digest(
    inner: &dyn Backend,
    key: &hmac::Key,
) -> Result<(Option<(u64, Digest)>, (Digest, Vec<(Table, u64)>))> {
    let mut tries = 0;
    loop {
        let before = inner.get(Table::Meta, META_INTEGRITY)?;
        let scanned = scan_digest(inner, key)?;
        if !inner.shared() || inner.get(Table::Meta, META_INTEGRITY)? == before {
            return Ok((before.and_then(|raw| decode_record(key, &raw)), scanned));
        }
        tries += 1;
        if tries >= SCAN_TRIES {
            return Err(Error::StoreConflict(format!(
                "other replicas kept writing while this one checked the store at open \
                 ({SCAN_TRIES} tries); start it again"
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(
            20 * u64::from(tries.min(10)),
        ));
    }
}

pub(crate) fn open(
    inner: Arc<dyn Backend>,
    key: hmac::Key,
    dir: Option<&Path>,
    start: Start,
    schema_record: (&[u8], Vec<u8>),
    checks: Checks,
) -> Result<(IntegrityBackend, IntegrityReport)> {
    let location = dir.map_or_else(|| inner.location(), |d| d.display().to_string());
    let refuse = |problem: IntegrityProblem| Error::StoreIntegrity {
        dir: location.clone(),
        problem,
    };
    let anchor = match dir.map(|d| read_anchor(&key, d)) {
        Some(Err(detail)) => Err(detail),
        Some(Ok(a)) => Ok(a),
        None => Ok(None),
    };
    let mut report = IntegrityReport::default();

    // A new store or a schema-1 store gets its first integrity record here.
    if start != Start::Existing {
        if let Ok(Some(a)) = &anchor {
            // An anchor with no integrity record behind it: the database was replaced by
            // an older (schema 1) or empty one.
            return Err(refuse(IntegrityProblem::RolledBack {
                commits: a.counter,
                anchored: a.counter,
                found: 0,
            }));
        }
        if checks == Checks::Inspect {
            return Err(Error::Storage(
                "this store has no integrity records yet; open it once to create them".into(),
            ));
        }
        let (mut digest, records) = scan_digest(&*inner, &key)?;
        let counter = if start == Start::Created {
            CREATED
        } else {
            CREATED + 1
        };
        let (schema_key, schema_value) = schema_record;
        if let Some(old) = inner.get(Table::Meta, schema_key)? {
            digest.sub(&record_mac(&key, Table::Meta, schema_key, &old));
        }
        digest.add(&record_mac(&key, Table::Meta, schema_key, &schema_value));
        let record = encode_record(&key, counter, &digest);
        inner.transact(&mut |tx| {
            tx.put(Table::Meta, schema_key, &schema_value)?;
            tx.put(Table::Meta, META_INTEGRITY, &record)
        })?;
        report.counter = counter;
        report.records = records;
        let backend = IntegrityBackend::new(inner, key, dir, counter, digest, None, true)?;
        backend.flush()?;
        report.anchor = lock(&backend.anchoring).anchor;
        return Ok((backend, report));
    }

    let (stored, (digest, records)) = consistent_digest(&*inner, &key)?;
    if stored.is_none() {
        report.problems.push(IntegrityProblem::Damaged(
            "its integrity record is missing or does not authenticate".into(),
        ));
    }
    report.records = records;
    let counter = stored.map_or(0, |(c, _)| c);
    report.counter = counter;
    if let Some((_, recorded)) = stored {
        if recorded != digest {
            report.problems.push(IntegrityProblem::Damaged(
                "its records do not match the digest of its last commit: records were \
                 changed or lost outside a commit"
                    .into(),
            ));
        }
    }
    let recorded = stored.map(|(_, d)| d);
    let mut journal_tail = None;
    if let Some(dir) = dir {
        match anchor {
            Err(detail) => report
                .problems
                .push(IntegrityProblem::AnchorDamaged(detail)),
            Ok(None) if counter == CREATED && stored.is_some() => {}
            Ok(None) => report.problems.push(IntegrityProblem::AnchorMissing),
            Ok(Some(a)) => {
                report.anchor = Some(a);
                if a.counter > counter {
                    report.problems.push(IntegrityProblem::RolledBack {
                        commits: a.counter - counter,
                        anchored: a.counter,
                        found: counter,
                    });
                } else if a.counter == counter && recorded.map(|d| d.bytes()) != Some(a.digest) {
                    report.problems.push(IntegrityProblem::Damaged(format!(
                        "the database and store.anchor disagree about commit {counter}"
                    )));
                }
            }
        }
        match journal_tail_at_open(&key, dir, report.anchor.as_ref(), counter) {
            Ok(tail) => journal_tail = Some(tail),
            Err(problem) => report.problems.push(problem),
        }
    }
    if checks == Checks::Enforce {
        if let Some(first) = report.problems.first() {
            return Err(refuse(first.clone()));
        }
    }
    let journal = match (checks, journal_tail) {
        (Checks::Enforce, Some((len, chain))) => dir
            .map(|d| -> Result<JournalWriter> {
                let file = open_private(&d.join(JOURNAL_FILE), false)?;
                // Lines past the database's counter were never made durable in it.
                file.set_len(len)?;
                let mut file = file;
                file.seek(SeekFrom::End(0))?;
                Ok(JournalWriter { file, len, chain })
            })
            .transpose()?,
        _ => None,
    };
    let backend = IntegrityBackend::new(
        inner,
        key,
        dir,
        counter,
        digest,
        journal,
        checks == Checks::Enforce,
    )?;
    lock(&backend.anchoring).anchor = report.anchor;
    if checks == Checks::Enforce {
        // A database ahead of its anchor (a crash after the flush), or a pristine store
        // without one: anchor it now.
        backend.flush()?;
    }
    Ok((backend, report))
}

/// At open: checks the journal against the anchor and finds where its valid lines end,
/// keeping only lines of commits the database holds. Returns the length and chain value to
/// continue from.
fn journal_tail_at_open(
    key: &hmac::Key,
    dir: &Path,
    anchor: Option<&Anchor>,
    counter: u64,
) -> std::result::Result<(u64, [u8; 32]), IntegrityProblem> {
    let damaged = |d: String| IntegrityProblem::Damaged(d);
    let (start, chain) = anchor.map_or((0, [0u8; 32]), |a| (a.journal_len, a.chain));
    let mut file = match File::open(dir.join(JOURNAL_FILE)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && start == 0 => return Ok((0, chain)),
        Err(e) => return Err(damaged(format!("store.journal cannot be read: {e}"))),
    };
    let len = file
        .metadata()
        .map_err(|e| damaged(format!("store.journal cannot be read: {e}")))?
        .len();
    if len < start {
        return Err(damaged(format!(
            "store.journal is shorter ({len} bytes) than store.anchor records ({start} bytes)"
        )));
    }
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(start))
        .and_then(|_| file.read_to_end(&mut tail))
        .map_err(|e| damaged(format!("store.journal cannot be read: {e}")))?;
    let (entries, _) = parse_journal(key, &tail, chain);
    let mut end = (start, chain);
    for (entry, offset, next) in entries {
        if entry.counter > counter {
            break;
        }
        end = (start + offset, next);
    }
    Ok(end)
}

/// Reads and verifies the whole journal of `dir` against `anchor`: the entries whose chain
/// holds, and a problem when the journal is shorter than the anchor records or a line within
/// the anchored part does not verify.
pub(crate) fn read_journal(
    key: &hmac::Key,
    dir: &Path,
    anchor: Option<&Anchor>,
) -> (Vec<JournalEntry>, Option<String>) {
    let bytes = match std::fs::read(dir.join(JOURNAL_FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return (
                Vec::new(),
                Some(format!("store.journal cannot be read: {e}")),
            )
        }
    };
    let (entries, torn) = parse_journal(key, &bytes, [0u8; 32]);
    let valid = entries.last().map_or(0, |(_, o, _)| *o);
    let problem = match anchor {
        Some(a) if valid < a.journal_len => Some(format!(
            "store.journal verifies up to byte {valid}, but store.anchor records {} bytes",
            a.journal_len
        )),
        Some(a)
            if a.journal_len > 0
                && !entries
                    .iter()
                    .any(|(_, o, c)| *o == a.journal_len && *c == a.chain) =>
        {
            Some("store.journal does not match the chain value store.anchor records".into())
        }
        _ if torn && valid < bytes.len() as u64 => Some(format!(
            "store.journal has {} bytes after its last valid line (a torn write, or lines \
             altered)",
            bytes.len() as u64 - valid
        )),
        _ => None,
    };
    (entries.into_iter().map(|(e, _, _)| e).collect(), problem)
}

impl IntegrityBackend {
    fn new(
        inner: Arc<dyn Backend>,
        key: hmac::Key,
        dir: Option<&Path>,
        counter: u64,
        digest: Digest,
        journal: Option<JournalWriter>,
        anchoring: bool,
    ) -> Result<Self> {
        let journal = match (journal, dir, anchoring) {
            (Some(j), _, _) => Some(j),
            (None, Some(d), true) => {
                let mut file = open_private(&d.join(JOURNAL_FILE), false)?;
                let len = file.seek(SeekFrom::End(0))?;
                Some(JournalWriter {
                    file,
                    len,
                    chain: [0u8; 32],
                })
            }
            _ => None,
        };
        let journal_sync = journal.as_ref().map(|j| j.file.try_clone()).transpose()?;
        Ok(Self {
            inner,
            key,
            dir: dir.map(Path::to_path_buf),
            state: Mutex::new(State {
                counter,
                digest,
                journal,
                pending: Vec::new(),
            }),
            anchoring: Mutex::new(Anchoring {
                anchor: None,
                enabled: anchoring && dir.is_some(),
                file: None,
            }),
            journal_sync,
        })
    }

    /// The integrity MAC key.
    pub(crate) fn key(&self) -> &hmac::Key {
        &self.key
    }

    /// The backend under the wrapper.
    pub(crate) fn inner(&self) -> &dyn Backend {
        &*self.inner
    }

    /// The commit counter.
    pub(crate) fn counter(&self) -> u64 {
        lock(&self.state).counter
    }

    /// After a repair: recomputes the digest from every record, moves the counter past both
    /// the database's and the anchor's, keeps the journal's valid lines, and anchors the
    /// result. Returns the new counter.
    pub(crate) fn reanchor(&self) -> Result<u64> {
        let mut anchoring = lock(&self.anchoring);
        let mut state = lock(&self.state);
        let (digest, _) = scan_digest(&*self.inner, &self.key)?;
        let floor = anchoring.anchor.map_or(0, |a| a.counter);
        let counter = state.counter.max(floor) + 1;
        let record = encode_record(&self.key, counter, &digest);
        self.inner
            .transact(&mut |tx| tx.put(Table::Meta, META_INTEGRITY, &record))?;
        if let Some(dir) = &self.dir {
            let bytes = std::fs::read(dir.join(JOURNAL_FILE)).unwrap_or_default();
            let (entries, _) = parse_journal(&self.key, &bytes, [0u8; 32]);
            let (len, chain) = entries.last().map_or((0, [0u8; 32]), |(_, o, c)| (*o, *c));
            let mut file = open_private(&dir.join(JOURNAL_FILE), false)?;
            file.set_len(len)?;
            file.seek(SeekFrom::End(0))?;
            file.sync_all()?;
            state.journal = Some(JournalWriter { file, len, chain });
            anchoring.file = Some(AnchorFile::open(&self.key, dir, true)?);
            anchoring.enabled = true;
        }
        state.counter = counter;
        state.digest = digest;
        drop(state);
        drop(anchoring);
        self.flush()?;
        Ok(counter)
    }
}

impl Backend for IntegrityBackend {
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
        let mut state = lock(&self.state);
        let known = state.counter;
        let mut outcome = None;
        self.inner.transact(&mut |tx| {
            // The base is the database's own record, read in this transaction, not the copy
            // in memory: an engine that opens its database again (sled after a full disk)
            // drops commits it never flushed, and the copy would still count them. The
            // counter moves on from the larger of the one in memory (so it never repeats a
            // number the journal may already hold) and the database's (on a store several
            // processes share, another one may have committed since).
            let (stored, base) = match tx.get(Table::Meta, META_INTEGRITY)? {
                Some(raw) => decode_record(&self.key, &raw),
                None => None,
            }
            .ok_or_else(|| {
                Error::Storage(
                    "the store's integrity record is missing or does not authenticate".into(),
                )
            })?;
            let mut t = TrackingTxn {
                inner: tx,
                key: &self.key,
                plus: Digest::default(),
                minus: Digest::default(),
                removals: Vec::new(),
                puts: HashSet::new(),
            };
            work(&mut t)?;
            let counter = known.max(stored) + 1;
            let mut digest = base;
            digest.merge(&t.plus, &t.minus);
            let entries = t.entries(counter);
            tx.put(
                Table::Meta,
                META_INTEGRITY,
                &encode_record(&self.key, counter, &digest),
            )?;
            outcome = Some((counter, digest, entries));
            Ok(())
        })?;
        let Some((counter, digest, entries)) = outcome else {
            return Err(Error::Storage(
                "a transaction committed without its digest".into(),
            ));
        };
        state.counter = counter;
        state.digest = digest;
        if !entries.is_empty() {
            // Written (not yet fsynced) as the commit lands, so a process killed before its
            // flush keeps the line; `flush` fsyncs it before the database's flush. The commit
            // stands either way: a line that cannot be written now fails the flush instead.
            state.pending.extend(entries);
            if let Err(e) = state.write_pending(&self.key) {
                tracing::warn!(error = %e, "could not write to the store's removal journal");
            }
        }
        Ok(())
    }

    fn apply(&self, writes: &[Write]) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        self.transact(&mut |tx| Write::all_in(writes, tx))
    }

    fn flush(&self) -> Result<()> {
        let mut anchoring = lock(&self.anchoring);
        let (counter, digest, journal) = {
            let mut s = lock(&self.state);
            s.write_pending(&self.key)?;
            (
                s.counter,
                s.digest,
                s.journal.as_ref().map(|j| (j.len, j.chain)),
            )
        };
        let anchored = anchoring.anchor.map_or(0, |a| a.counter);
        let (journal_len, chain) = journal.unwrap_or((0, [0u8; 32]));
        // The journal's lines are already written (at their commits): in the page cache
        // before the engine's write-back of the same commits, as durable as the anchor.
        self.inner.flush()?;
        match (&self.dir, anchoring.enabled) {
            (Some(dir), true) if counter > anchored || anchoring.anchor.is_none() => {
                let anchor = Anchor {
                    counter,
                    digest: digest.bytes(),
                    journal_len,
                    chain,
                };
                if anchoring.file.is_none() {
                    let recreate = anchoring.anchor.is_none();
                    anchoring.file = Some(AnchorFile::open(&self.key, dir, recreate)?);
                }
                if let Some(f) = anchoring.file.as_mut() {
                    f.write(&self.key, &anchor)?;
                }
                anchoring.anchor = Some(anchor);
                Ok(())
            }
            _ => Ok(()),
        }
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

impl IntegrityBackend {
    /// Anchors what is flushed and syncs the anchor and the journal to the device.
    fn close(&self) -> Result<()> {
        self.flush()?;
        if let Some(f) = &self.journal_sync {
            f.sync_data()?;
        }
        if let Some(f) = lock(&self.anchoring).file.as_ref() {
            f.file.sync_data()?;
        }
        Ok(())
    }
}

impl Drop for IntegrityBackend {
    fn drop(&mut self) {
        // The engine flushes as its last handle drops; anchor what it flushed too (a store
        // opened with deferred flushes has not anchored its latest commits yet).
        let enabled = lock(&self.anchoring).enabled;
        if enabled {
            if let Err(e) = self.close() {
                tracing::warn!(error = %e, "could not anchor the store as it closed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &[7; 32])
    }

    #[test]
    fn digest_sums_are_order_free_and_invertible() {
        let k = key();
        let a = record_mac(&k, Table::Vaults, b"a", b"1");
        let b = record_mac(&k, Table::Vaults, b"b", b"2");
        let mut x = Digest::default();
        x.add(&a);
        x.add(&b);
        let mut y = Digest::default();
        y.add(&b);
        y.add(&a);
        assert_eq!(x, y);
        x.sub(&a);
        x.sub(&b);
        assert_eq!(x, Digest::default());
        let mut wrap = Digest([u64::MAX; 4]);
        wrap.add(&{
            let mut one = [0u8; 32];
            one[0] = 1;
            one
        });
        assert_eq!(wrap, Digest::default(), "addition wraps modulo 2^256");
        // The table is part of what is MACed.
        assert_ne!(a, record_mac(&k, Table::PurgeQueue, b"a", b"1"));
    }

    /// The digest kept incrementally through random transactions and batches (puts,
    /// overwrites, deletes of present and absent records, several writes to one record in
    /// one transaction, aborted transactions) equals a full recomputation, after every step.
    #[test]
    fn incremental_digest_matches_a_full_recomputation() {
        let inner: Arc<dyn Backend> = Arc::new(super::super::MemoryBackend::new());
        let (b, _) = open(
            inner.clone(),
            key(),
            None,
            Start::Created,
            (b"schema", vec![0, 0, 0, 2]),
            Checks::Enforce,
        )
        .unwrap();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let tables = [
            Table::Vaults,
            Table::Objects(ObjectKind::Key),
            Table::Deleted(ObjectKind::Key),
            Table::Versions(ObjectKind::Secret),
            Table::PurgeQueue,
            Table::Meta,
        ];
        for step in 0..400 {
            let mut ops = Vec::new();
            for _ in 0..=next(4) {
                let t = tables[next(tables.len() as u64) as usize];
                let k = format!("k{}", next(12)).into_bytes();
                let v = format!("v{}", next(1000)).into_bytes();
                ops.push((t, k, (next(3) > 0).then_some(v)));
            }
            let batch = next(2) == 0;
            let abort = !batch && next(10) == 0;
            let r = if !batch {
                b.transact(&mut |tx| {
                    for (t, k, v) in &ops {
                        match v {
                            Some(v) => tx.put(*t, k, v)?,
                            None => tx.delete(*t, k)?,
                        }
                    }
                    if abort {
                        return Err(Error::InvalidBackup);
                    }
                    Ok(())
                })
            } else {
                let writes: Vec<Write> = ops
                    .iter()
                    .map(|(t, k, v)| match v {
                        Some(v) => Write::Put(*t, k.clone(), v.clone()),
                        None => Write::Delete(*t, k.clone()),
                    })
                    .collect();
                b.apply(&writes)
            };
            assert_eq!(r.is_err(), abort, "step {step}: {r:?}");
            let (full, _) = scan_digest(&*inner, &key()).unwrap();
            let state = lock(&b.state);
            assert_eq!(state.digest, full, "step {step}");
            let stored = inner.get(Table::Meta, META_INTEGRITY).unwrap().unwrap();
            assert_eq!(
                decode_record(&key(), &stored),
                Some((state.counter, full)),
                "step {step}"
            );
        }
        // And a record changed behind the wrapper's back is found at the next open.
        drop(b);
        inner
            .apply(&[Write::Put(
                Table::Vaults,
                b"k1".to_vec(),
                b"edited".to_vec(),
            )])
            .unwrap();
        let r = open(
            inner,
            key(),
            None,
            Start::Existing,
            (b"schema", vec![0, 0, 0, 2]),
            Checks::Enforce,
        );
        assert!(
            matches!(
                r,
                Err(Error::StoreIntegrity {
                    problem: IntegrityProblem::Damaged(_),
                    ..
                })
            ),
            "{:?}",
            r.map(|_| ())
        );
    }

    /// The anchor alternates between its two slots; a torn or spoiled write leaves the
    /// one before it readable, and the newest valid copy wins.
    #[test]
    fn anchor_slots_survive_a_torn_write() {
        let k = key();
        let dir = tempfile::tempdir().unwrap();
        let anchor = |counter| Anchor {
            counter,
            digest: [counter as u8; 32],
            journal_len: counter * 10,
            chain: [1; 32],
        };
        let mut f = AnchorFile::open(&k, dir.path(), true).unwrap();
        for c in 1..=5 {
            f.write(&k, &anchor(c)).unwrap();
            assert_eq!(read_anchor(&k, dir.path()), Ok(Some(anchor(c))));
        }
        // Reopened, it writes over the older slot.
        let mut f = AnchorFile::open(&k, dir.path(), false).unwrap();
        f.write(&k, &anchor(6)).unwrap();
        assert_eq!(read_anchor(&k, dir.path()), Ok(Some(anchor(6))));
        // A write of 7 torn half-way: 6 is still there.
        let path = dir.path().join(ANCHOR_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let slot = f.next;
        let torn = anchor(7).encode(&k);
        bytes[slot * SLOT..slot * SLOT + torn.len() / 2]
            .copy_from_slice(&torn.as_bytes()[..torn.len() / 2]);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_anchor(&k, dir.path()), Ok(Some(anchor(6))));
        assert_eq!(anchored_counter_unchecked(dir.path()), Some(7));
        // Both spoiled: damaged, not absent.
        std::fs::write(&path, vec![b'x'; 2 * SLOT]).unwrap();
        assert!(read_anchor(&k, dir.path()).is_err());
        // Made but never written (a kill between the two): no anchor yet.
        std::fs::write(&path, vec![0; 2 * SLOT]).unwrap();
        assert_eq!(read_anchor(&k, dir.path()), Ok(None));
    }

    #[test]
    fn records_anchors_and_journal_lines_round_trip_and_authenticate() {
        let k = key();
        let mut d = Digest::default();
        d.add(&[3; 32]);
        let r = encode_record(&k, 42, &d);
        assert_eq!(decode_record(&k, &r), Some((42, d)));
        let mut bad = r.clone();
        bad[5] ^= 1;
        assert_eq!(decode_record(&k, &bad), None);
        let other = hmac::Key::new(hmac::HMAC_SHA256, &[8; 32]);
        assert_eq!(decode_record(&other, &r), None);

        let a = Anchor {
            counter: 9,
            digest: d.bytes(),
            journal_len: 120,
            chain: [5; 32],
        };
        let text = a.encode(&k);
        assert_eq!(Anchor::decode(&k, &text), Ok(a));
        assert!(Anchor::decode(&other, &text).is_err());
        let edited = text.replace("counter 9", "counter 19");
        assert!(Anchor::decode(&k, &edited).is_err());

        let entries = vec![
            JournalEntry {
                counter: 3,
                event: JournalEvent::Deleted,
                table: Table::Objects(ObjectKind::Key),
                key: b"default/k 1%".to_vec(),
            },
            JournalEntry {
                counter: 4,
                event: JournalEvent::Purged,
                table: Table::Vaults,
                key: b"dev".to_vec(),
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        let mut w = JournalWriter {
            file: open_private(&dir.path().join(JOURNAL_FILE), true).unwrap(),
            len: 0,
            chain: [0; 32],
        };
        w.append(&k, &entries).unwrap();
        let bytes = std::fs::read(dir.path().join(JOURNAL_FILE)).unwrap();
        let (got, torn) = parse_journal(&k, &bytes, [0; 32]);
        assert!(!torn);
        assert_eq!(
            got.iter().map(|(e, _, _)| e.clone()).collect::<Vec<_>>(),
            entries
        );
        assert_eq!(got[1].1, bytes.len() as u64);
        // A changed line breaks the chain from there on.
        let text = String::from_utf8(bytes)
            .unwrap()
            .replacen("deleted", "purged", 1);
        let (got, torn) = parse_journal(&k, text.as_bytes(), [0; 32]);
        assert!(torn && got.is_empty());
    }
}
