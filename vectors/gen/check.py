#!/usr/bin/env python3
"""Cross-check every localhsm vector file with Python `cryptography`.

Independent of generate.py (shares no code with it).  For each case the
operation named by "op" is run with `cryptography` under Key Vault semantics
(alg/key binding, digest length = hash size, raw r||s ECDSA signatures,
96-bit GCM iv and 128-bit tag, 128-bit CBC iv, RFC 3394 without padding):

  * result "valid":   the operation must succeed and its output must equal the
                      vector (sign/encrypt/wrap are deterministic here), and the
                      inverse (verify/decrypt/unwrap) of the stored output must
                      succeed too;
  * result "invalid": the operation must fail.

PKCS#1 v1.5 decryption: cryptography with OpenSSL >= 3.2 applies implicit
rejection (returns a synthetic message instead of an error), so padding is
checked strictly on the raw RSA result (RFC 8017 7.2.2), and cryptography's
decrypt must return the same message for the valid cases.

Usage: python3 vectors/gen/check.py [FILE_OR_DIR ...]   (default: vectors/)
The last line of output is "N passed, N failed"; exit status 1 on any failure.
"""

import base64
import json
import re
import sys
from pathlib import Path

import cryptography
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.backends.openssl import backend as _ossl
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sympadding
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

VECTOR_DIR = Path(__file__).resolve().parent.parent

HASHES = {"SHA-1": hashes.SHA1, "SHA-256": hashes.SHA256, "SHA-384": hashes.SHA384, "SHA-512": hashes.SHA512}
CURVES = {  # crv: (curve class, coordinate width)
    "P-256": (ec.SECP256R1, 32),
    "P-384": (ec.SECP384R1, 48),
    "P-521": (ec.SECP521R1, 66),
    "P-256K": (ec.SECP256K1, 32),
}
# alg -> (family, parameter)
ALGS = {
    "ES256": ("ecdsa", ("P-256", "SHA-256")),
    "ES384": ("ecdsa", ("P-384", "SHA-384")),
    "ES512": ("ecdsa", ("P-521", "SHA-512")),
    "ES256K": ("ecdsa", ("P-256K", "SHA-256")),
    "RS256": ("rsa-pkcs1-sign", "SHA-256"),
    "RS384": ("rsa-pkcs1-sign", "SHA-384"),
    "RS512": ("rsa-pkcs1-sign", "SHA-512"),
    "PS256": ("rsa-pss-sign", "SHA-256"),
    "PS384": ("rsa-pss-sign", "SHA-384"),
    "PS512": ("rsa-pss-sign", "SHA-512"),
    "RSA-OAEP": ("rsa-oaep", "SHA-1"),
    "RSA-OAEP-256": ("rsa-oaep", "SHA-256"),
    "RSA1_5": ("rsa1_5", None),
    "A128KW": ("aes-kw", 16), "A192KW": ("aes-kw", 24), "A256KW": ("aes-kw", 32),
    "A128GCM": ("aes-gcm", 16), "A192GCM": ("aes-gcm", 24), "A256GCM": ("aes-gcm", 32),
    "A128CBC": ("aes-cbc", (16, False)), "A192CBC": ("aes-cbc", (24, False)), "A256CBC": ("aes-cbc", (32, False)),
    "A128CBCPAD": ("aes-cbc", (16, True)), "A192CBCPAD": ("aes-cbc", (24, True)), "A256CBCPAD": ("aes-cbc", (32, True)),
}
FAMILY_OPS = {
    "ecdsa": {"sign", "verify"},
    "rsa-pkcs1-sign": {"sign", "verify"},
    "rsa-pss-sign": {"sign", "verify"},
    "rsa-oaep": {"encrypt", "decrypt"},
    "rsa1_5": {"encrypt", "decrypt"},
    "aes-kw": {"wrap", "unwrap"},
    "aes-gcm": {"encrypt", "decrypt"},
    "aes-cbc": {"encrypt", "decrypt"},
}
HEX_FIELDS = ["msg", "digest", "signature", "plaintext", "iv", "aad", "ciphertext", "tag"]
CASE_FIELDS = {"id", "key", "alg", "op", "result", "comment", "flags"} | set(HEX_FIELDS)
HEX_RE = re.compile(r"^(?:[0-9a-f]{2})*$")
# a failed cryptographic operation (as opposed to a bug in a vector or here)
OP_FAILED = (InvalidSignature, InvalidTag, InvalidUnwrap, ValueError)


class VectorError(Exception):
    """Malformed vector (always counted as a failure)."""


