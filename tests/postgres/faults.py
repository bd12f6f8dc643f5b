#!/usr/bin/env python3
"""Faults under load for two `localhsm serve` replicas on one PostgreSQL database.

  eval "$(tests/postgres/cluster.sh start)"
  LOCALHSM_BIN=target/release/localhsm python3 tests/postgres/faults.py

1. PostgreSQL restarts (`cluster.sh restart`) while workers create keys, set secrets and
   sign through both replicas. Every answer is a success or Key Vault's 503 (error JSON
   with a code and a message, and a Retry-After header): never another status, a timeout
   (10 s) or a broken connection. Both replicas serve again without being restarted, and
   every write acknowledged (2xx) before, during or after the bounce reads back, through
   both replicas, as written. A third replica then starts on the database (its open checks
   the store's digest over every record: no half-applied change) and reads them back too.
2. Replica A is killed (SIGKILL) while workers write through both. Replica B answers
   every request with success; every write either replica acknowledged reads back through
   B, and through A once it is started again on the same database (an open, checked).

Standard library only. Env: LOCALHSM_BIN (default target/release/localhsm),
LOCALHSM_TEST_POSTGRES and PG_CLUSTER_DIR (from cluster.sh start), PG_BIN (psql).
Exits non-zero on any breach, printing the first ones; prints the counts either way.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import http.client
import json
import os
import queue
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
API = "api-version=7.5"
CLIENT_TIMEOUT = 10.0
WORKERS = 4
READY_TIMEOUT = 60.0
RECOVERY_TIMEOUT = 30.0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def bearer() -> str:
    """A token of the shape localhsm reads (it checks no signature: a dev server)."""
    now = int(time.time())
    claims = {"aud": "https://managedhsm.azure.net", "iss": "https://sts.windows.net/faults/", "iat": now,
              "nbf": now, "exp": now + 3600, "oid": str(uuid.uuid4()), "tid": str(uuid.uuid4()),
              "appid": "localhsm-faults"}
    parts = [{"alg": "RS256", "typ": "JWT"}, claims]
    return ".".join([b64url(json.dumps(p).encode()) for p in parts] + [b64url(b"unsigned")])


TOKEN = bearer()


def psql() -> str:
    for cand in ([Path(os.environ["PG_BIN"]) / "psql"] if os.environ.get("PG_BIN") else []) + \
            [Path(p) / "psql" for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]:
        if cand.is_file():
            return str(cand)
    return shutil.which("psql") or "psql"


def sql(url: str, statement: str) -> None:
    subprocess.run([psql(), "-X", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", statement, url],
                   stdin=subprocess.DEVNULL, check=True, capture_output=True, timeout=60)


# --------------------------------------------------------------------------------------
# replicas
# --------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Replica:
    def __init__(self, name: str, root: Path, store: str, master: str):
        self.name, self.data, self.store, self.master = name, root / name, store, master
        self.port = free_port()
        self.proc: Optional[subprocess.Popen] = None
        self.log = root / f"{name}.log"

    @property
    def cert(self) -> Path:
        return self.data / "tls" / "cert.pem"

    def start(self) -> "Replica":
        binary = os.environ.get("LOCALHSM_BIN") or str(REPO / "target" / "release" / "localhsm")
        self.data.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [binary, "serve", "--data", str(self.data), "--addr", f"127.0.0.1:{self.port}",
                 "--store", self.store],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True,
                env={**os.environ, "LOCALHSM_MASTER_KEY": self.master})
        ready = f"localhsm listening on https://127.0.0.1:{self.port}"
        lines: "queue.Queue[Optional[str]]" = queue.Queue()

        def pump(out):
            for line in out:
                lines.put(line.rstrip("\n"))
            lines.put(None)

        threading.Thread(target=pump, args=(self.proc.stdout,), daemon=True).start()
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line == ready:
                return self
            if line is None:
                raise SystemExit(f"replica {self.name} did not start:\n{self.log.read_text()[-3000:]}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class _Conn(http.client.HTTPSConnection):
    """To 127.0.0.1, with TLS for `localhost` (the name the replica's leaf carries)."""

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname="localhost")


