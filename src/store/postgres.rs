//! The shared-service backend: the store's tables in a PostgreSQL database, so that several
//! `localhsm serve` replicas act as one Key Vault. The only module that names PostgreSQL.
//!
//! # Schema
//!
//! Everything lives in the schema `localhsm`: one table per [`Table`], of the same name
//! (`localhsm.keys`, `localhsm.meta`, ...), each `(k bytea PRIMARY KEY, v bytea NOT NULL)`
//! (`bytea` orders byte-wise, as the seam's scans need), the sequence `localhsm.ids` for
//! [`Backend::next_id`], and `localhsm.ddl_version`, the version of these tables. They are
//! created, or migrated, at open, in one transaction under an advisory lock, so replicas
//! starting together do it once. A database of a later version is refused. The records are
//! the same sealed records every backend holds: the master key never reaches the database.
//!
//! # Transactions
//!
//! Each transaction takes a transaction-level advisory lock before its first read, so
//! writers on every replica run one at a time, and, at `READ COMMITTED`, each read after the
//! lock sees every earlier commit: serializable, with nothing to retry. (The store's
//! integrity record, which every commit updates, would serialize them anyway.) Should
//! PostgreSQL still report a serialization failure or a deadlock, the transaction is run
//! again, a few times, and then reported as [`Error::StoreConflict`] (409): never half
//! applied. A commit is durable when PostgreSQL acknowledges it (`synchronous_commit` is
//! set on for every session), so [`Backend::flush`] has nothing to do.
//!
//! # Staleness
//!
//! A transaction that changes records sends, before its commit, a `NOTIFY` on the channel
//! `localhsm_changes` naming them (PostgreSQL delivers it on commit, to every listener). Each
//! replica keeps one connection listening and hands each change to the store's watcher
//! ([`Backend::watch`]), which drops or re-reads what it cached (vault records, key handles
//! with their `enabled`, `key_ops`, `nbf`/`exp`, the purge queue's next date, the clock's
//! high-water mark). When that connection is lost, the watcher is told that anything may
//! have changed, at once and again when it is back.
//!
//! # Faults
//!
//! Every call carries a deadline ([`PostgresOptions::timeout`]): each connection is driven
//! by a thread of its own, and the caller waits at most that long for its answer, so a
//! partition from the database is an error after the deadline, never a hang. The sessions'
//! `statement_timeout`, `lock_timeout` and `idle_in_transaction_session_timeout` make the
//! server give up on its side too, releasing the write lock of a replica that went away.
//! A database that is down, restarting, cut off or too slow is
//! [`Error::StoreUnavailable`] (503 with `Retry-After`); connections are made again on the
//! next call, so service resumes without a restart.

use std::collections::HashMap;
use std::ops::Bound;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use postgres::config::Host;
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, Config, NoTls, Statement};

use super::seam::{Backend, Change, KeyRange, Rows, StoreLock, Table, Txn, Watcher, Write};
use crate::crypto::random_bytes;
use crate::error::{Error, Result};

/// The version of the tables this build creates and reads.
pub const DDL_VERSION: i32 = 1;
/// The channel change notices go out on.
const CHANNEL: &str = "localhsm_changes";
/// PostgreSQL carries notices of at most 8000 bytes; a longer list of changes says
/// "anything may have changed" instead.
const NOTICE_LIMIT: usize = 7000;
/// How many times a transaction that PostgreSQL reports as conflicting is run again.
const CONFLICT_TRIES: u32 = 5;
/// How long [`Backend::exclusive`] waits for a lock when asked to wait.
const LOCK_WAIT: Duration = Duration::from_secs(120);
/// How often the listening connection is checked when no notice arrives.
const LISTEN_CHECK: Duration = Duration::from_millis(500);

/// Settings of a [`PostgresBackend`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// The longest a call waits for the database (connecting, a query, a commit), and the
    /// server-side statement and lock timeouts. Default 5 s.
    pub timeout: Duration,
    /// Connections this process keeps open at most. Default 16.
    pub connections: usize,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            connections: 16,
        }
    }
}