def b64u_dec(s: str) -> bytes:
    if not isinstance(s, str) or "=" in s or not re.fullmatch(r"[A-Za-z0-9_-]*", s):
        raise VectorError("not base64url without padding: %r" % (s,))
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64u_int(s: str, fixed_width=None) -> int:
    raw = b64u_dec(s)
    if fixed_width is not None:
        if len(raw) != fixed_width:
            raise VectorError("EC field must be %d bytes, got %d" % (fixed_width, len(raw)))
    elif len(raw) == 0 or (len(raw) > 1 and raw[0] == 0):
        raise VectorError("RSA field must be minimal big-endian")
    return int.from_bytes(raw, "big")


# --------------------------------------------------------------------------
# keys
# --------------------------------------------------------------------------


def load_key(jwk):
    kty = jwk.get("kty")
    if kty == "EC":
        crv = jwk["crv"]
        curve_cls, width = CURVES[crv]
        x, y, d = (b64u_int(jwk[f], width) for f in ("x", "y", "d"))
        pub = ec.EllipticCurvePublicNumbers(x, y, curve_cls()).public_key()
        priv = ec.derive_private_key(d, curve_cls())
        pn = priv.public_key().public_numbers()
        if (pn.x, pn.y) != (x, y):
            raise VectorError("EC d does not match x, y")
        return {"kty": "EC", "crv": crv, "width": width, "pub": pub, "priv": priv}
    if kty == "RSA":
        n, e, d, p, q, dp, dq, qi = (b64u_int(jwk[f]) for f in ("n", "e", "d", "p", "q", "dp", "dq", "qi"))
        if e != 65537:
            raise VectorError("e must be 65537")
        priv = rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, rsa.RSAPublicNumbers(e, n)).private_key()
        if n.bit_length() not in (2048, 3072, 4096):
            raise VectorError("unexpected RSA size")
        return {"kty": "RSA", "n": n, "d": d, "k": (n.bit_length() + 7) // 8,
                "pub": priv.public_key(), "priv": priv}
    if kty == "oct":
        k = b64u_dec(jwk["k"])
        if len(k) not in (16, 24, 32):
            raise VectorError("oct key must be 128/192/256 bits")
        return {"kty": "oct", "k": k}
    raise VectorError("unknown kty %r" % (kty,))


# --------------------------------------------------------------------------
# per-family operations.  Each returns True if the operation succeeded (and,
# where an expected output is given for a valid case, reproduced it).
# --------------------------------------------------------------------------


def need(case, *fields):
    for f in fields:
        if f not in case:
            raise VectorError("missing field %r" % f)
    return [case[f] for f in fields]


def check_msg(case, hname):
    if "msg" in case:
        h = hashes.Hash(HASHES[hname]())
        h.update(case["msg"])
        if h.finalize() != case["digest"]:
            raise VectorError("digest is not %s(msg)" % hname)


def run_ecdsa(case, key, param, valid):
    crv, hname = param
    if key["kty"] != "EC":
        raise VectorError("ecdsa case with non-EC key")
    (digest,) = need(case, "digest")
    check_msg(case, hname)
    if key["crv"] != crv:
        return False  # alg bound to another curve
    algo = ec.ECDSA(utils.Prehashed(HASHES[hname]()))
    w = key["width"]
    if case["op"] == "sign":
        der = key["priv"].sign(digest, algo)  # ValueError on wrong digest length
        key["pub"].verify(der, digest, algo)
        if "signature" in case:  # ECDSA is randomised: only check it verifies
            return run_ecdsa(dict(case, op="verify"), key, param, valid)
        return True
    (sig,) = need(case, "signature")
    if len(sig) != 2 * w:
        return False
    r, s = int.from_bytes(sig[:w], "big"), int.from_bytes(sig[w:], "big")
    key["pub"].verify(utils.encode_dss_signature(r, s), digest, algo)
    return True


def run_rsa_sign(case, key, hname, pss):
    if key["kty"] != "RSA":
        raise VectorError("RSA case with non-RSA key")
    (digest,) = need(case, "digest")
    check_msg(case, hname)
    h = HASHES[hname]()
    pad = padding.PSS(mgf=padding.MGF1(HASHES[hname]()), salt_length=h.digest_size) if pss else padding.PKCS1v15()
    if case["op"] == "sign":
        sig = key["priv"].sign(digest, pad, utils.Prehashed(h))
        key["pub"].verify(sig, digest, pad, utils.Prehashed(h))
        if "signature" in case:
            if not pss and sig != case["signature"]:
                return False  # PKCS#1 v1.5 is deterministic: must be reproduced
            return run_rsa_sign(dict(case, op="verify"), key, hname, pss)
        return True
    (sig,) = need(case, "signature")
    if len(sig) != key["k"]:
        return False  # RFC 8017 8.1.2 / 8.2.2 step 1
    key["pub"].verify(sig, digest, pad, utils.Prehashed(h))
    return True


