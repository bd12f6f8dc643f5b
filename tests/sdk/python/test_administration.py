"""Managed HSM administration through the real azure-keyvault-administration clients.

* ``KeyVaultSettingsClient``: list, get and update the account settings Azure defines
  (``AllowKeyManagementOperationsThroughARM``, a boolean, false until changed).
* ``KeyVaultBackupClient``: full backup to a blob container URL (kept by localhsm in
  ``DATA/backups/{account}/{container}/{folder}``), full restore, selective key restore,
  pre-backup and pre-restore, with a SAS token or the managed identity, and polling resumed
  from a continuation token. Restore never overwrites or purges: a key that is already
  there unchanged is left as it is; one changed since the backup fails the whole restore.
* ``KeyVaultAccessControlClient`` custom role definitions: create, get, list, update,
  delete (an unknown one is 404 ``RoleDefinitionNotFound``), and, on a server that
  enforces access control, assigned and enforced like the built-in roles (wildcards in
  ``dataActions``, ``notDataActions`` subtracted, ``assignableScopes`` respected).

Each test module's servers are its own (``fresh_server``, ``enforced_server``), so the
session server's role definitions stay Azure's alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.administration import (
    KeyVaultBackupClient,
    KeyVaultDataAction,
    KeyVaultPermission,
    KeyVaultRoleScope,
    KeyVaultSetting,
    KeyVaultSettingsClient,
    KeyVaultSettingType,
)
from azure.keyvault.keys.crypto import SignatureAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from localhsm_support import (
    SUPPORTED_API_VERSIONS,
    FakeCredential,
    bytes_to_int,
    public_key_from_jwk,
    unique_name,
)

ARM_SETTING = "AllowKeyManagementOperationsThroughARM"
CONTAINER = "https://localbackups.blob.core.windows.net/hsm-backups"
SAS = "sv=2024-11-04&ss=b&srt=co&sp=rwl&se=2030-01-01T00:00:00Z&sig=not-a-real-signature"
DEFINITION_PREFIX = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
CRYPTO_USER = "21dbd100-6940-42c2-9190-5d6cb909625b"
BACKUP_ROLE = "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8"


def settings_client(srv, vault=None, credential=None, **kwargs) -> KeyVaultSettingsClient:
    client = KeyVaultSettingsClient(srv.vault_url(vault), credential or srv.credential,
                                    **srv._client_kwargs(kwargs))
    srv._clients.append(client)
    return client


def backup_client(srv, vault=None, credential=None, **kwargs) -> KeyVaultBackupClient:
    client = KeyVaultBackupClient(srv.vault_url(vault), credential or srv.credential,
                                  **srv._client_kwargs(kwargs))
    srv._clients.append(client)
    return client


def _forbidden(info: pytest.ExceptionInfo) -> None:
    assert info.value.status_code == 403, info.value
    assert info.value.error is not None and info.value.error.code == "Forbidden", info.value


def _verify_es256(jwk, digest: bytes, signature: bytes) -> None:
    half = len(signature) // 2
    der = encode_dss_signature(bytes_to_int(signature[:half]), bytes_to_int(signature[half:]))
    public_key_from_jwk(jwk).verify(der, digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def _delete_and_purge(keys, name: str) -> None:
    keys.begin_delete_key(name).wait()
    keys.purge_deleted_key(name)


# --------------------------------------------------------------------------------------
# settings
# --------------------------------------------------------------------------------------
def test_settings_list_get_and_update(fresh_server):
    client = settings_client(fresh_server)
    listed = list(client.list_settings())
    assert [(s.name, s.value, s.setting_type) for s in listed] == [
        (ARM_SETTING, "false", KeyVaultSettingType.BOOLEAN)]
    got = client.get_setting(ARM_SETTING)
    assert got.getboolean() is False

    updated = client.update_setting(KeyVaultSetting(name=ARM_SETTING, value=True))
    assert (updated.name, updated.value, updated.setting_type) == (ARM_SETTING, "true", KeyVaultSettingType.BOOLEAN)
    assert client.get_setting(ARM_SETTING).getboolean() is True
    assert [s.value for s in client.list_settings()] == ["true"]
    # names are matched without regard to case, as Azure does; the answer spells it Azure's way
    assert client.get_setting(ARM_SETTING.lower()).name == ARM_SETTING
    # settings are per vault
    fresh_server.ensure_vault("hsm2", kind="managedhsm")
    assert settings_client(fresh_server, "hsm2").get_setting(ARM_SETTING).value == "false"

    with pytest.raises(HttpResponseError) as info:
        client.update_setting(KeyVaultSetting(name=ARM_SETTING, value="maybe", setting_type="boolean"))
    assert info.value.status_code == 400 and info.value.error.code == "BadParameter"
    assert '"true" or "false"' in info.value.error.message
    with pytest.raises(HttpResponseError) as info:
        client.get_setting("NoSuchSetting")
    assert info.value.status_code == 400 and ARM_SETTING in info.value.error.message
    assert client.get_setting(ARM_SETTING).value == "true"  # the refusals changed nothing

    assert client.update_setting(KeyVaultSetting(name=ARM_SETTING, value=False)).value == "false"
    assert client.get_setting(ARM_SETTING).getboolean() is False


@pytest.mark.parametrize("api_version", [v for v in SUPPORTED_API_VERSIONS if v not in ("7.2", "7.3", "7.4")])
def test_settings_at_every_api_version_that_has_them(fresh_server, api_version):
    vault = "set-" + api_version.replace(".", "-")
    fresh_server.ensure_vault(vault, kind="managedhsm")
    client = settings_client(fresh_server, vault, api_version=api_version)
    assert client.update_setting(KeyVaultSetting(name=ARM_SETTING, value=True)).value == "true"
    assert [(s.name, s.value) for s in client.list_settings()] == [(ARM_SETTING, "true")]


def test_settings_belong_to_managed_hsms(fresh_server):
    fresh_server.ensure_vault("kvsettings", kind="vault")
    with pytest.raises(HttpResponseError) as info:
        list(settings_client(fresh_server, "kvsettings").list_settings())
    assert info.value.status_code == 400
    assert "not supported in a vault of kind vault" in info.value.error.message


# --------------------------------------------------------------------------------------
# full backup and restore
# --------------------------------------------------------------------------------------
def test_full_backup_then_restore(fresh_server):
    srv = fresh_server
    keys = srv.hsm_with_keys("bk", [])
    ec_key = keys.create_ec_key(unique_name("ec"), curve="P-256", hardware_protected=True)
    rsa_key = keys.create_rsa_key(unique_name("rsa"), size=2048, hardware_protected=True)
    digest = hashlib.sha256(b"signed before the backup").digest()
    signature = srv.crypto_client(ec_key.id).sign(SignatureAlgorithm.es256, digest).signature

    backups = backup_client(srv, "bk")
    poller = backups.begin_backup(CONTAINER, use_managed_identity=True)
    result = poller.result()
    assert poller.status() == "Succeeded"
    assert result.folder_url.startswith(f"{CONTAINER}/mhsm-bk-"), result.folder_url
    folder = result.folder_url.rsplit("/", 1)[1]

    # the folder is named from the container URL, under the data directory
    on_disk = srv.process.data_dir / "backups" / "localbackups" / "hsm-backups" / folder
    manifest = json.loads((on_disk / "manifest.json").read_text())
    assert sorted(manifest["keys"].values()) == sorted([ec_key.name, rsa_key.name])
    for blob in (on_disk / "keys").iterdir():
        data = blob.read_bytes()
        assert data.startswith(b"LHSMBKP1")  # the sealed per-key backup envelope
        assert b'"d"' not in data and b"kty" not in data
        assert blob.stat().st_mode & 0o077 == 0

    # restoring over an unchanged vault changes nothing
    backups.begin_restore(result.folder_url, use_managed_identity=True).wait()
    assert keys.get_key(ec_key.name).id == ec_key.id

    # a purged key comes back with its version and material
    _delete_and_purge(keys, ec_key.name)
    with pytest.raises(ResourceNotFoundError):
        keys.get_key(ec_key.name)
    restore = backups.begin_restore(result.folder_url, sas_token=SAS)
    assert restore.result() is None
    assert restore.status() == "Succeeded"
    back = keys.get_key(ec_key.name)
    assert back.id == ec_key.id
    _verify_es256(back.key, digest, signature)

    # a key changed since the backup is not overwritten: the restore fails and does nothing
    rotated = keys.rotate_key(rsa_key.name)
    _delete_and_purge(keys, ec_key.name)
    with pytest.raises(HttpResponseError) as info:
        backups.begin_restore(result.folder_url, use_managed_identity=True).result()
    assert rsa_key.name in str(info.value) and "nothing was restored" in str(info.value)
    with pytest.raises(ResourceNotFoundError):
        keys.get_key(ec_key.name)
    assert keys.get_key(rsa_key.name).id == rotated.id


def test_selective_key_restore(fresh_server):
    srv = fresh_server
    keys = srv.hsm_with_keys("sel", [])
    one = keys.create_ec_key(unique_name("one"), curve="P-256", hardware_protected=True)
    two = keys.create_ec_key(unique_name("two"), curve="P-384", hardware_protected=True)
    backups = backup_client(srv, "sel")
    folder_url = backups.begin_backup(CONTAINER, sas_token=SAS).result().folder_url

    _delete_and_purge(keys, one.name)
    _delete_and_purge(keys, two.name)
    poller = backups.begin_restore(folder_url, sas_token=SAS, key_name=two.name)
    poller.wait()
    assert poller.status() == "Succeeded"
    assert keys.get_key(two.name).id == two.id
    with pytest.raises(ResourceNotFoundError):
        keys.get_key(one.name)  # only the key named was restored

    # a soft-deleted key of that name is in the way, whatever its purge protection
    keys.begin_delete_key(two.name).wait()
    with pytest.raises(HttpResponseError) as info:
        backups.begin_restore(folder_url, use_managed_identity=True, key_name=two.name).result()
    assert "soft-deleted" in str(info.value)
    keys.purge_deleted_key(two.name)

    with pytest.raises(HttpResponseError) as info:
        backups.begin_restore(folder_url, use_managed_identity=True, key_name="not-in-the-backup").result()
    assert "holds no key named" in str(info.value)


def test_backups_restore_into_another_hsm_of_the_same_store(fresh_server):
    srv = fresh_server
    source = srv.hsm_with_keys("src", [])
    key = source.create_ec_key(unique_name("moved"), curve="P-256", hardware_protected=True)
    folder_url = backup_client(srv, "src").begin_backup(CONTAINER, use_managed_identity=True).result().folder_url
    target = srv.hsm_with_keys("dst", [])
    backup_client(srv, "dst").begin_restore(folder_url, use_managed_identity=True).wait()
    moved = target.get_key(key.name)
    assert moved.properties.version == key.properties.version
    assert moved.key.x == key.key.x and moved.key.y == key.key.y


@pytest.mark.parametrize("api_version", SUPPORTED_API_VERSIONS)
def test_backup_and_restore_at_every_api_version(fresh_server, api_version):
    vault = "bk-" + api_version.replace(".", "-")
    keys = fresh_server.hsm_with_keys(vault, ["versioned"])
    before = keys.get_key("versioned")
    backups = backup_client(fresh_server, vault, api_version=api_version)
    folder_url = backups.begin_backup(CONTAINER, sas_token=SAS).result().folder_url
    _delete_and_purge(keys, "versioned")
    backups.begin_restore(folder_url, sas_token=SAS, key_name="versioned").wait()
    assert keys.get_key("versioned").id == before.id


def test_pre_backup_pre_restore_and_failures(fresh_server):
    srv = fresh_server
    srv.hsm_with_keys("pre", ["pre-key"])
    backups = backup_client(srv, "pre")
    assert backups.begin_pre_backup(CONTAINER, use_managed_identity=True).result() is None
    folder_url = backups.begin_backup(CONTAINER, use_managed_identity=True).result().folder_url
    backups.begin_pre_restore(folder_url, sas_token=SAS).wait()

    missing = f"{CONTAINER}/mhsm-pre-2000010100000000"
    with pytest.raises(HttpResponseError) as info:
        backups.begin_pre_restore(missing, use_managed_identity=True).result()
    assert "there is no full backup" in str(info.value)
    with pytest.raises(HttpResponseError) as info:
        backups.begin_restore(missing, use_managed_identity=True).result()
    assert "there is no full backup" in str(info.value)

    # a malformed container URL, or no way to reach it, is the request's error
    with pytest.raises(HttpResponseError) as info:
        backups.begin_backup("https://localbackups.blob.core.windows.net/", use_managed_identity=True)
    assert info.value.status_code == 400 and info.value.error.code == "BadParameter"
    with pytest.raises(HttpResponseError) as info:
        backups.begin_backup(CONTAINER, sas_token="")
    assert info.value.status_code == 400 and "SAS token" in info.value.error.message


def test_job_status_routes_answer_the_outcome(fresh_server):
    srv = fresh_server
    srv.hsm_with_keys("resume", ["resume-key"])
    backups = backup_client(srv, "resume")
    first = backups.begin_backup(CONTAINER, use_managed_identity=True)
    done = first.result()
    # the SDK's continuation token is the status URL it polls (`Azure-AsyncOperation`)
    status_url = base64.b64decode(first.continuation_token()).decode()
    assert status_url.startswith(f"{srv.vault_url('resume')}/backup/")
    assert status_url.endswith("/pending?api-version=2025-07-01"), status_url
    status = srv.http("GET", status_url)
    assert status.status_code == 200, status.text
    body = status.json()
    assert (body["status"], body["azureStorageBlobContainerUri"]) == ("Succeeded", done.folder_url)
    assert body["endTime"] >= body["startTime"] and len(body["jobId"]) == 32
    assert status_url.split("?")[0].split("/")[-2] == body["jobId"]

    # a restore's poller resumes from its token, through the restore status route
    restore = backups.begin_restore(done.folder_url, use_managed_identity=True)
    restore.wait()
    again = backups.begin_restore(done.folder_url, use_managed_identity=True,
                                  continuation_token=restore.continuation_token())
    again.wait()
    assert again.status() == "Succeeded"
    # a failed job keeps its error for the status route
    failed = backups.begin_restore(f"{CONTAINER}/mhsm-resume-1999", use_managed_identity=True)
    with pytest.raises(HttpResponseError):
        failed.result()
    body = srv.http("GET", base64.b64decode(failed.continuation_token()).decode()).json()
    assert body["status"] == "Failed" and body["error"]["code"] == "BadParameter"
    assert "there is no full backup" in body["error"]["message"]
    # jobs are per vault and per kind
    other = srv.http("GET", status_url.replace("/backup/", "/restore/"))
    assert other.status_code == 404 and other.json()["error"]["code"] == "NotFound"


# --------------------------------------------------------------------------------------
# custom role definitions (access control off)
# --------------------------------------------------------------------------------------
def test_custom_role_definitions_lifecycle(fresh_server):
    client = fresh_server.access_control_client()
    reader = KeyVaultPermission(data_actions=[KeyVaultDataAction.READ_HSM_KEY])
    made = client.set_role_definition(KeyVaultRoleScope.GLOBAL, role_name="Key metadata reader",
                                      description="Reads key metadata", permissions=[reader])
    uuid.UUID(made.name)  # a generated GUID
    assert made.id == DEFINITION_PREFIX + made.name
    assert (made.role_name, made.description, made.role_type) == (
        "Key metadata reader", "Reads key metadata", "CustomRole")
    assert made.type == "Microsoft.Authorization/roleDefinitions"
    assert made.assignable_scopes == ["/"]
    assert made.permissions[0].data_actions == [KeyVaultDataAction.READ_HSM_KEY]
    assert made.permissions[0].not_data_actions == []

    got = client.get_role_definition(KeyVaultRoleScope.GLOBAL, made.name)
    assert (got.id, got.role_name, got.role_type) == (made.id, made.role_name, "CustomRole")
    listed = {d.name: d for d in client.list_role_definitions(KeyVaultRoleScope.GLOBAL)}
    assert listed[made.name].role_type == "CustomRole"
    assert listed[CRYPTO_USER].role_type == "AKVBuiltInRole"

    # the same name updates it
    updated = client.set_role_definition(KeyVaultRoleScope.GLOBAL, name=made.name, role_name="Key metadata reader",
                                         description="changed", permissions=[reader],
                                         assignable_scopes=[KeyVaultRoleScope.KEYS])
    assert (updated.name, updated.description, updated.assignable_scopes) == (made.name, "changed", ["/keys"])
    assert [d.name for d in client.list_role_definitions(KeyVaultRoleScope.GLOBAL)].count(made.name) == 1

    # a role name is unique, a data action must be one Managed HSM has, built-ins stay as they are
    with pytest.raises(HttpResponseError) as info:
        client.set_role_definition(KeyVaultRoleScope.GLOBAL, role_name="Key metadata reader")
    assert info.value.status_code == 400 and "already exists" in info.value.error.message
    with pytest.raises(HttpResponseError) as info:
        client.set_role_definition(KeyVaultRoleScope.GLOBAL,
                                   permissions=[KeyVaultPermission(data_actions=["Microsoft.Compute/*"])])
    assert info.value.status_code == 400 and "names none of Managed HSM's data actions" in info.value.error.message
    with pytest.raises(HttpResponseError) as info:
        client.set_role_definition(KeyVaultRoleScope.GLOBAL, name=CRYPTO_USER, role_name="mine")
    assert info.value.status_code == 400 and "built-in" in info.value.error.message
    with pytest.raises(HttpResponseError) as info:
        client.delete_role_definition(KeyVaultRoleScope.GLOBAL, CRYPTO_USER)
    assert info.value.status_code == 400 and "cannot be deleted" in info.value.error.message

    client.delete_role_definition(KeyVaultRoleScope.GLOBAL, made.name)
    with pytest.raises(ResourceNotFoundError) as info:
        client.get_role_definition(KeyVaultRoleScope.GLOBAL, made.name)
    assert info.value.error.code == "RoleDefinitionNotFound"
    # deleting it again is a 404, which the SDK's delete_role_definition treats as done
    client.delete_role_definition(KeyVaultRoleScope.GLOBAL, made.name)
    gone = fresh_server.http(
        "DELETE", f"{fresh_server.url}/providers/Microsoft.Authorization/roleDefinitions/{made.name}",
        params={"api-version": "7.6"})
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "RoleDefinitionNotFound"
    assert made.name not in {d.name for d in client.list_role_definitions(KeyVaultRoleScope.GLOBAL)}


# --------------------------------------------------------------------------------------
# under --enforce-rbac
# --------------------------------------------------------------------------------------
def test_custom_roles_are_enforced_like_built_in_ones(enforced_server):
    srv = enforced_server
    admin_roles = srv.access_control_client()
    admin_keys = srv.key_client()
    target = admin_keys.create_ec_key(unique_name("kept"), curve="P-256", hardware_protected=True)
    user = FakeCredential(upn="custom@localhsm.test")
    user_keys = srv.key_client(credential=user)

    # every key action but delete: a wildcard less one action
    role = admin_roles.set_role_definition(
        KeyVaultRoleScope.GLOBAL, role_name="Key user who cannot delete",
        permissions=[KeyVaultPermission(data_actions=["Microsoft.KeyVault/managedHsm/keys/*"],
                                        not_data_actions=[KeyVaultDataAction.DELETE_HSM_KEY])])
    with pytest.raises(HttpResponseError) as info:
        user_keys.get_key(target.name)
    _forbidden(info)

    assignment = admin_roles.create_role_assignment(KeyVaultRoleScope.GLOBAL, role.id, user.object_id)
    assert assignment.properties.role_definition_id == role.id
    assert user_keys.get_key(target.name).id == target.id
    made = user_keys.create_ec_key(unique_name("byuser"), curve="P-256", hardware_protected=True)
    digest = hashlib.sha256(b"custom").digest()
    sig = srv.crypto_client(made.id, credential=user).sign(SignatureAlgorithm.es256, digest)
    _verify_es256(made.key, digest, sig.signature)
    with pytest.raises(HttpResponseError) as info:
        user_keys.begin_delete_key(made.name)
    _forbidden(info)
    assert "keys/delete" in info.value.error.message
    # nothing outside keys/*: random bytes, role management, settings, backups
    with pytest.raises(HttpResponseError) as info:
        user_keys.get_random_bytes(8)
    _forbidden(info)
    with pytest.raises(HttpResponseError) as info:
        srv.access_control_client(credential=user).set_role_definition(KeyVaultRoleScope.GLOBAL, role_name="escalate")
    _forbidden(info)
    with pytest.raises(HttpResponseError) as info:
        settings_client(srv, credential=user).get_setting(ARM_SETTING)
    _forbidden(info)
    with pytest.raises(HttpResponseError) as info:
        backup_client(srv, credential=user).begin_backup(CONTAINER, use_managed_identity=True)
    _forbidden(info)

    # a definition still assigned cannot be deleted; once unassigned it can, and the
    # permission goes with it
    with pytest.raises(HttpResponseError) as info:
        admin_roles.delete_role_definition(KeyVaultRoleScope.GLOBAL, role.name)
    assert info.value.status_code == 400 and assignment.name in info.value.error.message
    admin_roles.delete_role_assignment(KeyVaultRoleScope.GLOBAL, assignment.name)
    admin_roles.delete_role_definition(KeyVaultRoleScope.GLOBAL, role.name)
    with pytest.raises(HttpResponseError) as info:
        user_keys.get_key(target.name)
    _forbidden(info)


def test_custom_roles_respect_assignable_scopes(enforced_server):
    srv = enforced_server
    admin_roles = srv.access_control_client()
    key = srv.key_client().create_ec_key(unique_name("scoped"), curve="P-256", hardware_protected=True)
    signer = admin_roles.set_role_definition(
        KeyVaultRoleScope.GLOBAL, role_name="Signer",
        permissions=[KeyVaultPermission(data_actions=[KeyVaultDataAction.SIGN_HSM_KEY])],
        assignable_scopes=[f"/keys/{key.name}"])
    user = FakeCredential()
    with pytest.raises(HttpResponseError) as info:
        admin_roles.create_role_assignment(KeyVaultRoleScope.GLOBAL, signer.id, user.object_id)
    assert info.value.status_code == 400 and "may be assigned at" in info.value.error.message
    a = admin_roles.create_role_assignment(f"/keys/{key.name}", signer.id, user.object_id)
    digest = hashlib.sha256(b"scoped").digest()
    sig = srv.crypto_client(key.id, credential=user).sign(SignatureAlgorithm.es256, digest)
    _verify_es256(key.key, digest, sig.signature)
    with pytest.raises(HttpResponseError) as info:  # sign only: not even read
        srv.key_client(credential=user).get_key(key.name)
    _forbidden(info)
    admin_roles.delete_role_assignment(f"/keys/{key.name}", a.name)
    admin_roles.delete_role_definition(KeyVaultRoleScope.GLOBAL, signer.name)


def test_administration_needs_its_roles(enforced_server):
    srv = enforced_server
    srv.key_client().create_ec_key(unique_name("bkp"), curve="P-256", hardware_protected=True)
    admin_roles = srv.access_control_client()
    # the admin (Managed HSM Administrator among its roles) reads and changes settings
    assert settings_client(srv).get_setting(ARM_SETTING).value in ("true", "false")

    # Crypto User may not back up the HSM; Managed HSM Backup may, without key access
    user = FakeCredential()
    crypto = admin_roles.create_role_assignment(KeyVaultRoleScope.GLOBAL, DEFINITION_PREFIX + CRYPTO_USER,
                                                user.object_id)
    with pytest.raises(HttpResponseError) as info:
        backup_client(srv, credential=user).begin_backup(CONTAINER, use_managed_identity=True)
    _forbidden(info)
    admin_roles.delete_role_assignment(KeyVaultRoleScope.GLOBAL, crypto.name)
    backup = admin_roles.create_role_assignment(KeyVaultRoleScope.GLOBAL, DEFINITION_PREFIX + BACKUP_ROLE,
                                                user.object_id)
    result = backup_client(srv, credential=user).begin_backup(CONTAINER, use_managed_identity=True).result()
    assert result.folder_url.startswith(CONTAINER + "/mhsm-default-")
    # ... but not restore it
    with pytest.raises(HttpResponseError) as info:
        backup_client(srv, credential=user).begin_restore(result.folder_url, use_managed_identity=True)
    _forbidden(info)
    admin_roles.delete_role_assignment(KeyVaultRoleScope.GLOBAL, backup.name)
