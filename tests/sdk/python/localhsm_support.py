"""Helpers shared by the localhsm Python SDK compatibility tests.

Nothing in here talks to Azure: it starts/stops the local server, builds SDK
clients that point at it, and offers small JWK / base64url utilities used to
cross-check the server with the ``cryptography`` package.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry

from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest
from azure.keyvault.administration import KeyVaultAccessControlClient
from azure.keyvault.certificates import CertificateClient
from azure.keyvault.keys import KeyClient, KeyVaultKey
from azure.keyvault.keys.crypto import CryptographyClient
from azure.keyvault.secrets import SecretClient
from cryptography.hazmat.primitives.asymmetric import ec, rsa

SUITE_DIR = Path(__file__).resolve().parent
REPO_ROOT = SUITE_DIR.parents[2]
READY_TIMEOUT = 60.0

# Default vault of a fresh store is a Managed HSM; the SDK asks for this scope.
MHSM_SCOPE = "https://managedhsm.azure.net/.default"
KV_SCOPE = "https://vault.azure.net/.default"

SUPPORTED_API_VERSIONS = ["7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01"]


# --------------------------------------------------------------------------------------
# small encoding helpers
# --------------------------------------------------------------------------------------
def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def int_to_bytes(value: int, length: Optional[int] = None) -> bytes:
    if length is None:
        length = max(1, (value.bit_length() + 7) // 8)
    return value.to_bytes(length, "big")


def bytes_to_int(data: bytes) -> int:
    return int.from_bytes(data, "big")


def unique_name(prefix: str) -> str:
    """Key Vault object names: 1-127 chars of [0-9a-zA-Z-]."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------------------
# credential
# --------------------------------------------------------------------------------------
class FakeCredential:
    """A TokenCredential / SupportsTokenInfo that never talks to Entra ID.

    localhsm accepts any bearer token; we still hand out a JWT-shaped one (header,
    claims, bogus signature). The server reads its ``oid``, ``upn`` and ``tid`` claims
    to name the caller (role assignments, access logs). Every request is recorded so
    tests can assert what the Key Vault challenge made the SDK ask for.
    """

    def __init__(self, object_id: Optional[str] = None, tenant_id: str = "00000000-0000-0000-0000-000000000000",
                 upn: Optional[str] = None):
        self.object_id = object_id or str(uuid.uuid4())
        self.upn = upn
        self.default_tenant = tenant_id
        self.calls: List[Dict[str, Any]] = []
        self._lock = threading.Lock()

    def _mint(self, scopes, tenant_id: Optional[str]):
        now = int(time.time())
        expires_on = now + 3600
        resource = scopes[0][: -len("/.default")] if scopes and scopes[0].endswith("/.default") else (scopes or [""])[0]
        tid = tenant_id or self.default_tenant
        header = {"alg": "RS256", "typ": "JWT", "kid": "localhsm-sdk-tests"}
        claims = {
            "aud": resource,
            "iss": f"https://sts.windows.net/{tid}/",
            "iat": now,
            "nbf": now,
            "exp": expires_on,
            "oid": self.object_id,
            "sub": self.object_id,
            "tid": tid,
            "appid": "localhsm-sdk-tests",
        }
        if self.upn:
            claims["upn"] = self.upn
        token = ".".join(
            [
                b64url(json.dumps(header, separators=(",", ":")).encode()),
                b64url(json.dumps(claims, separators=(",", ":")).encode()),
                b64url(b"not-a-real-signature"),
            ]
        )
        return token, expires_on

    def get_token(self, *scopes: str, claims: Optional[str] = None, tenant_id: Optional[str] = None,
                  enable_cae: bool = False, **kwargs: Any) -> AccessToken:
        with self._lock:
            self.calls.append({"api": "get_token", "scopes": list(scopes), "tenant_id": tenant_id, "claims": claims})
        token, expires_on = self._mint(scopes, tenant_id)
        return AccessToken(token, expires_on)

    def get_token_info(self, *scopes: str, options: Optional[dict] = None) -> AccessTokenInfo:
        options = dict(options or {})
        with self._lock:
            self.calls.append(
                {"api": "get_token_info", "scopes": list(scopes), "tenant_id": options.get("tenant_id"),
                 "claims": options.get("claims")}
            )
        token, expires_on = self._mint(scopes, options.get("tenant_id"))
        return AccessTokenInfo(token, expires_on, token_type="Bearer")

    def bearer(self, scope: str = MHSM_SCOPE) -> str:
        return self._mint([scope], None)[0]

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *args):
        pass


