"""Soft delete, recovery, purge, backup/restore, purge protection + dev clock,
the auth challenge itself, the management API and process lifecycle.

The purge-protection / time-shift test moves the server clock forward for every
vault, so it is the last test on the session server (pytest runs files and functions
in order; test_secrets.py, after this module, starts a server of its own). No other
test compares server time with local wall-clock time.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.keys import DeletedKey, KeyVaultKey
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm

from localhsm_support import LocalHsm, new_server, unique_name

DAY = 86400


def _retention(server, vault="default") -> int:
    return server.mgmt("GET", f"vaults/{vault}").json()["retentionDays"]


def _delete(client, name) -> DeletedKey:
    poller = client.begin_delete_key(name)
    deleted = poller.result()
    poller.wait(timeout=60)
    assert poller.done() and poller.status() == "finished"
    return deleted


def _sign_and_check(server, key: KeyVaultKey, public_jwk=None):
    digest = hashlib.sha256(key.id.encode()).digest()
    sig = server.crypto_client(key.id).sign(SignatureAlgorithm.es256, digest).signature
    assert CryptographyClient.from_jwk(public_jwk or key.key).verify(SignatureAlgorithm.es256, digest, sig).is_valid


# --------------------------------------------------------------------------------------
# delete / get deleted / recover / purge
# --------------------------------------------------------------------------------------
def test_delete_poller_and_get_deleted(server, key_client):
    name = unique_name("del")
    key = key_client.create_ec_key(name, curve="P-256", hardware_protected=True, tags={"t": "1"})

    poller = key_client.begin_delete_key(name)  # DELETE /keys/{name}
    deleted = poller.result()
    assert isinstance(deleted, DeletedKey)
    assert deleted.name == name
    assert deleted.id == key.id
    assert deleted.key.x == key.key.x
    assert deleted.properties.tags == {"t": "1"}
    # a recoveryId is what tells the SDK the vault soft-deletes (and makes it poll)
    assert deleted.recovery_id == f"{server.url}/deletedkeys/{name}"
    assert deleted.deleted_date is not None and deleted.scheduled_purge_date is not None
    assert deleted.scheduled_purge_date - deleted.deleted_date == timedelta(days=_retention(server))
    poller.wait(timeout=60)  # polls GET /deletedkeys/{name} until 200
    assert poller.status() == "finished"

    with pytest.raises(ResourceNotFoundError) as info:
        key_client.get_key(name)
    assert info.value.error.code == "KeyNotFound"
    assert name not in {p.name for p in key_client.list_properties_of_keys()}

    got = key_client.get_deleted_key(name)
    assert got.id == key.id
    assert got.recovery_id == deleted.recovery_id
    assert got.deleted_date == deleted.deleted_date
    assert got.scheduled_purge_date == deleted.scheduled_purge_date
    assert got.key.crv == "P-256" and got.key.x == key.key.x

    listed = {d.name: d for d in key_client.list_deleted_keys()}
    assert name in listed
    assert listed[name].recovery_id == deleted.recovery_id
    assert listed[name].deleted_date == deleted.deleted_date

    # crypto on a deleted key is a 404 too
    with pytest.raises(ResourceNotFoundError):
        server.crypto_client(key.id).sign(SignatureAlgorithm.es256, hashlib.sha256(b"x").digest())


def test_not_found_errors_for_lifecycle_operations(server, key_client):
    missing = unique_name("missing")
    for call in (
        lambda: key_client.begin_delete_key(missing),
        lambda: key_client.get_deleted_key(missing),
        lambda: key_client.begin_recover_deleted_key(missing),
        lambda: key_client.purge_deleted_key(missing),
        lambda: key_client.backup_key(missing),
    ):
        with pytest.raises(ResourceNotFoundError) as info:
            call()
        assert info.value.status_code == 404
        assert info.value.error.code == "KeyNotFound"

    live = unique_name("live")
    key_client.create_ec_key(live, curve="P-256", hardware_protected=True)
    with pytest.raises(ResourceNotFoundError):
        key_client.get_deleted_key(live)


def test_recover_poller(server, key_client):
    name = unique_name("rec")
    v1 = key_client.create_ec_key(name, curve="P-256", hardware_protected=True)
    v2 = key_client.rotate_key(name)
    _delete(key_client, name)

    poller = key_client.begin_recover_deleted_key(name)  # POST /deletedkeys/{name}/recover
    recovered = poller.result()
    assert isinstance(recovered, KeyVaultKey)
    assert recovered.id == v2.id
    poller.wait(timeout=60)  # polls GET /keys/{name}/ until 200
    assert poller.status() == "finished"

    assert key_client.get_key(name).id == v2.id
    versions = {p.version for p in key_client.list_properties_of_key_versions(name)}
    assert versions == {v1.properties.version, v2.properties.version}
    with pytest.raises(ResourceNotFoundError):
        key_client.get_deleted_key(name)
    _sign_and_check(server, v2)


def test_purge(server, key_client):
    name = unique_name("purge")
    key_client.create_ec_key(name, curve="P-256", hardware_protected=True)
    _delete(key_client, name)
    assert key_client.purge_deleted_key(name) is None  # DELETE /deletedkeys/{name} -> 204
    with pytest.raises(ResourceNotFoundError):
        key_client.get_deleted_key(name)
    assert name not in {d.name for d in key_client.list_deleted_keys()}
    # the name is free again
    again = key_client.create_ec_key(name, curve="P-256", hardware_protected=True)
    assert [p.version for p in key_client.list_properties_of_key_versions(name)] == [again.properties.version]


def test_conflict_on_soft_deleted_name(server, key_client):
    name = unique_name("conflict")
    key_client.create_ec_key(name, curve="P-256", hardware_protected=True)
    _delete(key_client, name)

    with pytest.raises(ResourceExistsError) as info:
        key_client.create_ec_key(name, curve="P-256", hardware_protected=True)
    err = info.value
    assert err.status_code == 409
    assert err.error.code == "Conflict"
    assert err.error.innererror.get("code") == "ObjectIsDeletedButRecoverable"

    with pytest.raises(ResourceExistsError) as info:
        key_client.create_rsa_key(name, size=2048, hardware_protected=True)
    assert info.value.error.innererror.get("code") == "ObjectIsDeletedButRecoverable"

    # deleting a deleted key again is a 404, not a second deletion
    with pytest.raises(ResourceNotFoundError):
        key_client.begin_delete_key(name)


def test_list_deleted_keys_paging(server):
    names = {f"gone-{i}" for i in range(5)}
    client = server.hsm_with_keys("dl", names)
    for name in sorted(names):
        _delete(client, name)

    pages = [list(page) for page in client.list_deleted_keys(max_page_size=2).by_page()]
    assert [len(p) for p in pages if p] == [2, 2, 1]
    items = [d for page in pages for d in page]
    assert {d.name for d in items} == names
    for d in items:
        assert d.recovery_id == f"{server.vault_url('dl')}/deletedkeys/{d.name}"
        assert d.deleted_date is not None and d.scheduled_purge_date is not None
        assert d.id == f"{server.vault_url('dl')}/keys/{d.name}"
    assert not list(client.list_properties_of_keys())


# --------------------------------------------------------------------------------------
# backup / restore
# --------------------------------------------------------------------------------------
def test_backup_and_restore(server, key_client):
    name = unique_name("bak")
    v1 = key_client.create_ec_key(name, curve="P-256", hardware_protected=True, tags={"keep": "me"})
    v2 = key_client.rotate_key(name)
    backup = key_client.backup_key(name)  # POST /keys/{name}/backup -> {"value": base64url}
    assert isinstance(backup, bytes) and len(backup) > 0

    # the name is taken while the key exists
    with pytest.raises(ResourceExistsError) as info:
        key_client.restore_key_backup(backup)
    assert info.value.status_code == 409

    _delete(key_client, name)
    # ...and while it is soft-deleted
    with pytest.raises(ResourceExistsError) as info:
        key_client.restore_key_backup(backup)
    assert info.value.status_code == 409
    key_client.purge_deleted_key(name)

    restored = key_client.restore_key_backup(backup)  # POST /keys/restore
    assert restored.name == name
    assert restored.id == v2.id
    assert restored.key.x == v2.key.x and restored.key.y == v2.key.y
    assert key_client.get_key(name, v1.properties.version).key.x == v1.key.x
    versions = {p.version for p in key_client.list_properties_of_key_versions(name)}
    assert versions == {v1.properties.version, v2.properties.version}
    assert key_client.get_key(name, v1.properties.version).properties.tags == {"keep": "me"}
    # same private key: the restored key's signature verifies with the pre-backup public key
    _sign_and_check(server, restored, public_jwk=v2.key)


def test_restore_garbage_is_bad_parameter(key_client):
    with pytest.raises(HttpResponseError) as info:
        key_client.restore_key_backup(b"definitely not a localhsm backup blob")
    assert info.value.status_code == 400
    assert info.value.error.code == "BadParameter"


# --------------------------------------------------------------------------------------
# the auth challenge as the SDK sees it
# --------------------------------------------------------------------------------------
def _challenge(resp) -> dict:
    header = resp.headers.get("WWW-Authenticate", "")
    assert header.lower().startswith("bearer "), header
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def test_unauthenticated_requests_get_the_key_vault_challenge(server, kv_vault):
    resp = server.http("GET", f"{server.url}/keys?api-version=7.5", auth=False)
    assert resp.status_code == 401
    params = _challenge(resp)
    assert params["resource"] == "https://managedhsm.azure.net"
    assert params["authorization"].startswith("https://login.microsoftonline.com/")
    assert params["authorization"].rstrip("/").rsplit("/", 1)[-1], "tenant missing from authorization URI"

    resp = server.http("GET", f"{server.vault_url(kv_vault)}/keys?api-version=7.5", auth=False)
    assert resp.status_code == 401
    # NAME.localhost:PORT: the parent domain, which the SDKs' challenge check accepts
    assert _challenge(resp)["resource"] == f"https://localhost:{server.port}"

    # This is exactly the SDK's discovery request: the original POST with its body
    # stripped and Content-Length: 0. It must be a 401, not a 400 about the body.
    resp = server.http(
        "POST",
        f"{server.url}/keys/{unique_name('x')}/create?api-version=2025-07-01",
        auth=False,
        headers={"Content-Type": "application/json", "Content-Length": "0"},
        data=b"",
    )
    assert resp.status_code == 401
    assert _challenge(resp)["resource"] == "https://managedhsm.azure.net"


# --------------------------------------------------------------------------------------
# management API
# --------------------------------------------------------------------------------------
def test_management_vaults(server):
    vaults = {v["name"]: v for v in server.mgmt("GET", "vaults").json()["value"]}
    assert vaults["default"]["kind"] == "managedhsm"

    created = server.ensure_vault("mg", kind="vault")
    assert created["name"] == "mg" and created["kind"] == "vault"
    assert created["retentionDays"] == 90 and created["purgeProtection"] is False
    assert "mg" in {v["name"] for v in server.mgmt("GET", "vaults").json()["value"]}

    client = server.key_client("mg")
    name = unique_name("mg")
    key = client.create_ec_key(name, curve="P-256")

    server.mgmt("DELETE", "vaults/mg", expect=(200, 202, 204))
    assert server.mgmt("GET", "vaults/mg", expect=()).status_code == 404
    server.mgmt("POST", "vaults/mg/recover", expect=(200, 201))
    assert server.mgmt("GET", "vaults/mg").json()["name"] == "mg"
    assert client.get_key(name).id == key.id, "recovering a vault brings its keys back"

    server.mgmt("DELETE", "vaults/mg", expect=(200, 202, 204))
    server.mgmt("DELETE", "deletedvaults/mg", expect=(204,))
    assert server.mgmt("GET", "vaults/mg", expect=()).status_code == 404
    assert server.mgmt("POST", "vaults/mg/recover", expect=()).status_code == 404


# --------------------------------------------------------------------------------------
# process lifecycle: SIGTERM is clean, state survives a restart
# --------------------------------------------------------------------------------------
def test_restart_keeps_keys_and_certificate(tmp_path_factory):
    data = Path(tmp_path_factory.mktemp("restart")) / "data"
    first = new_server(data).start()
    hsm = LocalHsm(first)
    try:
        client = hsm.key_client()
        name = unique_name("persist")
        key = client.create_ec_key(name, curve="P-256", hardware_protected=True)
        cert_before = first.cert_path.read_bytes()
    finally:
        hsm.close()
        status = first.stop()
    assert status == 0, f"SIGTERM should shut down cleanly, exit status {status}" + first.diagnostics()

    second = new_server(data).start()
    hsm = LocalHsm(second)
    try:
        assert second.cert_path.read_bytes() == cert_before, "the TLS certificate must be reused, not regenerated"
        client = hsm.key_client()
        again = client.get_key(name)
        assert again.properties.version == key.properties.version
        assert again.key.x == key.key.x and again.key.y == key.key.y
        digest = hashlib.sha256(b"after restart").digest()
        sig = hsm.crypto_client(again).sign(SignatureAlgorithm.es256, digest).signature
        assert CryptographyClient.from_jwk(key.key).verify(SignatureAlgorithm.es256, digest, sig).is_valid
    finally:
        hsm.close()
        status = second.stop()
        second.discard_store()
    assert status == 0, second.diagnostics()


# --------------------------------------------------------------------------------------
# purge protection + dev clock (keep last: it moves the shared server clock)
# --------------------------------------------------------------------------------------
def test_purge_protection_then_time_shift_purges(server):
    vault = server.ensure_vault("pp", kind="managedhsm", retentionDays=7, purgeProtection=True)
    assert vault["retentionDays"] == 7 and vault["purgeProtection"] is True
    client = server.key_client("pp")  # https://pp.localhost:PORT
    assert client.vault_url == f"https://pp.localhost:{server.port}"

    # recover still works under purge protection
    kept = unique_name("pp-kept")
    key = client.create_ec_key(kept, curve="P-256", hardware_protected=True)
    assert key.id == f"https://pp.localhost:{server.port}/keys/{kept}/{key.properties.version}"
    assert key.properties.recoverable_days == 7
    _delete(client, kept)
    poller = client.begin_recover_deleted_key(kept)
    poller.wait(timeout=60)
    _sign_and_check(server, client.get_key(kept))

    name = unique_name("pp")
    client.create_ec_key(name, curve="P-256", hardware_protected=True)
    deleted = _delete(client, name)
    assert deleted.recovery_id == f"https://pp.localhost:{server.port}/deletedkeys/{name}"
    assert deleted.scheduled_purge_date - deleted.deleted_date == timedelta(days=7)

    with pytest.raises(HttpResponseError) as info:
        client.purge_deleted_key(name)
    assert info.value.status_code == 403
    assert info.value.error.code == "Forbidden"
    assert client.get_deleted_key(name).name == name  # still there

    deleted_at = int(deleted.deleted_date.timestamp())
    # two minutes before the scheduled purge: nothing happens yet
    now = server.time_shift(7 * DAY - 120)
    assert now >= deleted_at + 7 * DAY - 120
    assert client.get_deleted_key(name).name == name
    # 7 days + 1 s after deletion in total: the purge is due and runs
    later = server.time_shift(121)
    assert later >= now + 121
    assert later > int(deleted.scheduled_purge_date.timestamp())

    with pytest.raises(ResourceNotFoundError) as info:
        client.get_deleted_key(name)
    assert info.value.error.code == "KeyNotFound"
    assert name not in {d.name for d in client.list_deleted_keys()}
    # the live key in the same vault is untouched, and the purged name is free again
    assert client.get_key(kept).name == kept
    assert client.create_ec_key(name, curve="P-256", hardware_protected=True).name == name