/// The advisory locks, all in one 32-bit class so they do not meet an application's own.
const LOCK_CLASS: i64 = 0x6c68_736d << 32;
fn lock_key(lock: Option<StoreLock>, migrate: bool) -> i64 {
    LOCK_CLASS
        | match (lock, migrate) {
            (_, true) => 1,
            (None, false) => 2,
            (Some(StoreLock::Open), false) => 3,
            (Some(StoreLock::Sweep), false) => 4,
            (Some(StoreLock::Housekeeping), false) => 5,
        }
}

/// Why a call got no answer.
enum Failure {
    Db(postgres::Error),
    Timeout,
    Closed,
}

impl Failure {
    /// Whether PostgreSQL asked for the transaction to be run again.
    fn retryable(&self) -> bool {
        matches!(self, Failure::Db(e) if e.code().is_some_and(|c| {
            *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
        }))
    }

    /// Whether the connection can be used again.
    fn breaks(&self) -> bool {
        match self {
            Failure::Db(e) => e.as_db_error().is_none() || e.is_closed(),
            Failure::Timeout | Failure::Closed => true,
        }
    }

    fn to_error(&self, timeout: Duration) -> Error {
        match self {
            Failure::Timeout => Error::StoreUnavailable(format!(
                "it did not answer within {} ms",
                timeout.as_millis()
            )),
            Failure::Closed => Error::StoreUnavailable("the connection to it closed".into()),
            Failure::Db(e) => db_error(e),
        }
    }
}

