//! The CI variant of the load test (`tests/load/`): a real `localhsm serve`, ES256 sign and
//! A256KW unwrap over HTTPS from 16 connections for a few seconds each, with zero errors.
//! No throughput assertion: this checks that the server stays correct under concurrency.
//! `LOCALHSM_LOAD_SMOKE_SECONDS` (default 5) sets the length of each half.

#[path = "load/driver.rs"]
mod driver;

use std::time::Duration;

use driver::{env_u64, Client, Server};

#[test]
fn sign_and_unwrap_under_concurrency_without_errors() {
    let seconds = env_u64("LOCALHSM_LOAD_SMOKE_SECONDS", 5);
    let server = Server::start(&driver::server_binary());
    let client = Client::new(&server);
    let rt = driver::runtime();
    let targets = rt.block_on(driver::setup(&client));
    for target in [&targets.sign, &targets.unwrap] {
        let r = rt.block_on(driver::drive(
            &server,
            &client,
            target.name,
            std::slice::from_ref(target),
            16,
            Duration::from_secs(seconds),
        ));
        println!("{}", r.line());
        assert_eq!(r.errors, 0, "{}", r.line());
        assert!(r.ok > 0, "{}", r.line());
    }
}
