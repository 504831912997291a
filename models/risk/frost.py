"""Frost / low-temperature damage (低温冻害): Tmin below the crop's stage threshold, terrain-downscaled.

Daily risk on days when the crop is in a frost-sensitive stage (thresholds in
:mod:`models.crops`, after Shroyer et al. 1995, QX/T 88-2008, Hijmans 2003)::

    risk = 0                                            if Tmin > T_damage
    risk = 0.25 + 0.75 * (T_damage - Tmin) / (T_damage - T_kill)   otherwise (clipped to 1)

so a night at the injury-onset temperature scores 0.25 (blue) and one at the severe-kill
temperature 1.0 (red).

Terrain downscaling (:func:`adjust_tmin_for_terrain`) of the coarse weather Tmin:

1. elevation offset from the weather cell: the standard-atmosphere lapse rate, 6.5 K/km
   (ICAO 1993), colder above the cell's elevation;
2. cold-air pooling on radiative frost nights: night-time inversions make valley bottoms
   colder and slopes (the "thermal belt") warmer than the surrounding mean. Tmin is shifted
   by ``inversion * rel_elev`` with 30 K/km (3 K per 100 m of relative relief), limited to
   +/- 5 K; pools of this strength are reported by Whiteman (2000) *Mountain Meteorology*,
   ch. 8, Geiger, Aron & Todhunter (2009) *The Climate Near the Ground*, 7th ed., and
   Lindkvist, Gustavsson & Bogren (2000) *Agric. For. Meteorol.* 102:51-67.
"""

from __future__ import annotations

import xarray as xr

from models.crops import Crop, get_crop, magnitude
from models.risk._common import finish, per_stage, trigger
from models.units import Quantity, to_units

LAPSE_RATE: Quantity = "6.5 K/km"
INVERSION_GRADIENT: Quantity = "30 K/km"
MAX_INVERSION: Quantity = "5 K"


def adjust_tmin_for_terrain(
    tasmin: xr.DataArray,
    rel_elev: xr.DataArray | None = None,
    elev_offset: xr.DataArray | None = None,
    inversion: Quantity = INVERSION_GRADIENT,
    lapse: Quantity = LAPSE_RATE,
    max_inversion: Quantity = MAX_INVERSION,
) -> xr.DataArray:
    """Tmin (°C) at pixel scale.

    ``rel_elev``: pixel elevation minus the mean elevation of its neighbourhood (m, negative in
    valley bottoms); ``elev_offset``: pixel elevation minus the weather cell's elevation (m).
    Both DataArrays need ``units`` (``"m"``) and broadcast against ``tasmin``.
    """
    tn = to_units(tasmin, "degC", "tasmin")
    if elev_offset is not None:
        tn = tn - magnitude(lapse, "K/m") * to_units(elev_offset, "m", "elev_offset")
    if rel_elev is not None:
        cap = magnitude(max_inversion, "K")
        shift = (magnitude(inversion, "K/m") * to_units(rel_elev, "m", "rel_elev")).clip(-cap, cap)
        tn = tn + shift
    tn.attrs = {"units": "degC", "long_name": "terrain-adjusted minimum temperature"}
    return tn


def frost_risk(
    crop: str | Crop,
    tasmin: xr.DataArray,
    stages: xr.Dataset,
    rel_elev: xr.DataArray | None = None,
    elev_offset: xr.DataArray | None = None,
) -> xr.Dataset:
    """Daily frost risk with triggers ``tmin_min_degC`` (min) and ``days_below_threshold`` (sum).

    ``stages`` is :func:`models.crops.crop_stages` output for the same crop and time axis.
    """
    c = get_crop(crop)
    tn = adjust_tmin_for_terrain(tasmin, rel_elev, elev_offset)
    damage = per_stage(stages["stage"], c, [magnitude(s.frost[0], "degC") if s.frost else float("nan") for s in c.stages])
    kill = per_stage(stages["stage"], c, [magnitude(s.frost[1], "degC") if s.frost else float("nan") for s in c.stages])
    in_stage = damage.notnull()
    below = in_stage & (tn <= damage)
    risk = xr.where(below, 0.25 + 0.75 * (damage - tn) / (damage - kill), 0.0)
    valid = tn.notnull()
    return xr.Dataset(
        {
            "risk": finish(risk, valid, "frost"),
            "tmin_min_degC": trigger(tn.where(in_stage), "min", "degC", "lowest Tmin in frost-sensitive stages"),
            "days_below_threshold": trigger(below.astype("int16").where(valid), "sum", "d",
                                            "days with Tmin at or below the stage damage threshold"),
        }
    )
