"""``python -m benchmarks run --all [--quick] [--only NAME]``, ``python -m benchmarks report``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from benchmarks import RESULTS_DIR, RESULTS_MD, WORK_DIR


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Nongshu benchmarks, side by side with their peers (see benchmarks/RESULTS.md)."""


@main.command("run")
@click.option("--all", "run_all", is_flag=True, help="Run every benchmark in the suite.")
@click.option(
    "--only", "only", multiple=True, metavar="NAME", help="Run this benchmark (repeatable)."
)
@click.option("--quick", is_flag=True, help="Small sizes: the whole suite in a few minutes.")
@click.option(
    "--results",
    "results_dir",
    type=click.Path(path_type=Path),
    default=RESULTS_DIR,
    show_default=True,
)
@click.option(
    "--work",
    "work_dir",
    type=click.Path(path_type=Path),
    default=WORK_DIR,
    show_default=True,
    help="Scratch directory for generated data (reused between runs when inputs match).",
)
@click.option("--no-report", is_flag=True, help="Do not regenerate RESULTS.md.")
def run(
    run_all: bool,
    only: tuple[str, ...],
    quick: bool,
    results_dir: Path,
    work_dir: Path,
    no_report: bool,
) -> None:
    """Run benchmarks and regenerate RESULTS.md."""
    from benchmarks.runner import SUITE, run_many

    if run_all and only:
        raise click.UsageError("give either --all or --only NAME, not both")
    if not run_all and not only:
        raise click.UsageError(
            "nothing to run: give --all or --only NAME (see `python -m benchmarks list`)"
        )
    names = SUITE.names() if run_all else list(dict.fromkeys(only))
    for name in names:
        if name not in SUITE.names():
            raise click.BadParameter(
                f"unknown benchmark {name!r}; known: {', '.join(SUITE.names())}",
                param_hint="--only",
            )
    docs = run_many(
        names,
        scale="quick" if quick else "full",
        work_dir=work_dir,
        results_dir=results_dir,
        results_md=None
        if no_report
        else (RESULTS_MD if results_dir == RESULTS_DIR else results_dir / "RESULTS.md"),
    )
    failed = [d["name"] for d in docs if d["status"] == "failed"]
    if failed:
        click.secho(f"failed: {', '.join(failed)} (see the results files)", fg="red", err=True)
        sys.exit(1)


@main.command("report")
@click.option(
    "--results",
    "results_dir",
    type=click.Path(path_type=Path),
    default=RESULTS_DIR,
    show_default=True,
)
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS_MD, show_default=True)
def report(results_dir: Path, out: Path) -> None:
    """Regenerate RESULTS.md from the results files."""
    from benchmarks.report import write_results_md

    try:
        write_results_md(results_dir, out)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"wrote {out}")


@main.command("list")
def list_benchmarks() -> None:
    """List the benchmarks of the suite."""
    from benchmarks.runner import SUITE

    for bench in SUITE:
        click.echo(f"{bench.name:10s} {bench.title}")


if __name__ == "__main__":
    main()
