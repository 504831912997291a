"""Crop parameters and phenology: base/upper temperatures, stages, frost and heat thresholds, FAO-56 Kc.

Every crop is a :class:`Crop` with an ordered tuple of :class:`Stage`. A stage starts at a
thermal time since sowing (growing degree days, °C·d, computed with the crop's base and upper
temperatures by :func:`daily_gdd`) or, when no temperature is available, at a number of days
after sowing (FAO-56 Table 11 stage lengths). The crop is *in season* from sowing until
physiological maturity or ``max_days`` after sowing, whichever comes first; outside that
window :func:`stage_index` returns ``-1`` and hazards do not count.

Sources
-------
* Kc (initial, mid, end) and stage lengths: Allen, Pereira, Raes & Smith (1998) *Crop
  evapotranspiration*, FAO Irrigation and Drainage Paper 56, Tables 11 and 12.
* Base/upper temperatures and the GDD method: McMaster & Wilhelm (1997) "Growing degree-days:
  one equation, two interpretations", *Agric. For. Meteorol.* 87:291-300 (wheat and barley 0 °C,
  maize 10/30 °C); potato 7 °C base: Kooman & Haverkort (1995), in *Potato ecology and
  modelling of crops under conditions limiting growth*, and Worthington & Hutchinson (2005).
* Frost thresholds of wheat by stage (2 h exposure, injury onset / severe kill):
  Shroyer, Mikesell & Paulsen (1995) *Spring freeze injury to Kansas wheat*, K-State C-646;
  crop frost grading in China: QX/T 88-2008 作物霜冻害等级.
  Potato foliage damaged at about 0 °C and killed near -2 °C: Hijmans (2003) *Am. J. Potato Res.*
  80:271-280 and Snyder & de Melo-Abreu (2005) *Frost protection*, FAO Environment and Natural
  Resources Series 10, vol. 1 (critical temperature tables). Maize killed near -2 °C once the
  growing point is above ground (after V5); a killing frost at -2.2 °C ends grain fill:
  Nielsen (Purdue Corny News, "Frost damage to corn").
* Heat thresholds around flowering: wheat anthesis Tmax 31 °C, Porter & Gawith (1999)
  *Eur. J. Agron.* 10:23-36; dry-hot wind during wheat grain fill Tmax >= 32 °C (light) and
  >= 35 °C (severe), QX/T 82-2019 小麦干热风灾害等级; maize tasselling-silking Tmax >= 35 °C,
  GB/T 21985-2008 主要农作物高温危害温度指标; potato tuberisation inhibited above about 30 °C,
  Levy & Veilleux (2007) *Am. J. Potato Res.* 84:487-506; barley grain fill above 30 °C,
  Savin & Nicolas (1996) *Aust. J. Plant Physiol.* 23:201-210.

Stage thermal times are typical values for the Loess Plateau (Dingxi) and the Tibetan
valleys (Lhasa) from the cited phenology; real deployments override them per variety with
:func:`register_crop`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import xarray as xr

from models.errors import ModelInputError
from models.units import Quantity, magnitude, to_units

OFF_SEASON = -1
"""Stage code outside the crop's season (before sowing, after maturity/harvest)."""


@dataclass(frozen=True)
class Stage:
    """One phenological stage.

    ``start_gdd`` in °C·d since sowing; ``start_day`` in days after sowing (used without
    temperature data); ``kc`` the FAO-56 crop coefficient typical of the stage;
    ``frost`` = (injury onset, severe kill) minimum temperatures; ``heat`` = (onset, severe)
    maximum temperatures; ``None`` where the stage is not sensitive.
    """

    name: str
    name_zh: str
    start_gdd: float
    start_day: int
    kc: float
    frost: tuple[Quantity, Quantity] | None = None
    heat: tuple[Quantity, Quantity] | None = None
    disease: bool = True
    pest: bool = True


@dataclass(frozen=True)
class Crop:
    """A crop: thermal-time parameters, stages in order and season limits."""

    name: str
    name_zh: str
    t_base: Quantity
    t_upper: Quantity
    stages: tuple[Stage, ...]
    maturity_gdd: float
    max_days: int
    kc_ini: float
    kc_mid: float
    kc_end: float
    sources: tuple[str, ...] = field(default=())

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise ModelInputError("unknown stage", field="stage", expected=f"one of {self.stage_names}", got=name)

    def water_weights(self) -> np.ndarray:
        """Stage water-sensitivity weights Kc/Kc_mid in [0, 1] (FAO-ASIS style Kc weighting)."""
        return np.clip(np.array([s.kc for s in self.stages]) / self.kc_mid, 0.0, 1.0)


