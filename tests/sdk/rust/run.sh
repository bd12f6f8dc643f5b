#!/usr/bin/env bash
# Rust SDK suite for localhsm: the crates.io azure_security_keyvault_keys and azure_identity
# crates (pinned in Cargo.toml and Cargo.lock beside this file) against a real
# `localhsm serve`, configured the way an application is: only by the environment
# `localhsm env` prints (ManagedIdentityCredential through the server's identity endpoint,
# the local CA through SSL_CERT_FILE, the vault at https://default.localhost:PORT with the
# SDK's challenge-resource check on).
#
#   tests/sdk/rust/run.sh
#
# Runs the README's code (src/bin/quickstart.rs), then the suite (src/bin/keys_suite.rs)
# with the SDK's defaults and at each older api-version, and checks that the server's
# access log names the configured identity for every call.
#
# Env:
#   LOCALHSM_BIN   server binary; when unset, `cargo build --release` runs in the repo root
#   CARGO_TARGET_DIR   where the suite builds (default: <repo>/target/sdk-rust)
#   LOCALHSM_KEEP_DATA=1   keep the server's temp data dir (path is printed)
# Exits non-zero on any failure.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
if [[ -n "${LOCALHSM_BIN:-}" && "$LOCALHSM_BIN" != /* ]]; then
  LOCALHSM_BIN="$PWD/$LOCALHSM_BIN"
fi
# Older api-versions than the crate's default (2025-07-01) that its options can name.
OLDER_API_VERSIONS=(2025-06-01 7.6 7.5 7.4 7.3 7.2 7.1 7.0)
OID="5b0d6d2e-3f4a-4c8e-9a51-7e2f0c1d4b63"
UPN="rust-sdk@contoso.localhost"

if [[ -z "${LOCALHSM_BIN:-}" ]]; then
  (cd "$REPO" && cargo build --release </dev/null)
  LOCALHSM_BIN="$REPO/target/release/localhsm"
fi
[[ -x "$LOCALHSM_BIN" ]] || { echo "run.sh: LOCALHSM_BIN=$LOCALHSM_BIN is not an executable" >&2; exit 1; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target/sdk-rust}"
echo "==> building the Rust SDK suite (--locked) into $CARGO_TARGET_DIR"
start=$SECONDS
cargo build --locked --quiet --manifest-path "$HERE/Cargo.toml" --bins </dev/null
echo "==> built in $((SECONDS - start)) s"
bins="$CARGO_TARGET_DIR/debug"

data="$(mktemp -d "${TMPDIR:-/tmp}/localhsm-rust-sdk.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [[ -n "${LOCALHSM_KEEP_DATA:-}" ]]; then echo "run.sh: data kept in $data"; else rm -rf "$data"; fi
}
trap cleanup EXIT

# Port 0: the server picks a free port and writes it to server.json, which `localhsm env` reads.
"$LOCALHSM_BIN" serve --data "$data/data" --addr 127.0.0.1:0 \
  --identity-oid "$OID" --identity-upn "$UPN" >"$data/server.log" 2>&1 </dev/null &
server_pid=$!
for _ in $(seq 1 600); do
  [[ -s "$data/data/server.json" ]] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$data/server.log" >&2; echo "run.sh: the server exited" >&2; exit 1; }
  sleep 0.1
done
[[ -s "$data/data/server.json" ]] || { cat "$data/server.log" >&2; echo "run.sh: the server did not start" >&2; exit 1; }

localhsm() { "$LOCALHSM_BIN" --data "$data/data" "$@" </dev/null; }
environment="$(localhsm env)"
eval "$environment"
host="${AZURE_KEYVAULT_URL#https://}"; host="${host%:*}"
getent hosts "$host" >/dev/null || {
  echo "run.sh: $host does not resolve; add \"127.0.0.1 $host\" to /etc/hosts (.ci/run does this)" >&2
  exit 1
}
localhsm vault update default --access-log on >/dev/null

# The application's environment: what `localhsm env` printed, PATH and HOME, nothing else.
app() {
  env -i PATH="$PATH" HOME="$data" \
    IDENTITY_ENDPOINT="$IDENTITY_ENDPOINT" IDENTITY_HEADER="$IDENTITY_HEADER" \
    AZURE_KEYVAULT_URL="$AZURE_KEYVAULT_URL" SSL_CERT_FILE="$SSL_CERT_FILE" "$@"
}

passed=0
failed=0
record() { if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "run.sh: FAILED: ${*:1:3}" >&2; fi; }

quickstart() {
  local name="quickstart-$$" out
  out="$(app "$bins/quickstart" "$name")" || { echo "$out"; return 1; }
  echo "$out"
  grep -q "^Key Name: \"$name\", Type: Some(Some(Ec))" <<<"$out" &&
    grep -qx "Retrieved: $name" <<<"$out" &&
    grep -qx "Verified: Some(true)" <<<"$out" &&
    grep -qx "Listed: $name" <<<"$out" &&
    grep -qx "Deleted: Some(\"$AZURE_KEYVAULT_URL/deletedkeys/$name\")" <<<"$out"
}
echo "==> the README's code, unchanged but for ManagedIdentityCredential"
record quickstart
echo "==> keys suite, SDK defaults"
record app "$bins/keys_suite"
for v in "${OLDER_API_VERSIONS[@]}"; do
  echo "==> keys suite, api-version $v"
  record app "$bins/keys_suite" --api-version "$v"
done

identity_in_log() {
  localhsm log export --vault default | python3 -c '
import json, sys
oid, upn = sys.argv[1], sys.argv[2]
records = [json.loads(line) for line in sys.stdin if line.strip()]
ops = {r["operationName"] for r in records}
others = [r for r in records if (r["identity"]["claim"].get("oid"), r["identity"]["claim"].get("upn")) != (oid, upn)]
need = {"KeyCreate", "KeyGet", "KeyList", "KeySign", "KeyVerify", "KeyWrap", "KeyUnwrap", "KeyDelete", "KeyRecover"}
print(f"access log: {len(records)} records, {len(others)} not naming {upn}; missing operations: {sorted(need - ops)}")
sys.exit(0 if records and not others and need <= ops else 1)
' "$OID" "$UPN"
}
echo "==> the access log names the configured identity"
record identity_in_log

echo "run.sh: $passed passed, $failed failed"
(( failed == 0 ))
