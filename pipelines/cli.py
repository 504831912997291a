"""``nongshu run``: the season pipeline from the command line, with a progress bar and a summary."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from nongshu.cli import get_settings
from pipelines.cluster import ClusterSpec, bound_gdal_cache
from pipelines.inputs import as_date
from pipelines.season import RunOptions, RunResult, run_season


def _size(n: int | None) -> str:
    if not n:
        return "n/a"
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def summary_table(result: RunResult) -> Table:
    """One screen: fields, alerts by level and hazard, model, outputs, time and memory."""
    table = Table(title=f"Nongshu run {result.run_id}", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("valid period", f"{result.valid_from} .. {result.valid_to}")
    table.add_row("fields processed", str(result.n_fields))
    table.add_row("alerts by level", ", ".join(f"{k} {v}" for k, v in result.alerts_by_level.items()))
    table.add_row("alerts by hazard",
                  ", ".join(f"{k} {v}" for k, v in sorted(result.alerts_by_hazard.items())) or "none")
    table.add_row("yield model", result.model_source)
    table.add_row("cluster", result.cluster)
    table.add_row("output", str(result.run_dir))
    table.add_row("files", ", ".join(p.name for p in result.outputs))
    table.add_row("wall time", f"{result.wall_time_s:.1f} s")
    peak = max(result.peak_memory.values(), default=None)
    table.add_row("peak worker memory", _size(peak))
    table.add_row("peak memory, client + workers", _size(result.client_peak_memory + sum(result.peak_memory.values())))
    for note in result.notes:
        table.add_row("note", note)
    return table


@click.command("run")
@click.option("--inputs", "inputs", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Region input directory (docs/DATA_LAYOUT.md).")
@click.option("--season", required=True, type=int, help="Season (harvest year) to analyse, e.g. 2025.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output root; the run goes to OUT/<run_id>.")
@click.option("--scheduler", default=None, help="Existing Dask scheduler, e.g. tcp://host:8786 "
              "(default: DASK_SCHEDULER_ADDRESS, else a local cluster).")
@click.option("--workers", type=int, default=None, help="Local cluster worker processes (NONGSHU_WORKERS).")
@click.option("--memory-limit", default=None, help="Memory limit per local worker, e.g. 4GiB.")
@click.option("--as-of", "as_of", default=None, help="Use only data up to this date (in-season run), e.g. 2025-07-15.")
@click.option("--model", "model_dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Yield model directory from `nongshu model train` (default: train on past seasons, cached).")
@click.pass_context
def run(ctx: click.Context, inputs: Path, season: int, out: Path, scheduler: str | None, workers: int | None,
        memory_limit: str | None, as_of: str | None, model_dir: Path | None) -> None:
    """Run the season pipeline: yield and risk rasters, field tables, alerts and a STAC catalog."""
    bound_gdal_cache()
    settings = get_settings(ctx)
    spec = ClusterSpec.from_settings(settings, scheduler=scheduler, workers=workers, memory_limit=memory_limit)
    options = RunOptions(inputs=inputs, season=season, out=out, as_of=as_of_date(as_of), model_dir=model_dir)
    console = Console(stderr=True)
    with Progress(TextColumn("[bold]{task.description:<14}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        result = run_season(options, spec, progress)
    Console().print(summary_table(result))


def as_of_date(value: str | None):
    """``--as-of`` as a date (clear error for anything else)."""
    return as_date(value, "--as-of")
