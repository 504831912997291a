"""Per-field statistics of output rasters (exactextract), against hand-computed means."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from pipelines import zonal
from pipelines.errors import PipelineError
from pipelines.zonal import field_statistics

ORIGIN = (500000.0, 4000000.0)


def _raster(path: Path, values: np.ndarray) -> Path:
    profile = {"driver": "GTiff", "width": values.shape[1], "height": values.shape[0], "count": 1,
               "dtype": "float32", "crs": "EPSG:32648", "transform": from_origin(*ORIGIN, 10.0, 10.0),
               "nodata": float("nan")}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values.astype("float32"), 1)
    return path


@pytest.fixture
def fields() -> gpd.GeoDataFrame:
    x0, y0 = ORIGIN
    return gpd.GeoDataFrame(
        {"field_id": ["A", "B"]},
        geometry=[
            box(x0, y0 - 20, x0 + 20, y0),  # pixels rows 0-1, cols 0-1
            box(x0 + 50, y0 - 100, x0 + 75, y0 - 80),  # rows 8-9, cols 5-6 whole, col 7 half
        ],
        crs="EPSG:32648",
    )


@pytest.mark.parametrize("n_layers", [1, 2])
def test_field_means_min_max_and_coverage_by_hand(tmp_path: Path, fields: gpd.GeoDataFrame, n_layers: int) -> None:
    ramp = np.tile(np.arange(10, dtype="float32"), (10, 1))  # value = column index
    ramp[9, 5] = np.nan  # one pixel of B without a value
    rasters = {"ramp": _raster(tmp_path / "ramp.tif", ramp)}
    if n_layers == 2:
        rasters["twice"] = _raster(tmp_path / "twice.tif", 2 * ramp)
    out = field_statistics(rasters, fields, coverage_layer="ramp").set_index("field_id")
    # A: columns 0, 1 -> mean 0.5, min 0, max 1, 4 pixels all valid
    assert out.loc["A", "ramp_mean"] == pytest.approx(0.5)
    assert (out.loc["A", "ramp_min"], out.loc["A", "ramp_max"]) == (0.0, 1.0)
    assert out.loc["A", "pixel_count"] == pytest.approx(4.0)
    assert out.loc["A", "valid_fraction"] == pytest.approx(1.0)
    # B: rows 8-9 x columns 5, 6 (whole) and 7 (half): 5 pixels of area; (9, 5) has no value
    # weights: col5 1 valid (row 8), col6 2, col7 2 x 0.5 -> mean (5*1 + 6*2 + 7*1) / 4 = 6.0
    assert out.loc["B", "ramp_mean"] == pytest.approx(6.0)
    assert out.loc["B", "pixel_count"] == pytest.approx(5.0)
    assert out.loc["B", "valid_fraction"] == pytest.approx(4.0 / 5.0)
    if n_layers == 2:
        assert out.loc["B", "twice_mean"] == pytest.approx(12.0)
        assert out.loc["B", "twice_max"] == pytest.approx(14.0)


def test_coverage_layer_must_be_one_of_the_rasters(tmp_path: Path, fields: gpd.GeoDataFrame) -> None:
    path = _raster(tmp_path / "a.tif", np.ones((10, 10), dtype="float32"))
    with pytest.raises(PipelineError, match="coverage layer"):
        field_statistics({"a": path}, fields, coverage_layer="b")


def test_read_budget_bounds_the_subgrid_size() -> None:
    # 256 MiB over 12 float64 rasters: 2,796,202 cells at a time; never below 4,096 cells
    assert zonal.max_cells_in_memory(12) == 256 * 2**20 // 96
    assert zonal.max_cells_in_memory(1) == 256 * 2**20 // 8
    assert zonal.max_cells_in_memory(12, budget_bytes=1000) == 4096


def test_fields_across_subgrids_get_the_same_statistics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a read budget of a few thousand cells the 200 x 200 px rasters are read in many pieces;
    fields straddling the pieces still get the exact means of a linear ramp (its value at the centroid)."""
    rows, cols = np.mgrid[0:200, 0:200]
    ramp = (0.5 * cols + 2.0 * rows).astype("float32")
    rasters = {"ramp": _raster(tmp_path / "ramp.tif", ramp), "flat": _raster(tmp_path / "flat.tif", ramp * 0 + 3)}
    x0, y0 = ORIGIN
    boxes = {"wide": (0, 0, 200, 40), "tall": (63, 10, 87, 190), "centre": (90, 90, 110, 120)}  # cols/rows, px
    fields = gpd.GeoDataFrame(
        {"field_id": list(boxes)},
        geometry=[box(x0 + 10 * c0, y0 - 10 * r1, x0 + 10 * c1, y0 - 10 * r0) for c0, r0, c1, r1 in boxes.values()],
        crs="EPSG:32648",
    )
    monkeypatch.setattr(zonal, "READ_BUDGET_BYTES", 2 * 8 * 4096)  # 4,096 cells per piece: ~10 pieces
    out = field_statistics(rasters, fields, coverage_layer="ramp").set_index("field_id")
    for name, (c0, r0, c1, r1) in boxes.items():
        # mean of 0.5*col + 2*row over whole pixels col c0..c1-1, row r0..r1-1
        expected = 0.5 * (c0 + c1 - 1) / 2 + 2.0 * (r0 + r1 - 1) / 2
        assert out.loc[name, "ramp_mean"] == pytest.approx(expected, rel=1e-6)
        assert out.loc[name, "ramp_min"] == pytest.approx(0.5 * c0 + 2.0 * r0)
        assert out.loc[name, "pixel_count"] == pytest.approx((c1 - c0) * (r1 - r0))
        assert out.loc[name, "flat_mean"] == pytest.approx(3.0)
