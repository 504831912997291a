"""``nongshu validate DIR``: run every reader over an input directory and list the problems.

:func:`validate_inputs` is the pure-Python entry point (returns a
:class:`ValidationReport`); :func:`validate_command` is the click command
(exit 0 when there is no error, 2 with a readable list otherwise, ``--json``
for machines). Validation is as cheap as the readers make it: rasters get the
header/block-table/overview checks of
:func:`geodata.readers.raster.check_raster`, imagery and weather are opened
lazily (no full read), vectors and tables are read completely (they are small).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import click
from rich.console import Console
from rich.progress import Progress

from geodata.readers.common import InputWarning
from geodata.readers.imagery import read_sentinel2
from geodata.readers.raster import check_raster
from geodata.readers.tables import read_operations, read_yield_history
from geodata.readers.terrain import SOIL_PROPERTIES
from geodata.readers.vector import read_fields, read_pests, read_townships
from geodata.readers.weather import read_weather
from nongshu.errors import NongshuError

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One finding: the file (relative to the input directory), its level and message."""

    source: str
    level: Level
    message: str
    field: str | None = None


@dataclass
class ValidationReport:
    """Everything :func:`validate_inputs` found; ``ok`` when there is no error."""

    directory: str
    checked: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "ok": self.ok,
            "checked": self.checked,
            "problems": [asdict(p) for p in self.problems],
        }


@dataclass(frozen=True)
class Check:
    """One input of the layout: its path pattern, whether it is required, how to read it."""

    pattern: str
    required: bool
    read: Callable[[Path], object]


#: The inputs of docs/DATA_LAYOUT.md, in reading order.
CHECKS: tuple[Check, ...] = (
    Check("fields/fields.gpkg", True, lambda p: read_fields(p)),
    Check("fields/townships.gpkg", False, lambda p: read_townships(p)),
    Check("sentinel2/items.json", True, lambda p: read_sentinel2(p)),
    Check("weather", True, lambda p: read_weather(p)),
    *(Check(f"soil/{name}.tif", False, lambda p: check_raster(p)) for name in SOIL_PROPERTIES),
    Check("dem/dem.tif", False, lambda p: check_raster(p)),
    Check("pests", False, lambda p: read_pests(p)),
    Check("yield/yield_history.csv", False, lambda p: read_yield_history(p)),
    Check("operations/operations.csv", False, lambda p: read_operations(p)),
)


def validate_inputs(directory: str | Path, *, progress: Progress | None = None) -> ValidationReport:
    """Run every reader of :data:`CHECKS` over ``directory`` and collect the problems.

    A missing required input is an error, a missing optional one a warning; a
    reader's :class:`InputError` is an error, its :class:`InputWarning` a warning.
    """
    directory = Path(directory)
    report = ValidationReport(directory=str(directory))
    if not directory.is_dir():
        report.problems.append(Problem(str(directory), "error", "input directory not found"))
        return report
    task = progress.add_task("validating inputs", total=len(CHECKS)) if progress is not None else None
    for check in CHECKS:
        path = directory / check.pattern
        if progress is not None and task is not None:
            progress.update(task, description=f"validating {check.pattern}")
        if not path.exists():
            level: Level = "error" if check.required else "warning"
            report.problems.append(Problem(check.pattern, level, "missing"))
        else:
            report.checked.append(check.pattern)
            _run(check, path, directory, report)
        if progress is not None and task is not None:
            progress.advance(task)
    return report


def _run(check: Check, path: Path, directory: Path, report: ValidationReport) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InputWarning)
        try:
            check.read(path)
        except NongshuError as err:
            report.problems.append(
                Problem(_relative(err.source, directory) or check.pattern, "error", _message(err), err.field)
            )
        except Exception as err:  # noqa: BLE001 - a reader bug must not hide other inputs' problems
            report.problems.append(
                Problem(check.pattern, "error", f"unexpected {type(err).__name__}: {err}")
            )
    for warning in caught:
        if issubclass(warning.category, InputWarning):
            report.problems.append(Problem(check.pattern, "warning", str(warning.message)))


def _relative(source: str | None, directory: Path) -> str | None:
    if source is None:
        return None
    try:
        return str(Path(source).relative_to(directory))
    except ValueError:
        return source


def _message(err: NongshuError) -> str:
    """The error text without the leading ``source: field:`` (shown in their own columns)."""
    text = str(err)
    prefix = ": ".join(p for p in (err.source, err.field) if p)
    return text[len(prefix) + 2 :] if prefix and text.startswith(prefix + ": ") else text


@click.command("validate")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def validate_command(directory: Path, as_json: bool) -> None:
    """Check an input directory (docs/DATA_LAYOUT.md) and list its problems.

    Exit code 0 when no error was found (warnings allowed), 2 otherwise.
    """
    if as_json:
        report = validate_inputs(directory)
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        console = Console(stderr=True)
        with Progress(console=console, transient=True) as progress:
            report = validate_inputs(directory, progress=progress)
        _print(report)
    if not report.ok:
        raise click.exceptions.Exit(2)


def _print(report: ValidationReport) -> None:
    for problem in report.problems:
        where = f"{problem.source}: {problem.field}" if problem.field else problem.source
        colour = "red" if problem.level == "error" else "yellow"
        click.secho(f"{problem.level}: {where}: {problem.message}", fg=colour)
    summary = f"{len(report.checked)} inputs checked, {len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    click.secho(summary, fg="green" if report.ok else "red", bold=True)


__all__ = ["CHECKS", "Problem", "ValidationReport", "validate_command", "validate_inputs"]
