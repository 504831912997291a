"""A Dask scheduler and workers started as child processes, counting the tasks they run.

The pipeline benchmark points ``nongshu run --scheduler`` at this cluster (the
same shape as Nongshu's default LocalCluster: 2 worker processes x 1 thread)
so the harness can count every task the run computed with a scheduler plugin,
without touching the pipeline, and sample the RSS of the workers directly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from distributed import Client
from distributed.diagnostics.plugin import SchedulerPlugin

from benchmarks import PACKAGE_DIR
from benchmarks.servers import HOST, free_port


class TaskCounter(SchedulerPlugin):
    """Counts tasks that finished computing (``processing -> memory`` or ``-> erred``)."""

    name = "nongshu-benchmark-task-counter"

    def __init__(self) -> None:
        self.finished = 0
        self.erred = 0

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if start == "processing" and finish == "memory":
            self.finished += 1
        elif finish == "erred":
            self.erred += 1


def _read_counter(dask_scheduler: Any) -> dict[str, int]:
    plugin = dask_scheduler.plugins[TaskCounter.name]
    return {"finished": plugin.finished, "erred": plugin.erred}


class DaskCluster:
    """``with DaskCluster(logs) as cluster:`` — ``cluster.address``, ``cluster.pids``, ``cluster.tasks()``."""

    def __init__(
        self, logs: Path, workers: int = 2, threads: int = 1, memory_limit: str = "4GiB"
    ) -> None:
        self.logs = logs
        self.workers = workers
        self.threads = threads
        self.memory_limit = memory_limit
        self.port = free_port()
        self.address = f"tcp://{HOST}:{self.port}"
        self._procs: list[subprocess.Popen[bytes]] = []
        self._client: Client | None = None

    def _spawn(self, name: str, args: list[str]) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - owned by the child
        from pipelines.cluster import GDAL_CACHE_MB

        # the workers of `nongshu run`'s own LocalCluster cap GDAL's cache (pipelines.cluster.bound_gdal_cache)
        env = {"GDAL_CACHEMAX": str(GDAL_CACHE_MB), **os.environ, "PYTHONPATH": str(PACKAGE_DIR.parent)}
        self._procs.append(
            subprocess.Popen(
                [sys.executable, "-m", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        )
        log.close()

    def __enter__(self) -> DaskCluster:
        try:
            self._spawn(
                "scheduler",
                [
                    "distributed.cli.dask_scheduler",
                    "--host",
                    HOST,
                    "--port",
                    str(self.port),
                    "--dashboard-address",
                    f"{HOST}:0",
                ],
            )
            self._spawn(
                "workers",
                [
                    "distributed.cli.dask_worker",
                    self.address,
                    "--nworkers",
                    str(self.workers),
                    "--nthreads",
                    str(self.threads),
                    "--memory-limit",
                    self.memory_limit,
                    "--host",
                    HOST,
                    "--no-dashboard",
                ],
            )
            self._client = Client(self.address, timeout=60)
            self._client.wait_for_workers(self.workers, timeout=120)
            self._client.register_plugin(TaskCounter())
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def tasks(self) -> dict[str, int]:
        """Tasks finished (and erred) on the scheduler since the cluster started."""
        assert self._client is not None
        counts: dict[str, int] = self._client.run_on_scheduler(_read_counter)
        return counts

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        for proc in reversed(self._procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self._procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._procs = []
