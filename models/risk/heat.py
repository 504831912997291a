"""Heat stress: Tmax above the crop's thresholds around flowering and grain fill / tuber bulking.

On days in a heat-sensitive stage (thresholds in :mod:`models.crops`: Porter & Gawith 1999,
QX/T 82-2019, GB/T 21985-2008, Levy & Veilleux 2007)::

    risk = 0                                                   if Tmax < T_onset
    risk = 0.25 + 0.75 * (Tmax - T_onset) / (T_severe - T_onset)  otherwise (clipped to 1)
"""

from __future__ import annotations

import xarray as xr

from models.crops import Crop, get_crop, magnitude
from models.risk._common import finish, per_stage, trigger
from models.units import to_units


def heat_risk(crop: str | Crop, tasmax: xr.DataArray, stages: xr.Dataset) -> xr.Dataset:
    """Daily heat risk with triggers ``tmax_max_degC`` (max) and ``days_above_threshold`` (sum)."""
    c = get_crop(crop)
    tx = to_units(tasmax, "degC", "tasmax")
    onset = per_stage(stages["stage"], c, [magnitude(s.heat[0], "degC") if s.heat else float("nan") for s in c.stages])
    severe = per_stage(stages["stage"], c, [magnitude(s.heat[1], "degC") if s.heat else float("nan") for s in c.stages])
    in_stage = onset.notnull()
    above = in_stage & (tx >= onset)
    risk = xr.where(above, 0.25 + 0.75 * (tx - onset) / (severe - onset), 0.0)
    valid = tx.notnull()
    return xr.Dataset(
        {
            "risk": finish(risk, valid, "heat"),
            "tmax_max_degC": trigger(tx.where(in_stage), "max", "degC", "highest Tmax in heat-sensitive stages"),
            "days_above_threshold": trigger(above.astype("int16").where(valid), "sum", "d",
                                            "days with Tmax at or above the stage heat threshold"),
        }
    )
