"""SecretClient (azure-keyvault-secrets) against localhsm, as a user runs it: the SDK's
own defaults (api-version included), with only the vault URL, the credential and the CA
changed.

The module starts a server of its own with ``LOCALHSM_LOG=trace``, so that its last test
can read everything the server wrote (stdout, stderr at the most verbose level, the data
directory) and check that no secret value set here appears in any of it. It also moves
that server's clock (scheduled purge), which no other module sees.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.secrets import DeletedSecret, KeyVaultSecret, SecretProperties

from localhsm_support import MHSM_SCOPE, FakeCredential, LocalHsm, new_server, unique_name

DAY = 86400
MAX_VALUE_BYTES = 25 * 1024  # Key Vault's 25 KB limit on a secret value
SDK_API_VERSION = "2026-04-01"  # what azure-keyvault-secrets 4.12 sends when given none

# Every value set in this module. Each holds a marker (a fresh uuid) that the last test
# looks for in the server's output and data directory.
MARKERS: list = []


def _value(label: str, body: str = "") -> str:
    marker = f"sv{uuid.uuid4().hex}"
    MARKERS.append(marker)
    return f"{label}:{marker}:{body}"


def _utc(dt: datetime) -> datetime:
    return dt.replace(microsecond=0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def hsm():
    root = Path(tempfile.mkdtemp(prefix="localhsm-py-sdk-secrets-"))
    process = new_server(root / "data", extra_args=["--dev-clock"], env={"LOCALHSM_LOG": "trace"})
    try:
        process.start()
    except RuntimeError as exc:
        process.discard_store()
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(str(exc), pytrace=False)
    handle = LocalHsm(process)
    try:
        yield handle
    finally:
        handle.close()
        process.stop()
        process.discard_store()
        if os.environ.get("LOCALHSM_KEEP_DATA"):
            print(f"\nlocalhsm data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def client(hsm):
    """SecretClient on https://localhost:PORT: the default vault, as a user points it."""
    return hsm.secret_client()


def _retention(hsm, vault="default") -> int:
    return hsm.mgmt("GET", f"vaults/{vault}").json()["retentionDays"]


def _delete(client, name) -> DeletedSecret:
    poller = client.begin_delete_secret(name)
    deleted = poller.result()
    poller.wait(timeout=60)
    assert poller.done() and poller.status() == "finished"
    return deleted


def _pages(paged):
    """Each page of an ItemPaged as a list."""
    return [list(page) for page in paged.by_page()]


class _RawPages:
    """``raw_response_hook`` that keeps the JSON body of every response of one call."""

    def __init__(self):
        self.bodies = []
        self.urls = []

    def __call__(self, pipeline_response):
        self.urls.append(pipeline_response.http_request.url)
        self.bodies.append(pipeline_response.http_response.json())

    def items(self):
        return [item for body in self.bodies for item in body["value"]]


# --------------------------------------------------------------------------------------
# set / get
# --------------------------------------------------------------------------------------
def test_set_makes_a_new_version_each_time_and_get_reads_any(hsm, client):
    name = unique_name("s")
    first, second = _value("first"), _value("second")
    raw = _RawPages()
    v1 = client.set_secret(name, first, raw_response_hook=raw)
    # the SDK's default api-version, not one the suite chose
    assert parse_qs(urlparse(raw.urls[-1]).query)["api-version"] == [SDK_API_VERSION]
    assert isinstance(v1, KeyVaultSecret)
    assert v1.name == name and v1.value == first
    assert v1.properties.version
    assert v1.id == f"{hsm.url}/secrets/{name}/{v1.properties.version}"
    assert v1.properties.vault_url == hsm.url
    assert v1.properties.enabled is True
    assert v1.properties.created_on is not None and v1.properties.created_on == v1.properties.updated_on
    assert v1.properties.recovery_level == "Recoverable+Purgeable"
    assert v1.properties.recoverable_days == _retention(hsm) == 90
    assert v1.properties.content_type is None and not v1.properties.tags
    assert v1.properties.managed is None and v1.properties.key_id is None

    v2 = client.set_secret(name, second)
    assert v2.properties.version != v1.properties.version
    assert v2.value == second

    current = client.get_secret(name)
    assert current.id == v2.id and current.value == second
    old = client.get_secret(name, v1.properties.version)
    assert old.id == v1.id and old.value == first
    assert old.properties.created_on == v1.properties.created_on
    versions = {p.version for p in client.list_properties_of_secret_versions(name)}
    assert versions == {v1.properties.version, v2.properties.version}

    # the SDK asked for the Managed HSM scope: the default vault's challenge names it
    assert hsm.credential.calls and hsm.credential.calls[-1]["scopes"] == [MHSM_SCOPE]


