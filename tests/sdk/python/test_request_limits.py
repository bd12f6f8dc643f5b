"""A request body over localhsm's limit (1 MiB) is a 413 the SDK reads.

The body is several MiB: more than the socket buffers of both ends hold, so a server that
answered mid-upload and closed would reset the connection under the client (the SDK then
raises ServiceRequestError or ServiceResponseError after its retries), not hand it the
answer. localhsm reads the rest of the body first, so the SDK raises HttpResponseError with
the status and Key Vault's error code, and the same client goes on working.
"""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from azure.keyvault.keys import JsonWebKey

from localhsm_support import unique_name

LIMIT = 1 << 20
OVERSIZED = 6 * LIMIT + 12345


def _too_large(call) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as info:
        call()
    err = info.value
    assert err.status_code == 413, err
    assert err.error.code == "RequestTooLarge", err.error
    assert f"exceeds {LIMIT} bytes" in err.error.message
    return err


def test_set_secret_over_the_limit_is_413(server):
    server.ensure_vault("kv", kind="vault")
    secrets = server.secret_client("kv")
    name = unique_name("big")
    err = _too_large(lambda: secrets.set_secret(name, "x" * OVERSIZED))
    assert err.response.headers.get("connection", "").lower() == "close"
    # the client's next call, on a new connection, is served
    assert secrets.set_secret(name, "small").value == "small"
    assert secrets.get_secret(name).value == "small"


def test_import_key_over_the_limit_is_413(server):
    keys = server.key_client()
    name = unique_name("big")
    jwk = JsonWebKey(kty="oct-HSM", key_ops=["wrapKey", "unwrapKey"], k=b"\x01" * OVERSIZED)
    _too_large(lambda: keys.import_key(name, jwk))
    made = keys.import_key(name, JsonWebKey(kty="oct-HSM", key_ops=["wrapKey", "unwrapKey"], k=b"\x02" * 32))
    assert made.name == name and made.key_type == "oct-HSM"
