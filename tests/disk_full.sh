#!/usr/bin/env bash
# A full disk, for real: `localhsm serve` on a small tmpfs that a filler file fills up.
# While it is full: writes get 507 InsufficientStorage with a sentence (REST and CLI), signs
# and reads of existing keys work. Once the filler is gone: writes work without a restart.
# After a restart: every key acknowledged before and during the full period is there, and no
# refused one.
#
# Twice: with the default free-space reserve (writes are refused before sled sees them), and
# with LOCALHSM_DISK_RESERVE_MIB=0 (sled itself runs out of space mid-write and latches the
# error; the backend reopens the database once there is room, dropping what sled could not
# write, which it had already answered with the error).
#
# Needs root (to mount the tmpfs), curl and python3; fails, never skips, when it cannot
# mount. Usage: bash tests/disk_full.sh (LOCALHSM_BIN, default target/release/localhsm).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "disk_full.sh: FAIL: $*" >&2
  exit 1
}

bin="${LOCALHSM_BIN:-$PWD/target/release/localhsm}"
[ -x "$bin" ] || fail "no localhsm binary at $bin (cargo build --release, or set LOCALHSM_BIN)"
command -v curl >/dev/null || fail "curl is needed"
command -v python3 >/dev/null || fail "python3 is needed"
[ "$(id -u)" = 0 ] || fail "needs root to mount a tmpfs (CI runs as root)"

work="$(mktemp -d)"
mnt="$work/fs"
mkdir -p "$mnt"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  umount "$mnt" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mount -t tmpfs -o size=48m,mode=0700 tmpfs "$mnt" || fail "cannot mount a tmpfs on $mnt"

export LOCALHSM_MASTER_KEY
LOCALHSM_MASTER_KEY="$(printf '5a%.0s' $(seq 32))"
unset LOCALHSM_DATA LOCALHSM_VAULT LOCALHSM_TOKEN LOCALHSM_LOG RUST_LOG

data="" port="" log=""

start() {
  log="$work/server.$(date +%s%N).log"
  "$bin" serve --data "$data" --addr 127.0.0.1:0 >"$log" 2>&1 </dev/null &
  server_pid=$!
  for _ in $(seq 300); do
    port="$(sed -n 's|^localhsm listening on https://127.0.0.1:\([0-9]*\).*|\1|p' "$log")"
    [ -n "$port" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; fail "the server exited at start"; }
    sleep 0.1
  done
  fail "the server did not start"
}

stop() {
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  server_pid=""
}

