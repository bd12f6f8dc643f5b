"""pytest wiring for the localhsm Python SDK compatibility suite.

One ``localhsm serve`` process is started per test session on a free port with a
fresh temporary data directory; every test talks to it through the official Azure
SDK clients (see localhsm_support.LocalHsm). Modules that need a store of their own
(or access control enforced) start their own server with ``fresh_server`` /
``enforced_server``.

With ``LOCALHSM_SDK_REPLICAS=postgres://...`` each of those servers is two replicas on a
PostgreSQL database of their own, behind a proxy that sends writes to one and reads to the
other, alternating (localhsm_replicas.py); a session of 20 requests or more then also fails
if either replica took no writes or served no reads.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

import localhsm_replicas
from localhsm_support import FakeCredential, LocalHsm, new_server


def pytest_configure(config):
    config.addinivalue_line("markers", "vault_kind: tests for vaults created through /management/vaults")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """CI must not go green on skips: a skipped (or xfailed) test is reported as failed.

    Set LOCALHSM_ALLOW_SKIPS=1 to get pytest's normal behaviour while developing.
    """
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not os.environ.get("LOCALHSM_ALLOW_SKIPS"):
        reason = report.longrepr
        if isinstance(reason, tuple) and len(reason) == 3:
            reason = reason[2]
        if hasattr(report, "wasxfail"):
            reason = f"xfail: {report.wasxfail}"
            del report.wasxfail
        report.outcome = "failed"
        report.longrepr = f"skips are failures in the localhsm SDK suite ({reason})"


def pytest_sessionfinish(session, exitstatus):
    """In replica mode, a run in which the proxies did not alternate proves nothing."""
    if not localhsm_replicas.replica_url() or session.testscollected == 0 or exitstatus != 0:
        return
    totals = localhsm_replicas.TOTALS
    idle = [what for what in ("a reads", "a writes", "b reads", "b writes") if not totals.get(what)]
    # a handful of requests (one test picked out) may fairly never reach one side
    if idle and sum(totals.values()) >= 20:
        session.config._localhsm_replica_error = f"replica mode, but no {', '.join(idle)}: {totals}"
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if localhsm_replicas.replica_url():
        totals = localhsm_replicas.TOTALS
        terminalreporter.write_line("replica mode, requests by replica: " + ", ".join(
            f"{what} {totals.get(what, 0)}" for what in ("a writes", "b writes", "a reads", "b reads")))
        error = getattr(config, "_localhsm_replica_error", None)
        if error:
            terminalreporter.write_line(f"FAILED: {error}", red=True)


@contextlib.contextmanager
def _running_server(prefix: str, extra_args=None, credential=None):
    """``localhsm serve`` on a free port + fresh temp dir (with ``extra_args``); yields a
    LocalHsm whose default credential is ``credential``; SIGTERM and cleanup afterwards."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    process = new_server(root / "data", extra_args=extra_args)
    try:
        process.start()
    except RuntimeError as exc:
        keep = os.environ.get("LOCALHSM_KEEP_DATA")
        if not keep:
            process.discard_store()
            shutil.rmtree(root, ignore_errors=True)
        pytest.fail(str(exc), pytrace=False)
    handle = LocalHsm(process, credential=credential)
    try:
        yield handle
    finally:
        handle.close()
        status = process.stop()
        process.discard_store()
        if os.environ.get("LOCALHSM_KEEP_DATA"):
            print(f"\nlocalhsm data kept in {root} (exit status {status})")
        else:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def server():
    """Start ``localhsm serve`` on a free port + temp dir; yield a LocalHsm handle."""
    # --dev-clock: test_lifecycle's last test moves this server's clock.
    with _running_server("localhsm-py-sdk-", ["--dev-clock"]) as handle:
        yield handle


@pytest.fixture(scope="module")
def fresh_server():
    """A second server (access control off) of the module's own, for tests that need a
    store nobody else touches (customer-data requests, access logs, rotation after a
    time-shift: it starts with --dev-clock)."""
    with _running_server("localhsm-py-sdk-fresh-", ["--dev-clock"]) as handle:
        yield handle


@pytest.fixture(scope="module")
def enforced_server():
    """A server started with ``--enforce-rbac --admin <oid> --dev-clock``. Its default
    credential (used for SDK clients and the management API) is that admin's; the dev clock
    is on so a refused time-shift shows the admin check, not the switch."""
    admin = FakeCredential(object_id=str(uuid.uuid4()), upn="admin@localhsm.test")
    with _running_server("localhsm-py-sdk-rbac-",
                         ["--enforce-rbac", "--admin", admin.object_id, "--dev-clock"],
                         credential=admin) as handle:
        yield handle


@pytest.fixture(scope="session")
def key_client(server):
    """KeyClient on the default vault (kind managedhsm) at https://localhost:PORT."""
    return server.key_client()


@pytest.fixture(scope="session")
def kv_vault(server):
    """A vault of kind `vault` (Key Vault semantics), reachable as kv.localhost:PORT."""
    server.ensure_vault("kv", kind="vault")
    return "kv"


@pytest.fixture(scope="session")
def kv_client(server, kv_vault):
    return server.key_client(kv_vault)