def test_a_key_and_a_secret_may_share_a_name(hsm, client):
    name = unique_name("shared")
    key = hsm.key_client().create_ec_key(name, curve="P-256", hardware_protected=True)
    secret = client.set_secret(name, _value("shared"))
    assert key.id.startswith(f"{hsm.url}/keys/{name}/")
    assert secret.id.startswith(f"{hsm.url}/secrets/{name}/")
    assert name in {p.name for p in client.list_properties_of_secrets()}
    assert hsm.key_client().get_key(name).id == key.id


def test_unicode_value_content_type_tags_and_validity(client):
    name = unique_name("uni")
    # astral-plane characters (surrogate pairs in JSON), combining marks, right-to-left
    # text, quotes, backslashes, control characters and NUL: any Unicode string
    value = _value("uni", 'pässwörd ✓ 🔑𝄞 日本語 שלום e\u0301 "q" \\ \n\t\r \u0000 \u2028 end')
    nbf = _utc(datetime.now(timezone.utc) - timedelta(days=1))
    exp = _utc(datetime.now(timezone.utc) + timedelta(days=365))
    tags = {"env": "dev", "owner": "zoë", "empty": ""}
    s = client.set_secret(name, value, content_type="text/plain; charset=utf-8", tags=tags,
                          enabled=True, not_before=nbf, expires_on=exp)
    assert s.value == value
    assert s.properties.content_type == "text/plain; charset=utf-8"
    assert s.properties.tags == tags
    assert s.properties.not_before == nbf and s.properties.expires_on == exp

    got = client.get_secret(name)
    assert got.value == value
    assert got.properties.content_type == "text/plain; charset=utf-8"
    assert got.properties.tags == tags
    assert got.properties.not_before == nbf and got.properties.expires_on == exp
    assert got.properties.enabled is True


def test_nbf_and_exp_do_not_stop_a_read(client):
    # For secrets, nbf and exp are informational: Key Vault documents them as such and
    # returns the value of an expired secret (Azure/AzureKeyVault#19).
    name = unique_name("window")
    now = datetime.now(timezone.utc)
    expired = _value("expired")
    client.set_secret(name, expired, expires_on=_utc(now - timedelta(days=1)))
    assert client.get_secret(name).value == expired
    early = _value("early")
    client.set_secret(name, early, not_before=_utc(now + timedelta(days=30)))
    assert client.get_secret(name).value == early


def test_disabled_secret_cannot_be_read(client):
    name = unique_name("off")
    hidden = _value("off")
    s = client.set_secret(name, hidden, enabled=False)
    assert s.properties.enabled is False
    with pytest.raises(HttpResponseError) as info:
        client.get_secret(name)
    err = info.value
    assert err.status_code == 403
    assert err.error.code == "Forbidden"
    assert err.error.innererror.get("code") == "SecretDisabled"
    assert hidden not in str(err) and hidden not in err.response.text()
    with pytest.raises(HttpResponseError) as info:
        client.get_secret(name, s.properties.version)
    assert info.value.status_code == 403

    # its metadata is still listed, without the value
    (listed,) = list(client.list_properties_of_secret_versions(name))
    assert listed.version == s.properties.version and listed.enabled is False

    # enabled again, it reads
    client.update_secret_properties(name, s.properties.version, enabled=True)
    assert client.get_secret(name).value == hidden


