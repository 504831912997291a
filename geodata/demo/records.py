"""Tables of a demo season: pest trap counts, farm operations, yield history (pure pandas).

Pest traps (one pheromone trap for potato tuber moth *Phthorimaea operculella*
and one yellow sticky trap for the green peach aphid *Myzus persicae* per
~60 ha of potato, read weekly 1 May - 30 September). Catches are per trap per
week, the unit of the action thresholds of :mod:`models.risk.pest` (20 moths,
30 alate aphids per trap per week); most traps stay below them in most weeks of
a normal season, the outbreak comes in warm dry seasons and in one hotspot:

* moth catches follow its generations: degree-days above 10.8 °C
  (Sporleder et al. 2004) since 1 April; a flight peak every 430 °C·d,
  expected catch ``6 · (0.5 - 0.5 cos(2π DD/430)) · min(1, DD/300)`` per week
  (peaks of ~6 moths: the pest is marginal at 1900 m);
* alate aphid catches have an early-summer flight peak at ~800 °C·d above
  4.3 °C (Whalon & Smilowitz 1979) since 1 April (early July at Dingxi; width
  250 °C·d) of 8 per week and an autumn return flight at ~1850 °C·d (width
  150 °C·d) of 40 % of it, halved after a week with more than 40 mm of rain
  (wash-off);
* season factor: drought (warm, dry) seasons x2 for the moth and x3 for aphids
  (outbreaks of both follow hot dry summers; rain and entomopathogenic fungi
  suppress aphids in wet ones), wet seasons x0.6 and x0.5;
* each trap has a log-normal factor (σ = 0.4, mean 1) and the traps within
  1.5 km of one hotspot trap (an overwintering source) x2.5;
* counts are negative-binomial (dispersion 3) around the expectation.

Scouting reports (``method = scouting``) record late blight
(*Phytophthora infestans*, % of plants with lesions) a week after humid spells.

Operations follow the simulated season: sowing (seed rate), compound
fertiliser 15-15-15 at sowing and urea top-dressing 35 days later, irrigation
(30 mm) from the water balance, fungicide sprays against late blight
(mancozeb 80 % WP 1.8 kg/ha, metalaxyl-M·mancozeb 68 % WG 1.5 kg/ha,
cymoxanil·mancozeb 72 % WP 1.8 kg/ha), insecticide after trap peaks
(imidacloprid 10 % WP 300 g/ha; lambda-cyhalothrin 2.5 % EC 0.3 L/ha), and the
harvest. One potato field per season is sprayed with lambda-cyhalothrin three
days before harvest, inside its pre-harvest interval (GB 2763: 14 days on
potato), so that traceability has a violation to find.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from geodata.errors import InputError

MOTH = "Phthorimaea operculella"
APHID = "Myzus persicae"
BLIGHT = "Phytophthora infestans"

FUNGICIDES = (
    ("mancozeb 80% WP", "mancozeb", 1.8, "kg/ha"),
    ("metalaxyl-M·mancozeb 68% WG", "metalaxyl-M; mancozeb", 1.5, "kg/ha"),
    ("cymoxanil·mancozeb 72% WP", "cymoxanil; mancozeb", 1.8, "kg/ha"),
)
INSECTICIDES = (
    ("imidacloprid 10% WP", "imidacloprid", 300.0, "g/ha"),
    ("lambda-cyhalothrin 2.5% EC", "lambda-cyhalothrin", 0.3, "L/ha"),
)


def day(year: int, doy: int) -> dt.date:
    """The date of 1-based day ``doy`` of ``year``."""
    return dt.date(year, 1, 1) + dt.timedelta(days=int(doy) - 1)


def _negbin(mean: np.ndarray, rng: np.random.Generator, k: float = 3.0) -> np.ndarray:
    mean = np.maximum(mean, 1e-6)
    return rng.negative_binomial(k, k / (k + mean))


#: season factor of the expected catch (moth, aphid) by season type.
SEASON_FACTOR = {"normal": (1.0, 1.0), "drought": (2.0, 3.0), "wet": (0.6, 0.5)}
#: action thresholds, catch per trap per week (as in ``models.risk.pest``): moth, aphid.
ACTION_THRESHOLD = {MOTH: 20.0, APHID: 30.0}
HOTSPOT_RADIUS_M = 1500.0
HOTSPOT_FACTOR = 2.5


def expected_catches(tmean_c: np.ndarray, pr_mm: np.ndarray, doy: int,
                     season_type: str = "normal") -> tuple[float, float]:
    """Regional expected catch per trap per week (moth, aphid) of the weekly reading on day ``doy``."""
    if season_type not in SEASON_FACTOR:
        raise InputError("unknown season type", field="season_type", expected=f"one of {sorted(SEASON_FACTOR)}",
                         got=season_type)
    doys = np.arange(1, len(tmean_c) + 1)
    from_april = doys >= 91
    i = doy - 1
    dd_moth = float(np.sum(np.where(from_april, np.clip(tmean_c - 10.8, 0, None), 0)[: i + 1]))
    dd_aphid = float(np.sum(np.where(from_april, np.clip(tmean_c - 4.3, 0, None), 0)[: i + 1]))
    f_moth, f_aphid = SEASON_FACTOR[season_type]
    moth = f_moth * 6.0 * (0.5 - 0.5 * np.cos(2 * np.pi * dd_moth / 430)) * min(1.0, dd_moth / 300)
    aphid = f_aphid * 8.0 * (np.exp(-0.5 * ((dd_aphid - 800.0) / 250.0) ** 2)
                             + 0.4 * np.exp(-0.5 * ((dd_aphid - 1850.0) / 150.0) ** 2))
    if pr_mm[max(0, i - 7): i + 1].sum() > 40:
        aphid *= 0.5
    return float(moth), float(aphid)


def trap_factors(traps: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Per trap: log-normal site factor (σ = 0.4, mean 1) x 2.5 within 1.5 km of a hotspot trap."""
    n = len(traps)
    site = np.exp(rng.normal(-0.08, 0.4, n))
    if n == 0:
        return site
    hot = int(rng.integers(n))
    lat0 = np.deg2rad(float(traps.lat.iloc[hot]))
    dx = (traps.lon.to_numpy(dtype=float) - traps.lon.iloc[hot]) * 111_320.0 * np.cos(lat0)
    dy = (traps.lat.to_numpy(dtype=float) - traps.lat.iloc[hot]) * 110_540.0
    return site * np.where(np.hypot(dx, dy) <= HOTSPOT_RADIUS_M, HOTSPOT_FACTOR, 1.0)