def run_oaep(case, key, hname):
    if key["kty"] != "RSA":
        raise VectorError("RSA case with non-RSA key")
    pad = padding.OAEP(mgf=padding.MGF1(HASHES[hname]()), algorithm=HASHES[hname](), label=None)
    if case["op"] == "encrypt":
        (pt,) = need(case, "plaintext")
        ct = key["pub"].encrypt(pt, pad)  # randomised
        return key["priv"].decrypt(ct, pad) == pt
    (ct,) = need(case, "ciphertext")
    if len(ct) != key["k"]:
        return False
    pt = key["priv"].decrypt(ct, pad)
    return pt == case["plaintext"] if "plaintext" in case and case["result"] == "valid" else True


def eme_pkcs1_v15_decode(em):
    if len(em) < 11 or em[0] != 0 or em[1] != 2:
        return None
    sep = em.find(b"\0", 2)
    if sep < 10:  # not found (-1) or padding string shorter than 8 bytes
        return None
    return em[sep + 1:]


def run_rsa1_5(case, key, _):
    if key["kty"] != "RSA":
        raise VectorError("RSA case with non-RSA key")
    if case["op"] == "encrypt":
        (pt,) = need(case, "plaintext")
        ct = key["pub"].encrypt(pt, padding.PKCS1v15())  # randomised
        return key["priv"].decrypt(ct, padding.PKCS1v15()) == pt
    (ct,) = need(case, "ciphertext")
    c = int.from_bytes(ct, "big")
    if len(ct) != key["k"] or c >= key["n"]:
        return False
    m = eme_pkcs1_v15_decode(pow(c, key["d"], key["n"]).to_bytes(key["k"], "big"))
    if m is None:
        return False
    if key["priv"].decrypt(ct, padding.PKCS1v15()) != m:
        raise VectorError("cryptography's PKCS#1 v1.5 decrypt disagrees with the raw decoding")
    return m == case["plaintext"] if "plaintext" in case and case["result"] == "valid" else True


def oct_key(key, size):
    if key["kty"] != "oct":
        raise VectorError("symmetric case with non-oct key")
    return key["k"] if len(key["k"]) == size else None


def run_kw(case, key, size):
    kek = oct_key(key, size)
    if kek is None:
        return False
    if case["op"] == "wrap":
        (pt,) = need(case, "plaintext")
        ct = aes_key_wrap(kek, pt)
        if "ciphertext" in case and ct != case["ciphertext"]:
            return False
        return aes_key_unwrap(kek, ct) == pt
    (ct,) = need(case, "ciphertext")
    pt = aes_key_unwrap(kek, ct)
    return pt == case["plaintext"] if "plaintext" in case and case["result"] == "valid" else True


def run_gcm(case, key, size):
    k = oct_key(key, size)
    iv, = need(case, "iv")
    aad = case.get("aad", b"") or None
    if k is None or len(iv) != 12:
        return False
    aead = AESGCM(k)
    if case["op"] == "encrypt":
        (pt,) = need(case, "plaintext")
        out = aead.encrypt(iv, pt, aad)
        ct, tag = out[:-16], out[-16:]
        if "ciphertext" in case and (ct, tag) != (case["ciphertext"], case.get("tag")):
            return False
        return aead.decrypt(iv, ct + tag, aad) == pt
    ct, tag = need(case, "ciphertext", "tag")
    if len(tag) != 16:
        return False
    pt = aead.decrypt(iv, ct + tag, aad)
    return pt == case["plaintext"] if "plaintext" in case and case["result"] == "valid" else True


def run_cbc(case, key, param):
    size, pad = param
    k = oct_key(key, size)
    (iv,) = need(case, "iv")
    if k is None or len(iv) != 16:
        return False
    cipher = Cipher(algorithms.AES(k), modes.CBC(iv))

    def dec(ct):
        d = cipher.decryptor()
        out = d.update(ct) + d.finalize()  # ValueError if not whole blocks
        if pad:
            u = sympadding.PKCS7(128).unpadder()
            out = u.update(out) + u.finalize()  # ValueError on bad padding / empty
        return out

    if case["op"] == "encrypt":
        (pt,) = need(case, "plaintext")
        data = pt
        if pad:
            p = sympadding.PKCS7(128).padder()
            data = p.update(pt) + p.finalize()
        e = cipher.encryptor()
        ct = e.update(data) + e.finalize()  # ValueError if not whole blocks
        if "ciphertext" in case and ct != case["ciphertext"]:
            return False
        return dec(ct) == pt
    (ct,) = need(case, "ciphertext")
    pt = dec(ct)
    return pt == case["plaintext"] if "plaintext" in case and case["result"] == "valid" else True


