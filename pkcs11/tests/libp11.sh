#!/usr/bin/env bash
# OpenSSL 3 through libp11's engine (Debian libengine-pkcs11-openssl) on liblocalhsm_pkcs11.so:
# keys addressed by PKCS#11 URIs sign certificate requests, files and digests, for EC P-256
# and RSA-2048 keys made by the Azure SDK and by PKCS#11. OpenSSL verifies every result
# with the public key the Azure SDK exports, and the server (through the SDK) verifies
# PKCS#11's signatures while the engine verifies the server's.
#
# The module here opens the store in its own process (tools.sh covers it going through a
# running server), so the faces take turns on one data directory and one
# LOCALHSM_MASTER_KEY: `localhsm serve` with the SDK (sdk_keys.py), then OpenSSL with the
# module, then the SDK again.
#
# Usage: pkcs11/tests/libp11.sh   (after cargo build --release -p localhsm -p localhsm-pkcs11)
#   LOCALHSM_PKCS11_MODULE  the module (default target/release/liblocalhsm_pkcs11.so)
#   LOCALHSM_BIN            the CLI (default: localhsm beside the module)
#   LOCALHSM_PKCS11_VENV    the Python venv (default target/ci-venv-pkcs11; see python/venv.sh)
# Installs the engine and OpenSC from Debian when missing. Fails on any unexpected result.
set -euo pipefail
cd "$(dirname "$0")/../.."

module=$(realpath "${LOCALHSM_PKCS11_MODULE:-target/release/liblocalhsm_pkcs11.so}")
export LOCALHSM_BIN
LOCALHSM_BIN=$(realpath "${LOCALHSM_BIN:-$(dirname "$module")/localhsm}")
bin=$LOCALHSM_BIN
test -f "$module" || { echo "no module at $module: cargo build --release -p localhsm-pkcs11" >&2; exit 1; }
test -x "$bin" || { echo "no CLI at $bin: cargo build --release -p localhsm" >&2; exit 1; }

engines=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')
if [ ! -f "$engines/pkcs11.so" ] || ! command -v pkcs11-tool >/dev/null; then
  echo "installing libengine-pkcs11-openssl and opensc"
  { apt-get install -y -qq libengine-pkcs11-openssl opensc ||
    { apt-get update -qq && apt-get install -y -qq libengine-pkcs11-openssl opensc; }; } </dev/null >/dev/null
fi
python=$(bash pkcs11/tests/python/venv.sh)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LOCALHSM_DATA="$work/store"
LOCALHSM_MASTER_KEY=$(openssl rand -hex 32)
export LOCALHSM_MASTER_KEY
unset LOCALHSM_PKCS11_CONF
# libp11 loads this module (without it, p11-kit's proxy).
export PKCS11_MODULE_PATH="$module"
pin=user-1234

step() { printf -- '--- %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
sdk() { "$python" pkcs11/tests/python/sdk_keys.py "$LOCALHSM_DATA" "$@"; }
uri() { echo "pkcs11:token=default;object=$1;type=$2"; }
eng=(-engine pkcs11 -keyform engine)

step "the Azure SDK makes an EC P-256 and an RSA-2048 key (server running)"
sdk create-ec:sdk-ec create-rsa:sdk-rsa export:sdk-ec:"$work/sdk-ec.pem" export:sdk-rsa:"$work/sdk-rsa.pem"

step "PKCS#11 makes an EC P-256 and an RSA-2048 key (server stopped, module in process)"
"$bin" pkcs11 init-token --vault default --so-pin so-pin-8765 --pin "$pin"
pkcs11-tool --module "$module" --login --pin "$pin" --keypairgen --key-type EC:prime256v1 \
  --label p11-ec --id 31 >/dev/null
pkcs11-tool --module "$module" --login --pin "$pin" --keypairgen --key-type rsa:2048 \
  --label p11-rsa --id 32 >/dev/null

echo "a file signed through libp11" >"$work/msg"
step "OpenSSL signs through the engine: CSRs, files (dgst) and digests (pkeyutl)"
for key in sdk-ec sdk-rsa p11-ec p11-rsa; do
  key_uri="$(uri "$key" private)"
  # The PIN through -passin: CI has no terminal to ask on.
  openssl req -new "${eng[@]}" -key "$key_uri" -passin "pass:$pin" -subj "/CN=$key.example.test/O=localhsm" \
    -sha256 -out "$work/$key.csr" 2>"$work/$key.err" || { cat "$work/$key.err"; fail "req -new with $key"; }
  openssl dgst -sha256 -sign "$key_uri" "${eng[@]}" -passin "pass:$pin" -out "$work/$key.sig" "$work/msg" \
    2>"$work/$key.err" || { cat "$work/$key.err"; fail "dgst -sign with $key"; }
  openssl dgst -sha256 -binary -out "$work/msg.sha256" "$work/msg"
  opts=()
  case $key in *rsa) opts=(-pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 -pkeyopt digest:sha256) ;;
    *) opts=(-pkeyopt digest:sha256) ;; esac
  openssl pkeyutl -sign "${eng[@]}" -inkey "$key_uri" -passin "pass:$pin" "${opts[@]}" \
    -in "$work/msg.sha256" -out "$work/$key.pkeyutl.sig" 2>"$work/$key.err" ||
    { cat "$work/$key.err"; fail "pkeyutl -sign with $key"; }
  echo "  $key: CSR, dgst and pkeyutl signatures made"
