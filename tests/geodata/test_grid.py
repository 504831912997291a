"""The common analysis grid: UTM zone, alignment to imagery, coverage, lazy resampling."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import dask.array
import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords, xr_zeros

from geodata.errors import InputError
from geodata.grid import aligned_bounds, analysis_grid, utm_crs_for, xr_reproject


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


@pytest.mark.parametrize(
    "lon, lat, epsg",
    [(104.62, 35.58, 32648), (91.1, 29.65, 32646), (-70.0, -33.0, 32719), (3.0, 0.5, 32631)],
)
def test_utm_zone(lon: float, lat: float, epsg: int) -> None:
    # zone = floor((lon + 180) / 6) + 1; north 326zz, south 327zz
    assert utm_crs_for(lon, lat).epsg == epsg


@given(
    left=st.floats(-1e6, 1e6), bottom=st.floats(-1e6, 1e6),
    width=st.floats(0.01, 5e4), height=st.floats(0.01, 5e4),
    res=st.sampled_from([10.0, 20.0, 30.0, 250.0]),
    ox=st.floats(-1e3, 1e3), oy=st.floats(-1e3, 1e3),
)
def test_aligned_bounds_contain_and_align(
    left: float, bottom: float, width: float, height: float, res: float, ox: float, oy: float
) -> None:
    out = aligned_bounds((left, bottom, left + width, bottom + height), res, (ox, oy))
    tol = 1e-6 * max(1.0, abs(left), abs(bottom))
    assert out[0] <= left + tol and out[1] <= bottom + tol
    assert out[2] >= left + width - tol and out[3] >= bottom + height - tol
    for value, origin in zip(out, (ox, oy, ox, oy), strict=True):
        steps = (value - origin) / res
        assert abs(steps - round(steps)) < 1e-6
    # smallest such box: less than one pixel of slack on each side
    assert left - out[0] < res + tol and out[2] - (left + width) < res + tol


def test_aligned_bounds_rejects_empty() -> None:
    with pytest.raises(InputError, match="empty bounding box"):
        aligned_bounds((10, 10, 10, 20), 10.0)


def test_grid_from_fields_in_wgs84_uses_their_utm_zone() -> None:
    fields = bad.field_frame(3).to_crs(4326)
    grid = analysis_grid(fields)
    assert grid.crs.epsg == 32648
    assert grid.resolution.x == 10 and grid.resolution.y == -10
    utm = fields.to_crs(32648).total_bounds
    bb = grid.boundingbox
    tol = 1e-6  # the 4326 round trip moves edges by ~1e-10 m; they are not grown by a pixel for that
    assert bb.left <= utm[0] + tol and bb.bottom <= utm[1] + tol
    assert bb.right >= utm[2] - tol and bb.top >= utm[3] - tol
    assert bb.left / 10 == pytest.approx(round(bb.left / 10))


def test_grid_aligned_to_imagery_pixels() -> None:
    # imagery whose pixel edges sit at x = 600005 + 10k, y = 3940003 + 10k (odd origin on purpose)
    imagery = GeoBox.from_bbox((600005, 3930003, 610005, 3940003), "EPSG:32648", resolution=10, tight=True)
    assert imagery.affine.c == 600005
    fields = bad.field_frame(3)
    grid = analysis_grid(fields, imagery=imagery, buffer_m=20)
    assert ((grid.affine.c - 600005) / 10) == pytest.approx(round((grid.affine.c - 600005) / 10))
    assert ((grid.affine.f - 3940003) / 10) == pytest.approx(round((grid.affine.f - 3940003) / 10))
    minx, miny, maxx, maxy = fields.total_bounds
    bb = grid.boundingbox
    assert bb.left <= minx - 20 < bb.left + 10
    assert bb.top >= maxy + 20 > bb.top - 10
    # the fields span 500 m x 100 m, plus 20 m on every side, on a 10 m grid shifted by 5/3 m
    assert grid.shape.x == math.ceil(540 / 10) + 1 and grid.shape.y == math.ceil(140 / 10) + 1


def test_grid_from_imagery_only() -> None:
    imagery = GeoBox.from_bbox((600003, 3930000, 600643, 3930640), "EPSG:32648", resolution=10, tight=True)
    assert analysis_grid(imagery=imagery) == imagery


def test_grid_needs_something() -> None:
    with pytest.raises(InputError, match="need fields or an imagery grid"):
        analysis_grid()


def test_grid_refuses_geographic_crs() -> None:
    with pytest.raises(InputError, match="projected CRS"):
        analysis_grid(bad.field_frame(2), crs=4326)


def _ramp(gbox: GeoBox) -> xr.DataArray:
    """Pixels equal to their column index (encodes their own coordinate), dask-backed."""
    da = xr_zeros(gbox, dtype="float32", chunks=(32, 32))
    cols = np.arange(gbox.shape.x, dtype="float32")
    return da + xr.DataArray(cols, dims="x", coords={"x": da.x})


def test_xr_reproject_is_lazy_and_bilinear() -> None:
    src_box = GeoBox.from_bbox((600000, 3930000, 601280, 3931280), "EPSG:32648", resolution=20)
    dst_box = GeoBox.from_bbox((600000, 3930000, 601280, 3931280), "EPSG:32648", resolution=10)
    src = _ramp(src_box)
    out = xr_reproject(src, dst_box, kind="continuous")
    assert isinstance(out.data, dask.array.Array)
    assert out.odc.geobox == dst_box
    values = out.values
    # a 10 m pixel centre at x = 600000 + 10 j + 5 falls at 20 m column (10 j + 5) / 20 - 0.5
    j = np.arange(10, 50)
    expected = (10 * j + 5) / 20 - 0.5
    np.testing.assert_allclose(values[30, 10:50], expected, atol=1e-4)


def test_xr_reproject_noop_on_same_grid() -> None:
    box = GeoBox.from_bbox((600000, 3930000, 600640, 3930640), "EPSG:32648", resolution=10)
    src = _ramp(box)
    assert xr_reproject(src, box) is src


def test_xr_reproject_class_nearest_keeps_codes() -> None:
    src_box = GeoBox.from_bbox((600000, 3930000, 600640, 3930640), "EPSG:32648", resolution=20)
    dst_box = GeoBox.from_bbox((600000, 3930000, 600640, 3930640), "EPSG:32648", resolution=10)
    codes = np.where(np.arange(32)[None, :] % 2 == 0, 4, 9).repeat(32, axis=0).astype("uint8")
    src = xr.DataArray(
        dask.array.from_array(codes, chunks=16), dims=("y", "x"), coords=xr_coords(src_box),
        attrs={"nodata": 0},
    )
    out = xr_reproject(src, dst_box, kind="class").values
    assert out.dtype == np.uint8
    assert set(np.unique(out)) == {4, 9}
    np.testing.assert_array_equal(out[:, ::2], codes.repeat(2, axis=0))


def test_xr_reproject_unknown_kind() -> None:
    box = GeoBox.from_bbox((600000, 3930000, 600640, 3930640), "EPSG:32648", resolution=10)
    with pytest.raises(InputError, match="unknown raster kind"):
        xr_reproject(_ramp(box), box, kind="fuzzy")  # type: ignore[arg-type]
