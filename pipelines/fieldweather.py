"""Daily weather per field, and the season's agro-climatic features per field (xclim via models.agroclimate).

The weather grid is coarse (ERA5-Land 0.1 deg, about 10 km): it stays on its
own grid until it is needed at a field, where it is interpolated bilinearly at
the field's centroid (nearest cell when the grid has a single row or column).
A ``(time, field)`` series of 30+ years for every field of a large region is
gigabytes, so it is never built for all fields at once: :class:`FieldWeather`
keeps the small gridded weather in memory and interpolates it for one batch of
:data:`FIELD_BATCH` fields and only the period a step needs; every per-field
step is independent between fields, so batching does not change any value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from models import agroclimate
from models.crops import get_crop

#: SPI calibration needs at least this many full years of baseline precipitation (WMO-No. 1090).
MIN_SPI_YEARS = 20
#: heat-day threshold (°C, Tmax): heat-stress onset of cereals (Porter & Gawith 1999), the default of
#: :func:`models.agroclimate.hot_days`.
HEAT_DAY_TMAX = "30 degC"
FROST_DAY_TMIN = "0 degC"
#: fields whose daily weather is held at once: 36 years x 256 fields x 7 variables x 8 B = 188 MiB at most.
FIELD_BATCH = 256


def field_batches(ids: Sequence[str], batch: int | None = None) -> list[list[str]]:
    """``ids`` in consecutive batches of at most ``batch`` (default :data:`FIELD_BATCH`) fields, order kept."""
    size = batch or FIELD_BATCH
    ids = list(ids)
    return [ids[i:i + size] for i in range(0, len(ids), size)]


@dataclass(frozen=True)
class FieldWeather:
    """Daily weather at the fields on demand: the gridded weather (in memory) and each field's lon/lat."""

    grid: xr.Dataset  # (time, latitude, longitude), loaded
    lon: pd.Series  # degrees east, index field_id
    lat: pd.Series  # degrees north, index field_id

    @classmethod
    def from_grid(cls, weather: xr.Dataset, lon: Sequence[float], lat: Sequence[float],
                  field_ids: Sequence[str]) -> FieldWeather:
        index = pd.Index([str(f) for f in field_ids], name="field_id")
        return cls(weather.load(), pd.Series(np.asarray(lon, dtype="float64"), index=index),
                   pd.Series(np.asarray(lat, dtype="float64"), index=index))

    @property
    def ids(self) -> list[str]:
        return list(self.lon.index)

    @property
    def time(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.grid["time"].values)

    def at(self, ids: Sequence[str], *, variables: Sequence[str] | None = None,
           start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> xr.Dataset:
        """:func:`at_fields` for the fields ``ids``, optionally only ``variables`` and days ``start``..``end``."""
        grid = self.grid if variables is None else self.grid[list(variables)]
        if start is not None or end is not None:
            grid = grid.sel(time=slice(start, end))
        ids = [str(f) for f in ids]
        return at_fields(grid, self.lon.loc[ids].to_numpy(), self.lat.loc[ids].to_numpy(), ids)


def at_fields(weather: xr.Dataset, lon: np.ndarray, lat: np.ndarray, field_ids: list[str]) -> xr.Dataset:
    """Weather at field centroids: dims ``(time, field)``; variables keep their attributes (units)."""
    lon_da = xr.DataArray(np.asarray(lon, dtype="float64"), dims="field")
    lat_da = xr.DataArray(np.asarray(lat, dtype="float64"), dims="field")
    ds = weather.drop_vars(["spatial_ref"], errors="ignore")
    nearest = ds.sel(longitude=lon_da, latitude=lat_da, method="nearest")
    if ds.sizes.get("longitude", 1) > 1 and ds.sizes.get("latitude", 1) > 1:
        linear = ds.interp(longitude=lon_da, latitude=lat_da, method="linear")
        out = linear.fillna(nearest)  # a centroid outside the cell centres' hull keeps the nearest cell
    else:
        out = nearest
    for name in out.data_vars:
        out[name].attrs = dict(weather[name].attrs)
    out = out.drop_vars(["longitude", "latitude"], errors="ignore").assign_coords(field=list(field_ids))
    return out.transpose("time", "field")


def _window_mask(time: pd.DatetimeIndex, lo: pd.Series, hi: pd.Series, fields: list[str]) -> xr.DataArray:
    t = time.values[:, None]
    lo_v = lo.reindex(fields).values.astype("datetime64[ns]")[None, :]
    hi_v = hi.reindex(fields).values.astype("datetime64[ns]")[None, :]
    return xr.DataArray((t >= lo_v) & (t <= hi_v), dims=("time", "field"), coords={"field": fields})


def _season_total(index: xr.DataArray) -> xr.DataArray:
    """Sum a per-year xclim result over its years (a season may straddle New Year)."""
    return index.sum("time", min_count=1)


def season_features(
    fw: xr.Dataset, crops: pd.Series, start: pd.Series, end: pd.Series
) -> pd.DataFrame:
    """Per field: GDD above the crop's base (°C·d), precipitation (mm), frost and heat days, mean Tmax (°C).

    Each field's window is ``[start, end]`` (e.g. sowing to the cut-off date);
    days outside it are masked before the xclim indices are computed.
    """
    fields = [str(f) for f in fw["field"].values]
    time = pd.DatetimeIndex(fw["time"].values)
    inside = _window_mask(time, start, end, fields)
    masked = fw.where(inside)
    for name in fw.data_vars:
        masked[name].attrs = dict(fw[name].attrs)
    out = pd.DataFrame(index=pd.Index(fields, name="field_id"))
    gdd = pd.Series(np.nan, index=out.index)
    field_crops = crops.reindex(fields)
    for crop in field_crops.dropna().unique():
        ids = list(field_crops.index[field_crops == crop])
        base = get_crop(crop).t_base
        tas = masked["tas"] if "tas" in masked else (masked["tasmin"] + masked["tasmax"]) / 2
        tas.attrs["units"] = masked["tasmin"].attrs["units"]
        value = _season_total(agroclimate.growing_degree_days(tas.sel(field=ids), thresh=base))
        gdd[ids] = value.values
    out["gdd"] = gdd
    out["precip_mm"] = _season_total(agroclimate.precipitation_sum(masked["pr"])).values
    out["frost_days"] = _season_total(agroclimate.frost_days(masked["tasmin"], thresh=FROST_DAY_TMIN)).values
    out["heat_days"] = _season_total(agroclimate.hot_days(masked["tasmax"], thresh=HEAT_DAY_TMAX)).values
    tmax_c = masked["tasmax"] - 273.15 if masked["tasmax"].attrs.get("units") == "K" else masked["tasmax"]
    out["tmax_mean"] = tmax_c.mean("time", skipna=True).values
    return out


def spi_monthly(weather: FieldWeather, months: int, baseline: tuple[str, str]) -> xr.DataArray | None:
    """Monthly SPI-``months`` ``(time, field)`` of every field, computed in field batches (None: baseline too short)."""
    start, end = pd.Timestamp(baseline[0]), pd.Timestamp(baseline[1])
    if (end - start).days < 365 * MIN_SPI_YEARS - 5:
        return None
    parts = [
        agroclimate.spi(weather.at(ids, variables=["pr"])["pr"], months, baseline[0], baseline[1])
        .reset_coords(drop=True).compute()
        for ids in field_batches(weather.ids)
    ]
    return xr.concat(parts, dim="field")


def spi_daily_at(monthly: xr.DataArray | None, time: pd.DatetimeIndex | xr.DataArray,
                 ids: Sequence[str]) -> xr.DataArray | None:
    """Daily SPI of the fields ``ids`` on ``time`` from :func:`spi_monthly` (the last complete month's value)."""
    if monthly is None:
        return None
    return agroclimate.spi_to_daily(monthly.sel(field=[str(f) for f in ids]), time)


def spi_daily(fw: xr.Dataset, months: int, baseline: tuple[str, str]) -> xr.DataArray | None:
    """Daily SPI-``months`` per field from the precipitation series (None without enough baseline years)."""
    start, end = pd.Timestamp(baseline[0]), pd.Timestamp(baseline[1])
    if (end - start).days < 365 * MIN_SPI_YEARS - 5:
        return None
    monthly = agroclimate.spi(fw["pr"], months, baseline[0], baseline[1])
    # xclim attaches fit diagnostics (e.g. number_of_zeros) as coordinates: keep the values only
    daily = agroclimate.spi_to_daily(monthly, fw["time"]).reset_coords(drop=True)
    return daily.compute()
