"""python-pkcs11 through the module's main flows; every result the token gives is checked
with Python `cryptography`, an implementation that shares nothing with the module."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid

import pkcs11
import pytest
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap
from pkcs11 import MGF, Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.mechanisms import GCMParams
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

from conftest import EXPORTABLE_AES

AES_CAPS = MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT | MechanismFlag.WRAP | MechanismFlag.UNWRAP
MSG = b"signed and sealed through python-pkcs11"


def label(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def ec_public(pub) -> ec.EllipticCurvePublicKey:
    return serialization.load_der_public_key(encode_ec_public_key(pub))


def rsa_public(pub) -> rsa.RSAPublicKey:
    n = int.from_bytes(pub[Attribute.MODULUS], "big")
    e = int.from_bytes(pub[Attribute.PUBLIC_EXPONENT], "big")
    return rsa.RSAPublicNumbers(e, n).public_key()


def raw_to_der(sig: bytes) -> bytes:
    half = len(sig) // 2
    return encode_dss_signature(int.from_bytes(sig[:half], "big"), int.from_bytes(sig[half:], "big"))


def ec_keypair(session, curve: str, name: str):
    params = session.create_domain_parameters(
        KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(curve)}, local=True
    )
    return params.generate_keypair(label=name, id=name.encode()[-8:], store=True)


def import_aes(session, value: bytes, name: str):
    return session.create_object({
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.AES,
        Attribute.TOKEN: True,
        Attribute.LABEL: name,
        Attribute.VALUE: value,
        Attribute.ENCRYPT: True,
        Attribute.DECRYPT: True,
        Attribute.WRAP: True,
        Attribute.UNWRAP: True,
    })


# --- the token ---------------------------------------------------------------------------

def test_token_by_label(lib, token):
    assert token.label == "default"
    assert token.manufacturer_id == "localhsm"
    flags = pkcs11.TokenFlag(token.flags)
    for flag in (pkcs11.TokenFlag.LOGIN_REQUIRED, pkcs11.TokenFlag.USER_PIN_INITIALIZED,
                 pkcs11.TokenFlag.TOKEN_INITIALIZED, pkcs11.TokenFlag.RNG):
        assert flag in flags, flag
    assert "default" in [t.label for t in lib.get_tokens()]
    with pytest.raises(pkcs11.NoSuchToken):
        lib.get_token(token_label="no-such-vault")
    mechanisms = set(token.slot.get_mechanisms())
    for m in (Mechanism.ECDSA, Mechanism.ECDSA_SHA256, Mechanism.SHA256_RSA_PKCS, Mechanism.RSA_PKCS_OAEP,
              Mechanism.AES_GCM, Mechanism.AES_CBC_PAD, Mechanism.AES_KEY_WRAP, Mechanism.SHA256):
        assert m in mechanisms, m


def test_login_wrong_pin(token):
    with pytest.raises(pkcs11.PinIncorrect):
        token.open(user_pin="not-the-pin")


def test_private_objects_need_login(token):
    """Runs before any test logs in (the session fixture keeps the login for the run)."""
    with token.open(rw=True) as public:
        found = {o.object_class for o in public.get_objects({Attribute.LABEL: "cli-ec"})}
        assert found == {ObjectClass.PUBLIC_KEY}
        assert list(public.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY})) == []
        with pytest.raises(pkcs11.UserNotLoggedIn):
            public.generate_keypair(KeyType.RSA, 2048, label=label("nologin"), store=True)


# --- EC ----------------------------------------------------------------------------------

@pytest.mark.parametrize("curve,mech,hash_", [
    ("secp256r1", Mechanism.ECDSA_SHA256, hashes.SHA256()),
    ("secp384r1", Mechanism.ECDSA_SHA384, hashes.SHA384()),
    ("secp521r1", Mechanism.ECDSA_SHA512, hashes.SHA512()),
    ("secp256k1", Mechanism.ECDSA_SHA256, hashes.SHA256()),
])
def test_ec_sign_verify(session, curve, mech, hash_):
    pub, priv = ec_keypair(session, curve, label("ec"))
    public = ec_public(pub)
    assert public.curve.name == curve
    one_part = priv.sign(MSG, mechanism=mech)
    public.verify(raw_to_der(one_part), MSG, ec.ECDSA(hash_))
    # Multi-part: C_SignUpdate per chunk.
    multi = priv.sign(iter([MSG[:10], MSG[10:20], MSG[20:]]), mechanism=mech)
    public.verify(raw_to_der(multi), MSG, ec.ECDSA(hash_))
    assert pub.verify(MSG, one_part, mechanism=mech)
    assert not pub.verify(MSG + b"!", one_part, mechanism=mech)
    with pytest.raises(InvalidSignature):
        public.verify(raw_to_der(one_part), MSG + b"!", ec.ECDSA(hash_))
    # CKM_ECDSA over a digest, as Key Vault signs.
    digest = hashlib.new(hash_.name, MSG).digest()
    public.verify(raw_to_der(priv.sign(digest, mechanism=Mechanism.ECDSA)), digest, ec.ECDSA(Prehashed(hash_)))


def test_ec_key_attributes(session):
    name = label("attrs")
    pub, priv = ec_keypair(session, "secp256r1", name)
    assert priv[Attribute.SIGN] and pub[Attribute.VERIFY]
    assert priv[Attribute.SENSITIVE] and not priv[Attribute.EXTRACTABLE]
    assert priv[Attribute.TOKEN] and priv[Attribute.PRIVATE]
    assert priv[Attribute.LABEL] == name and priv[Attribute.ID] == pub[Attribute.ID] == name.encode()[-8:]
    with pytest.raises(pkcs11.AttributeSensitive):
        priv[Attribute.VALUE]


def test_cli_key_signs_through_pkcs11(store, session):
    """A key the CLI made: PKCS#11 signs, the CLI's JWK verifies."""
    jwk = store["key"]
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(unb64url(jwk["x"]), "big"), int.from_bytes(unb64url(jwk["y"]), "big"), ec.SECP256R1()
    ).public_key()
    priv = session.get_key(ObjectClass.PRIVATE_KEY, KeyType.EC, label="cli-ec")
    # No CKA_ID was given, so it is the version's 16 bytes.
    assert priv.id == bytes.fromhex(jwk["kid"].rsplit("/", 1)[1])
    public.verify(raw_to_der(priv.sign(MSG, mechanism=Mechanism.ECDSA_SHA256)), MSG, ec.ECDSA(hashes.SHA256()))


