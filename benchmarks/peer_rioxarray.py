"""The peer: the season-NDVI script a competent analyst writes with rioxarray and dask defaults.

Open each band lazily (``rioxarray.open_rasterio(path, chunks=True)``: dask's
automatic chunks and rioxarray's default read lock), mask clouds with SCL,
compute NDVI per date, average over time and write with ``rio.to_raster``
the way the rioxarray documentation shows for dask arrays (``tiled=True``
and a ``threading.Lock``), on dask's default threaded scheduler.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import rioxarray
import xarray as xr

from benchmarks.floor import SCL_MASKED, Acquisition


def _band(path: Path, *, masked: bool) -> xr.DataArray:
    """One single-band COG, lazily, with rioxarray's defaults (automatic chunks, default lock)."""
    with warnings.catch_warnings():
        # rioxarray's own deprecation notice about how it passes chunks to xarray; not the analyst's doing
        warnings.simplefilter("ignore", FutureWarning)
        opened = rioxarray.open_rasterio(path, chunks=True, masked=masked)
    if not isinstance(opened, xr.DataArray):
        raise TypeError(f"{path}: expected a single raster, got {type(opened).__name__}")
    return opened.squeeze("band", drop=True)


def ndvi_season_mean(acquisitions: Sequence[Acquisition], out_path: Path) -> int:
    """Write the cloud-masked season-mean NDVI to ``out_path``; return the input pixels opened."""
    ndvis: list[xr.DataArray] = []
    pixels = 0
    for acq in acquisitions:
        red = _band(acq.bands["B04"], masked=True)
        nir = _band(acq.bands["B08"], masked=True)
        scl = _band(acq.bands["SCL"], masked=False).reindex_like(red, method="nearest")
        pixels += red.size + nir.size + scl.size // 4
        red = (red - 1000) / 10000
        nir = (nir - 1000) / 10000
        ndvi = ((nir - red) / (nir + red)).where(~scl.isin(SCL_MASKED.tolist()))
        ndvis.append(ndvi)
    mean = xr.concat(ndvis, dim="time").mean("time").astype("float32")
    mean.rio.write_nodata(float("nan"), encoded=False, inplace=True)
    mean.rio.to_raster(out_path, tiled=True, compress="deflate", lock=threading.Lock())
    return int(pixels)
