"""Side-by-side benchmarks of Nongshu against its peers and the I/O floor.

Run them with ``python -m benchmarks run --all [--quick] [--only NAME]``.
Each benchmark writes ``benchmarks/results/<name>.json`` (raw numbers, machine,
settings, command) and ``benchmarks/RESULTS.md`` is regenerated from all of
them. Benchmarks are not tests: nothing here asserts a timing.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
RESULTS_DIR = PACKAGE_DIR / "results"
RESULTS_MD = PACKAGE_DIR / "RESULTS.md"
WORK_DIR = PACKAGE_DIR / "work"