# --- RSA ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rsa_pair(session):
    pub, _ = session.generate_keypair(KeyType.RSA, 2048, label=label("rsa"), store=True)
    return pub.label, rsa_public(pub)


def rsa_keys(session, rsa_pair):
    name, public = rsa_pair
    return (session.get_key(ObjectClass.PUBLIC_KEY, KeyType.RSA, label=name),
            session.get_key(ObjectClass.PRIVATE_KEY, KeyType.RSA, label=name), public)


@pytest.mark.parametrize("mech,param,hash_,pad", [
    (Mechanism.SHA256_RSA_PKCS, None, hashes.SHA256(), "pkcs1"),
    (Mechanism.SHA512_RSA_PKCS, None, hashes.SHA512(), "pkcs1"),
    (Mechanism.SHA256_RSA_PKCS_PSS, (Mechanism.SHA256, MGF.SHA256, 32), hashes.SHA256(), "pss"),
    (Mechanism.SHA384_RSA_PKCS_PSS, (Mechanism.SHA384, MGF.SHA384, 48), hashes.SHA384(), "pss"),
])
def test_rsa_sign_verify(session, rsa_pair, mech, param, hash_, pad):
    pub, priv, public = rsa_keys(session, rsa_pair)
    sig = priv.sign(MSG, mechanism=mech, mechanism_param=param)
    assert len(sig) == 256
    padder = (rsa_padding.PKCS1v15() if pad == "pkcs1"
              else rsa_padding.PSS(rsa_padding.MGF1(hash_), rsa_padding.PSS.DIGEST_LENGTH))
    public.verify(sig, MSG, padder, hash_)
    with pytest.raises(InvalidSignature):
        public.verify(sig, MSG + b"!", padder, hash_)
    assert pub.verify(MSG, sig, mechanism=mech, mechanism_param=param)
    assert not pub.verify(MSG + b"!", sig, mechanism=mech, mechanism_param=param)


