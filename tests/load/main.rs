//! The load test: ES256 sign and A256KW unwrap over HTTPS against a real `localhsm serve`,
//! set beside a floor and, optionally, another `localhsm` build, all in the same run.
//! Opt-in, because it takes the machine for a while; `tests/load/run.sh` runs it on a
//! release build. `tests/load_smoke.rs` is the short version that runs in CI.
//!
//! The floor (`floor.rs`) is the least an HTTPS server can do to answer the same sign request:
//! hyper + rustls, one serde_json parse, aws-lc-rs's raw ECDSA P-256 sign over the digest. It
//! runs in its own process, as `localhsm serve` does, and the same generator drives it with
//! the very same request from the same number of connections. Sides are driven in turn, in
//! short rounds, the order rotating from round to round, so that the machine's noise (other
//! jobs, frequency changes) falls on every side alike. The number to watch is localhsm's sign
//! requests/s as a ratio of the floor's: the median of the per-round ratios (goal: 0.8 or
//! better). Before measuring, each side's signatures are checked against its public key with
//! RustCrypto's p256.
//!
//! - `LOCALHSM_LOAD=1` (`0` or empty: off): ES256 sign, `LOCALHSM_LOAD_ROUNDS` rounds
//!   (default 3) of `LOCALHSM_LOAD_SECONDS` (default 10) per side: localhsm, the baseline if
//!   set, the floor. Then A256KW unwrap the same way (localhsm and the baseline; the floor
//!   serves sign only). Prints every run, then per side the requests/s of each round and
//!   their median, p50/p99 over all rounds, the server's CPU per request, and the ratio of
//!   every pair of sides, per round and median. Fails on any error or bad signature.
//! - `LOCALHSM_LOAD_CONNECTIONS` (default 64): concurrent connections, for every side.
//! - `LOCALHSM_BIN_BASELINE=/path/to/localhsm`: also drive this build (say, the one before a
//!   change) as a third side, to state before and after side by side.
//! - `LOCALHSM_LOAD_MIN_RATIO=0.8`: also fail when the median localhsm/floor sign ratio is
//!   below that (meaningful only on an otherwise idle machine).
//! - `LOCALHSM_LOAD_SOAK=600`: sign and unwrap together against localhsm (half the connections
//!   each) for that many seconds; fails on any error, or if the server's RSS at the end is
//!   more than 20% above its RSS after the first minute.
//! - `LOCALHSM_BIN`: the server binary (default: the one built with this test).
//! - `LOCALHSM_LOAD_CLIENT_THREADS` (default 2): worker threads of the load generator.
//! - `LOCALHSM_LOAD_POSTGRES=postgres://...` (a database for the test, created tables and
//!   all): also ES256 sign against two replicas on that database (half the connections
//!   each, at once) beside one replica on sled, and the write latency (create key, set
//!   secret; `LOCALHSM_LOAD_WRITES` sequential requests each, default 200) on both
//!   (`shared.rs`).

mod driver;
mod shared;

use std::path::Path;
use std::time::Duration;

use driver::{env_u64, Client, Histogram, Report, Server, Target};

/// One server under load, with the request it gets.
struct Side<'a> {
    label: &'static str,
    server: &'a Server,
    client: Client,
    target: Target,
}

fn side<'a>(label: &'static str, server: &'a Server, client: &Client, target: &Target) -> Side<'a> {
    Side {
        label,
        server,
        client: client.clone(),
        target: target.clone(),
    }
}

