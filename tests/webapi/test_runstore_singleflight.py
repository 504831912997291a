"""RunStore reads each published file once when many threads miss its cache together (single-flight)."""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from shapely.geometry import box

from nongshu.settings import Settings
from webapi import runs as runs_module
from webapi.runs import Run, RunDataError, RunStore

REGION, RUN_ID = "loess", "2030"
THREADS = 8
WAIT = 10.0  # seconds: upper bound of every wait, so a broken store fails the test instead of hanging it


def write_fields(run_dir: Path, count: int) -> None:
    """``count`` unit squares ``F000``.. in EPSG:4326 as the run's fields.parquet."""
    ids = [f"F{i:03d}" for i in range(count)]
    frame = gpd.GeoDataFrame(
        {"field_id": ids, "crop": ["potato"] * count, "alert_level": [i % 5 for i in range(count)]},
        geometry=[box(104 + i * 0.01, 35, 104.005 + i * 0.01, 35.005) for i in range(count)],
        crs="EPSG:4326",
    )
    frame.to_parquet(run_dir / "fields.parquet")


@pytest.fixture()
def outputs(tmp_path: Path) -> Path:
    """``outputs/loess/2030`` with run.json, 3 fields and 2 alerts."""
    run_dir = tmp_path / "outputs" / REGION / RUN_ID
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"season": RUN_ID}))
    write_fields(run_dir, 3)
    alerts = [{"id": f"A{i}", "level": i + 1, "target_id": f"F00{i}"} for i in range(2)]
    (run_dir / "alerts.json").write_text(json.dumps({"run_id": RUN_ID, "alerts": alerts}))
    return tmp_path / "outputs"


@pytest.fixture()
def store(outputs: Path) -> RunStore:
    return RunStore(outputs)


@pytest.fixture()
def run(store: RunStore) -> Run:
    return store.get(f"{REGION}.{RUN_ID}")  # reads run.json before any reader is wrapped


def counting(monkeypatch: pytest.MonkeyPatch, name: str, before: Callable[[int], None]) -> list[int]:
    """Replace ``webapi.runs.<name>`` by a wrapper calling ``before(call_number)`` first; returns the call log."""
    real = getattr(runs_module, name)
    calls: list[int] = []
    calls_lock = threading.Lock()

    @functools.wraps(real)
    def wrapper(path: Path) -> Any:
        with calls_lock:
            calls.append(len(calls) + 1)
            number = len(calls)
        before(number)
        return real(path)

    monkeypatch.setattr(runs_module, name, wrapper)
    return calls