def _c(name: str, zh: str, gdd: float, day: int, kc: float, frost=None, heat=None, disease=True, pest=True) -> Stage:
    return Stage(name, zh, gdd, day, kc, frost, heat, disease, pest)


POTATO = Crop(
    "potato", "马铃薯", "7 degC", "30 degC",
    (
        _c("sowing", "播种-出苗", 0, 0, 0.50, disease=False, pest=False),
        _c("emergence", "出苗", 180, 25, 0.60, frost=("0 degC", "-2 degC")),
        _c("tuber_initiation", "块茎形成", 400, 50, 0.90, frost=("0 degC", "-2 degC"), heat=("30 degC", "35 degC")),
        _c("flowering", "开花", 600, 70, 1.15, frost=("0 degC", "-2 degC"), heat=("30 degC", "35 degC")),
        _c("tuber_bulking", "块茎膨大", 750, 85, 1.15, frost=("0 degC", "-2 degC"), heat=("30 degC", "35 degC")),
        _c("maturity", "成熟", 1150, 115, 0.75, frost=("-1 degC", "-3 degC")),
    ),
    maturity_gdd=1450, max_days=165, kc_ini=0.5, kc_mid=1.15, kc_end=0.75,
    sources=("FAO-56 Tables 11-12", "Kooman & Haverkort 1995", "Hijmans 2003", "Levy & Veilleux 2007"),
)

SPRING_WHEAT = Crop(
    "spring_wheat", "春小麦", "0 degC", "30 degC",
    (
        _c("sowing", "播种-出苗", 0, 0, 0.30, disease=False, pest=False),
        _c("emergence", "出苗", 130, 12, 0.30, frost=("-6 degC", "-10 degC")),
        _c("tillering", "分蘖-拔节", 350, 25, 0.70, frost=("-4.4 degC", "-11.1 degC")),
        _c("heading", "抽穗-开花", 950, 55, 1.15, frost=("-2.2 degC", "-3.3 degC"), heat=("31 degC", "35 degC")),
        _c("grain_fill", "灌浆", 1150, 70, 1.15, frost=("-2.2 degC", "-3.3 degC"), heat=("32 degC", "35 degC")),
        _c("maturity", "成熟", 1550, 95, 0.30),
    ),
    maturity_gdd=1750, max_days=140, kc_ini=0.3, kc_mid=1.15, kc_end=0.25,
    sources=("FAO-56 Tables 11-12", "McMaster & Wilhelm 1997", "Shroyer et al. 1995", "Porter & Gawith 1999",
             "QX/T 82-2019"),
)

MAIZE = Crop(
    "maize", "玉米", "10 degC", "30 degC",
    (
        _c("sowing", "播种-出苗", 0, 0, 0.30, disease=False, pest=False),
        _c("emergence", "出苗-五叶", 70, 12, 0.30, frost=("-1 degC", "-3 degC")),
        _c("vegetative", "拔节", 250, 35, 0.80, frost=("0 degC", "-2.2 degC")),
        _c("flowering", "抽雄-吐丝", 700, 70, 1.20, frost=("0 degC", "-2.2 degC"), heat=("35 degC", "38 degC")),
        _c("grain_fill", "灌浆", 850, 85, 1.20, frost=("-1 degC", "-2.2 degC"), heat=("35 degC", "38 degC")),
        _c("maturity", "成熟", 1350, 130, 0.35),
    ),
    maturity_gdd=1550, max_days=170, kc_ini=0.3, kc_mid=1.2, kc_end=0.35,
    sources=("FAO-56 Tables 11-12", "McMaster & Wilhelm 1997", "Nielsen, Purdue", "GB/T 21985-2008"),
)

HIGHLAND_BARLEY = Crop(
    "highland_barley", "青稞", "0 degC", "30 degC",
    (
        _c("sowing", "播种-出苗", 0, 0, 0.30, disease=False, pest=False),
        _c("emergence", "出苗", 130, 12, 0.30, frost=("-6 degC", "-10 degC")),
        _c("tillering", "分蘖-拔节", 330, 25, 0.70, frost=("-4 degC", "-9 degC")),
        _c("heading", "抽穗-开花", 850, 60, 1.15, frost=("-1.5 degC", "-3 degC"), heat=("30 degC", "34 degC")),
        _c("grain_fill", "灌浆", 1050, 75, 1.15, frost=("-2 degC", "-4 degC"), heat=("30 degC", "34 degC")),
        _c("maturity", "成熟", 1450, 100, 0.25),
    ),
    maturity_gdd=1650, max_days=150, kc_ini=0.3, kc_mid=1.15, kc_end=0.25,
    sources=("FAO-56 Tables 11-12 (barley)", "McMaster & Wilhelm 1997", "Shroyer et al. 1995",
             "Savin & Nicolas 1996"),
)

