"""Results files and the generated RESULTS.md."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks.report import fmt, render, write_results_md
from benchmarks.results import SCHEMA_VERSION, BenchResult, Target, ratio, read_results, write_json


def test_targets_hold_or_not() -> None:
    assert Target("a", 1.2, ">=", 1.0).holds is True
    assert Target("b", 0.9, ">=", 1.0).holds is False
    assert Target("c", 300.0, "<=", 250.0).holds is False
    assert Target("d", None, "<=", 1.0).holds is None
    assert Target("e", math.nan, "<=", 1.0).holds is None
    with pytest.raises(ValueError, match="op"):
        Target("f", 1.0, "<", 2.0)


def test_ratio_guards() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(1.0, 0.0) is None
    assert ratio(None, 2.0) is None
    assert ratio(math.inf, 2.0) is None


def test_write_json_is_atomic_and_json_clean(tmp_path: Path) -> None:
    path = tmp_path / "r" / "x.json"
    write_json(path, {"a": math.nan, "b": [1.5, math.inf], "c": Path("/p")})
    assert json.loads(path.read_text()) == {"a": None, "b": [1.5, None], "c": "/p"}
    assert list(path.parent.iterdir()) == [path]


def _doc(name: str, result: BenchResult, **extra: object) -> dict:
    return {
        "schema": SCHEMA_VERSION,
        "name": name,
        "title": f"Title {name}",
        "scale": "quick",
        "status": "ok",
        "command": "python -m benchmarks run --only " + name,
        "started_utc": "2026-11-23T10:00:00+00:00",
        "wall_seconds": 1.0,
        "machine": {"cpu_model": "Test CPU", "logical_cores": 2, "packages": {"numpy": "2"}},
        **result.to_dict(),
        **extra,
    }


def test_render_puts_peers_side_by_side_with_targets(tmp_path: Path) -> None:
    res = BenchResult(settings={"size": 512})
    table = res.table("Speed", ["system", "seconds", "ratio"])
    table.add(system="nongshu", seconds=2.0, ratio=1.0)
    table.add(system="peer", seconds=3.0, ratio=1.5)
    res.target("faster than peer", 1.5, ">=", 1.2)
    res.target("p99", 400.0, "<=", 250.0, unit="ms")
    write_json(tmp_path / "zonal.json", _doc("zonal", res))
    write_json(
        tmp_path / "tiles.json",
        _doc("tiles", BenchResult(), status="skipped", reason="no webapi\nmore"),
    )
    out = write_results_md(tmp_path, tmp_path / "RESULTS.md")
    text = out.read_text()
    assert "| system | seconds | ratio |" in text
    assert "| nongshu | 2 | 1 |" in text and "| peer | 3 | 1.5 |" in text
    assert "| zonal | faster than peer | 1.5 | >= 1.2 x | yes |" in text
    assert "| zonal | p99 | 400 | <= 250 ms | **no** |" in text
    assert "Test CPU" in text and "`python -m benchmarks run --only zonal`" in text
    assert "Reason: no webapi … more" in text
    # suite order: zonal before tiles
    assert text.index("(`zonal`)") < text.index("(`tiles`)")


def test_foreign_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="not a benchmarks results file"):
        read_results(tmp_path)


def test_empty_results_say_how_to_fill_them() -> None:
    assert "make bench-quick" in render([])


def test_cell_format() -> None:
    assert fmt(None) == "–"
    assert fmt(True) == "yes" and fmt(False) == "**no**"
    assert fmt(12345.678) == "12,346"
    assert fmt(0.000123456) == "0.000123"
    assert fmt(1234) == "1,234"
    assert fmt("a|b") == "a\\|b"
