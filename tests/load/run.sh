#!/usr/bin/env bash
# The load test on a release build: ES256 sign and A256KW unwrap over HTTPS against a real
# `localhsm serve` on a temporary data directory and a free port.
#
#   tests/load/run.sh                       # 30 s each at 64 connections
#   LOCALHSM_LOAD_SECONDS=10 tests/load/run.sh
#   LOCALHSM_LOAD_SOAK=600 tests/load/run.sh   # also the 10-minute soak (RSS growth check)
#   LOCALHSM_LOAD=0 LOCALHSM_LOAD_SOAK=600 tests/load/run.sh   # the soak only
#
# Env (see tests/load/main.rs): LOCALHSM_LOAD_SECONDS (30), LOCALHSM_LOAD_CONNECTIONS (64),
# LOCALHSM_LOAD_SOAK (0: off), LOCALHSM_LOAD_CLIENT_THREADS (2),
# LOCALHSM_LOAD_ASSERT_TARGETS=1 (fail under 20,000 req/s or p99 >= 10 ms for ES256 sign),
# LOCALHSM_BIN (server binary; default: the release build of this tree).
# Prints requests/s, p50 and p99 latency, errors and the server's RSS; fails on any error.
set -euo pipefail
cd "$(dirname "$0")/../.."
export LOCALHSM_LOAD="${LOCALHSM_LOAD:-1}"
cargo test --release --test load -- --nocapture --test-threads=1
