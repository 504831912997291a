"""Choose the Dask cluster a run executes on.

By default a :class:`distributed.LocalCluster` with worker *processes* is
started for the duration of the run (its dashboard on a free port, unused). With a scheduler address
(``--scheduler tcp://host:8786`` or ``DASK_SCHEDULER_ADDRESS``) the run goes
to an existing cluster instead and nothing is started or stopped locally.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

from distributed import Client, LocalCluster

from nongshu.settings import Settings, parse_size
from pipelines.errors import ClusterError

log = logging.getLogger(__name__)

#: seconds to wait for an existing scheduler before giving up.
CONNECT_TIMEOUT_S = 10
#: GDAL's raster block cache per process, MB. GDAL's default, 5 % of RAM (1.2 GB on 24 GiB), fills with
#: the blocks of a large region's many input files in every worker, and with the output blocks in the
#: client while COGs are written, so RSS grew with the region size; 256 MB holds ~500 uncompressed
#: 512 px uint16 blocks, more than a task re-reads.
GDAL_CACHE_MB = 256


def bound_gdal_cache() -> None:
    """Cap GDAL's block cache (``GDAL_CACHEMAX``, unless already set) for this process and the workers it starts.

    GDAL reads the setting when a process first uses its cache, so call this before any raster I/O; local
    cluster workers inherit it. Workers of an existing cluster need ``GDAL_CACHEMAX`` in their own environment.
    """
    os.environ.setdefault("GDAL_CACHEMAX", str(GDAL_CACHE_MB))


@dataclass(frozen=True)
class ClusterSpec:
    """How to obtain a cluster: an address, or the shape of a local one."""

    scheduler: str | None = None
    workers: int = 2
    threads_per_worker: int = 1
    memory_limit: str = "4GiB"

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        scheduler: str | None = None,
        workers: int | None = None,
        memory_limit: str | None = None,
    ) -> ClusterSpec:
        """Explicit options win over the settings (environment)."""
        memory = memory_limit or settings.memory_limit
        parse_size(memory, name="--memory-limit")
        if workers is not None and workers < 1:
            raise ClusterError("at least one worker is needed", field="--workers", expected=">= 1", got=workers)
        return cls(
            scheduler=scheduler or settings.scheduler_address,
            workers=workers or settings.workers,
            threads_per_worker=settings.threads_per_worker,
            memory_limit=memory,
        )

    @property
    def description(self) -> str:
        if self.scheduler:
            return f"existing scheduler {self.scheduler}"
        return (
            f"LocalCluster {self.workers} worker(s) x {self.threads_per_worker} thread(s), "
            f"{self.memory_limit} each"
        )


@contextlib.contextmanager
def dask_client(spec: ClusterSpec) -> Iterator[Client]:
    """A connected :class:`distributed.Client`; local clusters are closed on exit.

    Raises :class:`ClusterError` when the scheduler cannot be reached within
    :data:`CONNECT_TIMEOUT_S` seconds or the local cluster cannot start.
    """
    if spec.scheduler:
        try:
            client = Client(spec.scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError) as err:
            raise ClusterError(
                "cannot reach the Dask scheduler",
                source=spec.scheduler,
                expected=f"a running `dask scheduler` answering within {CONNECT_TIMEOUT_S} s",
            ) from err
        log.info("connected to %s", spec.scheduler)
        try:
            yield client
        finally:
            client.close()
        return

    try:
        cluster = LocalCluster(
            n_workers=spec.workers,
            threads_per_worker=spec.threads_per_worker,
            memory_limit=spec.memory_limit,
            processes=True,
            dashboard_address=":0",  # None still binds the default 8787, which clashes between runs
            host="127.0.0.1",
            # failures reach the run as exceptions (task errors, KilledWorker) and end in one `error:` line;
            # distributed's own log records (e.g. a worker's heartbeat racing the scheduler's shutdown after a
            # failed run) would only add tracebacks to it
            silence_logs=logging.CRITICAL,
        )
    except (OSError, TimeoutError, ValueError, RuntimeError) as err:
        raise ClusterError(f"cannot start a local Dask cluster: {err}", source="LocalCluster") from err
    try:
        client = Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def _own_peak_rss() -> int:
    """Peak resident memory (bytes) of the calling process (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def client_peak_memory() -> int:
    """Peak resident memory (bytes) of this (client) process; it hosts the scheduler of a local cluster too."""
    return _own_peak_rss()


def worker_peak_memory(client: Client) -> dict[str, int]:
    """Peak resident memory (bytes) seen so far on each worker, by worker address.

    ``ru_maxrss`` of each worker process: its high-water mark since it started
    (kilobytes on Linux, bytes on macOS).
    """

    try:
        return {str(k): int(v) for k, v in client.run(_own_peak_rss).items()}
    except (OSError, TimeoutError) as err:  # the figure is informative, never fatal
        log.warning("could not read worker memory: %s", err)
        return {}
