"""Access control, access logs and customer-data requests.

* Local RBAC through the real ``KeyVaultAccessControlClient``
  (azure-keyvault-administration): role definitions (Managed HSM's, and Key Vault's data
  roles in vaults that hold secrets), role assignments at ``/``, ``/keys/{name}`` and
  ``/secrets/{name}``, with access control off (the session server).
* ``localhsm serve --enforce-rbac --admin OID`` (``enforced_server``, this module's own):
  a caller without a role gets 403 ``Forbidden``; Crypto User at another key's scope does
  not help; at the key's own scope it does; only an admin may use the management API.
* Access logs (``PATCH /management/vaults/{name}``, ``GET .../accesslog``): who called,
  from where, what, how it ended, and the ``x-ms-request-id`` as ``correlationId``.
* Customer-data export/delete (``POST /management/customer-data/...``) by device ID and by
  principal across several vaults, one of them purge-protected (``fresh_server``, a store
  of this module's own; no time shifts).

Callers are told apart by the ``oid``/``upn`` claims of their (unsigned, JWT-shaped)
tokens: ``FakeCredential`` mints them in-process, ``CliTokenCredential`` gets one from
``localhsm token``.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, Dict, List

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.keyvault.administration import (
    KeyVaultDataAction,
    KeyVaultRoleAssignment,
    KeyVaultRoleDefinition,
    KeyVaultRoleScope,
)
from azure.keyvault.keys.crypto import SignatureAlgorithm
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from localhsm_support import (
    SUPPORTED_API_VERSIONS,
    CliTokenCredential,
    FakeCredential,
    bytes_to_int,
    key_path,
    public_key_from_jwk,
    unique_name,
)

DAY = 86400

# Managed HSM's built-in roles (learn.microsoft.com, "Local RBAC built-in roles for Managed HSM").
BUILT_IN_ROLES = {
    "a290e904-7015-4bba-90c8-60543313cdb4": "Managed HSM Administrator",
    "515eb02d-2335-4d2d-92f2-b1cbdf9c3778": "Managed HSM Crypto Officer",
    "21dbd100-6940-42c2-9190-5d6cb909625b": "Managed HSM Crypto User",
    "4bd23610-cdcf-4971-bdee-bdc562cc28e4": "Managed HSM Policy Administrator",
    "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3": "Managed HSM Crypto Auditor",
    "33413926-3206-4cdd-b39a-83574fe37a17": "Managed HSM Crypto Service Encryption User",
    "21dbd100-6940-42c2-9190-5d6cb909625c": "Managed HSM Crypto Service Release User",
    "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8": "Managed HSM Backup",
    "6efe6056-5259-49d2-8b3d-d3d73544b20b": "Managed HSM Restore",
}
# Key Vault's built-in data roles (learn.microsoft.com, "Azure built-in roles for Security"),
# offered in vaults of kind `vault` and in the default vault, with the data actions Azure
# publishes for them.
KEY_VAULT_ROLES = {
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": ("Key Vault Administrator", ["Microsoft.KeyVault/vaults/*"]),
    "21090545-7ca7-4776-b22c-e363652d74d2": ("Key Vault Reader", [
        "Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"]),
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": ("Key Vault Secrets Officer", ["Microsoft.KeyVault/vaults/secrets/*"]),
    "4633458b-17de-408a-b874-0445c86b69e6": ("Key Vault Secrets User", [
        "Microsoft.KeyVault/vaults/secrets/getSecret/action",
        "Microsoft.KeyVault/vaults/secrets/readMetadata/action"]),
    "a4417e6f-fecd-4de8-b567-7b0420556985": ("Key Vault Certificates Officer", [
        "Microsoft.KeyVault/vaults/certificatecas/*",
        "Microsoft.KeyVault/vaults/certificates/*",
        "Microsoft.KeyVault/vaults/certificatecontacts/write"]),
    "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba": ("Key Vault Certificate User", [
        "Microsoft.KeyVault/vaults/certificates/read",
        "Microsoft.KeyVault/vaults/secrets/getSecret/action",
        "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        "Microsoft.KeyVault/vaults/keys/read"]),
}
SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
CRYPTO_USER = "21dbd100-6940-42c2-9190-5d6cb909625b"
CRYPTO_AUDITOR = "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3"
DEFINITION_PREFIX = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
CRYPTO_USER_ID = DEFINITION_PREFIX + CRYPTO_USER

# JWK members that would carry private material (RFC 7518 6.2.2, 6.3.2, 6.4).
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k", "t"}
REDACTED = "[redacted]"
# `localhsm token` puts this tenant in its tokens (the tenant the server's challenge names).
DEV_TENANT = "00000000-0000-0000-0000-00000000cafe"


def _request_id_hook(sink: List[str]):
    """raw_response_hook that collects each response's x-ms-request-id."""

    def hook(pipeline_response):
        sink.append(pipeline_response.http_response.headers.get("x-ms-request-id"))

    return hook


