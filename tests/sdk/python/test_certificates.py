"""CertificateClient (azure-keyvault-certificates) against localhsm, as a user runs it: the
SDK's own defaults (api-version included), with only the vault URL, the credential and the
CA changed.

Every certificate the server issues is checked with an independent implementation, the
``cryptography`` package: subject, SANs, key usages, EKUs, validity, the self-signature or
the CA's signature, and the key in the PFX or PEM that the certificate's secret holds. The
certificate's key signs (and decrypts and unwraps) through ``CryptographyClient``, and the
signature verifies with the certificate's public key.

The module starts a server of its own with ``LOCALHSM_LOG=trace``: it moves that server's
clock (lifetime actions), and its last test reads everything the server wrote (stdout,
stderr at the most verbose level, the data directory) for the private keys seen here.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, List, Optional, Tuple
from urllib.parse import parse_qs, urlparse

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.certificates import (
    AdministratorContact,
    CertificateContact,
    CertificateContentType,
    CertificateIssuer,
    CertificateOperation,
    CertificatePolicy,
    CertificatePolicyAction,
    CertificateProperties,
    DeletedCertificate,
    KeyCurveName,
    KeyType,
    KeyUsageType,
    KeyVaultCertificate,
    LifetimeAction,
    WellKnownIssuerNames,
)
from azure.keyvault.keys.crypto import EncryptionAlgorithm, KeyWrapAlgorithm, SignatureAlgorithm
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from localhsm_support import FakeCredential, LocalHsm, new_server, public_key_from_jwk, unique_name

DAY = 86400
SDK_API_VERSION = "2026-04-01"  # what azure-keyvault-certificates 4.12 sends when given none
PFX = CertificateContentType.pkcs12
PEM = CertificateContentType.pem
UPN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
DOCUMENT_SIGNING = "1.3.6.1.4.1.311.10.3.12"  # an EKU no library names: any dotted OID goes

# Private keys seen in this module (imported by the tests or read back from secrets), as raw
# big-endian integers; the last test looks for them in the server's output and its disk.
PRIVATE_VALUES: List[bytes] = []


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hsm():
    root = Path(tempfile.mkdtemp(prefix="localhsm-py-sdk-certs-"))
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


class Vault:
    """The three clients a certificate user has for one vault."""

    def __init__(self, hsm: LocalHsm, name: Optional[str] = None, credential: Any = None):
        self.hsm = hsm
        self.name = name
        self.url = hsm.vault_url(name)
        self.certs = hsm.certificate_client(name, credential=credential)
        self.keys = hsm.key_client(name, credential=credential)
        self.secrets = hsm.secret_client(name, credential=credential)


@pytest.fixture(scope="module")
def vaults(hsm):
    made = {}

    def get(name: Optional[str] = None, **settings) -> Vault:
        if name not in made:
            if name is not None:
                hsm.ensure_vault(name, **(settings or {"kind": "vault"}))
            made[name] = Vault(hsm, name)
        return made[name]

    return get


@pytest.fixture(scope="module")
def dv(vaults) -> Vault:
    """The default vault (https://localhost:PORT), as a user points the SDK."""
    return vaults()


# --------------------------------------------------------------------------------------
# helpers: SDK calls
# --------------------------------------------------------------------------------------
def _create(certs, name: str, policy: CertificatePolicy, **kwargs) -> KeyVaultCertificate:
    poller = certs.begin_create_certificate(name, policy, **kwargs)
    cert = poller.result(timeout=60)
    assert poller.done() and poller.status() == "completed", poller.status()
    assert isinstance(cert, KeyVaultCertificate), cert
    return cert


def _ec_policy(subject: str = "CN=ec.example.com", **kwargs) -> CertificatePolicy:
    """A quick policy (EC P-256, PFX) for tests about something other than issuance."""
    kwargs.setdefault("issuer_name", WellKnownIssuerNames.self)
    kwargs.setdefault("key_type", KeyType.ec)
    kwargs.setdefault("key_curve_name", KeyCurveName.p_256)
    kwargs.setdefault("exportable", True)
    return CertificatePolicy(subject=subject, **kwargs)


def _delete(certs, name) -> DeletedCertificate:
    poller = certs.begin_delete_certificate(name)
    deleted = poller.result()
    poller.wait(timeout=60)
    assert poller.done() and poller.status() == "finished"
    return deleted


def _retention(hsm, vault="default") -> int:
    return hsm.mgmt("GET", f"vaults/{vault}").json()["retentionDays"]


def _pages(paged):
    return [list(page) for page in paged.by_page()]


def _names(paged) -> set:
    return {p.name for p in paged}


def _err(call) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as info:
        call()
    return info.value


class _Raw:
    """``raw_response_hook`` that keeps method, URL, status and JSON body of each response."""

    def __init__(self):
        self.seen = []

    def __call__(self, pipeline_response):
        request, response = pipeline_response.http_request, pipeline_response.http_response
        try:
            body = response.json()
        except Exception:  # noqa: BLE001 - an empty body
            body = None
        self.seen.append((request.method, request.url, response.status_code, body))

    def items(self):
        return [item for *_, body in self.seen for item in body["value"]]


# --------------------------------------------------------------------------------------
# helpers: independent checks with `cryptography`
# --------------------------------------------------------------------------------------
def _x509(cert: KeyVaultCertificate) -> x509.Certificate:
    assert cert.cer, "a completed certificate carries its DER in `cer`"
    return x509.load_der_x509_certificate(bytes(cert.cer))


def _attrs(name: x509.Name, oid) -> List[str]:
    return [a.value for a in name.get_attributes_for_oid(oid)]


def _der_utf8(value: bytes) -> str:
    """The string in an OtherName's value: the DER of a UTF8String."""
    assert value[0] == 0x0C, f"UPN is not a UTF8String: {value.hex()}"
    length, offset = value[1], 2
    if length & 0x80:
        count = length & 0x7F
        length, offset = int.from_bytes(value[2:2 + count], "big"), 2 + count
    return value[offset:offset + length].decode("utf-8")


def _sans(extensions: x509.Extensions) -> Tuple[set, set, set]:
    try:
        ext = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set(), set()
    upns = {_der_utf8(o.value) for o in ext.get_values_for_type(x509.OtherName) if o.type_id == UPN_OID}
    return set(ext.get_values_for_type(x509.DNSName)), set(ext.get_values_for_type(x509.RFC822Name)), upns


KEY_USAGE_ATTRS = {
    "digitalSignature": "digital_signature",
    "nonRepudiation": "content_commitment",
    "keyEncipherment": "key_encipherment",
    "dataEncipherment": "data_encipherment",
    "keyAgreement": "key_agreement",
    "keyCertSign": "key_cert_sign",
    "cRLSign": "crl_sign",
}


def _key_usages(c: x509.Certificate) -> set:
    ku = c.extensions.get_extension_for_class(x509.KeyUsage).value
    return {name for name, attr in KEY_USAGE_ATTRS.items() if getattr(ku, attr)}


def _ekus(c: x509.Certificate) -> set:
    try:
        ext = c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return set()
    return {oid.dotted_string for oid in ext}


def _assert_validity(c: x509.Certificate, months: int):
    span = c.not_valid_after_utc - c.not_valid_before_utc
    assert timedelta(days=28 * months) <= span <= timedelta(days=31 * months + 1), \
        f"{months} months asked, {span} issued"


def _spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _remember(private_key) -> None:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        size = (private_key.curve.key_size + 7) // 8
        PRIVATE_VALUES.append(private_key.private_numbers().private_value.to_bytes(size, "big"))
    else:
        p = private_key.private_numbers().p
        PRIVATE_VALUES.append(p.to_bytes((p.bit_length() + 7) // 8, "big"))


def _same_private(a, b) -> bool:
    return a.private_numbers() == b.private_numbers()


PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----\r?\n?", re.S)


def _secret_contents(secret) -> Tuple[Any, List[x509.Certificate]]:
    """(private key, certificates, leaf first) from a certificate's secret, PFX or PEM."""
    content_type = secret.properties.content_type
    if content_type == PFX:
        pfx = base64.b64decode(secret.value, validate=True)
        key, leaf, extra = pkcs12.load_key_and_certificates(pfx, None)  # no password, as Azure
        assert key is not None and leaf is not None, "the PFX holds the key and the certificate"
        chain = [leaf, *extra]
    else:
        assert content_type == PEM, content_type
        blocks = list(PEM_BLOCK.finditer(secret.value))
        kinds = [m.group(1) for m in blocks]
        assert len(kinds) >= 2 and kinds[0].endswith("PRIVATE KEY"), f"key first, then the chain: {kinds}"
        assert all(k == "CERTIFICATE" for k in kinds[1:]), kinds
        key = serialization.load_pem_private_key(blocks[0].group(0).encode(), None)
        chain = [x509.load_pem_x509_certificate(m.group(0).encode()) for m in blocks[1:]]
    _remember(key)
    return key, chain


def _sign_and_verify(hsm, key, public_key) -> None:
    """The key signs through CryptographyClient; `cryptography` verifies with `public_key`."""
    crypto = hsm.crypto_client(key)
    message = f"{key.id}:{uuid.uuid4()}".encode()
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        alg, hash_alg = {256: (SignatureAlgorithm.es256, hashes.SHA256()),
                         384: (SignatureAlgorithm.es384, hashes.SHA384())}[public_key.curve.key_size]
        digest = hashlib.new(hash_alg.name, message).digest()
        sig = crypto.sign(alg, digest).signature
        half = len(sig) // 2
        der = utils.encode_dss_signature(int.from_bytes(sig[:half], "big"), int.from_bytes(sig[half:], "big"))
        public_key.verify(der, digest, ec.ECDSA(utils.Prehashed(hash_alg)))
    else:
        digest = hashlib.sha256(message).digest()
        sig = crypto.sign(SignatureAlgorithm.rs256, digest).signature
        public_key.verify(sig, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))


def _check_certificate(v: Vault, cert: KeyVaultCertificate, name: str, *, content_type=PFX,
                       enabled: bool = True) -> Tuple[x509.Certificate, Any, List[x509.Certificate]]:
    """What every completed certificate version must be, checked independently: its ids, its
    DER and thumbprint, its managed key and secret (same name and version), the secret's
    PFX/PEM (whose key matches the certificate) and a signature by the key."""
    version = cert.properties.version
    assert cert.name == name and version
    assert cert.id == f"{v.url}/certificates/{name}/{version}"
    assert cert.key_id == f"{v.url}/keys/{name}/{version}", "kid names the key of the same version"
    assert cert.secret_id == f"{v.url}/secrets/{name}/{version}", "sid names the secret of the same version"
    assert cert.properties.vault_url == v.url
    assert cert.properties.enabled is enabled
    c = _x509(cert)
    assert cert.properties.x509_thumbprint == hashlib.sha1(bytes(cert.cer)).digest(), "x5t is SHA-1 of the DER"
    assert cert.properties.not_before == c.not_valid_before_utc
    assert cert.properties.expires_on == c.not_valid_after_utc

    key = v.keys.get_key(name, version)
    assert key.id == cert.key_id
    assert key.properties.managed is True, "a certificate's key is managed"
    assert _spki(public_key_from_jwk(key.key)) == _spki(c.public_key()), "the key is the certificate's"
    for private in ("d", "p", "q", "dp", "dq", "qi"):
        assert getattr(key.key, private) is None, f"private JWK member {private!r} returned"

    secret = v.secrets.get_secret(name, version)
    assert secret.id == cert.secret_id
    assert secret.properties.managed is True, "a certificate's secret is managed"
    assert secret.properties.key_id == cert.key_id
    assert secret.properties.content_type == content_type
    private, chain = _secret_contents(secret)
    assert chain[0] == c, "the secret's first certificate is the certificate"
    assert _spki(private.public_key()) == _spki(c.public_key()), "the secret's key matches the certificate"

    if enabled:
        _sign_and_verify(v.hsm, key, c.public_key())
    return c, private, chain


# --------------------------------------------------------------------------------------
# helpers: a CA and certificates made by the test itself
# --------------------------------------------------------------------------------------
def _name(cn: str, org: Optional[str] = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _test_ca(cn: str = "localhsm test CA") -> Tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn, "localhsm tests"))
        .issuer_name(_name(cn, "localhsm tests"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(subject: x509.Name, public_key, issuer_key, issuer_name: Optional[x509.Name] = None,
          dns: Optional[List[str]] = None, days: int = 90) -> x509.Certificate:
    now = datetime.now(timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name or subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _der(c: x509.Certificate) -> bytes:
    return c.public_bytes(serialization.Encoding.DER)


# --------------------------------------------------------------------------------------
# create: the default policy
# --------------------------------------------------------------------------------------
def test_create_with_the_default_policy(hsm, dv):
    name = unique_name("default")
    raw = _Raw()
    cert = _create(dv.certs, name, CertificatePolicy.get_default(), raw_response_hook=raw)
    raw.seen = [seen for seen in raw.seen if seen[2] != 401]  # the client's first challenge

    # POST .../create answers 202 inProgress (the pollers depend on it); the first GET of
    # /pending says completed; then the SDK reads the certificate.
    (method, url, status, body), *rest = raw.seen
    assert method == "POST" and urlparse(url).path == f"/certificates/{name}/create"
    assert status == 202 and body["status"] == "inProgress", body
    assert body["id"] == f"{dv.url}/certificates/{name}/pending"
    assert body["issuer"]["name"] == "Self"
    method, url, status, body = rest[0]
    assert method == "GET" and urlparse(url).path == f"/certificates/{name}/pending"
    assert status == 200 and body["status"] == "completed", body
    assert body["target"] == f"{dv.url}/certificates/{name}"
    assert [m for m, *_ in rest[1:]] == ["GET"] and rest[1][2] == 200
    for _, url, _, _ in raw.seen:
        assert parse_qs(urlparse(url).query)["api-version"] == [SDK_API_VERSION], url

    policy = cert.policy
    assert policy.issuer_name == "Self" and policy.subject == "CN=DefaultPolicy"
    assert policy.key_type == KeyType.rsa and policy.key_size == 2048
    assert policy.exportable is True and policy.content_type == PFX
    assert policy.validity_in_months == 12

    c, private, chain = _check_certificate(dv, cert, name)
    assert _attrs(c.subject, NameOID.COMMON_NAME) == ["DefaultPolicy"]
    assert c.issuer == c.subject
    c.verify_directly_issued_by(c)  # the self-signature verifies
    assert isinstance(c.public_key(), rsa.RSAPublicKey) and c.public_key().key_size == 2048
    _assert_validity(c, 12)
    assert len(chain) == 1
    assert cert.properties.recovery_level == "Recoverable+Purgeable"
    assert cert.properties.recoverable_days == _retention(hsm) == 90


def test_default_policy_key_decrypts_and_unwraps(hsm, dv):
    name = unique_name("rsakey")
    cert = _create(dv.certs, name, CertificatePolicy.get_default())
    public = _x509(cert).public_key()
    crypto = hsm.crypto_client(dv.keys.get_key(name))

    plaintext = os.urandom(32)
    ciphertext = public.encrypt(plaintext, padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))
    assert crypto.decrypt(EncryptionAlgorithm.rsa_oaep, ciphertext).plaintext == plaintext

    cek = os.urandom(32)
    wrapped = public.encrypt(cek, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    assert crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped).key == cek


# --------------------------------------------------------------------------------------
# create: a custom policy, EC and RSA, PFX and PEM
# --------------------------------------------------------------------------------------
CUSTOM = {
    "ec-pem": dict(key_type=KeyType.ec, key_curve_name=KeyCurveName.p_256, content_type=PEM,
                   key_usage=[KeyUsageType.digital_signature, KeyUsageType.non_repudiation],
                   enhanced_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH.dotted_string,
                                       ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string],
                   validity_in_months=6),
    "ec-pfx": dict(key_type=KeyType.ec, key_curve_name=KeyCurveName.p_256, content_type=PFX,
                   key_usage=[KeyUsageType.digital_signature, KeyUsageType.key_agreement],
                   enhanced_key_usage=[ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string],
                   validity_in_months=1),
    "rsa-pfx": dict(key_type=KeyType.rsa, key_size=2048, content_type=PFX,
                    key_usage=[KeyUsageType.digital_signature, KeyUsageType.key_encipherment,
                               KeyUsageType.data_encipherment],
                    enhanced_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH.dotted_string,
                                        ExtendedKeyUsageOID.CODE_SIGNING.dotted_string, DOCUMENT_SIGNING],
                    validity_in_months=24),
    "rsa-pem": dict(key_type=KeyType.rsa, key_size=2048, content_type=PEM,
                    key_usage=[KeyUsageType.digital_signature, KeyUsageType.key_encipherment],
                    enhanced_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH.dotted_string],
                    validity_in_months=3),
}


