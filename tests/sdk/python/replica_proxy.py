"""A TLS-terminating reverse proxy in front of two ``localhsm serve`` replicas, for the
SDK suites' replica mode (see localhsm_replicas.py).

GET and HEAD go to the reader, every other method to the writer, and the two swap after
each write, so both replicas take writes and every read after a write is served by the
replica that did not take it. The Host header and the TLS server name pass through
unchanged: vault selection and the identifiers the server builds depend on them, and the
SDKs check the challenge's resource against the vault URL.

Clients trust the proxy through replica A's local CA (``tls/cert.pem``): the proxy issues
its own leaf for each server name a client asks for by SNI, signed by that CA, as the
server does. The ``cryptography`` package (already pinned for the suites) signs the
leaves; the rest is the standard library. Each answer carries ``x-localhsm-replica`` (the
replica that gave it), and the proxy log names the replica of every request.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import select
import socket
import ssl
import tempfile
import threading
import time
from http.client import HTTPSConnection, HTTPResponse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# RFC 9110 7.6.1: hop-by-hop fields are the proxy's own business on each side.
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "transfer-encoding", "upgrade",
}
CHUNK = 64 * 1024
BACKEND_TIMEOUT = 120.0
REPLICA_HEADER = "x-localhsm-replica"


class Backend:
    """One replica: where it listens and the CA its leaves chain to."""

    def __init__(self, name: str, port: int, ca_file: Path):
        self.name = name
        self.port = port
        self.context = ssl.create_default_context(cafile=str(ca_file))


class _BackendConnection(HTTPSConnection):
    """Dials 127.0.0.1 but speaks TLS (SNI and name check) for ``host``, the client's name."""

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _is_dropped(conn: HTTPSConnection) -> bool:
    """Whether an idle keep-alive connection was closed by the other end (readable while
    idle means EOF or a close_notify)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class _LeafIssuer:
    """Leaf certificates for ``localhost`` / ``NAME.localhost``, signed by a local CA."""

    def __init__(self, ca_cert: Path, ca_key: Path, workdir: Path):
        self.ca = x509.load_pem_x509_certificate(ca_cert.read_bytes())
        self.ca_key = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)
        self.workdir = workdir
        self._contexts: Dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def context(self, name: Optional[str]) -> ssl.SSLContext:
        name = (name or "localhost").rstrip(".").lower()
        with self._lock:
            ctx = self._contexts.get(name)
            if ctx is None:
                ctx = self._contexts[name] = self._issue(name)
            return ctx

    def _issue(self, name: str) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        sans: List[x509.GeneralName] = [x509.DNSName(name)]
        if name == "localhost":
            sans += [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1"))]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
        try:  # chain lookups match this to the CA's own subject key identifier
            ski = self.ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            cert = cert.add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                                      critical=False)
        except x509.ExtensionNotFound:
            pass
        cert = cert.sign(self.ca_key, hashes.SHA256())
        # load_cert_chain reads files only; the directory is the proxy's own, mode 0700.
        path = self.workdir / f"leaf-{name}.pem"
        path.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
            + cert.public_bytes(serialization.Encoding.PEM)
        )
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(path))
        path.unlink()
        return ctx


class ReplicaProxy:
    """The proxy: ``start()`` listens on 127.0.0.1:``port``; ``stop()`` closes it."""

    def __init__(self, a: Backend, b: Backend, ca_cert: Path, ca_key: Path, log_path: Path):
        self.writer, self.reader = a, b
        self.backends = (a, b)
        self.log_path = log_path
        self.requests: List[Tuple[str, str, str, int]] = []  # (method, path, replica, status)
        self._lock = threading.Lock()
        self._workdir = tempfile.TemporaryDirectory(prefix="localhsm-proxy-")
        self._issuer = _LeafIssuer(ca_cert, ca_key, Path(self._workdir.name))
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self.port = self._server.server_address[1]
        self._thread: Optional[threading.Thread] = None
        self._log = open(log_path, "a", buffering=1)

    # -- routing ---------------------------------------------------------------------
    def route(self, method: str) -> Backend:
        with self._lock:
            return self.reader if method in ("GET", "HEAD") else self.writer

    def wrote(self, backend: Backend) -> None:
        """A write answered: the other replica takes the next one."""
        with self._lock:
            if self.writer is backend:
                self.writer, self.reader = self.reader, self.writer

    def record(self, method: str, path: str, backend: str, status: int, note: str = "") -> None:
        with self._lock:
            self.requests.append((method, path, backend, status))
            self._log.write(f"{time.strftime('%H:%M:%S')} {method} {path} -> {backend} {status}{note}\n")

    def counts(self) -> Dict[str, int]:
        """Requests answered by each replica, split into reads and writes."""
        with self._lock:
            out: Dict[str, int] = {}
            for method, _, backend, _ in self.requests:
                kind = "reads" if method in ("GET", "HEAD") else "writes"
                out[f"{backend} {kind}"] = out.get(f"{backend} {kind}", 0) + 1
            return out

    # -- TLS -------------------------------------------------------------------------
    def server_context(self) -> ssl.SSLContext:
        ctx = self._issuer.context("localhost")
        ctx.sni_callback = self._sni
        return ctx

    def _sni(self, sslobj, server_name, _ctx):
        try:
            sslobj.context = self._issuer.context(server_name)
        except Exception:  # a name no leaf can carry: keep the default (localhost) leaf
            pass
        return None

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> "ReplicaProxy":
        self._server.ssl_context = self.server_context()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"replica-proxy-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._log.close()
        self._workdir.cleanup()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    proxy: ReplicaProxy
    ssl_context: ssl.SSLContext

    def finish_request(self, request, client_address):
        # The handshake runs on the connection's own thread, not the accept loop.
        request.settimeout(BACKEND_TIMEOUT)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass  # a client that went away; the proxy log has the requests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self):
        super().setup()
        # this client connection's keep-alive connections to the replicas, by (replica, host)
        self._backend_conns: Dict[Tuple[str, str], HTTPSConnection] = {}

    def finish(self):
        for conn in self._backend_conns.values():
            conn.close()
        super().finish()

    def log_message(self, format, *args):
        pass

    def _conn(self, backend: Backend, host: str) -> HTTPSConnection:
        key = (backend.name, host)
        conn = self._backend_conns.get(key)
        if conn is not None and _is_dropped(conn):
            conn.close()
            conn = None
        if conn is None:
            conn = _BackendConnection(host, backend.port, timeout=BACKEND_TIMEOUT, context=backend.context)
            self._backend_conns[key] = conn
        return conn

    def _read_body(self):
        """The request body as it arrives: yields chunks (de-chunked), never all at once."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    data = self.rfile.read(min(left, CHUNK))
                    if not data:
                        raise ConnectionError("client closed mid-body")
                    left -= len(data)
                    yield data
                self.rfile.readline(1024)
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                data = self.rfile.read(min(left, CHUNK))
                if not data:
                    raise ConnectionError("client closed mid-body")
                left -= len(data)
                yield data

    def _forward(self):
        method = self.command
        proxy = self.server.proxy
        backend = proxy.route(method)
        host_header = self.headers.get("Host") or "localhost"
        host = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        conn = self._conn(backend, host)
        try:
            conn.putrequest(method, self.path, skip_host=True, skip_accept_encoding=True)
            for field, value in self.headers.items():
                if field.lower() not in HOP_BY_HOP:
                    conn.putheader(field, value)
            if chunked:
                conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            try:
                for data in self._read_body():
                    conn.send(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                if chunked:
                    conn.send(b"0\r\n\r\n")
            except OSError:
                # The replica may have answered early (413) and closed: its answer is what the
                # client gets, on a connection that ends here (the rest of its body is unread).
                self.close_connection = True
            resp: HTTPResponse = conn.getresponse()
        except Exception as exc:  # the replica is gone or broke the connection
            conn.close()
            self._backend_conns.pop((backend.name, host), None)
            proxy.record(method, self.path, backend.name, 502, f" ({type(exc).__name__}: {exc})")
            body = json.dumps({"error": {"code": "BadGateway",
                                         "message": f"replica {backend.name}: {type(exc).__name__}: {exc}"}}).encode()
            self.send_response_only(502)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header(REPLICA_HEADER, backend.name)
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        if method not in ("GET", "HEAD"):
            proxy.wrote(backend)
        proxy.record(method, self.path, backend.name, resp.status)

        no_body = method == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
        length = resp.getheader("Content-Length")
        self.send_response_only(resp.status, resp.reason)
        for field, value in resp.getheaders():
            if field.lower() not in HOP_BY_HOP:
                self.send_header(field, value)
        self.send_header(REPLICA_HEADER, backend.name)
        if (resp.getheader("Connection") or "").lower() == "close":
            self.send_header("Connection", "close")  # and the client's connection ends too
        rechunk = not no_body and length is None
        if rechunk:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if not no_body:
            while True:
                data = resp.read(CHUNK) if length is not None else resp.read1(CHUNK)
                if not data:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if rechunk else data)
            if rechunk:
                self.wfile.write(b"0\r\n\r\n")
        else:
            resp.read()
        if resp.will_close:
            conn.close()
            self._backend_conns.pop((backend.name, host), None)
        self.wfile.flush()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _forward
