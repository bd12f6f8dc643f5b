//! The CI variant of the load test (`tests/load/`): a real `localhsm serve`, ES256 sign and
//! A256KW unwrap over HTTPS from 16 connections for a few seconds each, with zero errors;
//! then the same sign load against the floor server of `tests/load/floor.rs`, so that the
//! floor the full run measures against keeps working. Both servers' signatures are verified
//! with RustCrypto's p256. No throughput assertion: this checks that the servers stay correct
//! under concurrency. `LOCALHSM_LOAD_SMOKE_SECONDS` (default 5) sets the length of each run.

#[path = "load/driver.rs"]
mod driver;

use std::time::Duration;

use driver::{env_u64, Client, Server, Target};
use hyper::body::Bytes;
use hyper::StatusCode;

fn drive_without_errors(
    rt: &tokio::runtime::Runtime,
    server: &Server,
    client: &Client,
    target: &Target,
    name: &str,
) {
    let seconds = env_u64("LOCALHSM_LOAD_SMOKE_SECONDS", 5);
    let r = rt.block_on(driver::drive(
        server,
        client,
        name,
        std::slice::from_ref(target),
        16,
        Duration::from_secs(seconds),
    ));
    println!("{}", r.line());
    assert_eq!(r.errors, 0, "{}", r.line());
    assert!(r.ok > 0, "{}", r.line());
}

#[test]
fn sign_and_unwrap_under_concurrency_without_errors() {
    let server = Server::start(&driver::server_binary());
    let client = Client::new(&server);
    let rt = driver::runtime();
    let targets = rt.block_on(driver::setup(&client));
    for target in [&targets.sign, &targets.unwrap] {
        drive_without_errors(&rt, &server, &client, target, target.name);
    }
    rt.block_on(driver::check_signatures(
        &client,
        &targets.sign,
        &targets.sign_public,
        8,
    ))
    .expect("localhsm's ES256 signatures");
}

#[test]
fn floor_signs_correctly_under_concurrency() {
    let floor = Server::start_floor();
    let client = Client::new(&floor);
    let rt = driver::runtime();
    // The request the full run sends (localhsm's key path; the floor serves any name).
    let sign = Target {
        name: "floor sign",
        path: "/keys/load-ec/0123456789abcdef0123456789abcdef/sign?api-version=7.4".into(),
        body: Bytes::from(
            serde_json::json!({
                "alg": "ES256",
                "value": localhsm::crypto::jwk::b64url_encode(&driver::sign_digest()),
            })
            .to_string(),
        ),
    };
    let public = floor.floor_public_key();
    rt.block_on(driver::check_signatures(&client, &sign, &public, 8))
        .expect("the floor's ES256 signatures");
    drive_without_errors(&rt, &floor, &client, &sign, sign.name);
    rt.block_on(driver::check_signatures(&client, &sign, &public, 8))
        .expect("the floor's ES256 signatures after the load");

    // It parses the request, as localhsm must: malformed ones are refused, not signed.
    let refusals = [
        (sign.path.as_str(), r#"{"alg":"ES384","value":"AAAA"}"#),
        (sign.path.as_str(), r#"{"alg":"ES256","value":"AAAA"}"#),
        (
            sign.path.as_str(),
            r#"{"alg":"ES256","value":"not base64!"}"#,
        ),
        (sign.path.as_str(), r#"{"alg":"ES256"}"#),
        ("/keys/load-ec/v1/sign", r#"{"alg":"ES256","value":"AAAA"}"#),
    ];
    rt.block_on(async {
        let mut c = client.connect().await.expect("connect");
        for (path, body) in refusals {
            let (status, answer) = c.post(path, Bytes::from(body)).await.expect("answer");
            let answer = String::from_utf8_lossy(&answer);
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
            assert!(
                answer.contains("\"BadParameter\""),
                "{path} {body}: {answer}"
            );
        }
        let (status, _) = c
            .post("/keys/load-ec/v1/verify?api-version=7.4", sign.body.clone())
            .await
            .expect("answer");
        assert_eq!(status, StatusCode::NOT_FOUND);
    });
}
