"""Insect pest pressure: single-sine degree-days since biofix combined with the trap-count pressure surface.

Degree-days by the single-sine method with horizontal cutoffs (Baskerville & Emin 1969,
*Ecology* 50:514-517; formulas as in UC IPM "How to calculate degree-days",
https://ipm.ucanr.edu/WEATHER/ddconcepts.html): the day's temperature follows one sine wave
from Tmin to Tmax, and the area between the lower and upper thresholds is integrated.

Biofix: the first *sustained* trap catch, i.e. the first of ``consecutive`` successive
readings of a trap with at least ``min_count`` insects (the usual rule for pheromone-trap
biofix, UC IPM).

Daily risk = development x pressure, in the crop's pest-sensitive stages::

    development = clip(DD since biofix / DD per generation, 0, 1)
    pressure    = clip(trap catch per trap per week / action threshold, 0, 1)

so a first generation completing under a trap catch at the action threshold scores 1.

Units of the action thresholds: catch **per trap per week** (the traps are read weekly), the
unit of the pressure surface. Published economic thresholds for aphids on potato are leaf
counts, not trap catches: 10 aphids per 100 leaves in seed potato (leafroll virus) and 30 per
100 leaves in table potato (University of Minnesota / NDSU potato aphid guides); yellow
sticky traps show flights and timing but no published catch maps to them (UC IPM,
"Monitoring with sticky traps"). The trap thresholds here are therefore *alert levels* for a
scouting-and-spray decision, set where catches mark a flight well above the seasonal
background (a few alates or moths per trap per week in a normal season at Dingxi): 30 alates
and 20 male moths per trap per week. Convert leaf counts before passing them as pressure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from models.crops import Crop, get_crop
from models.errors import ModelInputError
from models.risk._common import finish, per_stage, trigger
from models.units import Quantity, magnitude, to_units


@dataclass(frozen=True)
class Pest:
    """Development thresholds (°C), degree-days per generation (°C·d) and trap action threshold."""

    name: str
    latin: str
    name_zh: str
    lower: Quantity
    upper: Quantity
    generation_dd: float
    action_threshold: float
    hosts: tuple[str, ...]
    source: str


PESTS: dict[str, Pest] = {
    "potato_tuber_moth": Pest(
        "potato_tuber_moth", "Phthorimaea operculella", "马铃薯块茎蛾", "10 degC", "32 degC", 480.0, 20.0,
        ("potato",),
        "thresholds and ~480 °C·d egg-to-egg: Sporleder, Kroschel, Gutierrez Quispe & Lagnaoui (2004) "
        "Environ. Entomol. 33:477-486; alert level 20 male moths/pheromone trap/week (trap units; see module doc)",
    ),
    "green_peach_aphid": Pest(
        "green_peach_aphid", "Myzus persicae", "桃蚜", "4 degC", "30 degC", 120.0, 30.0,
        ("potato", "spring_wheat", "winter_wheat", "highland_barley", "maize"),
        "lower threshold ~4 °C and ~120 °C·d per generation: Whalon & Smilowitz (1979) Entomol. Exp. Appl. "
        "26:10-17; alert level 30 alates/yellow sticky trap/week (trap units; published thresholds are "
        "10 (seed) / 30 (table potato) aphids per 100 leaves, see module doc)",
    ),
}
SPECIES = {p.latin: p.name for p in PESTS.values()}


def get_pest(pest: str | Pest) -> Pest:
    """The :class:`Pest` by short name or Latin name."""
    if isinstance(pest, Pest):
        return pest
    key = SPECIES.get(pest, pest)
    if key not in PESTS:
        raise ModelInputError("unknown pest", field="pest", expected=f"one of {sorted(PESTS)} or {sorted(SPECIES)}",
                              got=pest)
    return PESTS[key]


def single_sine_dd(tmin, tmax, lower: float, upper: float):
    """Daily degree-days (°C·d) by the single-sine method, horizontal cutoff at ``upper``.

    Pure numpy, elementwise; ``tmin``/``tmax`` in °C. NaN in, NaN out.
    """
    tn = np.asarray(tmin, dtype="float64")
    tx = np.asarray(tmax, dtype="float64")
    tn, tx = np.broadcast_arrays(tn, tx)
    tx = np.maximum(tx, tn)
    m = (tx + tn) / 2.0
    a = (tx - tn) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        safe_a = np.where(a > 0, a, 1.0)
        th1 = np.arcsin(np.clip((lower - m) / safe_a, -1.0, 1.0))
        th2 = np.arcsin(np.clip((upper - m) / safe_a, -1.0, 1.0))
    half = np.pi / 2.0
    dd = np.select(
        [
            tn >= upper,  # whole day above the upper threshold
            tx <= lower,  # whole day below the lower threshold
            (tn >= lower) & (tx <= upper),  # entirely between thresholds
            (tn < lower) & (tx <= upper),  # crosses the lower threshold only
            (tn >= lower) & (tx > upper),  # crosses the upper threshold only
        ],
        [
            np.full_like(m, upper - lower),
            np.zeros_like(m),
            m - lower,
            ((m - lower) * (half - th1) + a * np.cos(th1)) / np.pi,
            ((m - lower) * (th2 + half) + (upper - lower) * (half - th2) - a * np.cos(th2)) / np.pi,
        ],
        # crosses both thresholds
        default=((m - lower) * (th2 - th1) + a * (np.cos(th1) - np.cos(th2)) + (upper - lower) * (half - th2)) / np.pi,
    )
    return np.where(np.isnan(tn) | np.isnan(tx), np.nan, dd)


def biofix_date(observations: pd.DataFrame, min_count: int = 1, consecutive: int = 2) -> pd.Timestamp | None:
    """First sustained trap catch: the first date of ``consecutive`` successive readings >= ``min_count``.

    ``observations`` has columns ``date`` and ``count`` (one trap, or several: readings of the
    same date are summed). Returns ``None`` when no sustained catch occurred.
    """
    missing = {"date", "count"} - set(observations.columns)
    if missing:
        raise ModelInputError("trap observations lack columns", field=",".join(sorted(missing)),
                              expected="columns date, count")
    daily = observations.assign(date=pd.to_datetime(observations["date"])).groupby("date")["count"].sum().sort_index()
    hit = (daily >= min_count).to_numpy()
    for i in range(len(hit) - consecutive + 1):
        if hit[i : i + consecutive].all():
            return pd.Timestamp(daily.index[i])
    return None


def degree_days(pest: str | Pest, tasmin: xr.DataArray, tasmax: xr.DataArray) -> xr.DataArray:
    """Daily single-sine degree-days (°C·d) for ``pest``; lazy on dask arrays."""
    p = get_pest(pest)
    tn = to_units(tasmin, "degC", "tasmin")
    tx = to_units(tasmax, "degC", "tasmax")
    dd = xr.apply_ufunc(
        single_sine_dd, tn, tx, kwargs={"lower": magnitude(p.lower, "degC"), "upper": magnitude(p.upper, "degC")},
        dask="parallelized", output_dtypes=["float64"],
    )
    dd.attrs = {"units": "K d", "long_name": f"single-sine degree-days of {p.latin}"}
    return dd


def pest_risk(
    pest: str | Pest,
    crop: str | Crop,
    tasmin: xr.DataArray,
    tasmax: xr.DataArray,
    stages: xr.Dataset,
    biofix,
    pressure: xr.DataArray | float,
) -> xr.Dataset:
    """Daily pest risk with triggers ``dd_since_biofix`` (max), ``generations`` (max), ``pressure`` (max).

    ``biofix`` is a date (or a datetime64 DataArray per pixel; ``None``/NaT: no sustained catch
    yet, risk 0); ``pressure`` the trap catch per trap per week at the pixel (a DataArray from
    the pipeline's pressure surface, or a number).
    """
    p = get_pest(pest)
    c = get_crop(crop)
    dd = degree_days(p, tasmin, tasmax)
    time = dd["time"]
    if biofix is None:
        started = xr.zeros_like(time, dtype=bool)
    else:
        bf = biofix if isinstance(biofix, xr.DataArray) else xr.DataArray(np.datetime64(pd.Timestamp(biofix), "ns"))
        started = time >= bf
    cum = dd.where(started, 0.0).cumsum("time")
    development = (cum / p.generation_dd).clip(0.0, 1.0)
    press = pressure if isinstance(pressure, xr.DataArray) else xr.DataArray(float(pressure))
    pressure_index = (press / p.action_threshold).clip(0.0, 1.0)
    host = 1.0 if c.name in p.hosts else 0.0
    sens = per_stage(stages["stage"], c, [host if s.pest else 0.0 for s in c.stages], off_season=0.0)
    risk = development * pressure_index * sens
    valid = dd.notnull()
    in_stage = sens > 0
    return xr.Dataset(
        {
            "risk": finish(risk, valid, f"{p.name} pest"),
            "dd_since_biofix": trigger(cum.where(in_stage), "max", "K d", "degree-days since biofix"),
            "generations": trigger((cum / p.generation_dd).where(in_stage), "max", "1", "generations since biofix"),
            "pressure": trigger(xr.broadcast(press, risk)[0].where(in_stage), "max", "count/trap/week",
                                "trap-count pressure"),
        }
    )
