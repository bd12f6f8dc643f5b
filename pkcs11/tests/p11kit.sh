#!/usr/bin/env bash
# A p11-kit module file for liblocalhsm_pkcs11.so (Debian p11-kit): with
# ~/.config/pkcs11/modules/localhsm.module in place, `p11-kit list-modules` shows the module
# and its token, and GnuTLS and OpenSC reach it through p11-kit (p11tool with no
# --provider, pkcs11-tool on p11-kit-proxy.so), signing with a key in the token.
#
# p11-kit skips a user's module files in a program running as root (CI runs as root), so
# the p11-kit steps run as the unprivileged user nobody, with a HOME of their own.
#
# Usage: pkcs11/tests/p11kit.sh   (after cargo build --release -p localhsm -p localhsm-pkcs11)
#   LOCALHSM_PKCS11_MODULE  the module (default target/release/liblocalhsm_pkcs11.so)
#   LOCALHSM_BIN            the CLI (default: localhsm beside the module)
# Installs p11-kit, gnutls-bin and OpenSC from Debian when missing. Fails on any unexpected result.
set -euo pipefail
cd "$(dirname "$0")/../.."

module=$(realpath "${LOCALHSM_PKCS11_MODULE:-target/release/liblocalhsm_pkcs11.so}")
bin=$(realpath "${LOCALHSM_BIN:-$(dirname "$module")/localhsm}")
test -f "$module" || { echo "no module at $module: cargo build --release -p localhsm-pkcs11" >&2; exit 1; }
test -x "$bin" || { echo "no CLI at $bin: cargo build --release -p localhsm" >&2; exit 1; }

if ! command -v p11-kit >/dev/null || ! command -v p11tool >/dev/null || ! command -v pkcs11-tool >/dev/null; then
  echo "installing p11-kit, gnutls-bin and opensc"
  { apt-get install -y -qq p11-kit gnutls-bin opensc ||
    { apt-get update -qq && apt-get install -y -qq p11-kit gnutls-bin opensc; }; } </dev/null >/dev/null
fi
proxy=$(find /usr/lib -name p11-kit-proxy.so -print -quit)
[ -n "$proxy" ] || { echo "no p11-kit-proxy.so" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "p11kit.sh runs as root (as CI does), to run p11-kit as nobody" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LOCALHSM_DATA="$work/store"
unset LOCALHSM_PKCS11_CONF LOCALHSM_MASTER_KEY
pin=user-1234

step() { printf -- '--- %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# A copy nobody can read wherever the checkout is (a home directory may be closed to others).
chmod 755 "$work"
install -m 755 "$module" "$work/liblocalhsm_pkcs11.so"
module="$work/liblocalhsm_pkcs11.so"

step "a token and a key (as root), then the store handed to nobody"
"$bin" pkcs11 init-token --vault default --so-pin so-pin-8765 --pin "$pin"
pkcs11-tool --module "$module" --login --pin "$pin" --keypairgen --key-type EC:prime256v1 \
  --label kit-ec --id 51 >/dev/null 2>&1
mkdir -p "$work/home/.config/pkcs11/modules"
# The module file, as a user writes it.
printf 'module: %s\n' "$module" >"$work/home/.config/pkcs11/modules/localhsm.module"
chown -R 65534:65534 "$work/store" "$work/home"
as_nobody() {
  setpriv --reuid=65534 --regid=65534 --clear-groups \
    env -i PATH="$PATH" HOME="$work/home" LOCALHSM_DATA="$LOCALHSM_DATA" GNUTLS_PIN="$pin" "$@"
}

step "p11-kit list-modules"
as_nobody p11-kit list-modules >"$work/modules.txt" 2>&1 || true
sed -n '/^localhsm: /,/^[^ ]/p' "$work/modules.txt" | tee "$work/localhsm.txt"
grep -q "^localhsm: $module\$" "$work/localhsm.txt" || { cat "$work/modules.txt"; fail "the module is not listed"; }
grep -q 'library-manufacturer: localhsm' "$work/localhsm.txt" || fail "no manufacturer"
grep -q 'token: default$' "$work/localhsm.txt" || fail "token default not listed"
grep -q 'token-initialized' "$work/localhsm.txt" || fail "token not initialized"

step "GnuTLS through p11-kit (no --provider): list and test-sign"
as_nobody p11tool --list-tokens >"$work/tokens.txt" 2>&1 || true
grep -q "Module: $module" "$work/tokens.txt" || { cat "$work/tokens.txt"; fail "p11tool did not load the module"; }
as_nobody p11tool --login --test-sign 'pkcs11:token=default;object=kit-ec;type=private' >"$work/sign.txt" 2>&1 ||
  { cat "$work/sign.txt"; fail "p11tool --test-sign through p11-kit"; }
[ "$(grep -c '\.\.\. ok$' "$work/sign.txt")" -eq 3 ] || { cat "$work/sign.txt"; fail "--test-sign through p11-kit"; }
cat "$work/sign.txt"

step "OpenSC through p11-kit-proxy.so"
as_nobody pkcs11-tool --module "$proxy" --token-label default --list-objects --type pubkey >"$work/proxy.txt" 2>&1 ||
  { cat "$work/proxy.txt"; fail "pkcs11-tool on the proxy"; }
grep -q 'label: *kit-ec$' "$work/proxy.txt" || { cat "$work/proxy.txt"; fail "kit-ec not listed through the proxy"; }

echo "p11-kit: all passed"
