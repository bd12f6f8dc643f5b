"""Every api-version each installed SDK package supports, one round trip per client.

The versions come from the packages' own ``ApiVersion`` enums when the tests are
collected, so a newer SDK brings its new versions here by itself. Each case pins the
client to one version (``api_version=``, as the SDK documents), runs a representative
round trip and checks, in the vault's access log, that every call it made was served
under that version. Versions published before 7.0 (which the packages still list) are
refused with 400 ``BadParameter`` naming the version, as localhsm serves 7.0 on.

* keys (``KeyClient``, ``CryptographyClient``): create, get, sign, verify, list, delete
* secrets (``SecretClient``): set, get, delete
* certificates (``CertificateClient``): create self-signed, get, delete
* RBAC (``KeyVaultAccessControlClient``): list role definitions
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable, List, Set

import pytest
from azure.core.exceptions import HttpResponseError
from azure.keyvault.administration import ApiVersion as AdministrationApiVersion
from azure.keyvault.administration import KeyVaultRoleScope
from azure.keyvault.certificates import ApiVersion as CertificatesApiVersion
from azure.keyvault.certificates import CertificatePolicy, WellKnownIssuerNames
from azure.keyvault.keys import ApiVersion as KeysApiVersion
from azure.keyvault.keys.crypto import SignatureAlgorithm
from azure.keyvault.secrets import ApiVersion as SecretsApiVersion

from localhsm_support import FakeCredential, rest_key_op, unique_name

# The data-plane versions Key Vault published before 7.0; localhsm serves 7.0 and later.
BEFORE_7_0 = {"2015-06-01", "2016-10-01"}
# A vault of kind `vault` for secrets and certificates; keys and roles use the default
# vault (a Managed HSM).
KV = "kv"


def _versions(enum: Iterable[Any]) -> List[str]:
    return [v.value for v in enum]


@pytest.fixture(scope="module")
def srv(fresh_server):
    """A server of this module's own, with the access log on in both vaults."""
    fresh_server.ensure_vault(KV, kind="vault")
    for vault in ("default", KV):
        on = fresh_server.mgmt("PATCH", f"vaults/{vault}", {"accessLog": True}).json()
        assert on["accessLog"] is True
    return fresh_server


def _logged(srv, vault: str, who: FakeCredential, version: str, operations: Set[str]) -> None:
    """Every access-log record of `who` in `vault` carries `version`, and `operations` are
    among them."""
    records = srv.mgmt("GET", f"vaults/{vault}/accesslog", params={"principal": who.object_id}).json()["value"]
    assert records, f"no access-log records for the {version} round trip"
    assert {r["operationVersion"] for r in records} == {version}, records
    seen = {r["operationName"] for r in records}
    assert operations <= seen, f"{sorted(operations - seen)} missing from {sorted(seen)}"
    assert all(r["httpStatusCode"] < 300 for r in records), records


def _refused(call, version: str) -> None:
    with pytest.raises(HttpResponseError) as info:
        call()
    assert info.value.status_code == 400, info.value
    assert info.value.error.code == "BadParameter"
    assert f'api-version "{version}" is not supported' in info.value.error.message


@pytest.mark.parametrize("api_version", _versions(KeysApiVersion))
def test_keys(srv, api_version):
    who = FakeCredential()
    keys = srv.key_client(credential=who, api_version=api_version)
    name = unique_name("av")
    if api_version in BEFORE_7_0:
        _refused(lambda: keys.create_ec_key(name, curve="P-256", hardware_protected=True), api_version)
        return
    key = keys.create_ec_key(name, curve="P-256", hardware_protected=True)
    assert keys.get_key(name).id == key.id
    digest = hashlib.sha256(api_version.encode()).digest()
    signed = srv.crypto_client(key.id, credential=who, api_version=api_version).sign(SignatureAlgorithm.es256, digest)
    assert signed.key_id == key.id
    # the server's verify (the SDK's CryptographyClient verifies locally when it can)
    verified = rest_key_op(keys, key.id, "verify", alg="ES256", digest=digest, value=signed.signature)
    assert verified["value"] is True
    refuted = rest_key_op(keys, key.id, "verify", alg="ES256", digest=hashlib.sha256(b"other").digest(),
                          value=signed.signature)
    assert refuted["value"] is False
    assert name in {p.name for p in keys.list_properties_of_keys()}
    deleted = keys.begin_delete_key(name, _polling_interval=0).result()
    assert deleted.name == name and deleted.deleted_date is not None
    _logged(srv, "default", who, api_version,
            {"KeyCreate", "KeyGet", "KeySign", "KeyVerify", "KeyList", "KeyDelete"})


@pytest.mark.parametrize("api_version", _versions(SecretsApiVersion))
def test_secrets(srv, api_version):
    who = FakeCredential()
    secrets = srv.secret_client(KV, credential=who, api_version=api_version)
    name = unique_name("av")
    value = f"secret for {api_version}"
    if api_version in BEFORE_7_0:
        _refused(lambda: secrets.set_secret(name, value), api_version)
        return
    made = secrets.set_secret(name, value, content_type="text/plain")
    got = secrets.get_secret(name)
    assert (got.id, got.value, got.properties.content_type) == (made.id, value, "text/plain")
    deleted = secrets.begin_delete_secret(name, _polling_interval=0).result()
    assert deleted.name == name and deleted.deleted_date is not None
    _logged(srv, KV, who, api_version, {"SecretSet", "SecretGet", "SecretDelete"})


@pytest.mark.parametrize("api_version", _versions(CertificatesApiVersion))
def test_certificates(srv, api_version):
    who = FakeCredential()
    certs = srv.certificate_client(KV, credential=who, api_version=api_version)
    name = unique_name("av")
    policy = CertificatePolicy(issuer_name=WellKnownIssuerNames.self, subject=f"CN={name}",
                               key_type="EC", key_curve_name="P-256", exportable=True)
    if api_version in BEFORE_7_0:
        _refused(lambda: certs.begin_create_certificate(name, policy, _polling_interval=0).result(), api_version)
        return
    cert = certs.begin_create_certificate(name, policy, _polling_interval=0).result(timeout=60)
    got = certs.get_certificate(name)
    assert got.id == cert.id and got.cer == cert.cer and got.cer
    deleted = certs.begin_delete_certificate(name, _polling_interval=0).result()
    assert deleted.name == name and deleted.deleted_on is not None
    _logged(srv, KV, who, api_version, {"CertificateCreate", "CertificateGet", "CertificateDelete"})


@pytest.mark.parametrize("api_version", _versions(AdministrationApiVersion))
def test_role_definitions(srv, api_version):
    who = FakeCredential()
    rbac = srv.access_control_client(credential=who, api_version=api_version)
    if api_version in BEFORE_7_0:
        _refused(lambda: list(rbac.list_role_definitions(KeyVaultRoleScope.GLOBAL)), api_version)
        return
    names = {d.role_name for d in rbac.list_role_definitions(KeyVaultRoleScope.GLOBAL)}
    assert {"Managed HSM Administrator", "Managed HSM Crypto User"} <= names, names
    _logged(srv, "default", who, api_version, {"RoleDefinitionList"})


def test_a_version_later_than_any_known_is_served_and_logged_as_sent(srv):
    later = "2099-01-01-preview"
    who = FakeCredential()
    keys = srv.key_client(credential=who, api_version=later)
    name = unique_name("later")
    key = keys.create_ec_key(name, curve="P-256", hardware_protected=True)
    assert keys.get_key(name).id == key.id
    _logged(srv, "default", who, later, {"KeyCreate", "KeyGet"})