@pytest.mark.parametrize("case", sorted(CUSTOM))
def test_create_with_a_custom_policy(hsm, dv, case):
    spec = CUSTOM[case]
    name = unique_name(case)
    dns = [f"{name}.example.com", "www.localhsm.test"]
    emails = ["ops@localhsm.test", "security@localhsm.test"]
    upns = ["alice@localhsm.test"]
    policy = CertificatePolicy(
        issuer_name=WellKnownIssuerNames.self,
        subject=f"CN={name}.example.com, O=Contoso Test",
        san_dns_names=dns,
        san_emails=emails,
        san_user_principal_names=upns,
        exportable=True,
        reuse_key=False,
        **spec,
    )
    cert = _create(dv.certs, name, policy, tags={"suite": "python", "case": case})
    assert cert.properties.tags == {"suite": "python", "case": case}

    c, private, _ = _check_certificate(dv, cert, name, content_type=spec["content_type"])
    assert _attrs(c.subject, NameOID.COMMON_NAME) == [f"{name}.example.com"]
    assert _attrs(c.subject, NameOID.ORGANIZATION_NAME) == ["Contoso Test"]
    assert c.issuer == c.subject
    c.verify_directly_issued_by(c)
    assert _sans(c.extensions) == (set(dns), set(emails), set(upns))
    assert _key_usages(c) == {k.value for k in spec["key_usage"]}
    assert _ekus(c) == set(spec["enhanced_key_usage"])
    _assert_validity(c, spec["validity_in_months"])
    if spec["key_type"] == KeyType.ec:
        assert isinstance(c.public_key(), ec.EllipticCurvePublicKey)
        assert c.public_key().curve.name == "secp256r1"
        assert isinstance(private, ec.EllipticCurvePrivateKey)
    else:
        assert isinstance(c.public_key(), rsa.RSAPublicKey) and c.public_key().key_size == 2048
        assert isinstance(private, rsa.RSAPrivateKey)

    # the policy reads back as it was asked for
    got = dv.certs.get_certificate_policy(name)
    assert got.issuer_name == "Self"
    assert got.subject == f"CN={name}.example.com, O=Contoso Test"
    assert set(got.san_dns_names) == set(dns) and set(got.san_emails) == set(emails)
    assert set(got.san_user_principal_names) == set(upns)
    assert set(got.key_usage) == set(spec["key_usage"])
    assert set(got.enhanced_key_usage) == set(spec["enhanced_key_usage"])
    assert got.validity_in_months == spec["validity_in_months"]
    assert got.content_type == spec["content_type"]
    assert got.exportable is True and got.key_type == spec["key_type"]
    if spec["key_type"] == KeyType.ec:
        assert got.key_curve_name == KeyCurveName.p_256
    else:
        assert got.key_size == 2048
    assert "sign" in dv.keys.get_key(name).key_operations


