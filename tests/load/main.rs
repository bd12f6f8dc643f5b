//! The load test: ES256 sign and A256KW unwrap over HTTPS against a real `localhsm serve`.
//! Opt-in, because it takes the machine for a while; `tests/load/run.sh` runs it on a
//! release build. `tests/load_smoke.rs` is the short version that runs in CI.
//!
//! - `LOCALHSM_LOAD=1` (`0` or empty: off): sign, then unwrap, `LOCALHSM_LOAD_SECONDS` each (default 30) at
//!   `LOCALHSM_LOAD_CONNECTIONS` connections (default 64). Fails on any error.
//! - `LOCALHSM_LOAD_SOAK=600`: sign and unwrap together (half the connections each) for
//!   that many seconds; fails on any error, or if the server's RSS at the end is more than
//!   20% above its RSS after the first minute.
//! - `LOCALHSM_LOAD_ASSERT_TARGETS=1`: also fail unless ES256 sign reaches 20,000 req/s
//!   with p99 under 10 ms (meaningful only on an otherwise idle machine).
//! - `LOCALHSM_BIN`: the server binary (default: the one built with this test).

mod driver;

use std::time::Duration;

use driver::{env_u64, Client, Server};

#[test]
fn load() {
    let full = std::env::var("LOCALHSM_LOAD").is_ok_and(|v| !v.is_empty() && v != "0")
        || std::env::var_os("LOCALHSM_LOAD_SECONDS").is_some();
    let soak = env_u64("LOCALHSM_LOAD_SOAK", 0);
    if !full && soak == 0 {
        println!(
            "load test not run: set LOCALHSM_LOAD=1 or LOCALHSM_LOAD_SOAK=600 (tests/load/run.sh)"
        );
        return;
    }
    let bin = driver::server_binary();
    if bin.components().any(|c| c.as_os_str() == "debug") {
        println!(
            "warning: {} is a debug build; numbers will be low (use --release)",
            bin.display()
        );
    }
    let seconds = env_u64("LOCALHSM_LOAD_SECONDS", 30);
    let connections = env_u64("LOCALHSM_LOAD_CONNECTIONS", 64) as usize;
    let server = Server::start(&bin);
    let client = Client::new(&server);
    let rt = driver::runtime();
    let targets = rt.block_on(driver::setup(&client));
    println!(
        "localhsm load test: {} (pid {}), {} CPUs, {connections} connections",
        bin.display(),
        server.pid(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut failures = Vec::new();
    if full {
        for target in [&targets.sign, &targets.unwrap] {
            let r = rt.block_on(driver::drive(
                &server,
                &client,
                target.name,
                std::slice::from_ref(target),
                connections,
                Duration::from_secs(seconds),
            ));
            println!("{}", r.line());
            if r.errors > 0 || r.ok == 0 {
                failures.push(format!("{}: {} errors, {} ok", r.name, r.errors, r.ok));
            }
            if target.name == targets.sign.name
                && std::env::var_os("LOCALHSM_LOAD_ASSERT_TARGETS").is_some()
            {
                let p99 = r.latency.percentile(99.0);
                if r.rate() < 20_000.0 || p99 >= Duration::from_millis(10) {
                    failures.push(format!(
                        "ES256 sign: {:.0} req/s, p99 {p99:?}; target 20000 req/s, p99 < 10 ms",
                        r.rate()
                    ));
                }
            }
        }
    }
    if soak > 0 {
        let r = rt.block_on(driver::drive(
            &server,
            &client,
            "soak sign+unwrap",
            &[targets.sign.clone(), targets.unwrap.clone()],
            connections,
            Duration::from_secs(soak),
        ));
        println!("{}", r.line());
        if r.errors > 0 || r.ok == 0 {
            failures.push(format!("soak: {} errors, {} ok", r.errors, r.ok));
        }
        if let Some(first) = r.memory_first_minute {
            let end = r.memory_end.rss_kib as f64;
            if end > first.rss_kib as f64 * 1.2 {
                failures.push(format!(
                    "soak: RSS grew from {} KiB after the first minute to {} KiB",
                    first.rss_kib, r.memory_end.rss_kib
                ));
            }
        }
    }
    println!(
        "server peak RSS (VmHWM): {} MiB",
        server.memory().peak_kib / 1024
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
