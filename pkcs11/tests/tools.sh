#!/usr/bin/env bash
# liblocalhsm_pkcs11.so under tools written elsewhere: OpenSC's pkcs11-tool (listing, key
# generation, sign and verify, decrypt, destroy, its --test suite, threads and fork,
# certificates and secrets) and OpenSSL, which verifies signatures and encrypts with the
# public keys pkcs11-tool exports, and reads the certificates it reads out.
# Keys cross faces: a key the CLI creates signs through PKCS#11, and the CLI verifies it;
# with `localhsm serve` holding the store, pkcs11-tool works through the server (an EC key
# signs, an AES key encrypts, and the CLI verifies and decrypts through the same server).
#
# Usage: pkcs11/tests/tools.sh   (after cargo build --release -p localhsm -p localhsm-pkcs11)
#   LOCALHSM_PKCS11_MODULE  the module (default target/release/liblocalhsm_pkcs11.so)
#   LOCALHSM_BIN            the CLI (default: localhsm beside the module, as one
#                           target directory builds both)
# Installs OpenSC from Debian when pkcs11-tool is missing. Fails on any unexpected result.
set -euo pipefail
cd "$(dirname "$0")/../.."

module=$(realpath "${LOCALHSM_PKCS11_MODULE:-target/release/liblocalhsm_pkcs11.so}")
bin=$(realpath "${LOCALHSM_BIN:-$(dirname "$module")/localhsm}")
test -f "$module" || { echo "no module at $module: cargo build --release -p localhsm-pkcs11" >&2; exit 1; }
test -x "$bin" || { echo "no CLI at $bin: cargo build --release -p localhsm" >&2; exit 1; }

if ! command -v pkcs11-tool >/dev/null; then
  echo "installing opensc (pkcs11-tool)"
  { apt-get install -y -qq opensc || { apt-get update -qq && apt-get install -y -qq opensc; }; } \
    </dev/null >/dev/null
fi
command -v openssl >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LOCALHSM_DATA="$work/store"
unset LOCALHSM_PKCS11_CONF LOCALHSM_MASTER_KEY
so_pin=so-pin-8765
pin=user-1234

