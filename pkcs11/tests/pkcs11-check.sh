#!/usr/bin/env bash
# The pkcs11-check conformance client (PyPI pkcs11-check 0.2.3, pinned with its
# dependencies in pkcs11-check/requirements.txt) against liblocalhsm_pkcs11.so: its
# hand-written suite (spec conformance, CKR_* negatives, security probes), fast profile
# (--skip-slow), on the files in pkcs11-check/selection.txt, without the downloadable
# vector corpora (they come from outside the registries CI reaches). Prints its pass/fail counts, then fails on a crash or on any
# failure not listed, with its reason, in pkcs11-check/known-failures.txt; a listed test
# that now passes is reported, so the list can shrink.
#
# Usage: pkcs11/tests/pkcs11-check.sh   (after cargo build --release -p localhsm -p localhsm-pkcs11)
#   LOCALHSM_PKCS11_MODULE  the module (default target/release/liblocalhsm_pkcs11.so)
#   LOCALHSM_BIN            the CLI (default: localhsm beside the module)
#   LOCALHSM_PKCS11_CHECK_VENV  its venv (default target/ci-venv-pkcs11-check)
#   LOCALHSM_PKCS11_CHECK_LOG   a file to keep its full output in
# pkcs11-check needs Python >= 3.12: python3.13/python3.12 on PATH, or pyenv's.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

module=$(realpath "${LOCALHSM_PKCS11_MODULE:-target/release/liblocalhsm_pkcs11.so}")
bin=$(realpath "${LOCALHSM_BIN:-$(dirname "$module")/localhsm}")
test -f "$module" || { echo "no module at $module: cargo build --release -p localhsm-pkcs11" >&2; exit 1; }
test -x "$bin" || { echo "no CLI at $bin: cargo build --release -p localhsm" >&2; exit 1; }

python=
for candidate in python3.13 python3.12 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    python=$(command -v "$candidate")
    break
  fi
done
[ -n "$python" ] || { echo "pkcs11-check needs Python >= 3.12 (python3.12 on PATH or under pyenv)" >&2; exit 1; }

venv="${LOCALHSM_PKCS11_CHECK_VENV:-$repo/target/ci-venv-pkcs11-check}"
requirements="$repo/pkcs11/tests/pkcs11-check/requirements.txt"
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/python" -m pip install -q -r "$requirements" </dev/null
  echo "$want" >"$venv/.requirements.sha256"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LOCALHSM_DATA="$work/store"
unset LOCALHSM_PKCS11_CONF LOCALHSM_MASTER_KEY
"$bin" pkcs11 init-token --vault default --so-pin so-pin-8765 --pin user-1234
export P11TEST_PIN=user-1234 P11TEST_SO_PIN=so-pin-8765

# The selection: the suite's files that exercise what the module offers (selection.txt,
# about 110 of its 290 files; the others test mechanisms the module does not claim and
# skip, or are the security probes that take minutes). One process for the whole run
# (--isolation none): the module holds the store for the process that initialized it,
# so the per-file child processes of the default isolation would be refused by each
# other. A crash ends the run without pytest's summary, and so fails it.
testcases=$("$venv/bin/python" -c 'import os, pkcs11_check; print(os.path.dirname(pkcs11_check.__file__))')/testcases
targets=()
while read -r file; do
  [ -n "$file" ] && targets+=("$testcases/$file")
done <"$repo/pkcs11/tests/pkcs11-check/selection.txt"
cd "$work"
set +e
"$venv/bin/pkcs11-check" test --module "$module" --slot 0 --skip-slow --isolation none \
  "${targets[@]}" </dev/null >"$work/run.txt" 2>&1
status=$?
set -e
[ -z "${LOCALHSM_PKCS11_CHECK_LOG:-}" ] || cp "$work/run.txt" "$LOCALHSM_PKCS11_CHECK_LOG"

# With --isolation none its JSON report is not written; pytest's own summary is read.
"$venv/bin/python" - "$work/run.txt" "$status" "$repo/pkcs11/tests/pkcs11-check/known-failures.txt" <<'PY'
import re
import sys
from pathlib import Path

run, status, known_path = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
lines = run.read_text(errors="replace").splitlines()
totals = [l for l in lines if re.match(r"^=* ?\d+ \w+.* in [\d.]+s", l.strip())]
if not totals:
    print("\n".join(lines[-40:]))
    print(f"pkcs11-check: FAIL: no summary line (a crash?), exit status {status}", file=sys.stderr)
    sys.exit(1)
print("pkcs11-check: " + totals[-1].strip("= "))
counts = {k: int(n) for n, k in re.findall(r"(\d+) (\w+)", totals[-1])}

failed = set()
for l in lines:
    m = re.match(r"^(FAILED|ERROR) (\S+)", l)
    if m:
        failed.add(m.group(2).split("/testcases/", 1)[-1])
known = {}
for l in known_path.read_text().splitlines():
    if l.strip() and not l.startswith("#"):
        nodeid, _, reason = l.partition("  # ")
        known[nodeid.strip()] = reason.strip()

new = sorted(failed - set(known))
for nodeid in sorted(set(known) - failed):
    print(f"  listed as failing, but did not fail: {nodeid}")
for nodeid in new:
    print(f"  NEW FAILURE: {nodeid}")
problems = []
if new:
    problems.append(f"{len(new)} failure(s) not in {known_path.name}")
if counts.get("error") or counts.get("errors"):
    problems.append("errors")
if counts.get("passed", 0) < 500:
    problems.append("fewer than 500 tests passed: the run did not go through")
if problems:
    print("pkcs11-check: FAIL: " + "; ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"pkcs11-check: {len(failed)} failures, each listed with its reason in {known_path.name}")
PY