WINTER_WHEAT = Crop(
    "winter_wheat", "冬小麦", "0 degC", "30 degC",
    (
        _c("sowing", "播种-出苗", 0, 0, 0.40, disease=False, pest=False),
        _c("emergence", "出苗-越冬", 130, 10, 0.40, frost=("-11 degC", "-15 degC")),
        _c("tillering", "返青-起身", 550, 150, 0.70, frost=("-9 degC", "-12 degC")),
        _c("jointing", "拔节-孕穗", 900, 185, 1.00, frost=("-4.4 degC", "-11.1 degC")),
        _c("heading", "抽穗-开花", 1300, 215, 1.15, frost=("-2.2 degC", "-3.3 degC"), heat=("31 degC", "35 degC")),
        _c("grain_fill", "灌浆", 1500, 230, 1.15, frost=("-2.2 degC", "-3.3 degC"), heat=("32 degC", "35 degC")),
        _c("maturity", "成熟", 2000, 255, 0.40),
    ),
    maturity_gdd=2200, max_days=290, kc_ini=0.4, kc_mid=1.15, kc_end=0.4,
    sources=("FAO-56 Tables 11-12", "McMaster & Wilhelm 1997", "Shroyer et al. 1995", "QX/T 88-2008",
             "Porter & Gawith 1999", "QX/T 82-2019"),
)

CROPS: dict[str, Crop] = {c.name: c for c in (POTATO, SPRING_WHEAT, MAIZE, HIGHLAND_BARLEY, WINTER_WHEAT)}


def register_crop(crop: Crop, *, replace: bool = False) -> None:
    """Add a crop (e.g. a local variety's calibration); refuses to overwrite unless ``replace``."""
    if crop.name in CROPS and not replace:
        raise ModelInputError("crop already registered; pass replace=True to override", field="crop", got=crop.name)
    CROPS[crop.name] = crop


def get_crop(crop: str | Crop) -> Crop:
    """The :class:`Crop` named ``crop``; a clear error lists the known crops."""
    if isinstance(crop, Crop):
        return crop
    try:
        return CROPS[crop]
    except KeyError:
        raise ModelInputError("unknown crop", field="crop", expected=f"one of {sorted(CROPS)}", got=crop) from None


def daily_gdd(tmin, tmax, t_base: float, t_upper: float):
    """Daily growing degree days (°C·d), McMaster & Wilhelm (1997) method 2.

    Tmin and Tmax (°C) are each clipped to [t_base, t_upper] before averaging, so a day never
    contributes more than ``t_upper - t_base``. Works on numpy, dask and xarray alike.
    """
    lo = tmin.clip(t_base, t_upper) if hasattr(tmin, "clip") else np.clip(tmin, t_base, t_upper)
    hi = tmax.clip(t_base, t_upper) if hasattr(tmax, "clip") else np.clip(tmax, t_base, t_upper)
    return (lo + hi) / 2.0 - t_base


def stage_index(gdd_since_sowing, days_since_sowing, crop: str | Crop):
    """Stage code per element: index into ``crop.stages``, or :data:`OFF_SEASON` (-1).

    ``gdd_since_sowing`` in °C·d (NaN: use ``days_since_sowing`` against the stages'
    ``start_day``); ``days_since_sowing`` in days (negative before sowing). Pure numpy.
    """
    c = get_crop(crop)
    gdd = np.asarray(gdd_since_sowing, dtype="float64")
    days = np.asarray(days_since_sowing, dtype="float64")
    gdd, days = np.broadcast_arrays(gdd, days)
    starts_gdd = np.array([s.start_gdd for s in c.stages])
    starts_day = np.array([s.start_day for s in c.stages])
    by_gdd = np.searchsorted(starts_gdd, np.nan_to_num(gdd, nan=0.0), side="right") - 1
    by_day = np.searchsorted(starts_day, np.nan_to_num(days, nan=0.0), side="right") - 1
    code = np.where(np.isnan(gdd), by_day, by_gdd)
    off = (days < 0) | (days > c.max_days) | np.isnan(days) | (np.nan_to_num(gdd, nan=-1.0) >= c.maturity_gdd)
    return np.where(off, OFF_SEASON, code).astype("int8")


