"""Run benchmarks by name, record each as ``results/<name>.json`` and regenerate RESULTS.md."""

from __future__ import annotations

import importlib
import shlex
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from benchmarks import PACKAGE_DIR
from benchmarks.context import BenchContext, BenchmarkSkipped
from benchmarks.machine import describe_machine
from benchmarks.memory import PeakRss, Stopwatch
from benchmarks.results import SCHEMA_VERSION, BenchResult, write_json


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark: its name, title and ``module:function`` (imported when run)."""

    name: str
    title: str
    target: str

    def load(self) -> Callable[[BenchContext], BenchResult]:
        module_name, attr = self.target.split(":")
        fn = getattr(importlib.import_module(module_name), attr)
        if not callable(fn):
            raise TypeError(f"{self.target} is not callable")
        return fn


class Suite:
    """An ordered registry of benchmarks that refuses duplicate names."""

    def __init__(self) -> None:
        self._items: dict[str, Benchmark] = {}

    def register(self, name: str, title: str, target: str) -> Benchmark:
        if name in self._items:
            raise ValueError(
                f"benchmark {name!r} is already registered ({self._items[name].target})"
            )
        bench = Benchmark(name, title, target)
        self._items[name] = bench
        return bench

    def names(self) -> list[str]:
        return list(self._items)

    def get(self, name: str) -> Benchmark:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self._items)
            raise KeyError(f"unknown benchmark {name!r}; known: {known}") from None

    def __iter__(self) -> Iterator[Benchmark]:
        return iter(self._items.values())


SUITE = Suite()
SUITE.register("zonal", "Zonal statistics: accuracy and speed", "benchmarks.zonal:benchmark")
SUITE.register(
    "pipeline",
    "Season pipeline vs the I/O floor and a rioxarray-defaults script",
    "benchmarks.pipeline:benchmark",
)
SUITE.register(
    "tiles", "Map tiles: Nongshu (gunicorn) vs TiTiler (uvicorn)", "benchmarks.tiles:benchmark"
)
SUITE.register("trace", "QR trace lookups vs a bare Flask endpoint", "benchmarks.trace:benchmark")
SUITE.register("api", "API reads: fields GeoJSON and alerts", "benchmarks.api:benchmark")


def make_progress(console: Console | None = None) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def run_benchmark(
    bench: Benchmark,
    *,
    scale: str,
    work_dir: Path,
    results_dir: Path,
    command: str,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run one benchmark and write its results file; failures are recorded, not raised."""
    ctx = BenchContext(scale=scale, work_dir=work_dir / bench.name, progress=progress)
    started = datetime.now(UTC)
    doc: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "name": bench.name,
        "title": bench.title,
        "scale": scale,
        "command": command,
        "started_utc": started.isoformat(timespec="seconds"),
        "machine": describe_machine(PACKAGE_DIR.parent),
    }
    with PeakRss() as peak, Stopwatch() as watch:
        try:
            result = bench.load()(ctx)
            doc["status"] = "ok"
            doc.update(result.to_dict())
            doc["notes"] = ctx.notes + doc["notes"]
        except BenchmarkSkipped as err:
            doc["status"] = "skipped"
            doc["reason"] = str(err)
            doc["notes"] = ctx.notes
        except (
            Exception
        ) as err:  # a benchmark failing must not stop the others; the cause is recorded
            doc["status"] = "failed"
            doc["reason"] = f"{type(err).__name__}: {err}"
            doc["traceback"] = traceback.format_exc()
            doc["notes"] = ctx.notes
    doc["wall_seconds"] = round(watch.seconds, 2)
    doc["harness_peak_rss_mib"] = round(peak.peak_mib, 1)
    write_json(results_dir / f"{bench.name}.json", doc)
    return doc


def run_many(
    names: Sequence[str],
    *,
    scale: str,
    work_dir: Path,
    results_dir: Path,
    results_md: Path | None,
    console: Console | None = None,
    argv: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Run ``names`` in suite order with a progress display; regenerate RESULTS.md at the end."""
    from benchmarks.report import short_reason, write_results_md

    console = console or Console(stderr=True)
    command = "python -m benchmarks " + shlex.join(list(argv if argv is not None else sys.argv[1:]))
    docs = []
    t0 = time.perf_counter()
    with make_progress(console) as progress:
        overall = progress.add_task("benchmarks", total=len(names))
        for name in names:
            bench = SUITE.get(name)
            progress.update(overall, description=f"benchmark [bold]{name}[/]")
            doc = run_benchmark(
                bench,
                scale=scale,
                work_dir=work_dir,
                results_dir=results_dir,
                command=command,
                progress=progress,
            )
            docs.append(doc)
            style = {"ok": "green", "skipped": "yellow"}.get(doc["status"], "red")
            progress.console.print(
                f"[{style}]{name}: {doc['status']}[/] in {doc['wall_seconds']:.1f} s"
                + (f" — {short_reason(doc['reason'])}" if doc.get("reason") else "")
            )
            progress.advance(overall)
    if results_md is not None:
        write_results_md(results_dir, results_md)
        console.print(f"wrote {results_md} ({time.perf_counter() - t0:.0f} s in all)")
    return docs