def test_non_exportable_key_keeps_its_secret(hsm, dv):
    name = unique_name("noexport")
    policy = CertificatePolicy(issuer_name=WellKnownIssuerNames.self, subject="CN=noexport.example.com",
                               key_type=KeyType.rsa, key_size=2048, exportable=False)
    cert = _create(dv.certs, name, policy)
    assert cert.policy.exportable is False
    assert cert.secret_id == f"{dv.url}/secrets/{name}/{cert.properties.version}"
    for version in (None, cert.properties.version):
        err = _err(lambda: dv.secrets.get_secret(name, version))
        assert err.status_code == 403, err
        assert err.error.code == "Forbidden"
    # the key still works in the vault
    key = dv.keys.get_key(name)
    assert key.properties.managed is True and key.id == cert.key_id
    _sign_and_verify(hsm, key, _x509(cert).public_key())


# --------------------------------------------------------------------------------------
# issuer Unknown: a CSR, a CA made here, a merge
# --------------------------------------------------------------------------------------
def test_unknown_issuer_csr_and_merge(hsm, dv):
    name = unique_name("merge")
    policy = CertificatePolicy(issuer_name=WellKnownIssuerNames.unknown, subject="CN=merge.example.com, O=Merge Test",
                               san_dns_names=["merge.example.com"], key_type=KeyType.ec,
                               key_curve_name=KeyCurveName.p_256, exportable=True, validity_in_months=12)
    poller = dv.certs.begin_create_certificate(name, policy)
    op = poller.result(timeout=60)
    # the SDK's poller stops at once for issuer Unknown and returns the operation
    assert isinstance(op, CertificateOperation), op
    assert op.status == "inProgress" and op.issuer_name == "Unknown"
    assert op.id == f"{dv.url}/certificates/{name}/pending"
    assert op.csr, "the operation carries a CSR"
    csr = x509.load_der_x509_csr(bytes(op.csr))
    assert csr.is_signature_valid
    assert _attrs(csr.subject, NameOID.COMMON_NAME) == ["merge.example.com"]
    assert _attrs(csr.subject, NameOID.ORGANIZATION_NAME) == ["Merge Test"]
    assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey)
    requested = csr.extensions  # the extension request carries the SANs
    assert _sans(requested)[0] == {"merge.example.com"}

    again = dv.certs.get_certificate_operation(name)
    assert again.status == "inProgress" and bytes(again.csr) == bytes(op.csr)
    # a pending certificate is listed only with include_pending
    assert name in _names(dv.certs.list_properties_of_certificates(include_pending=True))
    assert name not in _names(dv.certs.list_properties_of_certificates())

    ca_key, ca = _test_ca(f"merge CA {name}")
    # a chain whose leaf is not the CSR's key is refused, and the operation waits on
    stranger = ec.generate_private_key(ec.SECP256R1())
    wrong = _leaf(csr.subject, stranger.public_key(), ca_key, ca.subject, dns=["merge.example.com"])
    err = _err(lambda: dv.certs.merge_certificate(name, [_der(wrong), _der(ca)]))
    assert err.status_code == 400, err
    assert err.error.code == "BadParameter"
    assert dv.certs.get_certificate_operation(name).status == "inProgress"

    leaf = _leaf(csr.subject, csr.public_key(), ca_key, ca.subject, dns=["merge.example.com"])
    merged = dv.certs.merge_certificate(name, [_der(leaf), _der(ca)], tags={"merged": "yes"})
    assert isinstance(merged, KeyVaultCertificate)
    assert bytes(merged.cer) == _der(leaf)
    assert merged.properties.tags == {"merged": "yes"}
    done = dv.certs.get_certificate_operation(name)
    assert done.status == "completed", done.status
    assert done.target == f"{dv.url}/certificates/{name}"

    c, private, chain = _check_certificate(dv, merged, name)
    c.verify_directly_issued_by(ca)
    assert ca in chain[1:], "the secret keeps the merged chain"
    assert name in _names(dv.certs.list_properties_of_certificates())
    assert dv.certs.get_certificate(name).id == merged.id


