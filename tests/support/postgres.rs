//! The PostgreSQL cluster the tests share, named by `LOCALHSM_TEST_POSTGRES`
//! (`tests/postgres/cluster.sh start` prints it; `.ci/run` starts one): each test gets a new,
//! empty database of its own.

use std::sync::atomic::{AtomicU32, Ordering};

/// The variable that names the test cluster (a URL whose database may be any).
pub const ENV: &str = "LOCALHSM_TEST_POSTGRES";

/// The URL of a new, empty database on the test cluster; `None` when [`ENV`] is unset
/// outside CI. In CI (`CI=true`) a missing cluster fails the test: it never skips there.
pub fn fresh_database() -> Option<String> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let Ok(admin) = std::env::var(ENV) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{ENV} is not set: CI must run the PostgreSQL tests (tests/postgres/cluster.sh)"
        );
        eprintln!("{ENV} is not set: the PostgreSQL part of this test does not run");
        return None;
    };
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut client = postgres::Client::connect(&admin, postgres::NoTls)
        .unwrap_or_else(|e| panic!("connect to {ENV}: {e}"));
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("create database {name}: {e}"));
    let (base, _) = admin
        .split_once('?')
        .map_or((admin.as_str(), ""), |(b, q)| (b, q));
    let (server, _) = base
        .rsplit_once('/')
        .unwrap_or_else(|| panic!("{ENV} has no /DATABASE part"));
    Some(format!("{server}/{name}"))
}

/// A backend on a new database, or `None` (see [`fresh_database`]).
pub fn fresh_backend() -> Option<std::sync::Arc<localhsm::store::PostgresBackend>> {
    let url = fresh_database()?;
    Some(std::sync::Arc::new(
        localhsm::store::PostgresBackend::connect(&url, Default::default())
            .unwrap_or_else(|e| panic!("connect to {url}: {e}")),
    ))
}