def test_update_secret_properties(client):
    name = unique_name("upd")
    first = _value("first")
    v1 = client.set_secret(name, first, content_type="text/plain", tags={"a": "1"})
    v2 = client.set_secret(name, _value("second"), tags={"b": "2"})

    # the current version when no version is named
    updated = client.update_secret_properties(name, content_type="application/json", tags={"c": "3"})
    assert isinstance(updated, SecretProperties)
    assert updated.version == v2.properties.version
    assert updated.content_type == "application/json" and updated.tags == {"c": "3"}
    assert updated.updated_on >= v2.properties.updated_on
    assert updated.created_on == v2.properties.created_on

    # a given older version; tags are replaced, not merged
    old = client.update_secret_properties(name, v1.properties.version, tags={"x": "y"}, enabled=False)
    assert old.version == v1.properties.version
    assert old.tags == {"x": "y"} and old.enabled is False
    assert old.content_type == "text/plain", "a field not sent keeps its value"

    with pytest.raises(HttpResponseError) as info:
        client.get_secret(name, v1.properties.version)
    assert info.value.status_code == 403
    current = client.get_secret(name)
    assert current.id == v2.id and current.properties.content_type == "application/json"
    assert current.properties.tags == {"c": "3"}

    client.update_secret_properties(name, v1.properties.version, enabled=True)
    again = client.get_secret(name, v1.properties.version)
    assert again.value == first, "an update never changes the value"
    assert again.properties.tags == {"x": "y"}


