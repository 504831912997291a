"""Agricultural drought: SPI-1/SPI-3 and VHI weighted by the crop stage's water sensitivity (FAO-ASIS style).

Dryness from each indicator, 0 (normal) to 1 (extreme):

* SPI (McKee et al. 1993): ``clip((-0.5 - SPI) / 1.5, 0, 1)``: 0 at the GB/T 20481-2017 light
  drought limit (-0.5) and 1 at its extreme limit (-2.0). The wetter-looking of SPI-1 and SPI-3
  is not trusted: the drier of the two is used.
* VHI (Kogan 1995; FAO ASIS flags VHI < 35 as stress): ``clip((40 - VHI) / 30, 0, 1)``: 0 at
  40 (Kogan's drought limit) and 1 at 10 (extreme).

Dryness = mean of the available SPI and VHI parts (either may be missing on a day: VHI only
on clear-sky composites). Daily risk = dryness x stage water weight x irrigation factor,
where the stage weight is Kc/Kc_mid (FAO-56 Kc, the FAO-ASIS crop-stage weighting) and
:func:`irrigation_factor` lowers the risk of irrigated fields.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from models.crops import Crop, get_crop
from models.errors import ModelInputError
from models.risk._common import finish, per_stage, trigger

IRRIGATED_FACTOR = 0.4
"""Share of drought risk an irrigated field keeps: irrigation removes most of the deficit, not all
(canal water in the dry Loess Plateau counties is rationed; FAO ASIS leaves irrigated land out)."""
RECENT_IRRIGATION_FACTOR = 0.1
"""Share kept in the days right after an irrigation (the root zone was refilled)."""


def irrigation_factor(irrigated, days_since_irrigation=None, recent_days: int = 7):
    """Multiplier of drought risk: 1 rainfed, 0.4 irrigated, 0.1 within ``recent_days`` of an irrigation.

    ``irrigated`` is a bool (or bool array/DataArray per field/pixel); ``days_since_irrigation``
    in days (NaN: never irrigated this season), from the farm-operations log.
    """
    factor = xr.where(irrigated, IRRIGATED_FACTOR, 1.0) if isinstance(irrigated, xr.DataArray) else \
        np.where(np.asarray(irrigated, dtype=bool), IRRIGATED_FACTOR, 1.0)
    if days_since_irrigation is not None:
        recent = (days_since_irrigation >= 0) & (days_since_irrigation <= recent_days)
        factor = xr.where(recent, RECENT_IRRIGATION_FACTOR, factor) if isinstance(recent, xr.DataArray) else \
            np.where(recent, RECENT_IRRIGATION_FACTOR, factor)
    return factor


def spi_dryness(spi):
    """0..1 dryness of an SPI value (NaN stays NaN)."""
    return ((-0.5 - spi) / 1.5).clip(0.0, 1.0)


def vhi_dryness(vhi):
    """0..1 dryness of a VHI value on its 0-100 scale (NaN stays NaN)."""
    return ((40.0 - vhi) / 30.0).clip(0.0, 1.0)


def drought_risk(
    crop: str | Crop,
    stages: xr.Dataset,
    spi1: xr.DataArray | None = None,
    spi3: xr.DataArray | None = None,
    vhi: xr.DataArray | None = None,
    irrigated=False,
) -> xr.Dataset:
    """Daily drought risk with triggers ``spi1_min``, ``spi3_min``, ``vhi_min`` and ``dry_days``.

    ``spi1``/``spi3`` are daily series (see :func:`models.agroclimate.spi_to_daily`), ``vhi``
    a daily series on 0-100 with NaN between composites; all broadcast against ``stages``.
    """
    c = get_crop(crop)
    if spi1 is None and spi3 is None and vhi is None:
        raise ModelInputError("drought needs at least one of spi1, spi3, vhi", field="spi1/spi3/vhi")
    parts_spi = [spi_dryness(s) for s in (spi1, spi3) if s is not None]
    parts = []
    if parts_spi:
        parts.append(parts_spi[0] if len(parts_spi) == 1 else
                     xr.concat(xr.broadcast(*parts_spi), "part").max("part", skipna=True))
    if vhi is not None:
        parts.append(vhi_dryness(vhi))
    dryness = parts[0] if len(parts) == 1 else xr.concat(xr.broadcast(*parts), "part").mean("part", skipna=True)
    weight = per_stage(stages["stage"], c, list(c.water_weights()), off_season=0.0)
    factor = irrigation_factor(irrigated)
    risk = dryness * weight * factor
    valid = dryness.notnull() & stages["stage"].notnull()
    in_season = weight > 0
    out = {"risk": finish(risk.fillna(0.0), valid, "drought")}
    for name, series in (("spi1_min", spi1), ("spi3_min", spi3), ("vhi_min", vhi)):
        if series is not None:
            out[name] = trigger(series.where(in_season), "min", "1", f"lowest {name[:-4].upper()} in season")
    out["dry_days"] = trigger((in_season & (dryness > 0)).astype("int16").where(valid), "sum", "d",
                              "in-season days with SPI <= -0.5 or VHI <= 40")
    return xr.Dataset(out)
