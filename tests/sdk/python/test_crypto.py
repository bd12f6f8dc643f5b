"""CryptographyClient against localhsm, cross-checked with local cryptography.

Directions covered for every algorithm family:
  * server private-key op (sign / decrypt / unwrap) -> checked locally (SDK local
    provider via CryptographyClient.from_jwk, and the `cryptography` package);
  * local public-key op (SDK local provider and `cryptography`) -> server private op;
  * server public-key op (verify / encrypt / wrapkey over REST via send_request,
    because the SDK itself always does those locally) -> checked locally.
"""

from __future__ import annotations

import hashlib
import os

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.keys import JsonWebKey
from azure.keyvault.keys.crypto import (
    CryptographyClient,
    EncryptionAlgorithm,
    KeyWrapAlgorithm,
    SignatureAlgorithm,
)
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

from localhsm_support import (
    CURVES,
    RSA_OPS,
    ec_private_jwk,
    public_key_from_jwk,
    rest_key_op,
    rsa_private_jwk,
    unb64url,
    unique_name,
)

PLAINTEXT = b"localhsm speaks the Key Vault keys API; the Azure SDK for Python checks it."
AAD = b"additional authenticated data"

EC_CASES = [  # (algorithm, curve, hash)
    ("ES256", "P-256", hashes.SHA256),
    ("ES384", "P-384", hashes.SHA384),
    ("ES512", "P-521", hashes.SHA512),
    ("ES256K", "P-256K", hashes.SHA256),
]
RSA_SIGN_CASES = [
    ("RS256", hashes.SHA256),
    ("RS384", hashes.SHA384),
    ("RS512", hashes.SHA512),
    ("PS256", hashes.SHA256),
    ("PS384", hashes.SHA384),
    ("PS512", hashes.SHA512),
]
RSA_ENC_ALGS = ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5"]
AES_SIZES = [128, 192, 256]
AES_OPS = ["encrypt", "decrypt", "wrapKey", "unwrapKey"]


def digest_of(hash_cls, data: bytes = PLAINTEXT) -> bytes:
    h = hashes.Hash(hash_cls())
    h.update(data)
    return h.finalize()


def rsa_sig_padding(alg: str, hash_cls):
    if alg.startswith("PS"):
        # Key Vault's PSS uses a salt as long as the hash (what the SDK's local verify expects too)
        return padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=hash_cls.digest_size)
    return padding.PKCS1v15()


def rsa_enc_padding(alg: str):
    if alg == "RSA-OAEP":
        return padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    if alg == "RSA-OAEP-256":
        return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    return padding.PKCS1v15()


def ecdsa_raw_to_der(signature: bytes, coord: int) -> bytes:
    assert len(signature) == 2 * coord, f"JWS ECDSA signature must be r||s of {2 * coord} bytes"
    r = int.from_bytes(signature[:coord], "big")
    s = int.from_bytes(signature[coord:], "big")
    return utils.encode_dss_signature(r, s)


def ecdsa_der_to_raw(der: bytes, coord: int) -> bytes:
    r, s = utils.decode_dss_signature(der)
    return r.to_bytes(coord, "big") + s.to_bytes(coord, "big")


def flip(data: bytes) -> bytes:
    out = bytearray(data)
    out[0] ^= 0x01
    return bytes(out)


# --------------------------------------------------------------------------------------
# module fixtures: keys are created once and shared by the parametrized tests
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ec_keys(key_client):
    return {
        curve: key_client.create_ec_key(unique_name("c-ec"), curve=curve, hardware_protected=True)
        for _, curve, _ in EC_CASES
    }


@pytest.fixture(scope="module")
def imported_ec(key_client):
    out = {}
    for _, curve, _ in EC_CASES:
        private_key = ec.generate_private_key(CURVES[curve][0]())
        key = key_client.import_key(unique_name("c-iec"), ec_private_jwk(private_key, curve), hardware_protected=True)
        out[curve] = (private_key, key)
    return out


@pytest.fixture(scope="module")
def rsa_key(key_client):
    return key_client.create_rsa_key(unique_name("c-rsa"), size=2048, hardware_protected=True)


