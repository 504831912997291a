"""Spectral vegetation and moisture indices from surface reflectance (pure numpy).

Inputs are L2A surface reflectance in [0, 1] (offset already removed); NaN
where masked. Works on numpy and, through xarray/dask, block by block.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _ratio(num: NDArray, den: NDArray) -> NDArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(np.isfinite(out), out, np.nan)


def ndvi(nir: ArrayLike, red: ArrayLike) -> NDArray:
    """NDVI = (NIR - red) / (NIR + red), unitless in [-1, 1] (Rouse et al. 1974; S2 B08, B04)."""
    nir, red = np.asarray(nir, dtype="float32"), np.asarray(red, dtype="float32")
    return np.clip(_ratio(nir - red, nir + red), -1, 1).astype("float32")


def evi(nir: ArrayLike, red: ArrayLike, blue: ArrayLike) -> NDArray:
    """EVI = 2.5 (NIR - red) / (NIR + 6 red - 7.5 blue + 1) (Huete et al. 2002, MODIS ATBD).

    Clipped to [-1, 1]: values outside come from bright or noisy pixels.
    """
    nir, red, blue = (np.asarray(a, dtype="float32") for a in (nir, red, blue))
    return np.clip(_ratio(2.5 * (nir - red), nir + 6.0 * red - 7.5 * blue + 1.0), -1, 1).astype("float32")


def ndmi(nir: ArrayLike, swir1: ArrayLike) -> NDArray:
    """NDMI = (NIR - SWIR1) / (NIR + SWIR1) (Gao 1996 "NDWI"; S2 B08, B11), canopy water content."""
    nir, swir1 = np.asarray(nir, dtype="float32"), np.asarray(swir1, dtype="float32")
    return np.clip(_ratio(nir - swir1, nir + swir1), -1, 1).astype("float32")
