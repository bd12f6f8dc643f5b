#!/usr/bin/env bash
# Python SDK compatibility suite for localhsm.
#
#   tests/sdk/python/run.sh [extra pytest args]
#
# Env:
#   LOCALHSM_BIN    server binary to test; when unset, `cargo build --release` runs in
#                   the repo root and target/release/localhsm is used
#   LOCALHSM_VENV   virtualenv location (default: tests/sdk/python/.venv)
#   PYTHON          interpreter used to create the venv (default: python3, needs >= 3.9)
#   LOCALHSM_KEEP_DATA=1   keep the server's temp data dir (path is printed)
#   LOCALHSM_SDK_REPLICAS=postgres://...   each server is two replicas on that cluster,
#                   behind a proxy that alternates them (see README.md)
#
# Exit status is non-zero if any test fails or errors, if nothing ran, or if any test
# was skipped/xfailed (CI must not go green on skips).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
VENV="${LOCALHSM_VENV:-$HERE/.venv}"
PYTHON="${PYTHON:-python3}"

export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

# --- venv + pinned requirements (reinstalled only when requirements.txt changes) ---
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating venv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
want="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
stamp="$VENV/.localhsm-requirements.sha256"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> installing $HERE/requirements.txt"
  "$VENV/bin/python" -m pip install --quiet --no-input -r "$HERE/requirements.txt"
  echo "$want" > "$stamp"
fi

# --- server binary ---
if [ -z "${LOCALHSM_BIN:-}" ]; then
  echo "==> cargo build --release"
  (cd "$REPO" && cargo build --release)
  export LOCALHSM_BIN="$REPO/target/release/localhsm"
fi
if [ ! -x "$LOCALHSM_BIN" ]; then
  echo "error: LOCALHSM_BIN=$LOCALHSM_BIN is not an executable file" >&2
  exit 1
fi
echo "==> testing $LOCALHSM_BIN"

# --- run ---
junit="$(mktemp "${TMPDIR:-/tmp}/localhsm-py-sdk-junit.XXXXXX.xml")"
trap 'rm -f "$junit"' EXIT
cd "$HERE"
set +e
"$VENV/bin/python" -m pytest -ra --junitxml="$junit" "$@"
rc=$?
set -e

# pytest already fails on failures/errors (and conftest turns skips into failures);
# double-check from the JUnit report so a skip can never slip through.
"$VENV/bin/python" - "$junit" "$rc" "$@" <<'PY'
import sys
import xml.etree.ElementTree as ET

path, rc = sys.argv[1], int(sys.argv[2])
try:
    root = ET.parse(path).getroot()
except Exception as exc:  # no report: pytest died early
    print(f"run.sh: no JUnit report ({exc}); pytest exit status {rc}")
    sys.exit(rc or 1)
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
total = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
print("run.sh: tests={tests} failures={failures} errors={errors} skipped={skipped}".format(**total))
if rc != 0:
    sys.exit(rc)
if "--collect-only" in sys.argv[3:] or "--co" in sys.argv[3:]:
    sys.exit(0)
if total["tests"] == 0:
    print("run.sh: no tests ran")
    sys.exit(1)
if total["failures"] or total["errors"] or total["skipped"]:
    print("run.sh: failing because of failures/errors/skips")
    sys.exit(1)
PY
