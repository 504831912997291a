"""Disease: potato late blight (Hutton criteria + BLITECAST-style severity) and wheat/barley stripe rust.

Humid hours from daily data (:func:`humid_hours`): the day's temperature course follows
Campbell & Norman (1998) *An Introduction to Environmental Biophysics*, eq. 2.2
(``T(t) = Tmax·Γ(t) + Tmin·(1 - Γ(t))`` with ``Γ(t) = 0.44 - 0.46 sin(ωt + 0.9) + 0.11 sin(2ωt + 0.9)``,
ω = π/12 h⁻¹, hours 0-23), the dew point is taken constant over the day (as FAO-56 §3 does for
daily humidity), and RH(t) = 100·e°(Td)/e°(T(t)) with the Tetens/FAO-56 eq. 11 saturation
vapour pressure ``e°(T) = 0.6108 exp(17.27 T / (T + 237.3))`` kPa. An hour is humid when
RH >= 90 %; leaf wetness is approximated by the same hours (Sentelhas et al. 2008,
*Agric. For. Meteorol.* 148:1083, RH >= 90 % as a wetness proxy).

Late blight (*Phytophthora infestans*) on potato, from emergence:

* Hutton criteria (Dancey, Skelsey & Cooke 2017, *Eur. J. Plant Pathol.* 149:975-980):
  a *Hutton period* is two consecutive days each with Tmin >= 10 °C and >= 6 h of RH >= 90 %.
  It is dated on its second day (when a warning would be issued) and scores 0.75.
* BLITECAST (Krause, Massie & Hyre 1975, *Plant Dis. Rep.* 59:95-98): daily severity values
  (0-4) from Wallin's table of humid hours and their mean temperature; the 7-day sum is
  scored ``min(1, sum / 5)`` (5 = BLITECAST's highest 7-day severity class).

Daily risk = max(Hutton, BLITECAST).

Stripe rust (*Puccinia striiformis* f. sp. *tritici*) on wheat and barley: an infection day
has >= 6 humid hours whose mean temperature is 4-16 °C (de Vallavieille-Pope et al. 1995,
*Phytopathology* 85:409-415; Rapilly 1979) and scores ``min(1, humid hours / 12)`` (a full
night-and-morning of wetness counts as one infection event). One wet night is an infection
*possibility* that a spring in Gansu offers many times; an epidemic builds when infections
recur through one latent period, ~14 days at 10-15 °C (Zadoks 1961, *Tijdschr. Plantenziekten*
67:69-256; de Vallavieille-Pope et al. 2000, *Phytopathology* 90:1338), each cycle multiplying
the inoculum. So the daily risk is the sum of the infection scores of the last 14 days over
7 (infection on half the days of a latent period scores 1): with the alert thresholds of
:mod:`models.alerts`, three full infection nights in two weeks give blue, five yellow, six
orange, seven red. This is weather favourability only: it assumes inoculum is present (in Gansu it arrives
every spring from the over-summering areas of Longnan and Tianshui).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from models.crops import Crop, get_crop
from models.errors import ModelInputError
from models.risk._common import finish, per_stage, trigger
from models.units import to_units

HUTTON_TMIN = 10.0  # °C
HUTTON_HOURS = 6.0  # h of RH >= 90 %
HUTTON_SCORE = 0.75
BLITECAST_TOP_7DAY = 5.0
RUST_TEMP = (4.0, 16.0)  # °C, mean temperature of the wet period
RUST_MIN_HOURS = 6.0
RUST_FULL_HOURS = 12.0
RUST_LATENT_DAYS = 14  # d, latent period at 10-15 °C
RUST_FULL_SUM = 7.0  # infection scores within one latent period that give risk 1

_HOURS = np.arange(24.0)
_OMEGA = np.pi / 12.0
GAMMA = 0.44 - 0.46 * np.sin(_OMEGA * _HOURS + 0.9) + 0.11 * np.sin(2 * _OMEGA * _HOURS + 0.9)
"""Campbell & Norman (1998) eq. 2.2 diurnal weights for hours 0..23."""

# Wallin table as used in BLITECAST: rows = mean temperature of the RH>=90 % period (°C),
# columns = minimum humid hours for severity values 1, 2, 3, 4.
WALLIN = (
    ((7.2, 11.6), (16, 19, 22, 25)),
    ((11.7, 15.0), (13, 16, 19, 22)),
    ((15.1, 26.6), (10, 13, 16, 19)),
)


def saturation_vp(t_c):
    """Saturation vapour pressure (kPa) at ``t_c`` °C, FAO-56 eq. 11."""
    return 0.6108 * np.exp(17.27 * t_c / (t_c + 237.3))


def humid_hours_np(tmin, tmax, tdew, rh_threshold: float = 90.0):
    """Numpy core of :func:`humid_hours`: (hours with RH >= threshold, their mean temperature °C)."""
    tn = np.asarray(tmin, dtype="float64")[..., None]
    tx = np.asarray(tmax, dtype="float64")[..., None]
    td = np.asarray(tdew, dtype="float64")[..., None]
    temps = tx * GAMMA + tn * (1.0 - GAMMA)
    rh = 100.0 * saturation_vp(td) / saturation_vp(temps)
    humid = rh >= rh_threshold - 1e-9
    hours = humid.sum(axis=-1).astype("float64")
    with np.errstate(invalid="ignore"):
        mean_t = np.where(hours > 0, (temps * humid).sum(axis=-1) / np.where(hours > 0, hours, 1.0), np.nan)
    missing = np.isnan(tn[..., 0]) | np.isnan(tx[..., 0]) | np.isnan(td[..., 0])
    return np.where(missing, np.nan, hours), np.where(missing, np.nan, mean_t)


def humid_hours(tasmin: xr.DataArray, tasmax: xr.DataArray, tdps: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Hours per day with RH >= 90 % and their mean temperature (°C), from daily Tmin, Tmax, dew point."""
    tn = to_units(tasmin, "degC", "tasmin")
    tx = to_units(tasmax, "degC", "tasmax")
    td = to_units(tdps, "degC", "tdps")
    hours, mean_t = xr.apply_ufunc(
        humid_hours_np, tn, tx, td, dask="parallelized", output_dtypes=["float64", "float64"], output_core_dims=[[], []]
    )
    hours.attrs = {"units": "h", "long_name": "hours with RH >= 90 %"}
    mean_t.attrs = {"units": "degC", "long_name": "mean temperature of the humid hours"}
    return hours, mean_t