def test_pending_operation_cancel_and_delete(dv):
    name = unique_name("cancel")
    policy = CertificatePolicy(issuer_name=WellKnownIssuerNames.unknown, subject="CN=cancel.example.com",
                               key_type=KeyType.ec, key_curve_name=KeyCurveName.p_256)
    op = dv.certs.begin_create_certificate(name, policy).result(timeout=60)
    assert op.status == "inProgress" and op.cancellation_requested is False
    cancelled = dv.certs.cancel_certificate_operation(name)
    assert cancelled.cancellation_requested is True
    removed = dv.certs.delete_certificate_operation(name)
    assert removed.id == f"{dv.url}/certificates/{name}/pending"
    with pytest.raises(ResourceNotFoundError):
        dv.certs.get_certificate_operation(name)


# --------------------------------------------------------------------------------------
# a named issuer: localhsm is its CA
# --------------------------------------------------------------------------------------
def _issued_by(dv, issuer: str, cn: str):
    name = unique_name(cn)
    policy = CertificatePolicy(issuer_name=issuer, subject=f"CN={cn}.example.com", san_dns_names=[f"{cn}.example.com"],
                               key_type=KeyType.ec, key_curve_name=KeyCurveName.p_256, exportable=True,
                               validity_in_months=12, content_type=PEM)
    cert = _create(dv.certs, name, policy)
    assert cert.policy.issuer_name == issuer
    c, _, chain = _check_certificate(dv, cert, name, content_type=PEM)
    assert len(chain) >= 2, "the secret carries the issuer's CA after the leaf"
    return c, chain[1]


def test_named_issuer_signs_with_its_own_ca(hsm, dv):
    first = unique_name("issuer")
    issuer = dv.certs.create_issuer(first, provider="Test")
    assert isinstance(issuer, CertificateIssuer)
    assert issuer.name == first and issuer.provider == "Test"
    assert issuer.id == f"{dv.url}/certificates/issuers/{first}"

    leaf_a, ca = _issued_by(dv, first, "alpha")
    assert leaf_a.issuer == ca.subject and leaf_a.issuer != leaf_a.subject
    leaf_a.verify_directly_issued_by(ca)
    ca.verify_directly_issued_by(ca)  # a root, self-signed
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    _assert_validity(leaf_a, 12)

    leaf_b, ca_again = _issued_by(dv, first, "beta")
    assert ca_again == ca, "one CA per issuer"
    leaf_b.verify_directly_issued_by(ca)

    second = unique_name("issuer")
    dv.certs.create_issuer(second, provider="Test")
    leaf_c, other_ca = _issued_by(dv, second, "gamma")
    assert _spki(other_ca.public_key()) != _spki(ca.public_key()), "each issuer has a CA of its own"
    leaf_c.verify_directly_issued_by(other_ca)
    with pytest.raises(Exception):
        leaf_c.verify_directly_issued_by(ca)


# --------------------------------------------------------------------------------------
# import: PFX (no password, AES, 3DES) and PEM
# --------------------------------------------------------------------------------------
def _pfx_encryption(mode: str):
    if mode == "none":
        return None, serialization.NoEncryption()
    password = f"pw-{uuid.uuid4().hex[:8]}"
    if mode == "aes":
        return password, serialization.BestAvailableEncryption(password.encode())
    # what Windows and older OpenSSL write: PBE-SHA1-3DES, SHA-1 MAC
    builder = (serialization.PrivateFormat.PKCS12.encryption_builder()
               .kdf_rounds(2048)
               .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
               .hmac_hash(hashes.SHA1()))
    return password, builder.build(password.encode())


@pytest.mark.parametrize("mode,kty", [("none", "ec"), ("aes", "rsa"), ("3des", "ec")])
def test_import_pfx(hsm, dv, mode, kty):
    name = unique_name(f"imp-{mode}")
    key = ec.generate_private_key(ec.SECP256R1()) if kty == "ec" else rsa.generate_private_key(65537, 2048)
    _remember(key)
    ca_key, ca = _test_ca(f"import CA {name}")
    leaf = _leaf(_name(f"{name}.example.com", "Import Test"), key.public_key(), ca_key, ca.subject,
                 dns=[f"{name}.example.com"])
    password, encryption = _pfx_encryption(mode)
    pfx = pkcs12.serialize_key_and_certificates(name.encode(), key, leaf, [ca], encryption)

    cert = dv.certs.import_certificate(name, pfx, password=password, tags={"imported": mode})
    assert isinstance(cert, KeyVaultCertificate)
    assert bytes(cert.cer) == _der(leaf)
    assert cert.properties.tags == {"imported": mode}
    assert cert.policy is not None and cert.policy.content_type in (None, PFX)
    assert cert.policy.subject and "CN=" in cert.policy.subject

    c, private, chain = _check_certificate(dv, cert, name)
    assert _same_private(private, key), "the secret holds the imported key"
    assert ca in chain[1:], "the imported chain is kept"
    assert dv.certs.get_certificate(name).id == cert.id


def test_import_pem(hsm, dv):
    name = unique_name("imp-pem")
    key = ec.generate_private_key(ec.SECP384R1())
    _remember(key)
    leaf = _leaf(_name(f"{name}.example.com"), key.public_key(), key, dns=[f"{name}.example.com"])
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()) + leaf.public_bytes(serialization.Encoding.PEM)
    cert = dv.certs.import_certificate(name, pem, policy=CertificatePolicy(content_type=PEM))
    assert bytes(cert.cer) == _der(leaf)
    c, private, chain = _check_certificate(dv, cert, name, content_type=PEM)
    assert _same_private(private, key)
    assert isinstance(c.public_key(), ec.EllipticCurvePublicKey) and c.public_key().curve.name == "secp384r1"


def test_import_bad_input_is_bad_parameter(dv):
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _leaf(_name("bad.example.com"), key.public_key(), key)
    pfx = pkcs12.serialize_key_and_certificates(b"bad", key, leaf, None,
                                                serialization.BestAvailableEncryption(b"right-password"))
    cert_only = leaf.public_bytes(serialization.Encoding.PEM)
    cases = {
        "wrong password": lambda n: dv.certs.import_certificate(n, pfx, password="wrong-password"),
        "missing password": lambda n: dv.certs.import_certificate(n, pfx),
        "garbage": lambda n: dv.certs.import_certificate(n, b"not a pfx at all, nor a pem"),
        "pem without a key": lambda n: dv.certs.import_certificate(n, cert_only,
                                                                   policy=CertificatePolicy(content_type=PEM)),
    }
    for label, call in cases.items():
        name = unique_name("badimp")
        err = _err(lambda: call(name))
        assert err.status_code == 400, f"{label}: {err}"
        assert err.error.code == "BadParameter", label
        assert "right-password" not in str(err)
        with pytest.raises(ResourceNotFoundError):
            dv.certs.get_certificate(name)