/// PostgreSQL's error as the store's: its message and code, never a value (the detail
/// field, which can quote a row, is left out).
fn db_error(e: &postgres::Error) -> Error {
    let Some(db) = e.as_db_error() else {
        return Error::StoreUnavailable(if e.is_closed() {
            "the connection to it closed".into()
        } else {
            format!("cannot reach it: {}", first_line(&e.to_string()))
        });
    };
    let code = db.code();
    let class = &code.code()[..2];
    let what = format!("{} (SQLSTATE {})", db.message(), code.code());
    if *code == SqlState::DISK_FULL {
        Error::DiskFull { dir: None }
    } else if *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
    {
        Error::StoreConflict(what)
    } else if matches!(class, "08" | "53" | "57" | "58")
        || *code == SqlState::LOCK_NOT_AVAILABLE
        || *code == SqlState::QUERY_CANCELED
    {
        Error::StoreUnavailable(what)
    } else {
        Error::Storage(format!("PostgreSQL: {what}"))
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// One connection, as its thread holds it.
struct Session {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl Session {
    /// A prepared statement, prepared once per connection.
    fn statement(&mut self, sql: &str) -> std::result::Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    /// A point read with `sql` (from [`get_sql`]), in or outside a transaction.
    fn get(
        &mut self,
        sql: &str,
        key: &[u8],
    ) -> std::result::Result<Option<Vec<u8>>, postgres::Error> {
        let st = self.statement(sql)?;
        Ok(self.client.query_opt(&st, &[&key])?.map(|r| r.get(0)))
    }
}

type Job = Box<dyn FnOnce(&mut Session) + Send>;

/// A connection, driven by its own thread; calls wait for it with a deadline.
struct Conn {
    jobs: mpsc::Sender<Job>,
    broken: bool,
}

impl Conn {
    fn call<T: Send + 'static>(
        &mut self,
        timeout: Duration,
        f: impl FnOnce(&mut Session) -> std::result::Result<T, postgres::Error> + Send + 'static,
    ) -> std::result::Result<T, Failure> {
        if self.broken {
            return Err(Failure::Closed);
        }
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |s| {
            let _ = tx.send(f(s));
        });
        if self.jobs.send(job).is_err() {
            self.broken = true;
            return Err(Failure::Closed);
        }
        let out = match rx.recv_timeout(timeout) {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => Failure::Db(e),
            // The thread may still be waiting on the socket: this connection is dropped,
            // and its thread ends when the wait does.
            Err(RecvTimeoutError::Timeout) => Failure::Timeout,
            Err(RecvTimeoutError::Disconnected) => Failure::Closed,
        };
        if out.breaks() {
            self.broken = true;
        }
        Err(out)
    }
}

struct PoolState {
    idle: Vec<Conn>,
    open: usize,
}

/// What the backend and its listening thread share.
struct Inner {
    config: Config,
    options: PostgresOptions,
    /// Sent at the start of every session.
    setup: String,
    pool: Mutex<PoolState>,
    freed: Condvar,
    watchers: Mutex<Vec<Watcher>>,
    /// Tells this process's notices from the others'.
    origin: String,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    fn connect(&self) -> std::result::Result<Client, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        client.batch_execute(&self.setup)?;
        Ok(client)
    }

    /// A new connection with its thread.
    fn open_conn(self: &Arc<Self>) -> Result<Conn> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready, is_ready) = mpsc::sync_channel(1);
        let inner = self.clone();
        std::thread::Builder::new()
            .name("localhsm-postgres".into())
            .spawn(move || {
                let client = inner.connect();
                drop(inner);
                let mut session = match client {
                    Ok(client) => {
                        let _ = ready.send(Ok(()));
                        Session {
                            client,
                            statements: HashMap::new(),
                        }
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                for job in rx {
                    job(&mut session);
                }
            })
            .map_err(|e| Error::Storage(format!("cannot start a database thread: {e}")))?;
        match is_ready.recv_timeout(self.options.timeout) {
            Ok(Ok(())) => Ok(Conn {
                jobs,
                broken: false,
            }),
            Ok(Err(e)) => Err(db_error(&e)),
            Err(_) => Err(Failure::Timeout.to_error(self.options.timeout)),
        }
    }

    /// A connection from the pool (a new one when none is idle), waiting for one to free
    /// up when all are in use.
    fn take(self: &Arc<Self>) -> Result<Lease> {
        let deadline = Instant::now() + self.options.timeout;
        let mut pool = lock(&self.pool);
        loop {
            if let Some(conn) = pool.idle.pop() {
                return Ok(Lease {
                    inner: self.clone(),
                    conn: Some(conn),
                });
            }
            if pool.open < self.options.connections.max(1) {
                pool.open += 1;
                drop(pool);
                return match self.open_conn() {
                    Ok(conn) => Ok(Lease {
                        inner: self.clone(),
                        conn: Some(conn),
                    }),
                    Err(e) => {
                        lock(&self.pool).open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::StoreUnavailable(format!(
                    "all {} of this replica's connections stayed busy for {} ms",
                    pool.open,
                    self.options.timeout.as_millis()
                )));
            }
            pool = self
                .freed
                .wait_timeout(pool, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn tell(&self, change: &Change) {
        let watchers = lock(&self.watchers).clone();
        for w in watchers {
            w(change);
        }
    }

    /// Hands the changes a notice names to the watchers (none of this process's own).
    fn deliver(&self, payload: &str) {
        let mut lines = payload.lines();
        if lines.next() == Some(self.origin.as_str()) {
            return;
        }
        for line in lines {
            let change = line
                .split_once(' ')
                .and_then(|(t, k)| {
                    let table = *Table::ALL.get(t.parse::<usize>().ok()?)?;
                    Some(Change::Record(table, hex::decode(k).ok()?))
                })
                .unwrap_or(Change::Unknown);
            self.tell(&change);
        }
    }

    /// The listening connection's thread: delivers notices until the backend is dropped,
    /// connecting again whenever the connection is lost.
    fn listen(self: Arc<Self>) {
        let mut connected_before = false;
        while !self.stop.load(Ordering::Relaxed) {
            let client = self.connect().and_then(|mut c| {
                c.batch_execute(&format!("LISTEN {CHANNEL}"))?;
                Ok(c)
            });
            let mut client = match client {
                Ok(c) => c,
                Err(_) => {
                    std::thread::sleep(LISTEN_CHECK);
                    continue;
                }
            };
            // Whatever changed while nobody listened.
            if connected_before {
                self.tell(&Change::Unknown);
            }
            connected_before = true;
            let mut checked = Instant::now();
            'listening: while !self.stop.load(Ordering::Relaxed) {
                let mut notices = client.notifications();
                let mut it = notices.timeout_iter(Duration::from_millis(100));
                loop {
                    match it.next() {
                        Ok(Some(n)) => self.deliver(n.payload()),
                        Err(_) => break 'listening,
                        Ok(None) => break,
                    }
                    if self.stop.load(Ordering::Relaxed) {
                        return;
                    }
                }
                drop(it);
                drop(notices);
                if checked.elapsed() >= LISTEN_CHECK {
                    if client.is_valid(self.options.timeout).is_err() {
                        break;
                    }
                    checked = Instant::now();
                }
            }
            // Changes may be going by unheard: caches must not be trusted until it is back.
            self.tell(&Change::Unknown);
        }
    }
}

/// A pooled connection, given back when dropped (or closed, if it broke).
struct Lease {
    inner: Arc<Inner>,
    conn: Option<Conn>,
}

impl Lease {
    fn call<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Session) -> std::result::Result<T, postgres::Error> + Send + 'static,
    ) -> std::result::Result<T, Failure> {
        let timeout = self.inner.options.timeout;
        match self.conn.as_mut() {
            Some(c) => c.call(timeout, f),
            None => Err(Failure::Closed),
        }
    }

    /// [`Lease::call`], with the failure as the store's error.
    fn run<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Session) -> std::result::Result<T, postgres::Error> + Send + 'static,
    ) -> Result<T> {
        let timeout = self.inner.options.timeout;
        self.call(f).map_err(|e| e.to_error(timeout))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut pool = lock(&self.inner.pool);
            if conn.broken {
                pool.open -= 1;
            } else {
                pool.idle.push(conn);
            }
            drop(pool);
            self.inner.freed.notify_one();
        }
    }
}

