"""Heavy rain / waterlogging (暴雨渍涝): daily rain against China's rainstorm categories, worse on flat low ground.

Rain categories for 24 h totals, GB/T 28592-2012 降水量等级: 大雨 heavy rain 25.0-49.9 mm,
暴雨 rainstorm >= 50 mm, 大暴雨 heavy rainstorm >= 100 mm, 特大暴雨 extraordinary rainstorm
>= 250 mm. The rain hazard is piecewise linear through these anchors::

    mm      25    50    100   250
    hazard  0.0   0.4   0.7   1.0

Terrain susceptibility (water collects where the ground is flat and lower than its
surroundings, the idea behind the topographic wetness index of Beven & Kirkby 1979)::

    flatness = clip(1 - slope / 5°, 0, 1)       (5° ≈ 9 %: "moderately sloping" and steeper
                                                 drain freely; FAO 2006 Guidelines for soil
                                                 description, slope classes)
    lowness  = clip(0.5 - rel_elev / 40 m, 0, 1) (0.5 on the local mean, 1 at 20 m below it)
    factor   = 0.5 + 0.5 * flatness * lowness   (steep or high ground keeps half the hazard)

Daily risk = hazard x factor on days inside the crop's season (sowing to maturity).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from models.risk._common import finish, trigger
from models.units import Quantity, magnitude, to_units

RAIN_ANCHORS_MM = (25.0, 50.0, 100.0, 250.0)
RAIN_HAZARD = (0.0, 0.4, 0.7, 1.0)
RAINSTORM_MM = 50.0
FLAT_SLOPE: Quantity = "5 deg"
LOW_RELIEF: Quantity = "20 m"


def rainstorm_category(pr_mm):
    """GB/T 28592-2012 category of a 24 h total (mm): 0 below 50, 1 暴雨, 2 大暴雨 (>=100), 3 特大暴雨 (>=250)."""
    p = np.asarray(pr_mm, dtype="float64")
    cat = (p >= 50.0).astype("int8") + (p >= 100.0) + (p >= 250.0)
    return cat.astype("int8")


def rain_hazard(pr_mm):
    """Hazard in [0, 1] of a 24 h total (mm), piecewise linear through the GB/T 28592-2012 anchors."""
    p = np.asarray(pr_mm, dtype="float64")
    return np.where(np.isnan(p), np.nan, np.interp(p, RAIN_ANCHORS_MM, RAIN_HAZARD))


def terrain_factor(slope: xr.DataArray, rel_elev: xr.DataArray) -> xr.DataArray:
    """Waterlogging multiplier in [0.5, 1] from slope (degrees) and relative elevation (m)."""
    s = to_units(slope, "deg", "slope")
    h = to_units(rel_elev, "m", "rel_elev")
    flatness = (1.0 - s / magnitude(FLAT_SLOPE, "deg")).clip(0.0, 1.0)
    lowness = (0.5 - h / (2.0 * magnitude(LOW_RELIEF, "m"))).clip(0.0, 1.0)
    out = 0.5 + 0.5 * flatness * lowness
    out.attrs = {"units": "1", "long_name": "waterlogging terrain factor"}
    return out


def waterlogging_risk(
    pr: xr.DataArray,
    stages: xr.Dataset,
    slope: xr.DataArray | None = None,
    rel_elev: xr.DataArray | None = None,
) -> xr.Dataset:
    """Daily waterlogging risk with triggers ``pr_max_mm`` (max), ``rainstorm_days`` (sum), ``category`` (max).

    ``pr`` is a daily precipitation flux or depth (``kg m-2 d-1``, ``mm/d``, ``kg m-2 s-1`` ...).
    Without terrain the factor is 1 (the worst case).
    """
    p = to_units(pr, "mm/d", "pr")
    hazard = xr.apply_ufunc(rain_hazard, p, dask="parallelized", output_dtypes=["float64"])
    factor = terrain_factor(slope, rel_elev) if slope is not None and rel_elev is not None else 1.0
    in_season = stages["stage"] >= 0
    risk = xr.where(in_season, hazard * factor, 0.0)
    valid = p.notnull()
    category = xr.apply_ufunc(rainstorm_category, p, dask="parallelized", output_dtypes=["int8"])
    return xr.Dataset(
        {
            "risk": finish(risk, valid, "waterlogging"),
            "pr_max_mm": trigger(p.where(in_season), "max", "mm", "largest 24 h rain in season"),
            "rainstorm_days": trigger((in_season & (p >= RAINSTORM_MM)).astype("int16").where(valid), "sum", "d",
                                      "days with >= 50 mm (暴雨) in season"),
            "category": trigger(category.where(in_season & valid), "max", "1",
                                "GB/T 28592-2012 rainstorm category (1 暴雨, 2 大暴雨, 3 特大暴雨)"),
        }
    )
