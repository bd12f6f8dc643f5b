//! The shared store under load: ES256 sign over HTTPS against two `localhsm serve` replicas
//! on one PostgreSQL database (half the connections each, at the same time), beside one
//! replica on its embedded sled store, in turns as the rest of the load test does; then the
//! latency of writes (create key, set secret), one at a time, on each. Sign never touches
//! the database (the key's handle is cached, and kept current by change notices), so the
//! goal is sign within 10% of sled.

use std::time::Instant;

use hyper::body::Bytes;
use hyper::{Method, StatusCode};

use crate::driver::{self, env_u64, Client, Histogram, Report, Server, Target};

const MASTER_HEX: &str = "4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c";
const API: &str = "api-version=7.4";

/// Runs the comparison on the database `url`; failures (errors, bad answers) go to
/// `failures`.
pub fn run(
    rt: &tokio::runtime::Runtime,
    bin: &std::path::Path,
    sled: (&Server, &Client, &Target),
    url: &str,
    plan: &crate::Plan,
    failures: &mut Vec<String>,
) {
    let (rounds, seconds, connections) = (plan.rounds, plan.seconds, plan.connections);
    let a = Server::start_on_store(bin, url, MASTER_HEX);
    let b = Server::start_on_store(bin, url, MASTER_HEX);
    let (ca, cb) = (Client::new(&a), Client::new(&b));
    let targets = rt.block_on(driver::setup(&ca));
    // Replica b serves the key replica a made, and both sign correctly.
    for (label, c) in [("replica a", &ca), ("replica b", &cb)] {
        if let Err(e) = rt.block_on(driver::check_signatures(
            c,
            &targets.sign,
            &targets.sign_public,
            16,
        )) {
            failures.push(format!("postgres {label}: ES256 sign answer: {e}"));
        }
    }
    let (sled_server, sled_client, sled_sign) = sled;
    println!(
        "\nshared store: sled (1 replica, {connections} connections) vs PostgreSQL (2 replicas, \
         {} connections each), {rounds} rounds of {} s, order alternating",
        connections / 2,
        seconds.as_secs()
    );
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let mut sled_rate = 0.0;
        let mut pg_rate = 0.0;
        for k in 0..2 {
            if (round + k) % 2 == 0 {
                let r = rt.block_on(driver::drive(
                    sled_server,
                    sled_client,
                    &format!("ES256 sign, sled, round {}", round + 1),
                    std::slice::from_ref(sled_sign),
                    connections,
                    seconds,
                ));
                println!("{}", r.line());
                note_errors(&r, failures);
                sled_rate = r.rate();
            } else {
                let half = (connections / 2).max(1);
                let (name_a, name_b) = (
                    format!("ES256 sign, postgres replica a, round {}", round + 1),
                    format!("ES256 sign, postgres replica b, round {}", round + 1),
                );
                let (ra, rb) = rt.block_on(async {
                    tokio::join!(
                        driver::drive(
                            &a,
                            &ca,
                            &name_a,
                            std::slice::from_ref(&targets.sign),
                            half,
                            seconds,
                        ),
                        driver::drive(
                            &b,
                            &cb,
                            &name_b,
                            std::slice::from_ref(&targets.sign),
                            half,
                            seconds,
                        )
                    )
                });
                for r in [&ra, &rb] {
                    println!("{}", r.line());
                    note_errors(r, failures);
                }
                pg_rate = ra.rate() + rb.rate();
            }
        }
        println!(
            "round {}: sled {sled_rate:.0} req/s, postgres (2 replicas) {pg_rate:.0} req/s, \
             ratio {:.2}",
            round + 1,
            pg_rate / sled_rate
        );
        ratios.push(pg_rate / sled_rate);
    }
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    println!("ES256 sign, postgres (2 replicas) / sled (1 replica): median ratio {median:.2} (goal: 0.90 or better)");

    let writes = env_u64("LOCALHSM_LOAD_WRITES", 200) as usize;
    println!("\nwrite latency, {writes} sequential requests each, one connection:");
    println!(
        "{:<22}{:>12}{:>12}{:>12}{:>12}",
        "", "sled p50", "sled p99", "pg p50", "pg p99"
    );
    for (what, method) in [
        ("create key (EC P-256)", Method::POST),
        ("set secret", Method::PUT),
    ] {
        let sled_h = rt.block_on(writes_latency(sled_client, &method, writes, failures));
        let pg_h = rt.block_on(writes_latency(&ca, &method, writes, failures));
        let ms = |h: &Histogram, p: f64| h.percentile(p).as_secs_f64() * 1e3;
        println!(
            "{what:<22}{:>10.2}ms{:>10.2}ms{:>10.2}ms{:>10.2}ms",
            ms(&sled_h, 50.0),
            ms(&sled_h, 99.0),
            ms(&pg_h, 50.0),
            ms(&pg_h, 99.0)
        );
    }
}

fn note_errors(r: &Report, failures: &mut Vec<String>) {
    if r.errors > 0 || r.ok == 0 {
        failures.push(format!(
            "{}: {} errors, {} ok; first: {:?}",
            r.name, r.errors, r.ok, r.first_error
        ));
    }
}

/// `n` writes one after another (POST: create an EC key; PUT: set a secret), each under a
/// new name; their latencies.
async fn writes_latency(
    client: &Client,
    method: &Method,
    n: usize,
    failures: &mut Vec<String>,
) -> Histogram {
    let mut conn = client.connect().await.expect("connect");
    let mut h = Histogram::default();
    let run = std::process::id();
    for i in 0..n {
        let (path, body) = if method == Method::POST {
            (
                format!("/keys/w{run}x{i}/create?{API}"),
                r#"{"kty":"EC","crv":"P-256"}"#.to_string(),
            )
        } else {
            (
                format!("/secrets/w{run}x{i}?{API}"),
                format!(r#"{{"value":"load test value {i}"}}"#),
            )
        };
        let t = Instant::now();
        match conn.send(method.clone(), &path, Bytes::from(body)).await {
            Ok((StatusCode::OK, _)) => h.record(t.elapsed()),
            Ok((status, body)) => {
                failures.push(format!(
                    "{method} {path}: {status} {}",
                    String::from_utf8_lossy(&body)
                ));
                break;
            }
            Err(e) => {
                failures.push(format!("{method} {path}: {e}"));
                break;
            }
        }
    }
    h
}
