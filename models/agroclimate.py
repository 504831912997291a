"""Agro-climatic indices on daily xarray series (any spatial dims), computed with xclim.

Each function checks the units of its inputs (xclim's ``declare_units`` does), accepts
thresholds as quantities with units (``"10 degC"``) and works unchanged on numpy- or
dask-backed arrays. ``freq`` follows pandas offsets (``"YS"`` per year, ``"MS"`` per month,
``"YS-APR"`` for a season starting in April).

Sources: xclim (Bourgault et al. 2023, *JOSS* 8(85):5415); SPI: McKee, Doesken & Kleist (1993)
and WMO-No. 1090 (2012) *Standardized Precipitation Index User Guide*; China's meteorological
drought grades on SPI: GB/T 20481-2017 气象干旱等级; corn heat units: Bootsma et al. (1999),
Ontario Ministry of Agriculture.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
import xclim.indices as xci

from models.errors import ModelInputError
from models.units import Quantity, require_dim


def growing_degree_days(tas: xr.DataArray, thresh: Quantity = "0 degC", freq: str = "YS") -> xr.DataArray:
    """Sum of (Tmean - thresh) over days with Tmean > thresh, in K d (= °C·d), per ``freq``."""
    require_dim(tas, "time", "tas")
    return xci.growing_degree_days(tas, thresh=_q(thresh), freq=freq)


def frost_days(tasmin: xr.DataArray, thresh: Quantity = "0 degC", freq: str = "YS") -> xr.DataArray:
    """Number of days with Tmin < thresh per ``freq``."""
    require_dim(tasmin, "time", "tasmin")
    return xci.frost_days(tasmin, thresh=_q(thresh), freq=freq)


def hot_days(tasmax: xr.DataArray, thresh: Quantity = "30 degC", freq: str = "YS") -> xr.DataArray:
    """Number of days with Tmax > thresh per ``freq`` (30 °C: heat-stress onset of cereals)."""
    require_dim(tasmax, "time", "tasmax")
    return xci.tx_days_above(tasmax, thresh=_q(thresh), freq=freq)


def precipitation_sum(pr: xr.DataArray, freq: str = "YS") -> xr.DataArray:
    """Total precipitation per ``freq`` in mm (from a daily flux in kg m-2 s-1, mm/d, ...)."""
    require_dim(pr, "time", "pr")
    out = xci.precip_accumulation(pr, freq=freq)
    from xclim.core.units import convert_units_to

    return convert_units_to(out, "mm", context="hydro")


def corn_heat_units(tasmin: xr.DataArray, tasmax: xr.DataArray) -> xr.DataArray:
    """Daily corn heat units (Bootsma et al. 1999), a maize-specific thermal time."""
    require_dim(tasmin, "time", "tasmin")
    return xci.corn_heat_units(tasmin, tasmax)


def spi(pr: xr.DataArray, months: int, cal_start: str, cal_end: str, dist: str = "gamma") -> xr.DataArray:
    """Monthly Standardized Precipitation Index over ``months`` months (SPI-1, SPI-3 ...).

    The gamma distribution is fitted per calendar month with Thom's (1958) closed-form
    maximum-likelihood approximation (``method="APP"``, the estimator of McKee et al. 1993 and
    the WMO guide; deterministic, so chunked and eager runs agree exactly), on the calibration years
    ``cal_start``..``cal_end`` (ISO dates, the baseline years; WMO recommends >= 30 years,
    at least 20 are needed for a stable fit). ``pr`` is daily; the time dimension is rechunked
    to one chunk as xclim requires. Result on month starts (``MS``), unitless.
    """
    require_dim(pr, "time", "pr")
    if months < 1:
        raise ModelInputError("SPI window must be >= 1 month", field="months", got=months)
    times = pd.DatetimeIndex(pr["time"].values)
    start, end = pd.Timestamp(cal_start), pd.Timestamp(cal_end)
    if start < times[0] or end > times[-1] or end <= start:
        raise ModelInputError("calibration period outside the precipitation series", field="cal_start/cal_end",
                              expected=f"within {times[0].date()}..{times[-1].date()}", got=(cal_start, cal_end))
    if pr.chunks is not None:
        pr = pr.chunk({"time": -1})
    out = xci.standardized_precipitation_index(
        pr, freq="MS", window=months, dist=dist, method="APP", fitkwargs={"floc": 0},
        cal_start=cal_start, cal_end=cal_end,
    )
    out.attrs["long_name"] = f"SPI-{months}"
    return out


def spi_to_daily(spi_monthly: xr.DataArray, time: xr.DataArray | pd.DatetimeIndex) -> xr.DataArray:
    """Daily series holding, on each day, the SPI of the last *complete* month before it.

    A month's SPI is only known once the month is over, so a day in July gets June's value:
    an in-season (as-of) run never uses precipitation that has not yet fallen.
    """
    require_dim(spi_monthly, "time", "spi")
    days = pd.DatetimeIndex(time.values if isinstance(time, xr.DataArray) else time)
    prev = (days.to_period("M") - 1).to_timestamp()
    values = spi_monthly.reindex(time=prev.values)
    values = values.assign_coords(time=days.values)
    values.attrs = dict(spi_monthly.attrs)
    return values


def drought_grade(spi_value) -> np.ndarray:
    """GB/T 20481-2017 meteorological drought grade from SPI: 0 none, 1 light, 2 moderate, 3 severe, 4 extreme.

    Grades: SPI > -0.5 none; (-1.0, -0.5] light 轻旱; (-1.5, -1.0] moderate 中旱;
    (-2.0, -1.5] severe 重旱; <= -2.0 extreme 特旱.
    """
    s = np.asarray(spi_value, dtype="float64")
    grade = (s <= -0.5).astype("int8") + (s <= -1.0) + (s <= -1.5) + (s <= -2.0)
    return np.where(np.isnan(s), 0, grade).astype("int8")


def _q(value: Quantity) -> str:
    """A threshold as xclim wants it (a string with units); bare numbers are taken as °C."""
    return value if isinstance(value, str) else f"{value} degC"