@pytest.fixture(scope="module")
def imported_rsa(key_client):
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = key_client.import_key(unique_name("c-irsa"), rsa_private_jwk(private_key), hardware_protected=True)
    return private_key, key


@pytest.fixture(scope="module")
def imported_aes(key_client):
    out = {}
    for size in AES_SIZES:
        k = os.urandom(size // 8)
        jwk = JsonWebKey(kty="oct-HSM", k=k, key_ops=AES_OPS)
        out[size] = (k, key_client.import_key(unique_name(f"c-iaes{size}"), jwk, hardware_protected=True))
    return out


@pytest.fixture(scope="module")
def generated_aes(key_client):
    return {
        size: key_client.create_oct_key(unique_name(f"c-aes{size}"), size=size, hardware_protected=True)
        for size in AES_SIZES
    }


# --------------------------------------------------------------------------------------
# ECDSA
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("alg,curve,hash_cls", EC_CASES)
def test_ec_sign_on_server_verify_locally(server, key_client, ec_keys, alg, curve, hash_cls):
    key = ec_keys[curve]
    _, coord = CURVES[curve]
    digest = digest_of(hash_cls)
    crypto = server.crypto_client(key)

    result = crypto.sign(SignatureAlgorithm(alg), digest)
    assert result.key_id == key.id
    assert result.algorithm == alg
    assert len(result.signature) == 2 * coord

    # SDK, key fetched from the server, verify done locally
    assert crypto.verify(SignatureAlgorithm(alg), digest, result.signature).is_valid
    assert CryptographyClient.from_jwk(key.key).verify(SignatureAlgorithm(alg), digest, result.signature).is_valid
    assert not CryptographyClient.from_jwk(key.key).verify(
        SignatureAlgorithm(alg), flip(digest), result.signature).is_valid

    # cryptography directly
    public_key = public_key_from_jwk(key.key)
    public_key.verify(ecdsa_raw_to_der(result.signature, coord), digest, ec.ECDSA(utils.Prehashed(hash_cls())))

    # the server's own verify
    assert rest_key_op(key_client, key.id, "verify", alg=alg, digest=digest, value=result.signature)["value"] is True
    assert rest_key_op(key_client, key.id, "verify", alg=alg, digest=flip(digest),
                       value=result.signature)["value"] is False


@pytest.mark.parametrize("alg,curve,hash_cls", EC_CASES)
def test_ec_sign_locally_verify_on_server(server, key_client, imported_ec, alg, curve, hash_cls):
    private_key, key = imported_ec[curve]
    _, coord = CURVES[curve]
    digest = digest_of(hash_cls, b"signed outside the HSM")
    der = private_key.sign(digest, ec.ECDSA(utils.Prehashed(hash_cls())))
    signature = ecdsa_der_to_raw(der, coord)
    assert rest_key_op(key_client, key.id, "verify", alg=alg, digest=digest, value=signature)["value"] is True
    assert rest_key_op(key_client, key.id, "verify", alg=alg, digest=digest, value=flip(signature))["value"] is False
    # and the server signs with the imported private key
    server_sig = server.crypto_client(key).sign(SignatureAlgorithm(alg), digest).signature
    private_key.public_key().verify(ecdsa_raw_to_der(server_sig, coord), digest,
                                    ec.ECDSA(utils.Prehashed(hash_cls())))


# --------------------------------------------------------------------------------------
# RSA signatures
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("alg,hash_cls", RSA_SIGN_CASES)
def test_rsa_sign_on_server_verify_locally(server, key_client, rsa_key, alg, hash_cls):
    digest = digest_of(hash_cls)
    crypto = server.crypto_client(rsa_key)
    result = crypto.sign(SignatureAlgorithm(alg), digest)
    assert result.key_id == rsa_key.id
    assert len(result.signature) == 256

    assert crypto.verify(SignatureAlgorithm(alg), digest, result.signature).is_valid
    local = CryptographyClient.from_jwk(rsa_key.key)
    assert local.verify(SignatureAlgorithm(alg), digest, result.signature).is_valid
    assert not local.verify(SignatureAlgorithm(alg), flip(digest), result.signature).is_valid

    public_key_from_jwk(rsa_key.key).verify(result.signature, digest, rsa_sig_padding(alg, hash_cls),
                                            utils.Prehashed(hash_cls()))

    assert rest_key_op(key_client, rsa_key.id, "verify", alg=alg, digest=digest,
                       value=result.signature)["value"] is True
    assert rest_key_op(key_client, rsa_key.id, "verify", alg=alg, digest=flip(digest),
                       value=result.signature)["value"] is False


@pytest.mark.parametrize("alg,hash_cls", RSA_SIGN_CASES)
def test_rsa_sign_locally_verify_on_server(server, key_client, imported_rsa, alg, hash_cls):
    private_key, key = imported_rsa
    digest = digest_of(hash_cls, b"signed outside the HSM")
    signature = private_key.sign(digest, rsa_sig_padding(alg, hash_cls), utils.Prehashed(hash_cls()))
    assert rest_key_op(key_client, key.id, "verify", alg=alg, digest=digest, value=signature)["value"] is True
    assert rest_key_op(key_client, key.id, "verify", alg=alg, digest=digest, value=flip(signature))["value"] is False
    server_sig = server.crypto_client(key).sign(SignatureAlgorithm(alg), digest).signature
    private_key.public_key().verify(server_sig, digest, rsa_sig_padding(alg, hash_cls), utils.Prehashed(hash_cls()))
    if alg.startswith("RS"):
        assert server_sig == signature, "PKCS#1 v1.5 signatures are deterministic"


# RFC 8017, section 9.2, note 1: the DER prefixes of DigestInfos.
DIGEST_INFO_PREFIX = {
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
}


@pytest.mark.parametrize("hash_cls", [hashes.SHA1, hashes.SHA256])
def test_rsnull_signs_a_digest_info_as_given(server, key_client, rsa_key, hash_cls):
    """RSNULL (in the Key Vault spec's algorithm list; the SDK's enum lacks it, so it goes as
    the string): PKCS#1 v1.5 over the value as given, here a DigestInfo of any hash."""
    digest = digest_of(hash_cls)
    value = DIGEST_INFO_PREFIX[hash_cls.name] + digest
    crypto = server.crypto_client(rsa_key)
    signature = crypto.sign("RSNULL", value).signature
    assert len(signature) == 256
    # `cryptography` builds its own DigestInfo for the hash and checks against it.
    public_key_from_jwk(rsa_key.key).verify(signature, digest, padding.PKCS1v15(),
                                            utils.Prehashed(hash_cls()))
    if hash_cls is hashes.SHA256:
        assert signature == crypto.sign(SignatureAlgorithm.rs256, digest).signature
    assert rest_key_op(key_client, rsa_key.id, "verify", alg="RSNULL", digest=value,
                       value=signature)["value"] is True
    assert rest_key_op(key_client, rsa_key.id, "verify", alg="RSNULL", digest=flip(value),
                       value=signature)["value"] is False


def test_rsnull_refuses_what_it_cannot_sign(server, key_client, rsa_key, ec_keys):
    crypto = server.crypto_client(rsa_key)
    with pytest.raises(HttpResponseError) as too_long:
        crypto.sign("RSNULL", b"\x01" * 246)  # a 2048-bit key pads at most 245 bytes
    assert too_long.value.status_code == 400
    assert too_long.value.error.code == "BadParameter"
    ec_key = ec_keys["P-256"]
    with pytest.raises(HttpResponseError) as not_rsa:
        server.crypto_client(ec_key).sign("RSNULL", DIGEST_INFO_PREFIX["sha1"] + bytes(20))
    assert not_rsa.value.status_code == 400


@pytest.mark.parametrize("size", [3072, 4096])
def test_rsa_large_keys(server, key_client, size):
    key = key_client.create_rsa_key(unique_name(f"c-rsa{size}"), size=size, hardware_protected=True)
    crypto = server.crypto_client(key)
    digest = digest_of(hashes.SHA256)
    sig = crypto.sign(SignatureAlgorithm.ps256, digest).signature
    assert len(sig) == size // 8
    public_key_from_jwk(key.key).verify(sig, digest, rsa_sig_padding("PS256", hashes.SHA256),
                                        utils.Prehashed(hashes.SHA256()))
    enc = crypto.encrypt(EncryptionAlgorithm.rsa_oaep_256, PLAINTEXT)  # local
    assert len(enc.ciphertext) == size // 8
    assert crypto.decrypt(EncryptionAlgorithm.rsa_oaep_256, enc.ciphertext).plaintext == PLAINTEXT


# --------------------------------------------------------------------------------------
# RSA encryption / key wrapping
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("alg", RSA_ENC_ALGS)
def test_rsa_encrypt_locally_decrypt_on_server(server, rsa_key, alg):
    crypto = server.crypto_client(rsa_key)
    enc = crypto.encrypt(EncryptionAlgorithm(alg), PLAINTEXT)  # SDK local provider, fetched public key
    assert enc.key_id == rsa_key.id and len(enc.ciphertext) == 256
    dec = crypto.decrypt(EncryptionAlgorithm(alg), enc.ciphertext)
    assert dec.plaintext == PLAINTEXT
    assert dec.key_id == rsa_key.id

    ciphertext = public_key_from_jwk(rsa_key.key).encrypt(PLAINTEXT, rsa_enc_padding(alg))
    assert crypto.decrypt(EncryptionAlgorithm(alg), ciphertext).plaintext == PLAINTEXT


@pytest.mark.parametrize("alg", RSA_ENC_ALGS)
def test_rsa_encrypt_on_server_decrypt_locally(server, key_client, imported_rsa, alg):
    private_key, key = imported_rsa
    result = rest_key_op(key_client, key.id, "encrypt", alg=alg, value=PLAINTEXT)
    assert result["kid"] == key.id
    ciphertext = unb64url(result["value"])
    assert len(ciphertext) == 256
    assert private_key.decrypt(ciphertext, rsa_enc_padding(alg)) == PLAINTEXT
    again = unb64url(rest_key_op(key_client, key.id, "encrypt", alg=alg, value=PLAINTEXT)["value"])
    assert again != ciphertext, "RSA encryption must be randomized"


@pytest.mark.parametrize("alg", RSA_ENC_ALGS)
def test_rsa_wrap_unwrap(server, key_client, rsa_key, imported_rsa, alg):
    cek = os.urandom(32)
    crypto = server.crypto_client(rsa_key)
    wrapped = crypto.wrap_key(KeyWrapAlgorithm(alg), cek)  # local
    assert wrapped.key_id == rsa_key.id and len(wrapped.encrypted_key) == 256
    unwrapped = crypto.unwrap_key(KeyWrapAlgorithm(alg), wrapped.encrypted_key)  # server
    assert unwrapped.key == cek

    wrapped_locally = public_key_from_jwk(rsa_key.key).encrypt(cek, rsa_enc_padding(alg))
    assert crypto.unwrap_key(KeyWrapAlgorithm(alg), wrapped_locally).key == cek

    private_key, key = imported_rsa
    server_wrapped = unb64url(rest_key_op(key_client, key.id, "wrapkey", alg=alg, value=cek)["value"])
    assert private_key.decrypt(server_wrapped, rsa_enc_padding(alg)) == cek


def test_rsa_decrypt_garbage_is_bad_parameter(server, rsa_key):
    with pytest.raises(HttpResponseError) as info:
        server.crypto_client(rsa_key).decrypt(EncryptionAlgorithm.rsa_oaep, b"\x01" * 256)
    assert info.value.status_code == 400
    assert info.value.error.code == "BadParameter"


# --------------------------------------------------------------------------------------
# AES (oct-HSM) with keys whose bytes we know (imported)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", AES_SIZES)
@pytest.mark.parametrize("aad", [None, AAD], ids=["no-aad", "aad"])
def test_aes_gcm(server, imported_aes, size, aad):
    k, key = imported_aes[size]
    alg = EncryptionAlgorithm(f"A{size}GCM")
    crypto = server.crypto_client(key)  # GCM is never done locally by the SDK

    enc = crypto.encrypt(alg, PLAINTEXT, additional_authenticated_data=aad)
    assert enc.key_id == key.id
    assert enc.iv is not None and len(enc.iv) == 12, "the service picks a 96-bit nonce"
    assert enc.tag is not None and len(enc.tag) == 16
    assert AESGCM(k).decrypt(enc.iv, enc.ciphertext + enc.tag, aad) == PLAINTEXT
    dec = crypto.decrypt(alg, enc.ciphertext, iv=enc.iv, authentication_tag=enc.tag,
                         additional_authenticated_data=aad)
    assert dec.plaintext == PLAINTEXT

    nonce = os.urandom(12)
    sealed = AESGCM(k).encrypt(nonce, PLAINTEXT, aad)
    dec = crypto.decrypt(alg, sealed[:-16], iv=nonce, authentication_tag=sealed[-16:],
                         additional_authenticated_data=aad)
    assert dec.plaintext == PLAINTEXT

    with pytest.raises(HttpResponseError) as info:
        crypto.decrypt(alg, sealed[:-16], iv=nonce, authentication_tag=flip(sealed[-16:]),
                       additional_authenticated_data=aad)
    assert info.value.status_code == 400


@pytest.mark.parametrize("size", AES_SIZES)
def test_aes_cbc_no_padding(server, imported_aes, size):
    k, key = imported_aes[size]
    alg = EncryptionAlgorithm(f"A{size}CBC")
    crypto = server.crypto_client(key)  # plain CBC is never done locally by the SDK
    iv = os.urandom(16)
    block_aligned = PLAINTEXT[:64]

    enc = crypto.encrypt(alg, block_aligned, iv=iv)
    encryptor = Cipher(algorithms.AES(k), modes.CBC(iv)).encryptor()
    expected = encryptor.update(block_aligned) + encryptor.finalize()
    assert enc.ciphertext == expected
    assert crypto.decrypt(alg, expected, iv=iv).plaintext == block_aligned

    with pytest.raises(HttpResponseError) as info:
        crypto.encrypt(alg, b"not a multiple of 16", iv=iv)
    assert info.value.status_code == 400
    assert info.value.error.code == "BadParameter"


@pytest.mark.parametrize("size", AES_SIZES)
def test_aes_cbcpad(server, key_client, imported_aes, size):
    k, key = imported_aes[size]
    alg = f"A{size}CBCPAD"
    iv = os.urandom(16)

    padder = sym_padding.PKCS7(128).padder()
    padded = padder.update(PLAINTEXT) + padder.finalize()
    encryptor = Cipher(algorithms.AES(k), modes.CBC(iv)).encryptor()
    expected = encryptor.update(padded) + encryptor.finalize()

    # the SDK's own local AES-CBCPAD implementation agrees with cryptography...
    local = CryptographyClient.from_jwk(JsonWebKey(kty="oct-HSM", k=k, key_ops=AES_OPS))
    assert local.encrypt(EncryptionAlgorithm(alg), PLAINTEXT, iv=iv).ciphertext == expected

    # ...and so must the server (REST: see rest_key_op for why not CryptographyClient)
    result = rest_key_op(key_client, key.id, "encrypt", alg=alg, value=PLAINTEXT, iv=iv)
    assert unb64url(result["value"]) == expected
    result = rest_key_op(key_client, key.id, "decrypt", alg=alg, value=expected, iv=iv)
    assert unb64url(result["value"]) == PLAINTEXT


@pytest.mark.parametrize("size", AES_SIZES)
def test_aes_key_wrap(server, key_client, imported_aes, size):
    k, key = imported_aes[size]
    alg = f"A{size}KW"
    cek = os.urandom(32)

    result = rest_key_op(key_client, key.id, "wrapkey", alg=alg, value=cek)
    assert result["kid"] == key.id
    wrapped = unb64url(result["value"])
    assert wrapped == aes_key_wrap(k, cek), "RFC 3394 key wrap is deterministic"
    assert aes_key_unwrap(k, wrapped) == cek

    other = os.urandom(24)
    result = rest_key_op(key_client, key.id, "unwrapkey", alg=alg, value=aes_key_wrap(k, other))
    assert unb64url(result["value"]) == other

    local = CryptographyClient.from_jwk(JsonWebKey(kty="oct-HSM", k=k, key_ops=AES_OPS))
    assert local.wrap_key(KeyWrapAlgorithm(alg), cek).encrypted_key == wrapped

    with pytest.raises(HttpResponseError) as info:
        rest_key_op(key_client, key.id, "unwrapkey", alg=alg, value=flip(wrapped))
    assert info.value.status_code == 400


def test_aes_algorithm_must_match_key_size(server, imported_aes):
    _, key = imported_aes[128]
    with pytest.raises(HttpResponseError) as info:
        server.crypto_client(key).encrypt(EncryptionAlgorithm.a256_gcm, PLAINTEXT)
    assert info.value.status_code == 400
    assert info.value.error.code == "BadParameter"


# --------------------------------------------------------------------------------------
# AES with keys generated inside localhsm (round trips only: nobody knows k)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", AES_SIZES)
def test_generated_aes_round_trips(server, key_client, generated_aes, size):
    key = generated_aes[size]
    crypto = server.crypto_client(key)

    gcm = EncryptionAlgorithm(f"A{size}GCM")
    enc = crypto.encrypt(gcm, PLAINTEXT, additional_authenticated_data=AAD)
    assert crypto.decrypt(gcm, enc.ciphertext, iv=enc.iv, authentication_tag=enc.tag,
                          additional_authenticated_data=AAD).plaintext == PLAINTEXT

    cbc = EncryptionAlgorithm(f"A{size}CBC")
    iv = os.urandom(16)
    first = crypto.encrypt(cbc, PLAINTEXT[:32], iv=iv).ciphertext
    assert crypto.encrypt(cbc, PLAINTEXT[:32], iv=iv).ciphertext == first
    assert crypto.decrypt(cbc, first, iv=iv).plaintext == PLAINTEXT[:32]

    result = rest_key_op(key_client, key.id, "encrypt", alg=f"A{size}CBCPAD", value=PLAINTEXT, iv=iv)
    ciphertext = unb64url(result["value"])
    assert len(ciphertext) % 16 == 0 and len(ciphertext) > len(PLAINTEXT)
    result = rest_key_op(key_client, key.id, "decrypt", alg=f"A{size}CBCPAD", value=ciphertext, iv=iv)
    assert unb64url(result["value"]) == PLAINTEXT

    cek = os.urandom(16)
    wrapped = unb64url(rest_key_op(key_client, key.id, "wrapkey", alg=f"A{size}KW", value=cek)["value"])
    assert len(wrapped) == 24
    assert unb64url(rest_key_op(key_client, key.id, "unwrapkey", alg=f"A{size}KW", value=wrapped)["value"]) == cek


# --------------------------------------------------------------------------------------
# Key Vault (kind `vault`) software keys and misuse
# --------------------------------------------------------------------------------------
def test_vault_kind_rsa_and_ec_crypto(server, kv_client):
    rsa_key = kv_client.create_rsa_key(unique_name("kvc-rsa"), size=2048)
    crypto = server.crypto_client(rsa_key)
    digest = digest_of(hashes.SHA256)
    sig = crypto.sign(SignatureAlgorithm.rs256, digest).signature
    assert CryptographyClient.from_jwk(rsa_key.key).verify(SignatureAlgorithm.rs256, digest, sig).is_valid
    enc = crypto.encrypt(EncryptionAlgorithm.rsa_oaep_256, PLAINTEXT)
    assert crypto.decrypt(EncryptionAlgorithm.rsa_oaep_256, enc.ciphertext).plaintext == PLAINTEXT

    ec_key = kv_client.create_ec_key(unique_name("kvc-ec"), curve="P-256K")
    sig = server.crypto_client(ec_key).sign(SignatureAlgorithm.es256_k, digest).signature
    assert CryptographyClient.from_jwk(ec_key.key).verify(SignatureAlgorithm.es256_k, digest, sig).is_valid


def test_wrong_algorithm_for_key_type(server, ec_keys, rsa_key):
    digest = digest_of(hashes.SHA256)
    with pytest.raises(HttpResponseError) as info:
        server.crypto_client(ec_keys["P-256"]).sign(SignatureAlgorithm.rs256, digest)
    assert info.value.status_code == 400
    with pytest.raises(HttpResponseError) as info:
        server.crypto_client(ec_keys["P-256"]).sign(SignatureAlgorithm.es384, digest_of(hashes.SHA384))
    assert info.value.status_code == 400
    with pytest.raises(HttpResponseError) as info:
        server.crypto_client(rsa_key).sign(SignatureAlgorithm.es256, digest)
    assert info.value.status_code == 400


def test_wrong_digest_length_is_bad_parameter(server, ec_keys, rsa_key):
    with pytest.raises(HttpResponseError) as info:
        server.crypto_client(ec_keys["P-256"]).sign(SignatureAlgorithm.es256, b"\x00" * 20)
    assert info.value.status_code == 400
    assert info.value.error.code == "BadParameter"
    with pytest.raises(HttpResponseError) as info:
        server.crypto_client(rsa_key).sign(SignatureAlgorithm.rs256, hashlib.sha512(PLAINTEXT).digest())
    assert info.value.status_code == 400
    assert info.value.error.code == "BadParameter"


def test_operation_on_missing_key_is_not_found(server):
    crypto = server.crypto_client(f"{server.url}/keys/{unique_name('nokey')}/{'0' * 32}")
    with pytest.raises(ResourceNotFoundError) as info:
        crypto.sign(SignatureAlgorithm.es256, digest_of(hashes.SHA256))
    assert info.value.error.code == "KeyNotFound"


# --------------------------------------------------------------------------------------
# key attributes are enforced by the server (Key Vault answers 403 Forbidden)
# --------------------------------------------------------------------------------------
def _refused(callable_, *args, **kwargs):
    with pytest.raises(HttpResponseError) as info:
        callable_(*args, **kwargs)
    assert info.value.status_code in (400, 403), info.value
    return info.value


def test_disabled_key_refuses_operations(server, key_client):
    name = unique_name("c-dis")
    key = key_client.create_ec_key(name, curve="P-256", hardware_protected=True)
    key_client.update_key_properties(name, enabled=False)
    _refused(server.crypto_client(key.id).sign, SignatureAlgorithm.es256, digest_of(hashes.SHA256))
    key_client.update_key_properties(name, enabled=True)
    assert server.crypto_client(key.id).sign(SignatureAlgorithm.es256, digest_of(hashes.SHA256)).signature


def test_key_ops_are_enforced(server, key_client):
    name = unique_name("c-ops")
    key = key_client.create_rsa_key(name, size=2048, hardware_protected=True, key_operations=["verify"])
    _refused(server.crypto_client(key).sign, SignatureAlgorithm.rs256, digest_of(hashes.SHA256))
    ciphertext = public_key_from_jwk(key.key).encrypt(PLAINTEXT, rsa_enc_padding("RSA-OAEP"))
    _refused(server.crypto_client(key).decrypt, EncryptionAlgorithm.rsa_oaep, ciphertext)
    key_client.update_key_properties(name, key_operations=sorted(RSA_OPS))
    assert server.crypto_client(key.id).decrypt(EncryptionAlgorithm.rsa_oaep, ciphertext).plaintext == PLAINTEXT


def test_not_yet_valid_and_expired_keys_refuse_operations(server, key_client):
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc).replace(microsecond=0)
    future = key_client.create_ec_key(unique_name("c-nbf"), curve="P-256", hardware_protected=True,
                                      not_before=now + timedelta(days=365))
    _refused(server.crypto_client(future.id).sign, SignatureAlgorithm.es256, digest_of(hashes.SHA256))
    expired = key_client.create_ec_key(unique_name("c-exp"), curve="P-256", hardware_protected=True,
                                       expires_on=now - timedelta(days=1))
    _refused(server.crypto_client(expired.id).sign, SignatureAlgorithm.es256, digest_of(hashes.SHA256))
