"""A daily crop model, vectorised over fields: thermal time, water balance, stress, yield.

For every field (and a grassland pseudo-field per weather cell) and every day
of the season year:

* Thermal time ``GDD += clip(Tmean, tbase, tupper) - tbase`` from sowing
  (winter wheat from 1 March, when it greens up). Development ``dev =
  GDD / gdd_maturity``; emergence at ``gdd_emergence``; harvest 7 days after
  ``dev >= 1`` (bare soil, or stubble for cereals, afterwards).
* Water balance (single bucket, FAO-56 ch. 8): total available water
  ``TAW = AWC (mm/m) x 1 m`` root zone; reference ET by Hargreaves (FAO-56
  eq. 52) ``ET0 = 0.0023 · 0.408 Ra (Tmean + 17.8) sqrt(Tmax - Tmin)``; crop
  ``Kc = 0.3 + (kc_max - 0.3) fc``, cover ``fc = 1 - exp(-0.55 LAI)``; water
  stress ``Ks = clip(SW / (0.5 TAW), 0, 1)`` (depletion fraction p = 0.5);
  ``SW += rain + irrigation - Ks Kc ET0``, excess drains. Irrigated fields get
  30 mm when ``SW < 0.35 TAW`` (at most every 7 days).
* Canopy ``LAI = lai_max · rise(dev) · senescence(dev) · G · (1 - F) · (1 - B)``:
  ``G`` (vigour) follows Ks with a 12-day time constant while the canopy
  expands and then only falls; ``F`` frost damage; ``B`` late-blight severity.
* Frost: when the downscaled Tmin < the crop's critical temperature (early
  or late stage) after emergence, canopy loss ``0.10 + 0.25 K⁻¹ · (Tcrit - Tmin)``
  (max 0.9); dormant, hardened winter wheat (before mid-March) only below
  -17 °C; canopy recovers 2 %/day, the yield loss (50 % of the canopy loss
  before flowering, 100 % during grain/tuber filling, 20 % once dev > 0.9,
  i.e. near physiological maturity) stays.
* Hail (Lhasa): fields inside the storm's swath lose 55 % of their canopy,
  counted like frost damage (shredded leaves, broken stems).
* Heat: each day with Tmax > heat_tmax during dev 0.4-0.8 costs 3 % per K.
* Late blight (potato): a day is favourable when Tmin >= 10 °C and RH >= 88 %
  (Hutton criteria); severity starts at 0.2 % and grows logistically at
  0.35/day on favourable days (0.05 otherwise); fungicide sprays (10 days of
  80 % protection) follow two favourable days for 85 % of fields.
* Yield ``= Ypot · W · (1 - frost) · heat · (1 - 0.7 B_mean) · soil · exp(N(0, 0.06))``,
  ``W = 0.5 G_end + 0.5 mean(Ks over dev 0.3-0.9)``, soil factor
  ``0.9 + 0.1 clip((SOC - 50)/60, 0, 1)``.
* NDVI ``= 0.15 + (0.88 - 0.15)(1 - exp(-0.55 LAI))`` (canopy NDVI 0.88, loess
  0.15; Beer-law cover, e.g. Carlson & Ripley 1997); cereal stubble 0.22.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geodata.demo.regions import CropSpec
from geodata.demo.weather import extraterrestrial_radiation

NDVI_SOIL, NDVI_CANOPY, NDVI_STUBBLE = 0.15, 0.88, 0.22
#: °C, killing temperature of hardened dormant winter wheat (Fowler 2008, LT50 -15 .. -20 °C)
WINTER_HARDINESS = -17.0
GRASS = CropSpec("grass", 0.0, ("natural",), 3.0, 25.0, 60.0, 4000.0, 1.4, 0.9, 0.0, (3, 25),
                 0.0, -8.0, -5.0, 40.0, 0.0, 0.0)


@dataclass(frozen=True)
class SeasonInputs:
    """Daily weather at each field (arrays ``(days, n)``; °C, mm, %) and field properties."""

    year: int
    lat: float
    tmin: np.ndarray
    tmax: np.ndarray
    tmean: np.ndarray
    pr: np.ndarray
    hurs: np.ndarray
    awc: np.ndarray          # mm/m per field
    soc: np.ndarray          # dg/kg per field
    irrigated: np.ndarray    # bool per field
    sow_doy: np.ndarray      # 1-based day of year (winter crops: ignored, green-up 1 March)
    crops: tuple[CropSpec, ...]   # one per field
    sprays_blight: np.ndarray     # bool per field: does the cooperative spray fungicide
    hail_doy: int | None = None   # 1-based day of a hail storm
    hail_hit: np.ndarray | None = None   # bool per field: inside the hail swath


@dataclass(frozen=True)
class SeasonResult:
    """Outputs of :func:`simulate_season`."""

    ndvi: np.ndarray             # (days, n)
    lai: np.ndarray              # (days, n)
    yield_t_ha: np.ndarray       # (n,)
    harvest_doy: np.ndarray      # (n,) 1-based
    emergence_doy: np.ndarray    # (n,)
    irrigation_days: list[tuple[int, int]]   # (field index, doy)
    blight_spray_days: list[tuple[int, int]]
    frost_loss: np.ndarray       # (n,) yield fraction lost to frost
    water_factor: np.ndarray     # (n,)
    blight_mean: np.ndarray      # (n,)
    gdd_at: np.ndarray           # (days, n) thermal time since sowing


def _param(crops: tuple[CropSpec, ...], name: str) -> np.ndarray:
    return np.array([getattr(c, name) for c in crops], dtype=float)


def simulate_season(inp: SeasonInputs, rng: np.random.Generator) -> SeasonResult:
    """Run the daily model for all fields of one season year."""
    days, n = inp.tmean.shape
    p = {k: _param(inp.crops, k) for k in (
        "tbase", "tupper", "gdd_emergence", "gdd_maturity", "lai_max", "kc_max",
        "yield_potential", "frost_early", "frost_late", "heat_tmax")}
    winter = np.array([c.winter for c in inp.crops])
    blight_host = np.array([c.blight_host for c in inp.crops])
    cereal = np.array([c.name in ("spring_wheat", "highland_barley", "winter_wheat", "maize")
                       for c in inp.crops])
    grass = np.array([c.name == "grass" for c in inp.crops])
    start = np.where(winter, 60, inp.sow_doy).astype(int)
    taw = inp.awc * 1.0
    ra = extraterrestrial_radiation(inp.lat, np.arange(1, days + 1, dtype=float))

    sw = 0.6 * taw
    gdd = np.zeros(n)
    vigour = np.ones(n)
    frost_canopy = np.zeros(n)
    frost_yield = np.zeros(n)
    heat = np.ones(n)
    blight = np.zeros(n)
    blight_sum = np.zeros(n)
    blight_cnt = np.zeros(n)
    fav_run = np.zeros(n)
    protected_until = np.full(n, -1)
    last_irrigation = np.full(n, -100)
    ks_crit_sum = np.zeros(n)
    ks_crit_n = np.zeros(n)
    harvest = np.full(n, -1)
    emergence = np.full(n, -1)
    lai_out = np.zeros((days, n), dtype=np.float32)
    gdd_out = np.zeros((days, n), dtype=np.float32)
    irrigation: list[tuple[int, int]] = []
    sprays: list[tuple[int, int]] = []

    for d in range(days):
        doy = d + 1
        tmean, tmin, tmax = inp.tmean[d], inp.tmin[d], inp.tmax[d]
        sown = doy >= start
        alive = sown & (harvest < 0)
        gdd += np.where(alive, np.clip(tmean, p["tbase"], p["tupper"]) - p["tbase"], 0.0)
        dev = gdd / p["gdd_maturity"]
        emerged = alive & ((gdd >= p["gdd_emergence"]) | winter)
        emergence = np.where(emerged & (emergence < 0), doy, emergence)
        if grass.any():  # natural grass browns in autumn
            dev = np.where(grass, np.where(doy > 250, 0.75 + (doy - 250) / 60 * 0.3, 0.5), dev)

        rise = 1.0 / (1.0 + np.exp(-10.0 * (dev - 0.28)))
        if winter.any():
            rise = np.where(winter, np.maximum(rise, 0.15), rise)
        senesce = np.clip((1.05 - dev) / 0.3, 0.0, 1.0)
        lai = np.where(emerged, p["lai_max"] * rise * senesce * vigour
                       * (1 - frost_canopy) * (1 - blight), 0.0)

        # water balance
        et0 = 0.0023 * 0.408 * ra[d] * (tmean + 17.8) * np.sqrt(np.maximum(tmax - tmin, 0.0))
        fc = 1.0 - np.exp(-0.55 * lai)
        kc = 0.3 + (p["kc_max"] - 0.3) * fc
        ks = np.clip(sw / (0.5 * taw), 0.0, 1.0)
        irrigate = (inp.irrigated & emerged & (sw < 0.35 * taw) & (doy - last_irrigation >= 7))
        for k in np.flatnonzero(irrigate):
            irrigation.append((int(k), doy))
        last_irrigation = np.where(irrigate, doy, last_irrigation)
        sw = np.minimum(sw + inp.pr[d] + 30.0 * irrigate - ks * kc * et0, taw)
        sw = np.maximum(sw, 0.0)

        # vigour follows water stress while expanding, then only declines
        expanding = emerged & (dev < 0.6)
        vigour = np.where(expanding, vigour + (ks - vigour) / 12.0, vigour)
        vigour = np.where(emerged & ~expanding, vigour * (1 - 0.015 * (1 - ks)), vigour)
        crit = emerged & (dev >= 0.3) & (dev <= 0.9)
        ks_crit_sum += np.where(crit, ks, 0.0)
        ks_crit_n += crit

        # frost
        tcrit = np.where(dev < 0.5, p["frost_early"], p["frost_late"])
        tcrit = np.where(winter & (doy < 75), WINTER_HARDINESS, tcrit)  # hardened, dormant
        frosted = emerged & (tmin < tcrit)
        loss = np.where(frosted, np.clip(0.10 + 0.25 * (tcrit - tmin), 0.0, 0.9), 0.0)
        frost_canopy = 1 - (1 - frost_canopy) * (1 - loss)
        if inp.hail_doy == doy and inp.hail_hit is not None:
            hit = emerged & inp.hail_hit
            loss = np.where(hit, np.maximum(loss, 0.55), loss)
            frosted = frosted | hit
            frost_canopy = 1 - (1 - frost_canopy) * (1 - np.where(hit, 0.55, 0.0))
        frost_canopy = np.where(frosted, frost_canopy, frost_canopy * 0.98)
        stage_weight = np.where(dev < 0.5, 0.5, np.where(dev < 0.9, 1.0, 0.2))
        frost_yield = 1 - (1 - frost_yield) * (1 - loss * stage_weight)

        # heat
        hot = emerged & (dev >= 0.4) & (dev <= 0.8) & (tmax > p["heat_tmax"])
        heat = heat * np.where(hot, 1 - 0.03 * (tmax - p["heat_tmax"]), 1.0)

        # late blight
        favourable = blight_host & emerged & (tmin >= 10.0) & (inp.hurs[d] >= 88.0)
        fav_run = np.where(favourable, fav_run + 1, 0)
        spray = favourable & (fav_run == 2) & inp.sprays_blight & (protected_until < doy)
        for k in np.flatnonzero(spray):
            sprays.append((int(k), doy))
        protected_until = np.where(spray, doy + 10, protected_until)
        blight = np.where(favourable & (blight == 0), 0.002, blight)
        rate = np.where(favourable, 0.35, 0.05) * np.where(protected_until >= doy, 0.2, 1.0)
        blight = np.where(emerged & (blight > 0), np.minimum(blight + rate * blight * (1 - blight), 0.95),
                          blight)
        late = emerged & (dev >= 0.5)
        blight_sum += np.where(late, blight, 0.0)
        blight_cnt += late

        # harvest: a week after maturity; an autumn frost kills the canopy early
        mature = alive & ~grass & ((dev >= 1.0) | ((dev > 0.75) & (frost_canopy > 0.5)))
        harvest = np.where(mature & (harvest < 0), doy + 7, harvest)
        lai_out[d] = lai
        gdd_out[d] = gdd

    # canopy after harvest: bare soil; NDVI from LAI
    day_idx = np.arange(1, days + 1)[:, None]
    after = (harvest[None, :] > 0) & (day_idx >= harvest[None, :])
    lai_out[after] = 0.0
    ndvi = NDVI_SOIL + (NDVI_CANOPY - NDVI_SOIL) * (1 - np.exp(-0.55 * lai_out))
    ndvi = np.where(after & cereal[None, :], NDVI_STUBBLE, ndvi).astype(np.float32)

    water = 0.5 * vigour + 0.5 * ks_crit_sum / np.maximum(ks_crit_n, 1)
    blight_mean = blight_sum / np.maximum(blight_cnt, 1)
    soil = 0.9 + 0.1 * np.clip((inp.soc - 50.0) / 60.0, 0.0, 1.0)
    noise = np.exp(rng.normal(0.0, 0.06, n))
    yields = p["yield_potential"] * water * (1 - frost_yield) * heat * (1 - 0.7 * blight_mean) \
        * soil * noise
    harvest = np.where(harvest < 0, min(days, 300), np.minimum(harvest, days))
    return SeasonResult(ndvi=ndvi, lai=lai_out, yield_t_ha=yields, harvest_doy=harvest,
                        emergence_doy=emergence, irrigation_days=irrigation,
                        blight_spray_days=sprays, frost_loss=frost_yield, water_factor=water,
                        blight_mean=blight_mean, gdd_at=gdd_out)
