"""The I/O floor and the rioxarray peer compute the same, hand-known season NDVI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from benchmarks.floor import ndvi_block, run_floor
from benchmarks.peer_rioxarray import ndvi_season_mean


def test_ndvi_block_applies_l2a_offset_and_scl_mask() -> None:
    red = np.array([[2000, 2000, 0]], dtype="uint16")
    nir = np.array([[5000, 5000, 5000]], dtype="uint16")
    scl = np.array([[4, 9, 4]], dtype="uint8")
    out = ndvi_block(red, nir, scl)
    # (0.4 - 0.1) / (0.4 + 0.1) = 0.6; cloud (9) and nodata DN 0 masked
    np.testing.assert_allclose(out[0, 0], 0.6, rtol=1e-6)
    assert np.isnan(out[0, 1]) and np.isnan(out[0, 2])


def test_floor_writes_the_cloud_masked_mean(two_dates, tmp_path: Path) -> None:
    acqs, expected = two_dates
    blocks = []
    stats = run_floor(
        acqs, [], tmp_path / "out", n_outputs=3, threads=2, on_block=lambda: blocks.append(1)
    )
    # 600x520 at 10 m: 2 x 2 blocks of 512; red+nir 600*520 each, SCL 300*260, per date
    assert len(blocks) == 4
    assert stats.pixels_read == 2 * (2 * 600 * 520 + 300 * 260)
    outputs = sorted((tmp_path / "out").glob("*.tif"))
    assert len(outputs) == 3
    for path in outputs:
        with rasterio.open(path) as src:
            np.testing.assert_allclose(src.read(1), expected, atol=1e-6)
            assert src.overviews(1) == [2, 4, 8, 16]


def test_peer_agrees_with_the_floor(two_dates, tmp_path: Path) -> None:
    acqs, expected = two_dates
    out = tmp_path / "peer.tif"
    pixels = ndvi_season_mean(acqs, out)
    assert pixels == 2 * (2 * 600 * 520 + 300 * 260)
    with rasterio.open(out) as src:
        np.testing.assert_allclose(src.read(1), expected, atol=1e-6)
