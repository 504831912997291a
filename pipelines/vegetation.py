"""Lazy vegetation features of one season from the Sentinel-2 Dataset (:func:`geodata.readers.imagery.read_sentinel2`).

Everything stays a dask graph chunked in space with the whole time axis in
each chunk, so each block is computed independently on a worker; the reader's
spatial chunk is chosen from the number of dates
(:func:`pipelines.chunking.spatial_chunk_px`) so such a block fits a task's
memory budget.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from pipelines import spectral, timeseries
from pipelines.calendar import SeasonWindow

#: variable names in the outputs.
SEASON_METRICS = ("ndvi_peak", "ndvi_integral", "ndvi_mean")


def indices(ds: xr.Dataset) -> xr.Dataset:
    """NDVI, EVI and NDMI ``(time, y, x)`` from masked reflectances (B02, B04, B08, B11)."""

    def ufunc(func, *names: str) -> xr.DataArray:
        return xr.apply_ufunc(func, *(ds[n] for n in names), dask="parallelized", output_dtypes=["float32"])

    return xr.Dataset(
        {
            "ndvi": ufunc(spectral.ndvi, "B08", "B04"),
            "evi": ufunc(spectral.evi, "B08", "B04", "B02"),
            "ndmi": ufunc(spectral.ndmi, "B08", "B11"),
        }
    )


def day_numbers(times: np.ndarray, origin: np.datetime64) -> np.ndarray:
    """Days since ``origin`` (float) of datetime64 values."""
    return (np.asarray(times, dtype="datetime64[ns]") - np.asarray(origin, dtype="datetime64[ns]")) / np.timedelta64(
        1, "D"
    )


def smoothed(ndvi: xr.DataArray, window: SeasonWindow) -> xr.DataArray:
    """Gap-filled, Savitzky-Golay-smoothed NDVI on the regular 5-day axis of ``window`` (up to its valid date)."""
    axis = timeseries.regular_axis(np.datetime64(window.start), np.datetime64(window.valid_to))
    origin = np.datetime64(window.start)
    obs = day_numbers(ndvi["time"].values, origin)
    target = day_numbers(axis, origin)

    def _fn(values: np.ndarray) -> np.ndarray:
        # apply_ufunc moves the core dim last; the pure step wants time first
        out = timeseries.smoothed_ndvi(np.moveaxis(values, -1, 0), obs, target)
        return np.moveaxis(out, 0, -1)

    data = ndvi.chunk({"time": -1}) if ndvi.chunks else ndvi
    out = xr.apply_ufunc(
        _fn,
        data,
        input_core_dims=[["time"]],
        output_core_dims=[["step"]],
        dask="parallelized",
        output_dtypes=["float32"],
        dask_gufunc_kwargs={"output_sizes": {"step": len(axis)}},
    )
    return out.assign_coords(step=pd.DatetimeIndex(axis)).rename(step="date").transpose("date", ...)


def season_metrics(smooth: xr.DataArray) -> xr.Dataset:
    """Peak (NDVI), integral (NDVI·day) and mean of a smoothed ``(date, y, x)`` series."""
    days = day_numbers(smooth["date"].values, smooth["date"].values[0])

    def reduce(func, *args) -> xr.DataArray:
        def _fn(values: np.ndarray) -> np.ndarray:
            return func(np.moveaxis(values, -1, 0), *args)

        return xr.apply_ufunc(
            _fn, smooth, input_core_dims=[["date"]], dask="parallelized", output_dtypes=["float32"]
        )

    return xr.Dataset(
        {
            "ndvi_peak": reduce(timeseries.season_peak),
            "ndvi_integral": reduce(timeseries.season_integral, days),
            "ndvi_mean": reduce(timeseries.season_mean),
        }
    )
