"""pytest wiring for python-pkcs11 against liblocalhsm_pkcs11.so.

A fresh data directory per run. Before the module is loaded (its C_Initialize opens the
store, which one process holds at a time), the CLI sets the token's PINs and makes the
keys the tests use across faces: an EC key, and an exportable AES key of known value.

Env: LOCALHSM_PKCS11_MODULE (default target/release/liblocalhsm_pkcs11.so), LOCALHSM_BIN
(default: localhsm beside the module).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pkcs11
import pytest

REPO = Path(__file__).resolve().parents[3]
MODULE = Path(os.environ.get("LOCALHSM_PKCS11_MODULE") or REPO / "target" / "release" / "liblocalhsm_pkcs11.so")
BIN = Path(os.environ.get("LOCALHSM_BIN") or MODULE.parent / "localhsm")
PIN = "user-1234"
SO_PIN = "so-pin-8765"
# The AES key the CLI imports as exportable: the tests know its value, so what the token
# wraps can be unwrapped by an independent implementation.
EXPORTABLE_AES = bytes(range(0x40, 0x60))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A skip (or xfail) is a failure here: CI must not go green on one."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skips are failures in this suite ({report.longrepr})"


def cli(*args: str, stdin: str | None = None) -> str:
    out = subprocess.run([str(BIN), *args], input=stdin, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"localhsm {' '.join(args)}: {out.stderr}")
    return out.stdout


@pytest.fixture(scope="session")
def store():
    """The data directory, with the token initialized and the CLI's keys; yields the
    CLI's EC key as the REST API returns it."""
    assert MODULE.is_file(), f"no module at {MODULE}: cargo build --release -p localhsm-pkcs11"
    assert BIN.is_file(), f"no CLI at {BIN}: cargo build --release -p localhsm"
    root = Path(tempfile.mkdtemp(prefix="localhsm-python-pkcs11-"))
    os.environ["LOCALHSM_DATA"] = str(root / "store")
    for name in ("LOCALHSM_MASTER_KEY", "LOCALHSM_PKCS11_CONF", "LOCALHSM_VAULT"):
        os.environ.pop(name, None)
    try:
        cli("pkcs11", "init-token", "--vault", "default", "--so-pin", SO_PIN, "--pin", PIN)
        cli_ec = json.loads(cli("key", "create", "cli-ec", "--kty", "EC-HSM", "--curve", "P-256", "--output", "json"))
        policy = root / "release-policy.json"
        policy.write_text(json.dumps({
            "version": "1.0.0",
            "anyOf": [{"authority": "https://attest.example.test", "allOf": [{"claim": "x-ms-test", "equals": "yes"}]}],
        }))
        import base64

        jwk = {"kty": "oct-HSM", "k": base64.urlsafe_b64encode(EXPORTABLE_AES).rstrip(b"=").decode()}
        cli("key", "import", "cli-exportable-aes", "--jwk", "-", "--hsm", "--exportable",
            "--release-policy", str(policy), stdin=json.dumps(jwk))
        yield cli_ec
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def lib(store):
    return pkcs11.lib(str(MODULE))


@pytest.fixture(scope="session")
def token(lib):
    return lib.get_token(token_label="default")


@pytest.fixture(scope="session")
def session(token):
    """One logged-in session for the run: login is the token's state, shared by every
    session of the application, so a second C_Login would be CKR_USER_ALREADY_LOGGED_IN."""
    with token.open(user_pin=PIN, rw=True) as s:
        yield s
