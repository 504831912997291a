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
from scipy import sparse

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
    """Daily weather at the fields on demand: the gridded weather (in memory) and each field's lon/lat.

    The interpolation weights of every field (bilinear between the four surrounding cell centres, the
    nearest cell outside their hull or on a one-row/column grid) are computed once, so the weather of a
    batch of fields is one sparse matrix product per variable.
    """

    grid: xr.Dataset  # (time, latitude, longitude), loaded
    lon: pd.Series  # degrees east, index field_id
    lat: pd.Series  # degrees north, index field_id
    weights: sparse.csr_matrix  # (fields, latitude x longitude cells), rows in the order of ``lon``
    nearest: np.ndarray  # (fields,) flat index of the nearest cell

    @classmethod
    def from_grid(cls, weather: xr.Dataset, lon: Sequence[float] | np.ndarray, lat: Sequence[float] | np.ndarray,
                  field_ids: Sequence[str]) -> FieldWeather:
        index = pd.Index([str(f) for f in field_ids], name="field_id")
        lon_v, lat_v = np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64")
        grid = weather.load()
        weights, nearest = interpolation_weights(grid["longitude"].values, grid["latitude"].values, lon_v, lat_v)
        return cls(grid, pd.Series(lon_v, index=index), pd.Series(lat_v, index=index), weights, nearest)

    @property
    def ids(self) -> list[str]:
        return list(self.lon.index)

    @property
    def time(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.grid["time"].values)

    def at(self, ids: Sequence[str], *, variables: Sequence[str] | None = None,
           start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> xr.Dataset:
        """Weather at the fields ``ids``: dims ``(time, field)``, optionally only ``variables`` and days ``start``..``end``.

        Variables keep their attributes (units).
        """
        grid = self.grid if variables is None else self.grid[list(variables)]
        if start is not None or end is not None:
            grid = grid.sel(time=slice(start, end))
        ids = [str(f) for f in ids]
        rows = self.lon.index.get_indexer(ids)
        if (rows < 0).any():
            missing = [f for f, r in zip(ids, rows, strict=True) if r < 0]
            raise KeyError(f"fields without weather weights: {missing[:5]}")
        weights, nearest = self.weights[rows], self.nearest[rows]
        data = {}
        for name, var in grid.data_vars.items():
            if set(var.dims) != {"time", "latitude", "longitude"}:
                continue
            cells = var.transpose("time", "latitude", "longitude").values.reshape(var.sizes["time"], -1)
            cells = cells.astype("float64")
            values = (weights @ cells.T).T  # (time, fields)
            # a cell centre with no value (e.g. sea) among the four: the nearest cell, as on the grid's edge
            values = np.where(np.isnan(values), cells[:, nearest], values)
            data[name] = xr.DataArray(values, dims=("time", "field"), attrs=dict(var.attrs))
        return xr.Dataset(data, coords={"time": grid["time"].values, "field": ids})


def interpolation_weights(
    lon_axis: np.ndarray, lat_axis: np.ndarray, lon: np.ndarray, lat: np.ndarray
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Bilinear weights of points over the cells of a (latitude, longitude) grid, and each point's nearest cell.

    Cells are numbered in C order of ``(latitude, longitude)``. A point outside the hull of the cell
    centres, or on a grid of one row or column, takes its nearest cell with weight 1.
    """
    n_lon = len(lon_axis)
    i_lat, j_lat, w_lat, in_lat, near_lat = _axis_weights(np.asarray(lat_axis, dtype="float64"), lat)
    i_lon, j_lon, w_lon, in_lon, near_lon = _axis_weights(np.asarray(lon_axis, dtype="float64"), lon)
    nearest = near_lat * n_lon + near_lon
    bilinear = in_lat & in_lon
    rows, cols, vals = [], [], []
    for a, wa in ((i_lat, 1 - w_lat), (j_lat, w_lat)):
        for b, wb in ((i_lon, 1 - w_lon), (j_lon, w_lon)):
            rows.append(np.flatnonzero(bilinear))
            cols.append((a * n_lon + b)[bilinear])
            vals.append((wa * wb)[bilinear])
    rows.append(np.flatnonzero(~bilinear))
    cols.append(nearest[~bilinear])
    vals.append(np.ones(int((~bilinear).sum())))
    matrix = sparse.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(lon), len(lat_axis) * n_lon),
    ).tocsr()  # duplicate entries (a point on a cell centre) are summed
    matrix.eliminate_zeros()
    return matrix, nearest


def _axis_weights(axis: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per point: left and right neighbour index, weight of the right one, inside the axis range, nearest index."""
    x = np.asarray(x, dtype="float64")
    nearest = np.abs(axis[None, :] - x[:, None]).argmin(axis=1)
    if len(axis) < 2:
        zeros = np.zeros(len(x), dtype=int)
        return zeros, zeros, np.zeros(len(x)), np.zeros(len(x), dtype=bool), nearest
    order = np.argsort(axis)
    ordered = axis[order]
    pos = (np.searchsorted(ordered, x, side="right") - 1).clip(0, len(axis) - 2)
    weight = (x - ordered[pos]) / (ordered[pos + 1] - ordered[pos])
    inside = (x >= ordered[0]) & (x <= ordered[-1])
    return order[pos], order[pos + 1], weight.clip(0, 1), inside, nearest


def at_fields(weather: xr.Dataset, lon: np.ndarray, lat: np.ndarray, field_ids: list[str]) -> xr.Dataset:
    """Weather at field centroids: dims ``(time, field)``; variables keep their attributes (units)."""
    return FieldWeather.from_grid(weather, lon, lat, field_ids).at(field_ids)


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
    """Monthly SPI-``months`` ``(time, field)`` of every field (None: baseline too short).

    SPI is computed on the weather grid itself, once per cell (as gridded SPI products are), then
    interpolated to each field like the daily weather (:func:`at_fields`): the gamma fits cost a
    few cells instead of one per field, so the cost no longer grows with the number of fields.
    """
    start, end = pd.Timestamp(baseline[0]), pd.Timestamp(baseline[1])
    if (end - start).days < 365 * MIN_SPI_YEARS - 5:
        return None
    cells = agroclimate.spi(weather.grid["pr"], months, baseline[0], baseline[1])
    # xclim attaches fit diagnostics (e.g. number_of_zeros) as coordinates: keep the values only
    grid = cells.reset_coords(drop=True).compute().to_dataset(name="spi")
    grid["spi"].attrs = dict(cells.attrs)
    ids = weather.ids
    return at_fields(grid, weather.lon.loc[ids].to_numpy(), weather.lat.loc[ids].to_numpy(), ids)["spi"]


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
