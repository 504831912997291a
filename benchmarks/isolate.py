"""Run one measured call in a fresh interpreter so memory figures do not leak between peers.

Python rarely returns freed memory to the OS, so measuring peer B in the same
process right after peer A would charge B with A's high-water mark. Each
measured call therefore runs in its own ``spawn`` process which samples its own
process tree (:class:`~benchmarks.memory.PeakRss`) around the call.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from benchmarks.memory import PeakRss, Stopwatch


@dataclass(frozen=True)
class Measured:
    """What one isolated call returned, how long it took and its peak RSS."""

    value: Any
    seconds: float
    peak_rss_bytes: int
    baseline_rss_bytes: int

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss_bytes / 2**20


def _measure(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Measured:
    with PeakRss() as peak, Stopwatch() as watch:
        value = fn(*args, **kwargs)
    return Measured(value, watch.seconds, peak.peak_bytes, peak.baseline_bytes)


def measure_in_subprocess(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Measured:
    """Call ``fn(*args, **kwargs)`` in a fresh spawned process; return value, wall time, peak RSS.

    ``fn`` must be a module-level function and its arguments and result picklable.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_measure, fn, args, kwargs).result()


def measure_here(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Measured:
    """The same measurement in the current process (for tests and tiny runs)."""
    return _measure(fn, args, kwargs)