RUNNERS = {
    "ecdsa": run_ecdsa,
    "rsa-pkcs1-sign": lambda c, k, p, v=None: run_rsa_sign(c, k, p, False),
    "rsa-pss-sign": lambda c, k, p, v=None: run_rsa_sign(c, k, p, True),
    "rsa-oaep": lambda c, k, p, v=None: run_oaep(c, k, p),
    "rsa1_5": lambda c, k, p, v=None: run_rsa1_5(c, k, p),
    "aes-kw": lambda c, k, p, v=None: run_kw(c, k, p),
    "aes-gcm": lambda c, k, p, v=None: run_gcm(c, k, p),
    "aes-cbc": lambda c, k, p, v=None: run_cbc(c, k, p),
}

# --------------------------------------------------------------------------


def check_case(family, raw, keys, seen_ids):
    if not isinstance(raw, dict):
        raise VectorError("case is not an object")
    unknown = set(raw) - CASE_FIELDS
    if unknown:
        raise VectorError("unknown fields %s" % sorted(unknown))
    for f in ("id", "key", "alg", "op", "result", "comment"):
        if f not in raw:
            raise VectorError("missing field %r" % f)
    if not isinstance(raw["id"], int) or raw["id"] in seen_ids:
        raise VectorError("id missing, not an integer or duplicated")
    seen_ids.add(raw["id"])
    if not isinstance(raw.get("flags", []), list):
        raise VectorError("flags must be a list")
    if raw["alg"] not in ALGS or ALGS[raw["alg"]][0] != family:
        raise VectorError("alg %r does not belong to family %r" % (raw["alg"], family))
    if raw["op"] not in FAMILY_OPS[family]:
        raise VectorError("op %r not allowed in family %r" % (raw["op"], family))
    if raw["result"] not in ("valid", "invalid"):
        raise VectorError("result must be valid or invalid")
    if raw["key"] not in keys:
        raise VectorError("unknown key %r" % raw["key"])
    case = dict(raw)
    for f in HEX_FIELDS:
        if f in case:
            if not isinstance(case[f], str) or not HEX_RE.match(case[f]):
                raise VectorError("field %r is not lowercase hex" % f)
            case[f] = bytes.fromhex(case[f])
    valid = raw["result"] == "valid"
    try:
        ok = RUNNERS[family](case, keys[raw["key"]], ALGS[raw["alg"]][1], valid)
    except OP_FAILED:
        ok = False
    return ok == valid, "operation %s, expected %s" % ("succeeded" if ok else "failed", raw["result"])


def check_file(path):
    passed = failed = 0
    problems = []
    try:
        doc = json.loads(path.read_text())
        for f in ("family", "description", "keys", "cases"):
            if f not in doc:
                raise VectorError("missing top-level %r" % f)
        family = doc["family"]
        if family not in FAMILY_OPS:
            raise VectorError("unknown family %r" % family)
        keys = {kid: load_key(jwk) for kid, jwk in doc["keys"].items()}
        cases = doc["cases"]
    except (VectorError, ValueError, KeyError) as e:
        return 0, 1, ["file: %s" % e]
    seen = set()
    per_result = {"valid": 0, "invalid": 0}
    for raw in cases:
        try:
            good, why = check_case(family, raw, keys, seen)
        except (VectorError, KeyError, TypeError) as e:
            good, why = False, "malformed vector: %s" % e
        except Exception as e:  # an unexpected exception is a failure, not a pass
            good, why = False, "unexpected %s: %s" % (type(e).__name__, e)
        if good:
            passed += 1
            per_result[raw.get("result")] = per_result.get(raw.get("result"), 0) + 1
        else:
            failed += 1
            problems.append("case %s (%s %s %s): %s" % (
                raw.get("id"), raw.get("key"), raw.get("alg"), raw.get("op"), why))
    if not cases:
        failed += 1
        problems.append("file has no cases")
    print("%-20s %4d cases (%d valid, %d invalid ok): %d passed, %d failed" % (
        path.name, len(cases), per_result["valid"], per_result["invalid"], passed, failed))
    return passed, failed, problems


def main(argv):
    targets = [Path(a) for a in argv] or [VECTOR_DIR]
    files = []
    for t in targets:
        files.extend(sorted(t.glob("*.json")) if t.is_dir() else [t])
    print("checker: Python cryptography %s, %s" % (cryptography.__version__, _ossl.openssl_version_text()))
    total_pass = total_fail = 0
    if not files:
        print("no vector files found")
        total_fail = 1
    for path in files:
        p, f, problems = check_file(path)
        total_pass += p
        total_fail += f
        for msg in problems:
            print("  FAIL %s" % msg)
    print("%d passed, %d failed" % (total_pass, total_fail))
    return 1 if total_fail else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