class CliTokenCredential:
    """A credential whose token comes from ``localhsm token --oid ID [--upn NAME]``.

    Checks that the CLI's dev tokens and the server agree on who the caller is.
    """

    def __init__(self, object_id: str, upn: Optional[str] = None):
        self.object_id = object_id
        self.upn = upn
        args = [str(localhsm_binary()), "token", "--oid", object_id] + (["--upn", upn] if upn else [])
        out = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=True)
        self.token = out.stdout.strip()
        assert self.token.count(".") == 2, f"`localhsm token` printed {out.stdout!r}"
        self.claims = json.loads(unb64url(self.token.split(".")[1]))
        self.expires_on = int(self.claims["exp"])

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, self.expires_on)

    def get_token_info(self, *scopes: str, options: Optional[dict] = None) -> AccessTokenInfo:
        return AccessTokenInfo(self.token, self.expires_on, token_type="Bearer")

    def bearer(self, scope: str = MHSM_SCOPE) -> str:
        return self.token

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------------------
# *.localhost -> loopback without touching /etc/hosts
# --------------------------------------------------------------------------------------
def _is_localhost_name(host: str) -> bool:
    host = host.rstrip(".").lower()
    return host == "localhost" or host.endswith(".localhost")


class _LoopbackHTTPSConnection(HTTPSConnection):
    """Dials 127.0.0.1 for ``localhost`` / ``*.localhost`` (RFC 6761 says these are
    loopback names; glibc with ``hosts: files dns`` does not resolve ``*.localhost``).

    Only the TCP destination changes: the URL, the Host header, the TLS SNI name and
    the certificate name check all keep the vault's real host name.
    """

    def _new_conn(self):
        if not _is_localhost_name(self.host):
            return super()._new_conn()
        real = self._dns_host
        self._dns_host = "127.0.0.1"
        try:
            return super()._new_conn()
        finally:
            self._dns_host = real


class _LoopbackHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _LoopbackHTTPSConnection


class LoopbackAdapter(HTTPAdapter):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_retries", Retry(total=False, redirect=False, raise_on_status=False))
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": HTTPConnectionPool,
            "https": _LoopbackHTTPSConnectionPool,
        }


def loopback_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # never send localhost traffic through a CI proxy
    adapter = LoopbackAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


# --------------------------------------------------------------------------------------
# the server under test
# --------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def localhsm_binary() -> Path:
    return Path(os.environ.get("LOCALHSM_BIN") or REPO_ROOT / "target" / "release" / "localhsm")