done

step "the SDK exports the PKCS#11 keys' public keys, the server verifies and signs (server running)"
sdk export:p11-ec:"$work/p11-ec.pem" export:p11-rsa:"$work/p11-rsa.pem" \
  verify:p11-ec:ES256:"$work/msg":"$work/p11-ec.sig" verify:p11-rsa:RS256:"$work/msg":"$work/p11-rsa.sig" \
  verify:sdk-ec:ES256:"$work/msg":"$work/sdk-ec.sig" verify:sdk-rsa:RS256:"$work/msg":"$work/sdk-rsa.sig" \
  sign:p11-ec:ES256:"$work/msg":"$work/p11-ec.server.sig" sign:sdk-rsa:PS256:"$work/msg":"$work/sdk-rsa.server.sig"

step "OpenSSL verifies with the SDK's public keys"
for key in sdk-ec sdk-rsa p11-ec p11-rsa; do
  pem="$work/$key.pem"
  openssl req -in "$work/$key.csr" -verify -noout 2>&1 | grep -q 'verify OK' || fail "$key: CSR self-signature"
  openssl req -in "$work/$key.csr" -noout -subject | grep -q "CN *= *$key.example.test" || fail "$key: CSR subject"
  # The CSR carries the token key: its public key is the one the SDK exported.
  openssl req -in "$work/$key.csr" -noout -pubkey | cmp -s - "$pem" || fail "$key: the CSR's public key is not the SDK's"
  openssl dgst -sha256 -verify "$pem" -signature "$work/$key.sig" "$work/msg" >/dev/null ||
    fail "$key: dgst signature"
  case $key in
    *rsa) openssl pkeyutl -verify -pubin -inkey "$pem" -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 \
            -pkeyopt digest:sha256 -in "$work/msg.sha256" -sigfile "$work/$key.pkeyutl.sig" >/dev/null ;;
    *) openssl pkeyutl -verify -pubin -inkey "$pem" -in "$work/msg.sha256" -sigfile "$work/$key.pkeyutl.sig" >/dev/null ;;
  esac || fail "$key: pkeyutl signature"
  echo "  $key: CSR (self-signature, subject, public key), dgst and pkeyutl (PSS for RSA) verify"
done
# A changed file does not verify.
cp "$work/msg" "$work/msg.changed" && echo changed >>"$work/msg.changed"
if openssl dgst -sha256 -verify "$work/p11-ec.pem" -signature "$work/p11-ec.sig" "$work/msg.changed" >/dev/null 2>&1; then
  fail "a changed file verified"
fi

step "the engine verifies the server's signatures with the token's public keys (server stopped)"
openssl dgst -sha256 -verify "$(uri p11-ec public)" "${eng[@]}" -signature "$work/p11-ec.server.sig" "$work/msg" \
  2>/dev/null | grep -q 'Verified OK' || fail "the server's ES256 signature, verified through the engine"
openssl dgst -sha256 -verify "$(uri sdk-rsa public)" "${eng[@]}" -sigopt rsa_padding_mode:pss \
  -sigopt rsa_pss_saltlen:32 -signature "$work/sdk-rsa.server.sig" "$work/msg" 2>/dev/null |
  grep -q 'Verified OK' || fail "the server's PS256 signature, verified through the engine"
if openssl dgst -sha256 -verify "$(uri p11-ec public)" "${eng[@]}" -signature "$work/p11-ec.server.sig" \
    "$work/msg.changed" 2>/dev/null | grep -q 'Verified OK'; then
  fail "the engine verified a changed file"
fi

echo "libp11 engine: all passed"