def trap_counts(year: int, tmean_c: np.ndarray, pr_mm: np.ndarray, traps: pd.DataFrame,
                blight_spell: tuple[int, int] | None, rng: np.random.Generator,
                season_type: str = "normal") -> list[dict]:
    """Weekly trap readings (and blight scouting) of one season as GeoJSON property dicts.

    ``tmean_c``/``pr_mm``: regional daily series of the year; ``traps``: columns
    ``trap_id, lon, lat, observer``; ``season_type``: ``normal``, ``drought`` or ``wet``.
    """
    factors = {MOTH: trap_factors(traps, rng), APHID: trap_factors(traps, rng)}
    rows: list[dict] = []
    for doy in range(121, 274, 7):
        moth_mean, aphid_mean = expected_catches(tmean_c, pr_mm, doy, season_type)
        for k, (_, trap) in enumerate(traps.iterrows()):
            for species, mean, method, suffix in ((MOTH, moth_mean, "pheromone_trap", "M"),
                                                  (APHID, aphid_mean, "yellow_sticky_trap", "A")):
                rows.append({"lon": trap.lon, "lat": trap.lat, "date": day(year, doy).isoformat(),
                             "species": species,
                             "count": int(_negbin(np.array(mean * factors[species][k]), rng)),
                             "observer": trap.observer, "method": method,
                             "trap_id": f"{trap.trap_id}-{suffix}"})
    if blight_spell is not None:
        doy = blight_spell[1] + 1 + 7
        for _, trap in traps.iterrows():
            rows.append({"lon": trap.lon + 0.001, "lat": trap.lat, "date": day(year, doy).isoformat(),
                         "species": BLIGHT, "count": int(rng.integers(2, 30)),
                         "observer": trap.observer, "method": "scouting",
                         "trap_id": f"{trap.trap_id}-S"})
    return rows


