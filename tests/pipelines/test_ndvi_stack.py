"""Block-wise masked NDVI (one task per block) against the general Sentinel-2 reader and by hand."""

from __future__ import annotations

import json
from pathlib import Path

import dask
import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from rasterio.transform import from_origin

from geodata.errors import InputError
from geodata.readers.imagery import read_sentinel2
from pipelines import ndvi_stack, spectral

X0, Y0, SIZE = 500000.0, 4000000.0, 48
CRS = "EPSG:32648"


def _tif(path: Path, values: np.ndarray, res: float, nodata: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "width": values.shape[1], "height": values.shape[0], "count": 1,
               "dtype": values.dtype.name, "crs": CRS, "transform": from_origin(X0, Y0, res, res), "nodata": nodata,
               "tiled": True, "blockxsize": 16, "blockysize": 16}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)


def _item(root: Path, item_id: str, when: str, cloud: float, rng: np.random.Generator) -> dict:
    folder = root / item_id
    red = rng.integers(1000, 4000, (SIZE, SIZE), dtype="uint16")
    nir = rng.integers(2000, 7000, (SIZE, SIZE), dtype="uint16")
    red[rng.random((SIZE, SIZE)) < 0.05] = 0  # nodata DN
    scl = rng.choice(np.array([4, 5, 8, 9, 3, 0], dtype="uint8"), (SIZE // 2, SIZE // 2), p=[.4, .2, .15, .1, .1, .05])
    _tif(folder / "B04.tif", red, 10.0, 0)
    _tif(folder / "B08.tif", nir, 10.0, 0)
    _tif(folder / "SCL.tif", scl, 20.0, 0)
    band = {"raster:bands": [{"nodata": 0, "scale": 0.0001, "offset": -0.1}]}
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": item_id,
        "geometry": {"type": "Polygon", "coordinates": [[[104, 35], [104.1, 35], [104.1, 35.1], [104, 35.1], [104, 35]]]},
        "bbox": [104, 35, 104.1, 35.1],
        "properties": {"datetime": when, "eo:cloud_cover": cloud, "s2:processing_baseline": "05.10"},
        "links": [],
        "assets": {b: {"href": f"{item_id}/{b}.tif", "type": "image/tiff; application=geotiff", **(band if b != "SCL" else {})}
                   for b in ("B04", "B08", "SCL")},
    }


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three Items: two on 2026-06-01 (one "less cloudy" by metadata), one on 2026-06-11; random DN and SCL."""
    root = tmp_path_factory.mktemp("s2")
    rng = np.random.default_rng(11)
    features = [_item(root, "A", "2026-06-01T03:35:00Z", 2.0, rng), _item(root, "B", "2026-06-01T03:36:00Z", 9.0, rng),
                _item(root, "C", "2026-06-11T03:35:00Z", 5.0, rng)]
    path = root / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _grid(rows: int, cols: int, row_off: float, col_off: float) -> GeoBox:
    """A 10 m grid whose pixel (0, 0) is the files' pixel (row_off, col_off)."""
    return GeoBox((rows, cols), Affine(10.0, 0, X0 + 10 * col_off, 0, -10.0, Y0 - 10 * row_off), CRS)


def _reference(items: Path, grid: GeoBox) -> xr.DataArray:
    ds = read_sentinel2(items, bands=("B04", "B08"), start="2026-05-01", end="2026-07-01", grid=grid, chunks=16)
    return xr.apply_ufunc(spectral.ndvi, ds["B08"], ds["B04"], dask="parallelized", output_dtypes=["float32"])


@pytest.mark.parametrize("grid_args", [(SIZE, SIZE, 0, 0), (SIZE + 9, SIZE + 5, -3, 7), (20, 30, 5, 11)],
                         ids=["the files' grid", "larger, shifted, past the files", "a window"])
def test_equals_the_general_reader(items: Path, grid_args: tuple[int, int, int, int]) -> None:
    grid = _grid(*grid_args)
    got = ndvi_stack.masked_ndvi(items, start="2026-05-01", end="2026-07-01", grid=grid, chunks=16)
    ref = _reference(items, grid)
    with dask.config.set(scheduler="synchronous"):
        g, r = got.values, ref.values
    assert g.shape == r.shape == (2, grid_args[0], grid_args[1])
    np.testing.assert_array_equal(g, r)  # NaN in the same places, the same float32 values
    assert list(got["item_id"].values) == ["A+B", "C"]
    assert (got["time"].values == ref["time"].values).all()
    assert 0.1 < np.isnan(g).mean() < 0.9


def test_one_task_per_block(items: Path) -> None:
    got = ndvi_stack.masked_ndvi(items, start="2026-05-01", end="2026-07-01", grid=_grid(SIZE, SIZE, 0, 0), chunks=16)
    assert got.data.numblocks == (1, 3, 3)
    assert len(got.data.__dask_graph__()) == 9


def test_pixels_by_hand(items: Path) -> None:
    """Day 1 mosaics A (2 % cloud) over B: B fills where A's SCL is invalid and B's is valid."""
    got = ndvi_stack.masked_ndvi(items, start="2026-06-01", end="2026-06-01", grid=_grid(SIZE, SIZE, 0, 0),
                                 chunks=16).values[0]
    root = items.parent
    read = {f"{i}{b}": rasterio.open(root / i / f"{b}.tif").read(1) for i in "AB" for b in ("B04", "B08", "SCL")}
    bad = {0, 1, 3, 8, 9, 10, 11}
    checked = {"A": 0, "B": 0, "none": 0}
    for r in range(0, SIZE, 3):
        for c in range(0, SIZE, 3):
            a_ok, b_ok = read["ASCL"][r // 2, c // 2] not in bad, read["BSCL"][r // 2, c // 2] not in bad
            src = "A" if a_ok else "B" if b_ok else None
            if src is None:
                assert np.isnan(got[r, c])
                checked["none"] += 1
                continue
            red_dn, nir_dn = int(read[f"{src}B04"][r, c]), int(read[f"{src}B08"][r, c])
            if red_dn == 0:
                assert np.isnan(got[r, c])
                continue
            red, nir = red_dn * 1e-4 - 0.1, nir_dn * 1e-4 - 0.1
            assert got[r, c] == pytest.approx((nir - red) / (nir + red), abs=1e-5)
            checked[src] += 1
    assert min(checked.values()) > 5  # every case seen


def test_a_grid_off_the_pixels_uses_the_general_reader(items: Path) -> None:
    grid = _grid(SIZE, SIZE, 0.5, 0.25)  # fractional offset: bilinear warp, not a window read
    got = ndvi_stack.masked_ndvi(items, start="2026-05-01", end="2026-07-01", grid=grid, chunks=16)
    assert len(got.data.__dask_graph__()) > 9
    np.testing.assert_array_equal(got.values, _reference(items, grid).values)


def test_no_item_in_the_window_is_a_clear_error(items: Path) -> None:
    with pytest.raises(InputError, match="no Sentinel-2 item"):
        ndvi_stack.masked_ndvi(items, start="2027-01-01", end="2027-02-01", grid=_grid(8, 8, 0, 0), chunks=16)


def test_a_rewritten_file_is_read_again(tmp_path: Path) -> None:
    """Open files are kept per thread between tasks; a file replaced since (a re-delivered scene) is reopened."""
    rng = np.random.default_rng(5)
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection",
                                "features": [_item(tmp_path, "D", "2026-06-01T03:35:00Z", 1.0, rng)]}))
    grid = _grid(SIZE, SIZE, 0, 0)
    with dask.config.set(scheduler="synchronous"):
        before = ndvi_stack.masked_ndvi(path, start="2026-06-01", end="2026-06-01", grid=grid, chunks=16).values
        _tif(tmp_path / "D" / "B08.tif", np.full((SIZE, SIZE), 1000, dtype="uint16"), 10.0, 0)  # NIR 0.0
        after = ndvi_stack.masked_ndvi(path, start="2026-06-01", end="2026-06-01", grid=grid, chunks=16).values
        reference = _reference(path, grid).values
    np.testing.assert_array_equal(after, reference)
    assert not np.array_equal(before, after, equal_nan=True)
    finite = np.isfinite(after)
    assert finite.any() and (after[finite] == -1.0).all()  # (0 - red) / (0 + red)
