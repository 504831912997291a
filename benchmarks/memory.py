"""Peak resident memory of a whole process tree, sampled by a background thread.

``ru_maxrss`` only sees one process (and its *waited-for* children), so a Dask
cluster or a gunicorn master with its workers would be under-counted. The
sampler sums the RSS of a process and all its descendants every ``interval``
seconds and keeps the maximum.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from types import TracebackType

import psutil


def tree_rss(pid: int) -> int:
    """Current RSS in bytes of process ``pid`` plus all its descendants (0 if gone)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue  # a child exited between listing and sampling
    return total


class PeakRss:
    """Context manager sampling the peak RSS (bytes) of one or several process trees (summed).

    >>> with PeakRss() as peak:  # doctest: +SKIP
    ...     work()
    >>> peak.peak_bytes  # doctest: +SKIP
    """

    def __init__(self, pid: int | Sequence[int] | None = None, interval: float = 0.05) -> None:
        if pid is None:
            self.pids: tuple[int, ...] = (os.getpid(),)
        elif isinstance(pid, int):
            self.pids = (pid,)
        else:
            self.pids = tuple(pid)
        self.interval = interval
        self.peak_bytes = 0
        self.baseline_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self.baseline_bytes = self._sample()
        self.peak_bytes = self.baseline_bytes
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._sample())

    def _sample(self) -> int:
        return sum(tree_rss(pid) for pid in self.pids)

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / 2**20


class Stopwatch:
    """Wall-clock seconds of a ``with`` block (``time.perf_counter``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start
