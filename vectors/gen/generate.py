#!/usr/bin/env python3
"""Generate the localhsm known-answer test vectors (vectors/*.json).

The vectors come from an implementation independent of localhsm: Python
`cryptography` (OpenSSL underneath).  Where a primitive is randomised
(RSA-PSS salt, RSA-OAEP seed, PKCS#1 v1.5 encryption padding) this script
builds the encoding itself from RFC 8017 with a deterministic, per-case byte
stream and applies the raw RSA operation, then checks the result with
`cryptography` before writing it.  ECDSA signatures use RFC 6979 deterministic
signing from `cryptography`.  Running the script twice therefore produces
byte-identical files.

Keys:
  * RSA 2048/3072/4096: fixed PKCS#8 PEM files in gen/keys/ (created once with
    `cryptography`, e = 65537; pass --new-rsa-keys to replace them).
  * EC: private scalars derived from SHA-512 of a fixed label (see ec_key()).
  * oct: the published KEKs / keys of RFC 3394 (AES-KW), the GCM paper
    (McGrew & Viega test cases) and NIST SP 800-38A (CBC), so that the
    standard answers can be asserted here as well.

Usage:  python3 vectors/gen/generate.py [--out DIR] [--new-rsa-keys]
Then:   python3 vectors/gen/check.py
"""

import argparse
import hashlib
import json
import sys
from base64 import urlsafe_b64encode
from pathlib import Path

import cryptography
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.backends.openssl import backend as _ossl
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as sympadding
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

GEN_DIR = Path(__file__).resolve().parent
KEY_DIR = GEN_DIR / "keys"
GENERATOR = "vectors/gen/generate.py (Python cryptography %s, %s)" % (
    cryptography.__version__,
    _ossl.openssl_version_text(),
)

# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def b64u(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def i2osp(x: int, length: int) -> bytes:
    return x.to_bytes(length, "big")


def os2ip(data: bytes) -> int:
    return int.from_bytes(data, "big")


