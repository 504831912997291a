"""``validate_inputs`` and ``nongshu validate``: a clean region passes, each problem is listed."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import geopandas as gpd
import numpy as np
import pytest
from click.testing import CliRunner
from shapely.geometry import box

from geodata.validate import validate_command, validate_inputs
from nongshu.cli import main


def _load_bad_inputs() -> ModuleType:
    """Import the sibling ``bad_inputs.py`` (works under ``--import-mode=importlib``)."""
    name = "tests_geodata_bad_inputs"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("bad_inputs.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


bad = _load_bad_inputs()


@pytest.fixture()
def region(tmp_path: Path) -> Path:
    """A tiny but complete input directory following docs/DATA_LAYOUT.md."""
    root = tmp_path / "region"
    bad.write_gpkg(bad.field_frame(3), root / "fields" / "fields.gpkg")
    x0, y0 = bad.ORIGIN
    townships = gpd.GeoDataFrame({"township_id": ["T01"], "name_zh": ["凤翔镇"], "name_en": ["Fengxiang"]},
                                 geometry=[box(x0, y0 - 640, x0 + 640, y0)], crs=bad.DINGXI_UTM)
    bad.write_gpkg(townships, root / "fields" / "townships.gpkg", layer="townships")
    bad.write_s2_item_dir(root, ["2025-05-01", "2025-05-11"], size=32)
    bad.write_nc(bad.weather_dataset("2025-01-01", 365), root / "weather" / "era5land_daily_2025.nc")
    for name, value in {"clay": 250, "sand": 400, "soc": 120, "phh2o": 81, "awc": 150}.items():
        bad.write_tif(root / "soil" / f"{name}.tif", np.full((8, 8), value, "int16"), crs="EPSG:4326",
                      origin=(104.5, 35.7), res=0.0025, nodata=-32768, overviews=())
    bad.write_tif(root / "dem" / "dem.tif", np.full((16, 16), 1900.0, "float32"), crs="EPSG:4326",
                  origin=(104.5, 35.7), res=1 / 3600, nodata=-32767, overviews=())
    (root / "pests").mkdir()
    (root / "pests" / "traps_2025.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [104.62, 35.58]},
         "properties": {"date": "2025-07-01", "species": "Myzus persicae", "count": 4, "observer": "李明"}}]}))
    bad.write_text(root / "yield" / "yield_history.csv",
                   "field_id,season,crop,yield_t_ha\nDX-000001,2024,potato,18.2\n", "utf-8")
    bad.write_text(root / "operations" / "operations.csv",
                   "field_id,date,operation,product,active_ingredient,dose,unit,operator\n"
                   "DX-000001,2025-04-20,sowing,陇薯7号,,2500,kg/ha,张伟\n", "gbk")
    return root


def test_clean_region(region: Path) -> None:
    report = validate_inputs(region)
    assert report.ok, report.problems
    assert report.problems == []
    assert "sentinel2/items.json" in report.checked and "weather" in report.checked


def test_problems_collected_not_stopped_at_first(region: Path) -> None:
    bad.truncate(region / "dem" / "dem.tif", 0.3)
    bad.write_text(region / "yield" / "yield_history.csv",
                   "field_id,season,crop,yield_t_ha\nDX-000001,2024,potato,180\n", "utf-8")
    (region / "operations" / "operations.csv").unlink()
    report = validate_inputs(region)
    assert not report.ok
    by_source = {p.source: p for p in report.problems}
    assert by_source["dem/dem.tif"].level == "error"
    assert by_source["yield/yield_history.csv"].field == "yield_t_ha"
    assert "implausible yield at lines 2" in by_source["yield/yield_history.csv"].message
    assert by_source["operations/operations.csv"].level == "warning"  # optional input missing


def test_missing_required_input_is_an_error(region: Path) -> None:
    (region / "fields" / "fields.gpkg").unlink()
    report = validate_inputs(region)
    assert [(p.source, p.level, p.message) for p in report.errors] == [("fields/fields.gpkg", "error", "missing")]


def test_repaired_polygon_is_a_warning(region: Path) -> None:
    gdf = bad.field_frame(3)
    x0, y0 = bad.ORIGIN
    gdf.loc[2, "geometry"] = bad.bowtie(x0, y0)
    bad.write_gpkg(gdf, region / "fields" / "fields.gpkg")
    report = validate_inputs(region)
    assert report.ok
    assert len(report.warnings) == 1 and "DX-000003" in report.warnings[0].message


def test_command_exit_codes_and_text(region: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(validate_command, [str(region)])
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.output
    (region / "sentinel2" / "2025" / "20250511" / "B12.tif").write_bytes(b"")
    result = runner.invoke(validate_command, [str(region)])
    assert result.exit_code == 2
    assert "error: sentinel2/2025/20250511/B12.tif: file is empty (0 bytes)" in result.output


def test_command_json(region: Path) -> None:
    bad.write_text(region / "weather" / "era5land_daily_2025.nc", "not netcdf", "utf-8")
    result = CliRunner().invoke(main, ["validate", "--json", str(region)])
    assert result.exit_code == 2
    doc = json.loads(result.output)
    assert doc["ok"] is False
    assert doc["problems"][0]["source"] == "weather/era5land_daily_2025.nc"
    assert doc["problems"][0]["message"].startswith("not a readable NetCDF")


def test_command_missing_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(validate_command, [str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "input directory not found" in result.output


@pytest.mark.slow
def test_demo_region_is_valid_and_readable(demo_region: Path) -> None:
    """The generated demo region passes validation and reads lazily onto one analysis grid."""
    from geodata.grid import analysis_grid
    from geodata.readers import read_fields, read_sentinel2, read_weather

    report = validate_inputs(demo_region)
    assert report.errors == [], report.errors
    fields = read_fields(demo_region / "fields" / "fields.gpkg")
    items = read_sentinel2(demo_region / "sentinel2" / "items.json", bands=["B04", "B08"], end="2024-06-30")
    assert items.time.values.max() <= np.datetime64("2024-06-30T23:59:59")
    grid = analysis_grid(fields, imagery=items.odc.geobox)
    assert grid.crs == items.odc.crs
    # aligned: the grid's pixel edges are the imagery's
    offset = (grid.affine.c - items.odc.geobox.affine.c) / 10
    assert offset == pytest.approx(round(offset))
    red = items["B04"].isel(time=-1).values
    assert np.nanmin(red) >= -0.1 and np.nanmax(red) <= 1.6  # L2A reflectance after the -0.1 offset
    weather = read_weather(demo_region / "weather", end="2024-06-30")
    assert str(weather.time.values[-1])[:10] == "2024-06-30"
    assert 180 < float(weather["tasmin"].isel(time=-1).mean()) < 340
