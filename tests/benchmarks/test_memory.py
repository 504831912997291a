"""Peak RSS of a process tree, including children."""

from __future__ import annotations

import subprocess
import sys
import time

from benchmarks.isolate import measure_here, measure_in_subprocess
from benchmarks.memory import PeakRss, tree_rss

MIB = 2**20


def allocate(mib: int) -> int:
    block = bytearray(mib * MIB)  # bytearray zero-fills: pages are touched
    time.sleep(0.3)
    return len(block)


def test_peak_sees_a_child_process() -> None:
    code = f"b = bytearray({150 * MIB}); import time; time.sleep(0.6)"
    with PeakRss(interval=0.02) as peak:
        subprocess.run([sys.executable, "-c", code], check=True)
    assert peak.peak_bytes - peak.baseline_bytes >= 140 * MIB


def test_measure_in_subprocess_reports_value_time_and_peak() -> None:
    measured = measure_in_subprocess(allocate, 120)
    assert measured.value == 120 * MIB
    assert measured.seconds >= 0.3
    assert measured.peak_rss_bytes - measured.baseline_rss_bytes >= 110 * MIB


def test_measure_here_and_tree_rss() -> None:
    assert measure_here(len, "abc").value == 3
    assert tree_rss(10**8) == 0  # no such process