def wallin_severity(hours, mean_temp):
    """BLITECAST daily severity value 0-4 from humid hours and their mean temperature (°C)."""
    h = np.asarray(hours, dtype="float64")
    t = np.asarray(mean_temp, dtype="float64")
    out = np.zeros(np.broadcast(h, t).shape)
    for (t_lo, t_hi), limits in WALLIN:
        in_row = (t >= t_lo) & (t <= t_hi + 0.05)
        value = sum((h >= lim).astype("float64") for lim in limits)
        out = np.where(in_row, value, out)
    return np.where(np.isnan(h), np.nan, out)


def hutton_days(tmin_c: xr.DataArray, hours: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """(days meeting both Hutton conditions, second days of Hutton periods) as booleans."""
    ok = (tmin_c >= HUTTON_TMIN) & (hours >= HUTTON_HOURS)
    prev = ok.shift(time=1, fill_value=False)
    return ok, ok & prev


def late_blight_risk(tasmin: xr.DataArray, tasmax: xr.DataArray, tdps: xr.DataArray, stages: xr.Dataset,
                     crop: str | Crop = "potato") -> xr.Dataset:
    """Daily late blight risk with triggers ``hutton_periods`` (sum), ``severity_7day_max`` (max),
    ``humid_hours_max`` (max)."""
    c = get_crop(crop)
    tn = to_units(tasmin, "degC", "tasmin")
    hours, mean_t = humid_hours(tasmin, tasmax, tdps)
    sens = per_stage(stages["stage"], c, [1.0 if s.disease else 0.0 for s in c.stages], off_season=0.0) > 0
    _, hutton = hutton_days(tn, hours)
    dsv = xr.apply_ufunc(wallin_severity, hours, mean_t, dask="parallelized", output_dtypes=["float64"])
    dsv = dsv.where(sens, 0.0)
    sum7 = dsv.rolling(time=7, min_periods=1).sum()
    hutton_in = hutton & sens
    risk = np.maximum(xr.where(hutton_in, HUTTON_SCORE, 0.0), (sum7 / BLITECAST_TOP_7DAY).clip(0.0, 1.0))
    valid = hours.notnull()
    return xr.Dataset(
        {
            "risk": finish(risk, valid, "late blight"),
            "hutton_periods": trigger(hutton_in.astype("int16").where(valid), "sum", "1",
                                      "Hutton periods (dated on their second day)"),
            "severity_7day_max": trigger(sum7.where(sens), "max", "1", "BLITECAST 7-day severity sum"),
            "humid_hours_max": trigger(hours.where(sens), "max", "h", "most humid hours in a day"),
        }
    )


def stripe_rust_risk(tasmin: xr.DataArray, tasmax: xr.DataArray, tdps: xr.DataArray, stages: xr.Dataset,
                     crop: str | Crop) -> xr.Dataset:
    """Daily stripe rust risk (infection scores of the last 14 days / 7) with triggers ``infection_days``
    (sum), ``infection_score_14day_max`` (max) and ``humid_hours_max`` (max)."""
    c = get_crop(crop)
    hours, mean_t = humid_hours(tasmin, tasmax, tdps)
    sens = per_stage(stages["stage"], c, [1.0 if s.disease else 0.0 for s in c.stages], off_season=0.0) > 0
    window = (hours >= RUST_MIN_HOURS) & (mean_t >= RUST_TEMP[0]) & (mean_t <= RUST_TEMP[1]) & sens
    score = xr.where(window, (hours / RUST_FULL_HOURS).clip(0.0, 1.0), 0.0)
    sum14 = score.rolling(time=RUST_LATENT_DAYS, min_periods=1).sum()
    valid = hours.notnull()
    return xr.Dataset(
        {
            "risk": finish(xr.where(sens, sum14 / RUST_FULL_SUM, 0.0), valid, "stripe rust"),
            "infection_days": trigger(window.astype("int16").where(valid), "sum", "d",
                                      "stripe rust infection days (>= 6 h wet at 4-16 °C)"),
            "infection_score_14day_max": trigger(sum14.where(sens), "max", "1",
                                                 "infection scores of the last 14 days (one per full wet night)"),
            "humid_hours_max": trigger(hours.where(sens), "max", "h", "most humid hours in a day"),
        }
    )


DISEASE_OF_CROP = {"potato": "late_blight", "spring_wheat": "stripe_rust", "winter_wheat": "stripe_rust",
                   "highland_barley": "stripe_rust"}


def dew_point_from_rh(tas: xr.DataArray, hurs: xr.DataArray) -> xr.DataArray:
    """Dew point (°C) from mean temperature and relative humidity, inverting FAO-56 eq. 11 (Magnus/Tetens)."""
    t = to_units(tas, "degC", "tas")
    rh = to_units(hurs, "%", "hurs").clip(1.0, 100.0)
    g = xr.apply_ufunc(np.log, rh / 100.0, dask="allowed") + 17.27 * t / (t + 237.3)
    td = 237.3 * g / (17.27 - g)
    td.attrs = {"units": "degC", "long_name": "dew point temperature from relative humidity"}
    return td


def disease_risk(crop: str | Crop, weather: xr.Dataset, stages: xr.Dataset) -> xr.Dataset:
    """The crop's main disease: late blight for potato, stripe rust for wheat and barley.

    ``weather`` holds daily ``tasmin``, ``tasmax`` and ``tdps`` (dew point); without ``tdps``
    the dew point is derived from ``hurs`` and ``tas`` (or the Tmin/Tmax mean). Crops without
    a disease model here (maize) get a zero risk (NaN where weather is missing).
    """
    c = get_crop(crop)
    missing = [v for v in ("tasmin", "tasmax") if v not in weather]
    if missing or ("tdps" not in weather and "hurs" not in weather):
        raise ModelInputError("weather lacks variables for the disease models", field=",".join(missing) or "tdps",
                              expected="tasmin, tasmax and tdps (or hurs)", got=sorted(map(str, weather.data_vars)))
    tasmin, tasmax = weather["tasmin"], weather["tasmax"]
    if "tdps" in weather:
        tdps = weather["tdps"]
    else:
        tas = weather["tas"] if "tas" in weather else (to_units(tasmin, "degC") + to_units(tasmax, "degC")) / 2
        if "units" not in tas.attrs:
            tas.attrs["units"] = "degC"
        tdps = dew_point_from_rh(tas, weather["hurs"])
    kind = DISEASE_OF_CROP.get(c.name)
    if kind == "late_blight":
        ds = late_blight_risk(tasmin, tasmax, tdps, stages, c)
    elif kind == "stripe_rust":
        ds = stripe_rust_risk(tasmin, tasmax, tdps, stages, c)
    else:
        tn = to_units(tasmin, "degC", "tasmin")
        ds = xr.Dataset({"risk": finish(xr.zeros_like(tn), tn.notnull(), "disease")})
    ds.attrs["disease"] = kind or "none"
    return ds
