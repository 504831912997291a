"""GeoTIFF/COG reader: integrity checks, laziness, scale/offset, reprojection."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import dask.array
import numpy as np
import pytest

from geodata.errors import InputError
from geodata.grid import analysis_grid
from geodata.readers.raster import check_raster, open_raster
from geodata.readers.terrain import read_dem, read_soil


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


def _pattern(shape: tuple[int, int] = (256, 256)) -> np.ndarray:
    """Non-constant uint16 pixels (never 0 = nodata) so every block compresses differently."""
    rng = np.random.default_rng(42)
    return rng.integers(1, 10000, size=shape, dtype="uint16")


def test_good_cog_is_lazy_chunked_and_scaled(tmp_path: Path) -> None:
    data = np.full((256, 256), 3000, dtype="uint16")
    data[:10, :10] = 0  # nodata
    path = bad.write_tif(tmp_path / "b04.tif", data, scales=(0.0001,), offsets=(-0.1,))
    da = open_raster(path, scale=True, chunks=128)
    assert isinstance(da.data, dask.array.Array)
    assert da.chunks == ((128, 128), (128, 128))
    assert da.dtype == np.float32
    values = da.values
    # DN 3000 * 0.0001 - 0.1 = 0.2 reflectance (L2A, BOA_ADD_OFFSET = -1000)
    assert values[100, 100] == pytest.approx(0.2, abs=1e-6)
    assert np.isnan(values[:10, :10]).all()
    assert np.isfinite(values[10:, 10:]).all()
    assert da.odc.crs.epsg == 32648


def test_unscaled_read_keeps_digital_numbers(tmp_path: Path) -> None:
    path = bad.write_tif(tmp_path / "b.tif", np.full((64, 64), 3000, "uint16"), scales=(0.0001,), offsets=(-0.1,))
    assert float(open_raster(path).mean()) == 3000.0


def test_class_raster_keeps_integers_and_nodata(tmp_path: Path) -> None:
    data = np.full((64, 64), 4, dtype="uint8")
    data[0, 0] = 0
    path = bad.write_tif(tmp_path / "scl.tif", data, nodata=0)
    da = open_raster(path, kind="class")
    assert da.dtype == np.uint8
    assert da.attrs["nodata"] == 0
    assert int(da[0, 0]) == 0 and int(da[5, 5]) == 4


def test_zero_size_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "zero.tif"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"zero.tif.*empty \(0 bytes\)"):
        open_raster(path)


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        open_raster(tmp_path / "nope.tif")


def test_garbage_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "junk.tif"
    path.write_bytes(b"this is not a tiff" * 100)
    with pytest.raises(InputError, match="junk.tif.*not a readable raster"):
        open_raster(path)


def test_truncated_tiff_is_rejected(tmp_path: Path) -> None:
    path = bad.truncate(bad.write_tif(tmp_path / "cut.tif", _pattern()), keep_fraction=0.7)
    with pytest.raises(InputError, match="cut.tif") as err:
        open_raster(path)
    assert "truncated" in str(err.value)


def test_wrong_tile_offset_beyond_file_is_rejected(tmp_path: Path) -> None:
    path = bad.write_tif(tmp_path / "off.tif", _pattern())
    bad.set_tile_offset(path, 5, path.stat().st_size + 10_000)
    with pytest.raises(InputError, match=r"off.tif: band 1: block \(row 1, col 1\) lies beyond the end"):
        check_raster(path)


def test_wrong_tile_offset_inside_file_is_rejected(tmp_path: Path) -> None:
    path = bad.write_tif(tmp_path / "off.tif", _pattern())
    bad.set_tile_offset(path, 5, bad.tile_offset(path, 2))  # tile 5 points at tile 2's bytes
    with pytest.raises(InputError, match="off.tif.*overlap.*wrong tile offset"):
        check_raster(path)


def test_raster_without_crs_is_rejected(tmp_path: Path) -> None:
    path = bad.write_tif(tmp_path / "nocrs.tif", _pattern(), crs=None)
    with pytest.raises(InputError, match="nocrs.tif: crs: raster has no CRS"):
        open_raster(path)


@pytest.mark.parametrize("overviews", [(2, 4), ()], ids=["with-overviews", "without-overviews"])
def test_all_nodata_raster_is_rejected(tmp_path: Path, overviews: tuple[int, ...]) -> None:
    path = bad.write_tif(tmp_path / "empty.tif", np.zeros((256, 256), "uint16"), overviews=overviews)
    with pytest.raises(InputError, match="empty.tif: band 1: raster is entirely nodata"):
        open_raster(path)
    # allowed when the caller says an empty raster is legitimate
    assert open_raster(path, check_nodata=False).shape == (256, 256)


def test_all_nan_float_raster_is_rejected(tmp_path: Path) -> None:
    data = np.full((64, 64), np.nan, dtype="float32")
    path = bad.write_tif(tmp_path / "nan.tif", data, nodata=None, overviews=())
    with pytest.raises(InputError, match="entirely nodata"):
        open_raster(path)


def test_sparse_valid_pixels_are_not_empty(tmp_path: Path) -> None:
    data = np.zeros((256, 256), "uint16")
    data[64:192, 64:192] = 500  # a block of valid data in the middle
    path = bad.write_tif(tmp_path / "sparse.tif", data)
    assert check_raster(path).overviews == (2, 4)


def test_other_crs_is_reprojected_not_rejected(tmp_path: Path) -> None:
    # a 20 m raster in UTM 47N covering a 10 m target grid in UTM 48N
    target = analysis_grid(
        imagery=open_raster(bad.write_tif(tmp_path / "ref.tif", _pattern((64, 64)))).odc.geobox
    )
    import geopandas as gpd
    from shapely.geometry import box

    x0, y0 = bad.ORIGIN
    area = gpd.GeoSeries([box(x0 - 2000, y0 - 2000, x0 + 2000, y0 + 2000)], crs=bad.DINGXI_UTM).to_crs(32647)
    left, bottom, _, top = (float(v) for v in area.total_bounds)
    data = np.full((200, 200), 1234, dtype="uint16")
    path = bad.write_tif(tmp_path / "utm47.tif", data, crs="EPSG:32647", origin=(left, top), res=20.0)
    da = open_raster(path, grid=target)
    assert da.odc.geobox == target
    assert isinstance(da.data, dask.array.Array)
    np.testing.assert_allclose(da.values, 1234.0, rtol=1e-6)


def test_class_raster_reprojected_with_nearest(tmp_path: Path) -> None:
    data = np.zeros((32, 32), dtype="uint8")
    data[:, :16] = 4
    data[:, 16:] = 9  # two classes, the 20 m edge falls on a 10 m pixel edge
    path = bad.write_tif(tmp_path / "scl.tif", data, res=20.0, overviews=())
    ref = bad.write_tif(tmp_path / "ref.tif", _pattern((64, 64)))
    grid = open_raster(ref).odc.geobox
    da = open_raster(path, kind="class", grid=grid)
    values = da.values
    assert da.dtype == np.uint8
    assert set(np.unique(values)) == {4, 9}  # no interpolated in-between classes
    assert (values[:, :32] == 4).all() and (values[:, 32:] == 9).all()


def test_soil_is_converted_to_conventional_units(tmp_path: Path) -> None:
    soil = tmp_path / "soil"
    stored = {"clay": 250, "sand": 400, "soc": 120, "phh2o": 81, "awc": 150}
    for name, value in stored.items():
        bad.write_tif(soil / f"{name}.tif", np.full((16, 16), value, "int16"), crs="EPSG:4326",
                      origin=(104.5, 35.7), res=0.0025, nodata=-32768, overviews=())
    ds = read_soil(soil)
    # SoilGrids factors: clay/sand g/kg -> % (/10), soc dg/kg -> g/kg (/10), pH*10 -> pH
    expected = {"clay": 25.0, "sand": 40.0, "soc": 12.0, "phh2o": 8.1, "awc": 150.0}
    for name, value in expected.items():
        assert float(ds[name].mean()) == pytest.approx(value, rel=1e-6)
    assert ds["clay"].attrs["units"] == "%"


def test_soil_missing_property_named(tmp_path: Path) -> None:
    bad.write_tif(tmp_path / "soil" / "clay.tif", np.full((8, 8), 250, "int16"), crs="EPSG:4326",
                  origin=(104.5, 35.7), res=0.0025, nodata=-32768, overviews=())
    with pytest.raises(InputError, match=r"sand.tif: sand: soil property file missing"):
        read_soil(tmp_path / "soil")


def test_dem_nodata_is_nan(tmp_path: Path) -> None:
    data = np.full((32, 32), 1900.5, "float32")
    data[0, :] = -32767
    path = bad.write_tif(tmp_path / "dem.tif", data, crs="EPSG:4326", origin=(104.5, 35.7),
                         res=1 / 3600, nodata=-32767, overviews=())
    dem = read_dem(path)
    assert dem.attrs["units"] == "m"
    assert np.isnan(dem.values[0]).all()
    assert float(dem[5, 5]) == pytest.approx(1900.5)


@pytest.mark.parametrize(("shift", "shape"), [((0, 0), (128, 128)), ((-3, 5), (100, 150)), ((7, -4), (64, 40))])
def test_class_raster_on_a_finer_aligned_grid_is_repeated_exactly_as_gdal_nearest(
    tmp_path: Path, shift: tuple[int, int], shape: tuple[int, int]
) -> None:
    """A 20 m class raster on a 10 m grid (shifted, partly outside the file): the repeat path equals GDAL's warp."""
    from affine import Affine
    from odc.geo.geobox import GeoBox
    from odc.geo.xr import xr_reproject

    from geodata.readers.raster import integer_zoom, open_raw

    classes = np.random.default_rng(1).integers(1, 12, size=(48, 48), dtype="uint8")
    path = bad.write_tif(tmp_path / "scl.tif", classes, res=20.0, nodata=0)
    info = check_raster(path, check_nodata=False)
    grid = GeoBox(shape, info.geobox.affine * Affine.scale(0.5) * Affine.translation(shift[1], shift[0]),
                  info.geobox.crs)
    assert integer_zoom(info.geobox, grid) == (2, shift[0], shift[1])
    got, _ = open_raw(path, grid=grid, kind="class", chunks=32)
    assert got.data.chunks[0][0] == 32
    import rioxarray

    source = rioxarray.open_rasterio(path).isel(band=0, drop=True)
    expected = xr_reproject(source, grid, resampling="nearest", src_nodata=0, dst_nodata=0).values
    np.testing.assert_array_equal(got.values, expected)
    # by hand: destination pixel (i, j) is source pixel ((i + row_off) // 2, (j + col_off) // 2), 0 outside
    i, j = shape[0] // 2, shape[1] // 3
    r, c = (i + shift[0]) // 2, (j + shift[1]) // 2
    assert got.values[i, j] == (classes[r, c] if 0 <= r < 48 and 0 <= c < 48 else 0)


