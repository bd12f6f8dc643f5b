#!/usr/bin/env bash
# GnuTLS (Debian gnutls-bin) on liblocalhsm_pkcs11.so: p11tool lists the tokens and their
# objects, and signs with and checks each key (--test-sign); certtool makes self-signed
# certificates (ECDSA, RSA PKCS#1 v1.5 and RSA-PSS) with keys in the token. OpenSSL checks
# each certificate's signature and that its public key is the token key's, as OpenSC's
# pkcs11-tool reads it out.
#
# Usage: pkcs11/tests/gnutls.sh   (after cargo build --release -p localhsm -p localhsm-pkcs11)
#   LOCALHSM_PKCS11_MODULE  the module (default target/release/liblocalhsm_pkcs11.so)
#   LOCALHSM_BIN            the CLI (default: localhsm beside the module)
# Installs gnutls-bin and OpenSC from Debian when missing. Fails on any unexpected result.
set -euo pipefail
cd "$(dirname "$0")/../.."

module=$(realpath "${LOCALHSM_PKCS11_MODULE:-target/release/liblocalhsm_pkcs11.so}")
bin=$(realpath "${LOCALHSM_BIN:-$(dirname "$module")/localhsm}")
test -f "$module" || { echo "no module at $module: cargo build --release -p localhsm-pkcs11" >&2; exit 1; }
test -x "$bin" || { echo "no CLI at $bin: cargo build --release -p localhsm" >&2; exit 1; }

if ! command -v p11tool >/dev/null || ! command -v certtool >/dev/null || ! command -v pkcs11-tool >/dev/null; then
  echo "installing gnutls-bin and opensc"
  { apt-get install -y -qq gnutls-bin opensc ||
    { apt-get update -qq && apt-get install -y -qq gnutls-bin opensc; }; } </dev/null >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LOCALHSM_DATA="$work/store"
unset LOCALHSM_PKCS11_CONF LOCALHSM_MASTER_KEY
pin=user-1234
# p11tool and certtool read the PIN from here instead of asking on a terminal.
export GNUTLS_PIN="$pin"

