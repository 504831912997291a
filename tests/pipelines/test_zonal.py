"""Per-field statistics of output rasters (exactextract), against hand-computed means."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

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