class Client:
    """One keep-alive connection to one replica."""

    def __init__(self, replica: Replica):
        self.replica = replica
        self.ctx = ssl.create_default_context(cafile=str(replica.cert))
        self.conn: Optional[_Conn] = None

    def request(self, method: str, path: str, body=None) -> Tuple[int, Dict[str, str], bytes]:
        if self.conn is None:
            self.conn = _Conn("localhost", self.replica.port, timeout=CLIENT_TIMEOUT, context=self.ctx)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {TOKEN}", "Host": f"localhost:{self.replica.port}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, f"{path}?{API}", body=data, headers=headers)
            resp = self.conn.getresponse()
            payload = resp.read()
        except BaseException:
            self.close()
            raise
        if resp.will_close:
            self.close()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# --------------------------------------------------------------------------------------
# load
# --------------------------------------------------------------------------------------
def classify(status: int, headers: Dict[str, str], payload: bytes) -> Tuple[str, str]:
    """("ok" | "unavailable" | "bad", detail)."""
    if 200 <= status < 300:
        return "ok", ""
    if status == 503:
        try:
            error = json.loads(payload)["error"]
            shaped = isinstance(error.get("code"), str) and isinstance(error.get("message"), str)
        except (ValueError, KeyError, TypeError, AttributeError):
            shaped = False
        if shaped and headers.get("retry-after", "").strip():
            return "unavailable", error["code"]
        return "bad", f"503 without Key Vault's error shape or Retry-After: {headers} {payload[:200]!r}"
    return "bad", f"{status}: {payload[:300]!r}"


class Load:
    """Workers that create keys, set secrets and sign, alternating between replicas."""

    def __init__(self, replicas: List[Replica], ops=("key", "secret", "sign")):
        self.replicas = replicas
        self.ops = ops
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        # (start, end, replica, op, outcome, detail)
        self.events: List[Tuple[float, float, str, str, str, str]] = []
        self.keys: List[Tuple[str, str, str]] = []      # acknowledged: (name, version, x)
        self.secrets: List[Tuple[str, str, str]] = []   # acknowledged: (name, version, value)
        self.threads = [threading.Thread(target=self._work, args=(i,), daemon=True) for i in range(WORKERS)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=CLIENT_TIMEOUT * 3)
        assert not any(t.is_alive() for t in self.threads), "a worker hung"

    def _call(self, client: Client, op: str, method: str, path: str, body=None):
        start = time.monotonic()
        try:
            status, headers, payload = client.request(method, path, body)
            outcome, detail = classify(status, headers, payload)
        except socket.timeout:
            status, payload, outcome, detail = 0, b"", "bad", f"no answer within {CLIENT_TIMEOUT:.0f} s"
        except (OSError, http.client.HTTPException) as exc:
            status, payload, outcome, detail = 0, b"", "broken", f"{type(exc).__name__}: {exc}"
        with self.lock:
            self.events.append((start, time.monotonic(), client.replica.name, op, outcome, detail))
        return outcome, payload

    def _work(self, index: int):
        clients = [Client(r) for r in self.replicas]
        mine: List[Tuple[str, str]] = []
        n = 0
        while not self.stop_flag.is_set():
            client = clients[(index + n) % len(clients)]
            op = self.ops[n % len(self.ops)]
            n += 1
            if op == "key":
                name = f"f{index}-{uuid.uuid4().hex[:10]}"
                outcome, payload = self._call(client, op, "POST", f"/keys/{name}/create",
                                              {"kty": "EC-HSM", "crv": "P-256"})
                if outcome == "ok":
                    key = json.loads(payload)["key"]
                    version = key["kid"].rsplit("/", 1)[1]
                    mine.append((name, version))
                    with self.lock:
                        self.keys.append((name, version, key["x"]))
            elif op == "secret":
                name = f"s{index}-{uuid.uuid4().hex[:10]}"
                value = secrets.token_urlsafe(24)
                outcome, payload = self._call(client, op, "PUT", f"/secrets/{name}", {"value": value})
                if outcome == "ok":
                    with self.lock:
                        self.secrets.append((name, json.loads(payload)["id"].rsplit("/", 1)[1], value))
            elif mine:
                name, version = mine[-1]
                digest = hashlib.sha256(f"{name}-{n}".encode()).digest()
                outcome, payload = self._call(client, op, "POST", f"/keys/{name}/{version}/sign",
                                              {"alg": "ES256", "value": b64url(digest)})
                if outcome == "ok":
                    sig = base64.urlsafe_b64decode(json.loads(payload)["value"] + "==")
                    if len(sig) != 64:
                        with self.lock:
                            self.events.append((time.monotonic(), time.monotonic(), client.replica.name, op,
                                                "bad", f"ES256 signature of {len(sig)} bytes"))
            if self.stop_flag.is_set():
                break
        for c in clients:
            c.close()