# --------------------------------------------------------------------------------------
# limits and bad input
# --------------------------------------------------------------------------------------
def test_value_size_limit(client):
    name = unique_name("big")
    head = _value("big")
    fits = head + "x" * (MAX_VALUE_BYTES - len(head))
    assert len(fits.encode()) == MAX_VALUE_BYTES
    assert client.set_secret(name, fits).value == fits
    assert client.get_secret(name).value == fits

    with pytest.raises(HttpResponseError) as info:
        client.set_secret(name, fits + "x")
    assert info.value.status_code == 400
    assert info.value.error.code == "BadParameter"
    assert head not in str(info.value), "an error must never echo the value"

    # the limit counts UTF-8 bytes: 12,800 two-byte characters fit, one more does not
    wide = "é" * (MAX_VALUE_BYTES // 2)
    assert client.set_secret(name, wide).value == wide
    with pytest.raises(HttpResponseError) as info:
        client.set_secret(name, wide + "é")
    assert info.value.status_code == 400
    assert len(list(client.list_properties_of_secret_versions(name))) == 2


@pytest.mark.parametrize("bad", ["under_score", "dot.ted", "x" * 128])
def test_bad_names_are_bad_parameter(client, bad):
    with pytest.raises(HttpResponseError) as info:
        client.set_secret(bad, _value("badname"))
    assert info.value.status_code == 400
    assert info.value.error.code == "BadParameter"


def test_longest_name_and_tag_limits(client):
    longest = "N" + "a1-" * 42  # 127 characters
    assert len(longest) == 127
    assert client.set_secret(longest, _value("long")).name == longest

    name = unique_name("tags")
    fifteen = {f"t{i}": str(i) for i in range(15)}
    assert client.set_secret(name, _value("tags"), tags=fifteen).properties.tags == fifteen
    with pytest.raises(HttpResponseError) as info:
        client.set_secret(name, _value("tags16"), tags={**fifteen, "t15": "15"})
    assert info.value.status_code == 400
    assert info.value.error.code == "BadParameter"


def test_not_found_errors(client):
    missing = unique_name("missing")
    with pytest.raises(ResourceNotFoundError) as info:
        client.get_secret(missing)
    assert info.value.status_code == 404
    assert info.value.error.code == "SecretNotFound"

    for call in (
        lambda: client.update_secret_properties(missing, content_type="x"),
        lambda: client.begin_delete_secret(missing),
        lambda: client.backup_secret(missing),
    ):
        with pytest.raises(ResourceNotFoundError) as info:
            call()
        assert info.value.error.code == "SecretNotFound"

    # Key Vault answers every route under /deletedsecrets with 404 SecretNotFound
    # ("Deleted Secret not found: NAME") for a name that is not soft-deleted.
    for call in (
        lambda: client.get_deleted_secret(missing),
        lambda: client.begin_recover_deleted_secret(missing),
        lambda: client.purge_deleted_secret(missing),
    ):
        with pytest.raises(ResourceNotFoundError) as info:
            call()
        assert info.value.status_code == 404
        assert info.value.error.code == "SecretNotFound"

    # a version that does not exist, of a secret that does
    live = unique_name("live")
    client.set_secret(live, _value("live"))
    with pytest.raises(ResourceNotFoundError) as info:
        client.get_secret(live, uuid.uuid4().hex)
    assert info.value.error.code == "SecretNotFound"
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret(live)


# --------------------------------------------------------------------------------------
# lists and paging
# --------------------------------------------------------------------------------------
def test_list_secrets_pages_at_25_and_honours_max_page_size(hsm):
    hsm.ensure_vault("sp", kind="vault")
    client = hsm.secret_client("sp")
    base = hsm.vault_url("sp")
    names = {f"list-{i:02d}" for i in range(30)}
    for i, name in enumerate(sorted(names)):
        client.set_secret(name, _value(name), content_type="text/plain" if i % 2 else None,
                          tags={"i": str(i)})
    # a key in the same vault is not a secret
    hsm.key_client("sp").create_ec_key("list-key", curve="P-256")

    raw = _RawPages()
    pages = _pages(client.list_properties_of_secrets(raw_response_hook=raw))
    assert [len(p) for p in pages] == [25, 5]
    items = [p for page in pages for p in page]
    assert {p.name for p in items} == names
    for p in items:
        assert isinstance(p, SecretProperties)
        assert p.id == f"{base}/secrets/{p.name}", "list items name the secret, not a version"
        assert p.enabled is True and p.created_on is not None
        i = int(p.tags["i"])
        assert p.content_type == ("text/plain" if i % 2 else None)
    assert len(raw.items()) == 30
    assert all("value" not in item for item in raw.items()), "list items carry no value"
    assert raw.bodies[0]["nextLink"].startswith(f"{base}/secrets?")
    assert not raw.bodies[-1].get("nextLink")

    pages = _pages(client.list_properties_of_secrets(max_page_size=7))
    assert [len(p) for p in pages] == [7, 7, 7, 7, 2]
    assert {p.name for page in pages for p in page} == names


def test_list_versions_pages_and_carry_no_value(hsm):
    hsm.ensure_vault("sp", kind="vault")
    client = hsm.secret_client("sp")
    base = hsm.vault_url("sp")
    name = unique_name("many")
    made = [client.set_secret(name, _value(f"v{i}")).properties.version for i in range(27)]

    raw = _RawPages()
    pages = _pages(client.list_properties_of_secret_versions(name, raw_response_hook=raw))
    assert [len(p) for p in pages] == [25, 2]
    items = [p for page in pages for p in page]
    assert sorted(p.version for p in items) == sorted(made)
    for p in items:
        assert p.name == name and p.id == f"{base}/secrets/{name}/{p.version}"
    assert all("value" not in item for item in raw.items())

    pages = _pages(client.list_properties_of_secret_versions(name, max_page_size=10))
    assert [len(p) for p in pages] == [10, 10, 7]
    assert sorted(p.version for page in pages for p in page) == sorted(made)


def test_list_deleted_secrets_pages(hsm):
    hsm.ensure_vault("sd", kind="vault")
    client = hsm.secret_client("sd")
    base = hsm.vault_url("sd")
    names = {f"gone-{i}" for i in range(5)}
    for name in sorted(names):
        client.set_secret(name, _value(name), tags={"n": name})
        _delete(client, name)

    raw = _RawPages()
    pages = _pages(client.list_deleted_secrets(max_page_size=2, raw_response_hook=raw))
    assert [len(p) for p in pages] == [2, 2, 1]
    items = [d for page in pages for d in page]
    assert {d.name for d in items} == names
    for d in items:
        assert isinstance(d, DeletedSecret)
        assert d.recovery_id == f"{base}/deletedsecrets/{d.name}"
        assert d.id == f"{base}/secrets/{d.name}"
        assert d.deleted_date is not None and d.scheduled_purge_date is not None
        assert d.properties.tags == {"n": d.name}
    assert all("value" not in item for item in raw.items())
    assert not list(client.list_properties_of_secrets())


# --------------------------------------------------------------------------------------
# delete / recover / purge
# --------------------------------------------------------------------------------------
def test_delete_get_deleted_recover_and_purge(hsm, client):
    name = unique_name("life")
    first, second = _value("first"), _value("second")
    v1 = client.set_secret(name, first)
    v2 = client.set_secret(name, second, content_type="text/plain", tags={"t": "1"})

    poller = client.begin_delete_secret(name)  # DELETE /secrets/{name}
    deleted = poller.result()
    assert isinstance(deleted, DeletedSecret)
    assert deleted.name == name and deleted.id == v2.id
    assert deleted.recovery_id == f"{hsm.url}/deletedsecrets/{name}"
    assert deleted.properties.tags == {"t": "1"} and deleted.properties.content_type == "text/plain"
    assert deleted.scheduled_purge_date - deleted.deleted_date == timedelta(days=_retention(hsm))
    poller.wait(timeout=60)  # polls GET /deletedsecrets/{name} until 200
    assert poller.status() == "finished"

    with pytest.raises(ResourceNotFoundError) as info:
        client.get_secret(name)
    assert info.value.error.code == "SecretNotFound"
    assert name not in {p.name for p in client.list_properties_of_secrets()}

    raw = _RawPages()
    got = client.get_deleted_secret(name, raw_response_hook=raw)
    assert "value" not in raw.bodies[-1], "a deleted secret is returned without its value"
    assert got.id == v2.id and got.recovery_id == deleted.recovery_id
    assert got.deleted_date == deleted.deleted_date
    assert got.scheduled_purge_date == deleted.scheduled_purge_date
    listed = {d.name: d for d in client.list_deleted_secrets()}
    assert listed[name].recovery_id == deleted.recovery_id

    # deleting it again is a 404, not a second deletion
    with pytest.raises(ResourceNotFoundError):
        client.begin_delete_secret(name)

    poller = client.begin_recover_deleted_secret(name)  # POST /deletedsecrets/{name}/recover
    recovered = poller.result()
    assert isinstance(recovered, SecretProperties)
    assert recovered.id == v2.id
    poller.wait(timeout=60)  # polls GET /secrets/{name}/ until 200
    assert poller.status() == "finished"
    assert client.get_secret(name).value == second
    assert client.get_secret(name, v1.properties.version).value == first
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret(name)

    _delete(client, name)
    assert client.purge_deleted_secret(name) is None  # DELETE /deletedsecrets/{name} -> 204
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret(name)
    assert name not in {d.name for d in client.list_deleted_secrets()}
    # the name is free again, with no history
    fresh = client.set_secret(name, _value("fresh"))
    assert [p.version for p in client.list_properties_of_secret_versions(name)] == [fresh.properties.version]


def test_set_over_a_soft_deleted_name_is_a_conflict(client):
    name = unique_name("taken")
    client.set_secret(name, _value("taken"))
    _delete(client, name)
    with pytest.raises(ResourceExistsError) as info:
        client.set_secret(name, _value("again"))
    err = info.value
    assert err.status_code == 409
    assert err.error.code == "Conflict"
    assert err.error.innererror.get("code") == "ObjectIsDeletedButRecoverable"


# --------------------------------------------------------------------------------------
# backup / restore
# --------------------------------------------------------------------------------------
def test_backup_and_restore(client):
    name = unique_name("bak")
    first, second = _value("first"), _value("second")
    v1 = client.set_secret(name, first, tags={"keep": "me"})
    v2 = client.set_secret(name, second, content_type="text/plain")
    backup = client.backup_secret(name)  # POST /secrets/{name}/backup
    assert isinstance(backup, bytes) and len(backup) > 0
    for value in (first, second):
        assert value.split(":")[1].encode() not in backup, "a backup is sealed"

    # the name is taken while the secret exists...
    with pytest.raises(ResourceExistsError) as info:
        client.restore_secret_backup(backup)
    assert info.value.status_code == 409
    # ...and while it is soft-deleted
    _delete(client, name)
    with pytest.raises(ResourceExistsError) as info:
        client.restore_secret_backup(backup)
    assert info.value.status_code == 409
    assert info.value.error.innererror.get("code") == "ObjectIsDeletedButRecoverable"

    client.purge_deleted_secret(name)
    restored = client.restore_secret_backup(backup)  # POST /secrets/restore
    assert isinstance(restored, SecretProperties)
    assert restored.name == name and restored.id == v2.id
    assert restored.content_type == "text/plain"
    assert client.get_secret(name).value == second
    old = client.get_secret(name, v1.properties.version)
    assert old.value == first and old.properties.tags == {"keep": "me"}
    versions = {p.version for p in client.list_properties_of_secret_versions(name)}
    assert versions == {v1.properties.version, v2.properties.version}


def test_restore_garbage_is_bad_parameter(client):
    with pytest.raises(HttpResponseError) as info:
        client.restore_secret_backup(b"definitely not a localhsm backup blob")
    assert info.value.status_code == 400
    assert info.value.error.code == "BadParameter"


# --------------------------------------------------------------------------------------
# where secrets live: the default vault, kind `vault`, not another Managed HSM
# --------------------------------------------------------------------------------------
def test_vault_of_kind_vault_holds_secrets(hsm):
    hsm.ensure_vault("kv", kind="vault")
    credential = FakeCredential()
    client = hsm.secret_client("kv", credential=credential)
    name = unique_name("kv")
    value = _value("kv")
    s = client.set_secret(name, value)
    assert s.id == f"https://kv.localhost:{hsm.port}/secrets/{name}/{s.properties.version}"
    assert client.get_secret(name).value == value
    assert credential.calls[-1]["scopes"] == [f"https://localhost:{hsm.port}/.default"]
    # vaults are separate: the default vault has no such secret
    with pytest.raises(ResourceNotFoundError):
        hsm.secret_client().get_secret(name)


def test_managed_hsm_vault_refuses_secrets(hsm):
    hsm.ensure_vault("mhsm", kind="managedhsm")
    client = hsm.secret_client("mhsm")
    name = unique_name("nohsm")
    calls = (
        lambda: client.set_secret(name, _value("nohsm")),
        lambda: client.get_secret(name),
        lambda: list(client.list_properties_of_secrets()),
        lambda: list(client.list_deleted_secrets()),
    )
    for call in calls:
        with pytest.raises(HttpResponseError) as info:
            call()
        err = info.value
        assert err.status_code == 400, err
        assert err.error.code == "BadParameter"
        assert "secret" in err.error.message.lower() and "managed hsm" in err.error.message.lower(), \
            err.error.message


# --------------------------------------------------------------------------------------
# purge protection, then the scheduled purge (moves this module's server clock)
# --------------------------------------------------------------------------------------
def test_purge_protection_refuses_purge_until_the_scheduled_purge(hsm):
    vault = hsm.ensure_vault("pps", kind="vault", retentionDays=7, purgeProtection=True)
    assert vault["purgeProtection"] is True and vault["retentionDays"] == 7
    client = hsm.secret_client("pps")

    kept = unique_name("kept")
    kept_value = _value("kept")
    s = client.set_secret(kept, kept_value)
    assert s.properties.recovery_level == "CustomizedRecoverable"
    assert s.properties.recoverable_days == 7
    _delete(client, kept)
    with pytest.raises(HttpResponseError) as info:
        client.purge_deleted_secret(kept)
    assert info.value.status_code == 403
    assert info.value.error.code == "Forbidden"
    client.begin_recover_deleted_secret(kept).wait(timeout=60)
    assert client.get_secret(kept).value == kept_value

    name = unique_name("pp")
    client.set_secret(name, _value("pp"))
    deleted = _delete(client, name)
    assert deleted.scheduled_purge_date - deleted.deleted_date == timedelta(days=7)
    with pytest.raises(HttpResponseError) as info:
        client.purge_deleted_secret(name)
    assert info.value.status_code == 403
    assert info.value.error.code == "Forbidden"
    assert client.get_deleted_secret(name).name == name

    deleted_at = int(deleted.deleted_date.timestamp())
    now = hsm.time_shift(7 * DAY - 120)
    assert now >= deleted_at + 7 * DAY - 120
    assert client.get_deleted_secret(name).name == name, "two minutes early: still there"
    later = hsm.time_shift(121)
    assert later > int(deleted.scheduled_purge_date.timestamp())
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret(name)
    assert name not in {d.name for d in client.list_deleted_secrets()}
    assert client.get_secret(kept).value == kept_value
    assert client.set_secret(name, _value("reborn")).name == name


# --------------------------------------------------------------------------------------
# keep last: no value set above reached the server's output or its disk
# --------------------------------------------------------------------------------------
def test_values_never_reach_logs_or_disk(hsm):
    process = hsm.process
    hsm.close()
    assert process.stop() == 0, process.diagnostics()
    assert len(MARKERS) > 80, "the module set fewer values than it should have"

    log = process.output_text()
    # the scan reads a real trace log: the requests to the secret routes are in it
    assert "/secrets/" in log and "/deletedsecrets/" in log, log[-2000:]
    leaked = [m for m in MARKERS if m in log]
    assert not leaked, f"{len(leaked)} secret values appear in the server's log"

    # the data directory, and with replicas on PostgreSQL also the store's tables
    files = process.stored_files()
    # the scan reads the store's records: a secret's name is metadata, stored in the clear
    assert any(b"list-00" in data for data in files.values()), sorted(files)
    on_disk = [(Path(path).name, m) for path, data in files.items() for m in MARKERS if m.encode() in data]
    assert not on_disk, f"secret values stored unsealed: {on_disk[:5]}"
