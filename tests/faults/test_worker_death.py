"""SIGKILL one of two `dask worker` processes while `nongshu run --scheduler` writes its rasters: the run
completes (Dask reschedules the lost tasks) or fails with a one-line error; either way no partial output
is visible, and a (re-)run gives the same outputs as an undisturbed run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio

from .conftest import REPO, SEASON, child_env, free_port, nongshu_run

pytestmark = pytest.mark.slow

#: transitions the scheduler must have made before the kill: the run is well under way, not starting.
MIN_TRANSITIONS = 40


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[dict]:
    """`dask scheduler` + two `dask worker` processes (each in its own process group: nanny and worker)."""
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask_cli = str(Path(sys.executable).with_name("dask"))
    env = child_env()
    log = (tmp_path / "dask.log").open("wb")
    procs = {"scheduler": subprocess.Popen(
        [dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)}
    try:
        for i in range(2):
            procs[f"worker{i}"] = subprocess.Popen(
                [dask_cli, "worker", address, "--nthreads", "1", "--memory-limit", "2GiB", "--no-dashboard",
                 "--host", "127.0.0.1", "--name", f"worker{i}"],
                env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            try:
                client = Client(address, timeout=5, set_as_default=False)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        try:
            client.wait_for_workers(2, timeout=120)
            yield {"address": address, "client": client, "procs": procs}
        finally:
            client.close()
    finally:
        for proc in procs.values():
            _stop(proc)
        log.close()


def _busy_workers(dask_scheduler, min_transitions: int) -> list[str]:  # runs on the scheduler
    """Names of the workers computing a task, once the scheduler has done ``min_transitions`` transitions."""
    if dask_scheduler.transition_counter < min_transitions:
        return []
    return sorted(ws.name for ws in dask_scheduler.workers.values() if ws.processing)


def kill_a_busy_worker(cluster: dict, run: subprocess.Popen, timeout: float = 400) -> str:
    """Wait until the run is under way, then SIGKILL a worker in the middle of a task (nanny included)."""
    client = cluster["client"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and run.poll() is None:
        busy = client.run_on_scheduler(_busy_workers, min_transitions=MIN_TRANSITIONS)
        if busy:
            victim = busy[0]
            os.killpg(cluster["procs"][victim].pid, signal.SIGKILL)
            cluster["procs"][victim].wait(timeout=30)
            return victim
        time.sleep(0.05)
    pytest.fail("the run never had a task running on a worker while we watched")


def same_outputs(a: Path, b: Path) -> None:
    rasters = sorted(p.name for p in a.glob("*.tif"))
    assert rasters and rasters == sorted(p.name for p in b.glob("*.tif"))
    for name in rasters:
        with rasterio.open(a / name) as x, rasterio.open(b / name) as y:
            np.testing.assert_allclose(x.read(), y.read(), rtol=1e-6, equal_nan=True, err_msg=name)
            px, py = dict(x.profile), dict(y.profile)
            nx, ny = px.pop("nodata"), py.pop("nodata")
            assert px == py, name
            assert nx == ny or (np.isnan(nx) and np.isnan(ny)), name
    pd.testing.assert_frame_equal(pd.read_csv(a / "fields.csv"), pd.read_csv(b / "fields.csv"))
    assert json.loads((a / "alerts.json").read_text()) == json.loads((b / "alerts.json").read_text())


def test_worker_killed_mid_run(small_region: Path, reference_run: Path, cluster: dict, tmp_path: Path):
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "nongshu", "run", "--inputs", str(small_region), "--season", str(SEASON),
            "--out", str(out), "--scheduler", cluster["address"]]
    err_path = tmp_path / "run.stderr"
    with err_path.open("w") as err:
        run = subprocess.Popen(argv, env=child_env(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)
        try:
            kill_a_busy_worker(cluster, run)
            code = run.wait(timeout=600)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
    stderr = err_path.read_text()
    assert len(cluster["client"].scheduler_info()["workers"]) == 1  # the killed worker stayed dead
    assert "Traceback" not in stderr, stderr[-3000:]
    assert code in (0, 2), stderr[-3000:]
    hidden = [p.name for p in out.iterdir() if p.name.startswith(".")] if out.exists() else []
    assert not hidden, f"staging left behind: {hidden}"
    if code == 2:
        assert [line for line in stderr.splitlines() if line.startswith("error: ")], stderr[-3000:]
        assert not (out / str(SEASON)).exists()  # nothing half-written is visible
        again = nongshu_run(small_region, out, "--scheduler", cluster["address"])  # one worker left
        assert again.returncode == 0, again.stderr[-3000:]
    same_outputs(out / str(SEASON), reference_run)
    assert sorted(p.name for p in out.iterdir()) == [str(SEASON)]
