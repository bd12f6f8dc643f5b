#!/usr/bin/env bash
# The load test on a release build: ES256 sign and A256KW unwrap over HTTPS against a real
# `localhsm serve` on a temporary data directory and a free port, beside the floor (a minimal
# hyper + rustls server that parses the sign request and runs the raw aws-lc-rs primitive, in
# its own process; tests/load/floor.rs) and, if given, a baseline `localhsm` build. The sides
# take turns in short rounds, so machine noise hits all of them; the headline is localhsm's
# sign requests/s as a ratio of the floor's (median over the rounds; goal 0.8 or better).
#
#   tests/load/run.sh                          # 3 rounds x 10 s per side, 64 connections
#   LOCALHSM_LOAD_SECONDS=30 LOCALHSM_LOAD_ROUNDS=5 tests/load/run.sh
#   LOCALHSM_BIN_BASELINE=/work/baseline/target/release/localhsm tests/load/run.sh   # before/after
#   LOCALHSM_LOAD_SOAK=600 tests/load/run.sh   # also the 10-minute soak (RSS growth check)
#   LOCALHSM_LOAD=0 LOCALHSM_LOAD_SOAK=600 tests/load/run.sh   # the soak only
#
# A baseline binary is any other build of `localhsm`, e.g. of an older commit in its own
# worktree and target directory:
#   git worktree add /work/baseline <commit> && (cd /work/baseline && cargo build --release)
#
# Env (see tests/load/main.rs): LOCALHSM_LOAD_SECONDS (10, per side per round),
# LOCALHSM_LOAD_ROUNDS (3), LOCALHSM_LOAD_CONNECTIONS (64), LOCALHSM_BIN_BASELINE (unset: no
# baseline), LOCALHSM_LOAD_MIN_RATIO (unset; e.g. 0.8 fails a median localhsm/floor sign
# ratio below it), LOCALHSM_LOAD_SOAK (0: off), LOCALHSM_LOAD_CLIENT_THREADS (2),
# LOCALHSM_BIN (server binary; default: the release build of this tree).
# Prints each run (requests/s, p50 and p99 latency, errors, CPU per request, server RSS), then a
# side-by-side table per operation with the ratio of every pair of sides; fails on any error
# or a signature that does not verify. Run it on a machine as idle as you can get, and note
# `uptime`'s load average with the numbers.
set -euo pipefail
cd "$(dirname "$0")/../.."
export LOCALHSM_LOAD="${LOCALHSM_LOAD:-1}"
uptime
cargo test --release --test load -- --nocapture --test-threads=1
uptime