# --------------------------------------------------------------------------------------
# versions, properties, policy
# --------------------------------------------------------------------------------------
def test_versions_get_and_update_properties(hsm, dv):
    name = unique_name("ver")
    v1 = _create(dv.certs, name, _ec_policy(f"CN={name}"), tags={"n": "1"})
    v2 = _create(dv.certs, name, _ec_policy(f"CN={name}"))
    assert v1.properties.version != v2.properties.version
    assert bytes(v1.cer) != bytes(v2.cer)

    current = dv.certs.get_certificate(name)
    assert current.id == v2.id and current.policy is not None
    old = dv.certs.get_certificate_version(name, v1.properties.version)
    assert old.id == v1.id and bytes(old.cer) == bytes(v1.cer)
    assert old.properties.tags == {"n": "1"}
    assert old.key_id == v1.key_id and old.secret_id == v1.secret_id
    _check_certificate(dv, old, name)

    pages = _pages(dv.certs.list_properties_of_certificate_versions(name, max_page_size=1))
    assert [len(p) for p in pages] == [1, 1]
    listed = {p.version: p for page in pages for p in page}
    assert set(listed) == {v1.properties.version, v2.properties.version}
    for version, p in listed.items():
        assert isinstance(p, CertificateProperties)
        assert p.id == f"{dv.url}/certificates/{name}/{version}"
        assert p.x509_thumbprint == (v1 if version == v1.properties.version else v2).properties.x509_thumbprint

    # tags on the current version when no version is named; tags are replaced
    updated = dv.certs.update_certificate_properties(name, tags={"a": "1"})
    assert updated.id == v2.id and updated.properties.tags == {"a": "1"}
    assert dv.certs.get_certificate(name).properties.tags == {"a": "1"}

    # an older version, disabled: its key and secret follow
    off = dv.certs.update_certificate_properties(name, v1.properties.version, enabled=False, tags={"old": "yes"})
    assert off.id == v1.id and off.properties.enabled is False and off.properties.tags == {"old": "yes"}
    assert dv.certs.get_certificate_version(name, v1.properties.version).properties.enabled is False
    assert dv.keys.get_key(name, v1.properties.version).properties.enabled is False
    err = _err(lambda: dv.secrets.get_secret(name, v1.properties.version))
    assert err.status_code == 403
    assert dv.certs.get_certificate(name).properties.enabled is True, "the current version is untouched"

    dv.certs.update_certificate_properties(name, v1.properties.version, enabled=True)
    assert dv.keys.get_key(name, v1.properties.version).properties.enabled is True
    _check_certificate(dv, dv.certs.get_certificate_version(name, v1.properties.version), name)


def test_policy_get_and_update_then_a_new_version_follows_it(dv):
    name = unique_name("pol")
    _create(dv.certs, name, _ec_policy(f"CN={name}", validity_in_months=12, content_type=PFX))
    policy = dv.certs.get_certificate_policy(name)
    assert policy.subject == f"CN={name}" and policy.validity_in_months == 12
    assert policy.issuer_name == "Self" and policy.key_type == KeyType.ec

    action = LifetimeAction(CertificatePolicyAction.email_contacts, days_before_expiry=10)
    updated = dv.certs.update_certificate_policy(
        name, CertificatePolicy(subject=f"CN={name}-renewed, O=Updated", validity_in_months=3,
                                lifetime_actions=[action], content_type=PEM))
    assert updated.subject == f"CN={name}-renewed, O=Updated" and updated.validity_in_months == 3
    assert updated.content_type == PEM
    assert [(a.action, a.days_before_expiry) for a in updated.lifetime_actions] == \
        [(CertificatePolicyAction.email_contacts, 10)]
    assert updated.issuer_name == "Self", "a field not sent keeps its value"
    assert updated.key_type == KeyType.ec and updated.key_curve_name == KeyCurveName.p_256
    got = dv.certs.get_certificate_policy(name)
    assert got.subject == updated.subject and got.validity_in_months == 3

    # the next version follows the updated policy
    cert = _create(dv.certs, name, dv.certs.get_certificate_policy(name))
    c, _, _ = _check_certificate(dv, cert, name, content_type=PEM)
    assert _attrs(c.subject, NameOID.COMMON_NAME) == [f"{name}-renewed"]
    assert _attrs(c.subject, NameOID.ORGANIZATION_NAME) == ["Updated"]
    _assert_validity(c, 3)
    assert len(list(dv.certs.list_properties_of_certificate_versions(name))) == 2


# --------------------------------------------------------------------------------------
# lists and paging (a vault of kind `vault` of their own)
# --------------------------------------------------------------------------------------
def test_list_certificates_pages_and_include_pending(vaults):
    v = vaults("cl")
    names = {f"list-{i:02d}" for i in range(27)}
    for i, name in enumerate(sorted(names)):
        _create(v.certs, name, _ec_policy(f"CN={name}"), tags={"i": str(i)})
    pending = "list-pending"
    v.certs.begin_create_certificate(pending, CertificatePolicy(
        issuer_name=WellKnownIssuerNames.unknown, subject="CN=pending")).result(timeout=60)
    # a key and a secret of their own are not certificates
    v.keys.create_ec_key("plain-key", curve="P-256")
    v.secrets.set_secret("plain-secret", "not a certificate")

    raw = _Raw()
    pages = _pages(v.certs.list_properties_of_certificates(raw_response_hook=raw))
    assert [len(p) for p in pages] == [25, 2]
    items = [p for page in pages for p in page]
    assert {p.name for p in items} == names
    for p in items:
        assert isinstance(p, CertificateProperties)
        assert p.id == f"{v.url}/certificates/{p.name}", "list items name the certificate, not a version"
        assert p.enabled is True and len(p.x509_thumbprint) == 20
        assert p.tags == {"i": str(sorted(names).index(p.name))}
    assert raw.seen[0][3]["nextLink"].startswith(f"{v.url}/certificates?")
    assert not raw.seen[-1][3].get("nextLink")

    pages = _pages(v.certs.list_properties_of_certificates(max_page_size=10))
    assert [len(p) for p in pages] == [10, 10, 7]
    with_pending = _names(v.certs.list_properties_of_certificates(include_pending=True))
    assert with_pending == names | {pending}

    # a certificate's key and secret are listed with the keys and secrets, as managed
    managed_keys = {p.name for p in v.keys.list_properties_of_keys() if p.managed}
    assert names <= managed_keys and "plain-key" not in managed_keys
    managed_secrets = {p.name for p in v.secrets.list_properties_of_secrets() if p.managed}
    assert names <= managed_secrets and "plain-secret" not in managed_secrets