def _verify_es256(key, digest: bytes, signature: bytes) -> None:
    """Checks a raw (r||s) ES256 signature over a SHA-256 digest with `cryptography`."""
    half = len(signature) // 2
    der = encode_dss_signature(bytes_to_int(signature[:half]), bytes_to_int(signature[half:]))
    public_key_from_jwk(key.key).verify(der, digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def _forbidden(info: pytest.ExceptionInfo) -> None:
    """403 with code Forbidden and inner code AccessDenied (what localhsm sends for RBAC denials)."""
    assert info.value.status_code == 403, info.value
    error = info.value.error
    assert error is not None and error.code == "Forbidden", info.value
    assert (error.innererror or {}).get("code") == "AccessDenied", info.value


def _assignment_names(assignments) -> set:
    return {a.name for a in assignments}


# --------------------------------------------------------------------------------------
# role definitions and role assignments (access control off)
# --------------------------------------------------------------------------------------
def test_list_role_definitions(server):
    client = server.access_control_client()
    definitions: List[KeyVaultRoleDefinition] = list(client.list_role_definitions(KeyVaultRoleScope.GLOBAL))
    by_name = {d.name: d for d in definitions}
    assert set(BUILT_IN_ROLES) <= set(by_name), sorted(by_name)
    for guid, role_name in BUILT_IN_ROLES.items():
        d = by_name[guid]
        assert d.role_name == role_name
        assert d.id == DEFINITION_PREFIX + guid
        assert d.type == "Microsoft.Authorization/roleDefinitions"
        assert d.role_type == "AKVBuiltInRole"
        assert "/" in d.assignable_scopes
        assert d.permissions and all(a.startswith("Microsoft.KeyVault/managedHsm/")
                                     for p in d.permissions for a in p.data_actions), d.permissions

    user_actions = {a for p in by_name[CRYPTO_USER].permissions for a in p.data_actions}
    assert "Microsoft.KeyVault/managedHsm/keys/sign/action" in user_actions
    assert KeyVaultDataAction.SIGN_HSM_KEY in user_actions
    assert KeyVaultDataAction.CREATE_HSM_KEY in user_actions
    # Crypto User cannot purge, export or hand out roles
    assert KeyVaultDataAction.PURGE_DELETED_HSM_KEY not in user_actions
    assert KeyVaultDataAction.EXPORT_HSM_KEY not in user_actions
    assert KeyVaultDataAction.WRITE_ROLE_ASSIGNMENT not in user_actions
    auditor_actions = {a for p in by_name[CRYPTO_AUDITOR].permissions for a in p.data_actions}
    assert KeyVaultDataAction.READ_HSM_KEY in auditor_actions
    assert KeyVaultDataAction.SIGN_HSM_KEY not in auditor_actions

    # the default vault also holds secrets, so it offers Key Vault's data roles too
    assert set(by_name) == set(BUILT_IN_ROLES) | set(KEY_VAULT_ROLES)
    _check_key_vault_roles(by_name)

    # `/keys` lists the same (Managed HSM's role definitions are HSM-wide)
    assert {d.name for d in client.list_role_definitions(KeyVaultRoleScope.KEYS)} == set(by_name)


def _check_key_vault_roles(by_name: Dict[str, KeyVaultRoleDefinition]) -> None:
    for guid, (role_name, data_actions) in KEY_VAULT_ROLES.items():
        d = by_name[guid]
        assert d.role_name == role_name and d.role_type == "BuiltInRole"
        assert d.id == DEFINITION_PREFIX + guid
        assert [a for p in d.permissions for a in p.data_actions] == data_actions, d.permissions
    officer_actions = {a for p in by_name["b86a8fe4-44ce-4948-aee5-eccb2c155cd7"].permissions for a in p.actions}
    assert "Microsoft.Authorization/*/read" in officer_actions


def test_get_role_definition(server):
    client = server.access_control_client()
    d = client.get_role_definition(KeyVaultRoleScope.GLOBAL, CRYPTO_USER)
    assert d.id == CRYPTO_USER_ID and d.role_name == BUILT_IN_ROLES[CRYPTO_USER]
    with pytest.raises(ResourceNotFoundError) as info:
        client.get_role_definition(KeyVaultRoleScope.GLOBAL, str(uuid.uuid4()))
    assert info.value.status_code == 404


def test_role_assignment_lifecycle(server, key_client):
    client = server.access_control_client()
    principal = str(uuid.uuid4())
    key_name = unique_name("ra")
    key_client.create_ec_key(key_name, curve="P-256", hardware_protected=True)
    key_scope = f"/keys/{key_name}"
    global_name = str(uuid.uuid4())

    created: KeyVaultRoleAssignment = client.create_role_assignment(
        KeyVaultRoleScope.GLOBAL, CRYPTO_USER_ID, principal, name=global_name
    )
    assert created.name == global_name
    assert created.role_assignment_id == f"/providers/Microsoft.Authorization/roleAssignments/{global_name}"
    assert created.type == "Microsoft.Authorization/roleAssignments"
    assert created.properties.scope == "/"
    assert created.properties.principal_id == principal
    assert created.properties.role_definition_id == CRYPTO_USER_ID

    # no name given: the SDK picks a UUID
    at_key = client.create_role_assignment(key_scope, CRYPTO_USER_ID, principal)
    assert str(uuid.UUID(at_key.name)) == at_key.name
    assert at_key.properties.scope == key_scope
    assert at_key.role_assignment_id == f"{key_scope}/providers/Microsoft.Authorization/roleAssignments/{at_key.name}"

    got = client.get_role_assignment(KeyVaultRoleScope.GLOBAL, global_name)
    assert (got.name, got.properties.scope, got.properties.principal_id, got.properties.role_definition_id) == (
        global_name, "/", principal, CRYPTO_USER_ID)
    got = client.get_role_assignment(key_scope, at_key.name)
    assert got.properties.scope == key_scope and got.properties.principal_id == principal

    everything = list(client.list_role_assignments(KeyVaultRoleScope.GLOBAL))
    assert all(isinstance(a, KeyVaultRoleAssignment) for a in everything)
    assert {global_name, at_key.name} <= _assignment_names(everything)

    # $filter=atScope(): the key-scoped assignment is listed at its key, never at another key
    at_scope = list(client.list_role_assignments(key_scope, filter="atScope()"))
    assert at_key.name in _assignment_names(at_scope)
    other = list(client.list_role_assignments(f"/keys/{unique_name('other')}", filter="atScope()"))
    assert at_key.name not in _assignment_names(other)
    at_root = list(client.list_role_assignments(KeyVaultRoleScope.GLOBAL, filter="atScope()"))
    assert global_name in _assignment_names(at_root)
    assert at_key.name not in _assignment_names(at_root)

    # re-creating under the same name replaces it (a PUT)
    replaced = client.create_role_assignment(KeyVaultRoleScope.GLOBAL, DEFINITION_PREFIX + CRYPTO_AUDITOR,
                                             principal, name=global_name)
    assert replaced.properties.role_definition_id == DEFINITION_PREFIX + CRYPTO_AUDITOR

    client.delete_role_assignment(KeyVaultRoleScope.GLOBAL, global_name)
    client.delete_role_assignment(key_scope, at_key.name)
    for scope, name in ((KeyVaultRoleScope.GLOBAL, global_name), (key_scope, at_key.name)):
        with pytest.raises(ResourceNotFoundError) as info:
            client.get_role_assignment(scope, name)
        assert info.value.status_code == 404
        assert info.value.error is not None and info.value.error.code == "RoleAssignmentNotFound"
    assert not {global_name, at_key.name} & _assignment_names(client.list_role_assignments(KeyVaultRoleScope.GLOBAL))
    # the SDK swallows the 404 of deleting what is already gone
    client.delete_role_assignment(KeyVaultRoleScope.GLOBAL, global_name)


def test_role_assignment_bad_input(server):
    client = server.access_control_client()
    with pytest.raises(ResourceNotFoundError) as info:  # no such role definition
        client.create_role_assignment(KeyVaultRoleScope.GLOBAL, DEFINITION_PREFIX + str(uuid.uuid4()),
                                      str(uuid.uuid4()))
    assert info.value.status_code == 404 and info.value.error.code == "RoleDefinitionNotFound"
    with pytest.raises(HttpResponseError) as info:  # a Managed HSM role grants nothing on secrets
        client.create_role_assignment("/secrets/s1", CRYPTO_USER_ID, str(uuid.uuid4()))
    assert info.value.status_code == 400 and info.value.error.code == "BadParameter"
    with pytest.raises(HttpResponseError) as info:  # no such scope
        client.create_role_assignment("/certificates/c1", CRYPTO_USER_ID, str(uuid.uuid4()))
    assert info.value.status_code == 400 and info.value.error.code == "BadParameter"


def test_vault_kind_offers_key_vault_roles(server, kv_vault):
    """A `vault` offers Key Vault's data roles, not Managed HSM's: assigning one of those is
    400 BadParameter; a Key Vault role at one secret's scope is listed at that scope."""
    client = server.access_control_client(kv_vault)
    by_name = {d.name: d for d in client.list_role_definitions(KeyVaultRoleScope.GLOBAL)}
    assert set(by_name) == set(KEY_VAULT_ROLES)
    _check_key_vault_roles(by_name)
    with pytest.raises(HttpResponseError) as info:
        client.create_role_assignment(KeyVaultRoleScope.GLOBAL, CRYPTO_USER_ID, str(uuid.uuid4()))
    assert info.value.status_code == 400 and info.value.error.code == "BadParameter"
    principal = str(uuid.uuid4())
    scoped = client.create_role_assignment("/secrets/db-password", DEFINITION_PREFIX + SECRETS_USER, principal)
    try:
        assert scoped.properties.scope == "/secrets/db-password"
        listed = client.list_role_assignments("/secrets/db-password", filter="atScope()")
        assert scoped.name in _assignment_names(listed)
        assert scoped.name not in _assignment_names(client.list_role_assignments("/secrets/other",
                                                                                 filter="atScope()"))
    finally:
        client.delete_role_assignment("/secrets/db-password", scoped.name)


# --------------------------------------------------------------------------------------
# access control enforced (--enforce-rbac --admin OID)
# --------------------------------------------------------------------------------------
def test_enforced_sign_needs_crypto_user_at_that_key(enforced_server):
    srv = enforced_server
    admin_keys = srv.key_client()
    admin_roles = srv.access_control_client()
    k1 = admin_keys.create_ec_key(unique_name("k1"), curve="P-256", hardware_protected=True)
    k2 = admin_keys.create_ec_key(unique_name("k2"), curve="P-256", hardware_protected=True)
    user = FakeCredential(upn="user@localhsm.test")
    digest = hashlib.sha256(b"enforced").digest()

    with pytest.raises(HttpResponseError) as info:
        srv.crypto_client(k1.id, credential=user).sign(SignatureAlgorithm.es256, digest)
    _forbidden(info)
    with pytest.raises(HttpResponseError) as info:
        srv.key_client(credential=user).get_key(k1.name)
    _forbidden(info)

    # Crypto User at another key's scope does not help
    at_k2 = admin_roles.create_role_assignment(f"/keys/{k2.name}", CRYPTO_USER_ID, user.object_id)
    with pytest.raises(HttpResponseError) as info:
        srv.crypto_client(k1.id, credential=user).sign(SignatureAlgorithm.es256, digest)
    _forbidden(info)
    # ... but it does at that key
    sig = srv.crypto_client(k2.id, credential=user).sign(SignatureAlgorithm.es256, digest)
    _verify_es256(k2, digest, sig.signature)

    at_k1 = admin_roles.create_role_assignment(f"/keys/{k1.name}", CRYPTO_USER_ID, user.object_id)
    user_crypto = srv.crypto_client(k1.id, credential=user)
    sig = user_crypto.sign(SignatureAlgorithm.es256, digest)
    assert sig.key_id == k1.id
    _verify_es256(k1, digest, sig.signature)
    with pytest.raises(InvalidSignature):
        _verify_es256(k1, hashlib.sha256(b"other").digest(), sig.signature)
    assert srv.key_client(credential=user).get_key(k1.name).id == k1.id
    # Crypto User may not hand out roles, not even at its own key
    with pytest.raises(HttpResponseError) as info:
        srv.access_control_client(credential=user).create_role_assignment(
            f"/keys/{k1.name}", CRYPTO_USER_ID, str(uuid.uuid4()))
    _forbidden(info)

    # a key-scoped role does not reach HSM-wide operations
    with pytest.raises(HttpResponseError) as info:
        srv.key_client(credential=user).create_ec_key(unique_name("nope"), curve="P-256", hardware_protected=True)
    _forbidden(info)

    # removing the assignment takes the permission away again
    admin_roles.delete_role_assignment(f"/keys/{k1.name}", at_k1.name)
    with pytest.raises(HttpResponseError) as info:
        srv.crypto_client(k1.id, credential=user).sign(SignatureAlgorithm.es256, digest)
    _forbidden(info)
    admin_roles.delete_role_assignment(f"/keys/{k2.name}", at_k2.name)


def test_enforced_global_crypto_user(enforced_server):
    srv = enforced_server
    user = FakeCredential()
    a = srv.access_control_client().create_role_assignment(KeyVaultRoleScope.GLOBAL, CRYPTO_USER_ID, user.object_id)
    try:
        keys = srv.key_client(credential=user)
        key = keys.create_ec_key(unique_name("g"), curve="P-256", hardware_protected=True)
        digest = hashlib.sha256(b"global").digest()
        _verify_es256(key, digest, srv.crypto_client(key.id, credential=user).sign(SignatureAlgorithm.es256,
                                                                                    digest).signature)
        assert len(keys.get_random_bytes(16)) == 16
        # Crypto User may not purge (Crypto Officer's job)
        keys.begin_delete_key(key.name).wait()
        with pytest.raises(HttpResponseError) as info:
            keys.purge_deleted_key(key.name)
        _forbidden(info)
        srv.key_client().purge_deleted_key(key.name)  # the admin may
    finally:
        srv.access_control_client().delete_role_assignment(KeyVaultRoleScope.GLOBAL, a.name)


def test_enforced_user_cannot_manage_roles(enforced_server):
    srv = enforced_server
    user = FakeCredential()
    key = srv.key_client().create_ec_key(unique_name("rk"), curve="P-256", hardware_protected=True)
    user_roles = srv.access_control_client(credential=user)
    with pytest.raises(HttpResponseError) as info:
        user_roles.create_role_assignment(KeyVaultRoleScope.GLOBAL, CRYPTO_USER_ID, user.object_id)
    _forbidden(info)
    with pytest.raises(HttpResponseError) as info:
        list(user_roles.list_role_assignments(KeyVaultRoleScope.GLOBAL))
    _forbidden(info)

    # Crypto User (HSM-wide) may read roles but still not hand them out or remove them
    admin_roles = srv.access_control_client()
    mine = admin_roles.create_role_assignment(KeyVaultRoleScope.GLOBAL, CRYPTO_USER_ID, user.object_id)
    assert mine.name in _assignment_names(user_roles.list_role_assignments(KeyVaultRoleScope.GLOBAL))
    assert {d.name for d in user_roles.list_role_definitions(KeyVaultRoleScope.GLOBAL)} >= set(BUILT_IN_ROLES)
    with pytest.raises(HttpResponseError) as info:
        user_roles.create_role_assignment(f"/keys/{key.name}", CRYPTO_USER_ID, str(uuid.uuid4()))
    _forbidden(info)
    with pytest.raises(HttpResponseError) as info:
        user_roles.delete_role_assignment(KeyVaultRoleScope.GLOBAL, mine.name)
    _forbidden(info)
    admin_roles.delete_role_assignment(KeyVaultRoleScope.GLOBAL, mine.name)
    with pytest.raises(HttpResponseError) as info:
        list(user_roles.list_role_definitions(KeyVaultRoleScope.GLOBAL))
    _forbidden(info)


def test_enforced_management_api_needs_an_admin(enforced_server):
    srv = enforced_server
    user = FakeCredential()
    for method, path, body in (("GET", "vaults", None), ("PATCH", "vaults/default", {"accessLog": True}),
                               ("GET", "vaults/default/accesslog", None),
                               ("POST", "customer-data/export", {"principal": user.object_id}),
                               ("POST", "time-shift", {"seconds": 1})):
        resp = srv.mgmt(method, path, body, expect=(403,), credential=user)
        assert resp.json()["error"]["code"] == "Forbidden", resp.text
    # the dev clock is on (--dev-clock): the user above was refused as a non-admin; the admin may shift
    assert srv.mgmt("POST", "time-shift", {"seconds": 0}).json()["offsetSeconds"] >= 0
    # the CLI's dev token names the admin just as well as an in-process one
    admin_cli = CliTokenCredential(srv.credential.object_id, upn="admin@localhsm.test")
    assert admin_cli.claims["oid"] == srv.credential.object_id and admin_cli.claims["upn"] == "admin@localhsm.test"
    assert "default" in {v["name"] for v in srv.mgmt("GET", "vaults", credential=admin_cli).json()["value"]}


# --------------------------------------------------------------------------------------
# access logs (enforced server: denied calls are logged too)
# --------------------------------------------------------------------------------------
def _log(srv, principal: str, **params: Any) -> List[Dict[str, Any]]:
    body = srv.mgmt("GET", "vaults/default/accesslog", params={"principal": principal, **params}).json()
    return body["value"]


def test_access_log_names_principal_ip_operation_and_status(enforced_server):
    srv = enforced_server
    on = srv.mgmt("PATCH", "vaults/default", {"accessLog": True, "logRetentionDays": 30}).json()
    assert on["accessLog"] is True and on["logRetentionDays"] == 30
    assert srv.mgmt("GET", "vaults/default").json()["accessLog"] is True

    alice = FakeCredential(upn="alice@localhsm.test")
    bob = CliTokenCredential(str(uuid.uuid4()), upn="bob@localhsm.test")
    key = srv.key_client().create_ec_key(unique_name("log"), curve="P-256", hardware_protected=True)
    srv.access_control_client().create_role_assignment(f"/keys/{key.name}", CRYPTO_USER_ID, alice.object_id)
    digest = hashlib.sha256(b"audited").digest()

    alice_ids: List[str] = []
    sig = srv.crypto_client(key.id, credential=alice).sign(SignatureAlgorithm.es256, digest,
                                                           raw_response_hook=_request_id_hook(alice_ids))
    _verify_es256(key, digest, sig.signature)
    # one call through send_request, reading x-ms-request-id off the response
    resp = srv.key_client(credential=alice).send_request(HttpRequest("GET", f"/keys/{key.name}"))
    assert resp.status_code == 200
    alice_get_id = resp.headers["x-ms-request-id"]

    bob_ids: List[str] = []
    with pytest.raises(HttpResponseError) as info:
        srv.crypto_client(key.id, credential=bob).sign(SignatureAlgorithm.es256, digest,
                                                       raw_response_hook=_request_id_hook(bob_ids))
    _forbidden(info)
    assert info.value.response.headers["x-ms-request-id"] == bob_ids[-1]

    # alice's records
    records = _log(srv, alice.object_id)
    assert records, "no access-log records for alice"
    for r in records:
        assert r["identity"]["claim"]["oid"] == alice.object_id
        assert r["identity"]["claim"]["upn"] == "alice@localhsm.test"
        # the SDK asks for a token in the tenant the server's challenge names
        assert r["identity"]["claim"]["tid"] == DEV_TENANT
        assert r["callerIpAddress"] == "127.0.0.1"
        assert r["category"] == "AuditEvent" and r["vault"] == "default"
        assert r["operationVersion"] in SUPPORTED_API_VERSIONS
        assert isinstance(r["timeUnix"], int) and r["time"].endswith("Z")
        assert isinstance(r["durationMs"], int)
        assert "?" not in r["requestUri"]
    by_id = {r["correlationId"]: r for r in records}
    signed = by_id[alice_ids[-1]]
    assert signed["operationName"] == "KeySign"
    assert (signed["httpStatusCode"], signed["resultType"], signed["resultSignature"]) == (200, "Success", "OK")
    assert "resultDescription" not in signed
    assert signed["resourceId"] == key.id
    assert signed["requestUri"] == f"{key_path(key.id)}/sign"
    got = by_id[alice_get_id]
    assert (got["operationName"], got["httpStatusCode"], got["requestUri"]) == ("KeyGet", 200, f"/keys/{key.name}")

    # bob's records: the denied sign, with Key Vault's error code
    bob_records = _log(srv, bob.object_id)
    assert bob_records and {r["identity"]["claim"]["oid"] for r in bob_records} == {bob.object_id}
    denied = {r["correlationId"]: r for r in bob_records}[bob_ids[-1]]
    assert denied["operationName"] == "KeySign"
    assert (denied["httpStatusCode"], denied["resultType"], denied["resultSignature"]) == (403, "Failure", "Forbidden")
    assert denied["resultDescription"] == "Forbidden"
    assert denied["identity"]["claim"] == {"oid": bob.object_id, "upn": "bob@localhsm.test", "tid": DEV_TENANT}
    assert denied["callerIpAddress"] == "127.0.0.1"
    assert not {r["correlationId"] for r in bob_records} & set(by_id)

    # query parameters: limit, since (oldest first)
    assert _log(srv, alice.object_id, limit=1) == records[:1]
    assert _log(srv, alice.object_id, since=records[-1]["timeUnix"] + 3600) == []
    assert srv.mgmt("GET", "vaults/default/accesslog", params={"limit": "many"}, expect=(400,)).json()["error"][
        "code"] == "BadParameter"
    # management calls are not data-plane calls and are not logged
    assert not [r for r in _log(srv, srv.credential.object_id) if "/management" in r["requestUri"]]

    # off again: no more records
    srv.mgmt("PATCH", "vaults/default", {"accessLog": False})
    srv.crypto_client(key.id, credential=alice).sign(SignatureAlgorithm.es256, digest)
    assert len(_log(srv, alice.object_id)) == len(records)


# --------------------------------------------------------------------------------------
# customer-data requests (a store of this module's own, access control off)
# --------------------------------------------------------------------------------------
def _vault(srv, name: str, **settings: Any) -> str:
    srv.ensure_vault(name, **settings)
    return name


def _export(srv, **subject: str) -> Dict[str, Any]:
    return srv.mgmt("POST", "customer-data/export", subject).json()


def _by_vault(export: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {v["vault"]: v for v in export["vaults"]}


def _no_private_members(export: Dict[str, Any]) -> None:
    for v in export["vaults"]:
        for k in v["keys"] + v["deletedKeys"]:
            for version in k["versions"]:
                leaked = PRIVATE_JWK_MEMBERS & set(version["key"])
                assert not leaked, f"{v['vault']}/{k['name']} exports {sorted(leaked)}"


def test_customer_data_by_device_id(fresh_server):
    srv = fresh_server
    hsm = _vault(srv, "cd-hsm", kind="managedhsm")
    kv = _vault(srv, "cd-kv", kind="vault")
    pp = _vault(srv, "cd-pp", kind="managedhsm", purgeProtection=True, retentionDays=7)
    device = f"sensor-{uuid.uuid4().hex[:8]}"
    tags = {"deviceId": device, "site": "lab"}

    clients = {v: srv.key_client(v) for v in ("default", hsm, kv, pp)}
    tagged = {
        ("default", clients["default"].create_ec_key(unique_name("dev-ec"), curve="P-256",
                                                     hardware_protected=True, tags=tags).name),
        ("default", clients["default"].create_oct_key(unique_name("dev-oct"), size=256,
                                                      hardware_protected=True, tags=tags).name),
        (hsm, clients[hsm].create_rsa_key(unique_name("dev-rsa"), size=2048, hardware_protected=True,
                                          tags=tags).name),
        (kv, clients[kv].create_ec_key(unique_name("dev-kv"), curve="P-384", tags=tags).name),
        (pp, clients[pp].create_ec_key(unique_name("dev-pp"), curve="P-256", hardware_protected=True,
                                       tags=tags).name),
    }
    # tagged, then soft-deleted before the request: found among the deleted keys
    gone = clients[hsm].create_ec_key(unique_name("dev-gone"), curve="P-256", hardware_protected=True, tags=tags).name
    clients[hsm].begin_delete_key(gone).wait()
    # a key whose *older* version carries the device (the newer one does not)
    rotated = clients[kv].create_ec_key(unique_name("dev-old"), curve="P-256", tags=tags)
    newer = clients[kv].create_ec_key(rotated.name, curve="P-256", tags={"deviceId": "someone-else"})
    tagged.add((kv, rotated.name))
    # not about this device: left alone
    other = clients["default"].create_ec_key(unique_name("other"), curve="P-256", hardware_protected=True,
                                             tags={"deviceId": device + "-x"})
    plain = clients[pp].create_ec_key(unique_name("plain"), curve="P-256", hardware_protected=True)

    export = _export(srv, deviceId=device)
    assert export["subject"] == f"device {device}"
    assert isinstance(export["generated"], int)
    vaults = _by_vault(export)
    assert set(vaults) == {"default", hsm, kv, pp}
    live = {(v, k["name"]) for v, body in vaults.items() for k in body["keys"]}
    assert live == tagged
    assert {(v, k["name"]) for v, body in vaults.items() for k in body["deletedKeys"]} == {(hsm, gone)}
    deleted_entry = vaults[hsm]["deletedKeys"][0]
    assert deleted_entry["deletedDate"] and deleted_entry["scheduledPurgeDate"] > deleted_entry["deletedDate"]
    for body in vaults.values():
        assert body["vaultDeleted"] is False and body["roleAssignments"] == [] and body["accessLog"] == []
        for k in body["keys"] + body["deletedKeys"]:
            assert k["versions"] and all(ver["tags"]["deviceId"] == device for ver in k["versions"])
    # only the matching version of the rotated key
    old = next(k for k in vaults[kv]["keys"] if k["name"] == rotated.name)
    assert [ver["version"] for ver in old["versions"]] == [rotated.properties.version]
    assert newer.properties.version != rotated.properties.version
    # public parts only: no d/p/q/.../k anywhere, but the public members are there
    _no_private_members(export)
    by_name = {k["name"]: k for body in vaults.values() for k in body["keys"]}
    rsa_jwk = by_name[next(n for v, n in tagged if n.startswith("dev-rsa"))]["versions"][0]["key"]
    assert rsa_jwk["n"] and rsa_jwk["e"]
    ec_jwk = by_name[next(n for v, n in tagged if n.startswith("dev-ec"))]["versions"][0]["key"]
    assert ec_jwk["crv"] == "P-256" and ec_jwk["x"] and ec_jwk["y"]
    assert by_name[next(n for v, n in tagged if n.startswith("dev-oct"))]["versions"][0]["kty"] == "oct-HSM"

    # a tag subject finds the same keys (exact, case-sensitive tag value)
    by_tag = _export(srv, tag=f"deviceId={device}")
    assert {(v["vault"], k["name"]) for v in by_tag["vaults"] for k in v["keys"]} == tagged

    # delete
    report = srv.mgmt("POST", "customer-data/delete", {"deviceId": device}).json()
    assert report["subject"] == f"device {device}"
    assert set(report["keysDeleted"]) == {f"{v}/{n}" for v, n in tagged}
    unprotected = {f"{v}/{n}" for v, n in tagged if v != pp} | {f"{hsm}/{gone}"}
    assert set(report["keysPurged"]) == unprotected
    pp_name = next(n for v, n in tagged if v == pp)
    assert len(report["keysAwaitingPurge"]) == 1
    waiting = report["keysAwaitingPurge"][0]
    assert (waiting["vault"], waiting["name"]) == (pp, pp_name)
    assert "purge protection" in waiting["reason"]
    deleted_pp = clients[pp].get_deleted_key(pp_name)
    assert waiting["scheduledPurgeDate"] == int(deleted_pp.scheduled_purge_date.timestamp())
    assert waiting["scheduledPurgeDate"] - int(deleted_pp.deleted_date.timestamp()) == 7 * DAY
    assert report["roleAssignmentsRemoved"] == [] and report["accessLogRecordsRedacted"] == 0

    # what the SDK sees now
    for v, n in tagged | {(hsm, gone)}:
        with pytest.raises(ResourceNotFoundError):
            clients[v].get_key(n)
        if v != pp:
            with pytest.raises(ResourceNotFoundError):
                clients[v].get_deleted_key(n)
    with pytest.raises(HttpResponseError) as info:  # still purge-protected
        clients[pp].purge_deleted_key(pp_name)
    assert info.value.status_code == 403
    assert clients["default"].get_key(other.name).id == other.id
    assert clients[pp].get_key(plain.name).id == plain.id

    # export again: only the purge-protected key is left, soft-deleted
    again = _export(srv, deviceId=device)
    assert [v["vault"] for v in again["vaults"]] == [pp]
    left = again["vaults"][0]
    assert left["keys"] == [] and [k["name"] for k in left["deletedKeys"]] == [pp_name]
    assert left["deletedKeys"][0]["scheduledPurgeDate"] == waiting["scheduledPurgeDate"]
    _no_private_members(again)
    # deleting again is idempotent: nothing new to delete, the protected key still waits
    report = srv.mgmt("POST", "customer-data/delete", {"deviceId": device}).json()
    assert report["keysDeleted"] == [] and report["keysPurged"] == []
    assert [(w["vault"], w["name"]) for w in report["keysAwaitingPurge"]] == [(pp, pp_name)]


def test_customer_data_in_soft_deleted_vaults_nothing_comes_back_with_the_vault(fresh_server):
    srv = fresh_server
    device = f"meter-{uuid.uuid4().hex[:8]}"
    doomed = _vault(srv, "cd-doomed", kind="managedhsm", retentionDays=7)
    doomed_pp = _vault(srv, "cd-doomed-pp", kind="managedhsm", retentionDays=7, purgeProtection=True)
    keys = {v: srv.key_client(v).create_ec_key(unique_name("m"), curve="P-256", hardware_protected=True,
                                               tags={"deviceId": device}).name
            for v in (doomed, doomed_pp)}
    deleted = {v: srv.mgmt("DELETE", f"vaults/{v}", expect=(200,)).json() for v in keys}
    export = _by_vault(_export(srv, deviceId=device))
    assert export[doomed_pp]["vaultDeleted"] is True
    assert [k["name"] for k in export[doomed_pp]["keys"]] == [keys[doomed_pp]]
    assert "awaitingPurge" not in export[doomed_pp]["keys"][0]  # live: a delete removes it

    # soft-deleted in the soft-deleted vaults; purged unless purge protection holds it
    report = srv.mgmt("POST", "customer-data/delete", {"deviceId": device}).json()
    assert sorted(report["keysDeleted"]) == sorted(f"{v}/{n}" for v, n in keys.items())
    assert report["keysPurged"] == [f"{doomed}/{keys[doomed]}"]
    # it goes with the vault, whose date comes first
    assert [(w["vault"], w["name"], w["scheduledPurgeDate"]) for w in report["keysAwaitingPurge"]] == [
        (doomed_pp, keys[doomed_pp], deleted[doomed_pp]["scheduledPurgeDate"])]
    again = _export(srv, deviceId=device)
    assert [v["vault"] for v in again["vaults"]] == [doomed_pp] and "note" in again
    assert "purge protection" in again["vaults"][0]["deletedKeys"][0]["awaitingPurge"]

    # recovering the vaults gives the keys back soft-deleted (or not at all), never live
    for v in keys:
        srv.mgmt("POST", f"vaults/{v}/recover", expect=(200,))
        with pytest.raises(ResourceNotFoundError):
            srv.key_client(v).get_key(keys[v])
    with pytest.raises(ResourceNotFoundError):
        srv.key_client(doomed).get_deleted_key(keys[doomed])
    held = srv.key_client(doomed_pp).get_deleted_key(keys[doomed_pp])
    assert held.properties.tags == {"deviceId": device}
    with pytest.raises(HttpResponseError) as info:
        srv.key_client(doomed_pp).purge_deleted_key(keys[doomed_pp])
    assert info.value.status_code == 403


def test_customer_data_by_principal(fresh_server):
    srv = fresh_server
    hsm = _vault(srv, "cd-hsm", kind="managedhsm")
    srv.mgmt("PATCH", "vaults/default", {"accessLog": True})
    subject = FakeCredential(upn=f"subject-{uuid.uuid4().hex[:6]}@localhsm.test")
    bystander = FakeCredential(upn="bystander@localhsm.test")

    roles = {v: srv.access_control_client(v) for v in ("default", hsm)}
    owned = srv.key_client().create_ec_key(unique_name("owned"), curve="P-256", hardware_protected=True,
                                           tags={"owner": subject.object_id})
    assignments = {
        ("default", roles["default"].create_role_assignment(KeyVaultRoleScope.GLOBAL, CRYPTO_USER_ID,
                                                            subject.object_id).name),
        ("default", roles["default"].create_role_assignment(f"/keys/{owned.name}", CRYPTO_USER_ID,
                                                            subject.object_id).name),
        (hsm, roles[hsm].create_role_assignment(KeyVaultRoleScope.GLOBAL, DEFINITION_PREFIX + CRYPTO_AUDITOR,
                                                subject.object_id).name),
    }
    kept = roles["default"].create_role_assignment(KeyVaultRoleScope.GLOBAL, CRYPTO_USER_ID, bystander.object_id)

    # calls by the subject and by someone else, logged in the default vault
    subject_ids: List[str] = []
    hook = _request_id_hook(subject_ids)
    mine = srv.key_client(credential=subject).create_ec_key(unique_name("mine"), curve="P-256",
                                                            hardware_protected=True, raw_response_hook=hook)
    digest = hashlib.sha256(b"subject").digest()
    srv.crypto_client(mine.id, credential=subject).sign(SignatureAlgorithm.es256, digest, raw_response_hook=hook)
    bystander_ids: List[str] = []
    srv.key_client(credential=bystander).get_key(mine.name, raw_response_hook=_request_id_hook(bystander_ids))
    subject_records = _log(srv, subject.object_id)
    assert {r["correlationId"] for r in subject_records} >= set(subject_ids)
    assert all(r["identity"]["claim"]["upn"] == subject.upn for r in subject_records)

    export = _export(srv, principal=subject.object_id)
    assert export["subject"] == f"principal {subject.object_id}"
    vaults = _by_vault(export)
    assert {(v, a["name"]) for v, body in vaults.items() for a in body["roleAssignments"]} == assignments
    assert all(a["principalId"] == subject.object_id for body in vaults.values() for a in body["roleAssignments"])
    assert [k["name"] for k in vaults["default"]["keys"]] == [owned.name]  # tagged with its object ID
    assert [r["correlationId"] for r in vaults["default"]["accessLog"]] == [r["correlationId"]
                                                                           for r in subject_records]
    assert vaults[hsm]["accessLog"] == []  # hsm's log is off
    _no_private_members(export)
    # the same person by UPN: their log records (role assignments name object IDs only)
    by_upn = _by_vault(_export(srv, upn=subject.upn))
    assert set(by_upn) == {"default"} and len(by_upn["default"]["accessLog"]) == len(subject_records)

    report = srv.mgmt("POST", "customer-data/delete", {"principal": subject.object_id}).json()
    assert set(report["roleAssignmentsRemoved"]) == {f"{v}/{n}" for v, n in assignments}
    assert report["keysDeleted"] == [f"default/{owned.name}"]
    assert report["keysPurged"] == [f"default/{owned.name}"]
    assert report["keysAwaitingPurge"] == []
    assert report["accessLogRecordsRedacted"] == len(subject_records)

    # assignments: gone, through the SDK; the bystander's stays
    for v, n in assignments:
        with pytest.raises(ResourceNotFoundError):
            roles[v].get_role_assignment(KeyVaultRoleScope.GLOBAL, n)
    names = _assignment_names(roles["default"].list_role_assignments(KeyVaultRoleScope.GLOBAL))
    assert kept.name in names and not names & {n for _, n in assignments}
    with pytest.raises(ResourceNotFoundError):
        srv.key_client().get_key(owned.name)
    assert srv.key_client().get_key(mine.name).id == mine.id  # untagged: not the subject's data

    # log records: the subject's are redacted (who and from where), the rest is kept
    assert _log(srv, subject.object_id) == []
    everything = {r["correlationId"]: r
                  for r in srv.mgmt("GET", "vaults/default/accesslog").json()["value"]}
    for cid in (r["correlationId"] for r in subject_records):
        r = everything[cid]
        assert r["identity"]["claim"]["oid"] == REDACTED and r["identity"]["claim"]["upn"] == REDACTED
        assert r["callerIpAddress"] == REDACTED
        assert r["operationName"] in {"KeyCreate", "KeyGet", "KeySign"} and r["httpStatusCode"] == 200
    assert everything[bystander_ids[-1]]["identity"]["claim"]["oid"] == bystander.object_id
    assert everything[bystander_ids[-1]]["callerIpAddress"] == "127.0.0.1"
    assert _export(srv, principal=subject.object_id)["vaults"] == []
    assert _export(srv, upn=subject.upn)["vaults"] == []
    srv.mgmt("PATCH", "vaults/default", {"accessLog": False})
    roles["default"].delete_role_assignment(KeyVaultRoleScope.GLOBAL, kept.name)


@pytest.mark.parametrize("body", [{}, {"principal": "a", "deviceId": "b"}, {"tag": "novalue"},
                                  {"deviceid": "wrong-case"}])
def test_customer_data_request_names_exactly_one_subject(fresh_server, body):
    for action in ("export", "delete"):
        resp = fresh_server.mgmt("POST", f"customer-data/{action}", body, expect=(400,))
        assert resp.json()["error"]["code"] == "BadParameter", resp.text
