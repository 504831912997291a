"""``nongshu model train|evaluate``: build the per-field training table of a region and fit/evaluate the yield model.

Glue only: the table comes from :mod:`pipelines.training` (features per lead
time, data up to each cut-off) and the model from :mod:`models.yield_model`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from nongshu.cli import get_settings


def _field_data(ctx: click.Context, inputs: Path, scheduler: str | None, workers: int | None) -> tuple[Any, Any]:
    """Per-field data of every season with imagery (on a Dask cluster) and the training tables."""
    from pipelines import fielddata, training
    from pipelines.cluster import ClusterSpec, dask_client
    from pipelines.inputs import open_region

    settings = get_settings(ctx)
    spec = ClusterSpec.from_settings(settings, scheduler=scheduler, workers=workers)
    region = open_region(inputs)
    years = fielddata.imagery_years(region)
    console = Console(stderr=True)
    with dask_client(spec) as client, console.status("reading the seasons' imagery per field ...") as status:
        grid = fielddata.region_grid(region)

        def progress(stage: str, done: int, total: int) -> None:
            status.update(f"{stage}: season {done} of {total}")

        fd = fielddata.collect(client, region, grid, years, progress=progress)
    seasons = training.training_seasons(fd)
    return fd, training.training_tables(fd, seasons)


def cv_table(card: dict[str, Any]) -> Table:
    """The cross-validation table of a model card: per scheme, crop and lead, model vs both baselines."""
    table = Table(title="Yield model cross-validation (MAPE %, RMSE t/ha, R², anomaly R², 80 % interval coverage)")
    for column in ("scheme", "crop", "lead", "n", "MAPE", "MAPE field mean", "MAPE NDVI linear", "RMSE", "R²",
                   "anomaly R²", "coverage"):
        table.add_column(column, justify="right" if column not in ("scheme", "crop", "lead") else "left")

    def fmt(value: Any, digits: int = 2) -> str:
        return "–" if value is None else f"{value:.{digits}f}"

    for scheme, crops in card.get("evaluation", {}).items():
        for crop, leads in crops.items():
            for lead, e in leads.items():
                table.add_row(scheme, crop, lead, str(e["n"]), fmt(e["model"]["mape"], 1),
                              fmt(e["baseline_field_mean"]["mape"], 1), fmt(e["baseline_ndvi_linear"]["mape"], 1),
                              fmt(e["model"]["rmse"]), fmt(e["model"]["r2"]), fmt(e["model"]["anomaly_r2"]),
                              fmt(e["coverage"]))
    return table


@click.group("model")
def model() -> None:
    """Train and evaluate the in-season yield model of a region."""


_inputs = click.option("--inputs", "inputs", required=True, type=click.Path(file_okay=False, path_type=Path),
                       help="Region input directory (docs/DATA_LAYOUT.md).")
_out = click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
                    help="Model directory to write.")
_scheduler = click.option("--scheduler", default=None, help="Existing Dask scheduler (default: a local cluster).")
_workers = click.option("--workers", type=int, default=None, help="Local cluster worker processes.")


@model.command("train")
@_inputs
@_out
@_scheduler
@_workers
@click.pass_context
def train(ctx: click.Context, inputs: Path, out: Path, scheduler: str | None, workers: int | None) -> None:
    """Fit one model per lead time on every season with yield records; write model, card and PNG."""
    from pipelines import training

    _, tables = _field_data(ctx, inputs, scheduler, workers)
    model_, card, predictions = training.fit(tables)
    files = training.save(out, model_, card, predictions)
    console = Console()
    if card.get("evaluation"):
        console.print(cv_table(card))
    console.print(f"model written to {out}: {', '.join(p.name for p in files)}")


@model.command("evaluate")
@_inputs
@_out
@_scheduler
@_workers
@click.pass_context
def evaluate(ctx: click.Context, inputs: Path, out: Path, scheduler: str | None, workers: int | None) -> None:
    """Cross-validate (leave one season / cooperative out) and print the table; write the card and PNG."""
    from pipelines import outputs, training

    _, tables = _field_data(ctx, inputs, scheduler, workers)
    _, card, predictions = training.fit(tables)
    out.mkdir(parents=True, exist_ok=True)
    outputs.write_json(out / training.CARD_FILE, card)
    if predictions is not None and not predictions.empty:
        scheme = ("leave_one_season_out" if (predictions["scheme"] == "leave_one_season_out").any()
                  else str(predictions["scheme"].iloc[0]))
        from models.yield_model import plot_predicted_vs_observed

        plot_predicted_vs_observed(predictions, lead="end", scheme=scheme).savefig(out / training.PLOT_FILE, dpi=100)
    Console().print(cv_table(card))
    if not card.get("evaluation"):
        Console(stderr=True).print("not enough seasons or cooperatives to cross-validate (need >= 3)")