# call METHOD PATH [JSON]: prints the status line "NNN" then the body.
call() {
  local body=(-H 'content-type: application/json')
  [ $# -ge 3 ] && body+=(--data "$3")
  curl -sS --cacert "$data/tls/cert.pem" --resolve "localhost:$port:127.0.0.1" \
    -X "$1" -H 'authorization: Bearer x' "${body[@]}" \
    -w '\n%{http_code}' "https://localhost:$port$2?api-version=7.5"
}

# expect STATUS METHOD PATH [JSON]: the call answers STATUS; its body goes to $work/body.
expect() {
  local want="$1"
  shift
  local out
  out="$(call "$@")"
  printf '%s' "${out%$'\n'*}" >"$work/body"
  [ "${out##*$'\n'}" = "$want" ] || fail "$1 $2 answered ${out##*$'\n'}, not $want: $(cat "$work/body")"
}

# The body in $work/body is a 507 in Key Vault's error shape that says the disk is full, in
# words.
check_disk_full_body() {
  python3 - "$work/body" "$data" <<'EOF'
import json, sys
body = json.load(open(sys.argv[1]))
assert list(body) == ["error"], body
error = body["error"]
assert error["code"] == "InsufficientStorage", error
message = error["message"]
assert message.startswith(f"the disk holding the data directory {sys.argv[2]} is full"), message
assert "without a restart" in message, message
for debug in ("Os {", "StorageFull", "kind:", "code: 28", "Io("):
    assert debug not in message, message
EOF
}

fill() {
  dd if=/dev/zero of="$mnt/filler" bs=1M status=none 2>/dev/null || true
  # Whatever a 1 MiB block could not take.
  dd if=/dev/zero of="$mnt/filler2" bs=4k status=none 2>/dev/null || true
  local free
  free="$(df --output=avail -B1 "$mnt" | tail -1 | tr -d ' ')"
  [ "$free" -lt 65536 ] || fail "the filler left $free bytes free"
}

ec='{"kty":"EC-HSM","crv":"P-256","tags":{"kept":"yes"}}'
digest='{"alg":"ES256","value":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"}'

sign_and_read() {
  for k in "$@"; do
    expect 200 POST "/keys/$k//sign" "$digest"
    expect 200 GET "/keys/$k"
    grep -q '"kept":"yes"' "$work/body" || fail "key $k lost its tags: $(cat "$work/body")"
  done
}

# The keys in $1 are there, those in $2 are not.
check_keys() {
  local k
  for k in $1; do expect 200 GET "/keys/$k"; done
  for k in $2; do expect 404 GET "/keys/$k"; done
}

scenario() {
  local mode="$1"
  echo "--- $mode"
  data="$mnt/data-$mode"
  local acked="" refused=""
  start
  for k in k1 k2 k3; do
    expect 200 POST "/keys/$k/create" "$ec"
    acked+=" $k"
  done
  # Every call now also writes an access-log record: a sign must not need it.
  "$bin" vault update default --access-log on --data "$data" >/dev/null
  sign_and_read $acked

  fill
  if [ "$mode" = reserve ]; then
    for k in full1 full2; do
      expect 507 POST "/keys/$k/create" "$ec"
      check_disk_full_body
      refused+=" $k"
    done
  else
    # With no reserve, sled may still have room in blocks it allocated before the disk
    # filled: a create it flushes there is durable and acknowledged, and is checked as such
    # below. Create until the engine itself runs out; then every write is refused.
    local n=0 got=""
    while [ "$n" -lt 400 ]; do
      n=$((n + 1))
      local out
      out="$(call POST "/keys/full$n/create" "$ec")"
      printf '%s' "${out%$'\n'*}" >"$work/body"
      got="${out##*$'\n'}"
      case "$got" in
        200) acked+=" full$n" ;;
        507) check_disk_full_body; refused+=" full$n"; break ;;
        *) fail "POST /keys/full$n/create answered $got: $(cat "$work/body")" ;;
      esac
    done
    [ "$got" = 507 ] || fail "400 creates on a full disk and the engine never ran out"
    n=$((n + 1))
    expect 507 POST "/keys/full$n/create" "$ec"
    check_disk_full_body
    refused+=" full$n"
  fi
  expect 507 PATCH /keys/k1 '{"tags":{"changed":"no"}}'
  check_disk_full_body
  expect 507 DELETE /keys/k2
  check_disk_full_body
  # The CLI says it in words too, with what to do.
  if "$bin" key create full3 --kty EC --data "$data" >"$work/cli.out" 2>"$work/cli.err"; then
    fail "key create succeeded on a full disk"
  fi
  refused+=" full3"
  grep -q '^error: the disk holding the data directory .* is full' "$work/cli.err" ||
    fail "CLI error: $(cat "$work/cli.err")"
  grep -q '^hint: .*df -h' "$work/cli.err" || fail "CLI hint: $(cat "$work/cli.err")"
  # Signs and reads go on, again and again.
  for _ in 1 2 3; do sign_and_read $acked; done
  expect 200 GET /keys
  if [ "$mode" = reserve ]; then
    check_keys "$acked" "$refused"
  else
    # sled took the refused changes into its cache before it failed to write them: they
    # can be read until the database is opened again, once there is room.
    check_keys "$acked" ""
  fi

  # Space returns: writes go on without a restart.
  rm -f "$mnt/filler" "$mnt/filler2"
  expect 200 POST /keys/after/create "$ec"
  acked+=" after"
  expect 200 PATCH /keys/k1 '{"tags":{"kept":"yes","changed":"later"}}'
  sign_and_read $acked
  check_keys "$acked" "$refused"

  # Nothing in the server's log is Rust Debug text, nor a panic.
  if grep -E 'Os \{|StorageFull|kind: |panicked' "$log"; then
    fail "the server's log (above) holds Debug text or a panic"
  fi
  stop

  # After a restart: every acknowledged key, no refused one.
  start
  sign_and_read $acked
  check_keys "$acked" "$refused"
  expect 200 POST /keys/after-restart/create "$ec"
  stop
}

scenario reserve
export LOCALHSM_DISK_RESERVE_MIB=0
scenario engine
echo "disk_full.sh: passed"
