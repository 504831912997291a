"""Helpers for the benchmark tests: tiny Sentinel-2-like inputs with hand-known NDVI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from benchmarks.floor import Acquisition

CRS = "EPSG:32648"


def write_band(path: Path, data: np.ndarray, pixel: float, nodata: int | None = 0) -> Path:
    """A tiled uint16/uint8 GeoTIFF like the L2A COGs (DEFLATE, 256 px blocks for tiny rasters)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": str(data.dtype),
        "crs": CRS,
        "transform": Affine(pixel, 0, 500_000, 0, -pixel, 4_000_000),
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


@pytest.fixture()
def two_dates(tmp_path: Path) -> tuple[list[Acquisition], np.ndarray]:
    """Two 600x520 px dates (10 m red/nir, 20 m SCL) and the expected cloud-masked mean NDVI.

    Date 1: red DN 2000, nir DN 5000 everywhere -> reflectance 0.1 / 0.4 -> NDVI 0.6.
    Date 2: red DN 1500, nir DN 3000 -> 0.05 / 0.2 -> NDVI 0.6, except the left half,
    where nir DN 1500 -> 0.05 / 0.05 -> NDVI 0.0; SCL marks the top 100 rows (20 m: 50)
    of date 2 as cloud (9), so there only date 1 counts.
    """
    h, w = 600, 520
    acqs = []
    red1, nir1 = np.full((h, w), 2000, "uint16"), np.full((h, w), 5000, "uint16")
    red2, nir2 = np.full((h, w), 1500, "uint16"), np.full((h, w), 3000, "uint16")
    nir2[:, : w // 2] = 1500
    scl1 = np.full((h // 2, w // 2), 4, "uint8")
    scl2 = scl1.copy()
    scl2[:50, :] = 9
    for i, (red, nir, scl) in enumerate(((red1, nir1, scl1), (red2, nir2, scl2))):
        day = tmp_path / "sentinel2" / "2026" / f"2026060{i + 1}"
        acqs.append(
            Acquisition(
                {
                    "B04": write_band(day / "B04.tif", red, 10.0),
                    "B08": write_band(day / "B08.tif", nir, 10.0),
                    "SCL": write_band(day / "SCL.tif", scl, 20.0),
                }
            )
        )
    expected = np.full((h, w), 0.6, "float32")
    expected[100:, : w // 2] = 0.3  # mean of 0.6 and 0.0 where date 2 is clear
    return acqs, expected
