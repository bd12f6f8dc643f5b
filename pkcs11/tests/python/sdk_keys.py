"""The Azure SDK's side of the PKCS#11 cross-checks: starts `localhsm serve` on a data
directory, runs a list of steps through azure-keyvault-keys, and stops the server.

The module here opens the store in its own process (tools.sh covers it going through a
running server), so the checks take turns on one data directory (and one LOCALHSM_MASTER_KEY):
this script with the server, then the PKCS#11 tools without it, then this script again.

    python sdk_keys.py DATA_DIR STEP...

Steps (paths are files to read or write):
    create-ec:NAME          a P-256 key (EC-HSM, as the default Managed HSM vault holds)
    create-rsa:NAME         an RSA-2048 key (RSA-HSM)
    export:NAME:PEM         the key's public key, from the SDK's JWK, as PEM
    sign:NAME:ALG:MSG:SIG   the server signs MSG's digest; an ECDSA signature is written
                            as DER (OpenSSL's form), RSA as is
    verify:NAME:ALG:MSG:SIG the server verifies SIG (DER for ECDSA) over MSG's digest;
                            fails unless it says valid
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "tests" / "sdk" / "python"))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import (  # noqa: E402
    decode_dss_signature,
    encode_dss_signature,
)

from localhsm_support import (  # noqa: E402
    LocalHsm,
    ServerProcess,
    public_key_from_jwk,
    rest_key_op,
    unb64url,
)

HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}
EC_SIZES = {"ES256": 32, "ES384": 48, "ES512": 66}


def digest(alg: str, path: str) -> bytes:
    return HASHES[alg[-3:]](Path(path).read_bytes()).digest()


def run(hsm: LocalHsm, step: str) -> None:
    op, *args = step.split(":")
    keys = hsm.key_client()
    if op == "create-ec":
        (name,) = args
        keys.create_ec_key(name, curve="P-256", hardware_protected=True)
    elif op == "create-rsa":
        (name,) = args
        keys.create_rsa_key(name, size=2048, hardware_protected=True)
    elif op == "export":
        name, pem = args
        public = public_key_from_jwk(keys.get_key(name).key)
        Path(pem).write_bytes(
            public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    elif op == "sign":
        name, alg, msg, sig = args
        kid = keys.get_key(name).id
        raw = unb64url(rest_key_op(keys, kid, "sign", alg=alg, value=digest(alg, msg))["value"])
        if alg in EC_SIZES:
            n = EC_SIZES[alg]
            assert len(raw) == 2 * n, f"{alg} signature of {len(raw)} bytes"
            raw = encode_dss_signature(int.from_bytes(raw[:n], "big"), int.from_bytes(raw[n:], "big"))
        Path(sig).write_bytes(raw)
    elif op == "verify":
        name, alg, msg, sig = args
        kid = keys.get_key(name).id
        value = Path(sig).read_bytes()
        if alg in EC_SIZES:
            n = EC_SIZES[alg]
            r, s = decode_dss_signature(value)
            value = r.to_bytes(n, "big") + s.to_bytes(n, "big")
        result = rest_key_op(keys, kid, "verify", alg=alg, digest=digest(alg, msg), value=value)
        if result.get("value") is not True:
            raise SystemExit(f"the server did not verify {sig} with {name} ({alg}): {result}")
    else:
        raise SystemExit(f"unknown step {step!r}")
    print(f"  SDK: {step}")


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    data = Path(sys.argv[1])
    data.mkdir(parents=True, exist_ok=True)
    # ServerProcess keeps its stderr log beside the data directory; keep it out of the way.
    with tempfile.TemporaryDirectory() as logs:
        link = Path(logs) / "data"
        link.symlink_to(data.resolve())
        process = ServerProcess(link).start()
        hsm = LocalHsm(process)
        try:
            for step in sys.argv[2:]:
                run(hsm, step)
        except BaseException:
            print(process.diagnostics(), file=sys.stderr)
            raise
        finally:
            hsm.close()
            status = process.stop()
        if status != 0:
            raise SystemExit(f"localhsm serve exited with status {status}" + process.diagnostics())


if __name__ == "__main__":
    main()
