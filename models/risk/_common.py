"""Shared plumbing of the hazard models: stage lookups, season masks and season aggregation.

Every hazard returns an :class:`xarray.Dataset` with a daily ``risk`` in [0, 1] (NaN where the
weather is missing) and the daily numbers behind it. Each variable carries an attribute
``season_aggregation`` (``"max"``, ``"min"``, ``"sum"`` or ``"mean"``) telling
:func:`aggregate` how to summarise it over the season or its last N days.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from models.crops import Crop, get_crop, stage_lookup
from models.errors import ModelInputError

AGGREGATIONS = ("max", "mean", "min", "sum")


def per_stage(stage: xr.DataArray, crop: str | Crop, values: Sequence[float], off_season: float = np.nan) -> xr.DataArray:
    """Map daily stage codes to one value per stage (lazy on dask arrays)."""
    c = get_crop(crop)
    return xr.apply_ufunc(
        stage_lookup, stage, kwargs={"crop": c, "per_stage": list(values), "off_season": off_season},
        dask="parallelized", output_dtypes=["float64"],
    )


def sensitive(stage: xr.DataArray, crop: str | Crop, flags: Sequence[bool]) -> xr.DataArray:
    """True on days when the crop is in one of the stages flagged sensitive."""
    return per_stage(stage, crop, [1.0 if f else 0.0 for f in flags], off_season=0.0) > 0


def finish(risk: xr.DataArray, valid: xr.DataArray, name: str) -> xr.DataArray:
    """Clip to [0, 1], NaN where the inputs were missing, and label it."""
    out = risk.clip(0.0, 1.0).where(valid)
    out.attrs = {"long_name": f"daily {name} risk", "units": "1", "season_aggregation": "max"}
    return out.rename("risk")


def trigger(da: xr.DataArray, how: str, units: str, long_name: str) -> xr.DataArray:
    """Label a daily trigger variable with its season aggregation."""
    da.attrs = {"season_aggregation": how, "units": units, "long_name": long_name}
    return da


def aggregate(ds: xr.Dataset, how: str = "max", last_days: int | None = None, dim: str = "time") -> xr.Dataset:
    """Season summary of a hazard dataset: ``risk`` by ``how``, triggers by their own rule.

    ``last_days`` restricts the summary to the last N time steps (e.g. 14 for a two-week
    alert window). NaNs (missing weather) are skipped; an all-NaN pixel stays NaN.
    """
    if how not in AGGREGATIONS:
        raise ModelInputError("unknown aggregation", field="how", expected=f"one of {AGGREGATIONS}", got=how)
    if dim not in ds.dims:
        raise ModelInputError(f"dataset has no '{dim}' dimension", field=dim, got=tuple(ds.dims))
    if last_days is not None:
        if last_days < 1:
            raise ModelInputError("last_days must be >= 1", field="last_days", got=last_days)
        ds = ds.isel({dim: slice(-last_days, None)})
    out = {}
    for name, da in ds.data_vars.items():
        rule = how if name == "risk" else da.attrs.get("season_aggregation", "max")
        agg = da.sum(dim, min_count=1) if rule == "sum" else getattr(da, rule)(dim, skipna=True)
        agg.attrs = {k: v for k, v in da.attrs.items() if k != "season_aggregation"}
        agg.attrs["cell_methods"] = f"{dim}: {rule}"
        out[name] = agg
    result = xr.Dataset(out)
    result.attrs = dict(ds.attrs)
    return result