def together(n: int, task: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Run ``task`` in ``n`` threads released at once by a barrier; ``("ok", value)`` or ``("error", exc)`` each."""
    barrier = threading.Barrier(n)
    results: list[tuple[str, Any]] = []
    lock = threading.Lock()

    def work() -> None:
        barrier.wait(timeout=WAIT)
        try:
            outcome: tuple[str, Any] = ("ok", task())
        except Exception as err:  # noqa: BLE001 - collected and asserted on by the test
            outcome = ("error", err)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=WAIT)
    assert not any(t.is_alive() for t in threads), "a thread is still waiting on the store"
    return results


def test_concurrent_misses_read_the_file_once_and_share_the_table(store, run, monkeypatch):
    calls = counting(monkeypatch, "_read_fields", lambda _n: time.sleep(0.3))  # slow read: the threads overlap

    results = together(THREADS, lambda: store.fields(run))

    assert calls == [1]
    assert [kind for kind, _ in results] == ["ok"] * THREADS
    first = results[0][1]
    assert all(value is first for _, value in results)
    assert list(first.index) == ["F000", "F001", "F002"]  # the three fields written by the fixture
    assert store.fields(run) is first and calls == [1]  # later calls are cache hits
    assert store._loading == {}


def test_different_files_load_in_parallel(store, run, monkeypatch):
    fields_started, release_fields = threading.Event(), threading.Event()

    def block_fields(_n: int) -> None:
        fields_started.set()
        release_fields.wait(timeout=WAIT)

    counting(monkeypatch, "_read_fields", block_fields)
    json_calls = counting(monkeypatch, "_read_json", lambda _n: None)
    outcome: dict[str, Any] = {}
    fields_thread = threading.Thread(target=lambda: outcome.setdefault("fields", store.fields(run)))
    fields_thread.start()
    try:
        assert fields_started.wait(timeout=WAIT)
        alerts_thread = threading.Thread(target=lambda: outcome.setdefault("alerts", store.alerts(run)))
        alerts_thread.start()
        alerts_thread.join(timeout=WAIT / 2)
        # alerts.json was read and returned while fields.parquet's read was still blocked
        assert not alerts_thread.is_alive()
        assert not release_fields.is_set() and fields_thread.is_alive()
        assert json_calls == [1]
        assert [a["id"] for a in outcome["alerts"]["alerts"]] == ["A0", "A1"]
    finally:
        release_fields.set()
        fields_thread.join(timeout=WAIT)
    assert len(outcome["fields"]) == 3


def test_failed_read_reaches_every_waiter_and_is_not_cached(store, run, monkeypatch):
    def broken_once(number: int) -> None:
        if number == 1:
            time.sleep(0.3)
            raise ValueError("Parquet magic bytes not found")

    calls = counting(monkeypatch, "_read_fields", broken_once)

    results = together(THREADS, lambda: store.fields(run))

    assert calls == [1]
    assert [kind for kind, _ in results] == ["error"] * THREADS
    errors = [err for _, err in results]
    expected = "fields.parquet: cannot read published file: Parquet magic bytes not found"
    assert all(type(err) is RunDataError and str(err) == expected for err in errors)
    assert all(isinstance(err.__cause__, ValueError) for err in errors)
    assert store._loading == {}

    table = store.fields(run)  # the failure was not cached: this reads again, and succeeds
    assert calls == [1, 2]
    assert list(table.index) == ["F000", "F001", "F002"]


def test_rewritten_file_is_read_again(store, run, monkeypatch):
    calls = counting(monkeypatch, "_read_fields", lambda _n: None)
    assert len(store.fields(run)) == 3
    assert len(store.fields(run)) == 3 and calls == [1]

    path = run.path / "fields.parquet"
    before = path.stat().st_mtime_ns
    write_fields(run.path, 5)
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))  # a new mtime even on coarse clocks

    results = together(THREADS, lambda: store.fields(run))

    assert calls == [1, 2]
    assert all(kind == "ok" and list(value.index) == [f"F{i:03d}" for i in range(5)] for kind, value in results)


def test_interrupted_read_lets_a_waiter_read_instead(store, run, monkeypatch):
    class Interrupted(BaseException):
        """Stands in for KeyboardInterrupt/SystemExit in the reading thread."""

    first_started = threading.Event()

    def interrupted_once(number: int) -> None:
        if number == 1:
            first_started.set()
            time.sleep(0.3)
            raise Interrupted

    calls = counting(monkeypatch, "_read_fields", interrupted_once)
    interrupted: list[BaseException] = []

    def reader() -> None:
        try:
            store.fields(run)
        except Interrupted as err:
            interrupted.append(err)

    first = threading.Thread(target=reader)
    first.start()
    assert first_started.wait(timeout=WAIT)
    results = together(THREADS - 1, lambda: store.fields(run))  # they wait on the interrupted read
    first.join(timeout=WAIT)

    assert len(interrupted) == 1
    assert calls == [1, 2]  # one waiter read the file again; the others shared that read
    assert [kind for kind, _ in results] == ["ok"] * (THREADS - 1)
    assert all(value is results[0][1] for _, value in results)


def test_concurrent_requests_for_a_broken_table_all_get_the_problem_response(outputs, monkeypatch):
    from webapi import create_app

    app = create_app(Settings.from_env({"NONGSHU_DATA_DIR": str(outputs.parent)}))
    app.config["TESTING"] = True

    def broken_once(number: int) -> None:
        if number == 1:
            time.sleep(0.3)
            raise OSError("Invalid: truncated file")

    calls = counting(monkeypatch, "_read_fields", broken_once)

    def ask() -> tuple[int, str, dict[str, Any]]:
        response = app.test_client().get(f"/api/v1/fields?run={REGION}.{RUN_ID}")
        return response.status_code, response.mimetype, response.get_json(force=True)

    results = together(4, ask)

    assert calls == [1]
    for kind, (status, mimetype, body) in results:
        assert kind == "ok"
        assert (status, mimetype) == (500, "application/problem+json")
        assert body["detail"] == "the server could not read its own data; the operators have been told"
    status, _mimetype, body = ask()
    assert status == 200 and body["numberMatched"] == 3 and calls == [1, 2]


def test_file_removed_after_the_callers_check_is_a_run_data_error(store, run, monkeypatch):
    """A republish can remove fields.parquet between the caller's is_file() and the cache's stat: the store
    reports it as unreadable published data naming the file, not as a bare FileNotFoundError."""
    path = run.path / "fields.parquet"
    real_stat = Path.stat

    def vanishing_stat(self: Path, *args: Any, **kwargs: Any) -> os.stat_result:
        if self == path:
            raise FileNotFoundError(2, "No such file or directory", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", vanishing_stat)
    with pytest.raises(RunDataError, match="fields.parquet") as info:
        store._cached(path, runs_module._read_fields)
    assert isinstance(info.value.__cause__, FileNotFoundError)
