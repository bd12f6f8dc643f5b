//! The interleaved check. Criterion times `handle` and `raw` one after the other, seconds
//! apart; on a shared machine a build starting in between skews their ratio. This alternates
//! short batches of the two (15 rounds of about 20 ms each) and keeps each side's fastest
//! batch, so both see the same conditions and a disturbed batch does not count.
//!
//! Used by `hot_paths` (handle against raw) and `pkcs11` (the module against the handle).

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

const ROUNDS: usize = 15;
const BATCH: Duration = Duration::from_millis(20);

/// One interleaved comparison: nanoseconds per operation of each side.
struct Interleaved {
    id: String,
    a: &'static str,
    b: &'static str,
    a_ns: f64,
    b_ns: f64,
}

static INTERLEAVED: Mutex<Vec<Interleaved>> = Mutex::new(Vec::new());

/// Criterion's filter (the first argument that is not an option), a regular expression to
/// criterion. Here each of its `|`-separated alternatives is matched as a substring, so a
/// filtered run such as `'verify/RS|sign/ES256K'` checks only the pairs it benchmarks.
pub fn filter() -> Option<&'static str> {
    static FILTER: OnceLock<Option<String>> = OnceLock::new();
    const WITH_VALUE: &[&str] = &[
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--profile-time",
        "--output-format",
        "--color",
        "--format",
        "--plotting-backend",
    ];
    FILTER
        .get_or_init(|| {
            let mut args = std::env::args().skip(1);
            while let Some(arg) = args.next() {
                if WITH_VALUE.contains(&arg.as_str()) {
                    args.next();
                } else if !arg.starts_with('-') {
                    return Some(arg);
                }
            }
            None
        })
        .as_deref()
}

/// One side of a comparison: its name, and a function that runs it `n` times and returns the
/// time taken.
pub type Batch<'a> = (&'static str, &'a dyn Fn(u64) -> Duration);

/// Compares `a` with `b` in alternating batches (skipped when
/// `LOCALHSM_BENCH_NO_INTERLEAVED` is set or the filter excludes both); the result is printed
/// by [`report_interleaved`].
pub fn interleaved(id: &str, (a_name, a): Batch<'_>, (b_name, b): Batch<'_>) {
    if std::env::var_os("LOCALHSM_BENCH_NO_INTERLEAVED").is_some()
        || filter().is_some_and(|f| {
            let (a, b) = (format!("{id}/{a_name}"), format!("{id}/{b_name}"));
            !f.split('|').any(|f| a.contains(f) || b.contains(f))
        })
    {
        return;
    }
    let once = a(1).max(Duration::from_nanos(1));
    let n = (BATCH.as_nanos() / once.as_nanos()).clamp(2, 1_000_000) as u64;
    let (mut best_a, mut best_b) = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        best_a = best_a.min(a(n));
        best_b = best_b.min(b(n));
    }
    INTERLEAVED.lock().unwrap().push(Interleaved {
        id: id.to_string(),
        a: a_name,
        b: b_name,
        a_ns: best_a.as_nanos() as f64 / n as f64,
        b_ns: best_b.as_nanos() as f64 / n as f64,
    });
}

/// Prints the interleaved results and writes them next to criterion's, for `report.py`.
pub fn report_interleaved() {
    let results = INTERLEAVED.lock().unwrap();
    if results.is_empty() {
        return;
    }
    println!("\nInterleaved checks (fastest of {ROUNDS} alternating batches; ops/s ratio b/a):");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("criterion");
    let path = dir.join("interleaved.json");
    // Merged into the results of earlier runs, so a filtered run updates only its pairs.
    let mut json: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    for r in results.iter() {
        println!(
            "  {:<28} {:>16} {:>12.0}/s  {:>16} {:>12.0}/s  {:.3}",
            r.id,
            r.a,
            1e9 / r.a_ns,
            r.b,
            1e9 / r.b_ns,
            r.a_ns / r.b_ns
        );
        json.retain(|v| !(v["id"] == r.id.as_str() && v["a"] == r.a && v["b"] == r.b));
        json.push(serde_json::json!({
            "id": r.id, "a": r.a, "b": r.b, "a_ns": r.a_ns, "b_ns": r.b_ns,
        }));
    }
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        let text = serde_json::to_string_pretty(&json).map_err(std::io::Error::other)?;
        std::fs::write(&path, text)
    });
    if let Err(e) = written {
        eprintln!("could not write {}: {e}", path.display());
    }
}