def test_a_grid_that_is_not_an_integer_refinement_is_warped() -> None:
    from affine import Affine
    from odc.geo.geobox import GeoBox

    from geodata.readers.raster import integer_zoom

    src = GeoBox((10, 10), Affine(20.0, 0, 500000.0, 0, -20.0, 4000000.0), "EPSG:32648")
    assert integer_zoom(src, GeoBox((20, 20), Affine(10.0, 0, 500005.0, 0, -10.0, 4000000.0), "EPSG:32648")) is None
    assert integer_zoom(src, GeoBox((30, 30), Affine(6.0, 0, 500000.0, 0, -6.0, 4000000.0), "EPSG:32648")) is None
    assert integer_zoom(src, GeoBox((20, 20), Affine(10.0, 0, 500000.0, 0, -10.0, 4000000.0), "EPSG:32647")) is None
    assert integer_zoom(src, GeoBox((5, 5), Affine(20.0, 0, 500040.0, 0, -20.0, 3999980.0), "EPSG:32648")) == (1, 1, 2)


def test_continuous_raster_on_a_shifted_grid_of_the_same_pixels_keeps_its_values(tmp_path: Path) -> None:
    """Same 10 m pixels, another extent (e.g. a band on the analysis grid): a window read, nodata outside."""
    from affine import Affine
    from odc.geo.geobox import GeoBox

    from geodata.readers.raster import open_raw

    data = _pattern((64, 64))
    path = bad.write_tif(tmp_path / "b04.tif", data, nodata=0)
    info = check_raster(path)
    grid = GeoBox((70, 50), info.geobox.affine * Affine.translation(10, -4), info.geobox.crs)
    got, _ = open_raw(path, grid=grid, kind="continuous", chunks=16)
    values = got.values
    assert values.dtype == np.uint16
    np.testing.assert_array_equal(values[4:68, :50], data[:, 10:60])
    assert (values[:4] == 0).all() and (values[68:] == 0).all()
