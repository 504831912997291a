"""``python -m benchmarks``: listing, argument errors, report regeneration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from benchmarks.__main__ import main
from benchmarks.results import SCHEMA_VERSION, BenchResult, write_json
from benchmarks.runner import SUITE, Suite

REPO = Path(__file__).resolve().parents[2]


def test_list_names_every_benchmark() -> None:
    out = CliRunner().invoke(main, ["list"])
    assert out.exit_code == 0
    for name in ("zonal", "pipeline", "tiles", "trace", "api"):
        assert name in out.output


def test_run_needs_a_choice_and_known_names(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["run", "--results", str(tmp_path)])
    assert out.exit_code == 2 and "--all or --only" in out.output
    out = runner.invoke(main, ["run", "--only", "nope", "--results", str(tmp_path)])
    assert out.exit_code == 2 and "unknown benchmark 'nope'" in out.output
    out = runner.invoke(main, ["run", "--all", "--only", "zonal", "--results", str(tmp_path)])
    assert out.exit_code == 2


def test_report_regenerates_from_results(tmp_path: Path) -> None:
    doc = {
        "schema": SCHEMA_VERSION,
        "name": "zonal",
        "title": "Zonal",
        "status": "ok",
        "scale": "quick",
        "command": "python -m benchmarks run --only zonal --quick",
        "machine": {},
        **BenchResult().to_dict(),
    }
    write_json(tmp_path / "zonal.json", doc)
    out = CliRunner().invoke(
        main, ["report", "--results", str(tmp_path), "--out", str(tmp_path / "R.md")]
    )
    assert out.exit_code == 0, out.output
    assert "(`zonal`)" in (tmp_path / "R.md").read_text()
    (tmp_path / "bad.json").write_text("{")
    out = CliRunner().invoke(
        main, ["report", "--results", str(tmp_path), "--out", str(tmp_path / "R.md")]
    )
    assert out.exit_code == 1 and "bad.json" in out.output


def test_module_entry_point_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks", "list"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and "zonal" in out.stdout


def test_suite_refuses_duplicates() -> None:
    suite = Suite()
    suite.register("a", "A", "x:y")
    try:
        suite.register("a", "again", "x:z")
    except ValueError as err:
        assert "already registered" in str(err)
    else:
        raise AssertionError("duplicate accepted")
    assert SUITE.names()[0] == "zonal"
