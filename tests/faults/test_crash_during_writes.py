"""SIGKILL the whole gunicorn server in the middle of a burst of trace writes, restart it on the same
database: every write that was acknowledged (2xx) is there and verifies, every lot's chain verifies,
and a client retrying the unacknowledged writes neither duplicates nor breaks anything."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .conftest import LOTS, REPO, Server, child_env, day_time, nongshu_serve, request, seed_custody

pytestmark = pytest.mark.slow

WRITES = 240  # more than the server can take before the kill
KILL_AFTER_ACKS = 30
CLIENTS = 8


def inspection(gtin: str, plant: str, i: int) -> dict:
    """The processor's own quality check number ``i`` (a distinct event time per write)."""
    from traceability.epcis import builders

    return builders.inspection_event(
        gtin=gtin, lot=LOTS[i % len(LOTS)], when=day_time(2, 8, second=i), location=plant, conformant=True,
        results=[{"substance": builders.NONGSHU_NS + "substance/organophosphate-carbamate", "value": 5.0 + i % 7,
                  "uom": "P1"}])


def post(port: int, key: str, event: dict) -> tuple[int | None, dict | None]:
    """(status, body) of one write; (None, None) when the connection failed (outcome unknown)."""
    try:
        resp = request(port, "POST", "/api/v1/trace/events", json.dumps(event).encode(),
                       {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}, timeout=20)
    except OSError:
        return None, None
    try:
        return resp.status, json.loads(resp.body)
    except ValueError:
        return resp.status, None


def burst_then_kill(server: Server, key: str, events: list[dict]) -> list[tuple[int | None, dict | None]]:
    """Send ``events`` from concurrent clients; SIGKILL the server once enough writes were acknowledged."""
    acked = 0
    lock = threading.Lock()
    enough = threading.Event()

    def send(event: dict) -> tuple[int | None, dict | None]:
        nonlocal acked
        status, body = post(server.port, key, event)
        if status is not None and 200 <= status < 300:
            with lock:
                acked += 1
                if acked >= KILL_AFTER_ACKS:
                    enough.set()
        return status, body

    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(send, event) for event in events]
        assert enough.wait(timeout=120), "the server acknowledged too few writes before the deadline"
        server.kill()
        return [f.result() for f in futures]


def event_ids_of_lot(port: int, gtin: str, lot: str) -> list[str]:
    resp = request(port, "GET", f"/api/v1/trace/lots/{lot}?gtin={gtin}")
    assert resp.status == 200, resp.body[:500]
    return [e["eventID"] for e in json.loads(resp.body)["epcisBody"]["eventList"]]


def verify(port: int, gtin: str, lot: str) -> dict:
    resp = request(port, "GET", f"/api/v1/trace/lots/{lot}/verify?gtin={gtin}")
    assert resp.status == 200, resp.body[:500]
    return json.loads(resp.body)


def test_sigkill_mid_burst_loses_no_acknowledged_write(trace_db_url: str, tmp_path: Path, servers: list[Server]):
    data = tmp_path / "data"
    data.mkdir()
    world = seed_custody(trace_db_url)
    events = [inspection(world["gtin"], world["plant"], i) for i in range(WRITES)]

    first = nongshu_serve(data, trace_db_url, tmp_path / "server1.log")
    servers.append(first)
    first.start()
    outcomes = burst_then_kill(first, world["key"], events)

    statuses = [s for s, _ in outcomes]
    acked = {body["recorded"][0]["event_id"]: i for i, (s, body) in enumerate(outcomes)
             if s is not None and 200 <= s < 300 and body}
    assert len(acked) >= KILL_AFTER_ACKS
    assert set(statuses) <= {None, 200, 201}, statuses  # no 5xx, no spurious conflict
    unknown = [i for i, (s, _) in enumerate(outcomes) if s is None]
    assert unknown, "the kill came after the burst: nothing was in flight"

    second = nongshu_serve(data, trace_db_url, tmp_path / "server2.log")
    servers.append(second)
    second.start()
    stored = {lot: event_ids_of_lot(second.port, world["gtin"], lot) for lot in LOTS}
    everything = [e for ids in stored.values() for e in ids]
    missing = [e for e in acked if e not in everything]
    assert not missing, f"{len(missing)} acknowledged writes lost after SIGKILL"
    assert len(everything) == len(set(everything))
    for lot in LOTS:
        report = verify(second.port, world["gtin"], lot)
        assert report["ok"] is True, report
        assert report["events_checked"] >= len(stored[lot])

    # a client retries every write it got no answer for: each is recorded once (201) or was already there (200)
    retried = [post(second.port, world["key"], events[i]) for i in unknown]
    assert {s for s, _ in retried} <= {200, 201}, retried
    after = {lot: event_ids_of_lot(second.port, world["gtin"], lot) for lot in LOTS}
    total = [e for ids in after.values() for e in ids]
    assert len(total) == len(set(total)) == sum(len(ids) for ids in stored.values()) + sum(
        1 for s, _ in retried if s == 201)
    # 3 seed events per lot + every write of the burst that got an answer or was retried
    answered = sum(1 for s in statuses if s is not None and 200 <= s < 300)
    assert len(total) == 3 * len(LOTS) + answered + len(unknown)
    second.stop()

    # the command-line verifier agrees, on the same database, with no server running
    for lot in LOTS:
        result = subprocess.run(
            [sys.executable, "-m", "nongshu", "trace", "verify", lot, "--gtin", world["gtin"],
             "--database-url", trace_db_url],
            env=child_env(NONGSHU_DATA_DIR=str(data)), cwd=REPO, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["ok"] is True
        assert "intact" in result.stderr