def readback(load: Load, replica: Replica) -> List[str]:
    """Every acknowledged write of `load`, read through `replica`: the breaches."""
    client = Client(replica)
    bad = []
    for name, version, x in load.keys:
        try:
            status, _, payload = client.request("GET", f"/keys/{name}/{version}")
        except (OSError, http.client.HTTPException) as exc:
            bad.append(f"key {name}/{version} via {replica.name}: {exc}")
            continue
        if status != 200 or json.loads(payload)["key"]["x"] != x:
            bad.append(f"key {name}/{version} via {replica.name}: {status} {payload[:200]!r}")
    for name, version, value in load.secrets:
        try:
            status, _, payload = client.request("GET", f"/secrets/{name}/{version}")
        except (OSError, http.client.HTTPException) as exc:
            bad.append(f"secret {name}/{version} via {replica.name}: {exc}")
            continue
        if status != 200 or json.loads(payload)["value"] != value:
            bad.append(f"secret {name}/{version} via {replica.name}: {status}")
    client.close()
    return bad


def serves(replica: Replica) -> bool:
    client = Client(replica)
    try:
        status, _, _ = client.request("GET", "/keys")
        return status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        client.close()


def tally(events, since=float("-inf"), until=float("inf"), replica=None) -> Counter:
    return Counter(f"{e[3]} {e[4]}" for e in events
                   if since <= e[0] < until and (replica is None or e[2] == replica))


def show(title: str, counts: Counter) -> None:
    total = sum(counts.values())
    print(f"  {title}: {total} requests" + ("".join(f", {k} {v}" for k, v in sorted(counts.items())) if total else ""))


# --------------------------------------------------------------------------------------
# the two scenarios
# --------------------------------------------------------------------------------------
def bounce(replicas: List[Replica], cluster_dir: str) -> List[str]:
    print("== PostgreSQL restart under load (both replicas)")
    breaches = []
    pids = [r.proc.pid for r in replicas]
    load = Load(replicas).start()
    time.sleep(2)
    began = time.monotonic()
    subprocess.run(["bash", str(HERE / "cluster.sh"), "restart", cluster_dir], check=True,
                   stdin=subprocess.DEVNULL, timeout=120)
    returned = time.monotonic()
    recovered = {}
    while len(recovered) < len(replicas) and time.monotonic() < returned + RECOVERY_TIMEOUT:
        with load.lock:
            for e in load.events:
                if e[0] >= returned and e[4] == "ok":
                    recovered.setdefault(e[2], e[1] - returned)
        time.sleep(0.05)
    time.sleep(2)
    load.stop()
    ended = time.monotonic()
    events = load.events
    print(f"  restart took {returned - began:.2f} s; first success after it, by replica: "
          + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(recovered.items())))
    show("before the restart", tally(events, until=began))
    show("during the restart", tally(events, began, returned))
    show("after it", tally(events, returned))
    codes = Counter(f"{e[3]} {e[5]}" for e in events if e[4] == "unavailable")
    if codes:
        print("  503 error codes: " + ", ".join(f"{k} {v}" for k, v in sorted(codes.items())))
    for name in (r.name for r in replicas):
        if name not in recovered:
            breaches.append(f"replica {name} served nothing within {RECOVERY_TIMEOUT:.0f} s of the restart")
    if not any(e[0] < returned and e[1] > began for e in events):
        breaches.append("no request was in flight during the restart: the bounce was not tested")
    if not sum(v for k, v in tally(events, since=began).items() if k.endswith(" ok")):
        breaches.append("nothing succeeded after the restart")
    tail = [e for e in events if e[0] >= ended - 1.5]
    if any(e[4] != "ok" for e in tail):
        breaches.append(f"not every request of the last 1.5 s succeeded: {tally(events, ended - 1.5)}")
    for e in events:
        if e[4] not in ("ok", "unavailable"):
            breaches.append(f"{e[3]} via {e[2]} at t{e[0] - began:+.2f} s: {e[4]}: {e[5]}")
    for r, pid in zip(replicas, pids):
        if not r.alive() or r.proc.pid != pid:
            breaches.append(f"replica {r.name} is not the process it was (exited {r.proc.poll()})")
    # A replica opening the store checks its digest over every record against the last
    # commit's: a half-applied change from the bounce would stop it from starting.
    fresh = Replica("c", replicas[0].data.parent, replicas[0].store, replicas[0].master).start()
    try:
        for r in [*replicas, fresh]:
            breaches += readback(load, r)
    finally:
        fresh.stop()
    print(f"  acknowledged writes: {len(load.keys)} keys, {len(load.secrets)} secrets; read back through "
          f"{', '.join(r.name for r in replicas)} and through a new replica c (its open checked the store)")
    return breaches


