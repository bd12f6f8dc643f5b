#!/usr/bin/env bash
# JavaScript SDK compatibility suite for localhsm.
#   tests/sdk/js/run.sh            # builds target/release/localhsm, then tests it
#   LOCALHSM_BIN=/path/to/localhsm tests/sdk/js/run.sh
# Exits non-zero if any test fails, if no test ran, or if any test was skipped/todo.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../../.." && pwd)"
if [[ -n "${LOCALHSM_BIN:-}" && "$LOCALHSM_BIN" != /* ]]; then
  LOCALHSM_BIN="$PWD/$LOCALHSM_BIN"   # relative to the caller's directory, not ours
fi
cd "$HERE"

export CI=true
npm ci --no-audit --no-fund </dev/null

if [[ -z "${LOCALHSM_BIN:-}" ]]; then
  (cd "$REPO_ROOT" && cargo build --release </dev/null)
  export LOCALHSM_BIN="$REPO_ROOT/target/release/localhsm"
fi
[[ -x "$LOCALHSM_BIN" ]] || { echo "run.sh: LOCALHSM_BIN=$LOCALHSM_BIN is not an executable" >&2; exit 1; }
echo "run.sh: testing $LOCALHSM_BIN with node $(node --version)"

shopt -s nullglob
tests=(./*.test.mjs)
(( ${#tests[@]} > 0 )) || { echo "run.sh: no *.test.mjs files found" >&2; exit 1; }

# TAP goes to a file (and to the terminal) so the summary counters can be checked.
tap="$(mktemp)"
trap 'rm -f "$tap"' EXIT
set +e
node --test --test-reporter=tap "${tests[@]}" </dev/null | tee "$tap"
status=${PIPESTATUS[0]}
set -e

count() { sed -n "s/^# $1 \([0-9][0-9]*\)$/\1/p" "$tap" | tail -n 1; }
total="$(count tests)"; pass="$(count pass)"; fail="$(count fail)"
skipped="$(count skipped)"; todo="$(count todo)"; cancelled="$(count cancelled)"
echo "run.sh: tests=${total:-?} pass=${pass:-?} fail=${fail:-?} skipped=${skipped:-?} todo=${todo:-?} cancelled=${cancelled:-?} (node exit $status)"

if (( status != 0 )); then
  echo "run.sh: FAILED (node --test exited $status)" >&2; exit "$status"
fi
if [[ -z "$total" || -z "$pass" ]]; then
  echo "run.sh: FAILED: could not read the test summary" >&2; exit 1
fi
if (( total == 0 || pass == 0 )); then
  echo "run.sh: FAILED: no tests ran" >&2; exit 1
fi
# node reports a test file that registered no tests as one passing "test" named after the file.
if grep -Eq '^(not )?ok [0-9]+ - .*\.test\.mjs$' "$tap"; then
  echo "run.sh: FAILED: a test file ran no tests:" >&2
  grep -E '^(not )?ok [0-9]+ - .*\.test\.mjs$' "$tap" >&2; exit 1
fi
if (( ${fail:-0} + ${skipped:-0} + ${todo:-0} + ${cancelled:-0} != 0 || pass != total )); then
  echo "run.sh: FAILED: every test must run and pass (none skipped, todo or cancelled)" >&2; exit 1
fi
echo "run.sh: OK"
