"""The SDK suites' replica mode: two ``localhsm serve`` replicas on one PostgreSQL database
behind a proxy that sends writes to one and reads to the other, alternating.

Set ``LOCALHSM_SDK_REPLICAS`` to a PostgreSQL URL (``postgres://USER@HOST:PORT/DB``, e.g.
``$LOCALHSM_TEST_POSTGRES`` from tests/postgres/cluster.sh); every server the suites start
is then a :class:`ReplicaPair`: a database of its own (``CREATE DATABASE`` through
``psql`` on that cluster), replicas A and B with the same ``LOCALHSM_MASTER_KEY`` and the
server's options, and :class:`replica_proxy.ReplicaProxy` in front. The pair offers what
tests use of a :class:`localhsm_support.ServerProcess` (``port``, ``cert_path``,
``data_dir``, ``stop``, ``diagnostics``, ``output_text``, ``stored_files``), so the suites
run unchanged. A pair started again on the same ``data_dir`` reopens the same database with
the same master key, as a restarted server reopens its store.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Dict, List, Optional
from urllib.parse import urlsplit, urlunsplit

from replica_proxy import Backend, ReplicaProxy

ENV = "LOCALHSM_SDK_REPLICAS"

# Requests the proxies passed on, over the session: "a reads", "a writes", "b reads", ...
TOTALS: Dict[str, int] = {}


def replica_url() -> Optional[str]:
    """The cluster URL of replica mode, or None when the suites run on one sled server."""
    return os.environ.get(ENV) or None


def psql() -> str:
    """psql of the cluster's installation (PG_BIN from cluster.sh), else Debian's newest,
    else the one on PATH."""
    candidates = []
    if os.environ.get("PG_BIN"):
        candidates.append(Path(os.environ["PG_BIN"]) / "psql")
    candidates += [Path(p) / "psql" for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for path in candidates:
        if path.is_file():
            return str(path)
    found = shutil.which("psql")
    if not found:
        raise RuntimeError(f"{ENV} is set but no psql was found (install postgresql-client)")
    return found


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))


def run_sql(url: str, sql: str, *extra: str) -> str:
    out = subprocess.run([psql(), "-X", "-v", "ON_ERROR_STOP=1", "-qAt", *extra, "-c", sql, url],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"psql {sql!r} on {url}: {out.stderr.strip()}")
    return out.stdout


class ReplicaPair:
    """Replicas A and B of one Key Vault on a database of their own, behind the proxy."""

    def __init__(self, data_dir: Path, extra_args: Optional[List[str]] = None,
                 env: Optional[Dict[str, str]] = None, cluster: Optional[str] = None):
        from localhsm_support import ServerProcess  # localhsm_support imports this module

        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.cluster = cluster or replica_url()
        if not self.cluster:
            raise RuntimeError(f"{ENV} is not set")
        url_file, key_file = self.data_dir / "store.url", self.data_dir / "master.key.hex"
        if url_file.is_file():
            self.store_url = url_file.read_text().strip()
            master = key_file.read_text().strip()
        else:
            database = f"localhsm_sdk_{uuid.uuid4().hex[:16]}"
            run_sql(self.cluster, f'CREATE DATABASE "{database}"')
            self.store_url = _with_database(self.cluster, database)
            master = secrets.token_hex(32)
            key_file.touch(mode=0o600)
            key_file.write_text(master)
            url_file.write_text(self.store_url)
        server_env = {**(env or {}), "LOCALHSM_MASTER_KEY": master}
        args = list(extra_args or []) + ["--store", self.store_url]
        self.a = ServerProcess(self.data_dir / "a", extra_args=args, env=server_env)
        self.b = ServerProcess(self.data_dir / "b", extra_args=args, env=server_env)
        self.proxy: Optional[ReplicaProxy] = None
        self.port: int = 0

    @property
    def replicas(self):
        return (self.a, self.b)

    @property
    def cert_path(self) -> Path:
        """Replica A's local CA: the proxy's leaves chain to it, so clients trust this."""
        return self.a.cert_path

    @property
    def stdout_lines(self) -> List[str]:
        return self.a.stdout_lines + self.b.stdout_lines

    def start(self) -> "ReplicaPair":
        try:
            self.a.start()
            self.b.start()
            self.proxy = ReplicaProxy(
                Backend("a", self.a.port, self.a.cert_path),
                Backend("b", self.b.port, self.b.cert_path),
                self.a.cert_path, self.a.data_dir / "tls" / "ca-key.pem",
                self.data_dir / "proxy.log",
            ).start()
        except Exception:
            self.stop()
            raise
        self.port = self.proxy.port
        return self

    def stop(self, timeout: float = 15.0) -> Optional[int]:
        """Stop the proxy, then SIGTERM both replicas. 0 when both exited with 0, else the
        first other status (None if one had to be killed)."""
        if self.proxy is not None:
            for what, n in self.proxy.counts().items():
                TOTALS[what] = TOTALS.get(what, 0) + n
            self.proxy.stop()
            self.proxy = None
        statuses = [r.stop(timeout) for r in self.replicas]
        return next((s for s in statuses if s != 0), 0)

    def discard_store(self) -> None:
        """Remove the pair's database (after ``stop``), unless LOCALHSM_KEEP_DATA is set."""
        if os.environ.get("LOCALHSM_KEEP_DATA"):
            print(f"\nlocalhsm database kept: {self.store_url}")
            return
        database = urlsplit(self.store_url).path.lstrip("/")
        run_sql(self.cluster, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def diagnostics(self) -> str:
        try:
            proxy_log = "\n".join((self.data_dir / "proxy.log").read_text(errors="replace").splitlines()[-40:])
        except OSError:
            proxy_log = ""
        return (f"\n=== replica A ==={self.a.diagnostics()}\n=== replica B ==={self.b.diagnostics()}"
                f"\n--- proxy log (tail: request -> replica status) ---\n{proxy_log}")

    def output_text(self) -> str:
        return self.a.output_text() + "\n" + self.b.output_text()

    def stored_files(self) -> Dict[str, bytes]:
        """What the pair keeps: both replicas' directories, and every row of the store's
        tables as PostgreSQL holds it (binary COPY: bytea columns byte for byte)."""
        files = {str(p): p.read_bytes() for p in self.data_dir.rglob("*") if p.is_file()}
        tables = run_sql(self.store_url,
                         "SELECT tablename FROM pg_tables WHERE schemaname = 'localhsm' ORDER BY 1").split()
        assert tables, f"no tables in schema localhsm of {self.store_url}"
        for table in tables:
            out = subprocess.run(
                [psql(), "-X", "-v", "ON_ERROR_STOP=1", "-qAt", "-c",
                 f'COPY localhsm."{table}" TO STDOUT (FORMAT binary)', self.store_url],
                stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
            if out.returncode != 0:
                raise RuntimeError(f"COPY localhsm.{table}: {out.stderr.decode(errors='replace')}")
            files[f"{self.store_url}#localhsm.{table}"] = out.stdout
        return files