class ServerProcess:
    """One ``localhsm serve`` process on a free port and its own data dir."""

    def __init__(self, data_dir: Path, port: Optional[int] = None, extra_args: Optional[List[str]] = None,
                 env: Optional[Dict[str, str]] = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.extra_args = list(extra_args or [])  # e.g. ["--enforce-rbac", "--admin", OID]
        self.env = dict(env or {})  # added to this process's environment, e.g. LOCALHSM_LOG
        self.proc: Optional[subprocess.Popen] = None
        self.stdout_lines: List[str] = []
        self.stderr_path = self.data_dir.parent / f"{self.data_dir.name}.stderr.log"
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()

    @property
    def ready_line(self) -> str:
        return f"localhsm listening on https://127.0.0.1:{self.port}"

    @property
    def cert_path(self) -> Path:
        return self.data_dir / "tls" / "cert.pem"

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def start(self) -> "ServerProcess":
        binary = localhsm_binary()
        if not binary.is_file() or not os.access(binary, os.X_OK):
            raise RuntimeError(
                f"localhsm binary not found at {binary}; build it with `cargo build --release` "
                "or point LOCALHSM_BIN at it (run.sh does this for you)"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        stderr = open(self.stderr_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [str(binary), "serve", "--data", str(self.data_dir), "--addr", f"127.0.0.1:{self.port}",
                 *self.extra_args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                bufsize=1,
                env={**os.environ, **self.env},
            )
        finally:
            stderr.close()
        threading.Thread(target=self._pump, name=f"localhsm-stdout-{self.port}", daemon=True).start()

        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise RuntimeError(f"localhsm did not print {self.ready_line!r} within {READY_TIMEOUT:.0f}s"
                                   + self.diagnostics())
            try:
                line = self._lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:
                code = self.proc.wait()
                raise RuntimeError(f"localhsm exited with status {code} before it was ready" + self.diagnostics())
            line = line.rstrip("\r\n")
            self.stdout_lines.append(line)
            if line == self.ready_line:
                break
        # keep draining stdout so the server can never block on a full pipe
        threading.Thread(target=self._drain, name=f"localhsm-drain-{self.port}", daemon=True).start()
        if not self.cert_path.is_file():
            self.stop()
            raise RuntimeError(f"server is ready but {self.cert_path} does not exist" + self.diagnostics())
        return self

    def _drain(self) -> None:
        while True:
            line = self._lines.get()
            if line is None:
                return
            self.stdout_lines.append(line.rstrip("\r\n"))

    def stop(self, timeout: float = 15.0) -> Optional[int]:
        """SIGTERM, wait, then SIGKILL. Returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def output_text(self) -> str:
        """Everything the server wrote: stdout, then stderr."""
        return "\n".join(self.stdout_lines) + "\n" + self.stderr_path.read_text(errors="replace")

    def stored_files(self) -> Dict[str, bytes]:
        """Every file the server keeps (its data directory), by path."""
        return {str(p): p.read_bytes() for p in self.data_dir.rglob("*") if p.is_file()}

    def discard_store(self) -> None:
        """After ``stop``: remove what the server kept outside its data directory (nothing)."""

    def diagnostics(self) -> str:
        try:
            err = self.stderr_path.read_text(errors="replace")[-4000:]
        except OSError:
            err = ""
        out = "\n".join(self.stdout_lines[-40:])
        return f"\n--- localhsm stdout (tail) ---\n{out}\n--- localhsm stderr (tail) ---\n{err}"


def new_server(data_dir: Path, extra_args: Optional[List[str]] = None,
               env: Optional[Dict[str, str]] = None) -> Any:
    """The server a test starts on ``data_dir``: one ``localhsm serve`` (a ServerProcess), or,
    when LOCALHSM_SDK_REPLICAS names a PostgreSQL cluster, two replicas on a database of
    their own behind a proxy that alternates them (localhsm_replicas.ReplicaPair). Call
    ``start()`` on it."""
    from localhsm_replicas import ReplicaPair, replica_url

    if replica_url():
        return ReplicaPair(data_dir, extra_args=extra_args, env=env)
    return ServerProcess(data_dir, extra_args=extra_args, env=env)


class LocalHsm:
    """What tests use: URLs, SDK client factories and the dev/management endpoints."""

    def __init__(self, process: ServerProcess, credential: Any = None):
        self.process = process
        self.port = process.port
        self.cert = str(process.cert_path)
        # used by default for SDK clients and the management API (an --admin on an
        # --enforce-rbac server)
        self.credential = credential or FakeCredential()
        self._session = loopback_session()
        self._session.verify = self.cert
        self._clients: List[Any] = []

    # -- addressing ------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    def vault_url(self, vault: Optional[str] = None) -> str:
        if vault in (None, "default"):
            return self.url
        return f"https://{vault}.localhost:{self.port}"

    # -- SDK clients -----------------------------------------------------------------
    def transport(self) -> RequestsTransport:
        return RequestsTransport(session=loopback_session(), connection_verify=self.cert, use_env_settings=False)

    def _client_kwargs(self, kwargs: Dict[str, Any]) -> Dict[str, Any]:
        kwargs.setdefault("verify_challenge_resource", False)
        kwargs.setdefault("connection_verify", self.cert)
        kwargs.setdefault("transport", self.transport())
        return kwargs

    def key_client(self, vault: Optional[str] = None, credential: Any = None, **kwargs: Any) -> KeyClient:
        client = KeyClient(self.vault_url(vault), credential or self.credential, **self._client_kwargs(kwargs))
        self._clients.append(client)
        return client

    def crypto_client(self, key: "KeyVaultKey | str", credential: Any = None, **kwargs: Any) -> CryptographyClient:
        client = CryptographyClient(key, credential or self.credential, **self._client_kwargs(kwargs))
        self._clients.append(client)
        return client

    def secret_client(self, vault: Optional[str] = None, credential: Any = None, **kwargs: Any) -> SecretClient:
        client = SecretClient(self.vault_url(vault), credential or self.credential, **self._client_kwargs(kwargs))
        self._clients.append(client)
        return client

    def certificate_client(self, vault: Optional[str] = None, credential: Any = None,
                           **kwargs: Any) -> CertificateClient:
        client = CertificateClient(self.vault_url(vault), credential or self.credential,
                                   **self._client_kwargs(kwargs))
        self._clients.append(client)
        return client

    def access_control_client(self, vault: Optional[str] = None, credential: Any = None,
                              **kwargs: Any) -> KeyVaultAccessControlClient:
        client = KeyVaultAccessControlClient(self.vault_url(vault), credential or self.credential,
                                             **self._client_kwargs(kwargs))
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            try:
                client.close()
            except Exception:  # pragma: no cover - best effort
                pass
        self._clients.clear()
        self._session.close()

    # -- raw HTTP (management API, challenge checks) ---------------------------------
    def http(self, method: str, url: str, *, auth: bool = True, credential: Any = None,
             **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if auth:
            headers.setdefault("Authorization", f"Bearer {(credential or self.credential).bearer()}")
        kwargs.setdefault("timeout", 30)
        return self._session.request(method, url, headers=headers, **kwargs)

    def mgmt(self, method: str, path: str, json_body: Any = None, expect=(200,), credential: Any = None,
             params: Any = None) -> requests.Response:
        resp = self.http(method, f"{self.url}/management/{path.lstrip('/')}", json=json_body,
                         credential=credential, params=params)
        if expect and resp.status_code not in expect:
            raise AssertionError(
                f"{method} /management/{path} -> {resp.status_code} (expected {expect}): {resp.text[:500]}"
            )
        return resp

    def time_shift(self, seconds: int) -> int:
        body = self.mgmt("POST", "time-shift", {"seconds": seconds}).json()
        assert isinstance(body.get("now"), int), body
        return body["now"]

    def ensure_vault(self, name: str, **settings: Any) -> Dict[str, Any]:
        """Create vault ``name`` (settings in the contract's JSON spelling) unless it exists."""
        resp = self.mgmt("GET", f"vaults/{name}", expect=())
        if resp.status_code == 200:
            return resp.json()
        assert resp.status_code == 404, f"GET /management/vaults/{name} -> {resp.status_code}: {resp.text[:300]}"
        body = {"name": name, **settings}
        created = self.mgmt("POST", "vaults", body, expect=(201,)).json()
        return created

    def hsm_with_keys(self, vault: str, names) -> KeyClient:
        """A KeyClient on Managed HSM vault ``vault`` (created unless it exists) after it
        created an EC-HSM P-256 key for each of ``names``."""
        self.ensure_vault(vault, kind="managedhsm")
        client = self.key_client(vault)
        for name in sorted(names):
            client.create_ec_key(name, curve="P-256", hardware_protected=True)
        return client


# --------------------------------------------------------------------------------------
# REST escape hatch through the SDK pipeline (challenge auth, api-version, TLS)
# --------------------------------------------------------------------------------------
def key_path(kid: str) -> str:
    """'/keys/{name}/{version}' from a full key identifier."""
    return urlparse(kid).path.rstrip("/")


def rest_key_op(client: KeyClient, kid: str, operation: str, **fields: Any) -> Dict[str, Any]:
    """POST /keys/{name}/{version}/{operation} with the SDK's own pipeline.

    The SDK's CryptographyClient performs public-key operations (verify, encrypt,
    wrapKey) locally whenever it has the key material, and (see README) it also
    performs AES-CBCPAD / AES-KW locally with a random key when an oct-HSM JWK has no
    ``k``. To exercise the *server's* implementation of those, tests call the REST
    operation through ``KeyClient.send_request`` (public SDK API).
    """
    body = {k: (b64url(v) if isinstance(v, (bytes, bytearray)) else v) for k, v in fields.items() if v is not None}
    resp = client.send_request(HttpRequest("POST", f"{key_path(kid)}/{operation}", json=body))
    if resp.status_code != 200:
        raise HttpResponseError(response=resp)
    return resp.json()


# --------------------------------------------------------------------------------------
# JWK <-> cryptography
# --------------------------------------------------------------------------------------
CURVES = {
    "P-256": (ec.SECP256R1, 32),
    "P-384": (ec.SECP384R1, 48),
    "P-521": (ec.SECP521R1, 66),
    "P-256K": (ec.SECP256K1, 32),
}


def public_key_from_jwk(jwk) -> Any:
    kty = getattr(jwk.kty, "value", jwk.kty)
    if kty.startswith("RSA"):
        return rsa.RSAPublicNumbers(bytes_to_int(jwk.e), bytes_to_int(jwk.n)).public_key()
    if kty.startswith("EC"):
        curve_cls, _ = CURVES[getattr(jwk.crv, "value", jwk.crv)]
        return ec.EllipticCurvePublicNumbers(bytes_to_int(jwk.x), bytes_to_int(jwk.y), curve_cls()).public_key()
    raise ValueError(f"no public key for kty {kty}")


RSA_OPS = {"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"}


def rsa_private_jwk(private_key, key_ops=None):
    """JWK (SDK model) with every RSA private member, for import_key."""
    from azure.keyvault.keys import JsonWebKey

    priv = private_key.private_numbers()
    pub = priv.public_numbers
    size = (pub.n.bit_length() + 7) // 8
    return JsonWebKey(
        kty="RSA",
        key_ops=list(key_ops or sorted(RSA_OPS)),
        n=int_to_bytes(pub.n, size),
        e=int_to_bytes(pub.e),
        d=int_to_bytes(priv.d, size),
        p=int_to_bytes(priv.p),
        q=int_to_bytes(priv.q),
        dp=int_to_bytes(priv.dmp1),
        dq=int_to_bytes(priv.dmq1),
        qi=int_to_bytes(priv.iqmp),
    )


def ec_private_jwk(private_key, crv: str, key_ops=None):
    """JWK (SDK model) with x, y and d (each padded to the curve size, RFC 7518 6.2)."""
    from azure.keyvault.keys import JsonWebKey

    _, coord = CURVES[crv]
    priv = private_key.private_numbers()
    return JsonWebKey(
        kty="EC",
        crv=crv,
        key_ops=list(key_ops or ["sign", "verify"]),
        x=int_to_bytes(priv.public_numbers.x, coord),
        y=int_to_bytes(priv.public_numbers.y, coord),
        d=int_to_bytes(priv.private_value, coord),
    )