fn warn_if_debug(bin: &Path) {
    if bin.components().any(|c| c.as_os_str() == "debug") {
        println!(
            "warning: {} is a debug build; numbers will be low (use --release)",
            bin.display()
        );
    }
}

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
    warn_if_debug(&bin);
    let seconds = Duration::from_secs(env_u64("LOCALHSM_LOAD_SECONDS", 10));
    let rounds = env_u64("LOCALHSM_LOAD_ROUNDS", 3).max(1) as usize;
    let connections = env_u64("LOCALHSM_LOAD_CONNECTIONS", 64) as usize;
    let rt = driver::runtime();
    let server = Server::start(&bin);
    let client = Client::new(&server);
    let targets = rt.block_on(driver::setup(&client));
    println!(
        "localhsm load test: {} (pid {}), {} CPUs, {connections} connections",
        bin.display(),
        server.pid(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut failures = Vec::new();
    if full {
        let baseline_bin = std::env::var_os("LOCALHSM_BIN_BASELINE").map(std::path::PathBuf::from);
        let baseline = baseline_bin.as_ref().map(|b| {
            warn_if_debug(b);
            let s = Server::start(b);
            println!("baseline: {} (pid {})", b.display(), s.pid());
            s
        });
        let baseline = baseline.as_ref().map(|s| {
            let c = Client::new(s);
            let t = rt.block_on(driver::setup(&c));
            (s, c, t)
        });
        let floor = Server::start_floor();
        println!("floor: pid {}", floor.pid());
        let floor_client = Client::new(&floor);

        let floor_public = floor.floor_public_key();
        let mut checks = vec![("localhsm", &client, &targets.sign, &targets.sign_public)];
        if let Some((_, c, t)) = &baseline {
            checks.push(("baseline", c, &t.sign, &t.sign_public));
        }
        checks.push(("floor", &floor_client, &targets.sign, &floor_public));
        for (label, c, target, public) in checks {
            if let Err(e) = rt.block_on(driver::check_signatures(c, target, public, 16)) {
                failures.push(format!("{label}: ES256 sign answer: {e}"));
            }
        }

        let mut sign = vec![side("localhsm", &server, &client, &targets.sign)];
        let mut unwrap = vec![side("localhsm", &server, &client, &targets.unwrap)];
        if let Some((s, c, t)) = &baseline {
            sign.push(side("baseline", s, c, &t.sign));
            unwrap.push(side("baseline", s, c, &t.unwrap));
        }
        // The floor gets localhsm's request byte for byte; it serves any key name and version.
        sign.push(side("floor", &floor, &floor_client, &targets.sign));

        let plan = Plan {
            rounds,
            seconds,
            connections,
        };
        for (name, sides) in [("ES256 sign", &sign), ("A256KW unwrap", &unwrap)] {
            let runs = compare(&rt, name, sides, &plan, &mut failures);
            let medians = summarize(name, sides, &runs, &plan);
            if name == "ES256 sign" {
                check_min_ratio(&medians, &mut failures);
            }
        }
        if let Ok(url) = std::env::var("LOCALHSM_LOAD_POSTGRES") {
            shared::run(
                &rt,
                &bin,
                (&server, &client, &targets.sign),
                &url,
                &plan,
                &mut failures,
            );
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
        "localhsm peak RSS (VmHWM): {} MiB",
        server.memory().peak_kib / 1024
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// How long and how wide each comparison runs.
struct Plan {
    rounds: usize,
    seconds: Duration,
    connections: usize,
}

/// Drives every side for `plan.seconds` in each of `plan.rounds` rounds, starting each round
/// one side further along, and returns the reports as `runs[side][round]`.
fn compare(
    rt: &tokio::runtime::Runtime,
    name: &str,
    sides: &[Side],
    plan: &Plan,
    failures: &mut Vec<String>,
) -> Vec<Vec<Report>> {
    let mut runs: Vec<Vec<Report>> = sides.iter().map(|_| Vec::new()).collect();
    for round in 0..plan.rounds {
        for k in 0..sides.len() {
            let i = (round + k) % sides.len();
            let s = &sides[i];
            let label = format!("{name}, {}, round {}", s.label, round + 1);
            let r = rt.block_on(driver::drive(
                s.server,
                &s.client,
                &label,
                std::slice::from_ref(&s.target),
                plan.connections,
                plan.seconds,
            ));
            println!("{}", r.line());
            if r.errors > 0 || r.ok == 0 {
                failures.push(format!("{label}: {} errors, {} ok", r.errors, r.ok));
            }
            runs[i].push(r);
        }
    }
    runs
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// `12345.6` as `12,346`.
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The median ratio of one side's rate to another's, over the rounds.
struct PairMedian {
    numerator: &'static str,
    denominator: &'static str,
    ratio: f64,
}

/// Prints the side-by-side table: requests/s per round and median, latency over all rounds,
/// server CPU per request, then the ratio of every pair of sides. Returns the median ratios.
fn summarize(name: &str, sides: &[Side], runs: &[Vec<Report>], plan: &Plan) -> Vec<PairMedian> {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let rounds: String = (1..=plan.rounds)
        .map(|r| format!("{:>10}", format!("round {r}")))
        .collect();
    println!(
        "\n{name}: {} connections, {} rounds of {} s per side, order rotating",
        plan.connections,
        plan.rounds,
        plan.seconds.as_secs()
    );
    println!(
        "{:<19}{rounds}{:>10}{:>9}{:>9}{:>12}",
        "req/s", "median", "p50 ms", "p99 ms", "server CPU"
    );
    for (s, reports) in sides.iter().zip(runs) {
        let per_round: String = reports
            .iter()
            .map(|r| format!("{:>10}", thousands(r.rate())))
            .collect();
        let mut latency = Histogram::default();
        let (mut ok, mut cpu) = (0u64, Duration::ZERO);
        for r in reports {
            latency.merge(&r.latency);
            ok += r.ok;
            cpu += r.server_cpu;
        }
        let cpu_per_request = if ok > 0 && !cpu.is_zero() {
            format!("{:.0} µs/req", cpu.as_secs_f64() * 1e6 / ok as f64)
        } else {
            "-".to_string()
        };
        println!(
            "{:<19}{per_round}{:>10}{:>9.2}{:>9.2}{:>12}",
            s.label,
            thousands(median(reports.iter().map(Report::rate).collect())),
            ms(latency.percentile(50.0)),
            ms(latency.percentile(99.0)),
            cpu_per_request,
        );
    }
    let mut medians = Vec::new();
    for a in 0..sides.len() {
        for b in a + 1..sides.len() {
            let ratios: Vec<f64> = runs[a]
                .iter()
                .zip(&runs[b])
                .map(|(x, y)| x.rate() / y.rate())
                .collect();
            let per_round: String = ratios.iter().map(|q| format!("{q:>10.3}")).collect();
            let m = median(ratios);
            let label = format!("{}/{}", sides[a].label, sides[b].label);
            println!("{label:<19}{per_round}{m:>10.3}");
            medians.push(PairMedian {
                numerator: sides[a].label,
                denominator: sides[b].label,
                ratio: m,
            });
        }
    }
    println!();
    medians
}

fn check_min_ratio(medians: &[PairMedian], failures: &mut Vec<String>) {
    let Ok(min) = std::env::var("LOCALHSM_LOAD_MIN_RATIO") else {
        return;
    };
    let min: f64 = min
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("LOCALHSM_LOAD_MIN_RATIO must be a number, not {min:?}"));
    let ratio = medians
        .iter()
        .find(|m| m.numerator == "localhsm" && m.denominator == "floor")
        .map(|m| m.ratio)
        .expect("the sign comparison has localhsm and the floor");
    if ratio.is_nan() || ratio < min {
        failures.push(format!(
            "ES256 sign: localhsm/floor median ratio {ratio:.3}, below {min}"
        ));
    }
}
