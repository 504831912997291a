"""Per-field features of a season at a cut-off date: the table the yield model is trained and applied on.

For each field and cut-off (e.g. 30/60/90 days after sowing, or the end of
the season) only data dated on or before the cut-off are used:

* NDVI: the field's mean observed NDVI per acquisition (cloud-masked), gap
  filled and Savitzky-Golay smoothed (:mod:`pipelines.timeseries`), then peak,
  integral and mean from sowing to the cut-off;
* VHI (Kogan 1995): VCI of the field's mean NDVI and TCI of its mean daily
  Tmax over the same window, against the same window in the other years;
* weather (xclim via :mod:`models.agroclimate`): GDD above the crop's base,
  precipitation, frost and heat days, SPI-3 on the cut-off date;
* static: soil (SoilGrids) and terrain means per field.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from pipelines import condition, fieldweather, timeseries

#: lead times of the in-season yield models (:mod:`models.yield_model`): days after sowing, "end" = end of season.
LEADS: tuple[str, ...] = ("30d", "60d", "90d", "end")
LEAD_DAYS: dict[str, int] = {"30d": 30, "60d": 60, "90d": 90}

NDVI_FEATURES = ("ndvi_peak", "ndvi_integral", "ndvi_mean")
WEATHER_FEATURES = ("gdd", "precip_mm", "frost_days", "heat_days", "tmax_mean", "spi3")
STATIC_FEATURES = ("awc", "clay", "sand", "soc", "phh2o", "slope", "rel_elev")


def cutoffs(sowing: pd.Series, ends: pd.Series, lead: str, as_of: pd.Timestamp | None = None) -> pd.Series:
    """Cut-off date per field for ``lead`` (``"30d"`` ... or ``"end"``), never after ``as_of``."""
    if lead == "end":
        out = ends.copy()
    else:
        out = pd.concat([sowing + pd.Timedelta(days=LEAD_DAYS[lead]), ends], axis=1).min(axis=1)
    if as_of is not None:
        out = out.clip(upper=as_of)
    return out.rename("cutoff")


def lead_for(sowing: pd.Series, ends: pd.Series, as_of: pd.Timestamp | None) -> pd.Series:
    """The longest lead each field has reached by ``as_of`` ("end" once its season is over); None before 30 days."""
    out = pd.Series("end", index=sowing.index, dtype=object)
    if as_of is None:
        return out
    days = (as_of - sowing).dt.days
    out[:] = None
    for lead, n in LEAD_DAYS.items():
        out[days >= n] = lead
    out[as_of >= ends] = "end"
    return out


def ndvi_features(
    obs: pd.DataFrame, origin: pd.Timestamp, lo: pd.Series, hi: pd.Series
) -> pd.DataFrame:
    """NDVI peak, integral (NDVI·d) and mean per field from sowing (``lo``) to cut-off (``hi``).

    ``obs`` holds observed field means: index acquisition dates, one column per field.
    Observations after a field's cut-off are dropped before smoothing.
    """
    fields = list(obs.columns)
    lo, hi = lo.reindex(fields), hi.reindex(fields)
    dates = pd.DatetimeIndex(obs.index)
    values = obs.to_numpy(dtype="float32").copy()
    values[dates.values[:, None] > hi.values.astype("datetime64[ns]")[None, :]] = np.nan
    axis = timeseries.regular_axis(np.datetime64(origin.date()), np.datetime64(hi.max().date()))
    day = lambda t: (np.asarray(t, dtype="datetime64[ns]") - np.datetime64(origin, "ns")) / np.timedelta64(1, "D")  # noqa: E731
    smooth = timeseries.smoothed_ndvi(values, day(dates.values), day(axis))
    metrics = timeseries.windowed_metrics(smooth, day(axis), day(lo.values), day(hi.values))
    return pd.DataFrame(metrics.T, index=pd.Index(fields, name="field_id"), columns=list(NDVI_FEATURES))


def vhi_from_history(
    ndvi_mean: pd.Series, ndvi_history: pd.DataFrame, tmax_mean: pd.Series, tmax_history: pd.DataFrame
) -> pd.Series:
    """Per-field VHI (0-100): ``*_history`` hold one row per other year, one column per field."""
    fields = ndvi_mean.index
    vci = condition.vci(ndvi_mean.to_numpy(), ndvi_history.reindex(columns=fields).to_numpy())
    tci = condition.tci(tmax_mean.to_numpy(), tmax_history.reindex(columns=fields).to_numpy())
    return pd.Series(condition.vhi(vci, tci), index=fields, name="vhi")


def weather_features(
    fw: xr.Dataset,
    crops: pd.Series,
    lo: pd.Series,
    hi: pd.Series,
    spi3: xr.DataArray | None,
) -> pd.DataFrame:
    """GDD, precipitation, frost/heat days and mean Tmax from ``lo`` to ``hi``; SPI-3 on ``hi``."""
    table = fieldweather.season_features(fw, crops, lo, hi)
    if spi3 is not None:
        at = spi3.sel(time=xr.DataArray(hi.reindex(table.index).values.astype("datetime64[ns]"), dims="field"),
                      field=xr.DataArray(list(table.index), dims="field"), method="nearest")
        table["spi3"] = np.asarray(at.values, dtype="float64")
    else:
        table["spi3"] = np.nan
    return table


def shift_years(dates: pd.Series, years: int) -> pd.Series:
    """The same month/day ``years`` later (29 Feb -> 28 Feb)."""
    def move(ts: pd.Timestamp) -> pd.Timestamp:
        try:
            return ts.replace(year=ts.year + years)
        except ValueError:
            return ts.replace(year=ts.year + years, day=28)

    return dates.map(move)


def tmax_history(
    fw_all: xr.Dataset, lo: pd.Series, hi: pd.Series, season: int, years: list[int],
    span: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """Mean daily Tmax (°C) per field over the same calendar window in each of ``years``.

    ``lo``/``hi`` are the windows of the fields to compute (of ``fw_all``). A year is used when the
    windows of *all* fields lie within the weather series: ``span`` is their earliest start and latest
    end (default: those of ``lo``/``hi``), so a batch of fields gets the rows of the whole set.
    """
    ids = list(lo.index)
    span_lo, span_hi = span if span is not None else (lo.min(), hi.max())
    rows = {}
    tmax = fw_all["tasmax"]
    offset = 273.15 if tmax.attrs.get("units") == "K" else 0.0
    t = pd.DatetimeIndex(fw_all["time"].values)
    values = tmax.sel(field=ids).values
    for year in years:
        if year == season:
            continue
        first, last = shift_years(pd.Series([span_lo, span_hi]), year - season)
        if last > t[-1] or first < t[0]:
            continue
        a, b = shift_years(lo, year - season), shift_years(hi, year - season)
        days = (t >= first) & (t <= last)  # days outside every window are skipped
        mask = (t.values[days][:, None] >= a.values.astype("datetime64[ns]")[None]) & (
            t.values[days][:, None] <= b.values.astype("datetime64[ns]")[None]
        )
        with np.errstate(invalid="ignore"):
            rows[year] = np.nanmean(np.where(mask, values[days], np.nan), axis=0) - offset
    return pd.DataFrame(rows, index=lo.index).T


def assemble(parts: Mapping[str, pd.DataFrame | pd.Series]) -> pd.DataFrame:
    """Join feature blocks on ``field_id``."""
    frames = [p.to_frame() if isinstance(p, pd.Series) else p for p in parts.values()]
    return pd.concat(frames, axis=1)