# --------------------------------------------------------------------------------------
# delete / recover / purge: the key and the secret go and come back with the certificate
# --------------------------------------------------------------------------------------
def test_delete_recover_purge_cascade(hsm, dv):
    name = unique_name("life")
    v1 = _create(dv.certs, name, _ec_policy(f"CN={name}"))
    v2 = _create(dv.certs, name, _ec_policy(f"CN={name}"), tags={"t": "1"})

    deleted = _delete(dv.certs, name)
    assert isinstance(deleted, DeletedCertificate)
    assert deleted.name == name and deleted.id == v2.id
    assert deleted.key_id == v2.key_id and deleted.secret_id == v2.secret_id
    assert deleted.recovery_id == f"{dv.url}/deletedcertificates/{name}"
    assert deleted.properties.tags == {"t": "1"}
    assert deleted.scheduled_purge_date - deleted.deleted_on == timedelta(days=_retention(hsm))

    err = _err(lambda: dv.certs.get_certificate(name))
    assert err.status_code == 404 and err.error.code == "CertificateNotFound"
    with pytest.raises(ResourceNotFoundError):
        dv.keys.get_key(name)
    with pytest.raises(ResourceNotFoundError):
        dv.secrets.get_secret(name)
    assert name not in _names(dv.certs.list_properties_of_certificates())
    assert name not in _names(dv.keys.list_properties_of_keys())
    assert name not in _names(dv.secrets.list_properties_of_secrets())
    # the key and the secret went with the certificate, not on their own
    assert name not in _names(dv.keys.list_deleted_keys())
    assert name not in _names(dv.secrets.list_deleted_secrets())

    got = dv.certs.get_deleted_certificate(name)
    assert got.id == v2.id and got.recovery_id == deleted.recovery_id
    assert got.deleted_on == deleted.deleted_on and got.scheduled_purge_date == deleted.scheduled_purge_date
    assert bytes(got.cer) == bytes(v2.cer)
    listed = {d.name: d for d in dv.certs.list_deleted_certificates()}
    assert listed[name].recovery_id == deleted.recovery_id
    with pytest.raises(ResourceNotFoundError):
        dv.certs.begin_delete_certificate(name)

    # the name is taken while it is soft-deleted
    for call in (lambda: dv.certs.begin_create_certificate(name, _ec_policy(f"CN={name}")),
                 lambda: dv.certs.import_certificate(name, _pfx_of_new_key())):
        err = _err(call)
        assert err.status_code == 409, err
        assert err.error.code == "Conflict"
        assert err.error.innererror.get("code") == "ObjectIsDeletedButRecoverable"

    poller = dv.certs.begin_recover_deleted_certificate(name)
    recovered = poller.result()
    assert isinstance(recovered, KeyVaultCertificate) and recovered.id == v2.id
    poller.wait(timeout=60)
    assert poller.status() == "finished"
    assert dv.keys.get_key(name).id == v2.key_id
    assert dv.secrets.get_secret(name).id == v2.secret_id
    _check_certificate(dv, dv.certs.get_certificate(name), name)
    _check_certificate(dv, dv.certs.get_certificate_version(name, v1.properties.version), name)
    with pytest.raises(ResourceNotFoundError):
        dv.certs.get_deleted_certificate(name)

    _delete(dv.certs, name)
    assert dv.certs.purge_deleted_certificate(name) is None
    with pytest.raises(ResourceNotFoundError):
        dv.certs.get_deleted_certificate(name)
    assert name not in _names(dv.certs.list_deleted_certificates())
    # the name is free again, for all three, with no history
    fresh = _create(dv.certs, name, _ec_policy(f"CN={name}"))
    assert [p.version for p in dv.certs.list_properties_of_certificate_versions(name)] == [fresh.properties.version]
    assert [p.version for p in dv.keys.list_properties_of_key_versions(name)] == [fresh.properties.version]
    assert [p.version for p in dv.secrets.list_properties_of_secret_versions(name)] == [fresh.properties.version]


def _pfx_of_new_key() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _leaf(_name("fresh.example.com"), key.public_key(), key)
    return pkcs12.serialize_key_and_certificates(b"fresh", key, leaf, None, serialization.NoEncryption())


def test_purge_protection_refuses_purge(vaults):
    v = vaults("ppc", kind="vault", retentionDays=7, purgeProtection=True)
    name = unique_name("pp")
    cert = _create(v.certs, name, _ec_policy(f"CN={name}"))
    assert cert.properties.recovery_level == "CustomizedRecoverable"
    assert cert.properties.recoverable_days == 7
    deleted = _delete(v.certs, name)
    assert deleted.scheduled_purge_date - deleted.deleted_on == timedelta(days=7)
    err = _err(lambda: v.certs.purge_deleted_certificate(name))
    assert err.status_code == 403 and err.error.code == "Forbidden"
    assert v.certs.get_deleted_certificate(name).name == name
    v.certs.begin_recover_deleted_certificate(name).wait(timeout=60)
    _check_certificate(v, v.certs.get_certificate(name), name)


# --------------------------------------------------------------------------------------
# backup / restore
# --------------------------------------------------------------------------------------
def test_backup_and_restore(hsm, dv):
    name = unique_name("bak")
    v1 = _create(dv.certs, name, _ec_policy(f"CN={name}"), tags={"keep": "me"})
    v2 = _create(dv.certs, name, CertificatePolicy(issuer_name="Self", subject=f"CN={name}", key_type=KeyType.rsa,
                                                   key_size=2048, exportable=True, content_type=PEM))
    _, private, _ = _check_certificate(dv, v2, name, content_type=PEM)

    backup = dv.certs.backup_certificate(name)
    assert isinstance(backup, bytes) and len(backup) > 0
    p = private.private_numbers().p.to_bytes(128, "big")
    assert p not in backup and base64.b64encode(p) not in backup, "a backup is sealed"

    err = _err(lambda: dv.certs.restore_certificate_backup(backup))
    assert err.status_code == 409, "the name is taken while the certificate exists"
    _delete(dv.certs, name)
    err = _err(lambda: dv.certs.restore_certificate_backup(backup))
    assert err.status_code == 409
    assert err.error.innererror.get("code") == "ObjectIsDeletedButRecoverable"
    dv.certs.purge_deleted_certificate(name)

    restored = dv.certs.restore_certificate_backup(backup)
    assert isinstance(restored, KeyVaultCertificate)
    assert restored.id == v2.id and bytes(restored.cer) == bytes(v2.cer)
    _, again, _ = _check_certificate(dv, dv.certs.get_certificate(name), name, content_type=PEM)
    assert _same_private(again, private), "the restored key is the one backed up"
    old = dv.certs.get_certificate_version(name, v1.properties.version)
    assert bytes(old.cer) == bytes(v1.cer) and old.properties.tags == {"keep": "me"}
    _check_certificate(dv, old, name)
    versions = {p.version for p in dv.certs.list_properties_of_certificate_versions(name)}
    assert versions == {v1.properties.version, v2.properties.version}


def test_restore_garbage_is_bad_parameter(dv):
    err = _err(lambda: dv.certs.restore_certificate_backup(b"definitely not a localhsm backup blob"))
    assert err.status_code == 400 and err.error.code == "BadParameter"


# --------------------------------------------------------------------------------------
# contacts and issuers
# --------------------------------------------------------------------------------------
def test_contacts_set_get_delete(vaults):
    v = vaults("kv")
    contacts = [CertificateContact(email="admin@localhsm.test", name="Admin", phone="+1 555 0100"),
                CertificateContact(email="ops@localhsm.test", name="Ops")]
    as_tuples = lambda cs: sorted((c.email, c.name, c.phone) for c in cs)  # noqa: E731
    assert as_tuples(v.certs.set_contacts(contacts)) == as_tuples(contacts)
    assert as_tuples(v.certs.get_contacts()) == as_tuples(contacts)

    one = [CertificateContact(email="only@localhsm.test", name="Only", phone="0100")]
    assert as_tuples(v.certs.set_contacts(one)) == as_tuples(one), "set replaces the list"
    assert as_tuples(v.certs.get_contacts()) == as_tuples(one)
    assert as_tuples(v.certs.delete_contacts()) == as_tuples(one)
    with pytest.raises(ResourceNotFoundError):
        v.certs.get_contacts()