step() { printf -- '--- %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
p11tool() { command p11tool --provider "$module" "$@" 2>&1; }

step "keys from PKCS#11 (OpenSC) and from the CLI; a certificate and a secret in a vault"
"$bin" pkcs11 init-token --vault default --so-pin so-pin-8765 --pin "$pin"
tool() { pkcs11-tool --module "$module" --login --pin "$pin" "$@" >/dev/null 2>&1; }
tool --keypairgen --key-type EC:prime256v1 --label gt-ec --id 41
tool --keypairgen --key-type EC:secp384r1 --label gt-ec384 --id 42
tool --keypairgen --key-type rsa:2048 --label gt-rsa --id 43
tool --keygen --sensitive --key-type AES:32 --label gt-aes --id 44
"$bin" key create cli-ec --kty EC-HSM --curve P-256 >/dev/null
"$bin" vault create kv --kind vault >/dev/null
"$bin" pkcs11 init-token --vault kv --so-pin so-pin-8765 --pin "$pin"
"$bin" cert create kv-cert --vault kv --subject "CN=kv.example.test" --kty EC >/dev/null
"$bin" secret set kv-secret 'a value' --vault kv >/dev/null

step "p11tool --list-tokens and --list-all"
p11tool --list-tokens | tee "$work/tokens.txt"
for token in default kv; do
  grep -q "^	Label: $token\$" "$work/tokens.txt" || fail "token $token not listed"
done
grep -q 'Manufacturer: localhsm' "$work/tokens.txt" || fail "manufacturer not listed"
p11tool --list-all 'pkcs11:token=default' >"$work/public.txt"
p11tool --login --list-all 'pkcs11:token=default' | tee "$work/all.txt"
# Each label with the object types it must have, as p11tool names them.
for want in "gt-ec:Private key (EC/ECDSA-SECP256R1)" "gt-ec:Public key (EC/ECDSA-SECP256R1)" \
    "gt-ec384:Private key (EC/ECDSA-SECP384R1)" "gt-rsa:Private key (RSA-2048)" \
    "gt-rsa:Public key (RSA-2048)" "gt-aes:Secret key" "cli-ec:Private key (EC/ECDSA-SECP256R1)" \
    "cli-ec:Public key (EC/ECDSA-SECP256R1)"; do
  label=${want%%:*} type=${want#*:}
  grep -B1 -F "	Label: $label" "$work/all.txt" | grep -qF "Type: $type" || fail "no $type labelled $label"
done
[ "$(grep -c '^Object ' "$work/all.txt")" -eq 9 ] || fail "not 9 objects after login"
# Before login only the public keys show.
[ "$(grep -c '^Object ' "$work/public.txt")" -eq 4 ] || fail "not 4 public objects before login"
if grep -qE 'Private key|Secret key' "$work/public.txt"; then fail "private objects listed without login"; fi
grep -q 'CKA_NEVER_EXTRACTABLE; CKA_SENSITIVE' "$work/all.txt" || fail "private keys not sensitive"
p11tool --list-all-certs 'pkcs11:token=kv' | tee "$work/certs.txt"
grep -q '	Label: kv-cert$' "$work/certs.txt" || fail "kv-cert not listed"
p11tool --login --list-all 'pkcs11:token=kv' | grep -q '	Label: kv-secret$' || fail "kv-secret not listed"

step "p11tool --test-sign: sign with each key pair, verify with its public key in the token"
for key in gt-ec gt-ec384 gt-rsa cli-ec; do
  p11tool --login --test-sign "pkcs11:token=default;object=$key;type=private" >"$work/test-sign.txt" ||
    { cat "$work/test-sign.txt"; fail "--test-sign $key"; }
  [ "$(grep -c '\.\.\. ok$' "$work/test-sign.txt")" -eq 3 ] || { cat "$work/test-sign.txt"; fail "--test-sign $key"; }
  echo "  $key: $(head -1 "$work/test-sign.txt")"
done

step "p11tool exports the certificate: it is the one the vault issued"
p11tool --export 'pkcs11:token=kv;object=kv-cert;type=cert' >"$work/kv-cert.pem"
"$bin" cert get kv-cert --vault kv --output json >"$work/kv-cert.json"
openssl x509 -in "$work/kv-cert.pem" -noout -subject | grep -q 'CN *= *kv.example.test' || fail "kv-cert's subject"
openssl x509 -in "$work/kv-cert.pem" -outform DER | base64 -w0 | grep -qF -f - "$work/kv-cert.json" ||
  fail "the exported certificate is not the vault's cer"

step "certtool --generate-self-signed with keys in the token; OpenSSL checks them"
cat >"$work/template" <<'EOF'
cn = "gnutls.example.test"
organization = "localhsm"
serial = 7
expiration_days = 30
ca
cert_signing_key
signing_key
EOF
for spec in gt-ec:41: gt-ec384:42: gt-rsa:43: gt-rsa:43:RSA-PSS cli-ec::; do
  IFS=: read -r key id params <<<"$spec"
  crt="$work/$key${params:+-$params}.crt"
  certtool --provider "$module" --generate-self-signed ${params:+--sign-params "$params"} \
    --load-privkey "pkcs11:token=default;object=$key;type=private" --template "$work/template" \
    --outfile "$crt" >"$work/certtool.txt" 2>&1 || { cat "$work/certtool.txt"; fail "certtool with $key"; }
  openssl verify -CAfile "$crt" "$crt" >/dev/null || fail "$crt does not verify as self-signed"
  # The token's public key as OpenSC reads it (by ID; the CLI's key has the version's 16 bytes).
  if [ -z "$id" ]; then
    id=$(pkcs11-tool --module "$module" --list-objects --type pubkey 2>/dev/null |
      awk '$1 == "label:" {l=$2} $1 == "ID:" && l == "cli-ec" {print $2}')
    [ "${#id}" -eq 32 ] || fail "no ID for cli-ec"
  fi
  # OpenSC 0.23 cannot read out a P-384 public key (see tools.sh): GnuTLS's export stands in.
  if [ "$key" = gt-ec384 ]; then
    p11tool --export-pubkey "pkcs11:token=default;object=$key;type=public" >"$work/$key.export" ||
      fail "p11tool --export-pubkey $key"
    openssl pkey -pubin -in "$work/$key.export" -outform DER -out "$work/$key.der"
  else
    pkcs11-tool --module "$module" --read-object --type pubkey --id "$id" -o "$work/$key.der" >/dev/null 2>&1 ||
      fail "pkcs11-tool --read-object $key"
  fi
  openssl pkey -pubin -inform DER -in "$work/$key.der" -out "$work/$key.pem"
  openssl x509 -in "$crt" -noout -pubkey | cmp -s - "$work/$key.pem" || fail "$crt: not the token key's public key"
  alg=$(openssl x509 -in "$crt" -noout -text | sed -n "s/^ *Signature Algorithm: *\([^ ]*\).*/\1/p" | head -1)
  echo "  $key${params:+ ($params)}: self-signed ($alg), public key is the token's"
done

echo "GnuTLS: all passed"
