#!/usr/bin/env bash
# Prints the path of a Python with pkcs11/tests/python/requirements.txt installed, making
# the venv (target/ci-venv-pkcs11, or LOCALHSM_PKCS11_VENV) when it is missing or its
# requirements changed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
venv="${LOCALHSM_PKCS11_VENV:-$repo/target/ci-venv-pkcs11}"
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
[ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2
want=$(cat "$here/requirements.txt" "$repo/tests/sdk/python/requirements.txt" | sha256sum | cut -d' ' -f1)
stamp="$venv/.requirements.sha256"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/python" -m pip install -q -r "$here/requirements.txt" </dev/null >&2
  echo "$want" >"$stamp"
fi
echo "$venv/bin/python"