@pytest.mark.parametrize("prefix,hash_", [
    ("3031300d060960864801650304020105000420", hashes.SHA256()),
    # SHA-1: not a Key Vault algorithm, but CKM_RSA_PKCS signs any DigestInfo.
    ("3021300906052b0e03021a05000414", hashes.SHA1()),
])
def test_rsa_pkcs_over_digest_info(session, rsa_pair, prefix, hash_):
    pub, priv, public = rsa_keys(session, rsa_pair)
    h = hashes.Hash(hash_)
    h.update(MSG)
    digest = h.finalize()
    sig = priv.sign(bytes.fromhex(prefix) + digest, mechanism=Mechanism.RSA_PKCS)
    public.verify(sig, digest, rsa_padding.PKCS1v15(), Prehashed(hash_))
    public.verify(sig, MSG, rsa_padding.PKCS1v15(), hash_)
    assert pub.verify(bytes.fromhex(prefix) + digest, sig, mechanism=Mechanism.RSA_PKCS)


@pytest.mark.parametrize("param,hash_", [
    ((Mechanism.SHA_1, MGF.SHA1, None), hashes.SHA1()),
    ((Mechanism.SHA256, MGF.SHA256, None), hashes.SHA256()),
])
def test_rsa_oaep(session, rsa_pair, param, hash_):
    pub, priv, public = rsa_keys(session, rsa_pair)
    oaep = rsa_padding.OAEP(rsa_padding.MGF1(hash_), hash_, None)
    secret = os.urandom(48)
    # cryptography encrypts, the token decrypts; and the token's own encryption round trips.
    assert priv.decrypt(public.encrypt(secret, oaep), mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=param) == secret
    sealed = pub.encrypt(secret, mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=param)
    assert sealed != public.encrypt(secret, oaep)  # OAEP is randomized
    assert priv.decrypt(sealed, mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=param) == secret
    with pytest.raises((pkcs11.EncryptedDataInvalid, pkcs11.EncryptedDataLenRange)):
        priv.decrypt(sealed[:-1] + bytes([sealed[-1] ^ 1]), mechanism=Mechanism.RSA_PKCS_OAEP,
                     mechanism_param=param)


def test_rsa_pkcs1_v15_decrypt(session, rsa_pair):
    _, priv, public = rsa_keys(session, rsa_pair)
    assert priv.decrypt(public.encrypt(b"v1.5", rsa_padding.PKCS1v15()), mechanism=Mechanism.RSA_PKCS) == b"v1.5"


def test_key_ops_are_enforced(session, rsa_pair):
    pub, priv = session.generate_keypair(
        KeyType.RSA, 2048, label=label("signonly"), store=True,
        capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
    )
    assert priv[Attribute.SIGN] and not priv[Attribute.DECRYPT] and not priv[Attribute.UNWRAP]
    # python-pkcs11 gives a key without CKA_DECRYPT no decrypt method; dressed as a key
    # that has one, it calls C_DecryptInit, which the module must refuse itself.
    # python-pkcs11 0.10 has no class for CKR_KEY_FUNCTION_NOT_PERMITTED (0x68).
    assert not hasattr(priv, "decrypt")
    _, full, _ = rsa_keys(session, rsa_pair)
    priv.__class__ = type(full)
    with pytest.raises(pkcs11.PKCS11Error, match="0x68$"):
        priv.decrypt(b"\x00" * 256, mechanism=Mechanism.RSA_PKCS_OAEP)
    assert full.decrypt(rsa_pair[1].encrypt(b"ok", rsa_padding.OAEP(rsa_padding.MGF1(hashes.SHA1()), hashes.SHA1(),
                                                                     None)),
                        mechanism=Mechanism.RSA_PKCS_OAEP) == b"ok"


# --- AES ---------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [16, 24, 32])
def test_aes_gcm_with_known_key(session, size):
    value = os.urandom(size)
    key = import_aes(session, value, label("aes-known"))
    assert key[Attribute.VALUE_LEN] == size and key[Attribute.SENSITIVE]
    nonce, aad = os.urandom(12), b"header"
    sealed = key.encrypt(MSG, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad))
    assert AESGCM(value).decrypt(nonce, sealed, aad) == MSG
    theirs = AESGCM(value).encrypt(nonce, b"from cryptography", aad)
    assert key.decrypt(theirs, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad)) == b"from cryptography"
    with pytest.raises((pkcs11.EncryptedDataInvalid, pkcs11.FunctionFailed)):
        key.decrypt(theirs, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, b"other aad"))
    with pytest.raises(InvalidTag):
        AESGCM(value).decrypt(nonce, sealed[:-1] + bytes([sealed[-1] ^ 1]), aad)


