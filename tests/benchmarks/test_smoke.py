"""A smoke run of every benchmark on tiny data: it completes and writes a well-formed results file.

No timing is asserted. Benchmarks whose product part is missing report
``skipped`` with the reason; none may ``fail``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.runner import SUITE, run_benchmark


def smoke(name: str, tmp_path: Path) -> dict:
    doc = run_benchmark(
        SUITE.get(name),
        scale="tiny",
        work_dir=tmp_path / "work",
        results_dir=tmp_path / "results",
        command=f"pytest smoke {name}",
    )
    assert doc["status"] in ("ok", "skipped"), doc.get("traceback") or doc.get("reason")
    stored = json.loads((tmp_path / "results" / f"{name}.json").read_text())
    assert stored["name"] == name and stored["machine"]["logical_cores"] >= 1
    if doc["status"] == "ok":
        assert stored["tables"] and all(t["rows"] for t in stored["tables"][:1])
    return stored


def test_zonal_smoke(tmp_path: Path) -> None:
    doc = smoke("zonal", tmp_path)
    rows = {(r["method"], r["field_ha"]): r for r in doc["tables"][0]["rows"]}
    # exactextract's fractional coverage is near-exact on a linear ramp; rasterstats' centre-in-polygon is not
    for area in (0.5, 10.0, 50.0):
        assert rows[("exactextract", area)]["mean_abs_error"] < 0.005
        assert rows[("exactextract", area)]["area_error_pct"] < 0.01
        assert (
            rows[("rasterstats (memory)", area)]["area_error_pct"]
            > rows[("exactextract", area)]["area_error_pct"]
        )
        # the two rasterstats modes compute the same thing
        assert rows[("rasterstats (file)", area)]["mean_abs_error"] == pytest.approx(
            rows[("rasterstats (memory)", area)]["mean_abs_error"]
        )
    if ("nongshu", 0.5) in rows:
        for area in (0.5, 10.0, 50.0):
            assert rows[("nongshu", area)]["mean_abs_error"] == pytest.approx(
                rows[("exactextract", area)]["mean_abs_error"], abs=1e-4
            )


@pytest.mark.slow
def test_tiles_smoke(tmp_path: Path) -> None:
    doc = smoke("tiles", tmp_path)
    if doc["status"] == "ok":
        same = next(t for t in doc["tables"] if t["title"].startswith("Same pixels"))
        assert same["rows"][0]["identical_fraction_min"] == 1.0
        assert all(r["errors"] == 0 for r in doc["tables"][0]["rows"])


@pytest.mark.slow
def test_api_smoke(tmp_path: Path) -> None:
    doc = smoke("api", tmp_path)
    if doc["status"] == "ok":
        rows = doc["tables"][0]["rows"]
        assert all(r["errors"] == 0 for r in rows)
        assert any(r["encoding"] == "gzip" and r["wire_bytes"] < r["plain_bytes"] for r in rows)


@pytest.mark.slow
def test_trace_smoke(tmp_path: Path) -> None:
    doc = smoke("trace", tmp_path)
    if doc["status"] == "ok":
        assert doc["settings"]["events_stored"] == 2000
        probes = next(t for t in doc["tables"] if t["title"].startswith("Lookup time"))
        assert [r["events"] for r in probes["rows"]] == [1000, 2000]
        assert all(r["errors"] == 0 for r in doc["tables"][-1]["rows"])
        assert "bulk copies that did not verify" not in " ".join(doc["notes"])


@pytest.mark.slow
def test_pipeline_smoke(tmp_path: Path) -> None:
    smoke("pipeline", tmp_path)