fn qualified(table: Table) -> String {
    format!("localhsm.{}", table.name())
}

fn get_sql(table: Table) -> String {
    format!("SELECT v FROM {} WHERE k = $1", qualified(table))
}

fn put_sql(table: Table) -> String {
    format!(
        "INSERT INTO {} (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
        qualified(table)
    )
}

fn delete_sql(table: Table) -> String {
    format!("DELETE FROM {} WHERE k = $1", qualified(table))
}

/// The query for a scan of `range`, and its bounds as parameters (the limit comes last).
fn scan_sql(table: Table, range: &KeyRange) -> (String, Vec<Vec<u8>>) {
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    for (bound, inclusive, exclusive) in [(&range.start, ">=", ">"), (&range.end, "<=", "<")] {
        let (op, key) = match bound {
            Bound::Included(k) => (inclusive, k),
            Bound::Excluded(k) => (exclusive, k),
            Bound::Unbounded => continue,
        };
        params.push(key.clone());
        conditions.push(format!("k {op} ${}", params.len()));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT k, v FROM {}{filter} ORDER BY k LIMIT ${}",
        qualified(table),
        params.len() + 1
    );
    (sql, params)
}

/// The tables, as one transaction creates them (version 1).
fn ddl_v1() -> String {
    let mut sql = String::from("CREATE SEQUENCE IF NOT EXISTS localhsm.ids;\n");
    for t in Table::ALL {
        sql.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {} (k bytea PRIMARY KEY, v bytea NOT NULL);\n",
            qualified(t)
        ));
    }
    sql
}

