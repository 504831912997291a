"""Terrain features from a DEM on the analysis grid (pure numpy, metres)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

#: window of the relative elevation (topographic position index), metres. Cold-air pools
#: form in valley bottoms a few hundred metres across (Lindkvist et al. 2000, Geogr. Ann. 82A).
TPI_RADIUS_M = 300.0


def slope_degrees(dem: NDArray, resolution_m: float) -> NDArray:
    """Slope in degrees by Horn's (1981) 3x3 finite differences (as GDAL ``gdaldem slope``)."""
    z = np.asarray(dem, dtype="float64")
    p = np.pad(z, 1, mode="edge")
    a, b, c = p[:-2, :-2], p[:-2, 1:-1], p[:-2, 2:]
    d, f = p[1:-1, :-2], p[1:-1, 2:]
    g, h, i = p[2:, :-2], p[2:, 1:-1], p[2:, 2:]
    dzdx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8 * resolution_m)
    dzdy = ((g + 2 * h + i) - (a + 2 * b + c)) / (8 * resolution_m)
    return np.degrees(np.arctan(np.hypot(dzdx, dzdy))).astype("float32")


def relative_elevation(dem: NDArray, resolution_m: float, radius_m: float = TPI_RADIUS_M) -> NDArray:
    """Elevation minus the mean elevation within a square window of ``radius_m`` (TPI, Weiss 2001), metres.

    Negative in valley bottoms (cold-air pools), positive on ridges and slopes.
    """
    z = np.asarray(dem, dtype="float64")
    size = max(3, int(round(2 * radius_m / resolution_m)) | 1)
    nan = np.isnan(z)
    filled = np.where(nan, 0.0, z)
    weight = ndimage.uniform_filter((~nan).astype("float64"), size=size, mode="nearest")
    total = ndimage.uniform_filter(filled, size=size, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / weight
    return np.where(nan, np.nan, z - mean).astype("float32")


def halo_pixels(resolution_m: float, radius_m: float = TPI_RADIUS_M) -> int:
    """Overlap (pixels) a block needs so that :func:`relative_elevation` is exact inside it."""
    return int(round(radius_m / resolution_m)) + 2