def test_aes_cbc_pad_with_known_key(session):
    value = os.urandom(32)
    key = import_aes(session, value, label("aes-cbc"))
    for length in (0, 1, 15, 16, 17, 100):
        data, iv = os.urandom(length), os.urandom(16)
        sealed = key.encrypt(data, mechanism=Mechanism.AES_CBC_PAD, mechanism_param=iv)
        assert len(sealed) == (length // 16 + 1) * 16
        dec = Cipher(algorithms.AES(value), modes.CBC(iv)).decryptor()
        unpad = padding.PKCS7(128).unpadder()
        assert unpad.update(dec.update(sealed) + dec.finalize()) + unpad.finalize() == data
        pad = padding.PKCS7(128).padder()
        enc = Cipher(algorithms.AES(value), modes.CBC(iv)).encryptor()
        theirs = enc.update(pad.update(data) + pad.finalize()) + enc.finalize()
        assert key.decrypt(theirs, mechanism=Mechanism.AES_CBC_PAD, mechanism_param=iv) == data


def test_aes_generate(session):
    key = session.generate_key(KeyType.AES, 256, label=label("aes-gen"), store=True, capabilities=AES_CAPS)
    assert key[Attribute.VALUE_LEN] == 32 and key[Attribute.ENCRYPT] and not key[Attribute.SIGN]
    with pytest.raises(pkcs11.AttributeSensitive):
        key[Attribute.VALUE]
    nonce = os.urandom(12)
    sealed = key.encrypt(MSG, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce))
    assert key.decrypt(sealed, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce)) == MSG
    # python-pkcs11's default AES template also asks for CKA_SIGN/CKA_VERIFY (an AES MAC),
    # which no mechanism here offers: refused, not silently dropped.
    with pytest.raises(pkcs11.TemplateInconsistent):
        session.generate_key(KeyType.AES, 256, label=label("aes-mac"), store=True)
    # Keys made through PKCS#11 are never extractable.
    with pytest.raises(pkcs11.TemplateInconsistent):
        session.generate_key(KeyType.AES, 256, label=label("aes-x"), store=True, capabilities=AES_CAPS,
                             template={Attribute.EXTRACTABLE: True})


# --- wrap and unwrap -----------------------------------------------------------------------

def test_unwrap_aes_key_wrap(session):
    kek_value, inner = os.urandom(32), os.urandom(16)
    kek = import_aes(session, kek_value, label("kek"))
    unwrapped = kek.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, aes_key_wrap(kek_value, inner),
                               label=label("unwrapped"), mechanism=Mechanism.AES_KEY_WRAP, store=True,
                               capabilities=AES_CAPS)
    assert unwrapped[Attribute.VALUE_LEN] == 16
    nonce = os.urandom(12)
    sealed = unwrapped.encrypt(MSG, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce))
    assert AESGCM(inner).decrypt(nonce, sealed, None) == MSG
    with pytest.raises(pkcs11.WrappedKeyInvalid):
        kek.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, aes_key_wrap(os.urandom(32), inner),
                       label=label("bad"), mechanism=Mechanism.AES_KEY_WRAP, store=True, capabilities=AES_CAPS)


def test_unwrap_rsa_oaep(session, rsa_pair):
    _, priv, public = rsa_keys(session, rsa_pair)
    inner = os.urandom(32)
    wrapped = public.encrypt(inner, rsa_padding.OAEP(rsa_padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    unwrapped = priv.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, wrapped, label=label("rsa-unwrapped"),
                                mechanism=Mechanism.RSA_PKCS_OAEP,
                                mechanism_param=(Mechanism.SHA256, MGF.SHA256, None), store=True,
                                capabilities=AES_CAPS)
    nonce = os.urandom(12)
    sealed = unwrapped.encrypt(MSG, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce))
    assert AESGCM(inner).decrypt(nonce, sealed, None) == MSG