/// A store in a PostgreSQL database. Cheap to share; every clone of the `Arc` uses one pool
/// of connections and one listening connection.
pub struct PostgresBackend {
    location: String,
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl PostgresBackend {
    /// Connects to the database `url` (`postgres://user[:password]@host[:port]/dbname`, or
    /// the `key=value` form libpq takes), creates or migrates localhsm's tables, and starts
    /// listening for other replicas' changes.
    pub fn connect(url: &str, options: PostgresOptions) -> Result<Self> {
        let mut config = Config::from_str(url).map_err(|e| {
            Error::bad_parameter(format!(
                "the PostgreSQL address is malformed ({}); expected \
                 postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
                first_line(&e.to_string())
            ))
        })?;
        if config.get_hosts().is_empty() {
            return Err(Error::bad_parameter(
                "the PostgreSQL address names no host; expected \
                 postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
            ));
        }
        config.connect_timeout(options.timeout);
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(10));
        if config.get_application_name().is_none() {
            config.application_name("localhsm");
        }
        let ms = options.timeout.as_millis().max(1);
        let setup = format!(
            "SET synchronous_commit = on; SET statement_timeout = {ms}; \
             SET lock_timeout = {ms}; SET idle_in_transaction_session_timeout = {}; \
             SET default_transaction_isolation = 'read committed'",
            ms * 2
        );
        let location = describe(&config);
        let inner = Arc::new(Inner {
            config,
            options,
            setup,
            pool: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
            watchers: Mutex::new(Vec::new()),
            origin: hex::encode(random_bytes(8)?),
            stop: AtomicBool::new(false),
        });
        let backend = Self { location, inner };
        backend.migrate()?;
        let listener = backend.inner.clone();
        std::thread::Builder::new()
            .name("localhsm-postgres-listen".into())
            .spawn(move || listener.listen())
            .map_err(|e| Error::Storage(format!("cannot start a database thread: {e}")))?;
        Ok(backend)
    }

    /// Creates the tables in a new database, or checks their version in an existing one.
    fn migrate(&self) -> Result<()> {
        let mut lease = self.inner.take()?;
        let key = lock_key(None, true);
        let found = lease.run(move |s| {
            let mut tx = s.client.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&key])?;
            tx.batch_execute(
                "CREATE SCHEMA IF NOT EXISTS localhsm;
                 CREATE TABLE IF NOT EXISTS localhsm.ddl_version (version integer NOT NULL);",
            )?;
            let found: Option<i32> = tx
                .query_one("SELECT max(version) FROM localhsm.ddl_version", &[])?
                .get(0);
            let found = found.unwrap_or(0);
            if found < 1 {
                tx.batch_execute(&ddl_v1())?;
                tx.execute(
                    "INSERT INTO localhsm.ddl_version (version) VALUES ($1)",
                    &[&DDL_VERSION],
                )?;
            }
            tx.commit()?;
            Ok(found)
        })?;
        if found > DDL_VERSION {
            return Err(Error::UnsupportedSchema {
                dir: self.location.clone(),
                found: u32::try_from(found).unwrap_or(0),
                supported: u32::try_from(DDL_VERSION).unwrap_or(0),
            });
        }
        Ok(())
    }

    fn timeout(&self) -> Duration {
        self.inner.options.timeout
    }

    /// One attempt of [`Backend::transact`]: `Err(Some(failure))` when PostgreSQL asks
    /// for it to be run again.
    fn attempt(
        &self,
        work: &mut dyn FnMut(&mut dyn Txn) -> Result<()>,
    ) -> std::result::Result<(), (Error, bool)> {
        let timeout = self.timeout();
        let fail = |f: Failure| {
            let retry = f.retryable();
            (f.to_error(timeout), retry)
        };
        let mut lease = self.inner.take().map_err(|e| (e, false))?;
        let key = lock_key(None, false);
        lease
            .call(move |s| {
                s.client.batch_execute("BEGIN")?;
                let st = s.statement("SELECT pg_advisory_xact_lock($1)")?;
                s.client.execute(&st, &[&key])?;
                Ok(())
            })
            .map_err(fail)?;
        let mut txn = PgTxn {
            lease: &mut lease,
            changes: Vec::new(),
            failure: None,
        };
        let worked = work(&mut txn);
        let failure = txn.failure.take();
        let changes = std::mem::take(&mut txn.changes);
        if let Err(e) = worked {
            let _ = lease.call(|s| s.client.batch_execute("ROLLBACK"));
            let retry = failure.is_some_and(|f| f.retryable());
            return Err((e, retry));
        }
        let notice = self.notice(&changes);
        let committed = lease.call(move |s| {
            if let Some(payload) = notice {
                let st = s.statement("SELECT pg_notify($1, $2)")?;
                s.client.execute(&st, &[&CHANNEL, &payload])?;
            }
            s.client.batch_execute("COMMIT")
        });
        if let Err(f) = committed {
            let _ = lease.call(|s| s.client.batch_execute("ROLLBACK"));
            return Err(fail(f));
        }
        Ok(())
    }

    /// The notice naming `changes` (none for a transaction that only logged an access).
    fn notice(&self, changes: &[(Table, Vec<u8>)]) -> Option<String> {
        if changes.is_empty() {
            return None;
        }
        let mut payload = format!("{}\n", self.inner.origin);
        for (table, key) in changes {
            payload.push_str(&format!("{} {}\n", table.index(), hex::encode(key)));
            if payload.len() > NOTICE_LIMIT {
                return Some(format!("{}\n*\n", self.inner.origin));
            }
        }
        Some(payload)
    }
}

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Relaxed);
    }
}