def test_issuers_create_get_update_list_delete(vaults):
    v = vaults("kv")
    name = unique_name("iss")
    other = unique_name("iss")
    admins = [AdministratorContact(first_name="Ada", last_name="Lovelace", email="ada@localhsm.test", phone="0101")]
    made = v.certs.create_issuer(name, provider="Test", account_id="acct-1", password="issuer-password",
                                 organization_id="org-1", admin_contacts=admins, enabled=True)
    assert made.name == name and made.provider == "Test"
    assert made.id == f"{v.url}/certificates/issuers/{name}"
    assert made.account_id == "acct-1" and made.organization_id == "org-1"
    assert made.password is None, "an issuer's password is never returned"
    assert made.enabled is True and made.created_on is not None
    assert [(a.first_name, a.last_name, a.email, a.phone) for a in made.admin_contacts] == \
        [("Ada", "Lovelace", "ada@localhsm.test", "0101")]
    v.certs.create_issuer(other, provider="Test")

    got = v.certs.get_issuer(name)
    assert got.id == made.id and got.account_id == "acct-1" and got.password is None
    assert [a.email for a in got.admin_contacts] == ["ada@localhsm.test"]

    updated = v.certs.update_issuer(name, enabled=False, organization_id="org-2")
    assert updated.enabled is False and updated.organization_id == "org-2"
    assert updated.account_id == "acct-1", "a field not sent keeps its value"
    assert v.certs.get_issuer(name).enabled is False

    listed = {p.name: p for p in v.certs.list_properties_of_issuers()}
    assert {name, other} <= set(listed)
    assert listed[name].provider == "Test" and listed[name].id == made.id

    deleted = v.certs.delete_issuer(name)
    assert deleted.name == name and deleted.provider == "Test"
    with pytest.raises(ResourceNotFoundError):
        v.certs.get_issuer(name)
    assert name not in {p.name for p in v.certs.list_properties_of_issuers()}
    assert other in {p.name for p in v.certs.list_properties_of_issuers()}


# --------------------------------------------------------------------------------------
# errors, names, tags, bad policies
# --------------------------------------------------------------------------------------
def test_not_found_errors(dv):
    missing = unique_name("missing")
    for label, call in {
        "get": lambda: dv.certs.get_certificate(missing),
        "get version": lambda: dv.certs.get_certificate_version(missing, uuid.uuid4().hex),
        "update": lambda: dv.certs.update_certificate_properties(missing, tags={"a": "b"}),
        "delete": lambda: dv.certs.begin_delete_certificate(missing),
        "backup": lambda: dv.certs.backup_certificate(missing),
        "get policy": lambda: dv.certs.get_certificate_policy(missing),
        "get deleted": lambda: dv.certs.get_deleted_certificate(missing),
        "recover": lambda: dv.certs.begin_recover_deleted_certificate(missing),
        "purge": lambda: dv.certs.purge_deleted_certificate(missing),
    }.items():
        err = _err(call)
        assert err.status_code == 404, f"{label}: {err}"
        assert err.error.code == "CertificateNotFound", f"{label}: {err.error.code}"
    with pytest.raises(ResourceNotFoundError):
        dv.certs.get_certificate_operation(missing)
    with pytest.raises(ResourceNotFoundError):
        dv.certs.get_issuer(missing)

    # a version that does not exist, of a certificate that does
    live = unique_name("live")
    _create(dv.certs, live, _ec_policy(f"CN={live}"))
    err = _err(lambda: dv.certs.get_certificate_version(live, uuid.uuid4().hex))
    assert err.status_code == 404 and err.error.code == "CertificateNotFound"


@pytest.mark.parametrize("bad", ["under_score", "dot.ted", "x" * 128])
def test_bad_names_are_bad_parameter(dv, bad):
    err = _err(lambda: dv.certs.begin_create_certificate(bad, _ec_policy("CN=bad")))
    assert err.status_code == 400 and err.error.code == "BadParameter"


def test_tag_limit(dv):
    name = unique_name("tags")
    fifteen = {f"t{i}": str(i) for i in range(15)}
    assert _create(dv.certs, name, _ec_policy("CN=tags"), tags=fifteen).properties.tags == fifteen
    err = _err(lambda: dv.certs.begin_create_certificate(name, _ec_policy("CN=tags"),
                                                         tags={**fifteen, "t15": "15"}))
    assert err.status_code == 400 and err.error.code == "BadParameter"
    err = _err(lambda: dv.certs.update_certificate_properties(name, tags={**fifteen, "t15": "15"}))
    assert err.status_code == 400 and err.error.code == "BadParameter"


@pytest.mark.parametrize("label,policy", [
    ("oct key", CertificatePolicy(issuer_name="Self", subject="CN=x", key_type="oct", key_size=256)),
    ("RSA 1000", CertificatePolicy(issuer_name="Self", subject="CN=x", key_type=KeyType.rsa, key_size=1000)),
    ("bad subject", CertificatePolicy(issuer_name="Self", subject="this is no distinguished name")),
    ("lifetime 100%", _ec_policy("CN=x", lifetime_actions=[LifetimeAction(CertificatePolicyAction.auto_renew,
                                                                           lifetime_percentage=100)])),
    # days_before_expiry runs from 1 to validity_in_months x 27
    ("days before expiry", _ec_policy("CN=x", validity_in_months=12, lifetime_actions=[
        LifetimeAction(CertificatePolicyAction.auto_renew, days_before_expiry=12 * 27 + 1)])),
])
def test_bad_policies_are_bad_parameter(dv, label, policy):
    name = unique_name("badpol")
    err = _err(lambda: dv.certs.begin_create_certificate(name, policy).result(timeout=60))
    assert err.status_code == 400, f"{label}: {err}"
    assert err.error.code == "BadParameter", label
    with pytest.raises(ResourceNotFoundError):
        dv.certs.get_certificate(name)


def test_a_policy_naming_no_issuer_of_the_vault_is_refused(dv):
    name = unique_name("noissuer")
    err = _err(lambda: dv.certs.begin_create_certificate(
        name, CertificatePolicy(issuer_name=unique_name("no-such-issuer"), subject="CN=x")).result(timeout=60))
    assert err.status_code in (400, 404), err
    with pytest.raises(ResourceNotFoundError):
        dv.certs.get_certificate(name)


# --------------------------------------------------------------------------------------
# vault kinds
# --------------------------------------------------------------------------------------
def test_vault_of_kind_vault_holds_certificates(hsm):
    hsm.ensure_vault("kv", kind="vault")
    credential = FakeCredential()
    v = Vault(hsm, "kv", credential=credential)
    name = unique_name("kv")
    cert = _create(v.certs, name, _ec_policy(f"CN={name}"))
    assert cert.id == f"https://kv.localhost:{hsm.port}/certificates/{name}/{cert.properties.version}"
    _check_certificate(v, cert, name)
    assert credential.calls[-1]["scopes"] == [f"https://localhost:{hsm.port}/.default"]
    with pytest.raises(ResourceNotFoundError):
        hsm.certificate_client().get_certificate(name)  # vaults are separate


def test_managed_hsm_vault_refuses_certificates(hsm, vaults):
    v = vaults("mhsmc", kind="managedhsm")
    name = unique_name("nohsm")
    for label, call in {
        "create": lambda: v.certs.begin_create_certificate(name, _ec_policy("CN=x")),
        "import": lambda: v.certs.import_certificate(name, _pfx_of_new_key()),
        "get": lambda: v.certs.get_certificate(name),
        "list": lambda: list(v.certs.list_properties_of_certificates()),
        "list deleted": lambda: list(v.certs.list_deleted_certificates()),
        "contacts": lambda: v.certs.get_contacts(),
        "issuers": lambda: list(v.certs.list_properties_of_issuers()),
    }.items():
        err = _err(call)
        assert err.status_code == 400, f"{label}: {err}"
        assert err.error.code == "BadParameter", label
        message = err.error.message.lower()
        assert "certificate" in message and "managed hsm" in message, f"{label}: {err.error.message}"


