//! What a request costs the storage backend: a warm sign or unwrap request through the REST
//! router reads nothing from storage and writes nothing (the vault record, the purge queue's
//! earliest date and the key's handle are all held in memory), and with the access log on it
//! writes exactly its one log record (in one transaction).
//!
//! Guards against: per-request storage reads creeping back into the hot path (the vault
//! record decoded twice per sign request, a purge-queue read per call), which an embedded
//! engine hides and a networked database (the seam's next backend) pays for on every call.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use localhsm::crypto::jwk::b64url_encode;
use localhsm::crypto::SecretBytes;
use localhsm::store::{Backend, KeyRange, MemoryBackend, Rows, Table, Txn, Write};
use localhsm::{MasterKeySource, Store};
use serde_json::json;
use support::{Api, MASTER};

/// The memory backend, counting what is asked of it.
#[derive(Default)]
struct Counting {
    inner: MemoryBackend,
    reads: AtomicU64,
    vault_reads: AtomicU64,
    scans: AtomicU64,
    transactions: AtomicU64,
    writes: AtomicU64,
}

impl Counting {
    fn counts(&self) -> [u64; 5] {
        [
            &self.reads,
            &self.vault_reads,
            &self.scans,
            &self.transactions,
            &self.writes,
        ]
        .map(|c| c.load(Ordering::SeqCst))
    }
}

impl Backend for Counting {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn get(&self, table: Table, key: &[u8]) -> localhsm::Result<Option<Vec<u8>>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if table == Table::Vaults {
            self.vault_reads.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.get(table, key)
    }

    fn scan(&self, table: Table, range: &KeyRange, limit: usize) -> localhsm::Result<Rows> {
        self.scans.fetch_add(1, Ordering::SeqCst);
        self.inner.scan(table, range, limit)
    }

    fn transact(
        &self,
        work: &mut dyn FnMut(&mut dyn Txn) -> localhsm::Result<()>,
    ) -> localhsm::Result<()> {
        self.transactions.fetch_add(1, Ordering::SeqCst);
        self.inner.transact(work)
    }

    fn apply(&self, writes: &[Write]) -> localhsm::Result<()> {
        self.writes.fetch_add(writes.len() as u64, Ordering::SeqCst);
        self.inner.apply(writes)
    }

    fn flush(&self) -> localhsm::Result<()> {
        self.inner.flush()
    }

    fn next_id(&self) -> localhsm::Result<u64> {
        self.inner.next_id()
    }
}

fn serve() -> (Arc<Counting>, Api) {
    let backend = Arc::new(Counting::default());
    let store = Store::builder_on(backend.clone())
        .master_key(MasterKeySource::Bytes(SecretBytes::new(MASTER.to_vec())))
        .open()
        .expect("open the store");
    let api = Api::serve(store, tempfile::tempdir().expect("temp dir"));
    (backend, api)
}

/// Creates the EC key `signer` in the default vault.
fn create_signer(api: &Api) {
    api.ok(
        "POST",
        "/keys/signer/create",
        Some(json!({"kty": "EC-HSM"})),
    );
}

/// Signs a digest with key `signer` of the default vault; the HTTP status.
fn sign(api: &Api) -> u16 {
    let body = json!({"alg": "ES256", "value": b64url_encode(&[1; 32])});
    api.kv("POST", "/keys/signer//sign", Some(body)).status
}

/// The counts that ten calls of `request` add, after one call to warm up.
fn cost_of_ten(backend: &Counting, mut request: impl FnMut()) -> [u64; 5] {
    request();
    let before = backend.counts();
    for _ in 0..10 {
        request();
    }
    let after = backend.counts();
    [0, 1, 2, 3, 4].map(|i| after[i] - before[i])
}

#[test]
fn warm_sign_and_unwrap_requests_touch_no_storage() {
    let (backend, api) = serve();
    create_signer(&api);
    api.ok("POST", "/keys/kek/create", Some(json!({"kty": "oct-HSM"})));
    let wrapped = api.ok(
        "POST",
        "/keys/kek//wrapkey",
        Some(json!({"alg": "A256KW", "value": b64url_encode(&[7; 32])})),
    )["value"]
        .clone();
    let sign = || assert_eq!(sign(&api), 200);
    // reads, vault reads, scans, transactions, blind writes
    assert_eq!(cost_of_ten(&backend, sign), [0, 0, 0, 0, 0], "sign");
    let unwrap = || {
        api.ok(
            "POST",
            "/keys/kek//unwrapkey",
            Some(json!({"alg": "A256KW", "value": wrapped})),
        );
    };
    assert_eq!(cost_of_ten(&backend, unwrap), [0, 0, 0, 0, 0], "unwrap");

    // With the access log on, each call appends its record and reads nothing outside it:
    // one transaction each (the integrity wrapper turns a blind batch into a transaction, to
    // read the old value of what it writes for the store's digest).
    api.store
        .set_access_log("default", true, None)
        .expect("turn the log on");
    assert_eq!(cost_of_ten(&backend, sign), [0, 0, 0, 10, 0], "logged sign");
    let log = api
        .store
        .access_log("default", &localhsm::audit::LogQuery::default())
        .expect("read the log");
    assert_eq!(
        log.iter().filter(|r| r.operation_name == "KeySign").count(),
        11
    );
}

#[test]
fn a_change_to_the_vault_is_seen_by_the_next_request() {
    // The cached vault record must not outlive a change: a deleted vault stops serving at
    // once, and a recovered one serves again.
    let (_, api) = serve();
    create_signer(&api);
    assert_eq!(sign(&api), 200);
    api.store.delete_vault("default").expect("delete the vault");
    assert_eq!(sign(&api), 404);
    api.store
        .recover_vault("default")
        .expect("recover the vault");
    assert_eq!(sign(&api), 200);
}