step() { printf -- '--- %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
p11() { pkcs11-tool --module "$module" "$@" 2>&1; }
user() { p11 --login --pin "$pin" "$@"; }
export module pin
export -f p11 user

step "init-token (CLI) and the token as pkcs11-tool sees it"
"$bin" pkcs11 init-token --vault default --so-pin "$so_pin" --pin "$pin"
p11 --list-slots | tee "$work/slots.txt"
grep -q 'token label *: default' "$work/slots.txt" || fail "no token labelled default"
grep -q 'token initialized, PIN initialized' "$work/slots.txt" || fail "token not initialized"
p11 --list-mechanisms | grep -q 'ECDSA-SHA256' || fail "ECDSA-SHA256 not listed"

step "C_InitPIN and C_SetPIN through pkcs11-tool"
p11 --login --login-type so --so-pin "$so_pin" --init-pin --new-pin "temp-pin-1"
p11 --login --pin "temp-pin-1" --change-pin --new-pin "$pin"
if p11 --login --pin "temp-pin-1" --list-objects >/dev/null; then fail "the old PIN still logs in"; fi

step "key generation: EC P-256, P-384, secp256k1, RSA 2048, AES-256"
user --keypairgen --key-type EC:prime256v1 --label ec-p256 --id 01
user --keypairgen --key-type EC:secp384r1 --label ec-p384 --id 02
user --keypairgen --key-type EC:secp256k1 --label ec-k256 --id 03
user --keypairgen --key-type rsa:2048 --label rsa-2048 --id 10
user --keygen --key-type AES:32 --sensitive --label aes-256 --id 20
user --list-objects | tee "$work/objects.txt"
for label in ec-p256 ec-p384 ec-k256 rsa-2048 aes-256; do
  grep -q "label: *$label\$" "$work/objects.txt" || fail "$label not listed"
done
# Without login only public objects show.
p11 --list-objects >"$work/public.txt"
if grep -q 'Private Key Object' "$work/public.txt"; then fail "private objects visible without login"; fi

echo "data signed through PKCS#11" >"$work/msg"
step "sign with pkcs11-tool, verify with pkcs11-tool and with OpenSSL"
export_pub() { # id -> PEM, through pkcs11-tool's --read-object
  p11 --read-object --type pubkey --id "$1" -o "$work/$1.der" >/dev/null
  openssl pkey -pubin -inform DER -in "$work/$1.der" -out "$work/$1.pem"
}
# OpenSC 0.23's --read-object cannot build a P-384 EVP_PKEY ("cannot create EVP_PKEY"),
# so for P-384 the SubjectPublicKeyInfo is put together from the CKA_EC_POINT that
# pkcs11-tool lists: the fixed RFC 5480 header for id-ecPublicKey on secp384r1, then the
# point (the listed value is DER: 04 61, then 04 || X || Y).
export_p384() { # id label -> PEM
  local point
  point=$(p11 --list-objects --type pubkey |
    awk -v l="$2" '/EC_POINT:/ {p=$2} $1 == "label:" && $2 == l {print p}')
  [ "${#point}" -eq 198 ] || fail "no P-384 point listed for $2"
  perl -e 'print pack("H*", $ARGV[0])' "3076301006072a8648ce3d020106052b81040022036200${point:4}" \
    >"$work/$1.der"
  openssl pkey -pubin -inform DER -in "$work/$1.der" -out "$work/$1.pem"
}
for spec in 01:ECDSA-SHA256:sha256:ec-p256 02:ECDSA-SHA384:sha384:ec-p384 \
    03:ECDSA-SHA256:sha256:ec-k256; do
  IFS=: read -r id mech md label <<<"$spec"
  user --sign --id "$id" -m "$mech" -i "$work/msg" -o "$work/$id.sig" >/dev/null
  p11 --verify --id "$id" -m "$mech" -i "$work/msg" --signature-file "$work/$id.sig" | grep -q 'Signature is valid'
  user --sign --id "$id" -m "$mech" --signature-format openssl -i "$work/msg" -o "$work/$id.der.sig" >/dev/null
  if [ "$label" = ec-p384 ]; then export_p384 "$id" "$label"; else export_pub "$id"; fi
  openssl dgst "-$md" -verify "$work/$id.pem" -signature "$work/$id.der.sig" "$work/msg"
  echo "  $mech (key $id): pkcs11-tool and OpenSSL verify"
done
# CKM_ECDSA over a digest computed outside, as Key Vault signs.
openssl dgst -sha256 -binary "$work/msg" >"$work/digest"
user --sign --id 01 -m ECDSA --signature-format openssl -i "$work/digest" -o "$work/raw.sig" >/dev/null
openssl pkeyutl -verify -pubin -inkey "$work/01.pem" -in "$work/digest" -sigfile "$work/raw.sig"
export_pub 10
user --sign --id 10 -m SHA256-RSA-PKCS -i "$work/msg" -o "$work/rsa.sig" >/dev/null
openssl dgst -sha256 -verify "$work/10.pem" -signature "$work/rsa.sig" "$work/msg"
user --sign --id 10 -m SHA256-RSA-PKCS-PSS --mgf MGF1-SHA256 --salt-len 32 -i "$work/msg" -o "$work/pss.sig" >/dev/null
openssl dgst -sha256 -verify "$work/10.pem" -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
  -signature "$work/pss.sig" "$work/msg"
p11 --verify --id 10 -m SHA256-RSA-PKCS-PSS --mgf MGF1-SHA256 --salt-len 32 -i "$work/msg" \
  --signature-file "$work/pss.sig" | grep -q 'Signature is valid'
# A changed message does not verify.
echo tampered >>"$work/msg"
if openssl dgst -sha256 -verify "$work/10.pem" -signature "$work/rsa.sig" "$work/msg" >/dev/null 2>&1; then
  fail "a tampered message verified"
fi
if p11 --verify --id 10 -m SHA256-RSA-PKCS -i "$work/msg" --signature-file "$work/rsa.sig" | grep -q 'Signature is valid'; then
  fail "pkcs11-tool accepted a tampered message"
fi

step "OpenSSL encrypts with RSA-OAEP (SHA-256), the token decrypts"
printf 'for the token only' >"$work/secret"
openssl pkeyutl -encrypt -pubin -inkey "$work/10.pem" -pkeyopt rsa_padding_mode:oaep \
  -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in "$work/secret" -out "$work/secret.enc"
user --decrypt --id 10 -m RSA-PKCS-OAEP --hash-algorithm SHA256 --mgf MGF1-SHA256 \
  -i "$work/secret.enc" -o "$work/secret.dec" >/dev/null
cmp "$work/secret" "$work/secret.dec"

step "one key, two faces: the CLI creates, PKCS#11 signs, the CLI verifies"
"$bin" key create from-cli --kty EC-HSM --curve P-256 >/dev/null
# No CKA_ID was given, so it is the version's 16 bytes (pkcs11-tool 0.23 signs by ID only).
version=$("$bin" key get from-cli --output json | sed -n 's#.*"kid": ".*/\([0-9a-f]\{32\}\)".*#\1#p')
[ "${#version}" -eq 32 ] || fail "no version for from-cli"
user --sign --id "$version" -m ECDSA-SHA256 -i "$work/secret" -o "$work/cli.sig" >/dev/null
[ "$(stat -c %s "$work/cli.sig")" -eq 64 ] || fail "not a P-256 signature"
"$bin" key verify from-cli --alg ES256 --message-file "$work/secret" --signature "@$work/cli.sig" >/dev/null

step "destroy is the vault's soft delete"
user --delete-object --type privkey --id 03 >/dev/null
if user --list-objects | grep -q 'label: *ec-k256$'; then fail "ec-k256 still listed"; fi
"$bin" deleted list --output json | grep -q '/keys/ec-k256"' || fail "ec-k256 is not among the deleted keys"

step "pkcs11-tool --test"
set +e
user --test >"$work/test.txt"
status=$?
set -e
cat "$work/test.txt"
# Every check passes, the verify test's CKM_RSA_PKCS over a SHA-1 DigestInfo included.
if grep -E 'ERR|failed|FAILED' "$work/test.txt"; then fail "pkcs11-tool --test reported an error"; fi
grep -q '^No errors$' "$work/test.txt" || fail "pkcs11-tool --test did not say: No errors"
[ "$status" -eq 0 ] || fail "pkcs11-tool --test: exit $status"
grep -q 'RSA-PKCS: OK' "$work/test.txt" || fail "pkcs11-tool --test did not sign with CKM_RSA_PKCS"

step "threads and fork"
p11 --use-locking --test-threads ILGISLT0 --test-threads ILGISLT0 --test-threads ILGISLT0 -L >/dev/null
# A forked child must initialize itself; the parent still holds the store, so the child
# gets a clear CKR_DEVICE_ERROR, never a hang.
set +e
timeout 60 pkcs11-tool --module "$module" --test-fork -L >"$work/fork.txt" 2>&1
status=$?
set -e
[ "$status" -ne 124 ] || fail "--test-fork hung"
grep -q 'CKR_DEVICE_ERROR' "$work/fork.txt" || { cat "$work/fork.txt"; fail "--test-fork: no clear error"; }

step "certificates and secrets: CKO_CERTIFICATE and CKO_DATA objects (a vault of kind vault)"
"$bin" vault create kv --kind vault >/dev/null
"$bin" pkcs11 init-token --vault kv --so-pin "$so_pin" --pin "$pin"
"$bin" cert create web-cert --vault kv --subject "CN=web.example.test, O=Contoso" --kty EC >/dev/null
"$bin" secret set db-password 'kept in the vault' --vault kv >/dev/null
kv() { p11 --token-label kv "$@"; }
kv --list-objects --type cert | tee "$work/certs.txt"
grep -q 'label: *web-cert$' "$work/certs.txt" || fail "web-cert not listed"
kv --read-object --type cert --label web-cert -o "$work/web-cert.der" >/dev/null
openssl x509 -inform DER -in "$work/web-cert.der" -noout -subject | tee "$work/subject.txt"
grep -q 'CN *= *web.example.test' "$work/subject.txt" || fail "not the certificate's subject"
# The certificate pairs with its private key: the same CKA_ID.
cert_id=$(awk '$1 == "ID:" {print $2}' "$work/certs.txt")
kv --login --pin "$pin" --list-objects --type privkey | grep -q "ID: *$cert_id\$" ||
  fail "no private key with the certificate's ID $cert_id"
# A secret is private: not even listed before login, read with its value after.
if kv --list-objects --type data | grep -q "db-password"; then fail "a secret listed without login"; fi
kv --login --pin "$pin" --read-object --type data --label db-password -o "$work/db-password" >/dev/null
[ "$(cat "$work/db-password")" = 'kept in the vault' ] || fail "the secret's value differs"

step "a store held by a running server: the module goes through it"
"$bin" serve --addr 127.0.0.1:0 >"$work/serve.log" 2>&1 &
server=$!
aes_iv=000102030405060708090a0b0c0d0e0f
for _ in $(seq 100); do
  [ -f "$LOCALHSM_DATA/server.json" ] && [ -f "$LOCALHSM_DATA/owner.token" ] && break
  sleep 0.1
done
set +e
timeout 120 bash -c '
  set -e
  user --keypairgen --key-type EC:prime256v1 --label via-server --id 0a
  user --sign --id 0a -m ECDSA-SHA256 -i "$1" -o "$2"
  user --list-objects --type privkey
  user --keygen --key-type AES:32 --sensitive --label aes-via-server --id 0b
  user --encrypt --id 0b -m AES-CBC-PAD --iv "$3" -i "$1" -o "$4"
  user --list-objects --type secrkey
  # The kv vault'"'"'s certificate and secret, listed and read through the server too.
  p11 --token-label kv --list-objects --type cert
  p11 --token-label kv --login --pin "$pin" --read-object --type data --label db-password -o "$5"
' _ "$work/secret" "$work/server.sig" "$aes_iv" "$work/server.aes" "$work/server-secret" \
  >"$work/held.txt" 2>&1
status=$?
# The CLI goes through the same server: the key PKCS#11 made there verifies, and the AES
# key decrypts what PKCS#11 encrypted under it.
"$bin" key verify via-server --alg ES256 --message-file "$work/secret" \
  --signature "@$work/server.sig" >"$work/held-verify.txt" 2>&1 &&
  "$bin" key decrypt aes-via-server --alg A256CBCPAD --iv "hex:$aes_iv" \
    "@$work/server.aes" --out "$work/server.aes.plain" >>"$work/held-verify.txt" 2>&1
verify=$?
set -e
kill "$server"
wait "$server" 2>/dev/null || true
[ "$status" -eq 0 ] || { cat "$work/held.txt"; fail "pkcs11-tool through the server: exit $status"; }
grep -q 'label: *via-server$' "$work/held.txt" || { cat "$work/held.txt"; fail "via-server not listed"; }
[ "$verify" -eq 0 ] || { cat "$work/held-verify.txt"; fail "the CLI did not verify via-server's signature or decrypt under aes-via-server"; }
grep -q 'label: *aes-via-server$' "$work/held.txt" || { cat "$work/held.txt"; fail "aes-via-server not listed"; }
cmp -s "$work/secret" "$work/server.aes.plain" || fail "the CLI's decryption under aes-via-server differs"
grep -q 'label: *web-cert$' "$work/held.txt" || { cat "$work/held.txt"; fail "web-cert not listed through the server"; }
[ "$(cat "$work/server-secret")" = "kept in the vault" ] || fail "db-password read through the server differs"

echo "PKCS#11 tools: all passed"
