"""KeyClient surface: create / import / get / update / list / rotate / rng, vault kinds,
api versions and the error shapes the SDK turns into exceptions."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.keys import JsonWebKey, KeyClient, KeyCurveName, KeyOperation, KeyType
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from localhsm_support import (
    CURVES,
    MHSM_SCOPE,
    RSA_OPS,
    SUPPORTED_API_VERSIONS,
    FakeCredential,
    ec_private_jwk,
    rsa_private_jwk,
    unique_name,
)

E_65537 = b"\x01\x00\x01"


def _utc(dt: datetime) -> datetime:
    return dt.replace(microsecond=0, tzinfo=timezone.utc)


def _vault_retention(server, vault="default") -> int:
    return server.mgmt("GET", f"vaults/{vault}").json()["retentionDays"]


def _assert_common(server, key, name, vault=None):
    base = server.vault_url(vault)
    assert key.name == name
    assert key.properties.version, "a created key must have a version"
    assert key.id == f"{base}/keys/{name}/{key.properties.version}"
    assert key.key.kid == key.id
    assert key.properties.vault_url == base
    assert key.properties.enabled is True
    assert key.properties.created_on is not None and key.properties.updated_on is not None
    assert key.properties.created_on.tzinfo is not None
    for private in ("d", "p", "q", "dp", "dq", "qi", "k"):
        assert getattr(key.key, private) is None, f"private JWK member {private!r} must never be returned"


def _created(server, prefix, create):
    """The key `create(name)` makes under a fresh name, after the checks every new key passes."""
    name = unique_name(prefix)
    key = create(name)
    _assert_common(server, key, name)
    return key


# --------------------------------------------------------------------------------------
# create
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("curve", ["P-256", "P-384", "P-521", "P-256K"])
def test_create_ec_hsm_key(server, key_client, curve):
    key = _created(server, "ec", lambda name: key_client.create_ec_key(
        name, curve=curve, hardware_protected=True, tags={"suite": "python"}))
    assert key.key_type == KeyType.ec_hsm
    assert key.key.crv == curve
    _, coord = CURVES[curve]
    assert len(key.key.x) == coord and len(key.key.y) == coord
    assert {"sign", "verify"} <= set(key.key_operations)
    assert key.properties.tags == {"suite": "python"}
    assert key.properties.recoverable_days == _vault_retention(server)
    # the point must be on the curve: cryptography refuses it otherwise
    curve_cls, _ = CURVES[curve]
    ec.EllipticCurvePublicNumbers(int.from_bytes(key.key.x, "big"), int.from_bytes(key.key.y, "big"),
                                  curve_cls()).public_key()


@pytest.mark.parametrize("size", [2048, 3072, 4096])
def test_create_rsa_hsm_key(server, key_client, size):
    key = _created(server, f"rsa{size}",
                   lambda name: key_client.create_rsa_key(name, size=size, hardware_protected=True))
    assert key.key_type == KeyType.rsa_hsm
    assert len(key.key.n) == size // 8
    assert key.key.n[0] & 0x80, "modulus must have its top bit set (exact key size)"
    assert key.key.e == E_65537
    assert RSA_OPS <= set(key.key_operations)


@pytest.mark.parametrize("size", [128, 192, 256])
def test_create_oct_hsm_key_on_managed_hsm(server, key_client, size):
    key = _created(server, f"aes{size}",
                   lambda name: key_client.create_oct_key(name, size=size, hardware_protected=True))
    assert key.key_type == KeyType.oct_hsm
    assert key.key.k is None


def test_create_with_key_ops_attributes_and_tags(server, key_client):
    name = unique_name("attrs")
    nbf = _utc(datetime.now(timezone.utc) - timedelta(days=1))
    exp = _utc(datetime.now(timezone.utc) + timedelta(days=3650))
    key = key_client.create_ec_key(
        name,
        curve="P-256",
        hardware_protected=True,
        key_operations=[KeyOperation.sign],
        not_before=nbf,
        expires_on=exp,
        tags={"a": "1", "b": "two"},
    )
    assert key.key_operations == ["sign"]
    assert key.properties.not_before == nbf
    assert key.properties.expires_on == exp
    assert key.properties.tags == {"a": "1", "b": "two"}
    fetched = key_client.get_key(name)
    assert fetched.key_operations == ["sign"]
    assert fetched.properties.not_before == nbf and fetched.properties.expires_on == exp


def test_create_disabled_key(server, key_client):
    name = unique_name("disabled")
    key = key_client.create_ec_key(name, curve="P-256", hardware_protected=True, enabled=False)
    assert key.properties.enabled is False


# --------------------------------------------------------------------------------------
# import (JWK with private parts)
# --------------------------------------------------------------------------------------
def test_import_rsa_key_with_private_parts(server, key_client):
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = unique_name("imp-rsa")
    jwk = rsa_private_jwk(private_key)
    key = key_client.import_key(name, jwk, hardware_protected=True, tags={"imported": "yes"})
    _assert_common(server, key, name)
    assert key.key_type == KeyType.rsa_hsm
    assert key.key.n == jwk.n and key.key.e == jwk.e
    assert set(key.key_operations) == RSA_OPS
    assert key.properties.tags == {"imported": "yes"}
    # the server really holds *our* private key: its signature verifies with our public key
    digest = hashlib.sha256(b"imported").digest()
    sig = server.crypto_client(key).sign(SignatureAlgorithm.rs256, digest).signature
    private_key.public_key().verify(sig, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))


@pytest.mark.parametrize("curve", ["P-256", "P-384", "P-521", "P-256K"])
def test_import_ec_key_with_private_parts(server, key_client, curve):
    curve_cls, _ = CURVES[curve]
    private_key = ec.generate_private_key(curve_cls())
    name = unique_name("imp-ec")
    jwk = ec_private_jwk(private_key, curve)
    key = key_client.import_key(name, jwk, hardware_protected=True)
    _assert_common(server, key, name)
    assert key.key_type == KeyType.ec_hsm
    assert key.key.crv == curve
    assert key.key.x == jwk.x and key.key.y == jwk.y


@pytest.mark.parametrize("size", [128, 192, 256])
def test_import_oct_hsm_key(server, key_client, size):
    name = unique_name("imp-aes")
    jwk = JsonWebKey(kty="oct-HSM", k=os.urandom(size // 8), key_ops=["encrypt", "decrypt", "wrapKey", "unwrapKey"])
    key = key_client.import_key(name, jwk, hardware_protected=True)
    _assert_common(server, key, name)
    assert key.key_type == KeyType.oct_hsm
    assert set(key.key_operations) == {"encrypt", "decrypt", "wrapKey", "unwrapKey"}


def test_import_over_existing_name_adds_a_version(server, key_client):
    name = unique_name("imp-ver")
    first = key_client.create_ec_key(name, curve="P-256", hardware_protected=True)
    private_key = ec.generate_private_key(ec.SECP256R1())
    second = key_client.import_key(name, ec_private_jwk(private_key, "P-256"), hardware_protected=True)
    assert second.properties.version != first.properties.version
    assert key_client.get_key(name).id == second.id
    assert key_client.get_key(name, first.properties.version).key.x == first.key.x
    versions = {p.version for p in key_client.list_properties_of_key_versions(name)}
    assert versions == {first.properties.version, second.properties.version}


# --------------------------------------------------------------------------------------
# get
# --------------------------------------------------------------------------------------
def test_get_current_and_by_version(server, key_client):
    name = unique_name("get")
    v1 = key_client.create_ec_key(name, curve="P-256", hardware_protected=True)
    v2 = key_client.create_ec_key(name, curve="P-384", hardware_protected=True)
    assert v1.properties.version != v2.properties.version

    current = key_client.get_key(name)  # GET /keys/{name}/ (empty version segment)
    assert current.id == v2.id
    assert current.key.crv == "P-384" and current.key.x == v2.key.x

    old = key_client.get_key(name, v1.properties.version)
    assert old.id == v1.id
    assert old.key.crv == "P-256" and old.key.x == v1.key.x and old.key.y == v1.key.y
    assert key_client.get_key(name, v2.properties.version).id == v2.id


def test_get_missing_key_and_version_raise_not_found(server, key_client):
    with pytest.raises(ResourceNotFoundError) as info:
        key_client.get_key(unique_name("missing"))
    assert info.value.status_code == 404
    assert info.value.error.code == "KeyNotFound"

    name = unique_name("missing-ver")
    key_client.create_ec_key(name, curve="P-256", hardware_protected=True)
    with pytest.raises(ResourceNotFoundError) as info:
        key_client.get_key(name, "0" * 32)
    assert info.value.error.code == "KeyNotFound"


# --------------------------------------------------------------------------------------
# update
# --------------------------------------------------------------------------------------
def test_update_properties(server, key_client):
    name = unique_name("upd")
    created = key_client.create_ec_key(name, curve="P-256", hardware_protected=True, tags={"old": "tag"})
    nbf = _utc(datetime.now(timezone.utc) - timedelta(hours=1))
    exp = _utc(datetime.now(timezone.utc) + timedelta(days=3650))

    updated = key_client.update_key_properties(  # PATCH /keys/{name}/ (no version)
        name,
        enabled=False,
        not_before=nbf,
        expires_on=exp,
        key_operations=["verify"],
        tags={"new": "tag", "env": "ci"},
    )
    assert updated.id == created.id
    assert updated.properties.enabled is False
    assert updated.properties.not_before == nbf
    assert updated.properties.expires_on == exp
    assert updated.key_operations == ["verify"]
    assert updated.properties.tags == {"new": "tag", "env": "ci"}
    assert updated.properties.created_on == created.properties.created_on
    assert updated.properties.updated_on >= created.properties.updated_on
    assert updated.key.x == created.key.x, "update must not touch key material"

    fetched = key_client.get_key(name)
    assert fetched.properties.enabled is False
    assert fetched.key_operations == ["verify"]
    assert fetched.properties.tags == {"new": "tag", "env": "ci"}

    # omitted fields stay as they are
    again = key_client.update_key_properties(name, enabled=True)
    assert again.properties.enabled is True
    assert again.properties.tags == {"new": "tag", "env": "ci"}
    assert again.key_operations == ["verify"]
    assert again.properties.not_before == nbf and again.properties.expires_on == exp


def test_update_specific_version_only(server, key_client):
    name = unique_name("upd-ver")
    v1 = key_client.create_ec_key(name, curve="P-256", hardware_protected=True)
    v2 = key_client.create_ec_key(name, curve="P-256", hardware_protected=True)
    key_client.update_key_properties(name, v1.properties.version, enabled=False, tags={"v": "1"})
    assert key_client.get_key(name, v1.properties.version).properties.enabled is False
    assert key_client.get_key(name, v1.properties.version).properties.tags == {"v": "1"}
    current = key_client.get_key(name)
    assert current.id == v2.id and current.properties.enabled is True
    assert not current.properties.tags


def test_update_missing_key_raises_not_found(server, key_client):
    with pytest.raises(ResourceNotFoundError) as info:
        key_client.update_key_properties(unique_name("missing"), enabled=False)
    assert info.value.error.code == "KeyNotFound"


# --------------------------------------------------------------------------------------
# list keys / list versions / rotate
# --------------------------------------------------------------------------------------
def test_list_keys(server, key_client):
    prefix = unique_name("lst")
    created = {}
    for i in range(3):
        name = f"{prefix}-{i}"
        created[name] = key_client.create_ec_key(name, curve="P-256", hardware_protected=True, tags={"i": str(i)})
    key_client.create_ec_key(f"{prefix}-0", curve="P-256", hardware_protected=True)  # 2nd version, listed once

    listed = [p for p in key_client.list_properties_of_keys() if p.name.startswith(prefix)]
    assert sorted(p.name for p in listed) == sorted(created)
    for props in listed:
        # list items carry the versionless key id, like Key Vault
        assert props.id == f"{server.url}/keys/{props.name}"
        assert props.version is None
        assert props.enabled is True
        assert props.created_on is not None


def test_list_versions_with_paging(server, key_client):
    name = unique_name("vers")
    made = [key_client.create_ec_key(name, curve="P-256", hardware_protected=True) for _ in range(2)]
    made.append(key_client.rotate_key(name))
    expected = {k.properties.version for k in made}
    assert len(expected) == 3

    props = list(key_client.list_properties_of_key_versions(name))
    assert {p.version for p in props} == expected
    for p in props:
        assert p.id == f"{server.url}/keys/{name}/{p.version}"

    pages = [list(page) for page in key_client.list_properties_of_key_versions(name, max_page_size=2).by_page()]
    sizes = [len(p) for p in pages if p]
    assert sizes == [2, 1]
    assert {p.version for page in pages for p in page} == expected


def test_list_versions_of_missing_key(server, key_client):
    # Key Vault answers an empty list or 404 depending on version; either is acceptable
    try:
        assert list(key_client.list_properties_of_key_versions(unique_name("nokey"))) == []
    except ResourceNotFoundError as exc:
        assert exc.error.code == "KeyNotFound"


@pytest.mark.parametrize("kind", ["rsa", "ec", "oct"])
def test_rotate_creates_new_version(server, key_client, kind):
    name = unique_name(f"rot-{kind}")
    if kind == "rsa":
        original = key_client.create_rsa_key(name, size=2048, hardware_protected=True)
    elif kind == "ec":
        original = key_client.create_ec_key(name, curve="P-384", hardware_protected=True)
    else:
        original = key_client.create_oct_key(name, size=256, hardware_protected=True)
    rotated = key_client.rotate_key(name)
    assert rotated.name == name
    assert rotated.properties.version != original.properties.version
    assert rotated.id == f"{server.url}/keys/{name}/{rotated.properties.version}"
    assert rotated.key_type == original.key_type
    assert set(rotated.key_operations) == set(original.key_operations)
    if kind == "rsa":
        assert len(rotated.key.n) == 256 and rotated.key.n != original.key.n
    elif kind == "ec":
        assert rotated.key.crv == "P-384" and rotated.key.x != original.key.x
    assert key_client.get_key(name).id == rotated.id
    assert key_client.get_key(name, original.properties.version).id == original.id


def test_paging_over_more_than_25_keys(server):
    """30 keys in a dedicated vault: the default page is 25, the rest comes via nextLink."""
    names = {f"page-{i:02d}" for i in range(30)}
    client = server.hsm_with_keys("pg", names)

    pages = [list(page) for page in client.list_properties_of_keys().by_page()]
    sizes = [len(p) for p in pages if p]
    assert sizes[0] == 25, f"default page size must be 25, got pages {sizes}"
    assert sum(sizes) == 30 and sizes == [25, 5]
    assert {p.name for page in pages for p in page} == names

    pages = [list(page) for page in client.list_properties_of_keys(max_page_size=7).by_page()]
    assert [len(p) for p in pages if p] == [7, 7, 7, 7, 2]
    listed = [p.name for page in pages for p in page]
    assert len(listed) == len(set(listed)) == 30, "no key may be listed twice across pages"
    for page in pages:
        for props in page:
            assert props.id == f"{server.vault_url('pg')}/keys/{props.name}"


# --------------------------------------------------------------------------------------
# POST /rng
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("count", [1, 32, 128])
def test_get_random_bytes(key_client, count):
    first = key_client.get_random_bytes(count)
    second = key_client.get_random_bytes(count)
    assert isinstance(first, bytes) and len(first) == count and len(second) == count
    if count >= 16:
        assert first != second


# --------------------------------------------------------------------------------------
# challenge / credential
# --------------------------------------------------------------------------------------
def test_challenge_drives_token_request(server):
    credential = FakeCredential()
    client = server.key_client(credential=credential)
    client.create_ec_key(unique_name("chal"), curve="P-256", hardware_protected=True)
    assert credential.calls, "the SDK never asked the credential for a token"
    call = credential.calls[0]
    assert call["scopes"] == [MHSM_SCOPE]
    assert call["tenant_id"], "the challenge's authorization URI must carry a tenant"


# --------------------------------------------------------------------------------------
# a vault of kind `vault` (Key Vault, not Managed HSM)
# --------------------------------------------------------------------------------------
def test_vault_kind_challenge_resource(server, kv_vault):
    credential = FakeCredential()
    client = server.key_client(kv_vault, credential=credential)
    client.create_ec_key(unique_name("kvchal"), curve="P-256")
    # NAME.localhost:PORT: the challenge names the parent domain, https://localhost:PORT
    assert credential.calls[0]["scopes"] == [f"https://localhost:{server.port}/.default"]


def test_vault_kind_software_keys(server, kv_client, kv_vault):
    name = unique_name("kv-rsa")
    key = kv_client.create_rsa_key(name, size=2048)
    _assert_common(server, key, name, vault=kv_vault)
    assert key.key_type == KeyType.rsa
    assert key.id.startswith(f"https://{kv_vault}.localhost:{server.port}/keys/")

    name = unique_name("kv-ec")
    key = kv_client.create_ec_key(name, curve=KeyCurveName.p_256)
    _assert_common(server, key, name, vault=kv_vault)
    assert key.key_type == KeyType.ec
    # a key in one vault is not visible in another
    with pytest.raises(ResourceNotFoundError):
        server.key_client().get_key(name)


@pytest.mark.parametrize("hsm", [False, True])
def test_vault_kind_refuses_oct_keys(kv_client, hsm):
    with pytest.raises(HttpResponseError) as info:
        kv_client.create_oct_key(unique_name("kv-oct"), size=256, hardware_protected=hsm)
    assert info.value.status_code == 400
    assert info.value.error.code == "BadParameter"


def test_vault_kind_refuses_rng(kv_client):
    with pytest.raises(HttpResponseError) as info:
        kv_client.get_random_bytes(16)
    assert info.value.status_code in (400, 404)
    assert info.value.error and info.value.error.code


# --------------------------------------------------------------------------------------
# api versions
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("api_version", SUPPORTED_API_VERSIONS)
def test_supported_api_versions(server, api_version):
    client = server.key_client(api_version=api_version)
    seen = []

    def hook(response):
        seen.append(parse_qs(urlparse(response.http_request.url).query).get("api-version"))

    name = unique_name("api")
    key = client.create_ec_key(name, curve="P-256", hardware_protected=True, raw_response_hook=hook)
    assert client.get_key(name, raw_response_hook=hook).id == key.id
    assert seen and all(v == [api_version] for v in seen), seen
    assert [p.name for p in client.list_properties_of_key_versions(name)] == [name]

    crypto = server.crypto_client(key, api_version=api_version)
    digest = hashlib.sha256(api_version.encode()).digest()
    sig = crypto.sign(SignatureAlgorithm.es256, digest)
    assert CryptographyClient.from_jwk(key.key).verify(SignatureAlgorithm.es256, digest, sig.signature).is_valid


def _assert_bad_parameter(call):
    """`call()` must fail with HTTP 400 and Key Vault error code BadParameter."""
    with pytest.raises(HttpResponseError) as info:
        call()
    assert info.value.status_code == 400
    assert info.value.error.code == "BadParameter"


def test_unknown_api_version_is_bad_parameter(server):
    client = server.key_client(api_version="1999-01-01")
    _assert_bad_parameter(lambda: client.get_key(unique_name("whatever")))


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "create",
    [
        lambda c: c.create_rsa_key(unique_name("badsize"), size=1000, hardware_protected=True),
        lambda c: c.create_ec_key(unique_name("badcurve"), curve="P-192", hardware_protected=True),
        lambda c: c.create_oct_key(unique_name("badaes"), size=100, hardware_protected=True),
    ],
    ids=["rsa-size-1000", "curve-P-192", "aes-size-100"],
)
def test_bad_key_parameters_are_bad_parameter(key_client, create):
    _assert_bad_parameter(lambda: create(key_client))


def test_client_from_key_id_without_version(server, key_client):
    """CryptographyClient(key_id) fetches the key (GET /keys/{name}/) and then uses the version."""
    name = unique_name("byid")
    key = key_client.create_ec_key(name, curve="P-256", hardware_protected=True)
    crypto = server.crypto_client(f"{server.url}/keys/{name}")
    digest = hashlib.sha256(b"by id").digest()
    result = crypto.sign(SignatureAlgorithm.es256, digest)
    assert result.key_id == key.id
    assert CryptographyClient.from_jwk(key.key).verify(SignatureAlgorithm.es256, digest, result.signature).is_valid
    # and KeyClient.get_cryptography_client shares the KeyClient pipeline
    shared = key_client.get_cryptography_client(name)
    assert shared.sign(SignatureAlgorithm.es256, digest).key_id == key.id


def test_key_client_is_a_context_manager(server):
    with server.key_client() as client:
        assert isinstance(client, KeyClient)
        assert client.vault_url == server.url