def operations(year: int, fields: pd.DataFrame, sow_doy: np.ndarray, harvest_doy: np.ndarray,
               irrigation: list[tuple[int, int]], blight_sprays: list[tuple[int, int]],
               insecticide_doys: list[int], crops: dict, rng: np.random.Generator) -> list[dict]:
    """Operation rows of one season (``fields``: field_id, crop, variety, cooperative_id, winter flag)."""
    rows: list[dict] = []

    def add(k: int, doy: int, op: str, product: str = "", ai: str = "",
            dose: float | None = None, unit: str = "", y: int = year) -> None:
        rows.append({"field_id": fields.field_id.iloc[k], "date": day(y, doy).isoformat(),
                     "operation": op, "product": product, "active_ingredient": ai,
                     "dose": dose, "unit": unit,
                     "operator": f"{fields.cooperative_id.iloc[k]}-op{1 + k % 4}"})

    for k in range(len(fields)):
        crop = crops[fields.crop.iloc[k]]
        sow_year = year - 1 if crop.winter else year
        add(k, int(sow_doy[k]), "sowing", f"{fields.variety.iloc[k]} seed", "",
            crop.seed_dose_kg_ha, "kg/ha", sow_year)
        add(k, int(sow_doy[k]), "fertilising", "compound fertiliser 15-15-15",
            "N; P2O5; K2O", crop.base_fertiliser_kg_ha, "kg/ha", sow_year)
        top = 100 if crop.winter else int(sow_doy[k]) + 35
        add(k, top, "fertilising", "urea", "N 46%", 150.0, "kg/ha")
    for k, doy in irrigation:
        if doy < harvest_doy[k]:
            add(k, doy, "irrigation", "", "", 30.0, "mm")
    for n_spray, (k, doy) in enumerate(blight_sprays):
        product, ai, dose, unit = FUNGICIDES[n_spray % len(FUNGICIDES)]
        add(k, doy, "spraying", product, ai, dose, unit)
    potato = np.flatnonzero(fields.crop.to_numpy() == "potato")
    cereals = np.flatnonzero(fields.crop.to_numpy() != "potato")
    for n_peak, doy in enumerate(insecticide_doys):
        targets = potato if n_peak % 2 == 0 or len(cereals) == 0 else cereals
        chosen = targets[rng.random(len(targets)) < 0.5]
        product, ai, dose, unit = INSECTICIDES[n_peak % 2]
        for k in chosen:
            if doy < harvest_doy[k]:
                add(int(k), doy + int(rng.integers(0, 3)), "spraying", product, ai, dose, unit)
    late = potato if len(potato) else np.arange(len(fields))
    if len(late):
        k = int(late[rng.integers(len(late))])
        product, ai, dose, unit = INSECTICIDES[1]
        add(k, int(harvest_doy[k]) - 3, "spraying", product, ai, dose, unit)
    for k in range(len(fields)):
        add(k, int(harvest_doy[k]), "harvest", f"{fields.crop.iloc[k]} ({fields.variety.iloc[k]})")
    return rows


def insecticide_days(rows: list[dict], year: int) -> list[int]:
    """Days of year (1-based) two days after a trap first goes above its action threshold
    (:data:`ACTION_THRESHOLD`, catch per trap per week) in a run of weeks, at most four.
    """
    if not rows:
        return []
    df = pd.DataFrame(rows)
    df = df[df.method != "scouting"]
    top = df.groupby(["species", "date"])["count"].max().unstack(0)
    out = []
    for species, limit in ACTION_THRESHOLD.items():
        if species not in top:
            continue
        series = top[species]
        above = series >= limit
        starts = above & ~above.shift(1, fill_value=False)
        for date in series.index[starts]:
            out.append(dt.date.fromisoformat(date).timetuple().tm_yday + 2)
    return sorted(out)[:4]
