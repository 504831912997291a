"""The shape of one benchmark's result: tables side by side, ratios, targets.

A benchmark function returns a :class:`BenchResult`; the runner adds the
machine, the command, wall time and status and writes it as JSON. Keys of
table rows are plain column names; units live in the column name
(``"tiles_per_s"``, ``"p99_ms"``) so the JSON reads on its own.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


@dataclass
class Table:
    """One table of the report: a row per system or per case, peers side by side."""

    title: str
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, **row: Any) -> dict[str, Any]:
        self.rows.append(row)
        return row


@dataclass
class Target:
    """A target of the issue (e.g. ``tiles/s vs TiTiler >= 1.0``) and whether it holds."""

    name: str
    value: float | None
    op: str
    threshold: float
    unit: str = "x"
    note: str = ""

    def __post_init__(self) -> None:
        if self.op not in (">=", "<="):
            raise ValueError(f"target {self.name!r}: op must be '>=' or '<=', got {self.op!r}")
        if self.value is not None and not math.isfinite(self.value):
            self.value = None

    @property
    def holds(self) -> bool | None:
        """True/False, or None when the value could not be measured."""
        if self.value is None:
            return None
        return self.value >= self.threshold if self.op == ">=" else self.value <= self.threshold

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["holds"] = self.holds
        return out


@dataclass
class BenchResult:
    """What a benchmark function returns."""

    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def table(self, title: str, columns: list[str]) -> Table:
        table = Table(title, columns)
        self.tables.append(table)
        return table

    def target(
        self,
        name: str,
        value: float | None,
        op: str,
        threshold: float,
        unit: str = "x",
        note: str = "",
    ) -> Target:
        target = Target(name, value, op, threshold, unit, note)
        self.targets.append(target)
        return target

    def to_dict(self) -> dict[str, Any]:
        return {
            "tables": [asdict(t) for t in self.tables],
            "targets": [t.to_dict() for t in self.targets],
            "settings": self.settings,
            "notes": self.notes,
            "raw": self.raw,
        }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    if not (math.isfinite(numerator) and math.isfinite(denominator)):
        return None
    return numerator / denominator


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a results file")


def _clean(value: Any) -> Any:
    """Replace NaN/inf (not JSON) by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return _clean(value.item())
    return value


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` to ``path`` atomically (temp file in the same directory, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_clean(document), indent=2, ensure_ascii=False, default=_json_default)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_results(results_dir: Path) -> list[dict[str, Any]]:
    """Every ``<name>.json`` in ``results_dir`` written by the runner, sorted by suite order."""
    docs = []
    for path in sorted(results_dir.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not a readable results file ({err})") from err
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_VERSION or "name" not in doc:
            raise ValueError(
                f"{path}: not a benchmarks results file (expected schema {SCHEMA_VERSION})"
            )
        docs.append(doc)
    return docs