/// `postgres://user@host:port/db`, never the password.
fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

/// A transaction in progress on one connection.
struct PgTxn<'a> {
    lease: &'a mut Lease,
    /// What it changed, for the notice (not access-log records, which nobody caches).
    changes: Vec<(Table, Vec<u8>)>,
    /// The first failure, so the transaction knows whether to run again.
    failure: Option<Failure>,
}

impl PgTxn<'_> {
    fn run<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Session) -> std::result::Result<T, postgres::Error> + Send + 'static,
    ) -> Result<T> {
        let timeout = self.lease.inner.options.timeout;
        self.lease.call(f).map_err(|failure| {
            let e = failure.to_error(timeout);
            self.failure.get_or_insert(failure);
            e
        })
    }

    fn changed(&mut self, table: Table, key: &[u8]) {
        if table != Table::AccessLog {
            self.changes.push((table, key.to_vec()));
        }
    }
}

impl Txn for PgTxn<'_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let (sql, key) = (get_sql(table), key.to_vec());
        self.run(move |s| s.get(&sql, &key))
    }

    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        self.changed(table, key);
        let (sql, key, value) = (put_sql(table), key.to_vec(), value.to_vec());
        self.run(move |s| {
            let st = s.statement(&sql)?;
            s.client.execute(&st, &[&key, &value])?;
            Ok(())
        })
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<()> {
        self.changed(table, key);
        let (sql, key) = (delete_sql(table), key.to_vec());
        self.run(move |s| {
            let st = s.statement(&sql)?;
            s.client.execute(&st, &[&key])?;
            Ok(())
        })
    }
}

