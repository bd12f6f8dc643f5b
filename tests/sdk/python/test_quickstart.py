"""Application code unchanged, configuration by environment only.

The SDK's quickstart (quickstart_keys.py: DefaultAzureCredential, KeyClient with no
options, so the newest api-version and verify_challenge_resource on) runs as a child
process whose only configuration is what `localhsm env` prints: the managed-identity
endpoint and its header secret, the vault URL, and the local CA through the standard
trust variables. The server runs with a configured identity, and its access log must name
that identity for every call the quickstart made. ManagedIdentityCredential is checked on
its own too: the token it gets names the identity, for the resource it asked for.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Dict

import pytest

from localhsm_support import ServerProcess, localhsm_binary, unique_name

OID = str(uuid.uuid4())
UPN = "quickstart@contoso.localhost"
TID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def server():
    root = Path(tempfile.mkdtemp(prefix="localhsm-py-quickstart-"))
    process = ServerProcess(
        root / "data",
        extra_args=["--identity-oid", OID, "--identity-upn", UPN, "--identity-tid", TID],
    )
    try:
        process.start()
    except RuntimeError as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(str(exc), pytrace=False)
    try:
        yield process
    finally:
        process.stop()
        if not os.environ.get("LOCALHSM_KEEP_DATA"):
            shutil.rmtree(root, ignore_errors=True)


def cli(server: ServerProcess, *args: str) -> str:
    out = subprocess.run(
        [str(localhsm_binary()), "--data", str(server.data_dir), *args],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, f"localhsm {' '.join(args)}: {out.stderr}"
    return out.stdout


def exported(text: str) -> Dict[str, str]:
    """The variables of `localhsm env`'s `export NAME='value'` lines, read as a shell would."""
    env = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        words = shlex.split(line)
        assert words[0] == "export" and len(words) == 2, line
        name, _, value = words[1].partition("=")
        env[name] = value
    return env


def child_env(variables: Dict[str, str], home: Path) -> Dict[str, str]:
    """Nothing from this process but PATH: no test credential, no proxy, no CA of ours."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), **variables}


def require_resolvable(url: str) -> None:
    host = url.split("://", 1)[1].rsplit(":", 1)[0]
    try:
        socket.getaddrinfo(host, 443)
    except socket.gaierror:
        pytest.fail(
            f"{host} does not resolve on this machine; add '127.0.0.1 {host}' to /etc/hosts "
            "(.ci/run does this)", pytrace=False)


def test_env_prints_what_the_sdks_read(server):
    env = exported(cli(server, "env"))
    assert env["IDENTITY_ENDPOINT"] == f"https://127.0.0.1:{server.port}/msi/token"
    assert env["IDENTITY_HEADER"] == (server.data_dir / "identity-header").read_text().strip()
    assert (server.data_dir / "identity-header").stat().st_mode & 0o777 == 0o600
    assert env["AZURE_KEYVAULT_URL"] == f"https://default.localhost:{server.port}"
    cert = str(server.cert_path)
    assert env["REQUESTS_CA_BUNDLE"] == env["SSL_CERT_FILE"] == env["NODE_EXTRA_CA_CERTS"] == cert
    kv = exported(cli(server, "--vault", "kv", "env"))
    assert kv["AZURE_KEYVAULT_URL"] == f"https://kv.localhost:{server.port}"
    # the header secret never reaches the server's output
    assert all(env["IDENTITY_HEADER"] not in line for line in server.stdout_lines)


def test_quickstart_runs_unchanged_with_only_the_environment(server, tmp_path):
    env = exported(cli(server, "env"))
    require_resolvable(env["AZURE_KEYVAULT_URL"])
    cli(server, "vault", "update", "default", "--access-log", "on")
    name = unique_name("quickstart")
    run = subprocess.run(
        [sys.executable, str(HERE / "quickstart_keys.py"), name],
        env=child_env(env, tmp_path), capture_output=True, text=True, timeout=180,
        stdin=subprocess.DEVNULL, cwd=tmp_path,
    )
    assert run.returncode == 0, f"the quickstart failed:\n{run.stdout}\n{run.stderr}"
    lines = run.stdout.splitlines()
    vault = env["AZURE_KEYVAULT_URL"]
    assert f"Created: {vault}/keys/{name}/" in "\n".join(lines)
    assert any(line.startswith(f"Retrieved: {name} ") for line in lines)
    assert "Verified: True" in lines
    assert f"Listed: {name}" in lines
    assert f"Deleted: {name} {vault}/deletedkeys/{name}" in lines

    records = [json.loads(line) for line in cli(server, "log", "export", "--vault", "default").splitlines()]
    mine = [r for r in records if name in r["requestUri"]]
    operations = {r["operationName"] for r in mine if r["httpStatusCode"] < 400}
    assert {"KeyCreate", "KeyGet", "KeySign", "KeyDelete"} <= operations, operations
    for r in mine:
        assert r["identity"]["claim"] == {"oid": OID, "upn": UPN, "tid": TID}, r
    listed = [r for r in records if r["operationName"] == "KeyList"]
    assert listed and all(r["identity"]["claim"]["oid"] == OID for r in listed)


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_managed_identity_credential_gets_a_token_naming_the_identity(server, tmp_path):
    env = exported(cli(server, "env"))
    script = (
        "import json, sys\n"
        "from azure.identity import ManagedIdentityCredential\n"
        "token = ManagedIdentityCredential().get_token(sys.argv[1])\n"
        "print(json.dumps({'token': token.token, 'expires_on': token.expires_on}))\n"
    )
    scope = f"https://localhost:{server.port}/.default"
    run = subprocess.run(
        [sys.executable, "-c", script, scope], env=child_env(env, tmp_path),
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    claims = _claims(got["token"])
    assert (claims["oid"], claims["upn"], claims["tid"]) == (OID, UPN, TID)
    assert claims["aud"] == f"https://localhost:{server.port}"
    assert claims["nbf"] <= claims["iat"] < claims["exp"] == got["expires_on"]

    # A wrong header secret gets no token: the credential reports the endpoint's refusal.
    wrong = dict(env, IDENTITY_HEADER="0" * len(env["IDENTITY_HEADER"]))
    run = subprocess.run(
        [sys.executable, "-c", script, scope], env=child_env(wrong, tmp_path),
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert run.returncode != 0
    assert "X-IDENTITY-HEADER" in run.stderr and "eyJ" not in run.stdout + run.stderr, run.stderr
