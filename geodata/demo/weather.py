"""Daily weather of a demo region on a 0.1° grid, and the frost downscaling rule.

Model (one regional series at the base elevation, then per 0.1° cell):

* Temperature: daily mean ``T = t_mean + t_amplitude cos(2π(doy - t_peak)/365.25)
  + a``, anomaly ``a`` AR(1) with φ = 0.75 and σ = 2.2 K (winter) .. 1.4 K
  (summer). Diurnal range ``dtr`` on dry days, 55 % of it on wet days
  (clouds cut daytime heating and night cooling). Each cell is shifted by the
  standard lapse rate -6.5 K/km (ICAO standard atmosphere) from the base
  elevation to the cell's mean elevation ``orog``.
* Precipitation: first-order Markov chain for occurrence (lag-1 persistence
  r = 0.3: p01 = p(1-r), p11 = p + r(1-p), p the monthly wet-day frequency)
  and gamma amounts (shape 0.75; scale from the monthly normal); summer
  convective storms (June-August, 0.6 % of days) of 50-90 mm. Cells get a
  spatially smooth log-normal factor (σ = 0.25) on each wet day.
* Humidity: daily mean relative humidity ``rh_dry + 5 cos(2π(doy - 210)/365.25)``
  ± 6 points on dry days (Dingxi: ~60 % on dry summer days, a June-August mean of
  ~70 % with the wet days, ~60 % in a drought season: semi-arid loess plateau
  values, set by hand rather than fitted to station records) and ``72 + 20 (1 - exp(-P/6 mm))`` ± 3 % on wet days
  with P mm of rain (a 1 mm shower ~75 %, 10 mm ~88 %, a rainy day of 20 mm or
  more 91-92 %: showers pass, steady rain saturates the air). The daily RH is, as at a
  station, the mean of the day's hourly RH, so the (constant) daily dew point is
  the one whose hourly RH over the day's temperature course averages to it
  (:func:`dewpoint_from_daily_rh`): on a dry summer day with a 13 K diurnal range
  the dew point then sits 1-4 K below Tmin and the night stays below 90 % RH,
  while wet days and humid spells saturate at night. (Taking the dew point of the
  daily mean RH at the daily *mean* temperature put it at Tmin on ordinary dry
  days and made every summer night humid.)
* Radiation: FAO-56 extraterrestrial radiation Ra (Allen et al. 1998, eq. 21)
  times a transmissivity of 0.72 (clear) .. 0.35 (wet day).
* Season types: ``drought`` seasons scale April-September wet-day frequency by
  0.7 and rain amounts by 0.6 (~40 % of normal rain, no storms), lower RH by 8
  points and warm by +1 K; ``wet`` seasons scale frequency by 1.2 and amounts by
  1.3 (~155 %) and cool by 0.3 K.
* Forced events in every season year: a late-spring and an early-autumn
  radiative frost night (clear, calm, dry; cell Tmin −1.2 … −0.2 °C, DTR 17 K:
  a light frost at the 0.1° scale, a hard one in the hollows)
  inside a 6-day dry, clear high-pressure spell,
  and in wet seasons (and, at random, half of the others) a 6–8 day warm humid
  spell in July–August (rain every day, RH ≥ 90 %, Tmin ≥ 11 °C) that favours
  potato late blight; in hail regions (Lhasa) a convective hail storm (15-35 mm)
  on a June-August day in 70 % of seasons.

Frost downscaling (:func:`downscale_tmin`): the 0.1° Tmin holds for the cell's
mean elevation. At a pixel of elevation z it is
``Tmin(z) = Tmin_cell − 0.0065 (z − orog) − 0.10 K/m · R · clip(z_local − z, 0, 50 m)``,
with ``z_local`` the mean elevation in a 1 km window: on radiative nights
cold air drains into hollows and pools below the local mean (1 K per 10 m,
at most 5 K: the upper end of the 0.5-1 K per 10 m measured in small valleys
by Blennow 1998 and Lindkvist et al. 2000, typical of enclosed loess gullies). ``R = clip((DTR − 10 K)/6 K, 0, 1)`` if the day is dry
(< 1 mm) else 0: large diurnal range and no rain mark clear calm nights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geodata.demo.regions import RegionSpec

LAPSE_RATE_K_PER_M = -0.0065
INVERSION_K_PER_M = 0.10
MAX_POOL_DEPTH_M = 50.0
SEASON_TYPES = ("normal", "drought", "wet")


@dataclass(frozen=True)
class WeatherYear:
    """One calendar year of daily weather on the 0.1° grid (arrays ``(days, nlat, nlon)``)."""

    year: int
    dates: np.ndarray       # datetime64[D]
    tasmin: np.ndarray      # K
    tasmax: np.ndarray      # K
    tas: np.ndarray         # K
    pr: np.ndarray          # mm/day
    hurs: np.ndarray        # %
    tdps: np.ndarray        # K
    rsds: np.ndarray        # W m-2
    frost_days: tuple[int, ...]     # day-of-year indices (0-based) of the forced frost nights
    blight_spell: tuple[int, int] | None   # (first, last) 0-based day index
    hail_day: int | None = None     # 0-based day index of a hail storm (hail regions)


def extraterrestrial_radiation(lat_deg: float, doy: np.ndarray) -> np.ndarray:
    """FAO-56 eq. 21: daily extraterrestrial radiation Ra (MJ m-2 d-1)."""
    phi = np.deg2rad(lat_deg)
    dr = 1 + 0.033 * np.cos(2 * np.pi * doy / 365)
    delta = 0.409 * np.sin(2 * np.pi * doy / 365 - 1.39)
    ws = np.arccos(np.clip(-np.tan(phi) * np.tan(delta), -1, 1))
    return (24 * 60 / np.pi * 0.0820 * dr
            * (ws * np.sin(phi) * np.sin(delta) + np.cos(phi) * np.cos(delta) * np.sin(ws)))


def dewpoint_from_rh(t_c: np.ndarray, rh: np.ndarray) -> np.ndarray:
    """Magnus formula (Alduchov & Eskridge 1996): dew point (°C) from T (°C) and RH (%)."""
    a, b = 17.625, 243.04
    gamma = np.log(np.clip(rh, 1, 100) / 100.0) + a * t_c / (b + t_c)
    return b * gamma / (a - gamma)


DIURNAL_SHAPE = (0.44 - 0.46 * np.sin(np.pi / 12 * np.arange(24.0) + 0.9)
                 + 0.11 * np.sin(np.pi / 6 * np.arange(24.0) + 0.9))
"""Campbell & Norman (1998) *An Introduction to Environmental Biophysics*, eq. 2.2: the weight of
Tmax in the temperature of hours 0..23, ``T(t) = Tmax·Γ(t) + Tmin·(1 - Γ(t))``."""


def saturation_vp_magnus(t_c: np.ndarray) -> np.ndarray:
    """Saturation vapour pressure (hPa) over water, Magnus form of Alduchov & Eskridge (1996)."""
    return 6.1094 * np.exp(17.625 * t_c / (243.04 + t_c))


def dewpoint_from_daily_rh(tmin_c: np.ndarray, tmax_c: np.ndarray, rh: np.ndarray) -> np.ndarray:
    """Dew point (°C) of a day whose hourly RH, over the Campbell & Norman temperature course
    from ``tmin_c`` to ``tmax_c``, averages to the daily mean RH ``rh`` (%).

    With the vapour pressure ``e`` constant over the day, RH(t) = e / e°(T(t)), so
    ``e = (rh/100) / mean_t(1/e°(T(t)))`` and the dew point inverts the Magnus formula.
    """
    tn = np.asarray(tmin_c, dtype="float64")[..., None]
    tx = np.asarray(tmax_c, dtype="float64")[..., None]
    hourly = tx * DIURNAL_SHAPE + tn * (1.0 - DIURNAL_SHAPE)
    e = np.clip(np.asarray(rh, dtype="float64"), 1, 100) / 100.0 / np.mean(1.0 / saturation_vp_magnus(hourly), axis=-1)
    gamma = np.log(e / 6.1094)
    return 243.04 * gamma / (17.625 - gamma)


def radiative_index(tasmin_k: np.ndarray, tasmax_k: np.ndarray, pr_mm: np.ndarray) -> np.ndarray:
    """0..1 strength of nocturnal cold-air pooling: clear (large DTR), dry nights."""
    dtr = tasmax_k - tasmin_k
    return np.clip((dtr - 10.0) / 6.0, 0.0, 1.0) * (pr_mm < 1.0)


def downscale_tmin(tmin_cell_k: np.ndarray | float, z: np.ndarray | float,
                   orog: np.ndarray | float, z_local: np.ndarray | float,
                   radiative: np.ndarray | float) -> np.ndarray:
    """Pixel Tmin (K) from the cell Tmin: lapse rate plus cold-air pooling below the local mean."""
    pool = np.clip(np.asarray(z_local) - np.asarray(z), 0.0, MAX_POOL_DEPTH_M)
    return (np.asarray(tmin_cell_k) + LAPSE_RATE_K_PER_M * (np.asarray(z) - np.asarray(orog))
            - INVERSION_K_PER_M * np.asarray(radiative) * pool)


def _doy_curve(monthly: tuple[float, ...], doy: np.ndarray) -> np.ndarray:
    """Periodic linear interpolation of 12 monthly values to days of year."""
    mid = np.array([15, 46, 74, 105, 135, 166, 196, 227, 258, 288, 319, 349], dtype=float)
    vals = np.asarray(monthly, dtype=float)
    return np.interp(doy, np.r_[mid[-1] - 365, mid, mid[0] + 365], np.r_[vals[-1], vals, vals[0]])


def generate_year(spec: RegionSpec, year: int, season_type: str, orog: np.ndarray,
                  rng: np.random.Generator, *, force_events: bool) -> WeatherYear:
    """Daily weather of one calendar year for cells of elevation ``orog`` (m, ``(nlat, nlon)``)."""
    dates = np.arange(np.datetime64(f"{year}-01-01"), np.datetime64(f"{year + 1}-01-01"))
    n = len(dates)
    doy = np.arange(1, n + 1, dtype=float)
    days_in_month = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=float)
    p_wet = _doy_curve(spec.monthly_wet_prob, doy)
    mean_amount = _doy_curve(tuple(np.asarray(spec.monthly_precip) / (days_in_month * np.asarray(
        spec.monthly_wet_prob))), doy)
    growing = (doy >= 91) & (doy <= 273)
    t_bias = 0.0
    if season_type == "drought":
        p_wet = np.where(growing, p_wet * 0.7, p_wet)
        mean_amount = np.where(growing, mean_amount * 0.6, mean_amount)
        t_bias = 1.0
    elif season_type == "wet":
        p_wet = np.where(growing, np.minimum(p_wet * 1.2, 0.85), p_wet)
        mean_amount = np.where(growing, mean_amount * 1.3, mean_amount)
        t_bias = -0.3

    # occurrence (Markov chain) and amounts (gamma), regional
    r = 0.3
    u = rng.random(n)
    wet = np.zeros(n, dtype=bool)
    for i in range(n):
        p = p_wet[i] + r * (1 - p_wet[i]) if (i and wet[i - 1]) else p_wet[i] * (1 - r)
        wet[i] = u[i] < p
    shape = 0.75
    amount = rng.gamma(shape, mean_amount / shape) * wet
    amount = np.where(wet, np.maximum(amount, 0.1), 0.0)
    summer = (doy >= 152) & (doy <= 243)
    storm = summer & (rng.random(n) < 0.006) & (season_type != "drought")
    amount = np.where(storm, rng.uniform(50, 90, n), amount)
    wet |= storm

    # temperature anomaly AR(1)
    sigma = 1.8 + 0.4 * np.cos(2 * np.pi * (doy - 15) / 365.25)
    eps = rng.normal(0, 1, n)
    anom = np.zeros(n)
    for i in range(1, n):
        anom[i] = 0.75 * anom[i - 1] + sigma[i] * np.sqrt(1 - 0.75**2) * eps[i]
    t_mean = (spec.t_mean + spec.t_amplitude * np.cos(2 * np.pi * (doy - spec.t_peak_doy) / 365.25)
              + anom + t_bias - 1.0 * wet)
    dtr = np.where(wet, 0.55 * spec.dtr, spec.dtr * (1 + 0.08 * rng.normal(0, 1, n)))
    rh_wet = 72.0 + 20.0 * (1.0 - np.exp(-amount / 6.0)) + rng.uniform(-3, 3, n)
    rh = np.where(wet, rh_wet, spec.rh_dry + 5 * np.cos(2 * np.pi * (doy - 210) / 365.25) + rng.normal(0, 6, n))
    if season_type == "drought":
        rh = np.where(growing & ~wet, rh - 8, rh)
    trans = np.where(wet, 0.35 + 0.1 * rng.random(n), 0.72 - 0.08 * rng.random(n))

    frost_days: list[int] = []
    blight: tuple[int, int] | None = None
    if force_events:
        for lo, hi in (spec.frost_spring, spec.frost_autumn):
            d = int(rng.integers(lo, hi)) - 1
            tmin_target = rng.uniform(-1.2, -0.2)
            dtr_d = 17.0
            dtr[d] = dtr_d
            t_mean[d] = tmin_target + dtr_d / 2
            wet[d] = False
            amount[d] = 0.0
            rh[d] = 45.0
            trans[d] = 0.75
            frost_days.append(d)
            for k in (d - 2, d - 1, d + 1, d + 2, d + 3):  # the clear high-pressure spell around it
                wet[k], amount[k], trans[k] = False, 0.0, 0.74
                t_mean[k] = min(t_mean[k], t_mean[d] + 3)
                dtr[k] = max(dtr[k], 15.0)
        if season_type == "wet" or (season_type == "normal" and rng.random() < 0.5):
            start = int(rng.integers(190, 225))
            length = int(rng.integers(6, 9))
            sl = slice(start, start + length)
            wet[sl] = True
            amount[sl] = rng.uniform(3, 15, length)
            rh[sl] = rng.uniform(90, 97, length)
            dtr[sl] = 7.0
            t_mean[sl] = np.maximum(t_mean[sl], rng.uniform(15.0, 18.0, length))
            trans[sl] = 0.4
            blight = (start, start + length - 1)
    hail_day: int | None = None
    if force_events and spec.hail and rng.random() < 0.7:
        hail_day = int(rng.integers(160, 240))
        wet[hail_day], amount[hail_day] = True, rng.uniform(15, 35)
        rh[hail_day], trans[hail_day] = 92.0, 0.4
    rh = np.clip(rh, 8, 100)

    # per cell: lapse rate and smooth rain factor
    dz = (orog - spec.base_elevation)[None, :, :]
    t_cell = t_mean[:, None, None] + LAPSE_RATE_K_PER_M * dz
    half = (dtr / 2)[:, None, None]
    tmin_c = t_cell - half
    tmax_c = t_cell + half
    noise = rng.normal(0, 0.25, (n,) + orog.shape)
    pr = amount[:, None, None] * np.exp(noise - 0.25**2 / 2) * wet[:, None, None]
    ra = extraterrestrial_radiation(spec.lat, doy)
    rsds = (ra * trans / 0.0864)[:, None, None] * np.ones(orog.shape)
    hurs = np.broadcast_to(rh[:, None, None], t_cell.shape)
    tdps_c = dewpoint_from_daily_rh(tmin_c, tmax_c, hurs)
    kelvin = 273.15
    f32 = np.float32
    return WeatherYear(
        year=year, dates=dates, tasmin=(tmin_c + kelvin).astype(f32),
        tasmax=(tmax_c + kelvin).astype(f32), tas=(t_cell + kelvin).astype(f32), pr=pr.astype(f32), hurs=np.array(hurs, dtype=f32),
        tdps=(tdps_c + kelvin).astype(f32), rsds=rsds.astype(f32), frost_days=tuple(frost_days),
        blight_spell=blight, hail_day=hail_day,
    )