def stage_lookup(stage_codes, crop: str | Crop, per_stage: list, off_season=np.nan):
    """Map stage codes to per-stage values (``per_stage[i]`` for stage i, ``off_season`` for -1)."""
    c = get_crop(crop)
    if len(per_stage) != len(c.stages):
        raise ModelInputError("one value per stage needed", field="per_stage",
                              expected=f"{len(c.stages)} values", got=len(per_stage))
    table = np.asarray([off_season, *per_stage], dtype="float64")
    return table[np.asarray(stage_codes).astype("int64") + 1]


def _as_datetime(sowing, time: xr.DataArray) -> xr.DataArray:
    if isinstance(sowing, xr.DataArray):
        return sowing.astype("datetime64[ns]")
    if isinstance(sowing, str | date | pd.Timestamp | np.datetime64):
        return xr.DataArray(np.datetime64(pd.Timestamp(sowing), "ns"))
    raise ModelInputError("sowing date not understood", field="sowing", expected="ISO date, Timestamp or DataArray",
                          got=sowing)


def crop_stages(crop: str | Crop, sowing, tasmin: xr.DataArray | None = None,
                tasmax: xr.DataArray | None = None, time: xr.DataArray | None = None) -> xr.Dataset:
    """Daily phenology from the sowing date: ``days`` after sowing, ``gdd`` since sowing, ``stage`` code.

    ``sowing`` is a date (one per call) or a DataArray of datetime64 per pixel/field
    (broadcast against the weather). With ``tasmin``/``tasmax`` (any temperature units) the
    stage follows thermal time; without them it follows FAO-56 day counts on ``time``.
    Lazy and block-wise when the inputs are dask-backed (cumsum along ``time``).
    """
    c = get_crop(crop)
    if tasmin is not None and tasmax is not None:
        tn = to_units(tasmin, "degC", "tasmin")
        tx = to_units(tasmax, "degC", "tasmax")
        time = tn["time"]
    elif time is None:
        raise ModelInputError("give tasmin and tasmax, or time", field="time")
    sow = _as_datetime(sowing, time)
    days = ((time - sow) / np.timedelta64(1, "D")).astype("float64")
    ds = xr.Dataset({"days": days})
    if tasmin is not None and tasmax is not None:
        g = daily_gdd(tn, tx, magnitude(c.t_base, "degC"), magnitude(c.t_upper, "degC"))
        g = g.where(days >= 0, 0.0)
        gdd = g.cumsum("time")
        gdd = gdd.where(days >= 0, 0.0)
        gdd.attrs = {"units": "K d", "long_name": f"growing degree days since sowing ({c.name})"}
        ds["gdd"] = gdd
        days, gdd = xr.broadcast(days, gdd)
    else:
        gdd = xr.full_like(days, np.nan)
    stage = xr.apply_ufunc(
        stage_index, gdd, days, kwargs={"crop": c}, dask="parallelized", output_dtypes=["int8"]
    )
    stage.attrs = {"long_name": f"{c.name} stage code (-1 off season)", "stages": ",".join(c.stage_names)}
    ds["stage"] = stage
    return ds


def stage_on(crop: str | Crop, sowing, on, gdd_since_sowing: float | None = None) -> dict:
    """The stage of a crop on date ``on``: name, Chinese name, code and water weight.

    Uses ``gdd_since_sowing`` (°C·d) when given, otherwise FAO-56 day counts.
    """
    c = get_crop(crop)
    days = (pd.Timestamp(on) - pd.Timestamp(sowing)).days
    code = int(stage_index(np.nan if gdd_since_sowing is None else gdd_since_sowing, days, c))
    if code == OFF_SEASON:
        return {"code": OFF_SEASON, "name": "off_season", "name_zh": "非生长季", "days_after_sowing": days,
                "water_weight": 0.0}
    s = c.stages[code]
    return {"code": code, "name": s.name, "name_zh": s.name_zh, "days_after_sowing": days,
            "water_weight": float(c.water_weights()[code])}


def stage_names(crop: str | Crop) -> Mapping[int, str]:
    """``{code: name}`` including ``-1: "off_season"``."""
    c = get_crop(crop)
    return {OFF_SEASON: "off_season", **{i: s.name for i, s in enumerate(c.stages)}}