def kill(replicas: List[Replica]) -> List[str]:
    a, b = replicas
    print(f"== SIGKILL of replica {a.name} under write load (both replicas)")
    breaches = []
    load = Load(replicas, ops=("key", "secret")).start()
    time.sleep(2)
    killed = time.monotonic()
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait()
    time.sleep(3)
    load.stop()
    events = load.events
    show(f"via {a.name} before the kill", tally(events, until=killed, replica=a.name))
    show(f"via {a.name} from the kill on (refused: it is gone)", tally(events, killed, replica=a.name))
    show(f"via {b.name} before the kill", tally(events, until=killed, replica=b.name))
    show(f"via {b.name} from the kill on", tally(events, killed, replica=b.name))
    for e in events:
        if e[2] == b.name and e[4] != "ok":
            breaches.append(f"{e[3]} via {b.name} at t{e[0] - killed:+.2f} s: {e[4]}: {e[5]}")
        if e[2] == a.name and e[1] < killed and e[4] != "ok":
            breaches.append(f"{e[3]} via {a.name} before the kill: {e[4]}: {e[5]}")
    if not sum(v for k, v in tally(events, killed, replica=b.name).items() if k.endswith(" ok")):
        breaches.append(f"replica {b.name} completed nothing after the kill")
    breaches += readback(load, b)
    a.start()
    breaches += readback(load, a)
    print(f"  acknowledged writes: {len(load.keys)} keys, {len(load.secrets)} secrets; read back through "
          f"{b.name}, and through {a.name} started again")
    return breaches


def main() -> int:
    cluster = os.environ.get("LOCALHSM_TEST_POSTGRES")
    cluster_dir = os.environ.get("PG_CLUSTER_DIR")
    if not cluster or not cluster_dir:
        print("faults.py: LOCALHSM_TEST_POSTGRES and PG_CLUSTER_DIR must be set: "
              'eval "$(tests/postgres/cluster.sh start)"', file=sys.stderr)
        return 2
    database = f"localhsm_faults_{uuid.uuid4().hex[:12]}"
    sql(cluster, f'CREATE DATABASE "{database}"')
    parts = urlsplit(cluster)
    store = urlunsplit((parts.scheme, parts.netloc, "/" + database, "", ""))
    root = Path(tempfile.mkdtemp(prefix="localhsm-faults-"))
    master = secrets.token_hex(32)
    replicas = [Replica("a", root, store, master), Replica("b", root, store, master)]
    breaches: List[str] = []
    try:
        for r in replicas:
            r.start()
        breaches += [f"restart: {b}" for b in bounce(replicas, cluster_dir)]
        breaches += [f"kill: {b}" for b in kill(replicas)]
    finally:
        for r in replicas:
            r.stop()
        if breaches:
            for r in replicas:
                print(f"--- replica {r.name} log (tail) ---\n{r.log.read_text(errors='replace')[-2000:]}")
    if breaches:
        print(f"FAILED: {len(breaches)} breaches; the first:")
        for line in breaches[:25]:
            print("  " + line)
        print(f"(kept {root} and database {database})")
        return 1
    shutil.rmtree(root, ignore_errors=True)
    sql(cluster, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    print("faults.py: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
