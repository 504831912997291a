"""What a benchmark function receives: its scale, a scratch directory and progress bars."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rich.progress import Progress, TaskID

T = TypeVar("T")

#: ``tiny`` is the smoke run of the test suite, ``quick`` is ``make bench-quick``, ``full`` is ``make bench``.
SCALES = ("tiny", "quick", "full")


class BenchmarkSkipped(Exception):
    """A benchmark (or all of it that matters) cannot run here; the reason goes in the results."""


@dataclass
class BenchContext:
    """Per-benchmark run context."""

    scale: str
    work_dir: Path
    progress: Progress | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {self.scale!r}")
        self.work_dir.mkdir(parents=True, exist_ok=True)

    def pick(self, *, tiny: T, quick: T, full: T) -> T:
        """The value for the current scale."""
        return {"tiny": tiny, "quick": quick, "full": full}[self.scale]

    def subdir(self, name: str) -> Path:
        path = self.work_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @contextmanager
    def step(self, description: str, total: float | None = None) -> Iterator[_Step]:
        """A progress bar line for one step; advance it with ``step.advance(n)``."""
        if self.progress is None:
            yield _Step(None, None)
            return
        task = self.progress.add_task(description, total=total)
        try:
            yield _Step(self.progress, task)
        finally:
            self.progress.update(
                task, completed=total if total is not None else 1, total=total or 1
            )
            self.progress.stop_task(task)

    def track(self, items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        """Iterate with a progress bar."""
        if total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]
        with self.step(description, total) as step:
            for item in items:
                yield item
                step.advance()


@dataclass
class _Step:
    progress: Progress | None
    task: TaskID | None

    def advance(self, amount: float = 1) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task, amount)

    def update(self, **fields: Any) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, **fields)