def test_wrap(session):
    kek_value = os.urandom(32)
    kek = import_aes(session, kek_value, label("wrap-kek"))
    # The CLI's exportable key: the vault lets it out, wrapped.
    exportable = session.get_key(ObjectClass.SECRET_KEY, KeyType.AES, label="cli-exportable-aes")
    assert exportable[Attribute.EXTRACTABLE]
    wrapped = kek.wrap_key(exportable, mechanism=Mechanism.AES_KEY_WRAP)
    assert aes_key_unwrap(kek_value, wrapped) == EXPORTABLE_AES
    # A key made here is not.
    own = session.generate_key(KeyType.AES, 128, label=label("own"), store=True, capabilities=AES_CAPS)
    with pytest.raises(pkcs11.KeyUnextractable):
        kek.wrap_key(own, mechanism=Mechanism.AES_KEY_WRAP)


# --- find, digest, random, destroy ---------------------------------------------------------

def test_find_by_template(session):
    prefix = uuid.uuid4().hex[:8]
    ec_keypair(session, "secp256r1", f"find-{prefix}-ec")
    session.generate_keypair(KeyType.RSA, 2048, label=f"find-{prefix}-rsa", id=b"\xf1\x01", store=True)
    session.generate_key(KeyType.AES, 128, label=f"find-{prefix}-aes", store=True, capabilities=AES_CAPS)

    def labels(template):
        return sorted((o[Attribute.LABEL], o.object_class) for o in session.get_objects(template))

    assert labels({Attribute.LABEL: f"find-{prefix}-ec"}) == [
        (f"find-{prefix}-ec", ObjectClass.PUBLIC_KEY), (f"find-{prefix}-ec", ObjectClass.PRIVATE_KEY)]
    assert labels({Attribute.ID: b"\xf1\x01", Attribute.CLASS: ObjectClass.PRIVATE_KEY}) == [
        (f"find-{prefix}-rsa", ObjectClass.PRIVATE_KEY)]
    assert labels({Attribute.LABEL: f"find-{prefix}-aes", Attribute.KEY_TYPE: KeyType.AES}) == [
        (f"find-{prefix}-aes", ObjectClass.SECRET_KEY)]
    assert labels({Attribute.LABEL: f"find-{prefix}-aes", Attribute.KEY_TYPE: KeyType.RSA}) == []
    rsa_private = {o[Attribute.LABEL] for o in session.get_objects(
        {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.KEY_TYPE: KeyType.RSA})}
    assert f"find-{prefix}-rsa" in rsa_private and f"find-{prefix}-ec" not in rsa_private
    with pytest.raises(pkcs11.NoSuchKey):
        session.get_key(label=f"find-{prefix}-none")
    with pytest.raises(pkcs11.MultipleObjectsReturned):
        session.get_key(label=f"find-{prefix}-ec")


@pytest.mark.parametrize("mech,name", [(Mechanism.SHA256, "sha256"), (Mechanism.SHA384, "sha384"),
                                       (Mechanism.SHA512, "sha512")])
def test_digest(session, mech, name):
    data = os.urandom(1000)
    assert session.digest(data, mechanism=mech) == hashlib.new(name, data).digest()
    assert session.digest(iter([data[:1], data[1:500], data[500:]]), mechanism=mech) == hashlib.new(name, data).digest()
    assert session.digest(b"", mechanism=mech) == hashlib.new(name).digest()


def test_random(session):
    for nbits in (8, 128, 256, 8 * 1000):
        assert len(session.generate_random(nbits)) == nbits // 8
    draws = {session.generate_random(256) for _ in range(8)}
    assert len(draws) == 8


def test_destroy_is_a_soft_delete(session):
    name = label("doomed")
    pub, priv = ec_keypair(session, "secp256r1", name)
    priv.destroy()
    # The whole key goes: both halves.
    assert list(session.get_objects({Attribute.LABEL: name})) == []
    # A deleted key's name stays taken until it is recovered or purged: the label is refused.
    with pytest.raises(pkcs11.AttributeValueInvalid):
        ec_keypair(session, "secp256r1", name)
    assert list(session.get_objects({Attribute.LABEL: name})) == []