# --------------------------------------------------------------------------------------
# the managed key and secret are the certificate's alone
# --------------------------------------------------------------------------------------
def test_managed_key_and_secret_cannot_be_changed_on_their_own(hsm, dv):
    name = unique_name("owned")
    cert = _create(dv.certs, name, _ec_policy(f"CN={name}"))
    calls = {
        "delete key": lambda: dv.keys.begin_delete_key(name),
        "update key": lambda: dv.keys.update_key_properties(name, enabled=False),
        "update key version": lambda: dv.keys.update_key_properties(name, cert.properties.version, tags={"a": "b"}),
        "new key version": lambda: dv.keys.create_ec_key(name, curve="P-256", hardware_protected=True),
        "delete secret": lambda: dv.secrets.begin_delete_secret(name),
        "update secret": lambda: dv.secrets.update_secret_properties(name, content_type="text/plain"),
        "update secret version": lambda: dv.secrets.update_secret_properties(name, cert.properties.version,
                                                                             enabled=False),
        "new secret version": lambda: dv.secrets.set_secret(name, "overwrite"),
    }
    for label, call in calls.items():
        err = _err(call)
        assert err.status_code == 403, f"{label}: {err}"
        assert err.error.code == "Forbidden", label
    err = _err(calls["new secret version"])
    assert err.error.innererror.get("code") == "SecretManagedByKeyVault"

    # nothing changed
    assert [p.version for p in dv.keys.list_properties_of_key_versions(name)] == [cert.properties.version]
    assert [p.version for p in dv.secrets.list_properties_of_secret_versions(name)] == [cert.properties.version]
    _check_certificate(dv, dv.certs.get_certificate(name), name)
    assert dv.secrets.get_secret(name).properties.content_type == PFX


# --------------------------------------------------------------------------------------
# lifetime actions on the server's clock (moves this module's server clock: keep late)
# --------------------------------------------------------------------------------------
def _now(hsm) -> int:
    return hsm.time_shift(1)


def _shift_to(hsm, when: float) -> int:
    now = _now(hsm)
    if when > now:
        now = hsm.time_shift(int(when - now) + 1)
    return now


def _versions(v: Vault, name: str) -> List[KeyVaultCertificate]:
    props = sorted(v.certs.list_properties_of_certificate_versions(name), key=lambda p: p.created_on)
    return [v.certs.get_certificate_version(name, p.version) for p in props]


def test_lifetime_actions_auto_renew(hsm, vaults):
    v = vaults("lt")
    pct = unique_name("pct")
    days = unique_name("days")
    renew_pct = [LifetimeAction(CertificatePolicyAction.auto_renew, lifetime_percentage=50)]
    renew_days = [LifetimeAction(CertificatePolicyAction.auto_renew, days_before_expiry=300)]
    a = _create(v.certs, pct, _ec_policy(f"CN={pct}", validity_in_months=12, lifetime_actions=renew_pct))
    b = _create(v.certs, days, _ec_policy(f"CN={days}", validity_in_months=12, lifetime_actions=renew_days,
                                          reuse_key=True))
    assert [(x.action, x.lifetime_percentage) for x in a.policy.lifetime_actions] == \
        [(CertificatePolicyAction.auto_renew, 50)]
    ca, cb = _x509(a), _x509(b)
    a_due = ca.not_valid_before_utc.timestamp() + (ca.not_valid_after_utc - ca.not_valid_before_utc).total_seconds() / 2
    b_due = cb.not_valid_after_utc.timestamp() - 300 * DAY
    assert b_due < a_due

    # an hour before the first trigger: nothing renews
    _shift_to(hsm, b_due - 3600)
    assert len(_versions(v, pct)) == 1 and len(_versions(v, days)) == 1

    # past days_before_expiry: `days` renews, once, keeping its key (reuse_key)
    _shift_to(hsm, b_due + 60)
    assert len(_versions(v, pct)) == 1
    assert len(_versions(v, days)) == 2, "days_before_expiry reached: a renewal is due"
    old_b, new_b = _versions(v, days)
    assert old_b.id == b.id and new_b.id != b.id
    nb = _x509(new_b)
    assert nb.not_valid_before_utc.timestamp() >= b_due - 3600
    assert nb.subject == cb.subject
    _assert_validity(nb, 12)
    assert _spki(nb.public_key()) == _spki(cb.public_key()), "reuse_key keeps the key"
    _check_certificate(v, v.certs.get_certificate(days), days)
    assert v.certs.get_certificate(days).id == new_b.id

    # past 50 % of its lifetime: `pct` renews with a new key
    _shift_to(hsm, a_due + 60)
    assert len(_versions(v, pct)) == 2, "50 % of the lifetime reached: a renewal is due"
    old_a, new_a = _versions(v, pct)
    assert old_a.id == a.id
    na = _x509(new_a)
    assert na.not_valid_before_utc.timestamp() >= a_due - 3600
    assert na.subject == ca.subject
    assert _spki(na.public_key()) != _spki(ca.public_key()), "a renewal makes a new key unless reuse_key"
    c, _, _ = _check_certificate(v, v.certs.get_certificate(pct), pct)
    assert new_a.key_id == f"{v.url}/keys/{pct}/{new_a.properties.version}"
    # `days` renewed once more: its second version reached its own trigger
    assert len(_versions(v, days)) == 3


def test_lifetime_action_email_contacts_is_in_the_access_log(hsm, vaults):
    v = vaults("lt")
    hsm.mgmt("PATCH", "vaults/lt", {"accessLog": True})
    v.certs.set_contacts([CertificateContact(email="owner@localhsm.test", name="Owner")])
    name = unique_name("mail")
    action = [LifetimeAction(CertificatePolicyAction.email_contacts, lifetime_percentage=10)]
    cert = _create(v.certs, name, _ec_policy(f"CN={name}", validity_in_months=12, lifetime_actions=action))
    c = _x509(cert)
    due = c.not_valid_before_utc.timestamp() + (c.not_valid_after_utc - c.not_valid_before_utc).total_seconds() / 10
    _shift_to(hsm, due + 60)
    assert len(_versions(v, name)) == 1, "EmailContacts does not renew"
    records = hsm.mgmt("GET", "vaults/lt/accesslog").json()
    text = str(records)
    assert name in text and "emailcontacts" in text.lower(), text[-2000:]


# --------------------------------------------------------------------------------------
# keep last: no private key seen here reached the server's output or its disk unsealed
# --------------------------------------------------------------------------------------
def _encodings(raw: bytes) -> List[bytes]:
    return [raw, raw.hex().encode(), base64.b64encode(raw).rstrip(b"="),
            base64.urlsafe_b64encode(raw).rstrip(b"=")]


def test_private_keys_never_reach_logs_or_disk(hsm):
    process = hsm.process
    hsm.close()
    assert process.stop() == 0, process.diagnostics()
    assert len(PRIVATE_VALUES) > 20, "the module saw fewer private keys than it should have"

    log = process.output_text().encode()
    assert b"/certificates/" in log, log[-2000:]
    leaked = [raw.hex()[:16] for raw in PRIVATE_VALUES if any(e in log for e in _encodings(raw)[1:])]
    assert not leaked, f"{len(leaked)} private keys appear in the server's log"

    # the data directory, and with replicas on PostgreSQL also the store's tables
    files = process.stored_files()
    assert any(b"list-00" in data for data in files.values()), sorted(files)
    on_disk = [(Path(path).name, raw.hex()[:16]) for path, data in files.items() for raw in PRIVATE_VALUES
               if any(e in data for e in _encodings(raw))]
    assert not on_disk, f"private keys stored unsealed: {on_disk[:5]}"