impl Backend for PostgresBackend {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let (sql, key) = (get_sql(table), key.to_vec());
        self.inner.take()?.run(move |s| s.get(&sql, &key))
    }

    fn scan(&self, table: Table, range: &KeyRange, limit: usize) -> Result<Rows> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (sql, bounds) = scan_sql(table, range);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.inner.take()?.run(move |s| {
            let st = s.statement(&sql)?;
            let mut params: Vec<&(dyn ToSql + Sync)> =
                bounds.iter().map(|b| b as &(dyn ToSql + Sync)).collect();
            params.push(&limit);
            Ok(s.client
                .query(&st, &params)?
                .into_iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }

    fn transact(&self, work: &mut dyn FnMut(&mut dyn Txn) -> Result<()>) -> Result<()> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.attempt(work) {
                Ok(()) => return Ok(()),
                Err((e, true)) if tries < CONFLICT_TRIES => {
                    tracing::debug!(error = %e, tries, "a transaction conflicted; running it again");
                    std::thread::sleep(Duration::from_millis(5 * u64::from(tries)));
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    fn apply(&self, writes: &[Write]) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        self.transact(&mut |tx| Write::all_in(writes, tx))
    }

    fn flush(&self) -> Result<()> {
        // Every commit was durable when PostgreSQL acknowledged it (synchronous_commit).
        Ok(())
    }

    fn next_id(&self) -> Result<u64> {
        let id: i64 = self.inner.take()?.run(|s| {
            let st = s.statement("SELECT nextval('localhsm.ids')")?;
            Ok(s.client.query_one(&st, &[])?.get(0))
        })?;
        u64::try_from(id).map_err(|_| Error::Storage("the id sequence went negative".into()))
    }

    fn shared(&self) -> bool {
        true
    }

    fn watch(&self, watcher: Watcher) {
        lock(&self.inner.watchers).push(watcher);
    }

    fn exclusive(
        &self,
        which: StoreLock,
        wait: bool,
        work: &mut dyn FnMut() -> Result<()>,
    ) -> Result<bool> {
        // A session-level lock on a connection held for the whole of `work` (which uses
        // others): it goes with the connection if this process dies.
        let mut lease = self.inner.take()?;
        let key = lock_key(Some(which), false);
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            let got: bool = lease.run(move |s| {
                let st = s.statement("SELECT pg_try_advisory_lock($1)")?;
                Ok(s.client.query_one(&st, &[&key])?.get(0))
            })?;
            if got {
                break;
            }
            if !wait {
                return Ok(false);
            }
            if Instant::now() >= deadline {
                return Err(Error::StoreUnavailable(format!(
                    "another replica held the store's {which:?} lock for {} s",
                    LOCK_WAIT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let result = work();
        if lease
            .call(move |s| {
                let st = s.statement("SELECT pg_advisory_unlock($1)")?;
                s.client.execute(&st, &[&key])?;
                Ok(())
            })
            .is_err()
        {
            // The lock cannot outlive its session: drop the connection.
            if let Some(c) = lease.conn.as_mut() {
                c.broken = true;
            }
        }
        result.map(|()| true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_bound_as_the_seam_says() {
        let (sql, p) = scan_sql(Table::Vaults, &KeyRange::all());
        assert_eq!(sql, "SELECT k, v FROM localhsm.vaults ORDER BY k LIMIT $1");
        assert!(p.is_empty());
        let (sql, p) = scan_sql(Table::Vaults, &KeyRange::prefix_after(b"v/", b"v/b"));
        assert_eq!(
            sql,
            "SELECT k, v FROM localhsm.vaults WHERE k > $1 AND k < $2 ORDER BY k LIMIT $3"
        );
        assert_eq!(p, vec![b"v/b".to_vec(), b"v0".to_vec()]);
        let (sql, _) = scan_sql(Table::PurgeQueue, &KeyRange::between(b"a", b"b"));
        assert!(sql.contains("k >= $1 AND k < $2"), "{sql}");
    }

    #[test]
    fn the_location_never_shows_the_password() {
        let c = Config::from_str("postgres://me:hunter2@db.example:6543/vaults").unwrap();
        let d = describe(&c);
        assert_eq!(d, "postgres://me@db.example:6543/vaults");
        assert!(!d.contains("hunter2"));
    }

    #[test]
    fn a_malformed_address_is_a_clear_error() {
        for url in [
            "postgres://x:hunter2@db:notaport/vaults",
            "postgres://x:hunter2@/vaults",
        ] {
            let e = PostgresBackend::connect(url, PostgresOptions::default()).unwrap_err();
            assert!(matches!(e, Error::BadParameter(_)), "{url}: {e:?}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
    }
}