def min_bytes(x: int) -> bytes:
    return x.to_bytes(max(1, (x.bit_length() + 7) // 8), "big")


def flip(data: bytes, index: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


def xor(a: bytes, b: bytes) -> bytes:
    assert len(a) == len(b)
    return bytes(x ^ y for x, y in zip(a, b))


class Stream:
    """Deterministic byte stream: SHA-256(label || counter) blocks.

    Each case gets its own label so adding a case does not change others."""

    def __init__(self, *label):
        self.seed = hashlib.sha256(
            b"localhsm-vectors\0" + "\0".join(str(x) for x in label).encode()
        ).digest()
        self.counter = 0
        self.buf = b""

    def read(self, n: int) -> bytes:
        while len(self.buf) < n:
            self.buf += hashlib.sha256(
                self.seed + self.counter.to_bytes(8, "big")
            ).digest()
            self.counter += 1
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def nonzero(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += bytes(b for b in self.read(n - len(out)) if b != 0)
        return out


HASH = {
    "SHA-1": (hashes.SHA1, hashlib.sha1),
    "SHA-256": (hashes.SHA256, hashlib.sha256),
    "SHA-384": (hashes.SHA384, hashlib.sha384),
    "SHA-512": (hashes.SHA512, hashlib.sha512),
}


def H(name: str, data: bytes) -> bytes:
    return HASH[name][1](data).digest()


def chash(name: str):
    return HASH[name][0]()


FIELD_ORDER = [
    "msg",
    "digest",
    "signature",
    "plaintext",
    "iv",
    "aad",
    "ciphertext",
    "tag",
]


class VectorFile:
    """vectors/<family>.json: its description, keys (id -> JWK) and cases."""

    def __init__(self, family: str, description: str, keys=None):
        self.name = family + ".json"
        self.family = family
        self.description = description
        self.keys = dict(keys or {})
        self.cases = []

    def add(self, key, alg, op, result, comment, flags=(), **fields):
        assert key in self.keys, key
        assert op in ("sign", "verify", "encrypt", "decrypt", "wrap", "unwrap")
        assert result in ("valid", "invalid")
        unknown = set(fields) - set(FIELD_ORDER)
        assert not unknown, unknown
        case = {
            "id": len(self.cases) + 1,
            "key": key,
            "alg": alg,
            "op": op,
            "result": result,
            "comment": comment,
            "flags": list(flags),
        }
        for name in FIELD_ORDER:
            if name in fields and fields[name] is not None:
                case[name] = fields[name].hex()
        self.cases.append(case)

    def write(self, out_dir: Path):
        doc = {
            "family": self.family,
            "description": self.description,
            "generator": GENERATOR,
            "schema": "localhsm-vectors/1 (see vectors/README.md)",
            "keys": self.keys,
            "cases": self.cases,
        }
        text = json.dumps(doc, indent=2) + "\n"
        (out_dir / self.name).write_text(text)
        return len(self.cases), len(text)


SAMPLE_MSGS = [
    b"",
    b"abc",
    b"localhsm known-answer test vector",
]


def messages(label):
    """Four messages per (key, alg): three fixed ones and 200 pseudo-random bytes."""
    return SAMPLE_MSGS + [Stream("msg", label).read(200)]


# --------------------------------------------------------------------------
# ECDSA
# --------------------------------------------------------------------------

EC_CURVES = [
    # key id, JWK crv, curve, coordinate width, alg, hash, group order n
    ("ec-p256", "P-256", ec.SECP256R1(), 32, "ES256", "SHA-256",
     0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551),
    ("ec-p384", "P-384", ec.SECP384R1(), 48, "ES384", "SHA-384",
     0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973),
    ("ec-p521", "P-521", ec.SECP521R1(), 66, "ES512", "SHA-512",
     0x01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409),
    ("ec-p256k", "P-256K", ec.SECP256K1(), 32, "ES256K", "SHA-256",
     0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141),
]
EC_ALG_HASH = {"ES256": "SHA-256", "ES384": "SHA-384", "ES512": "SHA-512", "ES256K": "SHA-256"}
# Key/alg mismatch case per curve: (alg to present, why it is wrong)
EC_MISMATCH = {
    "ec-p256": "ES384",
    "ec-p384": "ES256",
    "ec-p521": "ES384",
    "ec-p256k": "ES256",
}


def ec_key(crv: str, curve, n: int):
    seed = ("localhsm-vectors ec %s" % crv).encode()
    wide = hashlib.sha512(seed + b"\0").digest() + hashlib.sha512(seed + b"\1").digest()
    d = os2ip(wide) % (n - 1) + 1
    return ec.derive_private_key(d, curve)


def ec_jwk(priv, crv, width):
    pub = priv.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": crv,
        "x": b64u(i2osp(pub.x, width)),
        "y": b64u(i2osp(pub.y, width)),
        "d": b64u(i2osp(priv.private_numbers().private_value, width)),
    }


def ecdsa_sign(priv, digest, hash_name, width):
    der = priv.sign(digest, ec.ECDSA(utils.Prehashed(chash(hash_name)), deterministic_signing=True))
    r, s = utils.decode_dss_signature(der)
    return r, s, der


def ec_raw(r, s, width):
    return i2osp(r, width) + i2osp(s, width)


def ecdsa_ok(pub, sig, digest, hash_name, width):
    if len(sig) != 2 * width:
        return False
    r, s = os2ip(sig[:width]), os2ip(sig[width:])
    try:
        pub.verify(utils.encode_dss_signature(r, s), digest,
                   ec.ECDSA(utils.Prehashed(chash(hash_name))))
        return True
    except (InvalidSignature, ValueError):
        return False


def gen_ecdsa():
    vf = VectorFile(
        "ecdsa",
        "ECDSA over a precomputed digest (Key Vault ES256/ES384/ES512/ES256K). "
        "Signatures are raw r||s, each left-padded to the curve's byte width (JWS form, not DER). "
        "Valid signatures are RFC 6979 deterministic signatures from Python cryptography; "
        "implementations are not expected to reproduce them, only to accept them.",
    )
    for kid, crv, curve, width, alg, hname, n in EC_CURVES:
        priv = ec_key(crv, curve, n)
        pub = priv.public_key()
        vf.keys[kid] = ec_jwk(priv, crv, width)

        first = None
        for msg in messages(kid):
            digest = H(hname, msg)
            r, s, _ = ecdsa_sign(priv, digest, hname, width)
            sig = ec_raw(r, s, width)
            assert ecdsa_ok(pub, sig, digest, hname, width)
            vf.add(kid, alg, "verify", "valid",
                   "RFC 6979 signature of %d-byte message%s"
                   % (len(msg), " (high-S: s > n/2)" if s > n // 2 else ""),
                   flags=["HighS"] if s > n // 2 else [],
                   msg=msg, digest=digest, signature=sig)
            if first is None:
                first = (msg, digest, r, s)

        msg, digest, r, s = first
        # the other one of the two valid s values (low-S vs high-S)
        s2 = n - s
        sig2 = ec_raw(r, s2, width)
        assert ecdsa_ok(pub, sig2, digest, hname, width)
        vf.add(kid, alg, "verify", "valid",
               "s replaced by n - s (%s-S form); plain ECDSA accepts both (no low-S rule)"
               % ("high" if s2 > n // 2 else "low"),
               flags=["MalleableS"] + (["HighS"] if s2 > n // 2 else []),
               msg=msg, digest=digest, signature=sig2)

        # ---- invalid verify cases, based on the signature of b"abc"
        msg = b"abc"
        digest = H(hname, msg)
        r, s, der = ecdsa_sign(priv, digest, hname, width)
        sig = ec_raw(r, s, width)

        def bad(comment, flags, signature, msg=msg, digest=digest):
            assert not ecdsa_ok(pub, signature, digest, hname, width), comment
            vf.add(kid, alg, "verify", "invalid", comment, flags=flags,
                   msg=msg, digest=digest, signature=signature)

        bad("bit flip in r (last byte of r)", ["ModifiedSignature"], flip(sig, width - 1, 0))
        bad("bit flip in s (first byte of s)", ["ModifiedSignature"], flip(sig, width, 3 if crv != "P-521" else 0))
        other = b"abd"
        bad("signature of H('abc') presented with H('abd')", ["WrongDigest"], sig,
            msg=other, digest=H(hname, other))
        bad("r and s swapped", ["ModifiedSignature"], ec_raw(s, r, width))
        bad("r = s = 0", ["RangeCheck"], bytes(2 * width))
        bad("r replaced by the group order n (out of range)", ["RangeCheck"], ec_raw(n, s, width))
        bad("DER-encoded signature of the same digest: Key Vault signatures are raw r||s",
            ["SignatureEncoding"], der)
        bad("raw signature truncated by one byte", ["SignatureEncoding"], sig[:-1])

        # digest of the wrong length for the alg: the ECDSA maths (with hash
        # truncation) holds, but Key Vault requires len(digest) == hash size
        wrong_h = "SHA-384" if hname != "SHA-384" else "SHA-256"
        wdigest = H(wrong_h, msg)
        wr, ws, _ = ecdsa_sign(priv, wdigest, wrong_h, width)
        wsig = ec_raw(wr, ws, width)
        assert not ecdsa_ok(pub, wsig, wdigest, hname, width)
        vf.add(kid, alg, "verify", "invalid",
               "%d-byte digest (%s of 'abc') for %s, which takes %d-byte digests; "
               "signature is mathematically valid for the truncated digest"
               % (len(wdigest), wrong_h, alg, len(digest)),
               flags=["DigestLength"], digest=wdigest, signature=wsig)
        vf.add(kid, alg, "sign", "invalid",
               "sign a %d-byte digest with %s (needs %d bytes)" % (len(wdigest), alg, len(digest)),
               flags=["DigestLength"], digest=wdigest)

        # key / alg mismatch
        malg = EC_MISMATCH[kid]
        mh = EC_ALG_HASH[malg]
        mdigest = H(mh, msg)
        mr, ms, _ = ecdsa_sign(priv, mdigest, mh, width)
        msig = ec_raw(mr, ms, width)
        assert ecdsa_ok(pub, msig, mdigest, mh, width)  # maths fine, alg wrong
        vf.add(kid, malg, "verify", "invalid",
               "%s used with a %s key: the ECDSA maths holds but the alg requires another curve"
               % (malg, crv), flags=["KeyAlgMismatch"], msg=msg, digest=mdigest, signature=msig)
        vf.add(kid, malg, "sign", "invalid",
               "%s requested with a %s key" % (malg, crv),
               flags=["KeyAlgMismatch"], msg=msg, digest=mdigest)
    return vf



# --------------------------------------------------------------------------
# RSA
# --------------------------------------------------------------------------

RSA_SIZES = [2048, 3072, 4096]
RS_ALGS = [("RS256", "SHA-256"), ("RS384", "SHA-384"), ("RS512", "SHA-512")]
PS_ALGS = [("PS256", "SHA-256"), ("PS384", "SHA-384"), ("PS512", "SHA-512")]


def rsa_keys(new: bool):
    KEY_DIR.mkdir(parents=True, exist_ok=True)
    keys = {}
    for bits in RSA_SIZES:
        path = KEY_DIR / ("rsa-%d.pem" % bits)
        if new or not path.exists():
            k = rsa.generate_private_key(public_exponent=65537, key_size=bits)
            path.write_bytes(k.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
            print("wrote new key", path)
        k = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert k.key_size == bits and k.public_key().public_numbers().e == 65537
        keys["rsa-%d" % bits] = k
    return keys


def rsa_jwk(k):
    pn = k.private_numbers()
    pub = pn.public_numbers
    return {
        "kty": "RSA",
        "n": b64u(min_bytes(pub.n)),
        "e": b64u(min_bytes(pub.e)),
        "d": b64u(min_bytes(pn.d)),
        "p": b64u(min_bytes(pn.p)),
        "q": b64u(min_bytes(pn.q)),
        "dp": b64u(min_bytes(pn.dmp1)),
        "dq": b64u(min_bytes(pn.dmq1)),
        "qi": b64u(min_bytes(pn.iqmp)),
    }


def rsa_k(k):
    return (k.key_size + 7) // 8


def rsa_private_raw(k, em: bytes) -> bytes:
    pn = k.private_numbers()
    n = pn.public_numbers.n
    m = os2ip(em)
    assert m < n
    return i2osp(pow(m, pn.d, n), rsa_k(k))


def rsa_public_raw(k, em: bytes) -> bytes:
    pub = k.public_key().public_numbers()
    m = os2ip(em)
    assert m < pub.n
    return i2osp(pow(m, pub.e, pub.n), rsa_k(k))


def mgf1(seed: bytes, length: int, hname: str) -> bytes:
    out = b""
    c = 0
    while len(out) < length:
        out += H(hname, seed + c.to_bytes(4, "big"))
        c += 1
    return out[:length]


def emsa_pss_encode(mhash: bytes, embits: int, salt: bytes, hname: str, mgf_hname: str) -> bytes:
    """RFC 8017 9.1.1 with mHash supplied (Key Vault signs digests)."""
    hlen = len(mhash)
    emlen = (embits + 7) // 8
    assert emlen >= hlen + len(salt) + 2
    h = H(hname, b"\0" * 8 + mhash + salt)
    db = b"\0" * (emlen - len(salt) - hlen - 2) + b"\x01" + salt
    masked = bytearray(xor(db, mgf1(h, emlen - hlen - 1, mgf_hname)))
    masked[0] &= 0xFF >> (8 * emlen - embits)
    return bytes(masked) + h + b"\xbc"


def pss_sign(k, digest, hname, salt, mgf_hname=None):
    em = emsa_pss_encode(digest, k.key_size - 1, salt, hname, mgf_hname or hname)
    em = em.rjust(rsa_k(k), b"\0")
    return rsa_private_raw(k, em)


def pss_ok(k, sig, digest, hname):
    try:
        k.public_key().verify(
            sig, digest,
            padding.PSS(mgf=padding.MGF1(chash(hname)), salt_length=len(digest)),
            utils.Prehashed(chash(hname)))
        return True
    except (InvalidSignature, ValueError):
        return False


def pkcs1_sign(k, digest, hname):
    return k.sign(digest, padding.PKCS1v15(), utils.Prehashed(chash(hname)))


def pkcs1_ok(k, sig, digest, hname):
    try:
        k.public_key().verify(sig, digest, padding.PKCS1v15(), utils.Prehashed(chash(hname)))
        return True
    except (InvalidSignature, ValueError):
        return False


def oaep_encode(msg: bytes, k: int, hname: str, seed: bytes, label: bytes = b"") -> bytes:
    """RFC 8017 7.1.1 EME-OAEP encoding, MGF1 with the same hash."""
    lhash = H(hname, label)
    hlen = len(lhash)
    assert len(msg) <= k - 2 * hlen - 2 and len(seed) == hlen
    db = lhash + b"\0" * (k - len(msg) - 2 * hlen - 2) + b"\x01" + msg
    masked_db = xor(db, mgf1(seed, k - hlen - 1, hname))
    masked_seed = xor(seed, mgf1(masked_db, hlen, hname))
    return b"\0" + masked_seed + masked_db


def oaep_ok(k, ct, hname, expect):
    try:
        pt = k.decrypt(ct, padding.OAEP(mgf=padding.MGF1(chash(hname)), algorithm=chash(hname), label=None))
    except ValueError:
        return False
    return pt == expect


def eme_pkcs1_decode(em: bytes):
    """Strict RFC 8017 7.2.2 step 3: returns the message or None."""
    if len(em) < 11 or em[0] != 0 or em[1] != 2:
        return None
    try:
        sep = em.index(0, 2)
    except ValueError:
        return None
    if sep < 10:  # PS must be at least 8 bytes
        return None
    return em[sep + 1:]


def rsa_raw_decrypt(k, ct: bytes) -> bytes:
    pn = k.private_numbers()
    n = pn.public_numbers.n
    c = os2ip(ct)
    assert c < n
    return i2osp(pow(c, pn.d, n), rsa_k(k))


def each_rsa_key(vf, keys):
    """Adds each RSA key to `vf`; yields its id, the key, and its modulus length and value."""
    for kid, k in keys.items():
        vf.keys[kid] = rsa_jwk(k)
        yield kid, k, rsa_k(k), k.public_key().public_numbers().n


def rsa_sig_cases(vf, keys, algs, sign, ok, valid_case, flip_at, more_bad):
    """The cases the two RSA signature files share, per key and alg: one valid case per
    message (`valid_case(msg, hlen)` gives its op and comment), then invalid cases around
    a signature of b"abc": two bit flips (the second at `flip_at`, (byte, bit)), the
    signature presented with another digest, the file's own cases (`more_bad`), and a
    digest of the wrong length to sign.

    `sign(k, digest, hname, salt)` signs, `ok(k, sig, digest, hname)` verifies; `salt` is
    the case's deterministic byte stream (PSS reads its salt from it)."""
    for kid, k, klen, _ in each_rsa_key(vf, keys):
        for alg, hname in algs:
            label = (kid, alg)
            hlen = len(H(hname, b""))
            for i, msg in enumerate(messages(label)):
                digest = H(hname, msg)
                sig = sign(k, digest, hname, Stream("salt", i, *label))
                assert ok(k, sig, digest, hname)
                op, comment = valid_case(msg, hlen)
                vf.add(kid, alg, op, "valid", comment, msg=msg, digest=digest, signature=sig)
            msg = b"abc"
            digest = H(hname, msg)
            sig = sign(k, digest, hname, Stream("salt-abc", *label))
            assert ok(k, sig, digest, hname)

            def bad(comment, flags, signature, msg=msg, digest=digest):
                assert not ok(k, signature, digest, hname), comment
                vf.add(kid, alg, "verify", "invalid", comment, flags=flags,
                       msg=msg, digest=digest, signature=signature)

            at, bit = flip_at
            bad("bit flip in the signature (last byte)", ["ModifiedSignature"], flip(sig, klen - 1, 0))
            bad("bit flip in the signature (byte %d)" % at, ["ModifiedSignature"], flip(sig, at, bit))
            bad("signature of H('abc') presented with H('abd')", ["WrongDigest"], sig,
                msg=b"abd", digest=H(hname, b"abd"))
            more_bad(bad, k, sig, digest, hname, label)
            wrong_h = "SHA-384" if hname != "SHA-384" else "SHA-256"
            vf.add(kid, alg, "sign", "invalid",
                   "sign a %d-byte digest (%s) with %s, which takes %d-byte digests"
                   % (len(H(wrong_h, msg)), wrong_h, alg, len(digest)),
                   flags=["DigestLength"], digest=H(wrong_h, msg))
    return vf


def gen_rsa_pkcs1_sign(keys):
    vf = VectorFile(
        "rsa-pkcs1-sign",
        "RSASSA-PKCS1-v1_5 over a precomputed digest (Key Vault RS256/RS384/RS512). "
        "Deterministic: op 'sign' cases must be reproduced byte for byte.",
    )

    def more_bad(bad, k, sig, digest, hname, label):
        klen = rsa_k(k)
        pss = pss_sign(k, digest, hname, Stream("pss-as-pkcs1", *label).read(len(digest)))
        assert pss_ok(k, pss, digest, hname)
        bad("valid RSASSA-PSS signature of the same digest presented as PKCS#1 v1.5",
            ["WrongPadding"], pss)
        n = k.public_key().public_numbers().n
        bad("signature value equal to the modulus n (out of range)", ["RangeCheck"], i2osp(n, klen))
        bad("signature with an extra leading zero byte (length k+1, RFC 8017 8.2.2 step 1)",
            ["SignatureEncoding"], b"\0" + sig)

    return rsa_sig_cases(
        vf, keys, RS_ALGS,
        sign=lambda k, digest, hname, salt: pkcs1_sign(k, digest, hname),
        ok=pkcs1_ok,
        valid_case=lambda msg, hlen: ("sign", "deterministic signature of %d-byte message" % len(msg)),
        flip_at=(17, 6),
        more_bad=more_bad,
    )


def gen_rsa_pss_sign(keys):
    vf = VectorFile(
        "rsa-pss-sign",
        "RSASSA-PSS over a precomputed digest (Key Vault PS256/PS384/PS512): MGF1 with the same "
        "hash, salt length = digest length. Salts are deterministic pseudo-random bytes; the "
        "signatures are not expected to be reproduced, only verified.",
    )

    def more_bad(bad, k, sig, digest, hname, label):
        hlen = len(digest)
        bad("PSS signature with salt length 0; Key Vault PS* uses salt length = digest length",
            ["SaltLength"], pss_sign(k, digest, hname, b""))
        emlen = (k.key_size - 1 + 7) // 8
        smax = emlen - hlen - 2
        bad("PSS signature with maximal salt length %d; Key Vault PS* uses %d" % (smax, hlen),
            ["SaltLength"], pss_sign(k, digest, hname, Stream("salt-max", *label).read(smax)))
        bad("PSS signature using MGF1-SHA1 instead of MGF1 with %s" % hname,
            ["WrongMgfHash"], pss_sign(k, digest, hname, Stream("salt-mgf", *label).read(hlen), "SHA-1"))
        bad("valid PKCS#1 v1.5 signature of the same digest presented as PSS",
            ["WrongPadding"], pkcs1_sign(k, digest, hname))

    return rsa_sig_cases(
        vf, keys, PS_ALGS,
        sign=lambda k, digest, hname, salt: pss_sign(k, digest, hname, salt.read(len(digest))),
        ok=pss_ok,
        valid_case=lambda msg, hlen: ("verify", "signature of %d-byte message, %d-byte salt" % (len(msg), hlen)),
        flip_at=(9, 1),
        more_bad=more_bad,
    )


OAEP_ALGS = [("RSA-OAEP", "SHA-1"), ("RSA-OAEP-256", "SHA-256")]


def valid_decrypts(vf, kid, alg, mmax, max_text, encrypt):
    """The valid decryption cases of a key and alg: plaintexts of 1, 16, 32 and `mmax`
    (the maximum, `max_text`) bytes; `encrypt(size, pt)` makes each ciphertext."""
    for size in (1, 16, 32, mmax):
        pt = Stream("pt", size, kid, alg).read(size)
        vf.add(kid, alg, "decrypt", "valid",
               "%d-byte plaintext%s" % (size, " (%s)" % max_text if size == mmax else ""),
               flags=["MaxLength"] if size == mmax else [],
               plaintext=pt, ciphertext=encrypt(size, pt))


def gen_rsa_oaep(keys):
    vf = VectorFile(
        "rsa-oaep",
        "RSAES-OAEP decryption (Key Vault RSA-OAEP = SHA-1 with MGF1-SHA1, RSA-OAEP-256 = SHA-256 "
        "with MGF1-SHA256; empty label). Seeds are deterministic pseudo-random bytes; "
        "implementations must decrypt the ciphertexts, not reproduce them.",
    )
    for kid, k, klen, n in each_rsa_key(vf, keys):
        for alg, hname in OAEP_ALGS:
            label = (kid, alg)
            hlen = len(H(hname, b""))
            mmax = klen - 2 * hlen - 2

            def encrypt(size, pt):
                em = oaep_encode(pt, klen, hname, Stream("seed", size, *label).read(hlen))
                ct = rsa_public_raw(k, em)
                assert oaep_ok(k, ct, hname, pt)
                return ct

            valid_decrypts(vf, kid, alg, mmax, "maximum for this key/alg", encrypt)
            pt = Stream("pt-bad", *label).read(32)
            em = oaep_encode(pt, klen, hname, Stream("seed-bad", *label).read(hlen))
            ct = rsa_public_raw(k, em)
            assert oaep_ok(k, ct, hname, pt)

            def bad(comment, flags, ciphertext):
                assert not oaep_ok(k, ciphertext, hname, pt) and rsa_raw_ok_len(k, ciphertext), comment
                vf.add(kid, alg, "decrypt", "invalid", comment, flags=flags, ciphertext=ciphertext)

            bad("bit flip in the ciphertext (last byte)", ["ModifiedCiphertext"], flip(ct, klen - 1, 0))
            bad("bit flip in the ciphertext (byte 40)", ["ModifiedCiphertext"], flip(ct, 40, 5))
            other_h = "SHA-256" if hname == "SHA-1" else "SHA-1"
            other = rsa_public_raw(k, oaep_encode(pt, klen, other_h, Stream("seed-oh", *label).read(len(H(other_h, b"")))))
            assert oaep_ok(k, other, other_h, pt)
            bad("OAEP ciphertext made with %s/MGF1-%s (the other Key Vault OAEP alg)" % (other_h, other_h),
                ["WrongHash"], other)
            bad("OAEP ciphertext made with label 'label'; Key Vault uses the empty label",
                ["WrongLabel"],
                rsa_public_raw(k, oaep_encode(pt, klen, hname, Stream("seed-lbl", *label).read(hlen), b"label")))
            em_bad = bytearray(em)
            em_bad[0] = 1  # leading byte must be 0
            bad("EME-OAEP block whose leading byte is 0x01 instead of 0x00", ["BadPadding"],
                rsa_public_raw(k, bytes(em_bad)))
            bad("ciphertext value equal to the modulus n (out of range)", ["RangeCheck"], i2osp(n, klen))
            big = Stream("pt-big", *label).read(mmax + 1)
            vf.add(kid, alg, "encrypt", "invalid",
                   "encrypt %d bytes: one more than the maximum %d for this key/alg" % (mmax + 1, mmax),
                   flags=["MessageTooLong"], plaintext=big)
    return vf


def rsa_raw_ok_len(k, ct):
    return len(ct) == rsa_k(k)


def pkcs1_enc_ok(k, ct, expect):
    """Strict check via raw RSA (cryptography's PKCS1v15 decrypt uses implicit
    rejection with OpenSSL >= 3.2, so it returns a synthetic message instead of
    failing), plus cryptography's decrypt for the valid case."""
    if len(ct) != rsa_k(k) or os2ip(ct) >= k.public_key().public_numbers().n:
        return False
    m = eme_pkcs1_decode(rsa_raw_decrypt(k, ct))
    if m is None:
        return False
    return m == expect and k.decrypt(ct, padding.PKCS1v15()) == expect


def gen_rsa1_5(keys):
    vf = VectorFile(
        "rsa1_5",
        "RSAES-PKCS1-v1_5 decryption (Key Vault RSA1_5). Padding strings are deterministic "
        "pseudo-random non-zero bytes; implementations must decrypt the ciphertexts. "
        "Invalid cases must make decrypt fail with an error.",
    )
    for kid, k, klen, n in each_rsa_key(vf, keys):
        alg = "RSA1_5"
        mmax = klen - 11

        def encrypt(size, pt):
            em = b"\0\x02" + Stream("ps", size, kid, alg).nonzero(klen - size - 3) + b"\0" + pt
            ct = rsa_public_raw(k, em)
            assert pkcs1_enc_ok(k, ct, pt)
            return ct

        valid_decrypts(vf, kid, alg, mmax, "maximum for this key", encrypt)
        pt = Stream("pt-bad", kid, alg).read(32)
        ps = Stream("ps-bad", kid, alg).nonzero(klen - 32 - 3)
        ct = rsa_public_raw(k, b"\0\x02" + ps + b"\0" + pt)
        assert pkcs1_enc_ok(k, ct, pt)

        def bad(comment, flags, ciphertext):
            assert not pkcs1_enc_ok(k, ciphertext, pt), comment
            vf.add(kid, alg, "decrypt", "invalid", comment, flags=flags, ciphertext=ciphertext)

        bad("bit flip in the ciphertext (last byte); decrypted block has invalid padding",
            ["ModifiedCiphertext"], flip(ct, klen - 1, 0))
        bad("block type 01 (signature padding 00 01 FF..FF 00 M) instead of 02",
            ["BadPadding"], rsa_public_raw(k, b"\0\x01" + b"\xff" * len(ps) + b"\0" + pt))
        bad("leading byte 01 instead of 00 (01 02 PS 00 M)",
            ["BadPadding"], rsa_public_raw(k, b"\x01\x02" + ps + b"\0" + pt))
        bad("no zero separator: 00 02 followed by k-2 non-zero bytes",
            ["BadPadding"], rsa_public_raw(k, b"\0\x02" + Stream("ps-nosep", kid).nonzero(klen - 2)))
        short_ps = Stream("ps-short", kid).nonzero(7)
        tail = Stream("tail-short", kid).read(klen - 3 - 7)
        bad("padding string of 7 bytes (minimum is 8): 00 02 PS(7) 00 M",
            ["BadPadding"], rsa_public_raw(k, b"\0\x02" + short_ps + b"\0" + tail))
        bad("ciphertext value equal to the modulus n (out of range)", ["RangeCheck"], i2osp(n, klen))
        big = Stream("pt-big", kid).read(mmax + 1)
        vf.add(kid, alg, "encrypt", "invalid",
               "encrypt %d bytes: one more than the maximum k-11 = %d" % (mmax + 1, mmax),
               flags=["MessageTooLong"], plaintext=big)
    return vf


# --------------------------------------------------------------------------
# AES key wrap (RFC 3394)
# --------------------------------------------------------------------------

KW_KEKS = {
    "kek-128": bytes(range(16)),
    "kek-192": bytes(range(24)),
    "kek-256": bytes(range(32)),
}
KW_ALG_BITS = {"A128KW": 128, "A192KW": 192, "A256KW": 256}
KEY_DATA = bytes.fromhex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F")
RFC3394 = [
    # (kek id, key data length, expected) RFC 3394 section 4.1 - 4.6
    ("kek-128", 16, "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"),
    ("kek-192", 16, "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D"),
    ("kek-256", 16, "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7"),
    ("kek-192", 24, "031D33264E15D33268F24EC260743EDCE1C6C7DDEE725A936BA814915C6762D2"),
    ("kek-256", 24, "A8F9BC1612C68B3FF6E6F4FBE30E71E4769C8B80A32CB8958CD5D17D6B254DA1"),
    ("kek-256", 32, "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"),
]


def oct_jwks(keys):
    """JWKs of AES keys given as id -> key bytes."""
    return {kid: {"kty": "oct", "k": b64u(key)} for kid, key in keys.items()}


def unwrap_ok(kek, ct, expect):
    try:
        return aes_key_unwrap(kek, ct) == expect
    except (InvalidUnwrap, ValueError):
        return False


def gen_aes_kw():
    vf = VectorFile(
        "aes-kw",
        "AES key wrap, RFC 3394 (Key Vault A128KW/A192KW/A256KW), default IV A6A6A6A6A6A6A6A6, "
        "no padding. Deterministic: op 'wrap' cases must be reproduced byte for byte. "
        "KEKs are those of RFC 3394 section 4; cases 'RFC 3394 4.x' are the published answers.",
        oct_jwks(KW_KEKS),
    )
    for kid, kek in KW_KEKS.items():
        alg = "A%dKW" % (len(kek) * 8)
        for i, (rk, size, expect) in enumerate(RFC3394):
            if rk != kid:
                continue
            pt = KEY_DATA[:size]
            ct = aes_key_wrap(kek, pt)
            assert ct == bytes.fromhex(expect), (kid, size)
            vf.add(kid, alg, "wrap", "valid", "RFC 3394 4.%d: wrap %d bits of key data with a %d-bit KEK"
                   % (i + 1, size * 8, len(kek) * 8), flags=["RFC3394"], plaintext=pt, ciphertext=ct)
        for size in (16, 24, 32, 64):
            pt = Stream("kw-pt", size, kid).read(size)
            ct = aes_key_wrap(kek, pt)
            assert unwrap_ok(kek, ct, pt)
            vf.add(kid, alg, "wrap", "valid", "wrap a %d-byte key" % size, plaintext=pt, ciphertext=ct)

        pt = Stream("kw-bad", kid).read(32)
        ct = aes_key_wrap(kek, pt)

        def bad(comment, flags, ciphertext):
            assert not unwrap_ok(kek, ciphertext, pt), comment
            vf.add(kid, alg, "unwrap", "invalid", comment, flags=flags, ciphertext=ciphertext)

        bad("bit flip in the first semiblock (integrity check fails)", ["ModifiedCiphertext"], flip(ct, 0, 0))
        bad("bit flip in the last byte (integrity check fails)", ["ModifiedCiphertext"], flip(ct, len(ct) - 1, 7))
        other_kek = Stream("kw-other-kek", kid).read(len(kek))
        bad("wrapped under a different %d-bit KEK (%s)" % (len(kek) * 8, other_kek.hex()),
            ["WrongKey"], aes_key_wrap(other_kek, pt))
        bad("ciphertext of 39 bytes (not a multiple of 8)", ["InvalidLength"], ct[:-1])
        # 16-byte "ciphertext" with a correct integrity check value for one
        # semiblock (AES(KEK, A6..A6 || P)); RFC 3394 requires n >= 2 semiblocks.
        enc = Cipher(algorithms.AES(kek), modes.ECB()).encryptor()
        one = enc.update(b"\xa6" * 8 + pt[:8]) + enc.finalize()
        bad("16-byte ciphertext = AES(KEK, A6A6A6A6A6A6A6A6 || P1): correct check value but "
            "RFC 3394 needs at least 2 semiblocks (24-byte ciphertext)", ["InvalidLength"], one)
        vf.add(kid, alg, "wrap", "invalid", "wrap 20 bytes (not a multiple of 8; RFC 3394 has no padding)",
               flags=["InvalidLength"], plaintext=pt[:20])
        vf.add(kid, alg, "wrap", "invalid", "wrap 8 bytes (RFC 3394 needs at least 16)",
               flags=["InvalidLength"], plaintext=pt[:8])
        malg = "A256KW" if kid != "kek-256" else "A128KW"
        vf.add(kid, malg, "wrap", "invalid", "%s requested with a %d-bit key" % (malg, len(kek) * 8),
               flags=["KeyAlgMismatch"], plaintext=pt)
    return vf


# --------------------------------------------------------------------------
# AES-GCM
# --------------------------------------------------------------------------

GCM_KEYS = {
    # McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test cases 3-4 / 9-10 / 15-16
    "gcm-128": bytes.fromhex("feffe9928665731c6d6a8f9467308308"),
    "gcm-192": bytes.fromhex("feffe9928665731c6d6a8f9467308308feffe9928665731c"),
    "gcm-256": bytes.fromhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"),
}
GCM_TC_IV = bytes.fromhex("cafebabefacedbaddecaf888")
GCM_TC_P = bytes.fromhex(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
GCM_TC_A = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
GCM_TC = {  # test cases 4, 10, 16: ciphertext, tag
    "gcm-128": ("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
                "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
                "5bc94fbc3221a5db94fae95ae7121a47", 4),
    "gcm-192": ("3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c"
                "7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710",
                "2519498e80f1478f37ba55bd6d27618c", 10),
    "gcm-256": ("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
                "76fc6ece0f4e1768cddf8853bb2d551b", 16),
}


def gcm_open(key, iv, ct, tag, aad):
    if len(iv) != 12 or len(tag) != 16:
        return None
    try:
        return AESGCM(key).decrypt(iv, ct + tag, aad or None)
    except InvalidTag:
        return None


def gen_aes_gcm():
    vf = VectorFile(
        "aes-gcm",
        "AES-GCM (Key Vault A128GCM/A192GCM/A256GCM): 96-bit iv, 128-bit tag kept separate from "
        "the ciphertext, optional aad. Deterministic for a given iv: op 'encrypt' cases must be "
        "reproduced byte for byte. Keys are those of the GCM specification test cases.",
        oct_jwks(GCM_KEYS),
    )
    for kid, key in GCM_KEYS.items():
        alg = "A%dGCM" % (len(key) * 8)
        aead = AESGCM(key)

        def enc(comment, iv, pt, aad, flags=()):
            out = aead.encrypt(iv, pt, aad or None)
            ct, tag = out[:-16], out[-16:]
            assert gcm_open(key, iv, ct, tag, aad) == pt
            vf.add(kid, alg, "encrypt", "valid", comment, flags=flags,
                   plaintext=pt, iv=iv, aad=aad, ciphertext=ct, tag=tag)
            return ct, tag

        ect, etag, tc = GCM_TC[kid]
        ct, tag = enc("GCM specification test case %d (60-byte plaintext, 20-byte aad)" % tc,
                      GCM_TC_IV, GCM_TC_P, GCM_TC_A, flags=["GcmSpec"])
        assert (ct.hex(), tag.hex()) == (ect, etag), kid
        s = lambda *x: Stream("gcm", kid, *x)
        enc("16-byte plaintext, no aad", s("iv1").read(12), s("pt1").read(16), None)
        enc("1-byte plaintext, 13-byte aad", s("iv2").read(12), s("pt2").read(1), s("aad2").read(13))
        enc("100-byte plaintext, 32-byte aad", s("iv3").read(12), s("pt3").read(100), s("aad3").read(32))
        enc("empty plaintext, 20-byte aad (tag only)", s("iv4").read(12), b"", s("aad4").read(20),
            flags=["EmptyPlaintext"])

        iv, pt, aad = s("ivb").read(12), s("ptb").read(48), s("aadb").read(16)
        out = aead.encrypt(iv, pt, aad)
        ct, tag = out[:-16], out[-16:]

        def bad(comment, flags, iv=iv, aad=aad, ct=ct, tag=tag):
            assert gcm_open(key, iv, ct, tag, aad) is None, comment
            vf.add(kid, alg, "decrypt", "invalid", comment, flags=flags,
                   iv=iv, aad=aad, ciphertext=ct, tag=tag)

        bad("bit flip in the tag (wrong tag)", ["ModifiedTag"], tag=flip(tag, 15, 0))
        bad("all-zero tag", ["ModifiedTag"], tag=bytes(16))
        bad("bit flip in the ciphertext", ["ModifiedCiphertext"], ct=flip(ct, 0, 7))
        bad("aad changed (one bit)", ["ModifiedAad"], aad=flip(aad, 3, 2))
        bad("aad omitted (encrypted with 16-byte aad)", ["ModifiedAad"], aad=b"")
        bad("iv changed (one bit)", ["ModifiedIv"], iv=flip(iv, 11, 0))
        bad("tag truncated to 96 bits (Key Vault tags are 128 bits)", ["TruncatedTag"], tag=tag[:12])
        malg = "A256GCM" if kid != "gcm-256" else "A128GCM"
        vf.add(kid, malg, "encrypt", "invalid", "%s requested with a %d-bit key" % (malg, len(key) * 8),
               flags=["KeyAlgMismatch"], plaintext=pt, iv=iv, aad=aad)
    return vf


# --------------------------------------------------------------------------
# AES-CBC
# --------------------------------------------------------------------------

CBC_KEYS = {  # NIST SP 800-38A F.2
    "cbc-128": bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c"),
    "cbc-192": bytes.fromhex("8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b"),
    "cbc-256": bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"),
}
SP_IV = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
SP_P = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
SP_C = {
    "cbc-128": ("F.2.1", "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
                         "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7"),
    "cbc-192": ("F.2.3", "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a"
                         "571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd"),
    "cbc-256": ("F.2.5", "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
                         "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"),
}


def cbc_raw(key, iv, data, encrypt):
    c = Cipher(algorithms.AES(key), modes.CBC(iv))
    x = c.encryptor() if encrypt else c.decryptor()
    return x.update(data) + x.finalize()


def pkcs7(data):
    p = sympadding.PKCS7(128).padder()
    return p.update(data) + p.finalize()


def cbcpad_open(key, iv, ct):
    if len(ct) == 0 or len(ct) % 16:
        return None
    u = sympadding.PKCS7(128).unpadder()
    try:
        return u.update(cbc_raw(key, iv, ct, False)) + u.finalize()
    except ValueError:
        return None


def gen_aes_cbc():
    vf = VectorFile(
        "aes-cbc",
        "AES-CBC with a 128-bit iv (Key Vault A128CBC/A192CBC/A256CBC: no padding, input must be a "
        "multiple of 16 bytes; A128CBCPAD/A192CBCPAD/A256CBCPAD: PKCS#7 padding). Deterministic: "
        "op 'encrypt' cases must be reproduced byte for byte. Keys are those of NIST SP 800-38A F.2.",
        oct_jwks(CBC_KEYS),
    )
    for kid, key in CBC_KEYS.items():
        bits = len(key) * 8
        s = lambda *x: Stream("cbc", kid, *x)
        # ---- no padding
        alg = "A%dCBC" % bits
        sect, expect = SP_C[kid]
        ct = cbc_raw(key, SP_IV, SP_P, True)
        assert ct.hex() == expect, kid
        vf.add(kid, alg, "encrypt", "valid", "NIST SP 800-38A %s (CBC-AES%d.Encrypt)" % (sect, bits),
               flags=["SP800-38A"], plaintext=SP_P, iv=SP_IV, ciphertext=ct)
        for size in (16, 32, 128):
            iv, pt = s("iv", size).read(16), s("pt", size).read(size)
            vf.add(kid, alg, "encrypt", "valid", "%d-byte plaintext" % size,
                   plaintext=pt, iv=iv, ciphertext=cbc_raw(key, iv, pt, True))
        iv, pt = s("iv-bad").read(16), s("pt-bad").read(32)
        ct = cbc_raw(key, iv, pt, True)
        vf.add(kid, alg, "encrypt", "invalid", "15-byte plaintext: not a multiple of the block size, no padding",
               flags=["InvalidLength"], plaintext=pt[:15], iv=iv)
        vf.add(kid, alg, "decrypt", "invalid", "20-byte ciphertext: not a multiple of the block size",
               flags=["InvalidLength"], iv=iv, ciphertext=ct[:20])
        vf.add(kid, alg, "encrypt", "invalid", "12-byte iv (CBC needs 16)",
               flags=["InvalidIvLength"], plaintext=pt, iv=iv[:12])
        malg = "A256CBC" if bits != 256 else "A128CBC"
        vf.add(kid, malg, "encrypt", "invalid", "%s requested with a %d-bit key" % (malg, bits),
               flags=["KeyAlgMismatch"], plaintext=pt, iv=iv)

        # ---- PKCS#7 padding
        alg = "A%dCBCPAD" % bits
        ct = cbc_raw(key, SP_IV, pkcs7(SP_P), True)
        assert ct[:64].hex() == expect
        vf.add(kid, alg, "encrypt", "valid",
               "NIST SP 800-38A %s plaintext with PKCS#7: first 64 bytes equal the published "
               "ciphertext, then one full padding block" % sect,
               flags=["SP800-38A"], plaintext=SP_P, iv=SP_IV, ciphertext=ct)
        for size in (0, 1, 15, 16, 33):
            iv, pt = s("padiv", size).read(16), s("padpt", size).read(size)
            ct = cbc_raw(key, iv, pkcs7(pt), True)
            assert cbcpad_open(key, iv, ct) == pt
            vf.add(kid, alg, "encrypt", "valid",
                   "%d-byte plaintext (%d padding bytes)" % (size, 16 - size % 16),
                   flags=["EmptyPlaintext"] if size == 0 else [],
                   plaintext=pt, iv=iv, ciphertext=ct)
        iv = s("padiv-bad").read(16)
        body = s("padpt-bad").read(16)

        def bad(comment, last_block=None, ciphertext=None, flags=("BadPadding",)):
            if ciphertext is None:
                ciphertext = cbc_raw(key, iv, body + last_block, True)
            assert cbcpad_open(key, iv, ciphertext) is None, comment
            vf.add(kid, alg, "decrypt", "invalid", comment, flags=flags, iv=iv, ciphertext=ciphertext)

        bad("last plaintext byte 0x00 (padding length 0)", s("b1").read(15) + b"\x00")
        bad("last plaintext byte 0x11 (padding length 17 > block size)", s("b2").read(15) + b"\x11")
        bad("inconsistent padding: ends 05 05 05 04 05", s("b3").read(11) + bytes([5, 5, 5, 4, 5]))
        bad("inconsistent padding: 16 bytes of 0x10 except the first (0x00)", b"\x00" + b"\x10" * 15)
        good = cbc_raw(key, iv, pkcs7(body), True)
        bad("ciphertext not a multiple of 16 bytes (31)", ciphertext=good[:31], flags=["InvalidLength"])
        bad("empty ciphertext (PKCS#7 output is at least one block)", ciphertext=b"", flags=["InvalidLength"])
        malg = "A256CBCPAD" if bits != 256 else "A128CBCPAD"
        vf.add(kid, malg, "encrypt", "invalid", "%s requested with a %d-bit key" % (malg, bits),
               flags=["KeyAlgMismatch"], plaintext=body, iv=iv)
    return vf


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=GEN_DIR.parent, help="output directory (default: vectors/)")
    ap.add_argument("--new-rsa-keys", action="store_true", help="replace the RSA keys in gen/keys/")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    keys = rsa_keys(args.new_rsa_keys)
    files = [
        gen_ecdsa(),
        gen_rsa_pkcs1_sign(keys),
        gen_rsa_pss_sign(keys),
        gen_rsa_oaep(keys),
        gen_rsa1_5(keys),
        gen_aes_kw(),
        gen_aes_gcm(),
        gen_aes_cbc(),
    ]
    total = 0
    for vf in files:
        count, size = vf.write(args.out)
        total += count
        print("%-20s %4d cases  %7d bytes" % (vf.name, count, size))
    print("%d cases written to %s" % (total, args.out))


if __name__ == "__main__":
    sys.exit(main())
