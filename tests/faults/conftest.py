"""Fault and load tests: real gunicorn, dask and pipeline subprocesses, killed on purpose.

Helpers here start servers in their own process group (so a test can SIGKILL the
whole server, master and workers, at once) and always stop them in teardown.
PostgreSQL comes from ``scripts/postgres.sh`` (URL in ``NONGSHU_TEST_POSTGRES_URL``);
without a server the PostgreSQL variants skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FAULTS = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a subprocess: this checkout importable, no inherited NONGSHU_* surprises."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NONGSHU_", "DASK_"))}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 30) -> Response:
    """One HTTP/1.1 request on a new connection to 127.0.0.1:port."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


class Server:
    """A gunicorn server subprocess in its own session; ``kill()`` SIGKILLs master and workers."""

    def __init__(self, argv: list[str], port: int, env: dict[str, str], log: Path) -> None:
        self.argv, self.port, self.env, self.log = argv, port, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> Server:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if request(self.port, "GET", "/healthz", timeout=2).status == 200:
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"server did not start:\n{self.log.read_text(errors='replace')[-4000:]}")
            time.sleep(0.3)

    def pids(self) -> list[int]:
        """Master and worker process ids (the process group)."""
        if self.proc is None:
            return []
        out = subprocess.run(["ps", "-o", "pid=", "-s", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def kill(self) -> None:
        """SIGKILL the whole process group, as a power cut or the OOM killer would."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self._reap_group()

    def stop(self) -> None:
        """SIGTERM (gunicorn's graceful stop), SIGKILL after 30 s."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap_group()

    def _reap_group(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.fixture()
def servers() -> Iterator[list[Server]]:
    """Servers a test starts are appended here and stopped (whatever happened) in teardown."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def nongshu_serve(data_dir: Path, database_url: str, log: Path, workers: int = 2) -> Server:
    """``nongshu serve --data DIR --workers N`` on a free port (not started yet)."""
    port = free_port()
    argv = [sys.executable, "-m", "nongshu", "serve", "--data", str(data_dir), "--port", str(port),
            "--workers", str(workers)]
    return Server(argv, port, child_env(NONGSHU_DATABASE_URL=database_url, NONGSHU_DATA_DIR=str(data_dir)), log)


CST = timezone(timedelta(hours=8))
LOTS = ("CR-1", "CR-2", "CR-3")


def day_time(day: int, hour: int = 9, second: int = 0) -> datetime:
    return datetime(2025, 9, 1, hour, tzinfo=CST) + timedelta(days=day, seconds=second)


def seed_custody(url: str) -> dict[str, str]:
    """A cooperative harvests three lots and ships them to a processor, which receives them.

    Returns the processor's API key and the GTIN. Done through the library, before the server starts."""
    from traceability.epcis import builders
    from traceability.gs1 import location_uri, with_check_digit
    from traceability.store import TraceStore

    coop_gln, proc_gln = with_check_digit("690123400001"), with_check_digit("690123400002")
    gtin = with_check_digit("0690123456789")
    with TraceStore.open(url) as store:
        coop = store.create_organisation(gln=coop_gln, name="Anding Cooperative", role="cooperative")
        proc = store.create_organisation(gln=proc_gln, name="Dingxi Washing Plant", role="processor")
        store.register_product(gtin=gtin, name="fresh potato", crop="potato", variety="Longshu 7")
        field = store.register_location(uri=location_uri(coop_gln, "DX-000001"), kind="field", name="Field 1",
                                        organisation_gln=coop_gln, field_id="DX-000001", crop="potato")
        plant = store.register_location(uri=location_uri(proc_gln), kind="packhouse", name="Washing plant",
                                        organisation_gln=proc_gln)
        for lot in LOTS:
            store.record_event(coop, builders.harvest_event(
                gtin=gtin, lot=lot, quantity_kg=1000.0, when=day_time(0), field_location=field, field_id="DX-000001",
                crop="potato", variety="Longshu 7", grower_gln=coop_gln))
            store.record_event(coop, builders.shipping_event(
                gtin=gtin, lot=lot, when=day_time(1, 10), location=plant, source_gln=coop_gln, destination_gln=proc_gln))
            store.record_event(proc, builders.receiving_event(
                gtin=gtin, lot=lot, when=day_time(1, 16), location=plant, source_gln=coop_gln, destination_gln=proc_gln))
        key = store.issue_api_key(proc_gln, label="crash test")
    return {"key": key, "gtin": gtin, "plant": plant}



SEASON = 2026


def nongshu_run(inputs: Path, out: Path, *extra: str, preexec_fn=None, timeout: float = 600,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``nongshu run --season 2026`` as a subprocess (2 local workers, 1 GiB each unless ``extra`` says otherwise)."""
    argv = [sys.executable, "-m", "nongshu", "run", "--inputs", str(inputs), "--season", str(SEASON),
            "--out", str(out), *extra]
    if "--scheduler" not in extra:
        argv += ["--workers", "2"]
    return subprocess.run(argv, env=env or child_env(), cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=preexec_fn)


def checksums(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative path -> hex), hidden entries included."""
    import hashlib

    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="session")
def small_region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 256 px, 3-season Dingxi demo region of the fault tests (a season run takes well under a minute)."""
    from geodata.demo import generate_region

    out = tmp_path_factory.mktemp("faults-region") / "dingxi"
    generate_region("dingxi", out, size=256, seasons=3, seed=7)
    return out


@pytest.fixture(scope="session")
def reference_run(small_region: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One complete `nongshu run` of the small region (also caches the yield model in the region)."""
    out = tmp_path_factory.mktemp("faults-reference")
    result = nongshu_run(small_region, out)
    assert result.returncode == 0, result.stderr[-4000:]
    return out / str(SEASON)
