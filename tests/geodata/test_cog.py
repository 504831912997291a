"""Atomic, block-wise Cloud-Optimized GeoTIFF writing."""

from __future__ import annotations

import os
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_validate

from geodata.cog import CogWriter, write_cog
from geodata.errors import OutputError

TRANSFORM = from_origin(463000.0, 3940000.0, 10.0, 10.0)


def _coords_image(height: int, width: int) -> np.ndarray:
    """Pixels that encode their own position: value = row * width + col (float32 exact < 2**24)."""
    return (np.arange(height)[:, None] * width + np.arange(width)[None, :]).astype(np.float32)


def test_write_cog_numpy_is_valid_cog_with_overviews_and_metadata(tmp_path: Path) -> None:
    data = _coords_image(1100, 1300)
    data[:5, :5] = np.nan
    path = write_cog(tmp_path / "yield.tif", data, crs="EPSG:32648", transform=TRANSFORM,
                     nodata=float("nan"), tags={"units": "t/ha"}, band_descriptions=["yield"])
    valid, errors, _ = cog_validate(path)
    assert valid, errors
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 32648
        assert ds.transform == TRANSFORM
        assert ds.block_shapes == [(512, 512)]
        assert ds.compression.name.lower() == "deflate"
        assert ds.overviews(1) == [2, 4, 8]  # 1300 px -> 650 -> 325 -> 163 <= 256
        assert ds.tags()["units"] == "t/ha"
        assert ds.descriptions == ("yield",)
        out = ds.read(1)
    np.testing.assert_array_equal(out, data)  # NaN positions compare equal
    # average overview of a linear ramp = the ramp at block centres
    with rasterio.open(path, overview_level=0) as ov:
        level = ov.read(1)
    assert level[10, 10] == pytest.approx(data[20:22, 20:22].mean())


def test_write_cog_dask_multiband_with_scale_offset(tmp_path: Path) -> None:
    ref = np.arange(3 * 700 * 650, dtype=np.uint16).reshape(3, 700, 650)
    arr = da.from_array(ref, chunks=(1, 256, 300))
    path = write_cog(tmp_path / "b.tif", arr, crs=32648, transform=TRANSFORM, nodata=0,
                     scales=[1e-4] * 3, offsets=[-0.1] * 3, overview_resampling="nearest")
    assert cog_validate(path)[0]
    with rasterio.open(path) as ds:
        assert ds.count == 3
        assert ds.scales == (1e-4,) * 3 and ds.offsets == (-0.1,) * 3
        np.testing.assert_array_equal(ds.read(), ref)


def test_block_by_block_writer(tmp_path: Path) -> None:
    path = tmp_path / "blocks.tif"
    with CogWriter(path, width=1024, height=768, dtype="int16", crs=4326,
                   transform=from_origin(104.0, 36.0, 0.001, 0.001), nodata=-32768) as cog:
        for row in range(0, 768, 256):
            for col in range(0, 1024, 512):
                cog.write(Window(col, row, 512, 256), np.full((256, 512), row + col // 512,
                                                               dtype=np.int16))
    assert cog_validate(path)[0]
    with rasterio.open(path) as ds:
        out = ds.read(1)
    assert out[0, 0] == 0 and out[0, 600] == 1 and out[300, 0] == 256 and out[700, 1000] == 513


def test_failure_mid_write_keeps_previous_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "risk.tif"
    write_cog(path, np.ones((600, 600), np.float32), crs=32648, transform=TRANSFORM, nodata=None)
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="boom"), \
            CogWriter(path, width=600, height=600, dtype="float32", crs=32648,
                      transform=TRANSFORM, nodata=None) as cog:
        cog.write(Window(0, 0, 512, 512), np.zeros((512, 512), np.float32))
        raise RuntimeError("boom")
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["risk.tif"]


def test_failure_inside_dask_computation_keeps_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "ndvi.tif"
    write_cog(path, np.zeros((300, 300), np.float32), crs=32648, transform=TRANSFORM, nodata=None)
    before = path.read_bytes()

    def explode(block: np.ndarray) -> np.ndarray:
        raise ValueError("sensor failure")

    bad = da.zeros((300, 300), chunks=100, dtype=np.float32).map_blocks(
        explode, meta=np.array((), dtype=np.float32))
    with pytest.raises(ValueError, match="sensor failure"):
        write_cog(path, bad, crs=32648, transform=TRANSFORM, nodata=None)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ndvi.tif"]


def test_unwritable_destination_raises_output_error_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    target = blocker / "out.tif"
    with pytest.raises(OutputError) as info:
        write_cog(target, np.zeros((10, 10), np.uint8), crs=32648, transform=TRANSFORM, nodata=0)
    assert str(target) in str(info.value)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root ignores directory permissions")
def test_read_only_directory_raises_output_error(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="out.tif"):
            write_cog(ro / "out.tif", np.zeros((10, 10), np.uint8), crs=32648,
                      transform=TRANSFORM, nodata=0)
    finally:
        ro.chmod(0o755)


def test_read_only_filesystem_raises_output_error() -> None:
    target = Path("/proc/nongshu-test.tif")
    if not Path("/proc").is_dir():
        pytest.skip("no /proc")
    with pytest.raises(OutputError, match="nongshu-test.tif"):
        write_cog(target, np.zeros((10, 10), np.uint8), crs=32648, transform=TRANSFORM, nodata=0)


def test_window_shape_mismatch_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not match"), \
            CogWriter(tmp_path / "x.tif", width=100, height=100, dtype="uint8", crs=32648,
                      transform=TRANSFORM, nodata=0) as cog:
        cog.write(Window(0, 0, 50, 50), np.zeros((40, 50), np.uint8))
    assert not (tmp_path / "x.tif").exists()


def test_overview_levels_reach_one_web_tile(tmp_path) -> None:
    """512 px -> one level (256 px); 1000 px -> 500, 250: two levels; 200 px needs none."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from geodata.cog import overview_count, write_cog

    assert overview_count(512, 512) == 1
    assert overview_count(1000, 300) == 2
    assert overview_count(200, 200) == 0
    path = write_cog(tmp_path / "r.tif", np.ones((512, 512), "float32"), crs="EPSG:32648",
                     transform=from_origin(500000, 3900000, 10, 10), nodata=np.nan)
    with rasterio.open(path) as src:
        assert src.overviews(1) == [2]
